"""How fast is cwm's tracer? A benchmark command, not a timed test.

    python -m benchmarks.speed.tracer [--data cruxeval.jsonl] [--repeat 5] [--limit N]
                                      [--json figures.json] [--check]

It traces every CRUXEval sample (the program ``code`` and the entry
``f(<input>)``) with each tracer below, in the same run, and prints the
totals, the ratios and the targets of the tracer's issue:

- on CRUXEval, with all features on, cwm takes at most 1.5x the naive
  reference tracer's time and is at least 3x faster than PySnooper;
- on a loop-heavy program (10**5 iterations holding a 10**4-element list),
  cwm is at least 10x faster than the naive reference.

Each sample runs ``--repeat`` times under each runner, a runner's runs back
to back and the runners' order rotating from sample to sample, and the
fastest run of a runner counts; the totals sum those over the samples
(``time.perf_counter_ns``). Two times are kept per run:

end to end
    from the program's text to the recorded trace: compiling, running the
    module body and the traced entry, and whatever the tracer does after
    (cwm builds its ``Trace``). This is what a caller of ``record`` pays.
the run alone
    the module body and the traced call only (cwm: the ``Outcome.seconds`` it
    reports, µs resolution; the others: the same span timed around it): the
    tracer's time in the issue's sense, set against untraced execution. Each
    tracer records its steps in that span (cwm and naive as tuples of the
    rendered locals); compiling, and cwm's making ``Event`` objects of its
    tuples afterwards, are out.

``--check`` judges by default (``--check-on issue``) the naive bound on both
times and for every backend, the PySnooper bound on the run alone for the
backend ``auto`` picks (the tracer as users get it: settrace on 3.10 and
3.11, monitoring on 3.12+), and the loop-heavy bound.
Compiling the program, the same work for every runner, is about 40% of cwm's
end-to-end time on CRUXEval; the PySnooper ratio end to end is shown too.

The runners:

``untraced``
    the program's own run: the entry is evaluated in a namespace where the
    module was already executed (compiled once per sample, outside the timer).
``untraced+setup``
    the same job as a tracer minus the tracing: compile the program and the
    entry from their text, run the module, evaluate the entry, with stdout
    redirected to a ``StringIO``.
``naive``
    the reference: compile and run as ``untraced+setup``, with
    ``sys.settrace``; the global trace function gives a local one only to
    frames of the program's file, which appends ``(event, line,
    {name: repr(value)[:cap] for every local})`` to a list at every call and
    line event, and the ``repr`` of the value at return and exception events.
    It stops at cwm's ``max_events`` as cwm does; a ``repr`` that raises ends
    its run (it is naive: no guard, no cap while rendering). Slicing the full ``repr`` to
    the cap is the one change from the plain ``repr``: the loop-heavy program
    would otherwise keep 2*10**5 reprs of a 10**4-element list (12 GB); the
    cost of the naive tracer (the full ``repr``) is unchanged.
``pysnooper``
    PySnooper (if importable) writing to a ``StringIO``: the program's ``f`` is
    decorated with ``pysnooper.snoop(output=..., max_variable_length=cap)`` and
    every code object of the program is added to its targets, so it follows
    exactly the program's own frames (nested functions, lambdas,
    comprehensions), as cwm does, and not library code (what ``depth=N`` would
    add). Its source cache entry is dropped before each run, as cwm reads the
    source on each run too. It has no event limit.
``cwm[<backend>]``
    ``tracer.record(code, entry, backend=...)`` with the defaults (all
    features on: capped rendering, stable addresses, guarded reprs, stdout and
    stderr capture, the event limit), once per backend the interpreter has
    (``settrace``; ``monitoring`` on 3.12+).

Programs that raise are timed like the others (their exception is caught);
a run that hits a limit ends there, and a note counts those. The program's
stdout goes to a ``StringIO`` in every runner (cwm captures it itself).

The garbage collector stays on (tracers allocate, and paying for that is part
of their cost); the benchmark's own long-lived objects are frozen first. Each
run is also charged for the garbage it leaves to the cyclic collector (a
closure that returns itself holds a whole run): after each run the young
generations are collected, timed, and that time is added to the run's end to
end time (see ``charge_garbage``); otherwise it would fall on whichever runner
happens to run when the collector next does.

The samples come through ``training``'s CRUXEval source (see
``benchmarks.speed.common``), so it runs on any interpreter that can import
``tracer`` and ``training.data`` (pyarrow among its needs): without ``rich``
it prints plain tables, without PySnooper it skips that column and its
target. The exit status is 0 unless ``--check`` is given and a target fails
(1), or the samples cannot be read (2). The loop-heavy naive and PySnooper runs take
minutes: ``--skip-loop`` or a smaller ``--loop-iterations`` for a quick look.
"""

from __future__ import annotations

import argparse
import gc
import io
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from benchmarks.speed.common import (
    Output,
    Sample,
    Target,
    add_data_option,
    add_limit_option,
    add_report_options,
    at_least,
    exit_status,
    fmt,
    least,
    outcomes,
    ratio,
    samples_or_exit,
    stderr_log,
    write_json,
)
from tracer import DEFAULT_CAP, DEFAULT_MAX_EVENTS, available_backends, record, resolve_backend

NAIVE_FILENAME = "<naive-program>"
PLAIN_FILENAME = "<untraced-program>"
ENTRY_FILENAME = "<entry>"

# the targets
MAX_CWM_OVER_NAIVE = 1.5
MIN_PYSNOOPER_OVER_CWM = 3.0
MIN_LOOP_NAIVE_OVER_CWM = 10.0
LOOP_ITERATIONS = 100_000
LOOP_SIZE = 10_000
LOOP_MAX_EVENTS = 10**6

LOOP_TEMPLATE = """\
def f():
    big = list(range({size}))
    total = 0
    for i in range({iterations}):
        total += i
    return total
"""


@dataclass
class Run:
    """What one runner reports about one run: its two times and what happened."""

    total_ns: int  # end to end: from the program's text to the recorded trace
    run_ns: int | None  # the run alone: module body and traced call (cwm: its Outcome.seconds)
    events: int = 0
    status: str = "returned"  # returned, raised, or the limit that ended it
    value: str | None = None
    result: Any = None  # what the runner returns (trace, events, log): freed uncharged, after its garbage
    garbage_ns: int = 0  # collecting what the run left behind (see charge_garbage)


Measure = Callable[[Sample], Run]


@dataclass
class Runner:
    name: str
    measure: Measure
    best: list[int] = field(default_factory=list)  # per sample, fastest end-to-end time
    best_run: list[int] = field(default_factory=list)  # per sample, fastest run-only time
    runs: list[Run] = field(default_factory=list)  # per sample, its first run

    @property
    def total_s(self) -> float:
        return sum(self.best) / 1e9

    @property
    def run_s(self) -> float:
        return sum(self.best_run) / 1e9

    @property
    def is_cwm(self) -> bool:
        return self.name.startswith("cwm[")


class _Stop(BaseException):
    """Ends the naive tracer's run at the event limit."""


# -- the runners ---------------------------------------------------------------


def _program_codes(code: CodeType) -> list[CodeType]:
    found = [code]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found.extend(_program_codes(const))
    return found


def measure_untraced(cache: dict[str, tuple[CodeType, CodeType]]) -> Measure:
    """The entry's evaluation alone; the module compiled once and run outside the timer."""

    def measure(sample: Sample) -> Run:
        compiled = cache.get(sample.id)
        if compiled is None:
            compiled = cache[sample.id] = (
                compile(sample.code, PLAIN_FILENAME, "exec"),
                compile(sample.entry, ENTRY_FILENAME, "eval"),
            )
        module, entry = compiled
        namespace: dict[str, Any] = {"__name__": "__main__"}
        status = "returned"
        saved = sys.stdout
        sys.stdout = io.StringIO()
        try:
            try:
                exec(module, namespace)
            except Exception:  # noqa: BLE001 - the entry then raises NameError, timed below
                pass
            start = time.perf_counter_ns()
            try:
                eval(entry, namespace)
            except Exception:  # noqa: BLE001 - a program that raises is timed too
                status = "raised"
            elapsed = time.perf_counter_ns() - start
        finally:
            sys.stdout = saved
        return Run(elapsed, elapsed, status=status)

    return measure


def measure_untraced_setup(sample: Sample) -> Run:
    """Compile, run the module, evaluate the entry: a tracer's job without the tracing."""
    status = "returned"
    saved = sys.stdout
    start = time.perf_counter_ns()
    sys.stdout = io.StringIO()
    run_start = None
    try:
        namespace: dict[str, Any] = {"__name__": "__main__"}
        module = compile(sample.code, PLAIN_FILENAME, "exec")
        entry = compile(sample.entry, ENTRY_FILENAME, "eval")
        run_start = time.perf_counter_ns()
        exec(module, namespace)
        repr(eval(entry, namespace))
    except Exception:  # noqa: BLE001
        status = "raised"
    finally:
        sys.stdout = saved
    end = time.perf_counter_ns()
    return Run(end - start, None if run_start is None else end - run_start, status=status)


def naive_record(source: str, entry: str, max_events: int, cap: int) -> tuple[list[tuple[Any, ...]], str, int]:
    """The naive reference tracer: settrace, and the repr of every local at every line.

    Returns the events, the status and the nanoseconds of the run alone.
    """
    events: list[tuple[Any, ...]] = []
    append = events.append

    def local_trace(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            append(("line", frame.f_lineno, {k: repr(v)[:cap] for k, v in frame.f_locals.items()}))
        elif event == "return":
            append(("return", frame.f_lineno, repr(arg)[:cap]))
        elif event == "exception":
            append(("exception", frame.f_lineno, repr(arg[1])[:cap]))
        if len(events) >= max_events:
            raise _Stop
        return local_trace

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != NAIVE_FILENAME:
            return None
        append(("call", frame.f_lineno, {k: repr(v)[:cap] for k, v in frame.f_locals.items()}))
        if len(events) >= max_events:
            raise _Stop
        return local_trace

    status = "returned"
    saved = sys.stdout
    sys.stdout = io.StringIO()
    run_start = 0
    try:
        namespace: dict[str, Any] = {"__name__": "__main__"}
        module = compile(source, NAIVE_FILENAME, "exec")
        entry_code = compile(entry, ENTRY_FILENAME, "eval")
        run_start = time.perf_counter_ns()
        exec(module, namespace)
        sys.settrace(global_trace)
        try:
            result = eval(entry_code, namespace)
        finally:
            sys.settrace(None)
        repr(result)[:cap]
    except _Stop:
        status = "step_limit"
    except Exception:  # noqa: BLE001
        status = "raised"
    finally:
        sys.stdout = saved
    return events, status, time.perf_counter_ns() - run_start if run_start else 0


def measure_naive(max_events: int, cap: int) -> Measure:
    def measure(sample: Sample) -> Run:
        start = time.perf_counter_ns()
        events, status, run_ns = naive_record(sample.code, sample.entry, max_events, cap)
        elapsed = time.perf_counter_ns() - start
        return Run(elapsed, run_ns, len(events), status, result=events)

    return measure


class _SourceLoader:
    """A module ``__loader__`` that gives PySnooper the program's source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, name: str) -> str:
        return self.source


def measure_pysnooper(pysnooper: Any, cap: int) -> Measure:
    source_cache: dict[Any, Any] = getattr(getattr(pysnooper, "tracer", None), "source_and_path_cache", {})

    def measure(sample: Sample) -> Run:
        filename = f"<pysnooper:{sample.id}>"  # PySnooper caches sources by (module, filename)
        source_cache.pop(("__main__", filename), None)
        status = "returned"
        saved = sys.stdout
        start = time.perf_counter_ns()
        sys.stdout = io.StringIO()
        out = io.StringIO()
        run_start = None
        try:
            module = compile(sample.code, filename, "exec")
            entry = compile(sample.entry, ENTRY_FILENAME, "eval")
            run_start = time.perf_counter_ns()
            namespace: dict[str, Any] = {"__name__": "__main__", "__loader__": _SourceLoader(sample.code)}
            exec(module, namespace)
            snoop = pysnooper.snoop(output=out, max_variable_length=cap)
            snoop.target_codes.update(_program_codes(module))
            if callable(namespace.get("f")):
                namespace["f"] = snoop(namespace["f"])
            eval(entry, namespace)  # PySnooper renders the return value itself
        except Exception:  # noqa: BLE001
            status = "raised"
        finally:
            sys.stdout = saved
        end = time.perf_counter_ns()
        lines = out.getvalue().count("\n")  # lines of its log, not events
        return Run(end - start, None if run_start is None else end - run_start, lines, status, result=out)

    return measure


def measure_cwm(backend: str, max_events: int = DEFAULT_MAX_EVENTS) -> Measure:
    def measure(sample: Sample) -> Run:
        start = time.perf_counter_ns()
        trace = record(sample.code, sample.entry, id=sample.id, backend=backend, max_events=max_events)
        elapsed = time.perf_counter_ns() - start
        outcome = trace.outcome
        run_ns = round(outcome.seconds * 1e9) if outcome.seconds else None
        return Run(elapsed, run_ns, len(trace.events), outcome.status, outcome.value, result=trace)

    return measure


# -- running -------------------------------------------------------------------


@dataclass
class Runners:
    """Every runner of the CRUXEval run, by role; ``all`` in the order of the tables."""

    untraced: Runner
    setup: Runner
    naive: Runner
    snooper: Runner | None
    cwms: list[Runner]

    @property
    def all(self) -> list[Runner]:
        return [self.untraced, self.setup, self.naive, *([self.snooper] if self.snooper else []), *self.cwms]


def import_pysnooper(args: argparse.Namespace, notes: list[str]) -> Any:
    """The pysnooper module, or None (and a note) when it is left out or cannot be imported."""
    if args.no_pysnooper:
        notes.append("PySnooper left out (--no-pysnooper)")
        return None
    try:
        import pysnooper
    except ImportError:
        notes.append("PySnooper is not importable on this interpreter: its figures and targets are skipped")
        return None
    return pysnooper


def make_runners(backends: Sequence[str], pysnooper: Any, cap: int) -> Runners:
    return Runners(
        untraced=Runner("untraced", measure_untraced({})),
        setup=Runner("untraced+setup", measure_untraced_setup),
        naive=Runner("naive", measure_naive(DEFAULT_MAX_EVENTS, cap)),
        snooper=Runner("pysnooper", measure_pysnooper(pysnooper, cap)) if pysnooper is not None else None,
        cwms=[Runner(f"cwm[{b}]", measure_cwm(b)) for b in backends],
    )


def warm_up(runners: Sequence[Runner], samples: Sequence[Sample]) -> None:
    """Run the first samples once under each runner (imports, caches), then freeze what exists.

    Freezing keeps the collections that follow cheap: they do not walk the
    benchmark's own long-lived objects.
    """
    for sample in samples[:20]:
        for runner in runners:
            runner.measure(sample)
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()


def sample_progress(args: argparse.Namespace, total: int) -> Callable[[int], None] | None:
    """A progress line on stderr every tenth of the samples, when stderr is a terminal."""
    if args.quiet or not sys.stderr.isatty():
        return None
    step = max(1, total // 10)

    def progress(done: int) -> None:
        if done % step == 0 or done == total:
            print(f"  CRUXEval: {done}/{total} samples", file=sys.stderr, flush=True)

    return progress


def run_all(
    runners: Sequence[Runner], samples: Sequence[Sample], repeat: int, progress: Callable[[int], None] | None
) -> None:
    """Each sample ``repeat`` times under each runner; keep each runner's fastest.

    A runner's runs of a sample are back to back, the runners' order rotating
    from sample to sample. Interleaving single runs instead (A B C, B C A,
    ...) puts each runner after the same other runner in most repeats, on
    the caches that one left: the runner after PySnooper then measured 1.60x
    naive, and 1.31x with naive placed after PySnooper, in the same session.
    """
    for index, sample in enumerate(samples):
        shift = index % len(runners)
        for runner in [*runners[shift:], *runners[:shift]]:
            best: int | None = None
            best_run: int | None = None
            for r in range(repeat):
                run = charge_garbage(runner.measure(sample))
                if r == 0:
                    runner.runs.append(run)
                best = least(best, run.total_ns)
                best_run = least(best_run, run.run_ns)
            runner.best.append(best or 0)
            runner.best_run.append(best_run or 0)
        if progress is not None:
            progress(index + 1)


def charge_garbage(run: Run) -> Run:
    """Charge a run for collecting the garbage it left, then free its result uncharged.

    Reference cycles a runner leaves (a closure that returns itself, objects
    that point at each other) are freed by the cyclic collector, at whatever
    point it next runs: inside another runner's timer when the runs alternate.
    So after each run the young generations are collected twice, timed; the
    first collection less the second (which finds nothing) is the run's
    garbage, added to its end-to-end time. The result it returns (trace,
    events, log) is then freed uncharged, as it is for every runner, and what
    is left is frozen, so that later collections do not grow with the run.
    """
    start = time.perf_counter_ns()
    gc.collect(1)
    middle = time.perf_counter_ns()
    gc.collect(1)
    end = time.perf_counter_ns()
    run.garbage_ns = max(0, (middle - start) - (end - middle))
    run.total_ns += run.garbage_ns
    run.result = None
    gc.collect(1)
    gc.freeze()
    return run


# -- the CRUXEval figures -----------------------------------------------------------


def summarize(runners: Sequence[Runner], untraced: Runner, setup: Runner, naive: Runner) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for runner in runners:
        per_sample = [b / 1e3 for b in runner.best]
        ratios = [b / u for b, u in zip(runner.best, untraced.best, strict=True) if u > 0]
        events = sum(run.events for run in runner.runs)
        counts_events = events and runner.name not in ("pysnooper",)
        figures[runner.name] = {
            "total_s": runner.total_s,
            "total_over_untraced": ratio(runner.total_s, untraced.total_s),
            "total_over_untraced_setup": ratio(runner.total_s, setup.total_s),
            "total_over_naive": ratio(runner.total_s, naive.total_s),
            "median_sample_us": statistics.median(per_sample) if per_sample else None,
            "median_sample_over_untraced": statistics.median(ratios) if ratios else None,
            "run_s": runner.run_s,
            "run_over_untraced": ratio(runner.run_s, untraced.run_s),
            "run_over_naive": ratio(runner.run_s, naive.run_s),
            "median_sample_run_us": statistics.median(b / 1e3 for b in runner.best_run) if runner.best_run else None,
            "events": events if counts_events else None,
            "us_per_event": runner.total_s * 1e6 / events if counts_events else None,
            "run_us_per_event": runner.run_s * 1e6 / events if counts_events else None,
            "statuses": dict(Counter(run.status for run in runner.runs)),
        }
    return figures


def print_cruxeval(out: Output, runners: Runners, figures: dict[str, dict[str, Any]], samples: int) -> None:
    """The two CRUXEval tables: end to end, and the run alone."""
    untraced, snooper = runners.untraced, runners.snooper
    rows = []
    for runner in runners.all:
        f = figures[runner.name]
        rows.append(
            [
                runner.name,
                fmt(f["total_s"], 4),
                fmt(f["total_over_untraced"], 1, "x"),
                fmt(f["total_over_untraced_setup"], 2, "x"),
                fmt(f["total_over_naive"], 2, "x") if runner is not untraced else "",
                fmt(snooper.total_s / runner.total_s, 2, "x") if runner.is_cwm and snooper else "",
                fmt(f["median_sample_us"], 1),
                fmt(f["median_sample_over_untraced"], 1, "x"),
                fmt(f["us_per_event"], 2),
                outcomes(f["statuses"]),
            ]
        )
    out.table(
        f"CRUXEval, end to end (program text -> recorded trace): {samples} samples, "
        "sum over samples of each one's fastest run",
        [
            "runner",
            "total s",
            "/ untraced",
            "/ untraced+setup",
            "/ naive",
            "pysnooper / this",
            "median µs/sample",
            "median / untraced",
            "µs/event",
            "outcomes",
        ],
        rows,
    )
    rows = []
    for runner in runners.all:
        f = figures[runner.name]
        rows.append(
            [
                runner.name,
                fmt(f["run_s"], 4),
                fmt(f["run_over_untraced"], 1, "x"),
                fmt(f["run_over_naive"], 2, "x") if runner is not untraced else "",
                fmt(snooper.run_s / runner.run_s, 2, "x") if runner.is_cwm and snooper and runner.run_s else "",
                fmt(f["median_sample_run_us"], 1),
                fmt(f["run_us_per_event"], 2),
            ]
        )
    out.table(
        "CRUXEval, the run alone (module body + traced call, result rendered; no compiling, no trace building; "
        "cwm: its Outcome.seconds, µs resolution)",
        ["runner", "total s", "/ untraced", "/ naive", "pysnooper / this", "median µs/sample", "µs/event"],
        rows,
    )


def cruxeval_targets(runners: Runners, check_on: str) -> list[Target]:
    """The naive and PySnooper bounds on both times, for every backend; ``check_on`` says which are judged."""
    targets: list[Target] = []
    default_backend = resolve_backend("auto")  # the tracer as users get it
    naive, snooper = runners.naive, runners.snooper
    for key, label in (("total", "end to end"), ("run", "run alone")):
        judged = check_on in (key, "both", "issue")
        for runner in runners.cwms:
            measured = ratio(*((runner.total_s, naive.total_s) if key == "total" else (runner.run_s, naive.run_s)))
            targets.append(
                Target(
                    f"CRUXEval {label}: {runner.name} / naive",
                    measured,
                    f"<= {MAX_CWM_OVER_NAIVE}x",
                    None if measured is None else measured <= MAX_CWM_OVER_NAIVE,
                    judged,
                )
            )
        for runner in runners.cwms:
            mine = runner.total_s if key == "total" else runner.run_s
            speedup = None
            if snooper is not None:
                speedup = ratio(snooper.total_s if key == "total" else snooper.run_s, mine)
            targets.append(
                Target(
                    f"CRUXEval {label}: pysnooper / {runner.name}",
                    speedup,
                    f">= {MIN_PYSNOOPER_OVER_CWM}x",
                    None if speedup is None else speedup >= MIN_PYSNOOPER_OVER_CWM,
                    check_on in (key, "both")
                    or (check_on == "issue" and key == "run" and runner.name == f"cwm[{default_backend}]"),
                )
            )
    return targets


def check_outputs(
    runners: Runners, samples: Sequence[Sample], figures: dict[str, dict[str, Any]], notes: list[str]
) -> None:
    """cwm's returned values against the samples' expected output, and the runs a limit ended, as notes."""
    for runner in runners.cwms:
        expected = [(run, s) for run, s in zip(runner.runs, samples, strict=True) if s.expected is not None]
        matched = sum(run.value == s.expected for run, s in expected)
        figures[runner.name]["outputs_matching_expected"] = matched
        if matched != len(expected):
            notes.append(f"{runner.name}: {matched}/{len(expected)} returned values equal the samples' expected output")
        if any(run.run_ns is None for run in runner.runs):
            notes.append(f"{runner.name}: some traces had no Outcome.seconds, their run-alone time counts as 0")
    limited = {r.name: sum(run.status not in ("returned", "raised") for run in r.runs) for r in runners.all}
    if any(limited.values()):
        notes.append(
            "runs ended by a limit (cwm and naive stop at max_events; PySnooper has none): "
            + ", ".join(f"{k} {v}" for k, v in limited.items() if v)
        )


# -- the loop-heavy program ------------------------------------------------------------


def run_loop(args: argparse.Namespace, cwms: Sequence[Runner], pysnooper: Any, cap: int, out: Output) -> dict[str, Any]:
    """The loop-heavy program: untraced, each cwm backend, the naive tracer (and PySnooper)."""
    source = LOOP_TEMPLATE.format(size=args.loop_size, iterations=args.loop_iterations)
    sample = Sample("loop_heavy", source, "f()")
    log = stderr_log(args.quiet, "  loop-heavy: ")

    def best_of(measure: Measure, times: int) -> Run:
        runs = []
        for _ in range(times):
            runs.append(measure(sample))
            gc.collect()
        return min(runs, key=lambda run: run.total_ns)

    figures: dict[str, Any] = {
        "source": source,
        "iterations": args.loop_iterations,
        "list_size": args.loop_size,
        "max_events": LOOP_MAX_EVENTS,
        "cwm": {},
    }
    log(f"untraced, {args.loop_repeat} runs")
    base = best_of(measure_untraced({}), args.loop_repeat).total_ns / 1e9
    figures["untraced_s"] = base
    rows = [["untraced", fmt(base, 4), "", "1x", "", "returned"]]
    for runner in cwms:
        log(f"{runner.name}, {args.loop_repeat} runs")
        run = best_of(measure_cwm(runner.name[4:-1], LOOP_MAX_EVENTS), args.loop_repeat)
        figures["cwm"][runner.name] = _loop_figures(run)
    log("naive, 1 run")
    naive = best_of(measure_naive(LOOP_MAX_EVENTS, cap), 1)
    figures["naive"] = _loop_figures(naive)
    rows.append(["naive", *_loop_cells(naive, base), "", _run_note(naive)])
    if pysnooper is not None:
        log("pysnooper, 1 run")
        snoop = best_of(measure_pysnooper(pysnooper, cap), 1)
        figures["pysnooper"] = _loop_figures(snoop)
        figures["pysnooper"]["log_lines"] = figures["pysnooper"].pop("events")  # its log, not events
        rows.append(["pysnooper", *_loop_cells(snoop, base), "", snoop.status])
    figures["naive_over"] = {}
    for name, f in figures["cwm"].items():
        figures["naive_over"][name] = naive.total_ns / 1e9 / f["seconds"]
        run = Run(
            round(f["seconds"] * 1e9), f["run_seconds"] and round(f["run_seconds"] * 1e9), f["events"], f["status"]
        )
        rows.append([name, *_loop_cells(run, base), fmt(figures["naive_over"][name], 1, "x"), _run_note(run)])
    out.table(
        f"loop-heavy: {args.loop_iterations:,} iterations holding a {args.loop_size:,}-element list, "
        f"max_events {LOOP_MAX_EVENTS:,} (fastest of {args.loop_repeat} runs for untraced and cwm, one run otherwise)",
        ["runner", "total s", "run s", "/ untraced", "naive / this", "run"],
        rows,
    )
    return figures


def loop_targets(loop: dict[str, Any]) -> list[Target]:
    """The loop-heavy bound, for every backend (always judged)."""
    return [
        Target(
            f"loop-heavy: naive / {name}",
            measured,
            f">= {MIN_LOOP_NAIVE_OVER_CWM}x",
            measured >= MIN_LOOP_NAIVE_OVER_CWM,
        )
        for name, measured in loop["naive_over"].items()
    ]


def _loop_figures(run: Run) -> dict[str, Any]:
    return {
        "seconds": run.total_ns / 1e9,
        "run_seconds": None if run.run_ns is None else run.run_ns / 1e9,
        "events": run.events,
        "status": run.status,
    }


def _loop_cells(run: Run, base: float) -> list[str]:
    seconds = run.total_ns / 1e9
    return [fmt(seconds, 3), fmt(None if run.run_ns is None else run.run_ns / 1e9, 3), fmt(seconds / base, 0, "x")]


def _run_note(run: Run) -> str:
    return f"{run.events:,} events, {run.status}"


# -- the command ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.tracer",
        description="Time cwm's tracer on every CRUXEval sample and on a loop-heavy program, against untraced "
        "execution, a naive settrace tracer and PySnooper, in one run.",
    )
    add_data_option(parser, "code/input/output")
    parser.add_argument("--repeat", type=int, default=5, metavar="N", help="runs per sample and runner (default 5)")
    add_limit_option(parser)
    add_report_options(
        parser,
        json_help="also write the figures (and per-sample times) as JSON",
        check_help="exit 1 when a target fails (judged on --check-on)",
    )
    parser.add_argument(
        "--check-on",
        choices=("issue", "total", "run", "both"),
        default="issue",
        help="which CRUXEval targets --check judges: 'issue' (the default) the naive bound on both times and the "
        "PySnooper bound on the run alone of the default backend, the tracer's time as the issue sets it against "
        "untraced execution; "
        "'total' (end to end), 'run' (the run alone) or 'both' for every bound on those times",
    )
    parser.add_argument("--no-pysnooper", action="store_true", help="leave PySnooper out")
    parser.add_argument("--skip-loop", action="store_true", help="leave the loop-heavy program out")
    parser.add_argument(
        "--loop-iterations", type=int, default=LOOP_ITERATIONS, metavar="N", help="loop-heavy: iterations (10**5)"
    )
    parser.add_argument("--loop-size", type=int, default=LOOP_SIZE, metavar="N", help="loop-heavy: list size (10**4)")
    parser.add_argument(
        "--loop-repeat",
        type=int,
        default=3,
        metavar="N",
        help="loop-heavy: runs of untraced and cwm (default 3; the naive tracer and PySnooper run once: minutes each)",
    )
    parser.add_argument("--loop-pysnooper", action="store_true", help="loop-heavy: time PySnooper too (minutes)")
    args = parser.parse_args(argv)
    at_least(parser, 1, "--repeat and --loop-repeat must be at least 1", args.repeat, args.loop_repeat)
    at_least(parser, 1, "--limit must be at least 1", args.limit)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    parser, args = parse_args(argv)
    notes: list[str] = []
    data, samples = samples_or_exit(parser, args.data, args.limit, notes)
    out = Output(args.plain)
    cap = DEFAULT_CAP
    backends = available_backends()
    pysnooper = import_pysnooper(args, notes)
    runners = make_runners(backends, pysnooper, cap)
    warm_up(runners.all, samples)

    out.text(
        f"tracer speed: Python {platform.python_version()} ({platform.python_implementation()}, {platform.machine()}), "
        f"{len(samples)} samples from {data}, fastest of {args.repeat} runs per sample and runner, "
        f"cwm backends: {', '.join(backends)}, cap {cap}, max_events {DEFAULT_MAX_EVENTS}"
    )
    started = time.perf_counter()
    run_all(runners.all, samples, args.repeat, sample_progress(args, len(samples)))
    crux_seconds = time.perf_counter() - started

    figures = summarize(runners.all, runners.untraced, runners.setup, runners.naive)
    print_cruxeval(out, runners, figures, len(samples))
    targets = cruxeval_targets(runners, args.check_on)
    check_outputs(runners, samples, figures, notes)

    loop: dict[str, Any] | None = None
    if not args.skip_loop:
        loop = run_loop(args, runners.cwms, pysnooper if args.loop_pysnooper else None, cap, out)
        targets += loop_targets(loop)
        if (args.loop_iterations, args.loop_size) != (LOOP_ITERATIONS, LOOP_SIZE):
            notes.append("the loop-heavy program is not the issue's (10**5 iterations, 10**4 items)")

    out.table(
        f"targets (--check-on {args.check_on}; those marked 'no' are shown, not judged)",
        ["target", "measured", "bound", "verdict", "judged"],
        [[t.name, fmt(t.measured, 2, "x"), t.bound, t.verdict, "yes" if t.judged else "no"] for t in targets],
    )
    out.notes(notes)
    out.text(f"(the CRUXEval runs took {crux_seconds:.1f}s of wall time)")

    if args.json:
        report = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "data": str(data),
            "samples": len(samples),
            "repeat": args.repeat,
            "statistic": "sum over samples of the fastest of --repeat runs",
            "backends": backends,
            "cap": cap,
            "max_events": DEFAULT_MAX_EVENTS,
            "cruxeval": figures,
            "loop_heavy": loop,
            "targets": [{**t.figures(), "judged": t.judged} for t in targets],
            "notes": notes,
            "per_sample_ns": {
                "id": [s.id for s in samples],
                "total": {r.name: r.best for r in runners.all},
                "run": {r.name: r.best_run for r in runners.all},
            },
        }
        write_json(args.json, report, out)
    return exit_status(targets, args.check)


if __name__ == "__main__":
    sys.exit(main())
