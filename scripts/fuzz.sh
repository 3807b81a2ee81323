#!/usr/bin/env bash
# Fuzzes the GGUF parser, the Jinja template engine and llm-server's request parsing with libFuzzer,
# SECONDS in total (default 60, split evenly: 20 s each; scripts/test.sh gives 90), and prints each target's final stats line.
# Configures a separate clang build in build-fuzz (-DKESTREL_FUZZ=ON), builds only the fuzz targets and
# the GGUF seed writer, seeds the corpora (small valid GGUF files; the engine's test snippets and, when
# llama.cpp's git bundle is on the machine, its real chat templates, read at run time; request bodies
# from fuzz/request_seeds.jsonl), then runs. Exits
# non-zero when a fuzzer finds a crash, leak, timeout or sanitizer error (reproducer in build-fuzz/artifacts/).
# Only the parser and the engine are built, so cpuinfo (used by kernels/ for ISA detection) is not looked up.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
SECONDS_TOTAL=${1:-60}
PER_TARGET=$(( SECONDS_TOTAL / 3 > 0 ? SECONDS_TOTAL / 3 : 1 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-fuzz
JOBS=${JOBS:-2}
BUNDLE=${KESTREL_LLAMA_BUNDLE:-$HOME/.cache/llama-ref/node_modules/node-llama-cpp/llama/gitRelease.bundle}

CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKESTREL_FUZZ=ON \
  -DKESTREL_BUILD_TESTS=OFF -DKESTREL_BUILD_BENCH=OFF -DCMAKE_DISABLE_FIND_PACKAGE_cpuinfo=ON \
  >"$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; echo "fuzz.sh: configure failed"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target fuzz_gguf fuzz_jinja fuzz_request make_gguf_seeds >"$BUILD.build.log" 2>&1 ||
  { tail -n 40 "$BUILD.build.log"; echo "fuzz.sh: build failed"; exit 1; }

ARTIFACTS=$BUILD/artifacts
mkdir -p "$BUILD/corpus" "$BUILD/corpus-jinja" "$BUILD/corpus-request" "$ARTIFACTS"
"$BUILD/bin/make_gguf_seeds" "$BUILD/corpus"
python3 - "$ROOT/tests/data/jinja_snippets.json" "$BUILD/corpus-jinja" <<'PY'
import json, sys
for i, s in enumerate(json.load(open(sys.argv[1]))["snippets"]):
    open(f"{sys.argv[2]}/snippet{i:03d}.jinja", "w").write(s)
PY
n=0
while IFS= read -r line; do
  printf '%s' "$line" >"$BUILD/corpus-request/seed$(printf %03d $n).json"; n=$((n + 1))
done <"$ROOT/fuzz/request_seeds.jsonl"
if [ -f "$BUNDLE" ]; then
  rm -rf "$BUILD/llama.git"
  git clone -q --bare "$BUNDLE" "$BUILD/llama.git"
  for f in $(git --git-dir="$BUILD/llama.git" ls-tree --name-only HEAD models/templates/ | grep '\.jinja$'); do
    git --git-dir="$BUILD/llama.git" show "HEAD:$f" >"$BUILD/corpus-jinja/$(basename "$f")"
  done
fi

run() {  # run TARGET CORPUS DICT MAX_LEN
  local target=$1 corpus=$2 dict=$3 max_len=$4 log=$BUILD/$1.log rc
  set +e
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/bin/$target" "$corpus" -dict="$dict" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -max_total_time="$PER_TARGET" -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" >"$log" 2>&1
  rc=$?
  set -e
  # The last status line ("#N DONE cov: ... exec/s: ...") and the final stats (execs, exec/s).
  echo "$target:"
  grep -E "^#[0-9]+" "$log" | tail -n 1
  grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log"
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz.sh: $target found a problem (exit $rc); reproducer in $ARTIFACTS"
    exit $rc
  fi
}
run fuzz_gguf "$BUILD/corpus" "$ROOT/fuzz/gguf.dict" 8192
run fuzz_jinja "$BUILD/corpus-jinja" "$ROOT/fuzz/jinja.dict" 16384
run fuzz_request "$BUILD/corpus-request" "$ROOT/fuzz/request.dict" 4096
echo "fuzz.sh: no crashes in ${PER_TARGET}s per target (corpora $(ls "$BUILD/corpus" | wc -l) GGUF files, $(ls "$BUILD/corpus-jinja" | wc -l) templates, $(ls "$BUILD/corpus-request" | wc -l) request bodies)"
