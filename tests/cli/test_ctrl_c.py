"""Ctrl-C (SIGINT) outside a fit's training: one line and status 130, not a traceback; nothing already written is
lost or mixed."""

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
    for line in proc.stderr:
        if line.startswith(IMPORT_TIME) and line.split("|")[-1].strip().startswith("torch."):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, [line for line in err.splitlines() if not line.startswith(IMPORT_TIME)], out


@pytest.mark.parametrize("command", [
    ["-m", "pixeltransformer", "predict"],
    ["-m", "domains.polynomial.diagnose", "last.ckpt"],  # torch imported by the module, before its main
    ["-m", "domains.images.baselines.pretrained", "--no_vae"],
])
def test_ctrl_c_while_a_command_starts_is_one_line_and_status_130(command):
    status, err, out = ctrl_c_while_torch_imports(command)
    assert (status, err) == (130, ["interrupted (Ctrl-C): nothing was written"])
    assert "Traceback" not in out


def test_ctrl_c_while_a_fit_starts_is_one_line_and_status_130(tmp_path):
    status, err, out = ctrl_c_while_torch_imports(
        ["-m", "pixeltransformer", "fit", "--config", "configs/polynomial.yaml", "--run_root", str(tmp_path),
         "--run_name", "t", "--trainer.max_steps", "1"])
    assert status == 130, (status, err)
    assert err == ["interrupted (Ctrl-C): nothing was written"]
    assert "Traceback" not in out
    assert not any(tmp_path.iterdir())


def test_ctrl_c_after_a_fit_ended_does_not_say_nothing_was_written(tmp_path, monkeypatch, capsys):
    """A Ctrl-C while a fit that had saved its steps printed its closing lines said "nothing was written"."""
    import pixeltransformer.cli as cli
    from pixeltransformer.errors import CTRL_C_STATUS, ctrl_c_exits

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "fit_summary", ctrl_c)  # the fit's closing line
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as stop, ctrl_c_exits():
        cli.main(["fit", "--config", "configs/polynomial.yaml", "--run_root", str(tmp_path), "--run_name", "r",
                  "--trainer.max_steps=1", "--trainer.logger=false", "--data.init_args.val_items=2",
                  "--data.init_args.train_size=8", "--data.init_args.val_size=2", "--data.init_args.batch_size=4",
                  "--model.net.width=32", "--model.net.ffn=64", "--trainer.enable_progress_bar=false",
                  "--trainer.num_sanity_val_steps=0", "--trainer.enable_model_summary=false"])
    run = tmp_path / "polynomial" / "r"
    assert stop.value.code == CTRL_C_STATUS
    assert capsys.readouterr().err.splitlines()[-1] == f"interrupted (Ctrl-C): after the fit ended: {run} keeps it"
    assert (run / "checkpoints" / "last.ckpt").is_file()
