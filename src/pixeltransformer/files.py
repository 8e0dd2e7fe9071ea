"""Where the project keeps files, and how it writes them: atomic writes, the one cache root, and folders a failed
command made and leaves empty.

A file is written next to its target under a temporary name and renamed over it, so a job killed in the middle
of a write leaves the previous file (or none) instead of a truncated one, and two processes writing the same
cache entry each leave a whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import in_number

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
    root = env or Path(xdg if os.path.isabs(xdg) else "~/.cache").expanduser() / "pixeltransformer"
    return root.joinpath(*parts)


def env_folder(name: str) -> Path | None:
    """The folder the environment variable ``name`` names ($PIXELTRANSFORMER_DATA, $PIXELTRANSFORMER_CACHE), None
    where it is unset or empty: "~" expanded, and a relative path taken from the folder the command runs in and made
    absolute, so that every line names the folder read or written ("no data at data/mnist" did not say where)."""
    value = os.environ.get(name)
    return Path(os.path.abspath(Path(value).expanduser())) if value else None


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


@contextlib.contextmanager
def writing_cache(what: str, hint: str) -> Iterator[None]:
    """Around a cache write (:func:`atomic_write`): an OSError (a full disk, a folder made read-only meanwhile) comes
    out as :class:`CacheWriteError`, in the words :func:`check_cache_folder` uses."""
    try:
        yield
    except CacheWriteError:
        raise
    except OSError as err:
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


# bytes of a file or folder's name kept in a cache entry's name, which stays short enough with a temporary name's
# host, PID namespace and PID
NAME_BYTES = 64


def name_start(name: str, limit: int = NAME_BYTES) -> str:
    """The start of ``name``, at most ``limit`` bytes (UTF-8, whole characters), for a cache entry's file name: the
    key beside it tells entries apart, and a whole name of 200 bytes or more (70 CJK characters) would make an entry
    name past the file system's 255 bytes, never written."""
    return os.fsencode(name)[:limit].decode(errors="ignore")


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


STALE_SECONDS = 3600  # a temporary file of a writer on this machine that no longer runs, untouched this long, goes
_SWEPT: set[str] = set()  # the folders whose stale temporary files this process removed


def _writer() -> str:
    """Who writes a temporary file, in its name: "<host>.<pid namespace>.<pid>". Containers of one host name (a
    scheduler's) each number their processes from 1: the namespace tells their writers apart, so that one's running
    writer never looks ended to another ("0" where the system does not say it)."""
    try:
        space = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        space = 0
    return f"{socket.gethostname()}.{space}.{os.getpid()}"


def ended_writers(names: Iterable[str], tail: str, older: bool = False) -> Iterator[str]:
    """Those of ``names`` (temporary entries ``.<name>.<host>.<pid namespace>.<pid><tail>``, ``tail`` a regex, as
    :func:`_writer` names their writer) that a process of this machine and PID namespace wrote which no longer runs;
    ``older``: also names without the namespace, an earlier version's."""
    host, _, space = _writer().rpartition(".")[0].rpartition(".")
    spaced = rf"(?:\.{re.escape(space)})?" if older else rf"\.{re.escape(space)}"
    mine = re.compile(rf"\..*\.{re.escape(host)}{spaced}\.(\d+){tail}")
    for name in names:
        match = mine.fullmatch(name)
        if match is not None and int(match[1]) != os.getpid() and not _process_runs(int(match[1])):
            yield name


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its process was killed (kill -9, out
    of memory, a scheduler): written by a process of this machine and PID namespace that no longer runs, and
    untouched for an hour. Each kill left one for good, hidden, as large as the entry (614 MB for a folder of 50 000
    pictures). Each folder is swept once a process; the files of other machines and containers stay, as their
    processes cannot be asked from here."""
    key = os.path.abspath(folder)
    if key in _SWEPT:
        return
    _SWEPT.add(key)
    try:
        names = [name for name in os.listdir(folder) if name.startswith(".") and ".tmp" in name]
    except OSError:
        return
    # a name without the namespace, of an earlier version, was this host's
    for name in ended_writers(names, r"\.[0-9a-f]{8}\.tmp(\.[^.]*)?", older=True):
        try:
            if time.time() - os.stat(os.path.join(folder, name)).st_mtime > STALE_SECONDS:
                os.unlink(os.path.join(folder, name))
        except OSError:  # removed meanwhile, or not this user's to remove
            continue


def staging_folder(parent: str | Path, name: str) -> Path:
    """A new hidden folder in ``parent`` (made where missing) to fill before its content is renamed into place as
    ``name`` (a prediction's folder): ``.<name>.<host>.<PID namespace>.<pid>.<random>.partial``, which names its
    writer. What writers killed while they wrote (kill -9, out of memory) left there goes first: the staging folders
    of processes of this machine and PID namespace that no longer run. Each kill left one for good, hidden, as large
    as the prediction. Those of other machines and containers stay, as their processes cannot be asked from here."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for ended in ended_writers(os.listdir(parent), r"\.[a-z0-9_]{8}\.partial"):
        if (parent / ended).is_dir() and not (parent / ended).is_symlink():
            shutil.rmtree(parent / ended, ignore_errors=True)  # not this user's to remove: it stays
    return Path(tempfile.mkdtemp(prefix=f".{name_start(name)}.{_writer()}.", suffix=".partial", dir=parent))


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it over ``path``. Parent folders
    are created; on failure the temporary file is removed and ``path`` is left as it was. What writers killed before
    left in the folder goes (:func:`remove_stale_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    # the suffix is kept, so writers that pick a format from the file name (numpy, PIL, trimesh) still can
    tmp = path.with_name(f".{path.stem}.{_writer()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def data_files(root: str | Path, suffixes: Iterable[str], unread: Iterable[str] = (),
               missing: list[Path] | None = None) -> list[Path]:
    """Every file below root (recursively) whose suffix is one of ``suffixes`` (lower case, with the dot), sorted so
    that the order is the same on every machine. Hidden files and folders are left out: macOS copies carry an
    AppleDouble ``._name.jpg`` beside every file, and viewers keep ``.thumbnails/``; neither is data. Linked folders
    are searched as folders (a dataset assembled from links, ``train -> /data/cats/train``), each real folder once, so
    a link back up the tree ends. Links to files that are not there (a drive not mounted, a folder moved) are left out
    with one warning that counts them and names the first: without it a folder of such links had "no images".
    ``unread``: suffixes of files of the same kind that are not read (a picture folder's .webp and .tif files), left
    out with one warning that counts them by suffix and names the first, rather than without a word. ``missing``: a
    list the links to missing files are added to instead of being warned of, for a caller that reads some of the
    suffixes alone and says only of those (:func:`warn_missing_links`)."""
    root, suffixes, unread = Path(root), tuple(suffixes), tuple(unread)
    found, seen, broken, others = [], set(), [], []
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second way to a folder already read
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # in order: the same way wins on every machine
        for name in files:
            suffix = Path(name).suffix.lower()
            if name.startswith(".") or suffix not in suffixes:
                if suffix in unread and not name.startswith("."):
                    others.append(Path(folder, name))
                continue
            path = Path(folder, name)
            if path.is_file():
                found.append(path)
            elif path.is_symlink() and not path.exists():
                broken.append(path)
    if missing is None:
        warn_missing_links(root, broken, stacklevel=2)
    else:
        missing.extend(broken)
    if others:
        counts = Counter(path.suffix.lower() for path in others)
        kinds = ", ".join(f"{count} {suffix}" for suffix, count in sorted(counts.items()))
        warnings.warn(f"{root}: left out {kinds} {in_number(len(others), 'file')} (first: "
                      f"{min(others).relative_to(root)}): only {'/'.join(suffixes)} files are read; convert them to "
                      "one of those", stacklevel=2)
    return sorted(found)


def warn_missing_links(root: Path, broken: list[Path], stacklevel: int = 1) -> None:
    """One warning, where there are any, that counts the links to missing files below root that were left out and
    names the first. stacklevel: as warnings.warn's, counted from the caller."""
    if broken:
        first = min(broken)
        warnings.warn(f"{root}: left out {len(broken)} "
                      f"{'links to missing files' if len(broken) != 1 else 'link to a missing file'} (first: "
                      f"{first.relative_to(root)} -> {os.readlink(first)})", stacklevel=stacklevel + 1)


def nearest_existing(path: Path) -> Path:
    """path, or the nearest of its parents that exists: a file there stops folders from being made below it."""
    return next(p for p in (path, *path.parents) if p.exists())  # "." or "/" at the end


def missing_folders(path: Path) -> list[Path]:
    """path and those of its parents that do not exist yet, innermost first: what mkdir(parents=True) would make."""
    return [p for p in (path, *path.parents) if not p.exists()]


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove those folders (innermost first) that exist and are empty: a failure leaves no empty folders behind."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


_WRITING: dict[Path, int] = {}  # the folders this process is replacing: the descriptor that holds each one's lock
_RECORD = re.compile(r"(\S+) (\d+)( done)?")  # what a writer's lock file says: "host pid", then "host pid done"


def _lock_file(folder: Path) -> Path:
    """``.<name>.lock`` beside a folder an evaluation replaces: locked (flock) while a writer runs. The kernel, or a
    shared file system's lock server where it has one, drops a lock with its process, so the lock tells a writer
    that was killed from one that still runs. The file says what the folder holds: empty (or no file), a whole
    evaluation, and an aside beside it is the whole earlier one that a killed writer set aside; "host pid", that
    writer's partial files; "host pid done", the writer's whole evaluation, and an aside beside it is left to
    delete. The file is rewritten before each move of a folder, so a kill at any point leaves a state that the next
    process reads right. Whoever holds the lock deletes the file when nothing is left to do; a process that locked a
    file deleted meanwhile sees that and locks the new one (_take_lock)."""
    return folder.with_name(f".{folder.name}.lock")


def _aside(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.previous")


def _recorded(lock: Path) -> tuple[str, str, bool]:
    """(host, pid, done) of the writer a lock file names; ("", "", False) when it names none."""
    match = _RECORD.fullmatch(lock.read_text().strip() if lock.is_file() else "")
    return (match[1], match[2], bool(match[3])) if match else ("", "", False)


def _record(fd: int, done: bool = False, blank: bool = False) -> None:
    """Say in the lock file held through ``fd`` how far this writer got (see :func:`_lock_file`): the new text is
    written over the old before the file is cut to its length, so it never reads empty on the way."""
    text = b"" if blank else f"{socket.gethostname()} {os.getpid()}{' done' if done else ''}\n".encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))


def _take_lock(folder: Path) -> int | None:
    """Lock ``folder``'s lock file without waiting: its descriptor, or None while another writer may run. A writer
    the file names on another machine is taken to run whatever the lock says, for every caller: a lock may hold on
    one machine alone (some NFS set-ups), and its process cannot be asked from here. On a file system without locks,
    a writer on this machine runs while its process does."""
    lock = _lock_file(folder)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:  # no locks on this file system: the recorded writer tells
            locked = False
        else:
            try:
                locked = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                locked = False
            if not locked:  # its holder deleted the file after this process opened it: lock the one at the path now
                os.close(fd)
                continue
        host, pid, _ = _recorded(lock)
        if _elsewhere(host, pid) or (pid and not locked and _process_runs(int(pid))):
            os.close(fd)
            return None
        return fd


def _elsewhere(host: str, pid: str) -> bool:
    """Whether a lock file's writer (``_recorded``) ran on another machine: it may still run there."""
    return bool(pid) and host != socket.gethostname()


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def _release(folder: Path, fd: int, unlink: bool = True) -> None:
    """Delete the lock file while holding its lock (unless what it says must stay), then drop the lock with the
    descriptor."""
    if unlink:
        _lock_file(folder).unlink(missing_ok=True)
    os.close(fd)


def writer_of(folder: Path) -> str:
    """The running writer of ``folder``, for messages: "process 123 on host"."""
    host, pid, _ = _recorded(_lock_file(Path(folder)))
    return f"process {pid} on {host}" if pid else "a process"


def busy_line(folder: Path) -> str:
    """What to say of a folder whose lock another writer holds: the writer, and what to do. A writer on another
    machine may run whatever the lock says (:func:`_take_lock`): what to delete if it no longer runs (what
    :func:`recover` would do there)."""
    lock = _lock_file(folder)
    host, pid, done = _recorded(lock)
    if _elsewhere(host, pid):
        path, what = (_aside(folder), "what is left of the evaluation it replaced") if done else \
            (folder, "its partial files")
        first = f"{what}, {path}, then " if path.exists() else ""
        return (f"{folder} is being replaced by an evaluation on another machine ({writer_of(folder)}), which cannot "
                f"be checked from {socket.gethostname()}: wait for it to end, or if it no longer runs, delete "
                f"{first}{lock}")
    return f"{folder} is being replaced by another evaluation ({writer_of(folder)}): wait for it to end"


def running_writer(folder: Path) -> str | None:
    """:func:`busy_line` of a folder a writer is replacing now, for a reader that must not take its partial files, or
    the earlier evaluation it set aside, for a result; None when none runs."""
    folder = Path(folder)
    if folder in _WRITING or not _lock_file(folder).is_file():
        return None
    try:
        fd = _take_lock(folder)
    except OSError:  # a folder this user cannot write: no writer of this user's runs there
        return None
    if fd is None:
        return busy_line(folder)
    _release(folder, fd, unlink=False)
    return None


RESTORED = ("put back the earlier evaluation, which an evaluation that did not end (killed) had set aside in "
            ".{name}.previous")
REMOVED = "removed the partial files of an evaluation that did not end (killed); there was no earlier one"


def _recover_locked(folder: Path, fd: int, writing: bool, done: bool) -> tuple[str | None, bool]:
    """With ``folder``'s lock held through ``fd``, undo what the writer the lock file names left when it did not end
    (see :func:`_lock_file`; ``writing``: the file names a writer, ``done``: it says "done"). Done: its whole folder
    stays, and its aside goes. Writing: its aside comes back over its partial files, or its partial files go when
    nothing was set aside. The lock file is rewritten before each move, so a kill at any point leaves a state the
    next process reads right. Returns what was done, for a message (or None), and whether the lock file may go (not
    while a deleted aside left files behind)."""
    aside = _aside(folder)
    if done:
        shutil.rmtree(aside, ignore_errors=True)
        if aside.exists():
            return None, False
        _record(fd, blank=True)
        return None, True
    if aside.is_dir():
        _record(fd, blank=True)  # from here the aside is the whole evaluation, whatever the folder holds
        shutil.rmtree(folder, ignore_errors=True)
        aside.rename(folder)
        return RESTORED.format(name=folder.name), True
    if writing and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        _record(fd, blank=True)
        return REMOVED, True
    return None, True


def recover(folder: Path) -> str | None:
    """Undo what a writer of ``folder`` that did not end (killed: kill -9, SLURM, out of memory) left: the earlier
    content it set aside is put back over its partial files, and partial files with nothing earlier are removed.
    A writer on another machine is left alone, as if it still ran (:func:`_take_lock`). Returns what was done, for a
    message; None when there was nothing to undo, or when the writer runs."""
    folder = Path(folder)
    if folder in _WRITING or not (_aside(folder).is_dir() or _lock_file(folder).is_file()):
        return None
    try:
        fd = _take_lock(folder)
    except OSError:  # a folder this user cannot write: nothing can be undone
        return None
    if fd is None:  # its writer runs
        return None
    _, pid, done = _recorded(_lock_file(folder))
    unlink = False
    try:
        note, unlink = _recover_locked(folder, fd, bool(pid), done)
        return note
    except OSError:  # a file that cannot be moved or deleted: the lock file keeps saying what is left to do
        return None
    finally:
        _release(folder, fd, unlink)


def recover_all(parent: Path) -> list[tuple[Path, str]]:
    """:func:`recover` for every evaluation folder of a run folder (eval/, eval-<name>/) that a writer left an aside
    or a lock file beside: (folder, what was done) for each one undone."""
    parent = Path(parent)
    marks = sorted(parent.glob(".eval*.previous")) + sorted(parent.glob(".eval*.lock")) if parent.is_dir() else []
    folders = dict.fromkeys(mark.with_name(mark.name[1:].rsplit(".", 1)[0]) for mark in marks)
    return [(folder, note) for folder in folders if (folder.name == "eval" or folder.name.startswith("eval-"))
            and (note := recover(folder)) is not None]


def set_aside(folder: Path) -> Path | None:
    """Before a writer replaces ``folder`` as a whole (an evaluation): take the folder's lock for as long as the
    writer runs, and move its earlier content to ``.<name>.previous`` beside it; returns that path (None when there
    was nothing). The writer's files then never mix with the earlier ones: :func:`put_back` restores them when the
    writer fails, :func:`drop_aside` deletes them when it succeeds, and either releases the lock. A folder another
    running writer is replacing is refused in one line; what a writer that was killed left is undone first, as
    readers do (:func:`recover`). A writer on another machine may run whatever the lock says (:func:`_take_lock`):
    its folder is refused too, with what to delete if it no longer runs (what :func:`recover` would do there)."""
    folder = Path(folder)
    fd = _take_lock(folder)
    if fd is None:
        raise FileExistsError(busy_line(folder))
    _WRITING[folder] = fd
    clean = True
    try:
        _, pid, done = _recorded(_lock_file(folder))
        _, clean = _recover_locked(folder, fd, bool(pid), done)
        aside = _aside(folder)
        if not clean:
            raise OSError(f"{aside} holds files of an earlier evaluation that could not be deleted: delete them")
        if folder.is_dir() and any(folder.iterdir()):
            folder.rename(aside)  # the lock file is blank: a kill from here puts the aside back
        else:
            aside = None
        _record(fd)  # from here the folder holds this writer's partial files
        return aside
    except BaseException:
        _release(folder, _WRITING.pop(folder), unlink=clean)
        raise


def put_back(folder: Path) -> None:
    """Undo :func:`set_aside`: the writer's partial folder goes, the earlier content (if any) comes back."""
    folder = Path(folder)
    if folder in _WRITING:
        fd = _WRITING.pop(folder)
        _, unlink = _recover_locked(folder, fd, writing=True, done=False)
        _release(folder, fd, unlink)


def drop_aside(folder: Path) -> None:
    """The writer of ``folder`` succeeded: the earlier content it replaced is deleted."""
    folder = Path(folder)
    if folder in _WRITING:
        fd = _WRITING.pop(folder)
        _record(fd, done=True)  # the folder is whole: a kill from here leaves it, and the aside goes
        _, unlink = _recover_locked(folder, fd, writing=True, done=True)
        _release(folder, fd, unlink)


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


class FileDigests:
    """:func:`file_digest` of files, remembered in one JSON file (``memo``, beside a cache) by each file's path, size,
    modification and change times and inode: a cache keyed by what files hold then reads each file's bytes once,
    rather than at every start (ShapeNet's chairs are gigabytes, read again by every DDP rank). A file written since
    (another size or time) is read again, and so is one written in the two seconds before it was read, which a coarse
    file-system clock could not tell from a rewrite just after: written by its change time too, since a copy that
    keeps times (``cp -p``, ``touch -r``) has an old modification time but a change time of now. Call :meth:`save`
    to keep what was read."""

    RECENT_NS = 2_000_000_000  # a file written (mtime or ctime) this shortly before it was read is read again next time

    def __init__(self, memo: str | Path, algorithm: str = "sha256"):
        self.memo, self.algorithm = Path(memo), algorithm
        self._known: dict[str, Any] = self._stored().get(algorithm, {})
        self._new: dict[str, list] = {}

    def _stored(self) -> dict[str, Any]:
        """What the memo file holds: {algorithm: {path: [size, mtime, ctime, inode, digest]}} ({} when it is absent or
        unreadable)."""
        try:
            data = json.loads(self.memo.read_text())
        except (OSError, ValueError):
            return {}
        return {alg: entries for alg, entries in data.items() if isinstance(entries, dict)} \
            if isinstance(data, dict) else {}

    def __call__(self, path: str | Path) -> str:
        """The digest of the file at path: remembered, or read now."""
        path = Path(path)
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        key = os.path.abspath(path)
        known = self._known.get(key)
        if isinstance(known, list) and len(known) == 5 and known[:4] == stamp:
            return known[4]
        digest = file_digest(path, self.algorithm)
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > self.RECENT_NS:  # cp -p: mtime old, ctime now
            self._known[key] = self._new[key] = [*stamp, digest]
        return digest

    def save(self) -> None:
        """Add the digests read since the last save to the memo file, beside what other processes wrote there; a memo
        that cannot be written only means reading the files again next time."""
        if not self._new:
            return
        stored = self._stored()
        stored[self.algorithm] = {**stored.get(self.algorithm, {}), **self._new}
        try:
            write_json(self.memo, stored)
        except OSError:
            pass
        self._new = {}
