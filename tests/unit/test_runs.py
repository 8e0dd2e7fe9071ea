"""Run folders on the command line: a resume's own config, and the domain `make` reads from a run's path."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pixeltransformer.fit_settings import check_fit_length, check_resume_length
from pixeltransformer.launch import joins_a_run, launched_run_name
from pixeltransformer.preflight import (check_command_line, check_config_files, check_config_order,
                                        check_set_by_the_cli, preflight)
from pixeltransformer.runs import (check_resume_name, check_run_name, check_run_root, expand_home, hold_run_folder,
                                   readable_run_configs, release_run_folder, resume_checkpoint, run_group,
                                   with_run_config)
from pixeltransformer.setting_sources import config_setting, overridden_options, parse_error_fields, parse_error_key

REPO = Path(__file__).resolve().parents[2]


def test_a_resume_puts_the_run_s_config_first(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    argv = ["fit", "--resume", str(run), "--trainer.max_steps=9"]
    assert with_run_config(argv) == argv  # no config.yaml (yet): the command line as given
    (run / "config.yaml").write_text("seed_everything: 0\n")
    config = ["--config", str(run / "config.yaml")]
    assert with_run_config(argv) == ["fit", *config, "--trainer.max_steps=9", "--resume", str(run)]
    assert with_run_config(["fit", f"--resume={run}", "--x=1"]) == ["fit", *config, "--x=1", f"--resume={run}"]
    # the resume goes last: a config given after it (a run's config.yaml holds resume: null) must not undo it
    assert with_run_config(["fit", "--resume", str(run), *config]) == ["fit", *config, *config, "--resume", str(run)]
    assert with_run_config(["test", "--resume", str(run)]) == ["test", "--resume", str(run)]  # fit only
    assert with_run_config(["fit", "--config", "c.yaml"]) == ["fit", "--config", "c.yaml"]


LAUNCHES = {  # what each launcher tells the processes it starts
    "torchrun rank 1": {"RANK": "1", "LOCAL_RANK": "1", "GROUP_RANK": "0", "WORLD_SIZE": "4", "TORCHELASTIC_RUN_ID": "j7"},
    "torchrun, second node": {"RANK": "2", "LOCAL_RANK": "0", "GROUP_RANK": "1", "WORLD_SIZE": "4",
                              "TORCHELASTIC_RUN_ID": "j7"},
    "srun task 1": {"SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "88"},
    "Lightning's rank 1": {"LOCAL_RANK": "1", "NODE_RANK": "0"},
    "Lightning, second node": {"LOCAL_RANK": "0", "NODE_RANK": "1"},
}
LAUNCHER_NAMES = {name for env in LAUNCHES.values() for name in env} | {"SLURM_STEP_ID", "SLURM_JOB_NAME"}


def test_a_run_name_is_one_folder_name_and_a_run_root_a_folder(tmp_path):
    """--run_name ../../x put a run outside <run_root>/<domain>/ and a/b nested it (where `make sample` reads the
    domain from the wrong part of the path); a --run_root with a file on its path failed on the OS's errno line.
    preflight refuses them from the command line, before Lightning is imported."""
    assert check_run_name("seed-3_lr1e-4.v2") == "seed-3_lr1e-4.v2"
    assert check_run_name("") == ""  # none given: the start time names the run
    for name in ("../../escape", "a/b", "..", ".", "a\\b"):
        with pytest.raises(ValueError, match=rf"^--run_name {re.escape(repr(name))} must be one folder name, not "
                                             r"'\.', '\.\.' or a path: runs go to <run_root>/<domain>/<run_name> "
                                             r"\(give --run_root to put them elsewhere\)$"):
            check_run_name(name)
    with pytest.raises(ValueError, match=r"^--run_name 'a/b' must be one folder name"):
        preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_name", "a/b"])
    assert check_run_root(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # made when the run starts
    (tmp_path / "afile").write_text("x")
    for root in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(NotADirectoryError, match=rf"^--run_root {re.escape(str(root))}: "
                                                     rf"{re.escape(str(tmp_path / 'afile'))} is a file, not a folder "
                                                     r"\(runs go to <run_root>/<domain>/<run_name>\): give another "
                                                     r"--run_root$"):
            check_run_root(root)
    with pytest.raises(NotADirectoryError, match=r"is a file, not a folder"):
        preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), f"--run_root={tmp_path / 'afile'}"])
    assert not (tmp_path / "afile").is_dir() and (tmp_path / "afile").read_text() == "x"


def test_a_tilde_in_a_run_path_is_the_home_folder(tmp_path, monkeypatch):
    """--run_root=~/runs (a "~" the shell leaves as it is after "=") put the run's command.txt and wandb_id.txt in a
    folder named "~" below the working folder and its checkpoints and config.yaml in the home folder, and printed
    an evaluation command in quotes that kept the "~"; --resume=~/... and --ckpt_path=~/... were not found."""
    monkeypatch.setenv("HOME", str(tmp_path))
    home = str(tmp_path)
    argv = ["fit", "--run_root=~/runs", "--resume", "~/runs/p/r", "--ckpt_path=~/c.ckpt", "--run_name=~x", "~/y"]
    assert expand_home(argv) == ["fit", f"--run_root={home}/runs", "--resume", f"{home}/runs/p/r",
                                 f"--ckpt_path={home}/c.ckpt", "--run_name=~x", "~/y"]
    # the checks made before the parser reads a config file (check_config_files, a domain's overlay order) read it
    assert expand_home(["fit", "--config=~/a.yaml", "-c", "~/b.yaml"]) == ["fit", f"--config={home}/a.yaml", "-c",
                                                                           f"{home}/b.yaml"]
    assert check_run_root("~/runs") == tmp_path / "runs"  # a config file's run_root
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("seed_everything: 0\n")
    assert with_run_config(["fit", "--resume=~/run"])[:3] == ["fit", "--config", f"{home}/run/config.yaml"]
    with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(home)}/run: no checkpoints/last.ckpt"):
        resume_checkpoint("~/run")  # the folder was found


def test_a_run_root_that_cannot_be_written_is_refused_before_the_run_starts(tmp_path, monkeypatch):
    """A --run_root on a read-only file system (or a folder this user may not write) failed after Lightning had set
    up the trainer, on the system's line alone: "[Errno 30] Read-only file system: '/mnt/ro/runs'"."""
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "ro")
    (tmp_path / "ro").mkdir()
    assert check_run_root(tmp_path / "rw" / "runs") == tmp_path / "rw" / "runs"
    ro = re.escape(str(tmp_path / "ro"))
    line = r" cannot be written \(no write permission\): runs go to <run_root>/<domain>/<run_name>; give another " \
        r"--run_root$"
    with pytest.raises(PermissionError, match=rf"^--run_root {ro}/runs: {ro}{line}"):  # made in a folder it can't write
        check_run_root(tmp_path / "ro" / "runs")
    with pytest.raises(PermissionError, match=rf"^--run_root {ro}: {ro}{line}"):
        preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), f"--run_root={tmp_path / 'ro'}"])
    assert not (tmp_path / "ro" / "runs").exists()


def test_a_run_folder_reached_through_a_symlink_keeps_its_w_and_b_group(tmp_path):
    """The W&B group (and name) of a run folder's fits and evaluations is <domain>/<run_name>: a resume or
    evaluation through a symlink to the folder (--resume ~/latest) logged under the link's parent and name
    ("home/latest"), apart from the run's other fits."""
    run = tmp_path / "runs" / "polynomial" / "real"
    run.mkdir(parents=True)
    (tmp_path / "latest").symlink_to(run)
    (tmp_path / "domains").mkdir()
    (tmp_path / "domains" / "poly").symlink_to(run.parent)
    assert run_group(run) == run_group(tmp_path / "latest") == run_group(tmp_path / "domains" / "poly" / "real") \
        == "polynomial/real"
    assert run_group(tmp_path / "runs" / "images" / "new") == "images/new"  # a new run's, not made yet


def test_a_link_beside_its_run_in_the_domain_folder_takes_the_run_s_group(tmp_path):
    """runs/polynomial/latest -> runs/polynomial/20261205-101500 was grouped as "polynomial/latest" once a domain
    folder's paths were kept as given (for a run moved away and linked back): the folder it leads to is the run."""
    import domains.polynomial.domain  # noqa: F401  (registers the domain)

    run = tmp_path / "runs" / "polynomial" / "20261205-101500"
    run.mkdir(parents=True)
    (run.parent / "latest").symlink_to(run)
    assert run_group(run.parent / "latest") == "polynomial/20261205-101500"


def test_a_run_linked_back_from_a_folder_named_as_another_domain_keeps_its_own_group(tmp_path):
    """runs/polynomial/p -> /backup/images/p (a backup folder that happens to bear another domain's name) was
    grouped as "images/p", apart from the run's other fits."""
    import domains.images.domain  # noqa: F401  (registers the domains)
    import domains.polynomial.domain  # noqa: F401

    backup = tmp_path / "backup" / "images" / "p"
    backup.mkdir(parents=True)
    (tmp_path / "runs" / "polynomial").mkdir(parents=True)
    (tmp_path / "runs" / "polynomial" / "p").symlink_to(backup)
    assert run_group(tmp_path / "runs" / "polynomial" / "p") == "polynomial/p"


def test_a_resume_of_a_folder_that_is_no_run_folder_names_the_run_folder_to_give(tmp_path):
    """--resume of a folder of runs (runs/polynomial, runs/) or of a run's checkpoints/ folder said "no
    checkpoints/last.ckpt in that folder (its fit stopped before the first save): start a new run", which sent the
    user away from a run that can be resumed. A command it suggests quotes a path with a space (the shell split
    it)."""
    domain = tmp_path / "my runs" / "polynomial"
    for name in ("20260101-000000", "b run"):
        (domain / name / "checkpoints").mkdir(parents=True)
        (domain / name / "checkpoints" / "last.ckpt").write_bytes(b"not read")
    os.utime(domain / "20260101-000000" / "checkpoints" / "last.ckpt", (0, 0))  # the older of the two
    latest = shlex.quote(str(domain / "b run"))
    for given in (domain, domain.parent):
        with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(str(given))}: not a run folder \(one "
                                                    r"holds config\.yaml and checkpoints/\) but a folder of 2 runs: "
                                                    rf"give one, e\.g\. the latest: --resume {re.escape(latest)}$"):
            resume_checkpoint(given)
    for given in (domain / "b run" / "checkpoints", domain / "b run" / "checkpoints" / "last.ckpt"):
        with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(str(given))}: a checkpoint.*: --resume "
                                                    rf"{re.escape(latest)}$"):
            resume_checkpoint(given)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(str(tmp_path / 'empty'))}: not a run folder "
                                                r"\(one holds config\.yaml and checkpoints/\)$"):
        resume_checkpoint(tmp_path / "empty")
    (domain / "stopped").mkdir()
    (domain / "stopped" / "config.yaml").write_text("seed_everything: 0\n")
    with pytest.raises(FileNotFoundError, match=r"its fit stopped before the first save"):  # a run folder still
        resume_checkpoint(domain / "stopped")


@pytest.mark.parametrize("option", ["enable_checkpointing: false", "barebones: true"])
def test_a_resume_of_a_run_that_kept_no_checkpoint_says_why(tmp_path, option):
    """--resume of a run fitted with trainer.enable_checkpointing=false (or barebones) said "its fit stopped before
    the first save", of a fit that ran to its end without saving: the option that kept none is named."""
    run = tmp_path / "polynomial" / "nockpt"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"seed_everything: 0\ntrainer:\n  {option}\n")
    key = option.split(":")[0]
    value = option.split(": ")[1]
    with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(str(run))}: no checkpoints/last.ckpt in that "
                                                rf"folder \(its fit ran with trainer.{key}={value}, which keeps no "
                                                r"checkpoint\): start a new run, with another --run_name$"):
        resume_checkpoint(run)


def test_a_run_name_too_long_for_a_folder_or_with_a_line_break_is_refused(tmp_path):
    """A --run_name of over 255 bytes failed after Lightning had set up the trainer, on the system's line "[Errno 36]
    File name too long: 'runs/polynomial/aaaa...'"; one with a line break (or a tab) made a run folder whose name
    broke the [run] lines and the evaluation command printed in two."""
    assert check_run_name("é" * 127) == "é" * 127  # 254 bytes
    with pytest.raises(ValueError, match=r"^--run_name 'éé.*éé' is 256 bytes long, more than a folder name may be "
                                         r"\(255\): give a shorter one$"):
        check_run_name("é" * 128)
    for name in ("a\nb", "a\tb", "a\rb"):
        with pytest.raises(ValueError, match=rf"^--run_name {re.escape(repr(name))} holds a line break or another "
                                             r"control character: give a name without$"):
            check_run_name(name)


def test_a_run_folder_given_as_a_checkpoint_names_the_checkpoint_in_it(tmp_path):
    """--ckpt_path of a run folder (or its checkpoints/) said "<folder> is a folder, not a checkpoint file" and not
    which file to give; the run's last.ckpt is named, and a run folder's resume, quoted for the shell."""
    from pixeltransformer.loading import CheckpointError, load_checkpoint

    run = tmp_path / "my run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not read")
    last = re.escape(shlex.quote(str(run / "checkpoints" / "last.ckpt")))
    resume = re.escape(f" (to continue the run: fit --resume {shlex.quote(str(run))})")
    for given, then in ((run, resume), (run / "checkpoints", "")):
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(given))} is a folder, not a checkpoint file: "
                                                  rf"give one in it, as {last}{then}$"):
            preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(given)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"/empty is a folder, not a checkpoint file$"):
        load_checkpoint(tmp_path / "empty")


def test_a_resume_of_a_run_folder_that_cannot_be_written_is_refused_saying_what_to_do(tmp_path, monkeypatch):
    """A resume of a run folder on a read-only file system (a shared disk) stopped on the system's line alone,
    "[Errno 30] Read-only file system: 'runs/polynomial/r/.fit.lock'"."""
    run = tmp_path / "my runs" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not read")
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != run)
    with pytest.raises(PermissionError, match=rf"^--resume {re.escape(str(run))}: the run folder cannot be written "
                                              r"\(no write permission\), and a resume writes its checkpoints there: "
                                              r"resume a copy of the run folder on a disk you can write$"):
        resume_checkpoint(run)


def test_a_resume_that_would_train_nothing_or_names_another_run_is_refused(tmp_path, monkeypatch):
    """--resume continued its run under its own name, ignoring a --run_name beside it without a word; and a resume
    whose max_steps was below its checkpoint's step trained nothing, said only that max_steps was reached, and
    wrote the smaller max_steps into the run's config.yaml. The CLI test of the same:
    tests/cli/test_cli.py::test_a_resume_that_trains_nothing_or_names_another_run_writes_nothing."""
    check_resume_name(["fit", "--resume", "runs/images/k1", "--run_name", "k1"])  # its own name: nothing to refuse
    check_resume_name(["fit", "--run_name", "other"])  # a new run
    (tmp_path / "k1").mkdir()
    monkeypatch.chdir(tmp_path / "k1")
    check_resume_name(["fit", "--resume", ".", "--run_name", "k1"])  # from inside the run: its own name
    for argv in (["fit", "--resume", "runs/images/k1", "--run_name", "other"],
                 ["fit", "--run_name=other", "--resume=runs/images/k1"]):
        with pytest.raises(ValueError, match=r"^--resume runs/images/k1 continues that run in its own folder, and "
                                             r"--run_name other would name a new one: give --resume to continue it, "
                                             r"or --run_name \(without --resume\) to start anew$"):
            check_resume_name(argv)
    for max_steps in (-1, None, 134, 135):  # 134: a finished run, resumed as it was, ends at once
        check_resume_length("runs/images/k1", 134, max_steps)
    check_resume_length("runs/images/k1", 134, -3)  # not a limit: check_fit_length names it
    check_resume_length("runs/images/k1", None, 5)  # a checkpoint without a step: Lightning decides
    for max_steps in (133, 100):
        with pytest.raises(ValueError, match=rf"^--resume runs/images/k1: the run is at step 134, past "
                                             rf"trainer.max_steps={max_steps}; give a larger one to train on \(e.g. "
                                             rf"--trainer.max_steps=268\)$"):
            check_resume_length("runs/images/k1", 134, max_steps)


def test_a_resume_given_another_checkpoint_is_refused(tmp_path, monkeypatch):
    """``fit --resume RUN --ckpt_path best.ckpt`` went on from RUN's last.ckpt, dropping the checkpoint given without
    a word; a resume goes on from its last.ckpt alone, and a fit from another checkpoint is a new run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/polynomial/r/checkpoints").mkdir(parents=True)
    best = "runs/polynomial/r/checkpoints/best-step000400.ckpt"
    for argv in (["fit", "--resume", "runs/polynomial/r", "--ckpt_path", best],
                 ["fit", f"--ckpt_path={best}", "--resume=runs/polynomial/r"]):
        with pytest.raises(ValueError, match=rf"^--resume runs/polynomial/r goes on from its own "
                                             rf"checkpoints/last\.ckpt, and --ckpt_path {best} names another: give "
                                             r"--resume to continue the run, or --ckpt_path with --config "
                                             r"runs/polynomial/r/config\.yaml and a new --run_name \(without "
                                             r"--resume\) to start a new run from it$"):
            check_resume_name(argv)
    # the run's own last.ckpt, as the resume reads it: nothing to refuse
    check_resume_name(["fit", "--resume", "runs/polynomial/r", "--ckpt_path=runs/polynomial/r/checkpoints/last.ckpt"])
    check_resume_name(["test", "--resume", "runs/polynomial/r", "--ckpt_path", best])  # fit only


def test_every_process_of_a_launch_but_the_first_joins_its_run(tmp_path, monkeypatch):
    """torchrun's and srun's other processes (RANK, SLURM_PROCID > 0; LOCAL_RANK alone is 0 on a second node) join
    the run the first one names: they neither name it (a [run] line each) nor refuse the folder it just made."""
    for name in LAUNCHER_NAMES:
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 0\n")  # as the first process has just written it
    argv = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
            "--run_name", "r"]
    assert not joins_a_run()
    with pytest.raises(FileExistsError, match="already exists"):
        preflight(argv)
    for launch, env in LAUNCHES.items():
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            assert joins_a_run(), launch
            preflight(argv)
    with monkeypatch.context() as m:  # srun's first task
        m.setenv("SLURM_NTASKS", "2"), m.setenv("SLURM_PROCID", "0")
        assert not joins_a_run()


def test_a_launch_names_one_run_for_all_its_processes(monkeypatch):
    """Without --run_name each process of a torchrun or srun launch would name its run by its own start time."""
    for name in LAUNCHER_NAMES:
        monkeypatch.delenv(name, raising=False)
    assert launched_run_name() is None  # one process: the start time names it
    monkeypatch.setenv("SLURM_NTASKS", "1"), monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_JOB_ID", "88")
    assert launched_run_name() is None  # an sbatch script of one task
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert launched_run_name() == "slurm-88"
    monkeypatch.setenv("SLURM_STEP_ID", "2")
    assert launched_run_name() == "slurm-88-2"
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # a shell of an interactive allocation runs one process
    assert launched_run_name() is None
    monkeypatch.delenv("SLURM_JOB_NAME")
    for name in ("SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "3f2a")
    assert launched_run_name() == "torchrun-3f2a"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's static rendezvous: no shared id
    with pytest.raises(ValueError, match=r"^this fit is one of 4 processes a launcher started, and each would name "
                                         r"its run folder by its own start time: give --run_name$"):
        launched_run_name()


def test_a_run_s_config_given_to_any_command_loses_its_logged_wandb_id(tmp_path):
    """Earlier versions wrote the W&B id into config.yaml, where an id like 2048e123 became a number the parser
    refuses: a run's config.yaml on any command line gets `id: null` (the id lives in wandb_id.txt); other config
    files and other keys named id stay as they are."""
    text = ("trainer:\n  logger:\n  - class_path: lightning.pytorch.loggers.WandbLogger\n    init_args:\n"
            "      id: 2.048e+126\n      name: r\n  callbacks:\n  - class_path: x.Y\n    init_args:\n      id: 3\n"
            "model:\n  id: .inf\n")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(text)
    (tmp_path / "config.yaml").write_text(text)  # not a run's: no checkpoints/ or wandb_id.txt beside it
    readable_run_configs(["test", "--config", str(run / "config.yaml"), f"--config={tmp_path / 'config.yaml'}"])
    assert (run / "config.yaml").read_text() == text.replace("id: 2.048e+126", "id: null")
    assert (tmp_path / "config.yaml").read_text() == text
    readable_run_configs(["test", "--config", str(run / "config.yaml")])  # nothing left to change
    assert (run / "config.yaml").read_text() == text.replace("id: 2.048e+126", "id: null")


def test_what_the_cli_sets_is_refused_in_a_config_file_but_not_in_one_a_run_folder_holds(tmp_path):
    """The run folder and the W&B group in a config file are refused in one line, found also in a logger list (only
    the W&B logger's group: another logger's is its own); the files earlier versions wrote into a run folder, its
    config.yaml and an evaluation's config_test.yaml, record them and are read as they are."""
    text = ("trainer:\n  default_root_dir: runs/polynomial/r\n  logger:\n"
            "  - class_path: lightning.pytorch.loggers.WandbLogger\n    init_args: {group: polynomial/r}\n")
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "eval").mkdir(parents=True)
    (run / "wandb_id.txt").write_text("0123abcd\n")
    for config in (run / "config.yaml", run / "eval" / "config_test.yaml", tmp_path / "config.yaml"):
        config.write_text(text)
    check_set_by_the_cli(["fit", "--config", str(run / "config.yaml"), "-c", str(run / "eval" / "config_test.yaml")])
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'config.yaml'} sets trainer.default_root_dir and "
                                         r"trainer.logger.init_args.group: each run goes to its own folder, .*; a run "
                                         r"folder's fits and evaluations form one W&B group, .*tags\)$"):
        check_set_by_the_cli(["fit", f"--config={tmp_path / 'config.yaml'}"])
    other = tmp_path / "other.yaml"
    other.write_text("trainer:\n  logger:\n  - class_path: mine.GroupLogger\n    init_args: {group: g}\n")
    check_set_by_the_cli(["fit", "--config", str(other)])


def test_an_overlay_given_before_its_domain_config_is_named():
    """configs/images/mnist.yaml alone, or before configs/images.yaml: one line naming the order, not the parser's
    "Option 'dataset' is not accepted"."""
    overlay, base = REPO / "configs/images/mnist.yaml", REPO / "configs/images.yaml"
    gpu = REPO / "configs/trainer/gpu.yaml"
    for argv in (["fit", "--config", str(overlay)], ["fit", f"--config={overlay}", "--config", str(base)],
                 ["test", "-c", str(overlay), "-c", str(base)],
                 ["fit", "--config", str(gpu), "--config", str(overlay)]):  # a config before it, but not the domain's
        with pytest.raises(ValueError, match=rf"^{overlay} is an overlay of {base}: give --config {base} before it$"):
            check_config_order(argv)
    video = REPO / "configs/video.yaml"
    for other in (REPO / "configs/video/beach.yaml", REPO / "configs/sdf/eval_quick.yaml"):  # a dataset, an option file
        theirs = other.parent.with_suffix(".yaml")
        for argv in (["fit", "--config", str(base), "--config", str(other)],
                     ["fit", "--config", str(base), "--config", str(overlay), "--config", str(gpu), "-c", str(other)]):
            with pytest.raises(ValueError, match=rf"^{other} is an overlay of {theirs} \(the {theirs.stem} domain\), "
                               rf"but the data before it is {base}'s \(the images domain\): give --config {theirs} "
                               rf"before it, in place of {base}$"):
                check_config_order(argv)
    for argv in (["fit", "--config", str(base), "--config", str(overlay)],  # the documented order
                 ["fit", "--config", str(REPO / "configs/model/paper.yaml"), "--config", str(base)],  # not a dataset
                 ["fit", "--resume", "runs/images/r", "--config", str(overlay)],  # the run's config.yaml comes first
                 ["fit", "--config", str(base), "--config", str(gpu), "--config", str(overlay)],
                 ["fit"]):
        check_config_order(argv)


def test_configs_of_two_domains_are_refused_naming_both(tmp_path):
    """configs/polynomial.yaml then configs/images.yaml: the images data and model with the polynomial's options left
    over, which stopped on "a per-set value frame (model.net.value_norm) needs one Gaussian", or trained a mix of
    both without a word."""
    poly, images, video = (REPO / f"configs/{d}.yaml" for d in ("polynomial", "images", "video"))
    mine = tmp_path / "mine.yaml"  # a config of the user's that names the video data class
    mine.write_text("data:\n  class_path: domains.video.data.VideoDataModule\n")
    for first, later, argv in (
            (poly, images, ["fit", "--config", str(poly), "--config", str(images)]),
            (images, video, ["test", "-c", str(images), "--config", str(video), "--config",
                             str(REPO / "configs/video/beach.yaml")]),
            (poly, mine, ["fit", "--config", str(poly), "--config", str(REPO / "configs/model/tiny.yaml"),
                          f"--config={mine}"])):
        theirs, mine_domain = first.stem, "video" if later == mine else later.stem
        with pytest.raises(ValueError, match=re.escape(
                f"{later} is for the {mine_domain} domain, but {first} before it is for the {theirs} domain: the "
                f"options of the two would mix; give the configs of one domain")):
            check_config_order(argv)
    check_config_order(["fit", "--config", str(images), "--config", str(REPO / "configs/images/mnist.yaml"),
                        "--config", str(images)])  # one domain's config given twice


def test_a_config_file_that_is_not_a_mapping_of_options_is_named_with_its_cause(tmp_path):
    """A config file with a YAML mistake names the file, the problem and its line (the parser said only "Problems
    parsing config: while parsing a flow sequence"); an empty one, or one of a list, says so (the parser: "Unexpected
    config: "); an option group left empty (its options commented out) or given a number is named (it ended in a
    traceback, or for trainer: wiped every earlier config's trainer settings without a word)."""
    cases = {
        "model:\n  net:\n    width: [64\n":
            "not valid YAML: expected ',' or ']', but got '<stream end>' at line 4, column 1 (while parsing a flow "
            "sequence at line 3, column 12)",
        "model:\n\tnet: 1\n": "not valid YAML: found character '\\t' that cannot start any token at line 2, column 1",
        "model:\n  net:\n    width: 64\nmodel:\n  optim:\n    lr: 0.01\n":  # the parser: "while constructing a mapping"
            "not valid YAML: the key 'model' is given twice (first at line 1) at line 4, column 1",
        "model:\n  net: {width: 64, width: 32}\n":
            "not valid YAML: the key 'width' is given twice (first at line 2) at line 2, column 20",
        "": "holds no options (it is empty, or only comments): give options in it (model:, data:, trainer:, ...) or "
            "leave out --config {path}",
        "# model:\n#   net: {width: 64}\n": "holds no options (it is empty, or only comments)",
        "- a\n- b\n": "holds a list, not options: a config file is a mapping (model:, data:, trainer:, ...)",
        "model:\n  net:\n    # width: 64\n": ": model.net is empty (null): give its options indented below it, or "
                                                "leave net: out",
        "trainer:\n  # max_steps: 5\n": ": trainer is empty (null): give its options indented below it, or leave "
                                         "trainer: out",
        "checkpoint: 5\n": ": checkpoint must hold its options (checkpoint: then its options indented below it), got "
                           "number 5",
        "model:\n  optim: [1, 2]\n": ": model.optim must hold its options (optim: then its options indented below "
                                      "it), got list [1, 2]",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(text)
        for argv in (["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(path)],
                     ["test", f"--config={path}"], ["fit", "-c", str(path)]):
            with pytest.raises(ValueError) as err:
                check_config_files(argv)
            assert str(err.value).startswith(str(path)) and message.format(path=path) in str(err.value), text
            assert "\n" not in str(err.value)
    # a checkpoint given as --config (the parser: "'utf-8' codec can't decode byte 0x80 in position 64"), other bytes
    import zipfile

    with zipfile.ZipFile(tmp_path / "last.ckpt", "w") as ckpt:  # torch.save's format: a zip archive
        ckpt.writestr("last/data.pkl", b"\x80\x02}q\x00.")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match=rf"^--config {tmp_path}/last.ckpt is not a text file \(a config is YAML\): "
                                         r"a checkpoint is given as --ckpt_path$"):
        check_config_files(["test", "--config", str(REPO / "configs/polynomial.yaml"), "-c",
                            str(tmp_path / "last.ckpt")])
    with pytest.raises(ValueError, match=rf"^--config {tmp_path}/picture.png is not a text file \(a config is YAML\)$"):
        check_config_files(["fit", "--config", str(tmp_path / "picture.png")])
    # a multi-GB checkpoint is refused on its first bytes, not read whole (twice) first
    import tracemalloc

    with open(tmp_path / "big.ckpt", "wb") as big:
        big.write((tmp_path / "last.ckpt").read_bytes())
        big.truncate(64 << 20)  # sparse: 64 MiB
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"is not a text file \(a config is YAML\): a checkpoint is given as"):
        check_config_files(["fit", "--config", str(tmp_path / "big.ckpt")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20, peak
    # what the parser reads or reports itself: every shipped config, a group given as the path of a file of its
    # options, a null that is not a group (data's, a subclass the parser checks), a path that is not a file
    shipped = sorted((REPO / "configs").rglob("*.yaml"))
    (tmp_path / "net.yaml").write_text("model:\n  net: sizes.yaml\n  sets: null\nseed_everything: null\n")
    check_config_files(["fit", *[a for p in shipped for a in ("--config", str(p))], "--config",
                        str(tmp_path / "net.yaml"), "--config", "{trainer: {max_steps: 5}}"])


def test_a_config_in_another_encoding_is_named_with_its_first_byte_that_is_not_utf8(tmp_path):
    """A config saved as Latin-1 or Windows-1252 (an accent in a comment) was refused as "not a text file", which it
    is: the line names the encoding it needs and where the first byte it cannot read is."""
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  net:\n    width: 64  # café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^--config {re.escape(str(config))} is not UTF-8 text \(byte 0xe9 at "
                                         r"line 3, column 21\): save it as UTF-8$"):
        check_config_files(["fit", "--config", str(config)])


def test_a_resume_s_own_config_that_is_not_options_is_named_with_its_cause(tmp_path):
    """``fit --resume RUN`` reads RUN/config.yaml first: one cut short or emptied said the parser's "Problems parsing
    config: while parsing a flow sequence" or "Unexpected config:", naming neither the file nor the line."""
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    config = run / "config.yaml"
    config.write_text("# a run that never saved\n")
    check_command_line(["fit", "--resume", str(run)])  # no last.ckpt: the resume says so itself (resume_checkpoint)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    config.write_text("model:\n  net:\n    width: [64\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))}: not valid YAML: .* at line 4, column 1"):
        check_command_line(["fit", "--resume", str(run), "--trainer.max_steps=9"])
    config.write_text("# emptied\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))} holds no options \(it is empty, or only "
                                         r"comments\): a resume reads its run's settings from it: give them back in it "
                                         r"\(the run's command\.txt names the configs its fits were given\)$"):
        check_command_line(["fit", f"--resume={run}"])


def test_the_model_s_options_given_under_init_args_are_named_with_their_own_names(tmp_path):
    """The data is a class chosen by class_path, whose options go under init_args; the model is one class, whose
    options do not: ``--model.init_args.net.width 32`` said ``unrecognized arguments``, and a config file's
    ``model: init_args: net: ...`` said ``Group 'model' does not accept option 'init_args.net.width'``."""
    base = str(REPO / "configs/polynomial.yaml")
    for given in (["--model.init_args.net.width", "32"], ["--model.init_args.net.width=32"]):
        with pytest.raises(ValueError, match=r"^--model\.init_args\.net\.width: the model is one class, whose options "
                                             r"take no init_args \(the data's do\): give --model\.net\.width$"):
            check_command_line(["fit", "--config", base, *given])
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  class_path: pixeltransformer.module.PixelTransformerModule\n  init_args:\n"
                      "    net:\n      width: 32\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))}: model\.init_args: the model is one class, "
                                         r"whose options take no class_path or init_args \(the data's do\): give "
                                         r"them under model: itself \(model: net: width: 32\)$"):
        check_command_line(["fit", "--config", base, "--config", str(config)])
    # a class the model holds takes them: its set sampler
    check_command_line(["fit", "--config", base, "--model.sets.init_args.min_context=4", "--data.init_args.x=1"])


def test_a_command_without_a_config_is_told_which_to_give(tmp_path, monkeypatch):
    """``pixeltransformer predict --ckpt_path last.ckpt`` (or any command without --config) said ``the following
    arguments are required: predict.data``: the config that names the data and the domain is named, the checkpoint's
    run's config.yaml where the checkpoint lies in a run folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=rf"^fit needs a config that names the data and the model's domain: give "
                                         rf"--config {re.escape(str(REPO))}/configs/<domain>\.yaml \(<domain>: "
                                         r"images, polynomial, sdf or video\)$"):
        check_command_line(["fit", "--trainer.max_steps=5"])
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 0\n")
    with pytest.raises(ValueError, match=r"^predict needs a config that names the data and the model's domain: give "
                                         r"--config runs/polynomial/r/config\.yaml, the checkpoint's run's$"):
        check_command_line(["predict", "--ckpt_path", "runs/polynomial/r/checkpoints/last.ckpt", "--input", "x.png"])
    # a config, the data given by option, --help, --print_config and a resume (which names its own mistakes) pass
    tiny = str(REPO / "configs/model/tiny.yaml")
    with pytest.raises(ValueError, match=rf"^fit needs a config .* or video\) before --config {re.escape(tiny)}$"):
        check_command_line(["fit", "--config", tiny])
    for argv in (["test", "-c", str(REPO / "configs/sdf.yaml"), "-c", tiny],
                 ["fit", "--data=domains.polynomial.data.X"],
                 ["fit", "--help"], ["predict", "-h"], ["fit", "--print_config"], ["fit", "--resume", "runs/gone"]):
        check_command_line(argv)


def test_a_config_path_that_is_no_file_is_named_with_what_to_give(tmp_path, monkeypatch):
    """``--config missing.yaml`` said jsonargparse's ``Parser key "config": File does not exist: '/abs/missing.yaml'``
    (a folder: "Path is not a file"), once Lightning was imported: one line names the path as given and what to give
    instead; a config given as YAML text (``--config '{trainer: {max_steps: 5}}'``) is still the parser's."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^--config missing\.yaml: no such file in "
                                                rf"{re.escape(str(tmp_path))} \(the folder the command runs in\)"):
        check_config_files(["fit", "--config", "missing.yaml"])
    with pytest.raises(FileNotFoundError, match=r"^--config /nowhere/x\.yaml: no such file: give the path of "):
        check_config_files(["fit", "--config=/nowhere/x.yaml"])
    with pytest.raises(FileNotFoundError, match=r"^--config x\.yaml: no such file in "):
        check_config_files(["fit", "-c=x.yaml"])  # as argparse reads it: -c x.yaml
    # a shipped config by a path that misses its folder, or given from outside the repository
    for given, meant in (("gp_rbf.yaml", "configs/polynomial/gp_rbf.yaml"),
                         ("configs/gp_rbf.yaml", "configs/polynomial/gp_rbf.yaml"),
                         ("configs/polynomial.yaml", "configs/polynomial.yaml")):
        with pytest.raises(FileNotFoundError, match=rf"; did you mean {re.escape(str(REPO / meant))}\?$"):
            check_config_files(["fit", "-c", given])
    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"^--config runs/polynomial/r is a folder, not a config file: give "
                                                r"the path of a YAML file$"):
        check_config_files(["fit", "--config", "runs/polynomial/r"])
    (run / "config.yaml").write_text("seed_everything: 1\n")
    with pytest.raises(IsADirectoryError, match=r"^--config runs/polynomial/r is a folder, not a config file: give "
                                                r"one of its YAML files: --config runs/polynomial/r/config\.yaml$"):
        check_config_files(["fit", "--config", "runs/polynomial/r"])
    check_config_files(["fit", "--config", "{trainer: {max_steps: 5}}", "--config", str(run / "config.yaml")])


def test_a_parser_error_about_an_option_names_the_config_file_that_sets_it(tmp_path):
    """With four config files composed, "Group 'model' does not accept option 'net.widht'" or "Expected a <class
    'int'>. Got value: lots" did not say which file: the CLI names the first file, in the command line's order (the
    parser stops at the first that fails), that sets the option (to the value named), unless an option of the command
    line does."""
    assert parse_error_key("Subcommand 'fit' does not accept option 'model.net.widht'") == "model.net.widht"
    assert parse_error_key("Group 'model' does not accept option 'net.widht'") == "model.net.widht"
    assert parse_error_key("Option 'modle.x' is not accepted") == "modle.x"
    assert parse_error_key("data: Option 'batchsize' is not accepted (PolynomialDataModule)") == "data.batchsize"
    assert parse_error_key('Parser key "trainer.max_steps": Expected a <class \'int\'>. Got value: lots') == \
        "trainer.max_steps"
    assert parse_error_key("data.init_args.dataset: Expected a typing.Literal['digits']. Got value: npz "
                           "(ImageDataModule)") == "data.init_args.dataset"
    assert parse_error_key("unrecognized arguments: --model.net.widht=64") is None
    assert parse_error_fields('Parser key "trainer.max_steps": Expected a <class \'int\'>. Got value: lots') == \
        ("trainer.max_steps", "lots")
    assert parse_error_fields("data.init_args.dataset: Expected a typing.Literal['digits']. Got value: npz "
                              "(ImageDataModule)") == ("data.init_args.dataset", "npz")
    assert parse_error_fields("Group 'model' does not accept option 'net.widht'") == ("model.net.widht", None)
    base, overlay = str(REPO / "configs/images.yaml"), str(REPO / "configs/video/beach.yaml")
    typo, ok, lots = tmp_path / "typo.yaml", tmp_path / "ok.yaml", tmp_path / "lots.yaml"
    typo.write_text("model:\n  net:\n    widht: 64\n")
    ok.write_text("trainer:\n  max_steps: 40\ndata:\n  batchsize: 4\n")
    lots.write_text("trainer:\n  max_steps: lots\n")
    given = ["fit", "--config", base, "-c", str(ok), f"--config={typo}", "--config", str(lots)]
    assert config_setting(given, "model.net.widht") == str(typo)
    assert config_setting(given, "data.init_args.dataset") == base  # init_args as the file gives it
    assert config_setting(given, "data.init_args.batchsize") == str(ok)  # init_args left out in the file
    assert config_setting(given, "trainer.max_steps", "lots") == str(lots)  # not ok.yaml's valid 40
    assert config_setting([*given, "--trainer.max_steps=x"], "trainer.max_steps", "lots") == str(lots)
    assert config_setting(["fit", "--trainer.max_steps", "x", *given[1:]], "trainer.max_steps", "x") is None
    assert config_setting(["fit", "--config", base, "--config", overlay], "data.init_args.dataset", "npz") == overlay
    assert config_setting(given, "model.net.width") is None  # set by no file


def test_an_option_that_a_later_config_sets_again_is_named(tmp_path):
    """Options and configs take effect in the order given: ``--trainer.max_steps 1`` before an overlay that sets
    max_steps trained the overlay's 10 000 steps without a word. Each option a later --config sets to another value
    is named once, with the file whose value is used (the last that sets it)."""
    base, overlay = str(REPO / "configs/polynomial.yaml"), str(REPO / "configs/polynomial/gp_tnp_rbf.yaml")
    assert overridden_options(["fit", "--config", base, "--trainer.max_steps", "1", "--config", overlay]) == [
        f"--trainer.max_steps=1 is overridden by {overlay} after it (options take effect in the order given): give it "
        "after the last --config"]
    data, more = tmp_path / "data.yaml", tmp_path / "more.yaml"
    data.write_text("data:\n  class_path: domains.polynomial.data.PolynomialDataModule\n  init_args:\n"
                    "    batch_size: 8\n")
    more.write_text("data:\n  batch_size: 16\ntrainer:\n  max_steps: 3\n")  # init_args left out, as the parser allows
    notes = overridden_options(["fit", "--data.init_args.batch_size=4", "--trainer.max_steps=9", "--config",
                                str(data), f"--config={more}"])
    assert [note.split(" is overridden by ")[0] for note in notes] == ["--data.init_args.batch_size=4",
                                                                        "--trainer.max_steps=9"]
    assert all(f"by {more} after it" in note for note in notes)  # the last file that sets it: its value is used
    assert len(overridden_options(["fit", "--data.batch_size", "4", "-c", str(data)])) == 1  # init_args left out
    # nothing to say: options after the configs (make's order), a file that sets the same value or not the option,
    # the option given again after the file, a file that cannot be read
    quiet = [["fit", "--config", base, "--config", overlay, "--trainer.max_steps", "1"],
             ["fit", "--config", base, "--trainer.max_steps=10000", "--config", overlay],
             ["fit", "--data.batch_size=16", "--config", str(more)],
             ["fit", "--model.net.width=64", "--seed_everything", "3", "--config", str(more)],
             ["fit", "--trainer.max_steps=1", "--config", str(more), "--trainer.max_steps=1"],
             ["fit", "--trainer.max_steps=1", "--config", str(tmp_path / "missing.yaml")]]
    for argv in quiet:
        assert overridden_options(argv) == [], argv
    # a resume: the run's own config.yaml goes first, before every option (with_run_config), and overrides none
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer:\n  max_steps: 10\nckpt_path: null\n")
    resume = ["fit", "--trainer.max_steps=20", "--resume", str(run)]
    assert overridden_options(resume) == overridden_options(with_run_config(resume)) == []
    # a run's config.yaml (ckpt_path: null) after --ckpt_path: the CLI refuses it in words of its own
    assert overridden_options(["test", "--ckpt_path", "last.ckpt", "--config", str(run / "config.yaml")]) == []


def test_an_option_a_later_config_leaves_as_it_was_is_not_named_and_one_it_replaces_is(tmp_path):
    """A later config changes only the keys it sets: ``--model.net '{heads: 2}' --config b.yaml`` (b.yaml sets net's
    width alone) trains with 2 heads, and was said to be "overridden by b.yaml"; a mapping given to a group is named
    by the keys of it the file sets to another value. A list a later file gives is replaced whole:
    ``--trainer.callbacks.num_samples=2`` edits the config's last callback, which the overlay's callbacks replace, and
    went unnamed."""
    width, data = tmp_path / "width.yaml", tmp_path / "data.yaml"
    width.write_text("model:\n  net:\n    width: 64\n")
    data.write_text("data:\n  init_args:\n    batch_size: 8\n")
    quiet = [["fit", "--model.net", "{heads: 2}", "--config", str(width)],
             ["fit", "--model.net={width: 64, heads: 2}", "--config", str(width)],
             ["fit", "--data", "{init_args: {num_workers: 1}}", "--config", str(data)],
             ["fit", "--data={num_workers: 1}", "-c", str(data)],  # init_args left out, as the parser allows
             ["fit", "--model", "{net: {heads: 2}, optim: {lr: 0.01}}", "--config", str(width)]]
    for argv in quiet:
        assert overridden_options(argv) == [], argv
    assert overridden_options(["fit", "--model.net", "{width: 32, heads: 2}", "--config", str(width)]) == [
        f"--model.net={{width: 32, heads: 2}}: its width is overridden by {width} after it (options take effect in "
        "the order given): give it after the last --config"]
    assert overridden_options(["fit", "--data={init_args: {batch_size: 4}}", "--config", str(data)]) == [
        f"--data={{init_args: {{batch_size: 4}}}}: its init_args.batch_size is overridden by {data} after it "
        "(options take effect in the order given): give it after the last --config"]
    base, overlay = str(REPO / "configs/polynomial.yaml"), str(REPO / "configs/polynomial/gp_tnp_rbf.yaml")
    assert overridden_options(["fit", "--config", base, "--trainer.callbacks.num_samples=2", "--config",
                               overlay]) == [
        f"--trainer.callbacks.num_samples=2 is overridden by {overlay} after it, whose trainer.callbacks replaces "
        "the list it edits (options take effect in the order given): give it after the last --config"]


def test_an_unknown_command_is_named_with_the_commands_there_are():
    """``pixeltransformer fitt`` said argparse's ``invalid choice: 'fitt' (choose from ...)`` once Lightning had
    loaded, and pointed at ``pixeltransformer fitt --help``, which does not exist; `evaluate`, `train` and `sample`
    (make's words) name the command that does what they ask."""
    commands = "the commands are fit, validate, test and predict (pixeltransformer <command> --help)"
    cases = {"fitt": f"unknown command 'fitt': {commands}; did you mean fit?",
             "evaluate": f"unknown command 'evaluate': {commands}; did you mean test?",
             "train": f"unknown command 'train': {commands}; did you mean fit?",
             "sample": f"unknown command 'sample': {commands}; did you mean predict?",
             "configs/polynomial.yaml": f"unknown command 'configs/polynomial.yaml': {commands}"}
    for word, message in cases.items():
        for check in (preflight, check_command_line):
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                check([word, "--config", str(REPO / "configs/polynomial.yaml")])
    for argv in (["fit", "--config", str(REPO / "configs/polynomial.yaml")], ["--help"], [], ["predict", "--help"]):
        check_command_line(argv)


def test_an_option_before_the_command_is_told_to_go_after_it():
    """``pixeltransformer --trainer.max_steps 3 fit ...`` said argparse's "argument subcommand: invalid choice: '3'
    (choose from 'fit', ...)" (with ``=3``: "unrecognized arguments"), after a warning that the option was overridden
    by the config after it. Options go after the command; the line says so, naming the option and the command. The
    main parser's own options (--config, --print_config, --help) stay where they are."""
    config = str(REPO / "configs/polynomial.yaml")
    cases = {("--trainer.max_steps", "3", "fit", "--config", config): ("--trainer.max_steps", "fit"),
             ("--trainer.max_steps=3", "fit", "--config", config): ("--trainer.max_steps", "fit"),
             ("--ckpt_path", "last.ckpt", "test"): ("--ckpt_path", "test"),
             # a value that is a command's name is no command
             ("--config", config, "--run_name", "test", "fit"): ("--run_name", "fit")}
    for argv, (option, command) in cases.items():
        for check in (preflight, check_command_line):
            with pytest.raises(ValueError, match=f"^{re.escape(option)} is given before the command {command}: "
                                                 f"options go after it \\(pixeltransformer {command} "
                                                 f"{re.escape(option)} \\.\\.\\.\\)$"):
                check(list(argv))
    for argv in (["--help"], ["-h", "fit"], ["--print_config", "fit", "--config", config]):
        check_command_line(argv)


def make(*variables: str, dry: bool = True) -> subprocess.CompletedProcess:
    """`make` (with -n: what it would run), without installing or running anything."""
    venv = Path(sys.prefix)
    return subprocess.run(["make", *(["-n"] if dry else []), "-s", "--no-print-directory", f"VENV={venv}", "-o",
                           f"{venv}/.installed", *variables], cwd=REPO, capture_output=True, text=True, timeout=60)


def make_dry_run(*variables: str) -> str:
    """The command `make` would run (make -n), without installing or running anything."""
    proc = make(*variables)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def dataset_overlays(domain: str) -> list[str]:
    """The files of configs/<domain>/ that name a dataset (data.init_args.dataset), read as YAML."""
    import yaml

    return sorted(p.stem for p in (REPO / "configs" / domain).glob("*.yaml")
                  if ((yaml.safe_load(p.read_text()).get("data") or {}).get("init_args") or {}).get("dataset"))


def test_make_offers_only_dataset_overlays_as_data():
    """DATA= lists and takes the overlays that name a dataset; an option file of the same folder (the GP benchmark's
    GPU recipe, the quick SDF and video evaluations, the 64^3 grid) is named as one, to be given with ARGS="--config
    ...". The list offered every file there."""
    options = {"polynomial": ["gp_tnp_paper"], "sdf": ["eval_quick", "procedural64"], "video": ["eval_quick"]}
    for domain in ("images", "polynomial", "sdf", "video"):
        datasets = dataset_overlays(domain)
        assert datasets and not set(datasets) & set(options.get(domain, []))
        proc = make("train", f"DOMAIN={domain}", "DATA=nope")
        assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
            f"*** unknown DATA=nope for DOMAIN={domain}; choose one of: {' '.join(datasets)}.  Stop."), proc.stderr
        for name in datasets:  # each one runs as before
            assert f"--config configs/{domain}/{name}.yaml" in make_dry_run("train", f"DOMAIN={domain}", f"DATA={name}")
        for name in options.get(domain, []):
            for goal in ("train", "eval", "sample"):
                proc = make(goal, f"DOMAIN={domain}", f"DATA={name}", "CKPT=x.ckpt", "INPUT=x.png")
                assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
                    f"*** configs/{domain}/{name}.yaml is an option file, not a dataset: give it as ARGS=\"--config "
                    f"configs/{domain}/{name}.yaml\" (DATA= is one of: {' '.join(datasets)}).  Stop."), proc.stderr
    assert "shapenet_paper" in dataset_overlays("sdf")  # the paper-size recipe names its data: README's DATA=shapenet_paper
    listed = make("help", dry=False).stdout.splitlines()
    for domain in ("images", "polynomial", "sdf", "video"):
        assert f"  {domain}: {' '.join(dataset_overlays(domain))}" in listed


def test_quick_evaluations_keep_the_domain_s_sweep_without_its_samples():
    """configs/<domain>/eval_quick.yaml (ARGS="--config ..." after the data overlay) evaluates the same |S| levels
    with the same sweep and picture callbacks as the domain's config, without the sweep's per-level samples and with
    at most one sample a picture: video had no quicker evaluation than its default of minutes on a CPU."""
    import yaml

    for domain in ("sdf", "video"):
        full = yaml.safe_load((REPO / "configs" / f"{domain}.yaml").read_text())["trainer"]["callbacks"]
        quick = yaml.safe_load((REPO / "configs" / domain / "eval_quick.yaml").read_text())["trainer"]["callbacks"]
        assert [c["class_path"] for c in quick] == [c["class_path"] for c in full], domain
        sweep, pictures = quick[-1]["init_args"], quick[0]["init_args"]
        assert sweep["levels"] == full[-1]["init_args"]["levels"] and sweep["num_samples"] == 0, domain
        assert pictures["levels"] == full[0]["init_args"]["levels"] and pictures["num_samples"] == 1, domain


def test_make_reads_the_domain_from_a_run_path_and_resumes_with_the_run_s_config():
    # a resume passes no domain config: the run's own config.yaml comes first (with_run_config)
    line = make_dry_run("train", "RESUME=runs/images/r", "ARGS=--trainer.max_steps=9")
    assert line.endswith("fit --resume 'runs/images/r' --trainer.max_steps=9") and "configs/" not in line
    # eval and sample without DOMAIN: the checkpoint's run folder names it, also for DATA
    line = make_dry_run("eval", "DATA=mnist", "CKPT=runs/images/r/checkpoints/last.ckpt")
    assert "test --config configs/images.yaml --config configs/images/mnist.yaml --ckpt_path" in line
    line = make_dry_run("sample", "CKPT=runs/images/r/checkpoints/last.ckpt", "INPUT=a.png")
    assert "predict --config configs/images.yaml --ckpt_path" in line
    # a DOMAIN given wins, and a path outside runs/<domain>/ names none
    assert "test --config configs/sdf.yaml " in make_dry_run("eval", "DOMAIN=sdf", "CKPT=runs/images/r/x.ckpt")
    assert "test --config configs/polynomial.yaml " in make_dry_run("eval", "CKPT=/tmp/x.ckpt")


def test_make_sample_says_data_is_not_used():
    """A prediction's model and bins are the checkpoint's, whatever the data config: `make sample DATA=cifar10` with
    an MNIST checkpoint predicted with the MNIST model without a word, and passed an overlay nothing read."""
    proc = make("sample", "DATA=cifar10", "CKPT=runs/images/r/checkpoints/last.ckpt", "INPUT=a.png")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "make sample: DATA=cifar10 is not used; a prediction's model and value bins are the checkpoint's (CKPT=)" \
        in lines
    assert "predict --config configs/images.yaml --ckpt_path" in lines[-1] and "cifar10" not in lines[-1]


@pytest.mark.parametrize("run", ["./runs/images/r", "/home/me/pixeltransformer/runs/images/r", "/scratch/mine/images/r",
                                 "runs/images/video"])
def test_make_reads_the_domain_from_a_run_folder_at_any_path(run):
    """<run_root>/<domain>/<run> names the domain whatever the run root (--run_root) and however the path is
    written: the second word of the path was read, so ./runs/... and absolute paths evaluated with the polynomial
    config and stopped on a domain mismatch."""
    line = make_dry_run("sample", f"CKPT={run}/checkpoints/last.ckpt", "INPUT=a.png")
    assert "predict --config configs/images.yaml " in line
    assert "test --config configs/images.yaml " in make_dry_run("eval", f"CKPT={run}/checkpoints/best-step000200.ckpt")
    proc = make("train", f"RESUME={run}/", "DATA=nope")  # the domain named in the error is the run's
    assert proc.returncode == 2 and "unknown DATA=nope for DOMAIN=images;" in proc.stderr, proc.stderr


@pytest.mark.parametrize("venv", [".venv", "./.venv", ".venv/", "{tmp}/.venv"])
def test_make_clean_removes_every_cache_folder_but_keeps_the_venv_and_runs(tmp_path, venv):
    """`make clean` removes __pycache__ folders at any depth (bash reads `**` as `*`: it removed only those one
    level down) and leaves the virtualenv, however VENV spells it (`./.venv`, an absolute path), and the run folders
    alone."""
    (tmp_path / "Makefile").write_text((REPO / "Makefile").read_text())
    made = ["src/pkg/__pycache__", "tests/unit/__pycache__", "top/__pycache__", ".venv/lib/pkg/__pycache__"]
    for folder in made:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.cpython-312.pyc").write_bytes(b"\0")
    (tmp_path / "runs" / "images" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "images" / "r" / "config.yaml").write_text("# a run\n")
    # a run and a data folder that happen to be named __pycache__: only Python's *.pyc files go (they went whole)
    kept = [tmp_path / "runs" / "images" / "__pycache__" / "checkpoints" / "last.ckpt",
            tmp_path / "data" / "mine" / "__pycache__" / "cat.png",
            tmp_path / "data" / "mine" / "__pycache__" / "code" / "their.pyc"]  # not Python's: not directly in it
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\0")
    proc = subprocess.run(["make", "-s", "--no-print-directory", f"VENV={venv.format(tmp=tmp_path)}", "clean"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("__pycache__"))
    assert left == [".venv/lib/pkg/__pycache__", "data/mine/__pycache__", "runs/images/__pycache__"]
    assert (tmp_path / "runs" / "images" / "r" / "config.yaml").is_file()
    assert all(path.is_file() for path in kept)


def test_make_passes_each_path_and_json_as_one_word():
    """CKPT=, RESUME=, INPUT=, CONTEXT= and OUT= reach the command line as one word each, whatever their spaces and
    quotes: OUT="my out" was split (the CLI then refused an unknown argument "out"), and a ' in CONTEXT= or a " in
    INPUT= ended the shell's quote (bash: unexpected EOF while looking for matching `'')."""
    values = {"CKPT": "runs/sdf/my run/checkpoints/last.ckpt", "INPUT": "it's a \"chair\".obj",
              "CONTEXT": "[[0.1, 0.2, 0.3, 0.05]]", "OUT": "my out"}
    words = shlex.split(make_dry_run("sample", "DOMAIN=sdf", *(f"{k}={v}" for k, v in values.items())))
    for option, name in (("--ckpt_path", "CKPT"), ("--input", "INPUT"), ("--context", "CONTEXT"), ("--out", "OUT")):
        assert words[words.index(option) + 1] == values[name], words
    assert words[-2:] == ["--out", "my out"]  # nothing left over
    words = shlex.split(make_dry_run("sample", "DOMAIN=sdf", "CKPT=a.ckpt", "CONTEXT=/data/it's.json"))
    assert words[words.index("--context") + 1] == "/data/it's.json"
    words = shlex.split(make_dry_run("eval", "DOMAIN=sdf", "CKPT=/runs/a b/last.ckpt"))
    assert words[-2:] == ["--ckpt_path", "/runs/a b/last.ckpt"]
    words = shlex.split(make_dry_run("train", "RESUME=/runs/images/it's"))
    assert words[-2:] == ["--resume", "/runs/images/it's"]
    # a leading ~/ stays outside the quotes, for the shell to make it the home folder (quoted, it was a folder "~")
    line = make_dry_run("sample", "DOMAIN=sdf", "CKPT=~/my runs/last.ckpt", "INPUT=~/chair.obj", "OUT=a~/b")
    assert "--ckpt_path ~/'my runs/last.ckpt' --input ~/'chair.obj'" in line and "--out 'a~/b'" in line
    # without DOMAIN=, a run folder with a space still names its domain (it read as polynomial, the default)
    assert "predict --config configs/images.yaml " in make_dry_run("sample", "CKPT=runs/images/my run/checkpoints/"
                                                                   "last.ckpt", "INPUT=a.png")


@pytest.mark.parametrize("domain", ["sdf ", " sdf", "sdf/"])
def test_make_takes_a_domain_with_a_stray_space_or_slash(domain):
    """DOMAIN="sdf " passed the check (configs/sdf .yaml matched the folder configs/sdf) and the CLI stopped on
    `Path is not a file: configs/sdf`; DOMAIN=sdf/ (a tab-completed folder) was unknown."""
    assert "fit --config configs/sdf.yaml --config configs/sdf/shapenet.yaml" in make_dry_run(
        "train", f"DOMAIN={domain}", "DATA=shapenet ")


def test_make_refuses_two_domains():
    proc = make("train", "DOMAIN=sdf video")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "*** unknown DOMAIN=sdf video; choose one of: images polynomial sdf video.  Stop."), proc.stderr


def test_make_refuses_an_unknown_wandb_mode():
    """W&B reads a WANDB_MODE it does not know as offline: `make train WANDB=onlin` trained and logged nothing online,
    exit 0. Sampling never logs, so it takes any."""
    for goal in ("train", "eval"):
        proc = make(goal, "WANDB=onlin", "CKPT=runs/images/r/checkpoints/last.ckpt")
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1].endswith(
            "*** unknown WANDB=onlin; choose one of: offline (the default) online disabled.  Stop."), proc.stderr
    for mode in ("offline", "online", "disabled"):
        assert make_dry_run("train", f"WANDB={mode}").startswith(f"WANDB_MODE={mode} ")
    assert make_dry_run("sample", "WANDB=onlin", "CKPT=a.ckpt", "INPUT=a.png").startswith("WANDB_MODE=disabled ")


def test_make_train_says_data_is_not_used_by_a_resume():
    """`make train RESUME=runs/images/r DATA=cifar10` resumed the run on its own data and dropped DATA= without a
    word; it now says so, as `make sample` does."""
    proc = make("train", "RESUME=runs/images/r", "DATA=cifar10")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert ("make train: DATA=cifar10 is not used; a resume continues the run with its own config.yaml and data "
            "(RESUME=)") in lines
    assert lines[-1].endswith("fit --resume 'runs/images/r'")
    assert "not used" not in make("train", "DOMAIN=images", "DATA=cifar10").stdout


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


def test_make_results_passes_runs_with_spaces_as_one_argument():
    """`make results RUNS="/data/my runs/images/x"` ran `--run /data/my --run runs/images/x`; RUNS= now reaches the
    command as one argument, whatever its spaces and quotes, which pixeltransformer.results splits."""
    for runs in ("/data/my runs/images/x", "'/data/my runs/images/x' runs/images/y", "runs/images/it's"):
        words = shlex.split(make_dry_run("results", f"RUNS={runs}"))
        assert words[words.index("--runs") + 1:] == [runs], words
    assert "--run" not in make_dry_run("results")


def test_the_dashboard_config_holds_the_options_and_not_the_parser_s_own_keys():
    """A fit's W&B config held `__default_config__`: "/home/me/pixeltransformer/configs/trainer/default.yaml", the
    parser's own record of its default file (an absolute path of the checkout), beside the options; config.yaml has
    no such key. The options and the config files given (`config`) stay."""
    from pixeltransformer.wandbsetup import dashboard_config

    given = {"__default_config__": "/home/me/pixeltransformer/configs/trainer/default.yaml",
             "config": ["configs/images.yaml"], "seed_everything": 0, "optimizer": None, "lr_scheduler": None,
             "model": {"net": {"width": 64}}}
    assert dashboard_config(given) == {"config": ["configs/images.yaml"], "seed_everything": 0,
                                       "model": {"net": {"width": 64}}}


def test_a_second_fit_in_a_run_folder_that_a_fit_holds_is_refused(tmp_path):
    """Two fits started at once with the same --run_name each passed the new-run check and trained into the one folder:
    last.ckpt and last-v1.ckpt, two W&B runs, one wandb_id.txt, both exiting 0. The first fit holds the folder's lock
    until its process ends; a second one (a new run, or a resume of the run) is refused in one line, naming it."""
    run = tmp_path / "runs" / "polynomial" / "same"
    first = hold_run_folder(run, new=True)  # made, and held
    assert first is not None and run.is_dir()
    who = rf"process {os.getpid()} on {re.escape(socket.gethostname())}"
    with pytest.raises(FileExistsError, match=rf"^run folder {re.escape(str(run))} is in use by another fit \({who}\): "
                                              r"wait for it to end, or choose another --run_name$"):
        hold_run_folder(run, new=True)
    with pytest.raises(FileExistsError, match=rf"^run folder .* is in use by another fit \({who}\): wait for it to "
                                              r"end, then resume it$"):
        hold_run_folder(run, new=False)
    (run / "command.txt").write_text("pixeltransformer fit ...\n")  # what the first fit writes
    release_run_folder(run, first)  # the first fit ended: its folder is a run now, which a resume may take
    assert sorted(p.name for p in run.iterdir()) == ["command.txt"]  # the lock file went with the lock
    with pytest.raises(FileExistsError, match=r"^run folder .* already exists, without checkpoints/last.ckpt"):
        hold_run_folder(run, new=True)
    assert sorted(p.name for p in run.iterdir()) == ["command.txt"]  # the refused fit left no lock file in it
    resumed = hold_run_folder(run, new=False)
    assert resumed is not None
    release_run_folder(run, resumed)
    # a lock file left by a fit that was killed, in a folder it wrote nothing into, leaves the folder free
    (run / "command.txt").unlink()
    (run / ".fit.lock").write_text("host 1\n")
    release_run_folder(run, hold_run_folder(run, new=True))
    assert not list(run.iterdir())


def test_a_fit_that_fails_before_it_starts_releases_its_run_folder(tmp_path, monkeypatch):
    """The lock was taken outside what releases it when the fit ends: an error between the two (the recovery of a
    killed evaluation's folder, writing wandb_id.txt) kept it, and a fit run again from Python in the same process was
    refused as "in use by another fit (process <its own pid>)"."""
    from jsonargparse import Namespace

    from pixeltransformer import cli

    def fails(run):
        raise OSError("recovery failed")

    monkeypatch.setattr(cli, "recover_all", fails)
    monkeypatch.setattr(cli, "_first_process", lambda: True)  # as in a launch of one process
    run = tmp_path / "runs" / "polynomial" / "again"
    fit = object.__new__(cli.PixelTransformerCLI)
    fit.config, fit.run_dir = Namespace(fit=Namespace(ckpt_path=None, resume=None)), run
    fit.trainer = Namespace(fast_dev_run=False)
    with pytest.raises(OSError, match="^recovery failed$"):
        fit._run_subcommand("fit")
    assert not (run / ".fit.lock").exists()
    release_run_folder(run, hold_run_folder(run, new=True))  # the next fit takes the folder


@pytest.mark.parametrize("value", ["00:01:00:00", {"weeks": 1, "milliseconds": 5}, timedelta(hours=1), None])
def test_the_durations_lightnings_timer_takes_are_taken(value):
    """DD:HH:MM:SS, any of timedelta's keywords, a timedelta and null pass the max_time check."""
    check_fit_length(None, None, None, value)


def test_options_given_as_yaml_text_longer_than_a_file_name_are_read_as_yaml():
    """``--config '{trainer: {...}}'`` over 255 bytes stopped with "[Errno 36] File name too long" (the path checks
    raised OSError): it is YAML text of options, the parser's to read."""
    text = "{trainer: {max_steps: 5, " + ", ".join(f"limit_val_batches{i}: 1" for i in range(30)) + "}}"
    assert len(text.encode()) > 255
    check_config_files(["fit", "--config", text])


def test_a_config_ending_on_a_byte_that_is_not_utf8_names_the_byte(tmp_path):
    """A Latin-1 file ending on its accent (no final line break) was "not a text file": only a read cut at its 64 KiB
    limit may end inside a character."""
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  net:\n    width: 64  # café".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^--config {re.escape(str(config))} is not UTF-8 text \(byte 0xe9 at "
                                         r"line 3, column 21\): save it as UTF-8$"):
        check_config_files(["fit", "--config", str(config)])


def test_a_model_class_path_is_named_on_its_own():
    """``--model.class_path=...`` said "give --model.--model.class_path" and spoke of init_args."""
    from pixeltransformer.preflight import check_model_options

    with pytest.raises(ValueError) as err:
        check_model_options(["fit", "--model.class_path=pixeltransformer.module.PixelTransformerModule"])
    assert str(err.value) == ("--model.class_path: the model is one class, chosen by no class_path: leave "
                              "--model.class_path out and give its options as --model.<name>")


def test_a_run_folder_moved_to_another_disk_and_linked_back_keeps_its_group(tmp_path, monkeypatch):
    """runs/polynomial/r -> /disk/big/r was grouped as "big/r", apart from the run's other fits."""
    import domains.polynomial.domain  # noqa: F401  (registers the domain)
    from pixeltransformer.domain import Domain

    moved = tmp_path / "disk" / "big" / "r"
    moved.mkdir(parents=True)
    (tmp_path / "runs" / "polynomial").mkdir(parents=True)
    (tmp_path / "runs" / "polynomial" / "r").symlink_to(moved)
    assert run_group(tmp_path / "runs" / "polynomial" / "r") == "polynomial/r"
    (tmp_path / "latest").symlink_to(tmp_path / "runs" / "polynomial" / "r")
    assert run_group(tmp_path / "latest") == "big/r"  # a link outside a domain folder: its target's
    monkeypatch.setattr(Domain, "registry", {})  # the domain not imported yet: the run's config.yaml names it
    assert run_group(tmp_path / "runs" / "polynomial" / "r") == "big/r"
    (moved / "config.yaml").write_text("model:\n  domain: domains.polynomial.domain.PolynomialDomain\n")
    assert run_group(tmp_path / "runs" / "polynomial" / "r") == "polynomial/r"


def test_a_read_only_run_root_with_a_writable_domain_folder_is_accepted(tmp_path, monkeypatch):
    """A fit writes only into <run_root>/<domain>/<run_name>: a read-only run_root whose domain folder can be written
    was refused."""
    (tmp_path / "ro" / "polynomial").mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path / "ro")
    assert check_run_root(tmp_path / "ro", "polynomial") == tmp_path / "ro"
    with pytest.raises(PermissionError, match="cannot be written"):
        check_run_root(tmp_path / "ro", "images")


def test_the_domain_of_configs_beside_options_given_as_yaml_text_is_known():
    """A --config of YAML text beside configs/polynomial.yaml left the domain unknown, so a read-only run_root whose
    domain folder can be written was refused for its run_root."""
    from pixeltransformer.runs import config_domain

    configs = [str(REPO / "configs/polynomial.yaml"), "{trainer: {max_steps: 5}}", "{trainer: {max_steps: 5}}" * 20]
    assert config_domain(configs) == "polynomial"


def test_relative_data_paths_are_made_absolute_but_urls_are_kept():
    """``s3://bucket/x`` became ``/cwd/s3:/bucket/x`` in the run's config.yaml."""
    from jsonargparse import Namespace

    from pixeltransformer.runs import absolute_paths

    cfg = Namespace(data=Namespace(class_path="x", init_args=Namespace(root="s3://bucket/x", cache_dir="c")),
                    checkpoint=Namespace(dirpath="ckpts"))
    absolute_paths(cfg)
    assert cfg.data.init_args.root == "s3://bucket/x"
    assert cfg.data.init_args.cache_dir == os.path.abspath("c") and cfg.checkpoint.dirpath == os.path.abspath("ckpts")


def test_a_mapping_appended_to_a_list_a_later_file_gives_anew_is_named_as_the_list_replaced():
    """``--trainer.callbacks+={class_path: ..., init_args: {max_items: 8}}`` before a config that gives the callbacks
    said "its class_path and init_args.max_items are overridden": the file drops the whole appended callback."""
    base = str(REPO / "configs/polynomial.yaml")
    given = "--trainer.callbacks+={class_path: pixeltransformer.evaluation.SweepEvaluation, init_args: {max_items: 8}}"
    assert overridden_options(["fit", given, "--config", base]) == [
        f"{given} is overridden by {base} after it, whose trainer.callbacks replaces the list it appends to (options "
        "take effect in the order given): give it after the last --config"]


def test_a_parser_error_about_an_option_of_an_earlier_version_names_its_new_name():
    """A run's config.yaml or a config file written before the options moved into groups (``model: encoder:``),
    the command line's ``--model.encoder``, and an evaluation callback's ``max_batches`` (now ``max_items``) were
    told only that the option is not accepted."""
    from pixeltransformer.setting_sources import moved_note

    assert moved_note("Subcommand 'fit' does not accept option 'model.encoder'") == \
        "; model.encoder is now model.net.encoder"
    assert moved_note("unrecognized arguments: --model.query_focus=0.5") == \
        "; model.query_focus is now model.sets.focus_fraction"
    assert moved_note("Group 'model' does not accept option 'preset'") == \
        "; model.preset is now --config configs/model/<size>.yaml"
    assert moved_note("trainer.callbacks: Option 'max_batches' is not accepted (SweepEvaluation)") == \
        "; SweepEvaluation.max_batches is now max_items (the first N test items, not batches)"
    # the domains' evaluations took it as well
    assert moved_note("trainer.callbacks: Option 'max_batches' is not accepted (ImageEvaluation)") == \
        "; ImageEvaluation.max_batches is now max_items (the first N test items, not batches)"
    assert moved_note("Subcommand 'fit' does not accept option 'model.net.widht'") == ""
    assert moved_note("data: Option 'batchsize' is not accepted (PolynomialDataModule)") == ""


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


def test_a_size_config_given_with_a_checkpoint_of_another_size_is_said_to_be_unused(tmp_path, monkeypatch):
    """`--config configs/model/tiny.yaml` with --ckpt_path of a model of another size: the checkpoint's size is built
    (its weights set it), and the file went unused without a word, where a --model.net.width given says so."""
    import torch

    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.cli import main
    from pixeltransformer.setting_sources import size_config_options
    from tests.cli.checkpoints import untrained_checkpoint

    tiny = str(REPO / "configs" / "model" / "tiny.yaml")
    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    import lightning

    torch.save(untrained_checkpoint(spec, net={"width": 32, "ffn": 64},
                                    **{"pytorch-lightning_version": lightning.__version__}), tmp_path / "small.ckpt")
    assert size_config_options(["test", "--config", "configs/polynomial.yaml", "--config", tiny]) == {
        f"model.net.{key}": tiny for key in ("width", "encoder_layers", "decoder_layers", "heads", "ffn")}
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.warns(UserWarning, match=rf"^--config {re.escape(tiny)} is not used: the checkpoint's weights set "
                                         r"the model's size \(model\.net\.width=64, the checkpoint's 32; "
                                         r"model\.net\.ffn=128, the checkpoint's 64\)$"):
        cli = main(["validate", "--config", str(REPO / "configs" / "polynomial.yaml"), "--config", tiny,
                    "--data.init_args.resolution=64", "--data.init_args.val_size=2", "--data.init_args.val_items=2",
                    "--trainer.callbacks=[]", "--ckpt_path", str(tmp_path / "small.ckpt")])
    assert cli.model.net_config.width == 32


def test_an_option_of_a_callback_in_a_run_s_config_yaml_is_named_by_its_file(tmp_path):
    """A run's config.yaml edited with an evaluation callback's option of an earlier version (``max_batches``): the
    parser's "trainer.callbacks: Option 'max_batches' is not accepted" named no file; the file is found in the
    callbacks' list, as a top-level option's is."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer:\n  callbacks:\n  - class_path: pixeltransformer.callbacks.Pictures\n"
                                     "    init_args:\n      num_examples: 2\n"
                                     "  - class_path: pixeltransformer.evaluation.SweepEvaluation\n"
                                     "    init_args:\n      max_batches: 4\n")
    argv = ["test", "--config", str(run / "config.yaml"), "--ckpt_path", "last.ckpt"]
    key, got = parse_error_fields("trainer.callbacks: Option 'max_batches' is not accepted (SweepEvaluation)")
    assert config_setting(argv, key, got) == str(run / "config.yaml")
    assert config_setting(argv, "trainer.callbacks.num_examples", "2") == str(run / "config.yaml")
    assert config_setting(argv, "trainer.callbacks.max_items") is None
