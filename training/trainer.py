"""`cwm train`: fine-tune a causal LM on a trace dataset, read top to bottom (nanoGPT's way).

1. check the recipe's dataset and the run directory (a resume must find the
   same recipe and the same data);
2. the tokenizer (loaded, or trained on the training split) with the CWM
   tokens, and the model (loaded, or built from a config), embeddings resized;
3. the examples (:mod:`training.tokenized`, cached), train and validation;
4. TRL's ``SFTTrainer`` on them: completion-only loss from our
   ``completion_mask`` (the windows decide which frames take loss, so the
   data comes tokenized and TRL does not re-tokenize it), packing by
   best-fit decreasing with position ids per example, so no attention
   crosses examples; LoRA through peft, or full fine-tuning;
5. checkpoints every N steps and at the end, each with the tokenizer, the
   recipe and the dataset's fingerprint; evaluation adds the teacher-forced
   next-frame exact match (:mod:`training.metrics`) beside the loss, and
   the ``copy`` baseline's on the same frames; curves as PNG at the end.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.build import DatasetError

from . import metrics
from .callbacks import Budget, EvalClock, Interrupt, Progress, RunFiles, write_json
from .checkpoints import TiedKeysWarning, load_checkpoint, trained_to_the_end
from .hub import hub_kwargs
from .model import (
    add_cwm_tokens,
    build_tiny,
    check_causal_lm,
    load_model,
    load_tokenizer,
    lora_config,
    qlora_quantization,
    resize,
    resolve_attention,
    resolve_dtype,
    train_tokenizer,
)
from .recipe import RESUMABLE, Recipe, RecipeError
from .tokenized import TokenizedSplit, content_hash, load_traces, progress_bars, tokenize

RUN_FILE = "cwm_run.json"  # in the run directory and in every checkpoint: recipe, fingerprints
TOKENIZER_DIR = "tokenizer"
FINAL_DIR = "final"
SUMMARY_FILE = "summary.json"  # written last: a run with it (and final/) is finished


@dataclass
class RunResult:
    output_dir: Path
    final_dir: Path
    train_loss: float | None
    eval: dict[str, float]
    copy: dict[str, float]
    steps: int
    stopped_by_budget: bool


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM stopped the run; its state up to ``step`` is in ``checkpoint``."""

    def __init__(self, signum: int, step: int, checkpoint: Path) -> None:
        super().__init__(f"{signal.Signals(signum).name} at step {step}: saved {checkpoint}")
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint


def train(recipe: Recipe, *, resume: bool = False, progress: bool = True) -> RunResult:
    """Train as ``recipe`` says (``resume``: go on from the run's last checkpoint); ``progress``
    prints a line per log. The libraries' own progress bars (TRL's dataset preparation,
    transformers' checkpoint writing) are off meanwhile: the progress line says it all."""
    with _library_bars_off():
        return _train(recipe, resume=resume, progress=progress)


def _train(recipe: Recipe, *, resume: bool, progress: bool) -> RunResult:
    out = Path(recipe.output.dir)
    # -- 1. the model's kind, the data and the run directory, before anything heavy loads --
    if recipe.model.tiny is not None and recipe.method != "full":
        raise RecipeError(
            "model.tiny builds a random model: train it with method: full (LoRA needs a trained base; "
            "point model.name at a run's final/ folder for that)"
        )
    if recipe.method == "qlora":
        qlora_quantization(None)  # CUDA and bitsandbytes, or a clear error now
    if recipe.model.name is not None:
        check_causal_lm(recipe.model.name)
    try:
        train_traces = load_traces(recipe.data.path, recipe.data.train_split, recipe.data.max_train_traces)
        eval_traces = load_traces(recipe.data.path, recipe.data.eval_split, recipe.data.max_eval_traces)
    except DatasetError as exc:
        raise RecipeError(f"data.path: {exc}") from None
    run_info = {
        "recipe": recipe.to_json(),
        "recipe_fingerprint": recipe.fingerprint(),
        # by content: a copy of the dataset in another folder is the same data
        "dataset_fingerprint": content_hash(recipe.data.path, recipe.data.train_split, recipe.data.max_train_traces),
        "dataset": str(recipe.data.path),
    }
    last_checkpoint = _check_run_dir(out, run_info, resume)
    clock = RunFiles.clock(last_checkpoint, RUN_FILE)  # a resumed run's clocks go on from its checkpoint
    budget = Budget(recipe.time_budget_minutes, spent=clock.get("budget_seconds", 0.0))
    evals = EvalClock(recipe.eval.every_minutes, training=clock.get("train_seconds", 0.0))
    at_the_end = last_checkpoint is not None and trained_to_the_end(last_checkpoint, budget)
    if at_the_end and (out / SUMMARY_FILE).exists() and (out / FINAL_DIR / RUN_FILE).exists():
        raise RecipeError(
            f"--resume: the run in {out} is finished (its model: {out / FINAL_DIR}, "
            + (
                "its time budget spent); give it more time_budget_minutes, or "
                if budget.exhausted
                else "its last step done); "
            )
            + "start a new run from it (model.name) in another output.dir"
        )

    # -- 2. tokenizer and model ---------------------------------------------------------
    import torch
    from transformers import set_seed

    set_seed(recipe.optim.seed)
    tokenizer = _tokenizer(recipe, out, train_traces, resume)
    new_tokens = add_cwm_tokens(tokenizer)
    if recipe.model.tiny is not None:
        attention = resolve_attention(recipe.model.attention)
        model = build_tiny(
            recipe.model.tiny, tokenizer, recipe.sequence.max_length, resolve_dtype(recipe.model.dtype), attention
        )
    else:
        model = load_model(recipe.model, quantized=recipe.method == "qlora")
    resize(model, tokenizer)

    # -- 3. examples --------------------------------------------------------------------
    length, overlap = recipe.sequence.max_length, recipe.sequence.overlap
    train_split = tokenize(train_traces, tokenizer, length, overlap, recipe.sequence.max_windows, progress=progress)
    eval_split = tokenize(eval_traces, tokenizer, length, overlap, recipe.eval.max_windows, progress=progress)
    if len(train_split.dataset) == 0:
        raise RecipeError(
            f"sequence.max_length {length} is too short for any example of {recipe.data.train_split!r}: "
            f"{train_split.report.summary()}"
        )
    _say(progress, f"train: {train_split.report.summary()}")
    _say(progress, f"eval:  {eval_split.report.summary()}")
    eval_examples = eval_split.examples()
    copy = _copy_on_same_frames(eval_traces, eval_split)
    _say(progress, f"copy baseline on {recipe.data.eval_split!r}: {_figures(copy)}")

    # -- 4. the trainer -----------------------------------------------------------------
    from trl import SFTConfig

    use_cuda = torch.cuda.is_available()
    precision = recipe.model.mixed_precision
    bf16 = precision == "bf16" or (precision == "auto" and resolve_dtype(recipe.model.dtype) == torch.bfloat16)
    report_to = (["tensorboard"] if recipe.logging.tensorboard else []) + (
        ["wandb"] if recipe.logging.wandb and _installed("wandb") else []
    )
    # TRL's best-fit packing is padding-free: a batch becomes one sequence, its examples told
    # apart by position ids. Flash-attention's varlen kernels then cost what separate sequences
    # cost; SDPA and eager attend over the whole flattened batch (a block-diagonal mask, quadratic
    # in the batch's length). So without flash-attention each packed sequence is its own micro-batch,
    # with the same tokens per optimizer step (batch_size x grad_accum sequences).
    batch, accum = recipe.optim.batch_size, recipe.optim.grad_accum
    if recipe.sequence.packing and attention_of(model) != "flash_attention_2":
        batch, accum = 1, batch * accum
    checkpointing: dict[str, Any] = {_checkpointing_field(): recipe.model.gradient_checkpointing}
    args = SFTConfig(
        output_dir=str(out),
        max_length=length,
        packing=recipe.sequence.packing,
        packing_strategy="bfd",  # whole examples, position ids restart per example: no cross attention
        padding_free=recipe.sequence.packing,
        completion_only_loss=True,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=recipe.eval.batch_size,
        gradient_accumulation_steps=accum,
        learning_rate=recipe.optim.lr,
        weight_decay=recipe.optim.weight_decay,
        adam_beta1=recipe.optim.betas[0],
        adam_beta2=recipe.optim.betas[1],
        max_grad_norm=recipe.optim.max_grad_norm,
        lr_scheduler_type=recipe.optim.scheduler,
        warmup_steps=recipe.optim.warmup_ratio,  # a float below 1: a share of the steps
        num_train_epochs=recipe.optim.epochs,
        max_steps=recipe.optim.max_steps,
        seed=recipe.optim.seed,
        data_seed=recipe.optim.seed,
        logging_steps=recipe.logging.every_steps,
        save_strategy="steps" if recipe.output.save_every_steps else "no",
        save_steps=recipe.output.save_every_steps or 500,
        save_total_limit=recipe.output.keep_checkpoints,
        # no eval example (each longer than max_length): evaluations are off, the summary says so
        eval_strategy="steps" if recipe.eval.every_steps and len(eval_split.dataset) else "no",
        eval_steps=recipe.eval.every_steps,
        report_to=report_to,
        **checkpointing,
        bf16=bf16,
        use_cpu=not use_cuda,
        disable_tqdm=True,  # the progress line below says step, loss, tokens/s and ETA
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    columns = ["input_ids", "completion_mask"]
    train_data = train_split.dataset.select_columns(columns)
    eval_data = eval_split.dataset.select_columns(columns) if len(eval_split.dataset) else None
    peft = lora_config(recipe.lora, model, new_tokens) if recipe.method in ("lora", "qlora") else None
    interrupt = Interrupt()
    trainer = _Trainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=[
            Progress(progress),
            budget,
            evals,
            RunFiles(run_info, tokenizer, RUN_FILE, budget, evals),
            interrupt,  # after RunFiles: its checkpoint holds the run's files too
        ],
        cwm_eval=(eval_examples, recipe.eval.batch_size, tokenizer.pad_token_id),
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the progress line says it in one line

    # -- 5. train, save, evaluate, plot ---------------------------------------------------
    if at_the_end and last_checkpoint is not None and load_checkpoint(trainer, last_checkpoint):
        # killed after its last checkpoint (writing the final model, or evaluating it): the
        # Trainer would take one step more on resuming (it checks for the end only after a step)
        _say(progress, f"{last_checkpoint} ends the training: writing the final model")
        budget.stopped = budget.exhausted
        train_loss = next((h["train_loss"] for h in reversed(trainer.state.log_history) if "train_loss" in h), None)
    else:
        with TiedKeysWarning(trainer.model):
            try:
                train_loss = trainer.train(resume_from_checkpoint=last_checkpoint).training_loss
            finally:
                interrupt.restore()
    if interrupt.stopped_at is not None:
        raise TrainingInterrupted(
            interrupt.signum or signal.SIGINT, interrupt.stopped_at, out / f"checkpoint-{interrupt.stopped_at}"
        )
    if interrupt.signum is not None:  # it came after the last step: the run is whole, finish it
        _say(True, "the last step was done before the signal: writing the final model")
    final = out / FINAL_DIR
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    write_json(final / RUN_FILE, run_info)
    evaluation = trainer.evaluate() if eval_data is not None else {}
    figures = {k.removeprefix("eval_next_frame_"): v for k, v in evaluation.items() if "next_frame" in k}
    summary = {
        "train_loss": train_loss,
        "steps": trainer.state.global_step,
        "eval": evaluation,
        "copy": copy,
        "stopped_by_budget": budget.stopped,
        "history": trainer.state.log_history,
        "examples": {"train": train_split.report.__dict__, "eval": eval_split.report.__dict__},
    }
    write_json(out / SUMMARY_FILE, summary)
    plot_curves(trainer.state.log_history, out / "curves.png", copy)
    _say(progress, f"model on {recipe.data.eval_split!r}: {_figures(figures)}  (copy: {_figures(copy)})")
    _say(progress, f"saved {final}")
    return RunResult(out, final, train_loss, evaluation, copy, trainer.state.global_step, budget.stopped)


# -- the pieces ---------------------------------------------------------------------------
@contextlib.contextmanager
def _library_bars_off() -> Iterator[None]:
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        with progress_bars(False):  # datasets' (tokenizing turns its own bar on)
            yield
    finally:
        if was_on:
            transformers_logging.enable_progress_bar()


def _checkpointing_field() -> str:
    """TrainingArguments' name for gradient checkpointing: ``activation_checkpointing`` since
    transformers 5.2x (the old name warns that it is deprecated), ``gradient_checkpointing`` before."""
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _make_trainer_class() -> type:
    from trl import SFTTrainer

    class CWMTrainer(SFTTrainer):  # type: ignore[misc]
        """SFTTrainer whose evaluation also reports the teacher-forced next-frame exact match."""

        def __init__(self, *args: Any, cwm_eval: tuple[list[Any], int, int] = ([], 8, 0), **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.cwm_eval_examples, self.cwm_eval_batch, self.cwm_pad = cwm_eval

        def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval") -> Any:
            found = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix) if self.eval_dataset else {}
            if self.cwm_eval_examples and self.is_world_process_zero():
                figures = metrics.teacher_forced(
                    self.model, self.cwm_eval_examples, batch_size=self.cwm_eval_batch, pad_id=self.cwm_pad
                )
                extra = {f"{metric_key_prefix}_next_frame_{k}": v for k, v in figures.items()}
                self.log(extra)
                found.update(extra)
            return found

    return CWMTrainer


def _Trainer(**kwargs: Any) -> Any:
    return _make_trainer_class()(**kwargs)


def _check_run_dir(out: Path, run_info: dict[str, Any], resume: bool) -> str | None:
    """The checkpoint to resume from (None: a fresh run); refuses a resume that would not match."""
    from transformers.trainer_utils import get_last_checkpoint

    saved = out / RUN_FILE
    if out.exists() and not out.is_dir():
        raise RecipeError(f"output.dir {out} is a file, not a folder")
    if not resume:
        trained = out.is_dir() and (get_last_checkpoint(str(out)) or (out / FINAL_DIR).exists())
        if trained or (saved.exists() and _started_training(out)):
            raise RecipeError(f"output.dir {out} holds a run already: pass --resume to continue it, or choose another")
        if out.is_dir() and not saved.exists() and any(out.iterdir()):
            raise RecipeError(f"output.dir {out} holds files that are not a run: choose a new or empty folder")
        # a run folder that never took a step (it failed on its way, or was stopped) is taken over
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_json(saved, run_info)
        except OSError as exc:
            raise RecipeError(f"output.dir {out}: cannot write there ({exc.strerror})") from None
        return None
    if not saved.exists():
        raise RecipeError(f"--resume: {out} holds no run to continue (no {RUN_FILE})")
    before = json.loads(saved.read_text())
    if before.get("recipe_fingerprint") != run_info["recipe_fingerprint"]:
        changed = _differences(before.get("recipe", {}), run_info["recipe"])
        raise RecipeError(f"--resume: the recipe differs from the run's in {', '.join(changed) or 'its settings'}")
    if before.get("dataset_fingerprint") != run_info["dataset_fingerprint"]:
        raise RecipeError(f"--resume: the dataset differs from the run's ({before.get('dataset')} when it started)")
    return last_complete_checkpoint(out)  # None: killed before the first checkpoint, so it starts over


def _started_training(out: Path) -> bool:
    """Whether the run in ``out`` took a training step: its logs hold an event file, or any
    checkpoint (even one a kill cut short) was begun."""
    return any(out.glob("checkpoint-*")) or any((out / "runs").glob("**/events.out.tfevents.*"))


def last_complete_checkpoint(out: Path) -> str | None:
    """The newest checkpoint that was written whole; those a kill cut short are removed.

    ``cwm_run.json`` is written once the Trainer has saved everything else
    (:class:`~training.callbacks.RunFiles`, on its ``on_save``): a checkpoint without it was
    being written when the run was killed.
    """
    import shutil

    found = []
    for path in out.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if path.is_dir() and step.isdigit():
            found.append((int(step), path))
    complete = None
    for _, path in sorted(found, reverse=True):
        if (path / RUN_FILE).exists():
            complete = path
            break
        shutil.rmtree(path, ignore_errors=True)  # cut short: nothing in it can be trusted
    return None if complete is None else str(complete)


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        if prefix + key in RESUMABLE:
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            keys.append(prefix + key)
    return keys


def _tokenizer(recipe: Recipe, out: Path, train_traces: Any, resume: bool) -> Any:
    saved = out / TOKENIZER_DIR
    if recipe.model.train_tokenizer is not None:
        if resume and saved.exists():
            return load_tokenizer(str(saved))
        from tracer import render_cwm
        from training.data.table import row_trace

        settings = recipe.model.train_tokenizer
        rows = (
            train_traces
            if settings.max_traces is None
            else train_traces.select(range(min(settings.max_traces, len(train_traces))))
        )
        texts = (render_cwm(row_trace(row)) for row in rows)
        tokenizer = train_tokenizer(texts, settings.vocab_size)
        tokenizer.save_pretrained(str(saved))
        return tokenizer
    return load_tokenizer(recipe.model.tokenizer or recipe.model.name or "")


def attention_of(model: Any) -> str:
    return str(getattr(model.config, "_attn_implementation", None) or "sdpa")


def _copy_on_same_frames(traces: Any, split: TokenizedSplit) -> dict[str, float]:
    """The copy baseline over exactly the frames the model is scored on."""
    from training.data.table import row_trace

    scored: dict[str, set[int]] = {}
    for trace_id, indices in zip(split.dataset["trace_id"], split.dataset["span_index"], strict=True):
        scored.setdefault(trace_id, set()).update(i for i in indices if i > 0)
    per_trace = []
    for row in traces:
        trace = row_trace(row)
        only = scored.get(trace.program.id)
        if only:
            per_trace.append(metrics.copy_scores(trace, only))
    return metrics.macro(per_trace)


def _figures(figures: dict[str, float]) -> str:
    if not figures:
        return "n/a"
    return (
        f"next-frame exact {figures.get('exact', 0):.1f}% (kind+action {figures.get('kind_action', 0):.1f}%, "
        f"kind+state {figures.get('kind_state', 0):.1f}%) over {int(figures.get('frames', 0))} frames"
    )


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _say(enabled: bool, text: str) -> None:
    if enabled:
        print(text, file=sys.stderr, flush=True)


def plot_curves(history: list[dict[str, Any]], path: Path, copy: dict[str, float]) -> None:
    """Loss and the next-frame exact match against steps, as a PNG beside the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("loss", "train loss"), ("eval_loss", "eval loss")):
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            left.plot(*zip(*points, strict=True), label=label, marker="." if key == "eval_loss" else None)
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.legend()
    for part in metrics.PARTS:
        key = f"eval_next_frame_{part}"
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            line = right.plot(*zip(*points, strict=True), marker="o", label=f"model {part}")[0]
            if part in copy:
                right.axhline(copy[part], linestyle="--", color=line.get_color(), label=f"copy {part}")
    right.set_xlabel("step")
    right.set_ylabel("teacher-forced next-frame match (%)")
    right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def merge(run: str | Path, out: str | Path) -> Path:
    """Merge a LoRA run's adapter into its base: a folder transformers and vLLM load as is."""
    run, out = Path(run), Path(out)
    if not run.is_dir():
        raise RecipeError(f"{run}: no such run folder")
    if out.exists() and not out.is_dir():
        raise RecipeError(f"--out {out} is a file, not a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RecipeError(f"--out {out}: {parent} is a file, not a folder")
            break
    final = run / FINAL_DIR if (run / FINAL_DIR).is_dir() else run
    config = final / "adapter_config.json"
    if not config.exists():
        raise RecipeError(f"{run}: no adapter to merge (no {FINAL_DIR}/adapter_config.json; a full fine-tune is whole)")
    info_file = final / RUN_FILE
    if not info_file.exists():
        raise RecipeError(f"{run}: not a cwm run ({RUN_FILE} missing)")
    if out.resolve() == final.resolve() or final.resolve() in out.resolve().parents:
        raise RecipeError(f"--out {out} is inside the adapter's folder {final}: choose a folder of its own")
    recipe = Recipe.model_validate(json.loads(info_file.read_text())["recipe"])
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(str(final))
    if recipe.model.name is None:
        raise RecipeError(f"{run}: its base was built from a config, not loaded: nothing to merge into")
    base = AutoModelForCausalLM.from_pretrained(
        recipe.model.name, dtype=resolve_dtype(recipe.model.dtype), **hub_kwargs(recipe.model.name)
    )
    resize(base, tokenizer)
    merged = PeftModel.from_pretrained(base, str(final)).merge_and_unload()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecipeError(f"--out {out}: cannot make it ({exc.strerror})") from None
    merged.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out
