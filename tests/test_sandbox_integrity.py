"""Trace integrity in the real sandboxes: no job reaches another, no trace is lost.

Each test is an attack or an accident that once poisoned or lost traces
(issue 8), run against both backends (Docker and bubblewrap).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Job, Limits, Sandbox
from sandbox.worker import FdChannel, WorkerDied

from .sandbox_support import BACKEND_PARAMS, docker_problem, open_sandbox

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(wall_seconds=3, cpu_seconds=3, memory_mb=256, max_events=100_000, max_output_bytes=100_000)
INNOCENT = "def g(x):\n    y = x + 1\n    return y\n"


def prog(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sandbox = open_sandbox(request.param)
    yield sandbox
    sandbox.close()


def innocent(i: int) -> Job:
    return Job(INNOCENT, f"g({i})", id=f"innocent-{i}", limits=LIMITS)


def assert_innocent(trace, i: int) -> None:
    assert trace.outcome.status == "returned", trace.outcome
    assert trace.outcome.value == str(i + 1), trace.outcome
    assert [e.kind for e in trace.events] == ["call", "line", "line", "return"]


# -- jobs must not reach each other ---------------------------------------------------
FORGER = prog("""
    import json, os
    def f():
        try:
            fd_in = os.open('/proc/1/fd/0', os.O_RDONLY)
            fd_out = os.open('/proc/1/fd/1', os.O_WRONLY)
        except OSError as exc:
            return 'blocked: ' + type(exc).__name__
        def answer(job_id):
            fake = {'id': job_id, 'trace': {'format': 1, 'program': {'id': job_id, 'source': '', 'python': ''},
                    'events': [], 'outcome': {'status': 'returned', 'value': "'FORGED'"}}}
            os.write(fd_out, json.dumps(fake).encode() + b'\\n')
        answer('forger')
        buf = b''
        while True:
            buf += os.read(fd_in, 1 << 20)
            while b'\\n' in buf:
                line, buf = buf.split(b'\\n', 1)
                answer(json.loads(line)['id'])
    """)


def test_a_job_cannot_answer_the_jobs_after_it(box: Sandbox) -> None:
    jobs = [Job(FORGER, "f()", id="forger", limits=LIMITS)] + [innocent(i) for i in range(40)]
    results = dict(box.map(jobs))
    assert results["forger"].outcome.value == "'blocked: PermissionError'", results["forger"].outcome
    for i in range(40):
        assert_innocent(results[f"innocent-{i}"], i)


REACH_SERVER = prog("""
    import ctypes, os, signal
    def f():
        found = {}
        for path in ('/proc/1/fd/0', '/proc/1/fd/1', '/proc/1/fd/2', '/proc/1/mem', '/proc/1/environ'):
            try:
                with open(path, 'rb', buffering=0) as fh:
                    fh.read(1)
                found[path] = 'opened'
            except OSError as exc:
                found[path] = type(exc).__name__
        libc = ctypes.CDLL(None, use_errno=True)
        found['ptrace'] = libc.ptrace(16, 1, None, None)  # PTRACE_ATTACH to the server
        for sig in (signal.SIGTERM, signal.SIGSTOP, signal.SIGKILL, signal.SIGINT):
            try:
                os.kill(1, sig)
            except OSError:
                pass
        return found
    """)


def test_a_job_cannot_open_ptrace_or_signal_the_server(box: Sandbox) -> None:
    trace = box.run(Job(REACH_SERVER, "f()", limits=LIMITS))
    assert trace.outcome.status == "returned", trace.outcome
    assert "opened" not in (trace.outcome.value or ""), trace.outcome.value
    assert "'ptrace': -1" in (trace.outcome.value or ""), trace.outcome.value
    assert_innocent(box.run(innocent(7)), 7)  # the server is alive and answers


LEAVE_BEHIND = prog("""
    import ctypes, os
    def f():
        libc = ctypes.CDLL(None, use_errno=True)
        shm = libc.shmget(0x5eed, 4096, 0o1666)  # IPC_CREAT | 0666
        msg = libc.msgget(0x5eed, 0o1666)
        sem = libc.semget(0x5eed, 1, 0o1666)
        for path in ('/dev/shm/left', '/tmp/left'):
            with open(path, 'w') as fh:
                fh.write('from the last job')
        return [shm >= 0, msg >= 0, sem >= 0]
    """)
FIND_LEFTOVERS = prog("""
    import ctypes, os
    def f():
        libc = ctypes.CDLL(None, use_errno=True)
        ipc = [libc.shmget(0x5eed, 0, 0), libc.msgget(0x5eed, 0), libc.semget(0x5eed, 0, 0)]
        files = [p for p in ('/dev/shm/left', '/tmp/left') if os.path.exists(p)]
        return ipc, files
    """)


def test_nothing_a_job_leaves_reaches_the_next(box: Sandbox) -> None:
    left = box.run(Job(LEAVE_BEHIND, "f()", limits=LIMITS))
    assert left.outcome.status == "returned", left.outcome
    found = box.run(Job(FIND_LEFTOVERS, "f()", limits=LIMITS))
    assert found.outcome.value == "([-1, -1, -1], [])", found.outcome


LEAVE_ONE = prog("""
    import ctypes
    def f(kind):
        libc = ctypes.CDLL(None, use_errno=True)
        if kind == 'shm':
            return libc.shmget(0x5eed, 4096, 0o1666) >= 0
        if kind == 'msg':
            return libc.msgget(0x5eed, 0o1666) >= 0
        return libc.semget(0x5eed, 1, 0o1666) >= 0
    """)


@pytest.mark.parametrize("kind", ["shm", "msg", "sem"])
def test_one_kind_of_ipc_left_alone_is_removed_too(box: Sandbox, kind: str) -> None:
    # the server first asks the kernel how many of each kind exist: each count must be read right
    left = box.run(Job(LEAVE_ONE, f"f({kind!r})", limits=LIMITS))
    assert left.outcome.value == "True", left.outcome
    found = box.run(Job(FIND_LEFTOVERS, "f()", limits=LIMITS))
    assert found.outcome.value == "([-1, -1, -1], [])", found.outcome


PLANT_IN_DEV = prog("""
    import os
    def f():
        done = []
        for act in (lambda: os.unlink('/dev/stdin'), lambda: open('/dev/planted', 'w').write('x'),
                    lambda: os.symlink('/tmp/x', '/dev/stdin')):
            try:
                act()
                done.append('yes')
            except OSError:
                done.append('no')
        return done
    """)
SEE_DEV = "import os\ndef f():\n    return os.path.exists('/dev/planted'), os.readlink('/dev/stdin')\n"


def test_a_job_cannot_plant_or_replace_entries_of_dev(box: Sandbox) -> None:
    planted = box.run(Job(PLANT_IN_DEV, "f()", limits=LIMITS))
    assert planted.outcome.value == "['no', 'no', 'no']", planted.outcome
    seen = box.run(Job(SEE_DEV, "f()", limits=LIMITS))
    assert seen.outcome.value == "(False, '/proc/self/fd/0')", seen.outcome


def test_the_host_bounds_what_it_buffers_for_one_reply() -> None:
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=lambda: os.write(write_fd, b"x" * (4 << 20)), daemon=True)
    writer.start()  # a reply line that never ends
    channel = FdChannel(os.open(os.devnull, os.O_WRONLY), read_fd)
    try:
        with pytest.raises(WorkerDied, match="more than 1048576 bytes"):
            channel.readline(10, limit=1 << 20)
    finally:
        channel.close()
        os.close(read_fd)
        writer.join(5)
        os.close(write_fd)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_killed_host_leaves_no_container(sig: str) -> None:
    problem = docker_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    from sandbox.image import docker_client

    script = prog("""
        import sys
        from sandbox import Job, Limits, Sandbox
        limits = Limits(wall_seconds=100000, cpu_seconds=100000)
        with Sandbox("docker", limits=limits) as box:
            print(box.describe()["python"], flush=True)
            box.run(Job("import time\\ndef f():\\n    time.sleep(100000)\\n", "f()", limits=limits))
        """)
    client = docker_client()
    before = {c.id for c in client.containers.list(filters={"label": "org.cwm.pool"})}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip()
        time.sleep(1.0)  # the job is running now
        mine = {c.id for c in client.containers.list(filters={"label": "org.cwm.pool"})} - before
        assert mine, "the host's container is not running"
        proc.send_signal(getattr(__import__("signal"), sig))
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        alive = mine
        while alive and time.monotonic() < deadline:
            time.sleep(0.25)
            alive = mine & {c.id for c in client.containers.list(all=True, filters={"label": "org.cwm.pool"})}
        assert not alive, f"containers left running 5 s after {sig} of the host"
    finally:
        proc.kill()
        proc.wait()


# -- no trace is lost -------------------------------------------------------------------
def loop_then(tail: str) -> str:
    """A program that records a few events in f(), then does ``tail``."""
    return prog("""
        import os, signal, sys, time
        def f():
            total = 0
            for i in range(5):
                total += i
        """) + textwrap.indent(prog(tail), "    ")


PLAIN_LOOP = "import os, time\ndef f():\n    total = 0\n    for i in range(5):\n        total += i\n"
LOSSY = {
    "str_never_returns": (
        prog("""
            class Stuck(Exception):
                def __str__(self):
                    while True:
                        pass
            def f():
                total = 0
                for i in range(5):
                    total += i
                raise Stuck()
            """),
        ("timeout",),
    ),
    "del_never_returns": (
        prog("""
            class Stuck:
                def __del__(self):
                    while True:
                        pass
            def f():
                total = 0
                for i in range(5):
                    total += i
                return Stuck()
            """),
        ("returned",),
    ),
    "cancels_the_alarm_and_sleeps": (
        loop_then("""
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
            time.sleep(1000)
            """),
        ("timeout",),
    ),
    "exits_at_once": (loop_then("time.sleep(0.2)\nos._exit(3)\n"), ("crashed",)),
    "kills_itself": (loop_then("time.sleep(0.2)\nos.kill(os.getpid(), signal.SIGKILL)\n"), ("crashed",)),
    "writes_into_every_fd": (
        loop_then("""
            for fd in range(1024):
                try:
                    os.write(fd, b'{"id": "x", "trace": {}}\\n' + bytes(range(256)))
                except OSError:
                    pass
            return total
            """),
        ("returned",),
    ),
    "forks_and_both_finish": (loop_then("pid = os.fork()\nreturn total\n"), ("returned",)),
    # no word of signals or threads in the source: the flusher starts only once the job runs long
    "sleeps_long_plain": (PLAIN_LOOP + "    time.sleep(1000)\n", ("timeout",)),
    "exits_later_plain": (PLAIN_LOOP + "    time.sleep(0.2)\n    os._exit(3)\n", ("crashed",)),
    # before any flush: os._exit itself reports the run
    "exits_at_once_plain": (PLAIN_LOOP + "    os._exit(3)\n", ("crashed",)),
    # ended or replaced at once, before the flusher starts: the audit hook (or the wrapper of a
    # call with no audit event) copies the events out first, whatever name the call is reached by
    "kills_itself_at_once_plain": (PLAIN_LOOP + "    os.kill(os.getpid(), 9)\n", ("crashed",)),
    "kills_its_group_at_once_plain": (PLAIN_LOOP + "    os.killpg(0, 9)\n", ("crashed",)),
    "hidden_kill_at_once_plain": (PLAIN_LOOP + "    getattr(os, 'ki' + 'll')(os.getpid(), 9)\n", ("crashed",)),
    "aborts_at_once_plain": (PLAIN_LOOP + "    os.abort()\n", ("crashed",)),
    "raises_sigkill_at_once": (loop_then("signal.raise_signal(signal.SIGKILL)\n"), ("crashed",)),
    "execs_at_once_plain": (PLAIN_LOOP + "    os.execv('/bin/sh', ['sh', '-c', 'exit 0'])\n", ("crashed",)),
    "its_shell_kills_it_plain": (PLAIN_LOOP + "    os.system('kill -9 $PPID')\n", ("crashed",)),
    "its_fork_kills_it_plain": (
        PLAIN_LOOP + "    if os.fork() == 0:\n        os.kill(os.getppid(), 9)\n    time.sleep(2)\n",
        ("crashed",),
    ),
    "ctypes_kill_at_once": (loop_then("import ctypes\nctypes.CDLL(None).kill(os.getpid(), 9)\n"), ("crashed",)),
}


@pytest.mark.parametrize("name", sorted(LOSSY))
def test_events_come_back_whatever_the_program_does_after(box: Sandbox, name: str) -> None:
    source, statuses = LOSSY[name]
    started = time.monotonic()
    trace = box.run(Job(source, "f()", limits=LIMITS))
    assert trace.outcome.status in statuses, (name, trace.outcome)
    lines = [e.line for e in trace.events if e.kind == "line" and e.func == "f"]
    assert len(lines) >= 12, (name, [(e.kind, e.line) for e in trace.events], trace.outcome)
    assert trace.outcome.events == len(trace.events)
    assert time.monotonic() - started < LIMITS.wall_seconds + 5
    assert_innocent(box.run(innocent(3)), 3)


def test_os_exit_says_so_and_a_forks_exit_is_its_own(box: Sandbox) -> None:
    trace = box.run(Job(PLAIN_LOOP + "    os._exit(3)\n", "f()", limits=LIMITS))
    assert trace.outcome.status == "crashed"
    assert "os._exit(3)" in trace.outcome.detail, trace.outcome
    assert trace.events[-1].kind == "line" and trace.events[-1].source_line == "    os._exit(3)"
    forks = prog("""
        import os
        def f():
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), os._exit.__name__
        """)
    trace = box.run(Job(forks, "f()", limits=LIMITS))
    assert (trace.outcome.status, trace.outcome.value) == ("returned", "(7, '_exit')"), trace.outcome
    trace = box.run(Job("import os\ndef f():\n    os._exit('x')\n", "f()", limits=LIMITS))
    assert trace.outcome.status == "raised" and trace.outcome.value.startswith("TypeError("), trace.outcome


# -- what the program replaces or sets in its own process changes its run, not its trace --------
REPLACED = {
    "json_dumps": "import json\njson.dumps = None\n",
    "os_getpid": "import os\nos.getpid = lambda: 0\n",
    "setitimer": "import signal\nsignal.setitimer = signal.alarm = None\n",
    "clocks": "import time\ntime.sleep = time.monotonic = time.perf_counter = None\n",
}


@pytest.mark.parametrize("name", sorted(REPLACED))
def test_a_program_that_replaces_what_the_sandbox_calls_keeps_its_trace(box: Sandbox, name: str) -> None:
    # a busy loop past the flusher's start (5 ms), so the flusher, too, runs after the change
    source = REPLACED[name] + prog("""
        def f():
            total = 0
            for i in range(20000):
                total += i
            return total
        """)
    trace = box.run(Job(source, "f()", limits=LIMITS))
    assert (trace.outcome.status, trace.outcome.value) == ("returned", str(sum(range(20000)))), trace.outcome
    assert trace.outcome.events == len(trace.events) > 40_000
    assert_innocent(box.run(innocent(4)), 4)


ALARM = loop_then("""
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    time.sleep(2)
    return 'not reached'
    """)


def test_the_programs_own_alarm_ends_it_as_it_would_untraced(box: Sandbox, tmp_path: Path) -> None:
    script = tmp_path / "alarm.py"
    script.write_text(ALARM + "f()\n")
    untraced = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=10)
    assert untraced.returncode == -signal.SIGALRM
    trace = box.run(Job(ALARM, "f()", limits=LIMITS))
    assert trace.outcome.status == "crashed" and "SIGALRM" in trace.outcome.detail, trace.outcome
    assert trace.events[-1].source_line == "    time.sleep(2)", trace.events[-1]


def test_ctrl_c_raises_keyboard_interrupt_as_untraced(box: Sandbox) -> None:
    source = loop_then("""
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            return 'interrupted', total
        """)
    trace = box.run(Job(source, "f()", limits=LIMITS))
    assert (trace.outcome.status, trace.outcome.value) == ("returned", "('interrupted', 10)"), trace.outcome


def test_the_cpu_limit_reached_inside_a_c_call_is_a_timeout(box: Sandbox) -> None:
    # sum() over a range never returns to the eval loop, so SIGXCPU's handler cannot run: the
    # kernel kills the process at the hard limit, a second later
    source = loop_then("return sum(range(10**12))\n")
    trace = box.run(Job(source, "f()", limits=Limits(wall_seconds=20, cpu_seconds=1)))
    assert trace.outcome.status == "timeout" and "CPU-time" in trace.outcome.detail, trace.outcome


def test_a_large_trace_room_leaves_the_program_its_memory(box: Sandbox) -> None:
    # the journal (max_trace_bytes) is mapped before the address-space limit is set
    limits = Limits(memory_mb=200, max_trace_bytes=1 << 30)
    trace = box.run(Job("def f():\n    b = bytearray(50 << 20)\n    return len(b)\n", "f()", limits=limits))
    assert (trace.outcome.status, trace.outcome.value) == ("returned", str(50 << 20)), trace.outcome


@pytest.mark.parametrize("end", ["return after", "return sum(range(10**12))"], ids=["returns", "hangs_in_c"])
def test_a_fork_after_the_flusher_started_is_a_fork_of_one_thread(box: Sandbox, end: str) -> None:
    # 3.12+ warns when a process of more than one thread forks: the flusher thread must not
    # make the program's fork warn, and it must run again after it (the events after the fork
    # come back from a process killed in a C call, where no handler runs)
    source = prog("""
        import os, time, warnings
        warnings.simplefilter('always')
        def f():
            total = 0
            t = time.monotonic()
            while time.monotonic() - t < 0.05:
                total += 1
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            after = 0
            t = time.monotonic()
            while time.monotonic() - t < 0.3:  # the flusher starts again within 0.05 s
                after += 1
                time.sleep(0.001)
            END
        """).replace("END", end)
    trace = box.run(Job(source, "f()", limits=Limits(wall_seconds=1.5, cpu_seconds=10, max_events=10**6)))
    assert trace.outcome.status == ("returned" if end == "return after" else "timeout"), trace.outcome
    assert "DeprecationWarning" not in trace.outcome.stderr, trace.outcome.stderr
    assert any(e.source_line.strip() == "after += 1" for e in trace.events), trace.events[-3:]


EXEC_SH = "os.execv('/bin/sh', ['sh', '-c', 'sleep 0.05; exit 5'])"


@pytest.mark.parametrize(
    "source",
    [
        # at once: the flusher's signal (sent to a job still running at 5 ms) reaches sh, which
        # unblocks its signals; after a loop it may come just before the exec
        f"import os\ndef f():\n    {EXEC_SH}\n",
        PLAIN_LOOP + f"    {EXEC_SH}\n",
        # from a thread, which cannot set a signal's action
        f"import os, threading, time\ndef f():\n    threading.Thread(target=lambda: {EXEC_SH}).start()\n"
        "    time.sleep(5)\n",
    ],
    ids=["at_once", "after_a_loop", "from_a_thread"],
)
def test_an_exec_runs_its_image_to_the_end(box: Sandbox, source: str) -> None:
    for _ in range(3):
        trace = box.run(Job(source, "f()", limits=LIMITS))
        assert trace.outcome.status == "crashed", trace.outcome
        assert "exited (code 5)" in trace.outcome.detail, trace.outcome
        assert trace.events, trace.outcome


def test_a_detached_child_does_not_hold_the_job(box: Sandbox) -> None:
    source = prog("""
        import os, time
        def f():
            if os.fork() == 0:
                os.setsid()
                time.sleep(1000)
            return 'parent'
        """)
    started = time.monotonic()
    trace = box.run(Job(source, "f()", limits=Limits(wall_seconds=20, cpu_seconds=20)))
    assert trace.outcome.status == "returned" and trace.outcome.value == "'parent'", trace.outcome
    assert time.monotonic() - started < 5, "the job waited for its detached child"


def test_a_trace_over_the_size_cap_says_so(box: Sandbox) -> None:
    source = "def f():\n    s = ''\n    for i in range(3000):\n        s = 'x' * 150\n    return len(s)\n"
    limits = Limits(wall_seconds=10, cpu_seconds=10, max_trace_bytes=200_000, max_events=100_000)
    trace = box.run(Job(source, "f()", limits=limits))
    assert trace.outcome.status == "trace_limit", trace.outcome
    assert "returned" in trace.outcome.detail and "max_trace_bytes" in trace.outcome.detail
    assert 100 < len(trace.events) < 6000 and trace.outcome.events == len(trace.events)
    assert len(trace.to_json().encode()) <= 200_000
    assert [e.kind for e in trace.events[:2]] == ["call", "line"]


def test_a_source_over_the_size_cap_gets_a_clear_outcome(box: Sandbox) -> None:
    source = "x = 1\n" + "# padding\n" * 20_000
    trace = box.run(Job(source, None, limits=Limits(max_trace_bytes=100_000)))
    assert trace.outcome.status == "trace_limit", trace.outcome
    assert "over max_trace_bytes" in trace.outcome.detail


def test_a_tiny_wall_limit_is_a_timeout(box: Sandbox) -> None:
    trace = box.run(Job("def f():\n    while True:\n        pass\n", "f()", limits=Limits(wall_seconds=1e-9)))
    assert trace.outcome.status == "timeout", trace.outcome


def test_a_program_that_clears_sys_modules_is_its_own_outcome(box: Sandbox) -> None:
    source = "import sys\ndef f():\n    sys.modules.clear()\n    x = 1\n    return x\n"
    trace = box.run(Job(source, "f()", limits=LIMITS))
    assert trace.outcome.status != "sandbox_error", trace.outcome
    assert [e.kind for e in trace.events][:2] == ["call", "line"]


def test_text_that_is_not_unicode_keeps_the_trace(box: Sandbox) -> None:
    source = prog("""
        def f():
            name = b'caf\\xff'.decode('utf-8', 'surrogateescape')
            lone = '\\ud800'
            print(lone, name)
            try:
                open(name)
            except OSError as exc:
                err = exc
            raise ValueError(lone + name)
        """)
    trace = box.run(Job(source, "f()", limits=LIMITS))
    assert trace.outcome.status == "raised", trace.outcome
    assert len(trace.events) >= 8
    json.loads(trace.to_json())  # the whole trace is one valid JSON text


# -- what the red team found --------------------------------------------------------------
SECRET = "def f():\n    secret = 'TOPSECRET-' + 'A' * 5\n    return secret\n"
SPY_FRAMES = prog("""
    import sys
    def f():
        found, needle = [], 'TOPSECRET-' + 'A' * len('abcde')  # not in this source as one text
        frame = sys._getframe().f_back
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, (bytes, bytearray, str, dict, list)) and needle in repr(value):
                    found.append(frame.f_code.co_name)
            frame = frame.f_back
        return found
    """)
SPY_HEAP = prog(f"""
    import ctypes
    def f():
        hits = 0
        for line in open('/proc/self/maps'):
            span, perms = line.split()[:2]
            if not perms.startswith('r'):
                continue
            start, end = (int(x, 16) for x in span.split('-'))
            if end - start > 256 << 20 or '[v' in line:
                continue
            try:
                # the secret, built here as a temporary: never a local (the tracer would render
                # it into this job's own trace) nor a constant of this code
                hits += ctypes.string_at(start, end - start).count(bytes.fromhex('{b"TOPSECRET-AAAAA".hex()}'))
            except Exception:
                pass
        return hits
    """)


def test_a_job_finds_nothing_of_the_jobs_before_it(box: Sandbox) -> None:
    assert box.run(Job(SECRET, "f()", limits=LIMITS)).outcome.value == "'TOPSECRET-AAAAA'"
    assert box.run(Job(SPY_FRAMES, "f()", limits=LIMITS)).outcome.value == "[]"
    heap = box.run(Job(SPY_HEAP, "f()", limits=Limits(wall_seconds=20, cpu_seconds=20)))
    assert heap.outcome.status == "returned", heap.outcome
    # the secret job's trace (its event, return and outcome texts) was found hundreds of times
    assert int(heap.outcome.value or "99") <= 2, heap.outcome


PLANT_UNREMOVABLE = prog("""
    import os
    def f():
        os.makedirs('/tmp/a/b')
        for i in range(3):
            with open(f'/tmp/a/b/fill{i}', 'wb') as fh:
                fh.write(b'x' * (4 << 20))
        os.chmod('/tmp/a/b', 0)
        os.chmod('/tmp/a', 0o500)
        os.chdir('/tmp')
        for _ in range(1500):
            os.mkdir('d')
            os.chdir('d')
        return 'planted'
    """)
USE_TMP = prog("""
    import os
    def f():
        with open('/tmp/out.txt', 'w') as fh:
            fh.write('hello ' * 100000)
        return sorted(os.listdir('/tmp'))
    """)


def test_what_a_job_makes_hard_to_remove_is_removed(box: Sandbox) -> None:
    planted = box.run(Job(PLANT_UNREMOVABLE, "f()", limits=Limits(wall_seconds=10, cpu_seconds=10)))
    assert planted.outcome.value == "'planted'", planted.outcome
    for _ in range(2):
        used = box.run(Job(USE_TMP, "f()", limits=LIMITS))
        assert used.outcome.value == "['out.txt']", used.outcome


@pytest.mark.slow
@pytest.mark.docker
def test_one_jobs_processes_do_not_starve_another_sandbox() -> None:
    """All Docker containers run as nobody: RLIMIT_NPROC would count them all together."""
    bomb = prog("""
        import os, time
        def f():
            for i in range(200):
                try:
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                except OSError:
                    break
            time.sleep(3)
        """)
    sleeper = "import time\ndef f(i):\n    time.sleep(0.1)\n    return i * 2\n"
    for backend in ("docker", "process"):
        with open_sandbox(backend, workers=2) as sandbox:
            sandbox.run(Job(sleeper, "f(0)", limits=LIMITS))  # one worker warm: the bomb gets it
            jobs = [Job(bomb, "f()", id="bomb", limits=Limits(wall_seconds=5, cpu_seconds=5))]
            jobs += [Job(sleeper, f"f({i})", id=f"inn{i}", limits=LIMITS) for i in range(10)]
            results = dict(sandbox.map(jobs))
            for i in range(10):
                assert results[f"inn{i}"].outcome.value == str(2 * i), (backend, results[f"inn{i}"].outcome)


def test_an_outcome_too_big_for_the_cap_is_cut_not_lost(box: Sandbox) -> None:
    source = 'def f():\n    x = 1\n    print("\\x01" * 900_000, end="")\n    return x\n'
    trace = box.run(Job(source, "f()", limits=Limits(max_trace_bytes=50_000, max_output_bytes=1_000_000)))
    # the printed text is in an event (its stdout) and in the outcome, each 6 bytes a character
    assert trace.outcome.status == "trace_limit", trace.outcome
    assert "the run ended returned" in trace.outcome.detail and "cut to fit max_trace_bytes" in trace.outcome.detail
    assert trace.outcome.value == "1" and [e.kind for e in trace.events] == ["call", "line"]
    assert len(trace.to_json().encode()) <= 50_000


KEYS_AND_QUEUES = prog("""
    import ctypes, os, platform
    ADD_KEY, KEYCTL = {'x86_64': (248, 250), 'aarch64': (217, 219)}[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mq_open.restype = ctypes.c_int
    def leave():
        data = b'left by the last job'
        keys = [libc.syscall(ADD_KEY, b'user', b'cwm-note', data, len(data), ring) for ring in (-4, -5)]
        mq = libc.mq_open(b'/cwm-note', os.O_CREAT | os.O_WRONLY, 0o600, None)
        sent = mq >= 0 and libc.mq_send(mq, data, len(data), 0) == 0
        return keys, sent
    def find():
        found = []
        for ring in (-4, -5):
            key = libc.syscall(KEYCTL, 10, ring, b'user', b'cwm-note', 0)  # KEYCTL_SEARCH
            if key > 0:
                found.append(('key', ring))
        mq = libc.mq_open(b'/cwm-note', os.O_RDONLY | os.O_NONBLOCK, 0, None)
        if mq >= 0:
            buf = ctypes.create_string_buffer(8192)
            if libc.mq_receive(mq, buf, 8192, None) > 0:
                found.append(('queue', buf.value))
        return found
    """)


def test_keyrings_and_message_queues_do_not_carry_over(box: Sandbox) -> None:
    left = box.run(Job(KEYS_AND_QUEUES, "leave()", limits=LIMITS))
    assert left.outcome.status == "returned", left.outcome
    found = box.run(Job(KEYS_AND_QUEUES, "find()", limits=LIMITS))
    assert found.outcome.value == "[]", (left.outcome.value, found.outcome)
