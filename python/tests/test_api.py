"""The rest of the API: tokenize/detokenize, metadata, llama-cpp-python shaped completions, context manager."""

import kestrel
from conftest import model_path, read_ref

PROMPT = "Once upon a time"


def test_tokenize_detokenize(q4_model):
    ids = q4_model.tokenize(PROMPT)
    assert ids[0] == q4_model.token_bos() == 1
    assert q4_model.tokenize(PROMPT, add_special=False) == ids[1:]
    assert q4_model.tokenize(PROMPT.encode()) == ids  # bytes like llama-cpp-python's tokenize
    # llama.cpp's llama_detokenize: add_space_prefix's space is dropped from the first token only, and a
    # leading BOS is that first token.
    assert q4_model.detokenize(ids[1:]) == PROMPT
    assert q4_model.detokenize(ids) == " " + PROMPT
    assert q4_model.detokenize(ids, unparse_special=True) == "<s> " + PROMPT
    assert q4_model.token_to_piece(ids[1]) == " Once"
    assert q4_model.token_eos() == 2
    assert q4_model.n_vocab == read_ref()["n_vocab"] == 512
    assert q4_model.n_ctx_train == 128


def test_metadata(q4_model):
    md = q4_model.metadata
    assert md["general.architecture"] == "llama"
    assert md["llama.block_count"] == 5
    assert md["tokenizer.ggml.model"] == "llama"
    assert isinstance(md["llama.attention.layer_norm_rms_epsilon"], float)
    assert len(md["tokenizer.ggml.tokens"]) == 512 and md["tokenizer.ggml.tokens"][1] == "<s>"
    assert q4_model.metadata is md


def test_create_completion_shapes(q4_model):
    r = q4_model.create_completion(PROMPT, max_tokens=8, temperature=0)
    assert set(r) == {"id", "object", "created", "model", "choices", "usage"}
    assert r["object"] == "text_completion" and r["id"].startswith("cmpl-")
    assert isinstance(r["created"], int) and r["model"] == q4_model.path
    (c,) = r["choices"]
    assert c == {"text": ", there was a little girl", "index": 0, "logprobs": None, "finish_reason": "length"}
    assert r["usage"] == {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}
    # echo, stop, __call__
    r = q4_model(PROMPT, max_tokens=8, temperature=0, echo=True, stop=["little"])
    assert r["choices"][0]["text"] == PROMPT + ", there was a "
    assert r["choices"][0]["finish_reason"] == "stop"
    # streaming: chunks of the same text, the last one with the finish_reason
    chunks = list(q4_model.create_completion(PROMPT, max_tokens=8, temperature=0, stream=True))
    assert all(ch["object"] == "text_completion" and ch["id"] == chunks[0]["id"] for ch in chunks)
    assert "".join(ch["choices"][0]["text"] for ch in chunks) == ", there was a little girl"
    assert [ch["choices"][0]["finish_reason"] for ch in chunks] == [None] * (len(chunks) - 1) + ["length"]


def test_context_manager_and_isa():
    with kestrel.Model(model_path("q4_0"), n_ctx=64) as m:
        assert not m.closed and m.n_ctx == 64
        assert m.generate(PROMPT, max_tokens=3, temperature=0) == ", there was"
    assert m.closed
    assert kestrel.isa() in ("scalar", "avx2", "avx512", "neon")
