"""``openai``: any OpenAI-compatible completions endpoint (vLLM, llama.cpp's server, SGLang).

Through the official ``openai`` client: its retries (with exponential backoff
on rate limits, server errors, timeouts and dropped connections) and its
timeouts. The prompt is the CWM text (special tokens written as text, which
these servers read as the tokens); the server is asked for ``max_tokens`` and
the completion is cut where the entry scope is left, after ``max_frames``
frames, or at the end-of-text token. Raw completions are cached on disk, one
file per (endpoint, model, prompt, sampling settings), so a rerun asks the
server nothing it has already answered. ``workers`` requests run at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tracer import Trace
from tracer.cwm_render import render_frame, shown_locals
from tracer.cwm_tokens import FRAME_SEP, KIND_TOKENS

from .base import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_TOKENS,
    Prediction,
    PredictorError,
    SingleStep,
    Task,
    Unfit,
    guess_from_text,
    output_prompt,
)

API_KEY_ENV = "CWM_OPENAI_API_KEY"  # else OPENAI_API_KEY; servers on loopback usually want none
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cwm" / "completions"
_TOKEN_KIND = {token: kind for kind, token in KIND_TOKENS.items()}
# how the servers say that a prompt is longer than the model's context (HTTP 400): vLLM and OpenAI
# "maximum context length is ...", llama.cpp "exceeds the available context size", SGLang "context length"
_TOO_LONG = re.compile(r"context (length|size|window)", re.IGNORECASE)


MAX_REFUSED_FIRST = 3  # refusals before any answer: the settings, not the programs, are too long


class _TooLong(PredictorError):
    """The server refused one prompt as longer than its model's context."""


def cut_at_scope_exit(text: str, max_frames: int, frames_before: int = 1) -> tuple[str, str]:
    """``text`` up to the frame that leaves the entry scope (or ``max_frames`` frames in all);
    and why it stopped there (end, max_frames, or max_tokens when neither came)."""
    depth = 0
    frames = frames_before
    pos = 0
    while True:
        end = text.find(FRAME_SEP, pos)
        if end < 0:
            return text, "max_tokens"
        frame = text[pos:end].lstrip()
        kind = next((k for t, k in _TOKEN_KIND.items() if frame.startswith(t)), None)
        pos = end + len(FRAME_SEP)
        frames += 1
        if kind == "call":
            depth += 1
        elif kind == "return":
            depth -= 1
        if depth < 0:
            return text[:pos], "end"
        if frames >= max_frames:
            return text[:pos], "max_frames"


def check_base_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host (and a port that is a number), else a
    :class:`PredictorError` that says what one looks like."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError as exc:
        raise PredictorError(f"{url!r} is not a URL ({exc}; expected http://HOST:PORT/v1)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PredictorError(f"{url!r} is not a URL (expected http://HOST:PORT/v1)")
    return url


class OpenAIPredictor:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        workers: int = 4,
        retries: int = 4,
        timeout: float = 120.0,
        cache_dir: str | Path | None = DEFAULT_CACHE,
        eos: str = "<|endoftext|>",
    ) -> None:
        try:
            import openai
        except ImportError:
            raise PredictorError("the openai predictor needs the openai package: pip install 'cwm[predict]'") from None
        self.base_url, self.model = check_base_url(base_url).rstrip("/"), model
        self.sampling = {"temperature": temperature, "top_p": top_p, "seed": seed, "max_tokens": max_tokens}
        self.workers = max(1, workers)
        self.eos = eos
        self.cache = Path(cache_dir) if cache_dir is not None else None
        self._answered = self._refused = 0  # completions had (or cached), prompts refused as too long
        key = os.environ.get(API_KEY_ENV) or os.environ.get("OPENAI_API_KEY") or "none"
        self._openai = openai
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=retries, timeout=timeout)

    def unfit(self, task: Task) -> str | None:
        return None  # the server's context length is the server's: it says so when a prompt is too long

    # -- the raw completions, cached --------------------------------------------------
    def _key(self, prompt: str, stop: list[str] | None) -> str:
        what = json.dumps([self.base_url, self.model, prompt, self.sampling, stop], sort_keys=True)
        return hashlib.sha256(what.encode()).hexdigest()

    def complete(self, prompt: str, stop: list[str] | None = None) -> str:
        """The server's completion of ``prompt`` (from the cache when it has it)."""
        key = self._key(prompt, stop)
        path = self.cache / key[:2] / f"{key}.json" if self.cache is not None else None
        if path is not None and path.is_file():
            try:
                return str(json.loads(path.read_text(encoding="utf-8"))["text"])
            except (OSError, ValueError, KeyError):
                pass  # a damaged entry: ask again
        openai = self._openai
        try:
            answer = self.client.completions.create(model=self.model, prompt=prompt, stop=stop, **self.sampling)
        except openai.APIConnectionError as exc:  # APITimeoutError included
            raise PredictorError(f"{self.base_url}: no answer after the retries ({_short(exc)})") from None
        except openai.APIStatusError as exc:
            if exc.status_code == 400 and _TOO_LONG.search(str(exc)):
                raise _TooLong(_short(exc)) from None
            if exc.status_code in (404, 405, 501):  # no such route or method: the URL or the model is wrong
                raise PredictorError(
                    f"{self.base_url}: the server answered {exc.status_code}; is {self.base_url!r} the API's "
                    f"root (it usually ends in /v1) and {self.model!r} its model?"
                ) from None
            raise PredictorError(
                f"{self.base_url}: the server answered {exc.status_code} after the retries ({_short(exc)})"
            ) from None
        except ValueError as exc:  # a body that is not JSON (cut short, say)
            raise PredictorError(f"{self.base_url}: the answer is not a completion ({_short(exc)})") from None
        text = _completion_text(answer)
        if text is None:  # HTML, or JSON of another shape: nothing to cache
            raise PredictorError(
                f"{self.base_url}: the answer is not a completion (no choices[0].text in {_short_answer(answer)})"
            )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # threads ask at once
            tmp.write_text(json.dumps({"prompt": prompt, "text": text}), encoding="utf-8")
            tmp.replace(path)  # whole or absent: an interrupted write leaves no half entry
        return text

    def _map(self, prompts: list[tuple[str, list[str] | None]], owners: Sequence[int] | None = None) -> list[str]:
        """Each prompt's completion. Prompts the server refused as too long make an :class:`Unfit`
        of their tasks (``owners[i]``: the task prompt ``i`` asks for; the prompt's own place if
        None); refused before anything was ever answered, they make a :class:`PredictorError`
        instead: then ``max_tokens`` or the server's context is what is wrong, not the programs."""

        def one(prompt: tuple[str, list[str] | None]) -> str | _TooLong:
            try:
                return self.complete(*prompt)
            except _TooLong as exc:  # the others are still asked: their answers are cached for the rerun
                return exc

        with ThreadPoolExecutor(self.workers) as pool:
            texts = list(pool.map(one, prompts))
        refused: dict[int, str] = {}
        for i, text in enumerate(texts):
            if isinstance(text, _TooLong):
                refused.setdefault(owners[i] if owners is not None else i, str(text))
            else:
                self._answered += 1
        if refused:
            self._refused += len(refused)
            if not self._answered and self._refused >= MAX_REFUSED_FIRST:
                raise PredictorError(
                    f"{self.base_url}: the server refused the first {self._refused} programs as longer than "
                    f"the model's context ({next(iter(refused.values()))}); a request asks for max_tokens "
                    f"{self.sampling['max_tokens']} beyond its prompt: lower it (--max-new-tokens) or serve a "
                    "longer context"
                )
            raise Unfit(refused)
        return [str(text) for text in texts]

    # -- the predictor ----------------------------------------------------------------
    def free(self, tasks: Sequence[Task], *, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Prediction]:
        texts = self._map([(t.prompt(), None) for t in tasks])
        out = []
        for task, text in zip(tasks, texts, strict=True):
            stopped = "max_tokens"
            if self.eos and self.eos in text:
                text, stopped = text[: text.index(self.eos)], "eos"
            kept, why = cut_at_scope_exit(text, max_frames)
            out.append(Prediction.from_text(task, kept, why if why != "max_tokens" else stopped))
        return out

    def output(self, tasks: Sequence[Task]) -> list[str]:
        """Each return value at once: the prompt opens a return frame, the server ends it."""
        return [text + FRAME_SEP for text in self._map([(output_prompt(t), [FRAME_SEP]) for t in tasks])]

    def single_step(self, traces: Sequence[Trace]) -> list[SingleStep]:
        """Each next frame asked for separately (one request per frame, stopped at its end)."""
        asks: list[tuple[str, list[str] | None]] = []
        where: list[tuple[int, int, str]] = []
        for t, trace in enumerate(traces):
            frames = [render_frame(e, s) for e, s in shown_locals(trace.events)]
            prefix = Task.of(trace).prompt()
            for i in range(1, len(frames)):
                asks.append((prefix, [FRAME_SEP]))
                where.append((t, i, frames[i]))
                prefix += frames[i]
        texts = self._map(asks, owners=[t for t, _, _ in where])
        out = [SingleStep(Task.of(trace)) for trace in traces]
        for (t, i, real), text in zip(where, texts, strict=True):
            out[t].steps.append(guess_from_text(i, text.lstrip() + FRAME_SEP, real))
        return out


def _completion_text(answer: object) -> str | None:
    """The text of a completions answer's first choice; None when the answer has none (an empty
    ``choices`` list, a choice without text, or a body that is not a completion at all)."""
    choices = getattr(answer, "choices", None)
    if not isinstance(choices, list) or not choices:
        return None
    text = getattr(choices[0], "text", None)
    return text if isinstance(text, str) else None


def _short_answer(answer: object) -> str:
    text = " ".join(str(answer).split())
    return repr(text[:120] + ("..." if len(text) > 120 else ""))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


__all__ = ["API_KEY_ENV", "OpenAIPredictor", "check_base_url", "cut_at_scope_exit"]
