"""Building a trace dataset: programs from sources, traced in the sandbox, saved as Parquet.

The first stage of the fine-tuning pipeline. ``build`` traces every program
of its sources in parallel sandboxes and writes a Hugging Face dataset that
``datasets.load_dataset("parquet", data_dir=OUT)`` loads::

    OUT/README.md                          the dataset card (counts, sources, Python, limits)
    OUT/data/{train,validation,test}-00000-of-00001.parquet
    OUT/.cwm/build.json                    the settings it was built with
    OUT/.cwm/parts/part-*.parquet          results as they come (hidden from datasets)

Resumable: results are saved in parts, each written to a temporary name and
renamed, so a build killed at any moment (SIGINT or SIGKILL) keeps every part
it finished, and the same command continues with the programs not yet in one:
nothing lost, nothing twice. Splits come from a hash of the normalized source
of the function under test, so one function never lands in two splits; exact
duplicates (same source and entry) are dropped. ``--shard i/N`` builds the
programs whose content hash falls in shard ``i``; :func:`merge` joins shards.
"""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sandbox import Job, Limits, Sandbox
from tracer import Trace

from .sources import ProgramSource, Skip, SourceProgram
from .trace_table import SCHEMA, TraceBatch

SPLITS = ("train", "validation", "test")
STATE = ".cwm"
SETTINGS_FILE = f"{STATE}/build.json"
REPORT_FILE = f"{STATE}/report.json"
PARTS = f"{STATE}/parts"
DATA = "data"


class DatasetError(Exception):
    """The dataset cannot be built or read as asked (with what to do about it)."""


@dataclass(frozen=True)
class BuildSettings:
    """What decides a dataset's content: a rerun must use the same."""

    sources: tuple[str, ...]
    max_events: int = 10_000
    wall_seconds: float = 5.0
    memory_mb: int = 512
    seed: int = 0
    shard: tuple[int, int] = (0, 1)
    split_percent: tuple[int, int, int] = (80, 10, 10)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "sources": list(self.sources),
            "shard": list(self.shard),
            "split_percent": list(self.split_percent),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildSettings:
        return cls(
            sources=tuple(data["sources"]),
            max_events=data["max_events"],
            wall_seconds=data["wall_seconds"],
            memory_mb=data["memory_mb"],
            seed=data["seed"],
            shard=tuple(data["shard"]),  # type: ignore[arg-type]
            split_percent=tuple(data["split_percent"]),  # type: ignore[arg-type]
        )

    def limits(self) -> Limits:
        return Limits(
            wall_seconds=self.wall_seconds,
            cpu_seconds=self.wall_seconds,
            memory_mb=self.memory_mb,
            max_events=self.max_events,
        )

    def differences(self, other: BuildSettings, *, ignore_shard: bool = False) -> list[str]:
        mine, theirs = self.to_json(), other.to_json()
        return [
            f"{key} {theirs[key]!r} (asked now: {mine[key]!r})"
            for key in mine
            if mine[key] != theirs[key] and not (ignore_shard and key == "shard")
        ]


def split_of(split_key: str, percent: tuple[int, int, int] = (80, 10, 10)) -> str:
    """The split of a function, from the hash of its normalized source."""
    bucket = int(split_key[:8], 16) % 100
    if bucket < percent[0]:
        return "train"
    return "validation" if bucket < percent[0] + percent[1] else "test"


def shard_of(content_key: str, count: int) -> int:
    return int(content_key[8:16], 16) % count


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)``, with 0 <= i < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise DatasetError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise DatasetError(f"--shard {text}: need 0 <= i < N")
    return index, count


@dataclass
class BuildReport:
    """What a build did: counts for the progress line, the card and the caller."""

    outcomes: Counter[str] = field(default_factory=Counter)  # status -> traces written this run
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> programs skipped by sources
    duplicates: int = 0
    other_shards: int = 0
    already_done: int = 0
    traced: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "skipped": dict(self.skipped),
            "duplicates": self.duplicates,
            "other_shards": self.other_shards,
        }


# -- the output directory -------------------------------------------------------------
def prepare(out: Path, settings: BuildSettings) -> None:
    """Create ``out`` for these settings, or check it was started with the same ones."""
    settings_path = out / SETTINGS_FILE
    if settings_path.exists():
        try:
            existing = BuildSettings.from_json(json.loads(settings_path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{out} has a damaged {SETTINGS_FILE} ({exc}); use another --out") from None
        differences = settings.differences(existing)
        if differences:
            raise DatasetError(
                f"{out} holds a dataset built with other settings: {'; '.join(differences)}. "
                "Rerun with the same settings to continue it, or choose another --out."
            )
        for stale in [*(out / PARTS).glob(".*.tmp"), *(out / DATA).glob(".*.tmp")]:
            stale.unlink(missing_ok=True)  # half-written when a build was killed: never renamed in
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not a cwm dataset directory: choose an empty or new --out")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    write_atomic(settings_path, json.dumps(settings.to_json(), indent=2).encode())


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None


def write_table_atomic(path: Path, data: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(data, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None


def _disk_error(path: Path, exc: OSError) -> DatasetError:
    if exc.errno == errno.ENOSPC:
        return DatasetError(
            f"the disk is full while writing {path}: nothing written so far is damaged; "
            "free some space and rerun the same command to continue"
        )
    return DatasetError(f"cannot write {path}: {exc.strerror or exc}")


def part_files(out: Path) -> list[Path]:
    return sorted((out / PARTS).glob("part-*.parquet"))


def done_keys(out: Path) -> tuple[set[str], set[str]]:
    """Program ids and content keys already saved in parts."""
    ids: set[str] = set()
    keys: set[str] = set()
    for path in part_files(out):
        try:
            part = pq.read_table(path, columns=["id", "content_key"])
        except (OSError, pa.ArrowInvalid) as exc:
            raise DatasetError(f"{path} is damaged ({exc}); delete it and rerun to trace its programs again") from None
        ids.update(part.column("id").to_pylist())
        keys.update(part.column("content_key").to_pylist())
    return ids, keys


# -- building --------------------------------------------------------------------------
def build(
    out: str | os.PathLike[str],
    sources: list[ProgramSource],
    settings: BuildSettings,
    *,
    backend: str = "auto",
    workers: int = 2,
    on_progress: Callable[[BuildReport, int], None] | None = None,
    part_size: int = 500,
    part_seconds: float = 10.0,
) -> BuildReport:
    """Trace every program of ``sources`` not yet in ``out`` and finalize the dataset there."""
    out = Path(out)
    prepare(out, settings)
    report = BuildReport()
    started = time.monotonic()
    done_ids, done_content = done_keys(out)
    pending = list(_pending(sources, settings, report, done_ids, done_content))
    jobs = {f"p{n}": (program, split) for n, (program, split) in enumerate(pending)}
    limits = settings.limits()
    rows = TraceBatch()
    last_flush = time.monotonic()
    if on_progress is not None:
        on_progress(report, len(pending))
    try:
        if jobs:
            with Sandbox(backend, workers=workers, limits=limits) as box:
                stream = box.map(Job(p.source, p.entry, id=job_id, limits=limits) for job_id, (p, _) in jobs.items())
                for job_id, trace in stream:
                    program, split = jobs[job_id]
                    rows.add(program, split, _named(trace, program))
                    report.outcomes[trace.outcome.status] += 1
                    report.traced += 1
                    if on_progress is not None:
                        on_progress(report, len(pending))
                    if len(rows) >= part_size or time.monotonic() - last_flush >= part_seconds:
                        _flush(out, rows)
                        last_flush = time.monotonic()
    except KeyboardInterrupt:
        _flush(out, rows)
        report.interrupted = True
        report.seconds = time.monotonic() - started
        return report
    _flush(out, rows)
    write_atomic(out / REPORT_FILE, json.dumps(report.to_json(), indent=2).encode())
    finalize(out)
    report.seconds = time.monotonic() - started
    return report


def _named(trace: Trace, program: SourceProgram) -> Trace:
    trace.program.id = program.id
    return trace


def _pending(
    sources: Iterable[ProgramSource],
    settings: BuildSettings,
    report: BuildReport,
    done_ids: set[str],
    done_content: set[str],
) -> Iterator[tuple[SourceProgram, str]]:
    """The programs still to trace, in source order; counts the rest in ``report``."""
    seen: set[str] = set()
    index, count = settings.shard
    for source in sources:
        for item in source.programs():
            if isinstance(item, Skip):
                report.skipped[item.reason] += 1
                continue
            key = item.content_key
            if count > 1 and shard_of(key, count) != index:
                report.other_shards += 1
                continue
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            if item.id in done_ids or key in done_content:
                report.already_done += 1
                continue
            yield item, split_of(item.split_key, settings.split_percent)


def _flush(out: Path, rows: TraceBatch) -> None:
    if not len(rows):
        return
    name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
    write_table_atomic(out / PARTS / name, rows.to_table())
    rows.clear()


# -- finishing ---------------------------------------------------------------------------
def finalize(out: Path) -> dict[str, int]:
    """Write the split files and the card from the parts (idempotent; all in Arrow)."""
    parts = [pq.read_table(path) for path in part_files(out)]
    everything = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    everything = _unique_by_split_and_id(everything)
    (out / DATA).mkdir(exist_ok=True)
    counts = {}
    split_of_row = everything["split"]
    start = 0
    for split in sorted(SPLITS):  # the rows' order: one slice per split, no copy
        size = pc.sum(pc.equal(split_of_row, split)).as_py() or 0
        chosen = everything.slice(start, size)
        start += size
        path = out / DATA / f"{split}-00000-of-00001.parquet"
        if chosen.num_rows:
            write_table_atomic(path, chosen)
        else:  # datasets cannot read an empty Parquet file: an empty split has none
            path.unlink(missing_ok=True)
        counts[split] = chosen.num_rows
    settings = json.loads((out / SETTINGS_FILE).read_text())
    report = json.loads((out / REPORT_FILE).read_text()) if (out / REPORT_FILE).exists() else {}
    summary = {
        "origins": Counter(everything["origin"].to_pylist()),
        "statuses": Counter(pc.struct_field(everything["outcome"], "status").to_pylist()),
        "pythons": sorted(set(pc.struct_field(everything["program"], "python").to_pylist()) - {None, ""}),
    }
    write_atomic(out / "README.md", dataset_card(everything.num_rows, summary, counts, settings, report).encode())
    return counts


def _unique_by_split_and_id(data: pa.Table) -> pa.Table:
    """The first row of each content key, ordered by split and id.

    The order is worked out on the small key columns, and the table (events
    and all) is copied once, by one ``take``.
    """
    keys = data["content_key"].to_pylist()
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        seen.setdefault(key, index)
    first = pa.array(sorted(seen.values()), type=pa.int64())
    small = data.select(["split", "id"]).take(first)
    order = pc.sort_indices(small, sort_keys=[("split", "ascending"), ("id", "ascending")])
    return data.take(pc.take(first, order))


def merge(out: str | os.PathLike[str], inputs: list[str | os.PathLike[str]]) -> dict[str, int]:
    """Join datasets built as shards of one build (same settings but ``shard``) into ``out``."""
    out = Path(out)
    dirs = [Path(path) for path in inputs]
    settings: list[BuildSettings] = []
    for path in dirs:
        file = path / SETTINGS_FILE
        if not file.exists():
            raise DatasetError(f"{path} is not a cwm dataset (no {SETTINGS_FILE})")
        settings.append(BuildSettings.from_json(json.loads(file.read_text())))
    first = settings[0]
    for path, other in zip(dirs[1:], settings[1:], strict=True):
        differences = other.differences(first, ignore_shard=True)
        if other.shard[1] != first.shard[1]:
            differences.append(f"shard {other.shard[0]}/{other.shard[1]} (not a part of {first.shard[1]})")
        if differences:
            raise DatasetError(f"{path} was built with other settings than {dirs[0]}: {'; '.join(differences)}")
    shards = sorted(s.shard[0] for s in settings)
    if len(set(shards)) != len(shards):
        raise DatasetError(f"the same shard appears twice among {', '.join(map(str, dirs))}")
    merged = BuildSettings(**{**asdict(first), "shard": (0, 1)})
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} is not empty: merge into a new directory")
    prepare(out, merged)
    report: dict[str, Any] = {
        "outcomes": Counter(),
        "skipped": Counter(),
        "duplicates": 0,
        "shards": shards,
        "of": first.shard[1],
    }
    for path in dirs:
        for part in part_files(path):
            write_table_atomic(out / PARTS / f"part-{path.name}-{part.name[5:]}", pq.read_table(part))
        if (path / REPORT_FILE).exists():
            theirs = json.loads((path / REPORT_FILE).read_text())
            report["outcomes"].update(theirs.get("outcomes", {}))
            report["skipped"].update(theirs.get("skipped", {}))
            report["duplicates"] += theirs.get("duplicates", 0)
    write_atomic(out / REPORT_FILE, json.dumps(report, indent=2).encode())
    return finalize(out)


def dataset_card(
    total: int, summary: dict[str, Any], counts: dict[str, int], settings: dict[str, Any], report: dict[str, Any]
) -> str:
    by_origin, by_status, pythons = summary["origins"], summary["statuses"], summary["pythons"]
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *[f"  - split: {split}\n    path: data/{split}-*.parquet" for split in SPLITS if counts.get(split)],
        "tags:",
        "- code",
        "- execution-traces",
        "- cwm",
        "---",
        "",
        "# Python execution traces (cwm)",
        "",
        "Each row is one run of one Python program, recorded line by line by the",
        "cwm tracer in its sandbox: every event (`call`, `line`,",
        "`return`, `exception`) with the full local state before each line, return",
        "values, exceptions and printed output, and how the run ended. Load it with",
        '`datasets.load_dataset("parquet", data_dir=...)`; `training.trace_table.row_trace`',
        "turns a row back into a `tracer.Trace` (then `tracer.render_cwm` gives the CWM text).",
        "",
        f"- traces: {total} ({', '.join(f'{s} {counts.get(s, 0)}' for s in SPLITS)})",
        f"- Python: {', '.join(pythons) or 'n/a'}",
        f"- limits: max_events {settings['max_events']}, wall {settings['wall_seconds']} s, "
        f"memory {settings['memory_mb']} MiB",
        f"- sources: {', '.join(settings['sources'])}",
        f"- splits by a hash of the normalized function source: {'/'.join(map(str, settings['split_percent']))} percent",
        "",
        "| source | traces |",
        "|---|---|",
        *[f"| {origin} | {n} |" for origin, n in sorted(by_origin.items())],
        "",
        "| outcome | traces |",
        "|---|---|",
        *[f"| {status} | {n} |" for status, n in sorted(by_status.items())],
        "",
    ]
    skipped = report.get("skipped") or {}
    if skipped or report.get("duplicates"):
        lines += ["| not traced | programs |", "|---|---|"]
        lines += [f"| skipped: {reason} | {n} |" for reason, n in sorted(skipped.items())]
        if report.get("duplicates"):
            lines.append(f"| exact duplicates | {report['duplicates']} |")
        lines.append("")
    return "\n".join(lines)
