"""The buffered encoder: S is a set (bidirectional, permutation invariant), drawn samples form a causal buffer.

Exactness: cached sampling equals re-encoding under the same masks, permuting S changes nothing, an empty
buffer is the bidirectional encoder with the same weights; and a signal's samples do not depend on its batch."""

import pytest
import torch

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer import inference
from pixeltransformer.inference import sample
from pixeltransformer.model import PixelTransformer, buffer_mask
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import grid_positions
from pixeltransformer.signal import SignalSpec

from perturb import perturbed

NB = 5


def _model(encoder="buffered", value_norm=False, num_params=NB * 3, **kw) -> PixelTransformer:
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=1, num_params=num_params, width=32, encoder_layers=3,
                         decoder_layers=2, heads=4, ffn=64, fourier_features=16, encoder=encoder,
                         value_norm=value_norm, **kw).eval()
    perturbed(m)
    return m


def _sets(b=3, k=6, n=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(b, k + n, 2, generator=g) * 2 - 1  # [B, K+n, P]
    val = torch.rand(b, k + n, 1, generator=g) * 3 - 1  # [B, K+n, V]
    qry = torch.rand(b, 7, 2, generator=g) * 2 - 1  # [B, Q, P]
    return pos, val, qry


def test_buffer_mask():
    m = buffer_mask(5, 2)
    want = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]).bool()
    assert torch.equal(m, want)


def test_caches_hold_one_row_a_token_per_layer():
    """A cache holds, per encoder layer and once for every decoder layer, each token's D-wide row and its P + 2
    distance channels (padded to a multiple of 8 on a GPU): not keys and values per head and per layer."""
    m = _model(distance_bias=True)  # width 32, P = 2: 32 + 4 channels, padded to 40
    attn = m.encoder[0].attn
    assert (attn.row_dim("cpu"), attn.row_dim("cuda")) == (36, 40)
    cache = m.new_cache(2, 5, torch.device("cpu"), torch.float32)
    assert len(cache.rows) == 3 and cache.rows[0].shape == cache.memory_rows.shape == (2, 1, 5, 36)
    assert _model(distance_bias=False).new_cache(2, 5, torch.device("cpu"), torch.float32).rows[0].shape[-1] == 32


CASES = [dict(distance_bias=False), dict(distance_bias=True), dict(distance_bias=True, value_norm=True),
         dict(distance_bias=True, attention_sink=True)]


@pytest.mark.parametrize("kw", CASES)
def test_cached_steps_equal_reencoding_under_the_masks(kw):
    m = _model(**kw)
    pos, val, qry = _sets()
    k, n = 6, 9
    cache = m.new_cache(3, k + n, torch.device("cpu"), torch.float32)
    rows = [m.encode_append(cache, pos[:, :k], val[:, :k])]
    outs = []
    for t in range(n + 1):
        cached = m.decode(m.cached_memory(cache), qry)  # [B, Q, NP (+ V + 1)]
        full = m.decode(m.encode(pos[:, : k + t], val[:, : k + t], observed=k), qry)
        assert torch.allclose(cached, full, atol=1e-5), f"step {t}: {(cached - full).abs().max():.2e}"
        outs.append(full)
        if t < n:
            rows.append(m.encode_append(cache, pos[:, k + t : k + t + 1], val[:, k + t : k + t + 1]))
    # the encoder's rows (features up to |4| after three perturbed layers and layer norms) come from the one-row
    # kernel here and the masked whole-set kernel there, which sum in other orders: on CPUs with AVX-512 they
    # differ by up to 4e-5 relative with the attention sink, so rows are compared to 1e-4 relative; the decoded
    # outputs above, what sampling draws from, agree to 1e-5
    assert torch.allclose(torch.cat(rows, 1), m.encode_rows(pos, val, observed=k), rtol=1e-4, atol=1e-5)
    # a block of buffer rows after single rows goes through the masked path
    cache2 = m.new_cache(3, k + n, torch.device("cpu"), torch.float32)
    rows2 = [m.encode_append(cache2, pos[:, :k], val[:, :k]), m.encode_append(cache2, pos[:, k : k + 1], val[:, k : k + 1]),
             m.encode_append(cache2, pos[:, k + 1 :], val[:, k + 1 :])]
    assert torch.allclose(torch.cat(rows2, 1), m.encode_rows(pos, val, observed=k), rtol=1e-4, atol=1e-5)
    assert (outs[0] - outs[-1]).abs().max() > 1e-2  # the buffer matters


@pytest.mark.parametrize("kw", CASES)
def test_permuting_s_changes_no_output(kw):
    m = _model(**kw)
    pos, val, qry = _sets()
    k = 6
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(3))
    ppos = torch.cat([pos[:, perm], pos[:, k:]], 1)
    pval = torch.cat([val[:, perm], val[:, k:]], 1)
    rows = m.encode_rows(pos, val, observed=k)  # [B, K+n, D]
    prow = m.encode_rows(ppos, pval, observed=k)
    assert torch.allclose(prow[:, :k], rows[:, perm], atol=1e-5)  # S rows move with their samples
    assert torch.allclose(prow[:, k:], rows[:, k:], atol=1e-5)  # buffer rows do not change
    out = m(pos, val, qry, observed=k)
    assert torch.allclose(m(ppos, pval, qry, observed=k), out, atol=1e-5)
    # the buffer's order does matter (it is causal), so the test above is not vacuous
    swap = torch.cat([pos[:, :k], pos[:, k:].flip(1)], 1), torch.cat([val[:, :k], val[:, k:].flip(1)], 1)
    assert (m.encode_rows(*swap, observed=k)[:, -1] - rows[:, k]).abs().max() > 1e-3


@pytest.mark.parametrize("kw", CASES)
def test_empty_buffer_is_the_bidirectional_encoder(kw):
    buf = _model(**kw)
    bi = _model(encoder="bidirectional", **kw)
    bi.load_state_dict(buf.state_dict())
    pos, val, qry = _sets()
    want = bi(pos, val, qry)
    assert torch.allclose(buf(pos, val, qry), want, atol=1e-6)
    assert torch.allclose(buf(pos, val, qry, observed=pos.shape[1]), want, atol=1e-6)
    # and the cache's first block (S) is the bidirectional encoding too
    cache = buf.new_cache(3, pos.shape[1], torch.device("cpu"), torch.float32)
    buf.encode_append(cache, pos, val)
    assert torch.allclose(buf.decode(buf.cached_memory(cache), qry), want, atol=1e-5)


def test_cached_sampling_with_float64_positions():
    """Positions in float64 (the cache takes their dtype) and float32 values: the cached steps and the final decode
    of the remaining queries read the cache in the model's dtype, and draw what float32 positions draw."""
    m = _model(distance_bias=True)
    dist = _dist()
    pos, val, _ = _sets(b=2, k=6, n=0)
    qry = grid_positions((5, 5)).unsqueeze(0).expand(2, -1, -1)  # [B, Q, P]
    want = sample(m, dist, pos, val, qry, num_samples=2, n_autoregressive=7, seed=0)  # [B, S, Q, V]
    got = sample(m, dist, pos.double(), val, qry.double(), num_samples=2, n_autoregressive=7, seed=0)
    assert got.shape == want.shape and torch.allclose(got.float(), want, atol=1e-4)


def _dist(grid=(5, 5), framed=False):
    spec = SignalSpec(domain="t", dataset="t", grid_shape=grid, val_dims=1, val_range=(0, 1), num_bins=1 if framed else NB)
    return BinnedGaussian.from_spec(spec, framed=framed, gaussian_term="nll" if framed else "paper")


@pytest.mark.parametrize("framed,block", [(False, 1024), (True, 1024), (False, 4)])
def test_cached_and_uncached_sampling_agree(framed, block, monkeypatch):
    """block: how many steps' inputs the cached sampler prepares at a time (4: the 25-step runs cross blocks)."""
    monkeypatch.setattr(inference, "STEP_BLOCK", block)
    dist = _dist(framed=framed)
    m = _model(distance_bias=True, value_norm=framed, num_params=dist.num_params)
    ctx_pos, ctx_val = torch.rand(2, 4, 2) * 2 - 1, torch.rand(2, 4, 1)
    qry = grid_positions((5, 5)).unsqueeze(0).expand(2, -1, -1)
    for n_ar in (None, 7):
        a = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=3, n_autoregressive=n_ar, seed=0, use_cache=True)
        b = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=3, n_autoregressive=n_ar, seed=0, use_cache=False)
        assert torch.allclose(a, b, atol=1e-5)
        assert a[:, 0].sub(a[:, 1]).abs().max() > 1e-3  # chains differ


@pytest.mark.parametrize("encoder", ["buffered", "bidirectional"])
def test_samples_do_not_depend_on_the_batch(encoder):
    dist = _dist()
    m = _model(encoder=encoder, distance_bias=True)
    g = torch.Generator().manual_seed(5)
    ctx_pos, ctx_val = torch.rand(4, 5, 2, generator=g) * 2 - 1, torch.rand(4, 5, 1, generator=g)
    qry = grid_positions((5, 5)).unsqueeze(0).expand(4, -1, -1)
    seeds = [11, 22, 33, 44]
    together = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, seed=seeds)
    for i in range(4):
        alone = sample(m, dist, ctx_pos[i : i + 1], ctx_val[i : i + 1], qry[:1], num_samples=2,
                       n_autoregressive=None, seed=[seeds[i]])
        assert torch.allclose(alone[0], together[i], atol=1e-5), f"item {i} differs alone"
    other = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, seed=[12, 22, 33, 44])
    assert not torch.allclose(other[0], together[0]) and torch.allclose(other[1:], together[1:], atol=1e-5)


def test_training_step_splits_sets_and_learns():
    import warnings

    spec = SignalSpec(domain="t", dataset="t", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=8)
    torch.manual_seed(0)
    mod = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, fourier_features=16, encoder="buffered"),
                                 objective=dict(bin_prior_init=False),
                                 sets=dict(min_context=4, max_context=32, num_queries=32))
    splits = [mod.draw_split(32) for _ in range(200)]
    cut = [s for s in splits if s is not None]
    assert 60 < len(cut) < 140 and min(cut) >= 4 and max(cut) <= 31  # about half the batches, S non-empty
    assert mod.draw_split(1) is None
    signal = torch.rand(2, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = mod.training_step({"signal": signal}, 0)
    loss.backward()
    assert torch.isfinite(loss) and mod.model.encoder[0].attn.q.weight.grad.abs().sum() > 0


def test_bad_split_and_encoder_are_one_line_errors():
    m = _model()
    pos, val, _ = _sets()
    with pytest.raises(ValueError, match="observed must be between 1 and the 15 samples"):
        m.encode(pos, val, observed=0)
    with pytest.raises(ValueError, match="encoder must be one of bidirectional, buffered, incremental"):
        _model(encoder="causal")
    with pytest.raises(ValueError, match="value_norm needs encoder='bidirectional' or 'buffered'"):
        _model(encoder="incremental", value_norm=True)
    with pytest.raises(ValueError, match="needs decoder_layers >= 1 .queries read S only through the decoder."):
        PixelTransformer(pos_dims=2, val_dims=1, num_params=3, decoder_layers=0)
