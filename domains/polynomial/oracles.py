"""Reference predictors for 1D functions: the exact Bayes oracle of each prior and a fitted RBF GP baseline.

All take positions in the function's own x units: ctx_x [B, K], ctx_y [B, K], qry_x [B, Q], and return the
predictive mean and variance at the queries, [B, Q] each.
"""

from __future__ import annotations

import math

import torch

from pixeltransformer.stop import check_stop

from .kernels import GP_NUGGET, PERIODIC_KERNELS, gaussian_nll, gaussian_posterior, kernel_matrix


# the GP benchmark's Bayes predictor: lengthscales x scales on its integration grid (see gp_protocol_bayes_log_lik)
BAYES_GRID = (64, 32)


# The noise in the values the |S| sweep reads from PolynomialDataset (float32 values and positions, read through
# float32 interpolation): 1.4e-7 standard deviation, 2.7e-6 at most, on 51,200 test queries of coef_std = 1. A floor
# of 1e-12 (standard deviation 1e-6) leaves no query beyond 4 standard deviations of the oracle; 1e-13 left some at
# 8-12. float32 noise grows with the values, so the floor scales with coef_std^2.
DATA_NOISE_VAR = 1e-12


def polynomial_oracle(ctx_x, ctx_y, qry_x, degree: int, coef_std: float = 1.0, jitter: float | None = None):
    """Bayesian polynomial regression with the data's own noise: a ~ N(0, coef_std^2 I), y = phi(x) a + N(0, jitter),
    jitter DATA_NOISE_VAR * coef_std^2 by default. Below degree + 1 samples this floor changes nothing that counts
    (the prior's uncertainty is orders larger); from degree + 1 on the oracle knows the curve to the data's precision.

    Solved in weight space through a QR factorisation of the whitened design [phi / sqrt(jitter); I / coef_std],
    which stays accurate where the kernel matrix phi phi^T is singular (|S| > degree + 1).
    """
    jitter = DATA_NOISE_VAR * coef_std**2 if jitter is None else jitter
    pw = torch.arange(degree + 1, dtype=torch.float64)
    phi_c = ctx_x.double().unsqueeze(-1) ** pw  # [B, K, deg+1]
    phi_q = qry_x.double().unsqueeze(-1) ** pw  # [B, Q, deg+1]
    b, d = phi_c.shape[0], degree + 1
    prior = torch.eye(d, dtype=torch.float64).expand(b, d, d) / coef_std  # [B, d, d]
    design = torch.cat([phi_c / math.sqrt(jitter), prior], dim=1)  # [B, K+d, d]
    target = torch.cat([ctx_y.double() / math.sqrt(jitter), torch.zeros(b, d, dtype=torch.float64)], dim=1)  # [B, K+d]
    q, r = torch.linalg.qr(design)  # [B, K+d, d], [B, d, d]
    w = torch.linalg.solve_triangular(r, (q.transpose(-1, -2) @ target.unsqueeze(-1)), upper=True)  # [B, d, 1]
    mean = (phi_q @ w).squeeze(-1)  # [B, Q]
    # posterior covariance (R^T R)^-1: var = || R^-T phi_q ||^2, plus the observation noise
    v = torch.linalg.solve_triangular(r.transpose(-1, -2), phi_q.transpose(-1, -2), upper=False)  # [B, d, Q]
    return mean, (v**2).sum(-2) + jitter


def gp_oracle(ctx_x, ctx_y, qry_x, kernel: str, lengthscale: float, variance: float, nugget: float = GP_NUGGET,
              period: float | None = None):
    """The exact predictive of the values GPDataset draws: a GP draw plus an independent N(0, nugget) term at
    every point, so the nugget is observation noise on the context and part of the predictive at the queries."""
    return gp_predictive(ctx_x, ctx_y, qry_x, kernel, lengthscale, variance, nugget, period)


def gp_predictive(ctx_x, ctx_y, qry_x, kernel: str, lengthscale, variance, noise_var: float, period=None):
    """Posterior predictive of noisy observations y = f + eps, eps ~ N(0, noise_var), at the queries, for a GP
    with the given kernel; lengthscale and variance (and a periodic kernel's period) are floats or per-function
    tensors [B]. Float64 throughout.

    ctx_x [B, K], ctx_y [B, K], qry_x [B, Q] -> mean [B, Q], var [B, Q] (the noise included).
    """
    x_c, x_q = ctx_x.double(), qry_x.double()
    if any(torch.is_tensor(v) and v.dim() > 0 for v in (lengthscale, variance)):  # either per function: both [B]
        b = x_c.shape[0]
        lengthscale = torch.as_tensor(lengthscale, dtype=torch.float64, device=x_c.device).expand(b)  # [B]
        variance = torch.as_tensor(variance, dtype=torch.float64, device=x_c.device).expand(b)  # [B]
    k_cc = kernel_matrix(kernel, x_c, x_c, lengthscale, variance, period)  # [B, K, K]
    k_qc = kernel_matrix(kernel, x_q, x_c, lengthscale, variance, period)  # [B, Q, K]
    prior = torch.as_tensor(variance, dtype=torch.float64, device=x_c.device)
    k_qq = (prior.unsqueeze(-1) if prior.dim() > 0 else prior).expand(x_q.shape)  # [B, Q]
    mean, var = gaussian_posterior(k_cc, k_qc, k_qq, ctx_y.double(), noise_var)
    return mean, var + noise_var


def gp_protocol_oracle(ctx_x, ctx_y, qry_x, kernel: str, lengthscale: torch.Tensor, scale: torch.Tensor,
                       noise_std: float, period: torch.Tensor | None = None):
    """The exact predictive of the benchmark (protocol.py): per-function lengthscale [B] and output standard
    deviation scale [B] (and a periodic kernel's period [B]), observation noise noise_std on every value."""
    return gp_predictive(ctx_x, ctx_y, qry_x, kernel, lengthscale, scale.double() ** 2, noise_std**2,
                         None if period is None else period.double())


def has_bayes_predictor(kernel: str) -> bool:
    """Whether gp_protocol_bayes_log_lik integrates the kernel's hyperparameters: not a periodic kernel's, whose
    period's posterior, given tens of points over many periods, is too narrow for a grid of periods (at a period of
    0.1, a shift of 1e-3 moves the phase 4 x units away by 0.4 of a cycle)."""
    return kernel not in PERIODIC_KERNELS


def gp_protocol_bayes_log_lik(ctx_x, ctx_y, qry_x, qry_y, kernel: str, lengthscale_range: tuple[float, float],
                              scale_range: tuple[float, float], noise_std: float,
                              grid: tuple[int, int] = BAYES_GRID) -> torch.Tensor:
    """log p(y_q | S) [B, Q] under the benchmark's whole generative model: the GP predictive averaged over each
    function's posterior on its lengthscale and scale, given S and their uniform priors. Each query is scored by its
    own marginal, as the benchmark scores a model. Unlike gp_protocol_oracle it is not told a function's
    hyperparameters, so it is the best any predictor of the benchmark's data can do on average.

    The priors are integrated by the midpoint rule on grid[0] lengthscales x grid[1] scales. For each lengthscale the
    unit-variance kernel matrix of S, K0 = U diag(lam) U^T, is diagonalised once; scale s then has the covariance
    U diag(s^2 lam + noise^2) U^T, so every scale's marginal likelihood and predictive are sums in that basis.
    ctx_x [B, K], ctx_y [B, K], qry_x [B, Q], qry_y [B, Q] in x units; float64.
    """
    if not has_bayes_predictor(kernel):
        raise ValueError(f"gp_protocol_bayes_log_lik integrates lengthscales and scales; the {kernel} kernel's "
                         f"period is not on its grid")
    if not noise_std > 0:  # a kernel matrix's eigenvalues of 0 would make every likelihood NaN
        raise ValueError(f"gp_protocol_bayes_log_lik: noise_std must be > 0, got {noise_std}")
    x_c, x_q, y_c, y_q = ctx_x.double(), qry_x.double(), ctx_y.double(), qry_y.double()
    (l_lo, l_hi), (s_lo, s_hi) = lengthscale_range, scale_range
    n_l, n_s = grid
    lengthscales = l_lo + (torch.arange(n_l, dtype=torch.float64) + 0.5) * (l_hi - l_lo) / n_l  # [L] midpoints
    scales = s_lo + (torch.arange(n_s, dtype=torch.float64) + 0.5) * (s_hi - s_lo) / n_s  # [M] midpoints
    s2 = (scales**2).view(-1, 1, 1)  # [M, 1, 1]
    noise2 = noise_std**2
    log_ml, log_pred = [], []
    for ls in lengthscales.tolist():
        check_stop()  # in an evaluation, a SIGTERM stops the integration here (pixeltransformer.stop)
        lam, u = torch.linalg.eigh(kernel_matrix(kernel, x_c, x_c, ls, 1.0))  # [B, K], [B, K, K]
        yt = (u.transpose(-1, -2) @ y_c.unsqueeze(-1)).squeeze(-1)  # [B, K]: y in the eigenbasis
        kt = kernel_matrix(kernel, x_q, x_c, ls, 1.0) @ u  # [B, Q, K]
        d = s2 * lam.clamp(min=0.0) + noise2  # [M, B, K]: the covariance's eigenvalues per scale
        log_ml.append(-0.5 * ((yt**2 / d).sum(-1) + d.log().sum(-1) + x_c.shape[-1] * math.log(2 * math.pi)))  # [M, B]
        mean = s2 * torch.einsum("bqk,mbk->mbq", kt, yt / d)  # [M, B, Q]
        var_f = s2 * (1 - s2 * torch.einsum("bqk,mbk->mbq", kt**2, 1 / d))  # [M, B, Q]: the posterior of f
        log_pred.append(-gaussian_nll(mean, var_f.clamp(min=0.0) + noise2, y_q.unsqueeze(0)))  # [M, B, Q]
    log_w = torch.log_softmax(torch.cat(log_ml), dim=0)  # [L * M, B]: the hyperparameters' posterior
    return torch.logsumexp(log_w.unsqueeze(-1) + torch.cat(log_pred), dim=0)  # [B, Q]


def fitted_rbf_gp(ctx_x, ctx_y, qry_x, lengthscales=None, noises=(1e-6, 1e-4, 1e-2), fallback_variance=None):
    """An RBF GP whose hyperparameters maximise the marginal likelihood of S, per function.

    The signal variance has a closed-form optimum for each (lengthscale, relative noise) pair
    (s2 = y^T R^-1 y / K); the other two are chosen on a log grid, the lengthscales' from 0.02 to 3 times the
    function's own span of S (or ``lengthscales``, the same for every function). Batched over functions; each
    function's fit depends on its S alone.

    Where S cannot fit a signal variance, ``fallback_variance`` (y's units, a float) takes its place: an empty S
    (|S| = 0) then gets the GP prior's predictive, mean 0 and variance fallback_variance (times 1 + the largest of
    ``noises``), and an S without spread (every value 0: one point, or a constant S, about its own mean), where the
    maximum-likelihood variance, 0, would give a predictive of zero width, the posterior of that variance with the
    grid's shortest lengthscale and largest noise.
    Without it such an S is refused (ValueError), as is an S holding NaN or an infinity.
    """
    x_c, x_q, y = ctx_x.double(), qry_x.double(), ctx_y.double()
    b, k = y.shape
    if fallback_variance is not None and not (math.isfinite(fallback_variance) and fallback_variance > 0):
        raise ValueError(f"fitted_rbf_gp: fallback_variance must be a finite number > 0, got {fallback_variance}")
    if not (torch.isfinite(x_c).all() and torch.isfinite(y).all()):
        bad = int((~torch.isfinite(x_c)).sum() + (~torch.isfinite(y)).sum())
        raise ValueError(f"fitted_rbf_gp: S holds NaN or infinite numbers ({bad} of its positions and values)")
    if k == 0:
        if fallback_variance is None:
            raise ValueError("fitted_rbf_gp fits its kernel to S, but S is empty (|S| = 0): give fallback_variance "
                             "for the GP prior's predictive")
        var = torch.full(x_q.shape, fallback_variance * (1 + max(noises)), dtype=torch.float64)  # [B, Q]
        return torch.zeros_like(x_q), var
    # fitted in units of each function's own size (its values' root mean square): the fit is then the same in any
    # units of y, where the floors below (of s2 and of the posterior's variance, absolute) would bite on small values
    unit = y.pow(2).mean(-1, keepdim=True).sqrt()  # [B, 1]
    flat = unit[:, 0] == 0  # [B]: S without spread, whose maximum-likelihood variance is 0
    if flat.any() and fallback_variance is None:
        raise ValueError(f"fitted_rbf_gp: every value of S is 0 for {int(flat.sum())} of {b} functions, so the "
                         f"fitted variance would be 0: give fallback_variance")
    fallback = math.sqrt(fallback_variance) if fallback_variance is not None else 1.0
    unit = torch.where(unit > 0, unit, torch.full_like(unit, fallback))  # [B, 1]
    y = y / unit  # [B, K]
    if lengthscales is None:
        span = (x_c.max(-1).values - x_c.min(-1).values).clamp(min=1e-3)  # [B]
        factors = torch.logspace(math.log10(0.02), math.log10(3), 24, dtype=torch.float64)  # [24]
        grid = factors.unsqueeze(-1) * span  # [24, B]
    else:
        grid = torch.as_tensor(lengthscales, dtype=torch.float64).unsqueeze(-1).expand(-1, b)  # [L, B]
    best_ll = torch.full((b,), -math.inf, dtype=torch.float64)
    best = torch.zeros(b, 3, dtype=torch.float64)  # lengthscale, relative noise, s2
    eye = torch.eye(k, dtype=torch.float64)
    for ls in grid:  # [B]
        r = kernel_matrix("rbf", x_c, x_c, ls, 1.0)  # [B, K, K]
        for eta in noises:
            chol = torch.linalg.cholesky(r + eta * eye)  # [B, K, K]
            alpha = torch.cholesky_solve(y.unsqueeze(-1), chol).squeeze(-1)  # [B, K]
            s2 = ((y * alpha).sum(-1) / k).clamp(min=1e-12)  # [B]
            logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # [B]
            ll = -0.5 * k * (torch.log(s2) + 1 + math.log(2 * math.pi)) - 0.5 * logdet  # [B]
            better = ll > best_ll
            best_ll = torch.where(better, ll, best_ll)
            cand = torch.stack([ls, torch.full_like(s2, eta), s2], -1)  # [B, 3]
            best = torch.where(better.unsqueeze(-1), cand, best)
    ls, eta, s2 = best[:, 0], best[:, 1], best[:, 2]
    # S without spread says nothing of the variance nor the lengthscale (its likelihood would pick the most singular
    # kernel matrix): fallback_variance, the shortest lengthscale and the most noise, the prior but at S's positions
    ls = torch.where(flat, grid[0], ls)  # [B]
    eta = torch.where(flat, torch.full_like(eta, max(noises)), eta)  # [B]
    s2 = torch.where(flat, torch.ones_like(s2), s2)  # [B]: fallback_variance, in those functions' unit
    k_cc = kernel_matrix("rbf", x_c, x_c, ls, s2)  # [B, K, K]
    k_qc = kernel_matrix("rbf", x_q, x_c, ls, s2)  # [B, Q, K]
    mean, var = gaussian_posterior(k_cc, k_qc, s2.unsqueeze(-1).expand_as(x_q), y, eta * s2)
    var = var + eta.unsqueeze(-1) * s2.unsqueeze(-1)  # [B, Q]: predict noisy observations of the function
    return mean * unit, var * unit**2  # in y's units


def learned_rbf_gp(ctx_pos, ctx_y, qry_pos, prior: dict):
    """An RBF GP whose hyperparameters were learned once from the training curves (learned_gp.learn_rbf_prior):
    ``prior`` gives its lengthscale (in normalised positions), variance, noise_var, constant mean and level_var (the
    variance of each curve's own offset from that mean; 0 where absent), the same for every function. Positions
    normalised: ctx_pos [B, K], ctx_y [B, K], qry_pos [B, Q] -> mean, var [B, Q] (the predictive of a noisy value,
    noise included)."""
    x_c, x_q = ctx_pos.double(), qry_pos.double()
    ls, s2, level = float(prior["lengthscale"]), float(prior["variance"]), float(prior.get("level_var", 0.0))
    noise = float(prior["noise_var"])
    # in units of the prior's spread, where gaussian_posterior's variance floor is far below any variance
    unit = math.sqrt(s2 + level + noise) or 1.0
    # a noise of at least 1e-10 of it keeps the Cholesky factor of curves learned as (nearly) constant at their levels
    s2, level, noise = s2 / unit**2, level / unit**2, max(noise / unit**2, 1e-10)
    k_cc = kernel_matrix("rbf", x_c, x_c, ls, s2) + level  # [B, K, K]
    k_qc = kernel_matrix("rbf", x_q, x_c, ls, s2) + level  # [B, Q, K]
    k_qq = torch.full(x_q.shape, s2 + level, dtype=torch.float64)  # [B, Q]
    y = (ctx_y.double() - float(prior["mean"])) / unit  # [B, K]
    mean, var = gaussian_posterior(k_cc, k_qc, k_qq, y, noise)  # [B, Q] each
    return mean * unit + float(prior["mean"]), (var + noise) * unit**2
