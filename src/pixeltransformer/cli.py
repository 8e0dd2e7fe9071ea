"""The `pixeltransformer` command: LightningCLI behind a thin `main(args)` that tests call directly.

Every run lives in one folder, runs/<domain>/<run-name>/: config.yaml (the resolved config), command.txt,
checkpoints/, the offline W&B run (wandb/), pictures/ and eval/. `--resume <run folder>` continues a run from its
last.ckpt with the same W&B run id (offline, a W&B run of its own, <id>-1, ..., in the run folder's group); a new
run never reuses an existing folder. Checkpoints are read with
weights_only=True and checked against the data before anything is written, and a start that fails before its
first training step leaves no run folder behind.
"""

from __future__ import annotations

if __name__ == "__main__":  # as torchrun starts each process: Ctrl-C while Lightning imports is one line too
    from .errors import ctrl_c_exits_while_importing

    ctrl_c_exits_while_importing()

import contextlib
import datetime as _dt
import errno
import os
import re
import shlex
import shutil
import sys
from argparse import ArgumentError
from dataclasses import fields
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, ModelSummary, RichModelSummary
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .allocator import keep_freed_memory
from .cache import CacheWriteError
from .checkpointing import SIGTERM_STATUS, RunCheckpoint, evaluate_resumed, fit_summary
from .config_files import settings
from .console import ParamSummary, quiet_console
from .data_mismatch import (DataMismatch, check_resume_data, check_resume_files, checkpoint_split_layout, option_text,
                            same_items, warn_conversion_mismatch, warn_split_mismatch)
from .datamodule import SignalDataModule, module_spec
from .datahints import data_hint, own_data, source_name
from .errors import (Interrupted, StageInterrupted, counted, ctrl_c_main, fail, first_line, is_input_error,
                     parse_error_line, peer_lost_exit, root_cause, yaml_float)
from .eval_folders import drop_aside, put_back, recover_all, set_aside
from .evaluation import (SweepEvaluation, check_one_sweep_per_folder, check_out_dir_apart, eval_folder,
                         evaluation_summary, folder_of_test, swept, sweep_eval_dir)
from .files import missing_folders, remove_empty, user_path
from .fit_settings import check_fit_length, check_resume_length, check_step_settings, epochs_done
from .launch import (check_launch_size, check_node_launch, drawn_seed, first_process, is_ddp_child, joins_a_run,
                     launched_run_name, predict_in_the_first_process, waiting_line, warn_once)
from .layout import CONFIGS, next_command
from .locks import record, recorded
from .loading import (CheckpointError, check_accelerator, check_cpu_devices, check_gpu_strategy, lightning_error,
                      load_checkpoint, reshaped_weights)
from .module import PixelTransformerModule, check_precision, checkpoint_error
from .numerics import set_flushing
from .parselog import DROPPED, PARSE_LOG, class_at, dropped_settings_line
from .predict import PredictionInputs, PredictionWriter, PredictOptions, one_device, prediction_item
from .preflight import SUBCOMMANDS, check_command_line
from .progress import replace_default_bar
from .run_config import RunConfig, record_precision, setup_line
from .runs import (FIT_LOCK, check_new_run, check_run_name, check_run_root, checkpoint_folder, checkpoint_run,
                   domain_of, expand_home, flag_arg, hold_run_folder, is_run_folder, kept_checkpoint, kept_unsaved,
                   missing_domain, readable_run_configs, release_run_folder, resume_checkpoint, run_group, shown_path,
                   train_again, with_run_config)
from .setting_sources import (config_setting, config_unsetting, given_model_options, gives_logger_name, moved_note,
                              overridden_options, parse_error_fields, run_config_setting, setting_source,
                              size_config_options, yaml_spelled)
from .spawned import launch_in_one_line, launched_bad_input
from .splits import SPLITS
from .trainer_limits import batch_limit, check_val_limit, new_run_out_of_time, nothing_to_train, nothing_trained
from .version import VersionAction
from .wandbfolder import drop_record, publish_record, stage_record
from .wandbnames import derived_run_name, evaluation_run_name, resume_run_name
from .wandbsetup import (check_wandb_installed, check_wandb_mode, check_wandb_reachable, config_list, finish_wandb,
                         is_wandb_logger, new_wandb_id, offline_segment, set_wandb_mode, wandb_fallbacks, wandb_inits,
                         wandb_offline, wandb_options_line, without_wandb_loggers)

BASE_CONFIG = CONFIGS / "trainer" / "default.yaml"

RUN_DIR_ENV = "PIXELTRANSFORMER_RUN_DIR"  # shared with DDP ranks, which re-run this command
WANDB_ID_ENV = "PIXELTRANSFORMER_WANDB_ID"
READS = {"test": ("test",), "validate": ("val",)}  # the split an evaluation reads (a resume reads all three)


def data_spec(datamodule: SignalDataModule) -> dict:
    """The data's SignalSpec as the module's ``spec``, naming the user's file or folder it is read from
    (:func:`module_spec`; a link of the parser; a function of this module, not a lambda, so that ddp_spawn can pickle
    the parser that the config callback holds)."""
    return module_spec(datamodule).to_dict()


class RunParser(LightningArgumentParser):
    """LightningCLI's parser; ``--print_config`` shows the W&B mode the run will use, which the CLI sets from
    WANDB_MODE after the config is parsed (where the parser prints it), and a prediction's config without the W&B
    logger it drops (before_instantiate_classes)."""

    def dump(self, cfg, *args, **kwargs) -> str:
        cfg = cfg.clone()
        set_wandb_mode(cfg)
        # the predict subcommand's parser: "pixeltransformer predict", once added "pixeltransformer [options] predict"
        if self.prog.rsplit(" ", 1)[-1] == "predict" and "trainer.logger" in cfg:
            cfg.trainer.logger = without_wandb_loggers(cfg.trainer.logger)
        return super().dump(cfg, *args, **kwargs)


# how a model runs, not what it computes: a command line's value holds over a checkpoint's
RUNTIME_MODEL_OPTIONS = ("model.net.chunk",)


class FirstStepMark(Callback):
    """Rewrites a new run's lock, "host pid untrained", as "host pid" when its fit's first optimizer step has
    completed (locks.record): at the end of the batch that raised trainer.global_step past its value as the fit began
    (0, or a --ckpt_path's step), the last of those a step sums with gradient accumulation. A fit killed before then
    (SIGKILL, out of memory, in its first batch too: no handler removes its folder, as one of a failed start's errors
    is) left config.yaml, command.txt and wandb/ beside its lock, and the same --run_name was refused until the folder
    was deleted by hand: a new fit removes them (runs.remove_unstarted), and keeps the folder of one that trained.
    Where a launcher starts the training processes (ddp_spawn, ddp_fork), their first rank writes it for the process
    that holds the lock, through the lock's path (as they write every file: ddp_spawn's pickled copy holds no
    descriptor, and a forked rank opens the path too), and that process reads it there: it trains no step itself."""

    def __init__(self, fd: int, lock: Path | None = None):
        self.fd: int | None = fd
        self.lock = lock  # its path, for the processes a launcher starts (None: this process alone marks it)
        self.pid = os.getpid()  # the process that holds the lock
        self.start: int | None = None  # trainer.global_step as the fit began (None: training has not begun)
        self.marked = False  # the lock says "host pid"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "fd": None}  # a pickled copy (ddp_spawn's processes) holds no descriptor

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.start = trainer.global_step

    def stepped(self, trainer: Any) -> bool:
        """Whether this fit has completed an optimizer step of its own: the rule that says a run trained, for its lock
        and for the CLI's (:func:`trained`; a --ckpt_path's step is not this fit's)."""
        # not begun here: the processes a launcher started say, in a lock that names its holder (one gone or blank
        # says nothing of a step)
        if self.start is None and self.lock is not None and os.getpid() == self.pid:
            with contextlib.suppress(OSError):
                _, pid, state = recorded(self.lock)
                return pid == str(self.pid) and state != "untrained"
        return self.start is not None and trainer.global_step > self.start

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.marked or not self.stepped(trainer):
            return
        if os.getpid() == self.pid and self.fd is not None:
            self.marked = True
            with contextlib.suppress(OSError):  # a lock file gone meanwhile: nothing left to mark
                record(self.fd)
        elif os.getpid() != self.pid and self.lock is not None and trainer.is_global_zero:  # a launched process's
            self.marked = True
            with contextlib.suppress(OSError):
                fd = os.open(self.lock, os.O_WRONLY)
                try:
                    record(fd, pid=self.pid)
                finally:
                    os.close(fd)


def trained(cli: Any) -> bool:
    """Whether a CLI's fit trained: a step of its own (FirstStepMark.stepped, counted from the step it began at, or
    marked in its lock by the processes ddp_spawn or ddp_fork started), or any step where it has no mark (a resume);
    the one rule of its lock, the removal of a new run's folder and the line of a Ctrl-C after the fit."""
    trainer = getattr(cli, "trainer", None)
    mark = getattr(cli, "_first_step_mark", None)
    return trainer is not None and (mark.stepped(trainer) if mark is not None else trainer.global_step > 0)


class PixelTransformerCLI(LightningCLI):
    def __init__(self, *args, **kwargs) -> None:
        self._checkpoints: dict[str, dict] = {}  # LightningCLI parses and runs inside __init__
        self._shown: str | None = None  # the run folder as this process's [run] line named it
        given = kwargs.get("args")
        self._argv = given if isinstance(given, list) else []
        self._given_model_options = given_model_options(given if isinstance(given, list) else None)
        self._size_options = size_config_options(self._argv)  # a configs/model/<size>.yaml's, by the file
        self._given_logger_name = gives_logger_name(given if isinstance(given, list) else None)
        self._derived_wandb_name = False  # the W&B run named by the CLI, not by the user (_configure_wandb)
        self._deferred_print = False  # --print_config once the checkpoint is merged (parse_arguments)
        super().__init__(*args, **kwargs)

    def setup_parser(self, *args: Any, **kwargs: Any) -> None:
        super().setup_parser(*args, **kwargs)  # --version is the main parser's own (preflight.MAIN_OPTIONS)
        self.parser.add_argument("--version", action=VersionAction,
                                 help="print the versions of PixelTransformer, torch and Lightning, and exit")

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        if parser.prog != "pixeltransformer predict":
            parser.link_arguments("data", "model.spec", apply_on="instantiate", compute_fn=data_spec)
        # a prediction's model takes its spec (bins, grid) from --ckpt_path, which predict requires: the user's file
        # is all it reads, so the training data need not be on the machine (k-means bins would read its pixels)
        # a run's config.yaml records the three, so every subcommand takes them; an evaluation or a prediction
        # writes into its checkpoint's run folder, whatever they say
        fit_only = "" if parser.prog == "pixeltransformer fit" else "fit only (an evaluation or prediction writes " \
            "into the run folder of its --ckpt_path): "
        parser.add_argument("--run_root", type=str, default="runs",
                            help=f"{fit_only}runs go to <run_root>/<domain>/<run_name>")
        parser.add_argument("--run_name", type=str | None, default=None,
                            help=f"{fit_only}default: the start time (under srun: slurm-<job>[-<step>], under "
                                 "torchrun: torchrun-<rendezvous id>)")
        parser.add_argument("--resume", type=str | None, default=None,
                            help=f"{fit_only}a run folder: continue it from checkpoints/last.ckpt with its own "
                                 "config.yaml (what the command line gives applies on top), in its W&B group (online: "
                                 "the same W&B run; offline: a W&B run of its own, <id>-1, ...)")
        if parser.prog == "pixeltransformer predict":  # what to observe and draw (see predict.py)
            parser.add_class_arguments(PredictOptions, None)  # --input, --num_samples, ... at the top level

    def parse_arguments(self, parser, args) -> None:
        """LightningCLI's parse, where ``--print_config`` of a command given ``--ckpt_path`` prints once the
        checkpoint's model options are merged (_parse_ckpt_path): the parser printed the config files' model (a
        --config configs/model/tiny.yaml's width 64), not the checkpoint's that the command runs (128), which is the
        one config_test.yaml records."""
        skip = getattr(_print_config_action(), "skip_print_config", None)
        self._deferred_print = (skip is not None and flag_arg(self._argv, "--ckpt_path") is not None
                                and any(name == "--print_config" for name, _, _ in settings(self._argv)))
        if not self._deferred_print:
            return super().parse_arguments(parser, args)
        with skip():
            super().parse_arguments(parser, args)

    def _set_seed(self) -> None:
        # seed_everything: true asks for a random seed (its help says so), but Lightning seeds it with 0: every such
        # run began from the same weights. The drawn seed is seeded and recorded (config.yaml) as a given one is
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("seed_everything") is True:
            config["seed_everything"] = drawn_seed()
        seed = config.get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed < 2**32:  # what numpy takes
            # Lightning's "-1 is not in bounds, numpy accepts from 0 to 4294967295" named no option
            raise ValueError(f"seed_everything={seed} is not a seed: give a whole number from 0 to {2**32 - 1} (true: "
                             "a random one, recorded in config.yaml; false: no seeding)")
        super()._set_seed()

    def _parse_ckpt_path(self) -> None:
        self._merge_checkpoint()
        if self._deferred_print and hasattr(self.parser, "print_config"):
            _print_config_action().print_config_if_requested(self.parser, self.config)  # prints, then exits

    def _merge_checkpoint(self) -> None:
        # Lightning reads --ckpt_path here, before any other hook, and merges the checkpoint's hyperparameters into
        # the config: check the file first, for a one-line error, and keep the set sampler the config names (the
        # class path a checkpoint records is never imported)
        sub = self.config.get("subcommand")
        if sub and isinstance(path := self.config[sub].get("ckpt_path"), str):  # a config file's "~/runs/...", which
            self.config[sub].ckpt_path = str(user_path(path))  # no shell expanded (runs.expand_home: the command's)
        if sub and not self.config[sub].get("ckpt_path"):  # a --ckpt_path given and undone: validate and fit
            # would go on without one (the seeded model; a new start), test and predict name a missing option
            if (later := config_unsetting(self._argv, "ckpt_path")) is not None:
                raise ValueError(f"--config {later} comes after --ckpt_path and sets ckpt_path back to null: give "
                                 f"--ckpt_path after the last --config")
        if sub == "predict" and not self.config[sub].get("ckpt_path"):
            raise ValueError("predict needs --ckpt_path: the checkpoint of a trained model")
        if sub == "test" and not self.config[sub].get("ckpt_path"):  # it failed on a lock file of a folder never made
            make = next_command(" (make eval CKPT=...)")
            raise ValueError(f"test needs --ckpt_path: the checkpoint to evaluate{make}; validate without one scores "
                             "the seeded, untrained model")
        if sub == "fit" and self.config[sub].get("resume"):
            # the run's own config.yaml (runs.with_run_config) and the command line set the model; its checkpoint
            # is the folder's last.ckpt, wherever the folder is now (module.check_checkpoint compares the two)
            self.config[sub].ckpt_path = str(resume_checkpoint(self.config[sub].resume))
            ckpt = self._checkpoint(self.config[sub].ckpt_path)
            if message := checkpoint_error(ckpt) or lightning_error(ckpt, fit=True):  # before the run folder is touched
                raise CheckpointError(f"{self.config[sub].ckpt_path}: {message}")
            check_resume_length(self.config[sub].resume, ckpt.get("global_step"), self.config[sub].trainer.max_steps)
            self._use_split_layout(ckpt, sub)
            self._use_trained_options(ckpt, sub)
            return
        if not (sub and self.config[sub].get("ckpt_path")):
            return
        path = self.config[sub].ckpt_path
        ckpt = self._checkpoint(path)
        if message := checkpoint_error(ckpt) or lightning_error(ckpt, fit=sub == "fit"):
            raise CheckpointError(f"{path}: {message}")
        self._check_domain(ckpt, sub)
        if sub == "fit":  # a new run from the checkpoint
            check_resume_length(path, ckpt.get("global_step"), self.config[sub].trainer.max_steps, new_run=True,
                                epoch=epochs_done(ckpt), max_epochs=self.config[sub].trainer.max_epochs)
        # the config chooses the classes: the domain (by class_path, with its options) and the set sampler
        hparams = {k: v for k, v in ckpt["hyper_parameters"].items() if k not in ("sets", "domain", "_instantiator")}
        if hparams:
            given = self.config[sub]
            self.config = self.parser.parse_object({sub: {"model": hparams}}, self.config)
            self._keep_given_options(given, self.config[sub])
        self._use_split_layout(ckpt, sub)
        self._use_trained_options(ckpt, sub)

    def _use_trained_options(self, ckpt: dict, sub: str) -> None:
        """Data options left null that derive a value, which the checkpoint's spec does not record (written before
        it did): an evaluation or resume makes its data with the value the checkpoint's data was made with
        (:meth:`SignalDataModule.trained_options`: an SDF's margin, 0.05 then, where null now gives more under 51^3),
        not with what null derives now, and says so. An option the command or a config sets is kept (and compared,
        ``conversion_mismatch``)."""
        data = self.config[sub].get("data")
        args = data.init_args if data is not None and hasattr(data, "init_args") else None
        trained = (ckpt.get("hyper_parameters") or {}).get("spec")
        if sub == "predict" or args is None or not isinstance(trained, dict):
            return  # a prediction converts the user's file by the spec itself
        cls = class_at(data.class_path)
        if not (isinstance(cls, type) and issubclass(cls, SignalDataModule)):
            return
        self._adopted_lines = []
        for key, value in cls.trained_options(trained).items():
            if key in args and args[key] is None:
                args[key] = value
                # said once the run's folder is named (_say_layout)
                self._adopted_lines.append(
                    f"[run] the checkpoint's data was made with data.init_args.{key}={option_text(value)} (its spec, "
                    f"written before that was recorded, holds none): so is this run's (--data.init_args.{key} "
                    f"{option_text(value)})")

    def _use_split_layout(self, ckpt: dict, sub: str) -> None:
        """An evaluation or resume draws its splits as its checkpoint's were drawn (splits.split_indices): one
        written before split layout 2 gets layout 1. With layout 2, sizes that fix the train size would draw other
        splits for it, where a resume could train on its test items and an evaluation score it on its training items.
        An evaluation on another dataset than the checkpoint's draws that data's splits as every run does."""
        data = self.config[sub].get("data")
        args = data.init_args if data is not None and hasattr(data, "init_args") else None
        if sub == "predict" or args is None or "split_layout" not in args:
            return  # a prediction reads the user's file alone; a domain without shared pools has no layout
        trained_on = ((ckpt.get("hyper_parameters") or {}).get("spec") or {}).get("dataset")
        if trained_on is not None and "dataset" in args and args.dataset != trained_on:
            return  # another dataset than its own: its splits are not this data's (split_mismatch leaves it too)
        layout = checkpoint_split_layout(ckpt, str(data.class_path).rsplit(".", 1)[-1])
        if args.split_layout != layout:
            # said once the data is there (_run_subcommand), and only where the layouts deal other splits
            self._layout_note = (layout, args.split_layout)
            args.split_layout = layout

    def _say_layout(self, subcommand: str) -> None:
        """The [run] lines of the data options taken from the checkpoint (:meth:`_use_trained_options`), and of a
        checkpoint whose splits were drawn with another layout than a new run's, where the two deal other items into
        the splits the command reads (sizes that fix the train size); nothing where they deal the same (train -1,
        sizes that fill the pool, splits drawn split by split)."""
        if not first_process():
            return
        for line in getattr(self, "_adopted_lines", ()):
            print(line, flush=True)
        layout, default = getattr(self, "_layout_note", (None, None))
        if layout is None:
            return
        if not same_items(self.datamodule, {"split_layout": default}, READS.get(subcommand, SPLITS)):
            print(f"[run] the checkpoint's splits were drawn with split layout {layout}: so are this run's "
                  f"(--data.init_args.split_layout {layout})", flush=True)

    def _keep_given_options(self, given, merged) -> None:
        """A model option the command line names and the checkpoint sets otherwise: a runtime option (the decoding
        chunk) keeps the command line's value; any other is the checkpoint's, with a warning that says so. So are the
        sizes a configs/model/<size>.yaml asks for (they went unused without a word), one warning a file."""
        unused: dict[str, list[str]] = {}  # a size config -> its settings the checkpoint's model overrides
        for key in [*self._given_model_options, *self._size_options]:
            mine, saved = given.get(key), merged.get(key)
            if mine == saved or key not in merged:
                continue
            if key in RUNTIME_MODEL_OPTIONS:
                merged[key] = mine
            elif key in self._given_model_options:
                # each process of a DDP launch parses the command: the first one says so
                warn_once(f"--{key}={mine} is not used: the checkpoint's model has {key.rsplit('.', 1)[-1]}={saved}")
            else:
                unused.setdefault(self._size_options[key], []).append(f"{key}={mine}, the checkpoint's {saved}")
        for config, overridden in unused.items():
            warn_once(f"--config {config} is not used: the checkpoint's weights set the model's size ("
                      f"{'; '.join(overridden)})")

    def _check_domain(self, ckpt: dict, sub: str) -> None:
        """A checkpoint of another domain fails by name here, before its options meet this domain's data (where
        the first option that does not fit would be reported instead of the cause)."""
        saved = (ckpt.get("hyper_parameters") or {}).get("spec") or {}
        named = self.config[sub].model.get("domain")
        if not saved.get("domain") or named is None:
            return
        mine = domain_of(named.class_path if hasattr(named, "class_path") else named)
        if saved["domain"] != mine:
            data = self.config[sub].get("data")
            dataset = data.init_args.get("dataset") if data is not None and hasattr(data, "init_args") else None
            raise DataMismatch(f"checkpoint is for {saved['domain']}/{saved.get('dataset')}, but the data is "
                               f"{mine}/{dataset}{data_hint(saved, predict=sub == 'predict')}")

    def _checkpoint(self, path: str) -> dict:
        """The checkpoint at path, read (memory-mapped, checked) once per command: --ckpt_path is read before the
        classes are built and checked against them after."""
        if path not in self._checkpoints:
            self._checkpoints[path] = load_checkpoint(path, mmap=True)
        return self._checkpoints[path]

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        if line := dropped_settings_line(cfg, self._argv):
            warn_once(line)
        if "weights_only" in cfg and cfg.weights_only is None:
            cfg.weights_only = True  # checkpoints hold tensors and plain types only: never run pickled code
        check_precision(cfg.trainer.get("precision"))  # before the run folder: the run would fail at its first step
        check_accelerator(cfg.trainer.get("accelerator"), setting_source(self._argv, "trainer", "accelerator"))
        if self.subcommand != "predict":  # a prediction runs on one device, whatever the config asks (one_device)
            check_cpu_devices(cfg.trainer.get("accelerator"), cfg.trainer.get("devices"))
            check_gpu_strategy(cfg.trainer.get("strategy"), cfg.trainer.get("accelerator"))
        check_no_optimizer_options(cfg)
        if self.subcommand != "predict" and not cfg.trainer.get("barebones"):  # both run without W&B loggers
            check_wandb_installed(cfg.trainer.get("logger"))
        if self.subcommand == "fit":
            trainer = cfg.trainer
            # a fast_dev_run or overfit_batches sets Lightning's limit_train_batches itself
            limit = None if trainer.get("fast_dev_run") or trainer.get("overfit_batches") else \
                trainer.get("limit_train_batches")
            check_fit_length(trainer.get("max_steps"), trainer.get("max_epochs"), limit, trainer.get("max_time"),
                             trainer.get("min_steps"), trainer.get("min_epochs"))
            check_step_settings(trainer.get("accumulate_grad_batches"), trainer.get("val_check_interval"),
                                trainer.get("gradient_clip_val"), trainer.get("limit_val_batches"),
                                trainer.get("check_val_every_n_epoch"))
        if self.subcommand in ("fit", "validate"):
            self._validation_items(cfg)
        run_dir = self._run_dir(cfg)
        self.run_dir, self.new_run = run_dir, not run_dir.exists()
        self._new_folders = missing_folders(run_dir)  # removed when the start fails
        if self.subcommand and first_process():
            shown = shown_path(run_dir)
            print(f"[run] {self.subcommand}: {shown}", flush=True)  # where to look, first and once per command
            self._shown = shown
        if self.subcommand == "predict" and (asked := one_device(cfg.trainer)):
            print(f"[run] predict runs on one device, in one process (the config asks for {asked})", flush=True)
        if cfg.trainer.get("barebones"):  # before the W&B logger, which it leaves out, is set up
            line = use_barebones(cfg.trainer)
            if first_process():
                print(line, flush=True)
        self.wandb_id: str | None = None
        os.environ[RUN_DIR_ENV] = str(run_dir)
        cfg.trainer.default_root_dir = str(run_dir)
        if self.subcommand == "predict":
            # its record is its folder and prediction.json: its W&B run held nothing, no config, no metric (False,
            # not None: None is Lightning's default logger)
            cfg.trainer.logger = without_wandb_loggers(cfg.trainer.logger)
        for lg in config_list(cfg.trainer.logger):
            if is_wandb_logger(lg):
                self._configure_wandb(lg.init_args, run_dir, cfg)
                # only the first process talks to W&B; a fast_dev_run, none (Lightning's DummyLogger in its place)
                if not lg.init_args.offline and first_process() and not cfg.trainer.get("fast_dev_run"):
                    check_wandb_reachable(lg.init_args)  # before anything is written: wandb.init waited 90 s to fail

    def _validation_items(self, cfg) -> None:
        """A trainer.limit_val_batches that validates some of each device's batches is refused in one line
        (trainer_limits.check_val_limit), unless it comes from a run's own config.yaml, written before
        data.init_args.val_items existed: there its N batches become the N x batch_size items one device validated, so
        that a resumed run goes on scoring the items of its earlier validations and best checkpoint."""
        trainer = cfg.trainer
        limit = trainer.get("limit_val_batches")
        if trainer.get("fast_dev_run") or trainer.get("overfit_batches") or not batch_limit(limit):
            return  # a debugging run sets the limits itself
        source = run_config_setting(self._argv, "trainer", "limit_val_batches")
        data = cfg.get("data")
        init = data.get("init_args") if data is not None and hasattr(data, "get") else None
        if source is None or not isinstance(limit, int) or init is None or not init.get("batch_size"):
            check_val_limit(limit)
        items = init.get("val_items") or limit * init.batch_size
        trainer.limit_val_batches, init.val_items = None, items
        if first_process():
            print(f"[run] {source} validates trainer.limit_val_batches={counted(limit, 'batch')} of "
                  f"{init.batch_size}: validation scores the first {items} "
                  f"val items instead (data.init_args.val_items={items}), on any batch size and number of devices",
                  flush=True)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
            if isinstance(self.model, PixelTransformerModule):
                self.model.cli_options = True  # its notes name --model... options, not the module's arguments
                self._check_weights()
                if refusal := self.model.sampler_refusal(self.subcommand, self.model.spec):
                    raise ValueError(refusal)  # before the run folder is made (the module's setup refuses it too)
            if self.subcommand != "predict":
                # missing data: one line before a run starts (predict reads none; an evaluation, what it reads)
                self.datamodule.check_data_roots(self.subcommand)
                # data made for the model's spec before the trainer: in each process Lightning's DDP starts too
                self.datamodule.check_processes(self.trainer)
            if self.subcommand and first_process():  # here: Lightning adds no RunConfig to a fast_dev_run
                print(setup_line(self.trainer, self.model, self.subcommand, self.datamodule), flush=True)
        except BaseException:  # bad data or options, found after the run folder was named
            self._drop_new_run()
            raise

    def _check_weights(self) -> None:
        """Weights of --ckpt_path that do not fit the model its hyper_parameters built (edited to another size): one
        line before anything is written (Lightning's restore stopped in torch's multi-line "Error(s) in loading
        state_dict"). A resume builds its model from its config.yaml, which the module compares with the checkpoint
        by option (check_checkpoint)."""
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        path = cfg.get("ckpt_path")
        if path and not cfg.get("resume") and (message := reshaped_weights(self.model, self._checkpoint(path))):
            # a checkpoint of other data (a grey model on colour pictures: other bins) is named as such, with its
            # remedy, not as an edited file
            self._check_checkpoint(self._checkpoint(path), path, self.subcommand)
            raise CheckpointError(f"{path}: {message}")

    def _check_checkpoint(self, saved: dict, path: str, subcommand: str | None) -> None:
        """The module's check of a checkpoint against its options and data, a checkpoint of other data ending with
        where its own data is."""
        try:
            self.model.check_checkpoint(saved, path)
        except DataMismatch as err:  # the domain given is named in err, not again in the hint
            spec = (saved.get("hyper_parameters") or {}).get("spec") or {}
            raise DataMismatch(f"{err}{data_hint(spec, subcommand == 'predict', self.model.spec.to_dict())}") \
                from None

    def _drop_new_run(self, failed: bool = True) -> None:
        """A new run that stopped before its first step, or a fast_dev_run (which saves no checkpoint or config, as
        in Lightning: its folder could be neither resumed nor evaluated), leaves nothing behind (rank zero removes
        it), and says so under the [run] line that named its folder; a fit refused before its folder was made (bad
        input, whose one line says what to do; a fast_dev_run that ``failed``, which makes none) adds nothing to that
        line. One that trained keeps its folder (its config and W&B run: runs.remove_unstarted keeps them too); one
        that ``failed`` without a checkpoint says what that means there."""
        trainer = getattr(self, "trainer", None)
        dev_run = trainer is not None and bool(trainer.fast_dev_run)
        stepped = trained(self)
        if (self.subcommand != "fit" or not self.new_run or self._shown is None
                or (trainer is not None and not trainer.is_global_zero)):
            return
        if stepped and not dev_run:
            if failed and kept_checkpoint(checkpoint_folder(self.run_dir)) is None:
                print(f"[run] fit: {self._shown} {kept_unsaved(self.run_dir)}", flush=True)
            return
        if dev_run and is_run_folder(self.run_dir):
            # a dev run writes none of these: a run started since under the same name (another process) did
            print(f"[run] fit: {self._shown} kept: a run started there while this fast_dev_run ran", flush=True)
            return
        if not dev_run and not getattr(self, "_held_run", False) and (
                is_run_folder(self.run_dir) or (self.run_dir / FIT_LOCK).exists()):
            return  # refused before it held the folder, which another fit holds since: nothing there is this one's
        finish_wandb()  # else its teardown at exit writes wandb/offline-run-*/ into the removed folder
        made = self.run_dir.exists()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        remove_empty(self._new_folders)  # runs/<domain>/ when this was the domain's first run
        # refused before anything was written (also a fast_dev_run that failed: it writes nothing): the refusal's
        # line alone says what to do
        if not made and (failed or not dev_run):
            return
        why = "a fast_dev_run keeps no run folder" if dev_run else "the fit stopped before its first step"
        print(f"[run] fit: {self._shown} not kept: {why}", flush=True)

    def _run_dir(self, cfg) -> Path:
        if cfg.get("resume"):
            if not cfg.get("ckpt_path"):  # set and checked by _parse_ckpt_path on a fit's command line
                cfg.ckpt_path = str(resume_checkpoint(cfg.resume))  # unreadable or unsafe: one line, no traceback
            return user_path(cfg.resume)
        if is_ddp_child() and os.environ.get(RUN_DIR_ENV):
            return Path(os.environ[RUN_DIR_ENV])
        if self.subcommand in ("test", "validate", "predict") and cfg.get("ckpt_path"):
            return checkpoint_run(Path(cfg.ckpt_path))
        named = cfg.model.get("domain")
        if named is None:  # its runs went to <run_root>/custom/, its checkpoints named the data's domain
            data = cfg.get("data")
            raise ValueError(missing_domain(data.get("class_path") if hasattr(data, "get") else None))
        domain = domain_of(named.class_path if hasattr(named, "class_path") else named)
        name = (cfg.get("run_name") and check_run_name(cfg.run_name)) \
            or (self.subcommand == "fit" and launched_run_name()) or _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run = check_run_root(cfg.run_root, domain) / domain / name
        return check_new_run(run) if self.subcommand == "fit" and not joins_a_run() else run

    def _configure_wandb(self, init_args, run_dir: Path, cfg) -> None:
        init_args.save_dir = str(run_dir)
        init_args.offline = wandb_offline()
        # a config that holds a name derived for another folder (an older config.yaml's): this folder's run started
        # or evaluated with that file gets its own; a name the command line or a config gives is kept
        self._derived_wandb_name = not self._given_logger_name and derived_run_name(init_args.get("name"),
                                                                                     init_args.get("group"))
        group = run_group(run_dir)  # a run folder's fits and evaluations: one group
        if self._derived_wandb_name:  # an evaluation's is named after its folder as well (_name_evaluation)
            init_args.name = group
        init_args.group = group
        if self.subcommand in ("fit", None):  # None: main(..., run=False), which prepares a fit
            # the run id lives in the run folder: an online resume continues the same W&B run
            id_file = run_dir / "wandb_id.txt"
            run_id = os.environ.get(WANDB_ID_ENV) if is_ddp_child() else None
            resume = 0  # the offline resume this fit is (offline_segment); 0: the run's first segment, or online
            if run_id is None:
                run_id = id_file.read_text().strip() if id_file.is_file() else new_wandb_id()
                if not init_args.offline:
                    os.environ[WANDB_ID_ENV] = run_id
                else:  # W&B cannot resume offline, and syncing two offline folders of one id keeps only one's history
                    os.environ[WANDB_ID_ENV], resume = offline_segment(run_id, run_dir / "wandb")
            if first_process():
                self.wandb_id = run_id  # written into the run folder when the fit starts (_run_subcommand)
            init_args.id = os.environ[WANDB_ID_ENV]
            init_args.resume = "allow"
            if self._derived_wandb_name and resume:  # a W&B run of its own: named apart from the run's first
                init_args.name = resume_run_name(init_args.group, resume)
            # the dashboard tells a run folder's fits from its evaluations by it (a job type of the user's stays; an
            # evaluation's, from its config_test.yaml, is not a fit's)
            if init_args.get("job_type") in (None, "", "test", "validate", "predict"):
                init_args.job_type = "fit"
        else:
            init_args.job_type = self.subcommand


    def instantiate_trainer(self, **kwargs: Any):
        callbacks = [self._get(self.config_init, c) for c in self._parser(self.subcommand).callback_keys]
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        if config.get("enable_checkpointing") is False:  # Lightning refuses any checkpoint callback then: the run's
            callbacks = [cb for cb in callbacks if not isinstance(cb, RunCheckpoint)]  # (--checkpoint.*) goes
        trainer = self._instantiate_trainer(config, callbacks)
        if note := record_precision(self.config[self.subcommand] if self.subcommand else self.config, trainer,
                                    self.subcommand):
            if first_process():
                print(note, flush=True)
        check_launch_size(trainer.world_size)  # torchrun's processes, each a trainer of its own: refused
        # the cluster environment's class name, read once: the launch check and the waiting line (_run_subcommand)
        self._environment = type(getattr(trainer.strategy, "cluster_environment", None)).__name__
        check_node_launch(trainer.num_nodes, self._environment)  # a second node no one starts: refused
        launch_in_one_line(trainer)  # ddp_spawn's processes: bad input in one line
        trainer.callbacks = [ParamSummary(max_depth=cb._max_depth) if type(cb) in (ModelSummary, RichModelSummary)
                             else cb for cb in trainer.callbacks]
        for init in wandb_inits(trainer):
            if init.get("anonymous", True) is None:  # wandb warns about any value of this deprecated setting
                del init["anonymous"]
            if os.environ.get("WANDB_MODE") == "disabled":
                init["mode"] = "disabled"  # the logger asks for "offline" itself, which the variable loses to
        # progress in steps of the whole run, and plain lines when stdout is a log file (see progress.py)
        return replace_default_bar(trainer)

    def before_predict(self) -> None:
        """Read the user's file (one-line errors before anything is written) and add the writer."""
        cfg = self.config.predict
        options = PredictOptions(**{f.name: cfg.get(f.name) for f in fields(PredictOptions)})
        item = prediction_item(self.model.domain, self.model.spec, options, self.trainer.strategy.root_device)
        self.datamodule.predict_inputs = PredictionInputs([item])
        self.model.predict_options = options
        self.trainer.callbacks.append(PredictionWriter(options, self.run_dir))

    def _run_subcommand(self, subcommand: str) -> None:
        if subcommand == "test":  # before anything is written
            check_one_sweep_per_folder(self.trainer.callbacks)
            check_out_dir_apart(self.trainer.callbacks, self.run_dir)
        ckpt = self.config[subcommand].get("ckpt_path")
        run = self.config.fit.get("resume") if subcommand == "fit" else None  # the run a fit resumes
        spec: dict = {}  # the checkpoint's data, and the data given (as its spec) compared with it
        given: dict = {}
        if ckpt:  # a checkpoint for other data fails here, before config, W&B or eval files are written
            saved = self._checkpoint(ckpt)
            spec = (saved.get("hyper_parameters") or {}).get("spec") or {}
            given = self.model.spec.to_dict()
            if run:  # before a model option it resets
                check_resume_data(run, spec, given, ckpt)
            try:
                self._check_checkpoint(saved, ckpt, subcommand)
            except DataMismatch:
                self._drop_new_run()
                raise
            if subcommand in ("test", "validate"):
                # its evaluation folder (module.eval_folder)
                self.model.trained_dataset, self.model.trained_source = spec.get("dataset"), source_name(spec)
                if spec.get("dataset") == self.model.spec.dataset:
                    warn_split_mismatch(saved, self.datamodule, reads=READS[subcommand])
                warn_conversion_mismatch(saved, self.datamodule)
            elif subcommand == "fit":
                files = None  # a resume's, compared once: by the digests its checkpoint recorded
                if run:
                    files = check_resume_files(run, saved, self.datamodule, given, ckpt)
                elif not self.trainer.fast_dev_run and (
                        line := new_run_out_of_time(ckpt, saved, self.trainer, epochs_done(saved))):
                    self._drop_new_run()
                    raise ValueError(line)
                warn_split_mismatch(saved, self.datamodule, resume=True, files=files)
                warn_conversion_mismatch(saved, self.datamodule, resume=True)
            self._say_layout(subcommand)
        if subcommand == "fit" and first_process() and not self.trainer.fast_dev_run:
            try:  # held until the process ends: a second fit in the folder is refused (a dev run writes nothing)
                self._run_lock = hold_run_folder(self.run_dir, new=not run)
                self._held_run = True  # what is in the folder from now on is this fit's (_drop_new_run)
            except FileExistsError:
                self.new_run = False  # the folder is another fit's: nothing in it is this one's to remove
                raise
        if run and not self.trainer.fast_dev_run and (
                line := nothing_to_train(saved.get("global_step") or 0, self.trainer.max_steps, epochs_done(saved),
                                         self.trainer.max_epochs, saved=saved, trainer=self.trainer)):
            # a run already at its max_steps, max_epochs or max_time: its line alone, before a W&B run, config.yaml or
            # command.txt is written, with the command that evaluates the run, which the fit's closing line gives
            # (one whose epoch only the fit's start tells done is told after it)
            self._release_run_folder()
            if first_process():
                print(f"{line}; {evaluate_resumed(saved, Path(ckpt), self.run_dir, self._shown)}", flush=True)
            return
        try:  # an error before the run starts releases the lock as its end does: a fit run again in this process
            # (from Python) was refused as in use by another fit, naming this process
            replacing = None  # the folder this evaluation replaces as a whole: an earlier one there is never mixed in
            if first_process():
                for folder, note in recover_all(self.run_dir):  # what an evaluation that was killed left
                    print(f"[run] {folder.name}/: {note}", flush=True)
            if first_process() and subcommand in ("test", "validate"):
                folder = eval_folder(self.model, ckpt)
                if subcommand == "test":  # one without a sweep writes no metrics: apart from an evaluation's
                    folder = folder_of_test(Path(folder), self.trainer.callbacks).name
                if self.model.eval_folder() != "eval":
                    theirs, mine = spec.get("dataset"), self.model.spec.dataset
                    if theirs == mine:  # another file or folder of the same kind
                        theirs = f"{theirs} ({source_name(spec)})"
                        mine = f"{mine} ({source_name(given)})"
                    print(f"[run] the checkpoint was trained on {spec.get('domain')}/{theirs}; this evaluation on "
                          f"{mine} goes to {folder}/ (its own data: {own_data(spec)})", flush=True)
                self._name_evaluation(folder, subcommand)
                # only a test that writes its metrics there, or one without a sweep into its own folder, replaces
                # the folder: a validate (config_validate.yaml alone), or a sweep with its own out_dir, adds beside
                # what is there; a fast_dev_run writes none
                if subcommand == "test" and not self.trainer.fast_dev_run and (not swept(self.trainer.callbacks) or any(
                        isinstance(cb, SweepEvaluation) and not cb.out_dir for cb in self.trainer.callbacks)):
                    replacing = self.run_dir / folder
                    if set_aside(replacing) is not None:
                        print(f"[run] {folder}/ holds an earlier evaluation: this one replaces it when it ends (if it "
                              f"fails, the earlier one stays)", flush=True)
            # an evaluation's offline W&B record joins the run's when the evaluation has ended (wandbfolder.py)
            staged = self._stage_wandb() if subcommand in ("test", "validate") and first_process() else None
            if subcommand == "fit" and self.wandb_id is not None and not self.trainer.fast_dev_run:  # no W&B run then
                self.run_dir.mkdir(parents=True, exist_ok=True)
                (self.run_dir / "wandb_id.txt").write_text(self.wandb_id + "\n")
            if subcommand == "fit" and getattr(self, "_run_lock", None) is not None and \
                    not run:  # its lock says "untrained" until its first step completes
                self._first_step_mark = FirstStepMark(self._run_lock, self.run_dir / FIT_LOCK)  # _drop_new_run
                self.trainer.callbacks.append(self._first_step_mark)  # counts steps by it too
        except BaseException as err:
            if replacing is not None:  # set aside above, then the W&B staging failed (a read-only folder)
                put_back(replacing)
            self._release_run_folder()
            if (line := self._write_failure(err, subcommand, None)) is not None:  # a read-only run folder
                raise OSError(line) from err
            raise
        ended = False  # the work done and kept: a Ctrl-C from here on stops only the closing lines
        try:
            if not is_ddp_child() and (line := waiting_line(self.trainer.num_nodes, self._environment)):
                print(line, flush=True)  # each node waits in Lightning's setup until all have joined
            super()._run_subcommand(subcommand)
            if replacing is not None and not self.trainer.interrupted and swept(self.trainer.callbacks) and \
                    not (replacing / "metrics.json").is_file():
                # no test batch ran (limit_test_batches=0): the folder would hold a config and no metrics, in place of
                # the evaluation before it
                limit = self.trainer.limit_test_batches
                why = "" if limit else f" (trainer.limit_test_batches={limit})"
                raise ValueError(f"the evaluation ran no test batch{why}, so it has no metrics: {replacing} is left as "
                                 "it was")
            if replacing is not None and self.trainer.interrupted:  # Ctrl-C where Lightning returns (older 2.x)
                put_back(replacing)
                self._say_evaluation_stopped(subcommand, replacing)
            elif replacing is not None:
                drop_aside(replacing)
            if staged is not None:
                if self.trainer.interrupted:
                    finish_wandb()
                    drop_record(*staged)
                else:
                    finish_wandb(exit_code=0)
                    publish_record(staged[0])
            ended = not self.trainer.interrupted
            if subcommand == "fit" and self.trainer.fast_dev_run:
                self._drop_new_run(failed=False)
                if run and self.trainer.is_global_zero:  # Lightning's line alone said it
                    self._say_dev_run_of_a_resume()
            elif subcommand == "fit" and not self.trainer.interrupted and self.trainer.is_global_zero:
                resumed_at = self._checkpoint(ckpt).get("global_step") if ckpt else None
                if resumed_at is not None and resumed_at == self.trainer.global_step:  # a finished run resumed as it is
                    # (or a new run from its checkpoint)
                    of = "the run" if run else "the checkpoint"
                    print(nothing_trained(self.trainer, of), flush=True)
                print(fit_summary(self.trainer, self._shown), flush=True)
            elif replacing is not None and not self.trainer.interrupted:  # a test into a folder of the run
                print(evaluation_summary(replacing, Path(str(self._shown)) / replacing.name,
                                         swept(self.trainer.callbacks)), flush=True)
            elif subcommand == "test" and not self.trainer.interrupted and not self.trainer.fast_dev_run and \
                    first_process() and ((out := sweep_eval_dir(self.trainer)) / "metrics.json").is_file():
                print(evaluation_summary(out), flush=True)  # a sweep's own out_dir, pictures/ in it
        except BaseException as err:
            if replacing is not None:
                put_back(replacing)
            if staged is not None:
                finish_wandb()
                drop_record(*staged)
            ctrl_c = isinstance(err, KeyboardInterrupt) or isinstance(err.__context__, KeyboardInterrupt)
            sigterm = isinstance(err, SIGTERMException)
            self._drop_new_run(failed=not (ctrl_c or sigterm))  # a stop has said what it saved (RunCheckpoint)
            # Ctrl-C: Lightning says only "Detected KeyboardInterrupt" and exits 1 (a SystemExit raised while it handles
            # the KeyboardInterrupt), which ends as a Ctrl-C here (StageInterrupted); SIGTERM: its SIGTERMException.
            # Any error marks the trainer interrupted, so the cause is told by the exception itself
            if type(err) is KeyboardInterrupt and (kept := self._kept_at_ctrl_c(subcommand, ended, replacing)):
                raise Interrupted(kept) from None  # outside Lightning: after the work, while the last lines print
            if ctrl_c:
                self._say_evaluation_stopped(subcommand, replacing)
            elif sigterm:
                self._say_evaluation_stopped(subcommand, replacing, "SIGTERM")
            if sigterm and not err.code:
                # Lightning's own SIGTERM stop (a fit's sanity check, checkpointing off, a handler of the user's, an
                # evaluation) exits 0: a run SIGTERM ended never reports success (RunCheckpoint's stop already says so)
                err.code = SIGTERM_STATUS
            if (line := self._write_failure(err, subcommand, replacing)) is not None:
                raise OSError(line) from err
            if isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt):
                raise StageInterrupted from None  # Lightning's exit 1: the command ends by SIGINT, as on any Ctrl-C
            raise
        finally:
            self._release_run_folder()

    def _name_evaluation(self, folder: str, subcommand: str) -> None:
        """Name an evaluation's W&B run after its folder and kind (polynomial/p/eval (test)), unless the user named
        it: named after the run folder alone, as its fit is, it could not be told from the fit in W&B's runs table."""
        if not self._derived_wandb_name:
            return
        config = self.config[subcommand]
        for lg in config_list(config.trainer.logger):  # the config it records (without_run_folder drops it)
            if is_wandb_logger(lg):
                lg.init_args.name = evaluation_run_name(lg.init_args.group, folder, subcommand)
        for init in wandb_inits(self.trainer):  # the logger's, whose run begins as the evaluation sets up
            init["name"] = evaluation_run_name(init.get("group"), folder, subcommand)

    def _stage_wandb(self) -> tuple[Path, list[Path]] | None:
        """Point an evaluation's offline W&B logger at a staging folder in <run>/wandb/ (wandbfolder.stage_record);
        returns it and the folders made for it, or None without one (online, disabled, no W&B logger)."""
        inits = wandb_inits(self.trainer)
        if not inits or not wandb_offline() or os.environ.get("WANDB_MODE") == "disabled":
            return None
        staged = stage_record(self.run_dir / "wandb")
        for init in inits:
            # where wandb.init writes; the logger's save_dir, which the public arguments would move too, is the
            # trainer's log_dir and stays the run folder
            init["dir"] = str(staged[0])
        return staged

    def _write_failure(self, err: BaseException, subcommand: str, replacing: Path | None) -> str | None:
        """The line of a command whose output could not be written (a full disk, a quota, a file-size limit, a
        read-only file system): the system's words alone ("[Errno 28] No space left on device") named neither the
        folder nor what was kept. None for any other error, and for a cache's (its own line names the cache)."""
        if not isinstance(err, OSError) or isinstance(err, CacheWriteError) or err.errno not in WRITE_ERRNOS:
            return None
        where, kept = self.run_dir, ""
        if subcommand == "predict":
            writer = self._prediction_writer()
            where = writer.out if writer is not None else where
            kept = ("; nothing of the prediction was kept: free some space there, or give --out a folder on a disk "
                    "you can write")
        elif subcommand == "fit":
            folder = Path(getattr(self.trainer.checkpoint_callback, "dirpath", None) or self.run_dir / "checkpoints")
            # the run folder is kept (command.txt, config.yaml): the same --run_name is refused (check_new_run)
            again = f"free some space and {train_again(self.run_dir)}, or give another --run_root"
            if (folder / "last.ckpt").is_file():
                kept = (f"; {folder / 'last.ckpt'} is whole: make room, then continue with --resume "
                        f"{shlex.quote(str(self.run_dir))}")
            elif saved := kept_checkpoint(folder):  # a best-step*.ckpt, then no room for last.ckpt
                kept = (f"; no last.ckpt was kept, so the run cannot be resumed ({saved} is whole: evaluate it "
                        f"with --ckpt_path): {again}")
            else:  # the first save
                kept = f"; no checkpoint was kept: {again}"
        elif subcommand in ("test", "validate"):  # a full disk, or a read-only run folder (before it began)
            # a sweep's own out_dir that the file lies in is the folder that failed, not the run folder
            failed = Path(os.path.abspath(err.filename2 or err.filename)) if err.filename else None
            out = next((Path(cb.out_dir) for cb in self.trainer.callbacks if isinstance(cb, SweepEvaluation)
                        and cb.out_dir and failed and failed.is_relative_to(os.path.abspath(cb.out_dir))), None)
            where = replacing or out or where
            move = ("give the evaluation callback's out_dir a folder on {}" if out else
                    "evaluate a copy of the run folder on {}")
            kept = {errno.EROFS: ("; " if out else "; an evaluation writes into its run folder: ")
                    + move.format("a disk you can write"),
                    errno.EFBIG: "; a file there would pass the largest file this process may write (ulimit -f) or "
                                 "its file system holds (4 GiB on FAT32): raise that limit, or "
                                 + move.format("another disk")}.get(
                err.errno, "; free some space on its disk and evaluate again")
            if replacing is not None:  # the folder a test replaces as a whole (<run>/eval): what is left of it first
                kept = (f"; {replacing.name}/ keeps the earlier evaluation, unchanged" if replacing.exists() else
                        "; nothing of the evaluation was kept") + kept
        # a copy or rename names its destination second: the first is the temporary file written before it
        named = f": {err.filename2 or err.filename}" if err.filename else ""
        return f"cannot write into {where} ({err.strerror or err}{named}){kept}"

    def _prediction_writer(self) -> PredictionWriter | None:
        return next((cb for cb in self.trainer.callbacks if isinstance(cb, PredictionWriter)), None)

    def _kept_at_ctrl_c(self, subcommand: str, ended: bool, replacing: Path | None) -> str:
        """What a Ctrl-C after a command did its work (``ended``: while its closing lines print) leaves, for the one
        line of errors.ctrl_c_exits, which says "nothing was written" without it; "" before (a prediction: before
        it wrote), where the stop's own line says what was kept. Every process of a run says it (the [run] line, and
        so _shown, is the first process's alone)."""
        if subcommand == "fit" and trained(self) and not self.trainer.fast_dev_run:
            return f"after the fit ended: its run {self._shown or shown_path(self.run_dir)} is kept"
        if subcommand == "predict":
            writer = self._prediction_writer()
            return f"after the prediction ended: wrote {writer.out}" if writer is not None and writer.written else ""
        if not ended or subcommand not in ("test", "validate"):
            return ""
        # an evaluation that replaced its folder (eval/), or a sweep's own out_dir
        where = replacing or (sweep_eval_dir(self.trainer) if subcommand == "test" else None)
        if where is not None and (where / "metrics.json").is_file():
            return f"after the evaluation ended: {shown_path(where)} keeps it"
        return "after the evaluation ended: what it wrote is kept"

    def _release_run_folder(self) -> None:
        """Unlock the run folder a fit held (hold_run_folder) once it ends: a fit run from Python may be followed by a
        resume of the same run in the same process."""
        lock, self._run_lock = getattr(self, "_run_lock", None), None
        release_run_folder(self.run_dir, lock)

    def _say_dev_run_of_a_resume(self) -> None:
        """The closing line of a fast_dev_run given --resume: it wrote nothing, and from a step at or past its own few
        (Lightning's max_steps for it) it trained nothing either, though Lightning's line says max_steps was reached."""
        step, steps = self.trainer.global_step, self.trainer.max_steps
        nothing = ""
        if step >= steps:
            nothing = (f"; it trained nothing: the run is at step {step}, past the fast_dev_run's "
                       f"{counted(steps, 'step')} (try the options on a new run: leave out --resume)")
        print(f"[run] fit: {self._shown} unchanged: a fast_dev_run writes nothing into a run folder{nothing}",
              flush=True)

    def _say_evaluation_stopped(self, subcommand: str, replacing: Path | None, why: str = "Ctrl-C") -> None:
        """After Ctrl-C (or SIGTERM) stopped a test or validate: what was kept (a fit's stop has RunCheckpoint's own
        line). A prediction stopped by Ctrl-C says what SIGTERM's says (PredictionWriter): Lightning's "Detected
        KeyboardInterrupt" alone left open whether its files were written."""
        if subcommand == "predict" and why == "Ctrl-C":
            writer = self._prediction_writer()
            done = f"; wrote {writer.out}" if writer is not None and writer.written else "; nothing was written"
            print(f"[predict] Ctrl-C: stopped{done}", flush=True)
        if subcommand not in ("test", "validate") or not first_process():
            return
        kept = (f"{replacing.name}/ keeps the earlier evaluation, unchanged" if replacing is not None
                and replacing.exists() else "nothing of it was kept")
        print(f"[run] {why}: the evaluation stopped before its end; {kept}", flush=True)


# what a write that fails for want of room, or of a writable file system, says
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


# what Lightning's barebones mode turns off, each refused by it when on: the configs turn on some of them
BAREBONES = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "log_every_n_steps": 0,
             "enable_model_summary": False, "num_sanity_val_steps": 0}


def use_barebones(trainer) -> str:
    """trainer.barebones=true: Lightning refused the W&B logger, progress bar, log_every_n_steps and the run's
    checkpoint callback the configs set, one at a time (the first naming a WandbLogger object's repr). They are
    turned off in ``trainer`` (the config, which config.yaml records), as barebones asks; the line saying so."""
    for key, off in BAREBONES.items():
        trainer[key] = off
    return ("[run] trainer.barebones=true: no logger (W&B), checkpoints, progress lines, model summary or sanity "
            "check, as Lightning's barebones mode asks")


def check_no_optimizer_options(cfg) -> None:
    """LightningCLI's --optimizer and --lr_scheduler would replace the module's AdamW and schedule (and the resume of
    both), leaving model.optim unused; an --lr_scheduler without --optimizer was dropped without a word. Refused in
    one line; the parser keeps the keys, which every run's config.yaml holds as null."""
    for key in ("optimizer", "lr_scheduler"):
        if cfg.get(key) is not None:
            raise ValueError(f"--{key}: the model trains with AdamW, a warmup and a cosine decay set by model.optim, "
                             "not LightningCLI's --optimizer/--lr_scheduler: give --model.optim.lr, .weight_decay, "
                             ".warmup_steps or .min_lr_ratio")


def _print_config_action():
    """jsonargparse's --print_config action (None where a version has it elsewhere: the parser then prints as it
    parses)."""
    try:
        from jsonargparse._actions import _ActionPrintConfig
    except ImportError:
        return None
    return _ActionPrintConfig


def _subcommand_kwargs(exit_on_error: bool = True) -> dict[str, Any]:
    base = {"parser_mode": "omegaconf", "exit_on_error": exit_on_error, "allow_abbrev": False, "logger": PARSE_LOG}
    main_kwargs = {**base, "prog": "pixeltransformer"}
    if BASE_CONFIG.is_file():
        base["default_config_files"] = [str(BASE_CONFIG)]
    return {sub: {**base, "prog": f"pixeltransformer {sub}"} for sub in SUBCOMMANDS} | main_kwargs


def main(args: list[str] | None = None, run: bool = True, exit_on_error: bool = True) -> PixelTransformerCLI:
    """Run the CLI with the given arguments (sys.argv when None); returns the CLI object. With
    ``exit_on_error=False`` a bad command line raises ArgumentError instead of printing the usage and exiting."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    quiet_console()
    argv = sys.argv[1:] if args is None else args if isinstance(args, list) else None  # what command.txt records
    argv = expand_home(argv) if argv is not None else None  # --run_root=~/runs: the shell left the "~"
    if argv and argv[0] in ("fit", "validate", "test") and not {"-h", "--help"} & set(argv):
        check_wandb_mode()  # a prediction begins no W&B run (before_instantiate_classes), nor does --help
    check_command_line(argv or [])
    for note in overridden_options(argv or []):  # an option a later --config sets again: the file's value is used
        warn_once(note)
    DROPPED.notes.clear()  # what this command's parse drops (dropped_settings_line)
    full = with_run_config(argv) if argv is not None else None  # a resume: the run's config.yaml first
    readable_run_configs(full or [])
    return PixelTransformerCLI(
        PixelTransformerModule,
        SignalDataModule,
        subclass_mode_data=True,
        save_config_callback=RunConfig,
        parser_class=RunParser,
        save_config_kwargs={"overwrite": True, "command": shlex.join(["pixeltransformer", *map(str, argv)])
                            if argv is not None else None},
        parser_kwargs=_subcommand_kwargs(exit_on_error),
        args=full if full is not None else args,
        run=run,
    )


def cli_main() -> None:
    """LightningCLI's subcommands fit, validate, test and predict, on sys.argv: what the ``pixeltransformer`` command
    (``pixeltransformer.__main__.main``, which handles ``--version`` and the checks before Lightning) runs last."""
    predict_in_the_first_process(sys.argv[1:])  # torchrun, srun: one prediction, in the first process
    set_flushing(True)  # before any thread pool exists, so that its workers inherit the mode (numerics.py)
    keep_freed_memory()  # large temporaries reuse mapped pages (allocator.py)
    args = sys.argv[1:]
    for attempt in range(len(args) + 1):  # each pass puts one value of the command line in YAML's spelling
        try:
            main(args, exit_on_error=False)
            return
        except ArgumentError as err:
            sub = args[0] if args and not args[0].startswith("-") else ""
            line = parse_error_line(err.message)
            # which of the config files (a resume's config.yaml among them) sets the option that failed
            key, got = parse_error_fields(line)
            where = config_setting(with_run_config(args), key, got) if key else None
            if wandb_line := wandb_options_line(line):  # a run's config.yaml, without the wandb package
                fail(f"{where + ': ' if where else ''}{wandb_line}")
            split = re.match(r"argument (--[\w.]+): expected one argument$", line)
            if split and split.group(1) in args[:-1]:  # --temperature -inf: argparse took -inf for an option
                key, got = split.group(1), args[args.index(split.group(1)) + 1]
            # --temperature inf: YAML reads Python's inf and nan as text, which a float option refused in jsonargparse's
            # words; given as YAML's .inf, the value meets the option's own check, which names what it takes
            if (attempt < len(args) and key and got and where is None
                    and (spelled := yaml_spelled(args, key, got)) is not None):
                args = spelled
                continue
            if key and got and "float" in line and (spelled_got := yaml_float(got)) is not None:  # a config file's
                line = f"{key}: YAML reads {got} as text, not a number: write {spelled_got}"
            fail(f"{where + ': ' if where else ''}{line}{moved_note(line)} (options: pixeltransformer "
                 f"{sub + ' ' if sub else ''}--help)")
        except Exception as err:
            if isinstance(root_cause(err), MisconfigurationException):  # Lightning's: settings this machine lacks
                fail(f"trainer settings: {first_line(root_cause(err))}")
            if type(root_cause(err)).__module__.startswith("wandb."):  # no login, no network: W&B's, not a bug here
                fail(f"W&B: {first_line(root_cause(err))}{wandb_fallbacks()}")
            if (exit_ := launched_bad_input(err)) is not None:  # ddp_spawn's process printed its line
                raise exit_ from None
            if (exit_ := peer_lost_exit(err)) is not None:  # a DDP peer met bad input first and printed its line
                raise exit_ from None
            if not is_input_error(err):
                raise  # a bug, not bad input: keep the traceback
            fail(err)  # one line for the user; the traceback only with PIXELTRANSFORMER_DEBUG=1


if __name__ == "__main__":  # as torchrun starts each process
    ctrl_c_main()(cli_main)()
