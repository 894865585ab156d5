"""The fork server: runs inside the sandbox, one fresh process per job.

Standard library only. It is started as PID 1 of a container (or of a
bubblewrap sandbox) with the ``tracer`` package on ``PYTHONPATH``, imports the
tracer once, then serves jobs read from stdin, one JSON object a line::

    {"id": "j1", "source": "...", "entry": "f(1)" | null,
     "limits": {"wall_seconds": 5, "cpu_seconds": 5, "memory_mb": 512,
                "max_events": 10000, "max_output_bytes": 1000000,
                "max_trace_bytes": 16000000}}

and answers each with exactly one line on stdout::

    {"id": "j1", "trace": {...the trace contract...}}

For every job it forks a child that starts its own session, sets its rlimits
(CPU, address space, file size, open files, processes), points fds 0-2 at
/dev/null and two pipes, and records the program with the tracer; the trace
comes back on a third pipe made for that job alone. The parent enforces the
wall clock (killing the child's whole process group), then, being PID 1,
kills every other process in the sandbox (``kill(-1, SIGKILL)`` spares only
PID 1) and empties the scratch directories, so nothing of a job outlives it.
A job whose child dies without a result gets a trace with an outcome that
says why (``timeout``, ``memory_limit``, ``crashed``).
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import sys
import time
from typing import Any

SCRATCH_DIRS = ("/tmp", "/dev/shm")  # emptied after every job
GRACE_SECONDS = 0.5  # after the wall limit, before the parent kills
DEFAULT_LIMITS = {
    "wall_seconds": 5.0,
    "cpu_seconds": 5.0,
    "memory_mb": 512,
    "max_events": 10_000,
    "max_output_bytes": 1_000_000,
    "max_trace_bytes": 16_000_000,
}
STDERR_KEEP = 64_000  # bytes of raw fd-2 output kept (tracebacks of crashes)


def main() -> None:
    # PID 1 gets no default signal actions; make sure no job can interrupt us
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    import tracer  # noqa: F401 - imported once here, inherited by every child
    from tracer import recorder  # noqa: F401

    if hasattr(sys, "monitoring"):
        from tracer import monitoring_backend  # noqa: F401

    _warm_up()
    stdin = sys.stdin.buffer
    out = sys.stdout.buffer
    out.write(b'{"ready": true, "python": "' + sys.version.split()[0].encode() + b'"}\n')
    out.flush()
    for raw in stdin:
        if not raw.strip():
            continue
        try:
            job = json.loads(raw)
            reply = serve(job)
        except Exception as exc:  # noqa: BLE001 - a bad request must not kill the server
            reply = {"id": _job_id(raw), "error": f"{type(exc).__name__}: {exc}"}
        if not isinstance(reply, bytes):
            reply = json.dumps(reply, ensure_ascii=False).encode("utf-8")
        out.write(reply + b"\n")
        out.flush()


WARM_UP = """\
class Box:
    def __init__(self, items):
        self.items = items

def f(text, n):
    counts = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    words = [w.upper() for w in text.split()]
    print(words, n)
    try:
        n = n // 0
    except ZeroDivisionError:
        n = -1
    return sorted(counts.items()), Box(words), (n, 1.5, None)
"""


def _warm_up() -> None:
    """Trace a small program a few times before serving, so that each forked child
    starts with the tracer's code already specialized by the interpreter: less to
    do, and fewer copy-on-write pages to copy, in every job."""
    import gc

    from tracer import record

    try:
        for _ in range(20):
            record(WARM_UP, "f('a b a c', 3)").to_json()  # (its output is captured)
    except Exception:  # noqa: BLE001 - only a speed-up: serve all the same
        pass
    gc.collect()
    gc.freeze()  # what exists now is never traversed by a child's collections


def _job_id(raw: bytes) -> Any:
    try:
        return json.loads(raw).get("id")
    except Exception:  # noqa: BLE001
        return None


def serve(job: dict[str, Any]) -> dict[str, Any] | bytes:
    limits = {**DEFAULT_LIMITS, **(job.get("limits") or {})}
    result_r, result_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    oom_before = _oom_kills()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(result_r)
        os.close(out_r)
        os.close(err_r)
        _child(job, limits, result_w, out_w, err_w)
    os.close(result_w)
    os.close(out_w)
    os.close(err_w)
    result, stderr_tail, timed_out = _collect(pid, result_r, out_r, err_r, limits)
    status = _reap(pid, timed_out)
    cleanup()
    seconds = time.monotonic() - started
    if _is_own_trace(result, job):
        # the child's JSON as it wrote it: checked, not re-encoded
        return b'{"id": ' + json.dumps(job.get("id")).encode() + b', "trace": ' + result + b"}"
    trace = _failure_trace(job, status, stderr_tail, seconds, oom=_oom_kills() > oom_before)
    return {"id": job.get("id"), "trace": trace}


def _collect(pid: int, result_r: int, out_r: int, err_r: int, limits: dict[str, Any]) -> tuple[bytes, bytes, bool]:
    """Read the child's result pipe (and drain its raw fd 1/2) until EOF or the wall limit."""
    deadline = time.monotonic() + float(limits["wall_seconds"]) + GRACE_SECONDS
    cap = int(limits["max_trace_bytes"])
    result = bytearray()
    err = bytearray()
    open_fds = {result_r, out_r, err_r}
    timed_out = False
    try:
        while result_r in open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(list(open_fds), [], [], left)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == result_r:
                    if len(result) <= cap:
                        result += chunk
                elif fd == err_r and len(err) < STDERR_KEEP:
                    err += chunk
                # raw writes to fd 1 are drained and dropped: the tracer captures print()
    finally:
        for fd in (result_r, out_r, err_r):
            os.close(fd)
    if len(result) > cap:
        result = bytearray()
    return bytes(result), bytes(err[-STDERR_KEEP:]), timed_out


def _reap(pid: int, timed_out: bool) -> str:
    """Make sure the child is gone; say how it ended."""
    if timed_out:
        _kill_group(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "gone"
    if timed_out:
        return "timeout"
    if os.WIFSIGNALED(status):
        return f"signal:{signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit:{os.WEXITSTATUS(status)}"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def cleanup() -> None:
    """Kill every process but this one, reap them, empty the scratch dirs."""
    if os.getpid() != 1:
        return  # not the init of a sandbox: nothing here is ours to kill or delete
    try:
        os.kill(-1, signal.SIGKILL)  # every process we may signal, except PID 1 (us)
    except ProcessLookupError:
        pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.001)
            continue
    for top in SCRATCH_DIRS:  # only inside a sandbox of our own: never a host's /tmp
        _empty(top)


def _empty(top: str) -> None:
    try:
        entries = os.listdir(top)
    except OSError:
        return
    for name in entries:
        path = os.path.join(top, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def _oom_kills() -> int:
    """OOM kills in this cgroup so far (cgroup v2), to tell a memory kill from others."""
    try:
        with open("/sys/fs/cgroup/memory.events") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _is_own_trace(result: bytes, job: dict[str, Any]) -> bool:
    """Is ``result`` one JSON trace of this job's program (fit to pass on as one line)?"""
    if not result or b"\n" in result:
        return False
    try:
        trace = json.loads(result)
    except ValueError:
        return False
    program = trace.get("program") if isinstance(trace, dict) else None
    return (
        isinstance(program, dict)
        and program.get("source") == job.get("source")
        and program.get("entry") == job.get("entry")
    )


def _failure_trace(job: dict[str, Any], how: str, stderr_tail: bytes, seconds: float, *, oom: bool) -> dict[str, Any]:
    """The trace of a job whose child left no result."""
    if how == "timeout":
        status, detail = "timeout", "killed at the wall-clock limit"
    elif oom or how == "signal:SIGKILL":
        status, detail = ("memory_limit", "killed by the memory limit") if oom else ("crashed", "killed by SIGKILL")
    elif how == "signal:SIGXCPU":
        status, detail = "timeout", "killed at the CPU-time limit"
    elif how.startswith("signal:"):
        status, detail = "crashed", f"killed by {how[7:]}"
    elif how.startswith("exit:"):
        status, detail = "crashed", f"the process exited (code {how[5:]}) before the trace was written"
    else:
        status, detail = "sandbox_error", f"the job's process vanished ({how})"
    return {
        "format": 1,
        "program": {
            "id": job.get("id"),
            "source": job.get("source", ""),
            "entry": job.get("entry"),
            "python": sys.version.split()[0],
        },
        "events": [],
        "outcome": {
            "status": status,
            "stdout": "",
            "stderr": stderr_tail.decode("utf-8", "replace"),
            "events": 0,
            "seconds": round(seconds, 6),
            "detail": detail,
        },
    }


# -- the child ---------------------------------------------------------------------
def _child(job: dict[str, Any], limits: dict[str, Any], result_w: int, out_w: int, err_w: int) -> None:
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        result_fd = os.dup2(result_w, 3)
        os.closerange(4, 1 << 16)
        os.chdir("/tmp")
        _set_limits(limits)
        _run(job, limits, result_fd)
    except BaseException:  # noqa: BLE001
        os._exit(70)
    os._exit(0)


def _set_limits(limits: dict[str, Any]) -> None:
    cpu = max(1, int(float(limits["cpu_seconds"]) + 0.999))
    memory = int(limits["memory_mb"]) * 1024 * 1024
    for name, soft, hard in (
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_AS", memory, memory),
        ("RLIMIT_FSIZE", 16 * 1024 * 1024, 16 * 1024 * 1024),
        ("RLIMIT_NOFILE", 64, 64),
        ("RLIMIT_NPROC", 64, 64),
        ("RLIMIT_CORE", 0, 0),
    ):
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (ValueError, OSError):
            pass


def _run(job: dict[str, Any], limits: dict[str, Any], result_fd: int) -> None:
    from tracer import Outcome, Program, ProgramError, Trace

    write = os.write  # held before the program runs
    dumps = json.dumps
    cap = int(limits["max_trace_bytes"])
    exit_now = os._exit

    def send(trace: Any) -> None:
        data = trace.to_dict()
        text = dumps(data, ensure_ascii=False).encode("utf-8")
        while len(text) > cap and data["events"]:  # too big: keep the first events
            data["events"] = data["events"][: len(data["events"]) // 2]
            data["outcome"]["detail"] = (data["outcome"]["detail"] + "; " if data["outcome"]["detail"] else "") + (
                f"trace cut to {len(data['events'])} events (max_trace_bytes)"
            )
            text = dumps(data, ensure_ascii=False).encode("utf-8")
        view = memoryview(text)
        while view:
            view = view[write(result_fd, view) :]

    def stop_now(trace: Any) -> None:  # a limit: send what we have, end at once
        send(trace)
        exit_now(0)

    current: dict[str, Any] = {}

    def on_time(signum: int, frame: Any) -> None:
        rec = current.get("recorder")
        if rec is not None and rec.status is not None:
            return  # the run is over: its trace is being written
        if rec is not None:
            what = "wall-clock" if signum == signal.SIGALRM else "CPU-time"
            rec.stop("timeout", f"stopped at the {what} limit")
        exit_now(0)

    signal.signal(signal.SIGALRM, on_time)
    signal.signal(signal.SIGXCPU, on_time)
    signal.setitimer(signal.ITIMER_REAL, float(limits["wall_seconds"]))
    from tracer.recorder import Recorder

    program = Program(
        id=str(job.get("id")), source=job.get("source", ""), entry=job.get("entry"), python=sys.version.split()[0]
    )
    try:
        recorder = Recorder(
            program,
            max_events=int(limits["max_events"]),
            max_output=int(limits["max_output_bytes"]),
            cap=int(job.get("cap") or 200),
            backend=str(job.get("backend") or "auto"),
            on_stop=stop_now,
            reserve=16 * 1024 * 1024,  # to write the trace if the run exhausts memory
        )
        current["recorder"] = recorder
        trace = recorder.run()
    except MemoryError:
        signal.setitimer(signal.ITIMER_REAL, 0)
        send(Trace(program, [], Outcome("memory_limit", detail="ran out of memory (address-space limit)")))
        return
    except ProgramError as exc:  # does not compile: what running it would do
        signal.setitimer(signal.ITIMER_REAL, 0)
        send(Trace(program, [], Outcome("raised", value=f"SyntaxError({str(exc)!r})", detail=str(exc))))
        return
    except Exception as exc:  # noqa: BLE001 - e.g. a tracer backend this interpreter lacks
        signal.setitimer(signal.ITIMER_REAL, 0)
        send(Trace(program, [], Outcome("sandbox_error", detail=f"{type(exc).__name__}: {exc}")))
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    if trace.outcome.status == "raised" and (trace.outcome.value or "").startswith("MemoryError"):
        trace.outcome.status = "memory_limit"
        trace.outcome.detail = "raised MemoryError at the address-space limit"
    send(trace)


if __name__ == "__main__":
    main()
