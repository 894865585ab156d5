"""Write a tiny Qwen2 folder (a `cwm train` run's ``final/``) as a GGUF file for llama.cpp's server.

llama.cpp's own converter (``convert_hf_to_gguf.py``) names a tokenizer's
pre-tokenizer by hashing what the tokenizer makes of a test string, and refuses
a tokenizer whose hash it does not list: every tokenizer trained here is one
(its vocabulary is new; its pipeline is Qwen2's own, see
``training.model.train_tokenizer``). So this writes the same file with the
``gguf`` package's public writer, saying ``qwen2`` for the pre-tokenizer,
which is what that pipeline is. Weights stay float32: the served model must
write what the Hugging Face model writes.

    python -m tests.gguf_export MODEL_DIR OUT.gguf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Hugging Face names -> GGUF names (llama.cpp's qwen2 architecture); {i} is the layer
_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}


def gguf_name(name: str) -> str:
    if name in _TOP:
        return _TOP[name]
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".", 3)  # model, layers, i, rest
    if parts[:2] != ["model", "layers"] or parts[3] not in _LAYER:
        raise ValueError(f"not a Qwen2 weight this writer knows: {name}")
    return f"blk.{parts[2]}.{_LAYER[parts[3]]}"


def export(model_dir: str | Path, out: str | Path) -> Path:
    import gguf
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    folder = Path(model_dir)
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "qwen2":
        raise ValueError(f"{folder}: a {config.get('model_type')} model, not qwen2")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    core = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab: dict[str, int] = core["model"]["vocab"]
    added = {t["content"]: t["id"] for t in core["added_tokens"]}
    size = int(config["vocab_size"])
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [gguf.TokenType.UNUSED] * size
    for text, i in vocab.items():
        tokens[i], types[i] = text, gguf.TokenType.NORMAL
    for text, i in added.items():
        tokens[i] = text
        # the end of text ends generation; the CWM tokens are text the completion must show
        # (llama.cpp leaves control tokens out of a completion's text, and reads user-defined
        # ones in a prompt as the tokens, as Hugging Face does)
        types[i] = gguf.TokenType.CONTROL if text == tokenizer.eos_token else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in core["model"]["merges"]]

    writer = gguf.GGUFWriter(str(out), "qwen2")
    writer.add_name(folder.name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config["num_key_value_heads"]))
    writer.add_rope_freq_base(float((config.get("rope_parameters") or {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_tokenizer_model("gpt2")  # byte-level BPE
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(False)
    weights = load_file(str(folder / "model.safetensors"))
    for name, array in weights.items():
        writer.add_tensor(gguf_name(name), array.astype("float32"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.gguf_export MODEL_DIR OUT.gguf")
    print(export(sys.argv[1], sys.argv[2]))
