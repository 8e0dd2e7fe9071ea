"""The per-set value frame (model.net.value_norm) and beta-NLL: the frame maps the distribution back to value units
exactly, the encoding is affine-equivariant, and the weighted loss is the plain one times sigma^(2 beta)."""

import math

import pytest
import torch

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import sample
from pixeltransformer.model import PixelTransformer

from perturb import perturbed


def _framed(beta: float = 0.0) -> tuple[PixelTransformer, BinnedGaussian]:
    torch.manual_seed(0)
    dist = BinnedGaussian(torch.zeros(1, 1), unit=5.0, gaussian_term="nll", framed=True, beta=beta)
    model = PixelTransformer(pos_dims=1, val_dims=1, num_params=dist.num_params, val_range=(-5.0, 5.0), width=32,
                             encoder_layers=2, decoder_layers=2, heads=4, ffn=64, fourier_features=16,
                             value_norm=True, distance_bias=False).eval()
    perturbed(model)
    return model, dist


def _sets(b=3, k=6, q=11):
    gen = torch.Generator().manual_seed(1)
    cx = torch.rand(b, k, 1, generator=gen) * 2 - 1
    cy = torch.randn(b, k, 1, generator=gen) * 2 + 0.5
    qx = torch.rand(b, q, 1, generator=gen) * 2 - 1
    return cx, cy, qx


def test_frame_is_the_sets_mean_and_rms_deviation():
    model, _ = _framed()
    _, cy, _ = _sets()
    frame = model.frame(cy)  # [B, 1, 2]
    assert frame.shape == (3, 1, 2)
    assert torch.allclose(frame[..., 0], cy.mean(1))
    floor = (model.ctx_val_proj.min_scale * 5.0) ** 2
    rms = (((cy - cy.mean(1, keepdim=True)) ** 2).mean((1, 2)) + floor).sqrt()  # [B]
    assert torch.allclose(frame[:, 0, 1].exp(), rms)


def test_framed_density_is_the_gaussian_in_value_units():
    """log p(v) = log N(v; m + s mu, (s sigma)^2): the frame's Jacobian is in the density."""
    model, dist = _framed()
    cx, cy, qx = _sets()
    params = model(cx, cy, qx)  # [B, Q, NP + 2]
    assert params.shape[-1] == dist.num_params + 2  # the frame: mean (V = 1) and log scale
    head, shift, scale = dist.unframe(params)
    mu_n = dist.unit * head[..., 1:2]  # [B, Q, 1] the head's mean in the frame (one bin at 0)
    sd_n = (torch.nn.functional.softplus(head[..., 2:3]) + dist.min_sigma) * dist.unit  # [B, Q, 1]
    mean, sd = shift + scale * mu_n, scale * sd_n  # [B, Q, 1]
    v = torch.randn(3, 11, 1) * 2
    expected = torch.distributions.Normal(mean, sd).log_prob(v)[..., 0]  # [B, Q]
    assert torch.allclose(dist.log_prob(params, v), expected, atol=1e-5)
    assert torch.allclose(dist.mean(params), mean, atol=1e-6)
    assert torch.allclose(dist.variance(params), sd**2, atol=1e-6)
    # the loss is the frame's NLL: the value-unit NLL (times alpha) less alpha * log s
    nll = -expected
    loss = dist.loss(params, v)
    assert torch.allclose(loss, dist.alpha * (nll - 0.5 * math.log(2 * math.pi) - torch.log(scale[..., 0])
                                              - math.log(dist.unit)), atol=1e-5)


def test_encoding_is_affine_equivariant_when_the_frame_features_are_off():
    """With the frame's own features zeroed (and no scale floor) the network sees identical inputs for y and
    a y + b, so its mean moves by exactly that map and its spread scales by a."""
    model, dist = _framed()
    model.ctx_val_proj.min_scale = 0.0
    with torch.no_grad():
        model.ctx_val_proj.proj.weight[:, 1:] = 0
    cx, cy, qx = _sets()
    p1, p2 = model(cx, cy, qx), model(cx, 3 * cy - 2, qx)
    assert torch.allclose(dist.mean(p2), 3 * dist.mean(p1) - 2, atol=1e-4)
    assert torch.allclose(dist.variance(p2), 9 * dist.variance(p1), rtol=1e-4)
    # and the frame's features do reach the network when they are on
    model2, _ = _framed()
    model2.ctx_val_proj.min_scale = 0.0
    assert not torch.allclose(dist.mean(model2(cx, 3 * cy - 2, qx)), 3 * dist.mean(model2(cx, cy, qx)) - 2, atol=1e-3)


def test_framed_sampling_keeps_observed_values_and_follows_the_frame():
    model, dist = _framed()
    cx, cy, qx = _sets()
    qx = torch.cat([cx[:, :2], qx], 1)  # two queries sit on observed points
    s = sample(model, dist, cx, cy, qx, num_samples=4, n_autoregressive=5, seed=3)  # [B, S, Q, 1]
    assert s.shape == (3, 4, 13, 1)
    assert torch.equal(s[:, :, :2], cy[:, None, :2].expand(-1, 4, -1, -1))
    assert torch.isfinite(s).all()


def test_value_norm_errors():
    with pytest.raises(ValueError, match="bidirectional"):
        PixelTransformer(1, 1, 3, value_norm=True, encoder="incremental")
    with pytest.raises(ValueError, match="num_bins=1"):
        BinnedGaussian(torch.linspace(0, 1, 4).unsqueeze(1), unit=0.25, framed=True)
    dist = BinnedGaussian(torch.zeros(1, 1), unit=1.0, framed=True)
    with pytest.raises(ValueError, match="loss\\(model"):
        dist.head_loss(torch.randn(2, 4, 8), torch.nn.Linear(8, 3), torch.randn(2, 4, 1))


@pytest.mark.parametrize("beta", [0.5, 1.0])
def test_beta_nll_weights_the_gaussian_term_by_sigma(beta):
    """loss = -(log q - alpha w g) with w = sigma^(2 beta) / mean(sigma^(2 beta)), held out of the gradient."""
    torch.manual_seed(0)
    plain = BinnedGaussian(torch.zeros(1, 1), unit=2.0, gaussian_term="nll")
    weighted = BinnedGaussian(torch.zeros(1, 1), unit=2.0, gaussian_term="nll", beta=beta)
    params = torch.randn(64, 3, requires_grad=True)  # logit, offset, raw sigma
    value = torch.randn(64, 1)
    sigma_u = torch.nn.functional.softplus(params[:, 2]) + plain.min_sigma  # [64]
    w = sigma_u.detach() ** (2 * beta)
    w = w / w.mean()
    expected = plain.loss(params, value) * w
    got = weighted.loss(params, value)
    assert torch.allclose(got, expected, atol=1e-6)
    g1, = torch.autograd.grad(got.sum(), params)
    g2, = torch.autograd.grad(expected.sum(), params)
    assert torch.allclose(g1, g2, atol=1e-6)
    # and it is not the plain loss
    assert not torch.allclose(got, plain.loss(params, value))
