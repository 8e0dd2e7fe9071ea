"""The image datasets' own file formats: MNIST's IDX files (gzipped or raw, torchvision's and Kaggle's layouts too),
CIFAR-10's python or binary batches, an .npz of ``images`` and ``labels``, and scikit-learn's bundled 8x8 digits, each
read into uint8 images [N, H, W, C] (C = 1 or 3) and int64 labels [N] or None; and the downloads of MNIST and
CIFAR-10 (md5 checked). Nothing here touches the network unless a caller asks for ``download_*`` explicitly.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from pixeltransformer.arrays import npz_shape, read_npz
from pixeltransformer.digests import file_digest
from pixeltransformer.errors import warn_rank_zero
from pixeltransformer.files import atomic_write, missing_folders, remove_empty, root_option, user_path

from .io import Arrays, pictures_in

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# md5 of the canonical gzipped files (the widely used S3 mirror serves LeCun's originals byte for byte).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_BIN_DIR = "cifar-10-batches-bin"  # the binary version: the same batches as <name>.bin, 3073-byte records
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


# ---- MNIST (IDX) ------------------------------------------------------------------------------------


def _idx_opener(path: Path):
    """gzip.open or open, by the file's first bytes: a browser that undoes the server's gzip encoding leaves a raw
    IDX file under its .gz name."""
    with open(path, "rb") as f:
        return gzip.open if f.read(2) == b"\x1f\x8b" else open


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """One IDX file (gzipped or raw) holding uint8 data of ``ndim`` axes, checked against its header."""
    path = Path(path)
    try:
        with _idx_opener(path)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: unreadable IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != ndim:
        raise ValueError(f"{path}: not an IDX file of {ndim}-d uint8 data (magic {raw[:4].hex() or 'missing'}, "
                         f"expected 0000080{ndim})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX header says {dims} = {expected} bytes of data, file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()  # writable, owns its memory


def _mnist_dirs(root: Path) -> list[Path]:
    # The official files sit in root; torchvision's layout puts them under MNIST/raw.
    return [root, root / "MNIST" / "raw", root / "raw"]


def find_mnist_file(root: str | Path, stem: str) -> Path | None:
    """The gzipped or raw IDX file ``stem`` under root, or None; also under the dotted name that unpacked copies
    (Kaggle's) use, ``train-images.idx3-ubyte``."""
    dotted = stem.replace("-idx", ".idx")
    for d in _mnist_dirs(Path(root)):
        for name in (stem + ".gz", stem, dotted + ".gz", dotted):
            if (d / name).is_file():
                return d / name
    return None


def mnist_held(folder: Path, below: bool = True) -> Path | None:
    """The first of MNIST's files (images or labels, of either split) under folder, or None. below=False: only those
    directly in folder, where a download of CIFAR-10 into it would write beside them (not MNIST/raw/, its own)."""
    stems = (s for pair in MNIST_FILES.values() for s in pair)
    return next((p for p in (find_mnist_file(folder, s) for s in stems) if p and (below or p.parent == folder)), None)


def mnist_available(root: str | Path, split: str) -> bool:
    return find_mnist_file(root, MNIST_FILES[split][0]) is not None


def read_mnist(root: str | Path, split: str = "test", download: bool = False) -> Arrays:
    """MNIST ``split`` ("train" | "test") from IDX files under root -> images [N, 28, 28, 1], labels [N] (None
    when only the image file is there)."""
    if split not in MNIST_FILES:
        raise ValueError(f"read_mnist: split must be 'train' or 'test', got {split!r}")
    root = user_path(root)
    img_stem, lbl_stem = MNIST_FILES[split]
    img_path = find_mnist_file(root, img_stem)
    if img_path is None:
        missing = _mnist_missing(root, split)
        if not download or not isinstance(missing, FileNotFoundError):  # a file, or CIFAR-10's folder: no download
            raise missing
        download_mnist(root, split)
        img_path = find_mnist_file(root, img_stem)
    images = read_idx(img_path, 3)  # [N, 28, 28]
    lbl_path = find_mnist_file(root, lbl_stem)
    labels = None
    if lbl_path is None:
        warn_rank_zero(f"MNIST {split} labels ({lbl_stem}[.gz]) not found in {root}; labels are unavailable")
    else:
        labels = read_idx(lbl_path, 1).astype(np.int64)  # [N]
        if len(labels) != len(images):
            raise ValueError(f"{lbl_path}: {len(labels)} labels for {len(images)} images in {img_path}")
        if labels.max(initial=0) > 9:
            raise ValueError(f"{lbl_path}: labels must be digits 0..9, found {labels.max()}")
    return images[..., None], labels


def locate_mnist(root: str | Path) -> None:
    """Refuses, in :func:`read_mnist`'s line, a root without the images of either MNIST split (no file is read)."""
    root = user_path(root)
    if not any(mnist_available(root, s) for s in MNIST_FILES):
        raise _mnist_missing(root, "test")


def _mnist_missing(root: Path, split: str) -> Exception:
    """Why MNIST ``split``'s images are not under root, with the remedy: a FileNotFoundError where a download into
    root would fetch them, a ValueError where root is a file or holds CIFAR-10 or pictures (nothing is fetched into
    it)."""
    img_stem, lbl_stem = MNIST_FILES[split]
    if root.is_file():
        beside = root.parent  # MNIST's files beside the file given: their folder is the root
        remedy = (f"pass {root_option(beside)}" if any(mnist_available(beside, s) for s in MNIST_FILES)
                  else f"the MNIST root is the folder that holds {img_stem}.gz and the others")
        return ValueError(f"{root} is a file: {remedy}")
    cifar = cifar10_held(root, below=False)
    if cifar is not None:  # another dataset's data in root: a download would put MNIST beside it
        beside = root.parent / "mnist"
        held_beside = any(mnist_available(beside, s) for s in MNIST_FILES)
        remedy = (f"{beside} holds it: pass {root_option(beside)}" if held_beside else
                  "pass the folder that holds MNIST, or a folder of its own with --data.init_args.download=true")
        return ValueError(f"MNIST {split} images not found in {root}: it holds {cifar}, not MNIST's IDX files; "
                          f"{remedy}")
    below = root / "mnist"  # root is the folder of every dataset ($PIXELTRANSFORMER_DATA), not MNIST's own
    held_below = find_mnist_file(below, img_stem) is not None
    if not held_below and (pictures := _pictures_held(root, "MNIST")) is not None:
        return ValueError(f"MNIST {split} images not found in {root}: {pictures}")
    remedy = (f"{below} holds them: pass {root_option(below)}" if held_below
              else "add --data.init_args.download=true to fetch them")
    return FileNotFoundError(f"MNIST {split} images not found in {root}: expected {img_stem}.gz or {img_stem} "
                             f"(and {lbl_stem}[.gz]); {remedy}")


def read_idx_header(path: str | Path) -> tuple[int, ...]:
    """The dims in an IDX header, reading only the first bytes (cheap, even gzipped)."""
    path = Path(path)
    try:
        with _idx_opener(path)(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:3] != b"\x00\x00\x08":
                raise ValueError(f"{path}: not an IDX file of uint8 data")
            dims = f.read(4 * head[3])
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: unreadable IDX file ({e})") from None
    if len(dims) != 4 * head[3]:
        raise ValueError(f"{path}: truncated IDX header")
    return tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))


# ---- CIFAR-10 -------------------------------------------------------------------------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches but refuses anything beyond numpy arrays, so a hostile file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> Arrays:
    try:
        with open(path, "rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()} if isinstance(d, dict) else {}
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (expected keys 'data' and 'labels')")
    data = np.asarray(d["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: CIFAR batch data must be [N, 3072] uint8, got {data.shape}")
    labels = np.asarray(d["labels"], dtype=np.int64)
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(labels)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # [N, 32, 32, 3]


def _read_cifar_bin(path: Path) -> Arrays:
    """A batch of the binary version: records of one label byte and 3072 pixel bytes (channel planes)."""
    raw = np.fromfile(path, dtype=np.uint8)  # [N * 3073]
    if raw.size == 0 or raw.size % 3073:
        raise ValueError(f"{path}: not a CIFAR-10 binary batch ({raw.size} bytes is not a whole number of "
                         "3073-byte records: a label byte and 3072 pixel bytes)")
    records = raw.reshape(-1, 3073)  # [N, 1 + 3072]
    labels = records[:, 0].astype(np.int64)  # [N]
    if labels.max() > 9:
        raise ValueError(f"{path}: not a CIFAR-10 binary batch (label byte {labels.max()} is not a class 0..9)")
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # [N, 32, 32, 3]


def whole_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """An .npz's ``labels`` as int64 class indices; labels of text (or another kind than numbers) and labels that are
    not whole numbers (3.7, NaN: int64 would cut them without a word) are refused naming the file and the array.
    Floats of whole numbers read as the classes they are."""
    why = None
    if labels.dtype.kind not in "biuf":
        why = f"got {'text' if labels.dtype.kind in 'US' else 'values'} ({labels.dtype.str})"
    elif labels.dtype.kind == "f" and not (whole := np.isfinite(labels) & (labels == np.round(labels))).all():  # [N]
        first = int(np.flatnonzero(~whole.ravel())[0])  # counted from 0; said from 1
        why = f"but label {first + 1} of {labels.size} is {labels.ravel()[first]:g}"
    if why is not None:
        raise ValueError(f"{path}: 'labels' must hold whole numbers (the class of each picture), {why}: give each "
                         "picture's class as 0, 1, 2, ..., or leave 'labels' out")
    return labels.astype(np.int64)


def read_image_npz(path: str | Path, rgb: str | None = None) -> Arrays:
    """An .npz with uint8 ``images`` [N, H, W, C] (or [N, C, H, W] with C <= 3) and optional ``labels`` [N] (Keras's
    column [N, 1] read as [N]; whole numbers, :func:`whole_labels`, whose classes are the classifier baseline's to
    judge). Where ``rgb`` names a dataset of RGB pictures, grey ones are refused with a remedy that repeats them; an
    .npz of no pictures, or of pictures of no pixels, is refused in one line."""
    path = Path(path)
    files, arrays = read_npz(path, ("images", "labels"))
    if "images" not in arrays:
        raise ValueError(f"{path}: expected an array 'images' [N, H, W, C], found {files}")
    images = stored = arrays["images"]
    labels = arrays.get("labels")
    if labels is not None and labels.ndim == 2 and labels.shape[1] == 1:  # Keras's [N, 1]
        labels = labels[:, 0]  # [N]
    if labels is not None:
        labels = whole_labels(labels, path)  # [N] int64
    if images.ndim == 3:  # grayscale without a channel axis
        images = images[..., None]
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' must be uint8 [N, H, W, 1|3], got {images.dtype} {images.shape}")
    n, h, w = images.shape[:3]
    held = f"{path}: 'images' {list(stored.shape)} holds"
    if n == 0:
        raise ValueError(f"{held} no pictures: give an .npz of one picture or more, 'images' [N, H, W, C] with N >= 1")
    if h == 0 or w == 0:
        raise ValueError(f"{held} pictures of {w}×{h} pixels: give pictures of 1×1 pixels or more")
    if rgb and images.shape[-1] != 3:  # [N, H, W], [N, H, W, 1] and [N, 1, H, W] alike reshape to [N, H, W, 1]
        raise ValueError(f"{path}: 'images' {list(stored.shape)} are grey pictures, but {rgb} is RGB: give "
                         f"[N, H, W, 3] (grey repeated: np.repeat(images.reshape({n}, {h}, {w}, 1), 3, -1)), or save "
                         "them as picture files for --data.init_args.dataset=folder --data.init_args.channels=1")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{path}: {len(labels)} labels for {len(images)} images")
    return images, labels


def _cifar_batch_dir(root: Path) -> Path | None:
    for d in (root, root / CIFAR_DIR, root / CIFAR_BIN_DIR):
        if any((d / (name + suffix)).is_file() for name in (CIFAR_TEST[0], CIFAR_TRAIN[0]) for suffix in ("", ".bin")):
            return d
    return None


def cifar10_batches(where: Path, split: str) -> list[Path]:
    """The batch files of ``split`` ("train": data_batch_1..5, "test": test_batch) in a batches folder: the python
    version's, or the binary version's ``<name>.bin`` when the folder holds those."""
    names = CIFAR_TRAIN if split == "train" else CIFAR_TEST
    binary = not any((where / n).is_file() for n in CIFAR_TRAIN + CIFAR_TEST)
    return [where / (n + ".bin" if binary else n) for n in names]


def cifar10_splits(where: Path) -> list[str]:
    """The splits ("train", "test") whose batches are all in the folder; a train split with only some of its five
    batches (an interrupted copy) is an error, not a smaller dataset."""
    have = {s: {p: p.is_file() for p in cifar10_batches(where, s)} for s in ("train", "test")}
    if any(have["train"].values()) and not all(have["train"].values()):
        missing = ", ".join(p.name for p, ok in have["train"].items() if not ok)
        raise FileNotFoundError(f"CIFAR-10 train batches missing in {where}: {missing} (the training set is all five)")
    return [s for s, files in have.items() if all(files.values())]


def cifar10_source(root: str | Path) -> tuple[str, Path]:
    """Where CIFAR-10 lives under root: ("batches", folder) or ("npz", file); FileNotFoundError otherwise."""
    root = user_path(root)
    if root.suffix == ".npz":
        if not root.is_file():
            raise FileNotFoundError(f"CIFAR-10 file not found: {root}")
        return "npz", root
    if root.is_file() and root.name.lower().endswith((".tar.gz", ".tgz", ".tar")):
        raise ValueError(f"{root} is an archive: unpack it (tar -xzf {root.name}) and pass the folder it makes, "
                         f"{CIFAR_DIR}/ or {CIFAR_BIN_DIR}/, or the folder that holds it")
    if root.is_file():  # MNIST's .gz, one batch of the official ones: no folder to look in, or download into
        if root.name.removesuffix(".bin") in CIFAR_TRAIN + CIFAR_TEST:
            raise ValueError(f"{root} is a file: pass {root_option(root.parent)}")
        raise ValueError(f"{root} is a file: the CIFAR-10 root is the folder of its batches ({CIFAR_DIR}/ or the "
                         "folder that holds it), or one .npz of 'images' and 'labels'")
    batch_dir = _cifar_batch_dir(root)
    if batch_dir is not None:
        return "batches", batch_dir
    npz = sorted(root.glob("*.npz")) if root.is_dir() else []
    if len(npz) == 1:
        return "npz", npz[0]
    if len(npz) > 1:
        raise ValueError(f"{root} holds several .npz files ({', '.join(p.name for p in npz)}); pass one as root")
    archives = sorted(p.name for p in root.glob("cifar-10-*.tar.gz")) if root.is_dir() else []
    if archives:  # a FileNotFoundError still: download=true unpacks the python version's archive where it lies
        raise FileNotFoundError(f"CIFAR-10 in {root} is still the archive {archives[0]}: unpack it there "
                                f"(tar -xzf {archives[0]}), or add --data.init_args.download=true, which unpacks "
                                f"{CIFAR_ARCHIVE}")
    mnist = mnist_held(root, below=False)
    # MNIST's files in root: a download would put CIFAR-10 beside them (a ValueError: download=true fetches nothing)
    if mnist is not None:
        beside = root.parent / "cifar10"
        remedy = (f"{beside} holds it: pass {root_option(beside)}" if cifar10_held(beside) else
                  "pass the folder that holds CIFAR-10, or a folder of its own with --data.init_args.download=true")
        raise ValueError(f"CIFAR-10 not found in {root}: it holds MNIST's files ({mnist.name}), not CIFAR-10's; "
                         f"{remedy}")
    below = root / "cifar10"  # root is the folder of every dataset ($PIXELTRANSFORMER_DATA), not CIFAR-10's own
    held_below = cifar10_held(below) is not None
    if not held_below and (pictures := _pictures_held(root, "CIFAR-10")) is not None:
        raise ValueError(f"CIFAR-10 not found in {root}: {pictures}")
    remedy = (f"{below} holds it: pass {root_option(below)}" if held_below
              else "add --data.init_args.download=true to fetch the batches")
    raise FileNotFoundError(f"CIFAR-10 not found in {root}: expected {CIFAR_DIR}/ with data_batch_1..5 and "
                            f"test_batch (or {CIFAR_BIN_DIR}/ with the .bin batches), or one .npz with 'images' and "
                            f"'labels'; {remedy}")


def _pictures_held(folder: Path, dataset: str) -> str | None:
    """Where a folder given as ``dataset``'s root holds pictures: what it holds and the dataset that reads them (a
    download would put ``dataset`` beside them), else None."""
    pictures = pictures_in(folder)  # the first two: the look stops there
    if not pictures:
        return None
    first = pictures[0].relative_to(folder).as_posix()
    what, them = (f"pictures ({first}, ...)", "them") if len(pictures) > 1 else (f"a picture ({first})", "it")
    return (f"it holds {what}, not {dataset}'s files; read {them} with --data.init_args.dataset=folder, or pass the "
            f"folder that holds {dataset}, or a folder of its own with --data.init_args.download=true")


def cifar10_held(folder: Path, below: bool = True) -> str | None:
    """What in folder CIFAR-10 would be read from, as cifar10_source reads it, or None: "CIFAR-10's data (...)" for
    its batches' folder or one .npz of 32x32 RGB ``images``, "an .npz of images (...)" for one of other images, which
    dataset=cifar10 reads too (only the .npz's header is read). below=False: batches directly in folder alone, where
    a download of MNIST into it would write beside them (not cifar-10-batches-py/, their own)."""
    if not folder.is_dir():
        return None
    batches = _cifar_batch_dir(folder)
    if batches == folder:
        return "CIFAR-10's data (its batch files)"
    if batches is not None and below:
        return f"CIFAR-10's data ({batches.name}/)"
    npz = list(folder.glob("*.npz"))
    shape = npz_shape(npz[0], "images") if len(npz) == 1 else None
    if shape is None:  # no .npz of images, or one that does not read: not one to name
        return None
    if tuple(shape[1:]) == (32, 32, 3):
        return f"CIFAR-10's data ({npz[0].name})"
    return f"an .npz of images ({npz[0].name})"


def read_cifar10(root: str | Path, split: str = "train", download: bool = False) -> Arrays:
    """CIFAR-10 -> images [N, 32, 32, 3], labels [N].

    root may be the official ``cifar-10-batches-py`` folder (or the binary version's ``cifar-10-batches-bin``), its
    parent, an .npz file or a folder holding one .npz. ``split`` ("train" | "test") picks the official batches; an
    .npz is one pool and ignores it.
    """
    if split not in ("train", "test"):
        raise ValueError(f"read_cifar10: split must be 'train' or 'test', got {split!r}")
    root = user_path(root)
    try:
        kind, where = cifar10_source(root)
    except FileNotFoundError:
        if not download:
            raise
        download_cifar10(root)
        kind, where = cifar10_source(root)
    if kind == "npz":
        return read_image_npz(where, rgb="CIFAR-10")
    files = cifar10_batches(where, split)
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {split} batches missing in {where}: {', '.join(missing)}")
    parts = [_read_cifar_bin(p) if p.suffix == ".bin" else _read_cifar_batch(p) for p in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---- scikit-learn digits --------------------------------------------------------------------------


def read_digits() -> Arrays:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16) -> images [1797, 8, 8, 1], labels [1797]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # [N, 8, 8]
    return images[..., None], d.target.astype(np.int64)


# ---- downloads (only when a user asks for them) ---------------------------------------------------------


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download url to dest (atomically), keeping it only if its md5 matches; one that fails leaves none of the folders
    it made (data/mnist/ would tell the next command that MNIST is there, but incomplete)."""

    def write(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise OSError(f"download of {url} failed: {e}") from None
        got = file_digest(tmp, "md5")
        if got != md5:
            raise OSError(f"download of {url}: md5 {got} does not match the expected {md5}")

    made = missing_folders(dest.parent)
    try:
        atomic_write(dest, write)
    except BaseException:
        remove_empty(made)
        raise


def download_mnist(root: str | Path, split: str = "test") -> None:
    """Fetch MNIST ``split`` (images and labels) into root, verifying md5 checksums."""
    root = user_path(root)
    for stem in MNIST_FILES[split]:
        if find_mnist_file(root, stem) is None:
            name = stem + ".gz"
            _fetch(MNIST_URL + name, root / name, MNIST_MD5[name])


def download_cifar10(root: str | Path) -> None:
    """Fetch and unpack the official CIFAR-10 python batches into root/cifar-10-batches-py (md5 verified). An
    archive already in root (the user's download) is unpacked where it lies and kept; a fetched one is deleted."""
    root = user_path(root)
    archive = root / CIFAR_ARCHIVE
    fetched = not archive.is_file()
    if fetched:
        _fetch(CIFAR_URL, archive, CIFAR_MD5)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:  # a truncated or foreign file; zlib errors are OSErrors
        raise ValueError(f"{archive}: not a readable CIFAR-10 archive ({e}); delete it to download it again, or "
                         f"fetch {CIFAR_URL} by hand") from None
    if fetched:
        archive.unlink()
