"""`pixeltransformer predict` for images: observe some pixels of a picture, write the mean image and samples.

S is ``--num_context`` random pixels, the white pixels of ``--mask`` (resized like the picture), or
``--context``: a JSON list of ``[y, x, value...]`` rows, positions in [-1, 1] and values in [0, 1] (inline, or
a .json file). The picture is centre-cropped and resized to the model's training size; predictions are
rendered on a ``--resolution`` grid (default: that size), which may be finer, since positions are continuous.

Writes input.png, observed.png (every pixel shows its nearest observed pixel), mean.png, sample_1.png ...
and panel.png with all of them side by side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image

from pixeltransformer.sets import grid_positions, read_signal

from . import io
from .context import pixel_context
from .data import load_user_image
from .figures import display_size, render_mean, render_samples
from .visualize import context_image, image_grid, to_uint8


def load_mask(path: str | Path, size: int) -> torch.Tensor:
    """A mask picture -> bool [size, size], True where it is white (observed); cropped/resized like the input."""
    mask = io.open_image(path, size=size, channels=1)[..., 0] >= 128  # [H, W]
    if not mask.any():
        raise ValueError(f"{path}: the mask has no white (observed) pixels")
    return torch.from_numpy(mask)


def parse_context(text: str, val_dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """--context (inline JSON or a .json file) -> positions [K, 2], values [K, V]."""
    path = Path(text).expanduser()
    source = path if text.strip().endswith(".json") else "--context"
    try:
        rows = json.loads(path.read_text() if source is path else text)
    except FileNotFoundError:
        raise FileNotFoundError(f"context file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    width = 2 + val_dims
    if not isinstance(rows, list) or not rows or any(not isinstance(r, list) or len(r) != width for r in rows):
        raise ValueError(f"{source}: expected a non-empty list of [y, x{', value' * val_dims}] rows "
                         f"({width} numbers each: this model's images have {val_dims} channel(s))")
    try:
        arr = torch.tensor(rows, dtype=torch.float32)  # [K, 2 + V]
    except (TypeError, ValueError):
        raise ValueError(f"{source}: every entry must be a number") from None
    if not torch.isfinite(arr).all():
        raise ValueError(f"{source}: positions and values must be finite numbers")
    if arr[:, :2].abs().max() > 1:
        raise ValueError(f"{source}: positions must lie in [-1, 1] (y, x), got up to {arr[:, :2].abs().max():.3g}")
    if arr[:, 2:].min() < 0 or arr[:, 2:].max() > 1:
        raise ValueError(f"{source}: values must lie in [0, 1], got [{arr[:, 2:].min():.3g}, {arr[:, 2:].max():.3g}]")
    return arr[:, :2], arr[:, 2:]


def observed_context(image: torch.Tensor, args: argparse.Namespace,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """S for one picture [C, H, W] from --context, --mask or --num_context -> [1, K, 2], [1, K, C]."""
    c, h, w = image.shape
    if getattr(args, "context", None):
        pos, val = parse_context(args.context, c)
        return pos.unsqueeze(0), val.unsqueeze(0)
    if getattr(args, "mask", None):
        mask = load_mask(args.mask, h)  # [H, W]
        pos = grid_positions((h, w))[mask.flatten()].unsqueeze(0)  # [1, K, 2]
        return pos, read_signal(image.unsqueeze(0), pos)  # [1, K, 2], [1, K, C]
    if not 1 <= args.num_context <= h * w:
        raise ValueError(f"--num_context must be between 1 and {h * w} (the model's {h}x{w} pixels), "
                         f"got {args.num_context}")
    return pixel_context(image.unsqueeze(0), args.num_context, generator)


def save_png(image: torch.Tensor, path: Path) -> Path:
    """float [C, H, W] in [0, 1] -> PNG at its own size."""
    arr = to_uint8(image)  # [H, W, 3]
    Image.fromarray(arr[..., 0] if image.shape[0] == 1 else arr).save(path)
    return path


@torch.no_grad()
def predict(module, args: argparse.Namespace, out: Path) -> list[Path]:
    """Condition the model on S from the user's picture; write the pictures into out and return their paths."""
    spec = module.spec
    h, w = spec.grid_shape
    res = args.resolution or h
    if res < 2:
        raise ValueError(f"--resolution must be >= 2, got {res}")
    if args.num_samples < 0 or (args.n_autoregressive is not None and args.n_autoregressive < 0):
        raise ValueError(f"--num_samples and --n_autoregressive must be >= 0, got {args.num_samples}, "
                         f"{args.n_autoregressive}")
    image = load_user_image(args.input, size=h, channels=spec.val_dims)  # [C, H, W]
    ctx_pos, ctx_val = observed_context(image, args, torch.Generator().manual_seed(args.seed))
    ctx_pos, ctx_val = ctx_pos.to(module.device), ctx_val.to(module.device)  # [1, K, 2], [1, K, C]

    shown = display_size(image.unsqueeze(0), res)[0]  # [C, R, R]
    observed = context_image(ctx_pos, ctx_val, res, mode="nn")[0]  # [C, R, R]
    mean = render_mean(module, ctx_pos, ctx_val, res)[0].cpu()  # [C, R, R]
    paths = [save_png(shown, out / "input.png"), save_png(observed, out / "observed.png"),
             save_png(mean, out / "mean.png")]
    cells, titles = [shown, observed, mean], ["input", f"S ({ctx_pos.shape[1]} px)", "mean"]
    if args.num_samples > 0:
        samples = render_samples(module, ctx_pos, ctx_val, res, args.num_samples, args.n_autoregressive,
                                 args.temperature, args.seed, progress=True)[0].cpu()  # [S, C, R, R]
        for i, sample in enumerate(samples):
            paths.append(save_png(sample, out / f"sample_{i + 1}.png"))
            cells.append(sample)
            titles.append(f"sample {i + 1}")
    image_grid([cells], out / "panel.png", col_titles=titles)
    paths.append(out / "panel.png")
    return paths

