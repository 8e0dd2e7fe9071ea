"""Covariance functions and exact Gaussian-process posteriors for 1D functions (batched, float64)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

KERNELS = ("rbf", "matern", "periodic")
PERIODIC_KERNELS = ("periodic",)  # the kernels that take a period beside the lengthscale and variance

# The jitter GPDataset adds to its covariance: every drawn value carries an independent N(0, GP_NUGGET) term.
GP_NUGGET = 1e-8


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread within, the caller's count restored after: the reference GPs' many small batched
    factorisations gain nothing from more threads and lose much where the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_kernel(kind: str) -> None:
    """Refuses a kernel name kernel_matrix does not know, in one line."""
    if kind not in KERNELS:
        raise ValueError(f"unknown kernel {kind!r}; choose {', '.join(KERNELS[:-1])} or {KERNELS[-1]}")


def per_function(value, like: torch.Tensor) -> torch.Tensor:
    """A hyperparameter as a tensor of x's dtype, one per function [..., 1, 1] or one for all (a scalar)."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t[..., None, None] if t.dim() > 0 else t


def kernel_matrix(kind: str, x1: torch.Tensor, x2: torch.Tensor, lengthscale, variance, period=None) -> torch.Tensor:
    """k(x1, x2) for x1 [..., N], x2 [..., M] -> [..., N, M]; lengthscale/variance (and the period of a periodic
    kernel) broadcast over [...]. periodic: variance * exp(-2 sin^2(pi |x1 - x2| / period) / lengthscale^2)."""
    check_kernel(kind)
    ls, var = per_function(lengthscale, x1), per_function(variance, x1)  # [..., 1, 1] or scalars
    d = (x1.unsqueeze(-1) - x2.unsqueeze(-2)).abs()  # [..., N, M]
    if kind == "periodic":
        if period is None:
            raise ValueError("the periodic kernel needs a period")
        return var * torch.exp(-2 * torch.sin(math.pi * d / per_function(period, x1)) ** 2 / ls**2)
    r = d / ls  # [..., N, M]
    if kind == "rbf":
        return var * torch.exp(-0.5 * r**2)
    s = math.sqrt(5.0) * r  # Matern-5/2
    return var * (1 + s + s**2 / 3) * torch.exp(-s)


def gaussian_posterior(k_cc: torch.Tensor, k_qc: torch.Tensor, k_qq_diag: torch.Tensor, y: torch.Tensor,
                       noise: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and variance at queries of a zero-mean GP given noisy observations y.

    k_cc [B, K, K], k_qc [B, Q, K], k_qq_diag [B, Q], y [B, K] -> mean [B, Q], var [B, Q].
    """
    noise = torch.as_tensor(noise, dtype=k_cc.dtype)
    eye = torch.eye(k_cc.shape[-1], dtype=k_cc.dtype, device=k_cc.device)
    chol = torch.linalg.cholesky(k_cc + noise.reshape(-1, 1, 1) * eye)  # [B, K, K]
    alpha = torch.cholesky_solve(y.unsqueeze(-1), chol)  # [B, K, 1]
    mean = (k_qc @ alpha).squeeze(-1)  # [B, Q]
    v = torch.linalg.solve_triangular(chol, k_qc.transpose(-1, -2), upper=False)  # [B, K, Q]
    var = (k_qq_diag - (v**2).sum(-2)).clamp(min=1e-12)  # [B, Q]
    return mean, var


def gaussian_nll(mean: torch.Tensor, var: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log N(y; mean, var), elementwise."""
    return 0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)
