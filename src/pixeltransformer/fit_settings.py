"""The trainer settings of a fit that are checked before its run folder is named: its length (max_steps, max_epochs,
max_time, limit_train_batches, min_steps and min_epochs; a resumed run's or a checkpoint's step against max_steps) and
its steps' settings (accumulate_grad_batches, val_check_interval, check_val_every_n_epoch, gradient_clip_val), which
Lightning takes without a word and then misuses. Each is refused in one line, before anything is written.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from .layout import config_shown
from .trainer_limits import limit_reached


def check_resume_length(run: str | Path, step: int | None, max_steps: int | None, new_run: bool = False,
                        epoch: int | None = None, max_epochs: int | None = None) -> None:
    """A resume whose trainer.max_steps is below the step its checkpoint holds stopped at once, trained nothing and
    said only that max_steps was reached, while the run's config.yaml took the smaller value: refused before anything
    is written. At its max_steps (a finished run resumed as it was) it ends before it starts, on the CLI's line that
    nothing was trained (``trainer_limits.nothing_to_train``), and its run folder is left as it was. -1 (or None)
    means no limit; other negative values are check_fit_length's.
    ``new_run``: a new fit from the checkpoint ``run`` (fit --ckpt_path), which counts on from its step too: at it or
    below, it left a new run folder without a checkpoint; so did one whose trainer.max_epochs is at or below the
    checkpoint's epoch count (``epoch``: :func:`epochs_done`, which may count an epoch a fit stopped in as done). A
    checkpoint at both limits is told of max_steps, the one Lightning stops on first."""
    reached = limit_reached(step, max_steps, epoch, max_epochs)  # the decision, which the CLI's lines share
    at = reached.option if reached is not None else None
    if at == "max_steps" and (new_run or step > max_steps):
        what, remedy = ((f"--ckpt_path {run}: the checkpoint is at step {step}, and a fit from it counts on from "
                         f"there, so trainer.max_steps={max_steps} trains nothing", "give a larger one") if new_run
                        else (f"--resume {run}: the run is at step {step}, past trainer.max_steps={max_steps}",
                              "give a larger one to train on"))
        raise ValueError(f"{what}; {remedy} (e.g. --trainer.max_steps={max(2 * step, step + 1)})")
    if new_run and at == "max_epochs":
        raise ValueError(f"--ckpt_path {run}: the checkpoint is at epoch {epoch} (step {step}; one saved as its fit "
                         f"ended, or by a step's save at an epoch's last, counts that epoch as done), and a fit from "
                         f"it counts on from there, so trainer.max_epochs={max_epochs} trains nothing; give a larger "
                         f"one (e.g. --trainer.max_epochs={epoch + 1}), or -1 for no limit")


def epochs_done(ckpt: dict) -> int | None:
    """The epochs a checkpoint has done as Lightning's fit loop counts them against trainer.max_epochs (its
    ``epoch_progress.current.processed``, which ``done`` compares before a fit from it trains): one more than its
    ``epoch`` when it was written at an epoch's end (``processed`` is counted before on_train_epoch_end, ``epoch``
    after); one written as its fit ended (on_train_end) counts the epoch it ended in as done, one max_steps stopped
    mid-epoch too. One written by a step's save (on_train_batch_end) at an epoch's last batch counts that epoch as
    done as well: the fit loop counts it as it restores the checkpoint, before it checks max_epochs
    (:func:`_ended_an_epoch`); one a validation at that step wrote again does not, nor does one mid-epoch. Its
    ``epoch`` where it records no loops."""
    try:
        loop = ckpt["loops"]["fit_loop"]
        return int(loop["epoch_progress"]["current"]["processed"]) + _ended_an_epoch(loop)
    except (KeyError, TypeError, ValueError):
        return ckpt.get("epoch")


def _ended_an_epoch(loop: dict) -> bool:
    """Whether a checkpoint's fit loop state is that of a step's save at its epoch's last batch, which Lightning's
    fit loop counts as a processed epoch as it restarts (FitLoop.reset): the epoch started and not processed, its last
    batch processed and not completed."""
    try:
        epochs, batches = loop["epoch_progress"]["total"], loop["epoch_loop.batch_progress"]
        steps = batches["total"]
        return bool(batches["is_last_batch"]) and epochs["started"] == epochs["ready"] and \
            epochs["processed"] == epochs["started"] - 1 == epochs["completed"] and \
            steps["started"] == steps["ready"] == steps["processed"] == steps["completed"] + 1
    except (KeyError, TypeError):  # a checkpoint that records less (an older Lightning's)
        return False


def check_fit_length(max_steps: int | None, max_epochs: int | None,
                     limit_train_batches: int | float | None = None, max_time: Any = None,
                     min_steps: int | None = None, min_epochs: int | None = None) -> None:
    """A fit that would stop before its first step (0 steps or epochs, 0 training batches an epoch, or a max_time of
    no time) would leave a run folder without a checkpoint, and a resume would write such a setting into its
    config.yaml: refused before the folder is named. -1 (or None) means no limit, as in Lightning. A min_steps above
    max_steps (min_epochs above max_epochs), which Lightning drops without a word, is refused too."""
    for name, value, least in (("steps", max_steps, min_steps), ("epochs", max_epochs, min_epochs)):
        if value is not None and value != -1 and value < 1:
            raise ValueError(f"trainer.max_{name} must be >= 1 for fit, or -1 for no limit (got {value})")
        if value is not None and value >= 1 and isinstance(least, int) and least > value:
            raise ValueError(f"trainer.min_{name}={least} is above trainer.max_{name}={value}, which stops the fit "
                             f"first: give --trainer.max_{name}={least} or more, or leave out min_{name}")
    if limit_train_batches is not None and limit_train_batches == 0:
        raise ValueError(f"trainer.limit_train_batches must be above 0 for fit (got {limit_train_batches}): a fit "
                         "of no training batch saves no checkpoint; to validate a checkpoint alone: pixeltransformer "
                         "validate --ckpt_path CKPT")
    duration = _duration(max_time)
    if duration is not None and duration <= timedelta(0):
        raise ValueError(f"trainer.max_time must be above 0 for fit (got {max_time}): a fit of no time stops before "
                         f"its first step and saves no checkpoint; null: no time limit")


def _duration(max_time: Any) -> timedelta | None:
    """trainer.max_time as Lightning's Timer reads it: a timedelta from DD:HH:MM:SS, from a mapping of timedelta's
    keywords (days, hours, minutes, seconds, ...) or a timedelta itself; None for null. Anything else (``1:00:00``, a
    misspelled key such as ``hourz``) is refused in one line, before the run folder is named."""
    if max_time is None or isinstance(max_time, timedelta):
        return max_time
    try:
        if isinstance(max_time, dict):
            return timedelta(**max_time)
        if isinstance(max_time, str) and (m := re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", max_time.strip())):
            return timedelta(days=int(m[1]), hours=int(m[2]), minutes=int(m[3]), seconds=int(m[4]))
    except (TypeError, ValueError, OverflowError) as err:
        cause = f" ({err})"
    else:
        cause = ""
    raise ValueError(f"trainer.max_time: {max_time} is no duration{cause}; give DD:HH:MM:SS (00:01:00:00: an hour) "
                     f"or a mapping of days/hours/minutes/seconds (null: no time limit)")


def check_step_settings(accumulate_grad_batches: Any, val_check_interval: Any, gradient_clip_val: Any,
                        limit_val_batches: Any = None, check_val_every_n_epoch: Any = 1) -> None:
    """Trainer settings of a fit's steps that Lightning takes without a word and then misuses: accumulate_grad_batches
    below 1 (0 stopped the first step with ZeroDivisionError; -2 divided each loss by -2 and stepped every 2 batches,
    which climbs the loss), val_check_interval=0 (ZeroDivisionError after the first step, which left a run folder
    without a checkpoint, unless limit_val_batches=0 turns validation off), check_val_every_n_epoch below 1 (0: a
    ZeroDivisionError in the sanity check) and a negative gradient_clip_val (no clipping at all, as 0 means).
    Refused in one line before the run folder is named, as is a val_check_interval that is a fraction of an epoch
    while check_val_every_n_epoch is null (the configs' default), which Lightning refused once the folder was named,
    and a float one outside 0 to 1 (1.5), neither a fraction nor a whole number of batches (2.0 is taken
    as 2 where check_val_every_n_epoch is set, and named as a float where it is null).
    check_val_every_n_epoch defaults to Lightning's Trainer's 1."""
    if isinstance(accumulate_grad_batches, int) and accumulate_grad_batches < 1:
        raise ValueError(f"trainer.accumulate_grad_batches must be >= 1 batches an optimizer step (1: no "
                         f"accumulation), got {accumulate_grad_batches}")
    if type(val_check_interval) is int and val_check_interval == 0 and limit_val_batches != 0:
        raise ValueError("trainer.val_check_interval must be >= 1 (training batches between validations), got 0; "
                         "--trainer.limit_val_batches=0 turns validation off")
    v = val_check_interval
    whole = isinstance(v, float) and v > 1 and v.is_integer()  # Lightning takes 2.0 as 2 batches (every_n_epoch set)
    if isinstance(v, float) and not 0 <= v <= 1 and not whole:  # Lightning's range of fractions (nan: none)
        raise ValueError(f"trainer.val_check_interval={v} is neither a fraction of an epoch (0 to 1.0) nor a whole "
                         f"number of training batches: give a whole number (e.g. "
                         f"--trainer.val_check_interval={max(1, math.ceil(v)) if math.isfinite(v) else 1})")
    if whole and check_val_every_n_epoch is None:
        raise ValueError(f"trainer.val_check_interval={v} is a float, which Lightning refuses while "
                         f"trainer.check_val_every_n_epoch is null (validations every val_check_interval training "
                         f"batches, across epochs): give the whole number, --trainer.val_check_interval={int(v)}")
    if isinstance(v, float) and check_val_every_n_epoch is None:
        raise ValueError(f"trainer.val_check_interval={v} is a fraction of an epoch, but "
                         f"trainer.check_val_every_n_epoch is null ({config_shown('trainer/default.yaml')}: "
                         "validations every "
                         "val_check_interval training batches, across epochs): give "
                         "--trainer.check_val_every_n_epoch=1 with it, or a whole number of batches")
    if isinstance(check_val_every_n_epoch, int) and check_val_every_n_epoch < 1 and limit_val_batches != 0:
        raise ValueError(f"trainer.check_val_every_n_epoch must be >= 1 (epochs between validations; null: every "
                         f"val_check_interval batches), got {check_val_every_n_epoch}; --trainer.limit_val_batches=0 "
                         f"turns validation off")
    if isinstance(gradient_clip_val, (int, float)) and gradient_clip_val < 0:
        raise ValueError(f"trainer.gradient_clip_val must be >= 0, got {gradient_clip_val}: a negative value clips "
                         "nothing, as 0 or null (no clipping) does")
