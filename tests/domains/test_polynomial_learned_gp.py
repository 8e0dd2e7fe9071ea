"""The RBF GP whose kernel is learned once from the training functions (domains/polynomial/learned_gp.py, the
`gp_train` baseline): it recovers a known kernel from its draws, predicts held-out draws at |S| = 3 about as well as
the exact GP (where a GP fitted to each S alone is far overconfident), and the data's spec carries it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from domains.polynomial.data import PolynomialDataModule
from domains.polynomial.kernels import gaussian_nll, kernel_matrix
from domains.polynomial.learned_gp import learn_rbf_prior
from domains.polynomial.oracles import fitted_rbf_gp, gp_predictive, learned_rbf_gp

KNOWN = {"lengthscale": 0.15, "variance": 2.0, "noise_var": 1e-3, "mean": 3.0}  # positions in [-1, 1]


def draws(n: int, length: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n noisy draws of the KNOWN RBF GP on `length` points of [-1, 1]: positions [L], values [n, L] (float64)."""
    x = torch.linspace(-1, 1, length, dtype=torch.float64)  # [L]
    cov = kernel_matrix("rbf", x, x, KNOWN["lengthscale"], KNOWN["variance"])  # [L, L]
    chol = torch.linalg.cholesky(cov + KNOWN["noise_var"] * torch.eye(length, dtype=torch.float64))  # [L, L]
    z = torch.randn(n, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)  # [n, L]
    return x, KNOWN["mean"] + z @ chol.T  # [L], [n, L]


def test_the_learned_hyperparameters_recover_a_known_kernel():
    x, y = draws(300)
    learned = learn_rbf_prior(y, x)
    assert abs(learned["lengthscale"] / KNOWN["lengthscale"] - 1) < 0.2, learned
    assert abs(learned["variance"] / KNOWN["variance"] - 1) < 0.3, learned
    assert abs(learned["noise_var"] / KNOWN["noise_var"] - 1) < 0.3, learned
    assert abs(learned["mean"] - KNOWN["mean"]) < 0.5, learned
    assert learned["level_var"] < 0.05 * KNOWN["variance"], learned  # no level of their own
    assert (learned["curves"], learned["points"]) == (256, 64)  # a seeded subset of the 300 curves and 96 points
    assert learn_rbf_prior(y, x) == learned


def test_learning_runs_on_one_thread_and_gives_the_caller_its_threads_back(monkeypatch):
    """Every DDP rank learns the GP as it starts, before Lightning shares the cores out: with all of them each, the
    ranks' small matrices fought for the cores (4-8 s a rank on a busy 2-core CPU, 0.3 s on one thread)."""
    import domains.polynomial.learned_gp as learned_gp

    seen = []
    search = learned_gp._grid_search

    def counted(*args):
        seen.append(torch.get_num_threads())
        return search(*args)

    monkeypatch.setattr(learned_gp, "_grid_search", counted)
    x, y = draws(40)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        learn_rbf_prior(y, x)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}


def test_each_curves_own_level_is_learned_as_a_variance():
    """Curves at levels of their own (standard deviation 2 about the mean): the level variance comes out near 4, the
    kernel as without them."""
    x, y = draws(300)
    levels = 2 * torch.randn(300, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)  # [300, 1]
    learned = learn_rbf_prior(y + levels, x)
    assert abs(learned["level_var"] / 4 - 1) < 0.3 and abs(learned["lengthscale"] / KNOWN["lengthscale"] - 1) < 0.2, \
        learned


def test_the_learned_gp_scores_held_out_draws_at_three_points_as_the_exact_gp_does():
    x, y = draws(300)
    learned = learn_rbf_prior(y, x)
    _, test = draws(64, seed=1)  # [64, L]
    gen = torch.Generator().manual_seed(2)
    idx = torch.stack([torch.randperm(x.shape[0], generator=gen)[:3] for _ in range(64)])  # [64, 3]
    held = torch.ones_like(test, dtype=torch.bool).scatter_(1, idx, False)  # [64, L]: the queries not in S
    cx, cy, qx = x[idx], test.gather(1, idx), x.expand_as(test)  # [64, 3], [64, 3], [64, L]

    def nll(mean, var):
        return float(gaussian_nll(mean, var, test)[held].mean())

    mean, var = gp_predictive(cx, cy - KNOWN["mean"], qx, "rbf", KNOWN["lengthscale"], KNOWN["variance"],
                              KNOWN["noise_var"])  # [64, L] each
    exact = nll(mean + KNOWN["mean"], var)
    ours = nll(*learned_rbf_gp(cx, cy, qx, learned))
    level = cy.mean(-1, keepdim=True)  # [64, 1]
    mean, var = fitted_rbf_gp(cx, cy - level, qx)
    per_s = nll(mean + level, var)
    assert abs(ours - exact) < 0.05 and per_s > exact + 10, (ours, exact, per_s)


def test_generated_data_carries_the_gp_learned_from_its_training_stream():
    """GP draws of lengthscale 0.4 on x in [-2, 2]: 0.2 in positions normalised to [-1, 1]."""
    dm = PolynomialDataModule(dataset="gp_rbf", lengthscale=0.4, variance=1.0, resolution=128)
    learned = dm.spec.extra["gp_train"]
    assert abs(learned["lengthscale"] / 0.2 - 1) < 0.2 and abs(learned["variance"] - 1) < 0.3, learned
    assert dm.spec.extra["gp_train"] is learned  # learned once
    again = PolynomialDataModule(dataset="gp_rbf", lengthscale=0.4, variance=1.0, resolution=128, train_size=10)
    assert again.spec.extra["gp_train"] == learned  # the same at fit and at test, whatever the train size
    assert "gp_train" in PolynomialDataModule(dataset="polynomial", resolution=64).spec.extra


def test_curves_far_from_zero_learn_the_kernel_they_would_about_zero():
    """Values of 1e8 + a few units (a float64 count, a timestamp): the same kernel, the mean moved by the offset; the
    sums of squares of raw values lost the curves' variation to rounding and learned a variance of 1e-300."""
    x, y = draws(300)
    about_zero, far = learn_rbf_prior(y, x), learn_rbf_prior(y + 1e8, x)
    for key in ("lengthscale", "variance", "noise_var", "log_lik_per_point"):
        assert abs(far[key] / about_zero[key] - 1) < 1e-4, (key, far, about_zero)
    assert abs(far["mean"] - 1e8 - about_zero["mean"]) < 1e-4 and far["level_var"] < 1e-4, far


class LargestTensor(TorchDispatchMode):
    """The most elements of any tensor an operation makes while it is active."""

    def __init__(self):
        super().__init__()
        self.most = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.most = max(self.most, t.numel())
        return out


def test_learning_reads_only_its_subset_of_many_long_curves(tmp_path):
    """100 000 curves of 2 000 points took seconds and 1.6 GB to be copied whole to float64 (and a file's train split
    to float32 first) before 256 curves at 64 points were picked from them: no copy of the curves is made."""
    curves = torch.randn(10_000, 500)  # [N, L] float32
    with LargestTensor() as seen:
        learn_rbf_prior(curves, torch.linspace(-1, 1, 500, dtype=torch.float64))
    assert seen.most < curves.numel() / 2, seen.most  # a copy of the 256 curves, at most
    np.save(tmp_path / "c.npy", curves.numpy())
    dm = PolynomialDataModule(dataset="file", root=str(tmp_path / "c.npy"))
    dm._load(), dm._split_index()  # the file read, as the spec's value range reads it
    with LargestTensor() as seen:
        dm.gp_train()
    assert seen.most < curves.numel() / 2, seen.most  # a copy of the 256 curves, at most


def test_the_learned_gp_predicts_values_of_any_scale_alike():
    """Values in units where they are 1e-7 (amperes of a microamp signal): the predictive scales with them. Its
    variance was floored at 1e-12 in the values' units, above the noise variance of such curves (NLL off by nats)."""
    x, y = draws(300)
    learned = learn_rbf_prior(y, x)
    idx = torch.tensor([[3, 40, 77], [10, 11, 90]])  # [2, 3]
    cx, cy, qx = x[idx], y[:2].gather(1, idx), x.expand(2, -1)  # [2, 3], [2, 3], [2, L]
    mean, var = learned_rbf_gp(cx, cy, qx, learned)  # [2, L] each
    c = 1e-7
    small = {**learned, "mean": learned["mean"] * c, **{k: learned[k] * c**2 for k in ("variance", "noise_var",
                                                                                     "level_var")}}
    mean_c, var_c = learned_rbf_gp(cx, cy * c, qx, small)
    assert torch.allclose(mean_c / c, mean, rtol=1e-6) and torch.allclose(var_c / c**2, var, rtol=1e-6)


def test_levels_far_apart_beside_small_wiggles_are_learned():
    """Curves whose own levels spread 3000 times as far as they wiggle (prices of different goods, sensors at other
    sites): the level variance is learned, not stopped at 1e4 signal variances, which bent the kernel to make up."""
    x, y = draws(300)
    levels = 3000 * torch.randn(300, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)  # [300, 1]
    learned = learn_rbf_prior(y + levels, x)
    assert abs(learned["level_var"] / 3000**2 - 1) < 0.3, learned
    assert abs(learned["lengthscale"] / KNOWN["lengthscale"] - 1) < 0.2, learned
    assert abs(learned["variance"] / KNOWN["variance"] - 1) < 0.3, learned


def test_curves_each_constant_at_a_level_of_their_own_are_predicted():
    """A file of flat curves at other levels (a sensor that holds its value): learned as levels over a vanishing
    signal (not a variance of 1e-300, where rounding made the likelihood infinite), and each curve predicted at its
    level from three points, with no failed factorisation and a finite NLL."""
    x = torch.linspace(-1, 1, 61, dtype=torch.float64)  # [L]
    curves = torch.arange(40, dtype=torch.float64).unsqueeze(-1).expand(40, 61)  # [40, L]
    learned = learn_rbf_prior(curves[:32], x)
    assert learned["level_var"] > max(1.0, 1e6 * learned["variance"]), learned
    gen = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(61, generator=gen)[:3] for _ in range(40)])  # [40, 3]
    mean, var = learned_rbf_gp(x[idx], curves.gather(1, idx), x.expand(40, -1), learned)  # [40, L] each
    nll = gaussian_nll(mean, var, curves)  # [40, L]
    assert torch.allclose(mean, curves, atol=1e-6) and torch.isfinite(nll).all(), (mean, var)



@pytest.mark.parametrize("wiggle", [0.0, 1e-8])
def test_the_level_variance_of_curves_each_constant_is_the_levels_variance(wiggle):
    """Curves flat at levels 0..19 (variance 33.25), exactly or to 1e-8: the likelihood rises without bound as the
    signal vanishes, and the level variance came out as 1/L of the levels' (0.52 at 64 points), where the beta grid
    stopped. Now the levels' own variance."""
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)  # [L]
    noise = torch.randn(20, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # [20, L]
    curves = torch.arange(20, dtype=torch.float64).unsqueeze(-1) + wiggle * noise  # [20, L]
    learned = learn_rbf_prior(curves, x)
    assert abs(learned["level_var"] / 33.25 - 1) < 1e-3 and abs(learned["mean"] - 9.5) < 1e-6, learned

def test_the_gp_fitted_to_each_s_is_the_same_fit_in_any_units_of_y():
    """The per-S fit ("gp") in units of each function's own size: values 1e-6 times as large get the same predictive,
    scaled (its NLL shifted by log 1e-6), where the absolute floors of the signal and posterior variances made it a
    different, far less confident fit."""
    x, y = draws(32)
    pick = torch.tensor([5, 40, 70])  # |S| = 3
    cx, cy, qx = x[pick].expand(32, -1), y[:, pick] - KNOWN["mean"], x.expand(32, -1)  # [B, 3], [B, 3], [B, L]
    mean, var = fitted_rbf_gp(cx, cy, qx)  # [B, L] each
    for c in (1e-6, 1e6):
        m, v = fitted_rbf_gp(cx, c * cy, qx)
        torch.testing.assert_close(m, c * mean, rtol=1e-6, atol=0)
        torch.testing.assert_close(v, c**2 * var, rtol=1e-6, atol=0)


def test_curves_all_of_one_constant_are_refused_in_one_line():
    """Every value the same: the learned variances were 1e-300 and 5e-309, and learned_rbf_gp predicted with a variance
    of 1e-300 (a predictive of no width). Now refused, naming the value."""
    x = torch.linspace(-1, 1, 20, dtype=torch.float64)  # [L]
    for c in (3.0, 0.0):
        with pytest.raises(ValueError, match=f"curves that vary: every value of the 8 curves read .* is {c:g}"):
            learn_rbf_prior(torch.full((8, 20), c), x)


def test_an_empty_s_gets_the_fallback_prior_or_a_one_line_refusal():
    """|S| = 0 raised an IndexError (the span of no positions); now the prior's predictive where fallback_variance is
    given, and a ValueError naming it where not."""
    qx = torch.linspace(-1, 1, 5, dtype=torch.float64).expand(2, -1)  # [2, Q]
    empty = torch.zeros(2, 0, dtype=torch.float64)  # [2, 0]
    with pytest.raises(ValueError, match=r"S is empty \(\|S\| = 0\): give fallback_variance"):
        fitted_rbf_gp(empty, empty, qx)
    mean, var = fitted_rbf_gp(empty, empty, qx, fallback_variance=2.0)  # [2, Q] each
    assert (mean == 0).all() and torch.allclose(var, torch.full_like(var, 2.0), rtol=0.02)


def test_an_s_without_spread_gets_the_fallback_variance_not_a_predictive_of_no_width():
    """One point at 0 (a single point about its own mean, as a user's curve is fitted) or a constant S: the fitted
    variance was floored at 1e-12, so the predictive had a width of 1e-6 in y's units; now it uses fallback_variance,
    and without one such an S is refused."""
    qx = torch.linspace(-1, 1, 9, dtype=torch.float64).unsqueeze(0)  # [1, Q]
    for cx in ([[0.3]], [[-0.5, 0.1, 0.7]]):
        cx = torch.tensor(cx, dtype=torch.float64)  # [1, K]
        cy = torch.zeros_like(cx)  # [1, K]
        with pytest.raises(ValueError, match="every value of S is 0 for 1 of 1 functions"):
            fitted_rbf_gp(cx, cy, qx)
        mean, var = fitted_rbf_gp(cx, cy, qx, fallback_variance=4.0)  # [1, Q] each
        assert (mean == 0).all() and torch.isfinite(var).all() and var.max() > 1.0, var
    # functions with spread beside it keep their own fit
    cx = torch.tensor([[0.3, 0.5], [0.3, 0.5]], dtype=torch.float64)  # [2, 2]
    cy = torch.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=torch.float64)  # [2, 2]
    both = fitted_rbf_gp(cx, cy, qx.expand(2, -1), fallback_variance=4.0)
    alone = fitted_rbf_gp(cx[1:], cy[1:], qx, fallback_variance=4.0)
    assert all(torch.equal(b[1:], a) for b, a in zip(both, alone))


def test_an_s_holding_nan_is_refused_by_the_fitted_gp_in_one_line():
    """A NaN or an infinity in S failed the Cholesky factorisation, whose message blamed a kernel matrix that is not
    positive definite."""
    cx = torch.tensor([[-0.5, 0.1, 0.7]], dtype=torch.float64)  # [1, 3]
    qx = torch.linspace(-1, 1, 5, dtype=torch.float64).unsqueeze(0)  # [1, Q]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"S holds NaN or infinite numbers \(1 of its positions and values\)"):
            fitted_rbf_gp(cx, torch.tensor([[1.0, bad, 0.5]], dtype=torch.float64), qx)
    with pytest.raises(ValueError, match="S holds NaN or infinite numbers"):
        fitted_rbf_gp(torch.tensor([[-0.5, float("nan"), 0.7]]), torch.ones(1, 3), qx)
