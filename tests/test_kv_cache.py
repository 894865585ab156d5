"""GrowingCache: the same keys, values and generations as DynamicCache, appended in place."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="needs the train extra")
pytest.importorskip("transformers", reason="needs the train extra")

from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM  # noqa: E402
from transformers.cache_utils import DynamicLayer  # noqa: E402

from benchmarks.predictors.kv_cache import MIN_ROOM, GrowingCache, GrowingLayer  # noqa: E402


def tiny_model() -> Any:
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        attn_implementation="sdpa",
    )
    return Qwen2ForCausalLM(config).eval()


def kv(batch: int, tokens: int, seed: int) -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, tokens, 8, generator=g), torch.randn(batch, 2, tokens, 8, generator=g)


def test_greedy_generation_is_the_same_as_with_dynamic_cache_left_padded_rows_too() -> None:
    model = tiny_model()
    ids = torch.randint(1, 64, (2, 30), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :7] = 0  # the second row left-padded
    runs = []
    for cache in (DynamicCache(config=model.config), GrowingCache(model.config)):
        with torch.no_grad():
            runs.append(
                model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=MIN_ROOM + 40,  # past the first buffer: it grows mid-rollout
                    min_new_tokens=MIN_ROOM + 40,
                    do_sample=False,
                    pad_token_id=0,
                    cache=cache,
                )
            )
    assert torch.equal(runs[0], runs[1])
    assert all(type(layer) is GrowingLayer for layer in GrowingCache(model.config).layers)


def test_a_step_writes_into_the_buffer_it_has_instead_of_copying_the_cache() -> None:
    layer = GrowingLayer()
    layer.update(*kv(1, 100, 0))
    storage = layer.keys.untyped_storage().data_ptr()
    for step in range(50):
        keys, values = layer.update(*kv(1, 1, step + 1))
        assert keys.untyped_storage().data_ptr() == storage  # no new tensor: the token was written in place
    assert keys.shape == (1, 2, 150, 8) and values.shape == (1, 2, 150, 8)
    assert layer.get_seq_length() == 150


def test_contents_match_dynamic_layer_through_growth_crop_reorder_batch_selection_and_reset() -> None:
    growing, dynamic = GrowingLayer(), DynamicLayer()

    def both(*ops: Any) -> None:
        for layer in (growing, dynamic):
            for op in ops:
                op(layer)
        assert torch.equal(growing.keys, dynamic.keys) and torch.equal(growing.values, dynamic.values)

    first = kv(3, 200, 0)
    both(lambda layer: layer.update(*first))
    for step in range(MIN_ROOM):  # past the buffer's first room
        new = kv(3, 1, step + 1)
        both(lambda layer, new=new: layer.update(*new))
    more = kv(3, 5, 999)
    both(lambda layer: layer.crop(-17), lambda layer: layer.update(*more))
    beam = kv(3, 2, 998)  # rows reordered, the batch the same size (beam search)
    both(lambda layer: layer.reorder_cache(torch.tensor([2, 0, 1])), lambda layer: layer.update(*beam))
    again = kv(2, 3, 1000)
    both(lambda layer: layer.batch_select_indices(torch.tensor([0, 2])), lambda layer: layer.update(*again))
    last = kv(2, 4, 1001)
    both(lambda layer: layer.reset(), lambda layer: layer.update(*last))
    assert growing.get_seq_length() == 4


def test_a_crop_keeps_the_buffer_so_the_next_token_is_written_in_place() -> None:
    layer, dynamic = GrowingLayer(), DynamicLayer()
    for one in (layer, dynamic):
        one.update(*kv(1, 100, 0))
        one.crop(-7)  # prompt lookup: drafted tokens the model did not keep
        one.update(*kv(1, 3, 1))
    storage = layer.keys.untyped_storage().data_ptr()
    layer.crop(-2)
    dynamic.crop(-2)
    keys, _ = layer.update(*kv(1, 1, 2))
    dynamic.update(*kv(1, 1, 2))
    assert keys.untyped_storage().data_ptr() == storage
    assert torch.equal(layer.keys, dynamic.keys) and torch.equal(layer.values, dynamic.values)
    assert layer.get_seq_length() == 95


def test_prompt_lookup_generates_what_plain_greedy_decoding_does() -> None:
    model = tiny_model()
    # a repetitive prompt, so that drafts are found, and some are kept and some refused
    ids = torch.tensor([list(range(1, 21)) * 4])
    runs = []
    for lookup in (None, 10):
        with torch.no_grad():
            runs.append(
                model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=MIN_ROOM + 40,
                    min_new_tokens=MIN_ROOM + 40,
                    do_sample=False,
                    pad_token_id=0,
                    prompt_lookup_num_tokens=lookup,
                    cache=GrowingCache(model.config),
                )
            )
    assert torch.equal(runs[0], runs[1])
