"""The progress reporter of long work (sandbox/progress.py): plain lines where there is no terminal."""

from __future__ import annotations

import io

import pytest

from sandbox import Job
from sandbox.progress import Progress

from .sandbox_support import BACKEND_PARAMS, open_sandbox


def test_without_a_terminal_it_prints_whole_lines_at_intervals() -> None:
    stream = io.StringIO()
    bar = Progress("tracing", total=4, stream=stream, every=3600)
    for n in range(4):
        bar.advance(counts=f"returned {n + 1}")
    assert stream.getvalue() == "", "no line before the interval has passed"
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracing: 4/4 (100%)") and lines[0].endswith("| returned 4")
    bar.close()  # closing twice prints nothing more
    assert len(stream.getvalue().splitlines()) == 1


def test_every_interval_gets_a_line_and_an_unknown_total_counts_up() -> None:
    stream = io.StringIO()
    bar = Progress("collecting programs", stream=stream, every=0, unit="programs")
    bar.update(completed=10)
    bar.update(completed=25, counts="skipped 2")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("collecting programs: 10 programs") and "eta" not in lines[0]
    assert lines[1].startswith("collecting programs: 25 programs") and lines[1].endswith("| skipped 2")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_sandbox_map_reports_on_stderr(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    with open_sandbox(backend) as box:
        jobs = [Job("def f(x):\n    return x\n", f"f({i})") for i in range(3)]
        assert len(list(box.map(jobs, progress=True))) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1].startswith("tracing: 3/3 (100%)"), captured.err
