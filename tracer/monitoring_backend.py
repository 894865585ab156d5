"""The ``sys.monitoring`` backend (Python 3.12+).

Local events are switched on only for the program's own code objects, so
library code runs at full speed. The mapping that makes this stream equal to
the settrace backend's (checked on CPython 3.12 and 3.13):

- ``call`` = PY_START, PY_RESUME or PY_THROW;
- ``return`` = PY_RETURN or PY_YIELD, and PY_UNWIND (an exception leaving the
  frame, which settrace reports as a return with no value);
- ``exception`` = RAISE, which also fires in each frame an exception
  propagates into;
- ``line`` = LINE, plus a line for a backward JUMP whose source and target
  are on the same line (settrace reports those, LINE does not: one-line loops
  and inlined comprehensions).

RAISE, PY_UNWIND and PY_THROW cannot be set per code object: they are global
and the callbacks ignore other code.
"""

from __future__ import annotations

import sys
from _thread import get_ident
from types import CodeType
from typing import TYPE_CHECKING, Any

from .types import UNWOUND

if TYPE_CHECKING:
    from .recorder import Recorder

_TOOL_NAME = "cwm-tracer"

if hasattr(sys, "monitoring"):
    _E = sys.monitoring.events
    # the events a callback is registered for, in the order start() registers them
    _CALLBACK_EVENTS = (
        _E.PY_START,
        _E.PY_RESUME,
        _E.PY_THROW,
        _E.PY_RETURN,
        _E.PY_YIELD,
        _E.PY_UNWIND,
        _E.RAISE,
        _E.STOP_ITERATION,
        _E.LINE,
        _E.JUMP,
    )
    _LOCAL_EVENTS = _E.PY_START | _E.PY_RESUME | _E.PY_RETURN | _E.PY_YIELD | _E.LINE | _E.JUMP | _E.STOP_ITERATION
    _GLOBAL_EVENTS = _E.RAISE | _E.PY_UNWIND | _E.PY_THROW  # these cannot be set per code object
    _DISABLE = sys.monitoring.DISABLE


class MonitoringBackend:
    """A :class:`~tracer.types.Tracer` over ``sys.monitoring`` (Python 3.12+)."""

    name = "monitoring"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.tool: int | None = None
        self._callbacks: tuple[Any, ...] = ()
        self._halted = False

    def start(self) -> None:
        mon = sys.monitoring  # type: ignore[attr-defined]
        self.tool = tool = _free_tool_id(mon)
        mon.use_tool_id(tool, _TOOL_NAME)
        # only what the callbacks use on every event is bound here (each name is a
        # cell made per run); the rare paths go through ``rec``
        rec = self.recorder
        codes = rec.codes
        records = rec.records
        text = rec.text
        render = rec.render
        out = rec.pending_out
        max_events = rec.max_events
        getframe = sys._getframe
        main = get_ident()
        line_tables: dict[CodeType, list[int]] = {}  # for JUMP: instruction index -> line, built on demand

        # PY_START, PY_RESUME, LINE and PY_RETURN come for every step of the program:
        # their callbacks inline the recorder's hooks (Recorder.call, line, ret), as the
        # settrace backend does, and fall back to them near a limit

        def on_start(code: CodeType, offset: int) -> None:
            if get_ident() != main:
                return
            frame = getframe(1)
            try:
                info = codes[code]
                if len(records) >= max_events or info.filtered:
                    rec.call(frame)
                else:
                    state = {k: render(v) for k, v in frame.f_locals.items()}
                    printed = "".join(out) if out else None  # out is cleared once the event is in
                    depth = rec.depth + 1
                    line_no = info.call_line
                    records.append(("call", line_no, text[line_no], info.name, depth, state, None, printed))
                    if printed is not None:
                        out.clear()
                    rec.depth = depth
            except RecursionError:  # no room to render or to call: a raw record (see types.UNWOUND)
                rec.has_raw = True
                rec.depth += 1
                records.append(("call", 0, None, code, rec.depth, frame.f_locals.copy(), None, None))
            except Exception as exc:  # noqa: BLE001 - never raise into the program
                rec.internal_error(exc)

        def on_throw(code: CodeType, offset: int, exc: BaseException) -> None:
            if code not in codes or get_ident() != main:
                return
            frame = getframe(1)
            try:
                rec.call(frame)
            except RecursionError:
                rec.has_raw = True
                rec.depth += 1
                records.append(("call", 0, None, code, rec.depth, frame.f_locals.copy(), None, None))
            except Exception as error:  # noqa: BLE001
                rec.internal_error(error)

        def on_return(code: CodeType, offset: int, value: Any) -> None:
            if get_ident() != main:
                return
            frame = getframe(1)
            try:
                if len(records) >= max_events:
                    rec.ret(frame, value, False)
                else:
                    rendered = render(value)
                    printed = "".join(out) if out else None
                    lineno = frame.f_lineno
                    records.append(
                        ("return", lineno, text[lineno], codes[code].name, rec.depth, None, rendered, printed)
                    )
                    if printed is not None:
                        out.clear()
                    rec.depth -= 1
            except RecursionError:
                rec.has_raw = True
                records.append(("return", frame.f_lineno, None, code, rec.depth, None, value, None))
                rec.depth -= 1
            except Exception as exc:  # noqa: BLE001
                rec.internal_error(exc)

        def on_unwind(code: CodeType, offset: int, exc: BaseException) -> None:
            if code not in codes or get_ident() != main:
                return
            frame = getframe(1)
            try:
                rec.ret(frame, None, True)
            except RecursionError:
                rec.has_raw = True
                records.append(("return", frame.f_lineno, None, code, rec.depth, None, UNWOUND, None))
                rec.depth -= 1
            except Exception as error:  # noqa: BLE001
                rec.internal_error(error)

        def on_raise(code: CodeType, offset: int, exc: Any) -> None:
            if code not in codes or get_ident() != main:
                return
            frame = getframe(1)
            try:
                rec.exception(frame, exc)
            except RecursionError:
                rec.has_raw = True
                records.append(("exception", frame.f_lineno, None, code, rec.depth, None, exc, None))
            except Exception as error:  # noqa: BLE001
                rec.internal_error(error)

        def on_line(code: CodeType, line_number: int) -> None:
            if get_ident() != main:
                return
            frame = getframe(1)
            try:
                if len(records) >= max_events:
                    rec.line(frame, line_number)  # it stops the run
                info = codes[code]
                if info.filtered:
                    state = rec.state(frame, info)
                else:
                    state = {k: render(v) for k, v in frame.f_locals.items()}
                printed = "".join(out) if out else None
                records.append(("line", line_number, text[line_number], info.name, rec.depth, state, None, printed))
                if printed is not None:
                    out.clear()
            except RecursionError:
                rec.has_raw = True
                records.append(("line", line_number, None, code, rec.depth, frame.f_locals.copy(), None, None))
            except Exception as exc:  # noqa: BLE001
                rec.internal_error(exc)

        def on_jump(code: CodeType, offset: int, destination: int) -> Any:
            if destination > offset:
                return _DISABLE
            lines = line_tables.get(code)
            if lines is None:  # the line of each instruction (0 where none), built here: no call
                lines = line_tables[code] = [0] * (len(code.co_code) // 2)
                for begin, end, line in code.co_lines():
                    for i in range(begin // 2, end // 2):
                        lines[i] = line or 0
            to_line = lines[destination // 2]
            if to_line != lines[offset // 2]:
                return _DISABLE  # LINE reports it
            if get_ident() != main:
                return None
            frame = getframe(1)
            try:
                rec.line(frame, to_line)
            except RecursionError:
                rec.has_raw = True
                records.append(("line", to_line, None, code, rec.depth, frame.f_locals.copy(), None, None))
            except Exception as error:  # noqa: BLE001
                rec.internal_error(error)
            return None

        register = mon.register_callback
        self._callbacks = callbacks = (
            on_start,
            on_start,
            on_throw,
            on_return,
            on_return,
            on_unwind,
            on_raise,
            on_raise,
            on_line,
            on_jump,
        )
        self._halted = False
        for event, callback in zip(_CALLBACK_EVENTS, callbacks, strict=True):
            register(tool, event, callback)
        for code in codes:
            mon.set_local_events(tool, code, _LOCAL_EVENTS)
        mon.set_events(tool, _GLOBAL_EVENTS)

    def halt(self) -> None:
        """Stop all events now (the run is being ended); ``stop`` still cleans up."""
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        self._halted = True
        if mon.get_tool(self.tool) != _TOOL_NAME:
            return  # the program freed it, or took it over: see stop
        mon.set_events(self.tool, 0)
        for code in self.recorder.codes:
            mon.set_local_events(self.tool, code, 0)

    def stop(self) -> None:
        tool = self.tool
        if tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        self.tool = None
        owner = mon.get_tool(tool)
        if owner is None:
            # the program freed the id; its events and callbacks go on all the same
            # (3.12, 3.13): take it back to switch them off
            mon.use_tool_id(tool, _TOOL_NAME)
        elif owner != _TOOL_NAME:
            # the program took the id over: what is set there is the program's now
            self.recorder.tracing_switched_off(f"sys.monitoring tool {tool} taken over as {owner!r}")
            return
        halted = self._halted  # the run was ended on purpose: what is switched off then is ours
        how = "" if halted else self._changed(mon, tool)
        self.tool = tool
        self.halt()
        self.tool = None
        register = mon.register_callback
        for event, callback in zip(_CALLBACK_EVENTS, self._callbacks, strict=True):
            found = register(tool, event, None)  # returns the one it replaces
            if found is not callback and not how and not halted:
                how = "sys.monitoring.register_callback"
        mon.free_tool_id(tool)
        if how:
            self.recorder.tracing_switched_off(how)

    def _changed(self, mon: Any, tool: int) -> str:
        """How the program changed this run's events ("" if it did not)."""
        if mon.get_events(tool) != _GLOBAL_EVENTS:
            return "sys.monitoring.set_events"
        if any(mon.get_local_events(tool, code) != _LOCAL_EVENTS for code in self.recorder.codes):
            return "sys.monitoring.set_local_events"
        return ""  # the callbacks are checked as stop unregisters them

    def unwinding(self, code: CodeType, lasti: int, last: tuple[Any, ...] | None, depth: int) -> bool:
        """Never asked: PY_UNWIND tells this backend at the event (its raw returns hold UNWOUND)."""
        return True

    def release(self) -> None:
        """After the run: let go of the callbacks (their closures refer to the recorder)."""
        self._callbacks = ()


def _free_tool_id(mon: Any) -> int:
    for tool in (mon.DEBUGGER_ID, mon.PROFILER_ID, mon.OPTIMIZER_ID, 3, 4):
        if mon.get_tool(tool) is None:
            return tool
    raise RuntimeError("no free sys.monitoring tool id (all are in use by other tools)")
