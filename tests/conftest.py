"""Shared fixtures: W&B disabled, small thread counts, the path to the shared sample data, a cache folder that cannot
be written, files taken as changed long ago, writes cut off half-way, and the tiers.

Tiers: tests/unit (pure functions, `make test-unit`), tests/domains (each domain), tests/cli (commands through the
CLI, DDP, checkpoints, bad input). Tests under tests/cli are marked `cli`, those that start DDP processes `ddp`.

The configs read real datasets from $PIXELTRANSFORMER_DATA (default data/ in the repository). When the project's
shared samples sit next to the repository (../shared/data, as in CI), the tests read those; a clone without them
skips the tests that need real samples and says so.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
# small tensors run many times slower with two threads on a busy two-core machine
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
if SHARED_DATA.is_dir():
    os.environ["PIXELTRANSFORMER_DATA"] = str(SHARED_DATA)  # subprocesses started by tests inherit it


@pytest.fixture(autouse=True)
def no_container_limit(monkeypatch) -> None:
    """The memory checks read no control group or address-space limit of the machine the tests run on: a
    container's memory limit or a `ulimit -v` there would replace the memory that the tests give as available
    (memory.container_memory, memory.address_space)."""
    import pixeltransformer.memory as memory

    monkeypatch.setattr(memory, "OWN_CGROUPS", Path(os.devnull) / "cgroup")
    monkeypatch.setattr(memory, "address_limit", lambda: None)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def blocked(tmp_path) -> Path:
    """An empty file, tmp_path/a_file: a folder below it (a cache folder) cannot be made, or written."""
    path = tmp_path / "a_file"
    path.write_text("")
    return path


@pytest.fixture
def settled(monkeypatch) -> None:
    """Files the test writes count as changed long ago: what by_stamp reads from one is kept at once, rather than read
    again while it was changed within RECENT_NS (which a test's files, written just now, always are)."""
    import pixeltransformer.files as files

    monkeypatch.setattr(files, "RECENT_NS", -1)


@pytest.fixture
def ended_pid() -> int:
    """The process id of a process that has ended (a bare Python run to its end): a writer killed meanwhile."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(ended.stdout)


@pytest.fixture
def full_disk():
    """A stand-in for files.atomic_write (monkeypatch it in) that fails as a full disk does."""

    def write(path, fill):
        raise OSError(28, "No space left on device")

    return write


@pytest.fixture
def cut_off(monkeypatch) -> Callable[[], None]:
    """Call it to make every later Path.write_text, shutil.copyfile and matplotlib savefig stop half-way, as a kill
    or a full disk stops them: each writes the first half of its file, then raises OSError 28."""

    def half(path, data: bytes) -> None:
        Path(path).write_bytes(data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    def start() -> None:
        from matplotlib.figure import Figure

        def savefig(fig, path, *args, **kwargs):
            whole = io.BytesIO()
            kwargs.setdefault("format", Path(path).suffix.lstrip(".").lower() or "png")
            save(fig, whole, *args, **kwargs)
            half(path, whole.getvalue())

        save = Figure.savefig
        monkeypatch.setattr(Path, "write_text", lambda path, text, *a, **k: half(path, text.encode()))
        monkeypatch.setattr(shutil, "copyfile", lambda src, dst, *a, **k: half(dst, Path(src).read_bytes()))
        monkeypatch.setattr(Figure, "savefig", savefig)

    return start


@pytest.fixture
def poly_spec():
    from pixeltransformer.signal import SignalSpec

    return SignalSpec(domain="polynomial", dataset="polynomial", grid_shape=(64,), val_dims=1, val_range=(-5, 5),
                      extra={"degree": 6, "coef_std": 1.0})


@pytest.fixture
def tiny_module(poly_spec):
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    return PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128),
                                  sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()


@pytest.fixture
def two_functions() -> torch.Tensor:
    """Two polynomials of degree 6 on 64 points (the pictures' and the evaluation's signal) -> [2, 1, 64]."""
    from domains.polynomial.data import PolynomialDataset

    return torch.stack([PolynomialDataset(2, 6, 1.0, 64, seed=1)[i]["signal"] for i in range(2)])  # [2, 1, 64]


@pytest.fixture
def under_trainer():
    """Attach a stand-in Trainer (running a fit, on `device`; process `global_rank` of `world_size`) to a DataModule:
    its loaders then send batches as a fit's loaders do, in the dtype the dataset stores (without a running Trainer
    they make the float32 signal), and each process its share of the train split."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

    def attach(dm, device: str = "cpu", status: TrainerStatus = TrainerStatus.RUNNING, world_size: int = 1,
               global_rank: int = 0):
        dm.trainer = SimpleNamespace(world_size=world_size, global_rank=global_rank,
                                     state=SimpleNamespace(fn=TrainerFn.FITTING, status=status),
                                     strategy=SimpleNamespace(root_device=torch.device(device)))
        return dm

    return attach


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts[0] == "cli":
            item.add_marker(pytest.mark.cli)
        if "ddp" in item.name:
            item.add_marker(pytest.mark.ddp)
