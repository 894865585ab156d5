"""Purity: what a function may use and still be traced alone (no files, process, clock, randomness)."""

from __future__ import annotations

import builtins
import sys
from typing import TYPE_CHECKING

from ..scopes import Import

if TYPE_CHECKING:
    from .slicing import Unit

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

CLOCK_ATTRIBUTES = frozenset({"now", "utcnow", "today"})
IO_FILES = frozenset({"open", "open_code", "FileIO"})  # io's in-memory streams are fine
BUILTIN_NAMES = frozenset(dir(builtins))
MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__"})
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def import_problem(imp: Import) -> str | None:
    if imp.module is None:
        return "relative import"
    root = imp.module.split(".")[0]
    if root in FORBIDDEN_MODULES:
        return f"uses {root}"
    if root not in STDLIB:
        return f"imports {root}"
    if root == "io" and imp.piece.split(" ")[0] in IO_FILES:
        return "uses io"
    if imp.bound == "*":
        return "star import"
    return None


def problem(
    chosen: list[Unit], included: dict[int, set[str] | None], extra: set[str], top_names: frozenset[str]
) -> str | None:
    """Why the statements ``chosen`` (importing ``included``'s names) cannot be traced alone, or None."""
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
            problem = import_problem(imp)
            if problem is not None:
                return problem
            if imp.module is not None:
                imported_roots.add(imp.module.split(".")[0])
    for name in sorted(refs - top_names):
        if name in FORBIDDEN_BUILTINS:
            return FORBIDDEN_BUILTINS[name]
        if name in FORBIDDEN_MODULES:
            return f"uses {name}"
    if "io" in imported_roots and attributes & IO_FILES:
        return "uses io"
    if "datetime" in imported_roots and attributes & CLOCK_ATTRIBUTES:
        return "uses datetime.now"
    undefined = refs - top_names - BUILTIN_NAMES - MODULE_NAMES
    if undefined:
        return "star import" if "*" in top_names else "undefined name"
    return None
