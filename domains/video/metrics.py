"""Video metrics: per-frame PSNR and SSIM averaged over frames, and the sweep's video metrics of one item.

Videos are float tensors [B, 3, T, H, W] in [0, 1].
"""

from __future__ import annotations

import torch

from pixeltransformer.domain import ItemValues, beats_paired, too_few_pairs
from pixeltransformer.evaluation import SweepItem

# SSIM's 11x11 window reflect-pads a frame by 5 pixels, which needs a side of 6 or more: smaller frames have no SSIM
# (None in metrics.json), as in the images domain
SSIM_MIN_SIDE = 6


def _frames_batch(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """[B, 3, T, H, W] pairs -> frame batches [B*T, 3, H, W]; the prediction clamped to [0, 1], the range its frames
    are shown and written in (as the images domain scores its pictures)."""
    if pred.shape != gt.shape or pred.dim() != 5 or pred.shape[1] != 3:
        raise ValueError(
            f"video metrics expect pred and gt [B, 3, T, H, W] of one shape, got {tuple(pred.shape)}, {tuple(gt.shape)}"
        )
    b, _, t, h, w = pred.shape
    flat = lambda x: x.float().transpose(1, 2).reshape(b * t, 3, h, w)  # noqa: E731
    return flat(pred.clamp(0, 1)), flat(gt), b, t


def psnr_per_frame(
    pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0, max_db: float = 100.0
) -> torch.Tensor:
    """PSNR of every frame, averaged over frames: [B, 3, T, H, W] x2 -> [B] (dB).

    A perfect frame has infinite PSNR; it counts as ``max_db`` so one perfect frame cannot turn a clip's
    mean (or a whole curve) into inf.
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio

    p, g, b, t = _frames_batch(pred, gt)
    per = peak_signal_noise_ratio(p, g, data_range=data_range, reduction="none", dim=(1, 2, 3))  # [B*T]
    return per.clamp(max=max_db).view(b, t).mean(1)  # [B]


def ssim_per_frame(pred: torch.Tensor, gt: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM (11x11 Gaussian window, over the whole reflect-padded frame) of every frame, averaged over frames:
    [B, 3, T, H, W] x2 -> [B]."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    p, g, b, t = _frames_batch(pred, gt)
    if min(p.shape[-2:]) < SSIM_MIN_SIDE:
        raise ValueError(f"ssim_per_frame needs frames of at least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels, got "
                         f"{tuple(p.shape[-2:])}")
    per = structural_similarity_index_measure(p, g, data_range=data_range, reduction="none")  # [B*T]
    return per.view(b, t).mean(1)  # [B]


def sweep_metrics(item: SweepItem) -> dict[str, torch.Tensor]:
    """PSNR/SSIM per frame [B] of the mean video, the nearest-neighbour fill and (where drawn) the sampled videos.

    Observed pixels are known, so the mean video shows them as observed, as the samples and the NN fill do.
    Clips without samples (NaN rows: the sweep samples only its first items) score NaN, which the means skip; so does
    the SSIM of frames under SSIM_MIN_SIDE pixels a side, whose PSNR is still scored.
    """
    gt = item.signal  # [B, 3, T, H, W]
    ssim = ssim_per_frame if min(gt.shape[-2:]) >= SSIM_MIN_SIDE else (
        lambda pred, ref: ref.new_full((ref.shape[0],), float("nan")))  # [B]: no window fits in the frames
    out = {}
    for prefix, video in {"": item.as_grid(item.mean), "nn_": item.as_grid(item.nn)}.items():  # [B, 3, T, H, W]
        out[f"{prefix}psnr"] = psnr_per_frame(video, gt)
        out[f"{prefix}ssim"] = ssim(video, gt)
    if item.samples is not None:
        sampled = ~item.samples.flatten(1).isnan().all(1)  # [B]
        s = item.samples.shape[1]
        out["sample_psnr"] = gt.new_full((gt.shape[0],), float("nan"))  # [B]
        out["sample_ssim"] = gt.new_full((gt.shape[0],), float("nan"))  # [B]
        if sampled.any():
            vids = item.as_grid(item.samples[sampled]).flatten(0, 1)  # [B'*S, 3, T, H, W]
            ref = gt[sampled].repeat_interleave(s, dim=0)  # [B'*S, 3, T, H, W]
            out["sample_psnr"][sampled] = psnr_per_frame(vids, ref).view(-1, s).mean(1)  # [B']
            out["sample_ssim"][sampled] = ssim(vids, ref).view(-1, s).mean(1)  # [B']
    return out


def sweep_summary(rows: list[dict], items: ItemValues | None = None) -> dict:
    """metrics.json's video entries: whether PSNR rises with |S| (None below two levels: no trend to tell) and the
    PSNR gain over the NN fill per |S|. With the per-clip values (``items``), PSNR rises where the last level's beats
    the first's by more than 2 standard errors of the paired per-clip difference (beats_paired: one test, where one
    for each step failed on close top levels of a clearly rising sweep); without them (results written before),
    each level's mean above the one before. Below VERDICT_MIN_ITEMS clips the evaluation leaves the verdict
    (VideoDomain.verdict_keys) null and says why; with the per-clip values, it is null where fewer than 2 clips
    have a PSNR at both levels, ``verdicts_not_judged`` saying so (pixeltransformer.domain.too_few_pairs)."""
    psnr = [r.get("psnr") for r in rows]
    gain = {str(r["num_context"]): r["psnr"] - r["nn_psnr"] for r in rows
            if r.get("psnr") is not None and r.get("nn_psnr") is not None}
    if len(psnr) < 2:
        rising = None
    elif items is None:
        rising = all(a is not None and b is not None and b > a for a, b in zip(psnr, psnr[1:]))
    else:
        first, last = rows[0]["num_context"], rows[-1]["num_context"]
        rising = beats_paired(items.get((last, "psnr"), {}), items.get((first, "psnr"), {}))
        if rising is None:  # fewer than 2 clips scored at both levels
            return {"psnr_rises_with_context": None, "mean_psnr_gain_over_nn_db": gain,
                    "verdicts_not_judged": too_few_pairs(["psnr_rises_with_context"], f"at |S| = {first} and {last}")}
    return {"psnr_rises_with_context": rising, "mean_psnr_gain_over_nn_db": gain}
