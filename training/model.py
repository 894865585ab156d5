"""Model set-up: a causal LM and its tokenizer, with the CWM special tokens, ready to train.

- :func:`load_tokenizer` / :func:`train_tokenizer`: from a hub id or folder, or a
  byte-level BPE trained here on the training split (the tiny CPU recipe);
- :func:`add_cwm_tokens`: the CWM tokens added as special tokens;
- :func:`load_model` / :func:`build_tiny`: any causal LM from a hub id or folder
  (checked to be one before its weights load), or a small Qwen2 from a config;
- :func:`resize`: embeddings resized, the new rows the mean of the old ones;
- :func:`lora_config`: LoRA on the attention and MLP projections, the new
  tokens' embedding (and untied output) rows trainable.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tracer import SPECIAL_TOKENS

from .copy_heads import plant_copy_heads
from .hub import hub_kwargs, unreachable_note
from .recipe import LoraSection, ModelSection, RecipeError, TinyModel

EOS_TOKEN = "<|endoftext|>"  # of a tokenizer trained here
PAD_TOKEN = "<|pad|>"


def device_kind() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str) -> Any:
    """``auto``: bf16 on a GPU that has it, else float32 (bf16 matmuls are slow on most CPUs)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if name == "float16" and device_kind() == "cpu":
        raise RecipeError("model.dtype float16 needs a GPU; use bfloat16 or float32 here")
    return getattr(torch, name)


def resolve_attention(name: str) -> str:
    """``auto``: flash-attention 2 when installed and on CUDA, else PyTorch's SDPA."""
    flash = importlib.util.find_spec("flash_attn") is not None
    if name == "auto":
        return "flash_attention_2" if flash and device_kind() == "cuda" else "sdpa"
    if name == "flash_attention_2" and not (flash and device_kind() == "cuda"):
        raise RecipeError("model.attention flash_attention_2 needs CUDA and the flash-attn package; use sdpa")
    return name


WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")  # what from_pretrained loads weights from


def check_causal_lm(name: str) -> Any:
    """The config of ``name`` (hub id or folder), refused unless it is a causal LM."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(name, **hub_kwargs(name))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(f"model.name {name!r}: cannot load its config ({first}){unreachable_note(name)}") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise RecipeError(
            f"model.name {name!r} is a {config.model_type!r} model, not a causal (decoder) language model"
        )
    folder = Path(name).expanduser()
    if folder.is_dir() and not any(any(folder.glob(pattern)) for pattern in WEIGHT_FILES):
        raise RecipeError(f"model.name {name!r}: the folder has a config but no weights ({', '.join(WEIGHT_FILES)})")
    return config


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **hub_kwargs(name))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(f"tokenizer {name!r}: cannot load it ({first}){unreachable_note(name)}") from None
    return tokenizer


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, with the CWM tokens as special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    # Qwen2's own pipeline (its normalizer, pre-tokenizer and decoder): the tiny model is a
    # Qwen2, and transformers loads the tokenizer of a Qwen2 folder as a Qwen2Tokenizer, which
    # builds this pipeline around the saved vocabulary and merges whatever the folder says.
    # With any other pipeline the tokenizer that loads would not be the one the model was
    # trained with (tests/test_train_metrics.py checks they tokenize alike).
    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    special = [EOS_TOKEN, PAD_TOKEN, *SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=list(SPECIAL_TOKENS),
    )


def add_cwm_tokens(tokenizer: Any) -> list[int]:
    """Add the CWM tokens (and a pad token if there is none); the ids of those that are new."""
    before = len(tokenizer)
    missing = [t for t in SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return list(range(before, len(tokenizer)))


def build_tiny(tiny: TinyModel, tokenizer: Any, max_length: int, dtype: Any, attention: str) -> Any:
    """A Qwen2 model built from a config, randomly initialised: nothing is downloaded."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if tiny.hidden_size % tiny.heads or tiny.heads % tiny.kv_heads:
        raise RecipeError("model.tiny: hidden_size must divide by heads, and heads by kv_heads")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_hidden_layers=tiny.layers,
        num_attention_heads=tiny.heads,
        num_key_value_heads=tiny.kv_heads,
        max_position_embeddings=max_length,
        rope_theta=tiny.rope_theta,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation=attention,
        dtype=dtype,
    )
    model = Qwen2ForCausalLM(config)
    if tiny.copy_heads:
        plant_copy_heads(model, max_length)
    return model.to(dtype)


def load_model(section: ModelSection, *, quantized: bool) -> Any:
    """A pretrained causal LM; 4-bit (QLoRA) only with CUDA and bitsandbytes."""
    from transformers import AutoModelForCausalLM

    assert section.name is not None
    check_causal_lm(section.name)
    dtype = resolve_dtype(section.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": resolve_attention(section.attention)}
    if quantized:
        kwargs["quantization_config"] = qlora_quantization(dtype)
    return AutoModelForCausalLM.from_pretrained(section.name, **kwargs, **hub_kwargs(section.name))


def qlora_quantization(dtype: Any) -> Any:
    """QLoRA's 4-bit NF4 weights; refused without CUDA or bitsandbytes (a clear error, before any load)."""
    import torch

    if not torch.cuda.is_available():
        raise RecipeError("method qlora needs a CUDA GPU (4-bit weights through bitsandbytes); use method lora here")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RecipeError("method qlora needs bitsandbytes: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
    )


def resize(model: Any, tokenizer: Any) -> None:
    """Embeddings (and an untied output layer) for every token; new rows the mean of the old."""
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)


def lora_config(section: LoraSection, model: Any, new_tokens: list[int]) -> Any:
    """LoRA on the projections the model has, the new tokens' rows trainable (embedding and output)."""
    from peft import LoraConfig

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in section.target_modules if t in names]
    if not targets:
        raise RecipeError(f"lora.target_modules: none of {section.target_modules} is a module of this model")
    trainable: dict[str, list[int]] | None = None
    if section.train_new_tokens and new_tokens:
        trainable = {"embed_tokens": new_tokens}
        if not model.config.get_text_config().tie_word_embeddings:
            trainable["lm_head"] = new_tokens
    return LoraConfig(
        r=section.r,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=targets,
        trainable_token_indices=trainable,
        task_type="CAUSAL_LM",
    )
