"""tree-sitter for the sources that read Python code (imported lazily: an optional dependency)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from .errors import SourceError

if TYPE_CHECKING:
    from tree_sitter import Node, Parser


@cache
def parser() -> Parser:
    """A tree-sitter parser for Python."""
    try:
        import tree_sitter_python
        from tree_sitter import Language, Parser
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SourceError(
            "reading Python code needs tree-sitter and tree-sitter-python: pip install 'cwm[data]'"
        ) from exc
    return Parser(Language(tree_sitter_python.language()))


def text(node: Node) -> str:
    """The source text of a node."""
    return (node.text or b"").decode("utf-8")


def walk(node: Node) -> Iterator[Node]:
    """``node`` and all its descendants, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))
