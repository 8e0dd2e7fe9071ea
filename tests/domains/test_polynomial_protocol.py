"""The GP benchmark (domains/polynomial/protocol.py) and the GP oracles: the sampler's protocol statistics, the
oracles against a direct float64 solve, and the oracle's calibration on the data it is the oracle of; the Bayes
predictor against a direct mixture over its grid."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from domains.polynomial.data import GPDataset, PolynomialDataModule
from domains.polynomial.evaluation import GPProtocolEvaluation
from domains.polynomial.kernels import GP_NUGGET, kernel_matrix
from domains.polynomial.oracles import gp_oracle, gp_predictive, gp_protocol_bayes_log_lik, gp_protocol_oracle
from domains.polynomial.protocol import GPProtocolDataset, ProtocolSetSampler, evaluation_sizes, protocol_sizes
from polynomial_memory import set_memory
from tests.unit.stand_ins import Stopped, fake_trainer, loop_reading, stop_after
from wrote_lines import unnamed_files

REPO = Path(__file__).resolve().parents[2]


def _kernel_np(kind: str, a: np.ndarray, b: np.ndarray, lengthscale: float, scale: float) -> np.ndarray:
    """The two kernels written out directly: scale is the output standard deviation."""
    r = np.abs(a[:, None] - b[None, :]) / lengthscale
    if kind == "rbf":
        return scale**2 * np.exp(-0.5 * r**2)
    return scale**2 * (1 + math.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-math.sqrt(5) * r)


def _direct_predictive(kind, xc, yc, xq, lengthscale, scale, noise_var):
    """Condition the joint Gaussian of noisy (context, query) observations with numpy.linalg.solve."""
    c_cc = _kernel_np(kind, xc, xc, lengthscale, scale) + noise_var * np.eye(len(xc))
    c_qc = _kernel_np(kind, xq, xc, lengthscale, scale)
    c_qq = _kernel_np(kind, xq, xq, lengthscale, scale) + noise_var * np.eye(len(xq))
    mean = c_qc @ np.linalg.solve(c_cc, yc)
    cov = c_qq - c_qc @ np.linalg.solve(c_cc, c_qc.T)
    return mean, np.diag(cov)


@pytest.mark.parametrize("kind", ["rbf", "matern"])
def test_protocol_oracle_matches_a_direct_solve(kind):
    rng = np.random.default_rng(0)
    b, k, q = 3, 12, 7
    xc, xq = rng.uniform(-2, 2, (b, k)), rng.uniform(-2, 2, (b, q))
    yc = rng.normal(size=(b, k))
    ls, scale = np.array([0.1, 0.35, 0.6]), np.array([0.1, 0.5, 1.0])
    mean, var = gp_protocol_oracle(torch.tensor(xc), torch.tensor(yc), torch.tensor(xq), kind, torch.tensor(ls),
                                   torch.tensor(scale), 0.02)
    for i in range(b):
        m, v = _direct_predictive(kind, xc[i], yc[i], xq[i], ls[i], scale[i], 0.02**2)
        np.testing.assert_allclose(mean[i].numpy(), m, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(var[i].numpy(), v, rtol=1e-8, atol=1e-12)
    # context points queried with the context: a fresh observation there, whose function value S pins down to
    # less than the noise variance, so the predictive variance lies between 1 and 2 noise variances
    _, var_c = gp_protocol_oracle(torch.tensor(xc), torch.tensor(yc), torch.tensor(xc), kind, torch.tensor(ls),
                                  torch.tensor(scale), 0.02)
    assert (var_c > 0.02**2).all() and (var_c < 2 * 0.02**2).all()


@pytest.mark.parametrize("kind", ["rbf", "matern"])
def test_gp_oracle_predicts_the_nugget_of_the_data(kind):
    """The fixed-hyperparameter oracle (gp_rbf / gp_matern) against a direct solve with the dataset's nugget."""
    rng = np.random.default_rng(1)
    xs = np.sort(rng.uniform(-2, 2, 2 * 47))
    xc, xq = xs[::2][:47], xs[1::2][:20]
    yc = rng.normal(size=47)
    mean, var = gp_oracle(torch.tensor(xc)[None], torch.tensor(yc)[None], torch.tensor(xq)[None], kind, 0.4, 1.0)
    m, v = _direct_predictive(kind, xc, yc, xq, 0.4, 1.0, GP_NUGGET)
    np.testing.assert_allclose(mean[0].numpy(), m, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(var[0].numpy(), v, rtol=1e-5, atol=1e-13)
    assert (var >= GP_NUGGET).all()


def test_gp_oracle_is_calibrated_on_gp_draws_with_many_samples():
    """Where S pins the function down (|S| = 47, lengthscale 0.4) the data's own nugget dominates the predictive:
    the standardised errors at held-out grid points have mean square 1 (an oracle without it gives about 2.5)."""
    res, n, k = 256, 128, 47
    values = GPDataset(n, "rbf", 0.4, 1.0, res, 2.0, seed=1).draw(list(range(n))).double()  # [N, R]
    x = torch.linspace(-2, 2, res, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(res, generator=gen)[: k + 50] for _ in range(n)])  # [N, K+Q]
    xs, ys = x[idx], values.gather(1, idx)
    mean, var = gp_oracle(xs[:, :k], ys[:, :k], xs[:, k:], "rbf", 0.4, 1.0)
    z2 = ((ys[:, k:] - mean) ** 2 / var).mean().item()
    assert abs(z2 - 1) < 0.15, z2


@pytest.mark.parametrize("kind", ["rbf", "matern"])
def test_bayes_predictor_is_the_posterior_mixture_over_its_grid(kind):
    """On a 3 x 2 grid: weights from each node's marginal likelihood of S (numpy's slogdet and solve), each node's
    predictive from the direct solve, mixed per query; and with the priors collapsed to one point it is the oracle."""
    rng = np.random.default_rng(7)
    xc, xq = rng.uniform(-2, 2, (2, 9)), rng.uniform(-2, 2, (2, 5))
    yc, yq = rng.normal(0, 0.5, (2, 9)), rng.normal(0, 0.5, (2, 5))
    ls_range, scale_range, noise = (0.1, 0.6), (0.1, 1.0), 0.02
    got = gp_protocol_bayes_log_lik(*map(torch.from_numpy, (xc, yc, xq, yq)), kind, ls_range, scale_range, noise,
                                    grid=(3, 2)).numpy()  # [2, 5]
    for b in range(2):
        log_ml, log_pred = [], []
        for ls in (0.1 + 0.5 * (i + 0.5) / 3 for i in range(3)):
            for scale in (0.1 + 0.9 * (j + 0.5) / 2 for j in range(2)):
                cov = _kernel_np(kind, xc[b], xc[b], ls, scale) + noise**2 * np.eye(9)
                log_ml.append(-0.5 * (yc[b] @ np.linalg.solve(cov, yc[b]) + np.linalg.slogdet(cov)[1]
                                      + 9 * math.log(2 * math.pi)))
                mean, var = _direct_predictive(kind, xc[b], yc[b], xq[b], ls, scale, noise**2)
                log_pred.append(-0.5 * (np.log(2 * math.pi * var) + (yq[b] - mean) ** 2 / var))
        w = np.exp(np.array(log_ml) - max(log_ml))
        want = np.log((w[:, None] * np.exp(np.array(log_pred))).sum(0) / w.sum())
        np.testing.assert_allclose(got[b], want, rtol=0, atol=1e-9)
    point = gp_protocol_bayes_log_lik(*map(torch.from_numpy, (xc, yc, xq, yq)), kind, (0.3, 0.3), (0.7, 0.7), noise)
    ls, scale = torch.full((2,), 0.3, dtype=torch.float64), torch.full((2,), 0.7, dtype=torch.float64)
    mean, var = gp_protocol_oracle(torch.from_numpy(xc), torch.from_numpy(yc), torch.from_numpy(xq), kind, ls, scale,
                                   noise)
    want = -0.5 * (torch.log(2 * math.pi * var) + (torch.from_numpy(yq) - mean) ** 2 / var)
    torch.testing.assert_close(point, want, rtol=0, atol=1e-9)


def test_bayes_predictor_sits_between_the_oracle_and_a_fixed_guess_on_protocol_data():
    """Not told the hyperparameters, it scores below the exact oracle; inferring them from S, it scores above a GP
    with the priors' middle values."""
    ds = GPProtocolDataset(24 * 16, "rbf", seed=3)
    bayes, oracle, guess = [], [], []
    for number in range(24):
        items = [ds[i] for i in range(16 * number, 16 * number + 16)]
        signal = torch.stack([it["signal"] for it in items]).double()  # [16, 2, 49]
        x, y = signal[:, 0] * 2, signal[:, 1]  # [16, 49] each
        nc, nt = evaluation_sizes(0, number)
        xc, yc, xq, yq = x[:, :nc], y[:, :nc], x[:, nc : nc + nt], y[:, nc : nc + nt]
        bayes.append(gp_protocol_bayes_log_lik(xc, yc, xq, yq, "rbf", (0.1, 0.6), (0.1, 1.0), 0.02).mean())
        for out, ls, scale in ((oracle, torch.stack([it["lengthscale"] for it in items]),
                                torch.stack([it["scale"] for it in items])),
                               (guess, torch.full((16,), 0.35), torch.full((16,), 0.55))):
            mean, var = gp_protocol_oracle(xc, yc, xq, "rbf", ls, scale, 0.02)
            out.append((-0.5 * (torch.log(2 * math.pi * var) + (yq - mean) ** 2 / var)).mean())
    bayes, oracle, guess = (torch.stack(v).mean().item() for v in (bayes, oracle, guess))
    assert guess + 0.05 < bayes < oracle, (guess, bayes, oracle)


def test_protocol_sizes_cover_exactly_the_published_ranges():
    gen = torch.Generator().manual_seed(0)
    sizes = [protocol_sizes(gen) for _ in range(20000)]
    nc = np.array([s[0] for s in sizes])
    nt = np.array([s[1] for s in sizes])
    assert set(nc.tolist()) == set(range(3, 47))  # Nc ~ U{3..46}
    assert nt.min() == 3 and (nt <= 49 - nc).all() and (nt == 49 - nc).any()  # Nt ~ U{3..49 - Nc}
    counts = np.bincount(nc, minlength=47)[3:]
    assert counts.min() > 0.8 * len(nc) / 44 and counts.max() < 1.2 * len(nc) / 44  # uniform
    small = nt[nc == 3]
    assert set(small.tolist()) == set(range(3, 47))


def test_protocol_data_positions_hyperparameters_and_noise():
    ds = GPProtocolDataset(3000, "rbf", seed=0)
    items = [ds[i] for i in range(len(ds))]
    signal = torch.stack([it["signal"] for it in items]).double()  # [N, 2, 49]
    assert signal.shape[1:] == (2, 49)
    x, y = signal[:, 0] * 2, signal[:, 1]  # positions back in x units
    assert x.min() >= -2 and x.max() <= 2 and x.min() < -1.99 and x.max() > 1.99
    assert abs(x.mean().item()) < 0.02 and abs(x.var().item() - 16 / 12) < 0.02  # U[-2, 2]
    ls = torch.stack([it["lengthscale"] for it in items])
    scale = torch.stack([it["scale"] for it in items])
    assert 0.1 <= ls.min() and ls.max() <= 0.6 and 0.1 <= scale.min() and scale.max() <= 1.0
    # the scale is a standard deviation: Var(y) = scale^2 + noise^2 at every point
    ratio = (y**2).mean(1) / (scale.double() ** 2 + 0.02**2)
    assert abs(ratio.mean().item() - 1) < 0.05
    # observation noise: two nearly coincident points differ by the noise alone, E (y_i - y_j)^2 / 2 = 0.02^2
    diffs = []
    for xi, yi in zip(x, y):
        d = (xi[:, None] - xi[None, :]).abs()
        i, j = torch.nonzero(torch.triu(d < 3e-4, diagonal=1), as_tuple=True)
        diffs.append(yi[i] - yi[j])
    diffs = torch.cat(diffs)
    assert len(diffs) > 200
    sigma = (diffs**2).mean().div(2).sqrt().item()
    assert abs(sigma - 0.02) < 0.003, sigma


def test_protocol_items_are_fixed_by_seed_and_index():
    a, b = GPProtocolDataset(10, "matern", seed=4), GPProtocolDataset(10, "matern", seed=4)
    assert torch.equal(a[7]["signal"], b[7]["signal"])
    assert not torch.equal(a[7]["signal"], a[6]["signal"])
    assert not torch.equal(a[7]["signal"], GPProtocolDataset(10, "matern", seed=5)[7]["signal"])
    # the splits of a DataModule never share a function, at any index
    dm = PolynomialDataModule(dataset="gp_tnp_rbf", train_size=100, val_size=100, test_size=100)
    splits = [dm.build_split(s) for s in ("train", "val", "test")]
    firsts = {tuple(ds[i]["signal"][1, :3].tolist()) for ds in splits for i in range(100)}
    assert len(firsts) == 300


def test_protocol_oracle_is_calibrated_on_the_protocol_data():
    """The oracle reads the data's hyperparameters as the data use them (scale a standard deviation, noise 0.02)."""
    ds = GPProtocolDataset(64 * 16, "matern", seed=2)
    gen = torch.Generator().manual_seed(3)
    sampler = ProtocolSetSampler()
    z2 = []
    for start in range(0, len(ds), 16):
        items = [ds[i] for i in range(start, start + 16)]
        sets = sampler(torch.stack([it["signal"] for it in items]), gen)
        ls, scale = torch.stack([it["lengthscale"] for it in items]), torch.stack([it["scale"] for it in items])
        mean, var = gp_protocol_oracle(sets.ctx_pos[..., 0] * 2, sets.ctx_val[..., 0], sets.qry_pos[..., 0] * 2,
                                       "matern", ls, scale, 0.02)
        z2.append(((sets.qry_val[..., 0].double() - mean) ** 2 / var).flatten())
    assert abs(torch.cat(z2).mean().item() - 1) < 0.08


def test_sampler_takes_the_first_points_as_context_and_the_next_as_targets():
    signal = torch.stack([torch.linspace(-1, 1, 49), torch.arange(49.0)]).unsqueeze(0).repeat(2, 1, 1)  # [2, 2, 49]
    sets = ProtocolSetSampler()(signal, torch.Generator().manual_seed(0))
    nc, nt = sets.num_context, sets.qry_pos.shape[1]
    assert 3 <= nc <= 46 and 3 <= nt <= 49 - nc
    assert sets.ctx_val[0, :, 0].tolist() == list(range(nc))
    assert sets.qry_val[0, :, 0].tolist() == list(range(nc, nc + nt))
    fixed = ProtocolSetSampler()(signal, torch.Generator(), num_context=10)
    assert fixed.num_context == 10 and fixed.qry_pos.shape[1] == 39
    with pytest.raises(ValueError, match="point sets"):
        ProtocolSetSampler()(torch.zeros(2, 1, 64), torch.Generator())


def test_a_protocol_fit_does_not_warn_of_sets_larger_than_its_functions():
    """The protocol's sampler draws Nc <= 46 of a function's 49 points, but it kept the core sampler's max_context
    (2048), and every gp_tnp_* fit warned `model.sets.max_context=2048 is above the 49 points ...: 57% of the training
    sets would hold more samples than a signal has points; give --model.sets.init_args.max_context=49 or less`, an
    option the protocol never reads."""
    import domains.polynomial.domain  # noqa: F401  (the module's Domain)
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import denser_than_signal

    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    sampler = ProtocolSetSampler()
    gen = torch.Generator().manual_seed(0)
    signal = torch.zeros(1, 2, spec.num_points)  # [B, 2, N]: a point set
    largest = max(sampler(signal, gen).num_context for _ in range(2000))
    assert largest == 46 <= spec.num_points
    assert denser_than_signal(sampler, spec) is None
    module = PixelTransformerModule(spec=spec.to_dict(), net=dict(width=32, ffn=64), sets=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.setup("fit")
        module.teardown("fit")
    assert sampler.largest_context(spec.num_points) == largest  # what the check reads is what the sampler draws


def test_a_protocol_s_training_and_evaluation_steps_are_bounded_by_the_sets_the_protocol_draws(monkeypatch):
    """The training step's memory check took the core sampler's num_queries (2048), which the protocol's sampler
    never reads (its Nc + Nt <= 49): the GP protocol fit asked 11.5 GiB where about 0.27 GiB is true, refused what
    fits, and named num_queries as the remedy. Its largest step is Nc = 46 observed and the 3 targets they leave,
    and the remedy names the option that sizes it, the data's max_points; an evaluation step's, the N - k targets
    its level k leaves."""
    import domains.polynomial.domain  # noqa: F401  (the module's Domain)
    from pixeltransformer import memory
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.sets import SetSampler

    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    sampler = ProtocolSetSampler()
    gen = torch.Generator().manual_seed(0)
    signal = torch.zeros(1, 2, spec.num_points)  # [B, 2, N]: a point set
    steps = {(s.num_context, s.qry_pos.shape[1]) for s in (sampler(signal, gen) for _ in range(4000))}
    assert sampler.largest_step(spec.num_points) == (46, 3) in steps
    assert all(nc + nt <= 46 + 3 for nc, nt in steps)  # no step holds more points
    assert SetSampler(max_context=16, num_queries=8).largest_step(64) == (16, 8)
    assert SetSampler(max_context=100, num_queries=8, grid_points=True).largest_step(64) == (64, 8)
    # validation and the test's NLL at |S| = k score every one of the N - k points left: at the configs' level 10 of
    # 49 points, 39 targets, where the evaluation's check took the training step's 3 (a bound 3.9 times too low) and
    # named model.sets.num_queries, which the protocol never reads; a higher level leaves fewer targets, so the
    # remedy names the levels as well as max_points
    module = PixelTransformerModule(spec=spec.to_dict(), net=dict(width=32, ffn=64), sets=sampler,
                                    val_levels=(3, 10))
    assert sampler(signal, gen, num_context=10).qry_pos.shape[1] == 39  # [1, 39, 1]
    # at levels 3 and 46, the steps (3, 46) and (46, 3) both reach 49 points: fewer observed points alone would leave
    # level 3's 46 queries, and it named model.val_levels alone
    tied = PixelTransformerModule(spec=spec.to_dict(), net=dict(width=32, ffn=64), sets=sampler, val_levels=(3, 46))
    for check, per_signal, refusal in (
            (module.check_train_memory, memory.train_step_bytes(module.net_config, 1, 46, 3),
             r"^a training step of batch_size 11 \(up to 46 observed and 3 query points a signal, .*; at most "
             r"batch_size 10, or fewer points a signal \(data.init_args.max_points\) or a smaller model"),
            (module.check_eval_memory, memory.eval_step_bytes(module.net_config, 1, 3, 46),
             r"^an evaluation step of batch_size 11 \(up to 3 observed and 46 query points a signal, .*; at most "
             r"batch_size 10, or fewer query points a signal \(higher model.val_levels, "
             r"data.init_args.max_points\) "),
            (tied.check_eval_memory, memory.eval_step_bytes(tied.net_config, 1, 46, 3),
             r"^an evaluation step of batch_size 11 \(up to 46 observed and 3 query points a signal, .*; at most "
             r"batch_size 10, or fewer observed and query points a signal \(model.val_levels, "
             r"data.init_args.max_points\) ")):
        monkeypatch.setattr(memory, "available_memory", lambda: 10 * per_signal)
        check(10)
        with pytest.raises(ValueError, match=refusal):
            check(11)


def test_protocol_datamodule_spec_and_bad_input():
    dm = PolynomialDataModule(dataset="gp_tnp_matern", val_range=(-3, 3))
    spec = dm.spec
    assert spec.extra["protocol"] == "tnp" and spec.extra["kernel"] == "matern" and spec.pos_scale == 2.0
    assert spec.extra["noise_std"] == 0.02 and spec.grid_shape == (49,)
    with pytest.raises(ValueError, match="lengthscale_range"):
        PolynomialDataModule(dataset="gp_tnp_rbf", lengthscale_range=(0.6, 0.1))
    with pytest.raises(ValueError, match="unknown 1D dataset"):
        PolynomialDataModule(dataset="gp_tnp_cosine")


def test_an_empty_benchmark_test_split_names_the_evaluation_s_whole_batches_too():
    """test_size 0 was told "give 1 or more", and test_size 1 then "a multiple of 16": one line says both where the GP
    protocol evaluation reads the test split (of its batch_size), and "1 or more" where nothing asks whole batches."""
    from types import SimpleNamespace

    def setup(*callbacks):
        dm = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3), test_size=0)
        dm.trainer = SimpleNamespace(callbacks=list(callbacks))
        dm.setup("test")

    start = r"^PolynomialDataModule: the test split is empty: --data\.init_args\.test_size=0 generates no function; "
    with pytest.raises(ValueError, match=start + r"give 16 or more, a multiple of 16: the GP protocol evaluation "
                                               r"scores whole batches of 16 functions$"):
        setup(GPProtocolEvaluation())
    with pytest.raises(ValueError, match=start + r"give 8 or more, a multiple of 8: the GP protocol evaluation "
                                               r"scores whole batches of 8 functions$"):
        setup(GPProtocolEvaluation(batch_size=8))
    with pytest.raises(ValueError, match=start + r"give 1 or more$"):
        setup()


@pytest.mark.parametrize("option, value, message", [
    ("lengthscale_range", (0.6, 0.1), "--data.init_args.lengthscale_range must be [low, high], finite numbers with "
                                      "0 < low <= high, got [0.6, 0.1]"),
    ("scale_range", (0.0, 1.0), "--data.init_args.scale_range must be [low, high], finite numbers with "
                                "0 < low <= high, got [0.0, 1.0]"),
    ("scale_range", (0.1, math.inf), "--data.init_args.scale_range must be [low, high], finite numbers with "
                                     "0 < low <= high, got [0.1, inf]"),
    ("max_points", 6, "--data.init_args.max_points must be a whole number >= 10 (a benchmark function's context and "
                      "target points; the protocol's 50), got 6"),
    ("noise_std", math.inf, "--data.init_args.noise_std must be a finite number > 0 (the benchmark's observation "
                            "noise; the protocol's 0.02), got inf"),
    ("noise_std", math.nan, "--data.init_args.noise_std must be a finite number > 0 (the benchmark's observation "
                            "noise; the protocol's 0.02), got nan")])
def test_a_benchmark_prior_that_is_no_prior_is_refused_naming_the_option(option, value, message):
    """A reversed range read "need 0 < low <= high for lengthscale_range (0.6, 0.1) and scale_range (0.1, 1.0)",
    naming neither the option nor which of the two was wrong, and max_points=6 "max_points must be >= 10"; a scale
    range up to .inf was taken, and the first function drawn stopped on numpy's "high - low range exceeds valid
    bounds"; noise_std .inf was told to "raise --data.init_args.noise_std" at the first function drawn."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PolynomialDataModule(dataset="gp_tnp_rbf", **{option: value})


@pytest.mark.parametrize("dataset, sets, message", [
    ("gp_tnp_rbf", None, "gp_tnp_rbf data are the GP benchmark's point sets, which only its own set sampler reads: "
                         "give --config configs/polynomial/gp_tnp_rbf.yaml (make train or make eval DATA=gp_tnp_rbf), "
                         "whose model.sets is domains.polynomial.protocol.ProtocolSetSampler (in Python: "
                         "sets=ProtocolSetSampler())"),
    ("gp_rbf", ProtocolSetSampler(), "model.sets ProtocolSetSampler draws the GP benchmark's sets from its point sets "
                                     "(gp_tnp_rbf, gp_tnp_matern, gp_tnp_periodic data), not from gp_rbf data: give "
                                     "the data one of those datasets, or leave out the gp_tnp_* config (in Python: "
                                     "another sets=, or none)")])
def test_a_set_sampler_that_cannot_read_the_data_is_refused_before_a_step(dataset, sets, message):
    """--data.init_args.dataset=gp_tnp_rbf over configs/polynomial.yaml (its grid sampler) stopped at the first
    training step on a traceback, "mat1 and mat2 shapes cannot be multiplied"; the benchmark's sampler on dense GP
    draws at "the GP protocol expects point sets [B, 2, N]", naming neither the sampler nor the config. The stages
    that draw sets with it (fit, validate, test: the plain test NLL) refuse it as they start; predict draws none."""
    import domains.polynomial.domain  # noqa: F401  (registers the domain whose check this is)
    from pixeltransformer.module import PixelTransformerModule

    spec = PolynomialDataModule(dataset=dataset, val_range=(-3, 3)).spec
    module = PixelTransformerModule(spec=spec, domain="polynomial", sets=sets)
    for stage in ("fit", "validate", "test"):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            module.setup(stage)


def test_a_benchmark_checkpoint_rebuilt_in_python_draws_its_own_sets_and_is_checked_against_the_data_given():
    """A module rebuilt from a GP benchmark checkpoint's hyperparameters (load_from_checkpoint) got the core's
    SetSampler: its evaluation on the benchmark's data stopped on a shape traceback. It gets the benchmark's sampler
    again; and a stage given other data than the module's (trainer.test(module, datamodule=...)) is checked against
    that data's spec too, which stopped on a shape traceback."""
    import domains.polynomial.domain  # noqa: F401  (registers the domain whose check this is)
    from pixeltransformer.module import PixelTransformerModule

    data = PolynomialDataModule(dataset="gp_tnp_rbf")
    trained = PixelTransformerModule(spec=data.spec, domain="polynomial", sets=ProtocolSetSampler())
    rebuilt = PixelTransformerModule(**trained.hparams)
    assert type(rebuilt.sampler) is ProtocolSetSampler
    rebuilt.setup("test")  # no refusal: its own sets
    dense = PolynomialDataModule(dataset="gp_rbf", val_range=(-3, 3))
    rebuilt._trainer = SimpleNamespace(fast_dev_run=False, overfit_batches=0, datamodule=dense)
    with pytest.raises(ValueError, match=r"^model\.sets ProtocolSetSampler draws the GP benchmark's sets .* not from "
                                         r"gp_rbf data"):
        rebuilt.setup("test")


@pytest.mark.parametrize("kernel", ["rbf", "periodic"])
def test_protocol_train_and_eval_write_gp_protocol(tmp_path, monkeypatch, capsys, kernel):
    """`fit` then `test` through the CLI with the overlay: metrics.json has the gp_protocol block, the
    evaluation's last line names every file it wrote, and W&B gets each of its media under a key of its own. The
    periodic benchmark's batches carry each function's period through the scores and the figures; it has no Bayes
    predictor, so its bayes fields are null."""
    from pixeltransformer import media
    from pixeltransformer.cli import main

    class FakeRun:  # stands for the W&B run of rank zero (the fit and the test here have no logger)
        def __init__(self):
            self.logged, self.summary, self.config = [], {}, {}

        def log(self, data):
            self.logged.append(data)

    run_log = FakeRun()
    monkeypatch.setattr(media, "wandb_run", lambda trainer: run_log)
    monkeypatch.chdir(REPO)
    common = ["--config", "configs/polynomial.yaml", "--config", f"configs/polynomial/gp_tnp_{kernel}.yaml",
              "--model.net.width=64", "--model.net.ffn=128", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
              "--trainer.enable_model_summary=false", "--data.init_args.batch_size=16",
              "--data.init_args.train_size=64", "--data.init_args.val_size=16", "--data.init_args.test_size=48",
              "--run_root", str(tmp_path)]
    main(["fit", *common, "--trainer.max_steps=2", "--trainer.val_check_interval=2",
          "--checkpoint.every_n_train_steps=2", "--run_name", "p"])
    run = tmp_path / "polynomial" / "p"
    capsys.readouterr()
    main(["test", *common, "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    out = capsys.readouterr().out
    wrote = [line for line in out.splitlines() if "wrote" in line and "metrics.json" in line]
    assert wrote == [f"[pixeltransformer] wrote {run / 'eval' / 'metrics.json'}, metrics_vs_context.png, functions.png"]
    assert unnamed_files(out, run / "eval") == []  # the pictures and config_test.yaml too
    keys = [key for data in run_log.logged for key in data if key.startswith("eval/")]
    assert len(keys) == len(set(keys)) and {"eval/functions", "eval/functions_with_oracle"} <= set(keys)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    gp = metrics["gp_protocol"]
    assert gp["num_batches"] == 3 and gp["batch_size"] == 16 and gp["benchmark"]["kernel"] == kernel
    for key in ("target_ll", "context_ll", "oracle_target_ll", "oracle_context_ll"):
        assert math.isfinite(gp[key]) and gp[f"{key}_se"] >= 0
    assert gp["oracle_target_ll"] > gp["target_ll"]  # two steps of training are far from the oracle
    bayes = ("bayes_target_ll", "bayes_context_ll", "bayes_target_ll_gap", "oracle_minus_bayes_target_ll")
    if kernel == "periodic":
        assert gp["benchmark"]["period_range"] == [0.1, 0.5]
        assert all(gp[key] is None for key in bayes)
        assert all(r.get("bayes_nll") is None and math.isfinite(r["oracle_nll"]) for r in metrics["rows"])
    else:
        for key in bayes:
            assert math.isfinite(gp[key]) and gp[f"{key}_se"] >= 0
        assert gp["bayes_target_ll_gap"] == pytest.approx(gp["bayes_target_ll"] - gp["target_ll"])
        assert gp["oracle_minus_bayes_target_ll"] == pytest.approx(gp["oracle_target_ll"] - gp["bayes_target_ll"])
        assert gp["bayes_target_ll"] > gp["target_ll"]  # and from the Bayes predictor
        assert all(math.isfinite(r["bayes_nll"]) for r in metrics["rows"])
    assert 3 <= gp["num_context_range"][0] <= gp["num_context_range"][1] <= 46
    assert [r["num_context"] for r in metrics["rows"]] == [3, 5, 10, 20, 30, 46]
    assert (run / "eval" / "functions.png").is_file()
    # the W&B summary holds results: the benchmark's settings are in the run's config (trainer.callbacks), as the
    # core evaluation's seed is; they were summary numbers eval/gp_protocol/seed and batch_size
    assert run_log.summary["eval/gp_protocol/target_ll"] == gp["target_ll"]
    assert run_log.summary["eval/gp_protocol/num_batches"] == 3
    assert not {"eval/seed", "eval/gp_protocol/seed", "eval/gp_protocol/batch_size"} & set(run_log.summary)


def test_gp_draws_are_fixed_by_seed_and_index_and_drawn_when_read():
    """The 200 000 training functions were drawn before the first step (20 s, 2.4 GB): each item is now drawn when
    read, fixed by (seed, i) whatever batch it comes in, and a DataLoader draws a batch in one call."""
    from torch.utils.data import DataLoader

    huge = GPDataset(10**12, "rbf", 0.4, 1.0, 64, 2.0, seed=3)  # no storage: a size of any length costs nothing
    assert len(huge) == 10**12 and huge[10**12 - 1]["signal"].shape == (1, 64)
    ds = GPDataset(8, "matern", 0.4, 1.0, 64, 2.0, seed=3)
    alone = torch.cat([ds[i]["signal"] for i in range(8)])  # [8, 64]
    batched = torch.cat([b["signal"][:, 0] for b in DataLoader(ds, batch_size=3, shuffle=False)])  # [8, 64]
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-6)
    torch.testing.assert_close(ds.__getitems__([5, 2])[0]["signal"], alone[5:6], rtol=0, atol=1e-6)
    assert not torch.allclose(GPDataset(8, "matern", 0.4, 1.0, 64, 2.0, seed=4)[0]["signal"], alone[:1])
    with pytest.raises(IndexError):
        ds[8]


def test_gp_draw_batches_carry_their_split_indices():
    """GP batches are drawn in one call; each item still carries its index in the split, which seeds its evaluation
    sets and keys its metrics (without it a short last batch repeated the keys of the batch before)."""
    dm = PolynomialDataModule(dataset="gp_rbf", train_size=16, val_size=8, test_size=10, resolution=32, batch_size=4)
    batches = list(dm.test_dataloader())
    assert [b["index"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    alone = torch.cat([dm.dataset("test")[i]["signal"] for i in range(10)])  # [10, 32]
    torch.testing.assert_close(torch.cat([b["signal"][:, 0] for b in batches]), alone, rtol=0, atol=1e-6)


def test_the_evaluation_prints_the_benchmarks_numbers():
    """`make eval` on a gp_tnp_* run showed only Lightning's `test/val_nll@10` on the console: the target and context
    log-likelihood the neural-process papers report were in metrics.json alone."""
    from domains.polynomial.evaluation import GPProtocolEvaluation, protocol_headline

    evaluation = GPProtocolEvaluation()
    evaluation._per_batch = {"target_ll": [0.9, 1.1], "context_ll": [2.3, 2.5], "oracle_target_ll": [1.0, 1.2],
                             "oracle_context_ll": [2.6, 2.6], "bayes_target_ll": [0.95, 1.15],
                             "bayes_context_ll": [2.6, 2.6]}
    evaluation._sizes = [(3, 10), (40, 5)]
    gp = evaluation.summary([], None)["gp_protocol"]
    line = protocol_headline(gp)
    assert line == ("[gp_protocol] 2 batches of 16: target LL 1.000 ± 0.100 nats per target (exact GP oracle 1.100, "
                    "Bayes predictor 1.050; gap to the oracle 0.100 ± 0.000), context LL 2.400 ± 0.100 (oracle "
                    "2.600); all in metrics.json")
    assert protocol_headline({"num_batches": 0}) == "[gp_protocol] no evaluation batch was scored"


def test_gp_draws_without_enough_noise_are_refused_in_one_line():
    """noise_std = 0 was accepted: 44 of 50 RBF functions of the benchmark failed their Cholesky factorisation (a
    traceback at the first batch), and the Bayes predictor scored every context point NaN (Matern-5/2 too). Now
    refused as the data module is built; a noise too small for a function's covariance (1e-8) names the function and
    the options, as do dense GP draws whose absolute nugget is lost to rounding."""
    with pytest.raises(ValueError, match=r"noise_std must be a finite number > 0 \(the benchmark's observation noise; "
                                         r"the protocol's 0\.02\), got 0\.0: without observation noise"):
        PolynomialDataModule(dataset="gp_tnp_rbf", noise_std=0.0)
    with pytest.raises(ValueError, match=r"gp_tnp_rbf: function 0's covariance .* noise_std 1e-08\) is not positive "
                                         r"definite in float64: raise --data.init_args.noise_std"):
        GPProtocolDataset(4, "rbf", 0, noise_std=1e-8)[0]
    with pytest.raises(ValueError, match=r"gp_rbf: the covariance of 1,024 points on \[-2, 2\] with lengthscale 2 and "
                                         r"variance 1e\+06 is not positive definite"):
        GPDataset(4, "rbf", 2.0, 1e6, 1024, 2.0, 0)


def test_gp_draws_of_a_grid_too_large_for_the_memory_are_refused_naming_the_most_that_fit(monkeypatch):
    """--data.init_args.resolution 10000000 of gp_rbf asked torch for a covariance of 800 TB: "DefaultCPUAllocator:
    can't allocate memory", wrapped in jsonargparse's "Call to compute_fn of link ..." and a traceback. A grid whose
    covariance and Cholesky factor (float64 [R, R] each) exceed the memory at hand is refused before either is made,
    naming the largest resolution that fits (the kernel's working copies are made a block of rows at a time); an
    allocation that fails past the check (memory taken meanwhile) is one line too."""
    import domains.polynomial.data as data
    import pixeltransformer.memory as memory

    def need(r):  # the covariance and its Cholesky factor, float64 [R, R] each, and 6 working blocks of rows
        return 2 * 8 * r * r + 6 * 8 * min(r * r, max(r, data.COVARIANCE_BLOCK))

    monkeypatch.setattr(memory, "available_memory", lambda: need(1000))
    monkeypatch.setattr(memory, "address_space", lambda: None)
    assert GPDataset(2, "rbf", 0.4, 1.0, 1000, 2.0, 0).chol.shape == (1000, 1000)
    have = f"more than the {memory.in_bytes(need(1000))} of memory available now"
    with pytest.raises(ValueError, match=rf"^gp_rbf: the covariance of 1,001 points \(--data\.init_args\.resolution\) "
                                         rf"and its Cholesky factor, float64 \[R, R\] each, need at least "
                                         rf"{memory.in_bytes(need(1001))}: {have}; at most "
                                         rf"--data\.init_args\.resolution 1000$"):
        GPDataset(2, "rbf", 0.4, 1.0, 1001, 2.0, 0)
    with pytest.raises(ValueError, match=r"^gp_matern: the covariance of 10,000,000 points .* need at least 1\.42 PiB: "
                                         r".*; at most --data\.init_args\.resolution 1000$"):
        PolynomialDataModule(dataset="gp_matern", resolution=10**7).spec

    def no_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 8000000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(data, "kernel_matrix", no_memory)
    data.FACTORS.clear()  # the grid of 1000 points above was factored: made again
    with pytest.raises(ValueError, match=r"^gp_rbf: the covariance of 1,000 points \(--data\.init_args\.resolution\) "
                                         r"and its Cholesky factor, float64 \[R, R\] each \(7\.63 MiB\), could not be "
                                         r"allocated; give a smaller --data\.init_args\.resolution$"):
        GPDataset(2, "rbf", 0.4, 1.0, 1000, 2.0, 0)


def test_the_splits_of_one_gp_grid_share_one_cholesky_factor():
    """Each split's GPDataset made and held its own Cholesky factor of the same covariance: three [R, R] matrices and
    three factorisations for one grid, where the memory check counted one. The splits (seeds) share one."""
    import domains.polynomial.data as data

    data.FACTORS.clear()
    train, val = (GPDataset(4, "matern", 0.3, 1.0, 64, 2.0, seed) for seed in (0, 1))
    assert train.chol is val.chol
    assert not torch.equal(train.draw([0]), val.draw([0]))  # the seeds still draw their own functions
    other = GPDataset(4, "matern", 0.5, 1.0, 64, 2.0, 0)  # another grid's covariance: its own factor
    assert other.chol is not train.chol and not torch.equal(other.chol, train.chol)
    assert list(data.FACTORS.values()) == [other.chol]  # the first grid's let go: one factor held


def test_noise_std_and_split_sizes_are_checked_only_for_the_data_that_uses_them(tmp_path):
    """noise_std is the benchmark's observation noise; polynomials and the dense GP draws do not use it, nor does a
    file of curves use the generated split sizes: a config that gave them 0 or -1 was refused, naming the
    benchmark's covariance."""
    for dataset in ("polynomial", "gp_rbf", "gp_matern"):
        assert PolynomialDataModule(dataset=dataset, noise_std=0.0).dataset_name == dataset
    np.save(tmp_path / "curves.npy", np.random.default_rng(0).normal(size=(12, 16)))  # [N, L]
    file = PolynomialDataModule(dataset="file", root=str(tmp_path / "curves.npy"), val_size=-1, splits=(8, 2, -1))
    assert file.splits == (8, 2, -1)


def test_sweep_levels_that_leave_no_target_are_listed_as_dropped():
    """Levels of |S| >= 49 (every point of a benchmark function) were left out of metrics.json's rows without a word,
    and levels that all were gave a metrics.json of no rows; now they are dropped_levels, and a sweep of none is
    refused as the dense sweeps' is."""
    spec = PolynomialDataModule(dataset="gp_tnp_rbf").spec
    evaluation = GPProtocolEvaluation(levels=(3, 49, 60))
    assert evaluation.level_list(spec) == [3] and evaluation.dropped_levels(spec) == [49, 60]
    assert GPProtocolEvaluation(levels=(3, 48)).level_list(spec) == [3, 48]
    from types import SimpleNamespace

    with pytest.raises(ValueError, match=r"every \|S\| level \(49, 60\) observes all 49"):
        GPProtocolEvaluation(levels=(49, 60)).on_test_start(
            SimpleNamespace(world_size=1, test_loop=loop_reading(PolynomialDataModule(dataset="gp_tnp_rbf"))),
            SimpleNamespace(spec=spec))


def test_the_levels_tested_are_checked_against_the_points_of_the_data_tested():
    """The sweep scores the data module the test reads from, but its levels were checked against the model's points:
    a model of 49-point functions tested on 19-point ones scored levels that observe every point."""
    from types import SimpleNamespace

    model_spec = PolynomialDataModule(dataset="gp_tnp_rbf").spec  # 49 points
    data = PolynomialDataModule(dataset="gp_tnp_rbf", max_points=20)  # 19 points
    with pytest.raises(ValueError, match=r"every \|S\| level \(30, 40\) observes all 19 points"):
        GPProtocolEvaluation(levels=(30, 40)).on_test_start(
            SimpleNamespace(world_size=1, test_loop=loop_reading(data)), SimpleNamespace(spec=model_spec))


def test_a_per_function_variance_beside_one_lengthscale_is_each_functions_own():
    """gp_predictive and kernel_matrix take floats or per-function tensors [B] for either: a variance [B] beside a
    float lengthscale was broadcast over the kernel matrix's last axis, a shape error, or where |S| = B a wrong
    predictive (a variance of 1e-4 where the function's own GP gives 0.09)."""
    gen = torch.Generator().manual_seed(0)
    for k in (2, 3):
        x = torch.rand(2, k, generator=gen, dtype=torch.float64)  # [2, K]
        y = torch.randn(2, k, generator=gen, dtype=torch.float64)  # [2, K]
        q = torch.tensor([[0.25, 2.0], [0.6, -1.0]], dtype=torch.float64)  # [2, Q]
        mean, var = gp_predictive(x, y, q, "rbf", 0.3, torch.tensor([1.0, 4.0]), 1e-4)  # [2, Q] each
        for i, v in enumerate((1.0, 4.0)):
            m_i, v_i = gp_predictive(x[i : i + 1], y[i : i + 1], q[i : i + 1], "rbf", 0.3, v, 1e-4)  # [1, Q] each
            torch.testing.assert_close(mean[i : i + 1], m_i)
            torch.testing.assert_close(var[i : i + 1], v_i)
    x = torch.rand(2, 3, generator=gen, dtype=torch.float64)  # [2, K]
    k = kernel_matrix("rbf", x, x, 0.3, torch.tensor([1.0, 4.0]))  # [2, K, K]: the variance [B] over [...]
    torch.testing.assert_close(k[1], kernel_matrix("rbf", x[1], x[1], 0.3, 4.0))


def test_the_bayes_predictor_refuses_no_noise_in_one_line():
    """noise_std = 0 scored every context point NaN (eigenvalues of 0 in its basis), without a word."""
    x = torch.linspace(-2, 2, 10, dtype=torch.float64).unsqueeze(0)  # [1, 10]
    y = torch.sin(x)  # [1, 10]
    with pytest.raises(ValueError, match="noise_std must be > 0, got 0.0"):
        gp_protocol_bayes_log_lik(x, y, x, y, "matern", (0.1, 0.6), (0.1, 1.0), 0.0)


def test_a_sigterm_stops_the_benchmark_evaluation_between_its_batches_and_levels(monkeypatch, tmp_path):
    """The benchmark's evaluation scores each batch of 32 test functions as two benchmark batches, each with its sweep
    of six |S| levels and the Bayes predictor at every one: 50 s a test batch on a busy 2-core CPU, in which a SIGTERM
    waited for Lightning's look at the end of the batch. It now stops at the next score."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from domains.polynomial import domain  # noqa: F401  registers the Domain the module's spec names
    from domains.polynomial import evaluation as gp_evaluation
    from pixeltransformer.module import PixelTransformerModule
    from pixeltransformer.stop import check_stop

    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1)).eval()
    data = GPProtocolDataset(32, "rbf", seed=1)
    items = [data[i] for i in range(32)]
    batch = {key: torch.stack([it[key] for it in items]) for key in items[0]}  # signal [32, 2, 49]
    batch["index"] = torch.arange(32)
    dm = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3), test_size=32, batch_size=32)
    trainer = fake_trainer(lightning_module=module, default_root_dir=str(tmp_path), datamodule=dm)
    scored = []

    def protocol_lls(*args):  # the SIGTERM comes while the first benchmark batch is scored
        scored.append(args[1].shape[1])
        trainer.received_sigterm = True
        return real(*args)

    real = gp_evaluation.protocol_lls
    monkeypatch.setattr(gp_evaluation, "protocol_lls", protocol_lls)
    evaluation = GPProtocolEvaluation()
    evaluation.on_test_start(trainer, module)
    with pytest.raises(SIGTERMException) as stopped:
        evaluation.on_test_batch_end(trainer, module, None, batch, 0)
    assert stopped.value.code == 143 and len(scored) == 1 and evaluation._values == {}
    check_stop()  # the scope ended with the batch


def test_the_bayes_predictor_stops_between_its_lengthscales():
    """One call integrates over 64 lengthscales: 2-11 s for a batch of 16 on a busy 2-core CPU. Within an evaluation
    (pixeltransformer.stop) a SIGTERM stops it at the check before the 3rd."""
    from pixeltransformer.stop import stop_when

    calls: list = []
    x = torch.linspace(-2, 2, 10, dtype=torch.float64).unsqueeze(0)  # [1, 10]
    with stop_when(stop_after(2, calls)), pytest.raises(Stopped):
        gp_protocol_bayes_log_lik(x, torch.sin(x), x, torch.sin(x), "rbf", (0.1, 0.6), (0.1, 1.0), 0.02)
    assert len(calls) == 3


def test_the_reference_predictors_run_on_one_thread(monkeypatch, poly_spec):
    """Their many small batched factorisations (the Bayes predictor's 64 eigendecompositions, the fitted GP's 72
    Cholesky factors) ran on every thread: on a busy 2-core CPU 4 sweep levels of a benchmark batch of 16 took 21-25 s
    against 1 s on one thread, and a test batch of 32 50 s. Both evaluations' reference scores now run on one thread,
    and the caller's thread count is restored."""
    from types import SimpleNamespace

    from domains.polynomial.metrics import protocol_scores, reference_metrics

    seen = []
    for name in ("eigh", "cholesky"):
        real = getattr(torch.linalg, name)

        def spy(*args, _real=real, **kw):
            seen.append(torch.get_num_threads())
            return _real(*args, **kw)

        monkeypatch.setattr(torch.linalg, name, spy)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
        x = torch.linspace(-2, 2, 8, dtype=torch.float64).unsqueeze(0)  # [1, 8]
        y = torch.sin(x)  # [1, 8]
        protocol_scores(spec, torch.zeros(1, 4), y[:, 4:], x[:, :4], y[:, :4], x[:, 4:], y[:, 4:],
                        torch.tensor([0.3]), torch.tensor([0.5]))
        pos = torch.linspace(-1, 1, 8).view(1, 8, 1)  # [1, 8, 1]
        item = SimpleNamespace(spec=poly_spec, ctx_pos=pos[:, :4], ctx_val=torch.sin(pos[:, :4]), qry_pos=pos[:, 4:],
                               qry_val=torch.sin(pos[:, 4:]), held_out=torch.ones(1, 4, dtype=torch.bool),
                               signal=torch.zeros(1, 1, 8))
        reference_metrics(item)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen and set(seen) == {1}


def test_a_test_split_of_no_whole_benchmark_batches_is_refused_before_the_first(tmp_path):
    """test_size 40 in batches of 32 ends in a batch of 8 functions, half a benchmark batch: the evaluation was refused
    there, at its last batch, after scoring every one before it (test_size 1000: 31 batches). It is refused as it
    starts; a run whose batches stop before the short one (limit_test_batches) goes on."""
    from types import SimpleNamespace

    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    module = SimpleNamespace(spec=spec)

    def trainer(test_size, batch_size, batches):
        dm = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3), test_size=test_size, batch_size=batch_size)
        return SimpleNamespace(world_size=1, datamodule=dm, test_loop=loop_reading(dm), num_test_batches=[batches])

    with pytest.raises(ValueError, match=r"^the GP protocol evaluation needs test batches of a multiple of 16 "
                                         r"functions: test_size 40 in batches of 32 reads a batch of 8; set "
                                         r"--data.init_args.batch_size and test_size to multiples of 16$"):
        GPProtocolEvaluation(out_dir=str(tmp_path)).on_test_start(trainer(40, 32, 2), module)
    with pytest.raises(ValueError, match=r"test_size 64 in batches of 24 reads a batch of 24;"):
        GPProtocolEvaluation(out_dir=str(tmp_path)).on_test_start(trainer(64, 24, float("inf")), module)
    GPProtocolEvaluation(out_dir=str(tmp_path)).on_test_start(trainer(40, 32, 1), module)  # limit_test_batches=1
    GPProtocolEvaluation(out_dir=str(tmp_path)).on_test_start(trainer(48, 32, 2), module)


@pytest.mark.parametrize("option, value, message", [
    ("max_batches", -1, "max_batches must be a whole number >= 1 (null: every batch of the test split), got -1"),
    ("max_batches", 0, "max_batches must be a whole number >= 1 (null: every batch of the test split), got 0"),
    ("max_batches", 2.5, "max_batches must be a whole number >= 1 (null: every batch of the test split), got 2.5"),
    ("sweep_batches", -1, "sweep_batches must be a whole number >= 0 (0: no rows against |S|), got -1"),
    ("figure_points", 0, "figure_points must be a whole number >= 2 (the points each curve of functions.png is drawn "
                         "at), got 0"),
    ("batch_size", 0, "batch_size must be a whole number >= 1 (the functions of a benchmark batch; the protocol's "
                      "16), got 0"),
    ("figure_levels", (0,), "figure_levels must be one or more whole numbers >= 1 (the |S| of functions.png's "
                            "panels), got [0]"),
    ("figure_levels", (3, -3), "figure_levels must be one or more whole numbers >= 1 (the |S| of functions.png's "
                               "panels), got [3, -3]"),
    ("figure_levels", (), "figure_levels must be one or more whole numbers >= 1 (the |S| of functions.png's "
                          "panels), got []")])
def test_benchmark_batch_counts_that_score_nothing_are_refused(option, value, message):
    """max_batches=-1 (read as "every batch") or 0 scored no batch: metrics.json of no rows replaced the evaluation
    before it, with exit 0; sweep_batches=-1 gave no sweep rows without a word; figure_points=0 stopped on the
    model's grid_shape once every batch had been scored. figure_levels=[0] too, with "S is empty", a message naming
    no option, and the whole evaluation lost; a level of -3 drew a panel of all but 3 points titled "-3" without a
    word. batch_size=0 was refused without naming the evaluation. Each is refused as the evaluation is configured."""
    with pytest.raises(ValueError, match=f"^GPProtocolEvaluation: {re.escape(message)}$"):
        GPProtocolEvaluation(**{option: value})


@pytest.mark.parametrize("option, value", [("max_batches", None), ("max_batches", 1), ("sweep_batches", 0),
                                           ("figure_points", 2), ("batch_size", 1), ("figure_levels", (1,))])
def test_benchmark_batch_counts_at_their_bounds_are_taken(option, value):
    """The least values that still score or draw something (and null: every batch) pass the check above."""
    assert getattr(GPProtocolEvaluation(**{option: value}), option) == value


def test_gp_protocol_records_the_benchmark_it_scored():
    """metrics.json's gp_protocol held the scores but not the benchmark they were scored on: an evaluation with
    --data.init_args.noise_std=0.1 (or another kernel, or other prior ranges) wrote the same keys to the same eval/
    folder as the published protocol's, and no file beside config_test.yaml told them apart. It now names the kernel,
    the points per function, the noise and the priors' ranges, as the checkpoint's data records them."""
    from types import SimpleNamespace

    from domains.polynomial.evaluation import GPProtocolEvaluation

    evaluation = GPProtocolEvaluation()
    evaluation._per_batch = {k: [1.0] for k in ("target_ll", "context_ll", "oracle_target_ll", "oracle_context_ll",
                                                "bayes_target_ll", "bayes_context_ll")}
    evaluation._sizes = [(3, 10)]
    spec = PolynomialDataModule(dataset="gp_tnp_matern", noise_std=0.1, scale_range=(0.2, 0.5)).spec
    gp = evaluation.summary([], SimpleNamespace(spec=spec))["gp_protocol"]
    assert gp["benchmark"] == {"kernel": "matern", "max_points": 50, "noise_std": 0.1,
                               "lengthscale_range": [0.1, 0.6], "scale_range": [0.2, 0.5]}
    json.dumps(gp)  # plain types: metrics.json takes it as it is
    from pixeltransformer.evaluation import summary_scalars

    scalars = summary_scalars([], {"gp_protocol": gp}, settings=GPProtocolEvaluation.summary_settings)
    assert "eval/gp_protocol/target_ll" in scalars and not [k for k in scalars if "benchmark" in k]  # W&B: config


def test_max_batches_stops_the_test_loader_after_its_batches(capsys):
    """max_batches=2 scored two benchmark batches, but the test loader still read the whole test split (each batch's
    test NLL computed, then skipped by the evaluation): a user who set it waited for every batch. The loader now
    reads max_batches * batch_size functions, and a short last batch past the cap is not refused; the [data] line
    names the option that caps it (it named max_items, which this evaluation does not have)."""
    from types import SimpleNamespace

    from pixeltransformer.datamodule import capped_test_items

    evaluation = GPProtocolEvaluation(max_batches=2)
    dm = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3), test_size=72, batch_size=16)
    trainer = SimpleNamespace(world_size=1, datamodule=dm, test_loop=loop_reading(dm), num_test_batches=[float("inf")],
                              callbacks=[evaluation])
    dm.trainer = trainer
    dm.setup("test")  # reads the cap: the [data] line names the option that set it
    assert capsys.readouterr().out == ("[data] test 72 functions (the test reads the first 32: the evaluation's "
                                       "max_batches x batch_size)\n")
    assert len(dm.test_set()) == 32 and int(dm.test_set()[31]["index"]) == 31
    evaluation.check_whole_batches(trainer)  # test_size 72 ends in a batch of 8, which the loader no longer reads
    assert capped_test_items(SimpleNamespace(callbacks=[GPProtocolEvaluation()])) == (None, "")


def test_one_benchmark_batch_gives_no_standard_error():
    """max_batches=1 printed "1 batches of 16: target LL -0.953 ± 0.000" and wrote target_ll_se 0.0 to metrics.json:
    a standard error over one batch is undefined, not zero. It is null there and left off the line."""
    from domains.polynomial.evaluation import GPProtocolEvaluation, protocol_headline

    evaluation = GPProtocolEvaluation(max_batches=1)
    evaluation._per_batch = {"target_ll": [0.9], "context_ll": [2.3], "oracle_target_ll": [1.0],
                             "oracle_context_ll": [2.6], "bayes_target_ll": [0.95], "bayes_context_ll": [2.6]}
    evaluation._sizes = [(3, 10)]
    gp = evaluation.summary([], None)["gp_protocol"]
    assert gp["target_ll_se"] is None and gp["target_ll_gap_se"] is None
    assert protocol_headline(gp) == ("[gp_protocol] 1 batch of 16: target LL 0.900 nats per target (exact GP oracle "
                                     "1.000, Bayes predictor 0.950; gap to the oracle 0.100), context LL 2.300 (oracle "
                                     "2.600); all in metrics.json")


def test_validation_levels_of_every_point_are_left_out_as_the_evaluations_are():
    """model.val_levels=[60] on a benchmark function of 49 points was capped to 49 as at continuous positions, and the
    fit stopped at its sanity check with `|S| = 49 and 0 targets do not fit the 49 points`: a level the user never
    gave, and no option named. The protocol's points are a fixed set, as grid points are: a level of every point or
    more leaves no target, so validation leaves it out and says so, as the evaluation's sweep does."""
    import domains.polynomial.domain  # noqa: F401  (the module's Domain)
    from pixeltransformer.module import PixelTransformerModule

    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    module = PixelTransformerModule(spec=spec.to_dict(), net=dict(width=32, ffn=64), sets=ProtocolSetSampler(),
                                    val_levels=(10, 49, 60))
    assert module.val_levels == [10] and module.left_out_levels == [49, 60]
    alone = PixelTransformerModule(spec=spec.to_dict(), net=dict(width=32, ffn=64), sets=ProtocolSetSampler(),
                                   val_levels=(60,))
    assert alone.val_levels == [24] and alone.left_out_levels == [60]
    signal = torch.zeros(1, 2, spec.num_points)  # [B, 2, N]: a point set
    sets = ProtocolSetSampler()(signal, torch.Generator(), num_context=48)
    assert sets.num_context == 48 and sets.qry_pos.shape[1] == 1
    with pytest.raises(ValueError, match=r"^\|S\| = 49 and 0 targets do not fit the 49 points of a protocol "
                                         r"function: give 1 <= \|S\| < 49 and 1 to 49 - \|S\| targets$"):
        ProtocolSetSampler()(signal, torch.Generator(), num_context=49)


@pytest.mark.parametrize("num_context, num_queries", [(0, None), (5, 0), (5, 45)])
def test_sets_the_protocol_cannot_draw_name_both_bounds(num_context, num_queries):
    """|S| = 0 or 0 targets were told to `give |S| below 49 and at most 49 - |S| targets`, which they already did:
    the line now names the lower bounds too."""
    signal = torch.zeros(1, 2, 49)  # [B, 2, N]: a point set
    with pytest.raises(ValueError, match=r"targets do not fit the 49 points of a protocol function: give "
                                         r"1 <= \|S\| < 49 and 1 to 49 - \|S\| targets$"):
        ProtocolSetSampler()(signal, torch.Generator(), num_context=num_context, num_queries=num_queries)


def _two_batches_summary(dataset: str, trained_dataset: str | None, spec: Any = None) -> dict:
    """gp_protocol of two scored batches of `dataset` by a model whose checkpoint was trained on trained_dataset (its
    spec: `dataset`'s, or ``spec``)."""
    from types import SimpleNamespace

    evaluation = GPProtocolEvaluation()
    evaluation._per_batch = {k: [1.0, 1.2] for k in ("target_ll", "context_ll", "oracle_target_ll",
                                                     "oracle_context_ll", "bayes_target_ll", "bayes_context_ll")}
    evaluation._sizes = [(3, 10), (5, 7)]
    spec = spec or PolynomialDataModule(dataset=dataset).spec
    return evaluation.summary([], SimpleNamespace(spec=spec, trained_dataset=trained_dataset))["gp_protocol"]


def test_gp_protocol_names_the_kernel_the_model_was_trained_on():
    """The TNP code's Matern-5/2 and periodic columns score a model trained on RBF (`make eval DATA=gp_tnp_matern
    CKPT=<an RBF run>`): its metrics.json named the Matern benchmark and the checkpoint's path, but not that the model
    never saw Matern draws, and the console line read as an in-distribution score. gp_protocol now records the
    dataset the model was trained on, and the line says when it is not the one scored."""
    from domains.polynomial.evaluation import protocol_headline

    held_out = _two_batches_summary("gp_tnp_matern", "gp_tnp_rbf")
    assert held_out["trained_on"] == "gp_tnp_rbf"
    assert protocol_headline(held_out).startswith("[gp_protocol] gp_tnp_matern, scoring a model trained on "
                                                  "gp_tnp_rbf (a held-out kernel): 2 batches of 16: target LL 1.100")
    same = _two_batches_summary("gp_tnp_matern", "gp_tnp_matern")
    assert same["trained_on"] == "gp_tnp_matern"
    assert protocol_headline(same).startswith("[gp_protocol] 2 batches of 16: target LL 1.100")
    own = _two_batches_summary("gp_tnp_matern", None)  # no checkpoint
    assert own["trained_on"] == "gp_tnp_matern" and protocol_headline(own).startswith("[gp_protocol] 2 batches")


def test_gp_protocol_reads_only_the_dataset_a_model_was_trained_on():
    """A guard: gp_protocol reads no more of a model's spec than its dataset and extra, so a model whose spec is a
    stand-in holding those alone (no to_dict) is summed up too."""
    from types import SimpleNamespace

    real = PolynomialDataModule(dataset="gp_tnp_matern").spec
    stand_in = SimpleNamespace(dataset=real.dataset, extra=real.extra)  # no to_dict
    assert _two_batches_summary("gp_tnp_matern", None, stand_in)["trained_on"] == "gp_tnp_matern"


def _scored_on_other_data(tmp_path):
    """A module built on the RBF benchmark and evaluated in Python on two batches of Matern-5/2 data, as
    `trainer.test(model, matern_datamodule)` does after `trainer.fit(model, rbf_datamodule)`."""
    import domains.polynomial.domain  # noqa: F401  registers the Domain the module's spec names
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    spec = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3)).spec
    module = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1)).eval()
    dm = PolynomialDataModule(dataset="gp_tnp_matern", val_range=(-3, 3), test_size=32, batch_size=16)
    dm.setup("test")
    trainer = fake_trainer(lightning_module=module, default_root_dir=str(tmp_path), datamodule=dm,
                           num_test_batches=[float("inf")])
    evaluation = GPProtocolEvaluation(sweep_batches=0, out_dir=str(tmp_path))
    evaluation.on_test_start(trainer, module)
    for batch in dm.test_dataloader():
        evaluation.score_batch(module, batch)
    return evaluation.summary([], module)["gp_protocol"]


def test_the_evaluation_scores_the_benchmark_of_the_data_tested(tmp_path):
    """`trainer.test(model, matern_datamodule)` on a model fitted to RBF draws scored the Matern-5/2 functions with
    the RBF oracle and Bayes predictor, and recorded benchmark.kernel rbf: the "exact GP oracle" (-0.053 nats) fell
    below the Bayes predictor (1.637), which a correct oracle never does. The oracle, the Bayes predictor and the
    recorded benchmark are now those of the data tested (the command line's already were: it builds the module from
    the data's config)."""
    gp = _scored_on_other_data(tmp_path)
    assert gp["benchmark"]["kernel"] == "matern" and gp["num_batches"] == 2
    # told the hyperparameters, the oracle beats the Bayes predictor on average; over two batches it may trail it by
    # a little (here 0.007 nats), where the RBF oracle on Matern draws trailed it by 1.4 nats
    assert gp["oracle_minus_bayes_target_ll"] >= -0.05


def test_a_model_tested_where_it_was_fitted_names_its_own_data(tmp_path):
    """trained_on came only from a checkpoint: a model fitted and tested in one Python process recorded null, and the
    console line did not say that an RBF model was scored on Matern-5/2 draws. It now falls back to the data of the
    model's own spec."""
    assert _scored_on_other_data(tmp_path)["trained_on"] == "gp_tnp_rbf"


def test_the_headline_compares_the_recorded_datasets():
    """The console line rebuilt the scored data's name from the recorded kernel (`gp_tnp_<kernel>`) rather than
    recording it: gp_protocol now names the dataset scored beside the one trained on, and the line compares the two;
    a model trained on data other than the benchmark's says so."""
    from domains.polynomial.evaluation import protocol_headline

    gp = _two_batches_summary("gp_tnp_rbf", "gp_rbf")
    assert gp["dataset"] == "gp_tnp_rbf" and gp["trained_on"] == "gp_rbf"
    assert protocol_headline(gp).startswith("[gp_protocol] gp_tnp_rbf, scoring a model trained on gp_rbf (other "
                                            "data): 2 batches of 16: target LL 1.100")
    assert protocol_headline(gp | {"trained_on": "gp_tnp_rbf"}).startswith("[gp_protocol] 2 batches of 16")
    gp["benchmark"]["kernel"] = "matern"  # the line reads the dataset recorded, not one rebuilt from the kernel
    assert protocol_headline(gp | {"trained_on": "gp_tnp_rbf"}).startswith("[gp_protocol] 2 batches of 16")


def _fitted_on_rbf(tmp_path, evaluation):
    """A small module fitted for 2 steps on RBF draws, its trainer holding `evaluation`, and a Matern-5/2 data module
    of two benchmark batches: as a Python session fits one kernel and tests another."""
    import lightning as L

    import domains.polynomial.domain  # noqa: F401  registers the Domain the module's spec names
    from pixeltransformer.module import PixelTransformerModule

    torch.manual_seed(0)
    sizes = dict(val_range=(-3, 3), train_size=32, val_size=16, test_size=32, batch_size=16)
    rbf, matern = PolynomialDataModule(dataset="gp_tnp_rbf", **sizes), PolynomialDataModule("gp_tnp_matern", **sizes)
    module = PixelTransformerModule(spec=rbf.spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                    sets=ProtocolSetSampler(), val_levels=(10,))
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=2, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, callbacks=[evaluation],
                        default_root_dir=str(tmp_path), num_sanity_val_steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=rbf)
    return trainer, module, matern


def test_the_evaluation_refuses_test_dataloaders_without_their_data_module(tmp_path):
    """`trainer.test(model, dataloaders=matern_dm.test_dataloader())` after `trainer.fit(model, rbf_dm)` scored the
    Matern-5/2 draws with the RBF oracle and recorded kernel rbf (Lightning keeps the fit's data module as
    trainer.datamodule), and without a fit it wrote metrics.json, then stopped at functions.png on a missing data
    module. The evaluation reads only the data module the test reads from, and without one refuses at the start,
    having written nothing; given the data module, metrics.json names the data tested at its top level too."""
    evaluation = GPProtocolEvaluation(sweep_batches=1, levels=(3, 10), out_dir=str(tmp_path / "eval"))
    trainer, module, matern = _fitted_on_rbf(tmp_path, evaluation)
    matern.setup("test")
    with pytest.raises(ValueError, match=r"^the GP protocol evaluation needs the test's data module \(its kernel, "
                                         r"its examples\): trainer.test\(model, datamodule=...\)$"):
        trainer.test(module, dataloaders=matern.test_dataloader(), verbose=False)
    assert not (tmp_path / "eval" / "metrics.json").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.test(module, datamodule=matern, verbose=False)
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    gp = written["gp_protocol"]
    assert written["dataset"] == gp["dataset"] == "gp_tnp_matern" and gp["benchmark"]["kernel"] == "matern"
    assert gp["trained_on"] == "gp_tnp_rbf" and gp["num_batches"] == 2


def test_gp_draws_are_checked_again_for_the_processes_lightning_s_ddp_starts(monkeypatch):
    """Each process of a distributed run makes its own Cholesky factor, but the check counted one: the grid was
    checked when the model's spec made the factor, before the Trainer, when nothing told of the processes
    Lightning's DDP starts once the fit begins (each then made its own, past the memory). check_processes, which
    the command line asks before a run folder is made, counts them: ddp's scripts started again (all but this one,
    whose factor is made and kept), ddp_spawn's new interpreters (every one: a module's factor is not sent to them),
    none of ddp_fork's (they share this process's). The line names the processes; the most named fits."""
    import domains.polynomial.data as data
    import pixeltransformer.memory as memory

    def need(r):  # one process's factor as it is made: covariance_bytes
        return 2 * 8 * r * r + 6 * 8 * min(r * r, max(r, data.COVARIANCE_BLOCK))

    def total(r, makers):  # the factor this process holds, and each one the trainer's processes make
        return 8 * r * r + makers * need(r)

    r = 1000
    machine = int(2.5 * need(r)) + 8 * r * r  # beside the factor held here, 2 more fit and 3 do not
    # the memory available now, which the factor held here (FACTORS) is out of
    set_memory(monkeypatch, lambda: machine - sum(f.nbytes for f in data.FACTORS.values()))

    def trainer(devices: int, **launcher) -> SimpleNamespace:
        return SimpleNamespace(world_size=devices, num_devices=devices,
                               strategy=SimpleNamespace(launcher=SimpleNamespace(**launcher)))

    dm = PolynomialDataModule(dataset="gp_rbf", resolution=r, train_size=8, val_size=4, test_size=4)
    dm.spec  # as the command line makes it before its Trainer: the factor made here
    for fits in (trainer(1), trainer(2), trainer(3), trainer(2, _start_method="spawn"),
                 trainer(8, _start_method="fork"), SimpleNamespace(world_size=2, num_devices=1)):
        dm.check_processes(fits)
    most = max(n for n in range(2, r + 1) if total(n, 3) <= machine)
    available = machine - 8 * r * r
    for refused, makers in ((trainer(4), 3), (trainer(3, _start_method="spawn"), 3),
                            (trainer(3, _start_method="forkserver"), 3)):
        with pytest.raises(ValueError, match=rf"^gp_rbf: the covariance of 1,000 points \(--data\.init_args\."
                                             rf"resolution\) and its Cholesky factor, float64 \[R, R\] each, need at "
                                             rf"least {re.escape(memory.in_bytes(makers * need(r)))} for {makers} "
                                             rf"processes that Lightning's DDP starts on this machine, each making "
                                             rf"its own: more than the {re.escape(memory.in_bytes(available))} of "
                                             rf"memory available now; at most --data\.init_args\.resolution {most}$"):
            dm.check_processes(refused)
    with monkeypatch.context() as env:  # a rank a launcher started: its processes made their own, counted there
        env.setenv("LOCAL_RANK", "1")
        dm.check_processes(trainer(4))
    smaller = PolynomialDataModule(dataset="gp_rbf", resolution=most, train_size=8, val_size=4, test_size=4)
    smaller.spec
    smaller.check_processes(trainer(4))
    data.FACTORS.clear()  # none held here: ddp's rank 0 makes one at setup as each script started again does
    dm.check_processes(trainer(2))
    with pytest.raises(ValueError, match=r"need at least \S+ \S+ for 3 processes that Lightning's DDP starts"):
        dm.check_processes(trainer(3))


def test_gp_draws_count_the_processes_a_launcher_started_on_this_machine(monkeypatch):
    """Under torchrun (or SLURM) every process on this machine makes the factor at once, as the model's spec is made:
    the check counted this one alone. Each has its share of the memory, which the line names."""
    import domains.polynomial.data as data

    r = 1200
    need = 2 * 8 * r * r + 6 * 8 * min(r * r, max(r, data.COVARIANCE_BLOCK))
    set_memory(monkeypatch, 3 * need)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    data.FACTORS.clear()
    with pytest.raises(ValueError, match=r"^gp_matern: the covariance of 1,200 points .* need at least \S+ \S+: more "
                                         r"than \S+ \S+, the share of each of this machine's 4 processes in the "
                                         r"\S+ \S+ of memory available now; at most --data\.init_args\.resolution "
                                         r"\d+$"):
        PolynomialDataModule(dataset="gp_matern", resolution=r).spec
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert PolynomialDataModule(dataset="gp_matern", resolution=r).gp_train()


def test_the_data_module_does_not_import_the_evaluation():
    """The data module read the trainer's GPProtocolEvaluation callbacks, importing evaluation.py (the sweep, the
    core's evaluation and its media) with the data: the evaluation says what it needs of the test split, as an
    attribute the data module reads off any callback."""
    import os
    import subprocess
    import sys

    code = "import sys, domains.polynomial.data; print('domains.polynomial.evaluation' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"})
    assert out.stdout.strip() == "False", out.stderr[-2000:]
