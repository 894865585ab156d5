"""``cwm train RECIPE.yaml [key=value ...]`` and ``cwm train merge RUN --out DIR``.

The work is ``training``'s (recipe, trainer); this module only reads the
command line and turns a recipe's problems into one-line errors (exit 2).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ..cli import EXIT_INTERRUPTED, UsageError

TRAIN_EPILOG = """\
recipes (training/recipes/):
  tiny-cpu.yaml                 a small Qwen2 built from a config, a BPE tokenizer trained on the data: CPU, no download
  smollm2-360m-lora.yaml        SmolLM2-360M with LoRA
  qwen2.5-coder-1.5b-lora.yaml  the GPU-box recipe: bf16, sequence 4096, packing
  qwen2.5-coder-7b-qlora.yaml   one 24 GB GPU, 4-bit base (CUDA only)

overrides (key=value, dotted, read as YAML): optim.lr=1e-4 data.path=out/traces output.dir=runs/x

A run is checkpointed every output.save_every_steps steps and at the end; Ctrl-C or SIGTERM
saves one at the end of the current step (a second one stops at once). Continue a stopped
or killed run with --resume (same recipe and dataset, same data order).
Under accelerate (one GPU, DDP, FSDP, DeepSpeed; see training/accelerate/README.md):
  accelerate launch --config_file training/accelerate/ddp.yaml -m cwm train RECIPE.yaml

examples:
  cwm train training/recipes/tiny-cpu.yaml data.path=out/traces
  cwm train training/recipes/tiny-cpu.yaml --resume
  cwm train merge runs/qwen-1.5b --out merged/qwen-1.5b-cwm
"""


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="fine-tune a language model on a trace dataset (LoRA, QLoRA, full), or merge an adapter",
        description="Fine-tune a causal language model on a trace dataset from a YAML recipe, "
        "or (`cwm train merge RUN --out DIR`) merge a LoRA run's adapter into its base model.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("recipe", metavar="RECIPE.yaml", help="the recipe (or `merge`, then the run directory)")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="recipe values to override")
    train.add_argument("--resume", action="store_true", help="continue the run in output.dir from its last checkpoint")
    train.add_argument("--out", metavar="DIR", help="for merge: where the merged model is written")
    train.add_argument("--no-progress", action="store_true", help="no progress lines")
    train.set_defaults(handler=cmd_train)


class _NotRaised(Exception):
    """Stands for ``TrainingInterrupted`` until the trainer is imported."""


def cmd_train(args: argparse.Namespace) -> int:
    from training.recipe import RecipeError

    flags = [word for word in args.overrides if word.startswith("-")]
    if flags:
        raise UsageError(f"unrecognized arguments: {' '.join(flags)} (see cwm train --help)")
    # bound before the try: its except clauses read it even when the error (a usage error,
    # Ctrl-C while torch loads) comes before the trainer module is imported
    TrainingInterrupted: type[Exception] = _NotRaised
    try:
        if args.recipe == "merge":
            return _merge(args)
        if args.out is not None:
            raise UsageError("--out is for `cwm train merge RUN --out DIR`; a run's directory is output.dir")
        from training.recipe import load_recipe

        recipe = load_recipe(args.recipe, args.overrides)
        from training.trainer import TrainingInterrupted, train

        result = train(recipe, resume=args.resume, progress=not args.no_progress)
    except RecipeError as exc:
        raise UsageError(str(exc)) from None
    except TrainingInterrupted as exc:
        if os.environ.get("RANK", "0") != "0":  # one process of a distributed run says it
            return 128 + exc.signum
        again = shlex.join(["cwm", "train", args.recipe, *args.overrides, "--resume"])
        if os.environ.get("WORLD_SIZE", "1") != "1":
            again = f"the same launch command, with --resume ({again} under it)"
        print(
            f"cwm train: interrupted at step {exc.step}; saved {exc.checkpoint}; continue with: {again}",
            file=sys.stderr,
        )
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("cwm train: interrupted; continue with --resume (from the last checkpoint)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.stopped_by_budget:
        print(f"cwm train: stopped by the time budget at step {result.steps}", file=sys.stderr)
    print(result.final_dir)
    return 0


def _merge(args: argparse.Namespace) -> int:
    if len(args.overrides) != 1 or args.out is None:
        raise UsageError("usage: cwm train merge RUN --out DIR")
    if args.resume:
        raise UsageError("--resume is for training, not merge")
    from training.trainer import merge

    print(merge(args.overrides[0], args.out))
    return 0
