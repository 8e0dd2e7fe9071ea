"""Image metrics as pure functions: known values, perfect and imperfect completions, NaN rows left unsampled."""

import math

import pytest
import torch

from domains.images import metrics as m
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
            nll: torch.Tensor) -> SweepItem:
    """A sweep item over the full grid of signal [B, C, H, W]; mean [B, C, H, W], samples [B, S, C, H, W]."""
    b, c, h, w = signal.shape
    spec = SignalSpec(domain="images", dataset="t", grid_shape=(h, w), val_dims=c, val_range=(0.0, 1.0), num_bins=4)
    qry = grid_positions((h, w)).expand(b, -1, -1)  # [B, N, 2]
    flat = flatten_grid(signal)  # [B, N, C]
    sflat = None if samples is None else samples.flatten(3).transpose(-1, -2)  # [B, S, N, C]
    return SweepItem(spec, signal, 1, qry[:, :1], flat[:, :1], qry, flat, ~observed, torch.zeros(b, h * w, 3),
                     flatten_grid(mean), flat, sflat, True, nll, {"signal": signal})


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
    torch.testing.assert_close(out["nll_bpd_256"], torch.ones(2) + math.log2(255))
    kept = torch.where(observed.view(2, 1, 8, 8), gt, wrong)
    torch.testing.assert_close(out["ssim"], m.image_scores(kept, gt)[0])
    assert (out["ssim"] < 1).all()
    assert out["sample_ssim"][0] == 1 and out["sample_psnr"][0] == m.MAX_PSNR
    assert torch.isnan(out["sample_ssim"][1]) and torch.isnan(out["sample_psnr"][1])


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
