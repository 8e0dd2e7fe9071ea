"""The roofline figure: how close a training step comes to the machine's matmul peak.

FLOPs of one step are counted with torch's FlopCounterMode (matmuls, convolutions and attention kernels;
elementwise work is not counted, so the figure is the fraction of the step's time spent at matmul speed).
Its CPU attention kernel has no formula in torch, so one is registered here with torch's own SDPA formula.
Every attention counts by one rule, the unfused one: QK^T and PV forward, twice that backward (the gradients
of both products). torch's formula for the fused kernels' backward adds the scores they recompute (2.5x the
forward), work an unfused attention (the reference's nn.MultiheadAttention) never does: counted so, the same
attention would weigh 25 % more backward FLOPs in our step than in the reference's, and raise our fraction alone.
The peak is a large ``torch.mm`` with the same thread count, timed in the same interleaved rounds as the steps
(train.py), so a shared machine's load weighs on both alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .common import Device


def _cpu_flash(query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _attention_backward(grad_out, query, key, value, *args, out_val=None, **kwargs) -> int:
    """The gradients of QK^T and PV: twice the forward, as an unfused attention's backward (no recomputed scores)."""
    return 2 * sdpa_flop_count(query, key, value)


# the fused attention kernels' backward ops (first arguments grad_out, query, key, value), CPU and GPU
_FUSED_BACKWARD = ("_scaled_dot_product_flash_attention_for_cpu_backward",
                   "_scaled_dot_product_flash_attention_backward",
                   "_scaled_dot_product_efficient_attention_backward",
                   "_scaled_dot_product_cudnn_attention_backward")


def _custom_formulas() -> dict:
    aten = torch.ops.aten
    out = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        out[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_flash
    for name in _FUSED_BACKWARD:
        if hasattr(aten, name):
            out[getattr(aten, name)] = _attention_backward
    return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of fn (forward and backward if it runs both)."""
    with FlopCounterMode(display=False, custom_mapping=_custom_formulas()) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_contender(device: Device, n: int | None = None) -> tuple[Callable[[], None], int, dict]:
    """A large n x n ``torch.mm`` in the precision the steps' matmuls run at (bf16 under bf16 autocast, on a GPU or
    a CPU: a CPU with AMX runs bf16 matmuls 6.6x faster than fp32, measured, so an fp32 peak would overstate the
    fraction), to time beside the training steps with the benchmarks' thread count: (call, its FLOPs, a description)."""
    n = n or (8192 if device.name == "cuda" else 2048)
    dtype = torch.bfloat16 if device.precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    a = device.put(torch.randn(n, n, generator=gen).to(dtype))
    b = device.put(torch.randn(n, n, generator=gen).to(dtype))

    def call() -> None:
        torch.mm(a, b)
        device.sync()

    return call, 2 * n**3, {"size": n, "dtype": str(dtype).replace("torch.", "")}
