"""Which CPU kernels the model's elementwise steps run on, where oneDNN's choice costs time or memory.

PyTorch hands some CPU operations to oneDNN when it is enabled. For GELU, oneDNN builds a kernel for each input
shape and keeps up to 1024 of them in its primitive cache. Training draws a new |S| at every step, so every step
builds another forward and backward GELU kernel, and these small long-lived allocations land between the step's
large freed tensors and keep them from merging: glibc's heap grows step after step while the memory in use stays
flat (a bare model went from 370 MB to 2.4 GB of heap in 300 steps, 173-188 MB in use). PyTorch's own GELU kernel
allocates nothing that outlives the call, and its values are within 1e-6 of float64 (oneDNN's, 1.2e-6).

`GELU` is the model's activation: PyTorch's kernel for fp32 on the CPU, `F.gelu` everywhere else (CUDA; bf16,
as CPU autocast gives it, which oneDNN runs; torch.compile). `native_cpu_kernels` turns oneDNN off for a whole
loop of one-row sampling steps, where its set-up cost per call is the larger part of a small GELU.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


_flag_lock = threading.Lock()
_holders = 0  # contexts inside _onednn_off, over every thread
_was_enabled = True  # the flag when the first of them entered


@contextlib.contextmanager
def _onednn_off() -> Iterator[None]:
    """oneDNN off while any thread is inside, and back as it was when the last one leaves, after an error too.

    torch.backends.mkldnn.enabled is the process's flag, not a thread's: two threads that each saved and restored
    it could restore each other's "off" and leave it off for good. A count under a lock restores it once, when the
    last one leaves; meanwhile other threads' operations also run without oneDNN (the same values, other kernels).
    (torch.backends.mkldnn.flags also resets TF32 and warns at every call.)"""
    global _holders, _was_enabled
    with _flag_lock:
        if _holders == 0:
            _was_enabled = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _holders += 1
    try:
        yield
    finally:
        with _flag_lock:
            _holders -= 1
            if _holders == 0:
                torch.backends.mkldnn.enabled = _was_enabled


def _onednn_would_run(x: torch.Tensor) -> bool:
    """True where F.gelu on x would go to oneDNN with its kernel per shape: a CPU fp32 tensor with oneDNN enabled
    (under CPU autocast the input is bf16 and keeps F.gelu), and not while torch.compile traces the model (the
    traced graph holds F.gelu: inductor writes its own kernel)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and torch.backends.mkldnn.enabled
            and not torch.compiler.is_compiling())


class _NativeGelu(torch.autograd.Function):
    """GELU (exact, erf form) with oneDNN off for the call. Its backward is differentiable (aten.gelu_backward has
    a derivative), so a second derivative through it is GELU's, and it has a jvp and a vmap rule, so torch.func's
    transforms and forward-mode AD get nn.GELU's answers."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        with _onednn_off():
            return F.gelu(x)  # [..., D]

    @staticmethod
    def setup_context(ctx, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _times_slope(grad, *ctx.saved_tensors)  # [..., D]

    @staticmethod
    def jvp(ctx, tangent: torch.Tensor) -> torch.Tensor:
        return _times_slope(tangent, *ctx.saved_tensors)  # [..., D]


def _times_slope(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """v * GELU'(x) [..., D], with oneDNN off: a gradient (backward) or a tangent (jvp)."""
    with _onednn_off():
        return torch.ops.aten.gelu_backward(v, x)  # [..., D]


class GELU(nn.Module):
    """nn.GELU's values and gradients, on PyTorch's own kernel where oneDNN would cache one per shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _onednn_would_run(x):
            return _NativeGelu.apply(x)  # [..., D]
        return F.gelu(x)  # [..., D]


@contextlib.contextmanager
def native_cpu_kernels(device: torch.device | str) -> Iterator[None]:
    """oneDNN off for a loop of one-row steps on the CPU, and back as it was after. On a few rows its GELU costs
    about 6 us a call to set up, where PyTorch's own takes 1-3 us; a step calls it once per layer, and a whole
    sampling run took 7-8 % less time at both presets without it. The step's fp32 matmuls go through MKL either
    way. Under CPU autocast oneDNN stays on: it runs the bf16 matmuls (on AMX where the CPU has it)."""
    off = torch.device(device).type == "cpu" and not torch.is_autocast_enabled("cpu")
    with _onednn_off() if off else contextlib.nullcontext():
        yield
