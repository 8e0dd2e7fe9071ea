"""Where a polynomial model's NLL gap to the exact oracle comes from: queries grouped by their distance to the
nearest observed point.

    python -m domains.polynomial.diagnose runs/polynomial/<run>/checkpoints/last.ckpt [--levels 4 6]

Fresh functions are drawn from the checkpoint's own prior (degree, coefficient scale, grid), with context and query
positions on distinct grid points. For each |S| and distance group the table gives the share of queries, the mean
NLL gap, and medians of the model's and the oracle's predictive sigma and absolute error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch

from .data import PolynomialDataset
from .kernels import gaussian_nll
from .oracles import polynomial_oracle

GROUPS = ((0.0, 0.01), (0.01, 0.05), (0.05, 0.2), (0.2, math.inf))  # distance to the nearest sample, in x units


@torch.no_grad()
def gap_by_distance(module, num_context: int, num_functions: int = 512, num_queries: int = 100,
                    seed: int = 5) -> dict:
    """One |S| level: {"num_context", "gap", "groups": [{"d", "share", "gap", "model_sigma", ...}, ...]}."""
    spec = module.spec
    if spec.dataset != "polynomial":
        raise ValueError(f"the diagnostic needs a polynomial checkpoint, not {spec.domain}/{spec.dataset}")
    degree, coef_std = spec.extra["degree"], spec.extra["coef_std"]
    res = spec.grid_shape[0]
    if num_context + num_queries > res:
        raise ValueError(f"|S| + queries = {num_context + num_queries} exceeds the {res} grid points")
    functions = PolynomialDataset(num_functions, degree, coef_std, res, seed + num_context)
    signal = torch.stack([functions[i]["signal"][0] for i in range(num_functions)]).double()  # [N, R]
    gen = torch.Generator().manual_seed(seed + num_context)
    idx = torch.stack([torch.randperm(res, generator=gen)[: num_context + num_queries]
                       for _ in range(num_functions)])  # [N, K+Q]
    x = torch.linspace(-1, 1, res, dtype=torch.float64)[idx] * spec.pos_scale  # [N, K+Q]
    y = signal.gather(1, idx)  # [N, K+Q]
    cx, cy, qx, qy = x[:, :num_context], y[:, :num_context], x[:, num_context:], y[:, num_context:]
    params = module.predict_params((cx / spec.pos_scale).float().unsqueeze(-1), cy.float().unsqueeze(-1),
                                   (qx / spec.pos_scale).float().unsqueeze(-1))  # [N, Q, NP]
    nll = -module.dist.log_prob(params, qy.float().unsqueeze(-1)).double()  # [N, Q]
    mean = module.dist.mean(params)[..., 0].double()  # [N, Q]
    sigma = module.dist.variance(params)[..., 0].sqrt().double()  # [N, Q]
    o_mean, o_var = polynomial_oracle(cx, cy, qx, degree, coef_std)  # [N, Q] each
    o_nll = gaussian_nll(o_mean, o_var, qy)  # [N, Q]
    gap = nll - o_nll  # [N, Q]
    dist = (qx.unsqueeze(-1) - cx.unsqueeze(1)).abs().min(-1).values  # [N, Q]
    groups = []
    for lo, hi in GROUPS:
        sel = (dist >= lo) & (dist < hi)
        if not sel.any():
            continue
        groups.append({"d": [lo, None if math.isinf(hi) else hi], "share": sel.double().mean().item(),
                       "gap": gap[sel].mean().item(), "model_sigma": sigma[sel].median().item(),
                       "oracle_sigma": o_var[sel].sqrt().median().item(),
                       "model_abs_error": (mean - qy).abs()[sel].median().item(),
                       "oracle_abs_error": (o_mean - qy).abs()[sel].median().item()})
    return {"num_context": num_context, "gap": gap.mean().item(), "groups": groups}


def format_table(result: dict) -> str:
    lines = [f"|S| = {result['num_context']}: NLL gap to the oracle {result['gap']:.3f} nats",
             "  d to nearest sample   share   gap    model sigma  oracle sigma  model |err|  oracle |err|"]
    for g in result["groups"]:
        lo, hi = g["d"]
        span = f"[{lo:g}, {hi:g})" if hi is not None else f">= {lo:g}"
        lines.append(f"  {span:<20} {g['share']:6.2f} {g['gap']:7.3f} {g['model_sigma']:12.4f} {g['oracle_sigma']:13.4f}"
                     f" {g['model_abs_error']:12.4f} {g['oracle_abs_error']:13.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m domains.polynomial.diagnose", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--levels", type=int, nargs="+", default=[4, 5, 6])
    p.add_argument("--functions", type=int, default=512)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = p.parse_args(argv)
    from pixeltransformer.module import PixelTransformerModule

    try:
        module = PixelTransformerModule.load_from_checkpoint(args.checkpoint, map_location="cpu").eval()
        results = [gap_by_distance(module, k, args.functions, args.queries, args.seed) for k in args.levels]
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {str(err).splitlines()[0]}")
    print(json.dumps(results, indent=1) if args.json else "\n".join(format_table(r) for r in results))


if __name__ == "__main__":
    main()
