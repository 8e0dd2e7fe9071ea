"""A fit is a function of its config: the same config and seeds give the same weights, bit for bit, on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pixeltransformer.cli import main

REPO = Path(__file__).resolve().parents[2]
DATA = {"polynomial": ["--data.init_args.train_size=24", "--data.init_args.val_size=4", "--data.init_args.test_size=4",
                       "--data.init_args.resolution=64"],
        "images": []}


@pytest.mark.parametrize("domain", ["polynomial", "images"])
def test_a_fit_gives_the_same_weights_twice_and_with_data_workers(tmp_path, domain):
    """The initial weights come from seed_everything, the sets from the module's seeded generator, the data order from
    the DataModule's seed, and an item is a function of its index: two fits of one config end with the same weights,
    also when two worker processes read the data, across an epoch's end (8 steps of 4 items: the 24 functions' first
    epoch ends at step 6). Another seed_everything gives other weights."""
    common = ["fit", "--config", str(REPO / f"configs/{domain}.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              *DATA[domain], "--data.init_args.batch_size=4", "--trainer.max_steps=8", "--trainer.limit_val_batches=0",
              "--trainer.callbacks=[]", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
              "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu",
              "--checkpoint.every_n_train_steps=8", "--run_root", str(tmp_path)]

    def fit(name: str, *more: str) -> dict[str, torch.Tensor]:
        main([*common, "--run_name", name, *more])
        return torch.load(tmp_path / domain / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]

    first = fit("first")
    for name, more in [("again", ()), ("workers", ("--data.init_args.num_workers=2",))]:
        other = fit(name, *more)
        assert other.keys() == first.keys()
        assert [key for key in first if not torch.equal(first[key], other[key])] == [], name
    reseeded = fit("reseeded", "--seed_everything=1")
    assert not all(torch.equal(first[key], reseeded[key]) for key in first)
