"""How right a predicted trace is: the CWM paper's Table 9 metrics (DESIGN.md, "Metrics").

Predicted frames are aligned with the real ones by position, and frames 2..n
are scored (the first, the entry's call frame with its arguments, is given to
every predictor). Every figure is per trace and in [0, 1]; :func:`macro`
averages traces and gives percent.

- ``valid_format``: 1 when the whole generation parses (every frame well formed);
- ``action``: share of real frames whose predicted frame has the same source line;
- ``state``: share of real call/line frames whose predicted locals are the same in
  the CWM form (``".."`` where a value did not change: both sides are written by
  :func:`tracer.cwm_render.shown_locals`, so a model that writes a value in full
  where it could write ``".."`` is not marked wrong for it);
- ``valid_json``: share of real call/line frames whose predicted frame holds a
  readable JSON object of locals;
- ``key_match`` / ``key_value_match``: mean Jaccard overlap, per real call/line
  frame, of the variable names / of the (name, full value) pairs;
- ``output``: the entry ends as it really did (:func:`entry_outcome`): the same
  return value, compared as Python literals when both are (CRUXEval's way), else
  as text; or the same exception leaving it.

:func:`first_divergence` is the first frame (0-based, so at least 1) where the
prediction differs from the real trace in kind, source line, locals or value.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tracer import Event, ParseResult
from tracer.cwm_render import shown_locals

METRICS = ("valid_format", "action", "state", "valid_json", "key_match", "key_value_match", "output")
# single-step mode's figures (DESIGN.md's teacher-forced next-frame exact match and its parts)
SINGLE_STEP_METRICS = ("exact", "kind_action", "kind_state")
# how reports name each figure (Table 9's words)
LABELS = {
    "output": "output pass@1",
    "valid_format": "valid trace format",
    "state": "state exact match",
    "action": "action exact match",
    "valid_json": "valid JSON",
    "key_match": "key match",
    "key_value_match": "key+value match",
    "exact": "next-frame exact match",
    "kind_action": "kind+action",
    "kind_state": "kind+state",
}


@dataclass
class Frames:
    """One side of a comparison, frame by frame: ``events[i]`` is frame ``i`` (None where the
    predicted frame could not be read), and ``shown[i]`` its locals in the CWM form."""

    events: list[Event | None]
    shown: list[dict[str, str] | None] = field(default_factory=list)
    readable_json: list[bool] = field(default_factory=list)  # frame i held a JSON object of locals

    @classmethod
    def real(cls, events: Sequence[Event]) -> Frames:
        return cls(list(events), _shown(list(events)), [True] * len(events))

    @classmethod
    def predicted(cls, parsed: ParseResult) -> Frames:
        """Frames of a parsed generation: the frames with an error are holes (None)."""
        events: list[Event | None] = [None] * parsed.frames
        for event, frame in zip(parsed.events, parsed.event_frames, strict=True):
            events[frame] = event
        no_locals = {e.frame for e in parsed.errors if any(p in e.message for p in _NO_JSON_LOCALS)}
        readable = [(e.kind in ("call", "line")) if e is not None else i not in no_locals for i, e in enumerate(events)]
        return cls(events, _shown(events), readable)


# the parser's messages for a frame with no readable JSON object of locals (tracer.cwm_parse)
_NO_JSON_LOCALS = ("not a JSON object", "(locals:", "is not a string", "empty frame", "frame token", "unknown token")


def _shown(events: Sequence[Event | None]) -> list[dict[str, str] | None]:
    """The CWM form of each frame's locals, the way the renderer writes them (holes stay None)."""
    out: list[dict[str, str] | None] = [None] * len(events)
    present = [(i, e) for i, e in enumerate(events) if e is not None]
    for (i, _), (_, shown) in zip(present, shown_locals(e for _, e in present), strict=True):
        out[i] = shown
    return out


def _jaccard(a: set[object], b: set[object]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def same_value(predicted: str | None, real: str | None) -> bool:
    """Two rendered values are the same when equal as Python literals (``[1,2]`` and ``[1, 2]``),
    or, when either is not a literal, as text."""
    if predicted is None or real is None:
        return predicted is real
    if predicted == real:
        return True
    try:
        return bool(ast.literal_eval(predicted) == ast.literal_eval(real))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def entry_exit(events: Sequence[Event | None]) -> Event | None:
    """The frame that left the entry: the first return frame at the entry's depth."""
    present = [e for e in events if e is not None]
    if not present:
        return None
    depth = present[0].depth
    return next((e for e in present if e.kind == "return" and e.depth == depth), None)


def entry_return(events: Sequence[Event | None]) -> str | None:
    """The value the entry returned (None: it did not, or an exception left it)."""
    exit_frame = entry_exit(events)
    return exit_frame.value if exit_frame is not None else None


RAISED = "raise "  # how entry_outcome writes an exception leaving the entry


def entry_outcome(events: Sequence[Event | None]) -> str | None:
    """How the entry ended, as the output metric compares it: the value it returned, or
    ``raise <exception>`` for an exception that left it (the last one raised at its depth);
    None when the trace stops before the entry ends (a limit, or a prediction cut short)."""
    present = [e for e in events if e is not None]
    if not present:
        return None
    depth, raised = present[0].depth, None
    for event in present:
        if event.depth != depth:
            continue
        if event.kind == "exception":
            raised = event.value
        elif event.kind == "return":
            return event.value if event.value is not None else f"{RAISED}{raised}"
    return None


def same_output(predicted: str | None, real: str | None) -> bool:
    """Output pass@1 for one trace: the same return value (:func:`same_value`), the same
    exception, or, where the real run never left the entry, a prediction that does not either."""
    if real is None or predicted is None:
        return predicted is real
    if real.startswith(RAISED) or predicted.startswith(RAISED):
        return predicted == real
    return same_value(predicted, real)


def trace_metrics(
    real: Sequence[Event], predicted: ParseResult, frames: tuple[Frames, Frames] | None = None
) -> dict[str, float]:
    """Table 9's figures for one trace (each in [0, 1]); ``frames``: both sides, if already made."""
    truth, guess = frames or (Frames.real(real), Frames.predicted(predicted))
    scored = range(1, len(truth.events))
    state_frames = [i for i in scored if truth.events[i].kind in ("call", "line")]  # type: ignore[union-attr]

    def at(i: int) -> Event | None:
        return guess.events[i] if i < len(guess.events) else None

    action = sum(1 for i in scored if (p := at(i)) is not None and p.source_line == truth.events[i].source_line)  # type: ignore[union-attr]
    state = sum(
        1
        for i in state_frames
        if at(i) is not None and at(i).kind == truth.events[i].kind and guess.shown[i] == truth.shown[i]  # type: ignore[union-attr]
    )
    json_ok = sum(1 for i in state_frames if i < len(guess.events) and guess.readable_json[i])
    keys = kv = 0.0
    for i in state_frames:
        p = at(i)
        if p is None:  # no predicted frame here: it shares nothing (even with a frame of no locals)
            continue
        real_locals = truth.events[i].locals or {}  # type: ignore[union-attr]
        mine = p.locals or {}
        keys += _jaccard(set(mine), set(real_locals))
        kv += _jaccard(set(mine.items()), set(real_locals.items()))
    n, s = len(scored), len(state_frames)
    return {
        "valid_format": 1.0 if predicted.valid else 0.0,
        "action": action / n if n else 1.0,
        "state": state / s if s else 1.0,
        "valid_json": json_ok / s if s else 1.0,
        "key_match": keys / s if s else 1.0,
        "key_value_match": kv / s if s else 1.0,
        "output": 1.0 if same_output(entry_outcome(guess.events), entry_outcome(truth.events)) else 0.0,
    }


def frames_equal(a: Event | None, b: Event | None, shown_a: object, shown_b: object) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a.kind == b.kind
        and a.source_line == b.source_line
        and shown_a == shown_b
        and (a.kind in ("call", "line") or a.value == b.value)
    )


def first_divergence(
    real: Sequence[Event], predicted: ParseResult, frames: tuple[Frames, Frames] | None = None
) -> int | None:
    """The first frame (>= 1) where the prediction differs from the real trace; None if none does."""
    truth, guess = frames or (Frames.real(real), Frames.predicted(predicted))
    for i in range(1, max(len(truth.events), len(guess.events))):
        a = truth.events[i] if i < len(truth.events) else None
        b = guess.events[i] if i < len(guess.events) else None
        if a is None and b is None and i >= len(truth.events):
            return i  # the prediction has an unreadable frame past the real end
        shown_a = truth.shown[i] if i < len(truth.shown) else None
        shown_b = guess.shown[i] if i < len(guess.shown) else None
        if not frames_equal(a, b, shown_a, shown_b):
            return i
    return None


def macro(per_trace: Iterable[dict[str, float]]) -> dict[str, float]:
    """Percent per metric, averaged over traces."""
    rows = list(per_trace)
    if not rows:
        return {name: 0.0 for name in METRICS}
    return {name: round(100 * sum(r[name] for r in rows) / len(rows), 2) for name in METRICS}


__all__ = [
    "LABELS",
    "METRICS",
    "SINGLE_STEP_METRICS",
    "Frames",
    "entry_exit",
    "entry_outcome",
    "entry_return",
    "first_divergence",
    "macro",
    "same_output",
    "same_value",
    "trace_metrics",
]
