"""Moving digits: a small video dataset with real motion that needs no download.

Each clip has one or more coloured handwritten digits (scikit-learn's 8x8 digits, enlarged) drifting at
constant velocity over a static coloured, gently textured background and bouncing off the canvas border.
Everything is vectorised: a thousand 17-frame 32x32 clips take a second or two on a CPU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


@lru_cache(maxsize=1)
def _glyphs() -> torch.Tensor:
    """scikit-learn's 1797 handwritten digits as alpha maps in [0, 1]: [1797, 8, 8]."""
    from sklearn.datasets import load_digits

    return torch.from_numpy(load_digits().images / 16.0).float()  # [1797, 8, 8]


def _bounce(p: torch.Tensor, high: float) -> torch.Tensor:
    """Fold free positions into [0, high] as a ball bouncing between two walls (a triangle wave)."""
    if high <= 0:
        return torch.zeros_like(p)
    u = torch.remainder(p, 2 * high)
    return high - (u - high).abs()


def _backgrounds(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Dark two-colour canvases with a soft stripe texture: [n, 3, H, W] in [0, 0.5]."""
    c1 = torch.rand(n, 3, 1, 1, generator=gen) * 0.45  # [n, 3, 1, 1]
    c2 = torch.rand(n, 3, 1, 1, generator=gen) * 0.45
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")  # [H, W]
    angle = torch.rand(n, 1, 1, generator=gen) * 2 * torch.pi
    freq = (0.5 + 1.5 * torch.rand(n, 1, 1, generator=gen)) * 2 * torch.pi / size  # 0.5 to 2 stripes per canvas
    phase = torch.rand(n, 1, 1, generator=gen) * 2 * torch.pi
    along = xx * torch.cos(angle) + yy * torch.sin(angle)  # [n, H, W]
    fine = torch.sin(along * 3.1 * freq + 2 * phase)  # a faint finer ripple so the canvas is textured, not flat
    mix = (0.5 + 0.4 * torch.sin(along * freq + phase) + 0.1 * fine).clamp(0, 1).unsqueeze(1)  # [n, 1, H, W]
    return c1 * (1 - mix) + c2 * mix  # [n, 3, H, W]


def _digit_colours(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """Bright colours (one channel at full intensity) that stand out on the dark canvas: [n, d, 3]."""
    col = 0.25 + 0.75 * torch.rand(n, d, 3, generator=gen)  # [n, d, 3]
    full = torch.randint(3, (n, d), generator=gen)  # [n, d]
    return col.scatter(-1, full.unsqueeze(-1), 1.0)


def moving_digits(
    n: int,
    num_frames: int = 17,
    size: int = 32,
    seed: int = 0,
    n_digits: int | tuple[int, int] = (1, 2),
    digit_size: int | None = None,
    speed: tuple[float, float] = (0.02, 0.06),
    return_positions: bool = False,
    chunk: int = 128,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` clips of drifting, bouncing digits -> uint8 [n, T, H, W, 3] (H = W = ``size``).

    Args:
        n_digits: digits per clip, a fixed count or an inclusive (low, high) range drawn per clip.
        digit_size: side of a digit in pixels (default 7/16 of the canvas: 14 px on 32).
        speed: (low, high) speed in canvas widths per frame (default: 0.6 to 1.9 px/frame on 32 px).
        return_positions: also return the top-left corners [n, T, D, 2] (y, x in pixels, D = most digits
            per clip) and how many digits each clip shows [n]; unused slots hold zeros.
    """
    if n < 1 or num_frames < 1 or size < 2:
        raise ValueError(f"moving_digits needs n >= 1, num_frames >= 1, size >= 2; got {n}, {num_frames}, {size}")
    lo, hi = (n_digits, n_digits) if isinstance(n_digits, int) else (int(n_digits[0]), int(n_digits[1]))
    if not 1 <= lo <= hi:
        raise ValueError(f"n_digits must be >= 1 (or an increasing range), got {n_digits}")
    ds = digit_size or max(2, round(size * 7 / 16))
    if ds > size:
        raise ValueError(f"digit_size {ds} does not fit a {size}px canvas")
    gen = torch.Generator().manual_seed(seed)
    glyphs = _glyphs()
    room = float(size - ds)  # top-left corners live in [0, room] so a digit never leaves the canvas

    counts = torch.randint(lo, hi + 1, (n,), generator=gen)  # [n]
    which = torch.randint(len(glyphs), (n, hi), generator=gen)  # [n, D]
    start = torch.rand(n, hi, 2, generator=gen) * room  # [n, D, 2]
    angle = torch.rand(n, hi, generator=gen) * 2 * torch.pi
    spd = (speed[0] + (speed[1] - speed[0]) * torch.rand(n, hi, generator=gen)) * size  # px / frame
    vel = torch.stack([torch.sin(angle), torch.cos(angle)], -1) * spd.unsqueeze(-1)  # [n, D, 2]
    t = torch.arange(num_frames).float().view(1, -1, 1, 1)  # [1, T, 1, 1]
    pos = _bounce(start.unsqueeze(1) + vel.unsqueeze(1) * t, room)  # [n, T, D, 2]
    active = torch.arange(hi).view(1, -1) < counts.view(-1, 1)  # [n, D]
    colours = _digit_colours(n, hi, gen)  # [n, D, 3]
    canvas = _backgrounds(n, size, gen)  # [n, 3, H, W]

    pix = torch.arange(size).float() + 0.5  # pixel centres
    out = np.empty((n, num_frames, size, size, 3), dtype=np.uint8)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        b = e - s
        video = canvas[s:e].unsqueeze(1).expand(-1, num_frames, -1, -1, -1).clone()  # [b, T, 3, H, W]
        for d in range(hi):
            # where each canvas pixel falls inside the digit's box, in grid_sample's [-1, 1] coordinates
            gy = (pix.view(1, 1, -1) - pos[s:e, :, d, :1]) / ds * 2 - 1  # [b, T, H]
            gx = (pix.view(1, 1, -1) - pos[s:e, :, d, 1:]) / ds * 2 - 1  # [b, T, W]
            grid = torch.stack(torch.broadcast_tensors(gx.unsqueeze(2), gy.unsqueeze(3)), -1)  # [b, T, H, W, 2]
            src = glyphs[which[s:e, d]].unsqueeze(1).expand(-1, num_frames, -1, -1)  # [b, T, 8, 8]
            alpha = F.grid_sample(
                src.reshape(-1, 1, 8, 8), grid.reshape(-1, size, size, 2),
                mode="bilinear", padding_mode="zeros", align_corners=False,
            ).view(b, num_frames, 1, size, size)  # [b, T, 1, H, W]
            alpha = alpha * active[s:e, d].view(-1, 1, 1, 1, 1)
            col = colours[s:e, d].view(b, 1, 3, 1, 1)
            video = video * (1 - alpha) + col * alpha  # [b, T, 3, H, W]
        out[s:e] = (video.permute(0, 1, 3, 4, 2) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    if return_positions:
        pos = pos * active.view(n, 1, hi, 1)  # [n, T, D, 2]
        return out, pos.numpy(), counts.numpy()
    return out
