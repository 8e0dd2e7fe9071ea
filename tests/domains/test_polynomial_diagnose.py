"""The gap-by-distance diagnostic: its groups partition the queries and add up to the overall gap."""

import dataclasses

import pytest

from domains.polynomial.diagnose import format_table, gap_by_distance


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
    tiny_module.spec = dataclasses.replace(tiny_module.spec, dataset="gp_rbf")
    with pytest.raises(ValueError, match="polynomial checkpoint"):
        gap_by_distance(tiny_module, num_context=4)


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
