"""Reading a run's checkpoint back: whether it ends the training, its weights and state
without a training step, and the tied weights a checkpoint saves once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .callbacks import Budget
from .recipe import RecipeError


def trained_to_the_end(checkpoint: str, budget: Budget) -> bool:
    """Whether ``checkpoint`` is the last step of the run: its step count, or its time budget, is reached."""
    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        done = state["global_step"] >= state["max_steps"] > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return done or budget.exhausted


def load_checkpoint(trainer: Any, checkpoint: str) -> bool:
    """The trainer's state and weights as ``checkpoint`` saved them, without a training step.
    False for a checkpoint this does not read (FSDP, DeepSpeed): the Trainer resumes those."""
    from safetensors.torch import load_file
    from transformers import TrainerState

    folder = Path(checkpoint)
    adapter, weights = folder / "adapter_model.safetensors", folder / "model.safetensors"
    if adapter.exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(trainer.model, load_file(str(adapter)))
    elif weights.exists():
        missing, unexpected = trainer.model.load_state_dict(load_file(str(weights)), strict=False)
        if set(missing) - tied_names(trainer.model) or unexpected:  # tied weights are saved once
            raise RecipeError(f"--resume: {checkpoint} does not hold this model's weights")
    else:
        return False
    trainer.state = TrainerState.load_from_json(str(folder / "trainer_state.json"))
    return True


def tied_names(model: Any) -> set[str]:
    """Names of the parameters that share their tensor with one named before them (tied)."""
    seen: set[int] = set()
    tied = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            tied.add(name)
        seen.add(id(param))
    return tied


class TiedKeysWarning:
    """While resuming, drop the Trainer's warning that a checkpoint lacks the tied weights
    (``lm_head.weight``): they are saved once, as the embedding, and load with it. A
    ``logging.Filter`` on the Trainer's logger; any other missing key is still reported."""

    PREFIX = "There were missing keys in the checkpoint model loaded: "

    def __init__(self, model: Any) -> None:
        import logging

        self.tied = tied_names(model)
        self.logger = logging.getLogger("transformers.trainer")

    def filter(self, record: Any) -> bool:
        import ast

        message = record.getMessage()
        if not message.startswith(self.PREFIX):
            return True
        try:
            keys = ast.literal_eval(message.removeprefix(self.PREFIX).rstrip("."))
        except (ValueError, SyntaxError):
            return True
        return not (isinstance(keys, list) and keys and set(keys) <= self.tied)

    def __enter__(self) -> TiedKeysWarning:
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeFilter(self)
