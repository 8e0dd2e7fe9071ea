"""Cached weights of the helper networks (classifier, VAE): plain state_dicts that load with weights_only=True."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from pixeltransformer.files import atomic_write


def load_cached(path: str | Path, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The state_dict stored at path if its config equals ``config``; None (with a warning when the file is
    there but unusable) otherwise, so the caller retrains."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file must not stop an evaluation: retrain instead
        warnings.warn(f"{path}: unreadable cache ({type(e).__name__}: {e}); retraining")
        return None
    if not isinstance(blob, dict) or blob.get("config") != config or "state_dict" not in blob:
        warnings.warn(f"{path}: cached weights were made for {blob.get('config') if isinstance(blob, dict) else '?'}, "
                      f"not {config}; retraining")
        return None
    return blob["state_dict"]


def save_cached(path: str | Path, state_dict: dict[str, torch.Tensor], config: dict[str, Any],
                info: dict[str, Any] | None = None) -> None:
    """Write {"config", "state_dict", "info"} atomically, so a concurrent reader never sees half a file."""
    state = {k: v.detach().cpu() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: torch.save({"config": config, "state_dict": state, "info": info or {}}, tmp))


def cache_file(cache_dir: str | Path, kind: str, dataset: str, shape: tuple[int, ...]) -> Path:
    """One file per network kind, dataset and image shape [C, H, W], e.g. classifier_mnist_1x28x28.pt."""
    return Path(cache_dir) / f"{kind}_{dataset}_{'x'.join(str(int(s)) for s in shape)}.pt"
