"""A trace dataset's split as tokenized examples, cached by ``datasets`` (a rerun does not re-tokenize).

The split is read with ``datasets`` from the dataset's Parquet file; the
examples (:mod:`training.examples`) are made with ``Dataset.map`` under a
fingerprint of what decides them: the split's own fingerprint, the
tokenizer's vocabulary, the sequence length, the overlap and this format's
version. Same inputs, same cache file: ``map`` loads it instead of running.
A trace that gives no example leaves a row saying why, counted and dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.build import DatasetError
from training.data.stats import data_files
from training.data.table import row_trace

from .examples import Encoder, Example, ExampleReport, FrameSpan, trace_examples

EXAMPLES_VERSION = 1  # bump when the examples' ids or columns change: old caches are then not reused
KEPT = ("", "cut", "capped")  # what a row's ``skipped`` holds when it is an example
COLUMNS = ("trace_id", "input_ids", "completion_mask", "span_index", "span_start", "span_action", "span_end", "skipped")


@dataclass
class TokenizedSplit:
    dataset: Any  # datasets.Dataset with COLUMNS (skipped rows removed)
    report: ExampleReport
    fingerprint: str  # of the traces read (the split file's dataset fingerprint)

    def examples(self, limit: int | None = None) -> list[Example]:
        rows = self.dataset if limit is None else self.dataset.select(range(min(limit, len(self.dataset))))
        return [row_example(row) for row in rows]


def split_file(path: str | Path, split: str) -> Path:
    files = {f.name.split("-", 1)[0]: f for f in data_files(path)}
    if split not in files:
        have = ", ".join(sorted(files)) or "none"
        raise DatasetError(f"{path} has no {split!r} split (it has: {have})")
    return files[split]


@contextlib.contextmanager
def progress_bars(on: bool) -> Iterator[None]:
    """datasets' progress bars on or off for a while, then as they were."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_on = not are_progress_bars_disabled()
    (enable_progress_bars if on else disable_progress_bars)()
    try:
        yield
    finally:
        (enable_progress_bars if was_on else disable_progress_bars)()


def load_traces(path: str | Path, split: str, limit: int | None = None) -> Any:
    """The split as a ``datasets.Dataset`` of trace rows (the first ``limit``)."""
    import pyarrow.parquet as pq
    from datasets import load_dataset

    file = split_file(path, split)
    try:
        columns = set(pq.read_schema(file).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a file that is no Parquet vary
        raise DatasetError(f"{file} is not a Parquet file ({type(exc).__name__})") from None
    missing = {"program", "events", "outcome"} - columns
    if missing:
        raise DatasetError(f"{file} is not a trace table (no {', '.join(sorted(missing))} column)")
    if pq.ParquetFile(file).metadata.num_rows == 0:
        raise DatasetError(f"the {split!r} split is empty ({file} holds no trace)")
    with progress_bars(False):  # reading it is quick; tokenizing it gets a bar
        dataset = load_dataset("parquet", data_files={split: str(file)}, split=split)
    if limit is not None and limit < len(dataset):
        dataset = dataset.select(range(limit))
    return dataset


def content_hash(path: str | Path, split: str, limit: int | None = None) -> str:
    """The split's file hashed by its bytes (and the ``limit`` read of it): the same data in
    another folder, a copy or a move, hashes the same."""
    digest = hashlib.sha256(f"{limit}".encode())
    with open(split_file(path, split), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def tokenizer_hash(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    extra = json.dumps([tokenizer.eos_token, tokenizer.pad_token, len(tokenizer)])
    return hashlib.sha256((text + extra).encode()).hexdigest()[:16]


def tokenize(
    traces: Any,
    tokenizer: Any,
    max_length: int,
    overlap: float,
    max_windows: int | None = None,
    *,
    progress: bool = True,
) -> TokenizedSplit:
    """Examples of every trace in ``traces`` (a Dataset of trace rows), cached by fingerprint;
    ``progress``: a bar while tokenizing."""

    key = json.dumps(
        [traces._fingerprint, tokenizer_hash(tokenizer), max_length, overlap, max_windows, EXAMPLES_VERSION]
    )
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
    encoder = Encoder(tokenizer)

    def batch_examples(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        for i in range(len(rows["events"])):
            row = {name: rows[name][i] for name in rows}
            trace = row_trace(row)
            report = ExampleReport()
            found = trace_examples(trace, encoder, max_length, report, overlap=overlap, max_windows=max_windows)
            for example in found:
                _add(out, example, "")
            if not found:
                reason = next(iter(report.skipped), "cut at its first frame")
                _add(out, Example(trace.program.id, [], [], []), reason)
            elif report.cut or report.capped:
                out["skipped"][-1] = "cut" if report.cut else "capped"  # kept: the frames before train
        return out

    with progress_bars(progress):
        mapped = traces.map(
            batch_examples,
            batched=True,
            batch_size=64,
            remove_columns=traces.column_names,
            new_fingerprint=fingerprint,
            desc="tokenizing traces",
        )
    report = _report(mapped, len(traces))
    with progress_bars(False):  # an instant filter
        kept = mapped.filter(lambda skipped: skipped in KEPT, input_columns="skipped")
    return TokenizedSplit(kept, report, traces._fingerprint)


def _add(out: dict[str, list[Any]], example: Example, skipped: str) -> None:
    out["trace_id"].append(example.trace_id)
    out["input_ids"].append(example.input_ids)
    out["completion_mask"].append(example.completion_mask)
    out["span_index"].append([s.index for s in example.frames])
    out["span_start"].append([s.start for s in example.frames])
    out["span_action"].append([s.action for s in example.frames])
    out["span_end"].append([s.end for s in example.frames])
    out["skipped"].append(skipped)


def _report(mapped: Any, traces: int) -> ExampleReport:
    report = ExampleReport(traces=traces)
    ids = mapped["trace_id"]
    skipped = mapped["skipped"]
    counts: dict[str, int] = {}
    for trace_id, reason in zip(ids, skipped, strict=True):
        counts[trace_id] = counts.get(trace_id, 0) + (reason in KEPT)
        if reason not in KEPT:
            report.skip(reason)
        elif reason == "cut":
            report.cut += 1
        elif reason == "capped":
            report.capped += 1
    report.examples = sum(counts.values())
    report.windowed = sum(1 for n in counts.values() if n > 1)
    lengths = [len(x) for x in mapped["input_ids"]]
    report.tokens = sum(lengths)
    report.loss_tokens = sum(sum(m) for m in mapped["completion_mask"])
    return report


def row_example(row: dict[str, Any]) -> Example:
    spans = [
        FrameSpan(i, s, a, e)
        for i, s, a, e in zip(row["span_index"], row["span_start"], row["span_action"], row["span_end"], strict=True)
    ]
    return Example(row["trace_id"], list(row["input_ids"]), list(row["completion_mask"]), spans)
