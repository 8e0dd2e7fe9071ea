"""1D functions: random polynomials (paper section 6.1) and Gaussian-process draws (the neural-process
benchmark). Both are generated, so the domain works offline with unlimited training data.

A function is stored densely on a grid of `resolution` points spanning the whole domain; the model reads it
at grid points (exact values). Positions are normalised to [-1, 1]; `pos_scale` maps them back to the
function's own x range ([-1, 1] for polynomials, [-2, 2] for GP draws).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.signal import SignalSpec

from .kernels import kernel_matrix


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
    """Draws from a zero-mean GP on x in [-x_max, x_max] (RBF or Matern-5/2), exact on the grid."""

    def __init__(self, size: int, kernel: str, lengthscale: float, variance: float, resolution: int,
                 x_max: float, seed: int):
        x = torch.linspace(-x_max, x_max, resolution, dtype=torch.float64)  # [R]
        cov = kernel_matrix(kernel, x, x, lengthscale, variance)  # [R, R]
        chol = torch.linalg.cholesky(cov + 1e-8 * torch.eye(resolution, dtype=torch.float64))  # [R, R]
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(size, resolution, generator=gen, dtype=torch.float64)  # [N, R]
        self.values = (z @ chol.T).float()  # [N, R]

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"signal": self.values[i].unsqueeze(0)}  # [1, R]


class PolynomialDataModule(SignalDataModule):
    """Random polynomials or GP draws as 1D signals.

    Args:
        dataset: "polynomial", "gp_rbf" or "gp_matern".
        degree, coef_std: the polynomial prior (degree 6, N(0, 1) coefficients in the paper).
        lengthscale, variance: the GP prior (x in [-2, 2]).
        resolution: grid points per function.
        train_size, val_size, test_size: functions per split (train items are regenerated per index, so a
            large train_size costs only memory for the coefficients).
        val_range: nominal value range, used to normalise values (not a hard bound).
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
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if dataset not in ("polynomial", "gp_rbf", "gp_matern"):
            raise ValueError(f"unknown 1D dataset {dataset!r}; choose polynomial, gp_rbf or gp_matern")
        if degree < 0 or resolution < 2:
            raise ValueError(f"need degree >= 0 and resolution >= 2, got {degree}, {resolution}")
        self.dataset_name = dataset
        self.degree, self.coef_std = degree, coef_std
        self.lengthscale, self.variance = lengthscale, variance
        self.resolution = resolution
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.val_range = val_range

    @property
    def x_max(self) -> float:
        return 1.0 if self.dataset_name == "polynomial" else 2.0

    @property
    def spec(self) -> SignalSpec:
        extra = {"degree": self.degree, "coef_std": self.coef_std} if self.dataset_name == "polynomial" else {
            "kernel": self.dataset_name[3:], "lengthscale": self.lengthscale, "variance": self.variance}
        return SignalSpec(domain="polynomial", dataset=self.dataset_name, grid_shape=(self.resolution,), val_dims=1,
                          val_range=self.val_range, num_bins=1, pos_scale=self.x_max, extra=extra)

    def build_split(self, split: str) -> Dataset:
        # disjoint seeds per split so the test functions are never trained on
        seed = self.seed * 1000 + {"train": 1, "val": 2, "test": 3}[split]
        if self.dataset_name == "polynomial":
            return PolynomialDataset(self.sizes[split], self.degree, self.coef_std, self.resolution, seed)
        kernel = self.dataset_name[3:]
        return GPDataset(self.sizes[split], kernel, self.lengthscale, self.variance, self.resolution, self.x_max, seed)

