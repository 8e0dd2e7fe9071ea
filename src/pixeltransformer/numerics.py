"""Subnormal floats flushed to zero on the CPU, where each one costs many times a normal operation.

With the distance bias, most attention weights are exp(-l |x_q - x_k|^2) with l up to 200: the flash kernel's
exponentials and its backward land in the subnormal range (below 1.2e-38 in fp32) for every pair of tokens
whose logit is 87 to 103 below the row's maximum, and x86 cores take a microcode path for each such operand.
The paper preset's training step spent about a third of its time there (docs/results.md, `make bench`). Flushing them
to zero (the MXCSR FTZ and DAZ flags, what `torch.set_flush_denormal` sets) changes no value above 1.2e-38 and
is what GPU attention kernels do anyway.

The flags belong to a thread. The CLI sets them before any thread pool exists, so OpenMP's workers inherit
them; a LightningModule's fit/validate/test/predict and the inference API set them on the calling thread for
their duration and restore the caller's mode after (a worker thread created before keeps its own).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, TypeVar

import torch

F = TypeVar("F", bound=Callable)


def flushing() -> bool:
    """Whether the calling thread flushes subnormals: 1e-30 * 1e-10 underflows to 0 only when it does."""
    return bool((torch.tensor(1e-30) * torch.tensor(1e-10)).item() == 0.0)


def set_flushing(on: bool) -> bool:
    """Set the calling thread's mode; False when this CPU has no such mode (nothing then changes)."""
    return torch.set_flush_denormal(on)


def start_flushing() -> bool:
    """Flush subnormals on the calling thread from now on; True when this turned the mode on (the caller then
    hands it to :func:`stop_flushing` to restore the thread's previous mode)."""
    return not flushing() and set_flushing(True)


def stop_flushing(started: bool) -> None:
    """Undo a :func:`start_flushing` that returned `started`."""
    if started:
        set_flushing(False)


@contextlib.contextmanager
def flushed_subnormals(on: bool = True) -> Iterator[None]:
    """Flush subnormals on the calling thread inside the block (keep them with on=False); the thread's previous
    mode after it."""
    before = flushing()
    changed = before != on and set_flushing(on)
    try:
        yield
    finally:
        if changed:
            set_flushing(before)


def with_flushed_subnormals(fn: F) -> F:
    """Decorate a function to run under :func:`flushed_subnormals`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with flushed_subnormals():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
