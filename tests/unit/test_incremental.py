"""The incremental (causal, cached) encoder: cached decoding gives the same logits as a full
re-encode at every sampling step, and the sampler's cached and uncached runs agree."""

import pytest
import torch

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import sample
from pixeltransformer.model import PixelTransformer
from pixeltransformer.sets import grid_positions
from pixeltransformer.signal import SignalSpec

from perturb import perturbed

NB = 5


def _model(**kw) -> PixelTransformer:
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=1, num_params=NB * 3, width=32, encoder_layers=3, decoder_layers=2,
                         heads=4, ffn=64, fourier_features=16, encoder="incremental", **kw).eval()
    perturbed(m)
    return m


@pytest.mark.parametrize("distance_bias", [False, True])
def test_cached_logits_match_full_reencode_at_every_step(distance_bias):
    m = _model(distance_bias=distance_bias)
    b, k, steps = 3, 6, 12
    pos, val = torch.rand(b, k + steps, 2) * 2 - 1, torch.rand(b, k + steps, 1)
    qry = torch.rand(b, 4, 2) * 2 - 1
    cache = m.new_cache(b, k + steps, torch.device("cpu"), torch.float32)
    m.encode_append(cache, pos[:, :k], val[:, :k])
    spread = []
    for t in range(steps + 1):
        n = k + t
        cached = m.decode(m.cached_memory(cache), qry)  # [B, Q, NP]
        full = m.decode(m.encode(pos[:, :n], val[:, :n]), qry)
        assert cache.length == n
        assert torch.allclose(cached[..., :NB], full[..., :NB], atol=1e-5), f"logits differ after {n} samples"
        assert torch.allclose(cached, full, atol=1e-5)
        spread.append(full[..., :NB])
        if t < steps:
            m.encode_append(cache, pos[:, n : n + 1], val[:, n : n + 1])
    # the test means something only if the logits move as the set grows
    assert (spread[0] - spread[-1]).abs().max() > 1e-2


@pytest.mark.parametrize("distance_bias", [False, True])
def test_block_append_after_rows_matches_full_encode(distance_bias):
    m = _model(distance_bias=distance_bias)
    pos, val = torch.rand(2, 11, 2) * 2 - 1, torch.rand(2, 11, 1)
    cache = m.new_cache(2, 11, torch.device("cpu"), torch.float32)
    rows = [m.encode_append(cache, pos[:, :3], val[:, :3]), m.encode_append(cache, pos[:, 3:4], val[:, 3:4]),
            m.encode_append(cache, pos[:, 4:11], val[:, 4:11])]  # a block after a row: the masked path
    assert torch.allclose(torch.cat(rows, 1), m.encode_rows(pos, val), atol=1e-5)


def test_cache_overflow_is_a_clear_error():
    m = _model()
    cache = m.new_cache(1, 2, torch.device("cpu"), torch.float32)
    with pytest.raises(ValueError, match="the cache holds 2 samples; 3 asked"):
        m.encode_append(cache, torch.zeros(1, 3, 2), torch.zeros(1, 3, 1))


def test_bidirectional_model_refuses_a_cache():
    m = PixelTransformer(pos_dims=2, val_dims=1, num_params=3, width=16, heads=4, ffn=32, fourier_features=8)
    with pytest.raises(ValueError, match="incremental"):
        m.new_cache(1, 4, torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("n_ar,distance_bias", [(None, False), (7, False), (7, True)])
def test_cached_and_uncached_sampling_agree(n_ar, distance_bias):
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(5, 5), val_dims=1, val_range=(0, 1), num_bins=NB)
    dist = BinnedGaussian.from_spec(spec)
    m = _model(distance_bias=distance_bias)
    ctx_pos, ctx_val = torch.rand(2, 4, 2) * 2 - 1, torch.rand(2, 4, 1)
    qry = grid_positions((5, 5)).unsqueeze(0).expand(2, -1, -1)
    a = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=3, n_autoregressive=n_ar, seed=0, use_cache=True)
    b = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=3, n_autoregressive=n_ar, seed=0, use_cache=False)
    assert a.shape == (2, 3, 25, 1)
    assert torch.allclose(a, b, atol=1e-5)
    assert a[:, 0].sub(a[:, 1]).abs().max() > 1e-3  # chains differ
