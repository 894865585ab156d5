"""What the training tests share: small traces recorded here, a tokenizer trained on them, tiny datasets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from tracer import Trace, record, render_cwm

PROGRAMS = [
    (
        textwrap.dedent(
            """\
            def f(n):
                total = 0
                for i in range(n):
                    total += i * i
                return total
            """
        ),
        f"f({n})",
    )
    for n in range(1, 9)
] + [
    (
        textwrap.dedent(
            """\
            def g(words):
                seen = {}
                for w in words:
                    seen[w] = seen.get(w, 0) + 1
                best = max(seen, key=seen.get)
                return best
            """
        ),
        f"g({words!r})",
    )
    for words in (["a", "b", "a"], ["x"], ["p", "q", "q", "p", "q"], ["<|frame_sep|>", "<|line_sep|>"])
]


def traces() -> list[Trace]:
    found = []
    for i, (source, entry) in enumerate(PROGRAMS):
        trace = record(source, entry, id=f"p{i}")
        found.append(trace)
    return found


def tokenizer(vocab_size: int = 400) -> Any:
    from training.model import add_cwm_tokens, train_tokenizer

    tok = train_tokenizer((render_cwm(t) for t in traces()), vocab_size)
    add_cwm_tokens(tok)
    return tok


def write_dataset(root: Path, splits: dict[str, list[Trace]] | None = None) -> Path:
    """A trace dataset folder as `cwm dataset build` writes it (the table and the state file)."""
    import pyarrow.parquet as pq

    from training.data.build import DATA, SETTINGS_FILE
    from training.data.sources import SourceProgram
    from training.data.table import TraceBatch

    if splits is None:
        found = traces()
        splits = {"train": found, "validation": found[::3], "test": found[1::3]}
    (root / DATA).mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        batch = TraceBatch()
        for trace in items:
            program = SourceProgram(
                id=trace.program.id, source=trace.program.source, entry=trace.program.entry, origin="test"
            )
            batch.add(program, split, trace)
        pq.write_table(batch.to_table(), root / DATA / f"{split}-00000-of-00001.parquet")
    settings = root / SETTINGS_FILE
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"sources": ["test"]}))
    return root


def train_model(tmp: Path, dataset: Path, *, steps: int = 120, **tiny: int) -> Path:
    """A tiny model trained with `cwm train` on ``dataset`` (to overfitting, at the default
    settings: it writes the test programs' traces back); its ``final/`` folder."""
    import os
    import subprocess
    import sys

    shape = {"hidden_size": 64, "layers": 2, "heads": 2, "kv_heads": 1, "intermediate_size": 128, **tiny}
    recipe = {
        "model": {"tiny": shape, "train_tokenizer": {"vocab_size": 400}, "dtype": "float32"},
        "method": "full",
        "data": {"path": str(dataset)},
        "sequence": {"max_length": 512, "packing": True},
        "optim": {"lr": 5e-3, "batch_size": 2, "max_steps": steps, "warmup_ratio": 0.05},
        "eval": {"batch_size": 4},
        "logging": {"every_steps": 20, "tensorboard": False},
        "output": {"dir": str(tmp / "run"), "save_every_steps": None},
    }
    path = tmp / "recipe.yaml"
    path.write_text(json.dumps(recipe))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "cwm", "train", str(path), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run" / "final"
