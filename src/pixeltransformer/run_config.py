"""The config a command records, and what it says it runs: RunConfig writes the resolved config into the run folder
(config.yaml, or an evaluation's config_test.yaml beside its metrics), a fit's command line into command.txt and the
config into wandb.config; the config as the run folder records it (:func:`without_run_folder`), the precision the
trainer runs (:func:`record_precision`), and the [run] line that names the data, the parameters, the device and the
precision (:func:`setup_line`).
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.cli import SaveConfigCallback

from .console import quiet_console
from .datamodule import places_read
from .evaluation import eval_folder, folder_of_test, sweep_out_dir
from .runs import COMMAND_FILE, absolute_paths, shown_path
from .wandbnames import derived_run_name
from .wandbsetup import config_list, dashboard_config, is_wandb_logger


class RunConfig(SaveConfigCallback):
    """Writes the resolved config into the run folder (config.yaml, or config_test.yaml in the evaluation's folder:
    evaluation.eval_folder), and for a fit appends the command line as given to command.txt (one line per fit: a
    resume adds one; a test writes its own into its evaluation's folder); puts the config it records there into
    wandb.config (without_run_folder: a fit's and an evaluation's alike; an evaluation's without the settings only a
    fit reads, wandbsetup.dashboard_config), with the model's trainable parameter count
    (``model/parameters``) and a fit's ckpt_path and resume as given (config.yaml leaves them null). An evaluation's
    config is written when the evaluation has ended, after its metrics; the CLI sets an earlier evaluation aside
    meanwhile (eval_folders.set_aside), so a folder holds one evaluation's files, and a failed evaluation leaves the
    earlier one as it was."""

    def __init__(self, *args, command: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.command = command
        self.eval_config: tuple[Path, str] | None = None  # an evaluation's run folder and file name, for teardown
        self.started_from: dict[str, str | None] = {}  # a fit's ckpt_path and resume, which config.yaml leaves out
        self.failed = False

    def setup(self, trainer, pl_module, stage: str) -> None:
        quiet_console()  # again in each process ddp_spawn starts afresh, which main() never ran in
        run_dir = Path(trainer.log_dir or ".")  # under DDP a broadcast: every rank reads it, or rank zero waits
        if stage == "predict":  # prediction.json records the prediction's options beside its files
            return
        if stage != "fit":  # the folder is named at teardown, once the checkpoint is restored (eval_folder)
            self.eval_config = run_dir, f"config_{getattr(stage, 'value', stage)}.yaml"
            if trainer.is_global_zero:
                self.save_config(trainer, pl_module, stage)
            return
        if self.command and trainer.is_global_zero:
            run_dir.mkdir(parents=True, exist_ok=True)
            with open(run_dir / COMMAND_FILE, "a") as f:
                f.write(self.command + "\n")
        # config.yaml holds the run's settings, not where this fit started from: a resume finds last.ckpt in the run
        # folder, wherever it has moved, and a new run started from a copy of this file is a new run
        self.config = without_run_folder(self.config)
        # the W&B config says where the fit's weights came from (its curves go on from that checkpoint's step)
        self.started_from = {"ckpt_path": self.config.ckpt_path, "resume": self.config.resume}
        self.config.ckpt_path = self.config.resume = None
        for logger in config_list(self.config.trainer.get("logger")):  # the W&B id lives in wandb_id.txt alone: an
            if "id" in (logger.get("init_args") or {}):  # id of digits (2048e123) would read back as a number
                logger.init_args.id = None
        super().setup(trainer, pl_module, stage)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.failed = True

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self.eval_config is not None and not self.failed and trainer.is_global_zero:
            run_dir, name = self.eval_config
            # a test's record goes beside its metrics: into the sweep's own out_dir where it has one (it went into
            # <run>/eval/, splitting the evaluation over two folders and mixing with an earlier one's files there),
            # and a test without a sweep's into its own folder (folder_of_test), beside its pictures
            out_dir = sweep_out_dir(trainer) if name == "config_test.yaml" else None
            folder = Path(out_dir) if out_dir else run_dir / eval_folder(pl_module, trainer.ckpt_path)
            if name == "config_test.yaml":
                folder = folder_of_test(folder, trainer.callbacks)
            folder.mkdir(parents=True, exist_ok=True)
            self.parser.save(without_run_folder(self.config), str(folder / name), skip_none=False, overwrite=True,
                             multifile=self.multifile)
            wrote = str(folder / name)
            if self.command and name == "config_test.yaml":  # as given, published by `make results` with its numbers
                (folder / COMMAND_FILE).write_text(self.command + "\n")
                wrote += f", {COMMAND_FILE}"
            print(f"[pixeltransformer] wrote {wrote}", flush=True)  # beside the evaluation's other files
        self.eval_config = None

    def save_config(self, trainer, pl_module, stage: str) -> None:
        from .media import wandb_run

        run = wandb_run(trainer)
        if run is not None:  # as the run folder records it (a fit's is so already; an evaluation's config_test.yaml),
            # and the model's size, the "Trainable params" of the model summary, exactly
            shown = dashboard_config(without_run_folder(self.config).as_dict(), fit=stage == "fit")
            # the data read, where config.yaml may say null (a default found below $PIXELTRANSFORMER_DATA)
            places = {f"data/{name}": str(path) for name, path in places_read(trainer.datamodule, stage).items()}
            run.config.update({**shown, **self.started_from, "model/parameters": trainable_parameters(pl_module),
                               **places}, allow_val_change=True)


# Lightning's aliases of its precisions (the values a config may give for the ones it runs)
PRECISION_ALIASES = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}


def record_precision(cfg, trainer, subcommand: str | None = "fit") -> str | None:
    """Make a command's config record the precision the trainer runs, where Lightning runs another than the one
    given: 16-mixed (or 16) on a CPU runs as bf16-mixed, as float16 autocast needs a GPU, while config.yaml and
    W&B's config said 16-mixed. Returns the line that says so, naming the file that records it (a prediction's
    prediction.json), or None where the config already holds what runs. A config that gives none (null: Lightning's
    default) records the default that runs, 32-true, without a line: config.yaml said null."""
    given = cfg.trainer.get("precision")
    ran = str(trainer.precision)
    if given is None:
        cfg.trainer.precision = ran
        return None
    if PRECISION_ALIASES.get(str(given), str(given)) == ran:
        return None
    cfg.trainer.precision = ran
    why = " on the CPU (float16 mixed precision needs a GPU)" if ran == "bf16-mixed" else ""
    record = {"predict": "prediction.json records", "test": "config_test.yaml and metrics.json record",
              "validate": "config_validate.yaml records"}
    where = record.get(subcommand, "config.yaml records")
    return f"[run] trainer.precision={given} runs as {ran}{why}: {where} {ran}"


def trainable_parameters(module) -> int:
    """The number of parameters a module trains (those that require a gradient)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def setup_line(trainer, module, stage: str, datamodule=None) -> str:
    """What a command runs, under its first [run] line (which names the folder, before anything is built), printed
    once the classes are built: the domain and dataset, the files or folders of ``datamodule`` it reads (a default
    place too, which config.yaml keeps null; none for predict, whose prediction.json names its input), the
    parameters it trains, the device and the precision, which a log file otherwise never says (Lightning's lines
    tell whether a GPU is used, not which precision, nor how many devices)."""
    spec = getattr(module, "spec", None)
    what = f"{spec.domain}/{spec.dataset}" if spec is not None else type(module).__name__
    places = places_read(datamodule, stage) if stage != "predict" else {}
    if places:
        what += " from " + ", ".join(shown_path(path) if name == "root" else f"{name} {shown_path(path)}"
                                     for name, path in places.items())
    kind, devices, nodes = trainer.strategy.root_device.type, trainer.num_devices, trainer.num_nodes
    where = kind if devices * nodes == 1 else f"{devices * nodes} {kind} devices" + (
        f" on {nodes} nodes" if nodes > 1 else "")
    return (f"[run] {getattr(stage, 'value', stage)} {what}: {trainable_parameters(module):,} parameters, on {where}, "
            f"precision {trainer.precision}")


def without_run_folder(config):
    """A copy of a command's config as its run folder records it: without what the CLI sets from the folder
    (trainer.default_root_dir, the W&B logger's save_dir and group) and the W&B name it derived from it, so that a
    copy of the file serves another run, and a config that sets them is the user's (preflight.check_set_by_the_cli). Its
    relative data paths are absolute (runs.absolute_paths): the command's own keep the words it was given."""
    config = config.clone()
    absolute_paths(config)
    config.trainer.default_root_dir = None
    for logger in config_list(config.trainer.get("logger")):
        init_args = logger.get("init_args") if is_wandb_logger(logger) else None
        if init_args is None:
            continue
        if derived_run_name(init_args.get("name"), init_args.get("group")):
            init_args.name = None  # derived (_configure_wandb, _name_evaluation); a name the user gave stays
        for key in ("save_dir", "group"):
            if key in init_args:
                init_args[key] = None
    return config
