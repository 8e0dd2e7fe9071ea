"""Polynomial/GP pictures during training and the evaluation sweep with its oracle and GP baseline; for the GP
benchmark of protocol.py, its own evaluation (metrics.json's `gp_protocol`) and pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from pixeltransformer.evaluation import SweepEvaluation, SweepItem
from pixeltransformer.media import log_media
from pixeltransformer.sets import SetSampler, grid_positions

from .kernels import gaussian_nll
from .oracles import fitted_rbf_gp, gp_oracle, gp_protocol_oracle, polynomial_oracle
from .protocol import point_set_layout, protocol_sizes, standard_error
from .visualize import figure_functions, figure_protocol


@torch.no_grad()
def draw_function_figure(pl_module, signal: torch.Tensor, levels: tuple[int, ...], path: Path, num_samples: int = 3,
                         sample_points: int = 64, seed: int = 0) -> Path:
    """Fig. 9 for one function signal [1, 1, R]: mean, band and samples at each |S|. Samples are drawn fully
    autoregressively at `sample_points` evenly spaced grid points (a smooth curve needs no more)."""
    spec = pl_module.spec
    x_norm = grid_positions(spec.grid_shape, device=pl_module.device)  # [R, 1]
    qry = x_norm.unsqueeze(0)  # [1, R, 1]
    stride = max(1, x_norm.shape[0] // sample_points)
    sample_qry = qry[:, ::stride]  # [1, R', 1]
    panels = []
    for k in levels:
        gen = torch.Generator(device=pl_module.device).manual_seed(seed + k)
        sets = SetSampler(k, k, 1, grid_points=True)(signal, gen, num_context=k)
        params = pl_module.predict_params(sets.ctx_pos, sets.ctx_val, qry)  # [1, R, NP]
        samples = pl_module.sample(sets.ctx_pos, sets.ctx_val, sample_qry, num_samples=num_samples,
                                   n_autoregressive=None, seed=seed + k)  # [1, S, R', 1]
        panels.append({
            "k": k,
            "ctx_x": (sets.ctx_pos[0, :, 0] * spec.pos_scale).cpu().numpy(),
            "ctx_y": sets.ctx_val[0, :, 0].cpu().numpy(),
            "mean": pl_module.dist.mean(params)[0, :, 0].cpu().numpy(),
            "std": pl_module.dist.variance(params)[0, :, 0].sqrt().cpu().numpy(),
            "samples": samples[0, :, :, 0].cpu().numpy(),
            "sample_x": (sample_qry[0, :, 0] * spec.pos_scale).cpu().numpy(),
        })
    x = (x_norm[:, 0] * spec.pos_scale).cpu().numpy()
    return figure_functions(x, signal[0, 0].cpu().numpy(), panels, path, title=f"{spec.dataset}")


class FunctionPictures(Callback):
    """After each validation: Fig. 9 on fixed validation functions, saved in <run>/pictures and logged."""

    def __init__(self, levels: tuple[int, ...] = (4, 6, 10), num_functions: int = 2, num_samples: int = 3,
                 sample_points: int = 64):
        self.levels, self.num_functions = tuple(levels), num_functions
        self.num_samples, self.sample_points = num_samples, sample_points

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        examples = trainer.datamodule.fixed_examples("val", self.num_functions)["signal"].to(pl_module.device)
        out = Path(trainer.default_root_dir) / "pictures"
        paths = [draw_function_figure(pl_module, examples[i : i + 1], self.levels,
                                      out / f"functions{i}_step{trainer.global_step:06d}.png",
                                      self.num_samples, self.sample_points, seed=i)
                 for i in range(examples.shape[0])]
        log_media(trainer, {"val/functions": paths})


class FunctionEvaluation(SweepEvaluation):
    """The |S| sweep for 1D functions, with the prior's exact Bayes oracle and a fitted RBF GP."""

    def __init__(self, levels: tuple[int, ...] = (4, 5, 6, 8, 10, 15, 20), queries: str | int = 100,
                 num_samples: int = 0, n_autoregressive: int = 100, seed: int = 0, max_batches: int | None = None,
                 out_dir: str | None = None):
        super().__init__(levels=levels, queries=queries, grid_points=True, num_samples=num_samples,
                         n_autoregressive=n_autoregressive, seed=seed, max_batches=max_batches, out_dir=out_dir)

    def metrics(self, item: SweepItem, pl_module) -> dict[str, torch.Tensor]:
        out = super().metrics(item, pl_module)
        spec = item.spec
        cx = (item.ctx_pos[..., 0] * spec.pos_scale).cpu()  # [B, K]
        cy = item.ctx_val[..., 0].cpu()  # [B, K]
        qx = (item.qry_pos[..., 0] * spec.pos_scale).cpu()  # [B, Q]
        qy = item.qry_val[..., 0].cpu().double()  # [B, Q]
        held = item.held_out.cpu()
        if spec.dataset == "polynomial":
            mean, var = polynomial_oracle(cx, cy, qx, spec.extra["degree"], spec.extra["coef_std"])
        else:
            mean, var = gp_oracle(cx, cy, qx, spec.extra["kernel"], spec.extra["lengthscale"], spec.extra["variance"])
        gp_mean, gp_var = fitted_rbf_gp(cx, cy, qx)
        dev = item.signal.device
        for name, (m, v) in {"oracle": (mean, var), "gp": (gp_mean, gp_var)}.items():
            out[f"{name}_nll"] = _masked(gaussian_nll(m, v, qy), held).float().to(dev)
            out[f"{name}_mse"] = _masked((m - qy) ** 2, held).float().to(dev)
        return out

    def plot_groups(self) -> dict[str, list[str]]:
        return {"NLL (nats)": ["nll", "oracle_nll", "gp_nll"],
                "MSE of the mean": ["mse", "oracle_mse", "gp_mse", "nn_mse", "sample_mse"]}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        gap = {str(r["num_context"]): r["nll"] - r["oracle_nll"] for r in rows
               if r["num_context"] in (4, 5, 6) and r.get("nll") is not None and r.get("oracle_nll") is not None}
        return {"nll_gap_to_oracle": gap}

    def on_sweep_end(self, trainer, pl_module, out_dir: Path, rows) -> None:
        signal = trainer.datamodule.fixed_examples("test", 1)["signal"].to(pl_module.device)
        path = draw_function_figure(pl_module, signal, (4, 6, 10), out_dir / "functions.png")
        log_media(trainer, {"eval/functions": path})


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    from pixeltransformer.evaluation import masked_mean

    return masked_mean(x, mask)


# ---- the GP benchmark (protocol.py) --------------------------------------------------------------------------------
def _protocol_spec(pl_module):
    spec = pl_module.spec
    if spec.extra.get("protocol") != "tnp":
        raise ValueError(f"the GP protocol callbacks need a gp_tnp_* dataset, not {spec.domain}/{spec.dataset}")
    return spec


@torch.no_grad()
def protocol_lls(pl_module, ctx_pos, ctx_val, qry_pos, qry_val, lengthscale, scale) -> dict[str, torch.Tensor]:
    """Per-query log-likelihoods [B, Q] (nats) of the model and of the exact oracle, and the squared errors of both
    means. Positions normalised [B, *, 1], values [B, *, 1], hyperparameters [B]. Queries are independent given
    the context, so targets and context points can share one call."""
    spec = pl_module.spec
    params = pl_module.predict_params(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]
    ll = pl_module.dist.log_prob(params, qry_val)  # [B, Q]
    mean = pl_module.dist.mean(params)[..., 0]  # [B, Q]
    x_c, x_q = ctx_pos[..., 0].cpu() * spec.pos_scale, qry_pos[..., 0].cpu() * spec.pos_scale  # [B, K], [B, Q]
    y_q = qry_val[..., 0].cpu().double()  # [B, Q]
    o_mean, o_var = gp_protocol_oracle(x_c, ctx_val[..., 0].cpu(), x_q, spec.extra["kernel"], lengthscale.cpu(),
                                       scale.cpu(), spec.extra["noise_std"])  # [B, Q] each
    return {"ll": ll.double().cpu(), "oracle_ll": -gaussian_nll(o_mean, o_var, y_q),
            "mse": ((mean - qry_val[..., 0]) ** 2).double().cpu(), "oracle_mse": (o_mean - y_q) ** 2}


class GPProtocolEvaluation(SweepEvaluation):
    """The benchmark's evaluation: fixed, seeded batches of `batch_size` test functions; each batch draws its own
    (Nc, Nt) from a generator seeded by (seed, batch number). Per batch, the target log-likelihood is the mean over
    its functions and targets, and the context log-likelihood the mean over its context points queried with the
    context itself; both are averaged over the batches, with the standard error of that mean, for the model and the
    exact GP predictive (true hyperparameters and noise). metrics.json gets them as `gp_protocol`.

    Alongside, a sweep over fixed |S| `levels` (targets: all other points of the function) on the first
    `sweep_batches` batches gives the usual rows and curves against |S|.

    The test split must hold whole batches in order (the DataModule's batch size a multiple of `batch_size`, one
    device): `max_batches` caps how many are evaluated.
    """

    def __init__(self, batch_size: int = 16, levels: tuple[int, ...] = (3, 5, 10, 20, 30, 46), sweep_batches: int = 8,
                 seed: int = 0, max_batches: int | None = None, out_dir: str | None = None):
        super().__init__(levels=levels, queries=1, grid_points=False, seed=seed, max_batches=max_batches,
                         out_dir=out_dir)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.sweep_batches = sweep_batches

    def on_test_start(self, trainer, pl_module) -> None:
        _protocol_spec(pl_module)
        if trainer.world_size > 1:
            raise ValueError("the GP protocol evaluation keeps its batches of 16 whole: run it on one device "
                             "(--trainer.devices=1)")
        super().on_test_start(trainer, pl_module)
        self._per_batch: dict[str, list[float]] = {k: [] for k in
                                                    ("target_ll", "context_ll", "oracle_target_ll", "oracle_context_ll")}
        self._sizes: list[tuple[int, int]] = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        spec = pl_module.spec
        pos, val = point_set_layout(batch["signal"])  # [B, N, 1] each
        keys = [int(i) for i in batch["index"]]
        n_b = self.batch_size
        if len(keys) % n_b:
            raise ValueError(f"the GP protocol evaluation needs test batches of a multiple of {n_b} functions, "
                             f"got {len(keys)} (set --data.init_args.batch_size and test_size to multiples of {n_b})")
        for start in range(0, len(keys), n_b):
            ids = keys[start : start + n_b]
            if ids != list(range(ids[0], ids[0] + n_b)) or ids[0] % n_b:
                raise ValueError("the GP protocol evaluation needs the test functions in order, in whole batches")
            number = ids[0] // n_b
            if self.max_batches is not None and number >= self.max_batches:
                continue
            part = slice(start, start + n_b)
            p, v = pos[part], val[part]  # [b, N, 1] each
            ls, scale = batch["lengthscale"][part], batch["scale"][part]  # [b] each
            gen = torch.Generator().manual_seed(1_000_003 * (self.seed + 1) + number)
            nc, nt = protocol_sizes(gen, spec.extra["max_points"])
            # the targets (points nc .. nc + nt) and the context points, queried in one call
            qry = torch.cat([torch.arange(nc, nc + nt), torch.arange(nc)])  # [Nt + Nc]
            out = protocol_lls(pl_module, p[:, :nc], v[:, :nc], p[:, qry], v[:, qry], ls, scale)  # [b, Nt + Nc] each
            for name, key in (("target_ll", "ll"), ("oracle_target_ll", "oracle_ll")):
                self._per_batch[name].append(float(out[key][:, :nt].mean()))
            for name, key in (("context_ll", "ll"), ("oracle_context_ll", "oracle_ll")):
                self._per_batch[name].append(float(out[key][:, nt:].mean()))
            self._sizes.append((nc, nt))
            if number < self.sweep_batches:
                n = p.shape[1]
                for k in self.levels:
                    if k >= n:
                        continue
                    out = protocol_lls(pl_module, p[:, :k], v[:, :k], p[:, k:], v[:, k:], ls, scale)  # [b, N - k]
                    values = {"nll": -out["ll"].mean(-1), "oracle_nll": -out["oracle_ll"].mean(-1),
                              "mse": out["mse"].mean(-1), "oracle_mse": out["oracle_mse"].mean(-1)}
                    for name, value in values.items():
                        self._update(k, name, value.to(pl_module.device), pl_module.device)

    def plot_groups(self) -> dict[str, list[str]]:
        return {"NLL (nats)": ["nll", "oracle_nll"], "MSE of the mean": ["mse", "oracle_mse"]}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        per = self._per_batch
        n = len(per["target_ll"])
        out: dict[str, Any] = {"num_batches": n, "batch_size": self.batch_size, "seed": self.seed}
        for name, values in per.items():
            out[name] = sum(values) / n if n else None
            out[f"{name}_se"] = standard_error(values)
        gap = [o - m for o, m in zip(per["oracle_target_ll"], per["target_ll"])]
        out["target_ll_gap"] = sum(gap) / n if n else None
        out["target_ll_gap_se"] = standard_error(gap)  # paired over the same batches
        if self._sizes:
            out["num_context_range"] = [min(s[0] for s in self._sizes), max(s[0] for s in self._sizes)]
            out["num_target_range"] = [min(s[1] for s in self._sizes), max(s[1] for s in self._sizes)]
        out["units"] = ("nats per target value, density of y; context LL queries the context points themselves; "
                        "standard errors over batches")
        return {"gp_protocol": out}

    def on_sweep_end(self, trainer, pl_module, out_dir: Path, rows) -> None:
        examples = trainer.datamodule.fixed_examples("test", 1)
        path = draw_protocol_figure(pl_module, examples, (3, 10, 30), out_dir / "functions.png")
        log_media(trainer, {"eval/functions": path})


@torch.no_grad()
def draw_protocol_figure(pl_module, examples: dict[str, torch.Tensor], levels: tuple[int, ...], path: Path,
                         num_grid: int = 300) -> Path:
    """One benchmark function at each |S|: its points, the model's mean +- 2 sigma and the oracle's."""
    spec = _protocol_spec(pl_module)
    dev = pl_module.device
    pos, val = point_set_layout(examples["signal"][:1].to(dev))  # [1, N, 1] each
    ls, scale = examples["lengthscale"][:1], examples["scale"][:1]  # [1] each
    grid = torch.linspace(-1, 1, num_grid, device=dev).view(1, -1, 1)  # [1, G, 1]
    panels = []
    for k in levels:
        k = min(k, pos.shape[1] - 1)
        params = pl_module.predict_params(pos[:, :k], val[:, :k], grid)  # [1, G, NP]
        o_mean, o_var = gp_protocol_oracle(pos[:, :k, 0].cpu() * spec.pos_scale, val[:, :k, 0].cpu(),
                                           grid[..., 0].cpu() * spec.pos_scale, spec.extra["kernel"], ls, scale,
                                           spec.extra["noise_std"])  # [1, G] each
        panels.append({"k": k, "ctx_x": (pos[0, :k, 0] * spec.pos_scale).cpu().numpy(), "ctx_y": val[0, :k, 0].cpu().numpy(),
                       "tgt_x": (pos[0, k:, 0] * spec.pos_scale).cpu().numpy(), "tgt_y": val[0, k:, 0].cpu().numpy(),
                       "mean": pl_module.dist.mean(params)[0, :, 0].cpu().numpy(),
                       "std": pl_module.dist.variance(params)[0, :, 0].sqrt().cpu().numpy(),
                       "oracle_mean": o_mean[0].numpy(), "oracle_std": o_var[0].sqrt().numpy()})
    x = (grid[0, :, 0] * spec.pos_scale).cpu().numpy()
    title = f"{spec.dataset}: lengthscale {float(ls[0]):.2f}, scale {float(scale[0]):.2f}"
    return figure_protocol(x, panels, path, title=title)


class ProtocolPictures(Callback):
    """After each validation: the benchmark picture for fixed validation functions, in <run>/pictures and logged."""

    def __init__(self, levels: tuple[int, ...] = (3, 10, 30), num_functions: int = 2):
        self.levels, self.num_functions = tuple(levels), num_functions

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        examples = trainer.datamodule.fixed_examples("val", self.num_functions)
        out = Path(trainer.default_root_dir) / "pictures"
        paths = [draw_protocol_figure(pl_module, {k: v[i : i + 1] for k, v in examples.items()}, self.levels,
                                      out / f"functions{i}_step{trainer.global_step:06d}.png")
                 for i in range(examples["signal"].shape[0])]
        log_media(trainer, {"val/functions": paths})
