"""Building a trace dataset: programs from sources, traced in the sandbox, saved as Parquet.

The first stage of the fine-tuning pipeline. ``build`` traces every program
of its sources in parallel sandboxes and writes a Hugging Face dataset that
``datasets.load_dataset("parquet", data_dir=OUT)`` loads::

    OUT/README.md                          the dataset card (counts, sources, Python, limits)
    OUT/data/{train,validation,test}-00000-of-00001.parquet
    OUT/.cwm/build.json                    the settings it was built with
    OUT/.cwm/report.json                   what the last finished build did (absent while one runs)
    OUT/.cwm/parts/part-*.parquet          results as they come (hidden from datasets)

Resumable: results are saved in parts, each written to a temporary name and
renamed, so a build killed at any moment (SIGINT or SIGKILL) keeps every part
it finished, and the same command continues with the programs not yet in one:
nothing lost, nothing twice. Splits come from a hash of the normalized source
of the function under test, so one function never lands in two splits; exact
duplicates (same source and entry) are dropped. ``--shard i/N`` builds the
programs whose content hash falls in shard ``i``; :func:`merge` joins shards.
A program no trace can hold (a lone surrogate, a NUL byte) is skipped and
counted like the sources' own skips, whichever source gave it.
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
from sandbox.progress import Progress
from tracer import Trace

from .card import dataset_card, in_status_order, reasons, why_empty
from .renames import renamed_variants
from .sources import ProgramSource, Skip, SourceProgram
from .sources.base import program_problem
from .table import SCHEMA, SPLITS, TraceBatch

STATE = ".cwm"
SETTINGS_FILE = f"{STATE}/build.json"
REPORT_FILE = f"{STATE}/report.json"
PARTS = f"{STATE}/parts"
DATA = "data"
COLLECT_QUIET_SECONDS = 2.0  # collecting programs faster than this shows no progress at all


class DatasetError(Exception):
    """The dataset cannot be built or read as asked (with what to do about it)."""


@dataclass(frozen=True)
class BuildSettings:
    """What decides a dataset's content: a rerun must use the same."""

    sources: tuple[str, ...]
    max_events: int = Limits.max_events  # the sandbox's defaults, defined there once
    wall_seconds: float = Limits.wall_seconds
    memory_mb: int = Limits.memory_mb
    seed: int = 0
    shard: tuple[int, int] = (0, 1)
    split_percent: tuple[int, int, int] = (80, 10, 10)
    renames: int = 0  # variants of each training program with its local names renamed (renames.py)

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
            renames=data.get("renames", 0),  # absent from datasets built before renames existed
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
    """What a build did: counts for the progress line, the card and the caller.

    :meth:`summary` is the line to show the user when the build ends; when
    the dataset holds no trace at all it says why (every program skipped, by
    reason; no programs; an empty shard) instead of counts.
    """

    outcomes: Counter[str] = field(default_factory=Counter)  # status -> traces written this run
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> programs skipped
    found: int = 0  # programs the sources gave (not skipped), in any shard
    renamed: int = 0  # renamed variants of training programs made (renames.py), in any shard
    duplicates: int = 0
    other_shards: int = 0
    already_done: int = 0
    traced: int = 0
    traces: int | None = None  # traces in the finished dataset (None until it is finalized)
    shard: tuple[int, int] = (0, 1)
    seconds: float = 0.0
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "skipped": dict(self.skipped),
            "found": self.found,
            "renamed": self.renamed,
            "duplicates": self.duplicates,
            "other_shards": self.other_shards,
            "already_done": self.already_done,
            "traced": self.traced,
            "traces": self.traces,
            "shard": list(self.shard),
        }

    def summary(self) -> str:
        """One line on what the build did, or, for a dataset with no traces, why it has none."""
        if self.interrupted:
            return f"interrupted: {self.traced} traces saved; run the same command again to continue"
        if self.traces == 0:
            return f"no traces: {why_empty(self.to_json())}"
        outcomes = ", ".join(f"{status} {n}" for status, n in in_status_order(self.outcomes))
        parts = [f"traced {self.traced} programs in {self.seconds:.1f}s" + (f" ({outcomes})" if outcomes else "")]
        if self.renamed:
            parts.append(f"{self.renamed} of them renamed variants of training programs")
        if self.already_done:
            parts.append(f"{self.already_done} already done")
        if self.skipped:
            parts.append(f"{sum(self.skipped.values())} skipped ({reasons(self.skipped)})")
        if self.duplicates:
            parts.append(f"{self.duplicates} exact duplicate{'s' * (self.duplicates != 1)}")
        if self.other_shards:
            parts.append(f"{self.other_shards} in other shards")
        if self.traces is not None:
            parts.append(f"{self.traces} traces in the dataset")
        return "; ".join(parts)


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
        for folder in (out, out / STATE, out / PARTS, out / DATA):
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)  # half-written when a build was killed: never renamed in
        # the report says a build finished: until this one does, the directory is unfinished
        (out / REPORT_FILE).unlink(missing_ok=True)
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
        with open(tmp, "wb") as f:
            pq.write_table(data, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before it is renamed in: a crash leaves no empty part
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
    """Trace every program of ``sources`` not yet in ``out`` and finalize the dataset there.

    ``on_progress(report, total)`` is called as traces come; with it, the
    phase before (collecting the sources' programs) also shows progress on
    stderr, once it has lasted :data:`COLLECT_QUIET_SECONDS`. Without it the
    build prints nothing.
    """
    out = Path(out)
    prepare(out, settings)
    report = BuildReport(shard=settings.shard)
    started = time.monotonic()
    done_ids, done_content = done_keys(out)
    limits = settings.limits()
    rows = TraceBatch()
    collecting = _CollectProgress(enabled=on_progress is not None)
    try:
        try:
            pending = list(_pending(sources, settings, report, done_ids, done_content, collecting))
        finally:
            collecting.close()
        jobs = {f"p{n}": (program, split) for n, (program, split) in enumerate(pending)}
        last_flush = time.monotonic()
        if on_progress is not None:
            on_progress(report, len(pending))
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
    finalize(out, report)
    report.seconds = time.monotonic() - started
    return report


def _named(trace: Trace, program: SourceProgram) -> Trace:
    trace.program.id = program.id
    return trace


class _CollectProgress:
    """Progress of collecting the sources' programs, on stderr: nothing for a phase that ends soon."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.shown = 0.0
        self.bar: Progress | None = None
        self.last: tuple[BuildReport, ProgramSource] | None = None

    def update(self, report: BuildReport, source: ProgramSource, *, now: bool = False) -> None:
        if not self.enabled:
            return
        clock = time.monotonic()
        if self.bar is None:
            if clock - self.started < COLLECT_QUIET_SECONDS:
                return
            self.bar = Progress("collecting programs", unit="programs")
        self.last = (report, source)
        if not now and clock - self.shown < 0.1:  # a source gives thousands a second: show ten
            return
        self.shown = clock
        skipped = sum(report.skipped.values())
        counts = [f"found {report.found}", f"skipped {skipped}"]
        scanned, total = getattr(source, "files_scanned", None), getattr(source, "files_total", None)
        if isinstance(scanned, int) and isinstance(total, int):  # a directory source: how far its walk is
            counts.append(f"files {scanned}/{total}")
        self.bar.update(completed=report.found + skipped, counts=", ".join([*counts, source.name]))

    def close(self) -> None:
        if self.bar is not None:
            if self.last is not None:
                self.update(*self.last, now=True)
            self.bar.close()


def _pending(
    sources: Iterable[ProgramSource],
    settings: BuildSettings,
    report: BuildReport,
    done_ids: set[str],
    done_content: set[str],
    progress: _CollectProgress | None = None,
) -> Iterator[tuple[SourceProgram, str]]:
    """The programs still to trace, in source order; counts the rest in ``report``.

    A program whose text cannot be traced and stored (:func:`program_problem`:
    a lone surrogate, a NUL byte, not a string), whatever source gave it, is
    skipped and counted like the sources' own skips.
    """
    seen: set[str] = set()
    index, count = settings.shard

    def to_trace(item: SourceProgram | Skip, *, variant: bool = False) -> SourceProgram | None:
        if isinstance(item, Skip):
            report.skipped[item.reason] += 1
            return None
        problem = program_problem(item)
        if problem is not None:
            report.skipped[problem] += 1
            return None
        if variant:
            report.renamed += 1
        else:
            report.found += 1
        key = item.content_key
        if count > 1 and shard_of(key, count) != index:
            report.other_shards += 1
        elif key in seen:
            report.duplicates += 1
        elif item.id in done_ids or key in done_content:
            seen.add(key)
            report.already_done += 1
        else:
            seen.add(key)
            return item
        return None

    for source in sources:
        for item in source.programs():
            program = to_trace(item)
            if progress is not None:
                progress.update(report, source)
            if program is not None:
                yield program, split_of(program.split_key, settings.split_percent)
            if settings.renames and isinstance(item, SourceProgram) and program_problem(item) is None:
                # variants of a training program (traced or not yet): the eval splits stay as the sources gave them
                if split_of(item.split_key, settings.split_percent) == "train":
                    for renamed in renamed_variants(item, settings.renames, seed=settings.seed):
                        variant = to_trace(renamed, variant=True)
                        if variant is not None:
                            yield variant, "train"
        if progress is not None:
            progress.update(report, source, now=True)  # the source's last figures (its walk done)


def _flush(out: Path, rows: TraceBatch) -> None:
    if not len(rows):
        return
    name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
    write_table_atomic(out / PARTS / name, rows.to_table())
    rows.clear()


# -- finishing ---------------------------------------------------------------------------
def finalize(out: Path, report: BuildReport | None = None) -> dict[str, int]:
    """Write the split files, the build's ``report`` and the card from the parts (idempotent; all in Arrow).

    Without ``report``, the card takes the one saved in ``.cwm/report.json`` (if any).
    """
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
    if report is not None:  # after the split files: a saved report means the build finished
        report.traces = everything.num_rows
        write_atomic(out / REPORT_FILE, json.dumps(report.to_json(), indent=2).encode())
    saved = read_report(out) or {}
    summary = {
        "origins": Counter(everything["origin"].to_pylist()),
        "statuses": Counter(pc.struct_field(everything["outcome"], "status").to_pylist()),
        "pythons": sorted(set(pc.struct_field(everything["program"], "python").to_pylist()) - {None, ""}),
    }
    write_atomic(out / "README.md", dataset_card(everything.num_rows, summary, counts, settings, saved).encode())
    return counts


def read_report(out: Path) -> dict[str, Any] | None:
    """The report of the last build of ``out`` that finished, or None (none finished, or one is under way)."""
    try:
        report = json.loads((out / REPORT_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{out} has a damaged {REPORT_FILE} ({exc}); rerun its build to write it again") from None
    return report if isinstance(report, dict) else None


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
    missing = sorted(set(range(first.shard[1])) - set(shards))
    if missing:  # the merged dataset says shard 0/1, the whole build: it must hold every part
        named = ", ".join(f"{i}/{first.shard[1]}" for i in missing)
        raise DatasetError(f"shard {named} of the build is missing: merge all {first.shard[1]} shards")
    merged = BuildSettings(**{**asdict(first), "shard": (0, 1)})
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} is not empty: merge into a new directory")
    prepare(out, merged)
    report: dict[str, Any] = {
        "outcomes": Counter(),
        "skipped": Counter(),
        "found": 0,
        "renamed": 0,
        "duplicates": 0,
        "shards": shards,
        "of": first.shard[1],
    }
    for path in dirs:
        for part in part_files(path):
            write_table_atomic(out / PARTS / f"part-{path.name}-{part.name[5:]}", pq.read_table(part))
        theirs = read_report(path)
        if theirs is not None:
            report["outcomes"].update(theirs.get("outcomes", {}))
            report["duplicates"] += theirs.get("duplicates", 0)  # duplicates share a shard: counted once
            # every shard reads all the sources: each saw every skip and every program
            report["skipped"] |= Counter(theirs.get("skipped", {}))
            report["found"] = max(report["found"], theirs.get("found", 0))
            report["renamed"] = max(report["renamed"], theirs.get("renamed", 0))
    write_atomic(out / REPORT_FILE, json.dumps(report, indent=2).encode())
    return finalize(out)
