"""Benchmark d: mean-field throughput on a 64^3 grid (queries per second), ours against the reference.

A 3D scalar signal (an SDF-like volume, 32 uniform bins) with K context points; the mean E[v_x | S] is
wanted at every grid point. Ours: ``inference.mean_field`` (one encode, the decoder's memory keys/values
projected once, chunks of 16384 queries). Reference: one encode, then the same chunks through its decoder
and head (the most favourable use of the reference: it re-encodes nothing), then the bin-weighted mean.

Chunks are independent and equally expensive, so a grid too large for the time budget is timed on its
first `max_queries` points and the throughput stated for those (the output says how many were timed).
"""

from __future__ import annotations

import torch

from pixeltransformer.inference import mean_field
from pixeltransformer.sets import grid_positions
from pixeltransformer.signal import SignalSpec

from .common import ours_model, reference_model
from .timing import interleaved, paired_ratio, summary


def volume_spec(size: int = 64, num_bins: int = 32) -> SignalSpec:
    return SignalSpec(domain="sdf", dataset="bench", grid_shape=(size, size, size), val_dims=1, val_range=(-1.0, 1.0),
                      num_bins=num_bins)


@torch.no_grad()
def bench_meanfield(preset: str = "small", grid: int = 64, num_context: int = 1024, chunk: int = 16384,
                    max_queries: int | None = None, rounds: int = 3, seed: int = 0) -> dict:
    spec = volume_spec(grid)
    gen = torch.Generator().manual_seed(seed)
    ctx_pos = torch.rand(1, num_context, 3, generator=gen) * 2 - 1  # [1, K, P]
    ctx_val = torch.rand(1, num_context, 1, generator=gen) * 2 - 1  # [1, K, V]
    qry = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, Q, P]
    if max_queries is not None:
        qry = qry[:, :max_queries]
    q = qry.shape[1]

    model, dist = ours_model(spec, preset)
    net, rdist = reference_model(spec, preset)
    net.eval()
    centres = rdist.centres  # [NB, V]

    def ours() -> None:
        mean_field(model, dist, ctx_pos, ctx_val, qry, chunk)

    def reference() -> None:
        memory = net.transformer.encoder(net.embed_samples(ctx_pos.transpose(0, 1), ctx_val.transpose(0, 1)))
        for s in range(0, q, chunk):
            tgt = net.embed_queries(qry[:, s : s + chunk].transpose(0, 1))  # [c, 1, D]
            params = net.head(net.transformer.decoder(tgt, memory))  # [c, 1, NP]
            probs, mu, _ = rdist.parts(params)
            (probs.unsqueeze(-1) * (centres + mu)).sum(-2)  # [c, 1, V]

    times = interleaved({"ours": ours, "reference": reference}, rounds, warmup=1)
    return {
        "preset": preset, "grid": [grid] * 3, "num_context": num_context, "chunk": chunk, "timed_queries": q,
        "grid_queries": spec.num_points, "rounds": rounds,
        "ours": {**summary(times["ours"]), "queries_per_s": q / summary(times["ours"])["median_s"]},
        "reference": {**summary(times["reference"]), "queries_per_s": q / summary(times["reference"])["median_s"]},
        "full_grid_s_ours": spec.num_points / (q / summary(times["ours"])["median_s"]),
        "speedup": paired_ratio(times["reference"], times["ours"]),
    }
