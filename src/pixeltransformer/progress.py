"""Training progress, counted in optimiser steps over the whole run, for a terminal and for a log file.

Lightning's default bars count batches per epoch: a step-limited run shows "Epoch 0/-2", a resumed one "400/349"
(the batch index of the interrupted epoch against the steps left), and a rich bar writes nothing when stdout is a
file. :func:`step_progress_bar` picks :class:`StepBar` (a live rich bar, step / total steps of the run) on a
terminal and :class:`LogLines` (plain lines) otherwise; both print one line per validation with its metrics.
The CLI puts it in place of Lightning's default bar (:func:`replace_default_bar`); a progress bar of another
class in trainer.callbacks is kept, and ``trainer.enable_progress_bar=false`` still turns progress off, the
lines of the loops run under the trainer too (:func:`shows_progress`: pictures, sampling, an evaluation's levels,
the first training of the images domain's classifier and VAE).
"""

from __future__ import annotations

import math
import re
import sys
import time
from typing import Any, TextIO

from lightning.pytorch.callbacks import RichProgressBar, Timer, TQDMProgressBar
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

from .errors import counted
from .loopbar import format_duration
from .validation_schedule import schedule


def total_steps(trainer) -> int | float:
    """Optimiser steps of the whole run: what max_steps and max_epochs allow, whichever stops it first (inf when
    neither limits it)."""
    try:
        return trainer.estimated_stepping_batches
    except Exception:  # no train dataloader length (an iterable dataset): max_steps, or unknown
        return trainer.max_steps if trainer.max_steps is not None and trainer.max_steps > 0 else math.inf


def format_value(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _metric_order(name: str) -> tuple[str, float]:
    """val/nll before val/nll@4 before val/nll@16 (numeric, not string order)."""
    base, _, level = name.partition("@")
    return (base, float(level) if re.fullmatch(r"\d+(\.\d*)?", level) else (-1.0 if not level else math.inf))


def validation_line(trainer) -> str:
    """'[val] step 1000/8000  val/nll 0.1234  val/nll@4 0.567 ...' from the metrics of the validation just run."""
    metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    items = "  ".join(f"{k} {format_value(metrics[k])}" for k in sorted(metrics, key=_metric_order))
    total = total_steps(trainer)
    of = f"/{total}" if math.isfinite(total) else ""
    return f"[val] step {trainer.global_step}{of}  {items}".rstrip()


def time_limit(trainer) -> Timer | None:
    """The Timer that trainer.max_time adds to a trainer's callbacks (None without a time limit)."""
    return next((c for c in getattr(trainer, "callbacks", None) or [] if isinstance(c, Timer)), None)


def time_limit_left(trainer) -> float | None:
    """Seconds of training left before trainer.max_time stops the fit (None without a time limit)."""
    timer = time_limit(trainer)
    return timer.time_remaining() if timer is not None else None


def validations_left(trainer, total: int | float) -> int:
    """Validations still to come before step ``total``, as :mod:`~pixeltransformer.validation_schedule` counts them
    (0 where validation is off, or runs at an interval of time or of an epoch of unknown length)."""
    known = schedule(trainer)
    if known is None or not trainer.enable_validation:
        return 0
    return known.validations(known.batches(trainer.global_step), known.batches(int(total)))


class StepBar(RichProgressBar):
    """The live rich bar with one training task over the whole run: global step / total steps, so a resumed run
    starts part-way instead of counting the interrupted epoch's batches against the steps left."""

    TRAIN_DESCRIPTION = "train"

    @property
    def total_train_batches(self) -> int | float:
        return total_steps(self.trainer)

    def _get_train_description(self, current_epoch: int) -> str:
        return self.TRAIN_DESCRIPTION

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        # one task for the whole run, created once and never reset at an epoch boundary
        if self.is_disabled:
            return
        if self.progress is not None and self.train_progress_bar_id is None:
            self.train_progress_bar_id = self._add_task(self.total_train_batches, self.TRAIN_DESCRIPTION)
            self._update(self.train_progress_bar_id, trainer.global_step)
        self.refresh()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.is_disabled:
            return
        if self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if self.is_enabled and trainer.state.fn == "fit" and not trainer.sanity_checking and self._console:
            self._console.print(validation_line(trainer), markup=False, highlight=False)


class LogLines(ProgressBar):
    """Plain progress lines for a log file (stdout not a terminal).

    Training prints ``[train] step 400/8000 (5.0%)  train/loss 0.1234  12.3 it/s  elapsed 0:00:32  ETA 0:10:21``
    every ``every_seconds`` of wall time or at every multiple of ``every_n_steps``, whichever comes first, and at
    the last step; every validation prints its metrics (``[val] step ...``); a validation, test or predict prints
    its batch count every ``every_seconds`` while it runs, with the batches left at the mean time of those done
    (``[val] batch 12/50  elapsed 0:00:31  ETA 0:01:38``). it/s is measured over the steps since the previous line,
    leaving out the time spent in validation; the ETA adds the validations still to come at the mean duration of
    those run so far, or is the end of trainer.max_time where that comes first (``ETA 0:04:30 (max_time)``).

    Args:
        every_seconds: the longest wall time between two training lines (a step longer than that prints once);
            default EVERY_SECONDS (30).
        every_n_steps: the most steps between two training lines; default EVERY_N_STEPS (500).
        stream: where lines go (default: sys.stdout at the time of printing).
    """

    EVERY_SECONDS = 30.0
    EVERY_N_STEPS = 500

    def __init__(self, every_seconds: float | None = None, every_n_steps: int | None = None,
                 stream: TextIO | None = None):
        super().__init__()
        every_seconds = self.EVERY_SECONDS if every_seconds is None else every_seconds
        every_n_steps = self.EVERY_N_STEPS if every_n_steps is None else every_n_steps
        if every_seconds <= 0 or every_n_steps < 1:
            raise ValueError(f"need every_seconds > 0 and every_n_steps >= 1, got {every_seconds}, {every_n_steps}")
        self.every_seconds, self.every_n_steps, self.stream = every_seconds, every_n_steps, stream
        self._enabled = True
        self._total: int | float = math.inf
        self._start = self._last_time = 0.0
        self._last_step = 0
        self._paused = 0.0  # seconds of validation since the last line
        self._val_start: float | None = None
        self._val_seconds, self._val_count = 0.0, 0  # validations of this process, for the ETA
        self._eval_start = self._eval_last = 0.0
        self._eval_batches = 0

    # ---- ProgressBar interface -------------------------------------------------------------------------
    @property
    def is_enabled(self) -> bool:
        return self._enabled

    @property
    def is_disabled(self) -> bool:
        return not self._enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self.is_enabled:
            print(*args, file=self.stream or sys.stdout, flush=True, **kwargs)

    # ---- training --------------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        now = time.monotonic()
        self._total = total_steps(trainer)
        self._start = self._last_time = now
        self._last_step = trainer.global_step
        self._paused = 0.0
        start = "resume at" if trainer.global_step > 0 else "start at"
        self.print(f"[train] {start} step {trainer.global_step}{self._of()}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.is_disabled:
            return
        now, step = time.monotonic(), trainer.global_step
        n = self.every_n_steps
        due = step // n > self._last_step // n or now - self._last_time >= self.every_seconds or step >= self._total
        if due and step > self._last_step:
            self.print(self.train_line(trainer, now))
            self._last_time, self._last_step, self._paused = now, step, 0.0

    def train_line(self, trainer, now: float) -> str:
        step = trainer.global_step
        busy = max(now - self._last_time - self._paused, 1e-9)
        rate = (step - self._last_step) / busy  # steps per second of training
        parts = [f"[train] step {step}{self._of()}"]
        if math.isfinite(self._total):
            parts[0] += f" ({100 * step / self._total:.1f}%)"
        metrics = self.get_metrics(trainer, trainer.lightning_module)
        metrics.pop("v_num", None)
        parts += [f"{k} {format_value(v)}" for k, v in metrics.items() if not k.startswith("val/")]
        parts.append(f"{rate:.3g} it/s")
        parts.append(f"elapsed {format_duration(now - self._start)}")
        eta = (self._total - step) / rate + validations_left(trainer, self._total) * self._val_mean() \
            if math.isfinite(self._total) else math.inf
        left = time_limit_left(trainer)  # trainer.max_time stops the fit first: its end is the ETA
        if left is not None and left < eta:
            parts.append(f"ETA {format_duration(max(left, 0.0))} (max_time)")
        elif math.isfinite(eta):
            parts.append(f"ETA {format_duration(eta)}")
        return "  ".join(parts)

    def _val_mean(self) -> float:
        return self._val_seconds / self._val_count if self._val_count else 0.0

    def _of(self) -> str:
        return f"/{self._total}" if math.isfinite(self._total) else ""

    # ---- validation ------------------------------------------------------------------------------------
    def on_validation_start(self, trainer, pl_module) -> None:
        self._eval_begin()
        if trainer.state.fn == "fit":
            self._val_start = self._eval_start

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.state.fn != "fit":
            self._eval_step("validate", trainer.num_val_batches)
        elif not trainer.sanity_checking:  # a fit's long validation shows its batches too, not minutes of silence
            self._eval_step("val", trainer.num_val_batches)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.state.fn != "fit":
            self._eval_end("validate", trainer.world_size)
            return
        if self._val_start is not None:
            seconds = time.monotonic() - self._val_start
            self._val_start = None
            self._paused += seconds
            if not trainer.sanity_checking:
                self._val_seconds += seconds
                self._val_count += 1
        if not trainer.sanity_checking:
            self.print(validation_line(trainer))

    # ---- test / predict --------------------------------------------------------------------------------
    def on_test_start(self, trainer, pl_module) -> None:
        self._eval_begin()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_step("test", trainer.num_test_batches)

    def on_test_end(self, trainer, pl_module) -> None:
        self._eval_end("test", trainer.world_size)

    def on_predict_start(self, trainer, pl_module) -> None:
        self._eval_begin()

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._eval_step("predict", trainer.num_predict_batches)

    def on_predict_end(self, trainer, pl_module) -> None:
        self._eval_end("predict")

    def _eval_begin(self) -> None:
        self._eval_start = self._eval_last = time.monotonic()
        self._eval_batches = 0

    def _eval_step(self, stage: str, totals) -> None:
        self._eval_batches += 1
        now = time.monotonic()
        if now - self._eval_last >= self.every_seconds:
            total = sum(totals) if isinstance(totals, list) else totals
            known = bool(total) and math.isfinite(total)
            elapsed = now - self._eval_start
            # the batches left at the mean duration of those done: a long evaluation's log says when it ends
            eta = f"  ETA {format_duration(elapsed / self._eval_batches * max(total - self._eval_batches, 0))}" \
                if known else ""
            of = f"/{total}" if known else ""
            self.print(f"[{stage}] batch {self._eval_batches}{of}  elapsed {format_duration(elapsed)}{eta}")
            self._eval_last = now

    def _eval_end(self, stage: str, processes: int = 1) -> None:
        batches = counted(self._eval_batches, "batch")  # a prediction's one batch
        if processes > 1:  # the distributed sampler gives every process as many batches: this one's count
            batches += f" (each of {processes} processes)"
        self.print(f"[{stage}] {batches} in {format_duration(time.monotonic() - self._eval_start)}")


def shows_progress(trainer) -> bool:
    """Whether the loops run under ``trainer`` (pictures, sampling, an evaluation's |S| levels) print progress: not
    with trainer.enable_progress_bar=false, which turns progress off, theirs too. Without a trainer (a module used
    from Python), they do."""
    return trainer is None or getattr(trainer, "progress_bar_callback", None) is not None


def step_progress_bar(stream: TextIO | None = None) -> ProgressBar:
    """A live bar when stdout is a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    return StepBar() if hasattr(out, "isatty") and out.isatty() else LogLines(stream=stream)


def replace_default_bar(trainer):
    """Put :func:`step_progress_bar` in place of the bar Lightning adds by default (returns the trainer)."""
    for i, callback in enumerate(trainer.callbacks):
        if type(callback) in (RichProgressBar, TQDMProgressBar):
            trainer.callbacks[i] = step_progress_bar()
            break
    return trainer
