"""The minibatch loop both helper networks train with."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from pixeltransformer.loopbar import loop_progress


def fit_epochs(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], n: int, epochs: int,
               batch_size: int, opt: torch.optim.Optimizer, sched, generator: torch.Generator,
               device: str | torch.device, desc: str, progress: bool = True) -> nn.Module:
    """``epochs`` passes over n items in a seeded random order, one optimiser and scheduler step per batch:
    ``batch_loss(indices [b])`` -> a scalar loss. Returns the model in eval mode on the CPU."""
    model.train()
    bar = loop_progress(range(epochs), desc, unit="epoch", enabled=progress)
    for _ in bar:
        perm = torch.randperm(n, generator=generator).to(device)  # [n]
        for i in range(0, n, batch_size):
            loss = batch_loss(perm[i : i + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        bar.set_postfix(loss=f"{loss.item():.3g}")
    model.zero_grad(set_to_none=True)
    return model.cpu().eval()
