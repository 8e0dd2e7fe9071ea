"""Domain: the contract a domain fulfils. The core owns the loop (sets, completion, the |S| sweep, pictures and
predictions); a domain supplies only what is its own:

- pictures of completions (pure: tensors in, files out; no logger);
- metrics of a sweep item, beyond the core's NLL and MSE;
- reading a user's file into a signal, a mask or a context set;
- its predict options (its init arguments) and the files a prediction writes.

A domain is chosen by ``class_path`` in its config (``model.domain``) and recorded by name in checkpoints. Classes
register themselves by ``name`` when their module is imported; a checkpoint's name is only ever looked up in this
registry, never imported as a path read from the file.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterable

import numpy as np
import torch

from .errors import as_written, class_path, counted, in_number, listed
from .layout import built_in_domain, folder_name_fault
from .sets import SetSampler, grid_positions, read_signal

if TYPE_CHECKING:
    from .evaluation import SweepItem
    from .inference import Completion
    from .signal import SignalSpec

Files = dict[str, "Path | list[Path]"]
# an evaluation's per-item values: (|S|, metric) -> {item key: value}; metrics.json's rows hold their means
ItemValues = dict[tuple[int, str], dict[int, float]]
# test items below which metrics.json's verdicts (a method beating another) are not judged: a standard error of fewer
# paired differences is itself too uncertain to tell a difference from chance (the one-sided t test at 2 standard
# errors on 4 degrees of freedom is already at the 6 % level)
VERDICT_MIN_ITEMS = 5
VERDICT_STANDARD_ERRORS = 2.0  # a method beats another by more than this many standard errors of the paired difference
# legend names of the core's methods in the metrics-vs-|S| figure (Domain.method_names adds a domain's baselines)
CORE_METHOD_NAMES = {"model": "model", "sample": "model samples", "nn": "nearest-neighbour fill"}


def beats_paired(mine: dict[int, float], theirs: dict[int, float]) -> bool | None:
    """Whether one method's per-item values (item key -> value, higher is better) beat another's on the items both
    score: the mean of the paired differences above :data:`VERDICT_STANDARD_ERRORS` standard errors of it (a
    difference of means alone named a winner on one test item). NaN values (undefined for an item) are left out;
    None (not judged) where fewer than 2 pairs remain: no standard error to judge by."""
    diffs = [mine[k] - theirs[k] for k in mine.keys() & theirs.keys()
             if not (math.isnan(mine[k]) or math.isnan(theirs[k]))]
    if len(diffs) < 2:
        return None
    mean = sum(diffs) / len(diffs)
    spread = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)  # the differences' sample variance
    return mean > VERDICT_STANDARD_ERRORS * math.sqrt(spread / len(diffs))


def too_few_pairs(verdicts: Iterable[str], where: str) -> str:
    """Why a domain leaves ``verdicts`` null on enough test items: :func:`beats_paired` gave None ``where`` (at which
    |S| levels), fewer than 2 items having both values. The domain's summary returns it as metrics.json's
    ``verdicts_not_judged``, which the evaluation prints as it prints its own (too few test items)."""
    return (f"{' and '.join(verdicts)}: fewer than 2 test items have both values to compare {where} (NaN values left "
            "out), no standard error to judge by: null")


def verdicts_not_judged(items: ItemValues, max_items: int | None = None) -> str | None:
    """Why metrics.json's verdicts are left unjudged (null): fewer than :data:`VERDICT_MIN_ITEMS` test items (None
    where there are enough). The evaluation decides it once (SweepEvaluation.summary); ``max_items``: its cap on the
    items, and where it did not stop them (None, or more), they are all the test split holds: a larger one is named."""
    n = len(set().union(*items.values())) if items else 0
    if n >= VERDICT_MIN_ITEMS:
        return None
    larger = ", or a larger test split," if max_items is None or n < max_items else ""
    return (f"{counted(n, 'test item')}, fewer than the {VERDICT_MIN_ITEMS} a paired comparison of methods needs: "
            f"the verdicts are null; evaluate more test items (trainer.callbacks.max_items){larger} to judge them")


def suffix_title(suffix: str) -> str:
    """The Pictures callback's file-name suffix as a picture's title says it: "_step000010" -> "step 10"; any other
    suffix without its underscores ("" -> "")."""
    step = re.fullmatch(r"_*step(\d+)", suffix)
    return f"step {int(step.group(1))}" if step else suffix.strip("_")


def items_title(completion: Completion) -> str:
    """Which items of which split a picture of ``completion`` shows (Completion.of_split), in the order drawn: "val
    item 0", "test items 0-3", "val items 0, 2"; "" where it shows no split's items (a prediction)."""
    if completion.split is None or completion.items is None:
        return ""
    items = [int(i) for i in completion.items]
    if len(items) == 1:
        return f"{completion.split} item {items[0]}"
    run = items == list(range(items[0], items[0] + len(items)))
    return f"{completion.split} items " + (f"{items[0]}-{items[-1]}" if run else ", ".join(map(str, items)))


def picture_title(completion: Completion, suffix: str, *parts: str) -> str:
    """A picture's title of ``completion`` at the Pictures callback's ``suffix``: the items it shows, ``parts`` and
    the step, "val item 0, |S| = 32, step 10" ("|S| = 32" for a completion of no split's items, out of a fit)."""
    return ", ".join(filter(None, (items_title(completion), *parts, suffix_title(suffix))))


def shown_title(title: str, completion: Completion, suffix: str, sep: str = "\n") -> str:
    """A figure's ``title`` with :func:`picture_title` of ``completion`` after ``sep`` (by default on a line of its
    own, "val items 0-1, step 10" under the title), where it names anything."""
    return sep.join(filter(None, (title, picture_title(completion, suffix))))


def level_title(completion: Completion, suffix: str) -> str:
    """A picture's title for the |S| of ``completion`` at the Pictures callback's ``suffix`` (:func:`picture_title`):
    "val item 0, |S| = 32, step 10"."""
    return picture_title(completion, suffix, f"|S| = {completion.ctx_pos.shape[1]}")


def centre_crop(source: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) of the centre of a picture or frames of ``source`` (h, w) that resizing it to cover ``size`` (h, w)
    with the aspect kept, then cropping, shows: all of ``source`` where the aspects agree."""
    scale = max(size[0] / source[0], size[1] / source[1])
    return min(source[0], round(size[0] / scale)), min(source[1], round(size[1] / scale))


def fitted_note(source: tuple[int, int], size: tuple[int, int]) -> str:
    """What fitting a picture or frames of ``source`` (h, w) to ``size`` (h, w) did, in words: "cropped to its centre
    3×3, resized to 8×8", "resized to 8×8"; "" where they are of that size."""
    crop = centre_crop(source, size)
    done = ([f"cropped to its centre {crop[1]}×{crop[0]}"] if crop != tuple(source) else []) + (
        [f"resized to {size[1]}×{size[0]}"] if crop != tuple(size) else [])
    return ", ".join(done)


MASK_LEVEL = 128  # the grey level from which a --mask's pixel is white: observed


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB pixels [..., 3] -> their grey levels [...] uint8 as Pillow's convert("L") makes them (ITU-R 601-2
    luma, 0.299 R + 0.587 G + 0.114 B, rounded): the grey a --mask in colour is read as, in every domain."""
    r, g, b = (rgb[..., c].astype(np.uint32) for c in range(3))  # [...] each
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)  # [...]


def threshold_mask(grey: np.ndarray, colour: bool) -> tuple[np.ndarray, list[str]]:
    """A --mask's grey levels [...] uint8 (:func:`grey_levels` where the mask is in ``colour``) -> bool [...], True
    where white (grey level >= MASK_LEVEL: observed), and what reading it did in words for :func:`mask_line`: "read
    as grey" for a mask in colour, "thresholded at grey level 128" where a level lies between black and white ([] for
    a black-and-white mask), the line then saying "read as grey and thresholded at grey level 128"."""
    done = ["read as grey"] if colour else []
    if not np.isin(grey, (0, 255)).all():
        done.append(f"thresholded at grey level {MASK_LEVEL}")
    return grey >= MASK_LEVEL, done


def nothing_observed(levels: np.ndarray, size: tuple[int, int], colour: bool, part: str = "") -> str:
    """Why a --mask of grey levels [..., h, w] uint8 at its file's size (:func:`grey_levels` where it is in
    ``colour``; a video's frames first) observes no pixel once cropped to its centre and resized to the model's
    ``size`` (h, w), in words, in every domain that reads a picture mask (images, video): its white pixels lost to the
    resize (those of the centre that is read, counted), lying outside that centre, its colours or greys too dark, or
    no white at all. ``part``: where the levels are not all of the file, which part of it they are, said where the
    levels are too dark or black (" in its first frame")."""
    h, w = levels.shape[-2:]
    ch, cw = centre_crop((h, w), size)  # the centre that is read
    top, left = (h - ch) // 2, (w - cw) // 2
    white = int((levels[..., top:top + ch, left:left + cw] >= MASK_LEVEL).sum())  # in the centre [..., ch, cw]
    where = f" in its centre {cw}×{ch}" if (ch, cw) != (h, w) else ""
    if white:
        return (f"the mask's {counted(white, 'white pixel')}{where} (grey level {MASK_LEVEL} or more) "
                f"{in_number(white, 'is', 'are')} lost once it is {fitted_note((h, w), size)}, where none reaches grey "
                f"level {MASK_LEVEL}: paint larger white areas, or draw the mask at {size[1]}×{size[0]}")
    if outside := int((levels >= MASK_LEVEL).sum()):
        return (f"the mask's {counted(outside, 'white pixel')} (grey level {MASK_LEVEL} or more) "
                f"{in_number(outside, 'lies', 'lie')} outside its centre {cw}×{ch}, the part of it that is read: give "
                "a mask of the input's shape with white inside that centre")
    if levels.any():  # colours or greys, all darker than white
        what = "colours read as grey levels up to" if colour else "grey levels reach only"
        return (f"the mask has no white (observed) pixels: its {what} {int(levels.max())}{part}, below {MASK_LEVEL}: "
                "paint the observed pixels white")
    black = f"all black{part}" if part else "all of it black"
    return (f"the mask has no white (observed) pixels, {black}: paint the observed pixels white, or leave out "
            "--mask to observe --num_context random ones")


def all_observed(total: int, kept: int | None = None) -> str:
    """The warning, in words, of a --mask that observes all ``total`` pixels (white where to complete, as some
    inpainting tools draw a mask?): nothing is left to complete, or, where S holds at most ``kept`` of them, a random
    ``kept`` are S and the rest completed."""
    left = (f"S is a random {kept} of them and the rest completed" if kept is not None and kept < total
            else "nothing is left to complete")
    return f"the mask observes all {total} pixels (white everywhere), so {left}: white is observed, black completed"


def shape_mismatch(mask: tuple[int, int], given: tuple[int, int] | None, size: tuple[int, int]) -> str | None:
    """The warning, in words, of a --mask of (h, w) ``mask`` for an input of another shape, ``given`` (None: no
    input was read for it), each cropped to its centre and resized to the model's ``size`` (h, w) on its own; None
    where the shapes agree (aspect ratios within 1 %, a rounding of one's size to the other's: the centres cropped
    show the same part)."""
    if given is None or abs(mask[0] * given[1] - mask[1] * given[0]) <= 0.01 * mask[1] * given[0]:
        return None
    return (f"a {mask[1]}×{mask[0]} mask for the {given[1]}×{given[0]} input, of another shape: each is cropped to "
            f"its centre and resized to {size[1]}×{size[0]} on its own, so the mask does not lie where it was drawn: "
            "give a mask of the input's shape")


def mask_line(path: Path, source: tuple[int, int], done: list[str], observed: int, total: int, kind: str = "") -> str:
    """The line a --mask read with changes says: what was ``done`` to the file of ``source`` (h, w) (``kind``: its
    colours where not grey) and how many of the model's ``total`` pixels are observed."""
    what = listed(done)
    kind = f" {kind}" if kind else ""
    return f"[predict] {path}: {source[1]}×{source[0]}{kind} {what}; {observed} of {total} pixels observed (white)"


class Domain:
    """The base contract; every method has a working default, so a new domain overrides only what it needs.

    Class attributes:
        name: the domain's registry name, equal to the SignalSpec.domain its DataModule yields.
        on_grid: S is drawn at grid points (pixels, frames) rather than continuous positions (an SDF's space).
        input_help: what ``--input`` reads, for the domain's own messages (the core's lines do not read it).
        row_names: the entries of one ``--context`` row, for messages (default x0, x1, ..., value).
        verdict_keys: the entries of :meth:`summary` that are verdicts (a method beating another), which the core
            leaves null, and says why, where too few test items were evaluated to judge them.
        samplers: the domain's own set sampler classes (SetSampler subclasses), which a module rebuilt from a
            checkpoint that records one (load_from_checkpoint) gets again, with its init_args.
    """

    name: ClassVar[str] = ""
    on_grid: ClassVar[bool] = True
    input_help: ClassVar[str] = "a signal file"
    row_names: ClassVar[tuple[str, ...]] = ()  # a context row's entries, for messages, e.g. ("y", "x", "value")
    verdict_keys: ClassVar[tuple[str, ...]] = ()  # summary's verdicts, e.g. ("psnr_rises_with_context",)
    samplers: ClassVar[tuple[type[SetSampler], ...]] = ()  # e.g. the GP benchmark's ProtocolSetSampler
    registry: ClassVar[dict[str, type[Domain]]] = {}
    spec: SignalSpec | None = None  # the data's spec, set by the module that owns the domain (units, dataset)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        check_method_names(cls)
        if not cls.name or "name" not in vars(cls):
            return  # a subclass that keeps its parent's name is not another domain of that name
        # the name is a folder of the run's path, as the run name is: "my/density" put runs two folders deep
        fault = folder_name_fault(cls.name) if isinstance(cls.name, str) else ("must be a str", "")
        if fault:
            raise ValueError(f"Domain name {cls.name!r} of {class_path(cls)} {fault[0]}: the name is its run folder "
                             f"(<run_root>/<name>/){'; ' + fault[1] if fault[1] else ''}")
        known = Domain.registry.get(cls.name)
        if known is not None and class_path(known) != class_path(cls):
            # a checkpoint records the name alone: two classes of one name would load each other's checkpoints
            raise ValueError(f"Domain name {cls.name!r} of {class_path(cls)} is taken by {class_path(known)}: give the "
                             "new domain a name of its own")
        Domain.registry[cls.name] = cls  # the same class imported again (a reload) replaces itself

    # ---- pictures -------------------------------------------------------------------------------------
    def picture_contexts(self, signal: torch.Tensor, levels: tuple[int, ...],
                         generator: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The context sets the pictures complete, by name: one per |S| level (capped at the grid size on a grid).
        signal [B, V, *grid] -> {name: (ctx_pos [B, K, P], ctx_val [B, K, V])}."""
        from .sets import draw_context

        cap = signal[0, 0].numel() if self.on_grid else max(levels)
        return {str(k): draw_context(signal, k, generator, self.on_grid) for k in sorted({min(k, cap) for k in levels})}

    def picture_samples(self, name: str, num_samples: int) -> int:
        """How many samples the picture context ``name`` needs (default: the Pictures callback's num_samples; a
        picture of means only saves the sampling)."""
        return num_samples

    def pictures(self, completions: dict[str, Completion], out_dir: Path, suffix: str = "") -> Files:
        """Draw the completions (one per picture context, on the CPU) into out_dir; return {name: file(s)}. The keys
        are those of :meth:`picture_contexts` (by default |S| as a string, "4", "64", ...), which a domain's pictures
        may read as numbers. Each completion names the split and items it shows (Completion.split, items), which a
        title says with :func:`picture_title`, :func:`level_title` or :func:`shown_title`, beside the step of
        ``suffix``."""
        return {}

    def fixed_picture(self, name: str) -> bool:
        """Whether the files :meth:`pictures` returns under ``name`` never change during a fit (the data alone, as a
        ground truth drawn by itself): the Pictures callback logs them to W&B once in each fit or validate, at its
        first validation, and the others at every validation. No name by default."""
        return False

    # ---- evaluation -----------------------------------------------------------------------------------
    def metrics(self, item: SweepItem) -> dict[str, torch.Tensor]:
        """Per-signal metrics [B] of one sweep item, beside the core's nll / mse / nn_mse / sample_mse."""
        return {}

    def plot_groups(self) -> dict[str, list[str]]:
        """Panels of the metrics-vs-|S| figure: {title: metric keys}."""
        return {"NLL (nats/dim)": ["nll"], "MSE": ["mse", "sample_mse", "nn_mse"]}

    def method_names(self) -> dict[str, str]:
        """Legend names of the methods in that figure, by evaluation.method_of's name ("nn" for "nn_mse"); a line
        reads "<name> (<metric key>)". A domain adds its baselines to these."""
        return dict(CORE_METHOD_NAMES)

    def summary(self, rows: list[dict], items: ItemValues | None = None) -> dict:
        """Extra top-level entries of metrics.json (units, definitions, verdicts). ``items``: the per-item values the
        rows' means are over, for verdicts judged by a paired test (:func:`beats_paired`); None where they are too few
        to judge them (the core then leaves the :attr:`verdict_keys` null and says why) or only the rows are known.
        A verdict the domain leaves null on the items given (:func:`beats_paired`'s None) it says why of itself, in
        a ``verdicts_not_judged`` entry (:func:`too_few_pairs`), which the evaluation prints."""
        return {}

    # ---- a user's files (predict) ----------------------------------------------------------------------
    def input_options(self) -> dict:
        """The domain's own options of how read_input reads a file and context_from_rows reads --context rows (its
        init arguments, such as the 3D shapes' up axis), which prediction.json records beside the predict options;
        none by default."""
        return {}

    def start_prediction(self) -> None:
        """Called as each prediction starts, before read_input and context_from_rows: a domain that keeps what
        read_input read until the prediction's files and record ask for it (write_prediction, input_options) forgets
        here what an earlier prediction left that ended before them; nothing by default."""

    def read_input(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        """A user's file -> a dense signal [V, *grid] on the model's grid."""
        raise ValueError(f"the {self.name or 'this'} domain reads no input files; give S with --context")

    def read_mask(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        """A mask file -> bool [*grid], True where observed."""
        raise ValueError(f"the {self.name or 'this'} domain takes no --mask; use --num_context "
                         f"or --context")

    def context_from_rows(self, rows: torch.Tensor, spec: SignalSpec, source: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows [K, P + V] of a user's context as given, a repeated row too (positions in [-1, 1], values in the
        spec's range; a domain with other units converts here) -> positions [K, P], values [K, V]. A message names
        the first row outside a range as the user counts them, row i + 1 (:func:`first_outside`), and ends with the
        units of a row (:meth:`row_units`)."""
        p = spec.pos_dims
        pos, val = rows[:, :p], rows[:, p:]  # [K, P], [K, V]
        lo, hi = spec.val_range
        if far := first_outside(pos, pos.abs() > 1):
            said = f"positions must lie in [-1, 1], got {far}"
        elif far := first_outside(val, (val < lo) | (val > hi)):
            said = f"values must lie in [{lo:g}, {hi:g}], got {far}"
        else:
            return pos, val
        units = self.row_units(spec)
        raise ValueError(f"{source}: {said}" + (f"; {units}" if units else ""))

    def row_units(self, spec: SignalSpec) -> str:
        """The units of a `--context` row in words, with which a refused row's message ends: by default where a grid
        index lies (index i of an axis' n points at 2i/(n - 1) - 1, n the model's grid) and the values' range; a
        domain whose rows have other units (a 0-255 level, a clip's frames, a 3D shape's up axis) says so; "": none."""
        names = context_columns(self, spec)
        p, sizes = spec.pos_dims, tuple(spec.grid_shape)
        axes = (index_at(sizes[0], "grid point", ", ".join(names[:p])) if len(set(sizes)) == 1 else
                " and ".join(index_at(n, "grid point", axis) for n, axis in zip(sizes, names[:p])))
        lo, hi = spec.val_range
        return (f"a row is [{', '.join(names)}]: on the model's {'x'.join(map(str, sizes))} grid, {axes}, and "
                f"{', '.join(names[p:])} in [{lo:g}, {hi:g}]")

    def signal_channels(self, spec: SignalSpec) -> int:
        """How many channels a signal x [B, C, *grid] of the spec's data holds: its V here; a domain whose own set
        sampler reads a layout of its own (the GP protocol's point sets: positions and values) says more."""
        return spec.val_dims

    def sampler_problem(self, sampler: SetSampler, spec: SignalSpec) -> str | None:
        """One line when the module's set sampler cannot draw sets from the spec's signals (a layout only the
        domain's own sampler reads, or the domain's sampler on plain signals), naming the remedy; None
        (the default) where it can: the core's samplers read any signal [V, *grid]."""
        return None

    def context_values(self, values: torch.Tensor, spec: SignalSpec) -> torch.Tensor:
        """Values of a user's S [..., V] as the model reads them, before they are checked against the spec's range:
        unchanged here (values beyond a range of bins are refused); a domain whose data is clamped into its range
        (SDFs truncated at t) clamps them alike. Both `predict --context` rows and the Python calls go through it."""
        return values

    def context_from_mask(self, signal: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples of signal [V, *grid] where mask [*grid] is true -> positions [K, P], values [K, V]."""
        if not mask.any():
            raise ValueError("the mask observes nothing (no white pixels)")
        pos = grid_positions(tuple(signal.shape[1:]))[mask.flatten().cpu()]  # [K, P]
        return pos, read_signal(signal.unsqueeze(0), pos.unsqueeze(0))[0]  # [K, P], [K, V]

    def predict_grid(self, spec: SignalSpec, resolution: int | None) -> tuple[int, ...]:
        """The grid a prediction completes on, and the Pictures' at their ``resolution``: the model's, or
        ``--resolution`` points per axis."""
        return spec.grid_shape if resolution is None else (resolution,) * spec.pos_dims

    def write_prediction(self, completion: Completion, out_dir: Path) -> list[Path]:
        """Write one prediction (a completion of one signal, batch of 1, on the CPU) into out_dir; return the files.
        The default saves the tensors; domains write pictures, meshes or videos."""
        path = out_dir / "completion.pt"
        torch.save({"ctx_pos": completion.ctx_pos[0], "ctx_val": completion.ctx_val[0], "mean": completion.mean[0],
                    "samples": None if completion.samples is None else completion.samples[0]}, path)
        return [path]


CONTRACT_METHODS = tuple(n for n, v in vars(Domain).items() if callable(v) and not n.startswith("_"))


def check_method_names(cls: type) -> None:
    """A method of a Domain subclass named almost as a contract method (``picture`` for ``pictures``, ``metric``,
    ``read_inputs``) is refused when the class is defined: the core calls the contract's name, so the method would
    never run and the base's default (no pictures, no metrics) would, without a word. A helper beside the contract
    method it is close to (``picture_context`` where ``picture_contexts`` is the class's own, ``metric`` beside
    ``metrics``) or named after it (``write_prediction_gif``) is the author's own."""
    for attr, value in vars(cls).items():
        if attr.startswith("_") or attr in CONTRACT_METHODS or not callable(value):
            continue
        near = difflib.get_close_matches(attr, CONTRACT_METHODS, n=1, cutoff=0.88)
        if near and getattr(cls, near[0]) is getattr(Domain, near[0]) and not attr.startswith(f"{near[0]}_"):
            raise ValueError(f"{class_path(cls)}.{attr} is no Domain method: the core calls "
                             f"{near[0]}, so {attr} would never run (a helper of your own: name it _{attr})")


def context_columns(domain: Domain, spec: SignalSpec) -> list[str]:
    """The names of a context row's P + V entries, in the order ``--context`` reads them and prediction.json writes
    them: the domain's ``row_names`` (a last name ending in "..." stands for the V values: value, or value_1 ...
    value_V), else x0 ... x{P-1} and the values."""
    names = list(domain.row_names) or [*(f"x{i}" for i in range(spec.pos_dims)), "value..."]
    if names[-1].endswith("..."):
        stem = names.pop().removesuffix("...")
        names += [stem] if spec.val_dims == 1 else [f"{stem}_{i + 1}" for i in range(spec.val_dims)]
    return names


def index_at(n: int, what: str, axis: str) -> str:
    """Where index i of ``n`` grid points (``what``: frame, pixel row, ...) lies on ``axis`` in [-1, 1], in words:
    "frame i of the 17 at t = 2i/16 - 1"; one point lies at 0: "the one frame at t = 0"."""
    return f"{what} i of the {n} at {axis} = 2i/{n - 1} - 1" if n > 1 else f"the one {what} at {axis} = 0"


def first_outside(entries: torch.Tensor, outside: torch.Tensor) -> str:
    """Of a user's context rows' entries [K, N] and where they lie outside a range (bool [K, N]), the first such
    entry as written (:func:`as_written`: 1.00001 of [-1, 1], not 1) and its row as the user counts them, e.g. "1.5
    in row 2"; "" when none is."""
    hits = outside.nonzero()  # [M, 2], row by row
    if not len(hits):
        return ""
    i, j = hits[0].tolist()
    entry = entries[i, j].item()
    # a float entry of fewer bits than float64 (rows given from Python) as the shortest decimal its own type reads
    # back, as predict.json writes rows (bfloat16 as float32 writes it): a float32 -1e+20, 1.2 and 1700000100 (held
    # as 1700000128), not float64's -1.0000000200408773e+20 and 1.2000000476837158; + 0: -0.0 is written 0
    kind = {torch.float32: np.float32, torch.bfloat16: np.float32, torch.float16: np.float16}.get(entries.dtype)
    return f"{as_written((entry if kind is None else float(str(kind(entry)))) + 0)} in row {i + 1}"


def checked_context(domain: Domain, method: str, made: object, spec: SignalSpec,
                    batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A context set a domain method made (``picture_contexts``: [B, K, P], [B, K, V] with ``batch`` B;
    ``context_from_rows``, ``context_from_mask``: [K, P], [K, V]), checked once where it enters the core, in one line
    naming the method: positions in other units than [-1, 1] (pixels, the data's own) were only warned of as an
    extrapolation, and a missing value axis failed in the model."""
    where = f"{type(domain).__name__}.{method}"
    lead = [] if batch is None else [batch]
    dims = ", ".join(map(str, [*lead, "K"]))
    want = f"positions [{dims}, {spec.pos_dims}] and values [{dims}, {spec.val_dims}]"
    if not (isinstance(made, (tuple, list)) and len(made) == 2):  # None, or one tensor unpacked along its rows
        raise ValueError(f"{where} returned {type(made).__name__}; it must return a pair (positions, values): {want}")
    pos, val = made
    if not (isinstance(pos, torch.Tensor) and isinstance(val, torch.Tensor)):
        raise ValueError(f"{where} returned {type(pos).__name__} and {type(val).__name__}; it must return tensors: "
                         f"{want}")
    fits = (pos.dim() == val.dim() == len(lead) + 2 and list(pos.shape[:-2]) == lead
            and pos.shape[:-1] == val.shape[:-1] and pos.shape[-1] == spec.pos_dims and val.shape[-1] == spec.val_dims)
    if not fits:
        raise ValueError(f"{where} returned positions {list(pos.shape)} and values {list(val.shape)}; the model "
                         f"reads {want}")
    if pos.numel() and (far := float(pos.abs().max())) > 1 + 1e-5:
        raise ValueError(f"{where} returned positions up to {far:.4g}: positions are normalised to [-1, 1] per axis "
                         f"(pos_offset + p * pos_scale is the data's units)")
    return pos, val


def domain_for(name: str) -> type[Domain]:
    """The registered Domain class of a name (its module must have been imported, e.g. by the config)."""
    if name not in Domain.registry:
        known = ", ".join(sorted(Domain.registry)) or "none imported"
        raise ValueError(f"no domain named {name!r} is loaded (loaded: {known})")
    return Domain.registry[name]


def resolve_domain(domain: Domain | str | None, spec: SignalSpec) -> Domain:
    """The module's Domain: as given, or by name from the loaded domains (a plain Domain when not loaded); its name
    must be the data's."""
    if isinstance(domain, str) or domain is None:
        name = domain or spec.domain
        if name in Domain.registry:
            domain = domain_for(name)()
        else:
            where = (f"import domains.{name}.domain" if built_in_domain(name) else "import the module "
                     f"of your own that its config's model.domain.class_path names (no domain of this repository is "
                     f"named {name!r})")
            warnings.warn(f"no Domain named {name!r} is loaded, so pictures, metrics and file reading do nothing; "
                          f"import its module first: {where}", stacklevel=3)
            domain = Domain()
    if domain.name and domain.name != spec.domain:
        # a built-in name is not one to rename a domain of one's own to (runs.check_own_name refuses it)
        if built_in_domain(domain.name):  # configs/images.yaml copied and given data of one's own
            remedy = f": give model.domain.class_path the Domain of the data (name = {spec.domain!r})"
        elif built_in_domain(spec.domain):  # a Domain of one's own given a built-in domain's data
            remedy = (f", a domain of this repository: give model.domain.class_path the data's Domain (name = "
                      f"{spec.domain!r}), or data.class_path a DataModule of your own whose "
                      f"SignalSpec(domain={domain.name!r}) names {type(domain).__name__}")
        else:
            remedy = (f": {type(domain).__name__}.name and the DataModule's SignalSpec(domain=...) must be the same "
                      "name")
        raise ValueError(f"model.domain is the {domain.name!r} domain, but the data is {spec.domain!r}{remedy}")
    if not domain.name and type(domain) is not Domain:  # the plain Domain stands in for one not loaded
        raise ValueError(f"{type(domain).__name__} has no name: give the class name = {spec.domain!r}, its data's "
                         f"SignalSpec.domain, which its run folders and checkpoints go by")
    if domain.row_names and len(names := context_columns(domain, spec)) != spec.pos_dims + spec.val_dims:
        raise ValueError(f"{type(domain).__name__}.row_names names {len(names)} entries ({', '.join(names)}), but a "
                         f"--context row of its data has {spec.pos_dims + spec.val_dims}: the "
                         f"{counted(spec.pos_dims, 'position axis', 'position axes')} (in grid_shape's order) and the "
                         f"{counted(spec.val_dims, 'value')} (a last name ending in '...' stands for the values)")
    domain.spec = spec
    return domain
