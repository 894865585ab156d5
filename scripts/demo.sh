#!/usr/bin/env bash
# cwm's main job on its default configuration, from a fresh machine:
#   1. set up (scripts/setup.sh; as root also scripts/setup-sandbox.sh: Docker,
#      bubblewrap and the sandbox image, built offline);
#   2. trace one example program in the sandbox and show it step by step;
#   3. build a trace dataset from sources that need no network: HumanEval's
#      bundled data and a directory of pure modules of the interpreter's own
#      standard library (plus CRUXEval when ../shared/data/cruxeval.jsonl
#      exists), in the default sandbox, ending with its stats and its path;
#   4. train a tiny model on it for 10 minutes (CWM_DEMO_TRAIN_MINUTES), on the CPU.
# Run it again to continue an interrupted build. Output: out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-sandbox.sh
fi
.venv/bin/cwm sandbox check
mkdir -p out
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format pretty
.venv/bin/cwm trace examples/collatz.py --call "collatz(6)" --format cwm --out out/collatz.cwm.txt

# a few pure standard-library modules, copied so the dataset does not depend on where Python lives
modules=out/stdlib-modules
mkdir -p "$modules"
.venv/bin/python - "$modules" <<'PY'
import importlib, shutil, sys
for name in ("textwrap", "fractions", "colorsys", "bisect", "heapq", "statistics", "graphlib", "difflib"):
    shutil.copy(importlib.import_module(name).__file__, sys.argv[1])
PY
sources=(--source humaneval --source "dir=$modules")
if [ -f ../shared/data/cruxeval.jsonl ]; then
  sources+=(--source cruxeval=../shared/data/cruxeval.jsonl)
fi
.venv/bin/cwm dataset build "${sources[@]}" --out out/traces --workers 3

# 4. train the tiny CPU model of training/recipes/tiny-cpu.yaml on that dataset for
#    CWM_DEMO_TRAIN_MINUTES minutes (default 10; 0 skips it), then show what it reached beside
#    the copy baseline. The full recipe is `cwm train training/recipes/tiny-cpu.yaml` (60 minutes).
minutes="${CWM_DEMO_TRAIN_MINUTES:-10}"
if [ "$minutes" != "0" ]; then
  rm -rf runs/demo  # a demonstration: each run of this script trains afresh
  .venv/bin/cwm train training/recipes/tiny-cpu.yaml data.path=out/traces output.dir=runs/demo \
    time_budget_minutes="$minutes" eval.every_minutes=null
  echo "demo: the run is in runs/demo (curves.png, summary.json, final/; TensorBoard logs in runs/demo/runs)"
  # 5. ask the model what a program does, beside the real run, as a page too
  status=0
  .venv/bin/cwm predict examples/collatz.py --call "collatz(6)" --model runs/demo/final --compare \
    --format pretty --max-frames 40 --html out/collatz-predicted.html || status=$?
  [ "$status" -le 1 ] || exit "$status"  # 1: the prediction has invalid frames (listed above); more: a failure
  echo "demo: the prediction beside the real run: out/collatz-predicted.html"
fi
