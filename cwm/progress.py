"""What `cwm dataset` shows: a live progress bar with counts, and the stats table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class BuildProgress:
    """Called by the dataset build after each trace: a bar and live counts."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]tracing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=Console(stderr=True),
        )
        self.task: Any = None

    def __call__(self, report: Any, total: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("tracing", total=total, counts="")
        counts = " ".join(f"{status} {n}" for status, n in sorted(report.outcomes.items()))
        skipped = sum(report.skipped.values())
        extra = f" | skipped {skipped}" if skipped else ""
        if report.already_done:
            extra += f" | done before {report.already_done}"
        self.bar.update(self.task, completed=report.traced, counts=counts + extra)

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


def print_stats(directory: str, figures: dict[str, Any]) -> None:
    console = Console()
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
