"""The core set helpers' input checks: a tensor of the wrong rank or shape is refused in one line naming the helper,
the argument, the layout it takes and the shape it got, not deep in torch (grid_sample, cdist, reshape)."""

import re

import numpy as np
import pytest
import torch

from domains.polynomial.protocol import ProtocolSetSampler
from pixeltransformer.sets import (SetSampler, flatten_grid, grid_positions, nearest_neighbour_fill, read_signal,
                                   unflatten_grid)


def _raises(kind, message):
    return pytest.raises(kind, match=f"^{re.escape(message)}$")


def test_read_signal_names_a_signal_or_positions_of_another_shape():
    signal, pos = torch.rand(2, 3, 5, 7), torch.rand(2, 10, 2) * 2 - 1  # [B, V, H, W], [B, N, P]
    with _raises(ValueError, "read_signal: signal must be a batch [B, V, *grid] of 1 to 3 grid axes, channels first, "
                             "got [5, 7] (one signal without its batch axis? [V, *grid]: signal[None]; a grey picture "
                             "[H, W]: signal[None, None])"):
        read_signal(signal[0, 0], pos)
    with pytest.raises(TypeError, match=r"^read_signal: signal must be a torch.Tensor, got numpy.ndarray"):
        read_signal(signal.numpy(), pos)
    with _raises(ValueError, "read_signal: pos must be [B, N, P] with B = 2 and P = 2 (signal [2, 3, 5, 7]), got "
                             "[10, 2]"):
        read_signal(signal, pos[0])
    # a batch of one position set beside 2 signals was read as half the points of each, silently
    with _raises(ValueError, "read_signal: pos must be [B, N, P] with B = 2 and P = 2 (signal [2, 3, 5, 7]), got "
                             "[1, 10, 2]"):
        read_signal(signal, pos[:1])
    with _raises(ValueError, "read_signal: pos must be [B, N, P] with B = 2 and P = 2 (signal [2, 3, 5, 7]), got "
                             "[2, 10, 3]"):
        read_signal(signal, torch.rand(2, 10, 3))
    # grid_sample's "expected scalar type Float but found Double": read in the wider dtype, the positions' digits kept
    read = read_signal(signal, pos.double())  # [2, 10, 3]
    assert read.dtype == torch.float64 and torch.allclose(read.float(), read_signal(signal, pos), atol=1e-6)
    with pytest.raises(TypeError, match=r"^read_signal: pos must be a torch.Tensor, got numpy.ndarray"):
        read_signal(signal, pos.numpy())


def test_read_signal_still_reads_every_layout_its_callers_give():
    for grid in [(9,), (5, 7), (3, 4, 5)]:
        signal = torch.rand(2, 3, *grid)  # [B, V, *grid]
        pos = grid_positions(grid).expand(2, -1, -1)  # [B, N, P]
        assert torch.allclose(read_signal(signal, pos), flatten_grid(signal), atol=1e-6)  # [B, N, V]
    assert read_signal(torch.rand(1, 1, 4, 4).double(), torch.zeros(1, 0, 2).double()).shape == (1, 0, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a decoder's bf16 output read at float32 positions
        read = read_signal(torch.rand(1, 3, 4, 4).bfloat16(), grid_positions((4, 4))[None])  # [1, 16, 3]
    assert read.dtype == torch.float32 and read.shape == (1, 16, 3)


def test_flatten_grid_names_a_signal_without_its_batch_or_value_axis():
    with _raises(ValueError, "flatten_grid: signal must be a batch [B, V, *grid] of 1 to 3 grid axes, channels "
                             "first, got [8, 8] (one signal without its batch axis? [V, *grid]: signal[None]; a grey "
                             "picture [H, W]: signal[None, None])"):
        flatten_grid(torch.rand(8, 8))
    with pytest.raises(ValueError, match=r"^flatten_grid: signal must be a batch \[B, V, \*grid\] of 1 to 3 grid "
                                         r"axes, channels first, got \[2, 2, 3, 4, 4, 4\]$"):
        flatten_grid(torch.rand(2, 2, 3, 4, 4, 4))  # a batch of samples [B, S, V, *grid]: flatten(0, 1) first
    levels = torch.arange(2 * 3 * 4).view(2, 3, 4)  # [B, V, W] of integers: no interpolation, any dtype
    assert flatten_grid(levels).tolist() == levels.transpose(1, 2).tolist()  # [B, N, V]


def test_unflatten_grid_names_values_of_another_number_of_points():
    values = torch.rand(2, 12, 3)  # [B, N, V]
    with _raises(ValueError, "unflatten_grid: values must be [..., N, V] with N = 20, the points of grid_shape "
                             "(4, 5), got [2, 12, 3]"):
        unflatten_grid(values, (4, 5))
    with _raises(ValueError, "unflatten_grid: values must be [..., N, V] with N = 12, the points of grid_shape "
                             "(3, 4), got [12]"):
        unflatten_grid(values[0, :, 0], (3, 4))
    with _raises(ValueError, "unflatten_grid: grid_shape must be one or more whole-number sizes >= 1 (one per "
                             "position axis, as (8, 8)), got (3, 4.0)"):
        unflatten_grid(values, (3, 4.0))
    assert torch.equal(unflatten_grid(values, (3, 4)), values.transpose(1, 2).reshape(2, 3, 3, 4))  # [B, V, H, W]
    samples = torch.rand(2, 5, 12, 3)  # [B, S, N, V]: leading axes of any number
    assert unflatten_grid(samples, (3, 4)).shape == (2, 5, 3, 3, 4)


def test_nearest_neighbour_fill_names_sets_that_do_not_agree():
    ctx_pos, ctx_val, qry = torch.rand(2, 5, 2), torch.rand(2, 5, 3), torch.rand(2, 9, 2)  # [B, K, P/V], [B, Q, P]
    words = ("nearest_neighbour_fill: ctx_pos [B, K, P], ctx_val [B, K, V] and qry_pos [B, Q, P] must agree on B, K "
             "and P; got ")
    with _raises(ValueError, words + "[2, 5, 2], [1, 5, 3], [2, 9, 2]"):
        nearest_neighbour_fill(ctx_pos, ctx_val[:1], qry)
    with _raises(ValueError, words + "[2, 5, 2], [2, 5, 3], [1, 9, 2]"):
        nearest_neighbour_fill(ctx_pos, ctx_val, qry[:1])
    with _raises(ValueError, words + "[2, 5, 2], [2, 5, 3], [2, 9, 3]"):
        nearest_neighbour_fill(ctx_pos, ctx_val, torch.rand(2, 9, 3))
    # more values than positions: the first K of them were read, silently
    with _raises(ValueError, words + "[2, 5, 2], [2, 6, 3], [2, 9, 2]"):
        nearest_neighbour_fill(ctx_pos, torch.rand(2, 6, 3), qry)
    with _raises(ValueError, words + "[5, 2], [5, 3], [9, 2]"):
        nearest_neighbour_fill(ctx_pos[0], ctx_val[0], qry[0])
    with _raises(ValueError, "nearest_neighbour_fill: ctx_pos holds no point (K = 0): give at least one context "
                             "point"):
        nearest_neighbour_fill(ctx_pos[:, :0], ctx_val[:, :0], qry)
    with pytest.raises(TypeError, match=r"^nearest_neighbour_fill: qry_pos must be a torch.Tensor, got numpy"):
        nearest_neighbour_fill(ctx_pos, ctx_val, np.zeros((2, 9, 2)))


def test_nearest_neighbour_fill_still_copies_the_nearest_value():
    ctx_pos = torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]])  # [1, 2, 2]
    ctx_val = torch.tensor([[[0.0], [5.0]]])  # [1, 2, 1]
    qry = torch.tensor([[[-0.9, -0.8], [0.7, 0.9], [0.2, 0.3]]])  # [1, 3, 2]
    assert nearest_neighbour_fill(ctx_pos, ctx_val, qry, chunk=2)[0, :, 0].tolist() == [0.0, 5.0, 5.0]


@pytest.mark.parametrize("sampler, signal", [(SetSampler(grid_points=True), torch.rand(1, 1, 8, 8)),
                                             (SetSampler(), torch.rand(1, 1, 8, 8)),
                                             (ProtocolSetSampler(), torch.rand(1, 2, 49))])
def test_a_sampler_refuses_a_size_that_is_not_a_whole_number(sampler, signal):
    """The protocol's sampler read |S| = 4.5 as 4, silently; the core's stopped in torch's "slice indices must be
    integers" or "rand() received an invalid combination of arguments"."""
    name = type(sampler).__name__
    gen = torch.Generator().manual_seed(0)
    with _raises(ValueError, f"{name}: num_context (|S|) must be None (the sampler's own) or a whole number, got 4.5"):
        sampler(signal, gen, num_context=4.5)
    with _raises(ValueError, f"{name}: num_queries must be None (the sampler's own) or a whole number, got '7'"):
        sampler(signal, gen, num_context=4, num_queries="7")
    sets = sampler(signal, gen, num_context=np.int64(4), num_queries=torch.tensor(7))  # whole numbers of any type
    assert sets.num_context == 4 and sets.qry_pos.shape[1] == 7


def test_the_core_sampler_refuses_an_empty_set_and_reads_a_float64_signal():
    """|S| = 0 drew an empty S without a word, -3 stopped in torch's "negative dimension"; a float64 signal stopped
    in grid_sample's "expected scalar type Double but found Float" at the sampler's own float32 positions."""
    signal, gen = torch.rand(2, 1, 8, 8, dtype=torch.float64), torch.Generator().manual_seed(0)  # [B, V, H, W]
    for k in (0, -3):
        with _raises(ValueError, f"SetSampler: num_context (|S|) must be at least 1, got {k}"):
            SetSampler()(signal, gen, num_context=k)
    with _raises(ValueError, "SetSampler: num_queries must be at least 1, got 0"):
        SetSampler()(signal, gen, num_context=3, num_queries=0)
    sets = SetSampler()(signal, gen, num_context=5)
    assert sets.ctx_val.dtype == torch.float64 and sets.ctx_pos.shape == (2, 5, 2)
    assert torch.equal(sets.ctx_val, read_signal(signal, sets.ctx_pos.double()))  # the grid's own values
