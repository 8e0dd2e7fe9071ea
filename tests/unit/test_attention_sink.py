"""The attention sink: a learned key/value at a learned distance that every head may read (model.Attention)."""

import math

import torch

from pixeltransformer.model import PixelTransformer

from perturb import perturbed


def _sharp_model(sink: bool) -> PixelTransformer:
    """A 1D model whose every head has sigma = 0.01 and (with the sink) sink radius 0.03: a source further than
    that from a query weighs nothing beside the sink."""
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=1, val_dims=1, num_params=3, width=32, encoder_layers=2, decoder_layers=2,
                         heads=4, ffn=64, fourier_features=16, distance_bias=True, attention_sink=sink).eval()
    with torch.no_grad():
        perturbed(m)
        for block in [*m.encoder, *m.decoder]:
            block.attn.log_sigma.fill_(math.log(0.01))
            if sink:
                block.attn.log_sink_radius.fill_(math.log(0.03))
    return m


@torch.no_grad()
def test_a_query_far_from_every_source_reads_the_sink_not_the_nearest_source():
    ctx_pos = torch.tensor([[[-0.9], [-0.6]]])  # [1, 2, P]
    qry = torch.tensor([[[0.8], [-0.6]]])  # [1, 2, P]: far from S, then on a sample of S
    low, high = torch.tensor([[[0.1], [0.2]]]), torch.tensor([[[0.9], [0.7]]])  # [1, 2, V] two value sets
    for sink in (True, False):
        m = _sharp_model(sink)
        a, b = m(ctx_pos, low, qry), m(ctx_pos, high, qry)  # [1, 2, 3]
        far_moves = (a[0, 0] - b[0, 0]).abs().max().item()
        near_moves = (a[0, 1] - b[0, 1]).abs().max().item()
        assert near_moves > 1e-3, f"sink={sink}: the query on a sample must read it"
        if sink:
            assert far_moves < 1e-6, "with the sink, a query with no source nearby must not read the nearest one"
        else:
            assert far_moves > 1e-3, "without the sink, softmax renormalises onto the nearest source"


def test_the_sink_is_learned():
    m = _sharp_model(True).train()
    pos, val = torch.rand(2, 5, 1) * 2 - 1, torch.rand(2, 5, 1)  # [B, K, P], [B, K, V]
    m(pos, val, torch.rand(2, 3, 1) * 2 - 1).square().sum().backward()
    attn = m.decoder[0].attn
    for p in (attn.sink_key, attn.sink_value, attn.log_sink_radius):
        assert p.grad.abs().sum() > 0


@torch.no_grad()
def test_the_sink_runs_under_bf16_autocast_as_on_a_gpu():
    """The GPU path (bf16 autocast) with and without the distance channels: the sink row takes the keys' dtype."""
    for distance in (True, False):
        torch.manual_seed(0)
        m = PixelTransformer(pos_dims=1, val_dims=1, num_params=3, width=32, encoder_layers=1, decoder_layers=1,
                             heads=4, ffn=64, fourier_features=16, distance_bias=distance, attention_sink=True).eval()
        pos, val, qry = torch.rand(2, 5, 1) * 2 - 1, torch.rand(2, 5, 1), torch.rand(2, 3, 1) * 2 - 1
        want = m(pos, val, qry)  # [B, Q, 3]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = m(pos, val, qry).float()  # [B, Q, 3]
        assert torch.allclose(got, want, atol=0.05), f"distance_bias={distance}"


@torch.no_grad()
def test_cached_sampling_with_the_sink_equals_reencoding():
    """The sink is appended at every call, never cached: the cached sampler must still match re-encoding, for the
    buffered encoder and for the causal one (whose mask gains the sink column)."""
    from pixeltransformer.distribution import BinnedGaussian
    from pixeltransformer.inference import sample
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec(domain="t", dataset="t", grid_shape=(12,), val_dims=1, val_range=(0, 1), num_bins=4)
    dist = BinnedGaussian.from_spec(spec)
    for encoder in ("buffered", "incremental"):
        torch.manual_seed(0)
        m = PixelTransformer(pos_dims=1, val_dims=1, num_params=dist.num_params, width=32, encoder_layers=2,
                             decoder_layers=2, heads=4, ffn=64, fourier_features=16, encoder=encoder,
                             attention_sink=True).eval()
        perturbed(m)
        ctx_pos, ctx_val = torch.rand(2, 3, 1) * 2 - 1, torch.rand(2, 3, 1)  # [B, K, P], [B, K, V]
        qry = torch.linspace(-0.95, 0.95, 12).view(1, 12, 1).expand(2, -1, -1)  # [B, Q, P]
        a = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, use_cache=True)
        b = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, use_cache=False)
        assert torch.allclose(a, b, atol=1e-5), f"{encoder}: {(a - b).abs().max():.2e}"
