"""What a tracer backend is: the protocol the recorder drives (coverage.py's ``Tracer``).

A backend translates its interpreter's events for the program's own code
objects into the recorder's hooks (:meth:`Recorder.call`, ``line``, ``ret``,
``exception``), inlining their
common paths where it pays. The recorder owns what both share (the code
objects, the events, the renderer, the limits); each backend owns what is
its own: ``settrace_backend`` the opcode reading that tells an unwinding
frame from a returning one, ``monitoring_backend`` the offset-to-line tables
for its JUMP events.

A hook at the recursion limit has no room to render, nor to call any Python
function: each backend hook keeps such an event as a raw record instead,
built inline from C operations alone, in the one layout described at
``UNWOUND`` below; the recorder renders raw records when the run is over.
"""

from __future__ import annotations

from types import CodeType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .recorder import Recorder


# -- events kept raw at the recursion limit ----------------------------------------------------
# A hook at the recursion limit has no room to render, nor to call any Python function (not
# even one that would keep the event raw). Each backend hook therefore keeps such an event
# as a *raw record*, built inline from C operations alone, in this one layout:
#     (kind, line, None, code, depth, locals, value, None)
# ``None`` text marks it raw; ``code`` is the frame's code object (build looks up its name,
# and a call's line); ``locals`` is ``frame.f_locals.copy()`` for a call or a line (else
# None); ``value`` the unrendered value of a return or an exception, UNWOUND for a frame an
# exception leaves, or ``(UNSURE, frame.f_lasti)`` for a settrace ``return None`` (the
# backend's ``unwinding`` tells which it was). The hook sets the recorder's ``has_raw``;
# ``Recorder.settle_raw`` renders raw records when the run is over.
UNWOUND = ("unwound",)  # compared by identity: no program value is this object
UNSURE = ("unsure",)


class Tracer(Protocol):
    """One way of getting a program's events out of the interpreter."""

    name: str  # as the ``backend=`` option names it

    def __init__(self, recorder: Recorder) -> None: ...

    def start(self) -> None:
        """Begin delivering the program's events to the recorder (in this thread only)."""

    def halt(self) -> None:
        """End delivery now, from inside a hook: the recorder is stopping the run at a limit."""

    def stop(self) -> None:
        """After the run: restore what was there before, and tell the recorder if the program
        switched tracing off (:meth:`Recorder.tracing_switched_off`)."""

    def unwinding(self, code: CodeType, lasti: int, last: tuple[Any, ...] | None, depth: int) -> bool:
        """For a raw ``(UNSURE, lasti)`` return: did an exception leave the frame?

        ``last`` is the record before it, ``depth`` the frame's. Only a backend
        that cannot tell at the event (settrace) keeps such a return.
        """

    def release(self) -> None:
        """Let go of the run (closures, callbacks), so that refcounting frees it now."""
