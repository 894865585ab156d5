"""What a tracer backend is: the protocol the recorder drives (coverage.py's ``Tracer``).

A backend translates its interpreter's events for the program's own code
objects into the recorder's hooks (:meth:`Recorder.call`, ``line``, ``ret``,
``exception``, and ``raw_event`` at the recursion limit), inlining their
common paths where it pays. The recorder owns what both share (the code
objects, the events, the renderer, the limits); each backend owns what is
its own: ``settrace_backend`` the opcode reading that tells an unwinding
frame from a returning one, ``monitoring_backend`` the offset-to-line tables
for its JUMP events.

A hook at the very recursion limit cannot call a function (not even the
fallback): each backend callback therefore guards itself, keeping the
event raw (``raw_event``) when rendering does not fit, and counting it lost
(``lost_events``) when even that does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .recorder import Recorder


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

    def release(self) -> None:
        """Let go of the run (closures, callbacks), so that refcounting frees it now."""
