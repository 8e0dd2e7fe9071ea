"""The paper's image figures drawn from a trained model: choose S, query the model at any resolution, and
lay out Fig. 3 (means across |S|), Fig. 4 (samples) and Fig. 5 (composition) with the visualize helpers.

Positions are continuous, so predictions are rendered on an R x R grid of positions whatever the training
resolution (an 8x8 digits model draws 32x32 pictures); ground truths and contexts are enlarged to R for
display only.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from pixeltransformer.sets import unflatten_grid

from .context import composition_context, pixel_context
from .visualize import context_image, figure_composition, figure_mean_sweep, figure_samples


def display_size(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Nearest-neighbour resize of images [B, C, H, W] to [B, C, R, R] (for showing pixels as blocks)."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="nearest")  # [B, C, R, R]


@torch.no_grad()
def render_mean(pl_module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, resolution: int) -> torch.Tensor:
    """E[I | S] on an R x R grid: ctx_pos [B, K, 2], ctx_val [B, K, C] -> [B, C, R, R] in [0, 1]."""
    qry = pl_module.grid_queries(ctx_pos.shape[0], (resolution, resolution))  # [B, R*R, 2]
    mean = pl_module.mean_field(ctx_pos, ctx_val, qry)  # [B, R*R, C]
    return unflatten_grid(mean, (resolution, resolution)).clamp(0, 1)  # [B, C, R, R]


@torch.no_grad()
def render_samples(pl_module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, resolution: int, num_samples: int,
                   n_autoregressive: int | None, temperature: float = 1.0, seed: int = 0,
                   progress: bool = False) -> torch.Tensor:
    """Samples of I | S on an R x R grid: -> [B, S, C, R, R] in [0, 1]."""
    qry = pl_module.grid_queries(ctx_pos.shape[0], (resolution, resolution))  # [B, R*R, 2]
    samples = pl_module.sample(ctx_pos, ctx_val, qry, num_samples=num_samples, n_autoregressive=n_autoregressive,
                               temperature=temperature, seed=seed, progress=progress)  # [B, S, R*R, C]
    return unflatten_grid(samples, (resolution, resolution)).clamp(0, 1)  # [B, S, C, R, R]


@torch.no_grad()
def draw_figures(pl_module, images: torch.Tensor, out_dir: str | Path, suffix: str = "", resolution: int = 32,
                 levels: tuple[int, ...] = (4, 16, 64, 256, 1024), sample_context: int = 32, num_samples: int = 3,
                 n_autoregressive: int | None = 32, composition_context_size: int = 32,
                 seed: int = 0) -> dict[str, Path]:
    """Figs. 3-5 for a few images [B, C, H, W] on the module's device; |S| values are capped at H * W.

    Returns {"fig3_means": path, "fig4_samples": path, "fig5_composition": path (only when B >= 2)}.
    """
    out_dir = Path(out_dir)
    b, _, h, w = images.shape
    cap = h * w
    gen = torch.Generator().manual_seed(seed)  # contexts drawn on the CPU: the same pixels on every device
    gt = display_size(images, resolution).cpu()  # [B, C, R, R]
    paths: dict[str, Path] = {}

    means, contexts = {}, {}
    for k in sorted({min(k, cap) for k in levels}):
        ctx_pos, ctx_val = pixel_context(images, k, gen)  # [B, K, 2], [B, K, C]
        means[k] = render_mean(pl_module, ctx_pos, ctx_val, resolution).cpu()  # [B, C, R, R]
        contexts[k] = display_size(context_image(ctx_pos, ctx_val, (h, w), mode="dots"), resolution)
    paths["fig3_means"] = out_dir / f"fig3_means{suffix}.png"
    figure_mean_sweep(gt, means, paths["fig3_means"], ctx_by_k=contexts, title="E[I | S] for growing |S|")

    k = min(sample_context, cap)
    ctx_pos, ctx_val = pixel_context(images, k, gen)
    samples = render_samples(pl_module, ctx_pos, ctx_val, resolution, num_samples, n_autoregressive,
                             seed=seed).cpu()  # [B, S, C, R, R]
    vis = context_image(ctx_pos, ctx_val, resolution, mode="nn")  # [B, C, R, R]
    paths["fig4_samples"] = out_dir / f"fig4_samples{suffix}.png"
    figure_samples(gt, vis, [samples[:, j] for j in range(num_samples)], paths["fig4_samples"],
                   title=f"samples of I | S, |S| = {k}")

    if b >= 2:
        bottom = images.roll(1, dims=0)  # [B, C, H, W]: each image's lower half comes from its neighbour
        k = min(composition_context_size, cap)
        ctx_pos, ctx_val = composition_context(images, bottom, k, gen)
        sample = render_samples(pl_module, ctx_pos, ctx_val, resolution, 1, n_autoregressive, seed=seed + 1).cpu()
        vis = context_image(ctx_pos, ctx_val, resolution, mode="nn")  # [B, C, R, R]
        paths["fig5_composition"] = out_dir / f"fig5_composition{suffix}.png"
        figure_composition(gt, display_size(bottom, resolution).cpu(), vis, sample[:, 0], paths["fig5_composition"],
                           title=f"S from the halves of two images, |S| = {k}")
    return paths
