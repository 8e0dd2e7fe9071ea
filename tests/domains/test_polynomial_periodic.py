"""The periodic kernel of the GP benchmark (the neural-process papers' third column): its values, its period, the
draws of gp_tnp_periodic and gp_periodic, their exact oracle, and the dataset overlay."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from domains.polynomial.data import GPDataset, PolynomialDataModule
from domains.polynomial.kernels import GP_NUGGET, kernel_matrix
from domains.polynomial.oracles import gp_oracle, gp_protocol_oracle
from domains.polynomial.protocol import GPProtocolDataset, ProtocolSetSampler

REPO = Path(__file__).resolve().parents[2]


def _periodic_np(a: np.ndarray, b: np.ndarray, lengthscale: float, variance: float, period: float) -> np.ndarray:
    """s^2 exp(-2 sin^2(pi |x - x'| / p) / l^2), written out."""
    d = np.abs(a[:, None] - b[None, :])
    return variance * np.exp(-2 * np.sin(np.pi * d / period) ** 2 / lengthscale**2)


def test_periodic_kernel_values_match_the_formula():
    x1, x2 = np.array([-1.7, -0.2, 0.0, 0.9]), np.array([-2.0, 0.05, 0.3, 1.95, 1.1])
    for ls, var, p in ((0.1, 0.01, 0.1), (0.35, 0.5, 0.27), (0.6, 1.0, 0.5)):
        k = kernel_matrix("periodic", torch.tensor(x1), torch.tensor(x2), ls, var, period=p)
        np.testing.assert_allclose(k.numpy(), _periodic_np(x1, x2, ls, var, p), rtol=1e-12, atol=0)
    # one value by hand: |x - x'| = p / 4 gives sin^2 = 1/2, so k = s^2 exp(-1 / l^2)
    k = kernel_matrix("periodic", torch.tensor([0.0], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64),
                      0.5, 2.0, period=0.4)
    assert math.isclose(float(k), 2.0 * math.exp(-4.0), rel_tol=1e-12)


def test_periodic_kernel_repeats_every_period_and_takes_one_per_function():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)  # [9]
    p = torch.tensor([0.13, 0.31, 0.5], dtype=torch.float64)  # [3], one period per function
    xs = x.expand(3, -1)  # [3, 9]
    k_same = kernel_matrix("periodic", xs, xs, 0.3, 0.7, period=p)  # [3, 9, 9]
    k_shift = kernel_matrix("periodic", xs, xs + 3 * p[:, None], 0.3, 0.7, period=p)  # [3, 9, 9]
    torch.testing.assert_close(k_shift, k_same, rtol=0, atol=1e-12)
    assert torch.allclose(k_same.diagonal(dim1=-2, dim2=-1), torch.full((3, 9), 0.7, dtype=torch.float64))
    half = kernel_matrix("periodic", xs, xs + p[:, None] / 2, 0.3, 0.7, period=p)  # half a period: the least
    assert (half.diagonal(dim1=-2, dim2=-1) < 0.7 * math.exp(-2 / 0.3**2) * 1.0001).all()


def test_a_periodic_kernel_without_a_period_and_unknown_kernels_are_refused():
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="^the periodic kernel needs a period$"):
        kernel_matrix("periodic", x, x, 0.3, 1.0)
    with pytest.raises(ValueError, match="^unknown kernel 'cosine'; choose rbf, matern or periodic$"):
        kernel_matrix("cosine", x, x, 0.3, 1.0)
    with pytest.raises(ValueError, match="^unknown kernel 'cosine'; choose rbf, matern or periodic$"):
        GPProtocolDataset(4, "cosine", seed=0)


def test_drawn_periodic_covariances_are_positive_definite():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = torch.from_numpy(rng.uniform(-2, 2, 49))  # [49]
        ls, scale, p = rng.uniform(0.1, 0.6), rng.uniform(0.1, 1.0), rng.uniform(0.1, 0.5)
        k = kernel_matrix("periodic", x, x, ls, scale**2, period=p)  # [49, 49]
        assert torch.allclose(k, k.T)
        assert torch.linalg.eigvalsh(k).min() > -1e-10 * scale**2  # the kernel alone: positive semi-definite
        assert torch.linalg.cholesky_ex(k + 0.02**2 * torch.eye(49, dtype=torch.float64))[1] == 0


def test_gp_tnp_periodic_draws_a_period_lengthscale_and_scale_per_function():
    ds = GPProtocolDataset(2000, "periodic", seed=0)
    items = [ds[i] for i in range(len(ds))]
    p = torch.stack([it["period"] for it in items]).double()  # [N]
    ls = torch.stack([it["lengthscale"] for it in items]).double()  # [N]
    scale = torch.stack([it["scale"] for it in items]).double()  # [N]
    for value, (low, high) in ((p, (0.1, 0.5)), (ls, (0.1, 0.6)), (scale, (0.1, 1.0))):  # each U(low, high)
        assert low <= value.min() and value.max() <= high
        assert abs(value.mean().item() - (low + high) / 2) < 0.03 * (high - low)
        assert abs(value.var().item() - (high - low) ** 2 / 12) < 0.1 * (high - low) ** 2 / 12
    assert abs(torch.corrcoef(torch.stack([p, ls, scale]))[0, 1:]).max() < 0.1  # drawn independently
    y = torch.stack([it["signal"][1] for it in items]).double()  # [N, 49]
    ratio = (y**2).mean(1) / (scale**2 + 0.02**2)  # Var(y) = scale^2 + noise^2
    assert abs(ratio.mean().item() - 1) < 0.05
    # the kernel and noise the items were drawn with: each function's own likelihood beats another's period
    ll_own, ll_other = [], []
    for i, it in enumerate(items[:200]):
        x = it["signal"][0].double() * 2  # [49] in x units
        for period, out in ((p[i], ll_own), (p[(i + 1) % 200], ll_other)):
            cov = kernel_matrix("periodic", x, x, ls[i], scale[i] ** 2, period=period) + 0.02**2 * torch.eye(49)
            out.append(torch.distributions.MultivariateNormal(torch.zeros(49), cov.double()).log_prob(y[i]))
    assert sum(ll_own) / 200 > sum(ll_other) / 200 + 10


# Of RBF and Matern items, as the code gave them before the periodic kernel was added (computed once with that code):
# a benchmark item's lengthscale and scale, then of each signal row (x, y; a dense draw's y alone) its first and last
# value, its sum and its sum weighted by place (1, 2, ...). Any change in a draw, its order or its pairing shows.
BEFORE_PERIODIC = {
    ("tnp", "rbf", 0): [0.598218, 0.5137444, -0.7428596, -0.6803526, -4.875969, -149.6429024, 0.4225789, 0.24631,
                        14.7572592, 344.5437595],
    ("tnp", "rbf", 7): [0.5305485, 0.3744607, 0.1030767, 0.3086351, -4.4153524, -99.4175531, -0.5786746, -0.0586218,
                        -8.8046364, -157.437085],
    ("tnp", "rbf", 39): [0.3941763, 0.5819644, 0.366099, -0.309334, 1.5623848, -65.4551056, 0.6791198, -0.1255924,
                         13.9158786, 400.2404713],
    ("tnp", "matern", 0): [0.598218, 0.5137444, -0.7428596, -0.6803526, -4.875969, -149.6429024, 0.4225789,
                           0.1900525, 17.0209641, 410.873476],
    ("tnp", "matern", 7): [0.5305485, 0.3744607, 0.1030767, 0.3086351, -4.4153524, -99.4175531, -0.5786746,
                           -0.232222, -8.771768, -149.7372734],
    ("tnp", "matern", 39): [0.3941763, 0.5819644, 0.366099, -0.309334, 1.5623848, -65.4551056, 0.6791198, -0.216469,
                            13.907584, 385.6445452],
    ("dense", "rbf", 0): [2.0409191, 0.2570132, -0.5046647, 112.0013033],
    ("dense", "rbf", 19): [-0.5049052, 2.3238506, 89.7172295, 4238.1964789],
    ("dense", "matern", 0): [2.0409191, -1.0466176, 1.1587394, -30.0094137],
    ("dense", "matern", 19): [-0.5049052, -0.8415364, 89.9150145, 3815.2566592],
}


def _item_summary(item: dict[str, torch.Tensor]) -> list[float]:
    """BEFORE_PERIODIC's numbers of one item."""
    out = [float(item[k]) for k in ("lengthscale", "scale") if k in item]
    for row in item["signal"].double():  # [N] each: x then y, or a dense draw's y
        out += [float(row[0]), float(row[-1]), float(row.sum()), float((row * torch.arange(1, len(row) + 1)).sum())]
    return out


def test_rbf_and_matern_items_are_unchanged_and_carry_no_period():
    """The period is drawn for the periodic kernel only: the other benchmarks' functions and the dense gp_rbf and
    gp_matern draws stay as they were before it, whole items (x, y, lengthscale, scale), and carry no period."""
    for (kind, kernel, i), before in BEFORE_PERIODIC.items():
        data = GPProtocolDataset(40, kernel, seed=11) if kind == "tnp" else GPDataset(20, kernel, 0.4, 1.0, 64, 2.0,
                                                                                       seed=3)
        item = data[i]
        assert set(item) == ({"signal", "lengthscale", "scale"} if kind == "tnp" else {"signal"})
        assert _item_summary(item) == pytest.approx(before, abs=1e-5), (kind, kernel, i)


def test_the_periodic_oracle_beats_an_rbf_oracle_on_periodic_data():
    ds = GPProtocolDataset(32 * 16, "periodic", seed=3)
    gen, sampler = torch.Generator().manual_seed(0), ProtocolSetSampler()
    nll = {"periodic": [], "rbf": []}
    z2 = []
    for start in range(0, len(ds), 16):
        items = [ds[i] for i in range(start, start + 16)]
        sets = sampler(torch.stack([it["signal"] for it in items]), gen)
        ls, scale, p = (torch.stack([it[k] for it in items]) for k in ("lengthscale", "scale", "period"))  # [16] each
        xc, yc, xq = sets.ctx_pos[..., 0] * 2, sets.ctx_val[..., 0], sets.qry_pos[..., 0] * 2
        y = sets.qry_val[..., 0].double()
        for kind, period in (("periodic", p), ("rbf", None)):
            mean, var = gp_protocol_oracle(xc, yc, xq, kind, ls, scale, 0.02, period=period)  # [16, Nt] each
            nll[kind].append(float((0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)).mean()))
            if kind == "periodic":
                z2.append(((y - mean) ** 2 / var).flatten())
    assert np.mean(nll["periodic"]) < np.mean(nll["rbf"]) - 0.3, nll
    assert abs(torch.cat(z2).mean().item() - 1) < 0.1  # calibrated: the oracle reads the period as the data use it


def test_gp_periodic_draws_and_its_oracle_take_the_period():
    dm = PolynomialDataModule(dataset="gp_periodic", resolution=256, lengthscale=1.0, period=1.0)
    assert dm.spec.extra["kernel"] == "periodic" and dm.spec.extra["period"] == 1.0
    ds = dm.build_split("test")
    assert isinstance(ds, GPDataset)
    f = torch.stack([ds[i]["signal"][0] for i in range(64)]).double()  # [64, 256] on [-2, 2]
    x = torch.linspace(-2, 2, 256, dtype=torch.float64)
    # a period of 1 on [-2, 2]: the value at x and at x + 1 (the grid point nearest it) nearly agree
    i, j = 10, int(torch.argmin((x - (x[10] + 1)).abs()))
    assert ((f[:, i] - f[:, j]) ** 2).mean() < 0.02 * (f[:, i] ** 2).mean()
    mean, var = gp_oracle(x[None, :40:4], f[:1, :40:4], x[None, 200:220], "periodic", 1.0, 1.0, period=1.0)
    direct = _periodic_np(x[200:220].numpy(), x[:40:4].numpy(), 1.0, 1.0, 1.0)
    k_cc = _periodic_np(x[:40:4].numpy(), x[:40:4].numpy(), 1.0, 1.0, 1.0) + GP_NUGGET * np.eye(10)
    np.testing.assert_allclose(mean[0].numpy(), direct @ np.linalg.solve(k_cc, f[0, :40:4].numpy()), atol=1e-5)
    assert (var > 0).all()


def test_the_gp_tnp_periodic_overlay_loads_as_the_periodic_benchmark():
    overlay = yaml.safe_load((REPO / "configs" / "polynomial" / "gp_tnp_periodic.yaml").read_text())
    matern = yaml.safe_load((REPO / "configs" / "polynomial" / "gp_tnp_matern.yaml").read_text())
    assert overlay["data"]["init_args"]["dataset"] == "gp_tnp_periodic"
    assert overlay["model"] == matern["model"] and overlay["trainer"] == matern["trainer"]  # the same recipe
    spec = PolynomialDataModule(**overlay["data"]["init_args"]).spec
    assert spec.extra["kernel"] == "periodic" and spec.extra["period_range"] == [0.1, 0.5]
    assert spec.extra["lengthscale_range"] == [0.1, 0.6] and spec.extra["scale_range"] == [0.1, 1.0]
    assert "period_range" not in PolynomialDataModule(dataset="gp_tnp_rbf").spec.extra
    with pytest.raises(ValueError, match=r"^--data.init_args.period_range must be \[low, high\]"):
        PolynomialDataModule(dataset="gp_tnp_periodic", period_range=(0.5, 0.1))


def test_periodic_scores_use_the_period_and_have_no_bayes_predictor():
    """The Bayes predictor integrates a grid of lengthscales and scales, which a period's narrow posterior does not
    fit: periodic scores carry the exact oracle (told the period) without it, and the summary and its console line
    say nothing of it rather than a mean of no batches."""
    from types import SimpleNamespace

    from domains.polynomial.evaluation import GPProtocolEvaluation, protocol_headline
    from domains.polynomial.metrics import protocol_scores
    from domains.polynomial.oracles import gp_protocol_bayes_log_lik

    spec = PolynomialDataModule(dataset="gp_tnp_periodic", val_range=(-3, 3)).spec
    x = torch.linspace(-2, 2, 12, dtype=torch.float64).unsqueeze(0)  # [1, 12]
    y = torch.sin(2 * math.pi * x / 0.4)  # [1, 12]
    scores = protocol_scores(spec, torch.zeros(1, 6), y[:, 6:], x[:, :6], y[:, :6], x[:, 6:], y[:, 6:],
                             torch.tensor([0.3]), torch.tensor([0.5]), torch.tensor([0.4]))
    assert "bayes_ll" not in scores
    mean, _ = gp_protocol_oracle(x[:, :6], y[:, :6], x[:, 6:], "periodic", torch.tensor([0.3]), torch.tensor([0.5]),
                                 0.02, period=torch.tensor([0.4]))
    torch.testing.assert_close(scores["oracle_mse"], (mean - y[:, 6:]) ** 2)
    with pytest.raises(ValueError, match="^gp_protocol_bayes_log_lik integrates lengthscales and scales; the "
                                         "periodic kernel's period is not on its grid$"):
        gp_protocol_bayes_log_lik(x, y, x, y, "periodic", (0.1, 0.6), (0.1, 1.0), 0.02)
    evaluation = GPProtocolEvaluation()
    evaluation._per_batch = {"target_ll": [0.9, 1.1], "context_ll": [2.3, 2.5], "oracle_target_ll": [1.0, 1.4],
                             "oracle_context_ll": [2.6, 2.6], "bayes_target_ll": [], "bayes_context_ll": []}
    evaluation._sizes = [(3, 10), (5, 7)]
    gp = evaluation.summary([], SimpleNamespace(spec=spec))["gp_protocol"]
    assert gp["bayes_target_ll"] is None and gp["bayes_target_ll_gap"] is None
    assert gp["oracle_minus_bayes_target_ll"] is None and math.isclose(gp["target_ll_gap"], 0.2)
    assert gp["benchmark"]["period_range"] == [0.1, 0.5]
    assert protocol_headline(gp).startswith("[gp_protocol] 2 batches of 16: target LL 1.000 ± 0.100 nats per target "
                                            "(exact GP oracle 1.200; gap to the oracle 0.200")
