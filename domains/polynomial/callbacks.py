"""Polynomial/GP pictures during training and the evaluation sweep with its oracle and GP baseline."""

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
from .oracles import fitted_rbf_gp, gp_oracle, polynomial_oracle
from .visualize import figure_functions


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
