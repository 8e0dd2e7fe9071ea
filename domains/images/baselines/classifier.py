"""A small ResNet digit/object classifier: the judge behind the classification-accuracy metric
(how recognisable completed images are), trained once per dataset and cached."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from pixeltransformer.datamodule import float_signal

from .cache import cache_file, load_or_train
from .training import fit_epochs


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut (1x1 when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))  # [B, C', H', W']
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))  # [B, C', H', W']


class ResNetClassifier(nn.Module):
    """Stem + three residual stages (widths w, 2w, 4w; the last two halve the resolution) + global pooling.

    Works for 1 or 3 channels and any size >= 8 (8x8 digits end at 2x2, 64x64 pictures at 16x16).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(ResBlock(width, width), ResBlock(width, 2 * width, 2), ResBlock(2 * width, 4 * width, 2))
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(images * 2 - 1))  # [B, 4w, H/4, W/4]; inputs centred on 0
        return self.head(h.mean(dim=(2, 3)))  # [B, num_classes]


def random_shift(images: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Translate each image [B, C, H, W] by up to max_shift pixels (border-clamped): cheap augmentation."""
    b, _, h, w = images.shape
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift  # [B, 2] pixels (x, y)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = shift[:, 0] * 2 / w, shift[:, 1] * 2 / h
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)  # [B, H, W, 2]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 10, seed: int = 0, batch_size: int = 64,
                     lr: float = 3e-3, width: int = 32, num_classes: int | None = None, max_shift: float | None = None,
                     device: str | torch.device = "cpu", progress: bool = True) -> ResNetClassifier:
    """Train a ResNetClassifier on images [N, C, H, W] with labels [N]; returns it in eval mode on CPU. Images are
    floats in [0, 1], or uint8 levels, which stay so on the device and become the same floats a batch at a time.

    AdamW with a one-cycle schedule and random shifts (default: 1/8 of the side, at least 1 pixel).
    """
    if images.dim() != 4 or min(images.shape[-2:]) < 8:
        raise ValueError(f"train_classifier expects images [N, C, H>=8, W>=8], got {tuple(images.shape)}")
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    labels = labels.long()
    num_classes = num_classes or int(labels.max()) + 1
    max_shift = max(1.0, min(images.shape[-2:]) / 8) if max_shift is None else max_shift
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ResNetClassifier(images.shape[1], num_classes, width).to(device)
    images, labels = images.to(device), labels.to(device)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch))

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        x = float_signal(images[idx])  # [b, C, H, W] in [0, 1]
        x = random_shift(x, max_shift, gen) if max_shift > 0 else x  # [b, C, H, W]
        return F.cross_entropy(model(x), labels[idx])

    return fit_epochs(model, batch_loss, len(images), epochs, batch_size, opt, sched, gen, device, "classifier",
                      progress)


@torch.no_grad()
def classify(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted labels [N] of images [N, C, H, W] in [0, 1]."""
    model.eval()
    device = next(model.parameters()).device
    out = [model(images[i : i + batch_size].to(device)).argmax(-1).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out)  # [N]


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((classify(model, images) == labels.cpu()).float().mean())


def load_or_train_classifier(cache_dir: str | Path, data_fn: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                             dataset: str, shape: tuple[int, int, int], num_classes: int = 10, epochs: int = 10,
                             seed: int = 0, width: int = 32, device: str | torch.device = "cpu",
                             progress: bool = True) -> ResNetClassifier:
    """The classifier for ``dataset`` images of ``shape`` [C, H, W] from cache_dir, or, if absent or stale,
    trained on ``data_fn()`` -> (images [N, C, H, W], floats in [0, 1] or uint8 levels, labels [N]) and cached there."""
    config = {"in_channels": int(shape[0]), "num_classes": int(num_classes), "width": int(width),
              "dataset": dataset, "shape": [int(s) for s in shape], "epochs": int(epochs), "seed": int(seed)}
    return load_or_train(cache_file(cache_dir, "classifier", dataset, shape, config), config,
                         ResNetClassifier(config["in_channels"], num_classes, width), data_fn,
                         lambda data: train_classifier(*data, epochs, seed, width=width, num_classes=num_classes,
                                                       device=device, progress=progress), shape,
                         earlier=cache_file(cache_dir, "classifier", dataset, shape))
