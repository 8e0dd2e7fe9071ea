"""Checkpoints in the run folder, written atomically.

A checkpoint is first written next to its target and then renamed over it, so a job killed in the middle of a
save leaves the previous last.ckpt intact instead of a truncated file.

A fit stopped by Ctrl-C (SIGINT) or SIGTERM saves last.ckpt of its last completed step and says how to resume it. The
signal only marks the stop: the step under way finishes (its weights and optimizer are never saved half-updated), the
ranks agree at its end, and the save there is a regular one, so weights that hold NaN or Inf are refused as at any
save. Any other error saves nothing: the state it leaves is not known to be sound. While a fit trains, SIGTERM is
marked here rather than by Lightning's handler, which stops the fit where nothing is saved (in a validation, within a
gradient accumulation) and, under DDP, makes a collective inside the handler, wherever each rank is (the ranks hang
when one gets the signal twice, as when a scheduler signals every process and Lightning forwards it to its ranks).
The process then exits with status 143 (128 + SIGTERM) after SIGTERM and ends by SIGINT after Ctrl-C (status 130 in
a shell): a fit stopped early never reports success (under torchrun, torchrun's own failure status). A fit that ends
names the checkpoints it keeps (fit_summary).
"""

from __future__ import annotations

import ast
import math
import multiprocessing
import os
import re
import shlex
import signal
import threading
import time
from pathlib import Path
from weakref import proxy

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from .errors import another_rank_failed, failed_here
from .layout import BEST_FILENAME, best_checkpoint_step, next_command, test_command
from .loopbar import format_duration
from .media import log_summary
from .progress import time_limit

SIGTERM_STATUS = 128 + signal.SIGTERM  # 143: a fit that SIGTERM stopped has not finished


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that defaults to <run>/checkpoints and keeps last.ckpt and the best by val/nll.

    last.ckpt is written every `every_n_train_steps` steps from the first interval on, whether or not the
    monitored metric exists yet, every `every_minutes` of wall time, at the end of training, and at the end of the
    training step under way when the fit is stopped by Ctrl-C or SIGTERM (then it stops the fit). The best
    checkpoint is chosen after each validation, by that validation's value. Without a monitor the step
    checkpoints (top-k by recency) are written with last.ckpt. A resume may change how often it saves: a run resumed
    from its own folder goes on writing its last.ckpt, and keeps its best checkpoint while it ranks by the same monitor.

    Args:
        dirpath: where the checkpoints go; default ``<run>/checkpoints``.
        monitor: the logged value the best checkpoint is chosen by (default val/nll, after each validation); null:
            no best checkpoint, the step checkpoints are kept instead.
        mode: "min" or "max": which of the monitored values is best.
        save_last: keep ``last.ckpt``, the checkpoint a resume continues from.
        save_top_k: how many best checkpoints to keep (-1: all, 0: none).
        every_n_train_steps: write last.ckpt every this many training steps (null or 0: not by steps).
        filename: the best checkpoints' name pattern (``best-step004000.ckpt`` for step 4000).
        every_minutes: also write last.ckpt when this many minutes (above 0) of wall time have passed since the last
            one (null: by steps only), so a long step interval cannot lose hours of training to a preemption.
    """

    def __init__(self, dirpath: str | None = None, monitor: str | None = "val/nll", mode: str = "min",
                 save_last: bool = True, save_top_k: int = 1, every_n_train_steps: int | None = 500,
                 filename: str = BEST_FILENAME, every_minutes: float | None = 30.0, **kwargs):
        if every_minutes is not None and not every_minutes > 0:  # 0 or below: a save after every training step
            raise ValueError(f"checkpoint.every_minutes must be above 0 minutes, or null to save by steps only "
                             f"(got {every_minutes})")
        super().__init__(dirpath=dirpath, monitor=monitor, mode=mode, save_last=save_last, save_top_k=save_top_k,
                         every_n_train_steps=every_n_train_steps, filename=filename,
                         auto_insert_metric_name=False, **kwargs)
        self.every_minutes = every_minutes
        self._last_time = time.monotonic()
        self._interrupted = False  # Ctrl-C was pressed: stop at the end of the training step under way
        self._terminated = False  # SIGTERM came: the same
        self._on_sigint = None  # the SIGINT handler while a fit trains (on_train_start)
        self._on_sigterm = self._sigterm_before = None  # the SIGTERM handler while a fit trains, and Lightning's
        self._announce = False  # this process prints the stop's lines (rank zero)
        self._stopped: str | None = None  # the line that says where a stopped fit was saved
        self.best_model_step: int | None = None  # the training step of best_model_score's weights

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Lightning's ModelCheckpoint holds step saves back until the monitored metric exists (a run killed
        # before its first validation would leave no checkpoint) and then ranks new weights by the previous
        # validation's value. Here a step save writes last.ckpt (and, without a monitor, the step checkpoint)
        # at once; the best-by-monitor copy is chosen in on_validation_end from that validation's metrics.
        if self._should_skip_saving_checkpoint(trainer):
            return
        step = trainer.global_step
        by_steps = self._every_n_train_steps >= 1 and step % self._every_n_train_steps == 0
        # also save last.ckpt by wall time, so a long step interval cannot lose hours on a preemption
        by_time = self.every_minutes is not None and time.monotonic() - self._last_time >= 60 * self.every_minutes
        by_time, interrupted, terminated = self._on_any_rank(trainer, by_time, self._interrupted,
                                                             self._terminated or trainer.received_sigterm)
        # a stop waits for the end of an optimizer step: within a gradient accumulation the step is not done
        stop = (interrupted or terminated) and not trainer.fit_loop.epoch_loop._should_accumulate()
        if not (by_steps or by_time or stop):
            return
        candidates = self._monitor_candidates(trainer)
        if by_steps and self.monitor is None:
            self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)
        if stop:
            self._stop(trainer, "SIGTERM" if terminated else "Ctrl-C")

    @staticmethod
    def _on_any_rank(trainer, *flags: bool) -> tuple[bool, ...]:
        """Each flag set on any rank, on every rank (one collective under DDP, at the same step on every rank)."""
        if trainer.world_size == 1:
            return flags
        votes = torch.tensor([int(f) for f in flags], device=trainer.strategy.root_device)  # [F]
        return tuple(bool(v) for v in trainer.strategy.reduce(votes, reduce_op="sum").tolist())

    def _stop(self, trainer, why: str) -> None:
        """End a fit that a signal stopped, after its step's save: raise what Lightning raises for that signal (every
        rank at the same step); on_exception then says where the step was saved and how to go on."""
        self._release_signals()
        step, last = trainer.global_step, Path(self.last_model_path or ".")
        if not self.save_last:
            self._stopped = f"[run] {why}: stopped at step {step}; nothing saved (checkpoint.save_last=false)"
        elif last.parent.name == "checkpoints":  # a run folder's: --resume takes the folder
            run = shlex.quote(str(last.parent.parent))  # a shell word: the command runs as printed
            self._stopped = (f"[run] {why}: stopped at step {step} and saved {last}: continue with --resume {run}"
                             + next_command(f" (make train RESUME={run})"))
        else:
            self._stopped = f"[run] {why}: stopped at step {step} and saved {last}"
        # after SIGTERM the status a shell gives a process the signal ended (Lightning's own SIGTERM exits 0, so that
        # `fit && eval` went on to evaluate a fit that had not finished); after Ctrl-C Lightning's exit 1, which the
        # CLI ends by SIGINT (errors.StageInterrupted)
        raise SIGTERMException(SIGTERM_STATUS) if why == "SIGTERM" else KeyboardInterrupt()

    # ---- Ctrl-C and SIGTERM: mark the stop, which the end of the step carries out --------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self._interrupted, self._terminated, self._stopped = False, False, None
        self._log_best(trainer)  # a resumed fit's W&B run names the best checkpoint kept before its first validation
        if trainer.fast_dev_run:  # a dev run saves nothing
            return
        self._announce = trainer.is_global_zero
        if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
            return
        # one the user or a launcher installed is theirs
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._on_sigint = self._ctrl_c
            signal.signal(signal.SIGINT, self._on_sigint)
        if _lightning_s_own(signal.getsignal(signal.SIGTERM), trainer):
            self._sigterm_before, self._on_sigterm = signal.getsignal(signal.SIGTERM), self._sigterm
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _ctrl_c(self, signum, frame) -> None:
        if self._interrupted:  # the second Ctrl-C stops at once, without saving
            self._release_signals()
            raise KeyboardInterrupt
        self._interrupted = True
        self._say_stopping("Ctrl-C", "; Ctrl-C again stops it now, without saving")

    def _sigterm(self, signum, frame) -> None:
        # torch ends the ranks ddp_spawn started left after one failed: nothing to save. Only its children (of a
        # multiprocessing parent) hear of that; torchrun's ranks and a scheduler's SIGTERM do not ask the store
        if multiprocessing.parent_process() is not None and another_rank_failed():
            if failed_here():  # this rank failed too and is ending with its own status (its exit handlers may run)
                return
            raise SystemExit(SIGTERM_STATUS)
        # a second SIGTERM changes nothing: a launcher (torchrun, Lightning's) forwards the one a scheduler also sends
        # to each process
        if not self._terminated:
            self._say_stopping("SIGTERM", "")
        self._terminated = True

    def _say_stopping(self, why: str, more: str) -> None:
        if self._announce:  # os.write: a print here could land inside another print to the same stream
            saves = " and saves last.ckpt" if self.save_last else ""
            os.write(2, f"\n[run] {why}: the fit stops at the end of this training step (after the validation under "
                        f"way, if any){saves}{more}\n".encode())

    def _release_signals(self) -> None:
        """Give SIGINT back to Python's handler and SIGTERM to Lightning's (unless another was installed since, as
        Lightning does to stop)."""
        if self._on_sigint is not None and signal.getsignal(signal.SIGINT) is self._on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        give_back_sigterm(self._on_sigterm, self._sigterm_before)
        self._on_sigint = self._on_sigterm = self._sigterm_before = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._release_signals()
        # the final weights always end up in last.ckpt, whether or not max_steps is a multiple of the interval
        if self.save_last and not trainer.fast_dev_run and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._release_signals()
        if self._stopped is not None and trainer.is_global_zero:  # after Lightning's "Detected KeyboardInterrupt"
            print(self._stopped, flush=True)
        self._stopped = None
        super().on_exception(trainer, pl_module, exception)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._release_signals()
        super().teardown(trainer, pl_module, stage)

    def on_sanity_check_end(self, trainer, pl_module) -> None:
        """A monitor that the validation does not log (a misspelt --checkpoint.monitor) stops the fit here, before
        training, instead of at the end of the first validation, val_check_interval steps in. train/ values are
        logged by training steps, which the sanity check's validation comes before."""
        super().on_sanity_check_end(trainer, pl_module)
        logged = list(trainer.callback_metrics)  # the sanity check's validation's values, on every rank
        # Lightning's epoch and step, which a ranking may also use
        if self.monitor is None or not logged or self.monitor.startswith("train/") \
                or self.monitor in (*logged, "epoch", "step"):
            return
        raise MisconfigurationException(
            f"checkpoint.monitor {self.monitor!r} is not logged by the validation, which logs: {', '.join(logged)} "
            f"(--checkpoint.monitor=null: no best checkpoint)")

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or trainer.state.fn != TrainerFn.FITTING:
            return
        candidates = self._monitor_candidates(trainer)
        ranked = None  # the file this validation's ranking wrote, if any
        if self.monitor is not None:
            best, before = self.best_model_score, self._last_checkpoint_saved
            self._save_topk_checkpoint(trainer, candidates)  # ranks these weights by their own validation
            ranked = self._last_checkpoint_saved if self._last_checkpoint_saved != before else None
            # compared as numbers: a best restored on the CPU and one scored on a GPU are tensors on two devices,
            # which torch.equal refuses. A tie keeps the earlier best (Lightning ranks strictly)
            if self.best_model_score is not None and (best is None or float(best) != float(self.best_model_score)):
                self.best_model_step = trainer.global_step
            self._log_best(trainer)
        if self._last_global_step_saved == trainer.global_step and self.save_last:
            # last.ckpt of this step was written before the validation: write it again so that it carries the
            # updated best-model bookkeeping (a resume would otherwise forget the best file)
            self._save_last_checkpoint(trainer, candidates)
            if ranked is not None:
                self._share_bytes(trainer, self.last_model_path, ranked)

    @staticmethod
    def _share_bytes(trainer, saved: str, same: str) -> None:
        """Make ``same``, a checkpoint of the step ``saved`` holds, a hard link to ``saved``: a best checkpoint and
        last.ckpt of one step were two whole copies on disk (2 x 132 MB at the paper's preset). Every save writes a
        new file and renames it over its name (_atomic_save), so a later last.ckpt never writes into the best
        file's bytes. Where the file system has no hard links the two copies stay."""
        if not trainer.is_global_zero or not os.path.isfile(saved) or os.path.islink(saved):  # save_last="link"
            return
        tmp = f"{same}.partial"
        try:
            os.link(saved, tmp)
            os.replace(tmp, same)
        except OSError:
            Path(tmp).unlink(missing_ok=True)

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        """A validation whose score is NaN or Inf (weights whose outputs overflow) ranks no checkpoint: Lightning took
        the first validation for the best whatever its score, and the fit's last line said to evaluate it."""
        if current is not None and not math.isfinite(float(current)):
            return False
        return super().check_monitor_top_k(trainer, current)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Saves happen by steps, wall time and validation only (see on_train_batch_end)."""

    def _log_best(self, trainer) -> None:
        """The best checkpoint's score and training step as W&B summary scalars, ``<monitor>_best`` and
        ``<monitor>_best_step`` (val/nll_best, val/nll_best_step), which the runs table sorts by. They are the
        checkpoint kept, across resumes (a resumed fit's offline W&B run starts with them), where W&B's own summary
        of val/nll is its last value, and a min by define_metric would be that W&B run's alone."""
        score = self.best_model_score
        if self.monitor is None or score is None or not torch.isfinite(score):  # no validation ranked yet
            return
        best = {f"{self.monitor}_best": float(score)}
        if self.best_model_step is not None:  # unknown for an older checkpoint whose best file has another name
            best[f"{self.monitor}_best_step"] = self.best_model_step
        log_summary(trainer, best)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "best_model_step": self.best_model_step}

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        self._last_time = time.monotonic()
        self._atomic_save(trainer, filepath)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(Path(trainer.default_root_dir) / "checkpoints")
        super().setup(trainer, pl_module, stage)

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint: what it ranks by, not how often it saves. Lightning's key
        names the save options too, so a resume with another every_n_train_steps found no state: it wrote last-v1.ckpt
        beside last.ckpt, the next resume started from the stale last.ckpt, and the best checkpoint was forgotten."""
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        # called just before load_state_dict: is this run resuming from its own checkpoints folder?
        restored = getattr(trainer, "ckpt_path", None)
        self._resuming_here = bool(restored and self.dirpath
                                   and Path(restored).parent.resolve() == Path(self.dirpath).resolve())
        if self._resuming_here:  # its last.ckpt is this run's, whatever state is found (none, for another monitor)
            self.last_model_path = os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)
        states = checkpoint.get("callbacks") or {}
        if self.state_key not in states and (earlier := self._same_ranking(states)) is not None:
            self.load_state_dict(earlier)  # Lightning looks under this key alone

    def _same_ranking(self, states: dict) -> dict | None:
        """The state a RunCheckpoint of the same monitor and mode saved under a key of Lightning's form, which also
        names the save options (checkpoints of earlier versions); None unless exactly one is found."""
        name = type(self).__qualname__
        found = []
        for key, state in states.items():
            if not (isinstance(key, str) and key.startswith(name + "{")):
                continue
            try:
                options = ast.literal_eval(key[len(name):])  # {'monitor': 'val/nll', 'mode': 'min', ...}
            except (ValueError, SyntaxError):  # a train_time_interval (a timedelta) is no literal
                continue
            if isinstance(options, dict) and (options.get("monitor"), options.get("mode")) == (self.monitor, self.mode):
                found.append(state)
        return found[0] if len(found) == 1 else None

    def load_state_dict(self, state_dict: dict) -> None:
        # a run folder that was moved or copied keeps its files under the same names: its bookkeeping follows it, so
        # that last.ckpt is written over (Lightning would write last-v1.ckpt beside it, and the next resume would
        # continue from the stale last.ckpt) and the best checkpoint is still known. A new run started from another
        # run's checkpoint keeps Lightning's behaviour: none of that run's files are its own
        old = state_dict.get("dirpath")
        if old and self.dirpath and Path(old) != Path(self.dirpath) and getattr(self, "_resuming_here", False):
            moved = {key: self._moved(state_dict.get(key), old)
                     for key in ("best_model_path", "kth_best_model_path", "last_model_path")}
            best_k = {self._moved(path, old): score for path, score in (state_dict.get("best_k_models") or {}).items()}
            state_dict = {**state_dict, **moved, "best_k_models": best_k, "dirpath": self.dirpath}
        super().load_state_dict(state_dict)
        # the step of the best score restored (none where another run's folder keeps its score: Lightning's rule)
        step = state_dict.get("best_model_step")
        if step is None and self.best_model_score is not None:  # a checkpoint from before the step was kept: its name
            step = best_checkpoint_step(Path(self.best_model_path or "").stem) if self.filename == BEST_FILENAME \
                else None
        self.best_model_step = step if self.best_model_score is not None else None

    def _moved(self, path: str | None, old: str) -> str | None:
        """path, written under the old dirpath, at its place under this dirpath (other paths as they are)."""
        if not path or not Path(path).is_relative_to(old):
            return path
        return str(Path(self.dirpath) / Path(path).relative_to(old))

    def _atomic_save(self, trainer, filepath: str) -> None:
        """Write the checkpoint beside ``filepath`` and rename it over it. A save that fails (a full disk, a second
        Ctrl-C) deletes what it wrote: it stayed as <name>.ckpt.partial, as large as a checkpoint, where the disk was
        already full, and no later save or resume removed it. A <name>.partial left by a killed fit goes first: it
        may be a second name of last.ckpt (_share_bytes), whose bytes a plugin that writes into it would change."""
        tmp = f"{filepath}.partial"
        try:
            if trainer.is_global_zero:
                Path(tmp).unlink(missing_ok=True)
            trainer.save_checkpoint(tmp, self.save_weights_only)
            if trainer.is_global_zero:
                os.replace(tmp, filepath)
        except BaseException:
            if trainer.is_global_zero:
                Path(tmp).unlink(missing_ok=True)
            raise
        trainer.strategy.barrier("atomic-checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))


def give_back_sigterm(ours, before) -> None:
    """Put back the SIGTERM handler that was there before ours (a fit's or a prediction's), unless another was
    installed since, as Lightning does to stop."""
    if ours is not None and before is not None and signal.getsignal(signal.SIGTERM) == ours:
        signal.signal(signal.SIGTERM, before)


def _lightning_s_own(handler, trainer) -> bool:
    """Whether a SIGTERM handler is the one Lightning's trainer installs for a fit, alone: no handler of the user's or
    a launcher's composed into it (that one is theirs, and Lightning's stays with it)."""
    connector = getattr(trainer, "_signal_connector", None)
    handlers = getattr(handler, "signal_handlers", None)  # lightning's _HandlersCompose
    return connector is not None and isinstance(handlers, list) and bool(handlers) and \
        all(getattr(h, "__self__", None) is connector for h in handlers)


def fit_summary(trainer, shown) -> str:
    """The last line of a fit, where a long run's first [run] line has scrolled away: its folder, the checkpoints it
    keeps (the best with its score and step), its pictures (pictures_kept) and the command that evaluates the best;
    without a checkpoint, the folder (its logs and pictures are there), that none was kept and the option that keeps
    one."""
    ckpt = trainer.checkpoint_callback
    if ckpt is None:  # trainer.enable_checkpointing=false (or barebones): the CLI leaves the run's callback out
        why = "trainer.barebones=true turns checkpoints off" if getattr(trainer, "barebones", False) else \
            "trainer.enable_checkpointing=false"
        return _nothing_kept(shown, trainer.global_step, f"{why}; without it the fit keeps checkpoints/last.ckpt")
    # under ddp_spawn this process gets back only the best checkpoint's path from the processes that trained: the
    # callback's folder is its default one (set where it trained), and its best score and the step are in the files
    spawned = not ckpt.dirpath
    dirpath = Path(trainer.default_root_dir) / "checkpoints" if spawned else Path(ckpt.dirpath)
    folder, last = Path(str(shown)), dirpath / "last.ckpt"
    best = Path(ckpt.best_model_path or ".")  # this run's own best: with a score, in its folder (not one resumed from)
    score = saved_best_score(best) if spawned and best.parent == dirpath and best.is_file() else ckpt.best_model_score
    # without a monitor the step checkpoints are kept in its place (checkpoint.monitor=null): the latest is named
    latest = best if ckpt.monitor is None and best.parent == dirpath and best.is_file() and best != last else None
    best = best if score is not None and best.parent == dirpath and best.is_file() else None
    if best is None and latest is None and not last.is_file():
        why = ("checkpoint.save_last=false; --checkpoint.save_last=true keeps checkpoints/last.ckpt"
               if not ckpt.save_last else "none found in checkpoints/")
        return _nothing_kept(shown, trainer.global_step, why)
    # named as they lie: under the run folder's checkpoints/, or in the --checkpoint.dirpath given
    own = dirpath.resolve() == (Path(trainer.default_root_dir) / "checkpoints").resolve()
    shown_dir, named = (folder / "checkpoints", "checkpoints") if own else (dirpath, str(dirpath))
    kept = [f"{named}/{last.name}"] if last.is_file() else []
    if best is not None:
        kept.append(f"{named}/{best.name} (best {ckpt.monitor} {float(score):.4g})")
    if latest is not None:
        kept.append(f"{named}/{latest.name} (the latest step checkpoint)")
    kept += pictures_kept(trainer)
    step = saved_step(last if last.is_file() else best or latest) if spawned else trainer.global_step
    target = shown_dir / (best or (last if last.is_file() else latest)).name
    return f"{_ended(folder, step, trainer)}: {', '.join(kept)}; {evaluate_with(folder, target)}"


def evaluate_with(folder, ckpt) -> str:
    """The end of a fit's closing line: the command that evaluates the checkpoint ``ckpt`` with the config.yaml of the
    run ``folder`` (each as the line names it)."""
    return f"evaluate with: {test_command(Path(str(folder)) / 'config.yaml', ckpt)}"


def evaluate_resumed(saved: dict, ckpt: Path, run: Path, shown) -> str:
    """The closing line's :func:`evaluate_with` for a resume that trains nothing, which ends before the fit starts:
    of the best checkpoint that the run's ``ckpt`` (its last.ckpt, read as ``saved``) records with a score, kept
    beside it under the same name (in a run folder moved since too), else of ``ckpt``; named in the run folder
    ``run`` as the lines show it (``shown``) where it lies in its checkpoints/."""
    target = ckpt
    # the first checkpoint callback's, as the closing line names trainer.checkpoint_callback's
    states = (saved.get("callbacks") or {}).values()
    state = next((s for s in states if isinstance(s, dict) and "best_model_path" in s), {})
    best = Path(str(state.get("best_model_path") or ""))
    own = best.name and best.parent == Path(str(state.get("dirpath")))  # not another run's
    if own and state.get("best_model_score") is not None and (ckpt.parent / best.name).is_file():
        target = ckpt.parent / best.name
    if ckpt.parent.resolve() == (run / "checkpoints").resolve():
        target = Path(str(shown)) / "checkpoints" / target.name
    return evaluate_with(shown, target)


def pictures_kept(trainer) -> list[str]:
    """["pictures/ (step N)"] where the fit's validations drew pictures into the run folder (N: the latest), else []:
    the closing line names them beside the checkpoints."""
    steps = [int(m.group(1)) for path in (Path(trainer.default_root_dir) / "pictures").glob("*")
             if (m := re.search(r"(?:^|_)step(\d+)", path.name))]
    return [f"pictures/ (step {max(steps)})"] if steps else []


def _nothing_kept(shown, step: int, why: str) -> str:
    """The closing line of a fit that kept no checkpoint: its folder, and why none was kept."""
    return f"{_ended(shown, step)}: no checkpoint kept ({why})"


def _ended(folder, step: int, trainer=None) -> str:
    """The start of a fit's closing line: its folder and the step it ended at (when known), and where
    trainer.max_time stopped it short of its max_steps, the time limit (Lightning names another: "`max_epochs=1`
    reached", or none)."""
    line = f"[run] fit: {folder} ended" + (f" at step {step}" if step else "")
    timer, max_steps = time_limit(trainer), getattr(trainer, "max_steps", None)
    left = timer.time_remaining() if timer is not None else None  # None: no limit (a Timer given no duration)
    if left is None or left > 0 or max_steps is not None and 0 <= max_steps <= step:
        return line
    limit = format_duration(timer.time_elapsed() + left)  # the duration the Timer was given
    of = f" of {max_steps}" if step and max_steps is not None and max_steps > 0 else ""
    return f"{line}{of} (trainer.max_time {limit} ran out)"


def _saved(path: Path) -> dict:
    """A checkpoint's record, memory-mapped (its weights are not read), or {} when it cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # the line then leaves out what the file would have said
        return {}


def saved_best_score(path: Path) -> float | None:
    """The score a best checkpoint was saved with (its checkpoint callback's record of itself), or None."""
    for state in (_saved(path).get("callbacks") or {}).values():
        if isinstance(state, dict) and state.get("best_model_score") is not None and \
                Path(str(state.get("best_model_path") or "")).name == path.name:
            return float(state["best_model_score"])
    return None


def saved_step(path: Path) -> int:
    """The global step a checkpoint was saved at (0 when unknown)."""
    return int(_saved(path).get("global_step") or 0)
