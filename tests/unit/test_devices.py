"""The device's hot paths on a device other than the CPU: every tensor they make must be made on the data's device.

A GPU run fails with "Expected all tensors to be on the same device" where a hot path makes a tensor on the CPU (an
arange, a zeros, a CPU generator's draw) and meets device tensors with it; CPU tests, autocast included, cannot see
that. These tests run the paths on the meta device (shapes, no values), with three stand-ins that make it behave as
a GPU would:

- DeviceCheck (dispatch level) refuses an operation that mixes devices, as CUDA does: CPU tensors of one element
  (scalars) may meet device tensors, indices may be CPU tensors, copies cross devices. The meta kernels alone check
  only some operations (a matmul with a CPU weight passes on meta). Where a value crosses to the host it supplies
  one: a bool is True (every check passes), a float 0.0, an int `count`, a copy to the CPU random values; a
  data-dependent shape (a boolean mask, nonzero, bincount) takes every element as selected. It lists these reads
  in `syncs`: on a GPU each one waits for the device.
- torch's random functions refuse a draw whose generator is on another device than its result, as CUDA does;
  torch.Generator(device="meta") gives a CPU generator that says it is on meta.
- torch.autocast and torch.is_autocast_enabled accept "meta" (no autocast there: the paths run as with it off).

The model is tiny (width 32, 2 + 2 layers): a case takes under a second (meta's kernels are Python).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import sys
import traceback
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from pixeltransformer.callbacks import Pictures
from pixeltransformer.datamodule import float_signal
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.evaluation import SweepEvaluation
from pixeltransformer.inference import decode_chunked, sample
from pixeltransformer.model import Attention, PixelTransformer
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.predict import PredictOptions
from pixeltransformer.sets import SetSampler, batch_keys
from pixeltransformer.signal import SignalSpec
from pixeltransformer.stepping import RowStepper
from tests.unit.stand_ins import loop_reading

REPO = Path(__file__).resolve().parents[2]
META = torch.device("meta")
aten = torch.ops.aten

# ---- meta as a GPU ----------------------------------------------------------------------------------------

# operations that may take tensors of two devices on a GPU: copies, and CPU indices into a device tensor
CROSSING = {aten._to_copy, aten.copy_, aten.lift_fresh, aten.lift_fresh_copy, aten.index, aten.index_put_,
            aten._index_put_impl_, aten._local_scalar_dense, aten.set_}
INDEXING = (aten.index, aten.index_put_, aten._index_put_impl_)
RealGenerator = torch.Generator


class DeviceMismatch(RuntimeError):
    pass


def _devices(tree) -> set[torch.device]:
    """The devices of the tensors in args/kwargs, less CPU scalars (one element, as CUDA takes them)."""
    return {t.device for t in pytree.tree_leaves(tree)
            if isinstance(t, torch.Tensor) and not (t.device.type == "cpu" and t.dim() == 0)}


def _host_values(like: torch.Tensor) -> torch.Tensor:
    """CPU values for a meta tensor read on the host: random floats in [0, 1), zeros, True."""
    if like.dtype == torch.bool:
        return torch.ones(like.shape, dtype=torch.bool)
    if like.is_floating_point():
        return torch.rand(like.shape).to(like.dtype)
    return torch.zeros(like.shape, dtype=like.dtype)


def _to_host(func, args, kwargs) -> bool:
    return func.overloadpacket is aten._to_copy and args[0].is_meta and \
        torch.device(kwargs.get("device") or META).type == "cpu"


class DeviceCheck(TorchDispatchMode):
    """Refuse operations that mix devices; give meta tensors values where they are read on the host, and list
    those reads in ``syncs`` (module docstring)."""

    def __init__(self):
        super().__init__()
        self.syncs: list[str] = []
        self.count = 2  # what an integer read back from the device holds

    def _note_sync(self, func) -> None:
        """Record func with the line of the project's code that called it."""
        ours = [f for f in traceback.extract_stack() if f.filename.startswith(str(REPO))
                and not f.filename.startswith((str(REPO / "tests"), str(Path(sys.prefix).resolve())))]
        where = f"{Path(ours[-1].filename).relative_to(REPO)}:{ours[-1].lineno}" if ours else "?"
        self.syncs.append(f"{func.overloadpacket.__name__} at {where}")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        reads = packet in (aten._local_scalar_dense, aten.nonzero, aten.bincount) and args[0].is_meta
        masks = packet in INDEXING and args[0].is_meta and any(i is not None and i.dtype == torch.bool
                                                               for i in args[1])
        if reads or masks or _to_host(func, args, kwargs):
            self._note_sync(func)
        if packet not in CROSSING:
            devices = _devices((args, kwargs))
            if len(devices) > 1:
                raise DeviceMismatch(f"{func} mixes devices {sorted(map(str, devices))}")
        elif packet in INDEXING:
            here, indices = args[0].device, [i for i in args[1] if i is not None]
            if any(i.device not in (here, torch.device("cpu")) for i in indices):
                raise DeviceMismatch(f"{func} indexes a {here} tensor with {[str(i.device) for i in indices]}")
            values = args[2] if packet is not aten.index else None
            if values is not None and values.device != here and _devices(values):
                raise DeviceMismatch(f"{func} writes {values.device} values into a {here} tensor")
        if packet is aten._local_scalar_dense and args[0].is_meta:
            x = args[0]
            return True if x.dtype == torch.bool else 0.0 if x.is_floating_point() else self.count
        if _to_host(func, args, kwargs):
            return _host_values(args[0]).to(kwargs.get("dtype") or args[0].dtype)
        if packet is aten.copy_ and args[1].is_meta and not args[0].is_meta:
            return args[0].copy_(_host_values(args[1]))
        if packet is aten.nonzero and args[0].is_meta:  # every element selected
            return torch.ones(args[0].shape, dtype=torch.bool).nonzero().to(META)
        if masks:  # every element selected: the masks as CPU indices of all their elements
            indices = [i.new_ones(i.shape, device="cpu").nonzero().unbind(1) if i is not None and i.dtype == torch.bool
                       else [i] for i in args[1]]
            return func(args[0], [i for group in indices for i in group], *args[2:], **kwargs)
        if packet is aten.bincount and args[0].is_meta:  # no meta kernel: every value below minlength
            minlength = kwargs.get("minlength", args[2] if len(args) > 2 else 0)
            return torch.empty(minlength, dtype=torch.long, device=META)
        return func(*args, **kwargs)


# the random functions the project calls, with a generator where it passes one
RANDOM = ("rand", "randn", "randint", "randperm", "multinomial", "normal", "bernoulli")


def generator_checked(draw):
    """draw, refusing a draw whose generator's device is not its result's, as CUDA does. (At the dispatch level the
    generator arrives as a new object, its stand-in device lost: hence at the function.)"""
    def checked(*args, **kwargs):
        out = draw(*args, **kwargs)
        gen = kwargs.get("generator")
        if gen is not None and out.device != gen.device:
            raise DeviceMismatch(f"{draw.__name__} draws {out.device} values from a {gen.device} generator")
        return out
    return checked


class DeviceGenerator(RealGenerator):
    """torch.Generator for the tests: on meta, a CPU generator that says it is on meta (meta has none)."""

    def __new__(cls, device: torch.device | str = "cpu"):
        device = torch.device(device)
        gen = super().__new__(cls, "cpu" if device.type == "meta" else device)
        gen._device = device
        return gen

    @property
    def device(self) -> torch.device:
        return self._device


def _autocast(real):
    def autocast(device_type, *args, **kwargs):
        return contextlib.nullcontext() if device_type == "meta" else real(device_type, *args, **kwargs)
    return autocast


def _is_autocast_enabled(real):
    def is_autocast_enabled(*args):
        return False if args and args[0] == "meta" else real(*args)
    return is_autocast_enabled


@pytest.fixture
def on_meta(monkeypatch):
    """The test body with meta standing in for a GPU (module docstring); yields the DeviceCheck."""
    monkeypatch.setattr(torch, "autocast", _autocast(torch.autocast))
    monkeypatch.setattr(torch, "is_autocast_enabled", _is_autocast_enabled(torch.is_autocast_enabled))
    monkeypatch.setattr(torch, "Generator", DeviceGenerator)
    for name in RANDOM:
        monkeypatch.setattr(torch, name, generator_checked(getattr(torch, name)))
    with DeviceCheck() as check:
        yield check


def gpu_rows(monkeypatch) -> None:
    """Row caches padded as on a GPU (Attention.row_dim pads for CUDA alone; see test_stepping)."""
    row_dim = Attention.row_dim
    monkeypatch.setattr(Attention, "row_dim", lambda self, device: row_dim(self, "cuda"))


def test_the_checks_refuse_what_a_gpu_refuses(on_meta):
    x = torch.zeros(3, 4, device=META)
    cpu_gen, device_gen = torch.Generator(), torch.Generator(device=META)
    refused = [lambda: torch.nn.functional.linear(x, torch.zeros(2, 4)),  # passes on meta alone
               lambda: x + torch.zeros(4),
               lambda: torch.zeros(3)[torch.tensor([0], device=META)],
               lambda: torch.rand(3, generator=device_gen),  # a device generator's draw on the CPU
               lambda: torch.rand(3, generator=cpu_gen, device=META),
               lambda: torch.multinomial(torch.ones(2, 3, device=META), 1, generator=cpu_gen)]
    for make in refused:
        with pytest.raises(DeviceMismatch):
            make()
    x * torch.tensor(2.0) + x[torch.tensor([0, 1])].sum()  # CPU scalars and CPU indices are allowed, as on a GPU
    torch.rand(3, generator=device_gen, device=META)
    assert not on_meta.syncs
    assert bool(x.sum() > 0) and x[x > 0].shape == (12,) and x.cpu().shape == (3, 4)
    assert len(on_meta.syncs) == 3


# ---- the model: forward, encode/decode, the cached sampling steps ------------------------------------------

NETS = [dict(encoder=e, distance_bias=d, attention_sink=s, value_norm=v)
        for e, d, s, v in itertools.product(("bidirectional", "buffered", "incremental"), (False, True), (False, True),
                                            (False, True)) if not (v and e == "incremental")]


def net_id(kw: dict) -> str:
    return "-".join(f"{k}" if v is True else f"{v}" for k, v in kw.items() if v is not False)


@pytest.mark.parametrize("kw", NETS, ids=net_id)
def test_model_paths_stay_on_the_device(on_meta, monkeypatch, kw):
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=3, num_params=7, width=32, encoder_layers=2, decoder_layers=2,
                         heads=4, ffn=64, fourier_features=8, **kw).to(META)
    b, k, q = 2, 6, 5
    pos, val = torch.rand(b, k, 2, device=META), torch.rand(b, k, 3, device=META)
    qry = torch.rand(b, q, 2, device=META)
    assert m(pos, val, qry).shape[:2] == (b, q)
    m.features(pos, val, qry, observed=3).sum().backward()  # a training step's forward and backward
    with torch.no_grad():
        decode_chunked(m.eval(), m.encode(pos, val), qry, chunk=2)
        if kw["encoder"] == "bidirectional":
            return
        for padded in (False, True)[: 1 + kw["distance_bias"]]:  # only the distance channels are padded
            if padded:
                gpu_rows(monkeypatch)
            cache = m.new_cache(b, k + 2, META, torch.float32)
            m.encode_append(cache, pos[:, :3], val[:, :3])  # S
            m.encode_append(cache, pos[:, 3:5], val[:, 3:5])  # rows that see each other causally
            m.encode_append(cache, pos[:, 5:], val[:, 5:])  # one row
            m.decode(m.cached_memory(cache), qry)
            step, inputs = RowStepper(m, cache), m.step_inputs(qry[:, :2])
            for t in range(2):
                p, ctx_embed, qry_embed = inputs.at(t)
                step.decode(p, qry_embed)
                step.append(p, val[:, :1], ctx_embed)
            assert cache.length == k + 2


# ---- the module: training and validation steps, inference ---------------------------------------------------

SPECS = {
    "polynomial": SignalSpec("polynomial", "polynomial", (16,), 1, (-5, 5), extra={"degree": 6, "coef_std": 1.0}),
    "digits": SignalSpec("images", "digits", (6, 6), 1, (0, 1), num_bins=8),  # uniform scalar bins
    "rgb": SignalSpec("images", "cifar", (6, 6), 3, (0, 1), num_bins=4,  # explicit (k-means) centres
                      centres=((0, 0, 0), (1, 1, 1), (0.5, 0.2, 0.1), (0.1, 0.9, 0.3))),
    "video": SignalSpec("video", "synthetic", (2, 11, 11), 3, (0, 1), num_bins=8),  # SSIM needs 11 x 11 frames
    "sdf": SignalSpec("sdf", "procedural", (4, 4, 4), 1, (-0.1, 0.1), num_bins=8),
}
FOCUS = dict(min_context=2, max_context=8, num_queries=6, focus_fraction=0.5, focus_band=(-0.05, 0.05))
# (spec, encoder, distance_bias, attention_sink, value_norm, anchor_logits): every option on and off, every encoder
# with each, every kind of bins (value_norm needs one Gaussian, the anchor bins)
CASES = [("digits", "bidirectional", False, False, False, True),
         ("polynomial", "bidirectional", True, True, True, False),
         ("rgb", "bidirectional", True, False, False, False),
         ("video", "buffered", False, True, False, True),
         ("polynomial", "buffered", True, False, True, False),
         ("rgb", "buffered", True, True, False, True),
         ("sdf", "buffered", True, False, False, False),  # the query focus
         ("rgb", "incremental", False, False, False, False),
         ("digits", "incremental", True, True, False, True),
         ("polynomial", "incremental", True, False, False, False)]


def case_id(case) -> str:
    name, encoder, *flags = case
    return "-".join([name, encoder] + [k for k, on in zip(("distance", "sink", "value_norm", "anchor"), flags) if on])


def module(name: str, encoder="buffered", distance=True, sink=False, value_norm=False, anchor=True,
           spec: SignalSpec | None = None) -> PixelTransformerModule:
    """A tiny module on meta; buffer_prob 1: every buffered training step splits its set."""
    spec = spec or SPECS[name]
    sets = dict(FOCUS) if name == "sdf" else dict(min_context=2, max_context=8, num_queries=5, grid_points=True)
    torch.manual_seed(0)
    net = dict(width=32, ffn=64, heads=4, fourier_features=8, encoder=encoder, distance_bias=distance,
               attention_sink=sink, value_norm=value_norm, buffer_prob=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no Domain named ... is loaded" where a test imports none
        m = PixelTransformerModule(spec=spec, net=net, objective=dict(anchor_logits=anchor), sets=sets,
                                   val_levels=(2, 5))
    return m.to(META)


def device_batch(name: str, b: int = 3) -> dict[str, torch.Tensor]:
    """A batch as on_after_batch_transfer hands it to the module: uint8 pictures and video frames, float16 SDF grids
    made float32 on the device."""
    spec = SPECS[name]
    shape = (b, spec.val_dims, *spec.grid_shape)
    if name in ("rgb", "video"):
        signal = float_signal(torch.zeros(shape, dtype=torch.uint8, device=META))
    elif name == "sdf":
        from domains.sdf.datasets import sdf_values

        signal = sdf_values(torch.zeros(shape, dtype=torch.float16, device=META), 0.1)
    else:
        signal = float_signal(torch.rand(shape, device=META))
    assert signal.dtype == torch.float32
    return {"signal": signal, "index": torch.arange(b, device=META)}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_training_and_validation_steps_stay_on_the_device(on_meta, case):
    name = case[0]
    m = module(*case)
    batch = device_batch(name)
    loss = m.train().training_step(batch, 0)  # the first step also sets the bin prior
    loss.backward()
    m.on_before_optimizer_step(torch.optim.SGD(m.model.parameters(), lr=0.1))  # the gradients' finite check
    with torch.no_grad():
        m.eval().validation_step(batch, 0)
    means = m.val_nll_means()  # a level no item was scored at is NaN (meta's values read back are in [0, 1))
    assert set(means) == {2, 5} and all(math.isfinite(v) for v in means.values()), means


def cpu_sets(spec: SignalSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """S and queries on the CPU, as a user gives them (the conveniences move them to the model's device)."""
    p, v = spec.pos_dims, spec.val_dims
    return torch.rand(2, 5, p) * 2 - 1, torch.rand(2, 5, v), torch.rand(2, 7, p) * 2 - 1


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_inference_conveniences_stay_on_the_device(on_meta, case):
    """Each convenience takes the user's CPU sets and answers on the model's device, in the shapes its docstring
    gives."""
    m = module(*case).eval()
    spec = SPECS[case[0]]
    grid, v = tuple(spec.grid_shape), spec.val_dims
    pos, val, qry = cpu_sets(spec)
    params = m.predict_params(pos, val, qry)  # [2, 7, NP]
    assert (params.device, params.shape) == (META, (2, 7, m.dist.params_width))
    mean = m.mean_field(pos, val, qry)  # [2, 7, V]
    assert (mean.device, mean.shape, mean.dtype) == (META, (2, 7, v), torch.float32)
    drawn = m.sample(pos, val, qry, num_samples=2, n_autoregressive=2, chunk=3)  # the rest decoded in chunks
    assert (drawn.device, drawn.shape) == (META, (2, 2, 7, v))  # [B, S, Q, V]
    c = m.complete(pos, val, spec.grid_shape, num_samples=1, n_autoregressive=2)
    assert (c.mean.device, c.mean.shape, c.samples.shape) == (META, (2, v, *grid), (2, 1, v, *grid))
    std, below = c.std(), c.prob_below(0.5)  # [2, V, *grid], [2, *grid]
    assert (std.device, std.shape, below.device, below.shape) == (META, (2, v, *grid), META, (2, *grid))
    assert {t.device.type for t in (c.cpu().mean, c.cpu().samples, c.cpu().params)} == {"cpu"}


@pytest.mark.parametrize("encoder", ["bidirectional", "buffered", "incremental"])
def test_sampling_options_stay_on_the_device(on_meta, monkeypatch, encoder):
    """Greedy sampling of every query, re-encoding instead of the cache, and the cache a GPU pads."""
    m = module("rgb", encoder, sink=True).eval()
    pos, val, qry = cpu_sets(SPECS["rgb"])
    drawn = [m.sample(pos, val, qry, num_samples=1, n_autoregressive=None, temperature=0)]
    if encoder != "bidirectional":
        drawn.append(m.sample(pos, val, qry, num_samples=1, n_autoregressive=2, use_cache=False))
        gpu_rows(monkeypatch)
        drawn.append(m.sample(pos, val, qry, num_samples=2, n_autoregressive=2))
    # [B, S, Q, V] on the model's device, each option's samples
    assert [(d.device, d.shape) for d in drawn] == [(META, (2, s, 7, 3)) for s in (1, 1, 2)[:len(drawn)]]


@pytest.mark.parametrize("encoder", ["buffered", "bidirectional"])
def test_sampling_steps_wait_for_nothing(on_meta, encoder):
    """The autoregressive steps read nothing back from the device: sampling reads as often at N' = 2 as at 5 (the
    inputs' finite check, N' itself and the output's finite check)."""
    m = module("rgb", encoder, sink=True).eval()
    pos, val = torch.rand(2, 4, 2, device=META), torch.rand(2, 4, 3, device=META)
    qry = torch.rand(2, 9, 2, device=META)
    on_meta.count = 7  # queries not in S
    reads = []
    for n in (2, 5):
        on_meta.syncs.clear()
        sample(m.model, m.dist, pos, val, qry, num_samples=2, n_autoregressive=n)
        reads.append(list(on_meta.syncs))
    assert reads[0] == reads[1] and len(reads[0]) == 3, reads


def test_the_module_called_with_the_graph_reads_the_device_once(on_meta):
    """m(ctx_pos, ctx_val, qry_pos) checked each input finite on its own: three waits for the device per call."""
    m = module("rgb")
    pos, val = torch.rand(2, 4, 2, device=META), torch.rand(2, 4, 3, device=META)
    assert m(pos, val, torch.rand(2, 5, 2, device=META)).shape[:2] == (2, 5)
    assert len(on_meta.syncs) == 1, on_meta.syncs


@pytest.mark.parametrize("name", ["polynomial", "digits", "rgb"])
def test_distribution_stays_on_the_device(on_meta, name):
    """Every method of the value distribution, framed (value_norm) or not, with and without the anchor."""
    spec = SPECS[name]
    for framed, anchor in [(False, False), (False, True)] + [(True, False)] * (spec.num_bins == 1):
        dist = BinnedGaussian.from_spec(spec, anchor=anchor, framed=framed).to(META)
        extra = spec.val_dims + 1 if framed else 0
        params = torch.randn(2, 5, dist.num_params + extra, device=META)
        value = torch.rand(2, 5, spec.val_dims, device=META)
        per_query = [dist.loss(params, value), dist.log_prob(params, value)]  # [2, 5] each
        per_value = [dist.mean(params), dist.variance(params), dist.cdf(params, 0.5),  # [2, 5, V] each
                     dist.cdf(params, torch.full((2, 5, spec.val_dims), 0.5, device=META)),
                     dist.sample(params, 1.0, generator=torch.Generator(device=META)),
                     dist.sample(params, 0.7, uniform=torch.rand(2, 5, device=META),
                                 noise=torch.randn(2, 5, spec.val_dims, device=META)),
                     dist.sample(params, 0.0)]
        if not framed:
            head = torch.nn.Linear(8, dist.num_params).to(META)
            per_query.append(dist.head_loss(torch.randn(2, 5, 8, device=META), head, value))
        assert {(t.device, t.shape) for t in per_query} == {(META, (2, 5))}, (framed, anchor)
        assert {(t.device, t.shape) for t in per_value} == {(META, (2, 5, spec.val_dims))}, (framed, anchor)


# ---- the GP protocol's set sampler: its sizes were drawn on the CPU from the module's generator -----------------

def protocol_module(encoder: str) -> PixelTransformerModule:
    import domains.polynomial.domain  # noqa: F401  (the module's Domain)
    from domains.polynomial.protocol import ProtocolSetSampler, protocol_extra

    spec = SignalSpec("polynomial", "gp_tnp_rbf", (19,), 1, (-4, 4), pos_scale=2.0,
                      extra=protocol_extra("rbf", 20, 0.02, (0.1, 0.6), (0.1, 1.0)))
    torch.manual_seed(0)
    return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, fourier_features=8, encoder=encoder,
                                                      buffer_prob=1.0),
                                  sets=ProtocolSetSampler(), val_levels=(3, 5)).to(META)


def protocol_batch(index_device=META) -> dict[str, torch.Tensor]:
    return {"signal": torch.rand(4, 2, 19, device=META), "index": torch.arange(4, device=index_device),
            "lengthscale": torch.rand(4, device=META), "scale": torch.rand(4, device=META)}


@pytest.mark.parametrize("encoder", ["bidirectional", "buffered"])
def test_protocol_training_step_draws_its_sizes_on_the_device(on_meta, encoder):
    """A GP protocol fit on a GPU drew (Nc, Nt) on the CPU from the module's CUDA generator: its first training step
    stopped ("Expected a 'cpu' device type for generator but found 'cuda'")."""
    m = protocol_module(encoder)
    batch = protocol_batch()
    loss = m.train().training_step(batch, 0)
    assert (loss.device, loss.shape) == (META, ())
    loss.backward()
    assert all(p.grad is not None and p.grad.device == META for p in m.model.parameters() if p.requires_grad)
    with torch.no_grad():
        m.eval().validation_step(batch, 0)
    means = m.val_nll_means()  # a level no item was scored at is NaN (meta's values read back are in [0, 1))
    assert set(means) == {3, 5} and all(math.isfinite(v) for v in means.values()), means


def test_protocol_evaluation_batch_stays_on_the_device(on_meta, monkeypatch, tmp_path):
    from domains.polynomial.data import PolynomialDataModule
    from domains.polynomial.evaluation import GPProtocolEvaluation

    m = protocol_module("bidirectional").eval()
    # the evaluation hands predict_params the device's tensors, which api_inputs passes on as they are (it refuses
    # meta tensors from a user: they hold no values)
    monkeypatch.setattr(m, "api_inputs", lambda *xs: tuple(x for x in xs if x is not None))
    ev = GPProtocolEvaluation(batch_size=4, levels=(3, 5), sweep_batches=1, out_dir=str(tmp_path))
    dm = PolynomialDataModule(dataset="gp_tnp_rbf", max_points=20, val_range=(-4, 4), test_size=4, batch_size=4)
    trainer = SimpleNamespace(world_size=1, ckpt_path=None, default_root_dir=str(tmp_path), is_global_zero=True,
                              lightning_module=m, test_loop=loop_reading(dm))
    ev.on_test_start(trainer, m)
    with torch.no_grad():  # the index on the CPU: meta's stand-in values would not be in order
        ev.on_test_batch_end(trainer, m, None, protocol_batch(index_device="cpu"), 0)
    assert len(ev._per_batch["target_ll"]) == 1


# ---- the |S| sweep, the domains' metrics, pictures and predict --------------------------------------------------

@pytest.fixture
def domains_loaded():
    import domains.images.domain  # noqa: F401  (each registers its Domain, whose metrics the sweep reports)
    import domains.polynomial.domain  # noqa: F401
    import domains.sdf.domain  # noqa: F401
    import domains.video.domain  # noqa: F401


def device_inputs(monkeypatch, m: PixelTransformerModule) -> None:
    """The sweep, pictures and predict hand the conveniences the device's tensors, which api_inputs passes on as they
    are (it refuses meta tensors from a user: they hold no values)."""
    monkeypatch.setattr(m, "api_inputs", lambda *xs: tuple(x for x in xs if x is not None))


@pytest.mark.parametrize("name,queries", [("polynomial", "grid"), ("polynomial", 6), ("digits", "grid"),
                                          ("rgb", "grid"), ("video", "grid"), ("sdf", "grid")])
def test_sweep_and_domain_metrics_stay_on_the_device(on_meta, monkeypatch, tmp_path, domains_loaded, name, queries):
    m = module(name, value_norm=SPECS[name].num_bins == 1).eval()
    device_inputs(monkeypatch, m)
    # the index on the CPU: the items' keys 0 and 1 (meta's stand-in values would give both one key), so that the
    # first item alone is sampled
    batch = {**device_batch(name, b=2), "index": torch.arange(2)}
    ev = SweepEvaluation(levels=(2,), queries=queries, grid_points=name != "sdf", num_samples=2,
                         n_autoregressive=2, sample_items=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SSIM of constant images, a mesh of an empty shape
        out = ev.evaluate_batch(m, batch, 0)
    assert "sample_mse" in out[2]
    ev.on_test_start(SimpleNamespace(ckpt_path=None, default_root_dir=str(tmp_path), lightning_module=m,
                                     test_loop=loop_reading()), m)
    for k, values in out.items():
        for metric, value in values.items():
            assert value.shape == (2,), metric
            ev._update(k, metric, value, [0, 1])
    monkeypatch.setattr(type(m.domain), "pictures", lambda *args, **kwargs: {})  # drawing is the CPU's
    Pictures(num_examples=2, levels=(2,), num_samples=1, n_autoregressive=2).draw(m, batch["signal"], tmp_path)


def test_image_baselines_stay_on_the_device(on_meta, monkeypatch, domains_loaded):
    """ImageEvaluation's classifier accuracy and VAE completion, the helper networks on the module's device."""
    from domains.images.baselines.classifier import ResNetClassifier
    from domains.images.baselines.vae import ConvVAE
    from domains.images.evaluation import ImageEvaluation

    spec = dataclasses.replace(SPECS["rgb"], grid_shape=(8, 8))  # the VAE's smallest image
    m = module("rgb", spec=spec).eval()
    device_inputs(monkeypatch, m)
    ev = ImageEvaluation(levels=(2, 4), num_samples=2, n_autoregressive=3, vae_steps=3)
    ev.classifier, ev.vae = ResNetClassifier(3, 10, 8).to(META).eval(), ConvVAE(3, 8, 8).to(META).eval()
    batch = {"signal": torch.rand(2, 3, 8, 8, device=META), "index": torch.arange(2, device=META),
             "label": torch.zeros(2, dtype=torch.long, device=META)}
    with torch.no_grad():
        out = ev.evaluate_batch(m, batch, 0)
    assert {"acc_gt", "acc_sample", "vae_ssim"} <= set(out[2])


def test_predict_step_stays_on_the_device(on_meta, monkeypatch, domains_loaded):
    m = module("rgb").eval()
    device_inputs(monkeypatch, m)
    m.predict_options = PredictOptions(num_samples=2, n_autoregressive=3)
    batch = {"ctx_pos": torch.rand(1, 4, 2, device=META), "ctx_val": torch.rand(1, 4, 3, device=META),
             "signal": torch.rand(1, 3, 6, 6, device=META)}
    with torch.no_grad():
        completion = m.predict_step(batch)
    assert completion.mean.device.type == "cpu" and completion.samples.shape[:2] == (1, 2)


# ---- reads from the device that need not be -----------------------------------------------------------------

def test_focused_queries_wait_for_nothing(on_meta):
    """The query focus (SDF fits) made a signal with no point in the band uniform with a boolean mask: a wait for the
    device at every training step."""
    sampler = SetSampler(**FOCUS)
    sets = sampler(device_batch("sdf")["signal"], torch.Generator(device=META), num_context=4)
    assert sets.qry_pos.shape == (3, 6, 3) and sets.qry_pos.device == META
    assert not on_meta.syncs, on_meta.syncs


def test_batch_keys_read_the_index_once(on_meta):
    """Validation and the sweep key every item by its index, a device tensor: one read, not one per item."""
    keys = batch_keys({"index": torch.arange(3, device=META)}, 0)
    assert len(on_meta.syncs) == 1, on_meta.syncs
    assert keys == [0, 0, 0]  # meta's stand-in values


def test_vae_completion_steps_wait_for_nothing(on_meta):
    """The VAE baseline's latent optimisation kept its objective history on the CPU: a wait per step."""
    from domains.images.baselines.vae import ConvVAE, complete_latents

    vae = ConvVAE(3, 8, 8).to(META)
    for steps in (2, 5):
        on_meta.syncs.clear()
        z, history = complete_latents(vae, torch.rand(2, 4, 2, device=META), torch.rand(2, 4, 3, device=META), steps)
        assert z.device == META and history.shape == (steps,) and history.device.type == "cpu"
        assert len(on_meta.syncs) == 1, on_meta.syncs  # the history, once
