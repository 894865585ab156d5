"""The two predictors that need no model: ``copy`` (nothing changes) and ``oracle`` (real execution).

``copy`` (DESIGN.md): each next frame is a ``line`` frame on the next line of
the source, every local unchanged. Free-running it walks the source from the
entry's ``def`` line to the end of that function, then returns ``None``;
single-step it predicts each frame from the true one before it (the
definition in :mod:`training.metrics`, which the training run's baseline uses
too).

``oracle`` runs the program in the sandbox: its free-running prediction is the
real trace, and its single-step figures say how far a rerun reproduces the
trace it is scored against (100% for a deterministic program).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from sandbox.job import Job, Limits
from tracer import Event, Trace
from tracer.cwm_render import render_frame, shown_locals
from tracer.cwm_tokens import ACTION_SEP, ARG_SEP, FRAME_SEP, KIND_TOKENS
from training.metrics import copy_prediction, frame_texts

from ..metrics import entry_exit
from .base import (
    DEFAULT_MAX_FRAMES,
    Prediction,
    PredictorError,
    SingleStep,
    StepGuess,
    Task,
    guess_from_text,
    return_text,
)


def _function_end(source: str, def_line: int) -> int:
    """The last line of the function whose ``def`` is on ``def_line`` (else the source's last line)."""
    lines = source.split("\n")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return len(lines)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= def_line <= node.lineno:
                return node.end_lineno or len(lines)
    return len(lines)


def _text(kind: str, state: str, action: str) -> str:
    """A frame's text from training.metrics' (kind, state, action) triple."""
    value = ""
    if "\x00" in action:
        action, value = action.split("\x00", 1)
    body = KIND_TOKENS[kind] + state + ACTION_SEP + action
    return body + ((ARG_SEP + value) if kind in ("return", "exception") else "") + FRAME_SEP


class CopyPredictor:
    name = "copy"

    def unfit(self, task: Task) -> str | None:
        return None

    def free(self, tasks: Sequence[Task], *, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Prediction]:
        out = []
        for task in tasks:
            lines = task.program.source.split("\n")
            first = task.first
            end = _function_end(task.program.source, first.line)
            events = [first]
            line = first.line
            while line < end and len(events) < max_frames:
                line += 1
                events.append(Event("line", line, lines[line - 1], first.func, first.depth, dict(first.locals or {})))
            stopped = "end"
            if len(events) < max_frames:
                events.append(Event("return", line, lines[line - 1], first.func, first.depth, value="None"))
            else:
                stopped = "max_frames"
            text = "".join(render_frame(e, shown) for e, shown in list(shown_locals(events))[1:])
            out.append(Prediction.from_text(task, text, stopped))
        return out

    def output(self, tasks: Sequence[Task]) -> list[str]:
        """``None`` on the function's last line: where the copy baseline's free run ends."""
        out = []
        for task in tasks:
            lines = task.program.source.split("\n")
            out.append(return_text(lines[_function_end(task.program.source, task.first.line) - 1], "None"))
        return out

    def single_step(self, traces: Sequence[Trace]) -> list[SingleStep]:
        out = []
        for trace in traces:
            result = SingleStep(Task.of(trace))
            frames = frame_texts(trace.events)
            lines = trace.program.source.split("\n")
            for i in range(1, len(frames)):
                kind, state, action = copy_prediction(trace.events[i - 1], frames[i - 1][1], lines)
                true_kind, true_state, true_action = frames[i]
                same_kind = kind == true_kind
                result.steps.append(
                    StepGuess(
                        i,
                        _text(kind, state, action),
                        same_kind and state == true_state and action == true_action,
                        same_kind and action == true_action,
                        same_kind and state == true_state,
                    )
                )
            out.append(result)
        return out


def trace_prediction(task: Task, trace: Trace, max_frames: int | None = None) -> Prediction:
    """A real trace written as a prediction of ``task`` (its first ``max_frames`` frames):
    the oracle's answer. The benchmark gives it the very run it scores against."""
    events = trace.events if max_frames is None else trace.events[:max_frames]
    text = "".join(render_frame(e, shown) for e, shown in list(shown_locals(events))[1:])
    stopped = "max_frames" if len(trace.events) > len(events) else "end"
    return Prediction.from_text(task, text, stopped)


def trace_output(trace: Trace) -> str:
    """A real trace's return as :meth:`Predictor.output` writes it (empty if the entry did not return)."""
    exit_frame = entry_exit(trace.events)
    if exit_frame is None or exit_frame.value is None:
        return ""
    return return_text(exit_frame.source_line, exit_frame.value)


def trace_steps(trace: Trace, rerun: Trace) -> SingleStep:
    """Each next frame of ``trace`` as a run ``rerun`` wrote it (single-step, the oracle's way)."""
    real = [render_frame(e, s) for e, s in shown_locals(trace.events)]
    again = real if rerun is trace else [render_frame(e, s) for e, s in shown_locals(rerun.events)]
    steps = [guess_from_text(i, again[i] if i < len(again) else "", real[i]) for i in range(1, len(real))]
    return SingleStep(Task.of(trace), steps)


class OraclePredictor:
    """Real execution in the sandbox (``sandbox``: a :data:`sandbox.BACKENDS` name)."""

    name = "oracle"

    def __init__(self, sandbox: str = "auto", limits: Limits | None = None) -> None:
        self.sandbox = sandbox
        self.limits = limits or Limits()

    def unfit(self, task: Task) -> str | None:
        return None

    def run(self, tasks: Sequence[Task]) -> list[Trace]:
        from sandbox import Sandbox, SandboxUnavailable

        jobs = [Job(t.program.source, t.program.entry, id=t.program.id, limits=self.limits) for t in tasks]
        try:
            with Sandbox(self.sandbox, limits=self.limits) as box:
                return [box.run(job) for job in jobs]
        except SandboxUnavailable as exc:
            raise PredictorError(f"oracle: no sandbox: {exc}") from None

    def free(self, tasks: Sequence[Task], *, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Prediction]:
        return [trace_prediction(task, trace, max_frames) for task, trace in zip(tasks, self.run(tasks), strict=True)]

    def output(self, tasks: Sequence[Task]) -> list[str]:
        return [trace_output(trace) for trace in self.run(tasks)]

    def single_step(self, traces: Sequence[Trace]) -> list[SingleStep]:
        reruns = self.run([Task.of(t) for t in traces])
        return [trace_steps(trace, rerun) for trace, rerun in zip(traces, reruns, strict=True)]


__all__ = ["CopyPredictor", "OraclePredictor", "trace_output", "trace_prediction", "trace_steps"]
