"""Reading a built trace dataset: statistics and single traces."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tracer import Trace, render_cwm

from .build import DATA, SETTINGS_FILE, DatasetError, part_files, read_report
from .card import why_empty
from .table import SPLITS, row_trace


def data_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The split files of a dataset; a :class:`DatasetError` says why there are none."""
    root = Path(directory)
    if not (root / SETTINGS_FILE).exists() and not (root / DATA).is_dir():
        raise DatasetError(f"{root} is not a cwm trace dataset (build one with `cwm dataset build`)")
    files = sorted((root / DATA).glob("*.parquet"))
    if not files:
        report = read_report(root)
        if report is not None and not part_files(root):  # a build finished and traced nothing
            raise DatasetError(f"{root} holds no traces: {why_empty(report)}")
        raise DatasetError(f"{root} has no data files yet: rerun its `cwm dataset build` to finish it")
    return files


def read_rows(directory: str | os.PathLike[str], columns: list[str] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in data_files(directory):
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return rows


def percentiles(values: list[int], points: tuple[int, ...] = (50, 90, 99)) -> dict[str, int]:
    if not values:
        return {f"p{p}": 0 for p in points} | {"max": 0}
    ordered = sorted(values)
    found = {f"p{p}": ordered[min(len(ordered) - 1, (len(ordered) * p) // 100)] for p in points}
    return found | {"max": ordered[-1]}


def stats(directory: str | os.PathLike[str], tokenizer: str | None = None) -> dict[str, Any]:
    """Counts per source, split and outcome; event-count and (with a tokenizer) token-length percentiles."""
    rows = read_rows(directory)
    result: dict[str, Any] = {
        "traces": len(rows),
        "by_source": dict(Counter(row["origin"] for row in rows)),
        "by_split": {split: sum(row["split"] == split for row in rows) for split in SPLITS},
        "by_outcome": dict(Counter(row["outcome"]["status"] for row in rows)),
        "by_source_split": dict(Counter(f"{row['origin']} / {row['split']}" for row in rows)),
        "events": percentiles([len(row["events"]) for row in rows]),
    }
    if tokenizer is not None:
        count = token_counter(tokenizer)
        result["tokens"] = percentiles([count(render_cwm(row_trace(row))) for row in rows])
        result["tokenizer"] = tokenizer
    return result


def token_counter(name: str) -> Any:
    """A function counting tokens with a Hugging Face tokenizer (hub id or local folder)."""
    from training.hub import folder_problem, hub_kwargs, unreachable_note

    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise DatasetError("token lengths need transformers: pip install 'cwm[train]'") from None
    problem = folder_problem(name, "tokenizer")
    if problem:
        raise DatasetError(f"cannot load the tokenizer {name!r}: {problem}")
    try:
        tok = AutoTokenizer.from_pretrained(name, **hub_kwargs(name))
    except Exception as exc:  # noqa: BLE001 - hub errors, missing files, bad configs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"cannot load the tokenizer {name!r}: {first}{unreachable_note(name)}") from None
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def find(directory: str | os.PathLike[str], trace_id: str) -> Trace:
    """The trace with id ``trace_id`` (an exact id, or a unique suffix of one)."""
    rows = read_rows(directory)
    exact = [row for row in rows if row["id"] == trace_id]
    found = exact or [row for row in rows if row["id"].endswith(trace_id)]
    if not found:
        raise DatasetError(f"no trace {trace_id!r} in {directory}")
    if len(found) > 1:
        names = ", ".join(row["id"] for row in found[:5])
        raise DatasetError(f"{trace_id!r} matches {len(found)} traces ({names}...): give the whole id")
    return row_trace(found[0])
