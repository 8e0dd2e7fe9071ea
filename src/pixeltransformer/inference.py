"""Inference shared by every domain: distribution parameters on a grid, the mean field (Eq. 4), and
autoregressive sampling (Eq. 5-6) with the hybrid N' strategy of section 4.3.

Sampling runs many chains at once: (signals x samples) chains share each encoder call, each chain with its own
random order. The growing set lives in preallocated buffers. With the buffered encoder (S encoded once, drawn
values appended as a causal buffer) or the incremental one, a new sample costs one attention row against a cache of
the rows every layer attends to, instead of a full re-encode. Each signal's chains draw their random numbers from
that signal's own seed, chain after chain, so a signal's samples do not depend on the batch it is sampled in, nor a
sample on how many are drawn beside it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .distribution import BinnedGaussian
from .errors import as_int, check_count, check_type, counted, first_line
from .kernels import native_cpu_kernels
from .loopbar import loop_progress
from .model import MemoryKV
from .numerics import with_flushed_subnormals
from .sets import grid_positions, unflatten_grid
from .stepping import RowStepper
from .stop import check_stop


# cached sampling prepares the inputs of this many steps at a time (bounded memory for any N')
STEP_BLOCK = 1024


class SampleOverflow(ValueError):
    """Samples whose drawn values overflow float32 (NaN or Inf): a bad input where a command asked for them, a note
    where a picture shows them beside the mean (callbacks.Pictures)."""


class PredictionOverflow(FloatingPointError):
    """check_predictions' finding; ``str()`` adds the remedy of a command given a checkpoint, where a fit's pictures
    (callbacks.Pictures) name the learning rate instead."""

    def __init__(self, finding: str):
        super().__init__(finding)
        self.finding = finding

    def __str__(self) -> str:
        return f"{self.finding}, as when a checkpoint is saved while its training diverges; use an earlier checkpoint"


def check_predictions(dist: BinnedGaussian, params: torch.Tensor, where: str, mean: torch.Tensor | None = None,
                      items: Sequence[int] | None = None) -> None:
    """One line for predictions [B, Q, NP] from a finite S whose mean or spread is NaN or Inf (a variance that
    overflows float32 included) at queries ``where`` names ("grid points"): finite weights whose outputs overflow, as
    a checkpoint saved while its training diverged has. Such predictions are refused before anything reads them: no
    metric is computed from them (metrics.json holds no Infinity or null) and no picture drawn. ``mean`` [B, Q, V]:
    dist.mean(params), where the caller has it; ``items``: the B signals' names in a message (split indices)."""
    # a block of queries at a time (dist.by_rows): [B, Q, NB] twice over a whole 3D grid was 1.2 kB a point
    if mean is None:  # the mean's and the sigmas' flags in one pass, each block split and softmaxed once
        def flags(rows: torch.Tensor) -> torch.Tensor:  # [n, NP] -> [n, 2]
            logits, means, sigmas = dist.split(rows)  # [n, NB], [n, NB, V], [n, NB]
            return torch.stack((torch.isfinite(dist.mixture_mean(logits, means)).all(-1),
                                torch.isfinite(sigmas.square()).all(-1)), -1)  # [n, 2]

        finite = dist.by_rows(flags, params).all(-1)  # [B, Q]
    else:
        spread = dist.by_rows(lambda rows: torch.isfinite(dist.sigmas(rows).square()).all(-1, keepdim=True), params)
        finite = torch.isfinite(mean).all(-1) & spread[..., 0]  # [B, Q]
    if not bool(finite.all()):  # one read of the device, as every other finite check
        bad = int((~finite).sum())  # of the B x Q queries
        shape = f"{params.shape[1]}" if params.shape[0] == 1 else f"{params.shape[0]} x {params.shape[1]}"
        named = ""
        if items is not None:
            rows = [items[i] for i in (~finite).any(-1).nonzero()[:, 0].tolist()]
            named = f" (items {', '.join(map(str, rows[:5]))}{', ...' if len(rows) > 5 else ''})"
        raise PredictionOverflow(f"the model's predictions hold NaN or Inf at {bad} of {shape} {where}{named} from a "
                                 "finite S: its weights are finite but its outputs overflow")


@torch.no_grad()
def decode_chunked(model: nn.Module, memory: MemoryKV, qry_pos: torch.Tensor, chunk: int = 16384,
                   progress: str | None = None, read: Callable[[torch.Tensor], torch.Tensor] | None = None
                   ) -> torch.Tensor:
    """Decode queries [B, Q, P] in chunks from one memory (model.encode or a cache) -> parameters [B, Q, NP], or
    what ``read`` makes of each chunk's parameters (dist.mean: [B, Q, V], without holding every query's NP).

    The memory holds the decoder's keys/values, projected once for all chunks. ``progress``: the words that name the
    loop in progress lines (loop_progress), where there is more than one chunk; None: no lines."""
    if chunk < 1:  # a negative chunk would leave rows of the output unwritten
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    q = qry_pos.shape[1]
    check_stop()  # a SIGTERM that came while the memory was made stops before the first chunk (stop.py)
    read = read or (lambda params: params)
    if q <= chunk:
        return read(model.decode(memory, qry_pos))  # [B, Q, NP] (read: [B, Q, V])
    out = None  # [B, Q, NP] (read: [B, Q, V]), filled a chunk at a time: no concatenation copy
    # a whole video or 3D grid decodes for a minute or more on a CPU: as long as the sampled steps beside it
    for s in loop_progress(range(0, q, chunk), progress or "", unit="chunk", enabled=progress is not None,
                           leave=False):
        if s:
            check_stop()  # a whole 3D grid at |S| = 2048 decodes for seconds a chunk on a CPU
        part = read(model.decode(memory, qry_pos[:, s : s + chunk]))  # [B, chunk, NP] (read: [B, chunk, V])
        if out is None:
            out = part.new_empty(part.shape[0], q, part.shape[2])  # [B, Q, NP]
        out[:, s : s + chunk] = part
    return out


def check_finite(**named: torch.Tensor) -> None:
    """One line naming an input that holds NaN or Inf (one NaN in S makes every answer NaN, silently), after one
    wait for the device whatever the count. Skipped while torch.compile or a torch.func transform (vmap, grad)
    traces the caller: their graphs cannot branch on a value."""
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return
    if torch.stack([torch.isfinite(x).all() for x in named.values()]).all():  # [N] -> one bool, one wait
        return
    for name, x in named.items():
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"{name} holds {bad} NaN or infinite entries (as {x.dtype}); "
                             "positions and values must be finite")


def check_weights(model: nn.Module) -> None:
    """One line for weights that are not float32 (``.half()``, ``.double()``, ``.bfloat16()``): the Fourier features
    and the distance bias compute in float32, so such a model stops in torch's "mat1 and mat2 must have the same
    dtype", naming neither. Lower precision comes from torch.autocast, over float32 weights."""
    weight = next(model.parameters(), None)
    if weight is not None and weight.dtype != torch.float32:
        raise ValueError(f"model parameters are {str(weight.dtype).removeprefix('torch.')}; use torch.autocast to "
                         "lower precision, keep the weights float32 (call .float())")


def check_sets(model: nn.Module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor) -> None:
    """One line naming S and queries whose shapes or dtypes do not fit each other or the model (a ctx_val of one
    signal beside ctx_pos of two was broadcast to both, silently; other mismatches stopped deep in the model)."""
    for name, x in (("ctx_pos", ctx_pos), ("ctx_val", ctx_val), ("qry_pos", qry_pos)):
        # numpy stopped in "'str' object has no attribute 'type'", deep in torch
        check_type(name, x, torch.Tensor, "the module's log_prob, mean_field, sample and complete take numpy arrays "
                   "and convert them")
    p, v = getattr(model, "pos_dims", None), getattr(model, "val_dims", None)
    shapes = [list(x.shape) for x in (ctx_pos, ctx_val, qry_pos)]
    if any(len(shape) != 3 for shape in shapes) or ctx_pos.shape[:2] != ctx_val.shape[:2] \
            or qry_pos.shape[0] != ctx_pos.shape[0] or qry_pos.shape[2] != ctx_pos.shape[2] \
            or (p is not None and ctx_pos.shape[2] != p) or (v is not None and ctx_val.shape[2] != v):
        hints = [(name, missing_axis(shape, name, width)) for name, shape, width
                 in zip(("ctx_pos", "ctx_val", "qry_pos"), shapes, (p, v, p)) if len(shape) != 3 and width is not None]
        unbatched = next((f" ({name} holds {hint})" for name, hint in hints if hint), "")  # "(ctx_val holds one ...)"
        raise ValueError(f"ctx_pos [B, K, P], ctx_val [B, K, V] and qry_pos [B, Q, P] must agree on B, K and P, with "
                         f"P = {p} and V = {v} for this model; got {shapes}{unbatched}")
    # torch's own errors name no input: values meet the weights in a linear layer; positions (float64 too, which
    # the cache then holds) meet each other in the distance channels
    check_weights(model)
    weight = next(model.parameters(), None)
    for name, x in (("ctx_pos", ctx_pos), ("ctx_val", ctx_val), ("qry_pos", qry_pos)):
        if weight is not None and x.device != weight.device:  # torch: "Tensor on device cpu is not on the expected..."
            raise ValueError(f"{name} is on {x.device}, the model on {weight.device}: move the inputs there (the "
                             "module's log_prob, mean_field, sample and complete move them themselves)")
    if weight is not None and ctx_val.dtype != weight.dtype:
        raise ValueError(f"ctx_val must be {weight.dtype}, as the model's weights; got {ctx_val.dtype} (the module's "
                         "own methods convert it)")
    if ctx_pos.dtype != qry_pos.dtype or ctx_pos.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"ctx_pos and qry_pos must share one dtype, torch.float32 or torch.float64; got "
                         f"{ctx_pos.dtype} and {qry_pos.dtype}")


@torch.no_grad()
@with_flushed_subnormals
def predict_params(model: nn.Module, ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor,
                   chunk: int = 16384, progress: str | None = None, *, _checked: bool = False) -> torch.Tensor:
    """Distribution parameters at every query: [B, K, P], [B, K, V], [B, Q, P] -> [B, Q, NP]; ``progress`` as
    :func:`decode_chunked` takes it, which also shows the encoder's layers where S takes over a second to encode
    (each point attends to every other: 16 384 points, tens of seconds on a CPU, fit one chunk). ``_checked``, no
    option of a user's: the caller refused NaN and Inf in these inputs already (the module's api_inputs), which are
    then not read again."""
    check_sets(model, ctx_pos, ctx_val, qry_pos)
    if not _checked:
        check_finite(ctx_pos=ctx_pos, ctx_val=ctx_val, qry_pos=qry_pos)
    (b, k), encoding = ctx_pos.shape[:2], None
    if progress is not None:
        encoding = f"encoding S of {k:,} points" + (f" x {counted(b, 'signal')}" if b > 1 else "")
    return decode_chunked(model, model.encode(ctx_pos, ctx_val, progress=encoding), qry_pos, chunk, progress)


@torch.no_grad()
@with_flushed_subnormals
def mean_field(model: nn.Module, dist: BinnedGaussian, ctx_pos: torch.Tensor, ctx_val: torch.Tensor,
               qry_pos: torch.Tensor, chunk: int = 16384, *, _checked: bool = False) -> torch.Tensor:
    """E[v_x | S] at every query (paper Eq. 4): -> [B, Q, V]. ``_checked``: as :func:`predict_params` takes it."""
    return dist.mean(predict_params(model, ctx_pos, ctx_val, qry_pos, chunk, _checked=_checked))


@torch.no_grad()
def observed_lookup(ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor, tol: float = 1e-6,
                    chunk: int = 65536, max_distances: int = 2**25) -> tuple[torch.Tensor, torch.Tensor]:
    """Which queries coincide with a context position, and the observed value there.
    -> mask [B, Q] bool, values [B, Q, V]. At most ``max_distances`` distances [B, q, K] are held at once (128 MiB):
    a chunk of 65536 queries against a large S (3 chains x 32768 points x |S| = 100000: 39 GB) ran out of memory."""
    chunk = max(1, min(chunk, max_distances // max(1, ctx_pos.shape[0] * ctx_pos.shape[1])))
    masks, vals = [], []
    for s in range(0, qry_pos.shape[1], chunk):
        # exact differences: the matmul form of cdist is off by ~1e-3 on large sets, too coarse for equality
        d = torch.cdist(qry_pos[:, s : s + chunk], ctx_pos, compute_mode="donot_use_mm_for_euclid_dist")  # [B, q, K]
        dmin, idx = d.min(dim=-1)  # [B, q]
        masks.append(dmin <= tol)
        vals.append(torch.gather(ctx_val, 1, idx.unsqueeze(-1).expand(-1, -1, ctx_val.shape[-1])))  # [B, q, V]
    return torch.cat(masks, dim=1), torch.cat(vals, dim=1)


@torch.no_grad()
def first_at_position(qry_pos: torch.Tensor) -> torch.Tensor:
    """Each query's first query at the same position (equal coordinates) in its signal: [B, Q, P] -> [B, Q] indices,
    a query's own where no query before it lies there. The rows are sorted by their coordinates, stably (a
    position's first query leads its run), without reading a value on the host."""
    b, q, p = qry_pos.shape
    idx = torch.arange(q, device=qry_pos.device).expand(b, q)  # [B, Q]
    for d in reversed(range(p)):  # the last coordinate first: the sort is lexicographic
        idx = idx.gather(1, qry_pos[..., d].gather(1, idx).argsort(dim=1, stable=True))  # [B, Q]
    rows = qry_pos.gather(1, idx.unsqueeze(-1).expand(-1, -1, p))  # [B, Q, P] sorted
    new = torch.ones(b, q, dtype=torch.bool, device=qry_pos.device)  # [B, Q]: a sorted row that starts a run
    new[:, 1:] = (rows[:, 1:] != rows[:, :-1]).any(-1)
    start = torch.where(new, torch.arange(q, device=qry_pos.device), 0).cummax(dim=1).values  # [B, Q]
    return torch.empty_like(idx).scatter_(1, idx, idx.gather(1, start))  # [B, Q]


# one seed spreads over a batch as 1_000_003 * seed + i, and torch seeds are 64-bit
SEED_LIMIT = 2**63 // 1_000_003 - 1


def missing_axis(shape: list[int], name: str, width: int, listed: bool = False) -> str:
    """What the shape of input ``name`` lacks to be [batch, points, width], for a refusal's end: "one signal: give it
    a batch axis, x[None]" for [points, width]; for a width of one, [batch, points] without the position or value axis
    (as ``name`` holds positions or values) and a one signal's [points]; "" otherwise. The remedies are written on
    np.asarray(x) where x is a list (``listed``): a list's x[None] stops in "list indices must be integers"."""
    x = "np.asarray(x)" if listed else "x"
    if len(shape) == 2 and shape[-1] == width:
        return f"one signal: give it a batch axis, {x}[None]"
    if len(shape) == 2 and width == 1:
        return f"[batch, points] without the {'position' if name.endswith('_pos') else 'value'} axis: {x}[..., None]"
    return f"one signal's points: {x}[None, :, None]" if len(shape) == 1 and width == 1 else ""


def signal_list(x) -> bool:
    """Whether x is a batch given as a list or tuple of signals' arrays, or of tensors, as stacked_signals stacks."""
    return isinstance(x, (list, tuple)) and bool(x) and (all(isinstance(e, np.ndarray) for e in x)
                                                         or all(isinstance(e, torch.Tensor) for e in x))


def check_signals(name: str, x) -> None:
    """Refuse in one line a batch as stacked_signals cannot take it: a list or tuple of signals of other shapes (sets
    of other sizes), or a masked array with masked entries, alone or in a list (torch reads the numbers under its
    mask)."""
    parts = x if isinstance(x, (list, tuple)) else [x]  # np.stack drops the masks of a list of masked arrays
    if hidden := sum(int(np.ma.count_masked(e)) for e in parts if isinstance(e, np.ma.MaskedArray)):
        what = "holds masked arrays" if parts is x else "is a masked array"
        raise ValueError(f"{name} {what} with {hidden} masked entries, which torch would read as numbers: leave "
                         "those samples out (the same rows of positions and values)")
    other = next((list(e.shape) for e in x if e.shape != x[0].shape), None) if signal_list(x) else None
    if other is not None:
        raise ValueError(f"{name} is a list of {len(x)} signals of different shapes, {list(x[0].shape)} and {other}: "
                         "a batch holds sets of one size (call once per signal)")


def stacked_signals(x):
    """A batch given as a list or tuple of signals' arrays (or tensors), each [points, width], as one array
    [batch, points, width] (np.stack's of them as plain arrays, np.matrix's too, or torch.stack's, on the first's
    device: a list of signals on several devices takes one, and the device move follows; on the meta device where one
    is there, which the caller refuses); x itself when it is anything else. check_signals refuses what it cannot
    take; numpy's and torch's own errors (a sparse tensor among dense ones) are left to the caller, who knows the
    input's name."""
    if not signal_list(x):
        return x
    if isinstance(x[0], np.ndarray):
        return np.stack([np.asarray(e) for e in x])  # [B, K or Q, P or V]; np.matrix could not be stacked
    device = next((e.device for e in x if e.is_meta), x[0].device)
    return torch.stack([e.to(device) for e in x])  # [B, K or Q, P or V]


def ragged(x) -> str:
    """Where nested lists or tuples differ in length along one axis, as torch and numpy refuse them: "1 and 2 along
    axis 1" (lists of one depth of other lengths, or lists beside numbers); "" for anything else."""
    level, axis = [x], 0
    while level and all(isinstance(e, (list, tuple)) for e in level):
        lengths = list(dict.fromkeys(len(e) for e in level))  # in order met
        if len(lengths) > 1:
            return f"{lengths[0]} and {lengths[1]} along axis {axis}"
        level, axis = [item for e in level for item in e], axis + 1
    return f"lists beside numbers along axis {axis}" if any(isinstance(e, (list, tuple)) for e in level) else ""


def as_input(name: str, x, shape: str, sets: bool = True) -> torch.Tensor:
    """An input of the inference conveniences as a tensor (numpy's arrays, nested lists, a list of signals' arrays
    stacked), on its own device and in its own dtype, or one line naming it: ``shape`` is the one it takes, as
    "[batch, points, 2]" (``sets``: a set of positions or values, which a ragged list may be of sets of other
    sizes). A list or tuple of signals of other shapes and masked entries are refused (check_signals), as nested
    lists of unequal lengths are."""
    check_signals(name, x)  # a list of signals of other shapes, a masked array: refused
    given = x
    # torch's and numpy's own errors name no input ("Could not infer dtype of NoneType", "new(): invalid data
    # type", "expected sequence of length 1 at dim 1 (got 2)", a sparse tensor among a list's dense ones in stacking)
    try:
        x = stacked_signals(x)  # a list of signals [K, P] -> [B, K, P]
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
            # views torch cannot share, copied: np.flip's negative strides and another byte order were refused,
            # read-only memory (np.broadcast_to, a memory map, JAX's arrays) drew a warning on writing
            x = np.require(x, np.float64 if x.dtype.itemsize > 8 else x.dtype.newbyteorder("="),
                           ["C", "W"])  # as x's shape, 0-d included (ascontiguousarray made it [1])
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        if found := ragged(given):
            other = " (sets of other sizes: call once per signal)" if sets else ""
            raise ValueError(f"{name} is a nested list of unequal lengths ({found}): give one array {shape}, or "
                             f"lists of equal lengths{other}") from None
        why = first_line(err).split(". ")[0]  # numpy's object arrays: the list of dtypes torch takes follows
        raise TypeError(f"{name} must be a tensor or array of numbers {shape}, got {type(given).__qualname__} "
                        f"({why})") from None


def grid_index_hint(pos: torch.Tensor, grid_shape: Sequence[int]) -> str:
    """Where a grid's index lies, for the end of the warning on positions [B, N, P] beyond [-1, 1] that look like
    the indices of the model's grid (whole numbers from 0 to its largest index: an image's pixel indices); ""
    for any others, and on a curve, whose x = 3 is a query beyond its range rather than an index."""
    sizes = [int(n) for n in grid_shape]
    # the cheap checks first: the comparison with pos.round() copies every position
    if len(sizes) < 2 or float(pos.min()) < 0 or float(pos.max()) > max(sizes) - 1 or not torch.equal(pos, pos.round()):
        return ""
    return (f" (grid indices? index i of the model's n points along an axis lies at 2i/(n - 1) - 1, n = "
            f"{' x '.join(map(str, sizes))}: pixeltransformer.sets.grid_positions)")


def check_temperature(temperature) -> float:
    """A sampling temperature as a float: a finite number >= 0 (a one-element real tensor too, as a sweep's
    torch.linspace entry); 0 draws the most likely bin at each step, its mean without noise (a greedy completion)."""
    if isinstance(temperature, torch.Tensor) and temperature.numel() == 1 and temperature.dtype != torch.bool \
            and not temperature.is_complex():
        temperature = temperature.item()
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a finite number >= 0 (0: the most likely bin's mean at each step), "
                         f"got {temperature!r}")
    return float(temperature)


def check_n_autoregressive(n_autoregressive, owner: str = "") -> int | None:
    """N', the autoregressive steps of a sample, as an int: a whole number >= 0, or None (every query drawn).
    ``owner``: the class whose option it is (a callback, configured in YAML or on the command line), which the
    message names, saying null as a config writes it; else a Python call's words (None)."""
    if n_autoregressive is None:
        return None
    words = (f"{owner}: n_autoregressive must be a whole number >= 0 (null: every point drawn)" if owner else
             "n_autoregressive must be an int >= 0 or None")
    return check_count(n_autoregressive, 0, words)


def check_sampling(options: dict[str, Any], least_samples: int = 0) -> dict[str, Any]:
    """The sampling options of the inference conveniences, checked as the command line checks them (counts as
    ints, a temperature as a number, one-element tensors included; a seed is checked where it is used,
    inference.item_seeds). ``least_samples``: 1 for sample, which has no mean to give instead (m.sample(...,
    num_samples=-1) was told "an int >= 0", and 0 then refused)."""
    options = dict(options)
    if "num_samples" in options:
        options["num_samples"] = check_count(options["num_samples"], least_samples, f"num_samples must be an int >= "
                                             f"{least_samples}{' (the mean: mean_field)' if least_samples else ''}")
    if "n_autoregressive" in options:
        options["n_autoregressive"] = check_n_autoregressive(options["n_autoregressive"])
    if "chunk" in options:  # queries decoded at a time
        options["chunk"] = check_count(options["chunk"], 1, "chunk must be an int >= 1")
    if "temperature" in options:
        options["temperature"] = check_temperature(options["temperature"])
    return options


def check_threshold(threshold) -> float:
    """A threshold of Completion.prob_below as a float: one real number, not NaN (a one-element real tensor or numpy
    array too; +-inf included). A threshold per signal [B] broadcast against the value axis: the first signal's
    threshold for every signal, without a word."""
    what = repr(threshold)
    if isinstance(threshold, np.ndarray) and threshold.dtype.kind == "f" and threshold.dtype.itemsize > 8:
        threshold = threshold.astype(np.float64)  # a long double array: torch takes no float128
    if isinstance(threshold, np.floating):  # numpy's real scalars, long double included
        threshold = float(threshold)
    elif isinstance(threshold, torch.Tensor) or type(threshold).__module__ == "numpy":
        try:
            t = torch.as_tensor(threshold)  # [] or [n, ...]
        except (TypeError, ValueError, RuntimeError):  # numpy's strings and dates: torch's words name no threshold
            t = None
        if t is not None and t.numel() == 1 and t.dtype != torch.bool and not t.is_complex():
            threshold = t.item()
        else:
            kind = getattr(threshold, "dtype", type(threshold).__name__)
            shape = f", shape {list(t.shape)}" if t is not None else ""
            what = f"{type(threshold).__name__} of dtype {kind}{shape}"
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or math.isnan(threshold):
        raise ValueError(f"prob_below takes one threshold, a real number (a signal's own: c[i].prob_below(t)); got "
                         f"{what[:100]}")
    return float(threshold)


def item_seeds(seed: int | Sequence[int], batch: int) -> list[int]:
    """One seed per signal: given, or derived from one seed and the signal's place in the batch."""
    one = as_int(seed)
    if one is not None:
        if abs(one) > SEED_LIMIT:
            raise ValueError(f"seed must lie in [-{SEED_LIMIT}, {SEED_LIMIT}], got {one}")
        return [1_000_003 * one + i for i in range(batch)]
    # a 0-d tensor or array (torch.tensor(3.0)) is no list of seeds: iterating it raised in torch's words
    listed = isinstance(seed, Iterable) and not isinstance(seed, str) and getattr(seed, "ndim", 1) != 0
    seeds = [as_int(x) for x in seed] if listed else [None]
    if None in seeds or not all(-(2**63) <= x < 2**64 for x in seeds):
        raise ValueError(f"seed must be an int, or one 64-bit int per signal; got {seed!r}")
    if len(seeds) != batch:
        raise ValueError(f"sample: {counted(len(seeds), 'seed')} for a batch of {counted(batch, 'signal')}")
    return seeds


@torch.no_grad()
@with_flushed_subnormals
def sample(
    model: nn.Module,
    dist: BinnedGaussian,
    ctx_pos: torch.Tensor,
    ctx_val: torch.Tensor,
    qry_pos: torch.Tensor,
    num_samples: int = 1,
    n_autoregressive: int | None = 2048,
    temperature: float = 1.0,
    seed: int | Sequence[int] = 0,
    chunk: int = 16384,
    progress: bool = False,
    use_cache: bool | None = None,
    *,
    _on_grid: bool = False,
    _checked: bool = False,
) -> torch.Tensor:
    """Draw samples of the signal at the query positions given S.

    Every chain visits the queries in its own random order; the first N' = n_autoregressive unobserved
    positions are sampled one by one, each conditioned on S and the values drawn so far; the rest get their
    mean given S plus the N' samples. Queries that coincide with an observed position keep the observed
    value; a position queried more than once (equal coordinates) is drawn once, and its repeats get that value.
    n_autoregressive=None samples every query autoregressively. `seed`: one seed per signal (e.g.
    derived from its index in the split), or one int from which each signal's seed follows its place in
    the batch; a signal's chain j (order, bins, noise) depends on its seed and j only, so the first n of more
    samples are the n samples drawn alone. `_on_grid`, no option of a user's: the grid callers' (complete, the
    evaluation's grid queries) word that the queries are a grid's points, which are not searched for repeats;
    `_checked`: as :func:`predict_params` takes it.

    ctx_pos [B, K, P], ctx_val [B, K, V], qry_pos [B, Q, P] -> samples [B, S, Q, V].
    """
    num_samples = check_count(num_samples, 1, "sample needs num_samples >= 1")  # torch's errors name neither
    n_autoregressive = check_n_autoregressive(n_autoregressive)
    temperature = check_temperature(temperature)
    check_sets(model, ctx_pos, ctx_val, qry_pos)
    if not _checked:
        check_finite(ctx_pos=ctx_pos, ctx_val=ctx_val, qry_pos=qry_pos)
    b, k, p = ctx_pos.shape
    q, v, s = qry_pos.shape[1], ctx_val.shape[-1], num_samples
    device = ctx_pos.device
    kind = getattr(model, "encoder_kind", "bidirectional")
    if use_cache is None:
        use_cache = kind != "bidirectional"

    # chains: every signal repeated S times -> BS = B * S
    cpos = ctx_pos.repeat_interleave(s, dim=0)  # [BS, K, P]
    cval = ctx_val.repeat_interleave(s, dim=0)  # [BS, K, V]
    qpos = qry_pos.repeat_interleave(s, dim=0)  # [BS, Q, P]
    bs = b * s
    observed, obs_val = observed_lookup(cpos, cval, qpos)  # [BS, Q], [BS, Q, V]
    # a position asked for again is drawn once: its repeats are left out of the draws, as observed queries are, and
    # get its first query's value
    first = None if _on_grid else first_at_position(qry_pos)  # [B, Q]; a grid's positions are distinct
    skipped = observed if first is None else \
        observed | (first != torch.arange(q, device=device)).repeat_interleave(s, dim=0)  # [BS, Q]
    # steps for the chain with the most queries to draw: a chain with fewer visits skipped ones in its last steps,
    # whose draws the observed and first values replace, so its samples do not depend on the batch's other signals
    free = int((~skipped).sum(dim=1).max())
    n_ar = free if n_autoregressive is None else min(n_autoregressive, free)

    # every signal's random numbers from its own generator, drawn for up to Q steps whatever N' the batch allows, one
    # chain after the other: chain j draws the same numbers whatever num_samples is
    n_draw = q if n_autoregressive is None else min(n_autoregressive, q)
    order_u, bin_u, noise = [], [], []
    f32 = dict(device=device, dtype=torch.float32)  # the same draws whatever torch's default dtype
    for item_seed in item_seeds(seed, b):
        gen = torch.Generator(device=device).manual_seed(item_seed)
        for _ in range(s):
            order_u.append(torch.rand(1, q, generator=gen, **f32))  # [1, Q]
            bin_u.append(torch.rand(1, n_draw, generator=gen, **f32))  # [1, N'']
            noise.append(torch.randn(1, n_draw, v, generator=gen, **f32))  # [1, N'', V]
    bin_u, noise = torch.cat(bin_u), torch.cat(noise)  # [BS, N''], [BS, N'', V]

    # a fresh random order per chain, the queries to draw first
    order = (torch.cat(order_u) + skipped.float()).argsort(dim=1)  # [BS, Q]

    out = torch.empty(bs, q, v, device=device, dtype=ctx_val.dtype)  # [BS, Q, V]
    buf_pos = torch.empty(bs, k + n_ar, p, device=device, dtype=ctx_pos.dtype)  # [BS, K+N', P]
    buf_val = torch.empty(bs, k + n_ar, v, device=device, dtype=ctx_val.dtype)  # [BS, K+N', V]
    buf_pos[:, :k], buf_val[:, :k] = cpos, cval
    # the buffered encoder reads the first K rows as S and the drawn values as its causal buffer
    observed_rows = k if kind == "buffered" else None

    if use_cache:
        # the cache holds every row the encoder's and the decoder's attention reads: a step appends one
        cache = model.new_cache(bs, k + n_ar, device, ctx_pos.dtype)
        encoding = f"encoding S of {k:,} points x {counted(bs, 'chain')}" if progress else None
        model.encode_append(cache, cpos, cval, progress=encoding)  # S, as predict_params shows its encoding
        stepper = RowStepper(model, cache)  # each step: one row per chain

    # the visiting order's positions, gathered once: step t reads a contiguous [BS, 1, P] slice
    ar_idx = order[:, :n_ar]  # [BS, N']
    ar_pos = torch.gather(qpos, 1, ar_idx.unsqueeze(-1).expand(-1, -1, p))  # [BS, N', P]
    buf_pos[:, k:] = ar_pos
    steps = None
    # one-row steps: PyTorch's own small-tensor kernels (kernels.native_cpu_kernels)
    with native_cpu_kernels(device) if use_cache else contextlib.nullcontext():
        for t in loop_progress(range(n_ar), f"sampling {n_ar} steps x {counted(bs, 'chain')}", unit="step",
                               enabled=progress, leave=False):
            check_stop()  # a SIGTERM stops an evaluation here, not minutes later at the end of its batch (stop.py)
            if use_cache:
                if t % STEP_BLOCK == 0:  # what the next positions fix (embeddings, distance channels), at once
                    steps = model.step_inputs(ar_pos[:, t : t + STEP_BLOCK])
                pos_t, ctx_embed, qry_embed = steps.at(t % STEP_BLOCK)  # [BS, 1, P], [BS, 1, D], [BS, 1, D]
                params = stepper.decode(pos_t, qry_embed)  # [BS, 1, NP]
            else:
                mem = model.encode(buf_pos[:, : k + t], buf_val[:, : k + t], observed=observed_rows)
                params = model.decode(mem, ar_pos[:, t : t + 1])  # [BS, 1, NP]
            val_t = dist.sample(params, temperature, uniform=bin_u[:, t : t + 1],
                                noise=noise[:, t : t + 1])  # [BS, 1, V]
            buf_val[:, k + t : k + t + 1] = val_t
            if use_cache:
                stepper.append(pos_t, val_t, ctx_embed)
    out.scatter_(1, ar_idx.unsqueeze(-1).expand(-1, -1, v), buf_val[:, k:])  # [BS, Q, V]

    rest = order[:, n_ar:]  # [BS, Q - N']
    if rest.shape[1] > 0:
        # keys/values of K+N' rows
        drawn = f" and {n_ar:,} drawn" if n_ar else ""
        encoding = f"encoding S of {k:,} points{drawn} x {counted(bs, 'chain')}" if progress else None
        mem = model.cached_memory(cache) if use_cache else \
            model.encode(buf_pos, buf_val, observed=observed_rows, progress=encoding)
        rest_pos = torch.gather(qpos, 1, rest.unsqueeze(-1).expand(-1, -1, p))  # [BS, R, P]
        words = f"mean at {rest.shape[1]} points not drawn x {counted(bs, 'chain')}" if progress else None
        # the mean a chunk at a time: every chain's parameters [BS, R, NP] at once were 38 GB for 3 samples of an
        # SDF model (150 bins) at 192^3, S times what the completion's own mean holds
        rest_val = decode_chunked(model, mem, rest_pos, chunk, words, read=dist.mean)  # [BS, R, V]
        out.scatter_(1, rest.unsqueeze(-1).expand(-1, -1, v), rest_val)
    if first is not None:  # each repeat takes its position's first value
        out = out.view(b, s, q, v).gather(2, first[:, None, :, None].expand(b, s, q, v)).view(bs, q, v)  # [BS, Q, V]
    out = torch.where(observed.unsqueeze(-1), obs_val, out)  # [BS, Q, V]
    if not torch.isfinite(out).all():  # a drawn value that overflowed feeds every later step of its chain
        hint = "use a lower temperature" if temperature > 1 else (
            "each draw joins the set the next is drawn from, and this model's spreads run away from its set's (a "
            "model early in its training, or one that diverges: lower model.optim.lr)")
        raise SampleOverflow(f"sampling at temperature {temperature:g} drew values that overflow float32 (NaN or "
                             f"Inf): {hint}")
    return out.view(b, s, q, v)  # [B, S, Q, V]


@dataclass
class Completion:
    """A model's completion of signals from their context sets, on a grid: what pictures and predictions show.

    mean and samples are [B, V, *grid] and [B, S, V, *grid] (S = 0: samples is None). params [B, N, NP] are the
    distribution's parameters at the N grid points in row-major order, for anything else a picture needs (a
    band, a probability; see :meth:`std` and :meth:`prob_below`). signal is the ground truth [B, V, *grid'] when
    known, at its own resolution, which may differ from the completion's grid. n_autoregressive is the N' the
    samples were drawn with (None: N' = None, or no samples) and free [B] each signal's grid points not in S (as
    :meth:`observed` finds them); see :meth:`drawn_note`. split and items [B] name the split and the item indices in
    it of signals drawn from a data set (:meth:`of_split`), which a picture's title names; None for others.
    """

    grid_shape: tuple[int, ...]
    ctx_pos: torch.Tensor  # [B, K, P]
    ctx_val: torch.Tensor  # [B, K, V]
    mean: torch.Tensor  # [B, V, *grid]
    samples: torch.Tensor | None  # [B, S, V, *grid]
    params: torch.Tensor  # [B, N, NP]
    dist: BinnedGaussian
    signal: torch.Tensor | None = None  # [B, V, *grid']
    n_autoregressive: int | None = None
    free: torch.Tensor | None = None  # [B]
    split: str | None = None
    items: torch.Tensor | None = None  # [B]

    def observed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The grid points S lies on and S's values there, as the mean keeps them: [B, N] bool, [B, N, V]."""
        # [N, P]: float32 points cast as draw_context's are, so that S's grid points match (a float64 linspace differs)
        qry = grid_positions(self.grid_shape, device=self.ctx_pos.device).to(self.ctx_pos.dtype)
        return observed_lookup(self.ctx_pos, self.ctx_val, qry.unsqueeze(0).expand(self.ctx_pos.shape[0], -1, -1))

    def std(self) -> torch.Tensor:
        """The predictive standard deviation at every grid point: [B, V, *grid]; 0 at the grid points S lies on,
        where the mean is S's value."""
        sd = self.dist.variance(self.params).sqrt()  # [B, N, V]
        observed, _ = self.observed()  # [B, N]
        return unflatten_grid(sd.masked_fill(observed.unsqueeze(-1), 0.0), self.grid_shape)  # [B, V, *grid]

    def prob_below(self, threshold: float) -> torch.Tensor:
        """P(v < threshold | S) of the first value channel at every grid point, from the mixture's CDF: [B, *grid].
        At a grid point S lies on it is S's own side of the threshold (0 or 1), as the mean shows S's value there."""
        threshold = check_threshold(threshold)
        p = self.dist.cdf(self.params, threshold)[..., :1]  # [B, N, 1]
        observed, obs_val = self.observed()  # [B, N], [B, N, V]
        p = torch.where(observed.unsqueeze(-1), (obs_val[..., :1] < threshold).to(p.dtype), p)  # [B, N, 1]
        return unflatten_grid(p, self.grid_shape)[:, 0]  # [B, *grid]

    def drawn_note(self) -> str:
        """What a picture labelled "sample" must say when only some of its values were drawn: "N′ = 16 values drawn,
        the rest their mean" where N' is smaller than the grid points not in S (the rest got their mean given S and
        the N' draws); "" when every such value was drawn, or there are no samples."""
        if self.samples is None or self.n_autoregressive is None:
            return ""
        free = self.free if self.free is not None else (~self.observed()[0]).sum(dim=1)  # [B]
        if self.n_autoregressive >= int(free.max()):
            return ""
        return f"N′ = {self.n_autoregressive} values drawn, the rest their mean"

    def titled(self, title: str, what: str = "samples", sep: str = "\n") -> str:
        """A picture's ``title`` with :meth:`drawn_note` after ``sep`` (a second line: "samples: N′ = 16 values
        drawn, the rest their mean") where it applies; the title alone otherwise."""
        note = self.drawn_note()
        return f"{title}{sep}{f'{what}: ' if what else ''}{note}" if note else title

    def of_split(self, split: str, items: torch.Tensor | None = None) -> Completion:
        """This completion as that of the examples of ``split`` the pictures draw (DataModule.fixed_examples): signal
        b is item ``items[b]``, each example's "index" (an indexed dataset's), or without them item b."""
        items = torch.arange(self.mean.shape[0]) if items is None else torch.as_tensor(items).cpu()  # [B]
        return replace(self, split=split, items=items)

    TENSORS = ("ctx_pos", "ctx_val", "mean", "samples", "params", "signal", "free", "items")  # with a batch axis

    def _with(self, f) -> Completion:
        """This completion with f applied to each of its TENSORS that is set."""
        return replace(self, **{k: f(v) for k in self.TENSORS if (v := getattr(self, k)) is not None})

    def cpu(self) -> Completion:
        return self._with(lambda t: t.detach().cpu())

    def __getitem__(self, i: int | slice) -> Completion:
        """The completion of some of the signals (an index keeps the batch axis: [1, ...]; numpy's and one-element
        tensors' whole numbers are indices too)."""
        if (index := as_int(i)) is not None:
            i, b = index, self.mean.shape[0]
            if not -b <= i < b:
                raise IndexError(f"completion {i} of a batch of {b}")
            i = slice(i % b, i % b + 1)  # c[-1] is the last signal, not an empty batch
        return self._with(lambda t: t[i])


@torch.no_grad()
@with_flushed_subnormals
def complete(model: nn.Module, dist: BinnedGaussian, ctx_pos: torch.Tensor, ctx_val: torch.Tensor,
             grid_shape: Sequence[int], num_samples: int = 0, n_autoregressive: int | None = 2048,
             temperature: float = 1.0, seed: int | Sequence[int] = 0, chunk: int = 16384, progress: bool = False,
             signal: torch.Tensor | None = None, *, _checked: bool = False) -> Completion:
    """The one grid-completion loop: the mean (Eq. 4) and ``num_samples`` samples (Eq. 5-6) of each signal on a
    grid of any size (positions are continuous). Grid points that coincide with an observed position show the
    observed value, in the mean as in the samples. ``_checked``: as :func:`predict_params` takes it (the samples'
    inputs are the mean's, checked once).

    ctx_pos [B, K, P], ctx_val [B, K, V] -> Completion (mean [B, V, *grid], samples [B, S, V, *grid]).
    """
    num_samples = check_count(num_samples, 0, "num_samples must be an int >= 0")  # -1 gave no samples, silently
    grid_shape = tuple(int(g) for g in grid_shape)
    b = ctx_pos.shape[0]
    seed = item_seeds(seed, b) if num_samples > 0 else seed  # a bad seed fails before the mean is computed
    qry = grid_positions(grid_shape, device=ctx_pos.device).unsqueeze(0).expand(b, -1, -1)  # [B, N, P]
    if ctx_pos.dtype == torch.float64:  # S's positions in float64 (supported): the grid's in float64 too
        qry = qry.double()
    words = (f"mean at {qry.shape[1]} points" + (f" x {counted(b, 'signal')}" if b > 1 else "")) if progress else None
    params = predict_params(model, ctx_pos, ctx_val, qry, chunk, words, _checked=_checked)  # [B, N, NP]
    predicted = dist.mean(params)  # [B, N, V]
    check_predictions(dist, params, "grid points", predicted)
    observed, obs_val = observed_lookup(ctx_pos, ctx_val, qry)  # [B, N], [B, N, V]
    mean = torch.where(observed.unsqueeze(-1), obs_val, predicted)  # [B, N, V]
    samples = None
    if num_samples > 0:
        samples = unflatten_grid(sample(model, dist, ctx_pos, ctx_val, qry, num_samples=num_samples,
                                  n_autoregressive=n_autoregressive, temperature=temperature, seed=seed, chunk=chunk,
                                  progress=progress, _on_grid=True, _checked=True), grid_shape)  # [B, S, V, *grid]
    return Completion(grid_shape, ctx_pos, ctx_val, unflatten_grid(mean, grid_shape), samples, params, dist, signal,
                      n_autoregressive if num_samples > 0 else None, (~observed).sum(dim=1))  # free: [B]
