"""eval() and .logits: equal to `llm-cli --logits-out`, a NumPy view without a copy, safe lifetime."""

import gc

import numpy as np
import pytest

import kestrel
from conftest import model_path, run_cli

PROMPT = "Once upon a time"


@pytest.mark.parametrize("kind", ["q4_0", "q8_0", "f16"])
def test_logits_equal_llm_cli_logits_out(kind, tmp_path):
    out = tmp_path / "logits.f32"
    run_cli("-m", model_path(kind), "-p", PROMPT, "-n", "1", "-t", "1", "-c", "128", "--logits-out", str(out))
    with kestrel.Model(model_path(kind), n_ctx=128, n_threads=1) as m:
        ids = m.tokenize(PROMPT, parse_special=True)  # llm-cli parses special tokens
        m.eval(ids, logits_all=True)
        got = m.logits
        want = np.fromfile(out, dtype=np.float32).reshape(len(ids), m.n_vocab)
        assert got.shape == want.shape
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)  # same engine, same threads, same cache type: bit-identical


def test_logits_is_a_read_only_view_of_the_engine_buffer(q4_model):
    q4_model.reset()
    assert q4_model.n_past == 0
    ids = q4_model.tokenize(PROMPT)
    q4_model.eval(ids, logits_all=True)
    a = q4_model.logits
    b = q4_model.logits
    assert a.shape == (len(ids), q4_model.n_vocab)
    assert not a.flags.owndata and not a.flags.writeable
    assert np.shares_memory(a, b)  # both views of the same buffer: no copy
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    batch = a.copy()
    # Token by token equals the batch (up to summation order in the kernels).
    q4_model.reset()
    rows = []
    for t in ids:
        q4_model.eval([t])
        assert q4_model.logits.shape == (1, q4_model.n_vocab)
        rows.append(q4_model.logits[0].copy())
    assert q4_model.n_past == len(ids)
    np.testing.assert_allclose(np.stack(rows), batch, atol=1e-4)
    # `a` is a view, not a snapshot: the single-token evals wrote their logits into its first row.
    np.testing.assert_array_equal(a[0], rows[-1])


def test_views_outlive_growth_and_close():
    m = kestrel.Model(model_path("q4_0"), n_ctx=128, n_threads=1)
    assert m.logits is None  # nothing evaluated yet
    m.eval([1, 403], logits_all=True)
    small = m.logits
    first = small.copy()
    m.reset()
    m.eval(m.tokenize("Once upon a time there was a big dog"), logits_all=True)  # more rows: a new buffer
    np.testing.assert_array_equal(small, first)  # the old buffer is still alive and unchanged
    last = m.logits
    snapshot = last.copy()
    m.close()
    del m
    gc.collect()
    np.testing.assert_array_equal(last, snapshot)  # the view keeps its buffer after the model is gone


@pytest.mark.parametrize("kind", ["q4_0", "q8_0"])
def test_repack_off_gives_the_same_prompt_logits(kind):
    # repack=False reads the file's ggml rows (like --no-repack); prompt batches build the same panels.
    got = {}
    for repack in (True, False):
        with kestrel.Model(model_path(kind), n_ctx=128, n_threads=1, repack=repack) as m:
            ids = m.tokenize(PROMPT + ", there was a little girl who liked to play")
            assert len(ids) >= 8  # a batch: decode-sized calls sum in another order when repacked
            m.eval(ids, logits_all=True)
            got[repack] = m.logits.copy()
    np.testing.assert_array_equal(got[True], got[False])
