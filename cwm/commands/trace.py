"""``cwm trace``: record one program's run, in the sandbox, and write its trace."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from sandbox.job import Job, Limits
from tracer import BACKENDS, DEFAULT_CAP, DEFAULT_MAX_EVENTS, Renderer, Trace

from ..cli import (
    EXIT_LIMIT,
    EXIT_RAISED,
    EXIT_RETURNED,
    SANDBOXES,
    ProgramRejected,
    UsageError,
    add_timeout_option,
    event_count,
    execute,
    positive_int,
    write_output,
)

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


def register(commands: argparse._SubParsersAction) -> None:
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
        type=event_count,
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
    add_timeout_option(trace, "wall-clock and CPU limit of the run")
    trace.add_argument("--out", metavar="PATH", help="write the output to PATH instead of standard output")
    trace.set_defaults(handler=cmd_trace)


def _cap(text: str) -> int:
    value = positive_int(text)
    try:
        Renderer(value)  # the renderer knows the smallest cap it can cut a value to
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {value}") from None
    return value


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
        _check_out_file(args.out, args.file)
    limits = Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout, max_events=args.max_events)
    job = Job(
        source, args.call, id=_text(Path(args.file).stem), limits=limits, tracer_backend=args.backend, cap=args.cap
    )
    try:
        trace = execute(job, sandbox=args.sandbox)
    except ProgramRejected as exc:
        raise UsageError(f"{args.file}: {exc}") from None
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


def _check_out_file(path: str, program: str | None = None) -> None:
    """Refuse, before running anything, an --out that cannot be a file (or is the ``program``'s)."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    if program is not None and target.resolve() == Path(program).resolve():
        raise UsageError(f"cannot write {path}: it is the program being run")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot write {path}: {parent} is a file, not a directory")
            break
    if not target.parent.exists():
        raise UsageError(f"cannot write {path}: no folder {target.parent}")
