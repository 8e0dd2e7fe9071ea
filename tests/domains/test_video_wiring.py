"""Video domain wired to the core: fit, test and predict through the CLI, the sweep's PSNR/SSIM, the Domain's files."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from domains.video.data import VideoDataModule, load_user_video
from domains.video.domain import VideoDomain
from domains.video.io import read_video_file, write_video
from domains.video.metrics import psnr_per_frame, ssim_per_frame, sweep_metrics, sweep_summary
from domains.video.synthetic import moving_digits
from domains.video.visualize import LABEL_H, on_grid
from pixeltransformer.cli import main
from pixeltransformer.evaluation import SweepEvaluation, SweepItem
from pixeltransformer.inference import Completion
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import flatten_grid, grid_positions
from pixeltransformer.signal import SignalSpec
from wrote_lines import PREFIX, unnamed_files

REPO = Path(__file__).resolve().parents[2]
GRID = (3, 12, 12)  # T, H, W: tiny, but frames stay >= 11 px for SSIM's window
N = math.prod(GRID)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """configs/video.yaml with a tiny model and tiny clips, fitted for two steps through the CLI."""
    tmp = tmp_path_factory.mktemp("video_run")
    overlay = {
        "model": {"net": {"width": 64, "encoder_layers": 2, "decoder_layers": 2, "heads": 4, "ffn": 128},
                  "sets": {"init_args": {"min_context": 8, "max_context": 64, "num_queries": 32}}, "val_levels": [16]},
        "data": {"init_args": {"num_frames": GRID[0], "size": GRID[1], "num_clips": 12, "splits": [-1, 2, 2],
                               "num_bins": 8, "batch_size": 2}},
        "trainer": {"max_steps": 2, "val_check_interval": 1, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False, "callbacks": [
                        {"class_path": "pixeltransformer.callbacks.Pictures",
                         "init_args": {"num_examples": 2, "levels": [16], "num_samples": 2, "n_autoregressive": 2}},
                        {"class_path": "domains.video.evaluation.VideoEvaluation",
                         "init_args": {"levels": [8, 32, N], "num_samples": 1, "n_autoregressive": 2,
                                       "sample_clips": 1}}]},
        "checkpoint": {"every_n_train_steps": 2},
    }
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(overlay))
    torch.manual_seed(0)
    main(["fit", *config(tmp), "--run_root", str(tmp / "runs"), "--run_name", "tiny"])
    return tmp / "runs" / "video" / "tiny"


def config(tmp: Path) -> list[str]:
    return ["--config", str(REPO / "configs" / "video.yaml"), "--config", str(tmp / "tiny.yaml")]


def predict(run: Path, *args: str) -> None:
    main(["predict", *config(run.parents[2]), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), *args])


@pytest.fixture(scope="module")
def input_video(tmp_path_factory) -> Path:
    clip = moving_digits(1, num_frames=5, size=24, seed=3)[0]  # [5, 24, 24, 3]
    return write_video(clip, tmp_path_factory.mktemp("video_in") / "clip.mp4", upscale_to=None)


# ---- fit and test through the CLI ----------------------------------------------------------------------
def test_fit_draws_fig10_after_each_validation(run):
    files = sorted(p.name for p in (run / "pictures").iterdir())
    # two validations (steps 1 and 2) x two clips x three files at |S| = 16; none from the sanity check
    assert files == sorted(f"video{i}_S16_step{s:06d}.{x}"
                           for i in (0, 1) for s in (1, 2) for x in ("gif", "mp4", "png"))
    frames = read_video_file(run / "pictures" / "video0_S16_step000002.mp4")
    assert frames.shape[0] == GRID[0]  # T frames of GT, S, 2 samples and the mean side by side
    side = frames.shape[1] - LABEL_H  # under the band of names
    assert frames.shape[2] > 5 * side - 1


def test_test_writes_every_metrics_key_and_test_pictures(run, capsys):
    capsys.readouterr()
    main(["test", *config(run.parents[2]), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    # every file of the evaluation is named by its wrote lines: the GIFs beside the logged mp4s were left out
    out = capsys.readouterr().out
    assert unnamed_files(out, run / "eval") == [] and f"{PREFIX}2 .gif files in {run / 'eval' / 'pictures'}/" in out
    result = json.loads((run / "eval" / "metrics.json").read_text())
    assert [r["num_context"] for r in result["rows"]] == [8, 32] and result["dropped_levels"]["levels"] == [N]
    for row in result["rows"]:
        assert set(row) == {"num_context", "nll", "mse", "nn_mse", "sample_mse", "psnr", "ssim", "nn_psnr", "nn_ssim",
                            "sample_psnr", "sample_ssim"}
        assert all(math.isfinite(v) for v in row.values())
    assert result["sample_clips"] == 1  # of the two test clips, only the first is sampled
    assert result["picture_fps"] == 8 and type(result["picture_fps"]) is float  # the synthetic clips': no rate
    assert result["mean_psnr_gain_over_nn_db"] == {str(r["num_context"]): r["psnr"] - r["nn_psnr"]
                                                   for r in result["rows"]}
    assert result["psnr_rises_with_context"] is None  # 2 test clips: too few to judge, and said
    assert result["verdicts_not_judged"].startswith("2 test items, fewer than the 5")
    assert "[pixeltransformer] metrics.json's verdicts are not judged: 2 test items" in out
    assert "metric_notes" in result and (run / "eval" / "metrics_vs_context.png").is_file()
    assert sorted(p.name for p in (run / "eval" / "pictures").iterdir()) == sorted(
        f"video{i}_S16.{x}" for i in (0, 1) for x in ("gif", "mp4", "png"))


# ---- predict through the CLI -----------------------------------------------------------------------------
def test_predict_random_pixels_keeps_the_observed_pixels(run, input_video, capsys):
    capsys.readouterr()
    predict(run, "--input", str(input_video), "--num_context", "20", "--num_samples", "2", "--n_autoregressive", "3")
    out = run / "predict" / "clip"
    assert unnamed_files(capsys.readouterr().out, out) == []  # every file on a "[pixeltransformer] wrote" line
    assert {p.name for p in out.iterdir()} == {
        "gt.mp4", "context.mp4", "mean.mp4", "sample_1.mp4", "sample_2.mp4", "figure10.png", "figure10.mp4",
        "figure10.gif", "summary.json", "prediction.json"}
    record = json.loads((out / "prediction.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"] == list(GRID) and summary["num_context"] == record["num_context"] == 20
    assert set(summary["psnr_vs_input"]) == {"mean", "nearest_neighbour", "sample_1", "sample_2"}
    clip = load_user_video(input_video, *GRID[:1], GRID[1:])  # [3, T, H, W], what the model observed
    mean = read_video_file(out / "mean.mp4").astype(np.float32) / 255  # [T, kH, kW, 3], upscaled k times
    k = mean.shape[1] // GRID[1]
    assert mean.shape[0] == GRID[0] and k > 1
    for row in record["context"]:  # each observed pixel: the input's value, shown as observed in the mean video
        t, y, x = (round((p + 1) / 2 * (n - 1)) for p, n in zip(row[:3], GRID))
        assert torch.allclose(torch.tensor(row[3:]), clip[:, t, y, x], atol=1e-6)
        assert np.abs(mean[t, y * k + k // 2, x * k + k // 2] - np.array(row[3:])).max() < 0.06  # mp4 is lossy


def test_predict_with_a_mask_a_cap_and_a_resolution(run, input_video, tmp_path):
    mask = np.zeros((24, 24, 3), np.uint8)
    mask[:12] = 255  # the top half of every frame is observed: 6 of 12 rows, 3 frames
    iio.imwrite(tmp_path / "mask.png", mask)
    out = tmp_path / "masked"
    predict(run, "--input", str(input_video), "--mask", str(tmp_path / "mask.png"), "--num_samples", "1",
            "--n_autoregressive", "2", "--resolution", "16", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grid"] == [GRID[0], 16, 16] and summary["num_context"] == GRID[0] * 6 * 12
    assert read_video_file(out / "sample_1.mp4").shape[0] == GRID[0]  # frames kept, only H and W scaled
    with pytest.warns(UserWarning, match="observes 216 pixels; using a random 50"):
        predict(run, "--input", str(input_video), "--mask", str(tmp_path / "mask.png"), "--num_samples", "0",
                "--model.domain.init_args.max_context=50", "--out", str(tmp_path / "capped"))
    assert json.loads((tmp_path / "capped" / "summary.json").read_text())["num_context"] == 50


def test_predict_with_json_context_and_bad_input(run, input_video, tmp_path):
    base = ["--input", str(input_video), "--num_samples", "0"]
    ctx = [[0.0, -1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, -1.0, 0.0, 0.0, 1.0]]  # (t, y, x, r, g, b) at grid points
    predict(run, *base, "--out", str(tmp_path / "ok"), "--context", json.dumps(ctx))
    assert json.loads((tmp_path / "ok" / "summary.json").read_text())["num_context"] == 2
    assert json.loads((tmp_path / "ok" / "prediction.json").read_text())["context"] == ctx
    predict(run, "--num_samples", "0", "--out", str(tmp_path / "alone"), "--context", json.dumps(ctx))  # no clip
    assert sorted(p.name for p in (tmp_path / "alone").iterdir()) == [
        "context.mp4", "figure10.gif", "figure10.mp4", "figure10.png", "mean.mp4", "prediction.json", "summary.json"]
    assert "psnr_vs_input" not in json.loads((tmp_path / "alone" / "summary.json").read_text())  # nothing to compare
    # rows: S and the mean, no ground truth (0.9 in each at 150 dpi), the frame labels (0.22 in), the title (0.3 in)
    assert iio.imread(tmp_path / "alone" / "figure10.png").shape[0] == 2 * 135 + 33 + 45
    bad = {
        json.dumps([[0.0, 1.5, 0.0, 0.5, 0.5, 0.5]]): "positions must lie in \\[-1, 1\\]",
        json.dumps([[0.0, 0.0, 0.0, 0.5]]): "6 numbers each",
        json.dumps([[0.0, 0.0, 0.0, 2.0, 0.5, 0.5]]): "values must lie in \\[0, 1\\]",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            predict(run, *base, "--out", str(tmp_path / "bad"), "--context", text)
    with pytest.raises(ValueError, match=f"--num_context must be between 1 and the {N} grid points"):
        predict(run, *base, "--out", str(tmp_path / "bad"), "--num_context", "1000")
    with pytest.raises(ValueError, match="needs 3"):  # a clip shorter than the model's T frames
        short = write_video(moving_digits(1, num_frames=2, size=12, seed=0)[0], tmp_path / "short.mp4", upscale_to=None)
        predict(run, "--input", str(short), "--out", str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_predict_completes_the_clip_of_an_npz_that_input_clip_picks(run, tmp_path):
    """make sample of an .npz of several clips completed the first, and no option picked another:
    --model.domain.init_args.input_clip does, and prediction.json and summary.json say which clip was completed."""
    clips = moving_digits(3, num_frames=GRID[0], size=GRID[1], seed=1)  # [3, T, H, W, 3]
    np.savez(tmp_path / "three.npz", videos=clips)
    out = tmp_path / "picked"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # picked: no warning of the first taken
        predict(run, "--input", str(tmp_path / "three.npz"), "--num_context", "20", "--num_samples", "0", "--out",
                str(out), "--model.domain.init_args.input_clip=2")
    record = json.loads((out / "prediction.json").read_text())
    assert record["input_options"] == {"input_clip": 2}
    assert json.loads((out / "summary.json").read_text())["input"].startswith(f"{tmp_path / 'three.npz'}: clip 2 of 3,")
    picked = torch.from_numpy(clips[2]).permute(3, 0, 1, 2).float() / 255  # [3, T, H, W]
    for row in record["context"]:  # each observed pixel: clip 2's
        t, y, x = (round((p + 1) / 2 * (n - 1)) for p, n in zip(row[:3], GRID))
        assert torch.allclose(torch.tensor(row[3:]), picked[:, t, y, x], atol=1e-6)
    with pytest.raises(ValueError, match=r"three\.npz holds 3 clips, 0 to 2: --model\.domain\.init_args\."
                                         r"input_clip=3 is none of them"):
        predict(run, "--input", str(tmp_path / "three.npz"), "--num_samples", "0", "--out", str(tmp_path / "bad"),
                "--model.domain.init_args.input_clip=3")
    assert not (tmp_path / "bad").exists()


# ---- the Domain's parts, without a CLI ---------------------------------------------------------------------
def clips(b: int = 2, grid: tuple[int, int, int] = GRID) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, *grid, generator=gen) * 0.5 + 0.25  # [B, 3, T, H, W] in [0.25, 0.75]


def item_of(signal: torch.Tensor, mean: torch.Tensor, samples: torch.Tensor | None = None) -> SweepItem:
    """A sweep item querying every pixel, none observed, with the given mean videos [B, 3, T, H, W]."""
    grid = tuple(signal.shape[2:])  # (T, H, W)
    n = math.prod(grid)
    spec = VideoDataModule(num_frames=grid[0], size=grid[1:], bins="uniform", num_bins=8).spec
    b = signal.shape[0]
    qry = flatten_grid(signal)  # [B, N, 3]
    pos = grid_positions(grid).expand(b, -1, -1)  # [B, N, 3]
    flat = lambda v: flatten_grid(v.flatten(0, 1)).view(*v.shape[:2], n, 3)  # noqa: E731  [B, S, N, 3]
    return SweepItem(spec, signal, 1, pos[:, :1], qry[:, :1], pos, qry, torch.ones(b, n, dtype=torch.bool),
                     torch.zeros(b, n, 1), flatten_grid(mean), flatten_grid(signal.flip(-1)),
                     None if samples is None else flat(samples), True, torch.zeros(b, n), {"signal": signal})


def test_sweep_metrics_known_values_and_unsampled_rows():
    gt = clips()
    perfect = sweep_metrics(item_of(gt, gt))
    assert torch.equal(perfect["psnr"], torch.full((2,), 100.0))  # a perfect clip scores the cap
    assert torch.allclose(perfect["ssim"], torch.ones(2), atol=1e-5)
    shifted = sweep_metrics(item_of(gt, gt + 0.1))  # MSE 0.01 in every frame: 20 dB
    assert torch.allclose(shifted["psnr"], torch.full((2,), 20.0), atol=1e-3)
    assert (shifted["ssim"] < perfect["ssim"] - 0.01).all()
    assert (shifted["nn_psnr"] < 40).all()  # the (flipped) NN fill is scored on its own
    samples = torch.stack([gt, gt + 0.1], 1)  # [B, 2, 3, T, H, W]: one perfect, one shifted sample per clip
    samples[1] = float("nan")  # the second clip was not sampled
    out = sweep_metrics(item_of(gt, gt, samples))
    assert out["sample_psnr"][0].item() == pytest.approx(60.0, abs=1e-3) and out["sample_psnr"][1].isnan()
    assert 0.5 < out["sample_ssim"][0] < 1 and out["sample_ssim"][1].isnan()


def test_frames_smaller_than_ssim_s_window_score_ssim_down_to_six_pixels_as_pictures_do():
    """SSIM's 11x11 window reflect-pads a frame by 5 pixels: frames of 6 to 10 pixels a side are scored as the images
    domain scores its pictures, not refused."""
    gt = clips(2, (3, 6, 8))  # [B, 3, T, H, W]
    out = sweep_metrics(item_of(gt, gt + 0.1))
    assert out["ssim"].isfinite().all() and (out["ssim"] < 1).all()
    assert torch.allclose(ssim_per_frame(gt, gt), torch.ones(2))


def test_frames_under_six_pixels_score_psnr_and_no_ssim(tmp_path):
    """A model of 5x5 frames trains; its evaluation scored SSIM, which needs 6x6, and ended in an error after the
    whole sweep: now its SSIM columns are NaN (None in metrics.json) and PSNR is scored."""
    gt = clips(2, (3, 5, 5))  # [B, 3, T, H, W]
    samples = torch.stack([gt, gt + 0.1], 1)  # [B, 2, 3, T, H, W]
    out = sweep_metrics(item_of(gt, gt + 0.1, samples))
    assert torch.allclose(out["psnr"], torch.full((2,), 20.0), atol=1e-3)
    assert out["sample_psnr"][0].item() == pytest.approx(60.0, abs=1e-3) and out["nn_psnr"].isfinite().all()
    assert all(out[name].isnan().all() for name in ("ssim", "nn_ssim", "sample_ssim"))
    c = Completion((3, 5, 5), grid_positions((3, 5, 5))[:5].unsqueeze(0), flatten_grid(gt[:1])[:, :5], gt[:1], None,
                   None, None, gt[:1])
    VideoDomain(gif=False).write_prediction(c, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["psnr_vs_input"]["mean"] == 100.0 and "ssim_vs_input" not in summary


def test_the_metric_notes_say_the_scored_prediction_is_clamped():
    notes = VideoDomain().summary([{"num_context": 8, "psnr": 20.0, "nn_psnr": 19.0}])["metric_notes"]
    assert "predictions clamped to [0, 1]" in notes and "predictions unclamped" not in notes
    assert "PSNR capped at 100 dB" in notes  # a perfect frame's, as a perfect clip scores (sweep_metrics)
    # the columns' units: metrics.json named the nll's (nll_units) alone, so a psnr of 16.3 read as of no unit
    assert "units: psnr in dB, ssim of no unit (1: identical), mse in squared [0, 1] values" in notes
    gt = clips(1)  # [1, 3, T, H, W]
    over = sweep_metrics(item_of(gt, gt + 2.0))["psnr"]  # a mean far above 1 scores as shown: 1 everywhere
    assert torch.allclose(over, psnr_per_frame(torch.ones_like(gt), gt))


def test_sweep_summary():
    rows = [{"num_context": 256, "psnr": 20.0, "nn_psnr": 19.0}, {"num_context": 512, "psnr": 22.0, "nn_psnr": 23.0}]
    assert sweep_summary(rows) == {"psnr_rises_with_context": True,
                                   "mean_psnr_gain_over_nn_db": {"256": 1.0, "512": -1.0}}
    assert sweep_summary(rows[::-1])["psnr_rises_with_context"] is False
    assert sweep_summary(rows[:1])["psnr_rises_with_context"] is None  # one level: no trend, not a rise


@pytest.mark.parametrize("evaluation", ["SweepEvaluation", "VideoEvaluation"])
def test_picture_fps_is_recorded_as_a_setting_w_and_b_leaves_out(evaluation):
    """The rate the videos play at (picture_fps) was a number of VideoDomain.summary that VideoEvaluation alone kept
    out of W&B's summary: the core SweepEvaluation of a video model logged it as a result, eval/picture_fps. A video
    evaluation records it in metrics.json now, as a float (8.0 beside a folder's 12.0), and W&B's summary leaves it
    out as it does every evaluation's settings."""
    from types import SimpleNamespace

    from domains.video.evaluation import VideoEvaluation
    from pixeltransformer.evaluation import summary_scalars

    ev = {"SweepEvaluation": SweepEvaluation, "VideoEvaluation": VideoEvaluation}[evaluation]()
    ev.evaluated = {0, 1}  # the test clips' keys, as its test sets them
    module = SimpleNamespace(domain=VideoDomain())  # synthetic clips: no rate of their own
    rows = [{"num_context": 256, "psnr": 20.0, "nn_psnr": 19.0}]
    results = {"rows": rows, **ev.summary(rows, module)}
    assert "eval/picture_fps" not in summary_scalars(rows, results, settings=ev.summary_settings)
    if evaluation == "VideoEvaluation":
        assert type(results["picture_fps"]) is float and json.dumps(results["picture_fps"]) == "8.0"
    assert type(module.domain.picture_fps()) is float


def test_psnr_rises_is_judged_by_a_paired_test_and_not_on_too_few_clips():
    """On 2 test clips psnr_rises_with_context compared two means; with the per-clip values the last level must beat
    the first by more than 2 standard errors of the paired difference (below 5 clips the evaluation leaves it null:
    test_verdict_summaries)."""
    rows = [{"num_context": 8, "psnr": 20.0, "nn_psnr": 19.0}, {"num_context": 32, "psnr": 22.0, "nn_psnr": 21.0}]

    def items(low: list[float], high: list[float]) -> dict:
        return {(8, "psnr"): dict(enumerate(low)), (32, "psnr"): dict(enumerate(high))}

    steady = items([19.0, 20.0, 21.0, 20.5, 19.5], [21.0, 22.1, 22.9, 22.4, 21.6])
    assert sweep_summary(rows, steady)["psnr_rises_with_context"] is True
    noisy = items([19.0, 25.0, 21.0, 15.0, 20.0], [26.0, 19.0, 27.0, 20.0, 18.0])  # higher by its mean alone
    assert sweep_summary(rows, noisy)["psnr_rises_with_context"] is False


def test_psnr_rises_compares_the_last_level_with_the_first():
    """A sweep whose PSNR clearly rose from the first |S| to the last read false where two close top levels did not
    each pass the paired test; rising is now the last level beating the first (by the paired test), whatever the
    steps between; a sweep that ends where it began does not rise."""
    rows = [{"num_context": s, "psnr": 20.0, "nn_psnr": 19.0} for s in (8, 32, 128)]
    low, mid = [19.0, 20.0, 21.0, 20.5, 19.5], [23.0, 24.1, 24.9, 24.4, 23.6]
    close = [23.1, 24.0, 25.0, 24.5, 23.5]  # about the level before it: no step of its own
    rising = {(8, "psnr"): dict(enumerate(low)), (32, "psnr"): dict(enumerate(mid)),
              (128, "psnr"): dict(enumerate(close))}
    assert sweep_summary(rows, rising)["psnr_rises_with_context"] is True
    back = {**rising, (128, "psnr"): dict(enumerate(low))}
    assert sweep_summary(rows, back)["psnr_rises_with_context"] is False


def test_sweep_with_every_pixel_observed_scores_the_cap(run):
    module = PixelTransformerModule.load_from_checkpoint(run / "checkpoints" / "last.ckpt", map_location="cpu").eval()
    assert isinstance(module.domain, VideoDomain)
    signal = clips()
    sweep = SweepEvaluation(levels=(8, 64), num_samples=1, n_autoregressive=2, sample_items=1)
    sweep.level_list = lambda spec: [8, 64, N]  # the sweep leaves |S| = every pixel out (nothing held out); forced
    out = sweep.evaluate_batch(module, {"signal": signal, "index": torch.tensor([0, 1])})
    for name in ("psnr", "nn_psnr"):  # the mean video and the NN fill are the clip itself
        assert torch.equal(out[N][name], torch.full((2,), 100.0)), name
    assert torch.allclose(out[N]["ssim"], torch.ones(2), atol=1e-4)
    assert (out[64]["nn_psnr"] > out[8]["nn_psnr"]).all() and (out[8]["psnr"] < 40).all()
    assert out[8]["sample_psnr"][0].isfinite() and out[8]["sample_psnr"][1].isnan()  # only item 0 is sampled


def test_write_prediction_of_a_perfect_completion(tmp_path):
    gt = clips(1)  # [1, 3, T, H, W]
    pos = grid_positions(GRID)[:5].unsqueeze(0)  # [1, 5, 3]
    c = Completion(GRID, pos, flatten_grid(gt)[:, :5], gt, torch.stack([gt, gt + 0.1], 1), None, None, gt)
    files = VideoDomain(gif=False).write_prediction(c, tmp_path)
    assert [p.name for p in files] == ["gt.mp4", "context.mp4", "mean.mp4", "sample_1.mp4", "sample_2.mp4",
                                       "figure10.png", "figure10.mp4", "summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["psnr_vs_input"]["mean"] == summary["psnr_vs_input"]["sample_1"] == 100.0
    assert summary["psnr_vs_input"]["sample_2"] == pytest.approx(20.0, abs=1e-3)
    assert summary["ssim_vs_input"]["mean"] == pytest.approx(1.0, abs=1e-5)
    # rows: truth, S, 2 samples, mean (0.9 in each at 150 dpi), the frame labels (0.22 in), the title (0.3 in)
    assert iio.imread(tmp_path / "figure10.png").shape[0] == 5 * 135 + 33 + 45



@pytest.mark.parametrize("suffix, fps, frame_step, played", [(".mp4", 25, 1, 25.0), (".mp4", 30, 2, 15.0),
                                                               (".gif", 10, 1, 10.0), (".npz", None, 1, 8.0)])
def test_predicted_videos_play_at_the_rate_of_the_input_clip(tmp_path, suffix, fps, frame_step, played, capsys):
    """gt.mp4 and the completions were written at 8 frames a second whatever the input's rate: a 25 fps clip played
    three times slower than the input. They now play at the input's rate (over frame_step; 8 where a file has none,
    which the input's line says)."""
    frames = moving_digits(1, num_frames=7, size=12, seed=1)[0]  # [7, 12, 12, 3]
    path = tmp_path / f"in{suffix}"
    if suffix == ".npz":
        np.savez(path, videos=frames[None])
    else:
        write_video(frames, path, fps=fps, upscale_to=None)
    spec = VideoDataModule(num_frames=3, size=12, frame_step=frame_step, bins="uniform", num_bins=8).spec
    domain = VideoDomain()
    signal = domain.read_input(path, spec)[None]  # [1, 3, T, H, W]
    said = capsys.readouterr().out
    assert ("the file records no frame rate: the videos written play at 8 fps" in said) == (fps is None), said
    pos = grid_positions(GRID)[:5].unsqueeze(0)  # [1, 5, 3]
    c = Completion(GRID, pos, flatten_grid(signal)[:, :5], signal, None, None, None, signal)
    domain.write_prediction(c, tmp_path / "out")
    for name in ("gt.mp4", "mean.mp4", "figure10.mp4"):
        assert iio.immeta(tmp_path / "out" / name, plugin="FFMPEG")["fps"] == pytest.approx(played, abs=0.01), name
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["fps"] == pytest.approx(played)
    assert read_video_file(tmp_path / "out" / "figure10.gif").shape[0] == GRID[0]
    with Image.open(tmp_path / "out" / "figure10.gif") as gif:
        assert gif.info["duration"] == pytest.approx(1000 / played, abs=10)  # GIF delays are in 10 ms steps
    domain.write_prediction(c, tmp_path / "again")  # the next prediction, from S alone: no input's rate left over
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["fps"] == 8


def test_a_prediction_s_figure_names_the_input_s_frames_it_shows(tmp_path, monkeypatch):
    """A model of clips every 2nd frame took frames 0-8 of the input (the [predict] line: "frames 0-8, 2 apart"), but
    figure10.png labelled its columns "frame 0", "frame 2", "frame 4": frames 0, 4 and 8 of the input, named as frames
    0, 2 and 4 of it. The columns now name the input's frames."""
    from matplotlib.figure import Figure

    saved, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.append(fig) or save(fig, path, **kw))
    path = tmp_path / "in.mp4"
    write_video(moving_digits(1, num_frames=9, size=12, seed=1)[0], path, fps=10, upscale_to=None)
    spec = VideoDataModule(num_frames=5, size=12, frame_step=2, bins="uniform", num_bins=8).spec
    domain = VideoDomain(gif=False)
    signal = domain.read_input(path, spec)[None]  # [1, 3, 5, 12, 12]
    grid = tuple(signal.shape[2:])
    pos = grid_positions(grid)[:5].unsqueeze(0)  # [1, 5, 3]
    domain.write_prediction(Completion(grid, pos, flatten_grid(signal)[:, :5], signal, None, None, None, signal),
                            tmp_path / "out")
    assert [t.get_text() for t in saved[0].axes[0].get_xticklabels()] == ["frame 0", "frame 4", "frame 8"]


def _videos_at(folder: Path, rates: list[float]) -> Path:
    """A folder of short mp4s (5 frames of 12x12), the i-th written by the project's writer at rates[i] fps."""
    folder.mkdir()
    for i, fps in enumerate(rates):
        write_video(moving_digits(1, num_frames=5, size=12, seed=i)[0], folder / f"v{i}.mp4", fps=fps, upscale_to=None)
    return folder


def _pictures_fps(spec: SignalSpec, out: Path) -> tuple[float, float]:
    """The rate a fit's Fig. 10 mp4 of data of ``spec`` plays at, and the rate metrics.json records."""
    domain = VideoDomain(gif=False)
    domain.spec = spec
    gt = clips(1)  # [1, 3, T, H, W]
    c = Completion(GRID, grid_positions(GRID)[:5].unsqueeze(0), flatten_grid(gt)[:, :5], gt, None, None, None, gt)
    mp4 = domain.pictures({"5": c}, out)["videos"][0]
    return iio.immeta(mp4, plugin="FFMPEG")["fps"], domain.picture_fps()


@pytest.mark.parametrize("frame_step", [1, 2])
def test_fit_and_evaluation_pictures_play_at_the_rate_of_a_folder_s_videos(tmp_path, frame_step):
    """The videos of a fit's and an evaluation's pictures played at 8 frames a second whatever the data's rate: clips
    of a folder of 12 fps mp4s played at two thirds of their speed. They now play at the videos' rate over
    frame_step, which the spec carries into the checkpoint, the [data] line says and metrics.json records; the
    synthetic clips, which have no rate, keep 8."""
    folder = _videos_at(tmp_path / "videos", [12, 12])
    dm = VideoDataModule(dataset="folder", root=str(folder), num_frames=3, size=12, frame_step=frame_step,
                         splits=(-1, 1, 0), split_by="clip", bins="uniform", num_bins=8)
    played = 12 / frame_step
    assert dm.spec.extra["fps"] == pytest.approx(played)
    fps, recorded = _pictures_fps(dm.spec, tmp_path / "pictures")
    assert fps == pytest.approx(played, abs=0.01) and recorded == pytest.approx(played)
    step = ", over frame_step 2" if frame_step == 2 else ""
    assert dm.splits_line(["train"]).endswith(f"; pictures play at {played:g} fps (its videos' 12 fps{step})")
    synthetic = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8)
    assert "fps" not in synthetic.spec.extra
    assert _pictures_fps(synthetic.spec, tmp_path / "synthetic") == (pytest.approx(8.0, abs=0.01), 8)
    synthetic.setup("fit")
    assert "fps" not in synthetic.splits_line(["train"])


def test_a_folder_of_mixed_rates_plays_at_their_median_and_an_npz_at_the_rate_given(tmp_path):
    """A folder of videos at 10, 12 and 30 fps plays at the median, 12, saying so once in the [data] line; an .npz,
    which records no rate, plays at 8 fps, the [data] line saying why and what to give, or at the fps given (the
    TinyVideos beach clips' 10, configs/video/beach.yaml)."""
    folder = _videos_at(tmp_path / "videos", [10, 30, 12])
    dm = VideoDataModule(dataset="folder", root=str(folder), num_frames=3, size=12, splits=(-1, 1, 0),
                         split_by="clip", bins="uniform", num_bins=8)
    assert dm.spec.extra["fps"] == pytest.approx(12)
    assert dm.splits_line(["train"]).endswith("; pictures play at 12 fps (the median of its videos' 10 to 30 fps)")
    np.savez(tmp_path / "v.npz", videos=moving_digits(4, num_frames=5, size=12, seed=0))
    npz = dict(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=5, size=12, splits=(-1, 1, 1),
               bins="uniform", num_bins=8)
    unknown = VideoDataModule(**npz)
    assert "fps" not in unknown.spec.extra
    unknown.setup("fit")
    assert unknown.splits_line(["train"]).endswith("; pictures play at 8 fps: an .npz records no frame rate (give "
                                                   "--data.init_args.fps, the frames a second of its videos)")
    given = VideoDataModule(**npz, fps=10)
    assert given.spec.extra["fps"] == 10
    given.setup("fit")
    assert given.splits_line(["train"]).endswith("; pictures play at 10 fps (data.init_args.fps=10)")


def test_a_prediction_without_an_input_of_its_own_rate_plays_at_the_training_clips_rate(tmp_path, capsys):
    """A prediction from S alone, or of an .npz input, wrote its videos at 8 fps, though the checkpoint's spec
    records the rate of the clips it was trained on: they play at that rate now, which the input's line says."""
    spec = VideoDataModule(dataset="folder", root=str(_videos_at(tmp_path / "videos", [12, 12])), num_frames=3,
                           size=12, splits=(-1, 1, 0), split_by="clip", bins="uniform", num_bins=8).spec
    domain = VideoDomain(gif=False)
    domain.spec = spec
    np.savez(tmp_path / "in.npz", videos=moving_digits(1, num_frames=5, size=12, seed=1))
    signal = domain.read_input(tmp_path / "in.npz", spec)[None]  # [1, 3, T, H, W]
    assert ("the file records no frame rate: the videos written play at 12 fps, the rate of the clips the model was "
            "trained on") in capsys.readouterr().out
    c = Completion(GRID, grid_positions(GRID)[:5].unsqueeze(0), flatten_grid(signal)[:, :5], signal, None, None, None,
                   signal)
    domain.write_prediction(c, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["fps"] == 12
    assert iio.immeta(tmp_path / "out" / "mean.mp4", plugin="FFMPEG")["fps"] == pytest.approx(12, abs=0.01)


def _animated(path: Path, delays: list[int]) -> Path:
    """An animated picture (GIF, APNG or WebP by suffix) of len(delays) 12x12 frames, each shown delays[i] ms."""
    frames = [Image.fromarray(f) for f in moving_digits(1, num_frames=len(delays), size=12, seed=1)[0]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=delays, loop=0)
    return path


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
@pytest.mark.parametrize("frame_step", [1, 2])
def test_animated_pictures_play_at_their_own_frame_delays(tmp_path, suffix, frame_step):
    """An animated WebP was read as its first frame alone (refused as "a still image"), and an animated PNG's videos
    played at 8 frames a second whatever its frame delays: a 25 fps APNG played three times slower. Both, as GIFs
    were, now play at the rate of their delays (over frame_step), the clip's frames counted."""
    path = _animated(tmp_path / f"in{suffix}", [40] * 5 + [1000] * 2)  # 25 fps, then a pause the clip never reaches
    spec = VideoDataModule(num_frames=3, size=12, frame_step=frame_step, bins="uniform", num_bins=8).spec
    domain = VideoDomain(gif=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the clip's frames are evenly shown: no word
        signal = domain.read_input(path, spec)[None]  # [1, 3, T, H, W]
    assert torch.equal(signal[0], load_user_video(tmp_path / f"in{suffix}", 3, (12, 12), frame_step))
    assert not torch.equal(signal[0, :, 0], signal[0, :, 1])  # frames of their own, not the first one repeated
    pos = grid_positions(GRID)[:5].unsqueeze(0)  # [1, 5, 3]
    c = Completion(GRID, pos, flatten_grid(signal)[:, :5], signal, None, None, None, signal)
    domain.write_prediction(c, tmp_path / "out")
    played = 25.0 / frame_step
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["fps"] == pytest.approx(played)
    assert iio.immeta(tmp_path / "out" / "mean.mp4", plugin="FFMPEG")["fps"] == pytest.approx(played, abs=0.01)


def test_an_input_with_transparent_pixels_says_they_are_put_on_white(tmp_path):
    """An animated PNG or GIF to complete with transparent pixels was put on white without a word, where a picture
    given to an images model says so: S drew white where the file had nothing."""
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    rgba = np.full((3, 12, 12, 4), 200, np.uint8)  # [F, H, W, 4]
    rgba[..., 3] = 255  # opaque
    rgba[:, :6, :, 3] = 0  # the top half transparent
    rgba[:, 6:, :, 0] = np.arange(3)[:, None, None] * 50  # frames that differ, which pillow keeps apart
    frames = [Image.fromarray(f, "RGBA") for f in rgba]
    frames[0].save(tmp_path / "half.png", save_all=True, append_images=frames[1:], duration=100)
    with pytest.warns(UserWarning, match=r"half.png: 50% of the pixels of its first 3 frames are \(partly\) "
                                         r"transparent, composited onto white$"):
        clip = VideoDomain().read_input(tmp_path / "half.png", spec)  # [3, T, H, W]
    assert (clip[:, :, :6] == 1).all()
    rgba[..., 3] = 255
    frames = [Image.fromarray(f, "RGBA") for f in rgba]
    frames[0].save(tmp_path / "opaque.png", save_all=True, append_images=frames[1:], duration=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VideoDomain().read_input(tmp_path / "opaque.png", spec)


def test_an_input_says_which_of_its_frames_and_what_part_of_them_the_model_reads(tmp_path, capsys):
    """make sample of a 250-frame 640x272 video completed its first 17 frames, the centre 272x272 of each, without a
    word: what was completed (0.68 s of a 10 s video, its sides cropped) showed only in gt.mp4."""
    spec = VideoDataModule(num_frames=4, size=12, bins="uniform", num_bins=8).spec
    path = write_video(moving_digits(1, num_frames=30, size=24, seed=0)[0][:, :, :, :].repeat(2, axis=2),
                       tmp_path / "wide.mp4", fps=10, upscale_to=None)  # [30, 24, 48, 3]
    VideoDomain().read_input(path, spec)
    assert capsys.readouterr().out == (f"[predict] {path}: frames 0-3 (0.4 s at 10 fps) of 48×24, read as the model's "
                                       "4 frames of 12×12 (their centre 24×24)\n")
    step = VideoDataModule(num_frames=4, size=12, frame_step=2, bins="uniform", num_bins=8).spec
    VideoDomain().read_input(path, step)
    assert capsys.readouterr().out == (f"[predict] {path}: frames 0-6, 2 apart (0.7 s at 10 fps) of 48×24, read as "
                                       "the model's 4 frames of 12×12 (their centre 24×24)\n")


def test_an_animated_picture_of_uneven_frame_delays_is_read_with_a_warning(tmp_path):
    """Frames shown for very different times have no one rate: the videos play at the mean, which is said."""
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    path = _animated(tmp_path / "uneven.webp", [40, 40, 520, 40])
    with pytest.warns(UserWarning, match=r"uneven.webp: its first 3 frames are shown for 40 to 520 ms each, not at "
                                         r"one rate: the clip takes them as evenly spaced frames, and the predicted "
                                         r"videos play at their mean rate, 5 fps$"):
        VideoDomain().read_input(path, spec)
    domain = VideoDomain()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a GIF's delays of 0 and 10 ms are the 100 ms a browser shows them for
        domain.read_input(_animated(tmp_path / "browser.gif", [0, 100, 10, 100]), spec)
    assert domain.input_fps == 10.0


def test_an_animated_picture_s_frame_delays_are_read_once_to_predict(tmp_path, monkeypatch, settled):
    """Predicting from a GIF read its frame delays twice, for its rate and again to ask whether they are uneven: a
    pass over the first frames of the file each. They are read once, and again once the file is rewritten."""
    import sys

    opened = []
    real = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(sys._getframe(1).f_code.co_name)
                        or real(fp, *a, **k))
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    path = _animated(tmp_path / "in.gif", [40] * 4)
    VideoDomain().read_input(path, spec)
    assert opened.count("frame_delays") == 1
    _animated(path, [100] * 4)
    opened.clear()
    domain = VideoDomain()
    domain.read_input(path, spec)
    assert opened.count("frame_delays") == 1 and domain.input_fps == 10.0


@pytest.mark.parametrize("suffix", [".gif", ".npz"])
def test_a_prediction_at_a_finer_resolution_is_scored_against_the_input_at_that_resolution(tmp_path, suffix):
    """With --resolution above the model's frames, PSNR/SSIM compared the prediction with the model's 12x12 clip
    upscaled: a prediction that only upscaled that clip scored 100 dB, and the input itself at 24x24 less. The input
    is now read again at the grid's size; a grid larger than the input's frames is not scored, and summary.json says
    why."""
    frames = moving_digits(1, num_frames=3, size=24, seed=2)[0]  # [3, 24, 24, 3]
    path = tmp_path / f"in{suffix}"
    if suffix == ".npz":
        np.savez(path, videos=frames[None])
    else:
        write_video(frames, path, upscale_to=None)
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    domain = VideoDomain(gif=False)
    fine = (3, 24, 24)
    truth = load_user_video(path, 3, fine[1:])[None]  # [1, 3, T, 24, 24], the input at the grid's size

    def predict_at(grid: tuple[int, int, int], mean: torch.Tensor | None, out: str) -> dict:
        """summary.json of a prediction on ``grid`` whose mean is ``mean`` [1, 3, *grid] (None: the model's clip
        read on the grid, upscaled)."""
        signal = domain.read_input(path, spec)[None]  # [1, 3, T, 12, 12]
        mean = on_grid(signal[0], grid)[None] if mean is None else mean  # [1, 3, *grid]
        pos = grid_positions(spec.grid_shape)[:5].unsqueeze(0)  # [1, 5, 3]
        c = Completion(grid, pos, flatten_grid(signal)[:, :5], mean, None, None, None, signal)
        domain.write_prediction(c, tmp_path / out)
        return json.loads((tmp_path / out / "summary.json").read_text())

    assert predict_at(fine, truth, "truth")["psnr_vs_input"]["mean"] == 100.0  # the input itself is perfect
    scores = predict_at(fine, None, "upscaled")
    assert scores["psnr_vs_input"]["mean"] < 40 and scores["ssim_vs_input"]["mean"] < 0.99  # the model's clip is not
    assert scores["vs_input"] == f"in{suffix} read at the grid's 24×24"
    with pytest.warns(UserWarning, match=rf"^no PSNR/SSIM against the input: in{suffix}'s frames are 24×24, fewer "
                                         r"pixels than the 36×36 grid, on which the input would be upscaled "
                                         r"\(--resolution 24 or less keeps to them\)$"):
        summary = predict_at((3, 36, 36), None, "coarse")
    assert "psnr_vs_input" not in summary and "ssim_vs_input" not in summary
    assert summary["vs_input"].startswith(f"not scored: in{suffix}'s frames are 24×24, fewer pixels than the 36×36")
    gt = read_video_file(tmp_path / "coarse" / "gt.mp4")  # still shown, upscaled
    assert gt.shape[:3] == (3, 36 * 4, 36 * 4)  # enlarged 4 times to reach 128 pixels


def test_a_finer_resolution_scores_the_clip_input_clip_picked(tmp_path):
    """The input read again at a finer --resolution is the clip input_clip picked of an .npz, not its first; and
    input_clip given with --context rows alone (no .npz to pick from) is refused, as for a file of one video."""
    clips = moving_digits(3, num_frames=3, size=24, seed=4)  # [3, T, 24, 24, 3]
    path = tmp_path / "three.npz"
    np.savez(path, videos=clips)
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    domain = VideoDomain(gif=False, input_clip=2)
    fine = (3, 24, 24)
    pos = grid_positions(spec.grid_shape)[:5].unsqueeze(0)  # [1, 5, 3]
    for clip, perfect in ((2, True), (0, False)):
        signal = domain.read_input(path, spec)[None]  # [1, 3, T, 12, 12]; a prediction uses up what it read
        mean = load_user_video(path, 3, fine[1:], clip=clip)[None]  # [1, 3, T, 24, 24]
        c = Completion(fine, pos, flatten_grid(signal)[:, :5], mean, None, None, None, signal)
        domain.write_prediction(c, tmp_path / f"clip{clip}")
        psnr = json.loads((tmp_path / f"clip{clip}" / "summary.json").read_text())["psnr_vs_input"]["mean"]
        assert (psnr == 100.0) is perfect, (clip, psnr)
    rows = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.5, 0.5]])  # [1, 6]: (t, y, x, r, g, b)
    with pytest.raises(ValueError, match=r"^--model\.domain\.init_args\.input_clip picks the clip of an \.npz --input "
                                         r"to complete, but --context gives S as rows with no such input: leave "
                                         r"input_clip out$"):
        VideoDomain(input_clip=1).context_from_rows(rows, spec, "--context")
    assert VideoDomain().context_from_rows(rows, spec, "--context")[0].shape == (1, 3)


def test_a_prediction_reads_input_clip_of_its_own_input_not_an_earlier_one_s(tmp_path):
    """What read_input read of an .npz was kept until the prediction's record used it up: a domain used again after
    a prediction that ended before its record saw that clip, so --context rows alone with input_clip were not
    refused, and a prediction of rows alone recorded the clip and summary.json the file it did not read."""
    from pixeltransformer.predict import PredictOptions, prediction_item

    np.savez(tmp_path / "three.npz", videos=moving_digits(3, num_frames=3, size=12, seed=0))
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    npz, rows = PredictOptions(input=str(tmp_path / "three.npz")), PredictOptions(context="[[0, 0, 0, 0.5, 0.5, 0.5]]")
    picked = VideoDomain(gif=False, input_clip=1)
    assert "signal" in prediction_item(picked, spec, npz)  # no record follows: the completion failed, say
    with pytest.raises(ValueError, match=r"^--model\.domain\.init_args\.input_clip picks the clip of an \.npz --input "
                                         r"to complete, but --context gives S as rows with no such input: leave "
                                         r"input_clip out$"):
        prediction_item(picked, spec, rows)
    domain = VideoDomain(gif=False)
    with pytest.warns(UserWarning, match="holds 3 clips: completing the first"):
        prediction_item(domain, spec, npz)
    prediction_item(domain, spec, rows)
    assert domain.input_options() == {}  # no clip of the .npz
    write_video(moving_digits(1, num_frames=3, size=12, seed=1)[0], tmp_path / "ten.mp4", fps=10, upscale_to=None)
    prediction_item(domain, spec, PredictOptions(input=str(tmp_path / "ten.mp4")))
    assert domain.input_fps == 10.0
    item = prediction_item(domain, spec, rows)
    c = Completion(spec.grid_shape, item["ctx_pos"][None], item["ctx_val"][None], torch.zeros(1, 3, *spec.grid_shape),
                   None, None, None)
    domain.write_prediction(c, tmp_path / "rows")
    summary = json.loads((tmp_path / "rows" / "summary.json").read_text())
    assert "input" not in summary and summary["fps"] == 8.0  # not the mp4's 10 fps: no file's rate but the data's


def test_a_prediction_s_summary_says_which_frames_of_its_input_it_shows(tmp_path):
    """Which frames of the input a prediction shows (from which clip of an .npz, of what size, what crop) was said on
    the console alone: summary.json, kept beside the videos, did not say what they show."""
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    np.savez(tmp_path / "two.npz", videos=moving_digits(2, num_frames=4, size=16, seed=0))
    domain = VideoDomain()
    with pytest.warns(UserWarning, match="holds 2 clips: completing the first"):
        signal = domain.read_input(tmp_path / "two.npz", spec)[None]  # [1, 3, 3, 12, 12]
    pos = grid_positions(spec.grid_shape)[:5].unsqueeze(0)  # [1, 5, 3]
    c = Completion(spec.grid_shape, pos, flatten_grid(signal)[:, :5], signal, None, None, None, signal)
    domain.write_prediction(c, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"] == (f"{tmp_path / 'two.npz'}: clip 0 of 2, frames 0-2 of 16×16 (the file records no frame "
                                "rate: the videos written play at 8 fps), read as the model's 3 frames of 12×12")
    assert summary["units"] == "psnr in dB, ssim of no unit (1: identical), per frame, averaged over the frames"


def test_an_input_smaller_than_the_model_s_frames_is_read_with_a_warning(tmp_path):
    """As a picture smaller than an image model's: S would come from pixels that upscaling made up, without a word."""
    spec = VideoDataModule(num_frames=3, size=12, bins="uniform", num_bins=8).spec
    small = write_video(moving_digits(1, num_frames=4, size=8, seed=0)[0], tmp_path / "small.mp4", upscale_to=None)
    with pytest.warns(UserWarning, match=r"small.mp4: its frames of 8×8 are smaller than the model's 12×12, so they "
                                         r"were upscaled to interpolated pixels, and S is drawn from them$"):
        VideoDomain().read_input(small, spec)
    strip = moving_digits(1, num_frames=4, size=10, seed=0)[0].reshape(40, 10, 3)  # 4 frames of 10x10 stacked
    iio.imwrite(tmp_path / "strip.png", strip)
    with pytest.warns(UserWarning, match=r"strip.png: its frames of 10×10 are smaller"):
        VideoDomain().read_input(tmp_path / "strip.png", spec)
    np.savez(tmp_path / "clip.npz", videos=moving_digits(1, num_frames=4, size=8, seed=0))  # an .npz said nothing
    domain = VideoDomain()
    with pytest.warns(UserWarning, match=r"clip.npz: its frames of 8×8 are smaller"):
        domain.read_input(tmp_path / "clip.npz", spec)
    landscape = np.zeros((8, 16), np.uint8)
    landscape[:, :8] = 255  # [8, 16]: the left half white
    Image.fromarray(landscape).save(tmp_path / "landscape.png")
    with pytest.warns(UserWarning, match=r"landscape.png: a 16×8 mask for the 8×8 input, of another shape"):
        domain.read_mask(tmp_path / "landscape.png", spec)  # the .npz's frames' size, from its header, is the input's
    wide = write_video(moving_digits(1, num_frames=4, size=16, seed=0)[0], tmp_path / "wide.gif", upscale_to=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # frames as large as the model's, or larger: read without a word
        VideoDomain().read_input(wide, spec)


def test_context_from_mask_and_predict_grid():
    signal = clips(1)[0]  # [3, T, H, W]
    mask = torch.zeros(GRID, dtype=torch.bool)
    mask[:, :2] = True  # 2 rows of every frame: 72 pixels
    pos, val = VideoDomain().context_from_mask(signal, mask)
    assert pos.shape == val.shape == (72, 3)
    assert torch.allclose(val, flatten_grid(signal[None])[0, mask.flatten()], atol=1e-6)  # the clip's own pixels
    with pytest.warns(UserWarning, match="observes 72 pixels; using a random 10"):
        few_pos, few_val = VideoDomain(max_context=10).context_from_mask(signal, mask)
    rows = [int((pos == p).all(1).nonzero()) for p in few_pos]  # each kept pixel is one of the mask's, once
    assert len(set(rows)) == 10 and torch.equal(few_val, val[rows]) and rows == sorted(rows)
    spec = VideoDataModule(num_frames=5, size=(12, 16), bins="uniform", num_bins=8).spec
    assert VideoDomain().predict_grid(spec, None) == (5, 12, 16)
    assert VideoDomain().predict_grid(spec, 24) == (5, 24, 32)  # the shorter side is 24, the frames stay 5


def test_pictures_at_a_resolution_keep_the_clips_frames_and_scale_their_shorter_side_as_predict_does(tmp_path):
    """The Pictures callback's resolution was taken on every axis: `resolution: 8` on 3-frame 12x16 clips drew 8
    frames of 8x8, where `predict --resolution 8` keeps the 3 frames and scales the shorter side to 8."""
    from pixeltransformer.callbacks import Pictures

    spec = SignalSpec(domain="video", dataset="toy", grid_shape=(3, 12, 16), val_dims=3, val_range=(0.0, 1.0),
                      num_bins=8)
    module = PixelTransformerModule(spec=spec, domain=VideoDomain(gif=False), net=dict(
        width=16, ffn=32, heads=2, encoder_layers=1, decoder_layers=1)).eval()
    grids = []

    class Drawn(Exception):
        pass

    def complete(ctx_pos, ctx_val, grid_shape, **kwargs):
        grids.append(tuple(grid_shape))
        raise Drawn

    module.complete = complete
    signal = torch.rand(1, 3, *spec.grid_shape)  # [B, V, T, H, W]
    pictures = Pictures(num_examples=1, levels=(4,), num_samples=1, resolution=8)
    with pytest.raises(Drawn):
        pictures.draw(module, signal, tmp_path)
    assert grids == [module.domain.predict_grid(spec, 8)] == [(3, 8, 11)]
