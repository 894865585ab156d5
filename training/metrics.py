"""Teacher-forced next-frame exact match (DESIGN.md, "Training and prediction"), for a model and for ``copy``.

Over frames 2..n of each trace: the share of frames that greedy decoding
from the true prefix would reproduce exactly. For a model it comes from one
forward pass per sequence: a frame matches when the argmax at each of its
positions, its closing ``<|frame_sep|>`` included, is the true token. Its two
parts: **kind+action** (the kind token, and the action from after
``<|action_sep|>`` through the closing ``<|frame_sep|>``) and **kind+state**
(the kind token and the locals, through ``<|action_sep|>``). Macro-averaged
over traces, in percent.

The ``copy`` baseline predicts each frame from the true one before it: a
``line`` frame on the next source line, every local of the previous frame
unchanged (``".."``). For it the same figures are plain equality of text.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tracer import Event, Trace
from tracer.cwm_render import shown_locals
from tracer.cwm_tokens import SAME

from .examples import Example

PARTS = ("exact", "kind_action", "kind_state")


@dataclass
class FrameScores:
    """Per trace: frames scored, and how many matched in full and in each part."""

    frames: int = 0
    exact: int = 0
    kind_action: int = 0
    kind_state: int = 0

    def add(self, exact: bool, kind_action: bool, kind_state: bool) -> None:
        self.frames += 1
        self.exact += exact
        self.kind_action += kind_action
        self.kind_state += kind_state


def macro(scores: Iterable[FrameScores]) -> dict[str, float]:
    """Percent per part, averaged over traces (those with at least one frame scored)."""
    scored = [s for s in scores if s.frames]
    if not scored:
        return {**{part: 0.0 for part in PARTS}, "traces": 0, "frames": 0}
    out: dict[str, float] = {
        part: round(100 * sum(getattr(s, part) / s.frames for s in scored) / len(scored), 2) for part in PARTS
    }
    out["traces"] = len(scored)
    out["frames"] = sum(s.frames for s in scored)
    return out


# -- the model -------------------------------------------------------------------
def frame_results(example: Example, predicted: Sequence[int]) -> list[tuple[int, bool, bool, bool]]:
    """Per scored frame of ``example`` (2..n of its trace): (its index in the trace, exact,
    kind+action, kind+state), given ``predicted[p]``, the argmax at position ``p - 1``, i.e. the
    model's guess for token ``p``."""
    ids = example.input_ids
    out = []
    for span in example.frames:
        if span.index == 0:
            continue  # frames 2..n: the first is the entry's call frame
        right = [predicted[p] == ids[p] for p in range(span.start, span.end + 1)]
        split = span.action - span.start + 1  # the kind token and the locals, through <|action_sep|>
        state = all(right[:split])
        action = all(right[split:])
        out.append((span.index, state and action, right[0] and action, state))
    return out


def score_predictions(example: Example, predicted: Sequence[int], scores: FrameScores) -> None:
    """Add ``example``'s frames to ``scores`` (see :func:`frame_results`)."""
    for _, exact, kind_action, kind_state in frame_results(example, predicted):
        scores.add(exact, kind_action, kind_state)


def argmax_predictions(
    model: Any, examples: Sequence[Example], *, batch_size: int = 8, pad_id: int = 0
) -> Iterator[tuple[Example, list[int]]]:
    """Each example with the model's guess for each of its tokens (``predicted[p]`` for token
    ``p``; ``-1`` for the first): one forward pass per example, batched by length."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
            for first in range(0, len(order), batch_size):
                batch = [examples[i] for i in order[first : first + batch_size]]
                width = max(len(e.input_ids) for e in batch)
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, example in enumerate(batch):
                    ids[row, : len(example.input_ids)] = torch.tensor(example.input_ids)
                    mask[row, : len(example.input_ids)] = 1
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                guesses = logits.argmax(dim=-1).cpu()
                for row, example in enumerate(batch):
                    yield example, [-1, *guesses[row, : len(example.input_ids) - 1].tolist()]
    finally:
        model.train(was_training)


def teacher_forced(
    model: Any, examples: Sequence[Example], *, batch_size: int = 8, pad_id: int = 0
) -> dict[str, float]:
    """The model's teacher-forced next-frame exact match over ``examples`` (one forward pass each)."""
    scores: dict[str, FrameScores] = defaultdict(FrameScores)
    for example, predicted in argmax_predictions(model, examples, batch_size=batch_size, pad_id=pad_id):
        score_predictions(example, predicted, scores[example.trace_id])
    return macro(scores.values())


# -- the copy baseline -----------------------------------------------------------
def frame_texts(events: Sequence[Event]) -> list[tuple[str, str, str]]:
    """Each frame as (kind, state, action): the locals as written (``".."`` included), and the
    action (source line, and for return/exception the value) as written."""
    out = []
    for event, shown in shown_locals(events):
        state = json.dumps(shown) if shown is not None else ""
        action = event.source_line + "\n"
        if event.kind in ("return", "exception"):
            action += "\x00" + json.dumps(event.value)
        out.append((event.kind, state, action))
    return out


def copy_prediction(previous: Event, previous_state: str, lines: Sequence[str]) -> tuple[str, str, str]:
    """What ``copy`` predicts after ``previous``: a line frame on the next source line, nothing changed."""
    names = json.loads(previous_state) if previous_state else {}
    next_line = lines[previous.line] if 0 <= previous.line < len(lines) else ""
    return "line", json.dumps({name: SAME for name in names}), next_line + "\n"


def copy_scores(trace: Trace, only: set[int] | None = None) -> FrameScores:
    """``copy`` over frames 2..n of ``trace`` (or only the frames at the indices ``only``)."""
    scores = FrameScores()
    events = trace.events
    frames = frame_texts(events)
    lines = trace.program.source.split("\n")
    for i in range(1, len(frames)):
        if only is not None and i not in only:
            continue
        kind, state, action = copy_prediction(events[i - 1], frames[i - 1][1], lines)
        true_kind, true_state, true_action = frames[i]
        same_kind = kind == true_kind
        scores.add(
            same_kind and state == true_state and action == true_action,
            same_kind and action == true_action,
            same_kind and state == true_state,
        )
    return scores


def copy_baseline(traces: Iterable[Trace]) -> dict[str, float]:
    """``copy``'s teacher-forced next-frame exact match and parts over ``traces``."""
    return macro(copy_scores(trace) for trace in traces)
