#!/usr/bin/env bash
# Installs the PyPI packages the tests use as oracles (the `openai` client for llm-server's tests) into
# the python3 on PATH, the one ctest runs. Safe to run twice; without network the server API test skips.
set -uo pipefail
PY=${PYTHON:-python3}
PKGS=(openai)
missing=()
for p in "${PKGS[@]}"; do "$PY" -c "import $p" 2>/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-pip-deps: installing ${missing[*]}"
  # Debian's own python refuses system-wide pip installs unless told (PEP 668); a pyenv python takes the flag too.
  "$PY" -m pip install -q --disable-pip-version-check "${missing[@]}" 2>/dev/null ||
    "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${missing[@]}" ||
    { echo "install-pip-deps: could not install ${missing[*]} (tests that need them will skip)"; exit 0; }
fi
echo "install-pip-deps: all Python test packages present"
