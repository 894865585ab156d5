"""Training throughput: real (non-padding) tokens per second of cwm's pipeline against a naive one.

Both train the same model (the tiny CPU recipe's Qwen2, built from its
config) on the same examples of a trace dataset (``--data``, default
``out/traces``), with TRL's SFTTrainer, for the same number of optimizer steps
of the same number of sequences:

- **cwm**: what ``cwm train`` does: best-fit packing of whole examples into
  sequences of the recipe's length (position ids restart per example), each
  packed sequence a micro-batch;
- **naive**: no packing, each batch of examples padded to its longest.

Target (issue 10): cwm at least 1.5x the naive tokens/s, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.speed.common import (
    Output,
    Target,
    add_report_options,
    at_least,
    cannot_run,
    exit_status,
    write_json,
)

MIN_RATIO = 1.5
RECIPE = Path(__file__).resolve().parents[2] / "training" / "recipes" / "tiny-cpu.yaml"


def measure(data: str, steps: int, examples: int, batch: int, repeat: int, log: Any) -> dict[str, Any]:
    import torch
    from datasets import Dataset

    from tracer import render_cwm
    from training.data.table import row_trace
    from training.model import add_cwm_tokens, build_tiny, train_tokenizer
    from training.recipe import load_recipe
    from training.tokenized import load_traces, tokenize

    recipe = load_recipe(RECIPE, [f"data.path={data}"])
    torch.set_num_threads(torch.get_num_threads())
    traces = load_traces(data, "train")
    log("training a tokenizer on 500 traces")
    tokenizer = train_tokenizer((render_cwm(row_trace(r)) for r in traces.select(range(min(500, len(traces))))), 4096)
    add_cwm_tokens(tokenizer)
    length = recipe.sequence.max_length
    split = tokenize(traces, tokenizer, length, recipe.sequence.overlap)
    rows = split.dataset.shuffle(seed=0).select(range(min(examples, len(split.dataset))))
    data_set = Dataset.from_dict({"input_ids": rows["input_ids"], "completion_mask": rows["completion_mask"]})
    figures: dict[str, Any] = {
        "examples": len(data_set),
        "steps": steps,
        "sequences_per_step": batch,
        "length": length,
        "repeat": repeat,
    }
    assert recipe.model.tiny is not None
    # alternated, each pipeline's best round counts: the first run of a process pays warm-up costs
    for round_ in range(repeat):
        for name, packing in (
            (("naive", False), ("cwm", True)) if round_ % 2 == 0 else (("cwm", True), ("naive", False))
        ):
            log(f"round {round_ + 1}/{repeat}, {name}: {steps} steps")
            torch.manual_seed(0)
            model = build_tiny(recipe.model.tiny, tokenizer, length, torch.float32, "sdpa")
            tokens, seconds = _train(model, tokenizer, data_set, packing, steps, batch, length)
            best = figures.get(name)
            if best is None or tokens / seconds > best["tokens_per_second"]:
                figures[name] = {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}
    figures["ratio"] = figures["cwm"]["tokens_per_second"] / figures["naive"]["tokens_per_second"]
    return figures


def _train(
    model: Any, tokenizer: Any, data: Any, packing: bool, steps: int, batch: int, length: int
) -> tuple[int, float]:
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_length=length,
            packing=packing,
            packing_strategy="bfd",
            completion_only_loss=True,
            per_device_train_batch_size=1 if packing else batch,  # as cwm train does without flash-attention
            gradient_accumulation_steps=batch if packing else 1,
            max_steps=steps,
            learning_rate=1e-3,
            report_to=[],
            save_strategy="no",
            logging_steps=steps,
            disable_tqdm=True,
            use_cpu=True,
            gradient_checkpointing=False,
            include_num_input_tokens_seen="non_padding",
            dataloader_num_workers=0,
            seed=0,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)  # no log dicts on stdout: the table says it
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        return int(trainer.state.num_input_tokens_seen), seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="out/traces", help="a trace dataset (default: out/traces, the demo's)")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per pipeline (default: 12)")
    parser.add_argument(
        "--examples", type=int, default=2000, help="examples drawn from the train split (default: 2000)"
    )
    parser.add_argument("--batch", type=int, default=8, help="sequences per optimizer step (default: 8)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, alternating; the best counts (default: 2)")
    add_report_options(parser)
    args = parser.parse_args(argv)
    at_least(
        parser,
        1,
        "--steps, --examples, --batch and --repeat must be at least 1",
        args.steps,
        args.examples,
        args.batch,
        args.repeat,
    )
    try:
        import trl  # noqa: F401
    except ImportError:
        cannot_run(parser, "needs the train extra: pip install -e '.[train]'")
    from training.data.build import DatasetError

    log = (lambda _m: None) if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    try:
        figures = measure(args.data, args.steps, args.examples, args.batch, args.repeat, log)
    except DatasetError as exc:
        cannot_run(parser, f"{args.data}: {exc} (build one with `bash scripts/demo.sh` or `cwm dataset build`)")
    out = Output(plain=args.plain)
    rows = [
        [name, f"{f['tokens']:,}", f"{f['seconds']:.1f}", f"{f['tokens_per_second']:,.0f}"]
        for name, f in ((n, figures[n]) for n in ("naive", "cwm"))
    ]
    out.table(
        f"{figures['steps']} steps of {figures['sequences_per_step']} sequences (up to {figures['length']} tokens), "
        f"{figures['examples']} examples, tiny-cpu model, CPU, best of {figures['repeat']} alternating rounds",
        ["pipeline", "real tokens", "seconds", "real tokens/s"],
        rows,
    )
    target = Target(
        "cwm / naive, real tokens per second", figures["ratio"], f">= {MIN_RATIO}x", figures["ratio"] >= MIN_RATIO
    )
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [[target.name, f"{figures['ratio']:.2f}x", target.bound, target.verdict]],
    )
    if args.json:
        write_json(args.json, figures, out, indent=2)
    return exit_status([target], args.check)


if __name__ == "__main__":
    sys.exit(main())
