"""Call generation: entry calls of a function with generated literal arguments."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any

from ..syntax import text as _text
from .hints import Generator, value_generator

if TYPE_CHECKING:
    from tree_sitter import Node


DRAWS_PER_CALL = 4  # draws tried per call wanted: a bool parameter has only two distinct calls


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str | None
    has_default: bool
    kind: str  # "positional_only", "positional", "keyword_only", "star"


def parameters_of(function: Node) -> list[Param]:
    params = function.child_by_field_name("parameters")
    children = params.named_children if params is not None else []
    result: list[Param] = []
    kind = "positional"
    if any(c.type == "positional_separator" for c in children):
        kind = "positional_only"
    for child in children:
        if child.type == "positional_separator":
            kind = "positional"
            continue
        if child.type == "keyword_separator":
            kind = "keyword_only"
            continue
        if child.type in ("list_splat_pattern", "dictionary_splat_pattern"):
            result.append(Param(_text(child), None, True, "star"))
            if child.type == "list_splat_pattern":
                kind = "keyword_only"
            continue
        annotation = child.child_by_field_name("type")
        if child.type == "typed_parameter":
            inner = child.named_children[0]
            if inner.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                result.append(Param(_text(inner), None, True, "star"))
                if inner.type == "list_splat_pattern":
                    kind = "keyword_only"
                continue
            name = _text(inner)
        elif child.type == "identifier":
            name = _text(child)
        else:
            name_node = child.child_by_field_name("name")
            name = _text(name_node) if name_node is not None else _text(child)
        has_default = child.type in ("default_parameter", "typed_default_parameter")
        result.append(Param(name, _text(annotation) if annotation is not None else None, has_default, kind))
    return result


def _render(value: Any) -> str:
    """Like repr(), but sets come out sorted (their repr depends on the hash seed)."""
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [_render(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_render(k)}: {_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_render(v) for v in value)) + "}" if value else "set()"
    return repr(value)


def _round_trips(text: str, value: Any) -> bool:
    try:
        return bool(ast.literal_eval(text) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _draw(generators: list[Generator], count: int, seed: int) -> list[tuple[Any, ...]]:
    """Up to ``count`` distinct argument tuples (by rendering), the same ones for the same seed."""
    rng = Random(seed)
    drawn: dict[str, tuple[Any, ...]] = {}
    for _ in range(count * DRAWS_PER_CALL):
        if len(drawn) == count:
            break
        values = tuple(generate(rng) for generate in generators)
        drawn.setdefault(_render(values), values)
    return list(drawn.values())


def generated_calls(name: str, params: list[Param], count: int, seed: int) -> list[str]:
    """Calls of ``name`` with arguments drawn under ``seed``; [] unless every required parameter is simple."""
    chosen: list[tuple[Param, Generator]] = []
    for param in params:
        generator = value_generator(param.annotation) if param.annotation is not None and param.kind != "star" else None
        if generator is None:
            if not param.has_default:
                return []
            continue
        chosen.append((param, generator))
    if count <= 0:
        return []
    if not chosen:
        return [f"{name}()"]
    calls = []
    for values in _draw([s for _, s in chosen], count, seed):
        args = []
        by_keyword = False
        for (param, _), value in zip(chosen, values, strict=True):
            text = _render(value)
            if not _round_trips(text, value):
                break
            # once a defaulted parameter is left out, later ones go by keyword
            by_keyword = by_keyword or param.kind == "keyword_only" or params.index(param) != len(args)
            if by_keyword and param.kind == "positional_only":
                continue
            args.append(f"{param.name}={text}" if by_keyword else text)
        else:
            calls.append(f"{name}({', '.join(args)})")
    return calls
