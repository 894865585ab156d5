"""Progress on stderr for long work: a live bar on a terminal, plain lines elsewhere.

One reporter for every long phase (tracing jobs, building a dataset,
collecting programs). On a terminal it is a rich bar with live counts; in a
pipe or a CI log a rich bar would collapse into one cut line at the end, so
there it prints one plain line every ``every`` seconds (and a last one)::

    tracing: 120/800 (15%) 41.2/s, eta 16s | returned 110 raised 10

    >>> bar = Progress("tracing", total=800)          # doctest: +SKIP
    >>> bar.update(completed=120, counts="returned 110 raised 10")
    >>> bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

PLAIN_EVERY_SECONDS = 10.0  # between plain progress lines without a terminal


class Progress:
    """A progress reporter on ``stream`` (stderr); ``total=None`` when the end is unknown."""

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        every: float = PLAIN_EVERY_SECONDS,
        unit: str = "",
    ) -> None:
        self.description = description
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.unit = unit
        self.completed = 0
        self.counts = ""
        self._started = time.monotonic()
        self._last_line = self._started
        self._closed = False
        self._rich: Any = None
        self._task: Any = None
        if _is_terminal(self.stream):
            self._start_rich()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        columns: list[Any] = [TextColumn("[bold]{task.description}")]
        if self.total is not None:
            columns += [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
        else:
            columns += [TextColumn("{task.completed}"), TimeElapsedColumn()]
        columns.append(TextColumn("{task.fields[counts]}"))
        self._rich = RichProgress(*columns, console=Console(file=self.stream), transient=False)
        self._task = self._rich.add_task(self.description, total=self.total, counts="")
        self._rich.start()

    def update(self, *, completed: int | None = None, advance: int = 0, counts: str | None = None) -> None:
        """Set (``completed``) or add to (``advance``) the count done; ``counts``: text shown beside it."""
        if self._closed:
            return
        self.completed = completed if completed is not None else self.completed + advance
        if counts is not None:
            self.counts = counts
        if self._rich is not None:
            self._rich.update(self._task, completed=self.completed, counts=self.counts)
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self._line()

    def advance(self, n: int = 1, counts: str | None = None) -> None:
        self.update(advance=n, counts=counts)

    def _line(self) -> None:
        elapsed = time.monotonic() - self._started
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        if self.total:
            done = f"{self.completed}/{self.total} ({100 * self.completed // self.total}%)"
            left = self.total - self.completed
            eta = f", eta {_duration(left / rate)}" if rate > 0 and left > 0 else ""
        else:
            done, eta = f"{self.completed}{(' ' + self.unit) if self.unit else ''}", ""
        counts = f" | {self.counts}" if self.counts else ""
        try:
            print(f"{self.description}: {done} {rate:.1f}/s{eta}, {_duration(elapsed)} in{counts}", file=self.stream)
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: progress is not worth failing for
            pass

    def close(self) -> None:
        """Stop the bar, or print the last plain line."""
        if self._closed:
            return
        self._closed = True
        if self._rich is not None:
            self._rich.stop()
        elif self.completed or self.total:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
