"""Slicing: one top-level function plus the top-level statements of its file that it needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..scopes import Facts, Import, Scanner, Scope, imports_of
from ..syntax import text as _text
from ..syntax import walk as _walk
from . import purity

if TYPE_CHECKING:
    from tree_sitter import Node


@dataclass
class Unit:
    """One top-level statement of a file."""

    index: int
    node: Node
    text: str
    binds: frozenset[str]
    refs: frozenset[str]  # free names it reads
    facts: Facts
    mutates: frozenset[str] = frozenset()
    imports: tuple[Import, ...] = ()  # set for import statements: what each name imports
    module_text: str = ""  # for `from X import ...`: the X

    @property
    def is_import(self) -> bool:
        return bool(self.imports)

    def render(self, names: set[str] | None) -> str:
        """The statement's text; an import statement imports only ``names``."""
        if not self.is_import or names is None or self.node.type == "future_import_statement":
            return self.text
        pieces = [i.piece for i in self.imports if i.bound in names]
        if self.node.type == "import_statement":
            return "import " + ", ".join(pieces)
        return f"from {self.module_text} import " + ", ".join(pieces)


def _is_main_guard(node: Node) -> bool:
    if node.type != "if_statement":
        return False
    condition = node.child_by_field_name("condition")
    return condition is not None and "__name__" in _text(condition)


_MUTATING_METHODS = frozenset(
    {"add", "append", "appendleft", "clear", "discard", "extend", "insert", "pop", "register", "remove"}
    | {"reverse", "setdefault", "sort", "update"}
)


def _root_name(node: Node | None) -> str | None:
    """``X`` for ``X``, ``X.a.b``, ``X[k]``, ``X.a[k].b``."""
    while node is not None and node.type in ("attribute", "subscript"):
        node = node.child_by_field_name("object" if node.type == "attribute" else "value")
    return _text(node) if node is not None and node.type == "identifier" else None


def _mutated_names(node: Node) -> frozenset[str]:
    """Names a top-level statement changes in place: ``X.append(...)``, ``X[k] = v``, ``del X[k]``."""
    if node.type in ("function_definition", "class_definition", "decorated_definition"):
        return frozenset()
    names = set()
    for child in _walk(node):
        target: Node | None = None
        if child.type == "call":
            function = child.child_by_field_name("function")
            if function is not None and function.type == "attribute":
                attribute = function.child_by_field_name("attribute")
                if attribute is not None and _text(attribute) in _MUTATING_METHODS:
                    target = function.child_by_field_name("object")
        elif child.type in ("assignment", "augmented_assignment"):
            left = child.child_by_field_name("left")
            if left is not None and left.type in ("attribute", "subscript"):
                target = left
        elif child.type == "delete_statement":
            for deleted in child.named_children:
                if deleted.type in ("attribute", "subscript"):
                    names.add(_root_name(deleted) or "")
        name = _root_name(target) if target is not None else None
        if name:
            names.add(name)
    names.discard("")
    return frozenset(names)


def top_level_units(root: Node) -> list[Unit]:
    units = []
    for node in root.named_children:
        if node.type == "comment" or _is_main_guard(node):
            continue
        if node.type == "expression_statement" and node.named_children and node.named_children[0].type == "string":
            continue  # a docstring
        scanner = Scanner()
        scope = Scope("module")
        scanner.scan(node, scope)
        imports: tuple[Import, ...] = ()
        module_text = ""
        if node.type in ("import_statement", "import_from_statement", "future_import_statement"):
            imports = tuple(imports_of(node))
            module_node = node.child_by_field_name("module_name")
            module_text = _text(module_node) if module_node is not None else ""
        units.append(
            Unit(
                index=len(units),
                node=node,
                text=_text(node),
                binds=frozenset(scope.binds),
                refs=frozenset(scope.refs | scope.nested_free),
                facts=scanner.facts,
                mutates=_mutated_names(node),
                imports=imports,
                module_text=module_text,
            )
        )
    return units


def function_node(unit: Unit) -> Node | None:
    node = unit.node
    if node.type == "decorated_definition":
        node = node.child_by_field_name("definition") or node
    return node if node.type == "function_definition" else None


class Module:
    """A parsed file: its top-level statements and what binds each name."""

    def __init__(self, root: Node) -> None:
        self.units = top_level_units(root)
        self.binders: dict[str, list[Unit]] = {}
        for unit in self.units:
            for name in unit.binds:
                self.binders.setdefault(name, []).append(unit)
        self.top_names = frozenset(self.binders)

    def program(self, unit: Unit, extra: Iterable[str] = ()) -> tuple[str, None] | tuple[None, str]:
        """(source, None) for ``unit`` and what it needs, or (None, why it is skipped)."""
        included: dict[int, set[str] | None] = {unit.index: None}
        pending = [*sorted(unit.refs), *extra]
        seen: set[str] = set()
        while pending:
            while pending:
                name = pending.pop()
                if name in seen:
                    continue
                seen.add(name)
                for binder in self.binders.get(name, ()):
                    if binder.is_import:
                        names = included.setdefault(binder.index, set())
                        if names is not None:
                            names.add(name)
                    elif binder.index not in included:
                        included[binder.index] = None
                        pending.extend(sorted(binder.refs))
            # statements that change what is included in place (`TABLE.append(...)` in a loop)
            for other in self.units:
                if other.index not in included and other.mutates & seen:
                    included[other.index] = None
                    pending.extend(sorted(other.refs))
        for other in self.units:  # `from __future__ import ...` always comes along
            if other.node.type == "future_import_statement":
                included.setdefault(other.index, None)
        chosen = [self.units[i] for i in sorted(included)]
        problem = purity.problem(chosen, included, set(extra), self.top_names)
        if problem is not None:
            return None, problem
        return "\n\n".join(u.render(included[u.index]) for u in chosen) + "\n", None
