"""The video |S| sweep: the core's sweep on the full (T, H, W) grid with S at pixels, sampling only the first
clips (autoregressive sampling of a whole clip re-encodes the set at each of its N' steps). Its one piece of state
is how many clips it sampled, which metrics.json reports beside the Domain's PSNR/SSIM."""

from __future__ import annotations

from typing import Any

import lightning as L

from pixeltransformer.evaluation import SweepEvaluation
from pixeltransformer.sets import batch_keys


class VideoEvaluation(SweepEvaluation):
    """The sweep with every pixel a query and S drawn at pixels.

    Args:
        sample_clips: how many test clips (from the start of the test set) get sampled videos; the others'
            sample metrics are NaN and skipped, so the sample rows average those clips alone.
        levels, num_samples, n_autoregressive, temperature, seed, max_batches, out_dir: see SweepEvaluation.
    """

    def __init__(self, levels: tuple[int, ...] = (256, 512, 1024, 2048, 4096), num_samples: int = 2,
                 n_autoregressive: int = 16, temperature: float = 1.0, sample_clips: int = 2, seed: int = 0,
                 max_batches: int | None = None, out_dir: str | None = None):
        if sample_clips < 0:
            raise ValueError(f"sample_clips must be >= 0, got {sample_clips}")
        super().__init__(levels=levels, queries="grid", grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_batches=max_batches, out_dir=out_dir, sample_items=sample_clips)
        self.sampled = 0  # test clips sampled so far

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        self.sampled = 0

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        if self.max_batches is None or batch_idx < self.max_batches:
            self.sampled += sum(key < self.sample_items for key in batch_keys(batch, batch_idx))

    def summary(self, rows: list[dict[str, Any]], pl_module: L.LightningModule) -> dict[str, Any]:
        return {**super().summary(rows, pl_module), "sample_clips": self.sampled if self.num_samples > 0 else 0}
