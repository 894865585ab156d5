"""The callbacks ``cwm train`` hangs on TRL's trainer: the progress line, the time budget,
the stop on a signal, evaluations by training time, and the run's files in every checkpoint."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


# what the progress line shows of a log, and as what
_SHOWN = {
    "loss": "loss",
    "learning_rate": "lr",
    "eval_loss": "eval loss",
    "eval_next_frame_exact": "next-frame exact %",
    "eval_next_frame_kind_action": "kind+action %",
    "eval_next_frame_kind_state": "kind+state %",
}


class Progress(_callback_base()):  # type: ignore[misc]
    """One line per log: step, loss, tokens/s (not padding), ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.first_step = 0
        self.first_tokens = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self.first_step = state.global_step
        self.first_tokens = state.num_input_tokens_seen

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not self.enabled or not state.is_world_process_zero or not logs:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        done = state.global_step - self.first_step
        rate = (state.num_input_tokens_seen - self.first_tokens) / elapsed
        left = (state.max_steps - state.global_step) * elapsed / done if done else math.nan
        parts = [f"step {state.global_step}/{state.max_steps}"]
        parts += [f"{_SHOWN[k]} {logs[k]:.4g}" for k in _SHOWN if isinstance(logs.get(k), (int, float))]
        parts.append(f"{rate:,.0f} tokens/s")
        if not math.isnan(left):
            parts.append(f"ETA {int(left) // 60}m{int(left) % 60:02d}s")
        print("  ".join(parts), file=sys.stderr, flush=True)


class Budget(_callback_base()):  # type: ignore[misc]
    """Stops (and saves) the run when its time budget is spent."""

    def __init__(self, minutes: float | None, spent: float = 0.0) -> None:
        """``spent``: seconds the run spent before this process (a resumed run's, from its
        checkpoint), so that a run pre-empted and resumed stops where it would have."""
        self.seconds = None if minutes is None else minutes * 60
        self.before = spent
        self.started = time.monotonic()
        self.stopped = False

    @property
    def spent(self) -> float:
        return self.before + time.monotonic() - self.started

    @property
    def exhausted(self) -> bool:
        """Spent before this process began (a resumed run that has nothing left to train)."""
        return self.seconds is not None and self.before >= self.seconds

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # each process has its own clock: they agree, or one would stop a step before the others
        spent = self.seconds is not None and self.spent >= self.seconds
        if _on_any_rank(spent, args):
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True


class Interrupt(_callback_base()):  # type: ignore[misc]
    """Ctrl-C or SIGTERM (a scheduler pre-empting the job) stops the run at the end of the
    step and saves a checkpoint (no evaluation first), so an interrupted run loses nothing and
    ``--resume`` goes on from there. The same signal again within ``ECHO_SECONDS`` is taken
    as the same one (``accelerate launch``'s agent forwards to its workers the Ctrl-C the
    terminal already sent them); after that, a second signal acts at once, as it would
    have without this."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    ECHO_SECONDS = 2.0

    def __init__(self) -> None:
        self.signum: int | None = None
        self.stopped_at: int | None = None  # the step it stopped the run at
        self._when = 0.0
        self._previous: dict[int, Any] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if threading.current_thread() is threading.main_thread():  # only there can Python handle signals
            self._previous = {sig: signal.signal(sig, self._caught) for sig in self.SIGNALS}

    def _caught(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum, self._when = signum, time.monotonic()
            name = signal.Signals(signum).name
            print(f"\n{name}: saving a checkpoint at the end of this step (again to stop at once)", file=sys.stderr)
        elif not self._echo(signum):
            signal.signal(signum, self._previous.pop(signum))
            signal.raise_signal(signum)  # as it would have been handled without this

    def _echo(self, signum: int) -> bool:
        return signum == self.signum and time.monotonic() - self._when <= self.ECHO_SECONDS

    def restore(self) -> None:
        """The handlers as they were; but an echo of the signal caught may still be on its way
        (the run can end before it comes): that handler stays, ignores it until its time is up,
        and then puts the one before it back itself."""
        for sig in [sig for sig in self._previous if not self._echo(sig)]:
            signal.signal(sig, self._previous.pop(sig))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if _on_any_rank(self.signum is not None, args):
            self.signum = self.signum or signal.SIGTERM  # another process of the run was signalled
            self.stopped_at = state.global_step
            control.should_training_stop = True
            control.should_save = True
            control.should_evaluate = False  # the checkpoint first: a grace period may be short


def _on_any_rank(flag: bool, args: Any) -> bool:
    """``flag`` on any process of a distributed run (all of them get the same answer, so they
    stop at the same step); ``flag`` itself in a run of one process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    import torch

    tensor = torch.tensor([int(flag)], device=args.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


class EvalClock(_callback_base()):  # type: ignore[misc]
    """Evaluates every ``minutes`` of training time (the figures at 10, 20, 30... minutes).

    The time spent evaluating does not count: on a CPU one evaluation can take
    longer than the interval, which would otherwise start the next at once.
    """

    def __init__(self, minutes: float | None, training: float = 0.0) -> None:
        """``training``: seconds of training before this process (a resumed run's)."""
        self.seconds = None if minutes is None else minutes * 60
        self.training = training  # seconds of training so far, evaluations left out
        self.last = time.monotonic()
        self.done = 0 if self.seconds is None else int(training // self.seconds)  # evaluations due so far

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        self.training += now - self.last
        self.last = now
        if self.seconds is None:
            return
        due = int(self.training // self.seconds)
        if due > self.done:
            self.done = due
            control.should_evaluate = True
            state.log_history.append({"step": state.global_step, "train_minutes": round(self.training / 60, 2)})

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last = time.monotonic()  # the evaluation's own time is not training time

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # the next-frame figures are logged once computed, after the loss's on_evaluate
        self.last = time.monotonic()


class RunFiles(_callback_base()):  # type: ignore[misc]
    """Every checkpoint also holds the tokenizer, the recipe and the dataset's fingerprint, and
    the run's clocks (``CLOCK_KEY``: what :class:`Budget` and :class:`EvalClock` had counted)."""

    CLOCK_KEY = "clock"

    def __init__(
        self, run_info: dict[str, Any], tokenizer: Any, file_name: str, budget: Budget, evals: EvalClock
    ) -> None:
        self.run_info = run_info
        self.tokenizer = tokenizer
        self.file_name = file_name
        self.budget = budget
        self.evals = evals

    @classmethod
    def clock(cls, checkpoint: str | None, file_name: str) -> dict[str, float]:
        """The clocks saved in ``checkpoint`` (none: a fresh run, or one saved before they were)."""
        if checkpoint is None:
            return {}
        try:
            saved = json.loads((Path(checkpoint) / file_name).read_text()).get(cls.CLOCK_KEY)
        except (OSError, ValueError, AttributeError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            self.tokenizer.save_pretrained(str(checkpoint))
            clock = {"budget_seconds": self.budget.spent, "train_seconds": self.evals.training}
            write_json(checkpoint / self.file_name, {**self.run_info, self.CLOCK_KEY: clock})
