"""A hub id when the hub cannot be reached: one clear line at once, not a minute of retries.

The endpoint is a closed port on loopback (``HF_ENDPOINT``) and the cache an empty
folder, so the case is the same on a machine that has the internet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training import hub

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = "Qwen/Qwen2.5-Coder-0.5B"
PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def offline_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXIES and k != "HF_HUB_OFFLINE"}
    return {**env, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp / "hf")}


def cwm(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cwm", *args], capture_output=True, text=True, cwd=tmp, env=offline_env(tmp),
        timeout=300,
    )  # fmt: skip
    return done, time.monotonic() - started


def one_line_at_once(done: subprocess.CompletedProcess[str], seconds: float, command: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"cwm {command}: error:"), done.stderr[-2000:]
    assert HUB_ID in lines[0] and "only the local cache" in lines[0], lines[0]
    assert seconds < 30, f"{seconds:.0f} s: the hub's retries ran"  # about 50 s of them without the check


@pytest.mark.slow
def test_predict_with_a_hub_id_offline(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("def f(x):\n    return x + 1\n")
    one_line_at_once(*cwm(tmp_path, "predict", str(program), "--call", "f(1)", "--model", HUB_ID), "predict")


@pytest.mark.slow
def test_train_with_a_hub_id_offline(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps({"model": {"name": HUB_ID}, "method": "lora", "data": {"path": str(tmp_path)}}))
    one_line_at_once(*cwm(tmp_path, "train", str(recipe)), "train")


@pytest.mark.slow
def test_dataset_stats_with_a_hub_tokenizer_offline(tmp_path: Path) -> None:
    from tests import train_support

    dataset = train_support.write_dataset(tmp_path / "traces")
    one_line_at_once(*cwm(tmp_path, "dataset", "stats", str(dataset), "--tokenizer", HUB_ID), "dataset stats")


def test_behind_a_proxy_or_offline_the_libraries_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    for variable in PROXIES:
        monkeypatch.delenv(variable, raising=False)
    hub.hub_reachable.cache_clear()
    try:
        assert hub.hub_kwargs(HUB_ID) == {"local_files_only": True}
        assert hub.hub_kwargs(str(ROOT)) == {}  # a folder never asks the hub
        hub.hub_reachable.cache_clear()
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # a direct connection proves nothing
        assert hub.hub_kwargs(HUB_ID) == {}
    finally:
        hub.hub_reachable.cache_clear()
