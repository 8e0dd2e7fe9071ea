"""Readers for the image datasets: uint8 arrays images [N, H, W, C] (C = 1 or 3) and int64 labels [N] or None.

Nothing here touches the network unless a caller asks for ``download_*`` explicitly.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import tarfile
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from pixeltransformer.arrays import read_npz
from pixeltransformer.digests import file_digest
from pixeltransformer.errors import warn_rank_zero
from pixeltransformer.files import atomic_write, data_files, missing_folders, remove_empty
from pixeltransformer.loopbar import loop_progress

# the pictures a folder's files are read as: JPEG under its other names (.jpe, .jfif, as browsers save it) and WebP
# (where this PIL reads it), which a single picture (--input) was read as already
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp") + ((".webp",) if features.check("webp") else ())
# pictures a folder may hold that are not read: named in one warning, rather than left out without a word
UNREAD_PICTURES = tuple(s for s in (".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif", ".jp2")
                        if s not in IMAGE_SUFFIXES)

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

Arrays = tuple[np.ndarray, "np.ndarray | None"]


# ---- MNIST (IDX) ------------------------------------------------------------------------------------


def warn_if_unscaled(pixels: np.ndarray, where: str | Path) -> None:
    """Warn when 8-bit pixels (any shape, uint8) are all 0 or 1: 0..1 values saved as 8-bit, which read as black."""
    if pixels.size and int(pixels.max()) <= 1:
        warn_rank_zero(f"{where}: every pixel is 0 or 1 of 255, so the pictures read as black: were 0..1 values saved "
                       "as 8-bit? Scale them to 0..255", stacklevel=3)


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


def mnist_available(root: str | Path, split: str) -> bool:
    return find_mnist_file(root, MNIST_FILES[split][0]) is not None


def read_mnist(root: str | Path, split: str = "test", download: bool = False) -> Arrays:
    """MNIST ``split`` ("train" | "test") from IDX files under root -> images [N, 28, 28, 1], labels [N] (None
    when only the image file is there)."""
    if split not in MNIST_FILES:
        raise ValueError(f"read_mnist: split must be 'train' or 'test', got {split!r}")
    root = Path(root).expanduser()
    img_stem, lbl_stem = MNIST_FILES[split]
    img_path = find_mnist_file(root, img_stem)
    if img_path is None and download:
        download_mnist(root, split)
        img_path = find_mnist_file(root, img_stem)
    if img_path is None and root.is_file():
        raise ValueError(f"{root} is a file: the MNIST root is the folder that holds {img_stem}.gz and the others")
    if img_path is None:
        raise FileNotFoundError(f"MNIST {split} images not found in {root}: expected {img_stem}.gz or {img_stem} "
                                f"(and {lbl_stem}[.gz]); add --data.init_args.download=true to fetch them")
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


def read_image_npz(path: str | Path) -> Arrays:
    """An .npz with uint8 ``images`` [N, H, W, C] (or [N, C, H, W] with C <= 3) and optional ``labels`` [N]."""
    path = Path(path)
    files, arrays = read_npz(path, ("images", "labels"))
    if "images" not in arrays:
        raise ValueError(f"{path}: expected an array 'images' [N, H, W, C], found {files}")
    images = arrays["images"]
    labels = arrays["labels"].astype(np.int64) if "labels" in arrays else None
    if images.ndim == 3:  # grayscale without a channel axis
        images = images[..., None]
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' must be uint8 [N, H, W, 1|3], got {images.dtype} {images.shape}")
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
    root = Path(root).expanduser()
    if root.suffix == ".npz":
        if not root.is_file():
            raise FileNotFoundError(f"CIFAR-10 file not found: {root}")
        return "npz", root
    if root.is_file() and root.name.lower().endswith((".tar.gz", ".tgz", ".tar")):
        raise ValueError(f"{root} is an archive: unpack it (tar -xzf {root.name}) and pass the folder it makes, "
                         f"{CIFAR_DIR}/ or {CIFAR_BIN_DIR}/, or the folder that holds it")
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
    raise FileNotFoundError(f"CIFAR-10 not found in {root}: expected {CIFAR_DIR}/ with data_batch_1..5 and "
                            f"test_batch (or {CIFAR_BIN_DIR}/ with the .bin batches), or one .npz with 'images' and "
                            "'labels'; add --data.init_args.download=true to fetch the batches")


def read_cifar10(root: str | Path, split: str = "train", download: bool = False) -> Arrays:
    """CIFAR-10 -> images [N, 32, 32, 3], labels [N].

    root may be the official ``cifar-10-batches-py`` folder (or the binary version's ``cifar-10-batches-bin``), its
    parent, an .npz file or a folder holding one .npz. ``split`` ("train" | "test") picks the official batches; an
    .npz is one pool and ignores it.
    """
    if split not in ("train", "test"):
        raise ValueError(f"read_cifar10: split must be 'train' or 'test', got {split!r}")
    root = Path(root).expanduser()
    try:
        kind, where = cifar10_source(root)
    except FileNotFoundError:
        if not download:
            raise
        download_cifar10(root)
        kind, where = cifar10_source(root)
    if kind == "npz":
        return read_image_npz(where)
    files = cifar10_batches(where, split)
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 {split} batches missing in {where}: {', '.join(missing)}")
    parts = [_read_cifar_bin(p) if p.suffix == ".bin" else _read_cifar_batch(p) for p in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---- folders of pictures and single pictures --------------------------------------------------------


SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # integer pictures of more than 8 bits a value
DIM_16_BIT = 4096  # a 16-bit picture whose values all lie below this uses 12 bits or fewer: it reads nearly black


def image_to_array(img: Image.Image, channels: int = 3) -> np.ndarray:
    """Any PIL image -> uint8 [H, W, channels] (1 or 3).

    16-bit pictures are scaled from their 0..65535 range (PIL's own convert would clip them to 255), every picture by
    the same factor, so a dark one stays dark; float pictures from 0..1 (or 0..255 when they exceed 1). Transparency
    is composited onto white rather than dropped, so palette/alpha PNGs look as they do in a viewer.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if img.mode in SIXTEEN_BIT_MODES or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)  # [H, W]
        top = 65535.0 if img.mode != "F" else (1.0 if arr.max(initial=0) <= 1.0 else 255.0)
        gray = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)  # [H, W]
        return gray[..., None] if channels == 1 else np.repeat(gray[..., None], 3, axis=-1)
    if has_alpha(img):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(canvas, rgba)
    arr = np.array(img.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)  # writable copy
    return arr[..., None] if channels == 1 else arr


def has_alpha(img: Image.Image) -> bool:
    """Whether a picture carries transparency (an alpha channel, or a palette's transparent entry)."""
    return (img.mode == "P" and "transparency" in img.info) or img.mode in ("RGBA", "LA", "PA", "La", "RGBa")


def transparent_share(img: Image.Image) -> float:
    """The share of a picture's pixels that are not fully opaque (0 for one without transparency), which
    :func:`image_to_array` composites onto white."""
    if not has_alpha(img):
        return 0.0
    alpha = np.asarray(img.convert("RGBA"))[..., 3]  # [H, W]
    return float((alpha < 255).mean())


def frame_count(img: Image.Image) -> int:
    """How many frames a picture holds: more than 1 for an animated GIF, PNG or WebP (or a TIFF of pages), of which
    :func:`open_image` reads the first. A JPEG that carries more pictures (MPO: a phone's gain map, a stereo camera's
    second view) is one picture, its first."""
    return 1 if img.format == "MPO" else int(getattr(img, "n_frames", 1))


def exif_orientation(img: Image.Image) -> int:
    """A picture's EXIF orientation, 2-8 where :func:`open_image` turns or mirrors it upright (ImageOps'
    exif_transpose: 5-8 swap its width and height), 1 where it is stored upright or records none (or a value outside
    1-8, which is not applied). Read once the picture is loaded: a PNG's getexif decodes it otherwise."""
    value = img.getexif().get(0x0112, 1)
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def dim_peak(img: Image.Image) -> int | None:
    """The largest value of a 16-bit picture that uses 12 bits or fewer (below ``DIM_16_BIT``: a 12-bit camera's or
    scanner's data), which reads as 0..15 of 255, nearly black; None for any other picture."""
    if img.mode not in SIXTEEN_BIT_MODES:
        return None
    peak = int(np.asarray(img).max(initial=0))
    return peak if peak < DIM_16_BIT else None


def dim_note(peak: int) -> str:
    """What a dim 16-bit picture (:func:`dim_peak`) reads as, and what to do."""
    return (f"16-bit pixels reach only {peak} of 65535 (12-bit data?), so they read as 0..{round(peak / 257)} of 255, "
            "nearly black: scale them to the 16-bit range (or save them as 8-bit)")


def centre_box(h: int, w: int) -> tuple[int, int, int]:
    """The centre square of a picture of h x w pixels that :func:`centre_square` keeps: its top row, left column and
    side."""
    s = min(w, h)
    return (h - s) // 2, (w - s) // 2, s


def centre_square(img: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to size x size (Lanczos, which also antialiases downscaling)."""
    top, left, s = centre_box(img.height, img.width)
    return img.crop((left, top, left + s, top + s)).resize((size, size), Image.Resampling.LANCZOS)


def colours_of(img: Image.Image) -> str:
    """What a picture's pixels hold: "grey" (one value a pixel, or red = green = blue everywhere, whatever the
    file's mode) or "RGB" (colours), for the lines that say how a picture was converted."""
    if set(img.getbands()) - {"A", "a"} <= {"L", "1", "I", "F"}:  # L, LA, 1-bit, 16-bit and float pictures
        return "grey"
    rgb = np.asarray(img.convert("RGB"))  # [H, W, 3]
    return "grey" if (rgb == rgb[..., :1]).all() else "RGB"


class Picture(NamedTuple):
    """A prediction's picture (its input or mask) as :func:`read_picture_colours` reads it, in one opening of its file:
    what the lines that say how it was read need (:func:`read_picture` reads the first two, the rest left as here)."""
    pixels: np.ndarray  # [H, W, channels] uint8, upright (or [size, size, channels])
    peak: int | None  # its dim_peak: None unless it is a dim 16-bit picture
    colours: str = ""  # what its pixels held before they were converted to channels: colours_of
    share: float = 0.0  # of its pixels not fully opaque, composited onto white: transparent_share
    frames: int = 1  # an animation's, of which the first is read: frame_count
    orientation: int = 1  # its EXIF orientation, 2-8 where it was set upright: exif_orientation


def read_picture(path: str | Path, size: int | None = None, channels: int = 3) -> tuple[np.ndarray, int | None]:
    """:func:`open_image`, and the :func:`dim_peak` of the picture (None unless it is a dim 16-bit one)."""
    picture = _decoded(path, size, channels, details=False)
    return picture.pixels, picture.peak


def read_picture_colours(path: str | Path, size: int | None = None, channels: int = 3) -> Picture:
    """:func:`read_picture`, and what the picture's pixels held before they were converted to ``channels``
    (:func:`colours_of`), its transparency, frames and EXIF orientation: for a prediction's input and mask, not for a
    folder's pictures (it reads every pixel again)."""
    return _decoded(path, size, channels, details=True)


def _decoded(path: str | Path, size: int | None, channels: int, details: bool) -> Picture:
    """A picture file, opened once -> its pixels [H, W, channels] uint8 (or [size, size, channels]), its dim_peak,
    and with ``details`` its colours, share, frames and orientation (else Picture's defaults)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder: expected one image file")
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            # a camera's EXIF orientation turns the picture upright, as viewers show it
            upright = ImageOps.exif_transpose(img)
            arr = image_to_array(upright, channels)  # [H, W, channels]
            picture = Picture(arr if size is None else square_array(arr, size), dim_peak(upright))
            if details:
                picture = picture._replace(colours=colours_of(upright), share=transparent_share(img),
                                           frames=frame_count(img), orientation=exif_orientation(img))
    except Image.DecompressionBombError as e:  # more pixels than PIL reads (Image.MAX_IMAGE_PIXELS)
        raise ValueError(f"{path}: not a readable image (too large: {e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image (expected PNG/JPEG/BMP/WebP; {e})") from None
    return picture


def square_array(arr: np.ndarray, size: int) -> np.ndarray:
    """uint8 pixels [H, W, C] (C = 1 or 3) -> [size, size, C]: :func:`centre_square`."""
    pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    out = np.array(centre_square(pil, size))  # [size, size] or [size, size, 3]
    return out[..., None] if arr.shape[-1] == 1 else out


def open_image(path: str | Path, size: int | None = None, channels: int = 3) -> np.ndarray:
    """One picture file -> uint8 [H, W, channels], centre-cropped and resized to size if given; a 16-bit picture of
    12 bits or fewer is read as it is (nearly black) with a warning (:func:`dim_peak`)."""
    arr, peak = read_picture(path, size, channels)
    if peak is not None:
        warnings.warn(f"{Path(path).expanduser()}: {dim_note(peak)}", stacklevel=2)
    return arr


def list_images(root: str | Path) -> list[Path]:
    """Every picture under root, recursively, sorted so that the order is the same on every machine; hidden files
    and folders (macOS ``._name.jpg``, ``.thumbnails/``) are not pictures of the dataset."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file: expected a folder of {'/'.join(IMAGE_SUFFIXES)} files")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (expected a folder of {'/'.join(IMAGE_SUFFIXES)} files)")
    return data_files(root, IMAGE_SUFFIXES, unread=UNREAD_PICTURES)


def read_image_folder(root: str | Path, size: int = 64, progress: bool = True,
                      files: list[Path] | None = None, channels: int = 3) -> Arrays:
    """Every picture (:data:`IMAGE_SUFFIXES`) under root (or those of ``files``, from :func:`list_images`) -> images
    [N, size, size, C] (RGB, or grey for channels=1), labels None. Unreadable files are skipped with one warning that counts them."""
    files = list_images(root) if files is None else files
    images, notes = decode_folder(root, files, size, progress, channels)
    warn_folder_notes(root, notes)
    return images, None


def decode_folder(root: str | Path, files: list[Path], size: int, progress: bool = True,
                  channels: int = 3) -> tuple[np.ndarray, dict]:
    """The pictures of ``files`` -> images [N, size, size, C] and what to tell about them (:func:`warn_folder_notes`):
    ``{"files": how many, "skipped": [unreadable ones], "dim": [dim 16-bit ones], "small": [ones smaller than size,
    upscaled]}``, each "name: why" (the file's path under root).

    Each picture is written into one array as it is read, laid out channel by channel ([N, C, size, size] in memory,
    seen as [N, size, size, C]), so a folder takes its pixels' bytes once: gathering the pictures and stacking them
    took twice that, and a DataModule's channel-first copy (``torch.permute(0, 3, 1, 2)``) a third time."""
    if not files:
        raise ValueError(f"no images in {root}: expected {'/'.join(IMAGE_SUFFIXES)} files (searched recursively)")
    out = np.empty((len(files), channels, size, size), dtype=np.uint8).transpose(0, 2, 3, 1)  # [N, size, size, C]
    kept, skipped, dim, small = 0, [], [], []
    for p in loop_progress(files, f"reading {Path(root).name}", unit="picture", enabled=progress and len(files) >= 500):
        name = p.relative_to(root) if p.is_relative_to(root) else p.name
        try:
            arr, peak = read_picture(p, channels=channels)  # [h, w, C], the file's size
        except ValueError as e:  # the reader's line names the file by its whole path, not repeated after its name
            skipped.append(f"{name}: {str(e).removeprefix(f'{p}: ')}")
            continue
        h, w = arr.shape[:2]
        if min(h, w) < size:  # its square is upscaled: pixels that interpolation made up
            small.append(f"{name}: {w}×{h}")
        out[kept] = square_array(arr, size)  # [size, size, C]
        kept += 1
        if peak is not None:
            dim.append(f"{name}: {dim_note(peak)}")
    if not kept:
        raise ValueError(f"none of the {len(files)} image files in {root} could be read (first: {skipped[0]})")
    return out[:kept], {"files": len(files), "skipped": skipped, "dim": dim, "small": small, "size": size}


def warn_folder_notes(root: str | Path, notes: dict) -> None:
    """One warning for a folder's unreadable files, one for its dim 16-bit pictures and one for its pictures smaller
    than the size they are read at (:func:`decode_folder`)."""
    skipped, dim, small = notes["skipped"], notes["dim"], notes["small"]
    kept = notes["files"] - len(skipped)

    def among(found: list[str]) -> str:  # "1 of the 3 pictures read in <root> is", "2 of ... are": the verb agrees
        if len(found) == kept == 1:
            return f"the one picture read in {root} is"
        return f"{len(found)} of the {kept} pictures read in {root} {'is' if len(found) == 1 else 'are'}"

    def first(found: list[str]) -> str:  # the file named, "first: " only where there are more
        return found[0] if len(found) == 1 else f"first: {found[0]}"

    if skipped:
        warn_rank_zero(f"skipped {len(skipped)} of {notes['files']} unreadable files in {root} (first: {skipped[0]})")
    if dim:
        warn_rank_zero(f"{among(dim)} 16-bit and nearly black ({first(dim)})")
    if small:
        size, one = notes["size"], len(small) == 1
        warn_rank_zero(f"{among(small)} smaller than {size}×{size}, so {'it was' if one else 'they were'} upscaled to "
                       f"interpolated pixels ({first(small)}): give a smaller --data.init_args.image_size, or leave "
                       f"{'it' if one else 'them'} out")


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
    root = Path(root).expanduser()
    for stem in MNIST_FILES[split]:
        if find_mnist_file(root, stem) is None:
            name = stem + ".gz"
            _fetch(MNIST_URL + name, root / name, MNIST_MD5[name])


def download_cifar10(root: str | Path) -> None:
    """Fetch and unpack the official CIFAR-10 python batches into root/cifar-10-batches-py (md5 verified). An
    archive already in root (the user's download) is unpacked where it lies and kept; a fetched one is deleted."""
    root = Path(root).expanduser()
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
