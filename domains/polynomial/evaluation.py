"""The GP benchmark's evaluation (protocol.py): the core |S| sweep plus the benchmark's own seeded batches, whose
per-batch log-likelihoods it keeps (state), written to metrics.json as `gp_protocol`. Dense functions need no
evaluation class of their own: their oracle and GP baseline are PolynomialDomain.metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from pixeltransformer.datahints import trained_dataset
from pixeltransformer.evaluation import SweepEvaluation, tested_datamodule
from pixeltransformer.errors import check_count, counted, whole_number
from pixeltransformer.media import log_media
from pixeltransformer.signal import SignalSpec
from pixeltransformer.results_blocks import mean_se
from pixeltransformer.results_folders import TRAINED_ON
from pixeltransformer.stop import check_stop, sigterm_stop, stop_when

from .metrics import NLL_UNITS, protocol_scores
from .protocol import BENCHMARK_SETTINGS, evaluation_sizes, is_protocol, point_set_layout, standard_error


@torch.no_grad()
def protocol_lls(pl_module, ctx_pos, ctx_val, qry_pos, qry_val, lengthscale, scale,
                 period: torch.Tensor | None = None, spec: SignalSpec | None = None) -> dict[str, torch.Tensor]:
    """Per-query scores [B, Q] of the model, the exact oracle and the Bayes predictor (metrics.protocol_scores),
    and the model's predictive standard deviation "sigma".
    Positions normalised [B, *, 1], values [B, *, 1], hyperparameters [B] (a period for a periodic kernel only);
    spec: the data's, whose benchmark the oracle and the Bayes predictor are of (default: the module's).
    Queries are independent given the context, so targets and context points can share one call."""
    spec = spec or pl_module.spec
    params = pl_module.predict_params(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]
    ll = pl_module.dist.log_prob(params, qry_val)  # [B, Q]
    mean = pl_module.dist.mean(params)[..., 0]  # [B, Q]
    s = spec.pos_scale
    scores = protocol_scores(spec, ll.cpu(), mean.cpu(), ctx_pos[..., 0].cpu() * s, ctx_val[..., 0].cpu(),
                             qry_pos[..., 0].cpu() * s, qry_val[..., 0].cpu(), lengthscale.cpu(), scale.cpu(),
                             None if period is None else period.cpu())
    return {**scores, "sigma": pl_module.dist.variance(params)[..., 0].sqrt().double().cpu()}  # [B, Q]


class GPProtocolEvaluation(SweepEvaluation):
    """The benchmark's evaluation: fixed, seeded batches of `batch_size` test functions; each batch draws its own
    (Nc, Nt) from a generator seeded by (seed, batch number). Per batch, the target log-likelihood is the mean over
    its functions and targets, and the context log-likelihood the mean over its context points queried with the
    context itself; both are averaged over the batches, with the standard error of that mean, for the model and the
    exact GP predictive (true hyperparameters and noise), and for the Bayes predictor, which averages the GP
    predictive over the hyperparameters' posterior given the context (their priors known, their values not): the
    best score any model of this data can reach on average. metrics.json gets them as `gp_protocol`.

    Alongside, a sweep over fixed |S| `levels` (targets: all other points of the function) on the first
    `sweep_batches` batches gives the usual rows and curves against |S|.

    The test split must hold whole batches in order (the DataModule's batch size a multiple of `batch_size`, one
    device): `max_batches` caps how many are evaluated.

    Args:
        batch_size: functions per benchmark batch (the protocol's 16).
        levels: the |S| of the sweep's rows; those of a function's points or more are left out.
        sweep_batches: the first this many batches also give the sweep's rows and curves against |S|.
        seed: fixes each batch's (Nc, Nt) and sets, and the figure's contexts.
        max_batches: evaluate the first this many batches (null: every batch the test split holds).
        out_dir: where metrics.json and plots go (default: <run>/eval next to the checkpoint).
        figure_levels: the |S| of functions.png's panels (the first test function, beside the exact oracle).
        figure_points: the points each curve of functions.png is drawn at.
    """

    # in W&B's config, not its summary, beside the sweep's own settings
    summary_settings = (*SweepEvaluation.summary_settings, "gp_protocol/batch_size", "gp_protocol/seed",
                        "gp_protocol/benchmark/max_points", "gp_protocol/benchmark/noise_std")

    def __init__(self, batch_size: int = 16, levels: tuple[int, ...] = (3, 5, 10, 20, 30, 46), sweep_batches: int = 8,
                 seed: int = 0, max_batches: int | None = None, out_dir: str | None = None,
                 figure_levels: tuple[int, ...] = (3, 10, 30), figure_points: int = 300):
        super().__init__(levels=levels, queries=1, grid_points=False, seed=seed, out_dir=out_dir)
        batch_size = check_count(batch_size, 1, "GPProtocolEvaluation: batch_size must be a whole number >= 1 (the "
                                                "functions of a benchmark batch; the protocol's 16)")
        # -1 (read as "every batch") or 0 scored none: metrics.json of no rows replaced the evaluation before it
        if max_batches is not None:
            max_batches = check_count(max_batches, 1, "GPProtocolEvaluation: max_batches must be a whole number >= 1 "
                                                      "(null: every batch of the test split)")
        self.max_batches = max_batches  # the benchmark's batches of batch_size functions, in order
        sweep_batches = check_count(sweep_batches, 0, "GPProtocolEvaluation: sweep_batches must be a whole number "
                                                      ">= 0 (0: no rows against |S|)")
        # at least 2: met by the model's grid once every batch was scored
        figure_points = check_count(figure_points, 2, "GPProtocolEvaluation: figure_points must be a whole number "
                                                      ">= 2 (the points each curve of functions.png is drawn at)")
        # 0 stopped the evaluation at functions.png, after every batch was scored, with "S is empty"; -3 drew a
        # panel of all but 3 points titled "-3"
        if not figure_levels or not all(whole_number(k, 1) for k in figure_levels):
            raise ValueError(f"GPProtocolEvaluation: figure_levels must be one or more whole numbers >= 1 (the |S| of "
                             f"functions.png's panels), got {list(figure_levels)}")
        self.batch_size = batch_size
        self.sweep_batches = sweep_batches
        self.figure_levels, self.figure_points = tuple(figure_levels), figure_points

    @property
    def test_items_cap(self) -> int | None:
        """The test loader stops after max_batches benchmark batches (datamodule.capped_test_items): it read the whole
        test split, scoring the batches past the cap with the core's test NLL, while this evaluation skipped them."""
        return None if self.max_batches is None else self.max_batches * self.batch_size

    test_items_option = "max_batches x batch_size"  # the cap, as the [data] line names it

    @property
    def test_items_multiple(self) -> int:
        """The test split holds whole benchmark batches: a multiple of batch_size functions, which the data module's
        line on an empty test split names (PolynomialDataModule.empty_split_cause reads it off the trainer's
        callbacks)."""
        return self.batch_size

    def level_list(self, spec) -> list[int]:
        """The |S| levels below a function's N points (spec.num_points): S of all N leaves no target, so larger
        levels are left out and listed in metrics.json as dropped_levels (they were left out of the rows unnamed)."""
        return sorted({k for k in self.levels if k < spec.num_points})

    def on_test_start(self, trainer, pl_module) -> None:
        # its kernel, noise and priors are those of the oracle, the Bayes predictor and the recorded benchmark
        dm = tested_datamodule(trainer)
        if dm is None:  # dataloaders alone: trainer.datamodule, if any, is an earlier fit's
            raise ValueError("the GP protocol evaluation needs the test's data module (its kernel, its examples): "
                             "trainer.test(model, datamodule=...)")
        spec = dm.spec  # the core's start keeps it as data_spec
        if not is_protocol(spec):
            raise ValueError(f"the GP protocol evaluation needs a gp_tnp_* dataset, not {spec.domain}/{spec.dataset}")
        if trainer.world_size > 1:
            raise ValueError("the GP protocol evaluation keeps its batches of 16 whole: run it on one device "
                             "(--trainer.devices=1)")
        self.check_whole_batches(trainer)
        super().on_test_start(trainer, pl_module)
        self._per_batch: dict[str, list[float]] = {k: [] for k in
                                                    ("target_ll", "context_ll", "oracle_target_ll", "oracle_context_ll",
                                                     "bayes_target_ll", "bayes_context_ll")}
        self._sizes: list[tuple[int, int]] = []

    def check_whole_batches(self, trainer) -> None:
        """Every test batch the run reads (within limit_test_batches) must hold whole benchmark batches: refused
        here, not at a short last batch after the evaluation of every batch before it."""
        dm = tested_datamodule(trainer)
        total, n = len(dm.dataset("test")), len(dm.test_set())  # n: within max_batches (test_items_cap)
        loader_batch, option = dm.test_batch()  # the test loader's batch size and the option that sets it
        size = min(loader_batch, n)
        batches = math.ceil(n / size)
        read = min(batches, (getattr(trainer, "num_test_batches", None) or [batches])[0])
        sizes = [size] * int(read)
        if read == batches:
            sizes[-1] = n - (batches - 1) * size
        bad = [s for s in sizes if s % self.batch_size]
        if bad:
            raise ValueError(f"the GP protocol evaluation needs test batches of a multiple of {self.batch_size} "
                             f"functions: test_size {total} in batches of {loader_batch} reads a batch of {bad[0]}; "
                             f"set --data.init_args.{option} and test_size to multiples of {self.batch_size}")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        with stop_when(sigterm_stop(trainer)):  # within seconds of a SIGTERM, not at the end of the batch
            self.score_batch(pl_module, batch)

    def score_batch(self, pl_module, batch) -> None:
        """The benchmark's batches within one test batch, each with its sweep levels (the first sweep_batches)."""
        spec = self.data_spec(pl_module)
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
            period = batch["period"][part] if "period" in batch else None  # [b], a periodic kernel's
            check_stop()  # a SIGTERM stops the evaluation before each score (the Bayes predictor: between its steps)
            nc, nt = evaluation_sizes(self.seed, number, spec.extra["max_points"])
            # the targets (points nc .. nc + nt) and the context points, queried in one call
            qry = torch.cat([torch.arange(nc, nc + nt), torch.arange(nc)])  # [Nt + Nc]
            out = protocol_lls(pl_module, p[:, :nc], v[:, :nc], p[:, qry], v[:, qry], ls, scale,
                               period, spec)  # [b, Nt + Nc] each
            for part_name, cols in (("target", slice(None, nt)), ("context", slice(nt, None))):
                for prefix, key in (("", "ll"), ("oracle_", "oracle_ll"), ("bayes_", "bayes_ll")):
                    if key in out:  # no Bayes predictor for a periodic kernel (oracles.has_bayes_predictor)
                        self._per_batch[f"{prefix}{part_name}_ll"].append(float(out[key][:, cols].mean()))
            self._sizes.append((nc, nt))
            if number < self.sweep_batches:
                n = p.shape[1]
                for k in self.levels:
                    if k >= n:
                        continue
                    check_stop()
                    out = protocol_lls(pl_module, p[:, :k], v[:, :k], p[:, k:], v[:, k:], ls, scale,
                                       period, spec)  # [b, N - k] each
                    values = {"nll": -out["ll"].mean(-1), "oracle_nll": -out["oracle_ll"].mean(-1),
                              "mse": out["mse"].mean(-1), "oracle_mse": out["oracle_mse"].mean(-1)}
                    if "bayes_ll" in out:
                        values["bayes_nll"] = -out["bayes_ll"].mean(-1)
                    for name, value in values.items():
                        self._update(k, name, value, ids)

    def plot_groups(self, pl_module) -> dict[str, list[str]]:
        return {"NLL (nats)": ["nll", "oracle_nll", "bayes_nll"], "MSE of the mean": ["mse", "oracle_mse"]}

    def method_names(self, pl_module) -> dict[str, str]:
        return {**super().method_names(pl_module), "oracle": "exact GP oracle (told each function's hyperparameters)",
                "bayes": "Bayes predictor"}

    def summary(self, rows: list[dict[str, Any]], pl_module) -> dict[str, Any]:
        per = self._per_batch
        n = len(per["target_ll"])
        out: dict[str, Any] = {"num_batches": n, "batch_size": self.batch_size, "seed": self.seed}
        if pl_module is not None:  # which benchmark: another noise or prior writes the same keys to the same folder
            data = self.data_spec(pl_module)
            out["benchmark"] = {k: data.extra[k] for k in BENCHMARK_SETTINGS if k in data.extra}
            out["dataset"] = data.dataset  # the data scored, beside the data trained on
            # the checkpoint's own data, else that of the model's spec (fitted in this process): an RBF model scored
            # on Matern-5/2 says so
            out[TRAINED_ON] = trained_dataset(pl_module)
        for name, values in per.items():  # a periodic kernel's bayes_* have none: None
            out[name] = sum(values) / len(values) if values else None
            out[f"{name}_se"] = standard_error(values)
        # the model's gaps, and what being told the hyperparameters is worth (the oracle over the Bayes predictor)
        for name, upper, lower in (("target_ll_gap", "oracle_target_ll", "target_ll"),
                                   ("bayes_target_ll_gap", "bayes_target_ll", "target_ll"),
                                   ("oracle_minus_bayes_target_ll", "oracle_target_ll", "bayes_target_ll")):
            gap = [o - m for o, m in zip(per[upper], per[lower])]
            out[name] = sum(gap) / len(gap) if gap else None
            out[f"{name}_se"] = standard_error(gap)  # paired over the same batches
        if self._sizes:
            out["num_context_range"] = [min(s[0] for s in self._sizes), max(s[0] for s in self._sizes)]
            out["num_target_range"] = [min(s[1] for s in self._sizes), max(s[1] for s in self._sizes)]
        out["units"] = ("nats per target value, density of y; context LL queries the context points themselves; "
                        "standard errors over batches")
        # for gp_tnp_* runs metrics.json takes nll_units from here, not from the domain's summary
        return {"nll_units": NLL_UNITS, "gp_protocol": out}

    @torch.no_grad()
    def on_sweep_end(self, trainer, pl_module, out_dir: Path, rows) -> list[Path]:
        """The benchmark's numbers on the console (Lightning's table shows only the plain test NLL at the validation
        level, not these), and functions.png: the first test function at each figure level, with the exact oracle
        beside the model."""
        if "gp_protocol" in self.results:
            print(protocol_headline(self.results["gp_protocol"]), flush=True)
        examples = tested_datamodule(trainer).fixed_examples("test", 1)
        signal, items = examples["signal"], examples.get("index")  # [1, 2, N], [1] (the item it is)
        domain = pl_module.domain
        contexts = domain.picture_contexts(signal, self.figure_levels, torch.Generator().manual_seed(self.seed))
        completions = {name: pl_module.complete(pos.to(pl_module.device), val.to(pl_module.device),
                                                (self.figure_points,), signal=signal).cpu().of_split("test", items)
                       for name, (pos, val) in contexts.items()}
        path = domain.protocol_figure(completions, out_dir / "functions.png",
                                      hyper=(examples["lengthscale"][:1], examples["scale"][:1]),
                                      period=examples["period"][:1] if "period" in examples else None,
                                      spec=self.data_spec(pl_module))
        # not eval/functions: the Pictures callback's test pictures have that key, and W&B showed only one of the two
        log_media(trainer, {"eval/functions_with_oracle": path})
        return [path]


def protocol_headline(gp: dict[str, Any]) -> str:
    """metrics.json's gp_protocol as one console line: the target and context log-likelihood the neural-process
    papers report, with the exact GP oracle and the Bayes predictor beside them."""
    if not gp.get("num_batches"):
        return "[gp_protocol] no evaluation batch was scored"

    bayes = "" if gp.get("bayes_target_ll") is None else f", Bayes predictor {gp['bayes_target_ll']:.3f}"
    trained, scored = gp.get(TRAINED_ON), gp.get("dataset")
    model = "" if trained in (None, scored) else (
        f"{scored}, scoring a model trained on {trained} "
        f"({'a held-out kernel' if trained.startswith('gp_tnp_') else 'other data'}): ")
    return (f"[gp_protocol] {model}{counted(gp['num_batches'], 'batch')} of {gp['batch_size']}: target LL "
            f"{mean_se(gp, 'target_ll')} nats per target (exact GP oracle {gp['oracle_target_ll']:.3f}{bayes}; gap "
            f"to the oracle {mean_se(gp, 'target_ll_gap')}), context LL {mean_se(gp, 'context_ll')} "
            f"(oracle {gp['oracle_context_ll']:.3f}); all in metrics.json")
