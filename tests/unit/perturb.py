"""Test networks with visible weights: the default init (std 0.02) makes every output nearly constant, so a
mismatch between two code paths could hide; larger random weights make it show."""

import torch


@torch.no_grad()
def perturbed(model: torch.nn.Module, scale: float = 0.2) -> torch.nn.Module:
    """Add scale * N(0, 1) noise to every parameter (from torch's global generator), in place; returns the model."""
    for p in model.parameters():
        p.add_(scale * torch.randn_like(p))
    return model
