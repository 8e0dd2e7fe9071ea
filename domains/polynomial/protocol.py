"""The 1D GP regression benchmark of the neural-process literature, as the Transformer Neural Process code runs it
(Nguyen & Grover, ICML 2022; the setting of Lee et al. 2020):

- per batch one context size Nc ~ U{3, ..., max_points - 4} and one target size Nt ~ U{3, ..., max_points - 1 - Nc}
  (max_points = 50: Nc in 3..46, Nt in 3..49 - Nc);
- positions x ~ U[-2, 2], independent and continuous; the context is the first Nc points, the targets the next Nt;
- per function a lengthscale l ~ U(0.1, 0.6) and an output scale s ~ U(0.1, 1.0), where s is a standard deviation:
  k(x, x') = s^2 k0(|x - x'| / l), k0 the RBF exp(-r^2 / 2) or the Matern-5/2 (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r);
  or the periodic kernel k(x, x') = s^2 exp(-2 sin^2(pi |x - x'| / p) / l^2) with a period p ~ U(0.1, 0.5) too;
- observation noise sigma_eps = 0.02 on every value, context and target: y ~ N(0, K + sigma_eps^2 I).

Positions are continuous, so a function is stored as a point set rather than on a grid: item i of a split holds
max_points - 1 jointly drawn points (x, y) as a "signal" [2, N], row 0 the positions normalised to [-1, 1] (x / 2)
and row 1 the values, plus its lengthscale and scale (and period) for the oracle. Taking the first Nc + Nt of those
points is the same distribution as drawing Nc + Nt points, since the positions are exchangeable.
`ProtocolSetSampler` draws the sets from such point sets; the protocol configs name it as the module's set sampler
(model.sets). Points are drawn in float64 and stored in float32; over 300 batches per kernel that rounding moved the
oracle's target log-likelihood of a batch by at most 2e-6 nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from pixeltransformer.sets import SetBatch, SetSampler
from pixeltransformer.signal import SignalSpec

from .kernels import PERIODIC_KERNELS, check_kernel, kernel_matrix

PERIOD_RANGE = (0.1, 0.5)  # the periodic kernel's period p ~ U(0.1, 0.5), in x units


def protocol_sizes(generator: torch.Generator, max_points: int = 50) -> tuple[int, int]:
    """One batch's (Nc, Nt): Nc ~ U{3, ..., max_points - 4}, then Nt ~ U{3, ..., max_points - 1 - Nc}. Drawn on the
    generator's device: training passes the module's, a GPU generator on a GPU."""
    nc = int(torch.randint(3, max_points - 3, (), generator=generator, device=generator.device))
    nt = int(torch.randint(3, max_points - nc, (), generator=generator, device=generator.device))
    return nc, nt


def evaluation_sizes(seed: int, number: int, max_points: int = 50) -> tuple[int, int]:
    """(Nc, Nt) of evaluation batch `number` under evaluation seed `seed`: every batch draws its own, from a
    generator fixed by the two, so a batch's sizes do not depend on how many batches run before it."""
    return protocol_sizes(torch.Generator().manual_seed(1_000_003 * (seed + 1) + number), max_points)


def point_set_layout(signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of point sets [B, 2, N] -> positions [B, N, 1] (normalised) and values [B, N, 1]."""
    if signal.dim() != 3 or signal.shape[1] != 2:
        raise ValueError(f"the GP protocol expects point sets [B, 2, N] (positions, values), got {tuple(signal.shape)}")
    return signal[:, 0].unsqueeze(-1), signal[:, 1].unsqueeze(-1)  # [B, N, 1] each


class ProtocolSetSampler(SetSampler):
    """Context and target sets of the protocol, drawn from point sets [B, 2, N] (N = max_points - 1).

    Called like the core's SetSampler: without num_context it draws (Nc, Nt) for the batch; with num_context k
    (fixed validation levels) the targets are all the remaining points, N - k. The protocol configs name it as the
    module's set sampler (model.sets). Its min_context, 3 (the protocol's smallest Nc), is also the lower bound of
    the buffered encoder's training split; the core's other sampler options do not apply. Its points are a fixed
    set, as grid points are: validation leaves out a level of N or more (no target would be left), as the
    evaluation's sweep does, where continuous positions would cap it at N.
    """

    step_options = "data.init_args.max_points"  # the function's points, which size the largest step
    query_options = step_options  # and the targets a validation level leaves

    def __init__(self):
        super().__init__(min_context=3, grid_points=True)

    def init_args(self) -> dict:
        return {}

    def largest_context(self, num_points: int | None = None) -> int:
        """The protocol's largest Nc on a function of num_points points (protocol_sizes: num_points - 3); the core's
        max_context, which this sampler never reads, is not it."""
        return self.max_context if num_points is None else num_points - 3

    def largest_step(self, num_points: int | None = None) -> tuple[int, int]:
        """The protocol's step of the most points on a function of num_points: Nc = num_points - 3 and the 3 targets
        left; the core's num_queries, which this sampler never reads, is not its |Q|."""
        return self.largest_context(num_points), 3 if num_points is not None else self.num_queries

    def level_queries(self, num_context: int, num_points: int) -> int:
        """The targets a fixed |S| (a validation level) leaves: every other point of the function, num_points - |S|
        (the core's num_queries, which this sampler never reads, is not its |Q|)."""
        return num_points - num_context

    def __call__(self, signal: torch.Tensor, generator: torch.Generator, num_context: int | None = None,
                 num_queries: int | None = None) -> SetBatch:
        pos, val = point_set_layout(signal)  # [B, N, 1] each
        n = pos.shape[1]
        nc, nt = self.given_sizes(num_context, num_queries, None)  # int() read |S| = 4.5 as 4
        if nc is None:
            nc, nt = protocol_sizes(generator, n + 1)
        elif nt is None:
            nt = self.level_queries(nc, n)
        if nc < 1 or nt < 1 or nc + nt > n:
            raise ValueError(f"|S| = {nc} and {nt} targets do not fit the {n} points of a protocol function: "
                             f"give 1 <= |S| < {n} and 1 to {n} - |S| targets")
        return SetBatch(pos[:, :nc], val[:, :nc], pos[:, nc : nc + nt], val[:, nc : nc + nt])


class GPProtocolDataset(Dataset):
    """Functions of the protocol as point sets; item i is fixed by (seed, i), drawn when read (no storage).

    Each item: {"signal": [2, N] (x / x_max, y), "lengthscale": l, "scale": s} with N = max_points - 1, and
    "period": p for a periodic kernel (drawn after l and s, so the other kernels' functions do not depend on it).
    """

    def __init__(self, size: int, kernel: str, seed: int, max_points: int = 50, x_max: float = 2.0,
                 lengthscale_range: tuple[float, float] = (0.1, 0.6), scale_range: tuple[float, float] = (0.1, 1.0),
                 noise_std: float = 0.02, period_range: tuple[float, float] = PERIOD_RANGE):
        check_kernel(kernel)
        if seed < 0 or size < 0:
            raise ValueError(f"need seed >= 0 and size >= 0, got {seed}, {size}")
        self.size, self.kernel, self.seed = size, kernel, seed
        self.num_points = max_points - 1
        self.x_max = x_max
        self.lengthscale_range, self.scale_range = tuple(lengthscale_range), tuple(scale_range)
        self.noise_std = noise_std
        self.period_range = tuple(period_range) if kernel in PERIODIC_KERNELS else None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        # numpy's SeedSequence mixes (seed, i) into the whole generator state; a torch CPU generator keeps only the
        # low 32 bits of its seed, so any packing of (seed, i) into one integer would repeat items across splits
        rng = np.random.default_rng([self.seed, int(i)])
        n = self.num_points
        x = torch.from_numpy(rng.uniform(-1.0, 1.0, n)) * self.x_max  # [N] float64
        (l_lo, l_hi), (s_lo, s_hi) = self.lengthscale_range, self.scale_range
        ls, scale = rng.uniform(l_lo, l_hi), rng.uniform(s_lo, s_hi)
        hyper = {"lengthscale": ls, "scale": scale}
        if self.period_range is not None:
            hyper["period"] = rng.uniform(*self.period_range)
        cov = kernel_matrix(self.kernel, x, x, ls, scale**2, hyper.get("period"))  # [N, N]
        cov = cov + self.noise_std**2 * torch.eye(n, dtype=torch.float64)  # the observation noise
        chol, info = torch.linalg.cholesky_ex(cov)  # [N, N]
        if info != 0:
            drawn = ", ".join(f"{k} {v:.3g}" for k, v in hyper.items())
            raise ValueError(f"gp_tnp_{self.kernel}: function {i}'s covariance ({drawn}, noise_std "
                             f"{self.noise_std:g}) is not positive definite in float64: raise "
                             f"--data.init_args.noise_std or lower scale_range")
        y = chol @ torch.from_numpy(rng.standard_normal(n))  # [N]
        signal = torch.stack([x / self.x_max, y]).float()  # [2, N]
        return {"signal": signal, **{k: torch.tensor(v, dtype=torch.float32) for k, v in hyper.items()}}


# what sets one benchmark apart from another in a checkpoint's protocol_extra (metrics.json's gp_protocol names them):
# protocol_extra's keys but "protocol", kept in step with it
BENCHMARK_SETTINGS = ("kernel", "max_points", "noise_std", "lengthscale_range", "scale_range", "period_range")


def is_protocol(spec: SignalSpec) -> bool:
    """Whether the spec's data is the benchmark's point sets (signal [2, N]: positions, values) rather than dense
    functions."""
    return spec.extra.get("protocol") == "tnp"


def signal_channels(spec: SignalSpec) -> int:
    """The channels of a signal of the spec's data: the protocol's point sets [2, N] (positions, values), which its
    sampler reads, else V."""
    return 2 if is_protocol(spec) else spec.val_dims


def protocol_extra(kernel: str, max_points: int, noise_std: float, lengthscale_range, scale_range,
                   period_range=PERIOD_RANGE) -> dict:
    """What a checkpoint remembers of the protocol (plain types only); period_range only for a periodic kernel."""
    extra = {"kernel": kernel, "protocol": "tnp", "max_points": int(max_points), "noise_std": float(noise_std),
             "lengthscale_range": [float(v) for v in lengthscale_range],
             "scale_range": [float(v) for v in scale_range]}
    if kernel in PERIODIC_KERNELS:
        extra["period_range"] = [float(v) for v in period_range]
    return extra


def standard_error(values: list[float]) -> float | None:
    """The standard error of the mean of per-batch values; None (undefined) for fewer than two, where 0 was given."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
