#!/usr/bin/env bash
# The Python stage of scripts/test.sh: `pip install .` into a fresh venv, then pytest python/tests.
#   bash scripts/test-python.sh            (KESTREL_SHARED_DIR: the stories260K models; KESTREL_BIN_DIR: llm-cli)
# The pip build compiles the engine once (Release, no tests/benchmarks/programs, 2 jobs) in build/pip, so a
# second run only relinks. The venv sees Debian's numpy and pytest (--system-site-packages); pip's build
# isolation fetches scikit-build-core from PyPI. Exit 77 (after a message) when PyPI cannot be reached.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${KESTREL_PYTHON:-/usr/bin/python3}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=$ROOT/build/py-venv
rm -rf "$VENV"
"$PY" -m venv --system-site-packages "$VENV" || { echo "test-python: cannot create a venv with $PY"; exit 1; }
probe=$(mktemp -d)
if ! timeout 180 "$VENV/bin/pip" download -q --no-deps -d "$probe" "scikit-build-core>=0.8" >/dev/null 2>&1; then
  rm -rf "$probe"
  echo "test-python: skipped: PyPI is unreachable (pip install . needs scikit-build-core from it)"
  exit 77
fi
rm -rf "$probe"
echo "test-python: pip install $ROOT"
if ! CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    "$VENV/bin/pip" install -q "$ROOT" --config-settings=build-dir="$ROOT/build/pip"; then
  echo "test-python: pip install . failed"; exit 1
fi
export KESTREL_BIN_DIR=${KESTREL_BIN_DIR:-$ROOT/build/bin}
# From outside the source tree, so `import kestrel` is the installed package.
cd "$(mktemp -d)" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/python/tests"
