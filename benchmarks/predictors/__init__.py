"""Predictors: what a program will do, from a model or a baseline, behind one interface.

    >>> from benchmarks.predictors import CopyPredictor, Task
    >>> predictor = CopyPredictor()
    >>> [p] = predictor.free([Task.of(real_trace)])      # doctest: +SKIP
    >>> p.text, p.events, p.error_lines()                # doctest: +SKIP

- ``hf`` (:class:`HFPredictor`): a local Hugging Face model, with an optional LoRA adapter;
- ``openai`` (:class:`OpenAIPredictor`): any OpenAI-compatible completions server;
- ``copy`` (:class:`CopyPredictor`): nothing changes, the next line follows;
- ``oracle`` (:class:`OraclePredictor`): the real trace, from the sandbox.

:func:`from_spec` builds one from the command line's spelling
(``hf:PATH[+ADAPTER]``, ``openai:URL#MODEL``, ``copy``, ``oracle``).
"""

from __future__ import annotations

from typing import Any

from .base import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_TOKENS,
    Prediction,
    Predictor,
    PredictorError,
    SingleStep,
    StepGuess,
    Task,
)
from .baselines import CopyPredictor, OraclePredictor

NAMES = ("hf", "openai", "copy", "oracle")
SPEC_HELP = "hf:PATH[+ADAPTER], openai:URL#MODEL, copy or oracle"


def from_spec(spec: str, **options: Any) -> Predictor:
    """A predictor from its spelling: ``hf:PATH[+ADAPTER]``, ``openai:URL#MODEL``, ``copy``, ``oracle``."""
    name, _, rest = spec.partition(":")
    if name == "copy" and not rest:
        return CopyPredictor()
    if name == "oracle" and not rest:
        return OraclePredictor(**{k: v for k, v in options.items() if k in ("sandbox", "limits")})
    if name == "hf" and rest:
        from .hf import HFPredictor

        model, _, adapter = rest.partition("+")
        keep = ("device", "dtype", "temperature", "top_p", "seed", "batch_size", "max_new_tokens", "constrain")
        return HFPredictor(model, adapter or None, **{k: v for k, v in options.items() if k in keep})
    if name == "openai" and "#" in rest:
        from .served import OpenAIPredictor

        url, _, model = rest.rpartition("#")
        keep = ("temperature", "top_p", "seed", "max_tokens", "workers", "retries", "timeout", "cache_dir")
        return OpenAIPredictor(url, model, **{k: v for k, v in options.items() if k in keep})
    raise PredictorError(f"unknown predictor {spec!r}: expected {SPEC_HELP}")


def __getattr__(name: str) -> Any:  # the model predictors import torch / openai only when asked for
    if name == "HFPredictor":
        from .hf import HFPredictor

        return HFPredictor
    if name == "OpenAIPredictor":
        from .served import OpenAIPredictor

        return OpenAIPredictor
    raise AttributeError(name)


__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_TOKENS",
    "NAMES",
    "SPEC_HELP",
    "CopyPredictor",
    "HFPredictor",
    "OpenAIPredictor",
    "OraclePredictor",
    "Prediction",
    "Predictor",
    "PredictorError",
    "SingleStep",
    "StepGuess",
    "Task",
    "from_spec",
]
