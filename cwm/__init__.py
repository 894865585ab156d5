"""cwm: code world models for Python.

The public Python API (this file only shows it: the logic is in ``cwm/api.py``,
the command line in ``cwm/cli.py`` and ``cwm/commands/``). Importing it is
light: no torch, no transformers, no docker (the sandbox is imported on the
first run).

:func:`record` runs the program in the sandbox (a warm Docker container, else
bubblewrap), so whatever it does (write files, ``os._exit``, loop forever)
cannot touch the caller; the trace says how it ended:

    >>> import cwm
    >>> trace = cwm.record("def f(x):\\n    return x * 2\\n", "f(21)")
    >>> trace.outcome.value
    '42'
    >>> cwm.record("import time\\ndef f():\\n    time.sleep(60)\\n", "f()", timeout=1).outcome.status
    'timeout'
    >>> cwm.record("import os\\ndef f():\\n    os._exit(3)\\n", "f()").outcome.status
    'crashed'
    >>> text = cwm.render_cwm(trace)         # what a model reads and writes
    >>> cwm.parse_cwm(text).valid
    True

Each call starts a sandbox and stops it; for many traces keep one open::

    with cwm.Sandbox("auto", workers=2) as box:
        trace = box.run(cwm.Job(source, "f(1)"))
        for job_id, trace in box.map(jobs):
            ...

:func:`record_in_process` records in the caller's own process, with no
isolation at all: only for code you trust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    render_cwm,
    write_jsonl,
)

from .api import record, record_in_process

if TYPE_CHECKING:
    from sandbox import Job, Limits, Sandbox, SandboxUnavailable

__version__ = "0.1.0"

__all__ = [
    "SPECIAL_TOKENS",
    "Event",
    "Job",
    "Limits",
    "Outcome",
    "ParseResult",
    "Program",
    "ProgramError",
    "Sandbox",
    "SandboxUnavailable",
    "Trace",
    "__version__",
    "parse_cwm",
    "read_jsonl",
    "record",
    "record_in_process",
    "render_cwm",
    "write_jsonl",
]

# re-exported from `sandbox` on first use: importing it imports docker-py
_FROM_SANDBOX = ("Job", "Limits", "Sandbox", "SandboxUnavailable")


def __getattr__(name: str) -> Any:
    if name in _FROM_SANDBOX:
        import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module 'cwm' has no attribute {name!r}")
