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
    DEFAULT_BATCH_SIZE,
    DEFAULT_LOOKUP_TOKENS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_TOKENS,
    Prediction,
    Predictor,
    PredictorError,
    SingleStep,
    StepGuess,
    Task,
    Unfit,
)
from .baselines import CopyPredictor, OraclePredictor

NAMES = ("hf", "openai", "copy", "oracle")
SPEC_HELP = "hf:PATH[+ADAPTER], openai:URL#MODEL, copy or oracle"


def parse_spec(spec: str) -> tuple[str, str, str]:
    """A predictor's spelling read: ``(name, model or URL, adapter or served model)``, the last two
    empty where the name takes none; a :class:`PredictorError` names what it should be."""
    name, _, rest = spec.partition(":")
    if name in ("copy", "oracle") and not rest:
        return name, "", ""
    if name == "hf" and rest and not rest.startswith("+"):
        model, _, adapter = rest.partition("+")
        return name, model, adapter
    if name == "openai":
        url, _, model = rest.rpartition("#")
        if url and model:
            from .served import check_base_url

            try:
                check_base_url(url)
            except PredictorError as exc:
                raise PredictorError(f"--predictor {spec}: {exc}") from None
            return name, url, model
    raise PredictorError(f"unknown predictor {spec!r}: expected {SPEC_HELP}")


def from_spec(spec: str, **options: Any) -> Predictor:
    """A predictor from its spelling (:func:`parse_spec`), with the ``options`` it takes."""
    name, first, second = parse_spec(spec)
    if name == "copy":
        return CopyPredictor()
    if name == "oracle":
        return OraclePredictor(**{k: v for k, v in options.items() if k in ("sandbox", "limits")})
    if name == "hf":
        from .hf import HFPredictor

        keep = ("device", "dtype", "temperature", "top_p", "seed", "batch_size", "max_new_tokens", "constrain")
        return HFPredictor(first, second or None, **{k: v for k, v in options.items() if k in keep})
    from .served import OpenAIPredictor

    keep = ("temperature", "top_p", "seed", "max_tokens", "workers", "retries", "timeout", "cache_dir")
    return OpenAIPredictor(first, second, **{k: v for k, v in options.items() if k in keep})


def __getattr__(name: str) -> Any:  # the model predictors import torch / openai only when asked for
    if name == "HFPredictor":
        from .hf import HFPredictor

        return HFPredictor
    if name == "OpenAIPredictor":
        from .served import OpenAIPredictor

        return OpenAIPredictor
    raise AttributeError(name)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LOOKUP_TOKENS",
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
    "Unfit",
    "from_spec",
    "parse_spec",
]
