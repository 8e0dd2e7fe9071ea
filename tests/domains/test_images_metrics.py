"""Image metrics as pure functions: known values, perfect and imperfect completions, NaN rows left unsampled."""

import math

import pytest
import torch

from domains.images import metrics as m
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.sets import flatten_grid, grid_positions
from pixeltransformer.signal import SignalSpec


def test_perfect_completion_scores_ssim_one_and_capped_psnr_a_shifted_one_less():
    gt = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ssim, psnr = m.image_scores(gt.clone(), gt)
    torch.testing.assert_close(ssim, torch.ones(3))
    torch.testing.assert_close(psnr, torch.full((3,), m.MAX_PSNR))
    # a constant offset of 0.1 on images in [0.2, 0.8]: MSE 0.01, so PSNR is exactly 20 dB
    mid = gt * 0.6 + 0.2
    ssim, psnr = m.image_scores(mid + 0.1, mid)
    torch.testing.assert_close(psnr, torch.full((3,), 20.0), atol=1e-4, rtol=0)
    assert (ssim < 0.99).all()
    shifted = mid.roll(1, dims=-1)  # the same pixels one column over: structure lost, not just brightness
    assert (m.image_scores(shifted, mid)[0] < ssim).all()


def test_images_too_small_for_the_ssim_window_score_nan_ssim_and_their_psnr():
    """The 11x11 window reflect-pads by 5 pixels: 6x6 images are scored, 5x5 ones (a resized --image_size) have no SSIM,
    NaN, left out of the means, where the evaluation stopped with torch's padding error; PSNR needs no window."""
    mid = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(5)) * 0.6 + 0.2  # [2, 1, 5, 5]
    ssim, psnr = m.image_scores(mid + 0.1, mid)
    assert torch.isnan(ssim).all()
    torch.testing.assert_close(psnr, torch.full((2,), 20.0), atol=1e-4, rtol=0)
    six = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(6))  # [2, 3, 6, 6]
    torch.testing.assert_close(m.image_scores(six.clone(), six)[0], torch.ones(2))


def test_nan_images_score_nan_and_the_rest_as_alone():
    gt = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    pred = gt.clone()
    pred[1] = float("nan")
    ssim, psnr = m.image_scores(pred, gt)
    assert torch.isnan(ssim[1]) and torch.isnan(psnr[1])
    keep = torch.tensor([0, 2, 3])
    torch.testing.assert_close(ssim[keep], torch.ones(3))


def test_accuracy_counts_hits_and_leaves_undefined_predictions_out():
    acc = m.accuracy(torch.tensor([3, 1, -1, 0]), torch.tensor([3, 2, 5, 0]))
    assert acc[[0, 1, 3]].tolist() == [1.0, 0.0, 1.0] and torch.isnan(acc[2])


def item_of(signal: torch.Tensor, mean: torch.Tensor, samples: torch.Tensor | None, observed: torch.Tensor,
            nll: torch.Tensor, params: torch.Tensor | None = None) -> SweepItem:
    """A sweep item over the full grid of signal [B, C, H, W]; mean [B, C, H, W], samples [B, S, C, H, W]; params
    [B, H W, NP] of one Gaussian per pixel (zeros, a wide one centred on 0.5, by default)."""
    b, c, h, w = signal.shape
    spec = SignalSpec(domain="images", dataset="t", grid_shape=(h, w), val_dims=c, val_range=(0.0, 1.0), num_bins=1)
    dist = BinnedGaussian.from_spec(spec)
    qry = grid_positions((h, w)).expand(b, -1, -1)  # [B, N, 2]
    flat = flatten_grid(signal)  # [B, N, C]
    sflat = None if samples is None else samples.flatten(3).transpose(-1, -2)  # [B, S, N, C]
    params = torch.zeros(b, h * w, dist.num_params) if params is None else params  # [B, N, NP]
    return SweepItem(spec, signal, 1, qry[:, :1], flat[:, :1], qry, flat, ~observed, params,
                     flatten_grid(mean), flat, sflat, True, nll, {"signal": signal}, dist)


def gaussian_params(mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """The parameters [..., 1 + C + 1] of one Gaussian (num_bins=1 on [0, 1]: centre 0.5, unit 0.5) with the given
    mean [..., C] and sigma."""
    raw = math.log(math.expm1(sigma / 0.5 - 1e-3))  # softplus(raw) + min_sigma = sigma / unit
    return torch.cat([torch.zeros_like(mean[..., :1]), (mean - 0.5) / 0.5, torch.full_like(mean[..., :1], raw)], -1)


def test_image_metrics_keep_s_and_skip_unsampled_rows():
    gen = torch.Generator().manual_seed(2)
    gt = torch.rand(2, 1, 8, 8, generator=gen)
    observed = torch.zeros(2, 64, dtype=torch.bool)
    observed[:, :32] = True  # the top half is S
    wrong = 1 - gt  # a mean that is wrong everywhere; S's pixels must be put back before scoring
    samples = torch.stack([gt, gt], dim=1).clone()  # [B, 2, C, H, W]: exact samples for image 0
    samples[1] = float("nan")  # image 1 was not sampled
    nll = torch.full((2, 64), math.log(2))  # 1 bit per held-out pixel; S's 99 nats must not count
    nll[:, :32] = 99.0
    out = m.image_metrics(item_of(gt, wrong, samples, observed, nll))
    torch.testing.assert_close(out["nll_bpd"], torch.ones(2))
    # the held-out pixels' 8-bit levels under the default wide Gaussian, S's pixels left out
    low, high = m.level_bounds(flatten_grid(gt))  # [B, N, 1] each
    cell = torch.distributions.Normal(0.5, 0.5 * (math.log(2) + 1e-3))  # softplus(0) + min_sigma, in unit 0.5
    level = -torch.log(cell.cdf(high.float()) - cell.cdf(low.float()))[..., 0] / math.log(2)  # [B, N]
    torch.testing.assert_close(out["nll_bpd_256"], level[:, 32:].mean(1), rtol=1e-4, atol=1e-4)
    kept = torch.where(observed.view(2, 1, 8, 8), gt, wrong)
    torch.testing.assert_close(out["ssim"], m.image_scores(kept, gt)[0])
    assert (out["ssim"] < 1).all()
    assert out["sample_ssim"][0] == 1 and out["sample_psnr"][0] == m.MAX_PSNR
    assert torch.isnan(out["sample_ssim"][1]) and torch.isnan(out["sample_psnr"][1])


def test_level_nll_of_a_predictive_narrower_than_a_level_is_near_zero_not_negative():
    # sigma 0.0006, a sixth of a level: the density at the value is ~660, 9.4 bits below zero, which density times
    # the 1/255 level width would report as -1.4 bits; the level's probability is ~1, so ~0 bits
    gt = torch.tensor([0.0, 1 / 255, 128 / 255, 1.0]).view(1, 1, 2, 2)
    params = gaussian_params(flatten_grid(gt), 0.0006)  # [1, 4, 3]
    observed = torch.zeros(1, 4, dtype=torch.bool)
    dist_nll = -BinnedGaussian.from_spec(item_of(gt, gt, None, observed, torch.zeros(1, 4)).spec).log_prob(
        params, flatten_grid(gt))  # [1, 4]
    out = m.nll_bits(item_of(gt, gt, None, observed, dist_nll, params))
    assert out["nll_bpd"].item() < -9
    assert 0 <= out["nll_bpd_256"].item() < 0.01  # 3.3 sigma each side of the value: 0.1% of the mass outside


def test_level_probabilities_sum_to_one_and_rgb_counts_each_channel():
    gen = torch.Generator().manual_seed(3)
    levels = torch.arange(256, dtype=torch.float32).view(256, 1) / 255  # [256, 1]
    grey = SignalSpec(domain="images", dataset="t", grid_shape=(16, 16), val_dims=1, val_range=(0.0, 1.0), num_bins=8)
    dist = BinnedGaussian.from_spec(grey, anchor=True)
    params = torch.randn(3, 1, dist.num_params, generator=gen).expand(3, 256, -1)  # [3, 256, NP]: 3 mixtures
    low, high = m.level_bounds(levels.expand(3, 256, 1))  # [3, 256, 1] each
    total = dist.log_prob_box(params, low, high).exp().sum(-1)  # [3]
    torch.testing.assert_close(total, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-9)
    # RGB: one Gaussian's level probability is the product of its channels' (each from the marginal CDF)
    gt = torch.rand(2, 3, 4, 4, generator=gen).mul(255).round().div(255)  # [2, 3, 4, 4] on the levels
    values = flatten_grid(gt)  # [2, 16, 3]
    params = gaussian_params(values + 0.01 * torch.randn(values.shape, generator=gen), 0.02)  # [2, 16, 5]
    observed = torch.zeros(2, 16, dtype=torch.bool)
    observed[:, :5] = True
    item = item_of(gt, gt, None, observed, torch.zeros(2, 16), params)
    low, high = m.level_bounds(values)  # [2, 16, 3] each
    per_channel = item.dist.cdf(params, high.float()) - item.dist.cdf(params, low.float())  # [2, 16, 3]
    bits = -per_channel.double().log().sum(-1) / (3 * math.log(2))  # [2, 16]
    torch.testing.assert_close(m.nll_bits(item)["nll_bpd_256"], bits[:, 5:].mean(1).float(), rtol=1e-4, atol=1e-5)


def test_equal_mass_on_every_8_bit_level_is_8_bits_and_its_density_as_much_below_as_it_is_peaked():
    """The hand computation: 256 equal bins, each a narrow Gaussian on one level k / 255, give every level 1/256, so
    8 bits a value; the continuous density there is 1/256 N(0; 0, sigma^2), 8 - log2(1 / (sqrt(2 pi) sigma)) bits."""
    spec = SignalSpec(domain="images", dataset="t", grid_shape=(16, 16), val_dims=1, val_range=(0.0, 1.0),
                      num_bins=256)
    dist = BinnedGaussian.from_spec(spec)
    sigma = 0.05 / 255  # a twentieth of a level
    offsets = (torch.arange(256) / 255 - dist.centres[:, 0]) / dist.unit  # [256]: each bin's mean onto its level
    raw = math.log(math.expm1(sigma / dist.unit - dist.min_sigma))
    head = torch.cat([torch.zeros(256), offsets, torch.full((256,), raw)])  # [NP]
    values = torch.randint(0, 256, (2, 256, 1), generator=torch.Generator().manual_seed(4)).float() / 255
    params = head.expand(2, 256, -1)  # [2, 256, NP]
    observed = torch.zeros(2, 256, dtype=torch.bool)
    observed[:, :10] = True
    gt = values.view(2, 16, 16, 1).permute(0, 3, 1, 2)  # [2, 1, 16, 16]
    item = item_of(gt, gt, None, observed, -dist.log_prob(params, values), params)
    item.spec, item.dist = spec, dist  # the 256 bins (item_of's default is one Gaussian)
    out = m.nll_bits(item)
    torch.testing.assert_close(out["nll_bpd_256"], torch.full((2,), 8.0), rtol=0, atol=1e-5)
    continuous = 8 - math.log2(1 / (math.sqrt(2 * math.pi) * sigma))
    torch.testing.assert_close(out["nll_bpd"], torch.full((2,), continuous), rtol=0, atol=1e-4)


def test_the_curves_show_the_8_bit_levels_nll_and_name_the_density_one():
    """metrics_vs_context.png (and the W&B curves) plot nll_bpd_256, the bits/dim the literature reports, and say
    which panel is the continuous density's (negative where the density exceeds 1)."""
    from domains.images.domain import ImageDomain

    groups = ImageDomain.plot_groups(ImageDomain.__new__(ImageDomain))
    titles = {key: title for title, keys in groups.items() for key in keys}
    assert "nll_bpd_256" in titles and "8-bit" in titles["nll_bpd_256"]
    assert "continuous" in titles["nll_bpd"]


def test_level_bounds_open_the_outer_levels():
    low, high = m.level_bounds(torch.tensor([0.0, 0.001, 1 / 255, 1.0]))
    assert low.tolist() == [-math.inf, -math.inf, 0.5 / 255, 254.5 / 255]
    assert high.tolist() == [0.5 / 255, 0.5 / 255, 1.5 / 255, math.inf]


def textbook_ssim(a, b, crop: int = 0) -> float:
    """Wang et al. (2004) SSIM in numpy for one grey image [H, W] in [0, 1]: Gaussian window 11x11 (sigma 1.5),
    population (co)variances, local statistics mirrored at the border (the edge pixel not repeated), the map averaged
    after dropping ``crop`` pixels at each border."""
    import numpy as np
    from scipy.ndimage import correlate

    g = np.exp(-np.arange(-5, 6) ** 2 / (2 * 1.5**2))
    window = np.outer(g, g) / g.sum() ** 2  # [11, 11]
    mu = lambda x: correlate(x, window, mode="mirror")  # noqa: E731
    ma, mb = mu(a), mu(b)
    va, vb, cov = mu(a * a) - ma**2, mu(b * b) - mb**2, mu(a * b) - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    s = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))  # [H, W]
    return float(s[crop : s.shape[0] - crop, crop : s.shape[1] - crop].mean())


def test_ssim_is_the_textbook_ssim_averaged_over_the_whole_image_as_the_notes_say():
    """The SSIM the evaluation reports is the textbook one, averaged over the whole image (no border crop), also on
    8x8 digits; scikit-image crops a 5-pixel border, which on a digit's flat border moves it by far more than a few
    thousandths (the notes say so)."""
    import numpy as np
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from skimage.metrics import structural_similarity

    digits = load_digits().images[:3] / 16.0  # [3, 8, 8] in [0, 1]
    for gt in [digits[0], np.clip(zoom(digits[1], 3.5, order=1), 0, 1)]:  # 8x8 and 28x28
        pred = np.clip(0.7 * gt + 0.1, 0, 1)  # low contrast: the flat black border turns grey
        got = m.image_scores(torch.tensor(pred[None, None], dtype=torch.float32),
                             torch.tensor(gt[None, None], dtype=torch.float32))[0].item()
        assert got == pytest.approx(textbook_ssim(pred, gt), abs=1e-5)
    cropped = structural_similarity(gt, pred, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
    assert cropped == pytest.approx(textbook_ssim(pred, gt, crop=5), abs=1e-6)
    assert cropped - got > 0.05


def test_level_probabilities_are_the_same_in_chunks(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    rgb = SignalSpec(domain="images", dataset="t", grid_shape=(4, 4), val_dims=3, val_range=(0.0, 1.0), num_bins=8)
    dist = BinnedGaussian.from_spec(rgb)
    params = torch.randn(2, 16, dist.num_params, generator=gen)  # [2, 16, NP]
    low, high = m.level_bounds(torch.rand(2, 16, 3, generator=gen))  # [2, 16, 3] each
    whole = dist.log_prob_box(params, low, high)  # [2, 16]
    monkeypatch.setattr(BinnedGaussian, "BOX_CHUNK", 5 * 8 * 3)  # five queries at a time, the last chunk two
    torch.testing.assert_close(dist.log_prob_box(params, low, high), whole, rtol=0, atol=0)
    assert whole.shape == (2, 16) and whole.dtype == torch.float64


def test_level_probabilities_run_where_float64_does(monkeypatch):
    """Apple's MPS has no float64: the level probabilities (float64, from log Phi) stopped an images evaluation there
    with torch's float64 error. They run where float64 does, the CPU for MPS (the bounds and the split parameters
    moved there, the bits brought back as float32), and on the device itself elsewhere. The parameters are split on
    their own device, where the distribution's buffers are (moving them first would mix devices)."""
    import pixeltransformer.distribution as distribution

    assert distribution.float64_device(torch.device("mps")) == torch.device("cpu")
    for device in ("cpu", "cuda:1"):
        assert distribution.float64_device(torch.device(device)) == torch.device(device)
    gen = torch.Generator().manual_seed(5)
    gt = torch.rand(2, 1, 4, 4, generator=gen).mul(255).round().div(255)  # [2, 1, 4, 4]
    values = flatten_grid(gt)  # [2, 16, 1]
    observed = torch.zeros(2, 16, dtype=torch.bool)
    observed[:, :3] = True
    item = item_of(gt, gt, None, observed, torch.zeros(2, 16), gaussian_params(values, 0.05))
    expected = m.nll_bits(item)["nll_bpd_256"]  # [2]
    asked, split_on, box_on = [], [], []
    split, box = BinnedGaussian.split, BinnedGaussian._log_prob_box

    def stand_in(device):  # where float64 runs: asked with the tensors' device
        asked.append(torch.device(device).type)
        return torch.device("cpu")

    monkeypatch.setattr(distribution, "float64_device", stand_in)
    monkeypatch.setattr(m, "float64_device", stand_in)
    monkeypatch.setattr(BinnedGaussian, "split", lambda self, p: split_on.append(p.device.type) or split(self, p))
    monkeypatch.setattr(BinnedGaussian, "_log_prob_box",
                        lambda self, p, lo, hi: box_on.append((lo.device.type, hi.dtype)) or box(self, p, lo, hi))
    got = m.nll_bits(item)["nll_bpd_256"]
    assert asked == ["cpu", "cpu"] and split_on == ["cpu"] and box_on == [("cpu", torch.float64)]
    assert torch.equal(got, expected) and got.dtype == torch.float32


def test_image_metrics_count_their_items_under_one_name():
    """metrics.json of an image run had num_images beside the core's num_items, the same count twice, and W&B's
    summary eval/num_images beside eval/num_items: the count is num_items alone (earlier files keep num_images)."""
    from domains.images.evaluation import ImageEvaluation

    evaluation = ImageEvaluation(classifier=False, vae=False)
    evaluation.evaluated = {0, 1, 2}
    summary = evaluation.summary([], None)
    assert "num_images" not in summary and summary["classifier"] is False
