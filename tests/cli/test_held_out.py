"""Held-out metrics: the sweep reports queries not in S only, and leaves out |S| levels where S holds every grid
point (digits' 64, MNIST's 784, CIFAR's 1024) instead of averaging over observed points there."""

from __future__ import annotations

import json
import math

import lightning as L
import pytest
import torch

from pixeltransformer.evaluation import SweepEvaluation, masked_mean


def test_masked_mean_of_a_row_without_held_out_entries_is_nan():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [1.0, float("inf"), 3.0, 0.0]])  # [B, Q]
    mask = torch.tensor([[True, False, True, False], [False, False, False, False], [True, False, True, True]])
    out = masked_mean(x, mask)  # [B]
    assert out[0] == 2.0 and out[2] == 4.0 / 3  # masked-out entries never enter, even inf
    assert torch.isnan(out[1])  # not 6.5, the mean of observed entries


def test_sweep_leaves_out_levels_where_every_point_is_observed(tmp_path, capsys):
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.module import PixelTransformerModule

    dm = PolynomialDataModule(train_size=8, val_size=4, test_size=4, batch_size=4, resolution=64)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(max_context=8, num_queries=8, grid_points=True))
    ev = SweepEvaluation(levels=(4, 32, 64, 100), queries=16, grid_points=True, out_dir=str(tmp_path))
    assert ev.level_list(module.spec) == [4, 32] and ev.dropped_levels(module.spec) == [64, 100]
    trainer = L.Trainer(logger=False, callbacks=[ev], enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", default_root_dir=str(tmp_path))
    trainer.test(module, datamodule=dm, verbose=False)
    # said as the test starts, not only in metrics.json: on a file of 21-point curves the default sweep's 30 and 50
    # went without a word
    assert ("[test] |S| levels 64, 100 observe every one of the 64 points of polynomial/polynomial: left out (no "
            "query would be held out; metrics.json lists them as dropped_levels)") in capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["num_context"] for r in metrics["rows"]] == [4, 32]
    assert metrics["dropped_levels"]["levels"] == [64, 100]
    assert "nothing is held out" in metrics["dropped_levels"]["reason"]
    for row in metrics["rows"]:
        assert all(isinstance(row[k], float) and math.isfinite(row[k]) for k in ("nll", "mse", "nn_mse"))


def test_sweep_of_levels_that_all_observe_every_point_stops_before_writing(tmp_path):
    """A grid smaller than every level (a tiny or one-frame dataset) would score no row: one line, no metrics.json."""
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.module import PixelTransformerModule

    dm = PolynomialDataModule(train_size=8, val_size=4, test_size=4, batch_size=4, resolution=16)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(max_context=8, num_queries=8, grid_points=True))
    ev = SweepEvaluation(levels=(16, 32), queries=16, grid_points=True, out_dir=str(tmp_path / "eval"))
    trainer = L.Trainer(logger=False, callbacks=[ev], enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", default_root_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"every \|S\| level \(16, 32\) observes all 16 points of "
                                         r"polynomial/polynomial, so no query is held out"):
        trainer.test(module, datamodule=dm, verbose=False)
    assert not (tmp_path / "eval").exists()
