"""The gap-by-distance diagnostic: its groups partition the queries and add up to the overall gap."""

import dataclasses

import pytest

from domains.polynomial.diagnose import format_table, gap_by_distance
from polynomial_memory import set_memory


@pytest.fixture
def fake_loading(monkeypatch):
    """Stand-ins for pixeltransformer.loading's readers, which main imports when it runs: use(build, read) makes
    load_module(path) return build(path), and load_checkpoint(path) read(path) (an empty checkpoint unless given)."""
    import pixeltransformer.loading

    def use(build, read=lambda path: {}):
        monkeypatch.setattr(pixeltransformer.loading, "load_checkpoint", read)
        monkeypatch.setattr(pixeltransformer.loading, "load_module", lambda path, ckpt=None: build(path))

    return use


def test_groups_partition_the_queries_and_add_up_to_the_gap(tiny_module):
    out = gap_by_distance(tiny_module, num_context=5, num_functions=16, num_queries=20, seed=1)
    shares = [g["share"] for g in out["groups"]]
    assert abs(sum(shares) - 1) < 1e-9
    assert abs(sum(g["share"] * g["gap"] for g in out["groups"]) - out["gap"]) < 1e-6
    # the oracle is nearly exact next to an observed point and far less so away from them
    near, far = out["groups"][0], out["groups"][-1]
    assert near["oracle_sigma"] < far["oracle_sigma"]
    assert "|S| = 5" in format_table(out)


def test_rejects_other_datasets_and_too_many_points(tiny_module):
    with pytest.raises(ValueError, match="exceeds the 64 grid points"):
        gap_by_distance(tiny_module, num_context=10, num_queries=60)
    with pytest.raises(ValueError, match="must be >= 1, got -3"):
        gap_by_distance(tiny_module, num_context=-3)
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        gap_by_distance(tiny_module, num_context=4, num_functions=0, num_queries=10)
    spec = tiny_module.spec
    tiny_module.spec = dataclasses.replace(spec, dataset="file")
    with pytest.raises(ValueError, match="known prior .* not polynomial/file .curves from a file have no exact oracle"):
        gap_by_distance(tiny_module, num_context=4)
    tiny_module.spec = dataclasses.replace(spec, domain="images", dataset="digits")
    with pytest.raises(ValueError, match="not images/digits"):
        gap_by_distance(tiny_module, num_context=4)


@pytest.mark.parametrize("dataset, period", [("gp_matern", None), ("gp_periodic", 1.0)])
def test_gp_draws_are_diagnosed_against_their_kernels_exact_oracle(dataset, period):
    """A gp_rbf / gp_matern checkpoint has an exact oracle (the evaluation scores it): the breakdown draws functions
    from its own kernel and grid ([-2, 2]) instead of refusing it as "not a polynomial checkpoint". gp_periodic ones
    were refused as having no known prior, though their exact oracle takes the period."""
    import math

    import torch

    from domains.polynomial.data import PolynomialDataModule
    from domains.polynomial.metrics import prior_oracle
    from pixeltransformer.module import PixelTransformerModule

    spec = PolynomialDataModule(dataset=dataset, resolution=128, val_range=(-3, 3)).spec
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                    sets=dict(min_context=3, max_context=10, num_queries=8, grid_points=True)).eval()
    out = gap_by_distance(module, num_context=6, num_functions=16, num_queries=30, seed=2)
    assert abs(sum(g["share"] for g in out["groups"]) - 1) < 1e-9
    assert abs(sum(g["share"] * g["gap"] for g in out["groups"]) - out["gap"]) < 1e-6
    near, far = out["groups"][0], out["groups"][-1]
    assert near["oracle_sigma"] < far["oracle_sigma"]
    assert (out["num_functions"], out["num_queries"]) == (16, 30)
    assert spec.extra.get("period") == period
    # the oracle is the kernel's: told its own draw's values, it predicts them to the nugget
    x = torch.linspace(-2, 2, 128, dtype=torch.float64)[None, ::4]  # [1, 32]
    y = torch.sin(x if period is None else 2 * math.pi * x / period)  # [1, 32], of period 1 for the periodic kernel
    mean, var = prior_oracle(spec, x, y, x)  # [1, 32] each
    assert torch.allclose(mean, y, atol=1e-4) and float(var.max()) < 1e-6


def test_each_table_names_its_checkpoint_and_what_was_scored(tiny_module, tmp_path, fake_loading, capsys):
    """Two checkpoints' tables were printed one after the other with nothing saying which was which."""
    from domains.polynomial.diagnose import main

    fake_loading(lambda path: tiny_module)
    a, b = str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt")
    main([a, b, "--levels", "5", "--functions", "8", "--queries", "20"])
    out = capsys.readouterr().out
    assert out.index(a) < out.index("|S| = 5") < out.index(b) < out.rindex("|S| = 5")
    assert "nats per query (8 functions x 20 queries)" in out and "d to nearest (x)" in out
    main([a, "--levels", "5", "--functions", "8", "--queries", "20", "--json"])
    assert '"checkpoint": "' + a + '"' in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--levels", "4", "-3"], "--levels must be >= 1, got -3"),
    (["--levels", "0"], "--levels must be >= 1, got 0"),
    (["--functions", "0"], "--functions must be >= 1, got 0"),
    (["--queries", "-1"], "--queries must be >= 1, got -1"),
    (["--batches", "0"], "--batches must be >= 1, got 0"),
    (["--figure", "gap.txt"], "--figure gap.txt: the figure is a PNG; give a path ending in .png"),
    (["--figure", "{file}/gap.png"], "--figure {file}/gap.png: {file} is a file, not a folder"),
])
def test_bad_counts_and_figure_paths_are_refused_before_a_checkpoint_is_scored(tmp_path, capsys, fake_loading, args,
                                                                                message):
    """A negative --levels printed a table for "|S| = -3" (S sliced from the end), --functions 0 and a --figure
    that could not be written ended in tracebacks, the latter after every checkpoint had been scored."""
    from domains.polynomial.diagnose import main

    def never(path):
        raise AssertionError("a checkpoint was read")

    fake_loading(never, read=never)
    file = tmp_path / "notes.txt"
    file.write_text("x")
    args = [a.replace("{file}", str(file)) for a in args]
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "a.ckpt"), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: " + message.replace("{file}", str(file))


def test_gp_breakdown_draws_the_benchmark_batches_and_adds_up():
    """The GP benchmark breakdown: its overall gap is the evaluation's on the same test batches (split seed and
    per-batch sizes), and each grouping's shares and gaps add up to it."""
    import torch

    from domains.polynomial.data import PolynomialDataModule
    from domains.polynomial.diagnose import format_gp_tables, gp_gap_breakdown
    from domains.polynomial.evaluation import protocol_lls
    from domains.polynomial.protocol import evaluation_sizes, point_set_layout
    from pixeltransformer.module import PixelTransformerModule

    dm = PolynomialDataModule(dataset="gp_tnp_rbf", val_range=(-3, 3), test_size=64, seed=7)  # not the default
    torch.manual_seed(0)
    module = PixelTransformerModule(spec=dm.spec, net=dict(width=32, ffn=64)).eval()
    out = gp_gap_breakdown(module, num_batches=4, data_seed=7)
    for key in ("by_distance", "by_context"):
        groups = out[key]
        assert abs(sum(g["share"] for g in groups) - 1) < 1e-9
        assert abs(sum(g["share"] * g["gap"] for g in groups) - out["gap"]) < 1e-9
        assert abs(sum(g["share"] * g["bayes_gap"] for g in groups) - out["bayes_gap"]) < 1e-9
    # the same numbers the benchmark's evaluation computes on its first four test batches
    test = dm.build_split("test")
    gaps = []
    for number in range(4):
        items = [test[i] for i in range(16 * number, 16 * number + 16)]
        pos, val = point_set_layout(torch.stack([it["signal"] for it in items]))  # [16, 49, 1] each
        nc, nt = evaluation_sizes(0, number, 50)
        scores = protocol_lls(module, pos[:, :nc], val[:, :nc], pos[:, nc : nc + nt], val[:, nc : nc + nt],
                              torch.stack([it["lengthscale"] for it in items]), torch.stack([it["scale"] for it in items]))
        gaps.append([(scores[k] - scores["ll"]).mean().item() for k in ("oracle_ll", "bayes_ll")])
    assert abs(out["gap"] - sum(g[0] for g in gaps) / 4) < 1e-9
    assert abs(out["bayes_gap"] - sum(g[1] for g in gaps) / 4) < 1e-9
    assert out["gap"] > 0.5  # an untrained model is far from the oracle
    # a target next to a context point is predicted far better by the oracle than one lengthscales away
    near, far = out["by_distance"][0], out["by_distance"][-1]
    assert near["oracle_sigma"] < far["oracle_sigma"]
    assert "Nc" in format_gp_tables(out) and "d / lengthscale" in format_gp_tables(out)


def test_gp_breakdown_rejects_other_checkpoints(tiny_module):
    from domains.polynomial.diagnose import gp_gap_breakdown

    with pytest.raises(ValueError, match="gp_tnp"):
        gp_gap_breakdown(tiny_module)


def test_the_breakdown_reads_the_data_seed_of_the_run(tmp_path, capsys):
    from domains.polynomial.diagnose import run_data_seed

    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  class_path: domains.polynomial.data.PolynomialDataModule\n"
                                     "  init_args:\n    dataset: gp_tnp_rbf\n    seed: 7\n")
    assert run_data_seed(str(run / "checkpoints" / "last.ckpt")) == 7
    (run / "config.yaml").write_text("data:\n  init_args:\n    dataset: gp_tnp_rbf\n")
    assert run_data_seed(str(run / "checkpoints" / "last.ckpt")) == 0
    assert run_data_seed(str(tmp_path / "loose.ckpt")) == 0 and "data seed 0" in capsys.readouterr().err


def test_diagnose_reads_checkpoints_safely_with_one_line_errors(tmp_path, capsys):
    from domains.polynomial.diagnose import main

    (tmp_path / "empty.ckpt").write_bytes(b"")
    for name, message in (("empty.ckpt", "the file is empty"), ("nope.ckpt", "checkpoint not found")):
        with pytest.raises(SystemExit) as exc:
            main([str(tmp_path / name)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err


def test_the_diagnosis_command_loads_the_domain_its_checkpoints_name():
    """`python -m domains.polynomial.diagnose` rebuilds a checkpoint's module, which finds its Domain by name: the
    command's own imports register it (a fresh interpreter, since this test process has imported every domain)."""
    import subprocess
    import sys
    from pathlib import Path

    code = "import domains.polynomial.diagnose; from pixeltransformer.domain import Domain; print(sorted(Domain.registry))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert "'polynomial'" in out


def test_a_checkpoint_of_another_kind_is_refused_before_any_is_scored(tiny_module, tmp_path, monkeypatch,
                                                                       fake_loading, capsys):
    """An images checkpoint given after a polynomial one was found only after the first had been scored, and only
    once its module was built (with a warning that no images Domain was loaded); options that do not apply to a
    checkpoint's kind (--batches for a polynomial one, --levels for gp_tnp_*) were ignored without a word."""
    from domains.polynomial import diagnose

    a, b = str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt")
    images = {"hyper_parameters": {"spec": {"domain": "images", "dataset": "digits"}}}
    fake_loading(lambda path: tiny_module, read=lambda path: images if path == b else {})
    scored = []
    monkeypatch.setattr(diagnose, "gap_by_distance", lambda *args: scored.append(args))
    with pytest.raises(SystemExit) as exc:
        diagnose.main([a, b, "--levels", "5", "--queries", "10"])
    assert exc.value.code == 2 and not scored
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"error: {b}: a checkpoint of images/digits; the diagnosis reads models of 1D "
                                    f"functions (polynomial, gp_rbf, gp_matern, gp_periodic, "
                                    f"gp_tnp_rbf, gp_tnp_matern)")
    assert captured.out == ""
    monkeypatch.undo()
    fake_loading(lambda path: tiny_module)
    diagnose.main([a, "--levels", "5", "--functions", "4", "--queries", "10", "--batches", "3"])
    captured = capsys.readouterr()
    assert f"{a}: a polynomial checkpoint; --batches does not apply to it" in captured.err
    assert "|S| = 5" in captured.out
    # a level beyond the grid is found before the others are scored, not after
    monkeypatch.setattr(diagnose, "gap_by_distance", lambda *args: scored.append(args))
    with pytest.raises(SystemExit):
        diagnose.main([a, "--levels", "4", "60", "--queries", "10"])
    assert not scored
    assert capsys.readouterr().err.strip() == ("error: |S| + queries = 70 exceeds the 64 grid points of the "
                                               "checkpoint's functions: give fewer --queries or lower --levels")


def test_the_figure_names_each_line_by_run_and_kernel(tmp_path, monkeypatch, fake_loading, capsys):
    """Runs are named by their start time, so two benchmark runs (RBF and Matern) in one figure were told apart by
    timestamps alone, and the figure's path was printed bare after the tables."""
    from domains.polynomial import diagnose

    class Spec:
        extra = {"protocol": "tnp", "kernel": "matern"}
        dataset = "gp_tnp_matern"

    class Module:
        spec = Spec()

    fake_loading(lambda path: Module())
    groups = [{"range": [0.0, None], "share": 1.0, "gap": 1.0, "bayes_gap": 0.9, "model_sigma": 0.5,
               "oracle_sigma": 0.1, "model_abs_error": 0.2, "oracle_abs_error": 0.1}]
    result = {"gap": 1.0, "bayes_gap": 0.9, "num_batches": 2, "kernel": "matern", "by_distance": groups,
              "by_context": groups, "curve": groups}
    monkeypatch.setattr(diagnose, "gp_gap_breakdown", lambda *args, **kwargs: result)
    drawn = {}

    def figure(curves, path, title):
        drawn.update(curves)
        return path

    monkeypatch.setattr(diagnose, "figure_gap_by_distance", figure)
    run = tmp_path / "20261205-011141" / "checkpoints"
    png = str(tmp_path / "gap.png")
    diagnose.main([str(run / "last.ckpt"), "--batches", "2", "--figure", png])
    assert list(drawn) == ["20261205-011141, matern"]
    assert capsys.readouterr().out.rstrip().endswith(f"wrote {png}")


def test_a_figure_folder_that_cannot_be_written_is_refused_before_a_checkpoint_is_read(tmp_path, capsys, monkeypatch):
    """--figure's folder was checked with os.access, which says yes where writing fails (root on a read-only mount,
    an ACL): the run scored every checkpoint and then failed to write the figure. The check now writes a file there,
    and leaves no folder it made behind."""
    import errno
    import tempfile

    from domains.polynomial.diagnose import main

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "TemporaryFile", read_only)
        png = str(tmp_path / "figures" / "gap.png")
        with pytest.raises(SystemExit) as exc:
            main([str(tmp_path / "missing.ckpt"), "--figure", png])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: --figure {png}: Read-only file system"
    with pytest.raises(SystemExit):  # writable: the checkpoint is read, and the folder made for the check removed
        main([str(tmp_path / "missing.ckpt"), "--figure", png])
    assert "checkpoint not found" in capsys.readouterr().err and not (tmp_path / "figures").exists()


def test_a_level_given_twice_is_scored_once(tiny_module, tmp_path, fake_loading, capsys):
    """--levels 5 5 scored the same functions twice and printed the same table twice."""
    from domains.polynomial.diagnose import main

    fake_loading(lambda path: tiny_module)
    main([str(tmp_path / "a.ckpt"), "--levels", "5", "6", "5", "--functions", "8", "--queries", "20"])
    out = capsys.readouterr().out
    assert out.count("|S| = 5:") == 1 and out.index("|S| = 5:") < out.index("|S| = 6:")


def test_levels_above_the_trained_largest_context_are_named_in_one_warning_line(tiny_module, tmp_path, fake_loading,
                                                                                capsys):
    """--levels 12 20 on a checkpoint trained on |S| up to 10 (model.sets.max_context) printed their tables without a
    word that they lie outside training; one line on stderr now names them and the trained maximum."""
    from domains.polynomial.diagnose import main

    fake_loading(lambda path: tiny_module)
    a = str(tmp_path / "a.ckpt")
    main([a, "--levels", "5", "12", "20", "--functions", "4", "--queries", "20"])
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if "trained on" in line]
    assert warned == [f"{a}: --levels 12 and 20 exceed the largest |S| it trained on, 10 (model.sets.max_context): "
                      "their numbers are outside training"]
    assert "|S| = 12:" in captured.out and "|S| = 20:" in captured.out
    main([a, "--levels", "5", "10", "--functions", "4", "--queries", "20"])
    assert "trained on" not in capsys.readouterr().err


def test_default_levels_above_training_are_named_as_the_defaults(poly_spec, tmp_path, fake_loading, capsys):
    """The default levels 4 5 6 on a checkpoint trained on |S| up to 5 were named "--levels 6", an option the user
    never gave; they are named as the default levels."""
    from domains.polynomial.diagnose import main
    from pixeltransformer.module import PixelTransformerModule

    module = PixelTransformerModule(spec=poly_spec, net=dict(width=32, ffn=64),
                                    sets=dict(min_context=3, max_context=5, num_queries=8, grid_points=True)).eval()
    fake_loading(lambda path: module)
    a = str(tmp_path / "a.ckpt")
    main([a, "--functions", "4", "--queries", "20"])
    warned = [line for line in capsys.readouterr().err.splitlines() if "trained on" in line]
    assert warned == [f"{a}: the default level 6 exceeds the largest |S| it trained on, 5 (model.sets.max_context): "
                      "its numbers are outside training"]


def test_a_refused_figure_shows_only_the_error_line(tiny_module, tmp_path, fake_loading, capsys):
    """--figure on a polynomial checkpoint with --levels above training printed the warning on its levels, then the
    refusal: a refused run shows only its error."""
    from domains.polynomial.diagnose import main

    fake_loading(lambda path: tiny_module)
    a = str(tmp_path / "a.ckpt")
    with pytest.raises(SystemExit):
        main([a, "--levels", "12", "--queries", "20", "--figure", str(tmp_path / "gap.png")])
    assert capsys.readouterr().err.strip() == (f"error: --figure draws the GP benchmark breakdown; {a} is a "
                                               "polynomial checkpoint")


def test_a_run_refused_for_its_second_checkpoint_shows_only_the_error_line(tiny_module, tmp_path, fake_loading,
                                                                             capsys):
    """diagnose a.ckpt b.ckpt --levels 12: a's warning that 12 lies above its training printed before b's refusal;
    the warnings wait until every checkpoint was checked, so a refused run shows only its error."""
    from domains.polynomial.diagnose import main

    a, b = str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt")
    other = {"hyper_parameters": {"spec": {"domain": "images", "dataset": "mnist"}}}
    fake_loading(lambda path: tiny_module, lambda path: other if path == b else {})
    with pytest.raises(SystemExit):
        main([a, b, "--levels", "12", "--queries", "20"])
    assert capsys.readouterr().err.strip() == (f"error: {b}: a checkpoint of images/mnist; the diagnosis reads "
                                               "models of 1D functions (polynomial, gp_rbf, gp_matern, gp_periodic, "
                                               "gp_tnp_rbf, gp_tnp_matern)")


def test_a_periodic_benchmark_checkpoint_is_refused_before_any_is_scored(tmp_path, monkeypatch, fake_loading,
                                                                          capsys):
    """diagnose rbf.ckpt periodic.ckpt scored the RBF checkpoint in full, then refused the periodic one (which has
    no Bayes predictor) without naming it: its tables were lost."""
    from domains.polynomial import diagnose

    def benchmark(kernel):
        class Spec:
            extra = {"protocol": "tnp", "kernel": kernel}
            dataset = f"gp_tnp_{kernel}"

        class Module:
            spec = Spec()

        return Module()

    a, b = str(tmp_path / "rbf.ckpt"), str(tmp_path / "periodic.ckpt")
    fake_loading(lambda path: benchmark("periodic" if path == b else "rbf"))

    def scored(*args, **kwargs):
        raise AssertionError("a checkpoint was scored before the periodic one was refused")

    monkeypatch.setattr(diagnose, "gp_gap_breakdown", scored)
    with pytest.raises(SystemExit) as exc:
        diagnose.main([a, b])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.strip().startswith(f"error: {b}: ") and "periodic" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    monkeypatch.undo()  # the breakdown itself, called from Python, refuses the periodic model in the same words
    with pytest.raises(ValueError, match=r"^the GP breakdown sets the gap to the oracle beside that to the Bayes "
                                         r"predictor, which the periodic kernel has none of; give a gp_tnp_rbf or "
                                         r"gp_tnp_matern checkpoint$"):
        diagnose.gp_gap_breakdown(benchmark("periodic"))


def refusal(capsys, *argv: str) -> str:
    """The one line the diagnosis of ``argv`` stops with (status 2)."""
    from domains.polynomial.diagnose import main

    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr().err.strip()


def test_a_grid_too_large_for_the_memory_names_what_the_diagnosis_takes(tmp_path, fake_loading, capsys, monkeypatch):
    """The diagnosis draws its functions on the checkpoint's own grid: where the GP's covariance did not fit, its
    line ended "at most --data.init_args.resolution N", an option the diagnosis does not take. It names the
    checkpoint's grid, which no option changes; a polynomial checkpoint's functions drawn at once, --functions."""
    import torch

    import domains.polynomial.data as data
    from pixeltransformer.module import PixelTransformerModule

    spec = data.PolynomialDataModule(dataset="gp_rbf", resolution=128, val_range=(-3, 3)).spec
    torch.manual_seed(0)
    gp = PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1),
                                sets=dict(min_context=3, max_context=10, num_queries=8, grid_points=True)).eval()
    set_memory(monkeypatch, 100_000)  # less than 128 points' covariance
    data.FACTORS.clear()  # the spec's factor: made again by the diagnosis
    fake_loading(lambda path: gp)
    err = refusal(capsys, str(tmp_path / "a.ckpt"), "--levels", "4", "--functions", "8", "--queries", "10")
    assert err.startswith("error: gp_rbf: the covariance of 128 points (the checkpoint's grid) and its Cholesky "
                          "factor, float64 [R, R] each, need at least "), err
    assert "--data.init_args" not in err and err.endswith("; no option changes the checkpoint's grid: run it where "
                                                          "more memory is free"), err


def test_polynomial_functions_too_many_for_the_memory_name_the_most_functions(tiny_module, tmp_path, fake_loading,
                                                                              capsys, monkeypatch):
    """A polynomial checkpoint's --functions are drawn at once on its grid: where they do not fit, the line names the
    most that do, not --data.init_args.resolution."""
    from domains.polynomial.diagnose import main

    set_memory(monkeypatch, 8 * 64 * (1 + 7 + 100))  # the grid, its 7 powers and 100 functions, float64
    fake_loading(lambda path: tiny_module)
    err = refusal(capsys, str(tmp_path / "a.ckpt"), "--levels", "4", "--functions", "512", "--queries", "10")
    assert err.startswith("error: polynomial: the grid of 64 points (the checkpoint's grid), its 7 powers and 512 "
                          "functions drawn on it at once (--functions), float64 [R] each, need at least "), err
    assert err.endswith("; at most --functions 100"), err
    main([str(tmp_path / "a.ckpt"), "--levels", "4", "--functions", "100", "--queries", "10"])
    assert "|S| = 4" in capsys.readouterr().out
