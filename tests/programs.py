"""A catalogue of hand-written programs with their exact expected traces.

Each :class:`Program` is data: the source, the entry call (``None`` for a
module-level script), the exact ``(kind, line)`` sequence the tracer must
produce, a few key states (locals before a line, return values, stdout on
the right event), and the outcome. The sequences were derived by reasoning
about CPython's tracing semantics and cross-checked against the tracer on
CPython 3.10 to 3.13; where CPython itself differs between versions (3.12
inlines list/dict/set comprehensions, 3.13 closes a suspended generator
without running it, 3.12+ reports ``StopIteration`` at the end of some
``yield from``), ``events`` is a dict of version spec -> sequence. A program
that recurses until ``RecursionError`` has no fixed sequence (how deep it gets
depends on the interpreter, the backend and the tracer's own frames): its
``recursion`` (:class:`Recursion`) describes the sequence's shape instead.

Where the tracer's output looked wrong (or the two backends disagree), the
expectation encodes the *correct* behaviour and the program names the bug
(:data:`BUGS`) in ``bugs``, for the interpreters and backends it affects;
the tests mark those cases strictly ``xfail``: a bug that no longer shows
where its entry says fails the suite (set ``CWM_FIDELITY_STRICT=1`` to make the
bugs themselves fail instead). Where the backends differ by design (``backend_specific``),
the tests that compare them skip the program.

Version specs: ``"*"`` (any), ``"3.12"`` (exactly), ``"3.12+"`` (at least),
``"3.10-3.11"`` (inclusive range). In a dict, the first matching key wins.

This module is plain data plus checking helpers; it imports nothing from
``tracer`` so the traces it checks may come from another interpreter (as
dicts, :meth:`tracer.Trace.to_dict`).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Seq = list[tuple[str, int]]
Version = tuple[int, int]

KINDS = {"c": "call", "l": "line", "r": "return", "e": "exception"}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "not checked" (``None`` means "must be absent")


def seq(text: str) -> Seq:
    """``"c1 l2 r2"`` -> ``[("call", 1), ("line", 2), ("return", 2)]``."""
    return [(KINDS[item[0]], int(item[1:])) for item in text.split()]


def compact(events: Iterable[tuple[str, int]]) -> str:
    """The inverse of :func:`seq`, for readable failure messages."""
    return " ".join(f"{kind[0]}{line}" for kind, line in events)


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def version_matches(spec: str, version: Version) -> bool:
    spec = spec.strip()
    if spec == "*":
        return True
    if spec.endswith("+"):
        return version >= _parse_version(spec[:-1])
    if "-" in spec:
        low, high = spec.split("-", 1)
        return _parse_version(low) <= version <= _parse_version(high)
    return version == _parse_version(spec)


def _parse_version(text: str) -> Version:
    major, minor = text.strip().split(".")[:2]
    return int(major), int(minor)


def parse_python(text: str) -> Version:
    """``"3.12.1"`` -> ``(3, 12)``."""
    return _parse_version(text)


# -- known tracer bugs ---------------------------------------------------------------
# none open (the last, B8, events lost at the recursion limit, was fixed by raw records built
# without a call: see tracer/types.py). A new one gets an id here and a Bug on its programs.
BUGS: dict[str, str] = {}


@dataclass(frozen=True)
class Bug:
    """A known bug shown by a program on some versions and backends."""

    id: str
    versions: str = "*"
    backends: tuple[str, ...] = ("settrace", "monitoring")
    splits_backends: bool = False  # hitting both backends, it still makes their traces differ

    def applies(self, version: Version, backend: str) -> bool:
        return backend in self.backends and version_matches(self.versions, version)


# -- expectations ---------------------------------------------------------------------
@dataclass(frozen=True)
class At:
    """A key state: the ``nth`` event of kind/line ``event`` (``"l4"``; ``nth`` may be negative)."""

    event: str
    nth: int = 0
    locals: Mapping[str, str] | None = None  # these names must have these renderings
    exact: bool = False  # ... and no other names
    absent: tuple[str, ...] = ()  # names that must not be in locals
    value: Any = UNSET  # str, or None for "no value" (a return by exception)
    value_prefix: str | None = None
    stdout: Any = UNSET  # str, or None for "nothing printed since the previous event"
    depth: int | None = None
    func: str | None = None
    versions: str = "*"
    backends: tuple[str, ...] = ("settrace", "monitoring")


SETTRACE_OFF = "CPython switched settrace off near the recursion limit"


@dataclass(frozen=True)
class Recursion:
    """The shape of the trace of a program that recurses until ``RecursionError``.

    The tracer leaves the recursion limit alone, and its own hook frames count
    toward it, so how deep the program gets depends on the interpreter and the
    backend: the depth is read from the trace. The events are ``before``, then
    ``down`` for each recursing frame, then -- with ``sys.monitoring``, which
    records the whole run -- ``up`` for each frame as the ``RecursionError``
    unwinds it, then ``after``. Under settrace, CPython switches the trace
    function off when it cannot even call it at the limit, so the trace stops on
    the way down, with no unwinding events, and the recorder says so in
    ``outcome.detail`` (:data:`SETTRACE_OFF`). Either way at least
    ``min_frames`` recursing frames are recorded, and the local ``counter`` of
    each holds its distance from the first (rendered raw at the limit).
    """

    before: str
    down: str
    up: str
    after: str
    counter: str = "n"
    min_frames: int = 900


@dataclass(frozen=True)
class Program:
    name: str
    source: str
    entry: str | None
    events: Seq | dict[str, Seq] | None  # None: ``recursion`` gives the shape
    states: tuple[At, ...] = ()
    status: str = "returned"
    value: Any = UNSET  # outcome value: str, None (absent) or UNSET
    value_prefix: str | None = None
    stdout: str = ""
    stderr: str | None = ""  # checked when the run returned; None: not checked
    max_events: int = 10_000
    max_output: int | None = None
    recursion: Recursion | None = None
    min_version: Version = (3, 10)
    bugs: tuple[Bug, ...] = ()
    backend_specific: str = ""  # why the backends' traces differ by design (their comparison is skipped)
    covers: str = ""
    backend_events: Mapping[str, Seq] | None = None  # backend -> its sequence, where they differ by design
    detail: str | None = None  # text outcome.detail must hold (None: not checked) ...
    detail_backends: tuple[str, ...] = ("settrace", "monitoring")  # ... under these backends
    open_frames: bool = False  # the trace may end with frames open (tracing was switched off)

    def expected_events(self, version: Version, backend: str | None = None) -> Seq | None:
        if backend is not None and self.backend_events is not None and backend in self.backend_events:
            return self.backend_events[backend]
        if self.events is None or isinstance(self.events, list):
            return self.events
        for spec, events in self.events.items():
            if version_matches(spec, version):
                return events
        raise KeyError(f"{self.name}: no expected events for Python {version}")

    def known_bugs(self, version: Version, backend: str) -> list[str]:
        return [bug.id for bug in self.bugs if bug.applies(version, backend)]

    def known_disagreements(self, version: Version, backends: Iterable[str]) -> list[str]:
        """Known bugs that make the backends' traces differ on ``version``."""
        found = set()
        for bug in self.bugs:
            hits = [bug.applies(version, backend) for backend in backends]
            if any(hits) and (not all(hits) or bug.splits_backends):
                found.add(bug.id)
        return sorted(found)

    def job(self) -> dict[str, Any]:
        """The program as cross_check.py reads it."""
        job: dict[str, Any] = {
            "name": self.name,
            "source": self.source,
            "entry": self.entry,
            "max_events": self.max_events,
        }
        if self.max_output is not None:
            job["max_output"] = self.max_output
        return job

    def record_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_events": self.max_events}
        if self.max_output is not None:
            kwargs["max_output"] = self.max_output
        return kwargs


# -- checking -------------------------------------------------------------------------
def structural_problems(data: Mapping[str, Any], complete: bool = True) -> list[str]:
    """Shape checks every trace must pass: depths, frames, source lines, fields, counts.

    ``complete=False``: the trace may stop with frames open though the run
    finished (settrace switched off at the recursion limit).
    """
    problems: list[str] = []
    source_lines = data["program"]["source"].splitlines()
    events = data["events"]
    stack: list[str] = []  # func names of the open frames
    for i, e in enumerate(events):
        kind, line, depth, func = e["kind"], e["line"], e["depth"], e["func"]
        where = f"event {i} ({kind} {line} {func} d{depth})"
        if not 1 <= line <= len(source_lines):
            problems.append(f"{where}: line out of range")
        elif e["source_line"] != source_lines[line - 1]:
            problems.append(f"{where}: source_line {e['source_line']!r} is not line {line}")
        if kind in ("call", "line"):
            if "locals" not in e or "value" in e:
                problems.append(f"{where}: call/line events carry locals and no value")
        elif kind == "exception":
            if "value" not in e or "locals" in e:
                problems.append(f"{where}: exception events carry a value and no locals")
        elif "locals" in e:
            problems.append(f"{where}: return events carry no locals")
        if kind == "call":
            stack.append(func)
            if depth != len(stack) - 1:
                problems.append(f"{where}: call depth should be {len(stack) - 1}")
            continue
        if not stack:
            problems.append(f"{where}: no frame is open")
            continue
        if depth != len(stack) - 1:
            problems.append(f"{where}: depth should be {len(stack) - 1}")
        if func != stack[-1]:
            problems.append(f"{where}: the open frame is {stack[-1]}")
        if kind == "return":
            stack.pop()
    outcome = data["outcome"]
    if complete and outcome["status"] in ("returned", "raised") and stack:
        problems.append(f"the run ended with frames still open: {stack}")
    if outcome["events"] != len(events):
        problems.append(f"outcome.events {outcome['events']} != {len(events)} events")
    printed = "".join(e.get("stdout", "") for e in events)
    if not outcome["stdout"].startswith(printed):
        problems.append(f"event stdout {printed!r} is not a prefix of outcome stdout {outcome['stdout']!r}")
    return problems


def find_event(events: list[Mapping[str, Any]], at: At) -> Mapping[str, Any] | None:
    kind, line = seq(at.event)[0]
    matching = [e for e in events if e["kind"] == kind and e["line"] == line]
    try:
        return matching[at.nth]
    except IndexError:
        return None


def state_problems(events: list[Mapping[str, Any]], at: At) -> list[str]:
    e = find_event(events, at)
    label = f"{at.event}#{at.nth}"
    if e is None:
        return [f"{label}: no such event"]
    problems = []
    got_locals = e.get("locals")
    if at.locals is not None:
        if got_locals is None:
            problems.append(f"{label}: no locals")
        else:
            wrong = {k: got_locals.get(k, "<missing>") for k, v in at.locals.items() if got_locals.get(k) != v}
            if wrong:
                problems.append(f"{label}: locals {wrong} != expected {dict(at.locals)} (all: {got_locals})")
            if at.exact and set(got_locals) != set(at.locals):
                problems.append(f"{label}: locals are {got_locals}, expected exactly {dict(at.locals)}")
    for name in at.absent:
        if got_locals is not None and name in got_locals:
            problems.append(f"{label}: {name!r} should not be in locals {got_locals}")
    if at.value is not UNSET and e.get("value") != at.value:
        problems.append(f"{label}: value {e.get('value')!r} != {at.value!r}")
    if at.value_prefix is not None and not (e.get("value") or "").startswith(at.value_prefix):
        problems.append(f"{label}: value {e.get('value')!r} does not start with {at.value_prefix!r}")
    if at.stdout is not UNSET and e.get("stdout") != at.stdout:
        problems.append(f"{label}: stdout {e.get('stdout')!r} != {at.stdout!r}")
    if at.depth is not None and e["depth"] != at.depth:
        problems.append(f"{label}: depth {e['depth']} != {at.depth}")
    if at.func is not None and e["func"] != at.func:
        problems.append(f"{label}: func {e['func']!r} != {at.func!r}")
    return problems


def recursion_problems(spec: Recursion, data: Mapping[str, Any], backend: str) -> list[str]:
    """How a trace that hit the recursion limit differs from the shape ``spec`` gives (see :class:`Recursion`)."""
    problems: list[str] = []
    events = data["events"]
    got = [(e["kind"], e["line"]) for e in events]
    before, down, up, after = seq(spec.before), seq(spec.down), seq(spec.up), seq(spec.after)
    if got[: len(before)] != before:
        return [f"events start {compact(got[: len(before) + 4])}, expected {compact(before)} then {spec.down}"]
    base = sum({"call": 1, "return": -1}.get(kind, 0) for kind, _ in before)  # depth of the first recursing frame
    recursing = [e for e in events[len(before) :] if e["kind"] == "call"]
    frames = len(recursing)
    if frames < spec.min_frames:
        problems.append(f"only {frames} recursing frames recorded, expected at least {spec.min_frames}")
    for i, e in enumerate(recursing):
        if e["depth"] != base + i or (e.get("locals") or {}).get(spec.counter) != str(i):
            problems.append(
                f"recursing call {i}: depth {e['depth']}, locals {e.get('locals')}, expected {spec.counter}={i}"
            )
            break
    detail = data["outcome"].get("detail") or ""
    if backend == "settrace":
        body = got[len(before) :]
        expected = (down * frames)[: len(body)]
        if body != expected or not body:
            first = next((i for i, (a, b) in enumerate(zip(body, expected, strict=False)) if a != b), len(body))
            problems.append(
                f"after {spec.before!r} the events should repeat {spec.down!r} to the end (settrace is switched off "
                f"at the limit), event {len(before) + first} differs: ...{compact(body[max(0, first - 4) : first + 4])}"
            )
        if SETTRACE_OFF not in detail:
            problems.append(f"outcome.detail {detail!r} does not say {SETTRACE_OFF!r}")
        return problems
    expected = before + down * frames + up * frames + after
    if got != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected))
        )
        problems.append(
            f"{frames} recursing frames: events should be {spec.before!r} + {spec.down!r} * {frames} + {spec.up!r} * "
            f"{frames} + {spec.after!r}, they differ from event {first}:\n"
            f"  got      ...{compact(got[max(0, first - 4) : first + 6])} ({len(got)} events)\n"
            f"  expected ...{compact(expected[max(0, first - 4) : first + 6])} ({len(expected)} events)"
        )
    unwinding = [e for e in events[len(before) + len(down) * frames :] if e["kind"] == "exception"]
    wrong = [e for e in unwinding[:frames] if not (e.get("value") or "").startswith(RECURSION_ERROR)]
    if wrong:
        problems.append(f"unwinding exception {wrong[0]} is not a RecursionError")
    if detail:
        problems.append(f"outcome.detail {detail!r}: no event may be lost or noted at the limit")
    return problems


def check_trace(program: Program, data: Mapping[str, Any], version: Version, backend: str) -> list[str]:
    """Every way ``data`` (a trace dict, by ``backend``) differs from what ``program`` expects on ``version``."""
    spec = program.recursion
    problems = structural_problems(data, complete=not program.open_frames and (spec is None or backend != "settrace"))
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        problems.append(f"the trace does not encode as UTF-8: {exc}")
    if program.max_output is not None:
        for stream in ("stdout", "stderr"):
            if len(data["outcome"][stream]) > program.max_output:
                problems.append(f"outcome {stream} holds {len(data['outcome'][stream])} > max_output characters")
    events = data["events"]
    got = [(e["kind"], e["line"]) for e in events]
    expected = program.expected_events(version, backend)
    if expected is not None and got != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected))
        )
        problems.append(f"events differ from event {first}:\n  got      {compact(got)}\n  expected {compact(expected)}")
    if spec is not None:
        problems.extend(recursion_problems(spec, data, backend))
    for at in program.states:
        if version_matches(at.versions, version) and backend in at.backends:
            problems.extend(state_problems(events, at))
    outcome = data["outcome"]
    if outcome["status"] != program.status:
        problems.append(f"status {outcome['status']!r} != {program.status!r} ({outcome.get('detail')})")
    value = outcome.get("value")
    if program.value is not UNSET and value != program.value:
        problems.append(f"outcome value {value!r} != {program.value!r}")
    if program.value_prefix is not None and not (value or "").startswith(program.value_prefix):
        problems.append(f"outcome value {value!r} does not start with {program.value_prefix!r}")
    if outcome["stdout"] != program.stdout:
        problems.append(f"stdout {outcome['stdout']!r} != {program.stdout!r}")
    if program.status == "returned" and program.stderr is not None and outcome["stderr"] != program.stderr:
        problems.append(f"stderr {outcome['stderr']!r} != {program.stderr!r}")
    if program.status == "raised" and value and value.split("(")[0] not in outcome["stderr"]:
        problems.append(f"stderr {outcome['stderr']!r} does not name {value.split('(')[0]}")
    if spec is None and "tracer errors" in (outcome.get("detail") or ""):
        problems.append(f"the tracer noted errors: {outcome['detail']}")
    if (
        program.detail is not None
        and backend in program.detail_backends
        and program.detail not in (outcome.get("detail") or "")
    ):
        problems.append(f"outcome.detail {outcome.get('detail')!r} does not say {program.detail!r}")
    return problems


def comparable(data: Mapping[str, Any]) -> dict[str, Any]:
    """A trace dict without what may differ between two runs (the time it took)."""
    out = dict(data)
    out["outcome"] = {k: v for k, v in data["outcome"].items() if k != "seconds"}
    return out


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Where two trace dicts differ (``None`` when they are equal), for messages."""
    a, b = comparable(a), comparable(b)
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a["events"], b["events"], strict=False)):
        if x != y:
            return f"event {i}:\n  {x}\n  {y}"
    if len(a["events"]) != len(b["events"]):
        return f"{len(a['events'])} vs {len(b['events'])} events"
    if a["outcome"] != b["outcome"]:
        return f"outcome:\n  {a['outcome']}\n  {b['outcome']}"
    return f"program:\n  {a['program']}\n  {b['program']}"


# -- the catalogue -------------------------------------------------------------------------
ALL = ("settrace", "monitoring")
ST = ("settrace",)
MON = ("monitoring",)

ZERO_DIV = "ZeroDivisionError('division by zero')"
INT_ZERO_DIV = "ZeroDivisionError('integer division or modulo by zero')"
RECURSION_ERROR = "RecursionError('maximum recursion depth exceeded"

CATALOGUE: list[Program] = [
    # -- recursion ---------------------------------------------------------------------------
    Program(
        "factorial",
        src("""
            def fact(n):
                if n <= 1:
                    return 1
                return n * fact(n - 1)
            """),
        "fact(3)",
        seq("c1 l2 l4 c1 l2 l4 c1 l2 l3 r3 r4 r4"),
        (
            At("c1", 0, {"n": "3"}, exact=True, depth=0, func="fact"),
            At("c1", 2, {"n": "1"}, exact=True, depth=2),
            At("r3", value="1", depth=2),
            At("r4", 0, value="2", depth=1),
            At("r4", -1, value="6", depth=0),
        ),
        value="6",
        covers="recursion",
    ),
    Program(
        "fib",
        src("""
            def fib(n):
                if n < 2:
                    return n
                return fib(n - 1) + fib(n - 2)
            """),
        "fib(3)",
        seq("c1 l2 l4 c1 l2 l4 c1 l2 l3 r3 c1 l2 l3 r3 r4 c1 l2 l3 r3 r4"),
        (
            At("c1", 3, {"n": "0"}, depth=2),
            At("r4", 0, value="1", depth=1),
            At("c1", 4, {"n": "1"}, depth=1),
            At("r4", 1, value="2", depth=0),
        ),
        value="2",
        covers="tree recursion",
    ),
    Program(
        "mutual_recursion",
        src("""
            def is_even(n):
                if n == 0:
                    return True
                return is_odd(n - 1)

            def is_odd(n):
                if n == 0:
                    return False
                return is_even(n - 1)
            """),
        "is_even(3)",
        seq("c1 l2 l4 c6 l7 l9 c1 l2 l4 c6 l7 l8 r8 r4 r9 r4"),
        (
            At("c6", 1, {"n": "0"}, func="is_odd", depth=3),
            At("r8", value="False", depth=3),
            At("r4", -1, value="False", depth=0, func="is_even"),
        ),
        value="False",
        covers="mutual recursion",
    ),
    Program(
        "recursion_error",
        src("""
            def down(n):
                return down(n + 1)
            """),
        "down(0)",
        None,
        (
            At("c1", 5, {"n": "5"}, exact=True, depth=5),
            At("e2", 0, value_prefix=RECURSION_ERROR, backends=MON),
            At("r2", 0, value=None, backends=MON),
            At("r2", -1, value=None, depth=0, backends=MON),
        ),
        status="raised",
        value_prefix=RECURSION_ERROR,
        max_events=10**9,
        recursion=Recursion(before="", down="c1 l2", up="e2 r2", after=""),
        backend_specific="settrace is switched off by CPython at the recursion limit; sys.monitoring is not",
        covers=(
            "deep recursion ending in RecursionError with the recursion limit untouched: the program's own error "
            "is raised, every frame unwinds (monitoring), the trace stops near the limit (settrace)"
        ),
    ),
    Program(
        "recursion_error_caught",
        src("""
            def down(n):
                return down(n + 1)

            def f():
                try:
                    down(0)
                except RecursionError:
                    return 'caught'
            """),
        "f()",
        None,
        (
            At("c1", 0, {"n": "0"}, exact=True, depth=1, func="down"),
            At("e2", 0, value_prefix=RECURSION_ERROR, backends=MON),
            At("e6", value_prefix=RECURSION_ERROR, depth=0, func="f", backends=MON),
            At("r8", value="'caught'", depth=0, backends=MON),
        ),
        value="'caught'",
        max_events=10**9,
        recursion=Recursion(before="c4 l5 l6", down="c1 l2", up="e2 r2", after="e6 l7 l8 r8"),
        backend_specific="settrace is switched off by CPython at the recursion limit; sys.monitoring is not",
        covers=(
            "RecursionError caught by the program: it returns its own value, and (monitoring) the trace goes on "
            "after the handler"
        ),
    ),
    # -- generators ----------------------------------------------------------------------------
    Program(
        "generator_left_suspended",
        src("""
            def gen():
                yield 1
                yield 2

            def f():
                g = gen()
                a = next(g)
                b = next(g)
                return a + b
            """),
        "f()",
        {
            "3.10-3.12": seq("c5 l6 l7 c1 l2 r2 l8 c1 l3 r3 l9 r9 c1 e3 r3"),
            "3.13+": seq("c5 l6 l7 c1 l2 r2 l8 c1 l3 r3 l9 r9"),
        },
        (
            At("c1", 0, {}, exact=True, depth=1, func="gen"),
            At("r2", value="1", depth=1),
            At("c1", 1, depth=1),
            At("r3", 0, value="2"),
            At("l9", locals={"a": "1", "b": "2"}),
            At("r9", value="3", depth=0),
            At("c1", 2, {}, exact=True, depth=0, func="gen", versions="3.10-3.12"),
            At("e3", value="GeneratorExit()", depth=0, versions="3.10-3.12"),
            At("r3", 1, value=None, depth=0, versions="3.10-3.12"),
        ),
        value="3",
        covers=(
            "generator resumed with next(), left suspended when the entry returns; when the entry's frame is torn "
            "down the generator is closed: 3.10-3.12 run it (GeneratorExit at its yield, at depth 0, after the "
            "entry's return event: recorded on purpose, as it is real execution), 3.13 closes a plain yield "
            "without running it"
        ),
    ),
    Program(
        "generator_for",
        src("""
            def countdown(n):
                while n > 0:
                    yield n
                    n -= 1

            def f():
                total = 0
                for x in countdown(2):
                    total += x
                return total
            """),
        "f()",
        seq("c6 l7 l8 c1 l2 l3 r3 l9 l8 c1 l4 l2 l3 r3 l9 l8 c1 l4 l2 r2 l10 r10"),
        (
            At("c1", 1, {"n": "2"}, exact=True, depth=1, func="countdown"),
            At("l2", 1, {"n": "1"}),
            At("r3", 0, value="2"),
            At("r2", value="None", depth=1),
            At("l9", 1, {"total": "2", "x": "1"}, exact=True),
            At("l10", locals={"total": "3", "x": "1"}, exact=True),
        ),
        value="3",
        covers="generator driven by a for loop, resumption, exhaustion",
    ),
    Program(
        "generator_send",
        src("""
            def echo():
                received = []
                while len(received) < 2:
                    x = yield len(received)
                    received.append(x)
                return received

            def f():
                g = echo()
                next(g)
                g.send('a')
                try:
                    g.send('b')
                except StopIteration as stop:
                    return stop.value
            """),
        "f()",
        seq("c8 l9 l10 c1 l2 l3 l4 r4 l11 c1 l5 l3 l4 r4 l12 l13 c1 l5 l3 l6 r6 e13 l14 l15 r15"),
        (
            At("c1", 1, {"received": "[]"}, exact=True),
            At("l5", 0, {"received": "[]", "x": "'a'"}, exact=True),
            At("r4", 0, value="0"),
            At("r4", 1, value="1"),
            At("c1", 2, {"received": "['a']", "x": "'a'"}, exact=True),
            At("r6", value="['a', 'b']", depth=1),
            At("e13", value="StopIteration(['a', 'b'])", depth=0),
        ),
        value="['a', 'b']",
        covers="generator send(), StopIteration with a value",
    ),
    Program(
        "yield_from",
        src("""
            def inner():
                yield 1
                return 'done'

            def outer():
                r = yield from inner()
                yield r

            def f():
                return list(outer())
            """),
        "f()",
        seq("c9 l10 c5 l6 c1 l2 r2 r6 c5 c1 l3 r3 e6 l7 r7 c5 r7 r10"),
        (
            At("r2", value="1", depth=2, func="inner"),
            At("r6", value="1", depth=1, func="outer"),
            At("r3", value="'done'", depth=2),
            At("e6", value="StopIteration('done')", depth=1),
            At("l7", locals={"r": "'done'"}),
            At("r7", 0, value="'done'"),
            At("r7", 1, value="None"),
        ),
        value="[1, 'done']",
        covers="yield from, a sub-generator's return value",
    ),
    Program(
        "generator_expression",
        src("""
            def f(xs):
                return sum(x * x for x in xs)
            """),
        "f([1, 2])",
        seq("c1 l2 c2 l2 r2 c2 l2 r2 c2 l2 r2 r2"),
        (
            At("c2", 0, {}, exact=True, func="<genexpr>", depth=1),
            At("c2", 1, {"x": "1"}, exact=True),
            At("r2", 0, value="1"),
            At("r2", 1, value="4"),
            At("r2", 2, value="None", depth=1),
            At("r2", 3, value="5", depth=0, func="f"),
        ),
        value="5",
        covers="generator expression (its own frame on every version)",
    ),
    Program(
        "generator_throw",
        src("""
            def gen():
                try:
                    yield 1
                except KeyError:
                    yield 'caught'

            def f():
                g = gen()
                next(g)
                r = g.throw(KeyError('k'))
                next(g, None)
                return r
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 l3 r3 l10 c1 e3 l4 l5 r5 l11 c1 r5 l12 r12"),
        (
            At("c1", 1, depth=1, func="gen"),
            At("e3", value="KeyError('k')", depth=1),
            At("r5", 0, value="'caught'"),
            At("r5", 1, value="None"),
            At("l12", locals={"r": "'caught'"}),
        ),
        value="'caught'",
        covers="generator throw() caught inside the generator",
    ),
    Program(
        "generator_throw_uncaught",
        src("""
            def gen():
                yield 1

            def f():
                g = gen()
                next(g)
                try:
                    g.throw(KeyError('k'))
                except KeyError:
                    pass
                return 1
            """),
        "f()",
        seq("c4 l5 l6 c1 l2 r2 l7 l8 c1 e2 r2 e8 l9 l10 l11 r11"),
        (
            At("r2", 0, value="1"),
            At("e2", value="KeyError('k')", depth=1),
            At("r2", 1, value=None, depth=1),
            At("e8", value="KeyError('k')", depth=0),
        ),
        value="1",
        covers="throw() into a generator that does not catch it: the generator frame unwinds",
    ),
    Program(
        "generator_close",
        src("""
            def gen():
                yield 1
                yield 2

            def f():
                g = gen()
                first = next(g)
                g.close()
                return first
            """),
        "f()",
        {
            "3.10-3.12": seq("c5 l6 l7 c1 l2 r2 l8 c1 e2 r2 l9 r9"),
            "3.13+": seq("c5 l6 l7 c1 l2 r2 l8 l9 r9"),
        },
        (
            At("e2", value="GeneratorExit()", depth=1, versions="3.10-3.12"),
            At("r2", 1, value=None, depth=1, versions="3.10-3.12"),
            At("l9", locals={"first": "1"}),
        ),
        value="1",
        covers="close() of a suspended generator (3.13 closes it without running it)",
    ),
    Program(
        "generator_left_in_handler",
        src("""
            def gen():
                try:
                    yield 1
                except KeyError:
                    yield 2

            def f():
                g = gen()
                next(g)
                return g.throw(KeyError('k'))
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 l3 r3 l10 c1 e3 l4 l5 r5 r10 c1 e5 r5"),
        (
            At("r5", 0, value="2"),
            At("r10", value="2", depth=0),
            At("c1", 2, {}, exact=True, depth=0, func="gen"),
            At("e5", value="GeneratorExit()", depth=0),
            At("r5", 1, value=None, depth=0),
        ),
        value="2",
        covers=(
            "a generator left suspended in an except block is closed (run: every version, 3.13 included) when the "
            "entry's frame is torn down: its events come after the entry's return event, at depth 0, on purpose; "
            "which generators run at finalization depends on the CPython version"
        ),
    ),
    Program(
        "generator_finalized_after_entry",
        src("""
            def gen():
                try:
                    yield 1
                finally:
                    print('finalized')

            def f():
                g = gen()
                return next(g)
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 l3 r3 r9 c1 e3 l5 r5"),
        (
            At("r3", value="1", depth=1),
            At("r9", value="1", depth=0, func="f", stdout=None),
            At("c1", 1, {}, exact=True, depth=0, func="gen"),
            At("e3", value="GeneratorExit()", depth=0),
            At("l5", stdout=None),
            At("r5", value=None, depth=0, stdout="finalized\n"),
        ),
        value="1",
        stdout="finalized\n",
        covers=(
            "finalization after the entry returned runs program code that prints: the events (and the output, "
            "on the right event) are recorded after the entry's return event"
        ),
    ),
    Program(
        "break_from_generator_loop",
        src("""
            def naturals():
                n = 0
                while True:
                    yield n
                    n += 1

            def f():
                for k in naturals():
                    if k == 1:
                        break
                return k
            """),
        "f()",
        {
            "3.10-3.12": seq("c7 l8 c1 l2 l3 l4 r4 l9 l8 c1 l5 l3 l4 r4 l9 l10 c1 e4 r4 l11 r11"),
            "3.13+": seq("c7 l8 c1 l2 l3 l4 r4 l9 l8 c1 l5 l3 l4 r4 l9 l10 l11 r11"),
        },
        (
            At("r4", 0, value="0"),
            At("c1", 1, {"n": "0"}, exact=True),
            At("e4", value="GeneratorExit()", versions="3.10-3.12"),
            At("r4", 2, value=None, depth=1, versions="3.10-3.12"),
            At("l11", locals={"k": "1"}, exact=True),
        ),
        value="1",
        covers="break out of a loop over an infinite generator",
    ),
    Program(
        "generator_raises_to_caller",
        src("""
            def gen():
                yield 1
                raise ValueError('stop')

            def f():
                seen = []
                try:
                    for v in gen():
                        seen.append(v)
                except ValueError:
                    seen.append('err')
                return seen
            """),
        "f()",
        seq("c5 l6 l7 l8 c1 l2 r2 l9 l8 c1 l3 e3 r3 e8 l10 l11 l12 r12"),
        (
            At("e3", value="ValueError('stop')", depth=1),
            At("r3", value=None, depth=1),
            At("e8", value="ValueError('stop')", depth=0),
            At("l12", locals={"seen": "[1, 'err']", "v": "1"}, exact=True),
        ),
        value="[1, 'err']",
        covers="exception raised inside a generator, caught by the loop's caller",
    ),
    Program(
        "genexpr_any_shortcircuit",
        src("""
            def f(xs):
                return any(x > 1 for x in xs)
            """),
        "f([1, 2, 3])",
        {
            "3.10-3.12": seq("c1 l2 c2 l2 r2 c2 l2 r2 c2 e2 r2 r2"),
            "3.13+": seq("c1 l2 c2 l2 r2 c2 l2 r2 r2"),
        },
        (
            At("r2", 0, value="False"),
            At("r2", 1, value="True"),
            At("e2", value="GeneratorExit()", versions="3.10-3.12"),
            At("r2", 2, value=None, depth=1, versions="3.10-3.12"),
            At("r2", -1, value="True", depth=0),
        ),
        value="True",
        covers="generator expression abandoned by any()",
    ),
    Program(
        "nested_gen_yield_from_throw",
        src("""
            def inner():
                try:
                    yield 1
                except ValueError:
                    yield 'inner caught'

            def outer():
                yield from inner()

            def f():
                g = outer()
                next(g)
                r = g.throw(ValueError())
                next(g, None)
                return r
            """),
        "f()",
        {
            "3.10-3.11": seq("c10 l11 l12 c7 l8 c1 l2 l3 r3 r8 l13 c1 e3 l4 l5 r5 l14 c7 c1 r5 r8 l15 r15"),
            "3.12+": seq("c10 l11 l12 c7 l8 c1 l2 l3 r3 r8 l13 c1 e3 l4 l5 r5 l14 c7 c1 r5 e8 r8 l15 r15"),
        },
        (
            At("c1", 1, depth=1, func="inner"),  # throw() goes straight to the delegate
            At("r5", 0, value="'inner caught'", depth=1),
            At("r8", 1, value="None", depth=1),
            At("e8", value="StopIteration()", versions="3.12+"),
        ),
        value="'inner caught'",
        covers="throw() through yield from",
    ),
    Program(
        "yield_none",
        src("""
            def g():
                yield
                yield None

            def f():
                return list(g())
            """),
        "f()",
        seq("c5 l6 c1 l2 r2 c1 l3 r3 c1 r3 r6"),
        (
            At("r2", value="None", depth=1),
            At("r3", 0, value="None"),
            At("r3", 1, value="None"),
            At("r6", value="[None, None]"),
        ),
        value="[None, None]",
        covers="yielding None is a return with value 'None', not an exception leaving the frame",
    ),
    Program(
        "yield_from_none",
        src("""
            def inner():
                yield

            def outer():
                yield from inner()

            def f():
                return list(outer())
            """),
        "f()",
        {
            "3.10-3.11": seq("c7 l8 c4 l5 c1 l2 r2 r5 c4 c1 r2 r5 r8"),
            "3.12+": seq("c7 l8 c4 l5 c1 l2 r2 r5 c4 c1 r2 e5 r5 r8"),
        },
        (
            At("r2", 0, value="None", depth=2),
            At("r5", 0, value="None", depth=1),
            At("r2", 1, value="None", depth=2),
            At("r5", 1, value="None", depth=1),
            At("e5", value="StopIteration()", versions="3.12+"),
        ),
        value="[None]",
        covers="a generator suspended in yield from, yielding None",
    ),
    # -- coroutines ----------------------------------------------------------------------------
    Program(
        "coroutine_send",
        src("""
            async def inner():
                return 5

            async def outer():
                v = await inner()
                return v + 1

            def f():
                c = outer()
                try:
                    c.send(None)
                except StopIteration as e:
                    return e.value
            """),
        "f()",
        seq("c8 l9 l10 l11 c4 l5 c1 l2 r2 e5 l6 r6 e11 l12 l13 r13"),
        (
            At("r2", value="5", depth=2, func="inner"),
            At("e5", value="StopIteration(5)", depth=1),
            At("l6", locals={"v": "5"}, exact=True),
            At("e11", value="StopIteration(6)", depth=0),
        ),
        value="6",
        covers="coroutines driven by send(), await",
    ),
    Program(
        "asyncio_run",
        src("""
            import asyncio

            async def work(x):
                await asyncio.sleep(0)
                return x * 2

            async def main():
                return await work(3)

            def f():
                return asyncio.run(main())
            """),
        "f()",
        seq("c10 l11 c7 l8 c3 l4 r4 r8 c7 c3 e4 l5 r5 e8 r8 r11"),
        (
            At("r4", value="None", depth=2),
            At("r8", 0, value="None", depth=1),
            At("e4", value="StopIteration()", depth=2),
            At("r5", value="6"),
            At("r8", 1, value="6"),
        ),
        value="6",
        covers="asyncio event loop: only the program's coroutines are traced",
    ),
    Program(
        "async_generator",
        src("""
            async def agen():
                yield 1
                yield 2

            async def main():
                out = []
                async for v in agen():
                    out.append(v)
                return out

            def f():
                c = main()
                try:
                    c.send(None)
                except StopIteration as e:
                    return e.value
            """),
        "f()",
        seq("c11 l12 l13 l14 c5 l6 l7 c1 l2 r2 e7 l8 l7 c1 l3 r3 e7 l8 l7 c1 r3 e7 l9 r9 e14 l15 l16 r16"),
        (
            At("e7", 0, value="StopIteration(1)", depth=1),
            At("e7", 2, value="StopAsyncIteration()", depth=1),
            At("l9", locals={"out": "[1, 2]", "v": "2"}, exact=True),
        ),
        value="[1, 2]",
        covers="async generator and async for",
    ),
    # -- closures, nested functions, lambdas, decorators ------------------------------------
    Program(
        "closure_nonlocal",
        src("""
            def make_counter():
                count = 0
                def inc():
                    nonlocal count
                    count += 1
                    return count
                return inc

            def f():
                c = make_counter()
                c()
                return c()
            """),
        "f()",
        seq("c9 l10 c1 l2 l3 l7 r7 l11 c3 l5 l6 r6 l12 c3 l5 l6 r6 r12"),
        (
            At("l3", locals={"count": "0"}, exact=True),
            At("c3", 0, {"count": "0"}, exact=True, func="inc", depth=1),
            At("l6", 0, {"count": "1"}, exact=True),
            At("c3", 1, {"count": "1"}, exact=True),
            At("r6", 1, value="2"),
        ),
        value="2",
        covers="closure with nonlocal",
    ),
    Program(
        "nested_functions",
        src("""
            def outer(x):
                def middle(y):
                    def inner(z):
                        return x + y + z
                    return inner(3)
                return middle(2)
            """),
        "outer(1)",
        seq("c1 l2 l6 c2 l3 l5 c3 l4 r4 r5 r6"),
        (
            At("c2", locals={"y": "2", "x": "1"}, exact=True, func="middle", depth=1),
            At("c3", locals={"z": "3", "x": "1", "y": "2"}, exact=True, func="inner", depth=2),
            At("r4", value="6", depth=2),
        ),
        value="6",
        covers="nested functions reading free variables",
    ),
    Program(
        "lambda_sorted",
        src("""
            def f(words):
                return sorted(words, key=lambda w: len(w))
            """),
        "f(['ccc', 'a', 'bb'])",
        seq("c1 l2 c2 l2 r2 c2 l2 r2 c2 l2 r2 r2"),
        (
            At("c2", 0, {"w": "'ccc'"}, exact=True, func="<lambda>", depth=1),
            At("r2", 0, value="3"),
            At("c2", 2, {"w": "'bb'"}, exact=True),
        ),
        value="['a', 'bb', 'ccc']",
        covers="lambda as a sort key, called from a builtin",
    ),
    Program(
        "lambda_called",
        src("""
            def f():
                sq = lambda v: v * v
                return sq(3) + sq(4)
            """),
        "f()",
        seq("c1 l2 l3 c2 l2 r2 c2 l2 r2 r3"),
        (At("c2", 1, {"v": "4"}, exact=True, func="<lambda>"), At("r2", 1, value="16"), At("r3", value="25")),
        value="25",
        covers="lambda stored in a variable",
    ),
    Program(
        "decorated_function",
        src("""
            def trace_calls(fn):
                def wrapper(*args):
                    return fn(*args)
                return wrapper

            @trace_calls
            def add(a, b):
                return a + b
            """),
        "add(1, 2)",
        seq("c2 l3 c7 l8 r8 r3"),
        (
            At("c2", locals={"args": "(1, 2)"}, func="wrapper", depth=0),
            At("c7", locals={"a": "1", "b": "2"}, exact=True, func="add", depth=1),
        ),
        value="3",
        covers="decorated function: the call event points at the def line, not the decorator",
    ),
    Program(
        "decorated_multiple",
        src("""
            def deco(fn):
                return fn

            class Thing:
                @staticmethod
                @deco
                def make(
                    n,
                ):
                    return n + 1

            @deco
            class Marked:
                tag = 'm'

            def f():
                return Thing.make(1), Marked.tag
            """),
        "f()",
        seq("c16 l17 c7 l10 r10 r17"),
        (At("c7", locals={"n": "1"}, exact=True, func="make"),),
        value="(2, 'm')",
        covers="stacked decorators and a def spanning lines",
    ),
    # -- classes -----------------------------------------------------------------------------------
    Program(
        "class_methods",
        src("""
            class Counter:
                def __init__(self, start):
                    self.n = start

                def bump(self):
                    self.n += 1
                    return self.n

            def f():
                c = Counter(5)
                return c.bump()
            """),
        "f()",
        seq("c9 l10 c2 l3 r3 l11 c5 l6 l7 r7 r11"),
        (
            At("c2", locals={"start": "5"}, func="__init__", depth=1),
            At("r3", value="None"),
            At("c5", func="bump"),
            At("r7", value="6"),
        ),
        value="6",
        covers="__init__ and a method",
    ),
    Program(
        "property",
        src("""
            class Circle:
                def __init__(self, r):
                    self.r = r

                @property
                def diameter(self):
                    return 2 * self.r

            def f():
                c = Circle(3)
                return c.diameter
            """),
        "f()",
        seq("c9 l10 c2 l3 r3 l11 c6 l7 r7 r11"),
        (At("c6", func="diameter", depth=1), At("r7", value="6")),
        value="6",
        covers="property getter",
    ),
    Program(
        "property_setter",
        src("""
            class T:
                def __init__(self):
                    self._v = 0
                @property
                def v(self):
                    return self._v
                @v.setter
                def v(self, val):
                    self._v = val * 2

            def f():
                t = T()
                t.v = 5
                return t.v
            """),
        "f()",
        seq("c11 l12 c2 l3 r3 l13 c8 l9 r9 l14 c5 l6 r6 r14"),
        (At("c8", locals={"val": "5"}, func="v"), At("r9", value="None"), At("r6", value="10")),
        value="10",
        covers="property setter",
    ),
    Program(
        "classmethod_staticmethod",
        src("""
            class Temp:
                def __init__(self, c):
                    self.c = c

                @classmethod
                def from_f(cls, f):
                    return cls(Temp.to_c(f))

                @staticmethod
                def to_c(f):
                    return (f - 32) * 5 // 9

            def f():
                return Temp.from_f(212).c
            """),
        "f()",
        seq("c13 l14 c6 l7 c10 l11 r11 c2 l3 r3 r7 r14"),
        (
            At("c6", locals={"f": "212"}, func="from_f", depth=1),
            At("c10", locals={"f": "212"}, exact=True, func="to_c", depth=2),
            At("r11", value="100"),
            At("c2", locals={"c": "100"}, depth=2),
        ),
        value="100",
        covers="classmethod and staticmethod",
    ),
    Program(
        "inheritance_super",
        src("""
            class Animal:
                def __init__(self, name):
                    self.name = name

                def speak(self):
                    return self.name + ' makes a sound'

            class Dog(Animal):
                def speak(self):
                    base = super().speak()
                    return base + ' (woof)'

            def f():
                return Dog('rex').speak()
            """),
        "f()",
        seq("c13 l14 c2 l3 r3 c9 l10 c5 l6 r6 l11 r11 r14"),
        (
            At("c2", locals={"name": "'rex'"}, func="__init__", depth=1),
            At("c5", func="speak", depth=2),
            At("r6", value="'rex makes a sound'", depth=2),
            At("l11", locals={"base": "'rex makes a sound'"}),
        ),
        value="'rex makes a sound (woof)'",
        covers="inheritance and super()",
    ),
    Program(
        "repr_class",
        src("""
            class Point:
                def __init__(self, x, y):
                    self.x = x
                    self.y = y

                def __repr__(self):
                    return f'Point({self.x}, {self.y})'

            def f():
                p = Point(1, 2)
                q = p
                return q
            """),
        "f()",
        seq("c9 l10 c2 l3 l4 r4 l11 l12 r12"),
        (
            At("c2", locals={"x": "1", "y": "2"}),
            At("l11", locals={"p": "Point(1, 2)"}, exact=True),
            At("l12", locals={"p": "Point(1, 2)", "q": "Point(1, 2)"}, exact=True),
            At("r12", value="Point(1, 2)"),
        ),
        value="Point(1, 2)",
        covers="a class with __repr__: rendering calls it without tracing it",
    ),
    Program(
        "init_raises",
        src("""
            class Bad:
                def __init__(self):
                    raise TypeError('no')

            def f():
                try:
                    Bad()
                except TypeError as e:
                    return str(e)
            """),
        "f()",
        seq("c5 l6 l7 c2 l3 e3 r3 e7 l8 l9 r9"),
        (
            At("e3", value="TypeError('no')", func="__init__", depth=1),
            At("r3", value=None),
            At("e7", value="TypeError('no')", depth=0),
        ),
        value="'no'",
        covers="exception in a constructor",
    ),
    Program(
        "class_body_module",
        src("""
            class Box:
                size = 2

                def area(self):
                    return self.size ** 2

            b = Box()
            a = b.area()
            """),
        None,
        seq("c1 l1 c1 l1 l2 l4 r4 l7 l8 c4 l5 r5 r8"),
        (
            At("c1", 1, {}, exact=True, func="Box", depth=1),
            At("l4", locals={"size": "2"}, exact=True, func="Box"),
            At("c4", func="area", depth=1),
            At("r5", value="4"),
        ),
        value="None",
        covers="a class body is a frame of its own",
    ),
    # -- comprehensions ------------------------------------------------------------------------
    Program(
        "list_comprehension",
        src("""
            def f(xs):
                ys = [x * 2 for x in xs]
                return ys
            """),
        "f([1, 2])",
        {"3.10-3.11": seq("c1 l2 c2 l2 l2 l2 r2 l3 r3"), "3.12+": seq("c1 l2 l2 l2 l3 r3")},
        (
            At("c2", 0, {}, exact=True, func="<listcomp>", depth=1, versions="3.10-3.11"),
            At("l2", 2, {"x": "1"}, exact=True, versions="3.10-3.11"),
            At("r2", value="[2, 4]", versions="3.10-3.11"),
            At("l2", 1, {"xs": "[1, 2]", "x": "1"}, exact=True, func="f", depth=0, versions="3.12+"),
            At("l2", 2, {"xs": "[1, 2]", "x": "2"}, exact=True, versions="3.12+"),
            At("l3", locals={"xs": "[1, 2]", "ys": "[2, 4]"}, exact=True),
        ),
        value="[2, 4]",
        covers="list comprehension (own frame before 3.12, inlined from 3.12)",
    ),
    Program(
        "dict_set_comprehension",
        src("""
            def f(xs):
                d = {x: x * x for x in xs}
                s = {x % 2 for x in xs}
                return d, s
            """),
        "f([1, 2])",
        {
            "3.10-3.11": seq("c1 l2 c2 l2 l2 l2 r2 l3 c3 l3 l3 l3 r3 l4 r4"),
            "3.12+": seq("c1 l2 l2 l2 l3 l3 l3 l4 r4"),
        },
        (
            At("c2", func="<dictcomp>", depth=1, versions="3.10-3.11"),
            At("c3", func="<setcomp>", depth=1, versions="3.10-3.11"),
            At("r2", value="{1: 1, 2: 4}", versions="3.10-3.11"),
            At("l3", 2, {"xs": "[1, 2]", "d": "{1: 1, 2: 4}", "x": "2"}, exact=True, versions="3.12+"),
            At("l4", locals={"xs": "[1, 2]", "d": "{1: 1, 2: 4}", "s": "{0, 1}"}, exact=True),
        ),
        value="({1: 1, 2: 4}, {0, 1})",
        covers="dict and set comprehensions",
    ),
    Program(
        "nested_comprehension_in_genexpr",
        src("""
            def f(rows):
                return list(sum([c for c in r]) for r in rows)
            """),
        "f([[1], [2, 3]])",
        {
            "3.10-3.11": seq("c1 l2 c2 l2 c2 l2 l2 r2 r2 c2 l2 c2 l2 l2 l2 r2 r2 c2 l2 r2 r2"),
            "3.12+": seq("c1 l2 c2 l2 l2 r2 c2 l2 l2 l2 r2 c2 l2 r2 r2"),
        },
        (
            At("c2", 1, func="<listcomp>", depth=2, versions="3.10-3.11"),
            At("l2", 2, {"r": "[1]", "c": "1"}, exact=True, func="<genexpr>", depth=1, versions="3.12+"),
            At("r2", -1, value="[1, 5]", depth=0),
        ),
        value="[1, 5]",
        covers="a list comprehension inside a generator expression",
    ),
    Program(
        "list_comp_with_call",
        src("""
            def sq(v):
                return v * v

            def f():
                return [sq(i) for i in range(2)]
            """),
        "f()",
        {
            "3.10-3.11": seq("c4 l5 c5 l5 c1 l2 r2 l5 c1 l2 r2 l5 r5 r5"),
            "3.12+": seq("c4 l5 c1 l2 r2 l5 c1 l2 r2 l5 r5"),
        },
        (
            At("c1", 1, {"v": "1"}, exact=True, func="sq", depth=2, versions="3.10-3.11"),
            At("c1", 1, {"v": "1"}, exact=True, func="sq", depth=1, versions="3.12+"),
        ),
        value="[0, 1]",
        covers="calls made from inside a comprehension",
    ),
    Program(
        "comprehension_exception",
        src("""
            def f(xs):
                try:
                    return [10 // x for x in xs]
                except ZeroDivisionError:
                    return 'div0'
            """),
        "f([5, 0])",
        {
            "3.10-3.11": seq("c1 l2 l3 c3 l3 l3 e3 r3 e3 l4 l5 r5"),
            "3.12+": seq("c1 l2 l3 l3 e3 l3 l4 l5 r5"),
        },
        (
            At("e3", 0, value=INT_ZERO_DIV),
            At("r3", value=None, func="<listcomp>", versions="3.10-3.11"),
            At("l4", locals={"xs": "[5, 0]"}, exact=True),
        ),
        value="'div0'",
        covers="exception inside a comprehension",
    ),
    Program(
        "module_comprehension",
        src("""
            xs = [1, 2]
            ys = [x + 1 for x in xs]
            class C:
                zs = [y * 2 for y in ys]
            """),
        None,
        {
            "3.10-3.11": seq("c1 l1 l2 c2 l2 l2 l2 r2 l3 c3 l3 l4 c4 l4 l4 l4 r4 r4 r3"),
            "3.12+": seq("c1 l1 l2 l2 l2 l3 c3 l3 l4 l4 l4 r4 r3"),
        },
        (
            At("l2", 1, {"xs": "[1, 2]", "x": "1"}, exact=True, versions="3.12+"),
            At("l3", locals={"xs": "[1, 2]", "ys": "[2, 3]"}, exact=True),
        ),
        value="None",
        covers="comprehensions at module level and in a class body",
    ),
    Program(
        "exception_in_genexpr",
        src("""
            def f():
                g = (1 // x for x in [1, 0])
                try:
                    return list(g)
                except ZeroDivisionError:
                    return 'z'
            """),
        "f()",
        seq("c1 l2 l3 l4 c2 l2 r2 c2 l2 e2 r2 e4 l5 l6 r6"),
        (
            At("e2", value=INT_ZERO_DIV, depth=1),
            At("r2", 1, value=None, depth=1),
            At("e4", value=INT_ZERO_DIV, depth=0),
        ),
        value="'z'",
        covers="exception raised in a generator expression",
    ),
    # -- exceptions ------------------------------------------------------------------------------
    Program(
        "except_same_frame",
        src("""
            def f(x):
                try:
                    y = 1 / x
                except ZeroDivisionError:
                    y = -1
                return y
            """),
        "f(0)",
        seq("c1 l2 l3 e3 l4 l5 l6 r6"),
        (
            At("e3", value=ZERO_DIV, depth=0),
            At("l4", locals={"x": "0"}, exact=True),
            At("l6", locals={"x": "0", "y": "-1"}, exact=True),
        ),
        value="-1",
        covers="exception caught in the frame that raised it",
    ),
    Program(
        "except_in_caller",
        src("""
            def div(a, b):
                return a / b

            def f():
                try:
                    return div(1, 0)
                except ZeroDivisionError as e:
                    return str(e)
            """),
        "f()",
        seq("c4 l5 l6 c1 l2 e2 r2 e6 l7 l8 r8"),
        (
            At("e2", value=ZERO_DIV, depth=1, func="div"),
            At("r2", value=None, depth=1),
            At("e6", value=ZERO_DIV, depth=0, func="f"),
            At("l8", locals={"e": ZERO_DIV}, exact=True),
        ),
        value="'division by zero'",
        covers="exception caught in the caller",
    ),
    Program(
        "exception_two_frames_up",
        src("""
            def a():
                return b()

            def b():
                raise RuntimeError('deep')

            def f():
                try:
                    a()
                except RuntimeError:
                    return 'caught'
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 c4 l5 e5 r5 e2 r2 e9 l10 l11 r11"),
        (
            At("e5", value="RuntimeError('deep')", depth=2),
            At("e2", depth=1, func="a"),
            At("r2", value=None, depth=1),
            At("e9", depth=0),
        ),
        value="'caught'",
        covers="exception propagating through two frames",
    ),
    Program(
        "reraise",
        src("""
            def g():
                try:
                    raise ValueError('bad')
                except ValueError:
                    raise

            def f():
                try:
                    g()
                except ValueError as e:
                    return repr(e)
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 l3 e3 l4 l5 r5 e9 l10 l11 r11"),
        (
            At("e3", value="ValueError('bad')", depth=1),
            At("r5", value=None, depth=1),
            At("e9", value="ValueError('bad')", depth=0),
        ),
        value="\"ValueError('bad')\"",
        covers="bare raise re-raising",
    ),
    Program(
        "raise_from",
        src("""
            def f():
                try:
                    int('z')
                except ValueError as e:
                    raise KeyError('k') from e
            """),
        "f()",
        seq("c1 l2 l3 e3 l4 l5 e5 r5"),
        (
            At("e3", value="ValueError(\"invalid literal for int() with base 10: 'z'\")"),
            At("l5", locals={"e": "ValueError(\"invalid literal for int() with base 10: 'z'\")"}, exact=True),
            At("e5", value="KeyError('k')"),
            At("r5", value=None),
        ),
        status="raised",
        value="KeyError('k')",
        covers="raise ... from, uncaught",
    ),
    Program(
        "finally_on_return",
        src("""
            def f():
                log = []
                try:
                    log.append('try')
                    return log
                finally:
                    log.append('finally')
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 l7 r7"),
        (At("l7", locals={"log": "['try']"}, exact=True), At("r7", value="['try', 'finally']")),
        value="['try', 'finally']",
        covers="finally running on return",
    ),
    Program(
        "return_in_finally",
        src("""
            def f():
                try:
                    raise KeyError('lost')
                finally:
                    return 'finally wins'
            """),
        "f()",
        seq("c1 l2 l3 e3 l5 r5"),
        (At("e3", value="KeyError('lost')"), At("r5", value="'finally wins'")),
        value="'finally wins'",
        covers="return in finally swallowing an exception",
    ),
    Program(
        "try_else_finally",
        src("""
            def f(x):
                try:
                    y = x + 1
                except TypeError:
                    y = 0
                else:
                    y *= 2
                finally:
                    y += 1
                return y
            """),
        "f(1)",
        seq("c1 l2 l3 l7 l9 l10 r10"),
        (
            At("l7", locals={"x": "1", "y": "2"}, exact=True),
            At("l9", locals={"y": "4"}),
            At("l10", locals={"y": "5"}),
        ),
        value="5",
        covers="try/except/else/finally without an exception",
    ),
    Program(
        "continue_in_finally_loop",
        src("""
            def f():
                out = []
                for i in range(3):
                    try:
                        if i == 1:
                            raise KeyError(i)
                        out.append(i)
                    except KeyError:
                        out.append('k')
                        continue
                    finally:
                        out.append('f')
                return out
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 l7 l12 l3 l4 l5 l6 e6 l8 l9 l10 l12 l3 l4 l5 l7 l12 l3 l13 r13"),
        (At("e6", value="KeyError(1)"), At("l12", 1, {"out": "[0, 'f', 'k']", "i": "1"}, exact=True)),
        value="[0, 'f', 'k', 'f', 2, 'f']",
        covers="continue in an except block with a finally, inside a loop",
    ),
    Program(
        "try_in_loop_break",
        src("""
            def f():
                for i in range(5):
                    try:
                        if i == 1:
                            break
                    finally:
                        pass
                return i
            """),
        "f()",
        seq("c1 l2 l3 l4 l7 l2 l3 l4 l5 l7 l8 r8"),
        (At("l7", 1, {"i": "1"}, exact=True), At("l8", locals={"i": "1"}, exact=True)),
        value="1",
        covers="break through a finally",
    ),
    Program(
        "assert_failure",
        src("""
            def f(x):
                assert x > 0, 'x must be positive'
                return x
            """),
        "f(-1)",
        seq("c1 l2 e2 r2"),
        (At("e2", value="AssertionError('x must be positive')"), At("r2", value=None)),
        status="raised",
        value="AssertionError('x must be positive')",
        covers="failing assert",
    ),
    Program(
        "uncaught_exception",
        src("""
            def inner(d):
                return d['k']

            def f():
                x = inner({})
                return x
            """),
        "f()",
        seq("c4 l5 c1 l2 e2 r2 e5 r5"),
        (
            At("e2", value="KeyError('k')", depth=1),
            At("r2", value=None, depth=1),
            At("e5", value="KeyError('k')", depth=0),
            At("r5", value=None, depth=0),
        ),
        status="raised",
        value="KeyError('k')",
        covers="uncaught exception: outcome raised, unwinding returns have no value",
    ),
    Program(
        "uncaught_module_level",
        src("""
            x = 1
            raise ValueError('boom')
            """),
        None,
        seq("c1 l1 l2 e2 r2"),
        (
            At("l2", locals={"x": "1"}, exact=True),
            At("e2", value="ValueError('boom')", func="<module>"),
            At("r2", value=None, depth=0),
        ),
        status="raised",
        value="ValueError('boom')",
        covers="uncaught exception in a script",
    ),
    Program(
        "sys_exit",
        src("""
            import sys

            def f():
                print('bye')
                sys.exit(3)
                return 1
            """),
        "f()",
        seq("c3 l4 l5 e5 r5"),
        (At("l5", stdout="bye\n"), At("e5", value="SystemExit(3)", stdout=None), At("r5", value=None)),
        status="raised",
        value="SystemExit(3)",
        stdout="bye\n",
        covers="sys.exit inside the program",
    ),
    Program(
        "input_eof",
        src("""
            def f():
                return input()
            """),
        "f()",
        seq("c1 l2 e2 r2"),
        (At("e2", value="EOFError('EOF when reading a line')"),),
        status="raised",
        value="EOFError('EOF when reading a line')",
        covers="input() with no stdin",
    ),
    # -- with blocks -------------------------------------------------------------------------
    Program(
        "with_context_manager",
        src("""
            class Managed:
                def __enter__(self):
                    print('enter')
                    return self

                def __exit__(self, *exc):
                    print('exit')
                    return False

            def f():
                with Managed() as m:
                    x = 1
                return x
            """),
        "f()",
        seq("c10 l11 c2 l3 l4 r4 l12 l11 c6 l7 l8 r8 l13 r13"),
        (
            At("l4", stdout="enter\n"),
            At("r4", stdout=None),
            At("l11", 1, {"x": "1"}),
            At("c6", locals={"exc": "(None, None, None)"}, func="__exit__", depth=1),
            At("l8", stdout="exit\n"),
            At("r8", value="False"),
        ),
        value="1",
        stdout="enter\nexit\n",
        covers="user-defined context manager",
    ),
    Program(
        "with_suppressing_exit",
        src("""
            class Swallow:
                def __enter__(self):
                    return self

                def __exit__(self, exc_type, exc, tb):
                    return exc_type is ValueError

            def f():
                with Swallow():
                    raise ValueError('x')
                return 'after'
            """),
        "f()",
        seq("c8 l9 c2 l3 r3 l10 e10 l9 c5 l6 r6 l11 r11"),
        (
            At("e10", value="ValueError('x')"),
            At("c5", locals={"exc_type": "<class 'ValueError'>", "exc": "ValueError('x')"}, func="__exit__"),
            At("r6", value="True"),
        ),
        value="'after'",
        covers="__exit__ suppressing an exception",
    ),
    Program(
        "with_propagates",
        src("""
            class CM:
                def __enter__(self):
                    return 1
                def __exit__(self, *a):
                    return None

            def f():
                with CM() as v:
                    raise ValueError(v)
            """),
        "f()",
        seq("c7 l8 c2 l3 r3 l9 e9 l8 c4 l5 r5 r9"),
        (At("l9", locals={"v": "1"}, exact=True), At("r5", value="None"), At("r9", value=None, depth=0)),
        status="raised",
        value="ValueError(1)",
        covers="exception leaving a with block",
    ),
    Program(
        "contextlib_suppress",
        src("""
            import contextlib

            def f():
                with contextlib.suppress(KeyError):
                    d = {}
                    d['missing']
                return 'ok'
            """),
        "f()",
        seq("c3 l4 l5 l6 e6 l4 l7 r7"),
        (At("e6", value="KeyError('missing')"), At("l4", 1, {"d": "{}"}, exact=True)),
        value="'ok'",
        covers="contextlib.suppress (library __exit__ not stepped into)",
    ),
    # -- loops and control flow ------------------------------------------------------------------
    Program(
        "loop_break_continue_else",
        src("""
            def f(xs):
                out = []
                for x in xs:
                    if x == 2:
                        continue
                    if x == 4:
                        break
                    out.append(x)
                else:
                    out.append('no break')
                for y in []:
                    pass
                else:
                    out.append('empty')
                return out
            """),
        "f([1, 2, 3, 4])",
        seq("c1 l2 l3 l4 l6 l8 l3 l4 l5 l3 l4 l6 l8 l3 l4 l6 l7 l11 l14 l15 r15"),
        (
            At("l5", locals={"x": "2", "out": "[1]"}),
            At("l7", locals={"x": "4", "out": "[1, 3]"}),
            At("l14", locals={"out": "[1, 3]"}, absent=("y",)),
        ),
        value="[1, 3, 'empty']",
        covers="for with break, continue and else",
    ),
    Program(
        "while_loop",
        src("""
            def f(n):
                i = 0
                s = 0
                while i < n:
                    s += i
                    i += 1
                return s
            """),
        "f(3)",
        seq("c1 l2 l3 l4 l5 l6 l4 l5 l6 l4 l5 l6 l4 l7 r7"),
        (At("l2", locals={"n": "3"}, exact=True), At("l4", 3, {"n": "3", "i": "3", "s": "3"}, exact=True)),
        value="3",
        covers="while loop",
    ),
    Program(
        "while_else",
        src("""
            def f(n):
                while n > 0:
                    n -= 1
                else:
                    n = 'done'
                return n
            """),
        "f(2)",
        seq("c1 l2 l3 l2 l3 l2 l5 l6 r6"),
        (At("l5", locals={"n": "0"}, exact=True), At("l6", locals={"n": "'done'"}, exact=True)),
        value="'done'",
        covers="while with else",
    ),
    Program(
        "one_line_loop",
        src("""
            def f():
                s = 0
                for i in range(3): s += i
                return s
            """),
        "f()",
        seq("c1 l2 l3 l3 l3 l3 l4 r4"),
        (
            At("l3", 0, {"s": "0"}, exact=True),
            At("l3", 1, {"s": "0", "i": "0"}, exact=True),
            At("l3", 3, {"s": "3", "i": "2"}, exact=True),
        ),
        value="3",
        covers="one-line for loop: a line event per iteration",
    ),
    Program(
        "while_one_line",
        src("""
            def f():
                n = 3
                while n: n -= 1
                return n
            """),
        "f()",
        seq("c1 l2 l3 l3 l3 l4 r4"),
        (At("l3", 1, {"n": "2"}, exact=True), At("l4", locals={"n": "0"}, exact=True)),
        value="0",
        covers="one-line while loop",
    ),
    Program(
        "early_return",
        src("""
            def find(xs, target):
                for i, x in enumerate(xs):
                    if x == target:
                        return i
                return -1
            """),
        "find([5, 6, 7], 6)",
        seq("c1 l2 l3 l2 l3 l4 r4"),
        (At("l4", locals={"i": "1", "x": "6"}), At("r4", value="1")),
        value="1",
        covers="early return from inside a loop",
    ),
    Program(
        "if_elif_else",
        src("""
            def f(x):
                if x < 0:
                    s = 'neg'
                elif x == 0:
                    s = 'zero'
                else:
                    s = 'pos'
                return s
            """),
        "f(0)",
        seq("c1 l2 l4 l5 l8 r8"),
        (At("l8", locals={"x": "0", "s": "'zero'"}, exact=True),),
        value="'zero'",
        covers="if/elif/else",
    ),
    Program(
        "match_statement",
        src("""
            def describe(p):
                match p:
                    case (0, 0):
                        return 'origin'
                    case (x, 0):
                        return f'x={x}'
                    case _:
                        return 'other'
            """),
        "describe((3, 0))",
        seq("c1 l2 l3 l5 l6 r6"),
        (At("l5", locals={"p": "(3, 0)"}, exact=True), At("l6", locals={"p": "(3, 0)", "x": "3"}, exact=True)),
        value="'x=3'",
        covers="match statement with capture patterns",
    ),
    # -- state -----------------------------------------------------------------------------------
    Program(
        "locals_before_line",
        src("""
            def f():
                a = 1
                a = a + 1
                b = a * 10
                return b
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 r5"),
        (
            At("c1", locals={}, exact=True),
            At("l2", locals={}, exact=True),
            At("l3", locals={"a": "1"}, exact=True),
            At("l4", locals={"a": "2"}, exact=True),
            At("l5", locals={"a": "2", "b": "20"}, exact=True),
            At("r5", value="20"),
        ),
        value="20",
        covers="locals are the state before the line runs",
    ),
    Program(
        "string_dict_mutation",
        src("""
            def f():
                s = 'ab'
                s += 'c'
                d = {'a': 1}
                d['b'] = 2
                d['a'] += 10
                return s, d
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 l6 l7 r7"),
        (
            At("l3", locals={"s": "'ab'"}, exact=True),
            At("l4", locals={"s": "'abc'"}, exact=True),
            At("l6", locals={"d": "{'a': 1, 'b': 2}"}),
            At("l7", locals={"s": "'abc'", "d": "{'a': 11, 'b': 2}"}, exact=True),
        ),
        value="('abc', {'a': 11, 'b': 2})",
        covers="string and dict mutation",
    ),
    Program(
        "global_variable",
        src("""
            counter = 0

            def bump():
                global counter
                counter += 1
                return counter

            def f():
                bump()
                return bump()
            """),
        "f()",
        seq("c8 l9 c3 l5 l6 r6 l10 c3 l5 l6 r6 r10"),
        (At("l5", 0, {}, exact=True), At("r6", 0, value="1"), At("r6", 1, value="2")),
        value="2",
        covers="global variables (not part of a function's locals)",
    ),
    Program(
        "del_variable",
        src("""
            def f():
                a = 1
                b = 2
                del a
                return b
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 r5"),
        (At("l4", locals={"a": "1", "b": "2"}, exact=True), At("l5", locals={"b": "2"}, exact=True)),
        value="2",
        covers="del of a local",
    ),
    Program(
        "walrus",
        src("""
            def f(xs):
                if (n := len(xs)) > 2:
                    return n
                return 0
            """),
        "f([1, 2, 3])",
        seq("c1 l2 l3 r3"),
        (At("l2", locals={"xs": "[1, 2, 3]"}, exact=True), At("l3", locals={"xs": "[1, 2, 3]", "n": "3"}, exact=True)),
        value="3",
        covers="assignment expression",
    ),
    Program(
        "fstrings",
        src("""
            def f(name, n):
                msg = f'{name}: {n:03d}'
                return f'<{msg!r}>'
            """),
        "f('id', 7)",
        seq("c1 l2 l3 r3"),
        (At("l3", locals={"name": "'id'", "n": "7", "msg": "'id: 007'"}, exact=True),),
        value="\"<'id: 007'>\"",
        covers="f-strings with format specs and conversions",
    ),
    Program(
        "unpacking",
        src("""
            def f():
                a, b = 1, 2
                a, b = b, a
                first, *rest = [1, 2, 3]
                (c, d), e = (3, 4), 5
                return a, b, first, rest, c, d, e
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 l6 r6"),
        (
            At("l3", locals={"a": "1", "b": "2"}, exact=True),
            At("l4", locals={"a": "2", "b": "1"}, exact=True),
            At("l5", locals={"first": "1", "rest": "[2, 3]"}),
            At("l6", locals={"c": "3", "d": "4", "e": "5"}),
        ),
        value="(2, 1, 1, [2, 3], 3, 4, 5)",
        covers="tuple, starred and nested unpacking, swap",
    ),
    Program(
        "default_and_keyword_args",
        src("""
            def greet(name, greeting='hi', *, punct='!'):
                return greeting + ' ' + name + punct

            def f():
                return greet('bo', punct='?')
            """),
        "f()",
        seq("c4 l5 c1 l2 r2 r5"),
        (At("c1", locals={"name": "'bo'", "greeting": "'hi'", "punct": "'?'"}, exact=True),),
        value="'hi bo?'",
        covers="default and keyword-only arguments",
    ),
    Program(
        "star_args_kwargs",
        src("""
            def g(*args, **kw):
                return len(args), sorted(kw)

            def f():
                return g(1, 2, a=3)
            """),
        "f()",
        seq("c4 l5 c1 l2 r2 r5"),
        (At("c1", locals={"args": "(1, 2)", "kw": "{'a': 3}"}, exact=True),),
        value="(2, ['a'])",
        covers="*args and **kwargs",
    ),
    Program(
        "pass_returns_none",
        src("""
            def f():
                pass
            """),
        "f()",
        seq("c1 l2 r2"),
        (At("r2", value="None"),),
        value="None",
        covers="an implicit return None has value 'None', not no value",
    ),
    Program(
        "docstring_function",
        src('''
            def f(x):
                """Double x."""
                return x * 2
            '''),
        "f(4)",
        seq("c1 l3 r3"),
        (At("l3", locals={"x": "4"}, exact=True),),
        value="8",
        covers="a docstring is not a line event",
    ),
    Program(
        "multiline_statement",
        src("""
            def f(a,
                  b):
                total = (a +
                         b)
                return total
            """),
        "f(1,\n 2)",
        seq("c1 l3 l4 l3 l5 r5"),
        (At("c1", locals={"a": "1", "b": "2"}, exact=True), At("l5", locals={"total": "3"})),
        value="3",
        covers="statements and signatures spanning lines",
    ),
    # -- entry and scripts -----------------------------------------------------------------------
    Program(
        "entry_expression_calls",
        src("""
            def inc(x):
                return x + 1
            """),
        "inc(inc(1))",
        seq("c1 l2 r2 c1 l2 r2"),
        (At("c1", 0, {"x": "1"}, depth=0), At("r2", 0, value="2"), At("c1", 1, {"x": "2"}, depth=0)),
        value="3",
        covers="an entry expression calling the program twice",
    ),
    Program(
        "entry_not_callable",
        src("""
            x = 5
            """),
        "x()",
        [],
        status="raised",
        value="TypeError(\"'int' object is not callable\")",
        covers="the entry itself fails: no events",
    ),
    Program(
        "module_script",
        src("""
            x = 1
            y = x + 1
            print(y)
            """),
        None,
        seq("c1 l1 l2 l3 r3"),
        (
            At("c1", locals={}, exact=True, func="<module>", depth=0),
            At("l3", locals={"x": "1", "y": "2"}, exact=True),
            At("r3", value="None", stdout="2\n"),
        ),
        value="None",
        stdout="2\n",
        covers="module-level script",
    ),
    Program(
        "module_script_calls",
        src("""
            def double(n):
                return n * 2

            result = double(4)
            print(result)
            """),
        None,
        seq("c1 l1 l4 c1 l2 r2 l5 r5"),
        (At("c1", 1, {"n": "4"}, exact=True, func="double", depth=1), At("l5", locals={"result": "8"})),
        value="None",
        stdout="8\n",
        covers="script calling its own function",
    ),
    Program(
        "module_script_comments",
        src("""
            # a comment first

            import math
            r = math.sqrt(16)
            if r > 3:
                r = int(r)
            """),
        None,
        seq("c3 l3 l4 l5 l6 r6"),
        (At("c3", func="<module>", depth=0), At("l6", locals={"r": "4.0"})),
        value="None",
        covers="the module's call event points at its first statement",
    ),
    Program(
        "module_main_guard",
        src("""
            def main():
                print('main ran')
                return 0

            if __name__ == '__main__':
                main()
            """),
        None,
        seq("c1 l1 l5 l6 c1 l2 l3 r3 r6"),
        (At("c1", 1, func="main", depth=1), At("l3", stdout="main ran\n")),
        value="None",
        stdout="main ran\n",
        covers="a script runs as __main__",
    ),
    Program(
        "module_level_loop",
        src("""
            total = 0
            for i in range(2):
                total += i
            print(total)
            """),
        None,
        seq("c1 l1 l2 l3 l2 l3 l2 l4 r4"),
        (At("l4", locals={"total": "1", "i": "1"}, exact=True),),
        value="None",
        stdout="1\n",
        covers="loop at module level",
    ),
    # -- output ----------------------------------------------------------------------------------
    Program(
        "printing",
        src("""
            def f():
                print('a')
                print('b', end='')
                x = 1
                print('c')
                return x
            """),
        "f()",
        seq("c1 l2 l3 l4 l5 l6 r6"),
        (
            At("l2", stdout=None),
            At("l3", stdout="a\n"),
            At("l4", stdout="b"),
            At("l5", stdout=None),
            At("l6", stdout="c\n"),
            At("r6", stdout=None),
        ),
        value="1",
        stdout="a\nbc\n",
        covers="stdout is attributed to the next event",
    ),
    Program(
        "print_in_callee",
        src("""
            def show(x):
                print('x =', x)

            def f():
                show(1)
                show(2)
                return None
            """),
        "f()",
        seq("c4 l5 c1 l2 r2 l6 c1 l2 r2 l7 r7"),
        (
            At("r2", 0, stdout="x = 1\n", depth=1),
            At("l6", stdout=None),
            At("r2", 1, stdout="x = 2\n"),
            At("r2", 1, value="None"),
        ),
        value="None",
        stdout="x = 1\nx = 2\n",
        covers="output printed in a callee lands on its return event",
    ),
    Program(
        "stderr_not_stdout",
        src("""
            import sys

            def f():
                print('err', file=sys.stderr)
                print('out')
                return 1
            """),
        "f()",
        seq("c3 l4 l5 l6 r6"),
        (At("l5", stdout=None), At("l6", stdout="out\n")),
        value="1",
        stdout="out\n",
        stderr="err\n",
        covers="stderr is not event stdout",
    ),
    # -- protocols and odd corners ------------------------------------------------------------
    Program(
        "iterator_protocol",
        src("""
            class Count:
                def __init__(self):
                    self.i = 0
                def __iter__(self):
                    return self
                def __next__(self):
                    if self.i >= 2:
                        raise StopIteration
                    self.i += 1
                    return self.i

            def f():
                return [v for v in Count()]
            """),
        "f()",
        {
            "3.10-3.11": seq(
                "c12 l13 c2 l3 r3 c4 l5 r5 c13 l13 c6 l7 l9 l10 r10 l13 c6 l7 l9 l10 r10 l13 c6 l7 l8 e8 r8 e13 r13 r13"
            ),
            "3.12+": seq("c12 l13 c2 l3 r3 c4 l5 r5 c6 l7 l9 l10 r10 l13 c6 l7 l9 l10 r10 l13 c6 l7 l8 e8 r8 e13 r13"),
        },
        (
            At("c6", 0, func="__next__"),
            At("r10", 1, value="2"),
            At("e8", value="StopIteration()"),
            At("r8", value=None),
            At("r13", -1, value="[1, 2]", depth=0),
        ),
        value="[1, 2]",
        covers="a class implementing __iter__/__next__, StopIteration ending a loop",
    ),
    Program(
        "getitem_protocol",
        src("""
            class Seq:
                def __getitem__(self, i):
                    if i > 1:
                        raise IndexError(i)
                    return i * 10

            def f():
                out = []
                for v in Seq():
                    out.append(v)
                return out
            """),
        "f()",
        seq("c7 l8 l9 c2 l3 l5 r5 l10 l9 c2 l3 l5 r5 l10 l9 c2 l3 l4 e4 r4 l11 r11"),
        (At("c2", 2, {"i": "2"}), At("e4", value="IndexError(2)"), At("r4", value=None, depth=1)),
        value="[0, 10]",
        covers="the old __getitem__ iteration protocol (IndexError swallowed in C)",
    ),
    Program(
        "hasattr_property",
        src("""
            class A:
                @property
                def x(self):
                    raise AttributeError('nope')

            def f():
                return hasattr(A(), 'x')
            """),
        "f()",
        seq("c6 l7 c3 l4 e4 r4 r7"),
        (At("c3", func="x", depth=1), At("e4", value="AttributeError('nope')"), At("r4", value=None)),
        value="False",
        covers="an exception swallowed by a builtin (hasattr)",
    ),
    Program(
        "sorted_key_raises",
        src("""
            def key(v):
                if v == 2:
                    raise ValueError(v)
                return v

            def f():
                try:
                    return sorted([1, 2], key=key)
                except ValueError:
                    return 'bad'
            """),
        "f()",
        seq("c6 l7 l8 c1 l2 l4 r4 c1 l2 l3 e3 r3 e8 l9 l10 r10"),
        (At("r4", value="1"), At("e3", value="ValueError(2)", depth=1), At("e8", value="ValueError(2)", depth=0)),
        value="'bad'",
        covers="an exception from a callback, through a builtin, into the caller",
    ),
    Program(
        "stopiteration_in_generator",
        src("""
            def gen():
                yield 1
                raise StopIteration

            def f():
                try:
                    return list(gen())
                except RuntimeError as e:
                    return str(e)
            """),
        "f()",
        seq("c5 l6 l7 c1 l2 r2 c1 l3 e3 r3 e7 l8 l9 r9"),
        (
            At("e3", value="StopIteration()", depth=1),
            At("r3", value=None),
            At("e7", value="RuntimeError('generator raised StopIteration')", depth=0),
        ),
        value="'generator raised StopIteration'",
        covers="StopIteration inside a generator becomes RuntimeError (PEP 479)",
    ),
    Program(
        "generator_close_runs_finally",
        src("""
            def gen():
                try:
                    yield 1
                finally:
                    print('cleanup')

            def f():
                g = gen()
                next(g)
                g.close()
                return 'closed'
            """),
        "f()",
        seq("c7 l8 l9 c1 l2 l3 r3 l10 c1 e3 l5 r5 l11 r11"),
        (At("e3", value="GeneratorExit()", depth=1), At("r5", value=None, stdout="cleanup\n", depth=1)),
        value="'closed'",
        stdout="cleanup\n",
        covers="close() runs a generator's finally, which re-raises GeneratorExit",
    ),
    Program(
        "with_in_generator",
        src("""
            class CM:
                def __enter__(self):
                    return self
                def __exit__(self, *a):
                    return False

            def gen():
                with CM():
                    yield 1
                    yield 2

            def f():
                return list(gen())
            """),
        "f()",
        seq("c12 l13 c7 l8 c2 l3 r3 l9 r9 c7 l10 r10 c7 l8 c4 l5 r5 r8 r13"),
        (At("r9", value="1"), At("r10", value="2"), At("r5", value="False"), At("r8", value="None", depth=1)),
        value="[1, 2]",
        covers="a with block spanning a generator's yields",
    ),
    Program(
        "closures_in_loop",
        src("""
            def f():
                fs = []
                for i in range(2):
                    fs.append(lambda i=i: i * 10)
                return [g() for g in fs]
            """),
        "f()",
        {
            "3.10-3.11": seq("c1 l2 l3 l4 l3 l4 l3 l5 c5 l5 c4 l4 r4 l5 c4 l4 r4 l5 r5 r5"),
            "3.12+": seq("c1 l2 l3 l4 l3 l4 l3 l5 c4 l4 r4 l5 c4 l4 r4 l5 r5"),
        },
        (At("c4", 0, {"i": "0"}, exact=True, func="<lambda>"), At("r4", 1, value="10")),
        value="[0, 10]",
        covers="lambdas with default arguments made in a loop",
    ),
    Program(
        "exception_context",
        src("""
            def f():
                try:
                    try:
                        1 / 0
                    except ZeroDivisionError:
                        {}['k']
                except KeyError as e:
                    return repr(e.__context__)
            """),
        "f()",
        seq("c1 l2 l3 l4 e4 l5 l6 e6 l7 l8 r8"),
        (
            At("e4", value=ZERO_DIV),
            At("e6", value="KeyError('k')"),
            At("l8", locals={"e": "KeyError('k')"}, exact=True),
        ),
        value="\"ZeroDivisionError('division by zero')\"",
        covers="an exception raised while handling another",
    ),
    Program(
        "except_star",
        src("""
            def f():
                try:
                    raise ExceptionGroup('g', [ValueError(1), KeyError(2)])
                except* ValueError:
                    a = 1
                except* KeyError:
                    b = 2
                return 'done'
            """),
        "f()",
        seq("c1 l2 l3 e3 l4 l5 l6 l7 l8 r8"),
        (At("e3", value_prefix="ExceptionGroup('g', ["), At("l8", locals={"a": "1", "b": "2"}, exact=True)),
        value="'done'",
        min_version=(3, 11),
        covers="except* with an exception group (3.11+)",
    ),
    # -- limits ----------------------------------------------------------------------------------
    Program(
        "step_limit",
        src("""
            def f():
                i = 0
                while True:
                    i += 1
            """),
        "f()",
        seq("c1 l2 l3 l4 l3 l4 l3"),
        (At("l3", 2, {"i": "2"}, exact=True),),
        status="step_limit",
        value=None,
        max_events=7,
        covers="max_events: exactly N events kept",
    ),
    Program(
        "step_limit_nested",
        src("""
            def spin(n):
                while True:
                    n += 1

            def f():
                print('start')
                spin(0)
            """),
        "f()",
        seq("c5 l6 l7 c1 l2 l3"),
        (At("l7", stdout="start\n"), At("l3", depth=1, func="spin")),
        status="step_limit",
        value=None,
        stdout="start\n",
        max_events=6,
        covers="step limit reached in a nested frame",
    ),
    Program(
        "step_limit_exact",
        src("""
            def f():
                a = 1
                return a
            """),
        "f()",
        seq("c1 l2 l3 r3"),
        (At("r3", value="1"),),
        value="1",
        max_events=4,
        covers="a run of exactly max_events events is not cut",
    ),
    Program(
        "output_limit",
        src("""
            def f():
                print('x' * 30)
                print('after')
            """),
        "f()",
        seq("c1 l2"),
        status="output_limit",
        value=None,
        stdout="x" * 10,
        max_output=10,
        covers="max_output: the run stops at the output cap",
    ),
    # -- trace integrity (issue 8) ---------------------------------------------------------
    Program(
        "surrogate_text",
        src("""
            import sys

            class Odd:
                def __repr__(self):
                    return 'odd\\udcff'

            def f():
                name = b'caf\\xff'.decode('utf-8', 'surrogateescape')
                odd = Odd()
                print('\\ud800', name)
                sys.stderr.write('\\udcff')
                return name
            """),
        "f()",
        seq("c7 l8 l9 l10 l11 l12 r12"),
        (
            At("l10", locals={"name": "'caf\\udcff'", "odd": "odd\\udcff"}),
            At("l11", stdout="\\ud800 caf\\udcff\n"),
        ),
        value="'caf\\udcff'",
        stdout="\\ud800 caf\\udcff\n",
        stderr="\\udcff",
        covers="lone surrogates printed, written to stderr and returned by a __repr__: the trace stays valid UTF-8",
    ),
    Program(
        "surrogate_exception",
        src("""
            def f():
                name = b'\\xff.txt'.decode('utf-8', 'surrogateescape')
                raise FileNotFoundError(name)
            """),
        "f()",
        seq("c1 l2 l3 e3 r3"),
        (At("e3", value="FileNotFoundError('\\udcff.txt')"),),
        status="raised",
        value="FileNotFoundError('\\udcff.txt')",
        covers="an exception message with a lone surrogate: its traceback in stderr stays valid UTF-8",
    ),
    Program(
        "huge_exception_message",
        src("""
            def f():
                raise ValueError('x' * 10_000_000)
            """),
        "f()",
        seq("c1 l2 e2 r2"),
        (At("e2", value="ValueError('" + "x" * 185 + "..."),),
        status="raised",
        value="ValueError('" + "x" * 185 + "...",
        max_output=300,
        detail="the traceback was cut to fit max_output",
        covers="a message of 10 MB: the value is capped while rendering, the traceback in stderr fits max_output",
    ),
    Program(
        "unhashable_metaclass",
        src("""
            class Meta(type):
                def __eq__(cls, other):
                    return cls is other

            class Foo(metaclass=Meta):
                def __repr__(self):
                    return 'Foo()'

            def f():
                items = [Foo(), Foo()]
                pair = (1, Foo())
                table = {1: Foo()}
                return items
            """),
        "f()",
        seq("c9 l10 l11 l12 l13 r13"),
        (At("l13", locals={"items": "[Foo(), Foo()]", "pair": "(1, Foo())", "table": "{1: Foo()}"}),),
        value="[Foo(), Foo()]",
        covers="instances of a class made unhashable by its metaclass's __eq__ render (no event is dropped)",
    ),
    Program(
        "rendering_runs_only_repr",
        src("""
            calls = []

            class Key:
                def __init__(self, i):
                    self.i = i
                def __hash__(self):
                    calls.append('hash')
                    return self.i
                def __eq__(self, other):
                    calls.append('eq')
                    return self.i == other.i
                def __repr__(self):
                    return f'K{self.i}'

            class Meta(type):
                def __hash__(cls):
                    calls.append('meta hash')
                    return 1
                def __eq__(cls, other):
                    calls.append('meta eq')
                    return cls is other

            class Counted(metaclass=Meta):
                def __repr__(self):
                    return 'C'

            table = {Key(i): i for i in range(100)}
            keys = set(table)
            objs = [Counted(), Counted()]
            calls.clear()

            def f():
                d = table
                s = keys
                o = objs
                return len(calls)
            """),
        "f()",
        seq("c32 l33 l34 l35 l36 r36"),
        (At("l36", locals={"o": "[C, C]"}),),
        value="0",
        covers="rendering a dict of 100 keys, a set and a list of instances of a metaclass calls no __hash__ or __eq__",
    ),
    Program(
        "deep_nesting",
        src("""
            deep = []
            for _ in range(100_000):
                deep = [deep]
            nest = {}
            for _ in range(100_000):
                nest = {'k': nest}

            def f():
                x = deep
                y = nest
                return 1
            """),
        "f()",
        seq("c8 l9 l10 l11 r11"),
        (At("l11", locals={"x": "[" * 197 + "...", "y": ("{'k': " * 40)[:197] + "..."}),),
        value="1",
        covers="a list and a dict nested 100,000 deep render in time bounded by the cap",
    ),
    Program(
        "empty_script",
        "",
        None,
        [],
        value="None",
        covers="an empty script: no events, a valid trace",
    ),
    Program(
        "comment_only_script",
        src("""
            # nothing to run here

            # only comments
            """),
        None,
        [],
        value="None",
        covers="a script of comments and blank lines: no events (CPython puts its code on line 0)",
    ),
    Program(
        "program_calls_settrace_none",
        src("""
            import sys

            def f():
                a = 1
                sys.settrace(None)
                b = 2
                return a + b
            """),
        "f()",
        seq("c3 l4 l5 l6 l7 r7"),
        value="3",
        backend_events={"settrace": seq("c3 l4 l5")},
        detail="the program turned tracing off at line 5 (sys.settrace); later events are missing",
        detail_backends=("settrace",),
        open_frames=True,
        backend_specific="sys.settrace(None) switches off the settrace backend only",
        covers="the program switches settrace off: the events before are kept, detail says so (not the recursion limit)",
    ),
    Program(
        "program_frees_monitoring_tool",
        src("""
            import sys

            def off():
                names = list(map(sys.monitoring.get_tool, range(6)))
                if 'cwm-tracer' in names:
                    sys.monitoring.free_tool_id(names.index('cwm-tracer'))

            def f():
                off()
                return 2
            """),
        "f()",
        seq("c8 l9 c3 l4 l5 l6 r6 l10 r10"),
        value="2",
        min_version=(3, 12),
        backend_events={"settrace": seq("c8 l9 c3 l4 l5 r5 l10 r10")},
        backend_specific="only the monitoring backend holds a sys.monitoring tool id",
        covers="the program frees the tracer's tool id (its events go on in 3.12, 3.13): no crash, no tool left",
    ),
    Program(
        "program_unregisters_monitoring",
        src("""
            import sys

            def off():
                names = list(map(sys.monitoring.get_tool, range(6)))
                if 'cwm-tracer' in names:
                    for event in (sys.monitoring.events.LINE, sys.monitoring.events.PY_RETURN):
                        sys.monitoring.register_callback(names.index('cwm-tracer'), event, None)

            def f():
                off()
                return 2
            """),
        "f()",
        seq("c9 l10 c3 l4 l5 l6 l7"),
        value="2",
        min_version=(3, 12),
        backend_events={"settrace": seq("c9 l10 c3 l4 l5 r5 l11 r11")},
        detail="the program turned tracing off at line 7 (sys.monitoring.register_callback)",
        detail_backends=("monitoring",),
        open_frames=True,
        backend_specific="unregistering sys.monitoring callbacks switches off the monitoring backend only",
        covers="the program unregisters the tracer's sys.monitoring callbacks: detail says the program did it",
    ),
]

BY_NAME: dict[str, Program] = {p.name: p for p in CATALOGUE}
assert len(BY_NAME) == len(CATALOGUE), "duplicate program names"


def mark_known_bugs(request: Any, bugs: list[str]) -> None:
    """Mark the running test xfail for known tracer bugs (unless CWM_FIDELITY_STRICT=1).

    The xfail is strict: a known bug that no longer shows (the test passes) fails
    the suite, so a fixed bug, or a :class:`Bug` whose versions or backends are
    wider than where it reproduces, is noticed and its entry narrowed or removed.
    Every bug in :data:`BUGS` reproduces deterministically where its entry says.
    """
    import os

    import pytest

    if bugs and os.environ.get("CWM_FIDELITY_STRICT") != "1":
        request.applymarker(pytest.mark.xfail(reason="known tracer bug: " + "; ".join(bugs), strict=True))
