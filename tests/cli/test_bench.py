"""The benchmark harness stays runnable: a seconds-long smoke run of every benchmark, the timing maths, and
the reference baseline's own behaviour."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import figure as bench_figure
from benchmarks import run as bench_run
from benchmarks.figure import figure_panels, sampling_bars
from benchmarks.common import image_spec, presets as known_presets, reference_model
from benchmarks.reference import PerItemSetDataset, reference_loader, reference_sample, reference_train_step
from benchmarks.timing import after_warmup, extrapolate_total, fit_step_cost, interleaved, paired_ratio, percent_text
from pixeltransformer.results_bench import RATIO_NOTE


def test_smoke_run_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench_run.main(["--smoke", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["mode"] == "smoke" and saved["environment"]["torch_threads"] == 1
    (train,), (samp,), (mf,) = saved["train"], saved["sampling"], saved["meanfield"]
    assert train["preset"] == "tiny" and train["reference"]["n"] == 1
    # every derived figure is the ratio the table says it is
    for name in ("ours", "reference"):
        t = train[name]
        assert t["queries_per_s"] == pytest.approx(train["batch"] * train["num_queries"] / t["median_s"])
        roof = t["roofline"]
        assert roof["achieved_flops_per_s"] == pytest.approx(roof["flops_per_step"] / t["median_s"])
        assert roof["fraction_of_peak"] == pytest.approx(roof["achieved_flops_per_s"] / train["matmul_peak"]["flops_per_s"])
    assert train["speedup"] == pytest.approx(train["ours"]["queries_per_s"] / train["reference"]["queries_per_s"])
    # the run flushes subnormals (as training does) and also times ours with them kept
    assert saved["environment"]["flush_subnormals"] and train["flush_subnormals"]
    kept = train["ours_subnormals_kept"]
    assert kept["queries_per_s"] == pytest.approx(train["batch"] * train["num_queries"] / kept["median_s"])
    assert train["speedup_subnormals_kept"] == pytest.approx(kept["queries_per_s"] / train["reference"]["queries_per_s"])
    peak = train["matmul_peak"]
    assert peak["size"] == 256 and peak["flops_per_s"] == pytest.approx(2 * 256**3 / peak["median_s"])
    assert samp["autoregressive_steps"] == 16 and samp["default_encoder"] == "buffered"
    for kind in ("buffered", "incremental", "batched_bidirectional"):
        assert samp[f"speedup_{kind}"] == pytest.approx(samp["reference"]["total_s"] / samp[f"ours_{kind}"]["total_s"])
    assert samp["speedup_default"] == samp["speedup_buffered"]
    assert samp["speedup_best"] == max(samp["speedup_buffered"], samp["speedup_incremental"])
    assert len(samp["reference"]["probe_sizes"]) == 2
    # the reference chain was measured end to end: its total is S measured chains, the extrapolation a check
    assert samp["reference"]["extrapolated"] is False
    assert samp["reference"]["total_s"] == pytest.approx(samp["num_samples"] * samp["reference_one_chain_measured_s"])
    assert samp["reference"]["extrapolated_total_s"] == pytest.approx(
        samp["num_samples"] * samp["reference_one_chain_extrapolated_s"])
    assert mf["timed_queries"] == 256
    assert mf["ours"]["queries_per_s"] == pytest.approx(mf["timed_queries"] / mf["ours"]["median_s"])
    assert mf["speedup"] == pytest.approx(mf["ours"]["queries_per_s"] / mf["reference"]["queries_per_s"])
    assert saved["memory"]["sizes"] == [32, 64, 128] and len(saved["memory"]["ours_mib"]) == 3
    assert set(saved["ratios"]) == set(bench_run.RATIO_KEYS)
    assert all(v is None for v in saved["ratios"].values())  # smoke mode runs the tiny preset only
    table = capsys.readouterr().out
    assert "AR sampling, 2 x 4x4x3, N'=16, buffered" in table and "GPU column empty" in table
    assert "roofline" in table and "matmul peak" in table and "ours with subnormals kept" in table
    load = saved["environment"]["load_average"]  # the footer's 1/5/15-minute loads, not the raw floats
    assert f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start" in table
    assert results["train"][0]["batch"] == 2
    # the picture beside the JSON, one panel per benchmark that has one
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"picture: {out.with_suffix('.png')}" in table
    assert figure_panels(saved) == ["sampling", "train", "memory"]
    # its sampling bars are the record's totals: every contender, the measured reference not hatched
    bars = {label: (seconds, extrapolated) for _, label, seconds, extrapolated in sampling_bars(saved)}
    assert bars["ours, buffered encoder (default; cached)"] == (samp["ours_buffered"]["total_s"], False)
    assert bars["ours, incremental encoder (cached)"] == (samp["ours_incremental"]["total_s"], False)
    assert bars["ours, paper's set encoder (chains batched, re-encodes)"] == (
        samp["ours_batched_bidirectional"]["total_s"], True)
    assert [v for k, v in bars.items() if k.startswith("2021 design")] == [(samp["reference"]["total_s"], False)]


def test_a_record_without_a_picture_leaves_no_older_one_beside_it(tmp_path):
    """`--only meanfield` draws no picture: the bench.png an earlier run left beside bench.json stayed, and
    `make results --bench` published it as this record's."""
    out = tmp_path / "bench.json"
    out.with_suffix(".png").write_bytes(b"an earlier record's picture")
    bench_run.main(["--smoke", "--only", "meanfield", "--out", str(out)])
    assert json.loads(out.read_text())["meanfield"] and not out.with_suffix(".png").exists()


def test_a_record_without_its_environment_is_drawn_undated(tmp_path):
    """Only the title reads the environment: a record written by hand (or trimmed) still draws."""
    record = {"train": [{"preset": "tiny", "batch": 2, "num_context": 8, "num_queries": 16, "speedup": 1.5,
                         "ours": {"queries_per_s": 3.0}, "reference": {"queries_per_s": 2.0}}]}
    out = bench_figure.draw(record, tmp_path / "b.png")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_bench_picture_names_what_it_leaves_out_and_keeps_its_notes_in_their_panels(tmp_path, monkeypatch):
    """The 2021 design's memory line stopped at 4096 without a word (it is not run past reference_max); the last
    training bar's note ran over its panel's right edge; "default 34x" did not say what it compared."""
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    train = [{"preset": p, "batch": 8, "num_context": 256, "num_queries": 1024, "speedup": 1.5,
              "ours": {"queries_per_s": 2669.0, "roofline": {"fraction_of_peak": 0.6}},
              "reference": {"queries_per_s": 1789.0, "roofline": {"fraction_of_peak": 0.39}}} for p in ("small", "paper")]
    memory = {"preset": "small", "num_queries": 256, "sizes": [256, 1024, 4096, 8192], "ours_mib": [1, 2, 4, 8],
              "ours_exponent": 0.5, "reference_sizes": [256, 1024, 4096], "reference_mib": [2, 20, 300],
              "reference_exponent": 1.9}
    bench_figure.draw({"train": train, "memory": memory}, tmp_path / "b.png")
    fig = figures[0]
    training, mem = fig.axes
    assert [t.get_text() for t in mem.get_legend().get_texts()][0] == "2021 design (|S|^1.90; not run at |S| = 8192)"
    assert bench_figure.memory_label({**memory, "reference_sizes": memory["sizes"]}) == "2021 design (|S|^1.90)"
    renderer = fig.canvas.get_renderer()
    box = training.get_window_extent(renderer)
    for note in training.texts:
        extent = note.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, (note.get_text(), extent, box)


def test_bench_picture_command_redraws_a_record_and_refuses_others(tmp_path, capsys):
    record = tmp_path / "bench.json"
    record.write_text(json.dumps({"mode": "smoke", "train": [], "sampling": [], "meanfield": [{"preset": "tiny"}]}))
    with pytest.raises(SystemExit) as refused:  # no panel to draw: one line, status 2
        bench_figure.main([str(record)])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("holds no sampling, training or memory results to draw)"), err
    assert not record.with_suffix(".png").exists()
    record.write_text("{not json")
    with pytest.raises(SystemExit):
        bench_figure.main([str(record)])
    assert "not a readable bench record" in capsys.readouterr().err


def test_bench_picture_command_refuses_an_out_that_is_not_a_png_file(tmp_path, capsys):
    """`python -m benchmarks.figure bench.json pictures` (a folder) wrote pictures.png beside the folder, over any
    file of that name, and printed "pictures"; a name without .png was written with .png added and printed without."""
    record = tmp_path / "bench.json"
    record.write_text(json.dumps({"train": [{"preset": "tiny", "batch": 2, "num_context": 8, "num_queries": 16,
                                             "speedup": 1.5, "ours": {"queries_per_s": 3.0},
                                             "reference": {"queries_per_s": 2.0}}]}))
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures.png").write_bytes(b"another picture")
    for out, cause in (("pictures", "a folder; name the PNG to write"), ("summary", "not a .png file name"),
                       ("bench.json", "not a .png file name")):
        with pytest.raises(SystemExit) as refused:
            bench_figure.main([str(record), str(tmp_path / out)])
        assert refused.value.code == 2
        assert cause in capsys.readouterr().err.strip().splitlines()[-1]
    assert (tmp_path / "pictures.png").read_bytes() == b"another picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "pictures", "pictures.png"]
    assert bench_figure.main([str(record), str(tmp_path / "b.PNG")]) == tmp_path / "b.PNG"
    assert (tmp_path / "b.PNG").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("out, cause", [("{blocked}/x.png", "{blocked} is a file, not a folder"),
                                        ("{blocked}/sub/x.png", "{blocked} is a file, not a folder"),
                                        ("/sys/x.png", "/sys cannot be written ({why})")])
def test_bench_picture_command_refuses_an_out_it_cannot_write(tmp_path, blocked, capsys, out, cause):
    """`python -m benchmarks.figure rec.json <a file>/x.png` drew the picture and ended on mkdir's FileExistsError
    traceback: the place is checked first, with the runs' own wording."""
    from pixeltransformer.files import cannot_write

    record = tmp_path / "bench.json"
    record.write_text((Path(__file__).resolve().parents[2] / "docs/metrics/bench/bench.json").read_text())
    out = out.format(blocked=blocked)
    with pytest.raises(SystemExit) as refused:
        bench_figure.main([str(record), out])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip()
    said = cause.format(blocked=blocked, why=cannot_write(Path("/sys")))
    assert err == f"python -m benchmarks.figure: error: {out}: {said}; name the PNG to write elsewhere"


def test_feed_refuses_a_config_without_its_data_before_it_measures_any(tmp_path, capsys, monkeypatch):
    """`python -m benchmarks.feed` without a config's dataset measured the configs before it (minutes), then ended
    on a traceback whose last line said what was missing, and none of the rows measured reached --json. Every config
    is built (its data found) before the first is measured, and a missing dataset is one line, exit status 2."""
    from benchmarks import feed

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(feed, "measure", lambda *a, **k: pytest.fail("a config was measured"))
    with pytest.raises(SystemExit) as refused:
        feed.main(["--only", "polynomial", "images/cifar10", "--json", str(tmp_path / "feed.json"), "--run_root",
                   str(tmp_path / "runs")])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip()
    line = err.splitlines()[-1]  # after any of Lightning's log lines
    assert line.startswith(f"error: images/cifar10: no data at {tmp_path / 'data' / 'cifar10'}: put it there"), err
    assert line.endswith("(--set gives every config an option, --only leaves configs out)"), err
    # no traceback of jsonargparse's wrapping the line (Lightning's logging may report a stream another test closed)
    assert "compute_fn" not in err and err.count("no data at") == 1, err
    assert not (tmp_path / "feed.json").exists()


def test_ratio_keys_from_results():
    results = {
        "train": [{"preset": "small", "speedup": 2.5, "ours": {}, "reference": {}},
                  {"preset": "paper", "speedup": 1.5, "ours": {"roofline": {"fraction_of_peak": 0.6}},
                   "reference": {"roofline": {"fraction_of_peak": 0.3}}}],
        "sampling": [{"preset": p, "speedup_default": d, "speedup_best": b} for p, d, b in
                     (("small", 30.0, 40.0), ("paper", 50.0, 60.0))],
        "memory": {"sizes": [1024, 4096, 8192], "ours_mib": [4.0, 16.0, 32.0], "reference_sizes": [1024, 4096],
                   "reference_mib": [30.0, 480.0]},
    }
    assert bench_run.ratios(results) == {
        "train_small": 2.5, "train_paper": 1.5, "sampling_default_small": 30.0, "sampling_default_paper": 50.0,
        "sampling_best_small": 40.0, "sampling_best_paper": 60.0, "memory_4096": 30.0, "roofline_ours_paper": 0.6,
        "roofline_reference_paper": 0.3}


def test_gpu_path_runs_under_cpu_bf16_autocast(tmp_path):
    """--device cuda runs the contenders in bf16 autocast; the same code runs here with --precision bf16."""
    out = tmp_path / "bench.json"
    bench_run.main(["--smoke", "--precision", "bf16", "--only", "train", "sampling", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["device"] == {"device": "cpu", "precision": "bf16", "gpu": None}
    assert saved["train"][0]["device"]["precision"] == "bf16"
    assert saved["train"][0]["matmul_peak"]["dtype"] == "bfloat16"  # the peak of the precision the matmuls run at
    train, samp = saved["train"][0], saved["sampling"][0]
    assert train["speedup"] == pytest.approx(train["ours"]["queries_per_s"] / train["reference"]["queries_per_s"])
    # the run flushes subnormals (as training does) and also times ours with them kept
    assert saved["environment"]["flush_subnormals"] and train["flush_subnormals"]
    kept = train["ours_subnormals_kept"]
    assert kept["queries_per_s"] == pytest.approx(train["batch"] * train["num_queries"] / kept["median_s"])
    assert train["speedup_subnormals_kept"] == pytest.approx(kept["queries_per_s"] / train["reference"]["queries_per_s"])
    assert samp["speedup_buffered"] == pytest.approx(samp["reference"]["total_s"] / samp["ours_buffered"]["total_s"])


@pytest.mark.parametrize("device, batches", [("cpu", [("small", 8), ("paper", 2)]),
                                             ("cuda", [("small", 64), ("paper", 32)])])
def test_a_gpu_run_trains_at_batches_a_gpu_run_would_use(monkeypatch, device, batches):
    """The CPU's batches leave a GPU waiting on kernel launches: --device cuda trains at its own batch sizes."""
    from types import SimpleNamespace

    seen = []

    def training(preset, **kw):
        seen.append((preset, kw["batch"]))
        return {"preset": preset, "speedup": 1.0, "ours": {}, "reference": {}}

    monkeypatch.setattr(bench_run, "bench_training", training)
    fake = SimpleNamespace(name=device, describe=lambda: {"device": device, "precision": "bf16", "gpu": None})
    bench_run.run("full", ("train",), device=fake, log=lambda s: None)
    assert seen == batches


def test_fractions_of_the_peak_below_ten_percent_keep_two_digits():
    # a GPU step far from its matmul peak (0.2 %) printed as 0 % said nothing, and 3.4 % against 3.7 % as 3 % and 4 %
    assert [percent_text(x) for x in (0.0019, 0.0094, 0.013, 0.034, 0.1, 0.7, 0.0)] == \
        ["0.19%", "0.94%", "1.3%", "3.4%", "10%", "70%", "0%"]


def test_default_encoder_is_the_module_and_config_default():
    import yaml

    from benchmarks.common import DEFAULT_ENCODER
    from pixeltransformer.config import NetConfig

    assert NetConfig().encoder == DEFAULT_ENCODER
    # 1D functions: the buffered split cost NLL at equal steps, and their sampling is cheap (docs/design.md)
    measured_otherwise = {"polynomial": "bidirectional"}
    for domain in ("images", "polynomial", "sdf", "video"):
        cfg = yaml.safe_load(open(bench_run.REPO / "configs" / f"{domain}.yaml"))
        assert cfg["model"]["net"]["encoder"] == measured_otherwise.get(domain, DEFAULT_ENCODER), domain


def test_device_errors_are_one_line():
    from benchmarks.common import Device

    with pytest.raises(ValueError, match="must be cpu or cuda"):
        Device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU is visible"):
            Device("cuda")


def test_cli_rejects_bad_threads():
    with pytest.raises(SystemExit):
        bench_run.main(["--smoke", "--threads", "0"])


def test_extrapolation_is_exact_for_a_quadratic_cost():
    sizes = [16, 300, 700, 1039]
    cost = [1e-3 + 2e-6 * n + 3e-9 * n * n for n in sizes]
    total = extrapolate_total(fit_step_cost(sizes, cost), 16, 1024)
    n = np.arange(16, 16 + 1024)
    assert total == pytest.approx(float((1e-3 + 2e-6 * n + 3e-9 * n * n).sum()), rel=1e-6)


def test_interleaved_runs_every_contender_each_round_and_pairs_ratios():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert len(times["a"]) == len(times["b"]) == 3 and calls.count("a") == calls.count("b") == 4
    assert calls[2:] == ["a", "b", "b", "a", "a", "b"]  # the order rotates every round
    calls.clear()
    interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=1, warmup=0, start=1)
    assert calls == ["b", "a"]  # a caller running one round per call continues the rotation
    assert paired_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0
    # self-timed contenders report their own seconds: after_warmup times only the part after the warm-up
    order = []
    own = interleaved({"a": lambda: after_warmup(lambda: (order.append("warm"), time.sleep(0.05)),
                                                 lambda: order.append("timed"))}, rounds=2, warmup=0, self_timed=True)
    assert order == ["warm", "timed"] * 2 and all(t < 0.04 for t in own["a"])


def test_roofline_counts_fused_and_unfused_attention_by_one_rule():
    """Our step's fused attention and the reference's unfused one (bmm, softmax, bmm) are counted alike: QK^T and
    PV forward, twice that backward. torch's formula for the fused backward also counted the scores it recomputes
    (3.5x the forward in all), which raised our roofline fraction against the reference's."""
    import torch.nn.functional as F

    from benchmarks.roofline import count_flops

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 8, 16, generator=gen, requires_grad=True) for _ in range(3))  # [B, H, N, Dh]

    def fused() -> None:
        F.scaled_dot_product_attention(q, k, v).sum().backward()

    def unfused() -> None:
        (torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v).sum().backward()

    forward = 2 * (2 * 2 * 4 * 8 * 8 * 16)  # QK^T and PV, 2 m n k each over the B H heads
    assert count_flops(fused) == count_flops(unfused) == 3 * forward



def test_roofline_leaves_out_the_zero_channels_of_padded_attention_heads():
    """Our distance attentions pad each head: keys carry P + 2 position channels and zeros up to a multiple of 8,
    values zeros to the keys' width. The zeros are machine work, not model work: counted, they raised our fraction
    alone (the reference's heads are not padded)."""
    import torch.nn.functional as F

    from benchmarks.common import image_spec, ours_model
    from benchmarks.roofline import count_flops, padding_of

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 8, 24, generator=gen, requires_grad=True) for _ in range(3))  # [B, H, N, 24]

    def fused() -> None:
        F.scaled_dot_product_attention(q, k, v).sum().backward()

    one_product = 2 * 2 * 3 * 8 * 8  # 2 m n per channel over the B H heads
    assert count_flops(fused) == 3 * one_product * (24 + 24)
    assert count_flops(fused, {24: (20, 16)}) == 3 * one_product * (20 + 16)  # QK^T over 20 channels, PV over 16
    assert count_flops(fused, {32: (28, 24)}) == count_flops(fused)  # another width: counted in full

    model, _ = ours_model(image_spec(size=8), "tiny")
    widths = padding_of(model)
    heads = [m for m in model.modules() if getattr(m, "distance", False)]
    assert heads and widths == {heads[0].key_dim: (heads[0].head_dim + 2 + 2, heads[0].head_dim)}  # P = 2
    assert heads[0].key_dim % 8 == 0 and heads[0].key_dim > heads[0].head_dim + 4

def test_sampling_rotates_its_contenders_every_round(monkeypatch):
    """The sampling benchmark runs one round per interleaved() call; each round's order must still rotate (it ran
    buffered before incremental, and every probe in one order, in every round)."""
    from benchmarks import sampling

    orders = []

    def recording(fns, rounds, *args, **kwargs):
        order = []
        orders.append(order)
        return interleaved({n: (lambda n=n, f=f: (order.append(n), f())[1]) for n, f in fns.items()}, rounds,
                           *args, **kwargs)

    monkeypatch.setattr(sampling, "interleaved", recording)
    sampling.bench_sampling("tiny", num_samples=2, image_size=4, num_context=4, full_rounds=2, probe_rounds=2,
                            points=2, probe_steps=1)
    full, probes = [o for o in orders if "buffered" in o], [o for o in orders if "buffered" not in o]
    assert full == [["buffered", "incremental"], ["incremental", "buffered"]]
    assert len(probes) == 2 and probes[1] == probes[0][1:] + probes[0][:1]


def test_reference_trains_and_samples_one_signal_at_a_time():
    spec = image_spec(size=8, num_bins=6)
    net, dist = reference_model(spec, "tiny")
    images = torch.rand(4, 3, 8, 8)
    item = PerItemSetDataset(images, 5, 7)[0]
    assert item["ctx_pos"].shape == (5, 2) and item["qry_val"].shape == (7, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = next(iter(reference_loader(images, 2, 5, 7)))
    before = [p.detach().clone() for p in net.parameters()]
    loss = reference_train_step(net, dist, opt, batch)
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    net.eval()
    vals = reference_sample(net, dist, torch.rand(3, 1, 2), torch.rand(3, 1, 3), torch.rand(5, 1, 2), steps=4)
    assert vals.shape == (4, 1, 3) and torch.isfinite(vals).all()


def test_reference_loss_finds_the_nearest_centre():
    centres = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    from benchmarks.reference import ReferenceDistribution

    dist = ReferenceDistribution(centres)
    v = torch.tensor([[[0.9, 0.8, 0.7]], [[0.1, 0.9, 0.2]]])  # [N, B, V]
    assert dist.nearest(v).flatten().tolist() == [1, 2]
    params = torch.zeros(2, 1, 3 * 5)
    # uniform bins, zero offsets and log-variances: class term log 3, Gaussian term alpha |v - c|^2
    expected = torch.log(torch.tensor(3.0)) + 0.1 * ((v - centres[[1, 2]].unsqueeze(1)) ** 2).sum(-1, keepdim=True)
    assert torch.allclose(dist.nll(params, v), expected, atol=1e-6)


def test_compile_flag_compiles_the_entry_points_training_uses(monkeypatch):
    # training_step reaches the network through features (bins) or forward (one Gaussian): both must be compiled,
    # and the roofline keeps the eager step's FLOPs
    compiled = []

    def record(fn, *args, **kwargs):
        compiled.append(fn.__name__)
        return fn

    monkeypatch.setattr(torch, "compile", record)
    from benchmarks.train import bench_training

    out = bench_training("tiny", batch=2, num_context=8, num_queries=16, rounds=1, image_size=8, compile=True,
                         peak_n=64)
    assert sorted(compiled) == ["features", "forward"]
    assert out["compile"] and out["ours"]["roofline"]["flops_per_step"] > 0


def test_a_check_never_writes_over_the_full_record():
    assert bench_run.default_out("full").name == "bench.json"
    assert {bench_run.default_out(m).name for m in ("quick", "smoke")} == {"bench-quick.json", "bench-smoke.json"}
    assert len({bench_run.default_out(m).parent for m in ("full", "quick", "smoke")}) == 1


def test_the_record_goes_to_bench_results_in_the_working_folder(tmp_path, monkeypatch):
    """`python -m benchmarks.run` run from another folder than the clone wrote the clone's bench-results/, not the
    bench-results/ its help names (a path read from the working folder, as --out's and runs/ are); missing folders
    of --out are made, as predict's --out makes them."""
    real_run = bench_run.run
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "run", lambda mode, only, presets, *a, **k: real_run("smoke", ("meanfield",),
                                                                                         ("tiny",), *a, **k))
    assert bench_run.default_out("quick") == bench_run.Path("bench-results/bench-quick.json")
    bench_run.main(["--smoke", "--only", "meanfield"])
    assert (tmp_path / "bench-results" / "bench-smoke.json").is_file()
    bench_run.main(["--smoke", "--only", "meanfield", "--out", "new/folder/x.json"])
    assert (tmp_path / "new" / "folder" / "x.json").is_file()


def test_a_gpu_run_never_writes_over_the_cpu_record():
    """`make bench ARGS="--device cuda"` wrote bench-results/bench.json, the CPU run's record, over it."""
    names = {(mode, partial, device): bench_run.default_out(mode, partial, device).name
             for mode in ("full", "quick", "smoke") for partial in (False, True) for device in ("cpu", "cuda")}
    assert names[("full", False, "cpu")] == "bench.json"  # the CPU's names are as they were
    assert names[("full", True, "cpu")] == "bench-partial.json"
    assert names[("quick", False, "cpu")] == "bench-quick.json"
    assert names[("full", False, "cuda")] == "bench-cuda.json"
    assert names[("full", True, "cuda")] == "bench-cuda-partial.json"
    assert names[("quick", False, "cuda")] == "bench-cuda-quick.json"
    assert names[("smoke", True, "cuda")] == "bench-cuda-smoke.json"
    cpu = {name for (_, _, device), name in names.items() if device == "cpu"}
    cuda = {name for (_, _, device), name in names.items() if device == "cuda"}
    assert not cpu & cuda
    assert len({bench_run.default_out(m, p, d).parent for (m, p, d) in names}) == 1


def test_a_run_in_another_precision_never_writes_over_its_devices_record():
    """`python -m benchmarks.run --precision bf16` on the CPU wrote bench-results/bench.json over the fp32 record."""
    out = bench_run.default_out
    assert out("full", False, "cpu", "fp32").name == "bench.json"  # a device's default precision: the plain name
    assert out("full", False, "cuda", "bf16").name == "bench-cuda.json"
    assert out("full", False, "cpu", "bf16").name == "bench-bf16.json"
    assert out("quick", False, "cpu", "bf16").name == "bench-bf16-quick.json"
    assert out("full", True, "cuda", "fp32").name == "bench-cuda-fp32-partial.json"
    names = [out(m, p, d, x).name for m in ("full", "quick", "smoke") for p in (False, True)
             for d in ("cpu", "cuda") for x in (None, "fp32", "bf16")]
    assert len(set(names)) == 4 * 2 * 2  # full, partial, quick, smoke × two devices × two precisions (None: default)


def test_main_names_the_record_by_its_device(tmp_path, monkeypatch):
    """main() passes --device to the default name (the run itself stands in on the CPU: no GPU here)."""
    real_run, real_device = bench_run.run, bench_run.Device
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "Device", lambda name, precision: real_device("cpu", precision))
    monkeypatch.setattr(bench_run, "run", lambda mode, only, presets, *a, **k: real_run("smoke", ("meanfield",),
                                                                                         ("tiny",), *a, **k))
    (tmp_path / "bench-results").mkdir()
    (tmp_path / "bench-results" / "bench.json").write_text('{"the CPU run": 1}\n')
    bench_run.main(["--device", "cuda"])
    assert sorted(p.name for p in (tmp_path / "bench-results").iterdir()) == ["bench-cuda.json", "bench.json"]
    assert (tmp_path / "bench-results" / "bench.json").read_text() == '{"the CPU run": 1}\n'  # kept


@pytest.mark.parametrize("args, written", [(["--only", "meanfield"], "bench-partial.json"),
                                           (["--presets", "paper"], "bench-partial.json"),
                                           (["--only", *bench_run.BENCHES[::-1], "--presets", "paper", "small"],
                                            "bench.json")])
def test_a_run_of_fewer_benchmarks_never_writes_over_the_full_record(tmp_path, monkeypatch, args, written):
    """`python -m benchmarks.run --only train` (as benchmarks/README.md runs it) wrote bench-results/bench.json over
    the last full run, which `make results ARGS="--bench bench-results/bench.json"` then published."""
    real_run = bench_run.run
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench_run, "run", lambda mode, only, presets, *a, **k: real_run("smoke", ("meanfield",),
                                                                                         ("tiny",), *a, **k))
    bench_run.main(args)
    assert sorted(p.name for p in (tmp_path / "bench-results").iterdir()) == [written]


@pytest.mark.parametrize("args, cause", [
    (["--presets", "huge"], "unknown preset 'huge'; choose from base, paper, small, tiny"),
    (["--presets", "small,paper"], "unknown preset 'small,paper'"),
    (["--compile", "--only", "sampling"], "--compile compiles our model in the training benchmark"),
    (["--only", "memory", "--presets", "paper"], "the memory benchmark runs at its own preset (small; tiny with"),
    (["--out", "{tmp}/folder"], "is a folder; name the JSON file to write"),
    (["--out", "{tmp}/bench.png"], "the picture is written beside the record with .png"),
    (["--out", "{blocked}/bench.json"], "a_file is a file, not a folder"),
    (["--out", "{tmp}/README.md"], "the record is JSON, written over any file of that name: name a "
                                                 ".json file"),
    # a place no one can make a file in, root included (whom os.access lets write anywhere)
    (["--out", "/sys/bench.json"], "--out /sys/bench.json: /sys cannot be written (no file can be made there); "
                                   "name another --out"),
    (["--out", "/proc/bench/bench.json"], "--out /proc/bench/bench.json: /proc cannot be written (no file can be "
                                          "made there); name another --out"),
])
def test_a_bad_preset_or_output_is_refused_in_one_line_before_the_run(tmp_path, blocked, capsys, monkeypatch, args,
                                                                       cause):
    """An unknown preset was a traceback once the run reached it; --compile without the training benchmark was
    ignored, and --presets with --only memory (which runs at its own preset); an --out that could not take the
    record (a folder, a file's subfolder, a folder no file can be made in) was a traceback after every benchmark
    had run, and a folder's name with .png beside it (someone's picture) was deleted; --out x.png had the picture
    written over the JSON, and --out README.md the record over the README."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.png").write_bytes(b"someone's picture")
    monkeypatch.setattr(bench_run, "run", lambda *a, **k: pytest.fail("the run started"))
    with pytest.raises(SystemExit) as refused:
        bench_run.main(["--smoke", *[a.format(tmp=tmp_path, blocked=blocked) for a in args]])
    assert refused.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("python -m benchmarks.run: error: ") and cause in err, err
    assert (tmp_path / "folder.png").read_bytes() == b"someone's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == [blocked.name, "folder", "folder.png"]


def test_a_record_names_the_command_that_made_it(tmp_path):
    """`make results --bench` published every record as `make bench` (or `ARGS=--quick`, `--device cuda`): a record
    of `--only meanfield --presets small` (any options that choose what it measures) read as the full set, and
    was published over the full record. A name given twice ran, and was tabled, twice."""
    from pixeltransformer.results_bench import bench_provenance, check_bench
    from pixeltransformer.results_folders import ResultsError

    out = tmp_path / "bench.json"
    bench_run.main(["--smoke", "--only", "meanfield", "meanfield", "--presets", "tiny", "tiny", "--threads", "1",
                    "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["args"] == ["--smoke", "--only", "meanfield", "--presets", "tiny"]
    assert [r["preset"] for r in saved["meanfield"]] == ["tiny"]
    assert saved["partial"] is True
    with pytest.raises(ResultsError, match=r"a run of fewer benchmarks or other presets than `make bench` "
                                           r"runs \(ARGS=\"--smoke --only meanfield --presets tiny\"\); the "
                                           r"results page publishes full runs"):
        check_bench(saved | {"mode": "full"}, out)
    check_bench(saved, out, any_mode=True)
    assert bench_provenance(saved, None)["command"] == 'make bench ARGS="--smoke --only meanfield --presets tiny"'
    # records made before they kept their options: the mode and device, as before
    del saved["args"]
    assert bench_provenance(saved, None)["command"] == "make bench ARGS=--smoke"
    assert bench_provenance(saved, {"command": "python -m benchmarks.run --smoke"})["command"] == \
        "python -m benchmarks.run --smoke"  # run.json's word wins


@pytest.mark.parametrize("args, cause", [(["--batches", "0"], "--batches must be >= 1, got 0"),
                                         (["--threads", "0"], "--threads must be >= 1, got 0"),
                                         (["--tflops", "0"], "--tflops must be > 0, got 0.0"),
                                         (["--json", "{tmp}"], "a folder; name the JSON file to write"),
                                         (["--json", "{blocked}/feed.json"], "a_file is a file"),
                                         # the reason files.cannot_write gives (it differs for root and others)
                                         (["--json", "/sys/feed.json"], "--json /sys/feed.json: /sys cannot be "
                                                                        "written ({why}); name another --json")])
def test_feed_refuses_bad_options_before_it_builds_anything(tmp_path, blocked, capsys, monkeypatch, args, cause):
    """`python -m benchmarks.feed --batches 0` failed once its first config was built and timed ("no median for
    empty data"), and a --json that is a folder, or in a folder no file can be made in, after every config had been
    timed, the records lost. An unwritable folder is named with the reason, as the runs' own check words it."""
    from benchmarks import feed
    from pixeltransformer.files import cannot_write

    monkeypatch.setattr(feed, "measure", lambda *a, **k: pytest.fail("a config was measured"))
    with pytest.raises(SystemExit) as refused:
        feed.main(["--only", "polynomial", *[a.format(tmp=tmp_path, blocked=blocked) for a in args]])
    assert refused.value.code == 2
    assert cause.format(why=cannot_write(Path("/sys"))) in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("args, cause", [(["--device", "mps"], "argument --device: invalid choice: 'mps'"),
                                         (["--device", "cuda"], "--device cuda: no GPU is visible to torch"),
                                         (["--only", "train,sampling"], "invalid choice: 'train,sampling'"),
                                         (["--threads", "0"], "--threads must be >= 1, got 0")])
def test_the_bench_commands_refuse_an_option_in_one_line(capsys, args, cause):
    """argparse printed its usage block (seven lines) before the error: `make bench ARGS="--device mps"` was eight."""
    if args[:2] == ["--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(SystemExit) as refused:
        bench_run.main(args)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m benchmarks.run: error: ") and cause in err, err
    with pytest.raises(SystemExit):
        bench_figure.main([])  # the picture's command alike
    assert capsys.readouterr().err == "python -m benchmarks.figure: error: the following arguments are required: record\n"


def test_the_other_plain_commands_refuse_an_option_in_one_line(capsys):
    """`make classifier DATA=foo` and `make results ARGS=--nope` printed argparse's usage block before the error."""
    from domains.images.baselines import pretrained
    from domains.polynomial import diagnose
    from pixeltransformer import results

    for command, args, prog in ((pretrained.main, ["--data", "foo"], "python -m domains.images.baselines.pretrained"),
                                (results.main, ["--nope"], "python -m pixeltransformer.results"),
                                (diagnose.main, ["--nope"], "python -m domains.polynomial.diagnose")):
        with pytest.raises(SystemExit) as refused:
            command(args)
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err


def test_the_table_says_which_way_its_ratios_read(tmp_path, capsys):
    """`make bench`'s ratio column held 1.39x beside queries/s, 22.2x beside seconds and 50.4x beside MiB, with no
    word of which way each reads; docs/results.md writes the memory ratio "× less". The table says so too, and gives
    no ratio of two memory figures that round to 0 MiB (a smoke run's 0.0x). Ours above the reference's reads
    "x more" (not "0.4x less")."""
    out = tmp_path / "bench.json"
    bench_run.main(["--smoke", "--only", "memory", "--out", str(out)])
    capsys.readouterr()
    results = json.loads(out.read_text())
    memory = results["memory"]
    at = memory["sizes"].index(memory["reference_sizes"][-1])

    def memory_row(reference: float, ours: float) -> str:
        memory["reference_mib"][-1], memory["ours_mib"][at] = reference, ours
        table = bench_run.table(results)
        assert RATIO_NOTE in table  # the note the results page gives
        return next(line for line in table.splitlines() if line.startswith("peak memory")).rstrip()

    assert memory_row(517.0, 10.25).split()[-5:] == ["tiny", "517", "10", "50.4x", "less"]
    assert memory_row(10.0, 25.0).split()[-5:] == ["tiny", "10", "25", "2.5x", "more"]  # not 0.4x less
    assert memory_row(0.2, 0.1).split()[-3:] == ["tiny", "0", "0"]  # no ratio of two figures shown as 0


def test_the_table_footer_names_the_command_and_the_load_at_both_ends(tmp_path, capsys):
    """The table's footer gave the load average at the start only, unlabelled, and no command: a quick run whose load
    rose from 1.2 to 4.7 as other work started read as a quiet one, and its table could not be rerun from what it
    printed. It says both loads, as the record and the results page do, and the command that made it."""
    out = tmp_path / "bench.json"
    bench_run.main(["--smoke", "--only", "memory", "--out", str(out)])
    capsys.readouterr()
    results = json.loads(out.read_text())
    env = results["environment"]
    env["load_average"], env["load_average_end"] = [1.22, 1.0, 1.04], [4.75, 2, 1.38]
    footer = bench_run.table(results).splitlines()[-1]
    assert "load average 1.22 / 1.00 / 1.04 at the start, 4.75 / 2.00 / 1.38 at the end" in footer, footer
    assert 'command: make bench ARGS="--smoke --only memory"' in footer, footer


def options_help(capsys) -> str:
    """`make bench`'s --help, its options' part (not the usage line) as one line of words."""
    with pytest.raises(SystemExit):
        bench_run.main(["--help"])
    out = capsys.readouterr().out
    return " ".join(out[out.index("options:"):].split())


def test_help_says_what_each_benchmark_measures_and_names_the_presets(capsys):
    """`--help` said only "benchmarks to run" for --only (not what train, sampling, memory and meanfield measure, nor
    that all run by default) and named no preset for --presets (a wrong name was the first place to learn them)."""
    text = options_help(capsys)
    only = text[text.index("--only {"):text.index("--presets PRESETS [PRESETS ...]")]
    assert f"default: all {len(bench_run.BENCHES)}" in only
    for name, meaning in (("train", "training throughput"), ("sampling", "autoregressive sampling time"),
                          ("memory", "peak memory"), ("meanfield", "mean-field")):
        assert f"{name}:" in only and meaning in only, (name, only)
    presets = text[text.index("--presets PRESETS [PRESETS ...]"):text.index("--threads THREADS")]
    assert ", ".join(known_presets()) in presets, presets


def test_the_picture_title_says_the_load_the_run_had(tmp_path):
    """The picture's title gave the machine and the date but not the load: a quick run whose load rose from 1.2 to
    4.7 drew as a quiet one wherever the picture went without its table. The title says both loads; a record without
    them draws as before."""
    record = {"mode": "quick", "environment": {"cpu": "AMD EPYC", "torch_threads": 1, "torch": "2.13.0+cpu",
                                               "date": "2026-12-07T05:08:07", "load_average": [1.22, 1.0, 1.04],
                                               "load_average_end": [4.75, 2.0, 1.38]}}
    assert bench_figure.title(record).endswith("2026-12-07, load average 1.22 at the start, 4.75 at the end")
    assert bench_figure.title({}).endswith("undated")


def test_help_gives_the_quick_mode_its_measured_time(capsys):
    """`--quick` was "seconds"; it takes about a minute on a 2-core CPU (51-52 s, load 1 and 7: its memory probes
    start fresh processes), so a user waiting on it took a normal run for a hung one."""
    text = options_help(capsys)
    quick = text[text.index("--quick "):text.index("--smoke ")]
    assert "about a minute" in quick and "seconds" not in quick, quick


def test_feed_and_picture_cut_off_half_way_leave_the_files_before(tmp_path, monkeypatch, cut_off):
    """`python -m benchmarks.feed --json F` and `python -m benchmarks.figure` wrote in place: a kill or a full disk
    in the middle of the write left half a record or half a picture over the one before. Each is now whole, the old
    one or the new."""
    from benchmarks import feed

    row = {"batch_size": 2, "sent_dtype": "uint8", "h2d_bytes": 1, "flops_mean": 1.0, "ops_per_step": 1,
           **{k: 1.0 for k in ("loader_w0_ms", "items_ms", "collate_ms", "loader_w2_ms", "to_float_ms",
                               "module_cpu_ms", "gpu_step_ms", "ratio_w0", "ratio_w2")}}
    monkeypatch.setattr(feed, "build_all", lambda cases, *a: {case: (None, None) for case in cases})
    monkeypatch.setattr(feed, "measure", lambda case, *a: {"case": case, **row})
    record, picture = tmp_path / "feed.json", tmp_path / "bench.png"
    record.write_text("the records before")
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"train": [{"preset": "tiny", "batch": 2, "num_context": 8, "num_queries": 16,
                                            "speedup": 1.5, "ours": {"queries_per_s": 3.0},
                                            "reference": {"queries_per_s": 2.0}}]}))
    bench_figure.main([str(bench)])
    before = picture.read_bytes()
    cut_off()
    with pytest.raises(OSError, match="No space left on device"):
        feed.main(["--only", "polynomial", "--json", str(record)])
    with pytest.raises(OSError, match="No space left on device"):
        bench_figure.main([str(bench)])
    assert record.read_text() == "the records before" and picture.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.png", "feed.json"]  # no half file
