"""The polynomial Domain: its metrics against the exact oracle, its pictures through the core Pictures callback, and
`pixeltransformer predict` from a user's own observations through the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from domains.polynomial.data import PolynomialDataset
from domains.polynomial.domain import PolynomialDomain
from polynomial_memory import set_memory
from domains.polynomial.metrics import nll_gap_to_oracle, reference_metrics
from pixeltransformer.callbacks import Pictures
from pixeltransformer.errors import StageInterrupted
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.sets import draw_context, grid_positions

REPO = Path(__file__).resolve().parents[2]


def _item(spec, signal: torch.Tensor, k: int) -> SweepItem:
    """A sweep item of dense functions [B, 1, R] with K context points and every other grid point as a query."""
    b, r = signal.shape[0], signal.shape[-1]
    ctx_pos, ctx_val = draw_context(signal, k, torch.Generator().manual_seed(k), on_grid=True)  # [B, K, 1] each
    qry_pos = grid_positions((r,)).expand(b, -1, -1)  # [B, R, 1]
    qry_val = signal.transpose(1, 2)  # [B, R, 1]
    held = (torch.cdist(qry_pos, ctx_pos).min(-1).values > 1e-6)  # [B, R]
    zeros = torch.zeros_like(qry_val)
    return SweepItem(spec, signal, k, ctx_pos, ctx_val, qry_pos, qry_val, held, zeros, zeros, zeros, None, True,
                     zeros[..., 0], {"signal": signal})


def test_oracle_recovers_a_polynomial_from_degree_plus_one_points(poly_spec):
    signal = torch.stack([PolynomialDataset(4, 6, 1.0, 64, seed=3)[i]["signal"] for i in range(4)])  # [4, 1, 64]
    few, enough = reference_metrics(_item(poly_spec, signal, 4)), reference_metrics(_item(poly_spec, signal, 8))
    assert set(few) == {"oracle_nll", "oracle_mse", "gp_nll", "gp_mse"} and few["oracle_mse"].shape == (4,)
    # 7 points pin a degree-6 curve (up to the float32 values' rounding); 4 leave it open
    assert (enough["oracle_mse"] < 1e-3).all() and enough["oracle_mse"].mean() < 1e-2 * few["oracle_mse"].mean()
    assert (enough["oracle_nll"] < few["oracle_nll"]).all() and (enough["oracle_nll"] < -4).all()
    assert torch.isfinite(few["gp_nll"]).all() and (few["gp_mse"] > 0).all()
    # the benchmark's point sets are scored by its own evaluation, not by the domain's metrics
    protocol = dataclasses.replace(poly_spec, extra={"protocol": "tnp"})
    assert PolynomialDomain().metrics(_item(protocol, signal, 4)) == {}


def test_oracle_is_the_exact_posterior_of_the_data(poly_spec):
    """The data's values are polynomials up to float32 noise (about 1e-7). Below degree + 1 samples the oracle scores
    as the noise-free Gaussian conditional (solved here with numpy); from degree + 1 on it knows the curve to about
    the data's noise. A noise floor of 1e-8 (std 1e-4) had cost 0.1-0.3 nats at |S| = 5, 6 and 4.5 at |S| = 8."""
    import numpy as np

    from domains.polynomial.oracles import polynomial_oracle

    signal = torch.stack([PolynomialDataset(16, 6, 1.0, 64, seed=3)[i]["signal"] for i in range(16)])  # [16, 1, 64]
    for k in (4, 5, 6):
        item = _item(poly_spec, signal, k)
        mean, var = polynomial_oracle(item.ctx_pos[..., 0], item.ctx_val[..., 0], item.qry_pos[..., 0], 6)  # [16, 64]
        ours, ref = [], []
        for b in range(16):
            held = item.held_out[b].numpy()
            y = item.qry_val[b, held, 0].double().numpy()  # [Q]
            pc = item.ctx_pos[b, :, 0].double().numpy()[:, None] ** np.arange(7)  # [k, 7]
            pq = item.qry_pos[b, held, 0].double().numpy()[:, None] ** np.arange(7)  # [Q, 7]
            # a ~ N(0, I) given pc a = y exactly: the mean is the least-norm solution's, the variance what the
            # samples leave of pq's rows (pc^T = Q R: the residual off Q's columns)
            q, r = np.linalg.qr(pc.T)  # [7, k], [k, k]
            m = pq @ q @ np.linalg.solve(r.T, item.ctx_val[b, :, 0].double().numpy())  # [Q]
            v = ((pq - (pq @ q) @ q.T) ** 2).sum(1)  # [Q]
            ref.append(np.mean(0.5 * np.log(2 * np.pi * v) + 0.5 * (y - m) ** 2 / v))
            mo, vo = mean[b][held].numpy(), var[b][held].numpy()  # [Q] each
            ours.append(np.mean(0.5 * np.log(2 * np.pi * vo) + 0.5 * (y - mo) ** 2 / vo))
        assert abs(np.mean(ours) - np.mean(ref)) < 0.03, (k, np.mean(ours), np.mean(ref))
    many = reference_metrics(_item(poly_spec, signal, 8))
    assert (many["oracle_nll"] < -7).all() and many["oracle_nll"].mean() < -10  # 1e-8 gave about -6.4 each


@pytest.mark.parametrize("coef_std", [1.0, 100.0])
def test_the_oracle_s_noise_floor_follows_the_size_of_the_values(coef_std):
    """float32 noise grows with the values: with coef_std = 100 a fixed floor of 1e-12 left a third of the queries
    beyond 4 standard deviations of the oracle (NLL +14 at |S| = 8)."""
    from domains.polynomial.oracles import polynomial_oracle
    from pixeltransformer.sets import SetSampler, fixed_sets

    functions = PolynomialDataset(32, 6, coef_std, 128, seed=5)
    signal = torch.stack([functions[i]["signal"] for i in range(32)])  # [32, 1, 128]
    sets = fixed_sets(SetSampler(1, 8, 100, grid_points=True), signal, list(range(32)), 8, 100, salt=1)
    mean, var = polynomial_oracle(sets.ctx_pos[..., 0], sets.ctx_val[..., 0], sets.qry_pos[..., 0], 6, coef_std)
    z = (sets.qry_val[..., 0].double() - mean).abs() / var.sqrt()  # [32, 100]
    assert z.max() < 4


def test_nll_gap_to_oracle_takes_the_small_levels():
    rows = [{"num_context": k, "nll": 1.0 + k, "oracle_nll": 0.5} for k in (4, 5, 6, 10)] + [
        {"num_context": 4, "nll": None, "oracle_nll": 0.5}]
    assert nll_gap_to_oracle(rows[:4]) == {"4": 4.5, "5": 5.5, "6": 6.5}
    assert nll_gap_to_oracle(rows[4:]) == {}


def test_context_rows_are_read_in_the_datas_own_x_units(poly_spec):
    gp = dataclasses.replace(poly_spec, dataset="gp_rbf", pos_scale=2.0)
    domain = PolynomialDomain()
    pos, val = domain.context_from_rows(torch.tensor([[-2.0, 1.0], [1.0, 7.5]]), gp, "pts.json")  # [K, 2]
    assert pos.tolist() == [[-1.0], [0.5]] and val.tolist() == [[1.0], [7.5]]  # y beyond the nominal range is kept
    with pytest.raises(ValueError, match=r"pts.json: x must lie in \[-2, 2\]"):
        domain.context_from_rows(torch.tensor([[2.5, 0.0]]), gp, "pts.json")
    # a float32 x as written: 1.2, not float64's 1.2000000476837158
    with pytest.raises(ValueError, match=r"x must lie in \[-1, 1\] \(the data's x range\), got 1\.2 in row 1$"):
        domain.context_from_rows(torch.tensor([[1.2, 0.0]]), poly_spec, "--context")
    # y's range is nominal, but not beyond what float32 squares (the value frame) hold
    with pytest.raises(ValueError,
                       match=r"^--context: y must lie within \+-1000000000000000 \(.*\), got -1e\+20 in row 2$"):
        domain.context_from_rows(torch.tensor([[0.1, 3.0], [0.3, -1e20]]), poly_spec, "--context")


def test_benchmark_pictures_take_the_first_points_as_context(poly_spec):
    domain = PolynomialDomain()
    domain.spec = dataclasses.replace(poly_spec, dataset="gp_tnp_rbf", grid_shape=(49,), pos_scale=2.0,
                                      extra={"protocol": "tnp", "kernel": "rbf", "noise_std": 0.02})
    signal = torch.randn(2, 2, 49)  # [B, 2, N]: positions, values
    contexts = domain.picture_contexts(signal, (3, 30, 60), torch.Generator().manual_seed(0))
    assert list(contexts) == ["3", "30", "48"]  # capped to leave one point out
    pos, val = contexts["30"]
    assert torch.equal(pos[..., 0], signal[:, 0, :30]) and torch.equal(val[..., 0], signal[:, 1, :30])


def test_pictures_callback_draws_one_figure_per_function(tiny_module, two_functions, tmp_path):
    assert isinstance(tiny_module.domain, PolynomialDomain) and tiny_module.domain.spec is tiny_module.spec
    pictures = Pictures(levels=(4, 10), num_samples=2, n_autoregressive=None, resolution=16)
    files = pictures.draw(tiny_module, two_functions, tmp_path, "_step000002")
    assert [p.name for p in files["functions"]] == ["functions0_step000002.png", "functions1_step000002.png"]
    assert all(p.stat().st_size > 10_000 for p in files["functions"])


def test_pictures_of_a_model_whose_draws_run_away_are_drawn_without_samples(tiny_module, two_functions, tmp_path,
                                                                            monkeypatch):
    """A model early in its training or diverging (lr 0.3, step 10) predicts spreads far beyond its set's, and each
    draw joins the set the next is drawn from: the samples overflowed float32 and the validation's pictures ended the
    fit, whose loss and weights were finite. The pictures leave the samples out now, and say so."""
    real = tiny_module.dist.sample
    monkeypatch.setattr(tiny_module.dist, "sample", lambda *args, **kw: real(*args, **kw) * 1e30)  # runs away
    pictures = Pictures(levels=(4, 10), num_samples=2, n_autoregressive=None, resolution=16)
    with pytest.warns(UserWarning, match=r"^the pictures at step 2 are drawn without samples: sampling at temperature "
                      r"1 drew values that overflow float32 \(NaN or Inf\): .* lower model\.optim\.lr"):
        files = pictures.draw(tiny_module, two_functions, tmp_path, "_step000002")
    assert [p.name for p in files["functions"]] == ["functions0_step000002.png", "functions1_step000002.png"]


@pytest.mark.parametrize("validating, suffix, message", [
    (False, "_step000002",
     r"^the pictures at step 2 are not drawn: the model's predictions hold NaN or Inf at \d+ of 2 x 16 grid points "
     r"from a finite S: its weights are finite but its outputs overflow; the training diverges: lower "
     r"model\.optim\.lr$"),
    (True, "",
     r"^the pictures are not drawn: the model's predictions hold NaN or Inf at \d+ of 2 x 16 grid points from a "
     r"finite S: its weights are finite but its outputs overflow, as when a checkpoint is saved while its training "
     r"diverges; use an earlier checkpoint$")])
def test_pictures_of_predictions_that_overflow_are_left_out(tiny_module, two_functions, tmp_path, validating, suffix,
                                                            message):
    """A fit skipping NaN losses (model.optim.nonfinite=skip at lr 1e3) validates weights whose outputs overflow: its
    pictures ended the fit ("Axis limits cannot be NaN or Inf"). They are left out with a warning; val/nll is NaN.
    `validate` or `test` of such weights trains nothing, yet the pictures said "the training diverges: lower
    model.optim.lr"; they now say to use an earlier checkpoint."""
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

    with torch.no_grad():
        tiny_module.model.head.weight.mul_(1e37)
    if validating:
        state = SimpleNamespace(fn=TrainerFn.VALIDATING, status=TrainerStatus.RUNNING)
        tiny_module._trainer = SimpleNamespace(state=state, global_rank=0)
    pictures = Pictures(levels=(4, 10), num_samples=2, n_autoregressive=None, resolution=16)
    with pytest.warns(UserWarning, match=message):
        assert pictures.draw(tiny_module, two_functions, tmp_path, suffix) == {}
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from pixeltransformer.cli import main

    root = tmp_path_factory.mktemp("runs")
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
          "--trainer.max_steps=2",
          "--trainer.limit_val_batches=0", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
          "--trainer.enable_model_summary=false", "--trainer.callbacks=[]", "--checkpoint.every_n_train_steps=2",
          "--data.init_args.train_size=16", "--data.init_args.val_size=4", "--data.init_args.test_size=4",
          "--data.init_args.batch_size=4", "--data.init_args.resolution=64", "--run_root", str(root),
          "--run_name", "p"])
    return root / "polynomial" / "p" / "checkpoints" / "last.ckpt"


def _predict(ckpt: Path, *args: str):
    from pixeltransformer.cli import main

    return main(["predict", "--config", str(REPO / "configs/polynomial.yaml"), "--data.init_args.resolution=64",
                 "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.callbacks=[]",
                 "--ckpt_path", str(ckpt), *args])


def test_predict_writes_the_curves_and_keeps_the_observed_points(tiny_checkpoint, tmp_path, capsys):
    grid = torch.linspace(-1, 1, 64)  # the model's grid, in x units (pos_scale 1)
    rows = [[grid[10].item(), 0.75], [grid[40].item(), -6.5], [0.123, 1.0]]  # two on grid points, one between
    points = tmp_path / "points.json"
    points.write_text(json.dumps(rows))
    out = tmp_path / "pred"
    capsys.readouterr()
    _predict(tiny_checkpoint, "--context", str(points), "--num_samples", "2", "--n_autoregressive", "null",
             "--out", str(out))
    record = json.loads((out / "prediction.json").read_text())
    assert record["files"] == ["functions.png", "prediction.csv"] and record["num_context"] == 3
    assert record["context"][2] == [0.123, 1.0]  # as typed, not 0.12300000339746475, the float64 of its float32
    # each file on a line of the evaluation's form (the paths were printed bare)
    assert [line for line in capsys.readouterr().out.splitlines() if str(out) in line] == [
        f"[pixeltransformer] wrote {out / name}" for name in ("functions.png", "prediction.csv", "prediction.json")]
    assert (out / "functions.png").stat().st_size > 10_000
    with open(out / "prediction.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["x", "mean", "std", "sample_1", "sample_2"] and len(table) == 64
    assert float(table[0]["x"]) == -1.0 and float(table[-1]["x"]) == 1.0
    assert all(float(r["std"]) > 0 for i, r in enumerate(table) if i not in (10, 40))
    for i, y in ((10, 0.75), (40, -6.5)):  # the observed grid points keep their values in the mean and the samples
        assert abs(float(table[i]["x"]) - rows[0 if i == 10 else 1][0]) < 1e-5
        assert all(abs(float(table[i][c]) - y) < 1e-4 for c in ("mean", "sample_1", "sample_2"))
        assert float(table[i]["std"]) == 0.0  # a value S gives has no spread
    assert float(table[20]["sample_1"]) != float(table[20]["sample_2"])  # two samples, two curves


def test_predict_refuses_input_files_and_x_out_of_range(tiny_checkpoint, tmp_path):
    data = tmp_path / "obs.csv"
    data.write_text("0.1,0.5\n0.2,0.7\n")
    with pytest.raises(ValueError, match="takes its observations with --context"):
        _predict(tiny_checkpoint, "--input", str(data), "--out", str(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"--context: x must lie in \[-1, 1\]"):
        _predict(tiny_checkpoint, "--context", "[[1.5, 0.0]]", "--out", str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_prediction_that_cannot_be_written_names_its_folder(tiny_checkpoint, tmp_path, monkeypatch):
    """A full disk (or a file-size limit, a quota, a read-only file system) while a prediction's files were written
    stopped it with the system's words alone, "[Errno 28] No space left on device", naming no folder and leaving the
    files written so far. The line names the folder, and nothing of the prediction is left; it says what to do, which
    a run folder on a read-only disk (the default --out is in it) left to guess."""
    import errno

    def full(self, completion, out_dir):
        (out_dir / "functions.png").write_bytes(b"\x89PNG")  # the first file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PolynomialDomain, "write_prediction", full)
    out = tmp_path / "pred"
    with pytest.raises(OSError, match=rf"^cannot write into {out} \(No space left on device\); nothing of the "
                                      r"prediction was kept: free some space there, or give --out a folder on a disk "
                                      r"you can write$"):
        _predict(tiny_checkpoint, "--context", "[[0.1, 0.5]]", "--out", str(out))
    assert not list(tmp_path.iterdir())


def test_a_prediction_stopped_by_ctrl_c_says_nothing_was_written(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    """Ctrl-C while a prediction ran or wrote its files printed only Lightning's "Detected KeyboardInterrupt", where
    SIGTERM says what was written; a Ctrl-C while the files were written left those written so far. It now says
    "nothing was written", and nothing is."""
    def stopped(self, completion, out_dir):
        (out_dir / "functions.png").write_bytes(b"\x89PNG")  # the first file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(PolynomialDomain, "write_prediction", stopped)
    capsys.readouterr()
    with pytest.raises(StageInterrupted):  # Lightning's exit after a KeyboardInterrupt, as a Ctrl-C
        _predict(tiny_checkpoint, "--context", "[[0.1, 0.5]]", "--out", str(tmp_path / "pred"))
    assert "[predict] Ctrl-C: stopped; nothing was written" in capsys.readouterr().out.splitlines()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("option, dataset", [("coef_std", "polynomial"), ("lengthscale", "gp_rbf"),
                                             ("variance", "gp_matern")])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_a_prior_without_spread_is_refused_in_one_line(option, dataset, value):
    """lengthscale 0 stopped with a Cholesky traceback; coef_std 0 trained on constant zero functions and evaluated
    an oracle of NaN (null in metrics.json) without a word; coef_std .inf stopped with a traceback (KeyError 'log_ls',
    the GP learned on curves of Inf and NaN)."""
    from domains.polynomial.data import PolynomialDataModule

    with pytest.raises(ValueError, match=rf"^--data.init_args.{option} must be a finite number > 0, got {value}$"):
        PolynomialDataModule(dataset=dataset, **{option: value})


@pytest.mark.parametrize("val_range", [(-1e30, 1e30), (0.0, 2e15), (-float("inf"), 1.0), (0.0, float("nan"))])
def test_a_value_range_beyond_the_models_float32_range_is_refused(val_range):
    """val_range [-1e30, 1e30] was taken, and the fit stopped at step 0 on a NaN loss, "look at the data, the model's
    options and trainer.precision", naming not the range; Python's (-inf, 1) was taken as well."""
    from domains.polynomial.data import PolynomialDataModule

    message = ("--data.init_args.val_range must be [low, high], finite numbers within +-1000000000000000 (the "
               f"model's float32 arithmetic) with low < high, got [{val_range[0]}, {val_range[1]}]")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PolynomialDataModule(val_range=val_range)
    assert PolynomialDataModule(val_range=(-1e15, 1e15)).spec.val_range == (-1e15, 1e15)  # the bound itself trains


def test_polynomials_beyond_the_models_float32_range_are_refused(tmp_path):
    """coef_std 1e30 drew functions reaching 6e30, whose value frames overflow float32: the fit stopped at step 0 on
    a NaN loss, blaming model.optim.lr."""
    from domains.polynomial.data import PolynomialDataModule

    with pytest.raises(ValueError, match=r"^--data.init_args.coef_std=1e\+30 draws polynomials that reach \S+ on "
                                         r"\[-1, 1\]: the model's float32 arithmetic needs values within "
                                         r"\+-1000000000000000; lower coef_std$"):
        PolynomialDataModule(coef_std=1e30, train_size=8, val_size=4, test_size=4).setup("fit")
    PolynomialDataModule(coef_std=1e10, train_size=8, val_size=4, test_size=4).setup("fit")


def test_polynomials_within_the_float32_range_pass_though_their_coefficient_bound_does_not():
    """The check used the bound sum |a_i|: coef_std 1e14 was refused as reaching 1.1e15 though the drawn values
    stayed below the 1e15 limit. The values themselves decide now."""
    from domains.polynomial.data import PolynomialDataset
    from pixeltransformer.encoding import MAX_ABS_VALUE

    functions = PolynomialDataset(16, 6, 1e14, 128, seed=0)
    assert float(functions.coefs.double().abs().sum(1).max()) > MAX_ABS_VALUE  # the bound alone would refuse them
    assert max(float(functions[i]["signal"].abs().max()) for i in range(16)) < MAX_ABS_VALUE


def test_function_pictures_x_tick_labels_do_not_run_into_each_other(tmp_path, monkeypatch):
    """Three panels on [-1, 1] (the evaluation's pictures): the x labels of each panel stay apart."""
    import numpy as np
    import matplotlib.pyplot as plt

    from domains.polynomial.visualize import figure_functions

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to measure its labels
    x = np.linspace(-1, 1, 64)  # [G]
    panel = {"title": "|S| = 4", "x": x, "mean": x ** 3, "std": 0.1 + 0 * x, "samples": np.stack([x ** 3] * 2),
             "ctx_x": x[::16], "ctx_y": x[::16] ** 3}
    figure_functions([panel] * 3, tmp_path / "f.png", truth=(x, x ** 3))
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    assert len(fig.axes) == 3  # one per panel
    for ax in fig.axes:
        boxes = sorted((t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()),
                       key=lambda b: b.x0)
        gaps = [b.x0 - a.x1 for a, b in zip(boxes, boxes[1:])]
        assert len(boxes) >= 3 and min(gaps) > 2, f"x tick labels overlap: gaps {gaps} px"


def test_function_pictures_name_what_leaves_the_y_range_they_show(tmp_path, monkeypatch):
    """The y range follows the true curve: a mean or samples outside it were cut off without a word. The panel's x
    label names what leaves the range; a panel where everything fits says nothing more than "x"."""
    import numpy as np
    import matplotlib.pyplot as plt

    from domains.polynomial.visualize import beyond_range, figure_functions

    x = np.linspace(-1, 1, 64)  # [G]
    inside = {"title": "|S| = 4", "x": x, "mean": 0.5 * x, "std": 0.05 + 0 * x, "samples": np.stack([0.5 * x] * 3),
              "ctx_x": x[::16], "ctx_y": x[::16]}
    wild = {**inside, "title": "|S| = 6", "mean": 3 * x, "samples": np.stack([0.5 * x, 9 * x, np.nan * x])}
    assert beyond_range(inside, -1.5, 1.5) == []
    assert beyond_range(wild, -1.5, 1.5) == ["mean", "2 of 3 samples", "±2σ band"]
    assert beyond_range({**inside, "samples": np.stack([9 * x])}, -1.5, 1.5) == ["the sample"]
    assert beyond_range({**inside, "std": 2 + 0 * x}, -1.5, 1.5) == ["±2σ band"]

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to read its labels
    figure_functions([inside, wild, wild], tmp_path / "f.png", truth=(x, x))
    labels = [ax.get_xlabel() for ax in figures[0].axes]
    note = "x\noutside the y range shown:\nmean, 2 of 3 samples, ±2σ band"
    assert labels == ["x", note, note], labels
    renderer = figures[0].canvas.get_renderer()  # side by side, the notes do not run into each other
    boxes = [ax.xaxis.label.get_window_extent(renderer) for ax in figures[0].axes]
    assert boxes[1].x1 < boxes[2].x0, boxes
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert "3 samples" in legend and figures[0].axes[0].get_ylabel() == "y", legend


def test_gp_protocol_pictures_label_their_axes_as_the_function_pictures_do(tmp_path, monkeypatch):
    import numpy as np
    import matplotlib.pyplot as plt

    from domains.polynomial.visualize import figure_protocol

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    x = np.linspace(-2, 2, 32)  # [G]
    panel = {"k": 3, "ctx_x": x[:3], "ctx_y": x[:3], "tgt_x": x[3:], "tgt_y": x[3:], "mean": x, "std": 0.1 + 0 * x}
    figure_protocol(x, [panel, {**panel, "k": 10}], tmp_path / "p.png")
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in figures[0].axes] == [("x", "y"), ("x", "")]


@pytest.mark.parametrize("dataset", ["gp_rbf", "gp_matern", "gp_tnp_rbf"])
def test_a_negative_seed_for_gp_draws_is_refused_in_one_line_naming_the_option(dataset):
    """GP draws are fixed by (seed, index) through numpy's SeedSequence, which takes no negative seed: the split's
    dataset stopped at setup with "need seed >= 0 ..., got -999", the split's seed, not the one given."""
    from domains.polynomial.data import PolynomialDataModule

    with pytest.raises(ValueError, match=rf"^--data.init_args.seed must be >= 0 for {dataset}, got -1$"):
        PolynomialDataModule(dataset=dataset, seed=-1)
    PolynomialDataModule(dataset="polynomial", seed=-1).dataset("val")  # torch's generator takes it


def test_metrics_json_says_the_nll_is_a_density_of_y_in_the_datas_units(tiny_module, poly_spec):
    """metrics.json's nll_units read "nats per value dimension, normalised density" for 1D functions, which reads as a
    density of values rescaled to [-1, 1]; the model's NLL, like the oracle's and the GPs', is the density of y as
    the data gives it (what neural-process papers report as a log-likelihood), and the units now say so."""
    from domains.polynomial.evaluation import GPProtocolEvaluation
    from domains.polynomial.kernels import gaussian_nll

    domain = PolynomialDomain()
    domain.spec = poly_spec
    units = domain.summary([])["nll_units"]
    assert "density of y in the data's own units" in units and "normalised" not in units
    evaluation = GPProtocolEvaluation()
    evaluation._per_batch = {k: [] for k in ("target_ll", "context_ll", "oracle_target_ll", "oracle_context_ll",
                                             "bayes_target_ll", "bayes_context_ll")}
    evaluation._sizes = []
    assert evaluation.summary([], tiny_module)["nll_units"] == units
    # and it is: the NLL the sweep reports is the Gaussian's in y's units (val_range (-5, 5) is no rescaling of it)
    torch.manual_seed(0)
    ctx_pos, ctx_val, qry_pos = torch.rand(2, 5, 1) * 2 - 1, torch.randn(2, 5, 1) * 3, torch.rand(2, 7, 1) * 2 - 1
    qry_val = torch.randn(2, 7, 1) * 3  # [B, Q, 1]
    params = tiny_module.predict_params(ctx_pos, ctx_val, qry_pos)  # [B, Q, NP]
    nll = tiny_module.nll_per_dim(params, qry_val)  # [B, Q]
    mean, var = tiny_module.dist.mean(params)[..., 0], tiny_module.dist.variance(params)[..., 0]  # [B, Q] each
    assert torch.allclose(nll.double(), gaussian_nll(mean.double(), var.double(), qry_val[..., 0].double()), atol=1e-4)


def test_functions_drawn_with_other_options_than_the_checkpoint_s_are_named():
    """A GP model trained on draws of lengthscale 0.2 and evaluated on the default 0.4 (or a TNP-protocol model on
    another noise) was scored on other functions than its own without a word; the evaluation names each option and
    what to pass. Another family records other options: nothing to compare."""
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.data_mismatch import conversion_mismatch

    small = dict(train_size=64, resolution=64)
    trained = {"hyper_parameters": {"spec": PolynomialDataModule("gp_rbf", lengthscale=0.2, **small).spec.to_dict()}}
    assert conversion_mismatch(trained, PolynomialDataModule("gp_rbf", lengthscale=0.2, **small)) is None
    assert conversion_mismatch(trained, PolynomialDataModule("gp_rbf", **small)) == (
        "the checkpoint was trained on data made with data.init_args.lengthscale=0.2, not this evaluation's "
        "(lengthscale=0.4): it is scored on data it was not trained on; pass --data.init_args.lengthscale 0.2 to "
        "evaluate on data made as its own")
    assert conversion_mismatch(trained, PolynomialDataModule("polynomial", **small)) is None
    tnp = {"hyper_parameters": {"spec": PolynomialDataModule("gp_tnp_rbf", noise_std=0.05).spec.to_dict()}}
    assert "made with data.init_args.noise_std=0.05, not this evaluation's (noise_std=0.02)" in \
        conversion_mismatch(tnp, PolynomialDataModule("gp_tnp_rbf"))
    assert conversion_mismatch(tnp, PolynomialDataModule("gp_tnp_rbf", noise_std=0.05, scale_range=[0.1, 1])) is None


def test_a_curve_of_many_points_is_drawn_with_few_keeping_its_spikes(tmp_path, monkeypatch):
    """`predict --resolution 100000000` drew every point of its curves in matplotlib: minutes without a line, and
    tens of gigabytes, after the completion. A curve is drawn at MAX_DRAWN points, each run's lowest and highest,
    and its last point."""
    import numpy as np

    from domains.polynomial import visualize

    drawn = []
    monkeypatch.setattr(visualize, "_save", lambda fig, axes, path, title: drawn.append(axes[0][0]) or Path(path))
    n = 200_000
    x = np.linspace(-1, 1, n)  # [G]
    mean = np.sin(3 * x).astype(np.float32)  # [G]
    sample = mean.copy()
    sample[123_457] = 50.0  # one drawn value far off the mean: a spike one point wide
    panel = {"title": "|S| = 3", "x": x, "mean": mean, "std": np.full(n, 0.1, np.float32),
             "samples": sample[None], "ctx_x": np.zeros(3), "ctx_y": np.zeros(3)}
    visualize.figure_functions([panel], tmp_path / "f.png")
    lines = drawn[0].get_lines()
    assert all(len(line.get_xdata()) <= 4096 for line in lines)  # MAX_DRAWN
    assert max(line.get_ydata().max() for line in lines) == 50.0
    band = drawn[0].collections[0].get_paths()[0].vertices  # [D] lower edge, [D] upper edge and closing points
    assert len(band) <= 2 * 4096 + 8
    assert band[:, 1].min() == pytest.approx(float(mean.min()) - 0.2) and band[:, 1].max() == pytest.approx(1.2)
    # every curve and the band end at the last x, with its value (they ended at the start of the last run)
    assert all(line.get_xdata()[-1] == x[-1] for line in lines) and band[:, 0].max() == x[-1]
    assert lines[-1].get_ydata()[-1] == mean[-1]


def test_a_long_prediction_csv_is_written_in_blocks_with_progress(tiny_module, tmp_path, monkeypatch, capsys):
    """prediction.csv was formatted whole in memory: at --resolution 100000000, 1e8 Python strings (over 10 GB) and
    minutes without a line after the completion's own progress. Rows are now written a block at a time."""
    import numpy as np

    import domains.polynomial.domain as domain_module

    monkeypatch.setattr(domain_module, "CSV_ROWS", 7, raising=False)  # 64 rows: 9 blocks of 7 and one of 1
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    completion = tiny_module.complete(torch.tensor([[[-0.5], [0.5]]]), torch.tensor([[[1.0], [-1.0]]]), (64,),
                                      num_samples=2, n_autoregressive=4)  # mean [1, 1, 64], samples [1, 2, 1, 64]
    capsys.readouterr()
    files = tiny_module.domain.write_prediction(completion, tmp_path)
    err = capsys.readouterr().err
    assert "[writing prediction.csv] 1/10 blocks (10%)" in err, err  # the count's plural, exactly
    assert "[writing prediction.csv] 10/10 blocks (100%)" in err, err
    panel = tiny_module.domain.function_panel(completion, "")
    columns = np.stack([panel["x"], panel["mean"], panel["std"], *panel["samples"]], axis=1)  # [G, 5]
    rows = [",".join([f"{r[0]:.15g}", *(f"{v:.6g}" for v in r[1:])]) for r in columns]  # as it was written whole
    assert files[1].read_text() == "\n".join(["x,mean,std,sample_1,sample_2", *rows]) + "\n"


def test_prediction_rows_give_x_to_15_digits_and_the_rest_to_6(tmp_path):
    """write_rows: x as %.15g, the other columns as %.6g, float32 columns as their float64 values, and NaN,
    infinities and -0 as Python spells them. x to 10 digits wrote a timestamp's half seconds (1.6e9 + 0.5 s steps) as
    the same x, 1600000000, twice; 15 keep them, and a year or a step's float64 rounding still reads 2006, 0.001."""
    import numpy as np

    from domains.polynomial.domain import write_rows

    x = np.array([1.7e9, 2024.0, -0.0, 1 / 3, np.nan, 1.6e9, 1.6e9 + 0.5, 2005.9999999999998, 0.1 / 100])  # [9]
    y = np.array([np.inf, -np.inf, 1.5e-30, 3.4e38, 0.1, 1, 2, 3, 4], dtype=np.float32)  # [9]
    write_rows(tmp_path / "p.csv", ["x", "y", "z"], [x, y, -y], "p.csv")
    assert (tmp_path / "p.csv").read_text() == ("x,y,z\n1700000000,inf,-inf\n2024,-inf,inf\n-0,1.5e-30,-1.5e-30\n"
                                                "0.333333333333333,3.4e+38,-3.4e+38\nnan,0.1,-0.1\n1600000000,1,-1\n"
                                                "1600000000.5,2,-2\n2006,3,-3\n0.001,4,-4\n")


def test_a_prediction_s_csv_progress_follows_the_trainer_s_progress_bar(tiny_module, tmp_path, monkeypatch, capsys):
    """`predict --trainer.enable_progress_bar=false` turned the sampling's progress off, and a long prediction.csv
    still printed its [writing prediction.csv] lines: the domain's loop sees no trainer. It follows it now."""
    from types import SimpleNamespace

    import domains.polynomial.domain as domain_module
    from pixeltransformer.predict import PredictionWriter, PredictOptions

    monkeypatch.setattr(domain_module, "CSV_ROWS", 7, raising=False)
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    completion = tiny_module.complete(torch.tensor([[[-0.5], [0.5]]]), torch.tensor([[[1.0], [-1.0]]]), (64,),
                                      num_samples=1, n_autoregressive=4)  # mean [1, 1, 64], samples [1, 1, 1, 64]
    for i, (bar, shown) in enumerate(((None, False), (object(), True))):
        trainer = SimpleNamespace(progress_bar_callback=bar, ckpt_path="", precision="32-true")
        writer = PredictionWriter(PredictOptions(context="[[0, 1]]", out=str(tmp_path / str(i))), tmp_path)
        capsys.readouterr()
        writer.write_on_batch_end(trainer, tiny_module, completion, None, None, 0)
        err = capsys.readouterr().err
        assert ("[writing prediction.csv] 10/10 blocks" in err) == shown, err
        assert (tmp_path / str(i) / "prediction.csv").is_file()


def test_a_train_fraction_of_no_batch_is_refused_naming_the_split():
    """--trainer.limit_train_batches 0.1 on a train split of one batch took no batch: Lightning refused it after the
    model summary with "0.1 * 1 < 1", naming neither the split nor a count to give. It is refused in one line when
    the split is built, before the run's files, and a fraction that takes a batch, or a count, is taken as before."""
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=64, val_size=8, test_size=8, batch_size=64)
    with pytest.raises(ValueError) as err:
        dm.check_train_fraction(0.1)
    assert str(err.value) == (
        "trainer.limit_train_batches=0.1 takes no batch of the train split, 64 functions in 1 batch of batch_size 64 "
        "an epoch: give a count of batches (--trainer.limit_train_batches=1), a fraction of at least 1, or more "
        "functions")
    with pytest.raises(ValueError) as err:
        PolynomialDataModule(train_size=512, batch_size=64).check_train_fraction(0.2, world=2)  # 4 batches each
    assert "train split, 256 of the 512 functions on each of 2 processes, 4 batches of batch_size 64 an epoch: " \
        "give a count of batches (--trainer.limit_train_batches=1), a fraction of at least 0.25," in str(err.value)
    for limit in (1, 0.25, 1.0):
        PolynomialDataModule(train_size=256, batch_size=64).check_train_fraction(limit)


def test_the_least_train_fraction_said_takes_a_batch():
    """On a train split of 3 batches, the refusal of limit_train_batches=0.2 said "a fraction of at least 0.333":
    1/3 rounded down, which takes int(3 * 0.333) = 0 batches and was refused again. It is rounded up (0.334), and
    that fraction is taken."""
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=192, val_size=8, test_size=8, batch_size=64)
    with pytest.raises(ValueError, match=r"192 functions in 3 batches .* a fraction of at least 0\.334, ") as err:
        dm.check_train_fraction(0.2)
    dm.check_train_fraction(float(str(err.value).split("at least ")[1].split(",")[0]))


def test_a_train_fraction_of_no_batch_is_refused_by_the_trainer_s_setup():
    """The check runs in the data module's setup on the Trainer's own limit_train_batches; an overfit_batches
    fraction, which Lightning copies into limit_train_batches, was refused as a limit_train_batches the user never
    gave, and is left to Lightning as a fast_dev_run is."""
    import lightning as L

    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(train_size=64, val_size=8, test_size=8, batch_size=64)
    dm.trainer = L.Trainer(limit_train_batches=0.1, logger=False, enable_progress_bar=False,
                           enable_model_summary=False, enable_checkpointing=False)
    with pytest.raises(ValueError, match=r"^trainer.limit_train_batches=0.1 takes no batch of the train split"):
        dm.setup("fit")
    for debugging in ({"overfit_batches": 0.1}, {"fast_dev_run": True}):
        dm.trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                               enable_checkpointing=False, **debugging)
        dm.setup("fit")


def test_the_published_1d_tables_name_the_density_of_y():
    """docs/results.md showed `nll_units: nats per value dimension, normalised density` under every table of 1D
    functions, the GP benchmark's included, after the evaluation had come to name their NLL (the same numbers) the
    density of y in the data's own units: a reader comparing with neural-process papers read the tables as a density
    of values rescaled to [-1, 1], log 3 nats away from theirs. Each published metrics.json of 1D functions names the
    units the evaluation writes."""
    from domains.polynomial.metrics import NLL_UNITS

    metrics = sorted((Path(__file__).resolve().parents[2] / "docs" / "metrics").glob("*/metrics.json"))
    published = {path.parent.name: json.loads(path.read_text()) for path in metrics}
    units = {name: m.get("nll_units") for name, m in published.items() if m.get("domain") == "polynomial"}
    assert any(name.startswith("gp_tnp_") for name in units)
    assert {name: u for name, u in units.items() if u != NLL_UNITS} == {}


@pytest.mark.parametrize("size, larger", [(2, 4), (100, 200), (10, 1000)])
def test_a_polynomial_is_the_same_whatever_the_size_of_its_split(size, larger):
    """Function i of a split is fixed by (seed, i): torch drew all of a split's coefficients at once, which on the CPU
    transforms them 16 at a time and draws a last partial block, or a draw of under 16, anew. A test split of 100
    (or 2) held other functions than the first 100 of one of 200: two models evaluated at other test sizes were
    scored on other functions. The sizes whose draws fill whole blocks (the defaults: 512, 256, 200 000) keep theirs."""
    first, more = PolynomialDataset(size, 6, 1.0, 16, 3), PolynomialDataset(larger, 6, 1.0, 16, 3)
    assert torch.equal(first.coefs, more.coefs[:size])
    assert torch.equal(PolynomialDataset(512, 6, 1.0, 16, 3).coefs,
                       torch.randn(512, 7, generator=torch.Generator().manual_seed(3)))  # as such splits were drawn


def test_a_dense_gp_sweep_scores_with_the_prior_of_the_data_tested(tmp_path):
    """`trainer.test(model, gp_matern_datamodule)` of a model built on gp_rbf gave the sweep's items the model's spec,
    so the prior oracle of the Matern-5/2 draws was the RBF kernel's, and metrics.json named gp_rbf at its top. The
    items now carry the spec of the data module the test reads from, and metrics.json names it."""
    import warnings

    import lightning as L

    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.evaluation import SweepEvaluation
    from pixeltransformer.module import PixelTransformerModule

    class SeenSpecs(SweepEvaluation):
        seen: set = set()

        def metrics(self, item, pl_module):
            self.seen.add(item.spec.dataset)
            return super().metrics(item, pl_module)

    sizes = dict(train_size=16, val_size=16, test_size=8, batch_size=8)
    rbf, matern = PolynomialDataModule("gp_rbf", **sizes), PolynomialDataModule("gp_matern", **sizes)
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=rbf.spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1))
    evaluation = SeenSpecs(levels=(4,), queries=16, grid_points=False, out_dir=str(tmp_path / "eval"))
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, callbacks=[evaluation], default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.test(module, datamodule=matern, verbose=False)
    assert evaluation.seen == {"gp_matern"}
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["dataset"] == "gp_matern"


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_an_empty_generated_split_names_its_size_option(split):
    """`--data.init_args.val_size=0` stopped a fit on "PolynomialDataModule: the val split is empty", naming neither
    the option nor what to give; the line names both. A file's curves, split by ``splits``, say nothing more."""
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule(dataset="polynomial", resolution=16, **{f"{split}_size": 0})
    with pytest.raises(ValueError, match=rf"^PolynomialDataModule: the {split} split is empty: --data\.init_args\."
                                         rf"{split}_size=0 generates no function; give 1 or more$"):
        dm.dataset(split)


def test_polynomials_on_a_grid_too_large_for_the_memory_are_refused_naming_the_most_that_fit(monkeypatch):
    """--data.init_args.resolution 1000000000 of polynomial data asked torch for the grid's powers, 56 GB at degree
    6: "DefaultCPUAllocator: can't allocate memory" wrapped in jsonargparse's link error and a traceback, after
    allocating the grid itself (8 GB). The model's spec reads the first MAX_CURVES training functions at once
    (float64 [N, R], for the learned GP baseline), the most the data holds: a grid whose points, powers and those
    functions exceed the memory at hand is refused in one line before any is made, naming the most that fit; the
    Python API's PolynomialDataset (an item drawn at a time) too."""
    import pixeltransformer.memory as memory
    from domains.polynomial.data import PolynomialDataModule, PolynomialDataset
    from domains.polynomial.learned_gp import MAX_CURVES

    def need(r, functions=MAX_CURVES):  # the grid [R], its powers [7, R] and the functions [N, R], float64
        return 8 * r * (1 + 7 + functions)

    set_memory(monkeypatch, need(1000))
    assert PolynomialDataModule(resolution=1000).spec.grid_shape == (1000,)
    have = f"more than the {memory.in_bytes(need(1000))} of memory available now"
    with pytest.raises(ValueError, match=rf"^polynomial: the grid of 1,001 points \(--data\.init_args\.resolution\), "
                                         rf"its 7 powers and {MAX_CURVES} functions drawn on it at once, float64 \[R\] "
                                         rf"each, need at least {re.escape(memory.in_bytes(need(1001)))}: {have}; at "
                                         rf"most --data\.init_args\.resolution 1000$"):
        PolynomialDataModule(resolution=1001).spec
    with pytest.raises(ValueError, match=r"^polynomial: the grid of 1e\+09 points .* its 3 powers and 1 function "
                                         r"drawn .* need at least 37\.3 GiB: .*; at most --data\.init_args\."
                                         r"resolution 52800$"):
        PolynomialDataset(4, 2, 1.0, 10**9, seed=0)
