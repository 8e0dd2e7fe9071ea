"""Rank-zero logging of pictures, videos, 3D objects, tables and curves to W&B (when a WandbLogger is used).

Callbacks produce files; these helpers hand them to the logger. Every function is a no-op on other ranks and
without a WandbLogger, so visualizers and metrics never depend on W&B being there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Sequence

import lightning as L
from lightning.pytorch.trainer.states import TrainerFn


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
    batch: its metrics (``val/nll@k``) go to ``global_step - 1``, and so must what is logged beside them. An
    evaluation of a checkpoint logs at the checkpoint's step less one (module.chart_at_checkpoint_step)."""
    loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    return int(getattr(loop, "_batches_that_stepped", trainer.global_step))


def weights_step(trainer: L.Trainer) -> int:
    """The training step of the weights in use: the fit's, or, in a `validate` or `test` of a checkpoint (which
    restores its weights, not its step), the step it was saved at."""
    if trainer.state.fn == TrainerFn.FITTING:
        return trainer.global_step
    return getattr(trainer.lightning_module, "trained_steps", None) or trainer.global_step


def media_caption(trainer: L.Trainer, path: str | Path, data_alone: bool = False) -> str:
    """A logged file's W&B caption: its name, the split it shows and the training step of the weights that drew it
    ("functions0_step000020.png: val split, weights of step 20"; in an evaluation, the checkpoint's step), or, for a
    picture of the data alone (``data_alone``: Domain.fixed_picture), which no weights drew, that it is."""
    fitting, step = trainer.state.fn == TrainerFn.FITTING, weights_step(trainer)
    split = {TrainerFn.FITTING: "val", TrainerFn.VALIDATING: "val", TrainerFn.TESTING: "test"}.get(trainer.state.fn)
    where = f"{split} split, " if split else ""
    drawn = "the data alone" if data_alone else f"{'weights' if fitting else 'checkpoint'} of step {step}"
    return f"{Path(path).name}: {where}{drawn}"


def log_media(trainer: L.Trainer, items: dict[str, str | Path | Sequence[str | Path]], kind: str = "image",
              step: int | None = None, data_alone: Collection[str] = ()) -> None:
    """Log files as W&B media: kind is "image", "video" or "object3d"; by default at the step of the metrics
    logged now (:func:`logger_step`), each captioned with what it shows (:func:`media_caption`; the keys in
    ``data_alone``: pictures of the data alone)."""
    run = wandb_run(trainer)
    if run is None:
        return
    import wandb

    make = {"image": lambda p, c: wandb.Image(p, caption=c),
            "video": lambda p, c: wandb.Video(p, caption=c, format=Path(p).suffix[1:]),
            "object3d": lambda p, c: wandb.Object3D(open(p, "rb") if Path(p).suffix == ".glb" else p, caption=c)}[kind]
    payload: dict[str, Any] = {}
    for key, value in items.items():
        paths = [str(p) for p in ([value] if isinstance(value, (str, Path)) else value)]
        media = [make(p, media_caption(trainer, p, key in data_alone)) for p in paths]
        payload[key] = media if len(media) > 1 else media[0]
    run.log({**payload, "trainer/global_step": logger_step(trainer) if step is None else step})


MEDIA_KINDS = {".png": "image", ".jpg": "image", ".gif": "video", ".mp4": "video", ".glb": "object3d",
               ".obj": "object3d"}


def log_files(trainer: L.Trainer, items: dict[str, str | Path | Sequence[str | Path]], step: int | None = None,
              data_alone: Collection[str] = ()) -> None:
    """Log files as W&B media, each as the kind its suffix names (pictures, videos, meshes); others are skipped.
    ``data_alone``: the keys of pictures of the data alone (:func:`media_caption`)."""
    by_kind: dict[str, dict[str, Any]] = {}
    for key, value in items.items():
        paths = [value] if isinstance(value, (str, Path)) else list(value)
        kinds = {MEDIA_KINDS.get(Path(p).suffix.lower()) for p in paths}
        if len(kinds) == 1 and None not in kinds and paths:
            by_kind.setdefault(kinds.pop(), {})[key] = value
    for kind, group in by_kind.items():
        log_media(trainer, group, kind=kind, step=step, data_alone=data_alone)


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
            payload[f"{prefix}/{curve_key(title)}"] = wandb.plot.line_series(xs=xs, ys=ys, keys=keys, title=title,
                                                                              xname="|S|")
    run.log(payload)


def curve_key(title: str) -> str:
    """A curve's W&B key part from its panel title: a "/" (as in "NLL (nats/dim)") written " per ", since W&B reads
    every "/" of a key as a section ("eval/NLL (nats" / "dim)") and its table's file went into a folder "NLL (nats"."""
    return title.replace("/", " per ")


def log_summary(trainer: L.Trainer, values: dict[str, float | int]) -> None:
    """Set scalars in the W&B run's summary: the numbers its runs table shows and sorts by, one column each."""
    run = wandb_run(trainer)
    if run is None or not values:
        return
    run.summary.update(values)
