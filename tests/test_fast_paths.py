"""The performance paths compute exactly what the plain formulas do: precomputed decoder keys/values,
chunked decoding, the gathered training loss and the head-fused loss (values and gradients)."""

import math

import pytest
import torch
import torch.nn.functional as F

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import decode_chunked, mean_field
from pixeltransformer.model import PixelTransformer
from pixeltransformer.signal import SignalSpec


def _model(encoder="bidirectional") -> PixelTransformer:
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=3, val_dims=1, num_params=12, width=32, encoder_layers=2, decoder_layers=3, heads=4,
                         ffn=64, fourier_features=16, encoder=encoder).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return m


def test_precomputed_memory_keys_values_decode_identically():
    m = _model()
    ctx_pos, ctx_val, qry = torch.rand(2, 9, 3) * 2 - 1, torch.rand(2, 9, 1), torch.rand(2, 50, 3) * 2 - 1
    mem = m.encode(ctx_pos, ctx_val)
    direct = m.decode(mem, qry)  # [B, Q, NP]
    assert torch.allclose(m.decode(m.memory_kv(mem), qry), direct, atol=1e-5)
    assert torch.allclose(decode_chunked(m, mem, qry, chunk=7), direct, atol=1e-5)
    assert torch.allclose(decode_chunked(m, mem, qry, chunk=50), direct, atol=1e-5)
    assert direct.std() > 1e-2


def test_mean_field_chunking_is_exact():
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(4, 4, 4), val_dims=1, val_range=(-1, 1), num_bins=4)
    dist = BinnedGaussian.from_spec(spec)
    m = _model()
    ctx_pos, ctx_val, qry = torch.rand(1, 9, 3) * 2 - 1, torch.rand(1, 9, 1), torch.rand(1, 64, 3) * 2 - 1
    whole = dist.mean(m(ctx_pos, ctx_val, qry))  # [B, Q, V]
    assert torch.allclose(mean_field(m, dist, ctx_pos, ctx_val, qry, chunk=10), whole, atol=1e-5)


def _plain_loss(dist: BinnedGaussian, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The paper's objective written directly from the full mixture parameters."""
    logits, means, sigma = dist.split(params)
    b = dist.nearest_bin(value).unsqueeze(-1)  # [..., 1]
    log_q = F.log_softmax(logits, -1).gather(-1, b).squeeze(-1)
    mean_b = means.gather(-2, b.unsqueeze(-1).expand(*b.shape, dist.val_dims)).squeeze(-2)
    sigma_b = sigma.gather(-1, b).squeeze(-1)
    r2 = ((value - mean_b) ** 2).sum(-1) / sigma_b**2
    half = 1.0 if dist.gaussian_term == "paper" else 0.5
    return -(log_q - dist.alpha * (dist.val_dims * torch.log(sigma_b / dist.unit) + half * r2))


CASES = {
    "gaussian": dict(num_bins=1, val_dims=1),
    "uniform scalar bins": dict(num_bins=16, val_dims=1),
    "explicit colour centres": dict(num_bins=12, val_dims=3, centres=torch.rand(12, 3).tolist()),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("term", ["paper", "nll"])
def test_gathered_and_head_fused_losses_match_the_plain_formula(case, term):
    torch.manual_seed(1)
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(4, 4), val_range=(0, 1), **CASES[case])
    dist = BinnedGaussian.from_spec(spec, gaussian_term=term)
    head = torch.nn.Linear(8, dist.num_params)
    feats = torch.randn(3, 20, 8, requires_grad=True)
    value = torch.rand(3, 20, spec.val_dims)
    params = head(feats)
    plain, fast, fused = _plain_loss(dist, params, value), dist.loss(params, value), dist.head_loss(feats, head, value)
    assert torch.allclose(fast, plain, atol=1e-5, rtol=1e-5)
    assert torch.allclose(fused, plain, atol=1e-5, rtol=1e-5)
    leaves = [feats, head.weight, head.bias]
    grads = [torch.autograd.grad(x.sum(), leaves, retain_graph=True) for x in (plain, fast, fused)]
    for g in grads[1:]:
        for a, b in zip(g, grads[0]):
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert math.isfinite(plain.sum().item())


def test_features_feed_the_head():
    m = _model()
    ctx_pos, ctx_val, qry = torch.rand(2, 5, 3) * 2 - 1, torch.rand(2, 5, 1), torch.rand(2, 7, 3) * 2 - 1
    assert torch.allclose(m.head(m.features(ctx_pos, ctx_val, qry)), m(ctx_pos, ctx_val, qry), atol=1e-6)
