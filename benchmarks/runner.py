"""The benchmark runner: real traces from the sandbox, predictions from a predictor, the
figures of DESIGN.md's "Metrics" per sample, and a report (what ``cwm bench`` runs).

A run lives in one output folder::

    config.json     what the run is (a rerun with another configuration is refused)
    samples.jsonl   one line per sample: program, real trace, prediction, metrics
    results.json    the figures (:func:`benchmarks.results.summarize`)
    summary.md, *.png, index.html, samples/*.html   the report (:mod:`benchmarks.report`)

Samples are scored in chunks, and each chunk's lines are appended and synced
before the next starts: an interrupted run (Ctrl-C, ``kill -9``) keeps what it
scored, and the same command goes on from there (a line cut short by the kill
is dropped and its sample scored again). The oracle is given the very run its
prediction is scored against, so it scores 100% on every figure by definition;
every other predictor sees only the program and the entry's call frame.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from sandbox.job import Job, Limits
from tracer import Trace
from tracer.cwm_render import shown_locals

from .compare import Comparison, compare_free, compare_single_step
from .metrics import Frames, entry_return, same_value
from .predictors import DEFAULT_BATCH_SIZE, DEFAULT_MAX_FRAMES, DEFAULT_MAX_TOKENS, Predictor, Task, Unfit, from_spec
from .predictors.base import output_value
from .predictors.baselines import trace_output, trace_prediction, trace_steps
from .results import MODE_METRICS, summarize
from .suites import Sample, open_suites

MODES = tuple(MODE_METRICS)  # full, single-step, output
CONFIG_FILE = "config.json"
SAMPLES_FILE = "samples.jsonl"
RESULTS_FILE = "results.json"
LOCK_FILE = ".lock"
PAGES_DIR = "samples"
# settings that do not change what a sample scores: a rerun may change them
_NOT_IDENTITY = ("limit", "workers", "pages", "batch_size")
_VERSIONS = ("cwm", "torch", "transformers", "peft", "openai", "numpy")


class BenchError(Exception):
    """A benchmark that cannot run as asked: said in one line."""


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run is: its suites, its predictor and how it is asked."""

    suites: tuple[str, ...]
    predictor: str  # hf:PATH[+ADAPTER], openai:URL#MODEL, copy or oracle
    mode: str = "full"
    limit: int | None = None  # at most this many samples, over all suites
    workers: int = 2  # sandbox workers for the real runs
    sandbox: str = "auto"
    timeout: float = Limits.wall_seconds  # of each real run
    max_frames: int = DEFAULT_MAX_FRAMES
    max_new_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    constrain: bool = False  # hf: constrained decoding (every frame well formed)
    pages: bool = True  # a side-by-side page per sample

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BenchError(f"unknown mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not self.suites:
            raise BenchError("no suite: add --suite (e.g. --suite cruxeval)")
        if self.constrain and not self.predictor.startswith("hf:"):
            raise BenchError("--constrain is for hf predictors (it steers the model's own decoding)")

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with the one it continues."""
        data = asdict(self)
        data["suites"] = list(self.suites)
        return {k: v for k, v in data.items() if k not in _NOT_IDENTITY}


@dataclass
class Run:
    """What :func:`run` did: the figures, and how many samples this call scored and skipped."""

    results: dict[str, Any]
    scored_now: int
    resumed: int  # samples already scored by an earlier call
    report: dict[str, Path] = field(default_factory=dict)


# -- the output folder -------------------------------------------------------------------------
def check_folder(out: Path, config: BenchConfig) -> bool:
    """Whether ``out`` already is this configuration's folder (False: it is to be made); another
    configuration's folder, or a folder or file that is no run's, is refused."""
    path = out / CONFIG_FILE
    if path.is_file():
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BenchError(f"{out}: cannot read {CONFIG_FILE} ({exc}); use another --out") from None
        mine = config.identity()
        differs = sorted(k for k in set(held) | set(mine) if held.get(k) != mine.get(k))
        if differs and _holds_samples(out):
            shown = ", ".join(f"{k} {held.get(k)!r} there, {mine.get(k)!r} here" for k in differs[:3])
            raise BenchError(f"{out} holds a run of another configuration ({shown}): use another --out")
        return not differs  # another configuration that scored nothing (its predictor failed): taken over
    if out.exists() and not out.is_dir():
        raise BenchError(f"{out} is a file, not a folder: use another --out")
    if out.exists() and any(p.name != CONFIG_FILE + ".tmp" for p in out.iterdir()):
        raise BenchError(f"{out} exists and is not a cwm bench folder: use another --out")
    return False


def _holds_samples(out: Path) -> bool:
    path = out / SAMPLES_FILE
    return path.is_file() and path.stat().st_size > 0


def open_folder(out: Path, config: BenchConfig) -> None:
    """Make ``out`` this run's folder, or check that it already is (see :func:`check_folder`)."""
    if check_folder(out, config):
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / CONFIG_FILE, json.dumps(config.identity(), indent=2) + "\n")
    except OSError as exc:
        raise BenchError(f"cannot write to {out}: {exc.strerror}") from None


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out`` for this run: a second ``cwm bench`` writing there at once is refused."""
    import fcntl

    try:
        handle = (out / LOCK_FILE).open("a")
    except OSError as exc:
        raise BenchError(f"cannot write to {out}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BenchError(f"another cwm bench is writing to {out}: wait for it, or use another --out") from None
        yield
    finally:
        handle.close()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_rows(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The lines of a ``samples.jsonl`` written so far. With ``repair`` (the run that owns the
    folder), a last line cut short by a kill is removed from the file, so appending goes on cleanly."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):  # the tail of a line the run was killed writing
        with path.open("r+b") as f:
            f.truncate(end)
    rows = []
    for line in data[:end].splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash of the file system: scored again
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            rows.append(row)
    return rows


def _append(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def latest_rows(rows: Iterable[dict[str, Any]], keys: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Each id's last row (a run appends; a rescored sample's newer row wins), only those whose
    ``key`` is the sample's in ``keys`` when given."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if keys is None or keys.get(row.get("id", "")) == row.get("key"):
            out[row["id"]] = row
    return out


def page_name(sample_id: str) -> str:
    """A sample's page file: its id made safe as a file name, with a hash against collisions."""
    digest = hashlib.sha256(sample_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', sample_id)[:80]}-{digest}.html"


def versions() -> dict[str, str]:
    """The versions that decide a run's figures: this Python's and the packages'."""
    out = {"python": platform.python_version()}
    for name in _VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


# -- scoring -----------------------------------------------------------------------------------
def _variables(truth: Frames, guess: Frames) -> dict[str, list[int]]:
    """Per variable name: [frames where the predicted value is the real one, frames that have it]
    (call and line frames 2..n, values in the CWM form, as the state metric compares them)."""
    out: dict[str, list[int]] = {}
    for i in range(1, len(truth.events)):
        event = truth.events[i]
        if event is None or event.kind not in ("call", "line"):
            continue
        mine = guess.shown[i] if i < len(guess.shown) else None
        for name, value in (truth.shown[i] or {}).items():
            counts = out.setdefault(name, [0, 0])
            counts[0] += int(mine is not None and mine.get(name) == value)
            counts[1] += 1
    return out


def _lengths(real: Trace) -> dict[str, float]:
    """The mean characters of a real frame's locals (as CWM writes them) and of its action."""
    pairs = list(shown_locals(real.events))
    if not pairs:
        return {"state_chars": 0.0, "action_chars": 0.0}
    state = [len(json.dumps(shown)) for e, shown in pairs if e.kind in ("call", "line")]
    return {
        "state_chars": round(sum(state) / len(state), 2) if state else 0.0,
        "action_chars": round(sum(len(e.source_line) for e, _ in pairs) / len(pairs), 2),
    }


def _row(
    sample: Sample, comparison: Comparison, predicted: dict[str, Any], variables: dict[str, list[int]], page: str | None
) -> dict[str, Any]:
    real = comparison.real
    return {
        "id": sample.id,
        "key": sample.key,
        "suite": sample.suite,
        "status": "scored",
        "frames": len(real.events),
        "metrics": comparison.metrics,
        "first_divergence": comparison.first_divergence,
        "output_right": comparison.output_right,
        "real_return": comparison.real_return,
        "predicted_return": comparison.predicted_return,
        "variables": variables,
        "lengths": _lengths(real),
        "page": page,
        "program": {"source": sample.source, "entry": sample.entry},
        "real": real.to_dict(),
        "predicted": predicted,
    }


def _output_comparison(real: Trace, value: str | None, predictor: str) -> Comparison:
    """Output mode: only the predicted return value is scored (CRUXEval-O)."""
    real_value = entry_return(real.events)
    right = real_value is not None and same_value(value, real_value)
    return Comparison(predictor, "output", real, [], None, real_value, value, {"output": float(right)})


def skip_reason(real: Trace, mode: str) -> str | None:
    """Why a sample cannot be scored from its real run, or None when it can."""
    if not real.events or real.events[0].kind != "call":
        return f"no call frame: the run ended ({real.outcome.status}) before the entry's first event"
    if mode == "output" and entry_return(real.events) is None:
        return f"output mode: the entry returned no value ({real.outcome.status})"
    return None


def score_chunk(
    samples: Sequence[Sample], reals: Sequence[Trace], predictor: Predictor, config: BenchConfig, pages: Path | None
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Predict and score one chunk of samples whose real traces are ``reals``."""
    from .report_html import write_page

    skipped: Counter[str] = Counter()
    kept = []
    rows: list[dict[str, Any]] = []
    for sample, real in zip(samples, reals, strict=True):
        if real.outcome.status == "sandbox_error":  # the sandbox's failing, not the program's: not kept
            skipped["sandbox error (rerun to retry)"] += 1
        elif (reason := skip_reason(real, config.mode) or predictor.unfit(Task.of(real))) is not None:
            rows.append(_skipped_row(sample, real, reason))
        else:
            kept.append((sample, real))
    while True:
        try:
            comparisons = _predict(kept, predictor, config)
            break
        except Unfit as exc:  # found only by asking (a served model's context): skip those, ask again for the rest
            for index in sorted(exc.refused, reverse=True):  # (a served predictor's answers so far are cached)
                sample, real = kept.pop(index)
                rows.append({**_skipped_row(sample, real, exc.reason), "detail": exc.refused[index]})
    for (sample, _), (comparison, predicted, variables) in zip(kept, comparisons, strict=True):
        page = None
        if pages is not None and config.mode != "output":
            name = page_name(sample.id)
            write_page(comparison, pages / name, title=f"{sample.id}: {predictor.name}")
            page = f"{PAGES_DIR}/{name}"
        rows.append(_row(sample, comparison, predicted, variables, page))
    return rows, skipped


def _skipped_row(sample: Sample, real: Trace, reason: str) -> dict[str, Any]:
    return {"id": sample.id, "key": sample.key, "suite": sample.suite, "status": "skipped", "reason": reason,
            "real": real.to_dict()}  # fmt: skip


def _predict(
    kept: Sequence[tuple[Sample, Trace]], predictor: Predictor, config: BenchConfig
) -> list[tuple[Comparison, dict[str, Any], dict[str, list[int]]]]:
    """The predictor's guesses for ``kept``, each compared with its real run (in ``config.mode``)."""
    if not kept:
        return []
    tasks = [Task.of(real) for _, real in kept]
    oracle = predictor.name == "oracle"
    comparisons: list[tuple[Comparison, dict[str, Any], dict[str, list[int]]]] = []
    if config.mode == "full":
        if oracle:
            predictions = [trace_prediction(t, real) for t, (_, real) in zip(tasks, kept, strict=True)]
        else:
            predictions = predictor.free(tasks, max_frames=config.max_frames)
        for (_, real), p in zip(kept, predictions, strict=True):
            predicted = {
                "text": p.text,
                "events": [asdict(e) for e in p.events],
                "errors": p.error_lines(),
                "stopped": p.stopped,
            }
            frames = Frames.real(real.events), Frames.predicted(p.parsed)
            comparisons.append((compare_free(real, p, predictor.name, frames), predicted, _variables(*frames)))
    elif config.mode == "single-step":
        traces = [real for _, real in kept]
        results = [trace_steps(t, t) for t in traces] if oracle else predictor.single_step(traces)
        for real, result in zip(traces, results, strict=True):
            predicted = {"steps": [asdict(s) for s in result.steps]}
            comparisons.append((compare_single_step(real, result, predictor.name), predicted, {}))
    else:
        if oracle:
            texts = [trace_output(real) for _, real in kept]
        else:
            texts = predictor.output(tasks)
        for (_, real), text in zip(kept, texts, strict=True):
            value = output_value(text)
            comparisons.append((_output_comparison(real, value, predictor.name), {"text": text, "value": value}, {}))
    return comparisons


# -- the run -----------------------------------------------------------------------------------
def _chunk_size(config: BenchConfig) -> int:
    return max(config.batch_size, 4 * config.workers, 32)


def run(
    config: BenchConfig,
    out: str | os.PathLike[str],
    *,
    predictor: Predictor | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Run:
    """Score ``config``'s samples into ``out`` (going on where an earlier call stopped), then report."""
    say = log or (lambda line: print(line, file=sys.stderr))
    folder = Path(out)
    suites = list(open_suites(list(config.suites), limit=config.limit))  # a bad suite: before any folder is made
    skipped: Counter[str] = Counter()
    samples: list[Sample] = []
    seen: set[str] = set()
    for suite in suites:
        skipped.update(suite.skipped)
        for sample in suite.samples:
            if sample.id in seen:
                skipped[f"a duplicate id (in {suite.spec})"] += 1
                continue
            seen.add(sample.id)
            samples.append(sample)
    keys = {s.id: s.key for s in samples}
    rows_path = folder / SAMPLES_FILE
    done = latest_rows(read_rows(rows_path), keys) if check_folder(folder, config) else {}
    pending = [s for s in samples if s.id not in done]
    if pending and predictor is None:  # before the folder is made: a predictor that fails leaves none
        predictor = from_spec(
            config.predictor,
            sandbox=config.sandbox,
            limits=_limits(config),
            temperature=config.temperature,
            top_p=config.top_p,
            seed=config.seed,
            max_new_tokens=config.max_new_tokens,
            max_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
            constrain=config.constrain,
        )
    open_folder(folder, config)
    try:
        with folder_lock(folder):
            done = latest_rows(read_rows(rows_path, repair=True), keys)  # as it is now that it is ours
            pending = [s for s in samples if s.id not in done]
            resumed = len(samples) - len(pending)
            if resumed:
                say(f"cwm bench: {resumed} samples already scored in {folder}; going on with {len(pending)}")
            pages = folder / PAGES_DIR if config.pages else None
            if pages is not None:
                pages.mkdir(exist_ok=True)
            scored_now = 0
            if pending:
                assert predictor is not None
                scored_now = _score_all(pending, predictor, config, rows_path, pages, skipped, progress)
            return _finish(folder, config, samples, keys, skipped, scored_now, resumed)
    except OSError as exc:
        raise BenchError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def _finish(
    folder: Path,
    config: BenchConfig,
    samples: list[Sample],
    keys: dict[str, str],
    skipped: Counter[str],
    scored_now: int,
    resumed: int,
) -> Run:
    """The figures and the report of every sample scored in ``folder`` for ``samples``."""
    rows = latest_rows(read_rows(folder / SAMPLES_FILE), keys)
    ordered = [rows[s.id] for s in samples if s.id in rows]
    scored = [r for r in ordered if r.get("status") == "scored"]
    for row in ordered:
        if row.get("status") != "scored":
            skipped[row.get("reason", "not scored")] += 1
    if not scored:
        reasons = "; ".join(f"{reason}: {n}" for reason, n in skipped.most_common(3)) or "no samples"
        raise BenchError(f"no sample could be scored ({reasons})")
    pythons = sorted({r["real"]["program"].get("python") or "?" for r in scored})
    results = summarize(
        scored,
        suites=config.suites,
        predictor=config.predictor,
        mode=config.mode,
        config=config.identity() | {"limit": config.limit},
        versions=versions() | {"traces_python": ", ".join(pythons)},
        skipped=skipped,
    )
    results["ids"] = [r["id"] for r in scored]
    _write_atomic(folder / RESULTS_FILE, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    from .report import write_report

    index_rows = [
        {k: r.get(k) for k in ("id", "suite", "frames", "metrics", "first_divergence", "output_right", "page")}
        for r in scored
    ]
    report = write_report(results, index_rows, folder)
    return Run(results, scored_now, resumed, report)


def _limits(config: BenchConfig) -> Limits:
    return Limits(wall_seconds=config.timeout, cpu_seconds=config.timeout)


def _score_all(
    pending: list[Sample],
    predictor: Predictor,
    config: BenchConfig,
    rows_path: Path,
    pages: Path | None,
    skipped: Counter[str],
    progress: bool,
) -> int:
    from sandbox import Sandbox, SandboxUnavailable
    from sandbox.progress import Progress

    limits = _limits(config)
    needs_run = any(s.real is None for s in pending)
    bar = Progress(f"scoring ({predictor.name}, {config.mode})", total=len(pending)) if progress else None
    scored = 0
    box = None
    try:
        if needs_run:
            try:
                box = Sandbox(config.sandbox, workers=config.workers, limits=limits)
            except SandboxUnavailable as exc:
                raise BenchError(f"no sandbox to run the programs in: {exc} (see `cwm sandbox check`)") from None
        size = _chunk_size(config)
        for start in range(0, len(pending), size):
            chunk = pending[start : start + size]
            reals = _real_traces(box, chunk, limits)  # a chunk at once: the sandbox runs them in parallel
            # then one predictor batch at a time, each saved as it is scored: an interrupt loses one batch
            for first in range(0, len(chunk), config.batch_size):
                batch = chunk[first : first + config.batch_size]
                rows, missed = score_chunk(batch, reals[first : first + config.batch_size], predictor, config, pages)
                _append(rows_path, rows)
                skipped.update(missed)
                scored += sum(1 for row in rows if row["status"] == "scored")
                if bar is not None:
                    bar.advance(len(batch), counts=f"scored {scored}")
        return scored
    finally:
        if bar is not None:
            bar.close()
        if box is not None:
            box.close()


def _real_traces(box: Any, chunk: Sequence[Sample], limits: Limits) -> list[Trace]:
    """The real trace of each sample: stored, or run now in the sandbox (in parallel)."""
    jobs = [Job(s.source, s.entry, id=s.id, limits=limits) for s in chunk if s.real is None]
    ran = dict(box.map(jobs)) if jobs else {}
    return [s.real if s.real is not None else ran[s.id] for s in chunk]


__all__ = [
    "CONFIG_FILE",
    "MODES",
    "RESULTS_FILE",
    "SAMPLES_FILE",
    "BenchConfig",
    "BenchError",
    "Run",
    "check_folder",
    "latest_rows",
    "open_folder",
    "page_name",
    "read_rows",
    "run",
    "score_chunk",
    "versions",
]
