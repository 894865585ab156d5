"""`cwm trace` end to end, as a user runs it: real processes, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracer import Trace, parse_cwm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def a_sandbox_runs() -> None:
    """`cwm trace` runs programs in the default sandbox: skip (fail in CI) where none can run."""
    import os

    from sandbox import SandboxUnavailable, open_backend

    try:
        open_backend("auto").close()
    except SandboxUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"no sandbox in CI: {exc}")
        pytest.skip(f"no sandbox here: {exc}")


def cwm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cwm", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(
        "def f(xs):\n"
        "    total = 0\n"
        "    for x in xs:\n"
        "        total += x\n"
        "    print('total', total)\n"
        "    return total\n"
        "\n"
        "def boom(n):\n"
        "    return 10 // n\n"
    )
    return path


def test_json_trace_of_a_call(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f([1, 2])", "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = Trace.from_json(result.stdout)
    assert trace.outcome.status == "returned" and trace.outcome.value == "3"
    assert trace.outcome.stdout == "total 3\n"
    assert [e.kind for e in trace.events][:2] == ["call", "line"]
    assert trace.events[0].locals == {"xs": "[1, 2]"}


def test_program_that_raises_gives_a_trace_and_exit_1(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "boom(0)", "--format", "json")
    assert result.returncode == 1
    trace = Trace.from_json(result.stdout)
    assert trace.outcome.status == "raised"
    assert trace.outcome.value == "ZeroDivisionError('integer division or modulo by zero')"
    assert "Traceback" not in result.stderr


def test_step_limit_exit_3(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f(range(100))", "--max-events", "7", "--format", "json")
    assert result.returncode == 3
    trace = Trace.from_json(result.stdout)
    assert trace.outcome.status == "step_limit" and len(trace.events) == 7


def test_cwm_format_and_out_file(prog: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.cwm"
    result = cwm("trace", str(prog), "--call", "f([5])", "--format", "cwm", "--out", str(out))
    assert result.returncode == 0 and result.stdout == ""
    text = out.read_text()
    assert text.startswith("<|trace_context_start|>def f(xs):  # << START_OF_TRACE\n")
    assert '<|call_sep|>{"xs": "[5]"}<|action_sep|>def f(xs):\n<|frame_sep|>' in text
    # the file ends in a newline, as a text file does, and still parses whole
    assert text.endswith('<|return_sep|><|action_sep|>    return total\n<|arg_sep|>"5"<|frame_sep|>\n')
    assert parse_cwm(text).valid


def test_pretty_view(prog: Path) -> None:
    result = cwm("trace", str(prog), "--call", "f([1, 2])", "--format", "pretty")
    assert result.returncode == 0
    out = result.stdout
    assert "total += x" in out and "total = 1" in out and "-> 3" in out and "> total 3" in out
    assert "returned 3" in out


def test_script_mode(tmp_path: Path) -> None:
    path = tmp_path / "script.py"
    path.write_text("import math\nx = math.floor(2.5)\nprint(x)\n")
    result = cwm("trace", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    trace = Trace.from_json(result.stdout)
    assert trace.events[0].func == "<module>" and trace.events[0].line == 1
    assert trace.events[-2].locals == {"math": "<module 'math'>", "x": "2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trace", "missing.py"], "no such file: missing.py"),
        (["trace", "."], "is a directory"),
        (["trace", "{prog}", "--call", "f("], "is not a Python expression"),
        (["trace", "{prog}", "--call", "f([1])", "--max-events", "0"], "must be at least 1"),
        (["trace", "{prog}", "--call", "f([1])", "--out", "/nonexistent/dir/x.json"], "cannot write"),
        (["trace", "{bad}"], "does not compile: invalid syntax (line 2)"),
        (["trace", "{latin}"], "is not UTF-8"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(args: list[str], message: str, prog: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nx = = 2\n")
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"s = '\xe9'\n")
    args = [a.format(prog=prog, bad=bad, latin=latin) for a in args]
    result = cwm(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # argparse prints its usage above option errors
    assert last.startswith("cwm trace: error:") and message in last


def test_help_documents_exit_codes() -> None:
    result = cwm("trace", "--help")
    assert result.returncode == 0
    for code in ("0  the trace", "1  the trace", "2  bad input", "3  the trace"):
        assert code in result.stdout


def test_import_cwm_and_trace_do_not_import_torch(prog: Path) -> None:
    code = (
        "import sys, cwm, cwm.cli\n"
        f"cwm.cli.main(['trace', {str(prog)!r}, '--call', 'f([1])', '--format', 'json', '--out', '/dev/null'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [None, ["--help"], ["trace", "--help"], ["sandbox", "build-image", "--help"], ["dataset", "build", "--help"]],
    ids=["build_parser", "--help", "trace --help", "sandbox build-image --help", "dataset build --help"],
)
def test_parser_and_help_import_no_docker_nor_data_libraries(args: list[str] | None) -> None:
    """`cwm --help` and the parser stay light: docker-py, rich, pyarrow come with the commands that use them."""
    run = "cwm.cli.build_parser()" if args is None else f"cwm.cli.main({args!r})"
    code = (
        "import sys, cwm.cli\n"
        "try:\n"
        f"    {run}\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = ('docker', 'rich', 'pyarrow', 'datasets', 'torch', 'transformers')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("cwm")
    if not exe.exists():
        pytest.skip("cwm console script not installed in this environment")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "trace" in result.stdout


def test_build_progress_without_a_terminal_prints_plain_lines_with_counts() -> None:
    """In a pipe or a CI log the progress is whole plain lines, not a rich bar cut to one line."""
    import io
    from collections import Counter

    from cwm.progress import BuildProgress
    from training.data.build import BuildReport

    stream = io.StringIO()  # not a terminal
    progress = BuildProgress(stream=stream, every=0)
    report = BuildReport(already_done=2)
    for status in ("returned", "raised", "returned"):
        report.traced += 1
        report.outcomes = Counter({**report.outcomes, status: report.outcomes[status] + 1})
        progress(report, 3)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()
    assert lines[0].startswith("tracing: 1/3 (33%)") and lines[0].endswith("| returned 1 | done before 2")
    assert lines[-1].startswith("tracing: 3/3 (100%)") and lines[-1].endswith("| raised 1 returned 2 | done before 2")


def test_dataset_build_in_a_pipe_reports_progress_in_plain_lines(tmp_path: Path) -> None:
    import json

    source = tmp_path / "programs.jsonl"
    source.write_text(
        "".join(json.dumps({"source": f"def f():\n    return {n}\n", "entry": "f()"}) + "\n" for n in range(3))
    )
    result = cwm("dataset", "build", "--source", f"jsonl={source}", "--out", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # e.g. no ResourceWarning of docker-py's sockets made visible
    progress = [line for line in result.stderr.splitlines() if line.startswith("tracing:")]
    assert progress and progress[-1].startswith("tracing: 3/3 (100%)") and progress[-1].endswith("| returned 3")
