"""The evaluation's helper networks for one image dataset: the ResNet classifier (the accuracy judge) and the
VAE baseline, loaded from the cache (``.cache/images`` under the repository root) or trained there on the
DataModule's own train split, so the test images are never seen.

``python -m domains.images.pretrained --data mnist`` builds both ahead of an evaluation (``make classifier``);
``make eval`` otherwise trains them on first use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from .classifier import ResNetClassifier, accuracy, load_or_train_classifier
from .data import ImageDataModule
from .vae import ConvVAE, load_or_train_vae

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "images"
# (classifier epochs, VAE epochs) per dataset, sized for a CPU; the cat folder has no labels, so no classifier.
EPOCHS = {"digits": (20, 40), "mnist": (2, 2), "cifar10": (10, 10), "folder": (0, 30)}


def default_epochs(dataset: str) -> tuple[int, int]:
    return EPOCHS.get(dataset, (10, 20))


def dataset_key(dm: ImageDataModule) -> str:
    """Names the training data of the cached networks: dataset, folder name, train size and split seed, so
    two different folders or splits never share a file."""
    name = dm.dataset_name if dm.dataset_name != "folder" else f"folder-{Path(dm.root).name}"
    return f"{name}-n{len(dm.build_split('train'))}-s{dm.seed}"


def image_shape(dm: ImageDataModule) -> tuple[int, int, int]:
    return (dm.channels, dm.image_size, dm.image_size)


def load_classifier(dm: ImageDataModule, cache_dir: str | Path | None = None, epochs: int | None = None,
                    device: str | torch.device = "cpu", progress: bool = True) -> ResNetClassifier | None:
    """The dataset's classifier (None when its images carry no labels), cached or trained now."""
    if dm.num_classes is None:
        return None
    epochs = default_epochs(dm.dataset_name)[0] if epochs is None else epochs
    model = load_or_train_classifier(cache_dir or CACHE_DIR, lambda: dm.split_arrays("train"), dataset_key(dm),
                                     image_shape(dm), num_classes=dm.num_classes, epochs=epochs, seed=dm.seed,
                                     device=device, progress=progress)
    return model.to(device).eval()


def load_vae(dm: ImageDataModule, cache_dir: str | Path | None = None, epochs: int | None = None,
             device: str | torch.device = "cpu", progress: bool = True) -> ConvVAE:
    """The dataset's VAE baseline, cached or trained now."""
    epochs = default_epochs(dm.dataset_name)[1] if epochs is None else epochs
    vae = load_or_train_vae(cache_dir or CACHE_DIR, lambda: dm.split_arrays("train")[0], dataset_key(dm),
                            image_shape(dm), epochs=epochs, seed=dm.seed, device=device, progress=progress)
    return vae.to(device).eval()


# ---- command line ---------------------------------------------------------------------------------------


def config_for(data: str | None) -> dict:
    """configs/images.yaml with the dataset overlay configs/images/<data>.yaml on top, as plain dicts."""
    files = [REPO / "configs" / "images.yaml"] + ([REPO / "configs" / "images" / f"{data}.yaml"] if data else [])
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"config not found: {f}")
    return OmegaConf.to_container(OmegaConf.merge(*(OmegaConf.load(f) for f in files)))


def evaluation_args(cfg: dict) -> dict:
    """init_args of the ImageEvaluation callback in a config (empty when there is none)."""
    for cb in (cfg.get("trainer") or {}).get("callbacks") or []:
        if isinstance(cb, dict) and str(cb.get("class_path", "")).endswith("ImageEvaluation"):
            return cb.get("init_args") or {}
    return {}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m domains.images.pretrained", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="dataset overlay in configs/images/ (mnist, cifar10, cats); default digits")
    p.add_argument("--cache_dir", default=None, help=f"default: the evaluation callback's, else {CACHE_DIR}")
    p.add_argument("--classifier_epochs", type=int, default=None)
    p.add_argument("--vae_epochs", type=int, default=None)
    p.add_argument("--no_vae", action="store_true", help="only the classifier")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    try:
        cfg = config_for(args.data)
        init = dict((cfg.get("data") or {}).get("init_args") or {})
        ev = evaluation_args(cfg)
        dm = ImageDataModule(**init)
        cache = args.cache_dir or ev.get("cache_dir") or CACHE_DIR
        test_x, test_y = dm.split_arrays("test")
        clf = load_classifier(dm, cache, args.classifier_epochs or ev.get("classifier_epochs"), args.device)
        if clf is None:
            print(f"{dm.dataset_name}: no labels, no classifier")
        else:
            print(f"classifier {dataset_key(dm)}: test accuracy {accuracy(clf, test_x, test_y):.4f}")
        if not args.no_vae:
            vae = load_vae(dm, cache, args.vae_epochs or ev.get("vae_epochs"), args.device)
            with torch.no_grad():
                rec = vae.decode(vae.encode(test_x[:512].to(args.device))[0]).cpu()  # [n, C, H, W]
            print(f"vae {dataset_key(dm)}: test reconstruction L1 {(rec - test_x[:512]).abs().mean():.4f}")
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    print(f"cached in {cache}")


if __name__ == "__main__":
    main()
