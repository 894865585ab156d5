"""What every program source yields: programs to trace, or why one was skipped."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol


@dataclass(frozen=True)
class SourceProgram:
    """One program to trace: run ``source``, then call ``entry`` (``None``: a script).

    ``id`` is stable across runs and unique within its origin (``origin/...``).
    ``function`` is the source of the function under test: programs that test
    the same function share it, and the train/validation/test split is a hash
    of it (normalized), so one function never lands in two splits.
    """

    id: str
    source: str
    entry: str | None
    origin: str  # the source's name: "cruxeval", "humaneval", "dir:textwrap", "jsonl:mine"
    function: str = ""

    @cached_property
    def split_key(self) -> str:
        """Hash of the normalized function source (whitespace and comments ignored)."""
        return hashlib.sha256(normalize_source(self.function or self.source).encode()).hexdigest()

    @cached_property
    def content_key(self) -> str:
        """Hash of what runs (source + entry): equal keys are exact duplicates."""
        return hashlib.sha256(f"{self.source}\0{self.entry}".encode()).hexdigest()


@dataclass(frozen=True)
class Skip:
    """A program a source could not turn into a job, and why (counted, never fatal)."""

    id: str
    origin: str
    reason: str  # short and countable: "syntax error", "uses os", "no inputs", ...


def text_problem(name: str, value: object) -> str | None:
    """Why a program's text field ``name`` cannot be traced and stored, or None when it can.

    JSON can spell what no program text can hold: a lone surrogate
    (``"\\ud800"``: a valid JSON escape, but no UTF-8 encodes it, so neither
    the hashes, the sandbox's wire nor Parquet can take it) and a NUL byte
    (Python refuses to compile source holding one).
    """
    if not isinstance(value, str):
        return f"field {name} is not a string"
    if "\x00" in value:
        return f"field {name} holds a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"field {name} holds a lone surrogate"
    return None


def program_problem(program: SourceProgram) -> str | None:
    """Why ``program`` cannot be traced and stored, or None: what the build checks for every source."""
    for name in ("id", "origin", "source", "function"):
        problem = text_problem(name, getattr(program, name))
        if problem is not None:
            return problem
    return None if program.entry is None else text_problem("entry", program.entry)


class ProgramSource(Protocol):
    """A source of programs: CRUXEval, HumanEval, a directory of code, a JSONL file."""

    name: str

    def programs(self) -> Iterator[SourceProgram | Skip]: ...


_COMMENT = re.compile(r"#[^\n]*")


def normalize_source(source: str) -> str:
    """Source with comments, blank lines and trailing spaces removed (for hashing)."""
    lines = (_COMMENT.sub("", line).rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line.strip())
