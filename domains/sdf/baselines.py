"""A baseline that interpolates S without learning: a polyharmonic (biharmonic) radial basis function fit.

f(x) = sum_i w_i |x - x_i| + c_0 + c . x, with the weights solving the interpolation conditions plus the
usual side conditions that make the affine part unique. In 3D |r| is the biharmonic kernel, the smoothest
interpolant in the thin-plate sense. It is solved in torch (one dense (K + 4)^2 system, then a distance matrix
per chunk of queries).
"""

from __future__ import annotations

import torch

from pixeltransformer.stop import check_stop


@torch.no_grad()
def rbf_interpolate(ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor, smoothing: float = 1e-6,
                    chunk_elements: int = 1 << 22) -> torch.Tensor:
    """Biharmonic RBF interpolation of S at the queries: [B, K, P], [B, K, V], [B, Q, P] -> [B, Q, V].

    Needs K >= P + 1 points in general position for the affine part; with fewer it falls back to a constant
    (the mean of S). ``smoothing`` is a tiny ridge that keeps the system solvable when points nearly coincide.
    The queries go in chunks of at most ``chunk_elements`` query-source distances (32 MiB in float64): a distance
    matrix of the whole grid (4 x 32768 x 2048, 2 GiB) spent most of its time having its fresh pages zeroed. Within
    an evaluation a SIGTERM stops it between chunks (pixeltransformer.stop).
    """
    b, k, p = ctx_pos.shape
    x = ctx_pos.double()  # [B, K, P]
    y = ctx_val.double()  # [B, K, V]
    if k < p + 1:
        return y.mean(dim=1, keepdim=True).expand(-1, qry_pos.shape[1], -1).to(ctx_val.dtype)  # [B, Q, V]
    kern = -torch.cdist(x, x)  # [B, K, K]; -r is conditionally positive definite of order 1
    kern = kern + smoothing * torch.eye(k, dtype=x.dtype, device=x.device)
    poly = torch.cat([torch.ones_like(x[..., :1]), x], dim=-1)  # [B, K, P+1]
    zeros = torch.zeros(b, p + 1, p + 1, dtype=x.dtype, device=x.device)
    system = torch.cat([torch.cat([kern, poly], dim=2), torch.cat([poly.transpose(1, 2), zeros], dim=2)], dim=1)
    rhs = torch.cat([y, torch.zeros(b, p + 1, y.shape[-1], dtype=x.dtype, device=x.device)], dim=1)  # [B, K+P+1, V]
    coef = torch.linalg.solve(system, rhs)  # [B, K+P+1, V]
    w, c = coef[:, :k], coef[:, k:]  # [B, K, V], [B, P+1, V]
    out = []
    chunk = max(1, chunk_elements // (b * k))
    for s in range(0, qry_pos.shape[1], chunk):
        check_stop()  # a SIGTERM stops an evaluation here: |S| = 2048 on a 64^3 grid takes a minute on a CPU
        q = qry_pos[:, s : s + chunk].double()  # [B, q, P]
        qpoly = torch.cat([torch.ones_like(q[..., :1]), q], dim=-1)  # [B, q, P+1]
        out.append(-torch.cdist(q, x) @ w + qpoly @ c)  # [B, q, V]
    return torch.cat(out, dim=1).to(ctx_val.dtype)  # [B, Q, V]
