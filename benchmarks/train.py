"""Benchmark a: training step throughput (queries per second), ours against the reference design.

All contenders train the same model size on the same 32x32 RGB images with 256 colour bins, batch B,
|S| = K context points and |Q| queries per image, interleaved round by round:

- ours: the shipped path with the default encoder, ``PixelTransformerModule.training_step`` (sets drawn on the
  device in one batched call; the loss applies the head to the rows it reads, ``BinnedGaussian.head_loss``)
  with the fused AdamW its ``configure_optimizers`` builds;
- reference: the original design (reference.py): per-item CPU sets in a DataLoader, nn.Transformer layers
  with dropout and materialised attention weights, double k-NN loss, Adam.

The whole run flushes subnormal floats to zero, as the CLI's training does (pixeltransformer/numerics.py), so
both contenders run under that mode; on the CPU, ours is also timed with subnormals kept, in the same rounds,
to show what the mode is worth.

Each contender's FLOPs per step are counted once (roofline.py). A large ``torch.mm`` runs as a third contender in
the same interleaved rounds, so each round pairs the step's FLOP rate with the matmul rate under the same load:
the median of those per-round fractions is the fraction of peak each contender reaches.
"""

from __future__ import annotations

import itertools
import statistics
import warnings

import torch

from pixeltransformer.numerics import flushed_subnormals, flushing

from .common import DEFAULT_ENCODER, Device, image_spec, module_optimizer, ours_module, random_images, reference_model
from .reference import reference_loader, reference_train_step
from .roofline import count_flops, matmul_contender, padding_of
from .timing import interleaved, paired_ratio, summary


def bench_training(preset: str = "small", batch: int = 8, num_context: int = 256, num_queries: int = 1024,
                   rounds: int = 5, warmup: int = 1, compile: bool = False, image_size: int = 32,
                   device: Device | None = None, peak_n: int | None = None) -> dict:
    device = device or Device()
    spec = image_spec(size=image_size)
    images = random_images(8 * batch, spec)  # [N, V, H, W]
    batches = itertools.cycle(device.put(images).split(batch))

    module = device.module(ours_module(spec, preset, num_context, num_queries).train())
    opt = module_optimizer(module)
    step = itertools.count()

    def ours() -> None:
        with warnings.catch_warnings(), device.autocast():  # self.log() outside a Trainer warns and does nothing
            warnings.simplefilter("ignore")
            loss = module.training_step({"signal": next(batches)}, next(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        module.on_before_optimizer_step(opt)  # what training runs between backward and the step: the gradient check
        opt.step()
        device.sync()

    def ours_subnormals_kept() -> None:  # the same step with the CPU's subnormal arithmetic left on
        with flushed_subnormals(False):
            ours()

    net, dist = reference_model(spec, preset)
    net = device.module(net.train())
    ref_opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    ref_batches = itertools.chain.from_iterable(itertools.repeat(reference_loader(images, batch, num_context,
                                                                                  num_queries)))

    def reference() -> None:
        with device.autocast():
            reference_train_step(net, dist, ref_opt, next(ref_batches), device.device)
        device.sync()

    # eager, before any compilation: a compiled step does the same work; the padded heads' zero channels left out
    flops = {"ours": count_flops(ours, padding_of(module.model))}
    if compile:
        # training_step enters the network through forward (one Gaussian) or features (bins): compile both
        model = module.model
        model.forward, model.features = torch.compile(model.forward), torch.compile(model.features)
    matmul, mm_flops, mm_info = matmul_contender(device, peak_n)
    contenders = {"ours": ours, "reference": reference, "matmul": matmul}
    if device.name == "cpu" and flushing():  # the flags are the CPU's; the run flushes as training does
        contenders["ours_subnormals_kept"] = ours_subnormals_kept
    times = interleaved(contenders, rounds, warmup)
    per_step = batch * num_queries
    out = {"preset": preset, "batch": batch, "num_context": num_context, "num_queries": num_queries,
           "num_bins": spec.num_bins, "rounds": rounds, "compile": compile, "encoder": DEFAULT_ENCODER,
           "device": device.describe()}
    mm = summary(times["matmul"])
    out["matmul_peak"] = {**mm_info, **mm, "flops_per_s": mm_flops / mm["min_s"],
                          "median_flops_per_s": mm_flops / mm["median_s"]}
    flops["reference"] = count_flops(reference)
    for name in ("ours", "reference"):
        med = summary(times[name])["median_s"]
        out[name] = {**summary(times[name]), "queries_per_s": per_step / med}
        if flops[name]:
            # per round: (step FLOPs / step time) / (matmul FLOPs / matmul time), both under that round's load
            fractions = [(flops[name] / t) / (mm_flops / tm) for t, tm in zip(times[name], times["matmul"])]
            out[name]["roofline"] = {"flops_per_step": flops[name], "achieved_flops_per_s": flops[name] / med,
                                     "fraction_of_peak": statistics.median(fractions)}
    out["speedup"] = paired_ratio(times["reference"], times["ours"])
    out["flush_subnormals"] = flushing()
    if "ours_subnormals_kept" in times:
        med = summary(times["ours_subnormals_kept"])["median_s"]
        out["ours_subnormals_kept"] = {**summary(times["ours_subnormals_kept"]), "queries_per_s": per_step / med}
        out["speedup_subnormals_kept"] = paired_ratio(times["reference"], times["ours_subnormals_kept"])
    return out
