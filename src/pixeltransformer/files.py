"""Where the project keeps files, and how it writes them: atomic writes, the one cache root, and folders a failed
command made and leaves empty.

A file is written next to its target under a temporary name and renamed over it, so a job killed in the middle
of a write leaves the previous file (or none) instead of a truncated one, and two processes writing the same
cache entry each leave a whole file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
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


_WRITING: dict[Path, int] = {}  # this process's asides: the descriptor that locks each one's writer file


def _writer_file(aside: Path) -> Path:
    """``.<name>.previous.writer`` beside an aside: the host and process id of the writer that set it aside, locked
    (flock) while that writer runs. A killed process's lock goes with it, on this machine or on a shared file system,
    so the lock tells a writer that was killed from one that is still running."""
    return aside.with_name(aside.name + ".writer")


def _lock(fd: int, writer: Path) -> bool:
    """Take the writer file's lock without waiting: False when a running writer holds it. On a file system without
    locks the recorded process tells: running when it runs on this machine, or on another machine (unknown)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:
        host, _, pid = (writer.read_text().strip() if writer.is_file() else "").partition(" ")
        if not pid.isdigit():  # no writer recorded
            return True
        if host != socket.gethostname():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it runs, as another user
            return False
        return False


def writer_of(folder: Path) -> str:
    """The running writer an aside of ``folder`` waits on, for messages: "process 123 on host"."""
    writer = _writer_file(Path(folder).with_name(f".{Path(folder).name}.previous"))
    host, _, pid = (writer.read_text().strip() if writer.is_file() else "").partition(" ")
    return f"process {pid} on {host}" if pid else "a process"


def restore_aside(folder: Path) -> bool:
    """Put back the earlier content of ``folder`` that a writer which never ended (killed: kill -9, SLURM, out of
    memory) left set aside, over that writer's partial files. True when it did; False when there is none, or when
    its writer still runs."""
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.previous")
    if not aside.is_dir() or aside in _WRITING:
        return False
    writer = _writer_file(aside)
    try:
        fd = os.open(writer, os.O_RDWR | os.O_CREAT, 0o644)  # none: left by a version without writer files
    except OSError:  # a folder this user cannot write: nothing can be put back
        return False
    try:
        if not _lock(fd, writer):  # its writer runs
            return False
        restored = aside.is_dir()  # else another reader put it back meanwhile
        if restored:
            shutil.rmtree(folder, ignore_errors=True)
            aside.rename(folder)
        writer.unlink(missing_ok=True)
        return restored
    finally:
        os.close(fd)


def restore_asides(parent: Path) -> list[Path]:
    """:func:`restore_aside` for every aside in ``parent`` (a run folder's .eval.previous, .eval-<name>.previous):
    the folders put back."""
    parent = Path(parent)
    asides = sorted(parent.glob(".*.previous")) if parent.is_dir() else []
    return [folder for aside in asides if aside.is_dir()
            and restore_aside(folder := aside.with_name(aside.name[1:-len(".previous")]))]


def set_aside(folder: Path) -> Path | None:
    """Before a writer replaces ``folder`` as a whole (an evaluation): move its earlier content to
    ``.<name>.previous`` beside it and return that path (None when there was nothing). The writer's files then never
    mix with the earlier ones; :func:`put_back` restores them when the writer fails, :func:`drop_aside` deletes them
    when it succeeds. While the writer runs it holds a lock on ``.<name>.previous.writer``; an aside left by a
    writer that was killed is put back first, over that writer's partial files (readers do the same:
    :func:`restore_aside`), and a folder another running writer is replacing is refused in one line."""
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.previous")
    if aside.is_dir() and not restore_aside(folder):
        raise FileExistsError(f"{folder} is being replaced by another evaluation ({writer_of(folder)}; the earlier "
                              f"one waits in {aside.name}): wait for it to end")
    if not (folder.is_dir() and any(folder.iterdir())):
        return None
    writer = _writer_file(aside)
    fd = os.open(writer, os.O_RDWR | os.O_CREAT, 0o644)
    if not _lock(fd, writer):
        os.close(fd)
        raise FileExistsError(f"{folder} is being replaced by another evaluation ({writer_of(folder)}): wait for it "
                              "to end")
    os.ftruncate(fd, 0)
    os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
    _WRITING[aside] = fd
    try:
        folder.rename(aside)
    except BaseException:
        _release(aside)
        raise
    return aside


def _release(aside: Path) -> None:
    """The writer has ended: its writer file goes, and with the descriptor its lock."""
    fd = _WRITING.pop(Path(aside), None)
    _writer_file(Path(aside)).unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def put_back(folder: Path, aside: Path | None) -> None:
    """Undo :func:`set_aside`: the writer's partial folder goes, the earlier content comes back."""
    if aside is not None:
        shutil.rmtree(folder, ignore_errors=True)
        Path(aside).rename(folder)
        _release(aside)


def drop_aside(aside: Path | None) -> None:
    """The writer succeeded: the earlier content it replaced is deleted."""
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
        _release(aside)


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
