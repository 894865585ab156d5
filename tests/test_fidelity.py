"""Fidelity of the tracer on a catalogue of hand-written programs (tests/programs.py).

For every program and every backend of the running interpreter: the exact
``(kind, line)`` sequence, the key states (locals before a line, values,
stdout on the right event), the outcome, consistent depths and frames, a
trace valid against the JSON Schema, and no state left behind (recursion
limit, trace function, sys.stdout, a recorder kept alive after the run). Where the interpreter has both backends,
their traces must be identical (except for programs whose traces differ by
design, ``backend_specific``: skipped). Known tracer bugs are strict ``xfail``
(one that no longer shows fails the suite; ``CWM_FIDELITY_STRICT=1`` makes the bugs fail); tests/test_cross_interpreter.py
runs the same catalogue under the other interpreters.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

import jsonschema
import pytest

from tracer import Program, Recorder, Trace, available_backends, load_schema, record

try:
    from tests import programs as catalogue
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import programs as catalogue

VERSION = sys.version_info[:2]
BACKENDS = available_backends()
PROGRAMS = [p for p in catalogue.CATALOGUE if VERSION >= p.min_version]
ALL_VERSIONS = [(3, 10), (3, 11), (3, 12), (3, 13)]


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = load_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def record_without_collector(program: Program, backend: str, **kwargs: Any) -> tuple[Trace, weakref.ref[Recorder]]:
    """Record with the cyclic collector off; the weak reference tells whether
    refcounting alone freed the run's recorder."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        recorder = Recorder(program, backend=backend, **kwargs)
        freed = weakref.ref(recorder)
        trace = recorder.run()
        del recorder
    finally:
        if collecting:
            gc.enable()
    return trace, freed


def record_checked(program: catalogue.Program, backend: str) -> Trace:
    """Record ``program``; fail on state the run leaves behind (and undo it)."""
    limit, tracefunc, stdout, stderr = sys.getrecursionlimit(), sys.gettrace(), sys.stdout, sys.stderr
    left: list[str] = []
    try:
        trace, freed = record_without_collector(
            Program(program.name, program.source, program.entry), backend, **program.record_kwargs()
        )
    finally:
        if sys.getrecursionlimit() != limit:
            left.append(f"recursion limit {limit} -> {sys.getrecursionlimit()}")
            sys.setrecursionlimit(limit)
        if sys.gettrace() is not tracefunc:
            left.append("a trace function is still set")
            sys.settrace(tracefunc)
        if sys.stdout is not stdout or sys.stderr is not stderr:
            left.append("sys.stdout/sys.stderr not restored")
            sys.stdout, sys.stderr = stdout, stderr
    if freed() is not None:
        # the program's own garbage may hold the run's frames (an exception it kept
        # holds its traceback): the cyclic collector must free them all
        gc.collect()
        if freed() is not None:
            left.append("the run's recorder is never freed (something still refers to it)")
    assert not left, f"{program.name} ({backend}) left state behind: {left}"
    return trace


# -- the catalogue itself -------------------------------------------------------------------
@pytest.mark.parametrize("program", catalogue.CATALOGUE, ids=lambda p: p.name)
def test_catalogue_entry_is_consistent(program: catalogue.Program) -> None:
    """The expectations agree with themselves on every version (a typo here would test nothing)."""
    compile(program.source, program.name, "exec")
    if program.entry is not None:
        compile(program.entry, "<entry>", "eval")
    assert program.covers, "say what the program covers"
    for bug in program.bugs:
        assert bug.id in catalogue.BUGS, bug.id
    for version in ALL_VERSIONS:
        expected = program.expected_events(version)
        if expected is None:
            spec = program.recursion
            assert spec is not None, "a program without a sequence needs a recursion shape"
            assert program.backend_specific, "settrace stops at the recursion limit: the backends differ"
            shape = catalogue.seq(" ".join(filter(None, [spec.before, spec.down, spec.up, spec.after])))
            assert all(1 <= line <= len(program.source.splitlines()) for _, line in shape)
            assert [kind for kind, _ in catalogue.seq(spec.down)].count("call") == 1, "one frame per repetition"
            assert [kind for kind, _ in catalogue.seq(spec.up)].count("return") == 1, "one frame per repetition"
            continue
        fake = [{"kind": kind, "line": line} for kind, line in expected]
        lines = program.source.splitlines()
        assert all(1 <= line <= len(lines) for _, line in expected)
        depth = 0
        for kind, _ in expected:
            depth += {"call": 1, "return": -1}.get(kind, 0)
            assert depth >= 0, f"{version}: a return without a call"
        if program.status in ("returned", "raised") and not program.open_frames:
            assert depth == 0, f"{version}: calls and returns do not balance"
        for at in program.states:
            if catalogue.version_matches(at.versions, version):
                assert catalogue.find_event(fake, at) is not None, f"{version}: {at} is not in the sequence"
        if program.max_events < 10_000 and program.status == "step_limit":
            assert len(expected) == program.max_events


# -- the tracer on the catalogue --------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_program(program: catalogue.Program, backend: str, validator: Any, request: pytest.FixtureRequest) -> None:
    catalogue.mark_known_bugs(request, program.known_bugs(VERSION, backend))
    trace = record_checked(program, backend)
    data = trace.to_dict()
    problems = catalogue.check_trace(program, data, VERSION, backend)
    assert not problems, f"{program.name} ({backend}, Python {sys.version.split()[0]}):\n" + "\n".join(problems)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, f"schema: {errors[0].message} at {list(errors[0].path)}"
    assert Trace.from_json(trace.to_json()).to_dict() == data


@pytest.mark.parametrize("program", PROGRAMS if len(BACKENDS) > 1 else [], ids=lambda p: p.name)
def test_backends_agree(program: catalogue.Program, request: pytest.FixtureRequest) -> None:
    """Where both backends exist (3.12+), their traces are identical (time aside)."""
    if program.backend_specific:
        pytest.skip(f"the backends differ by design: {program.backend_specific}")
    catalogue.mark_known_bugs(request, program.known_disagreements(VERSION, BACKENDS))
    traces = {backend: record_checked(program, backend).to_dict() for backend in BACKENDS}
    first, *rest = BACKENDS
    for other in rest:
        diff = catalogue.first_difference(traces[first], traces[other])
        assert diff is None, f"{program.name}: {first} and {other} differ at {diff}"


def test_program_after_recursion_error_is_traced_normally() -> None:
    """A run that hit the recursion limit must not spoil the next run in the same process."""
    deep = catalogue.BY_NAME["recursion_error"]
    factorial = catalogue.BY_NAME["factorial"]
    for backend in BACKENDS:
        limit = sys.getrecursionlimit()
        record_checked(deep, backend)  # fails if the recursion limit or the trace function changed
        assert sys.getrecursionlimit() == limit
        trace = record(factorial.source, factorial.entry, backend=backend)
        assert catalogue.check_trace(factorial, trace.to_dict(), VERSION, backend) == []


FREED_PROGRAMS = {
    "loops": ("def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n", "f([1, 2])"),
    "recursion": ("def f(n):\n    return 1 if n < 2 else n * f(n - 1)\n", "f(5)"),
    "prints": ("def f():\n    print('hi')\n    return 1\n", "f()"),
    "raises": ("def f():\n    return 1 / 0\n", "f()"),
    "catches": ("def f():\n    try:\n        1 / 0\n    except ZeroDivisionError:\n        return 2\n", "f()"),
    "generator": ("def g():\n    yield 1\n    yield 2\n\ndef f():\n    return list(g())\n", "f()"),
    "step_limit": ("def f():\n    while True:\n        pass\n", "f()"),
    "script": ("x = [1, 2]\nprint(sum(x))\n", None),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(FREED_PROGRAMS))
def test_a_finished_run_is_freed_without_the_cyclic_collector(name: str, backend: str) -> None:
    """No reference cycle holds a run: in-process users (notebooks, dataset builds) free it at once."""
    source, entry = FREED_PROGRAMS[name]
    trace, freed = record_without_collector(Program(name, source, entry), backend, max_events=50)
    assert freed() is None
    assert trace.events and trace.outcome.status in ("returned", "raised", "step_limit")


def test_captured_stdout_behaves_as_a_text_file() -> None:
    source = """\
import io
import sys

def f():
    out = sys.stdout
    out.write("a")
    out.writelines(["b", "c\\n"])
    print("d", flush=True)
    try:
        out.fileno()
    except io.UnsupportedOperation:
        print("no fileno")
    print(isinstance(out, io.TextIOBase), out.isatty(), out.writable(), out.readable(), out.encoding)
    print("e", file=sys.stderr)
    return out.write("xyz")
"""
    for backend in BACKENDS:
        trace = record(source, "f()", backend=backend)
        assert trace.outcome.status == "returned", trace.outcome.stderr
        assert trace.outcome.value == "3"
        assert trace.outcome.stdout == "abc\nd\nno fileno\nTrue False True False utf-8\nxyz"
        assert trace.outcome.stderr == "e\n"
        assert "".join(e.stdout or "" for e in trace.events) == trace.outcome.stdout


def test_a_frame_that_outlives_the_run_is_not_traced_into_it_later() -> None:
    # the program parks a suspended generator where the caller can reach it; resumed
    # after the run under another Python tracer, its frame still names cwm's hook as
    # f_trace: the released hook must stand aside, not raise into the program
    source = """\
import builtins

def g():
    yield 1
    x = 2
    yield x

def f():
    builtins._cwm_test_kept = gen = g()
    return next(gen)
"""
    import builtins

    trace = record(source, "f()", backend="settrace")
    assert trace.outcome.value == "1"
    gen = builtins.__dict__.pop("_cwm_test_kept")

    def other_tracer(frame: Any, event: str, arg: Any) -> Any:
        return None

    saved = sys.gettrace()
    sys.settrace(other_tracer)
    try:
        assert next(gen) == 2
    finally:
        sys.settrace(saved)
    assert trace.events[-1].kind == "return"


def test_a_capture_the_program_keeps_lets_go_of_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    # threading, first imported during a run, keeps that run's sys.stderr in its main
    # thread object: the capture must not keep the run alive, and later writes to it
    # go where sys.stderr goes again
    source = "import builtins, sys\n\ndef f():\n    builtins._cwm_kept = sys.stderr\n    print('in run')\n"
    import builtins

    for backend in BACKENDS:
        trace, freed = record_without_collector(Program("keeps", source, "f()"), backend)
        assert freed() is None
        kept = builtins.__dict__.pop("_cwm_kept")
        kept.write("after the run\n")
        kept.flush()
        assert capsys.readouterr().err == "after the run\n"
        assert trace.outcome.stdout == "in run\n"


KNOWN_BUG_TESTS = """\
from tests import programs as catalogue


def test_bug_shows(request):
    catalogue.mark_known_bugs(request, ["B0-an-example-bug"])
    assert False, "the bug"


def test_bug_fixed(request):
    catalogue.mark_known_bugs(request, ["B0-an-example-bug"])
"""


@pytest.mark.parametrize("strict_env", ["", "1"])
def test_a_known_bug_that_no_longer_shows_fails_the_suite(tmp_path: Any, strict_env: str) -> None:
    """A known bug's xfail is strict (its fix must be noticed); CWM_FIDELITY_STRICT=1 fails on the bug itself."""
    import os
    import subprocess
    from pathlib import Path

    (tmp_path / "test_known.py").write_text(KNOWN_BUG_TESTS, encoding="utf-8")
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=repo, CWM_FIDELITY_STRICT=strict_env)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(tmp_path / "test_known.py")],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=env,
        timeout=120,
    )
    report = out.stdout
    assert out.returncode == 1, report[-2000:]
    if strict_env:
        expected = ["FAILED test_known.py::test_bug_shows", "PASSED test_known.py::test_bug_fixed"]
    else:
        expected = ["XFAIL test_known.py::test_bug_shows", "FAILED test_known.py::test_bug_fixed", "XPASS(strict)"]
    assert all(line in report for line in expected), report[-2000:]
