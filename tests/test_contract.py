"""The trace contract: JSON and JSON Lines round trips, and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tracer import ContractError, ProgramError, Trace, load_schema, read_jsonl, record, write_jsonl

PROGRAMS = [
    ("def f(x):\n    y = [x] * 2\n    print(y)\n    return y\n", "f(3)", "returned"),
    ("def f():\n    raise KeyError('k')\n", "f()", "raised"),
    ("def f():\n    while True:\n        pass\n", "f()", "step_limit"),
    ("x = 1\nfor i in range(2):\n    x += i\nprint(x)\n", None, "returned"),
    ("def g():\n    yield 1\n    yield 2\n\ndef f():\n    return list(g())\n", "f()", "returned"),
]


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return [record(src, entry, id=f"p{i}", max_events=50) for i, (src, entry, _) in enumerate(PROGRAMS)]


def test_statuses(traces: list[Trace]) -> None:
    assert [t.outcome.status for t in traces] == [status for *_, status in PROGRAMS]


def test_json_round_trip(traces: list[Trace]) -> None:
    for trace in traces:
        again = Trace.from_json(trace.to_json())
        assert again == trace
        assert again.to_json() == trace.to_json()


def test_traces_validate_against_the_schema(traces: list[Trace]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    for trace in traces:
        validator.validate(json.loads(trace.to_json()))


def test_schema_rejects_broken_traces(traces: list[Trace]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    good = traces[0].to_dict()
    broken = [
        {**good, "outcome": {**good["outcome"], "status": "fine"}},
        {**good, "events": [{**good["events"][0], "kind": "step"}]},
        {**good, "events": [{**good["events"][0], "value": "1"}]},  # a call carries no value
        {**good, "events": [{k: v for k, v in good["events"][1].items() if k != "locals"}]},
        {k: v for k, v in good.items() if k != "program"},
        {**good, "outcome": {**good["outcome"], "compile_error": "module"}},
    ]
    for data in broken:
        assert not validator.is_valid(data)
    assert validator.is_valid({**good, "outcome": {**good["outcome"], "compile_error": "entry"}})


def test_compile_error_is_typed() -> None:
    """Which part did not compile is a field with two values, read back as it was written."""
    trace = record("x = 1\n")
    data = trace.to_dict()
    data["outcome"]["compile_error"] = "source"
    assert Trace.from_dict(data).outcome.compile_error == "source"
    data["outcome"]["compile_error"] = "the program does not compile"
    with pytest.raises(ContractError, match="compile_error"):
        Trace.from_dict(data)


def test_program_error_names_the_part() -> None:
    with pytest.raises(ProgramError) as caught:
        record("def f(:\n")
    assert caught.value.part == "source"
    with pytest.raises(ProgramError) as caught:
        record("def f():\n    return 1\n", "f(")
    assert caught.value.part == "entry"


def test_unwound_return_has_no_value(traces: list[Trace]) -> None:
    raised = traces[1]
    returns = [e for e in raised.events if e.kind == "return"]
    assert returns and returns[-1].value is None
    assert "value" not in raised.to_dict()["events"][-1]


def test_jsonl_round_trip(traces: list[Trace], tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    assert write_jsonl(path, traces) == len(traces)
    write_jsonl(path, traces[:1], append=True)
    back = list(read_jsonl(path))
    assert back == [*traces, traces[0]]


def test_bad_input_says_where(tmp_path: Path, traces: list[Trace]) -> None:
    with pytest.raises(ContractError, match="not JSON"):
        Trace.from_json("{nope")
    with pytest.raises(ContractError, match="JSON object"):
        Trace.from_json("[1, 2]")
    with pytest.raises(ContractError, match="unknown kind"):
        Trace.from_dict({**traces[0].to_dict(), "events": [{**traces[0].to_dict()["events"][0], "kind": "jump"}]})
    with pytest.raises(ContractError, match="not a trace"):
        Trace.from_dict({"program": {"id": "x"}})
    path = tmp_path / "bad.jsonl"
    path.write_text(traces[0].to_json() + "\n\n" + "garbage\n")
    with pytest.raises(ContractError, match=r"bad\.jsonl:3"):
        list(read_jsonl(path))
