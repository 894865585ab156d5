"""Teacher-forced next-frame exact match, for a model (one forward pass) and for the copy baseline."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")

from tests import train_support
from tracer import record
from training.examples import Encoder, ExampleReport, trace_examples
from training.metrics import FrameScores, copy_baseline, copy_scores, score_predictions, teacher_forced

SOURCE = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"


def test_copy_baseline_by_hand() -> None:
    """call f(1); line 2 {x}; line 3 {x, y}; line 4 {x, y, z}; return 4. Copy, from each true frame:
    line 2 {x: ..} (right), line 3 {x: ..} (action right, y missing), line 4 {x: .., y: ..} (action
    right, z missing), a line frame on line 5 where f returns (wrong kind)."""
    scores = copy_scores(record(SOURCE, "f(1)"))
    assert (scores.frames, scores.exact, scores.kind_action, scores.kind_state) == (4, 1, 3, 1)
    figures = copy_baseline([record(SOURCE, "f(1)"), record(SOURCE, "f(1)")])
    assert figures["exact"] == 25.0 and figures["kind_action"] == 75.0 and figures["kind_state"] == 25.0
    only = copy_scores(record(SOURCE, "f(1)"), only={2, 4})
    assert (only.frames, only.exact, only.kind_action) == (2, 0, 1)


def test_a_frame_matches_only_when_every_position_does() -> None:
    tok = train_support.tokenizer()
    [example] = trace_examples(record(SOURCE, "f(1)"), Encoder(tok), 4096, ExampleReport())
    right = list(example.input_ids)
    scores = FrameScores()
    score_predictions(example, right, scores)
    assert (scores.frames, scores.exact, scores.kind_action, scores.kind_state) == (4, 4, 4, 4)
    # one wrong token in the locals of frame 2, one in the action of frame 3, the closing
    # <|frame_sep|> of frame 4 wrong, frame 5's kind wrong
    wrong = list(right)
    spans = example.frames
    wrong[spans[1].start + 1] = -5
    wrong[spans[2].action + 1] = -5
    wrong[spans[3].end] = -5
    wrong[spans[4].start] = -5
    scores = FrameScores()
    score_predictions(example, wrong, scores)
    assert scores.frames == 4 and scores.exact == 0
    assert scores.kind_state == 2  # frames 3 and 4: kind and locals right
    assert scores.kind_action == 1  # frame 2 only: its action through <|frame_sep|> is right


def test_one_forward_pass_agrees_with_greedy_decoding() -> None:
    """The one-pass figure says, frame by frame, what greedy decoding from the true prefix does."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = train_support.tokenizer()
    traces = train_support.traces()[:2]
    examples = [e for t in traces for e in trace_examples(t, Encoder(tok), 4096, ExampleReport())]
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
    )  # fmt: skip
    model = Qwen2ForCausalLM(config)
    # fit the first example a little, so that some frames match and some do not
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ids = torch.tensor([examples[0].input_ids])
    for _ in range(60):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    matched, greedy = [], []
    for example in examples:
        scores = FrameScores()
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([example.input_ids])).logits[0]
        predicted = [-1, *logits.argmax(-1)[:-1].tolist()]
        for span in example.frames[1:]:
            one = FrameScores()
            score_predictions(type(example)(example.trace_id, example.input_ids, [], [span]), predicted, one)
            matched.append(one.exact == 1)
            prefix = torch.tensor([example.input_ids[: span.start]])
            out = model.generate(
                prefix, max_new_tokens=span.end - span.start + 1, do_sample=False, pad_token_id=tok.pad_token_id
            )
            greedy.append(out[0, span.start :].tolist() == example.input_ids[span.start : span.end + 1])
        score_predictions(example, predicted, scores)
    assert matched == greedy
    assert any(matched) and not all(matched)  # the check compared both outcomes
    figures = teacher_forced(model, examples, batch_size=2, pad_id=tok.pad_token_id)  # batched and padded
    by_trace: dict[str, list[bool]] = {}
    flat = iter(matched)
    for example in examples:
        by_trace.setdefault(example.trace_id, []).extend(next(flat) for _ in example.frames[1:])
    want = sum(sum(v) / len(v) for v in by_trace.values()) / len(by_trace) * 100
    assert figures["exact"] == pytest.approx(want, abs=0.01)


def test_the_tiny_models_tokenizer_loads_back_as_it_was_trained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """transformers loads a Qwen2 folder's tokenizer as a Qwen2Tokenizer (its own pipeline around
    the saved vocabulary): the trained one must tokenize exactly like what loads."""
    import torch
    from transformers import AutoTokenizer

    from tracer import render_cwm
    from training.model import build_tiny
    from training.recipe import TinyModel

    tok = train_support.tokenizer()
    model = build_tiny(
        TinyModel(hidden_size=16, layers=1, heads=2, kv_heads=1, intermediate_size=32), tok, 64, torch.float32, "sdpa"
    )
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = [render_cwm(t) for t in train_support.traces()] + [
        "    total = 0\n",
        "x = 'caf\u00e9'  # 12\r\n",
        "  \t\n\n",
    ]
    for text in texts:
        for split in (True, False):
            want = tok(text, add_special_tokens=False, split_special_tokens=split)["input_ids"]
            assert loaded(text, add_special_tokens=False, split_special_tokens=split)["input_ids"] == want, text
