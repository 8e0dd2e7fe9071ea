"""What a result must not depend on: how the evaluation batches its items, how many queries are decoded at a time,
and how many samples are drawn beside a sample."""

from __future__ import annotations

import pytest
import torch

from pixeltransformer.domain import Domain
from pixeltransformer.evaluation import SweepEvaluation
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.signal import SignalSpec


def _module(encoder: str) -> PixelTransformerModule:
    """A tiny untrained model of 1D signals on 16 points, values in 8 bins (a drawn bin, not only its noise)."""
    spec = SignalSpec(domain="fields", dataset="toy", grid_shape=(16,), val_dims=1, val_range=(0.0, 1.0), num_bins=8)
    torch.manual_seed(0)
    net = dict(width=32, ffn=64, encoder_layers=2, decoder_layers=2, encoder=encoder)
    return PixelTransformerModule(spec=spec, domain=Domain(), net=net, val_levels=(4,)).eval()


@pytest.mark.parametrize("queries", ["grid", 12])
def test_the_sweep_s_metrics_do_not_depend_on_the_batching_or_the_decoding_chunk(queries):
    """metrics.json is promised to be the same for any batch size or number of GPUs: each item's contexts, queries
    and samples are seeded by its key (its index in the split), never by its place in a batch. Six items evaluated
    as one batch, and as batches of 1, 3 and 2 decoded 5 queries at a time, give each item the same metrics."""
    m = _module("buffered")
    signal = torch.rand(6, 1, 16, generator=torch.Generator().manual_seed(3))  # [6, 1, 16]
    sweep = SweepEvaluation(levels=(3, 6), queries=queries, num_samples=2, n_autoregressive=4)
    whole = sweep.evaluate_batch(m, {"signal": signal, "index": torch.arange(6)}, 0)  # {|S|: {metric: [6]}}
    m.net_config.chunk = 5  # fewer than the queries of an item: decoded in chunks
    parts = [sweep.evaluate_batch(m, {"signal": signal[rows], "index": torch.tensor(rows)}, i)
             for i, rows in enumerate([[0], [1, 2, 3], [4, 5]])]
    for k, values in whole.items():
        assert set(values) == {"nll", "mse", "nn_mse", "sample_mse"}
        for name, value in values.items():
            batched = torch.cat([part[k][name] for part in parts])  # [6]
            torch.testing.assert_close(batched, value, rtol=1e-5, atol=1e-5, msg=f"{name} at |S| = {k}")
    # the items' draws differ from each other: the keys seed them, not one seed for all
    assert not torch.allclose(whole[3]["sample_mse"][:3], whole[3]["sample_mse"][3:])


@pytest.mark.parametrize("encoder", ["buffered", "bidirectional"])
def test_a_sample_does_not_depend_on_how_many_are_drawn_beside_it(encoder):
    """Sample j of a signal is drawn from its seed and j alone: --num_samples 1 and --num_samples 3 with one seed
    give the same first sample (each chain took its random numbers from a block of the signal's generator whose
    place depended on num_samples, so every sample changed with the count). The cached (buffered) and the
    re-encoding (bidirectional) sampling paths both."""
    m = _module(encoder)
    gen = torch.Generator().manual_seed(1)
    pos = torch.rand(2, 4, 1, generator=gen) * 2 - 1  # [2, 4, 1]
    val = torch.rand(2, 4, 1, generator=gen)  # [2, 4, 1]
    qry = m.grid_queries(2)  # [2, 16, 1]
    three = m.sample(pos, val, qry, num_samples=3, n_autoregressive=6, seed=11)  # [2, 3, 16, 1]
    for n in (1, 2):
        fewer = m.sample(pos, val, qry, num_samples=n, n_autoregressive=6, seed=11)  # [2, n, 16, 1]
        torch.testing.assert_close(fewer, three[:, :n], rtol=0, atol=1e-5)
    assert not torch.allclose(three[:, 0], three[:, 1])  # the chains still differ
    full = m.sample(pos, val, qry, num_samples=3, n_autoregressive=None, seed=11)  # every query sampled
    torch.testing.assert_close(m.sample(pos, val, qry, num_samples=1, n_autoregressive=None, seed=11), full[:, :1],
                               rtol=0, atol=1e-5)
