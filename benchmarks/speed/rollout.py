"""Prediction throughput: the KV-cached rollout, and single-step in one forward pass, against the naive ways.

Same model and traces in the same run (the tiny CPU recipe's Qwen2 shape,
built from its config with a 4,096-token context, or ``--model`` a trained
folder), on traces of at least ``--min-frames`` frames recorded here:

- **free-running**: :class:`~benchmarks.predictors.hf.HFPredictor`'s way, one
  ``generate`` whose KV cache (its :class:`~benchmarks.predictors.kv_cache.GrowingCache`)
  holds the whole rollout, against re-encoding the whole prefix for every
  frame (one ``generate`` per frame from the prompt and the frames so far,
  with the same cache class). Both write exactly each real frame's number of
  tokens, so they do the same amount of decoding. Each ``--batch`` size is
  measured: a batch is that many rows, each a copy of the trace's prompt, so
  that every row writes the real frames' tokens and none is padded (what a
  batch of programs of one length costs). The default sizes are 1 and the
  predictor's own batch size. Target: at least 3x the frames/s, judged at the
  predictor's batch size. At batch 1 both ways decode as the predictor does
  one program, with prompt lookup (``--lookup-tokens``; 0 turns it off): the
  share of tokens a forward pass writes is reported, since it depends on the
  model (a model that copies its context keeps more drafts; an untrained one
  that repeats itself keeps them too).
- **single-step**: one forward pass over the whole trace (the argmax at every
  position, :func:`training.metrics.argmax_predictions`) against greedy
  generation of each frame from the true prefix (the re-encoding way at batch
  1). Target: at least 10x.

Re-encoding is timed on a seeded sample of one frame in ``--stride`` (a
sample, not every K-th frame: a loop's frames repeat with its period, and
every third frame of a three-line loop is the same line): each of its
``generate`` calls starts afresh, so fewer of them estimate the same frames/s
(a batch of 8 re-encodes about two seconds of prefix per frame on this CPU).
"""

from __future__ import annotations

import argparse
import random
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


def measure(
    model_dir: str | None, min_frames: int, batches: Sequence[int], stride: int, lookup: int, log: Any
) -> dict[str, Any]:
    import torch

    from benchmarks.predictors import Task
    from benchmarks.predictors.kv_cache import GrowingCache
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

    passes = [0]
    model.register_forward_pre_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))

    def generate(prefix: list[int], rows: int, n: int) -> None:
        with torch.no_grad():
            model.generate(
                input_ids=torch.tensor([prefix] * rows),
                attention_mask=torch.ones(rows, len(prefix), dtype=torch.long),
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=pad,
                prompt_lookup_num_tokens=lookup if rows == 1 and lookup else None,  # as HFPredictor
                cache=GrowingCache(model.config),  # what HFPredictor uses
            )

    figures: dict[str, Any] = {
        "traces": len(chosen),
        "frames_per_trace": [],
        "context": context,
        "stride": stride,
        "lookup_tokens": lookup,
        "model": model_dir or "tiny-cpu shape, untrained",
    }
    written = {b: [0, 0] for b in batches}  # the rollout's tokens, and its forward passes
    runs = {b: {"cached": [0.0, 0], "reencode": [0.0, 0]} for b in batches}  # seconds, frames
    one_pass = [0.0, 0]
    for trace in chosen:
        task = Task.of(trace)
        frames = [ids for ids, _ in encoder.frames(trace.events)]
        prompt = [*encoder.context(task.as_trace()), *frames[0]]
        rest = frames[1:]
        figures["frames_per_trace"].append(len(rest))
        for rows in batches:
            log(f"{trace.program.entry}: {len(rest)} frames, batch {rows}")
            started = time.perf_counter()  # the rollout: one generate, the cache holds everything
            before = passes[0]
            generate(prompt, rows, sum(len(f) for f in rest))
            written[rows][0] += sum(len(f) for f in rest)
            written[rows][1] += passes[0] - before
            cached = runs[rows]["cached"]
            cached[0] += time.perf_counter() - started
            cached[1] += rows * len(rest)
            reencode = runs[rows]["reencode"]  # the prefix encoded again for every frame
            prefix = list(prompt)
            # a seeded sample, not every stride-th frame: a loop's frames repeat with its period
            timed = set(random.Random(len(rest)).sample(range(len(rest)), -(-len(rest) // stride)))
            for index, frame in enumerate(rest):
                if index in timed:
                    started = time.perf_counter()
                    generate(prefix, rows, len(frame))
                    reencode[0] += time.perf_counter() - started
                    reencode[1] += rows
                prefix += frame
        # single-step: one forward pass for every frame
        examples = trace_examples(trace, encoder, context, ExampleReport())
        started = time.perf_counter()
        for _ in argmax_predictions(model, examples, batch_size=1, pad_id=pad):
            pass
        one_pass[0] += time.perf_counter() - started
        one_pass[1] += len(rest)
    figures["frames"] = sum(figures["frames_per_trace"])
    figures["batches"] = {
        str(rows): {
            "seconds": {way: s for way, (s, _) in ways.items()},
            "frames": {way: n for way, (_, n) in ways.items()},
            "frames_per_second": {way: n / s for way, (s, n) in ways.items()},
        }
        for rows, ways in runs.items()
    }
    for rows, one in figures["batches"].items():
        fps = one["frames_per_second"]
        one["cached_ratio"] = fps["cached"] / fps["reencode"]
        tokens, steps = written[int(rows)]
        one["tokens_per_pass"] = tokens / max(steps, 1)
    figures["one_pass"] = {
        "seconds": one_pass[0],
        "frames": one_pass[1],
        "frames_per_second": one_pass[1] / one_pass[0],
    }
    if 1 in runs:  # each frame generated from the true prefix: the re-encoding way at batch 1
        per_frame = figures["batches"]["1"]["frames_per_second"]["reencode"]
        figures["single_step_ratio"] = figures["one_pass"]["frames_per_second"] / per_frame
    return figures


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of batch sizes: {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("batch sizes are at least 1")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.predictors import DEFAULT_BATCH_SIZE, DEFAULT_LOOKUP_TOKENS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed.rollout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a trained model folder (default: the tiny-cpu shape, built here)")
    parser.add_argument("--min-frames", type=int, default=50, help="traces of at least this many frames (default: 50)")
    parser.add_argument(
        "--batch",
        type=batch_sizes,
        default=[1, DEFAULT_BATCH_SIZE],
        metavar="N[,N...]",
        help=f"free-running batch sizes to time (default: 1,{DEFAULT_BATCH_SIZE}, the predictor's; "
        "the target is judged at the predictor's size when it is timed, else at the largest)",
    )
    parser.add_argument(
        "--lookup-tokens",
        type=int,
        default=DEFAULT_LOOKUP_TOKENS,
        metavar="N",
        help=f"batch 1: prompt lookup drafts of up to N tokens, as the predictor (default: {DEFAULT_LOOKUP_TOKENS}; 0: off)",
    )
    parser.add_argument(
        "--stride", type=int, default=3, metavar="K", help="re-encoding: time a sample of one frame in K (default: 3)"
    )
    add_report_options(parser)
    args = parser.parse_args(argv)
    at_least(parser, 2, "--min-frames must be at least 2", args.min_frames)
    at_least(parser, 1, "--stride must be at least 1", args.stride)
    at_least(parser, 0, "--lookup-tokens must be at least 0", args.lookup_tokens)
    log = (lambda _m: None) if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    try:
        figures = measure(args.model, args.min_frames, args.batch, args.stride, args.lookup_tokens, log)
    except (ValueError, OSError) as exc:
        from benchmarks.speed.common import cannot_run

        cannot_run(parser, str(exc))
    judged = DEFAULT_BATCH_SIZE if DEFAULT_BATCH_SIZE in args.batch else max(args.batch)
    out = Output(plain=args.plain)
    rows = []
    for size, one in figures["batches"].items():
        fps = one["frames_per_second"]
        per = f", {one['tokens_per_pass']:.2f} tokens a pass" if int(size) == 1 and args.lookup_tokens else ""
        rows.append([f"free-running, batch {size}: KV-cached rollout{per}", f"{fps['cached']:.1f}"])
        rows.append([f"free-running, batch {size}: prefix re-encoded every frame", f"{fps['reencode']:.1f}"])
    rows.append(["single-step: one forward pass", f"{figures['one_pass']['frames_per_second']:.1f}"])
    if "1" in figures["batches"]:
        per_frame = figures["batches"]["1"]["frames_per_second"]["reencode"]
        rows.append(["single-step: each frame generated", f"{per_frame:.1f}"])
    out.table(
        f"{figures['frames']} frames of {figures['traces']} traces (>= {args.min_frames} frames each), CPU; "
        f"frames/s counts every row of a batch",
        ["way", "frames/s"],
        rows,
    )
    targets = [
        Target(
            f"rollout / re-encoding, batch {size}",
            one["cached_ratio"],
            f">= {MIN_CACHED_RATIO:g}x",
            one["cached_ratio"] >= MIN_CACHED_RATIO,
            judged=int(size) == judged,
        )
        for size, one in figures["batches"].items()
    ]
    if "single_step_ratio" in figures:
        targets.append(
            Target(
                "one pass / generating each frame",
                figures["single_step_ratio"],
                f">= {MIN_SINGLE_STEP_RATIO:g}x",
                figures["single_step_ratio"] >= MIN_SINGLE_STEP_RATIO,
            )
        )
    out.table(
        "targets",
        ["target", "measured", "bound", "verdict", "judged"],
        [[t.name, f"{t.measured:.2f}x", t.bound, t.verdict, "yes" if t.judged else "no"] for t in targets],
    )
    if args.json:
        write_json(args.json, {**figures, "targets": [t.figures() for t in targets]}, out, indent=2)
    return exit_status(targets, args.check)


if __name__ == "__main__":
    sys.exit(main())
