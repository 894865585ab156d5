"""The recorder: runs one program under a tracer backend and builds its Trace.

This is the collector of the tracer (as ``collector.py`` is for coverage.py):
it compiles the program, owns the events, the renderer, the captured output
and the limits, and hands a backend the few hooks it calls
(:meth:`Recorder.call`, :meth:`line`, :meth:`ret`, :meth:`exception`).
The backends (``settrace_backend``, ``monitoring_backend``) only translate
their interpreter's events into those hooks, so both yield the same trace.

The recorder never raises into the program. To end a run at a limit it
raises :class:`TracerStop`, a ``BaseException`` the program did not ask for;
a sandbox that must also survive a program catching it passes ``on_stop``
(for instance, write the partial trace and ``os._exit``), and ``on_done``
to get the finished trace before anything of the program is freed.
"""

from __future__ import annotations

import ast
import io
import linecache
import platform
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from itertools import starmap
from operator import itemgetter
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .capture import Capture, cut_utf8, utf8_size
from .contract import CompilePart, Event, Outcome, Program, Status, Trace
from .render import DEFAULT_CAP, Renderer, unrenderable, valid_unicode
from .settrace_backend import INLINED_COMPREHENSIONS, SettraceBackend
from .types import UNSURE, UNWOUND, Tracer

_clock = time.perf_counter  # bound once: a program may replace time.perf_counter in its own run

# Bound here, not looked up in builtins at each call: a program may patch builtins.
# (mypy reads them as the builtins they are: bound to variables, they are no longer types)
if not TYPE_CHECKING:
    len, dict, zip, map, isinstance, type = len, dict, zip, map, isinstance, type  # noqa: A001

PROGRAM_FILENAME = "<program>"
PYTHON_VERSION = platform.python_version()  # once: a forked child would redo its regex work
ENTRY_FILENAME = "<entry>"
DEFAULT_MAX_EVENTS = 10_000
DEFAULT_MAX_OUTPUT = 1_000_000  # bytes (UTF-8) of stdout, and of stderr, kept
MEMORY_KEEP_EVENTS = 10_000  # events kept when the tracer runs out of memory
BACKENDS = ("auto", "settrace", "monitoring")
_IS_3_12 = sys.version_info[:2] == (3, 12)
HAS_MONITORING = hasattr(sys, "monitoring")  # once: a failed hasattr costs an exception
MONITORING_SINCE = (3, 12)  # the first Python with sys.monitoring, which the monitoring backend needs

_CO_NEWLOCALS = 0x0002
_STATE = itemgetter(5)  # a record's locals
# a trace switched off within this many frames of the recursion limit was switched off by
# CPython (a trace function it could not call), not by the program
_NEAR_LIMIT = 100
SETTRACE_OFF = "CPython switched settrace off near the recursion limit; later events are missing"


class ProgramError(ValueError):
    """The program or its entry cannot be run at all (bad syntax, bad entry).

    ``part`` says which did not compile (``"source"`` or ``"entry"``); a trace
    from the sandbox carries the same in ``Outcome.compile_error``.
    """

    def __init__(self, message: str, part: CompilePart) -> None:
        super().__init__(message)
        self.part: CompilePart = part


class TracerStop(BaseException):
    """Raised into the program to end a run at a limit."""


class CodeInfo:
    """What the hooks need to know about one code object of the program."""

    __slots__ = ("call_line", "filtered", "is_module", "name", "namespace")

    def __init__(self, code: CodeType, def_lines: dict[int, int]) -> None:
        self.name = name = code.co_name
        # module and class bodies hold dunders; 3.11 comprehensions hold ".0"
        self.filtered = not (code.co_flags & _CO_NEWLOCALS) or name[0] == "<"
        # a module or class body: its names live in a dict the program may fill with anything
        self.namespace = not (code.co_flags & _CO_NEWLOCALS)
        first = code.co_firstlineno
        self.is_module = name == "<module>"
        if self.is_module:
            first = min((ln for _, _, ln in code.co_lines() if ln), default=1)
        # a decorated def starts at its first decorator: point at the def line
        self.call_line = def_lines.get(first, first)


def program_codes(code: CodeType) -> list[CodeType]:
    """A code object and every code object nested in it."""
    found = [code]
    for const in code.co_consts:
        if isinstance(const, CodeType):
            found.extend(program_codes(const))
    return found


def _def_lines(tree: ast.AST) -> dict[int, int]:
    """First decorator line -> ``def``/``class`` line, for decorated definitions."""
    lines = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
            lines[min(d.lineno for d in node.decorator_list)] = node.lineno
    return lines


class Recorder:
    """Records one run of one program. Use :func:`tracer.record` for the one-call API."""

    def __init__(
        self,
        program: Program,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        cap: int = DEFAULT_CAP,
        max_output: int = DEFAULT_MAX_OUTPUT,
        backend: str = "auto",
        on_stop: Callable[[Trace], None] | None = None,
        on_done: Callable[[Trace], None] | None = None,
        reserve: int = 0,
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.program = program
        self.max_events = max_events
        self.max_output = max_output
        self.backend_name = resolve_backend(backend)
        self.on_stop = on_stop
        self.on_done = on_done
        self.raised_type: type[BaseException] | None = None  # what the program raised, if it did
        # a program whose source never names __hash__ defines no metaclass with one: the
        # renderer may hash the types of items (the fast way) without running program code
        self.renderer = Renderer(cap, hash_types="__hash__" not in program.source)
        self.render = self.renderer.render
        self.text = ["", *source_lines(program.source)]  # line number -> its text
        self.records: list[tuple[Any, ...]] = []  # events as tuples in Event field order, built at the end
        self.pending_out: list[str] = []
        self.depth = -1
        self.codes: dict[CodeType, CodeInfo] = {}
        self.status: Status | None = None
        self.detail = ""
        self.internal_errors: list[str] = []
        self.has_raw = False
        # released when memory runs out; bytes() is calloc'd, so holding it costs no writes
        self._reserve: bytes | None = bytes(reserve)
        self.dropped = 0  # events a tracer error kept out of the trace
        self.switched_off = ""  # how the program turned tracing off, said in the outcome's detail
        self._started = 0.0

    # -- compile ---------------------------------------------------------------
    def compile(self) -> tuple[CodeType, CodeType | None]:
        try:
            module = compile(self.program.source, PROGRAM_FILENAME, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise ProgramError(f"the program does not compile: {_syntax_message(exc)}", "source") from None
        entry = None
        if self.program.entry is not None:
            try:
                entry = compile(self.program.entry, ENTRY_FILENAME, "eval", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                raise ProgramError(
                    f"the entry {self.program.entry!r} is not a Python expression: {_syntax_message(exc)}", "entry"
                ) from None
        # only decorated definitions need the AST (to find their def line)
        def_lines = _def_lines(ast.parse(self.program.source)) if "@" in self.program.source else {}
        codes = program_codes(module)
        if entry is not None or (len(module.co_code) <= 8 and not ast.parse(self.program.source).body):
            # the module body runs before tracing starts; or it has no statement at all (an
            # empty or comment-only script, whose code CPython puts on line 0 or 1): no events
            del codes[0]
        for code in codes:
            self.codes[code] = CodeInfo(code, def_lines)
        return module, entry

    # -- run -------------------------------------------------------------------
    def run(self) -> Trace:
        module, entry = self.compile()
        self.backend: Tracer = _load_backend(self.backend_name)(self)
        backend = self.backend
        self.out = out = Capture(self, self.max_output, is_stdout=True)
        self.err = err = Capture(self, self.max_output, is_stdout=False)
        self._saved_streams = saved = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO()
        saved_filters = None
        if _IS_3_12:
            # CPython 3.12 warns when a tracer reads f_locals during an inlined comprehension
            saved_filters = warnings.filters[:]
            warnings.filterwarnings("ignore", "assigning None to unbound local", RuntimeWarning)
        namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        value: str | None = None
        self._started = _clock()
        try:
            try:
                if entry is None:
                    backend.start()
                    try:
                        exec(module, namespace)
                    finally:
                        backend.stop()
                    result = None
                else:
                    namespace["__name__"] = "program"  # imported, then called: no __main__ block
                    exec(module, namespace)
                    self.pending_out.clear()  # printed while importing: not any event's
                    backend.start()
                    try:
                        result = eval(entry, namespace)
                    finally:
                        backend.stop()
            except TracerStop:
                pass
            except BaseException as exc:  # noqa: BLE001 - whatever the program raises is its outcome
                if self.status is None:
                    self.status = "raised"
                    value = self.render_late(exc)
                    self.raised_type = type(exc)
                    room = self.max_output - err.size
                    text = _program_traceback(exc, self.program.source, room)
                    if utf8_size(text) > room:
                        text = cut_utf8(text, room)
                        self.detail = (self.detail + "; " if self.detail else "") + (
                            f"the traceback was cut to fit max_output ({self.max_output} bytes of stderr)"
                        )
                    err.parts.append(text)
                    err.size += utf8_size(text)
            else:
                if self.status is None:
                    self.status = "returned"
                    value = self.render_late(result)
        finally:
            sys.stdout, sys.stderr, sys.stdin = saved
            if saved_filters is not None:
                warnings.filters[:] = saved_filters  # type: ignore[index]  # a list, typed as a Sequence
        seconds = _clock() - self._started
        trace = self.build(value, out.text(), err.text(), seconds)
        if self.on_done is not None:
            # before the program's objects (its result, its globals) are freed:
            # a __del__ that never returns must not keep the trace from its reader
            self.on_done(trace)
        self.release()
        return trace

    def release(self) -> None:
        """Let go of the run: cut its reference cycles, and hand the captures back.

        The recorder, backend, captures and renderer point at each other, and
        the program may keep a capture (see ``_Capture.hand_back``). Once
        released, refcounting frees the run as soon as the caller drops the
        recorder; otherwise the cyclic collector would, later, in whatever
        code is running then.
        """
        self.backend.release()
        self.out.hand_back(self._saved_streams[0])
        self.err.hand_back(self._saved_streams[1])
        self.backend = self.out = self.err = None  # type: ignore[assignment]
        self.renderer.release()

    def render_late(self, value: Any) -> str:
        """Render once the run is over: at any depth, so a RecursionError is the value's own."""
        try:
            return self.renderer.render(value)
        except RecursionError as exc:  # nested deeper than the stack allows even here
            return unrenderable(value, exc, self.renderer.cap)

    def build(self, value: str | None, stdout: str, stderr: str, seconds: float) -> Trace:
        records = self.records
        if self.has_raw:  # events kept raw at the recursion limit: render them now
            records = self.settle_raw(records)
        # every string of the trace must encode as UTF-8. Rendered values are valid (see
        # render.py); what the program wrote and the names of a module's (or an injected)
        # variables may hold lone surrogates: one check of each in C, a fix only if needed
        try:
            names = "".join(set().union(*filter(None, map(_STATE, records))))  # each name once
        except TypeError:  # a name that is no str (the program wrote into locals())
            names = None
        if names is None or valid_unicode(names) is not names:
            records = [_valid_record(r) if r[5] else r for r in records]
        if not (valid_unicode(stdout) is stdout and valid_unicode(stderr) is stderr):
            stdout, stderr = valid_unicode(stdout), valid_unicode(stderr)
            records = [(*r[:7], valid_unicode(r[7])) if r[7] else r for r in records]
        events = list(starmap(Event, records))
        notes = [self.detail] if self.detail else []
        if self.switched_off:
            notes.append(self.switched_off)
        errors = self.internal_errors[:3]
        if self.dropped:
            errors.insert(0, f"{self.dropped} event{'s were' if self.dropped > 1 else ' was'} not recorded")
        if errors:
            notes.append("tracer errors: " + "; ".join(errors))
        detail = valid_unicode("; ".join(notes))
        outcome = Outcome(self.status or "returned", value, stdout, stderr, len(events), round(seconds, 6), detail)
        p = self.program
        program = Program(valid_unicode(p.id), p.source, p.entry, PYTHON_VERSION)  # source, entry: they compiled
        return Trace(program, events, outcome)

    def tracing_switched_off(self, how: str) -> None:
        """The backend found its tracing switched off by someone else: say who, and where.

        CPython drops a trace function it could not call (at the recursion limit): then
        the last event is that deep. Otherwise the program did it (``how``), at or just
        after the line of its last event.
        """
        last = self.records[-1] if self.records else None
        if how == "sys.settrace" and last is not None:
            frame: FrameType | None = sys._getframe()
            stack = 0
            while frame is not None:
                stack += 1
                frame = frame.f_back
            if stack + last[4] + _NEAR_LIMIT >= sys.getrecursionlimit():
                self.internal_errors.append(SETTRACE_OFF)
                return
        where = "" if last is None else f" at line {last[1]}" if last[0] == "line" else f" after line {last[1]}"
        self.switched_off = f"the program turned tracing off{where} ({how}); later events are missing"

    def stop(self, status: Status, detail: str) -> None:
        """End the run now with ``status`` (a limit was reached)."""
        if self.status is None:
            self.status = status
            self.detail = detail
            self.backend.halt()
            if self.on_stop is not None:
                self.on_stop(self.build(None, self.out.text(), self.err.text(), _clock() - self._started))
        raise TracerStop(detail)

    # -- hooks called by the backends -------------------------------------------
    def state(self, frame: FrameType, info: CodeInfo) -> dict[str, str]:
        """The rendered locals of ``frame`` (the backends inline the unfiltered case)."""
        render = self.render
        names = frame.f_locals
        if info.filtered:
            if info.is_module and names is not frame.f_globals:
                # 3.13: inside an inlined comprehension a module frame's f_locals
                # holds only the comprehension's variables
                names = {**frame.f_globals, **names}
            if info.namespace:  # a name the program put in globals() may be no str, or empty
                return {
                    k: render(v)
                    for k, v in names.items()
                    if type(k) is str and k[:1] != "." and not (k[:2] == "__" and k[-2:] == "__")
                }
            return {k: render(v) for k, v in names.items() if k[0] != "." and not (k[:2] == "__" and k[-2:] == "__")}
        if INLINED_COMPREHENSIONS:
            return {k: render(v) for k, v in names.items()}
        return dict(zip(names.keys(), map(render, names.values()), strict=True))

    # The four hooks: the backends inline their common paths and call these for
    # the rest (filtered frames, limits); they stay flat all the same.
    def call(self, frame: FrameType) -> None:
        records = self.records
        if len(records) >= self.max_events:
            self.stop("step_limit", f"stopped after {self.max_events} events (max_events)")
        info = self.codes[frame.f_code]
        state = self.state(frame, info)
        out = self.pending_out
        printed = "".join(out) if out else None  # out is cleared once the event is in
        depth = self.depth + 1  # set once the event is made (at the recursion limit, making it may fail)
        records.append(("call", info.call_line, self.text[info.call_line], info.name, depth, state, None, printed))
        if printed is not None:
            out.clear()
        self.depth = depth

    def line(self, frame: FrameType, line: int) -> None:
        records = self.records
        if len(records) >= self.max_events:
            self.stop("step_limit", f"stopped after {self.max_events} events (max_events)")
        info = self.codes[frame.f_code]
        state = self.state(frame, info)
        out = self.pending_out
        printed = "".join(out) if out else None  # out is cleared once the event is in
        records.append(("line", line, self.text[line], info.name, self.depth, state, None, printed))
        if printed is not None:
            out.clear()

    def ret(self, frame: FrameType, value: Any, unwound: bool) -> None:
        records = self.records
        if len(records) >= self.max_events:
            self.stop("step_limit", f"stopped after {self.max_events} events (max_events)")
        rendered = None if unwound else self.render(value)
        line = frame.f_lineno
        out = self.pending_out
        printed = "".join(out) if out else None  # out is cleared once the event is in
        name = self.codes[frame.f_code].name
        records.append(("return", line, self.text[line], name, self.depth, None, rendered, printed))
        if printed is not None:
            out.clear()
        self.depth -= 1

    def exception(self, frame: FrameType, exc: BaseException) -> None:
        if isinstance(exc, TracerStop):
            return
        records = self.records
        if len(records) >= self.max_events:
            self.stop("step_limit", f"stopped after {self.max_events} events (max_events)")
        line = frame.f_lineno
        name = self.codes[frame.f_code].name
        rendered = self.render(exc)
        out = self.pending_out
        printed = "".join(out) if out else None  # out is cleared once the event is in
        records.append(("exception", line, self.text[line], name, self.depth, None, rendered, printed))
        if printed is not None:
            out.clear()

    def settle_raw(self, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The records with each raw one (see ``types.UNWOUND``) rendered into a normal record."""
        render = self.render_late
        settled: list[tuple[Any, ...]] = []
        for record in records:
            kind, line, text, code, depth, state, value, printed = record
            if text is None:
                info = self.codes[code]
                if kind == "call":
                    line = info.call_line
                if state is not None:
                    state = {k: render(v) for k, v in state.items() if not (k[:2] == "__" and k[-2:] == "__")}
                if kind == "return" and type(value) is tuple and value and value[0] is UNSURE:
                    value = (
                        UNWOUND
                        if self.backend.unwinding(code, value[1], settled[-1] if settled else None, depth)
                        else None
                    )
                if kind in ("return", "exception"):
                    value = None if value is UNWOUND else render(value)
                record = (kind, line, self.text[line], info.name, depth, state, value, printed)
            settled.append(record)
        return settled

    def internal_error(self, exc: BaseException) -> None:
        """A hook failed: note it and go on, never raise into the program.

        Out of memory is the exception: the run stops (``memory_limit``) with
        the first events kept, using the memory held in reserve to write them.
        """
        if isinstance(exc, MemoryError):
            self._reserve = None
            kept = min(len(self.records), MEMORY_KEEP_EVENTS)
            del self.records[kept:]
            self.stop("memory_limit", f"the tracer ran out of memory; the first {kept} events are kept")
        self.dropped += 1  # the hook that failed had not recorded its event
        if len(self.internal_errors) < 10:
            self.internal_errors.append(f"{type(exc).__name__}: {exc}")


def resolve_backend(name: str) -> str:
    """Turn ``auto`` into a concrete backend name; check the interpreter has it."""
    if name not in BACKENDS:
        raise ValueError(f"unknown tracer backend {name!r} (choose from {', '.join(BACKENDS)})")
    if name == "auto":
        return "monitoring" if HAS_MONITORING else "settrace"
    if name == "monitoring" and not HAS_MONITORING:
        since = ".".join(map(str, MONITORING_SINCE))
        raise ValueError(f"the monitoring backend needs Python {since}+, this is {platform.python_version()}")
    return name


def available_backends() -> list[str]:
    return ["settrace", "monitoring"] if HAS_MONITORING else ["settrace"]


def _load_backend(name: str) -> type[Tracer]:
    if name == "monitoring":
        from .monitoring_backend import MonitoringBackend

        return MonitoringBackend
    return SettraceBackend


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{exc.msg}{where}"
    return str(exc)


def _valid_record(record: tuple[Any, ...]) -> tuple[Any, ...]:
    """``record`` with its variables' names valid Unicode; a name that is no str is no variable."""
    state = {valid_unicode(k): v for k, v in record[5].items() if type(k) is str}
    return (*record[:5], state, *record[6:])


_LINE_END = re.compile(r"\r\n|\r|\n")


def source_lines(source: str) -> list[str]:
    """The source's lines as Python numbers them: only ``\n``, ``\r\n`` and ``\r`` end a line
    (``str.splitlines`` also splits at U+2028, form feeds and other characters a string
    literal may hold, which would shift every line after them)."""
    lines = source.split("\n") if "\r" not in source else _LINE_END.split(source)  # the first: 5x faster
    if lines and lines[-1] == "" and len(lines) > 1:
        lines.pop()  # the newline that ends the last line
    return lines


def _program_traceback(exc: BaseException, source: str, room: int) -> str:
    """The traceback of the program's own frames, as Python would print it.

    A message longer than ``room`` characters (what stderr has left) is not
    formatted whole: its line is written from its first ``room`` characters.
    """
    linecache.cache[PROGRAM_FILENAME] = (
        len(source),
        None,
        [line + "\n" for line in source_lines(source)],
        PROGRAM_FILENAME,
    )
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in (PROGRAM_FILENAME, ENTRY_FILENAME)]
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - traceback writes its own placeholder then
        message = ""
    if type(message) is str and len(message) > room:
        name = type(exc).__qualname__
        module = type(exc).__module__
        if module not in ("builtins", "__main__"):  # as traceback names it
            name = f"{module}.{name}"
        text = f"{name}: {message[: max(room, 0)]}\n"
    else:
        text = "".join(traceback.format_exception_only(type(exc), exc))
    if not frames:
        return text
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text


def record(
    source: str | Program,
    entry: str | None = None,
    *,
    id: str = "program",  # noqa: A002 - the contract's field name
    max_events: int = DEFAULT_MAX_EVENTS,
    cap: int = DEFAULT_CAP,
    max_output: int = DEFAULT_MAX_OUTPUT,
    backend: str = "auto",
    on_stop: Callable[[Trace], None] | None = None,
) -> Trace:
    """Run ``source`` (calling ``entry`` if given) and return its trace.

    Raises :class:`ProgramError` when the source or the entry does not
    compile; anything the program itself does ends up in the trace's outcome.
    """
    program = source if isinstance(source, Program) else Program(id=id, source=source, entry=entry)
    recorder = Recorder(
        program, max_events=max_events, cap=cap, max_output=max_output, backend=backend, on_stop=on_stop
    )
    return recorder.run()
