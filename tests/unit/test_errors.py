"""pixeltransformer.errors.warn_rank_zero: a warning about what every DDP rank reads alike comes from rank zero."""

import warnings

import pytest
from lightning_utilities.core.rank_zero import rank_zero_only

from pixeltransformer.errors import warn_rank_zero


@pytest.mark.parametrize("rank, warned", [(0, ["the data warns"]), (1, [])])
def test_warn_rank_zero_warns_from_rank_zero_alone(monkeypatch, rank, warned):
    """Every rank reads the data and met the same thing to warn of: rank zero warns, the other ranks do not."""
    monkeypatch.setattr(rank_zero_only, "rank", rank, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_rank_zero("the data warns")
    assert [str(w.message) for w in caught] == warned
    assert all(w.filename == __file__ for w in caught)  # stacklevel: the caller's line, not errors.py's
