"""Run-folder checkpoints: atomic writes, saves by wall time, the W&B run id kept across a resume, and a fit stopped
by Ctrl-C or SIGTERM saved at the end of its step."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.utilities.exceptions import SIGTERMException

from domains.polynomial.data import PolynomialDataModule
from pixeltransformer.checkpointing import RunCheckpoint
from pixeltransformer.datamodule import ResumableRandomSampler
from pixeltransformer.errors import StageInterrupted
from pixeltransformer.module import PixelTransformerModule

REPO = Path(__file__).resolve().parents[2]


def _fit(tmp_path: Path, callback: RunCheckpoint, steps: int, **trainer_options) -> L.Trainer:
    """A tiny polynomial fit with the callback; without validation unless trainer_options ask for it."""
    dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128), val_levels=(4,),
                                    sets=dict(max_context=8, num_queries=8, grid_points=True))
    trainer = L.Trainer(max_steps=steps, logger=False, callbacks=[callback], enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path),
                        **{"limit_val_batches": 0, **trainer_options})
    trainer.fit(module, datamodule=dm)
    return trainer


def test_checkpoint_saved_by_wall_time(tmp_path):
    cb = RunCheckpoint(monitor=None, every_n_train_steps=1000, every_minutes=1e-9)  # due after every step
    _fit(tmp_path, cb, steps=3)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3
    assert not list((tmp_path / "checkpoints").glob("*.partial"))


@pytest.mark.parametrize("monitor", ["train/loss", "step"])
def test_a_monitor_of_a_value_training_logs_is_taken(tmp_path, monitor):
    """train/ values come with training steps, after the sanity check, and Lightning ranks by its step and epoch too:
    the check of the monitor at the sanity check's end (test_cli) refuses none of them."""
    cb = RunCheckpoint(monitor=monitor, every_n_train_steps=2)
    trainer = _fit(tmp_path, cb, steps=2, limit_val_batches=None, val_check_interval=2, num_sanity_val_steps=1)
    assert trainer.global_step == 2 and cb.best_model_score is not None


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    cb = RunCheckpoint(monitor=None, every_n_train_steps=2, every_minutes=None)
    trainer = _fit(tmp_path, cb, steps=2)
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def dying_save(path, weights_only=False):
        Path(path).write_bytes(before[: len(before) // 3])  # half-written, then the job dies
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(trainer, "save_checkpoint", dying_save)
    with pytest.raises(KeyboardInterrupt):
        cb._save_checkpoint(trainer, str(last))
    assert last.read_bytes() == before
    assert torch.load(last, weights_only=True)["global_step"] == 2


def test_resume_keeps_the_wandb_run_id(tmp_path):
    from pixeltransformer.cli import main

    common = ["--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128", "--trainer.max_steps=2",
              "--trainer.val_check_interval=2", "--checkpoint.every_n_train_steps=2", "--trainer.enable_progress_bar=false",
              "--data.init_args.train_size=16", "--data.init_args.val_size=4", "--data.init_args.resolution=64",
              "--data.init_args.batch_size=4", "--model.val_levels=[4]"]
    cli = main(["fit", *common, "--run_root", str(tmp_path), "--run_name", "r", "--trainer.callbacks=[]"])
    run = tmp_path / "polynomial" / "r"
    first_id = (run / "wandb_id.txt").read_text().strip()
    assert cli.trainer.logger._wandb_init["id"] == first_id
    assert "anonymous" not in cli.trainer.logger._wandb_init  # wandb warns about the deprecated setting, even None
    config = run / "config.yaml"
    assert yaml.safe_load(config.read_text())["trainer"]["logger"]["init_args"]["id"] is None  # wandb_id.txt has it
    # as earlier versions wrote the id of a run whose id was digits, an e and digits: the parser reads a number
    for step, written in ((4, "2.048e+126"), (6, "1.0e+126"), (8, ".inf"), (10, "1234e567")):
        (run / "wandb_id.txt").write_text("1234e567\n")
        config.write_text(config.read_text().replace("      id: null\n", f"      id: {written}\n"))
        assert yaml.safe_load(config.read_text())["trainer"]["logger"]["init_args"]["id"] is not None
        again = main(["fit", *common, f"--trainer.max_steps={step}", "--resume", str(run), "--trainer.callbacks=[]"])
        assert again.trainer.global_step == step and again.trainer.logger._wandb_init["id"] == "1234e567"
        assert yaml.safe_load(config.read_text())["trainer"]["logger"]["init_args"]["id"] is None
    (run / "wandb_id.txt").write_text(first_id + "\n")
    again = main(["fit", *common, "--trainer.max_steps=12", "--resume", str(run), "--trainer.callbacks=[]"])
    assert again.trainer.logger._wandb_init["id"] == first_id  # no W&B folder yet: nothing to keep apart from
    assert again.trainer.logger._wandb_init["group"] == "polynomial/r"  # with the run's evaluations
    assert again.trainer.global_step == 12


def test_each_offline_segment_of_a_run_gets_its_own_wandb_id(tmp_path):
    """W&B cannot resume a run offline, and `wandb sync` of two offline folders of one id keeps one's history: each
    resume of an offline run is a W&B run of its own (the run folder's group), never an id that is there already."""
    from pixeltransformer.wandbsetup import offline_segment

    wandb_dir = tmp_path / "wandb"
    assert offline_segment("ab12", wandb_dir) == ("ab12", 0)  # no folder: the run's first segment
    (wandb_dir / "offline-run-20261201_101010-ab12").mkdir(parents=True)
    (wandb_dir / "latest-run").mkdir()
    (wandb_dir / "offline-run-20261201_102020-zz99").mkdir()  # an evaluation's W&B run: not a segment
    assert offline_segment("ab12", wandb_dir) == ("ab12-1", 1)
    (wandb_dir / "offline-run-20261201_111111-ab12-1").mkdir()
    assert offline_segment("ab12", wandb_dir) == ("ab12-2", 2)
    (wandb_dir / "offline-run-20261201_121212-ab12-2").mkdir()
    (wandb_dir / "offline-run-20261201_131313-ab12-3").mkdir()  # a segment whose folder outlived an earlier one's
    assert offline_segment("ab12", wandb_dir) == ("ab12-4", 4)
    online_first = tmp_path / "online" / "wandb"
    (online_first / "run-20261201_101010-cd34").mkdir(parents=True)  # trained online, resumed offline
    assert offline_segment("cd34", online_first) == ("cd34-1", 1)


def test_a_resume_goes_on_with_the_run_s_own_config(tmp_path, monkeypatch):
    """`fit --resume RUN` alone (what `make train RESUME=RUN` runs): the run's config.yaml supplies the data, the
    model and max_steps; options on the command line apply on top of it."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128",
          "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.enable_progress_bar=false",
          "--data.init_args.train_size=16", "--data.init_args.val_size=4", "--data.init_args.resolution=48",
          "--data.init_args.batch_size=4", "--model.val_levels=[4]",
          "--run_root", str(tmp_path), "--run_name", "r"])
    run = tmp_path / "polynomial" / "r"
    same = main(["fit", "--resume", str(run)])  # already at its max_steps: nothing to do, and the fit never starts
    assert same.trainer.max_steps == 2 and same.trainer.global_step == 0
    longer = main(["fit", "--resume", str(run), "--trainer.max_steps=4"])
    assert longer.trainer.global_step == 4
    assert longer.model.net_config.width == 64 and longer.datamodule.resolution == 48


def _small_run(tmp_path: Path, name: str = "r") -> Path:
    from pixeltransformer.cli import main

    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128",
          "--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.enable_progress_bar=false",
          "--data.init_args.train_size=16", "--data.init_args.val_size=4", "--data.init_args.resolution=48",
          "--data.init_args.batch_size=4", "--model.val_levels=[4]",
          "--run_root", str(tmp_path), "--run_name", name])
    return tmp_path / "polynomial" / name


def test_a_moved_run_resumes_from_its_own_last_checkpoint(tmp_path, monkeypatch):
    """A run folder moved (or copied) elsewhere goes on writing its last.ckpt, which every later resume continues
    from; its best checkpoint is still known there; config.yaml does not tie it to where it was."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path / "before", "r")
    main(["fit", "--resume", str(run), "--trainer.max_steps=4"])  # a resume before the move records its start
    moved = tmp_path / "after" / "polynomial" / "r"
    moved.parent.mkdir(parents=True)
    run.rename(moved)
    for steps in (6, 8):
        cli = main(["fit", "--resume", str(moved), f"--trainer.max_steps={steps}"])
        assert cli.trainer.global_step == steps
        last = torch.load(moved / "checkpoints" / "last.ckpt", weights_only=True)
        assert last["global_step"] == steps
    assert sorted(p.name for p in (moved / "checkpoints").glob("last*")) == ["last.ckpt"]
    assert Path(cli.trainer.checkpoint_callback.best_model_path).parent == moved / "checkpoints"
    assert Path(cli.trainer.checkpoint_callback.best_model_path).is_file()
    config = (moved / "config.yaml").read_text()
    assert "\nckpt_path: null\n" in config and "\nresume: null\n" in config


def test_an_evaluation_of_last_ckpt_leaves_it_as_the_fit_wrote_it(tmp_path, monkeypatch):
    """`validate` and `test` of a run's last.ckpt neither rewrite nor re-date it (which run a resume finds is the
    latest last.ckpt), and a resume after them goes on from its step: nothing trained at the run's max_steps, the
    steps up to a later one after it."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)  # 2 steps
    last = run / "checkpoints" / "last.ckpt"
    written = last.read_bytes(), last.stat().st_mtime_ns
    for subcommand in ("validate", "test"):
        main([subcommand, "--config", str(run / "config.yaml"), "--ckpt_path", str(last)])
        assert (last.read_bytes(), last.stat().st_mtime_ns) == written, subcommand
    main(["fit", "--resume", str(run)])  # at its max_steps: trains nothing
    assert (last.read_bytes(), last.stat().st_mtime_ns) == written
    cli = main(["fit", "--resume", str(run), "--trainer.max_steps=4"])
    assert cli.trainer.global_step == 4 and torch.load(last, weights_only=True)["global_step"] == 4


def test_a_resume_with_other_save_options_goes_on_writing_last_ckpt(tmp_path, monkeypatch):
    """--checkpoint.every_n_train_steps changed on a resume: last.ckpt is still the file written, and the next resume
    starts from it; the best checkpoint is still known (one best file). Lightning kept the callback's state under a
    key naming the save options, so the state was not found: last-v1.ckpt was written beside a stale last.ckpt.
    The same holds for a checkpoint of an earlier version (its key named them), and last.ckpt for another monitor."""
    import json

    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)  # 2 steps, saved at the end (every_n_train_steps: 1000) and at its validation
    ckpts = run / "checkpoints"

    def saved(cli) -> tuple[int, list[str]]:
        best = sorted(p.name for p in ckpts.glob("best-*.ckpt"))
        assert best == [Path(cli.trainer.checkpoint_callback.best_model_path).name]  # known, and no stale best left
        assert sorted(p.name for p in ckpts.glob("last*")) == ["last.ckpt"]
        return torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"]

    cli = main(["fit", "--resume", str(run), "--trainer.max_steps=4", "--checkpoint.every_n_train_steps=1"])
    assert saved(cli) == 4
    last = torch.load(ckpts / "last.ckpt", weights_only=True)  # as an earlier version wrote it: the save options
    [key] = [k for k in last["callbacks"] if k.startswith("RunCheckpoint")]  # in the callback's key
    last["callbacks"][key[:-1] + ", 'every_n_train_steps': 1, 'every_n_epochs': 0, 'train_time_interval': None}"] = (
        last["callbacks"].pop(key))
    torch.save(last, ckpts / "last.ckpt")
    probe = tmp_path / "probe.yaml"  # counts the steps a fit trains
    probe.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.MetricsDump\n"
                     f"      init_args: {{path: {tmp_path / 'steps.json'}}}\n")
    cli = main(["fit", "--resume", str(run), "--config", str(probe), "--trainer.max_steps=5",
                "--checkpoint.every_n_train_steps=3"])
    assert len(json.loads((tmp_path / "steps.json").read_text())["losses"]) == 1  # from step 4
    assert saved(cli) == 5
    cli = main(["fit", "--resume", str(run), "--trainer.max_steps=6", "--checkpoint.monitor=val/nll@4"])
    assert sorted(p.name for p in ckpts.glob("last*")) == ["last.ckpt"]
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 6


def test_a_new_run_from_another_run_s_checkpoint_claims_none_of_its_files(tmp_path, monkeypatch):
    """fit --ckpt_path <another run's last.ckpt> into a new run folder: that run's best checkpoint is not carried
    over as if it were the new run's (it is not in the new folder); the new run keeps its own bookkeeping."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path, "a")
    cli = main(["fit", "--config", str(run / "config.yaml"), "--run_name", "c", "--trainer.max_steps=3",
                "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])  # no validation in its one step
    callback = cli.trainer.checkpoint_callback
    assert cli.trainer.global_step == 3 and callback.best_model_path
    assert all(Path(path).is_file() for path in [callback.best_model_path, *callback.best_k_models])


def test_optimizer_options_given_on_a_resume_apply(tmp_path, monkeypatch):
    """--model.optim.lr and weight_decay on a resume take effect (Lightning restores the optimizer and schedule as
    they were built), as config.yaml then records."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)
    cli = main(["fit", "--resume", str(run), "--trainer.max_steps=4", "--model.optim.lr=0.01",
                "--model.optim.weight_decay=0.2"])
    opt, sched = cli.trainer.optimizers[0], cli.trainer.lr_scheduler_configs[0].scheduler
    assert sched.base_lrs == [0.01, 0.01] and sched.last_epoch == 4
    assert [g["lr"] for g in opt.param_groups] == [0.01 * sched.lr_lambdas[0](4)] * 2
    assert [g["weight_decay"] for g in opt.param_groups] == [0.2, 0.0]
    assert "lr: 0.01\n" in (run / "config.yaml").read_text()


def test_a_resume_that_changes_the_model_fails_before_writing(tmp_path, monkeypatch):
    """--model.net.width on a resume would not fit the weights: one line naming the option, and the run's
    config.yaml and command.txt are left as they were."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)
    before = {name: (run / name).read_text() for name in ("config.yaml", "command.txt")}
    with pytest.raises(ValueError, match=r"^checkpoint was trained with model\.net\.width=64; pass --model\.net\.width 64$"):
        main(["fit", "--resume", str(run), "--trainer.max_steps=4", "--model.net.width=32"])
    assert {name: (run / name).read_text() for name in before} == before


def test_a_resume_of_a_checkpoint_with_edited_hyperparameters_names_the_file(tmp_path, monkeypatch):
    """last.ckpt's hyper_parameters and the run's config.yaml both edited to another width than its weights: the
    refusal names the file, as the same refusal of a --ckpt_path does, where it began "checkpoint:"."""
    import re

    from pixeltransformer.cli import main
    from pixeltransformer.loading import CheckpointError

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["hyper_parameters"]["net"] = {**ckpt["hyper_parameters"]["net"], "width": 32}
    torch.save(ckpt, last)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["net"]["width"] = 32
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    refusal = rf"^{re.escape(str(last))}: weights do not match the model its hyper_parameters describe \("
    with pytest.raises(CheckpointError, match=refusal):
        main(["fit", "--resume", str(run), "--trainer.max_steps=4"])


def test_a_resume_on_another_dataset_fails_before_writing(tmp_path, monkeypatch):
    """`--resume <polynomial run> --data.init_args.dataset=gp_rbf` trained the run on GP draws without a word: its
    curves went on over other data and its best checkpoint was ranked by other validation items; over a config file
    of that data (configs/polynomial/gp_rbf.yaml) the line named a model option to pass. One line names the two
    datasets and the new run to start instead; nothing of the run is written. The new run it names trains."""
    import re
    import shlex

    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = _small_run(tmp_path)
    before = {name: (run / name).read_text() for name in ("config.yaml", "command.txt")}
    config, last = (shlex.quote(str(p)) for p in (run / "config.yaml", run / "checkpoints" / "last.ckpt"))
    for other in (["--data.init_args.dataset=gp_rbf"], ["--config", str(REPO / "configs/polynomial/gp_rbf.yaml")]):
        with pytest.raises(ValueError, match=rf"^--resume {run}: the run trained on polynomial/polynomial data, and "
                                             r"this fit's is polynomial/gp_rbf: a run goes on with its own data; to "
                                             r"train its weights on other data, start a new run from its checkpoint: "
                                             rf"pixeltransformer fit --config {config} --ckpt_path {last} --run_name "
                                             r"NEW, then the options given \(without --resume\)$") as err:
            main(["fit", "--resume", str(run), "--trainer.max_steps=4", *other])
    assert {name: (run / name).read_text() for name in before} == before
    assert not list((run / "checkpoints").glob("*step000004*"))
    command = re.search(r"checkpoint: pixeltransformer (.*), then the options given", str(err.value))[1]
    cli = main([*shlex.split(command), *other, "--trainer.max_steps=4", "--run_root", str(tmp_path)])
    assert cli.model.spec.dataset == "gp_rbf" and cli.trainer.global_step == 4  # from the run's step 2
    assert Path(cli.trainer.checkpoint_callback.best_model_path).parent.parent == tmp_path / "polynomial" / "NEW"


def test_kill_before_first_validation_then_resume_matches_uninterrupted(tmp_path):
    """SIGKILL a run after its step-6 checkpoint and before its first validation (step 12); resuming it must
    end with the weights of a run that was never interrupted: last.ckpt exists although val/nll does not yet,
    and the data order and the set sampler continue where they stopped (mid-epoch; the rest crosses an epoch)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from pixeltransformer.cli import main

    common = ["--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128", "--model.val_levels=[4,10]",
              "--data.init_args.resolution=64", "--data.init_args.train_size=40", "--data.init_args.val_size=4",
              "--data.init_args.test_size=4", "--data.init_args.batch_size=4", "--trainer.max_steps=16",
              "--trainer.val_check_interval=12", "--checkpoint.every_n_train_steps=3", "--trainer.logger=false",
              "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
              "--trainer.accelerator=cpu", "--run_root", str(tmp_path)]
    flag = tmp_path / "paused"
    pause = tmp_path / "pause.yaml"
    pause.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.PauseAtStep\n"
                     f"      init_args: {{step: 7, flag: {flag}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXELTRANSFORMER_", "LOCAL_RANK", "WORLD_SIZE"))}
    env.update(WANDB_MODE="disabled", PYTHONPATH=f"{REPO / 'src'}:{REPO}", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "pixeltransformer.cli", "fit", *common, "--config", str(pause),
                             "--run_name", "killed"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # the uninterrupted run meanwhile, in this process
        straight = main(["fit", *common, "--trainer.callbacks=[]", "--run_name", "straight"])
        assert straight.trainer.global_step == 16
        deadline = time.time() + 300
        while not flag.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert flag.exists(), proc.stderr.read()[-3000:] if proc.poll() is not None else "the run never paused"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run = tmp_path / "polynomial" / "killed"
    killed = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert killed["global_step"] == 6
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]  # no validation, no best yet

    resumed = main(["fit", *common, "--trainer.callbacks=[]", "--resume", str(run)])
    assert resumed.trainer.global_step == 16
    a = torch.load(tmp_path / "polynomial" / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 16
    for key, value in a["state_dict"].items():
        assert torch.allclose(value, b["state_dict"][key], atol=1e-6, rtol=0), key
    best = [p.name for p in (run / "checkpoints").glob("best-*.ckpt")]
    assert best == ["best-step000012.ckpt"]  # chosen at the validation, by that validation's val/nll


def test_best_checkpoint_is_ranked_by_its_own_validation(tmp_path):
    """A step save and a validation at the same step: the best file's score is that step's val/nll (Lightning's
    own order would rank the step-6 weights by the step-3 validation)."""
    from lightning.pytorch.callbacks import Callback

    class ValRecorder(Callback):
        def __init__(self):
            self.val: dict[int, float] = {}

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.val[trainer.global_step] = float(trainer.callback_metrics["val/nll"])

    dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(max_context=8, num_queries=8, grid_points=True),
                                    optim=dict(lr=1e-2, warmup_steps=1), val_levels=(4,))
    cb, rec = RunCheckpoint(every_n_train_steps=3, every_minutes=None), ValRecorder()
    trainer = L.Trainer(max_steps=9, logger=False, callbacks=[rec, cb], enable_progress_bar=False,
                        val_check_interval=3, check_val_every_n_epoch=None, num_sanity_val_steps=0,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=dm)
    assert sorted(rec.val) == [3, 6, 9]
    best_step = min(rec.val, key=rec.val.get)
    assert Path(cb.best_model_path).name == f"best-step{best_step:06d}.ckpt"
    assert float(cb.best_model_score) == pytest.approx(rec.val[best_step])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == sorted(
        ["last.ckpt", f"best-step{best_step:06d}.ckpt"])
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 9
    state = next(v for k, v in last["callbacks"].items() if k.startswith("RunCheckpoint"))
    assert Path(state["best_model_path"]).name == f"best-step{best_step:06d}.ckpt"  # last.ckpt knows the best


def test_a_best_checkpoint_and_last_ckpt_of_one_step_share_their_bytes(tmp_path):
    """A best checkpoint and last.ckpt of the same step were two whole copies on disk. They are one file's bytes
    under two names now; a later, worse step writes last.ckpt anew and the best file keeps its step."""
    import os

    from lightning.pytorch.callbacks import Callback

    scores = {2: 1.0, 4: 2.0, 6: 0.5}  # the score each validation logs: 4 is worse, 6 the best

    class Scores(Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            pl_module.log("val/score", scores[trainer.global_step])

    class Files(Callback):  # what the validation before a step left on disk
        def __init__(self):
            self.seen: dict[int, tuple[bool, int]] = {}

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            folder = tmp_path / "checkpoints"
            best = folder / "best-step000002.ckpt"
            if trainer.global_step in scores:
                self.seen[trainer.global_step] = (os.path.samefile(best, folder / "last.ckpt"),
                                                  torch.load(best, weights_only=True)["global_step"])

    cb, files = RunCheckpoint(monitor="val/score", every_n_train_steps=2, every_minutes=None), Files()
    dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128), val_levels=(4,),
                                    sets=dict(max_context=8, num_queries=8, grid_points=True))
    trainer = L.Trainer(max_steps=6, logger=False, callbacks=[Scores(), cb, files], enable_progress_bar=False,
                        val_check_interval=2, check_val_every_n_epoch=None, num_sanity_val_steps=0,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=dm)
    assert files.seen == {2: (True, 2), 4: (False, 2)}  # one file's bytes; then last.ckpt of step 4 beside, not into it
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best-step000006.ckpt", "last.ckpt"]
    assert os.path.samefile(folder / "best-step000006.ckpt", folder / "last.ckpt")
    best = torch.load(folder / "best-step000006.ckpt", weights_only=True)
    assert best["global_step"] == 6
    state = next(v for k, v in best["callbacks"].items() if k.startswith("RunCheckpoint"))
    assert (Path(state["best_model_path"]).name, state["best_model_step"]) == ("best-step000006.ckpt", 6)


def test_a_save_over_a_leftover_partial_file_leaves_its_other_name_as_it_was(tmp_path):
    """A fit killed between linking best-stepN.ckpt.partial to last.ckpt and renaming it left that file as a second
    name of last.ckpt: a later save of best-stepN.ckpt by a checkpoint plugin that writes into the file it is given
    (torch.save; Lightning's own writes a new file and renames it) wrote into last.ckpt's bytes. A save removes a
    leftover <name>.partial first and writes a file of its own."""
    import os
    from types import SimpleNamespace

    last, best = tmp_path / "last.ckpt", tmp_path / "best-step000006.ckpt"
    torch.save({"global_step": 6}, last)
    os.link(last, f"{best}.partial")  # what the killed fit left
    trainer = SimpleNamespace(is_global_zero=True, global_step=8, loggers=[],
                              save_checkpoint=lambda path, weights_only=False: torch.save({"global_step": 8}, path),
                              strategy=SimpleNamespace(barrier=lambda name: None))
    RunCheckpoint(dirpath=str(tmp_path))._atomic_save(trainer, str(best))
    assert torch.load(last, weights_only=True) == {"global_step": 6}
    assert torch.load(best, weights_only=True) == {"global_step": 8}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-step000006.ckpt", "last.ckpt"]

# ---- a fit stopped by Ctrl-C or SIGTERM -----------------------------------------------------------------------------
# 8 steps of 4 batches an epoch, a validation and a save every 4: a signal before step 6 lands mid-epoch, between saves
STOPPED = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
           "--model.val_levels=[4]", "--data.init_args.resolution=64", "--data.init_args.train_size=16",
           "--data.init_args.val_size=4", "--data.init_args.test_size=4", "--data.init_args.batch_size=4",
           "--trainer.max_steps=8", "--trainer.val_check_interval=4",
           "--checkpoint.every_n_train_steps=4", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
           "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu"]


# what a fit that the signal stopped raises: Ctrl-C ends the command by SIGINT (errors.ctrl_c_exits)
STOPS = {"SIGINT": StageInterrupted, "SIGTERM": SIGTERMException}


def _signal_at(tmp_path: Path, step: int, signum: str = "SIGINT", times: int = 1, during: str = "train",
               another: bool = False) -> str:
    """A config that sends the signal before the batch that starts at global step ``step``, or with
    ``during="validation"`` before the first batch of the validation after it; ``another``: from a process of its
    own (tests.cli.ddp_probe)."""
    config = tmp_path / f"{signum}-{step}-{times}-{during}-{another}.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.SignalAtStep\n"
                      f"      init_args: {{step: {step}, signum: {signum}, times: {times}, during: {during}, "
                      f"another: {str(another).lower()}}}\n")
    return str(config)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The final weights of the fit the interrupted ones resume, run without a stop."""
    from pixeltransformer.cli import main

    root = tmp_path_factory.mktemp("uninterrupted")
    main(["fit", *STOPPED, "--run_root", str(root), "--run_name", "straight"])
    return torch.load(root / "polynomial" / "straight" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize("signum, why", [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_a_stopped_fit_saves_its_step_and_resumes_as_if_never_stopped(tmp_path, capsys, sigint_back, uninterrupted,
                                                                      signum, why):
    """Ctrl-C (or a scheduler's SIGTERM) an hour into a fit saved nothing: the run went back to its last interval's
    last.ckpt. The step under way now ends, last.ckpt saves it, a line says how to resume, and the resume ends with
    the weights of a fit that was never stopped."""
    from pixeltransformer.cli import main

    # Ctrl-C: a KeyboardInterrupt, which ends the command by SIGINT; SIGTERM: 143, as a shell reports it
    with pytest.raises(STOPS[signum]) as stopped:
        main(["fit", *STOPPED, "--config", _signal_at(tmp_path, 5, signum), "--run_root", str(tmp_path),
              "--run_name", "stopped"])
    assert signum == "SIGINT" or stopped.value.code == 143  # never 0: the fit did not finish
    run = tmp_path / "polynomial" / "stopped"
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6
    assert sorted(p.name for p in last.parent.iterdir()) == ["best-step000004.ckpt", "last.ckpt"]  # no .partial
    assert f"[run] {why}: stopped at step 6 and saved {last}: continue with --resume {run} (make train RESUME={run})" \
        in capsys.readouterr().out.splitlines()

    resumed = main(["fit", "--resume", str(run), "--trainer.callbacks=[]"])
    assert resumed.trainer.global_step == 8
    weights = torch.load(last, weights_only=True)["state_dict"]
    for key, value in uninterrupted.items():
        assert torch.allclose(value, weights[key], atol=1e-6, rtol=0), key


def test_a_fit_that_reached_its_max_steps_resumes_with_more_as_one_fit_of_them(tmp_path, uninterrupted):
    """`--resume <run> --trainer.max_steps=8` trains a run that ended at its max_steps (5) longer. Its last.ckpt is
    the save at the end of the fit: mid-epoch, and after the step-4 interval save. The schedule is still in its warmup,
    which does not depend on max_steps, so the resumed fit ends with the weights of the 8-step fit, bit for bit."""
    from pixeltransformer.cli import main

    main(["fit", *STOPPED, "--trainer.max_steps=5", "--run_root", str(tmp_path), "--run_name", "short"])
    run = tmp_path / "polynomial" / "short"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5
    resumed = main(["fit", "--resume", str(run), "--trainer.max_steps=8"])
    assert resumed.trainer.global_step == 8
    weights = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert weights.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert torch.equal(value, weights[key]), key


def test_a_resume_whose_schedule_is_rebuilt_says_where_its_learning_rate_goes(tmp_path, capsys):
    """`--resume <run> --trainer.max_steps=8` of a run that ended at its 4 steps rebuilds the warmup and cosine decay
    for 8 steps: the rate went from the 4-step schedule's floor (5e-05) back up to 0.00076 without a word. A resume of
    a stopped fit of the same length goes on at the rate it stopped at, and says nothing."""
    from lightning.pytorch.callbacks import Callback

    class StopAtStep4(Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            trainer.should_stop = trainer.global_step >= 4

    def fit(steps: int, ckpt_path: Path | None = None, callbacks=()) -> L.Trainer:
        dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
        module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128), val_levels=(4,),
                                        sets=dict(max_context=8, num_queries=8, grid_points=True),
                                        optim=dict(lr=1e-3, warmup_steps=2))
        trainer = L.Trainer(max_steps=steps, logger=False, callbacks=list(callbacks), enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                            default_root_dir=str(tmp_path), limit_val_batches=0)
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
        return trainer

    fit(8, callbacks=[StopAtStep4()]).save_checkpoint(tmp_path / "stopped.ckpt")
    fit(4).save_checkpoint(tmp_path / "short.ckpt")
    capsys.readouterr()
    fit(8, tmp_path / "stopped.ckpt")
    assert "learning rate" not in capsys.readouterr().out  # the 8-step schedule it was stopped in goes on
    longer = fit(8, tmp_path / "short.ckpt")
    notes = [line for line in capsys.readouterr().out.splitlines() if "learning rate" in line]
    assert notes == ["[pixeltransformer] the learning rate goes from 5e-05, where the checkpoint's schedule had it "
                     "at step 4, to 0.000762: the warmup and cosine decay are rebuilt from this fit's options "
                     "(model.optim; 8 steps), as if it had been given them from the start"]
    assert longer.global_step == 8


def test_a_resume_at_the_end_of_an_epoch_counts_epochs_as_one_fit(tmp_path, monkeypatch):
    """A last.ckpt saved after an epoch's last batch recorded the data position as the end of that epoch: the resume
    went through an epoch of no batches first, so --trainer.max_epochs trained one epoch less and the epoch W&B charts
    stayed one ahead of an uninterrupted fit's. 16 items in batches of 4: 4 steps an epoch."""
    from pixeltransformer.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    common = ["--config", str(REPO / "configs/polynomial.yaml"), "--model.net.width=64", "--model.net.ffn=128",
              "--trainer.val_check_interval=4", "--checkpoint.every_n_train_steps=4", "--trainer.enable_progress_bar=false",
              "--data.init_args.train_size=16", "--data.init_args.val_size=4", "--data.init_args.resolution=48",
              "--data.init_args.batch_size=4", "--model.val_levels=[4]", "--trainer.callbacks=[]",
              "--run_root", str(tmp_path)]
    main(["fit", *common, "--trainer.max_steps=-1", "--trainer.max_epochs=1", "--run_name", "epochs"])
    by_epochs = main(["fit", "--resume", str(tmp_path / "polynomial" / "epochs"), "--trainer.max_epochs=2"])
    assert by_epochs.trainer.global_step == 8 and by_epochs.trainer.current_epoch == 2
    main(["fit", *common, "--trainer.max_steps=4", "--run_name", "steps"])  # saved by steps, within epoch 0
    by_steps = main(["fit", "--resume", str(tmp_path / "polynomial" / "steps"), "--trainer.max_steps=10"])
    # epochs 0, 1 and 2 (4 + 4 + 2 steps), which Lightning counts as done when max_steps stops it, as in one fit
    assert by_steps.trainer.global_step == 10 and by_steps.trainer.current_epoch == 3


@pytest.mark.parametrize("steps, batch_size, limit, said_where", [
    (3, 8, 1.0, "stopped 3 batches into an epoch of"), (3, 4, 1.0, None), (8, 8, 1.0, None), (4, 2, 4, None),
    (8, 2, 1.0, "at batch 8 of its 16, so it skips 16 of its items")])
def test_a_resume_with_another_batch_size_says_where_lightning_s_batch_count_goes_wrong(tmp_path, steps, batch_size,
                                                                                         limit, said_where):
    """Lightning restores the epoch's batch count and counts it on in batches of the new size: 3 batches of 4 into an
    epoch of 32, batch_size 8 trained one batch more and skipped 12 items of that epoch; an epoch ended in 8 batches
    of 4 went on at batch 8 of 16 of 2, skipping half of the next. One line names both sizes; the same size, or an
    epoch's end that a larger size restarts from its first batch (or of as many batches as limit_train_batches
    takes), says nothing."""
    import warnings

    def fit(size: int, max_steps: int, ckpt: str | None = None) -> list[str]:
        dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=size, resolution=64)
        module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128), val_levels=(4,),
                                        sets=dict(max_context=8, num_queries=8, grid_points=True))
        trainer = L.Trainer(max_steps=max_steps, logger=False, enable_progress_bar=False, limit_val_batches=0,
                            limit_train_batches=limit,
                            callbacks=[RunCheckpoint(monitor=None, every_n_train_steps=steps, every_minutes=None)],
                            enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt)
        return [str(w.message) for w in caught if "batch_size" in str(w.message)]

    fit(4, steps)
    said = fit(batch_size, steps + 2, str(tmp_path / "checkpoints" / "last.ckpt"))
    if said_where is None:
        assert said == []
        return
    assert len(said) == 1 and f"data.init_args.batch_size=4, not this run's ({batch_size})" in said[0]
    assert said_where in said[0]
    assert said[0].endswith("pass --data.init_args.batch_size 4 to continue on its own")


def _positioned(world: int, done: int, batch_size: int = 4) -> PolynomialDataModule:
    """A DataModule of 32 training items under a stand-in Trainer of ``world`` processes that restored ``done``
    batches of the epoch (no DDP in this process: the note's arithmetic alone)."""
    from types import SimpleNamespace

    dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=batch_size, resolution=64)
    progress = SimpleNamespace(current=SimpleNamespace(processed=done))
    dm.trainer = SimpleNamespace(world_size=world, limit_train_batches=1.0, num_training_batches=32 // batch_size,
                                 fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    return dm


def test_a_resume_on_another_number_of_processes_compares_the_items_of_a_step():
    """A checkpoint's position is its batches times batch_size times its processes: 3 batches of 4 on 1 process
    resumed on 2 processes of 4 skipped 12 of 20 items without a word, and 2 processes of 4 resumed on 1 process of
    8 (the same 8 items a step) continued exactly, yet was told to pass batch_size 4. A checkpoint records its
    processes now; one written before it did compares batch sizes alone."""
    from pixeltransformer.errors import counted

    one = _positioned(world=1, done=3)
    one._train_sampler = type("Sampler", (), {"epoch": 1})()
    recorded = one.state_dict()
    assert recorded["world_size"] == 1 and recorded["samples_done"] == 12 and recorded["batch_size"] == 4
    state = {"epoch": 0, "samples_done": 12, "batch_size": 4}
    assert _positioned(world=2, done=3)._batch_count_note({**state, "world_size": 1}, 2) == (
        "the checkpoint stopped 3 batches into an epoch of data.init_args.batch_size=4 x 1 process, not this run's "
        "(4 x 2 processes): Lightning counts that epoch's batches on from 3 in the new size, so the rest of it skips "
        "or repeats items; pass --data.init_args.batch_size 2 to continue on its own")
    assert _positioned(world=1, done=3, batch_size=8)._batch_count_note({**state, "world_size": 2}, 1) is None
    assert _positioned(world=2, done=3, batch_size=2)._batch_count_note({**state, "world_size": 1}, 2) is None
    odd = _positioned(world=2, done=3)._batch_count_note({**state, "batch_size": 3, "world_size": 1}, 2)
    assert odd.endswith(f"no batch_size on {counted(2, 'process')} makes its 3 items a step: resume it on 1 process "
                        "to continue on its own")
    assert _positioned(world=2, done=3)._batch_count_note(state, 2) is None  # written before processes were recorded
    said = _positioned(world=2, done=3, batch_size=8)._batch_count_note(state, 2)
    assert "of data.init_args.batch_size=4, not this run's (8)" in said


def test_a_resumed_datamodule_without_a_trainer_gives_its_positioned_loader():
    """A DataModule given a checkpoint's state and asked for its train loader with no Trainer (a notebook) gives the
    loader from the recorded position, in its batch size or another, and says nothing of Lightning's batch count."""
    import warnings

    dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
    order = list(ResumableRandomSampler(32, dm.seed))  # epoch 0's order, [32]
    for batch_size in (4, 8):
        resumed = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=batch_size, resolution=64)
        resumed.load_state_dict({"epoch": 0, "samples_done": 12, "batch_size": 4, "world_size": 1})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loader = resumed.train_dataloader()
        first = next(iter(loader))["coefs"]  # [B, C]
        assert torch.equal(first, torch.stack([dm.dataset("train")[i]["coefs"] for i in order[12:12 + batch_size]]))


def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path, capsys, sigint_back):
    """The first Ctrl-C asks for the end of the step; a second one stops the fit where it is, and saves nothing."""
    from pixeltransformer.cli import main

    with pytest.raises(StageInterrupted):
        main(["fit", *STOPPED, "--config", _signal_at(tmp_path, 5, times=2), "--run_root", str(tmp_path),
              "--run_name", "twice"])
    assert torch.load(tmp_path / "polynomial" / "twice" / "checkpoints" / "last.ckpt",
                      weights_only=True)["global_step"] == 4  # the interval's save
    assert "stopped at step" not in capsys.readouterr().out


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_stop_within_a_gradient_accumulation_saves_the_end_of_its_step(tmp_path, sigint_back, signum):
    """With accumulate_grad_batches=2 a step takes two batches: a stop after the first would save a step whose batch
    is half used (the resume would skip it); it waits for the optimizer step. (Lightning's own SIGTERM handling
    stopped the fit after the first batch, and saved nothing.)"""
    from pixeltransformer.cli import main

    with pytest.raises(STOPS[signum]):
        main(["fit", *STOPPED, "--trainer.accumulate_grad_batches=2", "--config", _signal_at(tmp_path, 1, signum),
              "--run_root", str(tmp_path), "--run_name", "accumulating"])
    ckpt = torch.load(tmp_path / "polynomial" / "accumulating" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2
    assert ckpt["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["processed"] == 4


@pytest.mark.parametrize("case", ["sanity check", "checkpointing off", "test"])
def test_a_run_that_lightning_s_sigterm_stop_ends_exits_143(tmp_path, case):
    """Where RunCheckpoint's handler does not hold SIGTERM (before the first step, in the sanity check; with
    checkpointing off; in an evaluation), Lightning's own stop ends the run with status 0, as if it had finished:
    `fit && test` went on. Every run SIGTERM ends exits 143."""
    from pixeltransformer.cli import main

    two_batches = ["--data.init_args.val_size=8", "--data.init_args.test_size=8", "--trainer.num_sanity_val_steps=2"]
    if case == "test":
        main(["fit", *STOPPED, "--trainer.max_steps=2", "--run_root", str(tmp_path), "--run_name", "done"])
        ckpt = tmp_path / "polynomial" / "done" / "checkpoints" / "last.ckpt"
        command = ["test", *STOPPED, *two_batches, "--ckpt_path", str(ckpt), "--config",
                   _signal_at(tmp_path, 0, "SIGTERM", during="test")]
    else:
        during, more = ("sanity", []) if case == "sanity check" else ("train", ["--trainer.enable_checkpointing=false"])
        command = ["fit", *STOPPED, *two_batches, *more, "--config", _signal_at(tmp_path, 0, "SIGTERM", during=during),
                   "--run_root", str(tmp_path), "--run_name", "stopped"]
    with pytest.raises(SystemExit) as stopped:
        main(command)
    assert stopped.value.code == 143


@pytest.mark.parametrize("signum, why", [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_a_stop_during_a_validation_saves_the_step_after_it(tmp_path, capsys, sigint_back, signum, why):
    """A signal in a validation lets it end, and the next step, which is saved. (Lightning's own SIGTERM handling
    stopped the fit in the validation, and saved nothing: here the interval save comes only at step 8.)"""
    from pixeltransformer.cli import main

    with pytest.raises(STOPS[signum]):
        main(["fit", *STOPPED, "--checkpoint.every_n_train_steps=8", "--config",
              _signal_at(tmp_path, 4, signum, during="validation"), "--run_root", str(tmp_path), "--run_name", "val"])
    last = tmp_path / "polynomial" / "val" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 5
    assert f"[run] {why}: stopped at step 5 and saved {last}" in capsys.readouterr().out


@pytest.mark.parametrize("signum, why", [("SIGINT", "Ctrl-C"), ("SIGTERM", "SIGTERM")])
def test_a_signal_that_reaches_the_data_workers_too_saves_the_step(tmp_path, capsys, sigint_back, signum, why):
    """torchrun's agent sends its SIGTERM (or Ctrl-C) to each rank's process group, and SLURM to every process of a
    job step: the DataLoader workers get it with the fit. A worker that ended on SIGTERM failed the step at once
    ("DataLoader worker ... is killed by signal: Terminated", or at the next batch it drew, "exited unexpectedly") and
    nothing was saved. Sent in a validation, the step that ends the fit draws a batch after it."""
    from pixeltransformer.cli import main

    with pytest.raises(STOPS[signum]):
        main(["fit", *STOPPED, "--checkpoint.every_n_train_steps=8", "--data.init_args.num_workers=1", "--config",
              _signal_at(tmp_path, 4, signum, during="validation", another=True), "--run_root", str(tmp_path),
              "--run_name", "workers"])
    last = tmp_path / "polynomial" / "workers" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 5
    assert f"[run] {why}: stopped at step 5 and saved {last}" in capsys.readouterr().out


def test_a_data_worker_leaves_ctrl_c_to_the_fit(tmp_path):
    """Ctrl-C reaches every process of the terminal, DataLoader workers too: a worker ended on it, and the fit, which
    goes on to the end of its step, failed at its next batch ("DataLoader worker exited unexpectedly")."""
    import multiprocessing
    import os
    import signal

    dm = PolynomialDataModule(train_size=64, val_size=4, test_size=4, batch_size=4, resolution=16, num_workers=1)
    dm.setup("fit")
    loader = dm.train_dataloader()
    batches = iter(loader)
    next(batches)  # the worker has started
    for worker in multiprocessing.active_children():
        os.kill(worker.pid, signal.SIGINT)
    assert 1 + sum(1 for _ in batches) == len(loader) == 16


def test_sigterm_is_the_fit_s_while_it_trains_and_a_handler_of_the_user_s_stays_with_lightning(tmp_path):
    """While a fit trains, SIGTERM marks the stop (RunCheckpoint), as Ctrl-C does; the handlers are given back when it
    ends. A SIGTERM handler the user installed before the fit is left as Lightning composes it, and called."""
    import signal

    seen = []

    class Handlers(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen.append(signal.getsignal(signal.SIGTERM))

    def fit() -> None:
        dm = PolynomialDataModule(train_size=32, val_size=4, test_size=4, batch_size=4, resolution=64)
        module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                        sets=dict(max_context=8, num_queries=8, grid_points=True))
        L.Trainer(max_steps=2, logger=False, callbacks=[RunCheckpoint(monitor=None), Handlers()],
                  enable_progress_bar=False, limit_val_batches=0, enable_model_summary=False, accelerator="cpu",
                  default_root_dir=str(tmp_path)).fit(module, datamodule=dm)

    fit()
    assert getattr(seen[-1], "__func__", None) is RunCheckpoint._sigterm
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    called = []
    def mine(signum, frame) -> None:
        called.append(signum)

    signal.signal(signal.SIGTERM, mine)
    try:
        fit()
        assert mine in seen[-1].signal_handlers  # Lightning's, which calls the user's
        seen[-1](signal.SIGTERM, None)
        assert called == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_config_file_s_checkpoint_path_in_the_home_folder_is_evaluated(tmp_path, monkeypatch, poly_spec):
    """ckpt_path: ~/... in a config file (which no shell expands; --ckpt_path ~/... on the command line was) read the
    checkpoint, then stopped on the evaluation's folder: "No such file or directory: '~/.../.eval.lock'"."""
    from pixeltransformer.cli import main
    from tests.cli.checkpoints import untrained_checkpoint

    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("HOME", str(tmp_path))
    run = tmp_path / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(untrained_checkpoint(poly_spec.to_dict()),
               run / "checkpoints" / "last.ckpt")
    given = tmp_path / "ckpt.yaml"
    given.write_text("ckpt_path: ~/polynomial/r/checkpoints/last.ckpt\n")
    cli = main(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(given),
                "--data.init_args.resolution=64", "--data.init_args.test_size=4", "--data.init_args.batch_size=4",
                "--trainer.enable_progress_bar=false"])
    assert cli.run_dir == run and (run / "eval" / "metrics.json").is_file()
