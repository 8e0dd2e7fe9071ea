"""The images domain wired to the core: bilinear reading, the evaluation sweep, the pictures callback, the
baselines, and `pixeltransformer predict` end to end on a tiny checkpoint (8x8 digits subsets throughout)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from domains.images.callbacks import ImageEvaluation, ImagePictures
from domains.images.classifier import ResNetClassifier
from domains.images.data import ImageDataModule
from domains.images.pretrained import config_for, dataset_key, evaluation_args
from domains.images.vae import ConvVAE
from domains.images.visualize import COL_TITLE_H, FIG_TITLE_H, PAD, ROW_TITLE_W
from images_fixtures import write_folder
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import SetSampler, grid_positions, read_signal

REPO = Path(__file__).resolve().parents[1]


def tiny_digits(batch_size: int = 4) -> ImageDataModule:
    return ImageDataModule("digits", splits=(32, 4, 8), batch_size=batch_size)


def quiet_trainer(root: Path, **kwargs) -> L.Trainer:
    base = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                accelerator="cpu", default_root_dir=str(root))
    return L.Trainer(**{**base, **kwargs})


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A digits model after two steps of training, saved like a real run (continuous positions)."""
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    dm = tiny_digits()
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(max_context=64, num_queries=32, grid_points=False),
                                    val_levels=(4,))
    trainer = quiet_trainer(root, max_steps=2, limit_val_batches=0)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(root / "tiny.ckpt")
    return root / "tiny.ckpt"


@pytest.fixture
def digits_module(tiny_ckpt):
    from pixeltransformer.loading import load_module

    return load_module(tiny_ckpt)


# ---- continuous positions ------------------------------------------------------------------------------


def bilinear_reference(img: np.ndarray, y: float, x: float) -> np.ndarray:
    """Textbook bilinear interpolation of img [C, H, W] at (y, x) in [-1, 1] (pixel centres at the grid)."""
    _, h, w = img.shape
    fy, fx = (y + 1) / 2 * (h - 1), (x + 1) / 2 * (w - 1)
    y0, x0 = min(int(np.floor(fy)), h - 2), min(int(np.floor(fx)), w - 2)
    ty, tx = fy - y0, fx - x0
    return ((1 - ty) * (1 - tx) * img[:, y0, x0] + (1 - ty) * tx * img[:, y0, x0 + 1]
            + ty * (1 - tx) * img[:, y0 + 1, x0] + ty * tx * img[:, y0 + 1, x0 + 1])


def test_bilinear_reader_exact_at_pixel_centres_and_linear_between():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 5, 7, generator=gen)  # [B, C, H, W]
    at_centres = read_signal(img, grid_positions((5, 7)).expand(2, -1, -1))  # [B, 35, C]
    # grid_sample's coordinate arithmetic leaves float32 rounding (a few 1e-7), far below one 8-bit level
    torch.testing.assert_close(at_centres, img.flatten(2).transpose(1, 2), atol=1e-6, rtol=0)
    pos = torch.rand(2, 50, 2, generator=gen) * 2 - 1  # [B, N, 2]
    got = read_signal(img, pos)  # [B, N, C]
    for b in range(2):
        for n in range(0, 50, 7):
            want = bilinear_reference(img[b].numpy(), float(pos[b, n, 0]), float(pos[b, n, 1]))
            np.testing.assert_allclose(got[b, n].numpy(), want, atol=1e-5)
    # halfway between the first two pixels of row 0, and beyond the border (clamped, not zero-padded)
    mid = torch.tensor([[[-1.0, -1.0 + 1 / 6], [-3.0, -1.0]]]).expand(2, -1, -1)
    out = read_signal(img, mid)
    torch.testing.assert_close(out[:, 0], (img[:, :, 0, 0] + img[:, :, 0, 1]) / 2)
    torch.testing.assert_close(out[:, 1], img[:, :, 0, 0])


def test_training_sets_are_continuous_and_read_bilinearly():
    dm = tiny_digits()
    images = dm.split_arrays("train")[0][:4]  # [4, 1, 8, 8]
    sets = SetSampler(4, 64, 32, grid_points=False)(images, torch.Generator().manual_seed(1), num_context=64)
    on_grid = (sets.qry_pos.unsqueeze(-2) - grid_positions((8, 8))).abs().amax(-1).min(-1).values < 1e-6  # [B, Q]
    assert sets.num_context == 64 and not on_grid.all()
    for b, n in [(0, 0), (1, 5), (3, 31)]:
        want = bilinear_reference(images[b].numpy(), *sets.qry_pos[b, n].tolist())
        np.testing.assert_allclose(sets.qry_val[b, n].numpy(), want, atol=1e-5)


# ---- evaluation -------------------------------------------------------------------------------------------


def small_helpers(channels: int, size: int) -> tuple[ResNetClassifier, ConvVAE]:
    torch.manual_seed(0)
    return ResNetClassifier(channels, 10, width=8).eval(), ConvVAE(channels, size, width=8).eval()


def test_evaluation_metrics_are_finite_per_image(digits_module):
    dm = tiny_digits()
    images, labels = dm.split_arrays("test")  # [8, 1, 8, 8], [8]
    ev = ImageEvaluation(levels=(4, 16, 32), num_samples=2, n_autoregressive=4, vae_steps=3)
    ev.classifier, ev.vae = small_helpers(1, 8)
    ev.labels = labels
    out = ev.evaluate_batch(digits_module, images, 0)
    assert sorted(out) == [4, 16, 32]
    expected = {"nll", "nll_bpd", "nll_bpd_256", "mse", "nn_mse", "sample_mse", "vae_mse", "ssim", "psnr",
                "nn_ssim", "nn_psnr", "vae_ssim", "vae_psnr", "sample_ssim", "sample_psnr",
                "acc_gt", "acc_mean", "acc_nn", "acc_vae", "acc_sample"}
    for k, values in out.items():
        assert set(values) == expected, k
        for name, v in values.items():
            assert v.shape == (8,) and torch.isfinite(v).all(), (k, name)
        torch.testing.assert_close(values["nll_bpd"], values["nll"] / math.log(2))
        torch.testing.assert_close(values["nll_bpd_256"], values["nll_bpd"] + math.log2(255))
        assert ((values["ssim"] > -1) & (values["ssim"] <= 1)).all()
        for acc in ("acc_gt", "acc_mean", "acc_nn", "acc_vae"):
            assert set(values[acc].tolist()) <= {0.0, 1.0}
        # each image has two samples, so its sample accuracy is 0, 1/2 or 1
        assert set(values["acc_sample"].tolist()) <= {0.0, 0.5, 1.0}
    # nearest-neighbour fill gets better with more observed pixels
    assert out[32]["nn_mse"].mean() < out[4]["nn_mse"].mean()


def test_completions_keep_the_observed_pixels(digits_module):
    images, labels = tiny_digits().split_arrays("test")
    ev = ImageEvaluation(levels=(64,), num_samples=1, n_autoregressive=4, vae_steps=2)
    assert ev.level_list(digits_module.spec) == [] and ev.dropped_levels(digits_module.spec) == [64]
    ev.level_list = lambda spec: [64]  # the sweep leaves |S| = 64 out (nothing held out); forced here
    ev.classifier, ev.vae = small_helpers(1, 8)
    ev.labels = labels
    values = ev.evaluate_batch(digits_module, images, 0)[64]
    for name in ("ssim", "nn_ssim", "vae_ssim", "sample_ssim"):  # every pixel observed: every completion exact
        torch.testing.assert_close(values[name], torch.ones(8))
    torch.testing.assert_close(values["psnr"], torch.full((8,), 100.0))
    assert torch.equal(values["acc_mean"], values["acc_gt"])
    for name in ("nll", "mse", "nn_mse", "vae_mse"):  # no pixel held out: no value, not a mean over S
        assert torch.isnan(values[name]).all(), name


def test_baselines_shapes_on_rgb(tmp_path):
    write_folder(tmp_path / "pics", n=8)
    dm = ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(4, 2, 2), num_bins=8,
                         batch_size=2)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec, net=dict(width=64, ffn=128)).eval()
    images = dm.split_arrays("test")[0]  # [2, 3, 8, 8]
    ev = ImageEvaluation(levels=(4, 16), num_samples=1, n_autoregressive=2, vae_steps=3)
    ev.vae = small_helpers(3, 8)[1]
    seen = {}

    def spy(item, pl_module):  # the sweep's item: NN fill and VAE completion as whole images
        seen[item.num_context] = (item.as_grid(item.nn), ev.complete_with_vae(item))
        return ImageEvaluation.metrics(ev, item, pl_module)

    ev.metrics = spy
    out = ev.evaluate_batch(module, images, 0)
    for k in (4, 16):
        nn_img, vae_img = seen[k]
        assert nn_img.shape == vae_img.shape == (2, 3, 8, 8)
        assert 0 <= vae_img.min() and vae_img.max() <= 1
        assert "acc_gt" not in out[k] and out[k]["vae_ssim"].shape == (2,)
        # NN fill copies observed colours only
        def colours(x: torch.Tensor) -> set[tuple[int, ...]]:
            return {tuple(c) for c in (x * 255).round().int().permute(0, 2, 3, 1).reshape(-1, 3).tolist()}

        assert colours(nn_img) <= colours(images)


def test_evaluation_under_trainer_test_writes_metrics_and_pictures(tmp_path, digits_module):
    dm = tiny_digits(batch_size=8)
    ev = ImageEvaluation(levels=(4, 16), num_samples=1, n_autoregressive=2, classifier_epochs=1, vae_epochs=1,
                         vae_steps=2, cache_dir=str(tmp_path / "cache"), resolution=12)
    quiet_trainer(tmp_path, callbacks=[ev]).test(digits_module, datamodule=dm)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [r["num_context"] for r in metrics["rows"]] == [4, 16]
    assert metrics["num_images"] == 8 and metrics["classifier"] is True
    row = metrics["rows"][0]
    assert row["acc_gt"] is not None and row["vae_ssim"] is not None and row["sample_psnr"] is not None
    assert "bits per dimension" in metrics["nll_units"]
    names = sorted(p.name for p in (tmp_path / "eval").glob("*.png"))
    assert names == ["fig3_means.png", "fig4_samples.png", "fig5_composition.png", "metrics_vs_context.png"]
    key = dataset_key(dm)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f"classifier_{key}_1x8x8.pt",
                                                                      f"vae_{key}_1x8x8.pt"]


# ---- pictures during training -----------------------------------------------------------------------------


def test_pictures_callback_writes_the_three_figures(tmp_path):
    dm = tiny_digits()
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec, net=dict(width=64, ffn=128),
                                    sets=dict(max_context=64, num_queries=16), val_levels=(4,))
    pictures = ImagePictures(num_examples=2, resolution=12, levels=(4, 64), sample_context=8, n_autoregressive=2)
    trainer = quiet_trainer(tmp_path, max_steps=2, val_check_interval=2, limit_val_batches=1,
                            num_sanity_val_steps=0, callbacks=[pictures])
    trainer.fit(module, datamodule=dm)
    out = tmp_path / "pictures"
    assert sorted(p.name for p in out.iterdir()) == [
        "fig3_means_step000002.png", "fig4_samples_step000002.png", "fig5_composition_step000002.png"]
    cell = 12 * 8  # 12x12 renderings enlarged 8x to reach the 96-pixel cell
    fig3 = np.asarray(Image.open(out / "fig3_means_step000002.png"))
    # 2 examples x (S row + mean row), columns GT + 2 levels, with row titles
    assert fig3.shape == (FIG_TITLE_H + COL_TITLE_H + 4 * (cell + PAD) + PAD, ROW_TITLE_W + 3 * (cell + PAD) + PAD, 3)
    fig4 = np.asarray(Image.open(out / "fig4_samples_step000002.png"))
    assert fig4.shape == (FIG_TITLE_H + COL_TITLE_H + 2 * (cell + PAD) + PAD, 5 * (cell + PAD) + PAD, 3)
    # the GT cell shows the first validation digit, each pixel a 12/8-pixel block scaled to the cell
    gt = dm.fixed_examples("val", 1)["signal"][0, 0]  # [8, 8]
    y0, x0 = FIG_TITLE_H + COL_TITLE_H + PAD, PAD
    top_left = fig4[y0 + 2, x0 + 2, 0]
    assert abs(int(top_left) - round(float(gt[0, 0]) * 255)) <= 1


# ---- predict ------------------------------------------------------------------------------------------------


def write_digit_png(path: Path, size: int = 24) -> Path:
    digit = tiny_digits().split_arrays("test")[0][0, 0]  # [8, 8]
    big = torch.nn.functional.interpolate(digit[None, None], size=(size, size), mode="nearest")[0, 0]
    Image.fromarray((big.numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_predict_end_to_end(tiny_ckpt, tmp_path):
    from pixeltransformer.predict import main

    img = write_digit_png(tmp_path / "digit.png")
    out = tmp_path / "out"
    paths = main(["--checkpoint", str(tiny_ckpt), "--input", str(img), "--out", str(out), "--num_context", "16",
                  "--num_samples", "2", "--n_autoregressive", "4", "--resolution", "16", "--device", "cpu"])
    names = [p.name for p in paths]
    assert names == ["input.png", "observed.png", "mean.png", "sample_1.png", "sample_2.png", "panel.png"]
    for p in paths[:-1]:
        assert Image.open(p).size == (16, 16)
    # the input is shown as the model sees it: the 24x24 picture resized to the 8x8 training grid
    shown = np.asarray(Image.open(out / "input.png"))
    assert shown.ndim == 2 and (shown[:2, :2] == shown[0, 0]).all()

    mask = np.zeros((24, 24), dtype=np.uint8)
    mask[:12] = 255  # observe the top half
    Image.fromarray(mask).save(tmp_path / "mask.png")
    paths = main(["--checkpoint", str(tiny_ckpt), "--input", str(img), "--out", str(tmp_path / "m"),
                  "--mask", str(tmp_path / "mask.png"), "--num_samples", "1", "--n_autoregressive", "2"])
    observed = np.asarray(Image.open(tmp_path / "m" / "observed.png"))  # 8x8: the top half is the input's
    truth = np.asarray(Image.open(tmp_path / "m" / "input.png"))
    assert observed.shape == (8, 8) and np.array_equal(observed[:4], truth[:4])


@pytest.mark.parametrize("extra, message", [
    (["--num_context", "0"], "--num_context must be between 1 and 64"),
    (["--num_context", "65"], "--num_context must be between 1 and 64"),
    (["--context", "[[0.0, 0.0, 0.5, 0.5]]"], "this model's images have 1 channel"),
    (["--context", "[[0.0, 1.5, 0.5]]"], "positions must lie in [-1, 1]"),
    (["--context", "[[0.0, 0.0, 1.2]]"], "values must lie in [0, 1]"),
    (["--resolution", "1"], "--resolution must be >= 2"),
])
def test_predict_rejects_bad_input(tiny_ckpt, tmp_path, extra, message):
    from pixeltransformer.predict import main

    img = write_digit_png(tmp_path / "digit.png")
    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", str(tiny_ckpt), "--input", str(img), "--out", str(tmp_path / "o"),
              "--num_samples", "0", *extra])
    assert message in str(err.value)


def test_predict_rejects_unreadable_input_and_empty_mask(tiny_ckpt, tmp_path):
    from pixeltransformer.predict import main

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", str(tiny_ckpt), "--input", str(bad), "--out", str(tmp_path / "o")])
    assert "bad.png: not a readable image" in str(err.value)
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", str(tiny_ckpt), "--input", str(write_digit_png(tmp_path / "d.png")),
              "--mask", str(tmp_path / "black.png"), "--out", str(tmp_path / "o")])
    assert "black.png: the mask has no white (observed) pixels" in str(err.value)


def test_predict_context_json_file(tiny_ckpt, tmp_path):
    from pixeltransformer.predict import main

    (tmp_path / "s.json").write_text(json.dumps([[-1, -1, 0.0], [1, 1, 1.0], [0.2, -0.3, 0.5]]))
    paths = main(["--checkpoint", str(tiny_ckpt), "--input", str(write_digit_png(tmp_path / "d.png")),
                  "--context", str(tmp_path / "s.json"), "--num_samples", "0", "--out", str(tmp_path / "o")])
    observed = np.asarray(Image.open(paths[1]))  # 8x8 nearest-observed fill
    assert observed[0, 0] == 0 and observed[-1, -1] == 255


# ---- configs and the helper networks' command line -----------------------------------------------------------


def test_overlays_compose_and_name_the_evaluation_options():
    cfg = config_for("mnist")
    assert cfg["data"]["class_path"] == "domains.images.data.ImageDataModule"
    assert cfg["data"]["init_args"]["dataset"] == "mnist" and cfg["model"]["max_context"] == 784
    assert evaluation_args(cfg)["max_batches"] == 2
    assert config_for(None)["data"]["init_args"]["dataset"] == "digits"
    assert config_for("cats")["data"]["init_args"]["image_size"] == 64
    with pytest.raises(FileNotFoundError, match="nosuch.yaml"):
        config_for("nosuch")
