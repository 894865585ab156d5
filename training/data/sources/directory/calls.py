"""Call generation: entry calls of a function with generated literal arguments."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..syntax import text as _text
from .hints import annotation_strategy

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from tree_sitter import Node


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


@contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis sometimes draws constants found in the *local* modules it sees in
    ``sys.modules``, so what it draws would depend on what the process has imported
    (the CLI, a test run). Hide them, so a seed alone decides the arguments."""
    try:
        from hypothesis.internal.conjecture import providers

        original = providers._get_local_constants
        empty = providers.Constants()
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # pragma: no cover - another Hypothesis version
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def _draw(strategies: list[SearchStrategy[Any]], count: int, seed: int) -> list[tuple[Any, ...]]:
    """``count`` argument tuples, the same ones for the same seed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st

    drawn: list[tuple[Any, ...]] = []

    @with_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    @given(st.tuples(*strategies))
    def collect(args: tuple[Any, ...]) -> None:
        drawn.append(args)

    try:
        with _without_local_constants():
            collect()
    except Exception:  # noqa: BLE001 - a strategy Hypothesis cannot run gives no inputs, never a crash
        return []
    return drawn[:count]


def generated_calls(name: str, params: list[Param], count: int, seed: int) -> list[str]:
    """Calls of ``name`` with Hypothesis-drawn arguments; [] unless every required parameter is simple."""
    chosen: list[tuple[Param, SearchStrategy[Any]]] = []
    for param in params:
        strategy = (
            annotation_strategy(param.annotation) if param.annotation is not None and param.kind != "star" else None
        )
        if strategy is None:
            if not param.has_default:
                return []
            continue
        chosen.append((param, strategy))
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
