"""Position and value encodings.

Positions get random Fourier features (Tancik et al. 2020): gamma(x) = [sin(2 pi B x), cos(2 pi B x)] with
B ~ N(0, scale^2). B is drawn from its own seed and stored as a buffer, so a checkpoint carries it and two
runs with the same seed encode positions identically.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


# the largest value magnitude a model takes: a set's frame (ValueEncoding) squares deviations in float32, which
# overflow near 1e19; 1e15 leaves room for sums over large sets
MAX_ABS_VALUE = 1e15
# the largest position magnitude a model takes: the distance bias cancels terms l |x|^2 in float32 (l = 1 / (2 sigma^2)
# up to ~1e3 at the initial widths), which overflow into NaN near 3e17 (the Fourier features' raw position near 5e20)
MAX_ABS_POSITION = 1e15


class Float32Linear(nn.Linear):
    """A linear layer that runs in float32 also under autocast: the input embeddings, whose inputs (a position's
    raw coordinates, a value normalised by the value range) may exceed float16's largest number (6.55e4), which
    autocast's cast to float16 turned into inf and the whole answer into NaN. Its output is float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = torch.is_autocast_enabled(x.device.type)  # outside autocast a plain float32 layer
        with torch.autocast(x.device.type, enabled=False) if half else contextlib.nullcontext():
            return super().forward(x.float())  # [..., out_features]


class FourierFeatures(nn.Module):
    """[..., P] positions -> [..., 2F] features (F random frequencies plus the raw position folded in)."""

    def __init__(self, pos_dims: int, num_frequencies: int = 128, scale: float = 10.0, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        freqs = torch.randn(pos_dims, num_frequencies, generator=gen) * scale  # [P, F]
        self.register_buffer("freqs", freqs)
        self.out_dims = 2 * num_frequencies + pos_dims

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast, whose bf16 matmul would move phases of size 2 pi |B x| by tenths of a radian
        # (and a model trained in bf16 would meet other features at fp32 inference)
        with torch.autocast(pos.device.type, enabled=False):
            pos = pos.float()
            proj = 2 * math.pi * pos @ self.freqs.float()  # [..., F]
            # the raw position keeps a smooth, low-frequency handle on where the point is
            return torch.cat([torch.sin(proj), torch.cos(proj), pos], dim=-1)  # [..., 2F + P]


class ValueEncoding(nn.Module):
    """Values -> the model width.

    By default values are normalised to [-1, 1] by the signal's value range, then mapped linearly. With
    `standardize`, each context set is first expressed in its own frame: the values' mean m (per value
    dimension) and one scale s (their RMS deviation over the set and the dimensions, floored at `min_scale`
    times half the range). A token then carries (v - m) / s and the frame itself, [(m - centre) / half,
    log(s / half)], so the encoder sees every function at unit scale and still knows its amplitude.
    """

    def __init__(self, val_dims: int, val_range: tuple[float, float], width: int, standardize: bool = False,
                 min_scale: float = 0.01):
        super().__init__()
        lo, hi = val_range
        self.register_buffer("centre", torch.tensor((lo + hi) / 2))
        self.register_buffer("half_range", torch.tensor((hi - lo) / 2))
        self.standardize = standardize
        self.min_scale = min_scale
        self.proj = Float32Linear(2 * val_dims + 1 if standardize else val_dims, width)

    def frame(self, val: torch.Tensor) -> torch.Tensor:
        """A set's frame from its values [B, K, V] -> [B, 1, V + 1]: the mean m and log s, in value units."""
        m = val.mean(dim=1, keepdim=True)  # [B, 1, V]
        var = ((val - m) ** 2).mean(dim=(1, 2), keepdim=True)  # [B, 1, 1]
        s = torch.sqrt(var + (self.min_scale * self.half_range) ** 2)  # [B, 1, 1]
        return torch.cat([m, torch.log(s)], dim=-1)  # [B, 1, V + 1]

    def forward(self, val: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        if not self.standardize:
            return self.proj((val - self.centre) / self.half_range)  # [..., D]
        if frame is None:
            raise ValueError("a standardized value encoding needs the set's frame (ValueEncoding.frame)")
        v = val.shape[-1]
        m, log_s = frame[..., :v], frame[..., v:]  # [B, 1, V], [B, 1, 1]
        stats = torch.cat([(m - self.centre) / self.half_range, log_s - torch.log(self.half_range)], -1)  # [B, 1, V+1]
        x = torch.cat([(val - m) / log_s.exp(), stats.expand(*val.shape[:-1], v + 1)], dim=-1)  # [B, K, 2V + 1]
        return self.proj(x)  # [B, K, D]
