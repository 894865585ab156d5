#!/usr/bin/env bash
# Set up (scripts/setup.sh, scripts/setup-llama-server.sh, and as root scripts/setup-sandbox.sh: Docker,
# bubblewrap, the sandbox image; scripts/setup-browser.sh: chromium), then run the whole test suite, slow and
# Docker tests included.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-llama-server.sh  # llama.cpp's server, for the openai predictor's test (compiled once)
export CWM_REQUIRE_LLAMA_CPP=1  # so that test fails, not skips, if the server is missing
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-sandbox.sh
  bash scripts/setup-browser.sh  # Debian's chromium, for the HTML page's browser test
else
  echo "test: not root, so Docker and the sandbox image are not set up here (sudo bash scripts/setup-sandbox.sh)" >&2
fi
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests (exit 5)" >&2
  exit 0
fi
exit "$status"
