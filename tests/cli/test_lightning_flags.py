"""Lightning's own Trainer and LightningCLI options, given as a Lightning user gives them: each works as in any
Lightning project, or is refused in one line that says what to use instead."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest

from pixeltransformer.cli import main

REPO = Path(__file__).resolve().parents[2]
# a fit of a few seconds: the tiny model on a handful of polynomials, W&B on (disabled by conftest)
FAST = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
        "--model.val_levels=[4]", "--data.init_args.resolution=64", "--data.init_args.train_size=16",
        "--data.init_args.val_size=4", "--data.init_args.test_size=4", "--data.init_args.batch_size=4",
        "--trainer.max_steps=2", "--trainer.val_check_interval=2",
        "--checkpoint.every_n_train_steps=2", "--trainer.enable_model_summary=false", "--trainer.callbacks=[]",
        "--trainer.accelerator=cpu"]


def runs(tmp_path: Path, name: str) -> list[str]:
    return ["--run_root", str(tmp_path), "--run_name", name]


def test_fast_dev_run_runs_and_keeps_no_run_folder(tmp_path, capsys):
    """fast_dev_run swaps the loggers for Lightning's DummyLogger and saves no checkpoint or config: the fit runs,
    and its run folder, which could be neither resumed nor evaluated, is not kept (the name stays free)."""
    for value in ("true", "2"):
        cli = main(["fit", *FAST, f"--trainer.fast_dev_run={value}", *runs(tmp_path, "dev")])
        assert cli.trainer.global_step == (1 if value == "true" else 2)
        assert not (tmp_path / "polynomial" / "dev").exists()
        assert "polynomial/dev not kept: a fast_dev_run keeps no run folder" in capsys.readouterr().out


class OtherProcessStartsTheRun(L.Callback):
    """What a real fit given the same --run_name in another process writes while a fast_dev_run runs."""

    def on_train_end(self, trainer, pl_module) -> None:
        run = Path(trainer.default_root_dir)
        (run / "checkpoints").mkdir(parents=True)
        for path in (run / "checkpoints" / "last.ckpt", run / "config.yaml", run / "wandb_id.txt"):
            path.write_text("the other run's")


def test_a_fast_dev_run_leaves_a_run_another_process_started_in_its_folder(tmp_path, capsys):
    """The run folder is named (and found free) before the dev run starts; a run of the same name started meanwhile
    writes its config, W&B id and checkpoints there, which the dev run, which writes none of them, must not remove."""
    other = "--trainer.callbacks+=test_lightning_flags.OtherProcessStartsTheRun"
    main(["fit", *FAST, "--trainer.fast_dev_run=true", other, *runs(tmp_path, "dev")])
    run = tmp_path / "polynomial" / "dev"
    assert [(run / name).read_text() for name in ("checkpoints/last.ckpt", "config.yaml", "wandb_id.txt")] == \
        ["the other run's"] * 3
    assert "polynomial/dev kept: a run started there while this fast_dev_run ran" in capsys.readouterr().out


def test_a_fast_dev_run_of_test_leaves_the_run_s_evaluation(tmp_path, capsys):
    """`test --trainer.fast_dev_run` evaluates a batch: it replaced the run's eval/ (metrics.json over the whole test
    set, config_test.yaml) with that batch's metrics and no config; it now writes no evaluation."""
    main(["fit", *FAST, "--trainer.max_steps=1", *runs(tmp_path, "a")])
    run = tmp_path / "polynomial" / "a"
    sweep = [a for a in FAST if a != "--trainer.callbacks=[]"]  # the config's SweepEvaluation and Pictures
    test = ["test", *sweep, "--data.init_args.test_size=8", "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    main(test)
    files = {p: p.read_bytes() for p in (run / "eval").rglob("*") if p.is_file()}
    assert {run / "eval" / "config_test.yaml", run / "eval" / "metrics.json"} <= set(files)
    capsys.readouterr()
    main([*test, "--trainer.fast_dev_run=true"])
    assert {p: p.read_bytes() for p in (run / "eval").rglob("*") if p.is_file()} == files
    assert not list(run.glob(".eval*"))
    assert f"[pixeltransformer] fast_dev_run: {run / 'eval' / 'metrics.json'} and plots not written" in \
        capsys.readouterr().out.splitlines()


def test_spawn_strategy_can_send_the_run_to_its_processes(tmp_path):
    """ddp_spawn pickles the trainer, with the config callback and the parser it holds, for each process it starts:
    the parser's link from the data to the model's spec is a function, not a lambda."""
    import pickle

    from pixeltransformer.cli import data_spec
    from pixeltransformer.run_config import RunConfig

    cli = main([*FAST, "--trainer.logger=false", *runs(tmp_path, "spawn")], run=False)
    trainer, model, data = pickle.loads(pickle.dumps((cli.trainer, cli.model, cli.datamodule)))  # as a process gets
    assert model.spec == cli.model.spec and model.hparams["spec"] == data_spec(data)  # the link's spec, from its data
    sent, given = (next(c for c in t.callbacks if isinstance(c, RunConfig)) for t in (trainer, cli.trainer))
    assert sent.config == given.config and sent.parser.prog == given.parser.prog  # it writes the same config


class LockSaysTrained(L.Callback):
    """Fails a fit whose run folder's lock does not say "untrained" before the first step (a fit killed then would
    keep its folder and hold its --run_name), or still says so once a step has trained (runs.remove_unstarted would
    delete the config and W&B run of such a fit killed later): on the first rank, as each batch begins (the first
    step's end marked it)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not trainer.is_global_zero:
            return
        lock = (Path(trainer.default_root_dir) / ".fit.lock").read_text()
        if trainer.global_step == 0:
            assert lock.rstrip().endswith(" untrained"), f"the lock says {lock!r} before the first step"
        else:
            assert lock.strip() and not lock.rstrip().endswith(" untrained"), f"the lock says {lock!r} after a step"


def test_ddp_spawn_processes_print_no_warnings_the_cli_silences(tmp_path):
    """The processes ddp_spawn starts never ran main(): each printed the warnings the CLI silences as not the user's
    to act on (torch 2.13's all_gather and LeafSpec deprecations, with their source file and line). The run's lock
    says "untrained" until they train a step, and that it trained after: their first rank writes it for the process
    that holds it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run([sys.executable, "-m", "pixeltransformer", "fit", *FAST, "--trainer.strategy=ddp_spawn",
                           "--trainer.devices=2", "--trainer.callbacks+=tests.cli.test_lightning_flags.LockSaysTrained",
                           *runs(tmp_path, "spawn")], env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "All distributed processes registered. Starting with 2 processes" in out
    assert not re.search(r"all_gather is deprecated|LeafSpec|\.py:\d+: ", out), out
    # the fit's closing line, which this process writes from what the processes that trained saved (Lightning
    # sends back the best checkpoint's path alone): it was left out
    run = tmp_path / "polynomial" / "spawn"
    best = run / "checkpoints" / "best-step000002.ckpt"
    assert re.fullmatch(rf"\[run\] fit: {run} ended at step 2: checkpoints/last.ckpt, checkpoints/best-step000002.ckpt "
                        rf"\(best val/nll \d+\.\d+\); evaluate with: pixeltransformer test --config {run}/config.yaml "
                        rf"--ckpt_path {best}", done.stdout.strip().splitlines()[-1]), done.stdout[-2000:]
    assert done.stdout.count("[run] fit: ") == 2  # the first line and the closing one, once each


def test_enable_checkpointing_false_trains_without_checkpoints(tmp_path, capsys):
    """The run's checkpoint callback (--checkpoint.*) is the CLI's, not the user's: with
    trainer.enable_checkpointing=false it is left out, where Lightning refused the fit for a ModelCheckpoint in the
    callbacks. The fit still ends on a line naming its folder (its config, logs and pictures) and saying that no
    checkpoint was kept, and how to keep one; so does a fit whose checkpoint options keep none."""
    cli = main(["fit", *FAST, "--trainer.enable_checkpointing=false", *runs(tmp_path, "nockpt")])
    run = tmp_path / "polynomial" / "nockpt"
    assert cli.trainer.global_step == 2 and cli.trainer.checkpoint_callback is None
    assert (run / "config.yaml").is_file() and not (run / "checkpoints").exists()
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"[run] fit: {run} ended at step 2: no checkpoint kept (trainer.enable_checkpointing=false; without it the "
        f"fit keeps checkpoints/last.ckpt)")
    main(["fit", *FAST, "--checkpoint.save_last=false", "--checkpoint.save_top_k=0", *runs(tmp_path, "none")])
    run = tmp_path / "polynomial" / "none"
    assert (run / "config.yaml").is_file() and not list(run.glob("checkpoints/*.ckpt"))
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"[run] fit: {run} ended at step 2: no checkpoint kept (checkpoint.save_last=false; "
        f"--checkpoint.save_last=true keeps checkpoints/last.ckpt)")


@pytest.mark.parametrize("given", [["--lr_scheduler=StepLR", "--lr_scheduler.step_size=2"],
                                   ["--optimizer=Adam", "--optimizer.lr=0.1"]])
def test_lightning_optimizer_options_are_refused_for_model_optim(tmp_path, given):
    """LightningCLI's --optimizer replaced the module's optimiser and schedule (model.optim unused); an
    --lr_scheduler alone was dropped. Both are refused before the run folder is named."""
    with pytest.raises(ValueError, match=rf"^{given[0].split('=')[0]}: the model trains with AdamW.*--model.optim.lr"):
        main([*FAST, *given, *runs(tmp_path, "opt")], run=False)
    assert not (tmp_path / "polynomial").exists()


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_seed_numpy_cannot_take_is_named_as_the_option_it_is(tmp_path, seed):
    """``--seed_everything -1`` said Lightning's ``-1 is not in bounds, numpy accepts from 0 to 4294967295``, which
    named no option (the seed may come from a config file); it is named, with what the option takes."""
    with pytest.raises(ValueError, match=rf"^seed_everything={seed} is not a seed: give a whole number from 0 to "
                                         r"4294967295 \(true: a random one, recorded in config\.yaml; false: no "
                                         r"seeding\)$"):
        main([*FAST, f"--seed_everything={seed}", *runs(tmp_path, "seed")], run=False)
    assert not (tmp_path / "polynomial").exists()


def test_a_run_started_from_another_run_s_config_gets_its_own_wandb_name(tmp_path):
    """`fit --config <run>/config.yaml --run_name b`: the file holds the W&B name derived for run a, which named
    run b's W&B run "polynomial/a" in group "polynomial/b"; a name the user chose is kept, run a's name too when the
    command line gives it."""
    main(["fit", *FAST, "--trainer.max_steps=1", *runs(tmp_path, "a")])
    config = str(tmp_path / "polynomial" / "a" / "config.yaml")
    for name, given, expected in (("b", [], "polynomial/b"), ("c", ["--trainer.logger.init_args.name=mine"], "mine"),
                                  ("d", ["--trainer.logger.name", "polynomial/a"], "polynomial/a")):  # run a's own
        cli = main(["fit", "--config", config, "--run_name", name, *given])
        logger = cli.config.fit.trainer.logger.init_args
        assert (logger.name, logger.group) == (expected, f"polynomial/{name}")
        assert cli.trainer.logger._wandb_init["name"] == expected


@pytest.mark.parametrize("sub, name", [("test", "best"), ("fit", "last")])
def test_lightning_s_best_and_last_ckpt_names_point_to_the_files(tmp_path, monkeypatch, sub, name):
    """--ckpt_path best|last name a checkpoint of a fit in the same process, which a command line never has: the
    error names the files to give instead, and --resume."""
    from pixeltransformer.loading import CheckpointError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match=rf"^checkpoint not found: {name} \(give the file: runs/<domain>/<run>/"
                                              r"checkpoints/last.ckpt or best-step\*.ckpt; to continue a run, fit "
                                              r"--resume runs/<domain>/<run>\)$"):
        main([sub, *FAST, f"--ckpt_path={name}", *runs(tmp_path, "r")])


FOLDER = ("each run goes to its own folder, <run_root>/<domain>/<run_name>, where the CLI points Lightning: set "
          "run_root (and run_name) instead")
GROUP = ("a run folder's fits and evaluations form one W&B group, <domain>/<run_name>, which the CLI names: gather "
         "runs with W&B tags instead")


@pytest.mark.parametrize("trainer, refused, why", [
    ("  default_root_dir: /tmp/mine\n", "trainer.default_root_dir", FOLDER),
    ("  logger:\n    init_args:\n      group: sweep\n", "trainer.logger.init_args.group", GROUP),
    ("  default_root_dir: /tmp/mine\n  logger:\n    - class_path: lightning.pytorch.loggers.WandbLogger\n"
     "      init_args: {group: sweep}\n", "trainer.default_root_dir and trainer.logger.init_args.group",
     f"{FOLDER}; {GROUP}")])
def test_a_config_file_that_sets_what_the_cli_sets_is_refused(tmp_path, capsys, trainer, refused, why):
    """--trainer.default_root_dir on the command line is refused in one line; in a config file it, and the W&B
    logger's group, were ignored without a word (the CLI sets both from the run folder). The file is named."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("trainer:\n" + trainer)
    with pytest.raises(ValueError, match=rf"^{mine} sets {refused}: {re.escape(why)}"):
        main(["fit", *FAST, "--config", str(mine), *runs(tmp_path, "mine")])
    assert not (tmp_path / "polynomial").exists() and "[run]" not in capsys.readouterr().out


@pytest.mark.parametrize("given", ["--trainer.logger.init_args.group=sweep", "--trainer.logger.group=sweep"])
def test_a_wandb_group_on_the_command_line_is_refused(tmp_path, given):
    """The command-line form of the W&B group, like --trainer.default_root_dir."""
    refused = rf"^{given.split('=')[0]}: {GROUP}: --trainer.logger.init_args.tags=\[\.\.\.\]$"
    with pytest.raises(ValueError, match=refused):
        main(["fit", *FAST, given, *runs(tmp_path, "sweep")])
    assert not (tmp_path / "polynomial").exists()


def test_a_run_s_config_records_no_run_folder_and_a_copy_starts_another_run(tmp_path):
    """config.yaml recorded its run folder (default_root_dir, the W&B save_dir and group, the name derived from them):
    a copy of it elsewhere, which the user means for a new run, would now be refused; it records none of them. A
    run folder's config.yaml written so by earlier versions still resumes its run."""
    import yaml

    main(["fit", *FAST, "--trainer.max_steps=1", *runs(tmp_path, "a")])
    config = tmp_path / "polynomial" / "a" / "config.yaml"
    saved = yaml.safe_load(config.read_text())["trainer"]
    assert saved["default_root_dir"] is None
    assert {k: saved["logger"]["init_args"][k] for k in ("save_dir", "group", "name")} == dict.fromkeys(
        ("save_dir", "group", "name"))
    copy = tmp_path / "copy.yaml"
    copy.write_text(config.read_text())
    cli = main(["fit", "--config", str(copy), "--trainer.max_steps=1", *runs(tmp_path, "b")])
    assert cli.trainer.global_step == 1 and cli.trainer.logger._wandb_init["group"] == "polynomial/b"

    old = config.read_text().replace("default_root_dir: null", f"default_root_dir: {config.parent}")
    config.write_text(old.replace("group: null", "group: polynomial/a"))  # as earlier versions wrote it
    resumed = main(["fit", "--resume", str(config.parent), "--trainer.max_steps=2"])
    assert resumed.trainer.global_step == 2 and resumed.trainer.logger._wandb_init["group"] == "polynomial/a"


@pytest.mark.parametrize("subcommand", ["fit", "validate"])
def test_every_device_on_the_cpu_is_refused_in_one_line(tmp_path, capsys, subcommand):
    """--trainer.devices=-1 (every GPU, configs/trainer/gpu.yaml's) with the CPU accelerator, as a GPU run's
    config.yaml given --trainer.accelerator=cpu has: Lightning stopped the command with a TypeError's traceback
    ("`devices` selected with `CPUAccelerator` should be an int > 0."). It is refused in one line, before the run
    folder is named."""
    args = [subcommand, *FAST, "--trainer.devices=-1", *runs(tmp_path, "every")]
    with pytest.raises(ValueError, match=r"^trainer.devices=-1 on the CPU, where it is a number of processes: give "
                                         r"--trainer.devices=1 for one, or 2 or more for DDP \(-1, every device, is "
                                         r"for GPUs\)$"):
        main(args)
    assert not (tmp_path / "polynomial").exists()
    assert "[run]" not in capsys.readouterr().out


def test_cpu_devices_lightning_takes_pass(monkeypatch):
    """The check that refuses -1 leaves what Lightning takes on the CPU, and any value where "auto" is a GPU."""
    from pixeltransformer import loading
    from pixeltransformer.loading import check_cpu_devices

    for devices in (1, 2, "3", "auto", None):
        check_cpu_devices("cpu", devices)
    for here in ((None, 0), ("cuda", 0)):  # no accelerator; a CUDA build that sees no GPU (a login node)
        monkeypatch.setattr(loading, "accelerator", lambda: here)
        for devices in (0, -1, "-1", [0, 1], "0"):
            with pytest.raises(ValueError, match=rf"^trainer.devices={re.escape(str(devices))} on the CPU"):
                check_cpu_devices("auto" if devices == "-1" else "cpu", devices)
    monkeypatch.setattr(loading, "accelerator", lambda: ("cuda", 4))
    check_cpu_devices("auto", -1)


def test_more_nodes_than_the_one_started_are_refused_not_waited_for(tmp_path):
    """--trainer.num_nodes=2 on one machine, without torchrun, srun or NODE_RANK, MASTER_ADDR and MASTER_PORT: the
    first process printed "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" and waited for a second node
    forever. It is refused in one line before Lightning is imported (preflight), and no run folder is made (a
    subprocess: the fit would start DDP)."""
    import os
    import subprocess
    import sys

    launched = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "RANK", "WORLD_SIZE", "LOCAL_RANK")  # and SLURM_*, ...
    env = {k: v for k, v in os.environ.items() if k not in launched and not k.startswith(("SLURM_", "TORCHELASTIC_"))}
    env |= {"WANDB_MODE": "disabled", "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    try:
        done = subprocess.run([sys.executable, "-m", "pixeltransformer", "fit", *FAST, "--trainer.num_nodes=2",
                               *runs(tmp_path, "nodes")], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the fit waited for a second node")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: trainer.num_nodes=2, but no launcher started this command on 2 nodes (torchrun, srun, or NODE_RANK, "
        "MASTER_ADDR and MASTER_PORT on each node), so it would wait for the others forever: start it on every node "
        "(torchrun --nnodes 2 ...), or leave out --trainer.num_nodes on one machine")
    assert not (tmp_path / "polynomial").exists()


def test_a_fast_dev_run_of_a_resume_says_it_left_the_run_unchanged(tmp_path, capsys):
    """`fit --resume RUN --trainer.fast_dev_run=true` ended on Lightning's "`max_steps=1` reached" alone: no [run]
    line said that the run folder was left as it was, nor that a run already past the dev run's one step trained
    nothing."""
    main(["fit", *FAST, *runs(tmp_path, "r")])
    run = tmp_path / "polynomial" / "r"
    last = (run / "checkpoints" / "last.ckpt").read_bytes()
    capsys.readouterr()
    main(["fit", "--resume", str(run), "--trainer.fast_dev_run=true"])
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"[run] fit: {run} unchanged: a fast_dev_run writes nothing into a run folder; it "
                                 "trained nothing: the run is at step 2, past the fast_dev_run's 1 step (try the "
                                 "options on a new run: leave out --resume)"), out
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == last


def test_a_resume_of_a_finished_run_says_it_trained_nothing(tmp_path, capsys):
    """`make train RESUME=RUN` of a run at its max_steps ended on Lightning's "`max_steps=2` reached" and a closing
    line like any fit's: nothing said that it trained nothing, nor which option trains on. Its one line ends with the
    closing line's command that evaluates the run (ended before the fit starts, it had lost it)."""
    main(["fit", *FAST, *runs(tmp_path, "r")])
    run = tmp_path / "polynomial" / "r"
    closing = capsys.readouterr().out.splitlines()[-1]
    evaluate = closing[closing.index("; evaluate with: "):]
    assert evaluate.endswith(f"--ckpt_path {run}/checkpoints/best-step000002.ckpt")  # the best, as the fit named it
    main(["fit", "--resume", str(run)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == ("[run] fit: nothing trained: the run was already at step 2, where trainer.max_steps=2 stops "
                         "it; to go on: --trainer.max_steps=4" + evaluate)  # its one line: the run is as it was
    main(["fit", "--resume", str(run), "--trainer.max_steps=3"])  # one that trains says nothing of the kind
    assert "nothing trained" not in capsys.readouterr().out


EPOCH = ["--trainer.max_steps=-1", "--trainer.max_epochs=1"]  # FAST's 16 functions, 4 a batch: 4 steps an epoch
# last.ckpt as the fit ended (the step save and the validation at step 3), or by the step save at the epoch's last
# step, 4 (the validation, at step 3, does not write it a second time there)
EPOCH_END = {"end": ["--checkpoint.every_n_train_steps=3", "--trainer.val_check_interval=3"],
             "step": ["--trainer.val_check_interval=3"]}


def test_a_resume_of_a_run_at_its_max_epochs_ends_before_the_fit_starts(tmp_path, capsys):
    """A resume of a run at its max_epochs started a fit that trained nothing (an empty W&B segment, the run's
    config.yaml written again) and said so only after it. Its last.ckpt written as the fit ended, or by a step save at
    the epoch's last step, each counts the epoch as done: it ends on its one line before the fit starts."""
    for name, save in EPOCH_END.items():
        main(["fit", *FAST, *EPOCH, *save, *runs(tmp_path, name)])
        run = tmp_path / "polynomial" / name
        written = {file: (run / file).read_text() for file in ("config.yaml", "command.txt")}
        capsys.readouterr()
        main(["fit", "--resume", str(run)])
        out = capsys.readouterr().out
        assert "[train]" not in out, out  # no fit started
        assert out.splitlines()[-1].startswith(
            "[run] fit: nothing trained: the run was already at step 4, where trainer.max_epochs=1 stops it; to go "
            f"on: --trainer.max_epochs=2; evaluate with: pixeltransformer test --config {run}/config.yaml"), out
        assert {file: (run / file).read_text() for file in written} == written
    cli = main(["fit", "--resume", str(run), "--trainer.max_epochs=2"])  # one that trains says nothing of the kind
    assert cli.trainer.global_step == 8 and "nothing trained" not in capsys.readouterr().out


def test_a_new_fit_from_a_step_checkpoint_at_an_epoch_s_end_counts_that_epoch_as_done(tmp_path, capsys):
    """fit --ckpt_path from a last.ckpt saved by its step at the epoch's last step, with trainer.max_epochs one
    above the epochs it had ended, trained nothing without a word (Lightning counts that epoch as done as it
    restores the checkpoint) and left a new run folder. It is refused as one at its max_epochs is."""
    main(["fit", *FAST, *EPOCH, *EPOCH_END["step"], *runs(tmp_path, "r")])
    last = tmp_path / "polynomial" / "r" / "checkpoints" / "last.ckpt"
    with pytest.raises(ValueError, match=rf"^--ckpt_path {last}: the checkpoint is at epoch 1 \(step 4; "):
        main(["fit", *FAST, *EPOCH, "--ckpt_path", str(last), *runs(tmp_path, "new")])
    assert not (tmp_path / "polynomial" / "new").exists()
    # FAST's validation at step 4 writes last.ckpt again: whether Lightning counts that epoch as done depends on the
    # new fit's validation schedule, so the fit starts, and it says that it trained nothing
    main(["fit", *FAST, *EPOCH, *runs(tmp_path, "v")])
    capsys.readouterr()
    last = tmp_path / "polynomial" / "v" / "checkpoints" / "last.ckpt"
    cli = main(["fit", *FAST, *EPOCH, "--ckpt_path", str(last), *runs(tmp_path, "new")])
    assert cli.trainer.global_step == 4
    assert capsys.readouterr().out.splitlines()[-2] == (
        "[run] fit: nothing trained: the checkpoint was already at step 4, where trainer.max_epochs=1 stops it; to "
        "go on: --trainer.max_epochs=2")


def test_a_resume_of_a_run_past_its_max_time_ends_before_the_fit_starts(tmp_path, capsys):
    """A resume of a run whose checkpoint records as much training time as its trainer.max_time (Lightning's Timer
    keeps it there) started a fit that stopped before its first step and said so only after it: it ends on its one
    line before the fit starts. last.ckpt's time is made an hour and 5 seconds, as an hour's fit records it."""
    import torch

    main(["fit", *FAST, "--trainer.max_time=00:01:00:00", *runs(tmp_path, "r")])
    run, last = tmp_path / "polynomial" / "r", tmp_path / "polynomial" / "r" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    saved["callbacks"]["Timer"]["time_elapsed"]["train"] = 3605.0
    torch.save(saved, last)
    capsys.readouterr()
    main(["fit", "--resume", str(run), "--trainer.max_steps=4"])
    out = capsys.readouterr().out
    assert "[train]" not in out, out  # no fit started
    assert out.splitlines()[-1].startswith(
        "[run] fit: nothing trained: the run was already at step 2, where trainer.max_time 1:00:00 stops it (1:00:05 "
        "trained); to go on: a longer --trainer.max_time; evaluate with: pixeltransformer test --config "), out
    # Lightning trains on to trainer.min_steps (at least), whatever the time; any min_steps (1, below the step) sets
    # min_epochs to 1 in Lightning, so a run in its first epoch trains on to that epoch's end (step 4)
    stopped = last.read_bytes()
    for min_steps in (1, 3):
        last.write_bytes(stopped)
        cli = main(["fit", "--resume", str(run), "--trainer.max_steps=4", f"--trainer.min_steps={min_steps}"])
        assert cli.trainer.global_step >= max(min_steps, 3) and "nothing trained" not in capsys.readouterr().out
    # a new run from it restores its clock too: refused before its folder is made, as one at its max_steps is
    last.write_bytes(stopped)
    with pytest.raises(ValueError, match=rf"^--ckpt_path {re.escape(str(last))}: the checkpoint has trained 1:00:05, and a fit from "
                                         r"it counts on from there, so trainer.max_time 1:00:00 trains nothing; give "
                                         r"a longer one$"):
        main(["fit", *FAST, "--trainer.max_time=00:01:00:00", "--trainer.max_steps=4", "--ckpt_path", str(last),
              *runs(tmp_path, "new")])
    assert not (tmp_path / "polynomial" / "new").exists()


def test_barebones_turns_off_what_the_configs_turn_on(tmp_path, capsys):
    """--trainer.barebones=true was refused by Lightning for the W&B logger the configs set ("`Trainer(barebones=True,
    logger=<...WandbLogger object at 0x...>)` was passed"), then, one option at a time, for their progress bar,
    log_every_n_steps, model summary and the run's checkpoint callback. The CLI turns them off as barebones asks,
    says so, and the fit ends on a line saying that barebones kept no checkpoint."""
    cli = main(["fit", *FAST, "--trainer.barebones=true", *runs(tmp_path, "bare")])
    run = tmp_path / "polynomial" / "bare"
    assert cli.trainer.global_step == 2 and cli.trainer.checkpoint_callback is None and not cli.trainer.loggers
    assert not (run / "checkpoints").exists() and not (run / "wandb").exists()
    lines = capsys.readouterr().out.strip().splitlines()
    assert ("[run] trainer.barebones=true: no logger (W&B), checkpoints, progress lines, model summary or sanity "
            "check, as Lightning's barebones mode asks") in lines
    assert lines[-1] == (f"[run] fit: {run} ended at step 2: no checkpoint kept (trainer.barebones=true turns "
                         "checkpoints off; without it the fit keeps checkpoints/last.ckpt)")
