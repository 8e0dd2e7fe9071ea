"""Video domain wired to the core: predict end to end, the evaluation sweep's metrics, the pictures callback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import imageio.v3 as iio
import lightning as L
import numpy as np
import pytest
import torch

from domains.video.callbacks import VideoEvaluation, VideoPictures
from domains.video.data import VideoDataModule
from domains.video.io import read_video_file, write_video
from domains.video.predict import complete_video, parse_context
from domains.video.synthetic import moving_digits
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.predict import main as predict_main
from pixeltransformer.sets import grid_positions

GRID = (3, 12, 12)  # T, H, W: tiny, but frames stay >= 11 px for SSIM's window


def tiny_datamodule() -> VideoDataModule:
    return VideoDataModule(dataset="synthetic", num_frames=GRID[0], size=GRID[1], num_clips=12, splits=(-1, 2, 2),
                           num_bins=8, batch_size=2)


def tiny_trainer(tmp_path: Path, **kwargs) -> L.Trainer:
    opts = dict(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                limit_val_batches=0, enable_model_summary=False, accelerator="cpu", default_root_dir=str(tmp_path))
    return L.Trainer(**{**opts, **kwargs})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[VideoDataModule, PixelTransformerModule, Path]:
    """A tiny model trained for two steps and its checkpoint."""
    tmp = tmp_path_factory.mktemp("video_ckpt")
    torch.manual_seed(0)
    dm = tiny_datamodule()
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(min_context=8, max_context=64, num_queries=32),
                                    val_levels=(16,))
    trainer = tiny_trainer(tmp)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(tmp / "tiny.ckpt")
    return dm, module.eval(), tmp / "tiny.ckpt"


@pytest.fixture(scope="module")
def input_video(tmp_path_factory) -> Path:
    clip = moving_digits(1, num_frames=5, size=24, seed=3)[0]  # [5, 24, 24, 3]
    return write_video(clip, tmp_path_factory.mktemp("video_in") / "clip.mp4", upscale_to=None)


def test_spec_names_the_predictor():
    assert tiny_datamodule().spec.extra["predictor"] == "domains.video.predict"


# ---- predict -----------------------------------------------------------------------------------------
def test_predict_random_pixels_end_to_end(trained, input_video, tmp_path):
    _, _, ckpt = trained
    out = tmp_path / "out"
    paths = predict_main(["--checkpoint", str(ckpt), "--input", str(input_video), "--out", str(out),
                          "--num_context", "20", "--num_samples", "2", "--n_autoregressive", "3", "--device", "cpu"])
    names = {p.name for p in paths}
    assert {"gt.mp4", "context.mp4", "mean.mp4", "sample_00.mp4", "sample_01.mp4", "figure10.png", "figure10.mp4",
            "figure10.gif", "summary.json"} == names
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    mean = read_video_file(out / "mean.mp4")
    assert mean.shape[0] == GRID[0] and mean.shape[1] == mean.shape[2] >= 128  # T frames, upscaled for viewing
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"] == list(GRID) and summary["context"] == "20 random pixels"
    assert set(summary["psnr_vs_input"]) == {"mean", "nearest_neighbour", "sample_00", "sample_01"}
    assert all(math.isfinite(v) and v > 0 for v in summary["psnr_vs_input"].values())


def test_predict_with_mask_and_resolution(trained, input_video, tmp_path):
    _, _, ckpt = trained
    mask = np.zeros((24, 24, 3), np.uint8)
    mask[:12] = 255  # the top half of every frame is observed
    iio.imwrite(tmp_path / "mask.png", mask)
    out = tmp_path / "out"
    predict_main(["--checkpoint", str(ckpt), "--input", str(input_video), "--out", str(out), "--mask",
                  str(tmp_path / "mask.png"), "--num_samples", "1", "--n_autoregressive", "2", "--resolution", "16"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"] == [GRID[0], 16, 16]
    assert summary["context"].startswith(f"{GRID[0] * 6 * 12} pixels under the mask")  # 6 of 12 rows, 3 frames
    assert read_video_file(out / "sample_00.mp4").shape[0] == GRID[0]


def test_predict_with_json_context_and_bad_input(trained, input_video, tmp_path):
    _, _, ckpt = trained
    base = ["--checkpoint", str(ckpt), "--input", str(input_video), "--num_samples", "0"]
    ctx = json.dumps([[0.0, -0.5, 0.5, 1.0, 0.0, 0.0], [1.0, 1.0, -1.0, 0.0, 0.0, 1.0]])
    predict_main(base + ["--out", str(tmp_path / "ok"), "--context", ctx])
    assert json.loads((tmp_path / "ok" / "summary.json").read_text())["context"].startswith("2 samples")
    bad = {
        json.dumps([[0.0, 1.5, 0.0, 0.5, 0.5, 0.5]]): "must lie in \\[-1, 1\\]",
        json.dumps([[0.0, 0.0, 0.0, 0.5]]): "3 positions .* 3 values",
        json.dumps([[0.0, 0.0, 0.0, 2.0, 0.5, 0.5]]): "values \\(r, g, b\\) must lie",
    }
    for text, message in bad.items():
        with pytest.raises(SystemExit, match=message):
            predict_main(base + ["--out", str(tmp_path / "bad"), "--context", text])
    with pytest.raises(SystemExit, match="not found"):
        predict_main(["--checkpoint", str(ckpt), "--input", str(tmp_path / "missing.mp4"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--num_context must be between 1 and the 432 pixels"):
        predict_main(base + ["--out", str(tmp_path / "bad"), "--num_context", "1000"])


def test_parse_context_reads_a_json_file(tmp_path):
    (tmp_path / "ctx.json").write_text("[[0, 0, 0, 0.2, 0.4, 0.6]]")
    pos, val = parse_context(str(tmp_path / "ctx.json"), (0.0, 1.0))
    assert pos.tolist() == [[0.0, 0.0, 0.0]] and torch.allclose(val, torch.tensor([[0.2, 0.4, 0.6]]))
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_context("[[0, 0", (0.0, 1.0))


def test_complete_video_keeps_observed_pixels(trained):
    _, module, _ = trained
    pos = grid_positions(GRID)[[0, 50, 431]]  # [3, 3] grid points: voxels 0, 50 and the last
    val = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    mean, samples = complete_video(module, pos, val, GRID, num_samples=2, n_autoregressive=4, seed=1)
    assert mean.shape == (3, *GRID) and samples.shape == (2, 3, *GRID)
    flat_mean, flat_samples = mean.flatten(1), samples.flatten(2)  # [3, N], [S, 3, N]
    for i, voxel in enumerate((0, 50, 431)):
        assert torch.equal(flat_mean[:, voxel], val[i])
        assert torch.equal(flat_samples[:, :, voxel], val[i].expand(2, 3))
    assert not torch.equal(samples[0], samples[1])  # two chains draw different pixels


# ---- evaluation ------------------------------------------------------------------------------------
def test_evaluation_metrics_are_finite_per_clip(trained):
    dm, module, _ = trained
    signal = dm.fixed_examples("test", 2)["signal"]  # [2, 3, T, H, W]
    full = math.prod(GRID)
    ev = VideoEvaluation(levels=(8, 64, full), num_samples=2, n_autoregressive=2, sample_clips=1, figure_levels=())
    assert ev.level_list(module.spec) == [8, 64] and ev.dropped_levels(module.spec) == [full]
    ev.level_list = lambda spec: [8, 64, full]  # the sweep leaves |S| = every pixel out (nothing held out); forced
    out = ev.evaluate_batch(module, signal, 0)
    assert sorted(out) == [8, 64, full]
    expected = {"nll", "mse", "nn_mse", "psnr", "ssim", "nn_psnr", "nn_ssim", "sample_mse", "sample_psnr",
                "sample_ssim"}
    held_out_only = {"nll", "mse", "nn_mse", "sample_mse"}
    for k, values in out.items():
        assert set(values) == expected
        for name, v in values.items():
            assert v.shape == (2,), name
            if k == full and name in held_out_only:  # no pixel held out: no value, not a mean over S
                assert torch.isnan(v).all(), name
            elif name.startswith("sample_"):  # only the first clip is sampled; the second is NaN (ignored)
                assert torch.isfinite(v[0]) and torch.isnan(v[1]), name
            else:
                assert torch.isfinite(v).all(), (k, name)
        assert ((values["ssim"] <= 1) & (values["nn_ssim"] <= 1)).all()
    # with every pixel observed, the mean video and the NN fill are the clip itself (PSNR capped at 100 dB);
    # an untrained mean scores ~20 dB unless the observed pixels are shown as observed
    assert torch.allclose(out[full]["psnr"], torch.full((2,), 100.0))
    assert torch.allclose(out[full]["nn_psnr"], torch.full((2,), 100.0))
    assert torch.allclose(out[full]["ssim"], torch.ones(2), atol=1e-4)
    assert (out[64]["nn_psnr"] > out[8]["nn_psnr"]).all()  # more context, a better NN fill
    assert ev._sampled == 1
    assert "sample_psnr" not in ev.evaluate_batch(module, signal, 1)[8]  # sample_clips used up


def test_evaluation_summary():
    rows = [{"num_context": 256, "psnr": 20.0, "nn_psnr": 19.0}, {"num_context": 512, "psnr": 22.0, "nn_psnr": 23.0}]
    s = VideoEvaluation(num_samples=0).summary(rows)
    assert s["psnr_rises_with_context"] is True
    assert s["mean_psnr_gain_over_nn_db"] == {"256": 1.0, "512": -1.0}
    assert VideoEvaluation().summary(rows[::-1])["psnr_rises_with_context"] is False


def test_evaluation_sweep_writes_metrics_and_figures(trained, tmp_path):
    dm, module, _ = trained
    ev = VideoEvaluation(levels=(8, 32), num_samples=1, n_autoregressive=2, sample_clips=1, figure_levels=(16,),
                         figure_samples=2, out_dir=str(tmp_path / "eval"))
    tiny_trainer(tmp_path, callbacks=[ev]).test(module, datamodule=dm, verbose=False)
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [r["num_context"] for r in result["rows"]] == [8, 32]
    assert all(math.isfinite(r["psnr"]) and math.isfinite(r["sample_psnr"]) for r in result["rows"])
    assert result["sample_clips"] == 1
    for suffix in ("png", "mp4", "gif"):
        assert (tmp_path / "eval" / f"video_S16.{suffix}").is_file()
    assert (tmp_path / "eval" / "metrics_vs_context.png").is_file()


# ---- pictures ----------------------------------------------------------------------------------------
def test_pictures_callback_writes_fig10_files(tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamodule()
    module = PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                    sets=dict(min_context=8, max_context=64, num_queries=32),
                                    val_levels=(16,))
    pictures = VideoPictures(num_context=16, num_videos=2, num_samples=2, n_autoregressive=2)
    trainer = tiny_trainer(tmp_path, callbacks=[pictures], limit_val_batches=1, val_check_interval=1,
                           num_sanity_val_steps=1)
    trainer.fit(module, datamodule=dm)
    files = sorted(p.name for p in (tmp_path / "pictures").iterdir())
    # two validations (steps 1 and 2) x two clips x three files; none from the sanity check
    assert files == sorted(f"video{i}_step{s:06d}.{x}" for i in (0, 1) for s in (1, 2) for x in ("gif", "mp4", "png"))
    frames = read_video_file(tmp_path / "pictures" / "video0_step000002.mp4")
    assert frames.shape[0] == GRID[0]  # GT, S, 2 samples and the mean side by side, T frames
    assert frames.shape[2] > 5 * frames.shape[1] - 1
