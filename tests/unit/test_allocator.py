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
    cmd = [sys.executable, "-X", "importtime", "-m", "pixeltransformer", "test", "--config", "configs/polynomial.yaml",
           "--ckpt_path", str(tmp_path / "missing.ckpt")]
    out = subprocess.run(cmd, cwd=ROOT, env=_env(None), capture_output=True, text=True)
    assert out.returncode != 0 and "missing.ckpt" in out.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")]
    assert "pixeltransformer.allocator" in imported
    first_torch = next((i for i, name in enumerate(imported) if name == "torch"), len(imported))
    assert imported.index("pixeltransformer.allocator") < first_torch


MAPPED_MIB = ("import ctypes, torch{imports}\n"
              "class Info(ctypes.Structure): _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', "
              "'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]\n"
              "info = ctypes.CDLL(None).mallinfo2; info.restype = Info\n"
              "{before}x = torch.ones(16 << 20); print(info().hblkhd >> 20)")  # MiB in blocks malloc mapped alone


def test_memory_probes_keep_malloc_mapping_large_blocks():
    """The memory benchmark's probes read the resident size, which follows what is alive only while malloc maps
    large blocks on their own: `import benchmarks` must not serve them from the heap there."""
    from benchmarks.memory import probe_env

    code = MAPPED_MIB.format(imports="; import benchmarks", before="")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=probe_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) >= 64


@pytest.mark.parametrize("keep", ["1", "0"])
def test_keep_freed_memory_serves_large_blocks_from_the_heap(keep):
    """With keep_freed_memory a 64 MiB tensor lives in malloc's heap, where its pages stay mapped for the next one
    when it is freed; by default malloc maps it on its own (glibc's mallinfo2: hblkhd counts the bytes in such
    mappings). In a fresh process: the setting is process-wide."""
    code = MAPPED_MIB.format(imports="; from pixeltransformer.allocator import keep_freed_memory",
                             before="print(keep_freed_memory()); ")
    env = {**_env("0"), "PIXELTRANSFORMER_KEEP_MEMORY": keep}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    took, mapped_mib = out.stdout.split()
    if keep == "1":
        assert took == "True" and int(mapped_mib) < 32
    else:
        assert took == "False" and int(mapped_mib) >= 64
