"""Checkpoints in the run folder, written atomically.

A checkpoint is first written next to its target and then renamed over it, so a job killed in the middle of a
save leaves the previous last.ckpt intact instead of a truncated file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from weakref import proxy

from lightning.pytorch.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that defaults to <run>/checkpoints, keeps last.ckpt and the best by val/nll, and
    saves every `every_n_train_steps` steps and, for last.ckpt, every `every_minutes` of wall time.
    """

    def __init__(self, dirpath: str | None = None, monitor: str | None = "val/nll", mode: str = "min",
                 save_last: bool = True, save_top_k: int = 1, every_n_train_steps: int | None = 500,
                 filename: str = "best-step{step:06d}", every_minutes: float | None = 30.0, **kwargs):
        super().__init__(dirpath=dirpath, monitor=monitor, mode=mode, save_last=save_last, save_top_k=save_top_k,
                         every_n_train_steps=every_n_train_steps, filename=filename,
                         auto_insert_metric_name=False, **kwargs)
        self.every_minutes = every_minutes
        self._last_time = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        # also save last.ckpt by wall time, so a long step interval cannot lose hours on a preemption
        if self.every_minutes is None or not self.save_last:
            return
        due = time.monotonic() - self._last_time >= 60 * self.every_minutes
        due = trainer.strategy.broadcast(due)
        if due and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        self._last_time = time.monotonic()
        self._atomic_save(trainer, filepath)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    def _atomic_save(self, trainer, filepath: str) -> None:
        tmp = f"{filepath}.partial"
        trainer.save_checkpoint(tmp, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        trainer.strategy.barrier("atomic-checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
