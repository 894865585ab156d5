"""The logic behind the public API (:mod:`cwm` shows it): recording in the sandbox or in-process.

Light to import: the sandbox (and with it docker-py) is imported on the first run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracer import DEFAULT_CAP, DEFAULT_MAX_EVENTS, MONITORING_SINCE, Program, ProgramError, Trace
from tracer import record as _record_in_process

if TYPE_CHECKING:
    from sandbox import Job, Sandbox


def record(
    source: str,
    entry: str | None = None,
    *,
    sandbox: str = "auto",
    timeout: float | None = None,
    max_events: int = DEFAULT_MAX_EVENTS,
    cap: int = DEFAULT_CAP,
    backend: str = "auto",
    id: str = "program",  # noqa: A002 - the contract's field name
) -> Trace:
    """Run ``source`` in the sandbox (then call ``entry``, if given) and return its trace.

    ``sandbox``: ``auto`` (Docker when a daemon answers, else bubblewrap),
    ``docker``, ``process`` or ``none`` (a child process under rlimits only,
    not isolated: a warning says so). ``timeout``: wall-clock and CPU seconds
    (``None``: :class:`Limits`' default). ``backend``: the tracer backend
    inside the sandbox (``settrace``, ``monitoring`` for Python 3.12+, ``auto``).

    Whatever the program does ends up in the trace's outcome (``returned``,
    ``raised``, ``timeout``, ``crashed``...). Raises :class:`ProgramError`
    when the source or the entry does not compile, ``ValueError`` for an
    option the sandbox cannot honour, and :class:`SandboxUnavailable` when no
    sandbox can be started. Each call starts a sandbox: for many traces keep a
    :class:`Sandbox` open and call its ``run``/``map``.
    """
    from sandbox import Job, Limits, Sandbox

    times = {} if timeout is None else {"wall_seconds": check_timeout(timeout), "cpu_seconds": timeout}
    job = Job(source, entry, id=id, limits=Limits(max_events=max_events, **times), tracer_backend=backend, cap=cap)
    with Sandbox(sandbox, limits=job.limits) as box:
        return run_checked(box, job)


def run_checked(box: Sandbox, job: Job) -> Trace:
    """Run ``job`` in ``box``, refusing first what the sandbox would fail at.

    Starts the sandbox's worker (:class:`SandboxUnavailable` when it cannot
    start), checks the job's options against it (``ValueError``), runs the
    job and turns a program or entry that does not compile into
    :class:`ProgramError`. The command line and :func:`record` share it.
    """
    from tracer import BACKENDS, Renderer

    if job.tracer_backend not in BACKENDS:
        raise ValueError(f"unknown tracer backend {job.tracer_backend!r} (choose from {', '.join(BACKENDS)})")
    Renderer(job.cap)  # ValueError for a cap too small to render anything
    python = box.describe()["python"]  # starts a worker: SandboxUnavailable if none can
    if job.tracer_backend == "monitoring" and _version(python) < MONITORING_SINCE:
        since = ".".join(map(str, MONITORING_SINCE))
        raise ValueError(f"the monitoring backend needs Python {since}+, the sandbox runs {python}")
    trace = box.run(job)
    outcome = trace.outcome
    if outcome.compile_error is not None:
        raise ProgramError(outcome.detail, outcome.compile_error)
    return trace


def check_timeout(seconds: float) -> float:
    """``seconds`` if it is a usable timeout (see ``sandbox.job.TIMEOUT_RANGE``), else ``ValueError``."""
    from sandbox.job import TIMEOUT_RANGE

    low, high = TIMEOUT_RANGE
    if not low <= seconds <= high:  # also refuses nan
        raise ValueError(f"the timeout must be from {low:g} to {high:g} seconds, got {seconds:g}")
    return seconds


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def record_in_process(source: str | Program, entry: str | None = None, **options: Any) -> Trace:
    """Record ``source`` in THIS process, with no isolation: for trusted code only.

    The program runs in the caller's interpreter: it can read and write the
    caller's files, end the caller with ``os._exit``, or hang it. Faster than
    :func:`record` (no sandbox), and the same trace. ``options`` are those of
    :func:`tracer.record` (``max_events``, ``cap``, ``max_output``,
    ``backend``, ``id``, ``on_stop``).
    """
    return _record_in_process(source, entry, **options)
