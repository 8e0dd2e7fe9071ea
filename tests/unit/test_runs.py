"""Run folders on the command line: a resume's own config and checkpoint, a run's name, root and W&B group, and the
lock a fit holds on its folder."""

from __future__ import annotations

import errno
import os
import re
import shlex
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from pixeltransformer.fit_settings import check_resume_length
from pixeltransformer.locks import record
from pixeltransformer.preflight import preflight
from pixeltransformer.runs import (check_new_run, check_resume_name, check_run_name, check_run_root, expand_home,
                                   hold_run_folder, kept_instead, readable_run_configs, release_run_folder,
                                   resume_checkpoint, run_group, running_fit, with_run_config)

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


def test_a_run_name_is_one_folder_name_and_a_run_root_a_folder(tmp_path, blocked):
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
    for root in (blocked, blocked / "sub"):
        with pytest.raises(NotADirectoryError, match=rf"^--run_root {re.escape(str(root))}: "
                                                     rf"{re.escape(str(blocked))} is a file, not a folder "
                                                     r"\(runs go to <run_root>/<domain>/<run_name>\): give another "
                                                     r"--run_root$"):
            check_run_root(root)
    with pytest.raises(NotADirectoryError, match=r"is a file, not a folder"):
        preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), f"--run_root={blocked}"])
    assert blocked.is_file() and blocked.read_text() == ""  # left as it was


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
                                                r"checkpoint\): train it again under another --run_name \(or, if no "
                                                rf"fit runs in it, delete {re.escape(str(run))} to reuse the name\)$"):
        resume_checkpoint(run)


@pytest.mark.parametrize("option", ["enable_checkpointing: false", "barebones: true"])
def test_a_run_that_kept_no_checkpoint_by_its_config_says_why_to_a_new_fit_and_an_evaluation(tmp_path, option):
    """A new fit of the --run_name of a run fitted with trainer.enable_checkpointing=false (or barebones), and an
    evaluation of its checkpoints/last.ckpt, were told that "its fit stopped before the first save, or is still
    running", of a fit that ran to its end without saving: the option that kept none is named, as a resume names it."""
    run = tmp_path / "polynomial" / "off"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"seed_everything: 0\ntrainer:\n  {option}\n")
    key, value = option.split(": ")
    why = rf"its fit ran with trainer\.{key}={value}, which keeps no checkpoint"
    remedy = (r"train it again under another --run_name \(or, if no fit runs in it, delete "
              rf"{re.escape(str(run))} to reuse the name\)")
    with pytest.raises(FileExistsError, match=rf"^run folder {re.escape(str(run))} already exists, without "
                                              rf"checkpoints/last\.ckpt \({why}\), so it cannot be resumed: "
                                              rf"{remedy}$"):
        check_new_run(run)
    assert re.fullmatch(rf" \(the run {re.escape(str(run))} kept no checkpoint: {why}; {remedy}\)",
                        kept_instead(run / "checkpoints" / "last.ckpt"))


@pytest.mark.parametrize("option", ["enable_checkpointing: false", "barebones: true"])
def test_a_run_that_kept_no_checkpoint_by_its_config_says_why_to_the_results(tmp_path, option):
    """`make results RUNS=<run>` of a run never evaluated that kept no checkpoint by its config (fitted to its end
    with trainer.enable_checkpointing=false, or barebones) was told that "its fit stopped before it wrote
    checkpoints/last.ckpt": the option that kept none is named, as a resume names it. A fit that stopped before its
    first save, or one still running before it, is named as such."""
    from pixeltransformer.results_folders import ResultsError
    from pixeltransformer.results_import import locate_run

    run = tmp_path / "polynomial" / "off"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"seed_everything: 0\ntrainer:\n  {option}\n")
    key, value = option.split(": ")
    remedy = f"train it again under another --run_name (or, if no fit runs in it, delete {run} to reuse the name)"
    with pytest.raises(ResultsError) as err:
        locate_run(run)
    assert str(err.value) == (f"{run}: no eval/metrics.json, and no checkpoint to evaluate: its fit ran with "
                              f"trainer.{key}={value}, which keeps no checkpoint; {remedy}")
    (run / "config.yaml").write_text("seed_everything: 0\n")
    with pytest.raises(ResultsError) as err:
        locate_run(run)
    assert str(err.value) == (f"{run}: no eval/metrics.json, and no checkpoint to evaluate: its fit stopped before "
                              f"it wrote checkpoints/last.ckpt; {remedy}")
    fd = hold_run_folder(run, new=False)  # a fit that runs there now, before its first save
    try:
        with pytest.raises(ResultsError) as err:
            locate_run(run)
        assert str(err.value) == (f"{run}: no eval/metrics.json, and no checkpoint to evaluate yet: its fit "
                                  f"({running_fit(run)}) is still running: evaluate it after its first save")
    finally:
        release_run_folder(run, fd)


def test_a_resume_of_a_damaged_last_ckpt_says_what_else_the_run_kept(tmp_path):
    """--resume of a run whose last.ckpt was cut short (a copy of the run folder that stopped halfway) said "cannot
    read checkpoint ...: not a PyTorch checkpoint, or truncated" and no more: neither what to do nor the best
    checkpoint the run kept, whole, beside it."""
    from pixeltransformer.loading import CheckpointError

    run = tmp_path / "my runs" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 0\n")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(b"cut short")
    cause = rf"^cannot read checkpoint {re.escape(str(last))}: not a PyTorch checkpoint, or truncated: "
    with pytest.raises(CheckpointError, match=cause + r"a resume goes on from last\.ckpt alone, and the run kept no "
                                                      r"other checkpoint: copy it again whole \(where it was copied "
                                                      r"from\), or train it again under another --run_name \(or, if "
                                                      rf"no fit runs in it, delete {re.escape(str(run))} to reuse the "
                                                      r"name\)$"):
        resume_checkpoint(run)
    (run / "checkpoints" / "best-step000400.ckpt").write_bytes(b"not read")
    config, best = (shlex.quote(str(p)) for p in (run / "config.yaml", run / "checkpoints" / "best-step000400.ckpt"))
    with pytest.raises(CheckpointError, match=cause + r"a resume goes on from last\.ckpt alone: copy it again whole "
                                                      r"\(where it was copied from\), or start a new run from "
                                                      r"best-step000400\.ckpt: pixeltransformer fit --config "
                                                      rf"{re.escape(config)} --ckpt_path {re.escape(best)} "
                                                      r"--run_name NEW$"):
        resume_checkpoint(run)


def test_the_new_run_a_line_names_reads_the_home_folder_for_a_tilde(tmp_path, monkeypatch):
    """The new run from a checkpoint that a resume's line names quoted a "~" given (``--resume=~/runs/p/r``, a
    notebook's argument) as it was: in quotes no shell reads it as the home folder."""
    from pixeltransformer.runs import new_run_from

    monkeypatch.setenv("HOME", str(tmp_path / "my home"))
    config, ckpt = (shlex.quote(str(tmp_path / "my home" / "runs" / "r" / name)) for name in
                    ("config.yaml", "checkpoints/last.ckpt"))
    assert new_run_from("~/runs/r", "~/runs/r/checkpoints/last.ckpt") == \
        f"pixeltransformer fit --config {config} --ckpt_path {ckpt} --run_name NEW"


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


def test_a_second_fit_in_a_run_folder_that_a_fit_holds_is_refused(tmp_path):
    """Two fits started at once with the same --run_name each passed the new-run check and trained into the one folder:
    last.ckpt and last-v1.ckpt, two W&B runs, one wandb_id.txt, both exiting 0. The first fit holds the folder's lock
    until its process ends; a second one (a new run, or a resume of the run) is refused in one line, naming it."""
    run = tmp_path / "runs" / "polynomial" / "same"
    first = hold_run_folder(run, new=True)  # made, and held
    assert first is not None and run.is_dir()
    who = rf"process {os.getpid()} on {re.escape(socket.gethostname())}"
    with pytest.raises(FileExistsError, match=rf"^run folder {re.escape(str(run))} is in use by another fit \({who}\): "
                                              r"choose another --run_name \(or, once it has ended, continue it with "
                                              rf"--resume {re.escape(str(run))} \(make train "
                                              rf"RESUME={re.escape(str(run))}\)\)$"):
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


@pytest.fixture
def no_locks(monkeypatch) -> None:
    """A file system whose locks fail (flock: "No locks available", as on an NFS mount without its lock daemon)."""
    import pixeltransformer.runs as runs

    def fail(fd: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(runs, "lock_run_folder", fail)


@pytest.mark.parametrize("new", [True, False])
def test_a_fit_on_a_file_system_without_locks_leaves_no_lock_file(tmp_path, no_locks, new):
    """Without locks the fit goes on with the new-run check alone, and the lock file it had opened in the run folder
    was never removed: every run there ended holding an empty .fit.lock."""
    run = tmp_path / "runs" / "polynomial" / "r"
    if not new:  # a resume: a run folder a fit ended in
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    fd = hold_run_folder(run, new=new)
    (run / "command.txt").write_text("pixeltransformer fit ...\n")  # what the fit writes
    release_run_folder(run, fd)  # the fit ended
    assert ".fit.lock" not in [p.name for p in run.iterdir()]


def test_a_fit_without_locks_goes_on_when_its_lock_file_cannot_be_removed(tmp_path, monkeypatch, no_locks):
    """Without locks, a lock file it cannot remove (its folder made read-only meanwhile, an NFS error) neither fails
    the fit nor leaves the lock file's descriptor open: the fit goes on with the check alone."""

    def cannot_remove(self, missing_ok=False) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "unlink", cannot_remove)
    open_before = set(os.listdir("/proc/self/fd"))
    assert hold_run_folder(tmp_path / "runs" / "polynomial" / "r", new=True) is None
    assert set(os.listdir("/proc/self/fd")) <= open_before


def test_a_fit_is_not_refused_for_a_moment_when_another_checks_who_holds_the_folder(tmp_path, monkeypatch):
    """A new fit of a name checks whether a fit holds its folder by taking the lock shared for a moment: a fit
    starting in that folder then was refused as "in use by another fit", naming no fit that runs. The lock is tried
    again a few times before the folder counts as in use."""
    import fcntl
    import time

    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    probe = os.open(run / ".fit.lock", os.O_RDWR | os.O_CREAT, 0o644)  # the other fit's check, holding it shared
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
    waits = []
    monkeypatch.setattr(time, "sleep", lambda s: (waits.append(s), os.close(probe)))  # the check ends meanwhile
    fd = hold_run_folder(run, new=True)
    assert fd is not None and len(waits) == 1
    release_run_folder(run, fd)


def test_a_folder_a_fit_was_killed_in_before_it_started_is_no_run(tmp_path, capsys):
    """A fit killed while it waited for the other nodes (SIGTERM, which no Python handler sees in that wait, or
    SIGKILL) left its folder holding only its lock and wandb_id.txt, and a fit of the same --run_name was refused as
    "already exists": a new run removes such a folder and starts in its place, unless a fit still holds it or it holds
    anything else."""
    import fcntl

    run = tmp_path / "runs" / "polynomial" / "w"
    run.mkdir(parents=True)
    (run / ".fit.lock").write_text("host 1\n")
    (run / "wandb_id.txt").write_text("abc123\n")
    held = os.open(run / ".fit.lock", os.O_RDWR)  # a fit still starting there
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(FileExistsError, match=r"^run folder .* is in use by another fit \(process 1 on host\)"):
            preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
                       "--run_name", "w"])
    finally:
        os.close(held)
    (run / "config.yaml").write_text("trainer: {}\n")  # written by a fit that started: a run
    with pytest.raises(FileExistsError, match=r"^run folder .* already exists"):
        hold_run_folder(run, new=True)
    (run / "config.yaml").unlink()
    (run / ".fit.lock").write_text(f"{socket.gethostname()} {ended_pid()}\n")  # (the refused fit's own went with it)
    capsys.readouterr()
    preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
               "--run_name", "w"])
    assert not run.exists()
    assert capsys.readouterr().out == (f"[run] {run}: removed what a fit stopped before its start left there (its lock "
                                       "and W&B id: it trained nothing), to start this run in its place\n")
    release_run_folder(run, hold_run_folder(run, new=True))  # the new fit takes the name


def test_a_lock_that_names_no_holder_is_not_read_as_trained(tmp_path):
    """The process that holds a new run's lock, whose launched ranks train (ddp_spawn, ddp_fork), reads from the lock
    whether they stepped: a lock file gone or left blank read as trained, as if "host pid" were written there. Only a
    lock that names its holder, without "untrained", says so."""
    from pixeltransformer.cli import FirstStepMark

    run = tmp_path / "runs" / "polynomial" / "w"
    fd = hold_run_folder(run, new=True)
    lock, trainer = run / ".fit.lock", SimpleNamespace(global_step=0)
    mark = FirstStepMark(fd, lock)
    assert not mark.stepped(trainer)  # "host pid untrained"
    record(fd, blank=True)
    assert not mark.stepped(trainer)
    record(fd)
    assert mark.stepped(trainer)
    release_run_folder(run, fd)
    lock.unlink(missing_ok=True)
    assert not mark.stepped(trainer)


def test_a_folder_a_fit_was_killed_in_before_its_first_step_is_no_run_and_one_that_trained_stays(tmp_path, capsys):
    """A fit killed before its first step (SIGKILL, out of memory: a user's own domain reading its data, its first
    validation) left config.yaml, command.txt and wandb/ beside its lock, and the same --run_name was refused ("already
    exists, without checkpoints/last.ckpt") until the folder was deleted by hand. A new run's lock says "untrained"
    until its fit's first step completes: such a folder is removed; one whose fit trained, or that holds anything
    more (a checkpoint), stays."""
    from pixeltransformer.cli import FirstStepMark

    run = tmp_path / "runs" / "polynomial" / "w"
    fd = hold_run_folder(run, new=True)
    assert (run / ".fit.lock").read_text() == f"{socket.gethostname()} {os.getpid()} untrained\n"
    mark = FirstStepMark(fd)
    mark.on_train_start(SimpleNamespace(global_step=0), None)
    mark.on_train_batch_end(SimpleNamespace(global_step=1), None, None, None, 0)  # the first step completed
    assert (run / ".fit.lock").read_text() == f"{socket.gethostname()} {os.getpid()}\n"
    release_run_folder(run, fd)
    command = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
               "--run_name", "w"]

    def killed(lock: str, *more: str) -> None:
        for name in ("wandb_id.txt", "config.yaml", "command.txt", *more):
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            (run / name).write_text("x\n")
        (run / "wandb" / "offline-run-1").mkdir(parents=True, exist_ok=True)
        (run / ".fit.lock").write_text(f"{socket.gethostname()} {ended_pid()}{lock}\n")

    for lock, more in (("", ()), (" untrained", ("checkpoints/last-partial.ckpt",))):  # trained, or more than that
        killed(lock, *more)
        with pytest.raises(FileExistsError, match=r"^run folder .* already exists, without checkpoints/last.ckpt"):
            preflight(command)
        assert (run / "config.yaml").is_file() and (run / "wandb" / "offline-run-1").is_dir()
        for path in sorted(run.rglob("*"), reverse=True):  # a folder after what it holds
            path.rmdir() if path.is_dir() else path.unlink()
    killed(" untrained")
    capsys.readouterr()
    preflight(command)
    assert not run.exists()
    assert capsys.readouterr().out == (
        f"[run] {run}: removed what a fit stopped before its first step left there (config.yaml, command.txt, wandb/, "
        "its lock and W&B id: it trained nothing), to start this run in its place\n")
    release_run_folder(run, hold_run_folder(run, new=True))  # the new fit takes the name


def test_a_killed_fit_whose_pid_runs_again_is_no_holder_once_its_lock_is_free(tmp_path, capsys):
    """A container restarted after its fit was killed (out of memory) runs the new fit under the same host name and,
    often, the same pid: the folder the killed fit left was kept, as if that fit still ran, and the same --run_name
    refused ("already exists ... or is still running"), though no process held its lock. A free lock says its
    holder on this machine ended, whatever process has its pid now, as for an evaluation's folder."""
    run = tmp_path / "runs" / "polynomial" / "w"
    run.mkdir(parents=True)
    for name in ("config.yaml", "command.txt"):
        (run / name).write_text("x\n")
    (run / ".fit.lock").write_text(f"{socket.gethostname()} {os.getpid()} untrained\n")  # this pid, running
    preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
               "--run_name", "w"])
    assert not run.exists()
    assert capsys.readouterr().out.startswith(f"[run] {run}: removed what a fit stopped before its first step left")


def test_a_new_fit_in_the_folder_of_a_running_fit_is_told_it_runs(tmp_path):
    """A fit of the --run_name of a fit still running was told to "continue it with --resume" (which the running fit
    refuses), or that the folder's fit "stopped before the first save, or is still running" and to delete the folder
    "if no fit runs in it": its lock tells that one runs, and which. It was then told to "wait for it to end", but a
    fit that ended leaves its checkpoints there, and the same command was refused again ("already exists"): the name
    is another's, to choose another, or to continue that run once it has ended."""
    run = tmp_path / "runs" / "polynomial" / "w"
    fd = hold_run_folder(run, new=True)  # the running fit
    try:
        (run / "config.yaml").write_text("trainer: {}\n")
        line = (f"^run folder {re.escape(str(run))} is in use by another fit \\(process {os.getpid()} on "
                f"{re.escape(socket.gethostname())}\\): choose another --run_name \\(or, once it has ended, continue "
                f"it with --resume {re.escape(str(run))} \\(make train RESUME={re.escape(str(run))}\\)\\)$")
        with pytest.raises(FileExistsError, match=line):
            preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
                       "--run_name", "w"])
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_text("x\n")  # its first save
        with pytest.raises(FileExistsError, match=line):
            check_new_run(run)
    finally:
        release_run_folder(run, fd)


def test_the_line_on_a_removed_folder_names_only_what_was_there(tmp_path, capsys):
    """A fit with --trainer.logger=false writes no wandb_id.txt and no wandb/: the line on its folder, removed after
    it was killed, said "its lock and W&B id" all the same."""
    run = tmp_path / "runs" / "polynomial" / "w"
    run.mkdir(parents=True)
    for name in ("config.yaml", "command.txt"):
        (run / name).write_text("x\n")
    (run / ".fit.lock").write_text(f"{socket.gethostname()} {ended_pid()} untrained\n")
    preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
               "--run_name", "w"])
    assert not run.exists()
    assert capsys.readouterr().out == (f"[run] {run}: removed what a fit stopped before its first step left there "
                                       "(config.yaml, command.txt, its lock: it trained nothing), to start this run in "
                                       "its place\n")


def test_a_fit_killed_in_its_first_batch_trained_nothing(tmp_path):
    """The mark cleared "untrained" when the first batch began: a fit killed in it (SIGKILL, out of memory in the
    forward or backward pass) had made no optimizer step and saved nothing, and the same --run_name was refused until
    the folder was deleted by hand. The lock says the fit trained once its first optimizer step has completed (with
    gradient accumulation, after the batches that step sums)."""
    from pixeltransformer.cli import FirstStepMark

    run = tmp_path / "w"
    fd = hold_run_folder(run, new=True)
    try:
        untrained = (run / ".fit.lock").read_text()
        for start in (0, 1000):  # a new run, or one started from a checkpoint (--ckpt_path) at its step
            mark, trainer = FirstStepMark(fd), SimpleNamespace(global_step=start)
            mark.on_train_start(trainer, None)
            mark.on_train_batch_start(trainer, None, None, 0)  # the first batch begins
            assert (run / ".fit.lock").read_text() == untrained
            mark.on_train_batch_end(trainer, None, None, None, 0)  # accumulated: no optimizer step yet
            assert (run / ".fit.lock").read_text() == untrained
            trainer.global_step = start + 1  # the first optimizer step completed
            mark.on_train_batch_end(trainer, None, None, None, 1)
            assert (run / ".fit.lock").read_text() == f"{socket.gethostname()} {os.getpid()}\n"
            os.pwrite(fd, untrained.encode(), 0)
    finally:
        release_run_folder(run, fd)


def test_a_fit_from_a_checkpoint_stopped_before_its_first_step_keeps_no_folder(tmp_path, capsys):
    """A new run started from a checkpoint (--ckpt_path X --run_name ft) that stopped in its first batch kept its
    folder: its trainer's global_step, X's step, counted as trained, where its lock (FirstStepMark, counting from X's
    step) still said "untrained", and the same --run_name was then refused. One rule tells both: the mark's."""
    from pixeltransformer.cli import FirstStepMark, PixelTransformerCLI

    run = tmp_path / "runs" / "polynomial" / "ft"
    fd = hold_run_folder(run, new=True)
    (run / "config.yaml").write_text("trainer: {}\n")
    mark, trainer = FirstStepMark(fd), SimpleNamespace(global_step=1000, fast_dev_run=False, is_global_zero=True)
    cli = SimpleNamespace(subcommand="fit", new_run=True, _shown=run, trainer=trainer, run_dir=run, _new_folders=[],
                          _first_step_mark=mark, _held_run=True)
    try:
        PixelTransformerCLI._drop_new_run(cli)  # stopped before training began (its sanity check)
        assert not run.exists()
        run.mkdir(parents=True)
        mark.on_train_start(trainer, None)
        PixelTransformerCLI._drop_new_run(cli)  # stopped in its first batch: X's step, no step of its own
        assert not run.exists()
        assert capsys.readouterr().out.count(f"[run] fit: {run} not kept: the fit stopped before its first step") == 2
        run.mkdir(parents=True)
        trainer.global_step = 1001  # its first optimizer step completed
        PixelTransformerCLI._drop_new_run(cli)
        assert run.is_dir()
    finally:
        os.close(fd)


def test_a_fast_dev_run_refused_before_its_folder_was_made_adds_no_line(tmp_path, capsys):
    """A fast_dev_run refused once its trainer was built (bad data, a checkpoint of other data), before anything was
    written: the refusal's line alone, as for any fit; one that ran (or was stopped) says it keeps no run folder."""
    from pixeltransformer.cli import PixelTransformerCLI

    run = tmp_path / "runs" / "polynomial" / "x"
    trainer = SimpleNamespace(global_step=0, fast_dev_run=True, is_global_zero=True)
    cli = SimpleNamespace(subcommand="fit", new_run=True, _shown=run, trainer=trainer, run_dir=run,
                          _new_folders=[run, run.parent, tmp_path / "runs"], _first_step_mark=None)
    PixelTransformerCLI._drop_new_run(cli)  # refused
    assert capsys.readouterr().out == "" and not (tmp_path / "runs").exists()
    trainer.global_step = 1
    PixelTransformerCLI._drop_new_run(cli, failed=False)  # ran its batch
    assert capsys.readouterr().out == f"[run] fit: {run} not kept: a fast_dev_run keeps no run folder\n"


def test_a_fit_refused_before_its_folder_was_made_adds_no_line(tmp_path, capsys):
    """Bad input refused after the [run] line named the folder, before anything was written (a data root that does
    not exist): the refusal's one line says what to do; a line saying that a folder never made was "not kept" was
    noise under it. A fit whose folder was made (its lock, config.yaml) and then removed still says so; a folder
    another fit made after this one started is not this one's to remove."""
    from pixeltransformer.cli import PixelTransformerCLI

    run = tmp_path / "runs" / "polynomial" / "x"
    trainer = SimpleNamespace(global_step=0, fast_dev_run=False, is_global_zero=True)
    cli = SimpleNamespace(subcommand="fit", new_run=True, _shown=run, trainer=trainer, run_dir=run,
                          _new_folders=[run, run.parent, tmp_path / "runs"], _first_step_mark=None)
    PixelTransformerCLI._drop_new_run(cli)
    assert capsys.readouterr().out == "" and not (tmp_path / "runs").exists()
    # refused before it held the folder, which another fit holds since (its lock alone, its config.yaml not yet
    # written, or both): that fit's, kept as it is (it was removed, lock and all)
    other = hold_run_folder(run, new=True)
    try:
        PixelTransformerCLI._drop_new_run(cli)
        assert capsys.readouterr().out == "" and (run / ".fit.lock").is_file()
        (run / "config.yaml").write_text("trainer: {}\n")
        PixelTransformerCLI._drop_new_run(cli)
        assert capsys.readouterr().out == "" and (run / "config.yaml").read_text() == "trainer: {}\n"
    finally:
        release_run_folder(run, other)
    cli._held_run = True  # this fit's own folder
    PixelTransformerCLI._drop_new_run(cli)
    assert capsys.readouterr().out == f"[run] fit: {run} not kept: the fit stopped before its first step\n"
    assert not (tmp_path / "runs").exists()


def test_a_copy_of_the_first_step_mark_sent_to_another_process_never_writes(tmp_path):
    """ddp_spawn pickles the trainer's callbacks for each process it starts: the mark's copy wrote through the number
    of the descriptor this process holds the lock by, which names another file there (or none), and the lock said
    "untrained" while the fit trained. A copy holds no descriptor; the process that holds the lock marks it."""
    import pickle

    from pixeltransformer.cli import FirstStepMark

    run = tmp_path / "w"
    fd = hold_run_folder(run, new=True)
    try:
        untrained = (run / ".fit.lock").read_text()
        sent = pickle.loads(pickle.dumps(FirstStepMark(fd)))
        assert sent.fd is None
        sent.on_train_start(SimpleNamespace(global_step=0), None)
        sent.on_train_batch_end(SimpleNamespace(global_step=1), None, None, None, 0)
        assert (run / ".fit.lock").read_text() == untrained
    finally:
        release_run_folder(run, fd)


def ended_pid() -> int:
    """The id of a process of this machine that has ended."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_a_fit_killed_before_it_started_in_a_linked_folder_leaves_the_name_free(tmp_path, capsys):
    """A run folder that is a link to a folder elsewhere (or one on NFS, which keeps a file deleted while open as
    .nfsXXXX) could not be removed once its lock and W&B id were deleted: the fit was refused as "already exists"
    with the files deleted without a word. The name is free once they are, whether or not the folder goes."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / ".fit.lock").write_text(f"{socket.gethostname()} {ended_pid()}\n")
    (target / "wandb_id.txt").write_text("abc123\n")
    run = tmp_path / "runs" / "polynomial" / "w"
    run.parent.mkdir(parents=True)
    run.symlink_to(target)
    preflight(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
               "--run_name", "w"])
    assert run.is_dir() and not list(target.iterdir())
    assert "removed what a fit stopped before its start left there" in capsys.readouterr().out
    release_run_folder(run, hold_run_folder(run, new=True))  # the new fit takes the name


def test_a_lock_left_by_a_fit_that_may_still_run_elsewhere_keeps_its_folder(tmp_path, capsys):
    """On a file system whose locks each node keeps to itself (NFS mounted nolock, BeeGFS, Lustre's localflock) a
    fit still starting on another node holds its lock unseen: its folder was removed, its wandb_id.txt with it. Only
    a lock whose fit ran on this machine and ended is removed; any other is refused as before."""
    run = tmp_path / "runs" / "polynomial" / "w"
    run.mkdir(parents=True)
    (run / "wandb_id.txt").write_text("abc123\n")
    argv = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
            "--run_name", "w"]
    for held in ("node7 1", ""):  # elsewhere, unsaid
        (run / ".fit.lock").write_text(f"{held}\n")
        with pytest.raises(FileExistsError, match=r"^run folder .* already exists, without checkpoints/last.ckpt"):
            preflight(argv)
        assert sorted(p.name for p in run.iterdir()) == [".fit.lock", "wandb_id.txt"]
    (run / ".fit.lock").write_text(f"{socket.gethostname()} {ended_pid()}\n")
    preflight(argv)
    assert not run.exists()


def test_a_fit_that_fails_before_it_starts_releases_its_run_folder(tmp_path, monkeypatch):
    """The lock was taken outside what releases it when the fit ends: an error between the two (the recovery of a
    killed evaluation's folder, writing wandb_id.txt) kept it, and a fit run again from Python in the same process was
    refused as "in use by another fit (process <its own pid>)"."""
    from jsonargparse import Namespace

    from pixeltransformer import cli

    def fails(run):
        raise OSError("recovery failed")

    monkeypatch.setattr(cli, "recover_all", fails)
    monkeypatch.setattr(cli, "first_process", lambda: True)  # as in a launch of one process
    run = tmp_path / "runs" / "polynomial" / "again"
    fit = object.__new__(cli.PixelTransformerCLI)
    fit.config, fit.run_dir = Namespace(fit=Namespace(ckpt_path=None, resume=None)), run
    fit.trainer = Namespace(fast_dev_run=False)
    with pytest.raises(OSError, match="^recovery failed$"):
        fit._run_subcommand("fit")
    assert not (run / ".fit.lock").exists()
    release_run_folder(run, hold_run_folder(run, new=True))  # the next fit takes the folder


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


def test_a_run_root_where_no_file_can_be_made_is_refused_for_root_too(tmp_path):
    """os.access lets root write anywhere: --run_root /sys/runs (a file system that makes no files of a user's, root
    included) passed the check, and the fit stopped after its [run] lines on "[Errno 1] Operation not permitted:
    '/sys/runs'"; it is refused in one line naming the remedy, and a folder that can be written is left as it was,
    its modification time too (a refused fit changes nothing)."""
    with pytest.raises(PermissionError, match=r"^--run_root /sys/runs: /sys cannot be written \(no file can be made "
                                              r"there\): runs go to "
                                              r"<run_root>/<domain>/<run_name>; give another --run_root$"):
        check_run_root("/sys/runs", "polynomial")
    touched = tmp_path.stat().st_mtime_ns
    assert check_run_root(tmp_path / "runs", "polynomial") == tmp_path / "runs" and not any(tmp_path.iterdir())
    assert tmp_path.stat().st_mtime_ns == touched


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
