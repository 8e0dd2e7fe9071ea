"""Voxel grids: occupancy grids read from .npy, .npy.gz, .npz and .binvox files (:func:`read_voxels`,
:func:`read_binvox`), turned y up (:func:`zup_to_yup`), and -> SDF grids padded to the meshes' margin
(:func:`voxels_to_sdf`); where a .binvox file's grid lies in its model's units (:func:`binvox_frame`), and which
files of a folder are voxel grids (:func:`solid_voxels`, :func:`grid_files`). The grids follow mesh.py's
conventions; data.py stacks them into its voxel caches. Points (a mesh's vertices, a context's positions) are
turned y up by :func:`turn_y_up`, the same rotation as the grids'.
"""

from __future__ import annotations

import gzip
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage

from pixeltransformer.arrays import npz_member_shape, read_npz
from pixeltransformer.errors import first_line
from pixeltransformer.files import data_files

from .procedural import MARGIN

# Bump when the voxels -> SDF conversion changes, so that the voxel caches' old entries are not reused (2: each grid
# is padded with empty voxels so that its shape keeps the meshes' margin, voxels_to_sdf).
CONVERSION_VERSION = 2
VOXEL_LIBRARIES = ("scipy",)  # distance transforms and zoom; .binvox files are read here
VOXEL_SUFFIXES = (".npy", ".npy.gz", ".npz", ".binvox")  # what read_voxels reads


def check_real(arr: np.ndarray, path: str | Path, what: str) -> None:
    """A one-line error naming the dtype of an array that does not hold real numbers (complex, strings, records),
    which would otherwise compare or convert as if it did."""
    if not (arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{path}: {what} must hold real numbers, got dtype {arr.dtype}")


def voxel_padding(size: int, margin: float) -> int:
    """The empty voxels :func:`voxels_to_sdf` adds on each face of a D^3 occupancy grid (D = ``size``), at least one:
    the fewest p that fit the D voxels of the grid's side (half a voxel beyond the outermost centres on each side, as
    the surface is taken) into [-1 + margin, 1 - margin] of the padded grid's cube, whose grid points are 2 / (D + 2 p
    - 1) apart: D / (D + 2 p - 1) <= 1 - margin. ModelNet's 32^3 grids (binvox -cb: every shape touches two opposite
    faces): 2 at margin 0.05 or 0.081 (procedural.grid_margin at 32^3), which leaves 0.086."""
    if not 0 <= margin < 1:
        raise ValueError(f"voxel_padding: margin must lie in [0, 1), got {margin:g}")
    return max(1, math.ceil((size / (1 - margin) + 1 - size) / 2 - 1e-9))


def voxel_scale(size: int, margin: float | None) -> float:
    """How :func:`voxels_to_sdf` scales a D^3 grid's cube (D = ``size``): padded cube = file's cube * scale, about the
    centre 0, (D - 1) / (D + 2 p - 1) for p = :func:`voxel_padding`; 1 with ``margin`` None (no padding)."""
    return 1.0 if margin is None else (size - 1) / (size + 2 * voxel_padding(size, margin) - 1)


def voxels_to_sdf(occ: np.ndarray, out_resolution: int | None = None, margin: float | None = MARGIN) -> np.ndarray:
    """Occupancy grid [D, D, D] (bool) -> SDF float32 [R, R, R] in normalised units.

    Voxel centres sit on the grid points; the surface is taken halfway between an occupied and an empty
    centre, hence the half-voxel shift of both Euclidean distance transforms. A voxel grid's cube is its shape's box
    (binvox -cb and ModelNet's grids fill it: 889 of the 890 grids of ModelNet10's chairs have an occupied voxel on a
    face), so the grid is first padded with :func:`voxel_padding` empty voxels on every face, the same on each (the
    shape's aspect and centre kept), which leaves ``margin`` between its voxels and the cube's faces, as meshes leave
    (``mesh.normalise_mesh``; the data's margin, procedural.grid_margin): the cube's border is outside, the
    marching-cubes surface closed, and voxel and mesh shapes share one frame. The padded cube is the file's cube
    times :func:`voxel_scale`. ``margin`` None: no padding, the file's grid is the cube. With ``out_resolution`` R the
    field of the padded grid is resampled trilinearly (corner-aligned, like the grid convention); None: the padded
    size D + 2 p.
    """
    occ = np.asarray(occ).astype(bool)
    if occ.ndim != 3 or min(occ.shape) < 2 or len(set(occ.shape)) != 1:
        raise ValueError(f"voxels_to_sdf: expected an occupancy grid [R, R, R], got shape {occ.shape}")
    if not occ.any() or occ.all():
        which = "full (1)" if occ.any() else "empty (0)"
        raise ValueError(f"voxels_to_sdf: every voxel of the occupancy grid is {which}, so it has no surface: give a "
                         "grid of 1 inside the shape and 0 outside it")
    if margin is not None:
        occ = np.pad(occ, voxel_padding(occ.shape[0], margin))  # [D + 2 p, D + 2 p, D + 2 p]
    res = occ.shape[0]
    voxel = 2.0 / (res - 1)
    outside = ndimage.distance_transform_edt(~occ)  # [R, R, R] voxels to the nearest occupied centre
    inside = ndimage.distance_transform_edt(occ)  # [R, R, R] voxels to the nearest empty centre
    sdf = (np.where(occ, 0.5 - inside, outside - 0.5) * voxel).astype(np.float32)
    if out_resolution is not None and out_resolution != res:
        # The factor only fixes the output shape; with grid_mode=False zoom then maps the first and last
        # points onto each other, i.e. the align-corners convention.
        sdf = ndimage.zoom(sdf, out_resolution / res, order=1, mode="nearest", output=np.float32)
    return sdf


def turn_y_up(v: np.ndarray, up_axis: int) -> np.ndarray:
    """Vertices [N, 3] of a model whose ``up_axis`` is up (1: y, as ShapeNet's; 2: z, as ModelNet's and many scans and
    CAD exports) -> y up facing +z, this domain's convention: a z-up model is turned (x, y, z) -> (x, z, -y), the
    rotation :func:`zup_to_yup` turns voxel grids by (proper, so shapes are not mirrored)."""
    if up_axis == 1:
        return v
    if up_axis != 2:
        raise ValueError(f"turn_y_up: up_axis must be 1 (y up) or 2 (z up), got {up_axis}")
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)  # [N, 3]


def zup_to_yup(grids: np.ndarray) -> np.ndarray:
    """Rotate grids [..., R, R, R] from z-up (ModelNet/binvox) to y-up facing +z (ShapeNet, this domain):
    (x, y, z) -> (x, z, -y), a proper rotation, so shapes are not mirrored."""
    return np.flip(grids, axis=-2).swapaxes(-1, -2)


BINVOX_SOLID, BINVOX_SURFACE = ".solid.binvox", ".surface.binvox"  # ShapeNetCore v2 ships both beside each model


def _binvox_header(fh, path: Path) -> tuple[tuple[int, ...] | None, dict[str, list[bytes]]]:
    """Read a .binvox file's header up to its 'data' line: the dims (None without a 'dim' line) and every line's words
    after its keyword (``translate``, ``scale``, ...)."""
    if fh.readline().strip() != b"#binvox 1":
        raise ValueError(f"{path}: not a binvox file (its first line is not '#binvox 1')")
    dims, lines = None, {}
    for line in iter(fh.readline, b""):
        words = line.split()
        if words[:1] == [b"data"]:
            break
        if words[:1] == [b"dim"]:
            dims = tuple(int(w) for w in words[1:] if w.isdigit())
        if words:
            lines[words[0].decode("latin-1")] = words[1:]
    else:
        raise ValueError(f"{path}: binvox header without a 'data' line")
    return dims, lines


def read_binvox(path: str | Path) -> np.ndarray:
    """One .binvox file (the format ModelNet and ShapeNet voxelisations are published in) -> bool [D, D, D], indexed
    (x, y, z) in the coordinates of the model it was made from.

    The file is a text header (``#binvox 1``, ``dim D D D``, ``translate``, ``scale``, ``data``) and then run-length
    encoded voxels: (value, count) byte pairs in x-z-y order, y running fastest, then z, then x (binvox's index is
    x * D * D + z * D + y). ``translate`` and ``scale`` place the grid in the model's units (:func:`binvox_frame`);
    the grid itself is what a voxel grid of this domain is."""
    path = Path(path)
    with open(path, "rb") as fh:
        dims, _ = _binvox_header(fh, path)
        rle = np.frombuffer(fh.read(), dtype=np.uint8)  # [2 * runs]: value, count, value, count ...
    if dims is None or len(dims) != 3 or len(set(dims)) != 1 or dims[0] < 2:
        raise ValueError(f"{path}: binvox header needs 'dim D D D' (a cube of D >= 2), got {dims}")
    d = dims[0]
    runs = rle[: len(rle) // 2 * 2].reshape(-1, 2)  # [runs, 2]
    total = int(runs[:, 1].sum(dtype=np.int64))
    if total != d**3:
        raise ValueError(f"{path}: binvox data hold {total} voxels, its header says {d}^3 = {d**3} (a cut file?)")
    flat = np.repeat(runs[:, 0] > 0, runs[:, 1])  # [D^3] in x-z-y order
    return np.ascontiguousarray(flat.reshape(d, d, d).transpose(0, 2, 1))  # [x, z, y] -> [x, y, z]


def binvox_frame(path: str | Path, up_axis: int = 2, margin: float | None = MARGIN) -> tuple[np.ndarray, float] | None:
    """Where the cube [-1, 1]^3 of a .binvox file's grid, padded as :func:`voxels_to_sdf` pads it for ``margin``, lies
    in the model's units, as :meth:`SDFCache.frame` says it of a mesh: the centre [3] (turned y up as
    :func:`read_voxels` turns the grid, ``up_axis``) and the scale, so that cube = (turned x - centre) * scale. binvox
    puts voxel i's centre at x = translate + scale_h (i + 1/2) / D (scale_h: the header's ``scale``, the grid's side),
    and this domain, padding p voxels a face, puts it on the grid point -1 + 2 (i + p) / (D + 2 p - 1): centre =
    translate + scale_h / 2, scale = 2 D / (scale_h (D + 2 p - 1)) (p = 0: ``margin`` None). None where the header
    holds no usable ``translate`` (3 numbers) and ``scale`` (one positive number), which binvox always writes but a
    hand-made file may not."""
    path = Path(path)
    with open(path, "rb") as fh:
        dims, lines = _binvox_header(fh, path)
    try:
        translate = np.array([float(w) for w in lines["translate"]], dtype=np.float64)  # [3]
        side = float(lines["scale"][0]) if len(lines["scale"]) == 1 else float("nan")
    except (KeyError, ValueError):
        return None
    if dims is None or len(dims) != 3 or dims[0] < 2 or translate.shape != (3,) or not np.isfinite(translate).all() \
            or not (np.isfinite(side) and side > 0):
        return None
    d = dims[0]
    centre = turn_y_up((translate + side / 2)[None], up_axis)[0] + 0.0  # [3]; + 0.0: no -0.0
    return centre, 2 * d / (side * (d - 1)) * voxel_scale(d, margin)


def solid_voxels(files: Sequence[Path]) -> list[Path]:
    """The .binvox files of ``files`` read as shapes, one each: where ShapeNetCore v2 puts
    ``model_normalized.solid.binvox`` beside ``model_normalized.surface.binvox``, the solid one (a surface shell has
    no inside)."""
    solid = {str(p)[: -len(BINVOX_SOLID)] for p in files if p.name.lower().endswith(BINVOX_SOLID)}
    return [p for p in files if not (p.name.lower().endswith(BINVOX_SURFACE)
                                     and str(p)[: -len(BINVOX_SURFACE)] in solid)]


GRID_SUFFIXES = tuple(s for s in VOXEL_SUFFIXES if s != ".binvox")  # files of N voxel grids [N, R, R, R]


def grid_files(root: str | Path) -> list[Path]:
    """The .npy, .npy.gz and .npz files below a folder, sorted (hidden files left out): what a folder of no .binvox
    file may hold instead, each a voxel root of its own."""
    return [p for p in data_files(root, (".npy", ".gz", ".npz")) if p.name.lower().endswith(GRID_SUFFIXES)]


VOXEL_NAMES = ("voxels", "occupancy", "data")  # the names an .npz of voxel grids may give its array, in order
# what an .npz of voxel grids holds (npz_grids): a lone array of fewer axes, as SDF samples' 'sdf' [N], is no grid
GRID_ARRAYS = "an array 'voxels', 'occupancy' or 'data' (or one array alone, of 3 axes or more)"


def grid_array(files: Sequence[str]) -> str | None:
    """The array an .npz of arrays ``files`` holds its voxel grids in (:data:`GRID_ARRAYS`): the first of
    VOXEL_NAMES it holds, else its one array; None when it holds neither."""
    return next((k for k in VOXEL_NAMES if k in files), files[0] if len(files) == 1 else None)


def npz_grids(data: np.lib.npyio.NpzFile) -> str | None:
    """:func:`grid_array` of an open .npz, None also where its lone array of another name has under 3 axes (SDF
    samples' 'sdf' [N]): only that array's header is read; one whose header does not read is left to the reader."""
    grids = grid_array(data.files)
    if grids is None or grids in VOXEL_NAMES:
        return grids
    shape = npz_member_shape(data.zip, grids)
    return grids if shape is None or len(shape) >= 3 else None  # one whose header does not read: the voxel reader's


def _read_array_file(path: Path) -> tuple[np.ndarray | None, list[str]]:
    """The array of a .npy, .npy.gz or .npz voxel file (None when an .npz names none), and an .npz's array names."""
    name = path.name.lower()
    if name.endswith(".npz"):  # the core's reader: its errors name the file and the cause
        files, arrays = read_npz(path, VOXEL_NAMES)
        grids = grid_array(files)
        if grids is None:
            return None, files
        return (arrays[grids] if grids in arrays else read_npz(path, [grids])[1][grids]), files
    try:
        if name.endswith(".npy.gz"):
            with gzip.open(path, "rb") as fh:
                arr = np.load(io.BytesIO(fh.read()))
        else:
            arr = np.load(path)
    except ValueError as e:  # numpy's own words, which do not name the file
        if "pickled" in str(e) or "Object arrays" in str(e):  # never unpickled: a file could run code
            raise ValueError(f"{path}: voxel grids must hold real numbers, got Python objects (pickled data is "
                             "never loaded)") from None
        raise ValueError(f"{path}: not a readable voxel file ({first_line(e)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # zlib: a .npy.gz damaged inside
        raise ValueError(f"{path}: not a readable voxel file ({type(e).__name__}: {first_line(e)})") from None
    return arr, []


def read_voxels(path: str | Path, up_axis: int = 2) -> np.ndarray:
    """Read ModelNet-style occupancy grids: bool [N, R, R, R], rotated so that y (axis 1) is up.

    Accepts .npy, .npy.gz and .npz (the array under ``voxels``/``occupancy``/``data`` or its only array),
    shaped [N, 1, R, R, R], [N, R, R, R] or a single [R, R, R], and .binvox files (one grid, :func:`read_binvox`).
    Values above 0.5 count as occupied (0/1, 0/255, probabilities); negative values are refused (an SDF is not
    occupancy). ``up_axis`` says which array axis is up in the file (2 for ModelNet, whose
    models are z-up, 1 if already y-up, as ShapeNet's models are).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such voxel file")
    name = path.name.lower()
    if not name.endswith(VOXEL_SUFFIXES):
        raise ValueError(f"{path}: expected a .npy, .npy.gz, .npz or .binvox voxel file")
    if name.endswith(".binvox"):
        arr, files = read_binvox(path), []  # [R, R, R]
    else:
        arr, files = _read_array_file(path)
    if arr is None:
        raise ValueError(f"{path}: .npz holds {f'arrays {files}' if files else 'no array'}; expected voxel grids in "
                         f"{GRID_ARRAYS}")
    held = arr.shape  # as the file holds it, for the line that refuses it
    if arr.ndim == 5 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or len(set(arr.shape[1:])) != 1:
        raise ValueError(f"{path}: expected cubic grids [N, 1, R, R, R], [N, R, R, R] or one [R, R, R], got shape "
                         f"{held}")
    check_real(arr, path, "voxel grids")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():  # NaN > 0.5 is False: read as empty
        raise ValueError(f"{path}: voxel grids hold {int((~np.isfinite(arr)).sum())} NaN or Inf values")
    if arr.dtype != np.bool_ and arr.size and arr.min() < 0:  # an SDF or a -1/+1 field: > 0.5 would be far outside
        raise ValueError(f"{path}: voxel grids hold negative values (down to {arr.min():.3g}), but occupancy is 0 "
                         "(empty) to 1 (occupied): an SDF grid, negative inside, is not a voxel grid")
    occ = arr > 0.5  # [N, R, R, R]
    if up_axis == 2:
        occ = zup_to_yup(occ)
    elif up_axis != 1:
        raise ValueError(f"read_voxels: up_axis must be 1 or 2, got {up_axis}")
    return np.ascontiguousarray(occ)
