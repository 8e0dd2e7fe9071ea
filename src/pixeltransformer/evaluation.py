"""The |S| sweep every domain shares.

For each test batch and each |S| level, a context is drawn with a fixed seed per signal; the model's distribution
is evaluated at the queries (NLL in nats per value dimension over the queries not in S, the mean, optionally
samples) next to the nearest-neighbour baseline. The module's Domain adds its metrics of each item (the item
carries its batch, labels included); a domain's evaluation callback may subclass :class:`SweepEvaluation` for
baselines that need state (a classifier, a VAE). The core writes metrics.json, the curves against |S| and the
W&B table; a test's sweeps are checked against the folders they write into (:func:`check_one_sweep_per_folder`,
:func:`check_out_dir_apart`).
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from .distribution import BinnedGaussian
from .domain import CORE_METHOD_NAMES, ItemValues, verdicts_not_judged
from . import versions
from .errors import check_count, counted, in_number, whole_number
from .eval_folders import nosweep_folder
from .files import atomic_write, check_writable_below, user_path, write_json
from .inference import check_n_autoregressive, check_predictions, check_temperature, observed_lookup
from .loopbar import loop_progress
from .media import log_media, log_summary, log_table_and_curves
from .memory import completion_bytes, local_ranks, point_count, shortfall
from .progress import shows_progress
from .runs import COMMAND_FILE, checkpoint_run, is_run_folder
from .sets import (SetSampler, batch_keys, draw_context, fixed_sets, flatten_grid, item_seed, nearest_neighbour_fill,
                   unflatten_grid)
from .signal import SignalSpec
from .stop import check_stop, sigterm_stop, stop_when

# a batch's |S| levels show progress once the batch has run this long: the test loop prints its own at batch ends
LEVELS_DELAY = 10.0


@dataclass
class SweepItem:
    """Everything a domain metric function may need for one batch at one |S|."""

    spec: SignalSpec
    signal: torch.Tensor  # [B, V, *grid]
    num_context: int
    ctx_pos: torch.Tensor  # [B, K, P]
    ctx_val: torch.Tensor  # [B, K, V]
    qry_pos: torch.Tensor  # [B, Q, P]
    qry_val: torch.Tensor  # [B, Q, V]
    held_out: torch.Tensor  # [B, Q] bool: queries that are not context positions
    params: torch.Tensor  # [B, Q, NP]
    model_mean: torch.Tensor  # [B, Q, V]: the model's mean at every query, S's positions too
    nn: torch.Tensor  # [B, Q, V]
    samples: torch.Tensor | None  # [B, S, Q, V]
    on_grid: bool  # queries are the full grid, in grid order
    nll: torch.Tensor  # [B, Q]: -log p(qry_val | S) in nats per value dimension
    batch: dict[str, Any]  # the test batch: "signal", "index", and "label" where the data has labels
    dist: BinnedGaussian | None = None  # the module's value distribution, which params parametrise

    @property
    def mean(self) -> torch.Tensor:
        """The mean a completion shows (inference.complete): the model's at the held-out queries and S's own values
        at the queries that are context positions, [B, Q, V]. Metrics of the whole signal score this, as the
        pictures show it; ``model_mean`` is the model's everywhere."""
        return torch.where(self.held_out.unsqueeze(-1), self.model_mean, self.qry_val)  # [B, Q, V]

    def prob_below(self, threshold: float) -> torch.Tensor:
        """P(v < threshold | S) of the first value channel at every query, from the mixture's CDF: [B, Q]. At a query
        that is a context position it is S's own side of the threshold (0 or 1), as the mean keeps S's value there."""
        if self.dist is None:
            raise ValueError("prob_below needs the item's value distribution (SweepItem.dist)")
        p = self.dist.cdf(self.params, threshold)[..., 0]  # [B, Q]
        return torch.where(self.held_out, p, (self.qry_val[..., 0] < threshold).to(p.dtype))  # [B, Q]

    def as_grid(self, values: torch.Tensor) -> torch.Tensor:
        """[..., Q, V] -> [..., V, *grid] (only when the queries are the full grid)."""
        if not self.on_grid:
            raise ValueError("as_grid needs the sweep to query the full grid (queries='grid')")
        return unflatten_grid(values, self.spec.grid_shape)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the last axis where mask is true: [B, Q] -> [B]. A row with no true entry (no query held out)
    gives NaN, which the sweep's metrics skip, rather than a mean over observed queries."""
    count = mask.sum(-1)  # [B]
    total = torch.where(mask, x, torch.zeros_like(x)).sum(-1)  # [B]
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


def checked_metrics(domain: Any, metrics: dict[str, Any], core: set[str], batch: int) -> dict[str, torch.Tensor]:
    """A Domain's metrics for one batch, refused in one line when one would replace a core metric of the same name
    or is not one value per signal ([B]: a 0-d value would be averaged per batch, not per signal)."""
    name = type(domain).__name__
    if not isinstance(metrics, dict):
        raise ValueError(f"{name}.metrics returned {type(metrics).__name__}: it must return {{name: [B] tensor}} "
                         "({} when it has none)")
    for key, value in metrics.items():
        if key in core:
            raise ValueError(f"{name}.metrics returned {key!r}, a name the core's sweep already reports; rename it")
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (batch,):
            numpy = isinstance(value, np.ndarray)  # of any shape (np.memmap, np.matrix too), not a numpy scalar
            shape = (list(value.shape) if isinstance(value, torch.Tensor) else
                     f"a numpy array {list(value.shape)}" if numpy else type(value).__name__)
            raise ValueError(f"{name}.metrics returned {key!r} as {shape}; metrics are [B] = [{batch}] tensors, one "
                             f"per signal{' (torch.from_numpy)' if numpy else ''}")
    return metrics


def _unwritable(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} value")


def checked_summary(domain: Any, extra: Any) -> dict[str, Any]:
    """A Domain's summary, refused in one line naming the entry when metrics.json cannot hold it (not a dict, a tensor
    in it): dict.update or json.dumps failed after the whole sweep with a traceback naming neither."""
    name = type(domain).__name__
    if not isinstance(extra, dict):
        got = "None" if extra is None else type(extra).__name__
        raise ValueError(f"{name}.summary returned {got}: it must return a dict of metrics.json's "
                         "extra entries ({} when it has none)")
    for key, value in extra.items():
        try:
            json.dumps({key: value}, default=_unwritable)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}.summary returned the entry {key!r}, which metrics.json cannot hold "
                             f"({err}): give plain numbers, strings, lists and dicts (a tensor's .item() or "
                             ".tolist())") from None
    return extra


def select_items(batch: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    """The items ``rows`` of a batch: every tensor or list with one entry per item is indexed, the rest kept."""
    b = batch["signal"].shape[0]
    out: dict[str, Any] = {}
    for name, value in batch.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == b:
            out[name] = value[rows]  # [B, ...] -> [len(rows), ...]
        elif isinstance(value, (list, tuple)) and len(value) == b:
            out[name] = [value[i] for i in rows]
        else:
            out[name] = value
    return out


def gather_item_values(trainer: L.Trainer, values: ItemValues, keys: set[int]) -> tuple[ItemValues, set[int]]:
    """Every rank's per-item values, merged by item key (one process: as they are). A distributed sampler gives
    some items to two ranks to even them out; they computed the same values, and the merge keeps one."""
    if trainer.world_size <= 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return values, keys
    parts: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(parts, (values, keys))
    merged: ItemValues = {}
    all_keys: set[int] = set()
    for part_values, part_keys in parts:
        for metric, per_item in part_values.items():
            merged.setdefault(metric, {}).update(per_item)
        all_keys |= part_keys
    return merged, all_keys


def mean_over_items(per_item: dict[int, float]) -> float:
    """The mean of a metric over the items it is defined for (NaN: not defined for that item, e.g. not sampled)."""
    defined = [v for v in per_item.values() if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else float("nan")


def summary_scalars(rows: list[dict[str, Any]], extra: dict[str, Any], prefix: str = "eval",
                    settings: tuple[str, ...] = ()) -> dict[str, float | int]:
    """metrics.json's numbers as flat scalars: ``eval/<metric>@<|S|>`` for every row's metric, and
    ``eval/<entry>/<key>`` for the numbers in ``extra``'s entries (metrics.json's other entries: the checkpoint's
    step, the items evaluated, the domain's summary; nested dicts joined by "/"). Text, lists (``extra``'s own
    "rows" among them), switches, undefined values (None) and the ``settings`` (keys of extra, "<entry>" or
    "<entry>/<key>": an evaluation's SweepEvaluation.summary_settings) are left out. An integer stays one (a step, a
    count of items: W&B showed them as 5.0 and 2.0)."""
    out: dict[str, float | int] = {}
    for row in rows:
        for name, value in row.items():
            if name != "num_context" and isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}/{name}@{row['num_context']}"] = _scalar(value)
    skip = {f"{prefix}/{key}" for key in settings}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{key}/{k}", v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key not in skip:
            out[key] = _scalar(value)

    for name, value in extra.items():
        walk(f"{prefix}/{name}", value)
    return out


def _scalar(value: int | float) -> int | float:
    """A number of metrics.json as W&B's summary keeps it: an integer as it is, any other as a Python float."""
    return value if isinstance(value, int) else float(value)


def eval_folder(module: L.LightningModule, ckpt_path: str | Path | None = None) -> str:
    """The name of the run's folder an evaluation of ``module`` writes into: module.eval_folder() (eval, or
    eval-<dataset> on other data than it was trained on), then -<name> for a checkpoint other than last.ckpt
    (eval-best-step004000), so that evaluations of two checkpoints of one run are kept apart."""
    folder = module.eval_folder() if hasattr(module, "eval_folder") else "eval"
    name = Path(ckpt_path).stem if ckpt_path else "last"
    return folder if name == "last" else f"{folder}-{name}"


def swept(callbacks) -> bool:
    """Whether a test's callbacks hold a SweepEvaluation, which writes metrics.json."""
    return any(isinstance(cb, SweepEvaluation) for cb in callbacks)


def folder_of_test(folder: Path, callbacks) -> Path:
    """The folder a test writes into, of the folder its evaluation would write (its :func:`eval_folder`, or a sweep's
    out_dir, kept as given: ".", too): <folder>-nosweep for a test without a SweepEvaluation (Pictures alone, or no
    callback), which writes no metrics.json: in eval/ its config_test.yaml, command.txt and pictures lay beside an
    earlier evaluation's metrics.json, which `make results` then published under its command line. Apart, it
    replaces no evaluation's metrics."""
    return folder if swept(callbacks) else nosweep_folder(folder)


def evaluation_summary(folder: Path, shown: str | Path | None = None, with_sweep: bool = True) -> str:
    """The last line of an evaluation, where a log file ends after Lightning's table of test/* numbers: the folder
    (``shown``: as the first [run] line named it) and what it holds, metrics.json first, any other figure, then its
    sub-folders (pictures/); a test without a sweep (``with_sweep`` false) names its config and command line, and
    that it wrote no metrics.json."""
    kept = ("metrics.json", "metrics_vs_context.png") if with_sweep else ("config_test.yaml", "command.txt")
    names = [name for name in kept if (folder / name).is_file()]
    if folder.is_dir():
        if with_sweep:  # a domain's own figures beside them (the GP benchmark's functions.png)
            names += [path.name for path in sorted(folder.glob("*.png")) if path.name not in kept]
        names += [f"{path.name}/" for path in sorted(folder.iterdir()) if path.is_dir()]
    why = "" if with_sweep else " (no metrics.json: no SweepEvaluation among trainer.callbacks)"
    return f"[run] test: {shown or folder} ended: {', '.join(names) or 'nothing written'}{why}"


def tested_datamodule(trainer: L.Trainer, stage: str = "test") -> L.LightningDataModule | None:
    """The data module the test (or the ``stage``'s loop: fit, validate, predict) reads its batches from; None where
    it was given dataloaders alone, where trainer.datamodule may still be an earlier fit's (Lightning keeps it).
    Lightning has no public way to ask: a Lightning without the loop's private data source gives
    trainer.datamodule, and Lightning 2.6 sets every loop's source together: ``stage`` is a safeguard."""
    stage = getattr(stage, "value", stage)  # Lightning's TrainerFn
    data_source = getattr(getattr(trainer, f"{stage}_loop", None), "_data_source", None)
    if data_source is None:
        return getattr(trainer, "datamodule", None)
    return data_source.instance if isinstance(data_source.instance, L.LightningDataModule) else None


def resolve_eval_dir(trainer: L.Trainer, out_dir: str | None) -> Path:
    """<run>/<eval_folder> for a checkpoint at <run>/checkpoints/x.ckpt (<run>/eval for last.ckpt on its own data);
    else under the trainer's root dir."""
    if out_dir:
        return Path(out_dir)
    ckpt = getattr(trainer, "ckpt_path", None)
    folder = eval_folder(trainer.lightning_module, ckpt)
    if ckpt:
        return checkpoint_run(Path(ckpt)) / folder
    return Path(trainer.default_root_dir) / folder


def sweep_eval_dir(trainer: L.Trainer) -> Path:
    """The folder a test's evaluation writes into: its sweep's out_dir where the trainer's evaluation callback has
    one, else :func:`resolve_eval_dir`'s (<run>/eval; <run>/eval-nosweep for a test without a sweep,
    :func:`folder_of_test`). The pictures at the end of a test go there too, beside the metrics: with an out_dir,
    they went into <run>/eval/, among an earlier evaluation's files."""
    return folder_of_test(resolve_eval_dir(trainer, sweep_out_dir(trainer)), getattr(trainer, "callbacks", []))


def sweep_out_dir(trainer: L.Trainer) -> str | None:
    """The out_dir of the trainer's evaluation callback, where it has one (None: the run's own folder)."""
    return next((cb.out_dir for cb in getattr(trainer, "callbacks", []) if isinstance(cb, SweepEvaluation)
                 and cb.out_dir), None)


def check_one_sweep_per_folder(callbacks) -> None:
    """Refuse two evaluation sweeps that write one folder's metrics.json (a config's own and one added with
    --trainer.callbacks+=): both ran, and the later one's metrics.json and W&B summary replaced the earlier one's."""
    folders = [str(Path(cb.out_dir).resolve()) if cb.out_dir else None for cb in callbacks
               if isinstance(cb, SweepEvaluation)]
    shared, count = Counter(folders).most_common(1)[0] if folders else (None, 0)
    if count > 1:
        where = shared or "the evaluation folder"
        raise ValueError(f"{count} SweepEvaluation callbacks would each write metrics.json in {where}, "
                         "the later over the earlier: set the config's own sweep's options without adding one, "
                         "--trainer.callbacks.<option>=... (no +=: it sets the last callback, the sweep in the shipped "
                         "configs)")


def check_out_dir_apart(callbacks, run_dir: Path) -> None:
    """Refuse an evaluation sweep whose out_dir is a run folder, the one it evaluates or another run's
    (:func:`is_run_folder`): the evaluation's record replaced the run's command.txt, the command line of each of its
    fits, with the test's, or lay among the run's own files. An earlier evaluation's folder (a fit's files there:
    none) is taken. A folder that cannot be made or written (a file on its path, a read-only one) is refused too:
    it failed at the pictures, once the whole test had run."""
    for cb in callbacks:
        if not (isinstance(cb, SweepEvaluation) and cb.out_dir):
            continue
        remedy = "; give out_dir another folder, or null for the run's own evaluation folder (nothing was written)"
        check_writable_below(Path(cb.out_dir), f"the evaluation callback's out_dir {cb.out_dir}", remedy, remedy)
        out = Path(cb.out_dir).resolve()
        if out == user_path(run_dir).resolve():
            which = "the run folder itself"
        elif is_run_folder(out):
            which = "another run's folder"
        else:
            continue
        why = (f"whose {COMMAND_FILE} (its fits' command lines) the evaluation's record would replace"
               if (out / COMMAND_FILE).exists() else "where the evaluation's record would lie among the run's files")
        raise ValueError(f"the evaluation callback's out_dir {cb.out_dir} is {which}, {why}: give out_dir another "
                         "folder, or null for the run's own evaluation folder")


def method_of(key: str, group: list[str]) -> str:
    """The method a metric key belongs to: its name less the tokens every key of its group shares ("nn_ssim" in
    [ssim, nn_ssim] -> "nn", "iou_rbf" in [iou_mean, iou_rbf] -> "rbf"); the model itself ("ssim", "iou_mean")
    is "model"."""
    common = set.intersection(*(set(k.split("_")) for k in group))
    rest = [t for t in key.split("_") if t not in common]
    return "_".join(rest) if rest and rest != ["mean"] else "model"


def method_order(groups: dict[str, list[str]]) -> dict[str, int]:
    """Each metric key's method by number, the same in every panel: the model first, the others in order of
    appearance."""
    methods = ["model"]
    for keys in groups.values():
        for key in keys:
            if method_of(key, keys) not in methods:
                methods.append(method_of(key, keys))
    return {key: methods.index(method_of(key, keys)) for keys in groups.values() for key in keys}


def method_colours(groups: dict[str, list[str]]) -> dict[str, str]:
    """One colour per method across every panel (:func:`method_order`)."""
    return {key: f"C{i % 10}" for key, i in method_order(groups).items()}


def legend_label(key: str, group: list[str], names: dict[str, str]) -> str:
    """A line's legend entry: its method's name and the metric key of metrics.json ("nearest-neighbour fill
    (nn_ssim)"); the bare key for a method without a name."""
    method = method_of(key, group)
    return f"{names[method]} ({key})" if method in names else key


# each method's line (method_order), drawn over the methods before it: its own marker shape, a smaller marker, a
# thinner line and gaps through which an equal line under it shows
LINE_MARKERS = ("o", "s", "^", "D", "v", "P")
LINE_STYLES = ("-", (0, (4, 2)), (0, (1, 2)), (0, (6, 2, 1, 2)), (0, (2, 3)), (0, (8, 3)))


def plot_sweep(rows: list[dict[str, Any]], groups: dict[str, list[str]], path: Path, title: str = "",
               names: dict[str, str] | None = None) -> Path:
    """One panel per group of metrics, each against |S| on a log axis ticked at the |S| evaluated; a method keeps its
    colour and line style in every panel and is named in the legends by ``names`` (method -> name, see legend_label).
    Later methods are drawn thinner and dashed, with smaller markers of other shapes, over the earlier ones: methods
    with equal values (a fitted RBF GP that finds the oracle's kernel, fills exact at a large |S|) show each colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {t: [k for k in ks if any(r.get(k) is not None for r in rows)] for t, ks in groups.items()}
    groups = {t: ks for t, ks in groups.items() if ks}
    most = max((len(ks) for ks in groups.values()), default=1)  # legend lines under the fullest panel
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(4.5 * max(1, len(groups)), 3.4 + 0.16 * most),
                             squeeze=False)
    xs = [r["num_context"] for r in rows]
    colours, order = method_colours(groups), method_order(groups)
    for ax, (name, keys) in zip(axes[0], groups.items()):
        for key in keys:  # the legend in the domain's order; a later method drawn over an earlier one (zorder)
            j = order[key]
            ys = [r.get(key, float("nan")) for r in rows]
            ax.plot(xs, ys, label=legend_label(key, keys, names or {}), color=colours[key],
                    marker=LINE_MARKERS[j % len(LINE_MARKERS)], markersize=max(3.0, 9.0 - 1.8 * j),
                    linestyle=LINE_STYLES[j % len(LINE_STYLES)], linewidth=max(1.0, 3.2 - 0.7 * j), zorder=2 + 0.01 * j)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(set(xs)), [str(k) for k in sorted(set(xs))])  # the |S| evaluated, not 2^k
        ax.minorticks_off()
        values = [r[k] for r in rows for k in keys if r.get(k) is not None]
        if values and max(values) - min(values) > 50:  # one wild baseline should not flatten the others
            ax.set_yscale("symlog", linthresh=1.0)
        else:  # values as they are: an offset ("1e-5 - 3.486e-1" above the axis) left each tick unreadable alone
            ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("|S|")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.26), frameon=False)  # under it: no line hidden
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))  # whole: a kill in the middle leaves the one before
    plt.close(fig)
    return path


def left_out_line(stage: str, dropped: list[int], spec: SignalSpec, outcome: str) -> str:
    """The console line that names the |S| levels left out because S would hold every point of a signal, said as
    the evaluation (stage "test") or a validation ("fit", "validate") starts; ``outcome``: what becomes of them."""
    observe = "observes" if len(dropped) == 1 else "observe"
    return (f"[{stage}] |S| {in_number(len(dropped), 'level')} {', '.join(map(str, dropped))} {observe} "
            f"every one of the {spec.num_points} points of {spec.domain}/{spec.dataset}: {outcome}")


class SweepEvaluation(Callback):
    """Evaluate a model across |S| on the test set (used by `pixeltransformer test`).

    Args:
        levels: the |S| values; with grid points, those >= the number of grid points are left out (S would
            hold every point, so no query would be held out) and listed in metrics.json as dropped_levels.
        queries: "grid" evaluates every grid point (needed for images, meshes, videos); an integer draws
            that many query positions per signal instead.
        grid_points: draw the context at grid points (observed pixels) rather than continuous positions.
        num_samples: samples per signal per level (0: no sampling).
        sample_items: draw samples only for the first this many items of the split (by index; their sample
            metrics average over them alone, the others' are NaN and skipped); null: every item.
        n_autoregressive: N', the autoregressive steps per sample (the rest is filled with means).
        temperature: sampling temperature.
        seed: fixes every context and sample, so two runs of the same checkpoint agree.
        max_items: evaluate the test items whose split index is below this (null: all), whatever the batch
            size and the number of devices.
        out_dir: where metrics.json, plots and the Pictures callback's test pictures go (default: <run>/eval next to
            the checkpoint).
    """

    # metrics.json's numbers that are settings ("<entry>", or "<entry>/<key>" of summary()'s entries): metrics.json
    # records them, W&B's summary (the runs table's results) does not, as the run's config has them under
    # trainer.callbacks. Every evaluation's own; a subclass adds its summary()'s: (*SweepEvaluation.summary_settings, x)
    summary_settings: tuple[str, ...] = ("seed", "num_samples", "n_autoregressive", "max_items")

    def __init__(self, levels: tuple[int, ...] = (4, 16, 64, 256), queries: str | int = "grid", grid_points: bool = True,
                 num_samples: int = 0, n_autoregressive: int = 2048, temperature: float = 1.0, seed: int = 0,
                 max_items: int | None = None, out_dir: str | None = None, sample_items: int | None = None):
        super().__init__()
        if not levels or min(levels) < 1:
            raise ValueError(f"SweepEvaluation: need levels >= 1; got {tuple(levels)}")
        # 2.0 got through to the sampler
        num_samples = check_count(num_samples, 0, "SweepEvaluation: num_samples must be a whole number >= 0 (0: no "
                                                  "sampling)")
        if max_items is not None:  # 0 evaluated no item: metrics.json of no rows replaced the evaluation before it
            max_items = check_count(max_items, 1, "SweepEvaluation: max_items must be a whole number >= 1 (null: "
                                                  "every test item)")
        if sample_items is not None:  # -1 (read as "every item") sampled none: no sample metric, without a word
            sample_items = check_count(sample_items, 0, "SweepEvaluation: sample_items must be a whole number >= 0 "
                                                        "(the first items of the split drawn samples for; 0: none; "
                                                        "null: every item)")
        if isinstance(queries, str) and re.fullmatch(r"\s*[+-]?\d+\s*", queries):
            queries = int(queries)  # --trainer.callbacks.queries=100 reaches a str | int option as text
        if queries != "grid" and not whole_number(queries, 1):
            # a typo of grid met int() after the checkpoint loaded; 0 met the set sampler's num_queries at a batch
            raise ValueError(f"SweepEvaluation: queries must be 'grid' (every grid point is a query) or a whole "
                             f"number >= 1 (query positions drawn in each signal), got {queries!r}")
        try:  # refused here, not at the first sampled batch of an evaluation
            temperature = check_temperature(temperature)
        except ValueError as err:
            raise ValueError(f"SweepEvaluation: {err}") from None
        n_autoregressive = check_n_autoregressive(n_autoregressive, "SweepEvaluation")
        self.levels = tuple(levels)
        self.queries = queries
        self.grid_points = grid_points
        self.num_samples = num_samples
        self.sample_items = sample_items
        self.n_autoregressive = n_autoregressive
        self.temperature = temperature
        self.seed = seed
        self.max_items = max_items
        # ~ as the home folder, as the checks read it (a config's or --opt=~/... value reaches here unexpanded)
        self.out_dir = str(user_path(out_dir)) if out_dir else out_dir
        self.results: dict[str, Any] = {}
        self._data_spec: SignalSpec | None = None  # the spec of the data tested, set as the test starts

    test_items_option = "max_items"  # the option that sets test_items_cap, as the [data] line names it

    @property
    def test_items_cap(self) -> int | None:
        """The test items it scores, read by the data module's test loader (datamodule.capped_test_items): max_items."""
        return self.max_items

    # ---- hooks: the module's Domain supplies its metrics; subclasses add stateful baselines ----------------
    def metrics(self, item: SweepItem, pl_module: L.LightningModule) -> dict[str, torch.Tensor]:
        """Per-signal metrics [B] for one batch at one |S|: MSE of the mean, the samples and NN, then the domain's."""
        out = {"mse": masked_mean(((item.mean - item.qry_val) ** 2).mean(-1), item.held_out),
               "nn_mse": masked_mean(((item.nn - item.qry_val) ** 2).mean(-1), item.held_out)}
        if item.samples is not None:
            err = ((item.samples - item.qry_val.unsqueeze(1)) ** 2).mean(-1)  # [B, S, Q]
            out["sample_mse"] = masked_mean(err, item.held_out.unsqueeze(1).expand_as(err)).mean(1)
        domain = getattr(pl_module, "domain", None)
        if domain is not None:
            out.update(checked_metrics(domain, domain.metrics(item), {"nll", *out}, item.signal.shape[0]))
        return out

    def plot_groups(self, pl_module: L.LightningModule) -> dict[str, list[str]]:
        domain = getattr(pl_module, "domain", None)
        return domain.plot_groups() if domain is not None else {"NLL (nats/dim)": ["nll"],
                                                                 "MSE": ["mse", "sample_mse", "nn_mse"]}

    def method_names(self, pl_module: L.LightningModule) -> dict[str, str]:
        """Legend names of the methods in plot_groups' panels (the domain's)."""
        domain = getattr(pl_module, "domain", None)
        return domain.method_names() if domain is not None else dict(CORE_METHOD_NAMES)

    def on_sweep_end(self, trainer: L.Trainer, pl_module: L.LightningModule, out_dir: Path,
                     rows: list[dict[str, Any]]) -> list[Path]:
        """Domains draw their pictures here (rank zero only); returns the files written."""
        return []

    def summary(self, rows: list[dict[str, Any]], pl_module: L.LightningModule) -> dict[str, Any]:
        """Extra top-level entries for metrics.json (the domain's), its verdicts judged on the per-item values. Whether
        they can be judged is decided here, once: on too few items the domain gets none (items=None), and each of its
        verdict_keys it gives is left null, with ``verdicts_not_judged`` saying why. On enough items a domain that
        leaves a verdict null (too few items scored at a level) gives its own ``verdicts_not_judged``."""
        domain = getattr(pl_module, "domain", None)
        if domain is None:
            return {}
        values = getattr(self, "_values", {})
        why = verdicts_not_judged(values, self.max_items)  # too few items: the domain's verdicts are left null
        # a domain of one's own written for summary(rows), before the per-item values were passed, is called so
        takes_items = len(inspect.signature(domain.summary).parameters) >= 2
        extra = checked_summary(domain, domain.summary(rows, None if why else values) if takes_items else
                                domain.summary(rows))
        withheld = [key for key in domain.verdict_keys if extra.get(key) is not None] if why else []
        return {**extra, **dict.fromkeys(withheld), "verdicts_not_judged": why} if withheld else extra

    # ---- the sweep ---------------------------------------------------------------------------------
    def level_list(self, spec: SignalSpec) -> list[int]:
        """The |S| levels evaluated. With grid points, |S| >= the number of grid points observes every point, so
        no query is held out and the level is left out (see dropped_levels)."""
        if not self.grid_points:
            return sorted(set(self.levels))
        return sorted({k for k in self.levels if k < spec.num_points})

    def dropped_levels(self, spec: SignalSpec) -> list[int]:
        """Requested levels left out because S would hold every grid point."""
        return sorted(set(self.levels) - set(self.level_list(spec)))

    def data_spec(self, pl_module: L.LightningModule) -> SignalSpec:
        """The spec of the data tested, whose priors and settings the items' reference metrics are of: the test's
        data module's (in Python a model fitted on RBF draws can be tested on Matern-5/2 data), else the module's."""
        return self._data_spec or pl_module.spec

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._data_spec = getattr(tested_datamodule(trainer), "spec", None)
        spec: SignalSpec = self.data_spec(pl_module)
        if not self.level_list(spec):  # a metrics.json of no rows (and verdicts over none) would look like a result
            levels = ", ".join(map(str, self.dropped_levels(spec)))
            raise ValueError(f"{type(self).__name__}: every |S| level ({levels}) observes all {spec.num_points} "
                             f"points of {spec.domain}/{spec.dataset}, so no query is held out and nothing would be "
                             f"scored: give the evaluation callback levels below {spec.num_points} (its "
                             f"init_args.levels under trainer.callbacks, in a config file)")
        self.check_memory(trainer, pl_module)
        if (dropped := self.dropped_levels(spec)) and trainer.is_global_zero:  # not only in metrics.json
            them = "it" if len(dropped) == 1 else "them"
            print(left_out_line("test", dropped, spec, "left out (no query would be held out; metrics.json lists "
                                f"{them} as dropped_levels)"), flush=True)
        self._values: ItemValues = {}  # (|S|, metric) -> {item key: value}
        self.evaluated: set[int] = set()  # the keys of the items evaluated, over every rank once the test has ended
        self._dir = resolve_eval_dir(trainer, self.out_dir)

    def check_memory(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Refuse num_samples or queries whose completion of one test batch at one level could not be held in the
        memory available now (a typo, 1000000000 samples), before the first batch rather than in torch's allocator;
        the bound `predict --resolution` uses too, :func:`memory.completion_bytes`, a lower bound. Every rank of a
        distributed test completes its batches at once: the ranks on one machine (the trainer's devices) share its
        memory; on a GPU the completion is held in the rank's own device's memory, and the host keeps per-item
        scores."""

        spec: SignalSpec = self.data_spec(pl_module)
        data = tested_datamodule(trainer)  # the test loader's batch (test_batch), 1 without one
        batch, option = data.test_batch() if hasattr(data, "test_batch") else (getattr(data, "batch_size", None)
                                                                                or 1, "batch_size")
        sampled = batch if self.sample_items is None else min(batch, self.sample_items)  # signals a batch samples
        queries = spec.num_points if self.queries == "grid" else int(self.queries)

        def need(q: int, s: int) -> int:
            return (batch - sampled) * completion_bytes(spec, q, 0) + sampled * completion_bytes(spec, q, s)

        short = shortfall(need(queries, self.num_samples), getattr(pl_module, "device", None), local_ranks(trainer))
        if short is None:
            return
        if self.num_samples > 0 and need(queries, 0) <= short.memory:  # 0: the metrics without samples
            remedy = f"at most num_samples {short.most(self.num_samples, lambda s: need(queries, s), low=0)}, or "
        elif self.queries != "grid" and (most := short.most(queries, lambda q: need(q, self.num_samples))) >= 2:
            remedy = f"at most queries {most}, or "
        else:
            remedy = ""
        raise ValueError(f"{type(self).__name__}: num_samples {self.num_samples} at {point_count(queries)} queries "
                         f"of each of {counted(batch, 'signal')} of a batch need at least {short.words}; {remedy}a "
                         f"smaller data {option}")

    def _update(self, k: int, name: str, values: torch.Tensor, keys: list[int]) -> None:
        """Record one metric [B] of the items ``keys`` at |S| = k. An item met twice (the copies a distributed
        sampler adds to even out the ranks) keeps one value: metrics are means over distinct items."""
        store = self._values.setdefault((k, name), {})
        for key, value in zip(keys, values.detach().float().cpu().tolist()):
            store[key] = value
        self.evaluated.update(keys)

    def items_to_evaluate(self, batch: dict[str, Any], batch_idx: int) -> tuple[dict[str, Any] | None, list[int]]:
        """The part of a batch that ``max_items`` keeps (None when nothing), and its item keys."""
        keys = batch_keys(batch, batch_idx)
        if self.max_items is None or all(key < self.max_items for key in keys):
            return batch, keys
        rows = [i for i, key in enumerate(keys) if key < self.max_items]
        return (select_items(batch, rows) if rows else None), [keys[i] for i in rows]

    @torch.no_grad()
    def evaluate_batch(self, pl_module, batch: dict[str, Any], batch_idx: int = 0,
                       progress: bool = False) -> dict[int, dict[str, torch.Tensor]]:
        """All metrics [B] per level for one batch; the items' keys (split indices) seed the contexts. ``progress``:
        a line per level (a live bar on a terminal) once the batch has run LEVELS_DELAY seconds, as a batch of large
        items (3D shapes, sampled at every level) takes minutes, which the test loop's own progress shows only at its
        end (after one second, a polynomial evaluation's log got a line per level of nearly every batch)."""
        spec: SignalSpec = self.data_spec(pl_module)
        signal = batch["signal"]  # [B, V, *grid]
        b = signal.shape[0]
        keys = batch_keys(batch, batch_idx)
        on_grid = self.queries == "grid"
        out = {}
        levels = loop_progress(self.level_list(spec), f"eval: |S| levels of batch {batch_idx + 1}", unit="level",
                               enabled=progress, leave=False, delay=LEVELS_DELAY, growing=True)
        for k in levels:
            check_stop()  # a SIGTERM stops the sweep between levels (and the sampling between its steps)
            if on_grid:  # every grid point is a query
                ctx_pos, ctx_val = draw_context(signal, k, [item_seed(self.seed + 1, key, k) for key in keys],
                                                self.grid_points)  # [B, K, P], [B, K, V]
                qry_pos = pl_module.grid_queries(b)  # [B, N, P]
                qry_val = flatten_grid(signal)  # [B, N, V]
            else:
                n_q = int(self.queries)
                sets = fixed_sets(SetSampler(1, max(k, 1), n_q, grid_points=self.grid_points), signal, keys, k, n_q,
                                  salt=self.seed + 1)
                ctx_pos, ctx_val, qry_pos, qry_val = sets.ctx_pos, sets.ctx_val, sets.qry_pos, sets.qry_val
            observed, _ = observed_lookup(ctx_pos, ctx_val, qry_pos)  # [B, Q]
            params = pl_module.predict_params(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]
            mean = pl_module.dist.mean(params)  # [B, Q, V]
            # finite weights whose outputs overflow would write Infinity and null into metrics.json: refused before
            # any sample is drawn from them
            check_predictions(pl_module.dist, params, f"test queries at |S| = {k}", mean, items=keys)
            samples = None
            rows = [i for i, key in enumerate(keys) if self.sample_items is None or key < self.sample_items]
            if self.num_samples > 0 and rows:
                drawn = pl_module.sample(ctx_pos[rows], ctx_val[rows], qry_pos[rows], num_samples=self.num_samples,
                                         n_autoregressive=self.n_autoregressive, temperature=self.temperature,
                                         seed=[item_seed(self.seed, keys[i], k) for i in rows],
                                         _on_grid=on_grid)  # [B', S, Q, V]: a grid's points are distinct
                samples = drawn.new_full((b, *drawn.shape[1:]), float("nan"))  # [B, S, Q, V]: NaN = not sampled
                samples[rows] = drawn
            nll = pl_module.nll_per_dim(params, qry_val)  # [B, Q]
            item = SweepItem(spec, signal, k, ctx_pos, ctx_val, qry_pos, qry_val, ~observed, params, mean,
                             nearest_neighbour_fill(ctx_pos, ctx_val, qry_pos), samples, on_grid, nll, batch,
                             pl_module.dist)
            values = {"nll": masked_mean(nll, item.held_out)}
            values.update(self.metrics(item, pl_module))
            out[k] = values
        return out

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        part, keys = self.items_to_evaluate(batch, batch_idx)
        if part is None:
            return
        with stop_when(sigterm_stop(trainer)):  # within seconds of a SIGTERM, not at the end of the batch
            per_level = self.evaluate_batch(pl_module, part, batch_idx,
                                            progress=trainer.is_global_zero and shows_progress(trainer))
        for k, values in per_level.items():
            for name, v in values.items():
                self._update(k, name, v, keys)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's test loop does not look at a SIGTERM that came in its last batch: nothing is written after one
        sigterm_stop(trainer)()
        self._values, self.evaluated = gather_item_values(trainer, self._values, self.evaluated)
        by_level: dict[int, dict[str, float]] = {}
        for (k, name), per_item in sorted(self._values.items()):
            value = mean_over_items(per_item)
            by_level.setdefault(k, {})[name] = None if math.isnan(value) else value
        rows = [{"num_context": k, **v} for k, v in sorted(by_level.items())]
        spec: SignalSpec = self.data_spec(pl_module)  # the data tested
        self.results = {
            "domain": spec.domain,
            "dataset": spec.dataset,
            "rows": rows,
            "checkpoint": str(getattr(trainer, "ckpt_path", None) or ""),
            "checkpoint_step": getattr(pl_module, "trained_steps", None),
            "nll_units": "nats per value dimension, normalised density, queries not in S",
            "seed": self.seed,
            "num_samples": self.num_samples,
            "n_autoregressive": self.n_autoregressive,
            "precision": str(trainer.precision),  # the model's (trainer_precision); the baselines run in float32
            "num_items": len(self.evaluated),  # the test items each mean is over: 3 pictures read as any other result
            "max_items": self.max_items,
            "versions": versions(),  # of PixelTransformer, torch and Lightning that evaluated
        }
        extra = self.summary(rows, pl_module)
        self.results.update(extra)
        if self.dropped_levels(spec):
            self.results["dropped_levels"] = {
                "levels": self.dropped_levels(spec),
                "reason": f"|S| >= the {spec.num_points} grid points: every query is in S, nothing is held out"}
        if not trainer.is_global_zero:
            return
        if trainer.fast_dev_run:  # metrics of a batch or two: never put in place of (or beside) an evaluation's
            print(f"[pixeltransformer] fast_dev_run: {self._dir / 'metrics.json'} and plots not written")
            return
        if self.max_items is not None and len(self.evaluated) < self.max_items:  # metrics.json: num_items
            n = len(self.evaluated)
            print(f"[pixeltransformer] max_items {self.max_items}: {counted(n, 'test item')} "
                  f"{'was' if n == 1 else 'were'} evaluated, "
                  "all that the test split (within trainer.limit_test_batches) holds", flush=True)
        if why := self.results.get("verdicts_not_judged"):  # null verdicts, said where the log shows the numbers
            print(f"[pixeltransformer] metrics.json's verdicts are not judged: {why}", flush=True)
        write_json(self._dir / "metrics.json", self.results)
        groups = self.plot_groups(pl_module)
        plot = plot_sweep(rows, groups, self._dir / "metrics_vs_context.png", title=f"{spec.domain} / {spec.dataset}",
                          names=self.method_names(pl_module))
        log_media(trainer, {"eval/metrics_vs_context": plot})
        log_table_and_curves(trainer, "eval", rows, "num_context", groups)
        # one column per number of metrics.json in the W&B runs table, as the step of the checkpoint evaluated (the
        # run's x-axis, trainer/global_step, is that step less one: module.chart_at_checkpoint_step) and the items the
        # means are over; the evaluation's settings are in the run's config (trainer.callbacks)
        log_summary(trainer, summary_scalars(rows, self.results, settings=self.summary_settings))
        with stop_when(sigterm_stop(trainer)):  # a domain's pictures may sample
            extra_files = self.on_sweep_end(trainer, pl_module, self._dir, rows)
        names = ", ".join(p.name for p in [plot, *extra_files])
        print(f"[pixeltransformer] wrote {self._dir / 'metrics.json'}, {names}")
        if val_levels := getattr(pl_module, "val_levels", None):  # the module logs test/val_nll@k at its own levels
            print(f"[pixeltransformer] metrics.json scores |S| = {', '.join(str(row['num_context']) for row in rows)} "
                  f"(nll: the queries not in S); Lightning's table of test/val_nll@k is the validation's NLL at "
                  f"model.val_levels (|S| = {', '.join(map(str, val_levels))}) on these test items (test/val_nll: "
                  f"their mean); both in nats per value dimension (metrics.json's nll_units), of their own draws of "
                  f"S and queries, so at a small |S| they may lie far apart (docs/dashboard.md)", flush=True)
