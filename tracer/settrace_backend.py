"""The ``sys.settrace`` backend (every Python version cwm supports).

Translates the interpreter's trace events for the program's own frames into
the recorder's hooks. Frames of other code get no local trace function, so
library and builtin internals are never stepped into.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recorder import Recorder


class SettraceBackend:
    name = "settrace"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._saved: Any = None

    def start(self) -> None:
        rec = self.recorder
        codes = rec.codes
        call, line, ret, exception = rec.call, rec.line, rec.ret, rec.exception
        is_normal_exit = rec.is_normal_exit
        internal_error = rec.internal_error

        def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
            try:
                if event == "line":
                    line(frame, frame.f_lineno)
                elif event == "return":
                    ret(frame, arg, arg is None and not is_normal_exit(frame))
                elif event == "exception":
                    exception(frame, arg[1])
            except RecursionError:
                with_headroom(local_trace, frame, event, arg)
            except Exception as exc:  # noqa: BLE001 - never raise into the program
                internal_error(exc)
            return local_trace

        def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
            if frame.f_code not in codes:
                return None
            try:
                call(frame)
            except RecursionError:
                with_headroom(global_trace, frame, event, arg)
            except Exception as exc:  # noqa: BLE001
                internal_error(exc)
            return local_trace

        self._saved = sys.gettrace()
        sys.settrace(global_trace)

    def stop(self) -> None:
        sys.settrace(self._saved)

    halt = stop


def with_headroom(hook: Any, *args: Any) -> None:
    """Run a hook again with room to recurse: the program is near the recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 200)
    try:
        hook(*args)
    finally:
        sys.setrecursionlimit(limit)
