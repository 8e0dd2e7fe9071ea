"""Can the data side feed a GPU? Per domain config: the CPU time to produce one training batch at the config's batch
size, beside the GPU time of the training step it feeds (the paper preset's FLOPs at an assumed bf16 rate).

    python -m benchmarks.feed                            # every config below, one torch thread
    python -m benchmarks.feed --only images/cifar10 sdf/shapenet_paper --batches 20

What it times, on this CPU with one thread (medians over ``--batches`` batches after a warm-up):

- ``loader_w0``: ``next()`` on the DataModule's own train loader with num_workers=0 (items, collate, all in this
  process); ``loader_w2``: the same with 2 workers, in the steady state (the main process's wait per batch);
- ``items`` and ``collate``: the two parts of loader_w0 (the dataset's reads of one batch, and the collate);
- ``to_float``: turning the batch sent into the float32 signal the module reads (nothing when the float is sent);
  on a GPU it runs on the device, in the step, so the ratios leave it out;
- ``module_cpu``: what the module does with the batch before the network (finite check, set sampling with its
  bilinear/trilinear reads, the loss's nearest-bin lookup of the query values), on the CPU: on a GPU it runs on
  the device, so it is part of the step there, and is shown for scale only;
- ``h2d_bytes``: the bytes of the batch's tensors, what the host-to-device copy moves.

The GPU step is FLOPs / rate: the FLOPs of the module's training step (forward and backward, roofline.py's count)
at the paper preset, for the config's batch, |Q| and grid, averaged over the |S| law of its sampler (a quadratic
in |S| fitted through counts at three sizes), at ``--tflops`` (default: 35 % of 400 TFLOP/s in bf16). ``ops`` is
the number of aten operations the step runs (at |S| = its largest, fp32 here; bf16 autocast adds casts): each is at
least one kernel launch, which bounds an eager step from below whatever its FLOPs. benchmarks/README.md has a run.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pixeltransformer.errors import (OneLineParser, debugging, fail, first_line, is_input_error, listed,
                                     root_cause)
from pixeltransformer.files import writable_problem, write_text


REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# name -> (domain config, overlay or None, extra command-line options)
CASES = {
    "images/mnist": ("images.yaml", "images/mnist.yaml", []),
    "images/cifar10": ("images.yaml", "images/cifar10.yaml", []),
    "images/cats": ("images.yaml", "images/cats.yaml", []),
    "sdf/modelnet": ("sdf.yaml", "sdf/modelnet.yaml", []),
    "sdf/shapenet": ("sdf.yaml", "sdf/shapenet.yaml", []),
    # 64^3 grids: a small mixture (the per-item cost does not depend on the number of shapes), cached apart
    "sdf/shapenet_paper": ("sdf.yaml", "sdf/shapenet_paper.yaml",
                           ["--data.init_args.num_shapes=[24,4,4]", "--data.init_args.max_shapes=16",
                            "--data.init_args.epoch_size=256"]),
    "video/beach": ("video.yaml", "video/beach.yaml", []),
    "video/folder": ("video.yaml", "video/folder.yaml", []),
    "polynomial": ("polynomial.yaml", None, []),
    "polynomial/gp_tnp_paper": ("polynomial.yaml", "polynomial/gp_tnp_rbf.yaml",
                                ["--config", str(CONFIGS / "polynomial/gp_tnp_paper.yaml")]),
}


def build(case: str, run_root: Path, extra: list[str]):
    """The config's DataModule and module at the paper preset, as the CLI composes them."""
    from pixeltransformer.cli import main

    domain, overlay, more = CASES[case]
    args = ["--config", str(CONFIGS / domain)]
    if overlay:
        args += ["--config", str(CONFIGS / overlay)]
    args += ["--config", str(CONFIGS / "model/paper.yaml"), *more, *extra, "--trainer.logger=false",
             "--trainer.callbacks=[]", "--run_root", str(run_root)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = main(args, run=False)
    # attached and running, as in a fit: a DataModule's loaders send batches as stored only under a running Trainer
    # (otherwise they make the float32 signal themselves)
    from lightning.pytorch.trainer.states import TrainerStatus

    cli.datamodule.trainer = cli.trainer
    cli.trainer.state.status = TrainerStatus.RUNNING
    return cli.datamodule, cli.model


def median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


def time_loader(loader, batches: int, warmup: int = 2) -> tuple[float, dict]:
    """Median seconds per ``next()`` over ``batches`` batches after ``warmup`` (the loader cycles), and one batch."""
    it, times, batch = iter(loader), [], None
    for i in range(warmup + batches):
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            t0 = time.perf_counter()
            batch = next(it)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return median_ms(times), batch


def batch_bytes(batch) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.numel() * batch.element_size()
    if isinstance(batch, dict):
        return sum(batch_bytes(v) for v in batch.values())
    if isinstance(batch, (list, tuple)):
        return sum(batch_bytes(v) for v in batch)
    return 0


def time_parts(dm, batches: int) -> dict[str, float]:
    """The items and the collate of one batch, apart (what a num_workers=0 loader does in the main process)."""
    from torch.utils.data import default_collate

    loader = dm.train_dataloader()
    collate = loader.collate_fn or default_collate
    ds, size = loader.dataset, loader.batch_size
    fetch = getattr(ds, "__getitems__", None)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    items_t, collate_t = [], []
    for b in range(batches + 1):
        idx = [order[(b * size + j) % len(order)] for j in range(size)]
        t0 = time.perf_counter()
        items = fetch(idx) if fetch is not None else [ds[i] for i in idx]
        t1 = time.perf_counter()
        collate(items)
        t2 = time.perf_counter()
        if b:
            items_t.append(t1 - t0)
            collate_t.append(t2 - t1)
    return {"items_ms": median_ms(items_t), "collate_ms": median_ms(collate_t)}


def device_signal(dm, batch) -> torch.Tensor:
    """The float32 signal the module reads, from the batch as the loader sends it (the DataModule's conversion on
    the device, where it has one)."""
    convert = getattr(dm, "on_after_batch_transfer", None)
    return convert(dict(batch), 0)["signal"] if convert is not None else batch["signal"]


def time_module_cpu(dm, module, batch, rounds: int) -> dict[str, float]:
    """to_float, then finite check + set sampling + nearest bins of the query values, on the CPU."""
    gen = torch.Generator().manual_seed(0)
    conv, work = [], []
    for r in range(rounds + 1):
        t0 = time.perf_counter()
        signal = device_signal(dm, batch)  # [B, V, *grid]
        t1 = time.perf_counter()
        module.finite_signal({**batch, "signal": signal}, 0, "training")
        sets = module.sampler(signal, gen)
        if module.dist.num_bins > 1:
            module.dist.nearest_bin(sets.qry_val)  # [B, Q]
        t2 = time.perf_counter()
        if r:
            conv.append(t1 - t0)
            work.append(t2 - t1)
    return {"to_float_ms": median_ms(conv), "module_cpu_ms": median_ms(work)}


def k_law(sampler, num_points: int) -> tuple[int, int, np.ndarray]:
    """The |S| law of the sampler's training draws: (low, high, probabilities of low..high)."""
    hi = sampler.max_context if not sampler.grid_points else min(sampler.max_context, num_points)
    lo = min(sampler.min_context, hi)
    ks = np.arange(lo, hi + 1, dtype=float)
    p = (np.log(ks + 1) - np.log(ks)) / (math.log(hi + 1) - math.log(lo))
    return lo, hi, p / p.sum()


class OpCount(TorchDispatchMode):
    """Counts the aten operations run under it (forward and backward): on a GPU each is at least one kernel launch."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def step_flops(module, signal: torch.Tensor, k: int, ops: bool = False) -> int:
    """FLOPs of one training step (forward and backward) of ``signal`` [b, V, *grid] with |S| = k; with ``ops``,
    the number of aten operations it runs instead."""
    from .roofline import count_flops

    sampler = module.sampler
    module.sampler = fixed = copy.copy(sampler)
    fixed.min_context = fixed.max_context = k
    module.model.zero_grad(set_to_none=True)

    def step() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = module.training_step({"signal": signal}, 0)
        loss.backward()

    try:
        if not ops:
            return count_flops(step)
        with OpCount() as counter:
            step()
        return counter.ops
    finally:
        module.sampler = sampler
        module.model.zero_grad(set_to_none=True)


def mean_step_flops(module, signal: torch.Tensor, batch_size: int) -> dict:
    """The expected FLOPs of a training step at ``batch_size`` over the sampler's |S| law: counted for one signal
    at three |S| (FLOPs are linear in the batch), a quadratic in |S| through them."""
    sampler = module.sampler
    if type(sampler).__name__ == "ProtocolSetSampler":  # |S| + |Q| <= 49 points: count the largest sets
        return {"flops_mean": batch_size * step_flops(module, signal[:1], 46), "k_law": "protocol, counted at 46",
                "ops_per_step": step_flops(module, signal[:1], 46, ops=True)}
    num_points = math.prod(signal.shape[2:])
    lo, hi, p = k_law(sampler, num_points)
    ks = sorted({lo, (lo + hi) // 2, hi})
    counts = [step_flops(module, signal[:1], k) for k in ks]
    coeffs = np.polyfit(ks, counts, min(2, len(ks) - 1))
    grid = np.arange(lo, hi + 1, dtype=float)
    mean = float((np.polyval(coeffs, grid) * p).sum())
    return {"flops_mean": batch_size * mean, "flops_at_k": {int(k): batch_size * c for k, c in zip(ks, counts)},
            "k_mean": float((grid * p).sum()), "ops_per_step": step_flops(module, signal[:1], hi, ops=True)}


def build_all(cases: list[str], run_root: Path, extra: list[str]) -> dict[str, tuple]:
    """Every config's DataModule and module (:func:`build`), before the first is measured: a config without its
    data ended the command on a traceback once the configs before it had been measured (minutes), their rows lost.
    Bad input (a missing dataset, a bad --set) is one line, exit status 2, naming the first config it stopped and
    the others that are stopped too; a bug keeps its traceback."""
    built, failed = {}, {}
    for case in cases:
        try:
            built[case] = build(case, run_root, extra)
        except Exception as err:
            if not is_input_error(err) or debugging():
                raise
            failed[case] = first_line(root_cause(err))
    if failed:
        (case, line), *others = failed.items()
        also = f"; {listed(name for name, _ in others)} cannot be built either" if others else ""
        fail(f"{case}: {line}{also} (--set gives every config an option, --only leaves configs out)")
    return built


def measure(case: str, dm, module, batches: int, tflops: float) -> dict:
    """The times of one config's data side, beside its GPU step's (the module docstring), of its DataModule and
    module as :func:`build` made them."""
    module.train()
    dm.setup("fit")
    size = dm.batch_size
    out = {"case": case, "batch_size": size, "grid": list(dm.spec.grid_shape), "val_dims": dm.spec.val_dims,
           "num_bins": dm.spec.num_bins, "train_items": len(dm.dataset("train"))}
    workers = dm.num_workers
    try:
        dm.num_workers = 0
        out["loader_w0_ms"], batch = time_loader(dm.train_dataloader(), batches)
        out.update(time_parts(dm, batches))
        dm.num_workers = 2
        out["loader_w2_ms"], _ = time_loader(dm.train_dataloader(), 3 * batches, warmup=4)
    finally:
        dm.num_workers = workers
    out["h2d_bytes"] = batch_bytes(batch)
    out["sent_dtype"] = str(batch["signal"].dtype).removeprefix("torch.")
    out.update(time_module_cpu(dm, module, batch, batches))
    signal = device_signal(dm, batch)
    out.update(mean_step_flops(module, signal, size))
    out["gpu_step_ms"] = 1e3 * out["flops_mean"] / (tflops * 1e12)
    out["ratio_w0"] = out["loader_w0_ms"] / out["gpu_step_ms"]  # to_float runs on the device, in the step
    out["ratio_w2"] = out["loader_w2_ms"] / out["gpu_step_ms"]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m benchmarks.feed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--tflops", type=float, default=0.35 * 400, help="assumed GPU rate, TFLOP/s")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run_root", default="/tmp/pixeltransformer-feed-runs")
    parser.add_argument("--json", default=None, help="write the records here")
    parser.add_argument("--set", nargs="*", default=[], help="more options for every config (--data.init_args...)")
    args = parser.parse_args(argv)
    # before the configs are built and timed (minutes for all of them): a bad value failed at the end of its first
    # case (--batches 0: "no median for empty data"), an unwritable --json after every case, the records lost
    for name, low in (("batches", 1), ("threads", 1)):
        if getattr(args, name) < low:
            parser.error(f"--{name} must be >= {low}, got {getattr(args, name)}")
    if not args.tflops > 0:
        parser.error(f"--tflops must be > 0, got {args.tflops}")
    if args.json is not None:
        json_path = Path(args.json)
        if json_path.is_dir():
            parser.error(f"--json {json_path}: a folder; name the JSON file to write")
        # the runs' own check and wording: the folder it stops at, and why it cannot be written
        if problem := writable_problem(json_path.parent, f"--json {json_path}", "; name another --json",
                                       file=json_path):
            parser.error(problem)
    torch.set_num_threads(args.threads)
    args.only = list(dict.fromkeys(args.only))  # a config given twice is measured once
    built = build_all(args.only, Path(args.run_root), args.set)
    env = {"date": dt.datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
           "threads": args.threads, "cpus": os.cpu_count(), "load_start": os.getloadavg(), "tflops": args.tflops}
    rows = []
    for case in args.only:
        t0 = time.perf_counter()
        row = measure(case, *built.pop(case), args.batches, args.tflops)
        row["wall_s"] = time.perf_counter() - t0
        rows.append(row)
        print(f"{case:26s} B={row['batch_size']:<3d} sent {row['sent_dtype']:8s} {row['h2d_bytes'] / 1e6:8.3f} MB  "
              f"w0 {row['loader_w0_ms']:8.2f} ms (items {row['items_ms']:7.2f}, collate {row['collate_ms']:6.2f})  "
              f"w2 {row['loader_w2_ms']:7.2f} ms  to_float {row['to_float_ms']:6.2f}  module_cpu "
              f"{row['module_cpu_ms']:8.2f} ms  {row['flops_mean'] / 1e9:9.1f} GFLOP  gpu {row['gpu_step_ms']:7.2f} ms"
              f"  ratio w0 {row['ratio_w0']:6.2f} w2 {row['ratio_w2']:6.2f}  ops {row['ops_per_step']}", flush=True)
    env["load_end"] = os.getloadavg()
    print(json.dumps(env))
    if args.json:  # whole: a kill or a full disk in the middle leaves the records before
        write_text(args.json, json.dumps({"environment": env, "rows": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
