"""Clips: ``num_frames`` frames, ``frame_step`` apart, cut from a video's frames [F, H, W, 3] uint8 into
[n, T, H, W, 3] uint8 (:func:`clip_span`, :func:`num_clips`, :func:`cut_clips`; :func:`fewer_frames` words the
remedy for videos too short for one), the clips of every video file and strip below a folder
(:func:`read_video_folder`: a video file's decoded as the folder is read, a strip's as they are read,
:class:`FolderClips`; :func:`source_videos` tells which files are one video's), and clips stored ready in an .npz
(:func:`read_video_npz`). Files are decoded by io.py; strips are strips.py's.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from pixeltransformer.arrays import read_npz
from pixeltransformer.errors import counted, upscaled_among, warn_rank_zero
from pixeltransformer.files import data_files
from pixeltransformer.layout import data_words
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.splits import SPLITS

from .io import VIDEO_SUFFIXES, VideoDecodeError, as_size, decoded_by_pillow, read_video_file, resize_and_crop, to_rgb
from .strips import STRIP_SUFFIXES, frame_size, is_strip_file, read_strip, strip_length
from .strips import rate_and_size as strip_rate_and_size

# the file types a folder of videos reads, as its errors name them
VIDEO_TYPES, STRIP_TYPES = f"({', '.join(VIDEO_SUFFIXES)})", f"({', '.join(STRIP_SUFFIXES)})"


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
    ``frame_step`` apart, in words: the most frames a clip of them can take, or the videos a clip needs. Videos of
    one frame are still pictures, not clips of one frame: they are told to give longer videos only."""
    longer = f"videos of {counted(clip_span(num_frames, frame_step), 'frame')} or more"
    if length <= 1:
        return f"give {longer}{' (one frame is a still picture)' if length == 1 else ''}"
    return f"give --data.init_args.num_frames={(length - 1) // frame_step + 1} or fewer, or {longer}"


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
    rates: list[float | None] = field(default_factory=list)  # frame rate of each of ``files`` (a strip's: None)


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


def upscaled_note(small: list[str], kept: int, where: str | Path, size: tuple[int, int]) -> str:
    """The warning for videos whose frames are smaller than the clips' ``size`` (h, w) on a side, ``small`` naming
    each ("name, w×h") among the ``kept`` read in ``where``: they were upscaled, so their clips hold pixels that
    interpolation made up, as a picture folder's line says of its small pictures."""
    h, w = size
    among = (f"the one video read in {where} is" if kept == 1 else
             f"{len(small)} of the {counted(kept, 'video')} read in {where} {'is' if len(small) == 1 else 'are'}")
    return upscaled_among(among, f"{w}×{h}", small, kept, "--data.init_args.size")


def read_video_folder(
    root: str | Path,
    num_frames: int,
    size: int | Sequence[int],
    stride: int | None = None,
    frame_step: int = 1,
    max_clips_per_video: int | None = None,
    progress: bool = True,
    read: Callable[..., np.ndarray] | None = None,
    rate_and_size: Callable[..., tuple[float | None, tuple[int, int] | None]] | None = None,
) -> VideoFolder:
    """Clips of every video file below ``root``, concatenated in sorted file order. A JPEG or PNG there is a strip
    of square frames stacked top to bottom (:func:`read_strip`, TinyVideos' originals), whose clips are decoded when
    they are read (:class:`FolderClips`): here only its header is, for its length.

    With ``max_clips_per_video``, a video file is decoded only as far as its first clips reach (a few seconds of a
    long recording), not to its end.

    Files that cannot be decoded (or pictures that are not strips) or hold fewer frames than one clip are skipped
    with a warning and counted, so one bad file never ends a long run. An empty folder (or one where every file was
    skipped) is an error. ``read`` decodes a video file as :func:`read_video_file` does (the default), e.g. through
    a cache (file_cache.DecodedVideos); ``rate_and_size`` gives a video file's frame rate, over the frames its clips
    use, and the (h, w) of its frames as :func:`strips.rate_and_size` does (the default). Videos of frames smaller
    than ``size`` on a side are named in one warning: their clips are upscaled.
    """
    if Path(root).suffix.lower() == ".npz":
        raise ValueError(f"{root} is an .npz of clips, not a video or a folder of videos: read it with "
                         f"--data.init_args.dataset=npz (as {data_words('video', 'beach')} does)")
    files = list_video_files(root)
    if not files:
        raise FileNotFoundError(f"no video files {VIDEO_TYPES} or strips of frames {STRIP_TYPES} found under {root}")
    clips = FolderClips(num_frames, as_size(size), stride, frame_step)
    # the frames max_clips_per_video clips span, the last starting (max - 1) strides after the first
    needed = (max_clips_per_video - 1) * clips.stride + clips.span if (max_clips_per_video or 0) > 0 else None
    owners, kept, rates = [], [], []
    short = corrupt = stills = 0
    longest: tuple[int, Path] | None = None  # the longest video too short for a clip (not a still), and its file
    not_strips = []  # warnings for pictures of one frame, held: a folder of only those ends in one line saying so
    small = []  # "name, w×h" of the videos read whose frames are smaller than the clips': upscaled
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
        # a strip of JPEG frames records no rate, and its size is read from its header
        rate, hw = (None, frame_size(path)) if strip else (rate_and_size or strip_rate_and_size)(path, needed)
        rates.append(rate)
        clips.add(source, n)
        if hw is not None and (hw[0] < clips.size[0] or hw[1] < clips.size[1]):
            small.append(f"{path.relative_to(root) if path != Path(root) else path.name}, {hw[1]}×{hw[0]}")
    if small:
        warn_rank_zero(upscaled_note(small, len(kept), root, clips.size), stacklevel=2)
    if stills < len(files):
        for message in not_strips:
            warn_rank_zero(message, stacklevel=2)
    if not kept:
        frames = ("; they are pictures of one frame each: a folder of frames is not read as a video, so make each "
                  "video one file (ffmpeg -i frame_%03d.png clip.mp4) or one strip of its frames stacked top to "
                  "bottom") if stills == len(files) else ""
        if longest is not None and not frames:  # videos too short: how many frames a clip can take
            frames = (f": the longest, {longest[1]}, holds {counted(longest[0], 'frame')}: "
                      f"{fewer_frames(longest[0], num_frames, frame_step)}")
        elif corrupt == len(files) and not frames:  # no video among them: what a root takes
            cause = "it cannot be decoded" if Path(root).is_file() else "none of its files can be decoded"
            if stills:  # pictures of one frame decode, but are no video
                cause = "none of its files is a video or a strip of frames"
            frames = (f"; {cause} (see the warning{'s' if corrupt > 1 else ''}): give --data.init_args.root a video "
                      f"file or a folder of them {VIDEO_TYPES} or of strips of frames {STRIP_TYPES}")
        raise ValueError(
            f"no clips of {counted(num_frames, 'frame')} from {counted(len(files), 'video file')} under {root} "
            f"({short} too short, {corrupt} undecodable){frames}"
        )
    return VideoFolder(clips, np.concatenate(owners), kept, len(files), short, corrupt, files, rates)


def read_video_npz(path: str | Path, key: str = "videos") -> np.ndarray:
    """Clips stored as ``videos`` [N, T, H, W, 3] uint8 in an .npz -> that array; one of no clips, or of frames of no
    pixels, is refused in one line here, for training, a spec and a prediction alike."""
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
    n, _, h, w, _ = videos.shape
    held = f"{path}: {key} {list(videos.shape)} holds"  # every caller's refusal of clips of nothing to read
    if n == 0:
        raise ValueError(f"{held} no clips: give an .npz of one clip or more, {key} [N, T, H, W, 3] with N >= 1")
    if h == 0 or w == 0:
        raise ValueError(f"{held} frames of {w}×{h} pixels: give clips of frames of 1×1 pixels or more")
    return videos
