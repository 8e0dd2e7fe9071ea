"""Rank-zero logging of pictures, videos, 3D objects, tables and curves to W&B (when a WandbLogger is used).

Callbacks produce files; these helpers hand them to the logger. Every function is a no-op on other ranks and
without a WandbLogger, so visualizers and metrics never depend on W&B being there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import lightning as L


def wandb_run(trainer: L.Trainer):
    """The active W&B run on rank zero, or None."""
    if not trainer.is_global_zero:
        return None
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return logger.experiment
    return None


def logger_step(trainer: L.Trainer) -> int:
    """The step Lightning gives its loggers now, which W&B charts as trainer/global_step: the batches whose optimizer
    step has been counted for the loggers (Lightning's ``_batches_that_stepped``). A validation inside a fit runs
    after its batch's optimizer step, which ``trainer.global_step`` already counts, and before the loggers count that
    batch: its metrics (``val/nll@k``) go to ``global_step - 1``, and so must what is logged beside them."""
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


def log_media(trainer: L.Trainer, items: dict[str, str | Path | Sequence[str | Path]], kind: str = "image",
              step: int | None = None) -> None:
    """Log files as W&B media: kind is "image", "video" or "object3d"; by default at the step of the metrics
    logged now (:func:`logger_step`)."""
    run = wandb_run(trainer)
    if run is None:
        return
    import wandb

    make = {"image": wandb.Image, "video": lambda p: wandb.Video(str(p), format=Path(p).suffix[1:]),
            "object3d": lambda p: wandb.Object3D(open(p, "rb") if Path(p).suffix == ".glb" else str(p))}[kind]
    payload: dict[str, Any] = {}
    for key, value in items.items():
        paths = [value] if isinstance(value, (str, Path)) else list(value)
        payload[key] = [make(str(p)) for p in paths] if len(paths) > 1 else make(str(paths[0]))
    run.log({**payload, "trainer/global_step": logger_step(trainer) if step is None else step})


MEDIA_KINDS = {".png": "image", ".jpg": "image", ".gif": "video", ".mp4": "video", ".glb": "object3d",
               ".obj": "object3d"}


def log_files(trainer: L.Trainer, items: dict[str, str | Path | Sequence[str | Path]], step: int | None = None) -> None:
    """Log files as W&B media, each as the kind its suffix names (pictures, videos, meshes); others are skipped."""
    by_kind: dict[str, dict[str, Any]] = {}
    for key, value in items.items():
        paths = [value] if isinstance(value, (str, Path)) else list(value)
        kinds = {MEDIA_KINDS.get(Path(p).suffix.lower()) for p in paths}
        if len(kinds) == 1 and None not in kinds and paths:
            by_kind.setdefault(kinds.pop(), {})[key] = value
    for kind, group in by_kind.items():
        log_media(trainer, group, kind=kind, step=step)


def log_table_and_curves(trainer: L.Trainer, prefix: str, rows: list[dict[str, Any]], x_key: str,
                         groups: dict[str, list[str]]) -> None:
    """A W&B table of the rows and one line plot per group of columns against x_key."""
    run = wandb_run(trainer)
    if run is None or not rows:
        return
    import wandb

    columns = sorted({c for r in rows for c in r}, key=lambda c: (c != x_key, c))
    table = wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])
    payload: dict[str, Any] = {f"{prefix}/table": table}
    xs = [r[x_key] for r in rows]
    for title, keys in groups.items():
        keys = [k for k in keys if any(r.get(k) is not None for r in rows)]
        if keys:
            ys = [[float(r[k]) if r.get(k) is not None else float("nan") for r in rows] for k in keys]  # None: not defined at this |S|
            payload[f"{prefix}/{title}"] = wandb.plot.line_series(xs=xs, ys=ys, keys=keys, title=title, xname="|S|")
    run.log(payload)


def log_summary(trainer: L.Trainer, values: dict[str, float]) -> None:
    """Set scalars in the W&B run's summary: the numbers its runs table shows and sorts by, one column each."""
    run = wandb_run(trainer)
    if run is None or not values:
        return
    run.summary.update(values)
