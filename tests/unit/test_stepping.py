"""RowStepper, the one-row sampling step: the same outputs and cache as decode and encode_append."""

import pytest
import torch

from pixeltransformer.model import Attention, PixelTransformer
from pixeltransformer.kernels import native_cpu_kernels
from pixeltransformer import stepping
from pixeltransformer.stepping import RowLayer, RowStepper

from perturb import perturbed

CASES = [dict(distance_bias=False), dict(distance_bias=True), dict(distance_bias=True, value_norm=True),
         dict(distance_bias=True, attention_sink=True), dict(distance_bias=True, encoder="incremental")]


def _model(encoder="buffered", **kw) -> PixelTransformer:
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=2, num_params=9, width=32, encoder_layers=3, decoder_layers=2,
                         heads=4, ffn=64, fourier_features=16, encoder=encoder, **kw).eval()
    return perturbed(m)


def _run(m, b=3, k=5, n=8, stepper=True, autocast=False):
    """k samples of S, then n one-row steps: the parameters decoded before each step and the final cache."""
    g = torch.Generator().manual_seed(1)
    pos = torch.rand(b, k + n, 2, generator=g) * 2 - 1  # [B, K+n, P]
    val = torch.rand(b, k + n, 2, generator=g)  # [B, K+n, V]
    outs = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        cache = m.new_cache(b, k + n, torch.device("cpu"), torch.float32)
        m.encode_append(cache, pos[:, :k], val[:, :k])
        step = RowStepper(m, cache)
        inputs = m.step_inputs(pos[:, k:])
        for t in range(n):
            p, ctx_embed, qry_embed = inputs.at(t)
            if stepper:
                outs.append(step.decode(p, qry_embed))
                step.append(p, val[:, k + t : k + t + 1], ctx_embed)
            else:
                outs.append(m.decode(m.cached_memory(cache), p, qry_embed))
                m.encode_append(cache, p, val[:, k + t : k + t + 1], ctx_embed)
    return torch.cat(outs, 1), cache  # [B, n, NP (+ V + 1)]


@pytest.mark.parametrize("kw", CASES)
def test_steps_equal_decode_and_encode_append(kw):
    m = _model(**kw)
    fast, cache = _run(m)
    slow, ref = _run(m, stepper=False)
    assert fast.shape == slow.shape
    assert torch.allclose(fast, slow, atol=1e-5), f"{(fast - slow).abs().max():.2e}"
    assert (fast[:, 0] - fast[:, -1]).abs().max() > 1e-2  # the appended rows change what is decoded
    assert cache.length == ref.length
    for mine, theirs in zip(cache.rows + [cache.memory_rows], ref.rows + [ref.memory_rows]):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [kw for kw in CASES if not kw.get("attention_sink")])
def test_fp32_steps_without_a_sink_run_the_written_out_layers(kw, monkeypatch):
    """A CPU step in fp32 without a sink never goes through attend_rows (RowLayer.written_out instead), so the
    equality above holds for the layers sampling runs, and they write the cache's rows as encode_append does."""
    m = _model(**kw)
    slow, ref = _run(m, stepper=False)

    def general(*args, **kwargs):
        raise AssertionError("the general layer ran")

    monkeypatch.setattr(RowLayer, "__call__", general)
    fast, cache = _run(m)
    assert torch.allclose(fast, slow, atol=1e-5), f"{(fast - slow).abs().max():.2e}"
    for mine, theirs in zip(cache.rows + [cache.memory_rows], ref.rows + [ref.memory_rows]):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", CASES[1:4])
def test_steps_under_autocast_round_as_decode_and_encode_append_do(kw):
    """Under bf16 autocast (the GPU path's code) the step's decoder, which carries each query into row space,
    rounds no worse than decode's projected keys and values (the stepper appends its encoder rows through the
    written-out layers, or attend_rows with a sink; encode_append through attend_rows): its error against fp32 is
    about theirs (the distance bias stays fp32 in both: rounded, it would move logits by
    whole units)."""
    m = _model(**kw)
    fast, _ = _run(m, autocast=True)
    slow, _ = _run(m, stepper=False, autocast=True)
    exact, _ = _run(m)
    err_fast, err_slow = (fast - exact).abs(), (slow - exact).abs()
    assert err_fast.max() > 1e-4  # autocast did round
    assert err_fast.mean() < 1.5 * err_slow.mean(), f"{err_fast.mean():.2e} vs {err_slow.mean():.2e}"
    assert err_fast.max() < 2 * err_slow.max(), f"{err_fast.max():.2e} vs {err_slow.max():.2e}"


@pytest.mark.parametrize("kw, padded", [(kw, padded) for kw in CASES if not kw.get("attention_sink")
                                         for padded in ((False, True) if kw.get("distance_bias") else (False,))])
def test_steps_under_autocast_without_a_sink_run_the_written_out_layers_on_weights_cast_once(kw, padded,
                                                                                              monkeypatch):
    """A GPU's step: bf16 autocast on a cache padded to a multiple of 8 (Attention.row_dim). Without a sink it runs
    the written-out layers on weights cast once (autocast would cast every weight at every step), and rounds no
    worse than decode and encode_append under autocast do."""
    m = _model(**kw)
    exact, _ = _run(m)
    if padded:
        row_dim = Attention.row_dim
        monkeypatch.setattr(Attention, "row_dim", lambda self, device: row_dim(self, "cuda"))
    slow, _ = _run(m, stepper=False, autocast=True)
    casts = []
    weights = RowLayer.weights

    def cast_once(self, dtype):
        casts.append((id(self), dtype, dtype in self.cast))
        return weights(self, dtype)

    def general(*args, **kwargs):
        raise AssertionError("the general layer ran")

    attention = stepping.F.scaled_dot_product_attention
    dtypes = []

    def attend(q, k, v, **kwargs):  # the distance bias's channels cancel terms of size l |x|^2: fp32, as decode's
        dtypes.append((q.dtype, k.dtype))
        return attention(q, k, v, **kwargs)

    monkeypatch.setattr(RowLayer, "weights", cast_once)
    monkeypatch.setattr(RowLayer, "__call__", general)
    monkeypatch.setattr(stepping.F, "scaled_dot_product_attention", attend)
    fast, cache = _run(m, autocast=True)
    monkeypatch.setattr(stepping.F, "scaled_dot_product_attention", attention)
    assert len(dtypes) >= 8 * (len(m.encoder) + len(m.decoder))  # every layer of every step
    want = torch.float32 if kw.get("distance_bias") else torch.bfloat16
    assert set(dtypes) == {(want, want)}
    layers = len(m.encoder) + len(m.decoder)
    assert all(dtype == torch.bfloat16 for _, dtype, _ in casts)
    assert sum(not was_cast for *_, was_cast in casts) == layers  # one cast per layer, then the cast weights
    assert len(casts) > 2 * layers
    if padded and kw.get("distance_bias"):
        assert cache.memory_rows.shape[-1] == 40 and cache.memory_rows[..., 36:].abs().max() == 0  # 32 + 4, padded
    err_fast, err_slow = (fast - exact).abs(), (slow - exact).abs()
    assert err_fast.max() > 1e-4  # autocast did round
    assert err_fast.mean() < 1.5 * err_slow.mean(), f"{err_fast.mean():.2e} vs {err_slow.mean():.2e}"
    assert err_fast.max() < 2 * err_slow.max(), f"{err_fast.max():.2e} vs {err_slow.max():.2e}"


@pytest.mark.parametrize("kw", [dict(distance_bias=True), dict(distance_bias=True, attention_sink=True)])
def test_steps_on_a_gpu_sized_cache_ignore_its_padding(kw, monkeypatch):
    """A GPU cache pads each row's distance channels to a multiple of 8 (Attention.row_dim): the same steps on a
    padded cache, built here on the CPU, give what the unpadded cache gives."""
    m = _model(**kw)
    want, _ = _run(m)
    row_dim = Attention.row_dim
    monkeypatch.setattr(Attention, "row_dim", lambda self, device: row_dim(self, "cuda"))
    fast, cache = _run(m)
    slow, _ = _run(m, stepper=False)
    assert cache.memory_rows.shape[-1] == 40 and cache.memory_rows[..., 36:].abs().max() == 0  # 32 + 4, padded
    memory = m.cached_memory(cache)  # keys and values for many queries: aligned widths too, as a GPU kernel needs
    assert memory.keys[0].shape[-1] == memory.values[0].shape[-1] == m.decoder[0].attn.key_dim == 16
    assert torch.allclose(fast, want, atol=1e-5) and torch.allclose(slow, want, atol=1e-5)


def test_append_needs_s_and_room():
    m = _model(distance_bias=True)
    cache = m.new_cache(1, 3, torch.device("cpu"), torch.float32)
    step = RowStepper(m, cache)
    pos, val = torch.zeros(1, 1, 2), torch.zeros(1, 1, 2)
    inputs = m.step_inputs(pos)
    p, ctx_embed, _ = inputs.at(0)
    with pytest.raises(ValueError, match="holds 0 of 3"):
        step.append(p, val, ctx_embed)
    m.encode_append(cache, torch.zeros(1, 3, 2), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="holds 3 of 3"):
        step.append(p, val, ctx_embed)


def test_native_cpu_kernels_switch_onednn_off_and_back():
    """The sampling loop's one-row steps run without oneDNN on the CPU (its GELU is slow to set up on a few rows),
    give what they give with it, and leave the flag as it was, after an error too; CPU autocast keeps it."""
    m = _model(distance_bias=True)
    with_onednn, _ = _run(m)
    with native_cpu_kernels("cpu"):
        assert not torch.backends.mkldnn.enabled
        without, _ = _run(m)
    assert torch.backends.mkldnn.enabled
    assert torch.allclose(without, with_onednn, atol=1e-5)
    with pytest.raises(RuntimeError, match="stopped"), native_cpu_kernels("cpu"):
        raise RuntimeError("stopped")
    assert torch.backends.mkldnn.enabled
    with torch.autocast("cpu", dtype=torch.bfloat16), native_cpu_kernels("cpu"):
        assert torch.backends.mkldnn.enabled  # bf16 matmuls run on oneDNN
