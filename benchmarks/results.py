"""From scored samples to a benchmark's figures: macro averages with bootstrap intervals,
the first-divergence distribution, accuracy by trace length and per variable, and the
paired difference of two runs (``cwm bench compare``).

A *row* is one line of a run's ``samples.jsonl`` (see :mod:`benchmarks.runner`);
the figures here read only its ``id``, ``metrics`` (each in [0, 1]),
``first_divergence``, ``frames``, ``variables`` and ``lengths``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .metrics import METRICS, SINGLE_STEP_METRICS

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
LENGTH_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None))
PER_VARIABLE_SHOWN = 20
MODE_METRICS: dict[str, tuple[str, ...]] = {"full": METRICS, "single-step": SINGLE_STEP_METRICS, "output": ("output",)}
# the figures shown per length bucket, per mode
_BY_LENGTH = {"full": ("state", "action", "output"), "single-step": SINGLE_STEP_METRICS, "output": ("output",)}


def bootstrap(values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float, float]:
    """The mean of ``values`` (in [0, 1]) and its 95% percentile-bootstrap interval, in percent."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(100 * float(data.mean()), 2), round(100 * float(low), 2), round(100 * float(high), 2)


def _percent(values: Sequence[float]) -> float:
    """The mean of ``values`` (in [0, 1]) in percent (0 for none)."""
    return round(100 * sum(values) / len(values), 2) if values else 0.0


def metric_figures(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each metric's macro average over ``rows`` with its interval: ``{name: {value, low, high}}``."""
    out = {}
    for name in names:
        value, low, high = bootstrap([row["metrics"][name] for row in rows])
        out[name] = {"value": value, "low": low, "high": high}
    return out


def divergence_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many traces first diverge at each step (``none``: those that never do)."""
    steps = Counter(row["first_divergence"] for row in rows if row.get("first_divergence") is not None)
    return {
        "steps": {str(k): steps[k] for k in sorted(steps)},
        "none": sum(1 for row in rows if row.get("first_divergence") is None),
    }


def by_length(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """The mean of ``names`` per bucket of real trace length (frames), in percent; empty buckets left out."""
    out = []
    for low, high in LENGTH_BUCKETS:
        inside = [r for r in rows if r["frames"] >= low and (high is None or r["frames"] <= high)]
        if not inside:
            continue
        out.append(
            {
                "frames": f"{low}-{high}" if high is not None else f"{low}+",
                "low": low,
                "high": high,
                "samples": len(inside),
                "metrics": {n: _percent([r["metrics"][n] for r in inside]) for n in names},
            }
        )
    return out


def per_variable(rows: Sequence[Mapping[str, Any]], shown: int = PER_VARIABLE_SHOWN) -> list[dict[str, Any]]:
    """State accuracy per variable name over every call/line frame that has it, most frequent first."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        for name, (ok, seen) in (row.get("variables") or {}).items():
            right[name] += ok
            total[name] += seen
    return [
        {"name": name, "frames": seen, "accuracy": round(100 * right[name] / seen, 2)}
        for name, seen in sorted(total.items(), key=lambda item: (-item[1], item[0]))[:shown]
    ]


def mean_lengths(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The real traces' mean length: frames, and characters of a frame's locals and of its action."""
    if not rows:
        return {"frames": 0.0, "state_chars": 0.0, "action_chars": 0.0}
    lengths = [row.get("lengths") or {} for row in rows]
    return {
        "frames": round(sum(r["frames"] for r in rows) / len(rows), 2),
        "state_chars": round(sum(x.get("state_chars", 0.0) for x in lengths) / len(rows), 2),
        "action_chars": round(sum(x.get("action_chars", 0.0) for x in lengths) / len(rows), 2),
    }


def summarize(
    rows: Sequence[Mapping[str, Any]],
    *,
    suites: Sequence[str],
    predictor: str,
    mode: str,
    config: Mapping[str, Any],
    versions: Mapping[str, str],
    skipped: Mapping[str, int],
) -> dict[str, Any]:
    """A run's ``results.json``: every figure of the scored ``rows``."""
    names = MODE_METRICS[mode]
    return {
        "format": 1,
        "suites": list(suites),
        "predictor": predictor,
        "mode": mode,
        "config": dict(config),
        "versions": dict(versions),
        "samples": len(rows),
        "skipped": dict(sorted(skipped.items())),
        "metrics": metric_figures(rows, names),
        "first_divergence": divergence_counts(rows) if mode != "output" else None,
        "by_length": by_length(rows, _BY_LENGTH[mode]),
        "per_variable": per_variable(rows) if mode == "full" else [],
        "real_lengths": mean_lengths(rows),
    }


def paired_difference(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> tuple[int, dict[str, dict[str, float]]]:
    """B minus A per metric, over the samples both scored (paired by id), with a 95% interval:
    the number of pairs, and ``{name: {a, b, difference, low, high}}`` in percent points."""
    by_id = {row["id"]: row for row in a}
    pairs = [(by_id[row["id"]], row) for row in b if row["id"] in by_id]
    out = {}
    for name in names:
        left = [x["metrics"][name] for x, _ in pairs]
        right = [y["metrics"][name] for _, y in pairs]
        difference, low, high = bootstrap([r - lft for lft, r in zip(left, right, strict=True)])
        out[name] = {
            "a": _percent(left),
            "b": _percent(right),
            "difference": difference,
            "low": low,
            "high": high,
        }
    return len(pairs), out


__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "LENGTH_BUCKETS",
    "MODE_METRICS",
    "bootstrap",
    "by_length",
    "divergence_counts",
    "mean_lengths",
    "metric_figures",
    "paired_difference",
    "per_variable",
    "summarize",
]
