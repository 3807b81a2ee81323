#!/usr/bin/env bash
# Fuzzes the GGUF parser with libFuzzer for SECONDS (default 60) and prints the final stats line.
# Configures a separate clang build in build-fuzz (-DKESTREL_FUZZ=ON), builds only the fuzz target and
# the seed writer, seeds a corpus with small valid files, then runs. Exits non-zero when the fuzzer
# finds a crash, leak, timeout or sanitizer error (the reproducer is left in build-fuzz/artifacts/).
# Only the parser is built, so cpuinfo (used by kernels/ for ISA detection) is not looked up.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
JOBS=${JOBS:-2}

CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKESTREL_FUZZ=ON \
  -DKESTREL_BUILD_TESTS=OFF -DKESTREL_BUILD_BENCH=OFF -DCMAKE_DISABLE_FIND_PACKAGE_cpuinfo=ON \
  >"$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; echo "fuzz.sh: configure failed"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target fuzz_gguf make_gguf_seeds >"$BUILD.build.log" 2>&1 ||
  { tail -n 40 "$BUILD.build.log"; echo "fuzz.sh: build failed"; exit 1; }

CORPUS=$BUILD/corpus
ARTIFACTS=$BUILD/artifacts
mkdir -p "$CORPUS" "$ARTIFACTS"
"$BUILD/bin/make_gguf_seeds" "$CORPUS"

LOG=$BUILD/fuzz.log
set +e
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/bin/fuzz_gguf" "$CORPUS" -dict="$ROOT/fuzz/gguf.dict" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" >"$LOG" 2>&1
RC=$?
set -e
# The last status line ("#N DONE cov: ... exec/s: ...") and the final stats (execs, exec/s).
grep -E "^#[0-9]+" "$LOG" | tail -n 1
grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$LOG"
if [ $RC -ne 0 ]; then
  tail -n 60 "$LOG"
  echo "fuzz.sh: the fuzzer found a problem (exit $RC); reproducer in $ARTIFACTS"
  exit $RC
fi
echo "fuzz.sh: no crashes in ${SECONDS_TO_RUN}s (corpus $(ls "$CORPUS" | wc -l) files)"
