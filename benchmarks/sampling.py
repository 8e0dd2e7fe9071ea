"""Benchmark b: autoregressive sampling of S samples of an image with every pixel autoregressive (N' = H W).

Four strategies draw the same thing (S chains of H W steps, conditioned on K context points placed off the
pixel grid, so no query is observed and all H W pixels are sampled one by one):

- ours, buffered (the default encoder): ``inference.sample``; S is encoded once, each drawn value is
  appended to a causal buffer, all S chains share every step, and the cache (model.RowCache) makes a step cost one
  row of attention per layer. Timed end to end.
- ours, incremental: the same on the fully causal encoder. Timed end to end.
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

from .common import CACHED_ENCODERS, DEFAULT_ENCODER, Device, image_spec, ours_model, reference_model
from .reference import reference_sample
from .timing import after_warmup, extrapolate_total, fit_step_cost, interleaved, summary


def _context(n: int, spec, gen: torch.Generator, device: Device) -> tuple[torch.Tensor, torch.Tensor]:
    """n context points at continuous positions (off the pixel grid): [1, n, P], [1, n, V]."""
    pos = torch.rand(1, n, spec.pos_dims, generator=gen) * 1.98 - 0.99  # [1, n, P]
    return device.put(pos), device.put(torch.rand(1, n, spec.val_dims, generator=gen))  # [1, n, V]


def probe_sizes(first: int, steps: int, points: int) -> list[int]:
    """Set sizes to time, spread evenly from the first step to the last."""
    return sorted({int(round(x)) for x in np.linspace(first, first + steps - 1, points)})


@torch.no_grad()
def bench_sampling(preset: str = "small", num_samples: int = 8, image_size: int = 32, num_context: int = 16,
                   full_rounds: int = 2, probe_rounds: int = 2, points: int = 5, probe_steps: int = 2,
                   measure_reference: bool = False, seed: int = 0, device: Device | None = None) -> dict:
    """Round r runs each cached encoder end to end (while r < full_rounds) and every probe (while
    r < probe_rounds). ``measure_reference`` also runs one reference chain end to end: the reference's total is
    then S times that measured chain, and the extrapolation is reported beside it as a check."""
    device = device or Device()
    spec = image_spec(size=image_size)
    steps = spec.num_points  # N' = every pixel
    gen = torch.Generator().manual_seed(seed)
    ctx_pos, ctx_val = _context(num_context, spec, gen, device)
    qry = device.put(grid_positions(spec.grid_shape).unsqueeze(0))  # [1, Q, P]

    cached = {enc: device.module(ours_model(spec, preset, encoder=enc)[0]) for enc in CACHED_ENCODERS}
    bi, dist = ours_model(spec, preset, encoder="bidirectional")
    bi, dist = device.module(bi), dist.to(device.device)
    net, rdist = reference_model(spec, preset)
    net = device.module(net.eval())
    rdist.centres = rdist.centres.to(device.device)

    def full_run(enc: str, n_ar: int | None = None) -> None:
        with device.autocast():
            out = sample(cached[enc], dist, ctx_pos, ctx_val, qry, num_samples=num_samples, n_autoregressive=n_ar,
                         seed=seed)
        assert out.shape == (1, num_samples, steps, spec.val_dims)
        device.sync()

    # probes: a set of size n, then `probe_steps` steps; the cost per step is attributed to the mean size. Each
    # probe first runs one untimed step on the same set, so its steps run warm, as in a run of consecutive steps
    sizes = probe_sizes(num_context, steps, points)
    probes: dict[str, object] = {}
    for n in sizes:
        pos, val = _context(n, spec, gen, device)
        q_pos = qry[:, torch.randperm(steps, generator=gen)[:probe_steps]]  # [1, s, P]

        def ours_bi(pos=pos, val=val, q_pos=q_pos, n_ar=probe_steps) -> None:
            with device.autocast():
                sample(bi, dist, pos, val, q_pos, num_samples=num_samples, n_autoregressive=n_ar, seed=seed)
            device.sync()

        def ref(pos=pos, val=val, q_pos=q_pos, n_ar=probe_steps) -> None:
            with device.autocast():
                reference_sample(net, rdist, pos.transpose(0, 1), val.transpose(0, 1), q_pos.transpose(0, 1), n_ar)
            device.sync()

        probes[f"bi@{n}"] = lambda f=ours_bi: after_warmup(lambda: f(n_ar=1), f)
        probes[f"ref@{n}"] = lambda f=ref: after_warmup(lambda: f(n_ar=1), f)

    # warm-up: a short run of each cached encoder and the smallest probes
    for enc in CACHED_ENCODERS:
        full_run(enc, 4)
    probes[f"bi@{sizes[0]}"]()
    probes[f"ref@{sizes[0]}"]()
    full: dict[str, list[float]] = {enc: [] for enc in CACHED_ENCODERS}
    times: dict[str, list[float]] = {name: [] for name in probes}
    for r in range(max(full_rounds, probe_rounds)):
        if r < full_rounds:
            runs = {enc: (lambda enc=enc: full_run(enc)) for enc in CACHED_ENCODERS}
            for enc, t in interleaved(runs, 1, warmup=0, start=r).items():  # round r's order, rotated
                full[enc].extend(t)
        if r < probe_rounds:
            for name, t in interleaved(probes, 1, warmup=0, self_timed=True, start=r).items():
                times[name].extend(t)

    x = [n + (probe_steps - 1) / 2 for n in sizes]
    bi_cost = [summary(times[f"bi@{n}"])["median_s"] / probe_steps for n in sizes]
    ref_cost = [summary(times[f"ref@{n}"])["median_s"] / probe_steps for n in sizes]
    bi_total = extrapolate_total(fit_step_cost(x, bi_cost), num_context, steps)
    # the reference draws one sample at a time: S sequential runs of the same cost
    ref_extrapolated = num_samples * extrapolate_total(fit_step_cost(x, ref_cost), num_context, steps)
    ours = {enc: summary(t) for enc, t in full.items()}
    check = {}
    reference = {"total_s": ref_extrapolated, "extrapolated": True,
                 "measured": f"extrapolated from {len(sizes)} set sizes x {probe_steps} steps"}
    if measure_reference:  # one reference chain (of the S it would draw) timed end to end
        t0 = time.perf_counter()
        with device.autocast():
            reference_sample(net, rdist, ctx_pos.transpose(0, 1), ctx_val.transpose(0, 1), qry.transpose(0, 1))
        device.sync()
        one_chain = time.perf_counter() - t0
        check = {"reference_one_chain_measured_s": one_chain,
                 "reference_one_chain_extrapolated_s": ref_extrapolated / num_samples}
        reference = {"total_s": num_samples * one_chain, "extrapolated": False,
                     "measured": f"one chain end to end, times the {num_samples} chains it draws one after another"}
    ref_total = reference["total_s"]
    speedups = {enc: ref_total / ours[enc]["median_s"] for enc in CACHED_ENCODERS}
    best = max(speedups, key=speedups.get)
    return {
        "preset": preset, "num_samples": num_samples, "image": [image_size, image_size, spec.val_dims],
        "num_context": num_context, "autoregressive_steps": steps, "device": device.describe(),
        "default_encoder": DEFAULT_ENCODER, "best_encoder": best,
        **{f"ours_{enc}": {**ours[enc], "total_s": ours[enc]["median_s"], "measured": f"end to end, {full_rounds} run(s)"}
           for enc in CACHED_ENCODERS},
        "ours_batched_bidirectional": {
            "total_s": bi_total, "measured": f"extrapolated from {len(sizes)} set sizes x {probe_steps} steps",
            "probe_sizes": sizes, "probe_step_s": bi_cost},
        "reference": {**reference, "extrapolated_total_s": ref_extrapolated, "probe_sizes": sizes,
                      "probe_step_s": ref_cost},
        "probe_rounds": probe_rounds, **check,
        **{f"speedup_{enc}": speedups[enc] for enc in CACHED_ENCODERS},
        "speedup_default": speedups[DEFAULT_ENCODER], "speedup_best": speedups[best],
        "speedup_batched_bidirectional": ref_total / bi_total,
    }
