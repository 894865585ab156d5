"""training.data: programs in, trace datasets out.

The public face, what the ``cwm dataset`` commands and the benchmarks use:

- sources (:mod:`.sources`): ``open_source("cruxeval=PATH")`` and what a source yields;
- building (:mod:`.build`): ``build.build`` a Parquet dataset from sources, ``merge`` shards;
- renamed variants (:mod:`.renames`): ``renamed_variants`` of a program, for ``--renames K``;
- the trace table (:mod:`.table`): ``TraceBatch`` rows and ``row_trace`` back to a trace;
- statistics (:mod:`.stats`): ``stats.stats`` of a built dataset, ``find`` one trace in it.

``build`` and ``stats`` name the modules here, not their functions of the same
name, so that ``import training.data.build`` (and monkeypatching it) reaches the module.
"""

from __future__ import annotations

import importlib
from typing import Any

from .renames import renamed_variants
from .sources import ProgramSource, Skip, SourceError, SourceProgram, open_source

# The rest is imported on first use: building, the table and stats need pyarrow, which
# reading sources (the speed benchmarks, under a bare interpreter too) does not.
_LAZY = {
    "build": (".build", None),
    "stats": (".stats", None),
    "BuildReport": (".build", "BuildReport"),
    "BuildSettings": (".build", "BuildSettings"),
    "DatasetError": (".build", "DatasetError"),
    "merge": (".build", "merge"),
    "parse_shard": (".build", "parse_shard"),
    "split_of": (".build", "split_of"),
    "find": (".stats", "find"),
    "read_rows": (".stats", "read_rows"),
    "TraceBatch": (".table", "TraceBatch"),
    "row_trace": (".table", "row_trace"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'training.data' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    return module if attribute is None else getattr(module, attribute)


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
    "renamed_variants",
    "row_trace",
    "split_of",
    "stats",
]
