"""training.data: programs in, trace datasets out.

The public face, what the ``cwm dataset`` commands and the benchmarks use:

- sources (:mod:`.sources`): ``open_source("cruxeval=PATH")`` and what a source yields;
- building (:mod:`.build`): ``build.build`` a Parquet dataset from sources, ``merge`` shards;
- the trace table (:mod:`.table`): ``TraceBatch`` rows and ``row_trace`` back to a trace;
- statistics (:mod:`.stats`): ``stats.stats`` of a built dataset, ``find`` one trace in it.

``build`` and ``stats`` name the modules here, not their functions of the same
name, so that ``import training.data.build`` (and monkeypatching it) reaches the module.
"""

from __future__ import annotations

from . import build, stats
from .build import BuildReport, BuildSettings, DatasetError, merge, parse_shard, split_of
from .sources import ProgramSource, Skip, SourceError, SourceProgram, open_source
from .stats import find, read_rows
from .table import TraceBatch, row_trace

__all__ = [
    "BuildReport",
    "BuildSettings",
    "DatasetError",
    "ProgramSource",
    "Skip",
    "SourceError",
    "SourceProgram",
    "TraceBatch",
    "build",
    "find",
    "merge",
    "open_source",
    "parse_shard",
    "read_rows",
    "row_trace",
    "split_of",
    "stats",
]
