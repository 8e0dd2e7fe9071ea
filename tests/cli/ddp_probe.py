"""Callbacks the DDP and resume tests add through a config file: MetricsDump records the rank-averaged training
loss per step and the validation metrics and writes them as JSON from rank zero; PauseAtStep holds a run at a
given step so that a test can kill it there; SignalAtStep sends a signal there, as Ctrl-C or a scheduler does;
RankDraws records what each DDP rank drew at each step;
HelperNetworks records which rank trained the images evaluation's classifier and VAE, and the weights each used;
HelperFails makes building the classifier fail, as an unreadable training folder does; RankFails raises bad input on
one rank alone mid-fit."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class MetricsDump(Callback):
    def __init__(self, path: str):
        self.path = Path(path)
        self.losses: list[float] = []
        self.val: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = trainer.strategy.reduce(outputs["loss"].detach(), reduce_op="mean")
        self.losses.append(float(loss))

    def on_validation_end(self, trainer, pl_module) -> None:
        # after the module's epoch-end hook, so the synced metrics are in callback_metrics
        if not trainer.sanity_checking:
            self.val.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
        if trainer.state.fn == "validate":
            self._write(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self._write(trainer)

    def _write(self, trainer) -> None:
        if trainer.is_global_zero:
            self.path.write_text(json.dumps({"world_size": trainer.world_size, "losses": self.losses, "val": self.val}))


class PauseAtStep(Callback):
    """Before the batch that starts at global step ``step``: write ``flag`` and sleep (the test kills the run)."""

    def __init__(self, step: int, flag: str, seconds: float = 600.0):
        self.step, self.flag, self.seconds = step, Path(flag), seconds

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.flag.write_text(str(trainer.global_step))
            time.sleep(self.seconds)


class SignalAtStep(Callback):
    """Before the first batch that starts at global step ``step``, on the first rank: send the signal ``signum`` names
    (SIGINT or SIGTERM) ``times`` times to this process and its children (DataLoader workers), or with ``group`` to
    its whole process group, as a terminal's Ctrl-C does (every DDP rank). The step then runs to its end. With
    ``during="validation"``, before the first batch of the validation after that step instead. With ``another``, a
    process of its own sends it, as torchrun's agent or a scheduler does (not the DataLoader workers' parent).
    ``during="sanity"``: before the first batch of the sanity check; ``during="test"``: before the first test batch
    (an evaluation's global step is 0)."""

    def __init__(self, step: int, signum: str = "SIGINT", times: int = 1, group: bool = False,
                 during: str = "train", another: bool = False):
        self.step, self.signum, self.times, self.group = step, getattr(signal, signum), times, group
        self.during, self.another, self.sent = during, another, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.during == "train":
            self._send(trainer)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if (self.during == "validation" and not trainer.sanity_checking) or \
                (self.during == "sanity" and trainer.sanity_checking):
            self._send(trainer)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.during == "test":
            self._send(trainer)

    def _send(self, trainer) -> None:
        if self.sent or trainer.global_step != self.step or not trainer.is_global_zero:
            return
        self.sent = True
        for _ in range(self.times):
            if self.group:
                os.killpg(os.getpgrp(), self.signum)
                continue
            pids = [child.pid for child in multiprocessing.active_children()] + [os.getpid()]
            if self.another:
                name = self.signum.name.removeprefix("SIG")
                subprocess.run(["/bin/sh", "-c", f"kill -s {name} {' '.join(map(str, pids))}"], check=True)
                for pid in pids[:-1]:  # each worker has taken the signal: it ended on it, or it ignores it
                    _took(pid, self.signum)
                continue
            for pid in pids:
                os.kill(pid, self.signum)


def _took(pid: int, signum: int, seconds: float = 30.0) -> None:
    """Wait until process ``pid`` has ended (a zombie its parent has not reaped) or ignores ``signum`` (Linux /proc)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            ignored = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                               if line.startswith("SigIgn:")), 16)
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X") or ignored >> (signum - 1) & 1:
            return
        time.sleep(0.01)


class RankDraws(Callback):
    """After each training step, every rank's |S|, loss and a digest of its set-sampler generator's state, gathered
    to rank zero and written there as JSON at the end of the fit: {"<step>": [[|S|, loss, digest] per rank]}."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.steps: dict[int, list[list[float]]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        state = pl_module.generator.get_state().numpy().tobytes()
        digest = int(hashlib.sha256(state).hexdigest()[:12], 16)  # 48 bits: exact in a float64
        row = torch.tensor([float(trainer.callback_metrics["train/num_context"]), float(outputs["loss"]), digest],
                           dtype=torch.float64)  # [3]
        rows = trainer.strategy.all_gather(row).reshape(-1, 3)  # [W, 3]
        self.steps[trainer.global_step] = rows.tolist()

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.path.write_text(json.dumps(self.steps))


class HelperNetworks(Callback):
    """The images evaluation's classifier and VAE on each rank: which rank trained and cached one, and a digest of the
    weights each rank judges with, written by each rank as <path>.<rank>.json at the end of the test."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.saved: list[str] = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        from domains.images.baselines import cache

        save = cache.save_cached

        def recorded(path, *args, **kwargs):
            self.saved.append(Path(path).name.split("_")[0])  # "classifier" or "vae"
            return save(path, *args, **kwargs)

        cache.save_cached = recorded

    def on_test_end(self, trainer, pl_module) -> None:
        from domains.images.evaluation import ImageEvaluation

        sweep = next(c for c in trainer.callbacks if isinstance(c, ImageEvaluation))
        digests = {name: hashlib.sha256(b"".join(v.detach().cpu().numpy().tobytes()
                                                 for v in getattr(sweep, name).state_dict().values())).hexdigest()
                   for name in ("classifier", "vae")}
        out = self.path.with_name(f"{self.path.stem}.{trainer.global_rank}.json")
        out.write_text(json.dumps({"saved": self.saved, **digests}))


class HelperFails(Callback):
    """The images evaluation's classifier cannot be built where it is built (the first rank): reading its training
    pictures fails with an I/O error, as a network file system's may."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        from domains.images.baselines import pretrained

        def failing(dm, *args, **kwargs):
            raise OSError(5, "Input/output error", str(dm.root or "digits"))

        pretrained.load_classifier = failing


class RankFails(Callback):
    """At a given step one rank alone meets bad input (a ValueError), as a file that only it reads may be."""

    def __init__(self, rank: int, step: int):
        self.rank, self.step = rank, step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            raise ValueError(f"rank {self.rank}: a bad item at step {self.step}")
