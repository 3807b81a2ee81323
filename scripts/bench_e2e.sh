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
# Both print JSON: llm-bench an array, llref one object per line; each gives "pp tg" (avg tokens/s).
pp_tg='import json,sys; t=sys.stdin.read().strip(); rows=json.loads(t) if t.startswith("[") else [json.loads(l) for l in t.splitlines() if l.startswith("{")]; r={x["test"][:2]: x["avg_ts"] for x in rows}; print("%.2f %.2f" % (r.get("pp", 0), r.get("tg", 0)))'
kestrel() { "$BIN/llm-bench" -m "$1" -p 512 -n 128 -t "$T" -r 1 -o json "${EXTRA[@]}" 2>/dev/null | python3 -c "$pp_tg"; }
reference() { "$LLREF" bench "$1" -t "$T" -p 512 -n 128 -r 1 2>/dev/null | python3 -c "$pp_tg"; }
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
