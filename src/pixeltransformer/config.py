"""The module's option groups: the network, the objective and the optimiser, one small dataclass each.

PixelTransformerModule takes each as a dataclass or a plain dict (LightningCLI, checkpoints). The set sampler is
configured as a class (``model.sets``: a SetSampler or a subclass with its init_args; see sets.py). Model sizes
live in config files (configs/model/<size>.yaml), composed after a domain's config on the command line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from .layout import config_shown

T = TypeVar("T")

ENCODERS = ("bidirectional", "buffered", "incremental")  # model.net.encoder (see model.py)
# how Python gives an option of each group the notes name (the command line: --<group>.<key>)
PYTHON_FORMS = {"trainer": "Trainer({key}={value})", "model.optim": "optim=OptimConfig({key}={value})"}


def option_as_given(option: str, python: bool, value: str | None = None) -> str:
    """An option as its reader gives it: the command line's flag (``--model.optim.warmup_steps 0``), or (``python``)
    the argument of a Trainer or module built in Python (``optim=OptimConfig(warmup_steps=0)``); without ``value``,
    the option alone (``--trainer.max_steps``, ``Trainer(max_steps=...)``)."""
    if not python:
        return f"--{option}" if value is None else f"--{option} {value}"
    group, _, key = option.rpartition(".")
    return PYTHON_FORMS[group].format(key=key, value="..." if value is None else value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_integers(config: Any, group: str, keys: tuple[str, ...]) -> None:
    """One-line errors for options that must be whole numbers (a width of 64.5 failed deep inside torch)."""
    for key in keys:
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"model.{group}.{key} must be a whole number, got {value!r}")


def check_finite(config: Any, group: str, keys: tuple[str, ...]) -> None:
    """One-line errors for options that must be finite numbers: an infinite learning rate, weight decay, loss weight
    or frequency scale was taken, and the first training step's loss or weights were NaN."""
    for key in keys:
        value = getattr(config, key)
        if not is_number(value) or not math.isfinite(value):
            raise ValueError(f"model.{group}.{key} must be a finite number, got {value!r}")


def check_minimums(config: Any, group: str, minimums: dict[str, float], positive: tuple[str, ...] = ()) -> None:
    """One-line errors for options below their minimum (``>= minimum``) or not above zero (``positive``);
    NaN fails both."""
    for key, low in minimums.items():
        value = getattr(config, key)
        if not value >= low:
            raise ValueError(f"model.{group}.{key} must be >= {low:g}, got {value}")
    for key in positive:
        value = getattr(config, key)
        if not value > 0:
            raise ValueError(f"model.{group}.{key} must be > 0, got {value}")


@dataclass
class NetConfig:
    """The PixelTransformer: size, position features, encoder and its options (see model.PixelTransformer).

    Args:
        width: the model width D (paper preset 256; configs/model/*.yaml set the sizes).
        encoder_layers: transformer layers over S (and the buffer); paper preset 10.
        decoder_layers: layers of query cross-attention to S; paper preset 10.
        heads: attention heads per layer (width must be divisible by it).
        ffn: hidden width of each layer's feed-forward block; paper preset 512.
        fourier_features: random Fourier frequencies F of the position features (2F + P inputs); 0: raw positions.
        fourier_scale: standard deviation of the random frequencies (>= 0), in cycles per unit of position ([-1, 1]
            per axis): higher resolves finer detail.
        fourier_seed: the seed of the random frequencies (saved with the model).
        encoder: "buffered" (the paper's set encoder for S plus a causal buffer of drawn samples: cached
            sampling), "bidirectional" (paper) or "incremental" (causal in a random order, cached sampling).
        buffer_prob: with the buffered encoder, the fraction of training batches whose set is split into S
            and a buffer (the rest train S alone, i.e. the bidirectional model); the split point is
            log-uniform between the sampler's min_context and |S| - 1, so the conditionals sampling uses are trained.
        distance_bias: every attention adds a learned Gaussian distance bias per head, -|x_q - x_k|^2 / (2
            sigma_h^2) (see model.Attention).
        distance_sigma: (min, max) of the heads' initial widths sigma_h, in position units (0 < min <= max).
        value_norm: every context set is encoded in its own frame (mean, scale) and the distribution is
            predicted in that frame (see PixelTransformer); for single-Gaussian signals (num_bins = 1).
        attention_sink: every attention also reads a learned key/value at a learned distance (see model.Attention).
        chunk: queries decoded per forward pass at inference (memory against speed; results do not depend on it).
    """

    width: int = 128
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    ffn: int = 256
    fourier_features: int = 128
    fourier_scale: float = 4.0
    fourier_seed: int = 0
    encoder: str = "buffered"
    buffer_prob: float = 0.5
    distance_bias: bool = True
    distance_sigma: tuple[float, float] = (0.05, 1.0)
    value_norm: bool = False
    attention_sink: bool = False
    chunk: int = 16384

    def __post_init__(self) -> None:
        # fourier_features 0 leaves the raw position alone; encoder/decoder_layers are checked by the model
        check_integers(self, "net", ("width", "encoder_layers", "decoder_layers", "heads", "ffn", "fourier_features",
                                     "fourier_seed", "chunk"))
        check_minimums(self, "net", {"width": 1, "heads": 1, "ffn": 1, "fourier_features": 0, "chunk": 1})
        if self.width % self.heads:
            raise ValueError(f"model.net.width={self.width} must be divisible by model.net.heads={self.heads} (each "
                             f"head reads width / heads channels)")
        if self.encoder not in ENCODERS:
            raise ValueError(f"model.net.encoder must be one of {', '.join(ENCODERS)}; got {self.encoder!r}")
        check_finite(self, "net", ("fourier_scale",))
        check_minimums(self, "net", {"fourier_scale": 0})
        if not -2 ** 63 <= self.fourier_seed < 2 ** 64:  # what torch's generators take
            raise ValueError(f"model.net.fourier_seed must be in [-2^63, 2^64), got {self.fourier_seed}")
        if not 0.0 <= self.buffer_prob <= 1.0:
            raise ValueError(f"model.net.buffer_prob must be in [0, 1], got {self.buffer_prob}")
        sigma = self.distance_sigma
        if isinstance(sigma, (str, bytes)) or not hasattr(sigma, "__len__") or len(sigma) != 2:
            raise ValueError(f"model.net.distance_sigma must be two widths (min, max), got {sigma!r}")
        self.distance_sigma = tuple(sigma)
        if self.distance_bias and not (all(is_number(x) and math.isfinite(x) for x in sigma)
                                       and 0 < sigma[0] <= sigma[1]):
            raise ValueError(f"model.net.distance_sigma must be finite widths 0 < min <= max, got {list(sigma)}")


@dataclass
class ObjectiveConfig:
    """The distribution head and its training loss (see distribution.BinnedGaussian).

    Args:
        alpha: weight of the Gaussian term of the training loss against the bin's log-probability (paper: 0.1).
        gaussian_term: "paper" (the appendix's V log sigma + |v - mu|^2 / sigma^2) or "nll" (the Gaussian's own
            negative log-likelihood, with the 1/2; the paper's form over-estimates sigma by sqrt 2 at one bin).
        beta: > 0 multiplies each query's Gaussian term by sigma^(2 beta), held constant in the gradient (beta-NLL,
            Seitzer et al. 2022), so poorly fitted queries still train their mean; 0: the paper's loss.
        anchor_logits: bin logits get an anchored term, -g |a - c_b|^2 / (2 unit^2).
        bin_prior_init: a fresh run starts the head's bin logits at the log of the bin frequencies of its first
            batch (summed over DDP ranks) mixed half and half with uniform, so the first steps go to using S
            instead of learning a peaked marginal (digits' black, an SDF's truncation bins) through the biases.
            The uniform half bounds the cost when one batch is not representative (per-clip colours).
    """

    alpha: float = 0.1
    gaussian_term: str = "paper"
    beta: float = 0.0
    anchor_logits: bool = True
    bin_prior_init: bool = True

    def __post_init__(self) -> None:
        # alpha 0 would leave the Gaussian untrained (and one Gaussian, NB = 1, with no loss at all)
        check_finite(self, "objective", ("alpha", "beta"))
        check_minimums(self, "objective", {"beta": 0}, positive=("alpha",))
        if self.gaussian_term not in ("paper", "nll"):
            raise ValueError(f"model.objective.gaussian_term must be 'paper' or 'nll', got {self.gaussian_term!r}")


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay to min_lr_ratio * lr.

    Args:
        lr: the peak learning rate, reached after the warmup.
        weight_decay: AdamW's decoupled weight decay, on the matrices only (not on norms, biases, distance widths).
        warmup_steps: steps of linear warmup from 0 to lr.
        min_lr_ratio: the cosine decay ends at min_lr_ratio * lr at the fit's last step (trainer.max_steps); a fit
            shorter than its warmup ends inside it, and one of no step count (trainer.max_time alone) holds lr after
            it, which its first lines say.
        nonfinite: a batch whose loss or gradients hold NaN/Inf: "error" stops the run naming the step and the
            last checkpoint saved (whose weights are finite); "skip" leaves the weights as they are and counts the
            batch (the progress lines show train/skipped_batches), and stops a run that skips 50 batches in a row.
    """

    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    nonfinite: str = "error"

    def __post_init__(self) -> None:
        check_integers(self, "optim", ("warmup_steps",))
        check_finite(self, "optim", ("lr", "weight_decay", "min_lr_ratio"))
        check_minimums(self, "optim", {"weight_decay": 0, "warmup_steps": 0}, positive=("lr",))
        if not 0.0 <= self.min_lr_ratio <= 1.0:  # the floor of the cosine decay, as a fraction of lr
            raise ValueError(f"model.optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.nonfinite not in ("error", "skip"):
            raise ValueError(f"model.optim.nonfinite must be 'error' or 'skip', got {self.nonfinite!r}")

    def short_fit_note(self, total_steps: int | float, epochs: int | None = None, python: bool = False) -> str | None:
        """The line saying that a fit of ``total_steps`` optimizer steps ends inside the warmup (the shipped 200 steps
        of warmup in a 100-step try): its learning rate never reaches lr and never decays; or that a fit of no step
        count (inf: trainer.max_time or no limit stops it) has no last step to decay to; None otherwise. ``epochs``:
        the trainer.max_epochs that ends the fit before its max_steps, the option a longer fit is given then. The
        remedy names the options as the command line gives them, or (``python``) as a Trainer and module built in
        Python take them (:func:`option_as_given`)."""
        if math.isinf(total_steps) and self.min_lr_ratio < 1:
            return ("this fit has no step count (trainer.max_steps=-1, and trainer.max_epochs=-1 or trainer.max_time "
                    "stops it): the learning rate warms up to lr and stays there, without the cosine decay; give "
                    f"{option_as_given('trainer.max_steps', python)} for the decay")
        if total_steps >= self.warmup_steps or total_steps < 1:
            return None
        peak = self.lr * total_steps / self.warmup_steps
        warmup = "model.optim.warmup_steps"
        if total_steps == 1:  # "warmup_steps below 1" would mean 0, no warmup: named as such
            # a fit of epochs (max_steps -1, or above what they train) is longer with more of them, not with max_steps
            longer = (f"{option_as_given('trainer.max_steps', python)} above {self.warmup_steps}" if epochs is None
                      else f"{option_as_given('trainer.max_epochs', python)} above {self.warmup_steps} "
                      f"(trainer.max_epochs={epochs} ends this fit, at 1 step an epoch)")
            return (f"{warmup}={self.warmup_steps} is longer than this 1-step fit: its one step runs at "
                    f"1/{self.warmup_steps} of lr ({peak:.3g}) and the learning rate never reaches its peak; give "
                    f"{option_as_given(warmup, python, '0')} to take the step at lr, or a {longer} to warm up and "
                    "decay")
        return (f"{warmup}={self.warmup_steps} is more than the fit's {total_steps} steps: the learning rate rises "
                f"to {total_steps}/{self.warmup_steps} of lr ({peak:.3g}) and never decays; give "
                f"{option_as_given(warmup, python)} below {total_steps} for the whole schedule")

    def rebuilt_schedule_note(self, step: int, restored: float, rate: float, total_steps: int | float) -> str | None:
        """The line saying that a fit from a checkpoint at ``step`` goes on at another learning rate (``rate``) than
        the one the checkpoint's schedule had there (``restored``): the schedule is rebuilt from this fit's options
        (a longer trainer.max_steps, another model.optim) for ``total_steps``; None where the two agree."""
        if step == 0 or math.isclose(restored, rate, rel_tol=1e-6):
            return None
        steps = f"{total_steps} steps" if math.isfinite(total_steps) else "no step count"
        return (f"the learning rate goes from {restored:.3g}, where the checkpoint's schedule had it at step {step}, "
                f"to {rate:.3g}: the warmup and cosine decay are rebuilt from this fit's options (model.optim; "
                f"{steps}), as if it had been given them from the start")


def as_config(cls: type[T], value: T | dict | None, name: str) -> T:
    """A config dataclass (a copy: defaults and callers' objects stay unchanged) from itself, a plain dict (unknown
    keys named in a one-line error) or None (the defaults)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return replace(value)
    if not isinstance(value, dict):
        raise TypeError(f"model.{name} must be a {cls.__name__} or a dict, got {type(value).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown model.{name} option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**value)


def plain(config: Any) -> dict:
    """A config dataclass as plain types (tuples as lists), as checkpoints store hyperparameters."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


# the model options of earlier versions (one flat list, and the size presets) and what this version names them
MOVED_OPTIONS = {"model.preset": f"--config {config_shown('model/<size>.yaml')}",
                 "model.query_focus": "model.sets.focus_fraction", "model.query_focus_band": "model.sets.focus_band"}
GROUPS = {"net": NetConfig, "objective": ObjectiveConfig, "optim": OptimConfig}  # the module's option dataclasses
MOVED_OPTIONS |= {f"model.{f.name}": f"model.{group}.{f.name}" for group, cls in GROUPS.items() for f in fields(cls)}
MOVED_OPTIONS |= {f"model.{key}": f"model.sets.{key}" for key in ("min_context", "max_context", "num_queries",
                                                                  "grid_points")}
MOVED_OPTIONS["SweepEvaluation.max_batches"] = "max_items (the first N test items, not batches)"  # its init_args


def moved_option(key: str | None) -> str | None:
    """What this version names an option key of an earlier version ("model.encoder" -> "model.net.encoder";
    "init_args." left out), else None."""
    return MOVED_OPTIONS.get(str(key).replace("init_args.", ""))


def unknown_hparams(hparams: dict, known: Any, spec_fields: Any = (), wrote: str = "") -> str | None:
    """The one-line refusal of a checkpoint's hyperparameters that name options this version does not take (a
    checkpoint of another version, or edited: they stopped the command in the parser's "does not accept option", or
    in a TypeError's traceback in Python), each with its new name where it moved; None where all are known.
    ``known``: the module's own arguments; ``spec_fields``: the SignalSpec's; ``wrote``: the version that wrote the
    checkpoint, where it records another (:func:`pixeltransformer.written_by`)."""
    unknown = [f"model.{key}" for key in hparams if key not in known and key != "_instantiator"]  # Lightning's entry
    unknown += [f"model.{group}.{key}" for group, cls in GROUPS.items() if isinstance(hparams.get(group), dict)
                for key in hparams[group] if key not in {f.name for f in fields(cls)}]
    spec = hparams.get("spec")
    unknown += [f"spec.{key}" for key in (spec if isinstance(spec, dict) and spec_fields else ())
                if key not in spec_fields]
    if not unknown:
        return None
    names = ", ".join(key + (f" (now {now})" if (now := moved_option(key)) else "") for key in unknown)
    return (f"its hyper_parameters hold {names}, which this version does not take: the checkpoint comes from another "
            f"version of PixelTransformer{f' ({wrote})' if wrote else ''}, or was edited; use it with the version that "
            "wrote it, or retrain")
