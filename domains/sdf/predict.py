"""`pixeltransformer predict` for SDF checkpoints: shapes from a few signed-distance samples.

The input is a mesh (anything ``mesh.load_mesh`` reads), an SDF grid (.npy, [R, R, R], values in the
normalised cube's units) or a JSON list of observations [[x, y, z, sdf], ...]. The context S is either
``--num_context`` random positions read from the input's SDF (trilinearly, as in training) or the JSON given
with ``--context`` (a file or the JSON text). Writes into the output folder: context.json (the S used),
mean.glb/.obj and sample<i>.glb/.obj (marching cubes at level 0), prob.glb/.obj (the 0.5 level set of
P(SDF < 0 | S)), gt.glb/.obj when the input has a shape,
one PNG render per mesh, figure.png (Fig. 8 layout) and mean_sdf.npy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from pixeltransformer.sets import SetSampler, read_signal

from .data import MESH_SUFFIXES, default_cache_dir
from .mesh import SDFCache
from .shapes import inside_probability, predict_grids, shape_pictures


def load_input_grid(path: Path, resolution: int, truncation: float, shell_voxels: float) -> np.ndarray:
    """The input's SDF on an R^3 grid, clamped to [-t, t]: float32 [R', R', R'] (R' = R for meshes, the
    file's own size for grids). Meshes are normalised and converted like the training data, through the
    shared SDF cache."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected a mesh, an SDF grid .npy or a context .json)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            grid = np.load(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable .npy file ({type(e).__name__}: {e})") from None
        if grid.ndim == 4 and grid.shape[0] == 1:
            grid = grid[0]
        if grid.ndim != 3 or len(set(grid.shape)) != 1 or grid.shape[0] < 2:
            raise ValueError(f"{path}: expected a cubic SDF grid [R, R, R], got shape {grid.shape}")
        if not np.issubdtype(grid.dtype, np.number) or not np.isfinite(grid).all():
            raise ValueError(f"{path}: the SDF grid must hold finite numbers")
        return np.clip(grid.astype(np.float32), -truncation, truncation)
    if suffix in MESH_SUFFIXES:
        cache = SDFCache(default_cache_dir() / "meshes", truncation=truncation, shell_voxels=shell_voxels)
        return np.load(cache.entry(path, resolution)).astype(np.float32)
    raise ValueError(f"{path}: unsupported input {suffix!r}; expected a mesh ({', '.join(MESH_SUFFIXES)}), "
                     "an SDF grid (.npy) or a context (.json)")


def parse_context(text: str, source: str, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A JSON list of [x, y, z, sdf] rows -> ctx_pos [K, 3], ctx_val [K, 1]. Positions must lie in
    [-1, 1]^3 (the normalised cube); values are clamped to the model's truncation [-t, t]."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{source}: expected a non-empty JSON list of [x, y, z, sdf] rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 4:
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(f"{source}: row {i} has {n} values; expected 4 (x, y, z, sdf)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in row):
            raise ValueError(f"{source}: row {i} must hold 4 finite numbers, got {row}")
        if any(abs(v) > 1.0 for v in row[:3]):
            raise ValueError(f"{source}: row {i} position {row[:3]} lies outside the cube [-1, 1]^3")
    data = torch.tensor(rows, dtype=torch.float32)  # [K, 4]
    return data[:, :3], data[:, 3:].clamp(-truncation, truncation)


def _read_context_arg(context: str) -> tuple[str, str]:
    """--context names a JSON file or is the JSON itself: -> (text, name for messages)."""
    path = Path(context)
    if not context.lstrip().startswith("[") and path.suffix.lower() == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"--context {path}: no such file")
        return path.read_text(), str(path)
    return context, "--context"


@torch.no_grad()
def predict(module, args: argparse.Namespace, out: Path) -> list[Path]:
    """Condition the model on the input's S; write the mean and sampled shapes (see the module docstring)."""
    spec = module.spec
    truncation = float(spec.extra.get("truncation", spec.val_range[1]))
    if args.mask:
        raise ValueError("--mask is for images and videos; give SDF observations with --context or --num_context")
    if args.num_samples < 0 or (args.n_autoregressive is not None and args.n_autoregressive < 0):
        raise ValueError(f"--num_samples and --n_autoregressive must be >= 0, got {args.num_samples}, "
                         f"{args.n_autoregressive}")
    resolution = args.resolution or spec.grid_shape[0]
    if resolution < 2:
        raise ValueError(f"--resolution must be >= 2, got {resolution}")
    inp = Path(args.input)

    gt = None
    if inp.suffix.lower() == ".json":
        if args.context:
            raise ValueError(f"{inp} is already a context; drop --context or give a mesh/grid as --input")
        if not inp.is_file():
            raise FileNotFoundError(f"{inp}: no such context file")
        ctx_pos, ctx_val = parse_context(inp.read_text(), str(inp), truncation)
    else:
        gt = load_input_grid(inp, spec.grid_shape[0], truncation, float(spec.extra.get("shell_voxels", 0.75)))
        if args.context:
            ctx_pos, ctx_val = parse_context(*_read_context_arg(args.context), truncation)
        else:
            if args.num_context < 1:
                raise ValueError(f"--num_context must be >= 1, got {args.num_context}")
            signal = torch.from_numpy(gt)[None, None]  # [1, 1, R, R, R]
            gen = torch.Generator().manual_seed(args.seed)
            sets = SetSampler(args.num_context, args.num_context, 1, grid_points=False)(signal, gen,
                                                                                        num_context=args.num_context)
            ctx_pos, ctx_val = sets.ctx_pos[0], read_signal(signal, sets.ctx_pos)[0]  # [K, 3], [K, 1]

    device = module.device
    mean, samples = predict_grids(module, ctx_pos[None].to(device), ctx_val[None].to(device), (resolution,) * 3,
                                  args.num_samples, args.n_autoregressive, args.temperature, args.seed,
                                  progress=True)  # [1, R, R, R], [1, S, R, R, R]
    prob = inside_probability(module, ctx_pos[None].to(device), ctx_val[None].to(device), (resolution,) * 3)  # [1, R, R, R]
    out.mkdir(parents=True, exist_ok=True)
    context_file = out / "context.json"
    context_file.write_text(json.dumps(torch.cat([ctx_pos, ctx_val], dim=1).tolist()))
    mean_file = out / "mean_sdf.npy"
    np.save(mean_file, mean[0].cpu().numpy())
    draws = [] if samples is None else [s.cpu().numpy() for s in samples[0]]
    figure, meshes = shape_pictures(out, "", gt, ctx_pos.numpy(), ctx_val.numpy(), mean[0].cpu().numpy(), draws,
                                    truncation, renders=True,
                                    title=f"{inp.name}: |S| = {len(ctx_pos)}, N' = {args.n_autoregressive}",
                                    prob_grid=prob[0].cpu().numpy())
    objs = [out / f"{name}.obj" for name in meshes]
    renders = [out / f"{name}.png" for name in meshes]
    return [context_file, mean_file, figure, *meshes.values(), *objs, *renders]
