"""A user's .npz that is not a good one, given to each domain's reader of .npz files (pixeltransformer.arrays.read_npz):
one line naming the file and the cause. numpy's own words named no file ("Object arrays cannot be loaded when
allow_pickle=False"), and a truncated or text file met some readers as a BadZipFile or an EOFError."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from domains.images.datasets import read_image_npz
from domains.polynomial.curves import read_curves
from domains.sdf.mesh import load_mesh
from domains.sdf.voxels import read_voxels
from domains.video.clips import read_video_npz

READERS = {  # reader, the names of a good file's arrays
    "images": (read_image_npz, ("images",)),
    "curves": (read_curves, ("y",)),
    "mesh": (load_mesh, ("vertices", "faces")),
    "voxels": (read_voxels, ("voxels",)),
    "video": (read_video_npz, ("videos",)),
}


def bad_file(kind: str, names: tuple[str, ...], folder: Path) -> tuple[Path, str]:
    """An .npz of ``kind`` holding arrays ``names`` (where it holds any), and what the line must say of it."""
    path = folder / f"{kind}.npz"
    if kind == "objects":  # a list of ragged rows saved as it came: an object array
        np.savez(path, **{name: np.array([[1, 2], [3]], dtype=object) for name in names})
        return path, "its arrays must hold numbers, but one holds Python objects (pickled data is never loaded)"
    np.savez(path, **{name: np.zeros((2, 3, 4, 4, 3), dtype=np.uint8) for name in names})
    if kind == "cut":  # a copy cut short
        path.write_bytes(path.read_bytes()[:300])
        return path, "not a readable .npz file (File is not a zip file)"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "not a readable .npz file (the file is empty; np.savez writes one)"
    if kind == "text":
        path.write_text("y\n1,2,3\n")
        return path, "not a readable .npz file (not a zip archive; np.savez writes one)"
    np.save(folder / "one.npy", np.zeros((2, 3)))  # "npy": np.save's file under an .npz name
    (folder / "one.npy").rename(path)
    return path, "not a readable .npz file (a single .npy array, not named arrays; np.savez writes one)"


@pytest.mark.parametrize("kind", ["objects", "cut", "empty", "text", "npy"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_bad_npz_is_named_in_one_line(tmp_path, reader, kind):
    read, names = READERS[reader]
    path, cause = bad_file(kind, names, tmp_path)
    with pytest.raises(ValueError, match=f"^{re.escape(f'{path}: {cause}')}$"):
        read(path)
