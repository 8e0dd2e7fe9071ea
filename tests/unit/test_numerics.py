"""Subnormals are flushed where the model runs (training stages, the inference API), the caller's mode is
restored after, and flushing changes no output or gradient beyond the subnormal range."""

import pytest
import torch

from pixeltransformer import inference
from pixeltransformer.config import ObjectiveConfig
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.model import PixelTransformer
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.numerics import flushed_subnormals, flushing, set_flushing
from pixeltransformer.signal import SignalSpec

if not set_flushing(False):  # the probe below needs a CPU with the FTZ/DAZ flags (every x86-64 with SSE3)
    pytest.skip("this CPU has no flush-to-zero mode", allow_module_level=True)


@pytest.fixture(autouse=True)
def not_flushing():
    set_flushing(False)
    yield
    set_flushing(False)


def test_the_context_flushes_inside_and_restores_the_callers_mode():
    tiny = torch.tensor(1e-30) * torch.tensor(1e-10)
    assert tiny.item() != 0.0 and not flushing()  # a subnormal result: 1e-40 is below fp32's normal range
    with flushed_subnormals():
        assert flushing() and (torch.tensor(1e-30) * torch.tensor(1e-10)).item() == 0.0
        with flushed_subnormals():  # nested: the inner exit keeps the outer block's mode
            pass
        assert flushing()
    assert not flushing()
    set_flushing(True)
    with flushed_subnormals():
        pass
    assert flushing()  # a caller that flushed before keeps flushing
    with flushed_subnormals(False):  # and can keep subnormals for a block
        assert not flushing() and (torch.tensor(1e-30) * torch.tensor(1e-10)).item() != 0.0
    assert flushing()


def _model() -> tuple[PixelTransformer, BinnedGaussian]:
    torch.manual_seed(0)
    model = PixelTransformer(pos_dims=2, val_dims=1, num_params=3, width=32, encoder_layers=2, decoder_layers=2,
                             heads=4, ffn=64, fourier_features=16, encoder="buffered")
    with torch.no_grad():  # the narrowest head at 0.01: logits of -5000 |dx|^2 put weights in the subnormal range
        for block in [*model.encoder, *model.decoder]:
            block.attn.log_sigma[0] = torch.tensor(0.01).log()
    spec = SignalSpec(domain="d", dataset="d", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=1)
    return model.eval(), BinnedGaussian.from_config(spec, ObjectiveConfig())


def test_the_inference_api_runs_flushed(monkeypatch):
    model, dist = _model()
    seen = []
    encode, decode = model.encode, model.decode
    monkeypatch.setattr(model, "encode", lambda *a, **k: (seen.append(flushing()), encode(*a, **k))[1])
    monkeypatch.setattr(model, "decode", lambda *a, **k: (seen.append(flushing()), decode(*a, **k))[1])
    pos, val, qry = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1), torch.rand(1, 6, 2) * 2 - 1
    inference.mean_field(model, dist, pos, val, qry)
    inference.sample(model, dist, pos, val, qry, num_samples=2, n_autoregressive=3, use_cache=False)
    assert seen and all(seen)
    assert not flushing()  # and the caller's mode is back


def test_every_stage_of_the_module_flushes_and_restores():
    spec = SignalSpec(domain="d", dataset="d", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=1)
    module = PixelTransformerModule(spec=spec)
    for stage in ("fit", "validate", "test", "predict"):
        module.setup(stage)
        assert flushing(), stage
        module.teardown(stage)
        assert not flushing(), stage


def test_flushing_changes_no_output_or_gradient():
    model, _ = _model()
    model.train()
    g = torch.Generator().manual_seed(1)
    pos, val = torch.rand(2, 40, 2, generator=g) * 2 - 1, torch.rand(2, 40, 1, generator=g)
    qry = torch.rand(2, 50, 2, generator=g) * 2 - 1

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        out = model(pos, val, qry)  # [B, Q, NP]
        out.square().mean().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    kept, kept_grads = run()
    with flushed_subnormals():
        flushed, flushed_grads = run()
    torch.testing.assert_close(flushed, kept, rtol=0, atol=1e-6)
    assert len(flushed_grads) == len(kept_grads)
    for a, b in zip(flushed_grads, kept_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
