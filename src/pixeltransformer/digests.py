"""What files hold, as digests of their bytes: :func:`file_digest` for a cache key or a download's checksum, and
:class:`FileDigests`, which remembers each file's digest in a memo beside a cache so that the bytes of files
unchanged since are not read again at every start.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .files import file_stamp, write_json


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (read in 1 MiB blocks): cache keys, download checksums."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def named_file(path: Path, digest: str | None = None) -> str:
    """A file given as a data root, as its pool files name it: ``name#digest`` of its bytes (``digest``: its
    :func:`file_digest` where the caller has it already), so that another file of its name is told from it, and the
    file renamed since is not (``data_mismatch.as_named``)."""
    return f"{path.name}#{(digest or file_digest(path))[:16]}"


class FileDigests:
    """:func:`file_digest` of files, remembered in one JSON file (``memo``, beside a cache) by each file's stamp
    (:func:`files.file_stamp`: path, size, modification and change times, inode): a cache keyed by what files hold
    then reads each file's bytes once, rather than at every start (ShapeNet's chairs are gigabytes, read again by
    every DDP rank). A file written since (another stamp) is read again, and so is one changed just before it was read
    (:meth:`files.FileStamp.recent`). Call :meth:`save` to keep what was read."""

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
        stamp = file_stamp(path)
        key, known = stamp.path, self._known.get(stamp.path)
        if isinstance(known, list) and len(known) == 5 and known[:4] == list(stamp[1:]):  # size, times, inode
            return known[4]
        digest = file_digest(path, self.algorithm)
        if not stamp.recent(time.time_ns()):
            self._known[key] = self._new[key] = [*stamp[1:], digest]
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
