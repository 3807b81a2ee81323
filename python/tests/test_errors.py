"""Bad paths and arguments raise kestrel.Error subclasses carrying the engine's one-line message."""

import pytest

import kestrel
from conftest import model_path


def one_line(e: BaseException) -> str:
    s = str(e)
    assert s and "\n" not in s
    return s


def test_bad_paths(tmp_path):
    with pytest.raises(kestrel.LoadError) as e:
        kestrel.Model(str(tmp_path / "missing.gguf"))
    assert "missing.gguf" in one_line(e.value)
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00\x01")
    with pytest.raises(kestrel.LoadError) as e:
        kestrel.Model(bad)  # os.PathLike works too
    assert "truncated.gguf" in one_line(e.value)
    with pytest.raises(kestrel.LoadError):
        kestrel.Model(str(tmp_path))  # a directory
    with pytest.raises(kestrel.ArgumentError) as e:
        kestrel.Model(123)
    assert "path" in one_line(e.value)
    assert issubclass(kestrel.LoadError, kestrel.Error)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(n_ctx=-1), "n_ctx"),
        (dict(n_threads=-2), "n_threads"),
        (dict(n_batch=0), "n_batch"),
        (dict(cache_type="q8_0"), "cache_type"),
    ],
)
def test_bad_model_arguments(kwargs, words):
    with pytest.raises(kestrel.ArgumentError) as e:
        kestrel.Model(model_path("q4_0"), **kwargs)
    assert words in one_line(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, kestrel.Error)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(stop=[1]), "stop"),
        (dict(stop=b"x"), "stop"),
        (dict(seed=-5), "seed"),
        (dict(seed="1"), "seed"),
        (dict(repeat_penalty=0.0), "repeat_penalty"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(repeat_last_n=-3), "repeat_last_n"),
    ],
)
def test_bad_generate_arguments(q4_model, kwargs, words):
    with pytest.raises(kestrel.ArgumentError) as e:
        q4_model.generate("Once", **kwargs)
    assert words in one_line(e.value)


def test_bad_prompts_and_ids(q4_model):
    with pytest.raises(kestrel.ContextError) as e:
        q4_model.generate("Once upon a time " * 60)
    assert "longer than the context size 128" in one_line(e.value)
    with pytest.raises(kestrel.ArgumentError, match="out of range"):
        q4_model.generate([1, 99999])
    with pytest.raises(kestrel.ArgumentError, match="str or a list of token ids"):
        q4_model.generate(3.5)
    with pytest.raises(kestrel.ArgumentError, match="no tokens"):
        q4_model.generate([])
    with pytest.raises(kestrel.ArgumentError, match="out of range"):
        q4_model.eval([512])
    with pytest.raises(kestrel.ArgumentError, match="out of range"):
        q4_model.detokenize([-1])
    with pytest.raises(kestrel.ArgumentError, match="no tokens"):
        q4_model.eval([])
    q4_model.reset()
    q4_model.eval([1] * 100)
    with pytest.raises(kestrel.ContextError, match="100 cached \\+ 29 new tokens exceed the context size of 128"):
        q4_model.eval([1] * 29)
    assert q4_model.n_past == 100
    with pytest.raises(TypeError):
        q4_model.eval(["a"])
    with pytest.raises(kestrel.ArgumentError, match="not supported"):
        q4_model.create_completion("Once", logprobs=3)


def test_closed_model_and_superseded_stream():
    m = kestrel.Model(model_path("q4_0"), n_ctx=128, n_threads=1)
    s1 = m.generate("Once upon a time", max_tokens=30, temperature=0, stream=True)
    first = next(s1)
    assert first == ","
    m.generate("Once", max_tokens=3, temperature=0)  # takes the session over
    with pytest.raises(kestrel.Error, match="superseded"):
        next(s1)
    s2 = m.generate("Once upon a time", max_tokens=30, temperature=0, stream=True)
    next(s2)
    m.close()
    assert m.closed
    with pytest.raises(kestrel.Error, match="closed"):
        next(s2)
    with pytest.raises(kestrel.Error, match="closed"):
        m.generate("Once")
    with pytest.raises(kestrel.Error, match="closed"):
        m.tokenize("Once")
    m.close()  # twice is fine
