"""The hyperparameters of an RBF GP learned once from training curves: the `gp_train` baseline of the 1D evaluation.

A GP fitted to each S alone (oracles.fitted_rbf_gp) is badly overconfident at small |S|; a model that learns from the
training curves deserves a baseline that does too. Here one RBF lengthscale, signal variance, noise variance, constant
mean and level variance (each curve's own offset from that mean: curves of one file often sit at different levels)
are chosen to maximise the summed marginal likelihood of a seeded subset of the training curves, at positions
normalised to [-1, 1] (as the model sees them); oracles.learned_rbf_gp predicts with them.

The subset: up to MAX_CURVES curves, each read at MAX_POINTS points. Curves are dealt into groups of GROUP_CURVES
that share one seeded draw of points, so that each group's unit-variance kernel matrix R = U diag(lam) U^T is
diagonalised once per lengthscale. A curve's covariance is s2 (R + eta I + beta 1 1^T): noise and level relative to
the signal variance s2. In R's eigenbasis R + eta I is diagonal (lam + eta) and the level a rank-one term, so for every
(eta, beta) the mean and s2 have closed-form optima and the likelihood is a few sums. Lengthscale, eta and beta are
searched on a log grid (beta also 0), refined twice about the best. Float64 throughout, about the values' mean and in
units of their spread (values far from 0 keep their variation); a fraction of a second.
"""

from __future__ import annotations

import math

import torch

from .kernels import kernel_matrix, one_thread

MAX_CURVES = 256  # curves of the training split read (a seeded subset of more)
MAX_POINTS = 64  # points of each (a seeded subset of its grid)
GROUP_CURVES = 64  # curves that share one draw of points
LOG_ETA_RANGE = (-8.0, 2.0)  # log10 of the noise variance over the signal variance: the searched range
LOG_BETA_RANGE = (-3.0, 8.0)  # log10 of the level variance over the signal variance (and 0: no level of its own)
REFINEMENTS = 2  # finer grids about the best point of the one before


def learn_rbf_prior(curves: torch.Tensor, positions: torch.Tensor, seed: int = 0,
                    rows: torch.Tensor | None = None) -> dict[str, float]:
    """Hyperparameters of an RBF GP y = mean + a + f + eps, a ~ N(0, level_var) one offset per curve,
    f ~ GP(0, variance * exp(-d^2 / (2 lengthscale^2))), eps ~ N(0, noise_var), that maximise the marginal likelihood
    of the curves [N, L] (those of ``rows`` [N'] where given: a split of a pool) at positions [L] (normalised to
    [-1, 1]), all curves sharing them. Only the subset is read (and copied). Returns {"lengthscale", "variance",
    "noise_var", "mean", "level_var"} (lengthscale in normalised positions, the rest in the values' units),
    "log_lik_per_point" (the maximum, per value read), and the numbers of curves and points per curve read.
    Curves that are all one constant are refused (ValueError): their variances would be 0, a predictive of no width.

    Runs on one thread: its many small matrices gain nothing from more, and every DDP rank learns it at once as it
    starts, each with all the machine's threads (Lightning limits them later): 4-8 s a rank on a busy 2-core CPU
    against 0.3 s on one."""
    with one_thread():
        return _learn(curves, positions, seed, rows)


def _learn(curves: torch.Tensor, positions: torch.Tensor, seed: int, rows: torch.Tensor | None) -> dict[str, float]:
    candidates = torch.arange(curves.shape[0]) if rows is None else rows  # [N']
    n, length = len(candidates), curves.shape[1]
    if n < 1 or length < 2:
        raise ValueError(f"learning a GP needs curves [N >= 1, L >= 2], got {[n, length]}")
    gen = torch.Generator().manual_seed(seed)
    rows = candidates[torch.randperm(n, generator=gen)[:MAX_CURVES]]  # [C]
    k = min(MAX_POINTS, length)
    groups = math.ceil(len(rows) / GROUP_CURVES)
    points = torch.stack([torch.randperm(length, generator=gen)[:k].sort().values for _ in range(groups)])  # [G, K]
    group = torch.arange(len(rows)) // GROUP_CURVES  # [C]
    x = positions.double()[points]  # [G, K]
    y = curves[rows.unsqueeze(-1), points[group]].double()  # [C, K]
    # learned about the values' own level and in units of their spread: the sums of squares of raw values far from 0
    # (1e8 + a few units) would lose the curves' variation to rounding
    if float(y.max()) == float(y.min()):
        raise ValueError(f"learning a GP needs curves that vary: every value of the {len(rows)} curves read (at {k} "
                         f"points each) is {float(y[0, 0]):g}, so the kernel's variance would be 0")
    shift, unit = float(y.mean()), float(y.std())
    y = (y - shift) / unit  # [C, K]
    step = 2.0 / (length - 1)
    grids = [torch.linspace(math.log10(step / 4), math.log10(20.0), 41, dtype=torch.float64),  # [A] lengthscales
             torch.linspace(*LOG_ETA_RANGE, 41, dtype=torch.float64),  # [E]
             torch.linspace(*LOG_BETA_RANGE, 23, dtype=torch.float64)]  # [B]
    best = _grid_search(x, y, group, *grids)
    for _ in range(REFINEMENTS):
        # about the best point, one step of the grid before either side; a best beta of 0 refines its smallest
        centre = [best["log_ls"], best["log_eta"], best["log_beta"] if best["beta"] > 0 else float(grids[2][0])]
        grids = [torch.linspace(c - float(g[1] - g[0]), c + float(g[1] - g[0]), 9, dtype=torch.float64)
                 for c, g in zip(centre, grids)]
        best = _grid_search(x, y, group, *grids)
    s2 = best["variance"] * unit**2
    level_var = best["beta"] * s2
    if best["log_beta"] >= LOG_BETA_RANGE[1]:
        # levels that spread 1e8 signal variances or more (curves each constant at a level of its own): the
        # likelihood rises without bound as the signal vanishes beside them, and the top of the beta grid took the
        # levels' variance for 1/K of it. Each curve's mean is then its level, to 1e-8 of their spread: the levels'
        # maximum-likelihood variance is that of the means
        level_var = float(y.mean(-1).var(unbiased=False)) * unit**2
    return {"lengthscale": 10 ** best["log_ls"], "variance": s2, "noise_var": 10 ** best["log_eta"] * s2,
            "mean": shift + best["mean"] * unit, "level_var": level_var,
            "log_lik_per_point": best["log_lik"] / y.numel() - math.log(unit), "curves": int(len(rows)),
            "points": int(k)}


def _grid_search(x: torch.Tensor, y: torch.Tensor, group: torch.Tensor, log_ls: torch.Tensor, log_eta: torch.Tensor,
                 log_beta: torch.Tensor) -> dict[str, float]:
    """The best (lengthscale, eta, beta) of the grid log_ls [A] x log_eta [E] x (0, log_beta [B]) for curves y [C, K]
    read at their group's positions x [G, K] (group [C]), with the mean and the variance at their closed-form optima.

    The curves of a group enter only through their count n, sum s = sum_c y_c [G, K] and scatter M = sum_c y_c y_c^T
    [G, K, K]. In R's eigenbasis U, with d = lam + eta, o = U^T 1, w = o / d and r_c = U^T (y_c - mean), a curve's
    (R + eta I + beta 1 1^T)^-1 quadratic form is sum_k r_ck^2 / d_k - beta (w . r_c)^2 / (1 + beta w . o), and its
    log-determinant sum_k log d_k + log(1 + beta w . o)."""
    c, k = y.shape
    g = x.shape[0]
    etas = (10**log_eta).view(-1, 1, 1, 1)  # [E, 1, 1, 1]
    betas = torch.cat([torch.zeros(1, dtype=torch.float64), 10**log_beta]).view(1, -1, 1)  # [1, B+1, 1]
    beta_logs = [-math.inf, *log_beta.tolist()]
    n = torch.bincount(group, minlength=g).double()  # [G]
    s = torch.zeros(g, k, dtype=torch.float64).index_add_(0, group, y)  # [G, K]
    m = torch.zeros(g, k, k, dtype=torch.float64).index_add_(0, group, y.unsqueeze(-1) * y.unsqueeze(-2))  # [G, K, K]
    found = {"log_lik": -math.inf}
    for log_l in log_ls.tolist():
        lam, u = torch.linalg.eigh(kernel_matrix("rbf", x, x, 10**log_l, 1.0))  # [G, K], [G, K, K]
        s1 = torch.einsum("gkj,gk->gj", u, s)  # [G, K]: sum of the curves in the eigenbasis
        syy = u.transpose(-1, -2) @ m @ u  # [G, K, K]: their scatter there
        o = u.sum(-2)  # [G, K]: the constant 1 there
        d = lam.clamp(min=0.0) + etas  # [E, 1, G, K]
        w = o / d  # [E, 1, G, K]
        wo, ws = (w * o).sum(-1), (w * s1).sum(-1)  # [E, 1, G] each
        wsw = torch.einsum("ebgk,gkj,ebgj->ebg", w, syy, w)  # [E, 1, G]: sum_c (w . y_c)^2
        shrink = 1 / (1 + betas * wo)  # [E, B+1, G]: (1 + beta w . o)^-1
        # the mean's generalised least squares: sum_c 1^T K^-1 y_c / sum_c 1^T K^-1 1
        mean = (ws * shrink).sum(-1) / (n * wo * shrink).sum(-1)  # [E, B+1]
        mu = mean.unsqueeze(-1)  # [E, B+1, 1]
        diag = torch.diagonal(syy, dim1=-2, dim2=-1)  # [G, K]
        quad_d = ((diag - 2 * mu.unsqueeze(-1) * o * s1 + n.unsqueeze(-1) * mu.unsqueeze(-1) ** 2 * o**2)
                  / d).sum(-1)  # [E, B+1, G]: sum_c r_c^T D^-1 r_c
        wr2 = wsw - 2 * mu * wo * ws + n * mu**2 * wo**2  # [E, B+1, G]: sum_c (w . r_c)^2
        # sum_c r_c^T D^-1 r_c - beta (w . r_c)^2 / (1 + beta w . o), as the part of r_c off the constant (>= 0, which
        # rounding can break where curves are nearly constant) plus the level's: no cancellation at large beta
        quad = ((quad_d - wr2 / wo).clamp(min=0.0) + wr2 * shrink / wo).sum(-1)  # [E, B+1]
        variance = (quad / (c * k)).clamp(min=1e-300)  # [E, B+1]
        log_det = (n * (d.log().sum(-1) - shrink.log())).sum(-1)  # [E, B+1]: every curve's log-determinant
        log_lik = -0.5 * c * k * (variance.log() + 1 + math.log(2 * math.pi)) - 0.5 * log_det  # [E, B+1]
        i = int(log_lik.argmax())
        ie, ib = divmod(i, log_lik.shape[1])
        if float(log_lik[ie, ib]) > found["log_lik"]:
            found = {"log_lik": float(log_lik[ie, ib]), "log_ls": log_l, "log_eta": float(log_eta[ie]),
                     "log_beta": beta_logs[ib], "beta": float(betas.flatten()[ib]), "variance": float(variance[ie, ib]),
                     "mean": float(mean[ie, ib])}
    return found
