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

if TYPE_CHECKING:
    from .recorder import Recorder

_TOOL_NAME = "cwm-tracer"


class MonitoringBackend:
    name = "monitoring"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.tool: int | None = None

    def start(self) -> None:
        mon = sys.monitoring  # type: ignore[attr-defined]
        E = mon.events
        self.tool = tool = _free_tool_id(mon)
        mon.use_tool_id(tool, _TOOL_NAME)
        rec = self.recorder
        codes = rec.codes
        call, line, ret, exception = rec.call, rec.line, rec.ret, rec.exception
        internal_error = rec.internal_error
        getframe = sys._getframe
        disable = mon.DISABLE

        main = get_ident()

        raw_event = rec.raw_event
        lost = rec.lost_events  # a one-item list: incremented without a call

        def start(frame: Any) -> None:
            try:
                call(frame)
            except RecursionError:  # too deep to render: keep the raw values
                try:
                    raw_event("call", frame, 0)
                except RecursionError:
                    lost[0] += 1
                    rec.depth += 1  # the frame is open all the same
            except Exception as exc:  # noqa: BLE001 - never raise into the program
                internal_error(exc)

        def on_start(code: CodeType, offset: int) -> None:
            if get_ident() == main:
                start(getframe(1))

        def on_throw(code: CodeType, offset: int, exc: BaseException) -> None:
            if code in codes and get_ident() == main:
                start(getframe(1))

        def leave(frame: Any, value: Any, unwound: bool) -> None:
            try:
                ret(frame, value, unwound)
            except RecursionError:
                try:
                    raw_event("return", frame, frame.f_lineno, value, unwound)
                except RecursionError:
                    lost[0] += 1
                    rec.depth -= 1
            except Exception as exc:  # noqa: BLE001
                internal_error(exc)

        def on_return(code: CodeType, offset: int, value: Any) -> None:
            if get_ident() == main:
                leave(getframe(1), value, False)

        def on_unwind(code: CodeType, offset: int, exc: BaseException) -> None:
            if code in codes and get_ident() == main:
                leave(getframe(1), None, True)

        def on_raise(code: CodeType, offset: int, exc: Any) -> None:
            if code not in codes or get_ident() != main:
                return
            frame = getframe(1)
            try:
                exception(frame, exc)
            except RecursionError:
                try:
                    raw_event("exception", frame, frame.f_lineno, exc)
                except RecursionError:
                    lost[0] += 1
            except Exception as error:  # noqa: BLE001
                internal_error(error)

        def step(frame: Any, line_number: int) -> None:
            try:
                line(frame, line_number)
            except RecursionError:
                try:
                    raw_event("line", frame, line_number)
                except RecursionError:
                    lost[0] += 1
            except Exception as exc:  # noqa: BLE001
                internal_error(exc)

        def on_line(code: CodeType, line_number: int) -> None:
            if get_ident() == main:
                step(getframe(1), line_number)

        def on_jump(code: CodeType, offset: int, destination: int) -> Any:
            if destination > offset:
                return disable
            info = codes[code]
            to_line = info.line_at(code, destination)
            if to_line != info.line_at(code, offset):
                return disable  # LINE reports it
            if get_ident() == main:
                step(getframe(1), to_line)
            return None

        register = mon.register_callback
        register(tool, E.PY_START, on_start)
        register(tool, E.PY_RESUME, on_start)
        register(tool, E.PY_THROW, on_throw)
        register(tool, E.PY_RETURN, on_return)
        register(tool, E.PY_YIELD, on_return)
        register(tool, E.PY_UNWIND, on_unwind)
        register(tool, E.RAISE, on_raise)
        register(tool, E.STOP_ITERATION, on_raise)
        register(tool, E.LINE, on_line)
        register(tool, E.JUMP, on_jump)
        local = E.PY_START | E.PY_RESUME | E.PY_RETURN | E.PY_YIELD | E.LINE | E.JUMP | E.STOP_ITERATION
        for code in codes:
            mon.set_local_events(tool, code, local)
        mon.set_events(tool, E.RAISE | E.PY_UNWIND | E.PY_THROW)

    def halt(self) -> None:
        """Stop all events now (the run is being ended); ``stop`` still cleans up."""
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        mon.set_events(self.tool, 0)
        for code in self.recorder.codes:
            mon.set_local_events(self.tool, code, 0)

    def stop(self) -> None:
        if self.tool is None:
            return
        mon = sys.monitoring  # type: ignore[attr-defined]
        self.halt()
        for event in (
            mon.events.PY_START,
            mon.events.PY_RESUME,
            mon.events.PY_THROW,
            mon.events.PY_RETURN,
            mon.events.PY_YIELD,
            mon.events.PY_UNWIND,
            mon.events.RAISE,
            mon.events.STOP_ITERATION,
            mon.events.LINE,
            mon.events.JUMP,
        ):
            mon.register_callback(self.tool, event, None)
        mon.free_tool_id(self.tool)
        self.tool = None

    def release(self) -> None:
        """After the run: nothing holds it here once ``stop`` has unregistered the callbacks."""


def _free_tool_id(mon: Any) -> int:
    for tool in (mon.DEBUGGER_ID, mon.PROFILER_ID, mon.OPTIMIZER_ID, 3, 4):
        if mon.get_tool(tool) is None:
            return tool
    raise RuntimeError("no free sys.monitoring tool id (all are in use by other tools)")
