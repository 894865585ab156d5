"""A readable terminal view of a trace (rich): each step, what changed, what came back."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from tracer import Trace

_KIND_STYLE = {"call": "bold cyan", "line": "dim", "return": "bold green", "exception": "bold red"}
_STATUS_STYLE = {"returned": "green", "raised": "red"}


def print_trace(trace: Trace, console: Console | None = None) -> None:
    """Print ``trace`` step by step.

    Each row is one event. Under a row go its effects: the variables its line
    changed (new in green, changed in yellow, deleted in magenta), what it
    printed, the value a frame returned or the exception raised.
    """
    console = console or Console(highlight=False)
    program = trace.program
    title = program.entry or f"{program.id} (script)"
    console.print(f"[bold]trace of[/] {escape(title)}  [dim]Python {program.python}[/]")
    width = len(str(len(trace.events)))
    pad = " " * (width + 15)
    rows: list[tuple[Text, list[Text]]] = []
    scopes: list[tuple[dict[str, str], int]] = []  # per open frame: last state, its last row
    for step, event in enumerate(trace.events, 1):
        indent = "  " * event.depth
        row = Text(f"{step:>{width}} {event.line:>4} ", style="dim")
        row.append(f"{event.kind:<9}", style=_KIND_STYLE[event.kind])
        row.append(f"{indent}{event.source_line.strip()}")
        notes: list[Text] = []
        if event.stdout and rows:  # printed by the step before
            rows[-1][1].extend(Text(f"{pad}{indent}> {out}", style="italic") for out in event.stdout.splitlines())
        if event.kind == "call":
            notes.append(_changes({}, event.locals or {}, pad + indent))
            scopes.append((dict(event.locals or {}), len(rows)))
        elif event.kind == "line":
            current = event.locals or {}
            if scopes:
                previous, last_row = scopes[-1]
                rows[last_row][1].append(_changes(previous, current, pad + "  " * trace.events[last_row].depth))
                scopes[-1] = (dict(current), len(rows))
        elif event.kind == "return":
            shown = "(left by the exception)" if event.value is None else f"-> {event.value}"
            notes.append(Text(f"{pad}{indent}{shown}", style="green"))
            if scopes:
                scopes.pop()
        else:
            notes.append(Text(f"{pad}{indent}! {event.value}", style="red"))
        rows.append((row, notes))
    for row, notes in rows:
        console.print(row)
        for note in notes:
            if note.plain.strip():
                console.print(note)
    outcome = trace.outcome
    style = _STATUS_STYLE.get(outcome.status, "yellow")
    summary = f"[{style}]{outcome.status}[/]"
    if outcome.value is not None:
        summary += f" {escape(outcome.value)}"
    summary += f"  [dim]{outcome.events} events, {outcome.seconds * 1000:.1f} ms[/]"
    if outcome.detail:
        summary += f"  [dim]({escape(outcome.detail)})[/]"
    console.print(summary)
    if outcome.status == "raised" and outcome.stderr:
        console.print(Text(outcome.stderr.rstrip(), style="red"))


def _changes(previous: dict[str, str], current: dict[str, str], prefix: str) -> Text:
    text = Text(prefix)
    for name, value in current.items():
        if previous.get(name) != value:
            style = "yellow" if name in previous else "green"
            text.append(name, style=f"bold {style}")
            text.append(f" = {value}  ", style=style)
    for name in previous.keys() - current.keys():
        text.append(f"del {name}  ", style="magenta")
    return text
