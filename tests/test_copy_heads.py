"""The planted copying circuit (``model.tiny.copy_heads``): it copies before any training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from training.copy_heads import copy_heads_problem, plant_copy_heads  # noqa: E402

LENGTH = 1024


def tiny_qwen2(rope_theta: float = 1e6, layers: int = 4) -> object:
    config = transformers.Qwen2Config(
        vocab_size=4096,
        hidden_size=256,
        intermediate_size=704,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=LENGTH,
        rope_theta=rope_theta,
        tie_word_embeddings=True,
    )
    return transformers.Qwen2ForCausalLM(config)


def copied(model: object) -> float:
    """Share of a repeated block's tokens (after its first) that the argmax predicts, far from the original."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 4000, (8, LENGTH), generator=generator)
    scored = torch.zeros_like(ids, dtype=torch.bool)
    for row in range(8):
        start, again = 50 + 40 * row, 700 + 30 * row
        ids[row, again : again + 64] = ids[row, start : start + 64]
        scored[row, again + 1 : again + 64] = True
    with torch.no_grad():
        predicted = model(ids).logits[:, :-1].argmax(-1)  # type: ignore[operator]
    hits = (predicted == ids[:, 1:]) & scored[:, 1:]
    return hits.sum().item() / scored[:, 1:].sum().item()


def test_the_planted_model_copies_a_repeated_block_before_any_training() -> None:
    torch.manual_seed(0)
    plain = tiny_qwen2()
    assert copied(plain) < 0.05  # a random model does not copy
    planted = tiny_qwen2()
    plant_copy_heads(planted, LENGTH)
    assert copied(planted) > 0.8


def test_a_shape_that_cannot_hold_the_circuit_is_named() -> None:
    assert copy_heads_problem(256, 4, 4, 1e6, LENGTH) is None
    assert "at least 2 layers" in (copy_heads_problem(256, 4, 1, 1e6, LENGTH) or "")
    assert "at least 2 heads" in (copy_heads_problem(256, 1, 4, 1e6, LENGTH) or "")
    assert "raise rope_theta" in (copy_heads_problem(256, 4, 4, 1e4, LENGTH) or "")
    with pytest.raises(ValueError, match="raise rope_theta"):
        plant_copy_heads(tiny_qwen2(rope_theta=1e4), LENGTH)
