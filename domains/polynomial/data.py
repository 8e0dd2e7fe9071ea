"""1D functions: random polynomials (paper section 6.1), Gaussian-process draws, and the GP regression benchmark
of the neural-process literature at continuous positions. All are generated, so the domain works offline with
unlimited training data.

A polynomial or GP draw is stored densely on a grid of `resolution` points spanning the whole domain; the model
reads it at grid points (exact values). The benchmark (`gp_tnp_rbf`, `gp_tnp_matern`, see protocol.py) stores each
function as a set of points at continuous positions instead, drawn by its own set sampler, which the protocol
configs name (model.sets: ProtocolSetSampler). Positions are
normalised to [-1, 1]; `pos_scale` maps them back to the function's own x range ([-1, 1] for polynomials,
[-2, 2] for GP draws).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.signal import SignalSpec

from .kernels import GP_NUGGET, kernel_matrix
from .protocol import GPProtocolDataset, protocol_extra

DATASETS = ("polynomial", "gp_rbf", "gp_matern", "gp_tnp_rbf", "gp_tnp_matern")


class PolynomialDataset(Dataset):
    """f(x) = sum_i a_i x^i with a_i ~ N(0, coef_std^2), evaluated on the grid; item i is fixed by (seed, i)."""

    def __init__(self, size: int, degree: int, coef_std: float, resolution: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.coefs = torch.randn(size, degree + 1, generator=gen) * coef_std  # [N, deg+1]
        x = torch.linspace(-1, 1, resolution, dtype=torch.float64)  # [R]
        self.powers = x.unsqueeze(0) ** torch.arange(degree + 1, dtype=torch.float64).unsqueeze(1)  # [deg+1, R]

    def __len__(self) -> int:
        return self.coefs.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        y = self.coefs[i].double() @ self.powers  # [R]
        return {"signal": y.float().unsqueeze(0), "coefs": self.coefs[i]}  # signal [1, R]


class GPDataset(Dataset):
    """Draws from a zero-mean GP on x in [-x_max, x_max] (RBF or Matern-5/2), exact on the grid. Every value
    carries an independent N(0, GP_NUGGET) term (the Cholesky factor's jitter); the oracle predicts it too.

    Item i is fixed by (seed, i) and drawn when read, as the benchmark's (protocol.py): drawing the 200 000 default
    training functions up front took 20 s and 2.4 GB before the first step. A DataLoader reads a batch's items in one
    call (``__getitems__``), so one product with the Cholesky factor draws the whole batch."""

    def __init__(self, size: int, kernel: str, lengthscale: float, variance: float, resolution: int,
                 x_max: float, seed: int):
        if seed < 0 or size < 0:
            raise ValueError(f"need seed >= 0 and size >= 0, got {seed}, {size}")
        x = torch.linspace(-x_max, x_max, resolution, dtype=torch.float64)  # [R]
        cov = kernel_matrix(kernel, x, x, lengthscale, variance)  # [R, R]
        self.chol = torch.linalg.cholesky(cov + GP_NUGGET * torch.eye(resolution, dtype=torch.float64))  # [R, R]
        self.size, self.seed = size, seed

    def __len__(self) -> int:
        return self.size

    def draw(self, indices: list[int]) -> torch.Tensor:
        """The functions of items ``indices``: [n, R] float32."""
        for i in indices:
            if not 0 <= i < self.size:
                raise IndexError(f"item {i} of {self.size}")
        r = self.chol.shape[0]
        # numpy's SeedSequence mixes (seed, i) into the whole state, so no two items (of any split) share a stream
        z = torch.from_numpy(np.stack([np.random.default_rng([self.seed, i]).standard_normal(r)
                                       for i in indices]))  # [n, R] float64
        return (z @ self.chol.T).float()  # [n, R]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"signal": self.draw([int(i)])[0].unsqueeze(0)}  # [1, R]

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        return [{"signal": row.unsqueeze(0)} for row in self.draw([int(i) for i in indices])]  # [1, R] each


def split_seed(data_seed: int, split: str) -> int:
    """The dataset seed of a split: disjoint per split, so the test functions are never trained on."""
    return data_seed * 1000 + {"train": 1, "val": 2, "test": 3}[split]


class PolynomialDataModule(SignalDataModule):
    """Random polynomials, GP draws, or the GP benchmark's point sets as 1D signals.

    Args:
        dataset: "polynomial", "gp_rbf", "gp_matern" (dense grids), or "gp_tnp_rbf", "gp_tnp_matern" (the
            benchmark of protocol.py: point sets at continuous positions, per-function hyperparameters, noise).
        degree: the polynomials' degree (6 in the paper).
        coef_std: standard deviation of their N(0, coef_std^2) coefficients (1 in the paper).
        lengthscale: the GP prior's lengthscale for gp_rbf / gp_matern (x in [-2, 2]).
        variance: the GP prior's output variance for gp_rbf / gp_matern.
        max_points: the benchmark's points per function, context and targets together (protocol.py; 50).
        lengthscale_range: (low, high) of the benchmark's per-function lengthscale, drawn uniformly.
        scale_range: (low, high) of the benchmark's per-function output standard deviation, drawn uniformly.
        noise_std: standard deviation of the Gaussian noise on every value of the benchmark (context and targets).
        resolution: grid points per function (dense datasets only).
        train_size: training functions (train items are regenerated per index, so a large train_size costs only
            memory for the coefficients).
        val_size: validation functions.
        test_size: test functions.
        val_range: nominal value range, used to normalise values (not a hard bound).
        batch_size, num_workers, seed, val_items: see :class:`SignalDataModule`.
    """

    def __init__(
        self,
        dataset: str = "polynomial",
        degree: int = 6,
        coef_std: float = 1.0,
        lengthscale: float = 0.4,
        variance: float = 1.0,
        resolution: int = 1024,
        train_size: int = 200_000,
        val_size: int = 256,
        test_size: int = 512,
        val_range: tuple[float, float] = (-5.0, 5.0),
        max_points: int = 50,
        lengthscale_range: tuple[float, float] = (0.1, 0.6),
        scale_range: tuple[float, float] = (0.1, 1.0),
        noise_std: float = 0.02,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_items: int | None = None,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, val_items=val_items)
        if dataset not in DATASETS:
            raise ValueError(f"unknown 1D dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        if degree < 0 or resolution < 2:
            raise ValueError(f"need degree >= 0 and resolution >= 2, got {degree}, {resolution}")
        # 0 draws constant functions, which neither the oracle (its prior's variance, NaN) nor a GP (a covariance
        # that is not positive definite) can score; negative values and NaN are no prior at all
        for name, value in (("coef_std", coef_std), ("lengthscale", lengthscale), ("variance", variance)):
            if not value > 0:
                raise ValueError(f"--data.init_args.{name} must be > 0, got {value}")
        if seed < 0 and dataset != "polynomial":  # numpy's SeedSequence, which fixes each GP draw, takes no negatives
            raise ValueError(f"--data.init_args.seed must be >= 0 for {dataset}, got {seed}")
        self.dataset_name = dataset
        self.degree, self.coef_std = degree, coef_std
        self.lengthscale, self.variance = lengthscale, variance
        self.resolution = resolution
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.val_range = val_range
        if not (0 < lengthscale_range[0] <= lengthscale_range[1] and 0 < scale_range[0] <= scale_range[1]):
            raise ValueError(f"need 0 < low <= high for lengthscale_range {lengthscale_range} and scale_range {scale_range}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.protocol = dict(max_points=max_points, lengthscale_range=tuple(lengthscale_range),
                             scale_range=tuple(scale_range), noise_std=noise_std)
        if self.is_protocol and max_points < 10:
            raise ValueError(f"max_points must be >= 10, got {max_points}")

    @property
    def is_protocol(self) -> bool:
        return self.dataset_name.startswith("gp_tnp_")

    @property
    def x_max(self) -> float:
        return 1.0 if self.dataset_name == "polynomial" else 2.0

    @property
    def spec(self) -> SignalSpec:
        if self.is_protocol:
            p = self.protocol
            extra = protocol_extra(self.dataset_name[len("gp_tnp_"):], p["max_points"], p["noise_std"],
                                   p["lengthscale_range"], p["scale_range"])
            return SignalSpec(domain="polynomial", dataset=self.dataset_name, grid_shape=(p["max_points"] - 1,),
                              val_dims=1, val_range=self.val_range, num_bins=1, pos_scale=self.x_max, extra=extra)
        extra = {"degree": self.degree, "coef_std": self.coef_std} if self.dataset_name == "polynomial" else {
            "kernel": self.dataset_name[3:], "lengthscale": self.lengthscale, "variance": self.variance}
        return SignalSpec(domain="polynomial", dataset=self.dataset_name, grid_shape=(self.resolution,), val_dims=1,
                          val_range=self.val_range, num_bins=1, pos_scale=self.x_max, extra=extra)

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """No split: each is its own seeded stream (split_seed), and another data seed gives other functions, never
        another split's."""
        return ()

    def build_split(self, split: str) -> Dataset:
        seed = split_seed(self.seed, split)
        if self.is_protocol:
            p = self.protocol
            return GPProtocolDataset(self.sizes[split], self.dataset_name[len("gp_tnp_"):], seed, p["max_points"],
                                     self.x_max, p["lengthscale_range"], p["scale_range"], p["noise_std"])
        if self.dataset_name == "polynomial":
            return PolynomialDataset(self.sizes[split], self.degree, self.coef_std, self.resolution, seed)
        kernel = self.dataset_name[3:]
        return GPDataset(self.sizes[split], kernel, self.lengthscale, self.variance, self.resolution, self.x_max, seed)

