"""The video |S| sweep: the core's sweep on the full (T, H, W) grid with S at pixels, sampling only the first
clips (autoregressive sampling of a whole clip re-encodes the set at each of its N' steps). Its one piece of state
is how many clips it sampled, which metrics.json reports beside the Domain's PSNR/SSIM."""

from __future__ import annotations

from typing import Any

import lightning as L

from pixeltransformer.evaluation import SweepEvaluation


class VideoEvaluation(SweepEvaluation):
    """The sweep with every pixel a query and S drawn at pixels.

    Args:
        sample_clips: how many test clips (from the start of the test set) get sampled videos; the others'
            sample metrics are NaN and skipped, so the sample rows average those clips alone.
        levels, num_samples, n_autoregressive, temperature, seed, max_items, out_dir: see SweepEvaluation.
    """

    # the rate its videos play at (summary()'s picture_fps): in metrics.json, no result in W&B's summary
    summary_settings = (*SweepEvaluation.summary_settings, "picture_fps")

    def __init__(self, levels: tuple[int, ...] = (256, 512, 1024, 2048, 4096), num_samples: int = 2,
                 n_autoregressive: int = 16, temperature: float = 1.0, sample_clips: int = 2, seed: int = 0,
                 max_items: int | None = None, out_dir: str | None = None):
        if sample_clips < 0:
            raise ValueError(f"sample_clips must be >= 0, got {sample_clips}")
        super().__init__(levels=levels, queries="grid", grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_items=max_items, out_dir=out_dir, sample_items=sample_clips)

    def summary(self, rows: list[dict[str, Any]], pl_module: L.LightningModule) -> dict[str, Any]:
        sampled = sum(key < self.sample_items for key in self.evaluated) if self.num_samples > 0 else 0
        fps = pl_module.domain.picture_fps()  # the rate its videos play at: a setting (summary_settings)
        return {**super().summary(rows, pl_module), "sample_clips": sampled, "picture_fps": fps}
