"""What a fit's W&B run holds for its dashboard and runs table, beyond the losses: the learning rate of every step,
the model's size and the best validation NLL (the best checkpoint kept, across a resume)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy, SingleDeviceStrategy

from pixeltransformer.cli import cli_main, main
from pixeltransformer.errors import InputExit
from pixeltransformer.module import replicated_grads
from tests.cli.wandb_record import record_wandb_logs, record_wandb_runs, undocumented, unlogged

REPO = Path(__file__).resolve().parents[2]
LR = 0.05  # high enough that val/nll need not fall at every validation: its best need not be its last
FIT = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
       "--data.init_args.train_size=64", "--data.init_args.val_size=4", "--data.init_args.test_size=4",
       "--data.init_args.batch_size=4", "--data.init_args.resolution=64", "--data.init_args.val_items=4",
       "--model.val_levels=[4]", "--model.sets.num_queries=16", "--model.sets.max_context=16",
       "--model.optim.warmup_steps=2", f"--model.optim.lr={LR}", "--trainer.val_check_interval=2",
       "--trainer.log_every_n_steps=1", "--checkpoint.every_n_train_steps=2", "--trainer.enable_progress_bar=false",
       "--trainer.enable_model_summary=false", "--trainer.callbacks=[]"]


def fit_with_wandb(args: list[str], monkeypatch, tmp_path: Path):
    """Run `pixeltransformer fit` with an offline W&B run; returns the CLI, what it logged (one dict per call of
    Run.log), its config and its summary."""
    import wandb

    received = record_wandb_logs(monkeypatch, tmp_path)
    cli = main(["fit", *FIT, *args])
    assert wandb.run is not None
    config = dict(wandb.run.config)
    summary = {k: wandb.run.summary[k] for k in wandb.run.summary.keys()}
    wandb.finish()
    return cli, received, config, summary


@pytest.fixture(scope="module")
def monkeymodule():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def clipped(monkeymodule) -> list[float]:
    """The total norm torch.nn.utils.clip_grad_norm_ returns at each call (Lightning's clipping by norm), in order."""
    norms, clip = [], torch.nn.utils.clip_grad_norm_

    def spy(*args, **kwargs):
        norms.append(float(total := clip(*args, **kwargs)))
        return total

    monkeymodule.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    return norms


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, monkeymodule, clipped):
    """One fit of 8 steps, validated every 2 steps."""
    root = tmp_path_factory.mktemp("runs")
    return (root, *fit_with_wandb(["--trainer.max_steps=8", "--run_root", str(root), "--run_name", "a"],
                                  monkeymodule, root))


def test_the_learning_rate_of_every_step_is_logged_beside_its_loss(fitted):
    """train/lr: the rate each step's optimizer step applied (warmup, then the cosine decay), logged with its
    loss, once per step (both parameter groups share it)."""
    _, cli, received, _, _ = fitted
    schedule = cli.trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    rows = [r for r in received if "train/loss" in r]
    assert [r["trainer/global_step"] for r in rows] == list(range(8))
    assert all("train/lr" in r for r in rows) and sum("train/lr" in r for r in received) == 8
    lrs = [r["train/lr"] for r in rows]
    assert lrs == pytest.approx([LR * schedule(step) for step in range(8)], rel=1e-6)
    assert lrs[:3] == pytest.approx([LR / 2, LR, LR], rel=1e-6)  # the warmup, then the decay's start
    assert lrs[2:] == sorted(lrs[2:], reverse=True) and lrs[-1] < LR / 5


def test_the_model_s_trainable_parameter_count_is_in_the_run_s_config(fitted):
    _, cli, _, config, _ = fitted
    count = sum(p.numel() for p in cli.model.parameters() if p.requires_grad)
    assert count > 100_000 and config["model/parameters"] == count  # the tiny model's 167 K


def test_the_run_s_config_names_the_optimizer_the_model_trains_with_and_no_null_one(fitted):
    """LightningCLI's optimizer and lr_scheduler keys are refused here and were null in every run's W&B config,
    beside a model that trained with AdamW: the config holds model.optim, what the run used, and not them."""
    _, cli, _, config, _ = fitted
    assert "optimizer" not in config and "lr_scheduler" not in config
    assert config["model"]["optim"]["lr"] == pytest.approx(LR)


def test_the_best_validation_nll_is_the_best_checkpoint_s(fitted):
    """The summary's val/nll is its last value; val/nll_best and val/nll_best_step are the best validation's,
    the one the best checkpoint kept (best-step<step>.ckpt) holds."""
    root, cli, received, _, summary = fitted
    validations = {r["trainer/global_step"] + 1: r["val/nll"] for r in received if "val/nll" in r}
    assert sorted(validations) == [2, 4, 6, 8]
    best_step = min(validations, key=validations.get)
    assert summary["val/nll"] == pytest.approx(validations[8])
    assert summary["val/nll_best"] == pytest.approx(validations[best_step])
    assert summary["val/nll_best_step"] == best_step
    callback = cli.trainer.checkpoint_callback
    assert callback.monitor == "val/nll" and callback.mode == "min"
    assert float(callback.best_model_score) == pytest.approx(summary["val/nll_best"])
    assert Path(callback.best_model_path).name == f"best-step{best_step:06d}.ckpt"
    assert [p.name for p in (root / "polynomial" / "a" / "checkpoints").glob("best-*")] == [
        f"best-step{best_step:06d}.ckpt"]


def test_a_resumed_fit_s_wandb_run_names_the_best_checkpoint_before_it_validates(tmp_path, monkeypatch):
    """Offline, a resume is a W&B run of its own: its summary holds the run's best checkpoint from its start,
    also when it ends before its first validation (W&B's own min of val/nll would be of its validations alone). It
    was named as the run's first segment was: it is named apart now, in the same group."""
    run = ["--run_root", str(tmp_path), "--run_name", "r"]
    finished = record_wandb_runs(monkeypatch)
    first, received, _, summary = fit_with_wandb(["--trainer.max_steps=4", *run], monkeypatch, tmp_path)
    best = (summary["val/nll_best"], summary["val/nll_best_step"])
    assert best[1] in (2, 4) and best[0] == pytest.approx(float(first.trainer.checkpoint_callback.best_model_score))
    saved = torch.load(tmp_path / "polynomial" / "r" / "checkpoints" / "last.ckpt", weights_only=True)
    assert [s["best_model_step"] for k, s in saved["callbacks"].items() if k.startswith("RunCheckpoint")] == [best[1]]
    _, received, _, summary = fit_with_wandb(["--trainer.max_steps=5", "--resume", str(tmp_path / "polynomial" / "r")],
                                             monkeypatch, tmp_path)
    assert not any("val/nll" in r for r in received)  # step 5: no validation in this segment
    assert (summary["val/nll_best"], summary["val/nll_best_step"]) == pytest.approx(best)
    # named apart from the run's first segment in W&B's runs table, in the same group
    assert [(f["name"], f["group"]) for f in finished] == [("polynomial/r", "polynomial/r"),
                                                           ("polynomial/r (resume 1)", "polynomial/r")]
    config = yaml.safe_load((tmp_path / "polynomial" / "r" / "config.yaml").read_text())
    assert config["trainer"]["logger"]["init_args"]["name"] is None  # derived: config.yaml records none


def test_a_fit_s_wandb_config_names_the_checkpoint_it_started_from(fitted, tmp_path, monkeypatch):
    """A fit started from another run's checkpoint, and a resume, showed `ckpt_path: null` and `resume: null` in
    their W&B config (config.yaml leaves them out, so that a copy of it starts a new run): the dashboard did not
    say which weights a run's curves went on from. The W&B config names them as the command gave them."""
    root = fitted[0]
    last = root / "polynomial" / "a" / "checkpoints" / "last.ckpt"
    run = ["--run_root", str(tmp_path), "--run_name", "b"]
    _, _, config, _ = fit_with_wandb(["--trainer.max_steps=9", "--ckpt_path", str(last), *run], monkeypatch,
                                     tmp_path)
    assert (config["ckpt_path"], config["resume"]) == (str(last), None)
    folder = tmp_path / "polynomial" / "b"
    _, _, config, _ = fit_with_wandb(["--trainer.max_steps=10", "--resume", str(folder)], monkeypatch, tmp_path)
    assert (config["ckpt_path"], config["resume"]) == (str(folder / "checkpoints" / "last.ckpt"), str(folder))
    recorded = yaml.safe_load((folder / "config.yaml").read_text())
    assert (recorded["ckpt_path"], recorded["resume"]) == (None, None)  # the run's settings alone, as before


def test_a_fit_from_a_checkpoint_at_its_max_epochs_is_refused_before_its_run_folder_is_made(fitted, tmp_path, capsys,
                                                                                           monkeypatch):
    """fit --ckpt_path from a checkpoint whose epoch count, as Lightning's fit loop keeps it, reaches
    trainer.max_epochs trained nothing and left a run folder without a checkpoint. The fixture's last.ckpt (step 8,
    mid-epoch) made into one written at its epoch's end: processed 1, epoch still 0, as Lightning writes it there."""
    ckpt = torch.load(fitted[0] / "polynomial" / "a" / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=False)
    ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] = 1
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 8
    torch.save(ckpt, path := tmp_path / "end.ckpt")
    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", *FIT, "--trainer.max_epochs=1", "--ckpt_path",
                                     str(path), "--run_root", str(tmp_path / "runs"), "--run_name", "b"])
    with pytest.raises(InputExit) as refused:
        cli_main()
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --ckpt_path {path}: the checkpoint is at epoch 1 (step 8; one saved as its fit ended, or by a step's "
        f"save at an epoch's last, counts that epoch as done), and a fit from it counts on from there, so "
        f"trainer.max_epochs=1 trains nothing; give a larger one (e.g. --trainer.max_epochs=2), or -1 for no limit")
    assert not (tmp_path / "runs" / "polynomial" / "b").exists()


def test_a_resume_from_a_checkpoint_without_the_best_step_reads_it_from_the_best_file_s_name(tmp_path, monkeypatch):
    """last.ckpt written before the best step was kept names no step; the best file's name (best-step<N>.ckpt) does."""
    run = ["--run_root", str(tmp_path), "--run_name", "old"]
    _, _, _, summary = fit_with_wandb(["--trainer.max_steps=4", *run], monkeypatch, tmp_path)
    last = tmp_path / "polynomial" / "old" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    for key, state in saved["callbacks"].items():
        if key.startswith("RunCheckpoint"):
            del state["best_model_step"]  # as an older version wrote it
    torch.save(saved, last)
    _, _, _, resumed = fit_with_wandb(["--trainer.max_steps=5", "--resume", str(last.parent.parent)], monkeypatch,
                                      tmp_path)
    assert resumed["val/nll_best_step"] == summary["val/nll_best_step"]


def test_the_gradient_norm_of_every_step_is_logged_before_clipping(fitted, clipped):
    """A fit's dashboard did not say how large its gradients were, nor whether trainer.gradient_clip_val (1.0) cut
    them: train/grad_norm is the step's gradient L2 norm before clipping, from the norms the finite check of the
    gradients computes anyway, logged with its loss: the whole model's, the norm clipping reads."""
    _, _, received, _, _ = fitted
    rows = [r for r in received if "train/loss" in r][:8]  # the fixture's fit (later tests' fits log here too)
    assert [r["trainer/global_step"] for r in rows] == list(range(8))
    assert all("train/grad_norm" in r for r in rows)
    norms = [r["train/grad_norm"] for r in rows]
    assert norms == pytest.approx(clipped[:8], rel=1e-5)  # not a sum of the tensors' norms, nor the largest
    assert max(norms) > 1.0  # not the clipped gradients' norm, which is at most gradient_clip_val


def test_the_gradient_norm_is_logged_on_one_device_or_under_ddp_itself_alone():
    """A process of a sharding strategy holds a shard of the gradients: its norm is not the step's. DDP's subclasses
    (DeepSpeed's among them, or a user's) may shard, so they log none either."""
    class Subclass(DDPStrategy):
        pass

    assert replicated_grads(SingleDeviceStrategy("cpu")) and replicated_grads(DDPStrategy())
    assert not replicated_grads(Subclass()) and not replicated_grads(FSDPStrategy())


def test_every_key_a_fit_logs_is_on_the_dashboard_page(fitted):
    """docs/dashboard.md says what each key of the W&B dashboard is: a key added without a line there fails here."""
    _, _, received, config, summary = fitted
    logged = {k for r in received for k in r} | set(summary) | {k for k in config if "/" in k}
    assert "train/lr" in logged and "val/nll_best" in logged and "model/parameters" in logged
    assert undocumented(logged) == []
    assert undocumented(["val/made_up"]) == ["val/made_up"]  # the page's patterns do not take any key
    # and each key the page names for a fit is logged (train/skipped_batches: only with model.optim.nonfinite=skip;
    # val/functions: this fit draws no pictures, test_cli's test_pictures_land_on_the_step_... does; data/<option>:
    # its data reads no file, test_a_fit_on_the_default_data_folder_names_the_folder_it_read's does)
    assert unlogged("A fit: history", logged, leave_out=["train/skipped_batches", "val/functions"]) == []
    assert unlogged("A fit: config and summary", logged, leave_out=["data/<option>"]) == []  # generated data: none
    assert unlogged("A fit: history", logged - {"train/lr"}) == ["train/lr", "train/skipped_batches", "val/functions"]


def test_a_run_folder_s_fit_and_evaluation_are_one_group_told_apart_by_job_type(tmp_path, monkeypatch):
    """A fit's W&B job type was empty, beside its evaluations' `test`: grouped or filtered by job type, a run
    folder's fits fell under none. Each W&B run says what it is, in the run folder's group."""
    finished = record_wandb_runs(monkeypatch)
    fit_with_wandb(["--trainer.max_steps=2", "--run_root", str(tmp_path), "--run_name", "j"], monkeypatch, tmp_path)
    run = tmp_path / "polynomial" / "j"
    main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false"])
    assert [(f["job_type"], f["group"]) for f in finished] == [("fit", "polynomial/j"), ("test", "polynomial/j")]
    # named apart in W&B's runs table: the fit after its run folder, the evaluation after its folder (a test without
    # a sweep's, evaluation.folder_of_test) and kind
    assert [f["name"] for f in finished] == ["polynomial/j", "polynomial/j/eval-nosweep (test)"]
    assert yaml.safe_load((run / "eval-nosweep" / "config_test.yaml").read_text())["trainer"]["logger"]["init_args"][
        "name"] is None  # derived, as the fit's config.yaml leaves it: another run folder's evaluation names its own
    main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false", "--trainer.logger.init_args.name=mine"])
    assert finished[-1]["name"] == "mine"  # a name the command line gives stays


def test_an_evaluation_s_wandb_config_leaves_out_what_the_cli_set_from_the_run_folder(tmp_path, monkeypatch):
    """An evaluation's W&B config held the W&B name, group and save_dir and trainer.default_root_dir the CLI set
    from its run folder (absolute paths of this machine), where the fit's W&B config and config_test.yaml hold
    null: W&B's runs table told the fit and its evaluations apart by them. It records them as the fit does now."""
    finished = record_wandb_runs(monkeypatch)
    fit_with_wandb(["--trainer.max_steps=2", "--run_root", str(tmp_path), "--run_name", "c"], monkeypatch, tmp_path)
    run = tmp_path / "polynomial" / "c"
    main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false"])
    fit, test = (f["config"]["trainer"] for f in finished)
    recorded = yaml.safe_load((run / "eval-nosweep" / "config_test.yaml").read_text())["trainer"]
    for trainer in (fit, test, recorded):
        assert trainer["default_root_dir"] is None
        assert {k: trainer["logger"]["init_args"][k] for k in ("name", "group", "save_dir")} == dict.fromkeys(
            ("name", "group", "save_dir"))
    assert finished[1]["name"] == "polynomial/c/eval-nosweep (test)"  # the W&B run is named and grouped as before
    # and the model's options as the files record them: an evaluation's also held model.spec, the checkpoint's data
    # (a link, no option; with RGB bins their 256 colours), which neither config_test.yaml nor the fit's config has
    saved = yaml.safe_load((run / "eval-nosweep" / "config_test.yaml").read_text())["model"]
    assert finished[1]["config"]["model"].keys() == saved.keys() == finished[0]["config"]["model"].keys()


def test_an_evaluation_s_wandb_config_leaves_out_the_settings_only_a_fit_reads(tmp_path, monkeypatch):
    """`make eval` put the config file's trainer.max_steps, val_check_interval and the other settings of training
    into the evaluation's W&B config: the dashboard read as if the evaluation had trained, for as many steps as the
    domain file says (not the run's). It holds the settings the evaluation ran with; the fit's W&B run keeps its
    own."""
    finished = record_wandb_runs(monkeypatch)
    fit_with_wandb(["--trainer.max_steps=2", "--run_root", str(tmp_path), "--run_name", "e"], monkeypatch, tmp_path)
    run = tmp_path / "polynomial" / "e"
    main(["test", *FIT, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--trainer.max_steps=50"])
    fit, test = (f["config"] for f in finished)
    training = {"max_steps", "max_epochs", "min_steps", "min_epochs", "max_time", "val_check_interval",
                "check_val_every_n_epoch", "limit_train_batches", "num_sanity_val_steps", "log_every_n_steps",
                "accumulate_grad_batches", "gradient_clip_val", "gradient_clip_algorithm", "enable_checkpointing",
                "reload_dataloaders_every_n_epochs", "detect_anomaly"}
    assert training <= fit["trainer"].keys() and "checkpoint" in fit
    assert fit["trainer"]["max_steps"] == 2 and fit["trainer"]["val_check_interval"] == 2
    assert not training & test["trainer"].keys() and "checkpoint" not in test
    assert {"accelerator", "devices", "precision", "limit_test_batches", "callbacks"} <= test["trainer"].keys()
    assert test["model"] == fit["model"] and test["data"] == fit["data"]  # the rest as before


@pytest.mark.parametrize("given, job_type", [(None, "fit"), ("pretrain", "pretrain"), ("test", "fit")])
def test_a_fit_keeps_a_job_type_of_the_user_s(given, job_type, tmp_path):
    """A job type the command line gives stays; an evaluation's (a config_test.yaml's `test`) is not a fit's."""
    args = [f"--trainer.logger.init_args.job_type={given}"] if given else []
    cli = main(["--config", str(REPO / "configs/trainer/default.yaml"), *FIT, "--run_root", str(tmp_path), *args],
               run=False)  # a fit prepared, not run (the subcommand's own parser reads the base file itself)
    assert cli.config.trainer.logger.init_args.job_type == job_type


@pytest.mark.parametrize("name, kept", [("polynomial/j", False), ("polynomial/j/eval-best-step000004 (test)", False),
                                        ("polynomial/j/eval (validate)", False), ("polynomial/j (resume 2)", False),
                                        ("polynomial/j (resume)", True), ("baseline", True),
                                        ("polynomial/j/eval (ablation)", True), ("images/k/eval (test)", True)])
def test_a_run_folder_s_config_files_leave_out_the_wandb_name_derived_from_it(name, kept):
    """config.yaml and config_test.yaml hold no W&B name the CLI derived from their run folder (a fit's, an
    evaluation's), so that another folder's run started or evaluated with them is named after its own; a name of the
    user's stays."""
    from jsonargparse import Namespace

    from pixeltransformer.run_config import without_run_folder

    logger = Namespace(class_path="lightning.pytorch.loggers.WandbLogger",
                       init_args=Namespace(name=name, group="polynomial/j", save_dir="runs/polynomial/j"))
    config = without_run_folder(Namespace(trainer=Namespace(default_root_dir="runs/polynomial/j", logger=logger)))
    assert config.trainer.logger.init_args.name == (name if kept else None)
    assert config.trainer.logger.init_args.group is None and config.trainer.logger.init_args.save_dir is None


def test_relative_data_paths_are_made_absolute_in_the_recorded_config_alone():
    """config.yaml records the relative data roots as absolute paths; the run itself kept them as given, so that its
    error lines name the path the user gave ("float.npz: ..."), not the working folder's absolute one."""
    import os

    from jsonargparse import Namespace

    from pixeltransformer.run_config import without_run_folder

    live = Namespace(trainer=Namespace(default_root_dir="runs/polynomial/j", logger=None),
                     data=Namespace(class_path="x", init_args=Namespace(root="mydata/c.npz")))
    config = without_run_folder(live)
    assert config.data.init_args.root == os.path.abspath("mydata/c.npz")
    assert live.data.init_args.root == "mydata/c.npz"


def configured_wandb(tmp_path: Path, monkeypatch, mode: str, name: str | None = None, saved: str | None = None,
                     ids: tuple[str, ...] = ()):
    """The W&B logger's init_args a fit of run folder <tmp_path>/polynomial/r prepares (the CLI's _configure_wandb),
    from a config naming the run ``name`` in group polynomial/j, with W&B ``mode``, the run's wandb_id.txt holding
    ``saved`` and the W&B records of ``ids`` in its wandb/ folder."""
    from types import SimpleNamespace

    from jsonargparse import Namespace

    from pixeltransformer.cli import WANDB_ID_ENV, PixelTransformerCLI

    monkeypatch.setenv("WANDB_MODE", mode)
    monkeypatch.setenv(WANDB_ID_ENV, "")  # put back as it was (absent) after the test
    monkeypatch.delenv(WANDB_ID_ENV)
    run = tmp_path / "polynomial" / "r"
    run.mkdir(parents=True)
    if saved is not None:
        (run / "wandb_id.txt").write_text(saved + "\n")
    for i, run_id in enumerate(ids):
        (run / "wandb" / f"offline-run-20261201_10101{i}-{run_id}").mkdir(parents=True)
    cli = SimpleNamespace(_given_logger_name=False, _derived_wandb_name=False, subcommand="fit", wandb_id=None)
    init_args = Namespace(name=name, group="polynomial/j", job_type=None)
    PixelTransformerCLI._configure_wandb(cli, init_args, run, None)
    return init_args


@pytest.mark.parametrize("mode, saved, ids, name", [
    ("online", "ab-12", (), "polynomial/r"),  # an online resume goes on in the run's W&B run: not a resume 12
    ("offline", "ab-12", ("ab-12",), "polynomial/r (resume 1)"),
    ("offline", "ab12", ("ab12", "ab12-1"), "polynomial/r (resume 2)"),
    ("offline", None, (), "polynomial/r")])
def test_an_offline_resume_s_wandb_run_is_named_by_the_segment_it_is(tmp_path, monkeypatch, mode, saved, ids, name):
    """The resume number was read back from the W&B id: online, a run whose wandb_id.txt held `ab-12` was named
    `(resume 12)`, and offline its first resume, `ab-12-1`, was named as the run's first segment. It is the
    number of the offline segment the fit begins, none online."""
    init_args = configured_wandb(tmp_path, monkeypatch, mode, saved=saved, ids=ids)
    assert (init_args.name, init_args.group) == (name, "polynomial/r")


@pytest.mark.parametrize("name, kept", [(None, False), ("polynomial/j", False), ("polynomial/j (resume 2)", False),
                                        ("polynomial/j/eval (test)", False), ("baseline", True),
                                        ("polynomial/j (resume)", True)])
def test_a_wandb_name_a_config_derived_from_another_run_folder_is_derived_again(tmp_path, monkeypatch, name, kept):
    """A config that holds a name the CLI derived from another run folder (an older config.yaml's resume or
    evaluation name) gave that name to the new folder's fit, as a name of the user's: only the other folder's own
    name was derived again. Any name the CLI derives is (as without_run_folder leaves it out); the user's stays."""
    init_args = configured_wandb(tmp_path, monkeypatch, "offline", name=name)
    assert init_args.name == (name if kept else "polynomial/r")


def test_a_validation_of_a_checkpoint_lies_on_its_fit_s_validation_of_the_same_weights(tmp_path, monkeypatch):
    """`pixeltransformer validate` of a checkpoint logged its val/nll at step 0 of epoch 0: W&B drew it at the start
    of the run folder's charts, whatever the weights. It lies on the fit's point for the same weights now (the same
    step, epoch and number), here past the first epoch (two batches an epoch)."""
    run = ["--run_root", str(tmp_path), "--run_name", "v", "--data.init_args.train_size=8"]
    _, fitted, _, _ = fit_with_wandb(["--trainer.max_steps=6", *run], monkeypatch, tmp_path)
    fit_points = [(r["trainer/global_step"], r["epoch"], r["val/nll"]) for r in fitted if "val/nll" in r]
    received = record_wandb_logs(monkeypatch, tmp_path)
    folder = tmp_path / "polynomial" / "v"
    main(["validate", "--config", str(folder / "config.yaml"), "--ckpt_path", str(folder / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false"])
    point = [(r["trainer/global_step"], r["epoch"], r["val/nll"]) for r in received if "val/nll" in r]
    assert fit_points[-1][:2] == (5, 2) and point == [pytest.approx(fit_points[-1])]


def test_an_evaluation_logs_the_test_split_s_mean_over_levels_beside_the_fit_s_val_nll(tmp_path, monkeypatch):
    """An evaluation logged test/val_nll@k alone: W&B's runs table had no test number to set beside the fit's
    val/nll_best (the mean over the levels the best checkpoint is chosen by). It logs that mean, test/val_nll."""
    run = ["--run_root", str(tmp_path), "--run_name", "t", "--model.val_levels=[4,8]"]
    fit_with_wandb(["--trainer.max_steps=2", *run], monkeypatch, tmp_path)
    finished = record_wandb_runs(monkeypatch)
    received = record_wandb_logs(monkeypatch, tmp_path)
    folder = tmp_path / "polynomial" / "t"
    main(["test", "--config", str(folder / "config.yaml"), "--ckpt_path", str(folder / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false"])
    summary = finished[-1]["summary"]
    levels = [summary["test/val_nll@4"], summary["test/val_nll@8"]]
    assert levels[0] != levels[1] and summary["test/val_nll"] == pytest.approx(sum(levels) / 2)
    # drawn with the levels, at the checkpoint's step less one (as the fit's val/nll of the same weights)
    assert [r["trainer/global_step"] for r in received if "test/val_nll" in r] == [1]
    assert undocumented(summary) == []


def test_a_resume_that_trains_nothing_starts_no_wandb_run_segment(tmp_path, monkeypatch, capsys):
    """A resume of a run already at its max_steps trained nothing and left an offline W&B run of its own, a folder
    with no history beside the run's: it ends on its one line and starts no W&B run."""
    import wandb

    fit_with_wandb(["--trainer.max_steps=2", "--run_root", str(tmp_path), "--run_name", "n"], monkeypatch, tmp_path)
    run = tmp_path / "polynomial" / "n"
    records = sorted((run / "wandb").glob("offline-run-*"))
    assert len(records) == 1
    written = {name: (run / name).read_text() for name in ("config.yaml", "command.txt", "wandb_id.txt")}
    capsys.readouterr()
    main(["fit", *FIT, "--trainer.max_steps=2", "--resume", str(run)])
    assert wandb.run is None
    assert sorted((run / "wandb").glob("offline-run-*")) == records
    assert capsys.readouterr().out.splitlines()[-1] == (
        "[run] fit: nothing trained: the run was already at step 2, where trainer.max_steps=2 stops it; to go on: "
        f"--trainer.max_steps=4; evaluate with: pixeltransformer test --config {run}/config.yaml --ckpt_path "
        f"{run}/checkpoints/best-step000002.ckpt")
    assert {name: (run / name).read_text() for name in written} == written  # the run folder as it was


def test_a_fit_on_the_default_data_folder_names_the_folder_it_read(tmp_path, monkeypatch, capsys):
    """A fit whose data was found through PIXELTRANSFORMER_DATA (no root given) recorded `root: null` in config.yaml
    and in its W&B config: the folder read was in the checkpoint alone, and the dashboard could not tell runs on
    different folders apart. The W&B config names it (data/root) and so does the [run] line; config.yaml keeps null,
    so that a resume finds the data again where this machine's PIXELTRANSFORMER_DATA puts it (here: moved), as an
    evaluation does."""
    from PIL import Image

    import numpy as np
    import wandb

    rng = np.random.default_rng(0)
    pictures = tmp_path / "data" / "cats" / "faces64"  # the folder dataset's default place below the data folder
    pictures.mkdir(parents=True)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(pictures / f"{i}.png")
    run = tmp_path / "runs" / "images" / "d"

    def fit(data: Path, *args: str) -> dict:
        monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(data))
        record_wandb_logs(monkeypatch, tmp_path)
        capsys.readouterr()
        main(["fit", *args, "--trainer.limit_val_batches=0", "--checkpoint.every_n_train_steps=1"])
        config = dict(wandb.run.config)
        wandb.finish()
        assert f"[run] fit images/folder from {data / 'cats' / 'faces64'}: " in capsys.readouterr().out
        return config

    config = fit(tmp_path / "data", "--config", str(REPO / "configs/images.yaml"),
                 "--config", str(REPO / "configs/model/tiny.yaml"), "--data.init_args.dataset=folder",
                 "--data.init_args.channels=1", "--data.init_args.image_size=8", "--data.init_args.splits=[-1,2,2]",
                 f"--data.init_args.cache_dir={tmp_path / 'c'}", "--data.init_args.batch_size=2",
                 "--trainer.max_steps=1", "--trainer.callbacks=[]", "--trainer.enable_progress_bar=false",
                 "--trainer.enable_model_summary=false", "--run_root", str(tmp_path / "runs"), "--run_name", "d")
    assert config["data/root"] == str(pictures)
    assert undocumented([key for key in config if "/" in key]) == []  # docs/dashboard.md says what it is
    assert config["data"]["init_args"]["root"] is None  # as config.yaml records it
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["init_args"]["root"] is None
    moved = (tmp_path / "data").rename(tmp_path / "elsewhere")
    config = fit(moved, "--resume", str(run), "--trainer.max_steps=2")
    assert config["data/root"] == str(moved / "cats" / "faces64")
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["init_args"]["root"] is None
    finished = record_wandb_runs(monkeypatch)  # an evaluation's W&B run names the folder it evaluated on too
    main(["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--trainer.limit_test_batches=1"])
    assert f"[run] test images/folder from {moved / 'cats' / 'faces64'}: " in capsys.readouterr().out
    assert [f["config"]["data/root"] for f in finished] == [str(moved / "cats" / "faces64")]
