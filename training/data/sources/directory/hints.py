"""Annotation parsing: a Hypothesis strategy for a simple annotation (``int``, ``list[str]``, ``dict[str, int] | None``)."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

_TOKEN = re.compile(r"\.\.\.|[A-Za-z_][\w.]*|[\[\],|]|\S")
_TEXT_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "
_LIST_NAMES = frozenset({"list", "List", "Sequence", "MutableSequence", "Iterable", "Collection"})
_SET_NAMES = frozenset({"set", "Set", "AbstractSet", "MutableSet"})
_DICT_NAMES = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
_TUPLE_NAMES = frozenset({"tuple", "Tuple"})


class _Unsupported(Exception):
    """An annotation with no simple strategy."""


def _scalar(name: str) -> tuple[SearchStrategy[Any], bool] | None:
    from hypothesis import strategies as st

    scalars: dict[str, Callable[[], SearchStrategy[Any]]] = {
        "int": lambda: st.integers(-1000, 1000),
        "float": lambda: st.floats(-1000, 1000, allow_nan=False, allow_subnormal=False).map(lambda x: round(x, 3)),
        "bool": st.booleans,
        "str": lambda: st.text(alphabet=_TEXT_ALPHABET, max_size=20),
        "bytes": lambda: st.binary(max_size=20),
        "None": st.none,
    }
    make = scalars.get(name)
    return (make(), True) if make is not None else None


class _AnnotationParser:
    """``int``, ``list[str]``, ``tuple[int, ...]``, ``dict[str, int] | None``, ``Optional[...]``: a strategy.

    Returns (strategy, hashable); anything else raises ``_Unsupported``.
    """

    def __init__(self, text: str) -> None:
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        self.tokens = _TOKEN.findall(text)
        self.pos = 0

    def parse(self) -> tuple[SearchStrategy[Any], bool]:
        result = self._union()
        if self.pos != len(self.tokens):
            raise _Unsupported
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported
        self.pos += 1
        return token

    def _union(self) -> tuple[SearchStrategy[Any], bool]:
        options = [self._atom()]
        while self._peek() == "|":
            self._take("|")
            options.append(self._atom())
        return self._one_of(options)

    @staticmethod
    def _one_of(options: list[tuple[SearchStrategy[Any], bool]]) -> tuple[SearchStrategy[Any], bool]:
        from hypothesis import strategies as st

        if len(options) == 1:
            return options[0]
        return st.one_of([s for s, _ in options]), all(h for _, h in options)

    def _atom(self) -> tuple[SearchStrategy[Any], bool]:
        from hypothesis import strategies as st

        token = self._take()
        if not (token[0].isalpha() or token[0] == "_"):
            raise _Unsupported
        name = token.rsplit(".", 1)[-1]
        args: list[tuple[SearchStrategy[Any], bool]] = []
        ellipsis = False
        if self._peek() == "[":
            self._take("[")
            while True:
                if self._peek() == "...":
                    self._take()
                    ellipsis = True
                else:
                    args.append(self._union())
                if self._peek() != ",":
                    break
                self._take(",")
            self._take("]")
        if not args and not ellipsis:
            scalar = _scalar(name)
            if scalar is None:
                raise _Unsupported
            return scalar
        if name == "Optional" and len(args) == 1 and not ellipsis:
            return self._one_of([(st.none(), True), args[0]])
        if name == "Union" and not ellipsis:
            return self._one_of(args)
        if name in _LIST_NAMES and len(args) == 1 and not ellipsis:
            return st.lists(args[0][0], max_size=10), False
        if name in _SET_NAMES and len(args) == 1 and args[0][1] and not ellipsis:
            return st.sets(args[0][0], max_size=10), False
        if name in _DICT_NAMES and len(args) == 2 and args[0][1] and not ellipsis:
            return st.dictionaries(args[0][0], args[1][0], max_size=10), False
        if name in _TUPLE_NAMES and ellipsis and len(args) == 1:
            return st.lists(args[0][0], max_size=10).map(tuple), args[0][1]
        if name in _TUPLE_NAMES and args and not ellipsis:
            return st.tuples(*(s for s, _ in args)), all(h for _, h in args)
        raise _Unsupported


def annotation_strategy(annotation: str) -> SearchStrategy[Any] | None:
    try:
        return _AnnotationParser(annotation).parse()[0]
    except _Unsupported:
        return None
