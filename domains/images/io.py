"""Reading pictures: one picture file -> uint8 [H, W, C], a folder of them -> images [N, H, W, C] (C = 1 or 3).

A picture is read as a viewer shows it: turned upright by its EXIF orientation, its transparency composited onto
white, 16-bit values scaled from their whole range (a dim one, of 12 bits or fewer, told of: :func:`dim_peak`; 32-bit
and float ones past their scale refused: :func:`beyond_its_scale`), the first frame of an animation; centre-cropped to
a square and resized where a size is asked (:func:`open_image`; :func:`read_picture_colours` also says how a
prediction's input or mask was converted). A folder's pictures are found recursively and sorted, and unreadable ones
are skipped with one warning (:func:`read_image_folder`). The datasets' own file formats (MNIST, CIFAR-10, an .npz,
scikit-learn's digits) and their downloads are datasets.py's.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from pixeltransformer.errors import upscaled_among, warn_rank_zero
from pixeltransformer.files import data_files, root_option, user_path
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.splits import SPLITS

# the pictures a folder's files are read as: JPEG under its other names (.jpe, .jfif, as browsers save it) and WebP
# (where this PIL reads it), which a single picture (--input) was read as already
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp") + ((".webp",) if features.check("webp") else ())
# pictures a folder may hold that are not read: named in one warning, rather than left out without a word
UNREAD_PICTURES = tuple(s for s in (".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif", ".jp2")
                        if s not in IMAGE_SUFFIXES)

Arrays = tuple[np.ndarray, "np.ndarray | None"]


def warn_if_unscaled(pixels: np.ndarray, where: str | Path) -> None:
    """Warn when 8-bit pixels (any shape, uint8) are all 0 or 1: 0..1 values saved as 8-bit, which read as black."""
    if pixels.size and int(pixels.max()) <= 1:
        warn_rank_zero(f"{where}: every pixel is 0 or 1 of 255, so the pictures read as black: were 0..1 values saved "
                       "as 8-bit? Scale them to 0..255", stacklevel=3)


# ---- folders of pictures and single pictures --------------------------------------------------------


SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # integer pictures of more than 8 bits a value
DIM_16_BIT = 4096  # a 16-bit picture whose values all lie below this uses 12 bits or fewer: it reads nearly black
# sub-folders whose pictures' median short sides differ this many times over are told of: 64x64 crops beside the
# whole photos they were cut from (a root one level too high) are not one dataset
MIXED_SIZES = 4


def image_to_array(img: Image.Image, channels: int = 3) -> np.ndarray:
    """Any PIL image -> uint8 [H, W, channels] (1 or 3).

    16-bit pictures are scaled from their 0..65535 range (PIL's own convert would clip them to 255), every picture by
    the same factor, so a dark one stays dark, and so are 32-bit integer ones (mode I) whose values fit it: a reader
    refuses those whose values do not (:func:`beyond_its_scale`), which this would clip; float pictures (mode F) from
    0..1 (or 0..255 when they exceed 1), those past 0..255 refused alike. Transparency is composited onto white
    rather than dropped, so palette/alpha PNGs look as they do in a viewer.
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
    arr = np.array(converted(img, "L" if channels == 1 else "RGB"), dtype=np.uint8)  # writable copy
    return arr[..., None] if channels == 1 else arr


def converted(img: Image.Image, mode: str) -> Image.Image:
    """``img.convert(mode)``, by way of RGB where PIL has no direct conversion: a CIE L*a*b* picture (a TIFF's LAB
    mode) converts to RGB but not to grey."""
    try:
        return img.convert(mode)
    except ValueError:
        return img.convert("RGB").convert(mode)


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


def first_frame(frames: int) -> str:
    """What reading a picture of ``frames`` frames (:func:`frame_count`, more than 1) keeps, in words, for the lines
    that say how a prediction's input or mask was read."""
    return f"the first of its {frames} frames (an images model reads one picture)"


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


class AtMost(int):
    """A 16-bit picture's peak known to its high byte alone (:func:`wide_colour`): it is at most this."""


def wide_colour(img: Image.Image) -> bool:
    """Whether PIL reads a picture of 16 bits a value as 8-bit, keeping each value's high byte: a 16-bit colour PNG
    (raw mode RGB;16B, or RGBA;16B and LA;16B with alpha), which has no 16-bit mode in PIL. Asked before the picture
    is loaded, which drops the tiles that name its raw mode."""
    raw = [t[3] if isinstance(t[3], str) else (t[3] or ("",))[0] for t in img.tile]  # each tile's raw mode
    return img.mode not in SIXTEEN_BIT_MODES and any(";16" in str(mode) for mode in raw)


def dim_peak(img: Image.Image, wide: bool = False) -> int | None:
    """The largest value of a 16-bit picture that uses 12 bits or fewer (below ``DIM_16_BIT``: a 12-bit camera's or
    scanner's data), which reads as 0..15 of 255, nearly black; None for any other picture. A 16-bit colour picture
    (``wide``: :func:`wide_colour`), read as its values' high bytes, gives the most its peak can be (:class:`AtMost`)."""
    if wide:
        top = int(np.asarray(img.convert("RGB")).max(initial=0))  # the high byte of its largest colour value
        return AtMost(top * 256 + 255) if top < DIM_16_BIT // 256 else None
    if img.mode not in SIXTEEN_BIT_MODES:
        return None
    peak = int(np.asarray(img).max(initial=0))
    return peak if peak < DIM_16_BIT else None


def dim_note(peak: int) -> str:
    """What a dim 16-bit picture (:func:`dim_peak`) reads as, and what to do."""
    reach, read = (f"at most {peak}", peak // 256) if isinstance(peak, AtMost) else (f"only {peak}", round(peak / 257))
    return (f"16-bit pixels reach {reach} of 65535 (12-bit data?), so they read as 0..{read} of 255, "
            "nearly black: scale them to the 16-bit range (or save them as 8-bit)")


def beyond_its_scale(img: Image.Image) -> str | None:
    """Why a 32-bit integer picture (PIL's mode I: a TIFF's) or a float one (mode F) is not read: values outside the
    scale :func:`image_to_array` reads it on (0..65535; 0..1 or 0..255), which would be clipped to black or white, and
    which have no known range to be scaled from instead (a depth map's millimetres, a sensor's counts: guessing one
    would change what the model is given), or NaN or infinite values; None for any other picture, and for one whose
    values fit its scale."""
    if img.mode not in ("I", "F"):
        return None
    integer = img.mode == "I"
    values = np.asarray(img)  # [H, W] int32 or float32
    if not integer and not np.isfinite(values).all():  # NaN spans nan..nan, whatever the other pixels' range
        return ("its float pixels hold NaN or infinity, which have no brightness: save it as 16-bit or 8-bit, with a "
                "value in their place")
    lo, hi = (values.min(), values.max()) if values.size else (0, 0)
    if 0 <= lo and hi <= (65535 if integer else 255):
        return None
    if integer:
        kind, scale, span = "32-bit", "0..65535 a picture of more than 8 bits", f"{int(lo)}..{int(hi)}"
    else:  # float32 values as they are written: 0.1, not 0.10000000149011612
        kind, scale = "float", "0..1 or 0..255 a float picture"
        span = "..".join(np.format_float_positional(v, trim="-") for v in (lo, hi))
    return (f"its {kind} pixels span {span}, outside the {scale} is read on, and no range of theirs is known: "
            "save it as 16-bit or 8-bit, scaled as it should look")


def centre_square(img: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to size x size (Lanczos, which also antialiases downscaling)."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
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
    path = user_path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: expected one image file")
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            wide = wide_colour(img)  # before the load, which drops the raw mode that tells it
            img.load()
            # a camera's EXIF orientation turns the picture upright, as viewers show it
            upright = ImageOps.exif_transpose(img)
            if (why := beyond_its_scale(upright)) is not None:  # its scale would clip them
                raise ValueError(f"{path}: {why}")
            arr = image_to_array(upright, channels)  # [H, W, channels]
            picture = Picture(arr if size is None else square_array(arr, size), dim_peak(upright, wide))
            if details:
                picture = picture._replace(colours=colours_of(upright), share=transparent_share(img),
                                           frames=frame_count(img), orientation=exif_orientation(img))
    except Image.DecompressionBombError as e:  # more pixels than PIL reads (Image.MAX_IMAGE_PIXELS)
        raise ValueError(f"{path}: not a readable image (too large: {e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        # an .npz of pictures or MNIST's IDX file (make sample INPUT=<the dataset>, or a mask), which no prediction
        # reads whole; worded for an input and a mask alike
        dataset = path.name.lower().endswith((".npz", ".npy", ".gz", "-ubyte"))
        remedy = "; a dataset file: a prediction reads one picture; save the one wanted as .png" if dataset else ""
        raise ValueError(f"{path}: not a readable image (expected PNG/JPEG/BMP/WebP; {e}){remedy}") from None
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
        warnings.warn(f"{user_path(path)}: {dim_note(peak)}", stacklevel=2)
    return arr


def list_images(root: str | Path) -> list[Path]:
    """Every picture under root, recursively, sorted so that the order is the same on every machine; hidden files
    and folders (macOS ``._name.jpg``, ``.thumbnails/``) are not pictures of the dataset."""
    root = user_path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file: expected a folder of {'/'.join(IMAGE_SUFFIXES)} files")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (expected a folder of {'/'.join(IMAGE_SUFFIXES)} files)")
    return data_files(root, IMAGE_SUFFIXES, unread=UNREAD_PICTURES)


def pictures_in(folder: Path, limit: int = 2) -> list[Path]:
    """The first ``limit`` picture files in folder itself or below its split folders (train/, val/, test/), as
    :func:`list_images` finds them; none where folder is not a folder. A quick look at what a folder given for another
    dataset holds, where a download would write: a shared data root's sub-folders (cats/, another dataset's) are not
    walked."""
    if not folder.is_dir():
        return []
    found = data_files(folder, IMAGE_SUFFIXES, missing=[], limit=limit, below=False)
    for split in sorted(SPLITS):  # in name order, as a walk of the folder reads them
        if len(found) < limit and (folder / split).is_dir():
            found += data_files(folder / split, IMAGE_SUFFIXES, missing=[], limit=limit - len(found))
    return found


def no_images(root: str | Path, held: str | None = None) -> str:
    """The line for a folder that holds no picture file; ``held``: what it holds instead, and what reads it."""
    return (f"no images in {root}: expected {'/'.join(IMAGE_SUFFIXES)} files (searched recursively)"
            + (f"; it holds {held}" if held else ""))


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
    upscaled], "folders": {sub-folder: [pictures read, their median short side]}}``, each "name: why" (the file's
    path under root; a small one's "name, w×h"; the sub-folder "." for root's own files).

    Each picture is written into one array as it is read, laid out channel by channel ([N, C, size, size] in memory,
    seen as [N, size, size, C]), so a folder takes its pixels' bytes once: gathering the pictures and stacking them
    took twice that, and a DataModule's channel-first copy (``torch.permute(0, 3, 1, 2)``) a third time."""
    if not files:
        raise ValueError(no_images(root))
    out = np.empty((len(files), channels, size, size), dtype=np.uint8).transpose(0, 2, 3, 1)  # [N, size, size, C]
    kept, skipped, dim, small, sides = 0, [], [], [], {}
    for p in loop_progress(files, f"reading {Path(root).name}", unit="picture", enabled=progress and len(files) >= 500):
        name = p.relative_to(root) if p.is_relative_to(root) else p.name
        try:
            arr, peak = read_picture(p, channels=channels)  # [h, w, C], the file's size
        except ValueError as e:  # the reader's line names the file by its whole path, not repeated after its name
            skipped.append(f"{name}: {str(e).removeprefix(f'{p}: ').replace(f' {str(p)!r}', '')}")  # PIL's names it
            continue
        h, w = arr.shape[:2]
        sides.setdefault(str(Path(name).parent), []).append(min(h, w))
        if min(h, w) < size:  # its square is upscaled: pixels that interpolation made up
            small.append(f"{name}, {w}×{h}")
        out[kept] = square_array(arr, size)  # [size, size, C]
        kept += 1
        if peak is not None:
            dim.append(f"{name}: {dim_note(peak)}")
    if not kept:
        raise ValueError(f"none of the {len(files)} image files in {root} could be read (first: {skipped[0]})")
    folders = {d: [len(found), int(np.median(found))] for d, found in sides.items()}
    return out[:kept], {"files": len(files), "skipped": skipped, "dim": dim, "small": small, "size": size,
                        "folders": folders}


def warn_folder_notes(root: str | Path, notes: dict, sizes: dict | None = None) -> None:
    """One warning for a folder's unreadable files, one for its dim 16-bit pictures, one for its pictures smaller
    than the size they are read at and one for sub-folders of very different picture sizes (:func:`decode_folder`),
    or, given ``sizes``, the sub-folders' sizes added to it (told once for a dataset's split folders)."""
    skipped, dim, small = notes["skipped"], notes["dim"], notes["small"]
    kept = notes["files"] - len(skipped)

    def among(found: list[str]) -> str:  # "1 of the 3 pictures read in <root> is", "2 of ... are": the verb agrees
        if len(found) == kept == 1:
            return f"the one picture read in {root} is"
        return f"{len(found)} of the {kept} pictures read in {root} {'is' if len(found) == 1 else 'are'}"

    def first(found: list[str]) -> str:  # the file named, "first: " only where there are more
        return found[0] if len(found) == 1 else f"first: {found[0]}"

    if skipped:
        one = len(skipped) == 1
        warn_rank_zero(f"{len(skipped)} of the {notes['files']} files in {root} {'is' if one else 'are'} unreadable, "
                       f"skipped ({first(skipped)}): remove or replace {'it' if one else 'them'}")
    if dim:
        warn_rank_zero(f"{among(dim)} 16-bit and nearly black ({first(dim)})")
    if small:
        size = notes["size"]
        warn_rank_zero(upscaled_among(among(small), f"{size}×{size}", small, kept, "--data.init_args.image_size"))
    if sizes is None:
        warn_mixed_sizes(root, notes["folders"])
    else:
        sizes.update(notes["folders"])


def folder_group(folder: str, layout: bool = False) -> tuple[str, str | None]:
    """A picture folder's group, the sub-folder directly under the root ("." for the root's own pictures), and with
    ``layout`` (train/, val/ and test/ folders, at any depth) the split folder that holds the group: the split part
    is dropped, so faces/train/ and train/faces/ are both faces/, held by train/ only in the second (None above)."""
    parts = Path(folder).parts
    at = next((i for i, part in enumerate(parts) if part in SPLITS), None) if layout else None
    held = parts[0] if at == 0 else None
    if at is not None:
        parts = parts[:at] + parts[at + 1:]
    return (parts[0] if parts else "."), held


def sub_folder_sizes(folders: dict[str, list[int]], group_of: dict[str, str]) -> dict[str, list[int]]:
    """The notes' picture folders (:func:`decode_folder`) grouped as ``group_of`` names them (:func:`folder_group`):
    [pictures, median short side] each, the median of the folders' medians weighted by their pictures."""
    groups: dict[str, list[list[int]]] = {}
    for d, found in folders.items():
        groups.setdefault(group_of[d], []).append(found)
    summed: dict[str, list[int]] = {}
    for g, found in groups.items():
        counts, sides = zip(*found)
        summed[g] = [sum(counts), int(np.median(np.repeat(sides, counts)))]
    return summed


def warn_mixed_sizes(root: str | Path, folders: dict[str, list[int]], splits: list[str] | None = None) -> None:
    """One line when the sub-folders read as one dataset hold pictures of very different sizes (:data:`MIXED_SIZES`):
    the smallest and the largest named, and the root that reads one of them alone (with the train/, val/ and test/
    folders ``splits`` below it, a folder above them), or, for the root's own pictures or a folder in the split
    folders, the sub-folder to move out of those that hold it."""
    placed = {d: folder_group(d, bool(splits)) for d in folders}  # folder -> (its group, the split folder holding it)
    held = {s: set() for s in splits or ()}  # each split folder's groups, those it holds
    for group, split in placed.values():
        if split is not None:
            held.setdefault(split, set()).add(group)
    folders = sub_folder_sizes(folders, {d: group for d, (group, _) in placed.items()})
    if len(folders) < 2:
        return
    order = sorted(folders, key=lambda d: folders[d][1])  # by median short side
    low, high = order[0], order[-1]
    if folders[high][1] < MIXED_SIZES * folders[low][1]:
        return
    among = f" (of {len(folders)} sub-folders)" if len(folders) > 2 else ""
    own = "the split folders'" if splits else f"{root}'s"

    def named(d: str) -> str:  # "." is the root's (or the split folders') own pictures
        return f"{own} own pictures" if d == "." else f"{d}/"

    def holders(d: str) -> list[str]:  # the split folders that hold d, in their order
        return [s for s in held if d in held[s]]

    subs = [d for d in (low, high) if d != "."]
    keep = max(subs, key=lambda d: folders[d][0])
    if "." in (low, high) or holders(keep):  # no root reads one alone: the other is moved out
        other = min(subs, key=lambda d: folders[d][0])
        ins = [f"{s}/" for s in holders(other)]
        where = f"each of its {', '.join(ins)} folders" if len(ins) > 1 else f"its {ins[0]} folder" if ins else root
        remedy = f"move {other}/ out of {where}"
    else:
        remedy = f"pass it as root ({root_option(Path(root) / keep)})"
    warn_rank_zero(f"{root}: its pictures come from sub-folders of very different sizes, read as one dataset: "
                   f"{named(low)} ({folders[low][0]} pictures, median short side {folders[low][1]} px) and "
                   f"{named(high)} ({folders[high][0]}, {folders[high][1]} px){among}; if only one is the dataset, "
                   f"{remedy}")
