"""The trace contract: the one shape every part of cwm reads and writes.

A :class:`Trace` is one run of one program: the :class:`Program`, the
:class:`Event` steps in order, and the :class:`Outcome`. Standard library
only, because the same definition runs inside the sandbox and on the host.

On disk a trace is one JSON object (:meth:`Trace.to_json`), a file of traces
is JSON Lines (:func:`write_jsonl`, :func:`read_jsonl`), and
``trace.schema.json`` beside this file is its JSON Schema. Keys whose value
is ``None`` are left out of the JSON; reading treats a missing key as ``None``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("trace.schema.json")

EventKind = Literal["call", "line", "return", "exception"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)

Status = Literal[
    "returned",
    "raised",
    "timeout",
    "step_limit",
    "memory_limit",
    "output_limit",
    "trace_limit",
    "crashed",
    "sandbox_error",
]
# trace_limit: the trace passed max_trace_bytes (or the source alone did); the
# events that fit are kept and ``detail`` says how the run itself ended
STATUSES: tuple[str, ...] = get_args(Status)

# what could not be compiled, so that nothing ran: the program's source, or its entry call
CompilePart = Literal["source", "entry"]
COMPILE_PARTS: tuple[str, ...] = get_args(CompilePart)


class ContractError(ValueError):
    """A dict or JSON text does not have the shape of a trace."""


@dataclass
class Program:
    """What was run: the source, the entry call (``None`` for a script)."""

    id: str
    source: str
    entry: str | None = None
    python: str = ""  # interpreter version that ran it, e.g. "3.13.5"


@dataclass
class Event:
    """One step of a run.

    ``locals`` (call and line events) is the full state *before* the line
    runs, name -> rendered value. ``value`` (return and exception events) is
    the rendered return value or exception; a ``return`` whose ``value`` is
    ``None`` means the frame was left by an exception, not by ``return``.
    ``stdout`` is the text printed since the previous event.
    """

    kind: EventKind
    line: int
    source_line: str
    func: str
    depth: int
    locals: dict[str, str] | None = None
    value: str | None = None
    stdout: str | None = None


@dataclass
class Outcome:
    """How the run ended."""

    status: Status
    value: str | None = None  # rendered return value, or the exception raised
    stdout: str = ""
    stderr: str = ""
    events: int = 0
    seconds: float = 0.0
    detail: str = ""  # a human-readable note, e.g. which limit stopped the run
    # set when nothing ran because this part did not compile (status "raised", value the
    # SyntaxError, detail the message): a typed reason, so no reader matches ``detail``'s text
    compile_error: CompilePart | None = None


@dataclass
class Trace:
    """One run of one program."""

    program: Program
    events: list[Event] = field(default_factory=list)
    outcome: Outcome = field(default_factory=lambda: Outcome(status="returned"))
    format: int = FORMAT_VERSION

    # -- dicts ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "program": _compact(self.program.__dict__),
            "events": [_compact(e.__dict__) for e in self.events],
            "outcome": _compact(self.outcome.__dict__),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Trace:
        if not isinstance(data, dict):
            raise ContractError(f"a trace is a JSON object, got {type(data).__name__}")
        try:
            program = Program(**data["program"])
            events = [_event_from_dict(i, e) for i, e in enumerate(data["events"])]
            outcome = Outcome(**data["outcome"])
        except ContractError:
            raise
        except (KeyError, TypeError) as exc:
            raise ContractError(f"not a trace: {exc}") from None
        if outcome.status not in STATUSES:
            raise ContractError(f"unknown outcome status {outcome.status!r}")
        if outcome.compile_error is not None and outcome.compile_error not in COMPILE_PARTS:
            raise ContractError(f"unknown compile_error {outcome.compile_error!r} (one of {', '.join(COMPILE_PARTS)})")
        return cls(program, events, outcome, data.get("format", FORMAT_VERSION))

    # -- JSON ----------------------------------------------------------------
    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Trace:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _event_from_dict(index: int, data: Any) -> Event:
    if not isinstance(data, dict):
        raise ContractError(f"event {index} is not an object")
    event = Event(**data)
    if event.kind not in EVENT_KINDS:
        raise ContractError(f"event {index} has unknown kind {event.kind!r}")
    return event


# -- JSON Lines ------------------------------------------------------------------
def write_jsonl(path: str | os.PathLike[str], traces: Iterable[Trace], append: bool = False) -> int:
    """Write traces one per line; returns how many were written."""
    n = 0
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for trace in traces:
            f.write(trace.to_json())
            f.write("\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Trace]:
    """Read traces written by :func:`write_jsonl`, naming the line of any bad one."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Trace.from_json(line)
            except ContractError as exc:
                raise ContractError(f"{path}:{lineno}: {exc}") from None


def load_schema() -> dict[str, Any]:
    """The JSON Schema of a trace (``trace.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
