"""llm-server speculative decoding: greedy output with drafts (prompt lookup, a draft model) equals plain
decoding's, for one stream and for several concurrent streams mixing speculative, plain and sampled
requests, streamed and not; llama-server's speculative.n_max / n_min / p_min request fields and its
timings.draft_n / draft_n_accepted; /metrics; bad values (HTTP 400) and bad flags (one-line startup error).
No timing assertions. Run by ctest (exit 77 = skipped); `python3 tests/server/test_server_speculative.py`."""
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import FAILED, Server, bin_dir, check, shared_dir, skip  # noqa: E402

try:
    import openai
except ImportError:
    skip("the openai Python package is not installed (scripts/install-pip-deps.sh installs it)")

TMP = tempfile.mkdtemp(prefix="kestrel-spec-test-")


def synth(name, *args):
    p = os.path.join(TMP, name)
    subprocess.run([os.path.join(bin_dir(), "llm-synth"), p, *args], check=True, stdout=subprocess.DEVNULL)
    return p


# Target and draft: stories260K F32 and its Q8_0 copy (real weights, so the draft agrees often) when
# ../shared is there, else a synthetic F32 model and the same one in Q8_0.
SHARED = os.path.join(shared_dir(), "models")
if os.path.exists(os.path.join(SHARED, "stories260K-f32.gguf")):
    TARGET = os.path.join(SHARED, "stories260K-f32.gguf")
    DRAFT = os.path.join(SHARED, "stories260K-q8_0.gguf")
    REAL = True
else:
    small = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ff", "128", "--vocab", "300"]
    TARGET = synth("t-f32.gguf", *small, "--type", "f32")
    DRAFT = synth("t-q8_0.gguf", *small, "--type", "q8_0")
    REAL = False
# Another vocabulary: not usable as a draft.
OTHER_VOCAB = synth("other-vocab.gguf", "--dim", "64", "--layers", "1", "--heads", "4", "--kv-heads", "2", "--ff", "128",
                    "--vocab", "301", "--type", "f32")

# A prompt that quotes itself (prompt lookup finds its n-grams) and story openings.
QUOTE = ("Tom said: the little cat sat on the red mat. Tom said: the little cat sat on the red mat. "
         "Tom said: the little cat")
PROMPTS = [QUOTE, "Once upon a time", "The little dog", "Lily and Ben went", "One day, a bird", "Tom had a red"]
N = 40


def complete(srv, prompt, **fields):
    body = {"prompt": prompt, "max_tokens": N, "temperature": 0, **fields}
    st, r, _ = srv.request("POST", "/v1/completions", body)
    assert st == 200, (st, r)
    return r


def streamed(c, prompt, **fields):
    """(text, the last chunk's timings or None) of one streamed completion through the openai client"""
    extra = {k: v for k, v in fields.items() if k.startswith("speculative.")}
    kw = {k: v for k, v in fields.items() if not k.startswith("speculative.")}
    kw.setdefault("temperature", 0)
    parts, timings = [], None
    for ch in c.completions.create(model="m", prompt=prompt, max_tokens=N, stream=True, extra_body=extra, **kw):
        parts.append(ch.choices[0].text)
        if ch.choices[0].finish_reason is not None:
            timings = (ch.model_extra or {}).get("timings")
    return "".join(parts), timings


# F32 KV caches: the comparisons are not blurred by F16 rounding of keys and values.
lookup_srv = Server(TARGET, "--lookup", "8", "-np", "4", "-c", "2048", "-t", "2", "-ctk", "f32")
draft_srv = Server(TARGET, "-md", DRAFT, "--draft-max", "6", "-np", "4", "-c", "2048", "-t", "2", "-ctk", "f32")
SERVERS = {"lookup": lookup_srv, "draft": draft_srv}
# The draft model drafts only when its top probability reaches p_min: 0 makes it always draft.
DRAFT_ALWAYS = {"speculative.p_min": 0.0}


def t_one_stream_equals_plain():
    for kind, srv in SERVERS.items():
        drafted = accepted = 0
        for prompt in PROMPTS[:3]:
            plain = complete(srv, prompt, **{"speculative.n_max": 0})
            assert "draft_n" not in plain["timings"], plain["timings"]
            spec = complete(srv, prompt, **(DRAFT_ALWAYS if kind == "draft" else {}))
            assert spec["choices"][0]["text"] == plain["choices"][0]["text"], (kind, prompt, spec, plain)
            assert spec["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"] == N
            t = spec["timings"]
            assert 0 <= t["draft_n_accepted"] <= t["draft_n"], t
            assert t["predicted_n"] == N and t["cache_n"] + t["prompt_n"] == spec["usage"]["prompt_tokens"], t
            drafted += t["draft_n"]
            accepted += t["draft_n_accepted"]
        assert drafted > 0, kind  # the quoting prompt always has n-gram matches; p_min 0 always drafts
        if REAL:
            assert accepted > 0, (kind, drafted, accepted)
        print("  %s: %d drafted, %d accepted" % (kind, drafted, accepted))


def t_limits_and_n_min():
    srv = lookup_srv
    plain = complete(srv, QUOTE, **{"speculative.n_max": 0})["choices"][0]["text"]
    for fields in [{"speculative.n_max": 1}, {"speculative.n_max": 3}, {"speculative.n_max": 100},
                   {"speculative.n_max": 4, "speculative.n_min": 4}]:
        r = complete(srv, QUOTE, **fields)
        assert r["choices"][0]["text"] == plain, (fields, r)
        t = r["timings"]
        assert t["draft_n"] > 0, (fields, t)
    # n_max 1: at most one draft per step, so at most one per generated token
    r = complete(srv, QUOTE, **{"speculative.n_max": 1})
    assert r["timings"]["draft_n"] <= N, r["timings"]
    # n_min above what lookup ever finds: nothing is verified
    r = complete(srv, "Once upon a time", **{"speculative.n_max": 64, "speculative.n_min": 64})
    assert r["timings"]["draft_n"] == 0, r["timings"]


def t_cache_prompt_false_reads_the_whole_prompt():
    srv = lookup_srv
    complete(srv, QUOTE, max_tokens=4)
    again = complete(srv, QUOTE, max_tokens=4)
    fresh = complete(srv, QUOTE, max_tokens=4, cache_prompt=False)
    assert again["timings"]["cache_n"] > 0 and fresh["timings"]["cache_n"] == 0, (again["timings"], fresh["timings"])
    assert fresh["usage"]["prompt_tokens_details"]["cached_tokens"] == 0, fresh["usage"]


def t_server_without_flags_speculates_on_request():
    # No --lookup, no -md: plain decoding by default (no draft counts); speculative.n_max > 0 asks for lookup.
    srv = Server(TARGET, "-np", "1", "-c", "512", "-t", "1", "-ctk", "f32")
    try:
        plain = complete(srv, QUOTE)
        assert "draft_n" not in plain["timings"], plain["timings"]
        spec = complete(srv, QUOTE, **{"speculative.n_max": 6})
        assert spec["timings"]["draft_n"] > 0, spec["timings"]
        assert spec["choices"][0]["text"] == plain["choices"][0]["text"], (spec, plain)
    finally:
        assert srv.stop() == 0


def t_sampled_requests_do_not_speculate():
    for srv in SERVERS.values():
        r = complete(srv, QUOTE, temperature=0.8, seed=7)
        assert "draft_n" not in r["timings"], r["timings"]
        r2 = complete(srv, QUOTE, temperature=0.8, seed=7, **{"speculative.n_max": 0})
        assert r["choices"][0]["text"] == r2["choices"][0]["text"], (r, r2)  # plain decoding both times


def t_stream_equals_plain():
    for kind, srv in SERVERS.items():
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        plain = complete(srv, QUOTE, **{"speculative.n_max": 0})["choices"][0]["text"]
        text, timings = streamed(c, QUOTE, **(DRAFT_ALWAYS if kind == "draft" else {}))
        assert text == plain, (kind, text, plain)
        assert timings and timings["draft_n"] > 0 and timings["predicted_n"] == N, timings
        c.close()


def t_chat_equals_plain():
    for kind, srv in SERVERS.items():
        msgs = [{"role": "user", "content": QUOTE}]
        body = {"messages": msgs, "max_tokens": N, "temperature": 0}
        st, plain, _ = srv.request("POST", "/v1/chat/completions", {**body, "speculative.n_max": 0})
        st2, spec, _ = srv.request("POST", "/v1/chat/completions", {**body, **DRAFT_ALWAYS})
        assert st == st2 == 200, (plain, spec)
        assert spec["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"], (spec, plain)
        assert spec["timings"]["draft_n"] > 0, spec["timings"]


def t_concurrent_mixed_streams():
    # 8 requests on 4 slots at once: speculative and plain greedy, a sampled one, streamed and not. Every
    # greedy one equals its plain lone run.
    for kind, srv in SERVERS.items():
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        spec = DRAFT_ALWAYS if kind == "draft" else {}
        alone = {p: complete(srv, p, **{"speculative.n_max": 0})["choices"][0]["text"] for p in PROMPTS}
        jobs = []
        for i, p in enumerate(PROMPTS):
            jobs.append((p, "stream" if i % 2 else "whole", spec if i % 3 != 2 else {"speculative.n_max": 0}))
        jobs.append((QUOTE, "whole", {"speculative.n_max": 2}))
        jobs.append((QUOTE, "sampled", {}))

        def run(job):
            p, how, fields = job
            if how == "stream":
                return streamed(c, p, **fields)[0]
            if how == "sampled":
                return complete(srv, p, temperature=0.9, seed=3)["choices"][0]["text"]
            return complete(srv, p, **fields)["choices"][0]["text"]

        m0 = srv.metrics()
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            out = list(ex.map(run, jobs))
        m1 = srv.metrics()
        for (p, how, fields), text in zip(jobs, out):
            if how != "sampled":
                assert text == alone[p], (kind, p, how, fields, text, alone[p])
        assert m1["draft_tokens_total"] > m0["draft_tokens_total"], (m0, m1)
        assert m1["draft_tokens_accepted_total"] <= m1["draft_tokens_total"], m1
        assert m1["requests_processing"] == 0, m1
        c.close()


def t_logprobs_with_drafts():
    # Each accepted token's log-probabilities come from its own row of the verify batch.
    srv = lookup_srv
    a = complete(srv, QUOTE, logprobs=2, **{"speculative.n_max": 0})["choices"][0]["logprobs"]
    b = complete(srv, QUOTE, logprobs=2)["choices"][0]["logprobs"]
    assert a["tokens"] == b["tokens"], (a["tokens"], b["tokens"])
    for x, y in zip(a["token_logprobs"], b["token_logprobs"]):
        assert abs(x - y) < 1e-3, (x, y)


def t_stop_and_max_tokens_inside_a_draft():
    # A stop string or max_tokens reached in the middle of accepted drafts ends the output exactly there.
    srv = lookup_srv
    plain = complete(srv, QUOTE, **{"speculative.n_max": 0})["choices"][0]["text"]
    for n in [1, 2, 5, 13]:
        r = complete(srv, QUOTE, max_tokens=n)
        p = complete(srv, QUOTE, max_tokens=n, **{"speculative.n_max": 0})
        assert r["choices"][0]["text"] == p["choices"][0]["text"] and r["usage"]["completion_tokens"] == n, (n, r, p)
    words = plain.split()
    if len(words) > 4:
        stop = words[3]
        r = complete(srv, QUOTE, stop=[stop])
        p = complete(srv, QUOTE, stop=[stop], **{"speculative.n_max": 0})
        assert r["choices"][0]["text"] == p["choices"][0]["text"], (r, p)
        assert r["choices"][0]["finish_reason"] == "stop", r


def t_sliding_window_rollback():
    # Gemma 3 layout with a 16-position sliding window and an 8-row batch: rejected drafts are rolled back
    # inside the ring cache (window + n_batch - 1 rows), and the output stays the plain one.
    vocab = ["--vocab-from", TARGET] if REAL else ["--vocab", "300"]
    g = synth("gemma3-swa.gguf", "--arch", "gemma3", "--dim", "64", "--layers", "3", "--heads", "4", "--kv-heads", "2",
              "--ff", "128", "--swa", "16", "--swa-pattern", "3", "--type", "f32", *vocab)
    srv = Server(g, "--lookup", "7", "-np", "2", "-c", "512", "-b", "8", "-t", "2", "-ctk", "f32")
    try:
        for prompt in [QUOTE, "Once upon a time"]:
            plain = complete(srv, prompt, max_tokens=60, **{"speculative.n_max": 0})
            spec = complete(srv, prompt, max_tokens=60)
            assert spec["choices"][0]["text"] == plain["choices"][0]["text"], (prompt, spec, plain)
            assert spec["timings"]["draft_n"] > 0 or prompt != QUOTE, spec["timings"]
    finally:
        assert srv.stop() == 0


def t_bad_request_values():
    for body, word in [({"speculative.n_max": -1}, "speculative.n_max"), ({"speculative.n_max": "4"}, "speculative.n_max"),
                       ({"speculative.n_min": -2}, "speculative.n_min"), ({"speculative.p_min": 1.5}, "speculative.p_min"),
                       ({"speculative.p_min": -0.1}, "speculative.p_min"), ({"speculative.p_min": "x"}, "speculative.p_min"),
                       ({"speculative.n_max": 2, "speculative.n_min": 3}, "speculative.n_min"),
                       ({"speculative.n_max": 1 << 40}, "speculative.n_max")]:
        for path in ["/v1/completions", "/v1/chat/completions"]:
            full = {"prompt": "hi", "max_tokens": 2, **body} if "chat" not in path else \
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, **body}
            st, r, _ = draft_srv.request("POST", path, full)
            assert st == 400 and word in r["error"]["message"] and r["error"]["code"] == 400, (body, st, r)


def t_bad_flags():
    def start(*args):
        p = subprocess.run([os.path.join(bin_dir(), "llm-server"), "-m", TARGET, "--port", "0", *args],
                           capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace").strip().splitlines()
        return p.returncode, err[-1] if err else ""
    for args, word in [(["--lookup", "-1"], "--lookup"), (["--lookup", "4", "-md", DRAFT], "not both"),
                       (["-md", OTHER_VOCAB], "vocabulary"), (["-md", os.path.join(TMP, "missing.gguf")], "draft model"),
                       (["-md", DRAFT, "--draft-max", "0"], "--draft-max"), (["-md", DRAFT, "--draft-p-min", "2"], "--draft-p-min"),
                       (["--draft-max", "4"], "-md"), (["-md", DRAFT, "--draft-min", "-1"], "--draft-min"),
                       (["-md", DRAFT, "--draft-max", "4", "--draft-min", "5"], "--draft-min")]:
        rc, line = start(*args)
        assert rc != 0 and word in line and line.startswith("llm-server:"), (args, rc, line)


check("one stream: lookup and draft model equal plain decoding", t_one_stream_equals_plain)
check("speculative.n_max / n_min limits", t_limits_and_n_min)
check("sampled requests decode plainly", t_sampled_requests_do_not_speculate)
check("a server without flags speculates only on request", t_server_without_flags_speculates_on_request)
check("cache_prompt false evaluates the whole prompt", t_cache_prompt_false_reads_the_whole_prompt)
check("streamed (openai client) equals plain, timings in the last chunk", t_stream_equals_plain)
check("chat equals plain", t_chat_equals_plain)
check("concurrent speculative, plain and sampled requests", t_concurrent_mixed_streams)
check("logprobs of accepted drafts", t_logprobs_with_drafts)
check("max_tokens and stop strings inside accepted drafts", t_stop_and_max_tokens_inside_a_draft)
check("sliding-window ring rollback (gemma3)", t_sliding_window_rollback)
check("bad request values: 400", t_bad_request_values)
check("bad flags: one-line startup error", t_bad_flags)
for name, srv in SERVERS.items():
    rc = srv.stop()
    if rc != 0:
        FAILED.append("%s server exit code %s" % (name, rc))
    if FAILED:
        print(srv.log_text()[-2000:])
print("%d failed" % len(FAILED) if FAILED else "all passed")
sys.exit(1 if FAILED else 0)
