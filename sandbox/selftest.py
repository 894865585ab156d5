"""The sandbox's self-test: small programs that any working sandbox must run as expected.

``cwm sandbox check`` prints each result as it comes::

    for result in self_test(box):
        print("ok  " if result.passed else "FAIL", result.name, result.status)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracer import Trace

from .job import Job

if TYPE_CHECKING:
    from .pool import Sandbox


@dataclass(frozen=True)
class Check:
    """One program of the self-test and what its trace must show."""

    name: str  # what a pass shows about the sandbox
    source: str
    entry: str
    passes: Callable[[Trace], bool]


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    status: str  # the trace's outcome status


CHECKS = (
    Check("runs and traces a program", "def f(x):\n    return x * 2\n", "f(21)", lambda t: t.outcome.value == "42"),
    Check(
        "has no network",
        "import socket\ndef f():\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n",
        "f()",
        lambda t: t.outcome.status == "raised",
    ),
    Check(
        "stops a runaway program",
        "def f():\n    while True:\n        pass\n",
        "f()",
        lambda t: t.outcome.status in ("step_limit", "timeout"),
    ),
)


def self_test(box: Sandbox) -> Iterator[CheckResult]:
    """Runs each of ``CHECKS`` in ``box`` (default limits), yielding each result once it is known."""
    for check in CHECKS:
        trace = box.run(Job(check.source, check.entry))
        yield CheckResult(check.name, check.passes(trace), trace.outcome.status)
