"""Meshes and voxel grids -> SDF grids, with a content-keyed disk cache, and SDF grids -> meshes (marching cubes).

Conventions (shared with ``procedural.py``): the SDF is negative inside, positive outside, in units of the
normalised cube [-1, 1]^3; grid point (i, j, k) of an R^3 grid sits at -1 + 2 (i, j, k) / (R - 1), and array
axis a holds mesh coordinate a, so a mesh -> SDF -> marching cubes round trip keeps coordinates.

Signs come from the generalised winding number (inside where its magnitude exceeds 1/2), which stays right on the
non-watertight meshes ShapeNet is full of; its magnitude, because a mesh wound inside out (every normal pointing
inwards, as some exporters leave them) has a winding number of -1 inside. Magnitudes come from libigl's exact
point-to-mesh distance. We do not take the value of ``igl.signed_distance`` with a winding-number sign type
directly: in libigl 2.6.3 that value is the distance times (1 - 2 |w|) (a continuous sign), not the distance, e.g.
0.189 instead of 0.191 at a point whose winding number is 0.005.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import warnings
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import igl
import numpy as np
import trimesh
from scipy import ndimage
from skimage.measure import marching_cubes

from pixeltransformer.arrays import read_npz
from pixeltransformer.cache import (CACHE_HINT, CacheWriteError, check_cache_folder, package_versions, whole_npy,
                                    writing_cache)
from pixeltransformer.digests import FileDigests
from pixeltransformer.errors import counted, first_line, warn_rank_zero
from pixeltransformer.files import atomic_write, data_files
from pixeltransformer.loopbar import loop_progress

from .procedural import MARGIN, grid_points

# Bump when a conversion changes, so that old cache entries are not reused: voxels -> SDF (the voxel caches) and
# meshes -> SDF (the mesh cache; 2: a mesh wound inside out is solid, not a shell around nothing; 3: vertices no face
# uses are dropped, so a stray one no longer sets the scale, and a mesh of faces without area is refused; 4: faces
# wound either way are wound consistently first, see consistent_winding). The margin is in the key (SDFCache.key):
# where procedural.grid_margin widened it, on grids under 51^3, the entries made with 0.05 are missed and rebuilt.
# Voxels: 2: each grid is padded with empty voxels so that its shape keeps the meshes' margin (voxels_to_sdf).
CONVERSION_VERSION = 2
MESH_CONVERSION_VERSION = 4
# The libraries whose versions a key holds, as the picture and video caches hold their decoders': another libigl
# computes other distances or signs (2.6.3's signed_distance, above), another trimesh reads a file otherwise.
MESH_LIBRARIES = ("trimesh", "libigl", "scipy")
VOXEL_LIBRARIES = ("scipy",)  # distance transforms and zoom; .binvox files are read here


def library_versions(names: Sequence[str]) -> str:
    """The installed versions of ``names`` as one key part, e.g. "trimesh=5.2.0,libigl=2.6.3,scipy=1.17.1"."""
    return ",".join(f"{name}={version}" for name, version in package_versions(names).items())
SIGN_TYPES = ("fast_winding_number", "winding_number")
MESH_SUFFIXES = (".npz", ".obj", ".off", ".ply", ".glb", ".gltf", ".stl")  # what load_mesh reads
VOXEL_SUFFIXES = (".npy", ".npy.gz", ".npz", ".binvox")  # what read_voxels reads


# ---- loading ----------------------------------------------------------------------------------------


def sdf_cache(folder: str | Path) -> tuple[str, str]:
    """What :func:`cache.check_cache_folder` and :func:`cache.writing_cache` say of an SDF cache folder that cannot be
    written: its grids are read from there (memory-mapped), so there is no run without it."""
    return f"write the SDF cache {folder}", CACHE_HINT


def _check_mesh(v: np.ndarray, f: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, dtype=np.float64)
    f = np.asarray(f)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{path}: expected vertices [N, 3], got shape {v.shape}")
    if len(v) == 0:
        raise ValueError(f"{path}: no vertices (an empty mesh)")
    if f.size == 0:
        raise ValueError(f"{path}: no faces ({len(v)} vertices but no triangles: a point cloud, not a mesh)")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"{path}: expected triangle faces [F, 3], got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"{path}: faces must hold integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"{path}: face indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if not np.isfinite(v).all():
        raise ValueError(f"{path}: vertices hold NaN/Inf values")
    kept = np.unique(f)  # [Nu] the vertices faces use, sorted
    if len(kept) < len(v):  # a vertex no face uses (left over by an editor or a scan) set the box normalise_mesh fills:
        # one far away shrank the shape to a dot
        v, f = v[kept], np.searchsorted(kept, f)  # [Nu, 3], [F, 3]
    extent = float((v.max(0) - v.min(0)).max())
    if extent <= 1e-12:
        raise ValueError(f"{path}: the mesh has zero extent (all vertices coincide)")
    corners = v[f]  # [F, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=-1)  # [F]
    if area.sum() <= 1e-12 * extent**2:  # a surface of no area: its SDF was a tube of the shell's width around it
        raise ValueError(f"{path}: no area in its {counted(len(f), 'face')} (the corners of each lie on a "
                         "line), so it has no surface")
    return v, f


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh: vertices [Nv, 3] float64 and faces [Nf, 3] int64.

    Reads anything trimesh reads (.obj .off .ply .glb .stl ...; scenes are concatenated in world
    coordinates) and .npz files holding ``vertices`` and ``faces``. Missing files raise FileNotFoundError;
    empty, degenerate or unreadable meshes raise a one-line ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    if path.suffix.lower() == ".npz":
        files, arrays = read_npz(path, ("vertices", "faces"))
        if "vertices" not in arrays or "faces" not in arrays:
            raise ValueError(f"{path}: .npz must hold 'vertices' and 'faces', found {sorted(files)}")
        return _check_mesh(arrays["vertices"], arrays["faces"], path)
    try:
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for corrupt input
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{path}: trimesh could not read it ({type(e).__name__}: {first_line})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise ValueError(f"{path}: holds no triangle mesh (got {type(loaded).__name__})")
    if len(loaded.faces) == 0:
        raise ValueError(f"{path}: {_why_no_faces(path)}")
    return _check_mesh(loaded.vertices, loaded.faces, path)


def _why_no_faces(path: Path) -> str:
    """Why trimesh found no triangles in a file it read: empty, vertices alone (which a forced mesh drops), or
    nothing it recognises."""
    if path.stat().st_size == 0:
        return "no vertices (the file is empty)"
    try:
        points = len(getattr(trimesh.load(path, process=False), "vertices", ()))
    except Exception:  # it was read once already: a failure now means nothing usable
        points = 0
    if points:
        return f"no faces ({points} vertices but no triangles: a point cloud, not a mesh)"
    return f"not a mesh: no vertices or faces found (expected {', '.join(MESH_SUFFIXES)})"


def turn_y_up(v: np.ndarray, up_axis: int) -> np.ndarray:
    """Vertices [N, 3] of a model whose ``up_axis`` is up (1: y, as ShapeNet's; 2: z, as ModelNet's and many scans and
    CAD exports) -> y up facing +z, this domain's convention: a z-up model is turned (x, y, z) -> (x, z, -y), the
    rotation :func:`zup_to_yup` turns voxel grids by (proper, so shapes are not mirrored)."""
    if up_axis == 1:
        return v
    if up_axis != 2:
        raise ValueError(f"turn_y_up: up_axis must be 1 (y up) or 2 (z up), got {up_axis}")
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)  # [N, 3]


def mesh_frame(v: np.ndarray, margin: float = MARGIN) -> tuple[np.ndarray, float]:
    """The centre [3] of vertices [N, 3]'s bounding box and the uniform scale that makes its longest side span
    [-1 + margin, 1 - margin]: normalised = (v - centre) * scale."""
    if not 0 <= margin < 1:
        raise ValueError(f"normalise_mesh: margin must lie in [0, 1), got {margin}")
    v = np.asarray(v, dtype=np.float64)  # [N, 3]
    lo, hi = v.min(0), v.max(0)  # [3] each
    extent = (hi - lo).max()
    if extent <= 0:
        raise ValueError("normalise_mesh: the mesh has zero extent")
    return (lo + hi) / 2, float((2 - 2 * margin) / extent)


def normalise_mesh(v: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Centre the bounding box at 0 and scale uniformly so its longest side spans [-1 + margin, 1 - margin]."""
    centre, scale = mesh_frame(v, margin)
    return (np.asarray(v, dtype=np.float64) - centre) * scale  # [N, 3]


# ---- mesh -> SDF ------------------------------------------------------------------------------------


def split_long_edges(v: np.ndarray, f: np.ndarray, max_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """Bisect every triangle across its longest edge until no edge exceeds max_edge: [Nv', 3], [Nf', 3].

    The surface is unchanged (T-junctions are left in place, which a winding number, a sum over
    triangles, does not mind). Long sliver triangles defeat the fast winding number's far-field
    approximation; after splitting, it runs 2-3x faster on ShapeNet chairs.
    """
    verts, faces = np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)
    for _ in range(64):
        tri = verts[faces]  # [F, 3, 3]
        edges = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=-1)  # [F, 3], edge k runs from corner k to k+1
        k = edges.argmax(1)  # [F]
        long = edges[np.arange(len(faces)), k] > max_edge  # [F]
        if not long.any():
            break
        fl, kl = faces[long], k[long]
        rows = np.arange(len(fl))
        a, b, c = fl[rows, kl], fl[rows, (kl + 1) % 3], fl[rows, (kl + 2) % 3]
        mid = np.arange(len(verts), len(verts) + len(fl))
        verts = np.concatenate([verts, (verts[a] + verts[b]) / 2])
        faces = np.concatenate([faces[~long], np.stack([a, mid, c], 1), np.stack([mid, b, c], 1)])
    return verts, faces


def _winding_number(v: np.ndarray, f: np.ndarray, q: np.ndarray, sign: str, chunk: int) -> np.ndarray:
    """Generalised winding number of the mesh at points q [n, 3] -> [n], in chunks of query points. Its magnitude
    says inside (> 1/2); its sign only how the faces are wound."""
    fn = igl.winding_number if sign == "winding_number" else igl.fast_winding_number
    out = np.empty(len(q))
    for start in range(0, len(q), chunk):
        out[start : start + chunk] = fn(v, f, np.ascontiguousarray(q[start : start + chunk]))
    return out


def consistent_winding(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Faces [F, 3] wound consistently across the edges they share: as given where they are (each directed edge
    belongs to one face, or trimesh finds them consistent), else re-wound piece by piece by trimesh. A winding
    number sums the faces' signed solid angles, so a mesh whose faces point either way at random (some exporters,
    hand-merged parts) had |w| near 0 inside: its solid was read as outside, a hollow shell. A whole piece wound
    inside out is fine (|w| is read)."""
    if not len(f):
        return f
    edges = f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)  # [3F, 2], directed
    edges = edges[edges[:, 0] != edges[:, 1]]  # [E, 2]: a face with a repeated corner has no edge there
    keys = edges[:, 0] * (int(f.max()) + 1) + edges[:, 1]  # [E]
    if len(np.unique(keys)) == len(keys):
        return f
    mesh = trimesh.Trimesh(v, f, process=False)
    if mesh.is_winding_consistent:  # a directed edge twice where 3 or more faces meet (half of ShapeNet's chairs)
        return f
    trimesh.repair.fix_winding(mesh)
    return np.ascontiguousarray(mesh.faces, dtype=np.int64)  # [F, 3]


def mesh_to_sdf(v: np.ndarray, f: np.ndarray, resolution: int = 64, truncation: float | None = None,
                sign: str = "fast_winding_number", shell_voxels: float = 0.0, chunk: int = 262144,
                vote_stride: int = 4) -> np.ndarray:
    """Signed distance of a mesh (already in [-1, 1] coordinates) on the R^3 grid: float32 [R, R, R].

    Distances are exact point-to-triangle distances. Signs come from the winding number at the grid points
    within one voxel of the surface. The other points split into 6-connected components that cannot cross
    the surface (two grid neighbours on either side of it would put one of them within half a voxel). A
    component whose winding-number votes (its points on a lattice of stride ``vote_stride``, plus a few
    more so small components vote too) agree takes that sign; one that disagrees has leaked through a
    hole in the mesh and gets a winding number at every point. On the shared ShapeNet chairs no component
    leaks, and the winding-number queries, which dominate the cost, drop about 15-fold. What this can miss:
    a pocket under 4 voxels wide joined to the other side through a hole and holding no lattice point.
    Args:
        truncation: if given, distances are only resolved up to t and the result is clamped to [-t, t];
            the distance search then prunes everything farther away, several times faster.
        sign: "fast_winding_number" (Barill et al. 2018; default, 2-4x faster on typical ShapeNet chairs)
            or "winding_number" (exact; faster only on meshes with thousands of huge sliver triangles,
            which defeat the fast method's far-field approximation).
        shell_voxels: thicken every surface into a shell of this half-thickness (in voxels):
            sdf = min(sdf, distance - shell). ShapeNet models many parts as single-sided sheets, whose
            winding number hovers around 1/2 and which no grid point falls inside; with a shell of about
            0.75 voxel they become thin solids the grid can hold. Closed parts grow by the same amount.
            0 (default) gives the plain SDF.
        chunk: query points per libigl call; bounds the temporary memory.
        vote_stride: lattice stride of the points that vote for a far component's sign.
    """
    if sign not in SIGN_TYPES:
        raise ValueError(f"mesh_to_sdf: sign must be one of {SIGN_TYPES}, got {sign!r}")
    if truncation is not None and truncation <= 0:
        raise ValueError(f"mesh_to_sdf: truncation must be > 0, got {truncation}")
    v = np.ascontiguousarray(v, dtype=np.float64)
    f = consistent_winding(v, np.ascontiguousarray(f, dtype=np.int64))  # [F, 3]
    band = 2.0 / (resolution - 1)  # one voxel: points closer than this get their own winding number
    if shell_voxels < 0:
        raise ValueError(f"mesh_to_sdf: shell_voxels must be >= 0, got {shell_voxels}")
    shell = shell_voxels * band
    # The distance search stops at the bound; the shell lowers values, so it must see t + shell far.
    upper = np.inf if truncation is None else max(float(truncation) + shell, band)
    pts = grid_points(resolution, dtype=np.float64)  # [N, 3]
    dist = np.empty(len(pts))  # [N]
    for start in range(0, len(pts), chunk):
        p = pts[start : start + chunk]  # [n, 3]
        dist[start : start + chunk] = igl.signed_distance(p, v, f, igl.SIGNED_DISTANCE_TYPE_UNSIGNED, 0.0, upper)[0]
    # Beyond the search bound libigl returns NaN: those points are farther than the truncation.
    dist[np.isnan(dist)] = upper
    far = dist >= band  # [N]

    if sign == "fast_winding_number":
        v, f = split_long_edges(v, f, max_edge=0.1)  # only the winding numbers below use v, f from here on
    labels, n_comp = ndimage.label(far.reshape((resolution,) * 3))  # 6-connected components of far points
    labels = labels.reshape(-1)  # [N]
    lattice = np.zeros((resolution,) * 3, dtype=bool)
    lattice[::vote_stride, ::vote_stride, ::vote_stride] = True
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_comp + 2))  # component c is order[bounds[c]:bounds[c+1]]
    extra = [order[np.linspace(bounds[c], bounds[c + 1] - 1, min(8, bounds[c + 1] - bounds[c])).astype(int)]
             for c in range(1, n_comp + 1)]
    vote_idx = np.union1d(np.flatnonzero(far & lattice.reshape(-1)), np.concatenate([[], *extra]).astype(int))
    near_idx = np.flatnonzero(~far)
    w = _winding_number(v, f, pts[np.concatenate([near_idx, vote_idx])], sign, chunk)  # [n_near + n_votes]
    inside = np.zeros(len(pts), dtype=bool)  # [N]
    inside[near_idx] = np.abs(w[: len(near_idx)]) > 0.5
    vote_in = np.abs(w[len(near_idx) :]) > 0.5  # [n_votes]
    ayes = np.bincount(labels[vote_idx], weights=vote_in, minlength=n_comp + 1)  # [n_comp + 1]
    total = np.bincount(labels[vote_idx], minlength=n_comp + 1)  # [n_comp + 1]
    inside[far] = (ayes == total)[labels[far]] & (total[labels[far]] > 0)
    leaked = np.flatnonzero(far & ((ayes > 0) & (ayes < total))[labels])
    if len(leaked):
        inside[leaked] = np.abs(_winding_number(v, f, pts[leaked], sign, chunk)) > 0.5

    out = np.where(inside, -dist, dist)  # [N]
    if shell > 0:
        np.minimum(out, dist - shell, out=out)
    out = out.astype(np.float32)
    if truncation is not None:
        np.clip(out, -truncation, truncation, out=out)
    return out.reshape(resolution, resolution, resolution)


class SDFCache:
    """Mesh files -> SDF grids, cached on disk as one .npy per mesh.

    The key hashes the file's content (not its name or mtime) with every setting that changes the result
    (resolution, margin, truncation, sign type, shell, up axis, conversion version, and the versions of trimesh,
    libigl and scipy, which compute it), so renamed or copied meshes
    hit the cache and edited ones miss it. The content's digest is remembered in ``digests.json`` there by the
    file's path, size and times (:class:`FileDigests`), so a start reads the bytes of new or changed files only.
    Surfaces get a 0.75-voxel shell by default (see :func:`mesh_to_sdf`), since datasets are where single-sided
    ShapeNet sheets show up. ``up_axis`` is the axis
    that is up in the mesh files (1: y, default; 2: z, turned y up by :func:`turn_y_up`); only z-up keys name it.
    ``margin``: the room between a mesh's box and the cube's faces (a dataset's: ``SDFDataModule.margin``, which
    :func:`procedural.grid_margin` widens on coarse grids; a model's: its spec's).
    """

    def __init__(self, cache_dir: str | Path, margin: float, truncation: float | None = None,
                 sign: str = "fast_winding_number", shell_voxels: float = 0.75, up_axis: int = 1):
        if sign not in SIGN_TYPES:
            raise ValueError(f"SDFCache: sign must be one of {SIGN_TYPES}, got {sign!r}")
        if up_axis not in (1, 2):
            raise ValueError(f"SDFCache: up_axis must be 1 (y up) or 2 (z up), got {up_axis}")
        self.cache_dir = Path(cache_dir).expanduser()
        self.margin = margin
        self.truncation = truncation
        self.sign = sign
        self.shell_voxels = shell_voxels
        self.up_axis = up_axis
        self.digests = FileDigests(self.cache_dir / "digests.json")  # a mesh's bytes are read once, not every start
        self.failures: list[tuple[Path, str]] = []  # (file, reason) of the last build
        self.kept: list[Path] = []  # mesh files of the last build that made it, in order

    def __getstate__(self) -> dict:
        """What a conversion process gets (the bound :meth:`_try_convert`, once a mesh): not the digests, which it does
        not use and which for ShapeNet's chairs weigh a megabyte."""
        return {**self.__dict__, "digests": None}

    def key(self, path: str | Path, resolution: int) -> str:
        settings = (f"v{MESH_CONVERSION_VERSION}|r{resolution}|m{self.margin!r}|t{self.truncation!r}"
                    f"|{self.sign}|s{self.shell_voxels!r}" + ("" if self.up_axis == 1 else f"|u{self.up_axis}")
                    + f"|{library_versions(MESH_LIBRARIES)}")
        return hashlib.sha256(f"{self.digests(path)}|{settings}".encode()).hexdigest()[:32]

    def target(self, path: str | Path, resolution: int) -> Path:
        """Where the cache file of one mesh lies (the key hashes the file), built or not."""
        return self.cache_dir / f"{self.key(path, resolution)}.npy"

    def entry(self, path: str | Path, resolution: int) -> Path:
        """The cache file of one mesh, converting the mesh first if it is not cached yet."""
        target = self.target(path, resolution)
        self.digests.save()
        if not whole_npy(target, (resolution,) * 3, np.float32):
            check_cache_folder(self.cache_dir, *sdf_cache(self.cache_dir))  # said before converting
            self._convert(Path(path), target, resolution)
        return target

    def grid(self, path: str | Path, resolution: int) -> np.ndarray:
        """The SDF grid [R, R, R] of one mesh (a file to complete): its cache entry, converted first if not cached. A
        cache that cannot be written stopped the command; one mesh is converted here instead, with one warning (a
        dataset's grids, read from the cache as they are needed, cannot do without it)."""
        try:
            return np.load(self.entry(path, resolution))  # [R, R, R]
        except CacheWriteError as err:
            warnings.warn(f"{path}: converted, not cached: {err}", stacklevel=2)
            return self._sdf(Path(path), resolution)  # [R, R, R]

    def frame(self, path: str | Path) -> tuple[np.ndarray, float]:
        """Where the cube [-1, 1]^3 of a mesh's grid lies in the file's own units: its box centre [3] (y up, after
        ``up_axis``'s turn) and scale, so that cube = (turned - centre) * scale, as :meth:`grid` normalises it."""
        return mesh_frame(turn_y_up(load_mesh(path)[0], self.up_axis), self.margin)

    def _sdf(self, path: Path, resolution: int) -> np.ndarray:
        v, f = load_mesh(path)
        v = turn_y_up(v, self.up_axis)  # [Nv, 3]
        return mesh_to_sdf(normalise_mesh(v, self.margin), f, resolution, self.truncation, self.sign,
                           self.shell_voxels)  # [R, R, R]

    def _convert(self, path: Path, target: Path, resolution: int) -> None:
        sdf = self._sdf(path, resolution)  # [R, R, R]
        with writing_cache(*sdf_cache(self.cache_dir)):  # a full disk, a folder made read-only: no mesh's fault
            atomic_write(target, lambda tmp: np.save(tmp, sdf))  # other ranks never see half a file

    def _try_convert(self, job: tuple[Path, Path, int]) -> str | None:
        """:meth:`_convert` (path, target, resolution), in a worker process: why the mesh failed, None if it did not."""
        try:
            self._convert(*job)
        except CacheWriteError:
            raise
        except (ValueError, OSError) as e:
            return str(e)
        return None

    def build_files(self, paths: Sequence[str | Path], resolution: int, progress: bool = True,
                    workers: int = 1) -> list[Path]:
        """Cache files for the meshes that convert; failures are warned about, skipped and counted in
        ``self.failures``; ``self.kept`` lists the meshes that made it. Meshes not cached yet are converted by
        ``workers`` processes at once (1: here, one at a time); a real ShapeNet chair takes about 0.3 s at 32^3."""
        self.failures, self.kept = [], []
        paths = [Path(p) for p in paths]
        targets: dict[int, Path] = {}
        errors: dict[int, str] = {}
        for i, path in enumerate(loop_progress(paths, "mesh cache: reading files", unit="mesh", enabled=progress)):
            try:
                targets[i] = self.target(path, resolution)
            except OSError as e:
                errors[i] = str(e)
        self.digests.save()
        todo = [i for i, target in targets.items() if not whole_npy(target, (resolution,) * 3, np.float32)]
        jobs = [(paths[i], targets[i], resolution) for i in todo]
        if jobs:  # said before converting, not as every mesh "failed"
            check_cache_folder(self.cache_dir, *sdf_cache(self.cache_dir))
        workers = min(len(jobs), workers)
        with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            results = pool.map(self._try_convert, jobs) if pool else map(self._try_convert, jobs)
            for i, error in zip(todo, loop_progress(results, f"mesh -> SDF {resolution}^3", total=len(jobs),
                                                    unit="mesh", enabled=progress)):
                if error is not None:
                    errors[i] = error
        files = []
        for i, path in enumerate(paths):
            if i in errors:
                self.failures.append((path, errors[i]))
                warn_rank_zero(f"skipping mesh: {errors[i]}", stacklevel=2)
            else:
                files.append(targets[i])
                self.kept.append(path)
        if self.failures:
            warn_rank_zero(f"SDFCache: {len(self.failures)} of {len(paths)} meshes failed and were skipped",
                           stacklevel=2)
        return files


# ---- voxels -> SDF ----------------------------------------------------------------------------------


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
        raise ValueError("voxels_to_sdf: the occupancy grid is all empty or all full; it has no surface")
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


def _read_array_file(path: Path) -> tuple[np.ndarray | None, list[str]]:
    """The array of a .npy, .npy.gz or .npz voxel file (None when an .npz names none), and an .npz's array names."""
    name = path.name.lower()
    if name.endswith(".npz"):  # the core's reader: its errors name the file and the cause
        files, arrays = read_npz(path, VOXEL_NAMES)
        named = [k for k in VOXEL_NAMES if k in arrays]
        if named:
            return arrays[named[0]], files
        return (read_npz(path, files)[1][files[0]] if len(files) == 1 else None), files
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
        raise ValueError(f"{path}: .npz holds arrays {files}; expected one named 'voxels'")
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


# ---- SDF grid -> mesh -------------------------------------------------------------------------------


def sdf_to_mesh(sdf, level: float = 0.0) -> trimesh.Trimesh:
    """The level set of an SDF grid [R, R, R] (or [1, R, R, R]; an array or a tensor) as a mesh in [-1, 1]^3
    coordinates, faces wound outwards.

    An empty level set (the grid is all above or all below ``level``) gives an empty mesh, not an error,
    because sampled shapes can legitimately vanish.
    """
    sdf = np.asarray(sdf.detach().cpu() if hasattr(sdf, "detach") else sdf, dtype=np.float32)
    if sdf.ndim == 4 and sdf.shape[0] == 1:  # a signal [V=1, R, R, R]
        sdf = sdf[0]
    if sdf.ndim != 3 or min(sdf.shape) < 2:
        raise ValueError(f"sdf_to_mesh: expected an SDF grid [R, R, R], got shape {sdf.shape}")
    if not np.isfinite(sdf).all():
        raise ValueError("sdf_to_mesh: the SDF grid holds NaN/Inf values")
    if not sdf.min() < level < sdf.max():
        return trimesh.Trimesh()
    spacing = tuple(2.0 / (n - 1) for n in sdf.shape)
    # With the inside negative, skimage's "descent" winding is the outward one (positive volume; tested).
    verts, faces, _, _ = marching_cubes(sdf, level=level, spacing=spacing, gradient_direction="descent")
    return trimesh.Trimesh(verts - 1.0, faces, process=False)


def probability_field(p_inside):
    """An SDF-like field whose level 0 is P(inside) = 0.5 (negative where inside is more likely), so meshing and
    IoU treat it like an SDF: 0.5 - p (arrays or tensors, any shape)."""
    return 0.5 - p_inside


def export_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write a mesh as .glb or .obj (chosen by the suffix), atomically. An empty mesh gives an empty file."""
    path = Path(path)
    if path.suffix.lower() not in (".glb", ".obj"):
        raise ValueError(f"export_mesh: {path} must end in .glb or .obj")
    return atomic_write(path, lambda tmp: mesh.export(tmp))
