"""Image metrics of a sweep item: pure functions of tensors (no model, no logger).

Completions keep S's pixels, so every method is scored on the same whole images; NLL counts only the pixels
not in S. Rows that carry no samples (NaN, see SweepEvaluation.sample_items) score NaN, which the sweep skips.
"""

from __future__ import annotations

import math

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from pixeltransformer.distribution import float64_device
from pixeltransformer.evaluation import SweepItem, masked_mean

LEVELS = 255  # pixel values are k / 255, k = 0 ... 255
MAX_PSNR = 100.0  # dB; an exact completion (every pixel observed) would otherwise score infinity
# SSIM's 11x11 window reflect-pads the image by 5 pixels, which needs a side of 6 or more: smaller images have no SSIM
SSIM_MIN_SIDE = 6


def metric_name(method: str, metric: str) -> str:
    """The metrics.json column: the model's mean image goes unprefixed (ssim), baselines are prefixed (nn_ssim)."""
    return metric if method == "mean" else f"{method}_{metric}"


def image_scores(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image SSIM (Gaussian window, sigma 1.5) and PSNR (dB, capped) of images [N, C, H, W] in [0, 1] ->
    [N], [N]; an image holding NaN (not sampled) scores NaN, and so does SSIM on images under SSIM_MIN_SIDE pixels a
    side (undefined there, left out of the means as a sample not drawn is)."""
    ssim = torch.full((pred.shape[0],), float("nan"), device=pred.device)  # [N]
    psnr = ssim.clone()  # [N]
    ok = torch.isfinite(pred.flatten(1)).all(1)  # [N]
    if ok.any():
        p, t = pred[ok].clamp(0, 1).float(), target[ok].float()
        if min(pred.shape[-2:]) >= SSIM_MIN_SIDE:
            ssim[ok] = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
        psnr[ok] = peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3)).clamp(max=MAX_PSNR)
    return ssim, psnr


def level_bounds(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8-bit level interval of every value [..., C] in [0, 1]: its nearest level k / 255 widened by half a level
    each way, [(k - 1/2) / 255, (k + 1/2) / 255], the lowest level's opening down to -inf and the highest's up to +inf
    (what rounding a value of the model's and clamping it to [0, 1] maps onto that level, so the 256 levels'
    probabilities sum to 1) -> low [..., C], high [..., C]."""
    k = (values.double() * LEVELS).round().clamp(0, LEVELS)  # [..., C]
    inf = torch.full_like(k, math.inf)
    low = torch.where(k > 0, (k - 0.5) / LEVELS, -inf)  # [..., C]
    high = torch.where(k < LEVELS, (k + 0.5) / LEVELS, inf)  # [..., C]
    return low, high


def nll_bits(item: SweepItem) -> dict[str, torch.Tensor]:
    """NLL of the pixels not in S in bits per dimension (colour channels counted) [B], averaged over them:
    ``nll_bpd``, -log2 of the continuous density at the value (can be negative: a density may exceed 1), and
    ``nll_bpd_256``, -log2 of the probability the model gives the value's 8-bit level, the mass of its interval
    (:func:`level_bounds`) under the predicted distribution, from its CDF (over all C channels jointly, divided by
    C): a discrete likelihood, so never negative. Needs the item's distribution (item.dist)."""
    if item.dist is None:
        raise ValueError("nll_bpd_256 needs the item's value distribution (SweepItem.dist)")
    bpd = masked_mean(item.nll, item.held_out) / math.log(2)  # [B]
    held = item.held_out  # [B, Q]
    # the held-out queries only, where float64 runs (the CPU for Apple's MPS)
    low, high = level_bounds(item.qry_val[held].to(float64_device(held.device)))  # [M, C] each
    level = torch.zeros(held.shape, dtype=bpd.dtype, device=bpd.device)  # [B, Q]
    bits = -item.dist.log_prob_box(item.params[held], low, high) / (item.spec.val_dims * math.log(2))  # [M] float64
    level[held] = bits.to(level.dtype).to(level.device)  # cast where it was computed, then moved
    return {"nll_bpd": bpd, "nll_bpd_256": masked_mean(level, held)}


def completed_images(item: SweepItem) -> dict[str, torch.Tensor]:
    """The whole images [B, C, H, W] each method completes, S's pixels kept: "mean" (the model's mean image) and
    "nn" (the nearest-neighbour fill, which keeps them by construction)."""
    return {"mean": item.as_grid(item.mean), "nn": item.as_grid(item.nn)}


def sample_images(item: SweepItem) -> torch.Tensor | None:
    """The samples as images [B, S, C, H, W] (NaN rows where not sampled), or None."""
    return None if item.samples is None else item.as_grid(item.samples)


def scores(images: dict[str, torch.Tensor], samples: torch.Tensor | None, gt: torch.Tensor) -> dict[str, torch.Tensor]:
    """SSIM and PSNR [B] of each method's images [B, C, H, W] and of the samples [B, S, C, H, W] (averaged per
    image) against the ground truth gt [B, C, H, W]."""
    out = {}
    for method, img in images.items():
        out[metric_name(method, "ssim")], out[metric_name(method, "psnr")] = image_scores(img, gt)
    if samples is not None:
        b, s = samples.shape[:2]
        ssim, psnr = image_scores(samples.flatten(0, 1), gt.repeat_interleave(s, dim=0))  # [B*S] each
        out["sample_ssim"], out["sample_psnr"] = ssim.view(b, s).mean(1), psnr.view(b, s).mean(1)
    return out


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """1.0 where predicted [N] names the label [N], 0.0 where not; NaN where the prediction is undefined (< 0)."""
    hit = (predicted == labels).float()  # [N]
    return torch.where(predicted >= 0, hit, torch.full_like(hit, float("nan")))


def image_metrics(item: SweepItem) -> dict[str, torch.Tensor]:
    """Every metric [B] the model's own completions give (the baselines that need state add theirs)."""
    return {**nll_bits(item), **scores(completed_images(item), sample_images(item), item.signal.float())}
