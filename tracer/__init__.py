"""cwm's tracer: line-by-line state of a Python run, and the trace contract.

Standard library only: this package is copied into the sandbox and runs
under a bare interpreter (3.10 to 3.13).

    >>> from tracer import record
    >>> trace = record("def f(x):\\n    y = x + 1\\n    return y\\n", "f(1)")
    >>> [(e.kind, e.line) for e in trace.events]
    [('call', 1), ('line', 2), ('line', 3), ('return', 3)]
"""

from .contract import (
    COMPILE_PARTS,
    EVENT_KINDS,
    SCHEMA_PATH,
    STATUSES,
    ContractError,
    Event,
    Outcome,
    Program,
    Trace,
    load_schema,
    read_jsonl,
    write_jsonl,
)
from .cwm_parse import FrameError, ParseResult, parse_cwm
from .cwm_render import render_context, render_cwm
from .cwm_tokens import SPECIAL_TOKENS
from .recorder import (
    BACKENDS,
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_OUTPUT,
    MONITORING_SINCE,
    ProgramError,
    Recorder,
    TracerStop,
    available_backends,
    record,
    resolve_backend,
)
from .render import DEFAULT_CAP, Renderer
from .types import Tracer

__all__ = [
    "BACKENDS",
    "COMPILE_PARTS",
    "DEFAULT_CAP",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_OUTPUT",
    "EVENT_KINDS",
    "MONITORING_SINCE",
    "SCHEMA_PATH",
    "SPECIAL_TOKENS",
    "STATUSES",
    "ContractError",
    "Event",
    "FrameError",
    "Outcome",
    "ParseResult",
    "Program",
    "ProgramError",
    "Recorder",
    "Renderer",
    "Trace",
    "Tracer",
    "TracerStop",
    "available_backends",
    "load_schema",
    "parse_cwm",
    "read_jsonl",
    "record",
    "render_context",
    "render_cwm",
    "resolve_backend",
    "write_jsonl",
]
