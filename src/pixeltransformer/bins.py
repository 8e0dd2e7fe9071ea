"""Bin centres for vector values: k-means over training values, deterministic for a seed."""

from __future__ import annotations

import torch


def kmeans_centres(values: torch.Tensor, k: int, seed: int = 0, iters: int = 30, max_points: int = 20_000) -> torch.Tensor:
    """k-means (k-means++ initialisation, Lloyd iterations) of values [N, V] -> centres [k, V], sorted by
    their first coordinates so that the result does not depend on the initial draw order."""
    if values.dim() != 2:
        raise ValueError(f"kmeans_centres expects values [N, V], got shape {tuple(values.shape)}")
    gen = torch.Generator().manual_seed(seed)
    values = values.float()
    if values.shape[0] > max_points:
        values = values[torch.randperm(values.shape[0], generator=gen)[:max_points]]  # [N', V]
    n = values.shape[0]
    if n < k:
        raise ValueError(f"kmeans_centres: {n} values cannot make {k} centres")
    centres = values[torch.randint(n, (1,), generator=gen)]  # [1, V]
    d2 = torch.cdist(values, centres).squeeze(1) ** 2  # [N]
    for _ in range(1, k):
        # inverse-CDF draw: torch.multinomial is slow over tens of thousands of points
        cdf = torch.cumsum(d2 if d2.sum() > 0 else torch.ones_like(d2), 0)  # [N]
        u = torch.rand(1, generator=gen) * cdf[-1]
        nxt = values[torch.searchsorted(cdf, u).clamp(max=n - 1)]  # [1, V]
        centres = torch.cat([centres, nxt])  # [c, V]
        d2 = torch.minimum(d2, ((values - nxt) ** 2).sum(-1))  # [N]
    sq = (values**2).sum(-1, keepdim=True)  # [N, 1]
    for _ in range(iters):
        # ||v - c||^2 = ||v||^2 - 2 v.c + ||c||^2, one matmul instead of cdist's pairwise differences
        assign = (sq - 2 * values @ centres.T + (centres**2).sum(-1)).argmin(dim=1)  # [N]
        sums = torch.zeros_like(centres).index_add_(0, assign, values)  # [k, V]
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)  # [k, 1]
        moved = torch.where(counts > 0, sums / counts.clamp(min=1), centres)  # [k, V]
        if torch.allclose(moved, centres, atol=1e-6):
            break
        centres = moved
    order = sorted(range(k), key=lambda i: tuple(centres[i].tolist()))
    return centres[order]  # [k, V]
