"""The public faces: the examples in `tracer` and `cwm` docstrings run as written."""

from __future__ import annotations

import doctest

import pytest

import cwm
import tracer


def test_tracer_docstring_examples() -> None:
    """The examples in the tracer's docstring keep working."""
    result = doctest.testmod(tracer)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.docker
def test_cwm_docstring_examples() -> None:
    """The examples in cwm's docstring (also in the README) keep working: they trace in the sandbox."""
    result = doctest.testmod(cwm)
    assert result.attempted > 0 and result.failed == 0
