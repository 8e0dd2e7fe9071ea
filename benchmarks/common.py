"""Shared benchmark setup: the image signal both implementations train and sample on, model builders, and the
device every contender runs on (CPU in fp32, or a GPU in bf16 autocast with flash SDPA)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml

from pixeltransformer.config import NetConfig, ObjectiveConfig
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.model import PixelTransformer
from pixeltransformer.sets import SetSampler
from pixeltransformer.signal import SignalSpec

from .reference import ReferenceDistribution, ReferenceNet


# the encoder every domain config trains (and NetConfig's default); tests keep the two in step
DEFAULT_ENCODER = "buffered"
# the model size files a benchmark preset names: configs/model/<preset>.yaml
SIZES = Path(__file__).resolve().parents[1] / "configs" / "model"
# the encoders that sample with a cache (model.RowCache), timed end to end
CACHED_ENCODERS = ("buffered", "incremental")


@dataclass
class Device:
    """Where and in what precision every contender runs: "cpu" in fp32 by default; "cuda" in bf16 autocast with
    scaled-dot-product attention restricted to the flash and memory-efficient kernels (the distance bias keeps
    its attention in fp32, which flash does not take, so those layers use the memory-efficient kernel).
    precision="bf16" on the CPU runs the same autocast code (what the tests exercise without a GPU)."""

    name: str = "cpu"
    precision: str | None = None  # None: bf16 on cuda, fp32 on cpu

    def __post_init__(self):
        if self.name not in ("cpu", "cuda"):
            raise ValueError(f"--device must be cpu or cuda, got {self.name!r}")
        if self.name == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no GPU is visible to torch on this machine")
        if self.precision is None:
            self.precision = "bf16" if self.name == "cuda" else "fp32"
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")

    @property
    def device(self) -> torch.device:
        return torch.device(self.name)

    def put(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device)

    def module(self, m: torch.nn.Module) -> torch.nn.Module:
        return m.to(self.device)

    @contextlib.contextmanager
    def autocast(self):
        with contextlib.ExitStack() as stack:
            if self.precision == "bf16":
                stack.enter_context(torch.autocast(self.name, dtype=torch.bfloat16))
            if self.name == "cuda":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                stack.enter_context(sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]))
            yield

    def sync(self) -> None:
        if self.name == "cuda":
            torch.cuda.synchronize()

    def describe(self) -> dict:
        gpu = torch.cuda.get_device_name(0) if self.name == "cuda" else None
        return {"device": self.name, "precision": self.precision, "gpu": gpu}


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


def presets() -> list[str]:
    return sorted(p.stem for p in SIZES.glob("*.yaml"))


def net_config(preset: str, **options) -> NetConfig:
    """The NetConfig of configs/model/<preset>.yaml (the sizes training composes), with options on top."""
    path = SIZES / f"{preset}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown preset {preset!r}; choose one of {presets()}")
    return replace(NetConfig(**yaml.safe_load(path.read_text())["model"]["net"]), **options)


def check_preset(preset: str) -> dict[str, int]:
    """The transformer sizes of a preset (the reference network takes the same)."""
    net = net_config(preset)
    return dict(width=net.width, encoder_layers=net.encoder_layers, decoder_layers=net.decoder_layers,
                heads=net.heads, ffn=net.ffn)


def ours_module(spec: SignalSpec, preset: str, num_context: int, num_queries: int, seed: int = 0,
                encoder: str = DEFAULT_ENCODER):
    """The LightningModule (imported here: Lightning is slow to import, and the inference benchmarks and the
    fresh memory-probe processes do not need it)."""
    from pixeltransformer.module import PixelTransformerModule

    import domains.images.domain  # noqa: F401  the spec's domain, so the module finds it (and warns of nothing)

    torch.manual_seed(seed)
    return PixelTransformerModule(spec=spec, net=net_config(preset, encoder=encoder),
                                  sets=SetSampler(num_context, num_context, num_queries))


def ours_model(spec: SignalSpec, preset: str, encoder: str = "bidirectional",
               seed: int = 0) -> tuple[PixelTransformer, BinnedGaussian]:
    """The bare model and distribution head as the module builds them (module defaults), in eval mode."""
    torch.manual_seed(seed)
    net = net_config(preset, encoder=encoder)
    dist = BinnedGaussian.from_config(spec, ObjectiveConfig(), framed=net.value_norm)
    model = PixelTransformer.from_config(net, spec, dist.num_params)
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
