"""How the project writes files and finds them: atomic writes, a staging folder renamed into place, the folders a
failed command made and leaves empty, whether a folder can be written before the work that writes there, the folder
an environment variable names, a data folder's files listed, and a file's stamp, by which an answer read from it is
kept until it changes (:func:`file_stamp`, :func:`by_stamp`).

A file is written next to its target under a temporary name and renamed over it, so a job killed in the middle
of a write leaves the previous file (or none) instead of a truncated one, and two processes writing the same
cache entry each leave a whole file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .errors import in_number


def user_path(value: str | os.PathLike) -> Path:
    """A path the user gave, its leading "~" as the home folder: no shell expands a config file's value, an option
    joined to its value by "=" (``--out=~/x``) or a notebook's argument, where a "~" left as it is named a folder "~"
    in the working folder."""
    return Path(os.path.expanduser(value))


def is_root_option(name: str) -> bool:
    """Whether a data module's option names a place its data is read from: ``root`` or ``*_root``."""
    return name == "root" or name.endswith("_root")


def root_option(path: str | os.PathLike, option: str = "root") -> str:
    """The data option ``option`` (``root``, ``mesh_root`` ...) that passes ``path``, as one shell word: a path with
    a space in it quoted, so that a command a line gives runs as printed."""
    return f"--data.init_args.{option}={shlex.quote(str(path))}"


def env_folder(name: str) -> Path | None:
    """The folder the environment variable ``name`` names ($PIXELTRANSFORMER_DATA, $PIXELTRANSFORMER_CACHE), None
    where it is unset or empty: "~" expanded, and a relative path taken from the folder the command runs in and made
    absolute, so that every line names the folder read or written ("no data at data/mnist" did not say where)."""
    value = os.environ.get(name)
    return Path(os.path.abspath(user_path(value))) if value else None


# bytes of a file or folder's name kept in a cache entry's name, which stays short enough with a temporary name's
# host, PID namespace and PID
NAME_BYTES = 64


def name_start(name: str, limit: int = NAME_BYTES) -> str:
    """The start of ``name``, at most ``limit`` bytes (UTF-8, whole characters), for a cache entry's file name: the
    key beside it tells entries apart, and a whole name of 200 bytes or more (70 CJK characters) would make an entry
    name past the file system's 255 bytes, never written."""
    return os.fsencode(name)[:limit].decode(errors="ignore")


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
        if match is not None and int(match[1]) != os.getpid() and not process_runs(int(match[1])):
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


def temporary_beside(path: Path) -> Path:
    """A new temporary file's name beside ``path``: ``.<stem>.<writer>.<random>.tmp<suffix>``, which names its writer
    (remove_stale_temporaries removes it where that process was killed before it could)."""
    return path.with_name(f".{path.stem}.{_writer()}.{secrets.token_hex(4)}.tmp{path.suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it over ``path``. Parent folders
    are created; on failure the temporary file is removed and ``path`` is left as it was. What writers killed before
    left in the folder goes (:func:`remove_stale_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    # the suffix is kept, so writers that pick a format from the file name (numpy, PIL, trimesh) still can
    tmp = temporary_beside(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def data_files(root: str | Path, suffixes: Iterable[str], unread: Iterable[str] = (),
               missing: list[Path] | None = None, limit: int | None = None, below: bool = True) -> list[Path]:
    """Every file below root (recursively) whose suffix is one of ``suffixes`` (lower case, with the dot), sorted so
    that the order is the same on every machine. Hidden files and folders are left out: macOS copies carry an
    AppleDouble ``._name.jpg`` beside every file, and viewers keep ``.thumbnails/``; neither is data. Linked folders
    are searched as folders (a dataset assembled from links, ``train -> /data/cats/train``), each real folder once, so
    a link back up the tree ends. Links to files that are not there (a drive not mounted, a folder moved) are left out
    with one warning that counts them and names the first: without it a folder of such links had "no images".
    ``unread``: suffixes of files of the same kind that are not read (a picture folder's .webp and .tif files), left
    out with one warning that counts them by suffix and names the first, rather than without a word. ``missing``: a
    list the links to missing files are added to instead of being warned of, for a caller that reads some of the
    suffixes alone and says only of those (:func:`warn_missing_links`). ``limit``: the walk stops once it has found
    that many files, the first in its order (a folder's own files, then its sub-folders' in name order): a quick look
    whether a folder holds any. ``below=False``: root's own files alone, not its sub-folders'."""
    root, suffixes, unread = Path(root), tuple(suffixes), tuple(unread)
    found, seen, broken, others = [], set(), [], []
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree, or a second way to a folder already read
            dirs[:] = []
            continue
        seen.add(real)
        # in order: the same way wins on every machine
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if below else []
        for name in sorted(files):
            suffix = Path(name).suffix.lower()
            if name.startswith(".") or suffix not in suffixes:
                if suffix in unread and not name.startswith("."):
                    others.append(Path(folder, name))
                continue
            path = Path(folder, name)
            if path.is_file():
                found.append(path)
                if limit is not None and len(found) >= limit:
                    break
            elif path.is_symlink() and not path.exists():
                broken.append(path)
        if limit is not None and len(found) >= limit:
            break
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


def check_writable_below(path: Path, said: str, not_a_folder: str, unwritable: str) -> None:
    """That the folders up to ``path`` can be made, and written, by this user, checked at the nearest existing one
    before the work that writes there: NotADirectoryError ``<said>: <it> is a file, not a folder<not_a_folder>``
    (mkdir's "File exists" only once the work was done) or PermissionError ``<said>: <it> cannot be written
    (<why>)<unwritable>``."""
    existing = nearest_existing(path)
    if not existing.is_dir():
        raise NotADirectoryError(f"{said}: {existing} is a file, not a folder{not_a_folder}")
    if (why := cannot_write(existing)) is not None:
        raise PermissionError(f"{said}: {existing} cannot be written ({why}){unwritable}")


def writable_problem(path: Path, said: str, remedy: str, file: Path | None = None) -> str | None:
    """Why a command cannot write into the folder ``path`` (made where missing), as :func:`check_writable_below`
    words it with ``remedy`` after either cause; None where it can. ``file``: the file the command writes there,
    which, where it is there already, must be writable too (``<said>: the file cannot be written (no write
    permission)<remedy>``). For the commands that check the place of what they write before their work, and refuse
    in one line."""
    try:
        check_writable_below(path, said, remedy, remedy)
    except OSError as err:
        return str(err)
    if file is not None and file.exists() and not os.access(file, os.W_OK):
        return f"{said}: the file cannot be written (no write permission){remedy}"
    return None


def cannot_write(folder: Path) -> str | None:
    """Why this user cannot write into an existing ``folder`` ("a read-only file system", "no write permission",
    "no file can be made there"); None when it can. os.access lets root write anywhere, where a file system of no
    storage (/proc, /sys: statvfs counts no blocks) makes no files of a user's: there a file is made and removed at
    once to tell. Elsewhere nothing is written (the folder's modification time stays)."""
    fs = os.statvfs(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "a read-only file system" if fs.f_flag & os.ST_RDONLY else "no write permission"
    if fs.f_blocks:
        return None
    probe = temporary_beside(folder / "write-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:  # ENOENT in /proc, EPERM in /sys: the folder is there, a file cannot be
        return "no file can be made there"
    with contextlib.suppress(OSError):  # removed meanwhile
        os.unlink(probe)
    return None


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove those folders (innermost first) that exist and are empty: a failure leaves no empty folders behind."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (signal 0; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write indented JSON."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def copy_file(src: str | Path, dest: str | Path) -> Path:
    """Atomically copy the file src (its bytes) to dest."""
    return atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp))


class FileStamp(NamedTuple):
    """What tells a file apart from itself rewritten: its absolute path, size, modification and change times and
    inode. The change time catches a copy that keeps times (``cp -p``, ``touch -r``), the inode a file renamed over
    it."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    def recent(self, now_ns: int) -> bool:
        """Whether the file changed (by either time) within :data:`RECENT_NS` before ``now_ns``: what was read from
        it is not kept, since it may change again within the same tick and keep this stamp."""
        return now_ns - max(self.mtime_ns, self.ctime_ns) <= RECENT_NS


def file_stamp(path: str | os.PathLike) -> FileStamp:
    """The :class:`FileStamp` of the file at ``path``; raises OSError as Path.stat does."""
    st = Path(path).stat()
    return FileStamp(os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# a file changed (modification or change time) this shortly before it was read may change again within the same
# tick of a coarse file-system clock (NFS, FAT, kernels before 6.13) and keep its stamp: what was read from it is not
# kept (:func:`by_stamp`, :class:`digests.FileDigests`)
RECENT_NS = 2_000_000_000

_T = TypeVar("_T")


def by_stamp(maxsize: int | None = None) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Keep what a function of a file's path (and of further hashable arguments, by position or name) answers until
    the file changes (its :func:`file_stamp`), for the ``maxsize`` answers last asked (None: all). The function is
    given the absolute path; a path that cannot be stat'ed is passed on as it is, each time (the function names why
    it cannot be read), and so is a raise. A file changed within :data:`RECENT_NS` before it is asked is read each
    time."""

    def wrap(read: Callable[..., _T]) -> Callable[..., _T]:
        kept = functools.lru_cache(maxsize=maxsize)(lambda stamp, *args, **kwargs: read(stamp.path, *args, **kwargs))

        @functools.wraps(read)
        def cached(path: str | os.PathLike, *args: Any, **kwargs: Any) -> _T:
            try:
                stamp = file_stamp(path)
            except OSError:
                return read(os.fspath(path), *args, **kwargs)
            if stamp.recent(time.time_ns()):
                return read(stamp.path, *args, **kwargs)
            return kept(stamp, *args, **kwargs)

        return cached

    return wrap
