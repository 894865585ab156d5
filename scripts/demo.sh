#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run cwm's main job on its default
# configuration: trace the shipped example program, show it step by step and
# write its trace as JSON and in CWM format under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format pretty
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format json --out out/collatz.trace.json
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format cwm --out out/collatz.cwm.txt
echo "demo: wrote out/collatz.trace.json and out/collatz.cwm.txt"
