"""A job for the sandbox: a program, its entry call and the limits it runs under."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from tracer import DEFAULT_CAP, DEFAULT_MAX_EVENTS


@dataclass(frozen=True)
class Limits:
    """What one job may use. Every job gets exactly one result, whatever it does."""

    wall_seconds: float = 5.0
    cpu_seconds: float = 5.0
    memory_mb: int = 512
    max_events: int = DEFAULT_MAX_EVENTS
    max_output_bytes: int = 1_000_000
    max_trace_bytes: int = 16_000_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise ValueError(f"limit {name} must be positive, got {value}")


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
