"""The 1D-function domain: random polynomials, GP draws, the GP benchmark's point sets and a user's own curves
(data.py, curves.py). Its pictures (paper Fig. 9: mean, +-2 sigma band and samples at each |S|), its metrics against
the exact oracle (generated functions) and a fitted RBF GP (metrics.py), and its predictions from a user's own
observations:

    pixeltransformer predict --config configs/polynomial.yaml --ckpt_path CKPT --context points.json \\
        [--num_samples 3] [--n_autoregressive null] [--resolution 256] [--seed 0] [--out DIR]

points.json holds rows [x, y] (or give them inline: --context '[[-0.5, 1.2], [0.3, -0.4]]') in the data's own units:
x in pos_offset +- pos_scale ([-1, 1] for polynomials, [-2, 2] for GP draws, a file's own x range for its curves). The
model completes the function on
64 evenly spaced points (--resolution R for R) and writes functions.png (mean, +-2 sigma band, samples, the
observed points) and prediction.csv (x, mean, std, sample_1, ...), then prediction.json. Observations come only through --context: a
function has no input file to sample from.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from pixeltransformer.domain import Domain, Files, ItemValues, first_outside, shown_title
from pixeltransformer.encoding import MAX_ABS_VALUE
from pixeltransformer.errors import as_written, class_path, range_as_written
from pixeltransformer.files import atomic_write
from pixeltransformer.inference import Completion
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.sets import SetSampler, grid_positions
from pixeltransformer.signal import SignalSpec

from .kernels import KERNELS
from .metrics import NLL_UNITS, nll_gap_to_oracle, reference_metrics
from .oracles import gp_protocol_oracle
from .protocol import ProtocolSetSampler, is_protocol, point_set_layout, signal_channels
from .visualize import figure_functions, figure_protocol


PREDICT_POINTS = 64  # default points of a prediction
CSV_ROWS = 65536  # rows of prediction.csv formatted at a time


def write_rows(path: Path, header: list[str], columns: list[np.ndarray], name: str) -> None:
    """A CSV (``name`` in progress lines) of the columns (each [G]: x to 15 digits, a timestamp's half seconds too,
    the rest to 6), CSV_ROWS rows at a time: 1e8 rows formatted at once were over 10 GB of strings, and minutes
    without a word; progress counts the blocks."""
    formats = ["%.15g"] + ["%.6g"] * (len(columns) - 1)
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for s in loop_progress(range(0, len(columns[0]), CSV_ROWS), f"writing {name}", unit="block"):
            block = np.stack([c[s : s + CSV_ROWS] for c in columns], axis=1)  # [CSV_ROWS, C]
            np.savetxt(f, block, fmt=formats, delimiter=",")


class PolynomialDomain(Domain):
    """1D functions; positions are normalised (x - pos_offset) / pos_scale, and every picture and file shows x in its
    own units."""

    name = "polynomial"
    row_names = ("x", "y")
    input_help = "observations as --context rows [x, y]"
    samplers = (ProtocolSetSampler,)  # a GP benchmark checkpoint loaded in Python draws the benchmark's sets again

    @property
    def is_protocol(self) -> bool:
        """The GP benchmark's point sets (signal [B, 2, N]: positions, values) rather than dense functions."""
        return self.spec is not None and is_protocol(self.spec)

    def signal_channels(self, spec: SignalSpec) -> int:
        return signal_channels(spec)

    def sampler_problem(self, sampler: SetSampler, spec: SignalSpec) -> str | None:
        """The benchmark's point sets [2, N] are read by its own sampler only, which reads nothing else."""
        protocol, own = is_protocol(spec), isinstance(sampler, ProtocolSetSampler)
        if protocol and not own:
            return (f"{spec.dataset} data are the GP benchmark's point sets, which only its own set sampler reads: "
                    f"give --config configs/polynomial/{spec.dataset}.yaml (make train or make eval "
                    f"DATA={spec.dataset}), whose model.sets is {class_path(ProtocolSetSampler)} "
                    f"(in Python: sets=ProtocolSetSampler())")
        if own and not protocol:
            names = ", ".join(f"gp_tnp_{kernel}" for kernel in KERNELS)
            return (f"model.sets {type(sampler).__name__} draws the GP benchmark's sets from its point sets ({names} "
                    f"data), not from {spec.dataset} data: give the data one of those datasets, or leave out the "
                    f"gp_tnp_* config (in Python: another sets=, or none)")
        return None

    @property
    def pos_scale(self) -> float:
        if self.spec is None:
            raise ValueError("the polynomial domain needs its model's SignalSpec (set by the module) for x units")
        return float(self.spec.pos_scale)

    def x_units(self, pos: torch.Tensor) -> torch.Tensor:
        """Normalised positions [...] -> x in the data's own units [...], float64 (x = 1.6e9 seconds keeps its
        digits)."""
        return pos.double() * self.pos_scale + self.spec.pos_offset

    def grid_x(self, grid_shape: tuple[int, ...]) -> torch.Tensor:
        """x in the data's own units of a grid's points [G], float64 from the positions up (float32 positions put
        the point 2 of a 20-point grid at x = 2.000000298), to 15 significant digits of its largest |x|, as
        write_rows writes x: the float64 arithmetic's last digits (x = 0.006000000000000005 on a grid of 0 .. 1) are
        not the grid's, and a 3 kHz grid at x = 1.6e9 s keeps its 1e-5 s."""
        x = self.x_units(grid_positions(grid_shape, dtype=torch.float64)[:, 0])  # [G]
        top = float(x.abs().max())
        if 0 < top < math.inf:
            x = torch.round(x, decimals=14 - math.floor(math.log10(top)))  # [G]
        return x

    @property
    def title(self) -> str:
        """A figure's title: the dataset, and for a user's curves their file."""
        source = self.spec.extra.get("source")
        return f"{self.spec.dataset}: {source}" if source else self.spec.dataset

    @property
    def has_prior(self) -> bool:
        """Generated functions, whose exact oracle is known; a user's curves have none."""
        return self.spec is None or self.spec.dataset != "file"

    # ---- pictures -------------------------------------------------------------------------------------
    def picture_contexts(self, signal: torch.Tensor, levels: tuple[int, ...],
                         generator: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Dense functions: K random grid points (the core's draw). Point sets: the first K points, as the benchmark
        takes its context (capped to leave one point out)."""
        if not self.is_protocol:
            return super().picture_contexts(signal, levels, generator)
        pos, val = point_set_layout(signal)  # [B, N, 1] each
        n = pos.shape[1]
        return {str(k): (pos[:, :k], val[:, :k]) for k in sorted({min(k, n - 1) for k in levels})}

    def pictures(self, completions: dict[str, Completion], out_dir: Path, suffix: str = "") -> Files:
        """One figure per example: a panel per |S| (Fig. 9), or the benchmark's points and band, titled with the
        example's split and index (and the step)."""
        count = next(iter(completions.values())).mean.shape[0]
        draw = self.protocol_figure if self.is_protocol else self.functions_figure
        return {"functions": [draw({k: c[i] for k, c in completions.items()},
                                   Path(out_dir) / f"functions{i}{suffix}.png", suffix=suffix) for i in range(count)]}

    def predict_grid(self, spec, resolution: int | None) -> tuple[int, ...]:
        """64 evenly spaced points unless --resolution says otherwise, as in the pictures: a sample conditions on
        every value drawn before it, and a model trained on sets of tens of points draws rough curves when that
        buffer grows to the data's 1024 grid points."""
        return (resolution or PREDICT_POINTS,)

    def function_panel(self, completion: Completion, title: str) -> dict:
        """The curves of one completion (batch of one) in x units, for visualize.figure_functions."""
        x = self.grid_x(completion.grid_shape)  # [G]
        samples = completion.samples[0, :, 0] if completion.samples is not None else torch.zeros(0, x.shape[0])
        return {"title": title, "x": x.numpy(), "mean": completion.mean[0, 0].numpy(),
                "std": completion.std()[0, 0].numpy(), "samples": samples.numpy(),  # [G], [G], [S, G]
                "ctx_x": self.x_units(completion.ctx_pos[0, :, 0]).numpy(),
                "ctx_y": completion.ctx_val[0, :, 0].numpy()}

    def functions_figure(self, completions: dict[str, Completion], path: Path, suffix: str = "") -> Path:
        """Fig. 9 for one function: completions (batch of one) by |S| -> mean, band and samples beside the truth;
        titled with the data, the function's split and index and the step of the Pictures callback's ``suffix``."""
        # a panel's samples with only N' of their values drawn (the rest their mean) say so under its |S|
        panels = [self.function_panel(c, c.titled(f"|S| = {c.ctx_pos.shape[1]}")) for c in completions.values()]
        first = next(iter(completions.values()))
        truth = first.signal
        curve = None
        if truth is not None:  # [1, 1, R] on the data's own grid
            curve = (self.grid_x(tuple(truth.shape[2:])).numpy(), truth[0, 0].numpy())
        return figure_functions(panels, path, truth=curve, title=shown_title(self.title, first, suffix, "; "))

    def protocol_figure(self, completions: dict[str, Completion], path: Path,
                        hyper: tuple[torch.Tensor, torch.Tensor] | None = None,
                        period: torch.Tensor | None = None, spec: SignalSpec | None = None, suffix: str = "") -> Path:
        """A benchmark function (completions of its first K points, batch of one) by |S|: its points, the model's
        mean +- 2 sigma and, given its (lengthscale [1], scale [1]) and a periodic kernel's period [1], the exact
        oracle's, of the benchmark of `spec` (the data's; default the domain's); titled as
        :meth:`functions_figure`."""
        spec = spec or self.spec
        s = float(spec.pos_scale)
        panels = []
        for c in completions.values():
            k = c.ctx_pos.shape[1]
            pos, val = point_set_layout(c.signal)  # [1, N, 1] each
            x = grid_positions(c.grid_shape)[:, 0] * s  # [G]
            panel = {"k": k, "ctx_x": (pos[0, :k, 0] * s).numpy(), "ctx_y": val[0, :k, 0].numpy(),
                     "tgt_x": (pos[0, k:, 0] * s).numpy(), "tgt_y": val[0, k:, 0].numpy(),
                     "mean": c.mean[0, 0].numpy(), "std": c.std()[0, 0].numpy()}
            if hyper is not None:
                o_mean, o_var = gp_protocol_oracle(pos[:, :k, 0] * s, val[:, :k, 0], x.unsqueeze(0),
                                                   spec.extra["kernel"], *hyper, spec.extra["noise_std"],
                                                   period)  # [1, G] each
                panel.update(oracle_mean=o_mean[0].numpy(), oracle_std=o_var[0].sqrt().numpy())
            panels.append(panel)
        title = spec.dataset
        if hyper is not None:
            title += f": lengthscale {float(hyper[0][0]):.2f}, scale {float(hyper[1][0]):.2f}"
            title += "" if period is None else f", period {float(period[0]):.2f}"
        title = shown_title(title, next(iter(completions.values())), suffix, "; ")  # the function's split and index
        return figure_protocol(x.numpy(), panels, path, title=title)

    # ---- evaluation -----------------------------------------------------------------------------------
    def metrics(self, item) -> dict[str, torch.Tensor]:
        """The exact oracle's (generated functions) and a fitted RBF GP's NLL and MSE beside the model's (dense
        functions; the benchmark's evaluation scores its own sets, evaluation.py)."""
        return {} if is_protocol(item.spec) else reference_metrics(item)

    @property
    def gp_train(self) -> dict | None:
        """The RBF GP learned from the training functions (the data's spec holds it; specs written before do not)."""
        return None if self.spec is None else self.spec.extra.get("gp_train")

    def plot_groups(self) -> dict[str, list[str]]:
        gps = [*(["oracle"] if self.has_prior else []), "gp", *(["gp_train"] if self.gp_train else [])]
        return {"NLL (nats)": ["nll", *[f"{m}_nll" for m in gps]],
                "MSE of the mean": ["mse", *[f"{m}_mse" for m in gps], "nn_mse", "sample_mse"]}

    def method_names(self) -> dict[str, str]:
        gp = "RBF GP fitted to S" if self.has_prior else "RBF GP fitted to S (about its mean)"
        return {**super().method_names(), **({"oracle": "exact Bayes oracle"} if self.has_prior else {}), "gp": gp,
                **({"gp_train": "RBF GP, kernel learned on the training curves"} if self.gp_train else {})}

    def summary(self, rows: list[dict], items: ItemValues | None = None) -> dict:
        """The NLL's units, the oracle's gap (generated functions) and the learned GP's hyperparameters, its
        lengthscale also in x units."""
        out = {"nll_units": NLL_UNITS}
        out.update({"nll_gap_to_oracle": nll_gap_to_oracle(rows)} if self.has_prior else {})
        if prior := self.gp_train:
            out["gp_train"] = {**prior, "lengthscale_x": prior["lengthscale"] * self.pos_scale,
                               "units": "lengthscale in positions normalised to [-1, 1] (lengthscale_x: in x units); "
                                        "variance, noise_var, mean and level_var (the variance of a curve's own level "
                                        "about the mean) in the values' units; learned once by maximum marginal "
                                        "likelihood of `curves` training functions at `points` points each"}
        return out

    # ---- predict ------------------------------------------------------------------------------------------
    def read_input(self, path: Path, spec) -> torch.Tensor:
        raise ValueError(f"--input {path}: the polynomial domain takes its observations with --context (JSON rows "
                         f"[x, y], inline or a .json file), not an input file")

    def context_from_rows(self, rows: torch.Tensor, spec, source: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows [K, 2] of (x, y) in the data's units -> positions (x - pos_offset) / pos_scale [K, 1], values y [K, 1].
        The values' range is only nominal (it normalises values), so any y within +-MAX_ABS_VALUE is accepted."""
        scale, offset = float(spec.pos_scale), float(spec.pos_offset)
        x, y = rows[:, :1].double(), rows[:, 1:]  # [K, 1], [K, 1]
        pos = (x - offset) / scale  # [K, 1]
        if far := first_outside(rows[:, :1], pos.abs() > 1 + 1e-6):  # 1e-6: a grid's ends written in decimals
            low, high = range_as_written(offset - scale, offset + scale)
            raise ValueError(f"{source}: x must lie in [{low}, {high}] (the data's x range), got {far}")
        if far := first_outside(y, y.abs() > MAX_ABS_VALUE):
            raise ValueError(f"{source}: y must lie within +-{as_written(MAX_ABS_VALUE)} (beyond that the model's "
                             f"float32 arithmetic overflows), got {far}")
        return pos.clamp(-1, 1).to(rows.dtype), y  # [K, 1], [K, 1]

    def write_prediction(self, completion: Completion, out_dir: Path) -> list[Path]:
        """functions.png (mean, +-2 sigma band, samples, observed points) and prediction.csv (x, mean, std, samples)."""
        panel = self.function_panel(completion, completion.titled(f"|S| = {completion.ctx_pos.shape[1]}"))
        png = figure_functions([panel], Path(out_dir) / "functions.png", title=self.title)
        columns = [panel["x"], panel["mean"], panel["std"], *panel["samples"]]  # each [G]
        header = ["x", "mean", "std", *[f"sample_{i + 1}" for i in range(len(panel["samples"]))]]
        csv = Path(out_dir) / "prediction.csv"
        return [png, atomic_write(csv, lambda tmp: write_rows(tmp, header, columns, csv.name))]
