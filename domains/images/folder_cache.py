"""A picture folder decoded once. Its pictures' pixels at one size are kept in the cache (``cache.cache_root("images",
"folders")``), keyed by what the files hold, so a later run, and every DDP rank and evaluation of this one, reads one
array instead of decoding each picture again: about 0.5 ms a 64x64 PNG and 12 ms a full-size photo here, so minutes
a start for a folder of 10 000 photos. A folder keeps one entry for each of its pools (all its pictures, or a
train/, val/ or test/ folder's), size, channels, decoder and decoding version: an entry written after the folder's
pictures changed takes the place of the one before, which nothing reads any more.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from pixeltransformer.cache import cache_key, not_cached, package_versions, whole_npy
from pixeltransformer.digests import FileDigests
from pixeltransformer.files import atomic_write, name_start

from . import io

FOLDER_VERSION = 1  # what decoding makes of a file (crop, resize, colour): a change here makes every entry new
DECODERS = ("pillow",)  # the libraries whose versions a key holds: another pillow may decode or resize otherwise


def folder_key(root: Path, files: list[Path], size: int, channels: int, digests: FileDigests) -> str:
    """The cache key of ``files`` read at ``size`` with ``channels``: their places under root and their bytes, and
    the decoding library's version."""
    decoders = package_versions(DECODERS)
    return cache_key(FOLDER_VERSION, decoders, size, channels, [[str(f.relative_to(root)), digests(f)] for f in files])


def read_folder(root: Path, files: list[Path], size: int, channels: int, cache_dir: Path,
                progress: bool = True, pool: str = "all", sizes: dict | None = None) -> io.Arrays:
    """:func:`io.read_image_folder` of ``files`` (the folder's pool ``pool``) through the cache: images
    [N, size, size, C] uint8 (channel by channel in memory, as decoded), labels None, and the same warnings about
    unreadable or dim files every time (the sub-folders' sizes added to ``sizes`` when given, rather than told:
    :func:`io.warn_folder_notes`). A cache that cannot be written only means decoding again next time (one
    warning)."""
    digests = FileDigests(cache_dir / "digests.json")  # each file's bytes read once, not at every start
    key = folder_key(root, files, size, channels, digests)
    digests.save()
    # the key tells folders of one name start apart; the folder's own name, which a symlink to it shares
    stem = f"{name_start(root.resolve().name) or 'root'}_{size}_{channels}"
    path = cache_dir / f"{stem}_{key}.npy"  # [N, C, size, size]
    notes_path = path.with_suffix(".json")
    # what an entry is the pictures of, whatever they hold: a later entry of the same replaces it (the same decoding:
    # a checkout of another FOLDER_VERSION sharing the cache still reads its own)
    entry = [str(root.resolve()), pool, size, channels, package_versions(DECODERS),
             FOLDER_VERSION]
    try:
        notes = json.loads(notes_path.read_text())
        if not whole_entry(notes, path, size, channels):
            raise ValueError(f"{path}: not the entry its name says")
        images = np.load(path).transpose(0, 2, 3, 1)  # [N, size, size, C]
    except (OSError, ValueError, EOFError):  # absent, truncated, or left empty (numpy: "No data left in file")
        images, notes = io.decode_folder(root, files, size, progress, channels)  # [N, size, size, C]
        try:  # the notes first: the array's presence says the entry is whole
            atomic_write(notes_path, lambda tmp: tmp.write_text(json.dumps({**notes, "entry": entry})))
            atomic_write(path, lambda tmp: np.save(tmp, images.transpose(0, 3, 1, 2)))  # C-contiguous
        except OSError as err:
            again = f"{root} is decoded again at the next start"
            warnings.warn(not_cached("decoded pictures", cache_dir, err, again))
        else:
            remove_replaced(cache_dir, stem, notes_path, entry)
    io.warn_folder_notes(root, notes, sizes)
    return images, None


def whole_entry(notes: object, path: Path, size: int, channels: int) -> bool:
    """Whether an entry's notes and its pixels at path ([N, C, size, size] uint8, :func:`cache.whole_npy`) are what
    :func:`io.decode_folder` writes: notes of another form (written over, or by hand) stopped a start with a
    KeyError (a folder of no pictures, as its sizes were grouped), and pixels of another size, colour or type were
    served as they were."""
    if not isinstance(notes, dict) or not isinstance(notes.get("files"), int) or notes.get("size") != size or \
            not all(isinstance(notes.get(key), list) for key in ("skipped", "dim", "small")) or \
            not isinstance(notes.get("folders"), dict) or \
            not all(isinstance(v, list) and len(v) == 2 and all(type(n) is int and n >= 1 for n in v)
                    for v in notes["folders"].values()):
        return False  # an entry written before its notes held "small" or "folders" is decoded again
    return whole_npy(path, (notes["files"] - len(notes["skipped"]), channels, size, size), np.uint8)


def remove_replaced(cache_dir: Path, stem: str, kept: Path, entry: list) -> None:
    """Remove the entries of ``entry`` (a folder's pool at one size, channels, decoder and FOLDER_VERSION) other
    than ``kept``'s notes: the pictures the folder held before they changed, a whole copy of it each. Entries written
    before entries were named, and any that cannot be read, stay."""
    for notes_path in cache_dir.glob(f"{stem}_*.json"):
        if notes_path == kept:
            continue
        try:
            if json.loads(notes_path.read_text()).get("entry") != entry:
                continue
            notes_path.with_suffix(".npy").unlink(missing_ok=True)  # the array first: without it the entry is gone
            notes_path.unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):  # unreadable, being replaced, or not an entry's notes
            continue
