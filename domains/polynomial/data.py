"""1D functions: random polynomials (paper section 6.1), Gaussian-process draws, the GP regression benchmark of the
neural-process literature at continuous positions, and a user's own curves read from a file (``dataset: file``,
curves.py). The generated ones work offline with unlimited training data.

A polynomial or GP draw is stored densely on a grid of `resolution` points spanning the whole domain; the model
reads it at grid points (exact values). The benchmark (`gp_tnp_rbf`, `gp_tnp_matern`, `gp_tnp_periodic`, see
protocol.py) stores each function as a set of points at continuous positions instead, drawn by its own set sampler,
which the protocol configs name (model.sets: ProtocolSetSampler). Positions are normalised to [-1, 1]; `pos_scale`
maps them back to the function's own x range ([-1, 1] for polynomials, [-2, 2] for GP draws). A file's curves span
their own x range [x0, x1]: `pos_offset` (x0 + x1) / 2 and `pos_scale` (x1 - x0) / 2 map positions back to it, and
their value range (which sets the value normalisation) is taken from the training split unless given, so that a
checkpoint reads and writes values and positions in the data's own units.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pixeltransformer.datamodule import SignalDataModule
from pixeltransformer.encoding import MAX_ABS_VALUE
from pixeltransformer.errors import as_written, counted, range_as_written, whole_number
from pixeltransformer.launch import is_ddp_child
from pixeltransformer.memory import (copies_to_start, falls_as_allocated, in_bytes, local_ranks, point_count,
                                     shortfall, start_method)
from pixeltransformer.signal import SignalSpec
from pixeltransformer.splits import (SPLIT_LAYOUT, SPLITS, pool_split_index, same_split_index, splits_hint,
                                     splits_with_train_of)

from .curves import EVEN_TOLERANCE, Curves, curve_sources, read_curves, same_grid, source_names
from .kernels import GP_NUGGET, PERIODIC_KERNELS, kernel_matrix
from .learned_gp import MAX_CURVES, learn_rbf_prior
from .protocol import PERIOD_RANGE, GPProtocolDataset, protocol_extra, signal_channels

DATASETS = ("polynomial", "gp_rbf", "gp_matern", "gp_periodic", "gp_tnp_rbf", "gp_tnp_matern", "gp_tnp_periodic",
            "file")
DEFAULT_ROOTS = {"file": "curves"}  # below data_dir(): a curve file's default place, when a config names no root
NORMAL_BLOCK = 16  # the normals torch transforms together on the CPU: a polynomial split draws whole blocks
GENERATED_VAL_RANGE = (-5.0, 5.0)  # the generated functions' nominal value range, unless given
VALUE_QUANTILES = (0.005, 0.995)  # a file's value range: these quantiles of its training values ...
VALUE_MARGIN = 0.1  # ... widened by this fraction of their span on each side
RESOLUTION = "--data.init_args.resolution"  # the option that sizes a dense grid, as its memory refusals name it
CHECKPOINT_GRID = None  # in place of that option: a checkpoint's grid, which no option of the command changes


def check_memory(start: str, count: int, need: Callable[[int], int], option: str | None = RESOLUTION, least: int = 2,
                 ranks: int = 1, held: int = 0, where: str = "", own_space: bool = True) -> None:
    """Refuse, in one line, data whose lower bound ``need(count)`` (bytes, growing with ``count``: a grid's points,
    or the functions drawn at once) cannot be held in the memory at hand (:func:`memory.shortfall`), which ``ranks``
    processes of this machine that each make it share: ``start`` (what is made), the need and the memory (``where``:
    for whom, after the need), and the most ``option`` that fits, at least ``least`` (CHECKPOINT_GRID: none, the
    grid is a checkpoint's). ``held``: the bytes of ``need(count)`` this process holds already, which the memory
    available now is out of where it falls as allocated (:func:`memory.falls_as_allocated`), and which a smaller
    ``count`` would shrink too; ``own_space`` False: the memory is for processes still to start."""
    now = held if falls_as_allocated() else 0
    if (short := shortfall(need(count) - now, ranks=ranks, own_space=own_space)) is None:
        return
    if option is CHECKPOINT_GRID:
        remedy = "no option changes the checkpoint's grid: run it where more memory is free"
    else:
        most = replace(short, memory=short.memory + now).most(count, need, low=least - 1)
        remedy = f"at most {option} {most}" if most >= least else f"no {option} fits"
    raise ValueError(f"{start}, need at least {replace(short, where=where).words}; {remedy}")


def sized_by(option: str | None) -> str:
    """What sets a grid's points, as a memory refusal names it: the option, or the checkpoint's grid."""
    return "the checkpoint's grid" if option is CHECKPOINT_GRID else option


def polynomial_bytes(resolution: int, degree: int, functions: int) -> int:
    """What polynomials on a grid of ``resolution`` points hold at least, float64 [R] each: the grid, its degree + 1
    powers (PolynomialDataset) and ``functions`` drawn on it at once."""
    return 8 * resolution * (1 + degree + 1 + functions)


def check_polynomial_memory(resolution: int, degree: int, functions: int, ranks: int = 1,
                            option: str | None = RESOLUTION, functions_option: str | None = None) -> None:
    """Refuse polynomials whose grid, powers and ``functions`` drawn at once (:func:`polynomial_bytes`) could not be
    held, in one line naming the most points that fit (:func:`check_memory`): torch's "can't allocate memory" for the
    powers (56 GB at 10^9 points) came in a traceback, after the grid was made. ``functions_option``: the option
    that sets ``functions``, whose most that fit the line names instead (the grid is then a checkpoint's)."""
    given = f" ({functions_option})" if functions_option else ""
    words = (f"polynomial: the grid of {point_count(resolution)} points ({sized_by(option)}), its {degree + 1} powers "
             f"and {counted(functions, 'function')} drawn on it at once{given}, float64 [R] each")
    if functions_option is None:
        check_memory(words, resolution, lambda r: polynomial_bytes(r, degree, functions), option, ranks=ranks)
    else:
        check_memory(words, functions, lambda n: polynomial_bytes(resolution, degree, n), functions_option, least=1,
                     ranks=ranks)


class PolynomialDataset(Dataset):
    """f(x) = sum_i a_i x^i with a_i ~ N(0, coef_std^2), evaluated on the grid; item i is fixed by (seed, i)."""

    def __init__(self, size: int, degree: int, coef_std: float, resolution: int, seed: int, drawn: int = 1,
                 ranks: int = 1, option: str | None = RESOLUTION, functions_option: str | None = None):
        # the memory of the grid, its powers and the functions its user draws at once (``drawn``; an item is one), in
        # each of the ``ranks`` processes of this machine that make it: ``option`` sizes the grid, or
        # ``functions_option`` the functions drawn (check_polynomial_memory)
        check_polynomial_memory(resolution, degree, drawn, ranks, option, functions_option)
        # torch's CPU normal draw transforms its uniforms NORMAL_BLOCK at a time and draws a partial last block (or a
        # draw of fewer) anew: a draw of whole blocks keeps function i the same whatever the split's size
        count = size * (degree + 1)
        drawn = torch.randn(max(-(-count // NORMAL_BLOCK), 1) * NORMAL_BLOCK,
                            generator=torch.Generator().manual_seed(seed))  # [whole blocks >= N * (deg+1)]
        self.coefs = drawn[:count].view(size, degree + 1) * coef_std  # [N, deg+1]
        x = torch.linspace(-1, 1, resolution, dtype=torch.float64)  # [R]
        self.powers = x.unsqueeze(0) ** torch.arange(degree + 1, dtype=torch.float64).unsqueeze(1)  # [deg+1, R]
        # beyond MAX_ABS_VALUE a set's value frame overflows float32, and the first training loss was NaN
        if size and (reach := self.reach()) > MAX_ABS_VALUE:
            raise ValueError(f"--data.init_args.coef_std={coef_std:g} draws polynomials that reach {reach:.3g} on "
                             f"[-1, 1]: the model's float32 arithmetic needs values within "
                             f"+-{as_written(MAX_ABS_VALUE)}; lower coef_std")

    def reach(self, chunk: int = 4096) -> float:
        """The largest |f(x)| on the grid over the items whose bound sum |a_i| passes MAX_ABS_VALUE (0 if none):
        the bound alone refused sets whose values stay within it."""
        coefs = self.coefs.double()  # [N, deg+1]
        wide = coefs[coefs.abs().sum(1) > MAX_ABS_VALUE]  # [W, deg+1]
        return max((float((part @ self.powers).abs().max()) for part in wide.split(chunk) if len(part)), default=0.0)

    def __len__(self) -> int:
        return self.coefs.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        y = self.coefs[i].double() @ self.powers  # [R]
        return {"signal": y.float().unsqueeze(0), "coefs": self.coefs[i]}  # signal [1, R]


COVARIANCE_BLOCK = 1 << 22  # the covariance's entries a block of rows holds as gp_factor makes it (32 MiB a copy)


def covariance_words(kernel: str, resolution: int, option: str | None = RESOLUTION) -> str:
    """The start of the lines that refuse a dense GP's grid: what it makes and what sizes it (``option``)."""
    return (f"gp_{kernel}: the covariance of {point_count(resolution)} points ({sized_by(option)}) and its Cholesky "
            "factor, float64 [R, R] each")


def covariance_bytes(resolution: int) -> int:
    """What gp_factor holds at its peak: the covariance and its factor, float64 [R, R] each, and the kernel's working
    copies (up to 6, Matern-5/2's) of a block of rows."""
    return 2 * 8 * resolution**2 + 6 * 8 * min(resolution**2, max(resolution, COVARIANCE_BLOCK))


def check_covariance_memory(kernel: str, resolution: int, ranks: int = 1, option: str | None = RESOLUTION) -> None:
    """Refuse dense GP draws whose covariance could not be made in the memory at hand (covariance_bytes), which the
    ``ranks`` processes of this machine that each make one share, in one line naming the largest resolution that
    fits (check_memory): torch's "can't allocate memory" (800 TB at 10^7 points) came in a traceback."""
    check_memory(covariance_words(kernel, resolution, option), resolution, covariance_bytes, option, ranks=ranks)


FACTORS: dict[tuple, torch.Tensor] = {}  # the grid's factor made last: the splits of one data module share it


def gp_factor(kernel: str, lengthscale: float, variance: float, resolution: int, x_max: float,
              period: float | None, ranks: int = 1, option: str | None = RESOLUTION) -> torch.Tensor:
    """The Cholesky factor [R, R] float64 of a GP's covariance on ``resolution`` points of [-x_max, x_max], its
    nugget GP_NUGGET added; refused in one line where it cannot be held (by each of ``ranks`` processes of this
    machine, which each make their own; ``option`` sizes the grid) or is not positive definite. The last one made is
    kept (FACTORS) until another grid's is asked for: that one is let go first, so the memory check does not count
    it."""
    key = (kernel, lengthscale, variance, resolution, x_max, period)
    if key in FACTORS:
        return FACTORS[key]
    FACTORS.clear()
    check_covariance_memory(kernel, resolution, ranks, option)
    x = torch.linspace(-x_max, x_max, resolution, dtype=torch.float64)  # [R]
    try:
        cov = torch.empty(resolution, resolution, dtype=torch.float64)  # [R, R]
        rows = max(1, COVARIANCE_BLOCK // resolution)  # the kernel's working copies: a block of rows at a time
        for start in range(0, resolution, rows):
            cov[start : start + rows] = kernel_matrix(kernel, x[start : start + rows], x, lengthscale, variance,
                                                      period)  # [rows, R]
        cov.diagonal().add_(GP_NUGGET)  # in place: no other [R, R] matrix
        chol, info = torch.linalg.cholesky_ex(cov)  # [R, R]
    except RuntimeError as err:  # memory taken by others since check_covariance_memory
        if "can't allocate memory" not in str(err):
            raise
        remedy = "run it where more memory is free" if option is CHECKPOINT_GRID else f"give a smaller {option}"
        raise ValueError(f"{covariance_words(kernel, resolution, option)} ({in_bytes(8 * resolution**2)}), could "
                         f"not be allocated; {remedy}") from None
    if info != 0:  # the nugget is absolute: a large variance over many close points leaves it below rounding
        raise ValueError(f"gp_{kernel}: the covariance of {point_count(resolution)} points on [-{x_max:g}, "
                         f"{x_max:g}] with lengthscale {lengthscale:g} and variance {variance:g} is not positive "
                         f"definite in float64 (its nugget, {GP_NUGGET:g}, is lost to rounding): lower "
                         f"--data.init_args.variance, lengthscale or resolution")
    FACTORS[key] = chol
    return chol


class GPDataset(Dataset):
    """Draws from a zero-mean GP on x in [-x_max, x_max] (RBF, Matern-5/2 or periodic), exact on the grid. Every value
    carries an independent N(0, GP_NUGGET) term (the Cholesky factor's jitter); the oracle predicts it too.

    Item i is fixed by (seed, i) and drawn when read, as the benchmark's (protocol.py): drawing the 200 000 default
    training functions up front took 20 s and 2.4 GB before the first step. A DataLoader reads a batch's items in one
    call (``__getitems__``), so one product with the Cholesky factor draws the whole batch."""

    def __init__(self, size: int, kernel: str, lengthscale: float, variance: float, resolution: int,
                 x_max: float, seed: int, period: float | None = None, ranks: int = 1,
                 option: str | None = RESOLUTION):
        if seed < 0 or size < 0:
            raise ValueError(f"need seed >= 0 and size >= 0, got {seed}, {size}")
        # made by each of the ``ranks`` processes of this machine; ``option`` sizes the grid (gp_factor)
        self.chol = gp_factor(kernel, lengthscale, variance, resolution, x_max, period, ranks, option)  # [R, R]
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


class CurveDataset(Dataset):
    """A split of a pool of curves [N, L] float32: the pool's rows ``index`` (a view of the pool, no copy). An item
    is {"signal": [1, L]}; a DataLoader's batch is read in one gather."""

    def __init__(self, pool: torch.Tensor, index: torch.Tensor):
        self.pool, self.index = pool, index  # [N, L], [n]

    def __len__(self) -> int:
        return self.index.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"signal": self.pool[self.index[i]].unsqueeze(0)}  # [1, L]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = self.index[torch.as_tensor(indices, dtype=torch.long)]  # [B]
        return {"signal": self.pool[rows].unsqueeze(1)}  # [B, 1, L]


def value_range(values: torch.Tensor, where: str) -> tuple[float, float]:
    """A nominal value range from training values [...]: their 0.5 % and 99.5 % quantiles widened by 10 % of that span
    on each side (a few outliers do not stretch it). Constant values are refused: there is nothing to learn."""
    flat = values.reshape(-1).double()
    if flat.numel() > 10_000_000:  # quantile's limit; a seeded draw of the values is as good
        flat = flat[torch.randint(flat.numel(), (10_000_000,), generator=torch.Generator().manual_seed(0))]
    lo, hi = torch.quantile(flat, torch.tensor(VALUE_QUANTILES, dtype=torch.float64)).tolist()
    if not hi > lo:
        lo, hi = float(flat.min()), float(flat.max())
        if not hi > lo:
            raise ValueError(f"{where}: every training value is {lo:g}; constant curves leave nothing to learn")
    margin = VALUE_MARGIN * (hi - lo)
    return lo - margin, hi + margin


def split_seed(data_seed: int, split: str) -> int:
    """The dataset seed of a split: disjoint per split, so the test functions are never trained on."""
    return data_seed * 1000 + {"train": 1, "val": 2, "test": 3}[split]


class PolynomialDataModule(SignalDataModule):
    """Random polynomials, GP draws, the GP benchmark's point sets, or a user's curves as 1D signals.

    Args:
        dataset: "polynomial", "gp_rbf", "gp_matern", "gp_periodic" (dense grids), "gp_tnp_rbf", "gp_tnp_matern",
            "gp_tnp_periodic" (the benchmark of protocol.py: point sets at continuous positions, per-function
            hyperparameters, noise), or "file" (a user's curves, read from ``root``: see curves.py for the formats).
        root: the curve file (.npy, .npz, .csv), or a folder holding one, or a folder with train, (val,) and test
            files that keep that split (dataset "file" only; default ``<data>/curves``, where <data> is
            $PIXELTRANSFORMER_DATA or data/ in the repository).
        splits: (train, val, test) curve counts of a file, -1 = the rest; default (-1, n, n) with n = min(500, N // 10)
            (at least 1). With train and test files: each whole (-1), or a seeded subset of its file; without a val
            file, validation takes a seeded tenth of the train file (at most 1000).
        degree: the polynomials' degree (6 in the paper).
        coef_std: standard deviation of their N(0, coef_std^2) coefficients (1 in the paper).
        lengthscale: the GP prior's lengthscale for gp_rbf / gp_matern / gp_periodic (x in [-2, 2]).
        variance: the GP prior's output variance for gp_rbf / gp_matern / gp_periodic.
        period: the periodic kernel's period for gp_periodic (x units).
        max_points: the benchmark's points per function, context and targets together (protocol.py; 50).
        lengthscale_range: (low, high) of the benchmark's per-function lengthscale, drawn uniformly.
        scale_range: (low, high) of the benchmark's per-function output standard deviation, drawn uniformly.
        period_range: (low, high) of gp_tnp_periodic's per-function period, drawn uniformly.
        noise_std: standard deviation of the Gaussian noise on every value of the benchmark (context and targets).
        resolution: grid points per function (dense datasets only).
        train_size: training functions (train items are regenerated per index, so a large train_size costs only
            memory for the coefficients).
        val_size: validation functions.
        test_size: test functions.
        val_range: nominal value range, used to normalise values (not a hard bound); default (-5, 5) for the
            generated functions, and for a file the training values' 0.5 % and 99.5 % quantiles widened by 10 % of
            their span on each side. A checkpoint keeps it.
        batch_size, num_workers, seed, val_items, split_layout: see :class:`SignalDataModule`.
    """

    @property
    def item_noun(self) -> str:
        """What the [data] line counts: a file's curves, or the functions generated."""
        return "curve" if self.dataset_name == "file" else "function"

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
        val_range: tuple[float, float] | None = None,
        max_points: int = 50,
        lengthscale_range: tuple[float, float] = (0.1, 0.6),
        scale_range: tuple[float, float] = (0.1, 1.0),
        noise_std: float = 0.02,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_items: int | None = None,
        split_layout: int = SPLIT_LAYOUT,
        root: str | None = None,  # after the generated data's options, which kept their places
        splits: tuple[int, int, int] | None = None,
        period: float = 1.0,  # the periodic kernel's, after the options that kept their places
        period_range: tuple[float, float] = PERIOD_RANGE,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, root=root, val_items=val_items,
                         split_layout=split_layout)
        if dataset not in DATASETS:
            raise ValueError(f"unknown 1D dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        if degree < 0 or resolution < 2:
            raise ValueError(f"need degree >= 0 and resolution >= 2, got {degree}, {resolution}")
        # 0 draws constant functions, which neither the oracle (its prior's variance, NaN) nor a GP (a covariance
        # that is not positive definite) can score; negative values and NaN are no prior at all
        for name, value in (("coef_std", coef_std), ("lengthscale", lengthscale), ("variance", variance),
                            ("period", period)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"--data.init_args.{name} must be a finite number > 0, got {value}")
        if seed < 0 and dataset != "polynomial":  # numpy's SeedSequence, which fixes each GP draw, takes no negatives
            raise ValueError(f"--data.init_args.seed must be >= 0 for {dataset}, got {seed}")
        self.dataset_name = dataset
        self.degree, self.coef_std = degree, coef_std
        self.lengthscale, self.variance, self.period = lengthscale, variance, period
        self.resolution = resolution
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        for split, size in self.sizes.items():  # torch's "negative dimension" traceback, or a test that fails later
            if size < 0 and dataset != "file":  # a file's curves are split by ``splits``, which take -1
                raise ValueError(f"--data.init_args.{split}_size must be >= 0 (the number of functions generated; "
                                 f"-1, the rest, is for the splits of a file's curves), got {size}")
        # beyond MAX_ABS_VALUE a set's value frame overflows float32, and the first training loss was NaN
        if val_range is not None and not (len(val_range) == 2 and -MAX_ABS_VALUE <= val_range[0] < val_range[1]
                                          <= MAX_ABS_VALUE):
            raise ValueError(f"--data.init_args.val_range must be [low, high], finite numbers within "
                             f"+-{as_written(MAX_ABS_VALUE)} (the model's float32 arithmetic) with low < high, got "
                             f"[{', '.join(str(v) for v in val_range)}]")
        self.given_val_range = None if val_range is None else (float(val_range[0]), float(val_range[1]))
        if dataset != "file" and (root is not None or splits is not None):
            given = "root" if root is not None else "splits"
            raise ValueError(f"--data.init_args.{given} is for dataset 'file' (a user's curves); {dataset} functions "
                             "are generated, their sizes set by train_size, val_size and test_size")
        if dataset == "file" and self.root is None:
            self.root = self.default_data_root(DEFAULT_ROOTS["file"])
        if splits is not None and len(splits) != 3:
            raise ValueError(f"--data.init_args.splits must be (train, val, test), got {splits}")
        self.splits = None if splits is None else tuple(int(v) for v in splits)
        self._curves: dict[str, Curves] | None = None  # a file's curves by pool ("all", or "train", "val", "test")
        self._names: list[str] | None = None  # each pool's file as "pool/name#digest", when the curves were read
        self._pools: dict[str, torch.Tensor] | None = None  # the same as float32 [N, L]
        self._index: dict[str, tuple[str, torch.Tensor]] | None = None  # split -> (pool, sorted rows)
        self._file_spec: SignalSpec | None = None
        self._gp_train: dict | None = None  # the RBF GP learned from the training functions (learned_gp.py)
        for name, (low, high) in (("lengthscale_range", lengthscale_range), ("scale_range", scale_range),
                                  ("period_range", period_range)):
            if not (0 < low <= high and math.isfinite(high)):
                raise ValueError(f"--data.init_args.{name} must be [low, high], finite numbers with 0 < low <= high, "
                                 f"got [{low}, {high}]")
        # the benchmark's draws of 49 close points, its oracle and its Bayes predictor need observation noise
        if self.is_protocol and not 0 < noise_std < math.inf:  # nan too
            why = ": without observation noise the benchmark's covariance of a function's points is singular"
            raise ValueError(f"--data.init_args.noise_std must be a finite number > 0 (the benchmark's observation "
                             f"noise; the protocol's 0.02), got {noise_std}{why if noise_std == 0 else ''}")
        self.protocol = dict(max_points=max_points, lengthscale_range=tuple(lengthscale_range),
                             scale_range=tuple(scale_range), noise_std=noise_std, period_range=tuple(period_range))
        if self.is_protocol and not whole_number(max_points, 10):
            raise ValueError(f"--data.init_args.max_points must be a whole number >= 10 (a benchmark function's "
                             f"context and target points; the protocol's 50), got {max_points}")

    def ranks(self) -> int:
        """The processes of this machine that each make this data (:func:`memory.local_ranks`): the trainer's, or
        before it those a launcher started here."""
        return local_ranks(getattr(self, "trainer", None))

    def check_processes(self, trainer: Any) -> None:
        """Dense GP draws: each process makes its own Cholesky factor of the grid (gp_factor), checked as the model's
        spec made it for the processes a launcher had started on this machine. Lightning's own DDP starts the
        trainer's processes once it runs, each then making one: checked here, before a run folder is made, in the
        process that starts them, for those that make one: ddp's scripts started again (every rank but this one,
        whose factor is kept, or made at setup where none is held), every ddp_spawn (or forkserver) interpreter (a
        module's FACTORS is not sent to them), none of ddp_fork's (they share this process's, or all make one where
        it made none)."""
        super().check_processes(trainer)
        if self.is_file or self.is_protocol or self.dataset_name == "polynomial":
            return
        held = int((self.kernel, self.lengthscale, self.variance, self.resolution, self.x_max,
                    self.gp_period) in FACTORS)
        start = start_method(trainer)
        if start == "fork":
            makers = 0 if held else local_ranks(trainer)
        elif start is not None:  # spawn's new interpreters
            makers = local_ranks(trainer)
        else:  # ddp's scripts started again (copies_to_start), and this process where it holds none (yet)
            makers = copies_to_start(trainer) + (0 if held or is_ddp_child() else 1)
        if makers == 0:
            return

        def need(r: int) -> int:  # the factor held here, and one made in each process
            return held * 8 * r**2 + makers * covariance_bytes(r)

        also = "this process's factor and " if held and not falls_as_allocated() else ""
        each = "which makes its own" if makers == 1 else "each making its own"
        check_memory(covariance_words(self.kernel, self.resolution), self.resolution, need,
                     held=held * 8 * self.resolution**2, own_space=False,
                     where=f" for {also}{counted(makers, 'process')} that Lightning's DDP starts on this machine, "
                           f"{each}")

    @property
    def is_protocol(self) -> bool:
        return self.dataset_name.startswith("gp_tnp_")

    @property
    def kernel(self) -> str:
        """The GP kernel of gp_<kernel> and gp_tnp_<kernel> data."""
        return self.dataset_name.removeprefix("gp_tnp_" if self.is_protocol else "gp_")

    @property
    def gp_period(self) -> float | None:
        """The dense GP draws' period: gp_periodic's, None for a kernel without one."""
        return self.period if self.kernel in PERIODIC_KERNELS and not self.is_protocol else None

    @property
    def is_file(self) -> bool:
        return self.dataset_name == "file"

    @property
    def val_range(self) -> tuple[float, float]:
        """The values' nominal range: as given; else for a file, from its training split (value_range)."""
        if self.given_val_range is not None:
            return self.given_val_range
        if not self.is_file:
            return GENERATED_VAL_RANGE
        pool, rows = self._split_index()["train"]
        return value_range(self._load()[pool][rows], f"{self.root} (train split)")

    @property
    def x_max(self) -> float:
        return 1.0 if self.dataset_name == "polynomial" else 2.0

    @property
    def spec(self) -> SignalSpec:
        if self.is_file:
            if self._file_spec is None:
                curves = next(iter(self._read().values()))
                x0, x1 = curves.x_range()
                self._file_spec = SignalSpec(domain="polynomial", dataset="file", grid_shape=(curves.y.shape[1],),
                                             val_dims=1, val_range=self.val_range, num_bins=1,
                                             pos_scale=(x1 - x0) / 2, pos_offset=(x0 + x1) / 2, frame_unit=1.0,
                                             extra={"source": self.root.name, "gp_train": self.gp_train()})
            return self._file_spec
        if self.is_protocol:
            p = self.protocol
            extra = protocol_extra(self.kernel, p["max_points"], p["noise_std"], p["lengthscale_range"],
                                   p["scale_range"], p["period_range"])
            return SignalSpec(domain="polynomial", dataset=self.dataset_name, grid_shape=(p["max_points"] - 1,),
                              val_dims=1, val_range=self.val_range, num_bins=1, pos_scale=self.x_max, extra=extra)
        extra = {"degree": self.degree, "coef_std": self.coef_std} if self.dataset_name == "polynomial" else {
            "kernel": self.kernel, "lengthscale": self.lengthscale, "variance": self.variance}
        if self.gp_period is not None:
            extra["period"] = self.gp_period
        extra["gp_train"] = self.gp_train()
        return SignalSpec(domain="polynomial", dataset=self.dataset_name, grid_shape=(self.resolution,), val_dims=1,
                          val_range=self.val_range, num_bins=1, pos_scale=self.x_max, extra=extra)

    def gp_train(self) -> dict:
        """The hyperparameters of an RBF GP learned once from the training functions (learned_gp.learn_rbf_prior): a
        seeded subset of a file's train split, or the first functions of a generated training stream. The evaluation's
        `gp_train` baseline predicts with them; the spec (and so the checkpoint) keeps them."""
        if self._gp_train is None:
            rows = None
            if self.is_file:
                pool, rows = self._split_index()["train"]
                curves = self._load()[pool]  # [N, L], the float32 values the model reads; its train split: rows
            elif self.dataset_name == "polynomial":  # its functions drawn at once
                drawn = PolynomialDataset(MAX_CURVES, self.degree, self.coef_std, self.resolution,
                                          split_seed(self.seed, "train"), drawn=MAX_CURVES, ranks=self.ranks())
                curves = drawn.coefs.double() @ drawn.powers  # [N, R]
            else:
                curves = GPDataset(MAX_CURVES, self.kernel, self.lengthscale, self.variance, self.resolution,
                                   self.x_max, split_seed(self.seed, "train"), self.gp_period,
                                   ranks=self.ranks()).draw(list(range(MAX_CURVES)))  # [N, R]
            positions = torch.linspace(-1, 1, curves.shape[1], dtype=torch.float64)  # [L], as the model sees them
            self._gp_train = learn_rbf_prior(curves, positions, rows=rows)
        return self._gp_train

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """Generated functions: no split, each is its own seeded stream (split_seed), and another data seed gives other
        functions, never another split's. A file: its curves are one pool (both), or train and test files (val, drawn
        from train, unless a val file)."""
        return splits_with_train_of(list(self._read())) if self.is_file else ()

    # ---- a user's curves ------------------------------------------------------------------------------
    def check_data_roots(self, stage: str | None = None) -> None:
        """The default place holds something (SignalDataModule), and a root given exists: refused in one line before
        a run starts."""
        super().check_data_roots(stage)
        if self.is_file:
            curve_sources(self.root)

    def _read(self) -> dict[str, Curves]:
        """A file's curves by pool, read once; the pools of a split folder share the number of points and the x."""
        if self._curves is None:
            self.check_data_roots()
            sources = curve_sources(self.root)
            curves = {pool: read_curves(path) for pool, path in sources.items()}
            self._names = source_names(sources, self.root)  # the bytes read, digested once (not at each checkpoint)
            first_pool, first = next(iter(curves.items()))
            for pool, c in curves.items():
                if c.y.shape[1] != first.y.shape[1]:
                    raise ValueError(f"{sources[pool]}: curves of {c.y.shape[1]} points, but {sources[first_pool].name} "
                                     f"has {first.y.shape[1]}; the split files need the same grid")
                same_x = (c.x is None) == (first.x is None) and (c.x is None or same_grid(c.x, first.x))
                if not same_x:
                    raise ValueError(f"{sources[pool]}: its x differs from that of {sources[first_pool].name}; the "
                                     "split files need the same grid")
            if "all" in curves and (n := curves["all"].y.shape[0]) < 3:
                raise ValueError(f"{sources['all']}: {counted(n, 'curve')}; a file is split into train, val and "
                                 "test curves, so it needs at least 3")
            self._curves = curves
        return self._curves

    def _load(self) -> dict[str, torch.Tensor]:
        """A file's curves by pool as float32 [N, L], what the splits index."""
        if self._pools is None:
            self._pools = {pool: torch.from_numpy(c.y).float() for pool, c in self._read().items()}  # [N, L]
        return self._pools

    def _split_index(self) -> dict[str, tuple[str, torch.Tensor]]:
        if self._index is None:
            self._index = self._split_index_of(self.split_options())
        return self._index

    def _split_index_of(self, options: dict) -> dict[str, tuple[str, torch.Tensor]]:
        """split -> (pool, sorted rows of it) under the split options ``options`` (sizes, seed, layout)."""
        counts = {pool: c.y.shape[0] for pool, c in self._read().items()}
        splits = None if options.get("splits") is None else tuple(int(v) for v in options["splits"])
        try:
            return pool_split_index(counts, splits, int(options["seed"]), int(options["split_layout"]), str(self.root))
        except ValueError as err:
            if "all" not in counts:
                raise
            raise ValueError(f"{self.root}: {err}; {splits_hint('curves')}") from None

    def empty_split_cause(self, split: str) -> str:
        """A generated split of size 0: the option that says so and what to give (a file's curves: ""); a test split
        that an evaluation of the trainer reads in whole batches (its ``test_items_multiple``: the GP protocol
        evaluation's functions a batch), a multiple of them too (said at once, not once 1 was given and refused in
        turn). Read off the callbacks by that name, as the core reads their ``test_items_cap``: the data does not
        depend on the evaluation."""
        if self.is_file or self.sizes[split] != 0:
            return ""
        cause = f": --data.init_args.{split}_size=0 generates no function; give"
        callbacks = getattr(getattr(self, "trainer", None), "callbacks", None) or ()
        batches = [b for c in callbacks if (b := getattr(c, "test_items_multiple", None))] if split == "test" else []
        if not batches:
            return f"{cause} 1 or more"
        b = math.lcm(*batches)  # whole batches of every such evaluation
        return (f"{cause} {b} or more, a multiple of {b}: the GP protocol evaluation scores whole batches of {b} "
                "functions")

    def split_options(self) -> dict:
        options = super().split_options()
        return {**options, "splits": self.splits} if self.is_file else options

    def conversion_options(self, trained: dict[str, Any], resume: bool = False) -> dict[str, Any]:
        """The options the generated functions are drawn with (a file's curves: none)."""
        if self.is_file:
            return {}
        periodic = self.kernel in PERIODIC_KERNELS  # only a periodic kernel's spec records its period
        if self.is_protocol:
            return dict.fromkeys(("noise_std", "lengthscale_range", "scale_range")
                                 + (("period_range",) if periodic else ()))
        if self.dataset_name == "polynomial":
            return dict.fromkeys(("degree", "coef_std"))
        return dict.fromkeys(("lengthscale", "variance") + (("period",) if periodic else ()))

    def spec_mismatch(self, trained: dict[str, Any], resume: bool = False) -> str | None:
        """A file's curves on another x step than the checkpoint's (a file of x 0..20 where it learned 0..10, with as
        many points): the model reads point i of a curve as point i of its own, whatever its x, so they are read
        squeezed or stretched along x onto its grid. Named with both x ranges; another offset alone (years 2000..2010
        where it learned 1990..2000) is read as the same step, and a step within rounding (EVEN_TOLERANCE) too."""
        if not self.is_file or trained.get("dataset") != "file" or "pos_scale" not in trained:
            return None
        mine = self.spec
        was_scale, was_offset = float(trained["pos_scale"]), float(trained.get("pos_offset", 0.0))
        if abs(mine.pos_scale - was_scale) <= EVEN_TOLERANCE * was_scale:
            return None
        points = int((trained.get("grid_shape") or mine.grid_shape)[0])
        was_step, step = 2 * was_scale / (points - 1), 2 * mine.pos_scale / (points - 1)
        ratio = step / was_step
        how = f"squeezed {ratio:.3g}x" if ratio > 1 else f"stretched {1 / ratio:.3g}x"
        scored = "it now trains on them" if resume else "it is scored on them"
        was = " to ".join(range_as_written(was_offset - was_scale, was_offset + was_scale))
        now = " to ".join(range_as_written(mine.pos_offset - mine.pos_scale, mine.pos_offset + mine.pos_scale))
        return (f"the checkpoint was trained on curves with x from {was} (a step of {was_step:.4g}), these have x "
                f"from {now} (a step of {step:.4g}): the model reads point i of a curve as point i of its own, "
                f"whatever its x, so {scored} {how} along x, as if their x ran from {was} (right where only x's "
                "units differ)")

    def pool_sizes(self) -> dict[str, int] | None:
        """A file's curves per pool (which a changed file changes); generated functions: None."""
        return {pool: c.y.shape[0] for pool, c in self._read().items()} if self.is_file else None

    def pool_files(self) -> list[str] | None:
        """A file's name and a digest of its bytes (each split file's, under its pool): a file rewritten since a
        checkpoint was trained, with as many curves, is told from its own."""
        if not self.is_file:
            return None
        self._read()
        return self._names

    def same_splits(self, options: dict, splits: Sequence[str] = SPLITS) -> bool:
        """Whether a checkpoint's split options hold the curves this module's own do (None and the defaults it stands
        for, -1 and the rest; two seeds where each split is a whole file)."""
        if not self.is_file:
            return False
        return same_split_index(self._split_index_of({**self.split_options(), **options}), self._split_index(), splits)

    def signal_channels(self) -> int:
        return signal_channels(self.spec)

    def build_split(self, split: str) -> Dataset:
        if self.is_file:
            pool, rows = self._split_index()[split]
            return CurveDataset(self._load()[pool], rows)
        seed = split_seed(self.seed, split)
        if self.is_protocol:
            p = self.protocol
            return GPProtocolDataset(self.sizes[split], self.kernel, seed, p["max_points"], self.x_max,
                                     p["lengthscale_range"], p["scale_range"], p["noise_std"], p["period_range"])
        if self.dataset_name == "polynomial":
            return PolynomialDataset(self.sizes[split], self.degree, self.coef_std, self.resolution, seed,
                                     ranks=self.ranks())
        return GPDataset(self.sizes[split], self.kernel, self.lengthscale, self.variance, self.resolution, self.x_max,
                         seed, self.gp_period, ranks=self.ranks())

