"""The ``cwm`` command line. Thin: it parses, wires and reports.

Heavy libraries (torch, transformers) are imported only inside the commands
that need them, so ``cwm trace`` starts fast and works without them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tracer import BACKENDS, DEFAULT_CAP, DEFAULT_MAX_EVENTS, Program, ProgramError, Trace, record

# Exit codes of `cwm trace` (also listed in its --help).
EXIT_RETURNED = 0
EXIT_RAISED = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3

TRACE_EPILOG = """\
The program runs with its module body first (untraced when --call is given),
then the --call expression, which is traced: its frame is depth 0.
Without --call the whole file is traced as a script.

formats:
  pretty  a readable step-by-step view: each line, the variables it changed,
          return values and exceptions (the default on a terminal)
  json    the trace contract: one JSON object (see tracer/trace.schema.json)
  cwm     the text a code world model reads and writes (CWM format)

exit codes:
  0  the trace was recorded and the program returned
  1  the trace was recorded and the program raised an exception
  2  bad input: missing or unreadable file, syntax error, bad --call, bad option
  3  the trace was recorded but the run hit a limit (--max-events, output cap)

examples:
  cwm trace examples/collatz.py --call "collatz(6)"
  cwm trace prog.py --call "f([3, 1, 2])" --format cwm --out f.cwm.txt
"""


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit 2."""


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
        help="tracer backend: settrace, monitoring (Python 3.12+), or auto (the faster available)",
    )
    trace.add_argument("--out", metavar="PATH", help="write the output to PATH instead of standard output")
    trace.set_defaults(handler=cmd_trace)
    return parser


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


def execute(program: Program, *, max_events: int, cap: int, backend: str) -> Trace:
    """The one place a command runs a program (the sandbox will take over here)."""
    return record(program, max_events=max_events, cap=cap, backend=backend)


def cmd_trace(args: argparse.Namespace) -> int:
    source = read_source(args.file)
    program = Program(id=Path(args.file).stem, source=source, entry=args.call)
    try:
        trace = execute(program, max_events=args.max_events, cap=args.cap, backend=args.backend)
    except ProgramError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    except ValueError as exc:  # e.g. a backend this interpreter does not have
        raise UsageError(str(exc)) from None
    fmt = args.format or ("pretty" if args.out is None and sys.stdout.isatty() else "json")
    write_output(trace, fmt, args.out)
    status = trace.outcome.status
    if status == "returned":
        return EXIT_RETURNED
    if status == "raised":
        return EXIT_RAISED
    return EXIT_LIMIT


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
    except KeyboardInterrupt:
        print(f"cwm {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
