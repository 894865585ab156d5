"""cwm: code world models for Python.

The public Python API. Importing it is light: no torch, no transformers.

    >>> import cwm
    >>> trace = cwm.record("def f(x):\\n    return x * 2\\n", "f(21)")
    >>> trace.outcome.value
    '42'
    >>> text = cwm.render_cwm(trace)         # what a model reads and writes
    >>> cwm.parse_cwm(text).valid
    True
"""

from tracer import (
    SPECIAL_TOKENS,
    Event,
    Outcome,
    ParseResult,
    Program,
    ProgramError,
    Trace,
    parse_cwm,
    read_jsonl,
    record,
    render_cwm,
    write_jsonl,
)

__version__ = "0.1.0"

__all__ = [
    "SPECIAL_TOKENS",
    "Event",
    "Outcome",
    "ParseResult",
    "Program",
    "ProgramError",
    "Trace",
    "__version__",
    "parse_cwm",
    "read_jsonl",
    "record",
    "render_cwm",
    "write_jsonl",
]
