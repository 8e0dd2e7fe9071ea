"""SDFDataModule: 3D shapes as truncated signed distance fields on an R^3 grid (paper section 6.2).

Three sources: procedurally generated chairs (default, no files needed), a folder of meshes (e.g. the
shared ShapeNet chairs) and a ModelNet-style voxel file or a folder of .binvox files, and a weighted mixture of
them for training with one source's held-out shapes as the validation and test splits. Every grid is built once
into a disk cache and read back lazily (memory-mapped), so hundreds of 64^3 shapes cost no RAM and DDP ranks share
one copy.
Items are ``{"signal": float32 [1, R, R, R]}``, clamped to [-t, t]; positions are (x, y, z) with y up (z-up files
are turned: ``voxel_up_axis``, ``mesh_up_axis``). The datasets it builds are datasets.py's.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pixeltransformer.cache import cache_key, cache_root, check_cache_folder, whole_npy, writing_cache
from pixeltransformer.data_mismatch import MadeOtherwise
from pixeltransformer.datamodule import SignalDataModule, module_spec
from pixeltransformer.digests import FileDigests
from pixeltransformer.errors import counted, warn_rank_zero
from pixeltransformer.files import atomic_write, data_files, name_start, root_option, user_path, warn_missing_links
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.signal import SignalSpec
from pixeltransformer.splits import (SPLIT_LAYOUT, SPLITS, official_split_indices, split_folders, split_indices,
                                     split_sizes_cause, splits_hint, splits_with_train_of)

from .datasets import FileSDFDataset, MixtureDataset, StackedSDFDataset, sdf_values
from .mesh import MESH_SUFFIXES, file_kind, neither_held
from .mesh_cache import SDFCache, library_versions, sdf_cache
from .procedural import GENERATOR_VERSION, MARGIN, chair_sdf_grid, grid_margin, make_chair
from .voxels import (CONVERSION_VERSION, GRID_SUFFIXES, VOXEL_LIBRARIES, grid_files, read_voxels,
                     solid_voxels, voxels_to_sdf)

DATASETS = ("procedural", "meshes", "voxels", "mixture")
SOURCES = ("procedural", "voxels", "meshes")
# below data_dir(), when a config names no root: the shared ShapeNet chairs and ModelNet10 chair voxels
DEFAULT_ROOTS = {"meshes": "shapenet_chairs/partnet_meshes",
                 "voxels": "shapenet_chairs/modelnet10_vox32/modelnet10_chair_train_vox32.npy.gz"}
ROOT_OPTIONS = {"meshes": "mesh_root", "voxels": "voxel_root"}  # a mixture's sources read from files: their option


def grid_files_held(root: Path, arrays: list[Path]) -> str:
    """What a folder's files of voxel grids (:func:`voxels.grid_files`) are: "1 .npy file", or with several their
    counts by kind and the first names, "2 .npy files, 1 .npy.gz file (a.npy, b.npy, c.npy.gz)"."""
    kinds = Counter(next(s for s in GRID_SUFFIXES if f.name.lower().endswith(s)) for f in arrays)
    held = ", ".join(counted(kinds[s], f"{s} file") for s in GRID_SUFFIXES if s in kinds)
    if len(arrays) == 1:
        return held
    return f"{held} ({', '.join(str(f.relative_to(root)) for f in arrays[:3])}{', ...' * (len(arrays) > 3)})"


def cores() -> int:
    """The CPU cores this process may use: how many processes convert meshes not cached yet. One core takes about
    0.3 s a ShapeNet chair at 32^3 (0.5 s at 64^3), over half an hour for ShapeNet's 6 778 chairs."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def mixture_shares(weights: dict[str, float]) -> dict[str, float]:
    """Each weighted source's share of a mixture's training draws (its weight over their sum, to 6 decimals), in
    SOURCES order: what a spec records, which weights of the same proportions give alike (a resume compares them
    within 1e-5, :func:`data_mismatch.same_value`: weights passed back as printed may miss in the last decimal)."""
    total = sum(weights.values())
    return {name: round(weights[name] / total, 6) for name in SOURCES if weights.get(name, 0) > 0}


class SDFDataModule(SignalDataModule):
    """Truncated SDF grids of 3D shapes.

    Args:
        dataset: "procedural" (random chairs, see ``procedural.py``), "meshes" (every mesh file in
            ``root``), "voxels" (a ModelNet-style occupancy file at ``root``, or a folder of .binvox files, one
            shape each; see ``voxel_up_axis``) or
            "mixture" (training draws from several of these by ``mixture`` weights; validation and test are
            ``eval_source``'s held-out shapes, never trained on).
        root: the mesh folder, or the voxel file or folder (procedural: unused; mixture: see mesh_root, voxel_root);
            default ``DEFAULT_ROOTS`` below $PIXELTRANSFORMER_DATA or data/ (see ``data_dir``). A mesh folder is
            searched recursively, one file a shape (ShapeNet's nested layouts); meshes in train/ and test/ folders
            keep that split (see ``split_folders``); so does a folder of .binvox files. A folder that holds meshes and
            .binvox files (ShapeNetCore v2's) is read as the dataset's kind, with a warning that counts both.
        mixture: source name ("procedural", "voxels", "meshes") -> weight, the expected share of each source
            in a training epoch (normalised; weight 0 or absent: unused).
        mesh_root: the mixture's mesh folder (default: as for root with dataset "meshes").
        voxel_root: the mixture's voxel file or folder (default: as for root with dataset "voxels").
        eval_source: the mixture's source whose val/test splits are the validation and test data ("meshes":
            the real chairs). The other sources give all their shapes to training (procedural: num_shapes[0]).
        epoch_size: items in one training epoch of the mixture (default: the sum of the sources' training sizes).
        resolution: R, grid points per axis (32, as configs/sdf.yaml; the paper's 64: configs/sdf/procedural64.yaml).
            Meshes, procedural chairs and voxel grids leave the cube's faces ``margin``.
        truncation: t; values are clamped to [-t, t], which is also the spec's value range.
        num_bins: NB, uniform bins over [-t, t] (150 as in the original release).
        num_shapes: procedural chairs per split (train, val, test); each split has its own seed.
        splits: (train, val, test) sizes for meshes/voxels, one may be -1 (the rest); default: 10% each
            for val and test (at least 1), the rest for training.
        max_shapes: use only the first n meshes/voxel grids (quick experiments; of each split folder).
        cache_dir: where built grids are kept (default ``cache.cache_root("sdf")``: data folders are often
            read-only, and cache keys hash contents and settings, so one cache serves every root). Meshes not
            cached yet are converted by one process per CPU core (see ``cores``).
        margin: the room meshes, procedural chairs and voxel grids (padded by whole voxels to leave at least it, see
            ``voxels.voxels_to_sdf``) leave between their bounding box and the cube's faces (the
            spec's ``margin``); null (default): ``procedural.grid_margin``, 0.05, more under 51^3, so that the border
            stays outside the shell. 0.05 gives the grids of a run trained before it grew (margin 0.05 everywhere),
            which an evaluation or resume of such a run takes where it leaves the margin null (trained_options).
        shell_voxels: meshes and procedural chairs: how far, in voxels, every surface is offset outwards, so
            single-sided sheets and parts thinner than a voxel keep grid points inside (see
            ``mesh.mesh_to_sdf`` and ``procedural.chair_sdf_grid``). Voxel grids are already solid.
        voxel_up_axis: the array axis that is up in voxel files: 2 (z, ModelNet's models and the shared grids;
            default) or 1 (y, as ShapeNet's models are). Grids are turned y-up, this domain's convention.
        mesh_up_axis: the axis that is up in mesh files (dataset "meshes" and the mixture's mesh_root): 1 (y, as
            ShapeNet's models are; default) or 2 (z, as ModelNet's .off models and many scans and CAD exports).
            Meshes are turned y-up as voxel grids are, so the two agree in a mixture. Both up axes are in the spec,
            and ``predict`` turns a user's mesh or voxels as the training files were turned.
        batch_size, num_workers, seed, val_items, split_layout: as in :class:`SignalDataModule`.
        eval_batch_size: batch size of the test loader (default batch_size). The evaluation decodes every
            grid point, and the distribution parameters of a 64^3 grid take about 0.5 GB per shape.
    """

    item_noun = "shape"  # the [data] line counts shapes

    def __init__(
        self,
        dataset: str = "procedural",
        root: str | None = None,
        mixture: dict[str, float] | None = None,
        mesh_root: str | None = None,
        voxel_root: str | None = None,
        eval_source: str = "meshes",
        epoch_size: int | None = None,
        resolution: int = 32,
        truncation: float = 0.1,
        num_bins: int = 150,
        num_shapes: tuple[int, int, int] = (600, 50, 50),
        splits: tuple[int, int, int] | None = None,
        max_shapes: int | None = None,
        cache_dir: str | None = None,
        shell_voxels: float = 0.75,
        margin: float | None = None,
        voxel_up_axis: int = 2,
        mesh_up_axis: int = 1,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        eval_batch_size: int | None = None,
        val_items: int | None = None,
        split_layout: int = SPLIT_LAYOUT,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, root=root, val_items=val_items,
                         split_layout=split_layout)
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ValueError(f"SDFDataModule: eval_batch_size must be >= 1, got {eval_batch_size}")
        self.eval_batch_size = eval_batch_size
        if dataset not in DATASETS:
            raise ValueError(f"SDFDataModule: dataset must be one of {DATASETS}, got {dataset!r}")
        if seed < 0 and dataset in ("procedural", "mixture"):  # numpy's generators, which draw them, take no negatives
            raise ValueError(f"--data.init_args.seed must be >= 0 for {dataset}, got {seed}")
        if resolution < 2 or truncation <= 0:
            raise ValueError(f"SDFDataModule: need resolution >= 2 and truncation > 0, got {resolution}, {truncation}")
        if shell_voxels < 0:  # each mesh refused it alone: every one was skipped, and the splits blamed
            raise ValueError(f"SDFDataModule: shell_voxels must be >= 0, got {shell_voxels:g}")
        if margin is not None and not 0 <= margin < 1:
            raise ValueError(f"SDFDataModule: margin must lie in [0, 1) (null: grid_margin's), got {margin:g}")
        if margin is None and grid_margin(resolution, shell_voxels) >= 1:  # a shape fitted into no room, or inverted
            raise ValueError(f"SDFDataModule: resolution {resolution} leaves no room for a shape: the cube's border "
                             f"must stay {shell_voxels + 0.5:g} voxels outside the surface ({shell_voxels:g} of shell "
                             f"and half a voxel), {grid_margin(resolution, shell_voxels):.3g} of the cube's half-side "
                             f"1; give --data.init_args.resolution >= {int(2 * shell_voxels + 2) + 1} or a smaller "
                             f"shell_voxels")
        if voxel_up_axis not in (1, 2):
            raise ValueError(f"SDFDataModule: voxel_up_axis must be 1 (y up) or 2 (z up), got {voxel_up_axis}")
        if mesh_up_axis not in (1, 2):
            raise ValueError(f"SDFDataModule: mesh_up_axis must be 1 (y up) or 2 (z up), got {mesh_up_axis}")
        if len(num_shapes) != 3 or min(num_shapes) < 1:
            raise ValueError(f"SDFDataModule: num_shapes must be 3 positive sizes (train, val, test), got {num_shapes}")
        if max_shapes is not None and max_shapes < 1:  # -1 took all but the last shape of each folder, 0 none
            raise ValueError(f"SDFDataModule: max_shapes must be >= 1 (null: every shape), got {max_shapes}")
        self.mesh_root = user_path(mesh_root) if mesh_root else None
        self.voxel_root = user_path(voxel_root) if voxel_root else None
        self.mixture, self.eval_source, self.epoch_size = None, eval_source, epoch_size
        if dataset == "mixture":
            self.mixture = self._check_mixture(mixture, eval_source, epoch_size)
        elif dataset != "procedural":
            if self.root is None:
                self.root = self.default_data_root(DEFAULT_ROOTS[dataset])
        self.dataset_name = dataset
        self.resolution = resolution
        self.truncation = float(truncation)
        self.num_bins = num_bins
        self.num_shapes = tuple(int(n) for n in num_shapes)
        self.splits = None if splits is None else tuple(int(s) for s in splits)
        self.max_shapes = max_shapes
        self.cache_dir = user_path(cache_dir) if cache_dir else cache_root("sdf")
        self.shell_voxels = shell_voxels
        self.voxel_up_axis = voxel_up_axis
        self.mesh_up_axis = mesh_up_axis
        # the room meshes and procedural chairs leave the cube's faces
        self.margin = grid_margin(resolution, shell_voxels) if margin is None else float(margin)
        self._spec = SignalSpec(
            domain="sdf",
            dataset=dataset,
            grid_shape=(resolution,) * 3,
            val_dims=1,
            val_range=(-self.truncation, self.truncation),
            num_bins=num_bins,
            # shell_voxels, voxel_up_axis, mesh_up_axis, margin: how a user's mesh or voxels must be converted to match
            # the training data (a spec without a margin: 0.05, every grid's before grid_margin)
            extra={"truncation": self.truncation, "up_axis": 1, "shell_voxels": shell_voxels,
                   "voxel_up_axis": voxel_up_axis, "mesh_up_axis": mesh_up_axis, "margin": self.margin,
                   **({"mixture": mixture_shares(self.mixture)} if self.mixture else {})},
        )
        self._mesh_paths: list[str] | None = None  # the mesh files under root, as _load_meshes found them
        self._voxel_paths: list[str] | None = None  # a folder's voxel files under root, as _load_voxels found them
        # a folder's files of each kind and its links to missing ones, relative (_folder_files)
        self._walked: dict[str, dict[str, tuple[list[Path], list[Path]]]] = {}
        self._mesh_files: dict[str, list[Path]] | None = None  # "all" (one pool), or "train", "test" (and "val") folders
        self._voxel_stacks: dict[str, tuple[Path, int]] | None = None  # as _mesh_files: (stacked grid file, count)
        self.num_failed = 0  # meshes or voxel grids skipped while building

    @property
    def spec(self) -> SignalSpec:
        return self._spec

    def test_batch(self) -> tuple[int, str]:
        """The test loader's batch and the option it comes from: eval_batch_size where it is set, else batch_size."""
        return (self.eval_batch_size, "eval_batch_size") if self.eval_batch_size else (self.batch_size, "batch_size")

    def to_float(self, signal: torch.Tensor) -> torch.Tensor:
        """A batch on its device: float16 grids (as the stacked caches store them) become the float32 values of the
        items, clamped to [-t, t]; other batches were made where they were read (mesh grids, a user's grid)."""
        return sdf_values(signal, self.truncation) if signal.dtype == torch.float16 else signal

    # ---- building the caches ----------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Build the grids of the splits a run reads into the cache (Lightning runs this on one process per node, in
        every stage): a fit every split; an evaluation or a prediction its own, as :meth:`setup` reads them (a
        mixture's training sources, which its evaluation never reads, may be absent then); a prediction from a
        user's file none."""
        if self.predicts_a_file:
            return
        trainer = getattr(self, "trainer", None)
        stage = getattr(getattr(getattr(trainer, "state", None), "fn", None), "value", None)  # "fit", "test", ...
        for split in {"validate": ("val",), "test": ("test",), "predict": ("test",)}.get(stage, SPLITS):
            self.build_split(split)

    def check_data_roots(self, stage: str | None = None) -> None:
        """The folders and files the data is read from exist: asked where the data is first read and by the command
        line before a run starts, not when the module is made (a prediction from a user's file reads none of them).
        ``stage``: only those it reads (an evaluation of a mixture reads its eval_source alone)."""
        super().check_data_roots(stage)
        options = [option for option in ("root", *ROOT_OPTIONS.values()) if self.read_by(option, stage)]
        for arg, root in ((option, getattr(self, option)) for option in options):
            if not root.exists():
                raise FileNotFoundError(f"SDFDataModule: {arg} {root} does not exist")
            # voxel_root takes a file: one mesh was given as a mesh folder's option (mesh_root, or meshes' root)
            reads_meshes = arg == "mesh_root" or self.dataset_name == "meshes"
            kind, arrays = file_kind(root) if reads_meshes and root.is_file() else ("mesh", [])
            if kind == "neither":  # SDF samples, say: no reader reads it
                raise ValueError(f"SDFDataModule: {arg} {root} is {neither_held(arrays)}")
            if kind == "voxels":  # its folder holds no mesh either
                # one .binvox file is one shape, too few for the splits: the voxel reader reads a folder of them
                read = (f"the .binvox files of its folder with {self._read_as('voxels', root.parent)}"
                        if root.name.lower().endswith(".binvox") else f"it with {self._read_as('voxels', root)}")
                raise ValueError(f"SDFDataModule: {arg} {root} is a voxel file, not a folder of meshes: read {read}")
            if reads_meshes and not root.is_dir():
                raise ValueError(f"SDFDataModule: {arg} {root} is a file: meshes are read from a folder (searched "
                                 f"recursively): give a folder that holds it, e.g. "
                                 f"{root_option(root.parent, arg)}")

    def split_options(self) -> dict:
        # procedural chairs: each split its own stream, so only the seed chooses them; files: a pool the sizes split,
        # of the first max_shapes of each folder
        return {**super().split_options(), "splits": self.splits, "max_shapes": self.max_shapes}

    def conversion_options(self, trained: dict[str, Any], resume: bool = False) -> dict[str, Any]:
        """How the grids were made: the truncation always; the margin of every source (voxels are padded to it; a
        spec without a margin: 0.05, every mesh's and chair's before grid_margin, while voxels were not padded then);
        the shell of procedural chairs and meshes; the up axis of voxel or mesh files where the checkpoint was trained
        on these very files (another folder's files may well have another up axis). Of the sources read: a mixture's
        evaluation reads its eval_source alone, a resume every source, and the shares of the sources it draws
        (mixture_shares: a spec without them, written before they were recorded, is not compared)."""
        sources = ({*(n for n, w in self.mixture.items() if w > 0), self.eval_source} if self.mixture and resume
                   else {self._evaluated()[0]})
        options: dict[str, Any] = {"truncation": None, "margin": MARGIN}
        # a spec without a margin is a model's from before voxels were padded to it: where it was trained on voxels (a
        # mixture's weights are not in a spec of then) and this data holds voxels, no margin makes its grids again
        if "voxels" in sources and trained.get("dataset") in ("voxels", "mixture"):
            options["margin"] = MadeOtherwise("its voxel grids were not padded then; retrain it, or evaluate it on "
                                              "meshes")
        if sources & {"procedural", "meshes"}:
            options.update(shell_voxels=None)
        same_files = (trained.get("dataset") == self.dataset_name
                      and (trained.get("extra") or {}).get("source") == module_spec(self).extra.get("source"))
        if same_files and "voxels" in sources:
            options["voxel_up_axis"] = None
        if same_files and "meshes" in sources:
            options["mesh_up_axis"] = None
        if self.mixture and resume:  # the shapes its training draws (an evaluation reads the eval_source alone)
            options["mixture"] = None
        return options

    @classmethod
    def trained_options(cls, trained: dict[str, Any]) -> dict[str, Any]:
        """A spec without a margin is a model's from before the margin was recorded: every mesh and procedural chair
        then had 0.05 (grid_margin gives more under 51^3), which a null margin of its evaluation or resume takes. Not
        a model of voxels alone: they were not padded then, and no margin makes its grids again (conversion_options)."""
        if "margin" in (trained.get("extra") or {}) or trained.get("dataset") == "voxels":
            return {}
        return {"margin": MARGIN}

    @property
    def pool_shaped_by(self) -> tuple[str, ...]:
        """Shapes read from files: the first max_shapes of each folder (procedural chairs: each split its own
        count)."""
        return () if self._evaluated()[0] == "procedural" else ("max_shapes",)

    def _evaluated(self) -> tuple[str, Path | None]:
        """The source whose splits are evaluated (a mixture's eval_source, else the dataset) and its root: None for
        procedural chairs, which read no files."""
        source = self.eval_source if self.mixture else self.dataset_name
        return source, self._root_of(source)

    def _root_of(self, source: str) -> Path | None:
        """Where a source's shapes are read from: a mixture's option for it (mesh_root, voxel_root), else root;
        procedural chairs: None."""
        if source == "procedural":
            return None
        return getattr(self, self._root_option(source))

    def _root_option(self, source: str) -> str:
        """The option that names a file source's root ("meshes" or "voxels"): a mixture's (mesh_root, voxel_root),
        else root."""
        return ROOT_OPTIONS[source] if self.mixture else "root"

    def source_path(self) -> Path | None:
        """The mesh folder or voxel file (or folder) the evaluated shapes are read from (a mixture's eval_source's);
        procedural chairs: None."""
        return self._evaluated()[1]

    def same_splits(self, options: dict[str, Any], splits: Sequence[str] = SPLITS) -> bool:
        """Whether a checkpoint's split options hold the items this module's own do (sizes: None and the defaults it
        stands for, -1 and the rest; seeds of splits that each take a whole folder): the splits each draws from the
        pools of the evaluated source, counted as this module loaded them (no file is read twice). Procedural chairs
        are drawn by the seed: another seed never gives the same where they are read (evaluated, or mixed into the
        training split), and other sizes always do (the sizes choose none of them)."""
        source, root = self._evaluated()
        mixed = "train" in splits and (self.mixture or {}).get("procedural", 0) > 0  # chairs of the training split
        if "seed" in options and (source == "procedural" or mixed):
            return False
        if source == "procedural":
            return True
        if "max_shapes" in options:  # other shapes of the folders read
            return False
        mine, theirs = self.split_options(), {**self.split_options(), **options}
        counts = self._pool_counts(source, root)  # pool -> usable shapes
        return all(self._pick(s, counts, root, False, theirs) == self._pick(s, counts, root, False, mine)
                   for s in splits)

    def pool_sizes(self) -> dict[str, int] | None:
        """The usable shapes of each pool of the evaluated source, which files added or removed change; procedural
        chairs: None (each split its own stream)."""
        source, root = self._evaluated()
        if source == "procedural":
            return None
        return self._pool_counts(source, root)

    def pool_files(self) -> list[str] | None:
        """The mesh or voxel files of the evaluated source under its root; one file of voxel grids and procedural
        chairs: None."""
        source, root = self._evaluated()
        return None if source == "procedural" else self._files_found(source, root)

    def train_only_files(self) -> dict[str, list[str] | None] | None:
        """The mesh or voxel files of each source a mixture trains on alone (a weight above 0, other than
        eval_source), under its root; a voxel file: None, as for :meth:`pool_files`."""
        if not self.mixture:
            return None
        sources = [n for n in self._file_sources(self.mixture) if n != self.eval_source]
        return {n: self._files_found(n, self._root_of(n)) for n in sources} or None

    def _files_found(self, source: str, root: Path) -> list[str] | None:
        """A file source's files under its root as its load found them, readable or not; a voxel file: None."""
        self._pool_counts(source, root)
        return self._mesh_paths if source == "meshes" else self._voxel_paths

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """Procedural chairs (also a mixture's evaluated ones) draw each split from its own stream: none; so does a
        mixture that evaluates a source it gives no weight, whose training never reads it. Files: as their pools are
        (one, or split folders), counted as this module loaded them."""
        source, root = self._evaluated()
        if source == "procedural" or (self.mixture and self.mixture.get(source, 0) <= 0):
            return ()
        return splits_with_train_of(list(self._pool_counts(source, root)))

    def read_by(self, option: str, stage: str | None) -> bool:
        """Procedural chairs read no root given to them, a mesh or voxel dataset its root alone, and a mixture the
        places of the sources it trains on or evaluates; its validation and test splits are its eval_source's: an
        evaluation reads no other source."""
        if not self.mixture:
            return option == "root" and self.dataset_name != "procedural"
        if stage in ("validate", "test"):
            return option == ROOT_OPTIONS.get(self.eval_source)
        return option in (ROOT_OPTIONS[n] for n in self._file_sources(self.mixture))

    def build_split(self, split: str) -> Dataset:
        self.check_data_roots("fit" if split == "train" else "test")
        if self.dataset_name == "mixture":
            return self._mixture(split)
        return self._source(self.dataset_name, split, self.root)

    def _source(self, name: str, split: str, root: Path | None, everything: bool = False) -> Dataset:
        """One source's split; everything=True: all its shapes (a mixture's training-only source)."""
        if name == "procedural":
            return self._procedural(split)
        if name == "voxels":
            return self._voxels(split, root, everything)
        return self._meshes(split, root, everything)

    def _check_mixture(self, mixture: dict[str, float] | None, eval_source: str,
                       epoch_size: int | None) -> dict[str, float]:
        if not mixture:
            raise ValueError("SDFDataModule: dataset='mixture' needs mixture weights, e.g. {'meshes': 1, 'voxels': 1}")
        bad = sorted(set(mixture) - set(SOURCES))
        if bad:
            raise ValueError(f"SDFDataModule: unknown mixture sources {bad}; choose from {SOURCES}")
        weights = {k: float(v) for k, v in mixture.items()}
        if min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError(f"SDFDataModule: mixture weights must be >= 0 with a positive sum, got {weights}")
        if eval_source not in SOURCES:
            raise ValueError(f"SDFDataModule: eval_source must be one of {SOURCES}, got {eval_source!r}")
        if epoch_size is not None and epoch_size < 1:
            raise ValueError(f"SDFDataModule: epoch_size must be >= 1, got {epoch_size}")
        for name in self._file_sources(weights):
            option = ROOT_OPTIONS[name]
            if getattr(self, option) is None:
                setattr(self, option, self.default_data_root(DEFAULT_ROOTS[name], option=option))
        return weights

    def _file_sources(self, weights: dict[str, float]) -> list[str]:
        """The mixture's sources read from files (meshes, voxels) that it trains on or evaluates, in SOURCES order."""
        used = {n for n, w in weights.items() if w > 0} | {self.eval_source}
        return [n for n in SOURCES if n in used and n in ROOT_OPTIONS]

    def _mixture_names(self) -> list[str]:
        """The sources the mixture trains on (a weight above 0), in SOURCES order: its MixtureDataset's sources'."""
        return [n for n in SOURCES if self.mixture.get(n, 0) > 0]

    def _mixture(self, split: str) -> Dataset:
        if split != "train":
            return self._source(self.eval_source, split, self._root_of(self.eval_source))
        names = self._mixture_names()
        parts = [self._source(n, "train", self._root_of(n), everything=n != self.eval_source) for n in names]
        for name, part in zip(names, parts):
            if len(part) == 0 and name == self.eval_source:  # val and test took every shape it holds
                raise ValueError(f"{type(self).__name__}: the train split has no {name}, the evaluated source, though "
                                 f"the mixture weighs it {self.mixture[name]:g}{self.empty_split_cause('train')}")
        size = self.epoch_size or sum(len(p) for p in parts)
        return MixtureDataset(parts, [self.mixture[n] for n in names], size, self.seed)

    def _split_sizes(self, n: int, root: Path, splits: tuple[int, int, int] | None) -> tuple[int, int, int]:
        if splits is not None:
            return splits
        held_out = max(1, n // 10)
        if n < 3:
            # a cached conversion warns no more about what it left out: the line says what that can be
            raise ValueError(f"SDFDataModule: {root} yields only {n} usable shapes (empty or full voxel grids, having "
                             f"no surface, and files that cannot be read or converted are left out); need at least 3 "
                             f"for 3 splits: add shapes, or {splits_hint('shapes')}")
        return (-1, held_out, held_out)

    def split_items(self, split: str) -> str:
        """A mixture's train split in words: its draws an epoch and the shapes of each source they are drawn from."""
        if not (self.mixture and split == "train"):
            return super().split_items(split)
        ds = self.dataset(split)
        sources = ", ".join(f"{len(part)} {name}" for name, part in zip(self._mixture_names(), ds.sources))
        return f"{counted(len(ds), self.item_noun)} an epoch, drawn from {sources}"

    def empty_split_cause(self, split: str) -> str:
        """An empty split of the evaluated source's shapes: a split folder of no usable shape named, or for one pool
        how the sizes dealt it and what to give (else "")."""
        source, root = self._evaluated()
        if root is None:
            return ""
        counts = self._pool_counts(source, root)
        if "all" not in counts:
            pool = self._pick(split, counts, root, False, self.split_options())[0]
            if counts[pool] > 0:
                return ""
            return f": {root}'s {pool}/ folder holds no usable shape: each of its files was left out (see the warnings)"
        sizes = [len(self._pick(s, counts, root, False, self.split_options())[1]) for s in SPLITS]
        return split_sizes_cause(root, counts["all"], "shape", sizes, kind="usable")

    def _procedural(self, split: str) -> Dataset:
        n = self.num_shapes[SPLITS.index(split)]
        margin = self.margin
        # a margin other than the one every grid had before grid_margin (R <= 50) is named: those caches are rebuilt
        key = cache_key("procedural", GENERATOR_VERSION, self.seed, split, n, self.resolution, self.truncation,
                        self.shell_voxels, *(() if margin == MARGIN else (f"m{margin!r}",)))
        path = self.cache_dir / "procedural" / f"{split}_{n}_{self.resolution}_{key}.npy"
        if not whole_npy(path, (n,) + (self.resolution,) * 3, np.float16):  # [n, R, R, R] as _write_stacked writes
            rng = np.random.default_rng([self.seed, SPLITS.index(split)])  # own stream per split
            self._write_stacked(path, n, lambda i: chair_sdf_grid(make_chair(rng, margin), self.resolution,
                                                                   self.truncation, self.shell_voxels),
                                desc=f"procedural chairs ({split})")
        return StackedSDFDataset(path, range(n), self.truncation)

    def _voxels(self, split: str, root: Path, everything: bool = False) -> Dataset:
        stacks = self._load_voxels(root)
        counts = {name: n for name, (_, n) in stacks.items()}  # pool -> usable shapes
        pool, idx = self._pick(split, counts, root, everything, self.split_options())
        return StackedSDFDataset(stacks[pool][0], idx, self.truncation)

    def _pool_counts(self, source: str, root: Path) -> dict[str, int]:
        """The usable shapes of each pool ("all", or split folders) of a file source, as loaded once."""
        if source == "voxels":
            return {name: n for name, (_, n) in self._load_voxels(root).items()}
        return {name: len(files) for name, files in self._load_meshes(root).items()}

    def _load_voxels(self, root: Path) -> dict[str, tuple[Path, int]]:
        """The stacked grid file of each pool of voxel grids and how many it holds, built into the cache once."""
        if self._voxel_stacks is None:
            with self._walks_forgotten_on_refusal():
                self._voxel_stacks = self._voxel_pools(root)
        return self._voxel_stacks

    def _voxel_pools(self, root: Path) -> dict[str, tuple[Path, int]]:
        """The pools :meth:`_load_voxels` keeps, built (a refusal leaves none kept)."""
        if not root.is_dir():
            return {"all": self._voxel_stack([root], root, "all")}
        # ModelNet's and ShapeNet's voxelisations: a .binvox file a shape, maybe in split folders
        files = self._folder_files(root, read="voxels")["voxels"]
        if not files:
            said = (f"{root} is a folder: voxel grids are read from one .npy, .npy.gz or .npz file of occupancy grids "
                    "[N, R, R, R] or from the .binvox files below a folder")
            if arrays := grid_files(root):  # the shared ModelNet voxels' folder
                option = self._root_option("voxels")
                if len(arrays) == 1:
                    raise ValueError(f"{said}; it holds no .binvox file but {grid_files_held(root, arrays)}: give "
                                     f"{root_option(arrays[0], option)}")
                raise ValueError(f"{said}; it holds no .binvox file but {grid_files_held(root, arrays)}: give one as "
                                 f"--data.init_args.{option}=<its path>")
            raise ValueError(f"{said}, and it holds none; a folder of meshes (ModelNet's .off files) is dataset: "
                             "meshes (a mixture's mesh_root), with mesh_up_axis: 2 for z-up models such as ModelNet's")
        self._voxel_paths = [str(f.relative_to(root)) for f in files]  # every file found, readable or not
        self._say_other_kind(root, "voxels", len(files))
        groups = split_folders(files, root) or {"all": files}
        return {name: self._voxel_stack(group[: self.max_shapes], root, name) for name, group in groups.items()}

    def _voxel_stack(self, files: list[Path], root: Path, name: str) -> tuple[Path, int]:
        """The grids of voxel files (one file of N grids, or .binvox files of one grid each) as SDFs in one stacked
        cache file: (its path, how many). Empty or full grids are skipped; so are unreadable files of a folder."""
        digests = FileDigests(self.cache_dir / "voxels" / "digests.json")  # bytes read once, not at every start
        # the margin voxel grids are padded to (voxels_to_sdf): the meshes' and procedural chairs'
        key = cache_key("voxels", CONVERSION_VERSION, [digests(f) for f in files], self.max_shapes, self.resolution,
                        self.truncation, self.voxel_up_axis, library_versions(VOXEL_LIBRARIES), f"m{self.margin!r}")
        digests.save()
        stem = name_start(root.name.split(".")[0]) + ("" if name == "all" else f"_{name}")  # a long name's start
        path = self.cache_dir / "voxels" / f"{stem}_{self.resolution}_{key}.npy"
        # what building the stack left out, said again whenever the cached stack is read: files that could not be
        # read were skipped without a word after the first run (a folder of bad .binvox files then "yields only 0
        # usable shapes", naming no file)
        skipped_path = path.with_suffix(".skipped.json")
        if whole_npy(path, (None,) + (self.resolution,) * 3, np.float16):  # [N, R, R, R]
            try:
                said = json.loads(skipped_path.read_text()) if skipped_path.exists() else {}
            except (OSError, ValueError):
                said = {}
            unreadable, empty = list(said.get("files", [])), int(said.get("empty", 0))
        else:
            loaded: dict[Path, np.ndarray] = {}  # the file read last: a file of many grids is read once

            def grids(f: Path) -> np.ndarray:  # [n, r, r, r] bool
                if f not in loaded:
                    loaded.clear()
                    loaded[f] = read_voxels(f, self.voxel_up_axis)
                return loaded[f]

            good, empty = [], 0  # (file, grid within it) of the grids that have a surface
            unreadable = []  # why each file skipped could not be read
            for f in loop_progress(files, f"reading voxels in {root.name}", unit="file", enabled=len(files) > 1):
                try:
                    occ = grids(f)  # [n, r, r, r]
                except ValueError as e:
                    if not root.is_dir():
                        raise
                    unreadable.append(str(e))
                    continue
                filled = occ.reshape(len(occ), -1).mean(1)  # [n]
                keep = np.flatnonzero((filled > 0) & (filled < 1))
                empty += len(occ) - len(keep)
                good += [(f, int(i)) for i in keep]
            good = good[: self.max_shapes]

            def convert(i: int) -> np.ndarray:
                f, k = good[i]
                sdf = voxels_to_sdf(grids(f)[k], self.resolution, self.margin)  # [R, R, R], padded to the margin
                return np.clip(sdf, -self.truncation, self.truncation)

            if unreadable or empty:  # before the stack: a stack is never read without it
                with writing_cache(*sdf_cache(path.parent)):
                    atomic_write(skipped_path, lambda tmp: tmp.write_text(json.dumps({"files": unreadable,
                                                                                       "empty": empty})))
            self._write_stacked(path, len(good), convert, desc="voxels -> SDF")
        for line in unreadable:
            warn_rank_zero(f"skipping voxel file: {line}", stacklevel=2)
        if empty:
            warn_rank_zero(f"{root}: skipping {empty} empty or full voxel grids", stacklevel=2)
        self.num_failed += len(unreadable)
        return path, len(np.load(path, mmap_mode="r"))

    def _pick(self, split: str, counts: dict[str, int], root: Path, everything: bool,
              options: dict[str, Any]) -> tuple[str, list[int]]:
        """The pool a split draws from and its items there, for a source of one pool ("all": split by the sizes of
        the split options ``options``, :meth:`split_options`) or of official split folders (the test folder is the
        test split, validation its folder's or drawn from train/). everything: all its shapes, a mixture's
        training-only source, which keeps to the train folder too."""
        splits = None if options["splits"] is None else tuple(int(s) for s in options["splits"])
        seed, layout = int(options["seed"]), int(options["split_layout"])
        if "all" in counts:
            n = counts["all"]
            if everything:
                return "all", list(range(n))
            sizes = self._split_sizes(n, root, splits)  # its own refusals name the data module
            try:
                parts = split_indices(n, sizes, seed, layout)
            except ValueError as err:  # sizes that do not fit: named with the shapes they split
                raise ValueError(f"SDFDataModule: {root}'s usable shapes: {err}; {splits_hint('shapes')}") from None
            return "all", parts[SPLITS.index(split)].tolist()
        if everything:
            return "train", list(range(counts["train"]))
        index = official_split_indices(counts, splits, seed, str(root), layout=layout)
        pool, chosen = index[split]
        return pool, chosen.tolist()

    def _meshes(self, split: str, root: Path, everything: bool = False) -> Dataset:
        files = self._load_meshes(root)
        counts = {name: len(f) for name, f in files.items()}  # pool -> usable shapes
        pool, idx = self._pick(split, counts, root, everything, self.split_options())
        return FileSDFDataset([files[pool][i] for i in idx], self.truncation)

    def _load_meshes(self, root: Path) -> dict[str, list[Path]]:
        """The cached SDF grid files of each pool of meshes, the meshes converted into the cache once."""
        if self._mesh_files is None:
            with self._walks_forgotten_on_refusal():
                self._mesh_files = self._mesh_pools(root)
        return self._mesh_files

    def _mesh_pools(self, root: Path) -> dict[str, list[Path]]:
        """The pools :meth:`_load_meshes` keeps, converted (a refusal leaves none kept)."""
        # ShapeNet nests one model a folder (v1 <synset>/<id>/model.obj, v2 <id>/models/model_normalized.obj)
        found = self._folder_files(root, read="meshes")
        paths = found["meshes"]
        cache = SDFCache(self.cache_dir / "meshes", margin=self.margin, truncation=self.truncation,
                         shell_voxels=self.shell_voxels, up_axis=self.mesh_up_axis)
        if self._voxel_npz(paths, cache):  # .npz files of voxel grids alone (ModelNet's)
            paths = []
        if not paths:
            none = f"{root}: no mesh files ({', '.join(MESH_SUFFIXES)}) in it or its sub-folders"
            if voxels := len(found["voxels"]):  # a folder of .binvox files, which the voxel reader reads
                raise FileNotFoundError(f"{none} but {counted(voxels, '.binvox voxel file')}: read "
                                        f"{'it' if voxels == 1 else 'them'} with {self._read_as('voxels', root)}")
            if arrays := grid_files(root):  # files of voxel grids (the shared ModelNet voxels' folder): one a root
                one = len(arrays) == 1
                raise FileNotFoundError(f"{none} but {grid_files_held(root, arrays)}: read {'it' if one else 'one'} "
                                        f"with {self._read_as('voxels', arrays[0] if one else None)}")
            raise FileNotFoundError(f"{none}: put the meshes there, or give the folder that holds them with "
                                    f"--data.init_args.{self._root_option('meshes')}=DIR")
        self._mesh_paths = [str(p.relative_to(root)) for p in paths]  # every mesh found, convertible or not
        self._say_other_kind(root, "meshes", len(paths))
        groups = split_folders(paths, root) or {"all": paths}
        pools = {}
        for name, group in groups.items():
            pools[name] = cache.build_files(group[: self.max_shapes], self.resolution, workers=cores())
            self.num_failed += len(cache.failures)
        return pools

    def _voxel_npz(self, paths: list[Path], cache: SDFCache) -> bool:
        """Whether a mesh folder's files are .npz files of voxel grids alone, not meshes (:func:`mesh.file_kind`; SDF
        samples' 'points' and 'sdf' are neither).
        The look stops at the first mesh and opens only files not converted yet: a second start reads no mesh file."""
        def grids(path: Path) -> bool:
            try:
                cached = whole_npy(cache.target(path, self.resolution), (self.resolution,) * 3, np.float32)
            except OSError:  # unreadable: build_files names the cause
                return False
            return not cached and file_kind(path)[0] == "voxels"

        return bool(paths) and all(p.suffix.lower() == ".npz" and grids(p) for p in paths)

    @contextmanager
    def _walks_forgotten_on_refusal(self) -> Iterator[None]:
        """A load that stops (a folder of no file of its kind, files beside its split folders, an interrupt) forgets
        the folders' walks (:meth:`_folder_files`): the same module's next try, once the folder is filled or fixed,
        walks it again rather than being refused by the files it held before. It forgets the files it counted as
        skipped too (num_failed): the next try converts every folder again and counts them itself, where the folders
        converted before the stop were counted twice."""
        failed = self.num_failed
        try:
            yield
        except BaseException:
            self._walked.clear()
            self.num_failed = failed
            raise

    def _folder_files(self, root: Path, read: str | None = None) -> dict[str, list[Path]]:
        """The mesh files and the .binvox voxel files below a folder ("meshes", "voxels"), found in one walk of it
        and kept: a folder of both kinds (ShapeNetCore v2's) was walked again to count the kind not read, and once
        for each kind a mixture reads from it. Kept relative to the folder and given under the caller's ``root``, so
        one folder spelled two ways (a relative mesh_root and an absolute voxel_root, a link and its target) lists
        the same files under each spelling. read: the kind read, whose links to missing files the walk found are
        warned of (those of the other kind are files not read)."""
        key = os.path.realpath(root)
        if key not in self._walked:
            missing: list[Path] = []
            files = [p.relative_to(root) for p in data_files(root, MESH_SUFFIXES + (".binvox",), missing=missing)]
            gone = [p.relative_to(root) for p in missing]
            def voxels(p: Path) -> bool:  # the rest: mesh files
                return p.suffix.lower() == ".binvox"

            self._walked[key] = {
                "meshes": ([p for p in files if not voxels(p)], [p for p in gone if not voxels(p)]),
                "voxels": (solid_voxels([p for p in files if voxels(p)]), [p for p in gone if voxels(p)])}
        if read is not None:
            warn_missing_links(root, [root / rel for rel in self._walked[key][read][1]], stacklevel=3)
        return {kind: [root / rel for rel in rels] for kind, (rels, _) in self._walked[key].items()}

    def _say_other_kind(self, root: Path, kind: str, found: int) -> None:
        """A folder read as ``kind`` ("meshes" or "voxels") that holds files of the other kind too (ShapeNetCore v2
        puts model_normalized.solid.binvox beside model_normalized.obj) says so once: how many of each, which it reads
        and the options that would read the others from this folder. A mixture that reads both kinds from this folder says nothing."""
        other = "voxels" if kind == "meshes" else "meshes"
        if self.mixture and other in self._file_sources(self.mixture) \
                and os.path.realpath(self._root_of(other)) == os.path.realpath(root):
            return
        others = len(self._folder_files(root)[other])
        if not others:
            return
        files = {"meshes": "mesh file", "voxels": ".binvox voxel file"}
        counts = {kind: counted(found, files[kind]), other: counted(others, files[other])}
        reader = f"the mixture's {ROOT_OPTIONS[kind]}" if self.mixture else f"dataset {kind}"
        warn_rank_zero(f"{root} holds {counts['meshes']} and {counts['voxels']}: {reader} reads the {counts[kind]} "
                       f"alone; {self._read_as(other, root)} would read the {counts[other]}", stacklevel=3)

    def _read_as(self, kind: str, root: Path | None) -> str:
        """The options that read ``root`` (a folder or file; None: "<its path>", one the user picks) as ``kind``
        ("meshes" or "voxels"): its root option in a mixture, else the dataset and root, as shell words. The remedy
        names the place: without a root, dataset voxels (or meshes) reads its own default, not this one."""
        option = self._root_option(kind)
        given = f"--data.init_args.{option}=<its path>" if root is None else root_option(root, option)
        if self.mixture:
            return f"{given} (with a {kind} weight in the mixture)"
        return f"--data.init_args.dataset={kind} {given}"

    def _write_stacked(self, path: Path, n: int, make, desc: str) -> None:
        """Write n grids from make(i) -> [R, R, R] into a float16 .npy, atomically.

        float16 is plenty for values in [-t, t]: its error (< 1e-4 t) is far below a bin (2 t / NB)."""

        check_cache_folder(path.parent, *sdf_cache(path.parent))  # said before building

        def fill(tmp: Path) -> None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n,) + (self.resolution,) * 3)
            for i in loop_progress(range(n), desc, unit="shape"):
                grid = make(i)
                if not np.isfinite(grid).all():
                    raise ValueError(f"{desc}: shape {i} has NaN/Inf SDF values")
                out[i] = grid
            out.flush()
            del out

        with writing_cache(*sdf_cache(path.parent)):  # a full disk
            atomic_write(path, fill)
