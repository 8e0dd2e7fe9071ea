"""The performance paths compute exactly what the plain formulas do: precomputed decoder keys/values,
chunked decoding, the gathered training loss and the head-fused loss (values and gradients)."""

import math

import pytest
import torch
import torch.nn.functional as F

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import decode_chunked, mean_field
from pixeltransformer.loading import nonfinite
from pixeltransformer.model import Attention, PixelTransformer
from pixeltransformer.signal import SignalSpec

from perturb import perturbed


def _model(encoder="bidirectional", distance_bias=False) -> PixelTransformer:
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=3, val_dims=1, num_params=12, width=32, encoder_layers=2, decoder_layers=3, heads=4,
                         ffn=64, fourier_features=16, encoder=encoder, distance_bias=distance_bias).eval()
    perturbed(m)
    return m


@pytest.mark.parametrize("distance_bias", [False, True])
def test_memory_from_rows_and_chunked_decoding_agree(distance_bias):
    m = _model(distance_bias=distance_bias)
    ctx_pos, ctx_val, qry = torch.rand(2, 9, 3) * 2 - 1, torch.rand(2, 9, 1), torch.rand(2, 50, 3) * 2 - 1
    mem = m.encode(ctx_pos, ctx_val)
    direct = m.decode(mem, qry)  # [B, Q, NP]
    assert torch.allclose(m.decode(m.memory_kv(m.encode_rows(ctx_pos, ctx_val), ctx_pos), qry), direct, atol=1e-5)
    assert torch.allclose(decode_chunked(m, mem, qry, chunk=7), direct, atol=1e-5)
    assert torch.allclose(decode_chunked(m, mem, qry, chunk=50), direct, atol=1e-5)
    assert direct.std() > 1e-2


def test_distance_bias_is_the_gaussian_log_kernel():
    """The folded channels give softmax(q.k / sqrt(Dh) - |x_q - x_k|^2 / (2 sigma_h^2)) v, per head."""
    torch.manual_seed(0)
    att = Attention(width=24, heads=3, pos_dims=2, sigma_range=(0.1, 0.8))
    x, src = torch.randn(2, 5, 24), torch.randn(2, 7, 24)
    xp, sp = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 7, 2) * 2 - 1
    got = att(x, src, x_pos=xp, src_pos=sp)  # [B, N, D]
    q = att.split(att.q(x))  # [B, H, N, Dh]
    k, v = (att.split(t) for t in att.kv(src).chunk(2, dim=-1))  # [B, H, M, Dh]
    d2 = torch.cdist(xp, sp).pow(2).unsqueeze(1)  # [B, 1, N, M]
    sigma = att.log_sigma.exp().view(1, -1, 1, 1)  # [1, H, 1, 1]
    logits = q @ k.transpose(-1, -2) / 8 ** 0.5 - d2 / (2 * sigma**2)  # [B, H, N, M]
    want = att.combine(logits.softmax(-1) @ v, x.dtype)  # [B, N, D]
    assert torch.allclose(got, want, atol=1e-5)
    assert att.key_dim % 8 == 0
    # a narrow head attends mostly to the nearest key; without the bias it would not
    narrow = Attention(width=24, heads=3, pos_dims=2, sigma_range=(0.01, 0.02))
    with torch.no_grad():
        narrow.q.weight.zero_()
    qn = narrow.queries(x, xp)  # [B, H, N, key_dim]
    kn, _ = narrow.keys_values(src, sp)
    w = (qn @ kn.transpose(-1, -2) / 8 ** 0.5).softmax(-1)  # [B, H, N, M]
    assert (w.argmax(-1) == d2.squeeze(1).argmin(-1).unsqueeze(1)).all()


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
@pytest.mark.parametrize("term,anchor", [("paper", False), ("nll", False), ("paper", True)])
def test_gathered_and_head_fused_losses_match_the_plain_formula(case, term, anchor):
    torch.manual_seed(1)
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(4, 4), val_range=(0, 1), **CASES[case])
    dist = BinnedGaussian.from_spec(spec, gaussian_term=term, anchor=anchor)
    assert dist.anchor == (anchor and spec.num_bins > 1)
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


def test_anchored_logits_peak_at_the_bin_nearest_the_anchor():
    torch.manual_seed(0)
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(4, 4), val_dims=3, val_range=(0, 1), num_bins=20,
                      centres=torch.rand(20, 3).tolist())
    dist = BinnedGaussian.from_spec(spec, anchor=True)
    plain = BinnedGaussian.from_spec(spec)
    assert dist.num_params == plain.num_params + 4
    target = torch.rand(50, 3)  # anchors anywhere in the colour cube
    raw = torch.cat([2 * target - 1, torch.full((50, 1), 30.0)], dim=-1)  # [50, V + 1], a sharp anchor
    params = torch.cat([torch.zeros(50, plain.num_params), raw], dim=-1)  # free logits all zero
    logits, _, _ = dist.split(params)  # [50, NB]
    assert torch.equal(logits.argmax(-1), dist.nearest_bin(target))
    # a mild anchor (the initial gate) leaves the free logits in charge
    params[:, -1] = 0.0
    assert dist.split(params)[0].std(-1).max() < 1.0
    # the density stays normalised: log_prob of the scalar case integrates to ~1
    s1 = SignalSpec(domain="t", dataset="t", grid_shape=(4,), val_dims=1, val_range=(-1, 1), num_bins=8)
    d1 = BinnedGaussian.from_spec(s1, anchor=True)
    p1 = torch.randn(1, d1.num_params)  # [1, NP]
    grid = torch.linspace(-3, 3, 20001).unsqueeze(-1)  # [N, 1]
    mass = d1.log_prob(p1.expand(grid.shape[0], -1), grid).exp().sum() * (6 / 20000)
    assert abs(mass.item() - 1) < 1e-3


def test_the_weights_scan_names_what_isfinite_names():
    """The scan for NaN or Inf weights (checkpoints read and saved) clears a tensor by its sum: finite entries whose
    sum overflows are finite all the same, and every NaN or Inf, wherever it lies, is found."""
    big = torch.full((4, 3), 3e38)  # float32: each entry finite, their sum Inf
    half = torch.full((70,), 1000.0, dtype=torch.float16)  # the sum overflows float16's 65504
    steps = torch.arange(5)  # not a floating-point tensor: not a weight to scan
    assert not torch.isfinite(big.sum()) and not torch.isfinite(half.sum())
    assert nonfinite([("big", big), ("half", half), ("steps", steps), ("empty", torch.zeros(0))]) is None
    for bad in (float("nan"), float("inf"), -float("inf")):
        hurt = torch.randn(7, 5)
        hurt[6, 4] = bad
        both = big.clone()
        both[0, 0] = bad  # among finite entries whose sum overflows
        assert nonfinite([("big", big), ("a", hurt), ("half", half), ("b", both)]) == "2 of 4 tensors, first a"
