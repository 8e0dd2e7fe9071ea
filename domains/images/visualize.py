"""Pictures for the images domain: pure functions from images to uint8 arrays and PNG files (no logging).

An image is either float [C, H, W] in [0, 1] (C = 1 or 3; torch or numpy) or uint8 [H, W, 3] ready for
display. Figure functions take one example or a batch (a list, or a 4-D array) and draw one row per example.
Pixels are pasted 1:1 into the canvas after an integer nearest-neighbour upscale, so 8x8 digits stay crisp
and every PNG has a predictable size; matplotlib (Agg canvas, no pyplot state) only draws the text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from pixeltransformer.files import atomic_write
from pixeltransformer.sets import grid_positions, nearest_neighbour_fill, unflatten_grid

PAD = 4  # pixels between cells
COL_TITLE_H = 20
FIG_TITLE_H = 26
ROW_TITLE_W = 84
DPI = 100


def to_uint8(img: Any) -> np.ndarray:
    """float [C, H, W] in [0, 1] (C = 1 or 3) -> uint8 [H, W, 3]; uint8 [H, W, 3|1] passes through as RGB."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.dtype == np.uint8:
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
            raise ValueError(f"uint8 images must be [H, W, 1|3], got {arr.shape}")
        return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ValueError(f"float images must be [C, H, W] with C = 1 or 3, got {arr.shape}")
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0)
    out = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0)  # [H, W, C]
    return np.repeat(out, 3, axis=-1) if out.shape[-1] == 1 else out


def save_png(image: Any, path: str | Path) -> Path:
    """float [C, H, W] in [0, 1] -> a grey or RGB PNG at its own size."""
    arr = to_uint8(image)  # [H, W, 3]
    # written beside it and renamed: a run killed while it writes leaves no cut-off picture under the name
    return atomic_write(path, Image.fromarray(arr[..., 0] if image.shape[0] == 1 else arr).save)


def display_size(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Nearest-neighbour resize of images [B, C, H, W] to [B, C, R, R] (for showing pixels as blocks)."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="nearest")  # [B, C, R, R]


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of uint8 [H, W, 3] by an integer factor."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


UNSEEN = (0.55, 0.35, 0.75)  # purple: the pixels not in S of a "dots" picture, a colour no grey image holds
UNSEEN_NAME = "purple"


def context_image(ctx_pos: Any, ctx_val: Any, size: int | tuple[int, int], mode: str = "nn",
                  background: float | tuple[float, float, float] = 0.5) -> torch.Tensor:
    """Picture of a context set S: ctx_pos [(B,) K, 2] (y, x), ctx_val [(B,) K, C] -> float [(B,) C, H, W].

    mode "nn" fills every pixel with its nearest observed pixel (the paper's Fig. 4 visualisation); "dots"
    paints the observed pixels on a background: a grey level, or an RGB colour such as UNSEEN (then a grey S is
    drawn in RGB, C = 3), so that an observed pixel of the background's grey does not vanish into it.
    """
    pos = torch.as_tensor(ctx_pos, dtype=torch.float32).cpu()
    val = torch.as_tensor(ctx_val, dtype=torch.float32).cpu()
    single = pos.dim() == 2
    if single:
        pos, val = pos[None], val[None]  # [1, K, 2], [1, K, C]
    if pos.dim() != 3 or pos.shape[-1] != 2 or val.shape[:2] != pos.shape[:2]:
        raise ValueError(f"context_image expects ctx_pos [B, K, 2] and ctx_val [B, K, C], got "
                         f"{tuple(pos.shape)} and {tuple(val.shape)}")
    h, w = (size, size) if isinstance(size, int) else size
    if mode == "nn":
        qry = grid_positions((h, w)).expand(pos.shape[0], -1, -1)  # [B, H*W, 2]
        out = unflatten_grid(nearest_neighbour_fill(pos, val, qry), (h, w))  # [B, C, H, W]
    elif mode == "dots":
        if not isinstance(background, (int, float)):
            colour = torch.as_tensor(background, dtype=torch.float32)  # [3]
            if colour.shape != (3,) or val.shape[-1] not in (1, 3):
                raise ValueError(f"context_image: an RGB background needs grey or RGB values, got "
                                 f"{val.shape[-1]} channels and background {tuple(background)}")
            val = val.expand(*val.shape[:-1], 3)  # [B, K, 3]
            out = colour.view(1, 3, 1, 1).repeat(pos.shape[0], 1, h, w)  # [B, 3, H, W]
        else:
            out = torch.full((pos.shape[0], val.shape[-1], h, w), float(background))  # [B, C, H, W]
        rows = ((pos[..., 0].clamp(-1, 1) + 1) / 2 * (h - 1)).round().long()  # [B, K]
        cols = ((pos[..., 1].clamp(-1, 1) + 1) / 2 * (w - 1)).round().long()  # [B, K]
        batch = torch.arange(pos.shape[0]).unsqueeze(1).expand_as(rows)  # [B, K]
        out[batch, :, rows, cols] = val  # advanced indices first: [B, K, C] slots
    else:
        raise ValueError(f"context_image mode must be 'nn' or 'dots', got {mode!r}")
    return out[0] if single else out


def image_grid(rows: Sequence[Sequence[Any]], path: str | Path | None = None, row_titles: Sequence[str] | None = None,
               col_titles: Sequence[str] | None = None, title: str | None = None, min_cell: int = 96) -> np.ndarray:
    """Lay images out in rows (None leaves a cell blank) -> uint8 [H, W, 3]; also written as PNG to path.

    Cells are square, the largest image side times the smallest integer factor reaching ``min_cell``.
    Size: W = [ROW_TITLE_W] + n_cols * (cell + PAD) + PAD, H = [FIG_TITLE_H per line of title] + [COL_TITLE_H] +
    n_rows * (cell + PAD) + PAD.
    """
    imgs = [[None if im is None else to_uint8(im) for im in row] for row in rows]
    present = [im for row in imgs for im in row if im is not None]
    if not present:
        raise ValueError("image_grid needs at least one image")
    n_rows, n_cols = len(imgs), max(len(r) for r in imgs)
    side = max(max(im.shape[:2]) for im in present)
    factor = max(1, math.ceil(min_cell / side))
    cell = side * factor
    left = ROW_TITLE_W if row_titles else 0
    top = title_height(title) + (COL_TITLE_H if col_titles else 0)
    width, height = left + n_cols * (cell + PAD) + PAD, top + n_rows * (cell + PAD) + PAD
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(imgs):
        for c, im in enumerate(row):
            if im is None:
                continue
            big = upscale(im, factor)
            y0 = top + PAD + r * (cell + PAD) + (cell - big.shape[0]) // 2
            x0 = left + PAD + c * (cell + PAD) + (cell - big.shape[1]) // 2
            canvas[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big[: cell, : cell]
    if title or row_titles or col_titles:
        canvas = _draw_text(canvas, cell, left, top, title, row_titles, col_titles)
    if path is not None:
        atomic_write(path, Image.fromarray(canvas).save)
    return canvas


def title_height(title: str | None) -> int:
    """Pixels above the grid for the figure's title: FIG_TITLE_H per line (none without a title)."""
    return FIG_TITLE_H * (title.count("\n") + 1) if title else 0


def _draw_text(canvas: np.ndarray, cell: int, left: int, top: int, title: str | None,
               row_titles: Sequence[str] | None, col_titles: Sequence[str] | None) -> np.ndarray:
    """Titles drawn by matplotlib onto the pixel canvas, which it shows 1:1 (figimage)."""
    height, width = canvas.shape[:2]
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    fig.figimage(canvas, xo=0, yo=0, origin="upper")
    def at(x: float, y: float) -> tuple[float, float]:  # pixel (x right, y down) -> figure fraction
        return x / width, 1.0 - y / height
    if title:
        fig.text(*at(width / 2, title_height(title) / 2), title, ha="center", va="center", fontsize=11,
                 linespacing=1.6)
    for c, t in enumerate(col_titles or []):
        x = left + PAD + c * (cell + PAD) + cell / 2
        fig.text(*at(x, top - COL_TITLE_H / 2), t, ha="center", va="center", fontsize=9)
    for r, t in enumerate(row_titles or []):
        y = top + PAD + r * (cell + PAD) + cell / 2
        fig.text(*at(left - PAD, y), t, ha="right", va="center", fontsize=9, wrap=True)
    agg = FigureCanvasAgg(fig)
    agg.draw()
    out = np.asarray(agg.buffer_rgba())[..., :3]  # [H', W', 3]
    # Agg rounds the figure size to whole pixels; keep the promised size exactly.
    fixed = np.full_like(canvas, 255)
    h, w = min(height, out.shape[0]), min(width, out.shape[1])
    fixed[:h, :w] = out[:h, :w]
    return fixed


# ---- the paper's figures ------------------------------------------------------------------------------


def _examples(x: Any) -> list[Any]:
    """One image -> [image]; a batch (list/tuple, or a 4-D array) -> its images."""
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 4:
        return list(x)
    return [x]


def figure_mean_sweep(gt: Any, means_by_k: dict[int, Any], path: str | Path | None,
                      ctx_by_k: dict[int, Any] | None = None, title: str | None = None) -> np.ndarray:
    """Fig. 3: ground truth, then the predicted mean image for each |S| (one row per example); with
    ``ctx_by_k`` each example gets a row showing S above its means."""
    ks = sorted(means_by_k)
    gts = _examples(gt)
    means = {k: _examples(means_by_k[k]) for k in ks}
    ctxs = {k: _examples(ctx_by_k[k]) for k in ks} if ctx_by_k else None
    rows, row_titles = [], []
    for i, g in enumerate(gts):
        if ctxs:
            rows.append([None] + [ctxs[k][i] for k in ks])
            row_titles.append("S")
        rows.append([g] + [means[k][i] for k in ks])
        row_titles.append("mean")
    return image_grid(rows, path, row_titles=row_titles if ctxs else None,
                      col_titles=["ground truth"] + [f"|S|={k}" for k in ks], title=title)


def figure_samples(gt: Any, ctx_vis: Any, samples: Sequence[Any], path: str | Path | None,
                   title: str | None = None) -> np.ndarray:
    """Fig. 4: ground truth, the context S drawn as its nearest-neighbour fill (context_image's "nn"), then the
    samples (one row per example)."""
    gts, ctxs = _examples(gt), _examples(ctx_vis)
    per_sample = [_examples(s) for s in samples]
    rows = [[g, ctxs[i]] + [s[i] for s in per_sample] for i, g in enumerate(gts)]
    return image_grid(rows, path, col_titles=["ground truth", "S (NN fill)"] + [f"sample {j + 1}" for j in range(len(samples))], title=title)


def figure_composition(top_src: Any, bottom_src: Any, ctx_vis: Any, sample: Any, path: str | Path | None,
                       title: str | None = None, completion: str = "sample") -> np.ndarray:
    """Fig. 5: the image giving the top half of S, the one giving the bottom half, S drawn as its nearest-neighbour
    fill, and the completion, named ``completion`` ("sample", or "mean" where none was drawn) (each one image, or
    batches of the same length: one row per example)."""
    tops, bottoms, ctxs, samples = (_examples(x) for x in (top_src, bottom_src, ctx_vis, sample))
    rows = [[t, bottoms[i], ctxs[i], samples[i]] for i, t in enumerate(tops)]
    return image_grid(rows, path, col_titles=["top from", "bottom from", "S (NN fill)", completion], title=title)
