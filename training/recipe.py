"""A training recipe: one YAML file, validated before anything loads (torchtune's way).

Every key has a default here except ``model`` and ``data.path``; an unknown
or mistyped key is refused with the list of valid ones. ``key=value``
overrides (``optim.lr=1e-4``) are applied to the YAML before validation, their
values read as YAML scalars.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .copy_heads import copy_heads_problem

# what a resumed run may change: where it writes, how long it runs, how it logs and evaluates,
# and where the dataset lies (its fingerprint decides whether it is the same data)
RESUMABLE = ("output", "time_budget_minutes", "logging", "eval", "data.path")
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class RecipeError(ValueError):
    """A recipe that cannot be used: said in one line (or one line per problem)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no inf or nan for any number


class TinyModel(_Section):
    """A small model of the Qwen2 architecture built from a config: no download."""

    hidden_size: int = Field(256, gt=0)
    layers: int = Field(4, gt=0)
    heads: int = Field(4, gt=0)
    kv_heads: int = Field(2, gt=0)
    intermediate_size: int = Field(704, gt=0)
    rope_theta: float = Field(10000.0, gt=0)
    copy_heads: bool = False  # start with a previous-token and an induction head (training/copy_heads.py)

    @model_validator(mode="after")
    def _a_shape_qwen2_builds(self) -> TinyModel:
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of heads {self.heads}")
        if (self.hidden_size // self.heads) % 2:
            raise ValueError(f"a head's size (hidden_size / heads = {self.hidden_size // self.heads}) must be even")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads {self.kv_heads}")
        return self


class TokenizerTraining(_Section):
    """A byte-level BPE tokenizer trained on the dataset's training split."""

    vocab_size: int = Field(4096, ge=300)
    max_traces: int | None = Field(None, gt=0)  # of the training split, for speed


class ModelSection(_Section):
    name: str | None = None  # a hub id or a local folder
    tiny: TinyModel | None = None  # build this instead of loading ``name``
    tokenizer: str | None = None  # hub id or folder; default: the model's own
    train_tokenizer: TokenizerTraining | None = None  # for a ``tiny`` model: train one on the data
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"  # auto: bf16 where the hardware has it
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"  # auto: flash-attention if installed
    # auto: bf16 compute when dtype is bfloat16; bf16: float32 weights with bf16 autocast (mixed
    # precision: 1.5x on a CPU with AVX512-BF16, and on any GPU that has bf16); none: the dtype as is
    mixed_precision: Literal["auto", "bf16", "none"] = "auto"
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _one_model(self) -> ModelSection:
        if (self.name is None) == (self.tiny is None):
            raise ValueError("give exactly one of model.name (hub id or folder) and model.tiny (build from a config)")
        if self.train_tokenizer is not None and self.tiny is None:
            raise ValueError("model.train_tokenizer is for model.tiny only (a pretrained model keeps its tokenizer)")
        if self.tiny is not None and self.train_tokenizer is None and self.tokenizer is None:
            raise ValueError("model.tiny needs model.tokenizer or model.train_tokenizer")
        return self


class LoraSection(_Section):
    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))
    train_new_tokens: bool = True  # the CWM tokens' embedding and output rows are trained too


class DataSection(_Section):
    path: str  # a `cwm dataset build` folder
    train_split: str = "train"
    eval_split: str = "validation"
    max_train_traces: int | None = Field(None, gt=0)
    max_eval_traces: int | None = Field(200, gt=0)


class SequenceSection(_Section):
    max_length: int = Field(2048, gt=8)
    packing: bool = True  # several examples per sequence, no attention across them
    overlap: float = Field(0.25, ge=0, lt=1)  # of a window, repeated from the window before as context
    max_windows: int | None = Field(None, gt=0)  # per trace (training split): long loops do not outweigh the rest


class OptimSection(_Section):
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = Field(1.0, gt=0)
    scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup", "cosine_with_min_lr"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    batch_size: int = Field(4, gt=0)  # sequences per device per step
    grad_accum: int = Field(1, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1)  # -1: as many as the epochs make
    seed: int = 0

    @model_validator(mode="after")
    def _usable(self) -> OptimSection:
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"betas are each at least 0 and below 1, got {list(self.betas)}")
        if self.max_steps == 0:
            raise ValueError("max_steps is at least 1 (or -1: as many as the epochs make)")
        return self


class EvalSection(_Section):
    every_steps: int | None = Field(None, gt=0)  # None: at the end only (or every_minutes)
    every_minutes: float | None = Field(None, gt=0)  # of training time, as well
    batch_size: int = Field(8, gt=0)
    max_windows: int | None = Field(None, gt=0)  # per trace: its first windows only (copy is scored on the same frames)


class LoggingSection(_Section):
    every_steps: int = Field(10, gt=0)
    tensorboard: bool = True
    wandb: bool = False  # when installed


class OutputSection(_Section):
    dir: str = Field("runs/cwm", min_length=1)
    save_every_steps: int | None = Field(None, gt=0)  # None: at the end only
    keep_checkpoints: int = Field(2, gt=0)


class Recipe(_Section):
    model: ModelSection
    method: Literal["lora", "qlora", "full"] = "lora"
    lora: LoraSection = Field(default_factory=LoraSection)
    data: DataSection
    sequence: SequenceSection = Field(default_factory=SequenceSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    output: OutputSection = Field(default_factory=OutputSection)
    time_budget_minutes: float | None = Field(None, gt=0)  # stop (and save) when it is spent

    @model_validator(mode="after")
    def _copy_heads_fit(self) -> Recipe:
        tiny = self.model.tiny
        if tiny is not None and tiny.copy_heads:
            problem = copy_heads_problem(
                tiny.hidden_size, tiny.heads, tiny.layers, tiny.rope_theta, self.sequence.max_length
            )
            if problem is not None:
                raise ValueError(f"model.tiny.{problem}")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """What decides the run's result (all but :data:`RESUMABLE`), hashed: a resume must find the same."""
        data = {k: v for k, v in self.to_json().items() if k not in RESUMABLE}
        del data["data"]["path"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def valid_keys(model: type[BaseModel] = Recipe, prefix: str = "") -> list[str]:
    """Every key a recipe may hold, dotted (``optim.lr``)."""
    keys = []
    for name, info in model.model_fields.items():
        sub = _section_type(info.annotation)
        if sub is not None:
            keys += valid_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def _section_type(annotation: Any) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key=value`` pairs set into the nested ``data`` (values read as YAML scalars)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"an override is key=value (like optim.lr=1e-4), got {item!r}")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise RecipeError(f"override {key!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe; :class:`RecipeError` says everything that is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read it ({exc})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader that refuses a key given twice
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: not valid YAML: {what}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping (model:, data:, ...), got {type(data).__name__}")
    data = apply_overrides(data, overrides or [])
    return validate(data, str(path))


def validate(data: dict[str, Any], where: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = []
        unknown = False
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                unknown = True
                problems.append(f"unknown key {key!r}")
            elif error["type"] == "missing":
                problems.append(f"missing key {key!r}")
            else:
                problems.append(f"{key or 'recipe'}: {error['msg'].removeprefix('Value error, ')}")
        hint = f" (valid keys: {', '.join(valid_keys())})" if unknown else ""
        raise RecipeError(f"{where}: " + "; ".join(problems) + hint) from None
