"""The ``docker`` backend: fork servers in locked-down, warm containers (docker-py).

Each worker is one container running ``forkserver.py`` as PID 1: no network,
read-only root, a size-capped tmpfs for scratch, memory and swap caps, a CPU
quota, a pids limit, user ``nobody``, every capability dropped,
``no-new-privileges``, ``PYTHONHASHSEED`` fixed, and no host mount but the
tracer code and a directory holding one socket of ours (all read-only). With a
daemon on this machine the server connects to that socket once, before any job,
and jobs and replies go over it; the socket is then removed, so nothing else can
connect. Elsewhere (a remote daemon, or ``CWM_DOCKER_ATTACH=1``) they go in on
the container's stdin and come back on its stdout, through the attach socket.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import time
import uuid
from typing import Any

from .cpus import CpuPins, usable_cpus
from .errors import SandboxUnavailable
from .image import DEFAULT_IMAGE, FORKSERVER, MOUNT_DIR, TRACER_DIR, docker_client, image_exists
from .worker import START_TIMEOUT, FdChannel, LineChannel, Worker, WorkerDied

POOL_LABEL = "org.cwm.pool"
CHANNEL_MOUNT = f"{MOUNT_DIR}/channel"  # where a container finds the socket to the host, once
RAW_LIMIT = 1 << 30  # bytes of one undecoded attach frame (the reply's own cap is the worker's)


class SocketChannel(LineChannel):
    """Docker's attach socket, demultiplexed (8-byte frame headers, no tty)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._raw = bytearray()  # undecoded bytes from the socket

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise WorkerDied(f"cannot write to the container: {exc}") from None

    def _receive(self, timeout: float) -> bytes | None:
        """The stdout payload of the frames that arrive within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self._decode()
            if payload:
                return payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                return None
            except OSError as exc:
                raise WorkerDied(f"lost the container's output: {exc}") from None
            if not chunk:
                return b""
            self._raw += chunk
            if len(self._raw) > RAW_LIMIT:  # one frame that never ends: not the server's
                raise WorkerDied(f"the container sent a frame of more than {RAW_LIMIT} bytes")

    def pending(self) -> bool:
        return bool(self._lines) or bool(self._raw)

    def _decode(self) -> bytes:
        """The stdout payload of the whole frames received so far."""
        raw = self._raw
        payload = bytearray()
        while len(raw) >= 8:
            stream, size = raw[0], struct.unpack(">I", raw[4:8])[0]
            if len(raw) < 8 + size:
                break
            if stream == 1:  # stdout; stderr (2) is dropped: the server writes nothing there
                payload += raw[8 : 8 + size]
            del raw[: 8 + size]
        return bytes(payload)

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


class DirectChannel(FdChannel):
    """A unix socket connected by the container's server (see ``DockerBackend._start_direct``)."""

    def __init__(self, conn: socket.socket) -> None:
        super().__init__(conn.fileno(), conn.fileno())
        self._conn = conn

    def close(self) -> None:
        super().close()
        try:
            self._conn.close()
        except OSError:
            pass


def _local_daemon(client: Any) -> bool:
    base = str(getattr(getattr(client, "api", None), "base_url", ""))
    return base.startswith(("http+docker://localhost", "http+unix://")) and not os.environ.get("CWM_DOCKER_ATTACH")


class DockerBackend:
    """Starts and stops fork-server containers."""

    name = "docker"

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        memory_mb: int = 1024,
        cpus: float = 1.0,
        pids: int = 128,
        scratch_mb: int = 64,
        client: Any = None,
        pin_cpus: bool = True,
    ) -> None:
        self.client = client or docker_client()
        if not image_exists(self.client, image):
            raise SandboxUnavailable(f"the sandbox image {image} is not built: run `cwm sandbox build-image --offline`")
        self.image = image
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.pids = pids
        self.scratch_mb = scratch_mb
        self._containers: dict[int, Any] = {}
        self.closed = False
        self.session = uuid.uuid4().hex[:8]
        # a daemon on this machine can bind-mount a directory of ours: talk over a socket
        self.direct = _local_daemon(self.client)
        # each container on a CPU of its own where there are enough (see sandbox.cpus); a remote
        # daemon's CPUs are not ours to know
        self.pins = CpuPins(usable_cpus() if pin_cpus and self.direct else [])
        self._pinned: dict[int, int | None] = {}

    def container_options(self) -> dict[str, Any]:
        return {
            "command": ["python3", "-u", f"{MOUNT_DIR}/forkserver.py"],
            "stdin_open": True,
            "tty": False,
            "network_disabled": True,
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {
                "/tmp": f"rw,nosuid,nodev,size={self.scratch_mb}m,mode=1777",
            },
            "shm_size": "8m",
            "mem_limit": f"{self.memory_mb}m",
            "memswap_limit": f"{self.memory_mb}m",  # no swap beyond the memory cap
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids,
            "user": "65534:65534",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "environment": {"PYTHONHASHSEED": "0", "PYTHONPATH": MOUNT_DIR, "PYTHONDONTWRITEBYTECODE": "1"},
            "volumes": {
                str(TRACER_DIR): {"bind": f"{MOUNT_DIR}/tracer", "mode": "ro"},
                str(FORKSERVER): {"bind": f"{MOUNT_DIR}/forkserver.py", "mode": "ro"},
            },
            "working_dir": "/tmp",
            "labels": {POOL_LABEL: self.session},
            "init": False,  # the fork server must be PID 1
            # if this process dies, the attach socket closes, the server reads EOF and
            # exits, and the container goes away by itself
            "auto_remove": True,
        }

    def start_worker(self) -> Worker:
        if self.closed:
            raise SandboxUnavailable("the sandbox is closed")
        if self.direct:
            cpu = self.pins.take()
            try:
                worker = self._start_direct(cpu)
            except SandboxUnavailable:
                self.pins.give(cpu)
                if cpu is None:
                    raise
                self.pins.disable()  # a daemon whose CPU set differs from ours: run anywhere
                return self.start_worker()
            self._pinned[id(worker)] = cpu
            return worker
        try:
            container = self.client.containers.create(self.image, **self.container_options())
            sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            container.start()
        except Exception as exc:  # noqa: BLE001 - docker-py raises many kinds
            raise SandboxUnavailable(f"cannot start a sandbox container: {exc}") from None
        raw = getattr(sock, "_sock", sock)
        return self._greet(container, SocketChannel(raw))

    def _start_direct(self, cpu: int | None) -> Worker:
        """A container whose server connects, once, to a unix socket of ours: jobs and
        replies then go straight between the two processes, not through the daemon's
        attach stream (two copies in the daemon and its shim for every message)."""
        where = tempfile.mkdtemp(prefix="cwm-channel-")
        path = os.path.join(where, "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        container = None
        try:
            os.chmod(where, 0o711)
            listener.bind(path)
            os.chmod(path, 0o666)  # the server runs as nobody
            listener.listen(1)
            options = self.container_options()
            options["stdin_open"] = False
            options["volumes"][where] = {"bind": CHANNEL_MOUNT, "mode": "ro"}
            options["environment"]["CWM_CHANNEL"] = f"{CHANNEL_MOUNT}/s"
            if cpu is not None:
                options["cpuset_cpus"] = str(cpu)
            # if this process dies, the socket closes, the server reads EOF and exits,
            # and the container goes away by itself
            container = self.client.containers.create(self.image, **options)
            container.start()
            listener.settimeout(START_TIMEOUT)
            conn, _ = listener.accept()
        except Exception as exc:  # noqa: BLE001 - docker-py raises many kinds; accept times out
            logs = _logs(container) if container is not None else ""
            if container is not None:
                _remove(container)
            raise SandboxUnavailable(f"cannot start a sandbox container: {exc}{logs}") from None
        finally:  # one connection, before any job runs: after it, nothing can connect
            listener.close()
            shutil.rmtree(where, ignore_errors=True)
        conn.settimeout(None)
        return self._greet(container, DirectChannel(conn))

    def _greet(self, container: Any, channel: Any) -> Worker:
        try:
            worker = Worker(channel, f"docker-{container.short_id}")
        except WorkerDied as exc:
            logs = _logs(container)
            _remove(container)
            raise SandboxUnavailable(f"the sandbox container did not start: {exc}{logs}") from None
        self._containers[id(worker)] = container
        return worker

    def stop_worker(self, worker: Worker) -> None:
        container = self._containers.pop(id(worker), None)
        self.pins.give(self._pinned.pop(id(worker), None))
        worker.close()
        if container is not None:
            _remove(container)

    def close(self) -> None:
        self.closed = True
        while self._containers:
            _, container = self._containers.popitem()
            _remove(container)


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception:  # noqa: BLE001 - already gone
        pass


def _logs(container: Any) -> str:
    try:
        text = container.logs(stdout=False, stderr=True, tail=20).decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001
        return ""
    return f"\n{text}" if text else ""
