"""splits.py's deterministic splits: group_split, and official_split_indices over a dataset's own train/(val/)test
pools, item by item or a group (a video's clips) at a time."""

from __future__ import annotations

import pytest
import torch

from pixeltransformer.splits import group_split, official_split_indices, split_indices


def _dealt(n: int, sizes: tuple[int, int, int], seed: int, layout: int) -> list[list[int]]:
    """The items of (train, val, test) [size each] as the layouts are documented, from one seeded permutation of
    range(n): layout 1 deals train, val, test from its start; layout 2 deals test, val, train of fixed size from its
    end, and the split marked -1 takes what is left at its start."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    counts = [n - sum(s for s in sizes if s != -1) if s == -1 else s for s in sizes]
    if layout == 1:
        return [perm[sum(counts[:i]):sum(counts[:i + 1])] for i in range(3)]
    fixed = [i for i in (2, 1, 0) if sizes[i] != -1]  # from the end: test, val, train
    order = [i for i in range(3) if sizes[i] == -1] + fixed[::-1]  # the splits from the start of the permutation
    out, start = [[], [], []], n - sum(counts)  # a pool the sizes do not fill leaves its first items out
    for i in order:
        out[i], start = perm[start:start + counts[i]], start + counts[i]
    return out


def _item_splits(counts: dict[str, int], splits: tuple[int, int, int] | None, seed: int,
                 layout: int) -> dict[str, tuple]:
    """Item-by-item official splits, computed here from seeded permutations: every pool a size takes a subset of
    (-1: all of it; the first items of its permutation in both layouts), and without a val pool train and val from
    one permutation of the train pool (val a tenth of it, at most 1000, by default), dealt in the layout."""
    n_train = counts["train"]
    tr, va, te = splits or (-1, -1 if "val" in counts else min(1000, max(1, n_train // 10)), -1)

    def own(pool: str, size: int) -> tuple[str, list[int]]:
        idx = range(counts[pool]) if size == -1 else _dealt(counts[pool], (size, 0, -1), seed, 1)[0]
        return pool, sorted(idx)

    if "val" in counts:
        return {"train": own("train", tr), "val": own("val", va), "test": own("test", te)}
    train, val, _ = _dealt(n_train, (tr, va, 0) if -1 in (tr, va) else (tr, va, -1), seed, layout)
    return {"train": ("train", sorted(train)), "val": ("train", sorted(val)), "test": own("test", te)}


CASES = [({"train": 40, "test": 15}, (20, 6, 7), 3), ({"train": 40, "val": 9, "test": 15}, (-1, 4, -1), 1),
         ({"train": 40, "test": 15}, None, 0), ({"train": 30, "test": 10}, (-1, 5, 10), 5),
         ({"train": 30, "test": 10}, (12, -1, 4), 2), ({"train": 30, "val": 8, "test": 10}, (7, -1, 3), 4)]


@pytest.mark.parametrize("layout", [1, 2])
@pytest.mark.parametrize("counts, splits, seed", CASES)
def test_official_splits_without_groups_take_seeded_items(counts, splits, seed, layout):
    """Pictures and meshes (no groups): the items each layout documents; one item a group is the same."""
    got = official_split_indices(counts, splits, seed, "root", layout=layout)
    want = _item_splits(counts, splits, seed, layout)
    assert {s: (pool, idx.tolist()) for s, (pool, idx) in got.items()} == want
    one_each = {pool: torch.arange(n) for pool, n in counts.items()}  # [n] a group an item
    singles = official_split_indices(counts, splits, seed, "root", groups=one_each, layout=layout)
    assert {s: (pool, idx.tolist()) for s, (pool, idx) in singles.items()} == want


def test_a_fixed_test_split_does_not_move_with_the_train_size():
    """A data-size study trains on (n, 100, 200) for several n: each model is scored on the same 200 test items and
    validated on the same 100, and a smaller train split lies inside a larger one. Layout 1 moved the test split
    with the train size (digits with 300 training items shared none of their 200 test items with 1497)."""
    draws = {tr: split_indices(1797, (tr, 100, 200), seed=0) for tr in (300, 1000, 1497, -1)}
    for tr, (train, val, test) in draws.items():
        assert torch.equal(test, draws[-1][2]) and torch.equal(val, draws[-1][1]), tr
        assert set(train.tolist()).isdisjoint(test.tolist() + val.tolist())
    assert set(draws[300][0].tolist()) < set(draws[1000][0].tolist()) < set(draws[1497][0].tolist())
    old = {tr: split_indices(1797, (tr, 100, 200), seed=0, layout=1)[2] for tr in (300, 1497)}
    assert set(old[300].tolist()).isdisjoint(old[1497].tolist())
    # sizes whose train is the rest, or that fill the pool, hold the same items in both layouts
    for sizes in [(-1, 100, 200), (1497, 100, 200), (-1, 0, 5), (0, -1, 3)]:
        new, was = split_indices(1797, sizes, seed=4), split_indices(1797, sizes, seed=4, layout=1)
        assert all(torch.equal(a, b) for a, b in zip(new, was)), sizes
    with pytest.raises(ValueError, match=r"^split layout 3 is not one of \(1, 2\)$"):
        split_indices(10, (-1, 1, 1), seed=0, layout=3)


@pytest.mark.parametrize("counts, splits", [
    ({"train": 889, "test": 100}, (-1, 2, 8)),  # configs/sdf/shapenet.yaml on ModelNet's chair/train/, chair/test/
    ({"train": 60000, "test": 10000}, (-1, 1000, 500)),  # MNIST's two files, a smaller test split
    ({"train": 80, "val": 20, "test": 20}, (-1, 8, 8))])  # configs/video/folder.yaml on train/, val/, test/ folders
@pytest.mark.parametrize("grouped", [False, True])
def test_official_sizes_whose_train_is_the_rest_keep_their_items_in_both_layouts(counts, splits, grouped):
    """A test (or val) split of fixed size drawn from a pool of its own held other items in layout 2 than in layout
    1, so a model trained now was scored on other test chairs than a checkpoint of before (evaluated in layout 1)
    with the same config. Such a subset depends on the seed and its size alone in either layout: it is the same."""
    groups = {pool: torch.arange(n) for pool, n in counts.items()} if grouped else None  # one clip a video
    new, was = (official_split_indices(counts, splits, 3, "root", groups=groups, layout=layout) for layout in (2, 1))
    for split in ("train", "val", "test"):
        assert new[split][0] == was[split][0] and torch.equal(new[split][1], was[split][1]), split


def _pool(sizes: list[int], first: int = 0) -> torch.Tensor:
    """Group ids of a pool [sum(sizes)]: group first + k has sizes[k] items, groups interleaved as a folder lists
    them (a group's items need not be next to each other)."""
    ids = torch.cat([torch.full((s,), first + k) for k, s in enumerate(sizes)])  # [n]
    return ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(99))]


GROUPS = {"train": _pool([3, 1, 4, 2, 5, 3, 2, 4, 1, 3, 2, 5]), "val": _pool([2, 3, 1, 4], 100),
          "test": _pool([4, 2, 3, 1, 2], 200)}  # train 35 items in 12 groups, val 10 in 4, test 12 in 5


def _check_whole_groups(index: dict[str, tuple[str, torch.Tensor]], groups: dict[str, torch.Tensor],
                        sizes: tuple[int, int, int]) -> None:
    """Every split takes whole groups of its pool, no group is in two splits, -1 takes the whole of a pool of its own,
    and a size is met as closely as whole groups allow (no group left out would still have fitted)."""
    splits = ("train", "val", "test")
    mine = {s: set(groups[index[s][0]][index[s][1]].tolist()) for s in splits}  # the groups of each split
    for split, size in zip(splits, sizes):
        pool, idx = index[split]
        ids = groups[pool]  # [n]
        assert idx.tolist() == sorted(set(idx.tolist()))  # sorted, no item twice
        assert idx.tolist() == [i for i in range(len(ids)) if ids[i].item() in mine[split]]  # whole groups
        sharing = [s for s in splits if index[s][0] == pool]
        assert all(not mine[split] & mine[s] for s in sharing if s != split)  # no group in two splits
        if size == -1 and sharing == [split]:
            assert len(idx) == len(ids)
        elif size != -1:
            left = [int((ids == g).sum()) for g in set(ids.tolist()).difference(*(mine[s] for s in sharing))]
            assert len(idx) <= size and (not left or size - len(idx) < min(left))


@pytest.mark.parametrize("sizes", [(-1, 3, 7), (20, 4, -1), (-1, -1, 5), (11, 6, 9)])
@pytest.mark.parametrize("with_val", [True, False])
def test_official_splits_with_groups_keep_each_group_in_one_split(sizes, with_val):
    groups = {p: g for p, g in GROUPS.items() if with_val or p != "val"}
    counts = {p: len(g) for p, g in groups.items()}
    if not with_val and sizes[:2] == (-1, -1):
        with pytest.raises(ValueError, match="at most one split size may be -1"):
            official_split_indices(counts, sizes, 0, "root", groups=groups)
        return
    index = official_split_indices(counts, sizes, 0, "root", groups=groups)
    assert [index[s][0] for s in ("train", "val", "test")] == ["train", "val" if with_val else "train", "test"]
    _check_whole_groups(index, groups, sizes)
    if not with_val and -1 in sizes[:2]:  # train and val share the train pool: the -1 one takes the rest
        assert len(index["train"][1]) + len(index["val"][1]) == counts["train"]
    again = official_split_indices(counts, sizes, 0, "root", groups=groups)
    assert all(torch.equal(again[s][1], index[s][1]) for s in index)  # seeded: the same every time
    draws = {tuple(official_split_indices(counts, sizes, seed, "root", groups=groups)["test"][1].tolist())
             for seed in range(8)}
    assert sizes[2] == -1 or len(draws) > 1  # and another seed draws other groups


def test_split_sizes_that_do_not_fit_a_pool_name_it_in_one_line():
    counts = {p: len(g) for p, g in GROUPS.items()}
    for groups in (GROUPS, None):
        with pytest.raises(ValueError, match=r"^a test split of 13 does not fit the 12 items of data/x's test part "
                                             r"\(-1 takes all of it\)$"):
            official_split_indices(counts, (-1, 2, 13), 0, "data/x", groups=groups)
        with pytest.raises(ValueError, match=r"^a val split of 11 does not fit the 10 items of data/x's val part "
                                             r"\(-1 takes all of it\)$"):
            official_split_indices(counts, (-1, 11, 2), 0, "data/x", groups=groups)
        no_val = {"train": 35, "test": 12}
        with pytest.raises(ValueError, match=r"^train and val splits of 30 and 6 do not fit the 35 items of data/x's "
                                             r"train part \(without a val part, validation is drawn from it\)$"):
            official_split_indices(no_val, (30, 6, 2), 0, "data/x", groups=groups)
        with pytest.raises(ValueError, match=r"^train and val splits of -1 and 36 do not fit the 35 items"):
            official_split_indices(no_val, (-1, 36, 2), 0, "data/x", groups=groups)


def test_group_split_keeps_groups_whole():
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5])
    parts = group_split(groups, (-1, 2, 3), seed=0)
    assert sorted(torch.cat(parts).tolist()) == list(range(12))
    owners = [set(groups[p].tolist()) for p in parts]
    assert all(owners[i].isdisjoint(owners[j]) for i in range(3) for j in range(i + 1, 3))
    assert 0 < len(parts[1]) <= 2 and 0 < len(parts[2]) <= 3
    with pytest.raises(ValueError, match=r"^split sizes \(-1, -5, 3\) must be counts, or -1 for the rest$"):
        group_split(groups, (-1, -5, 3), seed=0)  # a size below -1 gave an empty split without a word


def test_official_splits_take_pools_without_groups_item_by_item():
    """Groups given for some pools only: the others split item by item (a KeyError named the pool before); groups
    that do not cover a pool's items are refused in one line rather than leaving items out of every split."""
    counts = {"train": 35, "test": 12}
    some = official_split_indices(counts, (-1, 6, 5), 2, "data/x", groups={"train": GROUPS["train"]})
    none = official_split_indices(counts, (-1, 6, 5), 2, "data/x")
    assert torch.equal(some["test"][1], none["test"][1])  # the test pool, which has no groups: items
    _check_whole_groups(some, {"train": GROUPS["train"], "test": torch.arange(12)}, (-1, 6, 5))
    with pytest.raises(ValueError, match=r"^groups for data/x's train part name 34 items, but it has 35$"):
        official_split_indices(counts, (-1, 6, 5), 2, "data/x", groups={"train": GROUPS["train"][:34]})


@pytest.mark.parametrize("groups", [GROUPS, None])
def test_split_sizes_below_minus_one_are_refused_as_given(groups):
    """A size below -1 is refused naming the sizes given, whether or not there are groups and whether or not the
    groups are single items (the message named sizes computed on the way, `(-5, 0, 17) do not fit 12 items`)."""
    counts = {p: len(g) for p, g in GROUPS.items()}
    for sizes in [(-1, -5, 2), (-1, 2, -3), (-2, 2, 2)]:
        with pytest.raises(ValueError, match=rf"^split sizes \({', '.join(map(str, sizes))}\) must be counts, or -1 "
                                             r"for the rest$"):
            official_split_indices(counts, sizes, 0, "data/x", groups=groups)
    with pytest.raises(ValueError, match=r"^split sizes \(-1, -5, 3\) must be counts, or -1 for the rest$"):
        group_split(torch.arange(12), (-1, -5, 3), seed=0)  # one item a group: split_indices' rule


def test_split_sizes_that_do_not_fit_are_named_as_given():
    """-1 takes the rest; where the other sizes take more than there is, the message names the sizes given and what
    the others take (it named the rest computed on the way: `split sizes (-2, 3, 4) do not fit 5 items`)."""
    with pytest.raises(ValueError, match=r"^split sizes \(-1, 3, 4\) do not fit 5 items: the sizes besides -1 take 7$"):
        split_indices(5, (-1, 3, 4), seed=0)
    with pytest.raises(ValueError, match=r"^split sizes \(3, 3, 4\) do not fit 5 items$"):
        split_indices(5, (3, 3, 4), seed=0)
    with pytest.raises(ValueError, match=r"^split sizes \(-1, 1, 1\) do not fit 1 item: the sizes besides -1 take 2$"):
        group_split(torch.arange(1), (-1, 1, 1), seed=0)
    assert [len(p) for p in split_indices(7, (-1, 3, 4), seed=0)] == [0, 3, 4]  # the rest may be empty


def test_a_train_part_that_validation_takes_whole_is_refused_naming_it():
    """Without a val part, validation comes from the train part; when its groups (or items) leave nothing to train
    on, the split names that part (a train/ folder of one video gave `the train split is empty` much later)."""
    counts = {"train": 6, "test": 3}
    one_video = {"train": torch.zeros(6, dtype=torch.long), "test": torch.tensor([0, 0, 1])}
    for splits in [(-1, 2, -1), None]:
        with pytest.raises(ValueError, match=r"^data/x's train part \(6 items in 1 group\) leaves no train split once "
                                             r"a val split is drawn from it: add a val part, or make the val split 0$"):
            official_split_indices(counts, splits, 0, "data/x", groups=one_video)
    with pytest.raises(ValueError, match=r"^data/x's train part \(1 item\) leaves no train split once a val split is "
                                         r"drawn from it"):
        official_split_indices({"train": 1, "test": 3}, None, 0, "data/x")
    no_val = official_split_indices(counts, (-1, 0, -1), 0, "data/x", groups=one_video)  # asked for: no val split
    assert len(no_val["train"][1]) == 6 and len(no_val["val"][1]) == 0


def test_the_test_loaders_cap_is_any_callbacks_test_items_cap():
    """capped_test_items reads test_items_cap from any callback (the sweep's max_items, another capping callback's):
    the largest where several cap, None where one does not or none is there; with the option that sets it, as the
    [data] line names it: the callback's test_items_option (the sweep's max_items), else the attribute itself (a
    callback without one was said to be capped by max_items, which it does not have)."""
    from types import SimpleNamespace

    from pixeltransformer.datamodule import capped_test_items
    from pixeltransformer.evaluation import SweepEvaluation

    def trainer(*callbacks):
        return SimpleNamespace(callbacks=list(callbacks))

    class Capping:  # a callback of no evaluation class that scores the first items only
        def __init__(self, cap):
            self.test_items_cap = cap

    assert capped_test_items(trainer(Capping(7))) == (7, "test_items_cap")
    assert capped_test_items(trainer(SweepEvaluation(max_items=3), Capping(9))) == (9, "test_items_cap")
    assert capped_test_items(trainer(SweepEvaluation(max_items=3), SweepEvaluation(max_items=5))) == (5, "max_items")
    assert capped_test_items(trainer(SweepEvaluation(max_items=3), Capping(None)))[0] is None
    assert capped_test_items(trainer(SweepEvaluation(max_items=3), object())) == (3, "max_items")
    assert capped_test_items(trainer(object()))[0] is None
    assert capped_test_items(trainer())[0] is None
    assert capped_test_items(None) == (None, "")
