"""llm-server end to end: the real `openai` client and curl against a running server.
Completions and chat, streamed and not; greedy text equal to llm-cli's; 8 concurrent streams each
equal to the same request alone; every bad request's status and error object; a client that
disconnects mid-stream; the API key; /health while loading; SIGTERM finishing a running stream.
Run by ctest (exit 77 = skipped); `python3 tests/server/test_server_api.py` by hand."""
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import FAILED, Server, bin_dir, check, skip, test_model  # noqa: E402

try:
    import openai
except ImportError:
    skip("the openai Python package is not installed (scripts/install-pip-deps.sh installs it)")
if subprocess.run(["curl", "--version"], stdout=subprocess.DEVNULL).returncode != 0:
    skip("curl is not installed")

TMP = tempfile.mkdtemp(prefix="kestrel-server-test-")
MODEL = test_model(TMP)
# Without ../shared the tests run on a synthetic random-weight model (server_util.test_model). Its vocab's
# 256 byte tokens each print as one replacement character, so a top_logprobs dict (keyed by token text, as
# OpenAI's legacy API is) can merge alternatives, and its byte-garbage replies re-tokenize into far more
# tokens than they were generated as. The checks that depend on real text say so where they do.
REAL_TEXT = os.path.basename(MODEL).startswith("stories260K")


def top_count_ok(top, n):
    """top_logprobs of n alternatives: exactly n keys on real text; 1..n on the synthetic vocab (merged keys)"""
    return len(top) == n if REAL_TEXT else 1 <= len(top) <= n
PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went", "One day, a bird", "Tom had a red",
           "The sun was", "A girl named Sue", "In the park"]


def llm_cli(prompt, n):
    out = subprocess.run([os.path.join(bin_dir(), "llm-cli"), "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0",
                          "--no-echo", "-t", "1", "-c", "256", "--cache-type", "f32"], capture_output=True, check=True)
    return out.stdout.decode("utf-8", errors="replace").rstrip("\n")


def curl(url, *args):
    r = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code}", *args, url], capture_output=True, check=True)
    text, _, code = r.stdout.decode("utf-8", errors="replace").rpartition("\n")
    return int(code), text


def is_error_object(body, status):
    e = body["error"]
    assert isinstance(e["message"], str) and e["message"], body
    assert isinstance(e["type"], str) and e["type"], body
    assert e["code"] == status, body


# 8 slots x 256 positions; an F32 KV cache, so the batch-vs-alone comparison below is not blurred by
# F16 rounding of keys and values (a 1e-6 logit difference can flip an F16 rounding step).
srv = Server(MODEL, "-np", "8", "-c", "2048", "-t", "2", "-ctk", "f32")
client = openai.OpenAI(base_url=srv.url + "/v1", api_key="unused", max_retries=0)


def t_health_models():
    code, body = curl(srv.url + "/health")
    assert code == 200 and json.loads(body)["status"] == "ok", body
    models = client.models.list()
    assert models.data[0].id == os.path.basename(MODEL), models


def t_completion_greedy_equals_llm_cli():
    for prompt in PROMPTS[:2]:
        r = client.completions.create(model="m", prompt=prompt, max_tokens=24, temperature=0)
        want = llm_cli(prompt, 24)
        assert r.choices[0].text == want, (r.choices[0].text, want)
        assert r.choices[0].finish_reason == "length"
        assert r.usage.completion_tokens == 24 and r.usage.prompt_tokens > 0, r.usage


def t_completion_stream():
    full = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=20, temperature=0).choices[0].text
    chunks = list(client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=20, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == full
    assert chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 20
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    # curl sees the raw Server-Sent Events ending in [DONE]
    code, text = curl(srv.url + "/v1/completions", "-N", "-d",
                      json.dumps({"prompt": PROMPTS[0], "max_tokens": 5, "temperature": 0, "stream": True}))
    events = [l for l in text.split("\n") if l]
    assert code == 200 and events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events), text


def t_chat():
    # a first turn long enough that the second one shares over half its tokens (the slot-reuse rule) even on
    # the synthetic fallback's byte-level vocab
    msgs = [{"role": "user", "content": "Tell me a story about a dog, a cat and a bird who live in a little house."}]
    r = client.chat.completions.create(model="m", messages=msgs, max_tokens=16, temperature=0)
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content, r
    assert r.usage.completion_tokens <= 16
    # A second turn reuses the first turn's KV (only the new part is evaluated).
    msgs2 = msgs + [{"role": "assistant", "content": r.choices[0].message.content},
                    {"role": "user", "content": "More."}]
    if not REAL_TEXT:  # the synthetic model's reply re-tokenizes to ~6x its tokens: below the 50% prefix rule
        msgs2[1]["content"] = "Once upon a time."
    r2 = client.chat.completions.create(model="m", messages=msgs2, max_tokens=4, temperature=0)
    cached = r2.usage.prompt_tokens_details.cached_tokens
    assert cached >= r.usage.prompt_tokens, (cached, r.usage.prompt_tokens)
    s = list(client.chat.completions.create(model="m", messages=msgs, max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join((c.choices[0].delta.content or "") for c in s if c.choices)
    assert text == r.choices[0].message.content, (text, r.choices[0].message.content)
    assert s[-1].choices == [] and s[-1].usage.completion_tokens == r.usage.completion_tokens
    assert s[-2].choices[0].finish_reason == r.choices[0].finish_reason
    s = list(client.chat.completions.create(model="m", messages=msgs, max_tokens=4, temperature=0, stream=True))
    assert all(c.usage is None for c in s) and s[-1].choices[0].finish_reason == "length"


def streamed(c, prompt, **kw):
    """(text, [(token, logprob, {alternative: logprob})]) of one streamed completion"""
    parts, steps = [], []
    # ignore_eos: always 40 tokens (the synthetic fallback model may draw its EOS early)
    for ch in c.completions.create(model="m", prompt=prompt, max_tokens=40, stream=True,
                                   extra_body={"ignore_eos": True}, **kw):
        parts.append(ch.choices[0].text)
        lp = ch.choices[0].logprobs
        if lp:
            steps += list(zip(lp.tokens, lp.token_logprobs, lp.top_logprobs))
    return "".join(parts), steps


def same_or_near_tie(alone, together):
    """Streams decoded together must equal each stream alone, token for token, except that the
    kernels' multi-row matmul (>= 8 rows, packed) sums in another order than the few-row one (~1e-6
    on the logits, measured), which may flip a near-tie: so a stream may differ only from a step
    whose two best tokens are within 1e-3, and every log-prob up to there agrees within 1e-3.
    Any mixing of sequences (positions, KV, rows) breaks this at once."""
    n_same = 0
    for (ta, sa), (tb, sb) in zip(alone, together):
        assert len(sa) == len(sb) == 40, (len(sa), len(sb))
        n_same += ta == tb
        for (tok_a, lp_a, top_a), (tok_b, lp_b, top_b) in zip(sa, sb):
            if tok_a != tok_b:
                best = sorted(top_a.values(), reverse=True)
                if len(best) < 2 and not REAL_TEXT:  # merged keys (see REAL_TEXT): the margin is unknown
                    break
                assert best[0] - best[1] < 1e-3, ("diverged without a near-tie", ta, tb, top_a, top_b)
                break
            assert abs(lp_a - lp_b) < 1e-3, (tok_a, lp_a, lp_b)
    return n_same


def t_chat_template_file():
    # --chat-template-file replaces the model's template (stories260K has none: ChatML otherwise)
    tpl = os.path.join(TMP, "tpl.jinja")
    with open(tpl, "w") as f:
        f.write("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant:{% endif %}")
    t = Server(MODEL, "-np", "1", "-c", "256", "-t", "1", "--chat-template-file", tpl)
    try:
        msgs = [{"role": "user", "content": "Once upon a time"}]
        st, r, _ = t.request("POST", "/v1/chat/completions", {"messages": msgs, "max_tokens": 4, "temperature": 0})
        want = t.request("POST", "/tokenize", {"content": "user: Once upon a time\nassistant:", "add_special": True})[1]
        assert st == 200 and r["usage"]["prompt_tokens"] == len(want["tokens"]), (r, want)
        st, c, _ = t.request("POST", "/v1/completions", {"prompt": "user: Once upon a time\nassistant:", "max_tokens": 4,
                                                         "temperature": 0})
        assert r["choices"][0]["message"]["content"] == c["choices"][0]["text"], (r, c)
    finally:
        assert t.stop() == 0
    bad = os.path.join(TMP, "bad.jinja")
    with open(bad, "w") as f:
        f.write("{% for m in messages %}")
    p = subprocess.run([os.path.join(bin_dir(), "llm-server"), "-m", MODEL, "--port", "0", "--chat-template-file", bad],
                       capture_output=True, timeout=30)
    assert p.returncode == 1 and b"chat template" in p.stderr, p.stderr


def t_concurrent_streams_equal_alone():
    results = {}
    # F32 weights and KV cache: no rounding step that could amplify the 1e-6 kernel difference (Q8_0 would:
    # activations are quantized per row, and one flipped rounding step moves logits by ~1e-2, see README).
    for type_name in ["f32"]:
        srv8 = srv if type_name == "f32" else Server(test_model(TMP, type_name), "-np", "8", "-c", "2048", "-t", "2",
                                                           "-ctk", "f32")
        try:
            c = openai.OpenAI(base_url=srv8.url + "/v1", api_key="x", max_retries=0)
            alone = [streamed(c, p, temperature=0, logprobs=2) for p in PROMPTS]
            m0 = srv8.metrics()
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                together = list(ex.map(lambda p: streamed(c, p, temperature=0, logprobs=2), PROMPTS))
            m1 = srv8.metrics()
            results[type_name] = same_or_near_tie(alone, together)
            # batched for real: fewer forward passes than generated tokens (this model decodes a step in
            # ~0.1 ms, faster than Python clients connect, so not all 8 overlap all the time)
            steps = m1["decode_steps_total"] - m0["decode_steps_total"]
            tokens = m1["tokens_predicted_total"] - m0["tokens_predicted_total"]
            assert tokens == 320 and steps < 0.9 * tokens, (steps, tokens)
        finally:
            if srv8 is not srv:
                assert srv8.stop() == 0
    print("identical to their lone run, of 8 concurrent greedy streams: %s" % results)
    # seeded sampling in a batch: the same text as alone while no near-tie intervenes (checked above),
    # and always reproducible batch against batch
    kw = dict(temperature=0.9, max_tokens=24)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        run1 = list(ex.map(lambda ip: client.completions.create(model="m", prompt=ip[1], seed=ip[0], **kw).choices[0].text,
                           enumerate(PROMPTS)))
    assert len(set(run1)) > 1


def t_sampling_fields_logprobs_stop_echo():
    r = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=8, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == 8 and len(lp.token_logprobs) == 8 and all(top_count_ok(t, 3) for t in lp.top_logprobs), lp
    assert "".join(lp.tokens) == r.choices[0].text
    assert all(x <= 0 for x in lp.token_logprobs)
    # greedy: the chosen token is the most likely one
    assert all(abs(max(t.values()) - x) < 1e-5 for t, x in zip(lp.top_logprobs, lp.token_logprobs) if len(t) == 3)
    full = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=24, temperature=0).choices[0].text
    stop = full[10:14]
    r = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=24, temperature=0, stop=[stop, "zzzz"])
    assert r.choices[0].text == full[:full.index(stop)] and r.choices[0].finish_reason == "stop", (r, stop)
    s = list(client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=24, temperature=0, stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in s) == full[:full.index(stop)]
    r = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=4, temperature=0, echo=True)
    assert r.choices[0].text.startswith(PROMPTS[0]) and r.choices[0].text[len(PROMPTS[0]):] == llm_cli(PROMPTS[0], 4)
    c = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=3,
                                       temperature=0, logprobs=True, top_logprobs=2)
    assert len(c.choices[0].logprobs.content) == c.usage.completion_tokens
    assert all(len(x.top_logprobs) == 2 for x in c.choices[0].logprobs.content)
    # penalties and the other samplers are accepted and change greedy output as they should
    r = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=30, temperature=0, frequency_penalty=2.0,
                                  presence_penalty=1.0, top_p=0.9, extra_body={"top_k": 20, "min_p": 0.1,
                                                                               "repeat_penalty": 1.3})
    assert r.choices[0].text != full
    # token-id prompts equal text prompts; seeds reproduce
    ids = srv.request("POST", "/tokenize", {"content": PROMPTS[0], "add_special": True})[1]["tokens"]
    r = client.completions.create(model="m", prompt=ids, max_tokens=24, temperature=0)
    assert r.choices[0].text == full
    a = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=16, temperature=1.0, seed=7).choices[0].text
    b = client.completions.create(model="m", prompt=PROMPTS[1], max_tokens=16, temperature=1.0, seed=7).choices[0].text
    assert a == b


def t_echo_logprobs():
    # echo + logprobs: the prompt's tokens with log-probabilities (the first one null), as OpenAI's
    # legacy API answers it; each prompt position's alternatives are what a 1-token completion of the
    # prompt up to there reports. The prompt is longer than the 32 rows of logits read per step.
    ids = srv.request("POST", "/tokenize", {"content": " ".join(PROMPTS), "add_special": True})[1]["tokens"]
    assert len(ids) > 40, len(ids)
    r = client.completions.create(model="m", prompt=ids, max_tokens=0, echo=True, logprobs=2, temperature=0)
    lp, text = r.choices[0].logprobs, r.choices[0].text
    assert r.usage.completion_tokens == 0 and r.usage.prompt_tokens == len(ids), r.usage
    assert len(lp.tokens) == len(ids) and "".join(lp.tokens) == text, (lp.tokens, text)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None, lp
    assert all(x <= 0 for x in lp.token_logprobs[1:]) and all(top_count_ok(t, 2) for t in lp.top_logprobs[1:])
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(ids))]
    for i in (1, 5, 32, 33, len(ids) - 1):
        one = client.completions.create(model="m", prompt=ids[:i], max_tokens=1, logprobs=2, temperature=0)
        want = one.choices[0].logprobs.top_logprobs[0]
        assert want.keys() == lp.top_logprobs[i].keys(), (i, want, lp.top_logprobs[i])
        assert all(abs(want[k] - lp.top_logprobs[i][k]) < 1e-3 for k in want), (i, want, lp.top_logprobs[i])
        if lp.tokens[i] in want:
            assert abs(want[lp.tokens[i]] - lp.token_logprobs[i]) < 1e-3, (i, want, lp.token_logprobs[i])
    # with generated tokens: theirs follow, offsets after the echoed text; streamed: the first chunk is
    # the prompt with its logprobs, the rest as without echo
    g = client.completions.create(model="m", prompt=ids[:8], max_tokens=3, echo=True, logprobs=1, temperature=0)
    glp, echo = g.choices[0].logprobs, "".join(lp.tokens[:8])
    assert len(glp.tokens) == 11 and glp.token_logprobs[8] is not None and g.choices[0].text.startswith(echo), glp
    assert glp.text_offset[8] == len(echo) and "".join(glp.tokens) == g.choices[0].text, (glp, g.choices[0].text)
    chunks = list(client.completions.create(model="m", prompt=ids[:8], max_tokens=3, echo=True, logprobs=1,
                                            temperature=0, stream=True))
    first = chunks[0].choices[0]
    assert first.text == echo and len(first.logprobs.tokens) == 8 and first.logprobs.token_logprobs[0] is None
    assert "".join(c.choices[0].text for c in chunks) == g.choices[0].text
    # the prompt tokens are scored again, not taken from the slot's cache
    again = client.completions.create(model="m", prompt=ids, max_tokens=0, echo=True, logprobs=2, temperature=0)
    assert again.choices[0].logprobs.token_logprobs[1:] == lp.token_logprobs[1:] or \
        max(abs(a - b) for a, b in zip(again.choices[0].logprobs.token_logprobs[1:], lp.token_logprobs[1:])) < 1e-4


def t_tokenize_detokenize():
    st, body, _ = srv.request("POST", "/tokenize", {"content": "Once upon a time"})
    st2, body2, _ = srv.request("POST", "/tokenize", {"content": "Once upon a time", "add_special": True})
    assert st == 200 and st2 == 200
    assert body2["tokens"][1:] == body["tokens"] and len(body2["tokens"]) == len(body["tokens"]) + 1, (body, body2)
    st, d, _ = srv.request("POST", "/detokenize", {"tokens": body["tokens"]})
    assert st == 200 and d["content"].strip() == "Once upon a time", d
    st, p, _ = srv.request("POST", "/tokenize", {"content": "Once", "with_pieces": True})
    assert p["tokens"][0]["id"] == body["tokens"][0] and isinstance(p["tokens"][0]["piece"], str), p


def t_context_full_is_length():
    n_ctx_slot = 256
    ids = srv.request("POST", "/tokenize", {"content": PROMPTS[0], "add_special": True})[1]["tokens"]
    r = client.completions.create(model="m", prompt=PROMPTS[0], max_tokens=100000, temperature=0,
                                  extra_body={"ignore_eos": True})
    # stories260K may end the story (EOS) before the slot is full; either way the slot bound holds
    assert r.usage.prompt_tokens + r.usage.completion_tokens <= n_ctx_slot + 1, r.usage
    if r.choices[0].finish_reason == "length":
        assert r.usage.prompt_tokens + r.usage.completion_tokens == n_ctx_slot + 1, r.usage
    long_prompt = ids + [ids[-1]] * (n_ctx_slot - len(ids))  # exactly fills the slot: one token, then length
    r = client.completions.create(model="m", prompt=long_prompt, max_tokens=10, temperature=0)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 1, r


def t_bad_requests():
    cases = [
        ("POST", "/v1/completions", b"this is not json", 400),
        ("POST", "/v1/completions", b'{"prompt": "x"', 400),
        ("POST", "/v1/completions", b"[1, 2]", 400),
        ("POST", "/v1/completions", b"{}", 400),
        ("POST", "/v1/completions", b'{"prompt": 5}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "temperature": "hot"}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "max_tokens": -5}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "max_tokens": 100000000}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "top_p": 7}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "stop": [1, 2]}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "n": 2}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "seed": "abc"}', 400),
        ("POST", "/v1/completions", b'{"prompt": "x", "logprobs": 99}', 400),
        ("POST", "/v1/completions", b'{"prompt": [1, 99999999]}', 400),
        ("POST", "/v1/completions", b'{"prompt": []}', 400),
        ("POST", "/v1/completions", json.dumps({"prompt": "word " * 400}).encode(), 400),  # > 256 per slot
        ("POST", "/v1/chat/completions", b'{"max_tokens": 3}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": []}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": [{"content": "no role"}]}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": 5}]}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": "hi"}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}], "n": 2}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 21}', 400),
        ("POST", "/v1/chat/completions",
         b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}', 400),
        ("POST", "/v1/chat/completions", b'{"messages": [{"role": "user", "content": [{"type": 1}]}]}', 400),
        ("POST", "/v1/chat/completions", b'not json', 400),
        ("POST", "/tokenize", b'{"content": 5}', 400),
        ("POST", "/detokenize", b'{"tokens": ["a"]}', 400),
        ("GET", "/v1/nothing-here", None, 404),
        ("POST", "/v1/completions", b'{"prompt": "' + b"x" * (9 << 20) + b'"}', 413),
    ]
    for method, path, raw, want in cases:
        status, body, headers = srv.request(method, path, raw=raw)
        assert status == want, (path, raw[:80] if raw else None, status, body)
        assert isinstance(body, dict), (path, body)
        is_error_object(body, want)
        assert headers.get("Content-Type", "").startswith("application/json"), headers
    # the openai client maps them to its exceptions
    try:
        client.completions.create(model="m", prompt="x", temperature=-1)
        raise AssertionError("expected a 400")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and "temperature" in str(e)
    code, text = curl(srv.url + "/v1/completions", "-d", "garbage")
    assert code == 400 and json.loads(text)["error"]["type"] == "invalid_request_error"
    assert srv.request("GET", "/health")[0] == 200  # still serving


def t_disconnect_mid_stream():
    # One slot with room for 32768 tokens: the stream runs for seconds unless the disconnect stops it.
    long = Server(MODEL, "-np", "1", "-c", "32768", "-t", "1")
    try:
        for streaming_started in (True, False):
            before = long.metrics()
            s = socket.create_connection(("127.0.0.1", long.port))
            body = json.dumps({"prompt": PROMPTS[0], "temperature": 1.0, "stream": True, "ignore_eos": True}).encode()
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            got = b""
            while streaming_started and got.count(b"data: ") < 3:
                got += s.recv(4096)
            while long.metrics()["requests_processing"] < 1:
                time.sleep(0.001)
            s.close()
            t0 = time.time()
            while time.time() - t0 < 5 and long.metrics()["requests_processing"] > 0:
                time.sleep(0.005)
            m = long.metrics()
            assert m["requests_processing"] == 0, m
            assert m["generations_cancelled_total"] == before["generations_cancelled_total"] + 1, m
            assert m["tokens_predicted_total"] - before["tokens_predicted_total"] < 20000, m  # stopped early
        # and the slot serves the next request
        st, body, _ = long.request("POST", "/v1/completions", {"prompt": PROMPTS[1], "max_tokens": 3})
        assert st == 200 and body["usage"]["completion_tokens"] == 3, body
    finally:
        assert long.stop() == 0


def t_metrics_no_leak():
    m = srv.metrics()
    assert m["requests_processing"] == 0 and m["requests_deferred"] == 0, m
    assert m["tokens_predicted_total"] > 0 and m["prompt_tokens_total"] > 0 and m["requests_total"] > 0, m
    assert m["predicted_tokens_seconds"] > 0 and m["slots_total"] == 8, m


def t_api_key():
    keyed = Server(MODEL, "-np", "2", "-c", "512", "-t", "1", "--api-key", "sekrit")
    try:
        assert keyed.request("GET", "/health")[0] == 200
        for path in ["/v1/models", "/metrics", "/v1/unknown"]:
            for hdr in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekrit"}]:
                st, body, _ = keyed.request("GET", path, headers=hdr)
                assert st == 401, (path, hdr, st)
                is_error_object(body, 401)
        st, body, _ = keyed.request("POST", "/v1/completions", {"prompt": "x", "max_tokens": 1})
        assert st == 401 and body["error"]["type"] == "authentication_error"
        assert keyed.request("GET", "/v1/models", headers={"Authorization": "Bearer sekrit"})[0] == 200
        assert keyed.request("GET", "/v1/unknown", headers={"Authorization": "Bearer sekrit"})[0] == 404
        good = openai.OpenAI(base_url=keyed.url + "/v1", api_key="sekrit", max_retries=0)
        assert good.completions.create(model="m", prompt="Once", max_tokens=2).usage.completion_tokens >= 1
        bad = openai.OpenAI(base_url=keyed.url + "/v1", api_key="nope", max_retries=0)
        try:
            bad.completions.create(model="m", prompt="Once", max_tokens=2)
            raise AssertionError("expected 401")
        except openai.AuthenticationError as e:
            assert e.status_code == 401
        good.close()
        bad.close()
    finally:
        assert keyed.stop() == 0


def t_health_503_while_loading():
    fifo = os.path.join(TMP, "loading.gguf")
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: the model is "loading"
    s = Server(fifo, "-t", "1", wait_ready=False)
    try:
        st, body, _ = s.request("GET", "/health")
        assert st == 503 and body["error"]["code"] == 503, (st, body)
        st, body, _ = s.request("POST", "/v1/completions", {"prompt": "x"})
        assert st == 503, st
    finally:
        with open(fifo, "wb"):
            pass  # an empty "file": the load fails, the server says why and exits 1
        assert s.proc.wait(timeout=20) == 1
        assert "llm-server: error" in s.log_text(), s.log_text()


def t_sigterm_finishes_running_stream():
    s = Server(MODEL, "-np", "2", "-c", "512", "-t", "1")
    c = openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
    result = {}

    def run():
        chunks = list(c.completions.create(model="m", prompt=PROMPTS[0], max_tokens=150, temperature=0, stream=True,
                                           extra_body={"ignore_eos": True}))
        result["reason"] = chunks[-1].choices[0].finish_reason
        result["n"] = chunks[-1].usage.completion_tokens

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 10
    while time.time() < deadline and s.metrics()["tokens_predicted_total"] < 5:
        time.sleep(0.005)
    s.proc.send_signal(signal.SIGTERM)
    t.join(timeout=30)
    assert s.proc.wait(timeout=30) == 0, s.log_text()
    assert result.get("reason") in ("length", "stop") and result["n"] >= 5, result
    assert "SIGTERM" in s.log_text()
    c.close()


check("health and models", t_health_models)
check("completions: greedy equals llm-cli", t_completion_greedy_equals_llm_cli)
check("completions: stream", t_completion_stream)
check("chat: whole, stream, usage, multi-turn prefix reuse", t_chat)
check("chat: --chat-template-file", t_chat_template_file)
check("8 concurrent streams equal each alone (F32)", t_concurrent_streams_equal_alone)
check("logprobs, stop, echo, samplers, token prompts, seeds", t_sampling_fields_logprobs_stop_echo)
check("echo + logprobs: the prompt's log-probabilities", t_echo_logprobs)
check("tokenize / detokenize", t_tokenize_detokenize)
check("a full slot ends with length", t_context_full_is_length)
check("bad requests: status and error object", t_bad_requests)
check("client disconnect frees the slot", t_disconnect_mid_stream)
check("metrics: no leaked slots", t_metrics_no_leak)
check("api key", t_api_key)
check("health is 503 while loading", t_health_503_while_loading)
check("SIGTERM finishes the running stream", t_sigterm_finishes_running_stream)
client.close()
rc = srv.stop()
if rc != 0:
    FAILED.append("server exit code %s" % rc)
print(srv.log_text()[-2000:] if FAILED else "")
print("%d failed" % len(FAILED) if FAILED else "all passed")
sys.exit(1 if FAILED else 0)
