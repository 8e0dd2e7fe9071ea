"""Checkpoints in the run folder, written atomically.

A checkpoint is first written next to its target and then renamed over it, so a job killed in the middle of a
save leaves the previous last.ckpt intact instead of a truncated file.
"""

from __future__ import annotations

import os
from pathlib import Path
from weakref import proxy

from lightning.pytorch.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that defaults to <run>/checkpoints, keeps last.ckpt and the best by val/nll, and
    saves every `every_n_train_steps` steps (default 500).
    """

    def __init__(self, dirpath: str | None = None, monitor: str | None = "val/nll", mode: str = "min",
                 save_last: bool = True, save_top_k: int = 1, every_n_train_steps: int | None = 500,
                 filename: str = "best-step{step:06d}", **kwargs):
        super().__init__(dirpath=dirpath, monitor=monitor, mode=mode, save_last=save_last, save_top_k=save_top_k,
                         every_n_train_steps=every_n_train_steps, filename=filename,
                         auto_insert_metric_name=False, **kwargs)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    def _save_checkpoint(self, trainer, filepath: str) -> None:
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
