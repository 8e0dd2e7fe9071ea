"""A callback the DDP and resume tests add through a config file: it records the rank-averaged training loss
per step and the validation metrics, and writes them as JSON from rank zero."""

from __future__ import annotations

import json
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
