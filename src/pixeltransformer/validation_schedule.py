"""When Lightning validates during a fit: the one model of its schedule behind the progress lines' ETA
(:func:`~pixeltransformer.progress.validations_left`) and the note of a fit that never validates
(:func:`~pixeltransformer.module.no_validation_note`).

Lightning validates after each training batch whose number (from 1) is a multiple of trainer.val_check_batch: the
batches counted across epochs with trainer.check_val_every_n_epoch=null, else those of the epoch, and then in every
n-th epoch alone. val_check_batch is trainer.val_check_interval where that is an int, else that fraction of an
epoch's batches (at least 1); an interval of time has none. An optimiser step is accumulate_grad_batches batches,
the last of an epoch fewer where they do not divide its batches.
"""

from __future__ import annotations

from typing import Any


def epoch_batches(trainer: Any) -> int | None:
    """The training batches of an epoch (trainer.num_training_batches), None where unknown (an iterable dataset)."""
    per_epoch = getattr(trainer, "num_training_batches", None)
    return per_epoch if isinstance(per_epoch, int) and per_epoch >= 1 else None


def check_batch(interval: Any, per_epoch: int | None) -> int | None:
    """Lightning's trainer.val_check_batch for a trainer.val_check_interval and an epoch of ``per_epoch`` batches:
    None for an interval of time, or a fraction of an epoch of unknown length."""
    if type(interval) is int:
        return interval
    if type(interval) is float and per_epoch is not None:
        return max(1, int(per_epoch * interval))
    return None


def batches_of_steps(steps: int, per_epoch: int | None, accumulate: int) -> int:
    """The training batches that make ``steps`` optimiser steps, ``accumulate`` batches a step: the last batches of
    an epoch of ``per_epoch`` make a short step (None: an epoch of unknown length, one that never ends)."""
    if per_epoch is None:
        return steps * accumulate
    epochs, left = divmod(steps, -(-per_epoch // accumulate))  # ceil: the steps of an epoch
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
