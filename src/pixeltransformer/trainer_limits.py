"""A trainer's limits as a fit meets them: a limit_val_batches that would make val/nll depend on the batch size and
the device count is refused (:func:`check_val_limit`, :func:`batch_limit`), a fit whose steps never reach its
validation (:func:`no_validation_note`) or whose validation trainer.overfit_batches cuts (:func:`overfit_note`) is
told so as it starts, the max_epochs that ends a fit before its max_steps is found for its short-fit note
(:func:`ending_epochs`), and a fit from a checkpoint that trains nothing, already at its limit
(:func:`limit_reached` decides; a new fit's max_time, :func:`time_spent`), is told which option trains on
(:func:`nothing_to_train` before it starts, :func:`nothing_trained` after). Functions of a trainer's settings (and
a checkpoint's state), which the LightningModule and the command line call.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .config import option_as_given
from .errors import counted, in_number
from .loopbar import format_duration
from .progress import time_limit_left
from .validation_schedule import epoch_steps, schedule


def batch_limit(limit: Any) -> bool:
    """Whether a trainer.limit_val_batches cuts the validation at a number of batches (an int >= 1) or a fraction of
    them (a float between 0 and 1) on each device: then which items are validated depends on the batch size and the
    number of devices. 0 (no validation), 1.0 and None (every batch) do not."""
    if isinstance(limit, bool):
        return False
    return (isinstance(limit, int) and limit >= 1) or (isinstance(limit, float) and 0 < limit < 1)


def ending_epochs(trainer: Any, total_steps: int | float) -> int | None:
    """The trainer.max_epochs that ends a fit of ``total_steps`` before its max_steps (-1, or more steps than the
    epochs train), None where max_steps ends it or there is no epoch limit."""
    epochs, max_steps = getattr(trainer, "max_epochs", None), getattr(trainer, "max_steps", -1)
    if not isinstance(epochs, int) or epochs < 1 or math.isinf(total_steps):
        return None
    return epochs if not isinstance(max_steps, int) or max_steps < 0 or max_steps > total_steps else None


def no_validation_note(trainer: Any, python: bool = False) -> str | None:
    """The line saying that a fit of steps never reaches its trainer.val_check_interval (a 10-step try of a config
    that validates every 200), or its check_val_every_n_epoch (a 1-epoch fit that validates every 2): no val/nll,
    no pictures and no best checkpoint; None when it validates, when validation is off (limit_val_batches=0), for a
    schedule not known in batches (:func:`~pixeltransformer.validation_schedule.schedule`: an interval of time) and
    for a fit of no step or epoch limit. A fit of epochs (`--trainer.max_epochs 1 --trainer.limit_train_batches
    0.1`) ends at the epochs' batches where they come before max_steps. The remedy is named as the command line
    gives it, or (``python``) as a Trainer built in Python takes it."""
    known, max_steps = schedule(trainer), getattr(trainer, "max_steps", -1)
    if getattr(trainer, "limit_val_batches", None) == 0 or known is None:
        return None  # an interval of time ("00:00:10:00") validates when the time is up
    interval, every, per_epoch = known.interval, known.every, known.per_epoch
    # the training batches each limit allows, as the interval counts them, and the step that ends them
    limits = [(known.batches(max_steps), max_steps)] if isinstance(max_steps, int) and max_steps >= 1 else []
    epochs = getattr(trainer, "max_epochs", None)
    if isinstance(epochs, int) and epochs >= 1 and per_epoch is not None:
        limits.append((epochs * per_epoch, epochs * epoch_steps(per_epoch, known.accumulate)))
    if not limits:
        return None
    (end, last), start = min(limits), known.batches(trainer.global_step)
    if end <= start or known.validations(start, end):  # a multiple of the interval among the batches it trains
        return None
    option, value, trained = "val_check_interval", f"{interval} training batches", f"{end - start}"
    remedy, fewer = f"{end - start}", " or fewer"
    if every is not None and every > 1 and known.validations(start, end, every=1):
        epochs = (end - start) / per_epoch
        option, value, trained, remedy, fewer = "check_val_every_n_epoch", every, \
            f"{epochs:g} {in_number(epochs, 'epoch')}", "1", ""
    elif every is not None and type(interval) is not int:  # within one epoch, short of its first validation
        value = f"{interval} of an epoch ({known.batch} training batches)"  # 1.0: the epoch's end
    give = option_as_given(f"trainer.{option}", True, remedy) if python else f"--trainer.{option}={remedy}"
    return (f"trainer.{option}={value} is more than this fit's {trained} (steps {trainer.global_step} to {last}): it "
            f"never validates, so it logs no val/nll, draws no pictures and keeps no best checkpoint (last.ckpt "
            f"only); give {give}{fewer} to validate")


def batches_words(limit: int | float) -> str:
    """A trainer's batch limit in words: "1 batch", "0.5 of the batches"."""
    return counted(limit, "batch") if isinstance(limit, int) else f"{limit:g} of the batches"


def overfit_note(trainer: Any, python: bool = False) -> str | None:
    """The line saying that trainer.overfit_batches limits the validation too (Lightning sets limit_val_batches to
    it): val/nll and the best checkpoint scored the first batches of the val split alone, without a word; None
    without it. A fit that never validates gets :func:`no_validation_note` in its place (``_say_no_validation``).
    The validation it names is the command line's, or (``python``) a Trainer's built in Python."""
    overfit = getattr(trainer, "overfit_batches", 0)
    if not overfit:
        return None
    how = ("Trainer().validate(module, datamodule, ckpt_path=CKPT)" if python else
           "pixeltransformer validate --ckpt_path CKPT")
    return (f"trainer.overfit_batches={overfit} validates {batches_words(overfit)} of the val split on each device "
            f"as well: val/nll and the best checkpoint score those items alone, not the whole split; to score it, "
            f"validate a checkpoint without it: {how}")


def check_val_limit(limit: Any, python: bool = False) -> None:
    """Refuse a trainer.limit_val_batches that would make val/nll depend on the batch size and the device count,
    naming the options to use instead as the command line spells them, or (``python``) as a plain Trainer and a
    DataModule built in Python take them."""
    if batch_limit(limit):
        what = batches_words(limit)
        items, off = (("the DataModule's val_items=N", "Trainer(limit_val_batches=0)") if python else
                      ("--data.init_args.val_items=N", "--trainer.limit_val_batches=0"))
        raise ValueError(f"trainer.limit_val_batches={limit} validates {what} on each device, so val/nll would score "
                         f"other items at another batch size or device count: choose the items instead with {items} "
                         f"(the first N val items; null: all of them), or turn validation off with {off}")


@dataclasses.dataclass(frozen=True)
class Reached:
    """The trainer limit a fit from a checkpoint is at before it trains (:func:`limit_reached`): its ``option``
    (max_steps, max_epochs or max_time) and, for max_time, the limit and the training time the checkpoint records, in
    seconds (:func:`time_spent`)."""

    option: str
    spent: tuple[float, float] | None = None


def limit_reached(step: int | None, max_steps: int | None, epochs: int | None = None, max_epochs: int | None = None,
                  saved: dict | None = None, trainer: Any = None) -> Reached | None:
    """The one place that decides that a resume (or a new fit from a checkpoint, but for its max_time:
    :func:`new_run_out_of_time`) trains nothing, its checkpoint already at a limit: trainer.max_steps at or below
    its ``step`` (where known; the limit Lightning stops on first), trainer.max_epochs at or below the ``epochs`` it
    has done as the fit loop counts them (``fit_settings.epochs_done``), or a trainer.max_time that the training time
    the checkpoint ``saved`` records fills (:func:`time_spent`, asked where ``saved`` and ``trainer`` are given). -1
    (or None) means no limit. None where it trains."""
    if step is not None and max_steps is not None and 0 <= max_steps <= step:
        return Reached("max_steps")
    if epochs is not None and max_epochs is not None and 0 <= max_epochs <= epochs:
        return Reached("max_epochs")
    if saved is not None and trainer is not None and (spent := time_spent(saved, trainer, epochs)) is not None:
        return Reached("max_time", spent)
    return None


def nothing_to_train(step: int, max_steps: int | None, epochs: int | None = None, max_epochs: int | None = None,
                     of: str = "the run", saved: dict | None = None, trainer: Any = None) -> str | None:
    """The line of a resume that trains nothing, its run already at trainer.max_steps, trainer.max_epochs or (asked
    where ``saved`` and ``trainer`` are given) trainer.max_time (:func:`limit_reached`; Lightning says only that the
    limit was reached, or, its Timer restoring the time from the checkpoint, nothing): the limit and the option that
    trains on; None below them. Known from the checkpoint alone, before the fit starts: its step, and the ``epochs``
    it has done as the fit loop counts them (``fit_settings.epochs_done``). ``of``: what was at the step, as the line
    names it."""
    if (reached := limit_reached(step, max_steps, epochs, max_epochs, saved, trainer)) is None:
        return None
    if reached.option == "max_steps":
        more = f"--trainer.max_steps={max(2 * step, step + 1)}"
        return _nothing_line(step, f"trainer.max_steps={max_steps}", more, of=of)
    if reached.option == "max_epochs":
        return _nothing_line(step, f"trainer.max_epochs={max_epochs}", f"--trainer.max_epochs={epochs + 1}", of=of)
    limit, trained = reached.spent
    return _nothing_line(step, f"trainer.max_time {format_duration(limit)}", "a longer --trainer.max_time",
                         f" ({format_duration(trained)} trained)", of=of)


def new_run_out_of_time(ckpt: str, saved: dict, trainer: Any, epochs: int | None) -> str | None:
    """The line that refuses a new fit from the checkpoint ``ckpt`` (fit --ckpt_path) whose recorded training time
    fills its trainer.max_time (:func:`time_spent`): its Timer restores the time as a resume's does. Told before
    its run folder is made, as one at its max_steps or max_epochs is (``fit_settings.check_resume_length``, before
    the trainer is made)."""
    if (spent := time_spent(saved, trainer, epochs)) is None:
        return None
    limit, trained = spent
    return (f"--ckpt_path {ckpt}: the checkpoint has trained {format_duration(trained)}, and a fit from it counts "
            f"on from there, so trainer.max_time {format_duration(limit)} trains nothing; give a longer one")


def time_spent(saved: dict, trainer: Any, epochs: int | None) -> tuple[float, float] | None:
    """trainer.max_time and the training time the checkpoint ``saved`` records, in seconds, where the time fills
    the limit and no trainer.min_steps or min_epochs trains on; else None."""
    limit = time_limit_left(trainer)  # the whole limit: the fit, which restores the time trained, has not started
    trained = (((saved.get("callbacks") or {}).get("Timer") or {}).get("time_elapsed") or {}).get("train")
    if limit is None or trained is None or trained < limit:
        return None
    # Lightning trains up to them; a min_steps given sets min_epochs to 1 where it is None (_parse_loop_limits)
    least_epochs = trainer.min_epochs if trainer.min_epochs is not None else int(trainer.min_steps is not None)
    if (trainer.min_steps or 0) > (saved.get("global_step") or 0) or least_epochs > (epochs or 0):
        return None
    return limit, trained


def nothing_trained(trainer, of: str = "the run") -> str:
    """The line of a fit from a checkpoint (a resume, or a new run: ``of`` "the checkpoint") that trained nothing,
    which the checks before the fit could not tell: a checkpoint a validation wrote again at its epoch's last step
    (max_epochs, counted as the fit ended), or the time limit running out before the first step (one the checkpoint's
    time fills already is told before, :func:`nothing_to_train`)."""
    step = trainer.global_step
    if line := nothing_to_train(step, trainer.max_steps, trainer.current_epoch, trainer.max_epochs, of=of):
        return line
    return _nothing_line(step, "trainer.max_time", "a longer --trainer.max_time", of=of)


def _nothing_line(step: int, limit: str, more: str, why: str = "", of: str = "the run") -> str:
    return (f"[run] fit: nothing trained: {of} was already at step {step}, where {limit} stops it{why}; to go on: "
            f"{more}")
