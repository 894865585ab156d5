"""Programs from a directory (or a single file) of Python code.

Tree-sitter finds each file's top-level functions. A program is one function
plus the same file's top-level definitions, constants and imports it needs
(transitively, in file order); its inputs come from the function's doctest
examples and, where every parameter has a simple annotation (``int``,
``list[str]``, ``dict[str, int] | None``, ...), from values drawn
under a fixed seed. Functions that touch the outside world (``os``, ``sys``,
``random``, ``time``, ``open()``, ``input()``, ``global`` statements, ...) are
skipped with a countable reason, as are unreadable, non-UTF-8 and unparsable
files: nothing in a directory is fatal except the directory being missing.
"""

from __future__ import annotations

from .walker import DirectorySource

__all__ = ["DirectorySource"]
