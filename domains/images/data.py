"""ImageDataModule: digits, MNIST, CIFAR-10 or any folder of pictures as dense signals [C, H, W] in [0, 1].

Splits (``splits=(train, val, test)``, -1 = the rest; defaults in brackets):

- one pool of images (digits, the MNIST test file alone, a CIFAR .npz, a folder): one seeded shuffle of the
  pool into three parts [digits 1497/100/200; otherwise val = test = min(500, N // 10), train = the rest, so
  the 10k MNIST test file gives 9000/500/500 and the 2000-image CIFAR sample 1600/200/200];
- a train file and a test file (MNIST train+test IDX, the official CIFAR batches): train and val are a seeded
  split of the train file, test is drawn from the test file [(-1, 1000, -1): val 1000, test = whole test file];
- a folder of pictures in train/ and test/ folders, and maybe val/ (the cat faces' cat_combined): as two files,
  and validation is the val folder when there is one [(-1, -1, -1): each folder whole].

Bins: grayscale defaults to 32 uniform bins on [0, 1]; RGB to 256 k-means colours computed once from a seeded
subsample of training pixels (``kmeans_pixels``) and stored in the spec, so a checkpoint carries them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from pixeltransformer.bins import kmeans_centres
from pixeltransformer.cache import cache_root
from pixeltransformer.datamodule import SignalDataModule, float_signal, refuse_one_colour
from pixeltransformer.errors import counted, upscaled, warn_rank_zero
from pixeltransformer.files import user_path
from pixeltransformer.signal import SignalSpec
from pixeltransformer.splits import (SPLIT_LAYOUT, SPLITS, pool_split_index, same_split_index, split_folders,
                                     split_sizes_cause, splits_hint, splits_with_train_of)

from . import datasets, io
from .folder_cache import read_folder

DEFAULT_ROOTS = {"mnist": "mnist", "cifar10": "cifar10", "folder": "cats/faces64"}  # below data_dir()
NATIVE = {"digits": (8, 1), "mnist": (28, 1), "cifar10": (32, 3)}  # (size, channels)
FOLDER_DEFAULT = (64, 3)  # a folder's pictures: (size, channels) where they are not given
DATASETS = ("digits", "mnist", "cifar10", "folder")
NUM_CLASSES = {"digits": 10, "mnist": 10, "cifar10": 10}

Pool = tuple[torch.Tensor, "torch.Tensor | None"]  # uint8 images [N, C, H, W], int64 labels [N] or None


class UInt8ImageDataset(Dataset):
    """A split of a pool of images kept as uint8 [N, C, H, W] (a quarter of float memory): the pool's rows ``index``
    (every row when None), so that the splits of one pool share its memory rather than each holding a copy of its
    rows. An item is [0, 1] floats; a DataLoader's batch is read in one call and stays uint8 (a quarter of the bytes
    to collate and copy), made float on its device by the DataModule (``float_signal``: the same values)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, index: torch.Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"UInt8ImageDataset expects uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        self.pool = images  # [N, C, H, W]
        self.pool_labels = labels  # [N]
        self.index = index  # [n] rows of the pool, or None: all of them

    def __len__(self) -> int:
        return self.pool.shape[0] if self.index is None else self.index.shape[0]

    def rows(self, indices: torch.Tensor) -> torch.Tensor:
        """The pool rows [B] of this split's items ``indices`` [B]."""
        return indices if self.index is None else self.index[indices]

    @property
    def images(self) -> torch.Tensor:
        """The split's images [n, C, H, W] uint8 (a copy of its rows, unless the split is the whole pool)."""
        return self.pool if self.index is None else self.pool[self.index]

    @property
    def labels(self) -> torch.Tensor | None:
        """The split's labels [n], or None."""
        if self.pool_labels is None or self.index is None:
            return self.pool_labels
        return self.pool_labels[self.index]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = i if self.index is None else int(self.index[i])
        item = {"signal": float_signal(self.pool[row])}  # [C, H, W]
        if self.pool_labels is not None:
            item["label"] = self.pool_labels[row]
        return item

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The batch of ``indices``: {"signal": uint8 [B, C, H, W], "label": [B]} in one gather."""
        rows = self.rows(torch.as_tensor(indices, dtype=torch.long))  # [B]
        batch = {"signal": self.pool[rows]}  # [B, C, H, W] uint8
        if self.pool_labels is not None:
            batch["label"] = self.pool_labels[rows]  # [B]
        return batch


def _to_pool(images: np.ndarray, labels: np.ndarray | None, size: int, where: str | Path = "") -> Pool:
    """uint8 [N, H, W, C] -> uint8 [N, C, size, size] (antialiased resize when the native size differs). Pixels already
    laid out channel by channel (a CIFAR batch, a picture folder's :func:`io.read_image_folder`) are not copied.
    Pictures that are not square are centre-cropped to a square first, as a folder's are; pictures smaller than size
    are upscaled with a warning naming ``where`` (a folder's were named as they were read)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2)  # [N, C, H, W]
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    x = x[..., top : top + s, left : left + s].contiguous()  # [N, C, s, s]
    if s < size:  # every picture interpolated: said once for the dataset (a second pool's line is the same)
        centre = f" are cropped to their centre {s}×{s}, which is" if h != w else " are"  # 64×16 is not smaller
        warn_rank_zero(upscaled(f"{where}: its pictures of {w}×{h}{centre}", f"{size}×{size}", False,
                                f": give --data.init_args.image_size={s} or less"), stacklevel=2)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)  # [N, C, size, size]
    y = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return x, y


def all_grey(pools: dict[str, Pool], rows_at_once: int = 1024) -> bool:
    """Whether every RGB picture of every pool is grey (red = green = blue in every pixel), read a block of pictures at
    a time and stopped at the first block holding a colour."""
    for images, _ in pools.values():  # [N, 3, H, W] uint8
        for block in images.split(rows_at_once):  # [b, 3, H, W]
            if not ((block[:, 0] == block[:, 1]) & (block[:, 1] == block[:, 2])).all():
                return False
    return True


def check_not_one_colour(pools: dict[str, Pool], where: str | Path) -> None:
    """Refuse pictures whose every pixel, in every pool, is one colour (blank scans, a folder of empty frames)."""
    low = torch.stack([images.amin(dim=(0, 2, 3)) for images, _ in pools.values()]).amin(0)  # [C]
    high = torch.stack([images.amax(dim=(0, 2, 3)) for images, _ in pools.values()]).amax(0)  # [C]
    refuse_one_colour(low, high, sum(len(images) for images, _ in pools.values()), "picture", where)


class ImageDataModule(SignalDataModule):
    """Images as signals: positions (y, x) in [-1, 1]^2, values [C] in [0, 1].

    Args:
        dataset: "digits" (scikit-learn 8x8, bundled), "mnist", "cifar10" or "folder" (any folder of PNG/JPEG/BMP/WebP
            pictures).
        root: where the files are; default ``<data>/mnist``, ``<data>/cifar10`` or ``<data>/cats/faces64``, where
            <data> is $PIXELTRANSFORMER_DATA or data/ in the repository (see ``data_dir``); unused for digits.
        image_size: square side; default 64 for folders and the native size otherwise (others are resized).
        splits: (train, val, test) sizes, -1 = the rest; null picks the defaults in the module docstring.
        channels: 1 (grey) or 3 (RGB) for a folder's pictures, read as that whatever they hold; default 3. The
            other datasets have their own (digits and MNIST grey, CIFAR-10 RGB).
        bins: "uniform" or "kmeans"; null = uniform for grayscale, k-means for RGB.
        num_bins: NB; null = 32 (uniform grayscale), 256 (k-means), 512 = 8^3 (uniform RGB).
        download: fetch MNIST/CIFAR-10 when missing (md5-verified); never needed for digits or folders.
        kmeans_pixels: training pixels the k-means bins are fitted on (a seeded subsample, kept small for speed; at
            least num_bins, and every pixel when the train split holds fewer; >= 1).
        cache_dir: where a folder's decoded pictures are kept (default ``cache.cache_root("images", "folders")``),
            keyed by the files' bytes and the size: later starts, DDP ranks and evaluations read one array.
        batch_size, num_workers, seed, val_items, split_layout: see :class:`SignalDataModule`.
    """

    item_noun = "image"  # the [data] line counts images

    def __init__(
        self,
        dataset: Literal["digits", "mnist", "cifar10", "folder"] = "digits",
        root: str | None = None,
        image_size: int | None = None,
        splits: tuple[int, int, int] | None = None,
        channels: int | None = None,
        bins: Literal["uniform", "kmeans"] | None = None,
        num_bins: int | None = None,
        download: bool = False,
        kmeans_pixels: int = 10_000,
        cache_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        val_items: int | None = None,
        split_layout: int = SPLIT_LAYOUT,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, root=root, val_items=val_items,
                         split_layout=split_layout)
        if dataset not in DATASETS:
            raise ValueError(f"unknown image dataset {dataset!r}; expected one of {DATASETS}")
        self.dataset_name = dataset
        if self.root is None and dataset in DEFAULT_ROOTS:
            fetch = "add --data.init_args.download=true to fetch it" if dataset in ("mnist", "cifar10") else ""
            self.root = self.default_data_root(DEFAULT_ROOTS[dataset], how=fetch, required=not download)
        if splits is not None and len(splits) != 3:
            raise ValueError(f"--data.init_args.splits must be three sizes, (train, val, test), got {splits}")
        self.splits = None if splits is None else tuple(int(s) for s in splits)
        native, self.channels = NATIVE.get(dataset, FOLDER_DEFAULT)
        if channels is not None and channels != self.channels:
            if dataset != "folder":
                raise ValueError(f"--data.init_args.channels={channels}: {dataset} images have {self.channels}; "
                                 "only a folder's pictures can be read in another")
            if channels not in (1, 3):
                raise ValueError(f"--data.init_args.channels (what a folder's pictures are read as) must be 1 (grey) "
                                 f"or 3 (RGB), got {channels}: give 1 or 3, or leave it out ({self.channels} here)")
            self.channels = channels
        if dataset == "mnist" and image_size is None:
            native = self._mnist_native_size()
        self.image_size = int(image_size) if image_size is not None else native
        if self.image_size < 2:  # MNIST's own size is read from its files, which need not be read to refuse this
            own = "the dataset's own size" + ("" if dataset == "mnist" else f", {native} here")
            raise ValueError(f"--data.init_args.image_size must be >= 2 (the side of the square the pictures are read "
                             f"at), got {self.image_size}: give 2 or more, or leave it out ({own})")
        self.bins = bins or ("uniform" if self.channels == 1 else "kmeans")
        if self.bins not in ("uniform", "kmeans"):
            raise ValueError(f"--data.init_args.bins must be 'uniform' or 'kmeans', got {self.bins!r}")
        default_nb = 256 if self.bins == "kmeans" else (32 if self.channels == 1 else 512)
        self.num_bins = int(num_bins) if num_bins is not None else default_nb
        if self.num_bins < 1:
            raise ValueError(f"--data.init_args.num_bins must be >= 1 (the bins a pixel's grey level or RGB colour is "
                             f"read in), got {self.num_bins}: give 1 or more, or leave it out ({default_nb} here)")
        if self.bins == "uniform" and self.channels > 1:
            per_axis = round(self.num_bins ** (1 / self.channels))
            if per_axis**self.channels != self.num_bins:
                raise ValueError(f"uniform RGB bins form an n^3 grid; num_bins={self.num_bins} is not a cube "
                                 f"(try 64, 512) or use bins='kmeans'")
        self.download = download
        if kmeans_pixels < 1:  # max(kmeans_pixels, num_bins) fitted the bins on num_bins pixels, without a word
            raise ValueError(f"--data.init_args.kmeans_pixels must be >= 1 (the training pixels the k-means colour "
                             f"bins are fitted on; default 10000), got {kmeans_pixels}")
        self.kmeans_pixels = int(kmeans_pixels)
        self.cache_dir = user_path(cache_dir) if cache_dir else cache_root("images", "folders")
        self._pools: dict[str, Pool] | None = None
        self._pool_files: list[str] | None = None  # a folder's files under root, as _load_pools found them
        self._listed: list[Path] | None = None  # a folder's picture files, kept once found (_folder_files)
        self._index: dict[str, tuple[str, torch.Tensor]] | None = None
        self._spec: SignalSpec | None = None
        self._built: dict[str, UInt8ImageDataset] = {}
        self._digests: dict[str, str] = {}  # split -> split_digest

    # ---- what the core needs -----------------------------------------------------------------
    @property
    def spec(self) -> SignalSpec:
        """Known without reading the data, except k-means bins, which read the training pixels once."""
        if self._spec is None:
            spec = SignalSpec(domain="images", dataset=self.dataset_name, grid_shape=(self.image_size, self.image_size),
                              val_dims=self.channels, val_range=(0.0, 1.0), num_bins=self.num_bins)
            if self.bins == "kmeans":
                spec = spec.with_centres(self._kmeans_centres())
            self._spec = spec
        return self._spec

    @property
    def num_classes(self) -> int | None:
        """Label classes (10 for digits/MNIST/CIFAR-10), or None when the images carry no labels."""
        if self.dataset_name not in NUM_CLASSES:
            return None
        return NUM_CLASSES[self.dataset_name] if self._load_pools()[self._pool_of("train")][1] is not None else None

    def prepare_data(self) -> None:
        """Download MNIST or CIFAR-10 where asked and missing (a prediction from a user's file downloads nothing)."""
        if self.predicts_a_file or not self.download or self.dataset_name not in ("mnist", "cifar10"):
            return
        if self.dataset_name == "mnist":
            self._dataset_found()  # a file, or the other dataset's data, is refused: nothing is fetched into it
            for split in ("test", "train"):
                if not datasets.mnist_available(self.root, split):
                    datasets.download_mnist(self.root, split)
        elif not self._dataset_found():  # the same refusals; True where CIFAR-10 is already there
            datasets.download_cifar10(self.root)

    def check_data_roots(self, stage: str | None = None) -> None:
        """The default data place holds something (SignalDataModule), a folder of pictures is a folder that holds
        picture files, and MNIST or CIFAR-10 is where it is given, unless download=true is to fetch it there: refused
        in the readers' own line before a run starts, rather than once the run has begun (a fit had made its run
        folder, an evaluation had started its W&B run in it). Whether the pictures can be read is told as they are."""
        super().check_data_roots(stage)
        if self.root is None or not self.read_by("root", stage):
            return  # digits need no root
        if self.dataset_name != "folder":
            self._dataset_found()
        elif not self._folder_files():
            raise self._no_pictures()

    def _folder_files(self) -> list[Path]:
        """A folder's picture files (:func:`io.list_images`, which refuses a root that does not exist or is a file in
        one line), listed once they are found: by the check before a run starts and by the read. A folder that held
        none is listed again, so the same module reads it once pictures are added."""
        if not self._listed:  # never listed (None), or listed empty ([]): listed again, so pictures added are read
            self._listed = io.list_images(self.root)
        return self._listed

    def _no_pictures(self) -> ValueError:
        """A folder without pictures, naming the dataset that reads the MNIST or CIFAR-10 files it holds."""
        if (mnist := datasets.mnist_held(self.root)) is not None:
            held = f"MNIST's files ({mnist.name}): read them with --data.init_args.dataset=mnist"
        elif (cifar := datasets.cifar10_held(self.root)) is not None:
            held = f"{cifar}: read it with --data.init_args.dataset=cifar10"
        else:
            held = None
        return ValueError(io.no_images(self.root, held))

    def _dataset_found(self) -> bool:
        """Whether MNIST or CIFAR-10 is at the root (no file read but an .npz's header): False where it is missing and
        download=true is to fetch it there; the reader's one line otherwise, and for a root that is a file or holds
        the other dataset, with download=true too."""
        locate = {"mnist": datasets.locate_mnist, "cifar10": datasets.cifar10_source}[self.dataset_name]
        try:
            locate(self.root)
        except FileNotFoundError:
            if not self.download:
                raise
            return False
        return True

    def source_path(self) -> Path | None:
        """A folder of pictures (the cat faces too); MNIST and CIFAR-10 are named by their dataset, wherever they lie,
        and digits are bundled."""
        return self.root if self.dataset_name == "folder" else None

    def read_by(self, option: str, stage: str | None) -> bool:
        """Bundled digits read no root given to them."""
        return option != "root" or self.dataset_name != "digits"

    def split_options(self) -> dict:
        return {**super().split_options(), "splits": self.splits}  # None: the defaults of the module docstring

    def build_split(self, split: str) -> UInt8ImageDataset:
        """The split's images (built once; the base class may wrap what it gets, so this keeps the original)."""
        if split not in self._built:
            pool_name, idx = self._split_index()[split]
            images, labels = self._load_pools()[pool_name]
            self._built[split] = UInt8ImageDataset(images, labels, idx)  # the pool's rows idx, not a copy of them
        return self._built[split]

    def split_arrays(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A whole split as float images [N, C, H, W] in [0, 1] and labels [N]."""
        images, labels = self.split_pixels(split)
        return float_signal(images), labels  # [N, C, H, W], [N]

    def split_digest(self, split: str, rows_at_once: int = 8192) -> str:
        """12 hex digits of a SHA-256 of a split's stored pixels and labels, read a block of rows at a time from the
        pool (no copy of the whole split) and once per module: what the evaluation's cached networks are named by."""
        if split not in self._digests:
            ds = self.build_split(split)
            h = hashlib.sha256()
            for block in torch.arange(len(ds)).split(rows_at_once):  # [b] split indices
                rows = ds.rows(block)  # [b] pool rows
                h.update(ds.pool[rows].numpy().tobytes())  # [b, C, H, W] uint8
                if ds.pool_labels is not None:
                    h.update(ds.pool_labels[rows].numpy().tobytes())  # [b] int64
            self._digests[split] = h.hexdigest()[:12]
        return self._digests[split]

    def split_pixels(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A whole split as its stored uint8 images [N, C, H, W] and labels [N]: what the classifier and the VAE train
        on, a batch made float at a time (as floats, 200 000 pictures of 64x64 would take 9 GiB, twice over while
        they were divided)."""
        ds = self.build_split(split)
        return ds.images, ds.labels  # [N, C, H, W] uint8, [N]

    # ---- loading ------------------------------------------------------------------------------
    def _mnist_native_size(self) -> int:
        stems = (datasets.MNIST_FILES["test"][0], datasets.MNIST_FILES["train"][0])
        path = next((p for p in (datasets.find_mnist_file(self.root, s) for s in stems) if p is not None), None)
        if path is None:
            return 28
        dims = datasets.read_idx_header(path)
        if len(dims) != 3 or dims[1] != dims[2]:
            raise ValueError(f"{path}: expected square images [N, H, H], header says {dims}")
        return dims[1]

    def _load_pools(self) -> dict[str, Pool]:
        """{"all": pool} for one pool, or {"train": pool, "test": pool} for a train file and a test file (and "val"
        for a folder with train/, val/ and test/ folders)."""
        if self._pools is not None:
            return self._pools
        self.check_data_roots()
        if self.download:
            self.prepare_data()
        size, name = self.image_size, self.dataset_name
        if name == "digits":
            pools = {"all": _to_pool(*datasets.read_digits(), size, name)}
        elif name == "folder":  # one pool, or the train/, val/ and test/ folders a dataset ships (cat_combined)
            files = self._folder_files()
            self._pool_files = [str(f.relative_to(self.root)) for f in files]  # every file found, readable or not
            groups = split_folders(files, self.root) or {"all": files}
            sizes: dict[str, list[int]] = {}  # the pools' sub-folders, told once: the split folders together
            pools = {s: _to_pool(*read_folder(self.root, group, size, self.channels, self.cache_dir, pool=s,
                                              sizes=sizes), size) for s, group in groups.items()}
            io.warn_mixed_sizes(self.root, sizes, None if "all" in groups else list(groups))
        elif name == "mnist":
            has_train, has_test = (datasets.mnist_available(self.root, s) for s in ("train", "test"))
            if has_train and has_test:
                pools = {s: _to_pool(*datasets.read_mnist(self.root, s), size, self.root) for s in ("train", "test")}
            else:  # one file alone (usually the 10k test file): one pool; a missing dataset raises here
                pools = {"all": _to_pool(*datasets.read_mnist(self.root, "train" if has_train else "test"), size,
                                          self.root)}
        else:  # cifar10
            kind, where = datasets.cifar10_source(self.root)
            present = datasets.cifar10_splits(where) if kind == "batches" else []
            if len(present) == 2:
                pools = {s: _to_pool(*datasets.read_cifar10(where, s), size, self.root) for s in present}
            else:
                pools = {"all": _to_pool(*datasets.read_cifar10(where, present[0] if present else "train"), size,
                                          self.root)}
        io.warn_if_unscaled(np.array([int(images.max()) for images, _ in pools.values()]), self.root or name)
        check_not_one_colour(pools, self.root or name)
        if name == "folder" and self.channels == 3 and all_grey(pools):  # RGB bins on the grey diagonal, NLL per one
            n = sum(len(images) for images, _ in pools.values())  # of 3 equal values: not a grey model's
            warn_rank_zero(f"{self.root}: every one of its {n} pictures is grey (red = green = blue) and is read as "
                           "RGB: --data.init_args.channels=1 reads them as grey (one value a pixel)", stacklevel=2)
        self._pools = pools
        return pools

    def _split_index(self) -> dict[str, tuple[str, torch.Tensor]]:
        """split -> (pool name, sorted indices into that pool), deterministic for the seed."""
        if self._index is None:
            self._index = self._split_index_of(self.split_options())
        return self._index

    def _split_index_of(self, options: dict) -> dict[str, tuple[str, torch.Tensor]]:
        """What :meth:`_split_index` is under the split options ``options`` (:meth:`split_options`: the sizes, the
        seed and the layout)."""
        pools = self._load_pools()
        splits = None if options["splits"] is None else tuple(int(s) for s in options["splits"])
        counts = {s: len(images) for s, (images, _) in pools.items()}  # one pool, or a train and a test file/folder
        default = (1497, 100, 200) if self.dataset_name == "digits" else None
        try:
            return pool_split_index(counts, splits, int(options["seed"]), int(options["split_layout"]),
                                    str(self.root), default)
        except ValueError as err:  # sizes that do not fit one pool: named with the data they split
            if "all" not in counts:
                raise
            raise ValueError(f"{self.root or self.dataset_name}: {err}; {splits_hint('images')}, "
                             "or add images") from None

    def pool_sizes(self) -> dict[str, int] | None:
        """The pictures of each pool: a folder's readable ones, which a file added or removed changes."""
        if self.dataset_name == "digits":
            return None  # bundled: the same 1797 everywhere
        return {name: len(images) for name, (images, _) in self._load_pools().items()}

    def pool_files(self) -> list[str] | None:
        """A folder's picture files under root, readable or not (an unreadable one changes the counts)."""
        if self.dataset_name != "folder":
            return None
        self._load_pools()
        return self._pool_files

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """As the pools are: one (digits, a single file or folder), or a train part with a test part of its own."""
        return splits_with_train_of(list(self._load_pools()))

    def same_splits(self, options: dict, splits: Sequence[str] = SPLITS) -> bool:
        """Whether a checkpoint's split options hold the items this module's own do: None and the defaults it stands
        for, -1 and the rest, are the same splits, and so are two seeds' where each split is a whole file or
        folder."""
        return same_split_index(self._split_index_of({**self.split_options(), **options}), self._split_index(), splits)

    def _pool_of(self, split: str) -> str:
        return self._split_index()[split][0]

    def empty_split_cause(self, split: str) -> str:
        """An empty split of pictures read as one pool: how the sizes dealt them, and what to give (else "")."""
        pools = self._load_pools()
        if "all" not in pools:
            return ""
        sizes = [len(self._split_index()[s][1]) for s in SPLITS]
        return split_sizes_cause(self.root or self.dataset_name, len(pools["all"][0]), "image", sizes)

    def _kmeans_centres(self) -> torch.Tensor:
        """k-means colours of a seeded subsample of training pixels: [NB, C]. The subsample is drawn as (picture,
        pixel) pairs and gathered alone: drawing it from every training pixel took 8 bytes a pixel, more than the
        pictures themselves (1.6 GB for 50 000 of 64x64)."""
        train = self.build_split("train")
        n, (_, _, h, w) = len(train), train.pool.shape
        if n == 0:  # the sizes left no training picture: said so, not as "too few pixels" with num_bins at most 0
            raise ValueError(f"{type(self).__name__}: the train split is empty{self.empty_split_cause('train')}")
        if n * h * w < self.num_bins:  # k-means would say only "64 values cannot make 256 centres"
            raise ValueError(f"images/{self.dataset_name}: the train split's {counted(n, 'image')} of {h}x{w} "
                             f"hold {n * h * w} pixels, too few for {self.num_bins} k-means colour bins: set "
                             f"--data.init_args.num_bins to at most {n * h * w}, or give more training images")
        take = max(self.kmeans_pixels, self.num_bins)
        if n * h * w <= take:  # every pixel
            pixels = train.images.permute(0, 2, 3, 1).reshape(-1, self.channels)  # [N*H*W, C]
        else:  # a seeded draw of (picture, pixel) pairs
            gen = torch.Generator().manual_seed(self.seed)
            rows = train.rows(torch.randint(n, (take,), generator=gen))  # [take] pool rows
            spots = torch.randint(h * w, (take,), generator=gen)  # [take] pixel of a picture
            pixels = train.pool[rows, :, spots // w, spots % w]  # [take, C]
        # every pixel drawn: k-means' own cap (20 000) kept a random 20 000 of a larger kmeans_pixels
        return kmeans_centres(pixels.float() / 255.0, self.num_bins, seed=self.seed,
                              max_points=pixels.shape[0])  # [NB, C]
