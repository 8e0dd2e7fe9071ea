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
Our attentions with a distance bias pad their heads: the keys carry P + 2 position channels and zeros up to a
multiple of 8, the values zeros to the keys' width (the fused kernel takes one width). Those zero channels are not
counted (:func:`padding_of`): they are work the machine does, not work the model needs, and counted they raised
our fraction alone (they are 2.0 % of our step's FLOPs at the paper preset, 5.7 % at small).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .common import Device


Widths = dict[int, tuple[int, int]]  # a padded head width -> the (QK^T, PV) channels that are not padding


def _attention(query, key, value, widths: Widths) -> int:
    """QK^T and PV forward, 2 m n k each, over the channels that are not padding: shapes [B, H, Lq, Dk],
    [B, H, Lk, Dk], [B, H, Lk, Dv]."""
    *batch, lq, dk = query
    lk, dv = key[-2], value[-1]
    if dk == dv and dk in widths:
        dk, dv = widths[dk]
    return 2 * math.prod(batch) * lq * lk * (dk + dv)


# the fused attention kernels' backward ops (first arguments grad_out, query, key, value), CPU and GPU
_FUSED_BACKWARD = ("_scaled_dot_product_flash_attention_for_cpu_backward",
                   "_scaled_dot_product_flash_attention_backward",
                   "_scaled_dot_product_efficient_attention_backward",
                   "_scaled_dot_product_cudnn_attention_backward")
_FUSED_FORWARD = ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                  "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention")


def _custom_formulas(widths: Widths) -> dict:
    aten = torch.ops.aten

    def forward(query, key, value, *args, out_val=None, **kwargs) -> int:
        return _attention(query, key, value, widths)

    def backward(grad_out, query, key, value, *args, out_val=None, **kwargs) -> int:
        """The gradients of QK^T and PV: twice the forward, as an unfused attention's backward (no recomputed
        scores)."""
        return 2 * _attention(query, key, value, widths)

    out = {}
    for names, formula in ((_FUSED_FORWARD, forward), (_FUSED_BACKWARD, backward)):
        for name in names:
            if hasattr(aten, name):
                out[getattr(aten, name)] = formula
    return out


def padding_of(model: torch.nn.Module) -> Widths:
    """The padded head width of a model's attentions with a distance bias -> the (QK^T, PV) channels that are not
    padding: the head's channels plus the P + 2 position channels, and the head's channels."""
    return {m.key_dim: (m.head_dim + m.used_extra, m.head_dim) for m in model.modules()
            if getattr(m, "distance", False) and getattr(m, "key_dim", 0) > m.head_dim + m.used_extra}


def count_flops(fn: Callable[[], object], padding: Widths | None = None) -> int:
    """FLOPs of one call of fn (forward and backward if it runs both); ``padding`` (:func:`padding_of`) leaves out
    the zero channels of padded attention heads."""
    with FlopCounterMode(display=False, custom_mapping=_custom_formulas(padding or {})) as counter:
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
