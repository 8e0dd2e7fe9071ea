"""Timing on a noisy shared machine: warm-up, interleaved rounds, medians, paired ratios, and the cost-model
extrapolation used when a baseline is too slow to run to the end.

Interleaving (every round runs every contender once, in a rotating order) exposes all contenders to the same
background load, so the paired per-round ratio is far steadier than a ratio of separately taken means.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                self_timed: bool = False, start: int = 0) -> dict[str, list[float]]:
    """Seconds per call of every contender, ``rounds`` times each, rotating the order every round.
    ``self_timed``: each contender returns the seconds to record itself (the part after its own warm-up).
    ``start``: the number of the first round, for a caller that runs one round per call and keeps the rotation."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(start, start + rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            out = fns[name]()
            times[name].append(float(out) if self_timed else time.perf_counter() - t0)
    return times


def after_warmup(warm: Callable[[], object], timed: Callable[[], object]) -> float:
    """Run ``warm``, then return the seconds ``timed`` takes: a contender timed right after another has its
    weights and buffers evicted from the caches, which a run of consecutive steps does not (measured: 4-16 % per
    step for the reference at the small preset)."""
    warm()
    t0 = time.perf_counter()
    timed()
    return time.perf_counter() - t0


def summary(seconds: Sequence[float]) -> dict[str, float]:
    s = sorted(seconds)
    return {"median_s": statistics.median(s), "min_s": s[0], "max_s": s[-1], "n": len(s)}


def paired_ratio(slow: Sequence[float], fast: Sequence[float]) -> float:
    """Median over rounds of slow/fast (both lists from the same interleaved rounds)."""
    return statistics.median(a / b for a, b in zip(slow, fast))


def fit_step_cost(sizes: Sequence[int], seconds: Sequence[float], degree: int = 2) -> np.ndarray:
    """Least-squares polynomial (in the set size) through measured per-step costs; highest power first.

    A full re-encode of n tokens costs a + b n + c n^2 (projections and FFN linear, attention quadratic),
    so degree 2 is the cost model; with fewer than three sizes the degree drops to what they can fix."""
    deg = min(degree, len(set(sizes)) - 1)
    return np.polyfit(np.asarray(sizes, float), np.asarray(seconds, float), deg)


def extrapolate_total(coeffs: np.ndarray, first_size: int, steps: int) -> float:
    """Sum of the fitted per-step cost over set sizes first_size, ..., first_size + steps - 1."""
    n = np.arange(first_size, first_size + steps, dtype=float)
    return float(np.clip(np.polyval(coeffs, n), 0.0, None).sum())


def percent_text(x: float) -> str:
    """A fraction as a percentage: whole percents from 10 %, else two significant digits (a GPU step far from its
    matmul peak reads 0.21 % or 3.4 %, not 0 % or 3 %)."""
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x * 100:.2g}%"


def seconds_text(x: float) -> str:
    """A duration for the table and the picture: 3 significant digits below 100 s, whole seconds above."""
    return f"{x:.3g} s" if x < 100 else f"{x:,.0f} s"
