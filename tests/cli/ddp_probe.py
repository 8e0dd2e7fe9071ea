"""Callbacks the DDP and resume tests add through a config file: MetricsDump records the rank-averaged training
loss per step and the validation metrics and writes them as JSON from rank zero; PauseAtStep holds a run at a
given step so that a test can kill it there."""

from __future__ import annotations

import json
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class MetricsDump(Callback):
    def __init__(self, path: str):
        self.path = Path(path)
        self.losses: list[float] = []
        self.val: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = trainer.strategy.reduce(outputs["loss"].detach(), reduce_op="mean")
        self.losses.append(float(loss))

    def on_validation_end(self, trainer, pl_module) -> None:
        # after the module's epoch-end hook, so the synced metrics are in callback_metrics
        if not trainer.sanity_checking:
            self.val.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
        if trainer.state.fn == "validate":
            self._write(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._write(trainer)

    def _write(self, trainer) -> None:
        if trainer.is_global_zero:
            self.path.write_text(json.dumps({"world_size": trainer.world_size, "losses": self.losses, "val": self.val}))


class PauseAtStep(Callback):
    """Before the batch that starts at global step ``step``: write ``flag`` and sleep (the test kills the run)."""

    def __init__(self, step: int, flag: str, seconds: float = 600.0):
        self.step, self.flag, self.seconds = step, Path(flag), seconds

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.flag.write_text(str(trainer.global_step))
            time.sleep(self.seconds)
