#!/usr/bin/env bash
# The full speed comparison README.md quotes (run it on an otherwise idle machine, ~20 minutes):
# bench_probe (memory read), pp512/tg128 of the six 1B files beside llama.cpp at 2 threads (3 rounds) and
# 1 thread (2 rounds), bench_probe again, batch-1 matmul (ggml rows and repacked), then the markdown table.
# Usage: [T2_ROUNDS=3] [T1_ROUNDS=2] scripts/bench_quiet.sh OUT_DIR [FILES_DIR]   (files: scripts/bench_models.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$1; FILES=${2:-$HOME/.cache/kestrel/bench}
BIN=${KESTREL_BIN:-$ROOT/build/bin}
mkdir -p "$OUT"
TYPES=(q4_0 q8_0 q4_k_m q6_k f16 bf16)
paths=(); for t in "${TYPES[@]}"; do paths+=("$FILES/1b-$t.gguf"); done
"$BIN/bench_probe" --benchmark_filter='mem_read' --benchmark_out="$OUT/probe1.json" >/dev/null
bash "$ROOT/scripts/bench_e2e.sh" 2 "${T2_ROUNDS:-3}" "${paths[@]}" | tee "$OUT/e2e-t2.txt"
bash "$ROOT/scripts/bench_e2e.sh" 1 "${T1_ROUNDS:-2}" "${paths[@]}" | tee "$OUT/e2e-t1.txt"
"$BIN/bench_probe" --benchmark_filter='mem_read' --benchmark_out="$OUT/probe2.json" >/dev/null
"$BIN/bench_matmul" --decode --benchmark_filter='/4096x14336/' --benchmark_out="$OUT/decode.json" >/dev/null
"$BIN/bench_matmul" --decode --repacked --benchmark_filter='/4096x14336/' \
  --benchmark_out="$OUT/decode-repacked.json" >/dev/null
python3 "$ROOT/scripts/bench_table.py" "$OUT"/e2e-t*.txt --probe "$OUT/probe1.json" --probe "$OUT/probe2.json" \
  --files "$FILES" | tee "$OUT/table.md"
python3 "$ROOT/scripts/bench_report.py" "$OUT/probe1.json" "$OUT/probe2.json" "$OUT/decode.json" \
  "$OUT/decode-repacked.json" --md "$OUT/decode.md"
