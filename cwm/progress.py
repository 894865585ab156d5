"""What `cwm dataset` shows: progress with live counts, and the stats table."""

from __future__ import annotations

from typing import Any, TextIO

from rich.table import Table

from .pretty import Console


class BuildProgress:
    """Called by the dataset build after each trace: progress with live counts on stderr.

    A live bar on a terminal; in a pipe or a CI log, a plain line every few
    seconds and a last one at the end (``sandbox.progress.Progress``).
    """

    def __init__(self, stream: TextIO | None = None, every: float | None = None) -> None:
        self.stream = stream
        self.every = every
        self.bar: Any = None

    def __call__(self, report: Any, total: int) -> None:
        if self.bar is None:
            from sandbox.progress import Progress

            options: dict[str, Any] = {} if self.every is None else {"every": self.every}
            self.bar = Progress("tracing", total=total, stream=self.stream, **options)
        self.bar.update(completed=report.traced, counts=counts_text(report))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def counts_text(report: Any) -> str:
    """The counts beside the bar: outcomes, then what was skipped or done before."""
    parts = [" ".join(f"{status} {n}" for status, n in sorted(report.outcomes.items()))]
    skipped = sum(report.skipped.values())
    if skipped:
        parts.append(f"skipped {skipped}")
    if report.already_done:
        parts.append(f"done before {report.already_done}")
    return " | ".join(part for part in parts if part)


def print_stats(directory: str, figures: dict[str, Any]) -> None:
    console = Console()  # a closed pipe raises BrokenPipeError, which `cwm` ends quietly on
    table = Table(title=f"{directory}: {figures['traces']} traces")
    table.add_column("count")
    table.add_column("value", justify="right")
    for split, n in figures["by_split"].items():
        table.add_row(f"split {split}", str(n))
    for source, n in sorted(figures["by_source"].items()):
        table.add_row(f"source {source}", str(n))
    for status, n in sorted(figures["by_outcome"].items()):
        table.add_row(f"outcome {status}", str(n))
    for name in ("events", "tokens"):
        if name in figures:
            shown = ", ".join(f"{k} {v}" for k, v in figures[name].items())
            table.add_row(f"{name} per trace", shown)
    console.print(table)
    console.print(f"dataset: {directory}")
