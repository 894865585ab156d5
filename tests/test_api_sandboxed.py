"""`cwm.record`, the public API, runs programs in the sandbox: they cannot harm the caller.

The harmful cases run in a child Python, so that a regression (the program
running in the caller's process) fails the test instead of ending pytest.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import cwm

ROOT = Path(__file__).resolve().parents[1]


def python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.docker
def test_a_program_cannot_write_the_callers_files(tmp_path: Path) -> None:
    target = tmp_path / "written-by-the-program"
    source = f"def f():\n    with open({str(target)!r}, 'w') as out:\n        out.write('pwned')\n    return 'wrote'\n"
    trace = cwm.record(source, "f()")
    assert not target.exists()
    assert trace.outcome.status == "raised"  # the host's path does not exist in the sandbox


@pytest.mark.docker
def test_os_exit_in_the_program_does_not_end_the_caller() -> None:
    result = python(
        "import cwm\n"
        "trace = cwm.record('import os\\ndef f():\\n    os._exit(7)\\n', 'f()')\n"
        "print(trace.outcome.status)\n"
        "print('caller still here')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["crashed", "caller still here"]


@pytest.mark.docker
def test_a_hanging_program_does_not_hang_the_caller() -> None:
    started = time.monotonic()
    result = python(
        "import cwm\n"
        "trace = cwm.record('import time\\ndef f():\\n    time.sleep(3600)\\n', 'f()', timeout=1)\n"
        "print(trace.outcome.status)\n",
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "timeout"
    assert time.monotonic() - started < 30


@pytest.mark.docker
def test_record_takes_the_trace_options() -> None:
    source = "def f(n):\n    s = 'x' * 100\n    for i in range(n):\n        s += 'y'\n    return s\n"
    trace = cwm.record(source, "f(50)", max_events=5, cap=20, backend="settrace", id="mine")
    assert trace.program.id == "mine"
    assert trace.outcome.status == "step_limit" and len(trace.events) == 5
    assert all(len(value) <= 20 for event in trace.events for value in (event.locals or {}).values())


@pytest.mark.docker
def test_a_program_that_does_not_compile_raises_program_error() -> None:
    with pytest.raises(cwm.ProgramError, match="does not compile"):
        cwm.record("def f(:\n", "f()")
    with pytest.raises(cwm.ProgramError, match="entry") as caught:
        cwm.record("def f():\n    return 1\n", "f(")
    assert caught.value.part == "entry"


@pytest.mark.docker
def test_the_sandbox_says_which_part_did_not_compile_in_the_outcome() -> None:
    """The reason is a typed field of the contract, not a message to match (a program's own
    SyntaxError, which compiled, is an ordinary ``raised`` with no compile_error)."""
    jobs = [
        cwm.Job("def f(:\n", "f()", id="source"),
        cwm.Job("def f():\n    return 1\n", "f(", id="entry"),
        cwm.Job("def f():\n    return 1\n", "compile('(', 'x', 'exec')", id="own"),
        cwm.Job("def f():\n    compile('(', 'x', 'exec')\n", "f()", id="own-inside"),
    ]
    with cwm.Sandbox("auto") as box:
        traces = dict(box.map(jobs))
    assert traces["source"].outcome.compile_error == "source"
    assert traces["entry"].outcome.compile_error == "entry"
    for own in ("own", "own-inside"):
        outcome = traces[own].outcome
        assert outcome.status == "raised" and outcome.value and outcome.value.startswith("SyntaxError")
        assert outcome.compile_error is None
    again = cwm.Trace.from_json(traces["source"].to_json())  # the field survives JSON
    assert again.outcome.compile_error == "source"


@pytest.mark.docker
def test_one_sandbox_for_many_traces() -> None:
    with cwm.Sandbox("auto", workers=2) as box:
        jobs = [cwm.Job(f"def f():\n    return {n}\n", "f()", id=f"j{n}") for n in range(4)]
        values = {job_id: trace.outcome.value for job_id, trace in box.map(jobs)}
    assert values == {f"j{n}": str(n) for n in range(4)}


def test_options_the_sandbox_cannot_honour_are_refused_before_it_starts() -> None:
    for timeout in (float("inf"), float("nan"), 0.0, -1.0, 1e-9):
        with pytest.raises(ValueError, match="the timeout must be from"):
            cwm.record("x = 1\n", timeout=timeout, sandbox="docker")


def test_no_sandbox_raises_sandbox_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")  # a daemon that does not answer
    with pytest.raises(cwm.SandboxUnavailable):
        cwm.record("def f():\n    return 1\n", "f()", sandbox="docker")


def test_in_process_recording_runs_in_this_process() -> None:
    """record_in_process is the unisolated one: the program runs in the caller's own process."""
    import os

    trace = cwm.record_in_process("import os\ndef f(x):\n    return (os.getpid(), x * 2)\n", "f(21)")
    assert trace.outcome.value == repr((os.getpid(), 42))


def test_import_cwm_is_light() -> None:
    """No docker-py, rich, torch at `import cwm`; the sandbox comes on first use."""
    result = python(
        "import sys, cwm\n"
        "heavy = ('docker', 'rich', 'torch', 'transformers', 'sandbox')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "cwm.Sandbox\n"
        "print('sandbox' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "True"]
