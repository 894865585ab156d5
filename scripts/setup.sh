#!/usr/bin/env bash
# Set up a fresh machine for cwm: a virtual environment in .venv with cwm and
# its dev tools installed (editable). Safe to run again: it reuses what exists.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
[ -n "$PYTHON" ] || { echo "setup: no python3 found (need 3.10+)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: where it is on disk as a CPU wheel (this project's machines) pip takes
# that; on a GPU box it is the CUDA build. Then cwm with every extra.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet "torch==${CWM_TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install --quiet -e '.[dev,data,train,predict]'
echo "setup: ready ($(.venv/bin/python --version), cwm in .venv/bin/cwm)"
