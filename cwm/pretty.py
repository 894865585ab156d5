"""A readable terminal view of a trace (rich): each step, what changed, what came back."""

from __future__ import annotations

import errno

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.text import Text

from tracer import EVENT_KINDS, Outcome, Trace

# control characters (C0, DEL, C1) but newline and tab: a program's output, a
# value or a source line must not drive the terminal (colours, cursor, title)
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"}
_KIND_WIDTH = max(len(kind) for kind in EVENT_KINDS) + 1

_KIND_STYLE = {"call": "bold cyan", "line": "dim", "return": "bold green", "exception": "bold red"}
_STATUS_STYLE = {"returned": "green", "raised": "red"}


class Console(RichConsole):
    """A rich console on which a closed pipe raises ``BrokenPipeError`` (rich itself exits 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def print_trace(
    trace: Trace, console: RichConsole | None = None, *, heading: str = "trace of", outcome: bool = True
) -> None:
    """Print ``trace`` step by step.

    Each row is one event. Under a row go its effects: the variables its line
    changed (new in green, changed in yellow, deleted in magenta), what it
    printed, the value a frame returned or the exception raised. What the
    program controls (its output, values, source lines) is printed with
    control characters escaped (:func:`safe`), and no line ends in spaces.
    """
    console = console or Console(highlight=False)
    program = trace.program
    title = program.entry or f"{program.id} (script)"
    _print(console, f"[bold]{heading}[/] {escape(safe(title))}  [dim]Python {escape(safe(program.python))}[/]")
    width = len(str(len(trace.events)))
    pad = " " * (width + 6 + _KIND_WIDTH)
    rows: list[tuple[Text, list[Text]]] = []
    scopes: list[tuple[dict[str, str], int]] = []  # per open frame: last state, its last row
    for step, event in enumerate(trace.events, 1):
        indent = "  " * event.depth
        row = Text(f"{step:>{width}} {event.line:>4} ", style="dim")
        row.append(f"{event.kind:<{_KIND_WIDTH}}", style=_KIND_STYLE[event.kind])
        row.append(f"{indent}{safe(event.source_line.strip())}")
        notes: list[Text] = []
        if event.stdout and rows:  # printed by the step before
            rows[-1][1].extend(Text(f"{pad}{indent}> {out}", style="italic") for out in safe(event.stdout).splitlines())
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
            shown = "(left by the exception)" if event.value is None else f"-> {safe(event.value)}"
            notes.append(Text(f"{pad}{indent}{shown}", style="green"))
            if scopes:
                scopes.pop()
        else:
            notes.append(Text(f"{pad}{indent}! {safe(event.value or '')}", style="red"))
        rows.append((row, notes))
    for row, notes in rows:
        _print(console, row)
        for note in notes:
            if note.plain.strip():
                _print(console, note)
    if outcome:
        _print_outcome(trace.outcome, console)


def _print_outcome(outcome: Outcome, console: RichConsole) -> None:
    style = _STATUS_STYLE.get(outcome.status, "yellow")
    summary = f"[{style}]{outcome.status}[/]"
    if outcome.value is not None:
        summary += f" {escape(safe(outcome.value))}"
    summary += f"  [dim]{outcome.events} events, {outcome.seconds * 1000:.1f} ms[/]"
    if outcome.detail:
        summary += f"  [dim]({escape(safe(outcome.detail))})[/]"
    _print(console, summary)
    if outcome.status == "raised" and outcome.stderr:
        for line in safe(outcome.stderr.rstrip()).splitlines():
            _print(console, Text(line, style="red"))


def _print(console: RichConsole, line: str | Text) -> None:
    """One line as it is: not wrapped at the console's width, no trailing spaces."""
    if isinstance(line, Text):
        line.rstrip()
    console.print(line, soft_wrap=True)


def safe(text: str) -> str:
    """``text`` with every control character but newline and tab written as an escape (``\\x1b``)."""
    return text.translate(_CONTROL)


def _changes(previous: dict[str, str], current: dict[str, str], prefix: str) -> Text:
    text = Text(prefix)
    sep = ""
    for name, value in current.items():
        if previous.get(name) != value:
            style = "yellow" if name in previous else "green"
            text.append(sep)
            text.append(safe(name), style=f"bold {style}")
            text.append(f" = {safe(value)}", style=style)
            sep = "  "
    for name in sorted(previous.keys() - current.keys()):
        text.append(f"{sep}del {safe(name)}", style="magenta")
        sep = "  "
    return text
