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
    ``batch_loss(indices [b])`` -> a scalar loss. Returns the model in eval mode on the CPU. Progress counts batches
    (an epoch of MNIST's 9000 pictures took minutes without a line), the loss told at each epoch's end."""
    model.train()
    per_epoch = -(-n // batch_size)  # batches an epoch, the last one short
    bar = loop_progress(range(epochs * per_epoch), desc, unit="batch", enabled=progress)
    for step in bar:
        epoch_batch = step % per_epoch
        if epoch_batch == 0:  # each epoch's order drawn before its batches, as one loop per epoch drew it
            perm = torch.randperm(n, generator=generator).to(device)  # [n]
        loss = batch_loss(perm[epoch_batch * batch_size : (epoch_batch + 1) * batch_size])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if epoch_batch == per_epoch - 1:
            bar.set_postfix(loss=f"{loss.item():.3g}")
    model.zero_grad(set_to_none=True)
    return model.cpu().eval()
