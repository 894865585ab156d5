"""The ``process`` backend: fork servers under bubblewrap (or, explicitly, under nothing).

bubblewrap gives each fork server a new pid, network, IPC and user namespace
(no network at all), a read-only view of the system's ``/usr``, a private
``/tmp``, and dies with its parent; the server runs as ``nobody`` and is PID 1
there, so it can kill every leftover process of a job. ``none`` runs the same
fork server as a plain child process with rlimits only: no isolation, so it is
only used when asked for by name.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .cpus import CpuPins, usable_cpus
from .errors import SandboxUnavailable
from .image import FORKSERVER, MOUNT_DIR, TRACER_DIR
from .worker import FdChannel, Worker, WorkerDied

NOBODY = 65534
SCRATCH_BYTES = 64 << 20  # the size of /tmp (the docker backend's scratch_mb)
SHM_BYTES = 8 << 20  # the size of /dev/shm (the docker backend's shm_size)


def system_python() -> str:
    """An interpreter an unprivileged user can run: the system's, else this one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if os.path.exists(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return sys.executable


class ProcessBackend:
    """Fork servers in bubblewrap sandboxes (``isolate=True``) or bare processes."""

    def __init__(self, isolate: bool = True, python: str | None = None, *, pin_cpus: bool = True) -> None:
        self.isolate = isolate
        self.name = "process" if isolate else "none"
        self.python = python or system_python()
        if isolate:
            self.bwrap = shutil.which("bwrap")
            if self.bwrap is None:
                raise SandboxUnavailable(
                    "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`, or use the docker backend"
                )
        else:
            warnings.warn(
                "sandbox 'none': programs run with rlimits only, NOT isolated from this machine",
                stacklevel=2,
            )
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self.pins = CpuPins(usable_cpus() if pin_cpus else [])  # each sandbox on a CPU of its own
        self._pinned: dict[int, int | None] = {}
        self.closed = False
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cwm-sandbox-starter")

    @property
    def image(self) -> str:
        return self.python

    def command(self) -> list[str]:
        if not self.isolate:
            return [self.python, "-u", str(FORKSERVER)]
        assert self.bwrap is not None
        args = [
            self.bwrap,
            "--unshare-all",  # pid, net, ipc, uts, cgroup, user namespaces: no network
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--ro-bind", "/usr", "/usr",
            "--proc", "/proc",
            "--dev", "/dev",
            # /dev/shm its own mount, so that /dev itself can be read-only below; sizes as in Docker
            "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
            "--mqueue", "/dev/mqueue",  # its own, emptied after each job
            "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp",
            "--dir", MOUNT_DIR,
            "--ro-bind", str(TRACER_DIR), f"{MOUNT_DIR}/tracer",
            "--ro-bind", str(FORKSERVER), f"{MOUNT_DIR}/forkserver.py",
            "--setenv", "PYTHONPATH", MOUNT_DIR,
            "--setenv", "PYTHONHASHSEED", "0",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--chdir", "/tmp",
        ]  # fmt: skip
        # after every mount: nothing but /tmp and /dev/shm (both emptied after each job) is writable,
        # so a job cannot leave or replace an entry of /dev (a symlink such as /dev/stdin) for the next
        tail = ["--remount-ro", "/dev", "--remount-ro", "/"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), f"/{link}"]
            elif target.is_dir():
                args += ["--ro-bind", str(target), f"/{link}"]
        if not self.python.startswith("/usr/"):
            prefix = str(Path(self.python).resolve().parents[1])
            args += ["--ro-bind", prefix, prefix]
        return [*args, *tail, self.python, "-u", f"{MOUNT_DIR}/forkserver.py"]

    def start_worker(self) -> Worker:
        if self.closed:
            raise SandboxUnavailable("the sandbox is closed")
        env = {"PYTHONHASHSEED": "0", "PYTHONPATH": str(TRACER_DIR.parent), "PATH": "/usr/bin:/bin"}
        kwargs: dict[str, Any] = {}
        if self.isolate and os.geteuid() == 0:
            kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        popen = functools.partial(
            subprocess.Popen,
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            **kwargs,
        )
        cpu = self.pins.take()
        try:
            # bwrap --die-with-parent ties the sandbox to the *thread* that started it:
            # start every one from this backend's own thread, which lives as long as it does
            proc: subprocess.Popen[bytes] = self._starter.submit(_pinned, popen, cpu).result()
        except OSError as exc:
            self.pins.give(cpu)
            raise SandboxUnavailable(f"cannot start the {self.name} sandbox: {exc}") from None
        assert proc.stdin is not None and proc.stdout is not None
        channel = FdChannel(proc.stdin.fileno(), proc.stdout.fileno())
        try:
            worker = Worker(channel, f"{self.name}-{proc.pid}")
        except WorkerDied as exc:
            self.pins.give(cpu)
            proc.kill()
            proc.wait()
            raise SandboxUnavailable(f"the {self.name} sandbox did not start: {exc}") from None
        self._procs[id(worker)] = proc
        self._pinned[id(worker)] = cpu
        return worker

    def stop_worker(self, worker: Worker) -> None:
        proc = self._procs.pop(id(worker), None)
        self.pins.give(self._pinned.pop(id(worker), None))
        worker.close()
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        proc.kill()
        proc.wait()

    def close(self) -> None:
        self.closed = True
        while self._procs:
            _, proc = self._procs.popitem()
            proc.kill()
            proc.wait()
        self._starter.shutdown(wait=False)


def _pinned(popen: Callable[[], Any], cpu: int | None) -> Any:
    """Start a process on ``cpu`` alone: the starter thread takes that affinity for the fork
    (the child inherits it, before it can fork anything of its own), then gets its own back."""
    if cpu is None:
        return popen()
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return popen()
    finally:
        os.sched_setaffinity(0, before)
