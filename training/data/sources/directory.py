"""Programs from a directory (or a single file) of Python code.

Tree-sitter finds each file's top-level functions. A program is one function
plus the same file's top-level definitions, constants and imports it needs
(transitively, in file order); its inputs come from the function's doctest
examples and, where every parameter has a simple annotation (``int``,
``list[str]``, ``dict[str, int] | None``, ...), from Hypothesis strategies drawn
under a fixed seed. Functions that touch the outside world (``os``, ``sys``,
``random``, ``time``, ``open()``, ``input()``, ``global`` statements, ...) are
skipped with a countable reason, as are unreadable, non-UTF-8 and unparsable
files: nothing in a directory is fatal except the directory being missing.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import os
import re
import string
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Skip, SourceProgram
from .errors import SourceError
from .syntax import parser as _parser
from .syntax import text as _text
from .syntax import walk as _walk

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from tree_sitter import Node

# Modules whose use means a function touches the outside world (files, the
# process, the network, the clock, randomness, threads): such functions are skipped.
FORBIDDEN_MODULES = frozenset(
    "asyncio builtins concurrent ctypes dbm fcntl fileinput ftplib getpass glob http importlib logging mmap"
    " multiprocessing os pathlib platform poplib random requests secrets select selectors shelve shutil signal"
    " smtplib socket socketserver sqlite3 ssl subprocess sys tempfile threading time tkinter urllib uuid"
    " webbrowser".split()
)

# Builtins that read input, touch files, run code or end the process.
FORBIDDEN_BUILTINS = {
    name: f"calls {name}()"
    for name in ("open", "input", "exec", "eval", "compile", "__import__", "breakpoint", "exit", "quit", "help")
}

_CLOCK_ATTRIBUTES = frozenset({"now", "utcnow", "today"})
_IO_FILES = frozenset({"open", "open_code", "FileIO"})  # io's in-memory streams are fine
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
_BUILTIN_NAMES = frozenset(dir(builtins))
_MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__"})
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}
_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)
_TARGET_CONTAINERS = frozenset(  # what an assignment target can be made of, around the names it binds
    "pattern_list tuple_pattern list_pattern tuple list parenthesized_expression list_splat_pattern"
    " expression_list as_pattern_target".split()
)


# --- tree-sitter ---------------------------------------------------------------------------------


# --- scopes: which names a piece of code binds and which it reads from outside ---------------------


@dataclass
class _Scope:
    kind: str  # "module", "function", "class" or "comprehension"
    binds: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)
    not_local: set[str] = field(default_factory=set)  # global / nonlocal declarations
    nested_free: set[str] = field(default_factory=set)
    parent: _Scope | None = None

    def free(self) -> set[str]:
        """Names this scope reads from the scopes around it."""
        local = self.binds - self.not_local
        if self.kind == "class":  # methods do not see the class body's names
            return (self.refs - local) | self.nested_free
        return (self.refs | self.nested_free) - local


@dataclass(frozen=True)
class _Import:
    """One name an import statement binds."""

    bound: str
    module: str | None  # the dotted module name; None for relative imports
    piece: str  # the text that imports it: "a.b as c", "x"


@dataclass
class _Facts:
    imports: list[_Import] = field(default_factory=list)
    attributes: set[str] = field(default_factory=set)
    mutates_globals: bool = False


class _Scanner:
    """Walks a syntax tree, recording bindings and free names per scope."""

    def __init__(self) -> None:
        self.facts = _Facts()

    def scan(self, node: Node, scope: _Scope) -> None:
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
            inner = _Scope("comprehension", parent=scope)
            for child in node.children:
                self.scan(child, inner)
            scope.nested_free |= inner.free()
        elif kind in ("import_statement", "import_from_statement", "future_import_statement"):
            imports = _imports(node)
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

    def _pattern(self, node: Node, scope: _Scope) -> None:
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

    def _bind(self, target: Node | None, scope: _Scope) -> None:
        if target is None:
            return
        if target.type == "identifier":
            scope.binds.add(_text(target))
        elif target.type in _TARGET_CONTAINERS:
            for child in target.named_children:
                self._bind(child, scope)

    def _parameters(self, params: Node | None, outer: _Scope, inner: _Scope) -> None:
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

    def _function(self, node: Node, scope: _Scope) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            scope.binds.add(_text(name))
        inner = _Scope("function")
        self._parameters(node.child_by_field_name("parameters"), scope, inner)
        returns = node.child_by_field_name("return_type")
        if returns is not None:
            self.scan(returns, scope)
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()

    def _lambda(self, node: Node, scope: _Scope) -> None:
        inner = _Scope("function")
        self._parameters(node.child_by_field_name("parameters"), scope, inner)
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()

    def _class(self, node: Node, scope: _Scope) -> None:
        name = node.child_by_field_name("name")
        if name is not None:
            scope.binds.add(_text(name))
        bases = node.child_by_field_name("superclasses")
        if bases is not None:
            self.scan(bases, scope)
        inner = _Scope("class")
        body = node.child_by_field_name("body")
        if body is not None:
            self.scan(body, inner)
        scope.nested_free |= inner.free()


def _imports(node: Node) -> list[_Import]:
    """The names an import statement binds, each with its module and its piece of text."""
    if node.type == "future_import_statement":
        return [_Import(_text(c), "__future__", _text(c)) for c in node.children_by_field_name("name")]
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
            result.append(_Import(bound, dotted, _text(piece)))
        return result
    module_node = node.child_by_field_name("module_name")
    module = None if module_node is None or module_node.type == "relative_import" else _text(module_node)
    if any(c.type == "wildcard_import" for c in node.children):
        return [_Import("*", module, "*")]
    result = []
    for piece in node.children_by_field_name("name"):
        if piece.type == "aliased_import":
            alias = piece.child_by_field_name("alias")
            bound = _text(alias) if alias is not None else ""
        else:
            bound = _text(piece)
        result.append(_Import(bound, module, _text(piece)))
    return result


# --- a file's top-level statements ---------------------------------------------------------------


@dataclass
class _Unit:
    """One top-level statement of a file."""

    index: int
    node: Node
    text: str
    binds: frozenset[str]
    refs: frozenset[str]  # free names it reads
    facts: _Facts
    mutates: frozenset[str] = frozenset()
    imports: tuple[_Import, ...] = ()  # set for import statements: what each name imports
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


def _units(root: Node) -> list[_Unit]:
    units = []
    for node in root.named_children:
        if node.type == "comment" or _is_main_guard(node):
            continue
        if node.type == "expression_statement" and node.named_children and node.named_children[0].type == "string":
            continue  # a docstring
        scanner = _Scanner()
        scope = _Scope("module")
        scanner.scan(node, scope)
        imports: tuple[_Import, ...] = ()
        module_text = ""
        if node.type in ("import_statement", "import_from_statement", "future_import_statement"):
            imports = tuple(_imports(node))
            module_node = node.child_by_field_name("module_name")
            module_text = _text(module_node) if module_node is not None else ""
        units.append(
            _Unit(
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


def _function_node(unit: _Unit) -> Node | None:
    node = unit.node
    if node.type == "decorated_definition":
        node = node.child_by_field_name("definition") or node
    return node if node.type == "function_definition" else None


def _import_problem(imp: _Import) -> str | None:
    if imp.module is None:
        return "relative import"
    root = imp.module.split(".")[0]
    if root in FORBIDDEN_MODULES:
        return f"uses {root}"
    if root not in _STDLIB:
        return f"imports {root}"
    if root == "io" and imp.piece.split(" ")[0] in _IO_FILES:
        return "uses io"
    if imp.bound == "*":
        return "star import"
    return None


class _Module:
    """A parsed file: its top-level statements and what binds each name."""

    def __init__(self, root: Node) -> None:
        self.units = _units(root)
        self.binders: dict[str, list[_Unit]] = {}
        for unit in self.units:
            for name in unit.binds:
                self.binders.setdefault(name, []).append(unit)
        self.top_names = frozenset(self.binders)

    def program(self, unit: _Unit, extra: Iterable[str] = ()) -> tuple[str, None] | tuple[None, str]:
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
        problem = self._problem(chosen, included, set(extra))
        if problem is not None:
            return None, problem
        return "\n\n".join(u.render(included[u.index]) for u in chosen) + "\n", None

    def _problem(self, chosen: list[_Unit], included: dict[int, set[str] | None], extra: set[str]) -> str | None:
        refs = set(extra)
        imported_roots: set[str] = set()
        attributes: set[str] = set()
        for unit in chosen:
            names = included[unit.index]
            imports = [i for i in unit.imports if names is None or i.bound in names] if unit.is_import else []
            if not unit.is_import:
                imports = unit.facts.imports
                refs |= unit.refs
                attributes |= unit.facts.attributes
                if unit.facts.mutates_globals:
                    return "mutates globals"
            for imp in imports:
                problem = _import_problem(imp)
                if problem is not None:
                    return problem
                if imp.module is not None:
                    imported_roots.add(imp.module.split(".")[0])
        for name in sorted(refs - self.top_names):
            if name in FORBIDDEN_BUILTINS:
                return FORBIDDEN_BUILTINS[name]
            if name in FORBIDDEN_MODULES:
                return f"uses {name}"
        if "io" in imported_roots and attributes & _IO_FILES:
            return "uses io"
        if "datetime" in imported_roots and attributes & _CLOCK_ATTRIBUTES:
            return "uses datetime.now"
        undefined = refs - self.top_names - _BUILTIN_NAMES - _MODULE_NAMES
        if undefined:
            return "star import" if "*" in self.top_names else "undefined name"
        return None


# --- inputs: doctest examples --------------------------------------------------------------------


def _docstring(function: Node) -> str | None:
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


def _doctest_calls(docstring: str, name: str, module: str) -> list[str]:
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


def _free_names(expression: str) -> set[str]:
    scanner = _Scanner()
    scope = _Scope("module")
    scanner.scan(_parser().parse(expression.encode()).root_node, scope)
    return (scope.refs | scope.nested_free) - scope.binds


# --- inputs: Hypothesis strategies from simple annotations --------------------------------------

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


def _strategy(annotation: str) -> SearchStrategy[Any] | None:
    try:
        return _AnnotationParser(annotation).parse()[0]
    except _Unsupported:
        return None


# --- inputs: guessed types for parameters without annotations -----------------------------------

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


def _inferred_annotation(function: Node, param: str) -> str | None:
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


@dataclass(frozen=True)
class _Param:
    name: str
    annotation: str | None
    has_default: bool
    kind: str  # "positional_only", "positional", "keyword_only", "star"


def _params(function: Node) -> list[_Param]:
    params = function.child_by_field_name("parameters")
    children = params.named_children if params is not None else []
    result: list[_Param] = []
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
            result.append(_Param(_text(child), None, True, "star"))
            if child.type == "list_splat_pattern":
                kind = "keyword_only"
            continue
        annotation = child.child_by_field_name("type")
        if child.type == "typed_parameter":
            inner = child.named_children[0]
            if inner.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                result.append(_Param(_text(inner), None, True, "star"))
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
        result.append(_Param(name, _text(annotation) if annotation is not None else None, has_default, kind))
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


def _generated_calls(name: str, params: list[_Param], count: int, seed: int) -> list[str]:
    """Calls of ``name`` with Hypothesis-drawn arguments; [] unless every required parameter is simple."""
    chosen: list[tuple[_Param, SearchStrategy[Any]]] = []
    for param in params:
        strategy = _strategy(param.annotation) if param.annotation is not None and param.kind != "star" else None
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


# --- the source ----------------------------------------------------------------------------------


def _python_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIPPED_DIRS and not (Path(folder, d) / "pyvenv.cfg").exists()
        )
        found.extend(Path(folder, f) for f in files if f.endswith(".py") and not f.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class DirectorySource:
    """Top-level functions of the .py files under ``path`` (or of one .py file), with inputs.

    Each function gives up to ``examples_per_function`` Hypothesis-drawn calls
    (when its parameters have simple annotations) plus every single-line
    doctest call of it; ``seed`` fixes the drawn arguments. ``max_files`` caps
    how many files (in sorted order) are read. ``files_scanned`` and
    ``files_total`` tell how far :meth:`programs` is (the build's progress).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        examples_per_function: int = 5,
        seed: int = 0,
        max_files: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"no such file or directory: {path}")
        if not self.path.is_dir() and self.path.suffix != ".py":
            raise SourceError(f"not a directory or a .py file: {path}")
        resolved = self.path.resolve()
        base = resolved.name if self.path.is_dir() else resolved.stem
        self.name = f"dir:{base or 'root'}"
        self.examples_per_function = examples_per_function
        self.seed = seed
        self.max_files = max_files
        self.files_scanned = 0  # files read so far by programs(), for progress
        self.files_total: int | None = None  # files to read, once programs() has listed them

    def programs(self) -> Iterator[SourceProgram | Skip]:
        if not self.path.exists():
            raise SourceError(f"no such file or directory: {self.path}")
        if self.path.is_dir():
            files = [(p, p.relative_to(self.path).as_posix()) for p in _python_files(self.path)]
        else:
            files = [(self.path, self.path.name)]
        if self.max_files is not None:
            files = files[: self.max_files]
        self.files_scanned, self.files_total = 0, len(files)
        for file, relative in files:
            try:
                yield from self._file(file, relative)
            except RecursionError:  # code nested deeper than the scanner's recursion: this file only
                yield Skip(f"{self.name}/{relative}", self.name, "nested too deeply")
            self.files_scanned += 1

    def _file(self, file: Path, relative: str) -> Iterator[SourceProgram | Skip]:
        prefix = f"{self.name}/{relative}"
        if file.exists() and not file.is_file():  # a FIFO or a device named *.py: reading it could block
            yield Skip(prefix, self.name, "not a regular file")
            return
        try:
            data = file.read_bytes()
        except OSError:
            yield Skip(prefix, self.name, "unreadable file")
            return
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            yield Skip(prefix, self.name, "not UTF-8")
            return
        tree = _parser().parse(data)
        if tree.root_node.has_error:
            yield Skip(prefix, self.name, "syntax error")
            return
        module = _Module(tree.root_node)
        last_binder = {name: binders[-1].index for name, binders in module.binders.items()}
        for unit in module.units:
            function = _function_node(unit)
            name_node = function.child_by_field_name("name") if function is not None else None
            if function is None or name_node is None:
                continue
            name = _text(name_node)
            yield from self._function(module, unit, function, name, f"{prefix}:{name}", relative, last_binder)

    def _function(
        self,
        module: _Module,
        unit: _Unit,
        function: Node,
        name: str,
        prefix: str,
        relative: str,
        last_binder: dict[str, int],
    ) -> Iterator[SourceProgram | Skip]:
        if function.children and function.children[0].type == "async":
            yield Skip(prefix, self.name, "async function")
            return
        if last_binder[name] != unit.index:
            yield Skip(prefix, self.name, "redefined")
            return
        source, problem = module.program(unit)
        if source is None:
            yield Skip(prefix, self.name, problem or "unknown")
            return
        try:
            compile(source, prefix, "exec")
        except (SyntaxError, ValueError):
            yield Skip(prefix, self.name, "syntax error")
            return
        entries: list[tuple[str, str]] = []  # (entry, source)
        docstring = _docstring(function)
        for call in _doctest_calls(docstring, name, Path(relative).stem) if docstring else []:
            names = _free_names(call) - {name}
            if not names <= module.top_names | _BUILTIN_NAMES:
                continue  # needs a name from an earlier example
            if names & (FORBIDDEN_BUILTINS.keys() | FORBIDDEN_MODULES) - module.top_names:
                continue
            extra = sorted(names & module.top_names)
            call_source = module.program(unit, extra)[0] if extra else source
            if call_source is None:
                continue
            entries.append((call, call_source))
        digest = hashlib.sha256(f"{self.seed}\0{relative}\0{name}".encode()).digest()
        params = [
            replace(p, annotation=_inferred_annotation(function, p.name))
            if p.annotation is None and not p.has_default and p.kind != "star"
            else p
            for p in _params(function)
        ]
        for call in _generated_calls(name, params, self.examples_per_function, int.from_bytes(digest[:8])):
            entries.append((call, source))
        seen: set[str] = set()
        unique = []
        for entry, entry_source in entries:
            if entry in seen:
                continue
            try:
                compile(entry, prefix, "eval")
            except (SyntaxError, ValueError):
                continue
            seen.add(entry)
            unique.append((entry, entry_source))
        if not unique:
            yield Skip(prefix, self.name, "no inputs")
            return
        for n, (entry, entry_source) in enumerate(unique):
            yield SourceProgram(f"{prefix}/{n}", entry_source, entry, self.name, function=unit.text)
