"""The project installed from a wheel (pip install pixeltransformer-*.whl), not run from a clone: pixeltransformer/ and
domains/ side by side in site-packages, the shipped configs in pixeltransformer/configs/, no repository around them."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path

import pytest

from pixeltransformer import datamodule, errors, launch, layout, preflight, runs

REPO = Path(__file__).resolve().parents[2]


def wheel_tree(root: Path) -> Path:
    """An installed wheel's layout below ``root``: its core package folder."""
    package = root / "site-packages" / "pixeltransformer"
    (package / "configs").mkdir(parents=True)
    (root / "site-packages" / "domains").mkdir()
    return package


def test_a_clone_and_an_installed_wheel_find_their_own_folders(tmp_path):
    assert layout.checkout(REPO / "src" / "pixeltransformer") == REPO
    assert layout.checkout(wheel_tree(tmp_path)) is None  # no repository: the configs shipped in the package
    assert layout.CHECKOUT == REPO and layout.CONFIGS == REPO / "configs"  # these tests run from the clone
    assert layout.PROJECT_CODE == (REPO / "src" / "pixeltransformer", REPO / "domains")


def test_a_package_installed_into_a_src_folder_beside_configs_reads_its_own_configs(tmp_path):
    """A package installed into a folder named src (pip install --target src .) beside a configs/ was taken for a
    clone's src/pixeltransformer: it read that configs/ and domains/, not the configs shipped in the package."""
    (tmp_path / "work" / "configs").mkdir(parents=True)
    target = wheel_tree(tmp_path).parent.rename(tmp_path / "work" / "src")  # site-packages/ as work/src/
    assert layout.checkout(target / "pixeltransformer") is None


def test_where_the_project_lives_is_read_without_a_library():
    """errors reads layout at every start-up (python -m pixeltransformer checks a command line before Lightning is
    imported): layout imports the standard library alone, as errors does."""
    import ast

    tree = ast.parse((REPO / "src" / "pixeltransformer" / "layout.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported - {"__future__"} <= sys.stdlib_module_names


def test_an_installed_package_reads_data_from_the_working_folder(tmp_path, monkeypatch):
    """data/ beside the repository in a clone; installed, data/ in the folder the command runs in, as runs/ is (it
    was site-packages' parent folder, inside the Python environment)."""
    monkeypatch.delenv(datamodule.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert datamodule.data_dir() == REPO / "data"
    monkeypatch.setattr(datamodule, "CHECKOUT", None, raising=False)
    assert datamodule.data_dir() == tmp_path / "data"
    monkeypatch.setenv(datamodule.DATA_ENV, str(tmp_path / "elsewhere"))
    assert datamodule.data_dir() == tmp_path / "elsewhere"


def test_a_command_without_a_config_names_one_where_no_configs_are_shipped(tmp_path, monkeypatch):
    """A package without configs/ (built without its package data) ended in an IndexError's traceback."""
    monkeypatch.setattr(preflight, "CONFIGS", tmp_path / "configs")
    with pytest.raises(ValueError, match=r"^fit needs a config that names the data and the model's domain: give "
                                         r"--config <the path of a domain's config>$"):
        preflight.check_config_given(["fit", "--trainer.max_steps", "2"])


def test_the_wheel_ships_every_package_and_the_configs():
    """pyproject.toml's packages hold every folder of modules, and the configs as pixeltransformer/configs/: without
    them an installed CLI dropped configs/trainer/default.yaml (the seed, the W&B logger, config.yaml in the run
    folder) and could name no config to give."""
    tomllib = pytest.importorskip("tomllib")
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(REPO / "src" if p.parts[len(REPO.parts)] == "src" else REPO).parts)
               for top in (REPO / "src" / "pixeltransformer", REPO / "domains") for p in top.rglob("__init__.py")}
    assert folders <= set(setup["packages"])
    assert setup["package-dir"].get("pixeltransformer.configs") == "configs"
    configs = REPO / "configs"
    folders = [configs.joinpath(*name.split(".")[2:]) for name in setup["packages"]
               if name.split(".")[:2] == ["pixeltransformer", "configs"]]
    shipped = {p for folder in folders for pattern in setup.get("package-data", {}).get("*", [])
               for p in folder.glob(pattern)}
    assert shipped == set(configs.rglob("*.yaml"))


def test_a_domains_package_of_the_user_s_own_is_named(tmp_path, monkeypatch, capsys):
    """A `domains` package of the user's own found first (a domains/ folder in the working folder, under python -m)
    hides the project's: the line said only "No module named 'domains.polynomial'"."""
    own = tmp_path / "domains" / "__init__.py"
    own.parent.mkdir()
    own.touch()
    line = "data: No module named 'domains.polynomial' (PolynomialDataModule)"
    monkeypatch.setitem(sys.modules, "domains", types.ModuleType("domains"))
    sys.modules["domains"].__file__ = str(own)
    with pytest.raises(SystemExit):
        errors.fail(line)
    assert capsys.readouterr().err == (f"error: {line}; the domains package imported is {own.parent}, not this "
                                       f"project's {REPO / 'domains'}: rename yours\n")
    sys.modules["domains"].__file__ = str(REPO / "domains" / "__init__.py")  # the project's own: as it was
    with pytest.raises(SystemExit):
        errors.fail(line)
    assert capsys.readouterr().err == f"error: {line}\n"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The lines' words as an installed package prints them: no clone around it, its configs in site-packages."""
    from pixeltransformer import datahints  # noqa: F401 - imported here first, it would bind the configs moved below

    configs = wheel_tree(tmp_path) / "configs"
    shutil.copytree(REPO / "configs", configs, dirs_exist_ok=True)  # the configs a wheel ships
    monkeypatch.setattr(layout, "CHECKOUT", None)
    monkeypatch.setattr(layout, "CONFIGS", configs)
    return configs


def test_a_checkpoint_for_other_data_names_its_configs_by_their_shipped_paths(installed):
    """Installed, the data hint said "DOMAIN=images DATA=mnist": make's variables, with no Makefile to give them to."""
    from pixeltransformer.datahints import data_hint, own_data

    assert data_hint({"domain": "images", "dataset": "mnist"}) == (
        f" (use its own data: --config {installed}/images.yaml --config {installed}/images/mnist.yaml, or the "
        "config.yaml of its run folder)")
    assert data_hint({"domain": "images", "dataset": "mnist"}, predict=True) == (
        f" (use its domain: --config {installed}/images.yaml)")
    assert own_data({"domain": "sdf", "dataset": "procedural"}, given={"domain": "sdf", "dataset": "mixture"}) == (
        "without a dataset overlay")


def test_a_run_folder_taken_names_the_resume_without_make(tmp_path, installed):
    """Installed, a run folder already there advised "(make train RESUME=...)" beside --resume."""
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").touch()
    with pytest.raises(FileExistsError, match=r"^run folder \S+ already exists: continue it with --resume \S+ or "
                                              r"choose another --run_name$"):
        runs.check_new_run(run)


def test_a_launch_of_another_size_names_the_gpu_config_by_its_shipped_path(installed, monkeypatch):
    """Installed, the torchrun line advised configs/trainer/gpu.yaml, a path only a clone has."""
    for name, value in {"RANK": "0", "GROUP_RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2",
                        "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=rf"or {re.escape(str(installed))}/trainer/gpu\.yaml on GPUs$"):
        launch.check_launch_size(1)
    monkeypatch.setattr(layout, "CHECKOUT", REPO)  # a clone: the line as it was
    with pytest.raises(ValueError, match=r"--trainer\.strategy=ddp, or configs/trainer/gpu\.yaml on GPUs$"):
        launch.check_launch_size(1)


def test_the_console_script_checks_the_command_line_before_lightning():
    """The ``pixeltransformer`` console script (the README's command) ran cli.cli_main: it imported Lightning before
    any check and skipped those ``python -m pixeltransformer`` makes first, so an option before the command got
    argparse's "invalid choice: '3'" seconds later. It now runs what ``python -m`` does."""
    import subprocess
    import tomllib

    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["pixeltransformer"]
    module, function = target.split(":")
    probe = (f"import sys\nsys.argv = ['pixeltransformer', '--trainer.max_steps', '3', 'fit']\n"
             f"from {module} import {function}\ntry:\n    {function}()\nexcept SystemExit as end:\n"
             "    print(end.code, 'lightning' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"})
    assert done.stdout.splitlines() == ["2 False"], done.stderr
    assert done.stderr.splitlines() == ["error: --trainer.max_steps is given before the command fit: options go after "
                                        "it (pixeltransformer fit --trainer.max_steps ...)"]


def test_the_results_page_written_where_installed_names_no_make(tmp_path, installed):
    """Installed, `python -m pixeltransformer.results` wrote a page "generated by `make results`", linking to a
    metrics/README.md that only the repository has, and its lines advised `make results RUNS=...` and `make eval`
    (a metrics.json without its domain)."""
    from pixeltransformer import results_page
    from pixeltransformer.results_folders import ResultsError, read_metrics, read_run_json

    page = results_page.render(tmp_path / "docs" / "metrics", tmp_path / "docs" / "figures", tmp_path / "docs")
    assert "make" not in page and "README" not in page
    assert ("This page is generated by `python -m pixeltransformer.results` from the folders in "
            "[docs/metrics/](metrics/)") in page
    assert ("No measured results yet: `python -m pixeltransformer.results --runs runs/<domain>/<run>` imports an "
            "evaluated run.") in page
    with pytest.raises(ResultsError, match=r"`python -m pixeltransformer\.results --runs <run folder>` writes "
                                           r"one\)$"):
        read_run_json(tmp_path)
    (tmp_path / "metrics.json").write_text('{"dataset": "mnist", "rows": [{"num_context": 4, "nll": 1.0}]}')
    with pytest.raises(ResultsError, match=r"needs 'domain', the names `pixeltransformer test` writes \(the domain "
                                           r"and dataset evaluated\)$"):
        read_metrics(tmp_path)


def test_a_run_without_its_fit_command_is_reproduced_by_the_shipped_configs(tmp_path, installed, monkeypatch):
    """Installed, a run folder without command.txt was published with a `make train DOMAIN=... DATA=...` line, its
    dataset overlay looked for in a configs/ of the working folder; a run of a domain of the user's own, with
    `--config <site-packages>/pixeltransformer/configs/<domain>.yaml`, a config that is not there."""
    from pixeltransformer import results, results_import

    monkeypatch.chdir(tmp_path)  # not the repository, whose configs/ a default of the working folder's would read
    run_dir = tmp_path / "runs" / "images" / "m1"
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("trainer:\n  max_steps: 500\ndata:\n  init_args:\n    dataset: mnist\n"
                                         "    batch_size: 16\n    val_items: 64\n")  # configs/images/mnist.yaml's
    (run_dir / "eval" / "metrics.json").write_text('{"domain": "images", "dataset": "mnist", '
                                                   '"rows": [{"num_context": 4, "nll": 1.0}]}')
    results.main(["--metrics-dir", str(tmp_path / "docs" / "metrics"), "--run", str(run_dir)])
    run = (tmp_path / "docs" / "metrics" / "images-mnist-m1" / "run.json").read_text()
    assert json.loads(run)["command"].splitlines()[0] == (
        f"pixeltransformer fit --config {installed}/images.yaml --config {installed}/images/mnist.yaml "
        "--run_name m1 --trainer.max_steps=500")
    # a domain of the user's own ships no config: the run's own config.yaml
    own = tmp_path / "runs" / "terrain" / "t1"
    (own / "eval").mkdir(parents=True)
    (own / "config.yaml").write_text("data:\n  init_args:\n    dataset: tiles\n")
    metrics = {"domain": "terrain", "dataset": "tiles", "rows": [{"num_context": 4, "nll": 1.0}]}
    assert results_import.default_command(own, metrics, installed).splitlines()[0] == (
        "pixeltransformer fit --config runs/terrain/t1/config.yaml --run_name t1")


def help_text(main, capsys) -> str:
    """What ``main(["--help"])`` of a plain command prints."""
    with pytest.raises(SystemExit):
        main(["--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_help_of_the_plain_commands_and_the_domain_contract_error_name_no_make_where_installed(installed, capsys,
                                                                                                   monkeypatch):
    """Installed, `python -m pixeltransformer.results --help` began "`make results`: write ..." and its --runs said
    "(`make results RUNS=...`)", the classifier command's --data "(as DATA= of make)", and a DataModule of the
    user's own without spec pointed to docs/design.md: a Makefile and a file that only a clone has."""
    from domains.images.baselines import pretrained
    from pixeltransformer import results

    class NoSpec(datamodule.SignalDataModule):
        def build_split(self, split):
            return []

    for main in (results.main, pretrained.main):
        assert "make" not in help_text(main, capsys)
    with pytest.raises(ValueError) as refused:
        datamodule.check_contract(NoSpec)
    assert "docs/" not in str(refused.value) and str(refused.value).endswith("(the design notes, Adding a domain)")
    monkeypatch.setattr(layout, "CHECKOUT", REPO)  # a clone: make's words and the repository's file, as they were
    assert "`make results RUNS=...`" in help_text(results.main, capsys)
    assert "(as make classifier's DATA=)" in help_text(pretrained.main, capsys)
    with pytest.raises(ValueError, match=r"\(docs/design\.md, Adding a domain\)$"):
        datamodule.check_contract(NoSpec)
