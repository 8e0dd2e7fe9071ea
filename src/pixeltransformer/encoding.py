"""Position and value encodings.

Positions get random Fourier features (Tancik et al. 2020): gamma(x) = [sin(2 pi B x), cos(2 pi B x)] with
B ~ N(0, scale^2). B is drawn from its own seed and stored as a buffer, so a checkpoint carries it and two
runs with the same seed encode positions identically.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierFeatures(nn.Module):
    """[..., P] positions -> [..., 2F] features (F random frequencies plus the raw position folded in)."""

    def __init__(self, pos_dims: int, num_frequencies: int = 128, scale: float = 10.0, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        freqs = torch.randn(pos_dims, num_frequencies, generator=gen) * scale  # [P, F]
        self.register_buffer("freqs", freqs)
        self.out_dims = 2 * num_frequencies + pos_dims

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        proj = 2 * math.pi * pos @ self.freqs  # [..., F]
        # the raw position keeps a smooth, low-frequency handle on where the point is
        return torch.cat([torch.sin(proj), torch.cos(proj), pos], dim=-1)  # [..., 2F + P]


class ValueEncoding(nn.Module):
    """Values normalised to [-1, 1] by the signal's value range, then a linear map to the model width."""

    def __init__(self, val_dims: int, val_range: tuple[float, float], width: int):
        super().__init__()
        lo, hi = val_range
        self.register_buffer("centre", torch.tensor((lo + hi) / 2))
        self.register_buffer("half_range", torch.tensor((hi - lo) / 2))
        self.proj = nn.Linear(val_dims, width)

    def forward(self, val: torch.Tensor) -> torch.Tensor:
        return self.proj((val - self.centre) / self.half_range)  # [..., D]
