"""Covariance functions and exact Gaussian-process posteriors for 1D functions (batched, float64)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

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


def kernel_matrix(kind: str, x1: torch.Tensor, x2: torch.Tensor, lengthscale, variance) -> torch.Tensor:
    """k(x1, x2) for x1 [..., N], x2 [..., M] -> [..., N, M]; lengthscale/variance broadcast over [...]."""
    ls = torch.as_tensor(lengthscale, dtype=x1.dtype, device=x1.device)
    var = torch.as_tensor(variance, dtype=x1.dtype, device=x1.device)
    ls = ls[..., None, None] if ls.dim() > 0 else ls  # [..., 1, 1]: one per function, either alone
    var = var[..., None, None] if var.dim() > 0 else var  # [..., 1, 1]
    r = (x1.unsqueeze(-1) - x2.unsqueeze(-2)).abs() / ls  # [..., N, M]
    if kind == "rbf":
        return var * torch.exp(-0.5 * r**2)
    if kind == "matern":  # Matern-5/2
        s = math.sqrt(5.0) * r
        return var * (1 + s + s**2 / 3) * torch.exp(-s)
    raise ValueError(f"unknown kernel {kind!r}; choose rbf or matern")


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
