"""The data feed of SignalDataModule: a batch that a dataset reads in one call travels in the dtype it is stored in,
becomes the float32 signal on its device (on_after_batch_transfer), and is page-locked when the trainer runs on a
GPU."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule, float_signal, uint8_levels
from pixeltransformer.sets import batch_keys
from pixeltransformer.signal import SignalSpec


class Levels(Dataset):
    """Ten 8-bit signals [1, 6]: an item is floats, a batch is read in one call and stays uint8."""

    def __init__(self):
        self.levels = torch.randint(256, (10, 1, 6), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        self.item_reads = 0

    def __len__(self):
        return len(self.levels)

    def __getitem__(self, i):
        self.item_reads += 1
        return {"signal": float_signal(self.levels[i])}  # [1, 6]

    def __getitems__(self, indices):
        return {"signal": self.levels[torch.tensor(indices)]}  # [B, 1, 6] uint8


class LevelData(SignalDataModule):
    spec = SignalSpec(domain="levels", dataset="toy", grid_shape=(6,), val_dims=1, val_range=(0.0, 1.0), num_bins=8)

    def build_split(self, split):
        return Levels()


def test_8_bit_levels_gathered_on_a_device_are_the_cpus_division():
    """Another device than the CPU gathers the CPU's k / 255 (a GPU's division by a scalar multiplies by the
    reciprocal); here both ways run on the CPU and must agree bit for bit, for every level."""
    levels = torch.arange(256, dtype=torch.uint8).reshape(4, 1, 64)  # [4, 1, 64]
    assert torch.equal(uint8_levels(levels), levels.float() / 255.0)
    assert torch.equal(float_signal(levels), levels.float() / 255.0)
    half = torch.randn(3, 5).half()
    assert float_signal(half).dtype == torch.float32 and torch.equal(float_signal(half).half(), half)
    floats = torch.rand(3, 5)
    assert float_signal(floats) is floats


def test_a_batch_read_in_one_call_travels_as_stored_and_is_float_on_its_device(under_trainer):
    dm = under_trainer(LevelData(batch_size=4))
    dm.setup("test")
    ds = dm.dataset("test")
    ds.base.item_reads = 0
    batches = list(dm.test_dataloader())
    assert ds.base.item_reads == 0  # every batch came from __getitems__
    assert [batch_keys(b, i) for i, b in enumerate(batches)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(b["signal"].dtype == torch.uint8 for b in batches)
    for b in batches:
        got = dm.on_after_batch_transfer(b, 0)["signal"]  # [B, 1, 6]
        expected = torch.stack([ds[int(i)]["signal"] for i in b["index"]])  # the float items
        assert got.dtype == torch.float32 and torch.equal(got, expected)


def test_batches_are_page_locked_when_the_trainer_runs_on_a_gpu(under_trainer):
    """Lightning copies batches with non_blocking=True: from page-locked memory the copy overlaps the GPU's step."""
    dm = LevelData(batch_size=4)
    under_trainer(dm, "cuda")
    assert dm.train_dataloader().pin_memory and dm.val_dataloader().pin_memory and dm.test_dataloader().pin_memory
    under_trainer(dm, "cpu")
    assert not dm.train_dataloader().pin_memory
    dm.trainer = None
    assert not dm.train_dataloader().pin_memory


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("after_a_fit", [False, True])
def test_a_loader_used_without_a_trainer_gives_float_batches(workers, after_a_fit, under_trainer):
    """A notebook or script that reads a DataModule's loader itself gets the float32 signal the module trains on:
    no Trainer is there to convert it on a device (8-bit levels read as floats would be 0..255). Lightning leaves
    a finished fit's Trainer attached to the DataModule: its loaders give float32 too."""
    from lightning.pytorch.trainer.states import TrainerStatus

    dm = LevelData(batch_size=4, num_workers=workers)
    if after_a_fit:
        under_trainer(dm, status=TrainerStatus.FINISHED)
    dm.setup("fit")
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for split, loader in loaders.items():
        ds = dm.dataset(split)
        for b in loader:
            expected = torch.stack([ds[int(i)]["signal"] for i in b["index"]])  # the float items [B, 1, 6]
            assert b["signal"].dtype == torch.float32 and torch.equal(b["signal"], expected)


def test_a_negative_number_of_workers_is_refused_naming_the_option():
    """num_workers=-1 (read as "every core") went through the model's setup to torch's DataLoader, whose message named
    no option of the command line."""
    with pytest.raises(ValueError, match=r"^--data.init_args.num_workers must be >= 0 \(0: read the data in the main "
                                         r"process\), got -1$"):
        LevelData(batch_size=4, num_workers=-1)
