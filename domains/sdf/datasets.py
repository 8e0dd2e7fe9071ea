"""The SDF datasets: a stacked grid file [N, R, R, R] memory-mapped (:class:`StackedSDFDataset`: procedural chairs and
voxel grids), one .npy grid a shape (:class:`FileSDFDataset`: the mesh cache's entries), and a training epoch drawn
from several of them (:class:`MixtureDataset`). Each reads a DataLoader's batch in one call (:func:`read_grids`).
data.py's SDFDataModule builds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


def sdf_values(grids: torch.Tensor, truncation: float) -> torch.Tensor:
    """Grids as stored (float16 or float32, any shape) -> float32 clamped to [-t, t]: a batch sent as float16, once on
    its device (SDFDataModule.to_float), gets the values its items have. The clamp is on the float32 values: float16
    cannot hold every t (0.15 rounds up)."""
    return grids.float().clamp(-truncation, truncation)


def read_grids(reads: Sequence[tuple[Any, int]], dtype: torch.dtype) -> torch.Tensor:
    """The grids of ``reads`` [(dataset, item)], each read straight into its row of one batch [B, 1, R, R, R] of
    ``dtype``: float16 as a stacked cache stores them (made float32 on the device), or float32 clamped row by row to
    its dataset's [-t, t] (the items' values: the float16 -> float32 conversion is exact)."""
    shape = reads[0][0].grid_shape
    out = torch.empty((len(reads), 1, *shape), dtype=dtype)  # [B, 1, R, R, R]
    for row, (ds, i) in zip(out, reads):
        ds.read_into(i, row[0].numpy())
        if dtype == torch.float32:
            row.clamp_(-ds.truncation, ds.truncation)
    return out


class StackedSDFDataset(Dataset):
    """Items i of a stacked grid file [N, R, R, R] (float16/32 .npy), memory-mapped on first access so the
    dataset pickles cheaply into DataLoader workers. A DataLoader's batch is read in one call and sent as the file
    stores it (float16: half the bytes to collate and copy), made float and clamped on its device."""

    def __init__(self, path: Path, indices: Sequence[int], truncation: float):
        self.path, self.indices, self.truncation = Path(path), [int(i) for i in indices], truncation
        self._arr: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _stack(self) -> np.ndarray:
        if self._arr is None:
            self._arr = np.load(self.path, mmap_mode="r")  # [N, R, R, R]
        return self._arr

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(self._stack().shape[1:])

    @property
    def stored_dtype(self) -> torch.dtype:
        return torch.float16 if self._stack().dtype == np.float16 else torch.float32

    def read_into(self, i: int, out: np.ndarray) -> None:
        """Item i's stored grid into ``out`` [R, R, R] (float16 or float32)."""
        np.copyto(out, self._stack()[self.indices[i]], casting="same_kind")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"signal": read_grids([(self, i)], torch.float32)[0]}  # [1, R, R, R]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return {"signal": read_grids([(self, i) for i in indices], self.stored_dtype)}  # [B, 1, R, R, R]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arr": None}


class FileSDFDataset(Dataset):
    """One .npy grid [R, R, R] per item (the mesh cache's entries, float32); a DataLoader's batch in one call."""

    stored_dtype = torch.float32

    def __init__(self, files: Sequence[Path], truncation: float):
        self.files, self.truncation = [Path(f) for f in files], truncation

    def __len__(self) -> int:
        return len(self.files)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(np.load(self.files[0], mmap_mode="r").shape)

    def read_into(self, i: int, out: np.ndarray) -> None:
        """Item i's grid into ``out`` [R, R, R], read from its file without another copy."""
        np.copyto(out, np.load(self.files[i], mmap_mode="r"), casting="same_kind")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"signal": read_grids([(self, i)], torch.float32)[0]}  # [1, R, R, R]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return {"signal": read_grids([(self, i) for i in indices], torch.float32)}  # [B, 1, R, R, R]


class MixtureDataset(Dataset):
    """A fixed-size training epoch drawn from several datasets in given proportions.

    Source j gets round(weight_j / sum(weights) * size) of the items (largest remainders, so the counts sum to
    size); within a source the items cycle through a seeded permutation, so every shape is used before any
    repeats. The training sampler shuffles the epoch, so the grouping by source here carries no meaning.
    """

    def __init__(self, sources: Sequence[Dataset], weights: Sequence[float], size: int, seed: int = 0):
        if len(sources) != len(weights) or not sources:
            raise ValueError(f"MixtureDataset: need one weight per source, got {len(sources)} sources, {len(weights)} weights")
        w = np.asarray(weights, dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"MixtureDataset: weights must be >= 0 with a positive sum, got {list(weights)}")
        if size < 1:
            raise ValueError(f"MixtureDataset: size must be >= 1, got {size}")
        for j, ds in enumerate(sources):
            if w[j] > 0 and len(ds) == 0:
                raise ValueError(f"MixtureDataset: source {j} is empty but has weight {w[j]}")
        share = w / w.sum() * size
        counts = np.floor(share).astype(int)
        counts[np.argsort(-(share - counts), kind="stable")[: size - counts.sum()]] += 1
        rng = np.random.default_rng(seed)
        self.sources = list(sources)
        self.counts = counts.tolist()
        self.items: list[tuple[int, int]] = []  # (source, index within it)
        for j, c in enumerate(counts):
            if c == 0:
                continue
            order = np.concatenate([rng.permutation(len(sources[j])) for _ in range(-(-c // len(sources[j])))])
            self.items += [(j, int(i)) for i in order[:c]]

    def __len__(self) -> int:
        return len(self.items)

    def source_of(self, i: int) -> int:
        return self.items[i][0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        j, k = self.items[i]
        return self.sources[j][k]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A batch of SDF items in one call: {"signal": [B, 1, R, R, R]}, float16 when every source drawn stores
        float16 grids, else their float32 items' values."""
        reads = [(self.sources[j], k) for j, k in (self.items[i] for i in indices)]
        half = all(ds.stored_dtype == torch.float16 for ds, _ in reads)
        return {"signal": read_grids(reads, torch.float16 if half else torch.float32)}
