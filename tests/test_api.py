"""The public faces: the examples in `tracer` and `cwm` docstrings run as written."""

from __future__ import annotations

import doctest

import cwm
import tracer


def test_docstring_examples() -> None:
    """The examples in the package docstrings (also in the README) keep working."""
    for module in (tracer, cwm):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
