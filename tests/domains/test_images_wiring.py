"""The images domain wired to the core: bilinear reading, the |S| sweep with its baselines, the Pictures
callback (Figs. 3-5), and `pixeltransformer fit / test / predict` through the CLI on a tiny checkpoint (8x8
digits subsets throughout)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from domains.images.baselines.vae import ConvVAE
from domains.images.data import ImageDataModule
from domains.images.evaluation import ImageEvaluation
from domains.images.visualize import COL_TITLE_H, FIG_TITLE_H, PAD, ROW_TITLE_W
from images_fixtures import write_folder, write_mnist
from wrote_lines import unnamed_files
from pixeltransformer.cli import main
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import SetSampler, grid_positions, read_signal

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "images.yaml"
SPLITS = [100, 4, 8]  # 7 or more training images of each digit: enough for the classifier
# configs/images.yaml made tiny: two training steps, small pictures, a quick sweep with one-epoch baselines
TINY = {
    "model": {"val_levels": [4],
              "domain": {"init_args": {"sample_context": 8, "composition_context": 8}}},
    "data": {"init_args": {"splits": SPLITS, "batch_size": 4}},
    "trainer": {"max_steps": 2, "val_check_interval": 2, "logger": False,
                "enable_progress_bar": False, "enable_model_summary": False, "callbacks": [
                    {"class_path": "pixeltransformer.callbacks.Pictures",
                     "init_args": {"levels": [4, 64], "resolution": 12, "num_samples": 2, "n_autoregressive": 2}},
                    {"class_path": "domains.images.evaluation.ImageEvaluation",
                     "init_args": {"levels": [4, 16], "num_samples": 1, "n_autoregressive": 2,
                                   "classifier_epochs": 1, "vae_epochs": 1, "vae_steps": 2}}]},
    "checkpoint": {"every_n_train_steps": 2},
}


def tiny_digits(batch_size: int = 4) -> ImageDataModule:
    return ImageDataModule("digits", splits=tuple(SPLITS), batch_size=batch_size)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """A digits run of two steps through `pixeltransformer fit`: its folder and the config arguments."""
    root = tmp_path_factory.mktemp("tiny")
    overlay = root / "tiny.yaml"
    overlay.write_text(yaml.safe_dump(TINY))
    config = ["--config", str(CONFIG), "--config", str(REPO / "configs" / "model" / "tiny.yaml"), "--config", str(overlay)]
    torch.manual_seed(0)
    main(["fit", *config, "--run_root", str(root / "runs"), "--run_name", "tiny"])
    return root / "runs" / "images" / "tiny", config


@pytest.fixture
def digits_module(tiny_run):
    from pixeltransformer.loading import load_module

    return load_module(tiny_run[0] / "checkpoints" / "last.ckpt")


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
    images = tiny_digits().split_arrays("train")[0][:4]  # [4, 1, 8, 8]
    sets = SetSampler(4, 64, 32, grid_points=False)(images, torch.Generator().manual_seed(1), num_context=64)
    on_grid = (sets.qry_pos.unsqueeze(-2) - grid_positions((8, 8))).abs().amax(-1).min(-1).values < 1e-6  # [B, Q]
    assert sets.num_context == 64 and not on_grid.all()
    for b, n in [(0, 0), (1, 5), (3, 31)]:
        want = bilinear_reference(images[b].numpy(), *sets.qry_pos[b, n].tolist())
        np.testing.assert_allclose(sets.qry_val[b, n].numpy(), want, atol=1e-5)


# ---- the sweep and its baselines ------------------------------------------------------------------------


class LookupClassifier(torch.nn.Module):
    """A classifier stub that knows the test images: the label of the nearest known image."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        super().__init__()
        self.register_buffer("known", images.flatten(1))  # [N, D]
        self.labels = labels
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # classify() reads the device from a parameter

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(images.flatten(1), self.known)  # [B, N]
        logits = torch.full((images.shape[0], 10), -1e9)  # [B, 10]
        return logits.scatter_reduce(1, self.labels.expand_as(d), -d, reduce="amax")


class RangeClassifier(torch.nn.Module):
    """A classifier stub that says 1 for an image with a value outside [0, 1], else 0, and keeps the range it saw."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # classify() reads the device from a parameter
        self.seen = [math.inf, -math.inf]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen = [min(self.seen[0], float(images.min())), max(self.seen[1], float(images.max()))]
        outside = ((images < 0) | (images > 1)).flatten(1).any(1)  # [B]
        return torch.nn.functional.one_hot(outside.long(), 10).float()  # [B, 10]


def test_the_classifier_sees_images_clamped_to_the_value_range_as_ssim_does(digits_module):
    """The model's mean and samples may leave [0, 1] (a Gaussian sample of a black pixel is negative half the time);
    SSIM and PSNR clamp them, and the classifier, trained on [0, 1] pictures, was fed them as they were."""
    ev = ImageEvaluation(levels=(4,), num_samples=2, n_autoregressive=8, classifier=False, vae=False)
    ev.classifier = RangeClassifier()
    images = torch.tensor([-0.08, 0.5, 1.04, 0.2]).view(1, 1, 2, 2).repeat(3, 1, 1, 1)  # [3, 1, 2, 2]
    images[2, 0, 0, 0] = math.nan  # not sampled
    assert ev.predicted_labels(images).tolist() == [0, 0, -1]
    # the sweep: the samples of a two-step model spread past [0, 1], and every image reaches the classifier clamped
    images, labels = tiny_digits().split_arrays("test")  # [8, 1, 8, 8], [8]
    ev.classifier = RangeClassifier()
    torch.manual_seed(0)
    out = ev.evaluate_batch(digits_module, {"signal": images, "label": labels, "index": torch.arange(8)}, 0)
    assert 0 <= ev.classifier.seen[0] and ev.classifier.seen[1] <= 1
    assert torch.isfinite(out[4]["acc_sample"]).all()


def test_sweep_metrics_per_image_labels_from_the_batch_and_unsampled_rows(digits_module):
    images, labels = tiny_digits().split_arrays("test")  # [8, 1, 8, 8], [8]
    ev = ImageEvaluation(levels=(4, 16, 32), num_samples=2, n_autoregressive=4, vae_steps=3, sample_items=6)
    torch.manual_seed(0)
    ev.classifier, ev.vae = LookupClassifier(images, labels), ConvVAE(1, 8, width=8).eval()
    out = ev.evaluate_batch(digits_module, {"signal": images, "label": labels, "index": torch.arange(8)}, 0)
    assert sorted(out) == [4, 16, 32]
    expected = {"nll", "nll_bpd", "nll_bpd_256", "mse", "nn_mse", "sample_mse", "vae_mse", "ssim", "psnr",
                "nn_ssim", "nn_psnr", "vae_ssim", "vae_psnr", "sample_ssim", "sample_psnr",
                "acc_gt", "acc_mean", "acc_nn", "acc_vae", "acc_sample"}
    sampled = torch.arange(8) < 6
    for k, values in out.items():
        assert set(values) == expected, k
        for name, v in values.items():
            assert v.shape == (8,), (k, name)
            # the last two test images draw no samples: their sample metrics are NaN (skipped), not 0
            finite = sampled if name.startswith(("sample_", "acc_sample")) else torch.ones(8, dtype=torch.bool)
            assert torch.equal(torch.isfinite(v), finite), (k, name)
        torch.testing.assert_close(values["nll_bpd"], values["nll"] / math.log(2))
        assert values["acc_gt"].tolist() == [1.0] * 8  # the stub knows every ground truth
    assert out[32]["nn_mse"].mean() < out[4]["nn_mse"].mean()  # NN fill improves with more observed pixels
    wrong = (labels + 1) % 10  # the labels come from the batch: wrong ones make the ground truth score 0
    again = ev.evaluate_batch(digits_module, {"signal": images, "label": wrong, "index": torch.arange(8)}, 0)
    assert again[4]["acc_gt"].tolist() == [0.0] * 8


def test_completions_keep_the_observed_pixels(digits_module):
    images, labels = tiny_digits().split_arrays("test")
    ev = ImageEvaluation(levels=(64,), num_samples=1, n_autoregressive=4, vae_steps=2)
    assert ev.level_list(digits_module.spec) == [] and ev.dropped_levels(digits_module.spec) == [64]
    ev.level_list = lambda spec: [64]  # the sweep leaves |S| = 64 out (nothing held out); forced here
    torch.manual_seed(0)
    ev.classifier, ev.vae = LookupClassifier(images, labels), ConvVAE(1, 8, width=8).eval()
    values = ev.evaluate_batch(digits_module, {"signal": images, "label": labels, "index": torch.arange(8)}, 0)[64]
    for name in ("ssim", "nn_ssim", "vae_ssim", "sample_ssim"):  # every pixel observed: every completion exact
        torch.testing.assert_close(values[name], torch.ones(8))
    torch.testing.assert_close(values["psnr"], torch.full((8,), 100.0))
    for name in ("acc_gt", "acc_mean", "acc_nn", "acc_vae", "acc_sample"):
        assert values[name].tolist() == [1.0] * 8, name
    for name in ("nll", "mse", "nn_mse", "vae_mse"):  # no pixel held out: no value, not a mean over S
        assert torch.isnan(values[name]).all(), name


def test_baselines_on_rgb_without_labels(tmp_path):
    write_folder(tmp_path / "pics", n=8)
    dm = ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(4, 2, 2), num_bins=8,
                         batch_size=2)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec, net=dict(width=64, ffn=128)).eval()
    images = dm.split_arrays("test")[0]  # [2, 3, 8, 8]
    ev = ImageEvaluation(levels=(4, 16), num_samples=1, n_autoregressive=2, vae_steps=3)
    ev.vae = ConvVAE(3, 8, width=8).eval()
    seen = {}

    def spy(item, pl_module):  # the sweep's item: NN fill and VAE completion as whole images
        seen[item.num_context] = (item.as_grid(item.nn), ev.complete_with_vae(item))
        return ImageEvaluation.metrics(ev, item, pl_module)

    ev.metrics = spy
    out = ev.evaluate_batch(module, {"signal": images, "index": torch.arange(2)}, 0)
    for k in (4, 16):
        nn_img, vae_img = seen[k]
        assert nn_img.shape == vae_img.shape == (2, 3, 8, 8)
        assert 0 <= vae_img.min() and vae_img.max() <= 1
        assert "acc_gt" not in out[k] and out[k]["vae_ssim"].shape == (2,)

        def colours(x: torch.Tensor) -> set[tuple[int, ...]]:
            return {tuple(c) for c in (x * 255).round().int().permute(0, 2, 3, 1).reshape(-1, 3).tolist()}

        assert colours(nn_img) <= colours(images)  # NN fill copies observed colours only


# ---- fit and test through the CLI ------------------------------------------------------------------------


def test_fit_draws_the_three_figures(tiny_run):
    out = tiny_run[0] / "pictures"
    assert sorted(p.name for p in out.iterdir()) == [
        "fig3_means_step000002.png", "fig4_samples_step000002.png", "fig5_composition_step000002.png"]
    cell = 12 * 8  # 12x12 renderings enlarged 8x to reach the 96-pixel cell
    fig3 = np.asarray(Image.open(out / "fig3_means_step000002.png"))
    # 2 examples x (S row + mean row), columns GT + 2 levels, with row titles; a title line names the val items
    assert fig3.shape == (2 * FIG_TITLE_H + COL_TITLE_H + 4 * (cell + PAD) + PAD,
                          ROW_TITLE_W + 3 * (cell + PAD) + PAD, 3)
    head = 3 * FIG_TITLE_H  # Fig. 4's and 5's titles have two more lines: the items, N' = 2 of each sample drawn
    fig4 = np.asarray(Image.open(out / "fig4_samples_step000002.png"))  # GT, S, 2 samples
    assert fig4.shape == (head + COL_TITLE_H + 2 * (cell + PAD) + PAD, 4 * (cell + PAD) + PAD, 3)
    fig5 = np.asarray(Image.open(out / "fig5_composition_step000002.png"))  # top from, bottom from, S, sample
    assert fig5.shape == (head + COL_TITLE_H + 2 * (cell + PAD) + PAD, 4 * (cell + PAD) + PAD, 3)
    # the GT cells show the validation digits; Fig. 5's "bottom from" is the neighbour's (the batch rolled by one)
    gt = tiny_digits().fixed_examples("val", 2)["signal"][:, 0]  # [2, 8, 8]
    y0, y1, x1 = head + COL_TITLE_H + PAD, head + COL_TITLE_H + 2 * PAD + cell, 2 * PAD + cell
    assert abs(int(fig4[y0 + 2, PAD + 2, 0]) - round(float(gt[0, 0, 0]) * 255)) <= 1
    assert abs(int(fig5[y1 + 2, x1 + 2, 0]) - round(float(gt[0, 0, 0]) * 255)) <= 1


def test_test_writes_metrics_pictures_and_caches_the_baselines(tiny_run, tmp_path, monkeypatch, capsys):
    run, config = tiny_run
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()
    main(["test", *config, "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert unnamed_files(capsys.readouterr().out, run / "eval") == []
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert [r["num_context"] for r in metrics["rows"]] == [4, 16]
    assert metrics["num_items"] == 8 and metrics["classifier"] is True and metrics["vae_steps"] == 2
    for row in metrics["rows"]:
        # the ground truth's accuracy does not depend on |S|: the same count of the 8 images at every level
        assert row["acc_gt"] == metrics["rows"][0]["acc_gt"] and (row["acc_gt"] * 8).is_integer()
        assert row["vae_ssim"] < 1 and row["sample_psnr"] < 100
        assert row["nll_bpd_256"] >= 0  # a discrete likelihood, where nll_bpd (a density's) may be negative
    assert "bits per dimension" in metrics["nll_units"]
    assert (run / "eval" / "metrics_vs_context.png").is_file()
    assert sorted(p.name for p in (run / "eval" / "pictures").iterdir()) == [
        "fig3_means.png", "fig4_samples.png", "fig5_composition.png"]
    key = rf"digits-n{SPLITS[0]}-s0-[0-9a-f]{{12}}"  # and a digest of the train split (pretrained.dataset_key)
    names = sorted(p.name for p in (tmp_path / "cache" / "images").iterdir())
    assert len(names) == 2 and re.fullmatch(rf"classifier_{key}_1x8x8_e1-[0-9a-f]{{8}}\.pt", names[0]) \
        and re.fullmatch(rf"vae_{key}_1x8x8_e1-[0-9a-f]{{8}}\.pt", names[1]), names  # and their training config


def test_a_sampler_denser_than_the_pictures_is_named_as_a_command_line_option(tmp_path, recwarn):
    """The cats config at image_size=32 (|S| up to 2048 of 1024 pixels) was told to give
    `sets=SetSampler(max_context=1024, ...)`, Python, on the command line; it now names the option to give."""
    overlay = tmp_path / "tiny.yaml"
    overlay.write_text(yaml.safe_dump({**TINY, "trainer": {**TINY["trainer"], "max_steps": 1, "callbacks": []}}))
    main(["fit", "--config", str(CONFIG), "--config", str(REPO / "configs" / "model" / "tiny.yaml"), "--config",
          str(overlay), "--model.sets.init_args.max_context=128", "--run_root", str(tmp_path / "runs")])
    notes = [str(w.message) for w in recwarn if "is above the 64 points" in str(w.message)]
    assert len(notes) == 1 and notes[0].startswith("model.sets.max_context=128 is above the 64 points of images/"
                                                   "digits signals (8, 8)"), notes
    assert notes[0].endswith("; give --model.sets.init_args.max_context=64 or less"), notes


def test_metrics_json_says_how_long_the_helper_networks_were_trained(tmp_path):
    """metrics.json said `"classifier": true` and nothing of the judge's training: a sweep with classifier_epochs=1
    reported acc_gt 0.25 with nothing saying the classifier had seen one epoch. Both networks' epochs are recorded
    (null for a network left out or set by hand)."""
    from domains.images.baselines.pretrained import load_classifier, load_vae

    sweep, dm = ImageEvaluation(classifier_epochs=1, vae_epochs=1), tiny_digits()
    dm.setup("test")
    sweep.classifier = load_classifier(dm, tmp_path, 1, progress=False)
    sweep.vae = load_vae(dm, tmp_path, 1, progress=False)
    sweep.evaluated = set()  # the items a test evaluated: none here
    summary = sweep.summary([], object())
    assert summary["classifier"] is True and summary["classifier_epochs"] == 1 and summary["vae_epochs"] == 1
    sweep.classifier = sweep.vae = None
    assert sweep.summary([], object())["classifier_epochs"] is None


@pytest.mark.parametrize("bar", [None, "a bar"])
def test_the_helper_networks_train_with_progress_as_the_trainer_shows_it(monkeypatch, bar):
    """`--trainer.enable_progress_bar=false` took every other loop's progress out of a log, but a first evaluation
    still printed the classifier's and the VAE's `[classifier] n/N epochs` lines: they follow the option now."""
    from types import SimpleNamespace

    from domains.images.baselines import pretrained
    from pixeltransformer.evaluation import SweepEvaluation

    asked = {}
    monkeypatch.setattr(SweepEvaluation, "on_test_start", lambda *args: None)  # the sweep's own start: not tested
    for name in ("classifier", "vae"):  # progress=True: their default
        monkeypatch.setattr(pretrained, f"load_{name}", lambda *args, name=name, progress=True: asked.setdefault(
            name, progress))
    dm = SimpleNamespace(image_size=8, num_classes=10, split_arrays=None,
                         build_split=lambda split: SimpleNamespace(labels=torch.arange(100) % 10))  # 10 of each digit
    trainer = SimpleNamespace(datamodule=dm, world_size=1, progress_bar_callback=bar)
    ImageEvaluation(levels=(4,)).on_test_start(trainer, SimpleNamespace(device="cpu"))
    assert asked == {"classifier": bar is not None, "vae": bar is not None}


# ---- predict through the CLI ------------------------------------------------------------------------------


def write_digit_png(path: Path, size: int = 24) -> Path:
    digit = tiny_digits().split_arrays("test")[0][0, 0]  # [8, 8]
    big = torch.nn.functional.interpolate(digit[None, None], size=(size, size), mode="nearest")[0, 0]
    Image.fromarray((big.numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def predict(tiny_run, *args: str) -> None:
    run, config = tiny_run
    main(["predict", *config, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), *args])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(int)


def test_predict_writes_the_pictures_and_keeps_the_observed_pixels(tiny_run, tmp_path):
    img = write_digit_png(tmp_path / "digit.png")
    predict(tiny_run, "--input", str(img), "--num_context", "16", "--num_samples", "2", "--n_autoregressive", "4")
    out = tiny_run[0] / "predict" / "digit"
    record = json.loads((out / "prediction.json").read_text())
    names = ["input.png", "observed.png", "mean.png", "sample_1.png", "sample_2.png", "panel.png"]
    assert record["files"] == names and record["num_context"] == 16
    shown = pixels(out / "input.png")  # the 24x24 picture as the model sees it: 8x8, grey
    assert shown.shape == (8, 8)
    for name in names[1:-1]:
        assert pixels(out / name).shape == (8, 8), name
    for y, x, v in record["context"]:  # every observed pixel keeps its value in the mean and the samples
        i, j = round((y + 1) / 2 * 7), round((x + 1) / 2 * 7)
        assert abs(shown[i, j] - round(v * 255)) <= 1
        for name in ("observed.png", "mean.png", "sample_1.png", "sample_2.png"):
            assert abs(pixels(out / name)[i, j] - round(v * 255)) <= 1, name

    # a second call on the same input (other S) goes beside the first, which stays as it was
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    predict(tiny_run, "--input", str(img), "--num_context", "8", "--num_samples", "0")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert json.loads((out.parent / "digit-2" / "prediction.json").read_text())["num_context"] == 8
    assert not (tiny_run[0] / "eval" / "config_predict.yaml").exists()  # prediction.json has the options

    predict(tiny_run, "--input", str(img), "--out", str(tmp_path / "fine"), "--num_samples", "0",
            "--resolution", "16")
    assert sorted(p.name for p in (tmp_path / "fine").iterdir()) == [
        "input.png", "mean.png", "observed.png", "panel.png", "prediction.json"]
    big = pixels(tmp_path / "fine" / "input.png")  # 8x8 pixels shown as 2x2 blocks
    assert big.shape == (16, 16) and np.array_equal(big[::2, ::2], big[1::2, 1::2])
    # without --num_context an 8x8 digit is observed at a quarter of its pixels, not at all 64 of them
    assert json.loads((tmp_path / "fine" / "prediction.json").read_text())["num_context"] == 16


def test_predict_with_a_mask_and_with_a_context_file(tiny_run, tmp_path):
    img = write_digit_png(tmp_path / "digit.png")
    mask = np.zeros((24, 24), dtype=np.uint8)
    mask[:12] = 255  # observe the top half
    Image.fromarray(mask).save(tmp_path / "mask.png")
    predict(tiny_run, "--input", str(img), "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "m"),
            "--num_samples", "0")
    observed, truth = pixels(tmp_path / "m" / "observed.png"), pixels(tmp_path / "m" / "input.png")
    assert observed.shape == (8, 8) and np.array_equal(observed[:4], truth[:4])
    assert json.loads((tmp_path / "m" / "prediction.json").read_text())["num_context"] == 32

    (tmp_path / "s.json").write_text(json.dumps([[-1, -1, 0.0], [1, 1, 1.0], [0.2, -0.3, 0.5]]))
    predict(tiny_run, "--context", str(tmp_path / "s.json"), "--num_samples", "0", "--out", str(tmp_path / "c"))
    observed = pixels(tmp_path / "c" / "observed.png")  # 8x8 nearest-observed fill; no input picture
    assert observed[0, 0] == 0 and observed[-1, -1] == 255 and not (tmp_path / "c" / "input.png").exists()


def test_predict_needs_only_the_checkpoint_not_the_training_data(tmp_path, monkeypatch):
    """A picture folder trained with k-means colours: `predict` took its spec from the data config, so it read every
    training picture again to refit the colours, and failed where the folder is not (a laptop, after training on a
    cluster). Its colours and grid come from the checkpoint, and the training data is not looked for."""
    write_folder(tmp_path / "pictures", n=10)
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path / "no-data"))
    overlay = tmp_path / "folder.yaml"
    data = {"dataset": "folder", "root": str(tmp_path / "pictures"), "image_size": 8, "num_bins": 16,
            "splits": [6, 2, 2], "batch_size": 2}
    overlay.write_text(yaml.safe_dump({**TINY, "model": {"val_levels": [4]}, "data": {"init_args": data},
                                       "trainer": {**TINY["trainer"], "callbacks": []}}))
    config = ["--config", str(CONFIG), "--config", str(REPO / "configs" / "model" / "tiny.yaml"),
              "--config", str(overlay)]
    main(["fit", *config, "--run_root", str(tmp_path / "runs"), "--run_name", "cats"])
    run = tmp_path / "runs" / "images" / "cats"
    centres = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]["dist.centres"]  # [16, 3]
    assert centres.shape == (16, 3)
    (tmp_path / "pictures").rename(tmp_path / "moved")  # the training data is gone

    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[:, :4] = (200, 30, 30)
    Image.fromarray(rgb).save(tmp_path / "mine.png")
    main(["predict", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--input", str(tmp_path / "mine.png"), "--num_context", "16", "--num_samples", "1",
          "--n_autoregressive", "2", "--out", str(tmp_path / "out")])
    record = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert record["num_context"] == 16 and "mean.png" in record["files"]
    assert pixels(tmp_path / "out" / "mean.png").shape == (8, 8, 3)
    # the same holds for a default data place that holds nothing: made without data, asked only where it is read
    dm = ImageDataModule("folder", image_size=8)
    with pytest.raises(FileNotFoundError, match="no data at .*no-data/cats/faces64: put it there"):
        dm.setup("fit")


@pytest.mark.parametrize("extra, message", [
    (["--num_context", "65"], "--num_context must be between 1 and the 64 grid points"),
    (["--context", "[[0.0, 0.0, 0.5, 0.5]]"], "rows (3 numbers each)"),
    (["--context", "[[0.0, 1.5, 0.5]]"], "positions must lie in [-1, 1]"),
    (["--context", "[[0.0, 0.0, 1.2]]"], "values must lie in [0, 1]"),
    (["--input", "{w}/bad.png"], "bad.png: not a readable image"),
    (["--mask", "{w}/black.png"], "black.png: the mask has no white (observed) pixels"),
    (["--input", "{w}"], "is a folder: a prediction reads one file; give one of the files in it"),
])
def test_predict_rejects_bad_input_in_one_line_and_writes_nothing(tiny_run, tmp_path, extra, message):
    img = write_digit_png(tmp_path / "digit.png")
    (tmp_path / "bad.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "black.png")
    extra = [e.format(w=tmp_path) for e in extra]
    with pytest.raises(ValueError) as err:
        predict(tiny_run, "--input", str(img), *extra, "--out", str(tmp_path / "o"), "--num_samples", "0")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()


# ---- the dataset overlays ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, resolution, contexts", [(None, 32, (32, 32)), ("cats", 64, (256, 1024)),
                                                        ("cifar10", 32, (128, 256))])
def test_overlays_keep_the_domain_and_set_its_pictures(data, resolution, contexts, capsys):
    overlay = ["--config", str(REPO / "configs" / "images" / f"{data}.yaml")] if data else []
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(CONFIG), *overlay, "--print_config"])
    cfg = yaml.safe_load(capsys.readouterr().out)
    domain = cfg["model"]["domain"]
    assert domain["class_path"] == "domains.images.domain.ImageDomain"
    assert (domain["init_args"]["sample_context"], domain["init_args"]["composition_context"]) == contexts
    pictures, sweep = cfg["trainer"]["callbacks"]
    assert pictures["class_path"] == "pixeltransformer.callbacks.Pictures"
    assert pictures["init_args"]["resolution"] == resolution and pictures["init_args"]["levels"][-1] == 1024
    assert sweep["class_path"] == "domains.images.evaluation.ImageEvaluation"


def test_a_prediction_is_named_after_its_input_or_context_file():
    from pixeltransformer.predict import PredictOptions

    assert PredictOptions(input="dir/my_digit.png").name == "my_digit"
    assert PredictOptions(context="rows/pts.json").name == "pts"
    assert PredictOptions(context="[[0.1, 0.2, 0.5]]").name == "context"


# ---- where an evaluation on other data goes --------------------------------------------------------------


def test_a_test_on_another_picture_folder_goes_beside_the_runs_own_evaluation(tmp_path, monkeypatch, capsys):
    """Both are dataset "folder": the evaluation of another folder of pictures went to the run's eval/, replacing its
    evaluation on the pictures it was trained on. The same folder moved elsewhere is still the run's own data."""
    write_folder(tmp_path / "mine", n=10)
    write_folder(tmp_path / "other pictures", n=10, seed=1)
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))
    overlay = tmp_path / "folder.yaml"
    data = {"dataset": "folder", "root": str(tmp_path / "mine"), "image_size": 8, "num_bins": 16,
            "splits": [6, 2, 2], "batch_size": 2}
    sweep = {"class_path": "domains.images.evaluation.ImageEvaluation",
             "init_args": {"levels": [4], "num_samples": 0, "n_autoregressive": 2, "vae": False}}
    overlay.write_text(yaml.safe_dump({**TINY, "model": {"val_levels": [4]}, "data": {"init_args": data},
                                       "trainer": {**TINY["trainer"], "callbacks": [sweep]}}))
    config = ["--config", str(CONFIG), "--config", str(REPO / "configs" / "model" / "tiny.yaml"),
              "--config", str(overlay)]
    main(["fit", *config, "--run_root", str(tmp_path / "runs"), "--run_name", "pictures"])
    run = tmp_path / "runs" / "images" / "pictures"
    test = ["test", *config, "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    main(test)
    own = (run / "eval" / "metrics.json").read_text()
    capsys.readouterr()
    main([*test, "--data.init_args.root", str(tmp_path / "other pictures")])
    assert (run / "eval" / "metrics.json").read_text() == own
    assert json.loads((run / "eval-folder-other_pictures" / "metrics.json").read_text())["dataset"] == "folder"
    assert ("the checkpoint was trained on images/folder (mine); this evaluation on folder (other pictures) goes to "
            "eval-folder-other_pictures/") in capsys.readouterr().out
    (tmp_path / "moved").mkdir()
    (tmp_path / "mine").rename(tmp_path / "moved" / "mine")  # the same pictures elsewhere: the run's own evaluation
    main([*test, "--data.init_args.root", str(tmp_path / "moved" / "mine")])
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("eval")) == ["eval", "eval-folder-other_pictures"]


@pytest.mark.parametrize("dataset", ["mnist", "digits"])
def test_a_built_in_dataset_names_no_folder_wherever_it_lies(tmp_path, dataset):
    """MNIST is MNIST in a folder of any name (an evaluation of it on its own data writes eval/); the digits are
    bundled. A folder of pictures is named by its last part."""
    from pixeltransformer.datamodule import module_spec

    assert "source" not in module_spec(ImageDataModule(dataset, root=str(tmp_path / "MNIST data"))).extra
    folder = ImageDataModule("folder", root=str(tmp_path / "cats" / "faces64"), channels=1)
    assert module_spec(folder).extra["source"] == "faces64"
    assert "source" not in folder.spec.extra  # the DataModule's own spec is the domain's


@pytest.mark.parametrize("option", ["classifier_epochs", "vae_epochs"])
@pytest.mark.parametrize("epochs", [0, -1])
def test_baseline_epochs_below_one_are_refused_not_scored_untrained(option, epochs):
    """classifier_epochs=0 (or -1) trained the judge for no epoch and scored accuracy with it: 8.5% on the digits'
    test split (2 epochs: 96.5%), written into metrics.json without a word; vae_epochs=0 scored the VAE baseline
    untrained. Both are refused when the evaluation is configured; `classifier: false` / `vae: false` leave a
    baseline out."""
    from domains.images.evaluation import ImageEvaluation

    switch = option.removesuffix("_epochs")
    with pytest.raises(ValueError, match=rf"^ImageEvaluation: {option} must be >= 1 \(null: the dataset's default; "
                                         rf"{switch}: false leaves the baseline out\), got {epochs}$"):
        ImageEvaluation(**{option: epochs})
    assert getattr(ImageEvaluation(**{option: 1}), option) == 1


def test_pictures_too_small_for_a_baseline_are_refused_naming_the_switch_before_training(tmp_path, monkeypatch):
    """Below 8x8 the classifier failed once the evaluation began training it (`train_classifier expects images [N,
    C, H>=8, W>=8], got (1497, 1, 6, 6)`), below 4x4 the VAE (`ConvVAE needs images of side >= 4`), naming no option.
    Both are refused before any network is trained, naming the switch that leaves the baseline out."""
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))
    overlay = tmp_path / "tiny.yaml"
    overlay.write_text(yaml.safe_dump({**TINY, "trainer": {**TINY["trainer"], "max_steps": 1}}))
    config = ["--config", str(CONFIG), "--config", str(REPO / "configs" / "model" / "tiny.yaml"), "--config",
              str(overlay), "--data.init_args.image_size=6", "--model.sets.init_args.max_context=36"]
    run = tmp_path / "runs" / "images" / "small"
    main(["fit", *config, "--run_root", str(tmp_path / "runs"), "--run_name", "small"])
    with pytest.raises(ValueError, match=r"^ImageEvaluation: the classifier baseline needs pictures of 8x8 or "
                                         r"more, these are 6x6 \(data.init_args.image_size=6\); classifier: false "
                                         r"leaves the baseline out \(--trainer.callbacks.classifier=false\)$"):
        main(["test", *config, "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert not (run / "eval").exists() and not (tmp_path / "cache" / "images").exists()  # nothing trained or written
    # the VAE below 4x4 alike; a baseline left out, or pictures without labels, need no such size
    three = ImageDataModule("digits", image_size=3)
    with pytest.raises(ValueError, match=r"^ImageEvaluation: the vae baseline needs pictures of 4x4 or more, these are "
                                         r"3x3 \(data.init_args.image_size=3\); vae: false leaves the baseline out "
                                         r"\(--trainer.callbacks.vae=false\)$"):
        ImageEvaluation(classifier=False).check_picture_size(three)
    ImageEvaluation(classifier=False).check_picture_size(ImageDataModule("digits", image_size=6))
    ImageEvaluation(vae=False).check_picture_size(ImageDataModule("folder", root=str(tmp_path), image_size=6))


@pytest.mark.parametrize("option, value, need", [("vae_steps", 0, ">= 1"), ("vae_steps", -1, ">= 1"),
                                                 ("vae_lr", 0.0, "finite and > 0"), ("vae_lr", -0.1, "finite and > 0"),
                                                 ("vae_lr", float("nan"), "finite and > 0"),
                                                 ("vae_lr", float("inf"), "finite and > 0")])
def test_vae_latent_steps_and_rate_that_fit_nothing_are_refused(option, value, need):
    """vae_steps=0 (or vae_lr=0) scored the decoded prior mean, the same picture for every S, as the "VAE completion"
    in metrics.json without a word; vae_steps=-1 stopped the evaluation at its first batch with torch's traceback
    ("Trying to create tensor with negative dimension -1") and vae_lr=-0.1 with Adam's "Invalid learning rate: -0.1",
    after the helper networks had trained; vae_lr=inf completed every picture as NaN. All are refused in one line
    when the evaluation is configured."""
    from domains.images.evaluation import ImageEvaluation

    what = {"vae_steps": "the Adam steps that fit the VAE's latent to S", "vae_lr": "their learning rate"}[option]
    with pytest.raises(ValueError, match=rf"^ImageEvaluation: {option} must be {need} \({what}; vae: false leaves "
                                         rf"the baseline out\), got {value}$"):
        ImageEvaluation(**{option: value})
    assert getattr(ImageEvaluation(**{option: 1}), option) == 1


@pytest.mark.parametrize("option", ["--classifier_epochs", "--vae_epochs"])
def test_make_classifier_refuses_epochs_below_one(option, tmp_path, capsys):
    """`python -m domains.images.baselines.pretrained --classifier_epochs 0` (the command `make classifier` runs)
    cached an untrained judge (test accuracy 0.0850 on the digits)."""
    from domains.images.baselines import pretrained

    with pytest.raises(SystemExit) as exit_info:
        pretrained.main(["--data", "digits", "--cache_dir", str(tmp_path), option, "0", "--device", "cpu"])
    assert exit_info.value.code == 2 and not any(tmp_path.iterdir())
    assert capsys.readouterr().err == (f"python -m domains.images.baselines.pretrained: error: {option} must be >= 1 "
                                       "(default: the dataset's), got 0\n")


def test_make_classifier_without_its_data_names_its_own_options(tmp_path, monkeypatch, capsys):
    """`make classifier DATA=mnist` without data/mnist said "pass --data.init_args.root, or add
    --data.init_args.download=true to fetch it": options of `make train`, which the command refused ("unrecognized
    arguments"). Its line names its own, --root and --download."""
    from domains.images.baselines import pretrained

    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exit_info:
        pretrained.main(["--data", "mnist", "--cache_dir", str(tmp_path / "c"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--data.init_args" not in err, err
    assert err == (f"error: no data at {tmp_path / 'data' / 'mnist'}: put it there, set PIXELTRANSFORMER_DATA to a "
                   "folder holding mnist, pass --root, or add --download to fetch it\n")
    seen = {}
    monkeypatch.setattr(pretrained, "ImageDataModule", lambda *a, **k: seen.update(k) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # --download reaches the data, which fetches what is missing
        pretrained.main(["--data", "mnist", "--download", "--cache_dir", str(tmp_path / "c"), "--device", "cpu"])
    assert seen["download"] is True


def test_make_classifier_given_another_datasets_folder_names_its_own_data_option(tmp_path, capsys):
    """`make classifier DATA=cats ARGS="--root data/mnist"` (or MNIST at a folder of pictures) names the dataset that
    reads the folder as the command's own --data, not `make train`'s --data.init_args.dataset."""
    from domains.images.baselines import pretrained

    write_mnist(tmp_path / "mnist", "test", 4)
    write_folder(tmp_path / "pictures", 2)
    Image.new("RGB", (8, 8)).save(tmp_path / "pictures" / "top.png")  # one directly in it
    for data, root, said in (("cats", "mnist", "): read them with --data mnist\n"),
                             ("mnist", "pictures", "; read it with --data cats, or pass the folder that holds MNIST, "
                                                   "or a folder of its own with --download\n")):
        with pytest.raises(SystemExit) as exit_info:
            pretrained.main(["--data", data, "--root", str(tmp_path / root), "--cache_dir", str(tmp_path / "c"),
                             "--device", "cpu"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "--data.init_args" not in err and err.endswith(said), err


def test_the_baselines_train_on_the_data_module_the_test_reads_not_the_fit_s(monkeypatch):
    """After trainer.fit(model, datamodule=a), a test given b's dataloaders alone sized its pictures by a and trained
    the classifier and the VAE on a's train split (Lightning keeps the fit's data module): the baselines judged other
    pictures than those completed. They train on the test's data module; dataloaders alone are refused in one line,
    unless no baseline is to be trained (none asked for, or those asked for given by hand)."""
    from types import SimpleNamespace

    import lightning as L

    from domains.images.baselines import pretrained
    from pixeltransformer.evaluation import SweepEvaluation
    from tests.unit.stand_ins import loop_reading

    monkeypatch.setattr(SweepEvaluation, "on_test_start", lambda *args: None)  # the sweep's own start: not tested
    trained = {}
    for name in ("classifier", "vae"):
        monkeypatch.setattr(pretrained, f"load_{name}",
                            lambda dm, *args, name=name, **kw: trained.setdefault(name, dm))

    def pictures(size: int) -> L.LightningDataModule:  # a data module of 100 labelled pictures, 10 of each digit
        dm = L.LightningDataModule()
        dm.image_size, dm.num_classes, dm.split_arrays = size, 10, None
        dm.build_split = lambda split: SimpleNamespace(labels=torch.arange(100) % 10)
        return dm

    fitted, tested = pictures(2), pictures(8)  # the fit's pictures too small for either baseline
    trainer = SimpleNamespace(datamodule=fitted, test_loop=loop_reading(tested), world_size=1, is_global_zero=True,
                              progress_bar_callback=None)
    ImageEvaluation(levels=(4,)).on_test_start(trainer, SimpleNamespace(device="cpu"))
    assert trained == {"classifier": tested, "vae": tested}
    trainer.test_loop = loop_reading(None)
    for vae in (None, "given"):  # a baseline still to train
        sweep = ImageEvaluation(levels=(4,))
        sweep.vae = vae
        with pytest.raises(ValueError, match=r"^ImageEvaluation: the classifier and VAE baselines train on the "
                                             r"train split of the data module the test reads from, and this test was "
                                             r"given "
                                             r"dataloaders alone: trainer.test\(model, datamodule=\.\.\.\), or "
                                             r"ImageEvaluation\(classifier=False, vae=False\) leaves them out$"):
            sweep.on_test_start(trainer, SimpleNamespace(device="cpu"))
    ImageEvaluation(levels=(4,), classifier=False, vae=False).on_test_start(trainer, SimpleNamespace(device="cpu"))
    trained.clear()
    given = ImageEvaluation(levels=(4,), vae=False)  # the baselines asked for, given by hand: nothing to train
    given.classifier = "judge"
    given.on_test_start(trainer, SimpleNamespace(device="cpu"))
    sweep = ImageEvaluation(levels=(4,))
    sweep.classifier, sweep.vae = "judge", "vae"
    sweep.on_test_start(trainer, SimpleNamespace(device="cpu"))
    assert trained == {} and (sweep.classifier, sweep.vae, given.classifier) == ("judge", "vae", "judge")


def test_a_classifier_of_too_few_training_images_of_a_class_is_left_out_and_said(monkeypatch, capsys):
    """16 labelled training images (none of some digits) trained the judge all the same, and metrics.json gave its
    acc_mean and acc_gt as any other numbers. It is now left out with a line, and metrics.json says why."""
    from types import SimpleNamespace

    from domains.images import evaluation
    from domains.images.baselines import pretrained
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(SweepEvaluation, "on_test_start", lambda *args: None)
    monkeypatch.setattr(evaluation, "shows_progress", lambda trainer: False)
    monkeypatch.setattr(pretrained, "load_classifier", lambda *a, **k: pytest.fail("a judge of 16 images trained"))
    dm = ImageDataModule("digits", splits=(16, 4, 8))
    counts = torch.bincount(dm.split_pixels("train")[1], minlength=10)  # [10]
    sweep = ImageEvaluation(vae=False)
    sweep.on_test_start(SimpleNamespace(datamodule=dm, is_global_zero=True), object())
    why = (f"the train split's 16 labelled images hold {int(counts.min())} of class {int(counts.argmin())}, fewer than "
           "the 5 of each of its 10 classes a classifier needs to judge completions: add images, or give "
           "--trainer.callbacks.classifier=false")
    assert capsys.readouterr().out == f"[pixeltransformer] ImageEvaluation: no classifier accuracy (acc_*): {why}\n"
    assert sweep.classifier is None
    sweep.evaluated = set()
    summary = sweep.summary([], object())
    assert summary["classifier"] is False and summary["classifier_left_out"] == why
    enough = ImageDataModule("digits", splits=(100, 4, 8))  # 7 or more of each digit: trained as before
    monkeypatch.setattr(pretrained, "load_classifier", lambda *a, **k: "judge")
    monkeypatch.setattr(evaluation, "built_on_first_rank", lambda trainer, module, build: build())
    sweep = ImageEvaluation(vae=False)
    sweep.on_test_start(SimpleNamespace(datamodule=enough, is_global_zero=True), SimpleNamespace(device="cpu"))
    assert sweep.classifier == "judge" and capsys.readouterr().out == ""


def test_labels_outside_the_classes_or_not_one_a_picture_leave_the_classifier_out_and_say_why():
    """Labels outside 0..9 (CIFAR-100's 0..99, -1 for unlabelled pictures) were refused as a CIFAR-10 .npz was read,
    though only the classifier needs them; they read now, and the classifier's gate leaves it out naming them (it
    counted 0..99 as 100 classes, trained on enough of each a classifier of 10 outputs, and raised on -1). Labels not
    one a picture ([N, 10]) are named too."""
    from domains.images.evaluation import too_few_to_judge

    enough = torch.arange(10).repeat(5)  # [50], 5 of each class
    assert too_few_to_judge(enough, 10) is None
    for labels, span in ((torch.arange(100), "0..99"), (torch.cat([enough, torch.tensor([-1])]), "-1..9")):
        assert too_few_to_judge(labels, 10) == (
            f"the train split's labels span {span}, but the classifier that judges completions tells 10 classes, "
            "0..9: give 'labels' of those classes, or give --trainer.callbacks.classifier=false")
    assert too_few_to_judge(torch.nn.functional.one_hot(enough), 10, "add images", "leave them out") == (
        "the train split's labels are [50, 10], not one class a picture ([50]): give 'labels' of one class a "
        "picture, or leave them out")


def test_make_classifier_skips_the_classifier_of_a_train_split_of_too_few_images_of_a_class(monkeypatch, tmp_path,
                                                                                            capsys):
    """`make classifier` on 16 labelled training images (none of some digits) trained and cached a classifier that
    every evaluation then left out; it trains none, says why in one line and goes on to the VAE, as before. With
    --no_vae, nothing is left to build: refused in one line. Labels outside its 10 classes (a CIFAR-100-like .npz,
    which reads) are refused so too, naming their span."""
    from types import SimpleNamespace

    from domains.images.baselines import pretrained

    dm = ImageDataModule("digits", splits=(16, 4, 8))
    counts = torch.bincount(dm.split_pixels("train")[1], minlength=10)  # [10]
    why = (f"the train split's 16 labelled images hold {int(counts.min())} of class {int(counts.argmin())}, fewer "
           "than the 5 of each of its 10 classes a classifier needs to judge completions: add images (every "
           "evaluation leaves a classifier of so few out)")
    vaes = []
    monkeypatch.setattr(pretrained, "ImageDataModule", lambda *a, **k: dm)
    monkeypatch.setattr(pretrained, "load_classifier", lambda *a, **k: pytest.fail("a classifier of 16 images trained"))
    same = SimpleNamespace(encode=lambda x: (x,), decode=lambda z: z)  # a VAE that reconstructs exactly
    monkeypatch.setattr(pretrained, "load_vae", lambda *a, **k: vaes.append(a) or same)
    with pytest.raises(SystemExit) as exit_:
        pretrained.main(["--data", "digits", "--cache_dir", str(tmp_path / "c"), "--device", "cpu", "--no_vae"])
    assert exit_.value.code == 2 and not (tmp_path / "c").exists() and not vaes
    assert capsys.readouterr().err == f"error: {why}\n"
    pretrained.main(["--data", "digits", "--cache_dir", str(tmp_path / "c"), "--device", "cpu"])
    assert len(vaes) == 1 and capsys.readouterr().out == (
        f"digits: no classifier: {why}\nvae {pretrained.dataset_key(dm)}: test reconstruction L1 0.0000\n"
        f"cached in {tmp_path / 'c'}\n")
    rng = np.random.default_rng(0)  # a CIFAR-100-like .npz: labels 0 and 99, never a classifier of 10 outputs
    np.savez(tmp_path / "cifar100.npz", images=rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8),
             labels=np.arange(40) % 2 * 99)
    dm = ImageDataModule("cifar10", root=str(tmp_path / "cifar100.npz"), image_size=8, splits=(30, 5, 5),
                         bins="uniform", num_bins=8)
    with pytest.raises(SystemExit) as exit_:
        pretrained.main(["--data", "cifar10", "--cache_dir", str(tmp_path / "c"), "--device", "cpu", "--no_vae"])
    assert exit_.value.code == 2 and capsys.readouterr().err == (
        "error: the train split's labels span 0..99, but the classifier that judges completions tells 10 classes, "
        "0..9: give 'labels' of those classes, or leave them out (no classifier)\n")
