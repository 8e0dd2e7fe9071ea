"""Cached weights of the helper networks (classifier, VAE): plain state_dicts that load with weights_only=True,\nand the policy around them: load when the config matches, else train and cache."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from pixeltransformer.errors import first_line
from pixeltransformer.files import CacheWriteError, atomic_write, check_cache_folder


class NotCachedWarning(UserWarning):
    """Weights trained but not cached (the cache folder cannot be written): the evaluation goes on with them, and the
    next one trains them again. ``make classifier``, whose purpose is the cache, turns it into its error."""


def load_cached(path: str | Path, config: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The state_dict stored at path if its config equals ``config``; None (with a warning when the file is
    there but unusable) otherwise, so the caller retrains."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file must not stop an evaluation: retrain instead
        # torch's first sentence only: for a foreign file it goes on for lines, and advises weights_only=False
        warnings.warn(f"{path}: unreadable cache ({type(e).__name__}: {first_line(e).split('. ')[0]}); retraining")
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


def load_or_train(path: Path, config: dict[str, Any], model: nn.Module, data_fn: Callable[[], Any],
                  fit: Callable[[Any], nn.Module], shape: tuple[int, ...]) -> nn.Module:
    """``model`` with the weights cached at path for ``config``; else ``fit(data_fn())`` (data: images
    [N, *shape], or a tuple starting with them), cached there. Returns the network in eval mode."""
    state = load_cached(path, config)
    if state is not None:
        try:
            model.load_state_dict(state)
            return model.eval()
        except (RuntimeError, TypeError) as err:  # weights of another network under this config (written over)
            warnings.warn(f"{path}: cached weights do not fit the network ({first_line(err)}); retraining",
                          stacklevel=2)
    try:  # said before minutes of training, not after them
        check_cache_folder(path.parent, f"cache {path.name} in {path.parent}", "it is trained at every evaluation "
                           "until $PIXELTRANSFORMER_CACHE (or cache_dir) names a folder this user can write")
        cached = True
    except CacheWriteError as err:
        warnings.warn(str(err), NotCachedWarning, stacklevel=2)
        cached = False
    data = data_fn()
    images = data[0] if isinstance(data, tuple) else data
    if tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"data_fn gave images {tuple(images.shape[1:])}, expected {tuple(shape)}")
    start = time.perf_counter()
    model = fit(data)
    seconds = time.perf_counter() - start
    if not cached:  # the trained network is used whether or not it could be kept
        return model
    try:
        save_cached(path, model.state_dict(), config, {"train_seconds": seconds, "train_size": len(images)})
    except OSError as err:
        warnings.warn(f"{path.name} not cached ({err.strerror or err}): trained again ({seconds:.0f} s) at the next "
                      "evaluation", NotCachedWarning, stacklevel=2)
    return model
