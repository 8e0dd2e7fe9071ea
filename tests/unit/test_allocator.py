"""The entry points ask PyTorch's CPU allocator for huge pages before torch is imported (the allocator reads the
variable once), and a value the user set wins."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixeltransformer.allocator import HUGE_PAGES_ENV

ROOT = Path(__file__).resolve().parents[2]


def _env(value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != HUGE_PAGES_ENV}
    if value is not None:
        env[HUGE_PAGES_ENV] = value
    return env


@pytest.mark.parametrize("preset,want", [(None, "1"), ("0", "0")])
def test_benchmarks_request_huge_pages_before_torch(preset, want):
    code = (f"import os, sys; import benchmarks; assert 'torch' not in sys.modules; "
            f"print(os.environ.get({HUGE_PAGES_ENV!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(preset), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == want


def test_cli_requests_huge_pages_before_torch(tmp_path):
    """python -m pixeltransformer imports the allocator module before anything imports torch (-X importtime
    lists imports in order; a missing checkpoint stops the command before Lightning is imported)."""
    cmd = [sys.executable, "-X", "importtime", "-m", "pixeltransformer", "test", "--ckpt_path",
           str(tmp_path / "missing.ckpt")]
    out = subprocess.run(cmd, cwd=ROOT, env=_env(None), capture_output=True, text=True)
    assert out.returncode != 0 and "missing.ckpt" in out.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")]
    assert "pixeltransformer.allocator" in imported
    first_torch = next((i for i, name in enumerate(imported) if name == "torch"), len(imported))
    assert imported.index("pixeltransformer.allocator") < first_torch
