"""How fast is `cwm dataset build`? A benchmark command, not a timed test.

    python -m benchmarks.speed.dataset [--data cruxeval.jsonl] [--workers 3] [--backend auto]
                                       [--repeat 2] [--limit N] [--json figures.json] [--check]

Traces every CRUXEval and HumanEval program twice in the same run, with the
same number of sandboxes:

``raw``
    the sandbox alone: a fresh :class:`sandbox.Sandbox` (started inside the
    timer, as a build starts one) runs ``map()`` over the programs' jobs;
``build``
    the whole pipeline: :func:`training.data.build.build` from the sources
    to a finished dataset (reading the sources, splits, de-duplication,
    Parquet parts, the split files and the card) in a new directory.

It reports programs per second and the share of the build's time spent
outside the sandbox's own tracing, ``(build - raw) / raw``; the issue's
target is under 20%. The fastest of ``--repeat`` rounds counts for each.
The exit status is 0 unless ``--check`` is given and the target fails (1), or
the CRUXEval file cannot be found or read (2).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from sandbox import BACKENDS, Job, Sandbox, SandboxUnavailable
from training.data import BuildSettings, ProgramSource, Skip, SourceError, SourceProgram, build, open_source

MAX_OVERHEAD = 0.20


class Limited:
    """The first ``limit`` programs (or skips) of a source; all of them when ``limit`` is None."""

    def __init__(self, source: ProgramSource, limit: int | None) -> None:
        self.source = source
        self.limit = limit
        self.name = source.name

    def programs(self) -> Iterator[SourceProgram | Skip]:
        return itertools.islice(self.source.programs(), self.limit)


@dataclass
class Round:
    """One round's two times and what the sandbox alone saw."""

    raw_seconds: float
    build_seconds: float
    traced: int  # traces the build wrote
    statuses: Counter[str]
    backend: str


def open_sources(specs: Sequence[str], limit: int | None) -> list[ProgramSource]:
    return [Limited(open_source(spec), limit) for spec in specs]


def time_raw(
    jobs: Sequence[Job], backend: str, workers: int, settings: BuildSettings
) -> tuple[float, Counter[str], str]:
    """A fresh sandbox started inside the timer runs ``map()`` over the jobs: seconds, outcomes, backend."""
    started = time.perf_counter()
    with Sandbox(backend, workers=workers, limits=settings.limits()) as box:
        statuses: Counter[str] = Counter(trace.outcome.status for _, trace in box.map(jobs))
        name = box.backend.name
    return time.perf_counter() - started, statuses, name


def time_build(
    specs: Sequence[str], limit: int | None, settings: BuildSettings, backend: str, workers: int
) -> tuple[float, int]:
    """The whole build from the sources into a new directory (removed after): seconds, traces written."""
    out = Path(tempfile.mkdtemp(prefix="cwm-dataset-speed-")) / "traces"
    try:
        started = time.perf_counter()
        report = build.build(out, open_sources(specs, limit), settings, backend=backend, workers=workers)
        return time.perf_counter() - started, report.traced
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def measure(specs: Sequence[str], limit: int | None, backend: str, workers: int, repeat: int) -> dict[str, Any]:
    """``repeat`` rounds of raw and build on the programs of ``specs``; the figures of the fastest of each."""
    settings = BuildSettings(sources=tuple(specs))
    programs = [p for source in open_sources(specs, limit) for p in source.programs() if isinstance(p, SourceProgram)]
    jobs = [Job(p.source, p.entry, id=f"p{n}", limits=settings.limits()) for n, p in enumerate(programs)]
    rounds = []
    for _ in range(max(1, repeat)):
        raw_seconds, statuses, name = time_raw(jobs, backend, workers, settings)
        build_seconds, traced = time_build(specs, limit, settings, backend, workers)
        rounds.append(Round(raw_seconds, build_seconds, traced, statuses, name))
    raw, built = min(r.raw_seconds for r in rounds), min(r.build_seconds for r in rounds)
    last = rounds[-1]
    return {
        "programs": len(jobs),
        "backend": last.backend,
        "workers": workers,
        "raw_seconds": raw,
        "build_seconds": built,
        "raw_programs_per_second": len(jobs) / raw,
        "build_programs_per_second": last.traced / built,
        "overhead": (built - raw) / raw,
        "statuses": dict(last.statuses),
    }


def overhead_target(figures: dict[str, Any]) -> Target:
    overhead = figures["overhead"]
    return Target(
        "time outside the sandbox's tracing, (build - raw) / raw",
        overhead,
        f"< {MAX_OVERHEAD:.0%}",
        overhead < MAX_OVERHEAD,
    )


def report(out: Output, figures: dict[str, Any], target: Target, repeat: int) -> None:
    raw, built = figures["raw_seconds"], figures["build_seconds"]
    out.table(
        f"CRUXEval + HumanEval: {figures['programs']} programs, {figures['workers']} {figures['backend']} sandboxes, "
        f"fastest of {repeat}",
        ["run", "seconds", "programs/s"],
        [
            ["raw: Sandbox.map", f"{raw:.2f}", f"{figures['raw_programs_per_second']:.0f}"],
            ["build: cwm dataset build", f"{built:.2f}", f"{figures['build_programs_per_second']:.0f}"],
        ],
    )
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [[target.name, f"{figures['overhead']:.1%}", target.bound, target.verdict]],
    )


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.dataset", description=__doc__.split("\n\n")[0])
    add_data_option(parser)
    parser.add_argument("--workers", type=int, default=3, help="sandboxes at once (default: 3)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="sandbox backend (default: auto)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest counts (default: 2)")
    add_limit_option(parser, "programs of each source (CRUXEval, HumanEval)")
    add_report_options(parser, quiet=False)
    args = parser.parse_args(argv)
    at_least(parser, 1, "--limit must be at least 1", args.limit)
    at_least(parser, 1, "--workers must be at least 1", args.workers)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse_args(argv)
    data = data_or_exit(parser, args.data)
    specs = (f"cruxeval={data}", "humaneval")
    try:
        figures = measure(specs, args.limit, args.backend, args.workers, args.repeat)
    except SourceError as exc:
        cannot_run(parser, f"cannot read the programs: {exc}")
    except SandboxUnavailable as exc:
        cannot_run(parser, f"the {args.backend} sandbox cannot run here: {exc}")
    out = Output(plain=args.plain)
    target = overhead_target(figures)
    report(out, figures, target, args.repeat)
    if args.json:
        write_json(args.json, figures, out, indent=2)
    return exit_status([target], args.check)


if __name__ == "__main__":
    sys.exit(main())
