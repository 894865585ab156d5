"""Type guessing: an annotation for an unannotated parameter, from how the body uses it and its name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..syntax import text as _text
from ..syntax import walk as _walk

if TYPE_CHECKING:
    from tree_sitter import Node

_STR_METHODS = frozenset(
    "capitalize casefold center encode endswith expandtabs find format isalnum isalpha isascii isdecimal"
    " isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower lstrip"
    " partition removeprefix removesuffix replace rfind rjust rpartition rsplit rstrip split splitlines"
    " startswith strip swapcase title translate upper zfill".split()
)
_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "remove", "reverse", "sort"})
_DICT_METHODS = frozenset({"items", "keys", "values", "get", "setdefault", "popitem"})
_ARITHMETIC = frozenset({"binary_operator", "unary_operator", "parenthesized_expression", "comparison_operator"})
_NAME_HINTS = {
    **dict.fromkeys(
        "text s string prefix suffix word line sep separator char ch pattern msg message sentence name title"
        " label delimiter".split(),
        "str",
    ),
    **dict.fromkeys(
        "n i j k m lo hi low high width count num number index idx size length start stop end step depth"
        " level limit times digits".split(),
        "int",
    ),
    **dict.fromkeys("x y z target".split(), "int"),
    **dict.fromkeys("a arr array lst nums numbers values seq sequence items xs".split(), "list[int]"),
    **dict.fromkeys("words lines strings names".split(), "list[str]"),
}
_PREFERENCE = ("bytes", "str", "list[int]", "list[str]", "dict[str, int]", "float", "int")


def _string_kind(node: Node) -> str:
    """Whether a string literal is bytes (``b"..."``) or str."""
    prefix = _text(node).split("'")[0].split('"')[0].lower()
    return "bytes" if "b" in prefix else "str"


def _region_evidence(region: Node) -> str:
    """What an arithmetic or comparison expression says about the names in it."""
    kinds = set()
    stack = [region]
    while stack:
        node = stack.pop()
        if node.type == "string":
            kinds.add(_string_kind(node))
        elif node.type == "concatenated_string":
            kinds.update(_string_kind(c) for c in node.named_children)
        elif node.type == "float" or (
            node.type == "/" and node.parent is not None and node.parent.type == "binary_operator"
        ):
            kinds.add("float")
        elif node.type in _ARITHMETIC:
            stack.extend(node.children)
    return next((kind for kind in ("bytes", "str", "float") if kind in kinds), "int")


def _method_evidence(attribute: Node) -> str:
    """``p.startswith(b"x")`` says bytes, ``p.split(",")`` (or no literal) says str."""
    call = attribute.parent
    arguments = call.child_by_field_name("arguments") if call is not None and call.type == "call" else None
    literals = [c for c in arguments.named_children if c.type == "string"] if arguments is not None else []
    return "bytes" if any(_string_kind(c) == "bytes" for c in literals) else "str"


def inferred_annotation(function: Node, param: str) -> str | None:
    """A guessed annotation for an unannotated parameter, from how the body uses it and its name.

    Strong evidence (``p.split()``, ``p * 0.5``, ``p.append(...)``) beats the name
    (``text``, ``n``), which beats weak evidence (``p[i]``, ``p < q``). None when
    the parameter is called or has attributes no builtin type has.
    """
    strong: set[str] = set()
    weak: set[str] = set()
    body = function.child_by_field_name("body")
    for node in _walk(body) if body is not None else ():
        parent = node.parent
        if node.type != "identifier" or _text(node) != param or parent is None:
            continue
        if parent.type == "attribute" and parent.child_by_field_name("object") == node:
            attribute = _text(parent.child_by_field_name("attribute") or parent)
            if attribute in _STR_METHODS:
                strong.add(_method_evidence(parent))
            elif attribute in _LIST_METHODS:
                strong.add("list[int]")
            elif attribute in _DICT_METHODS:
                strong.add("dict[str, int]")
            else:
                return None
        elif parent.type == "call" and parent.child_by_field_name("function") == node:
            return None
        elif parent.type == "subscript" and parent.child_by_field_name("value") == node:
            weak.add("list[int]")
        elif parent.type in ("for_statement", "for_in_clause") and parent.child_by_field_name("right") == node:
            weak.add("list[int]")
        elif parent.type == "argument_list" and parent.parent is not None:
            called = parent.parent.child_by_field_name("function")
            called_name = _text(called) if called is not None and called.type == "identifier" else ""
            if called_name in ("range", "divmod", "abs", "pow", "chr", "hex", "oct", "bin"):
                strong.add("int")
            elif called_name in ("len", "sorted", "sum", "enumerate"):
                weak.add("list[int]")
        elif parent.type in _ARITHMETIC:
            region = parent
            while region.parent is not None and region.parent.type in _ARITHMETIC:
                region = region.parent
            evidence = _region_evidence(region)
            (strong if evidence != "int" else weak).add(evidence)
    for evidence in (strong, {_NAME_HINTS[param]} if param in _NAME_HINTS else set(), weak):
        for kind in _PREFERENCE:
            if kind in evidence:
                return kind
    return None
