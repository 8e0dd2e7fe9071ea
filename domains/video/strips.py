"""Strips of frames: pictures of square frames stacked top to bottom, first frame on top, as TinyVideos stores its
clips (a JPEG, or a still PNG; an animated PNG is a video). Which file of a folder of videos is a strip
(:func:`is_strip_file`), its frames decoded (:func:`read_strip`, through io.py's :func:`read_video_file`) or counted
from its header and last bytes alone (:func:`strip_length`, :func:`strip_problem`), and the size of the frames any
file of such a folder gives, a strip's or a video's, from its header, and its frame rate (:func:`rate_and_size`, the
one place the two are told apart by the kind of file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from pixeltransformer.arrays import npz_shape
from pixeltransformer.errors import first_line
from pixeltransformer.files import by_stamp

from .io import VideoDecodeError, decoded_by_pillow, delays_rate, probe_container, read_video_file

# in a folder of videos: frames stacked top to bottom (TinyVideos); an animated PNG is a video (is_strip_file)
STRIP_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_strip_file(path: Path) -> bool:
    """Whether a file in a folder of videos is a strip of frames (a JPEG or a still PNG) rather than a video: an
    animated PNG (APNG) is a video, its frames its own. JPEGs are not asked: a camera's (MPO) holds a second picture
    that is no frame."""
    suffix = path.suffix.lower()
    if suffix not in STRIP_SUFFIXES:
        return False
    if suffix != ".png":
        return True
    # a start asks of each PNG several times (source_videos, read_video_folder, frame_size, load_user_video): it is
    # opened once, and again once it changes
    return _still_png(path)


@by_stamp()  # a folder's PNGs are asked in turn, pass after pass
def _still_png(path: str) -> bool:
    """Whether the PNG at ``path`` holds one frame (True where it cannot be opened: strip_length names why)."""
    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) < 2
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError):  # strip_length names why
        return True


def frame_size(path: str | Path) -> tuple[int, int] | None:
    """The (h, w) of a video file's frames as they are decoded (:func:`rate_and_size`, its rate not asked)."""
    return rate_and_size(path, rate=None)[1]


def npz_clips_shape(path: Path) -> tuple[int, ...] | None:
    """The shape [N, T, H, W, 3] of an .npz's ``videos``, from its header; None where it does not say or gives another
    shape, as [N, T, 3, H, W] (read_video_npz names why)."""
    shape = npz_shape(path, "videos")
    return shape if shape is not None and len(shape) == 5 and shape[4] == 3 else None


def npz_frame_size(path: Path) -> tuple[int, int] | None:
    """The (h, w) of the frames of an .npz's ``videos`` [N, T, H, W, 3], from its header (:func:`npz_clips_shape`)."""
    shape = npz_clips_shape(path)
    return None if shape is None else (shape[2], shape[3])


def rate_and_size(
    path: str | Path,
    frames: int | None = None,
    probe: Callable[[Path], tuple[float | None, tuple[int, int] | None]] = probe_container,
    rate: Callable[[Path, int | None], float | None] | None = delays_rate,
) -> tuple[float | None, tuple[int, int] | None]:
    """The frames a second a player shows ``path`` at and the (h, w) of its frames as they are decoded (a strip's: its
    width, square); None for what an .npz or a file does not say. A container's both come from ``probe`` (one ffmpeg
    process a start, :func:`io.probe_container`); a GIF's or picture's rate from ``rate``, its frame delays over the
    first ``frames`` frames (:func:`io.delays_rate`; None: not asked), and its size from its header."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return None, npz_frame_size(path)
    if not decoded_by_pillow(path):
        return probe(path)  # upright and of square pixels, as the frames are handed on
    try:
        with Image.open(path) as image:
            w, h = image.size
        size = (w, w) if strip_frames(path) is not None else (h, w)
    except (OSError, ValueError, RuntimeError, EOFError, SyntaxError, KeyError, TypeError):  # read already: unknown
        size = None
    return (None if rate is None else rate(path, frames)), size


def _strip_frames(path: str | Path, w: int, h: int) -> int:
    """The frames of a w x h strip; a picture that is not one is a VideoDecodeError naming its size."""
    if h % w or h < 2 * w:
        raise VideoDecodeError(f"{path}: a {w}x{h} picture is not a strip of square frames stacked top to bottom "
                               "(its height a whole multiple of its width: 2 frames or more)")
    return h // w


def read_strip(path: str | Path) -> np.ndarray:
    """A picture of square frames stacked top to bottom, first frame on top (TinyVideos' JPEG strips: 32 frames of
    128x128 in a 128 x 4096 picture) -> uint8 [F, W, W, 3]."""
    frame = read_video_file(path)[0]  # [H, W, 3]
    h, w = frame.shape[:2]
    return frame.reshape(_strip_frames(path, w, h), w, w, 3)  # [F, W, W, 3]


END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}  # the last bytes of a whole file


def strip_length(path: str | Path) -> int:
    """How many frames a strip holds, from the picture's header and its last bytes (nothing is decoded): what
    :func:`read_strip` will give, or the VideoDecodeError it would raise for a picture that is not a strip or not a
    picture. A file that does not end as a whole JPEG or PNG does (a copy cut short) is decoded to tell."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            end = END_MARKERS.get(img.format, b"")
            img.fp.seek(-len(end), 2)
            whole = img.fp.read() == end
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:  # UnidentifiedImageError: OSError
        raise VideoDecodeError.undecodable(path, first_line(err) or type(err).__name__) from err
    return _strip_frames(path, w, h) if whole else len(read_strip(path))


def strip_frames(path: str | Path) -> int | None:
    """How many frames a file read as a strip holds (:func:`is_strip_file`, then :func:`strip_length`: from its
    header); None for another file: not a strip's kind, or a picture that is no strip of square frames."""
    if not is_strip_file(Path(path)):
        return None
    try:
        return strip_length(path)
    except VideoDecodeError:
        return None


def strip_problem(path: str | Path) -> str | None:
    """None when a picture is a strip of square frames (:func:`strip_length`, from its header), else why not."""
    try:
        strip_length(path)
    except VideoDecodeError as err:
        return str(err).removeprefix(f"{path}: ")
    return None
