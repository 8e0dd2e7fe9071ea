"""Cached weights of the helper networks (classifier, VAE): plain state_dicts that load with weights_only=True,\nand the policy around them: load when the config matches, else train and cache."""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from pixeltransformer.cache import CacheWriteError, cache_hint, check_cache_folder, not_cached
from pixeltransformer.errors import first_line
from pixeltransformer.files import atomic_write


# the cache_dir is the evaluation's (or make classifier's), not the data's
NETWORK_HINT = cache_hint("cache_dir")


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


def cache_file(cache_dir: str | Path, kind: str, dataset: str, shape: tuple[int, ...],
               config: dict[str, Any] | None = None) -> Path:
    """One file per network kind, dataset, image shape [C, H, W] and training config: its epochs and a digest of
    every setting, e.g. classifier_mnist_1x28x28_e2-1a2b3c4d.pt, so that networks trained with other settings
    (``classifier_epochs``) each keep a file of their own rather than retraining over one another's. Without a config,
    the name earlier versions gave every config (classifier_mnist_1x28x28.pt)."""
    name = f"{kind}_{dataset}_{'x'.join(str(int(s)) for s in shape)}"
    if config is not None:
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        name += f"_e{config['epochs']}-{digest}" if "epochs" in config else f"_{digest}"
    return Path(cache_dir) / f"{name}.pt"


def take_earlier_file(earlier: Path, path: Path, config: dict[str, Any]) -> Path:
    """Where to read the weights of ``config``: ``path``, or an earlier version's file of every config (``cache_file``
    without one) where it holds them, moved to ``path`` (read where it is in a folder this user cannot write), so they
    are not trained again. One of other settings stays where it is."""
    if path.is_file() or not earlier.is_file():
        return path
    try:
        blob = torch.load(earlier, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unreadable: the network is trained for path as for no file
        return path
    if not (isinstance(blob, dict) and blob.get("config") == config):
        return path
    try:
        os.replace(earlier, path)
    except OSError:
        return earlier
    return path


def load_or_train(path: Path, config: dict[str, Any], model: nn.Module, data_fn: Callable[[], Any],
                  fit: Callable[[Any], nn.Module], shape: tuple[int, ...], earlier: Path | None = None) -> nn.Module:
    """``model`` with the weights cached at path for ``config``; else ``fit(data_fn())`` (data: images
    [N, *shape], or a tuple starting with them), cached there. Returns the network in eval mode. ``earlier``: the
    file an earlier version kept every config in (:func:`take_earlier_file`)."""
    found = path if earlier is None else take_earlier_file(earlier, path, config)
    state = load_cached(found, config)
    if state is not None:
        try:
            model.load_state_dict(state)
            return model.eval()
        except (RuntimeError, TypeError) as err:  # weights of another network under this config (written over)
            warnings.warn(f"{found}: cached weights do not fit the network ({first_line(err)}); retraining",
                          stacklevel=2)
    try:  # said before minutes of training, not after them
        check_cache_folder(path.parent, f"cache {path.name} in {path.parent}",
                           f"it is trained at every evaluation; {NETWORK_HINT}")
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
        warnings.warn(not_cached(path.name, path.parent, err, f"trained again ({seconds:.0f} s) at the next evaluation",
                                 NETWORK_HINT), NotCachedWarning, stacklevel=2)
    return model
