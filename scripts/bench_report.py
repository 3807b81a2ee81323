#!/usr/bin/python3
"""Turn Google Benchmark JSON from bench_probe and bench_matmul into a markdown table and a PNG plot.

Every matmul row is reported against what the machine measured in the probe run(s):
  - batch-1 (decode) rows: weight GB/s as a % of the DRAM read bandwidth with the same thread count
    (the largest of the probe/mem_read* probes); bench_matmul's batch-1 rows stream distinct weight
    copies from DRAM (bench/dram_footprint.h), unless run with --in-cache;
  - every row: GFLOP/s as a % of the peak of the same ISA and thread count: f32 FMA peak for
    f32/f16/bf16 weights, int8-dot peak (VNNI on avx512, maddubs on avx2) for the quantized types.
Each percentage is given twice: from wall time, and from process CPU time ("cpu": the benchmarks
measure all threads' CPU time, so rate * wall / (cpu / threads) is the rate with dedicated cores). On a
shared machine the wall-time numbers include time the threads were not running; the cpu ratios compare
kernel and limit as if both had the cores to themselves (spin-waiting still counts against us).

Usage: bench_report.py probe.json matmul.json [more.json ...] [--md out.md] [--png out.png]
"""
import argparse
import json
import re
import sys
from collections import defaultdict

UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_runs(paths):
    """name -> entry, preferring the median aggregate when repetitions were used. Probes may appear in
    several files (e.g. run before and after the kernels on a noisy machine): the best one is kept."""
    runs = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"])
            kind = b.get("run_type", "iteration")
            agg = b.get("aggregate_name", "")
            if kind == "aggregate" and agg != "median":
                continue
            if name in runs and runs[name].get("aggregate_name") == "median" and kind != "aggregate":
                continue
            if name.startswith("probe/") and name in runs:
                key = "bytes_per_second" if "mem_read" in name else "FLOPS"
                if runs[name].get(key, 0.0) >= b.get(key, 0.0):
                    continue
            runs[name] = b
    return runs


def seconds(b, key):
    return b[key] * UNIT[b.get("time_unit", "ns")]


def threads_of(name):
    m = re.search(r"/t:?(\d+)", name)
    return int(m.group(1)) if m else 1


def limits(runs):
    mem = defaultdict(float)       # threads -> bytes/s (wall)
    mem_cpu = defaultdict(float)   # threads -> bytes/s (cpu time of calling thread)
    peak = {}                      # (kind, isa, threads) -> (flops wall, flops cpu)
    cache = {}                     # threads -> bytes/s of the L3-resident read (context, not a limit)
    for name, b in runs.items():
        if not name.startswith("probe/"):
            continue
        t = threads_of(name)
        if name.startswith("probe/cache_read"):
            cache[t] = b.get("bytes_per_second", 0.0)
            continue
        if name.startswith("probe/mem_read"):
            bps = b.get("bytes_per_second", 0.0)
            mem[t] = max(mem[t], bps)
            if b.get("cpu_time"):
                mem_cpu[t] = max(mem_cpu[t], bps * seconds(b, "real_time") * t / seconds(b, "cpu_time"))
            continue
        m = re.match(r"probe/(fma_f32|int8_dot)/(\w+)/", name)
        if m:
            flops = b.get("FLOPS", 0.0)
            cpu = flops * seconds(b, "real_time") * t / seconds(b, "cpu_time") if b.get("cpu_time") else 0.0
            peak[(m.group(1), m.group(2), t)] = (flops, cpu)
    return mem, mem_cpu, peak, cache


def pct(v, lim):
    return f"{100.0 * v / lim:.0f}%" if lim else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+")
    ap.add_argument("--md", default="-")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()

    runs = load_runs(args.json)
    mem, mem_cpu, peak, cache = limits(runs)
    rows = []
    for name, b in runs.items():
        m = re.match(r"matmul/(\w+)/(\w+)/(\d+)x(\d+)/b(\d+)/t(\d+)", name)
        if not m:
            continue
        typ, isa, n_in, n_out, batch, th = m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))
        wall = seconds(b, "real_time")
        cpu = seconds(b, "cpu_time")
        gbps = b.get("weight_GBps", 0.0)
        flops = b.get("FLOPS", 0.0)
        kind = "fma_f32" if typ in ("f32", "f16", "bf16") else "int8_dot"  # every quantized type is an integer dot
        pk, pk_cpu = peak.get((kind, isa, th), (0.0, 0.0))
        cpu_ok = cpu > 0
        dedicated = wall * th / cpu if cpu_ok else 0.0  # wall / (cpu per thread)
        rows.append(dict(
            name=name, typ=typ, isa=isa, n_in=n_in, n_out=n_out, batch=batch, th=th, ms=wall * 1e3,
            gbps=gbps, flops=flops,
            mem_pct=pct(gbps * 1e9, mem.get(th, 0.0)) if batch == 1 else "",
            mem_pct_cpu=pct(gbps * 1e9 * dedicated, mem_cpu.get(th, 0.0)) if batch == 1 and cpu_ok else "",
            peak_pct=pct(flops, pk), peak_pct_cpu=pct(flops * dedicated, pk_cpu) if cpu_ok else ""))
    rows.sort(key=lambda r: (r["batch"], r["typ"], r["n_in"], r["n_out"], r["isa"], r["th"]))

    out = []
    out.append("Machine limits (wall time; cpu-time based in parentheses):\n")
    out.append("| limit | threads | value |")
    out.append("|---|---|---|")
    for t in sorted(mem):
        out.append(f"| memory read | {t} | {mem[t] / 1e9:.1f} GB/s ({mem_cpu[t] / 1e9:.1f}) |")
    for t in sorted(cache):
        out.append(f"| L3-resident read (context, not a limit) | {t} | {cache[t] / 1e9:.1f} GB/s |")
    for (kind, isa, t), (v, vc) in sorted(peak.items()):
        out.append(f"| {kind} peak {isa} | {t} | {v / 1e9:.0f} GFLOP/s ({vc / 1e9:.0f}) |")
    out.append("")
    out.append("Shapes are n_in x n_out (ggml ne0 x ne1 of the weight).\n")
    out.append("| type | isa | n_in x n_out | batch | thr | ms | weight GB/s | % mem BW | % mem (cpu) | GFLOP/s | % peak | % peak (cpu) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append(f"| {r['typ']} | {r['isa']} | {r['n_in']}x{r['n_out']} | {r['batch']} | {r['th']} | {r['ms']:.3f} | "
                   f"{r['gbps']:.2f} | {r['mem_pct']} | {r['mem_pct_cpu']} | {r['flops'] / 1e9:.1f} | {r['peak_pct']} | {r['peak_pct_cpu']} |")
    text = "\n".join(out) + "\n"
    if args.md == "-":
        sys.stdout.write(text)
    else:
        with open(args.md, "w") as f:
            f.write(text)

    if args.png:
        try:
            import matplotlib
        except ImportError:
            sys.stderr.write("bench_report.py: --png needs matplotlib (Debian: python3-matplotlib, run with /usr/bin/python3)\n")
            return 1
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(14, 6))
        dec = [r for r in rows if r["batch"] == 1]
        bat = [r for r in rows if r["batch"] == max([x["batch"] for x in rows] or [1])]
        for ax, sel, key, ylabel, title in ((axes[0], dec, "gbps", "weight GB/s", "decode (batch 1)"),
                                            (axes[1], bat, "flops", "GFLOP/s", "largest batch")):
            labels = [f"{r['typ']}/{r['isa']}\n{r['n_in']}x{r['n_out']}/t{r['th']}" for r in sel]
            vals = [r[key] / (1e9 if key == "flops" else 1.0) for r in sel]
            ax.bar(range(len(vals)), vals, color=["C0" if r["th"] == 1 else "C1" for r in sel])
            ax.set_xticks(range(len(vals)))
            ax.set_xticklabels(labels, rotation=90, fontsize=6)
            ax.set_ylabel(ylabel)
            ax.set_title(title + " (blue: 1 thread, orange: 2)")
            if key == "gbps":
                for t, c in ((1, "C0"), (2, "C1")):
                    if mem.get(t):
                        ax.axhline(mem[t] / 1e9, color=c, linestyle="--", label=f"memory read t{t}")
                ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
