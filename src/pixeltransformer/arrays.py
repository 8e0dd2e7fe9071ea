"""A user's .npz file of named arrays, read without unpickling anything: a file that is not one (a text file, a .npy,
an empty file), one cut short, or one holding Python objects is refused in one line naming the file. numpy's own
words for these name no file ("Object arrays cannot be loaded when allow_pickle=False", "File is not a zip file"),
and some are not ValueErrors at all (zipfile.BadZipFile, EOFError), so a domain's reader met them as a bare line or a
traceback."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import first_line

ZIP_START = b"PK"  # every zip archive, and so every .npz, starts with these bytes
NPY_START = b"\x93NUMPY"


def npz_member_shape(archive: zipfile.ZipFile, name: str) -> tuple[int, ...] | None:
    """The shape of array ``name`` of an open .npz's zip ``archive``, from its header alone (the array is not read);
    None where that header does not read (the reader names the cause)."""
    member = f"{name}.npy" if f"{name}.npy" in archive.namelist() else name
    try:
        with archive.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return tuple(header(fh)[0])
    except Exception:  # a damaged or missing member: read_npz names it
        return None


def npz_shape(path: str | Path, name: str) -> tuple[int, ...] | None:
    """The shape of array ``name`` of the .npz at ``path``, from its header alone (:func:`npz_member_shape`); None
    where the file is not a readable zip or does not hold it."""
    try:
        with zipfile.ZipFile(path) as archive:
            return npz_member_shape(archive, name)
    except (OSError, zipfile.BadZipFile):
        return None


def read_npz(path: str | Path, names: Iterable[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The names of every array the .npz at ``path`` holds, and those of ``names`` among them, read whole (the others
    are not read). FileNotFoundError for a missing file; a ValueError naming the file for anything else."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(len(NPY_START))
    if not head.startswith(ZIP_START):
        what = ("the file is empty" if not head else "a single .npy array, not named arrays" if head == NPY_START
                else "not a zip archive")
        raise ValueError(f"{path}: not a readable .npz file ({what}; np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            return files, {name: data[name] for name in names if name in files}
    except ValueError as err:
        if "Object arrays" in str(err):
            raise ValueError(f"{path}: its arrays must hold numbers, but one holds Python objects (pickled data is "
                             "never loaded)") from None
        raise ValueError(f"{path}: not a readable .npz file ({first_line(err)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"{path}: not a readable .npz file ({first_line(err)})") from None
