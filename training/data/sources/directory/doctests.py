"""Inputs from doctests: the single-line ``>>> f(...)`` examples of a function's docstring."""

from __future__ import annotations

import ast
import warnings
from typing import TYPE_CHECKING

from ..scopes import free_names
from ..syntax import parser as _parser
from ..syntax import text as _text

if TYPE_CHECKING:
    from tree_sitter import Node


def docstring_of(function: Node) -> str | None:
    body = function.child_by_field_name("body")
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type != "expression_statement" or not first.named_children:
        return None
    literal = first.named_children[0]
    if literal.type not in ("string", "concatenated_string"):
        return None
    try:
        with warnings.catch_warnings():  # invalid escapes ("\d") warn
            warnings.simplefilter("ignore")
            value = ast.literal_eval(_text(literal))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def doctest_calls(docstring: str, name: str, module: str) -> list[str]:
    """Single-line ``>>> name(...)`` examples, as written (``>>> module.name(...)``: without ``module.``)."""
    lines = docstring.splitlines()
    calls = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith(">>> "):
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if following.startswith("..."):
            continue  # a multi-line example
        expression = stripped[4:].strip()
        if expression.startswith(f"{module}.{name}("):
            expression = expression[len(module) + 1 :]
        if _is_call_of(expression, name):
            calls.append(expression)
    return calls


def _is_call_of(expression: str, name: str) -> bool:
    tree = _parser().parse(expression.encode())
    root = tree.root_node
    if root.has_error or len(root.named_children) != 1:
        return False
    statement = root.named_children[0]
    if statement.type != "expression_statement" or len(statement.named_children) != 1:
        return False
    call = statement.named_children[0]
    function = call.child_by_field_name("function") if call.type == "call" else None
    return function is not None and function.type == "identifier" and _text(function) == name


def expression_free_names(expression: str) -> set[str]:
    """Names an example reads from outside it."""
    return free_names(_parser().parse(expression.encode()).root_node)
