"""Chat: the model's template (ChatML for stories260K, which has none; an override file checked against
python3-jinja2), the prompt's tokens, and llama-cpp-python shaped chat completions."""

import pytest

import kestrel
from conftest import model_path

MESSAGES = [
    {"role": "system", "content": "You tell stories."},
    {"role": "user", "content": "Once upon a time"},
]

# A Llama-3 style template (written for this test) with bos_token, loops, filters and a conditional.
TEMPLATE = (
    "{{- bos_token }}{% for m in messages %}"
    "{{ '<|' + m['role'] + '|>\\n' + m['content'] | trim + '\\n' }}"
    "{% if loop.last and m['role'] == 'user' %}{{ '[' ~ loop.index ~ ']' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
    "{% if greeting is defined %}{{ greeting | upper }}{% endif %}"
)


def test_chatml_fallback_and_stop_tokens(q4_model):
    text = q4_model.apply_chat_template(MESSAGES)
    assert text == (
        "<|im_start|>system\nYou tell stories.<|im_end|>\n"
        "<|im_start|>user\nOnce upon a time<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert q4_model.apply_chat_template(MESSAGES, add_generation_prompt=False).endswith("<|im_end|>\n")
    assert q4_model.token_eos() in q4_model.chat_stop_tokens
    assert "<|im_start|>" in q4_model.chat_template


def test_override_file_renders_like_jinja2(tmp_path):
    jinja2 = pytest.importorskip("jinja2", reason="python3-jinja2 (the reference renderer) is not installed")
    f = tmp_path / "tmpl.jinja"
    f.write_text(TEMPLATE)
    with kestrel.Model(model_path("q4_0"), n_ctx=128, chat_template_file=f) as m:
        assert m.chat_template == TEMPLATE
        got = m.apply_chat_template(MESSAGES, greeting="hi there")
        env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # Hugging Face's settings
        want = env.from_string(TEMPLATE).render(
            messages=MESSAGES, add_generation_prompt=True, bos_token="<s>", eos_token="</s>", greeting="hi there"
        )
        assert got == want
        assert got.startswith("<s><|system|>")
        # The template wrote BOS: the tokens start with exactly one.
        ids = m.chat_prompt_tokens(got)
        assert ids[0] == m.token_bos() and ids[1] != m.token_bos()
        assert ids == m.tokenize(got, add_special=False, parse_special=True)
    # Without a BOS in the text, the vocab's BOS is added.
    with kestrel.Model(model_path("q4_0"), n_ctx=128) as m:
        text = m.apply_chat_template(MESSAGES)
        assert m.chat_prompt_tokens(text) == m.tokenize(text, add_special=True, parse_special=True)


def test_create_chat_completion_shapes(q4_model):
    r = q4_model.create_chat_completion(MESSAGES, max_tokens=12, temperature=0)
    assert set(r) == {"id", "object", "created", "model", "choices", "usage"}
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    (c,) = r["choices"]
    assert set(c) == {"index", "message", "logprobs", "finish_reason"}
    assert c["message"]["role"] == "assistant"
    ids = q4_model.chat_prompt_tokens(q4_model.apply_chat_template(MESSAGES))
    g = q4_model.generation(ids, max_tokens=12, temperature=0, stop_tokens=q4_model.chat_stop_tokens)
    assert c["message"]["content"] == g.read_all()
    assert c["finish_reason"] == g.finish_reason
    assert r["usage"]["prompt_tokens"] == len(ids)
    assert r["usage"]["completion_tokens"] == len(g.tokens)
    # Streaming: a role delta, content deltas, an empty delta with the finish_reason; same text.
    chunks = list(q4_model.create_chat_completion(MESSAGES, max_tokens=12, temperature=0, stream=True))
    assert all(ch["object"] == "chat.completion.chunk" and ch["id"] == chunks[0]["id"] for ch in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert chunks[-1]["choices"][0]["delta"] == {} and chunks[-1]["choices"][0]["finish_reason"] == c["finish_reason"]
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks) == c["message"]["content"]


def test_chat_errors(q4_model, tmp_path):
    with pytest.raises(kestrel.ArgumentError, match="messages"):
        q4_model.apply_chat_template("hi")
    with pytest.raises(kestrel.ArgumentError, match="role"):
        q4_model.apply_chat_template([{"content": "x"}])
    with pytest.raises(kestrel.ArgumentError, match=r"messages\[0\]\.content: unsupported type set"):
        q4_model.apply_chat_template([{"role": "user", "content": {1}}])
    with pytest.raises(kestrel.ArgumentError, match="tools"):
        q4_model.create_chat_completion(MESSAGES, tools=[{"type": "function"}])
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}{{ m.content ")
    with kestrel.Model(model_path("q4_0"), n_ctx=128, chat_template_file=bad) as m:
        with pytest.raises(kestrel.TemplateError, match="bad.jinja"):
            m.apply_chat_template(MESSAGES)
        assert m.generate("Once", max_tokens=2, temperature=0)  # the model itself still works
    raising = tmp_path / "raise.jinja"
    raising.write_text("{{ raise_exception('only user messages, please') }}")
    with kestrel.Model(model_path("q4_0"), n_ctx=128, chat_template_file=raising) as m:
        with pytest.raises(kestrel.TemplateError, match="only user messages, please"):
            m.create_chat_completion(MESSAGES)
    with kestrel.Model(model_path("q4_0"), n_ctx=128, chat_template_file=tmp_path / "missing.jinja") as m:
        with pytest.raises(kestrel.TemplateError, match="missing.jinja"):
            m.apply_chat_template(MESSAGES)
