"""``cwm predict FILE.py --call EXPR``: what a model (or a baseline) says the program will do.

The work is ``benchmarks``' (predictors, the comparison, the page); this
module reads the command line, runs the program in the sandbox for the call
frame (and, with ``--compare`` or ``--mode single-step``, for the real trace),
and reports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sandbox.job import Job, Limits

from ..cli import (
    EXIT_RAISED,
    EXIT_RETURNED,
    SANDBOXES,
    ProgramRejected,
    UsageError,
    add_timeout_option,
    execute,
    open_out,
    positive_int,
)

if TYPE_CHECKING:
    from benchmarks.compare import Comparison
    from benchmarks.predictors import Prediction

EXIT_INVALID = 1  # the prediction has frames that cannot be read (listed on stderr)
EXIT_PREDICTOR = 5  # the predictor could not run: a model that does not load, a server that does not answer

PREDICT_EPILOG = """\
predictors (--backend):
  hf      a local Hugging Face model: --model PATH_OR_HUB_ID [--adapter PATH]
          (a `cwm train` run's final/ folder, a merged model, or an adapter folder)
  openai  an OpenAI-compatible completions server (vLLM, llama.cpp, SGLang):
          --base-url URL --model NAME; the key, if it needs one, in CWM_OPENAI_API_KEY
  copy    nothing changes: each next frame is the next source line, every local unchanged
  oracle  the real trace, from the sandbox

modes (--mode):
  free         the whole trace from the call frame on (the model sees the program and the
               entry's arguments, computed in the sandbox)
  single-step  each next frame from the true frames before it (teacher-forced)

--compare runs the program for real too and shows both side by side: the first divergence,
the return values, and this run's accuracy. --html OUT.html writes the same as one page.

exit codes:
  0  predicted (and, with --compare, compared)
  1  the prediction has frames that cannot be read ("invalid frame at step k: ..." on stderr),
     or the program failed before its entry was called
  2  bad input (file, --call, options, a model path that does not exist)
  4  no sandbox could be started (see `cwm sandbox check`)
  5  the predictor could not run (a model that does not load, an adapter for another base,
     a server that is down or answers errors after the retries)

examples:
  cwm predict examples/collatz.py --call "collatz(6)" --backend copy --compare
  cwm predict prog.py --call "f([3, 1, 2])" --model runs/tiny-cpu/final --compare --html f.html
  cwm predict prog.py --call "f(2)" --backend openai --base-url http://localhost:8000/v1 --model cwm
"""


def register(commands: argparse._SubParsersAction) -> None:
    from benchmarks.predictors.base import DEFAULT_LOOKUP_TOKENS, DEFAULT_MAX_FRAMES, DEFAULT_MAX_TOKENS

    p = commands.add_parser(
        "predict",
        help="predict a program's execution with a model or a baseline, and compare it with the real one",
        description="Predict the trace of FILE's --call with a code world model (or a baseline), "
        "optionally beside the real trace from the sandbox.",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE.py", help="the Python source file")
    p.add_argument("--call", metavar="EXPR", required=True, help='the entry call, e.g. "f([1, 2])"')
    p.add_argument("--backend", choices=("hf", "openai", "copy", "oracle"), help="the predictor (default: hf)")
    p.add_argument("--model", metavar="PATH_OR_ID", help="hf: a model folder or hub id; openai: the served model")
    p.add_argument("--adapter", metavar="PATH", help="hf: a LoRA adapter folder for --model")
    p.add_argument("--base-url", metavar="URL", help="openai: the server, e.g. http://localhost:8000/v1")
    p.add_argument("--mode", choices=("free", "single-step"), default="free", help="default: free")
    p.add_argument("--compare", action="store_true", help="run the program too and show both side by side")
    p.add_argument("--format", choices=("pretty", "json", "cwm"), default=None, help="default: pretty on a terminal")
    p.add_argument("--html", metavar="OUT.html", help="also write the comparison as one self-contained page")
    p.add_argument("--out", metavar="PATH", help="write the output to PATH instead of standard output")
    p.add_argument("--temperature", type=_non_negative, default=0.0, help="0 (default): greedy")
    p.add_argument("--top-p", type=_probability, default=1.0, help="nucleus sampling (with --temperature)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--max-frames", type=positive_int, default=DEFAULT_MAX_FRAMES, help=f"default: {DEFAULT_MAX_FRAMES}")
    p.add_argument(
        "--max-new-tokens", type=positive_int, default=DEFAULT_MAX_TOKENS, help=f"default: {DEFAULT_MAX_TOKENS}"
    )
    p.add_argument(
        "--constrain",
        action="store_true",
        help="hf: constrained decoding: every frame well formed, every action a line of the program",
    )
    p.add_argument(
        "--lookup-tokens",
        type=int,
        default=None,
        metavar="N",
        help=f"hf, greedy: prompt lookup decoding, drafts of up to N tokens from the trace so far, checked by "
        f"the model in one pass (the same tokens, faster; default: {DEFAULT_LOOKUP_TOKENS}; 0: off)",
    )
    p.add_argument("--device", default="auto", help="hf: cuda, mps, cpu or auto (default)")
    p.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="where the program runs (default: auto)")
    add_timeout_option(p, "limit of the real run")
    p.set_defaults(handler=cmd_predict)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _probability(text: str) -> float:
    value = _non_negative(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _predictor(args: argparse.Namespace) -> Any:
    from benchmarks.predictors import CopyPredictor, OraclePredictor, PredictorError

    backend = args.backend or ("openai" if args.base_url else "hf")
    if args.constrain and backend != "hf":
        raise UsageError("--constrain is for the hf predictor (it steers the model's own decoding)")
    if args.lookup_tokens is not None and (backend != "hf" or args.lookup_tokens < 0):
        raise UsageError("--lookup-tokens is a count of tokens (0 or more) for the hf predictor")
    if backend in ("copy", "oracle"):
        for flag, value in (("--model", args.model), ("--adapter", args.adapter), ("--base-url", args.base_url)):
            if value:
                raise UsageError(f"{flag} is for the hf and openai predictors, not {backend}")
        if backend == "copy":
            return CopyPredictor()
        return OraclePredictor(args.sandbox, Limits(wall_seconds=args.timeout, cpu_seconds=args.timeout))
    if not args.model:
        raise UsageError(f"the {backend} predictor needs --model (see cwm predict --help)")
    if backend == "openai":
        if not args.base_url:
            raise UsageError("the openai predictor needs --base-url, e.g. http://localhost:8000/v1")
        if args.adapter:
            raise UsageError("--adapter is for the hf predictor (a server loads its own adapters)")
        from benchmarks.predictors.served import OpenAIPredictor, check_base_url

        try:
            check_base_url(args.base_url)
        except PredictorError as exc:
            raise UsageError(f"--base-url: {exc}") from None
        return OpenAIPredictor(
            args.base_url,
            args.model,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            max_tokens=args.max_new_tokens,
        )
    if args.base_url:
        raise UsageError("--base-url is for the openai predictor (add --backend openai)")
    from benchmarks.predictors.hf import HFPredictor, pick_device
    from training.hub import folder_problem

    try:
        pick_device(args.device)
    except PredictorError as exc:
        raise UsageError(str(exc)) from None

    problem = folder_problem(args.model, "model")
    if problem:
        raise UsageError(f"--model {args.model}: {problem}")
    if args.adapter and not Path(args.adapter).expanduser().is_dir():
        raise UsageError(f"--adapter {args.adapter}: no such folder")

    return HFPredictor(
        str(Path(args.model).expanduser()) if Path(args.model).expanduser().exists() else args.model,
        str(Path(args.adapter).expanduser()) if args.adapter else None,
        device=args.device,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        constrain=args.constrain,
        **({} if args.lookup_tokens is None else {"lookup_tokens": args.lookup_tokens}),
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from benchmarks.compare import compare_free, compare_single_step
    from benchmarks.predictors import PredictorError, Task

    from .trace import _check_out_file, _text, read_source

    source = read_source(args.file)
    if _text(args.call) != args.call:
        raise UsageError(f"the entry {args.call!r} is not UTF-8 text")
    try:
        compile(args.call, "<call>", "eval")
    except SyntaxError as exc:
        raise UsageError(f"the entry {args.call!r} is not a Python expression: {exc.msg}") from None
    for path in (args.out, args.html):
        if path is not None:
            _check_out_file(path, args.file)
    if args.out is not None and args.html is not None and Path(args.out).resolve() == Path(args.html).resolve():
        raise UsageError(f"--out and --html are the same file ({args.out})")
    if args.mode == "single-step" and args.format == "cwm":
        raise UsageError("--format cwm writes a free-running prediction; use pretty or json with single-step")
    real_needed = args.compare or args.mode == "single-step" or args.html is not None
    try:
        predictor = _predictor(args)
    except PredictorError as exc:
        print(f"cwm predict: error: {exc}", file=sys.stderr)
        return EXIT_PREDICTOR
    # the real run: in full when it is compared with, else only its call frame (the arguments)
    limits = Limits(
        wall_seconds=args.timeout, cpu_seconds=args.timeout, max_events=Limits.max_events if real_needed else 1
    )
    job = Job(source, args.call, id=_text(Path(args.file).stem), limits=limits)
    try:
        real = execute(job, sandbox=args.sandbox)
    except ProgramRejected as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if not real.events or real.events[0].kind != "call":
        detail = real.outcome.value or real.outcome.detail or real.outcome.status
        print(f"cwm predict: the program failed before {args.call} was called: {detail}", file=sys.stderr)
        return EXIT_RAISED
    task = Task.of(real)
    try:
        if args.mode == "free":
            [prediction] = predictor.free([task], max_frames=args.max_frames)
            comparison = compare_free(real, prediction, predictor.name) if real_needed else None
        else:
            [steps] = predictor.single_step([real])
            prediction = None
            comparison = compare_single_step(real, steps, predictor.name)
    except PredictorError as exc:
        print(f"cwm predict: error: {exc}", file=sys.stderr)
        return EXIT_PREDICTOR
    fmt = args.format or ("pretty" if args.out is None and sys.stdout.isatty() else "json")
    _write(fmt, args.out, task, prediction, comparison if args.compare or args.mode == "single-step" else None)
    if args.html is not None and comparison is not None:
        from benchmarks.report_html import write_page

        try:
            write_page(comparison, args.html)
        except OSError as exc:
            raise UsageError(f"cannot write {args.html}: {exc.strerror}") from None
        print(f"cwm predict: wrote {args.html}", file=sys.stderr)
    if prediction is not None and prediction.errors:
        for line in prediction.error_lines()[:10]:
            print(f"cwm predict: {line}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_RETURNED


def _write(fmt: str, out: str | None, task: Any, prediction: Prediction | None, comparison: Comparison | None) -> None:
    """The prediction (and the comparison, when there is one) as ``fmt``, to ``out`` or stdout."""
    with contextlib.ExitStack() as stack:
        stream: TextIO = sys.stdout if out is None else stack.enter_context(open_out(out))
        if fmt == "cwm":
            stream.write(task.prompt() + (prediction.text if prediction is not None else "") + "\n")
        elif fmt == "json":
            data: dict[str, Any] = {}
            if prediction is not None:
                data["prediction"] = {
                    "predictor_output": prediction.text,
                    "events": [e.__dict__ for e in prediction.events],
                    "errors": prediction.error_lines(),
                    "stopped": prediction.stopped,
                }
            if comparison is not None:
                data["comparison"] = comparison.to_dict()
            stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        else:
            from rich.console import Console

            from ..pretty import Console as PipeConsole
            from ..pretty_compare import print_comparison, print_prediction

            console = (
                PipeConsole(highlight=False)
                if out is None
                else Console(file=stream, width=120, no_color=True, highlight=False)
            )
            if comparison is not None:
                print_comparison(comparison, console)
            elif prediction is not None:
                print_prediction(prediction, console)
