"""A run that diverges: it stops (or skips) before NaN weights reach a checkpoint, and says so in one line."""

from __future__ import annotations

import json
import math

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger

from pixeltransformer import module as module_lib
from pixeltransformer.checkpointing import RunCheckpoint
from pixeltransformer.evaluation import SweepEvaluation
from pixeltransformer.inference import PredictionOverflow


class Blowup(module_lib.PixelTransformerModule):
    """Gradients overflow (an Inf in one weight's gradient, the loss still finite) at the steps listed."""

    blow_at: frozenset[int] = frozenset()
    overflow_at: int | None = None  # the optimizer step of this global step leaves an Inf weight

    def on_after_backward(self) -> None:
        if self.global_step in self.blow_at:
            self.model.head.weight.grad[0, 0] = math.inf

    def optimizer_step(self, *args, **kwargs) -> None:
        step = self.global_step
        super().optimizer_step(*args, **kwargs)
        if step == self.overflow_at:
            with torch.no_grad():
                self.model.head.bias[0] = math.inf


class NanLoss(Blowup):
    """The loss is NaN at the steps, or the batches, listed (on the first rank alone under DDP)."""

    nan_at: frozenset[int] = frozenset()
    nan_batches: frozenset[int] = frozenset()

    def training_step(self, batch, batch_idx):
        if self.global_rank == 0 and (self.global_step in self.nan_at or batch_idx in self.nan_batches):
            for name in ("loss", "head_loss"):  # one Gaussian with a value frame, or the bins
                real = getattr(self.dist, name)
                setattr(self.dist, name, lambda *args, real=real, **kwargs: real(*args, **kwargs) * math.nan)
        try:
            return super().training_step(batch, batch_idx)
        finally:
            self.dist.__dict__.pop("loss", None), self.dist.__dict__.pop("head_loss", None)


def fit(tmp_path, blow_at, max_steps: int, nonfinite: str = "error", overflow_at: int | None = None,
        nan_at=(), nan_batches=(), every_n_train_steps: int = 1, callbacks=(), ckpt_path=None, **trainer_options):
    import lightning as L

    import domains.polynomial.domain  # noqa: F401 - the domain the module names
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=64, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = NanLoss(spec=dm.spec.to_dict(), net=dict(width=32, ffn=64, fourier_features=16),
                     sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True),
                     optim=dict(nonfinite=nonfinite, warmup_steps=0))
    module.blow_at, module.overflow_at, module.nan_at = frozenset(blow_at), overflow_at, frozenset(nan_at)
    module.nan_batches = frozenset(nan_batches)
    checkpoints = RunCheckpoint(dirpath=str(tmp_path / "checkpoints"), monitor=None, save_top_k=0,
                                every_n_train_steps=every_n_train_steps, every_minutes=None)
    trainer = L.Trainer(**{"max_steps": max_steps, "logger": False, "callbacks": [*callbacks, checkpoints],
                           "enable_progress_bar": False, "limit_val_batches": 0, "enable_model_summary": False,
                           "accelerator": "cpu", "gradient_clip_val": 1.0, **trainer_options})
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return trainer, module


def saved(tmp_path) -> tuple[int, bool]:
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    return ckpt["global_step"], all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
                                    if v.is_floating_point())


def test_nonfinite_gradients_stop_the_run_before_a_checkpoint_saves_them(tmp_path):
    """An Inf gradient with a finite loss made every weight NaN at the optimizer step; the step's save wrote them to
    last.ckpt, and the run stopped only at the next step's NaN loss."""
    with pytest.raises(FloatingPointError, match=r"^non-finite gradients \(loss .*\) at global step 2, batch 2 "
                       r"\(\|S\|=\d+\); the last checkpoint saved is .*last\.ckpt \(step 2\); lower model\.optim\.lr"):
        fit(tmp_path, blow_at={2}, max_steps=5)
    assert saved(tmp_path) == (2, True)


def test_a_nonfinite_loss_before_the_first_optimizer_step_does_not_blame_the_learning_rate(tmp_path):
    """A NaN loss at the fit's first batch (data beyond float32's reach, a model option, half precision) said "lower
    model.optim.lr", though no step had applied it."""
    with pytest.raises(FloatingPointError, match=r"^non-finite training loss nan at global step 0, batch 0 "
                       r"\(\|S\|=\d+\); no checkpoint of this run was saved yet; the fit had taken no optimizer step, "
                       r"so its learning rate is not the cause: look at the data, the model's options and "
                       r"trainer\.precision$"):
        fit(tmp_path, blow_at=(), max_steps=3, nan_at={0})


def test_a_nonfinite_loss_at_the_first_step_of_a_resume_names_the_checkpoint(tmp_path):
    """On a resume the first step is the checkpoint's: a NaN loss there was said not to be the learning rate's fault,
    though the checkpoint's weights, which that learning rate trained, give it."""
    fit(tmp_path, blow_at=(), max_steps=2)
    with pytest.raises(FloatingPointError, match=r"^non-finite training loss nan at global step 2, batch \d+ "
                       r"\(\|S\|=\d+\); .*; the fit resumed at this step and had taken no optimizer step since, so the "
                       r"checkpoint's weights give it: resume an earlier checkpoint, or lower model\.optim\.lr$"):
        fit(tmp_path / "resume", blow_at=(), max_steps=4, nan_at={2},
            ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"))


def test_skip_leaves_the_weights_finite_and_counts_the_batches(tmp_path):
    with pytest.warns(UserWarning, match="2 training batches were skipped for a non-finite loss or gradients"):
        trainer, module = fit(tmp_path, blow_at={1, 3}, max_steps=5, nonfinite="skip")
    assert module.skipped_batches == 2
    assert trainer.progress_bar_metrics["train/skipped_batches"] == 2  # the progress lines show it
    assert saved(tmp_path) == (5, True)


def test_skip_stops_a_run_that_skips_every_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(module_lib, "MAX_SKIPPED_IN_A_ROW", 4)
    with pytest.raises(FloatingPointError, match=r"^4 training batches in a row had a non-finite loss or gradients, "
                       r"up to global step 5 .*the run has diverged; the last checkpoint saved is .*last\.ckpt"):
        fit(tmp_path, blow_at=range(2, 100), max_steps=20, nonfinite="skip")
    assert saved(tmp_path)[1]


def test_weights_that_overflow_are_never_saved(tmp_path):
    """With finite loss and gradients an optimizer step can still overflow (model.optim.lr=1e39 is finite in Python and
    Inf in float32): the step's checkpoint wrote the Inf weights."""
    with pytest.raises(FloatingPointError, match=r"^the weights hold NaN or Inf at global step 3 \(1 of \d+ tensors, first "
                       r"model.head.bias\) after an optimizer step .*; not saved; the last checkpoint saved is "
                       r".*last\.ckpt \(step 2\)$"):
        fit(tmp_path, blow_at=(), max_steps=5, overflow_at=2)
    assert saved(tmp_path) == (2, True)


def test_a_ctrl_c_never_saves_weights_that_overflowed(tmp_path):
    """Ctrl-C saves the step under way when it ends: if that step's optimizer step overflowed the weights, the save
    is refused as any other, the run stops as diverged, and the last finite checkpoint stays."""
    import signal

    from tests.cli.ddp_probe import SignalAtStep

    try:
        with pytest.raises(FloatingPointError, match=r"^the weights hold NaN or Inf at global step 5 .*; not saved; "
                           r"the last checkpoint saved is .*last\.ckpt \(step 4\)$"):  # the next save is at step 8
            fit(tmp_path, blow_at=(), max_steps=8, overflow_at=4, every_n_train_steps=4,
                callbacks=[SignalAtStep(step=4)])
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert saved(tmp_path) == (4, True)


def test_skips_apart_are_not_a_run_of_skips_under_a_loss_scaler(tmp_path, monkeypatch):
    """Under 16-mixed the scaler checks the gradients, and a step it took did not end the run of skipped batches:
    NaN losses apart stopped the run as diverged."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    monkeypatch.setattr(module_lib, "MAX_SKIPPED_IN_A_ROW", 2)
    with pytest.warns(UserWarning, match="2 training batches were skipped"):
        trainer, module = fit(tmp_path, blow_at=(), max_steps=6, nonfinite="skip", nan_at={1, 3},
                              plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))])
    assert trainer.global_step == 6 and module.skipped_batches == 2


def test_a_nonfinite_loss_on_one_rank_is_skipped_on_every_rank(tmp_path):
    """Under DDP a skipped step (training_step returning None) is refused by Lightning, and the run crashed; the
    NaN loss of one rank now reaches every rank's gradients, and every rank skips the step."""
    trainer, _ = fit(tmp_path, blow_at=(), max_steps=4, nonfinite="skip", nan_at={2}, strategy="ddp_spawn", devices=2)
    assert trainer.callback_metrics["train/skipped_batches"] == 1  # what the first rank logged
    assert saved(tmp_path) == (4, True)


def test_a_nonfinite_loss_under_ddp_and_a_loss_scaler_follows_the_policy(tmp_path):
    """Under DDP the step of a NaN loss goes on, and a loss scaler skips its non-finite gradients by itself: the
    policy was never applied, so nonfinite=error did not stop the run."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    with pytest.raises(Exception, match=r"non-finite (training loss|gradients) \(loss \S+\) at global step 1"):
        fit(tmp_path, blow_at=(), max_steps=4, nan_at={1}, strategy="ddp_spawn", devices=2,
            plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))])


def test_a_skipped_last_micro_batch_under_a_loss_scaler_does_not_unscale_twice(tmp_path, monkeypatch):
    """With gradient accumulation, a NaN loss on the last micro-batch left the earlier ones' gradients: the clipping
    unscaled them although Lightning took no step, and the next step's unscale_ raised."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    with pytest.warns(UserWarning, match="1 training batch was skipped"):
        trainer, module = fit(tmp_path, blow_at=(), max_steps=4, nonfinite="skip", nan_batches={3},
                              accumulate_grad_batches=2,
                              plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))])
    assert trainer.global_step == 4 and module.skipped_batches == 1


class LossOfEachRank(Logger):
    """A logger on every rank (Lightning's own log on rank zero alone) that writes, with each step's batch loss of
    its rank, the train/loss and train/grad_norm logged there at each step to <folder>/rank<r>.json (a spawned
    process returns nothing else)."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.losses, self.logged, self.norms, self.rank = folder, {}, {}, {}, 0

    @property
    def name(self):
        return "every_rank"

    @property
    def version(self):
        return 0

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        if "train/loss" in metrics:
            self.logged[step] = float(metrics["train/loss"])
            self.write()
        if "train/grad_norm" in metrics:
            self.norms[step] = float(metrics["train/grad_norm"])
            self.write()

    def after_step(self, trainer, pl_module):
        self.rank, self.losses[trainer.global_step - 1] = trainer.global_rank, pl_module._step_note[2]
        self.write()

    def write(self):
        (self.folder / f"rank{self.rank}.json").write_text(json.dumps({"losses": self.losses, "logged": self.logged,
                                                                      "norms": self.norms}))


class AfterStep(Callback):
    def __init__(self, record: LossOfEachRank):
        self.record = record

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.record.after_step(trainer, pl_module)


def test_under_ddp_train_loss_is_the_mean_of_the_ranks_losses(tmp_path):
    """train/loss was each rank's own batch loss, so the dashboard (rank zero's) showed one rank's. It is the mean of
    every rank's, the same on every rank; a step with a NaN loss on one rank is skipped on both as before, without a
    collective that one rank alone reaches (the run would hang), and logs no mean (Lightning repeats the last)."""
    record = LossOfEachRank(tmp_path)
    fit(tmp_path, blow_at=(), max_steps=4, nonfinite="skip", nan_at={2}, strategy="ddp_spawn", devices=2,
        logger=record, log_every_n_steps=1, callbacks=[AfterStep(record)])
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(sorted(r["losses"]) == sorted(r["logged"]) == ["0", "1", "2", "3"] for r in ranks)
    assert math.isnan(ranks[0]["losses"]["2"]) and math.isfinite(ranks[1]["losses"]["2"])
    assert ranks[0]["logged"] == ranks[1]["logged"]
    for step in ("0", "1", "3"):
        assert ranks[0]["losses"][step] != pytest.approx(ranks[1]["losses"][step], rel=1e-3)  # two batches
        mean = (ranks[0]["losses"][step] + ranks[1]["losses"][step]) / 2
        assert ranks[0]["logged"][step] == pytest.approx(mean, rel=1e-6), step
    assert ranks[0]["logged"]["2"] == ranks[0]["logged"]["1"]
    # the gradient norm of each finite step, the reduced gradients' (the same on both ranks, though their batches
    # differ), before clipping
    assert all(ranks[0]["norms"][step] == ranks[1]["norms"][step] > 0 for step in ("0", "1", "3"))
    assert saved(tmp_path) == (4, True)


def test_a_single_process_logs_each_step_s_own_loss(tmp_path):
    record = LossOfEachRank(tmp_path)
    fit(tmp_path, blow_at=(), max_steps=3, logger=record, log_every_n_steps=1, callbacks=[AfterStep(record)])
    rank = json.loads((tmp_path / "rank0.json").read_text())
    assert sorted(rank["logged"]) == ["0", "1", "2"]
    assert all(rank["logged"][step] == pytest.approx(loss, rel=1e-6) for step, loss in rank["losses"].items())


def test_a_step_with_nonfinite_gradients_logs_the_previous_step_s_norm_again(tmp_path):
    """The dashboard page said such a step logs no train/grad_norm; Lightning's logger gets the previous step's
    again, as for train/loss."""
    record = LossOfEachRank(tmp_path)
    fit(tmp_path, blow_at={2}, max_steps=4, nonfinite="skip", logger=record, log_every_n_steps=1,
        callbacks=[AfterStep(record)])
    norms = json.loads((tmp_path / "rank0.json").read_text())["norms"]
    assert sorted(norms) == ["0", "1", "2", "3"]
    assert norms["2"] == norms["1"] != norms["3"]


def test_a_nonfinite_loss_on_one_rank_stops_every_rank(tmp_path):
    """The error policy under DDP without a loss scaler: every rank stops at the step (the first rank for its loss,
    the second for the gradients it shares), none waits in a collective."""
    with pytest.raises(Exception, match=r"non-finite (training loss|gradients) \(loss \S+\) at global step 1"):
        fit(tmp_path, blow_at=(), max_steps=4, nan_at={1}, strategy="ddp_spawn", devices=2)
    assert saved(tmp_path) == (1, True)


def test_an_evaluation_of_weights_whose_outputs_overflow_is_refused(tmp_path):
    """Finite weights whose outputs overflow (saved while the training diverged) passed the checkpoint's check, and
    `make eval` wrote metrics.json with "mse": Infinity and "nll": null, its exit status 0."""
    import lightning as L

    import domains.polynomial.domain  # noqa: F401 - the domain the module names
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=8, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = module_lib.PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=32, ffn=64, fourier_features=16),
                                               sets=dict(min_context=4, max_context=10, num_queries=8,
                                                         grid_points=True), val_levels=[4, 6])
    with torch.no_grad():
        module.model.head.weight.mul_(1e37)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        callbacks=[SweepEvaluation(levels=(4, 6), out_dir=str(tmp_path / "eval"))])
    with pytest.raises(FloatingPointError, match=r"^the model's predictions hold NaN or Inf at \d+ of 4 x \d+ "
                       r"test queries at \|S\| = 4 \(items 0, 1, 2, 3\) from a finite S"):
        trainer.test(module, datamodule=dm)
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_the_evaluation_refuses_its_own_predictions_that_overflow(tiny_module, two_functions):
    """The overflow check of `make eval` ran on the validation sampler's queries, not on the evaluation's own contexts
    and queries that metrics.json scores: outputs that overflow there alone reached metrics.json as Infinity."""
    with torch.no_grad():
        tiny_module.model.head.weight.mul_(1e37)
    with pytest.raises(PredictionOverflow, match=r"^the model's predictions hold NaN or Inf at \d+ of 2 x 64 test "
                       r"queries at \|S\| = 5 \(items 3, 7\) from a finite S"):
        SweepEvaluation(levels=(5,)).evaluate_batch(tiny_module, {"signal": two_functions,
                                                                  "index": torch.tensor([3, 7])})


class NanValidation(module_lib.PixelTransformerModule):
    """Its validation NLL is NaN (weights whose outputs overflow), its training loss finite."""

    def nll_per_dim(self, params, value):
        return super().nll_per_dim(params, value) * math.nan


def test_a_validation_of_nan_ranks_no_best_checkpoint(tmp_path):
    """Lightning took the first validation for the best, whatever its score: a NaN val/nll (ranked as Inf) saved
    best-step000002.ckpt, and the fit's last line said to evaluate it ("best val/nll inf")."""
    import lightning as L

    import domains.polynomial.domain  # noqa: F401 - the domain the module names
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=16, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = NanValidation(spec=dm.spec.to_dict(), net=dict(width=32, ffn=64, fourier_features=16),
                           sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True), val_levels=[4])
    checkpoints = RunCheckpoint(dirpath=str(tmp_path / "checkpoints"), every_n_train_steps=2, every_minutes=None)
    trainer = L.Trainer(max_steps=4, val_check_interval=2, logger=False, callbacks=[checkpoints],
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    assert math.isnan(trainer.callback_metrics["val/nll"])
    assert checkpoints.best_model_path == "" and checkpoints.best_model_score is None
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]
