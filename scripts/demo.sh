#!/usr/bin/env bash
# cwm's main job on its default configuration, from a fresh machine: the whole loop.
#   1. set up (scripts/setup.sh; as root also scripts/setup-sandbox.sh: Docker,
#      bubblewrap and the sandbox image, built offline);
#   2. trace one example program in the sandbox and show it step by step;
#   3. build a trace dataset from sources that need no network: HumanEval's
#      bundled data and a directory of pure modules of the interpreter's own
#      standard library (plus CRUXEval when ../shared/data/cruxeval.jsonl
#      exists), in the default sandbox, ending with its stats and its path;
#   4. train the tiny CPU model (training/recipes/tiny-cpu.yaml) on it for
#      CWM_DEMO_TRAIN_MINUTES minutes (default 6);
#   5. benchmark it against the copy and oracle baselines on the dataset's
#      held-out test split (cwm bench), print the figures side by side, and end
#      with the path of the report.
# Under 20 minutes on a 2-core machine. `--quick` (what CI runs, under 5 minutes
# once set up): CRUXEval alone (else HumanEval), 1 minute of training, 24 test samples.
# Run it again to continue an interrupted dataset build. Output: out/ (out/quick/ with --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $arg (use --quick, or nothing)" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-sandbox.sh
fi
cwm=.venv/bin/cwm
$cwm sandbox check
cruxeval=../shared/data/cruxeval.jsonl
if [ "$quick" -eq 1 ]; then
  out=out/quick
  minutes="${CWM_DEMO_TRAIN_MINUTES:-1}"
  bench_limit=(--limit 24)
  if [ -f "$cruxeval" ]; then sources=(--source "cruxeval=$cruxeval"); else sources=(--source humaneval); fi
else
  out=out
  minutes="${CWM_DEMO_TRAIN_MINUTES:-6}"
  bench_limit=(--limit 100)
  mkdir -p "$out"
  $cwm trace examples/collatz.py --call "collatz(6)" --format pretty
  $cwm trace examples/collatz.py --call "collatz(6)" --format cwm --out "$out/collatz.cwm.txt"
  # a few pure standard-library modules, copied so the dataset does not depend on where Python lives
  modules="$out/stdlib-modules"
  mkdir -p "$modules"
  .venv/bin/python - "$modules" <<'PY'
import importlib, shutil, sys
for name in ("textwrap", "fractions", "colorsys", "bisect", "heapq", "statistics", "graphlib", "difflib"):
    shutil.copy(importlib.import_module(name).__file__, sys.argv[1])
PY
  sources=(--source humaneval --source "dir=$modules")
  if [ -f "$cruxeval" ]; then
    sources+=(--source "cruxeval=$cruxeval")
  fi
fi
mkdir -p "$out"
$cwm dataset build "${sources[@]}" --out "$out/traces" --workers 3

# 4. train the tiny CPU model for $minutes minutes (0 skips training and the model's benchmark).
#    The full recipe is `cwm train training/recipes/tiny-cpu.yaml` (60 minutes).
run="runs/demo"
[ "$quick" -eq 1 ] && run="runs/demo-quick"
predictors=(copy oracle)
if [ "$minutes" != "0" ]; then
  rm -rf "$run"  # a demonstration: each run of this script trains afresh
  $cwm train training/recipes/tiny-cpu.yaml data.path="$out/traces" output.dir="$run" \
    time_budget_minutes="$minutes" eval.every_minutes=null
  echo "demo: the run is in $run (curves.png, summary.json, final/; TensorBoard logs in $run/runs)"
  predictors=("hf:$run/final" copy oracle)
fi

# 5. the benchmark: each predictor on the same held-out test traces (stored in the dataset: the
#    real runs), free-running, then the figures side by side
rm -rf "$out/bench"  # the model is new: its old scores are not its own
folders=()
for predictor in "${predictors[@]}"; do
  name="${predictor%%/final}"
  name="${name##*/}"
  name="${name#hf:}"
  $cwm bench --suite "dataset=$out/traces:test" --predictor "$predictor" "${bench_limit[@]}" \
    --max-frames 40 --max-new-tokens 1024 --out "$out/bench/$name" --no-progress > /dev/null
  folders+=("$out/bench/$name")
done
echo
$cwm bench table "${folders[@]}"
echo
echo "demo: report: ${folders[0]}/index.html (each sample's page beside the real run; copy's and oracle's beside it in $out/bench)"
