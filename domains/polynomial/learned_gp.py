"""The hyperparameters of an RBF GP learned once from training curves: the `gp_train` baseline of the 1D evaluation.

A GP fitted to each S alone (oracles.fitted_rbf_gp) is badly overconfident at small |S|; a model that learns from the
training curves deserves a baseline that does too. Here one RBF lengthscale, signal variance, noise variance and
constant mean are chosen to maximise the summed marginal likelihood of a seeded subset of the training curves, at
positions normalised to [-1, 1] (as the model sees them); oracles.learned_rbf_gp predicts with them.

The subset: up to MAX_CURVES curves, each read at MAX_POINTS points. Curves are dealt into groups of GROUP_CURVES
that share one seeded draw of points, so that each group's kernel matrix K0 = U diag(lam) U^T (unit variance) is
diagonalised once per lengthscale; then for every relative noise eta the covariance s2 (K0 + eta I) has the
eigenvalues s2 (lam + eta), and the mean and the signal variance have closed-form optima. Lengthscale and eta are
searched on a log grid, refined twice about the best. Float64 throughout; well under a second.
"""

from __future__ import annotations

import math

import torch

from .kernels import kernel_matrix

MAX_CURVES = 256  # curves of the training split read (a seeded subset of more)
MAX_POINTS = 64  # points of each (a seeded subset of its grid)
GROUP_CURVES = 64  # curves that share one draw of points
LOG_ETA_RANGE = (-8.0, 2.0)  # log10 of the noise variance over the signal variance: the searched range
REFINEMENTS = 2  # finer grids about the best point of the one before


def learn_rbf_prior(curves: torch.Tensor, positions: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Hyperparameters of an RBF GP y = mean + f + eps, f ~ GP(0, variance * exp(-d^2 / (2 lengthscale^2))),
    eps ~ N(0, noise_var), that maximise the marginal likelihood of the curves [N, L] at positions [L] (normalised to
    [-1, 1]), all curves sharing them. Returns {"lengthscale", "variance", "noise_var", "mean"} (lengthscale in
    normalised positions, the rest in the values' units), "log_lik_per_point" (the maximum, per value read), and the
    numbers of curves and points per curve read."""
    y_all, x_all = curves.double(), positions.double()
    n, length = y_all.shape
    if n < 1 or length < 2:
        raise ValueError(f"learning a GP needs curves [N >= 1, L >= 2], got {list(y_all.shape)}")
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(n, generator=gen)[:MAX_CURVES]  # [C]
    k = min(MAX_POINTS, length)
    groups = math.ceil(len(rows) / GROUP_CURVES)
    points = torch.stack([torch.randperm(length, generator=gen)[:k].sort().values for _ in range(groups)])  # [G, K]
    group = torch.arange(len(rows)) // GROUP_CURVES  # [C]
    x = x_all[points]  # [G, K]
    y = y_all[rows.unsqueeze(-1), points[group]]  # [C, K]
    step = 2.0 / (length - 1)
    log_ls = torch.linspace(math.log10(step / 4), math.log10(20.0), 41, dtype=torch.float64)  # [A]
    log_eta = torch.linspace(*LOG_ETA_RANGE, 41, dtype=torch.float64)  # [E]
    best = _grid_search(x, y, group, log_ls, log_eta)
    for _ in range(REFINEMENTS):
        d_ls, d_eta = float(log_ls[1] - log_ls[0]), float(log_eta[1] - log_eta[0])
        log_ls = torch.linspace(best["log_ls"] - d_ls, best["log_ls"] + d_ls, 9, dtype=torch.float64)
        log_eta = torch.linspace(best["log_eta"] - d_eta, best["log_eta"] + d_eta, 9, dtype=torch.float64)
        best = _grid_search(x, y, group, log_ls, log_eta)
    return {"lengthscale": 10 ** best["log_ls"], "variance": best["variance"],
            "noise_var": 10 ** best["log_eta"] * best["variance"], "mean": best["mean"],
            "log_lik_per_point": best["log_lik"] / y.numel(), "curves": int(len(rows)), "points": int(k)}


def _grid_search(x: torch.Tensor, y: torch.Tensor, group: torch.Tensor, log_ls: torch.Tensor,
                 log_eta: torch.Tensor) -> dict[str, float]:
    """The best (lengthscale, eta) of the grid log_ls [A] x log_eta [E] for curves y [C, K] read at their group's
    positions x [G, K] (group [C]), with the mean and the variance at their closed-form optima.

    The curves of a group enter only through their count n, sum s = sum_c y_c [G, K] and scatter M = sum_c y_c y_c^T
    [G, K, K]: in the eigenbasis U of K0 + eta I, with d = lam + eta and o = U^T 1, sum_c y_c^T (K0 + eta I)^-1 y_c is
    sum_k (U^T M U)_kk / d_k, and so on."""
    c, k = y.shape
    g = x.shape[0]
    etas = (10**log_eta).view(-1, 1, 1)  # [E, 1, 1]
    n = torch.bincount(group, minlength=g).double().view(-1, 1)  # [G, 1]
    s = torch.zeros(g, k, dtype=torch.float64).index_add_(0, group, y)  # [G, K]
    m = torch.zeros(g, k, k, dtype=torch.float64).index_add_(0, group, y.unsqueeze(-1) * y.unsqueeze(-2))  # [G, K, K]
    found = {"log_lik": -math.inf}
    for log_l in log_ls.tolist():
        lam, u = torch.linalg.eigh(kernel_matrix("rbf", x, x, 10**log_l, 1.0))  # [G, K], [G, K, K]
        s1 = torch.einsum("gkj,gk->gj", u, s)  # [G, K]: sum of the curves in the eigenbasis
        s2 = torch.einsum("gij,gik,gkj->gj", u, m, u)  # [G, K]: sum of their squares there
        o = u.sum(-2)  # [G, K]: the constant 1 there
        d = lam.clamp(min=0.0) + etas  # [E, G, K]: eigenvalues of K0 + eta I
        mean = (o * s1 / d).sum((-1, -2)) / (n * o**2 / d).sum((-1, -2))  # [E]: generalised least squares
        mu = mean.view(-1, 1, 1)  # [E, 1, 1]
        quad = ((s2 - 2 * mu * o * s1 + n * mu**2 * o**2) / d).sum((-1, -2))  # [E]: sum_c r_c^T (K0 + eta I)^-1 r_c
        variance = (quad / (c * k)).clamp(min=1e-300)  # [E]
        log_det = (n * d.log()).sum((-1, -2))  # [E]: every curve's log|K0 + eta I|
        log_lik = -0.5 * c * k * (variance.log() + 1 + math.log(2 * math.pi)) - 0.5 * log_det  # [E]
        i = int(log_lik.argmax())
        if float(log_lik[i]) > found["log_lik"]:
            found = {"log_lik": float(log_lik[i]), "log_ls": log_l, "log_eta": float(log_eta[i]),
                     "variance": float(variance[i]), "mean": float(mean[i])}
    return found
