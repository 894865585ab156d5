"""Writing a trace in Meta's Code World Model (CWM) token format (tokens: :mod:`tracer.cwm_tokens`).

:func:`render_cwm` writes a :class:`~tracer.contract.Trace` byte for byte the
way CWM's debugger demo (``demos/cwmdbg.py`` in facebookresearch/cwm) does::

    <|trace_context_start|>{source, "  # << START_OF_TRACE" on the entry}<|frame_sep|>
    <|call_sep|>{locals}<|action_sep|>{source line}\\n<|frame_sep|>
    <|line_sep|>{locals}<|action_sep|>{source line}\\n<|frame_sep|>
    <|return_sep|><|action_sep|>{source line}\\n<|arg_sep|>{value}<|frame_sep|>
    <|exception_sep|><|action_sep|>{source line}\\n<|arg_sep|>{value}<|frame_sep|>

``{locals}`` is ``json.dumps`` of name -> repr string, where a line frame
writes ``".."`` for a value the debugger can recover by walking back: over
exception frames and frames that lack the name, to the nearest line frame
holding it, stopping at (and including) the scope's call frame, and stopping
before any return frame. ``{value}`` is ``json.dumps`` of the repr string
(``null`` for a return that was an exception unwinding the frame). No
end-of-text token is appended: the training code adds the tokenizer's own.

:func:`tracer.cwm_parse.parse_cwm` reads such text back.

Standard library only: this module runs inside the sandbox too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from .contract import Event, Trace
from .cwm_tokens import (
    ACTION_SEP,
    ARG_SEP,
    CONTEXT_START,
    FRAME_SEP,
    KIND_TOKENS,
    SAME,
    START_MARKER,
)


# -- rendering -------------------------------------------------------------------
def render_context(program_source: str, start_line: int) -> str:
    """The prompt's context: the source with the start marker on ``start_line``.

    ``start_line`` is 1-based; 0 (or a number past the end) puts no marker.
    The source is written as it is, plus a final newline if it lacks one.
    """
    source = program_source
    if 0 < start_line:
        lines = source.split("\n")
        if start_line <= len(lines):
            text = lines[start_line - 1]
            if text.endswith("\r"):
                lines[start_line - 1] = text[:-1] + START_MARKER + "\r"
            else:
                lines[start_line - 1] = text + START_MARKER
            source = "\n".join(lines)
    if not source.endswith("\n"):
        source += "\n"
    return CONTEXT_START + source + FRAME_SEP


def render_frame(event: Event, shown_locals: dict[str, str] | None = None) -> str:
    """One frame, with ``shown_locals`` (already compressed) for call/line events.

    Without ``shown_locals`` the event's own locals are written in full.
    """
    action = ACTION_SEP + event.source_line + "\n"
    if event.kind in ("call", "line"):
        shown = event.locals if shown_locals is None else shown_locals
        return KIND_TOKENS[event.kind] + json.dumps(shown or {}) + action + FRAME_SEP
    token = KIND_TOKENS.get(event.kind)
    if token is None:
        raise ValueError(f"unknown event kind {event.kind!r}")
    return token + action + ARG_SEP + json.dumps(event.value) + FRAME_SEP


def shown_locals(events: Iterable[Event]) -> Iterator[tuple[Event, dict[str, str] | None]]:
    """Each event with the locals its frame writes (``".."`` for a value the reader knows).

    The running ``scope`` is exactly what CWM's debugger finds by walking back:
    it is reset to the call frame's locals on a call, emptied on a return,
    updated by line frames, and left alone by exception frames. Return and
    exception frames write no locals (``None``). Started in the middle of a
    trace, the first line frame writes every value in full.
    """
    scope: dict[str, str] = {}
    for event in events:
        if event.kind == "call":
            full = dict(event.locals or {})
            yield event, full
            scope = dict(full)  # a copy: the dict yielded is the caller's to keep
        elif event.kind == "line":
            full = event.locals or {}
            yield (
                event,
                {name: SAME if name in scope and scope[name] == value else value for name, value in full.items()},
            )
            scope.update(full)
        else:
            yield event, None
            if event.kind == "return":
                scope = {}


def render_cwm_events(events: Iterable[Event]) -> str:
    """The frames of ``events``, with line-frame locals compressed to ``".."`` (see :func:`shown_locals`)."""
    return "".join(render_frame(event, shown) for event, shown in shown_locals(events))


def render_cwm(trace: Trace, *, context: bool = True) -> str:
    """``trace`` in CWM format: the context (unless ``context=False``), then its frames."""
    events = trace.events
    body = render_cwm_events(events)
    if not context:
        return body
    start = events[0].line if events else 0
    return render_context(trace.program.source, start) + body
