"""The terminal view of a prediction (rich), alone or beside the real trace."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from tracer import Outcome, Trace

from .pretty import print_trace, safe


def print_prediction(prediction: Any, console: Any) -> None:
    """A predicted trace, step by step, the way ``cwm trace`` prints a real one; its last line
    says how the prediction has the entry end (a prediction has no outcome, time or status)."""
    from benchmarks.metrics import RAISED, entry_outcome

    steps = Trace(prediction.task.program, prediction.events, Outcome("returned"))
    print_trace(steps, console, heading="prediction of", outcome=False)
    ends = entry_outcome(prediction.events)
    if ends is None:
        said = "the entry does not end"
    elif ends.startswith(RAISED):
        said = f"raises {ends[len(RAISED) :]}"
    else:
        said = f"returns {ends}"
    console.print(
        Text(f"predicted: {safe(said)}; {len(prediction.events)} frames, stopped: {prediction.stopped}", style="dim"),
        soft_wrap=True,
    )


def _locals_text(event: Any, differs: list[str]) -> Text:
    text = Text()
    if event is None:
        return Text("-", style="dim")
    if event.kind in ("return", "exception"):
        return Text(f"{'->' if event.kind == 'return' else '!!'} {safe(str(event.value))}", style="bold")
    for i, (name, value) in enumerate((event.locals or {}).items()):
        if i:
            text.append(", ")
        text.append(f"{safe(name)}={safe(value)}", style="red" if name in differs else "")
    return text


def print_comparison(comparison: Any, console: Any) -> None:
    """Predicted and real side by side: one row per step, the first divergence marked."""
    real = comparison.real
    console.print(
        Text.assemble(
            ("prediction of ", "bold"),
            safe(real.program.entry or real.program.id),
            (f"  by {comparison.predictor}, {comparison.mode}", "dim"),
        )
    )
    table = Table(show_header=True, header_style="bold", expand=False, pad_edge=False)
    for name in ("step", "real line", "real locals / value", "predicted line", "predicted locals / value"):
        table.add_column(name, overflow="fold")
    for step in comparison.steps:
        a, b = step.real, step.predicted
        mark = "" if step.same else " ✗"
        style = "on dark_red" if step.index == comparison.first_divergence else ""
        line_a = Text(f"{a.line} {a.kind}: {safe(a.source_line.strip())}" if a else "-")
        if b is None:
            line_b = Text(safe(step.error or "-"), style="red")
        else:
            same_line = a is not None and a.source_line == b.source_line and a.kind == b.kind
            line_b = Text(f"{b.kind}: {safe(b.source_line.strip())}", style="" if same_line else "red")
        table.add_row(
            f"{step.index + 1}{mark}", line_a, _locals_text(a, []), line_b, _locals_text(b, step.differs), style=style
        )
    console.print(table)
    where = comparison.first_divergence
    console.print(
        "first divergence: " + ("none, the prediction is the real trace" if where is None else f"step {where + 1}")
    )
    outcome = real.outcome
    if outcome.status not in ("returned", "raised"):  # the real run was stopped: say by what
        console.print(Text(f"real run: {outcome.status} ({safe(outcome.detail or '')})", style="yellow"))
    verdict = "right" if comparison.output_right else "wrong"
    console.print(
        Text(
            f"return value: predicted {safe(str(comparison.predicted_return))}, real {safe(str(comparison.real_return))} ({verdict})",
            style="green" if comparison.output_right else "red",
        )
    )
    figures = ", ".join(f"{name.replace('_', ' ')} {100 * value:.1f}%" for name, value in comparison.metrics.items())
    console.print(f"accuracy of this run: {figures}")
