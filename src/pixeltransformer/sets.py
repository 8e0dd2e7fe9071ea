"""Context and query sets drawn from dense signals, on the signal's device, and a set sampler's sizes checked against
the data's grid (:func:`denser_than_signal`, :func:`every_point_sets`).

Positions live in [-1, 1]^P in the grid's axis order; grid point i of an axis of size n sits at
-1 + 2 i / (n - 1) (``align_corners=True``), so a set drawn at grid points reads exact values. Continuous
positions are read with (bi/tri)linear interpolation and border clamping, never zero padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .errors import as_int, check_count, check_type, class_path, counted, listed
from .layout import config_shown

if TYPE_CHECKING:
    from .signal import SignalSpec


@dataclass
class SetBatch:
    ctx_pos: torch.Tensor  # [B, K, P]
    ctx_val: torch.Tensor  # [B, K, V]
    qry_pos: torch.Tensor  # [B, Q, P]
    qry_val: torch.Tensor  # [B, Q, V]

    @property
    def num_context(self) -> int:
        return self.ctx_pos.shape[1]


SIGNAL = "[B, V, *grid]"  # the layout of a batch of dense signals: channels first, 1 to 3 grid axes
AS_TENSOR = "convert it with torch.as_tensor"  # the remedy for numpy's arrays
TO_TENSOR = f"{AS_TENSOR}: a batch {SIGNAL}, channels first"  # the remedy for numpy's signals


def grid_sizes(grid, pos_dims: int | None = None) -> tuple[int, ...] | None:
    """A grid's sizes as ints (whole numbers of any type as_int takes): ``pos_dims`` of them (None: one or more),
    each >= 1; None if the sequence is anything else."""
    try:
        shape = tuple(as_int(g) for g in grid)
    except TypeError:  # not a sequence
        return None
    fits = len(shape) == pos_dims if pos_dims is not None else len(shape) >= 1
    return shape if fits and None not in shape and min(shape) >= 1 else None


def checked_grid(grid_shape, where: str) -> tuple[int, ...]:
    """A grid's sizes as ints (:func:`grid_sizes`), else one line naming ``where`` (a size 0 or -1 gave a row of
    points, silently; 4.5 or "4" stopped in torch's words)."""
    if (sizes := grid_sizes(grid_shape)) is None:
        raise ValueError(f"{where}: grid_shape must be one or more whole-number sizes >= 1 (one per position axis, as "
                         f"(8, 8)), got {grid_shape!r}")
    return sizes


def check_signal(signal, where: str, floating: bool = True) -> None:
    """One line for a ``where``'s (draw_context's, a SetSampler's, read_signal's) signal that is not a batch of dense
    signals [B, V, *grid] of floating-point values (any values where not ``floating``: flatten_grid's), which stopped
    deep in torch (numpy's array, an integer signal in grid_sample's "not implemented for 'Long'", a grid of 4 axes),
    or was misread without a word (one picture [H, W] as a batch of signals of no grid axis). A channels-last batch
    [B, *grid, V] has a valid shape and is read as channels first, its last axis as a grid axis: the layout is
    documented, not guessed. Shapes and dtype only: no wait for a device."""
    check_type(f"{where}: signal", signal, torch.Tensor, TO_TENSOR)
    shape = list(signal.shape)
    if not 3 <= len(shape) <= 5 or 0 in shape:
        hint = {1: " (one curve's values? signal[None, None])",
                2: " (one signal without its batch axis? [V, *grid]: signal[None]; a grey picture [H, W]: "
                   "signal[None, None])"}.get(len(shape), "")
        empty = ", with no empty axis" if 3 <= len(shape) <= 5 else ""
        raise ValueError(f"{where}: signal must be a batch {SIGNAL} of 1 to 3 grid axes, channels first{empty}, got "
                         f"{shape}{hint}")
    if floating and not signal.is_floating_point():  # grid_sample reads floats alone
        raise ValueError(f"{where}: signal must hold floating-point values, got {signal.dtype} (signal.float(); "
                         "0-255 levels: signal.float() / 255)")


def check_layouts(where: str, named: dict[str, tuple[Any, str]], known: dict[str, int] | None = None,
                  of: str = "") -> None:
    """One line for ``where``'s tensors that do not fit their layouts, ``named`` {name: (tensor, "[B, K, P]")}: each
    a torch.Tensor with one axis per letter, the axes of one letter of one size, the size ``known`` gives a letter
    where it gives one (``of``: whose sizes those are, as "signal [2, 1, 8, 8]"). Such tensors stopped deep in torch
    (grid_sample, cdist, gather) or were read as other shapes, silently (one set of positions beside 2 signals).
    Shapes only: no wait for a device."""
    for name, (x, _) in named.items():
        check_type(f"{where}: {name}", x, torch.Tensor, AS_TENSOR)
    sizes, fits = dict(known or {}), True
    for x, layout in named.values():
        letters = layout.strip("[]").split(", ")
        fits = fits and x.dim() == len(letters) and all(sizes.setdefault(a, n) == n for a, n in zip(letters, x.shape))
    if fits:
        return
    given = " and ".join(f"{a} = {n}" for a, n in (known or {}).items())
    given = f" with {given}" + (f" ({of})" if of else "") if given else ""
    shapes = [str(list(x.shape)) for x, _ in named.values()]
    if len(named) == 1:
        (name, (_, layout)), = named.items()
        raise ValueError(f"{where}: {name} must be {layout}{given}, got {shapes[0]}")
    letters = [a for _, layout in named.values() for a in layout.strip("[]").split(", ")]
    shared = [a for i, a in enumerate(letters) if letters.count(a) > 1 and a not in letters[:i]]
    raise ValueError(f"{where}: {listed(f'{name} {layout}' for name, (_, layout) in named.items())} must agree on "
                     f"{listed(shared)}{given}; got {', '.join(shapes)}")


def grid_positions(grid_shape: tuple[int, ...], device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Positions of every grid point, row-major over the grid: [N, P]; float32 whatever torch's default dtype (a
    notebook may set float64), float64 where asked (positions turned into a data's own units keep their digits).
    ``grid_shape``: one whole-number size >= 1 per position axis, as (8, 8)."""
    sizes = checked_grid(grid_shape, "grid_positions")
    factory = dict(device=device, dtype=dtype)
    axes = [torch.linspace(-1.0, 1.0, n, **factory) if n > 1 else torch.zeros(1, **factory) for n in sizes]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=-1)  # [N, P]


def flatten_grid(signal: torch.Tensor) -> torch.Tensor:
    """[B, V, *grid] -> [B, N, V], row-major like :func:`grid_positions`; values of any dtype."""
    check_signal(signal, "flatten_grid", floating=False)
    return signal.flatten(2).transpose(1, 2)  # [B, N, V]


def unflatten_grid(values: torch.Tensor, grid_shape: tuple[int, ...]) -> torch.Tensor:
    """[..., N, V] -> [..., V, *grid], N the points of ``grid_shape``."""
    check_type("unflatten_grid: values", values, torch.Tensor, AS_TENSOR)
    n = math.prod(grid := checked_grid(grid_shape, "unflatten_grid"))
    if values.dim() < 2 or values.shape[-2] != n:  # a reshape's "shape '[2, 3, 4, 5]' is invalid for input of size 72"
        raise ValueError(f"unflatten_grid: values must be [..., N, V] with N = {n}, the points of grid_shape "
                         f"{grid}, got {list(values.shape)}")
    return values.transpose(-1, -2).reshape(*values.shape[:-2], values.shape[-1], *grid)  # [..., V, *grid]


def read_signal(signal: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Read a dense signal [B, V, *grid] at continuous positions [B, N, P] (P its grid axes) -> values [B, N, V],
    in the wider of the two dtypes (autocast's where it is on).

    Linear interpolation along every axis, clamped at the border.
    """
    check_signal(signal, "read_signal")
    b, v = signal.shape[:2]
    p = signal.dim() - 2
    check_layouts("read_signal", {"pos": (pos, "[B, N, P]")}, {"B": b, "P": p}, f"signal {list(signal.shape)}")
    # grid_sample reads one dtype ("expected scalar type Float but found Double"): the wider, so that positions keep
    # their digits; a bf16 signal under autocast is read as autocast casts it
    wide = torch.promote_types(signal.dtype, pos.dtype)
    signal, pos = signal.to(wide), pos.to(wide)
    # grid_sample wants (x, y[, z]) = the reversed axis order, and no 1D mode: lift 1D to 2D.
    coords = pos.clamp(-1.0, 1.0).flip(-1)  # [B, N, P]
    if p == 1:
        signal = signal.unsqueeze(2)  # [B, V, 1, W]
        coords = torch.cat([coords, torch.zeros_like(coords)], dim=-1)  # [B, N, 2]
    extra = (1,) * (max(p, 2) - 1)
    grid = coords.reshape(b, -1, *extra, coords.shape[-1])  # [B, N, 1(, 1), P']
    out = F.grid_sample(signal, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(b, v, -1).transpose(1, 2)  # [B, N, V]


def log_uniform_int(low: int, high: int, generator: torch.Generator) -> int:
    """An integer drawn log-uniformly from [low, high]."""
    if high <= low:
        return int(low)
    u = torch.rand((), generator=generator, device=generator.device).item()
    return int(min(high, math.floor(math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low))))))


SETS_OPTIONS = "model.sets.init_args"  # where a config sets the sampler's options, which its errors name


class SetSampler:
    """Draws (context, query) sets from dense batches.

    Args:
        min_context: the smallest |S|; one |S| per batch, log-uniform between min_context and max_context. With
            grid_points it must be below the signal's number of points (a fit refuses more: every set would hold
            every point).
        max_context: the largest |S| (clipped to the number of grid points when positions are grid points).
        num_queries: |Q| per signal.
        grid_points: draw positions at grid points (exact values, no interpolation) instead of
            continuous positions.
            With grid points, queries are distinct from the context whenever the grid is large enough.
        focus_fraction: a fraction of the queries (not the context) is drawn near the grid points whose first
            value channel lies in focus_band, each jittered uniformly within its grid cell; the rest stay
            uniform. For signals where most of the domain holds one value (an SDF truncated at +t far from the
            surface), this spends the loss where the signal varies. A signal with no grid point in the band falls
            back to uniform queries. 0 (default): the paper's uniform law. The module trains with the focused
            queries and validates with uniform() ones.
        focus_band: (low, high): the values that focus_fraction draws its queries near (SDF: near the surface).

    The module's ``sets`` option names this class or a subclass (``class_path``/``init_args``), such as a domain's
    sampler for signals stored as point sets; a subclass overrides __call__ (and uniform() when it has a focus).
    """

    step_options = "model.sets.max_context, num_queries"  # what sizes largest_step
    query_options = "model.sets.num_queries"  # what sizes level_queries

    def __init__(
        self,
        min_context: int = 4,
        max_context: int = 2048,
        num_queries: int = 2048,
        grid_points: bool = False,
        focus_fraction: float = 0.0,
        focus_band: tuple[float, float] | None = None,
    ):
        if not 1 <= min_context <= max_context:
            raise ValueError(f"{SETS_OPTIONS}: need 1 <= min_context <= max_context, got {min_context}, "
                             f"{max_context}")
        if num_queries < 1:
            raise ValueError(f"{SETS_OPTIONS}.num_queries must be >= 1, got {num_queries}")
        self.min_context = min_context
        self.max_context = max_context
        self.num_queries = num_queries
        self.grid_points = grid_points
        if not 0.0 <= focus_fraction <= 1.0:
            raise ValueError(f"{SETS_OPTIONS}.focus_fraction must be in [0, 1], got {focus_fraction}")
        if focus_fraction > 0 and (focus_band is None or len(focus_band) != 2 or focus_band[0] > focus_band[1]):
            raise ValueError(f"{SETS_OPTIONS}.focus_fraction > 0 needs focus_band = [low, high] with low <= high, "
                             f"got {focus_band}")
        self.focus_fraction = float(focus_fraction)
        self.focus_band = None if focus_band is None else (float(focus_band[0]), float(focus_band[1]))

    def largest_context(self, num_points: int | None = None) -> int:
        """The largest |S| this sampler draws from a signal of ``num_points`` points (None: any signal)."""
        return self.max_context if num_points is None or not self.grid_points else min(self.max_context, num_points)

    def largest_step(self, num_points: int | None = None) -> tuple[int, int]:
        """The (|S|, |Q|) of the largest training set this sampler draws from a signal of ``num_points`` points."""
        return self.largest_context(num_points), self.num_queries

    def level_queries(self, num_context: int, num_points: int) -> int:
        """The |Q| of a set this sampler draws at a fixed |S| = ``num_context`` (a validation level) from a signal of
        ``num_points`` points."""
        return self.num_queries

    def draw_k(self, generator: torch.Generator, num_points: int | None = None) -> int:
        hi = self.largest_context(num_points)
        return log_uniform_int(min(self.min_context, hi), hi, generator)

    def init_args(self) -> dict[str, Any]:
        """The arguments that rebuild this sampler, as plain types (a checkpoint's hyperparameters)."""
        return {"min_context": self.min_context, "max_context": self.max_context, "num_queries": self.num_queries,
                "grid_points": self.grid_points, "focus_fraction": self.focus_fraction,
                "focus_band": None if self.focus_band is None else list(self.focus_band)}

    def uniform(self) -> "SetSampler":
        """This sampler with uniform queries (validation): itself when it has no query focus."""
        if self.focus_fraction == 0:
            return self
        return SetSampler(self.min_context, self.max_context, self.num_queries, self.grid_points)

    def given_sizes(self, num_context, num_queries, least: int | None = 1) -> tuple[int | None, int | None]:
        """A call's num_context (|S|) and num_queries as ints, None kept (the sampler's own); one that is not a whole
        number (of any type as_int takes) is refused in one line naming the sampler: 4.5 stopped in torch's "slice
        indices must be integers", or was read as 4 where a sampler took int() of it. One below ``least`` too (the
        core's: 0 drew an empty S, silently, -3 stopped in torch; None: the sampler says its own range)."""
        sizes = []
        for name, value in (("num_context (|S|)", num_context), ("num_queries", num_queries)):
            if value is not None and as_int(value) is None:
                raise ValueError(f"{type(self).__name__}: {name} must be None (the sampler's own) or a whole number, "
                                 f"got {value!r}")
            sizes.append(None if value is None else as_int(value))
            if value is not None and least is not None and sizes[-1] < least:
                raise ValueError(f"{type(self).__name__}: {name} must be at least {least}, got {value!r}")
        return sizes[0], sizes[1]

    def positions(self, b: int, n: int, grid_shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
        """n positions per signal: [B, n, P] (grid points or continuous)."""
        p = len(grid_shape)
        if self.grid_points:
            total = math.prod(grid_shape)
            if n <= total:
                idx = torch.rand(b, total, generator=generator, device=generator.device).argsort(dim=1)[:, :n]  # [B, n]
            else:
                idx = torch.randint(total, (b, n), generator=generator, device=generator.device)  # [B, n]
            return grid_positions(grid_shape, device=generator.device)[idx].to(device)  # [B, n, P]
        return (torch.rand(b, n, p, generator=generator, device=generator.device) * 2 - 1).to(device)  # [B, n, P]

    def focused_positions(self, signal: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        """n continuous positions per signal near the grid points whose value[0] is in focus_band:
        signal [B, V, *grid] -> [B, n, P]."""
        grid_shape = tuple(signal.shape[2:])
        lo, hi = self.focus_band
        first = signal[:, 0].flatten(1)  # [B, N]
        weight = ((first >= lo) & (first <= hi)).float()  # [B, N]
        # nothing in the band: uniform over the grid points (a where, not a mask, which would wait for a GPU)
        weight = torch.where(weight.sum(1, keepdim=True) == 0, 1.0, weight)  # [B, N]
        idx = torch.multinomial(weight.to(generator.device), n, replacement=True, generator=generator)  # [B, n]
        pos = grid_positions(grid_shape, device=generator.device)[idx]  # [B, n, P]
        cell = torch.tensor([2.0 / max(g - 1, 1) for g in grid_shape], device=generator.device)  # [P]
        jitter = (torch.rand(pos.shape, generator=generator, device=generator.device) - 0.5) * cell  # [B, n, P]
        return (pos + jitter).clamp(-1.0, 1.0).to(signal.device)  # [B, n, P]

    def __call__(self, signal: torch.Tensor, generator: torch.Generator, num_context: int | None = None,
                 num_queries: int | None = None) -> SetBatch:
        """Draw one SetBatch from signal [B, V, *grid] (channels first); K from the log-uniform law unless given."""
        check_signal(signal, "SetSampler")
        num_context, num_queries = self.given_sizes(num_context, num_queries)
        b = signal.shape[0]
        grid_shape = tuple(signal.shape[2:])
        k = num_context if num_context is not None else self.draw_k(generator, math.prod(grid_shape))
        q = num_queries if num_queries is not None else self.num_queries
        if self.grid_points:
            total = math.prod(grid_shape)
            if k > total:
                raise ValueError(f"|S|={k} is larger than the {total} grid points of a {grid_shape} signal")
            if k + q <= total:  # distinct context and query points
                pos = self.positions(b, k + q, grid_shape, generator, signal.device)  # [B, K+Q, P]
                ctx_pos, qry_pos = pos[:, :k], pos[:, k:]
            else:  # small grids: the context stays distinct, queries may repeat context points
                ctx_pos = self.positions(b, k, grid_shape, generator, signal.device)  # [B, K, P]
                qry_pos = self.positions(b, q, grid_shape, generator, signal.device)  # [B, Q, P]
        else:
            ctx_pos = self.positions(b, k, grid_shape, generator, signal.device)  # [B, K, P]
            qry_pos = self.positions(b, q, grid_shape, generator, signal.device)  # [B, Q, P]
        n_focus = round(self.focus_fraction * q)
        if n_focus > 0:  # the first n_focus queries move near the band; the query order carries no meaning
            qry_pos = torch.cat([self.focused_positions(signal, n_focus, generator), qry_pos[:, n_focus:]], dim=1)  # [B, Q, P]
        ctx_val = read_signal(signal, ctx_pos)  # [B, K, V]
        qry_val = read_signal(signal, qry_pos)  # [B, Q, V]
        return SetBatch(ctx_pos, ctx_val, qry_pos, qry_val)


CORE_SAMPLER = class_path(SetSampler)


def sampler_hparams(sampler: SetSampler) -> dict[str, Any]:
    """A sampler as {"class_path", "init_args"} in plain types, the form the CLI and checkpoints use."""
    return {"class_path": class_path(type(sampler)), "init_args": sampler.init_args()}


def as_sampler(sets: SetSampler | dict | None, own: tuple[type[SetSampler], ...] = ()) -> SetSampler:
    """The module's training sampler from a SetSampler, None (the defaults) or a dict: the core SetSampler's
    init_args, flat or under {"class_path", "init_args"}. A dict naming one of ``own`` (the domain's own samplers,
    Domain.samplers: a checkpoint's record of one) rebuilds it; naming another class, the default SetSampler: no
    class is imported from a file's text, and a rebuilt module only needs such a sampler for its stages' sets,
    where the config names it again."""
    if sets is None:
        return SetSampler()
    if isinstance(sets, SetSampler):
        return sets
    if not isinstance(sets, dict):
        raise TypeError(f"model.sets must be a SetSampler or a dict, got {type(sets).__name__}")
    if "class_path" not in sets:
        return SetSampler(**sets)
    if sets["class_path"] != CORE_SAMPLER:
        known = {class_path(cls): cls for cls in own}
        return known[sets["class_path"]](**(sets.get("init_args") or {})) if sets["class_path"] in known else \
            SetSampler()
    return SetSampler(**(sets.get("init_args") or {}))


def nearest_neighbour_fill(ctx_pos: torch.Tensor, ctx_val: torch.Tensor, qry_pos: torch.Tensor,
                           chunk: int = 65536) -> torch.Tensor:
    """The value of the nearest context point at every query: [B, K, P], [B, K, V], [B, Q, P] -> [B, Q, V].

    Nearest in the normalised positions ([-1, 1] per axis). Points equidistant in exact arithmetic, common on a grid,
    are a tie that the float32 rounding of the positions and of cdist breaks; which of them is taken is arbitrary."""
    check_layouts("nearest_neighbour_fill", {"ctx_pos": (ctx_pos, "[B, K, P]"), "ctx_val": (ctx_val, "[B, K, V]"),
                                             "qry_pos": (qry_pos, "[B, Q, P]")})
    if ctx_pos.shape[1] == 0:  # argmin's "Expected reduction dim 2 to have non-zero size"
        raise ValueError("nearest_neighbour_fill: ctx_pos holds no point (K = 0): give at least one context point")
    out = []
    for start in range(0, qry_pos.shape[1], chunk):
        d = torch.cdist(qry_pos[:, start : start + chunk], ctx_pos)  # [B, q, K]
        idx = d.argmin(dim=-1)  # [B, q]
        out.append(torch.gather(ctx_val, 1, idx.unsqueeze(-1).expand(-1, -1, ctx_val.shape[-1])))  # [B, q, V]
    return torch.cat(out, dim=1)  # [B, Q, V]


def item_seed(salt: int, key: int, num_context: int) -> int:
    """The seed of one signal's random draws at one |S|, from its key (its index in the split): the same whatever
    batch, batch size or number of ranks it is drawn in. A key that is not a whole number is refused (4.5 was read
    as 4)."""
    if (index := as_int(key)) is None:
        raise ValueError(f"item_seed: key must be a whole number (the signal's index in the split), got {key!r}")
    return 1_000_003 * (salt + 1) + 10_007 * index + num_context


def draw_context(signal: torch.Tensor, k: int, generator: torch.Generator | Sequence[int] | None = None,
                 on_grid: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The one way to pick K observed samples of each signal [B, V, *grid] -> ctx_pos [B, K, P], ctx_val [B, K, V].

    signal: a tensor of floating-point values, channels first (a batch of pictures stored [B, H, W, C] is
    x.movedim(-1, 1), one signal [V, *grid] is x[None]); a shape that cannot be one is refused, a channels-last one
    is read as its shape says. on_grid: K distinct grid points, their exact values; otherwise K uniform continuous
    positions in [-1, 1]^P, read by interpolation. generator: one torch.Generator for the whole batch, or one
    whole-number seed per signal (then a signal's set does not depend on its batch); None draws from torch's global
    generator.
    """
    check_signal(signal, "draw_context")
    b, grid_shape = signal.shape[0], tuple(signal.shape[2:])
    total = math.prod(grid_shape)
    if as_int(k) is None or k < 1 or (on_grid and k > total):
        raise ValueError(f"draw_context: k (|S|) must be a whole number from 1 to the {total} grid points of a "
                         f"{grid_shape} signal, got {k!r}" if on_grid else
                         f"draw_context: k (|S|) must be a whole number >= 1, got {k!r}")
    k = as_int(k)
    if generator is None or isinstance(generator, torch.Generator):
        gens = [generator] * b if generator is None else [generator]
    else:
        try:
            seeds = [as_int(s) for s in generator]
        except TypeError:  # not a sequence
            seeds = [None]
        if None in seeds:  # a seed 1.5 was read as 1
            raise ValueError(f"draw_context: generator must be a torch.Generator, None or one whole-number seed per "
                             f"signal, got {generator!r}")
        if len(seeds) != b:
            raise ValueError(f"draw_context: {counted(len(seeds), 'seed')} for a batch of {counted(b, 'signal')}")
        gens = [torch.Generator(device=signal.device).manual_seed(s) for s in seeds]
    rows = b if len(gens) == 1 and gens[0] is not None else 1  # one generator draws the whole batch at once
    pos = []
    for gen in gens:
        device = gen.device if gen is not None else signal.device
        if on_grid:
            # float32 draws whatever torch's default dtype, so a seed picks the same S under a float64 default
            u = torch.rand(rows, total, generator=gen, device=device, dtype=torch.float32)  # [b', N]
            idx = u.argsort(dim=1)[:, :k]  # [b', K]
            pos.append(grid_positions(grid_shape, device=device)[idx])  # [b', K, P]
        else:
            u = torch.rand(rows, k, len(grid_shape), generator=gen, device=device, dtype=torch.float32)  # [b', K, P]
            pos.append(u * 2 - 1)  # [b', K, P]
    ctx_pos = torch.cat(pos).to(signal.device, signal.dtype)  # [B, K, P]: float64 signals read at float64 positions
    return ctx_pos, read_signal(signal, ctx_pos)  # [B, K, P], [B, K, V]


def fixed_sets(sampler: SetSampler, signal: torch.Tensor, keys: list[int], num_context: int,
               num_queries: int | None = None, salt: int = 0) -> SetBatch:
    """Sets drawn with one generator per signal, seeded by its key (e.g. its index in the split), so an
    evaluation draws the same sets whatever the batch size or the number of DDP ranks: one whole-number key per
    signal of ``signal`` (the layout the sampler reads: [B, V, *grid] for the core's), ``num_context`` and
    ``num_queries`` whole numbers >= 1 (None: the sampler's |Q|)."""
    check_type("fixed_sets: signal", signal, torch.Tensor, TO_TENSOR)
    num_context = check_count(num_context, 1, "fixed_sets: num_context (|S|) must be a whole number >= 1")
    if num_queries is not None:
        num_queries = check_count(num_queries, 1, "fixed_sets: num_queries must be None (the sampler's) or a whole "
                                  "number >= 1")
    if len(keys) != signal.shape[0]:  # fewer keys drew the sets of the first signals alone, silently
        raise ValueError(f"fixed_sets: {counted(len(keys), 'key')} for a batch of {counted(signal.shape[0], 'signal')}:"
                         " give one key per signal (its index in the split)")
    parts = []
    for b, key in enumerate(keys):
        gen = torch.Generator(device=signal.device).manual_seed(item_seed(salt, key, num_context))
        parts.append(sampler(signal[b : b + 1], gen, num_context=num_context, num_queries=num_queries))
    return SetBatch(*(torch.cat([getattr(p, f) for p in parts]) for f in ("ctx_pos", "ctx_val", "qry_pos", "qry_val")))


def batch_keys(batch: dict, batch_idx: int) -> list[int]:
    """Per-signal keys of a batch: the split indices when the DataModule provides them."""
    if "index" in batch:  # one read of a device tensor's values, not one per item
        return [int(i) for i in torch.as_tensor(batch["index"]).tolist()]
    b = batch["signal"].shape[0]
    return [batch_idx * b + i for i in range(b)]


def denser_than_signal(sampler: SetSampler, spec: SignalSpec, python: bool = True) -> str | None:
    """One line when the training sampler draws sets of more samples than the signal has points, at continuous
    positions (a SetSampler at grid points stops at the point count): the core sampler's defaults (|S| up to 2048)
    on 8x8 pictures put more than half the training steps on sets no evaluation asks of the model, each step as
    dear as such a set. Every shipped config caps max_context at the point count; a module built in Python without
    ``sets`` did not, without a word. None where the sampler fits the data. The remedy names the option as the
    module's own argument (``python``), or as the command line spells it."""
    n, lo, hi = spec.num_points, sampler.min_context, sampler.largest_context(spec.num_points)
    if hi <= n:  # at grid points, or a sampler of its own sizes (the GP protocol's)
        return None
    # P(|S| > n) of the log-uniform |S| (sets.log_uniform_int); every set when even the smallest is larger
    share = min(1.0, (math.log(hi + 1) - math.log(n + 1)) / (math.log(hi + 1) - math.log(lo)))
    remedy = (f"give the sampler the domain's settings ({config_shown(f'{spec.domain}.yaml')}), e.g. "
              f"sets=SetSampler(max_context={n}, ...)" if python else
              f"give --model.sets.init_args.max_context={n} or less")
    return (f"model.sets.max_context={hi} is above the {n} points of {spec.domain}/{spec.dataset} signals "
            f"{tuple(spec.grid_shape)} at continuous positions: {share:.0%} of the training sets would hold more "
            f"samples than a signal has points; {remedy}")


def every_point_sets(sampler: SetSampler, spec: SignalSpec) -> str | None:
    """One line when a training sampler at grid points can only draw sets of every point: its |S| is capped at the
    point count (SetSampler.draw_k), so a min_context at or above it made every training set the whole signal, every
    query one S holds, without a word. None where the sampler leaves points unobserved."""
    n = spec.num_points
    if not getattr(sampler, "grid_points", False) or sampler.min_context < n:
        return None
    return (f"model.sets.min_context={sampler.min_context} is at least the {n} grid points of "
            f"{spec.domain}/{spec.dataset} signals {tuple(spec.grid_shape)}: at grid points every training set would "
            f"hold every point and leave no query unobserved; give min_context below {n}")
