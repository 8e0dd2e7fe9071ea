"""SDF pictures during training (paper Fig. 8) and the |S| sweep with shape metrics against interpolation
baselines (section 6.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from pixeltransformer.evaluation import SweepEvaluation, SweepItem
from pixeltransformer.media import log_media

from .baselines import rbf_interpolate
from .shapes import MESH_FORMATS, draw_shapes, probability_field
from .visualize import chamfer_l1, occupancy_iou, sdf_to_mesh


def _log_shapes(trainer: L.Trainer, prefix: str, drawn: list[tuple[Path, dict[str, Path]]]) -> None:
    """Figures as images; per shape, its meshes (mean first, then samples, then the truth) as 3D objects."""
    log_media(trainer, {f"{prefix}/sdf_samples": [fig for fig, _ in drawn]})
    meshes = {}
    for i, (_, files) in enumerate(drawn):
        glbs = [p for p in files.values() if p.suffix == ".glb"]
        if glbs:
            meshes[f"{prefix}/shape{i}_meshes"] = glbs
    if meshes:
        log_media(trainer, meshes, kind="object3d")


class SDFPictures(Callback):
    """After each validation: Fig. 8 for fixed validation shapes (the ground truth, S as points coloured by
    SDF, sampled shapes and the mean shape at |S| = num_context), written to
    <run>/pictures/step<N>/ as PNG plus .glb/.obj meshes and logged to W&B.

    Args:
        num_shapes: validation shapes drawn (the first ones of the split, so every epoch shows the same).
        num_context: |S| of the pictures (32 in the paper's figure).
        num_samples: sampled shapes per picture.
        n_autoregressive: N' of each sample. The paper uses 2048; on a CPU keep it small (tens), since every
            step re-encodes S plus the steps so far.
        temperature: sampling temperature.
        formats: mesh files written (glb and/or obj).
        seed: fixes the contexts and the samples.
    """

    def __init__(self, num_shapes: int = 2, num_context: int = 32, num_samples: int = 3,
                 n_autoregressive: int = 2048, temperature: float = 1.0, formats: Sequence[str] = MESH_FORMATS,
                 seed: int = 0):
        if num_shapes < 1 or num_context < 1 or num_samples < 0 or n_autoregressive < 0:
            raise ValueError("SDFPictures: need num_shapes >= 1, num_context >= 1, num_samples >= 0, "
                             f"n_autoregressive >= 0; got {num_shapes}, {num_context}, {num_samples}, {n_autoregressive}")
        self.num_shapes, self.num_context, self.num_samples = num_shapes, num_context, num_samples
        self.n_autoregressive, self.temperature = n_autoregressive, temperature
        self.formats, self.seed = tuple(formats), seed

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        signal = trainer.datamodule.fixed_examples("val", self.num_shapes)["signal"].to(pl_module.device)
        out = Path(trainer.default_root_dir) / "pictures" / f"step{trainer.global_step:06d}"
        drawn = draw_shapes(pl_module, signal, out, self.num_context, self.num_samples, self.n_autoregressive,
                            self.temperature, self.seed, self.formats,
                            title=f"step {trainer.global_step}, |S| = {self.num_context}, N' = {self.n_autoregressive}")
        _log_shapes(trainer, "val", drawn)


class SDFEvaluation(SweepEvaluation):
    """The |S| sweep for SDFs: besides NLL and MSE on the whole grid, per |S| and per shape

    - ``iou_mean``, ``iou_prob``, ``iou_sample``, ``iou_nn``, ``iou_rbf``: volumetric IoU of the occupancy
      (SDF < 0) on the grid against the ground truth, for the mean prediction, the model's probability of
      inside (P(SDF < 0 | S) > 0.5, from the predictive mixture's CDF; a bimodal inside/outside prediction
      pulls the mean towards +t while P(inside) can still exceed 0.5), the samples, the nearest-neighbour fill
      of S and a biharmonic RBF interpolation of S;
    - ``chamfer_*``: symmetric Chamfer-L1 (units of the [-1, 1]^3 cube) between points sampled on the
      marching-cubes surfaces of the prediction and of the ground truth, averaged over the shapes where both
      surfaces exist;
    - ``empty_*``: the fraction of shapes whose predicted surface vanished (no SDF < 0 anywhere).

    Contexts are continuous positions read trilinearly, as in training. Writes metrics.json and the curves
    against |S| (by the core), and Fig. 8 for a few test shapes (eval/shapes/).

    Args:
        levels: |S| values.
        num_samples, n_autoregressive, temperature: samples per shape and level (0: none) and their N'
            (2048 in the paper; each step re-encodes S, so on a CPU use tens).
        rbf: also evaluate the RBF baseline (a dense (K+4)^2 solve per shape and level).
        chamfer_points: surface points per mesh for Chamfer-L1.
        figure_shapes, figure_context, figure_samples: the Fig. 8 pictures drawn at the end (0 shapes: none).
        seed, max_batches, out_dir: as in :class:`SweepEvaluation`.
    """

    def __init__(self, levels: tuple[int, ...] = (4, 16, 32, 64, 256, 1024, 2048), num_samples: int = 1,
                 n_autoregressive: int = 2048, temperature: float = 1.0, rbf: bool = True, chamfer_points: int = 10000,
                 figure_shapes: int = 2, figure_context: int = 32, figure_samples: int = 3, seed: int = 0,
                 max_batches: int | None = None, out_dir: str | None = None):
        super().__init__(levels=levels, queries="grid", grid_points=False, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, temperature=temperature, seed=seed,
                         max_batches=max_batches, out_dir=out_dir)
        if chamfer_points < 1:
            raise ValueError(f"SDFEvaluation: chamfer_points must be >= 1, got {chamfer_points}")
        self.rbf = rbf
        self.chamfer_points = chamfer_points
        self.figure_shapes, self.figure_context, self.figure_samples = figure_shapes, figure_context, figure_samples

    def metrics(self, item: SweepItem, pl_module) -> dict[str, torch.Tensor]:
        out = super().metrics(item, pl_module)
        truth = item.signal[:, 0].cpu().numpy()  # [B, R, R, R]
        p_inside = pl_module.dist.cdf(item.params, 0.0)  # [B, Q, 1]
        preds = {"mean": item.as_grid(item.mean)[:, 0], "prob": item.as_grid(probability_field(p_inside))[:, 0],
                 "nn": item.as_grid(item.nn)[:, 0]}  # [B, R, R, R] each
        if self.rbf:
            t = float(item.spec.extra.get("truncation", item.spec.val_range[1]))
            rbf = rbf_interpolate(item.ctx_pos, item.ctx_val, item.qry_pos).clamp(-t, t)  # [B, Q, 1]
            out["rbf_mse"] = ((rbf - item.qry_val) ** 2).mean(dim=(1, 2))
            preds["rbf"] = item.as_grid(rbf)[:, 0]
        if item.samples is not None:
            preds["sample"] = item.as_grid(item.samples)[:, :, 0]  # [B, S, R, R, R]
        preds = {name: grid.cpu().numpy() for name, grid in preds.items()}
        seed = self.seed + 7 * item.num_context
        scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in preds}
        for b in range(len(truth)):
            gt_mesh = sdf_to_mesh(truth[b])  # once per shape, shared by every method
            for name, grids in preds.items():
                draws = grids[b] if name == "sample" else grids[b][None]  # [S or 1, R, R, R]
                per_draw = np.array([_shape_scores(truth[b], gt_mesh, g, self.chamfer_points, seed) for g in draws])
                cham = per_draw[:, 1]
                # a vanished draw has no Chamfer distance; average the others (NaN when none is left)
                scores[name].append((per_draw[:, 0].mean(), cham[np.isfinite(cham)].mean() if np.isfinite(cham).any()
                                     else np.nan, per_draw[:, 2].mean()))
        dev = item.signal.device
        for name, rows in scores.items():
            iou, cham, empty = torch.tensor(rows, dtype=torch.float32, device=dev).unbind(dim=1)  # 3 x [B]
            out[f"iou_{name}"], out[f"chamfer_{name}"], out[f"empty_{name}"] = iou, cham, empty
        return out

    def plot_groups(self) -> dict[str, list[str]]:
        methods = ("mean", "prob", "sample", "nn", "rbf")
        return {"NLL (nats/dim)": ["nll"],
                "occupancy IoU": [f"iou_{m}" for m in methods],
                "Chamfer-L1": [f"chamfer_{m}" for m in methods],
                "MSE": ["mse", "sample_mse", "nn_mse", "rbf_mse"]}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        ious = [(r["num_context"], r.get("iou_mean")) for r in rows if r.get("iou_mean") is not None]
        if len(ious) < 2:
            return {}

        def beats(r: dict[str, Any], mine: tuple[str, ...], others: tuple[str, ...]) -> bool:
            best = max((r[m] for m in mine if r.get(m) is not None), default=None)
            rivals = [r[o] for o in others if r.get(o) is not None]
            return best is not None and bool(rivals) and best > max(rivals)

        return {"iou_mean_gain": ious[-1][1] - ious[0][1],
                "iou_mean_beats_nn_at": [r["num_context"] for r in rows if beats(r, ("iou_mean",), ("iou_nn",))],
                # the better of the two model decisions against the better of the two baselines
                "iou_model_beats_baselines_at": [r["num_context"] for r in rows
                                                 if beats(r, ("iou_mean", "iou_prob"), ("iou_nn", "iou_rbf"))]}

    def on_sweep_end(self, trainer: L.Trainer, pl_module: L.LightningModule, out_dir: Path,
                     rows: list[dict[str, Any]]) -> None:
        if self.figure_shapes < 1:
            return
        signal = trainer.datamodule.fixed_examples("test", self.figure_shapes)["signal"].to(pl_module.device)
        drawn = draw_shapes(pl_module, signal, out_dir / "shapes", self.figure_context, self.figure_samples,
                            self.n_autoregressive, self.temperature, self.seed,
                            title=f"|S| = {self.figure_context}, N' = {self.n_autoregressive}")
        _log_shapes(trainer, "eval", drawn)


def _shape_scores(truth: np.ndarray, gt_mesh, pred: np.ndarray, n_points: int, seed: int) -> tuple[float, float, float]:
    """(occupancy IoU, Chamfer-L1, 1 if the predicted surface vanished) of one predicted grid [R, R, R]."""
    mesh = sdf_to_mesh(pred)
    return occupancy_iou(pred, truth), chamfer_l1(mesh, gt_mesh, n_points, seed), float(len(mesh.faces) == 0)
