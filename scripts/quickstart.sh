#!/usr/bin/env bash
# Quick start: install dependencies, build, and run llm-cli on a GGUF model.
# Usage: scripts/quickstart.sh MODEL.gguf ["prompt"]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ]; then
  echo "usage: scripts/quickstart.sh MODEL.gguf [\"prompt\"]  (e.g. ../shared/models/stories260K-q4_0.gguf)" >&2
  exit 2
fi
MODEL=$1
PROMPT=${2:-Once upon a time}
[ -f "$MODEL" ] || { echo "quickstart: model file not found: $MODEL" >&2; exit 1; }
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
exec "$ROOT/build/bin/llm-cli" -m "$MODEL" -p "$PROMPT" -n 64
