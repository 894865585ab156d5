"""Traces into training examples: prompt, completion, windows, loss mask, the tokenization cache."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="needs the train extra: pip install -e '.[train]'")
pytest.importorskip("datasets", reason="needs the train extra: pip install -e '.[train]'")

from tests import train_support
from tracer import SPECIAL_TOKENS, Trace, parse_cwm, record, render_cwm
from tracer.cwm_tokens import SAME
from training.examples import Encoder, ExampleReport, trace_examples


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return train_support.tokenizer()


def long_trace() -> Trace:
    source = "def f(n):\n    acc = []\n    for i in range(n):\n        acc.append(i % 7)\n    return len(acc)\n"
    return record(source, "f(40)", id="long")


def test_one_example_is_the_rendered_trace_and_the_end_of_text(tok) -> None:  # type: ignore[no-untyped-def]
    trace = train_support.traces()[2]
    [example] = trace_examples(trace, Encoder(tok), 4096, ExampleReport())
    text = render_cwm(trace)
    want = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert example.input_ids == want
    # the loss falls on the frames and the end-of-text token, never on the program text
    context = tok(text[: text.index(SPECIAL_TOKENS[1]) + len(SPECIAL_TOKENS[1])], add_special_tokens=False)
    n = len(context["input_ids"])
    assert example.completion_mask == [0] * n + [1] * (len(want) - n)
    assert [s.index for s in example.frames] == list(range(len(trace.events)))
    for span in example.frames:
        assert example.input_ids[span.end] == tok.convert_tokens_to_ids("<|frame_sep|>")
        assert example.input_ids[span.action] == tok.convert_tokens_to_ids("<|action_sep|>")


def test_program_text_cannot_forge_a_special_token(tok) -> None:  # type: ignore[no-untyped-def]
    """A value spelling '<|frame_sep|>' is text: the only frame separators are the real ones."""
    trace = train_support.traces()[-1]  # g() over words that spell special tokens
    assert any("<|frame_sep|>" in v for e in trace.events for v in (e.locals or {}).values())
    [example] = trace_examples(trace, Encoder(tok), 4096, ExampleReport())
    sep = tok.convert_tokens_to_ids("<|frame_sep|>")
    assert example.input_ids.count(sep) == len(trace.events) + 1  # one per frame, one closing the context
    # nor any other special token: the ids hold exactly those of the trace rendered with the
    # program's text defused
    defused = Trace.from_json(trace.to_json().replace("<|", "<!"))
    for token in SPECIAL_TOKENS:
        assert example.input_ids.count(tok.convert_tokens_to_ids(token)) == render_cwm(defused).count(token), token


def test_windows_repeat_the_context_start_whole_and_take_loss_once(tok) -> None:  # type: ignore[no-untyped-def]
    trace = long_trace()
    encoder = Encoder(tok)
    report = ExampleReport()
    examples = trace_examples(trace, encoder, 400, report, overlap=0.5)
    assert len(examples) > 2 and report.windowed == 1
    context = encoder.context(trace)
    seen: list[int] = []
    overlapped = 0
    for n, example in enumerate(examples):
        assert len(example.input_ids) <= 400
        assert example.input_ids[: len(context)] == context  # the context, repeated
        body = tok.decode(example.input_ids[len(context) :], skip_special_tokens=False)
        body = body.removesuffix(tok.eos_token)
        frames = [f for f in body.split("<|frame_sep|>") if f]
        # never a cut frame: the window's text is whole frames
        assert body.endswith("<|frame_sep|>")
        # its first frame writes its locals in full: every '..' resolves inside the window
        assert f'"{SAME}"' not in frames[0]
        parsed = parse_cwm(tok.decode(example.input_ids).removesuffix(tok.eos_token))
        assert not parsed.errors, parsed.errors
        # loss only on the new frames (and on the end of text, in the last window only)
        for span in example.frames:
            assert all(example.completion_mask[span.start : span.end + 1])
        with_loss = sum(example.completion_mask)
        frames_loss = sum(span.end - span.start + 1 for span in example.frames)
        assert with_loss == frames_loss + (n == len(examples) - 1)
        # frames repeated from the window before come first, without loss
        repeated = example.frames[0].start > len(context)
        assert (example.completion_mask[len(context)] == 0) == repeated
        overlapped += repeated
        seen += [span.index for span in example.frames]
    assert seen == list(range(len(trace.events)))  # every frame takes loss in exactly one window
    assert overlapped >= len(examples) // 2  # most windows start with context frames
    assert examples[-1].input_ids[-1] == tok.eos_token_id
    assert all(e.input_ids[-1] != tok.eos_token_id for e in examples[:-1])


def test_a_context_over_the_sequence_length_is_skipped_and_counted(tok) -> None:  # type: ignore[no-untyped-def]
    trace = record("def f():\n" + "    x = 1\n" * 200 + "    return x\n", "f()", id="big")
    report = ExampleReport()
    assert trace_examples(trace, Encoder(tok), 128, report) == []
    assert report.skipped == {"context alone over the sequence length": 1}


def test_a_rerun_does_not_retokenize(tok, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import training.tokenized as tokenized

    root = train_support.write_dataset(tmp_path / "ds")
    first = tokenized.tokenize(tokenized.load_traces(root, "train"), tok, 256, 0.25)
    assert len(first.dataset) > 0

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("tokenized again")

    monkeypatch.setattr(tokenized, "trace_examples", fail)
    again = tokenized.tokenize(tokenized.load_traces(root, "train"), tok, 256, 0.25)
    assert again.dataset["input_ids"] == first.dataset["input_ids"]
    assert again.report.examples == first.report.examples
    with pytest.raises(AssertionError, match="tokenized again"):  # another length is other examples
        tokenized.tokenize(tokenized.load_traces(root, "train"), tok, 200, 0.25)


def test_max_windows_keeps_the_first_windows_of_a_long_trace(tok) -> None:  # type: ignore[no-untyped-def]
    trace = long_trace()
    report = ExampleReport()
    every = trace_examples(trace, Encoder(tok), 400, ExampleReport(), overlap=0.5)
    capped = trace_examples(trace, Encoder(tok), 400, report, overlap=0.5, max_windows=2)
    assert len(every) > 2 and [e.input_ids for e in capped] == [e.input_ids for e in every[:2]]
    assert report.capped == 1 and capped[-1].input_ids[-1] != tok.eos_token_id  # no end of text: the trace goes on
