"""pixeltransformer.errors: a warning about what every DDP rank reads alike comes from rank zero (warn_rank_zero);
a count's noun in the number of the count (counted, in_number)."""

import warnings

import pytest
from lightning_utilities.core.rank_zero import rank_zero_only

from pixeltransformer.errors import counted, in_number, warn_rank_zero


@pytest.mark.parametrize("rank, warned", [(0, ["the data warns"]), (1, [])])
def test_warn_rank_zero_warns_from_rank_zero_alone(monkeypatch, rank, warned):
    """Every rank reads the data and met the same thing to warn of: rank zero warns, the other ranks do not."""
    monkeypatch.setattr(rank_zero_only, "rank", rank, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_rank_zero("the data warns")
    assert [str(w.message) for w in caught] == warned
    assert all(w.filename == __file__ for w in caught)  # stacklevel: the caller's line, not errors.py's


def test_a_count_s_noun_takes_one_plural_rule_everywhere():
    """counted() put an s on any noun ("2 batchs") while the loops' progress lines had a rule of their own
    ("3 meshes") and the evaluation's line spelled "batches" by hand: one rule now, or the plural given."""
    assert [counted(n, "batch") for n in (0, 1, 2)] == ["0 batches", "1 batch", "2 batches"]
    assert [counted(2, noun) for noun in ("mesh", "class", "box", "frame")] == ["2 meshes", "2 classes", "2 boxes",
                                                                                 "2 frames"]
    assert counted(3, "person", "people") == "3 people" and in_number(1, "person", "people") == "person"
