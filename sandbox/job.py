"""A job for the sandbox: a program, its entry call and the limits it runs under."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from tracer import DEFAULT_CAP, DEFAULT_MAX_EVENTS, DEFAULT_MAX_OUTPUT

# the largest value of each limit: past these, system calls overflow (seconds) or the
# job's journal would not fit in its address space (bytes)
LIMIT_MAX: dict[str, float] = {
    "wall_seconds": 7 * 24 * 3600.0,
    "cpu_seconds": 7 * 24 * 3600.0,
    "memory_mb": 1 << 20,
    "max_events": 1 << 40,
    "max_output_bytes": 1 << 28,
    "max_trace_bytes": 1 << 31,
}

# a usable timeout (wall clock and CPU time), in seconds: below the minimum a job ends
# before its program starts
TIMEOUT_RANGE = (0.05, min(LIMIT_MAX["wall_seconds"], LIMIT_MAX["cpu_seconds"]))


@dataclass(frozen=True)
class Limits:
    """What one job may use. Every job gets exactly one result, whatever it does."""

    wall_seconds: float = 5.0
    cpu_seconds: float = 5.0
    memory_mb: int = 512
    max_events: int = DEFAULT_MAX_EVENTS
    max_output_bytes: int = DEFAULT_MAX_OUTPUT  # of stdout, and of stderr
    max_trace_bytes: int = 16_000_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            most = LIMIT_MAX[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"limit {name} must be a number, got {type(value).__name__}")
            if not 0 < value <= most:  # also refuses nan
                raise ValueError(f"limit {name} must be above 0 and at most {most:g}, got {value:g}")


_ids = itertools.count(1)


@dataclass(frozen=True)
class Job:
    """Run ``source``, then call ``entry`` (``None``: run it as a script)."""

    source: str
    entry: str | None = None
    id: str = field(default_factory=lambda: f"job-{next(_ids)}")
    limits: Limits = field(default_factory=Limits)
    tracer_backend: str = "auto"  # settrace | monitoring | auto, inside the sandbox
    cap: int = DEFAULT_CAP  # longest rendering of one value

    def to_wire(self) -> dict[str, Any]:
        """The request the fork server reads (see ``sandbox/forkserver.py``)."""
        return {
            "id": self.id,
            "source": self.source,
            "entry": self.entry,
            "limits": asdict(self.limits),
            "backend": self.tracer_backend,
            "cap": self.cap,
        }
