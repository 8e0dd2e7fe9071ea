"""The SDF domain through the core's contract: pictures after validation and at the end of a test, the |S| sweep's
shape metrics (metrics.json), predict through the CLI, the RBF baseline."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
import yaml

from domains.sdf.baselines import rbf_interpolate
from domains.sdf.data import SDFDataModule
from domains.sdf.domain import GRID_UNITS, SdfDomain, voxel_units
from domains.sdf.metrics import mesh_volume, occupancy_iou
from domains.sdf.procedural import grid_margin
from domains.sdf.surface import sdf_to_mesh
from domains.sdf.voxels import voxel_scale
from pixeltransformer.cli import main
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.inference import Completion, observed_lookup
from pixeltransformer.sets import draw_context, grid_positions, item_seed, nearest_neighbour_fill, read_signal
from pixeltransformer.signal import SignalSpec
from sdf_grids import border_values
from wrote_lines import unnamed_files

RES = 12  # grids in these tests: 1728 points, so everything that decodes the whole grid stays fast
T = 0.1
LEVELS = [4, 16, 64]
GRID_FRAME = {"centre": [0.0, 0.0, 0.0], "scale": 1.0, "units": GRID_UNITS}  # prediction.json's input_frame of a grid


def tiny_fit_config(root: Path, **trainer) -> Path:
    """A 2-step tiny model's fit config with the pictures callback on (one validation at step 2), written into root;
    trainer: settings over its trainer's (W&B off)."""
    config = {
        "model": {"domain": {"class_path": "domains.sdf.domain.SdfDomain", "init_args": {"chamfer_points": 500}},
                  "net": {"width": 64, "encoder_layers": 2, "decoder_layers": 2, "heads": 4, "ffn": 128},
                  "sets": {"init_args": {"min_context": 4, "max_context": 16, "num_queries": 16}},
                  "val_levels": [4], "optim": {"warmup_steps": 1}},
        "data": {"class_path": "domains.sdf.data.SDFDataModule",
                 "init_args": {"dataset": "procedural", "resolution": RES, "truncation": T, "num_shapes": [6, 2, 2],
                               "batch_size": 2, "cache_dir": str(root / "cache")}},
        "trainer": {"max_steps": 2, "val_check_interval": 2, "logger": False,
                    "enable_progress_bar": False, "enable_model_summary": False, "callbacks": [
                        {"class_path": "pixeltransformer.callbacks.Pictures",
                         "init_args": {"num_examples": 1, "levels": [8], "num_samples": 2, "n_autoregressive": 3}},
                        {"class_path": "pixeltransformer.evaluation.SweepEvaluation",
                         "init_args": {"levels": LEVELS, "grid_points": False, "num_samples": 1,
                                       "n_autoregressive": 2}}], **trainer},
        "checkpoint": {"every_n_train_steps": 2},
    }
    cfg = root / "sdf.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step tiny model fitted through the CLI (tiny_fit_config)."""
    root = tmp_path_factory.mktemp("sdf_run")
    cfg = tiny_fit_config(root)
    cli = main(["fit", "--config", str(cfg), "--run_root", str(root / "runs"), "--run_name", "tiny"])
    run = root / "runs" / "sdf" / "tiny"
    return run, cfg, run / "checkpoints" / "last.ckpt", cli.datamodule


# ---- pictures and the sweep through the CLI ------------------------------------------------------------


def test_pictures_after_validation_show_the_val_shapes(trained):
    run, _, _, dm = trained
    out = run / "pictures" / "step000002"
    assert (out / "shape0_S8_figure.png").stat().st_size > 5_000
    for name in ("mean", "sample_1", "sample_2", "prob"):
        for fmt in ("glb", "obj"):
            assert (out / f"shape0_S8_{name}.{fmt}").is_file(), (name, fmt)
    assert not (out / "shape0_S8_sample_3.glb").exists() and not (out / "shape1_S8_figure.png").exists()
    assert not (out / "shape0_S8_gt.glb").exists() and (out.parent / "shape0_gt.obj").is_file()  # once, beside
    gt = trimesh.load(out.parent / "shape0_gt.glb", force="mesh")
    truth = dm.fixed_examples("val", 1)["signal"][0, 0].numpy()
    assert len(gt.faces) == len(sdf_to_mesh(truth).faces) > 0  # the exported truth is the val shape's level set


def logged_media(received: list[dict], key: str) -> list[list[str]]:
    """The captions of the media logged under key, one list per Run.log call that logged it."""
    return [[m._caption for m in (value if isinstance(value, list) else [value])]
            for value in (data[key] for data in received if key in data)]


def test_the_ground_truth_mesh_goes_to_wandb_once_and_the_completions_at_every_validation(tmp_path, monkeypatch):
    """The val shape's ground-truth mesh, which never changes during a fit, was uploaded to W&B at every validation
    (the first of each shape's meshes). It is logged once, at the fit's first validation, under a key of its own
    (once for an evaluation too); the samples, mean and P(inside) meshes and the figure at every validation. Its
    caption said "weights of step 2", though no weights drew it: it says it is the data alone."""
    import wandb

    from tests.cli.wandb_record import record_wandb_logs

    received = record_wandb_logs(monkeypatch, tmp_path)
    logger = {"class_path": "lightning.pytorch.loggers.WandbLogger",
              "init_args": {"project": "pixeltransformer", "offline": True, "log_model": False}}
    cfg = tiny_fit_config(tmp_path, max_steps=4, logger=logger)
    main(["fit", "--config", str(cfg), "--run_root", str(tmp_path / "runs"), "--run_name", "w"])
    wandb.finish()
    assert logged_media(received, "val/shape0_gt_mesh") == [["shape0_gt.glb: val split, the data alone"]]
    completions = ("mean", "sample_1", "sample_2", "prob")
    assert logged_media(received, "val/shape0_S8_meshes") == [
        [f"shape0_S8_{name}.glb: val split, weights of step {step}" for name in completions] for step in (2, 4)]
    assert len(logged_media(received, "val/sdf_samples")) == 2
    run = tmp_path / "runs" / "sdf" / "w"
    assert (run / "pictures" / "shape0_gt.glb").is_file()  # its files written once, beside the step folders
    received.clear()
    main(["test", "--config", str(cfg), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert logged_media(received, "eval/shape0_gt_mesh") == [["shape0_gt.glb: test split, the data alone"]]
    assert len(logged_media(received, "eval/shape0_S8_meshes")[0]) == 4


def test_test_writes_shape_metrics_and_test_pictures(trained, capsys):
    run, cfg, ckpt, dm = trained
    capsys.readouterr()
    main(["test", "--config", str(cfg), "--ckpt_path", str(ckpt)])
    assert unnamed_files(capsys.readouterr().out, run / "eval") == []  # the .obj meshes beside the logged .glb too
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    rows = metrics["rows"]
    assert [r["num_context"] for r in rows] == LEVELS
    for row in rows:
        for key in ("nll", "mse", "rbf_mse", *(f"{m}_{x}" for m in ("iou", "chamfer", "empty")
                                              for x in ("mean", "prob", "sample", "nn", "rbf"))):
            assert key in row, key
        for key in ("iou_mean", "iou_prob", "iou_sample", "iou_nn", "iou_rbf"):
            assert isinstance(row[key], float), key
    assert {"iou_mean_gain", "iou_mean_beats_nn_at", "iou_model_beats_baselines_at"} <= set(metrics)
    # the sweep's contexts are continuous positions drawn per test shape: its nearest-neighbour IoU is the one
    # recomputed here from the same draws
    signal = dm.fixed_examples("test", 2)["signal"]  # [2, 1, R, R, R]
    for row in rows:
        k = row["num_context"]
        seeds = [item_seed(1, i, k) for i in range(2)]  # the sweep's: salt seed + 1, key = index in the split
        pos, val = draw_context(signal, k, seeds, on_grid=False)  # [2, K, 3], [2, K, 1]
        nn = nearest_neighbour_fill(pos, val, grid_positions((RES,) * 3).expand(2, -1, -1))  # [2, N, 1]
        ious = [occupancy_iou(nn[i, :, 0].view((RES,) * 3).numpy(), signal[i, 0].numpy()) for i in range(2)]
        assert row["iou_nn"] == pytest.approx(np.mean(ious), abs=1e-6), k
    pictures = run / "eval" / "pictures"
    assert (pictures / "shape0_S8_figure.png").stat().st_size > 5_000 and (pictures / "shape0_S8_prob.glb").is_file()
    assert (run / "eval" / "metrics_vs_context.png").stat().st_size > 10_000


# ---- shape metrics on analytic spheres ---------------------------------------------------------------


def peaked_params(dist: BinnedGaussian, values: torch.Tensor) -> torch.Tensor:
    """Distribution parameters whose every bin sits at the given values [B, N, 1] with a tiny spread, so P(v < 0)
    is 1 where the value is negative and 0 where positive (logits, offsets, raw scales; no anchor)."""
    offsets = (values - dist.centres[:, 0]) / dist.unit  # [B, N, NB]
    return torch.cat([torch.zeros_like(offsets), offsets, torch.full_like(offsets, -6.0)], dim=-1)  # [B, N, 3 NB]


def sphere_item(radii: list[float], k: int = 32, t: float = T, samples: torch.Tensor | None = None) -> SweepItem:
    """A SweepItem on a 24^3 grid: every truth is a sphere of radius 0.5; shape b's 'model mean' one of radius
    radii[b], both truncated at t."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(24,) * 3, val_dims=1, val_range=(-t, t),
                      num_bins=8, extra={"truncation": t})
    b = len(radii)
    pos = grid_positions(spec.grid_shape).expand(b, -1, -1)  # [B, N, 3]
    truth = (pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-t, t)  # [B, N, 1]
    pred = (pos.norm(dim=-1, keepdim=True) - torch.tensor(radii).view(b, 1, 1)).clamp(-t, t)  # [B, N, 1]
    signal = truth.transpose(1, 2).reshape(b, 1, *spec.grid_shape)  # [B, 1, R, R, R]
    gen = torch.Generator().manual_seed(0)
    ctx_pos = torch.rand(b, k, 3, generator=gen) * 2 - 1  # [B, K, 3]
    ctx_val = (ctx_pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-t, t)  # [B, K, 1]
    n = pos.shape[1]
    dist = BinnedGaussian.from_spec(spec)
    return SweepItem(spec, signal, k, ctx_pos, ctx_val, pos, truth, torch.ones(b, n, dtype=torch.bool),
                     peaked_params(dist, pred), pred, nearest_neighbour_fill(ctx_pos, ctx_val, pos), samples, True,
                     torch.zeros(b, n), {"signal": signal}, dist)


def test_shape_metrics_on_analytic_spheres():
    domain = SdfDomain(chamfer_points=4000)
    exact = domain.metrics(sphere_item([0.5]))
    assert exact["iou_mean"].item() == pytest.approx(1.0)
    assert exact["iou_prob"].item() == pytest.approx(1.0)
    # identical surfaces: only the sampling gap is left, about half the spacing of 4000 points on the sphere
    assert exact["chamfer_mean"].item() < 0.02
    smaller = domain.metrics(sphere_item([0.4]))
    assert smaller["iou_mean"].item() == pytest.approx(0.4**3 / 0.5**3, abs=0.04)  # nested balls
    assert smaller["iou_prob"].item() == pytest.approx(smaller["iou_mean"].item(), abs=0.02)
    assert smaller["chamfer_mean"].item() == pytest.approx(0.1, abs=0.01)  # concentric spheres 0.1 apart
    for name in ("nn", "rbf"):
        assert exact[f"iou_{name}"].item() < 0.95, name  # 32 truncated distances do not pin the ball down
    # Untruncated, 128 random distances pin a sphere down far better by smooth interpolation than by nearest
    # neighbours. (With 32 only ~2 fall inside the ball, too few for either baseline.)
    wide = domain.metrics(sphere_item([0.5], k=128, t=1.0))
    assert wide["iou_rbf"].item() > 0.9 and wide["iou_rbf"].item() > wide["iou_nn"].item() + 0.2
    assert exact["empty_mean"].item() == 0.0 and smaller["empty_mean"].item() == 0.0
    vanished = domain.metrics(sphere_item([0.0]))  # a predicted ball of radius 0 is no shape at all
    assert vanished["empty_mean"].item() == 1.0 and vanished["iou_mean"].item() == 0.0
    assert np.isnan(vanished["chamfer_mean"].item())


def test_sample_metrics_skip_shapes_that_were_not_sampled():
    base = sphere_item([0.5, 0.5])
    drawn = base.mean.unsqueeze(1).repeat(1, 2, 1, 1)  # [2, S=2, N, 1]: both draws equal the truth
    drawn[0, 1] = (grid_positions((24,) * 3).norm(dim=-1, keepdim=True) - 0.4).clamp(-T, T)  # one draw smaller
    drawn[1] = float("nan")  # shape 1 was not sampled (SweepEvaluation's sample_items)
    out = SdfDomain(rbf=False, chamfer_points=500).metrics(sphere_item([0.5, 0.5], samples=drawn))
    assert out["iou_sample"][0].item() == pytest.approx((1 + 0.4**3 / 0.5**3) / 2, abs=0.03)  # mean over draws
    assert torch.isnan(out["iou_sample"][1]) and torch.isnan(out["empty_sample"][1])
    assert out["iou_mean"].tolist() == pytest.approx([1.0, 1.0]) and "iou_rbf" not in out


def polyharmonic_fit(ctx: np.ndarray, vals: np.ndarray, qry: np.ndarray) -> np.ndarray:
    """The textbook biharmonic spline in numpy: f(x) = sum_i w_i |x - x_i| + affine part, interpolating S exactly."""
    k = len(ctx)
    system = np.zeros((k + 4, k + 4))
    system[:k, :k] = np.linalg.norm(ctx[:, None] - ctx[None], axis=-1)
    affine = np.hstack([np.ones((k, 1)), ctx])  # [K, 4]
    system[:k, k:], system[k:, :k] = affine, affine.T
    coef = np.linalg.solve(system, np.concatenate([vals, np.zeros(4)]))
    radial = np.linalg.norm(qry[:, None] - ctx[None], axis=-1)  # [Q, K]
    return radial @ coef[:k] + np.hstack([np.ones((len(qry), 1)), qry]) @ coef[k:]  # [Q]


def test_rbf_mse_scores_the_queries_not_in_s_as_mse_and_nn_mse_do():
    """With S at grid points the RBF fill reproduces S's own values; its MSE, like the model's and the NN fill's, is
    the mean over the queries not in S (it averaged every grid point, S's exact ones too, which flattered it)."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(12,) * 3, val_dims=1, val_range=(-1.0, 1.0),
                      num_bins=8, extra={"truncation": 1.0})
    pos = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, N, 3]
    truth = (pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-1.0, 1.0)  # [1, N, 1]: a sphere's SDF, truncated at 1
    signal = truth.transpose(1, 2).reshape(1, 1, *spec.grid_shape)  # [1, 1, R, R, R]
    n = pos.shape[1]
    ctx_pos, ctx_val = draw_context(signal, 300, [item_seed(1, 0, 300)])  # [1, K, 3], [1, K, 1] at grid points
    observed = (torch.cdist(pos, ctx_pos) < 1e-6).any(-1)  # [1, N]
    dist = BinnedGaussian.from_spec(spec)
    item = SweepItem(spec, signal, 300, ctx_pos, ctx_val, pos, truth, ~observed, peaked_params(dist, truth), truth,
                     nearest_neighbour_fill(ctx_pos, ctx_val, pos), None, True, torch.zeros(1, n), {"signal": signal},
                     dist)
    got = SdfDomain(chamfer_points=200).metrics(item)["rbf_mse"].item()
    fill = polyharmonic_fit(ctx_pos[0].double().numpy(), ctx_val[0, :, 0].double().numpy(), pos[0].double().numpy())
    err = (np.clip(fill, -1.0, 1.0) - truth[0, :, 0].double().numpy()) ** 2  # [N]
    held = ~observed[0].numpy()
    assert err[~held].max() < 1e-8 and held.sum() < n  # S's own points are exact: they must not count
    assert got == pytest.approx(err[held].mean(), rel=1e-4)


def test_the_sweeps_mean_keeps_s_where_s_lies_on_grid_points():
    """The pictures' and predict's mean (complete) shows S's values at the grid points S lies on; the sweep scored the
    model's mean there instead. S = a ball's inside grid points and a 'model mean' of empty space (+t everywhere): the
    mean as the pictures show it is the ball, to the grid point."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T),
                      num_bins=8, extra={"truncation": T})
    pos = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, N, 3]
    truth = (pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-T, T)  # [1, N, 1]: a ball of radius 0.5
    signal = truth.transpose(1, 2).reshape(1, 1, *spec.grid_shape)  # [1, 1, R, R, R]
    inside = truth[0, :, 0] < 0  # [N]
    ctx_pos, ctx_val = pos[:, inside], truth[:, inside]  # [1, K, 3], [1, K, 1]: S exactly on grid points
    observed, _ = observed_lookup(ctx_pos, ctx_val, pos)  # [1, N], as the sweep finds them
    empty = torch.full_like(truth, T)  # [1, N, 1]: the model's mean says "outside" everywhere
    dist = BinnedGaussian.from_spec(spec)
    n = pos.shape[1]
    item = SweepItem(spec, signal, int(inside.sum()), ctx_pos, ctx_val, pos, truth, ~observed,
                     peaked_params(dist, empty), empty, nearest_neighbour_fill(ctx_pos, ctx_val, pos), None, True,
                     torch.zeros(1, n), {"signal": signal}, dist)
    out = SdfDomain(rbf=False, chamfer_points=500).metrics(item)
    assert out["empty_mean"].item() == 0.0 and out["iou_mean"].item() == pytest.approx(1.0)
    # P(inside | S) is S's own side at S's grid points: the P(SDF < 0 | S) > 0.5 shape is the ball too
    assert torch.equal(item.prob_below(0.0), inside.float().unsqueeze(0))
    assert out["empty_prob"].item() == 0.0 and out["iou_prob"].item() == pytest.approx(1.0)


def test_the_pictures_probability_of_inside_keeps_s_where_s_lies_on_grid_points():
    """Completion.prob_below (the pictures' and predict's P(SDF < 0 | S) > 0.5 shape) took the model's CDF at S's
    own grid points, while the mean beside it shows S's values there. A model that says "outside" everywhere and S =
    a ball's inside grid points: P(inside) is 1 on the ball, the model's 0 elsewhere."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(12,) * 3, val_dims=1, val_range=(-T, T),
                      num_bins=8, extra={"truncation": T})
    pos = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, N, 3]
    truth = (pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-T, T)  # [1, N, 1]
    inside = truth[0, :, 0] < 0  # [N]
    dist = BinnedGaussian.from_spec(spec)
    empty = torch.full_like(truth, T)  # [1, N, 1]
    mean = torch.where(inside.view(1, -1, 1), truth, empty).transpose(1, 2).reshape(1, 1, *spec.grid_shape)
    c = Completion(spec.grid_shape, pos[:, inside], truth[:, inside], mean, None, peaked_params(dist, empty), dist)
    assert torch.equal(c.prob_below(0.0), inside.float().reshape(1, *spec.grid_shape))


def test_the_pictures_write_each_shapes_truth_once_beside_their_step_folders(tmp_path):
    """The val shapes' ground-truth meshes, which never change during a fit, were written into every
    pictures/step<N>/ folder, and there once per |S| level (shape0_S4_gt.glb, shape0_S8_gt.glb): formats x levels x
    shapes copies of one mesh at each validation. Each shape's truth is written once, pictures/shape<i>_gt.<format>,
    the one W&B is given; an evaluation's pictures folder holds it alike."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(12,) * 3, val_dims=1, val_range=(-T, T),
                      num_bins=8, extra={"truncation": T})
    pos = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, N, 3]
    truth = torch.cat([(pos.norm(dim=-1, keepdim=True) - r).clamp(-T, T) for r in (0.4, 0.7)])  # [2, N, 1]: balls
    signal = truth.transpose(1, 2).reshape(2, 1, *spec.grid_shape)  # [2, 1, R, R, R]
    dist = BinnedGaussian.from_spec(spec)
    completions = {str(k): Completion(spec.grid_shape, *draw_context(signal, k, [0, 1]), signal, None,
                                      peaked_params(dist, truth), dist, signal=signal) for k in (4, 8)}
    domain = SdfDomain(chamfer_points=100)
    domain.spec = spec
    root = tmp_path / "pictures"
    for step in (2, 4):
        files = domain.pictures(completions, root, f"_step{step:06d}")
    assert sorted(p.name for p in root.iterdir()) == [
        "shape0_gt.glb", "shape0_gt.obj", "shape1_gt.glb", "shape1_gt.obj", "step000002", "step000004"]
    assert not [p.name for p in root.glob("step*/*_gt.*")]
    assert (files["shape0_gt_mesh"], files["shape1_gt_mesh"]) == (root / "shape0_gt.glb", root / "shape1_gt.glb")
    written = trimesh.load(root / "shape1_gt.glb", force="mesh")
    assert len(written.faces) == len(sdf_to_mesh(signal[1, 0].numpy()).faces) > 0  # the second ball's level set
    assert len(files["sdf_samples"]) == 4 and all(p.parent == root / "step000004" for p in files["sdf_samples"])
    files = domain.pictures(completions, tmp_path / "eval")  # a test's: its folder itself
    assert files["shape0_gt_mesh"] == tmp_path / "eval" / "shape0_gt.glb"
    assert sorted(p.name for p in (tmp_path / "eval").glob("*_gt.*")) == [
        "shape0_gt.glb", "shape0_gt.obj", "shape1_gt.glb", "shape1_gt.obj"]


# ---- predict through the CLI ------------------------------------------------------------------------------


def test_predict_from_a_grid_writes_meshes_figure_and_context(trained, tmp_path):
    _, cfg, ckpt, dm = trained
    truth = dm.fixed_examples("test", 1)["signal"][0, 0]  # [R, R, R]
    grid = tmp_path / "shape.npy"
    np.save(grid, truth.numpy())
    out = tmp_path / "out"
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--input", str(grid), "--out", str(out),
          "--num_context", "10", "--num_samples", "2", "--n_autoregressive", "3", "--resolution", "16"])
    record = json.loads((out / "prediction.json").read_text())
    assert {"mean.glb", "mean.obj", "sample_1.glb", "sample_2.obj", "gt.glb", "prob.glb", "figure.png", "mean.png",
            "prob.png", "context.json", "mean_sdf.npy"} <= set(record["files"])
    assert "sample_3.glb" not in record["files"] and all((out / name).is_file() for name in record["files"])
    assert np.load(out / "mean_sdf.npy").shape == (16, 16, 16)  # --resolution sets the output grid
    ctx = torch.tensor(json.loads((out / "context.json").read_text()))  # [K, 4]
    assert ctx.shape == (10, 4) and ctx[:, :3].abs().max() <= 1
    torch.testing.assert_close(ctx, torch.tensor(record["context"]))
    # S is the input's SDF read trilinearly at continuous positions
    torch.testing.assert_close(ctx[:, 3:], read_signal(truth[None, None], ctx[None, :, :3])[0])
    assert len(trimesh.load(out / "gt.glb", force="mesh").faces) == len(sdf_to_mesh(truth).faces)
    # as the model's training files were; a grid has no units but its own: the cube
    assert record["input_options"] == {"input_up_axis": None, "input_frame": GRID_FRAME}
    # the same shape in a z-up file, turned by the domain's option: the same S, and prediction.json says how it was read
    lying = tmp_path / "lying.npy"
    np.save(lying, np.ascontiguousarray(np.flip(truth.numpy().swapaxes(-1, -2), axis=-2)))  # [R, R, R], z up
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--input", str(lying), "--out",
          str(tmp_path / "turned"), "--num_context", "10", "--num_samples", "0", "--model.domain.init_args.input_up_axis",
          "2"])
    turned = json.loads((tmp_path / "turned" / "prediction.json").read_text())
    assert turned["input_options"] == {"input_up_axis": 2, "input_frame": GRID_FRAME}
    torch.testing.assert_close(torch.tensor(turned["context"]), ctx)
    # and the same S as rows of the z-up frame, (x, y, z) -> (x, -z, y) of the y-up ones: turned alike, and recorded
    rows = torch.stack([ctx[:, 0], -ctx[:, 2], ctx[:, 1], ctx[:, 3]], dim=1)  # [K, 4], z up
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--context", json.dumps(rows.tolist()), "--out",
          str(tmp_path / "rows"), "--num_samples", "0", "--model.domain.init_args.input_up_axis", "2"])
    from_rows = json.loads((tmp_path / "rows" / "prediction.json").read_text())
    assert from_rows["input_options"] == {"input_up_axis": 2}
    torch.testing.assert_close(torch.tensor(from_rows["context"]), ctx)


def test_predict_from_a_mesh_with_a_context_and_from_a_context_alone(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))  # the mesh's SDF goes into the cache
    _, cfg, ckpt, _ = trained
    mesh = tmp_path / "ball.obj"
    trimesh.creation.icosphere(subdivisions=2, radius=0.7).export(mesh)
    rows = [[0.0, 0.0, 0.0, -0.1], [0.9, 0.0, 0.0, 0.5], [0.0, -0.5, 0.2, 0.02], [0.1, 0.1, 0.1, -0.05]]
    base = ["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--num_samples", "1", "--n_autoregressive", "2"]
    main([*base, "--input", str(mesh), "--context", json.dumps(rows), "--out", str(tmp_path / "a")])
    assert (tmp_path / "a" / "gt.glb").is_file()
    assert list((tmp_path / "cache" / "sdf" / "meshes").glob("*.npy"))
    clamped = [r[:3] + [min(r[3], T)] for r in rows]  # an SDF beyond the truncation is clamped to t
    np.testing.assert_allclose(json.loads((tmp_path / "a" / "context.json").read_text()), clamped, atol=1e-6)
    points = tmp_path / "points.json"
    points.write_text(json.dumps(rows))
    # the domain's options (init args) hold at predict time, although the checkpoint records the domain by name
    main([*base, "--context", str(points), "--out", str(tmp_path / "b"), "--model.domain.init_args.formats=[glb]"])
    names = set(json.loads((tmp_path / "b" / "prediction.json").read_text())["files"])
    assert "gt.glb" not in names and {"mean.glb", "sample_1.glb", "figure.png"} <= names
    assert not any(name.endswith(".obj") for name in names) and not list((tmp_path / "b").glob("*.obj"))


def test_python_calls_clamp_s_beyond_the_truncation_as_predict_context_does(trained):
    """An SDF value of S beyond the truncation t ("outside, farther than t") was clamped to t by `predict --context`
    but refused by m.complete / m.mean_field / m.sample / m.log_prob ("ctx_val spans [-0.5, 0.5], outside the value
    range [-0.1, 0.1]"); both now clamp it to [-t, t], as the training data is, and answer as for +-t."""
    from pixeltransformer.loading import load_module

    _, _, ckpt, _ = trained
    m = load_module(ckpt)
    pos = torch.tensor([[[0.0, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, -0.5, 0.2]]])  # [1, 3, 3]
    far = torch.tensor([[[-0.5], [0.5], [0.02]]])  # [1, 3, 1]: two values beyond t = 0.1
    clamped = far.clamp(-T, T)  # [1, 3, 1]
    qry = grid_positions((4, 4, 4)).unsqueeze(0)  # [1, 64, 3]
    torch.testing.assert_close(m.mean_field(pos, far, qry), m.mean_field(pos, clamped, qry))
    torch.testing.assert_close(m.complete(pos, far.numpy(), (4, 4, 4), num_samples=1, seed=3).samples,
                               m.complete(pos, clamped, (4, 4, 4), num_samples=1, seed=3).samples)
    values = torch.full((1, 64, 1), 0.05)  # [1, 64, 1]
    torch.testing.assert_close(m.log_prob(pos, far, qry, values), m.log_prob(pos, clamped, qry, values))


def test_predict_from_a_mesh_far_from_the_origin_says_and_records_its_map_into_the_cube(trained, tmp_path, capfd,
                                                                                        monkeypatch):
    """A mesh in its own units (here a 4 x 2 x 2 box centred at (100, 50, -20)) is centred and scaled into the cube
    [-1, 1]^3 as the training meshes are; the meshes written were in the cube's units without a word, so a user's
    completion did not lie where the input did. The map is now said and kept in prediction.json: the written gt mesh
    mapped back covers the input's box."""
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))
    _, cfg, ckpt, _ = trained
    mesh = tmp_path / "far.obj"
    trimesh.creation.box(extents=(4.0, 2.0, 2.0)).apply_translation((100.0, 50.0, -20.0)).export(mesh)
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--input", str(mesh), "--num_context", "16",
          "--num_samples", "0", "--model.domain.init_args.formats=[obj]", "--out", str(tmp_path / "out")])
    err = capfd.readouterr().err
    # the model trained on procedural chairs, no mesh
    assert "far.obj: centred and scaled into the cube [-1, 1]^3 as the procedural training chairs were" in err
    frame = json.loads((tmp_path / "out" / "prediction.json").read_text())["input_options"]["input_frame"]
    np.testing.assert_allclose(frame["centre"], [100.0, 50.0, -20.0], atol=1e-6)
    assert frame["scale"] == pytest.approx((2 - 2 * grid_margin(RES, 0.75)) / 4.0)  # the training chairs' margin
    gt = trimesh.load(tmp_path / "out" / "gt.obj", force="mesh")
    back = np.asarray(frame["centre"]) + gt.bounds / frame["scale"]  # [2, 3]: the gt box in the file's units
    voxel = 2 / (RES - 1) / frame["scale"]  # in the file's units: the 0.75-voxel shell and marching cubes stay within
    np.testing.assert_allclose(back, [[98.0, 49.0, -21.0], [102.0, 51.0, -19.0]], atol=voxel)


def test_predicts_mean_keeps_s_at_the_grid_points_it_lies_on(trained, tmp_path):
    """make sample's mean (mean_sdf.npy, the mean mesh and the figure's mean) comes from complete, which keeps S's
    values at the grid points S lies on, as the sweep's mean now does: a context at four of the 12^3 grid points
    reads back there, exactly."""
    _, cfg, ckpt, _ = trained
    cells = [(0, 0, 0), (11, 5, 3), (4, 7, 10), (6, 6, 6)]  # grid indices (x, y, z)
    values = [-0.08, 0.03, -0.01, 0.1]
    rows = [[-1 + 2 * i / (RES - 1) for i in cell] + [v] for cell, v in zip(cells, values)]
    main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--context", json.dumps(rows), "--out",
          str(tmp_path / "out"), "--num_samples", "1", "--n_autoregressive", "2"])
    mean = np.load(tmp_path / "out" / "mean_sdf.npy")  # [R, R, R], array axis a = coordinate a
    assert mean.shape == (RES,) * 3
    np.testing.assert_allclose([mean[cell] for cell in cells], values, atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--context", "[[0, 0, 2, 0.1]]"], "--context: positions must lie in [-1, 1]"),
    (["--input", "flat.npy"], "expected a cubic SDF grid [R, R, R], got shape (4, 4)"),
    (["--input", "points.json"], "is a context, not a shape: pass it as --context"),
    (["--input", "shape.txt"], "unsupported input '.txt'"),
])
def test_predict_rejects_bad_input_with_a_one_line_error(trained, tmp_path, monkeypatch, args, message):
    _, cfg, ckpt, _ = trained
    monkeypatch.chdir(tmp_path)
    np.save("flat.npy", np.zeros((4, 4)))
    Path("points.json").write_text("[[0, 0, 0, 0.1]]")
    Path("shape.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match=r"^[^\n]*$") as err:
        main(["predict", "--config", str(cfg), "--ckpt_path", str(ckpt), "--out", str(tmp_path / "o"), *args])
    assert message in str(err.value)
    assert not (tmp_path / "o").exists()


def test_an_occupancy_grid_is_read_as_the_sdf_of_its_solid(tmp_path, capsys):
    """A 0/1 (or bool) voxel grid, as ModelNet's voxels or a binvox export, is converted like the training data:
    negative inside the occupied voxels, positive outside; an empty one names the file and the cause."""
    spec = SignalSpec(domain="sdf", dataset="x", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8)
    ball = (grid_positions((16,) * 3).norm(dim=-1) < 0.6).view(16, 16, 16).numpy()  # [16, 16, 16] bool
    for name, grid in (("ball.npy", ball.astype(np.uint8)), ("ball_bool.npy", ball)):
        np.save(tmp_path / name, grid)
        sdf = SdfDomain().read_input(tmp_path / name, spec)  # [1, 16, 16, 16]
        assert sdf.shape == (1, 16, 16, 16) and sdf[0, 8, 8, 8] < 0 and sdf[0, 0, 0, 0] == T
        # the same solid, up to voxels on the surface, padded to the training margin (0.05: one voxel a face)
        padded = (grid_positions((16,) * 3).norm(dim=-1) < 0.6 * 15 / 17).view(16, 16, 16).numpy()  # [16, 16, 16]
        assert ((sdf[0] < 0).numpy() == padded).mean() > 0.97
        assert "an occupancy grid (only 0 and 1), converted to an SDF" in capsys.readouterr().err
    # a grid its shape fills up to the faces, as ModelNet's are, of another size than the model's: on the model's grid,
    # padded to the training margin, so the cube's border is outside and the surface closed (it was inside, open)
    full = np.zeros((32, 32, 32), np.uint8)  # [32, 32, 32]
    full[:, :, :12] = 1  # a slab touching five faces
    full[:3, :3] = full[-3:, -3:] = 1  # posts across the grid
    np.save(tmp_path / "full.npy", full)
    wide = dataclasses.replace(spec, extra={"margin": grid_margin(16, 0.75)})
    sdf = SdfDomain().read_input(tmp_path / "full.npy", wide)[0].numpy()  # [16, 16, 16]
    assert sdf.shape == (16, 16, 16)
    assert border_values(sdf).min() > 0
    assert sdf_to_mesh(sdf).is_watertight
    np.save(tmp_path / "empty.npy", np.zeros((8, 8, 8), dtype=np.uint8))
    np.save(tmp_path / "solid.npy", np.ones((8, 8, 8), dtype=np.uint8))
    for name, which in (("empty", r"empty \(0\)"), ("solid", r"full \(1\)")):  # each said, with a remedy
        with pytest.raises(ValueError, match=rf"{name}.npy: every voxel of the occupancy grid is {which}, so it has "
                                             r"no surface: give a grid of 1 inside the shape and 0 outside it$"):
            SdfDomain().read_input(tmp_path / f"{name}.npy", spec)
    (tmp_path / "nothing.npy").write_bytes(b"")  # numpy's EOFError came as a traceback
    with pytest.raises(ValueError, match=r"nothing.npy: not a readable .npy file \(EOFError: No data left in file\)$"):
        SdfDomain().read_input(tmp_path / "nothing.npy", spec)
    np.save(tmp_path / "complex.npy", ball.astype(np.complex64))  # 0 and 1, but not an occupancy grid
    with pytest.raises(ValueError, match=r"complex.npy: the SDF grid must hold real numbers, got dtype complex64$"):
        SdfDomain().read_input(tmp_path / "complex.npy", spec)


def test_a_voxel_file_as_training_reads_them_is_an_input_of_one_shape(tmp_path, capsys, monkeypatch):
    """The voxel files training reads ([N, 1, R, R, R] stacks in .npz, .npy.gz or .npy) were refused as an --input of
    one shape: an .npz as a mesh ("must hold 'vertices' and 'faces', found ['voxels']"), .npy.gz as "unsupported
    input '.gz'", a .npy [1, 1, R, R, R] as "expected a cubic SDF grid". Holding one grid, each now reads as the
    same grid in a .npy does; a stack of several is refused in one line."""
    import gzip

    spec = SignalSpec(domain="sdf", dataset="voxels", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8,
                      extra={"margin": 0.05})
    ball = (grid_positions((16,) * 3) - torch.tensor([0.0, 0.0, 0.3])).norm(dim=-1) < 0.5  # [4096]: off centre in z
    ball = ball.view(16, 16, 16).numpy().astype(np.uint8)  # [16, 16, 16]
    np.save(tmp_path / "one.npy", ball)
    want = SdfDomain().read_input(tmp_path / "one.npy", spec)  # [1, 16, 16, 16], turned z up to y up
    np.savez(tmp_path / "stack.npz", voxels=ball[None, None])
    with gzip.open(tmp_path / "stack.npy.gz", "wb") as fh:
        np.save(fh, ball[None, None])
    np.save(tmp_path / "stack.npy", ball[None, None])
    capsys.readouterr()
    for name in ("stack.npz", "stack.npy.gz", "stack.npy"):
        torch.testing.assert_close(SdfDomain().read_input(tmp_path / name, spec), want)
    err = capsys.readouterr().err  # the turn said once, in the line that says the up axis
    assert "stack.npz: voxels, converted to an SDF with 1 = inside, padded to the training margin" in err
    assert "stack.npz: turned from z up to y up, as the model's voxel files were (voxel_up_axis 2)" in err
    np.savez(tmp_path / "two.npz", voxels=np.stack([ball, ball]))
    with pytest.raises(ValueError, match=r"^[^\n]*two.npz: holds 2 voxel grids; --input completes one shape"):
        SdfDomain().read_input(tmp_path / "two.npz", spec)
    np.save(tmp_path / "two.npy", np.stack([ball, ball])[:, None])  # [2, 1, R, R, R]: a stack as .npy, alike
    with pytest.raises(ValueError, match=r"^[^\n]*two.npy: holds 2 voxel grids; --input completes one shape"):
        SdfDomain().read_input(tmp_path / "two.npy", spec)
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))  # the mesh's SDF goes into the cache
    mesh = tmp_path / "mesh.npz"  # an .npz of vertices and faces is still a mesh
    box = trimesh.creation.box()
    np.savez(mesh, vertices=box.vertices, faces=box.faces)
    domain = SdfDomain()
    assert (domain.read_input(mesh, spec) < 0).any() and "input_frame" in domain.input_options()
    domain.read_input(tmp_path / "one.npy", spec)  # voxels read next: their grid's cube, padded; not the mesh's map
    assert domain.input_options()["input_frame"] == {"centre": [0.0, 0.0, 0.0], "scale": float(f"{15 / 17:.9g}"),
                                                     "units": voxel_units(16, 0.05)}
    assert voxel_scale(16, 0.05) == 15 / 17  # one empty voxel a face: 16 / 17 <= 0.95


def test_a_prediction_of_rows_alone_records_no_frame_of_an_earlier_input(tmp_path):
    """input_frame (where the cube of an --input lies in its file's units) was kept after the prediction that read the
    file: a domain used again for --context rows alone recorded that file's frame in prediction.json's input_options."""
    from pixeltransformer.predict import PredictOptions, prediction_item

    spec = SignalSpec(domain="sdf", dataset="voxels", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8,
                      extra={"margin": 0.05})
    ball = (grid_positions((16,) * 3).norm(dim=-1) < 0.5).view(16, 16, 16).numpy().astype(np.uint8)  # [16, 16, 16]
    np.save(tmp_path / "ball.npy", ball)
    domain = SdfDomain(input_up_axis=1)
    prediction_item(domain, spec, PredictOptions(input=str(tmp_path / "ball.npy"), num_context=8))
    assert "input_frame" in domain.input_options()
    prediction_item(domain, spec, PredictOptions(context="[[0, 0, 0, 0.1]]"))
    assert domain.input_options() == {"input_up_axis": 1}


def test_predict_refuses_more_context_than_the_input_s_points(tmp_path):
    """--num_context 100000 on a 32^3 model was drawn at continuous positions without a bound and the completion
    died in a traceback, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 39321600000 bytes"; S is
    read between the input's grid points, so more samples than those points are refused before the model runs."""
    from pixeltransformer.predict import PredictOptions, prediction_item

    spec = SignalSpec(domain="sdf", dataset="x", grid_shape=(8,) * 3, val_dims=1, val_range=(-T, T), num_bins=8)
    ball = (grid_positions((8,) * 3).norm(dim=-1) - 0.6).view(8, 8, 8).numpy()  # [8, 8, 8] cube units
    np.save(tmp_path / "ball.npy", ball)
    item = prediction_item(SdfDomain(), spec, PredictOptions(input=str(tmp_path / "ball.npy"), num_context=512))
    assert item["ctx_pos"].shape == (512, 3)  # [K, 3]: every point's worth
    with pytest.raises(ValueError, match=r"^--num_context must be between 1 and the 512 points of the input's 8x8x8 "
                                         r"grid, which S is read from, got 513$"):
        prediction_item(SdfDomain(), spec, PredictOptions(input=str(tmp_path / "ball.npy"), num_context=513))


def test_observed_lookup_holds_a_bounded_block_of_distances(monkeypatch):
    """The queries against S are compared in blocks of at most max_distances distances [B, q, K], so a large S
    (3 chains x 32768 points x |S| = 30000: 11.8 GB at once) costs time rather than memory, with the same answer."""
    gen = torch.Generator().manual_seed(0)
    ctx_pos = torch.rand(3, 500, 3, generator=gen) * 2 - 1  # [B, K, 3]
    ctx_val = torch.rand(3, 500, 1, generator=gen)  # [B, K, 1]
    qry_pos = torch.cat([ctx_pos[:, :40], torch.rand(3, 960, 3, generator=gen) * 2 - 1], dim=1)  # [B, Q, 3]
    whole = observed_lookup(ctx_pos, ctx_val, qry_pos)
    sizes, cdist = [], torch.cdist
    monkeypatch.setattr(torch, "cdist", lambda a, b, **kw: sizes.append(a.shape[0] * a.shape[1] * b.shape[1])
                        or cdist(a, b, **kw))
    blocked = observed_lookup(ctx_pos, ctx_val, qry_pos, max_distances=10_000)
    assert max(sizes) <= 10_000 and len(sizes) == 167  # 6 queries a block
    assert torch.equal(blocked[0], whole[0]) and torch.equal(blocked[1], whole[1]) and int(whole[0].sum()) == 120


def test_an_sdf_grid_in_other_units_or_without_a_surface_is_named(tmp_path, recwarn):
    """An SDF grid in voxel units was read as cube units and clipped to [-t, t], a band 15x too thin, and one with no
    surface (every value positive) completed an empty shape, both without a word."""
    spec = SignalSpec(domain="sdf", dataset="x", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8)
    ball = (grid_positions((16,) * 3).norm(dim=-1) - 0.6).view(16, 16, 16).numpy()  # [16, 16, 16] cube units
    np.save(tmp_path / "ball.npy", ball)
    SdfDomain().read_input(tmp_path / "ball.npy", spec)
    assert not [w for w in recwarn if "SDF grid" in str(w.message)]
    np.save(tmp_path / "voxels.npy", ball * 7.5)  # voxel units of a 16^3 grid
    with pytest.warns(UserWarning, match=r"voxels.npy: across its surface the SDF grid changes by [\d.]+ grid spacings "
                      r"per spacing.*\(voxels: divide by 7.5\); they are read as cube units, clipped to \+-0.1$"):
        SdfDomain().read_input(tmp_path / "voxels.npy", spec)
    # no surface: what to give instead, as a refusal says (the warning was bare: "... the shape is empty")
    mesh = ", or the shape's mesh, which --input centres and scales into the cube and converts"
    np.save(tmp_path / "outside.npy", np.abs(ball) + 0.01)  # unsigned distances
    said = (f"{tmp_path / 'outside.npy'}: the SDF grid has no surface, every value is positive (outside): the shape "
            "is empty; give signed distances, negative inside (unsigned ones, or ones clipped at 0, have no inside; a "
            f"shape thinner than the grid's spacing falls between its points){mesh}")
    with pytest.warns(UserWarning, match=f"^{re.escape(said)}$"):
        SdfDomain().read_input(tmp_path / "outside.npy", spec)
    np.save(tmp_path / "inside.npy", ball - 2)  # a ball larger than the cube
    said = (f"{tmp_path / 'inside.npy'}: the SDF grid has no surface, every value is negative (inside): the cube is "
            "full; give a grid over the cube [-1, 1]^3 that the whole shape lies inside of, with room around it (a "
            f"shape larger than the cube, or a grid over a part within it, has no outside){mesh}")
    with pytest.warns(UserWarning, match=f"^{re.escape(said)}$"):
        SdfDomain().read_input(tmp_path / "inside.npy", spec)


def test_an_sdf_grid_of_the_other_sign_convention_is_named(tmp_path, recwarn):
    """An SDF grid positive inside (another tool's convention) was completed inside out without a word: a ball read
    as a cube with a ball-shaped hole. Negative all over the cube's border, it now draws a warning."""
    spec = SignalSpec(domain="sdf", dataset="x", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8)
    ball = (grid_positions((16,) * 3).norm(dim=-1) - 0.6).view(16, 16, 16).numpy()  # [16, 16, 16] cube units
    np.save(tmp_path / "flipped.npy", -ball)
    with pytest.warns(UserWarning, match=r"^[^\n]*flipped.npy: the SDF grid is negative \(inside\) all over the cube's "
                      r"border, its surface inside: .* positive inside, it reads inside out: negate it$"):
        SdfDomain().read_input(tmp_path / "flipped.npy", spec)
    np.save(tmp_path / "ball.npy", ball)
    SdfDomain().read_input(tmp_path / "ball.npy", spec)
    assert not [w for w in recwarn if "flipped" not in str(w.message) and "SDF grid" in str(w.message)]


def test_write_prediction_meshes_an_analytic_box_in_place(tmp_path):
    """The grid's axes are the positions' (x, y, z): a box keeps its place and its proportions in the meshes."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(48,) * 3, val_dims=1, val_range=(-T, T),
                      num_bins=8)
    pos = grid_positions(spec.grid_shape)  # [N, 3]
    q = (pos - torch.tensor([0.2, -0.1, 0.0])).abs() - torch.tensor([0.5, 0.3, 0.2])  # [N, 3]
    box = (q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)).clamp(-T, T)  # [N]
    dist = BinnedGaussian.from_spec(spec)
    mean = box.view(1, 1, *spec.grid_shape)  # [1, 1, R, R, R]
    completion = Completion(spec.grid_shape, torch.zeros(1, 4, 3), torch.zeros(1, 4, 1), mean,
                            mean.unsqueeze(1).repeat(1, 2, 1, 1, 1, 1), peaked_params(dist, box.view(1, -1, 1)), dist)
    domain = SdfDomain(formats=["glb"])
    domain.spec = spec  # as the module that owns a domain sets it
    files = domain.write_prediction(completion, tmp_path)
    assert {p.name for p in files} >= {"mean.glb", "sample_2.glb", "prob.glb", "figure.png"}
    assert not any(p.suffix == ".obj" for p in files) and "gt.glb" not in {p.name for p in files}
    for name, rel in (("mean", 0.04), ("sample_2", 0.04), ("prob", 0.12)):  # P(inside) > 0.5: the box, to a voxel
        mesh = trimesh.load(tmp_path / f"{name}.glb", force="mesh")
        assert mesh_volume(mesh) == pytest.approx(1.0 * 0.6 * 0.4, rel=rel), name
        np.testing.assert_allclose(mesh.bounds, [[-0.3, -0.4, -0.2], [0.7, 0.2, 0.2]], atol=0.03)


# ---- the baseline and the data wiring --------------------------------------------------------------


def test_rbf_interpolates_and_reproduces_affine_functions():
    gen = torch.Generator().manual_seed(0)
    ctx_pos = torch.rand(2, 40, 3, generator=gen) * 2 - 1  # [B, K, 3]
    qry = torch.rand(2, 300, 3, generator=gen) * 2 - 1  # [B, Q, 3]
    affine = lambda p: (0.3 * p[..., :1] - 0.2 * p[..., 1:2] + 0.1 * p[..., 2:] + 0.05)  # noqa: E731
    torch.testing.assert_close(rbf_interpolate(ctx_pos, affine(ctx_pos), qry), affine(qry), atol=1e-4, rtol=0)
    bumpy = torch.sin(3 * ctx_pos).sum(-1, keepdim=True)  # [B, K, 1]
    torch.testing.assert_close(rbf_interpolate(ctx_pos, bumpy, ctx_pos), bumpy, atol=1e-4, rtol=0)
    few = rbf_interpolate(ctx_pos[:, :2], bumpy[:, :2], qry)  # too few points for the affine part: a constant
    torch.testing.assert_close(few, bumpy[:, :2].mean(1, keepdim=True).expand(-1, 300, -1))
    # the queries in chunks (here 7 at a time, the last one short) give what one pass over them gives
    whole = rbf_interpolate(ctx_pos, bumpy, qry, chunk_elements=10**9)  # [B, Q, 1]
    torch.testing.assert_close(rbf_interpolate(ctx_pos, bumpy, qry, chunk_elements=2 * 40 * 7), whole, atol=0, rtol=0)


def test_datamodule_cache_root_and_eval_batch_size(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))
    dm = SDFDataModule(dataset="procedural", resolution=RES, truncation=T, num_shapes=(6, 2, 2), batch_size=2,
                       eval_batch_size=1)
    assert dm.spec.extra["truncation"] == T and "predictor" not in dm.spec.extra
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["signal"].shape == (1, 1, RES, RES, RES)
    built = list((tmp_path / "cache" / "sdf" / "procedural").iterdir())
    assert len(built) == 1 and built[0].suffix == ".npy"  # the grids, and no temporary file left beside them
    with pytest.raises(ValueError, match="eval_batch_size"):
        SDFDataModule(dataset="procedural", eval_batch_size=0)


# ---- where an evaluation on other data goes ------------------------------------------------------------


def write_meshes(folder: Path, radii: list[float]) -> None:
    folder.mkdir(parents=True)
    for i, r in enumerate(radii):
        shape = trimesh.creation.icosphere(subdivisions=2, radius=r) if i % 2 else trimesh.creation.box(extents=[r] * 3)
        shape.export(folder / f"shape{i}.{'obj' if i % 2 else 'off'}")


def test_a_test_on_another_mesh_folder_goes_beside_the_runs_own_evaluation(tmp_path, capsys):
    """Both are dataset "meshes": the evaluation of another folder of meshes went to the run's eval/, replacing its
    evaluation on the shapes it was trained on. The same folder moved elsewhere is still the run's own data."""
    write_meshes(tmp_path / "chairs", [0.5, 0.3, 0.7, 0.4, 0.6, 0.35])
    write_meshes(tmp_path / "other meshes", [0.45, 0.55, 0.65, 0.25, 0.75, 0.5])
    config = {
        "model": {"domain": {"class_path": "domains.sdf.domain.SdfDomain", "init_args": {"chamfer_points": 200}},
                  "net": {"width": 32, "encoder_layers": 1, "decoder_layers": 1, "heads": 2, "ffn": 64},
                  "sets": {"init_args": {"min_context": 4, "max_context": 16, "num_queries": 16}},
                  "val_levels": [4], "optim": {"warmup_steps": 1}},
        "data": {"class_path": "domains.sdf.data.SDFDataModule",
                 "init_args": {"dataset": "meshes", "root": str(tmp_path / "chairs"), "resolution": RES,
                               "truncation": T, "splits": [2, 2, 2], "batch_size": 2,
                               "cache_dir": str(tmp_path / "cache")}},
        "trainer": {"max_steps": 2, "limit_val_batches": 0, "logger": False, "enable_progress_bar": False,
                    "enable_model_summary": False, "callbacks": [
                        {"class_path": "pixeltransformer.evaluation.SweepEvaluation",
                         "init_args": {"levels": [4], "grid_points": False, "num_samples": 0}}]},
    }
    cfg = tmp_path / "meshes.yaml"
    cfg.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(cfg), "--run_root", str(tmp_path / "runs"), "--run_name", "meshes"])
    run = tmp_path / "runs" / "sdf" / "meshes"
    test = ["test", "--config", str(cfg), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    main(test)
    own = (run / "eval" / "metrics.json").read_text()
    capsys.readouterr()
    main([*test, "--data.init_args.root", str(tmp_path / "other meshes")])
    assert (run / "eval" / "metrics.json").read_text() == own
    assert json.loads((run / "eval-meshes-other_meshes" / "metrics.json").read_text())["dataset"] == "meshes"
    assert ("the checkpoint was trained on sdf/meshes (chairs); this evaluation on meshes (other meshes) goes to "
            "eval-meshes-other_meshes/") in capsys.readouterr().out
    (tmp_path / "moved").mkdir()
    (tmp_path / "chairs").rename(tmp_path / "moved" / "chairs")  # the same shapes elsewhere: the run's own evaluation
    main([*test, "--data.init_args.root", str(tmp_path / "moved" / "chairs")])
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("eval")) == ["eval", "eval-meshes-other_meshes"]


def test_the_evaluated_shapes_name_their_folder_or_file(tmp_path):
    """A mixture is named by the source it evaluates (its meshes, not its voxels); procedural chairs by nothing."""
    from pixeltransformer.datamodule import module_spec

    kw = {"resolution": RES, "truncation": T}
    mixture = SDFDataModule(dataset="mixture", mixture={"voxels": 1, "meshes": 1}, eval_source="meshes",
                            mesh_root=str(tmp_path / "partnet_meshes"), voxel_root=str(tmp_path / "vox.npy.gz"), **kw)
    assert module_spec(mixture).extra["source"] == "partnet_meshes"
    voxels = SDFDataModule(dataset="voxels", root=str(tmp_path / "modelnet" / "chair_vox32.npy.gz"), **kw)
    assert module_spec(voxels).extra["source"] == "chair_vox32.npy.gz"
    assert "source" not in module_spec(SDFDataModule(dataset="procedural", root=str(tmp_path / "x"), **kw)).extra


def test_the_evaluation_memory_check_counts_the_test_loader_s_eval_batch_size(monkeypatch):
    """configs/sdf/shapenet_paper.yaml (batch_size 32, eval_batch_size 2) was refused on a machine of 8 GiB: the
    check counted test batches of 32 shapes (14.2 GiB), where the test loader's hold 2 (910 MiB), and its remedy
    named batch_size, which the test loader does not use."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    dm = SDFDataModule(dataset="procedural", resolution=64, batch_size=32, eval_batch_size=2)
    trainer, module = SimpleNamespace(datamodule=dm), SimpleNamespace(spec=dm.spec)
    SweepEvaluation(levels=(4,), grid_points=False, num_samples=1).check_memory(trainer, module)
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 10000 at 262,144 queries of each of 2 "
                                         r"signals of a batch .*; at most num_samples \d+, or a smaller data "
                                         r"eval_batch_size$"):
        SweepEvaluation(levels=(4,), grid_points=False, num_samples=10000).check_memory(trainer, module)
    assert dm.test_batch() == (2, "eval_batch_size")


def test_the_evaluation_memory_check_names_batch_size_where_eval_batch_size_is_not_set(monkeypatch):
    """Without an eval_batch_size (configs/sdf.yaml sets none), the test loader takes batch_size, but the memory
    check's remedy named eval_batch_size, an option the user had not set and the config does not show beside the
    batch it counted. It names the option the test loader's batch came from."""
    from types import SimpleNamespace

    import pixeltransformer.memory as memory
    from pixeltransformer.evaluation import SweepEvaluation

    monkeypatch.setattr(memory, "host_memory", lambda: 8 * 2**30)
    dm = SDFDataModule(dataset="procedural", resolution=64, batch_size=3)
    assert dm.test_batch() == (3, "batch_size")
    trainer, module = SimpleNamespace(datamodule=dm), SimpleNamespace(spec=dm.spec)
    with pytest.raises(ValueError, match=r"^SweepEvaluation: num_samples 10000 at 262,144 queries of each of 3 "
                                         r"signals of a batch .*, or a smaller data batch_size$"):
        SweepEvaluation(levels=(4,), grid_points=False, num_samples=10000).check_memory(trainer, module)


def test_iou_verdicts_are_judged_by_a_paired_test_and_not_on_too_few_shapes():
    """On 1 test shape, iou_mean_beats_nn_at gave a verdict like [4] from a difference of two numbers. With the
    per-shape values, a level is listed where the model beats the baseline by more than 2 standard errors of the paired
    difference (below 5 shapes the evaluation leaves them null: test_verdict_summaries)."""
    from domains.sdf.metrics import iou_summary

    def items(mean: list[float], nn: list[float]) -> dict:
        return {(k, name): dict(enumerate(v)) for k in (4, 32) for name, v in (("iou_mean", mean), ("iou_nn", nn))}

    def rows(per_item: dict) -> list[dict]:
        return [{"num_context": k, **{n: float(np.mean(list(per_item[(k, n)].values())))
                                      for n in ("iou_mean", "iou_nn")}} for k in (4, 32)]

    steady = items([0.5, 0.6, 0.7, 0.4, 0.55, 0.65], [0.4, 0.52, 0.6, 0.33, 0.44, 0.57])  # ahead on every shape
    assert iou_summary(rows(steady), steady)["iou_mean_beats_nn_at"] == [4, 32]
    noisy = items([0.9, 0.1, 0.8, 0.2, 0.7, 0.3], [0.2, 0.6, 0.1, 0.5, 0.3, 0.4])  # ahead by its mean alone
    assert rows(noisy)[0]["iou_mean"] > rows(noisy)[0]["iou_nn"]
    assert iou_summary(rows(noisy), noisy)["iou_mean_beats_nn_at"] == []
    assert iou_summary(rows(noisy))["iou_mean_beats_nn_at"] == [4, 32]  # the rows alone: by the means, as before


def test_a_npy_stack_of_voxel_grids_as_the_readme_gives_them_is_refused_as_a_stack(tmp_path):
    """A .npy of [N, R, R, R] occupancy grids (the README's voxel format) given as --input was refused with 'expected
    a cubic SDF grid [R, R, R], got shape (N, R, R, R)': no word of voxels, no remedy. It is named as a stack now,
    as [N, 1, R, R, R] was."""
    spec = SignalSpec(domain="sdf", dataset="voxels", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8,
                      extra={"margin": 0.05})
    grids = np.zeros((3, 16, 16, 16), np.float64)  # [N, R, R, R]
    grids[:, 4:12, 4:12, 4:12] = 1
    np.save(tmp_path / "chairs.npy", grids)
    with pytest.raises(ValueError, match=r"^[^\n]*chairs.npy: holds 3 voxel grids; --input completes one shape: save "
                                         r"the one to complete as \.npy \[R, R, R\] \(an SDF grid, or voxels of 0 "
                                         r"and 1\) or as a file of one grid$"):
        SdfDomain().read_input(tmp_path / "chairs.npy", spec)


def test_a_npy_stack_of_sdf_grids_is_refused_as_sdf_grids_with_a_remedy_that_reads(tmp_path):
    """A .npy of [N, R, R, R] SDF grids (the float16 stacks the data module caches) given as --input was refused as
    'holds 3 voxel grids ... save the one to complete as .npy [R, R, R] of 0 and 1', though an SDF grid [R, R, R] is
    read too. It names SDF grids now, and the remedy names both; the one grid saved as it says is read."""
    spec = SignalSpec(domain="sdf", dataset="voxels", grid_shape=(16,) * 3, val_dims=1, val_range=(-T, T), num_bins=8,
                      extra={"margin": 0.05})
    sdf = (grid_positions((16,) * 3).norm(dim=-1) - 0.5).clamp(-T, T).view(16, 16, 16).numpy()  # [R, R, R]
    np.save(tmp_path / "cached.npy", np.stack([sdf, sdf, sdf]).astype(np.float16))  # [N, R, R, R]
    with pytest.raises(ValueError, match=r"^[^\n]*cached.npy: holds 3 SDF grids; --input completes one shape: save "
                                         r"the one to complete as \.npy \[R, R, R\] \(an SDF grid, or voxels of 0 "
                                         r"and 1\) or as a file of one grid$"):
        SdfDomain().read_input(tmp_path / "cached.npy", spec)
    np.save(tmp_path / "one.npy", np.load(tmp_path / "cached.npy")[0])  # [R, R, R]: as the remedy says
    assert SdfDomain().read_input(tmp_path / "one.npy", spec).shape == (1, 16, 16, 16)
