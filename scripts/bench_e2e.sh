#!/usr/bin/env bash
# End-to-end pp512/tg128 of Kestrel beside llama.cpp, same file, same thread count, back to back with
# the order alternating per round (the machine is shared: compare within one run, quote ratios).
# Usage: scripts/bench_e2e.sh THREADS ROUNDS FILE... [-- extra llm-bench args]
# Prints one line per run: "file engine threads pp512 tg128" (llama-bench-style means over the round).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LLREF=${LLREF:-$("$ROOT/../shared/ref/setup.sh" | tail -1)}
BIN=${KESTREL_BIN:-$ROOT/build/bin}
T=$1; R=$2; shift 2
FILES=(); EXTRA=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; EXTRA=("$@"); break; fi
  FILES+=("$1"); shift
done
kestrel() {  # file -> "pp tg"
  "$BIN/llm-bench" -m "$1" -p 512 -n 128 -t "$T" -r 1 -o json "${EXTRA[@]}" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); r={x["n_prompt"] and "pp" or "tg": x["avg_ts"] for x in d}; print(f"{r.get(\"pp\",0):.2f} {r.get(\"tg\",0):.2f}")'
}
reference() {
  "$LLREF" bench "$1" -t "$T" -p 512 -n 128 -r 1 2>/dev/null |
    python3 -c 'import re,sys; t=sys.stdin.read(); pp=re.search(r"pp512\D+?([\d.]+)",t); tg=re.search(r"tg128\D+?([\d.]+)",t); print(pp.group(1) if pp else 0, tg.group(1) if tg else 0)'
}
for ((i = 0; i < R; i++)); do
  for f in "${FILES[@]}"; do
    name=$(basename "$f" .gguf)
    if (( i % 2 == 0 )); then
      echo "$name kestrel $T $(kestrel "$f")"; echo "$name llama.cpp $T $(reference "$f")"
    else
      echo "$name llama.cpp $T $(reference "$f")"; echo "$name kestrel $T $(kestrel "$f")"
    fi
  done
done
