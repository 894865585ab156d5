#!/usr/bin/env bash
# Set up (scripts/setup.sh, and as root scripts/setup-sandbox.sh: Docker,
# bubblewrap and the sandbox image), then run cwm's main job on its default
# configuration: trace the shipped example program in the sandbox, show it step
# by step and write its trace as JSON and in CWM format under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-sandbox.sh
fi
.venv/bin/cwm sandbox check
mkdir -p out
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format pretty
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format json --out out/collatz.trace.json
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format cwm --out out/collatz.cwm.txt
echo "demo: wrote out/collatz.trace.json and out/collatz.cwm.txt"
