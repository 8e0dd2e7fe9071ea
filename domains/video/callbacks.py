"""Video pictures during training (Fig. 10) and the |S| sweep with per-frame PSNR/SSIM at evaluation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from pixeltransformer.evaluation import SweepEvaluation, SweepItem
from pixeltransformer.media import log_media
from pixeltransformer.sets import SetSampler

from .predict import complete_video
from .visualize import context_video, psnr_per_frame, ssim_per_frame, write_figure10


@torch.no_grad()
def draw_video_figure(pl_module, signal: torch.Tensor, num_context: int, stem: Path, num_samples: int = 3,
                      n_autoregressive: int = 16, seed: int = 0, gif: bool = True) -> dict[str, Path]:
    """Fig. 10 for one clip [1, 3, T, H, W]: GT, the nearest-neighbour view of S (|S| random pixels), samples
    and the mean, as ``<stem>.png/.mp4/.gif``."""
    grid = tuple(signal.shape[2:])
    k = min(num_context, math.prod(grid))
    gen = torch.Generator(device=signal.device).manual_seed(seed + k)
    sets = SetSampler(k, k, 1, grid_points=True)(signal, gen, num_context=k)
    mean, samples = complete_video(pl_module, sets.ctx_pos[0], sets.ctx_val[0], grid, num_samples,
                                   n_autoregressive, seed=seed + k)  # [3, T, H, W], [S, 3, T, H, W]
    ctx_vis = context_video(sets.ctx_pos[0], sets.ctx_val[0], grid)  # [3, T, H, W]
    return write_figure10(signal[0].cpu(), ctx_vis, list(samples), mean, stem, context_label=f"S={k} (NN)", gif=gif)


def log_figures(trainer: L.Trainer, prefix: str, figures: list[dict[str, Path]]) -> None:
    """PNG strips as images, the side-by-side mp4s as W&B videos."""
    log_media(trainer, {f"{prefix}/video_frames": [f["png"] for f in figures]}, kind="image")
    log_media(trainer, {f"{prefix}/videos": [f["mp4"] for f in figures]}, kind="video")


class VideoPictures(Callback):
    """After each validation: Fig. 10 for fixed validation clips, in <run>/pictures and logged.

    Args:
        num_context: |S| random pixels shown to the model.
        num_videos: validation clips drawn (the first ones, so every step shows the same clips).
        num_samples: sampled videos per clip (the mean video is always drawn).
        n_autoregressive: N' pixels sampled one by one per sample; the rest are means. Each step re-encodes
            the set, so this is what the callback costs.
        gif: also write a GIF next to each mp4.
    """

    def __init__(self, num_context: int = 512, num_videos: int = 1, num_samples: int = 3, n_autoregressive: int = 16,
                 gif: bool = True):
        self.num_context, self.num_videos = num_context, num_videos
        self.num_samples, self.n_autoregressive, self.gif = num_samples, n_autoregressive, gif

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        clips = trainer.datamodule.fixed_examples("val", self.num_videos)["signal"].to(pl_module.device)
        out = Path(trainer.default_root_dir) / "pictures"
        figures = [draw_video_figure(pl_module, clips[i : i + 1], self.num_context,
                                     out / f"video{i}_step{trainer.global_step:06d}", self.num_samples,
                                     self.n_autoregressive, seed=i, gif=self.gif)
                   for i in range(clips.shape[0])]
        log_figures(trainer, "val", figures)


class VideoEvaluation(SweepEvaluation):
    """The |S| sweep for videos: NLL, per-frame PSNR/SSIM of the mean video, of sampled videos and of the
    nearest-neighbour fill, with S drawn at pixels and every pixel of the clip predicted.

    Autoregressive sampling of a whole clip re-encodes the set at every one of its N' steps, so samples are
    drawn for the first ``sample_clips`` test clips only (at every level); their rows average those clips.

    Args:
        levels: |S| values.
        num_samples, n_autoregressive, temperature: the sampled videos (0 samples: mean and NN only).
        sample_clips: how many test clips (from the start of the test set) get sampled videos.
        figure_levels: |S| values of the Fig. 10 pictures drawn for the first test clip at the end.
        figure_samples: sampled videos in each of those pictures.
        seed, max_batches, out_dir: see :class:`SweepEvaluation`.
    """

    def __init__(self, levels: tuple[int, ...] = (256, 512, 1024, 2048, 4096), num_samples: int = 2,
                 n_autoregressive: int = 16, temperature: float = 1.0, sample_clips: int = 2,
                 figure_levels: tuple[int, ...] = (256, 1024), figure_samples: int = 3, seed: int = 0,
                 max_batches: int | None = None, out_dir: str | None = None):
        super().__init__(levels=levels, queries="grid", grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_batches=max_batches, out_dir=out_dir)
        if sample_clips < 0:
            raise ValueError(f"sample_clips must be >= 0, got {sample_clips}")
        self.sample_clips = sample_clips
        self.figure_levels = tuple(figure_levels)
        self.figure_samples = figure_samples
        self._sampled = 0  # test clips that got samples so far

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self._sampled = 0

    @torch.no_grad()
    def evaluate_batch(self, pl_module, signal: torch.Tensor, batch_idx: int,
                       keys: list[int] | None = None) -> dict[int, dict[str, torch.Tensor]]:
        """The base sweep without samples on the whole batch, then with samples on its first clips while
        fewer than ``sample_clips`` were sampled (the same contexts: they are seeded per clip key); sample
        metrics of the other clips are NaN, which the sweep's means ignore."""
        b = signal.shape[0]
        keys = keys if keys is not None else [batch_idx * b + i for i in range(b)]
        wanted, self.num_samples = self.num_samples, 0
        try:
            out = super().evaluate_batch(pl_module, signal, batch_idx, keys)
        finally:
            self.num_samples = wanted
        n = min(b, self.sample_clips - self._sampled) if wanted > 0 else 0
        if n <= 0:
            return out
        self._sampled += n
        sampled = super().evaluate_batch(pl_module, signal[:n], batch_idx, keys[:n])
        for k, values in sampled.items():
            for name, v in values.items():
                if name.startswith("sample_"):
                    padded = torch.full((b,), float("nan"), device=v.device)  # [B]
                    padded[:n] = v
                    out[k][name] = padded
        return out

    def metrics(self, item: SweepItem, pl_module) -> dict[str, torch.Tensor]:
        out = super().metrics(item, pl_module)
        gt = item.signal  # [B, 3, T, H, W]
        # observed pixels are known: the mean video shows them as observed, as samples and the NN fill do
        mean = torch.where(item.held_out.unsqueeze(-1), item.mean, item.qry_val)  # [B, Q, 3]
        videos = {"": item.as_grid(mean), "nn_": item.as_grid(item.nn)}  # each [B, 3, T, H, W]
        for prefix, video in videos.items():
            out[f"{prefix}psnr"] = psnr_per_frame(video, gt)
            out[f"{prefix}ssim"] = ssim_per_frame(video, gt)
        if item.samples is not None:
            s = item.samples.shape[1]
            vids = item.as_grid(item.samples).flatten(0, 1)  # [B*S, 3, T, H, W]
            ref = gt.repeat_interleave(s, dim=0)  # [B*S, 3, T, H, W]
            out["sample_psnr"] = psnr_per_frame(vids, ref).view(-1, s).mean(1)  # [B]
            out["sample_ssim"] = ssim_per_frame(vids, ref).view(-1, s).mean(1)  # [B]
        return out

    def plot_groups(self) -> dict[str, list[str]]:
        return {"NLL (nats/dim)": ["nll"], "PSNR per frame (dB)": ["psnr", "sample_psnr", "nn_psnr"],
                "SSIM per frame": ["ssim", "sample_ssim", "nn_ssim"]}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        psnr = [r.get("psnr") for r in rows]
        rising = all(a is not None and b is not None and b > a for a, b in zip(psnr, psnr[1:]))
        gain = {str(r["num_context"]): r["psnr"] - r["nn_psnr"] for r in rows
                if r.get("psnr") is not None and r.get("nn_psnr") is not None}
        return {"psnr_rises_with_context": rising, "mean_psnr_gain_over_nn_db": gain,
                "sample_clips": min(self.sample_clips, self._sampled) if self.num_samples > 0 else 0,
                "metric_notes": "PSNR/SSIM per frame averaged over frames and clips; observed pixels keep their "
                                "values in the mean video; samples on the first sample_clips test clips"}

    def on_sweep_end(self, trainer, pl_module, out_dir: Path, rows) -> None:
        if not self.figure_levels:
            return
        clip = trainer.datamodule.fixed_examples("test", 1)["signal"].to(pl_module.device)  # [1, 3, T, H, W]
        figures = [draw_video_figure(pl_module, clip, k, out_dir / f"video_S{k}", self.figure_samples,
                                     self.n_autoregressive, seed=self.seed)
                   for k in self.figure_levels]
        log_figures(trainer, "eval", figures)
