"""Training examples from traces: the trace context as the prompt, the CWM frames as the completion.

One trace gives one example, or several *windows* when it does not fit the
sequence length. Every window repeats the context, starts at a frame boundary
with that frame's locals written in full (so each ``".."`` in it resolves
inside it), never cuts a frame, and takes loss only on the frames new to it;
the first frames of a window after the first are the end of the previous
window again, as context (``overlap``). The last window of a trace ends with
the tokenizer's end-of-text token, which takes loss too.

Token ids are assembled here, not by tokenizing the rendered text: the
special tokens are inserted as ids and every piece of program text is
tokenized with ``split_special_tokens=True``, so a program whose strings
spell ``<|frame_sep|>`` cannot forge a frame boundary. Pieces meet only at
special tokens, where a tokenizer splits anyway, so the ids equal those of
the rendered text (``tests/test_examples.py`` checks it).

Each example also keeps its frames' token spans, which the teacher-forced
metrics (:mod:`training.metrics`) read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracer import Event, Trace
from tracer.cwm_render import render_context, shown_locals
from tracer.cwm_tokens import ACTION_SEP, ARG_SEP, CONTEXT_START, FRAME_SEP, KIND_TOKENS

MIN_FRAME_TOKENS = 5  # kind, "{}" (or a value), <|action_sep|>, "\n", <|frame_sep|>: no frame is shorter
DEFAULT_OVERLAP = 0.25  # of a window's frame budget, repeated from the previous window as context


@dataclass(frozen=True)
class FrameSpan:
    """Where one frame lies in an example's ids: ``start`` (its kind token), ``action`` (its
    ``<|action_sep|>``) and ``end`` (its closing ``<|frame_sep|>``), all inclusive positions;
    ``index`` is the frame's position in its trace (0 = the entry's call frame)."""

    index: int
    start: int
    action: int
    end: int


@dataclass
class Example:
    """One tokenized window of one trace."""

    trace_id: str
    input_ids: list[int]
    completion_mask: list[int]  # 1 where the loss falls: the window's new frames, and the end-of-text token
    frames: list[FrameSpan]  # the new frames only


@dataclass
class ExampleReport:
    """What turning traces into examples did: counts, for the run's log."""

    traces: int = 0
    examples: int = 0
    windowed: int = 0  # traces that needed more than one window
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> traces
    cut: int = 0  # traces ended early at a frame longer than a window holds
    capped: int = 0  # traces ended early at max_windows
    tokens: int = 0
    loss_tokens: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return (
            f"{self.traces} traces -> {self.examples} examples ({self.windowed} traces windowed, "
            f"{self.cut} cut at a frame too long for a window, {self.capped} at the window cap); skipped: {skipped}; "
            f"{self.tokens:,} tokens, {self.loss_tokens:,} with loss"
        )


class Encoder:
    """Token ids of the CWM format for one tokenizer (its special tokens already added)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        ids = tokenizer.convert_tokens_to_ids
        self.context_start = ids(CONTEXT_START)
        self.frame_sep = ids(FRAME_SEP)
        self.action_sep = ids(ACTION_SEP)
        self.arg_sep = ids(ARG_SEP)
        self.kind = {kind: ids(token) for kind, token in KIND_TOKENS.items()}
        unknown = tokenizer.unk_token_id
        missing = [
            t for t, i in [(CONTEXT_START, self.context_start), (FRAME_SEP, self.frame_sep)] if i in (None, unknown)
        ]
        if missing:
            raise ValueError(f"the tokenizer lacks the CWM special tokens ({', '.join(missing)}): add them first")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no end-of-text token (eos_token)")
        self.eos = int(tokenizer.eos_token_id)

    def text(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    def texts(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        batch = self.tokenizer(list(texts), add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return [list(ids) if text else [] for ids, text in zip(batch, texts, strict=True)]

    def context(self, trace: Trace) -> list[int]:
        """``<|trace_context_start|>`` source (start marker on the entry line) ``<|frame_sep|>``."""
        start = trace.events[0].line if trace.events else 0
        text = render_context(trace.program.source, start)
        body = text[len(CONTEXT_START) : -len(FRAME_SEP)]
        return [self.context_start, *self.text(body), self.frame_sep]

    def frames(self, events: Sequence[Event]) -> list[tuple[list[int], int]]:
        """Each event's frame as ids, with the position of its ``<|action_sep|>`` in them;
        rendered as a trace that starts at ``events[0]`` (its locals in full)."""
        heads: list[str] = []
        tails: list[str] = []
        kinds: list[str] = []
        for event, shown in shown_locals(events):
            kinds.append(event.kind)
            heads.append(json.dumps(shown) if shown is not None else "")
            tails.append(event.source_line + "\n")
        head_ids = self.texts(heads)
        tail_ids = self.texts(tails)
        values = [json.dumps(e.value) for e in events if e.kind in ("return", "exception")]
        value_ids = iter(self.texts(values))
        out = []
        for kind, head, tail in zip(kinds, head_ids, tail_ids, strict=True):
            ids = [self.kind[kind], *head, self.action_sep, *tail]
            action = len(head) + 1
            if kind in ("return", "exception"):
                ids += [self.arg_sep, *next(value_ids)]
            ids.append(self.frame_sep)
            out.append((ids, action))
        return out


def trace_examples(
    trace: Trace,
    encoder: Encoder,
    max_length: int,
    report: ExampleReport,
    *,
    overlap: float = DEFAULT_OVERLAP,
    max_windows: int | None = None,
) -> list[Example]:
    """The examples (one, or windows) of one trace; none when its context alone is too long.

    ``max_windows``: at most that many windows of one trace (its first frames), so that a
    few long loops do not outweigh every other program; the rest is counted as ``capped``.
    """
    report.traces += 1
    trace_id = trace.program.id
    events = trace.events
    if not events:
        report.skip("no events")
        return []
    context = encoder.context(trace)
    room = max_length - len(context) - 1  # the frames' budget; 1 for the end-of-text token
    if room < 4:
        report.skip("context alone over the sequence length")
        return []
    examples: list[Example] = []
    start = new = 0  # the window's first frame, and its first frame with loss
    most = room // MIN_FRAME_TOKENS + 1  # no more frames than this fit in one window
    while new < len(events):
        frames = encoder.frames(events[start : start + most])
        used = 0
        end = start
        for ids, _ in frames:
            if used + len(ids) > room:
                break
            used += len(ids)
            end += 1
        if end <= new:  # not one new frame fits
            if start < new:  # without the overlap it may: try again
                start = new
                continue
            report.cut += 1
            break
        ids = list(context)
        mask = [0] * len(context)
        spans = []
        for offset, (frame_ids, action) in enumerate(frames[: end - start]):
            index = start + offset
            loss = 1 if index >= new else 0
            if loss:
                spans.append(FrameSpan(index, len(ids), len(ids) + action, len(ids) + len(frame_ids) - 1))
            ids += frame_ids
            mask += [loss] * len(frame_ids)
        if end == len(events):
            ids.append(encoder.eos)
            mask.append(1)
        examples.append(Example(trace_id, ids, mask, spans))
        report.tokens += len(ids)
        report.loss_tokens += sum(mask)
        if end == len(events):
            break
        if max_windows is not None and len(examples) >= max_windows:
            report.capped += 1
            break
        # the next window: its new frames start at ``end``; before them, as context, the frames
        # of this window that fit in ``overlap`` of the budget
        new = end
        back = end
        budget = int(room * overlap)
        while back - 1 > start and budget >= len(frames[back - 1 - start][0]):
            back -= 1
            budget -= len(frames[back - start][0])
        start = back
    if len(examples) > 1:
        report.windowed += 1
    report.examples += len(examples)
    return examples


def examples_from_traces(
    traces: Iterable[Trace], tokenizer: Any, max_length: int, *, overlap: float = DEFAULT_OVERLAP
) -> tuple[list[Example], ExampleReport]:
    encoder = Encoder(tokenizer)
    report = ExampleReport()
    found: list[Example] = []
    for trace in traces:
        found += trace_examples(trace, encoder, max_length, report, overlap=overlap)
    return found, report


__all__ = [
    "DEFAULT_OVERLAP",
    "Encoder",
    "Example",
    "ExampleReport",
    "FrameSpan",
    "examples_from_traces",
    "trace_examples",
]
