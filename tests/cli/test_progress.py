"""Progress output: plain lines with step counts of the whole run when stdout is not a terminal (a log file),
and a live bar counted in steps (no "Epoch 0/-2", no "400/349" after a resume)."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import torch

from pixeltransformer.progress import LogLines, StepBar, step_progress_bar

REPO = Path(__file__).resolve().parents[2]
COMMON = ["--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128", "--model.val_levels=[4,10]",
          "--data.init_args.resolution=64", "--data.init_args.train_size=16", "--data.init_args.val_size=4",
          "--data.init_args.test_size=4", "--data.init_args.batch_size=4", "--trainer.val_check_interval=6",
          "--checkpoint.every_n_train_steps=6", "--trainer.logger=false", "--trainer.enable_model_summary=false",
          "--trainer.callbacks=[]", "--trainer.accelerator=cpu"]


def _lines(text: str, tag: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"[{tag}]")]


def test_fit_to_a_log_prints_steps_of_the_run_and_every_validation(tmp_path, capsys, monkeypatch):
    from pixeltransformer.cli import main

    monkeypatch.setattr(LogLines, "EVERY_N_STEPS", 5)
    cli = main(["fit", *COMMON, "--trainer.max_steps=12", "--run_root", str(tmp_path), "--run_name", "r"])
    assert isinstance(cli.trainer.progress_bar_callback, LogLines)  # pytest's stdout is not a terminal
    out = capsys.readouterr().out
    train = _lines(out, "train")
    assert train[0] == "[train] start at step 0/12"
    steps = [int(re.match(r"\[train\] step (\d+)/12 ", line).group(1)) for line in train[1:]]
    assert steps == [5, 10, 12]  # every 5 steps, and the last
    for line in train[1:]:
        assert re.search(r" train/loss -?\d[\d.e+-]*  [\d.e+-]+ it/s  elapsed \d+:\d\d:\d\d  ETA \d+:\d\d:\d\d$",
                         line), line
    assert train[-1].startswith("[train] step 12/12 (100.0%)") and train[-1].endswith("ETA 0:00:00")
    val = _lines(out, "val")
    assert [line.split("  ")[0] for line in val] == ["[val] step 6/12", "[val] step 12/12"]
    for line in val:  # the mean and every |S| level, in numeric order
        assert re.fullmatch(r"\[val\] step \d+/12  val/nll \S+  val/nll@4 \S+  val/nll@10 \S+", line), line

    # a resumed run counts from where it stopped, against the run's total steps
    main(["fit", *COMMON, "--trainer.max_steps=16", "--resume", str(tmp_path / "polynomial" / "r")])
    train = _lines(capsys.readouterr().out, "train")
    assert train[0] == "[train] resume at step 12/16"
    assert [line.split(" (")[0] for line in train[1:]] == ["[train] step 15/16", "[train] step 16/16"]


def test_max_epochs_that_stops_first_is_the_total(tmp_path, capsys):
    """--trainer.max_epochs=2 beside a config's max_steps: the run is 2 epochs of 4 steps, not max_steps long."""
    from pixeltransformer.cli import main

    main(["fit", *COMMON, "--trainer.max_steps=1000", "--trainer.max_epochs=2", "--run_root", str(tmp_path),
          "--run_name", "e"])
    out = capsys.readouterr().out
    train = _lines(out, "train")
    assert train[0] == "[train] start at step 0/8"
    assert train[-1].startswith("[train] step 8/8 (100.0%)") and train[-1].endswith("ETA 0:00:00")
    assert _lines(out, "val")[0].startswith("[val] step 6/8  ")


def test_progress_off_and_bar_choice(tmp_path):
    from pixeltransformer.cli import main

    cli = main([*COMMON, "--trainer.max_steps=1", "--trainer.enable_progress_bar=false",
                "--run_root", str(tmp_path), "--run_name", "off"], run=False)
    assert cli.trainer.progress_bar_callback is None

    class Terminal:
        def isatty(self) -> bool:
            return True

    assert isinstance(step_progress_bar(Terminal()), StepBar)
    assert isinstance(step_progress_bar(tmp_path.joinpath("log").open("w")), LogLines)


def test_live_bar_counts_steps_of_the_run_across_a_resume(tmp_path):
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.checkpointing import RunCheckpoint
    from pixeltransformer.module import PixelTransformerModule

    def fit(steps: int, ckpt: str | None = None) -> StepBar:
        dm = PolynomialDataModule(train_size=20, val_size=4, test_size=4, batch_size=4, resolution=64)
        module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                        sets=dict(max_context=8, num_queries=8, grid_points=True))
        bar = StepBar()
        trainer = L.Trainer(max_steps=steps, logger=False, callbacks=[bar, RunCheckpoint(monitor=None, every_n_train_steps=4)],
                            limit_val_batches=0, enable_model_summary=False, accelerator="cpu",
                            default_root_dir=str(tmp_path))
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
        return bar

    bar = fit(7)  # 5 batches an epoch: the run crosses an epoch boundary
    task = bar.progress.tasks[bar.train_progress_bar_id]
    assert (task.completed, task.total, task.description) == (7, 7, "train")
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 7
    bar = fit(9, str(tmp_path / "checkpoints" / "last.ckpt"))
    task = bar.progress.tasks[bar.train_progress_bar_id]
    assert (task.completed, task.total, task.description) == (9, 9, "train")


def test_an_evaluation_s_last_line_counts_its_batches_in_words():
    """Every `make sample` (a prediction is one batch) ended on "[predict] 1 batches in 0:00:00"."""
    import io

    out = io.StringIO()
    bar = LogLines(stream=out)
    for stage, batches in (("predict", 1), ("test", 3)):
        bar._eval_begin()
        for _ in range(batches):
            bar._eval_step(stage, batches)
        bar._eval_end(stage)
    assert [line.rsplit(" in ", 1)[0] for line in out.getvalue().splitlines()] == ["[predict] 1 batch",
                                                                                   "[test] 3 batches"]


def test_an_evaluation_s_last_line_under_ddp_says_its_batches_are_each_process_s():
    """Under DDP the count is the first process's share: a 2-process test of 200 digits ended on "[test] 4 batches",
    the same evaluation in one process on "[test] 7 batches"."""
    import io

    out = io.StringIO()
    bar = LogLines(stream=out)
    bar._eval_begin()
    for _ in range(4):
        bar._eval_step("test", 4)
    bar._eval_end("test", processes=2)
    assert out.getvalue().rsplit(" in ", 1)[0] == "[test] 4 batches (each of 2 processes)"


def test_a_fit_s_validation_prints_its_batches_while_it_runs(monkeypatch):
    """A paper-size fit on a loaded CPU validated and drew its pictures for 6 minutes without a line in its log:
    a fit's validation prints its batch count on the schedule of a test's (not during the sanity check), and when it
    will end: the batch lines of a validation, test or predict had no ETA, which the training lines have."""
    import io
    from types import SimpleNamespace

    from pixeltransformer import progress

    clock = iter(range(0, 10_000, 40))  # each reading 40 s after the last: every batch is due a line
    # progress.py's clock alone: the time module stays real for everything else
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
    out = io.StringIO()
    bar = LogLines(stream=out)
    for sanity in (True, False):
        trainer = SimpleNamespace(state=SimpleNamespace(fn="fit"), sanity_checking=sanity, num_val_batches=[3])
        bar.on_validation_start(trainer, None)
        for i in range(3):
            bar.on_validation_batch_end(trainer, None, None, None, i)
    assert out.getvalue().splitlines() == ["[val] batch 1/3  elapsed 0:00:40  ETA 0:01:20",
                                           "[val] batch 2/3  elapsed 0:01:20  ETA 0:00:40",
                                           "[val] batch 3/3  elapsed 0:02:00  ETA 0:00:00"]


def test_pictures_that_take_long_print_a_line_per_context(tmp_path, capsys, monkeypatch):
    """The pictures after each validation sample every context: a line per context once they take over a second."""
    import domains.polynomial.domain  # noqa: F401  (its pictures)
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer import loopbar
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule

    monkeypatch.setattr(loopbar, "DELAY_SECONDS", 0.0)
    dm = PolynomialDataModule(train_size=4, val_size=2, test_size=2, batch_size=2, resolution=16)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=16, ffn=32, heads=2, encoder_layers=1,
                                    decoder_layers=1)).eval()
    signal = torch.rand(1, 1, 16) * 2 - 1  # [1, 1, 16]
    Pictures(num_examples=1, levels=(2, 4), num_samples=1, n_autoregressive=2).draw(module, signal, tmp_path)
    lines = [line.split(" (")[0] for line in capsys.readouterr().err.splitlines() if line.startswith("[pictures]")]
    assert lines == ["[pictures] 1/2 contexts", "[pictures] 2/2 contexts"]


def test_the_eta_counts_the_validations_of_an_accumulating_fit():
    """trainer.val_check_interval counts training batches: `--trainer.accumulate_grad_batches 2` with an interval of
    2 validates at every step, 4 times in a 4-step fit, but the ETA counted the validations left in steps (2), and
    so added half of their time."""
    from types import SimpleNamespace

    from pixeltransformer.progress import validations_left

    trainer = SimpleNamespace(val_check_interval=2, val_check_batch=2, check_val_every_n_epoch=None,
                              enable_validation=True, global_step=0, accumulate_grad_batches=2)
    assert validations_left(trainer, 4) == 4
    trainer.global_step = 1
    assert validations_left(trainer, 4) == 3
    trainer.accumulate_grad_batches = 1  # a step a batch: validations at steps 2 and 4
    assert validations_left(trainer, 4) == 2
