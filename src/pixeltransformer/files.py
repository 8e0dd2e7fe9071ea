"""Where the project keeps files, and how it writes them: atomic writes, the one cache root, and folders a failed
command made and leaves empty.

A file is written next to its target under a temporary name and renamed over it, so a job killed in the middle
of a write leaves the previous file (or none) instead of a truncated one, and two processes writing the same
cache entry each leave a whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE_ENV = "PIXELTRANSFORMER_CACHE"


def cache_root(*parts: str) -> Path:
    """The cache folder for derived files (SDF grids from meshes, baseline network weights):
    ``$PIXELTRANSFORMER_CACHE``, else ``$XDG_CACHE_HOME/pixeltransformer``, else ``~/.cache/pixeltransformer``;
    ``parts`` name a sub-folder. Data folders are often read-only, so nothing is cached beside the data."""
    env = os.environ.get(CACHE_ENV)
    root = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "pixeltransformer"
    return root.expanduser().joinpath(*parts)


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it over ``path``. Parent folders
    are created; on failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the suffix is kept, so writers that pick a format from the file name (numpy, PIL, trimesh) still can
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def missing_folders(path: Path) -> list[Path]:
    """path and those of its parents that do not exist yet, innermost first: what mkdir(parents=True) would make."""
    return [p for p in (path, *path.parents) if not p.exists()]


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove those folders (innermost first) that exist and are empty: a failure leaves no empty folders behind."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def set_aside(folder: Path) -> Path | None:
    """Before a writer replaces ``folder`` as a whole (an evaluation): move its earlier content to
    ``.<name>.previous`` beside it and return that path (None when there was nothing). The writer's files then never
    mix with the earlier ones; :func:`put_back` restores them when the writer fails, :func:`drop_aside` deletes them
    when it succeeds. An aside left by a writer that was killed is put back first, over that writer's partial files."""
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.previous")
    if aside.is_dir():
        put_back(folder, aside)
    if not (folder.is_dir() and any(folder.iterdir())):
        return None
    folder.rename(aside)
    return aside


def put_back(folder: Path, aside: Path | None) -> None:
    """Undo :func:`set_aside`: the writer's partial folder goes, the earlier content comes back."""
    if aside is not None:
        shutil.rmtree(folder, ignore_errors=True)
        Path(aside).rename(folder)


def drop_aside(aside: Path | None) -> None:
    """The writer succeeded: the earlier content it replaced is deleted."""
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write indented JSON."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (read in 1 MiB blocks): cache keys, download checksums."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
