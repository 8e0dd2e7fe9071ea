"""kernels.GELU: nn.GELU's values and gradients, without oneDNN building a GELU kernel for every input shape."""

import pytest
import torch
from torch import nn

from pixeltransformer.kernels import GELU
from pixeltransformer.model import FeedForward


def _values_and_grads(act: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """act(x) and the gradient of a weighted sum of it: [..., D] each."""
    x = x.detach().clone().requires_grad_(True)  # [..., D]
    y = act(x)  # [..., D]
    (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize("shape", [(3, 5, 64), (1, 1, 7), (2, 300, 256)])
def test_gelu_gives_exact_gelu_values_and_gradients(shape):
    """Within 1e-6 of GELU in float64 (oneDNN's kernel is off by up to 1.2e-6 on the larger shape)."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 4  # [..., D], well into both tails
    y, g = _values_and_grads(GELU(), x)
    y_ref, g_ref = _values_and_grads(nn.GELU(), x.double())
    assert y.dtype == g.dtype == torch.float32
    assert torch.allclose(y.double(), y_ref, atol=1e-6, rtol=0)
    assert torch.allclose(g.double(), g_ref, atol=1e-6, rtol=0)


def test_gelu_leaves_onednn_as_it_was():
    x = torch.randn(4, 9, 16, requires_grad=True)  # [4, 9, 16]
    GELU()(x).sum().backward()
    assert torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        GELU()(x).sum().backward()
        assert not torch.backends.mkldnn.enabled
    finally:
        torch.backends.mkldnn.enabled = True


def test_overlapping_onednn_off_contexts_restore_the_flag_once_the_last_leaves():
    """The flag is the process's: threads whose GELUs overlap each saved and restored it, so the first to leave
    turned oneDNN back on under the other, and the other then restored its "off" for good. Two contexts entered
    and left in that order (what two threads can do) show both."""
    from pixeltransformer.kernels import _onednn_off

    first, second = _onednn_off(), _onednn_off()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not torch.backends.mkldnn.enabled  # the second is still inside
    second.__exit__(None, None, None)
    assert torch.backends.mkldnn.enabled


def test_gelu_under_cpu_autocast_keeps_bf16_and_its_gradient():
    lin = nn.Linear(16, 16)
    x = torch.randn(4, 9, 16, requires_grad=True)  # [4, 9, 16]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = GELU()(lin(x))  # [4, 9, 16] bf16
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_feed_forward_builds_no_onednn_gelu_kernel_per_set_size(capfd):
    """Training draws a new |S| at every step; oneDNN built and cached a GELU kernel for each one, and those
    kernels fragmented the heap (it grew step after step). oneDNN's verbose log names every eltwise it runs."""
    ff = FeedForward(32, 64)
    capfd.readouterr()
    with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        for n in (5, 7, 11):
            ff(torch.randn(2, n, 32)).sum().backward()
        ours = capfd.readouterr().out
        nn.GELU()(torch.randn(2, 13, 32, requires_grad=True)).sum().backward()
        onednn = capfd.readouterr().out
    assert "eltwise" in onednn  # the log is on, and shows nn.GELU's kernel
    assert "eltwise" not in ours


def _second_derivative(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad((act(x) * x).sum(), x, create_graph=True)  # [..., D]
    (h,) = torch.autograd.grad(g.sum(), x)  # [..., D]
    return h


def test_gelu_has_nn_gelus_second_derivative_jvp_and_torch_func_transforms():
    """A backward marked once-differentiable gave a second derivative without GELU's own (x * GELU''(x) dropped,
    silently: 1.12 for 2.09); forward-mode AD and torch.func's grad and vmap refused the Function."""
    import torch.autograd.forward_ad as fwAD

    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(1)) * 2  # [5, 8]
    torch.testing.assert_close(_second_derivative(GELU(), x), _second_derivative(nn.GELU(), x))
    tangent = torch.linspace(-1, 1, 8).expand(5, 8)  # [5, 8]
    jvps = []
    for act in (GELU(), nn.GELU()):
        with fwAD.dual_level():
            jvps.append(fwAD.unpack_dual(act(fwAD.make_dual(x, tangent))).tangent)  # [5, 8]
    torch.testing.assert_close(*jvps)
    grads = [torch.func.grad(lambda t, act=act: act(t).sum())(x) for act in (GELU(), nn.GELU())]  # [5, 8] each
    torch.testing.assert_close(*grads)
    torch.testing.assert_close(torch.func.vmap(GELU())(x), nn.GELU()(x))
