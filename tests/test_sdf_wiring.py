"""SDF domain wired to the core: pictures callback, |S| evaluation, predict, the RBF baseline."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import trimesh

from domains.sdf.baselines import rbf_interpolate
from domains.sdf.callbacks import SDFEvaluation, SDFPictures
from domains.sdf.data import SDFDataModule
from domains.sdf.predict import parse_context
from domains.sdf.shapes import predict_grids
from domains.sdf.visualize import mesh_volume, sdf_to_mesh
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.module import PixelTransformerModule
from pixeltransformer.sets import flatten_grid, grid_positions, nearest_neighbour_fill
from pixeltransformer.signal import SignalSpec

RES = 12  # grids in these tests: 1728 points, so everything that decodes the whole grid stays fast
T = 0.1


def tiny_datamodule(cache: Path, **kwargs) -> SDFDataModule:
    return SDFDataModule(dataset="procedural", resolution=RES, truncation=T, num_shapes=(6, 2, 2), batch_size=2,
                         cache_dir=str(cache), **kwargs)


def tiny_module(dm: SDFDataModule) -> PixelTransformerModule:
    torch.manual_seed(0)
    return PixelTransformerModule(spec=dm.spec.to_dict(), net=dict(width=64, ffn=128),
                                  sets=dict(min_context=4, max_context=16, num_queries=16),
                                  optim=dict(warmup_steps=1), val_levels=(4,))


def tiny_trainer(root: Path, callbacks=(), **kwargs) -> L.Trainer:
    args = dict(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, accelerator="cpu", default_root_dir=str(root), callbacks=list(callbacks))
    args.update(kwargs)
    return L.Trainer(**args)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step tiny model trained with the pictures callback on (one validation at step 2)."""
    root = tmp_path_factory.mktemp("sdf_run")
    dm = tiny_datamodule(root / "cache")
    module = tiny_module(dm)
    pictures = SDFPictures(num_shapes=1, num_context=8, num_samples=2, n_autoregressive=3)
    trainer = tiny_trainer(root, [pictures], limit_val_batches=1, val_check_interval=2, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(root / "tiny.ckpt")
    return root, dm, module.eval()


# ---- an analytic stand-in for a trained module ---------------------------------------------------------


def box_sdf(pos: torch.Tensor, centre=(0.2, -0.1, 0.0), half=(0.5, 0.3, 0.2)) -> torch.Tensor:
    """Exact SDF of an axis-aligned box with three different half extents: [..., 3] -> [..., 1]."""
    q = (pos - torch.tensor(centre)).abs() - torch.tensor(half)
    outside = q.clamp(min=0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp(max=0)
    return (outside + inside).unsqueeze(-1)


class AnalyticModule:
    """Answers like a PixelTransformerModule whose mean field (and every sample) is a known box."""

    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(RES,) * 3, val_dims=1, val_range=(-T, T),
                      num_bins=8, extra={"truncation": T})
    device = torch.device("cpu")

    def grid_queries(self, batch: int, grid_shape=None) -> torch.Tensor:
        return grid_positions(grid_shape or self.spec.grid_shape).unsqueeze(0).expand(batch, -1, -1)

    def mean_field(self, ctx_pos, ctx_val, qry_pos) -> torch.Tensor:
        return box_sdf(qry_pos)  # [B, Q, 1]

    def sample(self, ctx_pos, ctx_val, qry_pos, num_samples=1, **kwargs) -> torch.Tensor:
        return box_sdf(qry_pos).unsqueeze(1).expand(-1, num_samples, -1, -1)  # [B, S, Q, 1]


def test_predicted_box_meshes_with_the_right_volume_and_axes():
    ctx_pos, ctx_val = torch.zeros(1, 4, 3), torch.zeros(1, 4, 1)
    mean, samples = predict_grids(AnalyticModule(), ctx_pos, ctx_val, (48, 48, 48), num_samples=2)
    assert mean.shape == (1, 48, 48, 48) and samples.shape == (1, 2, 48, 48, 48)
    mesh = sdf_to_mesh(mean[0].numpy())
    assert mesh_volume(mesh) == pytest.approx(1.0 * 0.6 * 0.4, rel=0.03)
    # the grid's axes are the query positions' (x, y, z): the box keeps its place and its proportions
    lo, hi = mesh.bounds
    np.testing.assert_allclose(lo, [-0.3, -0.4, -0.2], atol=0.03)
    np.testing.assert_allclose(hi, [0.7, 0.2, 0.2], atol=0.03)
    assert torch.equal(samples[0, 1], mean[0])


def sphere_item(radius_pred: float, k: int = 32, t: float = T) -> SweepItem:
    """A SweepItem on a 24^3 grid: the truth is a sphere of radius 0.5, the 'model mean' one of radius_pred,
    both truncated at t."""
    spec = SignalSpec(domain="sdf", dataset="analytic", grid_shape=(24,) * 3, val_dims=1, val_range=(-t, t),
                      num_bins=8, extra={"truncation": t})
    pos = grid_positions(spec.grid_shape).unsqueeze(0)  # [1, N, 3]
    truth = (pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-t, t)  # [1, N, 1]
    pred = (pos.norm(dim=-1, keepdim=True) - radius_pred).clamp(-t, t)  # [1, N, 1]
    signal = truth.transpose(1, 2).reshape(1, 1, *spec.grid_shape)  # [1, 1, R, R, R]
    gen = torch.Generator().manual_seed(0)
    ctx_pos = torch.rand(1, k, 3, generator=gen) * 2 - 1  # [1, K, 3]
    ctx_val = (ctx_pos.norm(dim=-1, keepdim=True) - 0.5).clamp(-t, t)  # [1, K, 1]
    n = pos.shape[1]
    # distribution parameters whose every bin sits at the predicted value: P(inside) is 1 inside the
    # predicted sphere and 0 outside it (logits, offsets, raw scales; 8 bins, no anchor)
    dist = BinnedGaussian.from_spec(spec)
    offsets = (pred - dist.centres[:, 0]) / dist.unit  # [1, N, NB]
    params = torch.cat([torch.zeros(1, n, 8), offsets, torch.full((1, n, 8), -6.0)], dim=-1)  # [1, N, 3 NB]
    return SweepItem(spec, signal, k, ctx_pos, ctx_val, pos, truth, torch.ones(1, n, dtype=torch.bool),
                     params, pred, nearest_neighbour_fill(ctx_pos, ctx_val, pos), None, True)


class DistOnly:
    """What SDFEvaluation.metrics reads from a module: its value distribution."""

    def __init__(self, spec: SignalSpec):
        self.dist = BinnedGaussian.from_spec(spec)


def test_shape_metrics_on_analytic_spheres():
    ev = SDFEvaluation(chamfer_points=4000)
    item = sphere_item(0.5)
    exact = ev.metrics(item, DistOnly(item.spec))
    assert exact["iou_mean"].item() == pytest.approx(1.0)
    assert exact["iou_prob"].item() == pytest.approx(1.0)
    # identical surfaces: only the sampling gap is left, about half the spacing of 4000 points on the sphere
    assert exact["chamfer_mean"].item() < 0.02
    smaller = ev.metrics(sphere_item(0.4), DistOnly(item.spec))
    assert smaller["iou_mean"].item() == pytest.approx(0.4**3 / 0.5**3, abs=0.04)  # nested balls
    assert smaller["iou_prob"].item() == pytest.approx(smaller["iou_mean"].item(), abs=0.02)
    assert smaller["chamfer_mean"].item() == pytest.approx(0.1, abs=0.01)  # concentric spheres 0.1 apart
    for name in ("nn", "rbf"):
        assert 0.0 <= exact[f"iou_{name}"].item() < 1.0
    # Untruncated, 128 random distances pin a sphere down far better by smooth interpolation than by nearest
    # neighbours. (With 32 only ~2 fall inside the ball, too few for either baseline.)
    wide_item = sphere_item(0.5, k=128, t=1.0)
    wide = ev.metrics(wide_item, DistOnly(wide_item.spec))
    assert wide["iou_rbf"].item() > 0.9 and wide["iou_rbf"].item() > wide["iou_nn"].item() + 0.2
    assert exact["empty_mean"].item() == 0.0


# ---- the evaluation on a real (tiny) module ----------------------------------------------------------


def test_evaluation_metrics_on_a_tiny_module(trained):
    _, dm, module = trained
    signal = dm.fixed_examples("test", 2)["signal"]  # [2, 1, R, R, R]
    ev = SDFEvaluation(levels=(4, 16), num_samples=2, n_autoregressive=2, chamfer_points=500, figure_shapes=0)
    out = ev.evaluate_batch(module, signal, 0)
    assert sorted(out) == [4, 16]
    for values in out.values():
        for key in ("nll", "mse", "nn_mse", "sample_mse", "rbf_mse", "iou_mean", "iou_prob", "iou_sample", "iou_nn", "iou_rbf",
                    "chamfer_mean", "chamfer_nn", "empty_mean", "empty_sample"):
            assert values[key].shape == (2,), key
        for key in ("nll", "mse", "iou_mean", "iou_prob", "iou_sample", "iou_nn", "iou_rbf"):
            assert torch.isfinite(values[key]).all(), key
        assert ((values["iou_mean"] >= 0) & (values["iou_mean"] <= 1)).all()
        # a Chamfer distance is missing exactly when the predicted surface vanished
        for name in ("mean", "nn", "rbf"):
            assert torch.equal(torch.isnan(values[f"chamfer_{name}"]), values[f"empty_{name}"] == 1), name


def test_evaluation_writes_metrics_json_and_figures(trained, tmp_path):
    _, dm, module = trained
    ev = SDFEvaluation(levels=(4, 16, 64), num_samples=1, n_autoregressive=2, chamfer_points=500, figure_shapes=1,
                       figure_samples=1, out_dir=str(tmp_path / "eval"))
    tiny_trainer(tmp_path, [ev], limit_test_batches=1).test(module, datamodule=dm)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert [r["num_context"] for r in metrics["rows"]] == [4, 16, 64]
    assert all(isinstance(r["iou_mean"], float) and isinstance(r["iou_rbf"], float) for r in metrics["rows"])
    assert "iou_mean_gain" in metrics and "iou_model_beats_baselines_at" in metrics
    assert all(isinstance(r["iou_prob"], float) for r in metrics["rows"])
    assert (tmp_path / "eval" / "metrics_vs_context.png").stat().st_size > 10_000
    for name in ("figure.png", "gt.glb", "mean.obj", "sample1.glb", "prob.glb"):
        assert (tmp_path / "eval" / "shapes" / f"shape0_{name}").stat().st_size > 0, name


# ---- the pictures callback -----------------------------------------------------------------------------


def test_pictures_callback_writes_figure_and_meshes(trained):
    root, dm, _ = trained
    out = root / "pictures" / "step000002"
    assert (out / "shape0_figure.png").stat().st_size > 5_000
    for name in ("gt", "mean", "sample1", "sample2", "prob"):
        for fmt in ("glb", "obj"):
            assert (out / f"shape0_{name}.{fmt}").is_file(), (name, fmt)
    assert not (out / "shape0_sample3.glb").exists()
    gt = trimesh.load(out / "shape0_gt.glb", force="mesh")
    truth = dm.fixed_examples("val", 1)["signal"][0, 0].numpy()
    assert len(gt.faces) == len(sdf_to_mesh(truth).faces) > 0  # the exported truth is the val shape's level set


def test_pictures_callback_skips_sanity_check(tmp_path):
    dm = tiny_datamodule(tmp_path / "cache")
    module = tiny_module(dm)
    pictures = SDFPictures(num_shapes=1, num_context=4, num_samples=1, n_autoregressive=1)
    tiny_trainer(tmp_path, [pictures], max_steps=0, num_sanity_val_steps=1, limit_val_batches=1).fit(module,
                                                                                                    datamodule=dm)
    assert not (tmp_path / "pictures").exists()


# ---- predict -------------------------------------------------------------------------------------------


def test_predict_end_to_end_from_a_grid(trained, tmp_path):
    from pixeltransformer.predict import main

    root, dm, _ = trained
    grid = tmp_path / "shape.npy"
    np.save(grid, dm.fixed_examples("test", 1)["signal"][0, 0].numpy())
    out = tmp_path / "out"
    paths = main(["--checkpoint", str(root / "tiny.ckpt"), "--input", str(grid), "--out", str(out), "--num_context",
                  "10", "--num_samples", "2", "--n_autoregressive", "3", "--resolution", "16", "--device", "cpu"])
    names = {p.name for p in paths}
    assert {"mean.glb", "mean.obj", "sample1.glb", "sample2.glb", "gt.glb", "figure.png", "mean.png", "prob.glb",
            "context.json", "mean_sdf.npy"} <= names
    assert all(p.is_file() for p in paths)
    assert np.load(out / "mean_sdf.npy").shape == (16, 16, 16)  # --resolution sets the output grid
    ctx = json.loads((out / "context.json").read_text())
    assert len(ctx) == 10 and all(len(r) == 4 and max(abs(v) for v in r[:3]) <= 1 for r in ctx)


def test_predict_from_a_mesh_with_json_context_and_from_bare_json(trained, tmp_path, monkeypatch):
    from pixeltransformer.predict import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the mesh's SDF goes into the shared cache
    root, _, _ = trained
    mesh = tmp_path / "ball.obj"
    trimesh.creation.icosphere(subdivisions=2, radius=0.7).export(mesh)
    rows = [[0.0, 0.0, 0.0, -0.1], [0.9, 0.0, 0.0, 0.1], [0.0, -0.5, 0.2, 0.02], [0.1, 0.1, 0.1, -0.05]]
    ckpt = ["--checkpoint", str(root / "tiny.ckpt"), "--num_samples", "1", "--n_autoregressive", "2"]
    paths = main([*ckpt, "--input", str(mesh), "--context", json.dumps(rows), "--out", str(tmp_path / "a")])
    assert "gt.glb" in {p.name for p in paths}
    assert list((tmp_path / "xdg" / "pixeltransformer" / "sdf" / "meshes").glob("*.npy"))
    np.testing.assert_allclose(json.loads((tmp_path / "a" / "context.json").read_text()), rows, atol=1e-6)
    bare = tmp_path / "points.json"
    bare.write_text(json.dumps(rows))
    names = {p.name for p in main([*ckpt, "--input", str(bare), "--out", str(tmp_path / "b")])}
    assert "gt.glb" not in names and {"mean.glb", "sample1.glb", "figure.png"} <= names


@pytest.mark.parametrize("rows, message", [
    ([[0.0, 1.5, 0.0, 0.1]], "outside the cube [-1, 1]^3"),
    ([[0.0, 0.0, 0.1]], "row 0 has 3 values; expected 4 (x, y, z, sdf)"),
    ([[0.0, 0.0, 0.0, 0.1], [0.1, 0.2, 0.3, 0.0, 5.0]], "row 1 has 5 values"),
    ([[0.0, 0.0, "a", 0.1]], "4 finite numbers"),
    ([], "non-empty JSON list"),
])
def test_context_json_errors_are_one_line(rows, message):
    with pytest.raises(ValueError, match=r"^[^\n]*$") as err:
        parse_context(json.dumps(rows), "--context", T)
    assert message in str(err.value)


def test_predict_rejects_bad_context_with_a_one_line_error(trained, tmp_path):
    from pixeltransformer.predict import main

    root, dm, _ = trained
    grid = tmp_path / "shape.npy"
    np.save(grid, dm.fixed_examples("test", 1)["signal"][0, 0].numpy())
    with pytest.raises(SystemExit) as err:
        main(["--checkpoint", str(root / "tiny.ckpt"), "--input", str(grid), "--context", "[[0, 0, 2, 0.1]]",
              "--out", str(tmp_path / "o")])
    assert str(err.value).startswith("error: --context: row 0 position") and "\n" not in str(err.value)
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((4, 4)))
    with pytest.raises(SystemExit, match="expected a cubic SDF grid"):
        main(["--checkpoint", str(root / "tiny.ckpt"), "--input", str(bad), "--out", str(tmp_path / "o")])


def test_context_values_are_clamped_to_the_truncation():
    pos, val = parse_context("[[0, 0, 0, -3.0], [1, -1, 0.5, 0.5]]", "--context", T)
    assert pos.shape == (2, 3)
    torch.testing.assert_close(val, torch.tensor([[-T], [T]]))


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


def test_datamodule_names_its_predictor_and_eval_batch_size(tmp_path):
    dm = tiny_datamodule(tmp_path / "cache", eval_batch_size=1)
    assert dm.spec.extra["predictor"] == "domains.sdf.predict"
    assert dm.spec.extra["truncation"] == T
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    assert batch["signal"].shape == (1, 1, RES, RES, RES)
    assert flatten_grid(batch["signal"]).shape == (1, RES**3, 1)
    with pytest.raises(ValueError, match="eval_batch_size"):
        tiny_datamodule(tmp_path / "cache", eval_batch_size=0)

