"""Half-precision autocast keeps the distance bias exact: its channels are built and combined in fp32, so a
bf16 run computes the same attention logits and trains like fp32 (CPU bf16 autocast stands in for a GPU's)."""

import pytest
import torch

from pixeltransformer.model import Attention
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.signal import SignalSpec


def test_distance_bias_is_exact_under_bf16_autocast():
    torch.manual_seed(0)
    att = Attention(width=32, heads=4, pos_dims=2, sigma_range=(0.05, 1.0))
    with torch.no_grad():  # only the bias remains in the logits
        for lin in (att.q, att.kv):
            lin.weight.zero_()
            lin.bias.zero_()
    x, src = torch.randn(2, 40, 32), torch.randn(2, 50, 32)
    xp, sp = torch.rand(2, 40, 2) * 2 - 1, torch.rand(2, 50, 2) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = att.queries(x, xp)  # [B, H, N, key_dim]
        k, _ = att.keys_values(src, sp)  # [B, H, M, key_dim]
    logits = (q.float() @ k.float().transpose(-1, -2)) * att.head_dim ** -0.5  # [B, H, N, M]
    d2 = torch.cdist(xp.double(), sp.double()).pow(2)  # [B, N, M]
    sigma = att.log_sigma.detach().double().exp()  # [H]
    want = -d2.unsqueeze(1) / (2 * sigma.view(1, -1, 1, 1) ** 2)  # [B, H, N, M]
    assert abs(sigma[0].item() - 0.05) < 1e-6
    err = (logits.double() - want).abs()
    assert err[:, 0].max() < 1e-3, f"sigma=0.05 head off by {err[:, 0].max():.4f} logits"
    assert err.max() < 1e-3
    assert want[:, 0].min() < -100  # the test covers large cancelling terms


def _module() -> PixelTransformerModule:
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=8)
    torch.manual_seed(0)
    return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, fourier_features=16),
                                  objective=dict(bin_prior_init=False),
                                  sets=dict(min_context=16, max_context=16, num_queries=32),
                                  optim=dict(warmup_steps=1))


def _train(autocast: bool, steps: int = 20) -> list[float]:
    import warnings

    module = _module().train()
    opt = torch.optim.AdamW(module.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    signals = torch.rand(steps, 4, 1, 2, 2, generator=gen)  # smooth 8x8 images from 2x2 ones
    signals = torch.nn.functional.interpolate(signals.flatten(0, 1), size=(8, 8), mode="bilinear",
                                              align_corners=True).view(steps, 4, 1, 8, 8)
    losses = []
    for t in range(steps):
        with warnings.catch_warnings(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            warnings.simplefilter("ignore")  # self.log() outside a Trainer
            loss = module.training_step({"signal": signals[t]}, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_bf16_training_tracks_fp32():
    full, half = _train(False), _train(True)
    assert full[-1] < full[0] - 0.1  # the model learns something in 20 steps
    rel = [abs(h - f) / abs(f) for f, h in zip(full, half)]
    assert max(rel) < 0.02, f"bf16 loss departs from fp32 by {max(rel):.3%} (step {rel.index(max(rel))})"


def _grads_of(module: PixelTransformerModule, scale: float = 1.0, scaler=None, seed: int = 2) -> list[torch.Tensor]:
    """One training step's backward with the loss times `scale` (through `scaler` when given, whose scale it
    is); returns the gradients divided by that scale."""
    import warnings

    module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    signal = torch.rand(4, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log() outside a Trainer
        loss = module.training_step({"signal": signal}, 0)
    (scaler.scale(loss) if scaler is not None else loss * scale).backward()
    return [p.grad.detach() / scale for p in module.parameters() if p.grad is not None]


def _norm(grads) -> float:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()


def test_gradient_clipping_works_with_the_fused_optimizer():
    """The module clips for its fused AdamW itself (Lightning's mixed-precision plugin refuses to): by norm and by
    value, on the gradients the optimizer then applies."""
    module = _module().train()
    opt = module.configure_optimizers()["optimizer"]
    assert opt.defaults["fused"]
    grads = _grads_of(module, 1.0)
    clip = 0.5 * _norm(grads)  # the step's gradients are twice the threshold
    module.configure_gradient_clipping(opt, clip, "norm")
    clipped = [p.grad for p in module.parameters() if p.grad is not None]
    assert abs(_norm(clipped) - clip) < 1e-4 * clip
    for g, c in zip(grads, clipped):
        torch.testing.assert_close(c, 0.5 * g, rtol=1e-4, atol=1e-9)  # the direction is kept
    _grads_of(module, 1.0)
    big = max(p.grad.abs().max().item() for p in module.parameters() if p.grad is not None)
    module.configure_gradient_clipping(opt, 0.25 * big, "value")
    assert max(p.grad.abs().max().item() for p in module.parameters() if p.grad is not None) <= 0.25 * big
    module.configure_gradient_clipping(opt, 0.0, "norm")  # no clipping asked: nothing changes
    module.configure_gradient_clipping(opt, None, None)


def test_gradient_clipping_unscales_an_fp16_loss_scale_first():
    """Under a loss scaler (fp16 mixed precision) the threshold applies to the true gradients: a step whose true
    norm is under it is left alone although its scaled norm is far above, and the scaler's step applies the
    gradients once, as an unscaled step does."""
    from types import SimpleNamespace

    from lightning.pytorch.plugins.precision import MixedPrecision

    scale = 1024.0
    ref, mod = _module().train(), _module().train()
    ref_opt, opt = ref.configure_optimizers()["optimizer"], mod.configure_optimizers()["optimizer"]
    true = _grads_of(ref, 1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    _grads_of(mod, scale, scaler)  # the gradients the scaler leaves: scale x the true ones
    mod._trainer = SimpleNamespace(precision_plugin=MixedPrecision("16-mixed", device="cpu", scaler=scaler))
    clip = 2.0 * _norm(true)  # true norm half the threshold, scaled norm 512x above it
    mod.configure_gradient_clipping(opt, clip, "norm")
    grads = [p.grad for p in mod.parameters() if p.grad is not None]
    assert len(grads) == len(true) > 0  # zip below compares every gradient
    for g, grad in zip(true, grads):
        torch.testing.assert_close(grad, g, rtol=1e-4, atol=1e-7)
    scaler.step(opt)
    ref_opt.step()
    for a, b in zip(ref.parameters(), mod.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_distance_bias_attention_runs_in_fp32_under_bf16_autocast():
    """autocast casts scaled_dot_product_attention's inputs to bf16 (its op list), which would round the bias's
    cancelling terms by whole logits inside the kernel; the attention output must match an fp64 softmax over
    the exact bias applied to the same values."""
    torch.manual_seed(0)
    att = Attention(width=32, heads=4, pos_dims=2, sigma_range=(0.05, 1.0))
    with torch.no_grad():  # only the bias remains in the logits; the values stay
        att.q.weight.zero_()
        att.q.bias.zero_()
        att.kv.weight[:32].zero_()
        att.kv.bias[:32].zero_()
    x, src = torch.randn(2, 40, 32), torch.randn(2, 50, 32)
    xp, sp = torch.rand(2, 40, 2) * 2 - 1, torch.rand(2, 50, 2) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        k, v = att.keys_values(src, sp)  # [B, H, M, key_dim]; v as autocast's linear left it
        out = att.attend_heads(x, k, v, x_pos=xp)  # [B, H, N, key_dim]
    d2 = torch.cdist(xp.double(), sp.double()).pow(2)  # [B, N, M]
    sigma = att.log_sigma.detach().double().exp()  # [H]
    weights = (-d2.unsqueeze(1) / (2 * sigma.view(1, -1, 1, 1) ** 2)).softmax(-1)  # [B, H, N, M]
    want = weights @ v.double()  # [B, H, N, key_dim]
    err = (out.double() - want).abs().max().item()
    assert err < 1e-4 * v.abs().max().item(), f"attention off by {err:.2e}"


def test_fourier_features_are_fp32_under_bf16_autocast():
    """autocast runs the position-frequency matmul in bf16, whose rounding moves a phase of size 2 pi |f x| ~ 100 by
    tenths of a radian: a model trained in bf16 would then see other features at fp32 inference."""
    from pixeltransformer.encoding import FourierFeatures

    ff = FourierFeatures(pos_dims=3, num_frequencies=128, scale=10.0)
    pos = torch.rand(4, 500, 3) * 2 - 1  # [B, N, P]
    want = ff(pos)  # [B, N, 2F + P] fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ff(pos)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_nearest_bin_is_exact_under_bf16_autocast():
    """The loss's target bin: autocast's bf16 matmul assigned about a quarter of random RGB values to another of 256
    k-means-like centres."""
    from pixeltransformer.distribution import BinnedGaussian

    gen = torch.Generator().manual_seed(0)
    dist = BinnedGaussian(torch.rand(256, 3, generator=gen), unit=0.05)
    values = torch.rand(20000, 3, generator=gen)  # [N, V]
    want = dist.nearest_bin(values)  # [N]
    exact = torch.cdist(values.double(), dist.centres.double()).argmin(-1)  # [N]
    assert (want == exact).float().mean() > 0.999  # fp32 ties aside
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = dist.nearest_bin(values)
    assert torch.equal(got, want)


@pytest.mark.parametrize("cast, name", [("half", "float16"), ("bfloat16", "bfloat16"), ("double", "float64")])
def test_the_api_refuses_cast_weights_in_one_line(tiny_module, cast, name):
    """The Fourier features and the distance bias are float32 whatever the weights are, so a model cast with
    .half() or .double() failed deep inside with a dtype mismatch; every entry point of the API names the cause.
    torch.autocast is the way to lower precision."""
    ctx_pos, ctx_val, qry_pos = torch.rand(1, 4, 1) * 2 - 1, torch.rand(1, 4, 1), torch.rand(1, 3, 1) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert tiny_module.mean_field(ctx_pos, ctx_val, qry_pos).shape == (1, 3, 1)
    model = getattr(tiny_module, cast)()
    cause = (f"model parameters are {name}; use torch.autocast to lower precision, keep the weights float32 "
             "(call .float())")
    for call in (lambda: model.mean_field(ctx_pos, ctx_val, qry_pos),
                 lambda: model.predict_params(ctx_pos, ctx_val, qry_pos),
                 lambda: model.sample(ctx_pos, ctx_val, qry_pos), lambda: model.complete(ctx_pos, ctx_val, 8)):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == cause


@pytest.mark.parametrize("value_norm", [False, True])
@pytest.mark.parametrize("pos_scale, val_scale", [(1e5, 1.0), (1e12, 1.0), (1.0, 1e5), (1.0, 1e12)])
def test_positions_and_values_past_the_fp16_maximum_stay_finite_under_fp16_autocast(pos_scale, val_scale, value_norm):
    """The position embedding reads the raw position beside its Fourier features, and the value embedding the value
    over the value range: autocast's cast of either to float16 made anything past 6.55e4 inf, and every answer NaN
    (positions 1e5 from the API, which takes them up to 1e15 with a warning; values of a one-Gaussian model)."""
    from pixeltransformer.model import PixelTransformer

    torch.manual_seed(0)
    net = PixelTransformer(2, 1, 10, width=32, heads=2, ffn=64, fourier_features=16, value_norm=value_norm).eval()
    ctx_pos, qry_pos = (torch.rand(2, 5, 2) * 2 - 1) * pos_scale, (torch.rand(2, 4, 2) * 2 - 1) * pos_scale  # [B, K|Q, P]
    ctx_val = torch.rand(2, 5, 1) * val_scale  # [B, K, V]
    with torch.no_grad():
        want = net(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP] fp32
        with torch.autocast("cpu", dtype=torch.float16):
            got = net(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]
    assert torch.isfinite(want).all()
    assert torch.isfinite(got).all(), "NaN or inf under fp16 autocast"
    torch.testing.assert_close(got.float(), want, rtol=0, atol=0.05)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_distribution_reads_half_precision_params_in_float32(dtype):
    """predict_params under autocast answers in the autocast dtype, which m.dist reads: a sigma near its floor (a
    thousandth of a bin width, 4e-6 for 256 bins over [0, 1]) squared to 0 in float16, and log_prob was -inf or NaN
    where float32's was finite."""
    from pixeltransformer.distribution import BinnedGaussian

    gen = torch.Generator().manual_seed(0)
    dist = BinnedGaussian(torch.linspace(0, 1, 256).unsqueeze(-1), unit=1 / 255)
    params = torch.randn(50, dist.num_params, generator=gen)  # [N, NP]
    params[:, 256 * 2 :] = -20.0  # every sigma at its floor
    value = torch.rand(50, 1, generator=gen)  # [N, V]
    half = params.to(dtype)
    want = dist.log_prob(half.float(), value)  # [N]
    assert torch.isfinite(want).all()
    torch.testing.assert_close(dist.log_prob(half, value), want)
    torch.testing.assert_close(dist.variance(half), dist.variance(half.float()))


@pytest.mark.parametrize("given, ran, recorded", [(None, "32-true", "32-true"), ("32", "32-true", "32"),
                                                  ("bf16-mixed", "bf16-mixed", "bf16-mixed"),
                                                  ("16-mixed", "bf16-mixed", "bf16-mixed")])
def test_a_run_config_records_the_precision_that_ran(given, ran, recorded):
    """A config that gives no precision runs at Lightning's default, 32-true, but config.yaml (and W&B's config)
    recorded `precision: null`; it now records 32-true. A precision given is kept as given where it runs as given."""
    from types import SimpleNamespace

    from jsonargparse import Namespace

    from pixeltransformer.run_config import record_precision

    cfg = Namespace(trainer=Namespace(precision=given))
    note = record_precision(cfg, SimpleNamespace(precision=ran))
    assert cfg.trainer.precision == recorded
    assert (note is not None) == (given == "16-mixed")


@pytest.mark.parametrize("precision, dtype", [("bf16-mixed", torch.bfloat16), ("32-true", None)])
def test_the_conveniences_run_at_the_trainers_precision(tiny_module, precision, dtype):
    """An evaluation's and the pictures' model calls come from callbacks, outside the steps Lightning runs under
    trainer.precision: `test --trainer.precision=bf16-mixed` wrote the same metrics.json as 32-true, while its
    config_test.yaml said bf16-mixed. Under a Trainer each convenience runs the model at its precision (the answers
    float32, as under the caller's own autocast); outside one, at the caller's."""
    from types import SimpleNamespace

    from lightning.pytorch.plugins.precision import MixedPrecision, Precision

    seen = []  # the autocast dtype at each pass through the head, None without autocast
    tiny_module.model.head.register_forward_hook(lambda *_: seen.append(
        torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None))
    ctx_pos, ctx_val = torch.rand(2, 5, 1) * 2 - 1, torch.rand(2, 5, 1)  # [B, K, P], [B, K, V]
    qry_pos, qry_val = torch.rand(2, 7, 1) * 2 - 1, torch.rand(2, 7, 1)  # [B, Q, P], [B, Q, V]

    def call_each() -> list:
        seen.clear()
        answers = [tiny_module.predict_params(ctx_pos, ctx_val, qry_pos).float(),  # [B, Q, NP]
                   tiny_module.mean_field(ctx_pos, ctx_val, qry_pos),  # [B, Q, V]
                   tiny_module.log_prob(ctx_pos, ctx_val, qry_pos, qry_val),  # [B, Q]
                   tiny_module.sample(ctx_pos, ctx_val, qry_pos, n_autoregressive=2, seed=0),  # [B, 1, Q, V]
                   tiny_module.complete(ctx_pos, ctx_val, (8,), num_samples=1, n_autoregressive=2, seed=0).mean]
        assert all(a.dtype == torch.float32 and a.isfinite().all() for a in answers)
        return answers

    call_each()
    assert seen and set(seen) == {None}  # no Trainer: the caller's precision (none here)
    tiny_module._trainer = SimpleNamespace(precision_plugin=MixedPrecision(precision, "cpu") if dtype else Precision())
    try:
        call_each()
    finally:
        tiny_module._trainer = None
    assert seen and set(seen) == {dtype}


def test_the_training_loss_reads_half_precision_logits_in_float32():
    """The fit's loss (head_loss) took the log-sum-exp of the head's bf16 logits in bf16 under CPU autocast (a CUDA
    autocast runs logsumexp in float32): a query's loss was off by up to 0.08 nats here from the loss of the same
    logits in float32 (0.5 with larger logits). It reads them in float32, as the NLL does."""
    from pixeltransformer.distribution import BinnedGaussian

    gen = torch.Generator().manual_seed(0)
    dist = BinnedGaussian(torch.linspace(0, 1, 256).unsqueeze(-1), unit=1 / 255)
    head = torch.nn.Linear(64, dist.num_params)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) / 8 ** 0.5)  # logits up to about 20
    features, value = torch.randn(2048, 64, generator=gen), torch.rand(2048, 1, generator=gen)  # [N, D], [N, V]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = dist.head_loss(features, head, value)  # [N]
        logits = head(features)[:, :256].float()  # [N, NB]: the head's logits as autocast rounds them
    params = torch.cat([logits, head(features)[:, 256:]], dim=-1).detach()  # [N, NP]: the rest in float32
    assert logits.abs().max() > 10
    torch.testing.assert_close(got.detach(), dist.loss(params, value), rtol=1e-4, atol=1e-4)
