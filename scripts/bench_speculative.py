#!/usr/bin/env python3
"""Speculative decoding vs plain decoding on one stream, in llm-cli and in llm-server: decode tokens/s,
the ratio to plain, drafted/accepted tokens and whether the output is identical to plain decoding's.

  python3 scripts/bench_speculative.py -m TARGET.gguf [-md DRAFT.gguf] -f bench/prompts/speculative_code_edit.txt \
      [-n 200] [-t 2] [-c 4096] [--rounds 3] [--lookup 16] [--front cli,server]

Modes: plain, lookup (--lookup N), draft (-md DRAFT, when given); rounds interleave the modes, and the
medians are printed. llm-cli's rate is its "N decoded in T ms" (tokens after the first / decode time);
llm-server's is timings (predicted_n - 1) / predicted_ms of a /v1/completions request with the prompt
file as the raw prompt, greedy, one slot (plain = the same server with speculative.n_max 0). The
machine's load average is printed before and after: the numbers mean something only on a quiet machine.
On a loaded one, llm-cli's tokens per CPU second (its "CPU T ms" of the decode, all threads) are the
steadier measure: they count the work, not the time slices other jobs took."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "server"))
from server_util import Server  # noqa: E402


def load():
    return open("/proc/loadavg").read().split()[:3]


def run_cli(a, extra):
    cmd = [os.path.join(a.bin, "llm-cli"), "-m", a.model, "-f", a.prompt_file, "-n", str(a.n), "--temp", "0", "-t",
           str(a.threads), "--no-echo", "-c", str(a.ctx), *extra]
    p = subprocess.run(cmd, capture_output=True, check=True)
    err = p.stderr.decode(errors="replace")
    m = re.search(r"(\d+) decoded in ([\d.]+) ms \([\d.]+ tok/s\), CPU ([\d.]+) ms", err)
    rate = int(m.group(1)) / float(m.group(2)) * 1e3
    cpu_rate = int(m.group(1)) / float(m.group(3)) * 1e3  # tokens per CPU second (all threads)
    s = re.search(r"(\d+) drafted, (\d+) accepted", err)
    return rate, p.stdout.decode(errors="replace"), (int(s.group(1)), int(s.group(2))) if s else None, cpu_rate


def run_server(srv, a, fields):
    with open(a.prompt_file) as f:
        prompt = f.read()
    # cache_prompt false: every request evaluates the whole prompt in one batch, as llm-cli does (a reused
    # prefix evaluates the last prompt token alone, which may round differently and split at a near-tie).
    body = {"prompt": prompt, "max_tokens": a.n, "temperature": 0, "cache_prompt": False, **fields}
    st, r, _ = srv.request("POST", "/v1/completions", body, timeout=600)
    assert st == 200, r
    t = r["timings"]
    rate = (t["predicted_n"] - 1) / t["predicted_ms"] * 1e3
    spec = (t["draft_n"], t["draft_n_accepted"]) if "draft_n" in t else None
    return rate, r["choices"][0]["text"], spec, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-md", "--model-draft")
    ap.add_argument("-f", "--prompt-file", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lookup", type=int, default=16)
    ap.add_argument("-c", "--ctx", type=int, default=4096, help="context size (the server's per slot)")
    ap.add_argument("--front", default="cli,server")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
    a = ap.parse_args()
    os.environ["KESTREL_BIN_DIR"] = a.bin  # server_util starts llm-server from there
    print("load before: %s" % " ".join(load()))
    modes = ["plain", "lookup"] + (["draft"] if a.model_draft else [])
    fronts = a.front.split(",")
    servers = {}
    if "server" in fronts:
        common = ["-np", "1", "-t", str(a.threads), "-c", str(a.ctx)]
        # A loaded machine may take minutes to load (and repack) two models.
        servers["lookup"] = Server(a.model, "--lookup", str(a.lookup), *common, timeout=600)
        if a.model_draft:
            servers["draft"] = Server(a.model, "-md", a.model_draft, *common, timeout=600)
    res = {(f, m): [] for f in fronts for m in modes}
    try:
        for _ in range(a.rounds):
            for front in fronts:
                for mode in modes:
                    if front == "cli":
                        extra = {"plain": [], "lookup": ["--lookup", str(a.lookup)],
                                 "draft": ["-md", a.model_draft or ""]}[mode]
                        res[(front, mode)].append(run_cli(a, extra))
                    else:
                        srv = servers["draft" if mode == "draft" else "lookup"]
                        res[(front, mode)].append(run_server(srv, a, {"speculative.n_max": 0} if mode == "plain" else {}))
    finally:
        for s in servers.values():
            s.stop()
    print("load after: %s" % " ".join(load()))
    print("| front | mode | tok/s (median; rounds) | vs plain | tok per CPU s (llm-cli) | vs plain | drafted / accepted | output vs plain |")
    print("|---|---|---|---|---|---|---|---|")
    for front in fronts:
        base = statistics.median(r[0] for r in res[(front, "plain")])
        cpu_base = statistics.median(r[3] for r in res[(front, "plain")]) if front == "cli" else None
        plain_text = res[(front, "plain")][0][1]
        for mode in modes:
            rs = res[(front, mode)]
            med = statistics.median(r[0] for r in rs)
            spec = rs[0][2]
            acc = "%d / %d (%.1f%%)" % (spec[0], spec[1], 100.0 * spec[1] / max(spec[0], 1)) if spec else "-"
            same = all(r[1] == plain_text for r in rs)
            if not same:
                for r in rs:
                    if r[1] != plain_text:
                        at = next((i for i, (x, y) in enumerate(zip(r[1], plain_text)) if x != y),
                                  min(len(r[1]), len(plain_text)))
                        print("%s/%s differs from plain at character %d: %r vs %r" %
                              (front, mode, at, r[1][at:at + 30], plain_text[at:at + 30]))
            cpu = "-", "-"
            if cpu_base:
                cmed = statistics.median(r[3] for r in rs)
                cpu = "%.2f" % cmed, "%.2fx" % (cmed / cpu_base)
            print("| %s | %s | %.2f (%s) | %.2fx | %s | %s | %s | %s |" % (
                front, mode, med, ", ".join("%.2f" % r[0] for r in rs), med / base, cpu[0], cpu[1], acc,
                "identical" if same else "DIFFERS"))
    print(json.dumps({"%s/%s" % k: [r[0] for r in v] for k, v in res.items()}))


if __name__ == "__main__":
    main()
