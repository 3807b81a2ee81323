#!/usr/bin/python3
"""Markdown table from scripts/bench_e2e.sh output: per file and thread count, the median over rounds of
Kestrel's and llama.cpp's pp512 and tg128, their ratios, and tg as a % of the memory read bandwidth
(file bytes x tokens/s / the highest mean bench_probe measured with the same thread count, over all its
mem_read variants: one stream per thread, with software prefetch, four streams; the four-stream read is
usually the highest, and is named in the output).

Usage: bench_table.py E2E.txt [more E2E.txt] --probe probe.json [--probe more.json] --files DIR
"""
import argparse
import json
import os
import statistics
from collections import defaultdict


def probe_bw(paths):
    """threads -> (best mem_read* bytes/s over the probe runs, that benchmark's name)."""
    best = defaultdict(lambda: (0.0, ""))
    for path in paths:
        for b in json.load(open(path)).get("benchmarks", []):
            if "mem_read" not in b["name"] or b.get("run_type") == "aggregate":
                continue
            threads = int(b["name"].split("/t:")[1].split("/")[0]) if "/t:" in b["name"] else 1
            best[threads] = max(best[threads], (b.get("bytes_per_second", 0.0), b["name"].split("/t:")[0]))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--probe", action="append", default=[])
    ap.add_argument("--files", required=True, help="directory holding NAME.gguf")
    a = ap.parse_args()
    bw = probe_bw(a.probe)
    data = defaultdict(lambda: defaultdict(list))  # (name, threads) -> engine -> [(pp, tg)]
    for path in a.runs:
        for line in open(path):
            parts = line.split()
            if len(parts) != 5:
                continue
            name, engine, threads, pp, tg = parts
            data[(name, int(threads))][engine].append((float(pp), float(tg)))
    print("| file | threads | Kestrel pp512 | llama.cpp pp512 | ratio | Kestrel tg128 (% BW) |"
          " llama.cpp tg128 (% BW) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, threads), eng in sorted(data.items(), key=lambda kv: (-kv[0][1], kv[0][0])):
        k, r = eng.get("kestrel", []), eng.get("llama.cpp", [])
        if not k or not r:
            continue
        kpp, ktg = statistics.median(x[0] for x in k), statistics.median(x[1] for x in k)
        rpp, rtg = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
        size = os.path.getsize(os.path.join(a.files, name + ".gguf"))
        pct = (lambda tg: " (%.0f%%)" % (100 * size * tg / bw[threads][0])) if bw.get(threads, (0.0,))[0] > 0 else (lambda tg: "")
        print("| %s | %d | %.1f | %.1f | %.2f× | %.1f%s | %.1f%s | %.2f× |" % (
            name, threads, kpp, rpp, kpp / rpp, ktg, pct(ktg), rtg, pct(rtg), ktg / rtg))
    for threads in sorted(bw):
        print("\n%s, %d thread(s): %.1f GB/s" % (bw[threads][1], threads, bw[threads][0] / 1e9), end="")
    print()


if __name__ == "__main__":
    main()
