"""What the speed benchmarks share: the CRUXEval samples, the command-line options, timing, tables and targets.

- samples: :func:`samples_or_exit` finds the CRUXEval file (``--data``, else
  ``$CWM_CRUXEVAL``, else ``shared/data/cruxeval.jsonl`` in or beside the
  repository) and reads it through ``training``'s CRUXEval source, so the
  benchmarks time exactly the programs a dataset build traces;
- options: :func:`add_data_option`, :func:`add_report_options` (``--json``,
  ``--check``, ``--plain``, ``--quiet``) and :func:`at_least`;
- timing: :func:`least`, :func:`ratio`, :func:`percentiles`;
- reporting: :class:`Output` (tables through rich when it is importable, else
  plain text), :class:`Target` and :func:`exit_status` (what ``--check`` returns),
  :func:`write_json`, :func:`fmt` and :func:`outcomes`.

The exit statuses every speed benchmark shares: :data:`OK` (0), :data:`TARGET_FAILED`
(1: ``--check`` was given and a judged target failed) and :data:`CANNOT_RUN` (2:
the samples cannot be read, or what is measured cannot run here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

OK = 0
TARGET_FAILED = 1
CANNOT_RUN = 2

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "CWM_CRUXEVAL"
DATA_CANDIDATES = (
    REPO / "shared" / "data" / "cruxeval.jsonl",
    REPO.parent / "shared" / "data" / "cruxeval.jsonl",
)


@dataclass
class Sample:
    """One program to time: run ``code``, then evaluate ``entry``; ``expected`` is CRUXEval's output."""

    id: str
    code: str
    entry: str
    expected: str | None = None


# -- the samples ----------------------------------------------------------------------


def find_data(given: str | None) -> Path | None:
    """The CRUXEval file: ``given``, else ``$CWM_CRUXEVAL``, else the first candidate that exists."""
    if given:
        return Path(given)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    for candidate in DATA_CANDIDATES:
        if candidate.is_file():
            return candidate
    return None


def data_or_exit(parser: argparse.ArgumentParser, given: str | None) -> Path:
    """The CRUXEval file for a benchmark command, or exit :data:`CANNOT_RUN` saying where it was looked for."""
    data = find_data(given)
    if data is None or not data.is_file():
        where = str(data) if data is not None else " or ".join(str(c) for c in DATA_CANDIDATES)
        parser.exit(
            CANNOT_RUN,
            f"error: the CRUXEval samples are not at {where}.\n"
            f"Pass --data PATH (or set ${DATA_ENV}) to a JSON-lines file with code and input fields.\n",
        )
    return data


def load_samples(path: Path, limit: int | None = None) -> tuple[list[Sample], int]:
    """The first ``limit`` (all: None) programs of a CRUXEval file, and how many rows were skipped.

    The programs come from ``training``'s CRUXEval source (its ids, its
    ``f(<input>)`` entries, its skipping of rows it cannot use). The source
    yields one program or skip per record of the file, in order, so each
    program is paired with its record for the row's expected ``output``,
    which the source does not carry. Raises ``SourceError`` when the file
    cannot be read, ``ImportError`` when ``training.data`` cannot be imported.
    """
    from training.data.sources import Skip
    from training.data.sources.cruxeval import CruxEvalSource
    from training.data.sources.jsonl import read_records

    source = CruxEvalSource(path)
    samples: list[Sample] = []
    skipped = 0
    for program, (_, row, _) in zip(source.programs(), read_records(path), strict=True):
        if isinstance(program, Skip) or program.entry is None:
            skipped += 1
            continue
        expected = row.get("output") if row is not None else None
        samples.append(
            Sample(program.id, program.source, program.entry, expected if isinstance(expected, str) else None)
        )
        if limit is not None and len(samples) >= limit:
            break
    return samples, skipped


def samples_or_exit(
    parser: argparse.ArgumentParser, given: str | None, limit: int | None, notes: list[str] | None = None
) -> tuple[Path, list[Sample]]:
    """The CRUXEval samples for a benchmark command, or exit :data:`CANNOT_RUN` saying what is wrong.

    Rows the source skips are counted in ``notes`` (when given).
    """
    data = data_or_exit(parser, given)
    try:
        samples, skipped = load_samples(data, limit)
    except ImportError as exc:
        parser.exit(
            CANNOT_RUN,
            f"error: the samples are read through training.data, which cannot be imported here "
            f"({type(exc).__name__}: {exc}); install the project (pip install -e .) in this interpreter\n",
        )
    except (OSError, ValueError) as exc:  # SourceError is a ValueError
        parser.exit(CANNOT_RUN, f"error: cannot read the samples in {data}: {type(exc).__name__}: {exc}\n")
    if not samples:
        parser.exit(CANNOT_RUN, f"error: no samples in {data}\n")
    if skipped and notes is not None:
        notes.append(f"{skipped} rows of {data} were skipped by the CRUXEval source")
    return data, samples


# -- the command line -------------------------------------------------------------------


def add_data_option(parser: argparse.ArgumentParser, fields: str = "code and input") -> None:
    parser.add_argument(
        "--data",
        metavar="PATH",
        help=f"CRUXEval samples, JSON lines with {fields} (default: ${DATA_ENV}, else shared/data/cruxeval.jsonl)",
    )


def add_limit_option(parser: argparse.ArgumentParser, what: str = "samples") -> None:
    parser.add_argument("--limit", type=int, metavar="N", help=f"only the first N {what}")


def add_report_options(
    parser: argparse.ArgumentParser,
    *,
    json_help: str = "also write the figures as JSON",
    check_help: str = "exit 1 when a target fails",
    quiet: bool = True,
) -> None:
    """``--json``, ``--check``, ``--plain`` and (``quiet``) ``--quiet``."""
    parser.add_argument("--json", metavar="PATH", help=json_help)
    parser.add_argument("--check", action="store_true", help=check_help)
    parser.add_argument("--plain", action="store_true", help="plain-text tables even when rich is installed")
    if quiet:
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def at_least(parser: argparse.ArgumentParser, minimum: int, message: str, *values: int | None) -> None:
    """Exit through ``parser.error`` with ``message`` when a given value is below ``minimum``."""
    if any(value is not None and value < minimum for value in values):
        parser.error(message)


def stderr_log(quiet: bool, prefix: str = "  ") -> Callable[[str], None]:
    """A progress line on stderr, or nothing with ``--quiet``."""

    def log(message: str) -> None:
        if not quiet:
            print(f"{prefix}{message}", file=sys.stderr, flush=True)

    return log


def cannot_run(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(CANNOT_RUN, f"error: {message}\n")


# -- timing -------------------------------------------------------------------------------


def least(a: int | None, b: int | None) -> int | None:
    """The smaller of two times, either of which may be missing."""
    return b if a is None else a if b is None else min(a, b)


def ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """p50, p90, p99 (nearest rank), max and mean of times in seconds, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1e3

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": ordered[-1] * 1e3,
        "mean": statistics.fmean(ordered) * 1e3,
    }


# -- reporting ----------------------------------------------------------------------------


def fmt(x: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if x is None else f"{x:,.{digits}f}{suffix}"


def outcomes(counts: Mapping[str, int]) -> str:
    """``"raised 3, returned 797"``: outcome counts, by name."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@dataclass
class Target:
    name: str
    measured: float | None
    bound: str
    ok: bool | None  # None: could not be measured here
    judged: bool = True  # counts for --check

    @property
    def verdict(self) -> str:
        return "SKIP" if self.ok is None else "PASS" if self.ok else "FAIL"

    def figures(self) -> dict[str, Any]:
        return {"name": self.name, "measured": self.measured, "bound": self.bound, "verdict": self.verdict}


def exit_status(targets: Sequence[Target], check: bool) -> int:
    """:data:`TARGET_FAILED` when ``--check`` is given and a judged target failed, else :data:`OK`."""
    return TARGET_FAILED if check and any(t.judged and t.ok is False for t in targets) else OK


def write_json(path: str, report: Mapping[str, Any], out: Output, indent: int = 1) -> None:
    Path(path).write_text(json.dumps(report, indent=indent) + "\n", encoding="utf-8")
    out.text(f"figures written to {path}")


class Output:
    """Tables through rich when it is importable, else plain text."""

    def __init__(self, plain: bool) -> None:
        self.console: Any = None
        if not plain:
            try:
                from rich.console import Console
            except ImportError:
                pass
            else:
                self.console = Console()
                if not self.console.is_terminal:
                    self.console = Console(width=max(self.console.width, 170))

    def text(self, line: str = "") -> None:
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False)
        else:
            print(line)

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        if self.console is not None:
            from rich.table import Table

            table = Table(title=title, title_justify="left")
            for i, header in enumerate(headers):
                table.add_column(header, justify="left" if i == 0 else "right")
            for row in rows:
                table.add_row(*(_styled(cell) for cell in row))
            self.console.print(table)
            return
        widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
        print(title)
        line = "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
        print(line)
        print("-" * len(line))
        for row in rows:
            print(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        print()

    def notes(self, notes: Sequence[str]) -> None:
        for note in notes:
            self.text(f"note: {note}")


def _styled(cell: str) -> Any:
    from rich.text import Text

    style = {"PASS": "bold green", "FAIL": "bold red", "SKIP": "yellow"}.get(cell)
    return Text(cell, style=style or "")


__all__ = [
    "CANNOT_RUN",
    "DATA_CANDIDATES",
    "DATA_ENV",
    "OK",
    "TARGET_FAILED",
    "Output",
    "Sample",
    "Target",
    "add_data_option",
    "add_limit_option",
    "add_report_options",
    "at_least",
    "cannot_run",
    "data_or_exit",
    "exit_status",
    "find_data",
    "fmt",
    "least",
    "load_samples",
    "outcomes",
    "percentiles",
    "ratio",
    "samples_or_exit",
    "stderr_log",
    "write_json",
]
