"""The lines a command starts and a fit ends on, and the checkpoint options they depend on: the start says what
runs; the closing [run] line's evaluation command runs as printed, names the checkpoints where they lie, and a
resume of a folder that kept only its best checkpoint says so."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pixeltransformer.checkpointing import RunCheckpoint, evaluate_resumed, fit_summary
from pixeltransformer.runs import resume_checkpoint


def _trainer(run: Path, dirpath: Path) -> SimpleNamespace:
    """What fit_summary reads of a trainer whose fit ended at step 4 with last.ckpt and a best checkpoint."""
    dirpath.mkdir(parents=True, exist_ok=True)
    for name in ("last.ckpt", "best-step000004.ckpt"):
        torch.save({"global_step": 4}, dirpath / name)
    ckpt = SimpleNamespace(dirpath=str(dirpath), best_model_path=str(dirpath / "best-step000004.ckpt"),
                           best_model_score=torch.tensor(1.25), monitor="val/nll", save_last=True)
    return SimpleNamespace(checkpoint_callback=ckpt, default_root_dir=str(run), global_step=4)


def _command(line: str) -> list[str]:
    """The evaluation command a closing line prints, split as a shell splits it."""
    return shlex.split(line.split("; evaluate with: ", 1)[1])


def test_the_evaluation_command_of_a_run_folder_with_a_space_runs_as_printed(tmp_path):
    """`--run_name "my run"`: the closing line printed `--config .../my run/config.yaml` unquoted, which a shell splits
    into two words; each path is now one shell word."""
    run = tmp_path / "runs" / "polynomial" / "my run's"
    line = fit_summary(_trainer(run, run / "checkpoints"), run)
    assert line.startswith(f"[run] fit: {run} ended at step 4: checkpoints/last.ckpt, checkpoints/best-step000004.ckpt "
                           "(best val/nll 1.25); evaluate with: ")
    assert _command(line) == ["pixeltransformer", "test", "--config", str(run / "config.yaml"),
                              "--ckpt_path", str(run / "checkpoints" / "best-step000004.ckpt")]


def test_checkpoints_in_another_folder_are_named_where_they_are(tmp_path):
    """--checkpoint.dirpath elsewhere: the closing line named <run>/checkpoints/last.ckpt and evaluated
    <run>/checkpoints/best-step*.ckpt, files that do not exist; it now names the folder the checkpoints are in."""
    run, elsewhere = tmp_path / "runs" / "polynomial" / "r", tmp_path / "kept"
    line = fit_summary(_trainer(run, elsewhere), run)
    assert f": {elsewhere}/last.ckpt, {elsewhere}/best-step000004.ckpt (best val/nll 1.25); " in line
    command = _command(line)
    assert command[-1] == str(elsewhere / "best-step000004.ckpt") and Path(command[-1]).is_file()


def test_a_stopped_fit_names_its_resume_as_one_shell_word(tmp_path):
    """Ctrl-C's line `continue with --resume <run>` names the run folder as one shell word."""
    cb = RunCheckpoint(every_minutes=None)
    run = tmp_path / "my run"
    cb.last_model_path = str(run / "checkpoints" / "last.ckpt")
    trainer = SimpleNamespace(global_step=6)
    with pytest.raises(KeyboardInterrupt):
        cb._stop(trainer, "Ctrl-C")
    quoted = shlex.quote(str(run))
    assert cb._stopped.endswith(f"continue with --resume {quoted} (make train RESUME={quoted})")


def test_a_sigterm_asks_whether_another_rank_failed_only_in_a_spawned_child(tmp_path, monkeypatch):
    """Only ddp_spawn's children hear of a failed rank (the launcher that spawned them writes it): a SIGTERM under
    torchrun or from a scheduler made every process ask rank zero's store in its signal handler as well, for a key
    nothing there writes. The main process marks the stop without asking; a spawned child asks, and ends if one
    failed."""
    import pixeltransformer.checkpointing as checkpointing

    asked = []
    monkeypatch.setattr(checkpointing, "another_rank_failed", lambda: asked.append(1) or True)
    ckpt = RunCheckpoint(dirpath=str(tmp_path))
    ckpt._sigterm(15, None)
    assert ckpt._terminated and not asked
    monkeypatch.setattr(checkpointing.multiprocessing, "parent_process", lambda: object())
    with pytest.raises(SystemExit):
        ckpt._sigterm(15, None)
    assert asked == [1]


@pytest.mark.parametrize("minutes", [0, -1, float("nan")])
def test_every_minutes_of_zero_or_below_is_refused(minutes):
    """--checkpoint.every_minutes=0 (or below) was taken without a word and wrote last.ckpt after every step."""
    with pytest.raises(ValueError, match=r"^checkpoint\.every_minutes must be above 0 minutes, or null to save by "
                                         rf"steps only \(got {re.escape(str(minutes))}\)$"):
        RunCheckpoint(every_minutes=minutes)
    assert RunCheckpoint(every_minutes=0.5).every_minutes == 0.5
    assert RunCheckpoint(every_minutes=None).every_minutes is None


def test_a_resume_of_a_folder_that_kept_only_its_best_checkpoint_names_it(tmp_path):
    """A fit with checkpoint.save_last=false keeps best-step*.ckpt alone: its --resume said that its fit "stopped
    before the first save"; it now names the checkpoints kept and the command that starts a new run from one."""
    run = tmp_path / "runs" / "polynomial" / "best only"
    (run / "checkpoints").mkdir(parents=True)
    best = run / "checkpoints" / "best-step000004.ckpt"
    best.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=(
            rf"^--resume {re.escape(str(run))}: no checkpoints/last.ckpt in that folder, only best-step000004.ckpt "
            r"\(a fit with checkpoint.save_last=false keeps no last.ckpt\): start a new run from one: pixeltransformer "
            rf"fit --config {re.escape(shlex.quote(str(run / 'config.yaml')))} --ckpt_path "
            rf"{re.escape(shlex.quote(str(best)))} --run_name NEW --checkpoint.save_last=true$")):
        resume_checkpoint(run)
    best.unlink()  # a fit that stopped before its first save: as before
    with pytest.raises(FileNotFoundError, match=r"no checkpoints/last.ckpt in that folder \(its fit stopped before "
                                                r"the first save\): train it again under another --run_name "
                                                rf"\(or, if no fit runs in it, delete {re.escape(str(run))} to "
                                                r"reuse the name\)$"):
        resume_checkpoint(run)


def test_a_resume_finds_the_checkpoints_its_run_wrote_to_another_folder(tmp_path, monkeypatch):
    """A fit with --checkpoint.dirpath elsewhere (its config.yaml records it) wrote last.ckpt there; its --resume
    looked in the run folder's checkpoints/ and said the fit "stopped before the first save"."""
    run, elsewhere = tmp_path / "runs" / "polynomial" / "a", tmp_path / "scratch" / "ck"
    run.mkdir(parents=True)
    elsewhere.mkdir(parents=True)
    (run / "config.yaml").write_text(f"checkpoint:\n  dirpath: {elsewhere}\n")
    with pytest.raises(FileNotFoundError, match=rf"^--resume {re.escape(str(run))}: no "
                                                rf"{re.escape(str(elsewhere / 'last.ckpt'))} \(its fit stopped"):
        resume_checkpoint(run)
    torch.save({"state_dict": {}, "hyper_parameters": {}, "global_step": 4}, elsewhere / "last.ckpt")
    assert resume_checkpoint(run) == elsewhere / "last.ckpt"
    monkeypatch.setenv("HOME", str(tmp_path / "scratch"))  # ~ as Lightning reads it, not a folder named "~"
    (run / "config.yaml").write_text("checkpoint:\n  dirpath: ~/ck\n")
    assert resume_checkpoint(run) == elsewhere / "last.ckpt"
    (run / "config.yaml").write_text("checkpoint:\n  dirpath: null\n")  # the run folder's own checkpoints/
    with pytest.raises(FileNotFoundError, match=r"no checkpoints/last.ckpt in that folder \(its fit stopped"):
        resume_checkpoint(run)


def test_the_step_checkpoints_kept_without_a_monitor_are_named(tmp_path):
    """--checkpoint.monitor=null keeps the latest step checkpoint: with --checkpoint.save_last=false the closing line
    said "no checkpoint kept" beside the best-step000004.ckpt it kept, and with last.ckpt it named last.ckpt alone."""
    run = tmp_path / "runs" / "polynomial" / "r"
    trainer = _trainer(run, run / "checkpoints")
    trainer.checkpoint_callback.monitor, trainer.checkpoint_callback.best_model_score = None, None
    line = fit_summary(trainer, run)
    assert ": checkpoints/last.ckpt, checkpoints/best-step000004.ckpt (the latest step checkpoint); " in line
    assert _command(line)[-1] == str(run / "checkpoints" / "last.ckpt")
    (run / "checkpoints" / "last.ckpt").unlink()
    trainer.checkpoint_callback.save_last = False
    line = fit_summary(trainer, run)
    assert ": checkpoints/best-step000004.ckpt (the latest step checkpoint); evaluate with: " in line
    assert _command(line)[-1] == str(run / "checkpoints" / "best-step000004.ckpt")


def test_a_resume_that_trains_nothing_evaluates_what_the_closing_line_would(tmp_path):
    """A resume already at its max_steps ends before the fit starts, on a line that ends with the closing line's
    command: the run's best checkpoint, as its last.ckpt records it, in a run folder moved since too (the record names
    the old folder); its last.ckpt where the best is no longer kept or has no score; checkpoints kept in another
    folder where they lie."""
    run = tmp_path / "moved" / "r"
    last = Path(_trainer(run, run / "checkpoints").checkpoint_callback.dirpath) / "last.ckpt"
    old = tmp_path / "runs" / "r" / "checkpoints"  # where the fit wrote them
    state = {"dirpath": str(old), "best_model_path": str(old / "best-step000004.ckpt"), "best_model_score": 1.25}
    saved = {"callbacks": {"RunCheckpoint{'monitor': 'val/nll', 'mode': 'min'}": state}}
    assert evaluate_resumed(saved, last, run, "moved/r") == ("evaluate with: pixeltransformer test --config "
                                                             "moved/r/config.yaml --ckpt_path "
                                                             "moved/r/checkpoints/best-step000004.ckpt")
    state["best_model_score"] = None  # checkpoint.monitor=null: the latest step checkpoint, not a best
    assert _command(f"; {evaluate_resumed(saved, last, run, run)}")[-1] == str(last)
    state["best_model_score"] = 1.25
    (last.parent / "best-step000004.ckpt").unlink()  # a copy of the run that left it out
    assert _command(f"; {evaluate_resumed(saved, last, run, run)}")[-1] == str(last)
    (last.parent / "best-step000004.ckpt").touch()
    other = {"dirpath": str(old), "best_model_path": str(old / "best-step000002.ckpt"), "best_model_score": 0.5}
    (last.parent / "best-step000002.ckpt").touch()  # a second ModelCheckpoint's best: the closing line names the 1st
    saved["callbacks"]["ModelCheckpoint{'monitor': 'val/mse'}"] = other
    assert _command(f"; {evaluate_resumed(saved, last, run, run)}")[-1] == str(last.parent / "best-step000004.ckpt")
    del saved["callbacks"]["ModelCheckpoint{'monitor': 'val/mse'}"]
    elsewhere = tmp_path / "kept"
    _trainer(run, elsewhere)
    state.update(dirpath=str(elsewhere), best_model_path=str(elsewhere / "best-step000004.ckpt"))
    assert _command(f"; {evaluate_resumed(saved, elsewhere / 'last.ckpt', run, 'moved/r')}") == [
        "pixeltransformer", "test", "--config", "moved/r/config.yaml", "--ckpt_path",
        str(elsewhere / "best-step000004.ckpt")]


def test_the_eta_of_a_fit_that_max_time_stops_first_is_the_time_limit(monkeypatch):
    """--trainer.max_time=00:00:05:00 beside a config's max_steps=8000: a log's [train] line gave the ETA of 8000 steps
    (hours), though the fit stops at the time limit; it now gives the time left to that limit, marked (max_time)."""
    import io
    import time

    from lightning.pytorch.callbacks import Timer

    from pixeltransformer.progress import LogLines

    timer = Timer(duration=dict(minutes=5))
    now = time.monotonic()
    timer._start_time["train"] = now - 240  # 4 of its 5 minutes gone
    trainer = SimpleNamespace(global_step=40, callbacks=[timer], check_val_every_n_epoch=1, lightning_module=None)
    bar = LogLines(stream=io.StringIO())
    monkeypatch.setattr(bar, "get_metrics", lambda trainer, module: {})
    bar._total, bar._start, bar._last_time, bar._last_step = 8000, now - 240, now - 10, 0  # 4 steps a second
    line = bar.train_line(trainer, now)
    assert re.search(r"  elapsed 0:04:00  ETA 0:0(0:59|1:00) \(max_time\)$", line), line
    timer._duration = 3600.0  # a limit after the last step: the steps' own ETA, 7960 steps at 4 a second
    assert bar.train_line(trainer, now).endswith("  ETA 0:33:10")
    trainer.callbacks = []
    assert bar.train_line(trainer, now).endswith("  ETA 0:33:10")


def test_a_checkpoint_save_that_fails_leaves_the_last_one_and_no_partial_file(tmp_path):
    """A save that failed halfway (a full disk, a second Ctrl-C) left <name>.ckpt.partial beside the checkpoints, as
    large as one, on the disk that was full, and nothing removed it. It is deleted; the earlier last.ckpt stays."""
    import errno

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "last.ckpt").write_bytes(b"step 4")

    def save_checkpoint(path, weights_only=False):
        Path(path).write_bytes(b"half of step 6")
        raise OSError(errno.ENOSPC, "No space left on device")

    trainer = SimpleNamespace(save_checkpoint=save_checkpoint, is_global_zero=True, global_step=6)
    callback = RunCheckpoint(dirpath=str(folder))
    with pytest.raises(OSError, match="No space left on device"):
        callback._atomic_save(trainer, str(folder / "last.ckpt"))
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]
    assert (folder / "last.ckpt").read_bytes() == b"step 4"


def test_the_closing_line_names_the_pictures_of_the_latest_validation(tmp_path):
    """A log file's last line named the checkpoints and not the pictures the validations drew; it now names
    pictures/ and the step of the latest (files named <name>_step<N>.png, or a folder step<N>/ of an SDF's)."""
    run = tmp_path / "runs" / "polynomial" / "r"
    trainer = _trainer(run, run / "checkpoints")
    assert "pictures/" not in fit_summary(trainer, run)  # none drawn: none named
    (run / "pictures" / "step000002").mkdir(parents=True)
    for name in ("functions0_step000004.png", "functions0_step000002.png"):
        (run / "pictures" / name).write_bytes(b"")
    line = fit_summary(trainer, run)
    assert line.startswith(f"[run] fit: {run} ended at step 4: checkpoints/last.ckpt, checkpoints/best-step000004.ckpt "
                           "(best val/nll 1.25), pictures/ (step 4); evaluate with: ")


def test_a_command_says_what_it_runs_on_which_device_and_precision():
    """A log file said the run folder and whether a GPU was used, never the precision or the number of devices; the
    first [run] line is now followed by one naming the domain and dataset, the parameters, the device and precision."""
    from pixeltransformer.run_config import setup_line

    module = torch.nn.Linear(3, 2)  # 8 parameters
    module.spec = SimpleNamespace(domain="images", dataset="digits")
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")), num_devices=1, num_nodes=1,
                              precision="bf16-mixed")
    assert setup_line(trainer, module, "predict") == "[run] predict images/digits: 8 parameters, on cpu, precision " \
                                                     "bf16-mixed"
    trainer.strategy.root_device, trainer.num_devices, trainer.num_nodes = torch.device("cuda", 0), 8, 2
    assert setup_line(trainer, module, "predict") == ("[run] predict images/digits: 8 parameters, on 16 cuda devices "
                                                      "on 2 nodes, precision bf16-mixed")


def test_a_fit_that_cannot_write_its_first_checkpoint_names_the_file_and_the_remedy(tmp_path):
    """A full disk at a fit's first checkpoint said "cannot write into RUN (No space left on device:
    /tmp/tmpaa6hi09l)": the file named was the temporary one the checkpoint is written to first, on another disk,
    and the line said neither that nothing was kept nor what to do. A save after an earlier one names that one."""
    import errno

    from pixeltransformer.cli import PixelTransformerCLI

    run = tmp_path / "my runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    partial = run / "checkpoints" / "last.ckpt.partial"
    err = OSError(errno.ENOSPC, "No space left on device", "/tmp/tmpaa6hi09l", None, str(partial))
    cli = SimpleNamespace(run_dir=run, trainer=SimpleNamespace(checkpoint_callback=None, callbacks=[]))
    assert PixelTransformerCLI._write_failure(cli, err, "fit", None) == (
        f"cannot write into {run} (No space left on device: {partial}); no checkpoint was kept: free some space and "
        f"train it again under another --run_name (or, if no fit runs in it, delete {run} to reuse the name), or "
        "give another --run_root")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"step 4")
    assert PixelTransformerCLI._write_failure(cli, err, "fit", None).endswith(
        f"; {run / 'checkpoints' / 'last.ckpt'} is whole: make room, then continue with --resume "
        f"{shlex.quote(str(run))}")


def test_a_fit_that_kept_a_best_checkpoint_but_not_last_ckpt_says_what_to_do(tmp_path):
    """A full disk at last.ckpt after best-step*.ckpt was written printed no advice: the run cannot be resumed
    without last.ckpt, and its folder refuses the same --run_name."""
    import errno

    from pixeltransformer.cli import PixelTransformerCLI

    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    best = run / "checkpoints" / "best-step4.ckpt"
    best.write_bytes(b"step 4")
    err = OSError(errno.ENOSPC, "No space left on device", str(run / "checkpoints" / "last.ckpt"))
    cli = SimpleNamespace(run_dir=run, trainer=SimpleNamespace(checkpoint_callback=None, callbacks=[]))
    assert PixelTransformerCLI._write_failure(cli, err, "fit", None).endswith(
        f"; no last.ckpt was kept, so the run cannot be resumed ({best} is whole: evaluate it with --ckpt_path): "
        f"free some space and train it again under another --run_name (or, if no fit runs in it, delete {run} to "
        "reuse the name), or give another --run_root")


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EFBIG"])
def test_an_evaluation_that_cannot_write_says_what_to_do_by_the_cause(tmp_path, code):
    """A full disk during a validate said "evaluate a copy of the run folder on a disk you can write", the advice
    for a read-only run folder: it says to free some space on the disk of the file named. A file too large to write
    (EFBIG) was put down to this process's limit alone, "(ulimit -f): raise that limit and evaluate again": a file
    system's own largest file (4 GiB on FAT32) gives the same error, and no limit raised lets it through. The line
    names both causes, and what to do for each."""
    import errno

    from pixeltransformer.cli import PixelTransformerCLI

    err = OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(tmp_path / "metrics.json"))
    cli = SimpleNamespace(run_dir=tmp_path, trainer=SimpleNamespace(checkpoint_callback=None, callbacks=[]))
    line = PixelTransformerCLI._write_failure(cli, err, "validate", None)
    assert line.endswith({"ENOSPC": "; free some space on its disk and evaluate again",
                          "EROFS": "; an evaluation writes into its run folder: evaluate a copy of the run folder on a "
                                   "disk you can write",
                          "EFBIG": "; a file there would pass the largest file this process may write (ulimit -f) "
                                   "or its file system holds (4 GiB on FAT32): raise that limit, or evaluate a copy of "
                                   "the run folder on another disk"}[code])


def test_an_evaluation_replacing_its_folder_says_why_it_could_not_write_and_what_to_do(tmp_path):
    """`make eval`, which replaces <run>/eval/ as a whole, said only "cannot write into <run>/eval (File too large);
    eval/ keeps the earlier evaluation, unchanged": the advice by cause, given where an evaluation adds beside what is
    there, was left out of the usual evaluation's line. It follows what was kept."""
    import errno

    from pixeltransformer.cli import PixelTransformerCLI

    run = tmp_path / "r"
    (run / "eval").mkdir(parents=True)
    cli = SimpleNamespace(run_dir=run, trainer=SimpleNamespace(checkpoint_callback=None, callbacks=[]))
    err = OSError(errno.EFBIG, "File too large")
    assert PixelTransformerCLI._write_failure(cli, err, "test", run / "eval") == (
        f"cannot write into {run / 'eval'} (File too large); eval/ keeps the earlier evaluation, unchanged; a file "
        "there would pass the largest file this process may write (ulimit -f) or its file system holds (4 GiB on "
        "FAT32): raise that limit, or evaluate a copy of the run folder on another disk")
    (run / "eval").rmdir()
    err = OSError(errno.ENOSPC, "No space left on device")
    assert PixelTransformerCLI._write_failure(cli, err, "test", run / "eval") == (
        f"cannot write into {run / 'eval'} (No space left on device); nothing of the evaluation was kept; free some "
        "space on its disk and evaluate again")


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EFBIG"])
def test_an_evaluation_that_cannot_write_its_own_out_dir_names_that_folder(tmp_path, code):
    """An evaluation sweep given an out_dir it could not write (a read-only disk) said "cannot write into <run folder>
    (Read-only file system: <out_dir>); an evaluation writes into its run folder: evaluate a copy of the run folder":
    the folder that failed is the out_dir, and a copy of the run folder would not help. The line names the out_dir
    and the option to change."""
    import errno

    from pixeltransformer.cli import PixelTransformerCLI
    from pixeltransformer.evaluation import SweepEvaluation

    run, out = tmp_path / "runs" / "polynomial" / "r", tmp_path / "shared" / "eval"
    err = OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(out / "metrics.json"))
    sweep = SweepEvaluation(levels=(4,), out_dir=str(out))
    cli = SimpleNamespace(run_dir=run, trainer=SimpleNamespace(checkpoint_callback=None, callbacks=[sweep]))
    line = PixelTransformerCLI._write_failure(cli, err, "test", None)
    assert line.startswith(f"cannot write into {out} ({os.strerror(getattr(errno, code))}: {out / 'metrics.json'}); ")
    assert line.endswith({"ENOSPC": "; free some space on its disk and evaluate again",
                          "EROFS": "; give the evaluation callback's out_dir a folder on a disk you can write",
                          "EFBIG": "; a file there would pass the largest file this process may write (ulimit -f) "
                                   "or its file system holds (4 GiB on FAT32): raise that limit, or give the "
                                   "evaluation callback's out_dir a folder on another disk"}[code])
    err = OSError(errno.EROFS, "Read-only file system", str(run / "eval" / "config_test.yaml"))  # the run folder's
    assert PixelTransformerCLI._write_failure(cli, err, "test", None).startswith(f"cannot write into {run} (")


def test_a_tests_pictures_go_to_its_evaluations_out_dir(tmp_path, monkeypatch, tiny_module, capsys):
    """With the evaluation callback's out_dir set to another folder, metrics.json went there and the pictures into
    <run>/eval/pictures, among an earlier evaluation's files; they now follow the out_dir, and the lines name it."""
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.evaluation import SweepEvaluation, evaluation_summary, sweep_eval_dir

    run, out = tmp_path / "run", tmp_path / "elsewhere"
    signal = torch.zeros(2, 1, 8)  # [B, V, N]
    data = SimpleNamespace(fixed_examples=lambda split, n: {"signal": signal[:n]})
    trainer = SimpleNamespace(is_global_zero=True, fast_dev_run=False, received_sigterm=False, ckpt_path=None,
                              loggers=[], world_size=1, lightning_module=tiny_module, default_root_dir=str(run),
                              datamodule=data, callbacks=[SweepEvaluation(levels=(2,), out_dir=str(out))],
                              state=SimpleNamespace(fn="test"))

    def draw(self, pl_module, signal, out_dir, suffix="", split=None, items=None):
        out_dir.mkdir(parents=True)
        (out_dir / "functions0.png").write_bytes(b"png")
        return {"functions0": out_dir / "functions0.png"}

    monkeypatch.setattr(Pictures, "draw", draw)
    Pictures().on_test_end(trainer, tiny_module)
    assert capsys.readouterr().out == f"[pixeltransformer] wrote {out / 'pictures' / 'functions0.png'}\n"
    assert not (run / "eval").exists()
    (out / "metrics.json").write_text("{}")
    assert evaluation_summary(sweep_eval_dir(trainer)) == f"[run] test: {out} ended: metrics.json, pictures/"
    trainer.callbacks = [SweepEvaluation(levels=(2,))]  # no out_dir: the run's eval/ as before
    assert sweep_eval_dir(trainer) == run / "eval"
    trainer.callbacks = [SweepEvaluation(levels=(2,), out_dir=".")]  # the working folder: a name of its own, none
    assert sweep_eval_dir(trainer) == Path(".")
    trainer.callbacks = []  # a test without a sweep: apart from the evaluation's folder
    assert sweep_eval_dir(trainer) == run / "eval-nosweep"


def test_the_last_line_of_an_evaluation_names_its_other_pictures(tmp_path):
    """The GP benchmark's evaluation writes functions.png beside metrics.json (the model against the exact oracle);
    the last line listed metrics.json, metrics_vs_context.png and pictures/ and left it out."""
    from pixeltransformer.evaluation import evaluation_summary

    for name in ("metrics.json", "metrics_vs_context.png", "functions.png", "command.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "pictures").mkdir()
    assert evaluation_summary(tmp_path) == (f"[run] test: {tmp_path} ended: metrics.json, metrics_vs_context.png, "
                                            "functions.png, pictures/")


def test_an_evaluation_says_which_nll_is_at_which_levels(tmp_path, monkeypatch, tiny_module, capsys):
    """An SDF evaluation of the sweep |S| = 4, 256 ended on Lightning's table of test/val_nll@4, @32, @256, @2048: the
    validation's NLL at model.val_levels, with nothing on the console at the sweep's own levels. A line before the
    table now says which numbers are metrics.json's and which the table's, and their units (the table's numbers
    had none). At |S| = 4 a 30-step SDF model scored nll 9.03 and test/val_nll@4 -3.69 on the same chairs, each of
    its own S: the line says they draw apart."""
    from pixeltransformer import evaluation
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(evaluation, "plot_sweep", lambda rows, groups, path, **kw: path)
    sweep = SweepEvaluation(levels=(2, 6), out_dir=str(tmp_path))
    sweep._values, sweep.evaluated, sweep._dir = {(2, "nll"): {0: 1.0}, (6, "nll"): {0: 0.5}}, {0}, tmp_path
    trainer = SimpleNamespace(is_global_zero=True, fast_dev_run=False, received_sigterm=False, ckpt_path=None,
                              world_size=1, precision="32-true", loggers=[])
    tiny_module.val_levels = [2, 4, 8]
    sweep.on_test_end(trainer, tiny_module)
    assert capsys.readouterr().out.splitlines()[-1] == (
        "[pixeltransformer] metrics.json scores |S| = 2, 6 (nll: the queries not in S); Lightning's table of "
        "test/val_nll@k is the validation's NLL at model.val_levels (|S| = 2, 4, 8) on these test items "
        "(test/val_nll: their mean); both in nats per value dimension (metrics.json's nll_units), of their own "
        "draws of S and queries, so at a small |S| they may lie far apart (docs/dashboard.md)")


def test_a_tests_record_goes_to_its_evaluations_out_dir(tmp_path, tiny_module, capsys):
    """With the evaluation callback's out_dir set, metrics.json went there but config_test.yaml and command.txt into
    <run>/eval/, splitting one evaluation over two folders (and mixing with an earlier evaluation's files there); the
    record now goes beside the metrics, and <run>/eval/ is left as it was."""
    from jsonargparse import Namespace

    from pixeltransformer.run_config import RunConfig
    from pixeltransformer.evaluation import SweepEvaluation

    run, out = tmp_path / "run", tmp_path / "elsewhere"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "command.txt").write_text("earlier\n")
    saved = []
    record = object.__new__(RunConfig)
    record.__dict__.update(command="pixeltransformer test --ckpt_path x", failed=False, multifile=False,
                           config=Namespace(trainer=Namespace()), eval_config=(run, "config_test.yaml"),
                           parser=SimpleNamespace(save=lambda cfg, path, **kw: saved.append(path)))
    trainer = SimpleNamespace(is_global_zero=True, ckpt_path=None, callbacks=[SweepEvaluation(levels=(2,),
                                                                                              out_dir=str(out))])
    RunConfig.teardown(record, trainer, tiny_module, "test")
    assert saved == [str(out / "config_test.yaml")]
    assert (out / "command.txt").read_text() == "pixeltransformer test --ckpt_path x\n"
    assert (run / "eval" / "command.txt").read_text() == "earlier\n"  # the earlier evaluation's, untouched
    assert capsys.readouterr().out == f"[pixeltransformer] wrote {out / 'config_test.yaml'}, command.txt\n"
    record.eval_config, trainer.callbacks = (run, "config_test.yaml"), [SweepEvaluation(levels=(2,))]
    RunConfig.teardown(record, trainer, tiny_module, "test")  # no out_dir: the run's eval/ as before
    assert saved[-1] == str(run / "eval" / "config_test.yaml")


def test_an_out_dir_under_the_home_folder_is_written_where_it_was_checked(tmp_path, monkeypatch):
    """out_dir: ~/evals/x (a config file's, or --trainer.callbacks.out_dir=~/..., which the shell leaves as it is) was
    checked against the home folder but written into a folder named ~ in the working folder."""
    from pixeltransformer.evaluation import SweepEvaluation, sweep_eval_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    trainer = SimpleNamespace(callbacks=[SweepEvaluation(levels=(2,), out_dir="~/evals/x")], ckpt_path=None,
                              default_root_dir=str(tmp_path / "run"))
    assert sweep_eval_dir(trainer) == tmp_path / "home" / "evals" / "x"


def test_an_evaluation_out_dir_that_is_the_run_folder_is_refused(tmp_path):
    """`--trainer.callbacks.out_dir runs/<domain>/<run>` (the run folder itself) wrote the evaluation's record there:
    its command.txt, the command line of each of the run's fits, was replaced by the test's. It is refused in one
    line before anything is written; another folder, or none, is evaluated as before."""
    from pixeltransformer.evaluation import check_out_dir_apart
    from pixeltransformer.evaluation import SweepEvaluation

    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    (run / "command.txt").write_text("pixeltransformer fit\n")
    given = str(run / ".." / "r")
    with pytest.raises(ValueError) as err:
        check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=given)], run)
    assert str(err.value) == (
        f"the evaluation callback's out_dir {given} is the run folder itself, whose command.txt (its fits' command "
        "lines) the evaluation's record would replace: give out_dir another folder, or null for the run's own "
        "evaluation folder")
    assert (run / "command.txt").read_text() == "pixeltransformer fit\n"
    check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(run / "eval2")), SweepEvaluation(levels=(2,))], run)


def test_an_evaluation_out_dir_that_is_another_run_s_folder_is_refused(tmp_path):
    """An evaluation whose out_dir named another run's folder (not the one evaluated) replaced that run's command.txt,
    the command line of each of its fits, with the test's. It is refused in one line before anything is written; an
    earlier evaluation's folder (none of a fit's files) is written into as before."""
    from pixeltransformer.evaluation import check_out_dir_apart
    from pixeltransformer.evaluation import SweepEvaluation

    run, other = tmp_path / "polynomial" / "r", tmp_path / "polynomial" / "other"
    for folder in (run, other / "checkpoints"):
        folder.mkdir(parents=True)
    (other / "command.txt").write_text("pixeltransformer fit\n")
    with pytest.raises(ValueError) as err:
        check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(other))], run)
    assert str(err.value) == (
        f"the evaluation callback's out_dir {other} is another run's folder, whose command.txt (its fits' command "
        "lines) the evaluation's record would replace: give out_dir another folder, or null for the run's own "
        "evaluation folder")
    earlier = tmp_path / "eval-elsewhere"
    earlier.mkdir()
    (earlier / "command.txt").write_text("pixeltransformer test\n")
    (earlier / "config_test.yaml").write_text("{}\n")
    check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(earlier))], run)


def test_an_evaluation_out_dir_that_cannot_be_written_is_refused_before_the_test(tmp_path):
    """`--trainer.callbacks.out_dir <a file>/x` failed with "Not a directory" at the pictures, once the whole test had
    run. A file on the out_dir's path, or a folder this user cannot write, is refused in one line before the test."""
    import os

    from pixeltransformer.evaluation import check_out_dir_apart
    from pixeltransformer.evaluation import SweepEvaluation

    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    (tmp_path / "afile").write_text("x\n")
    remedy = "; give out_dir another folder, or null for the run's own evaluation folder (nothing was written)"
    for given in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(NotADirectoryError) as err:
            check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(given))], run)
        assert str(err.value) == (f"the evaluation callback's out_dir {given}: {tmp_path / 'afile'} is a file, "
                                  f"not a folder{remedy}")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # root writes anywhere
        with pytest.raises(PermissionError, match=f"^the evaluation callback's out_dir {locked / 'e'}: {locked} "
                                                  "cannot be written \\(no write permission\\); give out_dir"):
            check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(locked / "e"))], run)
    check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(tmp_path / "new" / "eval"))], run)
    assert not (tmp_path / "new").exists()


def test_an_out_dir_refused_as_a_run_s_folder_names_what_it_holds(tmp_path):
    """An out_dir refused as another run's folder (its checkpoints/) was said to hold a command.txt the evaluation
    would replace when it held none. The line says what the evaluation would do there by what the folder holds."""
    from pixeltransformer.evaluation import check_out_dir_apart
    from pixeltransformer.evaluation import SweepEvaluation

    run, other = tmp_path / "polynomial" / "r", tmp_path / "polynomial" / "other"
    for folder in (run, other / "checkpoints"):
        folder.mkdir(parents=True)
    with pytest.raises(ValueError) as err:
        check_out_dir_apart([SweepEvaluation(levels=(2,), out_dir=str(other))], run)
    assert str(err.value) == (
        f"the evaluation callback's out_dir {other} is another run's folder, where the evaluation's record would lie "
        "among the run's files: give out_dir another folder, or null for the run's own evaluation folder")


def test_a_fit_stopped_by_its_time_limit_says_so_on_its_closing_line(tmp_path):
    """--trainer.max_time 00:00:00:03 with max_epochs 1: the fit stopped at step 1 of 3, Lightning's only word was
    "`Trainer.fit` stopped: `max_epochs=1` reached" and the closing line said "ended at step 1"; it now names the
    time limit that stopped it. A fit that ran its steps within the limit says nothing of it."""
    from lightning.pytorch.callbacks import Timer

    run = tmp_path / "runs" / "polynomial" / "r"
    trainer = _trainer(run, run / "checkpoints")
    timer = Timer(duration="00:00:00:03")
    timer.time_elapsed = lambda stage="train": 4.6  # the training's clock, past the limit
    trainer.callbacks, trainer.max_steps = [timer], 8
    assert fit_summary(trainer, run).startswith(f"[run] fit: {run} ended at step 4 of 8 (trainer.max_time 0:00:03 "
                                                "ran out): checkpoints/last.ckpt, ")
    timer.time_elapsed = lambda stage="train": 2.0
    assert fit_summary(trainer, run).startswith(f"[run] fit: {run} ended at step 4: checkpoints/last.ckpt, ")
    trainer.max_steps = 4  # the steps ran out with the time: max_steps stopped it
    timer.time_elapsed = lambda stage="train": 4.6
    assert fit_summary(trainer, run).startswith(f"[run] fit: {run} ended at step 4: checkpoints/last.ckpt, ")
    trainer.callbacks, trainer.max_steps = [Timer(duration=None)], 8  # a Timer of no limit, given as a callback
    assert fit_summary(trainer, run).startswith(f"[run] fit: {run} ended at step 4: checkpoints/last.ckpt, ")
