"""The host's side of one fork server: send a job, read its one result.

A backend starts fork servers (a container, a bubblewrap sandbox, a plain
process) and wraps each one's byte stream in a :class:`Channel`; a
:class:`Worker` speaks the line protocol of ``forkserver.py`` over it and turns
every way the server can fail (it died, it hung, it answered garbage) into a
trace whose outcome says why. The backend then replaces the worker.
"""

from __future__ import annotations

import json
import os
import selectors
import time
from typing import Protocol

from tracer import ContractError, Outcome, Program, Trace

from .job import Job

ANSWER_MARGIN = 10.0  # seconds past a job's wall limit before the server counts as hung
START_TIMEOUT = 60.0
HELLO_LIMIT = 1 << 16  # bytes of the server's first line
REPLY_MARGIN = 1 << 20  # bytes of a reply beyond the trace cap and the program (id, framing, the outcome's own text)


class WorkerDied(Exception):
    """The fork server is gone or hung: the worker must be replaced."""


class WorkerHung(WorkerDied):
    """The fork server did not answer in time (rather than died)."""


class Channel(Protocol):
    def send(self, data: bytes) -> None: ...
    def readline(self, timeout: float, limit: int = ...) -> bytes: ...
    def pending(self) -> bool: ...
    def close(self) -> None: ...


class LineChannel:
    """Reads whole lines from a byte stream; subclasses say how to send and receive bytes."""

    def __init__(self) -> None:
        self._lines = bytearray()  # received payload not yet returned

    def readline(self, timeout: float, limit: int = HELLO_LIMIT) -> bytes:
        """The next line, within ``timeout`` seconds and ``limit`` bytes (past either the server is dropped)."""
        deadline = time.monotonic() + timeout
        while (end := self._lines.find(b"\n")) < 0:
            if len(self._lines) > limit:
                raise WorkerDied(f"the fork server sent more than {limit} bytes for one reply")
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerHung(f"the fork server did not answer within {timeout:.0f}s")
            chunk = self._receive(left)
            if chunk is None:
                raise WorkerHung(f"the fork server did not answer within {timeout:.0f}s")
            if not chunk:
                raise WorkerDied("the fork server closed its output (it died)")
            self._lines += chunk
        line = bytes(self._lines[: end + 1])
        del self._lines[: end + 1]
        return line

    def pending(self) -> bool:
        """Has more been received than the lines returned?"""
        return bool(self._lines)

    def _receive(self, timeout: float) -> bytes | None:
        """Payload bytes (b"" at the end of the stream), or None when ``timeout`` passed."""
        raise NotImplementedError


class FdChannel(LineChannel):
    """A channel over a pair of pipes (a subprocess's stdin and stdout)."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        super().__init__()
        self._write_fd = write_fd
        self._read_fd = read_fd
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._write_fd, view) :]
        except OSError as exc:
            raise WorkerDied(f"cannot write to the fork server: {exc}") from None

    def _receive(self, timeout: float) -> bytes | None:
        if not self._selector.select(timeout):
            return None
        try:
            return os.read(self._read_fd, 1 << 20)
        except OSError as exc:
            raise WorkerDied(f"cannot read from the fork server: {exc}") from None

    def close(self) -> None:
        self._selector.close()


class Worker:
    """One fork server and the protocol to it. Not thread-safe: one job at a time."""

    def __init__(self, channel: Channel, name: str) -> None:
        self.channel = channel
        self.name = name
        hello = self._read(START_TIMEOUT)
        if not hello.get("ready"):
            raise WorkerDied(f"the fork server did not start: {hello!r}")
        self.python: str = hello.get("python", "")
        self.retire = False  # set when the worker must not run another job

    def _read(self, timeout: float, limit: int = HELLO_LIMIT) -> dict:
        line = self.channel.readline(timeout, limit)
        try:
            data = json.loads(line)
        except ValueError:
            raise WorkerDied(f"the fork server sent something that is not JSON: {line[:200]!r}") from None
        if not isinstance(data, dict):
            raise WorkerDied("the fork server sent a reply that is not an object")
        return data

    def run(self, job: Job) -> Trace:
        """Run one job. Raises :class:`WorkerDied` if the server must be replaced."""
        request = json.dumps(job.to_wire(), ensure_ascii=False).encode("utf-8")
        self.channel.send(request + b"\n")
        # the server cuts a trace to max_trace_bytes, or returns an oversized program with no events
        limit = job.limits.max_trace_bytes + 2 * len(request) + REPLY_MARGIN
        reply = self._read(job.limits.wall_seconds + ANSWER_MARGIN, limit)
        if reply.get("retire") or self.channel.pending():
            # the server could not make its sandbox clean after this job (or sent more than
            # one reply): the job's result stands, the worker is replaced before the next
            self.retire = True
        if reply.get("id") != job.id:
            raise WorkerDied(f"the fork server answered job {reply.get('id')!r} while running {job.id!r}")
        if "error" in reply:
            return failed(job, "sandbox_error", f"the fork server could not run the job: {reply['error']}")
        try:
            trace = Trace.from_dict(reply.get("trace"))
        except ContractError as exc:
            return failed(job, "sandbox_error", f"the job's result is not a trace: {exc}")
        if trace.program.source != job.source or trace.program.entry != job.entry:
            return failed(job, "sandbox_error", "the result names another program")
        trace.program.id = job.id
        return trace

    def close(self) -> None:
        self.channel.close()


def failed(job: Job, status: str, detail: str, python: str = "") -> Trace:
    """The result of a job that got no trace of its own."""
    program = Program(id=job.id, source=job.source, entry=job.entry, python=python)
    return Trace(program, [], Outcome(status, detail=detail))  # type: ignore[arg-type]
