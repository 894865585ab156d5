"""Each sandbox of a pool runs on a CPU of its own (sandbox.cpus)."""

from __future__ import annotations

import os

import pytest

from sandbox import Job, Sandbox
from sandbox.cpus import CpuPins, usable_cpus

from .sandbox_support import BACKEND_PARAMS, open_sandbox

# sleeps, so that every worker of the pool takes one; answers the CPUs the job may run on
WHERE = "import os, time\ndef f():\n    time.sleep(0.3)\n    return sorted(os.sched_getaffinity(0))\n"


def test_pins_go_to_the_least_loaded_cpu_and_come_back() -> None:
    pins = CpuPins([0, 1, 2])
    assert [pins.take() for _ in range(4)] == [0, 1, 2, 0]
    pins.give(1)
    assert pins.take() == 1  # the freed one, before a second sandbox on 2
    pins.give(None)  # an unpinned sandbox gives nothing back
    pins.disable()
    assert pins.take() is None
    assert CpuPins([]).take() is None


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_each_worker_of_a_pool_runs_on_its_own_cpu(backend: str) -> None:
    cpus = usable_cpus()
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to spread over")
    open_sandbox(backend).close()  # skips where the backend cannot run
    with Sandbox(backend, workers=2) as box:
        seen = {trace.outcome.value for _, trace in box.map([Job(WHERE, "f()", id=str(i)) for i in range(4)])}
    assert seen == {f"[{cpus[0]}]", f"[{cpus[1]}]"}, seen


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_pinning_can_be_turned_off(backend: str) -> None:
    open_sandbox(backend).close()
    if backend == "docker":
        from sandbox.docker_backend import DockerBackend

        made = DockerBackend(pin_cpus=False)
    else:
        from sandbox.process_backend import ProcessBackend

        made = ProcessBackend(pin_cpus=False)
    with Sandbox(made, workers=1) as box:
        trace = box.run(Job(WHERE, "f()"))
    assert trace.outcome.value == str(sorted(os.sched_getaffinity(0))), trace.outcome
