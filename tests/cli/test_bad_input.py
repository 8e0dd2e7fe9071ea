"""The bad-input table of docs/errors.md: each row drives the real command line (`make train/eval/sample`, or
`python -m pixeltransformer`, which make runs) in a subprocess and checks that it

- exits with status 2,
- ends stderr with one line that names the cause (make's own "make: *** [...] Error 2" trailer aside),
- prints no traceback (unless PIXELTRANSFORMER_DEBUG=1, checked once),
- changes no file: every row runs against one folder holding a finished run, the bad files, the data folder and
  the cache, and that folder is the same before and after (a failed start leaves no run folder behind).

Every row fails before training starts, most before the data is read.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.checkpoints import untrained_checkpoint

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
VENV = Path(sys.prefix)
TRACEBACK = "Traceback (most recent call last)"


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint carries."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(tmp_path_factory.mktemp("world"))


def build_world(w: Path) -> Path:
    """One finished polynomial run, an images checkpoint, bad checkpoints, bad data and bad inputs, in w."""
    poly = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    images = {"domain": "images", "dataset": "digits", "grid_shape": [8, 8], "val_dims": 1, "val_range": [0.0, 1.0],
              "num_bins": 32}
    run = w / "runs" / "polynomial" / "old"
    (run / "checkpoints").mkdir(parents=True)
    # with configs/polynomial.yaml's options that no image model can take (a per-set value frame needs one Gaussian)
    torch.save(untrained_checkpoint(poly, net=dict(value_norm=True, distance_bias=False)),
               run / "checkpoints" / "last.ckpt")
    (run / "config.yaml").write_text("# the finished run's config\nmodel:\n  domain:\n    class_path: "
                                     "domains.polynomial.domain.PolynomialDomain\n")
    (run / "wandb_id.txt").write_text("0123abcd\n")
    (w / "runs" / "polynomial" / "nockpt").mkdir()
    (w / "runs" / "polynomial" / "nockpt" / "config.yaml").write_text("# a run that never saved\n")
    elsewhere = w / "runs" / "polynomial" / "elsewhere"  # as far as one can tell, evaluated on another machine now
    (elsewhere / "checkpoints").mkdir(parents=True)
    (elsewhere / "checkpoints" / "last.ckpt").write_bytes((run / "checkpoints" / "last.ckpt").read_bytes())
    (elsewhere / "eval").mkdir()
    (elsewhere / "eval" / "config_test.yaml").write_text("# that evaluation's first file\n")
    (elsewhere / ".eval.lock").write_text("node7 4242\n")
    cut = w / "runs" / "polynomial" / "cut" / "checkpoints"
    cut.mkdir(parents=True)
    (cut / "last.ckpt").write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:700])

    mnist = w / "runs" / "images" / "mnist" / "checkpoints"  # an MNIST run, its data elsewhere
    mnist.mkdir(parents=True)
    torch.save(untrained_checkpoint({**images, "dataset": "mnist", "grid_shape": [28, 28]}), mnist / "last.ckpt")

    ck = w / "ckpt"
    ck.mkdir()
    torch.save(untrained_checkpoint(images), ck / "digits.ckpt")
    handmade = untrained_checkpoint(images)
    del handmade["pytorch-lightning_version"]  # as torch.save of a dict by hand writes it
    torch.save(handmade, ck / "handmade.ckpt")
    (ck / "empty.ckpt").write_bytes(b"")
    (ck / "truncated.ckpt").write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:700])
    torch.save({"weights": torch.zeros(3)}, ck / "tensors.ckpt")
    flat = {"spec": poly, "preset": "tiny", "encoder": "buffered", "max_context": 16, "num_queries": 8}
    torch.save({**untrained_checkpoint(poly), "pixeltransformer_format": 1, "hyper_parameters": flat},
               ck / "format1.ckpt")
    torch.save({"state_dict": torch.nn.Linear(2, 2).state_dict(), "hyper_parameters": {"lr": 1e-3}, "epoch": 0,
                "global_step": 3}, ck / "lightning.ckpt")  # another project's Lightning checkpoint
    torch.save(untrained_checkpoint(images, callbacks=_Payload(str(w / "pwned"))), ck / "evil.ckpt")
    newer = untrained_checkpoint(poly)
    newer["hyper_parameters"]["net"]["future_knob"] = 3  # an option of a later version, or an edit
    torch.save(newer, ck / "newer.ckpt")
    resized = untrained_checkpoint(poly)  # width 64, its hyper_parameters edited to another size
    resized["hyper_parameters"]["net"] = {**resized["hyper_parameters"]["net"], "width": 32}
    torch.save(resized, ck / "resized.ckpt")
    diverged = untrained_checkpoint(poly)
    diverged["state_dict"]["model.head.weight"][0, 0] = float("nan")
    torch.save(diverged, ck / "diverged.ckpt")

    d = w / "input"
    d.mkdir()
    (d / "notes.png").write_text("not a picture\n")
    (d / "mine.yaml").write_text("trainer:\n  default_root_dir: /tmp/mine\n")  # which the CLI sets
    (d / "broken.yaml").write_text("model:\n  net:\n    width: [64\n")  # a bracket never closed
    (d / "empty.yaml").write_text("# trainer:\n#   max_steps: 5\n")  # every line commented out
    (d / "typo.yaml").write_text("model:\n  net:\n    widht: 64\n")  # a misspelt option
    (d / "old.yaml").write_text("model:\n  encoder: buffered\n")  # an option's name before it moved to model.net
    (d / "nonet.yaml").write_text("model:\n  net:\n    # width: 64\n")  # a group whose options are commented out
    from PIL import Image
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(d / "digit.png")
    (w / "taken").mkdir()
    (w / "taken" / "prediction.json").write_text("{}\n")  # an earlier prediction
    np.savez(d / "float.npz", videos=np.random.default_rng(0).random((3, 17, 8, 8, 3)).astype(np.float32))
    one_clip = np.random.default_rng(0).integers(0, 256, (1, 17, 8, 8, 3), dtype=np.uint8)  # a clip of noise
    np.savez(d / "one.npz", videos=one_clip)
    blank = w / "input" / "blank_mnist"  # 20 MNIST-format pictures, every pixel 0
    blank.mkdir()
    (blank / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 28, 0, 0, 0, 28])
                                                   + bytes(20 * 28 * 28))
    colour = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)  # 10 CIFAR-like pictures
    np.savez(d / "colour.npz", images=colour, labels=np.arange(10))
    np.savez(d / "ragged.npz", y=np.array([[0.1, 0.4, 0.2], [0.3, 0.5]], dtype=object))  # curves of other lengths
    (w / "cache").mkdir()
    return w


def snapshot(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


# Rows: (id, what a user did (docs/errors.md's table), the command given the world folder, what the last line must
# contain). A command is "make ..." or "cli ..." (python -m pixeltransformer, what make runs); runs go to world/runs.
POLY = ["--config", str(CONFIGS / "polynomial.yaml"), "--data.init_args.resolution=64",
        "--data.init_args.train_size=64", "--data.init_args.val_size=4", "--data.init_args.test_size=4"]
VIDEO = ["--config", str(CONFIGS / "video.yaml"), "--config", str(CONFIGS / "video/beach.yaml"),
         "--data.init_args.size=8", "--data.init_args.num_bins=8"]


def _runs(w: Path) -> list[str]:
    return ["--run_root", str(w / "runs")]


ROWS = [
    # ---- data --------------------------------------------------------------------------------------------
    ("data-folder-missing",
     '`make train DOMAIN=images DATA=cats ARGS="--data.init_args.root=/tmp/nope"`',
     lambda w: ["make", "train", "DOMAIN=images", "DATA=cats",
                f"ARGS=--data.init_args.root={w}/nope --run_root {w}/runs"],
     "image folder not found: {w}/nope"),
    ("data-not-downloaded",
     '`make train DOMAIN=images DATA=mnist` without data/mnist',
     lambda w: ["make", "train", "DOMAIN=images", "DATA=mnist", f"ARGS=--run_root {w}/runs"],
     "no data at {w}/data/mnist: put it there, set PIXELTRANSFORMER_DATA"),
    ("data-download-into-mnist",
     '`make train DOMAIN=images DATA=cifar10 ARGS="--data.init_args.root=data/mnist '
     '--data.init_args.download=true"` (a folder of MNIST\'s files; the other way round, MNIST into a CIFAR-10 '
     'folder, alike)',
     lambda w: ["make", "train", "DOMAIN=images", "DATA=cifar10",  # uniform bins: no pixel read before the download
                f"ARGS=--data.init_args.root={w}/input/blank_mnist --data.init_args.download=true "
                f"--data.init_args.bins=uniform --data.init_args.num_bins=64 --run_root {w}/runs"],
     "CIFAR-10 not found in {w}/input/blank_mnist: it holds MNIST's files (t10k-images-idx3-ubyte), not CIFAR-10's; "
     "pass the folder that holds CIFAR-10, or a folder of its own with --data.init_args.download=true"),
    ("data-mesh-folder-missing",
     '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=/tmp/nope"`',
     lambda w: ["make", "train", "DOMAIN=sdf",
                f"ARGS=--data.init_args.dataset=meshes --data.init_args.root={w}/nope --run_root {w}/runs"],
     "SDFDataModule: root {w}/nope does not exist"),
    ("data-float-video",
     'a video .npz holding float frames: `--data.init_args.root=float.npz`',
     lambda w: ["cli", "fit", *VIDEO, f"--data.init_args.root={w}/input/float.npz", *_runs(w)],
     "videos must be uint8"),
    ("data-too-few-clips",
     'a video .npz with one clip for the three splits',
     lambda w: ["cli", "fit", *VIDEO, f"--data.init_args.root={w}/input/one.npz", *_runs(w)],
     "split sizes (-1, 1, 1) do not fit 1 item: the sizes besides -1 take 2; the items are clips, 1 from 1 video: give "
     "--data.init_args.splits in clips (train, val, test; -1: the rest), or add videos"),
    ("data-curves-objects",
     '`make train DOMAIN=polynomial DATA=file ARGS="--data.init_args.root=ragged.npz"` (curves saved as Python lists '
     'of other lengths)',
     lambda w: ["make", "train", "DOMAIN=polynomial", "DATA=file",
                f"ARGS=--data.init_args.root={w}/input/ragged.npz --run_root {w}/runs"],
     "{w}/input/ragged.npz: its arrays must hold numbers, but one holds Python objects (pickled data is never "
     "loaded)"),
    ("data-batch-size",
     '`--data.init_args.batch_size=-4` (or 0)',
     lambda w: ["cli", "fit", *POLY, "--data.init_args.batch_size=-4", *_runs(w)],
     "batch_size must be >= 1, got -4"),
    ("data-gp-not-positive-definite",
     '`make train DOMAIN=polynomial DATA=gp_rbf ARGS="--data.init_args.variance=1e6 --data.init_args.lengthscale=2 '
     '--data.init_args.resolution=1024"`',
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "polynomial.yaml"), "--config",
                str(CONFIGS / "polynomial" / "gp_rbf.yaml"), "--data.init_args.variance=1e6",
                "--data.init_args.lengthscale=2", "--data.init_args.resolution=1024", *_runs(w)],
     "gp_rbf: the covariance of 1,024 points on [-2, 2] with lengthscale 2 and variance 1e+06 is not positive definite "
     "in float64 (its nugget, 1e-08, is lost to rounding): lower --data.init_args.variance, lengthscale or resolution"),
    ("data-gp-resolution-beyond-memory",
     '`make train DOMAIN=polynomial DATA=gp_rbf ARGS="--data.init_args.resolution=10000000"` (its functions drawn '
     'from a covariance of 800 TB) with 20 GiB of memory available',
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "polynomial.yaml"), "--config",
                str(CONFIGS / "polynomial" / "gp_rbf.yaml"), "--data.init_args.resolution=10000000", *_runs(w)],
     "gp_rbf: the covariance of 10,000,000 points (--data.init_args.resolution) and its Cholesky factor, float64 "
     "[R, R] each, need at least 1.42 PiB: more than "),
    ("data-polynomial-resolution-beyond-memory",
     '`make train DOMAIN=polynomial ARGS="--data.init_args.resolution=1000000000"` (the powers of its grid alone '
     '56 GB) with 20 GiB of memory available',
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "polynomial.yaml"), "--data.init_args.resolution=1000000000",
                *_runs(w)],
     "polynomial: the grid of 1e+09 points (--data.init_args.resolution), its 7 powers and 256 functions drawn on it "
     "at once, float64 [R] each, need at least 1.92 TiB: more than "),
    ("data-gp-no-noise",
     '`make train DOMAIN=polynomial DATA=gp_tnp_rbf ARGS="--data.init_args.noise_std=0"` (inf or nan: `must be a '
     'finite number > 0 (the benchmark\'s observation noise; the protocol\'s 0.02), got inf`)',
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "polynomial.yaml"), "--config",
                str(CONFIGS / "polynomial" / "gp_tnp_rbf.yaml"), "--data.init_args.noise_std=0", *_runs(w)],
     "--data.init_args.noise_std must be a finite number > 0 (the benchmark's observation noise; the protocol's "
     "0.02), got 0.0: without observation noise the benchmark's covariance of a function's points is singular"),
    ("data-gp-without-its-sampler",
     '`make train DOMAIN=polynomial ARGS="--data.init_args.dataset=gp_tnp_rbf"` (the benchmark\'s data under the '
     'default config\'s set sampler; its sampler over other data: `model.sets ProtocolSetSampler draws the GP '
     'benchmark\'s sets from its point sets ..., not from gp_rbf data`)',
     lambda w: ["cli", "fit", *POLY, "--data.init_args.dataset=gp_tnp_rbf", *_runs(w)],
     "gp_tnp_rbf data are the GP benchmark's point sets, which only its own set sampler reads: give --config "
     "configs/polynomial/gp_tnp_rbf.yaml (make train or make eval DATA=gp_tnp_rbf), whose model.sets is "
     "domains.polynomial.protocol.ProtocolSetSampler (in Python: sets=ProtocolSetSampler())"),
    ("data-value-range-float32",
     '`make train DOMAIN=polynomial ARGS="--data.init_args.val_range=[-1e30,1e30]"` (beyond ±1e15, also '
     '`.inf` or `.nan`)',
     lambda w: ["cli", "fit", *POLY, "--data.init_args.val_range=[-1e30,1e30]", *_runs(w)],
     "--data.init_args.val_range must be [low, high], finite numbers within +-1000000000000000 (the model's float32 "
     "arithmetic) with low < high, got [-1e+30, 1e+30]"),
    ("data-val-items",
     '`--data.init_args.val_items=0` (how many val items validate)',
     lambda w: ["cli", "fit", *POLY, "--data.init_args.val_items=0", *_runs(w)],
     "--data.init_args.val_items must be >= 1 (null: the whole val split), got 0; --trainer.limit_val_batches=0 "
     "turns validation off"),
    # ---- config ------------------------------------------------------------------------------------------
    ("config-unknown-domain",
     '`make train DOMAIN=imgs`',
     lambda w: ["make", "train", "DOMAIN=imgs"],
     "unknown DOMAIN=imgs; choose one of: " + " ".join(sorted(p.stem for p in CONFIGS.glob("*.yaml")))),
    ("config-unknown-dataset",
     '`make train DOMAIN=images DATA=imagenet`',
     lambda w: ["make", "train", "DOMAIN=images", "DATA=imagenet"],
     "unknown DATA=imagenet for DOMAIN=images; choose one of: cats cifar10 mnist"),
    ("config-option-file-as-data",
     '`make train DOMAIN=sdf DATA=eval_quick` (an option file, not a dataset)',
     lambda w: ["make", "train", "DOMAIN=sdf", "DATA=eval_quick",  # else a short fit into the world folder
                f"ARGS=--run_root {w}/runs --trainer.max_steps=1 --trainer.limit_val_batches=0"],
     'configs/sdf/eval_quick.yaml is an option file, not a dataset: give it as ARGS="--config '
     'configs/sdf/eval_quick.yaml" (DATA= is one of: modelnet shapenet shapenet_paper)'),
    ("config-unknown-option",
     'a misspelt option: `--model.net.widht=64`',
     lambda w: ["cli", "fit", *POLY, "--model.net.widht=64", *_runs(w)],
     "--model.net.widht=64 (options: pixeltransformer fit --help)"),
    ("config-other-domain",
     "another domain's overlay: `--config configs/images.yaml --config configs/video/beach.yaml`",
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "images.yaml"), "--config", str(CONFIGS / "video/beach.yaml"),
                *_runs(w)],
     f"{CONFIGS}/video/beach.yaml is an overlay of {CONFIGS}/video.yaml (the video domain), but the data before it is "
     f"{CONFIGS}/images.yaml's (the images domain): give --config {CONFIGS}/video.yaml before it, in place of "
     f"{CONFIGS}/images.yaml"),
    ("config-unknown-option-in-a-file",
     "a misspelt option in a config file: `--config typo.yaml` holding `model: net: widht: 64`",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/typo.yaml", *_runs(w)],
     "{w}/input/typo.yaml: Subcommand 'fit' does not accept option 'model.net.widht' (options: pixeltransformer fit "
     "--help)"),
    ("config-moved-option-in-a-file",
     "an option by the name an earlier version gave it, in a config file or a run's config.yaml: `--config old.yaml` "
     "holding `model: encoder: buffered`",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/old.yaml", *_runs(w)],
     "{w}/input/old.yaml: Subcommand 'fit' does not accept option 'model.encoder'; model.encoder is now "
     "model.net.encoder (options: pixeltransformer fit --help)"),
    ("config-overlay-first",
     '`pixeltransformer fit --config configs/images/mnist.yaml` (an overlay, without `configs/images.yaml` first)',
     lambda w: ["cli", "fit", "--config", str(CONFIGS / "images/mnist.yaml"), *_runs(w)],
     f"{CONFIGS}/images/mnist.yaml is an overlay of {CONFIGS}/images.yaml: give --config {CONFIGS}/images.yaml "
     "before it"),
    ("config-bad-value",
     '`--model.net.encoder=sideways`',
     lambda w: ["cli", "fit", *POLY, "--model.net.encoder=sideways", *_runs(w)],
     "model.net.encoder must be one of bidirectional, buffered, incremental; got 'sideways'"),
    ("config-width-heads",
     '`--model.net.width=66` (heads 4: each head reads width / heads channels)',
     lambda w: ["cli", "fit", *POLY, "--model.net.width=66", "--model.net.heads=4", *_runs(w)],
     "model.net.width=66 must be divisible by model.net.heads=4 (each head reads width / heads channels)"),
    ("config-distance-sigma",
     '`--model.net.distance_sigma=[1.0,0.05]` (min above max; also a width of 0; with the distance bias on)',
     lambda w: ["cli", "fit", *POLY, "--model.net.distance_sigma=[1.0,0.05]", "--model.net.distance_bias=true",
                *_runs(w)],
     "model.net.distance_sigma must be finite widths 0 < min <= max, got [1.0, 0.05]"),
    ("config-fourier-scale",
     '`--model.net.fourier_scale=-1` (the frequencies\' standard deviation)',
     lambda w: ["cli", "fit", *POLY, "--model.net.fourier_scale=-1", *_runs(w)],
     "model.net.fourier_scale must be >= 0, got -1.0"),
    ("config-sets-every-point",
     '`make train DOMAIN=polynomial ARGS="--data.init_args.resolution=64 --model.sets.init_args.min_context=100 '
     '--model.sets.init_args.max_context=200"` (sets at grid points of 64)',
     lambda w: ["cli", "fit", *POLY, "--model.sets.init_args.min_context=100",
                "--model.sets.init_args.max_context=200", *_runs(w)],
     "model.sets.min_context=100 is at least the 64 grid points of polynomial/polynomial signals (64,): at grid "
     "points every training set would hold every point and leave no query unobserved; give min_context below 64"),
    ("config-true-precision",
     '`--trainer.precision=bf16-true` (also `16-true`, `64-true`: they cast the weights)',
     lambda w: ["cli", "fit", *POLY, "--trainer.precision=bf16-true", *_runs(w)],
     "trainer.precision=bf16-true casts the model's weights to bfloat16, but they must stay float32 (the distance "
     "bias and Fourier features run in float32): use 16-mixed or bf16-mixed for half precision, or 32-true"),
    ("config-default-root-dir",
     '`--trainer.default_root_dir=/tmp/x` (the CLI names the run folder)',
     lambda w: ["cli", "fit", *POLY, f"--trainer.default_root_dir={w}/elsewhere", *_runs(w)],
     "--trainer.default_root_dir: each run goes to its own folder, <run_root>/<domain>/<run_name>, where the CLI "
     "points Lightning: give --run_root DIR (and --run_name) instead"),
    ("config-file-default-root-dir",
     "a config file that sets `trainer.default_root_dir` (or the W&B logger's `group`): `--config mine.yaml`",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/mine.yaml", *_runs(w)],
     "{w}/input/mine.yaml sets trainer.default_root_dir: each run goes to its own folder, <run_root>/<domain>/"
     "<run_name>, where the CLI points Lightning: set run_root (and run_name) instead"),
    ("config-yaml-mistake",
     "a YAML mistake in a config file: `--config broken.yaml` holding `width: [64` (a bracket never closed)",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/broken.yaml", *_runs(w)],
     "{w}/input/broken.yaml: not valid YAML: expected ',' or ']', but got '<stream end>' at line 4, column 1 (while "
     "parsing a flow sequence at line 3, column 12)"),
    ("config-a-checkpoint",
     "a checkpoint given as a config: `make eval CKPT=... ARGS=\"--config runs/polynomial/r/checkpoints/last.ckpt\"`",
     lambda w: ["cli", "test", *POLY, "--config", f"{w}/runs/polynomial/old/checkpoints/last.ckpt"],
     "--config {w}/runs/polynomial/old/checkpoints/last.ckpt is not a text file (a config is YAML): a checkpoint is "
     "given as --ckpt_path"),
    ("config-empty-file",
     "a config file that is empty, or all comments: `--config empty.yaml`",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/empty.yaml", *_runs(w)],
     "{w}/input/empty.yaml holds no options (it is empty, or only comments): give options in it (model:, data:, "
     "trainer:, ...) or leave out --config {w}/input/empty.yaml"),
    ("config-empty-group",
     "a config file whose `model: net:` has its options commented out (also `trainer:`, `checkpoint:`, or a number "
     "there)",
     lambda w: ["cli", "fit", *POLY, "--config", f"{w}/input/nonet.yaml", *_runs(w)],
     "{w}/input/nonet.yaml: model.net is empty (null): give its options indented below it, or leave net: out"),
    ("config-wandb-group",
     '`--trainer.logger.init_args.group=sweep` (the CLI names each run folder\'s W&B group)',
     lambda w: ["cli", "fit", *POLY, "--trainer.logger.init_args.group=sweep", *_runs(w)],
     "--trainer.logger.init_args.group: a run folder's fits and evaluations form one W&B group, <domain>/<run_name>, "
     "which the CLI names: gather runs with W&B tags instead: --trainer.logger.init_args.tags=[...]"),
    ("config-optimizer",
     "LightningCLI's `--optimizer=SGD` (also `--lr_scheduler=...`)",
     lambda w: ["cli", "fit", *POLY, "--optimizer=SGD", "--optimizer.lr=0.1", *_runs(w)],
     "--optimizer: the model trains with AdamW, a warmup and a cosine decay set by model.optim, not LightningCLI's "
     "--optimizer/--lr_scheduler: give --model.optim.lr, .weight_decay, .warmup_steps or .min_lr_ratio"),
    ("config-no-training-batches",
     '`--trainer.limit_train_batches=0` on a fit (no training batch: no step, no checkpoint)',
     lambda w: ["cli", "fit", *POLY, "--trainer.limit_train_batches=0", *_runs(w)],
     "trainer.limit_train_batches must be above 0 for fit (got 0): a fit of no training batch saves no checkpoint; "
     "to validate a checkpoint alone: pixeltransformer validate --ckpt_path CKPT"),
    ("config-val-batch-limit",
     '`--trainer.limit_val_batches=4` (4 batches of each device: other items at another batch size or device count)',
     lambda w: ["cli", "fit", *POLY, "--trainer.limit_val_batches=4", *_runs(w)],
     "trainer.limit_val_batches=4 validates 4 batches on each device, so val/nll would score other items at another "
     "batch size or device count: choose the items instead with --data.init_args.val_items=N (the first N val items; "
     "null: all of them), or turn validation off with --trainer.limit_val_batches=0"),
    # ---- checkpoints -------------------------------------------------------------------------------------
    ("ckpt-missing",
     '`make eval CKPT=missing.ckpt`',
     lambda w: ["make", "eval", f"CKPT={w}/ckpt/missing.ckpt"],
     "checkpoint not found: {w}/ckpt/missing.ckpt"),
    ("ckpt-empty",
     '`make eval CKPT=empty.ckpt` (0 bytes)',
     lambda w: ["make", "eval", f"CKPT={w}/ckpt/empty.ckpt"],
     "cannot read checkpoint {w}/ckpt/empty.ckpt: the file is empty"),
    ("ckpt-truncated",
     '`pixeltransformer test --config configs/polynomial.yaml --ckpt_path truncated.ckpt` (cut short)',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/ckpt/truncated.ckpt"],
     "truncated.ckpt: not a PyTorch checkpoint, or truncated"),
    ("ckpt-not-a-checkpoint",
     '`pixeltransformer fit --config configs/polynomial.yaml --ckpt_path tensors.ckpt` (other tensors)',
     lambda w: ["cli", "fit", *POLY, "--ckpt_path", f"{w}/ckpt/tensors.ckpt", *_runs(w)],
     "tensors.ckpt is not a PixelTransformer checkpoint"),
    ("ckpt-old-format",
     '`pixeltransformer test --config configs/polynomial.yaml --ckpt_path format1.ckpt` (written by release 0.1)',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/ckpt/format1.ckpt"],
     "checkpoint format 1 (flat model options) is not supported by this version (expects 2): retrain, or use "
     "release 0.1"),
    ("ckpt-another-model",
     '`pixeltransformer test --config configs/polynomial.yaml --ckpt_path lightning.ckpt` (another model\'s)',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/ckpt/lightning.ckpt"],
     "{w}/ckpt/lightning.ckpt: not a PixelTransformer checkpoint (it records no pixeltransformer_format: a "
     "Lightning checkpoint of another model?)"),
    ("ckpt-hand-written",
     "`make sample DOMAIN=images CKPT=handmade.ckpt CONTEXT='[[0.5, 0.5, 0.3]]'` (written by hand, without the "
     "Lightning version a Trainer records)",
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/handmade.ckpt", "CONTEXT=[[0.5, 0.5, 0.3]]"],
     "{w}/ckpt/handmade.ckpt: it records no pytorch-lightning_version, which Lightning reads to restore it (a "
     "checkpoint written by hand?)"),
    ("ckpt-unknown-option",
     '`pixeltransformer test --config configs/polynomial.yaml --ckpt_path newer.ckpt` (its hyper_parameters name an '
     'option this version does not take: a later version\'s, or edited)',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/ckpt/newer.ckpt"],
     "{w}/ckpt/newer.ckpt: its hyper_parameters hold model.net.future_knob, which this version does not take: the "
     "checkpoint comes from another version of PixelTransformer, or was edited; use it with the version that wrote "
     "it, or retrain"),
    ("ckpt-resized-hyperparameters",
     '`pixeltransformer test --config configs/polynomial.yaml --ckpt_path resized.ckpt` (its hyper_parameters '
     'edited to another width than its weights)',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/ckpt/resized.ckpt"],
     "{w}/ckpt/resized.ckpt: weights do not match the model its hyper_parameters describe ("),
    ("ckpt-malicious",
     '`pixeltransformer fit --config configs/polynomial.yaml --ckpt_path evil.ckpt` (carries pickled code)',
     lambda w: ["cli", "fit", *POLY, "--ckpt_path", f"{w}/ckpt/evil.ckpt", *_runs(w)],
     "refusing {w}/ckpt/evil.ckpt: it needs code beyond tensors and plain types"),
    ("ckpt-diverged",
     '`make eval CKPT=diverged.ckpt` (saved after the training diverged: NaN weights)',
     lambda w: ["make", "eval", f"CKPT={w}/ckpt/diverged.ckpt"],
     "refusing {w}/ckpt/diverged.ckpt: its weights hold NaN or Inf (1 of "),
    ("ckpt-other-domain",
     '`make eval DOMAIN=images CKPT=runs/polynomial/old/checkpoints/last.ckpt`',
     lambda w: ["make", "eval", "DOMAIN=images", "WANDB=offline",
                f"CKPT={w}/runs/polynomial/old/checkpoints/last.ckpt"],
     "checkpoint is for polynomial/polynomial, but the data is images/digits (use its own data: "
     "DOMAIN=polynomial, or the config.yaml of its run folder)"),
    ("ckpt-grey-model-on-colour-data",
     '`make eval DOMAIN=images DATA=cifar10 CKPT=runs/images/mnist/checkpoints/last.ckpt` (a grey MNIST model on '
     'colour pictures, whose value bins give its weights other shapes)',
     lambda w: ["make", "eval", "DOMAIN=images", "DATA=cifar10", f"CKPT={w}/runs/images/mnist/checkpoints/last.ckpt",
                f"ARGS=--data.init_args.root={w}/input/colour.npz"],
     "checkpoint is for images/mnist with grid_shape=[28, 28], but the data is images/cifar10 with grid_shape=[32, "
     "32] (use its own data: DATA=mnist, or the config.yaml of its run folder)"),
    ("ckpt-other-bins-of-its-data",
     '`make eval DOMAIN=images CKPT=digits.ckpt ARGS=--data.init_args.num_bins=16` (a digits model of 32 value bins '
     'on its data binned otherwise)',
     lambda w: ["make", "eval", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", "ARGS=--data.init_args.num_bins=16"],
     "checkpoint is for images/digits with num_bins=32, but the data is images/digits with num_bins=16 (use the "
     "config.yaml of its run folder: its data is read otherwise)"),
    ("gpu-trainer-without-gpu",
     '`pixeltransformer fit --config configs/polynomial.yaml --config configs/trainer/gpu.yaml` on a machine without a GPU',
     lambda w: ["cli", "fit", *POLY, "--config", str(CONFIGS / "trainer" / "gpu.yaml"), *_runs(w)],
     "trainer.accelerator=gpu, but torch sees no GPU device here (torch {torch}, a CPU build): to run on the CPU, "
     "leave out configs/trainer/gpu.yaml"),
    ("resume-no-checkpoint",
     '`make train RESUME=runs/polynomial/nockpt` (a run that never saved)',
     lambda w: ["make", "train", f"RESUME={w}/runs/polynomial/nockpt"],
     "no checkpoints/last.ckpt in that folder (its fit stopped before the first save): train it again under "
     "another --run_name (or, if no fit runs in it, delete {w}/runs/polynomial/nockpt to reuse the name)"),
    ("resume-truncated",
     '`make train RESUME=runs/polynomial/cut` (its last.ckpt cut short; where the run kept a best-step*.ckpt: `a '
     'resume goes on from last.ckpt alone: copy it again whole (where it was copied from), or start a new run from '
     'best-step000400.ckpt: pixeltransformer fit --config runs/polynomial/cut/config.yaml --ckpt_path '
     'runs/polynomial/cut/checkpoints/best-step000400.ckpt --run_name NEW`)',
     lambda w: ["make", "train", f"RESUME={w}/runs/polynomial/cut"],
     "cut/checkpoints/last.ckpt: not a PyTorch checkpoint, or truncated: a resume goes on from last.ckpt alone, and "
     "the run kept no other checkpoint: copy it again whole (where it was copied from), or train it again under "
     "another --run_name (or, if no fit runs in it, delete {w}/runs/polynomial/cut to reuse the name)"),
    # ---- inputs to predict -------------------------------------------------------------------------------
    ("sample-no-input",
     '`make sample CKPT=digits.ckpt` without INPUT',
     lambda w: ["make", "sample", f"CKPT={w}/ckpt/digits.ckpt"],
     "make sample needs INPUT="),
    ("sample-input-missing",
     '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=cat.png` (no such file)',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", f"INPUT={w}/input/cat.png"],
     "--input: file not found: {w}/input/cat.png"),
    ("sample-input-not-an-image",
     '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=notes.png` (a text file)',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", f"INPUT={w}/input/notes.png",
                f"OUT={w}/out"],
     "notes.png: not a readable image"),
    ("sample-empty-checkpoint",
     '`make sample CKPT=empty.ckpt INPUT=notes.png`',
     lambda w: ["make", "sample", f"CKPT={w}/ckpt/empty.ckpt", f"INPUT={w}/input/notes.png"],
     "the file is empty"),
    ("sample-malicious-checkpoint",
     '`make sample CKPT=evil.ckpt INPUT=notes.png` (carries pickled code)',
     lambda w: ["make", "sample", f"CKPT={w}/ckpt/evil.ckpt", f"INPUT={w}/input/notes.png"],
     "refusing {w}/ckpt/evil.ckpt: it needs code beyond tensors and plain types"),
    ("sample-context-rows",
     "`make sample DOMAIN=images CKPT=digits.ckpt CONTEXT='[[0.1, 0.2]]'` (a row too short)",
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", "CONTEXT=[[0.1, 0.2]]"],
     "--context: expected a non-empty list of [y, x, value] rows (3 numbers each); row 1 has 2"),
    ("sample-context-two-values",
     "`make sample DOMAIN=images CKPT=digits.ckpt CONTEXT='[[0.1, 0.2, 0.5], [0.1, 0.2, 0.9]]'` (two values at one "
     "position)",
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt",
                "CONTEXT=[[0.1, 0.2, 0.5], [0.1, 0.2, 0.9]]"],
     "--context: rows 1 and 2 give position [0.1, 0.2] two values, [0.5] and [0.9]: give one value a position"),
    ("sample-num-context-with-context",
     "`make sample DOMAIN=images CKPT=digits.ckpt CONTEXT='[[0.1, 0.2, 0.5]]' ARGS=\"--num_context 32\"`",
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", "CONTEXT=[[0.1, 0.2, 0.5]]",
                "ARGS=--num_context 32"],
     "--num_context draws S at random from the --input, --context gives S instead (its rows): pass one"),
    ("sample-wrong-domain",
     '`make sample DOMAIN=images CKPT=runs/polynomial/old/checkpoints/last.ckpt INPUT=notes.png`',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/runs/polynomial/old/checkpoints/last.ckpt",
                f"INPUT={w}/input/notes.png"],
     "checkpoint is for polynomial/polynomial, but the data is images/digits (use its domain: DOMAIN=polynomial)"),
    ("sample-out-taken",
     '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=digit.png OUT=taken` (taken holds a prediction)',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", f"INPUT={w}/input/digit.png",
                f"OUT={w}/taken"],
     "--out {w}/taken: already exists and is not an empty folder; choose a new one (nothing was written)"),
    ("sample-input-folder",
     '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=pictures/` (a folder: a prediction completes one file)',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", f"INPUT={w}/input/"],
     "--input {w}/input/ is a folder: a prediction reads one file; give one of the files in it"),
    ("sample-temperature-inf",
     '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=digit.png ARGS="--temperature inf"` (also nan, -inf, -1)',
     lambda w: ["make", "sample", "DOMAIN=images", f"CKPT={w}/ckpt/digits.ckpt", f"INPUT={w}/input/digit.png",
                "ARGS=--temperature inf"],
     "--temperature must be a finite number >= 0 (0: the most likely bin's mean at each step), got inf"),
    # ---- run folders -------------------------------------------------------------------------------------
    ("run-name-taken",
     '`make train ARGS="--run_name old"` where runs/polynomial/old exists',
     lambda w: ["make", "train", f"ARGS=--run_root {w}/runs --run_name old"],
     "run folder {w}/runs/polynomial/old already exists: continue it with --resume"),
    ("run-name-taken-without-checkpoint",
     '`make train ARGS="--run_name nockpt"` where runs/polynomial/nockpt exists but never saved a checkpoint',
     lambda w: ["make", "train", f"ARGS=--run_root {w}/runs --run_name nockpt"],
     "run folder {w}/runs/polynomial/nockpt already exists, without checkpoints/last.ckpt (its fit stopped before "
     "the first save, or is still running), so it cannot be resumed: train it again under another --run_name"),
    ("eval-elsewhere",
     '`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt` on node3 while node7 evaluates it (or was killed '
     'doing so): a lock may hold on one machine alone',
     lambda w: ["cli", "test", *POLY, "--ckpt_path", f"{w}/runs/polynomial/elsewhere/checkpoints/last.ckpt"],
     "{w}/runs/polynomial/elsewhere/eval is being replaced by an evaluation on another machine (process 4242 on "
     f"node7), which cannot be checked from {socket.gethostname()}: wait for it to end, or if it no longer runs, "
     "delete its partial files, {w}/runs/polynomial/elsewhere/eval, then {w}/runs/polynomial/elsewhere/.eval.lock"),
    ("resume-missing-folder",
     '`make train RESUME=runs/polynomial/gone`',
     lambda w: ["make", "train", f"RESUME={w}/runs/polynomial/gone"],
     "--resume {w}/runs/polynomial/gone: no such run folder"),
    ("resume-with-another-domain-config",
     '`make train RESUME=runs/polynomial/old ARGS="--config configs/images.yaml"` (another domain\'s config)',
     lambda w: ["make", "train", f"RESUME={w}/runs/polynomial/old", "ARGS=--config configs/images.yaml"],
     "--config configs/images.yaml is for the images domain, but --resume {w}/runs/polynomial/old continues a "
     "polynomial run with its own config.yaml: leave it out and give only what changes"),
    ("resume-a-checkpoint",
     '`make train RESUME=runs/polynomial/old/checkpoints/last.ckpt` (a checkpoint, not its run folder)',
     lambda w: ["make", "train", f"RESUME={w}/runs/polynomial/old/checkpoints/last.ckpt"],
     "--resume {w}/runs/polynomial/old/checkpoints/last.ckpt: a checkpoint, not a run folder; a resume continues its "
     "run folder's checkpoints/last.ckpt: --resume {w}/runs/polynomial/old"),]


def row_env(w: Path, wandb: str = "disabled") -> dict[str, str]:
    """The environment of a row's command: the world's data and cache, W&B as asked."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIXELTRANSFORMER_", "LOCAL_RANK", "WORLD_SIZE", "MAKE", "MFLAGS"))}
    env.update(WANDB_MODE=wandb, PIXELTRANSFORMER_DATA=str(w / "data"), XDG_CACHE_HOME=str(w / "cache"),
               OMP_NUM_THREADS="1", PYTHONPATH=f"{REPO / 'src'}:{REPO}",
               MPLCONFIGDIR=str(w.parent / f"{w.name}-matplotlib"))  # matplotlib's font cache is not the project's
    return env


def run_row(command: list[str], w: Path, debug: bool = False, wandb: str = "disabled") -> subprocess.CompletedProcess:
    kind, *args = command
    env = row_env(w, wandb)
    if debug:
        env["PIXELTRANSFORMER_DEBUG"] = "1"
    if kind == "make":
        argv = ["make", "-s", "--no-print-directory", f"VENV={VENV}", "-o", f"{VENV}/.installed",
                f"WANDB={wandb}", *args]
    else:
        argv = [sys.executable, "-m", "pixeltransformer", *args]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip() and not line.startswith("make: ***")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_gives_one_line_and_changes_nothing(row, world):
    name, _, command, expected = row
    if name == "gpu-trainer-without-gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so the GPU trainer file is not bad input here")
    before = snapshot(world)
    proc = run_row(command(world), world)
    after = snapshot(world)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert TRACEBACK not in out, out[-3000:]
    line = last_line(proc.stderr)
    assert "error: " in line or "***" in line, out[-3000:]
    assert expected.format(w=world, torch=torch.__version__) in line, out[-3000:]
    assert before == after, sorted(set(before.items()) ^ set(after.items()))[:10]
    assert not (world / "pwned").exists()


def test_a_start_that_fails_after_wandb_began_leaves_nothing(world):
    """With W&B offline (the default), a fit whose data fails after the logger started (an MNIST root without
    MNIST in it) leaves no run folder: W&B's own teardown would otherwise write wandb/offline-run-*/ into it, and
    a re-run under the same --run_name would be refused."""
    before = snapshot(world)
    command = ["make", "train", "DOMAIN=images", "DATA=mnist",
               f"ARGS=--data.init_args.root={world}/input --run_root {world}/runs --run_name again"]
    proc = run_row(command, world, wandb="offline")
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    assert f"MNIST test images not found in {world}/input" in last_line(proc.stderr)
    after = project_files(snapshot(world))
    assert after == project_files(before), sorted(set(project_files(before).items()) ^ set(after.items()))[:10]


@pytest.mark.parametrize("root", ["nope", "input"], ids=["root-missing", "root-without-mnist"])
def test_an_evaluation_given_a_root_without_its_data_writes_nothing(world, root):
    """With W&B offline (the default), `make eval` of an MNIST run given a --data.init_args.root without MNIST leaves
    the run folder as it was. A root that does not exist, or one without MNIST's files, stops before the evaluation
    starts (MNIST's grey bins read no pixels when the model is made, so the data was first read once the evaluation
    ran, after W&B had written wandb/offline-run-*/ into the run folder)."""
    before = snapshot(world)
    command = ["make", "eval", "DOMAIN=images", "DATA=mnist", f"CKPT={world}/runs/images/mnist/checkpoints/last.ckpt",
               f"ARGS=--data.init_args.root={world}/{root}"]
    proc = run_row(command, world, wandb="offline")
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    assert f"MNIST test images not found in {world}/{root}" in last_line(proc.stderr)
    after = project_files(snapshot(world))
    assert after == project_files(before), sorted(set(project_files(before).items()) ^ set(after.items()))[:10]


def project_files(snap: dict) -> dict:
    """A snapshot without W&B's own logs (under the cache folder) and folder times (runs/ may hold a run folder for
    a moment)."""
    return {k: (v if not v[0] else None) for k, v in snap.items() if k != "cache" and not k.startswith("cache/")}


def test_debug_shows_the_traceback(world):
    before = snapshot(world)
    proc = run_row(["cli", "fit", *POLY, "--data.init_args.batch_size=0", *_runs(world)], world, debug=True)
    assert proc.returncode != 0
    assert TRACEBACK in proc.stderr and "batch_size must be >= 1, got 0" in proc.stderr
    assert snapshot(world) == before


def test_data_that_fails_to_load_is_read_once(world, tmp_path):
    """A video folder whose only file cannot be decoded is read once: its "skipping" warning comes once, then the
    error. The failure happens while the model's spec is computed (k-means bins read the training pixels), and the
    parser that words it asked for the DataModule's str, Lightning's, which built each split again: the folder was
    decoded five times, its warnings printed five times."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    before = snapshot(world)
    command = ["cli", "fit", "--config", str(CONFIGS / "video.yaml"), "--config", str(CONFIGS / "video/folder.yaml"),
               f"--data.init_args.root={folder}", *_runs(world)]
    proc = run_row(command, world)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    assert f"no clips of 17 frames from 1 video file under {folder}" in last_line(proc.stderr)
    assert proc.stderr.count(f"skipping {folder / 'empty.mp4'}, which cannot be decoded") == 1, proc.stderr[-3000:]
    assert snapshot(world) == before


def test_pictures_of_one_colour_are_refused_in_one_line(world):
    """docs/errors.md's row of blank pictures: MNIST's grey bins read no pixels when the model is made, so its data is
    first read once the run folder has begun (which is then removed: the folder that holds the runs changes time)."""
    before = snapshot(world)
    command = ["make", "train", "DOMAIN=images", "DATA=mnist",
               f"ARGS=--data.init_args.root={world}/input/blank_mnist --run_root {world}/runs --trainer.max_steps=1 "
               "--trainer.limit_val_batches=0"]  # short, were it to train
    proc = run_row(command, world)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    assert TRACEBACK not in proc.stdout + proc.stderr
    assert last_line(proc.stderr) == (f"error: {world}/input/blank_mnist: every pixel of its 20 pictures is 0 of 255: "
                                      "pictures of one colour leave nothing to learn")
    after = project_files(snapshot(world))
    assert after == project_files(before), sorted(set(project_files(before).items()) ^ set(after.items()))[:10]


def test_a_prediction_stopped_by_sigterm_exits_143_and_writes_nothing(world, tmp_path):
    """SIGTERM (kill, timeout, a scheduler's end of a job) during a prediction's sampling: Lightning's handler only
    noted it, its predict loop never looked, and the completion ran on to the end, wrote its files and exited 0
    (`timeout 150` on an SDF prediction: it ran 7 minutes). It now stops with status 143, one line, no files."""
    import signal

    import shutil

    before = snapshot(world)
    shutil.copy(world / "ckpt" / "digits.ckpt", tmp_path / "digits.ckpt")
    argv = [sys.executable, "-m", "pixeltransformer", "predict", "--config", str(CONFIGS / "images.yaml"),
            "--ckpt_path", str(tmp_path / "digits.ckpt"), "--input", str(world / "input" / "digit.png"),
            "--out", str(tmp_path / "stopped"), "--resolution", "64", "--num_samples", "4",
            "--n_autoregressive", "4096"]
    proc = subprocess.Popen(argv, cwd=REPO, env=row_env(world), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    try:
        for line in proc.stdout:  # the sampler's progress: the completion is under way, not yet at its end
            seen.append(line)
            count = re.match(r"\[sampling [^\]]*\] (\d+)/(\d+) ", line)
            if count and int(count.group(1)) < int(count.group(2)):
                proc.send_signal(signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 143, out[-3000:]
    assert TRACEBACK not in out, out[-3000:]
    assert out.strip().splitlines()[-1] == "[predict] SIGTERM: stopped; nothing was written", out[-3000:]
    assert not (tmp_path / "stopped").exists() and snapshot(world) == before
