"""Image pictures: conversions, context visualisations, figure sizes, context sets."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from domains.images import visualize as vis
from domains.images.data import NATIVE
from domains.images.domain import composition_context
from pixeltransformer.sets import draw_context


def test_to_uint8_gray_rgb_and_passthrough():
    gray = torch.tensor([[[0.0, 0.5], [1.0, 2.0]]])  # [1, 2, 2]; 2.0 is clipped
    out = vis.to_uint8(gray)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[..., 0].tolist() == [[0, 128], [255, 255]] and (out[..., 0] == out[..., 2]).all()
    rgb = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    assert np.array_equal(vis.to_uint8(rgb)[1, 2], np.round(rgb[:, 1, 2] * 255).astype(np.uint8))
    u8 = np.zeros((4, 5, 3), np.uint8)
    assert vis.to_uint8(u8) is u8
    with pytest.raises(ValueError, match="C, H, W"):
        vis.to_uint8(np.zeros((2, 4, 4), np.float32))


def test_context_image_nn_reproduces_observed_pixels_and_dots():
    img = torch.rand(2, 3, 6, 7)
    pos, val = draw_context(img, 10, torch.Generator().manual_seed(0))  # [2, 10, 2], [2, 10, 3]
    assert pos.shape == (2, 10, 2) and val.shape == (2, 10, 3)
    rows = ((pos[..., 0] + 1) / 2 * 5).round().long()
    cols = ((pos[..., 1] + 1) / 2 * 6).round().long()
    assert torch.allclose(img[0][:, rows[0], cols[0]].T, val[0], atol=1e-6)  # grid points read exactly
    nn = vis.context_image(pos, val, (6, 7))
    dots = vis.context_image(pos[1], val[1], (6, 7), mode="dots")
    assert nn.shape == (2, 3, 6, 7) and dots.shape == (3, 6, 7)
    assert torch.allclose(nn[0][:, rows[0], cols[0]].T, val[0])
    observed = torch.zeros(6, 7, dtype=torch.bool)
    observed[rows[1], cols[1]] = True
    assert torch.allclose(dots[:, rows[1], cols[1]].T, val[1]) and (dots[:, ~observed] == 0.5).all()
    with pytest.raises(ValueError, match="mode"):
        vis.context_image(pos, val, 6, mode="blur")


def test_an_observed_grey_pixel_stands_out_from_the_pixels_not_in_s():
    """Fig. 3 drew S on a 0.5 grey: an observed pixel of that grey (a digit's level 8 of 16) vanished into it. On the
    UNSEEN colour a grey S keeps every observed pixel apart from the rest, at its own grey, where it was observed."""
    img = torch.full((1, 1, 4, 5), 0.5)  # [B, C, H, W], every pixel the old background's grey
    img[0, 0, 1, 3] = 1.0
    pos, val = draw_context(img, 6, torch.Generator().manual_seed(1))  # [1, 6, 2], [1, 6, 1]
    dots = vis.context_image(pos, val, (4, 5), mode="dots", background=vis.UNSEEN)  # [1, 3, 4, 5]
    assert dots.shape == (1, 3, 4, 5)
    rows = ((pos[0, :, 0] + 1) / 2 * 3).round().long()  # [K]
    cols = ((pos[0, :, 1] + 1) / 2 * 4).round().long()  # [K]
    observed = torch.zeros(4, 5, dtype=torch.bool)
    observed[rows, cols] = True
    assert torch.allclose(dots[0][:, rows, cols], val[0].T.expand(3, -1))  # grey values, at (row y, column x)
    unseen = torch.tensor(vis.UNSEEN).view(3, 1)
    assert (dots[0][:, ~observed] == unseen).all()
    assert not (dots[0][:, observed] == unseen).all(0).any()  # no observed pixel looks unobserved
    with pytest.raises(ValueError, match="RGB background"):
        vis.context_image(pos, torch.rand(1, 6, 2), (4, 5), mode="dots", background=vis.UNSEEN)


def test_the_ground_truth_column_is_named_as_in_the_other_domains(tmp_path, monkeypatch):
    titles, draw = [], vis._draw_text
    monkeypatch.setattr(vis, "_draw_text", lambda canvas, cell, left, top, title, rows, cols:
                        titles.append(cols) or draw(canvas, cell, left, top, title, rows, cols))
    gt = torch.rand(1, 1, 8, 8)  # [B, C, H, W]
    vis.figure_mean_sweep(gt, {4: gt}, tmp_path / "m.png")
    vis.figure_samples(gt, gt, [gt], tmp_path / "s.png")
    assert titles[0][0] == titles[1][0] == "ground truth", titles


def test_composition_context_takes_halves():
    top, bottom = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)
    pos, val = composition_context(top, bottom, 40, torch.Generator().manual_seed(1))
    assert torch.equal(val[0, :, 0], (pos[0, :, 0] >= 0).float())
    assert (pos[0, :, 0] < 0).any() and (pos[0, :, 0] > 0).any()


def _size(path):
    with Image.open(path) as im:
        return im.size  # (W, H)


def test_figures_have_the_promised_size(tmp_path):
    gt = torch.rand(2, 1, 8, 8)  # a batch of two 8x8 digits -> cells of 96 px
    cell, pad = 96, vis.PAD
    ctx = vis.context_image(*draw_context(gt, 5), 8)
    a = vis.figure_samples(gt, ctx, [gt, gt, gt], tmp_path / "s.png", title="t")
    assert a.shape == (vis.FIG_TITLE_H + vis.COL_TITLE_H + 2 * (cell + pad) + pad, 5 * (cell + pad) + pad, 3)
    assert _size(tmp_path / "s.png") == (a.shape[1], a.shape[0])
    means = {k: gt for k in (4, 16, 64)}
    b = vis.figure_mean_sweep(gt, means, tmp_path / "m.png", ctx_by_k={k: ctx for k in means})
    assert b.shape == (vis.COL_TITLE_H + 4 * (cell + pad) + pad, vis.ROW_TITLE_W + 4 * (cell + pad) + pad, 3)
    img = torch.rand(3, 28, 28)  # 28 -> factor 4 -> 112 px cells
    c = vis.figure_composition(img, img, img, img, tmp_path / "c.png")
    assert c.shape == (vis.COL_TITLE_H + 112 + 2 * pad, 4 * (112 + pad) + pad, 3)
    assert _size(tmp_path / "c.png") == (c.shape[1], c.shape[0])


def test_a_nearest_neighbour_view_of_s_says_so(tmp_path, monkeypatch):
    """Fig. 4 and 5 show S as its nearest-neighbour fill, a picture that could pass for a completion: the column
    says what it is."""
    titles, draw = [], vis._draw_text
    monkeypatch.setattr(vis, "_draw_text", lambda canvas, cell, left, top, title, rows, cols:
                        titles.append(cols) or draw(canvas, cell, left, top, title, rows, cols))
    gt = torch.rand(2, 1, 8, 8)  # [B, C, H, W]
    ctx = vis.context_image(*draw_context(gt, 5), 8)  # [B, C, H, W]
    vis.figure_samples(gt, ctx, [gt], tmp_path / "s.png")
    vis.figure_composition(gt, gt, ctx, gt, tmp_path / "c.png")
    assert titles[0][1] == titles[1][2] == "S (NN fill)", titles


def test_image_grid_pixels_are_nearest_upscaled():
    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 1] = 255
    g = vis.image_grid([[img, None]], min_cell=10)  # factor 5, no titles: pixels land 1:1
    assert g.shape == (10 + 2 * vis.PAD, 2 * (10 + vis.PAD) + vis.PAD, 3)
    p = vis.PAD
    assert (g[p : p + 5, p + 5 : p + 10] == 255).all() and (g[p : p + 5, p : p + 5] == 0).all()
    assert (g[p : p + 10, 2 * p + 10 :][:, :10] == 255).all()  # the None cell stays blank (white)
    with pytest.raises(ValueError, match="at least one"):
        vis.image_grid([[None]])


def test_a_prediction_panel_names_s_as_the_figures_do_and_gives_its_size(tmp_path, monkeypatch):
    """panel.png's S column is S's nearest-neighbour fill: named "S (NN fill)" as in Fig. 4 and 5, with |S| in
    the title (it read "S (32 px)", which looked like the observed pixels alone)."""
    from domains.images import domain as images_domain
    from pixeltransformer.inference import Completion
    from pixeltransformer.sets import flatten_grid, grid_positions

    grids, grid = [], images_domain.image_grid
    monkeypatch.setattr(images_domain, "image_grid", lambda rows, path, **kw: grids.append(kw) or grid(rows, path, **kw))
    img = torch.rand(1, 1, 8, 8)  # [B, C, H, W]
    pos = grid_positions((8, 8))[:5].unsqueeze(0)  # [1, 5, 2]
    c = Completion((8, 8), pos, flatten_grid(img)[:, :5], img, torch.stack([img, img], 1), None, None, img)
    images_domain.ImageDomain().write_prediction(c, tmp_path)
    assert grids[0]["col_titles"] == ["input", "S (NN fill)", "mean", "sample 1", "sample 2"]
    assert grids[0]["title"] == "|S| = 5"


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("overlay", [None, "mnist.yaml", "cifar10.yaml", "cats.yaml"])
def test_each_image_config_draws_its_pictures_at_a_whole_multiple_of_their_size(overlay):
    """The pictures show the ground truth (and S's dots) enlarged to the completions' grid with a nearest resize.
    MNIST's 28x28 digits were drawn at 32x32, which repeats 4 of every 28 rows and columns and leaves the others
    single: a ground truth with seams. A whole multiple repeats every pixel alike (digits 8 -> 32)."""
    layers = [yaml.safe_load((CONFIGS / "images.yaml").read_text())]
    if overlay:
        layers.append(yaml.safe_load((CONFIGS / "images" / overlay).read_text()))
    data = {k: v for layer in layers for k, v in layer["data"]["init_args"].items()}
    side = data.get("image_size") or NATIVE[data["dataset"]][0]
    callbacks = [c for c in layers[-1]["trainer"]["callbacks"] if c["class_path"].endswith(".Pictures")]
    resolution = callbacks[0]["init_args"]["resolution"]
    assert resolution % side == 0, f"{overlay or 'images.yaml'}: pictures of {side}x{side} drawn at {resolution}"


@pytest.mark.parametrize("side, resolution", [(64, 32), (8, 32)])
def test_fig3_shows_every_pixel_of_s_on_a_grid_coarser_than_the_images(tmp_path, monkeypatch, side, resolution):
    """Fig. 3's S rows drew S's pixels on the image's grid, then resized it to the pictures' resolution: at 64 for
    128x128 pictures (cats.yaml's resolution under --data.init_args.image_size=128) the nearest resize kept one pixel
    in four, and four pixels of S at odd rows and columns showed as none. Each shows now, on a finer grid as before."""
    from domains.images import domain as images_domain
    from pixeltransformer.inference import Completion
    from pixeltransformer.sets import flatten_grid, grid_positions

    shown, draw = [], images_domain.figure_mean_sweep
    monkeypatch.setattr(images_domain, "figure_mean_sweep",
                        lambda gt, means, path, ctx_by_k=None, title=None: shown.append(ctx_by_k)
                        or draw(gt, means, path, ctx_by_k=ctx_by_k, title=title))
    img = torch.rand(1, 3, side, side)  # [B, C, H, W]
    rows_cols = [(1, 1), (3, 5), (7, 3), (5, 7)]  # odd rows and columns, apart on either grid
    idx = torch.tensor([r * side + c for r, c in rows_cols])  # [K]
    pos, val = grid_positions((side, side))[idx].unsqueeze(0), flatten_grid(img)[:, idx]  # [1, K, 2], [1, K, 3]
    c = Completion((resolution, resolution), pos, val, torch.rand(1, 3, resolution, resolution), None, None, None, img)
    images_domain.ImageDomain().pictures({"4": c}, tmp_path, "")
    dots = shown[0][4][0]  # [3, R, R]
    unseen = torch.tensor(images_domain.UNSEEN).view(3, 1, 1)  # [3, 1, 1]
    drawn = ~torch.isclose(dots, unseen).all(0)  # [R, R]
    cells = (resolution // side) ** 2 if resolution >= side else 1  # screen pixels per pixel of S
    assert int(drawn.sum()) == len(rows_cols) * cells


@pytest.mark.parametrize("num_samples, last", [(0, "mean"), (1, "sample")])
def test_fig5_names_its_last_column_as_what_it_shows(tmp_path, monkeypatch, num_samples, last):
    """With Pictures(num_samples=0) Fig. 5 shows the mean given the composed S, under a column titled "sample"; the
    column is named "mean" there now, and "sample" where one was drawn."""
    from domains.images import domain as images_domain
    from pixeltransformer.inference import Completion

    grids, grid = [], vis.image_grid
    monkeypatch.setattr(vis, "image_grid", lambda rows, path, **kw: grids.append(kw) or grid(rows, path, **kw))
    img = torch.rand(2, 1, 8, 8)  # [B, C, H, W]
    pos, val = composition_context(img, img.roll(1, dims=0), 5, torch.Generator().manual_seed(0))  # [2, 5, 2], [2, 5, 1]
    samples = torch.rand(2, num_samples, 1, 8, 8) if num_samples else None  # [B, S, C, H, W]
    level = Completion((8, 8), pos, val, torch.rand(2, 1, 8, 8), None, None, None, img)
    comp = Completion((8, 8), pos, val, torch.rand(2, 1, 8, 8), samples, None, None, img)
    files = images_domain.ImageDomain().pictures({"5": level, "composition": comp}, tmp_path, "")
    assert "fig5_composition" in files
    assert grids[-1]["col_titles"] == ["top from", "bottom from", "S (NN fill)", last]


def test_a_picture_stopped_while_it_is_written_leaves_no_cut_off_file(tmp_path, monkeypatch):
    """A fit or evaluation killed (or Ctrl-C pressed twice) while a picture was written left a cut-off PNG under its
    final name in pictures/, which nothing wrote again. A picture is written beside its name and renamed: the stopped
    one leaves nothing, and the earlier file of that name stays whole."""
    from PIL import Image

    from domains.images.visualize import image_grid, save_png

    def stopped(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG\r\n")  # the first bytes, then the process is stopped
        raise KeyboardInterrupt

    (tmp_path / "panel.png").write_bytes(b"earlier")
    monkeypatch.setattr(Image.Image, "save", stopped)
    image = torch.rand(3, 4, 4)  # [C, H, W]
    with pytest.raises(KeyboardInterrupt):
        save_png(image, tmp_path / "mean.png")
    with pytest.raises(KeyboardInterrupt):
        image_grid([[image]], tmp_path / "panel.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.png"]
    assert (tmp_path / "panel.png").read_bytes() == b"earlier"
