"""`cwm` as a user meets it when things go wrong: one line and the documented exit code.

Each test runs the real command in a subprocess on real files. Those that run
a program use the default sandbox (Docker here) and are marked ``docker``;
the others are refused before any sandbox starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracer import Trace, parse_cwm

ROOT = Path(__file__).resolve().parents[1]
EXIT_USAGE = 2


def cwm(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line (what the `cwm` console script runs) in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "cwm", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )


def one_error_line(result: subprocess.CompletedProcess[str], command: str = "trace") -> str:
    """The command failed with exit 2 and said why in one last line (argparse may print usage above)."""
    assert result.returncode == EXIT_USAGE, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"cwm {command}: error:"), result.stderr
    return last


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text("def f(x):\n    y = x + 1\n    return y\n")
    return path


# -- bad options: refused before anything runs -------------------------------------------------


@pytest.mark.parametrize("cap", ["1", "7"])
def test_a_cap_too_small_to_render_is_refused(prog: Path, cap: str) -> None:
    last = one_error_line(cwm("trace", str(prog), "--call", "f(1)", "--cap", cap))
    assert "--cap" in last and "at least 8" in last


@pytest.mark.parametrize("timeout", ["inf", "1e10", "nan", "-1", "0", "1e-9"])
def test_a_timeout_out_of_range_is_refused(prog: Path, timeout: str) -> None:
    last = one_error_line(cwm("trace", str(prog), "--call", "f(1)", "--timeout", timeout))
    assert "--timeout" in last and "the timeout must be from" in last


def test_a_dataset_build_timeout_out_of_range_is_refused(tmp_path: Path) -> None:
    result = cwm("dataset", "build", "--source", "humaneval", "--out", str(tmp_path / "d"), "--timeout", "inf")
    assert "the timeout must be from" in one_error_line(result, "dataset build")


@pytest.mark.parametrize("command", ["trace", "dataset build"])
def test_max_events_past_what_a_job_may_record_is_refused(prog: Path, tmp_path: Path, command: str) -> None:
    from sandbox.job import LIMIT_MAX

    too_many = str(int(LIMIT_MAX["max_events"]) + 1)
    if command == "trace":
        result = cwm("trace", str(prog), "--call", "f(1)", "--max-events", too_many)
    else:
        result = cwm(
            "dataset", "build", "--source", "humaneval", "--out", str(tmp_path / "d"), "--max-events", too_many
        )
    assert "--max-events" in (last := one_error_line(result, command)) and "must be at most" in last


@pytest.mark.parametrize("command", ["build", "merge"])
def test_a_dataset_out_that_cannot_be_made_is_refused(tmp_path: Path, command: str) -> None:
    if command == "build":
        source = tmp_path / "p.jsonl"
        source.write_text(json.dumps({"source": "def f(x):\n    return x\n", "entry": "f(1)"}) + "\n")
        result = cwm("dataset", "build", "--source", f"jsonl={source}", "--out", "/proc/cwm-out")
    else:
        result = cwm("dataset", "merge", "--out", "/proc/cwm-out", str(tmp_path))
    assert "--out /proc/cwm-out: cannot create it" in one_error_line(result, f"dataset {command}")


def test_bench_options_that_do_not_go_together_are_one_line(tmp_path: Path) -> None:
    result = cwm("bench", "--suite", "cruxeval", "--predictor", "copy", "--constrain", "--out", str(tmp_path / "b"))
    assert "--constrain is for hf predictors" in one_error_line(result, "bench")


def test_bench_on_a_folder_that_holds_no_model_is_one_line(tmp_path: Path) -> None:
    result = cwm("bench", "--suite", "cruxeval", "--predictor", f"hf:{tmp_path}", "--out", str(tmp_path / "b"))
    assert "not a model folder: it holds no config.json" in one_error_line(result, "bench")


@pytest.mark.parametrize("tag", ["bad tag!!", "Upper:1", "name:"])
def test_a_sandbox_image_tag_docker_cannot_read_is_refused(tag: str) -> None:
    result = cwm("sandbox", "build-image", "--tag", tag)
    assert "is not a Docker image name" in one_error_line(result, "sandbox build-image")


@pytest.mark.parametrize("command", ["trace", "dataset build", "sandbox check"])
def test_an_unknown_option_is_refused_with_its_commands_usage(prog: Path, command: str) -> None:
    words = {"trace": [str(prog)], "dataset build": ["--source", "humaneval", "--out", "d"], "sandbox check": []}
    result = cwm(*command.split(), *words[command], "--bogus")
    assert "unrecognized arguments: --bogus" in one_error_line(result, command)
    assert result.stderr.startswith(f"usage: cwm {command} "), result.stderr


def test_a_call_that_is_not_utf8_is_refused(prog: Path) -> None:
    result = cwm("trace", os.fsencode(prog), "--call", b"f(\xff)")  # argv bytes that are not UTF-8
    assert "is not UTF-8 text" in one_error_line(result)


def test_out_under_a_regular_file_is_refused_before_running(prog: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    prog.write_text(f"def f(x):\n    open({str(marker)!r}, 'w').close()\n")
    last = one_error_line(cwm("trace", str(prog), "--call", "f(1)", "--sandbox", "none", "--out", f"{prog}/sub"))
    assert "is a file, not a directory" in last
    assert not marker.exists()  # refused before the (here unisolated) program could run


def test_dataset_merge_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "traces"
    existing.write_text("not a directory\n")
    last = one_error_line(cwm("dataset", "merge", "--out", str(existing), str(tmp_path)), "dataset merge")
    assert f"--out {existing} is a file, not a directory" in last


def test_dataset_build_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "traces"
    existing.write_text("not a directory\n")
    source = tmp_path / "p.jsonl"
    source.write_text(json.dumps({"source": "def f(x):\n    return x\n", "entry": "f(1)"}) + "\n")
    result = cwm("dataset", "build", "--source", f"jsonl={source}", "--out", str(existing / "sub"))
    assert "which is a file, not a directory" in one_error_line(result, "dataset build")


# -- files that are not Python sources ------------------------------------------------------------


def test_a_device_is_refused_without_reading_it() -> None:
    last = one_error_line(cwm("trace", "/dev/zero"))
    assert "/dev/zero is not a regular file" in last


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "prog.py"
    os.mkfifo(fifo)
    last = one_error_line(cwm("trace", str(fifo)))  # opening it for reading would wait for a writer
    assert "is not a regular file" in last


def test_a_file_over_the_trace_cap_is_refused(tmp_path: Path) -> None:
    from cwm.commands.trace import MAX_SOURCE_BYTES

    huge = tmp_path / "huge.py"
    with huge.open("wb") as f:
        f.truncate(MAX_SOURCE_BYTES + 1)  # sparse: costs no disk
    last = one_error_line(cwm("trace", str(huge)))
    assert f"is larger than {MAX_SOURCE_BYTES:,} bytes" in last


# -- what runs: one line on stderr, the right exit code -------------------------------------------


@pytest.mark.docker
def test_a_utf8_file_with_a_byte_order_mark_runs_as_python_runs_it(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbfdef f():\n    return 'ok'\n")
    result = cwm("trace", str(path), "--call", "f()", "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = Trace.from_json(result.stdout)
    assert trace.outcome.value == "'ok'"
    assert trace.program.source == "def f():\n    return 'ok'\n"  # the mark is not part of the program


@pytest.mark.docker
def test_a_file_name_that_is_not_utf8_still_traces(tmp_path: Path) -> None:
    path = os.path.join(os.fsencode(tmp_path), b"caf\xe9.py")
    with open(path, "wb") as f:
        f.write(b"def f():\n    return 1\n")
    result = cwm("trace", path, "--call", "f()", "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = Trace.from_json(result.stdout)
    assert trace.program.id == "caf\ufffd" and trace.outcome.value == "1"


@pytest.mark.docker
def test_monitoring_backend_where_the_sandbox_python_lacks_it(prog: Path) -> None:
    """The process sandbox runs the system's Python: where that is older than 3.12, exit 2."""
    from sandbox.process_backend import system_python

    version = subprocess.run(
        [system_python(), "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True
    ).stdout.strip()
    if shutil.which("bwrap") is None or version != "False":
        pytest.skip("needs bubblewrap and a system Python older than 3.12")
    result = cwm("trace", str(prog), "--call", "f(1)", "--backend", "monitoring", "--sandbox", "process")
    assert "the monitoring backend needs Python 3.12+, the sandbox runs 3." in one_error_line(result)


@pytest.mark.docker
def test_monitoring_backend_where_the_sandbox_has_it(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f(1)", "--backend", "monitoring", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert Trace.from_json(result.stdout).outcome.value == "2"


@pytest.mark.docker
def test_a_trace_cut_at_the_size_cap_is_a_limit_exit_3(tmp_path: Path) -> None:
    names = " = ".join(f"v{i}" for i in range(40))  # 40 locals of 200 characters in every event
    path = tmp_path / "wide.py"
    path.write_text(f"def f(n):\n    {names} = 'x' * 1000\n    for i in range(n):\n        v0 = i\n    return 1\n")
    result = cwm("trace", str(path), "--call", "f(5000)", "--format", "json")
    assert result.returncode == 3, result.stderr
    assert Trace.from_json(result.stdout).outcome.status == "trace_limit"


@pytest.mark.slow
def test_a_job_the_sandbox_ran_but_could_not_report_is_exit_1_not_4(tmp_path: Path, capsys) -> None:
    """Exit 4 means no sandbox could be started. A sandbox that ran the job and answered
    ``sandbox_error`` (here: the tracer backend asked for is one the sandbox's Python
    lacks, sent past the command line's own check) is exit 1, with the trace written
    and one line on stderr."""
    from cwm.cli import EXIT_RAISED
    from cwm.commands.trace import finish_trace
    from sandbox import Job, Sandbox
    from sandbox.process_backend import system_python

    from .sandbox_support import bwrap_problem

    if bwrap_problem():
        pytest.skip(bwrap_problem())
    python = subprocess.run(
        [system_python(), "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True
    ).stdout.strip()
    if python != "False":
        pytest.skip("the system's Python has sys.monitoring: no backend it lacks")
    with Sandbox("process") as box:
        trace = box.run(Job("def f():\n    return 1\n", "f()", tracer_backend="monitoring"))
    assert trace.outcome.status == "sandbox_error", trace.outcome
    out = tmp_path / "t.json"
    assert finish_trace(trace, "json", str(out)) == EXIT_RAISED
    assert Trace.from_json(out.read_text()).outcome.status == "sandbox_error"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cwm trace: the sandbox could not report the run:")


def test_no_sandbox_is_exit_4(prog: Path) -> None:
    result = cwm(
        "trace", str(prog), "--call", "f(1)", "--sandbox", "docker", env={"DOCKER_HOST": "unix:///nonexistent"}
    )
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("cwm trace: error:")


def test_sandbox_none_warns_in_one_line(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f(1)", "--sandbox", "none", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "cwm: warning: sandbox 'none': programs run with rlimits only, NOT isolated from this machine"
    ]


def test_sandbox_check_none_warns_in_one_line() -> None:
    result = cwm("sandbox", "check", "--sandbox", "none")
    assert result.stderr.splitlines() == [
        "cwm: warning: sandbox 'none': programs run with rlimits only, NOT isolated from this machine"
    ], result.stderr
    assert result.stdout.startswith("backend: none\n")


def test_dataset_build_sandbox_none_warns_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text(json.dumps({"source": "def f(x):\n    return x\n", "entry": "f(1)"}) + "\n")
    result = cwm("dataset", "build", "--source", f"jsonl={source}", "--out", str(tmp_path / "d"), "--sandbox", "none")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert warnings == ["cwm: warning: sandbox 'none': programs run with rlimits only, NOT isolated from this machine"]
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr


# -- output ------------------------------------------------------------------------------------


@pytest.mark.docker
def test_pretty_escapes_terminal_control_sequences(tmp_path: Path) -> None:
    """What the program prints, its values and its source lines cannot drive the terminal."""
    path = tmp_path / "esc.py"
    path.write_text(
        "class Evil:\n"
        "    def __repr__(self):\n"
        "        return '\\x1b]0;pwned\\x07'\n"
        "def f():\n"
        "    print('\\x1b[31mred\\x1b[0m\\rover')\n"
        "    title = '\x1b[2J'\n"  # a raw ESC in the source line itself
        "    e = Evil()\n"
        "    return e\n"
    )
    result = cwm("trace", str(path), "--call", "f()", "--format", "pretty")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not any(c in out for c in "\x1b\x07\r"), repr(out)
    assert "> \\x1b[31mred\\x1b[0m\\x0dover" in out  # printed output
    assert "title = '\\x1b[2J'" in out  # the source line (and the value it gave)
    assert "-> \\x1b]0;pwned\\x07" in out  # a value rendered by the program's own __repr__


@pytest.mark.docker
def test_pretty_rows_keep_their_columns_and_no_trailing_spaces(tmp_path: Path) -> None:
    path = tmp_path / "raise.py"
    path.write_text("def f(n):\n    m = n + 1\n    raise ValueError(m)\n")
    result = cwm("trace", str(path), "--call", "f(1)", "--format", "pretty")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("exception raise ValueError(m)" in line for line in lines), result.stdout
    assert all(line == line.rstrip() for line in lines), [line for line in lines if line != line.rstrip()]


@pytest.mark.docker
def test_cwm_format_on_stdout_ends_in_a_newline(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f(1)", "--format", "cwm")
    assert result.returncode == 0
    assert result.stdout.endswith("<|frame_sep|>\n") and parse_cwm(result.stdout).valid


@pytest.mark.docker
@pytest.mark.parametrize("fmt", ["pretty", "json", "cwm"])
def test_a_closed_pipe_stops_quietly(tmp_path: Path, fmt: str) -> None:
    """`cwm trace ... | head -1`: exit 0 or 141 (SIGPIPE), nothing on stderr."""
    path = tmp_path / "loop.py"
    path.write_text("def f(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cwm", "trace", str(path), "--call", "f(3000)", "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141), err
    assert err == ""


def test_dataset_stats_and_show_have_help() -> None:
    for action in ("stats", "show"):
        result = cwm("dataset", action, "--help")
        assert result.returncode == 0
        assert "examples:" in result.stdout and f"cwm dataset {action} out/traces" in result.stdout
        assert "the dataset directory" in result.stdout


def test_exit_code_help_names_the_trace_size_cap() -> None:
    result = cwm("trace", "--help")
    assert "trace-size cap" in result.stdout and "sandbox_error" in result.stdout
