"""Reading and writing video files: frames in, clips out, mp4/GIF back.

Frames are uint8 arrays [F, H, W, 3] (RGB). Containers ffmpeg understands (mp4, avi, mov, ...) are decoded
with the imageio-ffmpeg backend (``imageio.v3`` plugin "FFMPEG"); GIFs, animated PNGs and WebPs go through pillow,
which composes delta frames and palettes into full frames. Transparent pixels (a GIF's transparent colour, a PNG's
alpha) are composited onto white, as the image domain reads pictures. Every decoded frame is one frame of a clip,
however long it is shown (a GIF's frame delays, a variable frame rate). Writing always goes through the ffmpeg binary
that imageio-ffmpeg ships, for mp4 (libx264, yuv420p) and for GIF (one palette built over the whole clip).
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import os
import re
import warnings
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence

from pixeltransformer.arrays import read_npz
from pixeltransformer.errors import counted, first_line, warn_rank_zero
from pixeltransformer.files import atomic_write, data_files
from pixeltransformer.layout import data_words
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.splits import SPLITS

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif", ".webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# in a folder of videos: frames stacked top to bottom (TinyVideos); an animated PNG is a video (is_strip_file)
STRIP_SUFFIXES = (".jpg", ".jpeg", ".png")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # grey pictures of more than 8 bits a value
GIF_SHORTEST_SHOWN = 100.0  # ms a browser shows a GIF frame of delay 0 or 10 ms for
GIF_FASTEST_FPS = 50  # 20 ms a frame: a GIF's delays are whole 10 ms steps, and one of 10 ms is shown for 100
PICTURE_FPS = 8  # frames a second of the videos written where neither the data nor an input file gives its rate
UNEVEN_DELAYS = 2.0  # a clip whose longest frame delay is more than this many times its shortest is not at one rate


class VideoDecodeError(ValueError):
    """A file that exists but cannot be decoded into RGB frames. One of :meth:`undecodable` keeps its ``path`` and
    ``reason`` apart, which a folder's skip warning words as a sentence, and whether the file is ``damaged`` (empty,
    cut short, broken), which another copy of it may mend, or holds no video a copy would give (sound alone)."""

    path: Path | None = None
    reason: str = ""
    damaged: bool = False

    @classmethod
    def undecodable(cls, path: str | Path, reason: str, damaged: bool = False) -> VideoDecodeError:
        """``cannot decode video <path>: <reason>``."""
        err = cls(f"cannot decode video {path}: {reason}")
        err.path, err.reason, err.damaged = Path(path), reason, damaged
        return err


def as_size(size: int | Sequence[int]) -> tuple[int, int]:
    """An int means a square (H, W)."""
    if isinstance(size, int):
        h = w = size
    else:
        h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"frame size must be positive, got {size}")
    return h, w


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """Greyscale [F, H, W] / [F, H, W, 1] or RGB [F, H, W, 3], with an alpha channel or without (grey + alpha
    [F, H, W, 2], RGBA [F, H, W, 4]) -> RGB uint8 [F, H, W, 3]; transparent pixels are composited onto white (the
    colour a transparent GIF pixel hides is arbitrary: its palette entry's)."""
    if frames.ndim == 3:
        frames = frames[..., None]  # [F, H, W, 1]
    if frames.ndim != 4 or frames.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"expected frames [F, H, W(, C)] with C in 1..4, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    c = frames.shape[-1]
    if c in (2, 4):
        alpha = frames[..., -1:].astype(np.uint16)  # [F, H, W, 1]
        colour = frames[..., :-1].astype(np.uint16)  # [F, H, W, C - 1]
        frames = ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)  # on white
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames)  # [F, H, W, 3]


def cover_size(src: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) that keeps the aspect of ``src`` and just covers ``target`` (the crop comes after)."""
    (h, w), (th, tw) = src, target
    scale = max(th / h, tw / w)
    return max(th, round(h * scale)), max(tw, round(w * scale))


def resize_and_crop(frames: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Scale frames [F, H, W, 3] uint8 so that they cover ``size`` (H', W') with the aspect kept (the
    shorter side, for a square target), then centre-crop -> [F, H', W', 3] uint8."""
    th, tw = as_size(size)
    f, h, w, _ = frames.shape
    if (h, w) == (th, tw):
        return frames
    rh, rw = cover_size((h, w), (th, tw))
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # [F, 3, H, W]
    if (rh, rw) != (h, w):
        # antialias: downscaling 720p to 32 px without it aliases badly
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)  # [F, 3, rh, rw]
    top, left = (rh - th) // 2, (rw - tw) // 2
    x = x[:, :, top : top + th, left : left + tw]  # [F, 3, H', W']
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()  # [F, H', W', 3]


@contextmanager
def _quiet_ffmpeg_size_note() -> Iterator[None]:
    """imageio-ffmpeg logs a warning whenever frames are read at another size, which is what we ask for."""
    logger = logging.getLogger("imageio_ffmpeg")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def decoded_by_pillow(path: Path) -> bool:
    """Whether pillow decodes ``path`` (a GIF, a picture); ffmpeg decodes every other container."""
    return path.suffix.lower() in (".gif",) + IMAGE_SUFFIXES


def is_strip_file(path: Path) -> bool:
    """Whether a file in a folder of videos is a strip of frames (a JPEG or a still PNG) rather than a video: an
    animated PNG (APNG) is a video, its frames its own. JPEGs are not asked: a camera's (MPO) holds a second picture
    that is no frame."""
    suffix = path.suffix.lower()
    if suffix not in STRIP_SUFFIXES:
        return False
    if suffix != ".png":
        return True
    try:
        stat = os.stat(path)
    except OSError:  # as a PNG that cannot be opened: strip_length names why
        return True
    # a start asks of each PNG several times (source_videos, read_video_folder, frame_size, load_user_video): it is
    # opened once, and again once it changes
    return _still_png(os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


@functools.lru_cache(maxsize=None)  # a folder's PNGs are asked in turn, pass after pass
def _still_png(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> bool:
    """Whether the PNG at ``path`` (an absolute path) holds one frame; the rest of the key is its stat, so that a
    rewritten file is opened again."""
    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) < 2
    except (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError):  # strip_length names why
        return True


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """The version of the ffmpeg binary that decodes containers: "n9.0.2-17-...", "4.4.2"; a git build "N-..."."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_version()


@functools.lru_cache(maxsize=1)
def _every_frame_once() -> list[str]:
    """ffmpeg's output option that hands on each decoded frame once. Without it, ffmpeg repeats and drops frames to
    a constant rate, so a variable-frame-rate video (phones record them) gave clips of repeated frames."""
    version = re.match(r"n?(\d+)\.(\d+)", ffmpeg_version())
    old = version is not None and (int(version[1]), int(version[2])) < (5, 1)  # -fps_mode came with 5.1
    return ["-vsync", "passthrough"] if old else ["-fps_mode", "passthrough"]


def _size_change(path: Path) -> str | None:
    """Where the frames of a GIF (or another picture of several frames) change size, in words; None where they do
    not, or where the file cannot tell."""
    try:
        with Image.open(path) as image:
            first = image.size
            for i, frame in enumerate(ImageSequence.Iterator(image)):
                if frame.size != first:
                    (w, h), (w1, h1) = frame.size, first
                    return f"frame {i + 1} is {w}x{h} pixels, but frame 1 is {w1}x{h1}: save its frames at one size"
    except (OSError, ValueError, EOFError, SyntaxError):  # a broken file: the reader's own words name it
        return None
    return None


def _iter_frames(path: Path, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
    """Decoded frames of one file, one [H, W, C] array at a time; with ``size``, ffmpeg scales while it
    decodes (aspect kept, covering ``size``), which is several times faster than decoding HD frames."""
    if decoded_by_pillow(path):
        with Image.open(path) as image:
            if image.mode in SIXTEEN_BIT_MODES:  # pillow's RGB(A) of them clips every value above 255 to white
                yield np.round(np.asarray(image, dtype=np.float64) / 65535 * 255).astype(np.uint8)  # [H, W]
                return
        # a mode makes pillow compose palette, transparency and delta frames into full frames; RGBA keeps what is
        # transparent, which to_rgb composites onto white (JPEG and BMP have no transparency)
        mode = "RGB" if path.suffix.lower() in (".jpg", ".jpeg", ".bmp") else "RGBA"
        # imageio reads every frame of a GIF or APNG, but only the first of an animated WebP unless asked for all
        index = ... if path.suffix.lower() == ".webp" else None
        try:
            frames = iio.imread(path, plugin="pillow", mode=mode, index=index)  # [F, H, W, C] or [H, W, C]
        except ValueError as err:  # numpy's words for frames that cannot be stacked name no frame and no size
            raise ValueError(_size_change(path) or str(err)) from err
        yield from (frames if frames.ndim == 4 else frames[None])
        return
    kwargs = dict(output_params=_every_frame_once())
    with _quiet_ffmpeg_size_note():
        if size is not None:
            # the size of the frames ffmpeg hands on: turned upright where the file says so (a phone's portrait
            # video is stored landscape with a display rotation, which recent ffmpeg reports in words imageio's
            # "rotate" does not read), so the aspect kept is the one a player shows
            with _pipes_left_to_gc():
                w, h = iio.immeta(path, plugin="FFMPEG")["size"]
            rh, rw = cover_size((h, w), size)
            kwargs = dict(size=(rw, rh), output_params=["-sws_flags", "area", *_every_frame_once()])
        yield from _closing_pipes(iio.imiter(path, plugin="FFMPEG", **kwargs))


@contextmanager
def _pipes_left_to_gc() -> Iterator[None]:
    """imageio-ffmpeg leaves the pipes of a reader that has ended (its ffmpeg process has exited) to the garbage
    collector, which warns for each (ResourceWarning, shown by pytest and ``python -X dev``): not ours to close."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


def _closing_pipes(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """ffmpeg's frames, each step (and the close) under _pipes_left_to_gc, never the caller's code between them."""
    try:
        while True:
            with _pipes_left_to_gc():
                frame = next(frames, None)
            if frame is None:
                return
            yield frame
    finally:  # closed early (max_frames): ffmpeg is stopped, as `yield from` would have passed the close on
        with _pipes_left_to_gc():
            frames.close()


def transparent_share(path: Path, max_frames: int | None = None) -> float:
    """The share of the pixels of the first ``max_frames`` frames (all: None) of a GIF, animated PNG or WebP or a
    picture that are not fully opaque, which frames are put on white for (:func:`to_rgb`); 0 for a file without
    transparency, and for a container ffmpeg decodes (its frames are read without their alpha)."""
    if not decoded_by_pillow(path):
        return 0.0
    clear = total = 0
    with closing(_iter_frames(path, None)) as frames:
        for i, frame in enumerate(frames):  # [H, W, C] or [H, W]
            if frame.ndim == 3 and frame.shape[-1] in (2, 4):
                clear += int((frame[..., -1] < 255).sum())
            total += frame.shape[0] * frame.shape[1]
            if i + 1 == max_frames:
                break
    return clear / max(total, 1)


def _decode_reason(err: BaseException) -> tuple[str, bool]:
    """Why a file gave no frames, in one line: the reader's first line, or where that is imageio's "Could not load
    meta information" (a damaged file, a file cut short, an audio file: all the same words), ffmpeg's reason from the
    log imageio appends; and whether that reason is damage (:attr:`VideoDecodeError.damaged`)."""
    text = str(err)
    first = (text.strip().splitlines() or [type(err).__name__])[0]
    streams = re.findall(r"Stream #\d+:\d+\S*: (\w+):", text)  # "Stream #0:0[0x1](und): Audio: aac ..."
    if streams and "Video" not in streams:
        kinds = ", ".join(sorted({kind.lower() for kind in streams}))
        return f"it holds no video stream, only {kinds}", False
    if "moov atom not found" in text:  # an mp4's index, written last: a recording or copy that did not finish
        return "it is damaged or cut short (ffmpeg: moov atom not found)", True
    if "Invalid data found when processing input" in text:
        return "ffmpeg finds no video in it (Invalid data found when processing input): not a video, or damaged", True
    return first, False


def read_video_file(path: str | Path, size: int | Sequence[int] | None = None, chunk: int = 64,
                    max_frames: int | None = None) -> np.ndarray:
    """All frames of a video (mp4/avi/mov/... via ffmpeg, GIF via pillow) -> uint8 [F, H, W, 3].

    With ``size``, frames are resized and centre-cropped while decoding (see :func:`resize_and_crop`),
    so a long HD video never sits in memory at full resolution. With ``max_frames``, decoding stops there: the
    first max_frames frames (all of a shorter video), and ffmpeg never decodes the rest of the file.

    Raises FileNotFoundError for a missing file and VideoDecodeError when nothing can be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    if path.stat().st_size == 0:  # ffmpeg's words for it are a damaged mp4's, pillow's an unknown format's
        raise VideoDecodeError.undecodable(path, "the file is empty", damaged=True)
    out: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        block = to_rgb(np.stack(pending))  # [f, H, W, 3]
        out.append(resize_and_crop(block, size) if size is not None else block)
        pending.clear()

    if max_frames is not None and max_frames < 1:
        raise ValueError(f"read_video_file: max_frames must be >= 1, got {max_frames}")
    read = 0
    try:
        with closing(_iter_frames(path, None if size is None else as_size(size))) as frames:  # closed: ffmpeg ends
            for frame in frames:
                if pending and frame.shape != pending[0].shape:  # a GIF may change size mid-way; treat as broken
                    raise ValueError(f"frame size changes from {pending[0].shape} to {frame.shape}")
                pending.append(np.asarray(frame))
                read += 1
                if len(pending) == chunk:
                    flush()
                if read == max_frames:
                    break
        if pending:
            flush()
    except Exception as err:  # ffmpeg/pillow raise OSError, RuntimeError, ValueError, ... for broken files
        raise VideoDecodeError.undecodable(path, *_decode_reason(err)) from err
    if not out:
        raise VideoDecodeError.undecodable(path, "no frames")
    return np.concatenate(out)  # [F, H, W, 3]


def frame_delays(path: str | Path, frames: int | None = None) -> list[float]:
    """How long each of the first ``frames`` frames (all of them: None) of an animated GIF, PNG (APNG) or WebP is
    shown, in milliseconds (pillow's ``info["duration"]`` of each frame; 0 where the file gives none; a GIF's 0 and 10
    ms are GIF_SHORTEST_SHOWN); [] for a picture of one frame, a file of another kind, or one that cannot tell."""
    path = Path(path)
    if path.suffix.lower() not in (".gif", ".png", ".webp"):
        return []
    delays = []
    try:
        with Image.open(path) as image:
            count = getattr(image, "n_frames", 1)
            if count < 2:
                return []
            for i in range(count if frames is None else min(frames, count)):
                image.seek(i)
                if image.format == "WEBP":  # a WebP frame's duration is read with its pixels
                    image.load()
                delay = float(image.info.get("duration") or 0)
                # a GIF's delays of 0 and 10 ms are shown for 100 ms by browsers, which GIFs are made for
                delays.append(GIF_SHORTEST_SHOWN if image.format == "GIF" and delay <= 10 else delay)
    except (OSError, ValueError, EOFError, SyntaxError):  # the frames were read: only their delays are unknown
        return []
    return delays


def frame_rate(path: str | Path, frames: int | None = None) -> float | None:
    """The frames a second a player shows ``path`` at: a container's frame rate (ffmpeg's); an animated GIF's, PNG's
    or WebP's from the delays of its first ``frames`` frames (all: None), their mean; None for a still picture, an
    .npz, or a file that does not say."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if decoded_by_pillow(path):
            delays = frame_delays(path, frames)  # ms each
            rate = 1000 * len(delays) / sum(delays) if sum(delays) > 0 else None
        elif suffix == ".npz":
            rate = None
        else:
            with _pipes_left_to_gc():
                rate = iio.immeta(path, plugin="FFMPEG").get("fps")
    except (OSError, ValueError, RuntimeError, EOFError, SyntaxError):  # the frames were read: only the rate is unknown
        return None
    return float(rate) if isinstance(rate, (int, float)) and 0 < rate < math.inf else None


def uneven_delays(path: str | Path, frames: int | None = None) -> tuple[float, float] | None:
    """The shortest and longest delay (ms) of the first ``frames`` frames of an animated GIF, PNG or WebP when the
    longest is more than UNEVEN_DELAYS times the shortest (a pause held on one frame, frames of 0 ms beside others):
    no one frame rate plays them as the file does. None where they are about even, or where the file has none."""
    delays = frame_delays(path, frames)
    if len(delays) < 2 or max(delays) <= UNEVEN_DELAYS * min(delays):
        return None
    return min(delays), max(delays)


def frame_size(path: str | Path) -> tuple[int, int] | None:
    """The (h, w) of a video file's frames as they are decoded (a strip's: its width, square), from its header alone;
    None for an .npz or a file that does not say."""
    path = Path(path)
    try:
        if decoded_by_pillow(path):
            with Image.open(path) as image:
                w, h = image.size
            return (w, w) if is_strip_file(path) and strip_problem(path) is None else (h, w)
        if path.suffix.lower() == ".npz":
            return None
        with _pipes_left_to_gc():
            w, h = iio.immeta(path, plugin="FFMPEG")["size"]  # upright, as the frames are handed on
        return int(h), int(w)
    except (OSError, ValueError, RuntimeError, EOFError, SyntaxError, KeyError, TypeError):  # read already: unknown
        return None


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


def strip_problem(path: str | Path) -> str | None:
    """None when a picture is a strip of square frames (:func:`strip_length`, from its header), else why not."""
    try:
        strip_length(path)
    except VideoDecodeError as err:
        return str(err).removeprefix(f"{path}: ")
    return None


def clip_span(num_frames: int, frame_step: int = 1) -> int:
    """The frames of a video a clip of ``num_frames`` frames ``frame_step`` apart covers, its first to its last."""
    return (num_frames - 1) * frame_step + 1


def num_clips(num_frames_total: int, num_frames: int, stride: int, frame_step: int = 1) -> int:
    """How many clips of ``num_frames`` frames (``frame_step`` apart), started every ``stride`` frames,
    fit in a video of ``num_frames_total`` frames."""
    if num_frames < 1 or stride < 1 or frame_step < 1:
        raise ValueError(f"num_frames, stride and frame_step must be >= 1, got {num_frames}, {stride}, {frame_step}")
    span = clip_span(num_frames, frame_step)
    return 0 if num_frames_total < span else (num_frames_total - span) // stride + 1


def fewer_frames(length: int, num_frames: int, frame_step: int = 1) -> str:
    """The remedy for videos of at most ``length`` frames, too short for a clip of ``num_frames`` frames
    ``frame_step`` apart, in words: the most frames a clip of them can take, or the videos a clip needs."""
    span = clip_span(num_frames, frame_step)
    return (f"give --data.init_args.num_frames={(length - 1) // frame_step + 1} or fewer, or videos of "
            f"{counted(span, 'frame')} or more")


def cut_clips(
    frames: np.ndarray,
    num_frames: int,
    size: int | Sequence[int],
    stride: int | None = None,
    frame_step: int = 1,
) -> np.ndarray:
    """Clips from one video: frames [F, H, W, 3] uint8 -> [n, T, H', W', 3] uint8.

    Frames are resized/cropped to ``size`` first; clip i holds frames ``i*stride + j*frame_step`` for
    j < T. ``stride`` defaults to the clip's span (non-overlapping clips). A video shorter than one clip
    gives n = 0 (callers warn).
    """
    frames = to_rgb(np.asarray(frames))
    span = clip_span(num_frames, frame_step)
    stride = span if stride is None else stride
    n = num_clips(frames.shape[0], num_frames, stride, frame_step)
    th, tw = as_size(size)
    if n == 0:
        return np.zeros((0, num_frames, th, tw, 3), dtype=np.uint8)
    used = frames[: (n - 1) * stride + span]  # only decode-resize what clips use
    used = resize_and_crop(used, (th, tw))  # [F', H', W', 3]
    idx = np.arange(n)[:, None] * stride + np.arange(num_frames)[None, :] * frame_step  # [n, T]
    return used[idx]  # [n, T, H', W', 3]


class FolderClips:
    """The clips of a folder of videos, read as one uint8 array [N, T, H, W, 3] is, a clip at a time: ``clips[i]``
    [T, H, W, 3], ``clips[i, ...]``, ``len(clips)``, ``clips.shape``. A strip's clips (:func:`read_strip`) are decoded
    when they are read, so a folder of TinyVideos' tens of thousands of strips costs no more memory than a list of its
    files, and DataLoader workers decode them in parallel. A video file's clips are kept decoded: ffmpeg reads a video
    from its start, not one clip of it."""

    def __init__(self, num_frames: int, size: tuple[int, int], stride: int | None = None, frame_step: int = 1):
        self.num_frames, self.size, self.frame_step = num_frames, size, frame_step
        self.span = clip_span(num_frames, frame_step)  # frames one clip covers
        self.stride = self.span if stride is None else stride
        self.sources: list[Path | np.ndarray] = []  # per file: a strip, or a video's clips [n, T, H, W, 3] uint8
        self.starts = [0]  # the first row of each file's clips, then the number of clips

    def add(self, source: Path | np.ndarray, n: int) -> None:
        """The first n clips of a strip (its path), or a video's clips [n, T, H, W, 3]."""
        self.sources.append(source)
        self.starts.append(self.starts[-1] + n)

    def __len__(self) -> int:
        return self.starts[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), self.num_frames, *self.size, 3)

    def __getitem__(self, key: int | tuple) -> np.ndarray:
        row, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        row = int(row)
        if not 0 <= row < len(self):
            raise IndexError(f"clip {row} of {len(self)}")
        f = bisect.bisect_right(self.starts, row) - 1  # the file of this clip
        source, k = self.sources[f], row - self.starts[f]
        if isinstance(source, np.ndarray):
            return source[k][rest]
        first = k * self.stride
        frames = self._strip(source)[first : first + self.span]  # [span, W, W, 3]
        return cut_clips(frames, self.num_frames, self.size, frame_step=self.frame_step)[0][rest]  # [T, H, W, 3]

    @staticmethod
    def _strip(path: Path) -> np.ndarray:
        """:func:`read_strip`, naming what to do with a strip whose pixels (read only now) are broken."""
        try:
            return read_strip(path)  # [F, W, W, 3]
        except VideoDecodeError as err:  # its header was read when the folder was listed, its pixels only now
            raise VideoDecodeError(f"{err} (a strip is decoded when its clips are read: move it out of the folder and "
                                   "run again)") from None

    @property
    def strips(self) -> int:
        """How many of the files are strips, decoded when read."""
        return sum(isinstance(source, Path) for source in self.sources)

    @property
    def nbytes(self) -> int:
        """The bytes of every clip decoded, as one uint8 array [N, T, H, W, 3] holds them."""
        return len(self) * self.num_frames * self.size[0] * self.size[1] * 3

    def decoded(self, progress: bool = True) -> np.ndarray:
        """Every clip in one array, each strip decoded once: uint8 [N, T, H, W, 3] (the same values as ``self[i]``)."""
        out = np.empty(self.shape, dtype=np.uint8)  # [N, T, H, W, 3]
        files = loop_progress(enumerate(self.sources), "decoding strips", total=len(self.sources), unit="file",
                              enabled=progress)
        for f, source in files:
            a, b = self.starts[f], self.starts[f + 1]
            if isinstance(source, Path):  # the strip's clips, as __getitem__ cuts each: frames resized one by one
                source = cut_clips(self._strip(source), self.num_frames, self.size, self.stride, self.frame_step)
            out[a:b] = source[: b - a]  # [n, T, H, W, 3]
        return out


@dataclass
class VideoFolder:
    """Clips read from a folder and what happened to each file."""

    # [N, T, H, W, 3] uint8, a clip at a time (VideoDataModule replaces it by the one array it decodes a folder into)
    clips: FolderClips | np.ndarray
    video_index: np.ndarray  # [N] which file (position in ``files``) each clip came from
    files: list[Path] = field(default_factory=list)  # files that gave clips
    n_files: int = 0  # video files found
    n_skipped_short: int = 0
    n_skipped_corrupt: int = 0
    found: list[Path] = field(default_factory=list)  # every file listed, read or skipped
    rates: list[float | None] = field(default_factory=list)  # frame_rate of each of ``files`` (a strip's: None)


def list_video_files(root: str | Path) -> list[Path]:
    """Every video file and picture (a strip of frames) below ``root`` (recursive, hidden files and folders left
    out: macOS ``._name.mp4``), sorted; a file path is a folder of one."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"video folder not found: {root}")
    if root.is_file():
        return [root]
    return data_files(root, VIDEO_SUFFIXES + STRIP_SUFFIXES)


def source_videos(files: Sequence[Path], root: str | Path) -> np.ndarray:
    """Which source video each file's clips come from, as an index per file [n_files]. A video file is a video of its
    own; JPEG/PNG strips that share a folder are clips of one video, as TinyVideos stores them (a video's clips are
    0000.jpg, 0001.jpg, ... in a folder of its own, consecutive stretches of one scene), except strips directly in
    ``root`` or in a train/, val/ or test/ folder, which are a video each."""
    root = Path(root)
    keys = [p.parent if p.parent != root and p.parent.name not in SPLITS and is_strip_file(p) else p for p in files]
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return np.array([index[key] for key in keys], dtype=np.int64)  # [n_files]


def read_video_folder(
    root: str | Path,
    num_frames: int,
    size: int | Sequence[int],
    stride: int | None = None,
    frame_step: int = 1,
    max_clips_per_video: int | None = None,
    progress: bool = True,
    read: Callable[..., np.ndarray] | None = None,
    rate: Callable[..., float | None] | None = None,
) -> VideoFolder:
    """Clips of every video file below ``root``, concatenated in sorted file order. A JPEG or PNG there is a strip
    of square frames stacked top to bottom (:func:`read_strip`, TinyVideos' originals), whose clips are decoded when
    they are read (:class:`FolderClips`): here only its header is, for its length.

    With ``max_clips_per_video``, a video file is decoded only as far as its first clips reach (a few seconds of a
    long recording), not to its end.

    Files that cannot be decoded (or pictures that are not strips) or hold fewer frames than one clip are skipped
    with a warning and counted, so one bad file never ends a long run. An empty folder (or one where every file was
    skipped) is an error. ``read`` decodes a video file as :func:`read_video_file` does (the default), e.g. through
    a cache (file_cache.DecodedVideos); ``rate`` gives a video file's frame rate as :func:`frame_rate` does (the
    default), over the frames its clips use.
    """
    if Path(root).suffix.lower() == ".npz":
        raise ValueError(f"{root} is an .npz of clips, not a video or a folder of videos: read it with "
                         f"--data.init_args.dataset=npz (as {data_words('video', 'beach')} does)")
    files = list_video_files(root)
    if not files:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) or strips of frames "
                                f"({', '.join(STRIP_SUFFIXES)}) found under {root}")
    clips = FolderClips(num_frames, as_size(size), stride, frame_step)
    # the frames max_clips_per_video clips span, the last starting (max - 1) strides after the first
    needed = (max_clips_per_video - 1) * clips.stride + clips.span if (max_clips_per_video or 0) > 0 else None
    owners, kept, rates = [], [], []
    short = corrupt = stills = 0
    longest: tuple[int, Path] | None = None  # the longest video too short for a clip (not a still), and its file
    not_strips = []  # warnings for pictures of one frame, held: a folder of only those ends in one line saying so
    for path in loop_progress(files, f"reading videos in {Path(root).name}", unit="file", enabled=progress):
        try:
            strip = is_strip_file(path)
            if strip:
                length = strip_length(path)  # frames, from its header: its clips are decoded when read
                n, source = num_clips(length, num_frames, clips.stride, frame_step), path
            else:  # the frames its clips can use: a long video's others are never decoded
                frames = (read or read_video_file)(path, size=clips.size, max_frames=needed)  # [F, H, W, 3]
                length, source = len(frames), cut_clips(frames, num_frames, clips.size, stride, frame_step)
                n = len(source)  # source: [n, T, H, W, 3]
        except VideoDecodeError as err:
            corrupt += 1
            if strip and "is not a strip" in str(err):  # a picture of 1 frame
                stills += 1
                not_strips.append(f"skipping {err}")
            else:  # "skipping a.mp4, which cannot be decoded: the file is empty"
                warn_rank_zero(f"skipping {err.path}, which cannot be decoded: {err.reason}" if err.reason else
                               f"skipping {err}", stacklevel=2)
            continue
        if n == 0:
            message = f"skipping {path}: {counted(length, 'frame')}, a clip needs {clips.span}"
            short += 1
            if length == 1 and decoded_by_pillow(path):  # a still WebP or a GIF of one frame: a picture, as a PNG
                stills += 1
                not_strips.append(message)
            else:
                warn_rank_zero(message, stacklevel=2)
                if longest is None or length > longest[0]:
                    longest = (length, path)
            continue
        if max_clips_per_video is not None:
            n = min(n, max_clips_per_video)
            source = source if isinstance(source, Path) else source[:n].copy()  # not a view keeping every clip
        owners.append(np.full(n, len(kept)))
        kept.append(path)
        rates.append(None if strip else (rate or frame_rate)(path, needed))  # a strip of JPEG frames records none
        clips.add(source, n)
    if stills < len(files):
        for message in not_strips:
            warn_rank_zero(message, stacklevel=2)
    if not kept:
        frames = ("; they are pictures of one frame each: a folder of frames is not read as a video, so make each "
                  "video one file (ffmpeg -i frame_%03d.png clip.mp4) or one strip of its frames stacked top to "
                  "bottom") if stills == len(files) else ""
        if longest is not None and longest[0] > 1 and not frames:  # videos too short: how many frames a clip can take
            frames = (f": the longest, {longest[1]}, holds {counted(longest[0], 'frame')}: "
                      f"{fewer_frames(longest[0], num_frames, frame_step)}")
        raise ValueError(
            f"no clips of {counted(num_frames, 'frame')} from {counted(len(files), 'video file')} under {root} "
            f"({short} too short, {corrupt} undecodable){frames}"
        )
    return VideoFolder(clips, np.concatenate(owners), kept, len(files), short, corrupt, files, rates)


def read_video_npz(path: str | Path, key: str = "videos") -> np.ndarray:
    """Clips stored as ``videos`` [N, T, H, W, 3] uint8 in an .npz -> that array."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: this dataset reads one .npz of clips (a folder of videos: "
                         f"{data_words('video', 'folder')})")
    if not path.is_file():
        raise FileNotFoundError(f"video npz not found: {path}")
    files, arrays = read_npz(path, (key,))
    if key not in arrays:
        raise ValueError(f"{path} has no array {key!r} (found {files}); expected {key} [N, T, H, W, 3] uint8")
    videos = arrays[key]
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(f"{path}: {key} must be [N, T, H, W, 3], got shape {videos.shape}")
    if videos.dtype != np.uint8:
        raise ValueError(f"{path}: {key} must be uint8 (0..255), got {videos.dtype}")
    return videos


def _to_uint8_frames(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 [T, H, W, 3] or float [0, 1] [T, H, W, 3] -> uint8 [T, H, W, 3]."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_video expects frames [T, H, W, 3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        frames = np.nan_to_num(frames.astype(np.float32), nan=0.0)  # a diverged sample must still be viewable
        frames = np.round(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)
    return frames


def enlarge(frames: np.ndarray, upscale_to: int | None) -> np.ndarray:
    """Frames [T, H, W, 3] whose shorter side is under ``upscale_to`` pixels, enlarged by the smallest integer factor
    k that reaches it, nearest neighbour -> [T, kH, kW, 3]; ``None`` (or 0) keeps them as they are."""
    if not upscale_to:
        return frames
    k = max(1, math.ceil(upscale_to / min(frames.shape[1:3])))
    return frames.repeat(k, axis=1).repeat(k, axis=2)  # [T, kH, kW, 3]


def write_video(
    frames: np.ndarray | torch.Tensor,
    path: str | Path,
    fps: float = PICTURE_FPS,
    upscale_to: int | None = 128,
) -> Path:
    """Write frames [T, H, W, 3] (uint8, or float in [0, 1]) as mp4 (libx264, yuv420p) or GIF, by suffix.

    Frames smaller than ``upscale_to`` pixels (shorter side) are enlarged by an integer factor with
    nearest neighbour, so 32x32 clips stay watchable and pixel-sharp; ``None`` keeps the size. yuv420p
    needs even sides, so an odd side gets one replicated row/column. A GIF plays at most GIF_FASTEST_FPS, every frame
    kept. Returns the path.
    """
    import imageio_ffmpeg

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise ValueError(f"write_video writes .mp4 or .gif, got {path}")
    frames = enlarge(_to_uint8_frames(frames), upscale_to)  # [T, kH, kW, 3]
    if suffix == ".mp4":
        pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        opts = dict(codec="libx264", pix_fmt_out="yuv420p", output_params=["-crf", "18"])
    else:
        # one palette for the whole clip keeps colours stable across frames; ffmpeg also keeps repeated
        # frames (pillow's GIF writer merges identical frames, which changes the frame count)
        graph = "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none"
        opts = dict(codec="gif", pix_fmt_out="pal8", output_params=["-vf", graph, "-loop", "0"])
        fps = min(fps, GIF_FASTEST_FPS)  # faster, ffmpeg writes 10 ms delays, which browsers show for 100
    h, w = frames.shape[1:3]

    def encode(tmp: Path) -> None:  # beside the file, then renamed: a run killed meanwhile leaves no cut-off video
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (w, h), fps=fps, macro_block_size=1, ffmpeg_log_level="error", **opts
        )
        writer.send(None)  # start the ffmpeg process
        try:
            for frame in frames:  # [kH, kW, 3]
                writer.send(np.ascontiguousarray(frame))
        finally:
            writer.close()

    return atomic_write(path, encode)
