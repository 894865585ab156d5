"""The public faces: the examples in `tracer` and `cwm` docstrings run as written."""

from __future__ import annotations

import doctest

import cwm
import tracer


def test_docstring_examples() -> None:
    for module in (tracer, cwm):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_special_tokens_are_the_cwm_ones() -> None:
    assert cwm.SPECIAL_TOKENS == (
        "<|trace_context_start|>",
        "<|frame_sep|>",
        "<|call_sep|>",
        "<|line_sep|>",
        "<|return_sep|>",
        "<|exception_sep|>",
        "<|action_sep|>",
        "<|arg_sep|>",
    )
