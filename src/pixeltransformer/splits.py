"""How a dataset's items are dealt to the train, val and test splits: split sizes checked and dealt from a seeded
permutation of one pool (:func:`split_indices`, in either split layout), whole groups such as a video's clips kept in
one split (:func:`group_split`), a dataset's own train/(val/)test folders or files (:func:`split_folders`,
:func:`official_split_indices`), the default held-out sizes, and the pools the splits are drawn from
(:func:`file_pools`, :func:`pool_digests`, :func:`splits_with_train_of`). Functions of counts, seeds and paths alone:
the SignalDataModule and the domains' datasets call them, and the same options always give the same items.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .cache import cache_key
from .errors import counted, warn_rank_zero

SPLITS = ("train", "val", "test")
# folder names a dataset may give its splits that are not read as split folders (split_folders names them)
SPLIT_LOOKALIKES = ("training", "validation", "valid", "testing")
# how split sizes deal a seeded permutation of a shared pool (split_indices). 2: fixed sizes from its end, test first,
# so a test split of fixed size does not move with the train size. 1: train, val and test from its start, the layout
# of checkpoints that record none (PixelTransformerCLI draws their splits with it)
SPLIT_LAYOUT = 2
SPLIT_LAYOUTS = (1, 2)


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


def splits_with_train_of(pools: Sequence[str]) -> tuple[str, ...]:
    """SignalDataModule.splits_with_train for data of these pools: one pool ("all") gives every split from it; a
    train part with a test part of its own gives validation from the train part, unless a val part of its own."""
    if "all" in pools:
        return ("val", "test")
    return () if "val" in pools else ("val",)
