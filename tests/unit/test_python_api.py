"""The module as a notebook uses it: the log-likelihood of values given S, the module called with the graph, and the
lines that name a mistake made in Python rather than on the command line."""

import copy
import functools
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pixeltransformer.evaluation import SweepEvaluation
from pixeltransformer.inference import observed_lookup
from pixeltransformer.sets import draw_context, flatten_grid, grid_positions, item_seed

SPEC = {"domain": "toy", "dataset": "t", "grid_shape": [4, 4], "val_dims": 1, "val_range": [0.0, 1.0], "num_bins": 8}


@pytest.fixture
def module():
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="no Domain named 'toy'"):
        return PixelTransformerModule(spec=SPEC, net=dict(width=32, ffn=64),
                                      sets=dict(min_context=2, max_context=16, num_queries=8)).eval()


def test_log_prob_gives_what_the_evaluation_scores_as_nll(module):
    """No call gave the log-likelihood of held-out values: a notebook had to find predict_params and dist.log_prob,
    and the units metrics.json reports them in (nats per value dimension, queries not in S)."""
    m = module
    signal = torch.rand(3, 1, 4, 4)  # [B, V, 4, 4]
    batch = {"signal": signal, "index": torch.arange(3)}
    sweep = SweepEvaluation(levels=(4,), num_samples=0)
    scored = sweep.evaluate_batch(m, batch)[4]["nll"]  # [B], as metrics.json averages it
    ctx_pos, ctx_val = draw_context(signal, 4, [item_seed(sweep.seed + 1, key, 4) for key in range(3)])  # [B, 4, *]
    qry_pos, qry_val = grid_positions((4, 4)).expand(3, -1, -1), flatten_grid(signal)  # [B, 16, 2], [B, 16, 1]
    log_prob = m.log_prob(ctx_pos, ctx_val, qry_pos, qry_val)  # [B, 16]
    assert log_prob.shape == (3, 16) and not log_prob.requires_grad
    held = ~observed_lookup(ctx_pos, ctx_val, qry_pos)[0]  # [B, 16]
    nll = (-log_prob / m.spec.val_dims * held).sum(1) / held.sum(1)  # [B]
    assert torch.allclose(nll, scored, rtol=1e-5, atol=1e-6)
    # numpy's float64 as the other conveniences take it
    as_numpy = m.log_prob(*(x.double().numpy() for x in (ctx_pos, ctx_val, qry_pos, qry_val)))
    assert torch.allclose(as_numpy, log_prob, atol=1e-6)
    # the module called with the graph gives the same numbers, with gradients with respect to S
    ctx_val = ctx_val.clone().requires_grad_()
    with_graph = m.dist.log_prob(m(ctx_pos, ctx_val, qry_pos), qry_val)  # [B, 16]
    assert torch.allclose(with_graph.detach(), log_prob, atol=1e-6)
    with_graph.sum().backward()
    assert ctx_val.grad is not None and ctx_val.grad.abs().sum() > 0
    # a query's value beyond the bins' range is a value of low density, not a mistake, and no position
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.isfinite(m.log_prob(ctx_pos, ctx_val, qry_pos, qry_val + 1.5)).all()
    with pytest.raises(ValueError, match=r"^qry_pos \[B, Q, P\] and qry_val \[B, Q, V\] disagree on batch or the "
                                         r"number of queries: \[3, 16, 2\] and \[3, 15, 1\]$"):
        m.log_prob(ctx_pos, ctx_val, qry_pos, qry_val[:, 1:])
    with pytest.raises(ValueError, match=r"^qry_val must be \[batch >= 1, points >= 1, 1\]"):
        m.log_prob(ctx_pos, ctx_val, qry_pos, qry_val[..., 0])


def test_the_module_called_with_the_graph_names_bad_input_in_one_line(module):
    """m(ctx_pos, ctx_val, qry_pos), the call to differentiate through, stopped deep in torch on numpy input
    ("'str' object has no attribute 'type'"), float64 values and a wrong number of value dimensions (a matmul's
    shapes)."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    assert m(pos, val, pos).shape == (2, 5, m.dist.num_params)
    with pytest.raises(TypeError, match=r"^ctx_pos must be a torch.Tensor, got numpy.ndarray \(the module's "
                                        r"log_prob, mean_field, sample and complete take numpy arrays"):
        m(pos.numpy(), val.numpy(), pos.numpy())
    with pytest.raises(ValueError, match=r"^ctx_val must be torch.float32, as the model's weights; got torch.float64"):
        m(pos, val.double(), pos)
    with pytest.raises(ValueError, match=r"must agree on B, K and P, with P = 2 and V = 1 for this model; got "
                                         r"\[\[2, 5, 2\], \[2, 5, 3\], \[2, 5, 2\]\]$"):
        m(pos, torch.rand(2, 5, 3), pos)
    # one signal without its batch axis: the line says how to add it, as the conveniences' do
    with pytest.raises(ValueError, match=r"; got \[\[5, 2\], \[5, 1\], \[5, 2\]\] \(ctx_pos holds one signal: give "
                                         r"it a batch axis, x\[None\]\)$"):
        m(pos[0], val[0], pos[0])
    # weights made half, bfloat16 or float64: one line, as the conveniences say it, not torch's "mat1 and mat2 must
    # have the same dtype, but got Float and Half"
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        lowered = copy.deepcopy(m).to(dtype)
        with pytest.raises(ValueError, match=rf"^model parameters are {str(dtype)[6:]}; use torch.autocast to lower "
                                             r"precision, keep the weights float32 \(call .float\(\)\)$"):
            lowered(pos, val.to(dtype), pos)
    # inputs left on another device than the model's (the CPU, beside a model on a GPU): named, not torch's
    # "unsupported scalarType" or "Tensor on device cpu is not on the expected device meta!"
    for args, name in (((pos.to("meta"), val.to("meta"), pos.to("meta")), "ctx_pos"), ((pos, val, pos.to("meta")),
                                                                                       "qry_pos")):
        with pytest.raises(ValueError, match=rf"^{name} is on meta, the model on cpu: move the inputs there \(the "
                                             r"module's log_prob, mean_field, sample and complete move them"):
            m(*args)


def test_the_module_called_with_the_graph_refuses_nan_and_inf_as_the_conveniences_do(module):
    """m(ctx_pos, ctx_val, qry_pos) answered one NaN or Inf in S or the queries with NaN parameters, silently, where
    m.sample and m.log_prob refuse it in one line."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    nan_val, inf_pos = val.clone(), pos.clone()
    nan_val[1, 3, 0], inf_pos[0, 2, 1] = float("nan"), float("inf")
    for args, named in (((pos, nan_val, pos), "ctx_val holds 1 "), ((inf_pos, val, pos), "ctx_pos holds 1 "),
                        ((pos, val, inf_pos), "qry_pos holds 1 "),
                        ((pos, val, pos * float("nan")), "qry_pos holds 20 ")):
        for call in (m, m.sample):
            with pytest.raises(ValueError, match=rf"^{named}NaN or infinite entries \(as torch.float32\); positions "
                                                 r"and values must be finite$"):
                call(*args)


@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")  # torch's vmap of CPU attention
def test_the_module_called_with_the_graph_runs_under_vmap_and_a_full_graph_compile(module):
    """The NaN check of m(ctx_pos, ctx_val, qry_pos) read its answer on the host, so torch.func.vmap(m) stopped in
    "data-dependent control flow" and torch.compile(m, fullgraph=True) in "Data-dependent branching"."""
    m = module
    gen = torch.Generator().manual_seed(3)
    pos, val = torch.rand(3, 2, 5, 2, generator=gen) * 2 - 1, torch.rand(3, 2, 5, 1, generator=gen)  # [3, 2, 5, *]
    with torch.no_grad():
        expected = torch.stack([m(pos[i], val[i], pos[i]) for i in range(3)])  # [3, 2, 5, NP]
        torch.testing.assert_close(torch.func.vmap(m)(pos, val, pos), expected)
        compiled = torch.compile(m, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(pos[0], val[0], pos[0]), expected[0])


def test_an_empty_s_is_refused_as_unconditional_sampling(module):
    """S of no sample was refused as a shape ("ctx_pos must be [batch >= 1, points >= 1, 2] ... got [1, 0, 2]"), which
    did not say that the model cannot sample without one."""
    m = module
    empty_pos, empty_val = torch.zeros(1, 0, 2), torch.zeros(1, 0, 1)
    message = (r"^S is empty \(ctx_pos \[1, 0, 2\]\): the model predicts from at least one sample; unconditional "
               r"sampling is not supported$")
    for call in (lambda: m.complete(empty_pos, empty_val, (4, 4), num_samples=1),
                 lambda: m.mean_field(empty_pos, empty_val, torch.zeros(1, 3, 2))):
        with pytest.raises(ValueError, match=message):
            call()


def test_a_fit_warns_when_the_sampler_draws_sets_larger_than_the_signal(module):
    """A module built in Python without ``sets`` took the core sampler's |S| up to 2048 at continuous positions: on
    a 4x4 signal 3 in 4 of the training sets held more samples than its 16 points, without a word."""
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import SetSampler, denser_than_signal
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec.from_dict(SPEC)
    with pytest.warns(UserWarning, match="no Domain named 'toy'"):
        plain = PixelTransformerModule(spec=SPEC, net=dict(width=32, ffn=64))
    message = (r"^model.sets.max_context=2048 is above the 16 points of toy/t signals \(4, 4\) at continuous "
               r"positions: (\d+)% of the training sets would hold more samples than a signal has points; give the "
               r"sampler the domain's settings \(configs/toy.yaml\), e.g. sets=SetSampler\(max_context=16, ...\)$")
    try:
        with pytest.warns(UserWarning, match=message) as caught:
            plain.setup("fit")
    finally:
        plain.teardown("fit")
    said = int(re.match(message, str(caught[0].message)).group(1))
    # the share it names is the sampler's: |S| drawn as training draws it
    generator = torch.Generator().manual_seed(0)
    drawn = [plain.sampler.draw_k(generator, spec.num_points) for _ in range(4000)]
    assert abs(100 * np.mean([k > spec.num_points for k in drawn]) - said) < 3
    # a sampler that fits the data, or one at grid points (which stops at the point count), says nothing
    assert denser_than_signal(module.sampler, spec) is None
    assert denser_than_signal(SetSampler(grid_points=True), spec) is None
    assert denser_than_signal(SetSampler(max_context=16), spec) is None
    assert "100% of the training sets" in denser_than_signal(SetSampler(min_context=32, max_context=64), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.setup("fit")
        module.teardown("fit")


class _Maps(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return {"signal": torch.linspace(0, 1, 16).view(1, 4, 4) * (i + 1) / 4}  # [1, 4, 4]


def test_a_module_built_in_python_records_the_folder_its_data_came_from(tmp_path):
    """docs/python.md builds the module from dm.spec, the DataModule's own spec, which names no folder (the command
    line links module_spec, which does). A plain Trainer's checkpoint recorded none, so an evaluation of another
    folder of the same dataset was taken for the run's own and written into its eval/."""
    import lightning as L
    import yaml
    from lightning.pytorch.loggers import CSVLogger

    from pixeltransformer.datamodule import SignalDataModule
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.signal import SignalSpec

    class Maps(SignalDataModule):
        spec = SignalSpec.from_dict(SPEC)

        def build_split(self, split: str) -> torch.utils.data.Dataset:
            return _Maps()

    def built(dm: SignalDataModule, spec: SignalSpec | None = None) -> PixelTransformerModule:
        with pytest.warns(UserWarning, match="no Domain named 'toy'"):
            return PixelTransformerModule(spec=spec or dm.spec, net=dict(width=32, ffn=64, encoder_layers=1,
                                                                         decoder_layers=1),
                                          sets=dict(min_context=2, max_context=8, num_queries=8))

    def trainer() -> L.Trainer:
        return L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")

    alps = Maps(root=str(tmp_path / "alps"), batch_size=2)
    module = built(alps)
    assert "source" not in module.spec.extra
    fit = trainer()
    fit.fit(module, datamodule=alps)
    fit.save_checkpoint(tmp_path / "alps.ckpt")
    saved = torch.load(tmp_path / "alps.ckpt", map_location="cpu", weights_only=False)["hyper_parameters"]["spec"]
    assert saved["extra"] == {"source": "alps"} and module.domain.spec.extra == {"source": "alps"}
    # the loggers record the same spec as the checkpoint (a CSV logger's hparams.yaml, W&B's config)
    logged = L.Trainer(max_steps=1, logger=CSVLogger(tmp_path / "logs"), enable_checkpointing=False,
                       enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
    logged.fit(built(alps), datamodule=alps)
    hparams = yaml.safe_load((Path(logged.logger.log_dir) / "hparams.yaml").read_text())
    assert hparams["spec"]["extra"] == {"source": "alps"}
    # evaluated on another folder, the module again built from its DataModule's own spec: beside the run's eval/
    dolomites = Maps(root=str(tmp_path / "dolomites"), batch_size=2)
    other = built(dolomites)
    trainer().validate(other, datamodule=dolomites, ckpt_path=tmp_path / "alps.ckpt", verbose=False)
    assert (other.trained_source, other.eval_folder()) == ("alps", "eval-t-dolomites")
    # a spec of one's own, other than the data's in more than its folder, stays as given
    own = built(alps, SignalSpec.from_dict({**SPEC, "val_range": [0.0, 2.0]}))
    own.name_data_source(alps)
    assert "source" not in own.spec.extra


@pytest.mark.parametrize("stage", ["fit", "validate", "test"])
def test_an_evaluation_of_dataloaders_after_a_fit_is_not_named_or_sized_by_the_fit_s_data(tmp_path, monkeypatch,
                                                                                            stage):
    """After trainer.fit(module, datamodule=alps), trainer.fit, trainer.validate or trainer.test of another module
    given dolomites' dataloaders alone read trainer.datamodule, which Lightning keeps as the fit's: the module was
    named after alps (which its checkpoint would then record), and its step's memory was sized by alps' batch. With
    dataloaders alone neither is known; with a data module, its own is read."""
    import lightning as L

    from pixeltransformer.datamodule import SignalDataModule
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.signal import SignalSpec

    class Maps(SignalDataModule):
        spec = SignalSpec.from_dict(SPEC)

        def build_split(self, split: str) -> torch.utils.data.Dataset:
            return _Maps()

    def built(dm: SignalDataModule) -> PixelTransformerModule:
        with pytest.warns(UserWarning, match="no Domain named 'toy'"):
            return PixelTransformerModule(spec=dm.spec, net=dict(width=32, ffn=64, encoder_layers=1,
                                                                 decoder_layers=1),
                                          sets=dict(min_context=2, max_context=8, num_queries=8))

    sized = []
    check = PixelTransformerModule.check_stage_memory
    monkeypatch.setattr(PixelTransformerModule, "check_stage_memory",
                        lambda self, trainer, dm, s: sized.append((s, dm)) or check(self, trainer, dm, s))
    alps, dolomites = Maps(root=str(tmp_path / "alps"), batch_size=2), Maps(root=str(tmp_path / "dolomites"))
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
    trainer.fit(built(alps), datamodule=alps)
    trainer.save_checkpoint(tmp_path / "alps.ckpt")
    other = built(dolomites)
    if stage == "fit":  # the trainer's max_steps is reached: its setup runs, no step
        run, loader = functools.partial(trainer.fit, other), {"train_dataloaders": dolomites.train_dataloader()}
    else:
        run = functools.partial(getattr(trainer, stage), other, ckpt_path=tmp_path / "alps.ckpt", verbose=False)
        loader = {"dataloaders": dolomites.val_dataloader() if stage == "validate" else dolomites.test_dataloader()}
    run(**loader)
    assert "source" not in other.spec.extra
    run(datamodule=dolomites)
    assert other.spec.extra["source"] == "dolomites"
    if stage != "fit":
        assert (other.trained_source, other.eval_folder()) == ("alps", "eval-t-dolomites")
    assert sized == [("fit", alps), (stage, dolomites)]


def test_a_test_on_other_data_after_a_fit_writes_beside_the_fit_s_eval_folder(tmp_path):
    """trainer.fit(module, datamodule=a) then trainer.test(module, datamodule=b), b another curve file: the
    evaluation folder was named from the module's spec, still a's, so b's metrics.json went into the run's eval/
    (of the trainer's root, or of the checkpoint's run), replacing or mixing with a's. It goes to eval-file-b.npz/;
    a's own test stays in eval/."""
    import lightning as L

    import domains.polynomial.domain  # noqa: F401  (the domain's metrics)
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.module import PixelTransformerModule

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.savez(tmp_path / f"{name}.npz", y=rng.standard_normal((12, 16)))
    a, b = (PolynomialDataModule(dataset="file", root=str(tmp_path / f"{name}.npz"), splits=(-1, 2, 2),
                                 val_range=(-4.0, 4.0), batch_size=2) for name in ("a", "b"))
    module = PixelTransformerModule(spec=a.spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                    sets=dict(min_context=2, max_context=8, num_queries=8),
                                    optim=dict(warmup_steps=0))
    run = tmp_path / "run"
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
                        default_root_dir=str(run), callbacks=[SweepEvaluation(levels=(4,), num_samples=0)])
    trainer.fit(module, datamodule=a)
    trainer.test(module, datamodule=b, verbose=False)
    assert sorted(path.parent.name for path in run.glob("*/metrics.json")) == ["eval-file-b.npz"]
    trainer.test(module, datamodule=a, verbose=False)
    assert sorted(path.parent.name for path in run.glob("*/metrics.json")) == ["eval", "eval-file-b.npz"]
    # of a checkpoint: beside its run's eval/
    trainer.save_checkpoint(tmp_path / "saved" / "checkpoints" / "last.ckpt")
    trainer.test(module, datamodule=b, ckpt_path=tmp_path / "saved" / "checkpoints" / "last.ckpt", verbose=False)
    assert [path.parent.name for path in (tmp_path / "saved").glob("*/metrics.json")] == ["eval-file-b.npz"]


def test_validation_scores_a_bf16_head_output_in_float32(module):
    """Under bf16-mixed (configs/trainer/gpu.yaml) the head's parameters are bf16; val/nll, which picks the best
    checkpoint, took their density in bf16, 0.005 nats a query off the float32 one."""
    torch.manual_seed(1)
    params = (torch.randn(4, 64, module.dist.num_params) * 3).bfloat16()  # [4, 64, NP]
    value = torch.rand(4, 64, 1)  # [4, 64, 1]
    exact = -module.dist.log_prob(params.double(), value.double()) / module.spec.val_dims  # [4, 64] float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nll = module.nll_per_dim(params, value)  # [4, 64]
    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll.double(), exact, rtol=0, atol=1e-4)


def test_the_distribution_refuses_values_and_parameters_of_another_shape(module):
    """m.dist.log_prob(m(ctx_pos, ctx_val, qry_pos), qry_val), the way docs/python.md gives to differentiate, scored
    values of another V without a word: an RGB value [B, Q, 3] broadcast against a grey model's bins (and a grey value
    against an RGB model's) gave a number per query. Values at other queries, and parameters of another width (a
    mean_field answer given as parameters), stopped deep in torch's broadcasting or an index."""
    from pixeltransformer.distribution import BinnedGaussian
    from pixeltransformer.signal import SignalSpec

    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    params = m(pos, val, pos)  # [2, 5, NP]
    assert m.dist.log_prob(params, val).shape == (2, 5)
    # values broadcast against the parameters' queries: T = 11 candidate values under the same parameters
    candidates = torch.linspace(0, 1, 11).reshape(11, 1, 1, 1).expand(-1, 2, 5, 1)  # [11, 2, 5, 1]
    scored = m.dist.log_prob(params.unsqueeze(0), candidates)  # [11, 2, 5]
    assert torch.equal(scored, m.dist.log_prob(params.unsqueeze(0).expand(11, -1, -1, -1), candidates))
    width = m.dist.num_params
    one = params[:1]  # [1, 5, NP]: one signal, whose transposed values [5, 1, 1] broadcast with it to [5, 5]
    for value, given in ((val.expand(-1, -1, 3), params), (val[:, :3], params), (val.transpose(0, 1), params),
                         (val[:1].transpose(0, 1), one)):
        with pytest.raises(ValueError, match=rf"^value must be \[\.\.\., 1\] at the queries of params \[\.\.\., "
                                             rf"{width}\] \(or broadcasting with them\); got value "
                                             rf"{re.escape(str(list(value.shape)))} and params "
                                             rf"{re.escape(str(list(given.shape)))}$"):
            m.dist.log_prob(given, value)
    mean = m.mean_field(pos, val, pos)  # [2, 5, 1]
    for call in (m.dist.mean, m.dist.variance, lambda p: m.dist.cdf(p, 0.5), lambda p: m.dist.log_prob(p, val)):
        with pytest.raises(ValueError, match=rf"^params must be \[\.\.\., {width}\], the model's outputs \(m.predict_"
                                             r"params or m\(ctx_pos, ctx_val, qry_pos\)\); got \[2, 5, 1\]$"):
            call(mean)
    with pytest.raises(TypeError, match=r"^value must be a torch.Tensor, got numpy.ndarray \(convert it with "
                                        r"torch.as_tensor; m.mean_field and m.log_prob take numpy arrays\)$"):
        m.dist.log_prob(params, val.numpy())
    # a threshold per signal [B] broadcast against the one value dimension: [B, Q, B] probabilities
    with pytest.raises(ValueError, match=r"^threshold must be a number or \[\.\.\., V\] with V = 1 \(one per value "
                                         r"dimension\); got \[2\]$"):
        m.dist.cdf(params, torch.tensor([0.5, 0.2]))
    # an RGB distribution: a grey value [..., 1] is refused, and the framed parameters of one Gaussian are read
    rgb = BinnedGaussian.from_spec(SignalSpec.from_dict({**SPEC, "val_dims": 3, "num_bins": 8}))
    colour = torch.randn(2, 5, rgb.num_params)  # [2, 5, NP]
    assert rgb.log_prob(colour, torch.rand(2, 5, 3)).shape == (2, 5)
    assert rgb.cdf(colour, torch.full((3,), 0.5)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match=r"^value must be \[\.\.\., 3\] at the queries"):
        rgb.log_prob(colour, torch.rand(2, 5, 1))
    framed = BinnedGaussian.from_spec(SignalSpec.from_dict({**SPEC, "num_bins": 1}), framed=True)
    assert framed.params_width == framed.num_params + 2
    assert framed.log_prob(torch.randn(2, 5, framed.params_width), torch.rand(2, 5, 1)).shape == (2, 5)


def test_prob_below_takes_one_threshold(module):
    """Completion.prob_below(t) with a threshold per signal [B] answered [B, *grid] with the first signal's threshold
    for every signal (broadcast against the value axis); a list or a string stopped in torch, and NaN gave NaN."""
    m = module
    c = m.complete(torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1), (4, 4))
    want = c.prob_below(0.5)  # [2, 4, 4]
    assert want.shape == (2, 4, 4)
    for same in (np.float32(0.5), np.longdouble(0.5), np.array([0.5], dtype=np.longdouble), np.array(0.5),
                 torch.tensor(0.5), torch.tensor([0.5])):
        assert torch.equal(c.prob_below(same), want)
    assert torch.allclose(c.prob_below(float("inf")), torch.ones(2, 4, 4))
    assert torch.equal(c[1].prob_below(0.2), c.prob_below(0.2)[1:])  # a signal's own threshold
    for bad, said in ((torch.tensor([0.5, 0.2]), "Tensor of dtype torch.float32, shape [2]"),
                      (np.array([0.5, 0.2]), "ndarray of dtype float64, shape [2]"),
                      (torch.tensor(True), "Tensor of dtype torch.bool, shape []"),
                      (np.str_("0.5"), "str_ of dtype <U3"), (np.array("0.5"), "ndarray of dtype <U3"),
                      ([0.5], "[0.5]"), ("0.5", "'0.5'"), (float("nan"), "nan"), (None, "None")):
        with pytest.raises(ValueError, match=r"^prob_below takes one threshold, a real number \(a signal's own: "
                                             rf"c\[i\].prob_below\(t\)\); got {re.escape(said)}$"):
            c.prob_below(bad)


def test_inputs_that_are_not_numbers_are_named(module):
    """None, a string, a ragged list or numpy's object array stopped in torch's conversion ("Could not infer dtype of
    NoneType"), naming no input; a None qry_pos reached the model as the chunk size ("qry_pos must be a torch.Tensor,
    got builtins.int"), and a None qry_val in log_prob failed to unpack."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    for call, name, width, why in (
            (lambda: m.mean_field(pos, None, pos), "ctx_val", 1, "NoneType (Could not infer dtype of NoneType)"),
            (lambda: m.complete("pos", val, (4, 4)), "ctx_pos", 2, "str (new(): invalid data type 'str')"),
            (lambda: m.sample(pos, val, np.array([None] * 20).reshape(2, 5, 2)), "qry_pos", 2,
             "ndarray (can't convert np.ndarray of type numpy.object_)"),
            (lambda: m.mean_field(pos, val, None), "qry_pos", 2, "NoneType (Could not infer dtype of NoneType)"),
            (lambda: m.predict_params(pos, val, None), "qry_pos", 2, "NoneType (Could not infer dtype of NoneType)"),
            (lambda: m.log_prob(pos, val, pos, None), "qry_val", 1, "NoneType (Could not infer dtype of NoneType)")):
        kind = why.split(" (")[0]  # torch's own words follow in brackets, as its version words them
        with pytest.raises(TypeError, match=rf"^{name} must be a tensor or array of numbers \[batch, points, "
                                            rf"{width}\], got {re.escape(kind)} \(.+\)$"):
            call()


def test_the_answers_under_autocast_are_float32_but_predict_params(module):
    """docs/python.md: under torch.autocast the answers stay float32, but for predict_params, the head's own output
    in the autocast dtype (it said every answer stayed float32)."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        c = m.complete(pos, val, (4, 4), num_samples=1)
        answers = (m.mean_field(pos, val, pos), m.log_prob(pos, val, pos, val), m.sample(pos, val, pos), c.mean,
                   c.samples, c.std(), c.prob_below(0.5))
        params = m.predict_params(pos, val, pos)  # [2, 5, NP]
    assert all(a.dtype == torch.float32 for a in answers)
    assert params.dtype == torch.bfloat16


def test_numpy_arrays_that_torch_cannot_share_are_read(module):
    """The conveniences take numpy arrays, but np.flip's (negative strides) and another byte order's ('>f4', as a
    file written on another machine reads) were refused in torch's words, and a read-only array (np.broadcast_to, a
    memory map, JAX's) drew torch's warning that writing to it is undefined behaviour."""
    m = module
    pos, val = np.random.default_rng(0).uniform(-1, 1, (2, 5, 2)), np.random.default_rng(1).uniform(0, 1, (2, 5, 1))
    qry = np.random.default_rng(2).uniform(-1, 1, (2, 7, 2))  # [2, 7, 2]
    want = m.mean_field(pos, val, qry)  # [2, 7, 1]
    flipped = np.flip(np.flip(val, 1).copy(), 1)  # the same values through a view of negative strides
    assert flipped.strides[1] < 0
    swapped = pos.astype(">f8")  # big-endian
    shared = np.broadcast_to(qry[:1], qry.shape)  # read-only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(m.mean_field(swapped, flipped, qry), want)
        assert torch.equal(m.mean_field(pos, val, shared), m.mean_field(pos, val, np.ascontiguousarray(shared)))
        assert torch.equal(m.log_prob(pos, flipped, qry, np.flip(np.zeros((2, 7, 1)), 0)),  # [2, 7]
                           m.log_prob(pos, val, qry, np.zeros((2, 7, 1))))
    # a 0-d array is named by its own shape, [], not the [1] a contiguous copy made of it
    with pytest.raises(ValueError, match=r"^ctx_val must be \[batch >= 1, points >= 1, 1\].*, got \[\]$"):
        m.mean_field(pos, np.array(0.5), qry)


def test_positions_too_far_for_float32_are_refused_not_answered_nan(module):
    """S at positions up to 1e18 (data in its own units, a timestamp in nanoseconds) made every answer NaN, with only
    the warning that the model extrapolates beyond [-1, 1]: the distance bias's float32 terms l |x|^2 overflow (from
    3.3e17 in a 10-step SDF or video model; queries, and the Fourier features without the bias, from 5e20)."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    pos[0, 0, 1] = 1.0
    for call, name, power in ((lambda: m.mean_field(pos * 1e18, val, pos), "ctx_pos", 18),
                              (lambda: m.complete(pos * 1e18, val, (4, 4), num_samples=1), "ctx_pos", 18),
                              (lambda: m.log_prob(pos, val, pos * 1e30, val), "qry_pos", 30)):
        with pytest.raises(ValueError, match=rf"^{name} reaches 1e\+{power}: positions must lie within "
                                             r"\+-1000000000000000 "
                                             r"\(beyond that the model's float32 arithmetic overflows\); the model was "
                                             r"trained on positions in \[-1, 1\]$"):
            call()
    # up to the bound, an answer, with the warning that it extrapolates
    with pytest.warns(UserWarning, match=r"^ctx_pos reaches 1e\+15: the model was trained on positions in \[-1, 1\]"):
        assert torch.isfinite(m.mean_field(pos * 1e15, val, pos)).all()


def test_sample_names_the_count_it_takes(module):
    """m.sample(..., num_samples=-1) (or 1.5) said "num_samples must be an int >= 0", and 0, given then, was refused
    as below 1."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    for count in (0, -1, 1.5, None, True):
        with pytest.raises(ValueError, match=rf"^num_samples must be an int >= 1 \(the mean: mean_field\), got "
                                             rf"{re.escape(repr(count))}$"):
            m.sample(pos, val, pos, num_samples=count)
    assert m.sample(pos, val, pos, num_samples=np.int64(2)).shape == (2, 2, 5, 1)
    # complete has the mean to give: 0 samples is its default
    with pytest.raises(ValueError, match=r"^num_samples must be an int >= 0, got -1$"):
        m.complete(pos, val, (4, 4), num_samples=-1)


def test_sample_draws_one_value_at_a_position_asked_for_twice(module):
    """m.sample with a query position given twice drew two values there (the second conditioned on the first, but
    random): each distinct position is now drawn once, and its repeats get that value, in the queries' order."""
    m = module
    ctx_pos, ctx_val = torch.rand(2, 3, 2) * 2 - 1, torch.rand(2, 3, 1)  # [2, 3, 2], [2, 3, 1]
    a, b = torch.tensor([0.3, -0.4]), torch.tensor([-0.7, 0.9])  # [2], [2]
    qry = torch.stack([torch.stack([a, ctx_pos[0, 1], a, b, ctx_pos[0, 2], b, a]),
                       torch.stack([b, a, ctx_pos[1, 0], b, b, a, -a])])  # [2, 7, 2]
    repeats = [[(0, 2, 6), (3, 5)], [(0, 3, 4), (1, 5)]]  # per signal: the queries at one position
    for n_ar in (None, 1):
        drawn = m.sample(ctx_pos, ctx_val, qry, num_samples=3, n_autoregressive=n_ar, seed=5)  # [2, 3, 7, 1]
        assert drawn.shape == (2, 3, 7, 1)
        for i, groups in enumerate(repeats):
            for group in groups:
                for j in group[1:]:
                    assert torch.equal(drawn[i, :, j], drawn[i, :, group[0]]), (n_ar, i, group)
        assert not torch.equal(drawn[0, :, 0], drawn[0, :, 3])  # two positions, two draws
        # the queries' order: those on S keep its values where they were asked
        assert torch.equal(drawn[0, :, 1], ctx_val[0, 1].expand(3, 1)) and torch.equal(drawn[0, :, 4],
                                                                                        ctx_val[0, 2].expand(3, 1))
        assert torch.equal(drawn[1, :, 2], ctx_val[1, 0].expand(3, 1))
    # a signal without repeats draws what it draws beside one with repeats, or alone (up to float32 rounding)
    distinct = torch.stack([a, b, -a, -b]).unsqueeze(0)  # [1, 4, 2]
    alone = m.sample(ctx_pos[:1], ctx_val[:1], distinct, num_samples=2, seed=[7])  # [1, 2, 4, 1]
    beside = m.sample(ctx_pos, ctx_val, torch.cat([distinct, qry[1:, :4]]), num_samples=2, seed=[7, 8])
    assert torch.allclose(alone[0], beside[0], atol=1e-6)


def test_complete_s_grid_is_not_searched_for_repeated_positions(module, monkeypatch):
    """A grid's points are distinct, but m.complete's samples sorted its queries to find repeats (seconds on a
    large grid)."""
    from pixeltransformer import inference

    def searched(qry_pos):
        raise AssertionError("the grid was searched for repeated positions")

    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    grid = grid_positions((4, 4)).expand(2, -1, -1)  # [2, 16, 2]
    searched_once = m.sample(pos, val, grid, num_samples=2, seed=3)  # [2, 2, 16, 1]
    monkeypatch.setattr(inference, "first_at_position", searched)
    samples = m.complete(pos, val, (4, 4), num_samples=2, seed=3).samples  # [2, 2, 1, 4, 4]
    assert torch.equal(flatten_grid(samples.flatten(0, 1)).unflatten(0, (2, 2)), searched_once)
    with pytest.raises(AssertionError, match="searched for repeated positions"):  # queries of the caller's: searched
        m.sample(pos, val, pos)


def test_sample_takes_no_option_that_skips_the_search_for_repeats(module):
    """m.sample took ``distinct=True``, the grid callers' own word that their queries are a grid's points: given by a
    user, queries with repeats were drawn apart at each repeat, without a word. It is no option of sample now, and
    the refusal names no private keyword (Python 3.13 adds "Did you mean '_distinct'?" where one is close)."""
    from pixeltransformer import inference

    m = module
    pos, val = torch.rand(1, 3, 2) * 2 - 1, torch.rand(1, 3, 1)  # [1, 3, 2], [1, 3, 1]
    for call in (lambda: m.sample(pos, val, pos, distinct=True),
                 lambda: inference.sample(m.model, m.dist, pos, val, pos, distinct=True)):
        with pytest.raises(TypeError, match=r"unexpected keyword argument 'distinct'") as refused:
            call()
        assert not re.search(r"'_\w+'", str(refused.value)), refused.value


def test_the_notebook_api_reads_its_inputs_for_nan_and_inf_once_a_call(module, monkeypatch):
    """m.complete read S for NaN and Inf three times (api_inputs, the mean's predict_params, the samples' sample), and
    m.sample its inputs twice, each read a wait for the device: api_inputs checks them once and tells the inference
    functions so."""
    from collections import Counter

    from pixeltransformer import inference
    from pixeltransformer import module as module_file

    reads, check = Counter(), inference.check_finite

    def counted(**named: torch.Tensor) -> None:
        reads.update(named.keys())
        check(**named)

    monkeypatch.setattr(module_file, "check_finite", counted)
    monkeypatch.setattr(inference, "check_finite", counted)  # complete and sample call it under this name
    m = module
    pos, val = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1)  # [1, 5, 2], [1, 5, 1]
    m.complete(pos, val, (4, 4), num_samples=1)
    assert reads == Counter(ctx_pos=1, ctx_val=1), reads
    reads.clear()
    m.sample(pos, val, pos, num_samples=1)
    assert reads == Counter(ctx_pos=1, ctx_val=1, qry_pos=1), reads


def test_the_documented_draws_give_the_evaluations_nll_in_every_kind_of_sweep(module):
    """docs/python.md drew S for the evaluation's nll as images' sweep does, at grid points over every grid point: 3D
    shapes' sweep (`grid_points: false`) draws S at continuous positions, and polynomials' (`queries: 100`) draws S
    and 100 queries together, so the page's draw scored other sets than metrics.json (a 10-step SDF model: 14.21
    against 14.40 nats at |S| = 8; a polynomial one: 2.89 against 2.90)."""
    from pixeltransformer.sets import SetSampler, fixed_sets

    m = module
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text().split())
    spans = re.findall(r"`([^`]*)`", page[page.index("**Log-likelihood.**"):page.index("**Sampling.**")])
    draw = next(s for s in spans if s.startswith("draw_context("))
    together = next(s for s in spans if s.startswith("fixed_sets("))
    signal, keys, k = torch.rand(3, 1, 4, 4), [5, 0, 9], 4  # [B, V, 4, 4]
    scope = dict(draw_context=draw_context, item_seed=item_seed, fixed_sets=fixed_sets, SetSampler=SetSampler,
                 signal=signal, keys=keys, k=k, N=8)

    def nll(ctx_pos, ctx_val, qry_pos, qry_val) -> torch.Tensor:
        held = ~observed_lookup(ctx_pos, ctx_val, qry_pos)[0]  # [B, Q]
        return (-m.log_prob(ctx_pos, ctx_val, qry_pos, qry_val) / m.spec.val_dims * held).sum(1) / held.sum(1)  # [B]

    batch = {"signal": signal, "index": torch.tensor(keys)}
    for grid_points in (True, False):
        scored = SweepEvaluation(levels=(k,), num_samples=0, grid_points=grid_points).evaluate_batch(m, batch)[k]
        ctx_pos, ctx_val = eval(draw, {**scope, "grid_points": grid_points})  # noqa: S307 - the page's own code
        qry_pos, qry_val = grid_positions((4, 4)).expand(3, -1, -1), flatten_grid(signal)  # [B, 16, 2], [B, 16, 1]
        torch.testing.assert_close(nll(ctx_pos, ctx_val, qry_pos, qry_val), scored["nll"], rtol=1e-5, atol=1e-6)
    scored = SweepEvaluation(levels=(k,), queries=8, num_samples=0).evaluate_batch(m, batch)[k]
    sets = eval(together, {**scope, "grid_points": True})  # noqa: S307
    torch.testing.assert_close(nll(sets.ctx_pos, sets.ctx_val, sets.qry_pos, sets.qry_val), scored["nll"], rtol=1e-5,
                               atol=1e-6)


def test_a_grid_too_large_for_the_machine_is_refused_in_one_line(module, monkeypatch):
    """m.complete(..., (10**7, 10**7)) (a typo; (100000,) * 3 on a 3D model) stopped deep in torch's allocator,
    "DefaultCPUAllocator: can't allocate memory: you tried to allocate 400000000000000 bytes", as `predict
    --resolution` did before it was refused."""
    from pixeltransformer import memory

    m = module
    pos, val = torch.rand(3, 5, 2) * 2 - 1, torch.rand(3, 5, 1)  # [3, 5, 2], [3, 5, 1]
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"^grid_shape \(10000000, 10000000\) means 1e\+14 points, whose completion "
                                         r"of 3 signals needs at least 62.9 PiB: more than the 1 GiB of memory "
                                         r"available now$"):
        m.complete(pos, val, (10**7, 10**7), num_samples=2)
    assert m.complete(pos, val, (64, 64), num_samples=1, n_autoregressive=4).samples.shape == (3, 1, 1, 64, 64)


def test_samples_too_many_for_the_machine_are_refused_in_one_line_naming_the_most_that_fit(module, monkeypatch):
    """m.sample(..., num_samples=10**9) (a typo) had no memory check, where m.complete has one: its chains [B * S, Q, P]
    went to torch's allocator, which stops deep in its traceback or takes the machine's memory. Sampling is stubbed
    here: the check decides before anything is drawn."""
    from pixeltransformer import module as module_py
    from pixeltransformer import memory as memory_py

    m = module
    pos, val, qry = torch.rand(3, 5, 2) * 2 - 1, torch.rand(3, 5, 1), torch.rand(3, 16, 2) * 2 - 1  # [3, 5, 2], ...
    drawn = []
    monkeypatch.setattr(module_py, "sample", lambda *args, num_samples, **kw: drawn.append(num_samples))
    memory = 3 * 16 * 1000 * 29  # 3 signals x 16 queries x 1000 chains, 29 bytes each (sample_bytes): fit
    monkeypatch.setattr(memory_py, "available_memory", lambda: memory)
    message = (f"num_samples 1000000000 at 16 queries of 3 signals need at least {memory_py.in_bytes(memory * 10**6)}: "
               f"more than the {memory_py.in_bytes(memory)} of memory available now; at most num_samples 1000")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        m.sample(pos, val, qry, num_samples=10**9)
    with pytest.raises(ValueError, match="at most num_samples 1000$"):
        m.sample(pos, val, qry, num_samples=1001)
    m.sample(pos, val, qry, num_samples=1000)
    assert drawn == [1000]
    monkeypatch.setattr(memory_py, "available_memory", lambda: 1)
    with pytest.raises(ValueError, match=r"^num_samples 1 at 16 queries of 3 signals need at least .*: more than "
                                         r"the 1 bytes of memory available now; give fewer queries or signals a "
                                         r"call$"):
        m.sample(pos, val, qry, num_samples=1)


def test_samples_and_grids_on_a_gpu_are_checked_against_its_free_memory(module, monkeypatch):
    """m.sample and m.complete compared their chains and grids with the host's memory whatever the device: a model
    on a GPU of 16 GiB was let through to CUDA's out-of-memory error on a host of 512 GiB. Where the tensors are on
    a CUDA device, the check compares with what torch.cuda.mem_get_info says is free there (and what torch's caching
    allocator holds there unused); CPU tensors are checked against the host's memory as before."""
    from pixeltransformer import memory

    m = module
    asked = []
    monkeypatch.setattr(memory, "available_memory", lambda: 2**40)  # the host's: plenty
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: asked.append(device) or (2**30, 16 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 2**29)
    gpu = torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"^num_samples 100000000 at 16 queries of 3 signals need at least 130 GiB: "
                                         r"more than the 1.5 GiB of memory free on cuda:0 now; at most num_samples "
                                         r"1157049$"):
        m.check_sample_memory(3, 16, 10**8, gpu)
    with pytest.raises(ValueError, match=r"^grid_shape \(10000, 10000\) means 100,000,000 points, whose completion of "
                                         r"3 signals needs at least .*: more than the 1.5 GiB of memory free on "
                                         r"cuda:0 now$"):
        m.check_grid_memory((10000, 10000), 3, 0, gpu)
    assert asked == [gpu, gpu]
    m.check_sample_memory(3, 16, 10**8, torch.device("cpu"))  # the host's memory, as before
    m.check_grid_memory((10000, 10000), 3, 0, torch.device("cpu"))
    pos, val, qry = torch.rand(3, 5, 2) * 2 - 1, torch.rand(3, 5, 1), torch.rand(3, 16, 2) * 2 - 1  # [3, 5, 2], ...
    m.sample(pos, val, qry, num_samples=1, n_autoregressive=2)  # CPU tensors: mem_get_info is not asked
    assert asked == [gpu, gpu]


def test_training_without_the_cli_names_every_option_group_a_domain_config_sets():
    """docs/python.md listed the options a plain Trainer's module must be given (the sampler, the network, the
    validation levels) but not the head and loss nor the optimiser, which configs/polynomial.yaml sets (a Gaussian
    NLL, beta 0.5) and every domain's config changes (lr 1e-3, twice the default)."""
    import inspect

    import yaml

    from pixeltransformer.module import PixelTransformerModule

    repo = Path(__file__).resolve().parents[2]
    page = " ".join((repo / "docs" / "python.md").read_text().split())
    told = page[page.index("**Training without the CLI.**"):]
    told = told[:told.index("```")]
    taken = set(inspect.signature(PixelTransformerModule).parameters)
    groups = {key for path in sorted((repo / "configs").glob("*.yaml"))
              for key in yaml.safe_load(path.read_text()).get("model", {})} - {"domain"}  # the domain: by name
    assert groups <= taken
    assert sorted(g for g in groups if not re.search(rf"`{g}(=|`)", told)) == []


def test_a_checkpoint_naming_options_this_version_does_not_take_is_refused_in_one_line(tmp_path, poly_spec):
    """hyper_parameters of another version or edited (an option moved since, or added by a later version) stopped
    load_module in a TypeError's traceback ("unexpected keyword argument 'encoder'") or a ValueError that named
    neither the file nor the cause; they are refused by file, each option named, with its new name where it moved."""
    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import CheckpointError, load_module
    from tests.cli.checkpoints import untrained_checkpoint

    ckpt = untrained_checkpoint(poly_spec.to_dict())
    torch.save(ckpt, tmp_path / "now.ckpt")
    hp = ckpt["hyper_parameters"]
    hp["encoder"] = hp["net"].pop("encoder")  # the name of an earlier version
    hp["net"]["future_knob"] = 3  # a later version's option
    torch.save(ckpt, tmp_path / "old.ckpt")
    with pytest.raises(CheckpointError) as refused:
        load_module(tmp_path / "old.ckpt")
    assert str(refused.value) == (
        f"{tmp_path / 'old.ckpt'}: its hyper_parameters hold model.encoder (now model.net.encoder), "
        "model.net.future_knob, which this version does not take: the checkpoint comes from another version of "
        "PixelTransformer, or was edited; use it with the version that wrote it, or retrain")
    del hp["encoder"], hp["net"]["future_knob"], hp["val_levels"]  # an option left out takes its default
    torch.save(ckpt, tmp_path / "fewer.ckpt")
    assert load_module(tmp_path / "fewer.ckpt").net_config == load_module(tmp_path / "now.ckpt").net_config


def test_weights_of_another_shape_than_the_hyperparameters_are_refused_when_a_trainer_loads_them(poly_spec):
    """A checkpoint whose hyper_parameters were edited to another size: the command line builds the model from them
    and Lightning's restore stopped in torch's multi-line "Error(s) in loading state_dict" (exit status 1, a
    traceback); the module refuses it in one line before the weights are loaded, as load_module does."""
    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import CheckpointError
    from pixeltransformer.module import PixelTransformerModule
    from tests.cli.checkpoints import untrained_checkpoint

    ckpt = untrained_checkpoint(poly_spec.to_dict())  # width 64
    hp = {**ckpt["hyper_parameters"], "net": {**ckpt["hyper_parameters"]["net"], "width": 32}}
    module = PixelTransformerModule(**hp)
    with pytest.raises(CheckpointError, match=r"^checkpoint: weights do not match the model its hyper_parameters "
                                              r"describe \(\d+ of another shape, first model\.\S+: \[64, \d+\] in the "
                                              r"file, \[32, \d+\] in the model\): an edited or damaged checkpoint"):
        module.on_load_checkpoint({**ckpt, "hyper_parameters": hp})


def test_a_checkpoint_whose_hyperparameters_lack_the_spec_or_are_not_options_is_refused_in_one_line(tmp_path,
                                                                                                    poly_spec):
    """hyper_parameters damaged or edited: a spec without its grid stopped load_module (and every command) in a
    KeyError's traceback, a spec entry of a later version or hyper_parameters of None in a TypeError's, and a
    checkpoint without a spec said the module "needs a SignalSpec (the CLI links it from the DataModule)". A spec of
    an earlier version, without the entries added since (frame_unit, pos_offset), still loads."""
    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import CheckpointError, load_module
    from tests.cli.checkpoints import untrained_checkpoint

    damaged = "a damaged or edited checkpoint; use the file as its run saved it"
    for name, edit, message in [
            ("nogrid", lambda hp: hp["spec"].pop("grid_shape"),
             f"its hyper_parameters' spec lacks grid_shape: {damaged}"),
            ("nospec", lambda hp: hp.pop("spec"),
             f"its hyper_parameters hold no spec (the signal's domain, grid and values): {damaged}"),
            ("later", lambda hp: hp["spec"].update(future=1), "its hyper_parameters hold spec.future, which this "
             "version does not take"),
            ("none", None, f"its hyper_parameters are NoneType, not a mapping of options: {damaged}"),
            ("earlier", lambda hp: [hp["spec"].pop(key) for key in ("frame_unit", "pos_offset")], None)]:
        ckpt = untrained_checkpoint(poly_spec.to_dict())
        if edit is None:
            ckpt["hyper_parameters"] = None
        else:
            edit(ckpt["hyper_parameters"])
        torch.save(ckpt, tmp_path / f"{name}.ckpt")
        if message is None:
            assert load_module(tmp_path / f"{name}.ckpt").spec.grid_shape == (64,)
            continue
        with pytest.raises(CheckpointError) as refused:
            load_module(tmp_path / f"{name}.ckpt")
        assert str(refused.value).startswith(f"{tmp_path / f'{name}.ckpt'}: {message}"), str(refused.value)


def test_a_checkpoint_saved_on_a_gpu_in_bf16_loads_on_a_cpu_in_float32(tmp_path, poly_spec, monkeypatch):
    """A checkpoint written on a GPU records its tensors' device ('cuda:0'), which torch.load without map_location
    refuses on a machine without one; its weights may be bf16 (a bf16-true run elsewhere). load_module reads it onto
    the CPU and gives float32 weights of the same values."""
    import torch.serialization

    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import load_module
    from tests.cli.checkpoints import untrained_checkpoint

    ckpt = untrained_checkpoint(poly_spec.to_dict())
    ckpt["state_dict"] = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}
    with monkeypatch.context() as patch:  # as torch.save records a CUDA tensor's storage
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(ckpt, tmp_path / "gpu.ckpt")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "gpu.ckpt", weights_only=True)
    module = load_module(tmp_path / "gpu.ckpt")
    head = module.state_dict()["model.head.weight"]
    assert head.device.type == "cpu" and head.dtype == torch.float32
    assert torch.equal(head, ckpt["state_dict"]["model.head.weight"].float())


def test_a_checkpoint_in_torch_s_format_before_1_6_loads_and_a_zip_of_other_files_is_named(tmp_path, poly_spec):
    """A checkpoint re-saved in torch.save's format before 1.6 (``_use_new_zipfile_serialization=False``), which
    torch.load reads, was refused as "not a PyTorch checkpoint, or truncated"; a zip archive of other files said
    torch's "[enforce fail at inline_container.cc:180] . file in archive is not in a subdirectory"."""
    import zipfile

    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import CheckpointError, load_module
    from tests.cli.checkpoints import untrained_checkpoint

    ckpt = untrained_checkpoint(poly_spec.to_dict())
    torch.save(ckpt, tmp_path / "legacy.ckpt", _use_new_zipfile_serialization=False)
    head = load_module(tmp_path / "legacy.ckpt").state_dict()["model.head.weight"]
    assert torch.equal(head, ckpt["state_dict"]["model.head.weight"])
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "legacy.ckpt").read_bytes()[:3000])
    with zipfile.ZipFile(tmp_path / "other.ckpt", "w") as archive:
        archive.writestr("readme.txt", "weights of another program")
    for name, why in (("cut", "truncated (the file ends early)"),
                      ("other", "a zip archive of other files, not a PyTorch checkpoint")):
        with pytest.raises(CheckpointError) as refused:
            load_module(tmp_path / f"{name}.ckpt")
        assert str(refused.value) == f"cannot read checkpoint {tmp_path / f'{name}.ckpt'}: {why}"


def test_one_signal_without_its_batch_axis_is_told_how_to_add_it(module):
    """A notebook's one signal, ctx_pos [K, P] and ctx_val [K, V] (or a polynomial's [K] points, or values [B, Q]
    without their axis of one value), was refused as "must be [batch >= 1, points >= 1, 2] ..., got [5, 2]", which
    named the shape taken but not the axis missing."""
    m = module
    pos, val, qry = torch.rand(5, 2) * 2 - 1, torch.rand(5, 1), torch.rand(7, 2) * 2 - 1  # one signal, no batch axis
    with pytest.raises(ValueError, match=r"^ctx_pos must be \[batch >= 1, points >= 1, 2\] for toy/t, got \[5, 2\] "
                                         r"\(one signal: give it a batch axis, x\[None\]\)$"):
        m.mean_field(pos, val, qry)
    with pytest.raises(ValueError, match=r"^ctx_val must be \[batch >= 1, points >= 1, 1\] for toy/t, got \[1, 5\] "
                                         r"\(\[batch, points\] without the value axis: x\[\.\.\., None\]\)$"):
        m.mean_field(pos[None], val[None, :, 0], qry[None])
    with pytest.raises(ValueError, match=r"^qry_val must be \[batch >= 1, points >= 1, 1\] for toy/t, got \[7\] "
                                         r"\(one signal's points: x\[None, :, None\]\)$"):
        m.log_prob(pos[None], val[None], qry[None], torch.rand(7))
    assert m.mean_field(pos[None], val[None], qry[None]).shape == (1, 7, 1)  # the remedies, as the lines give them


def test_a_list_of_signals_is_stacked_into_a_batch(module):
    """A notebook's batch as a list of signals, [pos_a, pos_b], was refused for tensors in torch's words ("got list
    (only one element tensors can be converted to Python scalars)") and read from numpy arrays with torch's warning
    "Creating a tensor from a list of numpy.ndarrays is extremely slow"; sets of other sizes are named as such."""
    m = module
    pos, val, qry = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1), torch.rand(2, 7, 2) * 2 - 1  # [2, 5 or 7, *]
    want = m.mean_field(pos, val, qry)  # [2, 7, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(m.mean_field(list(pos), list(val), list(qry)), want)
        assert torch.equal(m.mean_field([p.numpy() for p in pos], tuple(v.numpy() for v in val), qry.numpy()), want)
    with pytest.raises(ValueError, match=r"^ctx_pos is a list of 2 signals of different shapes, \[5, 2\] and \[4, 2\]: "
                                         r"a batch holds sets of one size \(call once per signal\)$"):
        m.mean_field([pos[0], pos[1, :4]], list(val), list(qry))


def test_a_masked_array_with_masked_entries_is_refused_not_read_under_its_mask(module):
    """A numpy masked array (np.ma, a notebook's way to mark missing values) was read with the numbers under its mask,
    as if observed, without a word: torch ignores the mask."""
    m = module
    pos, val, qry = np.random.default_rng(0).uniform(-1, 1, (1, 5, 2)), np.full((1, 5, 1), 0.5), np.zeros((1, 3, 2))
    hidden = np.ma.masked_array(val, mask=np.arange(5).reshape(1, 5, 1) >= 3)  # [1, 5, 1], the last 2 masked
    with pytest.raises(ValueError, match=r"^ctx_val is a masked array with 2 masked entries, which torch would read "
                                         r"as numbers: leave those samples out \(the same rows of positions and "
                                         r"values\)$"):
        m.mean_field(pos, hidden, qry)
    with pytest.raises(ValueError, match=r"^ctx_val holds masked arrays with 2 masked entries"):  # a list of them
        m.mean_field(pos, list(hidden), qry)
    assert torch.equal(m.mean_field(pos, np.ma.masked_array(val), qry), m.mean_field(pos, val, qry))  # none masked


def test_positions_given_as_grid_indices_are_told_where_an_index_lies(module, tiny_module):
    """Pixel indices (0..3 on a 4x4 model), a notebook's first guess at an image's positions, drew only "ctx_pos
    reaches 3: the model was trained on positions in [-1, 1]; beyond that it extrapolates", which does not say that
    they are read as positions far outside the picture, nor where an index lies."""
    m = module
    rows, cols = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    indices = np.stack([rows, cols], -1).reshape(1, 16, 2)[:, ::3]  # [1, 6, 2] pixel indices, whole numbers
    val = np.full((1, 6, 1), 0.5)
    with pytest.warns(UserWarning, match=r"^ctx_pos reaches 3: the model was trained on positions in \[-1, 1\]; "
                                         r"beyond that it extrapolates \(grid indices\? index i of the model's n "
                                         r"points along an axis lies at 2i/\(n - 1\) - 1, n = 4 x 4: "
                                         r"pixeltransformer\.sets\.grid_positions\)$"):
        m.mean_field(indices, val, np.zeros((1, 2, 2)))
    with pytest.warns(UserWarning, match=r"^ctx_pos reaches 2\.5: the model was trained on positions in \[-1, 1\]; "
                                         r"beyond that it extrapolates$"):  # not indices
        m.mean_field(indices + 0.5 - 1, val, np.zeros((1, 2, 2)))
    with pytest.warns(UserWarning, match=r"^qry_pos reaches 3: .* beyond that it extrapolates$"):  # a curve's x = 3
        tiny_module.mean_field([[[0.5]]], [[[1.0]]], [[[3.0]]])


def test_the_module_called_with_the_graph_names_the_input_that_lacks_its_batch_axis(module):
    """m(...) given S's positions with their batch axis but its values without ended "got [[1, 5, 2], [5, 1],
    [1, 5, 2]] (one signal: give it a batch axis, x[None])", naming no input, as if the positions lacked it too."""
    m = module
    pos, val = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1)  # [1, 5, 2], [1, 5, 1]
    with pytest.raises(ValueError, match=r"; got \[\[1, 5, 2\], \[5, 1\], \[1, 5, 2\]\] \(ctx_val holds one signal: "
                                         r"give it a batch axis, x\[None\]\)$"):
        m(pos, val[0], pos)
    with pytest.raises(ValueError, match=r"; got \[\[1, 5, 2\], \[1, 5, 1\], \[1, 5\]\]$"):  # no remedy fits [1, 5]
        m(pos, val, pos[..., 0])


def test_a_missing_axis_is_named_as_positions_or_values_with_a_remedy_that_works_on_what_was_given(module,
                                                                                                 tiny_module):
    """A curve's positions [B, K] (P = 1) were told "[batch, points] without the value axis", and a list's remedies,
    x[None] and x[None, :, None], stopped in "list indices must be integers or slices, not NoneType"."""
    t = tiny_module
    pos, val = torch.rand(1, 5) * 2 - 1, torch.rand(1, 5, 1)  # a curve's positions without their axis of one
    with pytest.raises(ValueError, match=r"^ctx_pos must be \[batch >= 1, points >= 1, 1\] for polynomial/polynomial, "
                                         r"got \[1, 5\] \(\[batch, points\] without the position axis: "
                                         r"x\[\.\.\., None\]\)$"):
        t.mean_field(pos, val, pos[..., None])
    listed = pos.tolist()  # [[x, ...]]
    with pytest.raises(ValueError, match=r"^qry_pos must be \[batch >= 1, points >= 1, 1\] for polynomial/polynomial, "
                                         r"got \[1, 5\] \(\[batch, points\] without the position axis: "
                                         r"np\.asarray\(x\)\[\.\.\., None\]\)$"):
        t.mean_field(pos[..., None], val, listed)
    assert t.mean_field(pos[..., None], val, np.asarray(listed)[..., None]).shape == (1, 5, 1)
    with pytest.raises(ValueError, match=r"^qry_val must be \[batch >= 1, points >= 1, 1\] for polynomial/polynomial, "
                                         r"got \[5\] \(one signal's points: np\.asarray\(x\)\[None, :, None\]\)$"):
        t.log_prob(pos[..., None], val, pos[..., None], listed[0])
    assert t.log_prob(pos[..., None], val, pos[..., None], np.asarray(listed[0])[None, :, None]).shape == (1, 5)
    m = module
    points = (torch.rand(5, 2) * 2 - 1).tolist()  # one signal's positions as a list, [[y, x], ...]
    with pytest.raises(ValueError, match=r"^ctx_pos must be \[batch >= 1, points >= 1, 2\] for toy/t, got \[5, 2\] "
                                         r"\(one signal: give it a batch axis, np\.asarray\(x\)\[None\]\)$"):
        m.mean_field(points, torch.rand(1, 5, 1), torch.zeros(1, 3, 2))
    assert m.mean_field(np.asarray(points)[None], torch.rand(1, 5, 1), torch.zeros(1, 3, 2)).shape == (1, 3, 1)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_list_of_signals_is_stacked_from_any_device_or_array_type_and_else_named_in_one_line(module):
    """A list of signals was stacked outside the checks, so it stopped in torch's or numpy's words: tensors on two
    devices ("Tensor on device meta is not on the expected device cpu!"), a list of np.matrix ("shape too large to
    be a matrix"), and a list torch refuses was named "got ndarray", which is not what was given."""
    m = module
    pos, val, qry = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1), torch.rand(2, 7, 2) * 2 - 1  # [2, 5 or 7, *]
    want = m.mean_field(pos, val, qry)  # [2, 7, 1]
    matrices = [np.matrix(p.numpy()) for p in pos]  # np.matrix [5, 2] each
    assert torch.equal(m.mean_field(matrices, [np.matrix(v.numpy()) for v in val], qry), want)
    if torch.cuda.is_available():  # signals on two devices: stacked on the first's, then moved to the model's
        assert torch.allclose(m.mean_field([pos[0].cuda(), pos[1]], val, qry), want)
    for meta in ([pos[0], pos[1].to("meta")], [pos[0].to("meta"), pos[1]]):
        with pytest.raises(ValueError, match=r"^ctx_pos holds a meta tensor, which holds a shape but no values: give "
                                             r"it on a real device \(the model is on cpu\)$"):
            m.mean_field(meta, val, qry)
    with pytest.raises(TypeError, match=r"^ctx_pos must be a tensor or array of numbers \[batch, points, 2\], got "
                                        r"list \(can't convert np\.ndarray of type numpy\.str_\)$"):
        m.mean_field([np.full((5, 2), "a"), np.full((5, 2), "b")], val, qry)
    with pytest.raises(TypeError, match=r"^qry_pos must be a tensor or array of numbers \[batch, points, 2\], got "
                                        r"tuple \([^\n]+\)$"):  # a sparse tensor among dense ones: torch's words
        m.mean_field(pos, val, (qry[0], qry[1].to_sparse()))


def test_log_prob_warns_of_values_far_beyond_the_model_s_range(module, tiny_module):
    """0-255 levels given as qry_val to an images model (values in [0, 1]) scored about -1e6 nats a query without a
    word; values that far beyond the model's range (10 half-widths from its middle, the fit's first batch's measure)
    are warned of, naming the likely cause, and still scored."""
    m = module
    pos, levels = grid_positions((4, 4))[None], torch.arange(16.0).reshape(1, 16, 1) * 17  # [1, 16, 2], 0..255
    with pytest.warns(UserWarning, match=r"^qry_val spans \[0, 255\], 509 times the half-width of the model's "
                                         r"val_range \[0, 1\] from its middle: log_prob scores values that far "
                                         r"outside it as all but impossible \(0-255 levels\? divide by 255\)$"):
        assert torch.isfinite(m.log_prob(pos[:, :4], levels[:, :4] / 255, pos, levels)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.log_prob(pos[:, :4], levels[:, :4] / 255, pos, levels / 255 * 5)  # 9 half-widths: no warning
    x = torch.linspace(-1, 1, 5).reshape(1, 5, 1)  # [1, 5, 1]
    with pytest.warns(UserWarning, match=r"^qry_val spans \[-1000, 1000\], 200 times the half-width of the model's "
                                         r"val_range \[-5, 5\] from its middle: .* \(values in other units than the "
                                         r"model's\? give them in the units of its val_range\)$"):
        tiny_module.log_prob(x, x, x, x * 1000)


def test_s_far_beyond_the_range_of_one_gaussian_without_a_value_frame_is_warned_of(tiny_module, poly_spec):
    """One Gaussian without a value frame reads S in the units of its val_range, which only normalises, so S in
    other units (1000 times the range) was answered without a word, while a fit and log_prob's queries warn of such
    values: each convenience now warns of S as log_prob does of its queries; a value_norm model, which reads S in
    its own frame, does not."""
    from pixeltransformer.module import PixelTransformerModule

    x = torch.linspace(-1, 1, 5).reshape(1, 5, 1)  # [1, 5, 1]
    far = r"^ctx_val spans \[-1000, 1000\], 200 times the half-width of the model's val_range \[-5, 5\] from its " \
          r"middle, where it never saw values: give them in the units of its val_range$"
    for call in (tiny_module.mean_field, tiny_module.sample, tiny_module.predict_params):
        with pytest.warns(UserWarning, match=far):
            call(x, x * 1000, x)
    with pytest.warns(UserWarning, match=far):
        tiny_module.complete(x, x * 1000, 5)
    torch.manual_seed(0)
    framed = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, value_norm=True),
                                    sets=dict(min_context=4, max_context=10, num_queries=8)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_module.mean_field(x, x * 45, x)  # 9 half-widths: no warning
        framed.mean_field(x, x * 1000, x)


def test_s_of_0_255_levels_on_a_one_gaussian_model_of_0_1_values_is_warned_of_as_levels():
    """0-255 levels as S of a one-Gaussian images model (values in [0, 1]) were told only to come in the units of
    its val_range, where the bins' refusal and log_prob's warning name the likely slip: divide by 255."""
    from pixeltransformer.module import PixelTransformerModule

    with pytest.warns(UserWarning, match="no Domain named 'toy'"):
        m = PixelTransformerModule(spec={**SPEC, "num_bins": 1}, net=dict(width=32, ffn=64),
                                   sets=dict(min_context=2, max_context=16, num_queries=8)).eval()
    pos, levels = grid_positions((4, 4))[None], torch.arange(16.0).reshape(1, 16, 1) * 17  # [1, 16, 2], 0..255
    with pytest.warns(UserWarning, match=r"^ctx_val spans \[0, 255\], 509 times the half-width of the model's "
                                         r"val_range \[0, 1\] from its middle, where it never saw values: give them "
                                         r"in the units of its val_range \(0-255 levels\? divide by 255\)$"):
        m.mean_field(pos, levels, pos)


def test_values_a_few_times_a_0_1_range_are_not_taken_for_0_255_levels(module):
    """Values in [0, 9] given to a model of values in [0, 1] (another unit's scale: 17 half-widths from the middle)
    were told "0-255 levels? divide by 255" as 0-255 levels are, which would leave them in [0, 0.04]: the hint is for
    values reaching above a tenth of 255, as a picture's levels do unless it is all but black (0..40 still draws
    it); smaller values are told of other units, as values outside [0, 255] are."""
    from pixeltransformer.module import PixelTransformerModule

    pos = grid_positions((4, 4))[None]  # [1, 16, 2]
    levels = torch.arange(16.0).reshape(1, 16, 1)  # [1, 16, 1]
    nine, dark = levels * 0.6, levels * 40 // 15  # [1, 16, 1] each: [0, 9], and dark 0-255 levels up to 40
    with pytest.warns(UserWarning, match=r"^qry_val spans \[0, 9\], 17 times the half-width of the model's "
                                         r"val_range \[0, 1\] from its middle: .* \(values in other units than the "
                                         r"model's\? give them in the units of its val_range\)$"):
        module.log_prob(pos[:, :4], nine[:, :4] / 9, pos, nine)
    with pytest.warns(UserWarning, match=r"^qry_val spans \[0, 40\], .* \(0-255 levels\? divide by 255\)$"):
        module.log_prob(pos[:, :4], dark[:, :4] / 255, pos, dark)
    with pytest.raises(ValueError, match=r"^ctx_val spans \[0, 9\], outside the value range \[0, 1\] of toy/t: "
                                         r"scale or clip the values into it$"):
        module.mean_field(pos, nine, pos)
    with pytest.warns(UserWarning, match="no Domain named 'toy'"):
        gaussian = PixelTransformerModule(spec={**SPEC, "num_bins": 1}, net=dict(width=32, ffn=64),
                                          sets=dict(min_context=2, max_context=16, num_queries=8)).eval()
    with pytest.warns(UserWarning, match=r"^ctx_val spans \[0, 9\], 17 times the half-width of the model's "
                                         r"val_range \[0, 1\] from its middle, where it never saw values: give them "
                                         r"in the units of its val_range$"):
        gaussian.mean_field(pos, nine, pos)
    with pytest.warns(UserWarning, match=r"^ctx_val spans \[0, 40\], .* \(0-255 levels\? divide by 255\)$"):
        gaussian.mean_field(pos, dark, pos)


def test_a_fit_and_test_of_data_far_beyond_the_range_warn_once_not_at_each_completion(tmp_path):
    """The warning of S far beyond one Gaussian's range is for S a user gives: a fit and a test of data in other
    units than val_range also drew it from their own completions and samples, once a batch and |S| level, saying the
    model "never saw values" it trained on. Only the fit's first batch warns, naming the remedy; a call in Python
    after the fit (its trainer finished but attached) still warns."""
    import lightning as L

    import domains.polynomial.domain  # noqa: F401  (the domain's metrics)
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.module import PixelTransformerModule

    np.savez(tmp_path / "a.npz", y=np.random.default_rng(0).standard_normal((12, 16)))  # values in about [-3, 3]
    data = PolynomialDataModule(dataset="file", root=str(tmp_path / "a.npz"), splits=(-1, 2, 2),
                                val_range=(-0.05, 0.05), batch_size=2)
    module = PixelTransformerModule(spec=data.spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1,
                                                             value_norm=False),
                                    sets=dict(min_context=2, max_context=8, num_queries=8),
                                    optim=dict(warmup_steps=0))
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
                        default_root_dir=str(tmp_path / "run"),
                        callbacks=[SweepEvaluation(levels=(2, 4), num_samples=1, n_autoregressive=4)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=data)
        trainer.test(module, datamodule=data, verbose=False)
    far = [str(w.message) for w in caught if "times the half-width" in str(w.message)]
    assert len(far) == 1 and far[0].startswith("the first training batch's values span"), far
    x = torch.linspace(-1, 1, 5).reshape(1, 5, 1)  # [1, 5, 1]
    with pytest.warns(UserWarning, match=r"^ctx_val spans \[-1, 1\], 20 times the half-width of the model's "):
        module.mean_field(x, x, x)


def test_s_far_beyond_the_range_is_warned_of_in_a_predict_not_in_a_fit_validation_or_test(tiny_module):
    """The S of `pixeltransformer predict` (`make sample`) is the user's, as a call in Python is: a running predict
    silenced the warning of S far beyond one Gaussian's range as a running fit, validation or test rightly does of
    the completions it makes of its own data. Only those three stages are exempt now."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

    x = torch.linspace(-1, 1, 5).reshape(1, 5, 1)  # [1, 5, 1]
    for fn in (TrainerFn.FITTING, TrainerFn.VALIDATING, TrainerFn.TESTING):
        tiny_module._trainer = SimpleNamespace(state=SimpleNamespace(status=TrainerStatus.RUNNING, fn=fn))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tiny_module.mean_field(x, x * 1000, x)
    tiny_module._trainer = SimpleNamespace(state=SimpleNamespace(status=TrainerStatus.RUNNING,
                                                                 fn=TrainerFn.PREDICTING))
    with pytest.warns(UserWarning, match=r"^ctx_val spans \[-1000, 1000\], 200 times the half-width "):
        tiny_module.mean_field(x, x * 1000, x)


def test_log_prob_of_a_value_norm_model_does_not_warn_of_values_in_the_frame_of_s(poly_spec):
    """A value_norm model (configs/polynomial.yaml) predicts in the frame of S: S and queries 100 times larger score
    about log 100 less a value, not "all but impossible", so log_prob does not warn of them, as a fit's first batch
    does not."""
    import domains.polynomial.domain  # noqa: F401  (the Domain the spec names)
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, value_norm=True),
                               sets=dict(min_context=4, max_context=10, num_queries=8, grid_points=True)).eval()
    x = torch.linspace(-1, 1, 9).reshape(1, 9, 1)  # [1, 9, 1]
    val = x**3 * 4 + 1  # [1, 9, 1], within val_range [-5, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        far = m.log_prob(x[:, :5], val[:, :5] * 100, x, val * 100)  # [1, 9]; 100 times the range
    assert torch.allclose(far, m.log_prob(x[:, :5], val[:, :5], x, val) - np.log(100), atol=0.05)


def test_log_prob_names_the_clamp_for_queries_of_a_domain_that_clamps_s():
    """An SDF model's S is clamped to the truncation t and its queries are not: raw SDF queries far beyond t were told
    "values in other units than the model's?"; the warning names the clamp S passes instead."""
    import domains.sdf.domain  # noqa: F401  (the Domain the spec names, which clamps S)
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec("sdf", "procedural", (4, 4, 4), 1, (-0.1, 0.1), extra={"truncation": 0.1})
    torch.manual_seed(0)
    m = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64),
                               sets=dict(min_context=2, max_context=16, num_queries=8)).eval()
    pos = grid_positions((4, 4, 4))[None]  # [1, 64, 3]
    sdf = pos.norm(dim=-1, keepdim=True) - 0.5  # [1, 64, 1], a sphere's raw distances, 0.077 to 1.23
    with pytest.warns(UserWarning, match=r"^qry_val spans \[0\.07735, 1\.232\], 12\.3 times the half-width of the "
                                         r"model's val_range \[-0\.1, 0\.1\] from its middle: .* \(clamp them as S "
                                         r"is: m\.domain\.context_values\(qry_val, m\.spec\)\)$"):
        m.log_prob(pos[:, :8], sdf[:, :8], pos, sdf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.log_prob(pos[:, :8], sdf[:, :8], pos, m.domain.context_values(sdf, m.spec))


def test_load_module_reads_a_path_that_begins_with_the_home_folder(tmp_path, poly_spec, monkeypatch):
    """load_module("~/runs/x/checkpoints/last.ckpt"), a notebook's path that no shell expands, was refused as
    "checkpoint not found: ~/runs/..." while the command line's path options expand "~"."""
    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import load_checkpoint, load_module
    from tests.cli.checkpoints import untrained_checkpoint

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "runs").mkdir()
    torch.save(untrained_checkpoint(poly_spec.to_dict()), tmp_path / "runs" / "last.ckpt")
    assert load_module("~/runs/last.ckpt").spec.domain == "polynomial"
    assert "state_dict" in load_checkpoint(Path("~/runs/last.ckpt"))


def test_nested_lists_of_unequal_lengths_are_named_with_the_remedy(module):
    """A ragged nested list as S, queries or complete's signal was refused in torch's words ("ctx_pos must be a tensor
    or array of numbers ..., got list (expected sequence of length 1 at dim 1 (got 2))"), which named neither the
    lengths that differ nor what to give instead."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    with pytest.raises(ValueError, match=r"^ctx_pos is a nested list of unequal lengths \(1 and 2 along axis 1\): give "
                                         r"one array \[batch, points, 2\], or lists of equal lengths \(sets of other "
                                         r"sizes: call once per signal\)$"):
        m.mean_field([[[0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]], val, pos)
    with pytest.raises(ValueError, match=r"^qry_val is a nested list of unequal lengths \(1 and 2 along axis 2\): "):
        m.log_prob(pos, val, pos, [[[0.5]] * 4 + [[0.5, 0.5]]] * 2)
    with pytest.raises(ValueError, match=r"^ctx_val is a nested list of unequal lengths \(lists beside numbers along "
                                         r"axis 2\): "):
        m.mean_field(pos, [[[0.5]] * 4 + [0.5]] * 2, pos)
    ragged = [torch.rand(1, 4, 4).tolist(), torch.rand(1, 4, 3).tolist()]  # two pictures of other widths
    with pytest.raises(ValueError, match=r"^signal is a nested list of unequal lengths \(4 and 3 along axis 3\): give "
                                         r"one array \[batch, V, \*grid\], or lists of equal lengths$"):
        m.complete(pos, val, (4, 4), signal=ragged)
    assert m.mean_field(pos.tolist(), val.tolist(), pos.tolist()).shape == (2, 5, 1)  # lists of equal lengths


def test_complete_reads_the_signal_it_keeps_for_the_pictures_as_a_tensor(module):
    """complete(signal=...) kept whatever it was given: a list or array stayed one, so the completion's .cpu() (which
    pictures call) stopped in "'list' object has no attribute 'detach'", and a signal of another batch was found only
    when a picture indexed it."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    truth = torch.rand(2, 1, 8, 8, dtype=torch.float64)  # [B, V, 8, 8]: at its own grid, in its own dtype
    for given in (truth, truth.numpy(), truth.tolist()):  # a list of Python's floats: torch's float32
        c = m.complete(pos, val, (4, 4), signal=given).cpu()
        assert torch.allclose(c.signal.double(), truth) and torch.allclose(c[1].signal.double(), truth[1:])
    with pytest.raises(ValueError, match=r"^signal must be the ground truth \[batch, V, \*grid\] of the 2 signals of "
                                         r"S, 4 axes for toy/t, got \[1, 1, 8, 8\]$"):
        m.complete(pos, val, (4, 4), signal=truth[:1])
    with pytest.raises(TypeError, match=r"^signal must be a tensor or array of numbers \[batch, V, \*grid\], got str"):
        m.complete(pos, val, (4, 4), signal="truth")


def test_complete_refuses_a_signal_of_channels_last(module):
    """A ground truth of channels last ([B, T, H, W, 3] as a video .npz and read_video_file hold frames, [B, H, W, 1]
    a grey picture) has as many axes as [batch, V, *grid], so complete kept it; the pictures then stopped in "video
    must be [3, T, H, W], got shape (17, 17, 32, 32)", a shape the caller never gave."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    with pytest.raises(ValueError, match=r"^signal must be the ground truth \[batch, V, \*grid\] of the 2 signals of "
                                         r"S, V = 1 value\(s\) a point for toy/t, got \[2, 8, 8, 1\] \(channels "
                                         r"last: x.movedim\(-1, 1\)\)$"):
        m.complete(pos, val, (4, 4), signal=torch.rand(2, 8, 8, 1))
    for given in (torch.rand(2, 8, 8, 1).tolist(), np.random.rand(2, 8, 8, 1)):  # a list or array has no movedim
        with pytest.raises(ValueError, match=r"got \[2, 8, 8, 1\] \(channels last: np.moveaxis\(x, -1, 1\)\)$"):
            m.complete(pos, val, (4, 4), signal=given)
    with pytest.raises(ValueError, match=r"V = 1 value\(s\) a point for toy/t, got \[2, 3, 8, 8\]$"):
        m.complete(pos, val, (4, 4), signal=torch.rand(2, 3, 8, 8))


def test_complete_refuses_a_signal_it_could_not_show(module):
    """complete(signal=...) kept a meta tensor or complex numbers without a word, as S's and the queries' check
    refuses them: the completion's .cpu(), which the pictures call, then stopped in torch's "Cannot copy out of meta
    tensor; no data!", naming no input, and a complex ground truth reached the pictures."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    truth = torch.rand(2, 1, 8, 8)  # [B, V, 8, 8]
    with pytest.raises(ValueError, match=r"^signal is a meta tensor, which holds a shape but no values: give it on a "
                                         r"real device \(the model is on cpu\)$"):
        m.complete(pos, val, (4, 4), signal=truth.to("meta"))
    with pytest.raises(ValueError, match=r"^signal must hold real numbers, got torch.complex64$"):
        m.complete(pos, val, (4, 4), signal=truth.to(torch.complex64))


def test_counts_of_seeds_and_signals_are_named_in_the_number_they_take(module):
    """A list of seeds of another length than the batch was told "for a batch of 1 signals" (draw_context too), and
    complete's signal of another batch than S's "of the 1 signals of S"."""
    m = module
    pos, val = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1)  # [1, 5, 2], [1, 5, 1]
    with pytest.raises(ValueError, match=r"^sample: 2 seeds for a batch of 1 signal$"):
        m.sample(pos, val, pos, seed=[1, 2])
    with pytest.raises(ValueError, match=r"^sample: 1 seed for a batch of 3 signals$"):
        m.sample(pos.expand(3, -1, -1), val.expand(3, -1, -1), pos.expand(3, -1, -1), seed=[1])
    with pytest.raises(ValueError, match=r"^draw_context: 2 seeds for a batch of 1 signal$"):
        draw_context(torch.rand(1, 1, 4, 4), 2, [1, 2])
    with pytest.raises(ValueError, match=r"^signal must be the ground truth \[batch, V, \*grid\] of the 1 signal of "
                                         r"S, "):
        m.complete(pos, val, (4, 4), signal=torch.rand(2, 1, 4, 4))


def test_the_page_names_the_sampling_options_defaults():
    """docs/python.md said what a seed, a temperature and N′ do but not that seed is 0 when none is given, so two
    calls draw the same samples (a notebook expecting fresh draws got the same ones), nor the temperature's 1, nor
    that complete draws no samples unless asked (its `.samples` is then None)."""
    import inspect

    from pixeltransformer import inference

    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text().split())
    told = page[page.index("**Sampling.**"):page.index("**Modes and precision.**")]
    taken = inspect.signature(inference.sample).parameters
    for name in ("seed", "temperature", "n_autoregressive"):
        default = taken[name].default
        assert re.search(rf"`{name}` \([^)]*default {default:g}\b", told), (name, default)
    assert inspect.signature(inference.complete).parameters["num_samples"].default == 0
    assert re.search(r"`num_samples` \(default 0: `\.samples` None", page)


def test_the_page_names_where_a_model_s_trained_set_sizes_are_read(module):
    """A context larger (or smaller) than the model trained on is answered without a word, as the evaluations
    themselves sweep past the trained sizes, but docs/python.md did not say where a notebook reads those sizes: it
    names the module's attributes, which hold the sampler's."""
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text().split())
    for name in ("min_context", "max_context"):
        assert f"`m.sampler.{name}`" in page, name
        assert getattr(module.sampler, name) == module.hparams["sets"]["init_args"][name]


def test_a_signal_without_its_batch_or_value_axis_is_told_the_one_to_add(module):
    """complete's signal of one picture [V, *grid], or grey pictures [B, *grid], was refused without the remedy S's
    own shapes get ("one signal: give it a batch axis, x[None]")."""
    m = module
    pos, val = torch.rand(1, 5, 2) * 2 - 1, torch.rand(1, 5, 1)  # [1, 5, 2], [1, 5, 1]
    with pytest.raises(ValueError, match=r"got \[1, 8, 8\] \(one signal: give it a batch axis, x\[None\]\)$"):
        m.complete(pos, val, (4, 4), signal=torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match=r"got \[2, 8, 8\] \(no value axis: x\[:, None\]\)$"):
        m.complete(pos.expand(2, -1, -1), val.expand(2, -1, -1), (4, 4), signal=torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match=r"got \[1, 8, 8\] \(one signal: give it a batch axis, "
                                         r"np.asarray\(x\)\[None\]\)$"):
        m.complete(pos, val, (4, 4), signal=torch.rand(1, 8, 8).tolist())


def test_a_seed_of_a_float_scalar_tensor_or_array_is_named(module):
    """seed=torch.tensor(3.0), or numpy's np.array(3.0), stopped in torch's and numpy's "iteration over a 0-d
    tensor" (or array), naming no option; a whole number's 0-d tensor or array is taken as the int it holds."""
    m = module
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [2, 5, 2], [2, 5, 1]
    for seed in (torch.tensor(3.0), np.array(3.0)):
        with pytest.raises(ValueError, match=r"^seed must be an int, or one 64-bit int per signal; got "):
            m.sample(pos, val, pos, seed=seed)
        with pytest.raises(ValueError, match=r"^seed must be an int, or one 64-bit int per signal; got "):
            m.complete(pos, val, (4, 4), num_samples=1, seed=seed)
    assert torch.equal(m.sample(pos, val, pos, seed=torch.tensor(3)), m.sample(pos, val, pos, seed=3))


def test_a_batch_too_large_to_train_a_step_is_refused_in_one_line_naming_the_most_that_fit(poly_spec, monkeypatch):
    """A fit of the paper-sized model on a CPU at batch_size 1024 (images: 64 observed and 256 query points a
    signal) holds about 40 GiB of activations for its backward pass: with no check it ran for a minute, then stopped
    in torch's allocator with a traceback, or the kernel's OOM killer ended it without a line. The step's activations
    are bounded below (5 D + 2 F values a point a layer) and compared with the memory at hand before the fit."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8))
    per_signal = 4 * (5 * 64 + 2 * 128) * (2 * 16 + 2 * 8)  # float32 values a point a layer, over |S| and |Q|
    assert memory.train_step_bytes(m.net_config, 1, 16, 8) == per_signal
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * per_signal)
    m.check_train_memory(100)
    m.check_train_memory(200, precision="bf16-mixed")  # half-precision activations: half the bytes
    have = f"more than the {memory.in_bytes(100 * per_signal)} of memory available now"
    with pytest.raises(ValueError, match=rf"^a training step of batch_size 101 \(up to 16 observed and 8 query "
                                         rf"points a signal, through 2 \+ 2 layers of width 64\) needs at least "
                                         rf"{memory.in_bytes(101 * per_signal)}: {have}; at most batch_size 100, "
                                         r"or fewer points a signal \(model.sets.max_context, num_queries\) or a "
                                         r"smaller model \(or train on a GPU: --trainer.accelerator gpu\)$"):
        m.check_train_memory(101)
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    with pytest.raises(ValueError, match=r"needs at least .*: more than the 1 bytes of memory available now; give "
                                         r"fewer points a signal \(model.sets.max_context, num_queries\) or a "
                                         r"smaller model \(or train on a GPU: --trainer.accelerator gpu\)$"):
        m.check_train_memory(1)


class _FitData:
    """A DataModule as a fit's setup reads it: batch_size, and this rank's train items (train_batches)."""

    def __init__(self, batch_size: int, rows: int):
        self.batch_size, self.rows = batch_size, rows

    def train_batches(self, world: int = 1) -> tuple[int, int]:
        return self.rows, max(1, self.rows // self.batch_size)


def _fit_trainer(datamodule, rank: int = 0, broadcast=None, world: int | None = None):
    from types import SimpleNamespace

    strategy = SimpleNamespace(root_device=torch.device("cpu"),
                               broadcast=broadcast or (lambda obj, src=0: obj))  # one process: its own
    return SimpleNamespace(fast_dev_run=False, overfit_batches=0, limit_val_batches=1.0, datamodule=datamodule,
                           strategy=strategy, precision="32-true", world_size=world or (2 if rank else 1),
                           num_devices=1, global_rank=rank)


def test_a_fits_setup_refuses_the_batch_a_training_step_takes_and_every_rank_together(poly_spec, monkeypatch):
    """The fit's setup checks the batch a step takes: batch_size 1000 on 50 train signals trains steps of 50, which
    were refused by their batch_size alone. Rank 0 measures and every rank raises its line: each rank measured on
    its own, and near the limit one refused while the others waited for it at the next barrier."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8))
    per_signal = memory.train_step_bytes(m.net_config, 1, 16, 8)
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * per_signal)

    def fit_setup(trainer) -> None:
        m._trainer = trainer
        try:
            m.setup("fit")
        finally:
            m.teardown("fit")
            m._trainer = None

    fit_setup(_fit_trainer(_FitData(1000, 50)))  # steps of 50
    with pytest.raises(ValueError, match=r"^a training step of 101 signals \(batch_size 1000, as many as the train "
                                         r"items\) .*; at most batch_size 100, or "):
        fit_setup(_fit_trainer(_FitData(1000, 101)))
    with pytest.raises(ValueError, match=r"^a training step of batch_size 1000 "):
        fit_setup(_fit_trainer(_FitData(1000, 5000)))
    # rank 1 raises rank 0's line, though its own batch would fit; and not its own, where rank 0's fits
    with pytest.raises(ValueError, match=r"^rank 0's refusal$"):
        fit_setup(_fit_trainer(_FitData(10, 50), rank=1, broadcast=lambda obj, src=0: "rank 0's refusal"))
    fit_setup(_fit_trainer(_FitData(1000, 5000), rank=1, broadcast=lambda obj, src=0: None))


class _EvalData:
    """A DataModule as an evaluation's setup reads it: batch_size, the items validation scores and those a test
    reads, and the test loader's batch and its option (test_batch: batch_size, unless ``test_batch`` is given)."""

    def __init__(self, batch_size: int, rows: int, test_batch: tuple[int, str] | None = None):
        self.batch_size, self.rows, self.test = batch_size, rows, test_batch

    def validation_set(self) -> list:
        return [None] * self.rows

    test_set = validation_set

    def test_batch(self) -> tuple[int, str]:
        return self.test or (self.batch_size, "batch_size")


def test_an_evaluation_refuses_a_batch_too_large_for_its_forward_pass_before_its_first_batch(poly_spec, monkeypatch):
    """validate and test had no memory check: a huge data batch_size went to the first batch's forward pass, to stop
    in torch's allocator (or the OOM killer), as a fit's did before check_stage_memory. The forward pass of an
    evaluation keeps no activations for a backward pass, but holds at least its widest layer's input and
    feed-forward values [B, N, D + F] over the larger of |S| (the largest val_level) and |Q|; it is refused in the
    fit's words, naming the batch_size that may fit, on rank 0's measure."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8), val_levels=(4, 32))
    per_signal = 4 * (64 + 128) * 32  # float32 values of the widest layer, over |S| = 32 (more than |Q| = 8)
    assert memory.eval_step_bytes(m.net_config, 1, 32, 8) == per_signal
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * per_signal)

    def setup(stage: str, trainer) -> None:
        m._trainer = trainer
        try:
            m.setup(stage)
        finally:
            m.teardown(stage)
            m._trainer = None

    for stage in ("validate", "test"):
        setup(stage, _fit_trainer(_EvalData(100, 5000)))
        setup(stage, _fit_trainer(_EvalData(1000, 50)))  # batches of 50: as many as the items
        with pytest.raises(ValueError, match=rf"^an evaluation step of batch_size 101 \(up to 32 observed and 8 "
                                             rf"query points a signal, through 2 \+ 2 layers of width 64\) needs at "
                                             rf"least {memory.in_bytes(101 * per_signal)}: more than the "
                                             rf"{memory.in_bytes(100 * per_signal)} of memory available now; at most "
                                             r"batch_size 100, or fewer observed points a signal "
                                             r"\(model.val_levels\) \(or evaluate on a GPU: --trainer.accelerator "
                                             r"gpu\)$"):
            setup(stage, _fit_trainer(_EvalData(101, 5000)))
        split = "val" if stage == "validate" else "test"
        with pytest.raises(ValueError, match=rf"^an evaluation step of 101 signals \(batch_size 1000, as many as the "
                                             rf"{split} items\) "):
            setup(stage, _fit_trainer(_EvalData(1000, 101)))
        with pytest.raises(ValueError, match=r"^rank 0's refusal$"):  # every rank raises rank 0's line
            setup(stage, _fit_trainer(_EvalData(10, 50), rank=1, broadcast=lambda obj, src=0: "rank 0's refusal"))
        # rank 0 of 2 measures its share of the items, rounded up: 100 of 200 fit, 101 of 201 do not
        setup(stage, _fit_trainer(_EvalData(1000, 200), world=2))
        with pytest.raises(ValueError, match=rf"^an evaluation step of 101 signals \(batch_size 1000, as many as the "
                                             rf"{split} items\) "):
            setup(stage, _fit_trainer(_EvalData(1000, 201), world=2))
    # a test loader of a batch size of its own (sdf's eval_batch_size) is named by its option, not batch_size
    with pytest.raises(ValueError, match=r"^an evaluation step of eval_batch_size 4096 \(.*; at most "
                                         r"eval_batch_size 100, or "):
        setup("test", _fit_trainer(_EvalData(8, 5000, test_batch=(4096, "eval_batch_size"))))
    with pytest.raises(ValueError, match=r"^an evaluation step of 101 signals \(eval_batch_size 4096, as many as "
                                         r"the test items\) .*; at most eval_batch_size 100, or "):
        setup("test", _fit_trainer(_EvalData(8, 101, test_batch=(4096, "eval_batch_size"))))
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    with pytest.raises(ValueError, match=r"; give fewer observed points a signal \(model.val_levels\) \(or "):
        setup("validate", _fit_trainer(_EvalData(1, 1)))
    # where |Q| is larger than the largest val_level, fewer observed points would change nothing: |Q| is named
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=64), val_levels=(4, 8))
    with pytest.raises(ValueError, match=r"; give fewer query points a signal \(model.sets.num_queries\) \(or "):
        setup("validate", _fit_trainer(_EvalData(1, 1)))
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8), val_levels=(4, 8))  # as many: both
    with pytest.raises(ValueError, match=r"; give fewer observed and query points a signal \(model.val_levels, "
                                         r"model.sets.num_queries\) \(or "):
        setup("validate", _fit_trainer(_EvalData(1, 1)))


def test_only_a_cpu_fit_is_told_to_train_on_a_gpu(poly_spec, monkeypatch):
    """The "(or train on a GPU)" hint also ended a refusal on Apple's MPS device, itself a GPU."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8))
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    hint = r" \(or train on a GPU: --trainer.accelerator gpu\)$"
    for device in (None, torch.device("cpu")):
        with pytest.raises(ValueError, match=hint):
            m.check_train_memory(1, device)
    with pytest.raises(ValueError, match=r"or a smaller model$"):
        m.check_train_memory(1, torch.device("mps"))


def test_a_training_step_of_one_signal_is_named_in_the_singular(poly_spec, monkeypatch):
    """A fit of batch_size 4 on 1 train item, refused for memory, said "a training step of 1 signals": the count
    takes its noun in the number it needs."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    m = PixelTransformerModule(spec=poly_spec, net=dict(width=64, ffn=128, encoder_layers=2, decoder_layers=2),
                               sets=dict(max_context=16, num_queries=8))
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    for batch, words in ((1, "1 signal"), (2, "2 signals")):
        with pytest.raises(ValueError, match=rf"^a training step of {words} \(batch_size 4, as many as the train "
                                             r"items\) "):
            m.check_train_memory(batch, given=4)


def _saved_for_backward(step) -> int:
    """The bytes of the tensors autograd saves for the backward pass of ``step()`` (each storage once), less the
    weights, which a step does not add."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not (t.requires_grad and t.is_leaf):
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = max(seen.get(storage.data_ptr(), 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


@pytest.mark.parametrize("encoder", ["bidirectional", "buffered", "incremental"])
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_the_training_step_bound_is_below_what_a_real_step_saves_for_backward(poly_spec, encoder, precision):
    """train_step_bytes is a lower bound, so the fit's check refuses only batches that cannot fit: a real tiny
    step of each encoder, in float32 and under CPU bfloat16 autocast, saves more for its backward pass (3.3 and
    5.3 times the bound here)."""
    import domains.polynomial.domain  # noqa: F401 (the spec's domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    batch, context, queries = 2, 24, 16
    m = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64, encoder_layers=2, decoder_layers=2,
                                                        heads=4, encoder=encoder),
                               sets=dict(min_context=context, max_context=context, num_queries=queries))
    sets = m.sampler(torch.randn(batch, 1, 64), torch.Generator().manual_seed(0), num_context=context)
    observed = context // 2 if encoder == "buffered" else None

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "32-true"):
            feats = m.model.features(sets.ctx_pos, sets.ctx_val, sets.qry_pos, observed)  # [B, Q, D]
            m.dist.head_loss(feats, m.model.head, sets.qry_val).mean()

    bound = memory.train_step_bytes(m.net_config, batch, context, queries, 2 if "16" in precision else 4)
    assert 0 < bound <= _saved_for_backward(step)


def test_complete_names_the_most_samples_that_fit_where_the_grid_fits_without_them(module, monkeypatch):
    """m.complete(..., num_samples=10**9) (a typo) blamed the grid ("grid_shape (4, 4) means 16 points, whose
    completion ... needs at least ...") and named no most that fit, where `predict --num_samples` names it: the line
    is now that one's, in the Python call's words. A grid too large without samples is still named as the grid.
    Completing is stubbed: the check decides before anything is computed."""
    from pixeltransformer import memory as memory_py
    from pixeltransformer import module as module_py

    m = module
    pos, val = torch.rand(3, 5, 2) * 2 - 1, torch.rand(3, 5, 1)  # [3, 5, 2], [3, 5, 1]
    done = []
    monkeypatch.setattr(module_py, "complete", lambda *args, num_samples, **kw: done.append(num_samples))
    memory = 3 * memory_py.completion_bytes(m.spec, 16, 1000)  # 3 signals' 4x4 grids with 1000 samples each: fit
    monkeypatch.setattr(memory_py, "available_memory", lambda: memory)
    need = memory_py.in_bytes(3 * memory_py.completion_bytes(m.spec, 16, 10**9))
    message = (f"num_samples 1000000000 on 16 points (a 4×4 grid) of 3 signals need at least {need}: more than the "
               f"{memory_py.in_bytes(memory)} of memory available now; at most num_samples 1000")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        m.complete(pos, val, (4, 4), num_samples=10**9)
    with pytest.raises(ValueError, match="at most num_samples 1000$"):
        m.complete(pos, val, (4, 4), num_samples=1001)
    m.complete(pos, val, (4, 4), num_samples=1000)
    assert done == [1000]
    with pytest.raises(ValueError, match=r"^grid_shape \(1000, 1000\) means 1,000,000 points, whose completion of 3 "
                                         r"signals needs at least .*: more than .* of memory available now$"):
        m.complete(pos, val, (1000, 1000), num_samples=2)  # not even one sample fits: the grid is named


def test_grid_positions_names_sizes_it_cannot_lay_out(module):
    """grid_positions((0, 4)) and ((-1, 4)) gave the 4 points of one row, silently (linspace of no point, a zeros
    of one); a size 4.5, one int or no size stopped in torch's words ("linspace() received an invalid combination of
    arguments", "'int' object is not iterable", "meshgrid expects a non-empty TensorList")."""
    for sizes in [(0, 4), (-1, 4), (4.5,), 4, (), (True, 4), ("4",)]:
        expected = (r"^grid_positions: grid_shape must be one or more whole-number sizes >= 1 \(one per position "
                    rf"axis, as \(8, 8\)\), got {re.escape(repr(sizes))}$")
        with pytest.raises(ValueError, match=expected):
            grid_positions(sizes)
    assert grid_positions(torch.Size([1, 3])).tolist() == [[0.0, -1.0], [0.0, 0.0], [0.0, 1.0]]
    assert grid_positions((np.int64(2),)).tolist() == [[-1.0], [1.0]]


def test_draw_context_names_a_signal_or_a_count_it_cannot_read(module):
    """draw_context ended in torch's traceback on an integer signal ("grid_sampler_2d_cpu_kernel_impl" not
    implemented for 'Long'), numpy's array ("'numpy.ndarray' object has no attribute 'is_floating_point'"), k=4.5
    ("slice indices must be integers") and a grid of 4 axes, and read one picture [H, W] as a grid of no axis
    ("between 1 and the 1 grid points of a () signal") and a seed 1.5 as 1, silently. A channels-last batch cannot be
    told from a channels-first one by its shape: the documented convention is channels first."""
    signal = torch.rand(2, 1, 4, 4)  # [B, V, 4, 4]
    with pytest.raises(ValueError, match=r"^draw_context: signal must hold floating-point values, got torch.int64 "
                                         r"\(signal.float\(\); 0-255 levels: signal.float\(\) / 255\)$"):
        draw_context(torch.randint(0, 255, (2, 1, 4, 4)), 3, [1, 2])
    with pytest.raises(TypeError, match=r"^draw_context: signal must be a torch.Tensor, got numpy.ndarray \(convert "
                                        r"it with torch.as_tensor: a batch \[B, V, \*grid\], channels first\)$"):
        draw_context(signal.numpy(), 3, [1, 2])
    with pytest.raises(ValueError, match=r"^draw_context: signal must be a batch \[B, V, \*grid\] of 1 to 3 grid "
                                         r"axes, channels first, got \[4, 4\] \(one signal without its batch axis\? "
                                         r"\[V, \*grid\]: signal\[None\]; a grey picture \[H, W\]: "
                                         r"signal\[None, None\]\)$"):
        draw_context(signal[0, 0], 3)
    with pytest.raises(ValueError, match=r"^draw_context: signal must be a batch \[B, V, \*grid\] of 1 to 3 grid "
                                         r"axes, channels first, got \[1, 1, 2, 2, 2, 2\]$"):
        draw_context(torch.rand(1, 1, 2, 2, 2, 2), 3)
    with pytest.raises(ValueError, match=r"^draw_context: signal must be a batch \[B, V, \*grid\] of 1 to 3 grid "
                                         r"axes, channels first, with no empty axis, got \[0, 1, 4, 4\]$"):
        draw_context(torch.rand(0, 1, 4, 4), 3, [])
    with pytest.raises(ValueError, match=r"^draw_context: k \(\|S\|\) must be a whole number from 1 to the 16 grid "
                                         r"points of a \(4, 4\) signal, got 4.5$"):
        draw_context(signal, 4.5, [1, 2])
    with pytest.raises(ValueError, match=r"^draw_context: k \(\|S\|\) must be a whole number >= 1, got 0$"):
        draw_context(signal, 0, [1, 2], on_grid=False)
    with pytest.raises(ValueError, match=r"^draw_context: generator must be a torch.Generator, None or one "
                                         r"whole-number seed per signal, got \[1.5, 2\]$"):
        draw_context(signal, 3, [1.5, 2])
    pos, val = draw_context(signal, np.int64(3), [np.int64(1), torch.tensor(2)])  # numpy's and torch's whole numbers
    assert pos.shape == (2, 3, 2) and val.shape == (2, 3, 1)


def test_fixed_sets_and_item_seed_name_keys_that_do_not_fit_the_batch(module):
    """fixed_sets drew the sets of the first 2 signals of 3 given 2 keys, silently (a batch of 2 came back), and 4
    keys for 3 signals stopped in "cannot reshape tensor of 0 elements"; a num_context of 4.5 in "manual_seed
    expected a long", numpy's array in "has no attribute 'dim'", an integer signal in grid_sample's words; item_seed
    read a key 4.5 as 4."""
    from pixeltransformer.sets import SetSampler, fixed_sets

    sampler, signal = SetSampler(1, 4, 4, grid_points=True), torch.rand(3, 1, 4, 4)  # [B, V, 4, 4]
    with pytest.raises(ValueError, match=r"^fixed_sets: 2 keys for a batch of 3 signals: give one key per signal "
                                         r"\(its index in the split\)$"):
        fixed_sets(sampler, signal, [0, 1], 3)
    with pytest.raises(ValueError, match=r"^fixed_sets: 4 keys for a batch of 3 signals"):
        fixed_sets(sampler, signal, [0, 1, 2, 3], 3)
    with pytest.raises(ValueError, match=r"^fixed_sets: num_context \(\|S\|\) must be a whole number >= 1, got 4.5$"):
        fixed_sets(sampler, signal, [0, 1, 2], 4.5)
    with pytest.raises(ValueError, match=r"^fixed_sets: num_queries must be None \(the sampler's\) or a whole number "
                                         r">= 1, got 2.5$"):
        fixed_sets(sampler, signal, [0, 1, 2], 3, 2.5)
    with pytest.raises(TypeError, match=r"^fixed_sets: signal must be a torch.Tensor, got numpy.ndarray \(convert "
                                        r"it with torch.as_tensor: a batch \[B, V, \*grid\], channels first\)$"):
        fixed_sets(sampler, signal.numpy(), [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"^SetSampler: signal must hold floating-point values, got torch.int64"):
        fixed_sets(sampler, signal.long(), [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"^item_seed: key must be a whole number \(the signal's index in the "
                                         r"split\), got 4.5$"):
        item_seed(1, 4.5, 3)
    assert item_seed(1, np.int64(4), 3) == item_seed(1, 4, 3)
    sets = fixed_sets(sampler, signal, np.arange(3), 3)  # keys as an array
    assert sets.ctx_pos.shape == (3, 3, 2) and sets.qry_val.shape == (3, 4, 1)
