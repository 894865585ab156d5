"""What the program writes to ``sys.stdout`` and ``sys.stderr`` during a run: kept, up to a
cap in bytes of UTF-8, and handed back to the real streams once the run is over."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recorder import Recorder


class Capture:
    """A stdout/stderr stand-in that keeps what the program writes, up to a cap.

    The text-file interface a program may use on ``sys.stdout`` (write,
    writelines, flush, isatty, fileno, ...), as a plain class registered as
    an :class:`io.TextIOBase`: one is made per stream and run, and an
    ``io.TextIOBase`` subclass costs three times as much to make and free.
    """

    encoding = "utf-8"
    errors = "strict"
    newlines = None
    line_buffering = False

    def __init__(self, recorder: Recorder, limit: int, is_stdout: bool) -> None:
        self._recorder: Recorder | None = recorder  # None once the run is over (hand_back)
        self._limit = limit
        self._is_stdout = is_stdout
        self.name = "<stdout>" if is_stdout else "<stderr>"
        self.parts: list[str] = []
        self.size = 0
        self.closed = False
        self._after: Any = None

    def write(self, s: str) -> int:
        if type(s) is not str and not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self._recorder is None:  # the run is over: see hand_back
            return self._after.write(s)
        n = len(s)
        size = n if s.isascii() else utf8_size(s)  # the limit is in bytes, as its name says
        if size > self._limit - self.size:
            self._keep(cut_utf8(s, self._limit - self.size))
            self._recorder.stop(
                "output_limit", f"{'stdout' if self._is_stdout else 'stderr'} passed {self._limit} bytes"
            )
        if n:
            self.parts.append(s)
            self.size += size
            if self._is_stdout:
                self._recorder.pending_out.append(s)
        return n

    def _keep(self, s: str) -> None:
        if s:
            self.parts.append(s)
            self.size += utf8_size(s)
            if self._is_stdout:
                self._recorder.pending_out.append(s)  # type: ignore[union-attr]  # write() calls it, during the run

    def hand_back(self, stream: Any) -> None:
        """The run is over: let go of the recorder, send later writes to ``stream``.

        Code the program ran may keep this object (``threading``, imported
        for the first time during a run, keeps ``sys.stderr`` in its main
        thread object); it then writes where ``sys.stdout`` or ``sys.stderr``
        writes again.
        """
        self._recorder = None
        self._after = stream

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._recorder is None and self._after is not None:
            self._after.flush()

    def close(self) -> None:
        self.closed = True

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def _unsupported(self, *args: Any) -> Any:
        raise io.UnsupportedOperation("not readable or seekable")

    read = readline = readlines = seek = tell = truncate = detach = _unsupported

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Any:
        return self._unsupported()

    def text(self) -> str:
        return "".join(self.parts)


io.TextIOBase.register(Capture)


def utf8_size(s: str) -> int:
    """The bytes ``s`` takes in UTF-8 (a lone surrogate counted as the 3 it takes escaped)."""
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def cut_utf8(s: str, size: int) -> str:
    """The longest start of ``s`` that fits in ``size`` bytes of UTF-8."""
    if size <= 0:
        return ""
    if s.isascii():
        return s[:size]
    return s.encode("utf-8", "surrogatepass")[:size].decode("utf-8", "ignore")
