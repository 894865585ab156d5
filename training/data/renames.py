"""Variants of a program with its local variables renamed: more training traces that copying must read.

A dataset of one trace per function teaches a small model each function's
text by heart (it overfits within an hour on the CPU) instead of the skill a
code world model needs: reading the next line, and the names in it, from the
program in its context. ``renamed_variants`` gives a program's siblings in
which the names the functions bind (parameters, assigned locals, loop and
comprehension variables) are other names, consistently across the module.
The build traces each variant in the sandbox like any program, so every
trace stays a real run: a rename can never make a trace wrong, only a
different program.

Only names that are safe to rename are renamed (standard library ``ast``):
never a module-level name, a builtin, a class body's name, a name declared
``global`` or ``nonlocal``, bound by an import, an ``except ... as``, or a
``match`` pattern, a keyword argument's name anywhere (a call by keyword
must still find its parameter), or a dunder; not at all in a program that
calls ``eval``, ``exec``, ``locals``, ``vars``, ``globals`` or ``dir``
(names as text). The rewritten source is parsed back and must be the same
tree with the names replaced; otherwise there is no variant.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import keyword
import random
import re
from dataclasses import replace

from .sources import SourceProgram

NAMES_AS_TEXT = frozenset({"eval", "exec", "locals", "vars", "globals", "dir", "__import__"})
_LINES = re.compile(r"(?<=\n)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = (
    "a b c d i j k m n p q r s t u v w x y z acc arr buf cnt cur data delta diff elem first flag head idx"
    " item items key keys last left length level line lines lo hi mid nums num out pair parts pos prev"
    " rest res result right row seen size stack start step stop tail temp text total val value values"
    " word words ans best char chars count digits entry found group index limit mask node number offset"
    " order queue score shift sign state store table token width"
).split()
_SUFFIXES = ("", "", "", "2", "_1", "s", "_list", "_map", "_new", "0")


def renamable_names(tree: ast.Module, entry: str | None) -> set[str]:
    """The names of ``tree`` that can be renamed everywhere in it without changing what it means."""
    bound_in_function: set[str] = set()
    unsafe: set[str] = set(dir(builtins)) | {"self", "cls"}
    for statement in tree.body:  # module-level bindings
        unsafe.update(_bound_by(statement))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAMES_AS_TEXT:
            return set()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            unsafe.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            unsafe.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            unsafe.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            unsafe.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            unsafe.add(node.rest)
        elif isinstance(node, ast.keyword) and node.arg:
            unsafe.add(node.arg)
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                unsafe.update(_bound_by(statement))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            bound_in_function.update(arg.arg for arg in _arguments(node.args))
            if not isinstance(node, ast.Lambda):
                unsafe.add(node.name)
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Name) and isinstance(inner.ctx, (ast.Store, ast.Del)):
                        bound_in_function.add(inner.id)
    if entry is not None:
        try:
            call = ast.parse(entry, mode="eval")
        except SyntaxError:
            return set()
        for node in ast.walk(call):
            if isinstance(node, ast.keyword) and node.arg:
                unsafe.add(node.arg)
            elif isinstance(node, ast.Name):
                unsafe.add(node.id)
    return {name for name in bound_in_function - unsafe if not name.startswith("__")}


def renamed_variants(program: SourceProgram, count: int, *, seed: int = 0) -> list[SourceProgram]:
    """Up to ``count`` distinct variants of ``program`` with its renamable names replaced (maybe none).

    Each variant keeps the program's ``function`` (so its split is the
    original's) and gets the id ``ORIGINAL~rN``. Deterministic for a program
    and ``seed``.
    """
    if count <= 0:
        return []
    try:
        tree = ast.parse(program.source)
    except (SyntaxError, ValueError):
        return []
    names = sorted(renamable_names(tree, program.entry))
    if not names:
        return []
    taken = set(_IDENTIFIER.findall(program.source)) | set(_IDENTIFIER.findall(program.entry or ""))
    digest = hashlib.sha256(f"{seed}\0{program.content_key}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    variants: list[SourceProgram] = []
    sources: set[str] = {program.source}
    for _ in range(count * 3):
        if len(variants) == count:
            break
        mapping = _fresh_names(names, taken, rng)
        source = _rewrite(program.source, tree, mapping)
        if source is None or source in sources:
            continue
        sources.add(source)
        variants.append(
            replace(
                program,
                id=f"{program.id}~r{len(variants) + 1}",
                source=source,
                function=program.function or program.source,
            )
        )
    return variants


def _fresh_names(names: list[str], taken: set[str], rng: random.Random) -> dict[str, str]:
    mapping: dict[str, str] = {}
    used = set(taken)
    for name in names:
        for _ in range(50):
            new = rng.choice(_WORDS) + rng.choice(_SUFFIXES)
            if new not in used and not keyword.iskeyword(new) and not hasattr(builtins, new):
                break
        else:
            new = f"{name}_{rng.randrange(10**6)}"
            if new in used:
                continue
        mapping[name] = new
        used.add(new)
    return mapping


def _rewrite(source: str, tree: ast.Module, mapping: dict[str, str]) -> str | None:
    """``source`` with each renamed name replaced where it stands, or None if the result is not that tree."""
    spots: dict[int, list[tuple[int, int, str]]] = {}  # line -> (byte start, byte end, new name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in mapping:
            name, new = node.id, mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping:
            name, new = node.arg, mapping[node.arg]
        else:
            continue
        if node.lineno != node.end_lineno:
            return None
        start = node.col_offset
        spots.setdefault(node.lineno, []).append((start, start + len(name.encode()), new))
    lines = _LINES.split(source)  # as Python numbers them (splitlines would also split at \x0c, \x1c, ...)
    for number, changes in spots.items():
        line = lines[number - 1].encode()
        for start, end, new in sorted(changes, reverse=True):
            line = line[:start] + new.encode() + line[end:]
        lines[number - 1] = line.decode()
    rewritten = "".join(lines)
    try:
        got = ast.dump(ast.parse(rewritten))
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return None
    return rewritten if got == ast.dump(_Renamer(mapping).visit(ast.parse(source))) else None


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        self.generic_visit(node)
        return node


def _arguments(args: ast.arguments) -> list[ast.arg]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return every + [arg for arg in (args.vararg, args.kwarg) if arg is not None]


def _bound_by(statement: ast.stmt) -> set[str]:
    """The names a module- or class-level statement binds (anywhere inside it, outside functions)."""
    names: set[str] = set()
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names
