"""The evaluation's helper networks for one image dataset: the ResNet classifier (the accuracy judge) and the
VAE baseline, loaded from the cache (``cache.cache_root("images")``) or trained there on the DataModule's own
train split, so the test images are never seen.

``python -m domains.images.baselines.pretrained --data mnist`` builds both ahead of an evaluation; the
evaluation otherwise trains them on first use.
"""

from __future__ import annotations

import warnings
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C while torch imports: one line, status 130
    from pixeltransformer.errors import ctrl_c_exits_while_importing

    ctrl_c_exits_while_importing()

import torch

from pixeltransformer.cache import cache_root
from pixeltransformer.errors import OneLineParser, ctrl_c_main, debugging, fail, first_line
from pixeltransformer.files import name_start
from pixeltransformer.layout import next_command

from ..data import ImageDataModule
from .cache import NotCachedWarning
from .classifier import ResNetClassifier, accuracy, load_or_train_classifier
from .vae import ConvVAE, load_or_train_vae

# (classifier epochs, VAE epochs) per dataset, sized for a CPU; the cat folder has no labels, so no classifier.
EPOCHS = {"digits": (20, 40), "mnist": (2, 2), "cifar10": (10, 10), "folder": (0, 30)}
# the --data names of the configs/images/<data>.yaml overlays -> the DataModule's dataset
DATASET_OF = {"digits": "digits", "mnist": "mnist", "cifar10": "cifar10", "cats": "folder"}


def default_cache() -> Path:
    return cache_root("images")


# A folder's VAE epochs are sized for 4 000 pictures of 64x64 (30 epochs: 38 min on one core); a larger folder, or
# larger pictures, trains for as many pixels at most, at least one epoch: 30 epochs of 50 000 would take ~8 h
FOLDER_VAE_PIXELS = 30 * 4000 * 64 * 64


def default_epochs(dataset: str) -> tuple[int, int]:
    return EPOCHS.get(dataset, (10, 20))


def default_vae_epochs(dataset: str, num_train: int, image_size: int) -> int:
    """The VAE's epochs when none are given: the dataset's (:data:`EPOCHS`), for a folder at most as many as see
    :data:`FOLDER_VAE_PIXELS` pixels."""
    epochs = default_epochs(dataset)[1]
    if dataset != "folder":
        return epochs
    return max(1, min(epochs, FOLDER_VAE_PIXELS // max(1, num_train * image_size * image_size)))


def dataset_key(dm: ImageDataModule) -> str:
    """Names the training data of the cached networks: dataset, folder name, train size and split seed, and a digest
    of the train split's pixels and labels, so two folders of one name and size, or splits of one size drawn
    otherwise (another split layout), never share a file. The folder is named as the root leads to it (a root of
    "." or a link named it "folder-" or by the link's name: one more cache of the same networks)."""
    # a folder's name start: the digest tells folders apart, and a whole long name made a file name never written
    name = dm.dataset_name if dm.dataset_name != "folder" else f"folder-{name_start(Path(dm.root).resolve().name)}"
    return f"{name}-n{len(dm.build_split('train'))}-s{dm.seed}-{dm.split_digest('train')}"


def image_shape(dm: ImageDataModule) -> tuple[int, int, int]:
    return (dm.channels, dm.image_size, dm.image_size)


def load_classifier(dm: ImageDataModule, cache_dir: str | Path | None = None, epochs: int | None = None,
                    device: str | torch.device = "cpu", progress: bool = True) -> ResNetClassifier | None:
    """The dataset's classifier (None when its images carry no labels), cached or trained now."""
    if dm.num_classes is None:
        return None
    epochs = default_epochs(dm.dataset_name)[0] if epochs is None else epochs
    model = load_or_train_classifier(cache_dir or default_cache(), lambda: dm.split_pixels("train"), dataset_key(dm),
                                     image_shape(dm), num_classes=dm.num_classes, epochs=epochs, seed=dm.seed,
                                     device=device, progress=progress)
    model.trained_epochs = epochs  # metrics.json records how long the judge was trained
    return model.to(device).eval()


def load_vae(dm: ImageDataModule, cache_dir: str | Path | None = None, epochs: int | None = None,
             device: str | torch.device = "cpu", progress: bool = True) -> ConvVAE:
    """The dataset's VAE baseline, cached or trained now."""
    if epochs is None:
        epochs = default_vae_epochs(dm.dataset_name, len(dm.build_split("train")), dm.image_size)
    vae = load_or_train_vae(cache_dir or default_cache(), lambda: dm.split_pixels("train")[0], dataset_key(dm),
                            image_shape(dm), epochs=epochs, seed=dm.seed, device=device, progress=progress)
    vae.trained_epochs = epochs  # metrics.json records how long the baseline was trained
    return vae.to(device).eval()


# the data's lines name the options of `make train`; this command's own are these
OWN_OPTIONS = {"--data.init_args.root": "--root", "--data.init_args.download=true": "--download",
               **{f"--data.init_args.dataset={theirs}": f"--data {ours}" for ours, theirs in DATASET_OF.items()}}


def own_options(line: str) -> str:
    """A line of the DataModule's with the options it names as this command spells them."""
    for theirs, ours in OWN_OPTIONS.items():
        line = line.replace(theirs, ours)
    return line


def too_few_for_a_classifier(dm: ImageDataModule) -> str | None:
    """Why no classifier is trained of a labelled train split with fewer than MIN_PER_CLASS images of some class (it
    was trained and cached, and every evaluation then left it out: ImageEvaluation), or of labels it cannot be trained
    on (outside its classes, or not one a picture); None where there are enough."""
    from ..evaluation import too_few_to_judge

    return None if dm.num_classes is None else too_few_to_judge(
        dm.build_split("train").labels, dm.num_classes,  # [N]
        "add images (every evaluation leaves a classifier of so few out)", "leave them out (no classifier)")


# networks are cached whole (atomic_write): a Ctrl-C loses only the one in training
@ctrl_c_main("the networks cached before are whole; the one in training was not saved")
def main(argv: list[str] | None = None) -> None:
    p = OneLineParser(prog="python -m domains.images.baselines.pretrained", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="digits", choices=sorted(DATASET_OF), help="the dataset"
                   + next_command(" (as make classifier's DATA=)"))
    p.add_argument("--root", default=None, help="the data's folder (default: the DataModule's)")
    p.add_argument("--cache_dir", default=None, help="default: $PIXELTRANSFORMER_CACHE or ~/.cache/pixeltransformer, /images")
    p.add_argument("--classifier_epochs", type=int, default=None)
    p.add_argument("--vae_epochs", type=int, default=None)
    p.add_argument("--no_vae", action="store_true", help="only the classifier")
    p.add_argument("--download", action="store_true", help="fetch MNIST or CIFAR-10 when missing (md5-verified)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    for name in ("classifier_epochs", "vae_epochs"):  # an untrained network, cached as the dataset's
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1 (default: the dataset's), got {getattr(args, name)}")
    cache = Path(args.cache_dir) if args.cache_dir else default_cache()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NotCachedWarning)  # networks it cannot cache are this command's failure
            dm = ImageDataModule(DATASET_OF[args.data], root=args.root, download=args.download)
            test_x, test_y = dm.split_arrays("test")
            if why := too_few_for_a_classifier(dm):
                if args.no_vae:
                    raise ValueError(why)  # nothing left to build
                print(f"{dm.dataset_name}: no classifier: {why}")
            elif (clf := load_classifier(dm, cache, args.classifier_epochs, args.device)) is None:
                print(f"{dm.dataset_name}: no labels, no classifier")
            else:
                print(f"classifier {dataset_key(dm)}: test accuracy {accuracy(clf, test_x, test_y):.4f}")
            if not args.no_vae:
                vae = load_vae(dm, cache, args.vae_epochs, args.device)
                with torch.no_grad():
                    rec = vae.decode(vae.encode(test_x[:512].to(args.device))[0]).cpu()  # [n, C, H, W]
                print(f"vae {dataset_key(dm)}: test reconstruction L1 {(rec - test_x[:512]).abs().mean():.4f}")
    except (ValueError, OSError, NotCachedWarning) as err:
        fail(err if debugging() else own_options(first_line(err)))
    print(f"cached in {cache}")


if __name__ == "__main__":
    main()
