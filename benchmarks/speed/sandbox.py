"""How fast is cwm's sandbox? A benchmark command, not a timed test.

    python -m benchmarks.speed.sandbox [--backend docker|process] [--workers N[,N...]] [--limit N]
                                       [--baseline-jobs N] [--data cruxeval.jsonl] [--json PATH] [--check]

It traces every CRUXEval sample (the program ``code`` and the entry
``f(<input>)``) through a :class:`sandbox.Sandbox` pool of warm fork servers,
and, in the same run, a subset of them the way epicbox and most harnesses do
it: one fresh ``docker run`` per job. It prints the figures and the targets of
the sandbox's issue:

- at least 300 CRUXEval jobs per second through the pool (on a 2-core machine);
- at least 100x the jobs per second of one container per job.

What is measured
----------------

pool, CRUXEval
    ``Sandbox(backend, workers=N)``; its N fork servers are started and run one
    job each before the clock starts (from the main thread; see ``warm``). Then
    ``box.map(jobs)`` over all the samples is timed from the call to the last
    result: jobs/s is samples / that wall time.
job latency
    per job, from ``Sandbox.run`` being called in one of ``map``'s threads
    (a fork server is free and takes the job) to its ``Trace`` returned:
    encoding the request, the round trip through the attach socket (docker) or
    pipes (process), the fork server's fork, tracing, reply and clean-up, and
    decoding the reply into a ``Trace``. The time a job waits in ``map``'s queue
    is left out (every job is queued at once, so submit-to-result would only
    say where in the queue it was). ``in sandbox`` is the trace's own
    ``outcome.seconds``: the traced run of the program alone.
pool, bare fork server
    the same warm pool with a trivial job (``def f(): return 1``, entry
    ``f()``), as many jobs as samples: the ceiling of the pool on this machine
    (fork, reply, clean-up, no real tracing work).
memory per container
    after the CRUXEval run, each pool container's memory as the Docker stats
    API reports it (``usage`` minus the page cache; the peak too where the
    cgroup keeps one); for ``--backend process``, the proportional set size
    (PSS, else RSS) summed over each bubblewrap sandbox's processes.
baseline: one container per job
    per job, a container with the pool's own options (``DockerBackend.
    container_options()``: no network, read-only root, the /tmp tmpfs,
    memory, swap, CPU and pids caps, user nobody, no capabilities,
    no-new-privileges, the tracer mounted read-only) runs
    ``python3 -c <program>``, where the program calls ``tracer.record`` on
    the sample with the job's limits and prints the trace as JSON; the host
    reads it and builds the ``Trace``. It is docker-py's ``containers.run(...,
    remove=True)`` spelled out (create, start, wait, logs, remove): ``run``
    itself follows the logs while the container may already be gone and, for
    containers this short-lived, often returns no output at all. The samples
    are ``--baseline-jobs`` spread evenly over the data set; they run once
    sequentially and once in N parallel threads for each pool size N, after
    one untimed container. The sequential run is the baseline judged (one
    ``docker run`` per job, one after another, as such harnesses do); the
    parallel runs are shown beside it. Latency is per container, create to
    remove.
host cost per job
    the host's share of a job, re-measured on the CRUXEval traces after the
    run: encoding the request, parsing the reply line, ``Trace.from_dict``.
    The host runs these under one GIL, so 1 / that cost caps the pool's
    jobs/s whatever the number of workers.

The exit status is 0 unless ``--check`` is given and a target fails (1), or
the samples cannot be read or no sandbox can run (2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.speed.common import (
    CANNOT_RUN,
    Output,
    Sample,
    Target,
    add_data_option,
    add_limit_option,
    add_report_options,
    at_least,
    exit_status,
    fmt,
    outcomes,
    percentiles,
    samples_or_exit,
    stderr_log,
    write_json,
)
from sandbox import BACKENDS, Job, Limits, Sandbox, SandboxUnavailable
from tracer import DEFAULT_CAP, Trace

# the targets
MIN_JOBS_PER_SECOND = 300.0
MIN_POOL_OVER_BASELINE = 100.0
DEFAULT_BASELINE_JOBS = 40
TRIVIAL_SOURCE = "def f():\n    return 1\n"
TRIVIAL_ENTRY = "f()"

# what each baseline container runs: the tracer on one sample, the trace as JSON on stdout
BASELINE_PROGRAM = """\
import json, sys
from tracer import record
trace = record({source!r}, {entry!r}, id={id!r}, max_events={max_events!r}, cap={cap!r}, max_output={max_output!r})
sys.stdout.write(json.dumps(trace.to_dict(), ensure_ascii=False))
"""
# container_options() keys that belong to a long-lived attached fork server, not a one-shot run
NOT_FOR_ONE_SHOT = ("command", "stdin_open", "tty", "labels", "auto_remove", "detach", "init")


@dataclass
class Timed:
    """One timed batch of jobs: wall time, per-job latencies and outcomes."""

    label: str
    workers: int
    jobs: int
    seconds: float
    latencies: list[float]  # seconds per job, see the module docstring
    statuses: Counter[str]
    in_sandbox: list[float] = field(default_factory=list)  # outcome.seconds per job

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "workers": self.workers,
            "jobs": self.jobs,
            "seconds": self.seconds,
            "jobs_per_s": self.jobs_per_s,
            "latency_ms": percentiles(self.latencies),
            "in_sandbox_ms": percentiles(self.in_sandbox) if self.in_sandbox else None,
            "outcomes": dict(self.statuses),
        }


@dataclass
class PoolRun:
    workers: int
    crux: Timed
    bare: Timed
    memory_mib: list[float]  # per container (sandbox), after the CRUXEval run
    peak_mib: list[float]
    memory_what: str
    described: dict[str, str]
    host_us: dict[str, float] | None = None


class TimedSandbox(Sandbox):
    """A ``Sandbox`` that notes how long each ``run`` takes (``map`` calls it in its threads)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latencies: list[float] = []

    def run(self, job: Job) -> Trace:
        start = time.perf_counter()
        trace = super().run(job)
        self.latencies.append(time.perf_counter() - start)  # list.append is atomic
        return trace


# -- the pool ------------------------------------------------------------------------


def warm(box: Sandbox, workers: int, job_for: Callable[[int], Job]) -> None:
    """Start ``workers`` fork servers from this (the main) thread and run one job on each.

    Started here rather than by a first ``map``: a bubblewrap sandbox is started
    with ``--die-with-parent``, and the kernel's parent-death signal follows the
    *thread* that spawned it, so a worker started by one of ``map``'s threads
    is killed when that thread ends, and the next ``map`` finds it dead.
    """
    taken = []
    try:
        for index in range(workers):
            worker = box._take()
            taken.append(worker)
            try:
                trace = worker.run(job_for(index))
            except Exception as exc:  # noqa: BLE001 - WorkerDied and whatever else: the pool cannot run
                raise SandboxUnavailable(f"the warm-up job failed: {type(exc).__name__}: {exc}") from None
            if trace.outcome.status != "returned":
                raise SandboxUnavailable(f"the warm-up job did not return: {trace.outcome}")
    finally:
        for worker in taken:
            box._give(worker)


def time_map(box: TimedSandbox, label: str, jobs: list[Job]) -> Timed:
    box.latencies = []
    start = time.perf_counter()
    results = dict(box.map(jobs))
    seconds = time.perf_counter() - start
    traces = list(results.values())
    return Timed(
        label,
        box.workers,
        len(jobs),
        seconds,
        list(box.latencies),
        Counter(t.outcome.status for t in traces),
        [t.outcome.seconds for t in traces if t.outcome.seconds is not None],
    )


def run_pool(backend: str, workers: int, samples: Sequence[Sample], log: Callable[[str], None]) -> PoolRun:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 'none' backend's warning, should anyone add it
        box = TimedSandbox(backend, workers=workers)
    with box:
        crux_jobs = [box.job(s.code, s.entry, id=s.id) for s in samples]
        bare_jobs = [box.job(TRIVIAL_SOURCE, TRIVIAL_ENTRY, id=f"bare-{i}") for i in range(len(samples))]
        log(f"{backend} pool, {workers} workers: starting")
        warm(box, workers, lambda i: box.job(samples[i % len(samples)].code, samples[i % len(samples)].entry))
        log(f"{backend} pool, {workers} workers: {len(crux_jobs)} CRUXEval jobs")
        crux = time_map(box, "CRUXEval", crux_jobs)
        memory, peaks, what = pool_memory(box)
        log(f"{backend} pool, {workers} workers: {len(bare_jobs)} bare jobs")
        bare = time_map(box, "bare fork server", bare_jobs)
        host = host_cost(crux_jobs, box)
        described = box.describe()
    return PoolRun(workers, crux, bare, memory, peaks, what, described, host)


def host_cost(jobs: Sequence[Job], box: Sandbox) -> dict[str, float]:
    """The host's CPU per job (µs): request encoding, reply parsing, ``Trace.from_dict``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traces = [box.run(job) for job in jobs[: min(len(jobs), 200)]]  # already warm: a quick re-run
    lines = [
        json.dumps({"id": job.id, "trace": trace.to_dict()}, ensure_ascii=False).encode("utf-8") + b"\n"
        for job, trace in zip(jobs, traces, strict=False)
    ]
    n = len(lines)
    start = time.perf_counter()
    for job in jobs[:n]:
        json.dumps(job.to_wire(), ensure_ascii=False).encode("utf-8")
    encode = time.perf_counter() - start
    start = time.perf_counter()
    replies = [json.loads(line) for line in lines]
    parse = time.perf_counter() - start
    start = time.perf_counter()
    for reply in replies:
        Trace.from_dict(reply["trace"])
    build = time.perf_counter() - start
    return {
        "jobs": n,
        "encode_request_us": encode / n * 1e6,
        "parse_reply_us": parse / n * 1e6,
        "trace_from_dict_us": build / n * 1e6,
        "total_us": (encode + parse + build) / n * 1e6,
        "reply_bytes_mean": statistics.fmean(len(line) for line in lines),
    }


def pool_memory(box: Sandbox) -> tuple[list[float], list[float], str]:
    """Memory per sandbox of the pool (MiB), its peaks where known, and what was read."""
    backend = box.backend
    if backend.name == "docker":
        return _docker_memory(backend)
    return _process_memory()


def _docker_memory(backend: Any) -> tuple[list[float], list[float], str]:
    from sandbox.docker_backend import POOL_LABEL

    containers = backend.client.containers.list(filters={"label": f"{POOL_LABEL}={backend.session}"})
    used, peaks = [], []
    for container in containers:
        try:
            stats = container.stats(stream=False, one_shot=True)
        except Exception:  # noqa: BLE001 - an API older than 1.41 has no one_shot
            stats = container.stats(stream=False)
        memory = stats.get("memory_stats") or {}
        if "usage" not in memory:
            continue
        detail = memory.get("stats") or {}
        cache = detail.get("total_cache", detail.get("cache", detail.get("file", 0)))  # cgroup v1, else v2
        used.append((memory["usage"] - cache) / 2**20)
        if memory.get("max_usage"):
            peaks.append(memory["max_usage"] / 2**20)
    return used, peaks, "docker stats: usage - page cache (peak: cgroup max_usage)"


def _process_memory() -> tuple[list[float], list[float], str]:
    """PSS (else RSS) summed over each child sandbox's processes, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    me = os.getpid()
    sizes, what = [], "PSS"
    for top in (pid for pid, parent in parents.items() if parent == me):
        tree, frontier = [top], [top]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        total = 0
        for pid in tree:
            kib = _proc_kib(pid, "smaps_rollup", "Pss:")
            if kib is None:
                kib, what = _proc_kib(pid, "status", "VmRSS:"), "RSS"
            total += kib or 0
        sizes.append(total / 1024)
    return sizes, [], f"/proc: {what} summed over each sandbox's processes"


def _proc_kib(pid: int, name: str, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


# -- the baseline: one container per job ----------------------------------------------


def baseline_options() -> tuple[Any, str, dict[str, Any]]:
    """docker-py client, image and the pool's container options, fit for one-shot containers."""
    from sandbox.docker_backend import DockerBackend

    backend = DockerBackend()
    options = backend.container_options()
    for key in NOT_FOR_ONE_SHOT:
        options.pop(key, None)
    return backend.client, backend.image, options


def baseline_job(client: Any, image: str, options: dict[str, Any], sample: Sample, limits: Limits) -> tuple[str, float]:
    """One sample in a container of its own: its outcome status and its latency (create to remove)."""
    program = BASELINE_PROGRAM.format(
        source=sample.code,
        entry=sample.entry,
        id=sample.id,
        max_events=limits.max_events,
        cap=DEFAULT_CAP,
        max_output=limits.max_output_bytes,
    )
    start = time.perf_counter()
    container = client.containers.create(image, ["python3", "-c", program], **options)
    try:
        container.start()
        code = container.wait()["StatusCode"]
        out = container.logs(stdout=True, stderr=False)
    finally:
        container.remove(force=True)
    try:
        status = Trace.from_dict(json.loads(out)).outcome.status if code == 0 else "crashed"
    except ValueError:
        status = "sandbox_error"
    return status, time.perf_counter() - start


def run_baseline(
    samples: Sequence[Sample], counts: Sequence[int], limits: Limits, log: Callable[[str], None]
) -> list[Timed]:
    client, image, options = baseline_options()
    baseline_job(client, image, options, samples[0], limits)  # untimed: caches warm
    runs = []
    for threads in [1, *counts]:
        label = "sequential" if threads == 1 else f"{threads} threads"
        log(f"baseline, one container per job: {len(samples)} jobs, {label}")
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(lambda s: baseline_job(client, image, options, s, limits), samples))
        seconds = time.perf_counter() - start
        runs.append(
            Timed(label, threads, len(samples), seconds, [lat for _, lat in done], Counter(st for st, _ in done))
        )
    return runs


def spread(samples: Sequence[Sample], n: int) -> list[Sample]:
    """``n`` samples spread evenly over the data set."""
    if n >= len(samples):
        return list(samples)
    return [samples[math.floor(i * len(samples) / n)] for i in range(n)]


# -- the command ---------------------------------------------------------------------


def _parse_workers(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a worker count or a comma-separated list of them: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts must be at least 1")
    return list(dict.fromkeys(counts))


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.sandbox",
        description="Jobs per second tracing every CRUXEval sample through the sandbox pool, against one "
        "`docker run` per job, in one run; job latency and memory per container.",
    )
    parser.add_argument(
        "--backend",
        choices=[b for b in BACKENDS if b not in ("auto", "none")],
        default="docker",
        help="the pool's backend",
    )
    parser.add_argument(
        "--workers",
        type=_parse_workers,
        default=[os.cpu_count() or 2],
        metavar="N[,N...]",
        help="fork servers in the pool (default: the core count, %(default)s); a list such as 2,3,4 runs the "
        "pool at each and judges the fastest",
    )
    add_limit_option(parser)
    parser.add_argument(
        "--baseline-jobs",
        type=int,
        default=DEFAULT_BASELINE_JOBS,
        metavar="N",
        help=f"samples run one container each (default {DEFAULT_BASELINE_JOBS}; 0 skips the baseline)",
    )
    add_data_option(parser)
    add_report_options(parser)
    args = parser.parse_args(argv)
    at_least(parser, 1, "--limit must be at least 1", args.limit)
    at_least(parser, 0, "--baseline-jobs must be 0 or more", args.baseline_jobs)
    return parser, args


def judged_baseline(runs: Sequence[Timed]) -> Timed | None:
    """The baseline run judged: one `docker run` after another, as a harness runs a container per job.

    The parallel runs are shown beside it.
    """
    sequential = [r for r in runs if r.label == "sequential"]
    return sequential[0] if sequential else max(runs, key=lambda r: r.jobs_per_s, default=None)


def print_pools(out: Output, backend: str, pools: Sequence[PoolRun], best: PoolRun) -> None:
    rows = []
    for pool in pools:
        for timed in (pool.crux, pool.bare):
            lat, ins = percentiles(timed.latencies) or {}, percentiles(timed.in_sandbox) or {}
            is_crux = timed is pool.crux
            rows.append(
                [
                    f"{timed.label}{' *' if pool is best and is_crux and len(pools) > 1 else ''}",
                    str(pool.workers),
                    str(timed.jobs),
                    fmt(timed.seconds, 2),
                    fmt(timed.jobs_per_s, 0),
                    fmt(lat.get("p50")),
                    fmt(lat.get("p99")),
                    fmt(ins.get("p50"), 3),
                    fmt(ins.get("p99"), 3),
                    fmt(statistics.fmean(pool.memory_mib), 1) if is_crux and pool.memory_mib else "",
                    fmt(max(pool.memory_mib), 1) if is_crux and pool.memory_mib else "",
                    fmt(max(pool.peak_mib), 1) if is_crux and pool.peak_mib else "",
                    outcomes(timed.statuses),
                ]
            )
    out.table(
        f"pool ({backend}): warm fork servers, Sandbox.map over the jobs; latency per job from a free "
        "worker taking it to its Trace (queue wait left out); in sandbox = outcome.seconds"
        + ("; * fastest" if len(pools) > 1 else ""),
        [
            "jobs",
            "workers",
            "n",
            "wall s",
            "jobs/s",
            "p50 ms",
            "p99 ms",
            "in sandbox p50 ms",
            "in sandbox p99 ms",
            "MiB/sandbox mean",
            "MiB max",
            "MiB peak",
            "outcomes",
        ],
        rows,
    )


def print_baseline(out: Output, runs: Sequence[Timed], judged: Timed | None, best: PoolRun) -> None:
    rows = []
    for run in runs:
        lat = percentiles(run.latencies) or {}
        rows.append(
            [
                run.label + (" *" if run is judged else ""),
                str(run.jobs),
                fmt(run.seconds, 2),
                fmt(run.jobs_per_s, 2),
                fmt(lat.get("p50"), 0),
                fmt(lat.get("p99"), 0),
                fmt(best.crux.jobs_per_s / run.jobs_per_s, 1, "x") if run.jobs_per_s else "-",
                outcomes(run.statuses),
            ]
        )
    out.table(
        "baseline: one container per job (create, start, wait, logs, remove; the pool's container options), "
        "CRUXEval samples spread over the set; * the one judged (sequential)",
        ["mode", "n", "wall s", "jobs/s", "p50 ms", "p99 ms", "pool / this", "outcomes"],
        rows,
    )


def print_host_cost(out: Output, best: PoolRun) -> None:
    host = best.host_us or {}
    if not host:
        return
    per_job_us = 1e6 / best.crux.jobs_per_s if best.crux.jobs_per_s else None
    out.table(
        f"host CPU per CRUXEval job (µs, {host['jobs']} traces, replies {host['reply_bytes_mean']:,.0f} bytes "
        f"on average), against the pool's {fmt(per_job_us, 0)} µs of wall time per job",
        ["encode request", "parse reply", "Trace.from_dict", "total", "share of wall time per job"],
        [
            [
                fmt(host["encode_request_us"], 1),
                fmt(host["parse_reply_us"], 1),
                fmt(host["trace_from_dict_us"], 1),
                fmt(host["total_us"], 1),
                fmt(100 * host["total_us"] / per_job_us, 1, "%") if per_job_us else "-",
            ]
        ],
    )


def pool_over_baseline(best: PoolRun, baseline: Timed | None) -> float | None:
    return best.crux.jobs_per_s / baseline.jobs_per_s if baseline and baseline.jobs_per_s else None


def sandbox_targets(pools: Sequence[PoolRun], best: PoolRun, baseline: Timed | None, samples: int) -> list[Target]:
    """Jobs/s of the fastest pool, its ratio to the judged baseline, and every CRUXEval job returning."""
    ratio = pool_over_baseline(best, baseline)
    return [
        Target(
            f"CRUXEval jobs/s through the pool ({best.workers} workers)",
            best.crux.jobs_per_s,
            f">= {MIN_JOBS_PER_SECOND:.0f}",
            best.crux.jobs_per_s >= MIN_JOBS_PER_SECOND,
        ),
        Target(
            f"pool / one container per job ({baseline.label if baseline else 'no baseline'})",
            ratio,
            f">= {MIN_POOL_OVER_BASELINE:.0f}x",
            None if ratio is None else ratio >= MIN_POOL_OVER_BASELINE,
        ),
        Target(
            "CRUXEval jobs that returned (every pool run)",
            min(p.crux.statuses.get("returned", 0) for p in pools),
            f"all {samples}",
            all(p.crux.statuses.get("returned", 0) == samples for p in pools),
        ),
    ]


def print_targets(out: Output, targets: Sequence[Target]) -> None:
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [
            [t.name, fmt(t.measured, 0 if i != 1 else 1, "x" if i == 1 else ""), t.bound, t.verdict]
            for i, t in enumerate(targets)
        ],
    )


def pool_notes(pools: Sequence[PoolRun], best: PoolRun, notes: list[str]) -> None:
    if os.cpu_count() != 2:
        notes.append(f"the issue's targets are for a 2-core machine; this one has {os.cpu_count()} cores")
    for pool in pools:
        if not pool.memory_mib:
            notes.append(f"{pool.workers} workers: no memory figures could be read")
    returned = best.crux.statuses.get("returned", 0)
    if returned != best.crux.jobs:
        notes.append(f"the fastest pool run had {best.crux.jobs - returned} jobs that did not return")


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse_args(argv)
    notes: list[str] = []
    data, samples = samples_or_exit(parser, args.data, args.limit, notes)
    log = stderr_log(args.quiet)
    out = Output(args.plain)
    limits = Limits()
    try:
        pools = [run_pool(args.backend, n, samples, log) for n in args.workers]
    except SandboxUnavailable as exc:
        parser.exit(CANNOT_RUN, f"error: the {args.backend} sandbox cannot run here: {exc}\n")
    best = max(pools, key=lambda p: p.crux.jobs_per_s)
    described = best.described

    baseline_runs: list[Timed] = []
    if args.baseline_jobs:
        try:
            baseline_runs = run_baseline(spread(samples, args.baseline_jobs), args.workers, limits, log)
        except SandboxUnavailable as exc:
            notes.append(f"no baseline: one container per job needs Docker and the image ({exc})")
    else:
        notes.append("no baseline (--baseline-jobs 0)")
    baseline = judged_baseline(baseline_runs)

    out.text(
        f"sandbox speed: backend {described['backend']} ({described['image']}, Python {described['python']} inside), "
        f"host Python {platform.python_version()}, {os.cpu_count()} cores, {len(samples)} samples from {data}, "
        f"limits: wall {limits.wall_seconds}s, cpu {limits.cpu_seconds}s, memory {limits.memory_mb} MiB, "
        f"max_events {limits.max_events}"
    )
    print_pools(out, args.backend, pools, best)
    if baseline_runs:
        print_baseline(out, baseline_runs, baseline, best)
    print_host_cost(out, best)
    targets = sandbox_targets(pools, best, baseline, len(samples))
    print_targets(out, targets)
    pool_notes(pools, best, notes)
    out.notes(notes)

    if args.json:
        report = {
            "host_python": platform.python_version(),
            "platform": platform.platform(),
            "cores": os.cpu_count(),
            "sandbox": described,
            "data": str(data),
            "samples": len(samples),
            "limits": asdict(limits),
            "latency": "per job, Sandbox.run called in a map thread -> Trace returned (no queue wait); ms",
            "pools": [
                {
                    "workers": p.workers,
                    "cruxeval": p.crux.figures(),
                    "bare_fork_server": p.bare.figures(),
                    "memory_mib": p.memory_mib,
                    "peak_mib": p.peak_mib,
                    "memory_what": p.memory_what,
                    "host_cpu_per_job": p.host_us,
                }
                for p in pools
            ],
            "best_workers": best.workers,
            "baseline": [r.figures() for r in baseline_runs],
            "baseline_judged": baseline.label if baseline else None,
            "pool_over_baseline": pool_over_baseline(best, baseline),
            "targets": [t.figures() for t in targets],
            "notes": notes,
            "best_cruxeval_latencies_ms": [x * 1e3 for x in best.crux.latencies],  # in completion order
        }
        write_json(args.json, report, out)
    return exit_status(targets, args.check)


if __name__ == "__main__":
    sys.exit(main())
