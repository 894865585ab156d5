"""How much does `cwm bench` itself cost? A benchmark command, not a timed test.

    python -m benchmarks.speed.bench [--data cruxeval.jsonl] [--workers 3] [--backend auto]
                                     [--limit N] [--json figures.json] [--check]

Scores every CRUXEval sample (800) with the ``oracle`` and the ``copy``
predictors, each a whole :func:`benchmarks.runner.run` into a new folder:
the real runs in the sandbox, the predictions, the figures per sample, the
synced ``samples.jsonl``, every sample's side-by-side page and the report.
Beside them, in the same run, the sandbox alone (``Sandbox.map`` over the
same jobs, twice, as the two runs each start a sandbox) is the baseline: the
harness's own cost is ``(oracle + copy) / raw``.

The issue's target: both runs together in under 60 seconds on the project's
2-core machine. The exit status is 0 unless ``--check`` is given and the
target fails (1), or the CRUXEval file cannot be found or read (2).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.runner import BenchConfig, run
from benchmarks.speed.common import (
    Output,
    Target,
    add_data_option,
    add_limit_option,
    add_report_options,
    at_least,
    cannot_run,
    data_or_exit,
    exit_status,
    write_json,
)
from benchmarks.suites import SuiteError, open_suite
from sandbox import BACKENDS, Job, Limits, Sandbox, SandboxUnavailable

MAX_SECONDS = 60.0
PREDICTORS = ("oracle", "copy")


def time_raw(suite: str, limit: int | None, backend: str, workers: int) -> tuple[float, int]:
    """The sandbox alone over the suite's jobs, started inside the timer: seconds, jobs."""
    samples = open_suite(suite, limit=limit).samples
    limits = Limits()
    jobs = [Job(s.source, s.entry, id=f"p{n}", limits=limits) for n, s in enumerate(samples)]
    started = time.perf_counter()
    with Sandbox(backend, workers=workers, limits=limits) as box:
        for _ in box.map(jobs):
            pass
    return time.perf_counter() - started, len(jobs)


def time_bench(
    suite: str, predictor: str, limit: int | None, backend: str, workers: int
) -> tuple[float, dict[str, Any]]:
    """One whole ``cwm bench`` run into a new folder (removed after): seconds, its figures."""
    out = Path(tempfile.mkdtemp(prefix="cwm-bench-speed-")) / "run"
    config = BenchConfig(suites=(suite,), predictor=predictor, limit=limit, workers=workers, sandbox=backend)
    try:
        started = time.perf_counter()
        done = run(config, out, progress=False, log=lambda line: None)
        return time.perf_counter() - started, done.results
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def measure(suite: str, limit: int | None, backend: str, workers: int) -> dict[str, Any]:
    raw = [time_raw(suite, limit, backend, workers) for _ in PREDICTORS]
    runs = {name: time_bench(suite, name, limit, backend, workers) for name in PREDICTORS}
    raw_seconds = sum(seconds for seconds, _ in raw)
    bench_seconds = sum(seconds for seconds, _ in runs.values())
    return {
        "samples": raw[0][1],
        "workers": workers,
        "backend": backend,
        "raw_seconds": raw_seconds,
        "bench_seconds": bench_seconds,
        "seconds": {name: seconds for name, (seconds, _) in runs.items()},
        "scored": {name: results["samples"] for name, (_, results) in runs.items()},
        "state": {name: results["metrics"]["state"]["value"] for name, (_, results) in runs.items()},
        "ratio": bench_seconds / raw_seconds if raw_seconds > 0 else None,
    }


def report(out: Output, figures: dict[str, Any], target: Target) -> None:
    n = figures["samples"]
    rows = [["raw: Sandbox.map, twice", f"{figures['raw_seconds']:.2f}", f"{2 * n / figures['raw_seconds']:.0f}", "-"]]
    for name in PREDICTORS:
        seconds = figures["seconds"][name]
        rows.append(
            [f"cwm bench --predictor {name}", f"{seconds:.2f}", f"{n / seconds:.0f}", f"{figures['state'][name]:.1f}%"]
        )
    out.table(
        f"CRUXEval: {n} samples, {figures['workers']} sandboxes ({figures['backend']}), real runs included",
        ["run", "seconds", "samples/s", "state exact match"],
        rows,
    )
    ratio = figures["ratio"]
    out.text(f"harness / sandbox alone: {ratio:.2f}x" if ratio is not None else "harness / sandbox alone: -")
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [[target.name, f"{figures['bench_seconds']:.1f} s", target.bound, target.verdict]],
    )


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.bench", description=__doc__.split("\n\n")[0])
    add_data_option(parser)
    parser.add_argument("--workers", type=int, default=3, help="sandboxes at once (default: 3)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="sandbox backend (default: auto)")
    add_limit_option(parser, "CRUXEval samples")
    add_report_options(parser, quiet=False)
    args = parser.parse_args(argv)
    at_least(parser, 1, "--limit must be at least 1", args.limit)
    at_least(parser, 1, "--workers must be at least 1", args.workers)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse_args(argv)
    suite = f"cruxeval={data_or_exit(parser, args.data)}"
    try:
        figures = measure(suite, args.limit, args.backend, args.workers)
    except SuiteError as exc:
        cannot_run(parser, f"cannot read the programs: {exc}")
    except SandboxUnavailable as exc:
        cannot_run(parser, f"the {args.backend} sandbox cannot run here: {exc}")
    out = Output(plain=args.plain)
    seconds = figures["bench_seconds"]
    target = Target(
        "oracle + copy on every sample, real runs included", seconds, f"< {MAX_SECONDS:g} s", seconds < MAX_SECONDS
    )
    report(out, figures, target)
    if args.json:
        write_json(args.json, figures, out, indent=2)
    return exit_status([target], args.check)


if __name__ == "__main__":
    sys.exit(main())
