"""The command groups of ``cwm``: one module each.

A group is a module with ``register(commands)``, which adds its sub-parser to
``cwm``'s and sets each command's ``handler`` (a function of the parsed
arguments that returns the exit code, or raises ``cli.UsageError`` /
``cli.NoSandbox``). A group with sub-commands names their ``dest`` ``action``,
so errors say ``cwm GROUP ACTION: error: ...``. Handlers import what does the
work (``sandbox``, ``training``, ``benchmarks``) inside themselves, so that
building the parser stays light.

A new group (train, predict, bench): a module here, and its ``register`` in
``GROUPS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from . import bench, dataset, predict, sandbox, trace, train

# in the order `cwm --help` lists them
GROUPS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    trace.register,
    sandbox.register,
    dataset.register,
    train.register,
    predict.register,
    bench.register,
)
