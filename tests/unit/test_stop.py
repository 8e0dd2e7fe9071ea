"""A SIGTERM stops an evaluation between the steps of its long loops (stop.py), not at the end of its batch."""

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities.exceptions import SIGTERMException

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import sample
from pixeltransformer.model import PixelTransformer
from pixeltransformer.sets import grid_positions
from pixeltransformer.signal import SignalSpec
from pixeltransformer.stop import check_stop, stop_when
from tests.unit.stand_ins import Stopped, fake_trainer, loop_reading, stop_after


@pytest.mark.parametrize("encoder", ["bidirectional", "buffered"])
def test_sampling_stops_between_autoregressive_steps(encoder):
    """A 64-point grid sampled autoregressively took 64 steps after the stop was asked for: it stops at the check
    before the 4th, and the check is gone once the scope ends."""
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(8, 8), val_dims=1, val_range=(0, 1), num_bins=3)
    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=1, num_params=3 * 3, width=32, encoder_layers=1, decoder_layers=1,
                         heads=4, ffn=64, fourier_features=16, encoder=encoder).eval()
    ctx_pos, ctx_val = torch.rand(1, 4, 2) * 2 - 1, torch.rand(1, 4, 1)  # [1, K, P], [1, K, V]
    qry = grid_positions((8, 8)).unsqueeze(0)  # [1, N, P]
    calls: list = []
    with stop_when(stop_after(3, calls)), pytest.raises(Stopped):
        sample(m, BinnedGaussian.from_spec(spec), ctx_pos, ctx_val, qry, n_autoregressive=None)
    assert len(calls) == 4
    out = sample(m, BinnedGaussian.from_spec(spec), ctx_pos, ctx_val, qry, n_autoregressive=None)  # [1, 1, N, 1]
    assert out.shape == (1, 1, 64, 1) and len(calls) == 4


def test_nested_scopes_each_check():
    seen = []
    with stop_when(lambda: seen.append("outer")):
        with stop_when(lambda: seen.append("inner")):
            check_stop()
        check_stop()
    check_stop()
    assert seen == ["outer", "inner", "outer"]


def test_a_sigterm_stops_the_sweep_between_levels(tiny_module, monkeypatch):
    """The |S| levels of a batch ran on to the last after a SIGTERM (Lightning looks at it at the batch's end): the
    sweep stops at the next level with Lightning's SIGTERMException, status 143."""
    from pixeltransformer.evaluation import SweepEvaluation

    ev = SweepEvaluation(levels=(2, 4, 8, 16), num_samples=0)
    trainer = fake_trainer()
    levels = []

    def metrics(item, module):  # the SIGTERM comes while the first level is scored
        levels.append(item.num_context)
        trainer.received_sigterm = True
        return {}

    monkeypatch.setattr(ev, "metrics", metrics)
    ev._values, ev.evaluated = {}, set()
    signal = torch.rand(2, 1, 64, generator=torch.Generator().manual_seed(0))  # [B, V, N]
    with pytest.raises(SIGTERMException) as stopped:
        ev.on_test_batch_end(trainer, tiny_module, None, {"signal": signal, "index": torch.arange(2)}, 0)
    assert stopped.value.code == 143 and levels == [2] and ev._values == {}
    check_stop()  # the scope ended with the batch


def test_a_sigterm_in_the_last_batch_writes_no_metrics(tiny_module, tmp_path):
    """Lightning's test loop does not look at a SIGTERM that comes in its last batch: the sweep wrote its
    metrics.json and plots (and the pictures were sampled) after it."""
    from pixeltransformer.callbacks import Pictures
    from pixeltransformer.evaluation import SweepEvaluation

    ev = SweepEvaluation(levels=(2,), num_samples=0, out_dir=str(tmp_path / "eval"))
    trainer = fake_trainer(lightning_module=tiny_module, default_root_dir=str(tmp_path))
    ev.on_test_start(trainer, tiny_module)
    trainer.received_sigterm = True
    with pytest.raises(SIGTERMException) as stopped:
        ev.on_test_end(trainer, tiny_module)
    assert stopped.value.code == 143 and not (tmp_path / "eval").exists()
    with pytest.raises(SIGTERMException):
        Pictures(num_samples=1).on_test_end(trainer, tiny_module)
    assert not (tmp_path / "eval").exists()


def test_the_pictures_of_a_stage_are_of_the_data_module_it_reads_from():
    """After a fit, a test given dataloaders alone drew the fit's examples (Lightning keeps trainer.datamodule); with
    no data module at all it stopped on None's missing fixed_examples. A validation or a fit drew the earlier fit's
    validation examples, and given dataloaders alone was told of a test. Each reads its own, or says so."""
    from lightning.pytorch.trainer.states import TrainerFn

    from pixeltransformer.callbacks import Pictures

    class Data(LightningDataModule):
        def fixed_examples(self, split, n):
            return {"signal": torch.full((n, 1, 2), float(self.value))}  # [n, V, *grid]

        def __init__(self, value):
            super().__init__()
            self.value = value

    fitted, read = Data(1), Data(2)
    for fn, loop, split, noun in ((TrainerFn.TESTING, "test_loop", "test", "test"),
                                  (TrainerFn.VALIDATING, "validate_loop", "val", "validation"),
                                  (TrainerFn.FITTING, "fit_loop", "val", "fit")):
        trainer = SimpleNamespace(datamodule=fitted, state=SimpleNamespace(fn=fn), **{loop: loop_reading(read)})
        assert Pictures(num_examples=1)._examples(trainer, split, "cpu")[0].unique().tolist() == [2.0]
        setattr(trainer, loop, loop_reading(None))
        with pytest.raises(ValueError, match=rf"^Pictures draws the examples of the data module a {noun} reads from, "
                                             rf"and this {noun} was given dataloaders alone: "
                                             rf"trainer.{fn.value}\(model, datamodule=...\)$"):
            Pictures(num_examples=1)._examples(trainer, split, "cpu")


def test_pictures_outside_a_stage_without_a_data_module_say_so():
    """Pictures' examples asked for (check_split by hand) of a trainer that runs no stage and holds no data module
    were said to be of "a None" and sent to trainer.None(...); the line names the stages that give one."""
    from pixeltransformer.callbacks import Pictures

    trainer = SimpleNamespace(datamodule=None, state=SimpleNamespace(fn=None))
    with pytest.raises(ValueError, match=r"^Pictures draws the examples of the data module a fit, validation or test "
                                         r"reads from, and this trainer runs none and holds no data module: "
                                         r"trainer.fit\(model, datamodule=...\) \(or validate, test\)$"):
        Pictures(num_examples=1)._examples(trainer, "val", "cpu")


def test_the_vae_baseline_stops_between_its_steps():
    """The images evaluation's VAE baseline fits latents for 300 steps at every |S| level: seconds that a SIGTERM
    waited for. It stops at the check before its 3rd step."""
    from domains.images.baselines.vae import ConvVAE, complete_latents

    torch.manual_seed(0)
    vae = ConvVAE(1, 8, width=8)
    calls: list = []
    ctx_pos, ctx_val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 1)  # [B, K, 2], [B, K, 1]
    with stop_when(stop_after(2, calls)), pytest.raises(Stopped):
        complete_latents(vae, ctx_pos, ctx_val, steps=300)
    assert len(calls) == 3


def test_the_sdf_rbf_baseline_and_shape_scores_stop_between_their_chunks():
    """The 3D shapes evaluation's RBF fill of S solved |S| = 2048 against every grid point in chunks: 15 s for 4
    shapes at 32^3 and 47 s for 2 at 64^3 on a CPU, which a SIGTERM waited for; so did the marching cubes and Chamfer
    distances of each method's grid. The fill stops at the check before its 3rd chunk, the scores before the 3rd
    method of the first shape."""
    from domains.sdf.baselines import rbf_interpolate
    from domains.sdf.metrics import shape_metrics

    g = torch.Generator().manual_seed(0)
    ctx_pos, ctx_val = torch.rand(2, 64, 3, generator=g) * 2 - 1, torch.rand(2, 64, 1, generator=g)  # [B, K, 3]
    qry = torch.rand(2, 1000, 3, generator=g) * 2 - 1  # [B, Q, 3]
    calls: list = []
    with stop_when(stop_after(2, calls)), pytest.raises(Stopped):
        rbf_interpolate(ctx_pos, ctx_val, qry, chunk_elements=2 * 64 * 100)  # chunks of 100 queries: 10 of them
    assert len(calls) == 3
    ax = torch.linspace(-1, 1, 8)
    x, y, z = torch.meshgrid(ax, ax, ax, indexing="ij")
    ball = ((x**2 + y**2 + z**2).sqrt() - 0.6).clamp(-0.1, 0.1)[None].expand(2, -1, -1, -1)  # [B, R, R, R]
    calls.clear()
    with stop_when(stop_after(2, calls)), pytest.raises(Stopped):
        shape_metrics(ball, {"mean": ball, "nn": ball, "rbf": ball}, n_points=100)
    assert len(calls) == 3
    assert shape_metrics(ball, {"mean": ball}, n_points=100)["iou_mean"].tolist() == [1.0, 1.0]  # no scope: no stop


def test_decoding_a_whole_grid_stops_between_its_chunks():
    """An evaluation decodes every grid point (a 3D shape's 32^3 = 32768 of each of 4 shapes at |S| = 2048) in chunks
    that took seconds each on a CPU, and a SIGTERM waited for all of them: it checks before the first (one that came
    while the memory was made) and stops at the check before the 2nd."""
    from pixeltransformer.inference import decode_chunked

    torch.manual_seed(0)
    m = PixelTransformer(pos_dims=2, val_dims=1, num_params=3 * 3, width=32, encoder_layers=1, decoder_layers=1,
                         heads=4, ffn=64, fourier_features=16).eval()
    ctx_pos, ctx_val = torch.rand(1, 4, 2) * 2 - 1, torch.rand(1, 4, 1)  # [1, K, P], [1, K, V]
    qry = grid_positions((8, 8)).unsqueeze(0)  # [1, N, P]
    calls: list = []
    with stop_when(stop_after(1, calls)), pytest.raises(Stopped):
        decode_chunked(m, m.encode(ctx_pos, ctx_val), qry, chunk=8)  # 8 chunks
    assert len(calls) == 2
    calls.clear()
    with stop_when(stop_after(0, calls)), pytest.raises(Stopped):
        decode_chunked(m, m.encode(ctx_pos, ctx_val), qry)  # one chunk
    assert len(calls) == 1
    assert decode_chunked(m, m.encode(ctx_pos, ctx_val), qry, chunk=8).shape == (1, 64, 9)  # no scope: no stop
