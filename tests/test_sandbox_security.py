"""Hostile programs against the real sandboxes: each ends with the right outcome,
leaves the host untouched and the pool healthy.

Run against a real dockerd (the ``docker`` marker) and bubblewrap. A batch of
200 normal jobs mixed with every hostile one must return exactly one result
per job, every normal one correct.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox import Job, Limits, Sandbox

from .sandbox_support import BACKEND_PARAMS, open_sandbox

FAST = Limits(wall_seconds=2, cpu_seconds=2, memory_mb=256, max_events=100_000, max_output_bytes=100_000)
HOST_MARK = Path("/tmp/cwm-sandbox-host-mark")  # write_host_tmp writes here: it must not appear on the host


@dataclass(frozen=True)
class Hostile:
    name: str
    source: str
    statuses: tuple[str, ...]  # acceptable outcome statuses
    value_prefix: str | None = None


def prog(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


HOSTILE = [
    Hostile(
        "fork_bomb",
        prog("""
        import os
        def f():
            while True:
                os.fork()
        """),
        ("raised", "timeout", "memory_limit", "crashed"),
    ),
    Hostile(
        "memory_bomb",
        prog("""
        def f():
            blocks = []
            while True:
                blocks.append(bytearray(50 * 1024 * 1024))
        """),
        ("memory_limit",),
    ),
    Hostile(
        "one_huge_allocation",
        prog("""
        def f():
            return len(' ' * (10 ** 11))
        """),
        ("memory_limit",),
    ),
    Hostile(
        "cpu_spin",
        prog("""
        def f():
            n = 0
            while True:
                n += 1
        """),
        ("timeout", "step_limit"),
    ),
    Hostile(
        "sleep_forever",
        prog("""
        import time
        def f():
            time.sleep(10 ** 6)
        """),
        ("timeout",),
    ),
    Hostile(
        "ignore_sigterm_and_alarm",
        prog("""
        import signal, time
        def f():
            for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGXCPU, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            time.sleep(10 ** 6)
        """),
        ("timeout",),
    ),
    Hostile(
        "stdout_flood",
        prog("""
        def f():
            while True:
                print('x' * 1000)
        """),
        ("output_limit",),
    ),
    Hostile(
        "one_enormous_line",
        prog("""
        def f():
            print('y' * 50_000_000)
        """),
        ("output_limit", "memory_limit"),
    ),
    Hostile(
        "raw_fd_flood",
        prog("""
        import os
        def f():
            for _ in range(10_000):
                os.write(1, b'z' * 10_000)
            return 'done'
        """),
        ("returned",),
        "'done'",
    ),
    Hostile(
        "read_etc_shadow",
        prog("""
        def f():
            return open('/etc/shadow').read()
        """),
        ("raised",),
    ),
    Hostile(
        "read_host_paths",
        prog("""
        import os
        def f():
            host = ('/work', '/root/.bashrc', '/root/.pyenv', '/var/run/docker.sock', '/run/docker.sock', '/etc/shadow-')
            found = [p for p in host if os.path.exists(p)]
            if found:
                return found
            raise FileNotFoundError('no host paths')
        """),
        ("raised",),
        "FileNotFoundError",
    ),
    Hostile(
        "write_outside_scratch",
        prog("""
        def f():
            for path in ('/usr/evil', '/etc/evil', '/opt/cwm/evil', '/opt/cwm/tracer/evil.py'):
                try:
                    open(path, 'w').write('owned')
                    return 'wrote ' + path
                except OSError:
                    pass
            raise PermissionError('nowhere to write')
        """),
        ("raised",),
        "PermissionError",
    ),
    Hostile(
        "write_host_tmp",  # the job's /tmp is its own scratch: the write succeeds there, never on the host
        prog(f"""
        def f():
            with open({str(HOST_MARK)!r}, 'w') as out:
                out.write('owned')
            return 'wrote'
        """),
        ("returned",),
        "'wrote'",
    ),
    Hostile(
        "connect_localhost",
        prog("""
        import socket
        def f():
            for port in (22, 80, 2375, 8080):
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1)
                    return 'connected'
                except OSError:
                    pass
            raise ConnectionError('no connection')
        """),
        ("raised",),
        "ConnectionError",
    ),
    Hostile(
        "connect_outside",
        prog("""
        import socket
        def f():
            socket.create_connection(('1.1.1.1', 53), timeout=1)
        """),
        ("raised",),
    ),
    Hostile(
        "dns_lookup",
        prog("""
        import socket
        def f():
            return socket.getaddrinfo('example.com', 80)
        """),
        ("raised",),
    ),
    Hostile(
        "kill_pid_1",
        prog("""
        import os, signal
        def f():
            for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                try:
                    os.kill(1, sig)
                except OSError:
                    pass
            return 'alive'
        """),
        ("returned",),
        "'alive'",
    ),
    Hostile(
        "kill_parent",
        prog("""
        import os, signal
        def f():
            try:
                os.kill(os.getppid(), signal.SIGKILL)
            except OSError:
                pass
            return 'alive'
        """),
        ("returned",),
        "'alive'",
    ),
    Hostile(
        "ctypes_segfault",
        prog("""
        import ctypes
        def f():
            return ctypes.string_at(0)
        """),
        ("crashed",),
    ),
    Hostile(
        "sys_exit",
        prog("""
        import sys
        def f():
            sys.exit(3)
        """),
        ("raised",),
        "SystemExit(3)",
    ),
    Hostile(
        "os_exit",
        prog("""
        import os
        def f():
            os._exit(0)
        """),
        ("crashed",),
    ),
    Hostile(
        "keyboard_interrupt",
        prog("""
        def f():
            raise KeyboardInterrupt
        """),
        ("raised",),
        "KeyboardInterrupt",
    ),
    Hostile(
        "base_exception",
        prog("""
        def f():
            raise BaseException('bye')
        """),
        ("raised",),
        "BaseException('bye')",
    ),
    Hostile(
        "recursion_past_c_stack",
        prog("""
        import sys
        def f():
            sys.setrecursionlimit(10 ** 7)
            def down(n):
                return down(n + 1) + 1
            return down(0)
        """),
        ("raised", "crashed", "memory_limit", "step_limit", "trace_limit", "timeout"),
    ),
    Hostile(
        "thread_bomb",
        prog("""
        import threading, time
        def f():
            while True:
                threading.Thread(target=time.sleep, args=(100,), daemon=True).start()
        """),
        ("raised", "timeout", "memory_limit"),
    ),
    Hostile(
        "spawn_subprocess",
        prog("""
        import subprocess
        def f():
            p = subprocess.Popen(['sleep', '1000'])
            return p.pid > 0
        """),
        ("returned", "raised"),
    ),
    Hostile(
        "detached_daemon",
        prog("""
        import os, time
        def f():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    while True:
                        with open('/tmp/daemon-was-here', 'w') as out:
                            out.write(str(os.getpid()))
                        time.sleep(0.01)
                os._exit(0)
            time.sleep(0.2)
            return 'parent done'
        """),
        ("returned",),
        "'parent done'",
    ),
    Hostile(
        "close_stdout",
        prog("""
        import os, sys
        def f():
            sys.stdout.close()
            os.close(1)
            os.close(2)
            print('after close')
        """),
        ("raised", "returned"),
    ),
    Hostile(
        "read_stdin",
        prog("""
        def f():
            return input()
        """),
        ("raised",),
        "EOFError",
    ),
    Hostile(
        "raise_own_rlimits",
        prog("""
        import resource
        def f():
            resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        """),
        ("raised",),
        "ValueError",
    ),
    Hostile(
        "fill_tmp",
        prog("""
        def f():
            with open('/tmp/filler', 'wb') as out:
                while True:
                    out.write(b'0' * (1 << 20))
        """),
        ("raised", "crashed"),
    ),
    Hostile(
        "patch_builtins",
        prog("""
        import builtins
        def f():
            builtins.repr = lambda value: 'forged'
            builtins.print = None
            return 7
        """),
        ("returned",),
        "7",
    ),
    Hostile(
        "patch_tracer_to_forge",
        prog("""
        import sys
        def f():
            recorder = sys.modules.get('tracer.recorder')
            if recorder is not None:
                recorder.Recorder.build = lambda *a, **k: None
            return 'tried'
        """),
        ("returned", "crashed", "sandbox_error"),
    ),
    Hostile(
        "fake_protocol_lines",
        prog("""
        import os, sys
        def f():
            fake = '{"id": "job-999", "trace": {"format": 1}}\\n'
            print(fake)
            os.write(1, fake.encode())
            os.write(2, fake.encode())
            try:
                os.write(3, b'{"format": 1, "program": {}}')
            except OSError:
                pass
            return 'real'
        """),
        ("returned",),
        "'real'",
    ),
]

CHECK_CLEAN = prog("""
    import os
    def f():
        pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
        others = [p for p in pids if p not in (1, os.getpid())]
        # the fork server's broker: one process, a child of PID 1 (init), older than any job
        parents = [open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] for p in others]
        return {'tmp': sorted(os.listdir('/tmp')), 'others': parents}
    """)


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sandbox = open_sandbox(request.param, workers=2)
    yield sandbox
    sandbox.close()


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
def test_hostile_program(box: Sandbox, hostile: Hostile) -> None:
    HOST_MARK.unlink(missing_ok=True)
    trace = box.run(Job(hostile.source, "f()", limits=FAST))
    outcome = trace.outcome
    assert outcome.status in hostile.statuses, (outcome.status, outcome.value, outcome.detail)
    if hostile.value_prefix is not None:
        assert (outcome.value or "").startswith(hostile.value_prefix), outcome.value
    assert trace.program.source == hostile.source and trace.program.id
    assert not HOST_MARK.exists(), "a sandboxed job wrote on the host"
    # the pool is healthy and the job left nothing behind
    clean = box.run(Job(CHECK_CLEAN, "f()", limits=FAST))
    assert clean.outcome.status == "returned", clean.outcome
    assert clean.outcome.value == "{'tmp': [], 'others': ['1']}", f"after {hostile.name}: {clean.outcome.value}"


def test_mixed_batch_one_result_per_job(box: Sandbox) -> None:
    normal = [
        Job("def f(x):\n    y = x * x\n    return y\n", f"f({i})", id=f"normal-{i}", limits=FAST) for i in range(200)
    ]
    hostile = [Job(h.source, "f()", id=f"hostile-{h.name}", limits=FAST) for h in HOSTILE]
    jobs = []
    for i, job in enumerate(normal):
        jobs.append(job)
        if i % 7 == 0 and hostile:
            jobs.append(hostile.pop())
    jobs.extend(hostile)
    results = list(box.map(jobs))
    ids = [job_id for job_id, _ in results]
    assert sorted(ids) == sorted(job.id for job in jobs), "lost or duplicated results"
    by_id = dict(results)
    for i in range(200):
        trace = by_id[f"normal-{i}"]
        assert trace.outcome.status == "returned" and trace.outcome.value == str(i * i), trace.outcome
        assert trace.program.id == f"normal-{i}"
        assert [e.kind for e in trace.events] == ["call", "line", "line", "return"]
    assert not HOST_MARK.exists()
