"""The one cache root for derived files (``$PIXELTRANSFORMER_CACHE``, else the user's cache folder) and how a cache is
written and read: a cache folder that cannot be written said in one line with its remedy (before the work, or as
:class:`CacheWriteError` when a write fails), a warning where an entry is only not kept, an entry's key from the
versions, settings and file digests it was built from (:func:`cache_key`, :func:`package_versions`), and a .npy
entry read only when it is whole.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .files import env_folder, nearest_existing, user_path


CACHE_ENV = "PIXELTRANSFORMER_CACHE"


def cache_root(*parts: str) -> Path:
    """The cache folder for derived files (SDF grids from meshes, baseline network weights):
    ``$PIXELTRANSFORMER_CACHE``, else ``$XDG_CACHE_HOME/pixeltransformer``, else ``~/.cache/pixeltransformer``;
    ``parts`` name a sub-folder. Data folders are often read-only, so nothing is cached beside the data. A relative
    XDG_CACHE_HOME is ignored, as the XDG base directory spec says: it named another cache in every folder a
    command ran from; a relative $PIXELTRANSFORMER_CACHE, the user's own choice, is made absolute
    (:func:`env_folder`)."""
    env = env_folder(CACHE_ENV)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = env or user_path(xdg if os.path.isabs(xdg) else "~/.cache") / "pixeltransformer"
    return root.joinpath(*parts)


def cache_hint(cache_dir: str = "the data's cache_dir") -> str:
    """How to keep what a cache folder that cannot be written did not keep; ``cache_dir``: the option that names the
    folder besides the environment variable (an evaluation's is not the data's)."""
    return f"set $PIXELTRANSFORMER_CACHE (or {cache_dir}) to a folder this user can write"


CACHE_HINT = cache_hint()


def not_cached(what: str, folder: str | Path, err: OSError, again: str, hint: str = CACHE_HINT) -> str:
    """The warning that ``what`` (decoded pictures, videos) could not be cached in ``folder`` (``err``): which folder
    and why (:func:`unwritable`'s words where it says, else the error's), what is done ``again`` without it, and how
    to keep them (``hint``: where a cache_dir is not the data's). It was the bare error, "[Errno 30] Read-only file
    system: '/home/me/.cache'", with no remedy."""
    why = unwritable(folder) or err.strerror or str(err)
    return f"{what} not cached: cannot write {folder} ({why}): {again}; {hint}"


def unwritable(folder: str | Path) -> str | None:
    """Make ``folder`` (a cache folder) where missing, and say why files cannot be written into it: "<path> is a file,
    not a folder" for a file on its path (mkdir says "File exists" of the folder itself), else the system's words
    ("Read-only file system", "Permission denied", "No space left on device": a byte is written); None when they
    can."""
    folder = Path(folder)
    try:
        above = nearest_existing(folder)
        if not above.is_dir():
            return f"{above} is a file, not a folder"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, buffering=0) as probe:
            probe.write(b"\0")  # an empty file needs an inode only; a byte needs a block
    except OSError as err:
        return err.strerror or str(err)
    return None


class CacheWriteError(OSError):
    """A cache folder that cannot be written: the run's failure, not one input's. Its message is one line, "cannot
    <what> (<why>): <hint>" (:func:`check_cache_folder`, :func:`writing_cache`); one argument, so that it comes back
    whole from a worker process."""


def check_cache_folder(folder: str | Path, what: str, hint: str) -> None:
    """Raise :class:`CacheWriteError` ("cannot <what> (<why>): <hint>") when files cannot be written into ``folder``
    (:func:`unwritable`, which makes it): said before the work whose result it keeps, not after it."""
    why = unwritable(folder)
    if why is not None:
        raise CacheWriteError(f"cannot {what} ({why}): {hint}")


# what a cache write out of memory says instead of its folder's hint (writing_cache), and under `ulimit -v`
OUT_OF_MEMORY = "the file could not be mapped in the memory at hand: make the data smaller, or free memory"
UNDER_LIMIT = ("the file could not be mapped in the memory at hand: make the data smaller, or raise this process's "
               "memory limit (ulimit -v)")


@contextlib.contextmanager
def writing_cache(what: str, hint: str) -> Iterator[None]:
    """Around a cache write (:func:`files.atomic_write`): an OSError (a full disk, a folder made read-only meanwhile)
    comes out as :class:`CacheWriteError`, in the words :func:`check_cache_folder` uses; one out of memory (a large
    file mapped under `ulimit -v`) with :data:`UNDER_LIMIT` (without a limit, :data:`OUT_OF_MEMORY`) for ``hint``,
    which names a folder."""
    try:
        yield
    except CacheWriteError:
        raise
    except OSError as err:
        if err.errno == errno.ENOMEM:
            from .memory import address_limit  # it imports torch: here, not as the cache module loads

            hint = OUT_OF_MEMORY if address_limit() is None else UNDER_LIMIT
        raise CacheWriteError(f"cannot {what} ({err.strerror or err}): {hint}") from None


def whole_npy(path: str | Path, shape: Sequence[int | None] | None = None, dtype: Any = None) -> bool:
    """Whether the cache entry at path, a .npy file, is there and whole: its header reads, the file holds every byte
    of its array (numpy's memory map says so without reading them), and the array has ``shape`` (None: any; an axis
    of None: any size on it) and ``dtype`` (None: any but Python objects). An entry left empty or cut short (a copy
    of the cache that did not end, a crash before the file system wrote what was renamed) or written over is built
    again, rather than read: it stopped a run with numpy's "mmap length is greater than file size", which names no
    file, or at the batch that read it."""
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    if not isinstance(array, np.ndarray) or array.dtype.hasobject or (dtype is not None and array.dtype != dtype):
        return False
    return shape is None or (array.ndim == len(shape) and
                             all(want is None or want == got for want, got in zip(shape, array.shape)))


def cache_key(*parts: Any) -> str:
    """The name part of a cache entry built from ``parts`` (versions, settings, file digests): 24 hex digits of a
    SHA-256 of them as JSON, so entries of other parts never share a file."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def package_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (None where it is not installed): a part of the cache key
    of what a library computes (a decoder's pixels), so that a cache shared by machines with other versions never
    serves one's results to another."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    """:func:`package_version` of each of ``names``, in their order: the libraries a cache key holds."""
    return {name: package_version(name) for name in names}
