"""The Makefile's recipes, read with `make -n`: the domain a run's path names, DATA= and its overlays, the words a
path or JSON value reaches the command line as, `make clean`."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
    GPU recipe, the quick SDF and video evaluations, the 64^3 grid) is named as one, to be given with ARGS="--config
    ...". The list offered every file there."""
    options = {"polynomial": ["gp_tnp_paper"], "sdf": ["eval_quick", "procedural64"], "video": ["eval_quick"]}
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
    assert line.endswith("fit --resume 'runs/images/r' --trainer.max_steps=9") and "configs/" not in line
    # eval and sample without DOMAIN: the checkpoint's run folder names it, also for DATA
    line = make_dry_run("eval", "DATA=mnist", "CKPT=runs/images/r/checkpoints/last.ckpt")
    assert "test --config configs/images.yaml --config configs/images/mnist.yaml --ckpt_path" in line
    line = make_dry_run("sample", "CKPT=runs/images/r/checkpoints/last.ckpt", "INPUT=a.png")
    assert "predict --config configs/images.yaml --ckpt_path" in line
    # a DOMAIN given wins, and a path outside runs/<domain>/ names none
    assert "test --config configs/sdf.yaml " in make_dry_run("eval", "DOMAIN=sdf", "CKPT=runs/images/r/x.ckpt")
    assert "test --config configs/polynomial.yaml " in make_dry_run("eval", "CKPT=/tmp/x.ckpt")


def test_make_sample_says_data_is_not_used():
    """A prediction's model and bins are the checkpoint's, whatever the data config: `make sample DATA=cifar10` with
    an MNIST checkpoint predicted with the MNIST model without a word, and passed an overlay nothing read."""
    proc = make("sample", "DATA=cifar10", "CKPT=runs/images/r/checkpoints/last.ckpt", "INPUT=a.png")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "make sample: DATA=cifar10 is not used; a prediction's model and value bins are the checkpoint's (CKPT=)" \
        in lines
    assert "predict --config configs/images.yaml --ckpt_path" in lines[-1] and "cifar10" not in lines[-1]


@pytest.mark.parametrize("run", ["./runs/images/r", "/home/me/pixeltransformer/runs/images/r", "/scratch/mine/images/r",
                                 "runs/images/video"])
def test_make_reads_the_domain_from_a_run_folder_at_any_path(run):
    """<run_root>/<domain>/<run> names the domain whatever the run root (--run_root) and however the path is
    written: the second word of the path was read, so ./runs/... and absolute paths evaluated with the polynomial
    config and stopped on a domain mismatch."""
    line = make_dry_run("sample", f"CKPT={run}/checkpoints/last.ckpt", "INPUT=a.png")
    assert "predict --config configs/images.yaml " in line
    assert "test --config configs/images.yaml " in make_dry_run("eval", f"CKPT={run}/checkpoints/best-step000200.ckpt")
    proc = make("train", f"RESUME={run}/", "DATA=nope")  # the domain named in the error is the run's
    assert proc.returncode == 2 and "unknown DATA=nope for DOMAIN=images;" in proc.stderr, proc.stderr


@pytest.mark.parametrize("venv", [".venv", "./.venv", ".venv/", "{tmp}/.venv"])
def test_make_clean_removes_every_cache_folder_but_keeps_the_venv_and_runs(tmp_path, venv):
    """`make clean` removes __pycache__ folders at any depth (bash reads `**` as `*`: it removed only those one
    level down) and leaves the virtualenv, however VENV spells it (`./.venv`, an absolute path), and the run folders
    alone."""
    (tmp_path / "Makefile").write_text((REPO / "Makefile").read_text())
    made = ["src/pkg/__pycache__", "tests/unit/__pycache__", "top/__pycache__", ".venv/lib/pkg/__pycache__"]
    for folder in made:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "m.cpython-312.pyc").write_bytes(b"\0")
    (tmp_path / "runs" / "images" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "images" / "r" / "config.yaml").write_text("# a run\n")
    # a run and a data folder that happen to be named __pycache__: only Python's *.pyc files go (they went whole)
    kept = [tmp_path / "runs" / "images" / "__pycache__" / "checkpoints" / "last.ckpt",
            tmp_path / "data" / "mine" / "__pycache__" / "cat.png",
            tmp_path / "data" / "mine" / "__pycache__" / "code" / "their.pyc"]  # not Python's: not directly in it
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\0")
    proc = subprocess.run(["make", "-s", "--no-print-directory", f"VENV={venv.format(tmp=tmp_path)}", "clean"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("__pycache__"))
    assert left == [".venv/lib/pkg/__pycache__", "data/mine/__pycache__", "runs/images/__pycache__"]
    assert (tmp_path / "runs" / "images" / "r" / "config.yaml").is_file()
    assert all(path.is_file() for path in kept)


def test_make_passes_each_path_and_json_as_one_word():
    """CKPT=, RESUME=, INPUT=, CONTEXT= and OUT= reach the command line as one word each, whatever their spaces and
    quotes: OUT="my out" was split (the CLI then refused an unknown argument "out"), and a ' in CONTEXT= or a " in
    INPUT= ended the shell's quote (bash: unexpected EOF while looking for matching `'')."""
    values = {"CKPT": "runs/sdf/my run/checkpoints/last.ckpt", "INPUT": "it's a \"chair\".obj",
              "CONTEXT": "[[0.1, 0.2, 0.3, 0.05]]", "OUT": "my out"}
    words = shlex.split(make_dry_run("sample", "DOMAIN=sdf", *(f"{k}={v}" for k, v in values.items())))
    for option, name in (("--ckpt_path", "CKPT"), ("--input", "INPUT"), ("--context", "CONTEXT"), ("--out", "OUT")):
        assert words[words.index(option) + 1] == values[name], words
    assert words[-2:] == ["--out", "my out"]  # nothing left over
    words = shlex.split(make_dry_run("sample", "DOMAIN=sdf", "CKPT=a.ckpt", "CONTEXT=/data/it's.json"))
    assert words[words.index("--context") + 1] == "/data/it's.json"
    words = shlex.split(make_dry_run("eval", "DOMAIN=sdf", "CKPT=/runs/a b/last.ckpt"))
    assert words[-2:] == ["--ckpt_path", "/runs/a b/last.ckpt"]
    words = shlex.split(make_dry_run("train", "RESUME=/runs/images/it's"))
    assert words[-2:] == ["--resume", "/runs/images/it's"]
    # a leading ~/ stays outside the quotes, for the shell to make it the home folder (quoted, it was a folder "~")
    line = make_dry_run("sample", "DOMAIN=sdf", "CKPT=~/my runs/last.ckpt", "INPUT=~/chair.obj", "OUT=a~/b")
    assert "--ckpt_path ~/'my runs/last.ckpt' --input ~/'chair.obj'" in line and "--out 'a~/b'" in line
    # without DOMAIN=, a run folder with a space still names its domain (it read as polynomial, the default)
    assert "predict --config configs/images.yaml " in make_dry_run("sample", "CKPT=runs/images/my run/checkpoints/"
                                                                   "last.ckpt", "INPUT=a.png")


@pytest.mark.parametrize("domain", ["sdf ", " sdf", "sdf/"])
def test_make_takes_a_domain_with_a_stray_space_or_slash(domain):
    """DOMAIN="sdf " passed the check (configs/sdf .yaml matched the folder configs/sdf) and the CLI stopped on
    `Path is not a file: configs/sdf`; DOMAIN=sdf/ (a tab-completed folder) was unknown."""
    assert "fit --config configs/sdf.yaml --config configs/sdf/shapenet.yaml" in make_dry_run(
        "train", f"DOMAIN={domain}", "DATA=shapenet ")


def test_make_refuses_two_domains():
    proc = make("train", "DOMAIN=sdf video")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "*** unknown DOMAIN=sdf video; choose one of: images polynomial sdf video.  Stop."), proc.stderr


def test_make_refuses_an_unknown_wandb_mode():
    """W&B reads a WANDB_MODE it does not know as offline: `make train WANDB=onlin` trained and logged nothing online,
    exit 0. Sampling never logs, so it takes any."""
    for goal in ("train", "eval"):
        proc = make(goal, "WANDB=onlin", "CKPT=runs/images/r/checkpoints/last.ckpt")
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1].endswith(
            "*** unknown WANDB=onlin; choose one of: offline (the default) online disabled.  Stop."), proc.stderr
    for mode in ("offline", "online", "disabled"):
        assert make_dry_run("train", f"WANDB={mode}").startswith(f"WANDB_MODE={mode} ")
    assert make_dry_run("sample", "WANDB=onlin", "CKPT=a.ckpt", "INPUT=a.png").startswith("WANDB_MODE=disabled ")


def test_make_train_says_data_is_not_used_by_a_resume():
    """`make train RESUME=runs/images/r DATA=cifar10` resumed the run on its own data and dropped DATA= without a
    word; it now says so, as `make sample` does."""
    proc = make("train", "RESUME=runs/images/r", "DATA=cifar10")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert ("make train: DATA=cifar10 is not used; a resume continues the run with its own config.yaml and data "
            "(RESUME=)") in lines
    assert lines[-1].endswith("fit --resume 'runs/images/r'")
    assert "not used" not in make("train", "DOMAIN=images", "DATA=cifar10").stdout


def test_make_results_passes_runs_with_spaces_as_one_argument():
    """`make results RUNS="/data/my runs/images/x"` ran `--run /data/my --run runs/images/x`; RUNS= now reaches the
    command as one argument, whatever its spaces and quotes, which pixeltransformer.results splits."""
    for runs in ("/data/my runs/images/x", "'/data/my runs/images/x' runs/images/y", "runs/images/it's"):
        words = shlex.split(make_dry_run("results", f"RUNS={runs}"))
        assert words[words.index("--runs") + 1:] == [runs], words
    assert "--run" not in make_dry_run("results")


def test_make_help_says_what_the_classifier_trains_on_without_data():
    """`make classifier` without DATA passes no --data: the script trains on digits, which the help names as the
    default among the datasets the script takes (its help listed mnist|cifar10|cats, as if DATA were required)."""
    from domains.images.baselines.pretrained import DATASET_OF

    assert "--data" not in make_dry_run("classifier")
    line = next(line for line in make("help", dry=False).stdout.splitlines() if line.startswith("  make classifier"))
    assert "[DATA=digits (the default)|mnist|cifar10|cats]" in line
    assert set(line.split("[DATA=")[1].split("]")[0].replace(" (the default)", "").split("|")) == set(DATASET_OF)


def fake_venv(folder: Path, with_package: bool, path: Path | None = None) -> Path:
    """A virtualenv of the user's own: its bin/python runs this Python, and (``with_package`` False) without
    site-packages or PYTHONPATH, where pixeltransformer is not found; ``path``: with that folder as its only
    PYTHONPATH (another checkout's src)."""
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    flags = "" if with_package else "-S " if path else "-I -S "
    env = f"PYTHONPATH={shlex.quote(str(path))} " if path else ""
    python.write_text(f"#!/bin/sh\n{env}exec {shlex.quote(sys.executable)} {flags}\"$@\"\n")
    python.chmod(0o755)
    return folder


@pytest.mark.parametrize("goal", ["train", "test-unit", "bench"])
def test_make_uses_a_venv_of_your_own_as_it_is(tmp_path, goal):
    """`make train VENV=<your virtualenv>` ran pip in it without being asked: pip upgraded, torch replaced by the
    pinned one, the project installed in editable mode from this checkout. It is used as it is; where its Python
    has no pixeltransformer, one line names `make install VENV=...`, which installs into it when asked. The
    project's own .venv is still made and kept up to date by the first target that needs it."""
    def dry(*variables: str) -> subprocess.CompletedProcess:  # -W: as after a change of pyproject.toml
        return subprocess.run(["make", "-n", "-s", "--no-print-directory", "-W", "pyproject.toml", *variables],
                              cwd=REPO, capture_output=True, text=True, timeout=60)

    mine = fake_venv(tmp_path / "mine", with_package=True)
    proc = dry(goal, f"VENV={mine}")
    assert proc.returncode == 0 and "pip" not in proc.stdout and "venv" not in proc.stdout.replace(str(mine), ""), \
        proc.stdout + proc.stderr
    empty = fake_venv(tmp_path / "empty", with_package=False)
    proc = dry(goal, f"VENV={empty}")
    assert proc.returncode == 2 and "pip" not in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        f"*** VENV={empty} has no pixeltransformer: install the project into it with make install VENV={empty}, "
        "or give another VENV.  Stop."), proc.stderr
    assert "-m pip install" in dry("install", f"VENV={empty}").stdout  # asked for
    assert "-m pip install" in dry("install", goal, f"VENV={empty}").stdout  # asked for, before the goal
    proc = dry(goal, f"VENV={tmp_path / 'typo'}")  # no Python there: not told to install into a mistyped folder
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].endswith(
        f"*** VENV={tmp_path / 'typo'} has no bin/python: give a virtualenv's folder, or create one with make install "
        f"VENV={tmp_path / 'typo'}.  Stop."), proc.stderr
    other = tmp_path / "other" / "src" / "pixeltransformer"  # another clone's package: its core, this clone's domains
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    theirs = fake_venv(tmp_path / "theirs", with_package=False, path=other.parent)
    proc = dry(goal, f"VENV={theirs}")
    assert proc.returncode == 2 and "pip" not in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        f"*** VENV={theirs} runs the pixeltransformer of {tmp_path.resolve() / 'other'}, not this checkout's: install "
        f"this one into it with make install VENV={theirs}, or give another VENV.  Stop."), proc.stderr
    assert "-m pip install" in dry(goal, "VENV=.venv").stdout  # the project's own
