"""Multi-process and crash-safety behaviour, each run in its own subprocess (a DDP launch inside pytest's own
process would re-run pytest in the second rank)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.cli.test_cli import KEPT_UNSAVED

REPO = Path(__file__).resolve().parents[2]
TINY = ["--model.net.width=64", "--model.net.ffn=128", "--model.val_levels=[4,10]", "--data.init_args.resolution=64",
        "--data.init_args.val_size=8", "--data.init_args.test_size=8", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu"]
IMAGES_TINY = ["--config", "configs/images.yaml", "--model.net.width=64", "--model.net.ffn=128",
               "--trainer.logger=false", "--trainer.enable_progress_bar=false",
               "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu", "--data.init_args.batch_size=4"]


def _env(wandb: str = "disabled") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXELTRANSFORMER_", "LOCAL_RANK", "WORLD_SIZE"))}
    env.update(WANDB_MODE=wandb, PYTHONPATH=f"{REPO / 'src'}:{REPO}", OMP_NUM_THREADS="1")
    return env


def _probe_config(tmp_path: Path, name: str, pictures: bool = False, probe: str = "MetricsDump") -> Path:
    cfg = tmp_path / f"{name}.yaml"
    lines = ["trainer:", "  callbacks:"]
    if pictures:
        lines += ["    - class_path: pixeltransformer.callbacks.Pictures",
                  "      init_args: {num_examples: 1, levels: [4], resolution: 8, n_autoregressive: null}"]
    lines += [f"    - class_path: tests.cli.ddp_probe.{probe}",
              f"      init_args: {{path: {tmp_path / (name + '.json')}}}"]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _cli(args: list[str], wandb: str = "disabled", timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", *args], cwd=REPO, env=_env(wandb),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _tiny_images_run(tmp_path: Path) -> Path:
    """A one-step images run of IMAGES_TINY, <tmp_path>/images/tiny, for an evaluation: its last.ckpt."""
    _cli(["fit", *IMAGES_TINY, "--trainer.max_steps=1", "--trainer.limit_val_batches=0", "--trainer.callbacks=[]",
          "--checkpoint.every_n_train_steps=1", "--run_root", str(tmp_path), "--run_name", "tiny"])
    return tmp_path / "images" / "tiny" / "checkpoints" / "last.ckpt"


def test_ddp_two_processes_only_rank_zero_writes(tmp_path):
    cfg = _probe_config(tmp_path, "ddp", pictures=True)
    fit = _cli(["fit", "--config", "configs/polynomial.yaml", "--config", "configs/trainer/ddp.yaml", "--config", str(cfg),
          *TINY, "--data.init_args.batch_size=4", "--data.init_args.train_size=40", "--trainer.max_steps=4",
          "--trainer.val_check_interval=4", "--checkpoint.every_n_train_steps=4", "--run_root", str(tmp_path),
          "--run_name", "ddp"], wandb="offline")
    run = tmp_path / "polynomial" / "ddp"
    dump = json.loads((tmp_path / "ddp.json").read_text())
    assert dump["world_size"] == 2 and len(dump["losses"]) == 4
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1  # one W&B run, not one per rank
    assert sorted(p.name for p in (run / "pictures").iterdir()) == ["functions0_step000004.png"]
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "config.yaml").is_file()
    assert len((run / "command.txt").read_text().splitlines()) == 1  # written once, by rank zero
    assert not list(tmp_path.glob("polynomial/2*"))  # the second rank did not invent its own run folder
    assert "sync_dist" not in fit.stderr  # the validation NLLs are synced metrics: Lightning has nothing to warn of
    # started as torchrun starts it (python -m pixeltransformer.cli), jsonargparse's deprecation of an argument
    # Lightning's config saving passes it was shown: not the user's to act on
    assert "skip_none" not in fit.stderr, fit.stderr[-3000:]
    assert "all_gather is deprecated" not in fit.stderr + fit.stdout  # torch's, under Lightning's gather: the same
    # the DDP run resumes part-way into its epoch, at sample 32 of 40 (the training sampler is a DistributedSampler
    # of its own: Lightning's wrapper indexed past the shortened epoch)
    _cli(["fit", "--resume", str(run), "--trainer.max_steps=6"], wandb="offline")
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    # the resumed segment is one more offline W&B run (both ranks agree on its id), not a second folder of the first
    run_id = (run / "wandb_id.txt").read_text().strip()
    segments = sorted(p.name.split("-", 3)[3] for p in (run / "wandb").glob("offline-run-*"))
    assert segments == [run_id, f"{run_id}-1"]
    assert len((run / "command.txt").read_text().splitlines()) == 2


def test_a_ddp_resume_continues_each_rank_s_own_sets(tmp_path):
    """Each rank draws its own sets (its set sampler's seed is offset by its rank): a 2-process run resumed at step 2
    draws, rank by rank, the |S| and generator states of a run that was never interrupted, to the same losses (a
    resume used to give every rank rank zero's state, and both ranks drew the same sets)."""
    common = ["--config", "configs/polynomial.yaml", "--config", "configs/trainer/ddp.yaml", *TINY,
              "--data.init_args.batch_size=4", "--data.init_args.train_size=40", "--trainer.val_check_interval=2",
              "--checkpoint.every_n_train_steps=2", "--trainer.logger=false", "--run_root", str(tmp_path)]
    straight = _probe_config(tmp_path, "straight", probe="RankDraws")
    _cli(["fit", *common, "--config", str(straight), "--trainer.max_steps=4", "--run_name", "straight"])
    _cli(["fit", *common, "--trainer.callbacks=[]", "--trainer.max_steps=2", "--run_name", "split"])
    resumed = _probe_config(tmp_path, "resumed", probe="RankDraws")
    _cli(["fit", "--resume", str(tmp_path / "polynomial" / "split"), "--config", str(resumed), "--trainer.max_steps=4"])
    a = json.loads((tmp_path / "straight.json").read_text())  # {step: [[|S|, loss, state digest] per rank]}
    b = json.loads((tmp_path / "resumed.json").read_text())
    assert sorted(b) == ["3", "4"] and all(len(rows) == 2 for rows in b.values())
    assert a["3"][0][2] != a["3"][1][2]  # the ranks' generators differ
    for step, rows in b.items():
        assert [(size, digest) for size, _, digest in rows] == [(size, digest) for size, _, digest in a[step]], step
        assert [loss for _, loss, _ in rows] == pytest.approx([loss for _, loss, _ in a[step]], abs=1e-6), step


def _ddp_resumed(tmp_path: Path, steps: int, *args: str) -> str:
    """What a DDP polynomial run of ``steps`` steps (a checkpoint each), resumed for one step more with ``args``,
    prints."""
    common = ["--config", "configs/polynomial.yaml", "--config", "configs/trainer/ddp.yaml", *TINY,
              "--data.init_args.batch_size=4", "--data.init_args.train_size=40", "--trainer.limit_val_batches=0",
              "--checkpoint.every_n_train_steps=1", "--trainer.logger=false", "--run_root", str(tmp_path)]
    _cli(["fit", *common, f"--trainer.max_steps={steps}", "--run_name", "run"])
    resumed = _cli(["fit", "--resume", str(tmp_path / "polynomial" / "run"), f"--trainer.max_steps={steps + 1}",
                    *args])
    return resumed.stdout + resumed.stderr


def test_a_ddp_resume_on_other_splits_says_so_once(tmp_path):
    """A resume given another data seed than its checkpoint's warns (data_mismatch.split_mismatch), and under DDP in
    one line, not once per rank."""
    out = _ddp_resumed(tmp_path, 1, "--data.init_args.seed=3")
    assert out.count("warning: the checkpoint was trained on the splits of data.init_args.seed=0, not this run's "
                     "(seed=3)") == 1, out[-3000:]


def test_a_ddp_resume_with_another_batch_size_says_so_once(tmp_path):
    """A resume part-way into an epoch with another batch size warns that Lightning's batch count goes wrong there
    (SignalDataModule._batch_count_note): every rank builds its loader, and the user reads the line once."""
    out = _ddp_resumed(tmp_path, 2, "--data.init_args.batch_size=2")
    assert out.count("warning: the checkpoint stopped 2 batches into an epoch of data.init_args.batch_size=4, not "
                     "this run's (2)") == 1, out[-3000:]


def test_a_ddp_evaluation_says_once_that_a_model_option_is_the_checkpoint_s(tmp_path):
    """A model option the command line gives and the checkpoint sets otherwise is not used, with a warning: each rank
    of a DDP launch parses the command, and each printed it."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.batch_size=4",
              "--data.init_args.train_size=8", "--trainer.logger=false", "--trainer.callbacks=[]"]
    _cli(["fit", *common, "--trainer.max_steps=1", "--trainer.limit_val_batches=0",
          "--checkpoint.every_n_train_steps=1", "--run_root", str(tmp_path), "--run_name", "one"])
    tested = _cli(["test", *common, "--config", "configs/trainer/ddp.yaml", "--model.net.ffn=64", "--ckpt_path",
                   str(tmp_path / "polynomial" / "one" / "checkpoints" / "last.ckpt")])
    out = tested.stdout + tested.stderr
    assert out.count("warning: --model.net.ffn=64 is not used: the checkpoint's model has ffn=128") == 1, out[-3000:]


def test_a_ddp_validation_does_not_advise_one_device(tmp_path):
    """A DDP validate scores each distinct item once, as one device does (test_ddp_validates_the_items_one_process_
    validates): Lightning's warning that it evaluates some items twice and that one device should be used is not
    printed."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.batch_size=4",
              "--data.init_args.train_size=8", "--trainer.logger=false", "--trainer.callbacks=[]"]
    _cli(["fit", *common, "--trainer.max_steps=1", "--trainer.limit_val_batches=0",
          "--checkpoint.every_n_train_steps=1", "--run_root", str(tmp_path), "--run_name", "one"])
    validated = _cli(["validate", *common, "--config", "configs/trainer/ddp.yaml", "--data.init_args.val_size=7",
                      "--ckpt_path", str(tmp_path / "polynomial" / "one" / "checkpoints" / "last.ckpt")])
    out = validated.stdout + validated.stderr
    assert "val/nll@4" in out, out[-3000:]
    assert "DistributedSampler" not in out, out[-3000:]


def test_ddp_bad_input_is_one_line_once(tmp_path):
    """Both ranks meet the empty validation split: the first to fail prints the one-line error, the other exits
    without repeating it, and the new run's folder is not kept."""
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "fit", "--config", "configs/polynomial.yaml",
                           "--config", "configs/trainer/ddp.yaml", *TINY, "--data.init_args.val_size=0",
                           "--data.init_args.train_size=40", "--trainer.max_steps=2", "--run_root", str(tmp_path),
                           "--run_name", "bad"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: PolynomialDataModule: the val split is empty: --data.init_args.val_size=0 generates no "
                      "function; give 1 or more"], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "polynomial").exists()


def test_a_ddp_fit_warns_of_its_data_once(tmp_path):
    """Every rank reads the data and finds the same things to warn of: a folder whose 16-bit pictures are dim, with a
    picture smaller than the size read and a Train/ folder that is not a split folder. The user reads each warning
    once, not once per rank."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "pictures" / "Train"
    folder.mkdir(parents=True)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "small.png")
    Image.fromarray(rng.integers(0, 200, (16, 16)).astype(np.uint16)).save(folder / "dim.png")  # 16-bit, 8 bits used
    fit = _cli(["fit", "--config", "configs/images.yaml", "--config", "configs/trainer/ddp.yaml",
                "--model.net.width=64", "--model.net.ffn=128", "--data.init_args.dataset=folder",
                f"--data.init_args.root={tmp_path / 'pictures'}", "--data.init_args.image_size=16",
                f"--data.init_args.cache_dir={tmp_path / 'cache'}", "--data.init_args.batch_size=4",
                "--trainer.max_steps=1", "--trainer.limit_val_batches=0", "--trainer.callbacks=[]",
                "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                "--trainer.accelerator=cpu", "--checkpoint.every_n_train_steps=1", "--run_root", str(tmp_path),
                "--run_name", "folder"])
    warned = [line for line in (fit.stdout + fit.stderr).splitlines() if line.startswith("warning: ")]
    expected = ("Train/ is not a split folder", "16-bit and nearly black", "smaller than 16×16")
    # each of the data's warnings once; a library's own warnings, if any, are not counted
    assert [sum(part in line for line in warned) for part in expected] == [1] * 3, "\n".join(warned)


def test_a_ddp_evaluation_trains_the_image_helper_networks_once_and_judges_with_them_on_every_rank(tmp_path):
    """A first images evaluation trains the classifier and the VAE: under DDP the first rank trains and caches them and
    every rank evaluates with those weights (each rank trained its own, all at once, into the same cache files)."""
    ckpt = _tiny_images_run(tmp_path)
    probe = tmp_path / "probe.yaml"
    probe.write_text("trainer:\n  callbacks:\n"
                     "    - class_path: domains.images.evaluation.ImageEvaluation\n"
                     f"      init_args: {{levels: [4], num_samples: 0, max_items: 4, classifier_epochs: 1, "
                     f"vae_epochs: 1, vae_steps: 2, cache_dir: {tmp_path / 'cache'}}}\n"
                     "    - class_path: tests.cli.ddp_probe.HelperNetworks\n"
                     f"      init_args: {{path: {tmp_path / 'helpers.json'}}}\n")
    _cli(["test", *IMAGES_TINY, "--config", "configs/trainer/ddp.yaml", "--trainer.callbacks=[]", "--config",
          str(probe), "--ckpt_path", str(ckpt)])
    ranks = [json.loads((tmp_path / f"helpers.{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["saved"] for r in ranks] == [["classifier", "vae"], []]
    assert ranks[0]["classifier"] == ranks[1]["classifier"] and ranks[0]["vae"] == ranks[1]["vae"]


def test_a_ddp_evaluation_whose_first_rank_cannot_build_a_helper_network_fails_in_one_line(tmp_path):
    """The first rank builds the classifier and the others wait for it: where building fails (its training pictures
    cannot be read), every rank raises that error and the user reads it once, as when each rank built its own (the
    others died on the closed connection, a traceback each). A cache folder that cannot be written no longer fails:
    the networks are used, not cached, with a warning."""
    ckpt = _tiny_images_run(tmp_path)
    probe = tmp_path / "probe.yaml"
    probe.write_text("trainer:\n  callbacks:\n"
                     "    - class_path: domains.images.evaluation.ImageEvaluation\n"
                     "      init_args: {levels: [4], num_samples: 0, max_items: 4, vae: false}\n"
                     "    - class_path: tests.cli.ddp_probe.HelperFails\n")
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "test", *IMAGES_TINY, "--config",
                           "configs/trainer/ddp.yaml", "--trainer.callbacks=[]", "--config", str(probe), "--ckpt_path",
                           str(ckpt)],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: [Errno 5] Input/output error: 'digits'"], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("rank", [0, 1])
def test_bad_input_on_one_ddp_rank_is_one_line(tmp_path, rank):
    """One rank alone meets bad input mid-fit: the user reads its line once, and the other rank, which dies on the
    connection the first closed, adds no traceback of its own; rank zero, which holds the process group's store,
    stays until the other has read that it reported (no failed store read, no C++ frames)."""
    probe = tmp_path / "probe.yaml"
    probe.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.RankFails\n"
                     f"      init_args: {{rank: {rank}, step: 2}}\n")
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "fit", "--config", "configs/polynomial.yaml",
                           "--config", "configs/trainer/ddp.yaml", *TINY, "--config", str(probe),
                           "--trainer.max_steps=4", "--run_root", str(tmp_path), "--run_name", "one"],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: rank {rank}: a bad item at step 2"], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "frame #0" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("rank", [0, 1])
def test_bad_input_on_one_ddp_spawn_rank_is_one_line(tmp_path, rank):
    """ddp_spawn: one rank alone meets bad input at step 3: its line alone and exit status 2 (torch printed the
    rank's traceback inside its own and exited 1), no line about a SIGTERM the user did not send (torch's, to the
    other rank, or to rank zero itself after it failed), and the run folder kept as one process keeps a fit that
    fails after training (it was removed as stopped before its first step)."""
    probe = tmp_path / "probe.yaml"
    probe.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.RankFails\n"
                     f"      init_args: {{rank: {rank}, step: 3}}\n")
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "fit", "--config", "configs/polynomial.yaml",
                           "--config", "configs/trainer/ddp.yaml", "--trainer.strategy=ddp_spawn", *TINY,
                           "--config", str(probe), "--trainer.max_steps=5", "--run_root", str(tmp_path),
                           "--run_name", "one"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: rank {rank}: a bad item at step 3"], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "SIGTERM" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    run = tmp_path / "polynomial" / "one"
    assert (run / "config.yaml").is_file() and not list(run.rglob("*.ckpt"))
    last = [line for line in proc.stdout.splitlines() if line.startswith("[run]")][-1]
    assert last == f"[run] fit: {run} {KEPT_UNSAVED.format(run=run)}", last


def test_predict_under_ddp_runs_on_one_device(tmp_path):
    """A prediction is one input: with the DDP config it runs in one process on one device, says so in one line
    and writes its files (a second rank had no input and the first died at a barrier)."""
    import numpy as np
    from PIL import Image

    _cli(["fit", "--config", "configs/images.yaml", "--model.net.width=64", "--model.net.ffn=128",
          "--trainer.max_steps=2", "--trainer.limit_val_batches=0", "--trainer.callbacks=[]", "--trainer.logger=false",
          "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu",
          "--checkpoint.every_n_train_steps=2", "--data.init_args.batch_size=4", "--run_root", str(tmp_path),
          "--run_name", "tiny"])
    run = tmp_path / "images" / "tiny"
    digit = tmp_path / "my_digit.png"
    Image.fromarray((np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)).save(digit)
    proc = _cli(["predict", "--config", "configs/images.yaml", "--config", "configs/trainer/ddp.yaml",
                 "--trainer.accelerator=cpu", "--trainer.logger=false", "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), "--input", str(digit), "--num_samples", "1",
                 "--n_autoregressive", "4"])
    assert "[run] predict runs on one device, in one process (the config asks for 2 devices, strategy ddp)" in \
        proc.stdout.splitlines()
    assert [p.name for p in (run / "predict").iterdir()] == ["my_digit"]  # one prediction, not one per rank
    record = json.loads((run / "predict" / "my_digit" / "prediction.json").read_text())
    assert record["num_context"] == 16 and "mean.png" in record["files"]


def test_predict_under_a_launcher_runs_in_its_first_process_only(tmp_path):
    """torchrun and srun start the same command in every process: each ran the whole prediction, all into one run
    folder. The launcher's first process predicts; each other one says so in one line and exits with status 0 (a
    failure would make the launcher stop the first). No launcher is started: its variables are set."""
    from pixeltransformer.cli import main

    main(["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
          "--trainer.max_steps=1", "--trainer.limit_val_batches=0", "--trainer.logger=false", "--trainer.callbacks=[]",
          "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
          "--checkpoint.every_n_train_steps=1", "--data.init_args.train_size=8", "--data.init_args.batch_size=4",
          "--data.init_args.resolution=64", "--run_root", str(tmp_path), "--run_name", "p"])
    run = tmp_path / "polynomial" / "p"
    predict = ["predict", "--config", "configs/polynomial.yaml", "--data.init_args.resolution=64",
               "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--ckpt_path",
               str(run / "checkpoints" / "last.ckpt"), "--context", "[[-0.5, 1.2], [0.1, 0.3]]", "--num_samples", "1"]
    env = {k: v for k, v in _env().items()
           if k not in ("RANK", "GROUP_RANK", "NODE_RANK", "TORCHELASTIC_RUN_ID") and not k.startswith("SLURM_")}
    others = [  # (the module a launcher runs, its variables in a process other than the first, what the line names)
        ("pixeltransformer.cli", {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}, "RANK=1, LOCAL_RANK=1"),
        ("pixeltransformer", {"RANK": "2", "LOCAL_RANK": "0", "GROUP_RANK": "1", "WORLD_SIZE": "4"},
         "RANK=2, GROUP_RANK=1"),  # torchrun's first process on a second node
        ("pixeltransformer", {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1"},
         "SLURM_PROCID=1 of SLURM_NTASKS=2")]
    for module, launched, named in others:
        proc = subprocess.run([sys.executable, "-m", module, *predict], cwd=REPO, env={**env, **launched},
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.splitlines() == [
            f"[run] predict runs in the launcher's first process only; this one ({named}) exits"], proc.stdout[-3000:]
        assert not (run / "predict").exists()
    first = {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer", *predict], cwd=REPO, env={**env, **first},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (run / "predict").iterdir()] == ["context"]  # the one prediction
    assert json.loads((run / "predict" / "context" / "prediction.json").read_text())["num_context"] == 2


@pytest.mark.slow
def test_ddp_matches_single_process(tmp_path):
    """Same global batch and seed: a similar loss trajectory, and identical synced validation metrics for the
    same weights."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--trainer.max_steps=30", "--trainer.val_check_interval=30",
              "--checkpoint.every_n_train_steps=30", "--run_root", str(tmp_path), "--trainer.logger=false"]
    one = _probe_config(tmp_path, "one")
    two = _probe_config(tmp_path, "two")
    _cli(["fit", *common, "--config", str(one), "--data.init_args.batch_size=16", "--run_name", "one"])
    _cli(["fit", *common, "--config", "configs/trainer/ddp.yaml", "--config", str(two),
          "--data.init_args.batch_size=8", "--run_name", "two"])
    a = json.loads((tmp_path / "one.json").read_text())["losses"]
    b = json.loads((tmp_path / "two.json").read_text())["losses"]
    assert len(a) == len(b) == 30
    # different ranks draw different sets, so the curves agree statistically, not bit for bit
    assert abs(sum(a[-10:]) / 10 - sum(b[-10:]) / 10) < 0.25 * abs(sum(a[:3]) / 3 - sum(a[-10:]) / 10) + 0.05

    ckpt = tmp_path / "polynomial" / "one" / "checkpoints" / "last.ckpt"
    v1, v2 = _probe_config(tmp_path, "val1"), _probe_config(tmp_path, "val2")
    _cli(["validate", *common, "--config", str(v1), "--data.init_args.batch_size=2", "--ckpt_path", str(ckpt)])
    _cli(["validate", *common, "--config", "configs/trainer/ddp.yaml", "--config", str(v2),
          "--data.init_args.batch_size=2", "--ckpt_path", str(ckpt)])
    m1 = json.loads((tmp_path / "val1.json").read_text())["val"][-1]
    m2 = json.loads((tmp_path / "val2.json").read_text())["val"][-1]
    assert m1.keys() == m2.keys() and "val/nll@4" in m1
    for key in m1:
        assert m1[key] == pytest.approx(m2[key], abs=1e-5), key


def test_ddp_validates_the_items_one_process_validates(tmp_path):
    """11 val items in batches of 2: one process validates them all, two ranks six each (the DistributedSampler hands
    item 0 to both to even them out). val/nll counts each item once, so the two agree; torchmetrics' means counted
    item 0 twice, and the configs' limit_val_batches let one process stop at 8 items."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.val_size=11",
              "--data.init_args.batch_size=2", "--trainer.logger=false", "--run_root", str(tmp_path)]
    one, two = _probe_config(tmp_path, "one"), _probe_config(tmp_path, "two")
    _cli(["validate", *common, "--config", str(one)])
    _cli(["validate", *common, "--config", "configs/trainer/ddp.yaml", "--config", str(two)])
    a, b = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("one", "two"))
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert set(a["val"][-1]) == {"val/nll", "val/nll@4", "val/nll@10"} == set(b["val"][-1])
    for key, value in a["val"][-1].items():
        assert b["val"][-1][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_evaluation_is_the_same_for_any_batch_size_and_device_count(tmp_path):
    """metrics.json averages over distinct test items, the first max_items of them: batch size 4 or 3, one process
    or two (where the distributed sampler hands item 0 to both ranks to even them out) give the same numbers. The
    fitted-GP baseline fits each function alone, not on its batch's span."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.test_size=7", "--trainer.logger=false",
              "--run_root", str(tmp_path)]
    _cli(["fit", *common, "--data.init_args.batch_size=4", "--trainer.max_steps=4", "--trainer.val_check_interval=4",
          "--checkpoint.every_n_train_steps=4", "--run_name", "r"])
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("trainer:\n  callbacks:\n    - class_path: pixeltransformer.evaluation.SweepEvaluation\n"
                     "      init_args: {levels: [4, 6], queries: 20, grid_points: true, max_items: 5}\n")
    ckpt = tmp_path / "polynomial" / "r" / "checkpoints" / "last.ckpt"
    runs = {"batch 4": ["--data.init_args.batch_size=4"], "batch 3": ["--data.init_args.batch_size=3"],
            "2 processes": ["--config", "configs/trainer/ddp.yaml", "--data.init_args.batch_size=2"]}
    rows = {}
    for name, extra in runs.items():
        _cli(["test", *common, "--config", str(sweep), *extra, "--ckpt_path", str(ckpt)])
        rows[name] = json.loads((tmp_path / "polynomial" / "r" / "eval" / "metrics.json").read_text())["rows"]
    first = rows["batch 4"]
    assert [r["num_context"] for r in first] == [4, 6] and {"nll", "gp_nll", "oracle_nll"} <= first[0].keys()
    for name, other in rows.items():
        for a, b in zip(first, other):
            assert a.keys() == b.keys(), name
            for key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (name, a["num_context"], key)


def _params(ckpt: Path) -> dict[str, torch.Tensor]:
    sd = torch.load(ckpt, weights_only=True)["state_dict"]
    return {k: v for k, v in sd.items() if k.startswith("model.")}


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    """kill -9 mid-run, resume, and end with the parameters of a run that was never interrupted."""
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.train_size=40",
              "--data.init_args.batch_size=4", "--trainer.max_steps=24", "--trainer.val_check_interval=6",
              "--checkpoint.every_n_train_steps=6", "--trainer.logger=false", "--run_root", str(tmp_path)]
    _cli(["fit", *common, "--run_name", "straight"])  # 10 batches an epoch: the resume crosses an epoch boundary

    proc = subprocess.Popen([sys.executable, "-m", "pixeltransformer.cli", "fit", *common, "--run_name", "killed"],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "polynomial" / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and torch.load(last, weights_only=True)["global_step"] >= 12:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = torch.load(last, weights_only=True)["global_step"]
    assert 12 <= step_at_kill < 24

    _cli(["fit", *common, "--resume", str(last.parent.parent)])
    resumed = torch.load(last, weights_only=True)
    assert resumed["global_step"] == 24
    a = _params(tmp_path / "polynomial" / "straight" / "checkpoints" / "last.ckpt")
    b = _params(last)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


@pytest.mark.slow
def test_same_seed_same_metrics_json(tmp_path):
    common = ["--config", "configs/polynomial.yaml", *TINY, "--data.init_args.batch_size=8", "--trainer.max_steps=8",
              "--trainer.val_check_interval=8", "--checkpoint.every_n_train_steps=8", "--trainer.logger=false",
              "--run_root", str(tmp_path)]
    rows = []
    for name in ("a", "b"):
        _cli(["fit", *common, "--run_name", name])
        ckpt = tmp_path / "polynomial" / name / "checkpoints" / "last.ckpt"
        _cli(["test", *common, "--ckpt_path", str(ckpt)])
        metrics = json.loads((ckpt.parent.parent / "eval" / "metrics.json").read_text())
        metrics.pop("checkpoint")
        rows.append(metrics)
    assert rows[0] == rows[1]


@pytest.mark.slow
@pytest.mark.parametrize("signum, why, status", [("SIGINT", "Ctrl-C", -signal.SIGINT), ("SIGTERM", "SIGTERM", 143)])
def test_ctrl_c_under_ddp_saves_the_step_once_and_no_rank_hangs(tmp_path, signum, why, status):
    """Ctrl-C in a terminal reaches every rank, as a scheduler's SIGTERM does: they agree at the end of the step under
    way, all take part in its save (rank zero writes it), and all stop; the run resumes from that step. (On SIGTERM
    Lightning's handler made a collective inside itself, once more on the rank it forwarded the signal to: the ranks
    hung.) The exit status says the fit did not finish: death by SIGINT after Ctrl-C (Lightning's status 1 let a shell
    loop go on), 143 after SIGTERM (Lightning's 0 let `fit && eval` evaluate a stopped fit)."""
    probe = tmp_path / "ctrl_c.yaml"
    probe.write_text("trainer:\n  callbacks:\n    - class_path: tests.cli.ddp_probe.SignalAtStep\n"
                     f"      init_args: {{step: 4, group: true, signum: {signum}}}\n")
    common = ["--config", "configs/polynomial.yaml", "--config", "configs/trainer/ddp.yaml", *TINY,
              "--data.init_args.batch_size=4", "--data.init_args.train_size=40", "--trainer.max_steps=8",
              "--trainer.val_check_interval=4", "--checkpoint.every_n_train_steps=4", "--trainer.logger=false",
              "--run_root", str(tmp_path), "--run_name", "ddp"]
    # a session of its own: the probe's Ctrl-C goes to the two ranks, as a terminal's does, and not to pytest
    proc = subprocess.run([sys.executable, "-m", "pixeltransformer.cli", "fit", *common, "--config", str(probe)],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600, start_new_session=True)
    run = tmp_path / "polynomial" / "ddp"
    last = run / "checkpoints" / "last.ckpt"
    assert proc.returncode == status, proc.stderr[-3000:]
    assert torch.load(last, weights_only=True)["global_step"] == 5
    assert sorted(p.name for p in last.parent.iterdir()) == ["best-step000004.ckpt", "last.ckpt"]
    assert proc.stdout.count(f"[run] {why}: stopped at step 5 and saved") == 1  # rank zero's line alone
    _cli(["fit", *common, "--resume", str(run), "--trainer.callbacks=[]"])
    assert torch.load(last, weights_only=True)["global_step"] == 8
