"""Shared benchmark setup: the image signal both implementations train and sample on, and model builders."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.model import PRESETS, PixelTransformer
from pixeltransformer.signal import SignalSpec

from .reference import ReferenceDistribution, ReferenceNet


def image_spec(size: int = 32, channels: int = 3, num_bins: int = 256, seed: int = 0) -> SignalSpec:
    """A CIFAR-like signal: size x size RGB in [0, 1] with NB explicit colour centres (as k-means gives)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(num_bins, channels, generator=gen)  # [NB, V]
    return SignalSpec(domain="images", dataset="bench", grid_shape=(size, size), val_dims=channels,
                      val_range=(0.0, 1.0), num_bins=num_bins, centres=centres.tolist())


def random_images(n: int, spec: SignalSpec, seed: int = 0) -> torch.Tensor:
    """[N, V, H, W]: smooth random pictures (timing does not depend on the content)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, spec.val_dims, 4, 4, generator=gen)  # [N, V, 4, 4]
    return torch.nn.functional.interpolate(coarse, size=spec.grid_shape, mode="bilinear", align_corners=True)


def check_preset(preset: str) -> dict[str, int]:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return dict(PRESETS[preset])


def ours_module(spec: SignalSpec, preset: str, num_context: int, num_queries: int, seed: int = 0,
                encoder: str = "bidirectional"):
    """The LightningModule (imported here: Lightning is slow to import, and the inference benchmarks and the
    fresh memory-probe processes do not need it)."""
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(seed)
    check_preset(preset)
    return PixelTransformerModule(spec=spec, preset=preset, min_context=num_context, max_context=num_context,
                                  num_queries=num_queries, encoder=encoder)


def ours_model(spec: SignalSpec, preset: str, encoder: str = "bidirectional",
               seed: int = 0) -> tuple[PixelTransformer, BinnedGaussian]:
    """The bare model and distribution head as the module builds them (module defaults), in eval mode."""
    torch.manual_seed(seed)
    dist = BinnedGaussian.from_spec(spec, anchor=True)  # as the module builds it
    model = PixelTransformer(pos_dims=spec.pos_dims, val_dims=spec.val_dims, num_params=dist.num_params,
                             val_range=spec.val_range, encoder=encoder, **check_preset(preset))
    return model.eval(), dist


def module_optimizer(module, total_steps: int = 1000) -> torch.optim.Optimizer:
    """The optimizer the module's own configure_optimizers builds (a stand-in trainer reports the step count)."""
    module._trainer = SimpleNamespace(estimated_stepping_batches=total_steps)
    try:
        conf = module.configure_optimizers()
    finally:
        module._trainer = None
    return conf["optimizer"] if isinstance(conf, dict) else conf


def reference_model(spec: SignalSpec, preset: str, seed: int = 0) -> tuple[ReferenceNet, ReferenceDistribution]:
    torch.manual_seed(seed)
    centres = spec.bin_centres()  # [NB, V]
    nb, v = centres.shape
    net = ReferenceNet(spec.pos_dims, v, nb * (2 + v), **check_preset(preset))
    return net, ReferenceDistribution(centres)
