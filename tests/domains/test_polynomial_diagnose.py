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
