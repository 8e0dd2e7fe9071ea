"""Model, set sampler and inference: the contracts every domain relies on."""

import pickle
import re

import numpy as np
import pytest
import torch

from pixeltransformer.bins import kmeans_centres
from pixeltransformer.inference import decode_chunked, sample
from pixeltransformer.model import PixelTransformer
from pixeltransformer.sets import SetSampler, grid_positions, read_signal
from pixeltransformer.signal import SignalSpec

from perturb import perturbed


def _model(p=2, v=1, **kw):
    torch.manual_seed(0)
    return PixelTransformer(pos_dims=p, val_dims=v, num_params=3 * (2 + v), width=32, encoder_layers=2,
                            decoder_layers=2, heads=4, ffn=64, fourier_features=16, **kw).eval()


@pytest.mark.parametrize("distance_bias", [False, True])
def test_permutation_invariant_in_context(distance_bias):
    m = perturbed(_model(distance_bias=distance_bias))  # the default init's outputs barely depend on S
    ctx_pos, ctx_val, qry = torch.rand(2, 12, 2) * 2 - 1, torch.rand(2, 12, 1), torch.rand(2, 5, 2) * 2 - 1
    perm = torch.randperm(12)
    a = m(ctx_pos, ctx_val, qry)
    b = m(ctx_pos[:, perm], ctx_val[:, perm], qry)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("distance_bias", [False, True])
def test_queries_are_independent_and_chunking_is_exact(distance_bias):
    m = perturbed(_model(distance_bias=distance_bias))
    ctx_pos, ctx_val, qry = torch.rand(2, 9, 2) * 2 - 1, torch.rand(2, 9, 1), torch.rand(2, 50, 2) * 2 - 1
    mem = m.encode(ctx_pos, ctx_val)
    whole = m.decode(mem, qry)
    chunked = decode_chunked(m, mem, qry, chunk=7)
    assert torch.allclose(whole, chunked, atol=1e-5)
    assert torch.allclose(m.decode(mem, qry[:, 3:4]), whole[:, 3:4], atol=1e-5)


def test_fourier_frequencies_fixed_by_seed():
    a, b = _model(fourier_seed=3), _model(fourier_seed=3)
    c = _model(fourier_seed=4)
    assert torch.equal(a.fourier.freqs, b.fourier.freqs)
    assert not torch.equal(a.fourier.freqs, c.fourier.freqs)
    assert "fourier.freqs" in a.state_dict()


def test_grid_points_read_exact_values():
    signal = torch.rand(2, 3, 5, 7)  # [B, V, H, W]
    pos = grid_positions((5, 7)).unsqueeze(0).expand(2, -1, -1)
    vals = read_signal(signal, pos)  # [B, N, V]
    assert torch.allclose(vals, signal.flatten(2).transpose(1, 2), atol=1e-6)


@pytest.mark.parametrize("grid", [(11,), (6, 5), (4, 5, 3)])
def test_linear_reading_between_points_and_clamped_border(grid):
    # a signal that is linear in every axis is read exactly anywhere, and positions beyond the border clamp
    axes = torch.meshgrid(*[torch.linspace(-1, 1, n) for n in grid], indexing="ij")
    signal = sum((i + 1) * a for i, a in enumerate(axes)).unsqueeze(0).unsqueeze(0)  # [1, 1, *grid]
    pos = torch.rand(1, 40, len(grid)) * 2 - 1
    expected = sum((i + 1) * pos[..., i] for i in range(len(grid)))
    assert torch.allclose(read_signal(signal, pos)[..., 0], expected, atol=1e-5)
    outside = torch.full((1, 1, len(grid)), 3.0)
    assert torch.allclose(read_signal(signal, outside), signal.flatten()[-1].view(1, 1, 1), atol=1e-6)


def test_set_sampler_bounds_and_values():
    signal = torch.rand(3, 1, 16, 16)
    sampler = SetSampler(4, 64, 32)
    gen = torch.Generator().manual_seed(0)
    ks = set()
    for _ in range(20):
        s = sampler(signal, gen)
        ks.add(s.num_context)
        assert 4 <= s.num_context <= 64
        assert s.ctx_pos.abs().max() <= 1 and s.qry_val.min() >= 0 and s.qry_val.max() <= 1
        assert s.ctx_pos.shape == (3, s.num_context, 2) and s.qry_val.shape == (3, 32, 1)
    assert len(ks) > 5


def test_focused_queries_share_near_the_band():
    """A fraction f of the queries lands near the grid points whose value is in the band; the rest stay
    uniform, so the share of near-band queries is f + (1 - f) p_uniform. The context stays uniform."""
    r = 32
    axis = torch.linspace(-1, 1, r)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    sdf = ((z**2 + y**2 + x**2).sqrt() - 0.5).clamp(-0.5, 0.5)  # a sphere
    signal = sdf.expand(4, 1, r, r, r).contiguous()  # [B, 1, R, R, R]
    cell = 2 / (r - 1)
    near = lambda v: v.abs() < 0.05 + 0.87 * cell  # the band plus the jitter's reach (half a cell diagonal)
    uniform = SetSampler(16, 16, 4000)(signal, torch.Generator().manual_seed(0))
    p_uniform = near(uniform.qry_val).float().mean().item()
    assert p_uniform < 0.2
    for f in (0.5, 0.8):
        sampler = SetSampler(16, 16, 4000, focus_fraction=f, focus_band=(-0.05, 0.05))
        s = sampler(signal, torch.Generator().manual_seed(1))
        share = near(s.qry_val).float().mean().item()
        assert share == pytest.approx(f + (1 - f) * p_uniform, abs=0.03), (f, share)
        assert near(s.qry_val[:, : int(f * 4000)]).all()  # every focused query is near
        assert near(s.ctx_val).float().mean().item() < 0.35  # the context is not focused
        assert s.qry_pos.abs().max() <= 1
    # a signal with nothing in the band falls back to uniform queries instead of failing
    flat = SetSampler(4, 4, 100, focus_fraction=1.0, focus_band=(-0.05, 0.05))(torch.full((1, 1, 8, 8, 8), 0.1),
                                                                               torch.Generator().manual_seed(2))
    assert flat.qry_pos.shape == (1, 100, 3)
    with pytest.raises(ValueError, match="focus_band"):
        SetSampler(4, 4, 10, focus_fraction=0.5)


def test_set_sampler_rejects_k_larger_than_grid():
    with pytest.raises(ValueError, match="larger than the 16 grid points"):
        SetSampler(1, 100, 4, grid_points=True)(torch.rand(1, 1, 4, 4), torch.Generator(), num_context=20)


def test_sampling_keeps_observed_values_and_order_depends_on_seed(tiny_module):
    m = tiny_module
    signal = torch.randn(2, 1, 64)
    s = m.draw_sets(signal, num_context=6, generator=torch.Generator().manual_seed(0))
    qry = m.grid_queries(2)  # [B, N, P]
    a = m.sample(s.ctx_pos, s.ctx_val, qry, num_samples=3, n_autoregressive=10, seed=1)  # [B, S, N, V]
    b = m.sample(s.ctx_pos, s.ctx_val, qry, num_samples=3, n_autoregressive=10, seed=1)
    c = m.sample(s.ctx_pos, s.ctx_val, qry, num_samples=3, n_autoregressive=10, seed=2)
    assert a.shape == (2, 3, 64, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    idx = ((s.ctx_pos[..., 0] + 1) / 2 * 63).round().long()  # grid indices of the context
    for i in range(2):
        for j in range(3):
            assert torch.allclose(a[i, j, idx[i], 0], s.ctx_val[i, :, 0])
    assert not torch.allclose(a[:, 0], a[:, 1])  # chains differ


def test_a_completions_spread_and_probability_keep_s_where_the_mean_does(tiny_module):
    """At the grid points S lies on, the mean is S's value; the band (std) and P(v < t) beside it were the model's
    own there: now 0 and S's side of t. Elsewhere they are the model's."""
    m = tiny_module
    signal = torch.randn(2, 1, 64)
    s = m.draw_sets(signal, num_context=6, generator=torch.Generator().manual_seed(0))
    c = m.complete(s.ctx_pos, s.ctx_val, (64,))
    idx = ((s.ctx_pos[..., 0] + 1) / 2 * 63).round().long()  # [B, K] grid indices of the context
    observed = torch.zeros(2, 64, dtype=torch.bool).scatter_(1, idx, True)  # [B, N]
    sd, below = c.std()[:, 0], c.prob_below(0.0)  # [B, N] each
    model_sd = c.dist.variance(c.params).sqrt()[..., 0]  # [B, N]
    model_below = c.dist.cdf(c.params, 0.0)[..., 0]  # [B, N]
    assert (sd[observed] == 0).all() and torch.equal(sd[~observed], model_sd[~observed])
    assert (model_sd[observed] > 0).all()  # so the test can fail
    truth_below = torch.zeros(2, 64).scatter_(1, idx, (s.ctx_val[..., 0] < 0).float())  # [B, N]
    assert torch.equal(below[observed], truth_below[observed])
    assert torch.equal(below[~observed], model_below[~observed])


@pytest.mark.parametrize("n_autoregressive", [None, 14])
def test_a_signals_samples_do_not_depend_on_the_other_signals_of_its_batch(tiny_module, n_autoregressive):
    """Every chain took as many autoregressive steps as the batch's chain with the fewest unobserved queries: beside
    a signal whose S lies on the grid, a signal whose S lies between grid points got some of its queries filled with
    the mean, and n_autoregressive=None did not sample every query."""
    m = tiny_module
    on_grid = grid_positions((16,))[[0, 3, 7, 12]].unsqueeze(0)  # [1, 4, 1]: 4 of the 16 queries are observed
    off_grid = torch.tensor([[[-0.91], [-0.33], [0.27], [0.81]]])  # [1, 4, 1]: none is
    val = torch.tensor([[[0.5], [1.0], [-0.5], [2.0]]])  # [1, 4, 1]
    options = dict(num_samples=2, n_autoregressive=n_autoregressive)
    alone = m.complete(off_grid, val, (16,), seed=[5], **options).samples  # [1, 2, 1, 16]
    batch = m.complete(torch.cat([on_grid, off_grid]), torch.cat([val, val]), (16,), seed=[9, 5], **options).samples
    assert torch.allclose(batch[1], alone[0], atol=1e-4)  # [2, 1, 16]
    first = m.complete(on_grid, val, (16,), seed=[9], **options).samples  # [1, 2, 1, 16]
    assert torch.allclose(batch[0], first[0], atol=1e-4)


def test_the_mean_of_the_points_not_drawn_is_read_a_chunk_at_a_time(monkeypatch):
    """The samples' points not drawn were decoded into the parameters of every chain at once, [S, R, NP], before
    their mean was read: 38 GB for 3 samples of an SDF model (150 bins) at --resolution 192, past the memory check,
    which counts the mean's parameters alone. Each chunk's parameters are now read into their mean [S, chunk, V],
    which gives the samples of the path before to float32 rounding (a model of 32 bins)."""
    import domains.images.domain  # noqa: F401 - the domain the spec names
    import pixeltransformer.inference as inference
    from pixeltransformer.module import PixelTransformerModule

    spec = SignalSpec(domain="images", dataset="digits", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0),
                      num_bins=32)
    torch.manual_seed(0)
    m = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64)).eval()
    decode, dist_mean, rows = inference.decode_chunked, m.dist.mean, []

    def whole_then_mean(model, memory, qry_pos, chunk=16384, progress=None, read=None):
        """The path before: every chain's parameters [BS, R, NP] first, then their mean."""
        params = decode(model, memory, qry_pos, chunk, progress)  # [BS, R, NP]
        return params if read is None else read(params)

    def mean(params):  # [..., Q, NP] -> [..., Q, V]
        rows.append(params.shape[-2])
        return dist_mean(params)

    ctx_pos, ctx_val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    qry_pos = grid_positions((8, 8)).unsqueeze(0).expand(2, -1, -1)  # [2, 64, 2]
    options = dict(num_samples=2, n_autoregressive=4, chunk=8, seed=1)
    monkeypatch.setattr(m.dist, "mean", mean)
    chunked = m.sample(ctx_pos, ctx_val, qry_pos, **options)  # [2, 2, 64, 1]
    assert rows and max(rows) <= 8  # 60 points not drawn, a chunk of 8 at a time
    monkeypatch.setattr(inference, "decode_chunked", whole_then_mean)
    before = m.sample(ctx_pos, ctx_val, qry_pos, **options)  # [2, 2, 64, 1]
    assert max(rows) == 60  # the path before read them whole
    assert torch.allclose(chunked, before, atol=1e-6, rtol=0)


@pytest.mark.parametrize("distance_bias", [False, True])
def test_incremental_encoder_cache_matches_full_encode(distance_bias):
    m = _model(encoder="incremental", distance_bias=distance_bias)
    ctx_pos, ctx_val = torch.rand(2, 10, 2) * 2 - 1, torch.rand(2, 10, 1)
    full = m.encode_rows(ctx_pos, ctx_val)  # [B, K, D]
    cache = m.new_cache(2, 10, torch.device("cpu"), torch.float32)
    rows = [m.encode_append(cache, ctx_pos[:, :4], ctx_val[:, :4])]
    for t in range(4, 10):
        rows.append(m.encode_append(cache, ctx_pos[:, t : t + 1], ctx_val[:, t : t + 1]))
    assert torch.allclose(torch.cat(rows, 1), full, atol=1e-5)


def test_cached_and_uncached_sampling_agree():
    from pixeltransformer.distribution import BinnedGaussian

    spec = SignalSpec(domain="t", dataset="t", grid_shape=(6, 6), val_dims=1, val_range=(0, 1), num_bins=3)
    dist = BinnedGaussian.from_spec(spec)
    m = perturbed(_model(encoder="incremental"), 0.1)  # 0.2: float32 round-off of 36 steps reaches 2e-5
    ctx_pos, ctx_val = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1)
    qry = grid_positions((6, 6)).unsqueeze(0)
    a = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, seed=0, use_cache=True)
    b = sample(m, dist, ctx_pos, ctx_val, qry, num_samples=2, n_autoregressive=None, seed=0, use_cache=False)
    assert torch.allclose(a, b, atol=1e-5)


def test_kmeans_centres_find_clusters():
    gen = torch.Generator().manual_seed(0)
    true = torch.tensor([[0.1, 0.1, 0.1], [0.9, 0.2, 0.2], [0.2, 0.8, 0.9]])
    pts = torch.cat([c + 0.02 * torch.randn(300, 3, generator=gen) for c in true])
    found = kmeans_centres(pts, 3, seed=0)
    assert torch.cdist(true, found).min(1).values.max() < 0.03
    assert torch.equal(found, kmeans_centres(pts, 3, seed=0))


def test_spec_round_trip_and_errors():
    spec = SignalSpec(domain="images", dataset="x", grid_shape=(4, 4), val_dims=3, val_range=(0, 1), num_bins=8)
    assert SignalSpec.from_dict(spec.to_dict()) == spec
    assert spec.bin_centres().shape == (8, 3)
    with pytest.raises(ValueError, match="num_bins = n"):
        SignalSpec(domain="i", dataset="x", grid_shape=(4, 4), val_dims=3, val_range=(0, 1), num_bins=10).bin_centres()
    with pytest.raises(ValueError, match="val_range"):
        SignalSpec(domain="i", dataset="x", grid_shape=(4,), val_dims=1, val_range=(1, 0))


def test_grid_context_is_distinct_even_when_queries_overflow_the_grid():
    sampler = SetSampler(1, 64, 16, grid_points=True)
    s = sampler(torch.rand(2, 1, 8, 8), torch.Generator().manual_seed(0), num_context=64)
    for b in range(2):
        assert torch.unique(s.ctx_pos[b], dim=0).shape[0] == 64


def test_bin_prior_init_sets_log_frequencies_once_on_fresh_runs():
    import warnings

    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec(domain="images", dataset="toy", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0), num_bins=4)
    module = PixelTransformerModule(spec=spec, net=dict(width=64, ffn=128),
                                    sets=dict(min_context=4, max_context=8, num_queries=8))
    signal = torch.full((2, 1, 8, 8), 0.1)  # [B, V, H, W]: 3/4 of the values in bin 0, 1/4 in bin 3
    signal[:, :, :2] = 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log() outside a Trainer
        module.training_step({"signal": signal}, 0)
    q = torch.softmax(module.model.head.bias[:4].detach(), 0)  # [NB]
    assert torch.allclose(q, 0.5 * torch.tensor([0.75, 0.0, 0.0, 0.25]) + 0.5 / 4, atol=1e-6)
    module.model.head.bias.data.zero_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.training_step({"signal": signal}, 1)  # later steps leave the biases to the optimiser
    assert module.model.head.bias.abs().max() == 0
    resumed = PixelTransformerModule(spec=spec, net=dict(width=64, ffn=128), objective=dict(bin_prior_init=False),
                                     sets=dict(min_context=4, max_context=8, num_queries=8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed.training_step({"signal": signal}, 0)
    assert resumed.model.head.bias.abs().max() == 0


def test_one_gaussian_without_a_value_frame_warns_of_values_far_beyond_its_range(tiny_module, poly_spec):
    """One Gaussian's val_range only normalises, so values far beyond it trained on without a word (polynomials
    1e5 times the range: train/loss 8.5e9); the first training batch now says so, once. Values near the range, and
    a model with a value frame, say nothing."""
    import warnings

    from pixeltransformer.module import PixelTransformerModule

    signal = torch.linspace(-1, 1, 64).view(1, 1, 64).repeat(2, 1, 1)  # [B, V, N]
    with pytest.warns(UserWarning, match=r"^the first training batch's values span \[-2000, 2000\], 400 times the "
                                         r"half-width of val_range \[-5, 5\], .* or set model.net.value_norm: true$"):
        tiny_module.training_step({"signal": 2000 * signal}, 0)
    # a DataModule of one's own, without a val_range option: the hint names its spec, not an option it lacks
    from types import SimpleNamespace

    from pixeltransformer.datamodule import SignalDataModule

    class Heights(SignalDataModule):
        spec = poly_spec

        def build_split(self, split):
            return []

    tiny_module._trainer = SimpleNamespace(datamodule=Heights())
    assert tiny_module.range_option() == "the SignalSpec that Heights.spec returns"
    tiny_module._trainer = SimpleNamespace(datamodule=None)
    assert tiny_module.range_option() == "data.init_args.val_range"
    tiny_module._trainer = None
    framed = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, value_norm=True),
                                    sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True))
    for module, values in ((PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128),
                                                   sets=dict(min_context=4, max_context=10, num_queries=8,
                                                             grid_points=True)), 6 * signal),
                           (framed, 2000 * signal)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module.training_step({"signal": values}, 0)
        assert not [w for w in caught if "first training batch" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:  # once a fit
        warnings.simplefilter("always")
        tiny_module.training_step({"signal": 2000 * signal}, 1)
    assert not [w for w in caught if "first training batch" in str(w.message)]


def test_hidden_layers_and_head_start_small_and_input_embeddings_at_fan_in():
    from pixeltransformer.model import PixelTransformer

    torch.manual_seed(0)
    model = PixelTransformer(2, 3, 16)
    assert abs(model.encoder[0].attn.q.weight.std().item() - 0.02) < 0.003
    assert model.head.weight.std().item() < 0.03
    proj = model.ctx_pos_proj
    assert abs(proj.weight.std().item() - proj.in_features ** -0.5) < 0.01


def test_module_is_a_composition_of_a_few_configs(poly_spec):
    """At most 10 constructor parameters; each config group accepts its dataclass or a plain dict, the two build the
    same module, and the saved hyperparameters are plain types grouped as the configs."""
    import inspect

    from pixeltransformer.config import NetConfig, ObjectiveConfig, OptimConfig
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import SetSampler

    assert len(inspect.signature(PixelTransformerModule).parameters) <= 10
    torch.manual_seed(0)
    a = PixelTransformerModule(spec=poly_spec, net=NetConfig(width=32, ffn=64, heads=2, value_norm=True),
                               objective=ObjectiveConfig(beta=0.5), sets=SetSampler(3, 9, 5, grid_points=True),
                               optim=OptimConfig(lr=1e-2))
    torch.manual_seed(0)
    b = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64, heads=2, value_norm=True),
                               objective=dict(beta=0.5), sets=dict(min_context=3, max_context=9, num_queries=5,
                                                                   grid_points=True), optim=dict(lr=1e-2))
    assert dict(a.hparams) == dict(b.hparams)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    hp = dict(a.hparams)
    assert hp["net"]["width"] == 32 and hp["net"]["distance_sigma"] == [0.05, 1.0] and hp["objective"]["beta"] == 0.5
    assert hp["sets"] == {"class_path": "pixeltransformer.sets.SetSampler",
                          "init_args": {"min_context": 3, "max_context": 9, "num_queries": 5, "grid_points": True,
                                        "focus_fraction": 0.0, "focus_band": None}}
    assert a.model.encoder[0].attn.heads == 2 and a.dist.framed and a.optim_config.lr == 1e-2
    rebuilt = PixelTransformerModule(**hp)  # as a checkpoint's hyperparameters rebuild it
    assert dict(rebuilt.hparams) == hp
    with pytest.raises(ValueError, match="unknown model.net option.*widht"):
        PixelTransformerModule(spec=poly_spec, net=dict(widht=32))


def test_the_sweeps_mean_keeps_s_at_the_queries_s_lies_on(tiny_module, monkeypatch):
    """Every domain scores the mean a completion shows, with S's own values at the queries S lies on (grid points):
    the sweep's item gives it as ``mean``, so no domain keeps S by itself (three did, each its own way, and a new
    domain that did not scored the model's mean there). ``model_mean`` is the model's at every query."""
    from pixeltransformer.evaluation import SweepEvaluation

    ev = SweepEvaluation(levels=(8,), num_samples=0)
    seen = []
    monkeypatch.setattr(ev, "metrics", lambda item, module: seen.append(item) or {})
    signal = torch.rand(2, *tiny_module.spec.grid_shape, generator=torch.Generator().manual_seed(0)).unsqueeze(1)
    ev.evaluate_batch(tiny_module, {"signal": signal, "index": torch.arange(2)}, 0)  # signal [2, 1, N]
    item = seen[0]
    held = item.held_out  # [B, Q]
    assert int((~held).sum()) == 2 * 8  # S lies on 8 grid points of each signal
    assert torch.equal(item.mean[~held], item.qry_val[~held])
    assert torch.equal(item.mean[held], item.model_mean[held])
    assert (item.model_mean[~held] - item.qry_val[~held]).abs().max() > 1e-3  # the model's own mean differs there


@pytest.mark.parametrize("options, message", [
    (dict(net=dict(chunk=-1)), "model.net.chunk must be >= 1, got -1"),
    (dict(net=dict(chunk=0)), "model.net.chunk must be >= 1, got 0"),
    (dict(net=dict(heads=0)), "model.net.heads must be >= 1, got 0"),
    (dict(net=dict(width=-32)), "model.net.width must be >= 1, got -32"),
    (dict(net=dict(ffn=0)), "model.net.ffn must be >= 1, got 0"),
    (dict(net=dict(fourier_features=-1)), "model.net.fourier_features must be >= 0, got -1"),
    (dict(objective=dict(alpha=-0.1)), "model.objective.alpha must be > 0, got -0.1"),
    (dict(optim=dict(lr=0.0)), "model.optim.lr must be > 0, got 0.0"),
    (dict(optim=dict(weight_decay=-0.01)), "model.optim.weight_decay must be >= 0, got -0.01"),
    (dict(optim=dict(warmup_steps=-5)), "model.optim.warmup_steps must be >= 0, got -5"),
    (dict(optim=dict(min_lr_ratio=-0.05)), "model.optim.min_lr_ratio must be in [0, 1], got -0.05"),
    (dict(val_levels=()), "model.val_levels must list |S| levels >= 1, got []"),
    (dict(val_levels=(4, 0)), "model.val_levels must list |S| levels >= 1, got [4, 0]"),
    # each was refused without the option's name, or taken: NaN losses or weights at the first step, a TypeError
    # from inside torch, or a tuple unpacking error
    (dict(net=dict(width=66)), "model.net.width=66 must be divisible by model.net.heads=4 (each head reads width / "
                               "heads channels)"),
    (dict(net=dict(encoder="sideways")),
     "model.net.encoder must be one of bidirectional, buffered, incremental; got 'sideways'"),
    (dict(net=dict(width=64.5)), "model.net.width must be a whole number, got 64.5"),
    (dict(net=dict(fourier_scale=float("nan"))), "model.net.fourier_scale must be a finite number, got nan"),
    (dict(net=dict(fourier_scale=float("inf"))), "model.net.fourier_scale must be a finite number, got inf"),
    (dict(net=dict(fourier_scale=-1.0)), "model.net.fourier_scale must be >= 0, got -1.0"),
    (dict(net=dict(fourier_seed=2 ** 70)), f"model.net.fourier_seed must be in [-2^63, 2^64), got {2 ** 70}"),
    (dict(net=dict(distance_sigma=(0.1,))), "model.net.distance_sigma must be two widths (min, max), got (0.1,)"),
    (dict(net=dict(distance_sigma=(1.0, 0.05))),
     "model.net.distance_sigma must be finite widths 0 < min <= max, got [1.0, 0.05]"),
    (dict(net=dict(distance_sigma=(0.05, float("inf")))),
     "model.net.distance_sigma must be finite widths 0 < min <= max, got [0.05, inf]"),
    (dict(objective=dict(alpha=float("inf"))), "model.objective.alpha must be a finite number, got inf"),
    (dict(objective=dict(beta=float("nan"))), "model.objective.beta must be a finite number, got nan"),
    (dict(objective=dict(beta=-1.0)), "model.objective.beta must be >= 0, got -1.0"),
    (dict(objective=dict(gaussian_term="gauss")), "model.objective.gaussian_term must be 'paper' or 'nll', got 'gauss'"),
    (dict(optim=dict(lr=float("inf"))), "model.optim.lr must be a finite number, got inf"),
    (dict(optim=dict(weight_decay=float("inf"))), "model.optim.weight_decay must be a finite number, got inf"),
    (dict(optim=dict(warmup_steps=1.5)), "model.optim.warmup_steps must be a whole number, got 1.5"),
    (dict(seed=2 ** 70), f"model.seed must be a whole number in [-2^63, 2^63), got {2 ** 70}"),
])
def test_options_out_of_range_are_named_in_one_line(poly_spec, options, message):
    from pixeltransformer.module import PixelTransformerModule

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PixelTransformerModule(spec=poly_spec, **options)


def test_a_distance_width_range_is_not_checked_without_the_distance_bias(poly_spec):
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(distance_bias=False, distance_sigma=(1.0, 0.05)))
    assert m.net_config.distance_sigma == (1.0, 0.05)


@pytest.mark.parametrize("min_context", [64, 100])
def test_a_fit_whose_sets_at_grid_points_would_hold_every_point_is_refused(poly_spec, min_context):
    """The sampler caps |S| at the grid's 64 points: a min_context at or above them trained on sets of every point
    (every query one S holds), without a word."""
    from pixeltransformer.module import PixelTransformerModule

    sets = dict(min_context=min_context, max_context=200, num_queries=8, grid_points=True)
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128), sets=sets)
    with pytest.raises(ValueError, match=re.escape(
            f"model.sets.min_context={min_context} is at least the 64 grid points of polynomial/polynomial signals "
            f"(64,): at grid points every training set would hold every point and leave no query unobserved; give "
            f"min_context below 64")):
        m.setup("fit")
    m.setup("test")  # an evaluation does not draw training sets
    m.teardown("test")
    ok = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128), sets={**sets, "min_context": 63})
    ok.setup("fit")
    ok.teardown("fit")


def test_decode_chunked_refuses_a_chunk_below_one():
    m = _model()
    with pytest.raises(ValueError, match="chunk must be >= 1, got -1"):
        decode_chunked(m, m.encode(torch.rand(1, 4, 2), torch.rand(1, 4, 1)), torch.rand(1, 9, 2), chunk=-1)


def test_a_completion_over_several_chunks_shows_the_progress_of_its_means(tiny_module, capsys, monkeypatch):
    """make sample of a 64x64 clip (69 632 points, 5 chunks) showed the progress of its N' sampled steps alone: the
    means at every point before them and at the points not drawn after them, most of its time on a CPU, showed none."""
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    s = tiny_module.draw_sets(torch.randn(1, 1, 64), num_context=6, generator=torch.Generator().manual_seed(0))

    def shown() -> list[str]:  # the lines but the encodings' (test_a_completion_shows_the_progress_of_its_encoding)
        return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[encoding")]

    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), num_samples=2, n_autoregressive=4, chunk=16, progress=True)
    lines = shown()
    assert lines[-1].startswith("[mean at 60 points not drawn x 2 chains] 4/4 chunks (100%), ")
    assert lines[0].startswith("[mean at 64 points] 1/4 chunks (25%), ")
    assert any(line.startswith("[sampling 4 steps x 2 chains] 4/4 steps (100%)") for line in lines)
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), num_samples=1, n_autoregressive=4, chunk=16, progress=True)
    one = shown()  # one chain, not "1 chains"
    assert one[-1].startswith("[mean at 60 points not drawn x 1 chain] 4/4 chunks")
    assert any(line.startswith("[sampling 4 steps x 1 chain] 4/4 steps") for line in one)
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), num_samples=2, n_autoregressive=4, chunk=16)
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), num_samples=2, n_autoregressive=4, progress=True)  # one chunk
    assert shown() == [line for line in lines if line.startswith("[sampling")]


def test_a_completion_shows_the_progress_of_its_encoding(tiny_module, capsys, monkeypatch):
    """`predict --context` of 50 000 rows on the 1D model spent minutes encoding S (every point attends to every
    other: K^2) before the first chunk of the mean, without a line. Its encoding shows a line per encoder layer, as
    the mean shows its chunks; so does an S that fits a chunk (16 384 rows on the small images model: 37 s without a
    line), whose encoding was not shown: only an encoding over a second shows (the loops' delay, DELAY_SECONDS)."""
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    s = tiny_module.draw_sets(torch.randn(1, 1, 64), num_context=40, generator=torch.Generator().manual_seed(0))
    layers = tiny_module.net_config.encoder_layers
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"[encoding S of 40 points] 1/{layers} layers ")
    assert any(line.startswith(f"[encoding S of 40 points] {layers}/{layers} layers (100%)") for line in lines)
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=40, progress=True)  # S fits a chunk: shown alike
    assert any(line.startswith(f"[encoding S of 40 points] {layers}/{layers} layers (100%)")
               for line in capsys.readouterr().err.splitlines())
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16)  # no progress asked
    assert capsys.readouterr().err == ""


def test_a_large_s_shows_each_encoder_layer_by_chunks_of_rows(tiny_module, capsys, monkeypatch):
    """`predict` at |S| = 65 536 on a CPU showed its first line after a whole encoder layer, minutes in. Where S holds
    two chunks of model.ENCODE_ROWS rows or more (16 here: rows 0-15 and 16-39), each layer attends a chunk of query
    rows at a time, and the lines count the chunks, naming the layer and the share of it done. The mean is the one
    call's to the bit; without progress a layer is one call, and shows nothing."""
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    s = tiny_module.draw_sets(torch.randn(1, 1, 64), num_context=40, generator=torch.Generator().manual_seed(0))
    layers = tiny_module.net_config.encoder_layers
    whole = tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16, progress=True).mean  # [1, 1, 64]
    capsys.readouterr()
    monkeypatch.setattr("pixeltransformer.model.ENCODE_ROWS", 16)
    chunked = tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16, progress=True).mean  # [1, 1, 64]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[encoding")]
    assert len(lines) == 2 * layers, lines
    assert lines[0].startswith(f"[encoding S of 40 points] 1/{2 * layers} chunks ({100 / (2 * layers):.0f}%), ")
    assert lines[0].endswith(f" left, layer=1/{layers} (40%)") and lines[1].endswith(f"layer=1/{layers} (100%)")
    assert lines[-1].startswith(f"[encoding S of 40 points] {2 * layers}/{2 * layers} chunks (100%)")
    assert lines[-1].endswith(f"layer={layers}/{layers} (100%)")
    assert torch.equal(chunked, whole)
    tiny_module.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("encoder, words", [("buffered", "encoding S of 40 points x 2 chains"),
                                             ("bidirectional", "encoding S of 40 points and 4 drawn x 2 chains")])
def test_samples_of_a_large_s_show_each_encoder_layer_by_chunks_of_rows(poly_spec, capsys, monkeypatch, encoder,
                                                                         words):
    """Sampling's encodings of S (the buffered encoder's cache, the bidirectional encoder's S and its drawn values)
    show the chunks of a large S as the mean's does; the samples are the one call's to the bit."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer.module import PixelTransformerModule

    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder=encoder, attention_sink=True),
                               sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()
    s = m.draw_sets(torch.randn(1, 1, 64), num_context=40, generator=torch.Generator().manual_seed(0))
    layers = m.net_config.encoder_layers

    def completed():
        return m.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16, progress=True, num_samples=2, n_autoregressive=4)

    whole = completed()
    capsys.readouterr()
    monkeypatch.setattr("pixeltransformer.model.ENCODE_ROWS", 16)
    chunked = completed()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"[{words}]")]
    assert lines[0].startswith(f"[{words}] 1/{2 * layers} chunks "), lines
    assert lines[-1].startswith(f"[{words}] {2 * layers}/{2 * layers} chunks (100%)")
    assert lines[-1].endswith(f"layer={layers}/{layers} (100%)")
    assert torch.equal(chunked.mean, whole.mean) and torch.equal(chunked.samples, whole.samples)


@pytest.mark.parametrize("sigma_range", [None, (0.05, 1.0)])
@pytest.mark.parametrize("sink", [False, True])
def test_attention_in_spans_is_the_one_call_to_the_bit(sigma_range, sink):
    """Attention.attend_in_spans (a large S shown on a CPU) gives forward(x, x)'s rows to the bit, with and without the
    distance bias and the sink (its row joined to the keys once for every span)."""
    from pixeltransformer.model import Attention

    torch.manual_seed(0)
    att = Attention(width=32, heads=4, pos_dims=2, sigma_range=sigma_range, sink=sink)
    with torch.no_grad():  # a sink that takes weight and adds a value
        for p in att.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, pos = torch.randn(2, 40, 32), torch.rand(2, 40, 2) * 2 - 1  # [B, N, D], [B, N, P]
    spans = att.attend_in_spans(x, pos, [(0, 16), (16, 40)])
    stops = []
    while True:
        try:
            stops.append(next(spans))
        except StopIteration as done:
            got = done.value  # [B, N, D]
            break
    assert stops == [16, 40]
    assert torch.equal(got, att(x, x, x_pos=pos, src_pos=pos))


def test_row_spans_leave_no_short_last_span():
    from pixeltransformer.model import row_spans

    assert row_spans(40, 16) == [(0, 16), (16, 40)]
    assert row_spans(31, 16) == [(0, 31)]
    assert row_spans(32, 16) == [(0, 16), (16, 32)]
    assert row_spans(5, 16) == [(0, 5)]
    assert row_spans(69_000, 4096)[-1] == (61_440, 69_000) and len(row_spans(69_000, 4096)) == 16


@pytest.mark.parametrize("encoder, words", [("buffered", "encoding S of 40 points x 2 chains"),
                                             ("bidirectional", "encoding S of 40 points and 4 drawn x 2 chains")])
def test_samples_show_the_progress_of_their_encoding(poly_spec, capsys, monkeypatch, encoder, words):
    """Sampling encodes S again for its chains (the buffered encoder's cache; the bidirectional encoder's S and its
    drawn values, for the mean at the points not drawn), which showed no line where the mean's encoding did; as the
    mean's, it is shown where S fits a chunk too."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer.module import PixelTransformerModule

    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder=encoder),
                               sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()
    s = m.draw_sets(torch.randn(1, 1, 64), num_context=40, generator=torch.Generator().manual_seed(0))
    layers = m.net_config.encoder_layers
    m.complete(s.ctx_pos, s.ctx_val, (64,), chunk=16, progress=True, num_samples=2, n_autoregressive=4)
    assert any(line.startswith(f"[{words}] {layers}/{layers} layers (100%)")
               for line in capsys.readouterr().err.splitlines())
    m.complete(s.ctx_pos, s.ctx_val, (64,), chunk=64, progress=True, num_samples=2, n_autoregressive=4)  # one chunk
    assert any(line.startswith(f"[{words}] {layers}/{layers} layers (100%)")
               for line in capsys.readouterr().err.splitlines())


def test_training_draws_focused_queries_and_validation_uniform_ones(poly_spec):
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import SetSampler

    focused = SetSampler(4, 8, 16, focus_fraction=0.5, focus_band=(-0.1, 0.1))
    module = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64), sets=focused)
    assert module.sampler.focus_fraction == 0.5 and module.val_sampler.focus_fraction == 0.0
    assert (module.val_sampler.min_context, module.val_sampler.max_context, module.val_sampler.num_queries) == (4, 8, 16)
    plain = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64), sets=dict(max_context=8))
    assert plain.val_sampler is plain.sampler


def test_a_checkpoint_naming_another_sampler_class_gets_the_core_sampler(poly_spec):
    """A class path read from a checkpoint is never imported: the rebuilt module falls back to SetSampler."""
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import SetSampler

    module = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64),
                                    sets={"class_path": "os.system", "init_args": {"command": "false"}})
    assert type(module.sampler) is SetSampler and module.hparams["sets"]["class_path"] == "pixeltransformer.sets.SetSampler"


def test_sweep_plot_gives_each_method_one_colour_in_every_panel():
    from pixeltransformer.evaluation import method_colours, method_of

    groups = {"SSIM": ["ssim", "sample_ssim", "nn_ssim"], "accuracy": ["acc_gt", "acc_mean", "acc_nn"],
              "IoU": ["iou_mean", "iou_rbf", "iou_nn"], "NLL": ["nll_bpd"]}
    assert [method_of(k, groups["accuracy"]) for k in groups["accuracy"]] == ["gt", "model", "nn"]
    assert method_of("nll_bpd", groups["NLL"]) == "model"
    colours = method_colours(groups)
    assert colours["ssim"] == colours["acc_mean"] == colours["iou_mean"] == colours["nll_bpd"]
    assert colours["nn_ssim"] == colours["acc_nn"] == colours["iou_nn"]
    assert len({colours["ssim"], colours["sample_ssim"], colours["nn_ssim"], colours["acc_gt"], colours["iou_rbf"]}) == 5


def test_sweep_plot_legends_name_each_method_beside_its_metric_key(tmp_path, monkeypatch):
    """metrics_vs_context.png: a line reads "nearest-neighbour fill (nn_ssim)", not the bare key; a method without
    a name keeps its key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixeltransformer.evaluation import plot_sweep

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to read its legends
    rows = [{"num_context": k, "ssim": 0.1 * k, "sample_ssim": 0.05 * k, "nn_ssim": 0.2, "odd_ssim": 0.3, "nll": 1.0}
            for k in (4, 16)]
    names = {"model": "model", "sample": "model samples", "nn": "nearest-neighbour fill"}
    plot_sweep(rows, {"NLL": ["nll"], "SSIM": ["ssim", "sample_ssim", "nn_ssim", "odd_ssim"]}, tmp_path / "m.png",
               names=names)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in figures[0].axes]
    assert legends == [["model (nll)"],
                       ["model (ssim)", "model samples (sample_ssim)", "nearest-neighbour fill (nn_ssim)", "odd_ssim"]]
    # each legend lies under its panel, below the |S| label: inside, four long entries covered the lines
    renderer = figures[0].canvas.get_renderer()
    for ax in figures[0].axes:
        box, label = ax.get_legend().get_window_extent(renderer), ax.xaxis.label.get_window_extent(renderer)
        assert box.y1 <= label.y0 and box.y0 >= 0, (box, label)


def test_sweep_plot_ticks_its_axis_at_the_context_sizes_evaluated(tmp_path, monkeypatch):
    """The |S| axis is logarithmic; its ticks read the |S| evaluated ("4", "16", "2048"), not powers 2^k where an
    evaluated size such as 10 or 1024 had no tick at all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixeltransformer.evaluation import plot_sweep

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    levels = (4, 10, 64, 1024, 2048)
    plot_sweep([{"num_context": k, "nll": 1.0 / k} for k in levels], {"NLL": ["nll"]}, tmp_path / "m.png")
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    assert list(ax.get_xticks()) == list(levels)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in levels]
    assert len(ax.xaxis.get_minorticklocs()) == 0


def test_sweep_plot_reads_each_value_without_an_axis_offset(tmp_path, monkeypatch):
    """An NLL that moves in its fifth decimal was drawn as ticks -4, -6 under an offset "1e-5-3.486e-1": each tick
    reads as its value instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pixeltransformer.evaluation import plot_sweep

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    rows = [{"num_context": 256, "nll": -0.3486025}, {"num_context": 1024, "nll": -0.3486075}]
    plot_sweep(rows, {"NLL": ["nll"]}, tmp_path / "m.png")
    ax = figures[0].axes[0]
    figures[0].canvas.draw()
    assert ax.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 2 and all(text.startswith("−0.34860") for text in labels), labels


def test_sweep_plot_shows_lines_with_equal_values(tmp_path, monkeypatch):
    """Methods with equal values (a fitted RBF GP that finds the oracle's kernel, fills exact at a large |S|) were
    drawn as one line: the later covered the earlier, whose colour showed in the legend alone. Inside the panel, each
    of three equal lines now shows its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from pixeltransformer.evaluation import method_colours, plot_sweep

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    # the second panel lists the methods in another order: a method keeps its colour and line style there too
    groups = {"NLL": ["nll", "oracle_nll", "bayes_nll"], "MSE": ["bayes_mse", "oracle_mse", "mse"]}
    rows = [{"num_context": k, **{f"{m}_{x}": 1.0 / k for m in ("oracle", "bayes") for x in ("nll", "mse")},
             "nll": 1.0 / k, "mse": 1.0 / k} for k in (4, 16, 64)]
    plot_sweep(rows, groups, tmp_path / "m.png")
    fig = figures[0]
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255  # [H, W, 3], the figure as drawn
    colours = method_colours(groups)
    for ax, keys in zip(fig.axes, groups.values()):
        box = ax.get_window_extent()  # the panel, in pixels from the bottom left; the legend lies under it
        inside = pixels[int(pixels.shape[0] - box.y1):int(pixels.shape[0] - box.y0), int(box.x0):int(box.x1)]
        for key in keys:
            near = (np.abs(inside - np.array(to_rgb(colours[key]))).max(-1) < 0.08).sum()  # that line's colour
            assert near > 100, (key, colours[key], near)
    styles = [{line.get_label(): (line.get_linestyle(), line.get_marker()) for line in ax.get_lines()}
              for ax in fig.axes]
    assert [styles[0][k] for k in ("nll", "oracle_nll", "bayes_nll")] == \
        [styles[1][k] for k in ("mse", "oracle_mse", "bayes_mse")]


@pytest.mark.parametrize("name", ["polynomial", "images", "sdf", "video"])
def test_every_domain_names_every_method_of_its_sweep_figure(name):
    import importlib

    from pixeltransformer.domain import domain_for
    from pixeltransformer.evaluation import method_of

    importlib.import_module(f"domains.{name}.domain")  # registers it
    domain = domain_for(name)
    groups, names = domain.plot_groups(domain.__new__(domain)), domain.method_names(domain.__new__(domain))
    unnamed = [k for keys in groups.values() for k in keys if method_of(k, keys) not in names]
    assert not unnamed, f"{name}: no legend name for {unnamed}"



@pytest.mark.parametrize("name", ["polynomial", "images", "sdf", "video"])
def test_every_domain_s_sweep_curves_go_to_wandb_under_a_key_the_dashboard_page_names(name, monkeypatch):
    """A panel title with a "/" ("NLL (nats/dim)" of video and sdf, "NLL (bits/dim, ...)" of images) went to W&B as
    eval/NLL (nats/dim): a key of three parts, the page's eval/<curve title> none, and its table's file in a folder
    "NLL (nats". Each curve's key is now eval/ and one name, its title with "/" read " per "."""
    import importlib

    from pixeltransformer import media
    from pixeltransformer.domain import domain_for
    from tests.cli.wandb_record import undocumented

    importlib.import_module(f"domains.{name}.domain")  # registers it
    domain = domain_for(name)
    groups = domain.plot_groups(domain.__new__(domain))
    logged: list[dict] = []

    class Run:
        def log(self, payload):
            logged.append(payload)

    monkeypatch.setattr(media, "wandb_run", lambda trainer: Run())
    rows = [{"num_context": k, **{key: 1.0 / k for keys in groups.values() for key in keys}} for k in (4, 16)]
    media.log_table_and_curves(None, "eval", rows, "num_context", groups)
    keys = set(logged[0])
    assert len(keys) == 1 + len(groups) and all(key.count("/") == 1 for key in keys), sorted(keys)
    assert undocumented(keys | {f"{key}_table" for key in keys}) == []
    if name != "polynomial":
        assert "/" in "".join(groups)  # the case this test is about

def test_the_gp_benchmark_names_its_oracle_and_bayes_predictor():
    from domains.polynomial.evaluation import GPProtocolEvaluation
    from pixeltransformer.evaluation import method_of

    evaluation = GPProtocolEvaluation()
    groups, names = evaluation.plot_groups(None), evaluation.method_names(None)
    assert {method_of(k, keys) for keys in groups.values() for k in keys} <= set(names)
    assert names["bayes"] == "Bayes predictor" and "told" in names["oracle"]


def test_validation_levels_leave_no_level_where_every_query_is_observed():
    """With S at grid points, |S| = every point leaves nothing unobserved to score (the evaluation drops such
    levels too); continuous positions are only capped."""
    from pixeltransformer.module import PixelTransformerModule, validation_levels

    assert validation_levels((4, 16, 64), 16, grid_points=True) == [4]
    assert validation_levels((16, 64), 16, grid_points=True) == [8]
    assert validation_levels((4, 16, 64), 16, grid_points=False) == [4, 16]
    spec = {"domain": "toy", "dataset": "t", "grid_shape": [4, 4], "val_dims": 1, "val_range": [0.0, 1.0],
            "num_bins": 8}
    on_grid = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64), val_levels=(4, 16),
                                     sets=dict(max_context=8, num_queries=4, grid_points=True))
    assert on_grid.val_levels == [4] and list(on_grid.val_nll_means()) == [4]



def test_validation_says_once_which_levels_it_leaves_out(capsys):
    """A fit's validation left out the |S| levels that observe every point of a signal (30 and 50 of model.val_levels
    on a file of 21-point curves) without a word, while the evaluation says so as it starts: the first validation of
    a fit or a validate says it once, in the evaluation's words, and what it scores instead."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    from pixeltransformer.module import PixelTransformerModule

    spec = {"domain": "toy", "dataset": "t", "grid_shape": [4, 4], "val_dims": 1, "val_range": [0.0, 1.0],
            "num_bins": 8}
    sets = dict(max_context=8, num_queries=4, grid_points=True)
    with pytest.warns(UserWarning):  # a domain of this name is not loaded
        m = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64), val_levels=(4, 16, 64), sets=sets)
        whole = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64), val_levels=(16,), sets=sets)
        kept = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64), val_levels=(4,), sets=sets)
    for module, fn in ((m, TrainerFn.FITTING), (whole, TrainerFn.VALIDATING), (kept, TrainerFn.FITTING)):
        module.trainer = SimpleNamespace(is_global_zero=True, state=SimpleNamespace(fn=fn))
        for _ in range(2):  # the sanity check's, then each validation's: said once
            module.on_validation_epoch_start()
    assert capsys.readouterr().out.splitlines() == [
        "[fit] |S| levels 16, 64 observe every one of the 16 points of toy/t: left out of validation, which scores "
        "|S| = 4 (no query would be held out)",
        "[validate] |S| level 16 observes every one of the 16 points of toy/t: left out of validation, which scores "
        "|S| = 8 in its place (no query would be held out)"]

def test_a_domain_that_is_not_loaded_is_named_in_a_warning():
    from pixeltransformer.module import PixelTransformerModule

    spec = {"domain": "nowhere", "dataset": "t", "grid_shape": [4, 4], "val_dims": 1, "val_range": [0.0, 1.0],
            "num_bins": 8}
    with pytest.warns(UserWarning, match=r"no Domain named 'nowhere' is loaded.*import the module of your own "
                                         r"that its config's model\.domain\.class_path names"):
        PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64))


def test_the_inference_conveniences_take_numpy_floats_and_name_bad_input():
    import numpy as np

    from pixeltransformer.module import PixelTransformerModule

    spec = {"domain": "toy", "dataset": "t", "grid_shape": [4, 4], "val_dims": 1, "val_range": [0.0, 1.0],
            "num_bins": 8}
    with pytest.warns(UserWarning):  # a domain of this name is not loaded
        m = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64)).eval()
    rng = np.random.default_rng(0)
    pos, val = torch.from_numpy(rng.uniform(-1, 1, (2, 5, 2))), torch.from_numpy(rng.uniform(0, 1, (2, 5, 1)))
    c = m.complete(pos, val, (4, 4))  # float64, as numpy gives
    assert c.mean.shape == (2, 1, 4, 4) and c.mean.dtype == torch.float32
    assert torch.equal(c.mean, m.complete(pos.float(), val.float(), (4, 4)).mean)
    nan_val, inf_pos = val.clone(), pos.clone()  # [2, 5, 1], [2, 5, 2]
    nan_val[0, 0, 0], inf_pos[1, 2, 1] = float("nan"), float("inf")
    bad = [(lambda: m.complete(pos[0], val[0], (4, 4)), r"ctx_pos must be \[batch >= 1, points >= 1, 2\]"),
           (lambda: m.complete(pos[..., :1], val, (4, 4)), r"ctx_pos must be .* got \[2, 5, 1\]"),
           (lambda: m.complete(pos[:0], val[:0], (4, 4)), r"ctx_pos must be \[batch >= 1, .* got \[0, 5, 2\]"),
           (lambda: m.complete(pos, val, 4), r"grid_shape must give 2 integer sizes"),
           (lambda: m.complete(pos, val, (8.7, 8.7)), r"grid_shape must give 2 integer sizes .* got \(8.7, 8.7\)"),
           (lambda: m.complete(pos, val, "44"), r"grid_shape must give 2 integer sizes .* got 44"),
           (lambda: m.complete(pos, val[:, :3], (4, 4)), "disagree on batch or"),
           (lambda: m.complete(pos, nan_val, (4, 4)), r"^ctx_val holds 1 NaN or infinite entries"),
           (lambda: m.mean_field(inf_pos, val, pos), r"^ctx_pos holds 1 NaN or infinite entries"),
           (lambda: m.mean_field(pos, val, pos * float("nan")), r"^qry_pos holds 20 NaN or infinite entries"),
           (lambda: m.complete(pos, val * 255, (4, 4)),
            r"^ctx_val spans \[.*\], outside the value range \[0, 1\] of toy/t: scale or clip the values into it "
            r"\(0-255 levels\? divide by 255\)$"),  # a picture's 0-255 levels, the likeliest cause, named
           (lambda: m.complete(pos, -val, (4, 4)),
            r"^ctx_val spans .* outside the value range \[0, 1\] of toy/t: scale or clip the values into it$"),
           (lambda: m.complete(pos, val + 0.5, (4, 4)), r"^ctx_val spans .*: scale or clip the values into it$"),
           (lambda: m.complete(pos, val.to(torch.complex64), (4, 4)), "ctx_val must hold real numbers"),
           (lambda: m.sample(pos, val, pos, num_samples=0),
            r"^num_samples must be an int >= 1 \(the mean: mean_field\), got 0$"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=2.5), r"^num_samples must be an int >= 0, got 2.5$"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=True), r"^num_samples must be an int >= 0, got True$"),
           (lambda: m.sample(pos, val, pos, n_autoregressive=2.5),
            r"^n_autoregressive must be an int >= 0 or None, got 2.5$"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=1, temperature=-0.5), "temperature must be a finite num"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=1, temperature=float("nan")), "temperature must be a fin"),
           (lambda: sample(m.model, m.dist, pos, val, pos, temperature=-1.0),
            r"^temperature must be a finite number >= 0 \(0: the most likely bin's mean at each step\), got -1.0$"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=1, seed=1.5), r"^seed must be an int, or one 64-bit"),
           (lambda: m.complete(pos, val, (4, 4), num_samples=1, seed=2**62),
            r"^seed must lie in \[-\d+, \d+\], got 4611686018427387904$"),
           (lambda: m.sample(pos, val, pos, seed=[2**64, 0]), r"^seed must be an int, or one 64-bit int per signal")]
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()
    # whole numbers of other types are counts and seeds as well
    c = m.complete(pos, val, torch.tensor([4, 4]), num_samples=np.int64(1), seed=np.int64(3))
    assert c.samples.shape == (2, 1, 1, 4, 4)
    # and a one-element tensor is a temperature (a sweep's torch.linspace entries were refused as not numbers)
    warm = m.complete(pos, val, (4, 4), num_samples=1, temperature=torch.linspace(0.5, 1.5, 3)[0])
    assert torch.equal(warm.samples, m.complete(pos, val, (4, 4), num_samples=1, temperature=0.5).samples)
    with pytest.raises(ValueError, match=r"^temperature must be a finite number >= 0 \(0: the most likely bin's mean "
                                         r"at each step\), got -1.0$"):
        m.sample(pos, val, pos, temperature=torch.tensor(-1.0))
    # chunk, an option of inference.sample and complete, stopped in "got multiple values for keyword argument"
    drawn = m.sample(pos, val, pos, num_samples=2, seed=1)  # [2, 2, 5, 1]
    assert torch.allclose(m.sample(pos, val, pos, num_samples=2, seed=1, chunk=np.int64(2)), drawn, atol=1e-5)
    assert torch.allclose(m.complete(pos, val, (4, 4), chunk=3).mean, c.mean, atol=1e-5)
    for chunk in (0, 2.5):
        with pytest.raises(ValueError, match=rf"^chunk must be an int >= 1, got {chunk}$"):
            m.complete(pos, val, (4, 4), chunk=chunk)
    with pytest.warns(UserWarning, match=r"qry_pos reaches 3: the model was trained on positions in \[-1, 1\]"):
        m.mean_field(pos, val, torch.full((2, 1, 2), 3.0))


@pytest.mark.parametrize("offset, scale, told", [(1600000002.0, 2.0, "(x - 1600000002) / 2"),
                                                 (1700000030.25, 30.0, "(x - 1700000030.25) / 30"),
                                                 (2.8e-17, 0.3, "x / 0.3"), (-2.78e-17, 0.3, "x / 0.3"),
                                                 (1.1e-16, 1.0, None), (-8.0, 2.0, "(x + 8) / 2")])
def test_positions_beyond_the_models_range_are_told_in_the_datas_units_with_their_digits(poly_spec, offset, scale,
                                                                                         told):
    """Curves on seconds since 1970 (offset 1.6e9) were told as "(x - 1.6e+09) / 2", which names no x the user has;
    to 10 digits, a quarter second past it as "(x - 1700000030) / 30". An offset of float64 noise beside the scale
    (2.8e-17, the middle of x from -0.3 to 0.3 as computed) was told as "(x - 0) / 0.3", one below zero as
    "(x - -0) / 0.3", and beside a scale of 1 as "(x / 1 for this data)", which the data's own range needs not."""
    import dataclasses

    from pixeltransformer.module import PixelTransformerModule

    spec = dataclasses.replace(poly_spec, pos_offset=offset, pos_scale=scale)
    m = PixelTransformerModule(spec=spec, net=dict(width=64, ffn=128),
                               sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()
    pos, val = torch.rand(1, 4, 1) * 2 - 1, torch.randn(1, 4, 1)  # [1, 4, 1] each
    units = rf" \({re.escape(told)} for this data\)" if told else ""
    with pytest.warns(UserWarning, match=r"^qry_pos reaches 3: the model was trained on positions in \[-1, 1\]"
                                         rf"{units}; beyond that it extrapolates$"):
        m.mean_field(pos, val, torch.full((1, 1, 1), 3.0))


def test_the_inference_conveniences_name_a_meta_tensor_and_read_tensors_that_require_grad(tiny_module):
    """A meta tensor in S stopped in torch's "Cannot copy out of meta tensor; no data!", which names no input; S that
    required grad drew torch's warning on converting such a tensor to a number, and the completion kept S's graph."""
    import warnings

    m = tiny_module
    pos, val = torch.rand(2, 6, 1) * 2 - 1, torch.randn(2, 6, 1)  # [2, 6, 1], [2, 6, 1]
    with pytest.raises(ValueError, match=r"^ctx_pos is a meta tensor, which holds a shape but no values: give it on "
                                         r"a real device \(the model is on cpu\)$"):
        m.mean_field(pos.to("meta"), val, pos)
    with pytest.raises(ValueError, match=r"^qry_pos is a meta tensor"):
        m.sample(pos, val, torch.empty(2, 4, 1, device="meta"))
    pos.requires_grad_(), val.requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = m.complete(pos, val, (16,), num_samples=1, n_autoregressive=4)
        mean = m.mean_field(pos, val, pos)  # [2, 6, 1]
    assert not c.ctx_pos.requires_grad and not c.ctx_val.requires_grad and not mean.requires_grad
    assert torch.equal(mean, m.mean_field(pos.detach(), val.detach(), pos.detach()))


def test_the_inference_functions_refuse_nan_in_s(tiny_module):
    """pixeltransformer.inference's functions (model and dist given) answered one NaN in S with a mean that was NaN
    everywhere, and samples that were finite numbers drawn from NaN logits, without a word."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    nan_val, inf_pos = val.clone(), pos.clone()
    nan_val[0, 2, 0], inf_pos[0, 4, 0] = float("nan"), float("-inf")
    calls = [(lambda: inference.complete(m.model, m.dist, pos, nan_val, (16,), num_samples=1), "ctx_val holds 1 "),
             (lambda: inference.mean_field(m.model, m.dist, inf_pos, val, pos), "ctx_pos holds 1 "),
             (lambda: inference.predict_params(m.model, pos, val, pos * float("nan")), "qry_pos holds 6 "),
             (lambda: inference.sample(m.model, m.dist, pos, nan_val, pos), "ctx_val holds 1 ")]
    for call, named in calls:
        with pytest.raises(ValueError, match=rf"^{named}NaN or infinite entries \(as torch.float32\); positions and "
                           "values must be finite$"):
            call()


def test_the_inference_functions_name_counts_out_of_range(tiny_module):
    """pixeltransformer.inference.sample stopped in torch's "Repeats must be non-negative", "min(): Expected reduction
    dim ..." or "negative dimension", and complete returned no samples for num_samples=-1 without a word."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    calls = [(lambda: inference.sample(m.model, m.dist, pos, val, pos, num_samples=0), r"sample needs num_samples >= "
              r"1, got 0"),
             (lambda: inference.sample(m.model, m.dist, pos, val, pos, num_samples=-2), r"sample needs num_samples >= "
              r"1, got -2"),
             (lambda: inference.sample(m.model, m.dist, pos, val, pos, n_autoregressive=-1),
              r"n_autoregressive must be an int >= 0 or None, got -1"),
             (lambda: inference.complete(m.model, m.dist, pos, val, (16,), num_samples=-1),
              r"num_samples must be an int >= 0, got -1"),
             (lambda: inference.complete(m.model, m.dist, pos, val, (16,), num_samples=1, n_autoregressive=-3),
              r"n_autoregressive must be an int >= 0 or None, got -3")]
    for call, message in calls:
        with pytest.raises(ValueError, match=rf"^{message}$"):
            call()
    assert inference.sample(m.model, m.dist, pos, val, pos, n_autoregressive=0).shape == (1, 1, 6, 1)


def test_the_inference_functions_name_shapes_that_do_not_fit(tiny_module):
    """pixeltransformer.inference's functions broadcast a ctx_val of one signal over ctx_pos of two, answering with
    the first signal's values for both, without a word; other mismatches stopped deep in the model."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(2, 6, 1) * 2 - 1, torch.randn(2, 6, 1)  # [2, 6, 1], [2, 6, 1]
    calls = [lambda: inference.mean_field(m.model, m.dist, pos, val[:1], pos),
             lambda: inference.predict_params(m.model, pos, val, pos[:1]),
             lambda: inference.mean_field(m.model, m.dist, pos, val[:, :4], pos),
             lambda: inference.mean_field(m.model, m.dist, pos[0], val[0], pos[0]),
             lambda: inference.mean_field(m.model, m.dist, pos.expand(-1, -1, 2), val, pos.expand(-1, -1, 2)),
             lambda: inference.sample(m.model, m.dist, pos[:1], val, pos),
             lambda: inference.complete(m.model, m.dist, pos, val.expand(-1, -1, 3), (16,))]
    for call in calls:
        with pytest.raises(ValueError, match=r"^ctx_pos \[B, K, P\], ctx_val \[B, K, V\] and qry_pos \[B, Q, P\] must "
                                             r"agree on B, K and P, with P = 1 and V = 1 for this model; got \[\["):
            call()


def test_the_inference_functions_name_inputs_of_another_dtype(tiny_module):
    """float64 S (numpy's default) stopped inside the first linear layer with torch's "mat1 and mat2 must have the
    same dtype", which names no input."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    assert inference.mean_field(m.model, m.dist, pos, val, pos).shape == (1, 6, 1)
    assert inference.sample(m.model, m.dist, pos.double(), val, pos.double()).shape == (1, 1, 6, 1)  # supported
    done = inference.complete(m.model, m.dist, pos.double(), val, (16,), num_samples=1)  # its grid: S's dtype
    assert torch.allclose(done.mean, inference.complete(m.model, m.dist, pos, val, (16,)).mean, atol=1e-5)
    for call in (lambda: inference.mean_field(m.model, m.dist, pos.double(), val.double(), pos.double()),
                 lambda: inference.sample(m.model, m.dist, pos, val.half(), pos)):
        with pytest.raises(ValueError, match=r"^ctx_val must be torch.float32, as the model's weights; got "
                                             r"torch.float(64|16) \(the module's own methods convert it\)$"):
            call()
    for call in (lambda: inference.sample(m.model, m.dist, pos.double(), val, pos),  # stopped in torch's cdist
                 lambda: inference.sample(m.model, m.dist, pos.half(), val, pos.half())):
        with pytest.raises(ValueError, match=r"^ctx_pos and qry_pos must share one dtype, torch.float32 or "
                                             r"torch.float64; got torch.float(64|16) and torch.float(32|16)$"):
            call()


def test_sampling_names_a_temperature_whose_draws_overflow(tiny_module):
    """A finite temperature can still scale the drawn values beyond float32, and every later step of the chain reads
    them: the samples came back NaN without a word."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    qry = torch.linspace(-1, 1, 16).view(1, 16, 1)  # [1, 16, 1]
    assert torch.isfinite(inference.sample(m.model, m.dist, pos, val, qry, temperature=2.0)).all()
    with pytest.raises(ValueError, match=r"^sampling at temperature 1e\+30 drew values that overflow float32 \(NaN or "
                                         r"Inf\): use a lower temperature$"):
        inference.sample(m.model, m.dist, pos, val, qry, temperature=1e30)


def test_one_gaussian_takes_values_beyond_its_nominal_range_but_not_beyond_float32(tiny_module):
    """With one Gaussian (NB = 1) the value range only normalises: values beyond it are read, as
    `predict --context` reads them, up to where the value frame's float32 squares would overflow."""
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    assert torch.isfinite(tiny_module.complete(pos, 50 * val, 16).mean).all()  # val_range is (-5, 5)
    # the limit as every other message writes it (+-1e+15 here alone)
    with pytest.raises(ValueError, match=r"^ctx_val reaches 1e\+20: values must lie within \+-1000000000000000 \("):
        tiny_module.complete(pos, val.sign() * 1e20, 16)


def test_predictions_that_overflow_are_refused_not_given_as_nan(tiny_module):
    """Finite weights whose outputs overflow (a checkpoint saved while its training diverged) gave a NaN mean from a
    finite S without a word, and `make sample` ended in matplotlib's "Axis limits cannot be NaN or Inf"."""
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.randn(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    assert torch.isfinite(tiny_module.complete(pos, val, 16).mean).all()
    with torch.no_grad():
        tiny_module.model.head.weight.mul_(1e37)
    with pytest.raises(FloatingPointError, match=r"^the model's predictions hold NaN or Inf at \d+ of 16 grid points "
                       r"from a finite S: its weights are finite but its outputs overflow.*; use an earlier "
                       r"checkpoint$"):
        tiny_module.complete(pos, val, 16)


@pytest.mark.parametrize("on_grid", [True, False])
def test_draw_context_reads_a_float64_signal(on_grid):
    from pixeltransformer.sets import draw_context

    signal = torch.rand(2, 1, 6, 6)  # [B, V, H, W]
    pos, val = draw_context(signal, 5, [1, 2], on_grid)
    pos64, val64 = draw_context(signal.double(), 5, [1, 2], on_grid)  # numpy's default dtype
    assert pos64.dtype == val64.dtype == torch.float64
    torch.testing.assert_close(pos64.float(), pos)
    torch.testing.assert_close(val64.float(), val)


@pytest.mark.parametrize("on_grid", [True, False])
@pytest.mark.parametrize("generator", ["seeds", "one"])
def test_draw_context_picks_the_same_set_under_a_float64_default_dtype(on_grid, generator):
    """Its uniform draws were in torch's default dtype: under torch.set_default_dtype(torch.float64), as a notebook
    may set it, the same seeds picked other samples."""
    from pixeltransformer.sets import draw_context

    signal = torch.rand(2, 1, 6, 6)  # [B, V, H, W]

    def draw():
        gen = [1, 2] if generator == "seeds" else torch.Generator().manual_seed(7)
        return draw_context(signal, 5, gen, on_grid)

    want = draw()
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = draw()
    finally:
        torch.set_default_dtype(default)
    assert got[0].dtype == got[1].dtype == torch.float32  # the signal's dtype
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_a_completion_is_indexed_like_a_sequence():
    from pixeltransformer.distribution import BinnedGaussian
    from pixeltransformer.inference import Completion
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec(domain="toy", dataset="t", grid_shape=(2, 2), val_dims=1, val_range=(0.0, 1.0), num_bins=4)
    mean = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # [B, V, 2, 2]
    c = Completion((2, 2), torch.zeros(3, 1, 2), torch.zeros(3, 1, 1), mean, None, None,
                   BinnedGaussian.from_spec(spec), None)
    assert c[-1].mean.shape == (1, 1, 2, 2) and c[-1].mean.max() == 2 and c[0].mean.max() == 0
    assert c[1:].mean.shape[0] == 2
    with pytest.raises(IndexError, match="completion 3 of a batch of 3"):
        c[3]
    # numpy's and torch's whole numbers (a loop over np.arange, an argmax) dropped the batch axis
    for i in (np.int64(-1), torch.tensor(2)):
        assert c[i].mean.shape == (1, 1, 2, 2) and c[i].mean.max() == 2 and c[i].ctx_pos.shape == (1, 1, 2)
    with pytest.raises(IndexError, match="completion 3 of a batch of 3"):
        c[np.int64(3)]


def test_the_training_shuffle_is_shared_by_ranks_and_resumes_where_it_stopped():
    """Under DDP each rank takes every world-th sample of one (seed, epoch) order, all ranks the same count; a
    resume part-way into an epoch (samples_done over all ranks) continues that order where it stopped, on any
    number of ranks. It is a DistributedSampler, so Lightning does not wrap (and reshuffle) it."""
    from torch.utils.data import DistributedSampler

    from pixeltransformer.datamodule import ResumableRandomSampler

    whole = list(ResumableRandomSampler(11, seed=3))  # one process: the epoch's order, [11]
    ranks = [list(ResumableRandomSampler(11, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(whole) == list(range(11)) and isinstance(ResumableRandomSampler(11, 3), DistributedSampler)
    assert ranks == [whole[0:10:2], whole[1:10:2]]  # 5 each: the 11th sample waits for another epoch
    assert [len(ResumableRandomSampler(11, 3, 2, r)) for r in (0, 1)] == [5, 5]
    resumed = ResumableRandomSampler(11, seed=3, num_replicas=2, rank=1)
    resumed.start = 4  # two batches of 1 on each of 2 ranks were done
    resumed.set_epoch(7)  # what Lightning calls each epoch: the sampler keeps its own count
    assert list(resumed) == whole[5:10:2] and resumed.epoch == 1
    assert list(resumed) != whole[1:10:2]  # the next epoch draws another order


def test_a_resume_gives_each_rank_its_own_set_sampler_state(tiny_module, capsys):
    """A checkpoint keeps every rank's set-sampler state, and each rank continues from its own; a rank beyond those
    (a fit resumed on more processes, or from a checkpoint that kept rank zero's alone) starts from a seed derived
    from rank zero's state and its rank, the same on every resume, and rank zero says so in one line."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    states = torch.stack([torch.Generator().manual_seed(s).get_state() for s in (11, 12)])  # [2, S]
    ckpt = {"pixeltransformer_format": 2, "hyper_parameters": dict(tiny_module.hparams),
            "set_sampler_rng": states[0].clone(), "set_sampler_rng_ranks": states}

    def resumed(checkpoint, rank: int, world: int, fn=TrainerFn.FITTING) -> torch.Tensor:
        tiny_module._trainer = SimpleNamespace(world_size=world, global_rank=rank, state=SimpleNamespace(fn=fn))
        try:
            tiny_module.on_load_checkpoint(checkpoint)
            return tiny_module.generator.get_state()  # [S]
        finally:
            tiny_module._trainer = None

    drawn = [resumed(ckpt, rank, 4) for rank in range(4)]
    assert torch.equal(drawn[0], states[0]) and torch.equal(drawn[1], states[1])
    assert len({bytes(d.numpy()) for d in drawn}) == 4  # ranks 2 and 3 draw sets of their own
    assert torch.equal(resumed(ckpt, 3, 4), drawn[3])  # and the same on every resume of this checkpoint
    assert torch.equal(resumed(ckpt, 1, 1), states[1]) and torch.equal(resumed(ckpt, 0, 1), states[0])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["[pixeltransformer] the checkpoint holds the set sampler's random states of 2 ranks and this fit "
                     "runs 4: ranks 2-3 start from states derived from rank 0's",
                     "[pixeltransformer] the checkpoint holds the set sampler's random states of 2 ranks and this fit "
                     "runs 1: the states of rank 1 are not used"]
    older = {key: value for key, value in ckpt.items() if key != "set_sampler_rng_ranks"}  # rank zero's alone
    assert not torch.equal(resumed(older, 1, 2), states[0])
    assert torch.equal(resumed(older, 0, 2), states[0])
    assert capsys.readouterr().out == ("[pixeltransformer] the checkpoint holds the set sampler's random states of 1 "
                                       "rank and this fit runs 2: rank 1 starts from a state derived from rank 0's\n")
    resumed(ckpt, 0, 1, fn=TrainerFn.TESTING)  # an evaluation never draws training sets: nothing to say
    assert capsys.readouterr().out == ""


def test_a_set_sampler_state_from_another_kind_of_device_seeds_a_derived_state(tiny_module, capsys):
    """A run trained on a CPU and resumed on a GPU (or back) holds a generator state of another size (CPU 5056 bytes,
    CUDA 16): the sets continue from a seed derived from it, the same on every resume, and rank zero says so."""
    cuda_like = torch.arange(16, dtype=torch.uint8)  # [16]: what a CUDA generator's get_state() returns
    ckpt = {"pixeltransformer_format": 2, "hyper_parameters": dict(tiny_module.hparams),
            "set_sampler_rng": cuda_like.clone(), "set_sampler_rng_ranks": cuda_like[None]}
    states = []
    for _ in range(2):
        tiny_module.on_load_checkpoint(ckpt)
        states.append(tiny_module.generator.get_state())  # [5056]
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[0], torch.Generator().manual_seed(tiny_module.hparams.seed).get_state())
    assert capsys.readouterr().out.count("random state is for another kind of device than cpu") == 2


@pytest.mark.filterwarnings("ignore:no Domain named 'images' is loaded")
def test_a_checkpoint_evaluated_on_other_data_keeps_its_own_value_bins(capsys):
    """A k-means model evaluated on other pictures of its size: the module was built with the evaluation data's
    colours. Loading the checkpoint restored its centres (a buffer) but not the bins' spacing, the unit of the head's
    offsets, scales and anchor logits, so the NLL was the trained model's under another unit."""
    from pixeltransformer.module import PixelTransformerModule

    def module(seed: int) -> PixelTransformerModule:
        centres = torch.rand(8, 3, generator=torch.Generator().manual_seed(seed)).tolist()  # [8, 3] k-means colours
        spec = SignalSpec(domain="images", dataset=f"colours{seed}", grid_shape=(4, 4), val_dims=3,
                          val_range=(0.0, 1.0), num_bins=8, centres=centres)
        torch.manual_seed(0)
        return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                      sets=dict(min_context=2, max_context=4, num_queries=4, grid_points=True)).eval()

    trained, other = module(0), module(1)
    assert trained.dist.unit != other.dist.unit
    ckpt = {"pixeltransformer_format": 2, "hyper_parameters": dict(trained.hparams), "global_step": 0}
    other.on_load_checkpoint(ckpt)
    other.load_state_dict(trained.state_dict())
    assert other.dist.unit == trained.dist.unit and other.spec.centres == trained.spec.centres
    assert other.spec.dataset == "colours1"  # the data's name still names its evaluation folder
    params, value = torch.randn(2, 5, trained.dist.num_params), torch.rand(2, 5, 3)  # [B, Q, NP], [B, Q, V]
    assert torch.equal(other.dist.log_prob(params, value), trained.dist.log_prob(params, value))
    assert "the value bins are the checkpoint's (images/colours0: its k-means centres), not the data's" in \
        capsys.readouterr().out
    other.on_load_checkpoint(ckpt)  # bins that already agree: nothing to change or say
    assert capsys.readouterr().out == ""
    near = module(1)  # the same k-means on another machine, last bits apart: adopted without a line
    nudged = [[c + 1e-7 for c in row] for row in near.spec.centres]
    near.on_load_checkpoint({**ckpt, "hyper_parameters": {**near.hparams, "spec": {**near.hparams["spec"],
                                                                                   "centres": nudged}}})
    assert near.spec.centres == tuple(tuple(row) for row in nudged) and capsys.readouterr().out == ""


@pytest.mark.filterwarnings("ignore:no Domain named 'polynomial' is loaded")
def test_a_checkpoint_value_range_is_named_as_written(capsys):
    """A value range computed from the data (0.1 + 0.2) is named as the user wrote it, not to 17 digits."""
    from pixeltransformer.module import PixelTransformerModule

    def module(val_range: tuple[float, float]) -> PixelTransformerModule:
        spec = SignalSpec(domain="polynomial", dataset="curves", grid_shape=(8,), val_dims=1, val_range=val_range,
                          num_bins=8)
        return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                      sets=dict(min_context=2, max_context=4, num_queries=4, grid_points=True)).eval()

    trained, other = module((-0.1, 0.1 + 0.2)), module((-1.0, 1.0))
    other.on_load_checkpoint({"pixeltransformer_format": 2, "hyper_parameters": dict(trained.hparams),
                              "global_step": 0})
    assert other.spec.val_range == (-0.1, 0.1 + 0.2)
    assert capsys.readouterr().out == ("[pixeltransformer] the value bins are the checkpoint's (polynomial/curves: "
                                       "range -0.1 to 0.3), not the data's\n")


@pytest.mark.parametrize("signal, cause", [
    (torch.zeros(1, 16, 32), r" yields signals of shape \[1, 16, 32\], but its spec says \[V, \*grid_shape\] = "
                             r"\[1, 32, 16\]"),  # a transposed grid: every query would get another point's value
    (torch.zeros(32, 16), r" yields signals of shape \[32, 16\], but its spec"),  # no value axis
    (torch.zeros(1, 32, 16, dtype=torch.float64), r" yields torch.float64 signals; the model reads float32"),
    (torch.full((1, 32, 16), 255.0), r" yields values in \[255, 255\], outside its spec's val_range \[0, 1\], "
                                     r"which the value bins span"),  # 0..255 pixels for a [0, 1] spec
    ([0.0], r"'s items must be dicts with a 'signal' tensor \[V, \*grid\], got list"),
])
def test_a_datamodule_whose_items_do_not_fit_its_spec_is_named(signal, cause):
    """A split's first item is checked against the spec when the split is built, in one line."""
    from pixeltransformer.datamodule import SignalDataModule
    from pixeltransformer.signal import SignalSpec

    class Fields(SignalDataModule):
        spec = SignalSpec(domain="fields", dataset="toy", grid_shape=(32, 16), val_dims=1, val_range=(0.0, 1.0),
                          num_bins=8)

        def build_split(self, split):
            return [{"signal": signal}]

    with pytest.raises(ValueError, match=rf"^Fields: the train split{cause}"):
        Fields().dataset("train")



def test_a_batch_keeps_its_split_indices_when_the_dataset_draws_it_in_one_call():
    """A DataLoader reads a batch through ``__getitems__`` where the dataset has one (GP draws do); the wrapper that
    adds each item's index handed it the domain dataset's own, so those batches had no index: the evaluation then
    keyed items by batch_idx * len(batch), which repeats keys in a short last batch and across DDP ranks."""
    from pixeltransformer.datamodule import SignalDataModule
    from pixeltransformer.sets import batch_keys
    from pixeltransformer.signal import SignalSpec

    class Drawn(torch.utils.data.Dataset):
        calls: list[list[int]] = []

        def __len__(self):
            return 10

        def __getitem__(self, i):
            return self.__getitems__([i])[0]

        def __getitems__(self, indices):
            Drawn.calls.append(list(indices))
            return [{"signal": torch.full((1, 4), i / 10)} for i in indices]  # [1, 4] each

    class Fields(SignalDataModule):
        spec = SignalSpec(domain="fields", dataset="toy", grid_shape=(4,), val_dims=1, val_range=(0.0, 1.0),
                          num_bins=8)

        def build_split(self, split):
            return Drawn()

    batches = list(Fields(batch_size=4).test_dataloader())
    assert [batch_keys(b, i) for i, b in enumerate(batches)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b["signal"][:, 0, 0].mul(10).round().int().tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert Drawn.calls[-3:] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # still one call per batch

@pytest.mark.parametrize("metrics, cause", [
    ({"nll": torch.zeros(2)}, r"returned 'nll', a name the core's sweep already reports; rename it"),
    ({"iou": torch.tensor(0.5)}, r"returned 'iou' as \[\]; metrics are \[B\] = \[2\] tensors, one per signal"),
    ({"iou": [0.5, 0.5]}, r"returned 'iou' as list; metrics are \[B\] = \[2\] tensors, one per signal"),
    ({"iou": np.zeros(2)}, r"returned 'iou' as a numpy array \[2\]; metrics are \[B\] = \[2\] tensors, one per "
                           r"signal \(torch\.from_numpy\)"),
    ({"iou": np.float64(0.5)}, r"returned 'iou' as float64; metrics are \[B\] = \[2\] tensors, one per signal"),
    # numpy's array subclasses were named by their type alone, without the remedy
    ({"iou": np.zeros(3).view(np.memmap)}, r"returned 'iou' as a numpy array \[3\]; metrics are \[B\] = \[2\] "
                                           r"tensors, one per signal \(torch\.from_numpy\)"),
    ({"iou": np.zeros((1, 2)).view(np.matrix)}, r"returned 'iou' as a numpy array \[1, 2\]; metrics are \[B\] = "
                                                r"\[2\] tensors, one per signal \(torch\.from_numpy\)"),
])
def test_a_domain_metric_that_would_be_misread_is_named(metrics, cause):
    """A domain metric named like a core one would replace it in metrics.json; a 0-d one would be averaged per batch,
    not per signal."""
    from pixeltransformer.evaluation import checked_metrics

    class Fields:
        pass

    assert checked_metrics(Fields(), {"iou": torch.zeros(2)}, {"nll", "mse"}, 2).keys() == {"iou"}
    with pytest.raises(ValueError, match=rf"^Fields\.metrics {cause}$"):
        checked_metrics(Fields(), metrics, {"nll", "mse"}, 2)


def test_summary_scalars_flatten_the_numbers_of_an_evaluation():
    from pixeltransformer.evaluation import summary_scalars

    rows = [{"num_context": 4, "nll": 1.5, "gp_nll": None, "mse": 2}, {"num_context": 16, "nll": -0.25}]
    extra = {"gp_protocol": {"target_ll": 1.25, "units": "nats", "num_context_range": [3, 46]},
             "nll_gap_to_oracle": {"4": 0.5}, "psnr_rises_with_context": True, "note": "text"}
    assert summary_scalars(rows, extra) == {"eval/nll@4": 1.5, "eval/mse@4": 2.0, "eval/nll@16": -0.25,
                                            "eval/gp_protocol/target_ll": 1.25, "eval/nll_gap_to_oracle/4": 0.5}


def test_summary_scalars_leave_out_an_evaluation_s_settings():
    """metrics.json as a whole (its rows among its entries) gives W&B's summary its numbers less the evaluation's
    summary_settings: those every evaluation records (seed, ...) and a subclass's own (the GP benchmark's)."""
    from domains.polynomial.evaluation import GPProtocolEvaluation
    from pixeltransformer.evaluation import SweepEvaluation, summary_scalars

    rows = [{"num_context": 4, "nll": 1.5}]
    results = {"domain": "polynomial", "rows": rows, "checkpoint_step": 6, "seed": 0, "num_samples": 2,
               "n_autoregressive": 16, "max_items": 8, "num_items": 8, "gp_protocol": {"seed": 1, "batch_size": 16,
                                                                                    "target_ll": 0.5}}
    kept = {"eval/nll@4": 1.5, "eval/checkpoint_step": 6, "eval/num_items": 8, "eval/gp_protocol/target_ll": 0.5}
    assert summary_scalars(rows, results, settings=GPProtocolEvaluation.summary_settings) == kept
    assert summary_scalars(rows, results, settings=SweepEvaluation.summary_settings) == {
        **kept, "eval/gp_protocol/seed": 1, "eval/gp_protocol/batch_size": 16}



def test_summary_scalars_keep_integers_integers():
    """A count (the checkpoint's step, the items evaluated) reached W&B's summary as a float: 5.0, 2.0."""
    from pixeltransformer.evaluation import summary_scalars

    rows = [{"num_context": 4, "nll": 1.5, "hits": 3}]
    out = summary_scalars(rows, {"checkpoint_step": 5, "num_items": 2, "psnr": {"4": 20.0}})
    assert {key: type(value) for key, value in out.items()} == {
        "eval/nll@4": float, "eval/hits@4": int, "eval/checkpoint_step": int, "eval/num_items": int,
        "eval/psnr/4": float}
    assert out["eval/checkpoint_step"] == 5 and out["eval/hits@4"] == 3


def test_max_items_keeps_items_by_split_index_and_means_count_each_item_once():
    from pixeltransformer.evaluation import SweepEvaluation, mean_over_items, select_items

    ev = SweepEvaluation(max_items=5)
    batch = {"signal": torch.zeros(4, 1, 8), "index": torch.tensor([3, 4, 5, 6]), "label": torch.arange(4),
             "names": ["a", "b", "c", "d"], "grid": 8}
    part, keys = ev.items_to_evaluate(batch, 1)
    assert keys == [3, 4] and part["signal"].shape == (2, 1, 8) and part["label"].tolist() == [0, 1]
    assert part["names"] == ["a", "b"] and part["grid"] == 8
    assert ev.items_to_evaluate({**batch, "index": torch.tensor([5, 6, 7, 8])}, 2) == (None, [])
    assert select_items(batch, [2])["index"].tolist() == [5]
    ev._values, ev.evaluated = {}, set()  # what on_test_start sets up
    ev._update(4, "nll", torch.tensor([1.0, 3.0]), [0, 1])
    ev._update(4, "nll", torch.tensor([1.0, float("nan")]), [0, 2])  # item 0 again (a padded copy); 2 undefined
    assert mean_over_items(ev._values[(4, "nll")]) == 2.0 and ev.evaluated == {0, 1, 2}


@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_an_item_cap_below_one_is_refused(value):
    """max_items=0 evaluated no item: metrics.json of no rows replaced the evaluation before it, with exit 0.
    sample_items=0 stays: it draws no samples (video's sample_clips=0)."""
    from pixeltransformer.evaluation import SweepEvaluation

    with pytest.raises(ValueError, match=re.escape(f"SweepEvaluation: max_items must be a whole number >= 1 "
                                                        f"(null: every test item), got {value}") + "$"):
        SweepEvaluation(max_items=value)
    assert SweepEvaluation(max_items=1, sample_items=0).max_items == 1


@pytest.mark.parametrize("value", ["gird", 0, -5, 2.5, True])
def test_a_query_count_that_is_neither_grid_nor_above_zero_is_refused(value):
    """queries=gird (a typo of grid) loaded the checkpoint and then stopped on int('gird'), naming no option; 0 or
    below stopped at the first batch naming the set sampler's num_queries."""
    from pixeltransformer.evaluation import SweepEvaluation

    with pytest.raises(ValueError, match=re.escape(
            f"SweepEvaluation: queries must be 'grid' (every grid point is a query) or a whole number >= 1 (query "
            f"positions drawn in each signal), got {value!r}")):
        SweepEvaluation(queries=value)
    assert SweepEvaluation(queries=1).queries == 1 and SweepEvaluation(queries="grid").queries == "grid"
    assert SweepEvaluation(queries="100").queries == 100  # the command line's text, as jsonargparse gives str | int


@pytest.mark.parametrize("name", ["Pictures", "SweepEvaluation"])
@pytest.mark.parametrize("value", [-1, 2.5])
def test_autoregressive_steps_below_zero_are_refused_as_the_callback_is_configured(name, value):
    """n_autoregressive=-1 was taken, and stopped the first sampling, after the checkpoint loaded (an evaluation) or
    at the first validation's pictures, after the training steps before it (a fit), naming neither callback. A
    callback is configured in YAML or on the command line, so its message says null, as its siblings' do (it said
    "or None", the Python spelling, which a config does not take)."""
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.evaluation import SweepEvaluation

    callback = {"Pictures": Pictures, "SweepEvaluation": SweepEvaluation}[name]
    with pytest.raises(ValueError, match=re.escape(f"{name}: n_autoregressive must be a whole number >= 0 (null: "
                                                   f"every point drawn), got {value!r}") + "$"):
        callback(n_autoregressive=value)
    assert callback(n_autoregressive=0).n_autoregressive == 0 and callback(n_autoregressive=None).n_autoregressive \
        is None


@pytest.mark.parametrize("options, message", [
    ({"min_context": 4, "max_context": 2}, "model.sets.init_args: need 1 <= min_context <= max_context, got 4, 2"),
    ({"num_queries": 0}, "model.sets.init_args.num_queries must be >= 1, got 0"),
    ({"focus_fraction": 2}, "model.sets.init_args.focus_fraction must be in [0, 1], got 2"),
    ({"focus_fraction": 0.5}, "model.sets.init_args.focus_fraction > 0 needs focus_band = [low, high] with low <= "
                              "high, got None")])
def test_set_sizes_that_draw_nothing_name_the_option_group(options, message):
    """A config of max_context below min_context stopped on "need 1 <= min_context <= max_context", which named
    neither model.sets nor the file's group it is set in."""
    from pixeltransformer.sets import SetSampler

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SetSampler(**options)


@pytest.mark.parametrize("value", [-1, 1.5])
def test_a_sampled_item_count_below_zero_is_refused(value):
    """sample_items=-1 (read as "every item", as -1 is "the rest" in the splits) sampled no item: metrics.json of
    num_samples=1 had no sample metric, without a word. 0 stays (no item sampled), as null (every item) does."""
    from pixeltransformer.evaluation import SweepEvaluation

    with pytest.raises(ValueError, match=re.escape(
            f"SweepEvaluation: sample_items must be a whole number >= 0 (the first items of the split drawn "
            f"samples for; 0: none; null: every item), got {value!r}")):
        SweepEvaluation(num_samples=1, sample_items=value)
    assert SweepEvaluation(sample_items=0).sample_items == 0 and SweepEvaluation(sample_items=None).sample_items is None


def test_temperature_zero_draws_the_most_likely_value(tiny_module):
    """Temperature 0 is a greedy completion: each step takes the most likely bin's mean, without noise. The module's
    methods and the command line refused it while inference.sample took it (and took a negative one as 0)."""
    from pixeltransformer import inference

    m = tiny_module
    pos, val = torch.rand(1, 6, 1) * 2 - 1, torch.rand(1, 6, 1)  # [1, 6, 1], [1, 6, 1]
    qry = torch.tensor([[[0.123]]])  # [1, 1, 1]: one query, so the one step is conditioned on S alone
    drawn = m.sample(pos, val, qry, num_samples=3, temperature=0, seed=5)  # [1, 3, 1, 1]
    params = inference.predict_params(m.model, pos, val, qry)  # [1, 1, NP]
    best = m.dist.logits(params).argmax(-1, keepdim=True)  # [1, 1, 1]
    expected = m.dist.components(params, best)[0].squeeze(-2)  # [1, 1, V]
    assert torch.allclose(drawn, expected.unsqueeze(1).expand(1, 3, 1, 1), atol=1e-6)
    assert not torch.allclose(m.sample(pos, val, qry, num_samples=3, temperature=1.0, seed=5), drawn, atol=1e-3)


def test_the_sweep_shows_its_progress_over_levels(tiny_module, capsys, monkeypatch):
    """One batch of large items (3D shapes at every level) took two minutes with no output: the test loop's own
    progress line comes only when the batch ends. The sweep now shows its levels as it goes (on rank zero)."""
    from pixeltransformer import evaluation
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(evaluation, "LEVELS_DELAY", 0.0)  # a batch this small ends before levels show progress
    ev = SweepEvaluation(levels=(2, 4, 8), num_samples=0)
    signal = torch.rand(2, *tiny_module.spec.grid_shape).unsqueeze(1) * 0.5  # [2, 1, N]
    batch = {"signal": signal, "index": torch.arange(2)}
    ev.evaluate_batch(tiny_module, batch, 0)
    assert capsys.readouterr().err == ""  # other ranks, and callers that do not ask, print nothing
    out = ev.evaluate_batch(tiny_module, batch, 0, progress=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert sorted(out) == [2, 4, 8] and len(lines) == 3, lines
    assert all(line.startswith(f"[eval: |S| levels of batch 1] {i}/3 level") for i, line in enumerate(lines, 1))


COUNT = r"SweepEvaluation: num_samples must be a whole number >= 0 \(0: no sampling\), got"


@pytest.mark.parametrize("options, message", [
    (dict(temperature=-1.0), r"^SweepEvaluation: temperature must be a finite number >= 0 \(0: the most likely bin's "
                             r"mean at each step\), got -1.0$"),
    (dict(temperature=float("nan")), r"^SweepEvaluation: temperature must be a finite number >= 0"),
    (dict(levels=()), r"^SweepEvaluation: need levels >= 1; got \(\)$"),
    (dict(levels=(0, 4)), r"^SweepEvaluation: need levels >= 1; got \(0, 4\)$"),
    (dict(num_samples=-1), rf"^{COUNT} -1$"),
    (dict(num_samples=2.0), rf"^{COUNT} 2\.0$")])  # 2.0 was let through
def test_an_evaluation_with_bad_options_is_refused_when_built(options, message):
    """A negative temperature in an evaluation config was refused only at its first sampled batch, minutes in."""
    from pixeltransformer.evaluation import SweepEvaluation

    with pytest.raises(ValueError, match=message):
        SweepEvaluation(**options)
    assert SweepEvaluation(temperature=0).temperature == 0.0  # greedy samples


def test_a_fit_shorter_than_its_warmup_says_its_learning_rate_never_reaches_lr(poly_spec, capsys):
    """200 warmup steps (the default) in a 50-step fit: the learning rate only rose to a quarter of lr and the cosine
    decay never began, without a word. The remedy names the option as its reader gives it: a module built in Python
    its argument, not the command line's flag (which it was told before)."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=200))
    m._trainer = SimpleNamespace(estimated_stepping_batches=50, is_global_zero=True)
    sched = m.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert capsys.readouterr().out.strip() == (
        "[pixeltransformer] model.optim.warmup_steps=200 is more than the fit's 50 steps: the learning rate rises to "
        "50/200 of lr (0.00025) and never decays; give optim=OptimConfig(warmup_steps=...) below 50 for the whole "
        "schedule")
    m.cli_options = True  # built by the command line
    m.configure_optimizers()
    assert capsys.readouterr().out.strip().endswith(
        "give --model.optim.warmup_steps below 50 for the whole schedule")
    for _ in range(49):
        sched.optimizer.step(), sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(2.5e-4)  # the fit's last step: a quarter of lr, as the line says
    m._trainer = SimpleNamespace(estimated_stepping_batches=400, is_global_zero=True)
    m.configure_optimizers()
    assert capsys.readouterr().out == ""  # a fit past its warmup: nothing to say


def test_a_one_step_fit_is_not_told_to_warm_up_for_below_one_step(poly_spec, capsys):
    """A 1-step fit (a smoke test) was told "give --model.optim.warmup_steps below 1 for the whole schedule", and of
    its "1 steps"; the only such warmup is none, and the whole schedule needs a longer fit."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=200))
    m.cli_options = True  # built by the command line: its flags
    m._trainer = SimpleNamespace(estimated_stepping_batches=1, is_global_zero=True)
    sched = m.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert capsys.readouterr().out.strip() == (
        "[pixeltransformer] model.optim.warmup_steps=200 is longer than this 1-step fit: its one step runs at 1/200 "
        "of lr (5e-06) and the learning rate never reaches its peak; give --model.optim.warmup_steps 0 to take the "
        "step at lr, or a --trainer.max_steps above 200 to warm up and decay")
    m.cli_options = False  # built in Python: the arguments of the module and the Trainer
    m.configure_optimizers()
    assert capsys.readouterr().out.strip().endswith(
        "give optim=OptimConfig(warmup_steps=0) to take the step at lr, or a Trainer(max_steps=...) above 200 to "
        "warm up and decay")
    assert sched.get_last_lr()[0] == pytest.approx(5e-6)  # the one step's rate, as the line says
    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=0))
    m._trainer = SimpleNamespace(estimated_stepping_batches=1, is_global_zero=True)
    assert m.configure_optimizers()["lr_scheduler"]["scheduler"].get_last_lr()[0] == pytest.approx(1e-3)  # the remedy
    assert capsys.readouterr().out == ""


def test_a_fit_without_a_step_count_holds_lr_after_its_warmup(poly_spec, capsys):
    """`--trainer.max_time 00:01:00:00 --trainer.max_steps -1` (or max_epochs -1): Lightning counts inf steps, and the
    fit stopped at once with OverflowError's traceback (int(inf)) in configure_optimizers. The cosine decay has no
    last step to end at: the rate warms up and stays at lr, which the fit's first lines say."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=2))
    m.cli_options = True  # built by the command line: its flags
    m._trainer = SimpleNamespace(estimated_stepping_batches=float("inf"), is_global_zero=True)
    sched = m.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert capsys.readouterr().out.strip() == (
        "[pixeltransformer] this fit has no step count (trainer.max_steps=-1, and trainer.max_epochs=-1 or "
        "trainer.max_time stops it): the learning rate warms up to lr and stays there, without the cosine decay; "
        "give --trainer.max_steps for the decay")
    m.cli_options = False  # built in Python: the Trainer's argument
    m.configure_optimizers()
    assert capsys.readouterr().out.strip().endswith("give Trainer(max_steps=...) for the decay")
    rates = []
    for _ in range(1000):
        rates.append(sched.get_last_lr()[0])
        sched.optimizer.step(), sched.step()
    assert rates[0] == pytest.approx(5e-4) and rates[1:] == pytest.approx([1e-3] * 999)
    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=2, min_lr_ratio=1.0))
    m._trainer = SimpleNamespace(estimated_stepping_batches=float("inf"), is_global_zero=True)
    m.configure_optimizers()
    assert capsys.readouterr().out == ""  # a constant rate after the warmup is what min_lr_ratio=1 asks for


@pytest.mark.parametrize("trainer, note", [
    (dict(max_steps=10), "trainer.val_check_interval=200 training batches is more than this fit's 10 (steps 0 to "
                         "10): it never validates, so it logs no val/nll, draws no pictures and keeps no best "
                         "checkpoint (last.ckpt only); give --trainer.val_check_interval=10 or fewer to validate"),
    (dict(max_steps=210, global_step=190), None),  # a resume that passes step 200 validates there
    (dict(max_steps=199, global_step=190), "trainer.val_check_interval=200 training batches is more than this fit's "
                                           "9 (steps 190 to 199): it never validates, so it logs no val/nll, draws no "
                                           "pictures and keeps no best checkpoint (last.ckpt only); give "
                                           "--trainer.val_check_interval=9 or fewer to validate"),
    (dict(max_steps=100, accumulate_grad_batches=2), None),  # 200 batches: a validation at the fit's end
    (dict(max_steps=10, limit_val_batches=0), None),  # validation turned off on purpose
    (dict(max_steps=-1), None),  # no limit: trainer.max_time stops it
    # `--trainer.max_epochs 1 --trainer.limit_train_batches 0.1` (an epoch of 10 batches): said nothing
    (dict(max_steps=-1, max_epochs=1, num_training_batches=10), "trainer.val_check_interval=200 training batches is "
     "more than this fit's 10 (steps 0 to 10): it never validates, so it logs no val/nll, draws no pictures and "
     "keeps no best checkpoint (last.ckpt only); give --trainer.val_check_interval=10 or fewer to validate"),
    (dict(max_steps=8000, max_epochs=2, num_training_batches=30, accumulate_grad_batches=4), "trainer."
     "val_check_interval=200 training batches is more than this fit's 60 (steps 0 to 16): it never validates, so it "
     "logs no val/nll, draws no pictures and keeps no best checkpoint (last.ckpt only); give "
     "--trainer.val_check_interval=60 or fewer to validate"),  # the epochs stop it first: 2 x ceil(30 / 4) steps
    (dict(max_steps=-1, max_epochs=20, num_training_batches=10), None),  # 200 batches: a validation at the end
    # `--trainer.max_steps 4 --trainer.check_val_every_n_epoch 2` (4 batches an epoch): said nothing
    (dict(max_steps=4, check_val_every_n_epoch=2, num_training_batches=4, val_check_interval=2, val_check_batch=2),
     "trainer."
     "check_val_every_n_epoch=2 is more than this fit's 1 epoch (steps 0 to 4): it never validates, so it logs no "
     "val/nll, draws no pictures and keeps no best checkpoint (last.ckpt only); give "
     "--trainer.check_val_every_n_epoch=1 to validate"),
    (dict(max_steps=10, check_val_every_n_epoch=2, num_training_batches=4, val_check_interval=2, val_check_batch=2),
     None),  # epoch 2
    (dict(max_steps=12, global_step=8, check_val_every_n_epoch=2, num_training_batches=4, val_check_interval=1.0,
          val_check_batch=4),
     "trainer."
     "check_val_every_n_epoch=2 is more than this fit's 1 epoch (steps 8 to 12): it never validates, so it logs no "
     "val/nll, draws no pictures and keeps no best checkpoint (last.ckpt only); give "
     "--trainer.check_val_every_n_epoch=1 to validate"),  # a resume inside the third epoch, which does not validate
    (dict(max_steps=4, check_val_every_n_epoch=2, num_training_batches=4, limit_val_batches=0), None),
    # an interval of a whole epoch validates at the epoch's end, which a fit of 1.5 epochs never reaches: said nothing
    (dict(max_steps=6, check_val_every_n_epoch=2, num_training_batches=4, val_check_interval=1.0, val_check_batch=4),
     "trainer."
     "check_val_every_n_epoch=2 is more than this fit's 1.5 epochs (steps 0 to 6): it never validates, so it logs no "
     "val/nll, draws no pictures and keeps no best checkpoint (last.ckpt only); give "
     "--trainer.check_val_every_n_epoch=1 to validate"),
    (dict(max_steps=6, check_val_every_n_epoch=2, num_training_batches=4, val_check_interval=0.5, val_check_batch=2),
     None),  # batch 2
    (dict(max_steps=2, check_val_every_n_epoch=1, num_training_batches=4, val_check_interval=1.0, val_check_batch=4),
     "trainer."
     "val_check_interval=1.0 of an epoch (4 training batches) is more than this fit's 2 (steps 0 to 2): it never "
     "validates, so it logs no val/nll, draws no pictures and keeps no best checkpoint (last.ckpt only); give "
     "--trainer.val_check_interval=2 or fewer to validate"),  # Lightning's defaults, half an epoch: said nothing
    (dict(max_steps=10, global_step=10), None),  # a resume that trains nothing says so itself
])
def test_a_fit_shorter_than_its_validation_interval_says_it_never_validates(poly_spec, capsys, trainer, note):
    """`pixeltransformer fit --config configs/images.yaml --trainer.max_steps=10` (the images config validates every
    200 steps) ended with no validation without a word: its W&B run held train/* alone, no val/nll, no pictures,
    and its folder no best checkpoint. A fit of a plain Trainer is told the Trainer's argument, not a flag."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec)
    m.cli_options = True  # a module the command line built
    m._trainer = SimpleNamespace(**{"is_global_zero": True, "val_check_interval": 200, "val_check_batch": 200,
                                    "check_val_every_n_epoch": None, "limit_val_batches": 1.0, "global_step": 0,
                                    "accumulate_grad_batches": 1, "optimizers": [], "lr_scheduler_configs": [],
                                    **trainer})
    m.on_train_start()
    assert capsys.readouterr().out.strip() == ("" if note is None else f"[pixeltransformer] {note}")
    m.cli_options = False  # one built in Python: the Trainer's argument
    m.on_train_start()
    python = None if note is None else re.sub(r"--trainer\.(\w+)=(\d+)", r"Trainer(\1=\2)", note)
    assert capsys.readouterr().out.strip() == ("" if note is None else f"[pixeltransformer] {python}")
    assert python is None or "--" not in python


@pytest.mark.parametrize("fn, hook", [("test", "on_test_start"), ("validate", "on_validation_start")])
def test_an_evaluation_logs_at_its_checkpoint_s_step_and_epoch_and_puts_the_fit_s_count_back(tiny_module, fn, hook):
    """Lightning logs at the fit loop's step and epoch, which an evaluation does not restore: its numbers were
    charted at step 0 of epoch 0 whatever its checkpoint. They go where the fit logged its validation of the same
    weights (the checkpoint's step less one, its epoch), and the fit loop's count is put back at teardown."""
    tiny_module._trainer = trainer = _counting_trainer(0, 0, fn)
    tiny_module.trained_steps, tiny_module.trained_epoch = 40, 3
    try:
        getattr(tiny_module, hook)()
        assert _counts(trainer) == (39, 3)
        tiny_module.teardown(fn)
        assert _counts(trainer) == (0, 0)
    finally:
        tiny_module._trainer = None


def _counting_trainer(step: int | None, epoch: int, fn: str = "test", **more):
    """A stand-in for a trainer as the module's evaluation hooks read it: the fit loop's count of stepped batches
    (none with step=None, as a Lightning without that attribute) and of epochs, and what it runs; ``more``: other
    attributes (a fit's hooks read more)."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    loop = SimpleNamespace() if step is None else SimpleNamespace(_batches_that_stepped=step)
    progress = SimpleNamespace(current=SimpleNamespace(completed=epoch))
    return SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=loop, epoch_progress=progress),
                           state=SimpleNamespace(fn=TrainerFn(fn)), fast_dev_run=0, overfit_batches=0,
                           limit_val_batches=None, global_rank=0, **more)


def _counts(trainer) -> tuple[int, int]:
    loop = trainer.fit_loop
    return loop.epoch_loop._batches_that_stepped, loop.epoch_progress.current.completed


def test_an_evaluation_that_failed_puts_the_fit_s_count_back_at_the_next_setup(tiny_module):
    """Lightning calls no teardown when a run raises: an evaluation that failed left its trainer's fit loop at the
    checkpoint's step, where a later fit on that trainer logged, and the next evaluation with a trainer of its own
    was charted at 0 and then given the first trainer's count at its teardown. Each trainer gets its own count back,
    at the next setup or teardown."""
    first = _counting_trainer(100, 7)
    tiny_module.trained_steps, tiny_module.trained_epoch = 40, 3
    try:
        tiny_module._trainer = first
        tiny_module.on_test_start()  # and the test fails: no teardown
        assert _counts(first) == (39, 3)
        tiny_module.setup("fit")  # a fit on the same trainer
        assert _counts(first) == (100, 7)
        tiny_module.teardown("fit")
        assert _counts(first) == (100, 7)

        tiny_module.on_test_start()  # fails again, and the next evaluation has a trainer of its own
        assert pickle.loads(pickle.dumps(tiny_module))._fit_logger_step is None  # as Lightning pickles no trainer
        second = _counting_trainer(0, 0)
        tiny_module._trainer = second
        tiny_module.trained_steps, tiny_module.trained_epoch = 80, 5
        tiny_module.on_test_start()
        assert (_counts(first), _counts(second)) == ((100, 7), (79, 5))
        tiny_module.teardown("test")
        assert (_counts(first), _counts(second)) == ((100, 7), (0, 0))
    finally:
        tiny_module._trainer = None


def test_an_evaluation_under_a_lightning_without_the_fit_loop_s_count_is_charted_at_its_own_step(tiny_module):
    """The fit loop's count of stepped batches is Lightning's own attribute: where it has none, an evaluation runs
    and logs at Lightning's step instead of failing on it."""
    trainer = _counting_trainer(None, 0)
    tiny_module.trained_steps, tiny_module.trained_epoch = 40, 3
    try:
        tiny_module._trainer = trainer
        tiny_module.on_test_start()
        tiny_module.teardown("test")
        assert not hasattr(trainer.fit_loop.epoch_loop, "_batches_that_stepped")
        assert trainer.fit_loop.epoch_progress.current.completed == 0
    finally:
        tiny_module._trainer = None


def test_a_validation_after_a_fit_logs_at_the_fit_s_step_not_at_the_checkpoint_it_began_from(tiny_module):
    """A module loaded from a checkpoint of step 40, trained on in Python and then validated: its weights are the
    fit's, so the validation logs at the fit's count (7), not at the checkpoint's step."""
    from lightning.pytorch.trainer.states import TrainerFn

    trainer = _counting_trainer(7, 1, "fit", is_global_zero=False, optimizers=[], global_step=7)
    tiny_module._trainer = trainer
    tiny_module.trained_steps, tiny_module.trained_epoch = 40, 3
    try:
        tiny_module.on_train_start()
        trainer.state.fn = TrainerFn.VALIDATING
        tiny_module.on_validation_start()
        assert _counts(trainer) == (7, 1)
    finally:
        tiny_module._trainer = None


def test_loops_under_a_trainer_without_progress_print_no_progress(poly_spec, tmp_path, capsys, monkeypatch):
    """--trainer.enable_progress_bar=false took the [train] and [val] lines away, and a log still got a [pictures]
    line per picture context and a [sampling ...] line per tenth of a prediction's steps; the loops run under such
    a trainer now print none, as a module used from Python (no trainer) and a trainer with progress still do."""
    import domains.polynomial.domain  # noqa: F401 - the domain that draws the pictures
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.predict import PredictOptions

    torch.manual_seed(0)
    module = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64),
                                    sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    signal = torch.randn(2, 1, 64)  # [B, V, L]
    s = module.draw_sets(signal[:1], num_context=6, generator=torch.Generator().manual_seed(0))
    batch = {"ctx_pos": s.ctx_pos, "ctx_val": s.ctx_val}
    module.predict_options = PredictOptions(num_samples=1, n_autoregressive=3)
    pictures = Pictures(levels=(4,), num_samples=1, n_autoregressive=2)
    running = SimpleNamespace(status=TrainerStatus.RUNNING, fn=TrainerFn.PREDICTING)  # as Lightning's, in a loop
    for bar, shown in ((None, False), (object(), True)):
        module._trainer = SimpleNamespace(progress_bar_callback=bar, state=running)
        try:
            pictures.draw(module, signal, tmp_path)
            module.predict_step(batch)
        finally:
            module._trainer = None
        err = capsys.readouterr().err
        assert ("[pictures] 1/1 context" in err and "[sampling 3 steps x 1 chain]" in err) == shown, err


def test_a_one_step_fit_of_epochs_is_told_to_give_more_epochs(poly_spec, capsys):
    """`--trainer.max_epochs 1 --trainer.max_steps -1` on a training split of one batch: the 1-step fit was told to
    give "a --trainer.max_steps above 200", which its epoch still ends; it is told the option that ends it."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, optim=dict(lr=1e-3, warmup_steps=200))
    m.cli_options = True  # built by the command line: its flags (test_a_one_step_fit_is_not_told_... : Python's)
    for max_steps in (-1, 1000):  # no step limit, or one the epoch ends before
        m._trainer = SimpleNamespace(estimated_stepping_batches=1, is_global_zero=True, max_epochs=1,
                                     max_steps=max_steps)
        m.configure_optimizers()
        assert capsys.readouterr().out.strip().endswith(
            "give --model.optim.warmup_steps 0 to take the step at lr, or a --trainer.max_epochs above 200 "
            "(trainer.max_epochs=1 ends this fit, at 1 step an epoch) to warm up and decay")
    m._trainer = SimpleNamespace(estimated_stepping_batches=1, is_global_zero=True, max_epochs=-1, max_steps=1)
    m.configure_optimizers()
    assert capsys.readouterr().out.strip().endswith("or a --trainer.max_steps above 200 to warm up and decay")
    m.cli_options = False  # built in Python: the Trainer's argument
    m._trainer = SimpleNamespace(estimated_stepping_batches=1, is_global_zero=True, max_epochs=1, max_steps=-1)
    m.configure_optimizers()
    assert capsys.readouterr().out.strip().endswith(
        "or a Trainer(max_epochs=...) above 200 (trainer.max_epochs=1 ends this fit, at 1 step an epoch) to warm up "
        "and decay")


def test_a_fit_with_overfit_batches_says_its_validation_scores_part_of_the_val_split(poly_spec, capsys):
    """`--trainer.overfit_batches 1` makes Lightning validate on 1 batch too: val/nll and the best checkpoint scored
    the first batch of the val split alone, without a word. The fit's first lines say so, once; a fit without it, or
    one that never validates, does not."""
    from types import SimpleNamespace

    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec)
    m.cli_options = True  # a module the command line built
    trainer = dict(is_global_zero=True, overfit_batches=1, limit_val_batches=1, val_check_interval=1,
                   val_check_batch=1, check_val_every_n_epoch=None, max_steps=4, max_epochs=-1,
                   accumulate_grad_batches=1, num_training_batches=1, global_step=0)
    m._trainer = SimpleNamespace(**trainer)
    m._say_no_validation()
    said = ("[pixeltransformer] trainer.overfit_batches=1 validates 1 batch of the val split on each device as well: "
            "val/nll and the best checkpoint score those items alone, not the whole split; to score it, validate a "
            "checkpoint without it: {}\n")
    assert capsys.readouterr().out == said.format("pixeltransformer validate --ckpt_path CKPT")
    m.cli_options = False  # one built in Python: a Trainer's validate
    m._say_no_validation()
    assert capsys.readouterr().out == said.format("Trainer().validate(module, datamodule, ckpt_path=CKPT)")
    m._trainer = SimpleNamespace(**{**trainer, "overfit_batches": 0.5, "limit_val_batches": 0.5})
    m._say_no_validation()
    assert "trainer.overfit_batches=0.5 validates 0.5 of the batches of the val split" in capsys.readouterr().out
    m._trainer = SimpleNamespace(**{**trainer, "overfit_batches": 0, "limit_val_batches": 1.0})
    m._say_no_validation()
    assert capsys.readouterr().out == ""
    m._trainer = SimpleNamespace(**{**trainer, "val_check_interval": 1000, "val_check_batch": 1000})  # never validates
    m._say_no_validation()
    assert "overfit_batches" not in capsys.readouterr().out


def test_a_sweep_curve_cut_off_half_way_leaves_the_one_before(tmp_path, cut_off):
    """A kill or a full disk while metrics_vs_context.png was drawn left half a picture in place of the last one."""
    from pixeltransformer.evaluation import plot_sweep

    path = plot_sweep([{"num_context": k, "nll": 1.0 / k} for k in (4, 16)], {"NLL": ["nll"]}, tmp_path / "m.png")
    before = path.read_bytes()
    cut_off()
    with pytest.raises(OSError, match="No space left on device"):
        plot_sweep([{"num_context": k, "nll": 2.0 / k} for k in (4, 16)], {"NLL": ["nll"]}, path)
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]  # no temporary file left either
