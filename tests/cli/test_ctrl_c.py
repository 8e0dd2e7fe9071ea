"""Ctrl-C (SIGINT) while a command starts, in its own work, after a Lightning stage and in one: one line (in a stage,
the stage's own), not a traceback, and the command ends by SIGINT (status 130 in a shell, which stops a loop over it);
nothing already written is lost or mixed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMPORT_TIME = "import time:"  # the lines of python -X importtime, which say how far the start-up has come


def ctrl_c_while_torch_imports(args: list[str]) -> tuple[int, list[str], str]:
    """Run ``python -X importtime <args>``, send SIGINT once torch is being imported (its first submodule is in),
    and return the status, the lines of stderr besides the import times, and stdout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    proc = subprocess.Popen([sys.executable, "-X", "importtime", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in proc.stderr:
            if line.startswith(IMPORT_TIME) and line.split("|")[-1].strip().startswith("torch."):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=120)
    finally:  # a timeout leaves no process running
        proc.kill()
        proc.wait()
    return proc.returncode, [line for line in err.splitlines() if not line.startswith(IMPORT_TIME)], out


@pytest.mark.parametrize("command", [
    ["-m", "pixeltransformer", "predict"],
    ["-m", "pixeltransformer.cli", "predict"],  # as torchrun and srun start each process: Lightning imported first
    ["-m", "domains.polynomial.diagnose", "last.ckpt"],  # torch imported by the module, before its main
    ["-m", "domains.images.baselines.pretrained", "--no_vae"],
])
def test_ctrl_c_while_a_command_starts_is_one_line_and_ends_it_by_sigint(command):
    """It exited with status 130, so a shell loop over the command (for r in ...; do python -m ...; done) went on to
    the next: a shell stops there only when SIGINT ended the child, as it ends Python's own."""
    status, err, out = ctrl_c_while_torch_imports(command)
    assert (status, err) == (-signal.SIGINT, ["interrupted (Ctrl-C): nothing was written"])
    assert "Traceback" not in out


def test_ctrl_c_while_a_fit_starts_is_one_line_and_ends_it_by_sigint(tmp_path):
    status, err, out = ctrl_c_while_torch_imports(
        ["-m", "pixeltransformer", "fit", "--config", "configs/polynomial.yaml", "--run_root", str(tmp_path),
         "--run_name", "t", "--trainer.max_steps", "1"])
    assert status == -signal.SIGINT, (status, err)
    assert err == ["interrupted (Ctrl-C): nothing was written"]
    assert "Traceback" not in out
    assert not any(tmp_path.iterdir())


def test_ctrl_c_exits_from_python_by_status_130_and_leaves_ctrl_c_as_it_was():
    """A main called from Python (a test) ends by SystemExit(130), and Ctrl-C stays as it was: it was left ignored,
    so a later fit in the same process was never stopped by Ctrl-C (its handler goes only over Python's own)."""
    from pixeltransformer.errors import CTRL_C_STATUS, ctrl_c_exits

    with pytest.raises(SystemExit) as stop, ctrl_c_exits():
        raise KeyboardInterrupt
    assert stop.value.code == CTRL_C_STATUS
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_main_within_ctrl_c_main_takes_its_command_line_by_keyword(capsys):
    """``results.cli(argv=[...])`` (and diagnose's, pretrained's ``main(argv=...)``) takes its command line by
    keyword through the Ctrl-C wrapper, whose signature is the wrapped one's."""
    import inspect

    from pixeltransformer import results

    assert list(inspect.signature(results.cli).parameters) == ["argv"]
    with pytest.raises(SystemExit) as stop:
        results.cli(argv=["--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m pixeltransformer.results")


def test_ctrl_c_in_a_command_s_own_work_ends_it_by_sigint():
    """A command (its main reading the command line) that a Ctrl-C stopped in its work exited with status 130; it ends
    by SIGINT, after Python's exit handlers ran (W&B's, the log files': a kill of its own skipped them); a second
    Ctrl-C in them ends it at once by SIGINT, with no traceback of its own."""
    code = ("import atexit, os, signal\nfrom pixeltransformer.errors import Interrupted, ctrl_c_exits\n"
            "atexit.register(print, 'not reached')\n"
            "atexit.register(os.kill, os.getpid(), signal.SIGINT)\n"  # the second Ctrl-C, in the handlers
            "atexit.register(print, 'exit handlers ran')\n"  # handlers run last registered first
            "with ctrl_c_exits(command=True):\n    raise Interrupted('what was kept')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (-signal.SIGINT, "interrupted (Ctrl-C): what was kept\n")
    assert done.stdout == "exit handlers ran\n"


FIT = ["--config", "configs/polynomial.yaml", "--trainer.max_steps=1", "--trainer.logger=false",
       "--data.init_args.val_items=2", "--data.init_args.train_size=8", "--data.init_args.val_size=2",
       "--data.init_args.test_size=2", "--data.init_args.batch_size=4", "--model.net.width=32", "--model.net.ffn=64",
       "--model.val_levels=[4]", "--trainer.enable_progress_bar=false", "--trainer.num_sanity_val_steps=0",
       "--trainer.enable_model_summary=false"]


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    """A run of one step, fitted to its end: its run folder."""
    import pixeltransformer.cli as cli

    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        cli.main(["fit", *FIT, "--run_root", str(root), "--run_name", "r"])
    return root / "polynomial" / "r"


def test_ctrl_c_after_a_fit_ended_does_not_say_nothing_was_written(tmp_path, monkeypatch, capsys, sigint_back):
    """A Ctrl-C while a fit that had saved its steps printed its closing lines said "nothing was written"."""
    import pixeltransformer.cli as cli
    from pixeltransformer.errors import CTRL_C_STATUS, ctrl_c_exits

    monkeypatch.setattr(cli, "fit_summary", _ctrl_c)  # the fit's closing line
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as stop, ctrl_c_exits():
        cli.main(["fit", *FIT, "--run_root", str(tmp_path), "--run_name", "r"])
    run = tmp_path / "polynomial" / "r"
    assert stop.value.code == CTRL_C_STATUS
    said = capsys.readouterr().err.splitlines()[-1]
    assert said == f"interrupted (Ctrl-C): after the fit ended: its run {run} is kept"
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_ctrl_c_after_a_fit_ended_names_the_run_in_every_process(tmp_path):
    """The [run] line, and the run folder it shows, is the first process's: under DDP another process said "after the
    fit ended: None keeps it"."""
    from types import SimpleNamespace

    from pixeltransformer.cli import PixelTransformerCLI

    other = SimpleNamespace(trainer=SimpleNamespace(global_step=1, fast_dev_run=False), _shown=None,
                            run_dir=tmp_path / "polynomial" / "r")
    assert PixelTransformerCLI._kept_at_ctrl_c(other, "fit", True, None) == \
        f"after the fit ended: its run {other.run_dir} is kept"


def test_ctrl_c_after_an_evaluation_ended_says_what_it_kept(fitted, monkeypatch, capsys, sigint_back):
    """A Ctrl-C while an evaluation that had written its metrics printed its closing line said "the evaluation
    stopped before its end" and "nothing was written", though the evaluation folder was whole."""
    import pixeltransformer.cli as cli
    from pixeltransformer.errors import CTRL_C_STATUS, ctrl_c_exits

    monkeypatch.setattr(cli, "evaluation_summary", _ctrl_c)  # the evaluation's closing line
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as stop, ctrl_c_exits():
        cli.main(["test", *FIT, "--trainer.limit_test_batches=1", "--ckpt_path",
                  str(fitted / "checkpoints" / "last.ckpt")])
    said = capsys.readouterr()
    assert stop.value.code == CTRL_C_STATUS
    kept = f"after the evaluation ended: {fitted / 'eval'} keeps it"
    assert said.err.splitlines()[-1] == f"interrupted (Ctrl-C): {kept}"
    assert "stopped before its end" not in said.out
    assert (fitted / "eval" / "metrics.json").is_file()


def test_ctrl_c_after_a_prediction_ended_is_one_line(fitted, tmp_path, monkeypatch, capsys, sigint_back):
    """A Ctrl-C after the prediction was written printed two lines, "[predict] Ctrl-C: stopped; wrote <out>" and
    "interrupted (Ctrl-C): after the prediction ended: wrote <out>"."""
    from lightning.pytorch.cli import LightningCLI

    import pixeltransformer.cli as cli
    from pixeltransformer.errors import CTRL_C_STATUS, ctrl_c_exits

    run_subcommand = LightningCLI._run_subcommand

    def then_ctrl_c(self, subcommand):
        run_subcommand(self, subcommand)
        raise KeyboardInterrupt

    monkeypatch.setattr(LightningCLI, "_run_subcommand", then_ctrl_c)
    monkeypatch.chdir(REPO)
    out = tmp_path / "predicted"
    with pytest.raises(SystemExit) as stop, ctrl_c_exits():
        cli.main(["predict", *FIT, "--ckpt_path", str(fitted / "checkpoints" / "last.ckpt"), "--out", str(out),
                  "--context", "[[-0.5, 1.2], [0.1, 0.3]]", "--n_autoregressive", "4"])
    said = capsys.readouterr()
    assert stop.value.code == CTRL_C_STATUS
    assert said.err.splitlines()[-1] == f"interrupted (Ctrl-C): after the prediction ended: wrote {out}"
    assert "Ctrl-C: stopped" not in said.out
    assert (out / "prediction.json").is_file()


def _signal_at_step(tmp_path: Path, during: str) -> str:
    """A config whose callback sends SIGINT before the first batch of ``during`` (train: at step 0; test)."""
    config = tmp_path / f"ctrl_c_{during}.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.SignalAtStep\n"
                      f"      init_args: {{step: 0, during: {during}}}\n")
    return str(config)


@pytest.mark.parametrize("stage", ["fit", "test"])
def test_ctrl_c_in_a_lightning_stage_ends_the_command_by_sigint(fitted, tmp_path, stage):
    """A Ctrl-C in a fit's training or an evaluation's batches (Lightning's stage) exited with status 1, where one
    anywhere else ends the command by SIGINT (status 130 in a shell, which stops a loop over it). The stage's own line
    says what was kept; no second line, no traceback."""
    args = ["--run_root", str(tmp_path), "--run_name", "r"] if stage == "fit" else \
        ["--trainer.limit_test_batches=1", "--ckpt_path", str(fitted / "checkpoints" / "last.ckpt")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    done = subprocess.run([sys.executable, "-m", "pixeltransformer", stage, *FIT, "--config",
                           _signal_at_step(tmp_path, "train" if stage == "fit" else "test"), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    said = "stopped at step 1 and saved" if stage == "fit" else "the evaluation stopped before its end"
    assert done.returncode == -signal.SIGINT, done.stderr[-3000:]
    assert f"[run] Ctrl-C: {said}" in done.stdout
    assert "Traceback" not in done.stderr and "interrupted (Ctrl-C)" not in done.stderr
