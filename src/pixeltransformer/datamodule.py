"""SignalDataModule: the base every domain's LightningDataModule derives from.

A domain implements ``build_split(split)`` returning a ``torch.utils.data.Dataset`` whose items are dicts
``{"signal": Tensor[V, *grid], "label"?: int}`` and ``spec`` (a :class:`SignalSpec`). The base class owns
batching, worker seeding and deterministic splits, so no domain writes a DataLoader by hand.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import os
import signal
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, default_collate

from .cache import cache_key
from .errors import counted, warn_rank_zero
from .files import env_folder
from .layout import CHECKOUT
from .signal import SignalSpec

SPLITS = ("train", "val", "test")
# folder names a dataset may give its splits that are not read as split folders (split_folders names them)
SPLIT_LOOKALIKES = ("training", "validation", "valid", "testing")
SPLIT_WORDS = {"val": "validation", "test": "test"}  # the held-out splits as messages name them
# how split sizes deal a seeded permutation of a shared pool (split_indices). 2: fixed sizes from its end, test first,
# so a test split of fixed size does not move with the train size. 1: train, val and test from its start, the layout
# of checkpoints that record none (PixelTransformerCLI draws their splits with it)
SPLIT_LAYOUT = 2
SPLIT_LAYOUTS = (1, 2)
DATA_ENV = "PIXELTRANSFORMER_DATA"
# the float32 value k / 255 of each 8-bit level k, as the CPU divides it: a signal sent as uint8 and made float on
# another device gathers these, so that it has the bits of the CPU's float items there too (a GPU divides by 255 as a
# multiplication by its reciprocal, a bit off at times)
UINT8_LEVELS = torch.arange(256, dtype=torch.float32) / 255.0  # [256]
_LEVELS_ON: dict[torch.device, torch.Tensor] = {}  # UINT8_LEVELS copied to each device once (a copy waits for it)


def float_signal(signal: torch.Tensor) -> torch.Tensor:
    """A signal as a dataset stores it or a loader sends it -> float32 on its device, exactly: 8-bit levels k ->
    k / 255 (pictures, video frames), float16 -> float32 (SDF grids); any other dtype as it is (not copied)."""
    if signal.dtype == torch.uint8:
        return signal.float() / 255.0 if signal.device.type == "cpu" else uint8_levels(signal)
    return signal.float() if signal.dtype == torch.float16 else signal


def uint8_levels(signal: torch.Tensor) -> torch.Tensor:
    """8-bit levels [...] -> their UINT8_LEVELS [...] float32, gathered on the signal's device."""
    levels = _LEVELS_ON.get(signal.device)
    if levels is None:
        levels = _LEVELS_ON[signal.device] = UINT8_LEVELS.to(signal.device)  # [256]
    return levels.index_select(0, signal.reshape(-1).int()).view(signal.shape)  # [...]


def collate(items: Any, to_float: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Any:
    """A DataLoader's batch: what a dataset's ``__getitems__`` returned when that is a batch already (a dict of
    [B, ...] tensors, read in one call), else torch's default_collate of the items. With ``to_float``, its signal
    becomes float32 here (a loader used where no Trainer runs on_after_batch_transfer to do it)."""
    batch = items if isinstance(items, dict) else default_collate(items)  # {"signal": [B, V, *grid], ...}
    return float_batch(batch, to_float) if to_float is not None else batch


def float_batch(batch: Any, to_float: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """A batch with its signal [B, V, *grid] as to_float makes it; anything else as it is."""
    if isinstance(batch, dict) and isinstance(batch.get("signal"), torch.Tensor):
        return {**batch, "signal": to_float(batch["signal"])}
    return batch


def least_fraction(batches: int) -> str:
    """The least limit_train_batches fraction, in 3 significant digits, that takes one of ``batches`` batches:
    1/batches rounded up, as Lightning takes int(batches * fraction) of them (1/3 printed as 0.333 took none)."""
    return str(decimal.Context(prec=3, rounding=decimal.ROUND_CEILING).divide(1, batches))


def data_dir() -> Path:
    """Where datasets read from files live unless a config names a root: $PIXELTRANSFORMER_DATA (a relative one
    from the folder the command runs in, made absolute: :func:`~pixeltransformer.files.env_folder`), else data/ at
    the repository root (git-ignored), or, installed from a wheel, data/ in the working folder (where runs/ goes).
    Domains look for each dataset at a fixed path below it (data/mnist, data/cats/faces64, ...), the layout of the
    project's shared sample data."""
    return env_folder(DATA_ENV) or (CHECKOUT or Path.cwd()) / "data"


def default_root(relative: str, must_exist: bool = True, how: str = "", option: str = "root") -> Path:
    """``data_dir() / relative``; when it is absent (and ``must_exist``), a one-line FileNotFoundError that says
    where to put the data (``how``: a way to get it, e.g. a download flag; ``option``: the DataModule argument
    that names this path instead)."""
    path = data_dir() / relative
    if must_exist and not path.exists():
        options = [f"set {DATA_ENV} to a folder holding {relative}", f"pass --data.init_args.{option}",
                   *([how] if how else [])]
        raise FileNotFoundError(f"no data at {path}: put it there, {', '.join(options[:-1])}, or {options[-1]}")
    return path


class IndexedDataset(Dataset):
    """Adds each item's index within its split, so fixed evaluation sets can be seeded per item (the same
    on one process and on many DDP ranks)."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str) -> Any:
        # domain datasets keep their own attributes (arrays, counts) reachable through the wrapper
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.base[i])
        item["index"] = i
        return item

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]] | dict[str, Any]:
        """A DataLoader's batch in one call: the base's own ``__getitems__`` where it has one (GP draws: one product
        for the batch; pictures, clips and SDF grids: the batch itself, a dict of [B, ...] tensors), each item with
        its index. Without this, __getattr__ handed the DataLoader the base's method, whose items had no index."""
        many = getattr(self.base, "__getitems__", None)
        items = many(indices) if many is not None else [self.base[i] for i in indices]
        if isinstance(items, dict):  # a batch already
            return {**items, "index": torch.tensor(indices, dtype=torch.long)}  # index [B]
        return [{**item, "index": i} for item, i in zip(items, indices)]


class ResumableRandomSampler(DistributedSampler):
    """A shuffle whose order depends only on (seed, epoch), and which can start part-way into an epoch; under DDP
    each of ``num_replicas`` ranks takes every num_replicas-th sample of that one order (an epoch drops the last
    size % num_replicas samples, so that every rank has as many batches).

    After a resume the DataModule tells it how many samples of the interrupted epoch were already trained on, over
    all ranks, so training continues with exactly the batches an uninterrupted run would have seen. It is a
    DistributedSampler so that Lightning does not wrap it in one, which would shuffle its order again (and, after
    a resume, index past the shortened epoch).
    """

    def __init__(self, size: int, seed: int, num_replicas: int = 1, rank: int = 0):  # no process group needed
        self.size, self.seed, self.num_replicas, self.rank = size, seed, num_replicas, rank
        self.epoch = 0
        self.start = 0

    def __len__(self) -> int:
        return self.size // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this each epoch; the sampler counts its epochs itself (restored with the checkpoint)."""

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=gen).tolist()
        usable = self.size - self.size % self.num_replicas
        start, self.start = self.start, 0
        self.epoch += 1
        return iter(order[start + self.rank:usable:self.num_replicas])


def check_split_sizes(sizes: Sequence[int], rests: int = 1) -> None:
    """Split sizes are item counts, or -1 for the rest (in at most ``rests`` places); refused in one line naming the
    sizes as given."""
    if min(sizes) < -1:
        raise ValueError(f"split sizes {tuple(sizes)} must be counts, or -1 for the rest")
    if list(sizes).count(-1) > rests:
        raise ValueError("at most one split size may be -1 (the rest)")


def splits_hint(items: str) -> str:
    """What to give when split sizes do not fit the items they deal (``items``: what they count, "images")."""
    return f"give --data.init_args.splits in {items} (train, val, test; -1: the rest)"


def split_sizes_cause(where: str | Path, n: int, item: str, sizes: Sequence[int], kind: str = "") -> str:
    """Why a split of one pool of ``n`` items came out empty, for the error that says so: ": <where>'s n items split
    a/b/c (train/val/test); give --data.init_args.splits ...". ``item``: what the sizes count ("image", "shape");
    ``kind``: a word before the count's item ("usable")."""
    counts = "/".join(str(int(s)) for s in sizes)
    return (f": {where}'s {counted(n, f'{kind} {item}'.lstrip())} split {counts} (train/val/test); "
            f"{splits_hint(item + 's')}, or add {item}s")


def refuse_one_colour(low: torch.Tensor, high: torch.Tensor, count: int, item: str, where: str | Path) -> None:
    """Refuse 8-bit data whose every pixel is one colour: ``low`` and ``high`` [C] are each channel's least and greatest
    level over all ``count`` items (``item``: "picture", "clip"), read from ``where``. Grey ones trained without a word
    on targets that never change, and colour ones failed on k-means bins with advice to set num_bins to 1."""
    if torch.equal(low, high):
        colour = low.tolist()
        value = f"{colour[0]}" if len(colour) == 1 else f"({', '.join(map(str, colour))})"
        raise ValueError(f"{where}: every pixel of its {counted(count, item)} is {value} of 255: {item}s "
                         "of one colour leave nothing to learn")


def split_indices(n: int, sizes: tuple[int, int, int], seed: int,
                  layout: int = SPLIT_LAYOUT) -> tuple[torch.Tensor, ...]:
    """A deterministic shuffled split of range(n) into train/val/test of the given sizes (-1: the rest).

    Layout 2 deals a seeded permutation from its end: test takes its last items, val those before them, train those
    before val, and the split marked -1 what is left at its start. A test split of fixed size then depends on the
    seed and its own size alone, val on test's size too, and a smaller train split lies inside a larger one: models
    of a data-size study are scored on the same test items. Layout 1, that of checkpoints that record none, dealt
    train, val and test from the start, so a fixed test split moved with the train size. Sizes with train -1, or
    summing to n, hold the same items in both.
    """
    check_split_sizes(sizes)
    if layout not in SPLIT_LAYOUTS:
        raise ValueError(f"split layout {layout!r} is not one of {SPLIT_LAYOUTS}")
    given, sizes = tuple(sizes), list(sizes)
    fixed = sum(s for s in sizes if s != -1)
    if fixed > n:  # named as given: the rest computed for -1 would be negative
        others = f": the sizes besides -1 take {fixed}" if -1 in given else ""
        raise ValueError(f"split sizes {given} do not fit {counted(n, 'item')}{others}")
    if -1 in sizes:
        sizes[sizes.index(-1)] = n - fixed
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # [n]
    if layout == 1:
        bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()  # each split's start and end, train first
        return tuple(perm[bounds[i] : bounds[i + 1]] for i in range(3))
    out: list[torch.Tensor] = [perm[:0]] * 3
    end = n
    for i in (2, 1, 0):  # test, val, train from the end; the rest takes the start
        if given[i] != -1:
            out[i], end = perm[end - sizes[i] : end], end - sizes[i]
    if -1 in given:
        out[given.index(-1)] = perm[:end]
    return tuple(out)


def split_folders(paths: list[Path], root: Path) -> dict[str, list[Path]] | None:
    """The files of each official split when a dataset ships them in folders named train/, val/ and test/ (ModelNet's
    ``chair/train/*.off``, the cat faces' ``cat_combined/{train,val,test}/``): {"train": [...], "test": [...]}, with
    "val" when there is such a folder; None when no file lies in one, or only in train/ (then the files are one pool).
    Files both inside and outside such folders, or a val/ or test/ folder without train/ and test/, are refused in
    one line rather than mixed into one pool, where the official test files would train."""
    where = {p: [part for part in p.relative_to(root).parts[:-1] if part in SPLITS] for p in paths}
    if not any(where.values()):
        warn_split_lookalikes(paths, root)
        return None
    odd = [p for p, w in where.items() if len(w) != 1]
    if odd:
        raise ValueError(f"{root}: {counted(len(odd), 'file')} (first: {odd[0].relative_to(root)}) "
                         f"{'lies' if len(odd) == 1 else 'lie'} outside the train/, val/ and test/ folders that hold "
                         "the others (or in two of them); point the root at one layout")
    groups = {s: [p for p in paths if where[p] == [s]] for s in SPLITS}
    if not groups["val"] and not groups["test"]:
        return None
    if not groups["train"] or not groups["test"]:
        have = ", ".join(f"{s}/" for s in SPLITS if groups[s])
        raise ValueError(f"{root}: split folders {have} but a dataset split by folders needs train/ and test/ "
                         "(val/ is optional: without it, validation is drawn from train/)")
    return {s: g for s, g in groups.items() if g}


def warn_split_lookalikes(paths: list[Path], root: Path) -> None:
    """One warning naming the folders below root that look like split folders but are not read as such (Kaggle's
    ``Train/`` and ``Test/``, ``training/``, ``validation/``): their files were dealt as one pool without a word, so a
    dataset's own test files trained. Only folders named exactly train/, val/ and test/ keep a split."""
    names = sorted({part for p in paths for part in p.relative_to(root).parts[:-1]
                    if part not in SPLITS and part.lower() in SPLITS + SPLIT_LOOKALIKES})
    if names:
        folders = ", ".join(f"{name}/" for name in names)
        warn_rank_zero(f"{root}: {folders} {'is not a split folder' if len(names) == 1 else 'are not split folders'} "
                       "(only folders named train/, val/ and test/ keep their split): their files are dealt as one "
                       "pool by the split sizes; rename the folders to keep the dataset's own split", stacklevel=3)


def group_split(groups: torch.Tensor, sizes: Sequence[int], seed: int,
                layout: int = SPLIT_LAYOUT) -> tuple[torch.Tensor, ...]:
    """Split items [N] into train/val/test of about ``sizes`` items (-1: the rest) keeping every group
    (e.g. the clips of one video) inside one split, so overlapping clips never leak into the test set.

    Groups are shuffled with ``seed`` and dealt whole to test, then val, then train: a split takes each
    group that still fits under its size (and the smallest left if it would otherwise stay empty); the
    split marked -1 gets what is left. A test split of fixed size thus never depends on the train size. With one
    item per group this is :func:`split_indices` in ``layout``, which keeps that property.
    """
    check_split_sizes(sizes)
    n = groups.shape[0]
    uniq, inverse = torch.unique(groups, return_inverse=True)
    if len(uniq) == n:
        return split_indices(n, tuple(sizes), seed, layout)
    sizes = list(sizes)
    order = torch.randperm(len(uniq), generator=torch.Generator().manual_seed(seed)).tolist()
    # each group's items in ascending order, found by one sort (a comparison per group took N x groups)
    members = torch.split(torch.argsort(inverse, stable=True), torch.bincount(inverse, minlength=len(uniq)).tolist())
    assigned: list[list[torch.Tensor]] = [[], [], []]
    for split in (2, 1, 0):  # test first: its size matters most for honest numbers
        if sizes[split] == -1:
            continue
        count, left = 0, []
        for g in order:
            if count + len(members[g]) <= sizes[split]:
                assigned[split].append(members[g])
                count += len(members[g])
            else:
                left.append(g)
        order = left  # the groups no split took yet, in their shuffled order
        if count == 0 and sizes[split] > 0 and order:
            g = min(order, key=lambda g: len(members[g]))
            assigned[split].append(members[g])
            order.remove(g)
    if -1 in sizes:
        assigned[sizes.index(-1)].extend(members[g] for g in order)
    return tuple(torch.cat(a) if a else torch.zeros(0, dtype=torch.long) for a in assigned)


def official_split_indices(counts: dict[str, int], splits: tuple[int, int, int] | None, seed: int, where: str,
                           groups: dict[str, torch.Tensor] | None = None,
                           layout: int = SPLIT_LAYOUT) -> dict[str, tuple[str, torch.Tensor]]:
    """Splits of a dataset that ships a train pool and a test pool, maybe a val pool (two files, or
    :func:`split_folders`): split -> (pool, sorted indices into it). ``splits`` (train, val, test) sizes in items,
    -1 = the whole pool (the rest, for train and val drawn from one pool); default: all of each, and without a val
    pool a seeded tenth of the train pool (at most 1000) for validation. A size below its pool's takes a seeded subset.

    ``groups``: pool -> the group of each of its items [counts[pool]] (the video of each clip). Subsets and the
    train/val draw then take whole groups (:func:`group_split`: about the size in items, no group in two splits); a
    pool without groups is split item by item. A train part drawn from for validation that leaves no training item
    (one group) is refused. ``layout``: see :func:`split_indices`; it deals the train part validation is drawn from.
    A subset of a pool of its own is the same in both layouts.
    """
    n_train, has_val = counts["train"], "val" in counts
    tr, va, te = splits or (-1, -1 if has_val else min(1000, max(1, n_train // 10)), -1)
    check_split_sizes((tr, va, te), rests=3)  # -1 takes a whole pool, in any split
    groups = {pool: ids for pool, ids in (groups or {}).items() if pool in counts}  # pool -> [counts[pool]]
    for pool, ids in groups.items():
        if len(ids) != counts[pool]:
            raise ValueError(f"groups for {where}'s {pool} part name {len(ids)} items, but it has {counts[pool]}")

    def draw(pool: str, sizes: tuple[int, int, int], layout: int = layout) -> tuple[torch.Tensor, ...]:
        """Seeded (train, val, test) index parts [size] of one pool's items, whole groups where there are groups."""
        if pool in groups:
            return group_split(groups[pool], sizes, seed, layout)
        return split_indices(counts[pool], sizes, seed, layout)

    def subset(split: str, size: int) -> tuple[str, torch.Tensor]:
        n = counts[split]
        if size > n:
            raise ValueError(f"a {split} split of {size} does not fit the {n} items of {where}'s {split} part "
                             "(-1 takes all of it)")
        # a pool of its own: its subset depends on the seed and its size alone, and a smaller one lies inside a larger
        # one, in either layout; drawn as layout 1 drew it, so that sizes whose train is -1 keep their test items
        idx = torch.arange(n) if size == -1 else draw(split, (size, 0, -1), layout=1)[0]  # [size or n]
        return split, idx.sort().values

    out = {"test": subset("test", te)}
    if has_val:
        out["train"], out["val"] = subset("train", tr), subset("val", va)
    else:
        if sum(s for s in (tr, va) if s != -1) > n_train:
            raise ValueError(f"train and val splits of {tr} and {va} do not fit the {n_train} items of {where}'s "
                             "train part (without a val part, validation is drawn from it)")
        train, val, _ = draw("train", (tr, va, 0) if -1 in (tr, va) else (tr, va, -1))  # [tr], [va]
        if len(train) == 0 and tr != 0 and n_train > 0:  # val took the whole part (a group goes whole, or one item)
            k = len(torch.unique(groups["train"])) if "train" in groups else 0
            grouped = f" in {counted(k, 'group')}" if k else ""
            raise ValueError(f"{where}'s train part ({counted(n_train, 'item')}{grouped}) leaves no train "
                             "split once a val split is drawn from it: add a val part, or make the val split 0")
        out["train"], out["val"] = ("train", train.sort().values), ("train", val.sort().values)
    return {s: out[s] for s in SPLITS}


def held_out_sizes(n: int) -> tuple[int, int, int]:
    """The default split sizes of one pool of ``n`` items: val = test = n // 10, at least 1 and at most 500; train the
    rest."""
    held = min(500, max(1, n // 10))
    return (-1, held, held)


def pool_split_index(counts: dict[str, int], splits: tuple[int, int, int] | None, seed: int, layout: int, where: str,
                     default: tuple[int, int, int] | None = None) -> dict[str, tuple[str, torch.Tensor]]:
    """split -> (pool, sorted indices into it) of data read as one pool ({"all": n}: ``splits``, else ``default``,
    else :func:`held_out_sizes`, dealt by :func:`split_indices`) or as a dataset's own train/(val/)test pools
    (:func:`official_split_indices`)."""
    if "all" in counts:
        n = counts["all"]
        parts = split_indices(n, splits or default or held_out_sizes(n), seed, layout)
        return {s: ("all", p.sort().values) for s, p in zip(SPLITS, parts)}
    return official_split_indices(counts, splits, seed, where, layout=layout)


def same_split_index(theirs: dict[str, tuple[str, torch.Tensor]], mine: dict[str, tuple[str, torch.Tensor]],
                     splits: Sequence[str]) -> bool:
    """Whether two :func:`pool_split_index` results hold the same items (pool and indices) in each of ``splits``."""
    return all(theirs[s][0] == mine[s][0] and torch.equal(theirs[s][1], mine[s][1]) for s in splits)


def evaluated_items(trainer: Any) -> int | None:
    """The test items a test's evaluations score, which the test loader stops at: the ``test_items_cap`` of each
    callback that has one (an int, or None for every item: SweepEvaluation's is its max_items), the most of them
    where several; None where one of them does not cap them or there is none."""
    missing = object()
    caps = [cap for c in getattr(trainer, "callbacks", None) or ()
            if (cap := getattr(c, "test_items_cap", missing)) is not missing]
    return None if not caps or None in caps else max(caps)


def start_worker(worker_id: int, rank: int, fitting: bool = False) -> None:
    """A DataLoader worker's start. Ctrl-C is the main process's to handle: a fit stops at the end of its training
    step and saves it (checkpointing.py), and a worker that took the signal would end, failing the fit's next batch.
    A fit's workers leave it SIGTERM too, which torchrun's agent (to each rank's process group) and schedulers (SLURM,
    to every process of a job step) send them with the fit: one that ended on it failed the fit's step at once ("is
    killed by signal: Terminated"), and nothing was saved. The fit shuts its workers down when it ends; elsewhere a
    worker keeps PyTorch's SIGTERM, with which a DataLoader still running when Python exits ends its workers.
    Then what Lightning adds when no worker_init_fn is given: its worker seeding (seed_everything(workers=True))."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if fitting:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if int(os.environ.get("PL_SEED_WORKERS", 0)):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id, rank=rank)


def option_text(value: Any) -> str:
    """An option's value as the command line takes it: null, true, 3, [1000,100,200]."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(option_text(v) for v in value) + "]"
    return str(value)


def split_mismatch(checkpoint: dict[str, Any], datamodule: "SignalDataModule", resume: bool = False,
                   reads: Sequence[str] = ("test",)) -> str | None:
    """One line when a checkpoint was trained on splits chosen by other options (seed, split sizes) than
    ``datamodule``'s, naming them and what to pass; None when they agree, when the splits the command ``reads`` hold
    the same items under both (:meth:`SignalDataModule.same_splits`), or when the checkpoint did not record them.
    ``resume``: the line of a fit that continues the checkpoint (which reads every split), rather than of an
    evaluation (its test split, or a validate's val split). Data changed since (:func:`pool_change`) is named too: in
    its own line where the options agree, after theirs where they differ (passing the checkpoint's options then
    draws its splits from other data)."""
    state = checkpoint.get(type(datamodule).__qualname__)
    trained = state.get("split_options") if isinstance(state, dict) else None
    if not isinstance(trained, dict):
        return None
    mine = datamodule.split_options()
    differ = [k for k in trained if k in mine and option_text(trained[k]) != option_text(mine[k])]
    drawn_anew = set(differ) & set(datamodule.data_drawn_by)
    reads = SPLITS if resume else tuple(reads)
    # options that cut the pools otherwise from the same files (a video's stride) explain their other sizes
    shaped = set(differ) & set(datamodule.pool_shaped_by)
    changed = pool_change(None if shaped else state.get("pool_sizes"), state.get("pool_files"), datamodule, resume,
                          reads)
    if not differ or (not drawn_anew and same_items(datamodule, {k: trained[k] for k in differ}, reads)):
        return changed
    # the options as trained on draw the checkpoint's splits only from the data it was trained on: a changed one named
    return other_options(trained, mine, differ, datamodule, resume, reads, drawn_anew) + (
        f"; besides, {changed}" if changed else "")


@dataclasses.dataclass(frozen=True)
class MadeOtherwise:
    """What a spec lacking a conversion option meant, where no value of the option makes that data again (SDF voxels
    from before they were padded to the margin): the line says ``why`` instead of what to pass."""

    why: str


def conversion_mismatch(checkpoint: dict[str, Any], datamodule: "SignalDataModule",
                        resume: bool = False) -> str | None:
    """One line when a checkpoint's spec records that its data was made with other options than ``datamodule``'s
    (its :meth:`SignalDataModule.conversion_options`: an SDF's truncation or margin, a video's frame_step), naming
    each with both values and what to pass; None when they agree, or the checkpoint recorded none of them. The model
    is then scored (or, ``resume``, trained on) data it was not trained on, which the numbers do not show. What no
    option sets but the data itself (:meth:`SignalDataModule.spec_mismatch`: a curve file's x step) follows."""
    trained = (checkpoint.get("hyper_parameters") or {}).get("spec")
    was_extra = (trained.get("extra") or {}) if isinstance(trained, dict) else None
    if not isinstance(datamodule, SignalDataModule) or not isinstance(was_extra, dict):
        return None
    notes = [_option_mismatch(trained, was_extra, datamodule, resume), datamodule.spec_mismatch(trained, resume)]
    return "; besides, ".join(n for n in notes if n) or None


def _option_mismatch(trained: dict[str, Any], was_extra: dict[str, Any], datamodule: "SignalDataModule",
                     resume: bool) -> str | None:
    """conversion_mismatch's line for the options of :meth:`SignalDataModule.conversion_options`."""
    mine = checked_spec(datamodule).extra
    was: dict[str, Any] = {}
    lost: list[str] = []  # options no value of which makes the checkpoint's data again: why
    for key, missing in datamodule.conversion_options(trained, resume=resume).items():
        value = was_extra.get(key, missing)  # a spec written before the option was recorded: what it meant
        if isinstance(value, MadeOtherwise):
            lost.append(f"data.init_args.{key}: {value.why}")
        elif key in mine and value is not None and not same_value(value, mine[key]):
            was[key] = value
    scored = "it now trains on other data than its own" if resume else "it is scored on data it was not trained on"
    if lost:
        return f"the checkpoint was trained on data made otherwise than this {'run' if resume else 'evaluation'} " \
               f"can make it ({'; '.join(lost)}): {scored}"
    if not was:
        return None
    then = ", ".join(f"data.init_args.{k}={option_text(v)}" for k, v in was.items())
    now = ", ".join(f"{k}={option_text(mine[k])}" for k in was)
    fix = " ".join(f"--data.init_args.{k} {option_text(v)}" for k, v in was.items())
    if resume:
        return (f"the checkpoint was trained on data made with {then}, not this run's ({now}): {scored}; pass {fix} "
                f"to continue on its own")
    return (f"the checkpoint was trained on data made with {then}, not this evaluation's ({now}): {scored}; pass "
            f"{fix} to evaluate on data made as its own")


def same_value(a: Any, b: Any) -> bool:
    """Whether two recorded option values agree: numbers by value (a config's 1 and a spec's 1.0), others as the
    command line writes them (a tuple and the list a checkpoint kept of it)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    return float(a) == float(b) if numbers else option_text(a) == option_text(b)


# what reading a DataModule's data raises where it is not there or does not fit the split options (a missing folder,
# split sizes too large for it): a comparison with a checkpoint then knows nothing of it, and the run says so where it
# reads the data. The domains' split hooks (splits_with_train, same_splits, pool_sizes, pool_files) raise it as is.
DATA_ERRORS = (ValueError, OSError)


def read_or(default: Any, read: Callable[[], Any], errors: tuple[type[Exception], ...] = DATA_ERRORS) -> Any:
    """``read()``, or ``default`` where the data it reads raises one of ``errors``."""
    try:
        return read()
    except errors:
        return default


def same_items(datamodule: "SignalDataModule", options: dict[str, Any], reads: Sequence[str]) -> bool:
    """:meth:`SignalDataModule.same_splits`, and False where the data is not there or the checkpoint's split sizes do
    not fit it (or are not numbers: a TypeError)."""
    return read_or(False, lambda: datamodule.same_splits(options, reads), DATA_ERRORS + (TypeError,))


def shared_with_train(datamodule: "SignalDataModule") -> tuple[str, ...]:
    """:attr:`SignalDataModule.splits_with_train`, and both held-out splits where the data is not there (what may
    hold training items is not known)."""
    return read_or(SPLITS[1:], lambda: datamodule.splits_with_train)


def other_options(trained: dict[str, Any], mine: dict[str, Any], differ: list[str], datamodule: "SignalDataModule",
                  resume: bool, reads: Sequence[str], drawn_anew: set[str]) -> str:
    """split_mismatch's line for split options ``differ`` that hold other items in the splits the command reads."""
    was = ", ".join(f"data.init_args.{k}={option_text(trained[k])}" for k in differ)
    now = ", ".join(f"{k}={option_text(mine[k])}" for k in differ)
    fix = " ".join(f"--data.init_args.{k} {option_text(trained[k])}" for k in differ)
    # items drawn anew (synthetic clips of another seed): none of the checkpoint's can be in any split
    shared = () if drawn_anew else shared_with_train(datamodule)
    if resume:
        risk = (f"may now train on its own {read_splits(shared)} items" if shared
                else "now trains on other items than its own")
        never = [s for s in ("val", "test") if s not in shared]
        risk += f", never on its {read_splits(never)} items" if never else ""
        return (f"the checkpoint was trained on the splits of {was}, not this run's ({now}): it {risk}; pass {fix} to "
                "continue on its own splits")
    read = read_splits(reads)  # "test", or a validate's "validation"
    if set(reads) & set(shared):
        return (f"the checkpoint was trained on the splits of {was}, not this evaluation's ({now}): the {read} split "
                f"may then differ from its own and hold items it trained on; pass {fix} to evaluate on its own")
    return (f"the checkpoint was trained on the splits of {was}, not this evaluation's ({now}): the {read} split may "
            f"then hold other items than its own, none of them its training items; pass {fix} to evaluate on its own")


def read_splits(splits: Sequence[str]) -> str:
    """Held-out splits as a message names them: "test", "validation", "validation and test"."""
    return " and ".join(SPLIT_WORDS[s] for s in splits)


def pool_change(trained: Any, trained_files: Any, datamodule: "SignalDataModule", resume: bool = False,
                reads: Sequence[str] = ("test",)) -> str | None:
    """One line when the pools a checkpoint's splits were drawn from held other numbers of items (``trained``, as its
    state recorded them) than ``datamodule``'s do now, or came from other files (``trained_files``, a digest of their
    names, a pool's each): files added to, removed from or renamed in a folder since. The same options then draw
    other splits (a seeded permutation of another length, or of other files), so a test split of a shared pool holds
    items the checkpoint trained on. ``reads``: the splits an evaluation reads (its test split, or a validate's val
    split), whose pools alone it compares: a train/ folder changed moves no item of a test/ folder's test split.
    None when they agree, or either is not known."""
    # asked only of what the checkpoint recorded (one written before records neither): they may read the data
    mine = read_or(None, datamodule.pool_sizes) if isinstance(trained, dict) else None
    files = read_or(None, datamodule.pool_files) if isinstance(trained_files, (str, dict)) else None
    digests = None if files is None else pool_digests(files)
    compared = None if resume else pools_read(reads, mine or digests or {})  # None: every pool
    other_sizes = mine is not None and pools_differ(trained, mine, compared)
    if isinstance(trained_files, str):  # one digest of every file's name (a checkpoint written before pools had theirs)
        other_files = files is not None and cache_key(files) != trained_files
    else:
        other_files = digests is not None and pools_differ(trained_files, digests, compared)
    if not (other_sizes or other_files):
        return None

    def items(sizes: dict) -> str:  # "12 items", or "8 items [6 in train/, 2 in test/]" for split folders
        parts = sorted(sizes.items(), key=lambda kv: SPLITS.index(kv[0]) if kv[0] in SPLITS else -1)
        each = "" if list(sizes) == ["all"] else f" [{', '.join(f'{n} in {name}/' for name, n in parts)}]"
        return f"{sum(sizes.values())} items{each}"

    if other_sizes:
        changed = (f"the checkpoint's splits were drawn from {items(trained)}, but the data now holds {items(mine)} "
                   "(another folder, or files added or removed since): the same options draw other splits")
    else:
        changed = (f"the checkpoint's splits were drawn from {items(mine) + ' of ' if mine else ''}other files than "
                   "the data's now (another folder, or files renamed, added or removed since): the same options may "
                   "draw other splits")
    shared = shared_with_train(datamodule)
    if resume:
        risk = f"this run may train on its own {read_splits(shared)} items" if shared else \
            "this run trains on other items than its own"
        return f"{changed}, and {risk}; continue on the data it was trained on"
    read = read_splits(reads)
    if set(reads) & set(shared):
        return (f"{changed}, and the {read} split may hold items it trained on; evaluate it on the data it was "
                "trained on")
    return (f"{changed}, and the {read} split may hold other items than its own; evaluate it on the data it was "
            "trained on")


def file_pools(files: Sequence[str]) -> dict[str, list[str]]:
    """A folder's files (paths under its root) by the pool their items are drawn from, as :func:`split_folders` groups
    them: a train/, val/ or test/ folder's, or one pool ("all") where none lies in a test/ folder."""
    where = [next((part for part in f.split(os.sep)[:-1] if part in SPLITS), "all") for f in files]  # str(Path)s
    if "test" not in where:
        return {"all": list(files)}
    pools: dict[str, list[str]] = {pool: [] for pool in SPLITS if pool in where}
    for f, pool in zip(files, where):
        pools[pool].append(f)
    return pools


def pool_digests(files: Sequence[str]) -> dict[str, str]:
    """A digest of each pool's file names (:func:`file_pools`), as a checkpoint records them."""
    return {pool: cache_key(names) for pool, names in file_pools(files).items()}


def pools_read(splits: Sequence[str], pools: Sequence[str]) -> set[str]:
    """The pools ``splits`` draw from: one pool ("all"), or split folders' (validation from train/ without val/)."""
    return {"all"} if "all" in pools else {s if s in pools else "train" for s in splits}


def pools_differ(was: Any, now: dict[str, Any], read: set[str] | None) -> bool:
    """Whether what a checkpoint recorded of each pool (``was``: its size, or its files' digest) differs from ``now``
    in the pools ``read`` (None: all); pools of another layout (a val/ folder added) differ in all."""
    if not isinstance(was, dict) or read is None or set(was) != set(now):
        return was != now
    return any(was[pool] != now[pool] for pool in read if pool in now)


def splits_with_train_of(pools: Sequence[str]) -> tuple[str, ...]:
    """SignalDataModule.splits_with_train for data of these pools: one pool ("all") gives every split from it; a
    train part with a test part of its own gives validation from the train part, unless a val part of its own."""
    if "all" in pools:
        return ("val", "test")
    return () if "val" in pools else ("val",)


def checkpoint_split_layout(checkpoint: dict[str, Any], datamodule_class: str) -> int:
    """The split layout (:func:`split_indices`) a checkpoint's splits were drawn with: the one it records under its
    DataModule ``datamodule_class`` (a class name), or 1 for a checkpoint written before layouts were recorded."""
    state = checkpoint.get(datamodule_class)
    trained = state.get("split_options") if isinstance(state, dict) else None
    return int(trained.get("split_layout", 1)) if isinstance(trained, dict) else 1


def check_contract(cls: type) -> None:
    """A SignalDataModule subclass defines ``spec`` and ``build_split``: one line naming what it lacks, not
    NotImplementedError from deep in the first command that reads it."""
    missing = [m for m in ("spec", "build_split") if getattr(cls, m, None) is getattr(SignalDataModule, m)]
    if missing:
        what = {"spec": "spec (a property returning its SignalSpec)",
                "build_split": "build_split(split) (a dataset of {'signal': [V, *grid]} items for train, val, test)"}
        raise ValueError(f"{cls.__name__} does not define {' or '.join(what[m] for m in missing)}: a "
                         "SignalDataModule subclass provides both (docs/design.md, Adding a domain)")


def checked_spec(datamodule: Any) -> SignalSpec:
    """A DataModule's ``spec``, checked to be a SignalSpec (a ``spec`` method without @property gives a function)."""
    spec = datamodule.spec
    if not isinstance(spec, SignalSpec):
        hint = ": make spec a @property" if callable(spec) else ""
        raise ValueError(f"{type(datamodule).__name__}.spec must be a SignalSpec, got {type(spec).__name__}{hint}")
    return spec


def module_spec(datamodule: Any) -> SignalSpec:
    """The spec a module is built with: the DataModule's own (:func:`checked_spec`), its extra naming the file or
    folder the evaluated data is read from, where a user's files are (``source``: the last part of
    :meth:`SignalDataModule.source_path`, which moving the data keeps). A checkpoint records it, and an evaluation on
    another file or folder of the same dataset writes beside the run's own (module.eval_folder)."""
    spec = checked_spec(datamodule)
    where = datamodule.source_path() if isinstance(datamodule, SignalDataModule) else None
    name = Path(os.path.abspath(where)).name if where is not None else ""
    if not name:  # data that its dataset alone names, or a root such as "/"
        return spec
    return dataclasses.replace(spec, extra={**spec.extra, "source": name})


class SkippedInit(ValueError, AttributeError):
    """A SignalDataModule whose subclass skipped the base's ``__init__``: bad input (one line), and still an
    AttributeError to ``hasattr``."""


# what SignalDataModule.__init__ sets: a lookup of one that finds none means it did not run
INIT_ATTRIBUTES = frozenset({"batch_size", "val_items", "num_workers", "seed", "split_layout", "root", "_splits",
                             "_resume_state", "_train_sampler", "predict_inputs", "_default_roots"})


class SignalDataModule(L.LightningDataModule):
    """Base DataModule: batching and splits; subclasses provide ``spec`` and ``build_split``.

    Args:
        batch_size: signals per batch.
        num_workers: DataLoader workers (0 keeps everything in the main process, best on small CPUs;
            configs/trainer/gpu.yaml sets 4, so that a GPU's process only launches its work).
        seed: fixes splits and the training shuffle.
        root: where the data lives, for domains that read files.
        val_items: the validation set (val/nll, the best checkpoints): the val items whose split index is below
            this; null, or a number past the split's size, takes the whole val split. The items, and so val/nll,
            are the same whatever the batch size and the number of devices.
        split_layout: how the split sizes deal a pool the splits share (:func:`split_indices`): 2, where a test
            split of fixed size does not move with the train size, or 1, the layout of checkpoints that record none,
            which an evaluation or resume of such a checkpoint takes by itself. Domains with shared pools offer it.
    """

    def __init__(self, batch_size: int = 16, num_workers: int = 0, seed: int = 0, root: str | None = None,
                 val_items: int | None = None, split_layout: int = SPLIT_LAYOUT):
        super().__init__()
        if split_layout not in SPLIT_LAYOUTS:
            raise ValueError(f"--data.init_args.split_layout must be one of {SPLIT_LAYOUTS}, got {split_layout!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:  # torch's DataLoader refused it after the model's setup, naming no option
            raise ValueError(f"--data.init_args.num_workers must be >= 0 (0: read the data in the main process), "
                             f"got {num_workers}")
        if val_items is not None and val_items < 1:
            raise ValueError(f"--data.init_args.val_items must be >= 1 (null: the whole val split), got {val_items}; "
                             "--trainer.limit_val_batches=0 turns validation off")
        self.batch_size = batch_size
        self.val_items = val_items
        self.test_items: int | None = None  # the test loader's cap: the evaluations' test_items_cap (evaluated_items)
        self.num_workers = num_workers
        self.seed = seed
        self.split_layout = split_layout
        self.root = Path(root).expanduser() if root else None
        self._splits: dict[str, Dataset] = {}
        self._resume_state: dict[str, Any] | None = None
        self._train_sampler: ResumableRandomSampler | None = None
        self.predict_inputs: Dataset | None = None  # set by `pixeltransformer predict` (predict.PredictionInputs)
        self._default_roots: dict[str, tuple[str, str]] = {}  # option -> (place below data_dir(), how to get it)
        check_contract(type(self))

    def __getattr__(self, name: str) -> Any:
        """Only reached for an attribute not set: one of the base's own means a subclass's ``__init__`` did not call
        ``super().__init__(**kwargs)``, which is named rather than met as an AttributeError deep in Lightning."""
        if name in INIT_ATTRIBUTES:
            raise SkippedInit(f"{type(self).__name__}.__init__ does not call super().__init__(**kwargs): a "
                              "SignalDataModule subclass passes the options it does not take on to it (batch_size, "
                              "seed, ...)")
        attr = getattr(type(self), name, None)
        if isinstance(attr, property):  # its getter's own AttributeError (a typo inside spec) led here: raise that
            return attr.fget(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    item_noun = "signal"  # what an item of the data is, in the [data] line's counts ("image", "shape", "clip")

    # ---- what a domain provides -------------------------------------------------------------
    @property
    def spec(self) -> SignalSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_split(self, split: str) -> Dataset:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        """The class and its root, read from no data. Lightning's own builds every split's DataLoader to count their
        items, and jsonargparse asks for it while it words a failed link (the spec the model is built from): data
        that failed to load was read again for each split, four more times, each time repeating its warnings."""
        return f"{type(self).__name__}(root={self.root})" if self.root is not None else f"{type(self).__name__}()"

    def source_path(self) -> Path | None:
        """The user's own file or folder the evaluated data is read from (the root), or None where the dataset's name
        alone says what the data is: bundled or generated data, a built-in dataset (MNIST) wherever it lies. A domain
        whose datasets read a root that is not such a file or folder (or ignore one given) says so here."""
        return self.root

    # ---- shared machinery -------------------------------------------------------------------
    def default_data_root(self, relative: str, how: str = "", option: str = "root", required: bool = True) -> Path:
        """``data_dir() / relative``, a dataset's default place. Whether the data is there is asked where it is first
        read and by the command line before a run starts (:meth:`check_data_roots`), not here: a prediction from a
        user's file reads none of it."""
        if required:
            self._default_roots[option] = (relative, how)
        return default_root(relative, must_exist=False)

    def check_data_roots(self, stage: str | None = None) -> None:
        """For a default place that holds no data, the one-line FileNotFoundError that says where to put it (a domain
        adds the places it was given). ``stage`` ("fit", "validate", "test"; None: every one): only the places that
        stage reads (:meth:`read_by`)."""
        for option, (relative, how) in self._default_roots.items():
            if self.read_by(option, stage):
                default_root(relative, how=how, option=option)

    def read_by(self, option: str, stage: str | None) -> bool:
        """Whether ``stage`` (None: any) reads the data place of the root option ``option``: by default every stage
        reads every place; a domain whose evaluation reads fewer says which."""
        return True

    def empty_split_cause(self, split: str) -> str:
        """Why ``split`` came out empty, as ": <cause>; <what to change>" for the error that says so ("" when a domain
        has nothing to add)."""
        return ""

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if split not in self._splits:
            base = self.built_split(split)
            if len(base) == 0:
                raise ValueError(f"{type(self).__name__}: the {split} split is empty{self.empty_split_cause(split)}")
            self.check_item(split, base[0])  # before the wrapper adds the index: an item that is no dict is named
            if hasattr(base, "__getitems__"):  # a batch read at once skips __getitem__: its layout is checked too
                self.check_batch(split, base.__getitems__([0]))
            self._splits[split] = IndexedDataset(base)
        return self._splits[split]

    def built_split(self, split: str) -> Dataset:
        """``build_split(split)``, checked to be a dataset: a split the domain forgot (None, or a dict of splits
        without it) is named in one line, not met later as a KeyError or a missing len()."""
        name = type(self).__name__
        try:
            base = self.build_split(split)
        except KeyError as err:
            if err.args != (split,):
                raise
            raise ValueError(f"{name}.build_split({split!r}) has no {split} split (KeyError {split!r}): it must "
                             f"return a dataset for each of {', '.join(SPLITS)}") from err
        if not (hasattr(base, "__len__") and hasattr(base, "__getitem__")):
            raise ValueError(f"{name}.build_split({split!r}) returned {type(base).__name__}: it must return a "
                             f"dataset (len() and [i]) for each of {', '.join(SPLITS)}")
        return base

    def check_item(self, split: str, item: Any) -> None:
        """A split's first item against the spec, in one line naming what differs: everything downstream pairs the
        spec's grid positions with the signal's values, so a transposed or resized grid would give wrong metrics
        without an error, and a missing value axis or float64 values would fail far from the cause."""
        name, spec = type(self).__name__, checked_spec(self)
        signal = item.get("signal") if isinstance(item, dict) else None
        if not isinstance(signal, torch.Tensor):
            raise ValueError(f"{name}: the {split} split's items must be dicts with a 'signal' tensor [V, *grid], "
                             f"got {type(signal if isinstance(item, dict) else item).__name__}")
        # [V, *grid]; a dataset whose own set sampler reads its layout may carry more channels (signal_channels)
        channels = self.signal_channels()
        if tuple(signal.shape[1:]) != spec.grid_shape or signal.shape[0] != channels:
            raise ValueError(f"{name}: the {split} split yields signals of shape {list(signal.shape)}, but its spec "
                             f"says [V, *grid_shape] = {[channels, *spec.grid_shape]}")
        if signal.dtype != torch.float32:
            raise ValueError(f"{name}: the {split} split yields {signal.dtype} signals; the model reads float32")
        lo, hi = spec.val_range
        if span := spec.outside_bins(signal[: spec.val_dims], slack=1e-3):
            raise ValueError(f"{name}: the {split} split yields values in [{span[0]:.4g}, {span[1]:.4g}], "
                             f"outside its spec's val_range [{lo:.4g}, {hi:.4g}], which the value bins span")

    def check_batch(self, split: str, batch: Any) -> None:
        """What a dataset's own ``__getitems__([0])`` returned, in one line where it is not a batch the loader can
        send: a dict with a 'signal' [1, V, *grid] tensor (in the dtype the data is stored in), or a list of items
        (:meth:`check_item`). A list of bare tensors failed in the loader, a misnamed key or a missing value axis deep
        in the first step."""
        name, spec = type(self).__name__, checked_spec(self)
        if isinstance(batch, (list, tuple)) and len(batch) == 1:
            if not isinstance(batch[0], dict):
                raise ValueError(f"{name}: the {split} split's __getitems__([0]) returned a list of "
                                 f"{type(batch[0]).__name__}; it must return a list of items (dicts with a 'signal' "
                                 f"tensor [V, *grid]) or a dict of [B, ...] tensors")
            return self.check_item(split, batch[0])
        signal = batch.get("signal") if isinstance(batch, dict) else None
        want = [1, self.signal_channels(), *spec.grid_shape]
        if not isinstance(signal, torch.Tensor):
            got = f"a dict of {sorted(batch)}" if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"{name}: the {split} split's __getitems__([0]) returned {got}; it must return a dict "
                             f"with a 'signal' tensor [B, V, *grid] = {want}, or a list of items")
        if list(signal.shape) != want:
            raise ValueError(f"{name}: the {split} split's __getitems__([0]) returns signals of shape "
                             f"{list(signal.shape)}, but its spec says [B, V, *grid_shape] = {want}")

    def signal_channels(self) -> int:
        """How many channels an item's signal holds: the spec's V, or more where the domain's own set sampler reads a
        layout of its own (the GP protocol's point sets [2, N]: positions and values). The core's sampler reads V."""
        return checked_spec(self).val_dims

    @property
    def predicts_a_file(self) -> bool:
        """A predict of a user's file: it reads, builds and downloads no split (prepare_data and setup skip them)."""
        return self.predict_inputs is not None

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                  "predict": () if self.predicts_a_file else ("test",)}
        splits = wanted.get(stage or "fit", SPLITS)
        for split in splits:
            self.dataset(split)
        trainer = getattr(self, "trainer", None)
        if stage == "test":  # before the [data] line, which says it (the callbacks' setup runs after this one)
            self.test_items = evaluated_items(trainer)
        # a fast_dev_run or overfit_batches sets Lightning's limit_train_batches itself (stand-in trainers: neither)
        if "train" in splits and trainer is not None and not getattr(trainer, "fast_dev_run", False) \
                and not getattr(trainer, "overfit_batches", 0):
            self.check_train_fraction(getattr(trainer, "limit_train_batches", 1.0), getattr(trainer, "world_size", 1))
        if splits and getattr(trainer, "global_rank", 0) == 0:  # once a launch, from its first process
            print(self.splits_line(splits), flush=True)

    def check_train_fraction(self, limit: int | float, world: int = 1) -> None:
        """Refuse a trainer.limit_train_batches fraction that takes no batch of the train split (0.1 of one batch),
        when the split is built, before the model summary and the run's config.yaml: Lightning refused it after the
        summary, with an error that named neither the split's size nor a count to give instead."""
        rows, batches = self.train_batches(world)
        if not isinstance(limit, float) or rows == 0 or limit == 0 or int(batches * limit) > 0:
            return
        n = len(self.dataset("train"))
        held = (f"{rows} of the {counted(n, self.item_noun)} on each of {world} processes, " if world > 1
                else f"{counted(n, self.item_noun)} in ")
        raise ValueError(f"trainer.limit_train_batches={limit:g} takes no batch of the train split, {held}"
                         f"{counted(batches, 'batch')} of batch_size {self.batch_size} an epoch: give a count of "
                         f"batches (--trainer.limit_train_batches=1), a fraction of at least "
                         f"{least_fraction(batches)}, or more {self.item_noun}s")

    def train_batches(self, world: int = 1) -> tuple[int, int]:
        """A process's train items an epoch (its ResumableRandomSampler's share, among ``world`` processes) and the
        batches _loader makes of them: batch_size each, the remainder dropped; a share short of one batch is one."""
        rows = len(ResumableRandomSampler(len(self.dataset("train")), self.seed, world))
        return rows, (rows // self.batch_size if rows >= self.batch_size else min(rows, 1))

    def split_items(self, split: str) -> str:
        """How many items a built split holds, in words ("3 images"; ``item_noun``); a domain whose split is not
        its files alone (a mixture's draws) says what it holds."""
        return counted(len(self.dataset(split)), self.item_noun)

    def splits_line(self, splits: Sequence[str]) -> str:
        """The line that says what a command reads: each split's item count, the one batch of a train split smaller
        than batch_size, and the val items validation scores. Nothing said how many of a user's few files went to
        each split, nor that batch_size 8 on 3 training images trains on one batch of 3 an epoch."""
        parts = []
        world = getattr(getattr(self, "trainer", None), "world_size", 1)
        for split in splits:
            n, text = len(self.dataset(split)), f"{split} {self.split_items(split)}"
            if split == "train" and 0 < (share := self.train_batches(world)[0]) < self.batch_size:  # one batch
                each = f" on each of {world} processes" if world > 1 else ""
                text += (f" (one batch of {share} an epoch{each}: batch_size {self.batch_size} is more than "
                         f"{'its share' if world > 1 else 'it'} holds)")
            if split == "val" and self.val_items is not None and self.val_items < n:
                text += f" (validation scores the first {self.val_items}: val_items)"
            if split == "test" and self.test_items is not None and self.test_items < n:
                text += f" (the test reads the first {self.test_items}: the evaluation's max_items)"
            parts.append(text)
        return f"[data] {'; '.join(parts)}"

    def validation_set(self) -> Dataset:
        """The items validation scores: the val split's first ``val_items`` (by split index), or all of it. Their
        items keep their split index, which seeds each one's sets (module.validation_step)."""
        ds = self.dataset("val")
        if self.val_items is None or self.val_items >= len(ds):
            return ds
        return Subset(ds, range(self.val_items))

    def _loader(self, ds: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        """A dataset's loader (batch_size: this DataModule's unless given). Under a running Trainer its batches keep
        the dtype the dataset sends (on_after_batch_transfer makes the float32 signal on the device), in page-locked
        memory when the trainer runs on a GPU, so that their copy runs while the GPU works (Lightning copies with
        non_blocking=True). Without a running Trainer (a notebook, a script, also after a fit: Lightning leaves its
        finished Trainer attached) the loader's batches are float32 already."""
        sampler = None
        trainer = getattr(self, "trainer", None)
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        fitting = trainer is not None and trainer.state.fn == TrainerFn.FITTING
        strategy = getattr(trainer, "strategy", None)
        on_gpu = getattr(getattr(strategy, "root_device", None), "type", None) == "cuda"
        running = trainer is not None and trainer.state.status == TrainerStatus.RUNNING  # its hook makes the floats
        batch_size = batch_size or self.batch_size
        if shuffle:
            sampler = self._train_sampler = ResumableRandomSampler(len(ds), self.seed, world, rank)
            if self._resume_state is not None:
                sampler.epoch = self._resume_state["epoch"]
                sampler.start = self._resume_state["samples_done"]
                self._resume_state = None
        rows = len(sampler) if sampler is not None else len(ds)  # a process's items an epoch
        if rows == 0:  # an epoch of no batch: Lightning trained nothing, or waited for a step that never came
            raise ValueError(f"{type(self).__name__}: the train split's {counted(len(ds), self.item_noun)} cannot "
                             f"feed {world} processes, which take one each at least: add {self.item_noun}s, or run on "
                             "fewer devices (--trainer.devices)")
        start = functools.partial(start_worker, rank=rank, fitting=fitting) if self.num_workers > 0 else None
        return DataLoader(
            ds,
            batch_size=min(batch_size, rows),
            sampler=sampler,
            drop_last=shuffle and rows >= batch_size,  # a process's items short of one batch train as one
            num_workers=self.num_workers,
            collate_fn=collate if running else functools.partial(collate, to_float=self.to_float),
            pin_memory=on_gpu,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=start,
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A batch on its device (every loop: fit, validate, test, predict): its signal as the float32 the model
        reads. Datasets send what they store (uint8 pixels and frames, float16 SDF grids: a quarter or half of
        float32's bytes through the loader, the page-locking and the copy), and the conversion runs on the device."""
        return float_batch(batch, self.to_float)

    def to_float(self, signal: torch.Tensor) -> torch.Tensor:
        """A batch's signal as sent [B, V, *grid] -> float32 [B, V, *grid], the values of the dataset's float items
        (:func:`float_signal`; a domain whose items are more than a cast of what it stores adds that)."""
        return float_signal(signal)

    def split_options(self) -> dict[str, Any]:
        """The options that choose which items each split holds: the seed, the split layout, and the split sizes a
        domain adds. A checkpoint records them (state_dict), and an evaluation on other ones says so (cli), since the
        test split it then draws from a shared pool may hold the checkpoint's training items."""
        return {"seed": self.seed, "split_layout": self.split_layout}

    def pool_sizes(self) -> dict[str, int] | None:
        """How many items each pool the splits are drawn from holds ({"all": n} for one pool), for data read from
        files, which can change: a checkpoint records them, and an evaluation or resume on pools of other sizes says
        so (``pool_change``). None where the items cannot change or are not known (the default)."""
        return None

    def pool_files(self) -> list[str] | None:
        """The files the pools' items are read from, by their paths under the data root (a folder's): a checkpoint
        records a digest of each pool's (:func:`pool_digests`), so that files renamed, or added and removed in equal
        numbers, since are told from the data it was trained on (``pool_change``). None where not known (the
        default)."""
        return None

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """The splits drawn from the train split's pool, of ("val", "test"): other split options can move the
        checkpoint's training items into them, and its validation and test items into training (as split_mismatch
        then says). One pool: both; a train file or folder with a test one of its own: ("val",), drawn from the
        train part; its own pool for each split, or each split its own seeded stream: ()."""
        return ("val", "test")

    @property
    def data_drawn_by(self) -> tuple[str, ...]:
        """The split options that draw the items themselves, not only which split holds each (synthetic clips: their
        seed and count): a checkpoint trained with another value of one has seen none of these items, in any split
        (as split_mismatch then says). Data read from files, or drawn split by split: ()."""
        return ()

    @property
    def pool_shaped_by(self) -> tuple[str, ...]:
        """The split options that choose what the pools hold from the same files (how a video is cut into clips, how
        many shapes are read): another value of one gives pools of other sizes with no file changed, so a mismatch
        names the option, not changed data. Data whose pools no option cuts: ()."""
        return ()

    def conversion_options(self, trained: dict[str, Any], resume: bool = False) -> dict[str, Any]:
        """The entries of this module's ``spec.extra`` that record how its items were made from what they are read or
        drawn from (an SDF's truncation and margin, a video's frame_step), each named as the data option that sets
        it, with the value a spec that lacks it meant (an option recorded later: the one every run had before; None:
        not compared where it is missing; a :class:`MadeOtherwise`: none of its values makes that data again). A checkpoint trained on ``trained`` (its spec, as a dict) with other values
        is evaluated or resumed on data it was not trained on, which the run then says (``conversion_mismatch``).
        Options that describe the files rather than the items (which axis is up) belong here only where ``trained``
        is the same data. ``resume``: the data a resume reads (every split), else an evaluation's (its split alone,
        which may come from fewer sources). By default: none."""
        return {}

    def spec_mismatch(self, trained: dict[str, Any], resume: bool = False) -> str | None:
        """One line where this module's data differs from that of a checkpoint trained on ``trained`` (its spec, as a
        dict) in what no data option sets, so that the model reads it otherwise than it learned (a curve file's x
        step: curves of another file read stretched onto the checkpoint's grid), naming both; ``resume`` as for
        :meth:`conversion_options`. By default: None."""
        return None

    @classmethod
    def trained_options(cls, trained: dict[str, Any]) -> dict[str, Any]:
        """Data options whose null derives a value (an SDF's margin), each with the value the data of a checkpoint
        trained on ``trained`` (its spec, as a dict) was made with where the spec does not record it (written before
        it was): an evaluation or resume that leaves one null makes its data with that value, as the checkpoint's
        own was made, and says so (the CLI, before the DataModule is built). By default: none."""
        return {}

    def same_splits(self, options: dict[str, Any], splits: Sequence[str] = SPLITS) -> bool:
        """Whether the split options a checkpoint recorded that differ from this module's (``options``, a part of
        :meth:`split_options`: split sizes written otherwise, None for the defaults or -1 for the rest, another seed
        for a split that takes a whole folder) hold the same items as this module's own in each of ``splits``: a
        domain that can tell says so; by default they differ."""
        return False

    # ---- resume: the position in the data travels in the checkpoint ---------------------------------
    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(self, "_train_sampler", None) is None:
            return {}
        splits = {"split_options": self.split_options()}
        if (pools := read_or(None, self.pool_sizes)) is not None:
            splits["pool_sizes"] = pools
        if (files := read_or(None, self.pool_files)) is not None:
            splits["pool_files"] = pool_digests(files)
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # the epoch's last batch is done: the next epoch comes from the start
            # (its rest, empty, would make Lightning count an epoch of no batches: --trainer.max_epochs then trained
            # one epoch less, and the epoch W&B charts stayed one ahead of an uninterrupted run's)
            return {"epoch": self._train_sampler.epoch, "samples_done": 0, **splits}
        # under DDP the sampler's order is global and each rank takes every world_size-th sample of it
        return {"epoch": self._train_sampler.epoch - 1, "samples_done": done * self.batch_size * trainer.world_size,
                **splits}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        recorded = ("split_options", "pool_sizes", "pool_files")  # what chose the splits, not a position in them
        self._resume_state = {k: v for k, v in state.items() if k not in recorded} if state else None

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        # under DDP Lightning shards it with a DistributedSampler, whose padding repeats a few items: the module's
        # val/nll averages over distinct items (module.val_nll_means)
        return self._loader(self.validation_set(), shuffle=False)

    def test_batch(self) -> tuple[int, str]:
        """The test loader's batch size and the data option that sets it: ``batch_size`` here; a domain whose test
        loader has a batch size of its own (an evaluation that decodes every grid point) overrides both."""
        return self.batch_size, "batch_size"

    def test_set(self) -> Dataset:
        """The items a test reads: the test split's first ``test_items`` (the evaluation's max_items), or all of it.
        The whole split was read, each batch's test/val_nll computed on every item, while the evaluation scored only
        max_items of them: minutes of forward passes that no metric used."""
        ds = self.dataset("test")
        if self.test_items is None or self.test_items >= len(ds):
            return ds
        return Subset(ds, range(self.test_items))  # its items keep their split index (the evaluation's keys)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set(), shuffle=False, batch_size=self.test_batch()[0])

    def predict_dataloader(self) -> DataLoader:
        if self.predict_inputs is not None:  # one input per batch: each has its own |S|
            return DataLoader(self.predict_inputs, batch_size=1, shuffle=False)
        return self._loader(self.dataset("test"), shuffle=False)

    def fixed_examples(self, split: str = "val", n: int = 4) -> dict[str, torch.Tensor]:
        """The first n items of a split, batched: the same pictures every epoch."""
        ds = self.dataset(split)
        items = [ds[i] for i in range(min(n, len(ds)))]
        return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}
