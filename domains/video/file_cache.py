"""Video files decoded once. The frames a folder's clips use, at the clip size, are kept in the cache
(``cache.cache_root("video", "files")``) and keyed by each file's bytes and the decoding asked, so a later start, and
every DDP rank and evaluation of this one, loads an array (about 1 ms) instead of running ffmpeg twice (the frames'
shown size and rate, then the frames at the clip size): 0.4-0.6 s a file for the sample mp4s here (36 and 250
frames at 32×32, on two CPU cores at a load of 6), minutes a start for a folder of a thousand.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pixeltransformer.cache import cache_key, not_cached, package_versions, whole_npy
from pixeltransformer.digests import FileDigests
from pixeltransformer.files import atomic_write, name_start, write_json

from .io import decoded_by_pillow, delays_rate, ffmpeg_version, probe_container, read_video_file
from .strips import rate_and_size

DECODE_VERSION = 2  # what decoding makes of a file (colour, resize, crop): a change here makes every entry new
# the libraries whose versions a key holds: pillow decodes GIFs and pictures, ffmpeg (through imageio-ffmpeg) every
# other container, and torch resizes: another version of one may give other frames
LIBRARIES = ("pillow", "imageio", "imageio-ffmpeg", "torch")


def decoder_versions(path: Path) -> dict[str, str | None]:
    """The versions of what decodes and resizes ``path``'s frames: the libraries, and for a container ffmpeg reads
    the ffmpeg binary's (asked once a process)."""
    versions = package_versions(LIBRARIES)
    if not decoded_by_pillow(path):
        try:
            versions["ffmpeg"] = ffmpeg_version()
        except (ImportError, OSError, RuntimeError):  # no ffmpeg: decoding says so, and nothing is cached
            versions["ffmpeg"] = None
    return versions


def probe_entry(known: Any) -> bool:
    """Whether a cache entry read back can stand for :func:`io.probe_container`'s answer: [rate or None, [h, w] or
    None]."""
    if not (isinstance(known, list) and len(known) == 2):
        return False
    rate, size = known
    return (rate is None or isinstance(rate, float)) and (size is None or isinstance(size, list) and len(size) == 2)


class DecodedVideos:
    """:func:`io.read_video_file` through the cache; call :meth:`save` once the files are read, to remember their
    digests (each file's bytes are then read once, not at every start)."""

    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        self.digests = FileDigests(self.dir / "digests.json")
        self._warned = False

    def read(self, path: str | Path, size: Sequence[int], max_frames: int | None = None) -> np.ndarray:
        """The frames [F, H, W, 3] uint8 of ``path`` at ``size``, the first ``max_frames`` (None: all), as
        read_video_file decodes them; a file that cannot be decoded raises as it does there, and is not cached."""
        path = Path(path)
        try:
            digest = self.digests(path)
        except OSError:  # its bytes cannot be read (no permission): decoded, or refused, as without the cache
            return read_video_file(path, size=size, max_frames=max_frames)  # [F, H, W, 3]
        # the name's start only, for whoever looks: a file name of up to 255 bytes leaves no room for the key
        stem = name_start(path.stem)
        key = cache_key(DECODE_VERSION, decoder_versions(path), digest, [int(s) for s in size], max_frames)
        entry = self.dir / f"{stem}_{key}.npy"
        # not cached yet, an entry left unreadable, or frames of another type or size at its name (written over, they
        # were served as they were): decoded again
        if whole_npy(entry, (None, *[int(s) for s in size], 3), np.uint8):
            try:
                frames = np.load(entry)  # [F, H, W, 3]
                if 0 < len(frames) <= (max_frames or len(frames)):
                    return frames
            except (OSError, ValueError, EOFError):  # replaced meanwhile by another kind of file
                pass
        frames = read_video_file(path, size=size, max_frames=max_frames)  # [F, H, W, 3]
        try:
            atomic_write(entry, lambda tmp: np.save(tmp, frames))
        except OSError as err:
            if not self._warned:
                warnings.warn(not_cached("decoded videos", self.dir, err, "they are decoded again at the next start"))
                self._warned = True
        return frames

    def rate_and_size(self, path: str | Path, frames: int | None = None) -> tuple[float | None, tuple[int, int] | None]:
        """:func:`strips.rate_and_size` of ``path`` (the rate of its first ``frames`` frames), what asks ffmpeg or
        reads every frame kept beside its decoded frames: a later start runs no ffmpeg to ask a container's rate and
        size (one entry, one process), nor reads an animated GIF's, PNG's or WebP's delays again. A picture's size is
        read from its header by pillow, as cheap as the cache, so a strip (whose frames are not cached) is not
        hashed for it."""
        return rate_and_size(path, frames, probe=self._probed, rate=self._delays_rate)

    def _delays_rate(self, path: Path, frames: int | None) -> float | None:
        """:func:`io.delays_rate` of ``path``, kept beside its decoded frames."""
        return self._kept(path, ("rate", frames), lambda: delays_rate(path, frames),
                          lambda known: known is None or isinstance(known, float))

    def _probed(self, path: Path) -> tuple[float | None, tuple[int, int] | None]:
        """:func:`io.probe_container` of ``path``, kept beside its decoded frames."""
        rate, size = self._kept(path, ("probe",), lambda: list(probe_container(path)), probe_entry)
        return rate, None if size is None else (int(size[0]), int(size[1]))

    def _kept(self, path: str | Path, what: tuple, ask: Callable[[], Any], valid: Callable[[Any], bool]) -> Any:
        """``ask()``'s answer about ``path``, kept as JSON under ``what`` beside its decoded frames (``valid``: an
        entry read back that can stand for it)."""
        path = Path(path)
        try:
            digest = self.digests(path)
        except OSError:  # its bytes cannot be read: asked, as without the cache
            return ask()
        key = cache_key(DECODE_VERSION, decoder_versions(path), digest, *what)
        entry = self.dir / f"{name_start(path.stem)}_{key}.{what[0]}.json"
        try:
            known = json.loads(entry.read_text())
            if valid(known):
                return known
        except (OSError, ValueError):  # not cached yet, or unreadable: asked again
            pass
        answer = ask()
        try:
            write_json(entry, answer)
        except OSError:  # the frames' entries say the cache is not written
            pass
        return answer

    def save(self) -> None:
        self.digests.save()
