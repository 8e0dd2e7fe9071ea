"""Reading and writing video files: frames in, their rates, mp4/GIF back.

Frames are uint8 arrays [F, H, W, 3] (RGB). Containers ffmpeg understands (mp4, avi, mov, ...) are decoded
with the imageio-ffmpeg backend (``imageio.v3`` plugin "FFMPEG"); GIFs, animated PNGs and WebPs go through pillow,
which composes delta frames and palettes into full frames. Transparent pixels (a GIF's transparent colour, a PNG's
alpha) are composited onto white, as the image domain reads pictures. Every decoded frame is one frame of a clip,
however long it is shown (a GIF's frame delays, a variable frame rate). Writing always goes through the ffmpeg binary
that imageio-ffmpeg ships, for mp4 (libx264, yuv420p) and for GIF (one palette built over the whole clip). Strips of
frames stacked in one picture are strips.py's; the clips cut from files, folders and .npz files are clips.py's.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import warnings
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence

from pixeltransformer.files import atomic_write, by_stamp

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif", ".webp")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
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


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """The version of the ffmpeg binary that decodes containers: "n9.0.2-17-...", "4.4.2"; a git build "N-..."."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_version()


def ffmpeg_release(build: str) -> str:
    """The release an ffmpeg version string is a build of, as its users know it: the version it starts with, as in a
    static build's "n9.0.2-17-g2a571b6068-20260930" (17 commits on the release's branch) and a distribution's
    "4.4.2-0ubuntu0.22.04.1", "4.4.2+dfsg" -> "9.0.2", "4.4.2"; a git build of no release ("N-113000-g...") whole."""
    release = re.match(r"n?(\d+(?:\.\d+)+)", build)
    return release[1] if release else build


@functools.lru_cache(maxsize=1)
def _every_frame_once() -> list[str]:
    """ffmpeg's output option that hands on each decoded frame once. Without it, ffmpeg repeats and drops frames to
    a constant rate, so a variable-frame-rate video (phones record them) gave clips of repeated frames."""
    parts = ffmpeg_release(ffmpeg_version()).split(".")  # "4.4.2"; a git build's or an unknown one's string whole
    old = all(p.isdigit() for p in parts) and tuple(map(int, parts)) < (5, 1)  # -fps_mode came with 5.1
    return ["-vsync", "passthrough"] if old else ["-fps_mode", "passthrough"]


# ffmpeg's output option that widens (or heightens) frames of non-square pixels to the picture a player shows: a
# video may store its pixels wider than tall (a sample aspect ratio: anamorphic DV and DVD footage, the 176x144 test
# sequences), which read as stored were squeezed; frames of square pixels pass through as they are
SQUARE_PIXELS = ["-vf", "scale='if(gt(sar,1),iw*sar,iw)':'if(lt(sar,1),ih/sar,ih)',setsar=1"]


def display_meta(path: Path) -> dict:
    """imageio-ffmpeg's meta of a container's frames as a player shows them: their "size" (w, h) upright (a phone's
    display rotation applied, which recent ffmpeg reports in words imageio's "rotate" does not read) and of square
    pixels (:data:`SQUARE_PIXELS`), and the stream's "fps" (0: it does not say). One ffmpeg process, which opens the
    file and decodes its first frame; a file it cannot read raises as imageio-ffmpeg's reader does."""
    import imageio_ffmpeg

    with pipes_left_to_gc(), _quiet_ffmpeg_size_note():  # frames of another size than stored: what is asked
        reader = imageio_ffmpeg.read_frames(str(path), output_params=SQUARE_PIXELS)
        try:
            return next(reader)  # the first item is the meta of the frames ffmpeg hands on
        except Exception as err:  # its traceback holds the ended reader's pipes: let them go here, not in the caller's
            raise err.with_traceback(None)
        finally:
            reader.close()


@by_stamp(maxsize=4096)  # a folder's files, each asked while decoded and then for its rate and size
def shown_meta(path: str) -> tuple[tuple[int, int], object]:
    """The "size" (w, h) and "fps" of :func:`display_meta`, asked once a start of each file: decoding a file's
    frames at a size and asking its rate and size share one ffmpeg process; a file changed since (its stat) is asked
    again. A file that cannot be read raises as :func:`display_meta` does, each time it is asked."""
    meta = display_meta(Path(path))
    w, h = meta["size"]
    return (int(w), int(h)), meta.get("fps")


def display_size(path: Path) -> tuple[int, int]:
    """The (w, h) of a container's frames as a player shows them (:func:`shown_meta`)."""
    return shown_meta(path)[0]


def probe_container(path: str | Path) -> tuple[float | None, tuple[int, int] | None]:
    """A container's frame rate and the (h, w) of its frames as a player shows them, as :func:`strips.rate_and_size`
    gives them, from the one ffmpeg process a start runs for the file (:func:`shown_meta`); None for what the file
    does not say or where it cannot be read (its frames were read already: only these are unknown)."""
    try:
        (w, h), fps = shown_meta(Path(path))
    except (OSError, ValueError, RuntimeError, EOFError, KeyError, TypeError):
        return None, None
    return usable_rate(fps), (h, w)


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
    kwargs = dict(output_params=SQUARE_PIXELS + _every_frame_once())
    with _quiet_ffmpeg_size_note():
        if size is not None:
            # scaled straight from the stored frames to the size that covers ``size`` at the aspect a player shows
            w, h = display_size(path)
            rh, rw = cover_size((h, w), size)
            kwargs = dict(size=(rw, rh), output_params=["-sws_flags", "area", *_every_frame_once()])
        yield from _closing_pipes(iio.imiter(path, plugin="FFMPEG", **kwargs))


@contextmanager
def pipes_left_to_gc() -> Iterator[None]:
    """imageio-ffmpeg leaves the pipes of a reader that has ended (its ffmpeg process has exited) to the garbage
    collector, which warns for each (ResourceWarning, shown by pytest and ``python -X dev``): not ours to close."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


def _closing_pipes(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """ffmpeg's frames, each step (and the close) under pipes_left_to_gc, never the caller's code between them."""
    try:
        while True:
            with pipes_left_to_gc():
                frame = next(frames, None)
            if frame is None:
                return
            yield frame
    finally:  # closed early (max_frames): ffmpeg is stopped, as `yield from` would have passed the close on
        with pipes_left_to_gc():
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
    codec = re.search(r"no decoder found for: (\w+)|Decoder \(codec (\w+)\) not found", text)
    if codec:  # a codec ffmpeg names but cannot decode, or one it does not know ("none"), named by its tag
        name = codec[1] or codec[2]
        tag = re.search(r"Video: none \((\w+) /", text) if name == "none" else None
        if name == "none" and not tag:  # "Video: none, none": no codec tag at all (zeroed), which is damage
            return "its video stream names no codec: it is damaged", True
        ffmpeg = f"ffmpeg {ffmpeg_release(ffmpeg_version())}".rstrip()  # no version word where it has none
        return (f"{ffmpeg} has no decoder for its video codec "
                f"({tag[1] if tag else name}): re-encode it to H.264 (libx264) with a tool that reads it"), False
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


@by_stamp(maxsize=256)  # a prediction asks a file's rate and then whether its delays are uneven
def frame_delays(path: str, frames: int | None = None) -> tuple[float, ...]:
    """How long each of the first ``frames`` frames (all of them: None) of an animated GIF, PNG (APNG) or WebP is
    shown, in milliseconds (pillow's ``info["duration"]`` of each frame; 0 where the file gives none; a GIF's 0 and 10
    ms are GIF_SHORTEST_SHOWN); () for a picture of one frame, a file of another kind, or one that cannot tell. Read
    once, and again once the file changes (:func:`by_stamp`)."""
    if Path(path).suffix.lower() not in (".gif", ".png", ".webp"):
        return ()
    delays = []
    try:
        with Image.open(path) as image:
            count = getattr(image, "n_frames", 1)
            if count < 2:
                return ()
            for i in range(count if frames is None else min(frames, count)):
                image.seek(i)
                if image.format == "WEBP":  # a WebP frame's duration is read with its pixels
                    image.load()
                delay = float(image.info.get("duration") or 0)
                # a GIF's delays of 0 and 10 ms are shown for 100 ms by browsers, which GIFs are made for
                delays.append(GIF_SHORTEST_SHOWN if image.format == "GIF" and delay <= 10 else delay)
    except (OSError, ValueError, EOFError, SyntaxError):  # the frames were read: only their delays are unknown
        return ()
    return tuple(delays)


def delays_rate(path: str | Path, frames: int | None = None) -> float | None:
    """The frames a second a player shows an animated GIF, PNG or WebP at, from the delays of its first ``frames``
    frames (all: None), their mean; None for a still picture, or a file that does not say. A container's rate is
    ffmpeg's (:func:`probe_container`); :func:`strips.rate_and_size` tells the kinds apart."""
    try:
        delays = frame_delays(path, frames)  # ms each
    except (OSError, ValueError, RuntimeError, EOFError, SyntaxError):  # the frames were read: only the rate is unknown
        return None
    return usable_rate(1000 * len(delays) / sum(delays)) if sum(delays) > 0 else None


def usable_rate(rate: object) -> float | None:
    """``rate`` as a float where it is a number of frames a second a player can show; None where it is not (0: none
    recorded)."""
    return float(rate) if isinstance(rate, (int, float)) and 0 < rate < math.inf else None


def uneven_delays(path: str | Path, frames: int | None = None) -> tuple[float, float] | None:
    """The shortest and longest delay (ms) of the first ``frames`` frames of an animated GIF, PNG or WebP when the
    longest is more than UNEVEN_DELAYS times the shortest (a pause held on one frame, frames of 0 ms beside others):
    no one frame rate plays them as the file does. None where they are about even, or where the file has none."""
    delays = frame_delays(path, frames)
    if len(delays) < 2 or max(delays) <= UNEVEN_DELAYS * min(delays):
        return None
    return min(delays), max(delays)


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
