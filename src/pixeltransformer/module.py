"""The one LightningModule every domain trains with.

It turns dense batches into sets on the device, trains the paper's objective over the queries, and reports
validation NLL at fixed |S| levels: a mean over the distinct items validated, gathered from every DDP rank at the
epoch's end, so the same items give the same val/nll whatever the batch size and the number of devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import re
import warnings
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

from . import versions, written_by
from .config import NetConfig, ObjectiveConfig, OptimConfig, as_config, plain, unknown_hparams
from .data_mismatch import DataMismatch
from .datahints import source_name, trained_data
from .datamodule import SignalDataModule, module_spec
from .distribution import BinnedGaussian
from .domain import Domain, resolve_domain
from .encoding import MAX_ABS_POSITION, MAX_ABS_VALUE
from .errors import as_written, counted, range_as_written
from .evaluation import gather_item_values, left_out_line, tested_datamodule
from .inference import (Completion, as_input, check_finite, check_sampling, check_sets, check_weights, complete,
                        grid_index_hint, mean_field, missing_axis, predict_params, sample)
from .loading import CHECKPOINT_FORMAT, CheckpointError, format_error, nonfinite, reshaped_weights
from .memory import (completion_bytes, eval_step_bytes, grid_words, local_ranks, point_count, sample_bytes,
                     shortfall, train_step_bytes)
from .model import PixelTransformer
from .numerics import start_flushing, stop_flushing
from .progress import shows_progress
from .rank_states import RANK_SEED_OFFSET, rank_generator_state, ranks_note, state_digest
from .sets import (SetBatch, SetSampler, as_sampler, batch_keys, denser_than_signal, every_point_sets, fixed_sets,
                   grid_positions, grid_sizes, log_uniform_int, sampler_hparams)
from .signal import SignalSpec
from .trainer_limits import check_val_limit, ending_epochs, no_validation_note, overfit_note

# values this many half-widths of val_range from its middle are far from the model's: warned of in a fit's first
# batch (one Gaussian) and in log_prob's qry_val
FAR_REACH = 10.0
# values whose brightest passes this (a tenth of 255) are taken for a picture's 0-255 levels by levels_of_255
LEVELS_LEAST_HIGH = 25.5
MAX_SKIPPED_IN_A_ROW = 50  # model.optim.nonfinite=skip stops a run that skips this many batches in a row


def checkpoint_error(ckpt: dict) -> str | None:
    """The one-line refusal of a checkpoint this version cannot rebuild its model from: another format
    (:func:`format_error`), hyperparameters that are not a mapping or whose spec lacks what the signal needs (a
    KeyError's or TypeError's traceback), or that name options the module does not take; None where it can."""
    if message := format_error(ckpt.get("pixeltransformer_format")):
        return message
    hparams, damaged = ckpt["hyper_parameters"], "a damaged or edited checkpoint; use the file as its run saved it"
    spec = hparams.get("spec") if isinstance(hparams, dict) else None
    if not isinstance(spec, dict):
        what = "hold no spec (the signal's domain, grid and values)" if isinstance(hparams, dict) else \
            f"are {type(hparams).__name__}, not a mapping of options"
        return f"its hyper_parameters {what}: {damaged}"
    fields = {f.name: f for f in dataclasses.fields(SignalSpec)}
    if lacks := [name for name, f in fields.items() if name not in spec and f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING]:
        return f"its hyper_parameters' spec lacks {', '.join(lacks)}: {damaged}"
    return unknown_hparams(hparams, inspect.signature(PixelTransformerModule.__init__).parameters, fields,
                           written_by(ckpt))


# the stages whose setup checks a step's memory (check_stage_memory), and the DataModule's method giving their items
STAGE_ROWS = {"fit": "train_batches", "validate": "validation_set", "test": "test_set"}
# Lightning's precisions that cast the module's weights (the weights' dtype under each); "64" is 64-true's alias
WEIGHT_CASTING_PRECISIONS = {"16-true": "float16", "bf16-true": "bfloat16", "64-true": "float64", "64": "float64",
                             "transformer-engine": "bfloat16", "transformer-engine-float16": "float16"}


def check_precision(precision: Any) -> None:
    """Refuse a trainer precision that casts the weights: the model keeps them float32 (its distance bias and
    Fourier features run in float32, also under autocast), so such a run fails at its first forward pass. Mixed
    precision (bf16-mixed, 16-mixed) keeps the weights float32 and runs the matmuls in half precision."""
    dtype = WEIGHT_CASTING_PRECISIONS.get(str(precision)) if precision is not None else None
    if dtype is not None:
        raise ValueError(f"trainer.precision={precision} casts the model's weights to {dtype}, but they must stay "
                         "float32 (the distance bias and Fourier features run in float32): use 16-mixed or "
                         "bf16-mixed for half precision, or 32-true")


def grad_norms(grads: list[torch.Tensor]) -> torch.Tensor:
    """Each gradient tensor's L2 norm, [len(grads)]: the gradients are finite where every one is, which fails for any
    NaN or Inf entry and for entries so large their squares overflow, where AdamW's second moment would overflow too;
    their norm is the step's gradient norm. One fused kernel for all the tensors where torch has it; the max-norm
    would be exact but is ten times slower on a CPU."""
    norms = torch._foreach_norm(grads) if hasattr(torch, "_foreach_norm") else [torch.linalg.vector_norm(g)
                                                                                for g in grads]
    return torch.stack(norms)  # [len(grads)]


def replicated_grads(strategy: L.pytorch.strategies.Strategy) -> bool:
    """Whether each process holds the whole gradient, so that its norm is the step's: on one device, or under DDP
    itself (which has reduced it by now), not a subclass of it: DeepSpeed's and XLA's are, and a subclass may shard
    the gradients as FSDP does."""
    strategies = L.pytorch.strategies
    return isinstance(strategy, strategies.SingleDeviceStrategy) or type(strategy) is strategies.DDPStrategy


def validation_levels(levels, num_points: int, grid_points: bool) -> list[int]:
    """The |S| levels validation scores. At grid points, S of every point leaves no query unobserved: such levels
    are left out (half the grid where none is left); continuous positions are capped at the number of points."""
    if not grid_points:
        return sorted({min(int(k), num_points) for k in levels})
    return sorted({int(k) for k in levels if k < num_points}) or [max(1, num_points // 2)]


class PixelTransformerModule(L.LightningModule):
    """Train and evaluate a PixelTransformer on any domain's signals.

    Args:
        spec: the signal description; linked from the DataModule by the CLI.
        domain: the Domain (pictures, metrics, a user's files); its config names it by class_path, checkpoints
            by name (looked up among the loaded domains; a plain Domain when that one is not loaded).
        net: the network (NetConfig); sizes come from configs/model/<size>.yaml.
        objective: the distribution head and its loss (ObjectiveConfig).
        sets: the training set sampler: a SetSampler (|S| log-uniform; its focus_fraction/focus_band draw part of
            the training queries near a value band, while validation and evaluation keep uniform queries) or a
            subclass named by class_path. A module rebuilt from a checkpoint's hyperparameters gets the core's
            SetSampler back when the checkpoint names another class (a file never chooses what is imported).
        optim: the optimiser and the non-finite loss policy (OptimConfig).
        val_levels: |S| levels of the validation NLL: capped to the number of grid points; with S at grid points,
            levels of every point or more are left out (no query would be unobserved), as the evaluation does.
        seed: seeds the set sampler (each DDP rank offsets it, so ranks draw different sets; a checkpoint keeps each
            rank's state, see rank_generator_state).

    Each config may also be given as a plain dict (as checkpoints store them).
    """

    def __init__(
        self,
        spec: SignalSpec | dict | None = None,
        domain: Domain | str | None = None,
        net: NetConfig = NetConfig(),
        objective: ObjectiveConfig = ObjectiveConfig(),
        sets: SetSampler | None = None,
        optim: OptimConfig = OptimConfig(),
        val_levels: tuple[int, ...] = (4, 16, 64, 256),
        seed: int = 0,
    ):
        super().__init__()
        if spec is None:
            raise ValueError("PixelTransformerModule needs a SignalSpec (the CLI links it from the DataModule)")
        if not len(val_levels) or min(val_levels) < 1:
            raise ValueError(f"model.val_levels must list |S| levels >= 1, got {list(val_levels)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not -2 ** 63 <= seed < 2 ** 63:
            # each rank seeds a torch generator with seed + RANK_SEED_OFFSET * rank: beyond 64 bits it failed at
            # the first training step with "Overflow when unpacking long long"
            raise ValueError(f"model.seed must be a whole number in [-2^63, 2^63), got {seed!r}")
        self.spec = SignalSpec.from_dict(spec)
        self.domain = resolve_domain(domain, self.spec)
        self.net_config = as_config(NetConfig, net, "net")
        self.objective_config = as_config(ObjectiveConfig, objective, "objective")
        self.optim_config = as_config(OptimConfig, optim, "optim")
        # training; validation draws the same sets with uniform queries
        self.sampler = as_sampler(sets, self.domain.samplers)
        self.save_hyperparameters({"spec": self.spec.to_dict(), "domain": self.domain.name or self.spec.domain,
                                   "net": plain(self.net_config),
                                   "objective": plain(self.objective_config), "sets": sampler_hparams(self.sampler),
                                   "optim": plain(self.optim_config), "val_levels": [int(k) for k in val_levels],
                                   "seed": int(seed)})

        self.dist = BinnedGaussian.from_config(self.spec, self.objective_config, framed=self.net_config.value_norm)
        self.model = PixelTransformer.from_config(self.net_config, self.spec, self.dist.num_params)
        self.val_sampler = self.sampler.uniform()
        grid_points = getattr(self.val_sampler, "grid_points", False)
        self.val_levels = validation_levels(val_levels, self.spec.num_points, grid_points)
        # the levels validation leaves out, said at its first epoch (_say_left_out_levels); continuous positions: none
        self.left_out_levels = sorted({int(k) for k in val_levels} - set(self.val_levels)) if grid_points else []
        # this rank's validation (or test) NLLs so far: item keys [B] and, per |S| level, NLLs [B], one per batch
        self._val_keys: list[torch.Tensor] = []
        self._val_nll: dict[int, list[torch.Tensor]] = {}
        self.forget_val_nll()
        self.skipped_batches = 0  # in the whole run (kept in checkpoints)
        self.skipped_in_a_row = 0
        self._step_note: tuple[int, int, float] | None = None  # this step's batch index, |S| and loss
        self._fit_first_step: int | None = None  # the global step a fit (or its resume) started at
        self._loss_finite = True  # this step's losses so far, on this rank (under DDP)
        self._returned_none = False  # the last training_step skipped its batch (one process)
        self._gen: torch.Generator | None = None
        self._gen_state: torch.Tensor | int | None = None  # from a checkpoint: this rank's state, or a derived seed
        self._prior_checked = not self.objective_config.bin_prior_init
        self.predict_options = None  # set by `pixeltransformer predict` (a PredictOptions)
        self.cli_options = False  # built by the command line: its notes name the options as the command line does
        self.trained_dataset: str | None = None  # the dataset of the checkpoint being evaluated, when known
        self.trained_source: str | None = None  # and the name of the file or folder it was read from, where it says
        self.trained_steps: int | None = None  # and the training step it was saved at
        self.trained_epoch: int | None = None  # and its epoch
        # the trainer whose fit loop's step and epoch an evaluation set aside, and those counts
        self._fit_logger_step: tuple[Any, int, int] | None = None

    # ---- sets ---------------------------------------------------------------------------------------
    @property
    def generator(self) -> torch.Generator:
        """The training set sampler's generator, seeded per rank; each rank's state travels in checkpoints."""
        if self._gen is None or self._gen.device != self.device:
            state, self._gen_state = self._gen_state, None
            self._gen = torch.Generator(device=self.device)
            self._gen.manual_seed(state if isinstance(state, int) else
                                  self.hparams.seed + RANK_SEED_OFFSET * self.global_rank)
            if isinstance(state, torch.Tensor):
                try:
                    self._gen.set_state(state)
                except RuntimeError:  # saved on another kind of device (a CPU state is 5056 bytes, a CUDA one 16)
                    self._gen.manual_seed(state_digest(state, self.global_rank))
                    if self.global_rank == 0:
                        print(f"[pixeltransformer] the checkpoint's set-sampler random state is for another kind of "
                              f"device than {self.device.type}: the sets continue from a state derived from it",
                              flush=True)
        return self._gen

    def draw_sets(self, signal: torch.Tensor, num_context: int | None = None, generator=None) -> SetBatch:
        return self.sampler(signal, generator or self.generator, num_context=num_context)

    def forward(self, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor) -> torch.Tensor:
        """The distribution's parameters at the queries, with the graph (to differentiate through the model):
        ctx_pos [B, K, P], ctx_val [B, K, V], qry_pos [B, Q, P] tensors on the module's device, values in its
        weights' dtype -> [B, Q, NP]; read them with ``self.dist`` (log_prob, mean, sample). Shapes, dtypes and NaN
        or Inf are refused in one line, as the conveniences (log_prob, mean_field, sample, complete) refuse them;
        those also convert numpy input. Under torch.compile and torch.func (vmap, grad) NaN and Inf pass unchecked."""
        check_sets(self.model, ctx_pos, ctx_val, qry_pos)
        check_finite(ctx_pos=ctx_pos, ctx_val=ctx_val, qry_pos=qry_pos)  # one NaN made every answer NaN, silently
        return self.model(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]

    # ---- numerics: every stage (fit, validate, test, predict) flushes subnormals on its thread (numerics.py) ----
    def setup(self, stage: str) -> None:
        self.restore_fit_counts()  # an evaluation that raised had no teardown
        trainer = self._trainer
        debugging = trainer is not None and (trainer.fast_dev_run or trainer.overfit_batches)  # they set the limit
        # the stage's own: trainer.datamodule may be an earlier fit's, where the stage was given dataloaders alone
        datamodule = tested_datamodule(trainer, stage) if trainer is not None else None
        data = module_spec(datamodule) if stage != "predict" and isinstance(datamodule, SignalDataModule) else None
        for spec in (self.spec,) if data is None or data == self.spec else (self.spec, data):  # the data's too
            if refusal := self.sampler_refusal(stage, spec):
                raise ValueError(refusal)
        if stage in ("fit", "validate") and trainer is not None and not debugging:
            check_val_limit(trainer.limit_val_batches, python=True)  # the command line refused it before the run
        if stage == "fit" and (note := denser_than_signal(self.sampler, self.spec, python=not self.cli_options)) \
                and self.global_rank == 0:
            warnings.warn(note, stacklevel=2)
        if stage in STAGE_ROWS and callable(getattr(datamodule, STAGE_ROWS[stage], None)):
            self.check_stage_memory(trainer, datamodule, stage)
        if stage != "predict" and isinstance(datamodule, SignalDataModule):
            self.name_data_source(datamodule)
        self._flushing_started = start_flushing()

    def sampler_refusal(self, stage: str, spec: SignalSpec) -> str | None:
        """One line where the module's set sampler cannot serve a stage on data of ``spec``: the stages whose steps
        draw sets with it (fit, validate, test) where it cannot read the data (Domain.sampler_problem: a shape
        traceback there), and a fit where it would draw every point (every_point_sets); None where it can. The CLI
        asks before the run folder is made, setup as the stage starts (in Python)."""
        if stage in ("fit", "validate", "test") and (refusal := self.domain.sampler_problem(self.sampler, spec)):
            return refusal
        return every_point_sets(self.sampler, spec) if stage == "fit" else None

    def name_data_source(self, datamodule: SignalDataModule) -> None:
        """The name of the file or folder the data is read from, in this module's spec as the command line links it
        (datamodule.module_spec), where the module was built in Python from the DataModule's own spec: a checkpoint
        then records what it was trained on, and an evaluation of another folder writes beside the run's own
        (eval_folder), whichever way the module was built. A spec that differs from the data's in anything else is
        the user's own and stays as given."""
        if "source" in self.spec.extra:
            return
        data = module_spec(datamodule)
        source = data.extra.get("source")
        if source is None or dataclasses.replace(self.spec, extra={**self.spec.extra, "source": source}) != data:
            return
        self.spec = self.domain.spec = data
        self.hparams["spec"] = data.to_dict()  # what the checkpoint records
        if hasattr(self, "_hparams_initial"):  # what the loggers record (hparams.yaml, W&B's config), after setup
            self._hparams_initial["spec"] = data.to_dict()

    def teardown(self, stage: str) -> None:
        stop_flushing(getattr(self, "_flushing_started", False))
        self._flushing_started = False
        self.restore_fit_counts()

    def on_test_start(self) -> None:
        self.chart_at_checkpoint_step()

    def on_validation_start(self) -> None:
        if self.trainer.state.fn != TrainerFn.FITTING:
            self.chart_at_checkpoint_step()

    def chart_at_checkpoint_step(self) -> None:
        """An evaluation of a checkpoint logs its metrics and pictures at the training step of its weights, less one,
        and their epoch, where its fit logged the validation of the same weights (media.logger_step): they were
        charted at step 0 of epoch 0, as if untrained, and beside every other evaluation of the run folder. Lightning
        logs at the fit loop's count of stepped batches and epochs, which an evaluation does not restore; set here,
        they are put back at teardown, or at the next setup of a run that raised (Lightning calls no teardown then).
        A Lightning without that count (a private attribute) charts at its own step."""
        if self._fit_logger_step is not None and self._fit_logger_step[0] is self.trainer:
            return  # set aside already
        self.restore_fit_counts()  # another trainer's, whose evaluation raised
        loop, progress = self.trainer.fit_loop.epoch_loop, self.trainer.fit_loop.epoch_progress.current
        if not self.trained_steps or not hasattr(loop, "_batches_that_stepped"):
            return
        self._fit_logger_step = self.trainer, loop._batches_that_stepped, progress.completed
        loop._batches_that_stepped = self.trained_steps - 1
        progress.completed = self.trained_epoch or 0

    def restore_fit_counts(self) -> None:
        """Put the fit loop's count an evaluation set aside (chart_at_checkpoint_step) back into the trainer it was
        taken from: a fit run after the evaluation counts its own steps."""
        if self._fit_logger_step is None:
            return
        trainer, step, epoch = self._fit_logger_step
        trainer.fit_loop.epoch_loop._batches_that_stepped, trainer.fit_loop.epoch_progress.current.completed = \
            step, epoch
        self._fit_logger_step = None

    def __getstate__(self) -> dict[str, Any]:
        # its trainer, which Lightning leaves out of a pickled module (ddp_spawn's): a copy charts nothing aside
        return {**super().__getstate__(), "_fit_logger_step": None}

    # ---- training ---------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor | None:
        self._returned_none = False
        signal = self.finite_signal(batch, batch_idx, "training")  # [B, V, *grid]
        if not self._prior_checked:
            self._prior_checked = True
            self.warn_far_values(signal)
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
        value = float(loss.detach())  # a wait for the device, as are |S|, the split and the finite checks
        self._step_note = (batch_idx, sets.num_context, value)  # named if its gradients are not finite
        if not math.isfinite(value):
            if self._trainer is not None and self.trainer.world_size > 1:
                # Lightning cannot skip a step on one rank alone: the step goes on, and the ranks stop or skip it
                # together once its gradients are reduced (on_before_optimizer_step)
                self._loss_finite = False
                return loss
            self.nonfinite_batch(f"non-finite training loss {value}")
            self._returned_none = True  # Lightning takes no optimizer step for this batch
            return None
        bsz = signal.shape[0]
        if not self.distributed:  # under DDP the ranks' mean, once they agree it is finite (on_before_optimizer_step)
            self.log("train/loss", loss, prog_bar=True, batch_size=bsz)
        self.log("train/num_context", float(sets.num_context), batch_size=bsz)
        if self._trainer is not None and self.trainer.optimizers:
            # the rate this batch's optimizer step applies (warmup, cosine decay: configure_optimizers), beside its
            # loss; both parameter groups share it. Lightning's LearningRateMonitor would log one key per group
            self.log("train/lr", float(self.trainer.optimizers[0].param_groups[0]["lr"]), batch_size=bsz)
        return loss

    # ---- non-finite training: one policy (model.optim.nonfinite) for the loss and the gradients -------------
    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Gradients with a NaN or Inf (a finite loss can overflow in backward) would turn every weight into NaN at
        the optimizer step, and the next checkpoint would save them: such a batch is stopped or skipped as a non-finite
        loss is. The ranks decide together (under DDP the gradients are already reduced; sharded strategies hold a
        shard each). An fp16 loss scaler skips such steps itself and is left to do so. A finite step logs its
        gradient norm before clipping (train/grad_norm) where the norms are the whole gradient's, fp16 aside (its
        gradients are still scaled here)."""
        if self._returned_none:  # counted in training_step, and Lightning takes no step (one process only)
            return
        loss_finite, self._loss_finite = self._loss_finite, True  # this step's losses, on this rank
        grads = [p.grad.detach() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        scaler = getattr(getattr(self._trainer, "precision_plugin", None), "scaler", None)
        norms = grad_norms(grads) if loss_finite and scaler is None and grads else None  # [len(grads)]
        finite = loss_finite and (norms is None or bool(torch.isfinite(norms).all()))
        if self.distributed:
            finite = self.reduce_step(finite, loss_finite)
        elif self._trainer is not None:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            self.skipped_in_a_row = 0
            if norms is not None and self._trainer is not None and replicated_grads(self.trainer.strategy):
                self.log("train/grad_norm", torch.linalg.vector_norm(norms))  # the step's, as clipping reads it
            return
        loss = self._step_note[2] if self._step_note else float("nan")
        self.nonfinite_batch(f"non-finite {'gradients' if loss_finite else 'training loss'} (loss {loss:.4g})")
        if scaler is None:  # a loss scaler skips a step with non-finite gradients itself, and needs them to tell
            for group in optimizer.param_groups:  # the optimizer leaves parameters without a gradient as they are
                for p in group["params"]:
                    p.grad = None

    @property
    def distributed(self) -> bool:
        """Whether this module trains in more than one process (DDP and the like)."""
        return self._trainer is not None and self.trainer.world_size > 1

    def reduce_step(self, finite: bool, loss_finite: bool) -> bool:
        """Under DDP, in one collective (every rank comes here once per optimizer step): whether every rank's step is
        finite (losses and gradients: the ranks stop or skip together), and the sum of the ranks' batch losses, whose
        mean is logged as train/loss when every rank's loss is finite (logged in training_step, each rank's own loss,
        the dashboard showed rank zero's; a sync_dist there would hang when a rank with a non-finite loss skips it).
        With gradient accumulation it is the step's last batch's loss, as a single process's dashboard shows it."""
        loss = self._step_note[2] if loss_finite and self._step_note else 0.0
        local = torch.tensor([float(not finite), float(not loss_finite), loss], device=self.device)  # [3]
        unfinished, nonfinite_losses, total = self.trainer.strategy.reduce(local, reduce_op="sum").tolist()
        if nonfinite_losses == 0:
            self.log("train/loss", total / self.trainer.world_size, prog_bar=True)
        return unfinished == 0

    def nonfinite_batch(self, what: str) -> None:
        """A training batch whose loss or gradients are not finite: stop with one line naming the step and the last
        checkpoint saved ("error"), or count it and leave the weights as they are ("skip"; the progress lines show
        the count). Skipping MAX_SKIPPED_IN_A_ROW batches in a row means the run has diverged: it stops then too."""
        batch_idx, num_context, _ = self._step_note or (None, None, None)
        where = f"at global step {self.global_step}" + (f", batch {batch_idx} (|S|={num_context})"
                                                        if batch_idx is not None else "")
        if self.optim_config.nonfinite == "error":
            if self.global_step == self._fit_first_step == 0:  # the weights are those the fit was built with
                raise FloatingPointError(f"{what} {where}{self.saved_note()}; the fit had taken no optimizer step, "
                                         "so its learning rate is not the cause: look at the data, the model's "
                                         "options and trainer.precision")
            if self.global_step == self._fit_first_step:  # a resume: the weights are the checkpoint's
                raise FloatingPointError(f"{what} {where}{self.saved_note()}; the fit resumed at this step and had "
                                         "taken no optimizer step since, so the checkpoint's weights give it: resume "
                                         "an earlier checkpoint, or lower model.optim.lr")
            raise FloatingPointError(f"{what} {where}{self.saved_note()}; lower model.optim.lr, or set "
                                     "model.optim.nonfinite=skip to skip such batches")
        self.skipped_batches += 1
        self.skipped_in_a_row += 1
        self.log("train/skipped_batches", float(self.skipped_batches), prog_bar=True)
        if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            raise FloatingPointError(f"{self.skipped_in_a_row} training batches in a row had a non-finite loss or "
                                     f"gradients, up to global step {self.global_step} (model.optim.nonfinite=skip "
                                     f"skipped them): the run has diverged{self.saved_note()}; lower model.optim.lr")

    def saved_note(self) -> str:
        """'; the last checkpoint saved is <path> (step N)', or that none was saved yet; '' outside a fit."""
        callback = self.trainer.checkpoint_callback if self._trainer is not None else None
        if callback is None:
            return ""
        # the file, not the callback's record: while a checkpoint is being saved, the record names it already
        path = next((p for p in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", ""))
                     if p and Path(p).is_file()), None)
        if path is None:
            return "; no checkpoint of this run was saved yet"
        step = getattr(callback, "_last_global_step_saved", 0)
        return f"; the last checkpoint saved is {path}" + (f" (step {step})" if step else "")

    def on_train_end(self) -> None:
        if self.skipped_batches and self.global_rank == 0:
            were = "were" if self.skipped_batches > 1 else "was"
            warnings.warn(f"{counted(self.skipped_batches, 'training batch')} {were} "
                          "skipped for a non-finite loss or gradients (model.optim.nonfinite=skip)", stacklevel=2)

    def finite_signal(self, batch: dict[str, torch.Tensor], batch_idx: int, split: str) -> torch.Tensor:
        """The batch's signal [B, V, *grid], refused in one line naming its items when it holds NaN or Inf: training
        would stop at a NaN loss, and a validation or evaluation would leave such items out of its means."""
        signal = batch["signal"]  # [B, V, *grid]
        if not torch.isfinite(signal).all():
            bad = ~torch.isfinite(signal.flatten(1)).all(1)  # [B]
            items = (batch["index"][bad] if "index" in batch else bad.nonzero()[:, 0]).tolist()
            raise FloatingPointError(f"NaN/Inf in the {split} data at global step {self.global_step}, batch "
                                     f"{batch_idx} ({'items' if 'index' in batch else 'rows'} {items})")
        return signal

    def draw_split(self, num_context: int) -> int | None:
        """The buffered encoder's split of a training set: how many of its (randomly ordered) samples are S,
        the rest being the buffer; None (all S) for the other encoders, with probability 1 - buffer_prob, and
        for sets of one sample."""
        if self.model.encoder_kind != "buffered" or num_context < 2:
            return None
        gen = self.generator
        if torch.rand((), generator=gen, device=gen.device).item() >= self.net_config.buffer_prob:
            return None
        return log_uniform_int(min(self.sampler.min_context, num_context - 1), num_context - 1, gen)

    @torch.no_grad()
    def warn_far_values(self, signal: torch.Tensor, reach_limit: float = FAR_REACH) -> float:
        """Warn, once a fit, where one Gaussian without a value frame meets values [B, V, *grid] far beyond its
        val_range. With bins the DataModule refuses such values (check_item); one Gaussian's range only normalises,
        so values 1e5 times its half-width gave a loss of 8.5e9 and trained on without a word. Returns how many
        half-widths from the range's middle the values reach."""
        if self.spec.num_bins > 1 or self.net_config.value_norm:
            return 0.0
        measured = self.spec.value_reach(signal[:, : self.spec.val_dims])  # of values [B, V, *grid]
        if far := self.far_span("the first training batch's values span", measured, "val_range", reach_limit):
            warnings.warn(f"{far}, the units one Gaussian without a value frame reads them in: give the data's range "
                          f"as its val_range ({self.range_option()}), or set model.net.value_norm: true")
        return measured[2]

    def far_span(self, what: str, measured: tuple[float, float, float], range_name: str = "the model's val_range",
                 limit: float = FAR_REACH) -> str | None:
        """The opening of a warning of values far from the model's range, from what ``spec.value_reach`` measured
        of them (low, high, reach): '<what> [low, high], R times the half-width of <range_name> [lo, hi]', where
        they reach over ``limit`` half-widths from its middle; else None."""
        low, high, reach = measured
        if reach <= limit:
            return None
        lo, hi = self.spec.val_range
        return (f"{what} [{low:.4g}, {high:.4g}], {reach:.3g} times the half-width of {range_name} "
                f"[{lo:.4g}, {hi:.4g}]")

    def range_option(self) -> str:
        """Where the data's val_range is set: the DataModule's option where it takes one (the built-in 1D data),
        else its spec (a DataModule of one's own)."""
        datamodule = getattr(self._trainer, "datamodule", None)
        if datamodule is None or "val_range" in inspect.signature(type(datamodule).__init__).parameters:
            return "data.init_args.val_range"
        return f"the SignalSpec that {type(datamodule).__name__}.spec returns"

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
        """-log p(v) in nats per value dimension: [B, Q, NP], [B, Q, V] -> [B, Q], float32: under bf16-mixed the head
        gives bf16 parameters, whose density (a log-sum-exp of terms of size 1e2) bf16 rounds by 0.005 nats a query."""
        return -self.dist.log_prob(params.float(), value.float()) / self.spec.val_dims  # [B, Q]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        testing = self._trainer is not None and self.trainer.testing
        signal = self.finite_signal(batch, batch_idx, "test" if testing else "validation")  # [B, V, *grid]
        keys = batch_keys(batch, batch_idx)  # the items' split indices: they seed each item's sets
        self._val_keys.append(torch.as_tensor(keys))  # [B]
        for k in self.val_levels:
            sets = fixed_sets(self.val_sampler, signal, keys, k)
            # the network itself, as training_step: the signal was checked finite above
            params = self.model(sets.ctx_pos, sets.ctx_val, sets.qry_pos)  # [B, Q, NP]
            nll = self.nll_per_dim(params, sets.qry_val)  # [B, Q]
            self._val_nll[k].append(nll.mean(dim=1).detach())  # [B]

    def val_nll_means(self) -> dict[int, float]:
        """Each level's NLL averaged over the distinct items scored since the last call, on every rank (a
        collective under DDP, which every rank must call), and forget them. An item a rank met twice, or two ranks
        met (the padding of a DistributedSampler), counts once; a NaN NLL makes its level's mean NaN, so no best
        checkpoint is chosen by it."""
        keys = torch.cat(self._val_keys).tolist() if self._val_keys else []  # [N]
        values = {(k, "nll"): dict(zip(keys, torch.cat(parts).float().cpu().tolist())) if parts else {}
                  for k, parts in self._val_nll.items()}  # one wait for the device per level and epoch
        self.forget_val_nll()
        if self._trainer is not None:
            values, _ = gather_item_values(self.trainer, values, set(keys))
        means = {}
        for k in self.val_levels:
            per_item = values.get((k, "nll"), {})  # {item key: NLL}, every rank's
            # summed in item order, so that any sharding of the same items adds the same numbers the same way
            means[k] = sum(per_item[key] for key in sorted(per_item)) / len(per_item) if per_item else math.nan
        return means

    def forget_val_nll(self) -> None:
        self._val_keys = []
        self._val_nll = {k: [] for k in self.val_levels}

    def on_validation_epoch_start(self) -> None:
        self.forget_val_nll()  # a sanity check's batches, or a validation an error cut short, count in no epoch
        self._say_left_out_levels()

    def _say_left_out_levels(self) -> None:
        """The first process says once, as the first validation starts, which of model.val_levels it leaves out
        because S would hold every point (:func:`validation_levels`), as the evaluation says of its own levels."""
        if not self.left_out_levels or not getattr(self._trainer, "is_global_zero", False):
            return
        dropped, self.left_out_levels = self.left_out_levels, []
        stage = getattr(self.trainer.state.fn, "value", "fit")
        place = "" if set(self.val_levels) <= set(self.hparams.val_levels) else (
            " in its place" if len(dropped) == 1 else " in their place")
        scored = ", ".join(map(str, self.val_levels))
        print(left_out_line(stage, dropped, self.spec, f"left out of validation, which scores |S| = {scored}{place} "
                            "(no query would be held out)"), flush=True)

    def on_test_epoch_start(self) -> None:
        self.forget_val_nll()

    def on_validation_epoch_end(self) -> None:
        self.log_nll_means("val/nll", prog_bar=True)

    def log_nll_means(self, name: str, prog_bar: bool = False) -> None:
        """Log each level's NLL as <name>@k and their mean as <name> (val/nll: the best checkpoint's choice)."""
        means = self.val_nll_means()
        for k, value in means.items():
            self.log(f"{name}@{k}", value, sync_dist=True)  # the same on every rank (gathered): no warning
        self.log(name, sum(means.values()) / len(means), prog_bar=prog_bar, sync_dist=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        # the |S| sweep lives in the domain's evaluation callback (metrics.json's nll: the queries not in S); this
        # is the validation's NLL on the test split, named as such, to set beside val/nll@k
        self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self.log_nll_means("test/val_nll")  # the mean beside the fit's val/nll_best in W&B's runs table

    # ---- optimisation ----------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 else decay).append(p)
        cfg = self.optim_config
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, fused=True)
        total = self._schedule_steps()
        warmup, floor = cfg.warmup_steps, cfg.min_lr_ratio
        # said by a fit's first process (a benchmark's stand-in trainer, without ranks, builds its schedule quietly)
        if getattr(self._trainer, "is_global_zero", False) and (note := cfg.short_fit_note(
                total, ending_epochs(self._trainer, total), python=not self.cli_options)):
            print(f"[pixeltransformer] {note}", flush=True)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _schedule_steps(self) -> int | float:
        """The optimizer steps the schedule's cosine decay ends at: the fit's; inf where trainer.max_time stops it."""
        stepping = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
        return max(1, int(stepping)) if math.isfinite(stepping) else math.inf

    def on_train_start(self) -> None:
        """A fit that never validates says so (:meth:`_say_no_validation`). A resume restores the optimizer and its
        schedule with the learning rate and weight decay they were built with; the run's config, and an option given
        on resuming (`--model.optim.lr`), apply instead, and a rate that moves so is said. On a fresh start this
        sets what configure_optimizers built. The step the fit starts at is kept: a non-finite loss there comes from
        the weights it started with."""
        self._fit_first_step = self.global_step
        self.trained_steps = self.trained_epoch = None  # the weights are the fit's now, whatever checkpoint they began
        self._say_no_validation()
        if self._trainer is None or not self.trainer.optimizers or not self.trainer.lr_scheduler_configs:
            return
        cfg = self.optim_config
        opt, sched = self.trainer.optimizers[0], self.trainer.lr_scheduler_configs[0].scheduler
        opt.param_groups[0]["weight_decay"] = cfg.weight_decay  # [decay, no_decay] as configure_optimizers built them
        sched.base_lrs = [cfg.lr] * len(opt.param_groups)
        restored = opt.param_groups[0]["lr"]  # the checkpoint's schedule's rate at its step
        for group, factor in zip(opt.param_groups, sched.lr_lambdas):
            group["initial_lr"], group["lr"] = cfg.lr, cfg.lr * factor(sched.last_epoch)
        if getattr(self._trainer, "is_global_zero", False) and (note := cfg.rebuilt_schedule_note(
                sched.last_epoch, restored, opt.param_groups[0]["lr"], self._schedule_steps())):
            print(f"[pixeltransformer] {note}", flush=True)

    def _say_no_validation(self) -> None:
        """The first process of a fit whose steps never reach its validation says so once, as it starts
        (:func:`no_validation_note`); so does one whose validation trainer.overfit_batches limits
        (:func:`overfit_note`)."""
        if getattr(self._trainer, "is_global_zero", False) and (
                note := no_validation_note(self.trainer, python=not self.cli_options) or
                overfit_note(self.trainer, python=not self.cli_options)):
            print(f"[pixeltransformer] {note}", flush=True)

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Under mixed precision, clip the gradients the fused AdamW is about to apply here. Lightning's
        mixed-precision plugin refuses any clipping with a fused optimizer (it assumes the gradients are still
        loss-scaled), which stopped every bf16-mixed run at its first step; bf16 has no loss scale, and under fp16's
        scaler the gradients are unscaled first (the scaler's step then applies them as they are). Other precision
        plugins (fp32, and those of sharded strategies) clip as Lightning does."""
        from lightning.pytorch.plugins.precision import MixedPrecision

        plugin = self.trainer.precision_plugin if self._trainer is not None else None
        if plugin is not None and not isinstance(plugin, MixedPrecision):
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        if not gradient_clip_val or self._returned_none:  # a skipped step: its scaler is not updated either, so an
            return  # unscale_ here would be its second before the next step's
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not params:
            return
        scaler = getattr(plugin, "scaler", None)
        if scaler is not None:
            scaler.unscale_(optimizer)  # scaler.step then skips its own unscale
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)

    # ---- checkpoints ------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # before anything is written: the last checkpoint keeps the last finite weights
        if bad := nonfinite(self.model.named_parameters(prefix="model")):
            raise FloatingPointError(f"the weights hold NaN or Inf at global step {self.global_step} ({bad}) after an "
                                     f"optimizer step with a finite loss and gradients: lower model.optim.lr (now "
                                     f"{self.optim_config.lr:g}); not saved{self.saved_note()}")
        checkpoint["pixeltransformer_format"] = CHECKPOINT_FORMAT
        checkpoint["pixeltransformer"] = versions()  # which versions wrote it (none: one before they were recorded)
        # Lightning dumps the checkpoint on every rank (rank zero writes it), so this gather runs on all of them
        states = self.gather_ranks(self.generator.get_state())  # [W, S]
        checkpoint["set_sampler_rng"] = states[0].clone()  # [S]: rank zero's, which earlier versions kept alone
        checkpoint["set_sampler_rng_ranks"] = states
        # training draws nothing from the global generator (the sets come from the one above, the data order from the
        # sampler's own; the DataLoader's worker seeds, no dataset uses), and seed_everything gives every rank the same
        # one: rank zero's serves every rank
        checkpoint["torch_rng"] = torch.get_rng_state()
        checkpoint["skipped_batches"] = self.skipped_batches

    def gather_ranks(self, state: torch.Tensor) -> torch.Tensor:
        """Every rank's generator state [S] (uint8) -> [W, S], by rank: a collective under DDP, which every rank
        must call."""
        if self._trainer is None or self.trainer.world_size == 1:
            return state[None]  # [1, S]
        return self.all_gather(state.to(self.device)).reshape(-1, state.numel()).cpu()  # [W, S]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_checkpoint(checkpoint)
        self.use_checkpoint_bins(checkpoint)
        saved = (checkpoint.get("hyper_parameters") or {}).get("spec") or {}
        self.trained_dataset, self.trained_source = saved.get("dataset"), source_name(saved)
        self.trained_steps = checkpoint.get("global_step")
        self.trained_epoch = checkpoint.get("epoch")
        if "set_sampler_rng" in checkpoint:
            states = checkpoint.get("set_sampler_rng_ranks")
            states = checkpoint["set_sampler_rng"][None] if states is None else states  # [W', S]
            world = self.trainer.world_size if self._trainer is not None else 1
            fitting = self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING
            if fitting and self.global_rank == 0 and len(states) != world:
                print(f"[pixeltransformer] {ranks_note(len(states), world)}", flush=True)
            self._gen_state = rank_generator_state(states, self.global_rank)
            self._gen = None
        if "torch_rng" in checkpoint:
            torch.set_rng_state(checkpoint["torch_rng"].cpu())
        self.skipped_batches = int(checkpoint.get("skipped_batches", 0))

    def check_checkpoint(self, checkpoint: dict[str, Any], path: str | None = None) -> None:
        """Raise a one-line ValueError when a checkpoint does not fit this module and its data; ``path`` (default: the
        trainer's ckpt_path) names the file where its weights do not fit."""
        hp = checkpoint.get("hyper_parameters", {})
        message = format_error(checkpoint.get("pixeltransformer_format"))
        if message:
            raise ValueError(message)
        saved, data = hp.get("spec") or {}, self.spec.to_dict()
        if saved.get("domain", data["domain"]) != data["domain"]:  # the cause, before any option it would fail on
            raise DataMismatch(f"checkpoint is for {saved['domain']}/{saved.get('dataset')}, "
                               f"but the data is {data['domain']}/{data['dataset']}")
        # the size and heads shape the weights (a resume that changed them would fail on the first tensor, or train
        # another split of heads silently); the encoders share their weights, but each samples with the conditionals
        # it was trained for
        options = [("net", "width"), ("net", "encoder_layers"), ("net", "decoder_layers"), ("net", "heads"),
                   ("net", "ffn"), ("net", "fourier_features"), ("net", "encoder"), ("net", "distance_bias"),
                   ("objective", "anchor_logits"), ("net", "value_norm"), ("net", "attention_sink")]
        for group, key in options:
            mine = getattr(getattr(self, f"{group}_config"), key)
            was = (hp.get(group) or {}).get(key, mine)
            if was != mine:
                shown = str(was).lower() if isinstance(was, bool) else was
                # a fit from a checkpoint on another dataset's config (configs/polynomial.yaml with a gp_rbf run's
                # checkpoint: a new run's --ckpt_path, or trainer.fit(ckpt_path=...) from Python; a resume on other
                # data is refused before, check_resume_data): the option is only the first thing that differs, so
                # name the data as well
                other = (f" on {saved['domain']}/{saved['dataset']} data, but the data is now {data['domain']}/"
                         f"{data['dataset']} (other data's config: other model options may differ too)"
                         if saved.get("dataset", data["dataset"]) != data["dataset"] else "")
                raise ValueError(f"checkpoint was trained with model.{group}.{key}={was}{other}; "
                                 f"pass --model.{group}.{key} {shown}")
        for key in ("grid_shape", "val_dims", "num_bins"):
            if key in saved and saved[key] != data[key]:
                raise DataMismatch(f"checkpoint is for {saved.get('domain')}/{saved.get('dataset')} with "
                                   f"{key}={saved[key]}, but the data is {data['domain']}/{data['dataset']} with "
                                   f"{key}={data[key]}")
        if message := reshaped_weights(self, checkpoint):  # hyper_parameters edited
            raise CheckpointError(f"{path or getattr(self._trainer, 'ckpt_path', None) or 'checkpoint'}: {message}")

    def use_checkpoint_bins(self, checkpoint: dict[str, Any]) -> None:
        """The value bins a checkpoint was trained with (its value range and bin centres), where the data's differ:
        a model evaluated on other data than its own (a CIFAR-10 model on a folder of 32x32 pictures) got the other
        data's k-means colours from the DataModule. The weights load the checkpoint's centres, but the bins' spacing,
        in which the head's offsets, scales and anchor logits are measured, came from the data's: a wrong NLL,
        without a word. So is a per-set frame's unit (``frame_unit``: 1 for a user's curves, half the value range for
        the generated functions and for checkpoints that do not record it), which a model of the one evaluated on
        data of the other took from the data."""
        saved = (checkpoint.get("hyper_parameters") or {}).get("spec")
        if not saved:
            return
        trained = SignalSpec.from_dict(saved)
        if (trained.val_range, trained.centres, trained.frame_unit) == (self.spec.val_range, self.spec.centres,
                                                                        self.spec.frame_unit):
            return
        mine = self.spec.bin_centres()  # [NB, V]
        self.spec = dataclasses.replace(self.spec, val_range=trained.val_range, centres=trained.centres,
                                        frame_unit=trained.frame_unit)
        device = self.dist.centres.device
        self.dist = BinnedGaussian.from_config(self.spec, self.objective_config,
                                               framed=self.net_config.value_norm).to(device)
        # k-means of the same data on another machine may differ in the last bits: not worth a line
        close = torch.allclose(mine, trained.bin_centres(), rtol=0, atol=1e-5)
        if not close and (self._trainer is None or self.global_rank == 0):
            low, high = range_as_written(*trained.val_range)
            bins = "its k-means centres" if trained.centres else f"range {low} to {high}"
            print(f"[pixeltransformer] the value bins are the checkpoint's ({trained.domain}/{trained.dataset}: "
                  f"{bins}), not the data's", flush=True)

    def eval_folder(self) -> str:
        """The run's evaluation folder: eval/ on the data the checkpoint was trained on, eval-<dataset>/ on other
        data (a ShapeNet model tested on ModelNet), and eval-<dataset>-<name>/ on another file or folder of the same
        kind where the spec names its source (a model of your curves.npz tested on other.npz), so that neither
        evaluation replaces the other. The data evaluated is the data module the trainer's test (or validation)
        reads, where it has one: trainer.test(module, datamodule=other) after a fit on this module's data; given
        dataloaders alone, it is not known, and the module's own data is taken for it (eval/). The data trained on
        is the checkpoint's, without one the module's spec."""
        trained, source = trained_data(self)
        data = self.evaluated_spec()
        if data.dataset != trained:
            return f"eval-{data.dataset}"
        mine = source_name(data.to_dict())
        if source is None or mine is None or mine == source:
            return "eval"
        return f"eval-{data.dataset}-{re.sub(r'[^A-Za-z0-9._-]', '_', mine)}"

    def evaluated_spec(self) -> SignalSpec:
        """The spec of the data the trainer's running (or last) stage reads, naming its file or folder as the command
        line's module does (datamodule.module_spec); the module's own where no trainer holds it or the stage was
        given dataloaders alone."""
        trainer = self._trainer
        stage = trainer.state.fn if trainer is not None else None
        datamodule = tested_datamodule(trainer, stage) if stage is not None else None
        return module_spec(datamodule) if isinstance(datamodule, SignalDataModule) else self.spec

    # ---- inference conveniences used by callbacks and predict -----------------------------------------
    def grid_queries(self, batch: int, grid_shape: tuple[int, ...] | None = None) -> torch.Tensor:
        pos = grid_positions(grid_shape or self.spec.grid_shape, device=self.device)  # [N, P]
        return pos.unsqueeze(0).expand(batch, -1, -1)  # [B, N, P]

    def api_inputs(self, ctx_pos, ctx_val, *queries) -> tuple[torch.Tensor, ...]:
        """S (and queries, and values there) for the inference conveniences, checked against the model's data in one
        line each and moved to its device and dtype (numpy's float64 included): ctx_pos [B, K, P], ctx_val [B, K, V],
        and as the call takes them qry_pos [B, Q, P], qry_val [B, Q, V] (each given is checked, None too: a None
        qry_pos reached the model as the chunk size). Positions beyond [-1, 1] (data in its own units, say) are
        answered, with a warning, up to MAX_ABS_POSITION (beyond it the answers were NaN); values of S pass the
        domain's ``context_values`` (SDFs: clamped to the truncation, as `predict --context` rows are), then values
        beyond the range of a model's bins, like non-finite numbers, are refused (a query's value there only gets a
        low density)."""
        check_weights(self.model)
        weights = next(self.model.parameters()).dtype
        p, v = self.spec.pos_dims, self.spec.val_dims
        named = {"ctx_pos": (ctx_pos, p), "ctx_val": (ctx_val, v)}
        named.update(zip(("qry_pos", "qry_val"), zip(queries, (p, v))))
        out = []
        for name, (given, width) in named.items():
            x = as_input(name, given, f"[batch, points, {width}]")  # [B, K or Q, P or V]
            listed = isinstance(given, (list, tuple))
            if name.startswith("ctx") and x.dim() == 3 and x.shape[0] >= 1 and x.shape[1] == 0:
                raise ValueError(f"S is empty ({name} {list(x.shape)}): the model predicts from at least one sample; "
                                 "unconditional sampling is not supported")
            if x.dim() != 3 or x.shape[-1] != width or x.shape[0] < 1 or x.shape[1] < 1:
                hint = missing_axis(list(x.shape), name, width, listed)  # "one signal: give it a batch axis, ..."
                raise ValueError(f"{name} must be [batch >= 1, points >= 1, {width}] for {self.spec.domain}/"
                                 f"{self.spec.dataset}, got {list(x.shape)}{hint and f' ({hint})'}")
            self.check_real(name, x, listed)
            out.append(x.detach().to(self.device, weights))  # [B, K or Q, P or V]; no graph: answers hold none
            check_finite(**{name: out[-1]})  # the call's one check: the inference functions are told _checked
            if name == "ctx_val":
                out[-1] = self.domain.context_values(out[-1], self.spec)  # [B, K, V]; SDFs: clamped to [-t, t]
                self.check_values(out[-1])
            elif name.endswith("_pos") and (far := float(out[-1].abs().max())) > 1 + 1e-4:
                scale, offset = self.spec.pos_scale, self.spec.pos_offset
                # the x range's middle and half-width as written, to 15 digits of the larger: an offset of
                # 1700000030.25 (seconds since 1970) is a number the user knows, which 10 digits cut to 1700000030
                shift, size = range_as_written(offset, scale)
                moved = "x" if shift == "0" else f"(x + {shift[1:]})" if shift[0] == "-" else f"(x - {shift})"
                scale = (f" ({moved} / {size} for this data)"  # (x + 8), not (x - -8)
                         if (shift, size) != ("0", "1") else "")
                if far > MAX_ABS_POSITION:  # the answers were NaN, with only the warning below
                    raise ValueError(f"{name} reaches {far:.3g}: positions must lie within "
                                     f"+-{as_written(MAX_ABS_POSITION)} (beyond that the model's float32 arithmetic "
                                     f"overflows); the model was trained on positions in [-1, 1]{scale}")
                indices = "" if scale else grid_index_hint(out[-1], self.spec.grid_shape)  # pixel indices, say
                warnings.warn(f"{name} reaches {far:.3g}: the model was trained on positions in [-1, 1]{scale}; "
                              f"beyond that it extrapolates{indices}", stacklevel=3)
        if out[0].shape[:2] != out[1].shape[:2] or (len(out) >= 3 and out[2].shape[0] != out[0].shape[0]):
            raise ValueError(f"ctx_pos, ctx_val and qry_pos disagree on batch or |S|: "
                             f"{[list(x.shape) for x in out[:3]]}")
        if len(out) == 4 and out[3].shape[:2] != out[2].shape[:2]:
            raise ValueError(f"qry_pos [B, Q, P] and qry_val [B, Q, V] disagree on batch or the number of queries: "
                             f"{list(out[2].shape)} and {list(out[3].shape)}")
        return tuple(out)

    def check_real(self, name: str, x: torch.Tensor, listed: bool = False) -> None:
        """One line for an input ``name`` of the conveniences that holds complex numbers, or a meta tensor (a list
        of tensors holding one: ``listed``), which holds no values to read; a model on meta (shapes alone, as the
        device tests run it) takes meta inputs."""
        if x.is_complex():
            raise ValueError(f"{name} must hold real numbers, got {x.dtype}")
        if x.is_meta and self.device.type != "meta":  # torch's own error names no input ("Cannot copy out of meta")
            raise ValueError(f"{name} {'holds' if listed else 'is'} a meta tensor, which holds a shape but no "
                             f"values: give it on a real device (the model is on {self.device})")

    def check_values(self, ctx_val: torch.Tensor) -> None:
        """Values [B, K, V] a model can read, as `predict --context` takes them: within the value range when bins
        cover it (the spec's range), else (the range only normalises, as with one Gaussian) any value whose frame
        float32 can hold, with a warning beyond FAR_REACH half-widths of the range without a value frame (in a call
        in Python, not a running Trainer's)."""
        lo, hi = self.spec.val_range
        measured = low, high, _ = self.spec.value_reach(ctx_val)  # one read of the values: on a GPU, one wait
        levels = " (0-255 levels? divide by 255)" if self.levels_of_255(measured) else ""
        if self.spec.beyond_bins(low, high, slack=1e-4):  # rounding of data resampled or converted to float32
            raise ValueError(f"ctx_val spans [{low:.3g}, {high:.3g}], outside the value range [{lo:g}, {hi:g}] "
                             f"of {self.spec.domain}/{self.spec.dataset}: scale or clip the values into it{levels}")
        if self.spec.num_bins == 1 and (far := max(abs(low), abs(high))) > MAX_ABS_VALUE:
            raise ValueError(f"ctx_val reaches {far:.3g}: values must lie within +-{as_written(MAX_ABS_VALUE)} "
                             "(beyond that the model's float32 arithmetic overflows)")
        # the range only normalises: a user's S (a call in Python, a predict's input) is warned of as a fit's first
        # batch and log_prob's queries are; the completions a running fit, validation or test makes of its own data
        # are not (its fit's first batch warned)
        if self.spec.num_bins == 1 and not self.net_config.value_norm and not self.completing_own_data() and (
                far := self.far_span("ctx_val spans", measured)):
            warnings.warn(f"{far} from its middle, where it never saw values: give them in the units of its "
                          f"val_range{levels}", stacklevel=4)

    def completing_own_data(self) -> bool:
        """Whether a running Trainer's fit, validation or test completes its own data now: not a call in Python
        (Lightning leaves a finished Trainer attached), nor a predict, whose S the user gave."""
        state = getattr(self._trainer, "state", None)  # None without a Trainer (or with a stand-in of one)
        return state is not None and state.status == TrainerStatus.RUNNING and state.fn != TrainerFn.PREDICTING

    def levels_of_255(self, measured: tuple[float, float, float]) -> bool:
        """Whether values look like a picture's 0-255 levels given to a model of values in [0, 1], from what
        ``spec.value_reach`` measured of them (low, high, reach): all in [0, 255], some over FAR_REACH half-widths of
        the range from its middle (1.5 is a slip of another kind), the brightest above a tenth of 255
        (LEVELS_LEAST_HIGH): a picture's levels reach that unless it is all but black, while values a few times the
        range (a [0, 9] scale of other units) stay below it, where "divide by 255" would mislead."""
        lo, hi = self.spec.val_range
        low, high, reach = measured
        return 0 <= lo and hi <= 1 and 0 <= low and LEVELS_LEAST_HIGH < high <= 255 and reach > FAR_REACH

    def trainer_precision(self) -> contextlib.AbstractContextManager:
        """The precision of the Trainer running the module, for the conveniences: its autocast (bf16-mixed,
        16-mixed), where no autocast is on already. An evaluation's and the pictures' model calls come from callbacks,
        outside the steps Lightning runs under trainer.precision: they run under this autocast, at the precision the
        Trainer was given. Outside a Trainer (the Python API) the caller's own autocast, if any, applies."""
        plugin = getattr(self._trainer, "precision_plugin", None)
        if plugin is None or torch.is_autocast_enabled(self.device.type):
            return contextlib.nullcontext()
        return plugin.forward_context()

    def predict_params(self, ctx_pos, ctx_val, qry_pos) -> torch.Tensor:
        """The distribution's parameters at the queries given S: ctx_pos [B, K, P], ctx_val [B, K, V], qry_pos
        [B, Q, P] -> [B, Q, NP], read with ``m.dist`` (mean, variance, cdf, log_prob). No graph (the module called
        itself keeps one); under ``torch.autocast`` (or a Trainer's mixed precision) in the autocast dtype.
        docs/python.md lists the calls."""
        with self.trainer_precision():
            return predict_params(self.model, *self.api_inputs(ctx_pos, ctx_val, qry_pos), self.net_config.chunk,
                                  _checked=True)

    def mean_field(self, ctx_pos, ctx_val, qry_pos) -> torch.Tensor:
        """E[v | S] at any positions: ctx_pos [B, K, P], ctx_val [B, K, V], qry_pos [B, Q, P] -> [B, Q, V], float32,
        without a graph."""
        with self.trainer_precision():
            return mean_field(self.model, self.dist, *self.api_inputs(ctx_pos, ctx_val, qry_pos),
                              self.net_config.chunk, _checked=True)

    def log_prob(self, ctx_pos, ctx_val, qry_pos, qry_val) -> torch.Tensor:
        """log p(v | S) of the values qry_val [B, Q, V] at the queries qry_pos [B, Q, P], each given S alone (not the
        other queries) -> [B, Q], in nats, summed over the V value dimensions: the normalised mixture density the
        evaluation scores. metrics.json's ``nll`` is -log_prob / V, averaged over the queries not in S (``nll_bpd``:
        that / ln 2). No graph, as the other conveniences; to differentiate, call the module itself:
        ``m.dist.log_prob(m(ctx_pos, ctx_val, qry_pos), qry_val)`` with float32 tensors on its device."""
        ctx_pos, ctx_val, qry_pos, qry_val = self.api_inputs(ctx_pos, ctx_val, qry_pos, qry_val)
        # warned of, not refused: a value beyond the range is one of low density; a value_norm model predicts in the
        # frame of S, where the range only normalises (as warn_far_values), so its values are not measured
        measured = (0.0, 0.0, 0.0) if self.net_config.value_norm else self.spec.value_reach(qry_val)
        if far := self.far_span("qry_val spans", measured):
            if self.levels_of_255(measured):  # measured once: each measure reads every value, on a GPU a wait
                cause = "0-255 levels? divide by 255"
            elif not torch.equal(self.domain.context_values(qry_val, self.spec), qry_val):  # a domain clamping S
                cause = "clamp them as S is: m.domain.context_values(qry_val, m.spec)"
            else:
                cause = "values in other units than the model's? give them in the units of its val_range"
            warnings.warn(f"{far} from its middle: log_prob scores values that far outside it as all but impossible "
                          f"({cause})", stacklevel=2)
        with self.trainer_precision():
            params = predict_params(self.model, ctx_pos, ctx_val, qry_pos, self.net_config.chunk,
                                    _checked=True)  # [B, Q, NP]
        with torch.no_grad():
            return self.dist.log_prob(params.float(), qry_val)  # [B, Q]; float32 also under autocast

    def sample(self, ctx_pos, ctx_val, qry_pos, **kwargs) -> torch.Tensor:
        """Samples at any positions: ctx_pos [B, K, P], ctx_val [B, K, V], qry_pos [B, Q, P] -> [B, num_samples, Q, V].
        The options are inference.sample's: ``num_samples`` (1), ``n_autoregressive`` (N', 2048: that many
        positions drawn one by one, the rest given their mean; None: every position), ``temperature`` (1; 0: the
        most likely bin's mean at each step) and ``seed`` (one int, signal i of the batch then seeded
        1_000_003 * seed + i, or one int per signal: a signal's samples depend on its seed alone)."""
        kwargs = check_sampling(kwargs, least_samples=1)
        ctx_pos, ctx_val, qry_pos = self.api_inputs(ctx_pos, ctx_val, qry_pos)  # [B, K, P], [B, K, V], [B, Q, P]
        self.check_sample_memory(qry_pos.shape[0], qry_pos.shape[1], kwargs.get("num_samples", 1), qry_pos.device)
        kwargs.setdefault("chunk", self.net_config.chunk)  # the model's, unless the caller gives one
        with self.trainer_precision():
            return sample(self.model, self.dist, ctx_pos, ctx_val, qry_pos, **kwargs, _checked=True)

    def complete(self, ctx_pos, ctx_val, grid_shape, **kwargs) -> Completion:
        """Mean and samples on a grid (see inference.complete): [B, V, *grid], [B, S, V, *grid]."""
        try:
            sizes = tuple(grid_shape)
        except TypeError:  # one size (an int, or a scalar tensor)
            sizes = (grid_shape,)
        shape = grid_sizes(sizes, self.spec.pos_dims)
        if shape is None:
            raise ValueError(f"grid_shape must give {self.spec.pos_dims} integer sizes >= 1 (the model's grid is "
                             f"{tuple(self.spec.grid_shape)}), got {grid_shape}")
        kwargs = check_sampling(kwargs)
        ctx_pos, ctx_val = self.api_inputs(ctx_pos, ctx_val)  # [B, K, P], [B, K, V]
        if kwargs.get("signal") is not None:  # the ground truth the pictures show: kept on its device, in its dtype
            kwargs["signal"] = self.api_signal(kwargs["signal"], ctx_pos.shape[0])  # [B, V, *grid']
        self.check_grid_memory(shape, ctx_pos.shape[0], kwargs.get("num_samples", 0), ctx_pos.device)
        kwargs.setdefault("chunk", self.net_config.chunk)  # the model's, unless the caller gives one
        with self.trainer_precision():
            return complete(self.model, self.dist, ctx_pos, ctx_val, shape, **kwargs, _checked=True)

    def api_signal(self, signal, batch: int) -> torch.Tensor:
        """complete's ``signal=``, the ground truth [B, V, *grid'] of the ``batch`` signals of S at its own grid, as a
        tensor (a list or array read as one), or one line naming what is wrong with it (a meta tensor or complex
        numbers included): it was kept as given, a list included, and the completion's ``.cpu()`` or index stopped on
        it later."""
        listed = isinstance(signal, (list, tuple))
        x = as_input("signal", signal, "[batch, V, *grid]", sets=False)
        self.check_real("signal", x, listed)
        if x.dim() != 2 + self.spec.pos_dims or x.shape[0] != batch:
            given, hint = "np.asarray(x)" if listed else "x", ""  # an axis short: the one to add, as S is told
            if x.dim() == 1 + self.spec.pos_dims and batch == 1 and x.shape[0] == self.spec.val_dims:
                hint = f" (one signal: give it a batch axis, {given}[None])"
            elif x.dim() == 1 + self.spec.pos_dims and x.shape[0] == batch and self.spec.val_dims == 1:
                hint = f" (no value axis: {given}[:, None])"
            raise ValueError(f"signal must be the ground truth [batch, V, *grid] of the {counted(batch, 'signal')} "
                             f"of S, {2 + self.spec.pos_dims} axes for {self.spec.domain}/{self.spec.dataset}, got "
                             f"{list(x.shape)}{hint}")
        channels = self.domain.signal_channels(self.spec)  # V, or a layout of the domain's own (GP point sets)
        if x.shape[1] != channels:  # [B, *grid, V], as pictures and videos are stored, has the axes too
            move = "x.movedim(-1, 1)" if isinstance(signal, torch.Tensor) else "np.moveaxis(x, -1, 1)"  # as given
            last = f" (channels last: {move})" if x.shape[-1] == channels else ""
            raise ValueError(f"signal must be the ground truth [batch, V, *grid] of the {counted(batch, 'signal')} "
                             f"of S, V = {channels} value(s) a point for {self.spec.domain}/"
                             f"{self.spec.dataset}, got {list(x.shape)}{last}")
        return x

    def check_grid_memory(self, shape: tuple[int, ...], batch: int, num_samples: int,
                          device: torch.device | None = None) -> None:
        """Refuse a grid whose completion of ``batch`` signals could not be held in the memory available on
        ``device`` (a typo, (100000,) * 3 for (100,) * 3, stopped deep in torch's allocator), as `predict
        --resolution` is refused; the completion is held where its tensors are (a GPU's memory for CUDA tensors).
        Where the grid fits with fewer samples, the samples are named with the most that fit, as `predict
        --num_samples` names them."""

        points = math.prod(shape)

        def need(samples: int) -> int:
            return batch * completion_bytes(self.spec, points, samples)

        if (short := shortfall(need(num_samples), device)) is None:
            return
        where = f"on {grid_words(shape)} of {counted(batch, 'signal')}"
        if line := short.too_many_samples("num_samples", num_samples, need, where):
            raise ValueError(line)
        raise ValueError(f"grid_shape {shape} means {point_count(points)} points, whose completion of "
                         f"{counted(batch, 'signal')} needs at least {short.words}")

    def check_sample_memory(self, batch: int, queries: int, num_samples: int,
                            device: torch.device | None = None) -> None:
        """Refuse samples whose chains could not be held in the memory available on ``device`` (a typo,
        num_samples=10**9, went to torch's allocator), in one line naming the most that fit, as
        :meth:`check_grid_memory` refuses a grid."""

        def need(samples: int) -> int:
            return batch * sample_bytes(self.spec, queries, samples)

        if (short := shortfall(need(num_samples), device)) is None:
            return
        where = f"at {queries} queries of {counted(batch, 'signal')}"
        raise ValueError(short.too_many_samples("num_samples", num_samples, need, where) or
                         f"num_samples {num_samples} {where} need at least {short.words}; give fewer queries or "
                         "signals a call")

    def check_stage_memory(self, trainer: Any, datamodule: Any, stage: str) -> None:
        """:meth:`check_train_memory` of the batch a fit's training step takes, or :meth:`check_eval_memory` of the
        batch a validation's or a test's step takes (batch_size, or the test loader's own option, test_batch; or rank
        0's items where they are fewer), measured on rank 0, whose line every rank raises: ranks that each measured
        refused apart near the limit, and the others waited at the next barrier for the one that stopped."""
        refusal = None
        if trainer.global_rank == 0:
            if stage == "fit":
                rows, given = datamodule.train_batches(trainer.world_size)[0], datamodule.batch_size
                check = self.check_train_memory
            else:  # a distributed evaluation's sampler gives each rank its share, rounded up
                rows = math.ceil(len(getattr(datamodule, STAGE_ROWS[stage])()) / trainer.world_size)
                given, option = datamodule.test_batch() if stage == "test" else (datamodule.batch_size, "batch_size")
                check = functools.partial(self.check_eval_memory, split="val" if stage == "validate" else "test",
                                          option=option)
            batch = min(given, rows) or given
            try:
                check(batch, trainer.strategy.root_device, local_ranks(trainer), trainer.precision, given=given)
            except ValueError as err:
                refusal = str(err)
        if (refusal := trainer.strategy.broadcast(refusal, src=0)) is not None:
            raise ValueError(refusal)

    def check_train_memory(self, batch_size: int, device: torch.device | None = None, ranks: int = 1,
                           precision: Any = "32-true", given: int | None = None) -> None:
        """Refuse a fit whose training step of ``batch_size`` signals (fewer than the ``given`` batch_size where the
        train items are) could not keep its activations in the memory at hand on ``device`` (shared by ``ranks``
        processes on a CPU), in one line naming the most batch_size that may fit (a ceiling: the bound is low): the
        paper-sized model on a CPU at batch_size 1024 ran for a minute, then stopped in torch's allocator, or the
        kernel's OOM killer ended it without a line. The bound is :func:`memory.train_step_bytes` at the sampler's
        largest step (its largest_step); ``precision``: the trainer's (a 16-bit one halves it)."""
        context, queries = self.sampler.largest_step(math.prod(self.spec.grid_shape))
        self.check_step_memory("a training step", train_step_bytes, context, queries, batch_size, device, ranks,
                               precision, given, f"fewer points a signal ({self.sampler.step_options}) or a smaller "
                               "model", "train")

    def check_eval_memory(self, batch_size: int, device: torch.device | None = None, ranks: int = 1,
                          precision: Any = "32-true", given: int | None = None, split: str = "val",
                          option: str = "batch_size") -> None:
        """Refuse a validation or a test (of the ``split``'s items) whose step of ``batch_size`` signals could not
        hold its forward pass in the memory at hand, as :meth:`check_train_memory` refuses a fit, before the first
        batch: a huge data batch_size stopped in torch's allocator at the first batch. The bound is
        :func:`memory.eval_step_bytes` at the val_level whose step holds the most points, with the validation
        sampler's queries at that level (level_queries); ``option``: the data option that sets the batch (a test
        loader's own, such as sdf's eval_batch_size)."""
        points, options = math.prod(self.spec.grid_shape), self.val_sampler.query_options
        # the bound's N is the larger of |S| and |Q| (fewer of the other would not lower it); at equal N, larger |S|
        steps = [(k, self.val_sampler.level_queries(k, points)) for k in self.val_levels]
        context, queries = max(steps, key=lambda step: (max(step), step[0]))
        most = max(context, queries)  # fewer of one kind helps only where no level's step holds most of the other
        fewer = f"fewer observed and query points a signal (model.val_levels, {options})"
        if not any(q == most for _, q in steps):
            fewer = "fewer observed points a signal (model.val_levels)"
        elif not any(k == most for k, _ in steps):  # where a higher level leaves fewer targets (N - k), it helps too
            higher = self.val_sampler.level_queries(context + 1, points) < queries
            fewer = f"fewer query points a signal ({'higher model.val_levels, ' if higher else ''}{options})"
        self.check_step_memory("an evaluation step", eval_step_bytes, context, queries, batch_size, device, ranks,
                               precision, given, fewer, split, option)

    def check_step_memory(self, step: str, bound: Callable[..., int], context: int, queries: int, batch_size: int,
                          device: torch.device | None, ranks: int, precision: Any, given: int | None, fewer: str,
                          split: str, option: str = "batch_size") -> None:
        """The refusal of :meth:`check_train_memory` and :meth:`check_eval_memory`: ``step`` of ``batch_size``
        signals of the ``split``'s items, whose ``bound`` (bytes of a NetConfig, a batch, |S| and |Q| and a value's
        bytes) is over the memory at hand, in one line naming the most of the data ``option`` setting the batch that
        may fit, else ``fewer``, and on a CPU a GPU to train or evaluate on."""
        net = self.net_config

        def need(batch: int) -> int:
            return bound(net, batch, context, queries, 2 if "16" in str(precision) else 4)

        if (short := shortfall(need(batch_size), device, ranks)) is None:
            return
        remedy = short.remedy(option, batch_size, need, fewer)
        on_cpu = device is None or torch.device(device).type == "cpu"
        verb = "train" if split == "train" else "evaluate"
        gpu = f" (or {verb} on a GPU: --trainer.accelerator gpu)" if on_cpu else ""
        size = f"{option} {batch_size}" if given in (None, batch_size) else \
            f"{counted(batch_size, 'signal')} ({option} {given}, as many as the {split} items)"
        raise ValueError(f"{step} of {size} (up to {context} observed and {queries} query points a signal, through "
                         f"{net.encoder_layers} + {net.decoder_layers} layers of width {net.width}) needs at least "
                         f"{short.words}; {remedy}{gpu}")

    # ---- predict: a user's file (see predict.py) ----------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int = 0) -> Completion:
        """Complete one input of `pixeltransformer predict` on its grid (batches of one) -> a CPU Completion."""
        from .predict import PredictOptions

        opts = self.predict_options or PredictOptions()
        signal = batch.get("signal")  # [1, V, *grid] when the input was a file
        grid = self.domain.predict_grid(self.spec, opts.resolution)
        return self.complete(batch["ctx_pos"], batch["ctx_val"], grid, num_samples=opts.num_samples,
                             n_autoregressive=opts.n_autoregressive, temperature=opts.temperature, seed=opts.seed,
                             progress=shows_progress(self._trainer), signal=signal).cpu()
