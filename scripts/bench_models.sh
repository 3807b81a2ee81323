#!/usr/bin/env bash
# Writes the 1B Llama-3.2-shaped synthetic benchmark files (the ones README.md and docs/KERNELS.md quote):
# llm-synth F16, then llama.cpp's quantizer (llref quantize) for every other type, so both engines read
# the same bytes. Usage: scripts/bench_models.sh [OUT_DIR]   (default ~/.cache/kestrel/bench)
# Prints OUT_DIR last. Needs build/bin/llm-synth and $LLREF (or ../shared/ref/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$HOME/.cache/kestrel/bench}
LLREF=${LLREF:-$("$ROOT/../shared/ref/setup.sh" | tail -1)}
mkdir -p "$OUT"
F16=$OUT/1b-f16.gguf
if [ ! -s "$F16" ]; then
  "$ROOT/build/bin/llm-synth" --dim 2048 --layers 16 --heads 32 --kv-heads 8 --ff 8192 --vocab 128256 \
    --tied --rope-freqs --type f16 --seed 1 "$F16" >&2
fi
for t in bf16 q8_0 q4_0 q4_k_m q6_k; do
  [ -s "$OUT/1b-$t.gguf" ] || "$LLREF" quantize "$F16" "$OUT/1b-$t.gguf" "$t" >&2
done
echo "$OUT"
