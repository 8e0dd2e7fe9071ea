"""The command line: a short `fit` of every config, `test` writing metrics.json, checkpoint reload."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from domains.images.data import ImageDataModule
from pixeltransformer.cli import main
from pixeltransformer.errors import StageInterrupted
from tests.cli.checkpoints import untrained_checkpoint
from tests.cli.wandb_record import record_wandb_logs, record_wandb_runs, undocumented, unlogged

REPO = Path(__file__).resolve().parents[2]
# configs/trainer and configs/model hold trainer and model-size files that compose with any domain
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name not in ("trainer", "model"))

# Per-domain overrides that make one fit take seconds: tiny model, tiny batches, few steps.
SMOKE = ["--trainer.max_steps=2", "--trainer.val_check_interval=2", "--data.init_args.val_items=2",
         "--trainer.limit_test_batches=1", "--trainer.logger=false", "--model.net.width=64", "--model.net.ffn=128",
         "--model.val_levels=[4]", "--checkpoint.every_n_train_steps=2",
         "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
# SMOKE with its W&B logger on (offline in the tests)
SMOKE_WANDB = [a for a in SMOKE if a != "--trainer.logger=false"]
# the core sampler's sizes; a config naming its own sampler class (the GP protocol's) keeps that sampler's
SETS_SMOKE = ["--model.sets.num_queries=16", "--model.sets.min_context=4", "--model.sets.max_context=16"]
# the line under the [run] line of a fit that failed after it trained, before its first checkpoint
KEPT_UNSAVED = ("kept without a checkpoint (its fit stopped before the first save), so it cannot be resumed: train "
                "it again under another --run_name (or, if no fit runs in it, delete {run} to reuse the name)")
DATA_SMOKE = {
    "polynomial": ["--data.init_args.train_size=64", "--data.init_args.val_size=4", "--data.init_args.test_size=4",
                   "--data.init_args.batch_size=4", "--data.init_args.resolution=64"],
    "images": ["--data.init_args.batch_size=4"],
    "video": ["--data.init_args.batch_size=2", "--data.init_args.num_clips=40"],
    "sdf": ["--data.init_args.batch_size=2", "--data.init_args.num_shapes=[8,2,2]", "--data.init_args.max_shapes=12",
            "--data.init_args.resolution=16"],
}


def _run_of(trained_polynomial: Path, tmp_path: Path) -> Path:
    """A run folder of its own (<tmp_path>/polynomial/w) holding a copy of the trained run's last.ckpt."""
    run = tmp_path / "polynomial" / "w"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(trained_polynomial / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.ckpt")
    return run


def write_curves(folder: Path) -> list[str]:
    """A file of 40 noisy sines of 32 points: the data of the curve overlay, which reads the user's own."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.linspace(0, 6, 32)  # [L]
    y = np.sin(x[None] * rng.uniform(0.5, 2, (40, 1)) + rng.uniform(0, 6, (40, 1))) + 0.05 * rng.normal(size=(40, 32))
    np.save(folder / "curves.npy", y.astype(np.float32))  # [N, L]
    return [f"--data.init_args.root={folder / 'curves.npy'}"]


# overlays of the user's own data: the smoke fit writes a small example of it
OWN_DATA = {"polynomial/file.yaml": write_curves}


def config_args(path: Path) -> list[str]:
    """A dataset overlay composes on top of its domain's base file."""
    if path.parent.name == "configs":
        return ["--config", str(path)]
    return ["--config", str(path.parent.parent / f"{path.parent.name}.yaml"), "--config", str(path)]


def sets_smoke(path: Path) -> list[str]:
    import yaml

    sets = (yaml.safe_load(path.read_text()).get("model") or {}).get("sets") or {}
    core = "pixeltransformer.sets.SetSampler"
    return SETS_SMOKE if sets.get("class_path", core) == core else []


def domain_of(path: Path) -> str:
    return path.stem if path.parent.name == "configs" else path.parent.name


def missing_data(path: Path) -> str | None:
    """Why an overlay cannot run here: the real dataset it reads by default is not under the data folder."""
    import importlib

    import yaml

    from pixeltransformer.datamodule import data_dir

    if path.parent.name == "configs":
        return None
    dataset = ((yaml.safe_load(path.read_text()).get("data") or {}).get("init_args") or {}).get("dataset")
    roots = getattr(importlib.import_module(f"domains.{domain_of(path)}.data"), "DEFAULT_ROOTS", {})
    needed = list(roots.values()) if dataset == "mixture" else [roots[dataset]] if dataset in roots else []
    absent = [relative for relative in needed if not (data_dir() / relative).exists()]
    if not absent:
        return None
    return f"{absent[0]} is not under {data_dir()} (set PIXELTRANSFORMER_DATA; tests use ../shared/data when present)"


def test_every_domain_has_a_config_that_names_its_domain_class():
    """configs/<name>.yaml exists for every domains/<name>/domain.py, and its model.domain is that folder's Domain."""
    import importlib

    import yaml

    from pixeltransformer.domain import Domain

    folders = {p.parent.name for p in (REPO / "domains").glob("*/domain.py")}
    bases = {p.stem: p for p in CONFIGS if p.parent.name == "configs"}
    assert folders == set(bases) and {"images", "polynomial", "sdf", "video"} <= folders  # and any domain added
    for name, path in bases.items():
        class_path = yaml.safe_load(path.read_text())["model"]["domain"]["class_path"]
        module, _, cls = class_path.rpartition(".")
        domain = getattr(importlib.import_module(module), cls)
        assert module == f"domains.{name}.domain" and issubclass(domain, Domain) and domain.name == name
        assert Domain.registry[name] is domain


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_fit_smoke(config, tmp_path, monkeypatch):
    own = OWN_DATA.get(str(config.relative_to(REPO / "configs")))
    if own is None and (reason := missing_data(config)):
        pytest.skip(reason)
    monkeypatch.chdir(REPO)
    args = ["fit", *config_args(config), *SMOKE, *sets_smoke(config), *DATA_SMOKE.get(domain_of(config), []),
            *(own(tmp_path) if own else []), "--run_root", str(tmp_path), "--run_name", "smoke"]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # built data (SDF grids) stays out of the user's cache
    cli = main(args)
    run = tmp_path / domain_of(config) / "smoke"
    assert cli.trainer.global_step == 2
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    for p in cli.model.parameters():
        assert torch.isfinite(p).all()


@pytest.fixture(scope="module")
def trained_polynomial(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *SETS_SMOKE, *DATA_SMOKE["polynomial"],
          "--trainer.max_steps=6", "--run_root", str(root), "--run_name", "p"])
    return root / "polynomial" / "p"


def test_the_readme_names_every_file_of_a_fresh_run_folder(tmp_path, monkeypatch):
    """README's "Every run lives in runs/<domain>/<run-name>/" lists the run folder's contents, W&B offline as by
    default: a user who finds a file there that it does not name (wandb_id.txt was one) cannot tell what it is for."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *SETS_SMOKE,
          *DATA_SMOKE["polynomial"], "--run_root", str(tmp_path), "--run_name", "p"])
    readme = (REPO / "README.md").read_text()
    listing = readme[readme.index("Every run lives in"):readme.index("Real datasets are read from")]
    for entry in sorted((tmp_path / "polynomial" / "p").iterdir()):
        shown = f"`{entry.name}/`" if entry.is_dir() else f"`{entry.name}`"
        assert shown in listing, f"README: the run folder's {shown} is not named where it lists a run's files"


def test_eval_writes_metrics_json(trained_polynomial):
    ckpt = trained_polynomial / "checkpoints" / "last.ckpt"
    cli = main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
                "--ckpt_path", str(ckpt)])
    # the validation's NLL and its mean over the levels, named apart from the sweep's
    assert set(cli.trainer.callback_metrics) == {"test/val_nll@4", "test/val_nll"}
    metrics = json.loads((trained_polynomial / "eval" / "metrics.json").read_text())
    assert metrics["domain"] == "polynomial" and metrics["dataset"] == "polynomial"
    assert metrics["checkpoint"] == str(ckpt) and metrics["checkpoint_step"] == 6
    # the evaluation's command line, as given, beside its numbers (make results publishes it)
    assert (trained_polynomial / "eval" / "command.txt").read_text().startswith("pixeltransformer test --config ")
    assert (trained_polynomial / "eval" / "command.txt").read_text().endswith(f" --ckpt_path {ckpt}\n")
    levels = [r["num_context"] for r in metrics["rows"]]
    assert levels == [4, 5, 6, 8, 10, 15, 20]
    for row in metrics["rows"]:
        for key in ("nll", "mse", "nn_mse", "oracle_nll", "oracle_mse", "gp_nll", "gp_mse"):
            assert isinstance(row[key], float), key
    assert set(metrics["nll_gap_to_oracle"]) == {"4", "5", "6"}
    assert (trained_polynomial / "eval" / "metrics_vs_context.png").stat().st_size > 10_000
    assert (trained_polynomial / "eval" / "pictures" / "functions0.png").stat().st_size > 10_000


def test_eval_puts_every_number_into_the_wandb_summary(trained_polynomial, tmp_path, monkeypatch):
    """W&B's runs table shows a run's summary: an evaluation's numbers go there as scalars (its curves and table
    alone left that table empty), the same numbers as metrics.json."""
    import wandb

    run = _run_of(trained_polynomial, tmp_path)
    received = record_wandb_logs(monkeypatch, tmp_path)
    finished = record_wandb_runs(monkeypatch)
    cli = main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
                "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert wandb.run is None and len(finished) == 1  # the evaluation's W&B run, finished when it ended
    assert (run / "wandb" / finished[0]["record"].name / "files").is_dir()  # its record, in the run folder's
    summary = finished[0]["summary"]
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    for row in metrics["rows"]:
        for key in ("nll", "mse", "oracle_nll", "gp_nll"):
            assert summary[f"eval/{key}@{row['num_context']}"] == pytest.approx(row[key])
    assert summary["eval/nll_gap_to_oracle/4"] == pytest.approx(metrics["nll_gap_to_oracle"]["4"])
    # which weights were evaluated: the W&B run's own steps are 0, and last.ckpt names no step
    assert summary["eval/checkpoint_step"] == metrics["checkpoint_step"] == 6
    # each number at the top of metrics.json but the evaluation's settings (in the config): num_items was left out,
    # so the runs table did not say how many test items the numbers are means over
    settings = ("seed", "num_samples", "n_autoregressive", "max_items")
    numbers = {k: v for k, v in metrics.items() if type(v) in (int, float) and k not in settings}
    assert "num_items" in numbers and {k: summary.get(f"eval/{k}") for k in numbers} == pytest.approx(numbers)
    assert not any(f"eval/{k}" in summary for k in settings)
    # charted at the weights' step, beside the fit's validation of them (after step 6, at 5), not at step 0
    assert {r.get("trainer/global_step") for r in received if any(k.startswith("test/") for k in r)} == {5}
    assert {r.get("trainer/global_step") for r in received if "eval/functions" in r} == {5}
    assert cli.trainer.fit_loop.epoch_loop._batches_that_stepped == 0  # put back: a fit after it counts from its own
    logged = set(summary) | {k for r in received for k in r}
    assert undocumented(logged) == []  # docs/dashboard.md names each, and each it names for an evaluation is logged
    assert unlogged("An evaluation", logged, leave_out=["eval/functions_with_oracle"]) == []  # (the GP benchmark's)
    media = {key: value for r in received for key, value in r.items() if key in ("eval/functions",
                                                                                   "eval/metrics_vs_context")}
    assert wandb.Image.all_captions(media["eval/functions"]) == [
        f"functions{i}.png: test split, checkpoint of step 6" for i in (0, 1)]
    assert wandb.Image.all_captions([media["eval/metrics_vs_context"]]) == [
        "metrics_vs_context.png: test split, checkpoint of step 6"]


def test_pictures_land_on_the_step_of_their_validation_metrics(tmp_path, monkeypatch):
    """W&B charts everything against trainer/global_step. Lightning logs a validation's metrics at the batches
    counted for its loggers, one less than trainer.global_step (whose optimizer step came before the validation);
    the pictures of that validation used global_step, one step after their val/nll@k."""
    import wandb

    received = record_wandb_logs(monkeypatch, tmp_path)
    smoke = [a for a in SMOKE if a not in ("--trainer.logger=false", "--trainer.max_steps=2")]
    cli = main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *smoke, *SETS_SMOKE,
                *DATA_SMOKE["polynomial"], "--trainer.max_steps=4", "--trainer.log_every_n_steps=1",
                "--run_root", str(tmp_path), "--run_name", "w"])
    wandb.finish()
    assert cli.trainer.global_step == 4 and list((tmp_path / "polynomial" / "w" / "wandb").glob("offline-run-*"))
    metrics = [r["trainer/global_step"] for r in received if "val/nll@4" in r]
    pictures = [r["trainer/global_step"] for r in received if any(k.startswith("val/functions") for k in r)]
    assert len(metrics) == 2 and pictures == metrics  # the validations after steps 2 and 4, each at one step
    losses = [r["trainer/global_step"] for r in received if "train/loss" in r]
    assert losses == [0, 1, 2, 3] and metrics == [1, 3]  # each beside the loss of the batch before it
    # each picture says what it is and which weights drew it (W&B showed them with no caption)
    captions = [wandb.Image.all_captions(r["val/functions"]) for r in received if "val/functions" in r]
    assert captions == [[f"functions{i}_step{s:06d}.png: val split, weights of step {s}" for i in (0, 1)]
                        for s in (2, 4)]


def test_eval_on_other_data_goes_beside_the_run_s_own(trained_polynomial, capsys):
    """A checkpoint tested on another dataset of the same shape writes eval-<dataset>/, and eval/ stays as it was."""
    ckpt = trained_polynomial / "checkpoints" / "last.ckpt"
    own = trained_polynomial / "eval"
    before = {p.name: p.read_bytes() for p in own.iterdir() if p.is_file()} if own.is_dir() else None
    main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
          "--data.init_args.dataset=gp_rbf", "--ckpt_path", str(ckpt)])
    other = trained_polynomial / "eval-gp_rbf"
    assert json.loads((other / "metrics.json").read_text())["dataset"] == "gp_rbf"
    assert (other / "config_test.yaml").is_file()
    after = {p.name: p.read_bytes() for p in own.iterdir() if p.is_file()} if own.is_dir() else None
    assert after == before
    assert "trained on polynomial/polynomial; this evaluation on gp_rbf goes to eval-gp_rbf/" in capsys.readouterr().out


def test_model_options_given_with_a_checkpoint(trained_polynomial):
    """With --ckpt_path the checkpoint sets the model: an option that would change it is named in a warning and not
    used; the decoding chunk, which changes no result, is the command line's."""
    ckpt = trained_polynomial / "checkpoints" / "last.ckpt"
    with pytest.warns(UserWarning, match=r"^--model\.net\.heads=8 is not used: the checkpoint's model has heads=4$"):
        cli = main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
                    "--model.net.heads=8", "--model.net.chunk", "7", "--ckpt_path", str(ckpt)])
    assert cli.model.net_config.heads == 4 and cli.model.net_config.chunk == 7


def test_checkpoint_reload_gives_identical_predictions(trained_polynomial):
    from pixeltransformer.loading import load_module

    a = load_module(trained_polynomial / "checkpoints" / "last.ckpt")
    b = load_module(trained_polynomial / "checkpoints" / "last.ckpt")
    gen = torch.Generator().manual_seed(0)
    ctx_pos, ctx_val, qry = torch.rand(2, 7, 1, generator=gen), torch.randn(2, 7, 1, generator=gen), a.grid_queries(2)
    assert torch.equal(a.predict_params(ctx_pos, ctx_val, qry), b.predict_params(ctx_pos, ctx_val, qry))
    if not torch.cuda.is_available():  # a CUDA device asked for on a machine without one is named as the cause
        with pytest.raises(ValueError, match="map_location='cuda:0': this machine has no CUDA device"):
            load_module(trained_polynomial / "checkpoints" / "last.ckpt", map_location="cuda:0")
    fresh = type(a)(**{**a.hparams})
    assert not torch.equal(fresh.predict_params(ctx_pos, ctx_val, qry), a.predict_params(ctx_pos, ctx_val, qry))


def test_fit_with_the_gpu_trainer_file(tmp_path):
    """configs/trainer/gpu.yaml on the CPU (one device, no DDP): its bf16 mixed precision with the base trainer's
    gradient clipping and the module's fused AdamW, which Lightning's mixed-precision plugin alone refuses at the
    first step. CPU autocast stands in for the GPU's."""
    cli = main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config",
                str(REPO / "configs/trainer/gpu.yaml"), *SMOKE, *SETS_SMOKE, *DATA_SMOKE["polynomial"],
                "--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.strategy=auto",
                "--run_root", str(tmp_path), "--run_name", "mixed"])
    assert cli.trainer.precision == "bf16-mixed"
    assert cli.trainer.gradient_clip_val == 1.0 and cli.trainer.optimizers[0].defaults["fused"]
    assert cli.trainer.global_step == 2
    for p in cli.model.parameters():
        assert torch.isfinite(p).all()


@pytest.mark.parametrize("given", ["16-mixed", "16"])
def test_fp16_mixed_on_the_cpu_is_recorded_as_the_bf16_it_runs(given, tmp_path, capsys, recwarn):
    """Lightning runs 16-mixed as bf16-mixed on a CPU (float16 autocast needs a GPU), but config.yaml and W&B's config
    said 16-mixed: a user comparing runs read fp16 for a bf16 run. The config records what ran, and one line says so."""
    import yaml

    cli = main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *SETS_SMOKE, *DATA_SMOKE["polynomial"],
                "--trainer.accelerator=cpu", f"--trainer.precision={given}", "--run_root", str(tmp_path),
                "--run_name", "half", "--trainer.enable_model_summary=true"])
    assert cli.trainer.precision == "bf16-mixed"
    saved = yaml.safe_load((tmp_path / "polynomial" / "half" / "config.yaml").read_text())
    assert saved["trainer"]["precision"] == "bf16-mixed"
    out = capsys.readouterr()
    assert (f"[run] trainer.precision={given} runs as bf16-mixed on the CPU (float16 mixed precision needs a GPU): "
            "config.yaml records bf16-mixed") in out.out
    # Lightning's warning, which the CLI's line replaces (warnings are recorded here, not printed)
    assert not [w for w in recwarn if "AMP with fp16 is not supported on CPU" in str(w.message)]
    # the weights stay float32 under mixed precision: the summary's size at 32 bits is right, not "not accurate"
    assert not [w for w in recwarn if "not supported by the model summary" in str(w.message)]


@pytest.mark.parametrize("given, ran", [(None, "32-true"), ("16-mixed", "bf16-mixed"), ("bf16-mixed", "bf16-mixed")])
def test_prediction_json_records_the_precision_the_completion_ran_at(given, ran, trained_polynomial, tmp_path, capsys):
    """A completion's samples depend on the precision (the same seed drew other values in bf16 than in fp32), but
    prediction.json recorded none: two predictions with the same options differed without a word why."""
    out = tmp_path / "predicted"
    main(["predict", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
          "--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt"), "--trainer.accelerator=cpu",
          *([f"--trainer.precision={given}"] if given else []), "--context", "[[-0.5, 1.2], [0.1, 0.3]]",
          "--n_autoregressive", "4", "--out", str(out)])
    assert json.loads((out / "prediction.json").read_text())["precision"] == ran
    said = "runs as bf16-mixed on the CPU (float16 mixed precision needs a GPU): prediction.json records bf16-mixed"
    assert (said in capsys.readouterr().out) == (given == "16-mixed")


def test_an_evaluation_runs_and_records_the_precision_it_was_given(trained_polynomial, tmp_path, capsys):
    """The evaluation's model calls come from a callback, outside Lightning's test steps: `--trainer.precision
    bf16-mixed` wrote a metrics.json equal to 32-true's to the last digit, which recorded no precision, while
    config_test.yaml said bf16-mixed. The model now runs at the precision that ran, which metrics.json records."""
    run = _run_of(trained_polynomial, tmp_path)
    metrics = {}
    for given, precision in (("16-mixed", "bf16-mixed"), ("32-true", "32-true")):  # 16-mixed: bf16 on the CPU
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
              "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--trainer.accelerator=cpu",
              f"--trainer.precision={given}"])
        metrics[precision] = json.loads((run / "eval" / "metrics.json").read_text())
        assert metrics[precision]["precision"] == precision
        said = "runs as bf16-mixed on the CPU (float16 mixed precision needs a GPU): config_test.yaml and metrics.json"
        assert (f"{said} record bf16-mixed" in capsys.readouterr().out) == (given == "16-mixed")
    half, full = ([row["nll"] for row in metrics[p]["rows"]] for p in ("bf16-mixed", "32-true"))
    assert half != full and max(abs(h - f) for h, f in zip(half, full)) < 0.1  # bf16's rounding, not another model
    assert [row["oracle_nll"] for row in metrics["bf16-mixed"]["rows"]] == \
        [row["oracle_nll"] for row in metrics["32-true"]["rows"]]  # the baselines stay float32


@pytest.mark.parametrize("domain", ["images", "sdf", "video", "polynomial"])
def test_the_gpu_trainer_file_gives_every_domain_data_workers(domain, capsys):
    """On a GPU the main process only launches the step's work: with num_workers=0 it also read, converted and
    collated every batch (a 64^3 SDF batch of 32 took about as long as the GPU step it fed), in either order of the
    files."""
    import yaml

    domain_file, gpu = str(REPO / f"configs/{domain}.yaml"), str(REPO / "configs/trainer/gpu.yaml")
    for files in ((domain_file, gpu), (gpu, domain_file)):
        with pytest.raises(SystemExit):
            main(["fit", "--config", files[0], "--config", files[1], "--print_config"])
        data = yaml.safe_load(capsys.readouterr().out)["data"]
        assert data["init_args"]["num_workers"] == 4 and data["class_path"].startswith(f"domains.{domain}."), files


@pytest.mark.parametrize("subcommand, precision, dtype", [
    ("fit", "16-true", "float16"), ("fit", "bf16-true", "bfloat16"), ("fit", "64-true", "float64"),
    ("fit", "64", "float64"), ("validate", "bf16-true", "bfloat16"), ("test", "64-true", "float64"),
    ("predict", "16-true", "float16")])
def test_a_precision_that_casts_the_weights_is_refused_before_the_run_folder(subcommand, precision, dtype,
                                                                            trained_polynomial, tmp_path, capsys):
    """Lightning's "true" precisions cast the weights, which the model keeps float32 (the distance bias and Fourier
    features): every one failed at the first forward pass, after the fit's run folder was named. They are refused
    in one line naming the option and the mixed precisions, before any folder or [run] line."""
    args = ["--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            f"--trainer.precision={precision}"]
    if subcommand == "fit":
        args += [*SETS_SMOKE, "--run_root", str(tmp_path / "runs"), "--run_name", "cast"]
    else:
        args += ["--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt")]
    if subcommand == "predict":
        args += ["--context", "[[-0.5, 1.2], [0.1, 0.3]]", "--out", str(tmp_path / "predicted")]
    before = sorted(p.relative_to(trained_polynomial) for p in trained_polynomial.rglob("*"))
    message = (rf"^trainer\.precision={precision} casts the model's weights to {dtype}, but they must stay float32 "
               r"\(the distance bias and Fourier features run in float32\): use 16-mixed or bf16-mixed for half "
               r"precision, or 32-true$")
    with pytest.raises(ValueError, match=message):
        main([subcommand, *args])
    assert not list(tmp_path.iterdir())  # no run folder, no prediction
    assert sorted(p.relative_to(trained_polynomial) for p in trained_polynomial.rglob("*")) == before  # no eval folder
    assert "[run]" not in capsys.readouterr().out


def help_texts(args: list[str], capsys) -> dict[str, str]:
    """Each option of a `--help` (or `--data.help <class>`) output -> its description, on one line."""
    import re

    with pytest.raises(SystemExit):
        main(args)
    described, option = {}, None
    for line in capsys.readouterr().out.splitlines():
        if start := re.match(r"  (--[\w.]+)", line):
            option = start.group(1)
            described[option] = line[24:].strip() if len(line) > 24 and line[22:24] == "  " else ""
        elif option and line.startswith(" " * 24):
            described[option] = f"{described[option]} {line.strip()}".strip()
        else:
            option = None
    return described


@pytest.mark.parametrize("extra, prefixes, count", [
    (["--help"], ("--model.net.", "--model.objective.", "--model.optim.", "--checkpoint.every_minutes",
                  "--checkpoint.monitor", "--checkpoint.dirpath", "--run_root", "--run_name", "--resume"), 30),
    (["--model.sets.help", "pixeltransformer.sets.SetSampler"], ("--model.sets.",), 6),
    (["--data.help", "domains.polynomial.data.PolynomialDataModule"], ("--data.",), 18),
    (["--data.help", "domains.images.data.ImageDataModule"], ("--data.",), 13),
    (["--data.help", "domains.sdf.data.SDFDataModule"], ("--data.",), 22),
    (["--data.help", "domains.video.data.VideoDataModule"], ("--data.",), 18),
], ids=["fit", "sets", "polynomial-data", "images-data", "sdf-data", "video-data"])
def test_help_describes_every_option_of_the_model_the_data_and_the_run(extra, prefixes, count, capsys):
    """`pixeltransformer fit --help` showed the net's sizes, the objective, the optimiser, the set sampler's bounds and
    several data options as bare types ("--model.net.width WIDTH (type: int, default: 128)"): their docstrings
    documented them in groups ("width, encoder_layers, ...: transformer size"), which the help cannot split."""
    described = help_texts(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *extra], capsys)
    ours = [o for o in described if o.startswith(prefixes) and not o.endswith(".help")]
    assert len(ours) >= count, sorted(described)
    bare = [o for o in ours if described[o].startswith("(type:") or not described[o]]
    assert not bare, bare


def test_the_run_folder_options_say_what_they_do_in_each_subcommand(capsys):
    """--help said --resume continues "with the same W&B run", which an offline resume (the default) is not, and
    listed --run_root and --run_name for test and predict as where runs go, where an evaluation or a prediction
    writes into its checkpoint's run folder whatever they say."""
    config = ["--config", str(REPO / "configs/polynomial.yaml")]
    fit = help_texts(["fit", *config, "--help"], capsys)
    assert "offline: a W&B run of its own" in fit["--resume"] and "own config.yaml" in fit["--resume"]
    assert "torchrun" in fit["--run_name"] and not fit["--run_root"].startswith("fit only")
    for sub in ("test", "validate", "predict"):
        described = help_texts([sub, *config, "--help"], capsys)
        for option in ("--run_root", "--run_name", "--resume"):
            assert described[option].startswith("fit only (an evaluation or prediction writes into the run folder "
                                                "of its --ckpt_path)"), (sub, option, described[option])


@pytest.mark.parametrize("size", sorted(p.stem for p in (REPO / "configs" / "model").glob("*.yaml")))
def test_model_size_files_compose_after_a_domain_config(size, capsys):
    """configs/model/<size>.yaml sets the net's sizes and leaves the domain's other net, set and optimiser options."""
    import yaml

    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config",
              str(REPO / "configs" / "model" / f"{size}.yaml"), "--print_config"])
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    sizes = yaml.safe_load((REPO / "configs" / "model" / f"{size}.yaml").read_text())["model"]["net"]
    assert {k: model["net"][k] for k in sizes} == sizes
    assert model["net"]["value_norm"] is True and model["net"]["fourier_scale"] == 1.0  # polynomial.yaml's
    assert model["sets"]["init_args"]["max_context"] == 20 and model["optim"]["lr"] == 1e-3


@pytest.mark.parametrize("mode, offline", [("online", False), ("offline", True), ("disabled", True)])
def test_print_config_shows_the_wandb_mode_the_run_uses(mode, offline, capsys, monkeypatch):
    """The CLI sets the W&B logger's offline from WANDB_MODE after the parser has printed the config: the printed
    config says what the run will use."""
    import yaml

    monkeypatch.setenv("WANDB_MODE", mode)
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--print_config"])
    logger = yaml.safe_load(capsys.readouterr().out)["trainer"]["logger"]
    assert logger["class_path"].endswith("WandbLogger") and logger["init_args"]["offline"] is offline


def test_print_config_of_a_prediction_shows_no_wandb_logger(tmp_path, capsys):
    """A prediction drops the W&B logger of its config (it begins no W&B run), but `predict --print_config` showed
    it, offline and all: the printed config is the one the prediction runs."""
    import yaml

    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    ckpt = tmp_path / "last.ckpt"
    torch.save(untrained_checkpoint(spec, net=dict(width=32, ffn=48, value_norm=True, fourier_scale=1.0)), ckpt)
    for given in ([], ["--ckpt_path", str(ckpt)]):  # printed by the parser, or once the checkpoint is merged
        with pytest.raises(SystemExit):
            main(["predict", "--config", str(REPO / "configs/polynomial.yaml"), *given, "--print_config"])
        assert yaml.safe_load(capsys.readouterr().out)["trainer"]["logger"] is False, given
    for logger in ("true", "null"):  # no W&B logger to drop: the prediction keeps Lightning's default one
        with pytest.raises(SystemExit):
            main(["predict", "--config", str(REPO / "configs/polynomial.yaml"), f"--trainer.logger={logger}",
                  "--print_config"])
        assert yaml.safe_load(capsys.readouterr().out)["trainer"]["logger"] is {"true": True}.get(logger), logger
    with pytest.raises(SystemExit):  # a fit's printed config keeps its logger
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out)["trainer"]["logger"]["class_path"].endswith("WandbLogger")


def test_an_option_a_later_config_sets_again_is_named_before_the_command_starts(capsys):
    """``--trainer.max_steps 1`` before an overlay that sets max_steps: the overlay's 10 000 steps, without a word."""
    overlay = str(REPO / "configs/polynomial/gp_tnp_rbf.yaml")
    with pytest.warns(UserWarning, match=rf"^--trainer.max_steps=1 is overridden by {re.escape(overlay)} after it "
                      r"\(options take effect in the order given\): give it after the last --config$"):
        with pytest.raises(SystemExit):
            main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--trainer.max_steps", "1", "--config",
                  overlay, "--print_config"])
    assert "max_steps: 10000" in capsys.readouterr().out


def test_print_config_given_a_checkpoint_shows_the_checkpoint_s_model(tmp_path, capsys):
    """`test --config ... --config configs/model/tiny.yaml --ckpt_path CKPT --print_config` printed the tiny size
    (width 64), which the parser read, while the evaluation runs the checkpoint's model (width 128), as its
    config_test.yaml records: the printed config is the one the command runs, and fed back it runs the same."""
    import yaml

    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    ckpt = tmp_path / "last.ckpt"
    torch.save(untrained_checkpoint(spec, net=dict(width=32, ffn=48, value_norm=True, fourier_scale=1.0)), ckpt)
    configs = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml")]
    for sub in ("test", "validate", "fit"):
        with pytest.raises(SystemExit) as stop:
            main([sub, *configs, "--ckpt_path", str(ckpt), "--run_root", str(tmp_path / "runs"), "--print_config"])
        assert stop.value.code in (0, None)
        out = capsys.readouterr().out
        printed = yaml.safe_load(out)
        assert printed["model"]["net"]["width"] == 32 and printed["model"]["net"]["ffn"] == 48, sub
        assert printed["ckpt_path"] == str(ckpt)
        (tmp_path / f"printed_{sub}.yaml").write_text(out)  # printed as --print_config prints any command's
        with pytest.raises(SystemExit):
            main([sub, "--config", str(tmp_path / f"printed_{sub}.yaml"), "--print_config"])
        assert capsys.readouterr().out == out, sub
    assert not (tmp_path / "runs").exists()
    with pytest.raises(SystemExit):  # without a checkpoint, the config files' model as before
        main(["fit", *configs, "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out)["model"]["net"]["width"] == 64


def test_the_gp_protocol_configs_name_their_set_sampler(tmp_path):
    """The protocol's sampler comes from the overlay (model.sets), not from its DataModule."""
    from domains.polynomial.protocol import ProtocolSetSampler
    from pixeltransformer.sets import SetSampler

    for overlay, kind in (("gp_rbf.yaml", SetSampler), ("gp_tnp_rbf.yaml", ProtocolSetSampler)):
        cli = main(["--config", str(REPO / "configs/polynomial.yaml"), "--config",
                    str(REPO / "configs" / "polynomial" / overlay), "--trainer.logger=false",
                    "--run_root", str(tmp_path)], run=False)
        assert type(cli.model.sampler) is kind, overlay
        assert cli.model.hparams["sets"]["class_path"] == f"{kind.__module__}.{kind.__qualname__}"


def test_unknown_config_key_is_reported(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--model.no_such_option=1"])
    assert "no_such_option" in capsys.readouterr().err


def test_a_shortened_option_is_refused_not_taken_for_the_one_it_begins(tmp_path, capsys):
    """argparse takes an option's unambiguous prefix for the option: `--trainer.max_step=5` trained 5 steps, and
    command.txt recorded a name the CLI has not. It is refused as the misspelling it is."""
    with pytest.raises(SystemExit):
        main(["--config", str(REPO / "configs/polynomial.yaml"), "--trainer.max_step=5",
              "--run_root", str(tmp_path)], run=False)
    assert "error: unrecognized arguments: --trainer.max_step=5" in capsys.readouterr().err
    cli = main(["--config", str(REPO / "configs/polynomial.yaml"), "--trainer.max_steps=5",
                "--run_root", str(tmp_path)], run=False)
    assert cli.trainer.max_steps == 5


def test_console_noise_is_filtered(caplog):
    """The litlogger tip, Lightning's TF32 advice on a GPU, its line that no TPU is there, the LeafSpec deprecation,
    the false "not resumable" warning, a resume's "checkpoint directory is not empty", the small-epoch logging
    interval warning (Lightning counts the interval over the run) and the FLOPs total (0: the module has no example
    input) stay out of the console; other messages still come through."""
    import logging
    import warnings

    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from pixeltransformer.console import ParamSummary, quiet_console

    quiet_console()
    caplog.set_level(logging.INFO)
    rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger](...)")
    rank_zero_info("a message that matters")
    rank_zero_info("TPU available: False, using: 0 TPU cores")  # at every start, on any machine without one
    rank_zero_info("TPU available: True, using: 8 TPU cores")
    # Lightning's advice on a GPU (fabric/accelerators/cuda.py): TF32 would round the fp32 distance-bias attention
    rank_zero_info("You are using a CUDA device ('NVIDIA H200') that has Tensor Cores. To properly utilize them, you "
                   "should set `torch.set_float32_matmul_precision('medium' | 'high')` which will trade-off precision "
                   "for performance.")
    ParamSummary.summarize([("Name", ["model"]), ("Type", ["PixelTransformer"]), ("Params", ["167 K"]),
                            ("FLOPs", ["0"])], 167_000, 167_000, 0.67, {"train": 61, "eval": 0}, 0)
    assert "litlogger" not in caplog.text and "a message that matters" in caplog.text
    assert "Tensor Cores" not in caplog.text
    assert "TPU available: False" not in caplog.text and "TPU available: True, using: 8 TPU cores" in caplog.text
    assert "Trainable params" in caplog.text and "PixelTransformer" in caplog.text
    assert "FLOPs" not in caplog.text and "Flops" not in caplog.text
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)`")
        warnings.warn("You're resuming from a checkpoint that ended before the epoch ended and your dataloader is"
                      " not resumable. This can cause unreliable results if further training is done.")
        warnings.warn("Checkpoint directory /r/runs/polynomial/a/checkpoints exists and is not empty.")  # a resume
        warnings.warn("The number of training batches (5) is smaller than the logging interval Trainer("
                      "log_every_n_steps=10). Set a lower value for log_every_n_steps if you want to see logs for the "
                      "training epoch.")
        warnings.warn("a warning that matters")
    assert [str(w.message) for w in seen] == ["a warning that matters"]


def test_a_ddp_run_prints_the_seed_once(caplog, monkeypatch):
    """seed_everything logs "Seed set to 0" in every process, the others' prefixed "[rank: 1]": the first one's line
    is enough."""
    import logging

    from lightning.fabric.utilities.seed import seed_everything

    from pixeltransformer.console import quiet_console

    quiet_console()
    caplog.set_level(logging.INFO)
    for rank in ("0", "1", "12"):
        monkeypatch.setenv("RANK", rank)
        seed_everything(3)
    assert [r.getMessage() for r in caplog.records if "Seed set" in r.getMessage()] == ["[rank: 0] Seed set to 3"]


class WandbRefuses(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        import wandb.errors

        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")


def test_a_wandb_error_is_one_line_naming_the_fallbacks(tmp_path, monkeypatch, capsys):
    """WANDB=online without a login fails inside W&B: the user gets its message and the ways round it, not a
    traceback, and the new run's folder is removed."""
    from pixeltransformer.cli import cli_main
    from pixeltransformer.errors import InputExit

    monkeypatch.setenv("WANDB_MODE", "online")  # what make's WANDB=online sets
    cfg = tmp_path / "wandb.yaml"
    cfg.write_text("trainer:\n  callbacks:\n    - class_path: test_cli.WandbRefuses\n")
    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", "--config", str(REPO / "configs/polynomial.yaml"),
                                     "--config", str(cfg), *SMOKE, *DATA_SMOKE["polynomial"],
                                     "--run_root", str(tmp_path / "runs"), "--run_name", "w"])
    with pytest.raises(InputExit):
        cli_main()
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: W&B: No API key configured. Use `wandb login` to log in. (or run offline, the default: make ... "
        "WANDB=offline, else WANDB_MODE=offline; without W&B: WANDB_MODE=disabled)")
    assert not (tmp_path / "runs" / "polynomial" / "w").exists()


@pytest.fixture
def wandb_unreachable(tmp_path, monkeypatch):
    """WANDB_MODE=online with no proxy, no server named, W&B's settings of an empty config folder, and no route to any
    server: the addresses the W&B probe tried, whatever the developer's own variables and `wandb login`."""
    import socket

    import wandb

    tried = []

    def unreachable(address, timeout=None, *args, **kwargs):
        assert timeout is not None and timeout <= 30  # a short wait, not W&B's 90 s
        tried.append(address)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setenv("WANDB_MODE", "online")
    for variable in ("https_proxy", "http_proxy", "all_proxy", "no_proxy", "WANDB_BASE_URL", "WANDB_HTTP_PROXY",
                     "WANDB_HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setattr(socket, "create_connection", unreachable)
    wandb.teardown()  # W&B's settings as this test's variables give them
    yield tried
    wandb.teardown()


def test_online_without_a_route_to_wandb_is_refused_at_once(wandb_unreachable, tmp_path, monkeypatch, capsys):
    """WANDB=online after `wandb login` on a machine that cannot reach W&B's server (a compute node): wandb.init
    waited its 90 s timeout in silence, then failed. The server is tried first, and refused in one line."""
    from pixeltransformer.cli import cli_main
    from pixeltransformer.errors import InputExit

    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", "--config", str(REPO / "configs/trainer/default.yaml"),
                                     "--config", str(REPO / "configs/polynomial.yaml"),  # a fit's, with its W&B logger
                                     *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
                                     "--run_root", str(tmp_path / "runs"), "--run_name", "w"])
    with pytest.raises(InputExit):
        cli_main()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"error: W&B: https?://\S+ cannot be reached from this machine \(Name or service not known\), "
                        r"so nothing can be logged online \(or run offline, the default: .*WANDB_MODE=offline; "
                        r"without W&B: WANDB_MODE=disabled\)", line), line
    assert len(wandb_unreachable) == 1


def without_wandb(monkeypatch) -> None:
    """From here on in the test `import wandb` raises ImportError, as without the package, and the parser resolves
    the W&B logger's options afresh: jsonargparse keeps each class's parser, so one built with wandb took wandb.init's
    options here, and one built without refused them in the tests after."""
    monkeypatch.setitem(sys.modules, "wandb", None)
    monkeypatch.setattr("jsonargparse._typehints._cached_class_parsers", {})


@pytest.mark.parametrize("mode", ["offline", "disabled"])
def test_without_wandb_installed_a_wandb_logger_is_refused_in_one_line(mode, tmp_path, monkeypatch, capsys):
    """Without the wandb package a fit with the W&B logger (WANDB_MODE=disabled too) printed a 200-line parser
    traceback ("Option 'group' is not accepted"); one line names the package and the way without W&B."""
    from pixeltransformer.cli import cli_main
    from pixeltransformer.errors import InputExit

    without_wandb(monkeypatch)
    monkeypatch.setenv("WANDB_MODE", mode)
    argv = ["pixeltransformer", "fit", "--config", str(REPO / "configs/trainer/default.yaml"), "--config",
            str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
            "--run_root", str(tmp_path / "runs"), "--run_name", "w"]
    run = tmp_path / "runs" / "polynomial" / "w"
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(InputExit):
        cli_main()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert not run.exists()
    assert line == ("error: trainer.logger is W&B's WandbLogger, but the wandb package is not installed here: pip "
                    "install wandb, or run without W&B: make ... ARGS=--trainer.logger=false")
    monkeypatch.setattr("sys.argv", [*argv, "--trainer.logger=false"])  # the way the line names
    cli_main()
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_without_wandb_installed_barebones_runs_as_it_did(tmp_path, monkeypatch, capsys):
    """--trainer.barebones=true turns the W&B logger off, and without the wandb package its fit ran to the end; the
    check for the package refused it."""
    from pixeltransformer.cli import cli_main

    without_wandb(monkeypatch)
    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", "--config", str(REPO / "configs/polynomial.yaml"),
                                     *SMOKE_WANDB, *DATA_SMOKE["polynomial"], "--trainer.barebones=true",
                                     "--run_root", str(tmp_path / "runs"), "--run_name", "b"])
    cli_main()
    assert "ended at step 2" in capsys.readouterr().out.strip().splitlines()[-1]


def test_without_wandb_installed_a_run_s_config_is_refused_naming_the_package(tmp_path, monkeypatch, capsys):
    """A run's config.yaml holds wandb.init's options (entity, group, ...), which the parser takes only with the
    wandb package: without it a resume, or an evaluation with the config the fit's last line names, was refused with
    "trainer.logger: Option 'entity' is not accepted (WandbLogger)", and --trainer.logger=false did not help. The
    line names the package."""
    from pixeltransformer.cli import cli_main
    from pixeltransformer.errors import InputExit

    monkeypatch.setenv("WANDB_MODE", "disabled")  # its config.yaml as offline; no W&B run left for the tests after
    run = tmp_path / "runs" / "polynomial" / "w"
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
          "--run_root", str(tmp_path / "runs"), "--run_name", "w"])
    without_wandb(monkeypatch)
    for argv in (["fit", "--resume", str(run), "--trainer.max_steps=4"],
                 ["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints/last.ckpt"),
                  "--trainer.logger=false"]):
        monkeypatch.setattr("sys.argv", ["pixeltransformer", *argv])
        with pytest.raises(InputExit):
            cli_main()
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line == (f"error: {run / 'config.yaml'}: trainer.logger is W&B's WandbLogger with wandb.init's option "
                        "'entity', but the wandb package is not installed here: pip install wandb"), line


def test_the_wandb_probe_tries_the_server_and_proxy_the_logger_names(wandb_unreachable):
    """The W&B probe read W&B's global settings alone: a self-hosted server or a proxy the logger's
    init_args.settings named (which wandb.init uses) was refused as W&B's own server, and a logger with mode: offline
    was probed too."""
    from wandb.sdk.wandb_settings import Settings

    from pixeltransformer.wandbsetup import check_wandb_reachable

    server = {"base_url": "https://wandb.example.org:8443"}
    for settings in (server, Settings(**server)):  # a dict (the Python API's) or W&B's settings (a config's)
        with pytest.raises(ConnectionError, match=r"W&B: https://wandb.example.org:8443 cannot be reached"):
            check_wandb_reachable({"settings": settings})
    assert wandb_unreachable == [("wandb.example.org", 8443)] * 2
    check_wandb_reachable({"settings": {**server, "https_proxy": "http://proxy.example.org:3128"}})
    check_wandb_reachable({"settings": {**server, "http_proxy": "http://proxy.example.org:3128"}})
    check_wandb_reachable({"mode": "offline"})
    check_wandb_reachable({"settings": {"mode": "disabled"}})
    assert len(wandb_unreachable) == 2  # none of these tried a connection


def test_no_proxy_alone_leaves_the_wandb_probe_on(wandb_unreachable, monkeypatch):
    """no_proxy (hosts reached directly) without a proxy turned the W&B probe off: urllib's proxies held its "no"
    entry, taken for a proxy."""
    from pixeltransformer.wandbsetup import check_wandb_reachable

    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    with pytest.raises(ConnectionError, match="cannot be reached from this machine"):
        check_wandb_reachable()
    assert len(wandb_unreachable) == 1


def test_the_wandb_probe_starts_no_wandb_service(wandb_unreachable, monkeypatch):
    """The W&B probe read W&B's settings through wandb.setup(), which starts W&B's background service process (about
    0.2 s) even where the probe then refused; the settings alone are read now."""
    from wandb.sdk import wandb_setup

    from pixeltransformer.wandbsetup import check_wandb_reachable

    def no_service(self):
        raise AssertionError("W&B's service process started")

    monkeypatch.setattr(wandb_setup._WandbSetup, "ensure_service", no_service)
    with pytest.raises(ConnectionError, match="cannot be reached from this machine"):
        check_wandb_reachable()


def test_the_wandb_probe_steps_aside_on_a_wandb_without_its_settings_reader(wandb_unreachable, monkeypatch):
    """W&B releases the project takes (wandb>=0.16) whose settings reader is missing or not yet set up stopped every
    online fit with a traceback from the probe; the probe steps aside there, leaving W&B to its own timeout."""
    from wandb.sdk import wandb_setup

    from pixeltransformer.wandbsetup import check_wandb_reachable

    monkeypatch.setattr(wandb_setup, "singleton", lambda: None)  # a release whose singleton is made by wandb.setup
    check_wandb_reachable()
    monkeypatch.delattr(wandb_setup, "singleton")  # a release without it
    check_wandb_reachable()
    assert wandb_unreachable == []  # nothing probed


def test_the_wandb_probe_runs_only_where_wandb_is_contacted(wandb_unreachable, tmp_path, monkeypatch):
    """A fit with --trainer.fast_dev_run logs to no W&B run (Lightning's DummyLogger), yet its W&B server was probed
    and the fit refused on a machine without network; a DDP child process, which never talks to W&B, probes none."""
    fit = ["--config", str(REPO / "configs/trainer/default.yaml"), "--config", str(REPO / "configs/polynomial.yaml"),
           *SMOKE_WANDB, *DATA_SMOKE["polynomial"], "--run_root", str(tmp_path)]
    main([*fit, "--trainer.fast_dev_run=true", "--run_name", "dev"], run=False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    main([*fit, "--run_name", "dev"], run=False)  # the folder the first process made
    assert wandb_unreachable == []


def test_a_rank_whose_error_another_rank_reported_exits_2_without_a_line(monkeypatch, capsys):
    """Under DDP the first rank to fail prints the error (errors.first_to_report); the others exit with status 2."""
    from pixeltransformer import errors

    monkeypatch.setattr(errors, "first_to_report", lambda: False)
    with pytest.raises(errors.InputExit) as caught:
        errors.fail(ValueError("the val split is empty"))
    assert caught.value.code == 2 and str(caught.value) == "error: the val split is empty"
    assert capsys.readouterr().err == ""
    monkeypatch.undo()
    with pytest.raises(errors.InputExit):  # one process, no process group: it reports
        errors.fail("the val split is empty")
    assert capsys.readouterr().err == "error: the val split is empty\n"


class FailAtStart(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        raise ValueError("stopped before the first step")


class FailInTest(L.Callback):
    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        raise ValueError("stopped in the test loop")


class AnotherRecordThenFail(L.Callback):
    """Another command's W&B record begins in the run folder (an evaluation of another checkpoint), then this one
    fails."""

    own: list[Path] = []  # the failing evaluation's own record, as W&B began it

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        import wandb

        self.own.append(Path(wandb.run.dir).parent)  # offline-run-<time>-<id>/files -> offline-run-<time>-<id>
        assert self.own[-1].is_dir()
        other = Path(trainer.log_dir) / "wandb" / "offline-run-20990101_000000-other"
        (other / "logs").mkdir(parents=True)
        (other / "run-other.wandb").write_bytes(b"W&B record")
        raise ValueError("stopped in the test loop")


class RecordsWhileEvaluating(L.Callback):
    """What an evaluation's W&B run has written while it runs: its record, and the records in <run>/wandb/."""

    seen: list[tuple[Path, list[str]]] = []

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        import wandb

        records = sorted(p.name for p in (Path(trainer.log_dir) / "wandb").glob("offline-run-*"))
        self.seen.append((Path(wandb.run.dir).parent, records))  # offline-run-<time>-<id>/files -> its record


class CtrlCInTest(L.Callback):
    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the main thread


class SigtermInTest(L.Callback):
    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        raise SIGTERMException  # what Lightning's evaluation loop raises after a batch once SIGTERM came


class FailAtTestEnd(L.Callback):
    def on_test_end(self, trainer, pl_module) -> None:
        raise ValueError("stopped at the end of the test loop")


def test_a_failed_evaluation_leaves_the_earlier_config_and_metrics(trained_polynomial):
    """An evaluation's config is written after its metrics: one that fails leaves eval/ holding the earlier
    evaluation's config and metrics, not a new config beside old metrics. A first evaluation that fails leaves no
    eval/, so its partial files are never taken for an earlier evaluation."""
    own = trained_polynomial / "eval"
    args = ["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            "--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt")]
    main(args)
    before = _files(own)
    assert {"config_test.yaml", "metrics.json", "pictures/functions0.png"} <= set(before)
    with pytest.raises(ValueError, match="stopped in the test loop"):  # after the evaluation's callbacks
        main([*args, "--trainer.callbacks+=test_cli.FailInTest", "--seed_everything=123"])
    assert _files(own) == before
    assert not list(trained_polynomial.glob(".eval*"))
    shutil.rmtree(own)
    with pytest.raises(ValueError, match="stopped at the end of the test loop"):  # after metrics.json and pictures
        main([*args, "--trainer.callbacks+=test_cli.FailAtTestEnd", "--seed_everything=123"])
    assert not own.exists() and not list(trained_polynomial.glob(".eval*"))
    main(args)
    assert _files(own).keys() == before.keys()


def test_an_evaluation_that_runs_no_test_batch_is_refused_and_keeps_the_earlier_one(trained_polynomial):
    """--trainer.limit_test_batches=0 skips the test loop: the evaluation ended with no metrics, and eval/ was
    replaced by a folder holding its config_test.yaml alone (the earlier metrics.json and pictures deleted, exit 0)."""
    own, args, before = _evaluated(trained_polynomial)
    with pytest.raises(ValueError, match=r"^the evaluation ran no test batch \(trainer.limit_test_batches=0\), so it "
                                         r"has no metrics: .*/eval is left as it was$"):
        main([*args, "--trainer.limit_test_batches=0"])
    assert _files(own) == before
    assert not list(trained_polynomial.glob(".eval*"))


def test_a_test_without_a_sweep_keeps_the_earlier_evaluation_and_writes_apart(trained_polynomial, tmp_path, capsys):
    """A test whose trainer.callbacks hold no SweepEvaluation (Pictures alone, or none) wrote its config_test.yaml,
    command.txt and pictures into eval/ beside the earlier evaluation's metrics.json, and its closing line named that
    metrics.json as its own: `make results` published the earlier numbers under its command line. It writes into
    eval-nosweep/ now, replaced as a whole as eval/ is, and its closing line names what it wrote."""
    own, args, before = _evaluated(trained_polynomial)
    pictures = tmp_path / "nosweep.yaml"
    pictures.write_text("trainer:\n  callbacks:\n    - class_path: pixeltransformer.callbacks.Pictures\n"
                        "      init_args: {levels: [4], num_samples: 1, resolution: 16}\n")
    apart = trained_polynomial / "eval-nosweep"
    capsys.readouterr()
    main([*args, "--config", str(pictures)])
    assert _files(own) == before
    assert {"config_test.yaml", "command.txt", "pictures/functions0.png"} <= set(_files(apart))
    assert not (apart / "metrics.json").exists()
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"[run] test: {apart} ended: config_test.yaml, command.txt, pictures/ (no metrics.json: no SweepEvaluation "
        "among trainer.callbacks)")
    main([*args, "--trainer.callbacks=[]"])  # again: the earlier test's pictures do not stay beside its files
    assert set(_files(apart)) == {"config_test.yaml", "command.txt"} and _files(own) == before
    assert not list(trained_polynomial.glob(".eval*"))


def test_a_second_evaluation_sweep_into_the_same_folder_is_refused(trained_polynomial):
    """`--trainer.callbacks+=...SweepEvaluation --trainer.callbacks.max_items=2` (to change the config's evaluation from
    the command line) added a second sweep: both ran, and the second's metrics.json replaced the first's, exit 0."""
    own, args, before = _evaluated(trained_polynomial)
    with pytest.raises(ValueError, match=r"^2 SweepEvaluation callbacks would each write metrics.json in the "
                                         r"evaluation folder, the later over the earlier: set the config's own sweep's "
                                         r"options without adding one, --trainer.callbacks.<option>=\.\.\. \(no \+=: "
                                         r"it sets the last callback, the sweep in the shipped configs\)$"):
        main([*args, "--trainer.callbacks+=pixeltransformer.evaluation.SweepEvaluation",
              "--trainer.callbacks.max_items=2"])
    assert _files(own) == before
    assert not list(trained_polynomial.glob(".eval*"))
    main([*args, "--trainer.callbacks.max_items=2"])  # what the line says: the config's sweep, its option set
    assert json.loads((own / "metrics.json").read_text())["rows"] != json.loads(before["metrics.json"])["rows"]


def test_a_max_items_above_the_test_split_says_how_many_were_evaluated(trained_polynomial, tmp_path, capsys):
    """max_items: 100 on a test split of 4 functions evaluated the 4 without a word, and metrics.json kept no count:
    the means looked like those of 100 items."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("trainer:\n  callbacks:\n    - class_path: pixeltransformer.evaluation.SweepEvaluation\n"
                     "      init_args: {levels: [4], queries: 20, max_items: 100}\n")
    main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"], "--config",
          str(sweep), "--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt")])
    assert ("[pixeltransformer] max_items 100: 4 test items were evaluated, all that the test split (within "
            "trainer.limit_test_batches) holds") in capsys.readouterr().out.splitlines()
    metrics = json.loads((trained_polynomial / "eval" / "metrics.json").read_text())
    assert metrics["num_items"] == 4 and metrics["max_items"] == 100  # the count its means are over, in the file too


def test_an_evaluation_of_part_of_the_test_split_says_its_items_in_one_data_line(trained_polynomial, tmp_path, capsys):
    """max_items: 2 on a test split of 4 functions printed two [data] lines, "[data] test 4 functions", then "[data]
    the test reads the first 2 of the 4 functions: the evaluation's max_items" correcting it. One line says both."""
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("trainer:\n  callbacks:\n    - class_path: pixeltransformer.evaluation.SweepEvaluation\n"
                     "      init_args: {levels: [4], queries: 20, max_items: 2, num_samples: 0}\n")
    capsys.readouterr()
    main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"], "--config",
          str(sweep), "--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt")])
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[data]")]
    assert said == ["[data] test 4 functions (the test reads the first 2: the evaluation's max_items)"]
    assert json.loads((trained_polynomial / "eval" / "metrics.json").read_text())["num_items"] == 2


def test_a_failed_evaluation_takes_back_its_own_wandb_record_alone(trained_polynomial, tmp_path, monkeypatch):
    """A failed evaluation took back every W&B record added to <run>/wandb/ since it began: one that another command
    on the run folder (an evaluation of another checkpoint, begun meanwhile) was still writing went too."""
    import wandb

    run = _run_of(trained_polynomial, tmp_path)
    record_wandb_logs(monkeypatch, tmp_path)
    with pytest.raises(ValueError, match="stopped in the test loop"):
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
              "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
              "--trainer.callbacks+=test_cli.AnotherRecordThenFail"])
    wandb.finish()
    own = AnotherRecordThenFail.own.pop()
    assert own.parents[2] == run / "wandb" and own.name.startswith("offline-run-") and not own.exists()
    assert not list((run / "wandb").glob(".evaluation*"))  # nor its staging folder
    assert [p.name for p in (run / "wandb").glob("offline-run-*")] == ["offline-run-20990101_000000-other"]
    assert (run / "wandb" / "offline-run-20990101_000000-other" / "run-other.wandb").read_bytes() == b"W&B record"


def test_an_evaluation_s_wandb_record_joins_the_run_folder_once_it_has_ended(trained_polynomial, tmp_path,
                                                                            monkeypatch, ended_pid):
    """An evaluation's offline W&B record was written into <run>/wandb/ as it set up, long before it had a number:
    one killed (kill -9, out of memory) left it there, a run with a config and no result, which `wandb sync
    <run>/wandb/offline-run-*` uploaded into the run's group. It is written in a hidden staging folder now and joins
    <run>/wandb/ when the evaluation has ended; the next evaluation removes what a killed one staged."""
    from pixeltransformer.files import _writer

    run = _run_of(trained_polynomial, tmp_path)
    killed = run / "wandb" / f".evaluation.{_writer().rpartition('.')[0]}.{ended_pid}.0a1b2c3d.partial"
    (killed / "wandb" / "offline-run-20990101_000000-killed" / "files").mkdir(parents=True)
    record_wandb_logs(monkeypatch, tmp_path)
    finished = record_wandb_runs(monkeypatch)
    main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
          "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
          "--trainer.callbacks+=test_cli.RecordsWhileEvaluating"])
    record, during = RecordsWhileEvaluating.seen.pop()
    assert during == []  # while it ran, <run>/wandb/ held no record of it: a kill there leaves none
    assert record.parents[1].name.startswith(".evaluation.") and record.parents[2] == run / "wandb"
    assert [(f["job_type"], f["record"].name) for f in finished] == [("test", record.name)]
    assert finished[0]["summary"]["eval/checkpoint_step"] == 6
    assert sorted(p.name for p in (run / "wandb").iterdir()) == [record.name]  # the killed one's staging gone too
    assert (run / "wandb" / record.name / "files").is_dir()


def test_an_evaluation_whose_wandb_staging_fails_puts_the_earlier_one_back(trained_polynomial, tmp_path, monkeypatch):
    """The W&B staging folder is made after the earlier evaluation is set aside: one that could not be made (a
    read-only wandb/) left the earlier eval/ hidden in .eval.previous until the next command."""
    import pixeltransformer.cli as cli_module

    run = _run_of(trained_polynomial, tmp_path)
    (run / "eval").mkdir()
    (run / "eval" / "metrics.json").write_text('{"earlier": true}')

    def read_only(folder):
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(cli_module, "stage_record", read_only)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises((PermissionError, SystemExit)):
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
              "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert (run / "eval" / "metrics.json").read_text() == '{"earlier": true}'
    assert not (run / ".eval.previous").exists()


def test_a_prediction_begins_no_wandb_run(trained_polynomial, tmp_path, monkeypatch):
    """`pixeltransformer predict` (not `make sample`, which disables W&B) began a W&B run of its own that logged
    nothing, no config and no number: an empty record in <run>/wandb/ for each prediction, an empty run in the run's
    group once synced, and the W&B links pointed at it. A prediction's record is its folder and prediction.json."""
    import wandb

    run = _run_of(trained_polynomial, tmp_path)
    record_wandb_logs(monkeypatch, tmp_path)
    main(["predict", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *DATA_SMOKE["polynomial"],
          "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--context", "[[-0.5, 1.2], [0.1, 0.3]]"])
    assert (run / "predict" / "context" / "prediction.json").is_file()
    assert wandb.run is None and not (run / "wandb").exists()


def _evaluated(run: Path) -> tuple[Path, list[str], dict[str, bytes]]:
    """A first evaluation of the run: its eval/ folder, the command that wrote it and the files it holds."""
    own = run / "eval"
    args = ["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    main(args)
    return own, args, _files(own)


def test_an_evaluation_stopped_by_ctrl_c_says_what_it_kept(trained_polynomial, capsys):
    """Lightning says only "Detected KeyboardInterrupt, attempting graceful shutdown" (the command then ends as a
    Ctrl-C does); the earlier evaluation is put back, and the last line says so (or that a first evaluation left
    nothing)."""
    import signal

    own, args, before = _evaluated(trained_polynomial)
    capsys.readouterr()
    try:
        for kept in ("eval/ keeps the earlier evaluation, unchanged", "nothing of it was kept"):
            with pytest.raises(StageInterrupted):
                main([*args, "--trainer.callbacks+=test_cli.CtrlCInTest"])
            lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")]
            assert lines[-1] == f"[run] Ctrl-C: the evaluation stopped before its end; {kept}"
            assert _files(own) == before if own.exists() else not kept.startswith("eval/")
            shutil.rmtree(own, ignore_errors=True)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores SIGINT from its shutdown on
    assert not list(trained_polynomial.glob(".eval*"))
    main(args)


def test_an_evaluation_stopped_by_sigterm_is_not_said_to_be_ctrl_c(trained_polynomial, capsys):
    """A scheduler's SIGTERM (SLURM's preemption, `kill`) during an evaluation: the line names SIGTERM, not Ctrl-C
    (Lightning marks the trainer interrupted for any error, a SIGTERM too), and the run exits 143."""
    own, args, before = _evaluated(trained_polynomial)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--trainer.callbacks+=test_cli.SigtermInTest"])
    assert stopped.value.code == 143
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")]
    assert lines[-1] == ("[run] SIGTERM: the evaluation stopped before its end; eval/ keeps the earlier evaluation, "
                         "unchanged")
    assert _files(own) == before


def test_the_next_command_puts_back_an_evaluation_that_a_killed_one_set_aside(trained_polynomial, capsys):
    """An evaluation killed (kill -9, SLURM) leaves the earlier one in .eval.previous and no eval/: the next command
    on the run folder puts it back before it writes (a validate adds config_validate.yaml beside it)."""
    own = trained_polynomial / "eval"
    args = ["--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            "--ckpt_path", str(trained_polynomial / "checkpoints" / "last.ckpt")]
    main(["test", *args])
    before = _files(own)
    own.rename(trained_polynomial / ".eval.previous")  # as a killed evaluation leaves it
    main(["validate", *args])
    assert "[run] eval/: put back the earlier evaluation, which an evaluation that did not end (killed) had set " \
           "aside in .eval.previous" in capsys.readouterr().out.splitlines()
    assert _files(own) == before | {"config_validate.yaml": (own / "config_validate.yaml").read_bytes()}
    assert not list(trained_polynomial.glob(".eval*"))
    (own / "config_validate.yaml").unlink()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_new_evaluation_replaces_the_folder_as_a_whole(trained_polynomial, capsys):
    """Evaluating again replaces eval/ whole (no file of the earlier evaluation stays beside the new ones); another
    checkpoint of the run is evaluated into eval-<checkpoint>/, beside eval/."""
    own = trained_polynomial / "eval"
    last = trained_polynomial / "checkpoints" / "last.ckpt"
    args = ["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"]]
    main([*args, "--ckpt_path", str(last)])
    stale = own / "pictures" / "functions7.png"  # as an earlier evaluation that drew more examples would leave
    stale.write_bytes((own / "pictures" / "functions0.png").read_bytes())
    main([*args, "--ckpt_path", str(last)])
    assert not stale.exists() and (own / "metrics.json").is_file() and (own / "config_test.yaml").is_file()
    assert "[run] eval/ holds an earlier evaluation: this one replaces it when it ends" in capsys.readouterr().out
    before = _files(own)
    main(["validate", *args[1:], "--ckpt_path", str(last)])  # writes config_validate.yaml beside the test's files
    assert _files(own).keys() == before.keys() | {"config_validate.yaml"}
    pictures = trained_polynomial / "pictures"  # the validation's pictures carry the checkpoint's step, not 0
    assert list(pictures.glob("*_step000006.png")) and not list(pictures.glob("*_step000000.png"))
    (own / "config_validate.yaml").unlink()
    best = trained_polynomial / "checkpoints" / "best-step000099.ckpt"
    shutil.copy(last, best)
    main([*args, "--ckpt_path", str(best)])
    other = trained_polynomial / "eval-best-step000099"
    assert json.loads((other / "metrics.json").read_text())["checkpoint"] == str(best)
    assert (other / "config_test.yaml").is_file() and (other / "pictures" / "functions0.png").is_file()
    assert _files(own) == before
    assert not list(trained_polynomial.glob(".eval*"))


def test_a_failed_start_leaves_no_run_folder(tmp_path, capsys):
    """The [run] line named the folder first; the line under it says it was not kept."""
    cfg = tmp_path / "fail.yaml"
    cfg.write_text("trainer:\n  callbacks:\n    - class_path: test_cli.FailAtStart\n")
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(cfg), *SMOKE,
            *DATA_SMOKE["polynomial"], "--run_root", str(tmp_path / "runs"), "--run_name", "x"]
    with pytest.raises(ValueError, match="stopped before the first step"):
        main(args)
    assert not (tmp_path / "runs" / "polynomial" / "x").exists()
    run = tmp_path / "runs" / "polynomial" / "x"
    first, what, last = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")]
    assert (first, last) == (f"[run] fit: {run}", f"[run] fit: {run} not kept: the fit stopped before its first step")
    assert re.fullmatch(r"\[run\] fit polynomial/polynomial: [\d,]+ parameters, on cpu, precision 32-true", what), what


def test_a_fit_that_fails_after_training_before_its_first_save_says_its_folder_is_kept(tmp_path, capsys):
    """Bad input met at step 2, before the first checkpoint (every 4 steps): the folder, which holds what the fit
    logged, is kept, and a line under the [run] line says that it holds no checkpoint and what the user can do."""
    cfg = tmp_path / "fail.yaml"
    cfg.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.RankFails\n"
                   "      init_args: {rank: 0, step: 2}\n")
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(cfg), *SMOKE,
            *DATA_SMOKE["polynomial"], "--trainer.max_steps=6", "--trainer.val_check_interval=4",
            "--checkpoint.every_n_train_steps=4", "--run_root", str(tmp_path / "runs"), "--run_name", "x"]
    with pytest.raises(ValueError, match="rank 0: a bad item at step 2"):
        main(args)
    run = tmp_path / "runs" / "polynomial" / "x"
    assert (run / "config.yaml").is_file() and not list(run.rglob("*.ckpt"))
    last = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")][-1]
    assert last == f"[run] fit: {run} {KEPT_UNSAVED.format(run=run)}", last


def test_a_fast_dev_run_says_what_it_runs_too(tmp_path, capsys):
    """Lightning adds no config callback to a fast_dev_run, and that callback printed the line naming what a command
    runs: a fast_dev_run's log went from its folder's line to its end. The CLI prints it itself, for every command."""
    run = tmp_path / "runs" / "polynomial" / "x"
    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
          "--trainer.fast_dev_run=true", "--run_root", str(tmp_path / "runs"), "--run_name", "x"])
    first, what, last = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")]
    assert (first, last) == (f"[run] fit: {run}", f"[run] fit: {run} not kept: a fast_dev_run keeps no run folder")
    assert re.fullmatch(r"\[run\] fit polynomial/polynomial: [\d,]+ parameters, on cpu, precision 32-true", what), what


def test_bad_data_found_after_the_run_line_before_its_folder_adds_no_run_line(tmp_path, capsys):
    """A DataModule option refused while the classes are built, after the [run] line named the folder but before
    anything was written: the refusal's line alone says what to do (a line saying a folder that was never made was
    "not kept" was noise under it)."""
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            "--data.init_args.batch_size=-4", "--run_root", str(tmp_path / "runs"), "--run_name", "x"]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got -4"):
        main(args)
    run = tmp_path / "runs" / "polynomial" / "x"
    assert not (tmp_path / "runs").exists()
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")] == [f"[run] fit: {run}"]


def test_a_fast_dev_run_refused_before_its_folder_adds_no_run_line(tmp_path, capsys):
    """A fast_dev_run whose data is refused once its trainer is built (an MNIST root without MNIST's files): nothing
    was written, and the refusal's line alone says what to do; "not kept: a fast_dev_run keeps no run folder" under
    it spoke of a run that never began."""
    args = ["fit", "--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/images/mnist.yaml"),
            *SMOKE, *DATA_SMOKE["images"], f"--data.init_args.root={tmp_path / 'none'}", "--trainer.fast_dev_run=true",
            "--run_root", str(tmp_path / "runs"), "--run_name", "x"]
    with pytest.raises(FileNotFoundError, match="MNIST test images not found"):
        main(args)
    run = tmp_path / "runs" / "images" / "x"
    assert not (tmp_path / "runs").exists()
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("[run]")] == [f"[run] fit: {run}"]


@pytest.mark.parametrize("option", ["--trainer.max_steps=0", "--trainer.max_epochs=0", "--trainer.max_steps=-3"])
def test_a_fit_of_no_steps_is_refused_before_its_folder(tmp_path, capsys, option):
    """max_steps=0 (or max_epochs=0) stopped the fit before its first step and left a run folder without a
    checkpoint; it is refused in one line before the run folder is named."""
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"], option,
            "--run_root", str(tmp_path / "runs"), "--run_name", "none"]
    key, value = option[2:].split("=")
    with pytest.raises(ValueError, match=rf"^{key} must be >= 1 for fit, or -1 for no limit \(got {value}\)$"):
        main(args)
    assert not (tmp_path / "runs").exists()
    assert "[run]" not in capsys.readouterr().out


@pytest.mark.parametrize("value, shown", [("00:00:00:00", "00:00:00:00"), ("{}", "{}"),
                                          ('{"minutes": -5}', "{'minutes': -5}")])
def test_a_fit_of_no_time_is_refused_before_its_folder(tmp_path, capsys, value, shown):
    """max_time=00:00:00:00 (or a duration below it) stopped the fit before its first step with exit 0 and left a
    run folder without a checkpoint, as max_steps=0 did: refused in one line before the run folder is named."""
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            f"--trainer.max_time={value}", "--run_root", str(tmp_path / "runs"), "--run_name", "none"]
    with pytest.raises(ValueError, match=re.escape(
            f"trainer.max_time must be above 0 for fit (got {shown}): a fit of no time stops before its first step "
            f"and saves no checkpoint; null: no time limit")):
        main(args)
    assert not (tmp_path / "runs").exists()
    assert "[run]" not in capsys.readouterr().out


@pytest.mark.parametrize("value, cause", [('{"hourz": 1}', r"\{'hourz': 1\} is no duration \(.*hourz.*\)"),
                                          ("1:00:00", r"1:00:00 is no duration")])
def test_a_max_time_that_is_no_duration_is_refused_before_its_folder(tmp_path, capsys, value, cause):
    """A misspelled max_time key ended in a TypeError traceback from Lightning's Timer, and a string other than
    DD:HH:MM:SS was refused by Lightning only after the run folder was named: both are refused in one line first."""
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            f"--trainer.max_time={value}", "--run_root", str(tmp_path / "runs"), "--run_name", "none"]
    with pytest.raises(ValueError, match=rf"^trainer.max_time: {cause}; give DD:HH:MM:SS \(00:01:00:00: an hour\) "
                                         r"or a mapping of days/hours/minutes/seconds \(null: no time limit\)$"):
        main(args)
    assert not (tmp_path / "runs").exists()
    assert "[run]" not in capsys.readouterr().out


@pytest.mark.parametrize("option, refused", [
    ("--trainer.accumulate_grad_batches=-2", r"trainer.accumulate_grad_batches must be >= 1 batches an optimizer "
                                             r"step \(1: no accumulation\), got -2"),
    ("--trainer.accumulate_grad_batches=0", r"trainer.accumulate_grad_batches must be >= 1 .*, got 0"),
    ("--trainer.val_check_interval=0", r"trainer.val_check_interval must be >= 1 \(training batches between "
                                       r"validations\), got 0; --trainer.limit_val_batches=0 turns validation off"),
    ("--trainer.gradient_clip_val=-1", r"trainer.gradient_clip_val must be >= 0, got -1(\.0)?: a negative value "
                                       r"clips nothing, as 0 or null \(no clipping\) does"),
    ("--trainer.check_val_every_n_epoch=0", r"trainer.check_val_every_n_epoch must be >= 1 \(epochs between "
                                            r"validations; null: every val_check_interval batches\), got 0; "
                                            r"--trainer.limit_val_batches=0 turns validation off"),
    ("--trainer.val_check_interval=0.5", r"trainer.val_check_interval=0.5 is a fraction of an epoch, but "
                                         r"trainer.check_val_every_n_epoch is null \(configs/trainer/default.yaml: "
                                         r"validations every val_check_interval training batches, across epochs\): "
                                         r"give --trainer.check_val_every_n_epoch=1 with it, or a whole number of "
                                         r"batches"),
    ("--trainer.min_steps=6", r"trainer.min_steps=6 is above trainer.max_steps=2, which stops the fit first: give "
                              r"--trainer.max_steps=6 or more, or leave out min_steps"),
    ("--trainer.min_epochs=3", r"trainer.min_epochs=3 is above trainer.max_epochs=1, which stops the fit first: give "
                               r"--trainer.max_epochs=3 or more, or leave out min_epochs"),
])
def test_step_settings_lightning_misuses_are_refused_before_the_folder(tmp_path, capsys, option, refused):
    """accumulate_grad_batches=-2 divided each loss by -2 (gradient ascent every 2 batches) without a word, 0 stopped
    the first step with ZeroDivisionError; val_check_interval=0 raised ZeroDivisionError after the first step and
    left a run folder without a checkpoint; a negative gradient_clip_val clipped nothing; check_val_every_n_epoch=0
    stopped the sanity check with a ZeroDivisionError's traceback; val_check_interval=0.5 (twice an epoch) was refused
    by Lightning after the run folder was named, for a check_val_every_n_epoch=None the user had not given; a
    min_steps above max_steps (or min_epochs above max_epochs) was dropped without a word, the maximum stopping the
    fit. Each is refused in one line before the run folder is named."""
    epochs = ["--trainer.max_epochs=1"] if "epochs" in option else []
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"], *epochs,
            option, "--run_root", str(tmp_path / "runs"), "--run_name", "bad"]
    with pytest.raises(ValueError, match=rf"^{refused}$"):
        main(args)
    assert not (tmp_path / "runs").exists()
    assert "[run]" not in capsys.readouterr().out


def test_a_monitor_the_validation_does_not_log_stops_the_fit_before_training(tmp_path, capsys):
    """A misspelt --checkpoint.monitor was found at the end of the first validation, val_check_interval steps into
    training (Lightning's own check). It is refused when the sanity check ends, naming what the validation logs, and
    the run folder goes (the CLI's line: "error: trainer settings: " and this message)."""
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            "--model.val_levels=[4,6]", "--checkpoint.monitor=val/nl", "--trainer.val_check_interval=50",
            "--trainer.max_steps=100", "--run_root", str(tmp_path / "runs"), "--run_name", "typo"]
    with pytest.raises(MisconfigurationException, match=r"^checkpoint\.monitor 'val/nl' is not logged by the "
                       r"validation, which logs: val/nll@4, val/nll@6, val/nll \(--checkpoint\.monitor=null: no best "
                       r"checkpoint\)$"):
        main(args)
    assert not (tmp_path / "runs" / "polynomial" / "typo").exists()
    assert "not kept: the fit stopped before its first step" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "0.0"])
def test_a_fit_of_no_training_batches_is_refused_before_its_folder(tmp_path, capsys, trained_polynomial, value):
    """limit_train_batches=0 ran a fit of no step: a new run left a folder that could be neither resumed nor
    evaluated, and a resume wrote the setting into its run's config.yaml (and command.txt). Both are refused in one
    line, and nothing is written."""
    args = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
            f"--trainer.limit_train_batches={value}", "--run_root", str(tmp_path / "runs"), "--run_name", "none"]
    refused = rf"^trainer.limit_train_batches must be above 0 for fit \(got {value}\): a fit of no training batch " \
              r"saves no checkpoint; to validate a checkpoint alone: pixeltransformer validate --ckpt_path CKPT$"
    with pytest.raises(ValueError, match=refused):
        main(args)
    assert not (tmp_path / "runs").exists()
    assert "[run]" not in capsys.readouterr().out
    before = {p: p.read_bytes() for p in trained_polynomial.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=refused):
        main(["fit", "--resume", str(trained_polynomial), "--trainer.max_steps=12",  # past its step, 6
              f"--trainer.limit_train_batches={value}"])
    assert {p: p.read_bytes() for p in trained_polynomial.rglob("*") if p.is_file()} == before
    # a fast_dev_run sets the batches itself: it trains, and keeps no folder
    cli = main([*args, "--trainer.fast_dev_run=true"])
    assert cli.trainer.global_step == 1 and not (tmp_path / "runs" / "polynomial" / "none").exists()


def test_a_resume_that_trains_nothing_or_names_another_run_writes_nothing(trained_polynomial):
    """A resume to a max_steps below its checkpoint's step trained nothing and rewrote the run's config.yaml with
    the smaller value; one given a --run_name continued the run, ignoring the name but recording it in command.txt.
    Both are refused in one line, before anything is written."""
    before = {p: p.read_bytes() for p in trained_polynomial.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=rf"^--resume {re.escape(str(trained_polynomial))}: the run is at step 6, "
                                         r"past trainer.max_steps=4; give a larger one to train on \(e.g. "
                                         r"--trainer.max_steps=12\)$"):
        main(["fit", "--resume", str(trained_polynomial), "--trainer.max_steps=4"])
    with pytest.raises(ValueError, match=r"continues that run in its own folder, and --run_name other would name a "):
        main(["fit", "--resume", str(trained_polynomial), "--trainer.max_steps=12", "--run_name", "other"])
    assert {p: p.read_bytes() for p in trained_polynomial.rglob("*") if p.is_file()} == before


def test_a_test_without_a_checkpoint_names_the_option(tmp_path):
    """test without --ckpt_path failed on a lock file in a run folder that was never made
    ([Errno 2] ... .eval.lock); validate without one scores the seeded model (tests/cli/test_validation_items.py)."""
    with pytest.raises(ValueError, match=r"^test needs --ckpt_path: the checkpoint to evaluate \(make eval "
                                         r"CKPT=...\); validate without one scores the seeded, untrained model$"):
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
              "--run_root", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_an_unknown_wandb_mode_is_refused_before_the_run(tmp_path, monkeypatch):
    """The CLI ran any WANDB_MODE but online offline: WANDB_MODE=onlin logged nothing online, without a word."""
    monkeypatch.setenv("WANDB_MODE", "onlin")
    with pytest.raises(ValueError, match=r"^WANDB_MODE=onlin is not a W&B mode the CLI takes: give offline \(the "
                                         r"default\), online or disabled$"):
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
              "--run_root", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def test_a_config_after_the_checkpoint_that_sets_it_back_is_named(tmp_path):
    """A run's config.yaml records ckpt_path: null; given after --ckpt_path (as docs/curves.md once showed) it set
    the checkpoint back, and the command said "test needs --ckpt_path" though one was given; validate scored the
    seeded, untrained model and fit started anew, without a word."""
    run_config = tmp_path / "config.yaml"
    run_config.write_text("ckpt_path: null\nseed_everything: 0\n")
    for sub in ("test", "predict", "validate", "fit"):
        with pytest.raises(ValueError, match=rf"^--config {re.escape(str(run_config))} comes after --ckpt_path and "
                                             r"sets ckpt_path back to null: give --ckpt_path after the last --config$"):
            small = [*SMOKE, *DATA_SMOKE["polynomial"]] if sub in ("validate", "fit") else []  # were the check gone
            main([sub, "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(tmp_path / "x.ckpt"),
                  "--config", str(run_config), *small, "--run_root", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def test_wandb_mode_disabled_writes_no_wandb_files(tmp_path, monkeypatch, capsys):
    """WANDB_MODE=disabled (the README's way to turn W&B off) reaches the logger, which asks for offline itself.
    The command names its run folder first."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE_WANDB, *SETS_SMOKE,
                *DATA_SMOKE["polynomial"], "--run_root", str(tmp_path), "--run_name", "quiet"])
    run = tmp_path / "polynomial" / "quiet"
    assert type(cli.trainer.logger).__name__ == "WandbLogger" and cli.trainer.global_step == 2
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not list(run.rglob("*wandb*")) or [p.name for p in run.rglob("*wandb*")] == ["wandb_id.txt"]
    assert f"[run] fit: {run}" in capsys.readouterr().out
    assert (run / "command.txt").read_text().startswith("pixeltransformer fit --config ")  # as given, one line


def test_a_fit_ends_on_a_line_naming_its_checkpoints_and_the_command_that_evaluates_the_best(tmp_path, capsys):
    """A long fit's first [run] line has scrolled away when it ends: its last line names the folder, the checkpoints
    (the best with its val/nll), the pictures and an evaluation command, which runs as printed. Without validation:
    last.ckpt."""
    fit = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *SETS_SMOKE, *DATA_SMOKE["polynomial"],
           "--run_root", str(tmp_path)]
    cli = main([*fit, "--run_name", "validated"])
    run, score = tmp_path / "polynomial" / "validated", float(cli.trainer.checkpoint_callback.best_model_score)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    best = run / "checkpoints" / "best-step000002.ckpt"
    assert last == (f"[run] fit: {run} ended at step 2: checkpoints/last.ckpt, checkpoints/best-step000002.ckpt "
                    f"(best val/nll {score:.4g}), pictures/ (step 2); evaluate with: pixeltransformer test --config "
                    f"{run}/config.yaml --ckpt_path {best}")
    main(last.split("evaluate with: pixeltransformer ")[1].split() + ["--trainer.limit_test_batches=1"])
    assert (run / "eval-best-step000002" / "metrics.json").is_file()
    # the evaluation's log ended on its config file, after Lightning's table: its last line now names its results
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"[run] test: {run}/eval-best-step000002 ended: metrics.json, metrics_vs_context.png, pictures/")
    main([*fit, "--run_name", "unvalidated", "--trainer.limit_val_batches=0"])
    run = tmp_path / "polynomial" / "unvalidated"
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"[run] fit: {run} ended at step 2: checkpoints/last.ckpt; evaluate with: pixeltransformer test --config "
        f"{run}/config.yaml --ckpt_path {run}/checkpoints/last.ckpt")


def test_a_checkpoint_for_other_data_names_where_its_data_is():
    from pixeltransformer.datahints import data_hint

    assert "DOMAIN=polynomial DATA=gp_tnp_rbf," in data_hint({"domain": "polynomial", "dataset": "gp_tnp_rbf"})
    assert "DOMAIN=polynomial," in data_hint({"domain": "polynomial", "dataset": "polynomial"})  # no overlay
    assert data_hint({}) == ""
    # a prediction needs the domain alone: DATA= is not used by make sample
    assert data_hint({"domain": "images", "dataset": "mnist"}, predict=True) == " (use its domain: DOMAIN=images)"


def test_a_checkpoint_for_other_data_of_the_domain_given_names_what_is_left_to_choose():
    """`make eval DOMAIN=polynomial` of a model of curves from a file was told "use its own data: DOMAIN=polynomial
    DATA=file", the DOMAIN= it was given; the hint for data of the domain given names what differs: the DATA= (with the
    file or folder it read), no DATA= for the domain's default data, the file alone where the dataset was given too,
    and the run's config.yaml alone where only other options differ."""
    from pixeltransformer.datahints import data_hint, own_data

    curves = {"domain": "polynomial", "dataset": "file", "extra": {"source": "curves21.npy"}}
    default = {"domain": "polynomial", "dataset": "polynomial"}
    run = " or the config.yaml of its run folder)"
    assert data_hint(curves, given=default) == f" (use its own data: DATA=file on curves21.npy,{run}"
    assert data_hint(default, given=curves) == f" (use its own data: without DATA=,{run}"
    other_file = {**curves, "extra": {"source": "curves30.npy"}}
    assert data_hint(curves, given=other_file) == f" (use its own data: curves21.npy,{run}"
    assert data_hint(curves, given=curves) == " (use the config.yaml of its run folder: its data is read otherwise)"
    assert data_hint({"domain": "images", "dataset": "folder", "extra": {"source": "faces64"}},
                     given={"domain": "images", "dataset": "digits"}) == (
        f" (use its own data: DATA=cats on faces64,{run}")  # the overlay that reads a folder, and the folder it read
    # another domain: its DOMAIN= (and DATA=) as before
    assert data_hint(curves, given={"domain": "images", "dataset": "digits"}) == (
        f" (use its own data: DOMAIN=polynomial DATA=file on curves21.npy,{run}")
    assert own_data({"domain": "images", "dataset": "mnist"}, given={"domain": "images", "dataset": "digits"}) == (
        "DATA=mnist")


class DigitsOfTheirOwn(ImageDataModule):
    """A user's DataModule with options of its own: none of ImageDataModule's but the seed."""

    def __init__(self, seed: int = 0):
        super().__init__(seed=seed)


class DigitsPassingOn(ImageDataModule):
    """A user's DataModule that passes every option on to ImageDataModule."""

    def __init__(self, flip: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.flip = flip


def test_a_class_path_given_over_the_config_s_names_the_settings_it_drops(tmp_path):
    """`--data.class_path=<another DataModule>` keeps the config's init_args the new class takes; jsonargparse dropped
    the others without a word (a debug note), and the run read digits at batch size 16 where the config said 4 and
    val_items 8. The dropped settings are named in one warning; a class that takes them all keeps them, unwarned."""
    import warnings

    config = tmp_path / "data.yaml"
    config.write_text("data:\n  init_args:\n    dataset: digits\n    batch_size: 4\n    val_items: 8\n")
    base = ["--config", str(REPO / "configs/images.yaml"), "--config", str(config), "--trainer.logger=false",
            "--run_root", str(tmp_path / "runs")]
    with pytest.warns(UserWarning) as caught:
        cli = main([*base, f"--data.class_path={__name__}.DigitsOfTheirOwn"], run=False)
    lines = [str(w.message) for w in caught if "class_path" in str(w.message)]
    assert lines == [f"data.class_path={__name__}.DigitsOfTheirOwn drops what the config gave ImageDataModule and it "
                     "does not take: batch_size=4, val_items=8 (it runs with its own defaults; its options: "
                     "--data.init_args.<name>)"], lines  # dataset: digits is ImageDataModule's default, not named
    assert cli.datamodule.batch_size == 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main([*base, f"--data.class_path={__name__}.DigitsPassingOn"], run=False)
    assert not [w for w in caught if "class_path" in str(w.message)]
    assert (cli.datamodule.batch_size, cli.datamodule.val_items) == (4, 8)
    # a config file given after another chooses its class by design (configs/polynomial/gp_tnp_rbf.yaml's sampler)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(f"data:\n  class_path: {__name__}.DigitsOfTheirOwn\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main([*base, "--config", str(overlay)], run=False)
    assert not [w for w in caught if "class_path" in str(w.message)] and cli.datamodule.batch_size == 16


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_a_negative_number_of_generated_functions_is_refused_in_one_line(split, tmp_path):
    """`--data.init_args.val_size=-1` (-1 is "the rest" in the splits of a file) stopped a polynomial fit with torch's
    RuntimeError "Trying to create tensor with negative dimension -1" and its traceback; a negative test_size trained
    a whole run and failed at its evaluation. Each is refused in one line before the run starts."""
    from pixeltransformer.errors import is_input_error, root_cause

    with pytest.raises(Exception) as caught:  # jsonargparse's wrapper, whose cause the CLI prints (errors.root_cause)
        main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), *SMOKE, *DATA_SMOKE["polynomial"],
              f"--data.init_args.{split}_size=-1", "--run_root", str(tmp_path / "runs")])
    assert is_input_error(caught.value) and str(root_cause(caught.value)) == (
        f"--data.init_args.{split}_size must be >= 0 (the number of functions generated; -1, the rest, is for the "
        "splits of a file's curves), got -1")
    assert not list((tmp_path / "runs").rglob("*.ckpt")) and not list((tmp_path / "runs").glob("*/*"))


def test_a_config_without_a_domain_is_refused_naming_the_data_domain(tmp_path, capsys):
    """A config without model.domain trained into runs/custom/<run>, though its checkpoint named the data's domain
    (images): `make eval DOMAIN=images` and the README's runs/<domain>/ did not find it. It is refused before a run
    folder is made, naming the Domain of the data's own package."""
    import yaml

    config = yaml.safe_load((REPO / "configs/images.yaml").read_text())
    del config["model"]["domain"]
    (tmp_path / "nodomain.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"^model\.domain is not set: give model\.domain\.class_path, the data's "
                                         r"Domain \(this data's: domains\.images\.domain\.ImageDomain\), whose name is "
                                         r"the run folder's: <run_root>/<domain>/<run_name>$"):
        main(["fit", "--config", str(tmp_path / "nodomain.yaml"), *SMOKE, *DATA_SMOKE["images"],
              "--run_root", str(tmp_path / "runs"), "--run_name", "nodom"])
    assert not (tmp_path / "runs").exists()


def test_an_evaluation_of_a_run_folder_it_cannot_write_says_what_to_do(tmp_path, monkeypatch):
    """`make eval` of a run folder on a read-only file system (a shared disk, a mounted copy) stopped on the system's
    line alone, "[Errno 30] Read-only file system: 'runs/polynomial/r/.eval.lock'", before any test batch."""
    import errno

    import pixeltransformer.cli as cli_module

    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [1024], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(untrained_checkpoint(spec, net=dict(value_norm=True, distance_bias=False)),
               run / "checkpoints" / "last.ckpt")

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system", str(folder.with_name(f".{folder.name}.lock")))

    monkeypatch.setattr(cli_module, "set_aside", read_only)
    with pytest.raises(OSError, match=rf"^cannot write into {re.escape(str(run))} \(Read-only file system: "
                                      rf"{re.escape(str(run / '.eval.lock'))}\); an evaluation writes into its run "
                                      r"folder: evaluate a copy of the run folder on a disk you can write$"):
        main(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path",
              str(run / "checkpoints" / "last.ckpt"), "--trainer.limit_test_batches=1"])


def test_a_relative_data_path_is_recorded_as_the_path_it_named(tmp_path, monkeypatch):
    """A run trained with --data.init_args.root=mydata/curves.npz recorded that relative path in its config.yaml, so
    its resume or evaluation from any other folder said "curve file not found: mydata/curves.npz". The run's config
    records the path the fit read; the command itself keeps the path as given, which its error lines name."""
    from pixeltransformer.run_config import without_run_folder

    import numpy as np

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydata").mkdir()
    curves = np.sin(np.linspace(0, 3, 16)[None] * np.arange(1, 41)[:, None]).astype(np.float32)  # [N, L]
    np.savez(tmp_path / "mydata" / "curves.npz", y=curves)
    configs = ["--config", str(REPO / "configs/polynomial.yaml"), "--config",
               str(REPO / "configs/polynomial/file.yaml")]
    cli = main([*configs, "--data.init_args.root=mydata/curves.npz", "--trainer.logger=false", "--run_root", "runs"],
               run=False)
    assert without_run_folder(cli.config).data.init_args.root == str(tmp_path / "mydata" / "curves.npz")
    assert cli.config.data.init_args.root == "mydata/curves.npz"


def test_a_relative_checkpoint_folder_is_recorded_as_the_folder_it_named(tmp_path, monkeypatch):
    """--checkpoint.dirpath=ckpts went into the run's config.yaml as given: a resume from another folder looked for
    its last.ckpt in another ckpts/ ("no ckpts/last.ckpt") and would have saved there."""
    from pixeltransformer.run_config import without_run_folder

    monkeypatch.chdir(tmp_path)
    cli = main(["--config", str(REPO / "configs/polynomial.yaml"), "--checkpoint.dirpath=ckpts",
                "--trainer.logger=false", "--run_root", "runs"], run=False)
    assert without_run_folder(cli.config).checkpoint.dirpath == str(tmp_path / "ckpts")


def test_the_data_is_checked_for_the_trainer_s_processes_by_every_command_but_predict(tmp_path, monkeypatch):
    """`fit`, `validate` and `test` ask the data module's check_processes with their Trainer once the classes are
    made, before any run starts (data made for the model's spec, checked again for the copies the trainer's
    processes add); `predict`, which reads no data module's data, does not."""
    import pixeltransformer.cli as cli
    from pixeltransformer.datamodule import SignalDataModule

    class Made(Exception):
        """Raised where the command prints its setup line: the classes made, nothing run."""

    def made(*args, **kwargs):
        raise Made

    asked = []
    monkeypatch.setattr(SignalDataModule, "check_processes", lambda self, trainer: asked.append(trainer))
    monkeypatch.setattr(cli, "setup_line", made)
    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    ckpt = tmp_path / "last.ckpt"
    torch.save(untrained_checkpoint(spec, net=dict(width=32, ffn=48, value_norm=True, fourier_scale=1.0)), ckpt)
    for sub in ("fit", "validate", "test", "predict"):
        asked.clear()
        with pytest.raises(Made):
            main([sub, "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(ckpt),
                  "--run_root", str(tmp_path / "runs"), "--run_name", sub])
        assert [type(trainer) for trainer in asked] == ([] if sub == "predict" else [L.Trainer]), sub


@pytest.mark.parametrize("peer_lost", [True, False])
def test_only_a_lost_peer_is_silenced_after_another_rank_reported(monkeypatch, peer_lost):
    """Once a DDP peer printed its bad input's line, the error that follows from losing that peer exits with status 2
    and no traceback; any other error (a bug racing with the peer's failure) keeps its traceback."""
    from pixeltransformer import cli, errors
    from pixeltransformer.errors import InputExit

    def stand_in_main(args, exit_on_error):
        if peer_lost:  # as gloo's collective reports a rank that exited, under Lightning's wrapper
            try:
                raise torch.distributed.DistNetworkError("pair.cc:534] Connection closed by peer [127.0.0.1]:4567")
            except RuntimeError as lost:
                raise RuntimeError("the all_reduce failed") from lost
        raise RuntimeError("the model's shapes disagree")

    monkeypatch.setattr("sys.argv", ["pixeltransformer"])
    monkeypatch.setattr(cli, "main", stand_in_main)
    monkeypatch.setattr(errors, "reported_by_another_rank", lambda: True)
    with pytest.raises(InputExit if peer_lost else RuntimeError) as caught:
        cli.cli_main()
    if peer_lost:
        assert caught.value.code == 2 and "another process stopped on bad input" in str(caught.value)
    else:
        assert not isinstance(caught.value, InputExit) and str(caught.value) == "the model's shapes disagree"


def test_a_fit_from_a_checkpoint_lightning_cannot_restore_is_refused_before_its_run_folder(tmp_path, monkeypatch):
    """A fit from a checkpoint of weights alone (checkpoint.save_weights_only=true) ended in Lightning's "Trying to
    restore optimizer state but checkpoint contains only the model" traceback, and one written by hand (without the
    Lightning version every Trainer records) in a KeyError's: both are one line now, before any run folder; an
    evaluation of the weights alone is not refused."""
    from pixeltransformer.loading import CheckpointError, lightning_error

    monkeypatch.setenv("WANDB_MODE", "disabled")
    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    weights = untrained_checkpoint(spec, net=dict(value_norm=True, distance_bias=False))
    del weights["optimizer_states"], weights["lr_schedulers"]
    handmade = {k: v for k, v in weights.items() if k != "pytorch-lightning_version"}
    assert lightning_error(weights) is None  # test, validate and predict read the weights alone
    for name, ckpt, said in (
            ("weights.ckpt", weights, r"it holds the weights alone \(saved with checkpoint\.save_weights_only="
                                      r"true\?\), and a fit goes on from its optimizer states too: evaluate it with "
                                      r"test or predict, or fit from a checkpoint saved whole$"),
            ("handmade.ckpt", handmade, r"it records no pytorch-lightning_version, which Lightning reads to restore "
                                        r"it \(a checkpoint written by hand\?\): a fit goes on from a checkpoint a "
                                        r"Trainer saved whole, or read it in Python with "
                                        r"pixeltransformer\.loading\.load_module$")):
        torch.save(ckpt, tmp_path / name)
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(tmp_path / name))}: {said}"):
            main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(tmp_path / name),
                  "--run_root", str(tmp_path / "runs"), "--run_name", "r"])
        assert not (tmp_path / "runs").exists()
