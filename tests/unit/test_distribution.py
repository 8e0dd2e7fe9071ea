"""The value distribution: normalisation, mean, samples, loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.inference import PredictionOverflow, check_predictions
from pixeltransformer.signal import SignalSpec


def _spec(nb, v=1, centres=None):
    return SignalSpec(domain="t", dataset="t", grid_shape=(8, 8), val_dims=v, val_range=(0.0, 1.0), num_bins=nb,
                      centres=centres)


def test_single_bin_is_a_gaussian():
    dist = BinnedGaussian.from_spec(_spec(1))
    params = torch.randn(5, 3)  # [N, NB (2 + V)] with NB = 1, V = 1
    v = torch.randn(5, 1)
    _, means, sigma = dist.split(params)
    expected = torch.distributions.Normal(means[:, 0, 0], sigma[:, 0]).log_prob(v[:, 0])
    assert torch.allclose(dist.log_prob(params, v), expected, atol=1e-5)


def test_mixture_density_integrates_to_one():
    dist = BinnedGaussian.from_spec(_spec(32))
    torch.manual_seed(0)
    params = torch.randn(4, dist.num_params) * 2  # [N, NP]
    grid = torch.linspace(-3, 4, 20001)  # wide enough for every bin's tails
    dens = dist.log_prob(params.unsqueeze(1).expand(-1, grid.numel(), -1), grid.view(1, -1, 1).expand(4, -1, 1)).exp()
    integral = torch.trapezoid(dens, grid, dim=1)  # [N]
    assert torch.allclose(integral, torch.ones(4), atol=2e-3)


def test_mean_formula_matches_expectation():
    centres = ((0.1, 0.2, 0.3), (0.9, 0.8, 0.7), (0.5, 0.5, 0.5))
    dist = BinnedGaussian.from_spec(_spec(3, 3, centres))
    params = torch.randn(2, dist.num_params)
    logits, means, _ = dist.split(params)
    q = torch.softmax(logits, -1)
    manual = sum(q[:, b : b + 1] * means[:, b] for b in range(3))
    assert torch.allclose(dist.mean(params), manual, atol=1e-6)


def test_sample_moments_match_mean_and_variance():
    dist = BinnedGaussian.from_spec(_spec(8))
    params = torch.randn(1, dist.num_params).expand(200_000, -1)
    x = dist.sample(params, generator=torch.Generator().manual_seed(0))  # [N, 1]
    assert torch.allclose(x.mean(0), dist.mean(params[:1])[0], atol=5e-3)
    assert torch.allclose(x.var(0), dist.variance(params[:1])[0], rtol=3e-2)


def test_sample_uses_sigma_as_standard_deviation():
    dist = BinnedGaussian.from_spec(_spec(1))
    params = torch.tensor([[0.0, 0.0, 1.0]]).expand(100_000, -1)  # one bin: logit, offset, raw sigma
    _, _, sigma = dist.split(params[:1])
    x = dist.sample(params, generator=torch.Generator().manual_seed(1))
    assert x.std().item() == pytest.approx(sigma.item(), rel=2e-2)


@pytest.mark.parametrize("temperature", [1e-39, 1e-300])
def test_a_temperature_near_zero_draws_the_most_likely_bin(temperature):
    """logits / T overflowed to -inf in every bin for T below ~1e-37, and the NaN probabilities made the inverse CDF
    take bin 0 (the lowest value) everywhere, not the most likely bin."""
    dist = BinnedGaussian.from_spec(_spec(32))
    gen = torch.Generator().manual_seed(0)
    params = torch.randn(256, dist.num_params, generator=gen) * 3  # [N, NP]
    greedy = dist.sample(params, 0.0, uniform=torch.rand(256, generator=gen), noise=torch.zeros(256, 1))  # [N, 1]
    assert dist.logits(params).argmax(-1).ne(0).any()  # some rows' most likely bin is not bin 0
    for uniform in (torch.rand(256, generator=gen), None):
        drawn = dist.sample(params, temperature, generator=gen, uniform=uniform, noise=torch.zeros(256, 1))
        assert torch.equal(drawn, greedy)


def test_a_uniform_draw_of_zero_never_takes_a_bin_of_probability_zero():
    """torch.rand returns exactly 0 once in 2^24 draws. The inverse CDF took bin 0 for it whatever its probability:
    a black pixel where the model puts every bit of its mass on white (logits 200 apart: exp(-200) is 0 in float32)."""
    dist = BinnedGaussian.from_spec(_spec(32))
    params = torch.zeros(3, dist.num_params)  # [N, NP]: offsets 0, so a draw without noise is its bin's centre
    params[:, :32] = -200.0
    params[0, 31] = 0.0  # all the mass on the last bin
    params[1, 10:32] = 0.0  # bins 0-9 impossible
    params[2, 0] = 0.0  # bin 0 certain: u = 0 still takes it
    probs = torch.softmax(dist.logits(params), -1)  # [N, NB]
    assert probs[0, 0] == 0 and probs[1, :10].eq(0).all()
    for temperature in (1.0, 0.5):
        drawn = dist.sample(params, temperature, uniform=torch.zeros(3), noise=torch.zeros(3, 1))  # [N, 1]
        assert torch.equal(dist.nearest_bin(drawn), torch.tensor([31, 10, 0]))
    # a uniform just below 1 takes the last bin of positive probability, not a trailing impossible one
    params[1, 20:32] = -200.0
    drawn = dist.sample(params, 1.0, uniform=torch.full((3,), 1.0 - 2.0**-24), noise=torch.zeros(3, 1))
    assert torch.equal(dist.nearest_bin(drawn), torch.tensor([31, 19, 0]))


def test_temperature_zero_is_the_most_likely_bins_mean_not_the_densitys_peak():
    """T = 0 (greedy, "the most likely bin's mean" in the options' help) is the limit of the tempered draws as T -> 0:
    the heaviest bin's mean. With bins of unequal widths that is not where the density peaks."""
    dist = BinnedGaussian.from_spec(_spec(4))  # centres 0.125, 0.375, 0.625, 0.875
    params = torch.zeros(1, dist.num_params)  # [1, NP]
    params[0, :4] = torch.tensor([-50.0, math.log(0.6), math.log(0.4), -50.0])
    params[0, 8:12] = torch.tensor([0.0, 2.0, -5.0, 0.0])  # bin 1 wide, bin 2 narrow
    grid = torch.linspace(0, 1, 10001).unsqueeze(-1)  # [G, 1]
    peak = grid[dist.log_prob(params.expand(len(grid), -1), grid).argmax()]
    assert abs(float(peak) - 0.625) < 1e-3  # the narrow bin's centre
    greedy = dist.sample(params, 0.0, uniform=torch.rand(1), noise=torch.randn(1, 1))
    assert float(greedy) == pytest.approx(0.375)
    cold = dist.sample(params.expand(1000, -1), 1e-3, generator=torch.Generator().manual_seed(0))  # [1000, 1]
    assert (cold - 0.375).abs().max() < 0.01


def test_paper_loss_uses_nearest_bin():
    dist = BinnedGaussian.from_spec(_spec(4))  # centres 0.125, 0.375, 0.625, 0.875
    params = torch.zeros(1, dist.num_params)
    v = torch.tensor([[0.40]])
    assert dist.nearest_bin(v).item() == 1
    _, means, sigma = dist.split(params)
    r = (0.40 - means[0, 1, 0]) / sigma[0, 1]
    expected = -(math.log(0.25) - 0.1 * (math.log(sigma[0, 1] / dist.unit) + r**2))
    assert dist.loss(params, v).item() == pytest.approx(float(expected), rel=1e-5)


def test_vector_nearest_bin_is_exact():
    centres = torch.rand(50, 3)
    dist = BinnedGaussian.from_spec(_spec(50, 3, centres.tolist()))
    v = torch.rand(100, 3)
    brute = torch.cdist(v, centres).argmin(1)
    assert torch.equal(dist.nearest_bin(v), brute)


@pytest.mark.parametrize("term,factor", [("paper", 2.0), ("nll", 1.0)])
def test_gaussian_term_optimum_per_value_dimension(term, factor):
    """With V = 3 the loss is minimised at sigma^2 = factor |r|^2 / V: V log sigma, not the appendix's single
    log sigma, whose optimum would be factor |r|^2 (sqrt(3) times wider)."""
    dist = BinnedGaussian(torch.zeros(1, 3), unit=1.0, alpha=1.0, gaussian_term=term)
    r = torch.tensor([0.3, -0.6, 0.9])
    raw = torch.linspace(-3, 3, 60001)  # raw sigma: softplus(raw) + min_sigma
    params = torch.cat([torch.zeros(len(raw), 4), raw.unsqueeze(1)], dim=1)  # [N, logit + 3 offsets + sigma]
    loss = dist.loss(params, r.expand(len(raw), 3))  # [N]
    sigma = torch.nn.functional.softplus(raw[loss.argmin()]) + dist.min_sigma
    assert sigma.item() ** 2 == pytest.approx(factor * (r**2).sum().item() / 3, rel=1e-3)


@pytest.mark.parametrize("anchor", [False, True])
def test_cdf_matches_monte_carlo_probability(anchor):
    """P(v < t | S) from the mixture's CDF against the share of samples below t (a bimodal SDF-like head)."""
    spec = SignalSpec(domain="t", dataset="t", grid_shape=(8, 8), val_dims=1, val_range=(-0.1, 0.1), num_bins=30)
    dist = BinnedGaussian.from_spec(spec, anchor=anchor)
    torch.manual_seed(3)
    params = torch.randn(6, dist.num_params) * 1.5  # [N, NP]
    params[:3, :30] += 4 * (torch.arange(30) > 25).float()  # mass near +t (outside) for some queries
    params[3:, :30] += 3 * (torch.arange(30) < 10).float()  # and near -t for others
    n = 100_000
    draws = dist.sample(params.unsqueeze(1).expand(-1, n, -1), generator=torch.Generator().manual_seed(4))  # [N, n, 1]
    for t in (0.0, -0.05, 0.03):
        mc = (draws < t).float().mean(1)  # [N, 1]
        cdf = dist.cdf(params, t)  # [N, 1]
        assert cdf.shape == (6, 1)
        assert torch.allclose(cdf, mc, atol=6e-3), (t, cdf.squeeze(-1), mc.squeeze(-1))
    assert torch.all(dist.cdf(params, -10.0) < 1e-6) and torch.all(dist.cdf(params, 10.0) > 1 - 1e-6)


def test_cdf_per_value_dimension():
    centres = ((0.1, 0.2), (0.9, 0.8), (0.5, 0.5))
    dist = BinnedGaussian.from_spec(_spec(3, 2, centres))
    params = torch.randn(4, dist.num_params)
    n = 200_000
    draws = dist.sample(params.unsqueeze(1).expand(-1, n, -1), generator=torch.Generator().manual_seed(5))  # [N, n, 2]
    t = torch.tensor([0.4, 0.6])
    assert torch.allclose(dist.cdf(params, t.expand(4, 2)), (draws < t).float().mean(1), atol=6e-3)


def test_the_mean_and_cdf_read_a_block_of_queries_at_a_time(monkeypatch):
    """The mean, P(SDF < 0 | S) and the finite check over a whole grid made their [N, NB] temporaries at every point at
    once: at 150 bins 2.4, 4.2 and 1.2 kB a point on top of the parameters' 1.8 (a 175^3 SDF prediction took 33 GiB).
    They are read BOX_CHUNK elements at a time, with the values they had, a threshold per query too."""
    centres = ((0.1, 0.2), (0.9, 0.8), (0.5, 0.5))
    dist = BinnedGaussian.from_spec(_spec(3, 2, centres))
    torch.manual_seed(6)
    params = torch.randn(2, 7, dist.num_params)  # [B, N, NP]
    thresholds = (0.4, torch.tensor([0.4, 0.6]), torch.rand(2, 7, 2), torch.rand(7, 1))
    whole = [dist.cdf(params, t) for t in thresholds]  # [B, N, 2] each
    whole_mean = dist.mean(params)  # [B, N, 2]
    read, erfc, softmax = [], torch.erfc, F.softmax

    def counted(f):
        def g(x, *args, **kwargs):
            read.append(x.numel())
            return f(x, *args, **kwargs)
        return g

    monkeypatch.setattr(torch, "erfc", counted(erfc))
    monkeypatch.setattr(F, "softmax", counted(softmax))
    monkeypatch.setattr(BinnedGaussian, "BOX_CHUNK", 4 * 3 * 2)  # four queries at a time, the last two
    for t, expected in zip(thresholds, whole):
        assert torch.equal(dist.cdf(params, t), expected)
    assert torch.equal(dist.mean(params), whole_mean)
    assert read and max(read) <= 4 * 3 * 2, read
    assert dist.cdf(params[:, :0], 0.4).shape == (2, 0, 2) and dist.mean(params[:, :0]).shape == (2, 0, 2)
    # the check that the predictions are finite reads the sigmas a block at a time too
    split, sigmas, rows = BinnedGaussian.split, BinnedGaussian.sigmas, []
    monkeypatch.setattr(BinnedGaussian, "split", lambda self, p: rows.append(p.shape[:-1].numel()) or split(self, p))
    monkeypatch.setattr(BinnedGaussian, "sigmas", lambda self, p: rows.append(p.shape[:-1].numel()) or sigmas(self, p))
    check_predictions(dist, params, "grid points")
    assert rows and max(rows) <= 4, rows
    rows.clear()
    check_predictions(dist, params, "grid points", whole_mean)  # the caller's mean: the sigmas alone
    assert rows and max(rows) <= 4, rows
    with pytest.raises(PredictionOverflow, match="at 1 of 2 x 7 grid points"):
        check_predictions(dist, params.index_put((torch.tensor(1), torch.tensor(5)), torch.tensor(1e30)),
                          "grid points")


def _whole_cdf(dist, params, threshold):
    """cdf as it read every query at once (the reference its blocks must give bit for bit)."""
    logits, means, sigma = dist.split(params)  # [..., NB], [..., NB, V], [..., NB]
    q = F.softmax(logits.float(), dim=-1).unsqueeze(-1)  # [..., NB, 1]
    t = torch.as_tensor(threshold, dtype=means.dtype, device=means.device)
    if t.dim() > 0:
        t = t.unsqueeze(-2)  # [..., 1, V]
    z = (t - means) / sigma.unsqueeze(-1)  # [..., NB, V]
    return (q * 0.5 * torch.erfc(-z / math.sqrt(2))).sum(-2).clamp(0.0, 1.0)  # [..., V]


@pytest.mark.parametrize("chunk", [None, 4 * 3 * 2])
def test_cdf_broadcasts_parameters_against_a_threshold_of_more_queries(monkeypatch, chunk):
    """A threshold with more or larger leading axes than the parameters (T thresholds [T, 1, Q, 1] at the queries of
    [B, Q, NP], or B thresholds under one set [1, Q, NP] or [Q, NP]) was broadcast against them; read a block of
    queries at a time, cdf stopped in an expand. Every answer is the whole-input formula's, bit for bit."""
    if chunk:
        monkeypatch.setattr(BinnedGaussian, "BOX_CHUNK", chunk)  # four queries at a time
    dist = BinnedGaussian.from_spec(_spec(3, 1))
    torch.manual_seed(9)
    params = torch.randn(2, 5, dist.num_params)  # [B, Q, NP]
    cases = [(params[:1], torch.rand(2, 5, 1)), (params[0], torch.rand(2, 5, 1)), (params, torch.rand(4, 1, 5, 1)),
             (params, torch.rand(5, 1)), (params, 0.3), (params, torch.tensor([0.3]))]
    for p, t in cases:
        assert torch.equal(dist.cdf(p, t), _whole_cdf(dist, p, t)), (list(p.shape), list(torch.as_tensor(t).shape))


def test_cdf_of_float64_parameters_keeps_a_float64_threshold():
    """A threshold given as a number was made in float32 and then cast: with float64 parameters P(v < 0.1) moved by
    3e-9. It is read in the bins' dtype, as the whole-input formula read it (half parameters: float32)."""
    dist = BinnedGaussian.from_spec(_spec(5, 1))
    torch.manual_seed(11)
    params = torch.randn(2, 3, dist.num_params)  # [B, Q, NP]
    for p, t in ((params.double(), 0.1), (params.double(), [0.1]), (params.double(), torch.tensor([0.1]).double()),
                 (params.half(), 0.1), (params, 0.1)):
        expected = _whole_cdf(dist, p, t)
        got = dist.cdf(p, t)
        assert got.dtype == expected.dtype and torch.equal(got, expected), (p.dtype, t)


def test_the_variance_reads_a_block_of_queries_at_a_time(monkeypatch):
    """The variance made its [N, NB, V] temporaries over the whole input at once, as the mean and the CDF did: it reads
    BOX_CHUNK elements at a time too, with the values it had."""
    dist = BinnedGaussian.from_spec(_spec(3, 2, ((0.1, 0.2), (0.9, 0.8), (0.5, 0.5))))
    torch.manual_seed(10)
    params = torch.randn(2, 7, dist.num_params)  # [B, N, NP]
    logits, means, sigma = dist.split(params)  # the whole-input formula
    q = F.softmax(logits, dim=-1).unsqueeze(-1)  # [B, N, NB, 1]
    m = (q * means).sum(-2, keepdim=True)  # [B, N, 1, V]
    whole = (q * ((means - m) ** 2 + sigma.unsqueeze(-1) ** 2)).sum(-2)  # [B, N, V]
    assert torch.equal(dist.variance(params), whole)
    read, softmax = [], F.softmax
    monkeypatch.setattr(F, "softmax", lambda x, *a, **k: read.append(x.numel()) or softmax(x, *a, **k))
    monkeypatch.setattr(BinnedGaussian, "BOX_CHUNK", 4 * 3 * 2)  # four queries at a time, the last two
    assert torch.equal(dist.variance(params), whole)
    assert read and max(read) <= 4 * 3, read
    assert dist.variance(params[:, :0]).shape == (2, 0, 2)


@pytest.mark.parametrize("kind", ["plain", "anchored", "framed"])
def test_components_of_chosen_bins_equal_the_full_split(kind):
    """Sampling computes the drawn bin's mean and sigma only; they must be the full split's, anchor and frame included."""
    if kind == "framed":  # a per-set frame goes with one Gaussian
        dist, nb, v = BinnedGaussian.from_spec(_spec(1), framed=True), 1, 1
    else:
        centres = ((0.1, 0.2, 0.3), (0.9, 0.8, 0.7), (0.5, 0.5, 0.5), (0.2, 0.9, 0.4))
        dist, nb, v = BinnedGaussian.from_spec(_spec(4, 3, centres), anchor=kind == "anchored"), 4, 3
    gen = torch.Generator().manual_seed(0)
    extra = v + 1 if kind == "framed" else 0  # the frame [m, log s] follows the head's outputs
    params = torch.randn(5, 2, dist.num_params + extra, generator=gen)  # [N, Q, NP (+ V + 1)]
    bins = torch.randint(0, nb, (5, 2, 3), generator=gen)  # [N, Q, k]
    _, means, sigma = dist.split(params)  # [N, Q, NB, V], [N, Q, NB]
    got_means, got_sigma = dist.components(params, bins)  # [N, Q, k, V], [N, Q, k]
    assert got_means.shape == (5, 2, 3, v)
    assert torch.allclose(got_means, means.gather(-2, bins.unsqueeze(-1).expand(-1, -1, -1, v)), atol=1e-6)
    assert torch.allclose(got_sigma, sigma.gather(-1, bins), atol=1e-6)


@pytest.mark.parametrize("colours", [1, 4])
def test_kmeans_bins_of_data_with_fewer_colours_than_bins_are_refused(colours):
    """A picture folder of 4 colours (or 1) gave 256 k-means centres of which at most 4 were distinct: their spacing,
    the unit of every offset and sigma, was 0, and every training loss was NaN from the first step."""
    from pixeltransformer.bins import kmeans_centres

    palette = torch.rand(colours, 3, generator=torch.Generator().manual_seed(0))  # [c, 3]
    pixels = palette[torch.randint(colours, (5000,), generator=torch.Generator().manual_seed(1))]  # [N, 3]
    spec = _spec(256, v=3).with_centres(kmeans_centres(pixels, 256))
    with pytest.raises(ValueError, match=rf"^t/t: the 256 value bins have only {colours} distinct centres .* set "
                       rf"--data.init_args.num_bins to at most {colours}$"):
        BinnedGaussian.from_spec(spec)
    dist = BinnedGaussian.from_spec(_spec(colours, v=3).with_centres(kmeans_centres(pixels, colours)))
    assert dist.unit > 0  # as many bins as colours: a spacing, finite losses


@pytest.mark.parametrize("framed", [False, True])
def test_sigmas_are_split_s_sigmas(framed):
    """check_predictions reads the spreads alone: they are split's, a framed model's scale included."""
    centres = torch.zeros(1, 1) if framed else torch.linspace(0, 1, 4).unsqueeze(1)  # [NB, V]: a frame takes one
    dist = BinnedGaussian(centres, unit=0.25, framed=framed)
    params = torch.randn(2, 5, dist.params_width)  # [B, Q, NP (+ V + 1)]
    assert torch.equal(dist.sigmas(params), dist.split(params)[2])  # [B, Q, NB]


def test_a_number_threshold_is_held_where_float64_runs(monkeypatch):
    """Apple's MPS has no float64: a number or list threshold of the CDF (P(SDF < 0 | S) in an SDF evaluation and
    prediction), held in float64, was made on the bins' device and stopped there with torch's float64 error; it is
    made where float64 runs (the CPU for MPS) and read on the bins' device in their dtype."""
    import pixeltransformer.distribution as distribution

    asked = []

    def stand_in(device):  # where float64 runs: asked with the parameters' device
        asked.append(torch.device(device).type)
        return torch.device("cpu")

    d = BinnedGaussian.from_spec(_spec(8))
    params = torch.randn(2, 5, d.num_params, generator=torch.Generator().manual_seed(0))  # [2, 5, NP]
    expected = d.cdf(params, 0.1), d.cdf(params, [0.1])  # [2, 5, 1] each
    monkeypatch.setattr(distribution, "float64_device", stand_in)
    got = d.cdf(params, 0.1), d.cdf(params, [0.1])
    assert asked == ["cpu", "cpu"]
    assert all(torch.equal(g, e) for g, e in zip(got, expected))


def test_a_box_and_a_cdf_of_no_queries_are_empty():
    """An images evaluation at an |S| that holds out no pixel scores no query: the box probability of no rows stopped
    it with torch's "cannot reshape tensor of 0 elements" from the per-query bounds read a block at a time."""
    dist = BinnedGaussian.from_spec(_spec(5, 1))
    params = torch.zeros(0, dist.num_params)  # [0, NP]
    assert dist.log_prob_box(params, torch.zeros(0, 1), torch.ones(0, 1)).shape == (0,)
    assert dist.cdf(params, torch.zeros(0, 1)).shape == (0, 1)


def test_the_finite_check_reads_the_mean_and_the_spreads_in_one_pass(monkeypatch):
    """check_predictions without a mean read the parameters twice (the mean's blocks, then the sigmas'), splitting
    and softmaxing each block again: one pass gives both flags, and the same findings."""
    dist = BinnedGaussian.from_spec(_spec(3, 2, ((0.1, 0.2), (0.9, 0.8), (0.5, 0.5))))
    params = torch.randn(2, 7, dist.num_params, generator=torch.Generator().manual_seed(2))  # [B, N, NP]
    nan_mean = params.index_put((torch.tensor(0), torch.tensor(3), torch.tensor(3)), torch.tensor(float("nan")))
    inf_sigma = params.index_put((torch.tensor(1), torch.tensor(5), torch.tensor(3 + 3 * 2)), torch.tensor(1e30))
    by_rows, passes = BinnedGaussian.by_rows, []
    monkeypatch.setattr(BinnedGaussian, "by_rows", lambda self, *a: passes.append(1) or by_rows(self, *a))
    monkeypatch.setattr(BinnedGaussian, "BOX_CHUNK", 4 * 3 * 2)  # four queries at a time
    check_predictions(dist, params, "grid points")
    assert len(passes) == 1, passes
    with pytest.raises(PredictionOverflow, match=r"at 1 of 2 x 7 grid points \(items 4\) "):
        check_predictions(dist, nan_mean, "grid points", items=[4, 8])
    with pytest.raises(PredictionOverflow, match=r"at 1 of 2 x 7 grid points \(items 8\) "):
        check_predictions(dist, inf_sigma, "grid points", items=[4, 8])
    passes.clear()
    check_predictions(dist, params, "grid points", dist.mean(params))  # the caller's mean: the sigmas' pass alone
    assert len(passes) == 2, passes
