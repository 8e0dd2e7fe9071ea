"""Benchmark a: training step throughput (queries per second), ours against the reference design.

All contenders train the same model size on the same 32x32 RGB images with 256 colour bins, batch B,
|S| = K context points and |Q| queries per image, interleaved round by round:

- ours: the shipped path, ``PixelTransformerModule.training_step`` (sets drawn on the device in one batched
  call) with the optimizer its ``configure_optimizers`` builds;
- ours_proposed: the same model with two changes proposed for the module (see :func:`proposed_step`): the
  loss applies the head itself and computes only the head rows it reads (``BinnedGaussian.head_loss``), and
  AdamW runs its fused kernel;
- reference: the original design (reference.py): per-item CPU sets in a DataLoader, nn.Transformer layers
  with dropout and materialised attention weights, double k-NN loss, Adam.
"""

from __future__ import annotations

import itertools
import warnings

import torch

from pixeltransformer.module import PixelTransformerModule

from .common import image_spec, module_optimizer, ours_module, random_images, reference_model
from .reference import reference_loader, reference_train_step
from .timing import interleaved, paired_ratio, summary


def proposed_step(module: PixelTransformerModule, signal: torch.Tensor) -> torch.Tensor:
    """The training loss as proposed for ``PixelTransformerModule.training_step``: features, then the head
    applied inside the loss to the rows it needs."""
    sets = module.draw_sets(signal)
    feats = module.model.features(sets.ctx_pos, sets.ctx_val, sets.qry_pos)  # [B, Q, D]
    return module.dist.head_loss(feats, module.model.head, sets.qry_val).mean()


def fused_adamw(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The module's AdamW parameter groups with the fused (single-kernel) implementation."""
    groups = [{k: g[k] for k in ("params", "lr", "weight_decay")} for g in opt.param_groups]
    return torch.optim.AdamW(groups, fused=True)


def bench_training(preset: str = "small", batch: int = 8, num_context: int = 256, num_queries: int = 1024,
                   rounds: int = 5, warmup: int = 1, compile: bool = False, image_size: int = 32) -> dict:
    spec = image_spec(size=image_size)
    images = random_images(8 * batch, spec)  # [N, V, H, W]
    batches = itertools.cycle(images.split(batch))

    module = ours_module(spec, preset, num_context, num_queries).train()
    opt = module_optimizer(module)
    proposed = ours_module(spec, preset, num_context, num_queries, seed=1).train()
    proposed_opt = fused_adamw(module_optimizer(proposed))
    if compile:
        module.model = torch.compile(module.model)
        proposed.model = torch.compile(proposed.model)
    step = itertools.count()

    def ours() -> None:
        with warnings.catch_warnings():  # self.log() outside a Trainer warns and does nothing
            warnings.simplefilter("ignore")
            loss = module.training_step({"signal": next(batches)}, next(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def ours_proposed() -> None:
        loss = proposed_step(proposed, next(batches))
        proposed_opt.zero_grad(set_to_none=True)
        loss.backward()
        proposed_opt.step()

    net, dist = reference_model(spec, preset)
    net.train()
    ref_opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    ref_batches = itertools.chain.from_iterable(itertools.repeat(reference_loader(images, batch, num_context,
                                                                                  num_queries)))

    def reference() -> None:
        reference_train_step(net, dist, ref_opt, next(ref_batches))

    times = interleaved({"ours": ours, "ours_proposed": ours_proposed, "reference": reference}, rounds, warmup)
    per_step = batch * num_queries
    out = {"preset": preset, "batch": batch, "num_context": num_context, "num_queries": num_queries,
           "num_bins": spec.num_bins, "rounds": rounds, "compile": compile}
    for name in times:
        out[name] = {**summary(times[name]), "queries_per_s": per_step / summary(times[name])["median_s"]}
    out["speedup"] = paired_ratio(times["reference"], times["ours"])
    out["speedup_proposed"] = paired_ratio(times["reference"], times["ours_proposed"])
    return out
