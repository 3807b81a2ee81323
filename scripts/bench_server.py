#!/usr/bin/env python3
"""Benchmarks llm-server against llama-server (same GGUF, same thread count): aggregate decode tokens/s
and time to first token at 1, 4 and 8 parallel streams, rounds interleaved (Kestrel, llama.cpp, ...)
because the machine is shared. Not a test: run by hand, it takes minutes.

  python3 scripts/bench_server.py MODEL.gguf --llama-server PATH [-t 2] [--streams 1,4,8] [--n-gen 64]
         [--rounds 3] [--llref PATH] [--md OUT.md]

Per request (streamed /v1/completions, ignore_eos, the same text prompt for every stream):
  TTFT = first streamed token - request sent;  decode rate = (tokens - 1) / (last token - first token).
Aggregate decode tokens/s at N streams = the sum of the N streams' decode rates (they run together).
Each server gets -np = the largest stream count and -c = that x 512 (512 positions per slot)."""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PROMPT = ("The history of the city begins with a small settlement on the river, where traders from the north "
          "and the south met to exchange grain, salt and cloth.")


def start(cmd, port_re=None, port=None, log=None):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 300
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError("server exited: %s" % " ".join(cmd))
        if port is None:
            with open(log.name, errors="replace") as f:
                m = re.search(port_re, f.read())
            if m:
                port = int(m.group(1))
        if port is not None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return p, port
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("server not ready")


def one_stream(port, n_gen, out):
    body = json.dumps({"prompt": PROMPT, "max_tokens": n_gen, "n_predict": n_gen, "temperature": 0,
                       "ignore_eos": True, "stream": True, "cache_prompt": False})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    first = None
    last = None
    n = 0
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        ev = json.loads(line[6:])
        now = time.perf_counter()
        if ev.get("usage"):
            n = ev["usage"]["completion_tokens"]
        if ev["choices"] and ev["choices"][0].get("text"):
            if first is None:
                first = now
            last = now
    c.close()
    out.append({"ttft": first - t0, "rate": (n - 1) / (last - first) if last > first else 0.0, "n": n})


def measure(port, n_streams, n_gen):
    out = []
    threads = [threading.Thread(target=one_stream, args=(port, n_gen, out)) for _ in range(n_streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o["n"] == n_gen for o in out), out
    return sum(o["rate"] for o in out), statistics.mean(o["ttft"] for o in out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--kestrel", default=os.path.join(os.path.dirname(__file__), "../build/bin/llm-server"))
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--streams", default="1,4,8")
    ap.add_argument("--n-gen", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--llref", default=os.environ.get("LLREF"))
    ap.add_argument("--md")
    a = ap.parse_args()
    streams = [int(s) for s in a.streams.split(",")]
    np_ = max(streams)
    ctx = str(np_ * 512)
    servers = {
        "kestrel": [a.kestrel, "-m", a.model, "--port", "0", "-np", str(np_), "-c", ctx, "-t", str(a.threads)],
        "llama.cpp": [a.llama_server, "-m", a.model, "--host", "127.0.0.1", "--port", "18931", "-np", str(np_), "-c", ctx,
                      "-t", str(a.threads), "-tb", str(a.threads), "-fa", "off", "--no-webui"],
    }
    res = {(s, n): [] for s in servers for n in streams}
    for rnd in range(a.rounds):
        order = list(servers) if rnd % 2 == 0 else list(servers)[::-1]
        for name in order:
            log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
            p, port = start(servers[name], port_re=r"listening on http://[^:]+:(\d+)" if name == "kestrel" else None,
                            port=None if name == "kestrel" else 18931, log=log)
            try:
                measure(port, 1, 8)  # warm-up: page the weights in
                for n in streams:
                    agg, ttft = measure(port, n, a.n_gen)
                    res[(name, n)].append((agg, ttft))
                    print("round %d %-9s %d streams: %7.2f tok/s aggregate, TTFT %6.0f ms  (load %.2f)" %
                          (rnd + 1, name, n, agg, ttft * 1e3, os.getloadavg()[0]), flush=True)
            finally:
                p.terminate()
                p.wait()
    ref_tg = None
    if a.llref:
        out = subprocess.run([a.llref, "bench", a.model, "-t", str(a.threads), "-p", "0", "-n", "128", "-r", "3"],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():  # one JSON object per test
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("test") == "tg128":
                ref_tg = float(j["avg_ts"])
        print(out.stdout.strip())
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in res.items()}
    lines = ["| streams | Kestrel tok/s | llama-server tok/s | ratio | Kestrel scaling | llama-server scaling | "
             "TTFT Kestrel ms | TTFT llama-server ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in streams:
        k, l = med[("kestrel", n)], med[("llama.cpp", n)]
        lines.append("| %d | %.1f | %.1f | %.2fx | %.2fx | %.2fx | %.0f | %.0f |" % (
            n, k[0], l[0], k[0] / l[0], k[0] / med[("kestrel", streams[0])][0], l[0] / med[("llama.cpp", streams[0])][0],
            k[1] * 1e3, l[1] * 1e3))
    if ref_tg:
        lines.append("")
        lines.append("`llref bench -p 0 -n 128` (prebuilt llama.cpp, AMX if present): tg128 = %.1f tok/s; Kestrel 1 stream = "
                     "%.2fx of it" % (ref_tg, med[("kestrel", streams[0])][0] / ref_tg))
    text = "\n".join(lines)
    print(text)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
