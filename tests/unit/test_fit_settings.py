"""A fit's length and step settings: a resume or a new fit from a checkpoint that would train nothing, Lightning's
durations, a validation interval."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pixeltransformer.fit_settings import check_fit_length, check_resume_length, epochs_done


def test_no_validation_takes_any_interval():
    """val_check_interval=0 is refused (a ZeroDivisionError after the first step), but with validation turned off
    (limit_val_batches=0) Lightning never divides by it: nothing to refuse."""
    from pixeltransformer.fit_settings import check_step_settings

    with pytest.raises(ValueError, match=r"^trainer.val_check_interval must be >= 1"):
        check_step_settings(1, 0, None, None)
    with pytest.raises(ValueError, match=r"^trainer.val_check_interval must be >= 1"):
        check_step_settings(1, 0, None, 1.0)
    for off in (0, 0.0):
        check_step_settings(1, 0, None, off)
    check_step_settings(1, 0.0, None, None)  # a fraction of the epoch: Lightning takes at least one batch


@pytest.mark.parametrize("value", ["00:01:00:00", {"weeks": 1, "milliseconds": 5}, timedelta(hours=1), None])
def test_the_durations_lightnings_timer_takes_are_taken(value):
    """DD:HH:MM:SS, any of timedelta's keywords, a timedelta and null pass the max_time check."""
    check_fit_length(None, None, None, value)


def test_a_new_fit_from_a_checkpoint_at_or_past_its_max_steps_is_refused_before_its_folder_is_made():
    """fit --ckpt_path (a new run from a checkpoint's whole state) goes on counting from the checkpoint's step: at a
    trainer.max_steps at or below it, it trained nothing and left a new run folder of config.yaml, command.txt and
    wandb_id.txt without a checkpoint ("ended at step 2: no checkpoint kept")."""
    for max_steps in (-1, None, 3):
        check_resume_length("runs/polynomial/p/checkpoints/last.ckpt", 2, max_steps, new_run=True)
    for max_steps in (1, 2):
        with pytest.raises(ValueError, match=rf"^--ckpt_path runs/polynomial/p/checkpoints/last.ckpt: the checkpoint "
                                             rf"is at step 2, and a fit from it counts on from there, so "
                                             rf"trainer.max_steps={max_steps} trains nothing; give a larger one "
                                             rf"\(e.g. --trainer.max_steps=4\)$"):
            check_resume_length("runs/polynomial/p/checkpoints/last.ckpt", 2, max_steps, new_run=True)


def test_a_new_fit_from_a_checkpoint_at_its_max_epochs_is_refused_before_its_folder_is_made():
    """A new fit from a checkpoint counts on from Lightning's epoch count, which holds an epoch a fit stopped in (by
    max_steps) as done: with a trainer.max_epochs at or below it, it trained nothing, said only Lightning's "max_epochs
    reached", and left a new run folder and an empty W&B run without a checkpoint. -1 and None are no limit. At both
    limits, the message names max_steps, the limit Lightning stops on first."""
    for max_epochs in (-1, None, 2):
        check_resume_length("c.ckpt", 7, None, new_run=True, epoch=1, max_epochs=max_epochs)
    check_resume_length("c.ckpt", 7, None, epoch=1, max_epochs=1)  # a resume says itself that it trained nothing
    for max_epochs in (0, 1):
        with pytest.raises(ValueError, match=rf"^--ckpt_path c.ckpt: the checkpoint is at epoch 1 \(step 7; one "
                                             rf"saved as its fit ended, or by a step's save at an epoch's last, counts "
                                             rf"that epoch as done\), and a fit from it counts on from there, so "
                                             rf"trainer.max_epochs={max_epochs} trains nothing; give a larger one "
                                             rf"\(e.g. --trainer.max_epochs=2\), or -1 for no limit$"):
            check_resume_length("c.ckpt", 7, None, new_run=True, epoch=1, max_epochs=max_epochs)
    with pytest.raises(ValueError, match=r"so trainer.max_steps=7 trains nothing"):
        check_resume_length("c.ckpt", 7, 7, new_run=True, epoch=1, max_epochs=1)


def test_a_checkpoint_s_epoch_count_is_the_one_lightning_stops_on():
    """Lightning's fit loop compares trainer.max_epochs with its epoch_progress' processed count, one above the
    checkpoint's epoch when it was written at an epoch's end (before the epoch was counted completed): that
    checkpoint slipped past a check of its epoch. A checkpoint without loops gives its epoch."""
    progress = {"current": {"ready": 1, "started": 1, "processed": 1, "completed": 0}}
    assert epochs_done({"epoch": 0, "loops": {"fit_loop": {"epoch_progress": progress}}}) == 1
    assert epochs_done({"epoch": 3}) == 3 and epochs_done({}) is None
    # saved by a step at its epoch's last batch (processed, not completed): the fit loop counts the epoch as it
    # restores it; saved again by the validation there (completed too), or mid-epoch, it does not
    epoch = {"ready": 1, "started": 1, "processed": 0, "completed": 0}
    for completed, last, done in ((3, True, 1), (4, True, 0), (3, False, 0)):
        batches = {"total": {"ready": 4, "started": 4, "processed": 4, "completed": completed}, "is_last_batch": last}
        loop = {"epoch_progress": {"current": epoch, "total": epoch}, "epoch_loop.batch_progress": batches}
        assert epochs_done({"epoch": 0, "loops": {"fit_loop": loop}}) == done


@pytest.mark.parametrize("new_run, max_steps, refused", [
    (False, 133, True), (False, 0, True), (False, 134, False), (False, -1, False), (False, -3, False),
    (False, None, False), (True, 134, True), (True, 0, True), (True, 135, False), (True, -1, False),
    (True, -3, False), (True, None, False)])
def test_resume_and_new_fit_lengths_are_refused_at_their_own_bounds(new_run, max_steps, refused):
    """A resume is refused below its checkpoint's step (at it, a finished run ends at once), a new fit from the
    checkpoint at it too; -1 and None are no limit, other negative values check_fit_length's; a checkpoint without a
    step is left to Lightning."""
    check_resume_length("r", None, max_steps, new_run=new_run)
    if not refused:
        check_resume_length("r", 134, max_steps, new_run=new_run)
        return
    with pytest.raises(ValueError, match=r"^--ckpt_path r: the checkpoint is at step 134, and a fit from it counts on"
                       if new_run else r"^--resume r: the run is at step 134, past trainer"):
        check_resume_length("r", 134, max_steps, new_run=new_run)


def test_a_val_check_interval_that_is_no_fraction_and_no_whole_number_of_batches_is_refused_as_such():
    """--trainer.val_check_interval=1.5 was refused as "a fraction of an epoch" with the remedy
    --trainer.check_val_every_n_epoch=1, which then failed on Lightning's "invalid value 1.5 for val_check_interval"
    once the run folder was named; a float past 1 (or below 0) is named as neither, with the whole number to give."""
    from pixeltransformer.fit_settings import check_step_settings

    for value, whole in ((1.5, 2), (-0.5, 1), (float("inf"), 1), (float("nan"), 1)):
        for every in (None, 1):
            with pytest.raises(ValueError, match=rf"^trainer.val_check_interval={value} is neither a fraction of an "
                                                 rf"epoch \(0 to 1.0\) nor a whole number of training batches: give "
                                                 rf"a whole number \(e.g. --trainer.val_check_interval={whole}\)$"):
                check_step_settings(1, value, None, None, every)
    check_step_settings(1, 1.0, None, None, 1)  # a whole epoch
    check_step_settings(1, 2.0, None, None, 1)  # Lightning's 2 batches
    with pytest.raises(ValueError, match=r"^trainer.val_check_interval=2.0 is a float, which Lightning refuses while "
                                         r"trainer.check_val_every_n_epoch is null \(validations every "
                                         r"val_check_interval training batches, across epochs\): give the whole "
                                         r"number, --trainer.val_check_interval=2$"):
        check_step_settings(1, 2.0, None, None, None)
    check_step_settings(1, 0.25, None, None, 1)
