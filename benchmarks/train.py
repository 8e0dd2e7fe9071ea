"""Benchmark a: training step throughput (queries per second), ours against the reference design.

All contenders train the same model size on the same 32x32 RGB images with 256 colour bins, batch B,
|S| = K context points and |Q| queries per image, interleaved round by round:

- ours: the shipped path with the default encoder, ``PixelTransformerModule.training_step`` (sets drawn on the
  device in one batched call; the loss applies the head to the rows it reads, ``BinnedGaussian.head_loss``)
  with the fused AdamW its ``configure_optimizers`` builds;
- reference: the original design (reference.py): per-item CPU sets in a DataLoader, nn.Transformer layers
  with dropout and materialised attention weights, double k-NN loss, Adam.

Each contender's FLOPs per step are counted once (roofline.py) and divided by its median step time, against
the machine's matmul peak: the fraction of peak each reaches.
"""

from __future__ import annotations

import itertools
import warnings

import torch

from .common import DEFAULT_ENCODER, Device, image_spec, module_optimizer, ours_module, random_images, reference_model
from .reference import reference_loader, reference_train_step
from .roofline import count_flops, roofline
from .timing import interleaved, paired_ratio, summary


def bench_training(preset: str = "small", batch: int = 8, num_context: int = 256, num_queries: int = 1024,
                   rounds: int = 5, warmup: int = 1, compile: bool = False, image_size: int = 32,
                   device: Device | None = None, peak_flops_per_s: float | None = None) -> dict:
    device = device or Device()
    spec = image_spec(size=image_size)
    images = random_images(8 * batch, spec)  # [N, V, H, W]
    batches = itertools.cycle(device.put(images).split(batch))

    module = device.module(ours_module(spec, preset, num_context, num_queries).train())
    opt = module_optimizer(module)
    if compile:
        module.model = torch.compile(module.model)
    step = itertools.count()

    def ours() -> None:
        with warnings.catch_warnings(), device.autocast():  # self.log() outside a Trainer warns and does nothing
            warnings.simplefilter("ignore")
            loss = module.training_step({"signal": next(batches)}, next(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        device.sync()

    net, dist = reference_model(spec, preset)
    net = device.module(net.train())
    ref_opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    ref_batches = itertools.chain.from_iterable(itertools.repeat(reference_loader(images, batch, num_context,
                                                                                  num_queries)))

    def reference() -> None:
        with device.autocast():
            reference_train_step(net, dist, ref_opt, next(ref_batches), device.device)
        device.sync()

    times = interleaved({"ours": ours, "reference": reference}, rounds, warmup)
    per_step = batch * num_queries
    out = {"preset": preset, "batch": batch, "num_context": num_context, "num_queries": num_queries,
           "num_bins": spec.num_bins, "rounds": rounds, "compile": compile, "encoder": DEFAULT_ENCODER,
           "device": device.describe()}
    flops = {"ours": 0 if compile else count_flops(ours), "reference": count_flops(reference)}
    for name in times:
        med = summary(times[name])["median_s"]
        out[name] = {**summary(times[name]), "queries_per_s": per_step / med}
        if peak_flops_per_s and flops[name]:
            out[name]["roofline"] = roofline(flops[name], med, peak_flops_per_s)
    out["speedup"] = paired_ratio(times["reference"], times["ours"])
    return out
