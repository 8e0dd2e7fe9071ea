"""An evaluation folder replaced as a whole (eval/, eval-<name>/): the earlier evaluation is set aside beside it
(``.eval.previous``) while a writer fills the folder, then put back when the writer fails or deleted when it succeeds,
all under the folder's lock file (``.eval.lock``, flock), which also says how far the writer got. A writer killed
in the middle (kill -9, SLURM, out of memory) leaves a state the next process reads right: readers and the next
writer undo it (:func:`recover`), and a folder whose writer still runs, here or on another machine, is refused in
one line (:func:`busy_line`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from pathlib import Path

from .locks import elsewhere, holder, holder_ended, is_lock_file, record, recorded

_NO_SWEEP = "-nosweep"  # the suffix of the folder of a test without a SweepEvaluation (evaluation.folder_of_test)
_WRITING: dict[Path, int] = {}  # the folders this process is replacing: the descriptor that holds each one's lock


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


def nosweep_folder(folder: Path) -> Path:
    """<folder>-nosweep: where a test without a SweepEvaluation writes, beside the evaluation folder ``folder``
    (evaluation.folder_of_test)."""
    return folder.with_name(f"{folder.name}{_NO_SWEEP}")


def beside_nosweep(folder: Path) -> Path:
    """The evaluation folder that a test without a sweep's folder stands beside (:func:`nosweep_folder` undone);
    ``folder`` itself where it is no such folder."""
    return folder.with_name(folder.name.removesuffix(_NO_SWEEP))


def _aside(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.previous")


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
            locked = is_lock_file(fd, lock)
            if not locked:  # its holder deleted the file after this process opened it: lock the one at the path now
                os.close(fd)
                continue
        host, pid, _ = recorded(lock)
        if not holder_ended(host, pid, locked):
            os.close(fd)
            return None
        return fd


def _release(folder: Path, fd: int, unlink: bool = True) -> None:
    """Delete the lock file while holding its lock (unless what it says must stay), then drop the lock with the
    descriptor."""
    if unlink:
        _lock_file(folder).unlink(missing_ok=True)
    os.close(fd)


def writer_of(folder: Path) -> str:
    """The running writer of ``folder``, for messages: "process 123 on host"."""
    return holder(_lock_file(Path(folder)), "a process")


def busy_line(folder: Path) -> str:
    """What to say of a folder whose lock another writer holds: the writer, and what to do. A writer on another
    machine may run whatever the lock says (:func:`_take_lock`): what to delete if it no longer runs (what
    :func:`recover` would do there)."""
    lock = _lock_file(folder)
    host, pid, state = recorded(lock)
    if elsewhere(host, pid):
        path, what = (_aside(folder), "what is left of the evaluation it replaced") if state == "done" else \
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
        record(fd, blank=True)
        return None, True
    if aside.is_dir():
        record(fd, blank=True)  # from here the aside is the whole evaluation, whatever the folder holds
        shutil.rmtree(folder, ignore_errors=True)
        aside.rename(folder)
        return RESTORED.format(name=folder.name), True
    if writing and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        record(fd, blank=True)
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
    _, pid, state = recorded(_lock_file(folder))
    unlink = False
    try:
        note, unlink = _recover_locked(folder, fd, bool(pid), state == "done")
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
        _, pid, state = recorded(_lock_file(folder))
        _, clean = _recover_locked(folder, fd, bool(pid), state == "done")
        aside = _aside(folder)
        if not clean:
            raise OSError(f"{aside} holds files of an earlier evaluation that could not be deleted: delete them")
        if folder.is_dir() and any(folder.iterdir()):
            folder.rename(aside)  # the lock file is blank: a kill from here puts the aside back
        else:
            aside = None
        record(fd)  # from here the folder holds this writer's partial files
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
        record(fd, done=True)  # the folder is whole: a kill from here leaves it, and the aside goes
        _, unlink = _recover_locked(folder, fd, writing=True, done=True)
        _release(folder, fd, unlink)
