"""Start a tiny Qwen2 with a copying circuit: a previous-token head and an induction head.

The tiny CPU model's missing skill is copying from its context (the next source
line of the program): a model trained from scratch forms that circuit (an
induction head, Olsson et al. 2022) only after far more tokens than an hour of
this CPU gives it. So ``model.tiny.copy_heads`` writes the circuit into the
freshly initialised weights and lets training refine it, like any other
initialisation. Nothing outside the Qwen2 architecture is used:

1. the embedding starts in the first half of the hidden dimensions (the
   *content*); the second half starts empty;
2. layer 0, query head 0: a **previous-token head**. Its query and key are
   constant (their biases only), chosen so that after the rotary embedding the
   score peaks at distance 1 (on the fast rotary pairs); its value reads the
   content and its output writes it into the second half, so each position
   also carries the token before it;
3. layer 1, query head 0: an **induction head**. Its query reads the
   position's content and its key the previous-token copy, on the slow rotary
   pairs (whose angle barely turns over the sequence length, so the match does
   not depend on distance); it attends where the token before matches the
   current one, and its output adds that position's token to the content,
   which the tied output layer reads as a vote for it.

The two layers' MLPs start at zero (their noise would drown the match); every
other weight keeps its random initialisation. On the synthetic copying task
(a random block repeated later in the sequence) the planted model copies most
repeated tokens before any training, and the circuit survives AdamW with a
warm-up (without one, the first full-size steps scramble it).
"""

from __future__ import annotations

import math
from typing import Any

FAST_ANGLE = 0.04  # rotary pairs turning at least this much per position find the previous one
SLOW_ANGLE = 0.5  # rotary pairs turning at most this much over the whole sequence match by content
MIN_SLOW_PAIRS = 8  # 5 (rope_theta 1e4 at 1,024 tokens) copied 35% of a repeated block at start, 10 (1e5) 87%
PREVIOUS_SCALE = 12.0  # query/key bias: the distance-1 score stands out by ~15 logits
MATCH_SCALE = 3.0  # induction query/key gain on the normalised stream
VOTE_SCALE = 5.0  # the copied token's weight against the current token's in the content


def _pairs(hidden: int, heads: int, rope_theta: float, max_length: int) -> tuple[list[float], list[int], list[int]]:
    head_dim = hidden // heads
    angles = [rope_theta ** (-2 * i / head_dim) for i in range(head_dim // 2)]
    fast = [i for i, a in enumerate(angles) if a >= FAST_ANGLE][:8]
    slow = [i for i, a in enumerate(angles) if a * max_length <= SLOW_ANGLE]
    return angles, fast, slow


def copy_heads_problem(hidden: int, heads: int, layers: int, rope_theta: float, max_length: int) -> str | None:
    """Why this shape cannot hold the circuit, or None (the recipe checks it before anything loads)."""
    if layers < 2:
        return "copy_heads needs at least 2 layers (a previous-token and an induction head)"
    if heads < 2:
        return "copy_heads needs at least 2 heads (a head's size at most half of hidden_size)"
    _, fast, slow = _pairs(hidden, heads, rope_theta, max_length)
    if len(fast) < 4 or len(slow) < MIN_SLOW_PAIRS:
        return (
            f"copy_heads: rope_theta {rope_theta:g} leaves {len(slow)} rotary pairs that stay still over "
            f"sequence.max_length {max_length} (needs {MIN_SLOW_PAIRS}): raise rope_theta (e.g. 1e6)"
        )
    return None


def plant_copy_heads(model: Any, max_length: int) -> None:
    """Write the previous-token and induction heads into a freshly built Qwen2 (in place)."""
    import torch

    config = model.config
    hidden, heads = config.hidden_size, config.num_attention_heads
    theta = float(config.rope_parameters["rope_theta"])
    problem = copy_heads_problem(hidden, heads, config.num_hidden_layers, theta, max_length)
    if problem is not None:
        raise ValueError(problem)
    head_dim = hidden // heads
    content = hidden // 2
    angles, fast, slow = _pairs(hidden, heads, theta, max_length)
    rows = slice(0, head_dim)  # query head 0 and key/value head 0
    with torch.no_grad():
        embedding = model.get_input_embeddings().weight
        embedding[:, content:] = 0
        sigma = float(embedding[:, :content].float().std())

        first = model.model.layers[0].self_attn
        for proj in (first.q_proj, first.k_proj, first.v_proj):
            proj.weight[rows] = 0
            proj.bias[rows] = 0
        for i in fast:
            first.q_proj.bias[i] = PREVIOUS_SCALE
            first.k_proj.bias[i] = PREVIOUS_SCALE * math.cos(angles[i])
            first.k_proj.bias[i + head_dim // 2] = PREVIOUS_SCALE * math.sin(angles[i])
        first.v_proj.weight[rows, 0:head_dim] = torch.eye(head_dim)
        first.o_proj.weight[:] = 0
        # the normalised stream is ~sqrt(2) a dimension on the content: write the copy at the embedding's scale
        first.o_proj.weight[content : content + head_dim, 0:head_dim] = sigma / math.sqrt(2) * torch.eye(head_dim)

        second = model.model.layers[1].self_attn
        for proj in (second.q_proj, second.k_proj, second.v_proj):
            proj.weight[rows] = 0
            proj.bias[rows] = 0
        slots = slow + [i + head_dim // 2 for i in slow]
        for t, slot in enumerate(slots):
            second.q_proj.weight[slot, t] = MATCH_SCALE
            second.k_proj.weight[slot, content + t] = MATCH_SCALE
        second.v_proj.weight[rows, 0:head_dim] = torch.eye(head_dim)
        group = config.num_attention_heads // config.num_key_value_heads  # query heads reading kv head 0
        second.o_proj.weight[:, 0 : group * head_dim] = 0
        second.o_proj.weight[0:head_dim, 0:head_dim] = VOTE_SCALE * sigma * torch.eye(head_dim)

        for layer in model.model.layers[:2]:
            layer.mlp.down_proj.weight[:] = 0
