"""Generation: greedy text equals llm-cli's (and llama.cpp's reference), streaming equals non-streaming,
stop strings, seeded sampling, Ctrl-C between tokens."""

import signal

import pytest

import kestrel
from conftest import model_path, read_ref, run_cli

PROMPT = "Once upon a time"


@pytest.mark.parametrize("kind", ["q4_0", "f32"])
def test_greedy_equals_llm_cli_and_llama_cpp(kind):
    cli = run_cli("-m", model_path(kind), "-p", PROMPT, "--temp", "0", "-n", "100", "-t", "1", "--no-echo")
    with kestrel.Model(model_path(kind), n_threads=1) as m:
        text = m.generate(PROMPT, max_tokens=100, temperature=0)
    assert text + "\n" == cli.decode("utf-8")
    ref = read_ref(kind)
    assert text == ref["greedy_text"]  # llama.cpp's 100 greedy tokens (F16 vs F32 KV cache: same text here)


def test_greedy_token_ids_equal_llama_cpp(q4_model):
    ref = read_ref("q4_0")
    assert q4_model.tokenize(PROMPT) == ref["prompt_ids"]
    g = q4_model.generation(PROMPT, max_tokens=100, temperature=0)
    g.read_all()
    assert g.tokens == ref["greedy_ids"]
    assert g.finish_reason == "length"
    assert g.n_prompt_tokens == len(ref["prompt_ids"])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_tokens=60, temperature=0),
        dict(max_tokens=60, temperature=0.9, seed=1234),
        dict(max_tokens=60, temperature=0, stop=["Lily."]),
        dict(max_tokens=None, temperature=0.7, top_k=5, seed=7, stop=["\n"]),
    ],
)
def test_streaming_equals_non_streaming(q4_model, kwargs):
    whole = q4_model.generate(PROMPT, **kwargs)
    pieces = list(q4_model.generate(PROMPT, stream=True, **kwargs))
    assert "".join(pieces) == whole
    assert all(pieces)  # no empty pieces
    assert len(pieces) > 1


def test_stop_strings_cut_before_the_first_match(q4_model):
    full = q4_model.generate(PROMPT, max_tokens=100, temperature=0)
    assert "Lily" in full
    g = q4_model.generation(PROMPT, max_tokens=100, temperature=0, stop=["zzz", "Lily"])
    assert g.read_all() == full[: full.index("Lily")]
    assert g.finish_reason == "stop"
    assert q4_model.generate(PROMPT, max_tokens=100, temperature=0, stop="girl") == full[: full.index("girl")]
    # A stop string that never appears changes nothing.
    assert q4_model.generate(PROMPT, max_tokens=100, temperature=0, stop=["\x00never"]) == full


def test_seeded_sampling_is_reproducible(q4_model):
    a = q4_model.generate(PROMPT, max_tokens=40, temperature=1.0, seed=99)
    b = q4_model.generate(PROMPT, max_tokens=40, temperature=1.0, seed=99)
    c = q4_model.generate(PROMPT, max_tokens=40, temperature=1.0, seed=100)
    assert a == b
    assert a != c
    # Same sampler as llm-cli: same seed, same text.
    cli = run_cli("-m", model_path("q4_0"), "-p", PROMPT, "--temp", "1", "-s", "99", "-n", "40", "-t", "1",
                  "-c", "128", "--no-echo")
    assert a + "\n" == cli.decode("utf-8")


def test_prompt_as_ids_and_full_context(q4_model):
    ids = q4_model.tokenize(PROMPT)
    assert q4_model.generate(ids, max_tokens=20, temperature=0) == q4_model.generate(PROMPT, max_tokens=20, temperature=0)
    g = q4_model.generation(PROMPT, max_tokens=None, temperature=0, repeat_penalty=1.3)
    g.read_all()
    # Unbounded: ends at EOS or when the 128-token context is full (then finish_reason "length").
    assert g.finish_reason in ("stop", "length")
    if g.finish_reason == "length":
        assert g.n_prompt_tokens + len(g.tokens) == q4_model.n_ctx + 1


def test_ctrl_c_interrupts_between_tokens():
    # A long generation (n_ctx beyond the training context: garbage text, which is fine here) and a SIGALRM
    # handler that raises KeyboardInterrupt: it can only run if the engine checks for signals between tokens.
    def on_alarm(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        with pytest.warns(RuntimeWarning, match="training context"):
            m = kestrel.Model(model_path("q4_0"), n_ctx=4096, n_threads=1)
        g = m.generation(PROMPT, max_tokens=4000, temperature=0, repeat_penalty=1.2)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            g.read_all()
        assert 0 < len(g.tokens) < 4000
        # The model is still usable afterwards.
        assert m.generate(PROMPT, max_tokens=5, temperature=0) == ", there was a little"
        m.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_lookup_speculation_gives_the_greedy_tokens(q4_model):
    """lookup > 0: prompt-lookup drafts checked in one batched eval; the tokens stay greedy decoding's."""
    prompt = "Lily had a red ball. Lily had a red ball. Lily had a"
    plain = q4_model.generation(prompt, max_tokens=60, temperature=0)
    plain_text = plain.read_all()
    spec = q4_model.generation(prompt, max_tokens=60, temperature=0, lookup=8)
    assert spec.read_all() == plain_text
    assert spec.tokens == plain.tokens
    assert spec.n_drafted > 0 and 0 <= spec.n_accepted <= spec.n_drafted
    assert plain.n_drafted == 0
    assert "".join(q4_model.generate(prompt, max_tokens=60, temperature=0, lookup=8, stream=True)) == plain_text
    with pytest.raises(kestrel.ArgumentError, match="temperature"):
        q4_model.generate(prompt, max_tokens=4, temperature=0.8, lookup=8)
    with pytest.raises(kestrel.ArgumentError, match="lookup"):
        q4_model.generate(prompt, max_tokens=4, temperature=0, lookup=-1)
