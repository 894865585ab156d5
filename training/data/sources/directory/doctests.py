"""Inputs from doctests: the single-line ``>>> f(...)`` examples of a function's docstring."""

from __future__ import annotations

import ast
import doctest
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
    """Single-line ``>>> name(...)`` examples, as written (``>>> module.name(...)``: without ``module.``).

    The examples are found by the standard library's :class:`doctest.DocTestParser`;
    a docstring it refuses (inconsistent indentation, ``>>>`` without a blank
    after it) gives none.
    """
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:
        return []
    calls = []
    for example in examples:
        expression = example.source.strip()
        if "\n" in expression:
            continue  # a multi-line example
        if expression.startswith(f"{module}.{name}("):
            expression = expression[len(module) + 1 :]
        if _is_call_of(expression, name):
            calls.append(expression)
    return calls


def _is_call_of(expression: str, name: str) -> bool:
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError):
        return False
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name):
        return False
    return ast.get_source_segment(expression, call) == expression  # nothing around it: no comment, no parentheses


def expression_free_names(expression: str) -> set[str]:
    """Names an example reads from outside it."""
    return free_names(_parser().parse(expression.encode()).root_node)
