"""The fork server: runs inside the sandbox, one fresh process per job.

Standard library only. It is started as PID 1 of a container (or of a
bubblewrap sandbox) with the ``tracer`` package on ``PYTHONPATH``, imports the
tracer once, then serves jobs read from stdin, one JSON object a line::

    {"id": "j1", "source": "...", "entry": "f(1)" | null,
     "limits": {"wall_seconds": 5, "cpu_seconds": 5, "memory_mb": 512,
                "max_events": 10000, "max_output_bytes": 1000000,
                "max_trace_bytes": 16000000}}             (all of them: see sandbox.job.Limits)

and answers each with exactly one line on stdout::

    {"id": "j1", "trace": {...the trace contract...}}        (+ "retire": true)

Three roles, so that no job can see or touch another's data:

- **init** (PID 1) forks every job's process, from a memory that no job's
  request or trace ever entered (it passes only file descriptors and numbers),
  enforces the wall clock, and after each job kills every other process and
  empties what a job could leave for the next (scratch directories, System V
  IPC, keyrings);
- the **broker**, forked once at start, speaks to the host: it reads each
  request, hands it to the job in a memfd that also holds the job's *journal*
  (the job maps it and then closes the fd, so no file descriptor of the job's
  leads to it), drains the job's raw fd 1/2, reads the journal once the job has
  ended and writes the reply. It never forks;
- the **job's process** starts its own session, sets its rlimits, points fds
  0-2 at /dev/null and two pipes, and records the program; a thread copies the
  events recorded so far into the journal every few milliseconds, and the end
  of the run adds the outcome; before a call that could end the process at
  once (a kill, exec, fork, ctypes: ``FLUSH_BEFORE``), an audit hook copies them
  out first. So a job that hangs, is killed or writes junk into every fd still
  comes back with its events.

Every process here is not dumpable, so a job (same uid, no capabilities)
cannot open another's /proc/PID/fd, read its memory or ptrace it. A job whose
process ends without an outcome gets one that says why (``timeout``,
``memory_limit``, ``crashed``); a job after which the sandbox could not be made
clean is answered with ``"retire": true``, and the host replaces the sandbox.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # signal's C half: raise_signal is wrapped in both
import _thread
import functools
import json
import mmap
import operator
import os
import platform
import posix
import re
import resource
import select
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: this module runs on the standard library alone
    from tracer.contract import Status

SCRATCH_DIRS = ("/tmp", "/dev/shm", "/dev/mqueue")  # emptied after every job
_exit = os._exit  # the real one: a job's program may replace os._exit (and is given a wrapper)
# What the job's process calls once its program runs, bound here: the program shares that process
# and may replace any module's names (json.dumps, os.getpid, time.sleep, signal.setitimer, ...),
# which must change its own run only, never lose its trace.
_getpid = os.getpid
_listdir = os.listdir
_sleep = time.sleep
_monotonic = time.monotonic
_perf_counter = time.perf_counter
_setitimer = signal.setitimer
_set_handler = signal.signal
_sigmask = signal.pthread_sigmask
_raise_signal = signal.raise_signal
_start_thread = _thread.start_new_thread
_index = operator.index
SIGALRM, SIG_DFL, SIG_IGN, SIG_BLOCK, ITIMER_REAL = (
    signal.SIGALRM, signal.SIG_DFL, signal.SIG_IGN, signal.SIG_BLOCK, signal.ITIMER_REAL
)  # fmt: skip
_to_json = json.JSONEncoder(ensure_ascii=False).encode
_to_json_ascii = json.JSONEncoder().encode
PYTHON = sys.version.split()[0]
FORMAT = 1  # tracer.contract.FORMAT_VERSION (checked by the host, which reads the trace)
FLUSH_SECONDS = 0.01  # how often a running job's events are copied out to the journal
# A job still running after this long is sent FLUSH_SIGNAL, which starts its flusher thread:
# most jobs end sooner, and a thread costs a short job a tenth of its time. A program that
# touches signals, threads or ctypes (and so could block that signal) gets its flusher at once.
FLUSHER_AFTER_SECONDS = 0.005
FLUSH_SIGNAL = signal.SIGRTMIN + 2
# and again this often after (ignored once the flusher runs): a flusher ended for a fork of the
# program starts at the next one
FLUSH_SIGNAL_AGAIN_SECONDS = 0.05
# compiled here, once: compiled in each job's process it cost a fifth of a short job (parsing
# the pattern touches pages the child must then copy)
EAGER_FLUSH = re.compile(
    r"\b(signal|ctypes|_?thread|threading|builtins|importlib|__import__)\b|(?<![.\w])(exec|eval|compile)\s*\("
)
# audit events (PEP 578) after which the job's process may end at once, before any flush: killed
# by itself or by a process it starts, replaced by exec, crashed in a foreign function. The events
# recorded so far are copied out first (an audit hook cannot be removed, and sees through getattr,
# posix.* and the like).
FLUSH_BEFORE = frozenset(
    {"os.kill", "os.killpg", "signal.pthread_kill", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
     "os.spawn", "os.system", "subprocess.Popen"}
)  # fmt: skip
FORKS = frozenset({"os.fork", "os.forkpty"})  # after which CPython 3.12+ warns if the process has threads
MIN_TIMER_SECONDS = 0.001  # a shorter wall limit would switch the alarm off
REQUEST_BUFFER_MAX = 1 << 26  # host input read ahead while a job runs
GRACE_SECONDS = 0.5  # after the wall limit, before init kills
CLEANUP_SECONDS = 5.0  # at most, to make the sandbox clean after a job; past it the sandbox is retired
BROKER_MARGIN = 30.0  # seconds past a job's wall limit before the broker gives up on init
# the limits every request carries (sandbox.job.Limits, the one definition of their defaults)
LIMIT_NAMES = ("wall_seconds", "cpu_seconds", "memory_mb", "max_events", "max_output_bytes", "max_trace_bytes")
STDERR_KEEP = 64_000  # bytes of raw fd-2 output kept (tracebacks of crashes)
PR_SET_DUMPABLE = 4
IPC_RMID = 0
SHM_INFO, MSG_INFO, SEM_INFO = 14, 12, 19  # <sys/shm.h>, <sys/msg.h>, <sys/sem.h>: how many exist
KEYCTL_CLEAR = 7
KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -4, -5
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
SIGNALS_IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT)


def main() -> None:
    channel = os.environ.pop("CWM_CHANNEL", None)
    if channel:  # the host listens there, once: speak to it on fds 0 and 1 as on a pipe
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(channel)
        os.dup2(sock.fileno(), 0)
        os.dup2(sock.fileno(), 1)
        sock.close()
    # PID 1 gets no default signal actions; make sure no job can interrupt us
    for sig in SIGNALS_IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    # held back in every job's process until its handler is set (see _run): it must never kill one
    signal.pthread_sigmask(signal.SIG_BLOCK, {FLUSH_SIGNAL})
    _make_unreachable()
    import tracer  # noqa: F401 - imported once here, inherited by every child
    from tracer import recorder  # noqa: F401

    if hasattr(sys, "monitoring"):
        from tracer import monitoring_backend  # noqa: F401

    _warm_up()
    to_broker, to_init = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    broker = os.fork()
    if broker == 0:
        to_broker.close()
        try:
            Broker(to_init).serve()
        finally:
            os._exit(0)
    to_init.close()
    Init(to_broker, broker).serve()


class HostGone(Exception):
    """The host closed the server's input: it is gone, and so must we be."""


class Requests:
    """Lines read from the host on ``fd``, readable in pieces while a job runs."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.closed = False

    def fill(self) -> bool:
        """Read what is there (the fd is readable); False at the end of the input."""
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def next_line(self) -> bytes | None:
        while (end := self.buffer.find(b"\n")) < 0:
            if self.closed or not self.fill():
                return None
        line = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        return line


@functools.cache
def _libc() -> Any:
    """The C library, for the few calls the standard library lacks (loaded once, in init)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _make_unreachable() -> None:
    """Mark this process not dumpable, so that no job (same uid, no capabilities)
    can open its /proc/1/fd/* (the channel to the host), read its memory or ptrace it.
    Children inherit the mark. Outside a sandbox of our own (PID 1) it is only a
    hardening; inside one, a server that cannot set it refuses to serve."""
    try:
        import ctypes

        if _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    except Exception as exc:  # noqa: BLE001
        if os.getpid() == 1:
            sys.stderr.write(f"forkserver: cannot protect the server's channel: {exc}\n")
            sys.exit(70)


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
    try:  # give back the C heap the imports freed (compiling the tracer): each fork copies a
        _libc().malloc_trim(0)  # tenth fewer page-table entries, and each child unmaps fewer
    except (AttributeError, OSError):  # not glibc: keep it
        pass


def _job_id(raw: bytes) -> Any:
    try:
        return json.loads(raw).get("id")
    except Exception:  # noqa: BLE001
        return None


# -- init: PID 1 ----------------------------------------------------------------------
class Init:
    """Forks each job's process and cleans up after it; never holds a job's data.

    Messages from the broker (one datagram each): ``F<seconds>`` with the job's
    three file descriptors (the job's memfd, its fd 1 and fd 2; fork it, and once
    it has ended and the sandbox is cleaned up, answer ``X<1 if clean, else 0><how
    it ended>``), ``Q`` (quit).
    """

    def __init__(self, sock: socket.socket, broker: int) -> None:
        self.sock = sock
        self.broker = broker
        self.pids_cgroup = _pids_cgroup()

    def serve(self) -> None:
        while True:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 64, 3)
            except OSError:
                msg, fds = b"", []
            op = msg[:1]
            if op == b"F" and len(fds) == 3:
                wall, cpu = msg[1:].split()
                self.fork_job(float(wall), int(cpu), fds)
            else:  # Q, or the broker is gone
                for fd in fds:
                    os.close(fd)
                self.quit()

    def fork_job(self, seconds: float, cpu_seconds: int, fds: list[int]) -> None:
        pid = os.fork()
        if pid == 0:  # the job's process: never returns
            self.sock.close()
            _child(*fds, nproc=self.pids_cgroup is None)
        for fd in fds:
            os.close(fd)
        how = self.wait(pid, seconds, cpu_seconds)
        clean = cleanup(spare=self.broker, pids_cgroup=self.pids_cgroup)
        self.sock.send(b"X" + (b"1" if clean else b"0") + how.encode())

    def wait(self, pid: int, seconds: float, cpu_seconds: int) -> str:
        """Wait for the job's process to end, killing it at the deadline; how it ended.

        The kernel's SIGKILL at the hard CPU limit (a program that never let SIGXCPU's handler
        run) is told from any other SIGKILL by the CPU time the process used."""
        started = time.monotonic()
        deadline = started + seconds
        flush_at = started + FLUSHER_AFTER_SECONDS
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # an old kernel: poll the child instead
        watched: list[Any] = [self.sock] if pidfd is None else [self.sock, pidfd]
        try:
            while True:
                now = time.monotonic()
                left = deadline - now
                if left <= 0:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    return "timeout"
                if now >= flush_at:  # still running: from now on its events are copied out as it goes
                    flush_at = now + FLUSH_SIGNAL_AGAIN_SECONDS
                    try:
                        os.kill(pid, FLUSH_SIGNAL)
                    except ProcessLookupError:
                        pass
                wait = min(left, flush_at - now)
                ready, _, _ = select.select(watched, [], [], wait if pidfd is not None else min(wait, 0.005))
                if self.sock in ready and self.sock.recv(64)[:1] in (b"Q", b""):
                    _kill_group(pid)
                    self.quit()
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if done:
                    if os.WIFSIGNALED(status):
                        killed = os.WTERMSIG(status)
                        if killed == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= cpu_seconds - 0.05:
                            return "signal:SIGXCPU"  # as if it had come to the soft limit's signal
                        return f"signal:{_signal_name(killed)}"
                    return f"exit:{os.WEXITSTATUS(status)}"
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def quit(self) -> None:
        if os.getpid() == 1:
            try:
                os.kill(-1, signal.SIGKILL)  # the broker too: the sandbox ends with us
            except ProcessLookupError:
                pass
        else:
            _kill_group(self.broker)
        os._exit(0)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal past SIGRTMIN
        return f"signal {number}"


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _pids_cgroup() -> str | None:
    """This sandbox's pids cgroup (v2, else v1), when one caps it: then no job gets
    RLIMIT_NPROC, which counts every process of the uid on the whole machine (all
    containers run as nobody), and its task count tells cleanup when nothing is left."""
    for where in ("/sys/fs/cgroup", "/sys/fs/cgroup/pids"):
        try:
            with open(f"{where}/pids.max") as f:
                if f.read().strip().isdigit():
                    return where
        except OSError:
            continue
    return None


def _tasks(pids_cgroup: str | None) -> int:
    """The tasks (threads) in the pids cgroup, or -1 where that is not known."""
    if pids_cgroup is None:
        return -1
    try:
        fd = os.open(f"{pids_cgroup}/pids.current", os.O_RDONLY)
    except OSError:
        return -1
    try:
        return int(os.read(fd, 64))
    except ValueError:
        return -1
    finally:
        os.close(fd)


def cleanup(spare: int, pids_cgroup: str | None = None) -> bool:
    """Kill every process but init and ``spare``, and remove what a job could leave for the
    next; False when that could not be done in time (the sandbox must then be retired)."""
    if os.getpid() != 1:
        return True  # not the init of a sandbox: nothing here is ours to kill or delete
    deadline = time.monotonic() + CLEANUP_SECONDS
    while True:
        while True:  # reap what has ended (a job's orphans are ours)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == spare:
                return False  # the broker is gone: init quits on its next message
        if _tasks(pids_cgroup) == 2:  # init and the broker alone: nothing to kill
            break
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, spare)]
        if not others:
            break
        if time.monotonic() > deadline:
            return False
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.0002)
    clean = True
    for top in SCRATCH_DIRS:  # only inside a sandbox of our own: never a host's /tmp
        clean = _empty(top, deadline) and clean
    return _remove_ipc() and _clear_keyrings() and clean


def _empty(top: str, deadline: float) -> bool:
    """Remove everything under ``top`` (however deep, whatever its modes); is it empty now?"""
    try:
        if not os.listdir(top):
            return True
    except OSError:
        return True  # no such directory here
    try:
        top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return True  # no such directory here
    stack = [top_fd]
    try:
        while stack:
            if time.monotonic() > deadline or len(stack) > 512:
                return False
            fd = stack[-1]
            deeper = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            os.chmod(name, 0o700, dir_fd=fd)
                            try:
                                os.rmdir(name, dir_fd=fd)
                            except OSError:  # not empty: go in
                                deeper = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                                break
                        else:
                            os.unlink(name, dir_fd=fd)
                    except OSError:
                        return False
            if deeper is not None:
                stack.append(deeper)
            elif fd != top_fd:
                os.close(stack.pop())  # empty now: its parent removes it on its next scan
            else:
                return not os.listdir(top)
    finally:
        for fd in stack:
            os.close(fd)
    return True


def _remove_ipc() -> bool:
    """Remove the System V shared memory, semaphores and message queues a job made."""
    if not _ipc_in_use():
        return True
    found = _ipc_objects()
    if not found:
        return True
    libc = _libc()
    for kind, ipc_id in found:
        if kind == "shm":
            libc.shmctl(ipc_id, IPC_RMID, None)
        elif kind == "sem":
            libc.semctl(ipc_id, 0, IPC_RMID)
        else:
            libc.msgctl(ipc_id, IPC_RMID, None)
    return not _ipc_objects()


@functools.cache
def _ipc_info() -> Any:
    import ctypes

    return (ctypes.c_int * 32)()  # room for struct shm_info, msginfo and seminfo


def _ipc_in_use() -> bool:
    """Does any System V IPC object exist here? Three syscalls, where reading
    /proc/sysvipc costs a job a few percent of its time; True when unsure."""
    libc, info = _libc(), _ipc_info()
    try:  # the counts of what exists: shm_info.used_ids, msginfo.msgpool, seminfo.semusz
        return (
            libc.shmctl(0, SHM_INFO, info) < 0
            or info[0] != 0
            or libc.msgctl(0, MSG_INFO, info) < 0
            or info[0] != 0
            or libc.semctl(0, 0, SEM_INFO, info) < 0
            or info[7] != 0
        )
    except Exception:  # noqa: BLE001 - no such calls here: look in /proc
        return True


def _ipc_objects() -> list[tuple[str, int]]:
    found = []
    for kind in ("shm", "sem", "msg"):
        try:
            fd = os.open(f"/proc/sysvipc/{kind}", os.O_RDONLY)
        except OSError:
            continue
        try:
            rows = os.read(fd, 1 << 20).splitlines()[1:]
        finally:
            os.close(fd)
        found += [(kind, int(row.split()[1])) for row in rows if len(row.split()) > 1]
    return found


_keyrings = [SYS_KEYCTL is not None]  # cleared after each job while the kernel lets us


def _clear_keyrings() -> bool:
    """Empty the uid's own keyrings, which outlive a job (Docker's seccomp forbids them anyway)."""
    if not _keyrings[0]:
        return True
    for ring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        if _libc().syscall(SYS_KEYCTL, KEYCTL_CLEAR, ring) != 0:
            _keyrings[0] = False  # no keyrings here (ENOSYS, or a seccomp EPERM): none to leave
            return True
    return True


# -- the broker: speaks to the host ---------------------------------------------------
class Broker:
    """Reads the host's requests, runs each through init, and answers it. Never forks."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.oom_kills = _oom_kills()

    def serve(self) -> None:
        _write_all(1, b'{"ready": true, "python": "' + PYTHON.encode() + b'"}\n')
        requests = Requests(0)
        try:
            while (raw := requests.next_line()) is not None:
                if not raw.strip():
                    continue
                try:
                    reply = self.run(json.loads(raw), raw, requests)
                except HostGone:
                    break
                except Exception as exc:  # noqa: BLE001 - a bad request must not kill the server
                    reply = json.dumps({"id": _job_id(raw), "error": f"{type(exc).__name__}: {exc}"}).encode()
                _write_all(1, reply + b"\n")
        finally:
            try:
                self.sock.send(b"Q")
            except OSError:
                pass

    def run(self, job: dict[str, Any], raw: bytes, requests: Requests) -> bytes:
        """One job, from its request line to its reply line (without the newline)."""
        limits = _limits(job)
        cap = int(limits["max_trace_bytes"])
        program = {"id": job.get("id"), "source": job.get("source", ""), "entry": job.get("entry"), "python": PYTHON}
        program_json = _encode(_compact(program))
        started = time.monotonic()
        if len(program_json) > cap:
            detail = f"the program alone is {len(program_json)} bytes, over max_trace_bytes ({cap})"
            return _reply(job, program_json, [], _encode({"status": "trace_limit", "detail": detail}))
        memfd = os.memfd_create("cwm-job")  # the request, then (page-aligned) the journal
        where = _journal_offset(len(raw))
        size = JOURNAL_HEADER + cap + _outcome_room(limits)
        try:
            os.ftruncate(memfd, where + size)
            _write_all(memfd, len(raw).to_bytes(8, "little") + raw)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            wall = float(limits["wall_seconds"]) + GRACE_SECONDS
            socket.send_fds(self.sock, [b"F%r %d" % (wall, _cpu_limits(limits)[1])], [memfd, out_w, err_w])
            os.close(out_w)
            os.close(err_w)
            how, clean, stderr_tail = self.collect(out_r, err_r, requests, wall + BROKER_MARGIN)
            seconds = time.monotonic() - started
            with mmap.mmap(memfd, size, offset=where) as journal:
                frames = _read_journal(journal)
        finally:
            os.close(memfd)
        oom_kills = _oom_kills()  # read once a job: nothing but the job runs between two readings
        oom, self.oom_kills = oom_kills > self.oom_kills, oom_kills
        reply = _assemble(job, program_json, frames, how, stderr_tail, seconds, cap, oom=oom)
        return reply[:-1] + b', "retire": true}' if not clean else reply

    def collect(self, out_r: int, err_r: int, requests: Requests, timeout: float) -> tuple[str, bool, bytes]:
        """Drain the job's raw fd 1/2 until init says it ended: how, whether the sandbox is clean, fd 2's tail.

        Watches the host's input too: when the host goes away, init is told to
        kill the job and quit, so a killed host leaves nothing running.
        """
        deadline = time.monotonic() + timeout
        err = bytearray()
        watched: list[Any] = [out_r, err_r, self.sock]
        if not requests.closed:
            watched.append(requests.fd)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HostGone()
                ready, _, _ = select.select(watched, [], [], left)
                for fd in ready:
                    if fd is self.sock:
                        msg = self.sock.recv(64)
                        if not msg:
                            raise HostGone()
                        if msg[:1] == b"X":
                            for _ in range(16):  # what it wrote to fd 2 just before it ended
                                if err_r not in watched or not select.select([err_r], [], [], 0)[0]:
                                    break
                                chunk = os.read(err_r, 1 << 16)
                                if not chunk:
                                    break
                                if len(err) < STDERR_KEEP:
                                    err += chunk
                            return msg[2:].decode(), msg[1:2] == b"1", bytes(err[-STDERR_KEEP:])
                    elif fd == requests.fd:
                        if not requests.fill():
                            self.sock.send(b"Q")  # the host is gone: so is the job, and the sandbox
                            raise HostGone()
                        if len(requests.buffer) > REQUEST_BUFFER_MAX:
                            watched.remove(fd)  # the host sends one job at a time: stop reading ahead
                    else:
                        chunk = os.read(fd, 1 << 16)
                        if not chunk:
                            watched.remove(fd)
                        elif fd == err_r and len(err) < STDERR_KEEP:
                            err += chunk
                        # raw writes to fd 1 are drained and dropped: the tracer captures print()
        finally:
            os.close(out_r)
            os.close(err_r)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _limits(job: dict[str, Any]) -> dict[str, Any]:
    """The job's limits; a request without all of them is refused (the host always sends them)."""
    limits: Any = job.get("limits")  # JSON from the host, checked below
    missing = [name for name in LIMIT_NAMES if not isinstance(limits, dict) or name not in limits]
    if missing:
        raise ValueError(f"the request lacks the limits {', '.join(missing)}")
    return limits


OOM_COUNTERS = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")  # v2, v1


@functools.cache
def _oom_counter() -> str | None:
    """The file of this cgroup that counts its OOM kills (looked for once)."""
    return next((path for path in OOM_COUNTERS if os.path.exists(path)), None)


def _oom_kills() -> int:
    """OOM kills in this cgroup so far, to tell a memory kill from others."""
    path = _oom_counter()
    if path is None:
        return 0
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# -- the journal: where the child's trace comes back ---------------------------------
# The part of a job's memfd after its request; the job's process maps it and closes the fd before the
# program runs. It appends frames and then publishes their total length in the
# header; the broker reads it once the process has ended, however it ended. No
# file descriptor of the job's leads to it, so nothing the program writes anywhere
# can garble it, and a job whose process is killed or hangs still leaves every
# event flushed before.
#   b"E" + JSON list of events + b"\n"   (events, in order)
#   b"O" + JSON {"outcome": ..., "events": N} + b"\n"   (the end: N events in all)
JOURNAL_HEADER = 8  # bytes: the length of the frames written so far, little-endian


def _outcome_room(limits: dict[str, Any]) -> int:
    """Bytes kept for the outcome frame: stdout and stderr, each up to 6 bytes a character in JSON."""
    return 12 * int(limits["max_output_bytes"]) + (1 << 20)


def _read_journal(journal: mmap.mmap) -> list[bytes]:
    """The frames the child published, whole ones only (a job may have written anything)."""
    size = min(int.from_bytes(journal[:JOURNAL_HEADER], "little"), len(journal) - JOURNAL_HEADER)
    body = journal[JOURNAL_HEADER : JOURNAL_HEADER + size]
    return body.split(b"\n")[:-1]  # after the last newline: nothing, or a frame cut short


def _assemble(
    job: dict[str, Any],
    program_json: bytes,
    frames: list[bytes],
    how: str,
    stderr_tail: bytes,
    seconds: float,
    cap: int,
    *,
    oom: bool,
) -> bytes:
    """The reply for a job: its events from the journal and its outcome, cut to ``cap`` bytes."""
    batches: list[bytes] = []
    counted: list[int] = []  # events in each batch
    outcome: dict[str, Any] | None = None
    total = None
    for frame in frames:
        kind, payload = frame[:1], frame[1:].strip()
        try:
            data = json.loads(payload)
        except ValueError:
            break  # not ours: the program wrote into its own journal; keep what came before
        if kind == b"E" and isinstance(data, list) and payload[:1] == b"[" and payload[-1:] == b"]":
            if data:
                batches.append(payload)
                counted.append(len(data))
        elif kind == b"O" and isinstance(data, dict) and isinstance(data.get("outcome"), dict):
            outcome, total = data["outcome"], data.get("events")
            break
        else:
            break
    if isinstance(total, int) and 0 <= total < sum(counted):  # the run dropped events it had flushed
        batches, counted = _first_events(batches, counted, total)
    if outcome is None:
        outcome = _failure_outcome(how, stderr_tail, seconds, sum(counted), oom=oom)
    recorded = total if isinstance(total, int) and total > sum(counted) else sum(counted)  # the journal filled up
    outcome["events"] = sum(counted)
    outcome_json = _fit_outcome(outcome, cap - len(program_json) - 4096)
    room = cap - len(program_json) - len(outcome_json) - 64
    n = sum(counted)
    if sum(len(b) for b in batches) > room:  # over the cap: keep the first events that fit
        kept: list[bytes] = []
        used = 0
        for batch in batches:
            if used + len(batch) <= room:
                kept.append(batch)
                used += len(batch)
                continue
            events = json.loads(batch)
            while events and used + len(part := _encode(events)) > room:
                events = events[: len(events) // 2]
            if events:
                kept.append(part)
            break
        batches = kept
        n = sum(len(json.loads(b)) for b in batches)
    if n < recorded:
        ended = outcome["status"]
        outcome["status"] = "trace_limit"
        outcome["detail"] = (
            f"the trace passed max_trace_bytes ({cap}): the first {n} of {recorded} events are kept; "
            f"the run ended {ended}" + (f" ({outcome['detail']})" if outcome.get("detail") else "")
        )
        outcome["events"] = n
        outcome_json = _fit_outcome(outcome, cap - len(program_json) - 4096)
    return _reply(job, program_json, batches, outcome_json)


def _fit_outcome(outcome: dict[str, Any], room: int) -> bytes:
    """The outcome as JSON in at most ``room`` bytes: its stdout and stderr are cut if need be."""
    text = _encode(outcome)
    cut = False
    while len(text) > room and (outcome.get("stdout") or outcome.get("stderr")):
        longer = "stdout" if len(outcome.get("stdout") or "") >= len(outcome.get("stderr") or "") else "stderr"
        outcome[longer] = outcome[longer][: len(outcome[longer]) // 2]
        cut = True
        text = _encode(outcome)
    if cut:
        outcome["detail"] = (
            (outcome.get("detail") or "")
            + ("; " if outcome.get("detail") else "")
            + "the outcome's stdout/stderr were cut to fit max_trace_bytes"
        )
        text = _encode(outcome)
    return text


def _first_events(batches: list[bytes], counted: list[int], total: int) -> tuple[list[bytes], list[int]]:
    kept, kept_counts, n = [], [], 0
    for batch, count in zip(batches, counted, strict=True):
        if n + count <= total:
            kept.append(batch)
            kept_counts.append(count)
            n += count
            continue
        if total > n:
            kept.append(_encode(json.loads(batch)[: total - n]))
            kept_counts.append(total - n)
        break
    return kept, kept_counts


def _reply(job: dict[str, Any], program_json: bytes, batches: list[bytes], outcome_json: bytes) -> bytes:
    """``{"id": ..., "trace": ...}`` from JSON parts, joined as they are (not decoded again)."""
    events = b", ".join(b[1:-1] for b in batches)
    return (
        b'{"id": ' + _encode(job.get("id")) + b', "trace": {"format": ' + str(FORMAT).encode()
        + b', "program": ' + program_json + b', "events": [' + events + b'], "outcome": ' + outcome_json + b"}}"
    )  # fmt: skip


def _encode(value: Any) -> bytes:
    """JSON as UTF-8; text that is not valid Unicode (lone surrogates) is written escaped."""
    try:
        return _to_json(value).encode("utf-8")
    except UnicodeEncodeError:
        return _to_json_ascii(value).encode("ascii")


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _failure_outcome(how: str, stderr_tail: bytes, seconds: float, events: int, *, oom: bool) -> dict[str, Any]:
    """The outcome of a job whose child ended without writing one."""
    status: Status
    if how == "timeout":
        status, detail = "timeout", "killed at the wall-clock limit"
    elif oom or how == "signal:SIGKILL":
        status, detail = ("memory_limit", "killed by the memory limit") if oom else ("crashed", "killed by SIGKILL")
    elif how == "signal:SIGXCPU":
        status, detail = "timeout", "killed at the CPU-time limit"
    elif how.startswith("signal:"):
        status, detail = "crashed", f"killed by {how[7:]}"
    elif how.startswith("exit:"):
        status, detail = "crashed", f"the process exited (code {how[5:]}) before the trace was finished"
    else:
        status, detail = "sandbox_error", f"the job's process vanished ({how})"
    if events:
        detail += f"; the {events} events recorded before are kept"
    from tracer import Outcome  # the contract's own shape (imported once, before any job)

    outcome = Outcome(status, None, "", stderr_tail.decode("utf-8", "replace"), events, round(seconds, 6), detail)
    return _compact(outcome.__dict__)


# -- the job's process ------------------------------------------------------------------
def _child(memfd: int, out_w: int, err_w: int, *, nproc: bool) -> None:
    try:
        os.setsid()
        for sig in SIGNALS_IGNORED:  # as a program started from a shell has them: Ctrl-C raises
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        length = int.from_bytes(os.pread(memfd, 8, 0), "little")
        job = json.loads(os.pread(memfd, length, 8))
        where = _journal_offset(length)
        journal = mmap.mmap(memfd, os.fstat(memfd).st_size - where, offset=where)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)  # the memfd too (the journal stays mapped): no fd leads to it
        os.chdir("/tmp")
        limits = _limits(job)
        _set_limits(limits, nproc=nproc, journal=len(journal))
        _run(job, limits, journal)
    except BaseException:  # noqa: BLE001
        _exit(70)
    _exit(0)


def _journal_offset(request_bytes: int) -> int:
    """Where the journal starts in a job's memfd: after its request, on a page boundary."""
    page = mmap.ALLOCATIONGRANULARITY
    return (8 + request_bytes + page - 1) // page * page


def _cpu_limits(limits: dict[str, Any]) -> tuple[int, int]:
    """RLIMIT_CPU's soft limit (SIGXCPU, which ends the run as a timeout) and hard one (SIGKILL)."""
    cpu = max(1, int(float(limits["cpu_seconds"]) + 0.999))
    return cpu, cpu + 1


def _set_limits(limits: dict[str, Any], *, nproc: bool, journal: int) -> None:
    """The job's rlimits. The journal is already mapped: its size is the sandbox's, on top of
    the program's ``memory_mb`` (else a large ``max_trace_bytes`` would leave it none)."""
    memory = int(limits["memory_mb"]) * 1024 * 1024 + journal
    rlimits = [
        ("RLIMIT_CPU", *_cpu_limits(limits)),
        ("RLIMIT_AS", memory, memory),
        ("RLIMIT_FSIZE", 16 * 1024 * 1024, 16 * 1024 * 1024),
        ("RLIMIT_NOFILE", 64, 64),
        ("RLIMIT_CORE", 0, 0),
    ]
    if nproc:  # else a pids cgroup caps the sandbox
        rlimits.append(("RLIMIT_NPROC", 64, 64))
    for name, soft, hard in rlimits:
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (ValueError, OSError):
            pass


class Journal:
    """The child's side of the journal: frames appended, their length published after each.

    A thread flushes the events recorded so far every ``FLUSH_SECONDS``, so a
    program that hangs (a C call, an alarm it cancelled, a ``__del__`` that
    never returns) or is killed keeps them; the end of the run writes the rest
    and the outcome. Only the job's own process writes: a fork of the program
    inherits the mapping, not the right to report.
    """

    def __init__(self, journal: mmap.mmap, events_room: int) -> None:
        self.mm = journal
        self.end = JOURNAL_HEADER
        self.events_end = JOURNAL_HEADER + events_room
        self.sent = 0  # events flushed
        self.full = False
        self.lock = _thread.allocate_lock()
        self.wake = _thread.allocate_lock()  # released to end the flusher at once (see pause_flusher)
        self.wake.acquire()
        self.running = _thread.allocate_lock()  # held by the flusher thread while it runs
        self.pid = _getpid()
        self.records: list[tuple[Any, ...]] | None = None

    def _append(self, frame: bytes, limit: int) -> bool:
        end = self.end + len(frame)
        if end > limit:
            return False
        self.mm[self.end : end] = frame
        self.end = end
        self.mm[:JOURNAL_HEADER] = (end - JOURNAL_HEADER).to_bytes(JOURNAL_HEADER, "little")
        return True

    def _events(self, events: list[dict[str, Any]]) -> None:
        """Append a batch, or the part of it that fits; past that the journal is full."""
        while events and not self._append(b"E" + _encode(events) + b"\n", self.events_end):
            events = events[: len(events) // 2]
            self.full = True
        self.sent += len(events)

    def flush(self) -> None:
        """Append the events recorded since the last flush (those kept unrendered wait for the end)."""
        records = self.records
        if records is None or self.full:
            return
        from tracer import Event

        batch = []
        for record in records[self.sent : len(records)]:
            if type(record[5]) is tuple or type(record[6]) is tuple:
                break  # locals or value kept raw at the recursion limit: rendered when the run ends
            batch.append(_compact(Event(*record).__dict__))  # the contract's shape, as finish writes it
        if batch:
            self._events(batch)

    def flush_now(self) -> None:
        """Flush from any thread of the job's own process, at once (before it may end)."""
        if _getpid() != self.pid or not self.lock.acquire(timeout=1.0):
            return
        try:
            self.flush()
        except BaseException:  # noqa: BLE001 - never a word into the program's streams
            pass
        finally:
            self.lock.release()

    def run_flusher(self) -> None:
        with self.running:
            while not self.wake.acquire(timeout=FLUSH_SECONDS):
                try:
                    with self.lock:
                        if self.records is None:
                            return
                        self.flush()
                except BaseException:  # noqa: BLE001 - never a word into the program's streams
                    return

    def pause_flusher(self) -> bool:
        """End the flusher thread before the program forks, so that the program forks a process
        of as many threads as untraced (3.12+ warns when one of several forks). True if it was
        running (the parent starts a new one after)."""
        if _getpid() != self.pid or not self.running.locked():
            return False
        self.wake.release()
        with self.running:  # the thread has left its loop: wait for it to end, briefly
            pass
        try:
            for _ in range(200):
                if len(_listdir("/proc/self/task")) <= 1:
                    break
                _sleep(0.0001)
        except OSError:  # no /proc: the fork may warn
            pass
        return True

    def finish(self, trace: Any) -> None:
        """Write the rest of ``trace`` and its outcome, then end the process at once."""
        if _getpid() != self.pid:
            _exit(0)  # a fork the program made: the job's own process reports
        _setitimer(ITIMER_REAL, 0)
        if not self.lock.acquire(timeout=1.0):
            _exit(75)  # the flusher never let go (the program forked it stuck): report nothing
        try:
            self.records = None
            events = trace.events
            if len(events) > self.sent and not self.full:
                self._events([_compact(e.__dict__) for e in events[self.sent :]])
            tail = b', "events": ' + str(len(events)).encode() + b"}\n"
            outcome = _fit_outcome(_compact(trace.outcome.__dict__), len(self.mm) - self.end - 64)
            self._append(b'O{"outcome": ' + outcome + tail, len(self.mm))
        finally:
            _exit(0)


def _run(job: dict[str, Any], limits: dict[str, Any], journal: mmap.mmap) -> None:
    from tracer import Outcome, Program, ProgramError, Trace
    from tracer.recorder import Recorder

    room = int(limits["max_trace_bytes"])
    sink = Journal(journal, room)
    program = Program(id=str(job.get("id")), source=job.get("source", ""), entry=job.get("entry"), python=PYTHON)
    current: dict[str, Any] = {}

    def end(status: str, detail: str, value: str | None = None, compile_error: Any = None) -> None:
        rec = current.get("recorder")
        if rec is not None and getattr(rec, "backend", None) is not None:
            trace = rec.build(value, rec.out.text(), rec.err.text(), _perf_counter() - rec._started)
            trace.outcome.status, trace.outcome.detail = status, detail
        else:
            outcome = Outcome(status, value=value, detail=detail, compile_error=compile_error)  # type: ignore[arg-type]
            trace = Trace(program, [], outcome)
        sink.finish(trace)

    wall = max(float(limits["wall_seconds"]), MIN_TIMER_SECONDS)
    deadline = _monotonic() + wall  # no later than the timer set below expires

    def on_time(signum: int, frame: Any) -> None:
        if signum == SIGALRM and _monotonic() < deadline:
            # the program's own alarm (signal.alarm or setitimer, with no handler of its own):
            # it ends the process as it would untraced, its events copied out first
            sink.flush_now()
            _set_handler(SIGALRM, SIG_DFL)
            _raise_signal(SIGALRM)
        what = "wall-clock" if signum == SIGALRM else "CPU-time"
        rec = current.get("recorder")
        if rec is not None and rec.status is None and getattr(rec, "backend", None) is not None:
            rec.stop("timeout", f"stopped at the {what} limit")  # ends in on_stop
        ended = f" after the run had {rec.status}" if rec is not None and rec.status else ""
        end("timeout", f"stopped at the {what} limit{ended}")

    def done(trace: Any) -> None:
        raised = current["recorder"].raised_type
        if trace.outcome.status == "raised" and raised is not None and issubclass(raised, MemoryError):
            trace.outcome.status = "memory_limit"
            trace.outcome.detail = "raised MemoryError at the address-space limit"
        sink.finish(trace)

    signal.signal(SIGALRM, on_time)
    signal.signal(signal.SIGXCPU, on_time)
    signal.setitimer(ITIMER_REAL, wall)
    try:
        recorder = Recorder(
            program,
            max_events=int(limits["max_events"]),
            max_output=int(limits["max_output_bytes"]),
            cap=int(job.get("cap") or 200),
            backend=str(job.get("backend") or "auto"),
            on_stop=sink.finish,
            on_done=done,
            reserve=16 * 1024 * 1024,  # to write the trace if the run exhausts memory
        )
    except MemoryError:
        end("memory_limit", "ran out of memory (address-space limit)")
    except Exception as exc:  # noqa: BLE001 - options this interpreter cannot honour (a backend it lacks)
        end("sandbox_error", f"the sandbox cannot run this job: {type(exc).__name__}: {exc}")
    current["recorder"] = recorder
    sink.records = recorder.records

    @functools.wraps(_exit)
    def program_exit(status: int) -> None:
        """``os._exit`` as the job's program sees it: the run so far is reported first (a program
        that ends its process at once would otherwise leave no event, the flusher not yet
        started), then the process ends. A fork of the program ends as it asked."""
        status = _index(status)  # what os._exit refuses, refused the same way
        if _getpid() == sink.pid and recorder.status is None and getattr(recorder, "backend", None) is not None:
            recorder.stop("crashed", f"the program ended its process: os._exit({status})")  # ends in on_stop
        _exit(status)

    os._exit = posix._exit = program_exit  # type: ignore[assignment]
    started = [False]

    def start_flusher(*_: Any) -> bool:
        """Start the flusher thread (once); then the signal that starts it is ignored, which an
        exec'd image keeps (a handler it would not): one sent later, or pending but blocked, would
        kill the new image once it unblocks its signals, as sh does. False if that could not be
        done here (only the main thread sets a signal's action)."""
        if not started[0]:
            started[0] = True
            try:
                _start_thread(sink.run_flusher, ())
            except RuntimeError:  # no thread to be had (a process limit): the events come at the end
                pass
        try:
            _set_handler(FLUSH_SIGNAL, SIG_IGN)  # drops one already pending, too
        except ValueError:
            return False
        return True

    signal.signal(FLUSH_SIGNAL, start_flusher)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {FLUSH_SIGNAL})  # one sent before now is delivered here

    paused = [False]

    def after_fork_in_parent() -> None:
        """A flusher paused for the fork starts again at init's next FLUSH_SIGNAL, not here:
        CPython 3.13 counts the threads (to warn) after these hooks have run."""
        if paused[0]:
            paused[0] = started[0] = False
            try:
                _set_handler(FLUSH_SIGNAL, start_flusher)
            except ValueError:  # forked from a thread, which cannot set it: events come at the end
                pass

    os.register_at_fork(after_in_parent=after_fork_in_parent)

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event in FLUSH_BEFORE or event[:7] == "ctypes.":
            sink.flush_now()
            if event in FORKS:
                paused[0] = sink.pause_flusher() or paused[0]
            # the new image must not die of the flusher's signal (and if the exec fails, this
            # process keeps its flusher); from a thread, blocking it is the most that can be done
            if event == "os.exec" and not start_flusher():
                _sigmask(SIG_BLOCK, {FLUSH_SIGNAL})

    def flushed_first(real: Any) -> Any:
        """A call that ends the process with no audit event of its own (``os.abort``, a signal
        raised at itself): the events so far are copied out first."""

        @functools.wraps(real)
        def call(*args: Any, **kwargs: Any) -> Any:
            sink.flush_now()
            return real(*args, **kwargs)

        return call

    sys.addaudithook(audit)
    os.abort = posix.abort = flushed_first(os.abort)
    signal.raise_signal = _signal.raise_signal = flushed_first(signal.raise_signal)
    if EAGER_FLUSH.search(program.source):
        start_flusher()
    try:
        trace = recorder.run()  # ends in on_done, unless the program's objects get in the way
    except MemoryError:
        end("memory_limit", "ran out of memory (address-space limit)")
    except ProgramError as exc:  # does not compile: what running it would do
        end("raised", str(exc), value=f"SyntaxError({str(exc)!r})", compile_error=exc.part)
    except BaseException as exc:  # noqa: BLE001 - the program broke the tracer
        end("crashed", f"the tracer failed: {type(exc).__name__}: {exc}")
    end("crashed", f"the run ended without a trace ({trace.outcome.status})")


if __name__ == "__main__":
    main()
