"""The ``cwm`` command line. Thin: it parses, wires and reports.

This file assembles the parser from the command groups in ``cwm/commands/``
(one module each: ``trace``, ``sandbox``, ``dataset``), runs the chosen
handler in :func:`main`, and holds what the groups share: the exit codes, the
two errors a handler raises (:class:`UsageError`, :class:`NoSandbox`), the
option types, and the writing of a trace.

Heavy libraries (torch, transformers, docker-py) are imported only inside the
commands that need them, so ``cwm --help`` and ``cwm trace`` start fast and
work without them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from sandbox.pool import BACKENDS as SANDBOX_BACKENDS
from tracer import ProgramError

from .api import check_timeout, run_checked

if TYPE_CHECKING:
    from sandbox.job import Job
    from tracer import Trace

SANDBOXES = SANDBOX_BACKENDS  # the --sandbox choices: sandbox.BACKENDS

# Exit codes (those of `cwm trace` are also listed in its --help).
EXIT_RETURNED = 0
EXIT_RAISED = 1
EXIT_USAGE = 2
EXIT_LIMIT = 3
EXIT_NO_SANDBOX = 4
EXIT_INTERRUPTED = 128 + 2  # 128 + SIGINT: Ctrl-C, or a build stopped before it ended
EXIT_PIPE_CLOSED = 128 + 13  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit 2."""


class ProgramRejected(UsageError):
    """The program or its entry does not compile (``ProgramError``): nothing ran."""


class NoSandbox(Exception):
    """No sandbox can run programs here: reported in one line, exit 4."""


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that leaves itself in the namespace when it reads a command line, so
    that words it does not know are refused with the usage of the command they were given to
    (``cwm dataset build --bogus``), not the top level's. Sub-commands' parsers are of this
    class too (``add_subparsers`` makes them of its parser's type)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        known, extra = super().parse_known_args(args, namespace)
        if not hasattr(known, "command_parser"):  # the innermost one returns first
            known.command_parser = self
        return known, extra


def build_parser() -> argparse.ArgumentParser:
    from .commands import GROUPS

    parser = CommandParser(
        prog="cwm",
        description="cwm: code world models. Trace Python execution line by line, "
        "train language models to predict it, and benchmark them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for register in GROUPS:
        register(commands)
    return parser


# -- option types shared by the groups


def timeout_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return check_timeout(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_timeout_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--timeout SECONDS``: the wall-clock and CPU limit of ``what`` (one run, each program)."""
    from sandbox.job import TIMEOUT_RANGE, Limits

    low, high = TIMEOUT_RANGE
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=Limits.wall_seconds,
        metavar="SECONDS",
        help=f"{what}, {low:g} to {high:g} (default: {Limits.wall_seconds:g})",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def event_count(text: str) -> int:
    """``--max-events N``: a whole number from 1 to the most a job may record (``LIMIT_MAX``)."""
    from sandbox.job import LIMIT_MAX

    value, most = positive_int(text), int(LIMIT_MAX["max_events"])
    if value > most:
        raise argparse.ArgumentTypeError(f"must be at most {most}, got {value}")
    return value


# -- running a program and writing its trace


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
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

    with warnings_as_lines():
        try:
            with Sandbox(sandbox, limits=job.limits) as box:
                return run_checked(box, job)
        except SandboxUnavailable as exc:
            raise NoSandbox(str(exc)) from None
        except ProgramError as exc:  # the program or the entry does not compile
            raise ProgramRejected(str(exc)) from None
        except ValueError as exc:  # an option the sandbox cannot honour
            raise UsageError(str(exc)) from None


def write_output(trace: Trace, fmt: str, out: str | None) -> None:
    """Write ``trace`` as ``pretty``, ``json`` or ``cwm`` text to the file ``out`` (None: standard output)."""
    if fmt == "pretty":
        from rich.console import Console

        from .pretty import print_trace

        if out is None:
            print_trace(trace)
            return
        with open_out(out) as f:
            print_trace(trace, Console(file=f, width=120, no_color=True, highlight=False))
        return
    if fmt == "json":
        text = trace.to_json(indent=2) + "\n"
    else:
        from tracer import render_cwm

        text = render_cwm(trace) + "\n"  # a text file ends in a newline (the parser allows it)
    if out is None:
        sys.stdout.write(text)
    else:
        with open_out(out) as f:
            f.write(text)


def open_out(path: str) -> TextIO:
    """``path`` opened for writing (UTF-8); a UsageError if it cannot be."""
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


# -- the command


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides"):  # only `cwm train` takes free key=value words, anywhere
            getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    action = getattr(args, "action", None)  # a group's sub-command (`cwm dataset build`), if it has them
    name = f"cwm {args.command} {action}" if action else f"cwm {args.command}"  # as argparse names it
    try:
        code: int = args.handler(args)
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`cwm trace ... | head -1`): stop quietly
        _drop_stdout()
        return EXIT_PIPE_CLOSED
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            raise
        print(f"{name}: error: cannot write the output: {exc.strerror}", file=sys.stderr)
        _drop_stdout()
        return EXIT_USAGE


# where the output goes cannot take it (a full disk, /dev/full, a quota): the user's to fix
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


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
