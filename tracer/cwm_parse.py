"""Reading Meta's Code World Model (CWM) trace format back into events.

:func:`parse_cwm` reads text in the format :mod:`tracer.cwm_render` writes (a
model's output, typically) into events and never raises: every malformed frame
is reported as a :class:`FrameError` naming the frame and what is wrong.

Standard library only: this module runs inside the sandbox too.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .contract import Event, EventKind
from .cwm_tokens import (
    ACTION_SEP,
    ARG_SEP,
    BARE_MARKER,
    CONTEXT_START,
    FRAME_SEP,
    SAME,
    SPECIAL_TOKENS,
    START_MARKER,
    TOKEN_KINDS,
)


# -- parsing ---------------------------------------------------------------------
@dataclass
class FrameError:
    """What is wrong with one frame.

    ``frame`` is the frame's 0-based index counting frames after the context
    (-1 for the context itself).
    """

    frame: int
    message: str

    def __str__(self) -> str:
        where = "context" if self.frame < 0 else f"frame {self.frame}"
        return f"{where}: {self.message}"


@dataclass
class ParseResult:
    """What :func:`parse_cwm` could read.

    ``events`` holds one event per well-formed frame (a frame with an error
    gives none; ``event_frames[i]`` is the frame index of ``events[i]``), with
    ``".."`` resolved to full values. ``line``, ``func`` and ``depth`` cannot
    be read from the text and are best-effort guesses: ``line`` by matching
    the source line against the source (0 when unknown), ``depth`` by
    call/return nesting (the first call is depth 0), ``func`` from the
    ``def``/``class`` line of each call (``""`` when unknown).

    ``source`` and ``start_line`` come from the context, if the text had one
    (the source without the start marker). ``truncated`` is True when the last
    frame is not closed by ``<|frame_sep|>`` (it is still read if it can be).
    """

    events: list[Event] = field(default_factory=list)
    errors: list[FrameError] = field(default_factory=list)
    source: str | None = None
    start_line: int = 0
    truncated: bool = False
    frames: int = 0
    event_frames: list[int] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No frame (nor the context) had an error."""
        return not self.errors

    @property
    def complete(self) -> bool:
        """Valid, and the last frame was closed by ``<|frame_sep|>``."""
        return not self.errors and not self.truncated


class _FrameProblem(Exception):
    """Raised inside the frame reader; becomes a :class:`FrameError`."""


_WS = re.compile(r"[ \t\r\n]*")
_ANY_TOKEN = re.compile(r"<\|[A-Za-z0-9_]*\|>")
_SPECIAL = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))
_DEF = re.compile(r"\s*(?:async\s+def|def|class)\s+([^\W\d]\w*)")
_DECORATOR = re.compile(r"\s*@")
_DECODER = json.JSONDecoder()


def _decode_json(text: str, pos: int) -> tuple[Any, int]:
    """JSON value at ``pos`` (after optional whitespace) and the index after it."""
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise _FrameProblem(f"{exc.msg} at char {exc.pos - pos}") from None
    except (ValueError, RecursionError) as exc:
        raise _FrameProblem(str(exc) or type(exc).__name__) from None


def _clean_source_line(text: str) -> str:
    """A frame's action without its trailing newline and start marker."""
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith(START_MARKER):
        text = text[: -len(START_MARKER)]
    elif text.endswith(BARE_MARKER):
        text = text[: -len(BARE_MARKER)].rstrip(" ")
    return text


def _split_context(text: str, pos: int) -> tuple[str, int, bool]:
    """The context's text from ``pos``, where frames start, and if it was closed.

    The context ends at the first ``<|frame_sep|>`` followed by a frame token,
    whitespace or the end of the text (so a source that mentions the token in
    a string does not cut it short), else at the first ``<|frame_sep|>``.
    """
    first = text.find(FRAME_SEP, pos)
    if first < 0:
        return text[pos:], len(text), False
    at = first
    while at >= 0:
        after = _WS.match(text, at + len(FRAME_SEP)).end()  # type: ignore[union-attr]
        if after == len(text) or text.startswith(tuple(TOKEN_KINDS), after):
            return text[pos:at], at + len(FRAME_SEP), True
        at = text.find(FRAME_SEP, at + 1)
    return text[pos:first], first + len(FRAME_SEP), True


def _strip_marker(context: str) -> tuple[str, int]:
    """The context's source without the start marker, and the marked line (or 0)."""
    lines = context.split("\n")
    for i, line in enumerate(lines):
        cr = line.endswith("\r")
        body = line[:-1] if cr else line
        if body.endswith(START_MARKER):
            body = body[: -len(START_MARKER)]
        elif body.endswith(BARE_MARKER):
            body = body[: -len(BARE_MARKER)].rstrip(" ")
        else:
            continue
        lines[i] = body + ("\r" if cr else "")
        return "\n".join(lines), i + 1
    return context, 0


class _SourceIndex:
    """Finds a source line's number from its text, nearest to a reference line."""

    def __init__(self, source: str | None) -> None:
        self.lines: list[str] = source.split("\n") if source is not None else []
        self.where: dict[str, list[int]] = {}
        crlf: dict[str, list[int]] = {}  # a CRLF line, found by its text without the "\r"
        for number, text in enumerate(self.lines, 1):
            self.where.setdefault(text, []).append(number)
            if text.endswith("\r"):
                crlf.setdefault(text[:-1], []).append(number)
        for text, numbers in crlf.items():
            self.where.setdefault(text, numbers)  # only where no line holds the text exactly

    def find(self, text: str, near: int) -> int:
        """The line holding ``text``: if several do, the first one after ``near``
        (execution mostly moves forward), else ``near`` itself, else the closest
        one before it; 0 if none does."""
        numbers = self.where.get(text)
        if not numbers:
            return 0
        if len(numbers) == 1 or near <= 0:
            return numbers[0]
        i = bisect.bisect_right(numbers, near)
        if i < len(numbers):
            return numbers[i]
        return numbers[-1]  # == near if near holds it, else the closest before

    def func_of_call(self, text: str, line: int) -> str:
        """The name a call frame's line defines, best-effort."""
        match = _DEF.match(text)
        if match:
            return match.group(1)
        if _DECORATOR.match(text) and line > 0:
            # a decorated function's call is reported on its first decorator;
            # the def (or class) is the first one below it
            for below in self.lines[line:]:
                match = _DEF.match(below)
                if match:
                    return match.group(1)
            return ""
        if "lambda" in text:
            return "<lambda>"
        return ""


class _Parser:
    def __init__(self, text: str, source: str | None) -> None:
        self.text = text
        self.result = ParseResult()
        self.explicit_source = source
        self.scope: dict[str, str] = {}
        # one entry per open scope: [func, last line seen in it]
        self.stack: list[list[Any]] = []
        self.prev_line = 0
        self.index = _SourceIndex(source)

    # -- top level ------------------------------------------------------------
    def run(self) -> ParseResult:
        text = self.text
        pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
        result = self.result
        if text.startswith(CONTEXT_START, pos):
            context, pos, closed = _split_context(text, pos + len(CONTEXT_START))
            result.source, result.start_line = _strip_marker(context)
            if not closed:
                result.truncated = True
                result.errors.append(FrameError(-1, f"the context is not closed by {FRAME_SEP}"))
        else:
            pos = 0
        if self.explicit_source is None and result.source is not None:
            self.index = _SourceIndex(result.source)
        self.prev_line = result.start_line
        frame = 0
        n = len(text)
        while pos < n:
            start = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if start == n:
                break  # trailing whitespace after the last frame
            end = text.find(FRAME_SEP, pos)
            try:
                pos = self.frame(frame, start)
            except Exception as exc:  # noqa: BLE001 -- a frame must never crash the caller
                message = str(exc) if isinstance(exc, _FrameProblem) else f"unreadable ({exc!r})"
                result.errors.append(FrameError(frame, message))
                if end < 0:
                    result.truncated = True
                    pos = n
                else:
                    pos = end + len(FRAME_SEP)
            frame += 1
        result.frames = frame
        return result

    # -- one frame -------------------------------------------------------------
    def frame(self, frame: int, pos: int) -> int:
        """Reads the frame at ``pos``; returns the index after its FRAME_SEP."""
        text = self.text
        if text.startswith(FRAME_SEP, pos):
            raise _FrameProblem("empty frame")
        kind: EventKind | None = None
        for token, token_kind in TOKEN_KINDS.items():
            if text.startswith(token, pos):
                kind = token_kind
                pos += len(token)
                break
        if kind is None:
            match = _ANY_TOKEN.match(text, pos)
            if match is not None:
                found = match.group()
                if found in SPECIAL_TOKENS:
                    raise _FrameProblem(f"frame starts with {found}, not a frame token")
                raise _FrameProblem(f"unknown token {found}")
            raise _FrameProblem("frame does not start with a frame token")
        try:
            if kind in ("call", "line"):
                return self.state_frame(frame, kind, pos)
            return self.value_frame(frame, kind, pos)
        except _FrameProblem:
            self.fail_scope(kind)
            raise

    def fail_scope(self, kind: EventKind | None) -> None:
        """Keeps depth and scope tracking going past a broken frame."""
        if kind == "call":
            self.stack.append(["", 0])
            self.scope = {}
        elif kind == "return":
            if self.stack:
                self.stack.pop()
            self.scope = {}

    def end_of_frame(self, pos: int) -> int:
        text = self.text
        if text.startswith(FRAME_SEP, pos):
            return pos + len(FRAME_SEP)
        if _WS.match(text, pos).end() == len(text) or FRAME_SEP.startswith(text[pos:]):  # type: ignore[union-attr]
            # the text ends here, maybe in the middle of the frame's closing token
            self.result.truncated = True
            return len(text)
        rest = text[pos : pos + 30]
        raise _FrameProblem(f"expected {FRAME_SEP}, found {rest!r}")

    def state_frame(self, frame: int, kind: EventKind, pos: int) -> int:
        text = self.text
        start = pos
        try:
            shown, pos = _decode_json(text, pos)
        except _FrameProblem as exc:
            problem: str | None = self.json_problem_in_frame(start, len(text)) or str(exc)
            if text.find(ACTION_SEP, start, self.next_sep(start)) < 0:
                raise _FrameProblem(f"missing {ACTION_SEP} (locals: {problem})") from None
            raise _FrameProblem(f"locals are not a JSON object: {problem}") from None
        if not isinstance(shown, dict):
            raise _FrameProblem(f"locals are not a JSON object, got {_json_type(shown)}")
        for name, value in shown.items():
            if not isinstance(value, str):
                raise _FrameProblem(f"the value of {name!r} is not a string, got {_json_type(value)}")
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if not text.startswith(ACTION_SEP, pos):
            problem = self.json_problem_in_frame(start, pos)
            if problem is not None:
                raise _FrameProblem(f"locals are not a JSON object: {problem}")
            raise _FrameProblem(f"missing {ACTION_SEP} after the locals")
        pos += len(ACTION_SEP)
        stop = self.next_sep(pos)
        action = text[pos:stop]
        if stop == len(text):  # the text ends in this frame, maybe inside its closing token
            cut = action.rfind("\n<")
            if cut >= 0 and FRAME_SEP.startswith(action[cut + 1 :]):
                action = action[: cut + 1]
        source_line = self.source_line(action)
        end = self.end_of_frame(stop)

        if kind == "call":
            full = dict(shown)
        else:
            full = {}
            for name, value in shown.items():
                if value == SAME:
                    if name not in self.scope:
                        raise _FrameProblem(f"'..' for {name!r} has no earlier value to refer to")
                    full[name] = self.scope[name]
                else:
                    full[name] = value
        self.emit(frame, kind, source_line, locals_=full)
        if kind == "call":
            self.scope = dict(full)
        else:
            self.scope.update(full)
        return end

    def value_frame(self, frame: int, kind: EventKind, pos: int) -> int:
        text = self.text
        if not text.startswith(ACTION_SEP, pos):
            stop = self.next_sep(pos)
            if text.find(ACTION_SEP, pos, stop) < 0:
                raise _FrameProblem(f"missing {ACTION_SEP}")
            raise _FrameProblem(f"unexpected text before {ACTION_SEP}")
        pos += len(ACTION_SEP)
        stop = self.next_sep(pos)
        arg = text.find(ARG_SEP, pos, stop)
        if arg < 0:
            raise _FrameProblem(f"missing {ARG_SEP} in a {kind} frame")
        source_line = self.source_line(text[pos:arg])
        start = arg + len(ARG_SEP)
        try:
            value, pos = _decode_json(text, start)
        except _FrameProblem as exc:
            problem: str | None = self.json_problem_in_frame(start, len(text)) or str(exc)
            raise _FrameProblem(f"the {kind} value is not valid JSON: {problem}") from None
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if not text.startswith(FRAME_SEP, pos):
            problem = self.json_problem_in_frame(start, pos)
            if problem is not None:
                raise _FrameProblem(f"the {kind} value is not valid JSON: {problem}")
        if value is not None and not isinstance(value, str):
            raise _FrameProblem(f"the {kind} value is not a JSON string or null, got {_json_type(value)}")
        end = self.end_of_frame(pos)
        self.emit(frame, kind, source_line, value=value)
        if kind == "return":
            self.scope = {}
        return end

    def source_line(self, action: str) -> str:
        """The source line of a frame's action, checked for a frame run into it.

        A source line has no newline but the one after it, and holds a special
        token only if the source says so; otherwise the model most likely left
        out a ``<|frame_sep|>`` and this "line" is the start of the next frame.
        """
        line = _clean_source_line(action)
        newline = line.find("\n")
        token = _SPECIAL.search(line)
        if newline >= 0 or (token is not None and line not in self.index.where):
            rest = line[newline + 1 :] if newline >= 0 else line[token.start() :]  # type: ignore[union-attr]
            found = _ANY_TOKEN.match(rest)
            what = found.group() if found else repr(rest[:20])
            raise _FrameProblem(f"unexpected {what} after the source line (missing {FRAME_SEP}?)")
        return line

    def json_problem_in_frame(self, start: int, end: int) -> str | None:
        """The JSON error of ``text[start:]`` cut at its frame's end, if the JSON
        read from ``start`` ran past a ``<|frame_sep|>`` (into the next frame).

        A string may hold the token, so this is asked only once the reading
        has gone wrong; it names the error where the frame really ends (an
        unclosed string, say) rather than somewhere in the next frame.
        """
        sep = self.text.find(FRAME_SEP, start, end)
        if sep < 0:
            return None
        try:
            _decode_json(self.text[:sep], start)
        except _FrameProblem as exc:
            return str(exc)
        return None

    def next_sep(self, pos: int) -> int:
        found = self.text.find(FRAME_SEP, pos)
        return len(self.text) if found < 0 else found

    # -- events ------------------------------------------------------------------
    def emit(
        self,
        frame: int,
        kind: EventKind,
        source_line: str,
        *,
        locals_: dict[str, str] | None = None,
        value: str | None = None,
    ) -> None:
        stack = self.stack
        if kind == "call":
            near = self.prev_line
        else:
            if not stack:
                stack.append(["", 0])  # a trace that starts inside a scope
            near = stack[-1][1] or self.prev_line
        if frame == 0 and self.result.start_line > 0:
            line = self.result.start_line
        else:
            line = self.index.find(source_line, near)
        if kind == "call":
            stack.append([self.index.func_of_call(source_line, line), line])
        elif line:
            stack[-1][1] = line
        func: str = stack[-1][0]
        depth = len(stack) - 1
        if kind == "return":
            stack.pop()
        if line:
            self.prev_line = line
        self.result.events.append(
            Event(
                kind=kind,
                line=line,
                source_line=source_line,
                func=func,
                depth=depth,
                locals=locals_,
                value=value,
            )
        )
        self.result.event_frames.append(frame)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_cwm(text: str, *, source: str | None = None) -> ParseResult:
    """Reads CWM-format text (with or without its context) back into events.

    Never raises: whatever is wrong is in ``result.errors``, one
    :class:`FrameError` per broken frame. ``source`` (else the context's
    source, if any) is used to guess each event's ``line``; see
    :class:`ParseResult` for what is and is not recovered.
    """
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        else:
            return ParseResult(errors=[FrameError(-1, f"expected text, got {type(text).__name__}")])
    try:
        return _Parser(text, source).run()
    except Exception as exc:  # noqa: BLE001 -- last line of defence: the parser never raises
        return ParseResult(errors=[FrameError(-1, f"parser failure ({exc!r})")])
