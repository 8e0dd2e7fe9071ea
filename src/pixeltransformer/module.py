"""The one LightningModule every domain trains with.

It turns dense batches into sets on the device, trains the paper's objective over the queries, and reports
validation NLL at fixed |S| levels. Metrics go through torchmetrics, which reduce across DDP ranks at epoch end.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torchmetrics import MeanMetric

from .distribution import BinnedGaussian
from .domain import Domain, domain_for
from .inference import Completion, complete, mean_field, predict_params, sample
from .model import PRESETS, PixelTransformer
from .sets import SetBatch, SetSampler, batch_keys, fixed_sets, grid_positions, log_uniform_int
from .signal import SignalSpec

CHECKPOINT_FORMAT = 1


class PixelTransformerModule(L.LightningModule):
    """Train and evaluate a PixelTransformer on any domain's signals.

    Args:
        spec: the signal description; linked from the DataModule by the CLI.
        domain: the Domain (pictures, metrics, a user's files); its config names it by class_path, checkpoints
            by name (looked up among the loaded domains; a plain Domain when that one is not loaded).
        preset: model size ("tiny", "small", "base", "paper"); the explicit sizes below override it.
        fourier_features, fourier_scale, fourier_seed: random Fourier position features.
        encoder: "buffered" (the paper's set encoder for S plus a causal buffer of drawn samples: cached
            sampling), "bidirectional" (paper) or "incremental" (causal in a random order, cached sampling).
        buffer_prob: with the buffered encoder, the fraction of training batches whose set is split into S
            and a buffer (the rest train S alone, i.e. the bidirectional model); the split point is
            log-uniform between min_context and |S| - 1, so the conditionals sampling uses are trained.
        init: weight initialisation of the hidden layers, "gpt" (std 0.02) or "fan_in" (see PixelTransformer).
        distance_bias, distance_sigma: a learned Gaussian distance bias in every attention (see model.Attention).
        anchor_logits: bin logits get an anchored term, -g |a - c_b|^2 / (2 unit^2) (see BinnedGaussian).
        value_norm: every context set is encoded in its own frame (mean, scale) and the distribution is
            predicted in that frame (see PixelTransformer); for single-Gaussian signals (num_bins = 1).
        alpha, gaussian_term, beta: the training objective (see BinnedGaussian; beta > 0 is beta-NLL).
        min_context, max_context, num_queries, grid_points: the set sampler (|S| log-uniform).
        query_focus, query_focus_band: training only: this fraction of the queries is drawn near grid points
            whose value lies in the band (see SetSampler's focus_fraction); validation and evaluation keep
            uniform queries. 0 is the paper's uniform queries.
        val_levels: |S| levels of the validation NLL (capped to the number of grid points).
        lr, weight_decay, warmup_steps, min_lr_ratio: AdamW with linear warmup and cosine decay.
        nonfinite: "error" stops on a NaN/Inf loss naming the step; "skip" skips the batch and counts it.
        bin_prior_init: a fresh run starts the head's bin logits at the log of the bin frequencies of its first
            batch (summed over DDP ranks) mixed half and half with uniform, so the first steps go to using S
            instead of learning a peaked marginal (digits' black, an SDF's truncation bins) through the biases.
            The uniform half bounds the cost when one batch is not representative (per-clip colours).
        seed: seeds the set sampler (each DDP rank offsets it, so ranks draw different sets).
    """

    def __init__(
        self,
        spec: SignalSpec | dict | None = None,
        domain: Domain | str | None = None,
        preset: str = "small",
        width: int | None = None,
        encoder_layers: int | None = None,
        decoder_layers: int | None = None,
        heads: int | None = None,
        ffn: int | None = None,
        fourier_features: int = 128,
        fourier_scale: float = 4.0,
        fourier_seed: int = 0,
        encoder: str = "buffered",
        buffer_prob: float = 0.5,
        init: str = "gpt",
        distance_bias: bool = True,
        distance_sigma: tuple[float, float] = (0.05, 1.0),
        anchor_logits: bool = True,
        value_norm: bool = False,
        alpha: float = 0.1,
        gaussian_term: str = "paper",
        beta: float = 0.0,
        min_context: int = 4,
        max_context: int = 2048,
        num_queries: int = 2048,
        grid_points: bool = False,
        query_focus: float = 0.0,
        query_focus_band: tuple[float, float] | None = None,
        val_levels: tuple[int, ...] = (4, 16, 64, 256),
        lr: float = 5e-4,
        weight_decay: float = 0.01,
        warmup_steps: int = 200,
        min_lr_ratio: float = 0.05,
        nonfinite: str = "error",
        seed: int = 0,
        chunk: int = 16384,
        bin_prior_init: bool = True,
    ):
        super().__init__()
        if spec is None:
            raise ValueError("PixelTransformerModule needs a SignalSpec (the CLI links it from the DataModule)")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        if not 0.0 <= buffer_prob <= 1.0:
            raise ValueError(f"buffer_prob must be in [0, 1], got {buffer_prob}")
        if nonfinite not in ("error", "skip"):
            raise ValueError(f"nonfinite must be 'error' or 'skip', got {nonfinite!r}")
        self.spec = SignalSpec.from_dict(spec)
        self.domain = resolve_domain(domain, self.spec)
        hp = {k: v for k, v in locals().items() if k not in ("self", "spec", "domain", "__class__")}
        hp["domain"] = self.domain.name or self.spec.domain
        hp["val_levels"] = list(val_levels)
        hp["distance_sigma"] = list(distance_sigma)
        hp["query_focus_band"] = None if query_focus_band is None else list(query_focus_band)
        self.save_hyperparameters({"spec": self.spec.to_dict(), **hp})

        size = dict(PRESETS[preset])
        size.update({k: v for k, v in dict(width=width, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
                                           heads=heads, ffn=ffn).items() if v is not None})
        self.dist = BinnedGaussian.from_spec(self.spec, alpha=alpha, gaussian_term=gaussian_term, anchor=anchor_logits,
                                             beta=beta, framed=value_norm)
        self.model = PixelTransformer(
            pos_dims=self.spec.pos_dims, val_dims=self.spec.val_dims, num_params=self.dist.num_params,
            val_range=self.spec.val_range, fourier_features=fourier_features, fourier_scale=fourier_scale,
            fourier_seed=fourier_seed, encoder=encoder, init=init, distance_bias=distance_bias,
            distance_sigma=tuple(distance_sigma), value_norm=value_norm, **size,
        )
        self.sampler = SetSampler(min_context, max_context, num_queries, grid_points)  # uniform: validation
        # training's own sampler only when its queries differ (near-surface focus); otherwise training draws with
        # self.sampler, so a DataModule that installs its own sampler there changes training and validation alike
        self.focus_sampler = (SetSampler(min_context, max_context, num_queries, grid_points, focus_fraction=query_focus,
                                         focus_band=query_focus_band) if query_focus > 0 else None)
        self.val_levels = sorted({min(k, self.spec.num_points) for k in val_levels})
        self.val_nll = torch.nn.ModuleDict({str(k): MeanMetric() for k in self.val_levels})
        self.skipped_batches = 0
        self._gen: torch.Generator | None = None
        self._gen_state: torch.Tensor | None = None
        self._prior_checked = not bin_prior_init
        self.predict_options = None  # set by `pixeltransformer predict` (a PredictOptions)

    # ---- sets ---------------------------------------------------------------------------------------
    @property
    def generator(self) -> torch.Generator:
        """The training set sampler's generator, seeded per rank; its state travels in checkpoints."""
        if self._gen is None or self._gen.device != self.device:
            self._gen = torch.Generator(device=self.device)
            self._gen.manual_seed(self.hparams.seed + 7919 * self.global_rank)
            if self._gen_state is not None:
                self._gen.set_state(self._gen_state)
                self._gen_state = None
        return self._gen

    def draw_sets(self, signal: torch.Tensor, num_context: int | None = None, generator=None) -> SetBatch:
        return (self.focus_sampler or self.sampler)(signal, generator or self.generator, num_context=num_context)

    def forward(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor) -> torch.Tensor:
        return self.model(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]

    # ---- training ---------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        signal = batch["signal"]  # [B, V, *grid]
        if not torch.isfinite(signal).all():
            raise FloatingPointError(f"NaN/Inf in the training data at global step {self.global_step}, batch {batch_idx}"
                                     + (f" (items {batch['index'].tolist()})" if "index" in batch else ""))
        if not self._prior_checked:
            self._prior_checked = True
            if self.global_step == 0:  # a fresh run, not a resumed one
                self.init_bin_prior(signal)
        sets = self.draw_sets(signal)
        observed = self.draw_split(sets.num_context)
        if self.dist.framed:  # one Gaussian: the whole head is V + 1 outputs, and the frame rides on the params
            loss = self.dist.loss(self.model(sets.ctx_pos, sets.ctx_val, sets.qry_pos, observed), sets.qry_val).mean()
        else:
            feats = self.model.features(sets.ctx_pos, sets.ctx_val, sets.qry_pos, observed)  # [B, Q, D]
            # the head is applied inside the loss, to the rows the loss reads (all logits, the nearest bin's V + 1)
            loss = self.dist.head_loss(feats, self.model.head, sets.qry_val).mean()
        if not torch.isfinite(loss):
            if self.hparams.nonfinite == "error":
                raise FloatingPointError(
                    f"non-finite training loss {loss.item()} at global step {self.global_step}, batch {batch_idx} "
                    f"(|S|={sets.num_context}); set model.nonfinite=skip to skip such batches")
            self.skipped_batches += 1
            self.log("train/skipped_batches", float(self.skipped_batches))
            return None
        bsz = signal.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bsz)
        self.log("train/num_context", float(sets.num_context), batch_size=bsz)
        return loss

    def draw_split(self, num_context: int) -> int | None:
        """The buffered encoder's split of a training set: how many of its (randomly ordered) samples are S,
        the rest being the buffer; None (all S) for the other encoders, with probability 1 - buffer_prob, and
        for sets of one sample."""
        if self.model.encoder_kind != "buffered" or num_context < 2:
            return None
        gen = self.generator
        if torch.rand((), generator=gen, device=gen.device).item() >= self.hparams.buffer_prob:
            return None
        return log_uniform_int(min(self.hparams.min_context, num_context - 1), num_context - 1, gen)

    @torch.no_grad()
    def init_bin_prior(self, signal: torch.Tensor, max_values: int = 200_000) -> torch.Tensor:
        """Set the head's bin-logit biases to log(0.5 freq + 0.5 / NB), freq the bin frequencies of the values in
        ``signal`` [B, V, *grid] (counts summed over DDP ranks so every rank sets the same biases); returns them [NB]."""
        nb, v = self.dist.num_bins, self.spec.val_dims
        if nb == 1:
            return self.model.head.bias[:1].clone()
        values = signal.flatten(2).transpose(1, 2).reshape(-1, v)  # [N, V]
        values = values[:: max(1, values.shape[0] // max_values)]  # [<= ~max_values, V]
        counts = torch.bincount(self.dist.nearest_bin(values), minlength=nb).float()  # [NB]
        if self._trainer is not None and self.trainer.world_size > 1:
            counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        log_freq = torch.log(0.5 * counts / counts.sum() + 0.5 / nb)  # [NB]
        self.model.head.bias[:nb] = log_freq
        return log_freq

    # ---- validation: NLL at fixed |S| (the same sets every epoch, on any number of ranks) -------------
    def nll_per_dim(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """-log p(v) in nats per value dimension: [B, Q, NP], [B, Q, V] -> [B, Q]."""
        return -self.dist.log_prob(params, value) / self.spec.val_dims

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        signal = batch["signal"]  # [B, V, *grid]
        keys = batch_keys(batch, batch_idx)
        for k in self.val_levels:
            sets = fixed_sets(self.sampler, signal, keys, k)
            nll = self.nll_per_dim(self(sets.ctx_pos, sets.ctx_val, sets.qry_pos), sets.qry_val)  # [B, Q]
            self.val_nll[str(k)].update(nll.mean(dim=1))

    def on_validation_epoch_end(self) -> None:
        values = []
        for k in self.val_levels:
            value = self.val_nll[str(k)].compute()
            self.log(f"val/nll@{k}", value)
            values.append(value)
            self.val_nll[str(k)].reset()
        self.log("val/nll", torch.stack(values).mean(), prog_bar=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # the |S| sweep lives in the domain's evaluation callback; this keeps a plain NLL for reference
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        for k in self.val_levels:
            self.log(f"test/nll@{k}", self.val_nll[str(k)].compute())
            self.val_nll[str(k)].reset()

    # ---- optimisation ----------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 else decay).append(p)
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": self.hparams.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=self.hparams.lr, fused=True)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self.trainer else 1
        warmup, floor = self.hparams.warmup_steps, self.hparams.min_lr_ratio

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ---- checkpoints ------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["pixeltransformer_format"] = CHECKPOINT_FORMAT
        checkpoint["set_sampler_rng"] = self.generator.get_state()
        checkpoint["torch_rng"] = torch.get_rng_state()
        checkpoint["skipped_batches"] = self.skipped_batches

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_checkpoint(checkpoint)
        if "set_sampler_rng" in checkpoint:
            self._gen_state = checkpoint["set_sampler_rng"].cpu()
            self._gen = None
        if "torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng"].cpu())
        self.skipped_batches = int(checkpoint.get("skipped_batches", 0))

    def check_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Raise a one-line ValueError when a checkpoint does not fit this module and its data."""
        hp = checkpoint.get("hyper_parameters", {})
        fmt = checkpoint.get("pixeltransformer_format")
        if fmt != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint format {fmt!r} is not supported by this version (expects {CHECKPOINT_FORMAT})")
        for key in ("distance_bias", "anchor_logits", "value_norm"):  # a checkpoint without the key has the option off
            was = bool(hp.get(key, False)) if hp else bool(self.hparams[key])
            if was != bool(self.hparams[key]):
                raise ValueError(f"checkpoint was trained with model.{key}={was}; pass --model.{key} {str(was).lower()}")
        # the encoders share their weights, but each samples with the conditionals it was trained for
        was = hp.get("encoder", "bidirectional") if hp else self.hparams.encoder
        if was != self.hparams.encoder:
            raise ValueError(f"checkpoint was trained with model.encoder={was}; pass --model.encoder {was}")
        saved = hp.get("spec") or {}
        mine = self.spec.to_dict()
        for key in ("domain", "grid_shape", "val_dims", "num_bins"):
            if key in saved and saved[key] != mine[key]:
                ours, theirs = ("", "") if key == "domain" else (f" with {key}={saved[key]}", f" with {key}={mine[key]}")
                raise ValueError(f"checkpoint is for {saved.get('domain')}/{saved.get('dataset')}{ours}, "
                                 f"but the data is {mine['domain']}/{mine['dataset']}{theirs}")

    # ---- inference conveniences used by callbacks and predict -----------------------------------------
    def grid_queries(self, batch: int, grid_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        pos = grid_positions(grid_shape or self.spec.grid_shape, device=self.device)  # [N, P]
        return pos.unsqueeze(0).expand(batch, -1, -1)  # [B, N, P]

    def predict_params(self, ctx_pos, ctx_val, qry_pos) -> torch.Tensor:
        return predict_params(self.model, ctx_pos, ctx_val, qry_pos, self.hparams.chunk)

    def mean_field(self, ctx_pos, ctx_val, qry_pos) -> torch.Tensor:
        return mean_field(self.model, self.dist, ctx_pos, ctx_val, qry_pos, self.hparams.chunk)

    def sample(self, ctx_pos, ctx_val, qry_pos, **kwargs) -> torch.Tensor:
        return sample(self.model, self.dist, ctx_pos, ctx_val, qry_pos, chunk=self.hparams.chunk, **kwargs)

    def complete(self, ctx_pos, ctx_val, grid_shape, **kwargs) -> Completion:
        """Mean and samples on a grid (see inference.complete): [B, V, *grid], [B, S, V, *grid]."""
        return complete(self.model, self.dist, ctx_pos, ctx_val, grid_shape, chunk=self.hparams.chunk, **kwargs)

    # ---- predict: a user's file (see predict.py) ----------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> Completion:
        """Complete one input of `pixeltransformer predict` on its grid (batches of one) -> a CPU Completion."""
        from .predict import PredictOptions

        opts = self.predict_options or PredictOptions()
        signal = batch.get("signal")  # [1, V, *grid] when the input was a file
        grid = self.domain.predict_grid(self.spec, opts.resolution)
        return self.complete(batch["ctx_pos"], batch["ctx_val"], grid, num_samples=opts.num_samples,
                             n_autoregressive=opts.n_autoregressive, temperature=opts.temperature, seed=opts.seed,
                             progress=True, signal=signal).cpu()


def resolve_domain(domain: Domain | str | None, spec: SignalSpec) -> Domain:
    """The module's Domain: as given, or by name from the loaded domains (a plain Domain when not loaded); its name
    must be the data's."""
    if isinstance(domain, str) or domain is None:
        name = domain or spec.domain
        domain = domain_for(name)() if name in Domain.registry else Domain()
    if domain.name and domain.name != spec.domain:
        raise ValueError(f"model.domain is the {domain.name!r} domain, but the data is {spec.domain!r}")
    return domain
