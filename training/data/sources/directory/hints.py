"""Annotation parsing: a value generator for a simple annotation, read with :mod:`ast`.

``int``, ``list[str]``, ``tuple[int, ...]``, ``dict[str, int] | None``,
``Optional[...]``, ``Union[...]``, ``typing.List[...]`` and a quoted
annotation (``"Optional[int]"``) have one; anything else (a class, a
``Callable``, a bare ``list``, unhashable set members or dict keys) has none.

A generator draws a value from a :class:`random.Random`, using only its
``random()`` method: for a given seed, Python guarantees that sequence across
versions, so a seed alone decides the drawn arguments, whatever the process
has imported and whichever library versions are installed.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable
from random import Random
from typing import Any

Generator = Callable[[Random], Any]

TEXT_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "
MAX_TEXT = 20  # characters of a str, bytes of a bytes
MAX_ITEMS = 10  # items of a list, set, dict or variable-length tuple
INT_RANGE = (-1000, 1000)
FLOAT_DIGITS = 3  # floats are rounded to this many decimals

_LIST_NAMES = frozenset({"list", "List", "Sequence", "MutableSequence", "Iterable", "Collection"})
_SET_NAMES = frozenset({"set", "Set", "AbstractSet", "MutableSet"})
_DICT_NAMES = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
_TUPLE_NAMES = frozenset({"tuple", "Tuple"})


def below(rng: Random, n: int) -> int:
    """A whole number in ``[0, n)``, from ``rng.random()`` alone."""
    return min(int(rng.random() * n), n - 1)


def _size(rng: Random, most: int) -> int:
    """A length in ``[0, most]``, short ones more often (as property-based testing draws them)."""
    return below(rng, below(rng, most + 1) + 1)


def _integer(rng: Random) -> int:
    low, high = INT_RANGE
    if rng.random() < 0.25:  # the values where code most often breaks
        return (0, 1, -1, 2, low, high)[below(rng, 6)]
    return low + below(rng, high - low + 1)


def _float(rng: Random) -> float:
    low, high = INT_RANGE
    if rng.random() < 0.2:
        return (0.0, 1.0, -1.0, 0.5)[below(rng, 4)]
    return round(low + rng.random() * (high - low), FLOAT_DIGITS)


def _text(rng: Random) -> str:
    return "".join(TEXT_ALPHABET[below(rng, len(TEXT_ALPHABET))] for _ in range(_size(rng, MAX_TEXT)))


_SCALARS: dict[str, Generator] = {
    "int": _integer,
    "float": _float,
    "bool": lambda rng: rng.random() < 0.5,
    "str": _text,
    "bytes": lambda rng: bytes(below(rng, 256) for _ in range(_size(rng, MAX_TEXT))),
}


def _none(rng: Random) -> None:
    return None


def _one_of(options: list[tuple[Generator, bool]]) -> tuple[Generator, bool]:
    if len(options) == 1:
        return options[0]
    generators = [g for g, _ in options]
    return (lambda rng: generators[below(rng, len(generators))](rng)), all(h for _, h in options)


def _list(item: Generator) -> Generator:
    return lambda rng: [item(rng) for _ in range(_size(rng, MAX_ITEMS))]


def _set(item: Generator) -> Generator:
    return lambda rng: {item(rng) for _ in range(_size(rng, MAX_ITEMS))}


def _dict(key: Generator, value: Generator) -> Generator:
    return lambda rng: {key(rng): value(rng) for _ in range(_size(rng, MAX_ITEMS))}


def _tuple(items: list[Generator]) -> Generator:
    return lambda rng: tuple(item(rng) for item in items)


class _Unsupported(Exception):
    """An annotation with no simple generator."""


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List
        return node.attr
    raise _Unsupported


def _union_members(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_members(node.left), *_union_members(node.right)]
    return [node]


def _generator(node: ast.expr) -> tuple[Generator, bool]:
    """(generator, whether its values are hashable) for an annotation's expression."""
    members = _union_members(node)
    if len(members) > 1:
        return _one_of([_generator(m) for m in members])
    if isinstance(node, ast.Constant) and node.value is None:
        return _none, True
    if not isinstance(node, ast.Subscript):
        name = _name(node)
        if name == "None":
            return _none, True
        if name not in _SCALARS:
            raise _Unsupported
        return _SCALARS[name], True
    name = _name(node.value)
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    ellipsis = any(isinstance(p, ast.Constant) and p.value is Ellipsis for p in parts)
    args = [_generator(p) for p in parts if not (isinstance(p, ast.Constant) and p.value is Ellipsis)]
    if name == "Optional" and len(args) == 1 and not ellipsis:
        return _one_of([(_none, True), args[0]])
    if name == "Union" and args and not ellipsis:
        return _one_of(args)
    if name in _LIST_NAMES and len(args) == 1 and not ellipsis:
        return _list(args[0][0]), False
    if name in _SET_NAMES and len(args) == 1 and args[0][1] and not ellipsis:
        return _set(args[0][0]), False
    if name in _DICT_NAMES and len(args) == 2 and args[0][1] and not ellipsis:
        return _dict(args[0][0], args[1][0]), False
    if name in _TUPLE_NAMES and ellipsis and len(parts) == 2 and len(args) == 1:
        item = _list(args[0][0])
        return (lambda rng: tuple(item(rng))), args[0][1]
    if name in _TUPLE_NAMES and args and not ellipsis:
        return _tuple([g for g, _ in args]), all(h for _, h in args)
    raise _Unsupported


def value_generator(annotation: str) -> Generator | None:
    """A generator of values of ``annotation`` (its source text), or None when it is not simple."""
    try:
        node = ast.parse(annotation.strip(), mode="eval").body
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
            node = ast.parse(node.value.strip(), mode="eval").body
        return _generator(node)[0]
    except (SyntaxError, ValueError, RecursionError, _Unsupported):
        return None
