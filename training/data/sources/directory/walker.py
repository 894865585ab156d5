"""The walker: the .py files under a path, their top-level functions, and a program per input."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..base import Skip, SourceProgram
from ..errors import SourceError
from ..syntax import parser as _parser
from ..syntax import text as _text
from .calls import generated_calls, parameters_of
from .doctests import docstring_of, doctest_calls, expression_free_names
from .guessing import inferred_annotation
from .purity import BUILTIN_NAMES, FORBIDDEN_BUILTINS, FORBIDDEN_MODULES
from .slicing import Module, Unit, function_node

if TYPE_CHECKING:
    from tree_sitter import Node

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


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

    Each function gives up to ``examples_per_function`` calls with drawn arguments
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
        module = Module(tree.root_node)
        last_binder = {name: binders[-1].index for name, binders in module.binders.items()}
        for unit in module.units:
            function = function_node(unit)
            name_node = function.child_by_field_name("name") if function is not None else None
            if function is None or name_node is None:
                continue
            name = _text(name_node)
            yield from self._function(module, unit, function, name, f"{prefix}:{name}", relative, last_binder)

    def _function(
        self,
        module: Module,
        unit: Unit,
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
        docstring = docstring_of(function)
        for call in doctest_calls(docstring, name, Path(relative).stem) if docstring else []:
            names = expression_free_names(call) - {name}
            if not names <= module.top_names | BUILTIN_NAMES:
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
            replace(p, annotation=inferred_annotation(function, p.name))
            if p.annotation is None and not p.has_default and p.kind != "star"
            else p
            for p in parameters_of(function)
        ]
        for call in generated_calls(name, params, self.examples_per_function, int.from_bytes(digest[:8])):
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
