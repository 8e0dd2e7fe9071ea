"""Run folders on the command line: a resume's own config, and the domain `make` reads from a run's path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pixeltransformer.runs import check_config_order, with_run_config

REPO = Path(__file__).resolve().parents[2]


def test_a_resume_puts_the_run_s_config_first(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    argv = ["fit", "--resume", str(run), "--trainer.max_steps=9"]
    assert with_run_config(argv) == argv  # no config.yaml (yet): the command line as given
    (run / "config.yaml").write_text("seed_everything: 0\n")
    config = ["--config", str(run / "config.yaml")]
    assert with_run_config(argv) == ["fit", *config, "--resume", str(run), "--trainer.max_steps=9"]
    assert with_run_config(["fit", "--x=1", f"--resume={run}"]) == ["fit", *config, "--x=1", f"--resume={run}"]
    assert with_run_config(["test", "--resume", str(run)]) == ["test", "--resume", str(run)]  # fit only
    assert with_run_config(["fit", "--config", "c.yaml"]) == ["fit", "--config", "c.yaml"]


def test_an_overlay_given_before_its_domain_config_is_named():
    """configs/images/mnist.yaml alone, or before configs/images.yaml: one line naming the order, not the parser's
    "Option 'dataset' is not accepted"."""
    overlay, base = REPO / "configs/images/mnist.yaml", REPO / "configs/images.yaml"
    gpu = REPO / "configs/trainer/gpu.yaml"
    for argv in (["fit", "--config", str(overlay)], ["fit", f"--config={overlay}", "--config", str(base)],
                 ["test", "-c", str(overlay), "-c", str(base)],
                 ["fit", "--config", str(gpu), "--config", str(overlay)]):  # a config before it, but not the domain's
        with pytest.raises(ValueError, match=rf"^{overlay} is an overlay of {base}: give --config {base} before it$"):
            check_config_order(argv)
    for argv in (["fit", "--config", str(base), "--config", str(overlay)],  # the documented order
                 ["fit", "--config", str(REPO / "configs/model/paper.yaml"), "--config", str(base)],  # not a dataset
                 ["fit", "--resume", "runs/images/r", "--config", str(overlay)],  # the run's config.yaml comes first
                 ["fit", "--config", str(base), "--config", str(gpu), "--config", str(overlay)],
                 ["fit"]):
        check_config_order(argv)


def make(*variables: str, dry: bool = True) -> subprocess.CompletedProcess:
    """`make` (with -n: what it would run), without installing or running anything."""
    venv = Path(sys.prefix)
    return subprocess.run(["make", *(["-n"] if dry else []), "-s", "--no-print-directory", f"VENV={venv}", "-o",
                           f"{venv}/.installed", *variables], cwd=REPO, capture_output=True, text=True, timeout=60)


def make_dry_run(*variables: str) -> str:
    """The command `make` would run (make -n), without installing or running anything."""
    proc = make(*variables)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def dataset_overlays(domain: str) -> list[str]:
    """The files of configs/<domain>/ that name a dataset (data.init_args.dataset), read as YAML."""
    import yaml

    return sorted(p.stem for p in (REPO / "configs" / domain).glob("*.yaml")
                  if ((yaml.safe_load(p.read_text()).get("data") or {}).get("init_args") or {}).get("dataset"))


def test_make_offers_only_dataset_overlays_as_data():
    """DATA= lists and takes the overlays that name a dataset; an option file of the same folder (the GP benchmark's
    GPU recipe, the quick SDF evaluation, the 64^3 grid) is named as one, to be given with ARGS="--config ...". The
    list offered every file there."""
    options = {"polynomial": ["gp_tnp_paper"], "sdf": ["eval_quick", "procedural64"]}
    for domain in ("images", "polynomial", "sdf", "video"):
        datasets = dataset_overlays(domain)
        assert datasets and not set(datasets) & set(options.get(domain, []))
        proc = make("train", f"DOMAIN={domain}", "DATA=nope")
        assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
            f"*** unknown DATA=nope for DOMAIN={domain}; choose one of: {' '.join(datasets)}.  Stop."), proc.stderr
        for name in datasets:  # each one runs as before
            assert f"--config configs/{domain}/{name}.yaml" in make_dry_run("train", f"DOMAIN={domain}", f"DATA={name}")
        for name in options.get(domain, []):
            for goal in ("train", "eval", "sample"):
                proc = make(goal, f"DOMAIN={domain}", f"DATA={name}", "CKPT=x.ckpt", "INPUT=x.png")
                assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
                    f"*** configs/{domain}/{name}.yaml is an option file, not a dataset: give it as ARGS=\"--config "
                    f"configs/{domain}/{name}.yaml\" (DATA= is one of: {' '.join(datasets)}).  Stop."), proc.stderr
    assert "shapenet_paper" in dataset_overlays("sdf")  # the paper-size recipe names its data: README's DATA=shapenet_paper
    listed = make("help", dry=False).stdout.splitlines()
    for domain in ("images", "polynomial", "sdf", "video"):
        assert f"  {domain}: {' '.join(dataset_overlays(domain))}" in listed


def test_make_reads_the_domain_from_a_run_path_and_resumes_with_the_run_s_config():
    # a resume passes no domain config: the run's own config.yaml comes first (with_run_config)
    line = make_dry_run("train", "RESUME=runs/images/r", "ARGS=--trainer.max_steps=9")
    assert line.endswith("fit --resume runs/images/r --trainer.max_steps=9") and "configs/" not in line
    # eval and sample without DOMAIN: the checkpoint's run folder names it, also for DATA
    line = make_dry_run("eval", "DATA=mnist", "CKPT=runs/images/r/checkpoints/last.ckpt")
    assert "test --config configs/images.yaml --config configs/images/mnist.yaml --ckpt_path" in line
    line = make_dry_run("sample", "DATA=mnist", "CKPT=runs/images/r/checkpoints/last.ckpt", "INPUT=a.png")
    assert "predict --config configs/images.yaml --config configs/images/mnist.yaml" in line
    # a DOMAIN given wins, and a path outside runs/<domain>/ names none
    assert "test --config configs/sdf.yaml " in make_dry_run("eval", "DOMAIN=sdf", "CKPT=runs/images/r/x.ckpt")
    assert "test --config configs/polynomial.yaml " in make_dry_run("eval", "CKPT=/tmp/x.ckpt")
