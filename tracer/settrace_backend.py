"""The ``sys.settrace`` backend (every Python version cwm supports).

Translates the interpreter's trace events for the program's own frames into
the recorder's hooks. Frames of other code get no local trace function, so
library and builtin internals are never stepped into.
"""

from __future__ import annotations

import dis
import sys
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .types import UNSURE

# 3.12+ inlines comprehensions (PEP 709): there a dict comprehension, which calls
# no function, is the fastest way to render a frame's locals; before, dict(zip(map))
INLINED_COMPREHENSIONS = sys.version_info >= (3, 12)

# the instructions a frame stops on when it returns or yields (3.13 reports a
# yield at the RESUME after it; 3.10 a ``yield from`` at the instruction before
# its YIELD_FROM)
_RETURN_OPS = frozenset(dis.opmap[n] for n in ("RETURN_VALUE", "RETURN_CONST") if n in dis.opmap)
_YIELD_OPS = frozenset(dis.opmap[n] for n in ("YIELD_VALUE", "RESUME", "YIELD_FROM") if n in dis.opmap)
_YIELD_FROM = dis.opmap.get("YIELD_FROM", -1)

if TYPE_CHECKING:
    from .recorder import Recorder


class SettraceBackend:
    """A :class:`~tracer.types.Tracer` over ``sys.settrace``."""

    name = "settrace"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._saved: Any = None
        self._hook: Any = None
        self._local: Any = None
        self._halted = False

    def start(self) -> None:
        # only what the hot paths use is bound here (each name is a cell made per run);
        # the rare paths go through ``rec``
        rec = self.recorder
        codes = rec.codes
        records = rec.records
        text = rec.text
        render = rec.render
        out = rec.pending_out
        max_events = rec.max_events
        unwinding = self.unwinding

        def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
            try:
                if event == "line":
                    # Recorder.line, inlined: the hottest path of this backend
                    if len(records) >= max_events:
                        rec.line(frame, frame.f_lineno)  # it stops the run
                    info = codes[frame.f_code]
                    if info.filtered:
                        state = rec.state(frame, info)
                    else:
                        names = frame.f_locals
                        if INLINED_COMPREHENSIONS:
                            state = {k: render(v) for k, v in names.items()}
                        else:
                            state = dict(zip(names.keys(), map(render, names.values()), strict=True))
                    printed = "".join(out) if out else None  # out is cleared once the event is in
                    lineno = frame.f_lineno
                    records.append(("line", lineno, text[lineno], info.name, rec.depth, state, None, printed))
                    if printed is not None:
                        out.clear()
                elif event == "return":
                    if len(records) >= max_events or arg is None:
                        rec.ret(
                            frame,
                            arg,
                            arg is None
                            and unwinding(frame.f_code, frame.f_lasti, records[-1] if records else None, rec.depth),
                        )
                    else:  # Recorder.ret, inlined
                        printed = "".join(out) if out else None  # out is cleared once the event is in
                        lineno = frame.f_lineno
                        name = codes[frame.f_code].name
                        records.append(("return", lineno, text[lineno], name, rec.depth, None, render(arg), printed))
                        if printed is not None:
                            out.clear()
                        rec.depth -= 1
                elif event == "exception":
                    rec.exception(frame, arg[1])
            except RecursionError:  # no room to render or to call: a raw record (see types.UNWOUND)
                if rec is None:  # released: see release()
                    return None
                rec.has_raw = True
                if event == "line":
                    records.append(
                        ("line", frame.f_lineno, None, frame.f_code, rec.depth, frame.f_locals.copy(), None, None)
                    )
                elif event == "return":
                    value = (UNSURE, frame.f_lasti) if arg is None else arg
                    records.append(("return", frame.f_lineno, None, frame.f_code, rec.depth, None, value, None))
                    rec.depth -= 1
                elif event == "exception":
                    records.append(("exception", frame.f_lineno, None, frame.f_code, rec.depth, None, arg[1], None))
            except Exception as exc:  # noqa: BLE001 - never raise into the program
                if rec is None:  # released: see release()
                    return None
                rec.internal_error(exc)
            return local_trace

        def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
            info = codes.get(frame.f_code)
            if info is None:
                return None
            try:
                # Recorder.call, inlined
                if len(records) >= max_events or info.filtered:
                    rec.call(frame)
                else:
                    names = frame.f_locals
                    if INLINED_COMPREHENSIONS:
                        state = {k: render(v) for k, v in names.items()}
                    else:
                        state = dict(zip(names.keys(), map(render, names.values()), strict=True))
                    printed = "".join(out) if out else None  # out is cleared once the event is in
                    depth = rec.depth + 1  # set once the event is made: that may fail at the recursion limit
                    line_no = info.call_line
                    records.append(("call", line_no, text[line_no], info.name, depth, state, None, printed))
                    if printed is not None:
                        out.clear()
                    rec.depth = depth
            except RecursionError:  # a raw record (see types.UNWOUND)
                rec.has_raw = True
                rec.depth += 1
                records.append(("call", 0, None, frame.f_code, rec.depth, frame.f_locals.copy(), None, None))
            except Exception as exc:  # noqa: BLE001
                rec.internal_error(exc)
            return local_trace

        self._saved = sys.gettrace()
        self._hook = global_trace
        self._local = local_trace
        self._halted = False
        sys.settrace(global_trace)

    @staticmethod
    def unwinding(code: CodeType, lasti: int, last: tuple[Any, ...] | None, depth: int) -> bool:
        """On a ``return`` with no value: is an exception leaving the frame?

        settrace reports both as ``return None``; the instruction the frame
        stopped on (``lasti`` in ``code``) tells them apart. At a return
        instruction it returned; at a yield it yielded, unless an exception was
        thrown in there (``close()``, ``throw()``), which the frame's last event
        (``last``, the record before, at this ``depth``) then shows; anywhere else
        (a ``finally`` re-raising, say) an exception is leaving it.
        """
        co = code.co_code
        op = co[lasti] if 0 <= lasti < len(co) else -1
        if op in _RETURN_OPS:
            return False
        if op in _YIELD_OPS or (lasti + 2 < len(co) and co[lasti + 2] == _YIELD_FROM):
            return last is not None and last[0] == "exception" and last[4] == depth
        return True

    def halt(self) -> None:
        """End tracing now: the recorder is stopping the run at a limit.

        With an outer tracer to restore (a debugger, coverage), tracing stays on in
        this thread, and the frames already traced would still report to their
        ``f_trace`` as the stop unwinds them: it is taken off them here.
        """
        self._halted = True
        sys.settrace(self._saved)
        if self._saved is not None:
            codes = self.recorder.codes
            frame: FrameType | None = sys._getframe(1)
            while frame is not None:
                if frame.f_code in codes:
                    frame.f_trace = None
                frame = frame.f_back

    def stop(self) -> None:
        if not self._halted and sys.gettrace() is not self._hook:
            # the program called sys.settrace, or CPython dropped a trace function it could
            # not call (at the recursion limit): the recorder tells which
            self.recorder.tracing_switched_off("sys.settrace")
        sys.settrace(self._saved)

    def release(self) -> None:
        """After the run: let go of it, so that refcounting frees it now.

        local_trace returns itself (a reference cycle through its closure),
        and frames that outlive the run (a generator the program kept, a
        traceback) still hold it as their ``f_trace``: its closure is emptied.
        Called on such a frame later, it then fails on its first step and
        returns ``None``, which ends tracing there.
        """
        local = self._local
        if local is not None:
            for cell in local.__closure__:
                cell.cell_contents = None
            self._local = self._hook = None
