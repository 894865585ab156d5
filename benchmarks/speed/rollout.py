"""Prediction throughput: the KV-cached rollout, and single-step in one forward pass, against the naive ways.

Same model and traces in the same run (the tiny CPU recipe's Qwen2 shape,
built from its config with a 4,096-token context, or ``--model`` a trained
folder), on traces of at least ``--min-frames`` frames recorded here:

- **free-running**: :class:`~benchmarks.predictors.hf.HFPredictor`'s way, one
  ``generate`` whose KV cache holds the whole rollout, against re-encoding the
  whole prefix for every frame (one ``generate`` per frame from the prompt and
  the frames so far). Both write exactly each real frame's number of tokens,
  so they do the same amount of decoding. Target: at least 3x the frames/s.
- **single-step**: one forward pass over the whole trace (the argmax at every
  position, :func:`training.metrics.argmax_predictions`) against greedy
  generation of each frame from the true prefix. Target: at least 10x.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.speed.common import Output, Target, add_report_options, at_least, exit_status, write_json

MIN_CACHED_RATIO = 3.0
MIN_SINGLE_STEP_RATIO = 10.0
CONTEXT = 4096

PROGRAMS = [
    (
        textwrap.dedent(
            """\
            def collatz(n):
                path = [n]
                while n != 1:
                    n = n // 2 if n % 2 == 0 else 3 * n + 1
                    path.append(n)
                return len(path)
            """
        ),
        "collatz(27)",
    ),
    (
        textwrap.dedent(
            """\
            def sieve(limit):
                primes = []
                for n in range(2, limit):
                    if all(n % p for p in primes):
                        primes.append(n)
                return primes
            """
        ),
        "sieve(60)",
    ),
    (
        textwrap.dedent(
            """\
            def bubble(items):
                items = list(items)
                for i in range(len(items)):
                    for j in range(len(items) - 1 - i):
                        if items[j] > items[j + 1]:
                            items[j], items[j + 1] = items[j + 1], items[j]
                return items
            """
        ),
        "bubble([5, 2, 9, 1, 7, 3])",
    ),
]


def traces(min_frames: int, max_tokens: int, encoder: Any) -> list[Any]:
    from tracer import record

    found = []
    for source, entry in PROGRAMS:
        trace = record(source, entry, max_events=400)
        events = trace.events
        # keep whole frames up to the context's room (prompt, frames, and room to write)
        used = len(encoder.context(trace))
        kept = 0
        for ids, _ in encoder.frames(events):
            if used + len(ids) > max_tokens - 8:
                break
            used += len(ids)
            kept += 1
        trace.events = events[:kept]
        if len(trace.events) >= min_frames:
            found.append(trace)
    return found


def measure(model_dir: str | None, min_frames: int, log: Any) -> dict[str, Any]:
    import torch

    from benchmarks.predictors import Task
    from tracer import record, render_cwm
    from training.examples import Encoder, ExampleReport, trace_examples
    from training.metrics import argmax_predictions
    from training.model import add_cwm_tokens, build_tiny, train_tokenizer
    from training.recipe import load_recipe

    torch.manual_seed(0)
    if model_dir is None:
        from pathlib import Path

        recipe = load_recipe(Path(__file__).resolve().parents[2] / "training" / "recipes" / "tiny-cpu.yaml", [])
        log("training a tokenizer on the benchmark's traces, building the tiny-cpu model")
        tokenizer = train_tokenizer((render_cwm(record(s, e, max_events=400)) for s, e in PROGRAMS), 1000)
        add_cwm_tokens(tokenizer)
        assert recipe.model.tiny is not None
        model = build_tiny(recipe.model.tiny, tokenizer, CONTEXT, torch.float32, "sdpa")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    encoder = Encoder(tokenizer)
    context = int(model.config.max_position_embeddings)
    chosen = traces(min_frames, context, encoder)
    if not chosen:
        raise ValueError(f"no trace of {min_frames} frames fits the model's {context} tokens")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else encoder.eos

    def generate(prefix: list[int], n: int) -> list[int]:
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.tensor([prefix]),
                attention_mask=torch.ones(1, len(prefix), dtype=torch.long),
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=pad,
                use_cache=True,
            )
        return list(out[0, len(prefix) :].tolist())

    figures: dict[str, Any] = {"traces": len(chosen), "frames": 0, "context": context}
    seconds = {"cached": 0.0, "reencode": 0.0, "one_pass": 0.0, "per_frame": 0.0}
    for trace in chosen:
        task = Task.of(trace)
        frames = [ids for ids, _ in encoder.frames(trace.events)]
        prompt = [*encoder.context(task.as_trace()), *frames[0]]
        rest = frames[1:]
        figures["frames"] += len(rest)
        log(f"{trace.program.entry}: {len(rest)} frames")
        started = time.perf_counter()  # the rollout: one generate, the cache holds everything
        generate(prompt, sum(len(f) for f in rest))
        seconds["cached"] += time.perf_counter() - started
        started = time.perf_counter()  # the prefix encoded again for every frame
        prefix = list(prompt)
        for frame in rest:
            generate(prefix, len(frame))
            prefix += frame
        seconds["reencode"] += time.perf_counter() - started
        # single-step: one forward pass for every frame, against generating each (same as above)
        examples = trace_examples(trace, encoder, context, ExampleReport())
        started = time.perf_counter()
        for _ in argmax_predictions(model, examples, batch_size=1, pad_id=pad):
            pass
        seconds["one_pass"] += time.perf_counter() - started
    seconds["per_frame"] = seconds["reencode"]  # generating each frame from the true prefix
    frames = figures["frames"]
    figures["frames_per_second"] = {name: frames / s for name, s in seconds.items()}
    figures["seconds"] = seconds
    figures["cached_ratio"] = seconds["reencode"] / seconds["cached"]
    figures["single_step_ratio"] = seconds["per_frame"] / seconds["one_pass"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.rollout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained model folder (default: the tiny-cpu shape, built here)")
    parser.add_argument("--min-frames", type=int, default=50, help="traces of at least this many frames (default: 50)")
    add_report_options(parser)
    args = parser.parse_args(argv)
    at_least(parser, 2, "--min-frames must be at least 2", args.min_frames)
    log = (lambda _m: None) if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    try:
        figures = measure(args.model, args.min_frames, log)
    except (ValueError, OSError) as exc:
        from benchmarks.speed.common import cannot_run

        cannot_run(parser, str(exc))
    out = Output(plain=args.plain)
    fps = figures["frames_per_second"]
    out.table(
        f"{figures['frames']} frames of {figures['traces']} traces (>= {args.min_frames} frames each), CPU",
        ["way", "frames/s"],
        [
            ["free-running: KV-cached rollout", f"{fps['cached']:.1f}"],
            ["free-running: prefix re-encoded every frame", f"{fps['reencode']:.1f}"],
            ["single-step: one forward pass", f"{fps['one_pass']:.1f}"],
            ["single-step: each frame generated", f"{fps['per_frame']:.1f}"],
        ],
    )
    targets = [
        Target(
            "rollout / re-encoding",
            figures["cached_ratio"],
            f">= {MIN_CACHED_RATIO:g}x",
            figures["cached_ratio"] >= MIN_CACHED_RATIO,
        ),
        Target(
            "one pass / generating each frame",
            figures["single_step_ratio"],
            f">= {MIN_SINGLE_STEP_RATIO:g}x",
            figures["single_step_ratio"] >= MIN_SINGLE_STEP_RATIO,
        ),
    ]
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict"],
        [[t.name, f"{t.measured:.2f}x", t.bound, t.verdict] for t in targets],
    )
    if args.json:
        write_json(args.json, figures, out, indent=2)
    return exit_status(targets, args.check)


if __name__ == "__main__":
    sys.exit(main())
