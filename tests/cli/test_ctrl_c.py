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
