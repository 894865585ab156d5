"""``hf``: a local Hugging Face causal LM (a hub id or a folder), with an optional LoRA adapter.

A run of ``cwm train`` gives either a merged model folder (``final/`` of a full
fine-tune, or ``cwm train merge``) or an adapter folder; both load here.

Free-running, one ``generate`` call per batch of programs: the KV cache holds
the whole rollout (the prompt is encoded once, never again; a
:class:`~.kv_cache.GrowingCache`, which appends each token in place), and each row
stops when its entry scope is left (a return or exception frame at the
entry's depth), at ``max_frames`` frames, at the end-of-text token, or at
``max_new_tokens``. One program decoded greedily (``cwm predict`` on a file)
uses prompt lookup decoding: a trace repeats its own text (the next source
line, locals that did not change), so up to ``lookup_tokens`` tokens are
drafted from the n-grams of the text so far and the model checks them in one
forward pass, keeping those it would have written itself: the same tokens, in
about half the time on this CPU (a decoding step at batch 1 costs its
operations' launches, whatever it holds). Single-step, each trace is one forward pass (windows when
it is longer than the model's context), scored with :mod:`training.metrics`,
the code the training run's evaluation uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracer import Trace
from tracer.cwm_tokens import ACTION_SEP, KIND_TOKENS, RETURN_SEP
from training.hub import folder_problem, hub_kwargs, is_local, unreachable_note

from .base import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LOOKUP_TOKENS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_TOKENS,
    Prediction,
    PredictorError,
    SingleStep,
    StepGuess,
    Task,
)

try:
    from safetensors import SafetensorError as _SafetensorError
except ImportError:  # an older safetensors: its errors are among the others
    _SafetensorError = OSError  # type: ignore[misc,assignment]

MIN_ROOM = 8  # tokens a prompt must leave free in the model's context: room for one small frame


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        try:
            kind = torch.device(device).type
        except (RuntimeError, ValueError):
            raise PredictorError(f"device {device!r}: not a device (auto, cpu, cuda, cuda:N or mps)") from None
        if kind == "cuda" and not torch.cuda.is_available():
            raise PredictorError(
                f"device {device!r}: this machine has no CUDA device (or torch was built without CUDA)"
            )
        if kind == "mps" and not (
            getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        ):
            raise PredictorError(f"device {device!r}: this machine has no MPS device")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, dtype: str = "auto") -> Any:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def _adapter_base(adapter: str) -> str | None:
    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise PredictorError(f"adapter {adapter!r}: no adapter_config.json there (is it a LoRA adapter folder?)")
    try:
        return json.loads(config.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise PredictorError(f"adapter {adapter!r}: unreadable adapter_config.json ({exc})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HFPredictor:
    """``model``: a hub id or a local folder; ``adapter``: a LoRA adapter folder (peft)."""

    name = "hf"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        device: str = "auto",
        dtype: str = "auto",
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_new_tokens: int = DEFAULT_MAX_TOKENS,
        constrain: bool = False,
        lookup_tokens: int = DEFAULT_LOOKUP_TOKENS,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from training.examples import Encoder

        if (
            adapter is None
            and (Path(model) / "adapter_config.json").is_file()
            and not (Path(model) / "config.json").is_file()
        ):
            adapter, model = model, _adapter_base(model) or ""  # a LoRA run's folder: its base, then it
        problem = folder_problem(model, "model")
        if problem:
            raise PredictorError(f"model {model!r}: {problem}")
        self.device = pick_device(device)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.constrain = constrain
        self.lookup_tokens = lookup_tokens  # 0: no prompt lookup
        self._token_texts: list[str] | None = None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                adapter if adapter and _has_tokenizer(adapter) else model, **hub_kwargs(model)
            )
            loaded = AutoModelForCausalLM.from_pretrained(
                model, dtype=pick_dtype(self.device, dtype), **hub_kwargs(model)
            )
        except (OSError, ValueError, RuntimeError, _SafetensorError) as exc:  # missing, or damaged, files
            hint = ""
            if (Path(model).expanduser() / "final").is_dir():
                hint = f"; a `cwm train` run? its model is {str(Path(model) / 'final')!r}"
            hint = hint or unreachable_note(model)
            raise PredictorError(f"model {model!r}: cannot load it ({_first_line(exc)}){hint}") from None
        if adapter is not None:
            base = _adapter_base(adapter)
            from peft import PeftModel

            if len(self.tokenizer) != loaded.get_input_embeddings().weight.shape[0]:
                loaded.resize_token_embeddings(len(self.tokenizer))
            try:
                loaded = PeftModel.from_pretrained(loaded, adapter)
            except (RuntimeError, ValueError, KeyError) as exc:
                raise PredictorError(
                    f"adapter {adapter!r} was made for the base model {base!r}, not {model!r} ({_first_line(exc)})"
                ) from None
        self.model = loaded.to(self.device).eval()
        try:
            self.encoder = Encoder(self.tokenizer)
        except ValueError as exc:
            raise PredictorError(f"model {model!r}: {exc} (is it a model trained by `cwm train`?)") from None
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.encoder.eos
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 4096)
        self._torch = torch

    # -- free-running -----------------------------------------------------------------
    def prompt_ids(self, task: Task) -> list[int]:
        frame, _ = self.encoder.frames([task.first])[0]
        return [*self.encoder.context(task.as_trace()), *frame]

    def unfit(self, task: Task) -> str | None:
        width = len(self.prompt_ids(task)) + 2  # output mode opens a return frame: two tokens more
        if self.context_length - width < MIN_ROOM:
            return (
                f"the program is too long for the model: its prompt is {width} tokens, "
                f"the model reads {self.context_length}"
            )
        return None

    def free(self, tasks: Sequence[Task], *, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Prediction]:
        out: list[Prediction] = []
        for first in range(0, len(tasks), self.batch_size):
            out += self._generate(list(tasks[first : first + self.batch_size]), max_frames)
        return out

    def output(self, tasks: Sequence[Task]) -> list[str]:
        """Each return value at once: the prompt opens a return frame, the model ends it."""
        opening = self.tokenizer.convert_tokens_to_ids([RETURN_SEP, ACTION_SEP])
        out: list[str] = []
        for first in range(0, len(tasks), self.batch_size):
            batch = list(tasks[first : first + self.batch_size])
            out += [p.text for p in self._generate(batch, 2, opening=opening)]
        return out

    def _generate(self, tasks: list[Task], max_frames: int, opening: list[int] | None = None) -> list[Prediction]:
        """Generate from each task's prompt (then ``opening``: a return frame begun, output mode)."""
        torch = self._torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        from .kv_cache import GrowingCache

        prompts = [self.prompt_ids(t) + (opening or []) for t in tasks]
        width = max(len(p) for p in prompts)
        room = self.context_length - width
        if room < MIN_ROOM:
            raise PredictorError(
                f"the program is too long for the model: its prompt is {width} tokens, "
                f"the model reads {self.context_length}"
            )
        ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: every row's last token is its prompt's
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        scope = _ScopeWatch(self.encoder, len(prompts), max_frames, "return" if opening else None)
        seen = [width]

        class Stop(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                new = input_ids[:, seen[0] :].tolist()  # one token, or (prompt lookup) several
                seen[0] = input_ids.shape[1]
                return scope.step(new, input_ids.device)

        processors = None
        if self.constrain:
            from transformers import LogitsProcessorList

            from .constrain import FrameGrammar, processor, token_texts

            if self._token_texts is None:
                self._token_texts = token_texts(self.tokenizer)
            grammar = FrameGrammar(
                self.encoder,
                self._token_texts,
                [t.program.source.split("\n") for t in tasks],
                [set(t.first.locals or {}) for t in tasks],
            )
            processors = LogitsProcessorList([processor(grammar)])
        torch.manual_seed(self.seed)
        sample = self.temperature > 0
        # one row, greedy and unconstrained (the grammar reads one token at a time): prompt lookup
        lookup = self.lookup_tokens if len(prompts) == 1 and not sample and processors is None else 0
        with torch.no_grad():
            generated = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=min(self.max_new_tokens, room),
                do_sample=sample,
                temperature=self.temperature if sample else None,
                top_p=self.top_p if sample else None,
                top_k=None,
                stopping_criteria=StoppingCriteriaList([Stop()]),
                logits_processor=processors,
                pad_token_id=self.pad,
                eos_token_id=self.encoder.eos,
                prompt_lookup_num_tokens=lookup or None,
                cache=GrowingCache(self.model.config),  # appends in place: see kv_cache.py
            )
        out = []
        for row, task in enumerate(tasks):
            new = generated[row, width:].tolist()
            if scope.ended[row] is not None:  # drafted tokens past the end are not the model's answer
                new = new[: scope.ended[row]]
            while new and new[-1] == self.pad:  # a row that stopped before the others is padded
                new.pop()
            stopped = scope.reason[row] or "max_tokens"
            if self.encoder.eos in new:
                new = new[: new.index(self.encoder.eos)]
                stopped = scope.reason[row] or "eos"
            text = self.tokenizer.decode(new, skip_special_tokens=False)
            out.append(Prediction.from_text(task, text, stopped))
        return out

    # -- single-step ------------------------------------------------------------------
    def single_step(self, traces: Sequence[Trace]) -> list[SingleStep]:
        from training.examples import ExampleReport, trace_examples
        from training.metrics import argmax_predictions, frame_results

        results = {id(t): SingleStep(Task.of(t)) for t in traces}
        examples, owner = [], {}
        for trace in traces:
            for example in trace_examples(trace, self.encoder, self.context_length, ExampleReport()):
                owner[id(example)] = trace
                examples.append(example)
        for example, predicted in argmax_predictions(self.model, examples, batch_size=self.batch_size, pad_id=self.pad):
            trace = owner[id(example)]
            spans = {span.index: span for span in example.frames}
            for index, exact, kind_action, kind_state in frame_results(example, predicted):
                span = spans[index]
                text = self.tokenizer.decode(predicted[span.start : span.end + 1], skip_special_tokens=False)
                results[id(trace)].steps.append(StepGuess(index, text, exact, kind_action, kind_state))
        for result in results.values():
            result.steps.sort(key=lambda step: step.index)  # the windows come back shortest first
        return [results[id(t)] for t in traces]


def _has_tokenizer(folder: str) -> bool:
    return (Path(folder) / "tokenizer_config.json").is_file()


class _ScopeWatch:
    """Reads each row's new tokens as they come (one at a time, or several a step under prompt
    lookup): counts frames and nesting, and says which rows are done (the entry left, or
    ``max_frames`` frames written) and after how many tokens (``ended``)."""

    def __init__(self, encoder: Any, rows: int, max_frames: int, open_kind: str | None = None) -> None:
        self.kinds = {encoder.kind[k]: k for k in KIND_TOKENS}
        self.frame_sep = encoder.frame_sep
        self.max_frames = max_frames
        self.depth = [0] * rows
        self.frames = [1] * rows  # the call frame is in the prompt
        self.kind: list[str | None] = [open_kind] * rows  # the kind of the frame being written
        self.reason: list[str | None] = [None] * rows
        self.written = [0] * rows
        self.ended: list[int | None] = [None] * rows

    def step(self, tokens: list[list[int]], device: Any) -> Any:
        """``tokens``: each row's tokens since the last step."""
        import torch

        for row, new in enumerate(tokens):
            for token in new:
                if self.reason[row] is not None:
                    break
                self.written[row] += 1
                self._read(row, token)
                if self.reason[row] is not None:
                    self.ended[row] = self.written[row]
        return torch.tensor([r is not None for r in self.reason], dtype=torch.bool, device=device)

    def _read(self, row: int, token: int) -> None:
        if token in self.kinds:
            self.kind[row] = self.kinds[token]
        elif token == self.frame_sep and self.kind[row] is not None:
            kind = self.kind[row]
            self.kind[row] = None
            self.frames[row] += 1
            if kind == "call":
                self.depth[row] += 1
            elif kind == "return":
                self.depth[row] -= 1
            if self.depth[row] < 0:
                self.reason[row] = "end"
            elif self.frames[row] >= self.max_frames:
                self.reason[row] = "max_frames"


__all__ = ["HFPredictor", "is_local", "pick_device", "pick_dtype"]
