"""Context sets S drawn from images for the paper's figures: random pixels, and the two-halves composition."""

from __future__ import annotations

import torch

from pixeltransformer.sets import grid_positions, read_signal


def pixel_context(images: torch.Tensor, k: int,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """K distinct random pixels of each image [B, C, H, W] -> ctx_pos [B, K, 2] (y, x), ctx_val [B, K, C]."""
    b, _, h, w = images.shape
    if not 1 <= k <= h * w:
        raise ValueError(f"|S| must be in [1, {h * w}] for {h}x{w} images, got {k}")
    order = torch.rand(b, h * w, generator=generator).argsort(dim=1)[:, :k]  # [B, K]
    pos = grid_positions((h, w))[order].to(images.device)  # [B, K, 2]
    return pos, read_signal(images, pos)  # [B, K, 2], [B, K, C]


def composition_context(top: torch.Tensor, bottom: torch.Tensor, k: int,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fig. 5: K pixels whose upper-half members (y < 0) come from ``top`` and lower-half ones from ``bottom``
    (both [B, C, H, W]) -> ctx_pos [B, K, 2], ctx_val [B, K, C]."""
    if top.shape != bottom.shape:
        raise ValueError(f"top and bottom images must match, got {tuple(top.shape)} and {tuple(bottom.shape)}")
    pos, from_top = pixel_context(top, k, generator)  # [B, K, 2], [B, K, C]
    from_bottom = read_signal(bottom, pos)  # [B, K, C]
    upper = (pos[..., :1] < 0)  # [B, K, 1]; the middle row of an odd-height image goes to the bottom source
    return pos, torch.where(upper, from_top, from_bottom)  # [B, K, 2], [B, K, C]
