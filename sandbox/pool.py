"""A pool of warm fork servers: ``Sandbox.run(job)`` and ``Sandbox.map(jobs)``.

Every job gets exactly one result. A worker whose server dies or hangs is
replaced, and the job it was running gets a trace whose outcome says why
(``crashed``, ``timeout``); an unexpected error becomes ``sandbox_error``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from tracer import Trace

from .errors import SandboxUnavailable
from .image import DEFAULT_IMAGE
from .job import Job, Limits
from .worker import Worker, WorkerDied, WorkerHung, failed

BACKENDS = ("auto", "docker", "process", "none")


def open_backend(name: str = "auto", *, image: str = DEFAULT_IMAGE) -> Any:
    """The backend called ``name``; ``auto`` is docker when a daemon answers, else bubblewrap."""
    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox {name!r} (choose from {', '.join(BACKENDS)})")
    if name == "docker":
        from .docker_backend import DockerBackend

        return DockerBackend(image)
    if name in ("process", "none"):
        from .process_backend import ProcessBackend

        return ProcessBackend(isolate=name == "process")
    reasons = []
    try:
        from .docker_backend import DockerBackend

        return DockerBackend(image)
    except SandboxUnavailable as exc:
        reasons.append(f"docker: {exc}")
    try:
        from .process_backend import ProcessBackend

        return ProcessBackend(isolate=True)
    except SandboxUnavailable as exc:
        reasons.append(f"process: {exc}")
    raise SandboxUnavailable(
        "no sandbox can run here. Start Docker and build the image (`cwm sandbox build-image --offline`), "
        "or install bubblewrap (`apt-get install bubblewrap`); `--sandbox none` runs without isolation. "
        + " | ".join(reasons)
    )


class Sandbox:
    """Runs jobs in isolated, warm fork servers of one backend.

    >>> with Sandbox("process") as box:                          # doctest: +SKIP
    ...     trace = box.run(Job("def f(x):\\n    return x + 1\\n", "f(1)"))
    """

    def __init__(
        self,
        backend: str | Any = "auto",
        *,
        workers: int = 1,
        image: str = DEFAULT_IMAGE,
        limits: Limits | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.backend = open_backend(backend, image=image) if isinstance(backend, str) else backend
        self.workers = workers
        self.limits = limits or Limits()
        self._idle: list[Worker] = []  # warm workers, the last given back first
        self._changed = threading.Condition()  # a worker was given back, or retired
        self._count = 0  # workers started and not retired: never more than ``workers``
        self.python = ""

    # -- workers -------------------------------------------------------------------
    def _take(self) -> Worker:
        """A warm worker, or a new one while fewer than ``workers`` run; else wait for one."""
        with self._changed:
            while not self._idle:
                if self._count < self.workers:
                    self._count += 1
                    break
                self._changed.wait()
            else:
                return self._idle.pop()
        try:
            worker = self.backend.start_worker()
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise
        self.python = worker.python
        return worker

    def _give(self, worker: Worker) -> None:
        with self._changed:
            self._idle.append(worker)
            self._changed.notify()

    def _retire(self, worker: Worker) -> None:
        try:
            self.backend.stop_worker(worker)
        except Exception:  # noqa: BLE001 - it is going away anyway
            pass
        with self._changed:
            self._count -= 1
            self._changed.notify()

    def describe(self) -> dict[str, str]:
        """Which backend, image (or interpreter) and Python version this sandbox uses."""
        worker = self._take()
        self._give(worker)
        return {"backend": self.backend.name, "image": str(self.backend.image), "python": worker.python}

    # -- jobs ------------------------------------------------------------------------
    def job(self, source: str, entry: str | None = None, id: str | None = None) -> Job:  # noqa: A002
        """A job with this sandbox's limits."""
        return Job(source, entry, limits=self.limits) if id is None else Job(source, entry, id, self.limits)

    def run(self, job: Job) -> Trace:
        """Run one job and return its trace (never raises for what the program does)."""
        _check_job(job)
        try:
            worker = self._take()
        except SandboxUnavailable as exc:
            return failed(job, "sandbox_error", str(exc))
        try:
            trace = worker.run(job)
        except WorkerDied as exc:
            self._retire(worker)
            hung = isinstance(exc, WorkerHung)
            return failed(job, "timeout" if hung else "crashed", f"the sandbox {'hung' if hung else 'died'}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one result per job, whatever happens
            self._retire(worker)
            return failed(job, "sandbox_error", f"{type(exc).__name__}: {exc}")
        if worker.retire:
            self._retire(worker)
        else:
            self._give(worker)
        return trace

    def map(
        self, jobs: Iterable[Job], *, progress: bool = False, description: str = "tracing"
    ) -> Iterator[tuple[str, Trace]]:
        """Run jobs on ``workers`` servers at once; yield ``(job id, trace)`` as each finishes."""
        todo: queue.Queue[Job | None] = queue.Queue()
        done: queue.Queue[tuple[str, Trace]] = queue.Queue()
        total = 0
        for job in jobs:
            _check_job(job)  # here, not in a worker thread, where the error would be lost
            todo.put(job)
            total += 1
        for _ in range(self.workers):
            todo.put(None)

        stopping = threading.Event()

        def work() -> None:
            while not stopping.is_set() and (job := todo.get()) is not None:
                done.put((job.id, self.run(job)))

        threads = [threading.Thread(target=work, daemon=True) for _ in range(min(self.workers, max(total, 1)))]
        for thread in threads:
            thread.start()
        bar = _progress(total, description) if progress else None
        try:
            for _ in range(total):
                item = done.get()
                if bar is not None:
                    bar.advance(item[1].outcome.status)
                yield item
        finally:  # also when the caller stops early: let the threads finish their job and go
            stopping.set()
            if bar is not None:
                bar.close()
            for _ in threads:
                todo.put(None)
            for thread in threads:
                thread.join(timeout=self.limits.wall_seconds + 15)

    def close(self) -> None:
        while True:
            with self._changed:
                if not self._idle:
                    break
                worker = self._idle.pop()
            self._retire(worker)
        self.backend.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_job(job: object) -> None:
    if not isinstance(job, Job):
        raise TypeError(
            f"the sandbox runs Job objects, got {type(job).__name__}: make one with "
            "Job(source, entry) or Sandbox.job(source, entry)"
        )


class _progress:
    """Progress of a map on stderr, with live counts of outcomes."""

    def __init__(self, total: int, description: str) -> None:
        from .progress import Progress

        self.counts: dict[str, int] = {}
        self.bar = Progress(description, total=total)

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        self.bar.advance(counts=" ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))

    def close(self) -> None:
        self.bar.close()


def map(  # noqa: A001 - sandbox.map, as the issue and the README name it
    jobs: Iterable[Job], *, workers: int = 1, backend: str = "auto", progress: bool = False
) -> Iterator[tuple[str, Trace]]:
    """Run jobs in a fresh pool of ``workers`` sandboxes; yield ``(job id, trace)`` as each finishes."""
    with Sandbox(backend, workers=workers) as box:
        yield from box.map(jobs, progress=progress)


def run(job: Job, *, backend: str = "auto") -> Trace:
    """Run one job in a fresh sandbox (for many jobs keep a :class:`Sandbox` open)."""
    with Sandbox(backend) as box:
        return box.run(job)
