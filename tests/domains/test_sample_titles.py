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
    fig4 = "samples of I | S, |S| = 32"
    fig5 = "S from the halves of two images, |S| = 32"
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
