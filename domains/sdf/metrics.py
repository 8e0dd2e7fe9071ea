"""Shape metrics of SDF grids: pure functions (arrays or tensors in, numbers out), no model, no logger.

The |S| sweep scores every method's predicted grid against the ground truth by

- ``iou_*``: volumetric IoU of the occupancy (SDF < 0) on the grid (1 when both are empty);
- ``chamfer_*``: symmetric Chamfer-L1 (units of the [-1, 1]^3 cube) between points sampled on the marching-cubes
  surfaces of the prediction and of the truth, averaged over the shapes where both surfaces exist;
- ``empty_*``: the fraction of shapes whose predicted surface vanished (SDF < 0 nowhere, or everywhere on the grid).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from pixeltransformer.domain import ItemValues, beats_paired, too_few_pairs
from pixeltransformer.numerics import flushed_subnormals
from pixeltransformer.stop import check_stop

from .surface import sdf_to_mesh

# the methods scored: the mean, P(inside) > 0.5, the samples, the nearest-neighbour fill and the RBF fit of S
METHODS = ("mean", "prob", "sample", "nn", "rbf")
PLOT_GROUPS = {"NLL (nats/dim)": ["nll"],
               "occupancy IoU": [f"iou_{m}" for m in METHODS],
               "Chamfer-L1 ([-1, 1]^3 units)": [f"chamfer_{m}" for m in METHODS],
               "MSE": ["mse", "sample_mse", "nn_mse", "rbf_mse"]}


def mesh_volume(mesh: trimesh.Trimesh) -> float:
    """Enclosed volume (divergence theorem; positive for outward-wound closed meshes, 0 for an empty one)."""
    if mesh is None or len(mesh.faces) == 0:
        return 0.0
    return float(mesh.volume)


def chamfer_l1(mesh_a: trimesh.Trimesh, mesh_b: trimesh.Trimesh, n_points: int = 10000, seed: int = 0) -> float:
    """Symmetric Chamfer-L1 distance as in Occupancy Networks: the mean Euclidean (not squared) nearest-neighbour
    distance of n_points surface samples of a to b and of b to a, averaged over the two directions (DISN's CD is
    another number: the sum of the two directed means of squared distances, times 1000). 0 when both meshes are
    empty; NaN (undefined) when exactly one is, so callers can count vanished shapes instead of averaging an
    infinity."""
    empty_a, empty_b = len(mesh_a.faces) == 0, len(mesh_b.faces) == 0
    if empty_a and empty_b:
        return 0.0
    if empty_a or empty_b:
        return float("nan")
    pa, _ = trimesh.sample.sample_surface(mesh_a, n_points, seed=seed)  # [N, 3]
    pb, _ = trimesh.sample.sample_surface(mesh_b, n_points, seed=seed + 1)  # [N, 3]
    # Subnormals kept: where a node's median coordinate is its minimum, 0.0 exactly (a voxel truth's face on a grid
    # plane), scipy's tree moves the split to the next float up, a subnormal that flush-to-zero reads as 0; the
    # split then never separates and the build recurses until the stack overflows (a segfault)
    with flushed_subnormals(False):
        d_ab, _ = cKDTree(pb).query(pa)  # [N]
        d_ba, _ = cKDTree(pa).query(pb)  # [N]
    return float(0.5 * (d_ab.mean() + d_ba.mean()))


def occupancy_iou(sdf_a: np.ndarray, sdf_b: np.ndarray, level: float = 0.0) -> float:
    """Volumetric IoU of the insides (SDF < level) of two grids of the same shape; 1 when both are empty."""
    sdf_a, sdf_b = np.asarray(sdf_a), np.asarray(sdf_b)
    if sdf_a.shape != sdf_b.shape:
        raise ValueError(f"occupancy_iou: grid shapes differ, {sdf_a.shape} vs {sdf_b.shape}")
    ina, inb = sdf_a < level, sdf_b < level
    union = np.logical_or(ina, inb).sum()
    return 1.0 if union == 0 else float(np.logical_and(ina, inb).sum() / union)


def draw_scores(truth: np.ndarray, gt_mesh: trimesh.Trimesh, draws: np.ndarray, n_points: int,
                seed: int) -> tuple[float, float, float]:
    """(IoU, Chamfer-L1, vanished fraction) of one shape's predicted grids draws [S, R, R, R] against truth
    [R, R, R], averaged over the draws; a vanished draw has no Chamfer distance, so that average skips it (NaN
    when none is left). Draws holding NaN (samples not drawn for this shape) give NaN throughout."""
    if not np.isfinite(draws).all():
        return float("nan"), float("nan"), float("nan")
    scores = []
    for grid in draws:
        mesh = sdf_to_mesh(grid)
        scores.append((occupancy_iou(grid, truth), chamfer_l1(mesh, gt_mesh, n_points, seed),
                       float(len(mesh.faces) == 0)))
    iou, cham, empty = np.array(scores).T  # [S] each
    found = cham[np.isfinite(cham)]  # [S']: the draws whose surface exists
    return float(iou.mean()), float(found.mean()) if len(found) else float("nan"), float(empty.mean())


def shape_metrics(truth: torch.Tensor, preds: dict[str, torch.Tensor], n_points: int = 10000,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """iou_<name>, chamfer_<name>, empty_<name> [B] of every method's prediction against the truth.

    truth [B, R, R, R]; preds: name -> [B, R, R, R] (one grid per shape) or [B, S, R, R, R] (draws)."""
    gt = truth.detach().float().cpu().numpy()  # [B, R, R, R]
    grids = {name: p.detach().float().cpu().numpy() for name, p in preds.items()}
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in grids}
    for b in range(len(gt)):
        gt_mesh = sdf_to_mesh(gt[b])  # once per shape, shared by every method
        for name, g in grids.items():
            check_stop()  # in an evaluation, a SIGTERM stops the scoring between methods (pixeltransformer.stop)
            draws = g[b] if g.ndim == 5 else g[b][None]  # [S or 1, R, R, R]
            rows[name].append(draw_scores(gt[b], gt_mesh, draws, n_points, seed))
    out = {}
    for name, values in rows.items():
        iou, cham, empty = torch.tensor(values, dtype=torch.float32, device=truth.device).unbind(dim=1)  # 3 x [B]
        out[f"iou_{name}"], out[f"chamfer_{name}"], out[f"empty_{name}"] = iou, cham, empty
    return out


METRIC_NOTES = ("iou_*: occupancy (SDF < 0) IoU on the grid, 1 when both are empty; chamfer_*: Chamfer-L1, the mean "
                "of the two directed mean Euclidean distances between surface samples (marching cubes, 10000 points "
                "by default), in units of the [-1, 1]^3 cube (a mesh's longest side spans 1.9 of its 2 units), over "
                "the shapes where both surfaces exist; empty_*: the fraction of shapes without a predicted surface "
                "(SDF < 0 nowhere or everywhere); _prob: P(SDF < 0 | S) > 0.5; sample: each shape's draws averaged; "
                "mse on the queries not in S; nn and rbf: the nearest sample of S and a biharmonic RBF fit of S; "
                "nll: nats per value dimension at the queries not in S (every grid point, with queries: grid), S "
                "drawn per shape and |S| from the evaluation's seed; test/val_nll@k (Lightning's table) draws other S"
                " and queries, so at a small |S| the two may differ by tens of nats (docs/dashboard.md)")


def iou_summary(rows: list[dict[str, Any]], items: ItemValues | None = None) -> dict[str, Any]:
    """metrics.json's verdicts over the |S| rows: the mean's IoU gain from the first to the last level, and the
    levels where the model's IoU beats the baselines'. With the per-shape values (``items``), a level is listed where
    the model beats the baseline by more than 2 standard errors of the paired per-shape difference
    (pixeltransformer.domain.beats_paired); without them (the rows alone), by the means. Below VERDICT_MIN_ITEMS
    shapes the evaluation leaves these verdicts (SdfDomain.verdict_keys) null and says why; with the per-shape
    values, a list is null where fewer than 2 shapes score both at some level (a level left out would read as a
    loss there), ``verdicts_not_judged`` naming the levels (pixeltransformer.domain.too_few_pairs)."""
    ious = [(r["num_context"], r.get("iou_mean")) for r in rows if r.get("iou_mean") is not None]
    if len(ious) < 2:
        return {}
    gain = {"iou_mean_gain": ious[-1][1] - ious[0][1]}

    def beats(r: dict[str, Any], mine: tuple[str, ...], others: tuple[str, ...]) -> bool | None:
        # the best of ``mine`` against the best of ``others``, each the best by its mean; None: fewer than 2 shapes
        # scored both (beats_paired), or none at all, a level the list cannot be judged at
        best = max((m for m in mine if r.get(m) is not None), key=lambda m: r[m], default=None)
        rival = max((o for o in others if r.get(o) is not None), key=lambda o: r[o], default=None)
        if best is None or rival is None:
            return None if items is not None else False
        if items is None:
            return r[best] > r[rival]
        k = r["num_context"]
        return beats_paired(items.get((k, best), {}), items.get((k, rival), {}))

    out: dict[str, Any] = dict(gain)
    unjudged: dict[str, list[int]] = {}  # the lists left null, and the levels they could not be judged at
    # the better of the two model decisions against the better of the two baselines for the second
    for key, mine, others in (("iou_mean_beats_nn_at", ("iou_mean",), ("iou_nn",)),
                              ("iou_model_beats_baselines_at", ("iou_mean", "iou_prob"), ("iou_nn", "iou_rbf"))):
        verdicts = {r["num_context"]: beats(r, mine, others) for r in rows}
        levels = [k for k, verdict in verdicts.items() if verdict is None]
        out[key] = [k for k, verdict in verdicts.items() if verdict] if not levels else None
        if levels:
            unjudged[key] = levels
    if unjudged:
        levels = sorted(set().union(*unjudged.values()))
        out["verdicts_not_judged"] = too_few_pairs(unjudged, f"at |S| = {', '.join(map(str, levels))}")
    return out
