"""Which versions of PixelTransformer, torch and Lightning a command runs with and wrote a checkpoint or an
evaluation: ``pixeltransformer --version``, one place for the project's version, and the record of each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import pixeltransformer
from pixeltransformer import versions

REPO = Path(__file__).resolve().parents[2]
RUNNING = (f"pixeltransformer {pixeltransformer.__version__} (torch {versions()['torch']}, lightning "
           f"{versions()['lightning']})")


def test_pyproject_reads_the_version_from_the_package_without_importing_it():
    """pyproject.toml wrote the version a second time (version = "0.1.0" beside __init__.py's __version__): a release
    that changed one left the other. setuptools reads it from the package (statically: no torch to build a wheel)."""
    import tomllib

    from setuptools.config.expand import read_attr

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "pixeltransformer.__version__"
    assert read_attr(attr, project["tool"]["setuptools"]["package-dir"], REPO) == pixeltransformer.__version__
    assert versions()["version"] == pixeltransformer.__version__


def test_version_option_prints_the_versions_before_lightning_is_imported():
    """``pixeltransformer --version`` said "unrecognized arguments" (exit status 2) once Lightning had loaded."""
    probe = ("import runpy, sys\nsys.argv = ['pixeltransformer', '--version']\ntry:\n"
             "    runpy.run_module('pixeltransformer', run_name='__main__')\nexcept SystemExit as end:\n"
             "    print(end.code, 'lightning' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"})
    assert done.stdout.splitlines() == [RUNNING, "0 False"], done.stderr


def test_version_is_a_main_option_of_the_cli(capsys):
    """The command (show_version, before Lightning) and main() of Python take --version as the main parser's own
    option, before a command, as the checks before Lightning do (preflight.MAIN_OPTIONS)."""
    from pixeltransformer.cli import main
    from pixeltransformer.preflight import check_subcommand
    from pixeltransformer.version import show_version

    check_subcommand(["--version", "fit"])  # not "--version is given before the command fit"
    show_version(["fit", "--version"])  # a command's option: the command's parser names it
    for run in (lambda: show_version(["-c", "x.yaml", "--version"]), lambda: main(["--version"])):
        with pytest.raises(SystemExit) as end:
            run()
        assert end.value.code in (0, None) and capsys.readouterr().out == RUNNING + "\n"


def test_version_is_listed_in_the_help_and_is_no_option_of_a_command(capsys):
    """--version is the main parser's (``pixeltransformer --help`` lists it); after a command it is that command's
    unknown option, refused as any other."""
    from argparse import ArgumentError

    from pixeltransformer.cli import main

    with pytest.raises(SystemExit) as end:
        main(["--help"])
    assert end.value.code in (0, None)
    shown = capsys.readouterr().out
    assert "--version" in shown and "[--version]" not in shown.split("\n\n")[0]  # listed, not in the usage line
    with pytest.raises(ArgumentError, match="unrecognized arguments: --version"):
        main(["fit", "--config", str(REPO / "configs" / "polynomial.yaml"), "--version"], exit_on_error=False)


def test_a_checkpoint_records_the_versions_that_wrote_it(tiny_module):
    checkpoint: dict = {}
    tiny_module.on_save_checkpoint(checkpoint)
    assert checkpoint["pixeltransformer"] == versions() and set(versions()) == {"version", "torch", "lightning"}


def test_an_evaluation_records_the_versions_in_metrics_json(tmp_path, tiny_module):
    from pixeltransformer.evaluation import SweepEvaluation

    sweep = SweepEvaluation(levels=(2,), out_dir=str(tmp_path))
    sweep._values, sweep.evaluated, sweep._dir = {(2, "nll"): {0: 1.0}}, {0}, tmp_path  # as on_test_start sets
    trainer = SimpleNamespace(is_global_zero=True, fast_dev_run=True, received_sigterm=False, ckpt_path=None,
                              world_size=1, precision="32-true", loggers=[])
    sweep.on_test_end(trainer, tiny_module)  # a fast_dev_run: the results, not written
    assert sweep.results["versions"] == versions()


def test_results_page_shows_the_versions_of_an_evaluation_on_a_line(tmp_path):
    from pixeltransformer import results_page

    folder = tmp_path / "metrics" / "digits"
    folder.mkdir(parents=True)
    recorded = {"version": "0.2.0", "torch": "2.6.0", "lightning": "2.6.1"}
    (folder / "metrics.json").write_text(json.dumps({"domain": "images", "dataset": "digits", "versions": recorded,
                                                     "rows": [{"num_context": 4, "nll": 1.0}]}))
    (folder / "run.json").write_text(json.dumps({"title": "Digits", "command": "make eval", "machine": "CPU",
                                                 "date": "2026-01-02"}))
    lines = results_page.render(tmp_path / "metrics", tmp_path / "figures", tmp_path).splitlines()
    assert "- Versions: pixeltransformer 0.2.0 (torch 2.6.0, lightning 2.6.1)" in lines
    assert not [line for line in lines if line.startswith("- `versions`")]


def test_refusals_of_a_checkpoint_of_another_version_name_the_version_that_wrote_it(tmp_path, poly_spec):
    """The one-line refusals of a checkpoint from another version (options this version does not take, weights of
    another shape) could not say which version wrote it; a checkpoint without the record (an earlier version's)
    still loads and is refused as before."""
    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.loading import CheckpointError, load_module
    from pixeltransformer.module import PixelTransformerModule
    from tests.cli.checkpoints import untrained_checkpoint

    wrote = f"written by pixeltransformer 0.2.0; this is {pixeltransformer.__version__}"
    ckpt = untrained_checkpoint(poly_spec.to_dict())
    torch.save(ckpt, tmp_path / "earlier.ckpt")  # no "pixeltransformer" entry: loads
    load_module(tmp_path / "earlier.ckpt")
    ckpt["pixeltransformer"] = {"version": "0.2.0", "torch": "2.6.0", "lightning": "2.6.1"}
    ckpt["hyper_parameters"]["net"]["future_knob"] = 3
    torch.save(ckpt, tmp_path / "newer.ckpt")
    with pytest.raises(CheckpointError) as refused:
        load_module(tmp_path / "newer.ckpt")
    assert str(refused.value) == (
        f"{tmp_path / 'newer.ckpt'}: its hyper_parameters hold model.net.future_knob, which this version does not "
        f"take: the checkpoint comes from another version of PixelTransformer ({wrote}), or was edited; use it with "
        "the version that wrote it, or retrain")
    del ckpt["hyper_parameters"]["net"]["future_knob"]
    hp = {**ckpt["hyper_parameters"], "net": {**ckpt["hyper_parameters"]["net"], "width": 32}}
    with pytest.raises(CheckpointError, match=rf"\[32, \d+\] in the model\): a checkpoint of another version "
                                              rf"\({wrote}\): use it with that version, or retrain$"):
        PixelTransformerModule(**hp).on_load_checkpoint({**ckpt, "hyper_parameters": hp})
