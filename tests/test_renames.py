"""Renamed variants of training programs (`cwm dataset build --renames K`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracer import record
from training.data.build import split_of
from training.data.renames import renamable_names, renamed_variants
from training.data.sources import SourceProgram
from training.data.stats import read_rows

from .test_dataset import ROOT, a_sandbox_runs, sandboxed  # noqa: F401 - the fixture sandboxed tests use

TWO_SUM = '''\
LIMIT = 10


def helper(values, *, scale=1):
    return [v * scale for v in values]


def f(nums, target):
    """Indices of two numbers that add up to target."""
    seen = {}
    for i, n in enumerate(helper(nums, scale=1)):
        if target - n in seen:
            return [seen[target - n], i]
        seen[n] = i
    total = sum(x for x in nums if x < LIMIT)  # é, a comment that is not code
    print(f"{total} {len(seen)} é")
    return sorted(nums, key=lambda item: -item)
'''


def program(source: str = TWO_SUM, entry: str = "f([3, 1, 4, 1, 5], 100)") -> SourceProgram:
    return SourceProgram(id="mine/1", source=source, entry=entry, origin="mine")


def test_only_the_names_functions_bind_are_renamed() -> None:
    names = renamable_names(ast.parse(TWO_SUM), "f([3, 1, 4, 1, 5], 100)")
    assert names == {"values", "v", "nums", "target", "seen", "i", "n", "total", "x", "item"}
    # never: module names (LIMIT, helper, f), builtins (sum, print), a parameter passed by keyword (scale)
    assert not names & {"LIMIT", "helper", "f", "sum", "print", "enumerate", "scale"}


def test_a_variant_is_the_same_program_under_other_names() -> None:
    original = program()
    variants = renamed_variants(original, 3)
    assert [v.id for v in variants] == ["mine/1~r1", "mine/1~r2", "mine/1~r3"]
    assert len({v.source for v in variants} | {original.source}) == 4
    real = record(original.source, original.entry)
    for variant in variants:
        assert variant.entry == original.entry and variant.origin == original.origin
        assert variant.function == original.source, "the split stays the original's"
        assert split_of(variant.split_key) == split_of(original.split_key)
        assert "nums" not in variant.source and "LIMIT = 10" in variant.source and "scale=1" in variant.source
        assert "# é, a comment that is not code" in variant.source, "the text around the names is untouched"
        trace = record(variant.source, variant.entry)
        assert trace.outcome.status == real.outcome.status == "returned"
        assert trace.outcome.value == real.outcome.value and trace.outcome.stdout == real.outcome.stdout
        assert [e.line for e in trace.events] == [e.line for e in real.events]
        assert [sorted((e.locals or {}).values()) for e in trace.events] == [
            sorted((e.locals or {}).values()) for e in real.events
        ]
    assert renamed_variants(original, 3) == variants, "deterministic"
    assert renamed_variants(original, 3, seed=1) != variants


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    return eval('x + 1')\n",  # names as text
        "def f(x):\n    return locals()['x']\n",
        "def f():\n    global y\n    y = 2\n    return y\n",  # its one name is global
        "def f():\n    return 1\n",  # nothing to rename
        "def f(x):\n    return f'{x=}'\n",  # the f-string prints the name itself
        "def f(x:\n",  # does not parse
    ],
    ids=["eval", "locals", "global", "nothing", "fstring-equals", "syntax-error"],
)
def test_no_variant_where_renaming_could_change_what_runs(source: str) -> None:
    assert renamed_variants(program(source, "f()" if "def f()" in source else "f(1)"), 2) == []


def test_a_parameter_the_entry_passes_by_keyword_keeps_its_name() -> None:
    variants = renamed_variants(program("def f(a, b):\n    c = a - b\n    return c\n", "f(1, b=2)"), 2)
    assert variants and all("b" in ast.parse(v.source).body[0].args.args[1].arg for v in variants)  # type: ignore[attr-defined]
    for variant in variants:
        assert record(variant.source, variant.entry).outcome.value == "-1"


def cwm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cwm", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


@sandboxed
def test_build_adds_renamed_variants_to_train_only(tmp_path: Path) -> None:
    records = tmp_path / "mine.jsonl"
    with records.open("w") as fh:
        for i in range(30):
            body = f"def f(x):\n    y = x + {i}\n    for k in range(2):\n        y = y * 2 + k\n    return y\n"
            fh.write(json.dumps({"source": body, "entry": f"f({i})"}) + "\n")
    plain, renamed = tmp_path / "plain", tmp_path / "renamed"
    args = ["--source", f"jsonl={records}", "--no-progress", "--sandbox", "process"]
    assert cwm("dataset", "build", *args, "--out", str(plain)).returncode == 0
    result = cwm("dataset", "build", *args, "--out", str(renamed), "--renames", "2")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in read_rows(renamed)}
    originals = {row["id"]: row for row in read_rows(plain)}
    variants = {i: row for i, row in rows.items() if "~r" in i}
    train = [i for i, row in originals.items() if row["split"] == "train"]
    assert train and len(variants) == 2 * len(train)
    assert set(rows) - set(variants) == set(originals), "every original is there, and validation/test only those"
    for vid, row in variants.items():
        original = originals[vid.split("~r")[0]]
        assert row["split"] == original["split"] == "train"
        assert row["program"]["source"] != original["program"]["source"]
        assert row["outcome"]["value"] == original["outcome"]["value"] and len(row["events"]) == len(
            original["events"]
        ), "a real run of the same program under other names"
    assert f"{len(variants)} of them renamed variants" in result.stdout
    assert "variants of each training program with its local variables renamed" in (renamed / "README.md").read_text()
    other = cwm("dataset", "build", *args, "--out", str(renamed))
    assert other.returncode == 2 and "renames 2 (asked now: 0)" in other.stderr
    again = cwm("dataset", "build", *args, "--out", str(renamed), "--renames", "2")
    assert again.returncode == 0 and "traced 0 programs" in again.stdout, again.stdout
    bad = cwm("dataset", "build", *args, "--out", str(tmp_path / "x"), "--renames", "99")
    assert bad.returncode == 2 and "must be 0 to 16" in bad.stderr
