#!/usr/bin/env python3
"""Accuracy and speed report: Kestrel vs llama.cpp on the same files.

    scripts/report.py MODEL_F32.gguf [MORE_F32.gguf ...] [--llref PATH] [--out docs/REPORT.md]

For every input model (F32 weights) this
  1. quantizes it with llm-quantize to f16, q8_0 and q4_0;
  2. runs llm-perplexity on the F32 model with --kl-divergence-base, then --kl-divergence on every variant
     (PPL, KL divergence, top-token agreement), and `llref ppl` on the same files when llref is present;
  3. runs llm-bench -o json and `llref bench` back to back on each file (same thread count, same run:
     this machine is shared and noisy, so the ratios matter more than the absolute numbers);
and writes docs/REPORT.md with the tables and two plots (docs/report_speed.png, docs/report_kld.png).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# matplotlib comes from Debian's python3-matplotlib: when another python3 is first on PATH (pyenv),
# re-run under the system interpreter before spending minutes on measurements.
try:
    import matplotlib  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise SystemExit("report.py: matplotlib is missing (apt-get install python3-matplotlib)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ["f32", "f16", "q8_0", "q4_0"]


def log(msg):
    print(f"report.py: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"report.py: command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout


def default_llref():
    p = os.environ.get("LLREF") or os.path.expanduser("~/.cache/llama-ref/llref")
    return p if os.path.exists(p) else None


def find_bin(bin_dir, name):
    p = os.path.join(bin_dir, name)
    if not os.access(p, os.X_OK):
        raise SystemExit(f"report.py: {p} not found; build it first (cmake --build build --target {name})")
    return p


def parse_final_ppl(text):
    m = re.findall(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", text)
    if not m:
        raise SystemExit("report.py: no 'Final estimate' line in perplexity output")
    return float(m[-1][0]), float(m[-1][1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def evaluate_model(src, args, bins, work):
    """All measurements for one F32 model: a dict per variant."""
    name = os.path.splitext(os.path.basename(src))[0]
    name = re.sub(r"[-_.]?f32$", "", name, flags=re.I) or name
    files = {"f32": src}
    for v in VARIANTS[1:]:
        out = os.path.join(work, f"{name}-{v}.gguf")
        run([bins["quantize"], src, out, v, "-t", str(args.thread_list[-1])])
        files[v] = out

    base = os.path.join(work, f"{name}.kld")
    ppl_common = ["-c", str(args.ctx), "-t", str(args.thread_list[-1]), "-ctk", "f32"]
    if args.chunks:
        ppl_common += ["--chunks", str(args.chunks)]
    run([bins["perplexity"], "-m", src, "-f", args.text, "--kl-divergence-base", base] + ppl_common)
    results = {}
    for v in VARIANTS:
        stats_file = os.path.join(work, f"{name}-{v}.kld.json")
        run([bins["perplexity"], "-m", files[v], "-f", args.text, "--kl-divergence-base", base, "--kl-divergence",
             "--stats-json", stats_file] + ppl_common)
        with open(stats_file) as f:
            st = json.load(f)
        r = {"file": files[v], "size": os.path.getsize(files[v]), "kld": st}
        if args.llref:
            cmd = [args.llref, "ppl", files[v], args.text, "-c", str(args.ctx), "-t", "1", "-fa", "off", "-ctk", "f32",
                   "-ctv", "f32"]
            if args.chunks:
                cmd += ["--chunks", str(args.chunks)]
            r["ref_ppl"], r["ref_ppl_err"] = parse_final_ppl(run(cmd))
        # Speed: Kestrel then llama.cpp on the same file and thread count, back to back.
        r["bench"], r["ref_bench"] = {}, {}
        for th in args.thread_list:
            bench = json.loads(run([bins["bench"], "-m", files[v], "-p", str(args.n_prompt), "-n", str(args.n_gen),
                                    "-t", str(th), "-r", str(args.reps), "-o", "json"]))
            for b in bench:
                r["bench"][f"{b['test']} t{th}"] = b
            if args.llref:
                out = run([args.llref, "bench", files[v], "-t", str(th), "-p", str(args.n_prompt), "-n",
                           str(args.n_gen), "-r", str(args.reps)])
                for line in out.splitlines():
                    if line.startswith("{"):
                        b = json.loads(line)
                        r["ref_bench"][f"{b['test']} t{th}"] = b
        results[v] = r
    return name, results


def fmt(x, nd=4):
    return f"{x:.{nd}f}"


def write_plots(all_results, out_dir, args_threads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed_png = os.path.join(out_dir, "report_speed.png")
    rows = len(args_threads)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4.0 * rows), squeeze=False)
    for row, th in enumerate(args_threads):
        for ax, kind in zip(axes[row], ["pp", "tg"]):
            for name, res in all_results.items():
                for engine, key, marker in [("Kestrel", "bench", "o"), ("llama.cpp", "ref_bench", "s")]:
                    xs, ys, labels = [], [], []
                    for v in VARIANTS:
                        tests = res[v].get(key, {})
                        t = next((t for n, t in tests.items() if n.startswith(kind) and n.endswith(f" t{th}")), None)
                        if t is None:
                            continue
                        xs.append(res[v]["size"] / 2**20)
                        ys.append(t["avg_ts"])
                        labels.append(v)
                    if xs:
                        ax.plot(xs, ys, marker=marker, linestyle="-" if engine == "Kestrel" else "--",
                                label=f"{engine} {name}")
                        for x, y, l in zip(xs, ys, labels):
                            ax.annotate(l, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("file size (MiB)")
            ax.set_ylabel("tokens / s")
            ax.set_title(("prompt processing" if kind == "pp" else "text generation") +
                         f", {th} thread{'s' if th > 1 else ''}")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(speed_png, dpi=110)
    plt.close(fig)

    kld_png = os.path.join(out_dir, "report_kld.png")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, res in all_results.items():
        xs, ys, errs, labels = [], [], [], []
        for v in VARIANTS[1:]:
            b = next(iter(res[v]["bench"].values()))
            xs.append(b["model_size"] * 8 / b["model_n_params"])
            ys.append(max(res[v]["kld"]["kld_mean"], 1e-9))
            errs.append(res[v]["kld"]["kld_err"])
            labels.append(v)
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=name)
        for x, y, l in zip(xs, ys, labels):
            ax.annotate(l, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("bits per weight (tensor bytes x 8 / parameters)")
    ax.set_ylabel("mean KL divergence vs F32")
    ax.set_title("quantization error vs size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(kld_png, dpi=110)
    plt.close(fig)
    return os.path.basename(speed_png), os.path.basename(kld_png)


def run_meta():
    return {"measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(), "cpu": cpu_name(),
            "load": "%.1f (1-minute load average at the start), %d CPUs" % (os.getloadavg()[0], os.cpu_count() or 0)}


def write_report(all_results, args, plots, out_path, isa, meta):
    L = []
    L.append("# Kestrel accuracy and performance report\n")
    L.append(f"Measured by `scripts/report.py` on {meta['measured']}, commit `{meta['commit']}`, {meta['cpu']}, "
             f"Kestrel ISA `{isa}`.")
    if meta.get("load"):
        L.append(f"System load: {meta['load']}. When the load is above the number of CPUs, multi-threaded runs "
                 "are dominated by waiting for a core (spinning thread pools suffer most); the 1-thread rows are "
                 "then the more trustworthy comparison.")
    L.append("llama.cpp reference: " + (f"`{args.llref}` (llref, llama.cpp v0.5.0 CPU backend)" if args.llref
                                          else "not available (llama.cpp columns omitted)") + ".\n")
    L.append("All files are quantized by Kestrel's `llm-quantize` from the F32 model; llama.cpp runs on the same "
             "files. The machine is a shared 2-core VM with other jobs running, so absolute speeds are noisy; "
             "each Kestrel/llama.cpp pair was measured back to back and the ratio is the number to read.\n")
    L.append("Method: `llm-perplexity -c {c} -ctk f32` (F32 KV cache) and `llref ppl -c {c} -fa off -ctk f32 -ctv f32`"
             " on `{t}`; KL divergence of every variant against the F32 model's saved log-probs "
             "(`--kl-divergence-base` / `--kl-divergence`); `llm-bench -p {p} -n {n} -r {r} -t {th}` and "
             "`llref bench` with the same arguments.\n".format(c=args.ctx, t=os.path.relpath(args.text, ROOT),
                                                                 p=args.n_prompt, n=args.n_gen, r=args.reps,
                                                                 th=args.threads))
    for name, res in all_results.items():
        f32b = next(iter(res["f32"]["bench"].values()))
        L.append(f"## {name} ({f32b['model_n_params']:,} parameters)\n")
        L.append("### Accuracy\n")
        hdr = "| type | file size | bits/weight | PPL (Kestrel) |"
        sep = "|---|---:|---:|---:|"
        if args.llref:
            hdr += " PPL (llama.cpp) | Kestrel/llama.cpp |"
            sep += "---:|---:|"
        hdr += " mean KLD vs F32 | KLD 99% | same top token | ln(PPL/PPL_f32) |"
        sep += "---:|---:|---:|---:|"
        L += [hdr, sep]
        for v in VARIANTS:
            r = res[v]
            k = r["kld"]
            b = next(iter(r["bench"].values()))
            row = f"| {v} | {r['size'] / 2**10:,.1f} KiB | {b['model_size'] * 8 / b['model_n_params']:.2f} | " \
                  f"{fmt(k['ppl'])} ± {fmt(k['ppl_err'])} |"
            if args.llref:
                row += f" {fmt(r['ref_ppl'])} ± {fmt(r['ref_ppl_err'])} | {k['ppl'] / r['ref_ppl']:.5f} |"
            row += f" {k['kld_mean']:.6f} ± {k['kld_err']:.6f} | {k['kld_p99']:.5f} | " \
                   f"{100 * k['same_top']:.2f} ± {100 * k['same_top_err']:.2f} % | {k['ln_ratio']:.5f} ± {k['ln_ratio_err']:.5f} |"
            L.append(row)
        L.append("")
        L.append("### Speed (tokens/s, mean ± stddev over the repetitions)\n")
        hdr = "| type | test | threads | Kestrel |"
        sep = "|---|---|---:|---:|"
        if args.llref:
            hdr += " llama.cpp | Kestrel / llama.cpp |"
            sep += "---:|---:|"
        L += [hdr, sep]
        ratios = {}
        for v in VARIANTS:
            r = res[v]
            for key, b in r["bench"].items():
                test = key
                row = f"| {v} | {b['test']} | {b['n_threads']} | {b['avg_ts']:.1f} ± {b['stddev_ts']:.1f} |"
                if args.llref and test in r.get("ref_bench", {}):
                    rb = r["ref_bench"][test]
                    row += f" {rb['avg_ts']:.1f} ± {rb['stddev_ts']:.1f} | {b['avg_ts'] / rb['avg_ts']:.2f}x |"
                    ratios.setdefault((b["test"][:2], b["n_threads"]), []).append(b["avg_ts"] / rb["avg_ts"])
                L.append(row)
        L.append("")
        if ratios:
            parts = [f"{kind} with {th} thread{'s' if th > 1 else ''}: {statistics.median(v):.2f}x"
                     for (kind, th), v in sorted(ratios.items())]
            L.append("Median Kestrel / llama.cpp speed ratio over the four types: " + "; ".join(parts) + ".\n")
    L.append("## Plots\n")
    L.append(f"![speed vs size]({plots[0]})\n")
    L.append(f"![KL divergence vs bits per weight]({plots[1]})\n")
    L.append("## Notes\n")
    L.append("- `llm-quantize` output is byte-identical to `llama-quantize` for these types (tested in "
             "`tests/tools/test_quantize.cpp`), except that where llama.cpp would write `output.weight` as Q6_K "
             "(q4_0 without `--pure`, row length a multiple of 256) Kestrel writes Q8_0, which it can compute with.")
    L.append("- Rows of width not divisible by 32 (stories260K's `ffn_down`, 172 wide) stay F16 in the q8_0/q4_0 files, "
             "as in llama.cpp; this is why the q4_0 file is more than 4.5 bits per weight.")
    if any(n.startswith("synth") for n in all_results):
        L.append("- `synth-*` models are random-weight Llama models written by `llm-synth` (to measure a size where "
                 "weights no longer fit in cache): their perplexity on English text is meaningless, but the KL "
                 "divergence between variants and the speeds are not.")
    L.append("- With Q8_0/Q4_0 weights both engines quantize activations to Q8_0 on the fly, so the quantized "
             "models' PPL differs slightly between engines even on identical files.")
    with open(out_path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="F32 GGUF models")
    ap.add_argument("--llref", default=default_llref(), help="llama.cpp reference harness (default: $LLREF or ~/.cache/llama-ref/llref)")
    ap.add_argument("--no-llref", action="store_true", help="skip llama.cpp")
    ap.add_argument("--bin", default=None, help="directory with llm-* programs (default: build/bin)")
    ap.add_argument("--text", default=os.path.join(ROOT, "tests/data/story.txt"))
    ap.add_argument("-c", "--ctx", type=int, default=128)
    ap.add_argument("--chunks", type=int, default=0)
    ap.add_argument("-t", "--threads", default="2", help="thread counts for the speed tests, comma-separated; "
                    "perplexity uses the last")
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/REPORT.md"))
    ap.add_argument("--keep", action="store_true", help="keep the quantized files (printed path)")
    ap.add_argument("--from-json", default=None, help="rewrite the report and plots from a saved REPORT.json "
                    "(no measurements; the other options must match the run that made it)")
    args = ap.parse_args()
    if args.no_llref:
        args.llref = None
    args.text = os.path.abspath(args.text)
    args.thread_list = [int(x) for x in args.threads.split(",") if x]
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        all_results, meta = saved["models"], saved["meta"]
        isa = next(iter(next(iter(all_results.values()))["f32"]["bench"].values())).get("isa", "unknown")
        out_dir = os.path.dirname(os.path.abspath(args.out))
        plots = write_plots(all_results, out_dir, args.thread_list)
        write_report(all_results, args, plots, args.out, isa, meta)
        log(f"wrote {args.out} from {args.from_json}")
        return
    bin_dir = args.bin or os.path.join(ROOT, "build/bin")
    bins = {k: find_bin(bin_dir, "llm-" + k) for k in ["quantize", "perplexity", "bench"]}
    if not args.models:
        raise SystemExit("report.py: no model given")
    for m in args.models:
        if not os.path.exists(m):
            raise SystemExit(f"report.py: {m}: no such file")
    work = tempfile.mkdtemp(prefix="kestrel-report-")
    meta = run_meta()
    try:
        all_results = {}
        isa = "unknown"
        for m in args.models:
            name, res = evaluate_model(os.path.abspath(m), args, bins, work)
            all_results[name] = res
            isa = next(iter(res["f32"]["bench"].values())).get("isa", isa)
        out_dir = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        plots = write_plots(all_results, out_dir, args.thread_list)
        write_report(all_results, args, plots, args.out, isa, meta)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump({"meta": meta, "models": all_results}, f, indent=1)
        log(f"wrote {args.out}")
    finally:
        if args.keep:
            log(f"kept files in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
