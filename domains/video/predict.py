"""Complete a user's video from a few of its pixels: `pixeltransformer-predict` for the video domain.

The context S comes from the input clip (K random pixels, or the pixels under a white mask video) or from a
JSON list of (t, y, x, r, g, b) samples. Every pixel of the output grid is then predicted: the mean video
(paper Eq. 4) and ``num_samples`` sampled videos (N' autoregressive pixels, the rest filled with means),
written as mp4 next to a Fig. 10 picture (PNG, mp4, GIF) and summary.json.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

from pixeltransformer.inference import observed_lookup
from pixeltransformer.sets import flatten_grid, grid_positions, unflatten_grid

from .data import load_mask_video, load_user_video
from .io import write_video
from .visualize import context_video, psnr_per_frame, ssim_per_frame, to_frames, write_figure10

MAX_CONTEXT = 4096  # the largest |S| the evaluation covers; a bigger mask is subsampled to it


@torch.no_grad()
def complete_video(module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, grid_shape: tuple[int, int, int],
                   num_samples: int = 3, n_autoregressive: int | None = 16, temperature: float = 1.0, seed: int = 0,
                   progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and sampled videos on a (T, H, W) grid given one context set.

    ctx_pos [K, 3] in [-1, 1]^3 (t, y, x), ctx_val [K, 3] -> mean [3, T, H, W], samples [S, 3, T, H, W].
    Pixels of S that lie on the grid show their observed value, in the mean as in the samples.
    """
    cpos = ctx_pos.to(module.device).unsqueeze(0)  # [1, K, 3]
    cval = ctx_val.to(module.device).unsqueeze(0)  # [1, K, 3]
    qry = grid_positions(tuple(grid_shape), device=module.device).unsqueeze(0)  # [1, N, 3]
    observed, obs_val = observed_lookup(cpos, cval, qry)  # [1, N], [1, N, 3]
    mean = torch.where(observed.unsqueeze(-1), obs_val, module.mean_field(cpos, cval, qry))  # [1, N, 3]
    if num_samples > 0:  # samples keep observed values themselves
        samples = module.sample(cpos, cval, qry, num_samples=num_samples, n_autoregressive=n_autoregressive,
                                temperature=temperature, seed=seed, progress=progress)[0]  # [S, N, 3]
    else:
        samples = mean.new_zeros(0, *mean.shape[1:])  # [0, N, 3]
    return unflatten_grid(mean, grid_shape)[0].cpu(), unflatten_grid(samples, grid_shape).cpu()


def random_pixels(video: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K distinct pixels of a clip [3, T, H, W] -> positions [K, 3], values [K, 3]."""
    n = video[0].numel()
    if not 1 <= k <= n:
        raise ValueError(f"--num_context must be between 1 and the {n} pixels of a {tuple(video.shape[1:])} clip, "
                         f"got {k}")
    idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]  # [K]
    pos = grid_positions(tuple(video.shape[1:]))[idx]  # [K, 3]
    return pos, flatten_grid(video.unsqueeze(0))[0, idx]  # [K, 3], [K, 3]


def masked_pixels(video: torch.Tensor, mask: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels of a clip [3, T, H, W] where mask [T, H, W] is true -> positions [K, 3], values [K, 3].

    More than MAX_CONTEXT observed pixels are subsampled (with a warning): the set encoder's cost grows
    with |S|^2 and autoregressive sampling re-encodes the set at every step.
    """
    idx = torch.nonzero(mask.flatten()).flatten()  # [K]
    if len(idx) > MAX_CONTEXT:
        warnings.warn(f"the mask observes {len(idx)} pixels; using a random {MAX_CONTEXT} of them", stacklevel=2)
        keep = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:MAX_CONTEXT]
        idx = idx[keep.sort().values]
    pos = grid_positions(tuple(video.shape[1:]))[idx]  # [K, 3]
    return pos, flatten_grid(video.unsqueeze(0))[0, idx]  # [K, 3], [K, 3]


def parse_context(text: str, val_range: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """A JSON list [[t, y, x, r, g, b], ...] (or a path to a .json file holding one) -> positions [K, 3],
    values [K, 3]. Positions must lie in [-1, 1], values in the model's value range."""
    path = Path(text)
    source = str(path) if path.suffix.lower() == ".json" else "--context"
    try:
        rows = json.loads(path.read_text() if source != "--context" else text)
    except FileNotFoundError:
        raise FileNotFoundError(f"context file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise ValueError(f"{source}: expected a non-empty JSON list of [t, y, x, r, g, b] rows")
    bad = [r for r in rows if len(r) != 6]
    if bad:
        raise ValueError(f"{source}: every row needs 3 positions (t, y, x) and 3 values (r, g, b); got a row "
                         f"of {len(bad[0])} numbers: {bad[0]}")
    try:
        data = torch.tensor(rows, dtype=torch.float32)  # [K, 6]
    except (TypeError, ValueError):
        raise ValueError(f"{source}: every entry must be a number") from None
    if not torch.isfinite(data).all():
        raise ValueError(f"{source}: NaN or infinite entries")
    pos, val = data[:, :3], data[:, 3:]  # [K, 3], [K, 3]
    if pos.abs().max() > 1:
        row = int(pos.abs().amax(1).argmax())
        raise ValueError(f"{source}: positions (t, y, x) must lie in [-1, 1]; row {row} is {rows[row][:3]}")
    lo, hi = val_range
    if val.min() < lo or val.max() > hi:
        row = int(((val < lo) | (val > hi)).any(1).nonzero()[0])
        raise ValueError(f"{source}: values (r, g, b) must lie in [{lo}, {hi}]; row {row} is {rows[row][3:]}")
    return pos, val


def output_size(grid_hw: tuple[int, int], resolution: int | None) -> tuple[int, int]:
    """Frame size of the predictions: the model's, or scaled so that the shorter side is ``resolution``."""
    if resolution is None:
        return grid_hw
    if resolution < 2:
        raise ValueError(f"--resolution must be >= 2, got {resolution}")
    h, w = grid_hw
    return round(h * resolution / min(h, w)), round(w * resolution / min(h, w))


def predict(module, args: argparse.Namespace, out: Path) -> list[Path]:
    """Condition the model on the user's clip; write gt/context/mean/sample mp4s, the Fig. 10 files and
    summary.json into ``out``. Returns the written paths."""
    spec = module.spec
    t, h, w = spec.grid_shape
    step = int(spec.extra.get("frame_step", 1))
    if args.num_samples < 0 or args.n_autoregressive < 0:
        raise ValueError("--num_samples and --n_autoregressive must be >= 0")
    if args.context:  # checked before the (slower) video decode
        ctx_pos, ctx_val = parse_context(args.context, spec.val_range)
    clip = load_user_video(args.input, t, (h, w), frame_step=step)  # [3, T, H, W] on the model's grid
    if args.context:
        how = f"{len(ctx_pos)} samples from {args.context if len(args.context) < 80 else '--context'}"
    elif args.mask:
        ctx_pos, ctx_val = masked_pixels(clip, load_mask_video(args.mask, t, (h, w)), args.seed)
        how = f"{len(ctx_pos)} pixels under the mask {args.mask}"
    else:
        ctx_pos, ctx_val = random_pixels(clip, args.num_context, args.seed)
        how = f"{len(ctx_pos)} random pixels"

    hw = output_size((h, w), args.resolution)
    gt = clip if hw == (h, w) else load_user_video(args.input, t, hw, frame_step=step)  # [3, T, H', W']
    grid = (t, *hw)
    mean, samples = complete_video(module, ctx_pos, ctx_val, grid, args.num_samples, args.n_autoregressive,
                                   args.temperature, args.seed, progress=True)  # [3, T, H', W'], [S, 3, T, H', W']
    ctx_vis = context_video(ctx_pos, ctx_val, grid)  # [3, T, H', W']

    paths = [write_video(to_frames(gt), out / "gt.mp4"), write_video(to_frames(ctx_vis), out / "context.mp4"),
             write_video(to_frames(mean), out / "mean.mp4")]
    paths += [write_video(to_frames(s), out / f"sample_{i:02d}.mp4") for i, s in enumerate(samples)]
    paths += list(write_figure10(gt, ctx_vis, list(samples), mean, out / "figure10", context_label="S (NN)").values())

    summary = {"input": str(args.input), "context": how, "grid": list(grid), "num_samples": int(len(samples)),
               "n_autoregressive": args.n_autoregressive, "temperature": args.temperature, "seed": args.seed}
    if min(hw) >= 11:  # SSIM's 11x11 window
        pairs = {"mean": mean, "nearest_neighbour": ctx_vis, **{f"sample_{i:02d}": s for i, s in enumerate(samples)}}
        summary["psnr_vs_input"] = {k: float(psnr_per_frame(v[None], gt[None])) for k, v in pairs.items()}
        summary["ssim_vs_input"] = {k: float(ssim_per_frame(v[None], gt[None])) for k, v in pairs.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return paths + [out / "summary.json"]
