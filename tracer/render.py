"""Rendering values: deterministic, capped ``repr`` that cannot hurt the run.

``Renderer(cap).render(value)`` returns exactly ``repr(value)`` when that is at
most ``cap`` characters, else its first ``cap - 3`` characters and ``...``.
The cap is applied while rendering: a list of 10**7 items or a string of
10**8 characters costs what its first ``cap`` characters cost. On top of
``repr``:

- memory addresses (``<Foo object at 0x7f...>``) become ids that are stable
  within one trace (``at 0x1``, ``at 0x2``, ... in order of first sight);
- a ``__repr__`` that raises, prints or never ends is contained;
- ints too large for ``str`` render as ``<int with N digits>``;
- self-referencing containers render as Python does (``[...]``).
"""

from __future__ import annotations

import re
import signal
import sys
from collections import deque
from itertools import islice
from types import ModuleType
from typing import Any

# Bound here, not looked up in builtins at each call: a program may patch builtins.
repr, len, type, set, id, map, sum = repr, len, type, set, id, map, sum  # noqa: A001

DEFAULT_CAP = 200
REPR_TIMEOUT = 0.5  # seconds a user-defined __repr__ may run
ELLIPSIS = "..."

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_INT_DIGITS_SAFE = 4000 * 3  # bits: well under CPython's 4300-digit str limit
_SCALARS = (float, bool, type(None), complex)
_STRINGS = (str, bytes)


class _ReprTimeout(BaseException):
    pass


class _NullWriter:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


_NULL = _NullWriter()


class Renderer:
    """Renders values for one trace (it holds that trace's address ids)."""

    def __init__(self, cap: int = DEFAULT_CAP, repr_timeout: float = REPR_TIMEOUT) -> None:
        if cap < 8:
            raise ValueError("cap must be at least 8 characters")
        self.cap = cap
        self.repr_timeout = repr_timeout
        self._ids: dict[str, str] = {}
        self.render = self._make_render()

    # -- public --------------------------------------------------------------
    def render(self, value: Any) -> str:  # replaced per instance by _make_render's closure
        """Render ``value`` (see the module docstring)."""
        return self._render(value, self.cap, set())

    def release(self) -> None:
        """Drop the per-instance fast ``render`` (it refers back to this renderer).

        ``render`` still works afterwards, through the method of the class.
        """
        self.__dict__.pop("render", None)

    def _make_render(self) -> Any:
        # made per trace: as few cells as possible (constants are module globals)
        cap = self.cap
        slow = self._render
        budget = 8 * cap  # characters of flat strings that C repr may render before the cut
        # items of a long container whose repr surely passes the cap: "[" and, per item,
        # at least one character and ", " (dicts: "k: v, ")
        head_items = cap // 3 + 2

        def render(value: Any) -> str:
            # fast paths: C repr where its length is bounded by what we can see
            t = type(value)
            if t is str:
                if len(value) > cap:
                    return _render_string(value, cap)
            elif t is int:
                if value.bit_length() > _INT_DIGITS_SAFE:
                    return slow(value, cap, set())
            elif t is list or t is tuple or t is dict:
                if len(value) > _FLAT_ITEMS:
                    # a long one: C repr of its first items, whose repr is already past the
                    # cap (every item adds at least 3 characters), so it shares the cut prefix
                    head = value[:head_items] if t is not dict else dict(islice(value.items(), head_items))
                    if not (
                        _flat(head, budget) if t is not dict else _flat(head, budget) and _flat(head.values(), budget)
                    ):
                        return slow(value, cap, set())
                    try:
                        text = repr(head)
                    except ValueError:  # an int too long for str
                        return slow(value, cap, set())
                    return text[: cap - 3] + ELLIPSIS  # len(text) > cap + 1: see head_items
                if t is dict:
                    if not (_flat(value, budget) and _flat(value.values(), budget)):
                        return slow(value, cap, set())
                else:  # _flat(), inlined: lists and tuples are the most common values
                    kinds = set(map(type, value))
                    if not (
                        kinds <= _SAFE_NUMBERS
                        or (kinds == _JUST_STR and sum(map(len, value)) <= budget)
                        or (kinds <= _FLAT_SCALARS and sum(map(len, filter(_is_str, value))) <= budget)
                        or _nested_flat(value, budget)
                    ):
                        return slow(value, cap, set())
                try:
                    text = repr(value)
                except ValueError:
                    return slow(value, cap, set())
                return text if len(text) <= cap else text[: cap - 3] + ELLIPSIS
            elif t is not bool and t is not float and value is not None:
                return slow(value, cap, set())
            text = repr(value)
            return text if len(text) <= cap else text[: cap - 3] + ELLIPSIS

        return render

    # -- dispatch ------------------------------------------------------------
    def _render(self, value: Any, cap: int, active: set[int]) -> str:
        t = type(value)
        if t is str or t is bytes:
            return _render_string(value, cap)
        if t is int:
            if value.bit_length() > _INT_DIGITS_SAFE:
                return _truncate(f"<int with about {_digits(value)} digits>", cap)
            return _truncate(repr(value), cap)
        if t in _SCALARS:
            return _truncate(repr(value), cap)
        if t is list or t is tuple or t is dict or t is set or t is frozenset or t is deque:
            return self._render_container(value, t, cap, active)
        return self._render_object(value, cap)

    def _render_container(self, value: Any, t: type, cap: int, active: set[int]) -> str:
        key = id(value)
        if key in active:
            return "{...}" if t is dict else "(...)" if t is tuple else "[...]"
        if t is list:
            opening, closing = "[", "]"
        elif t is tuple:
            opening, closing = "(", ",)" if len(value) == 1 else ")"
        elif t is dict:
            opening, closing = "{", "}"
        elif t is set:
            if not value:
                return _truncate("set()", cap)
            opening, closing = "{", "}"
        elif t is frozenset:
            if not value:
                return _truncate("frozenset()", cap)
            opening, closing = "frozenset({", "})"
        else:  # deque
            opening = "deque(["
            closing = "])" if value.maxlen is None else f"], maxlen={value.maxlen})"
        active.add(key)
        try:
            parts = [opening]
            size = len(opening)
            render = self._render
            if t is dict:
                for k, v in value.items():
                    if size > 1:
                        parts.append(", ")
                        size += 2
                    text = render(k, cap - size + 4, active)
                    parts.append(text)
                    size += len(text) + 2
                    parts.append(": ")
                    if size > cap:
                        break
                    text = render(v, cap - size + 4, active)
                    parts.append(text)
                    size += len(text)
                    if size > cap:
                        break
            else:
                first = True
                for item in value:
                    if first:
                        first = False
                    else:
                        parts.append(", ")
                        size += 2
                    text = render(item, cap - size + 4, active)
                    parts.append(text)
                    size += len(text)
                    if size > cap:
                        break
            if size <= cap:
                parts.append(closing)
            return _truncate("".join(parts), cap)
        except RuntimeError:  # changed size during iteration (another thread)
            return _truncate(f"<{t.__name__} of {len(value)} items>", cap)
        finally:
            active.discard(key)

    def _render_object(self, value: Any, cap: int) -> str:
        """Any other object: its own ``repr``, guarded."""
        if type(value) is ModuleType:  # its repr holds a machine-specific path
            return _truncate(f"<module {value.__name__!r}>", cap)
        guarded = type(type(value).__repr__) is not type(object.__repr__)  # Python-level __repr__
        try:
            text = self._guarded_repr(value) if guarded else repr(value)
        except _ReprTimeout:
            text = f"<{_type_name(value)} object (repr took over {self.repr_timeout:g}s)>"
        except BaseException as exc:  # noqa: BLE001 - a program's repr may raise anything
            text = f"<{_type_name(value)} object (repr raised {type(exc).__name__})>"
        if " at 0x" in text:
            text = _ADDRESS.sub(self._stable_address, text)
        return _truncate(text, cap)

    def _guarded_repr(self, value: Any) -> Any:
        """Call a program-defined ``__repr__`` silenced and with a time limit."""
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = _NULL  # type: ignore[assignment]
        # a time limit needs SIGALRM, which only the main thread can handle: elsewhere
        # signal.signal raises ValueError (asked, not looked up with threading, whose
        # at-fork hook would cost the sandbox's fork server a fifth of a millisecond per job)
        timer = hasattr(signal, "setitimer")
        old_handler: Any = None
        old_timer = (0.0, 0.0)
        if timer:
            try:
                old_handler = signal.signal(signal.SIGALRM, _on_alarm)
            except ValueError:
                timer = False
            else:
                try:
                    old_timer = signal.setitimer(signal.ITIMER_REAL, self.repr_timeout)
                except OSError:
                    signal.signal(signal.SIGALRM, old_handler)
                    timer = False
        try:
            return repr(value)
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, *old_timer)
                signal.signal(signal.SIGALRM, old_handler)
            sys.stdout, sys.stderr = saved_out, saved_err

    def _stable_address(self, match: re.Match[str]) -> str:
        address = match.group(0)
        stable = self._ids.get(address)
        if stable is None:
            stable = self._ids[address] = f" at 0x{len(self._ids) + 1:x}"
        return stable


_FLAT_ITEMS = 64  # containers up to this size may go straight to C repr
_NUMBERS = frozenset((int, float, bool, type(None)))
# 3.10 has no limit on int-to-str conversion: there every int's size is checked
_SAFE_NUMBERS = _NUMBERS if hasattr(sys, "get_int_max_str_digits") else frozenset()
_FLAT_SCALARS = _SAFE_NUMBERS | {str}
_JUST_STR = frozenset((str,))
_is_str = str.__instancecheck__  # a C predicate, for filter()
_NESTED_ITEMS = 16  # items of a nested list or tuple that may go to C repr


def _flat(items: Any, budget: int) -> bool:
    """Numbers, strings of bounded total length, or flat lists and tuples of them?

    Then C ``repr`` of them is short, runs no program code and shows no
    address. The common cases are checked in C (``set(map(type, ...))``).
    """
    kinds = set(map(type, items))
    if kinds <= _SAFE_NUMBERS:
        return True
    if kinds == _JUST_STR:
        return sum(map(len, items)) <= budget
    if kinds <= _FLAT_SCALARS:
        return sum(map(len, filter(_is_str, items))) <= budget
    return _nested_flat(items, budget)


def _nested_flat(items: Any, budget: int) -> bool:
    """Strings and bytes (of bounded total length), modest numbers, and lists or
    tuples of a few of those: exact builtin types whose C ``repr`` is short."""
    size = 0
    for item in items:
        t = type(item)
        if t is str or t is bytes:
            size += len(item)
        elif t is list or t is tuple:
            if len(item) > _NESTED_ITEMS:
                return False
            for sub in item:
                ts = type(sub)
                if ts is str or ts is bytes:
                    size += len(sub)
                elif ts not in _NUMBERS or (ts is int and sub.bit_length() > 256):
                    return False
        elif t not in _NUMBERS or (t is int and item.bit_length() > 256):
            return False
        if size > budget:
            return False
    return True


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ReprTimeout


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:  # noqa: BLE001
        return "object"


def _digits(value: int) -> int:
    """Decimal digits of a huge int, estimated from its bit length (no conversion)."""
    return int(value.bit_length() * 0.30102999566398120) + 1  # log10(2)


def _truncate(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return text[: cap - 3] + ELLIPSIS


def _render_string(value: str | bytes, cap: int) -> str:
    if len(value) <= cap:
        return _truncate(repr(value), cap)
    head = value[:cap]
    text = repr(head)
    # repr picks its quote from the whole string: make the head's repr use the
    # quote that the full string's repr would use, so the result is its prefix.
    if type(value) is str:
        sq, dq = "'", '"'
    else:
        sq, dq = b"'", b'"'
    full_double = sq in value and dq not in value  # type: ignore[operator]
    if full_double != (text[0 if type(value) is str else 1] == '"'):
        forced = head + (sq if full_double else dq)  # type: ignore[operator]
        text = repr(forced)
    return text[: cap - 3] + ELLIPSIS
