"""Metrics of 1D functions against their reference predictors: the prior's exact Bayes oracle, a fitted RBF GP, and
the GP benchmark's exact predictive (told each function's hyperparameters) and Bayes predictor (not told them).
Pure functions of tensors; positions in the function's own x units."""

from __future__ import annotations

import torch

from pixeltransformer.evaluation import SweepItem, masked_mean

from .kernels import gaussian_nll, one_thread
from .oracles import (fitted_rbf_gp, gp_oracle, gp_protocol_bayes_log_lik, gp_protocol_oracle, has_bayes_predictor,
                      learned_rbf_gp, polynomial_oracle)

# metrics.json's nll_units: the core's "normalised density" read as a density of values rescaled to [-1, 1]; the
# model's, the oracle's and the GPs' NLL are all densities of y as the data gives it (what neural-process papers report)
NLL_UNITS = ("nats per query value not in S: the negative log density of y in the data's own units (as the oracle's "
             "and the GPs' NLL)")


def prior_oracle(spec, ctx_x: torch.Tensor, ctx_y: torch.Tensor, qry_x: torch.Tensor):
    """The exact predictive of the spec's prior (polynomial or GP draws): [B, K], [B, K], [B, Q] -> mean, var [B, Q]."""
    extra = spec.extra
    if spec.dataset == "polynomial":
        return polynomial_oracle(ctx_x, ctx_y, qry_x, extra["degree"], extra["coef_std"])
    return gp_oracle(ctx_x, ctx_y, qry_x, extra["kernel"], extra["lengthscale"], extra["variance"],
                     period=extra.get("period"))


def fallback_variance(spec) -> float:
    """The fitted GP's signal variance where S has none to fit (oracles.fitted_rbf_gp: |S| = 1 about its own mean, a
    constant S): that of a standard deviation a quarter of the spec's value range."""
    lo, hi = spec.val_range
    return ((hi - lo) / 4) ** 2


@one_thread()
def reference_metrics(item: SweepItem) -> dict[str, torch.Tensor]:
    """NLL (nats, density of y) and MSE of the mean [B] of the reference predictors, over the held-out queries of one
    sweep item of a dense 1D dataset: the exact oracle (generated functions; a user's curves have no known prior), an
    RBF GP fitted to each S alone ("gp"; a user's curves: about the mean of S, as their values sit anywhere and a
    zero-mean GP would pay for the offset) and, where the spec holds one, the RBF GP learned once from the training
    functions ("gp_train", learned_gp.py), at the normalised positions it was learned at. On one thread
    (kernels.one_thread)."""
    spec = item.spec
    cx = (item.ctx_pos[..., 0].double() * spec.pos_scale + spec.pos_offset).cpu()  # [B, K]
    cy = item.ctx_val[..., 0].cpu()  # [B, K]
    qx = (item.qry_pos[..., 0].double() * spec.pos_scale + spec.pos_offset).cpu()  # [B, Q]
    qy = item.qry_val[..., 0].cpu().double()  # [B, Q]
    held = item.held_out.cpu()  # [B, Q]
    pos_c, pos_q = item.ctx_pos[..., 0].cpu(), item.qry_pos[..., 0].cpu()  # [B, K], [B, Q]
    fallback = fallback_variance(spec)
    if spec.dataset == "file":
        # at the normalised positions, which the GP's fit does not tell from x (its lengthscales are fractions of S's
        # span), except where x's units make the span smaller than its floor of 1e-3 (microseconds in seconds)
        level = cy.double().mean(-1, keepdim=True)  # [B, 1]
        mean, var = fitted_rbf_gp(pos_c, cy.double() - level, pos_q, fallback_variance=fallback)  # [B, Q] each
        predictors = {"gp": (mean + level, var)}
    else:
        predictors = {"oracle": prior_oracle(spec, cx, cy, qx),
                      "gp": fitted_rbf_gp(cx, cy, qx, fallback_variance=fallback)}
    if "gp_train" in spec.extra:  # specs written before it have none
        predictors["gp_train"] = learned_rbf_gp(pos_c, cy, pos_q, spec.extra["gp_train"])
    out = {}
    for name, (mean, var) in predictors.items():
        out[f"{name}_nll"] = masked_mean(gaussian_nll(mean, var, qy), held).float().to(item.signal.device)
        out[f"{name}_mse"] = masked_mean((mean - qy) ** 2, held).float().to(item.signal.device)
    return out


def nll_gap_to_oracle(rows: list[dict]) -> dict[str, float]:
    """The model's NLL less the oracle's at |S| = 4, 5, 6 (where the prior is not yet pinned down), by |S|."""
    return {str(r["num_context"]): r["nll"] - r["oracle_nll"] for r in rows
            if r["num_context"] in (4, 5, 6) and r.get("nll") is not None and r.get("oracle_nll") is not None}


@one_thread()
def protocol_scores(spec, log_lik: torch.Tensor, mean: torch.Tensor, ctx_x: torch.Tensor, ctx_y: torch.Tensor,
                    qry_x: torch.Tensor, qry_y: torch.Tensor, lengthscale: torch.Tensor,
                    scale: torch.Tensor, period: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-query scores [B, Q] of the model (its log-likelihoods and mean given), of the exact oracle and of the Bayes
    predictor: "ll", "oracle_ll", "bayes_ll" (nats; no "bayes_ll" for a kernel the Bayes predictor cannot
    integrate, oracles.has_bayes_predictor), the squared errors "mse", "oracle_mse", and the oracle's predictive
    standard deviation "oracle_sigma". Positions in x units, CPU tensors; period [B] for a periodic kernel. On one
    thread (kernels.one_thread)."""
    extra = spec.extra
    y = qry_y.double()  # [B, Q]
    o_mean, o_var = gp_protocol_oracle(ctx_x, ctx_y, qry_x, extra["kernel"], lengthscale, scale,
                                       extra["noise_std"], period)  # [B, Q] each
    scores = {"ll": log_lik.double(), "oracle_ll": -gaussian_nll(o_mean, o_var, y),
              "mse": ((mean - qry_y) ** 2).double(), "oracle_mse": (o_mean - y) ** 2, "oracle_sigma": o_var.sqrt()}
    if has_bayes_predictor(extra["kernel"]):
        scores["bayes_ll"] = gp_protocol_bayes_log_lik(ctx_x, ctx_y, qry_x, qry_y, extra["kernel"],
                                                       extra["lengthscale_range"], extra["scale_range"],
                                                       extra["noise_std"])  # [B, Q]
    return scores
