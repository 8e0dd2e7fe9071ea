"""pyproject.toml's lower bounds: each is at or below the installed version (the one the tests run on), and the
floors of torch, Lightning, jsonargparse, libigl and tqdm are at least the releases that brought what the code calls.

Old wheels cannot be installed to run the code on them, so the APIs below are listed by hand with where each date
comes from; an API the code starts to use that is newer than its package's floor belongs here, with its release."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# package -> {what the code uses: (the first release that has it, where that date comes from)}
NEEDED = {
    "torch": {
        "torch.is_autocast_enabled(device_type) (model.py, kernels.py)":
            ("2.4", "huggingface/transformers#43509: 'introduced in PyTorch 2.4 ... On torch 2.2 and 2.3, calling "
                    "this function with an argument raises a TypeError'"),
        "torch.get_autocast_dtype(device_type) (stepping.py)":
            ("2.4", "pytorch/pytorch#124479 'refactor autocast python APIs' (April 2024), the series that made the "
                    "autocast queries take a device type, is_autocast_enabled(device_type) among them"),
        "torch.optim.AdamW(fused=True) with CPU parameters (module.py)":
            ("2.4", "pytorch/pytorch#123074 '[optim] add fused_adam/adamw_kernel support for CPU device', April "
                    "2024, after 2.3's branch cut; fused=True took CUDA tensors only before"),
        "torch.amp.GradScaler('cpu') (tests/unit/test_precision.py, tests/cli/test_divergence.py)":
            ("2.4", "pytorch/pytorch#126527 (May 2024) deprecates torch.cpu.amp.GradScaler for it, so 2.4 has it "
                    "(an upper bound on its date)"),
        "torch.nn.attention.sdpa_kernel (benchmarks/common.py, --device cuda)":
            ("2.3", "pytorch.org/docs/2.3 deprecates torch.backends.cuda.sdp_kernel for it (as cited in "
                    "lucidrains/MEGABYTE-pytorch#18: 'not available in Torch versions < 2.3')"),
    },
    "lightning": {
        "ModelSummary.summarize(..., total_flops) (console.ParamSummary overrides it)":
            ("2.6.0", "Lightning-AI/pytorch-lightning tag 2.6.0, src/lightning/pytorch/callbacks/model_summary.py: "
                      "2.5.x calls summarize() without total_flops, a TypeError for the override"),
        "LightningCLI(parser_class=) (cli.main)":
            ("2.5.1", "Lightning-AI/pytorch-lightning#20596, first in tag 2.5.1"),
    },
    "jsonargparse": {
        "LightningCLI itself: RequirementCache('jsonargparse[signatures]>=4.27.7')":
            ("4.27.7", "Lightning-AI/pytorch-lightning tag 2.6.0, src/lightning/pytorch/cli.py"),
    },
    "libigl": {
        "igl.signed_distance(P, V, F, sign_type, lower_bound, upper_bound), igl.fast_winding_number(V, F, Q) "
        "(domains/sdf/mesh.py)":
            ("2.6.0", "libigl/libigl-python-bindings: the nanobind bindings, version 2.6.0 in pyproject.toml "
                      "(May 2025); 2.5.x's signed_distance(p, v, f, sign_type, return_normals) has no bounds and "
                      "its fast winding number is fast_winding_number_for_meshes"),
    },
    "tqdm": {
        "tqdm(..., delay=) (loopbar.loop_progress: a bar only for loops that last)":
            ("4.58.0", "tqdm's release notes, v4.58.0: 'add start delay in seconds (#836 <- #1069, #704)'"),
    },
}


def declared_floors() -> dict[str, Version]:
    """The ``>=`` floor of each entry of [project] dependencies, by package name."""
    block = re.search(r"^dependencies = \[(.*?)^\]", PYPROJECT.read_text(), re.S | re.M)
    assert block, "pyproject.toml has no [project] dependencies list"
    floors = {}
    for entry in re.findall(r'"([^"]+)"', block.group(1)):
        req = Requirement(entry)
        low = [Version(s.version) for s in req.specifier if s.operator == ">="]
        if low:
            floors[req.name.lower()] = max(low)
    return floors


def test_every_floor_is_at_or_below_the_installed_version():
    """A floor above what the tests ran on would claim a release the project was never tested with."""
    floors = declared_floors()
    assert {"torch", "lightning", "jsonargparse", "libigl", "tqdm"} <= floors.keys()
    above = {name: f"floor {low}, installed {version(name)}" for name, low in floors.items()
             if Version(Version(version(name)).base_version) < low}
    assert not above


@pytest.mark.parametrize("package", sorted(NEEDED))
def test_the_floor_has_what_the_code_calls(package):
    """pip may install any release the floor allows: one without an API the code calls fails deep in a run."""
    floor = declared_floors()[package]
    older = {api: f"{first} ({source})" for api, (first, source) in NEEDED[package].items() if Version(first) > floor}
    assert not older, f"pyproject.toml says {package}>={floor}, but the code needs: {older}"


def test_every_package_the_code_imports_is_declared():
    """A package imported by the code but reached only through another dependency breaks an install the day that
    dependency stops bringing it. Every top-level import of src/, domains/ and benchmarks/ outside the standard
    library and the project is a [project] dependency."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    repo = PYPROJECT.parent
    ours = {"pixeltransformer", "domains", "benchmarks"}
    imported: dict[str, str] = {}  # top-level module -> a file importing it
    for folder in ("src", "domains", "benchmarks"):
        for path in sorted((repo / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    imported.setdefault(name.split(".")[0], str(path.relative_to(repo)))
    third_party = {m: f for m, f in imported.items() if m not in sys.stdlib_module_names and m not in ours}
    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    block = re.search(r"^dependencies = \[(.*?)^\]", PYPROJECT.read_text(), re.S | re.M).group(1)
    declared = {canonical(Requirement(entry).name) for entry in re.findall(r'"([^"]+)"', block)}
    distributions = packages_distributions()
    missing = {m: f for m, f in third_party.items()
               if not {canonical(d) for d in distributions.get(m, [m])} & declared}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"
