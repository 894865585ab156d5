#!/usr/bin/env bash
# llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) in .venv: the tests run the
# openai predictor against it, a server users run. PyPI has only its source, so this compiles
# llama.cpp (6 minutes on 2 cores), once: a second run finds it installed. Needs a C++
# compiler (as root it installs Debian's g++ when there is none). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
if .venv/bin/python -c "import llama_cpp.server" >/dev/null 2>&1; then
  echo "setup-llama-server: llama-cpp-python[server] is installed"
  exit 0
fi
if ! command -v g++ >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make >/dev/null
  else
    echo "setup-llama-server: needs a C++ compiler (sudo apt-get install g++)" >&2
    exit 1
  fi
fi
echo "setup-llama-server: compiling llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (several minutes)"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
.venv/bin/python -m pip install --quiet "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
echo "setup-llama-server: ready"
