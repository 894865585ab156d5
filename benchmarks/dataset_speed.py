"""How fast is `cwm dataset build`? A benchmark command, not a timed test.

    python -m benchmarks.dataset_speed [--data cruxeval.jsonl] [--workers 3] [--backend auto]
                                       [--repeat 2] [--json figures.json] [--check]

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
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.tracer_speed import Output, Target, find_data
from sandbox import Job, Sandbox
from training.data import open_source
from training.data.build import BuildSettings, build

MAX_OVERHEAD = 0.20


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataset_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="CRUXEval JSONL (default: ../shared/data/cruxeval.jsonl or $CWM_CRUXEVAL)")
    parser.add_argument("--workers", type=int, default=3, help="sandboxes at once (default: 3)")
    parser.add_argument("--backend", default="auto", help="sandbox backend (default: auto)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest counts (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--plain", action="store_true", help="plain-text tables")
    args = parser.parse_args(argv)
    data = find_data(args.data)
    if data is None:
        print("dataset_speed: no CRUXEval file (pass --data PATH or set CWM_CRUXEVAL)", file=sys.stderr)
        return 2
    specs = (f"cruxeval={data}", "humaneval")
    sources = [open_source(spec) for spec in specs]
    programs = [p for source in sources for p in source.programs() if not hasattr(p, "reason")]
    settings = BuildSettings(sources=specs)
    limits = settings.limits()
    jobs = [Job(p.source, p.entry, id=f"p{n}", limits=limits) for n, p in enumerate(programs)]

    raw_times, build_times = [], []
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        with Sandbox(args.backend, workers=args.workers, limits=limits) as box:
            statuses: dict[str, int] = {}
            for _, trace in box.map(jobs):
                statuses[trace.outcome.status] = statuses.get(trace.outcome.status, 0) + 1
            backend = box.backend.name
        raw_times.append(time.perf_counter() - started)
        out = Path(tempfile.mkdtemp(prefix="cwm-dataset-speed-")) / "traces"
        try:
            started = time.perf_counter()
            report = build(
                out, [open_source(spec) for spec in specs], settings, backend=args.backend, workers=args.workers
            )
            build_times.append(time.perf_counter() - started)
        finally:
            shutil.rmtree(out.parent, ignore_errors=True)
    raw, built = min(raw_times), min(build_times)
    overhead = (built - raw) / raw
    figures = {
        "programs": len(jobs),
        "backend": backend,
        "workers": args.workers,
        "raw_seconds": raw,
        "build_seconds": built,
        "raw_programs_per_second": len(jobs) / raw,
        "build_programs_per_second": report.traced / built,
        "overhead": overhead,
        "statuses": statuses,
    }
    output = Output(plain=args.plain)
    output.table(
        f"CRUXEval + HumanEval: {len(jobs)} programs, {args.workers} {backend} sandboxes, fastest of {args.repeat}",
        ["run", "seconds", "programs/s"],
        [
            ["raw: Sandbox.map", f"{raw:.2f}", f"{len(jobs) / raw:.0f}"],
            ["build: cwm dataset build", f"{built:.2f}", f"{report.traced / built:.0f}"],
        ],
    )
    target = Target(
        "time outside the sandbox's tracing, (build - raw) / raw",
        overhead,
        f"< {MAX_OVERHEAD:.0%}",
        overhead < MAX_OVERHEAD,
    )
    output.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [[target.name, f"{overhead:.1%}", target.bound, target.verdict]],
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 1 if args.check and not target.ok else 0


if __name__ == "__main__":
    sys.exit(main())
