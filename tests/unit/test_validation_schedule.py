"""When Lightning validates in a fit: the progress lines' ETA (validations_left) and the note of a fit that never
validates (no_validation_note) against the validations a real, tiny Lightning fit runs."""

import pytest
import torch

from pixeltransformer.progress import total_steps, validations_left
from pixeltransformer.trainer_limits import no_validation_note, nothing_to_train


def _fit(per_epoch: int, save_at: tuple[int, str] | None = None, ckpt_path: str | None = None,
         **trainer_args) -> tuple[int, int, str | None]:
    """The validations a fit of ``per_epoch`` batches an epoch runs, with the validations left that the ETA counts
    and the never-validates note, both as the fit starts. save_at (step, path): a checkpoint saved as the fit reaches
    that step; ckpt_path: the fit resumes from one."""
    import lightning.pytorch as pl

    seen = {"runs": 0}

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).mean()  # batch[0]: [1, 2]

        def validation_step(self, batch, batch_idx):
            pass

        def on_train_start(self):
            seen["left"] = validations_left(self.trainer, total_steps(self.trainer))
            seen["note"] = no_validation_note(self.trainer)

        def on_validation_end(self):
            seen["runs"] += 1

        def on_train_batch_end(self, outputs, batch, batch_idx):
            if save_at is not None and self.trainer.global_step == save_at[0] and "saved" not in seen:
                seen["saved"] = self.trainer.save_checkpoint(save_at[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.rand(per_epoch, 2))  # [per_epoch, 2]
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         **trainer_args)
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=1), torch.utils.data.DataLoader(data[:1][0]),
                ckpt_path=ckpt_path)
    return seen["runs"], seen["left"], seen["note"]


# (batches an epoch, trainer options, validations Lightning runs)
ACROSS_EPOCHS = [
    (4, dict(max_steps=7, val_check_interval=3, check_val_every_n_epoch=None), 2),  # batches 3 and 6
    (4, dict(max_steps=4, val_check_interval=2, check_val_every_n_epoch=None, accumulate_grad_batches=2), 4),
    (4, dict(max_steps=5, val_check_interval=5, check_val_every_n_epoch=None), 1),  # in the second epoch
    (4, dict(max_steps=4, val_check_interval=5, check_val_every_n_epoch=None), 0),
    (4, dict(max_steps=7, val_check_interval=3, check_val_every_n_epoch=None, limit_val_batches=0), 0),
    # an epoch of 5 batches makes 3 steps of 2: the ETA counted 2 steps x 2 batches an epoch, and a validation at
    # batch 12 of the 10 that 2 epochs train; 5 steps end at batch 9, short of 10, and the note said nothing
    (5, dict(max_steps=-1, max_epochs=2, val_check_interval=6, check_val_every_n_epoch=None, accumulate_grad_batches=2),
     1),
    (5, dict(max_steps=5, val_check_interval=10, check_val_every_n_epoch=None, accumulate_grad_batches=2), 0),
]
EVERY_N_EPOCHS = [
    (4, dict(max_steps=6, val_check_interval=0.5, check_val_every_n_epoch=1), 3),  # batches 2, 4; 2
    (4, dict(max_steps=5, val_check_interval=3, check_val_every_n_epoch=1), 1),  # max_steps in the second epoch
    (4, dict(max_steps=6, val_check_interval=1.0, check_val_every_n_epoch=2), 0),  # stops short of epoch 2's end
    (4, dict(max_steps=10, val_check_interval=2, check_val_every_n_epoch=2), 2),  # in epoch 2 alone
    (4, dict(max_steps=2, val_check_interval=1.0, check_val_every_n_epoch=1), 0),
    (4, dict(max_steps=-1, max_epochs=3, val_check_interval=1.0, check_val_every_n_epoch=2), 1),
    (4, dict(max_steps=4, check_val_every_n_epoch=2, limit_val_batches=0), 0),
]


@pytest.mark.parametrize("per_epoch, options, runs", ACROSS_EPOCHS + EVERY_N_EPOCHS)
def test_the_validation_schedule_is_lightnings(per_epoch, options, runs):
    """The note says a fit never validates exactly where Lightning runs no validation (validation on); the ETA counts
    the validations Lightning runs. With check_val_every_n_epoch it counted none (`--trainer.check_val_every_n_epoch
    1 --trainer.val_check_interval 0.5`): the log's ETA left out the time of every validation to come."""
    ran, left, note = _fit(per_epoch, **options)
    assert ran == runs
    assert (note is not None) == (runs == 0 and options.get("limit_val_batches") != 0)
    assert left == runs


def test_the_count_of_validations_is_that_of_each_batch_checked_in_turn():
    """The closed form agrees with Lightning's rule applied batch by batch (batch b of epoch e validates where e + 1
    is a multiple of check_val_every_n_epoch and b + 1 one of val_check_batch), fits starting and ending anywhere."""
    from pixeltransformer.validation_schedule import validations

    for per_epoch, every, batch, start, end in [(p, n, k, s, e) for p in range(1, 7) for n in (None, 1, 2, 3)
                                                for k in range(1, p + 1) for s in range(0, 15) for e in range(s, 25)]:
        each = sum((b // per_epoch + 1) % (every or 1) == 0 and ((b if every is None else b % per_epoch) + 1) % batch
                   == 0 for b in range(start, end))
        assert validations(start, end, batch, every, per_epoch) == each, (per_epoch, every, batch, start, end)


def test_a_fit_that_validates_at_an_interval_of_time_runs():
    """`--trainer.val_check_interval "00:00:10:00"`: Lightning keeps an interval of time apart and sets no
    trainer.val_check_interval, which the ETA's count and the never-validates note read: the fit stopped at its start
    with an AttributeError. The schedule is not known in batches: no validation counted, no note."""
    _, left, note = _fit(4, max_steps=4, val_check_interval="00:00:10:00")
    assert (left, note) == (0, None)


@pytest.mark.parametrize("per_epoch, options, step, runs", [
    # resumed at step 3 (batch 6 of 8 in epoch 1), validating every 2 batches: batches 8, 10, 12, 14 and 16 of 16
    (8, dict(max_steps=8, val_check_interval=2, check_val_every_n_epoch=None, accumulate_grad_batches=2), 3, (8, 5)),
    # 5 batches an epoch make 3 steps of 2: resumed at step 2 (batch 4 of epoch 1), the 3 epochs' ends still to come
    (5, dict(max_steps=-1, max_epochs=3, val_check_interval=1.0, check_val_every_n_epoch=1, accumulate_grad_batches=2),
     2, (3, 3)),
    # and at step 4 (batch 7, in epoch 2): the second and third epochs' ends
    (5, dict(max_steps=-1, max_epochs=3, val_check_interval=1.0, check_val_every_n_epoch=1, accumulate_grad_batches=2),
     4, (3, 2)),
])
def test_a_fit_resumed_mid_epoch_counts_the_validations_it_runs(tmp_path, per_epoch, options, step, runs):
    """A fit resumed from a checkpoint saved mid-epoch, steps of several batches: the ETA counts the validations the
    resumed fit runs, from its global step on (the fits tested before started at step 0)."""
    ckpt = str(tmp_path / "mid.ckpt")
    whole, whole_left, _ = _fit(per_epoch, save_at=(step, ckpt), **options)
    ran, left, note = _fit(per_epoch, ckpt_path=ckpt, **options)
    assert (whole, ran) == runs and whole_left == whole
    assert left == ran and note is None


def test_a_resume_at_its_max_steps_is_told_so_before_it_starts():
    """A resume whose run is already at trainer.max_steps trains nothing: its line is known from the checkpoint's step
    alone, so the CLI ends on it before a W&B run is started; below it, or with no step limit, none."""
    assert nothing_to_train(20, 20) == ("[run] fit: nothing trained: the run was already at step 20, where "
                                        "trainer.max_steps=20 stops it; to go on: --trainer.max_steps=40")
    assert nothing_to_train(20, 21) is None and nothing_to_train(20, -1) is None and nothing_to_train(0, None) is None
