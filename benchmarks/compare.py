"""A predicted trace beside the real one, step by step: what ``cwm predict --compare`` shows,
what its HTML page draws, and what the benchmark keeps per sample.

Frames are aligned by position (DESIGN.md, "Metrics"). Each :class:`Step` holds
both sides (either may be missing: the prediction stopped early or ran on, or a
frame could not be read) and the names whose values differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tracer import Event, Trace, parse_cwm
from tracer.cwm_render import render_context, render_frame

from .metrics import Frames, entry_outcome, first_divergence, frames_equal, same_output, trace_metrics
from .predictors.base import Prediction, SingleStep


@dataclass
class Step:
    index: int
    real: Event | None
    predicted: Event | None
    same: bool
    differs: list[str] = field(default_factory=list)  # locals whose predicted value is not the real one
    error: str | None = None  # why the predicted frame could not be read


@dataclass
class Comparison:
    predictor: str
    mode: str  # free or single-step
    real: Trace
    steps: list[Step]
    first_divergence: int | None
    real_return: str | None  # how the entry ended (metrics.entry_outcome): its value, or "raise ..."
    predicted_return: str | None
    metrics: dict[str, float]  # per trace, in [0, 1]: benchmarks.metrics' figures
    text: str = ""  # the predictor's raw output (free mode)
    errors: list[str] = field(default_factory=list)

    @property
    def output_right(self) -> bool:
        return same_output(self.predicted_return, self.real_return)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["real"] = self.real.to_dict()
        data["output_right"] = self.output_right
        data["source"] = self.real.program.source
        return data


def _differs(real: Event | None, predicted: Event | None) -> list[str]:
    if real is None or predicted is None:
        return []
    a, b = real.locals or {}, predicted.locals or {}
    return sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name))


def compare_free(
    real: Trace, prediction: Prediction, predictor: str, frames: tuple[Frames, Frames] | None = None
) -> Comparison:
    """A free-running prediction against the real trace (``frames``: both sides, if already made)."""
    truth, guess = frames or (Frames.real(real.events), Frames.predicted(prediction.parsed))
    errors = {e.frame: e.message for e in prediction.errors}
    steps = []
    for i in range(max(len(truth.events), len(guess.events))):
        a = truth.events[i] if i < len(truth.events) else None
        b = guess.events[i] if i < len(guess.events) else None
        sa = truth.shown[i] if i < len(truth.shown) else None
        sb = guess.shown[i] if i < len(guess.shown) else None
        steps.append(Step(i, a, b, frames_equal(a, b, sa, sb), _differs(a, b), errors.get(i)))
    return Comparison(
        predictor,
        "free",
        real,
        steps,
        first_divergence(real.events, prediction.parsed, (truth, guess)),
        entry_outcome(real.events),
        entry_outcome(prediction.events),
        trace_metrics(real.events, prediction.parsed, (truth, guess)),
        prediction.text,
        prediction.error_lines(),
    )


def compare_single_step(real: Trace, result: SingleStep, predictor: str) -> Comparison:
    """Single-step predictions (each frame from the true ones before it) against the real trace.

    ``metrics`` here are the next-frame exact match and its parts (shares of frames 2..n)."""
    events = real.events
    source = real.program.source
    guesses = {g.index: g for g in result.steps}
    steps = [Step(0, events[0], events[0], True)] if events else []
    for i in range(1, len(events)):
        guess = guesses.get(i)
        if guess is None:
            steps.append(Step(i, events[i], None, False, error="not predicted"))
            continue
        # read the guess after the true frame before it, written in full (what every ".." of the
        # guess can refer to), not after the whole true prefix: reading that again for every
        # frame would cost the square of the trace's length
        before = events[i - 1]
        parsed = parse_cwm(render_context(source, before.line) + render_frame(before) + guess.text, source=source)
        predicted = parsed.events[-1] if parsed.event_frames and parsed.event_frames[-1] == 1 else None
        if predicted is not None:  # its scope is the true frame's (a short prefix knows no caller)
            line = events[i].line if predicted.source_line == events[i].source_line else predicted.line
            predicted = replace(predicted, line=line, func=predicted.func or events[i].func, depth=events[i].depth)
        error = next((e.message for e in parsed.errors if e.frame == 1), None)
        steps.append(Step(i, events[i], predicted, guess.exact, _differs(events[i], predicted), error))
    divergence = next((s.index for s in steps if not s.same), None)
    real_value = entry_outcome(real.events)
    figures = {part: result.share(part) for part in ("exact", "kind_action", "kind_state")}
    return Comparison(
        predictor,
        "single-step",
        real,
        steps,
        divergence,
        real_value,
        entry_outcome([s.predicted for s in steps]),  # each frame guessed from the true ones before it
        figures,
    )


__all__ = ["Comparison", "Step", "compare_free", "compare_single_step"]
