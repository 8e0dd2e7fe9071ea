"""The value distribution p(v | x, S): NB bins, each a Gaussian around its centre (paper section 4.1).

Per query the head emits, for every bin b, a logit, a mean offset mu_b in R^V and a scale sigma_b. The
density is the mixture sum_b q_b N(v; c_b + mu_b, sigma_b^2 I) with q = softmax(logits). NB = 1 is a plain
Gaussian. Offsets and scales are expressed in units of the bin spacing, so the network's outputs are of
order one for every domain.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import ObjectiveConfig
from .errors import check_type
from .signal import SignalSpec


def float64_device(device: torch.device) -> torch.device:
    """Where float64 arithmetic on tensors of ``device`` runs: on the device itself, or on the CPU for Apple's MPS,
    which has no float64 (an evaluation there stopped with torch's float64 error)."""
    return torch.device("cpu") if torch.device(device).type == "mps" else torch.device(device)


def as_float32(params: torch.Tensor) -> torch.Tensor:
    """Half-precision head outputs (autocast's) in float32; other tensors as they are."""
    return params.float() if params.dtype in (torch.float16, torch.bfloat16) else params


class BinnedGaussian(nn.Module):
    """Distribution head maths (no learnable parameters; the centres are a buffer saved with the model).

    Args:
        centres: bin centres [NB, V].
        unit: the scale in which offsets and sigmas are expressed (the bin spacing; half the value range
            for NB = 1).
        alpha: weight of the Gaussian term in the training loss (the paper uses 0.1).
        gaussian_term: "paper" uses alpha (V log sigma + |v - c - mu|^2 / sigma^2), the appendix's term
            log sigma + ((v - c - mu) / sigma)^2 for V value dimensions. For V = 1 it is the appendix's exactly.
            For V > 1 (RGB) the appendix writes log sigma once; this departs from it with V log sigma, the
            isotropic Gaussian's own count, so that sigma^2 is minimised at 2 |v - c - mu|^2 / V, sqrt(2) times
            the per-dimension spread as for V = 1. The literal form's optimum, 2 |v - c - mu|^2, is sqrt(2 V)
            times the spread (for one Gaussian with V = 3 that costs about 0.48 nats per dimension instead of
            0.10). "nll" uses alpha (V log sigma + |v - c - mu|^2 / (2 sigma^2)), the Gaussian's own
            log-likelihood, whose optimum is the true spread (the paper's form over-estimates sigma by sqrt(2),
            which costs about 0.1 nats per dimension in the normalised log-density).
        min_sigma: lower bound of sigma in units.
        anchor: with NB > 1, the head also emits an anchor value a (V) and a sharpness g >= 0, and every bin's
            logit gets -g |a - c_b|^2 / (2 unit^2) added. The family is the paper's (one logit per bin); only
            the parameterisation changes. Copying a context value then means regressing a to it, which a linear
            head learns in tens of steps, instead of growing per-bin weights until 256 colour logits are sharp
            (their size ~ 1 / unit^2 takes Adam thousands of steps). The free logits keep every multi-modal shape.
        value_range: (low, high) of the values; the anchor is low + (high - low)(1 + raw) / 2.
        beta: the beta-NLL weighting (Seitzer et al. 2022): each query's Gaussian term is multiplied by
            sigma^(2 beta), held constant in the gradient and normalised to mean 1 over the batch. With a learned
            sigma the plain NLL weights a query's mean error by 1 / sigma^2, so the uncertain queries (few
            samples, extrapolation) barely train the mean; beta = 0.5 evens that out. The optimum (the true mean
            and spread at every query) is the same for every beta; 0 is the paper's loss.
        framed: the parameters end with a frame [m (V), log s] per query (PixelTransformer(value_norm=True));
            the other parameters describe (v - m) / s, and every method here maps them back to value units.
    """

    def __init__(self, centres: torch.Tensor, unit: float, alpha: float = 0.1, gaussian_term: str = "paper",
                 min_sigma: float = 1e-3, uniform_scalar: tuple[float, float] | None = None,
                 anchor: bool = False, value_range: tuple[float, float] = (0.0, 1.0), beta: float = 0.0,
                 framed: bool = False):
        super().__init__()
        if gaussian_term not in ("paper", "nll"):
            raise ValueError(f"gaussian_term must be 'paper' or 'nll', got {gaussian_term!r}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if framed and centres.shape[0] != 1:
            raise ValueError(f"a per-set value frame (model.net.value_norm) needs one Gaussian (num_bins=1), "
                             f"not {centres.shape[0]} fixed bins")
        self.register_buffer("centres", centres.float())  # [NB, V]
        self.unit = float(unit)
        self.alpha = alpha
        self.gaussian_term = gaussian_term
        self.min_sigma = min_sigma
        self.uniform_scalar = uniform_scalar  # (low, width) for the O(1) nearest bin of uniform scalar bins
        self.anchor = bool(anchor) and centres.shape[0] > 1
        self.anchor_mid = (value_range[0] + value_range[1]) / 2
        self.anchor_half = (value_range[1] - value_range[0]) / 2
        self.beta = float(beta)
        self.framed = bool(framed)

    @classmethod
    def from_spec(cls, spec: SignalSpec, **kwargs) -> "BinnedGaussian":
        centres = spec.bin_centres()  # [NB, V]
        lo, hi = spec.val_range
        nb, v = centres.shape
        uniform = None
        if nb == 1 and kwargs.get("framed"):  # (v - m) / s has mean 0 in every set's frame, whatever the values' range
            centres = torch.zeros_like(centres)  # [1, V]
            unit = spec.frame_unit if spec.frame_unit is not None else (hi - lo) / 2
        elif nb == 1:
            unit = (hi - lo) / 2
        elif v == 1 and spec.centres is None:
            unit = (hi - lo) / nb
            uniform = (lo, unit)
        else:  # typical spacing of explicit centres: median nearest-neighbour distance
            d = torch.cdist(centres, centres) + torch.eye(nb) * 1e9  # [NB, NB]
            unit = float(d.min(dim=1).values.median())
            tol = 1e-3 * (hi - lo)  # k-means centres of one value differ by the rounding of their sums
            if not unit > tol:  # offsets, sigmas and anchor logits are in this unit: every loss would be NaN
                distinct = len(torch.unique(torch.round(centres / tol), dim=0))
                raise ValueError(f"{spec.domain}/{spec.dataset}: the {nb} value bins have only {distinct} distinct "
                                 f"centres (k-means bins of data with {distinct} distinct values?), so they have no "
                                 f"spacing: set --data.init_args.num_bins to at most {distinct}")
        return cls(centres, unit, uniform_scalar=uniform, value_range=(lo, hi), **kwargs)

    @classmethod
    def from_config(cls, spec: SignalSpec, config: ObjectiveConfig, framed: bool = False) -> "BinnedGaussian":
        """The head and loss an ObjectiveConfig describes; framed: the net predicts in each set's frame."""
        return cls.from_spec(spec, alpha=config.alpha, gaussian_term=config.gaussian_term, beta=config.beta,
                             anchor=config.anchor_logits, framed=framed)

    @property
    def num_bins(self) -> int:
        return self.centres.shape[0]

    @property
    def val_dims(self) -> int:
        return self.centres.shape[1]

    @property
    def num_params(self) -> int:
        """Outputs of the model's head (a framed model appends its frame, V + 1 more)."""
        return self.num_bins * (2 + self.val_dims) + (self.val_dims + 1 if self.anchor else 0)

    @property
    def params_width(self) -> int:
        """The size of the parameters' last axis: the head's outputs, and a framed model's frame (V + 1 more)."""
        return self.num_params + (self.val_dims + 1 if self.framed else 0)

    def check_params(self, params: torch.Tensor, value: torch.Tensor | None = None) -> None:
        """One line for parameters [..., NP] (and values [..., V] whose leading axes broadcast to theirs, or theirs to
        the values': T values scored under one set of parameters, say) of another shape than this distribution reads:
        a value of another V broadcast against the bins, giving a number per query without a word (an RGB value scored
        by a grey model), and parameters of another width stopped deep in an index."""
        for name, x in (("params", params), ("value", value)):
            if x is not None:  # numpy stopped in "has no attribute 'unsqueeze'"
                check_type(name, x, torch.Tensor,
                           "convert it with torch.as_tensor; m.mean_field and m.log_prob take numpy arrays")
        if params.shape[-1:] != (self.params_width,):
            raise ValueError(f"params must be [..., {self.params_width}], the model's outputs (m.predict_params or "
                             f"m(ctx_pos, ctx_val, qry_pos)); got {list(params.shape)}")
        if value is None:
            return
        fits = value.shape[-1:] == (self.val_dims,)
        lead = (value.shape[:-1], params.shape[:-1])
        try:  # one side broadcasts to the other's queries; a transposed [Q, 1, V] against [1, Q] would give [Q, Q]
            fits = fits and torch.broadcast_shapes(*lead) in lead
        except RuntimeError:  # leading axes that do not broadcast: values at other queries (a transposed [Q, B, V])
            fits = False
        if not fits:
            raise ValueError(f"value must be [..., {self.val_dims}] at the queries of params [..., "
                             f"{self.params_width}] (or broadcasting with them); got value {list(value.shape)} and "
                             f"params {list(params.shape)}")

    def unframe(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """params [..., NP (+ V + 1)] -> head params [..., NP], shift m [..., V] and scale s [..., 1] (None
        when not framed), in float32 when they come in half precision (the head's output under autocast): a sigma
        of a thousandth of a bin width squares to below float16's smallest number, and log_prob gave -inf or NaN."""
        params = as_float32(params)  # [..., NP (+ V + 1)]
        if not self.framed:
            return params, None, None
        v = self.val_dims
        return params[..., : -(v + 1)], params[..., -(v + 1) : -1], params[..., -1:].exp()

    # the anchor's sharpness starts at softplus(-4) = 0.018, a mild pull, and grows where copying pays
    ANCHOR_GATE_SHIFT = 4.0

    def anchor_logits(self, raw: torch.Tensor) -> torch.Tensor:
        """The anchor term of every bin's logit from the head's last V + 1 outputs: [..., V + 1] -> [..., NB]."""
        v = self.val_dims
        with torch.autocast(raw.device.type, enabled=False):  # |a|^2 - 2 a.c + |c|^2 cancels: keep it in fp32
            raw = raw.float()
            a = self.anchor_mid + self.anchor_half * raw[..., :v]  # [..., V] anchor value
            g = F.softplus(raw[..., v] - self.ANCHOR_GATE_SHIFT)  # [...] sharpness, >= 0
            d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ self.centres.T + (self.centres**2).sum(-1)  # [..., NB]
            return -g.unsqueeze(-1) * d2.clamp_min(0) / (2 * self.unit**2)  # [..., NB]

    # ---- parameters ------------------------------------------------------------------------------
    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """params [..., NP] -> logits [..., NB], means [..., NB, V], sigmas [..., NB] (value units)."""
        self.check_params(params)
        params = as_float32(params)  # [..., NP]: once, for both readers
        return self.logits(params), *self.components(params)

    def logits(self, params: torch.Tensor) -> torch.Tensor:
        """params [..., NP] -> the bins' logits [..., NB]."""
        nb = self.num_bins
        params = self.unframe(params)[0]
        logits = params[..., :nb]  # [..., NB]
        if self.anchor:
            logits = logits + self.anchor_logits(params[..., nb * (2 + self.val_dims) :])  # [..., NB]
        return logits

    def components(self, params: torch.Tensor, bins: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """params [..., NP] -> the bins' means [..., NB, V] and sigmas [..., NB] (value units); given bins
        [..., k] (indices), only those: [..., k, V] and [..., k], without computing the others."""
        nb, v = self.num_bins, self.val_dims
        params, shift, scale = self.unframe(params)
        offsets = params[..., nb : nb + nb * v].unflatten(-1, (nb, v))  # [..., NB, V]
        sigma_raw = self._raw_sigmas(params)  # [..., NB]
        centres = self.centres  # [NB, V]
        if bins is not None:
            offsets = offsets.gather(-2, bins.unsqueeze(-1).expand(*bins.shape, v))  # [..., k, V]
            sigma_raw = sigma_raw.gather(-1, bins)  # [..., k]
            centres = centres[bins]  # [..., k, V]
        means = centres + self.unit * offsets  # [..., NB or k, V]
        if shift is not None:  # the set's frame back to value units
            means = shift.unsqueeze(-2) + scale.unsqueeze(-1) * means  # [..., NB or k, V]
        return means, self._sigma(sigma_raw, scale)

    def sigmas(self, params: torch.Tensor) -> torch.Tensor:
        """params [..., NP] -> the bins' sigmas [..., NB] (value units), without the means components() computes."""
        self.check_params(params)
        params, _, scale = self.unframe(params)
        return self._sigma(self._raw_sigmas(params), scale)  # [..., NB]

    def _raw_sigmas(self, params: torch.Tensor) -> torch.Tensor:
        """Unframed params [..., NP] -> the head's raw sigmas [..., NB] (before softplus)."""
        nb, v = self.num_bins, self.val_dims
        return params[..., nb + nb * v : nb * (2 + v)]  # [..., NB]

    def _sigma(self, sigma_raw: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        """The head's raw sigmas [..., NB or k] in value units (a framed model's scale s [..., 1] included)."""
        sigma = (F.softplus(sigma_raw) + self.min_sigma) * self.unit  # [..., NB or k]
        return sigma if scale is None else sigma * scale

    def nearest_bin(self, value: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centre for values [..., V] -> [...]."""
        if self.uniform_scalar is not None:
            lo, width = self.uniform_scalar
            return ((value[..., 0] - lo) / width).floor().long().clamp(0, self.num_bins - 1)  # [...]
        if self.num_bins == 1:
            return torch.zeros(value.shape[:-1], dtype=torch.long, device=value.device)
        # fp32 even under autocast: a bf16 matmul here put a quarter of random colours in the wrong one of 256 bins
        with torch.autocast(value.device.type, enabled=False):
            flat = value.reshape(-1, self.val_dims).float()  # [N, V]
            # ||v - c||^2 = ||v||^2 - 2 v.c + ||c||^2; ||v||^2 is the same for every bin
            score = (self.centres**2).sum(-1) - 2 * flat @ self.centres.float().T  # [N, NB]
            return score.argmin(dim=-1).reshape(value.shape[:-1])  # [...]

    # ---- objective and densities -------------------------------------------------------------------
    def loss(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The training loss per query (paper appendix): -(log q_b* - alpha g(sigma_b*, v - mean_b*)).
        params [..., NP], value [..., V] -> [...].

        Only the nearest bin's offset and scale enter the loss, so they are gathered from the raw outputs
        before any transform: no [..., NB, V] tensor of means exists, and the backward pass writes one
        gradient tensor (split) instead of zero-filling a full-size one per slice."""
        nb, v = self.num_bins, self.val_dims
        params, shift, scale = self.unframe(params)
        if shift is not None:  # the loss of (v - m) / s: the NLL in value units less the constant log s
            value = (value - shift) / scale
        logits, offsets, raw_sigma = params[..., : nb * (2 + v)].split([nb, nb * v, nb], dim=-1)  # [..., NB], [..., NB V], [..., NB]
        if self.anchor:
            logits = logits + self.anchor_logits(params[..., nb * (2 + v) :])  # [..., NB]
        b = self.nearest_bin(value).unsqueeze(-1)  # [..., 1]
        offset_b = offsets.unflatten(-1, (nb, v)).gather(-2, b.unsqueeze(-1).expand(*b.shape, v)).squeeze(-2)  # [..., V]
        return self._loss_at_bin(logits, b, offset_b, raw_sigma.gather(-1, b).squeeze(-1), value)

    def head_loss(self, features: torch.Tensor, head: nn.Linear, value: torch.Tensor) -> torch.Tensor:
        """``loss(head(features), value)`` without computing the whole head output.

        The logits need every bin, but the offset and scale only the nearest bin's V + 1 head rows, so a
        query costs NB + V + 1 outputs instead of NB (2 + V) (260 instead of 1280 for 256 RGB bins), and
        the backward pass never touches the other bins' rows. features [..., D], value [..., V] -> [...]."""
        if self.framed:
            raise ValueError("head_loss has no frame to read: a framed distribution trains through loss(model(...))")
        nb, v = self.num_bins, self.val_dims
        logits = F.linear(features, head.weight[:nb], head.bias[:nb])  # [..., NB]
        if self.anchor:
            tail = nb * (2 + v)
            logits = logits + self.anchor_logits(F.linear(features, head.weight[tail:], head.bias[tail:]))  # [..., NB]
        b = self.nearest_bin(value).unsqueeze(-1)  # [..., 1]
        rows = torch.cat([nb + b * v + torch.arange(v, device=b.device), nb + nb * v + b], dim=-1)  # [..., V+1]
        out = (F.embedding(rows, head.weight) * features.unsqueeze(-2)).sum(-1) + head.bias[rows]  # [..., V+1]
        return self._loss_at_bin(logits, b, out[..., :v], out[..., v], value)

    def _loss_at_bin(self, logits: torch.Tensor, b: torch.Tensor, offset_b: torch.Tensor, raw_sigma_b: torch.Tensor,
                     value: torch.Tensor) -> torch.Tensor:
        """logits [..., NB], nearest bin [..., 1], its raw offset [..., V] and raw scale [...] -> loss [...].
        Half-precision logits (the head's under autocast) are read in float32, so the log-sum-exp runs in float32 on
        every device: bf16's rounding there would move a query's loss by tenths of a nat."""
        logits = as_float32(logits)  # [..., NB]
        log_q = logits.gather(-1, b).squeeze(-1) - logits.logsumexp(-1)  # [...]
        mean_b = self.centres[b.squeeze(-1)] + self.unit * offset_b  # [..., V]
        sigma_u = F.softplus(raw_sigma_b) + self.min_sigma  # [...] in units
        r2 = ((value - mean_b) ** 2).sum(-1) / (sigma_u * self.unit) ** 2  # [...]
        log_s = torch.log(sigma_u)  # [...]
        if self.gaussian_term == "paper":
            gauss = self.val_dims * log_s + r2
        else:
            gauss = self.val_dims * log_s + 0.5 * r2
        if self.beta > 0:
            w = sigma_u.detach() ** (2 * self.beta)  # [...]
            gauss = gauss * (w / w.mean())
        return -(log_q - self.alpha * gauss)  # [...]; with NB = 1, log_q = 0

    def log_prob(self, params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Normalised log-density of the mixture at value [..., V] -> [...] (nats, summed over V)."""
        self.check_params(params, value)
        params = as_float32(params)  # [..., NP]: once, for both readers
        logits, means, sigma = self.logits(params), *self.components(params)  # split's body: params checked above
        v = self.val_dims
        log_q = F.log_softmax(logits, dim=-1)  # [..., NB]
        r2 = ((value.unsqueeze(-2) - means) ** 2).sum(-1)  # [..., NB]
        comp = -v * torch.log(sigma) - 0.5 * v * math.log(2 * math.pi) - 0.5 * r2 / sigma**2  # [..., NB]
        return torch.logsumexp(log_q + comp, dim=-1)  # [...]

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[v] = sum_b q_b (c_b + mu_b) (paper Eq. 2): [..., NP] -> [..., V], read BOX_CHUNK [rows, NB, V] elements
        at a time (:meth:`by_rows`)."""
        return self.by_rows(self._mean, params)

    def _mean(self, params: torch.Tensor) -> torch.Tensor:
        """mean of rows: params [N, NP] -> [N, V]."""
        logits, means, _ = self.split(params)
        return self.mixture_mean(logits, means)  # [N, V]

    @staticmethod
    def mixture_mean(logits: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
        """sum_b q_b (c_b + mu_b) of split's logits [..., NB] and means [..., NB, V] -> [..., V]."""
        return (F.softmax(logits, dim=-1).unsqueeze(-1) * means).sum(-2)  # [..., V]

    def by_rows(self, read: Callable[..., torch.Tensor], params: torch.Tensor,
                *per_row: torch.Tensor) -> torch.Tensor:
        """``read`` (rows of params [n, NP], and of each ``per_row`` [..., k] at their queries -> [n, K]) over params
        [..., NP] -> [..., K], BOX_CHUNK [rows, NB, V] elements at a time: the mean's and the CDF's [N, NB] temporaries
        over a whole 3D grid at once took 2.4 and 4.2 kB a point at 150 bins, more than the parameters (1.8 kB), and a
        175^3 SDF prediction that the memory check let through took 33 GiB. One block reads what the whole did, to
        the last float32 place where the anchor's matrix product is one (its rounding depends on the rows it gets)."""
        self.check_params(params)
        lead = params.shape[:-1]
        flat = params.reshape(-1, params.shape[-1])  # [N, NP]
        extra = [t.reshape(flat.shape[0], t.shape[-1]) for t in per_row]  # [N, k] each (N may be 0)
        rows = max(1, self.BOX_CHUNK // (self.num_bins * self.val_dims))
        if flat.shape[0] <= rows:
            out = read(flat, *extra)  # [N, K]
            return out.view(*lead, out.shape[-1])
        parts = [read(flat[i : i + rows], *(t[i : i + rows] for t in extra))
                 for i in range(0, flat.shape[0], rows)]  # [n, K] each
        out = torch.cat(parts)  # [N, K]
        return out.view(*lead, out.shape[-1])  # [..., K]

    def cdf(self, params: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
        """P(v_d < threshold | S) per value dimension, the marginal CDF of the mixture (each component is an
        isotropic Gaussian, so dimension d's marginal is sum_b q_b Phi((t - mean_bd) / sigma_b)).
        params [..., NP], threshold a float or [..., V] -> [..., V]; e.g. P(SDF < 0 | S) with threshold 0.
        Read BOX_CHUNK [rows, NB, V] elements at a time (:meth:`by_rows`)."""
        # a number (or list) held in float64, exactly, and a tensor as it is, where float64 runs (the CPU beside
        # Apple's MPS, which has none), each read on the bins' device in the dtype of their means (_cdf)
        t = torch.as_tensor(threshold, device=float64_device(params.device),
                            dtype=None if isinstance(threshold, torch.Tensor) else torch.float64)
        if t.dim() > 0 and t.shape[-1] not in (1, self.val_dims):  # [B] broadcast against V = 1 gave [..., B]
            raise ValueError(f"threshold must be a number or [..., V] with V = {self.val_dims} (one per value "
                             f"dimension); got {list(t.shape)}")
        if t.dim() == 0:
            return self.by_rows(lambda rows: self._cdf(rows, t), params)
        # either side's leading axes may be the larger: T thresholds [T, 1, Q, 1] at the queries of [B, Q, NP]
        lead = torch.broadcast_shapes(params.shape[:-1], t.shape[:-1])
        return self.by_rows(self._cdf, params.expand(*lead, params.shape[-1]), t.expand(*lead, t.shape[-1]))

    def _cdf(self, params: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """cdf of rows: params [N, NP], threshold t a number or [N, 1 or V] -> [N, V]."""
        logits, means, sigma = self.split(params)
        q = F.softmax(logits.float(), dim=-1).unsqueeze(-1)  # [N, NB, 1]
        t = t.to(device=means.device, dtype=means.dtype)
        if t.dim() > 0:
            t = t.unsqueeze(-2)  # [N, 1, V]
        z = (t - means) / sigma.unsqueeze(-1)  # [N, NB, V]
        return (q * 0.5 * torch.erfc(-z / math.sqrt(2))).sum(-2).clamp(0.0, 1.0)  # [N, V]

    # by_rows (the mean, variance, cdf and log_prob_box) works through the queries in chunks of at most this many
    # [rows, NB, V] elements (a few temporaries each): 256 RGB bins at every pixel of a batch of images, or 150
    # SDF bins at every point of a 3D grid, would otherwise take gigabytes
    BOX_CHUNK = 1 << 22

    def log_prob_box(self, params: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """log P(low <= v <= high | S), the probability (not density) the mixture puts on the box whose corners are
        low and high [..., V] (an edge may be -inf or +inf): log sum_b q_b prod_d (Phi(z_high) - Phi(z_low)) in nats,
        summed over V -> [...] (float64). Computed in float64 from log Phi, so a box far in a component's tail or much
        narrower than its sigma keeps its digits (Phi(b) - Phi(a) of two values near 1 would cancel); on the CPU for
        a device without float64 (:func:`float64_device`), where the result stays."""
        lead, where = params.shape[:-1], float64_device(params.device)
        low, high = (t.to(where).expand(*lead, self.val_dims) for t in (low, high))  # [..., V]
        box = self.by_rows(lambda rows, lo, hi: self._log_prob_box(rows, lo, hi).unsqueeze(-1), params, low, high)
        return box[..., 0]  # [...]

    def _log_prob_box(self, params: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """log_prob_box of rows: params [N, NP] on their device, low and high [N, V] where float64 runs -> [N] there.
        The parameters are split on their device (with the module's buffers), then moved."""
        # [N, NB], [N, NB, V], [N, NB]
        logits, means, sigma = (t.to(low.device) for t in self.split(params))
        with torch.autocast(means.device.type, enabled=False):
            log_q = F.log_softmax(logits.double(), dim=-1)  # [N, NB]
            s = sigma.double().unsqueeze(-1)  # [N, NB, 1]
            a = (low.double().unsqueeze(-2) - means.double()) / s  # [N, NB, V]
            b = (high.double().unsqueeze(-2) - means.double()) / s  # [N, NB, V]
            # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): take the side where both ends lie below the centre, where Phi is
            # small
            flip = a + b > 0  # [N, NB, V]; an infinite edge decides on its own (a = -inf never flips, b = inf does)
            flip = torch.where(torch.isinf(a) | torch.isinf(b), torch.isinf(b), flip)
            lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)  # [N, NB, V], lo < hi
            log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)  # [N, NB, V]
            log_cell = log_hi + torch.log1p(-torch.exp(log_lo - log_hi))  # [N, NB, V]
            return torch.logsumexp(log_q + log_cell.sum(-1), dim=-1)  # [N]

    def variance(self, params: torch.Tensor) -> torch.Tensor:
        """Total variance per value dimension of the mixture: [..., NP] -> [..., V], read BOX_CHUNK [rows, NB, V]
        elements at a time (:meth:`by_rows`)."""
        return self.by_rows(self._variance, params)

    def _variance(self, params: torch.Tensor) -> torch.Tensor:
        """variance of rows: params [N, NP] -> [N, V]."""
        logits, means, sigma = self.split(params)
        q = F.softmax(logits, dim=-1).unsqueeze(-1)  # [N, NB, 1]
        m = (q * means).sum(-2, keepdim=True)  # [N, 1, V]
        return (q * ((means - m) ** 2 + sigma.unsqueeze(-1) ** 2)).sum(-2)  # [N, V]

    def sample(self, params: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
               uniform: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Draw a bin from softmax(logits / T), then a Gaussian with standard deviation T sigma_b.
        [..., NP] -> [..., V]. The random numbers come from `generator`, or are given: uniform [...] in [0, 1)
        picks the bin by inverse CDF, noise [..., V] is the standard normal draw (so each sample can own its
        random stream whatever batch it is drawn in)."""
        params = as_float32(params)  # [..., NP]: once, for both readers
        logits = self.logits(params)  # [..., NB]
        if temperature <= 0:  # the most likely bin's mean
            b = logits.argmax(-1, keepdim=True)  # [..., 1]
        else:
            # logits / T overflowed to -inf in every bin below T ~ 1e-37 (NaN probabilities: the inverse CDF took bin
            # 0): the row's maximum is subtracted first (softmax's own shift, so T = 1 is unchanged), and T below
            # float32's smallest normal number, which it would read as 0, is that number
            logits = logits.float()  # [..., NB]
            lowest = torch.finfo(torch.float32).tiny
            scaled = (logits - logits.amax(-1, keepdim=True)) / max(temperature, lowest)  # [..., NB]
            probs = F.softmax(scaled, dim=-1)  # [..., NB]
            if uniform is not None:
                # bin b takes u in [cdf_{b-1}, cdf_b): the first bin whose cdf exceeds u, so a bin of probability 0
                # (its cdf equal to the one before) is never drawn, not even for u = 0, which torch.rand returns
                # once in 2^24 draws (with cdf < u, u = 0 took bin 0 whatever its probability)
                cdf = probs.cumsum(-1)  # [..., NB]
                b = (cdf <= uniform.unsqueeze(-1) * cdf[..., -1:]).sum(-1, keepdim=True).clamp_max(self.num_bins - 1)
            else:
                b = torch.multinomial(probs.reshape(-1, self.num_bins), 1, generator=generator)
                b = b.reshape(*probs.shape[:-1], 1)  # [..., 1]
        means, sigma_b = self.components(params, b)  # the drawn bin's only: [..., 1, V], [..., 1]
        mean_b = means.squeeze(-2)  # [..., V]
        if noise is None:
            noise = torch.randn(mean_b.shape, generator=generator, device=mean_b.device, dtype=mean_b.dtype)
        return mean_b + max(temperature, 0.0) * sigma_b * noise.to(mean_b.dtype)  # [..., V]
