"""SignalSpec: what a domain's signal looks like to the core.

A signal maps positions in [-1, 1]^P to values in R^V. Positions follow the axis order of the dense grid
(for video that is (t, y, x); for images (y, x)). The spec is plain data so that it can live in a checkpoint
that loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch


@dataclass(frozen=True)
class SignalSpec:
    """Shape and value range of a domain's signals.

    Args:
        domain: domain name ("polynomial", "images", ...); checkpoints remember it.
        dataset: dataset name within the domain ("digits", "mnist", ...).
        grid_shape: the dense grid a DataModule yields, axis order = position order.
        val_dims: V, number of value channels.
        val_range: (low, high) of values; fixes the uniform bin centres and the value normalisation.
        num_bins: NB, number of mixture bins; 1 is a plain Gaussian.
        centres: optional explicit bin centres, NB rows of V floats (e.g. k-means RGB colours).
        pos_scale: half-width of the original position domain per axis (positions are stored in
            [-1, 1]; a domain that lives on [-2, 2] says 2.0); used only for display and oracles.
        pos_offset: centre of the original position domain, so that a position p stands for
            pos_offset + p * pos_scale (a user's curves on x in [1990, 2020]: offset 2005, scale 15); 0 for the
            domains that live around 0.
        frame_unit: with a per-set value frame (model.net.value_norm), the unit of the Gaussian's offset and spread
            in the frame, where a set's values have mean 0 and scale 1; None: half the value range, what models
            trained before it was recorded use (5 for polynomials, 3 for GP draws). Data of arbitrary units (a
            user's curves) give 1: half of their value range, in their units, would make it as arbitrary.
    """

    domain: str
    dataset: str
    grid_shape: tuple[int, ...]
    val_dims: int
    val_range: tuple[float, float]
    num_bins: int = 1
    centres: tuple[tuple[float, ...], ...] | None = None
    pos_scale: float = 1.0
    pos_offset: float = 0.0
    frame_unit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid_shape", tuple(int(g) for g in self.grid_shape))
        object.__setattr__(self, "val_range", (float(self.val_range[0]), float(self.val_range[1])))
        object.__setattr__(self, "pos_scale", float(self.pos_scale))
        object.__setattr__(self, "pos_offset", float(self.pos_offset))
        if self.centres is not None:
            cs = tuple(tuple(float(c) for c in row) for row in self.centres)
            object.__setattr__(self, "centres", cs)
            if len(cs) != self.num_bins:
                raise ValueError(f"SignalSpec: {len(cs)} bin centres given but num_bins={self.num_bins}")
            if any(len(row) != self.val_dims for row in cs):
                raise ValueError(f"SignalSpec: every bin centre needs {self.val_dims} values")
        if not 1 <= len(self.grid_shape) <= 3:
            raise ValueError(f"SignalSpec: grid_shape must have 1 to 3 axes, got {self.grid_shape}")
        if self.val_range[1] <= self.val_range[0]:
            raise ValueError(f"SignalSpec: val_range must be increasing, got {self.val_range}")
        if self.num_bins < 1 or self.val_dims < 1:
            raise ValueError("SignalSpec: num_bins and val_dims must be >= 1")

    def outside_bins(self, values: torch.Tensor, slack: float) -> tuple[float, float] | None:
        """(min, max) of values [..., V] when the value bins cannot hold them: a model with bins (num_bins > 1), and
        values beyond val_range by more than ``slack`` times its width; else None (one Gaussian's range only
        normalises)."""
        low, high = _span(values)
        return (low, high) if self.beyond_bins(low, high, slack) else None

    def beyond_bins(self, low: float, high: float, slack: float) -> bool:
        """Whether values spanning [low, high] lie where the value bins cannot hold them (outside_bins, for a span
        measured already)."""
        lo, hi = self.val_range
        margin = slack * (hi - lo)
        return self.num_bins > 1 and (low < lo - margin or high > hi + margin)

    def value_reach(self, values: torch.Tensor) -> tuple[float, float, float]:
        """(min, max) of values and how far they reach from the middle of val_range, in half-widths of it (1: its
        ends), the measure by which values are far from the model's."""
        lo, hi = self.val_range
        low, high = _span(values)
        return low, high, max(abs(low - (lo + hi) / 2), abs(high - (lo + hi) / 2)) / ((hi - lo) / 2)

    @property
    def pos_dims(self) -> int:
        return len(self.grid_shape)

    @property
    def num_points(self) -> int:
        n = 1
        for g in self.grid_shape:
            n *= g
        return n

    def bin_centres(self) -> torch.Tensor:
        """Bin centres [NB, V]: explicit ones if given, else a uniform grid (scalar values) or the
        cartesian product of per-channel uniform grids (vector values, NB = n^V)."""
        if self.centres is not None:
            return torch.tensor(self.centres, dtype=torch.float32)  # [NB, V]
        lo, hi = self.val_range
        if self.num_bins == 1:
            return torch.full((1, self.val_dims), (lo + hi) / 2)  # [1, V]
        if self.val_dims == 1:
            width = (hi - lo) / self.num_bins
            return (lo + width * (torch.arange(self.num_bins) + 0.5)).unsqueeze(-1)  # [NB, 1]
        per_axis = round(self.num_bins ** (1.0 / self.val_dims))
        if per_axis**self.val_dims != self.num_bins:
            raise ValueError(
                f"SignalSpec: a uniform grid of {self.val_dims}-d centres needs num_bins = n^{self.val_dims}, "
                f"got {self.num_bins}; pass explicit centres (e.g. k-means) instead"
            )
        width = (hi - lo) / per_axis
        axis = lo + width * (torch.arange(per_axis) + 0.5)  # [n]
        mesh = torch.meshgrid(*([axis] * self.val_dims), indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=-1)  # [NB, V]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grid_shape"] = list(self.grid_shape)
        d["val_range"] = list(self.val_range)
        d["centres"] = None if self.centres is None else [list(r) for r in self.centres]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | "SignalSpec") -> "SignalSpec":
        if isinstance(d, SignalSpec):
            return d
        d = dict(d)
        if d.get("centres") is not None:
            d["centres"] = tuple(tuple(r) for r in d["centres"])
        d["grid_shape"] = tuple(d["grid_shape"])
        d["val_range"] = tuple(d["val_range"])
        return cls(**d)

    def with_centres(self, centres: torch.Tensor | Sequence[Sequence[float]]) -> "SignalSpec":
        rows = centres.tolist() if isinstance(centres, torch.Tensor) else centres
        d = self.to_dict()
        d["centres"] = rows
        d["num_bins"] = len(rows)
        return SignalSpec.from_dict(d)


def _span(values: torch.Tensor) -> tuple[float, float]:
    """(min, max) of values, in one pass (one device sync)."""
    low, high = torch.aminmax(values)
    return float(low), float(high)
