"""From a trained model and a context set S to SDF grids, meshes and picture files.

The pictures callback, the evaluation's figures and `predict` all go through here, so a shape looks the same
wherever it is drawn: the mean field and the samples are decoded on a grid, meshed by marching cubes at
level 0 (and the probability of inside, P(SDF < 0 | S), at level 0.5), exported as .glb/.obj and rendered with the paper's Fig. 8 layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import trimesh

from pixeltransformer.sets import SetSampler, fixed_sets, unflatten_grid

from .visualize import export_mesh, figure_sdf_samples, render_mesh_png, sdf_to_mesh

MESH_FORMATS = ("glb", "obj")


def context_sets(signal: torch.Tensor, num_context: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed context per shape: num_context continuous positions, values read trilinearly (as in training).
    signal [B, 1, R, R, R] -> ctx_pos [B, K, 3], ctx_val [B, K, 1]; shape i's set depends only on (seed, i)."""
    sampler = SetSampler(num_context, num_context, 1, grid_points=False)
    sets = fixed_sets(sampler, signal, list(range(signal.shape[0])), num_context, 1, salt=seed)
    return sets.ctx_pos, sets.ctx_val


@torch.no_grad()
def predict_grids(pl_module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, grid_shape: Sequence[int],
                  num_samples: int = 0, n_autoregressive: int | None = 2048, temperature: float = 1.0, seed: int = 0,
                  progress: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The mean SDF and num_samples sampled SDFs on a grid (any resolution: the model is continuous).

    ctx_pos [B, K, 3], ctx_val [B, K, 1] -> mean [B, R, R, R], samples [B, S, R, R, R] (None when S = 0).
    Each sample takes N' = n_autoregressive autoregressive steps, then the rest of the grid is filled with
    the mean given S and those steps (decoded in chunks by the core).
    """
    grid_shape = tuple(int(g) for g in grid_shape)
    qry = pl_module.grid_queries(ctx_pos.shape[0], grid_shape)  # [B, N, 3]
    mean = unflatten_grid(pl_module.mean_field(ctx_pos, ctx_val, qry), grid_shape)[:, 0]  # [B, R, R, R]
    if num_samples <= 0:
        return mean, None
    draws = pl_module.sample(ctx_pos, ctx_val, qry, num_samples=num_samples, n_autoregressive=n_autoregressive,
                             temperature=temperature, seed=seed, progress=progress)  # [B, S, N, 1]
    return mean, unflatten_grid(draws, grid_shape)[:, :, 0]  # [B, S, R, R, R]


@torch.no_grad()
def inside_probability(pl_module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor,
                       grid_shape: Sequence[int]) -> torch.Tensor:
    """P(SDF < 0 | S) at every grid point, from the predictive mixture's CDF.
    ctx_pos [B, K, 3], ctx_val [B, K, 1] -> [B, R, R, R]."""
    grid_shape = tuple(int(g) for g in grid_shape)
    qry = pl_module.grid_queries(ctx_pos.shape[0], grid_shape)  # [B, N, 3]
    params = pl_module.predict_params(ctx_pos, ctx_val, qry)  # [B, N, NP]
    return unflatten_grid(pl_module.dist.cdf(params, 0.0), grid_shape)[:, 0]  # [B, R, R, R]


def probability_field(p_inside: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """An SDF-like field whose level 0 is P(inside) = 0.5 (negative where inside is more likely), so
    meshing and IoU treat it like an SDF: 0.5 - p."""
    return 0.5 - p_inside


def export_meshes(meshes: dict[str, trimesh.Trimesh], out_dir: Path, prefix: str = "",
                  formats: Sequence[str] = MESH_FORMATS) -> dict[str, Path]:
    """Write each named mesh in every format; returns name -> the first format's file (.glb by default),
    which is what W&B's Object3D shows. Empty meshes (a vanished sample) are written too, as empty files of
    that format, so the set of files never depends on what the model predicted."""
    bad = [f for f in formats if f not in MESH_FORMATS]
    if bad or not formats:
        raise ValueError(f"mesh formats must be a non-empty subset of {MESH_FORMATS}, got {list(formats)}")
    first = {}
    for name, mesh in meshes.items():
        for fmt in formats:
            path = export_mesh(mesh, Path(out_dir) / f"{prefix}{name}.{fmt}")
            first.setdefault(name, path)
    return first


def shape_pictures(out_dir: Path, prefix: str, gt_grid: np.ndarray | None, ctx_pos: np.ndarray, ctx_val: np.ndarray,
                   mean_grid: np.ndarray, sample_grids: Sequence[np.ndarray], truncation: float,
                   formats: Sequence[str] = MESH_FORMATS, renders: bool = False,
                   title: str | None = None, prob_grid: np.ndarray | None = None) -> tuple[Path, dict[str, Path]]:
    """Fig. 8 for one shape: the ground truth (if known), S coloured by SDF (red = larger), the samples, the
    mean shape and (given prob_grid, P(inside) [R, R, R]) its 0.5 level set, as <prefix>figure.png, plus
    every mesh as files (and one PNG render each when renders).

    gt_grid, mean_grid, sample_grids[i]: [R, R, R]; ctx_pos [K, 3]; ctx_val [K] or [K, 1].
    Returns the figure's path and name -> mesh file (names: gt, mean, sample1, ..., prob).
    """
    out_dir = Path(out_dir)
    meshes = {} if gt_grid is None else {"gt": sdf_to_mesh(gt_grid)}
    meshes["mean"] = sdf_to_mesh(mean_grid)
    for i, grid in enumerate(sample_grids):
        meshes[f"sample{i + 1}"] = sdf_to_mesh(grid)
    if prob_grid is not None:
        meshes["prob"] = sdf_to_mesh(probability_field(prob_grid))
    files = export_meshes(meshes, out_dir, prefix, formats)
    samples = [meshes[f"sample{i + 1}"] for i in range(len(sample_grids))]
    figure = out_dir / f"{prefix}figure.png"
    figure_sdf_samples(meshes.get("gt"), ctx_pos, ctx_val, samples, meshes["mean"], figure, vmax=truncation,
                       title=title, prob_mesh=meshes.get("prob"))
    if renders:
        for name, mesh in meshes.items():
            render_mesh_png(mesh, out_dir / f"{prefix}{name}.png", titles=[name])
    return figure, files


@torch.no_grad()
def draw_shapes(pl_module, signal: torch.Tensor, out_dir: Path, num_context: int = 32, num_samples: int = 3,
                n_autoregressive: int | None = 2048, temperature: float = 1.0, seed: int = 0,
                formats: Sequence[str] = MESH_FORMATS, title: str | None = None) -> list[tuple[Path, dict[str, Path]]]:
    """Fig. 8 for every shape of signal [B, 1, R, R, R] at |S| = num_context, sampled in one batch of chains.
    Returns, per shape, its figure and its mesh files (see :func:`shape_pictures`)."""
    truncation = float(pl_module.spec.extra.get("truncation", pl_module.spec.val_range[1]))
    ctx_pos, ctx_val = context_sets(signal, num_context, seed)  # [B, K, 3], [B, K, 1]
    mean, samples = predict_grids(pl_module, ctx_pos, ctx_val, signal.shape[2:], num_samples, n_autoregressive,
                                  temperature, seed)  # [B, R, R, R], [B, S, R, R, R]
    prob = inside_probability(pl_module, ctx_pos, ctx_val, signal.shape[2:])  # [B, R, R, R]
    out = []
    for i in range(signal.shape[0]):
        draws = [] if samples is None else [s.cpu().numpy() for s in samples[i]]
        out.append(shape_pictures(out_dir, f"shape{i}_", signal[i, 0].cpu().numpy(), ctx_pos[i].cpu().numpy(),
                                  ctx_val[i].cpu().numpy(), mean[i].cpu().numpy(), draws, truncation, formats,
                                  title=title, prob_grid=prob[i].cpu().numpy()))
    return out
