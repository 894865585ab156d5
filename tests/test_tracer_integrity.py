"""Trace integrity (issue 8): whatever the program does, the trace it gets is whole and valid.

Every backend of the running interpreter; tests/test_cross_interpreter.py runs
the catalogue programs of the same cases (tests/programs.py, "trace
integrity") under 3.10, 3.12 and 3.13 with both backends.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import jsonschema
import pytest

from tracer import Program, Recorder, Renderer, Trace, available_backends, load_schema, record

BACKENDS = available_backends()


def valid(trace: Trace) -> None:
    """The trace encodes as UTF-8 and passes the schema."""
    trace.to_json().encode("utf-8")
    schema = load_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(trace.to_dict())


# -- 1: text that is not valid UTF-8 ------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_lone_surrogates_anywhere_leave_a_valid_trace(backend: str) -> None:
    # a module-level script: its variables' names come from globals(), which may hold anything
    source = (
        "import sys\n"
        "name = b'caf\\xff'.decode('utf-8', 'surrogateescape')\n"
        "globals()[name] = 1\n"
        "globals()[''] = 2\n"
        "globals()[3] = 4\n"
        "print('\\ud800', name)\n"
        "sys.stderr.write(name)\n"
        "raise ValueError(name)\n"
    )
    trace = record(source, backend=backend)
    valid(trace)
    assert trace.outcome.status == "raised"
    assert trace.outcome.stdout == "\\ud800 caf\\udcff\n"
    assert trace.outcome.stderr.startswith("caf\\udcff")
    assert trace.outcome.stderr.endswith("ValueError: caf\\udcff\n")
    last = trace.events[-1]
    assert last.kind == "return"
    names = [e.locals for e in trace.events if e.locals is not None][-1]
    assert names is not None and names["caf\\udcff"] == "1" and names[""] == "2"
    assert "tracer errors" not in trace.outcome.detail


# -- 2: an exception message of tens of MB -------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_huge_exception_message_respects_max_output(backend: str) -> None:
    source = "def f():\n    print('out')\n    raise ValueError('x' * 30_000_000)\n"
    start = time.perf_counter()
    trace = record(source, "f()", backend=backend, max_output=1000)
    assert time.perf_counter() - start < 2
    assert trace.outcome.status == "raised"
    assert len(trace.outcome.stderr) <= 1000
    assert trace.outcome.stderr.startswith("Traceback (most recent call last):\n")
    assert "ValueError: xxx" in trace.outcome.stderr
    assert "the traceback was cut to fit max_output" in trace.outcome.detail
    assert len(trace.outcome.value or "") == 200
    valid(trace)


def test_a_traceback_that_fits_is_whole() -> None:
    trace = record("def f():\n    raise KeyError('k')\n", "f()")
    assert trace.outcome.stderr.endswith("KeyError: 'k'\n")
    assert trace.outcome.detail == ""


# -- 3: values that cannot be rendered ---------------------------------------------------------
UNRENDERABLE = """\
class Meta(type):
    def __eq__(cls, other):
        return cls is other

class Foo(metaclass=Meta):
    pass

class NoHash:
    def __hash__(self):
        raise TypeError('no hashing')
    def __repr__(self):
        return 'NoHash()'

class Raising:
    def __get__(self, obj, owner):
        raise LookupError('no repr for you')

class Hidden:
    __repr__ = Raising()

class Text(str):
    def __len__(self):
        raise ValueError('no len')

class Odd:
    def __repr__(self):
        return Text('odd')

TABLE = {i: NoHash() for i in range(70)}

def f():
    a = [Foo(), Foo()]
    b = TABLE
    c = Hidden()
    d = [Odd()]
    return a
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_that_break_rendering_drop_no_event(backend: str) -> None:
    trace = record(UNRENDERABLE, "f()", backend=backend)
    assert trace.outcome.status == "returned", trace.outcome.stderr
    assert trace.outcome.detail == ""
    lines = [(e.kind, e.line) for e in trace.events if e.func == "f"]
    assert lines == [("call", 31), ("line", 32), ("line", 33), ("line", 34), ("line", 35), ("line", 36), ("return", 36)]
    final = next(e for e in trace.events if e.kind == "line" and e.line == 36).locals
    assert final is not None
    assert final["a"].startswith("[<program.Foo object at 0x1>, <program.Foo object at 0x2>]")
    assert final["b"].startswith("{0: NoHash(), 1: NoHash(), ")
    assert final["c"] == "<Hidden object (repr raised LookupError)>"
    assert final["d"] == "[odd]"
    assert trace.outcome.value == final["a"]


def test_a_tracer_error_counts_the_events_it_lost() -> None:
    recorder = Recorder(Program("p", "x = 1\n"))
    trace = recorder.run()
    recorder.internal_error(RuntimeError("boom"))
    rebuilt = recorder.build(trace.outcome.value, "", "", 0.0)
    assert rebuilt.outcome.detail == "tracer errors: 1 event was not recorded; RuntimeError: boom"


# -- 4: rendering runs only __repr__ -----------------------------------------------------------
def test_rendering_calls_no_hash_or_eq() -> None:
    calls: list[str] = []

    class Key:
        def __init__(self, i: int) -> None:
            self.i = i

        def __hash__(self) -> int:
            calls.append("hash")
            return self.i

        def __eq__(self, other: object) -> bool:
            calls.append("eq")
            return isinstance(other, Key) and self.i == other.i

        def __repr__(self) -> str:
            return f"K{self.i}"

    class Meta(type):
        def __hash__(cls) -> int:
            calls.append("meta hash")
            return 1

        def __eq__(cls, other: object) -> bool:
            calls.append("meta eq")
            return cls is other

    class Counted(metaclass=Meta):
        def __repr__(self) -> str:
            return "C"

    table = {Key(i): i for i in range(100)}
    values = [table, set(table), frozenset(table), [Counted()] * 3, (Counted(), 1), {1: Counted()}, Counted()]
    calls.clear()
    r = Renderer(60)
    for value in values:
        text = r.render(value)
        assert text == (repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "...")
    assert calls == []


# -- 5: deep nesting -----------------------------------------------------------------------------
def test_deep_nesting_renders_in_time_of_the_cap() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    nested: Any = {}
    for _ in range(100_000):
        nested = {"k": (nested,)}
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)  # as a program may: the nesting, not the stack, must bound the work
    try:
        for value, prefix in ((deep, "["), (nested, "{'k': (")):
            start = time.perf_counter()
            text = Renderer(200).render(value)
            assert time.perf_counter() - start < 0.05
            assert text == (prefix * 200)[:197] + "..."
    finally:
        sys.setrecursionlimit(saved)


def test_nesting_near_the_cap_is_still_exact() -> None:
    for depth in range(1, 40):
        value: Any = [1, "a"]
        for _ in range(depth):
            value = [value, (2,)]
        for cap in (8, 9, 10, 20, 40):
            text = repr(value)
            assert Renderer(cap).render(value) == (text if len(text) <= cap else text[: cap - 3] + "...")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deeply_nested_local_is_recorded_quickly(backend: str) -> None:
    source = "deep = []\nfor _ in range(100_000):\n    deep = [deep]\n\ndef f():\n    x = deep\n    return 1\n"
    start = time.perf_counter()
    trace = record(source, "f()", backend=backend)
    assert time.perf_counter() - start < 2
    assert trace.events[-2].locals == {"x": "[" * 197 + "..."}
    assert trace.outcome.value == "1"


# -- 6: empty scripts ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", ["", "\n", "# only a comment\n", "\n# two\n\n# comments\n"])
def test_scripts_without_statements_give_a_valid_empty_trace(source: str, backend: str) -> None:
    trace = record(source, backend=backend)
    valid(trace)
    assert trace.events == []
    assert trace.outcome.status == "returned" and trace.outcome.detail == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lone_pass_is_still_traced(backend: str) -> None:
    trace = record("pass\n", backend=backend)
    valid(trace)
    assert [(e.kind, e.line) for e in trace.events] == [("call", 1), ("line", 1), ("return", 1)]


# -- 7: the program switches tracing off -------------------------------------------------------------
def test_settrace_none_is_blamed_on_the_program() -> None:
    source = "import sys\n\ndef f():\n    a = 1\n    sys.settrace(None)\n    b = 2\n    return a + b\n"
    trace = record(source, "f()", backend="settrace")
    assert [(e.kind, e.line) for e in trace.events] == [("call", 3), ("line", 4), ("line", 5)]
    assert trace.outcome.status == "returned" and trace.outcome.value == "3"
    assert trace.outcome.detail == "the program turned tracing off at line 5 (sys.settrace); later events are missing"
    assert "recursion" not in trace.outcome.detail


@pytest.mark.skipif("monitoring" not in BACKENDS, reason="sys.monitoring needs Python 3.12+")
@pytest.mark.parametrize("how", ["set_events", "set_local_events", "free_tool_id"])
def test_monitoring_changed_by_the_program(how: str) -> None:
    call = {
        "set_events": "sys.monitoring.set_events(tool, 0)",
        "set_local_events": "sys.monitoring.set_local_events(tool, f.__code__, 0)",
        "free_tool_id": "sys.monitoring.free_tool_id(tool)",
    }[how]
    source = (
        "import sys\n\ndef f():\n"
        "    tool = [sys.monitoring.get_tool(i) for i in range(6)].index('cwm-tracer')\n"
        f"    {call}\n"
        "    b = 2\n"
        "    return b\n"
    )
    tools = [sys.monitoring.get_tool(i) for i in range(6)]  # type: ignore[attr-defined]
    trace = record(source, "f()", backend="monitoring")
    assert [sys.monitoring.get_tool(i) for i in range(6)] == tools  # type: ignore[attr-defined]
    assert trace.outcome.status == "returned" and trace.outcome.value == "2"
    if how == "free_tool_id":  # its events go on (3.12, 3.13): nothing is missing
        assert trace.outcome.detail == ""
        assert [e.kind for e in trace.events][-1] == "return"
    elif how == "set_events":  # only RAISE, PY_UNWIND, PY_THROW are global: lines go on
        assert trace.outcome.detail.startswith(
            "the program turned tracing off after line 7 (sys.monitoring.set_events)"
        )
    else:
        assert trace.outcome.detail.startswith("the program turned tracing off at line 5 (sys.monitoring.set_local")


def test_the_output_cap_counts_bytes_not_characters() -> None:
    """``max_output_bytes`` says bytes: 600,000 two-byte characters pass a 1 MB cap."""
    from tracer import record

    source = "def f():\n    print('é' * 600_000, end='')\n    return 1\n"
    trace = record(source, "f()", max_output=1_000_000)
    assert trace.outcome.status == "output_limit", trace.outcome
    assert "1000000 bytes" in trace.outcome.detail
    assert len(trace.outcome.stdout.encode()) <= 1_000_000 < len(trace.outcome.stdout.encode()) + 2
    ascii_trace = record("def f():\n    print('e' * 600_000, end='')\n    return 1\n", "f()", max_output=1_000_000)
    assert ascii_trace.outcome.status == "returned" and len(ascii_trace.outcome.stdout) == 600_000


def test_a_stop_under_an_outer_tracer_records_nothing_after_it() -> None:
    """A debugger or coverage is tracing too: a run stopped at a limit ends there."""
    import sys

    from tracer import record

    source = "def f(n):\n    total = 0\n    for i in range(n):\n        print('x' * 50)\n    return total\n"
    alone = record(source, "f(100)", max_output=120, backend="settrace")

    def outer(frame, event, arg):
        return None

    sys.settrace(outer)
    try:
        under = record(source, "f(100)", max_output=120, backend="settrace")
    finally:
        sys.settrace(None)
    assert under.outcome.status == alone.outcome.status == "output_limit"
    assert [(e.kind, e.line) for e in under.events] == [(e.kind, e.line) for e in alone.events]


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x0c", "\x1c", "\x85"])
def test_a_line_end_only_str_splitlines_knows_does_not_shift_the_source_lines(odd: str) -> None:
    source = f"def f():\n    s = 'a{odd}b'\n    t = 1\n    return s\n"
    trace = record(source, "f()")
    assert [e.source_line for e in trace.events] == [
        "def f():",
        f"    s = 'a{odd}b'",
        "    t = 1",
        "    return s",
        "    return s",
    ]


# -- 8: at the recursion limit no event is lost ------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_events_at_the_recursion_limit_are_kept_raw_and_rendered_after_the_run(backend: str) -> None:
    """A hook with no room to render (or to call anything) keeps its event raw; the trace renders it later."""
    source = "def down(n):\n    return down(n + 1)\n\ndef f():\n    try:\n        down(0)\n    except RecursionError:\n        return 'caught'\n"
    recorder = Recorder(Program("deep", source, "f()"), backend=backend, max_events=10**9)
    settle = recorder.settle_raw
    raw_counts: list[int] = []

    def counting(records: list[Any]) -> list[Any]:
        raw_counts.append(sum(1 for r in records if r[2] is None))  # text None: a raw record
        return settle(records)

    recorder.settle_raw = counting  # type: ignore[method-assign]
    trace = recorder.run()
    valid(trace)
    assert raw_counts and raw_counts[0] > 0, "the limit was not reached inside a hook"
    calls = [e for e in trace.events if e.kind == "call" and e.func == "down"]
    # every call down there, raw or not, has its rendered locals and its depth
    assert [e.locals for e in calls] == [{"n": str(i)} for i in range(len(calls))]
    assert [e.depth for e in calls] == list(range(1, len(calls) + 1))
    assert all(e.source_line == "def down(n):" for e in calls)
    if backend == "monitoring":  # settrace is switched off by CPython there (said in the detail)
        assert trace.outcome.status == "returned" and trace.outcome.value == "'caught'"
        assert trace.outcome.detail == ""
        returns = [e for e in trace.events if e.kind == "return" and e.func == "down"]
        assert len(returns) == len(calls) and all(e.value is None for e in returns)  # each unwound
        raised = [e for e in trace.events if e.kind == "exception" and e.func == "down"]
        assert raised and all(e.value.startswith("RecursionError(") for e in raised)
