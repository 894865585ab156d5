"""`cwm dataset build/merge/stats/show` end to end, in the real sandbox, with real kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from tracer import record
from training.data.build import SETTINGS_FILE, split_of
from training.data.sources import SourceProgram
from training.data.stats import read_rows
from training.data.table import TraceBatch, row_trace

from .sandbox_support import open_sandbox
from .shared_data import CRUXEVAL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def a_sandbox_runs() -> None:
    open_sandbox("process").close()  # skips (fails in CI) where no sandbox can run


def sandboxed(test: Callable[..., None]) -> Callable[..., None]:
    """A test that traces in a sandbox: slow, and skipped where none runs."""
    return pytest.mark.slow(pytest.mark.usefixtures("a_sandbox_runs")(test))


def cwm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cwm", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """40 programs over 8 functions, one exact duplicate, one bad line."""
    path = tmp_path / "mine.jsonl"
    lines = []
    for i in range(40):
        body = f"def f(x):\n    y = x + {i % 8}\n    return y * 2\n"
        lines.append(json.dumps({"source": body, "entry": f"f({i})"}))
    lines.append(lines[3])  # an exact duplicate
    lines.append("{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


@sandboxed
def test_build_writes_a_loadable_dataset(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cwm(
        "dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress", "--sandbox", "process"
    )
    assert result.returncode == 0, result.stderr
    assert "40 traces" in result.stdout and str(out) in result.stdout  # ends with the stats table and the path
    loaded = datasets.load_dataset("parquet", data_dir=str(out))
    rows = [row for split in loaded.values() for row in split]
    assert len(rows) == 40, "the duplicate is dropped, the bad line skipped"
    assert len({row["id"] for row in rows}) == 40
    by_function: dict[str, set[str]] = {}
    for split, part in loaded.items():
        for row in part:
            assert row["split"] == split == split_of(row["split_key"])
            by_function.setdefault(row["program"]["source"], set()).add(split)
            trace = row_trace(row)
            assert trace.outcome.status == "returned"
            assert trace.outcome.value == str(
                (int(trace.program.entry[2:-1]) + int(trace.program.source.split("+ ")[1][0])) * 2
            )
    assert all(len(splits) == 1 for splits in by_function.values()), "one function, one split"
    card = (out / "README.md").read_text()
    assert "traces: 40" in card and "jsonl:mine" in card and "exact duplicates | 1" in card and "bad JSON" in card


@sandboxed
def test_records_no_program_text_can_hold_are_skipped_and_the_rest_is_built(records: Path, tmp_path: Path) -> None:
    """One record with a ``\\ud800`` escape (valid JSON, no UTF-8) used to end the build with a traceback."""
    with records.open("a", encoding="utf-8") as fh:
        fh.write('{"source": "def f(x):\\n    return \'\\ud800\'\\n", "entry": "f(1)"}\n')
        fh.write('{"id": "bad\\udfff", "source": "def g():\\n    return 1\\n", "entry": "g()"}\n')
        fh.write(json.dumps({"source": "def h():\n    return 1\x00\n", "entry": "h()"}) + "\n")
        fh.write(json.dumps({"source": "def k():\n    return 1\n", "entry": "k()"}) + "\n")
    out = tmp_path / "out"
    result = cwm(
        "dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress", "--sandbox", "process"
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    ids = sorted(row["id"] for row in read_rows(out, columns=["id"]))
    assert len(ids) == 41 and "jsonl:mine/46" in ids, "the 40 good programs and the one after the bad ones"
    card = (out / "README.md").read_text()
    for reason in (
        "field source holds a lone surrogate",
        "field id holds a lone surrogate",
        "field source holds a NUL byte",
    ):
        assert f"| skipped: {reason} | 1 |" in card, card


def test_trace_rows_round_trip_awkward_text() -> None:
    # locals go into the table as JSON object strings, written by a reused C encoder
    source = "def f(s):\n    t = s + '\\u00e9\\n\\t\\\\\"\\x00\\U0001f600'\n    d = {t: [t]}\n    return len(d)\n"
    trace = record(source, "f('caf\u00e9 \"q\" \\\\')")
    assert trace.outcome.status == "returned", trace.outcome
    program = SourceProgram("jsonl:t/0", source, trace.program.entry, "jsonl:t")
    batch = TraceBatch()
    batch.add(program, "train", trace)
    batch.add(program, "train", trace)
    rows = batch.to_table().to_pylist()
    assert len(rows) == 2
    for row in rows:
        assert row_trace(row).events == trace.events
        for event, stored in zip(trace.events, row["events"], strict=True):
            if event.locals is None:
                assert stored["locals"] is None
            else:  # JSON text (orjson's or the standard library's), UTF-8 as it is
                assert json.loads(stored["locals"]) == event.locals
                assert "\\u00e9" not in stored["locals"]


def test_the_locals_encoder_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.data.table import _json_object_encoder

    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson now fails
    encode = _json_object_encoder()
    for names in ({}, {"s": "'caf\u00e9 \\\"\\n'", "x": "[1, {2: 3}]"}, {"\U0001f600": "\x00\t"}):
        assert encode(names) == json.dumps(names, ensure_ascii=False)


@sandboxed
def test_stats_and_show(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress").returncode == 0
    stats = cwm("dataset", "stats", str(out), "--json")
    figures = json.loads(stats.stdout)
    assert figures["traces"] == 40 and figures["by_outcome"] == {"returned": 40}
    assert figures["events"]["p50"] == 4 and sum(figures["by_split"].values()) == 40
    some_id = read_rows(out, columns=["id"])[0]["id"]
    shown = cwm("dataset", "show", str(out), some_id, "--format", "cwm")
    assert shown.returncode == 0 and shown.stdout.startswith("<|trace_context_start|>def f(x):  # << START_OF_TRACE")
    missing = cwm("dataset", "show", str(out), "no-such-id")
    assert missing.returncode == 2 and "no trace 'no-such-id'" in missing.stderr


def test_bad_input_is_one_clear_line(records: Path, tmp_path: Path) -> None:
    cases = [
        (["--source", "nosuch=1"], "unknown source 'nosuch'"),
        (["--source", f"jsonl={tmp_path / 'missing.jsonl'}"], "missing.jsonl"),
        (["--source", f"dir={tmp_path / 'nowhere'}"], "nowhere"),
        (["--source", f"jsonl={records}", "--shard", "3/2"], "--shard 3/2"),
    ]
    for extra, message in cases:
        result = cwm("dataset", "build", *extra, "--out", str(tmp_path / "o"), "--no-progress")
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    not_ours = tmp_path / "not-ours"
    not_ours.mkdir()
    (not_ours / "file.txt").write_text("mine")
    result = cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(not_ours), "--no-progress")
    assert result.returncode == 2 and "not a cwm dataset directory" in result.stderr


@sandboxed
def test_other_settings_are_refused(records: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress").returncode == 0
    again = cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--max-events", "7")
    assert again.returncode == 2 and "other settings: max_events 10000 (asked now: 7)" in again.stderr
    same = cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress")
    assert same.returncode == 0 and "traced 0 programs" in same.stdout and "40 already done" in same.stdout


@sandboxed
def test_shards_merge_into_the_whole(records: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(whole), "--no-progress").returncode == 0
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i}"
        result = cwm(
            "dataset", "build", "--source", f"jsonl={records}", "--out", str(part), "--shard", f"{i}/3", "--no-progress"
        )
        assert result.returncode == 0, result.stderr
        parts.append(str(part))
    sizes = [len(read_rows(p, columns=["id"])) for p in parts]
    assert sum(sizes) == 40 and all(sizes), "disjoint shards that cover everything"
    merged = tmp_path / "merged"
    result = cwm("dataset", "merge", *parts, "--out", str(merged))
    assert result.returncode == 0, result.stderr
    assert sorted(r["id"] for r in read_rows(merged, columns=["id"])) == sorted(
        r["id"] for r in read_rows(whole, columns=["id"])
    )
    clash = cwm("dataset", "merge", parts[0], str(whole), "--out", str(tmp_path / "bad"))
    assert clash.returncode == 2 and "other settings" in clash.stderr
    short = cwm("dataset", "merge", parts[0], parts[2], "--out", str(tmp_path / "short"))
    assert short.returncode == 2 and "shard 1/3 of the build is missing" in short.stderr, short.stderr
    assert not (tmp_path / "short" / "data").exists()


@sandboxed
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_a_killed_build_resumes_without_loss_or_duplicates(tmp_path: Path, how: signal.Signals) -> None:
    if not CRUXEVAL.exists():
        pytest.skip("../shared/data/cruxeval.jsonl is absent")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cwm", "dataset", "build", "--source", f"cruxeval={CRUXEVAL}", "--out", str(out)]
    command += ["--no-progress", "--part-size", "40", "--workers", "2"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    parts_dir = out / ".cwm" / "parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts_dir.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, how)  # the whole process group, sandboxes included
    proc.communicate(timeout=60)
    saved = sum(pq.read_metadata(p).num_rows for p in parts_dir.glob("part-*.parquet"))
    assert 0 < saved < 800, f"killed midway: {saved} traces saved"
    assert (out / SETTINGS_FILE).exists() and not (out / "data").exists()
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{saved} already done" in again.stdout
    ids = [row["id"] for row in read_rows(out, columns=["id"])]
    assert len(ids) == len(set(ids)) == 800
    assert not list(out.rglob("*.tmp")), "no half-written files left"


@sandboxed
def test_the_readme_pipeline_end_to_end(tmp_path: Path) -> None:
    """HumanEval + a directory of real standard-library code (+ CRUXEval when present), in the sandbox."""
    import bisect
    import colorsys
    import shutil

    modules = tmp_path / "modules"
    modules.mkdir()
    for module in (bisect, colorsys):
        shutil.copy(module.__file__, modules)
    sources = ["--source", "humaneval", "--source", f"dir={modules}"]
    if CRUXEVAL.exists():
        sources += ["--source", f"cruxeval={CRUXEVAL}"]
    out = tmp_path / "traces"
    result = cwm("dataset", "build", *sources, "--out", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(f"dataset: {out}")
    figures = json.loads(cwm("dataset", "stats", str(out), "--json").stdout)
    assert figures["by_source"]["humaneval"] > 1000 and figures["by_source"][f"dir:{modules.name}"] > 20
    if CRUXEVAL.exists():
        assert figures["by_source"]["cruxeval"] == 800
    assert figures["by_outcome"]["returned"] > 0.9 * figures["traces"]


@sandboxed
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_disk_is_a_clear_error_and_damages_nothing(tmp_path: Path) -> None:
    if not CRUXEVAL.exists():
        pytest.skip("../shared/data/cruxeval.jsonl is absent")
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)], check=True)
    try:
        out = disk / "traces"
        result = cwm("dataset", "build", "--source", f"cruxeval={CRUXEVAL}", "--out", str(out), "--no-progress")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "the disk is full" in result.stderr and "Traceback" not in result.stderr
        assert json.loads((out / SETTINGS_FILE).read_text())["sources"] == [f"cruxeval={CRUXEVAL}"]
        assert not list(out.rglob("*.tmp")), "no half-written file left behind"
        for part in (out / ".cwm" / "parts").glob("part-*.parquet"):
            pq.read_metadata(part)  # every part that exists is whole
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@sandboxed
def test_token_length_percentiles_with_a_local_tokenizer(records: Path, tmp_path: Path) -> None:
    """A tokenizer trained here (no download), saved as a Hugging Face folder, read by `stats --tokenizer`."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from tracer import SPECIAL_TOKENS, render_cwm

    out = tmp_path / "out"
    assert cwm("dataset", "build", "--source", f"jsonl={records}", "--out", str(out), "--no-progress").returncode == 0
    corpus = [render_cwm(row_trace(row)) for row in read_rows(out)]
    model = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", *SPECIAL_TOKENS])
    model.train_from_iterator(corpus, trainer)
    folder = tmp_path / "tok"
    transformers.PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>").save_pretrained(folder)

    result = cwm("dataset", "stats", str(out), "--tokenizer", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    tokens = json.loads(result.stdout)["tokens"]
    count = transformers.AutoTokenizer.from_pretrained(folder)
    lengths = sorted(len(count(text, add_special_tokens=False)["input_ids"]) for text in corpus)
    assert tokens["max"] == lengths[-1] and tokens["p50"] == lengths[len(lengths) // 2]
    assert 0 < tokens["p50"] <= tokens["p90"] <= tokens["max"]
    missing = cwm("dataset", "stats", str(out), "--tokenizer", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "cannot load the tokenizer" in missing.stderr
    assert missing.stderr.strip().endswith("no such folder"), missing.stderr
    (tmp_path / "empty").mkdir()
    empty = cwm("dataset", "stats", str(out), "--tokenizer", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "not a tokenizer folder: it holds no tokenizer.json" in empty.stderr
