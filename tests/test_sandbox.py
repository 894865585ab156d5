"""The sandbox's interface against real backends: run, map, limits, replacement."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Job, Limits, Sandbox, open_backend
from sandbox.worker import failed

from .sandbox_support import BACKEND_PARAMS, open_sandbox

ROOT = Path(__file__).resolve().parents[1]
DOUBLE = "def f(x):\n    y = x * 2\n    return y\n"


@pytest.fixture(params=BACKEND_PARAMS)
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sandbox = open_sandbox(request.param, workers=2)
    yield sandbox
    sandbox.close()


def test_run_traces_in_the_sandbox(box: Sandbox) -> None:
    trace = box.run(Job(DOUBLE, "f(21)", id="double"))
    assert trace.outcome.status == "returned" and trace.outcome.value == "42"
    assert trace.program.id == "double"
    assert [(e.kind, e.line) for e in trace.events] == [("call", 1), ("line", 2), ("line", 3), ("return", 3)]
    python = trace.program.python
    assert python == box.python
    if box.backend.name == "docker":
        assert python.startswith("3.13"), "the image runs Python 3.13"


def test_map_streams_one_tagged_result_per_job(box: Sandbox) -> None:
    jobs = [Job(DOUBLE, f"f({i})", id=f"j{i}") for i in range(30)]
    results = list(box.map(jobs, progress=False))
    assert sorted(job_id for job_id, _ in results) == sorted(job.id for job in jobs)
    for job_id, trace in results:
        assert trace.program.id == job_id
        assert trace.outcome.value == str(int(job_id[1:]) * 2)


def test_a_timeout_keeps_the_partial_trace(box: Sandbox) -> None:
    source = "import time\ndef f():\n    n = 0\n    while True:\n        n += 1\n        time.sleep(0.01)\n"
    trace = box.run(Job(source, "f()", limits=Limits(wall_seconds=1, cpu_seconds=1)))
    assert trace.outcome.status == "timeout"
    assert len(trace.events) > 10 and trace.events[0].kind == "call"
    assert "wall-clock" in trace.outcome.detail


def test_a_step_limit_cannot_be_caught(box: Sandbox) -> None:
    source = "def f():\n    while True:\n        try:\n            n = 1\n            n += 1\n        except BaseException:\n            pass\n"
    trace = box.run(Job(source, "f()", limits=Limits(max_events=50)))
    assert trace.outcome.status == "step_limit" and len(trace.events) == 50


def test_a_dead_worker_is_replaced(box: Sandbox) -> None:
    """Kill the server under a running job: that job says why, the next one runs."""
    box.run(Job(DOUBLE, "f(1)"))  # a warm worker
    victims: list[object] = []

    def kill_soon() -> None:
        time.sleep(0.5)
        if box.backend.name == "docker":
            for container in list(box.backend._containers.values()):
                victims.append(container)
                container.kill()
        else:
            for proc in list(box.backend._procs.values()):
                victims.append(proc)
                proc.kill()

    killer = threading.Thread(target=kill_soon)
    killer.start()
    trace = box.run(Job("import time\ndef f():\n    time.sleep(3)\n", "f()", id="victim"))
    killer.join()
    assert victims
    assert trace.program.id == "victim"
    assert trace.outcome.status == "crashed" and "died" in trace.outcome.detail
    after = box.run(Job(DOUBLE, "f(5)"))
    assert after.outcome.value == "10"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="wall_seconds"):
        Limits(wall_seconds=0)
    for bad in (
        {"wall_seconds": float("inf")},
        {"cpu_seconds": float("nan")},
        {"wall_seconds": 1e10},
        {"max_trace_bytes": 2**62},
        {"memory_mb": -1},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Limits(**bad)
    with pytest.raises(TypeError, match="memory_mb"):
        Limits(memory_mb="512")  # type: ignore[arg-type]
    assert Limits(wall_seconds=1e-9).wall_seconds == 1e-9  # tiny is allowed: the job then times out
    with pytest.raises(ValueError, match="unknown sandbox"):
        open_backend("vm")


def test_none_backend_warns_and_still_runs() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        box = Sandbox("none")
    assert any("NOT isolated" in str(w.message) for w in caught)
    with box:
        assert box.run(Job(DOUBLE, "f(2)")).outcome.value == "4"


def test_jobs_that_are_not_jobs_are_refused_at_once() -> None:
    # a tuple handed to map used to kill the worker threads and leave map waiting forever
    with Sandbox("none") as box:
        with pytest.raises(TypeError, match="Job objects"):
            list(box.map([(DOUBLE, "f(1)")]))  # type: ignore[list-item]
        with pytest.raises(TypeError, match="Job objects"):
            box.run(DOUBLE)  # type: ignore[arg-type]
        assert box.run(Job(DOUBLE, "f(2)")).outcome.value == "4"  # the sandbox still works


def test_failed_results_follow_the_contract() -> None:
    import jsonschema

    from tracer import Trace, load_schema

    trace = failed(Job(DOUBLE, "f(1)", id="x"), "sandbox_error", "why")
    assert trace.program.id == "x" and trace.outcome.status == "sandbox_error" and trace.events == []
    assert (trace.program.source, trace.program.entry, trace.outcome.detail) == (DOUBLE, "f(1)", "why")
    data = trace.to_dict()
    schema = load_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(data)
    assert Trace.from_json(trace.to_json()).to_dict() == data


@pytest.mark.docker
@pytest.mark.slow
def test_docker_containers_are_locked_down() -> None:
    box = open_sandbox("docker")
    with box:
        box.run(Job(DOUBLE, "f(1)"))
        (container,) = box.backend._containers.values()
        container.reload()
        host = container.attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["NetworkMode"] == "none"
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["Memory"] > 0 and host["MemorySwap"] == host["Memory"]
        assert host["NanoCpus"] > 0 and host["PidsLimit"] > 0
        assert "/tmp" in host["Tmpfs"] and "size=" in host["Tmpfs"]["/tmp"]
        assert container.attrs["Config"]["User"] == "65534:65534"
        assert container.attrs["Config"]["Env"].count("PYTHONHASHSEED=0") == 1
        mounts = container.attrs["Mounts"]
        # the channel: the host's socket, there only until the server has connected
        assert sorted(m["Destination"] for m in mounts) == [
            "/opt/cwm/channel",
            "/opt/cwm/forkserver.py",
            "/opt/cwm/tracer",
        ]
        assert all(m["RW"] is False for m in mounts)
        probe = (
            "import socket\ndef f():\n    s = socket.socket(socket.AF_UNIX)\n"
            "    try:\n        s.connect('/opt/cwm/channel/s')\n    except OSError as exc:\n"
            "        return type(exc).__name__\n    return 'connected'\n"
        )
        seen = box.run(Job(probe, "f()"))
        assert seen.outcome.value in ("'FileNotFoundError'", "'PermissionError'"), seen.outcome


@pytest.mark.docker
@pytest.mark.slow
def test_cwm_sandbox_check_and_trace_use_docker() -> None:
    open_sandbox("docker").close()  # skips (fails in CI) where Docker cannot run
    check = subprocess.run(
        [sys.executable, "-m", "cwm", "sandbox", "check", "--sandbox", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "backend: docker" in check.stdout and "python:  3.13" in check.stdout
    assert check.stdout.count("ok  ") == 3
    traced = subprocess.run(
        [sys.executable, "-m", "cwm", "trace", "examples/collatz.py", "--call", "collatz(6)", "--sandbox", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert traced.returncode == 0, traced.stderr
    assert '"python": "3.13' in traced.stdout


@pytest.mark.docker
@pytest.mark.slow
def test_a_hung_container_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that stops answering (here: its container is frozen) costs one job a timeout."""
    import sandbox.worker

    monkeypatch.setattr(sandbox.worker, "ANSWER_MARGIN", 1.0)
    box = open_sandbox("docker")
    with box:
        box.run(Job(DOUBLE, "f(1)"))
        (container,) = box.backend._containers.values()
        container.pause()
        trace = box.run(Job(DOUBLE, "f(2)", id="frozen", limits=Limits(wall_seconds=1)))
        assert trace.outcome.status == "timeout" and "hung" in trace.outcome.detail
        assert trace.program.id == "frozen"
        assert box.run(Job(DOUBLE, "f(3)")).outcome.value == "6"
        assert container.id not in [c.id for c in box.backend._containers.values()]


def test_module_level_map_and_run() -> None:
    import sandbox

    open_sandbox("process").close()  # skips (fails in CI) without bubblewrap
    jobs = [Job(DOUBLE, f"f({i})", id=f"m{i}") for i in range(5)]
    results = dict(sandbox.map(jobs, workers=2, backend="process"))
    assert {k: t.outcome.value for k, t in results.items()} == {f"m{i}": str(2 * i) for i in range(5)}
    assert sandbox.run(Job(DOUBLE, "f(4)"), backend="process").outcome.value == "8"


def test_auto_says_how_to_get_a_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from sandbox import SandboxUnavailable

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(SandboxUnavailable) as info:
        open_backend("auto")
    message = str(info.value)
    assert (
        "build-image --offline" in message and "apt-get install bubblewrap" in message and "--sandbox none" in message
    )


@pytest.mark.slow
def test_workers_caps_the_servers_started_however_many_threads_run_jobs() -> None:
    from sandbox.process_backend import ProcessBackend

    from .sandbox_support import bwrap_problem

    if bwrap_problem():
        pytest.skip(bwrap_problem())

    class Counting(ProcessBackend):  # the real backend, counting the servers it starts
        started = 0

        def start_worker(self):
            Counting.started += 1
            return super().start_worker()

    results: list[str | None] = []
    with Sandbox(Counting(), workers=1) as box:
        threads = [
            threading.Thread(target=lambda i=i: results.append(box.run(Job(DOUBLE, f"f({i})")).outcome.value))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(results) == ["0", "2", "4", "6"]
    assert Counting.started == 1


def test_the_fork_server_knows_every_limit_the_host_sends() -> None:
    from dataclasses import fields

    from sandbox import forkserver

    assert forkserver.LIMIT_NAMES == tuple(f.name for f in fields(Limits))
    with pytest.raises(ValueError, match="lacks the limits"):
        forkserver._limits({"id": "x", "limits": {"wall_seconds": 1}})
