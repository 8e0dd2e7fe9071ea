"""Benchmark b: autoregressive sampling of S samples of an image with every pixel autoregressive (N' = H W).

Three strategies draw the same thing (S chains of H W steps, conditioned on K context points placed off the
pixel grid, so no query is observed and all H W pixels are sampled one by one):

- ours, incremental: ``inference.sample`` on an ``encoder="incremental"`` model; all S chains share every
  step, and the key/value cache makes a step cost one row of attention per layer. Timed end to end.
- ours, batched bidirectional: ``inference.sample`` on the paper's set encoder; all S chains share every
  step but the encoder re-runs over the whole growing set each step.
- reference: one sample at a time, the whole encoder re-run every step (reference.py).

The last two are too slow to run to the end at paper size, so their per-step cost is timed at a few set
sizes spread over the whole run (a short run of `probe_steps` steps from a set of that size) and a
quadratic in the set size (the cost model of a full re-encode) is fitted and summed over every step. The
output says which figures are extrapolated.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from pixeltransformer.inference import sample
from pixeltransformer.sets import grid_positions

from .common import image_spec, ours_model, reference_model
from .reference import reference_sample
from .timing import extrapolate_total, fit_step_cost, interleaved, summary


def _context(n: int, spec, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n context points at continuous positions (off the pixel grid): [1, n, P], [1, n, V]."""
    pos = torch.rand(1, n, spec.pos_dims, generator=gen) * 1.98 - 0.99  # [1, n, P]
    return pos, torch.rand(1, n, spec.val_dims, generator=gen)  # [1, n, V]


def probe_sizes(first: int, steps: int, points: int) -> list[int]:
    """Set sizes to time, spread evenly from the first step to the last."""
    return sorted({int(round(x)) for x in np.linspace(first, first + steps - 1, points)})


@torch.no_grad()
def bench_sampling(preset: str = "small", num_samples: int = 8, image_size: int = 32, num_context: int = 16,
                   full_rounds: int = 2, probe_rounds: int = 2, points: int = 5, probe_steps: int = 2,
                   validate: bool = False, seed: int = 0) -> dict:
    """Round r runs ours end to end (while r < full_rounds) and every probe (while r < probe_rounds).
    ``validate`` also runs one reference chain end to end, to check the extrapolation against it."""
    spec = image_spec(size=image_size)
    steps = spec.num_points  # N' = every pixel
    gen = torch.Generator().manual_seed(seed)
    ctx_pos, ctx_val = _context(num_context, spec, gen)
    qry = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, Q, P]

    inc, dist = ours_model(spec, preset, encoder="incremental")
    bi, _ = ours_model(spec, preset, encoder="bidirectional")
    net, rdist = reference_model(spec, preset)
    net.eval()

    def ours_full(n_ar: int | None = None) -> None:
        out = sample(inc, dist, ctx_pos, ctx_val, qry, num_samples=num_samples, n_autoregressive=n_ar, seed=seed)
        assert out.shape == (1, num_samples, steps, spec.val_dims)

    # probes: a set of size n, then `probe_steps` steps; the cost per step is attributed to the mean size
    sizes = probe_sizes(num_context, steps, points)
    probes: dict[str, object] = {}
    for n in sizes:
        pos, val = _context(n, spec, gen)
        q_pos = qry[:, torch.randperm(steps, generator=gen)[:probe_steps]]  # [1, s, P]

        def ours_bi(pos=pos, val=val, q_pos=q_pos) -> None:
            sample(bi, dist, pos, val, q_pos, num_samples=num_samples, n_autoregressive=probe_steps, seed=seed)

        def ref(pos=pos, val=val, q_pos=q_pos) -> None:
            reference_sample(net, rdist, pos.transpose(0, 1), val.transpose(0, 1), q_pos.transpose(0, 1))

        probes[f"bi@{n}"], probes[f"ref@{n}"] = ours_bi, ref

    # warm-up: a short run of ours and the smallest probes
    ours_full(4)
    probes[f"bi@{sizes[0]}"]()
    probes[f"ref@{sizes[0]}"]()
    full: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in probes}
    for r in range(max(full_rounds, probe_rounds)):
        if r < full_rounds:
            full.extend(interleaved({"ours": ours_full}, 1, warmup=0)["ours"])
        if r < probe_rounds:
            for name, t in interleaved(probes, 1, warmup=0).items():
                times[name].extend(t)

    x = [n + (probe_steps - 1) / 2 for n in sizes]
    bi_cost = [summary(times[f"bi@{n}"])["median_s"] / probe_steps for n in sizes]
    ref_cost = [summary(times[f"ref@{n}"])["median_s"] / probe_steps for n in sizes]
    bi_total = extrapolate_total(fit_step_cost(x, bi_cost), num_context, steps)
    # the reference draws one sample at a time: S sequential runs of the same cost
    ref_total = num_samples * extrapolate_total(fit_step_cost(x, ref_cost), num_context, steps)
    ours = summary(full)
    check = {}
    if validate:  # one reference chain (of the S it would draw) timed end to end
        t0 = time.perf_counter()
        reference_sample(net, rdist, ctx_pos.transpose(0, 1), ctx_val.transpose(0, 1), qry.transpose(0, 1))
        check = {"reference_one_chain_measured_s": time.perf_counter() - t0,
                 "reference_one_chain_extrapolated_s": ref_total / num_samples}
    return {
        "preset": preset, "num_samples": num_samples, "image": [image_size, image_size, spec.val_dims],
        "num_context": num_context, "autoregressive_steps": steps,
        "ours_incremental": {**ours, "total_s": ours["median_s"], "measured": f"end to end, {full_rounds} run(s)"},
        "ours_batched_bidirectional": {
            "total_s": bi_total, "measured": f"extrapolated from {len(sizes)} set sizes x {probe_steps} steps",
            "probe_sizes": sizes, "probe_step_s": bi_cost},
        "reference": {
            "total_s": ref_total, "measured": f"extrapolated from {len(sizes)} set sizes x {probe_steps} steps",
            "probe_sizes": sizes, "probe_step_s": ref_cost},
        "probe_rounds": probe_rounds, **check,
        "speedup_incremental": ref_total / ours["median_s"],
        "speedup_batched_bidirectional": ref_total / bi_total,
    }
