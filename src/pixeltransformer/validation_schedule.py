"""When Lightning validates during a fit: the one model of its schedule behind the progress lines' ETA
(:func:`~pixeltransformer.progress.validations_left`) and the note of a fit that never validates
(:func:`~pixeltransformer.trainer_limits.no_validation_note`).

Lightning validates after each training batch whose number (from 1) is a multiple of trainer.val_check_batch: the
batches counted across epochs with trainer.check_val_every_n_epoch=null, else those of the epoch, and then in every
n-th epoch alone. Lightning sets val_check_batch as a fit's train loader is set up, from trainer.val_check_interval
(batches, or a fraction of an epoch's); an interval of time ("00:00:10:00") has none: Lightning keeps it apart
(trainer._val_check_time_interval) and sets no trainer.val_check_interval, so :func:`schedule` reads the trainer with
getattr and knows no schedule there. An optimiser step is accumulate_grad_batches batches, the last of an epoch fewer
where they do not divide its batches (:func:`epoch_steps`).
"""

from __future__ import annotations

from typing import Any, NamedTuple


def epoch_batches(trainer: Any) -> int | None:
    """The training batches of an epoch (trainer.num_training_batches), None where unknown (an iterable dataset)."""
    per_epoch = getattr(trainer, "num_training_batches", None)
    return per_epoch if isinstance(per_epoch, int) and per_epoch >= 1 else None


def epoch_steps(per_epoch: int, accumulate: int) -> int:
    """The optimiser steps of an epoch of ``per_epoch`` batches, ``accumulate`` batches a step: a last short step
    where they do not divide."""
    return -(-per_epoch // accumulate)


def batches_of_steps(steps: int, per_epoch: int | None, accumulate: int) -> int:
    """The training batches that make ``steps`` optimiser steps, ``accumulate`` batches a step: the last batches of
    an epoch of ``per_epoch`` make a short step (None: an epoch of unknown length, one that never ends)."""
    if per_epoch is None:
        return steps * accumulate
    epochs, left = divmod(steps, epoch_steps(per_epoch, accumulate))
    return epochs * per_epoch + left * accumulate


def validations(start: int, end: int, batch: int, every: int | None = None, per_epoch: int | None = None) -> int:
    """How many times Lightning validates while it trains the batches after ``start`` up to ``end`` (counted from
    the first epoch's first): after each multiple of ``batch`` (its val_check_batch) among them all (``every``
    None), else among the batches of every ``every``-th epoch, an epoch being ``per_epoch`` batches. An epoch the fit
    stops in part-way validates only where its batches reach a multiple (an interval of 1.0: the epoch's end)."""
    if end <= start:
        return 0
    if every is None:
        return end // batch - start // batch
    first, final = start // per_epoch, (end - 1) // per_epoch  # the epochs it trains in, from 0

    def within(epoch: int, lo: int, hi: int) -> int:  # the validations after the epoch's batches lo to hi
        return hi // batch - lo // batch if (epoch + 1) % every == 0 else 0

    if first == final:
        return within(first, start - first * per_epoch, end - first * per_epoch)
    between = final // every - (first + 1) // every  # whole epochs between the two that validate
    return (within(first, start - first * per_epoch, per_epoch) + between * (per_epoch // batch)
            + within(final, 0, end - final * per_epoch))


class Schedule(NamedTuple):
    """A fit's validation schedule in training batches, as :func:`schedule` reads it from its trainer."""

    interval: int | float  # trainer.val_check_interval: batches (an int), or a fraction of an epoch
    batch: int  # Lightning's val_check_batch
    every: int | None  # trainer.check_val_every_n_epoch
    per_epoch: int | None  # the training batches of an epoch, None where unknown
    accumulate: int  # trainer.accumulate_grad_batches

    def batches(self, steps: int) -> int:
        """The training batches that make ``steps`` optimiser steps (:func:`batches_of_steps`)."""
        return batches_of_steps(steps, self.per_epoch, self.accumulate)

    def validations(self, start: int, end: int, every: int | None = None) -> int:
        """How many times Lightning validates while it trains the batches after ``start`` up to ``end``
        (:func:`validations`), in every ``every``-th epoch where given in place of the trainer's."""
        return validations(start, end, self.batch, every or self.every, self.per_epoch)


def schedule(trainer: Any) -> Schedule | None:
    """The validation schedule of the fit ``trainer`` runs, each setting read with getattr; None where it is not
    known in batches: an interval of time (Lightning sets no trainer.val_check_interval then), a fraction of an epoch
    of unknown length or across epochs (check_val_every_n_epoch=null, which Lightning refuses), epochs of unknown
    length, or an interval under 1. Whether validation runs at all (limit_val_batches=0) is the caller's."""
    if getattr(trainer, "_val_check_time_interval", None) is not None:
        return None
    interval, every = getattr(trainer, "val_check_interval", None), getattr(trainer, "check_val_every_n_epoch", None)
    per_epoch, batch = epoch_batches(trainer), getattr(trainer, "val_check_batch", None)  # inf: an endless epoch's
    if type(batch) is not int or batch < 1 or (every is None and type(interval) is not int):
        return None
    if every is not None and (not isinstance(every, int) or per_epoch is None):
        return None
    return Schedule(interval, batch, every, per_epoch, getattr(trainer, "accumulate_grad_batches", 1))
