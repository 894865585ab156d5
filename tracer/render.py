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
- self-referencing containers render as Python does (``[...]``);
- the only code of the program it runs is ``__repr__`` (never ``__hash__``,
  ``__eq__``, ``__len__``, ``__iter__`` or a metaclass's methods), and
  nesting costs what the cap allows: a list nested 10**5 deep renders as fast
  as one nested 200 deep;
- it never raises (but ``RecursionError`` and ``MemoryError``, which the
  recorder handles): what cannot be rendered becomes ``<unrenderable T: E>``;
- the text is valid Unicode (lone surrogates a program's ``__repr__`` returns
  are written as their backslash escape), so a trace always encodes as UTF-8.
"""

from __future__ import annotations

import re
import signal
import sys
from collections import deque
from itertools import islice
from types import ModuleType
from typing import TYPE_CHECKING, Any

# Bound here, not looked up in builtins at each call: a program may patch builtins.
# (mypy reads them as the builtins they are: bound to variables, they are no longer types)
if not TYPE_CHECKING:
    repr, len, type, set, id, map, sum = repr, len, type, set, id, map, sum  # noqa: A001

DEFAULT_CAP = 200
REPR_TIMEOUT = 0.5  # seconds a user-defined __repr__ may run
ELLIPSIS = "..."

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_INT_DIGITS_SAFE = 4000 * 3  # bits: well under CPython's 4300-digit str limit
_NoneType = type(None)


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

    def __init__(self, cap: int = DEFAULT_CAP, repr_timeout: float = REPR_TIMEOUT, hash_types: bool = False) -> None:
        """``hash_types``: no metaclass defines ``__hash__`` (say, the program's source never
        names it), so the fast paths may hash the types of items, twice as fast as hashing
        their ids; a metaclass that makes its classes unhashable is still safe then."""
        if cap < 8:
            raise ValueError("cap must be at least 8 characters")
        self.cap = cap
        self.repr_timeout = repr_timeout
        self.hash_types = hash_types
        self._ids: dict[str, str] = {}
        self.render = self._make_render()  # type: ignore[method-assign]

    # -- public --------------------------------------------------------------
    def render(self, value: Any) -> str:  # replaced per instance by _make_render's closure
        """Render ``value`` (see the module docstring)."""
        return self._render_safe(value, self.cap, set())

    def release(self) -> None:
        """Drop the per-instance fast ``render`` (it refers back to this renderer).

        ``render`` still works afterwards, through the method of the class.
        """
        self.__dict__.pop("render", None)

    def _make_render(self) -> Any:
        # made per trace: as few cells as possible (constants are module globals)
        cap = self.cap
        slow = self._render_safe
        budget = 8 * cap  # characters of flat strings that C repr may render before the cut
        # items of a long container whose repr surely passes the cap: "[" and, per item,
        # at least one character and ", " (dicts: "k: v, ")
        head_items = cap // 3 + 2
        # the kinds of items, as types or as their ids (see __init__), and what they are compared with
        hash_types = self.hash_types
        flat = _flat_by_type if hash_types else _flat
        safe, just_str, flat_scalars = _BY_TYPE if hash_types else _BY_ID

        def render(value: Any) -> str:
            # fast paths: C repr where its length is bounded by what we can see; they touch
            # exact builtin types only, so they cannot fail (the slow path is guarded)
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
                    if t is dict:
                        # the keys are checked before a dict is made of them: making one hashes them
                        items = list(islice(value.items(), head_items))
                        if not (flat([k for k, _ in items], budget) and flat([v for _, v in items], budget)):
                            return slow(value, cap, set())
                        head = dict(items)
                    else:
                        head = value[:head_items]
                        if not flat(head, budget):
                            return slow(value, cap, set())
                    try:
                        text = repr(head)
                    except ValueError:  # an int too long for str
                        return slow(value, cap, set())
                    return text[: cap - 3] + ELLIPSIS  # len(text) > cap + 1: see head_items
                if t is dict:
                    if not (flat(value, budget) and flat(value.values(), budget)):
                        return slow(value, cap, set())
                else:  # _flat(), inlined: lists and tuples are the most common values
                    if hash_types:
                        try:
                            kinds: set[object] = set(map(type, value))  # types, or their ids
                        except TypeError:  # a class made unhashable by its metaclass
                            return slow(value, cap, set())
                    else:
                        kinds = set(map(id, map(type, value)))  # hashing a type may run its metaclass's code
                    if not (
                        kinds <= safe
                        or (kinds == just_str and sum(map(len, value)) <= budget)
                        or (kinds <= flat_scalars and sum(map(len, filter(_is_str, value))) <= budget)
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
    def _render_safe(self, value: Any, cap: int, active: set[int]) -> str:
        """``_render`` that never raises, but for what the recorder must see itself."""
        try:
            return self._render(value, cap, active)
        except (RecursionError, MemoryError):  # the recorder's to handle (see types.UNWOUND)
            raise
        except Exception as exc:  # noqa: BLE001 - a value that cannot be rendered must not lose its event
            return unrenderable(value, exc, cap)

    def _render(self, value: Any, cap: int, active: set[int]) -> str:
        t = type(value)
        if t is str or t is bytes:
            return _render_string(value, cap)
        if t is int:
            if value.bit_length() > _INT_DIGITS_SAFE:
                return _truncate(f"<int with about {_digits(value)} digits>", cap)
            return _truncate(repr(value), cap)
        # identity, not ``in`` a tuple or set: that would run a program metaclass's __eq__ or __hash__
        if t is float or t is bool or t is _NoneType or t is complex:
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
        if cap <= 2 and value:
            # no non-empty container fits ("[1]" is 3 characters) and the caller needs
            # none of it: stop here, so that nesting deeper than the cap costs nothing
            return opening + ELLIPSIS
        # an item gets what is left of the cap (plus the slack the cut needs) but always
        # less than this container got: the caps shrink with the nesting, which the cap bounds
        top = cap - 1
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
                    text = render(k, min(cap - size + 4, top), active)
                    parts.append(text)
                    size += len(text) + 2
                    parts.append(": ")
                    if size > cap:
                        break
                    text = render(v, min(cap - size + 4, top), active)
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
                    text = render(item, min(cap - size + 4, top), active)
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
        t = type(value)
        if t is ModuleType:  # its repr holds a machine-specific path
            name = _object_dict(value).get("__name__")  # not value.__name__: a module __getattr__ could run
            return _truncate(f"<module {name!r}>" if type(name) is str else "<module '?'>", cap)
        try:
            # looked up as the interpreter does, past any __getattribute__ of a metaclass
            method = _type_getattribute(t, "__repr__")
            if method is _EXCEPTION_REPR:
                return valid_unicode(self._render_exception(value, t, cap))
            guarded = type(method) is not _SLOT_WRAPPER  # a Python-level __repr__
            text = self._guarded_repr(value) if guarded else repr(value)
            if type(text) is not str:  # a str subclass: its own methods must not run here
                text = str.__str__(text)
        except _ReprTimeout:
            text = f"<{_type_name(value)} object (repr took over {self.repr_timeout:g}s)>"
        except RecursionError:  # the recorder's to handle: near the limit it renders this later
            raise
        except BaseException as exc:  # noqa: BLE001 - a program's repr may raise anything
            text = f"<{_type_name(value)} object (repr raised {_type_name(exc)})>"
        if " at 0x" in text:
            text = _ADDRESS.sub(self._stable_address, text)
        return valid_unicode(_truncate(text, cap))

    def _render_exception(self, exc: BaseException, t: type, cap: int) -> str:
        """An exception whose repr is BaseException's: ``Name(args)``, capped while building.

        C ``repr`` would build all of a message of 100 MB first.
        """
        args = _EXCEPTION_ARGS(exc)  # a TypeError for a non-exception that borrowed this __repr__
        name = _type_getattribute(t, "__name__")
        if type(name) is not str or type(args) is not tuple:
            return _truncate(repr(exc), cap)
        name = name.rpartition(".")[2]  # as C does
        if len(name) + 2 > cap:  # also ends an exception that holds itself in its args
            return name[:cap] + ELLIPSIS
        # the args get less than the cap: exceptions nested in args shrink it as containers do
        if len(args) == 1:
            inner = self._render(args[0], min(cap - len(name) + 3, cap - 1), set())
            return _truncate(f"{name}({inner})", cap)
        return _truncate(name + self._render(args, min(cap - len(name) + 4, cap - 1), set()), cap)

    def _guarded_repr(self, value: Any) -> Any:
        """Call a program-defined ``__repr__`` silenced and with a time limit."""
        saved_out, saved_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = _NULL
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
# the ids of exact builtin types, which sets of ``id(type(item))`` are compared with
_NUMBERS = frozenset(map(id, (int, float, bool, _NoneType)))
# 3.10 has no limit on int-to-str conversion: there every int's size is checked
_SAFE_NUMBERS = _NUMBERS if hasattr(sys, "get_int_max_str_digits") else frozenset()
_FLAT_SCALARS = _SAFE_NUMBERS | {id(str)}
_JUST_STR = frozenset((id(str),))
_BY_ID = (_SAFE_NUMBERS, _JUST_STR, _FLAT_SCALARS)
# the same, as types: for ``Renderer(hash_types=True)``
_SAFE_TYPES = frozenset((int, float, bool, _NoneType)) if _SAFE_NUMBERS else frozenset()
_BY_TYPE = (_SAFE_TYPES, frozenset((str,)), _SAFE_TYPES | {str})
_is_str = str.__instancecheck__  # a C predicate, for filter()
_NESTED_ITEMS = 16  # items of a nested list or tuple that may go to C repr


def _flat(items: Any, budget: int) -> bool:
    """Numbers, strings of bounded total length, or flat lists and tuples of them?

    Then C ``repr`` of them is short, runs no program code and shows no
    address. The common cases are checked in C (``set(map(id, map(type, ...)))``:
    the ids of the types, since hashing a type may run its metaclass's code).
    """
    kinds = set(map(id, map(type, items)))
    if kinds <= _SAFE_NUMBERS:
        return True
    if kinds == _JUST_STR:
        return sum(map(len, items)) <= budget
    if kinds <= _FLAT_SCALARS:
        return sum(map(len, filter(_is_str, items))) <= budget
    return _nested_flat(items, budget)


def _flat_by_type(items: Any, budget: int) -> bool:
    """:func:`_flat`, hashing the items' types (see ``Renderer(hash_types=True)``)."""
    try:
        kinds = set(map(type, items))
    except TypeError:  # a class made unhashable by its metaclass
        return False
    safe, just_str, flat_scalars = _BY_TYPE
    if kinds <= safe:
        return True
    if kinds == just_str:
        return sum(map(len, items)) <= budget
    if kinds <= flat_scalars:
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
                elif ts is int:
                    if sub.bit_length() > 256:
                        return False
                elif not (ts is float or ts is bool or ts is _NoneType):  # identity: see _flat
                    return False
        elif t is int:
            if item.bit_length() > 256:
                return False
        elif not (t is float or t is bool or t is _NoneType):
            return False
        if size > budget:
            return False
    return True


def _on_alarm(signum: int, frame: Any) -> None:
    raise _ReprTimeout


# the interpreter's own lookups, which no metaclass or class of the program can intercept
_type_getattribute = type.__getattribute__
_QUALNAME = type.__dict__["__qualname__"].__get__
_SLOT_WRAPPER = type(object.__repr__)
_EXCEPTION_REPR = BaseException.__repr__
_EXCEPTION_ARGS = BaseException.__dict__["args"].__get__


def _object_dict(value: Any) -> dict[str, Any]:
    found = object.__getattribute__(value, "__dict__")
    return found if type(found) is dict else {}


def _type_name(value: Any) -> str:
    try:
        name = _QUALNAME(type(value))
        return valid_unicode(name) if type(name) is str else "object"
    except Exception:  # noqa: BLE001
        return "object"


def unrenderable(value: Any, exc: BaseException, cap: int) -> str:
    """The placeholder for a value whose rendering failed with ``exc``."""
    return _truncate(f"<unrenderable {_type_name(value)}: {_type_name(exc)}>", cap)


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate (not encodable as UTF-8) as its backslash escape.

    Cheap when there is none: an ASCII check, else one encode.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


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
    sq: str | bytes
    dq: str | bytes
    if type(value) is str:
        sq, dq = "'", '"'
    else:
        sq, dq = b"'", b'"'
    full_double = sq in value and dq not in value  # type: ignore[operator]
    if full_double != (text[0 if type(value) is str else 1] == '"'):
        forced = head + (sq if full_double else dq)  # type: ignore[operator]
        text = repr(forced)
    return text[: cap - 3] + ELLIPSIS
