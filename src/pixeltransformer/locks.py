"""What a lock file (flock) says of its holder: "host pid" (a fit's run folder, runs.hold_run_folder; an evaluation's
folder, eval_folders), then "host pid done" where an evaluation's writer finished; a new run's fit says "host pid
untrained" until its first optimizer step completes (runs.remove_unstarted reads it). A lock tells a process that runs
from one that was killed (the kernel drops it with its process); the record names who holds it, for messages, and
for the machines and file systems where the lock alone cannot tell.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from .files import process_runs

_RECORD = re.compile(r"(\S+) (\d+)(?: (done|untrained))?")  # "host pid", "host pid done" or "host pid untrained"


def recorded(lock: Path) -> tuple[str, str, str]:
    """(host, pid, state) of the holder a lock file names, state "done", "untrained" or ""; ("", "", "") when it
    names none."""
    match = _RECORD.fullmatch(lock.read_text().strip() if lock.is_file() else "")
    return (match[1], match[2], match[3] or "") if match else ("", "", "")


def record(fd: int, done: bool = False, blank: bool = False, untrained: bool = False, pid: int | None = None) -> None:
    """Say in the lock file held through ``fd`` that this process (or process ``pid``, which a process it started
    writes for) holds it ("host pid", "host pid done" with ``done``, "host pid untrained" with ``untrained``; nothing
    with ``blank``): the new text is written over the old before the file is cut to its length, so it never reads
    empty on the way."""
    state = " done" if done else " untrained" if untrained else ""
    text = b"" if blank else f"{socket.gethostname()} {pid or os.getpid()}{state}\n".encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))


def elsewhere(host: str, pid: str) -> bool:
    """Whether a lock file's holder (:func:`recorded`) ran on another machine: it may still run there."""
    return bool(pid) and host != socket.gethostname()


def holder_ended(host: str, pid: str, locked: bool) -> bool:
    """Whether the holder a lock file names (:func:`recorded`) has ended, as far as this machine can tell. One on
    another machine may still run there (:func:`elsewhere`: a lock may hold on one machine alone, on some NFS
    set-ups). Here, a lock this process has taken (``locked``) says its holder ended, whatever process has its pid
    now (a container restarted after a kill runs its new process under the same pid); on a file system without
    locks, its process no longer runs."""
    return not elsewhere(host, pid) and (locked or not (pid and process_runs(int(pid))))


def holder(lock: Path, unnamed: str) -> str:
    """The holder a lock file names, for messages: "process 123 on host" (``unnamed`` when it names none)."""
    host, pid, _ = recorded(lock)
    return f"process {pid} on {host}" if pid else unnamed


def is_lock_file(fd: int, lock: Path) -> bool:
    """Whether the open descriptor fd is the file at ``lock`` now (False where it was removed or replaced since)."""
    try:
        return os.fstat(fd).st_ino == os.stat(lock).st_ino
    except FileNotFoundError:
        return False
