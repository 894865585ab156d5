"""Scope analysis on tree-sitter trees: which names a piece of code binds, and which it reads from outside.

The one analyser of the sources that read Python code (directories, HumanEval's tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .syntax import text as _text

if TYPE_CHECKING:
    from tree_sitter import Node

_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)
_TARGET_CONTAINERS = frozenset(  # what an assignment target can be made of, around the names it binds
    "pattern_list tuple_pattern list_pattern tuple list parenthesized_expression list_splat_pattern"
    " expression_list as_pattern_target".split()
)


@dataclass
class Scope:
    kind: str  # "module", "function", "class" or "comprehension"
    binds: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)
    not_local: set[str] = field(default_factory=set)  # global / nonlocal declarations
    nested_free: set[str] = field(default_factory=set)
    parent: Scope | None = None

    def free(self) -> set[str]:
        """Names this scope reads from the scopes around it."""
        local = self.binds - self.not_local
        if self.kind == "class":  # methods do not see the class body's names
            return (self.refs - local) | self.nested_free
        return (self.refs | self.nested_free) - local


@dataclass(frozen=True)
class Import:
    """One name an import statement binds."""

    bound: str
    module: str | None  # the dotted module name; None for relative imports
    piece: str  # the text that imports it: "a.b as c", "x"


@dataclass
class Facts:
    imports: list[Import] = field(default_factory=list)
    attributes: set[str] = field(default_factory=set)
    mutates_globals: bool = False


class Scanner:
    """Walks a syntax tree, recording bindings and free names per scope."""

    def __init__(self) -> None:
        self.facts = Facts()

    def scan(self, node: Node, scope: Scope) -> None:
        kind = node.type
        if kind == "identifier":
            scope.refs.add(_text(node))
        elif kind == "function_definition":
            self._function(node, scope)
        elif kind == "lambda":
            self._lambda(node, scope)
        elif kind == "class_definition":
            self._class(node, scope)
        elif kind in _COMPREHENSIONS:
            inner = Scope("comprehension", parent=scope)
            for child in node.children:
                self.scan(child, inner)
            scope.nested_free |= inner.free()
        elif kind in ("import_statement", "import_from_statement", "future_import_statement"):
            imports = imports_of(node)
            self.facts.imports.extend(imports)
            scope.binds.update(i.bound for i in imports)
        elif kind == "case_pattern":
            self._pattern(node, scope)
        elif kind == "attribute":
            obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
            if obj is not None:
                self.scan(obj, scope)
            if attr is not None:
                self.facts.attributes.add(_text(attr))
        elif kind == "keyword_argument":
            value = node.child_by_field_name("value")
            if value is not None:
                self.scan(value, scope)
        elif kind in ("global_statement", "nonlocal_statement"):
            names = {_text(c) for c in node.named_children if c.type == "identifier"}
            scope.not_local |= names
            scope.refs |= names
            if kind == "global_statement" and scope.kind != "module":
                self.facts.mutates_globals = True
        else:
            if kind in ("assignment", "augmented_assignment", "for_statement", "for_in_clause"):
                self._bind(node.child_by_field_name("left"), scope)
            elif kind == "named_expression":  # binds outside any comprehension it is in
                target = scope
                while target.kind == "comprehension" and target.parent is not None:
                    target = target.parent
                self._bind(node.child_by_field_name("name"), target)
            elif kind == "as_pattern_target":
                self._bind(node, scope)
            for child in node.children:
                self.scan(child, scope)

    def _pattern(self, node: Node, scope: Scope) -> None:
        """A ``case`` pattern: bare names capture, dotted names and class names are read."""
        for child in node.children:
            if child.type == "dotted_name":
                parts = [_text(c) for c in child.named_children]
                if len(parts) == 1 and node.type in ("case_pattern", "keyword_pattern"):
                    scope.binds.add(parts[0])
                elif parts:
                    scope.refs.add(parts[0])
            elif child.type == "identifier":
                if node.type in ("splat_pattern", "as_pattern"):
                    scope.binds.add(_text(child))
            elif child.named_children:
                self._pattern(child, scope)

    def _bind(self, target: Node | None, scope: Scope) -> None:
        if target is None:
            return
        if target.type == "identifier":
            scope.binds.add(_text(target))
        elif target.type in _TARGET_CONTAINERS:
            for child in target.named_children:
                self._bind(child, scope)

    def _parameters(self, params: Node | None, outer: Scope, inner: Scope) -> None:
        """Parameter names bind in the function; defaults and annotations run outside it."""
        for param in params.named_children if params is not None else ():
            for child in [param, *param.children]:
                if child.type == "identifier":
                    inner.binds.add(_text(child))
                    break
                if child.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                    inner.binds.update(_text(c) for c in child.named_children if c.type == "identifier")
                    break
            for name in ("type", "value"):
                part = param.child_by_field_name(name)
                if part is not None:
                    self.scan(part, outer)
            for child in param.children:
                if child.type == "type" and param.child_by_field_name("type") is None:
                    self.scan(child, outer)

    def _function(self, node: Node, scope: Scope) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            scope.binds.add(_text(name))
        inner = Scope("function")
        self._parameters(node.child_by_field_name("parameters"), scope, inner)
        returns = node.child_by_field_name("return_type")
        if returns is not None:
            self.scan(returns, scope)
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()

    def _lambda(self, node: Node, scope: Scope) -> None:
        inner = Scope("function")
        self._parameters(node.child_by_field_name("parameters"), scope, inner)
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()

    def _class(self, node: Node, scope: Scope) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            scope.binds.add(_text(name))
        bases = node.child_by_field_name("superclasses")
        if bases is not None:
            self.scan(bases, scope)
        inner = Scope("class")
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()


def imports_of(node: Node) -> list[Import]:
    """The names an import statement binds, each with its module and its piece of text."""
    if node.type == "future_import_statement":
        return [Import(_text(c), "__future__", _text(c)) for c in node.children_by_field_name("name")]
    if node.type == "import_statement":
        result = []
        for piece in node.children_by_field_name("name"):
            if piece.type == "aliased_import":
                module, alias = piece.child_by_field_name("name"), piece.child_by_field_name("alias")
                bound = _text(alias) if alias is not None else ""
                dotted = _text(module) if module is not None else ""
            else:
                dotted = _text(piece)
                bound = dotted.split(".")[0]
            result.append(Import(bound, dotted, _text(piece)))
        return result
    module_node = node.child_by_field_name("module_name")
    module = None if module_node is None or module_node.type == "relative_import" else _text(module_node)
    if any(c.type == "wildcard_import" for c in node.children):
        return [Import("*", module, "*")]
    result = []
    for piece in node.children_by_field_name("name"):
        if piece.type == "aliased_import":
            alias = piece.child_by_field_name("alias")
            bound = _text(alias) if alias is not None else ""
        else:
            bound = _text(piece)
        result.append(Import(bound, module, _text(piece)))
    return result


def free_names(node: Node) -> set[str]:
    """Names ``node`` (an expression, a statement, a module) reads that it does not bind itself."""
    scope = Scope("module")
    Scanner().scan(node, scope)
    return (scope.refs | scope.nested_free) - scope.binds


def top_level_names(root: Node) -> set[str]:
    """Names a module binds at its top level: defs, classes, imports, assignments, loop and ``with`` targets."""
    scope = Scope("module")
    Scanner().scan(root, scope)
    return scope.binds - {""}
