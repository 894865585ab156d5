"""Dataset builds whose sources give bad, few or no programs: no sandbox is needed, so these are fast."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import training.data.build as dataset_build
from tracer import STATUSES, Outcome, record
from training.data.build import (
    PARTS,
    REPORT_FILE,
    BuildReport,
    BuildSettings,
    DatasetError,
    build,
    finalize,
    merge,
    prepare,
)
from training.data.sources import Skip, SourceProgram
from training.data.sources.jsonl import JsonlSource
from training.data.stats import find, stats
from training.data.table import TraceBatch

ROOT = Path(__file__).resolve().parents[1]
SURROGATE = "\ud800"


def cwm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cwm", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def never_traced(report: BuildReport, total: int) -> None:
    assert total == 0, "nothing here may reach the sandbox"


@pytest.fixture
def bad_records(tmp_path: Path) -> Path:
    """Only records that no program text can hold, or that are not records at all."""
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"source": f"def f():\n    return '{SURROGATE}'\n", "entry": "f()"}),  # \ud800, valid JSON
        json.dumps({"source": "def g():\n    return 2\n", "entry": f"g('{SURROGATE}')"}),
        json.dumps({"id": f"x{SURROGATE}", "source": "def h():\n    return 2\n", "entry": "h()"}),
        json.dumps({"source": "def k():\n    return 1\x00\n", "entry": "k()"}),
        json.dumps({"source": 5, "entry": "f()"}),
        json.dumps([1, 2]),
        "{not json",
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"source": "\xff", "entry": null}\n')
    return path


REASONS = {
    "field source holds a lone surrogate": 1,
    "field entry holds a lone surrogate": 1,
    "field id holds a lone surrogate": 1,
    "field source holds a NUL byte": 1,
    "field source is not a string": 1,
    "not a JSON object": 1,
    "bad JSON": 1,
    "not UTF-8": 1,
}


def test_a_build_of_only_bad_records_finishes_and_says_why_it_is_empty(bad_records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = BuildSettings(sources=(f"jsonl={bad_records}",))
    report = build(out, [JsonlSource(bad_records)], settings, on_progress=never_traced)
    assert dict(report.skipped) == REASONS and report.traced == 0 and report.traces == 0
    assert report.summary() == (
        "no traces: all 8 programs the sources gave were skipped (bad JSON 1, field entry holds a lone surrogate 1, "
        "field id holds a lone surrogate 1, field source holds a NUL byte 1, field source holds a lone surrogate 1, "
        "field source is not a string 1, not UTF-8 1, not a JSON object 1); fix them and rerun the same command"
    )
    saved = json.loads((out / REPORT_FILE).read_text())
    assert saved["skipped"] == REASONS and saved["traces"] == 0 and saved["found"] == 0
    with pytest.raises(DatasetError) as caught:
        stats(out)
    assert str(caught.value) == f"{out} holds no traces: {report.summary().removeprefix('no traces: ')}"
    assert "rerun its `cwm dataset build` to finish it" not in str(caught.value)
    assert "- no traces: all 8 programs the sources gave were skipped (bad JSON 1," in (out / "README.md").read_text()
    for half_written in (out / ".README.md.0123abcd.tmp", out / ".cwm" / ".report.json.0123abcd.tmp"):
        half_written.write_text("{")  # as a build killed while writing them leaves them
    again = build(out, [JsonlSource(bad_records)], settings, on_progress=never_traced)
    assert again.summary() == report.summary(), "a rerun says the same, and there is nothing more to do"
    assert not list(out.rglob("*.tmp"))


def test_the_cli_says_why_not_rerun(bad_records: Path, tmp_path: Path) -> None:
    """What a user sees: the reasons by count, never the advice to rerun a finished build (which loops)."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    cases = [
        ([f"jsonl={bad_records}"], [], "holds no traces: all 8 programs the sources gave were skipped (bad JSON 1"),
        ([f"jsonl={empty}"], [], "holds no traces: the sources gave no programs at all"),
    ]
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"source": "def f():\n    return 1\n", "entry": "f()"}) + "\n")
    program = next(iter(JsonlSource(one).programs()))
    assert isinstance(program, SourceProgram)
    other = (dataset_build.shard_of(program.content_key, 4) + 1) % 4
    cases.append(([f"jsonl={one}"], ["--shard", f"{other}/4"], f"no program falls in shard {other}/4"))
    for n, (sources, extra, message) in enumerate(cases):
        out = tmp_path / f"out{n}"
        command = ["dataset", "build", *(a for s in sources for a in ("--source", s)), "--out", str(out), *extra]
        for _ in range(2):  # the rerun says the same: the directory is finished, not half-built
            result = cwm(*command, "--no-progress")
            shown = result.stdout + result.stderr
            assert message in shown, shown
            assert "rerun its `cwm dataset build` to finish it" not in shown and "Traceback" not in shown, shown
        assert not list(out.rglob("*.tmp"))
        assert json.loads((out / REPORT_FILE).read_text())["traces"] == 0


class Hostile:
    """A source of someone else's making, giving programs no source of ours would."""

    name = "hostile"

    def programs(self) -> Iterator[SourceProgram | Skip]:
        yield SourceProgram("hostile/1", f"x = '{SURROGATE}'\n", None, self.name)
        yield SourceProgram("hostile/2", "def f():\n    return 1\n", "f()", self.name, function=f"def f{SURROGATE}")
        yield SourceProgram(f"hostile/{SURROGATE}", "x = 1\n", None, self.name)
        yield SourceProgram("hostile/4", "x = 1\x00\n", None, self.name)
        yield SourceProgram("hostile/5", b"x = 1\n", None, self.name)  # type: ignore[arg-type]
        yield Skip("hostile/6", self.name, "its own reason")


def test_the_build_checks_every_sources_programs(tmp_path: Path) -> None:
    report = build(tmp_path / "out", [Hostile()], BuildSettings(sources=("hostile",)), on_progress=never_traced)
    assert dict(report.skipped) == {
        "field source holds a lone surrogate": 1,
        "field function holds a lone surrogate": 1,
        "field id holds a lone surrogate": 1,
        "field source holds a NUL byte": 1,
        "field source is not a string": 1,
        "its own reason": 1,
    }


class Interrupted:
    """Ctrl-C while the programs are being collected."""

    name = "interrupted"

    def programs(self) -> Iterator[SourceProgram | Skip]:
        yield Skip("interrupted/1", self.name, "bad JSON")
        raise KeyboardInterrupt


def test_an_unfinished_build_is_never_taken_for_an_empty_one(bad_records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = BuildSettings(sources=("mixed",))
    build(out, [JsonlSource(bad_records)], settings, on_progress=never_traced)  # finished: empty
    assert (out / REPORT_FILE).exists()
    report = build(out, [Interrupted()], settings, on_progress=never_traced)
    assert report.interrupted and report.summary().startswith("interrupted: 0 traces saved; run the same command")
    assert not (out / REPORT_FILE).exists(), "a build under way (or killed) is not finished"
    with pytest.raises(DatasetError, match="has no data files yet: rerun its `cwm dataset build` to finish it"):
        stats(out)


def test_merging_empty_shards_counts_each_skip_once(bad_records: Path, tmp_path: Path) -> None:
    shards = []
    for i in range(3):
        shard = tmp_path / f"shard{i}"
        settings = BuildSettings(sources=(f"jsonl={bad_records}",), shard=(i, 3))
        build(shard, [JsonlSource(bad_records)], settings, on_progress=never_traced)
        shards.append(shard)
    merged = tmp_path / "merged"
    merge(merged, shards)  # every shard read every record: each skip is one record, not three
    assert json.loads((merged / REPORT_FILE).read_text())["skipped"] == REASONS
    with pytest.raises(DatasetError, match="holds no traces: all 8 programs the sources gave were skipped"):
        stats(merged)


# -- progress while collecting ---------------------------------------------------------------------


@pytest.fixture
def skipped_functions(tmp_path: Path) -> Path:
    """A directory whose functions all touch the outside world: collected and skipped, none traced."""
    folder = tmp_path / "code"
    folder.mkdir()
    for n in range(3):
        (folder / f"m{n}.py").write_text(f"import os\n\ndef f{n}(x: int) -> str:\n    return os.getcwd()\n")
    return folder


def test_collecting_shows_progress_on_stderr_once_it_lasts(
    skipped_functions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tree_sitter_python")
    from training.data.sources.directory import DirectorySource

    settings = BuildSettings(sources=(f"dir={skipped_functions}",))
    build(tmp_path / "quick", [DirectorySource(skipped_functions)], settings, on_progress=never_traced)
    assert capsys.readouterr().err == "", "a short collection shows nothing"

    monkeypatch.setattr(dataset_build, "COLLECT_QUIET_SECONDS", 0.0)  # as if it lasted
    build(tmp_path / "slow", [DirectorySource(skipped_functions)], settings, on_progress=never_traced)
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()  # stderr is no terminal here: plain lines, the last one on close
    assert line.startswith("collecting programs: 3 programs ") and "| found 0, skipped 3, files 3/3, " in line, line
    assert line.endswith(f", dir:{skipped_functions.name}"), line

    build(tmp_path / "off", [DirectorySource(skipped_functions)], settings, on_progress=None)  # --no-progress
    assert capsys.readouterr().err == ""


# -- trace_limit: one more status, counted like any other ----------------------------------------


def test_a_trace_cut_at_the_trace_limit_is_stored_counted_and_shown(tmp_path: Path) -> None:
    source = "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"
    whole = record(source, "f(50)")
    cut = record(source, "f(50)")
    # what the fork server sends for a trace over max_trace_bytes: the first events, and how the run ended
    cut.events = cut.events[: len(cut.events) // 4]
    cut.outcome = Outcome("trace_limit", detail="returned; trace cut to 38 events (max_trace_bytes)", events=150)
    out = tmp_path / "out"
    settings = BuildSettings(sources=("jsonl=mine",))
    prepare(out, settings)
    batch = TraceBatch()
    report = BuildReport()
    for n, trace in enumerate((whole, cut)):
        program = SourceProgram(f"jsonl:mine/{n}", source, f"f({50 + n})", "jsonl:mine")
        trace.program.id = program.id
        batch.add(program, "train", trace)
        report.outcomes[trace.outcome.status] += 1
        report.traced += 1
        report.found += 1
    dataset_build.write_table_atomic(out / PARTS / "part-0.parquet", batch.to_table())
    finalize(out, report)

    figures = stats(out)
    assert figures["by_outcome"] == {"returned": 1, "trace_limit": 1}
    assert figures["events"]["max"] == len(whole.events) and sorted(
        row["outcome"]["events"] for row in pq.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    ) == sorted([whole.outcome.events, 150])
    shown = find(out, "jsonl:mine/1")
    assert shown.outcome.status == "trace_limit" and shown.events == cut.events
    assert shown.outcome.detail == cut.outcome.detail
    card = (out / "README.md").read_text()
    assert "| returned | 1 |\n| trace_limit | 1 |" in card, "in the contract's order"
    assert "(returned 1, trace_limit 1)" in report.summary()


def test_training_names_no_status_but_through_the_contract() -> None:
    """Statuses come from tracer.contract.STATUSES: no list of them of training's own to fall behind."""
    for path in sorted((ROOT / "training").rglob("*.py")):
        text = path.read_text()
        for status in STATUSES:
            assert f'"{status}"' not in text and f"'{status}'" not in text, (path, status)
