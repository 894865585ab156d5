"""`cwm train`: a real (tiny) training run, killed and resumed, LoRA on its result, a merge, bad input.

The runs are real: a Qwen2 model built from a config, a tokenizer trained on
the test traces, TRL's SFTTrainer on the CPU. Bad input must be refused in
one line (exit 2) before any long work.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="needs the train extra: pip install -e '.[train]'")
pytest.importorskip("peft", reason="needs the train extra: pip install -e '.[train]'")

from tests import train_support

ROOT = Path(__file__).resolve().parents[1]
CWM = [sys.executable, "-m", "cwm"]


def recipe(tmp: Path, dataset: Path, name: str = "recipe.yaml", **sections: Any) -> Path:
    data: dict[str, Any] = {
        "model": {
            "tiny": {"hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": 1, "intermediate_size": 64},
            "train_tokenizer": {"vocab_size": 400},
            "dtype": "float32",
        },
        "method": "full",
        "data": {"path": str(dataset)},
        "sequence": {"max_length": 256, "packing": True},
        "optim": {"lr": 3e-3, "batch_size": 2, "max_steps": 24, "warmup_ratio": 0.0},
        "eval": {"batch_size": 4},
        "logging": {"every_steps": 1, "tensorboard": True},
        "output": {"dir": str(tmp / "run"), "save_every_steps": 5},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path = tmp / name
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def cwm(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*CWM, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def losses(run: Path) -> dict[int, float]:
    summary = json.loads((run / "summary.json").read_text())
    return {h["step"]: h["loss"] for h in summary["history"] if "loss" in h}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_support.write_dataset(tmp_path_factory.mktemp("traces"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Path:
    """One uninterrupted run: the reference for the resume test, the base for LoRA."""
    tmp = tmp_path_factory.mktemp("full")
    done = cwm("train", str(recipe(tmp, dataset)))
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run"


@pytest.mark.slow
def test_a_short_run_learns_and_leaves_everything_a_run_needs(trained: Path) -> None:
    history = losses(trained)
    assert history[max(history)] < history[min(history)] * 0.8  # it learned
    final = trained / "final"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "cwm_run.json"):
        assert (final / name).exists(), name
    summary = json.loads((trained / "summary.json").read_text())
    assert "eval_next_frame_exact" in summary["eval"] and summary["copy"]["frames"] > 0
    assert (trained / "curves.png").stat().st_size > 1000
    assert list((trained / "runs").rglob("events.out.tfevents.*"))  # TensorBoard
    checkpoint = trained / "checkpoint-24"
    run_info = json.loads((checkpoint / "cwm_run.json").read_text())
    assert run_info["dataset_fingerprint"] and run_info["recipe"]["optim"]["max_steps"] == 24
    assert (checkpoint / "tokenizer.json").exists()
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(str(final))  # transformers loads it as is


@pytest.mark.slow
def test_killed_midway_and_resumed_ends_at_the_uninterrupted_loss(tmp_path: Path, dataset: Path, trained: Path) -> None:
    path = recipe(tmp_path, dataset)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*CWM, "train", str(path), "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    run = tmp_path / "run"
    deadline = time.monotonic() + 600
    while not (run / "checkpoint-10").is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "final").exists(), "the run ended before it could be killed"
    resumed = cwm("train", str(path), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    want, got = losses(trained), losses(run)
    import re

    ran = [int(n) for n in re.findall(r"^step (\d+)/24  loss", resumed.stderr, re.M)]
    assert ran and min(ran) > 5  # it went on from a checkpoint, not from the start
    assert sorted(got) == sorted(want)
    for step in got:
        assert got[step] == pytest.approx(want[step], rel=1e-4, abs=1e-5), step
    assert max(got) == 24


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_saves_a_checkpoint_where_it_stopped_and_resume_goes_on(
    tmp_path: Path, dataset: Path, trained: Path, sig: signal.Signals
) -> None:
    # no periodic checkpoint before the end: only the signal's can hold what ran
    path = recipe(tmp_path, dataset, output={"dir": str(tmp_path / "run"), "save_every_steps": 1000})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*CWM, "train", str(path)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("step 6/24  loss"):
            proc.send_signal(sig)
            time.sleep(0.2)
            proc.send_signal(sig)  # the echo `accelerate launch`'s agent sends: the same stop, not a second
            break
    rest = proc.communicate(timeout=600)[1]
    stderr = "".join(seen) + rest
    # 128 + sig, or the echo's own death while the interpreter exits (a shell says 128 + sig of both)
    assert proc.returncode in (128 + sig, -sig), stderr[-3000:]
    import re

    said = re.search(r"interrupted at step (\d+); saved (\S+); continue with: (.+--resume)$", stderr, re.M)
    assert said, stderr[-3000:]
    step, checkpoint = int(said.group(1)), Path(said.group(2))
    assert 6 <= step < 24 and checkpoint == tmp_path / "run" / f"checkpoint-{step}"
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == step
    assert (checkpoint / "cwm_run.json").exists() and not (tmp_path / "run" / "final").exists()
    resumed = cwm(*shlex.split(said.group(3))[1:])  # the command it printed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ran = [int(n) for n in re.findall(r"^step (\d+)/24  loss", resumed.stderr, re.M)]
    assert min(ran) == step + 1  # from the signal's checkpoint, not from the start
    want, got = losses(trained), losses(tmp_path / "run")
    assert sorted(got) == sorted(want)
    for n in got:
        assert got[n] == pytest.approx(want[n], rel=1e-4, abs=1e-5), n


def _killed_after_its_last_checkpoint(trained: Path, run: Path) -> None:
    """A copy of the trained run as a kill while it wrote its final model leaves it."""
    import shutil

    shutil.copytree(trained, run)
    shutil.rmtree(run / "final")
    (run / "summary.json").unlink()


@pytest.mark.slow
def test_resumed_after_its_last_checkpoint_it_takes_no_step_more(tmp_path: Path, dataset: Path, trained: Path) -> None:
    run = tmp_path / "run"
    _killed_after_its_last_checkpoint(trained, run)
    resumed = cwm("train", str(recipe(tmp_path, dataset)), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "checkpoint-24 ends the training" in resumed.stderr
    assert "step 25/" not in resumed.stderr  # the Trainer alone would take a 25th step
    summary, before = (json.loads((r / "summary.json").read_text()) for r in (run, trained))
    assert summary["steps"] == 24 and max(losses(run)) == 24
    # the final model is the checkpoint's weights: it scores as the uninterrupted run's did
    assert summary["eval"]["eval_loss"] == pytest.approx(before["eval"]["eval_loss"], rel=1e-5)
    for noise in ("FutureWarning", "missing keys", "Writing model shards", "Packing train dataset"):
        assert noise not in resumed.stderr, noise
    refused(cwm("train", str(recipe(tmp_path, dataset)), "--resume"), "is finished")  # and now it is done


@pytest.mark.slow
def test_a_resumed_run_counts_the_time_it_spent_before(tmp_path: Path, dataset: Path, trained: Path) -> None:
    clock = json.loads((trained / "checkpoint-24" / "cwm_run.json").read_text())["clock"]
    assert clock["budget_seconds"] > 0 and 0 < clock["train_seconds"] <= clock["budget_seconds"]
    # a budget of one minute, already spent when the checkpoint was saved: nothing left to train
    run = tmp_path / "run"
    _killed_after_its_last_checkpoint(trained, run)
    import shutil

    shutil.rmtree(run / "checkpoint-24")  # the last one left is a step short of the end
    (last,) = [p for p in run.glob("checkpoint-*")]
    info = json.loads((last / "cwm_run.json").read_text())
    info["clock"]["budget_seconds"] = 61.0
    (last / "cwm_run.json").write_text(json.dumps(info))
    step = int(last.name.removeprefix("checkpoint-"))
    resumed = cwm("train", str(recipe(tmp_path, dataset, time_budget_minutes=1)), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == step and summary["stopped_by_budget"], resumed.stderr[-2000:]
    # with more budget the same run trains on from there, to its end
    more = cwm("train", str(recipe(tmp_path, dataset, time_budget_minutes=30)), "--resume")
    assert more.returncode == 0, more.stderr[-3000:]
    assert json.loads((run / "summary.json").read_text())["steps"] == 24


@pytest.mark.slow
def test_lora_on_the_trained_model_then_merge(tmp_path: Path, dataset: Path, trained: Path) -> None:
    path = recipe(
        tmp_path,
        dataset,
        model={"name": str(trained / "final"), "dtype": "float32"},
        method="lora",
        lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj", "gate_proj"]},
        optim={"lr": 1e-2, "batch_size": 2, "max_steps": 6, "warmup_ratio": 0.0},
        output={"dir": str(tmp_path / "lora"), "save_every_steps": 3},
    )
    data = json.loads(path.read_text())
    del data["model"]["tiny"], data["model"]["train_tokenizer"]
    path.write_text(json.dumps(data))
    done = cwm("train", str(path))
    assert done.returncode == 0, done.stderr[-3000:]
    final = tmp_path / "lora" / "final"
    assert (final / "adapter_config.json").exists() and not (final / "model.safetensors").exists()
    afile = tmp_path / "afile"
    afile.write_text("")
    refused(cwm("train", "merge", str(tmp_path / "lora"), "--out", str(afile)), "is a file")
    refused(cwm("train", "merge", str(tmp_path / "lora"), "--out", str(afile / "sub")), "is a file")
    refused(cwm("train", "merge", str(tmp_path / "lora"), "--out", str(final / "m")), "inside the adapter's folder")
    refused(cwm("train", "merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m")), "no such run")
    assert afile.read_text() == ""
    merged = cwm("train", "merge", str(tmp_path / "lora"), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr[-3000:]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 17, 33, 90, 2, 7, 11]])
    plain = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"))
    base = AutoModelForCausalLM.from_pretrained(str(trained / "final"))
    adapted = PeftModel.from_pretrained(base, str(final))
    with torch.no_grad():
        want = adapted(input_ids=ids).logits
        got = plain(input_ids=ids).logits
        untouched = AutoModelForCausalLM.from_pretrained(str(trained / "final"))(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, untouched, atol=1e-4)  # the adapter changed something


# -- bad input: one line, exit 2, before any long work -------------------------------------
def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("cwm train: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr[-2000:]  # after progress bars, if any
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_a_missing_or_non_trace_dataset(tmp_path: Path) -> None:
    refused(cwm("train", str(recipe(tmp_path, tmp_path / "nowhere"))), "not a cwm trace dataset")
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["hello"]}), other / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": ["hello"]}), other / "data" / "validation-00000-of-00001.parquet")
    refused(cwm("train", str(recipe(tmp_path, other))), "not a trace table")


def test_unknown_and_mistyped_keys(tmp_path: Path, dataset: Path) -> None:
    path = recipe(tmp_path, dataset, optim={"learning_rate": 1e-3})
    refused(cwm("train", str(path)), "unknown key 'optim.learning_rate'", "valid keys:", "optim.lr")
    refused(cwm("train", str(recipe(tmp_path, dataset)), "optim.lr=fast"), "optim.lr")
    refused(cwm("train", str(recipe(tmp_path, dataset)), "sequence.max_lenght=9"), "unknown key")
    twice = tmp_path / "twice.yaml"
    twice.write_text(f"data:\n  path: {dataset}\ndata:\n  path: elsewhere\n")
    refused(cwm("train", str(twice)), "the key 'data' is given twice (line 3, column 1)")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {tiny: [1, 2}\n")
    refused(cwm("train", str(broken)), "not valid YAML", "(line 1, column 20)")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("optim.lr=.inf", "finite"),
        ("optim.weight_decay=.nan", "finite"),
        ("optim.betas=[2,3]", "below 1"),
        ("optim.max_steps=0", "at least 1"),
        ("output.dir=", "output.dir"),
        ("model.tiny.heads=3", "not a multiple of heads"),
        ("model.tiny.kv_heads=3", "not a multiple of kv_heads"),
        ("model.tiny.copy_heads=true", "copy_heads needs at least 2 layers"),
    ],
)
def test_values_that_cannot_train_are_refused_when_the_recipe_is_read(
    tmp_path: Path, dataset: Path, override: str, words: str
) -> None:
    refused(cwm("train", str(recipe(tmp_path, dataset)), override), words)
    assert not (tmp_path / "run").exists()  # refused before anything was made


def test_outputs_that_cannot_be_a_run_folder_are_one_line(tmp_path: Path, dataset: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(cwm("train", str(recipe(tmp_path, dataset)), f"output.dir={afile}"), "is a file")
    refused(cwm("train", str(recipe(tmp_path, dataset)), f"output.dir={afile / 'sub'}"), "cannot write there")
    refused(cwm("train", str(recipe(tmp_path, dataset)), f"output.dir={dataset}"), "not a run")
    assert not (dataset / "cwm_run.json").exists()
    empty = train_support.write_dataset(tmp_path / "empty", {"train": train_support.traces(), "validation": []})
    refused(cwm("train", str(recipe(tmp_path, empty))), "'validation' split is empty")
    weightless = tmp_path / "weightless"
    from transformers import Qwen2Config

    Qwen2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, vocab_size=64).save_pretrained(weightless)
    path = recipe(tmp_path, dataset, method="lora")
    data = json.loads(path.read_text())
    data["model"] = {"name": str(weightless)}
    path.write_text(json.dumps(data))
    refused(cwm("train", str(path)), "no weights")


def test_a_model_that_is_not_a_causal_lm(tmp_path: Path, dataset: Path) -> None:
    from transformers import T5Config

    folder = tmp_path / "t5"
    T5Config(d_model=16, num_layers=1, num_heads=1, d_ff=16, vocab_size=64).save_pretrained(str(folder))
    path = recipe(tmp_path, dataset, method="lora")
    data = json.loads(path.read_text())
    data["model"] = {"name": str(folder)}
    path.write_text(json.dumps(data))
    refused(cwm("train", str(path)), "not a causal")


def test_a_sequence_length_too_short_for_any_example(tmp_path: Path, dataset: Path) -> None:
    refused(cwm("train", str(recipe(tmp_path, dataset, sequence={"max_length": 24}))), "too short for any example")
    # the folder of a run that failed before its first step is taken by the corrected command
    done = cwm("train", str(recipe(tmp_path, dataset, optim={"max_steps": 1})), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "final").is_dir()


def test_qlora_without_cuda(tmp_path: Path, dataset: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = recipe(tmp_path, dataset, method="qlora")
    data = json.loads(path.read_text())
    data["model"] = {"name": "Qwen/Qwen2.5-Coder-7B"}
    path.write_text(json.dumps(data))
    refused(cwm("train", str(path)), "qlora needs a CUDA GPU")


@pytest.mark.slow
def test_a_time_budget_stops_and_saves_the_run(tmp_path: Path, dataset: Path) -> None:
    path = recipe(
        tmp_path, dataset, optim={"max_steps": 100000}, time_budget_minutes=0.15, eval={"every_minutes": 0.03}
    )
    done = cwm("train", str(path), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stopped_by_budget"] and 0 < summary["steps"] < 100000
    assert f"stopped by the time budget at step {summary['steps']}" in done.stderr
    assert "tokenizing traces" not in done.stderr  # --no-progress: no bars
    # evaluations by minutes of training, their own time left out: at most one per 0.03 minutes of it
    marks = [h["train_minutes"] for h in summary["history"] if "train_minutes" in h]
    assert marks and all(a < b for a, b in itertools.pairwise(marks))
    assert len(marks) <= marks[-1] / 0.03 + 1e-6
    assert any("eval_next_frame_exact" in h for h in summary["history"])
    assert (tmp_path / "run" / "final" / "model.safetensors").exists()


@pytest.mark.slow
def test_resume_against_another_recipe_or_dataset(tmp_path: Path, dataset: Path) -> None:
    path = recipe(tmp_path, dataset, optim={"max_steps": 3})
    assert cwm("train", str(path)).returncode == 0
    refused(cwm("train", str(path)), "holds a run already", "--resume")
    refused(cwm("train", str(path), "--resume", "optim.lr=0.1"), "recipe differs", "optim.lr")
    other = train_support.write_dataset(tmp_path / "other", {"train": train_support.traces()[:4]})
    (other / "data" / "validation-00000-of-00001.parquet").write_bytes(
        (dataset / "data" / "validation-00000-of-00001.parquet").read_bytes()
    )
    refused(cwm("train", str(path), "--resume", f"data.path={other}"), "dataset differs")
    import shutil

    copy = shutil.copytree(dataset, tmp_path / "copy")  # the same data elsewhere is the same dataset
    refused(cwm("train", str(path), "--resume", f"data.path={copy}"), "is finished")  # so it got past that check
    (tmp_path / "fresh").mkdir()
    refused(cwm("train", str(recipe(tmp_path / "fresh", dataset)), "--resume"), "no run to continue")


def test_usage_errors_of_train_and_merge_are_one_line(tmp_path: Path) -> None:
    # each comes before the trainer is imported: its except clauses must not need it
    refused(cwm("train", "merge"), "usage: cwm train merge RUN --out DIR")
    refused(cwm("train", "merge", str(tmp_path)), "--out")
    refused(cwm("train", str(ROOT / "training" / "recipes" / "tiny-cpu.yaml"), "--out", str(tmp_path)), "--out is for")
