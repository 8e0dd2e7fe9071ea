"""Pictures labelled "sample" say when most of each sample is a mean: with N' = n_autoregressive smaller than the
values not in S, only N' values of a sample are drawn and the rest get their mean given S and those N' (a video
"sample" at N' = 16 looked like the mean row without a word). They say nothing extra when every value was drawn."""

from __future__ import annotations

import pytest
import torch

import domains.images.domain  # noqa: F401  (each registers its domain, which a module of its spec then draws with)
import domains.polynomial.domain  # noqa: F401
import domains.sdf.domain  # noqa: F401
import domains.video.domain  # noqa: F401
from pixeltransformer.callbacks import Pictures
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import grid_positions
from pixeltransformer.signal import SignalSpec

NOTE = "N′ = 4 values drawn, the rest their mean"


def test_a_completion_says_when_its_samples_are_partly_their_mean(tiny_module):
    """12 grid points are not in S: N' = 4 leaves 8 of each sample's values a mean; N' = 12 or None draws all."""
    pos = grid_positions((16,))[::4].unsqueeze(0).expand(2, -1, -1)  # [2, 4, 1], on the grid
    val = torch.randn(2, 4, 1)  # [2, 4, 1]
    part = tiny_module.complete(pos, val, (16,), num_samples=2, n_autoregressive=4)
    assert part.drawn_note() == part[1].drawn_note() == part.cpu().drawn_note() == NOTE
    for n_ar in (12, 100, None):
        assert tiny_module.complete(pos, val, (16,), num_samples=1, n_autoregressive=n_ar).drawn_note() == ""
    assert tiny_module.complete(pos, val, (16,), num_samples=0, n_autoregressive=4).drawn_note() == ""  # no samples


def test_a_step_suffix_reads_as_a_step_number():
    from pixeltransformer.domain import suffix_title

    assert suffix_title("_step000010") == "step 10"
    assert suffix_title("_step000000") == "step 0"
    assert suffix_title("") == ""


def module_of(spec: SignalSpec) -> PixelTransformerModule:
    torch.manual_seed(0)
    return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, heads=4, encoder_layers=1, decoder_layers=1),
                                  sets=dict(min_context=4, max_context=8, num_queries=8)).eval()


@pytest.mark.parametrize("n_ar", [4, None])
def test_image_samples_and_composition_say_when_most_of_a_sample_is_a_mean(tmp_path, monkeypatch, n_ar):
    from domains.images import visualize

    titles, grid = [], visualize.image_grid
    monkeypatch.setattr(visualize, "image_grid", lambda rows, path, **kw: titles.append(kw["title"])
                        or grid(rows, path, **kw))
    spec = SignalSpec(domain="images", dataset="toy", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0))
    Pictures(levels=(4,), num_samples=2, n_autoregressive=n_ar).draw(module_of(spec), torch.rand(2, 1, 8, 8),
                                                                     tmp_path, "_step000010")
    fig4 = "samples of I | S, |S| = 32\nstep 10"
    fig5 = "S from the halves of two images, |S| = 32\nstep 10"
    assert titles[1:] == ([f"{fig4}\n{NOTE}", f"{fig5}\nsample: {NOTE}"] if n_ar else [fig4, fig5]), titles


@pytest.mark.parametrize("n_ar", [4, None])
def test_video_sample_rows_say_when_most_of_a_sample_is_a_mean(tmp_path, monkeypatch, n_ar):
    from domains.video import domain as video_domain

    titles = []
    monkeypatch.setattr(video_domain, "write_figure10", lambda *args, title, **kw: titles.append(title)
                        or {"png": tmp_path / "v.png", "mp4": tmp_path / "v.mp4"})
    spec = SignalSpec(domain="video", dataset="toy", grid_shape=(3, 6, 6), val_dims=3, val_range=(0.0, 1.0))
    Pictures(num_examples=1, levels=(10,), num_samples=2, n_autoregressive=n_ar).draw(
        module_of(spec), torch.rand(1, 3, 3, 6, 6), tmp_path, "_step000010")
    assert titles == [f"|S| = 10, step 10; samples: {NOTE}" if n_ar else "|S| = 10, step 10"]


@pytest.mark.parametrize("n_ar", [4, None])
def test_sdf_sample_columns_say_when_most_of_a_sample_is_a_mean(tmp_path, monkeypatch, n_ar):
    from domains.sdf import domain as sdf_domain

    titles = []
    monkeypatch.setattr(sdf_domain, "shape_pictures", lambda *args, title, **kw: titles.append(title)
                        or (tmp_path / "f.png", {}))
    spec = SignalSpec(domain="sdf", dataset="toy", grid_shape=(4, 4, 4), val_dims=1, val_range=(-0.1, 0.1))
    Pictures(num_examples=1, levels=(6,), num_samples=1, n_autoregressive=n_ar).draw(
        module_of(spec), torch.rand(1, 1, 4, 4, 4) * 0.2 - 0.1, tmp_path, "_step000010")
    assert titles == [f"|S| = 6, step 10\nsamples: {NOTE}" if n_ar else "|S| = 6, step 10"]


@pytest.mark.parametrize("n_ar", [4, 14, None])
def test_function_panels_say_when_most_of_a_sample_is_a_mean(poly_spec, tmp_path, monkeypatch, n_ar):
    """At 16 points, |S| = 2 leaves 14 values to draw: N' = 14 draws them all, so that panel says nothing; |S| = 12
    leaves 4, which N' = 4 draws."""
    from domains.polynomial import domain as poly_domain

    panels, draw = [], poly_domain.figure_functions
    monkeypatch.setattr(poly_domain, "figure_functions",
                        lambda p, *args, **kw: panels.append(p) or draw(p, *args, **kw))
    Pictures(num_examples=1, levels=(2, 12), num_samples=1, n_autoregressive=n_ar).draw(
        module_of(poly_spec), torch.randn(1, 1, 16), tmp_path, "_step000010")
    note = "samples: N′ = 4 values drawn, the rest their mean"
    assert [p["title"] for p in panels[0]] == (["|S| = 2\n" + note, "|S| = 12"] if n_ar == 4 else
                                               ["|S| = 2", "|S| = 12"])


@pytest.mark.parametrize("n_ar", [4, None])
@pytest.mark.parametrize("domain, grid, values, patch", [
    ("images", (8, 8), (0.0, 1.0), "image_grid"), ("sdf", (4, 4, 4), (-0.1, 0.1), "shape_pictures"),
    ("video", (3, 6, 6), (0.0, 1.0), "write_figure10"), ("polynomial", (16,), (-1.0, 1.0), "figure_functions")])
def test_a_predictions_picture_says_when_most_of_a_sample_is_a_mean(tmp_path, monkeypatch, n_ar, domain, grid,
                                                                     values, patch):
    """`make sample`'s pictures (panel.png, figure.png, figure10, functions.png) drew N' = 2048 of a clip's 16 896
    free values and titled the rest "sample" too."""
    import importlib

    module = importlib.import_module(f"domains.{domain}.domain")
    titles = []

    def record(*args, title=None, **kw):  # the picture's title, or its panels' (polynomial)
        titles.append(title if patch != "figure_functions" else args[0][0]["title"])
        return {"png": tmp_path / "f.png", "mp4": tmp_path / "f.mp4"} if patch == "write_figure10" else (
            (tmp_path / "f.png", {}) if patch == "shape_pictures" else tmp_path / "f.png")

    monkeypatch.setattr(module, patch, record)
    monkeypatch.setattr(module, "write_video", lambda frames, path, **kw: path, raising=False)
    v = 3 if domain == "video" else 1
    spec = SignalSpec(domain=domain, dataset="toy", grid_shape=grid, val_dims=v, val_range=values)
    m = module_of(spec)
    pos = grid_positions(grid)[::4].unsqueeze(0)  # [1, K, P] on the grid
    val = torch.rand(1, pos.shape[1], v) * (values[1] - values[0]) + values[0]  # [1, K, V]
    m.domain.write_prediction(m.complete(pos, val, grid, num_samples=1, n_autoregressive=n_ar), tmp_path)
    assert len(titles) == 1 and titles[0].endswith(NOTE) == (n_ar is not None), titles


# each domain's spec and signal of 2 items (1 for a clip or a shape, whose completions are slow), the function its
# pictures are drawn by and the picture options
DRAWN = {"images": (SignalSpec(domain="images", dataset="toy", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0)),
                    (2, 1, 8, 8), "image_grid", dict(levels=(4,), num_samples=1)),
         "video": (SignalSpec(domain="video", dataset="toy", grid_shape=(3, 6, 6), val_dims=3, val_range=(0.0, 1.0)),
                   (1, 3, 3, 6, 6), "write_figure10", dict(num_examples=1, levels=(10,), num_samples=1)),
         "sdf": (SignalSpec(domain="sdf", dataset="toy", grid_shape=(4, 4, 4), val_dims=1, val_range=(-0.1, 0.1)),
                 (1, 1, 4, 4, 4), "shape_pictures", dict(num_examples=1, levels=(6,), num_samples=1)),
         "polynomial": (SignalSpec(domain="polynomial", dataset="toy", grid_shape=(16,), val_dims=1,
                                   val_range=(-1.0, 1.0)), (2, 1, 16), "figure_functions", dict(levels=(4,)))}


def recorded_titles(monkeypatch, tmp_path, domain: str) -> list[str]:
    """The titles the domain's pictures are drawn with, as they are drawn (the pictures' own files are not made)."""
    import importlib

    module = importlib.import_module(f"domains.{domain}.domain")
    if domain == "images":
        module = importlib.import_module("domains.images.visualize")  # figs 3-5 are drawn by its image_grid
    titles = []

    def record(*args, title=None, **kw):
        titles.append(title)
        return {"png": tmp_path / "f.png", "mp4": tmp_path / "f.mp4"} if domain == "video" else (
            (tmp_path / "f.png", {}) if domain == "sdf" else tmp_path / "f.png")

    monkeypatch.setattr(module, DRAWN[domain][2], record)
    return titles


def picture_trainer(tmp_path, module, signal: torch.Tensor, fn: str, index: torch.Tensor | None = None):
    """A stand-in for the trainer of a fit at step 10 (fn "fit") or of a test (fn "test") of ``signal``'s items,
    the examples each with its item's ``index`` where given (as an indexed dataset's)."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    data = SimpleNamespace(fixed_examples=lambda split, n: {"signal": signal[:n],
                                                            **({} if index is None else {"index": index[:n]})})
    return SimpleNamespace(is_global_zero=True, sanity_checking=False, fast_dev_run=False, received_sigterm=False,
                           ckpt_path=None, loggers=[], world_size=1, lightning_module=module, global_step=10,
                           default_root_dir=str(tmp_path), datamodule=data, callbacks=[],
                           state=SimpleNamespace(fn=TrainerFn(fn)))


# the title (video, SDF) or a line of it (images, functions) that says which items of which split a picture shows
SHOWN = {("images", "fit"): ["val items 0-1, step 10"] * 3, ("images", "test"): ["test items 0-1"] * 3,
         ("video", "fit"): ["val item 0, |S| = 10, step 10"], ("video", "test"): ["test item 0, |S| = 10"],
         ("sdf", "fit"): ["val item 0, |S| = 6, step 10"], ("sdf", "test"): ["test item 0, |S| = 6"],
         ("polynomial", "fit"): ["toy; val item 0, step 10", "toy; val item 1, step 10"],
         ("polynomial", "test"): ["toy; test item 0", "toy; test item 1"]}


@pytest.mark.parametrize("fn", ["fit", "test"])
@pytest.mark.parametrize("domain", list(DRAWN))
def test_a_picture_says_which_items_of_which_split_it_shows(tmp_path, monkeypatch, domain, fn):
    """A validation's video0_S512_step000200.png said "|S| = 512, step 200" and a test's nothing of the clip it
    showed: only its file name and the config said it was the first val (or test) clip. Every domain's pictures now
    name the split, the items (in the order drawn: an image figure's rows, top to bottom) and a fit's step."""
    spec, shape, _, options = DRAWN[domain]
    titles = recorded_titles(monkeypatch, tmp_path, domain)
    module = module_of(spec)
    torch.manual_seed(0)
    signal = torch.rand(shape) * (spec.val_range[1] - spec.val_range[0]) + spec.val_range[0]
    trainer = picture_trainer(tmp_path, module, signal, fn)
    pictures = Pictures(n_autoregressive=None, **options)
    if fn == "fit":
        pictures.on_validation_epoch_end(trainer, module)
    else:
        pictures.on_test_end(trainer, module)
    lines = [line for title in titles for line in title.split("\n") if " item" in line]
    assert lines == SHOWN[domain, fn], titles


@pytest.mark.parametrize("domain, shown", [("images", ["val items 3, 5, step 10"] * 3),
                                           ("polynomial", ["toy; val item 3, step 10", "toy; val item 5, step 10"])])
def test_a_picture_names_the_items_its_examples_are(tmp_path, monkeypatch, domain, shown):
    """The titles numbered the examples 0, 1, ... whatever items the data module's fixed_examples gave; each
    example's "index" (an indexed dataset's) is the item named."""
    spec, shape, _, options = DRAWN[domain]
    titles = recorded_titles(monkeypatch, tmp_path, domain)
    module = module_of(spec)
    torch.manual_seed(0)
    signal = torch.rand(shape) * (spec.val_range[1] - spec.val_range[0]) + spec.val_range[0]
    trainer = picture_trainer(tmp_path, module, signal, "fit", index=torch.tensor([3, 5]))
    Pictures(n_autoregressive=None, **options).on_validation_epoch_end(trainer, module)
    assert [line for title in titles for line in title.split("\n") if " item" in line] == shown, titles


def test_the_gp_benchmark_figure_says_which_test_function_it_shows(tmp_path, monkeypatch):
    """The GP benchmark evaluation's functions.png (the model beside the exact oracle) shows the first test function,
    which its title now names: the item its "index" says."""
    from types import SimpleNamespace

    from domains.polynomial import domain as poly_domain
    from domains.polynomial.evaluation import GPProtocolEvaluation

    titles = []
    monkeypatch.setattr(poly_domain, "figure_protocol", lambda x, panels, path, title: titles.append(title) or path)
    spec = SignalSpec(domain="polynomial", dataset="gp_tnp_rbf", grid_shape=(12,), val_dims=1, val_range=(-5.0, 5.0),
                      pos_scale=2.0, extra={"protocol": "tnp", "kernel": "rbf", "noise_std": 0.02})
    module = module_of(spec)
    points = torch.stack([torch.linspace(-1, 1, 12), torch.randn(12)]).unsqueeze(0)  # [1, 2, N]
    data = SimpleNamespace(fixed_examples=lambda split, n: {"signal": points[:n], "lengthscale": torch.ones(1),
                                                            "scale": torch.ones(1), "index": torch.tensor([4])})
    trainer = SimpleNamespace(datamodule=data, is_global_zero=True, loggers=[])
    GPProtocolEvaluation(figure_levels=(3,), figure_points=8).on_sweep_end(trainer, module, tmp_path, [])
    assert titles == ["gp_tnp_rbf: lengthscale 1.00, scale 1.00; test item 4"]  # the item fixed_examples gave
