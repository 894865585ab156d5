"""What every predictor takes and gives back (one interface for models and baselines).

A :class:`Task` is one program run to predict: the program and the real first
frame, the entry's call with its arguments (computed in the sandbox: a model
cannot guess argument values it is never shown). From it a predictor writes
the frames that follow, in CWM format.

- **free-running** (:meth:`Predictor.free`): the whole trace from the task alone;
- **single-step** (:meth:`Predictor.single_step`): each next frame from the true
  frames before it (teacher-forced), scored as DESIGN.md's next-frame exact match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tracer import Event, FrameError, Outcome, ParseResult, Program, Trace, parse_cwm
from tracer.cwm_render import render_context, render_frame
from tracer.cwm_tokens import ACTION_SEP, ARG_SEP, FRAME_SEP, KIND_TOKENS, RETURN_SEP

DEFAULT_MAX_FRAMES = 200  # a free-running prediction stops after this many frames
DEFAULT_MAX_TOKENS = 4096  # ... or this many generated tokens
DEFAULT_BATCH_SIZE = 8  # programs a local model generates at once
# prompt lookup decoding (one program, greedy): up to this many tokens drafted from the text so
# far and checked by the model in one pass; the same tokens as plain greedy decoding
DEFAULT_LOOKUP_TOKENS = 10


class PredictorError(Exception):
    """A predictor cannot work as asked (a model that does not load, a server that does not
    answer): reported in one line."""


class Unfit(PredictorError):
    """Tasks of a batch that the predictor found it cannot take only by trying (a served model
    answered that the prompt is longer than its context): ``refused`` maps each one's place in
    the batch to what was answered. A benchmark skips those tasks (as ``reason``) and goes on;
    one prediction reports it as an error."""

    reason = "the program is too long for the served model's context"

    def __init__(self, refused: dict[int, str]) -> None:
        first = min(refused)
        super().__init__(f"{self.reason}: {refused[first]}")
        self.refused = refused


@dataclass(frozen=True)
class Task:
    """One run to predict: the program, and its real first frame (the entry's call)."""

    program: Program
    first: Event

    @classmethod
    def of(cls, trace: Trace) -> Task:
        if not trace.events or trace.events[0].kind != "call":
            raise ValueError(f"{trace.program.id}: the trace has no call frame to start from")
        return cls(trace.program, trace.events[0])

    def prompt(self) -> str:
        """The text a model continues: the context, then the call frame."""
        return render_context(self.program.source, self.first.line) + render_frame(self.first)

    def as_trace(self) -> Trace:
        return Trace(self.program, [self.first], Outcome("returned"))


@dataclass
class Prediction:
    """A predicted trace: what the predictor wrote (``text``, the frames after the prompt),
    and that text read back (``parsed``: its events, the call frame first, and its errors)."""

    task: Task
    text: str
    parsed: ParseResult
    stopped: str = "end"  # end (the entry was left), eos, max_frames, max_tokens, or error

    @classmethod
    def from_text(cls, task: Task, text: str, stopped: str = "end") -> Prediction:
        """``text`` read back; cut by the token limit (``max_tokens``), its unfinished last frame
        is dropped: the harness cut it there, not the model, so it is no mistake of format."""
        if stopped == "max_tokens":
            text = text[: text.rfind(FRAME_SEP) + len(FRAME_SEP)] if FRAME_SEP in text else ""
        parsed = parse_cwm(task.prompt() + text, source=task.program.source)
        return cls(task, text, parsed, stopped)

    @property
    def events(self) -> list[Event]:
        return self.parsed.events

    @property
    def errors(self) -> list[FrameError]:
        return self.parsed.errors

    def error_lines(self) -> list[str]:
        """The parser's errors as ``invalid frame at step k: ...`` (k counts frames, the call frame 1)."""
        return [
            f"invalid frame at step {e.frame + 1}: {e.message}" if e.frame >= 0 else f"invalid context: {e.message}"
            for e in self.errors
        ]


@dataclass
class StepGuess:
    """Single-step mode, one frame: the predicted frame text given the true frames before it,
    and whether it is right in full and in its parts (DESIGN.md's next-frame exact match)."""

    index: int  # the frame's position in the trace (>= 1)
    text: str
    exact: bool
    kind_action: bool
    kind_state: bool


@dataclass
class SingleStep:
    task: Task
    steps: list[StepGuess] = field(default_factory=list)

    def share(self, part: str = "exact") -> float:
        if not self.steps:
            return 0.0
        return sum(getattr(s, part) for s in self.steps) / len(self.steps)


class Predictor(Protocol):
    """One way of predicting traces: a model, a served model, or a baseline."""

    name: str

    def unfit(self, task: Task) -> str | None:
        """Why this predictor cannot take ``task`` at all (its prompt does not fit the model, say),
        or None. A benchmark skips such a task and says why, instead of stopping."""
        ...

    def free(self, tasks: Sequence[Task], *, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Prediction]:
        """Each task's whole trace, from the call frame on."""
        ...

    def single_step(self, traces: Sequence[Trace]) -> list[SingleStep]:
        """For each real trace, every next frame (2..n) from the true frames before it."""
        ...

    def output(self, tasks: Sequence[Task]) -> list[str]:
        """Each task's return value, predicted directly (CRUXEval-O): the text that continues
        :func:`output_prompt` (:func:`output_value` reads the value in it)."""
        ...


def return_text(line: str, value: str) -> str:
    """The end of a return frame after its ``<|action_sep|>``: what a perfect :meth:`Predictor.output` writes."""
    return f"{line}\n{ARG_SEP}{json.dumps(value)}{FRAME_SEP}"


def output_prompt(task: Task) -> str:
    """What a model continues to name a run's return value at once: the task's prompt, then the
    opening of a return frame (its source line, then ``<|arg_sep|>`` and the value, are the model's)."""
    return task.prompt() + RETURN_SEP + ACTION_SEP


def output_value(text: str) -> str | None:
    """The value in a completion of :func:`output_prompt`, or None where it names none readable."""
    _, sep, rest = text.partition(ARG_SEP)
    value = rest.split(FRAME_SEP, 1)[0].strip()
    if not sep or not value:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


def frame_parts(text: str) -> tuple[str, str, str]:
    """A frame's text as (kind token, locals text through ``<|action_sep|>``, action through
    ``<|frame_sep|>``), for comparing frames part by part as text."""
    kind = next((t for t in KIND_TOKENS.values() if text.startswith(t)), "")
    rest = text[len(kind) :]
    cut = rest.find(ACTION_SEP)
    if cut < 0:
        return kind, rest, ""
    return kind, rest[: cut + len(ACTION_SEP)], rest[cut + len(ACTION_SEP) :]


def guess_from_text(index: int, predicted: str, real: str) -> StepGuess:
    """Score one predicted frame text against the real one (plain text equality per part)."""
    if not predicted.endswith(FRAME_SEP):
        predicted_parts = (*frame_parts(predicted)[:2], "\x00")  # an unclosed frame's action is wrong
    else:
        predicted_parts = frame_parts(predicted)
    real_parts = frame_parts(real)
    kind = predicted_parts[0] == real_parts[0] and bool(real_parts[0])
    state = kind and predicted_parts[1] == real_parts[1]
    action = kind and predicted_parts[2] == real_parts[2]
    return StepGuess(index, predicted, state and action, action, state)


__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_TOKENS",
    "Prediction",
    "Predictor",
    "PredictorError",
    "SingleStep",
    "StepGuess",
    "Task",
    "Unfit",
    "guess_from_text",
    "output_prompt",
    "output_value",
    "return_text",
]
