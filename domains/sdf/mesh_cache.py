"""The mesh cache: mesh files -> SDF grids (mesh.py's conversion), one .npy per mesh, keyed by the file's bytes, the
settings and the versions of the libraries that compute them (:class:`SDFCache`); and what every SDF cache (the mesh
cache and the stacked voxel and procedural caches of data.py) says when its folder cannot be written
(:func:`sdf_cache`), and the libraries' versions in a key (:func:`library_versions`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import numpy as np

from pixeltransformer.cache import (CACHE_HINT, CacheWriteError, check_cache_folder, package_versions, whole_npy,
                                    writing_cache)
from pixeltransformer.digests import FileDigests
from pixeltransformer.errors import counted, in_number, warn_rank_zero
from pixeltransformer.files import atomic_write, user_path
from pixeltransformer.loopbar import loop_progress

from .mesh import (MESH_CONVERSION_VERSION, MESH_LIBRARIES, NEITHER, SIGN_TYPES, UNCHECKED_VERSION, arrays_held,
                   check_volume, file_kind, load_mesh, mesh_frame, mesh_to_sdf, normalise_mesh)
from .voxels import turn_y_up


def library_versions(names: Sequence[str]) -> str:
    """The installed versions of ``names`` as one key part, e.g. "trimesh=5.2.0,libigl=2.6.3,scipy=1.17.1"."""
    return ",".join(f"{name}={version}" for name, version in package_versions(names).items())


def sdf_cache(folder: str | Path) -> tuple[str, str]:
    """What :func:`cache.check_cache_folder` and :func:`cache.writing_cache` say of an SDF cache folder that cannot be
    written: its grids are read from there (memory-mapped), so there is no run without it."""
    return f"write the SDF cache {folder}", CACHE_HINT


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
        self.cache_dir = user_path(cache_dir)
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

    def key(self, path: str | Path, resolution: int, version: int | None = None) -> str:
        """The cache key of one mesh converted by conversion ``version`` (None: this one, MESH_CONVERSION_VERSION)."""
        version = MESH_CONVERSION_VERSION if version is None else version
        settings = (f"v{version}|r{resolution}|m{self.margin!r}|t{self.truncation!r}"
                    f"|{self.sign}|s{self.shell_voxels!r}" + ("" if self.up_axis == 1 else f"|u{self.up_axis}")
                    + f"|{library_versions(MESH_LIBRARIES)}")
        return hashlib.sha256(f"{self.digests(path)}|{settings}".encode()).hexdigest()[:32]

    def target(self, path: str | Path, resolution: int, version: int | None = None) -> Path:
        """Where the cache file of one mesh lies (the key hashes the file), built or not, by conversion ``version``
        (None: this one)."""
        return self.cache_dir / f"{self.key(path, resolution, version)}.npy"

    def entry(self, path: str | Path, resolution: int) -> Path:
        """The cache file of one mesh, converting the mesh first if it is not cached yet."""
        target = self.target(path, resolution)
        self.digests.save()
        if not whole_npy(target, (resolution,) * 3, np.float32):
            check_cache_folder(self.cache_dir, *sdf_cache(self.cache_dir))  # said before converting
            self._convert(Path(path), target, self.target(path, resolution, UNCHECKED_VERSION), resolution)
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
        ``up_axis``'s turn) and scale, so that cube = (turned - centre) * scale, as :meth:`grid` normalises it. Asked
        of a mesh to complete before its grid: one of no volume is refused here (:func:`mesh.check_volume`), before
        it is converted or an entry of it is read (one cached before the check, :data:`mesh.UNCHECKED_VERSION`)."""
        v, f = load_mesh(path)
        check_volume(v, f, path)
        return mesh_frame(turn_y_up(v, self.up_axis), self.margin)

    def _sdf(self, path: Path, resolution: int, progress: bool = True, plain: bool = False) -> np.ndarray:
        """The SDF grid of one mesh; ``progress``: a big mesh says its stages (mesh_to_sdf's name), ``plain``: in
        lines, in one of several worker processes. A mesh of no volume is refused (:func:`mesh.check_volume`): a
        training mesh is skipped for it, as one that fails to convert is (:meth:`build_files`)."""
        v, f = load_mesh(path)
        check_volume(v, f, path)
        v = turn_y_up(v, self.up_axis)  # [Nv, 3]
        return mesh_to_sdf(normalise_mesh(v, self.margin), f, resolution, self.truncation, self.sign,
                           self.shell_voxels, name=path.name if progress else None, plain=plain)  # [R, R, R]

    def _convert(self, path: Path, target: Path, before: Path, resolution: int, progress: bool = True,
                 plain: bool = False) -> None:
        """Write the mesh's entry ``target``: its entry of :data:`mesh.UNCHECKED_VERSION` (``before``) taken over where
        it is there (:meth:`_adopt`), else its grid converted."""
        if self._adopt(path, target, before, resolution):
            return
        sdf = self._sdf(path, resolution, progress, plain)  # [R, R, R]
        with writing_cache(*sdf_cache(self.cache_dir)):  # a full disk, a folder made read-only: no mesh's fault
            atomic_write(target, lambda tmp: np.save(tmp, sdf))  # other ranks never see half a file

    def _adopt(self, path: Path, target: Path, before: Path, resolution: int) -> bool:
        """Whether the mesh's entry of :data:`mesh.UNCHECKED_VERSION` (``before``), which converted a mesh of no volume
        too, was taken over as ``target``: renamed once the mesh passes :func:`mesh.check_volume` (read, not converted
        again); one of no volume raises its ValueError, and is skipped or refused as a new one is."""
        if not whole_npy(before, (resolution,) * 3, np.float32):  # a copy of this mesh, or a rank, took it over
            return whole_npy(target, (resolution,) * 3, np.float32)
        check_volume(*load_mesh(path), path)
        with writing_cache(*sdf_cache(self.cache_dir)):
            try:
                os.replace(before, target)
            except FileNotFoundError:  # another process (a DDP rank) took it over first
                return whole_npy(target, (resolution,) * 3, np.float32)
        return True

    def _try_convert(self, job: tuple[Path, Path, Path, int, bool, bool]) -> str | None:
        """:meth:`_convert` (path, target, before, resolution, progress, plain: one of several worker processes
        converts it), in :meth:`build_files`: why the mesh failed, None if it did not."""
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
        befores: dict[int, Path] = {}  # the entries of UNCHECKED_VERSION, taken over (_adopt): digests are known here
        errors: dict[int, str] = {}
        for i, path in enumerate(loop_progress(paths, "mesh cache: reading files", unit="mesh", enabled=progress)):
            try:
                targets[i] = self.target(path, resolution)
                befores[i] = self.target(path, resolution, UNCHECKED_VERSION)
            except OSError as e:
                errors[i] = str(e)
        self.digests.save()
        todo = [i for i, target in targets.items() if not whole_npy(target, (resolution,) * 3, np.float32)]
        workers = min(len(todo), workers)
        # several workers say a big mesh's stages in lines (their bars would overwrite each other); one, a bar
        jobs = [(paths[i], targets[i], befores[i], resolution, progress, workers > 1) for i in todo]
        if jobs:  # said before converting, not as every mesh "failed"
            check_cache_folder(self.cache_dir, *sdf_cache(self.cache_dir))
        with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            results = pool.map(self._try_convert, jobs) if pool else map(self._try_convert, jobs)
            # the progress loop outermost: it ends on its own, and says its last line
            for i, error in loop_progress(zip(todo, results), f"mesh -> SDF {resolution}^3", total=len(jobs),
                                          unit="mesh", enabled=progress):
                if error is not None:
                    errors[i] = error
        files = []
        kinds = {paths[i]: file_kind(paths[i]) for i in errors}  # .npz files of no mesh among meshes: said once
        no_mesh = [path for path, (kind, _) in kinds.items() if kind != "mesh"]
        for i, path in enumerate(paths):
            if i in errors:
                self.failures.append((path, errors[i]))
                if path not in no_mesh:
                    warn_rank_zero(f"skipping mesh: {errors[i]}", stacklevel=2)
            else:
                files.append(targets[i])
                self.kept.append(path)
        if others := [path for path in no_mesh if kinds[path][0] == "neither"]:  # SDF samples, say
            names = "; ".join(f"{p.name}: {arrays_held(kinds[p][1])}" for p in others[:3])
            hold = in_number(len(others), "holds", "hold")
            warn_rank_zero(f"skipping {counted(len(others), '.npz file')} that {hold} neither a mesh nor voxel grids "
                           f"({names}{'; ...' * (len(others) > 3)}): {NEITHER}", stacklevel=2)
        if voxel_npz := [path for path in no_mesh if path not in others]:
            names = ", ".join(p.name for p in voxel_npz[:3]) + ", ..." * (len(voxel_npz) > 3)
            them = "it" if len(voxel_npz) == 1 else "them"
            warn_rank_zero(f"skipping {counted(len(voxel_npz), '.npz file')} of voxel grids, not meshes ({names}): "
                           f"the voxel reader reads {them} (--data.init_args.dataset=voxels)", stacklevel=2)
        if self.failures:
            warn_rank_zero(f"SDFCache: {len(self.failures)} of {len(paths)} meshes failed and were skipped",
                           stacklevel=2)
        return files
