"""The `pixeltransformer` command: LightningCLI behind a thin `main(args)` that tests call directly.

Every run lives in one folder, runs/<domain>/<run-name>/: config.yaml (the resolved config), checkpoints/,
the offline W&B run (wandb/), pictures/ and eval/. `--resume <run folder>` continues a run from its
last.ckpt with the same W&B run id.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from .checkpointing import RunCheckpoint
from .datamodule import SignalDataModule
from .module import PixelTransformerModule
from .progress import replace_default_bar

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASE_CONFIG = REPO_CONFIGS / "trainer" / "default.yaml"
RUN_DIR_ENV = "PIXELTRANSFORMER_RUN_DIR"  # shared with DDP ranks, which re-run this command
WANDB_ID_ENV = "PIXELTRANSFORMER_WANDB_ID"


def domain_of(data_class_path: str | None) -> str:
    parts = (data_class_path or "").split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "domains" else "custom"


class RunConfig(SaveConfigCallback):
    """Writes the resolved config into the run folder (config.yaml, or eval/config.yaml for other stages)
    and puts the whole config into wandb.config."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            (Path(trainer.log_dir or ".") / "eval").mkdir(parents=True, exist_ok=True)
            self.config_filename = os.path.join("eval", f"config_{getattr(stage, 'value', stage)}.yaml")
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        from .media import wandb_run

        run = wandb_run(trainer)
        if run is not None:
            run.config.update(self.config.as_dict(), allow_val_change=True)


class PixelTransformerCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.link_arguments("data", "model.spec", apply_on="instantiate", compute_fn=lambda dm: dm.spec.to_dict())
        parser.add_argument("--run_root", type=str, default="runs", help="runs go to <run_root>/<domain>/<run_name>")
        parser.add_argument("--run_name", type=str | None, default=None, help="default: the start time")
        parser.add_argument("--resume", type=str | None, default=None,
                            help="a run folder: continue it from checkpoints/last.ckpt with the same W&B run")

    def instantiate_trainer(self, **kwargs: Any):
        # progress in steps of the whole run, and plain lines when stdout is a log file (see progress.py)
        return replace_default_bar(super().instantiate_trainer(**kwargs))

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        if "weights_only" in cfg and cfg.weights_only is None:
            cfg.weights_only = True  # checkpoints hold tensors and plain types only: never run pickled code
        run_dir = self._run_dir(cfg)
        os.environ[RUN_DIR_ENV] = str(run_dir)
        cfg.trainer.default_root_dir = str(run_dir)
        logger = cfg.trainer.logger
        for lg in logger if isinstance(logger, list) else [logger]:
            if hasattr(lg, "class_path") and lg.class_path.endswith("WandbLogger"):
                self._configure_wandb(lg.init_args, run_dir, cfg)

    def _run_dir(self, cfg) -> Path:
        if cfg.get("resume"):
            run = Path(cfg.resume)
            last = run / "checkpoints" / "last.ckpt"
            if not last.is_file():
                raise SystemExit(f"error: --resume {run}: no checkpoints/last.ckpt in that folder")
            cfg.ckpt_path = str(last)
            return run
        if _is_ddp_child() and os.environ.get(RUN_DIR_ENV):
            return Path(os.environ[RUN_DIR_ENV])
        if self.subcommand in ("test", "validate", "predict") and cfg.get("ckpt_path"):
            ckpt = Path(cfg.ckpt_path)
            if not ckpt.is_file():
                raise SystemExit(f"error: checkpoint not found: {ckpt}")
            return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        domain = domain_of(cfg.data.class_path if hasattr(cfg.data, "class_path") else None)
        name = cfg.get("run_name") or _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return Path(cfg.run_root) / domain / name

    def _configure_wandb(self, init_args, run_dir: Path, cfg) -> None:
        mode = os.environ.get("WANDB_MODE", "offline")
        init_args.save_dir = str(run_dir)
        init_args.offline = mode != "online"
        init_args.name = init_args.get("name") or f"{run_dir.parent.name}/{run_dir.name}"
        if self.subcommand in ("fit", None):  # None: main(..., run=False), which prepares a fit
            # the run id lives in the run folder, so a resumed run continues the same W&B run
            id_file = run_dir / "wandb_id.txt"
            run_id = os.environ.get(WANDB_ID_ENV) if _is_ddp_child() else None
            if run_id is None:
                run_id = id_file.read_text().strip() if id_file.is_file() else _new_wandb_id()
            os.environ[WANDB_ID_ENV] = run_id
            if not _is_ddp_child() and os.environ.get("NODE_RANK", "0") == "0":
                run_dir.mkdir(parents=True, exist_ok=True)
                id_file.write_text(run_id + "\n")
            init_args.id = run_id
            init_args.resume = "allow"
        else:
            init_args.job_type = self.subcommand
            init_args.group = run_dir.name


def _is_ddp_child() -> bool:
    """True in the processes a DDP launcher started for ranks other than local rank zero."""
    return os.environ.get("LOCAL_RANK", "0") != "0"


def _new_wandb_id() -> str:
    import secrets

    return secrets.token_hex(4)


def _subcommand_kwargs() -> dict[str, Any]:
    base = {"parser_mode": "omegaconf"}
    if BASE_CONFIG.is_file():
        base["default_config_files"] = [str(BASE_CONFIG)]
    return {sub: dict(base) for sub in ("fit", "validate", "test", "predict")} | {"parser_mode": "omegaconf"}


def main(args: list[str] | None = None, run: bool = True) -> PixelTransformerCLI:
    """Run the CLI with the given arguments (sys.argv when None); returns the CLI object."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    return PixelTransformerCLI(
        PixelTransformerModule,
        SignalDataModule,
        subclass_mode_data=True,
        save_config_callback=RunConfig,
        save_config_kwargs={"overwrite": True},
        parser_kwargs=_subcommand_kwargs(),
        args=args,
        run=run,
    )


def cli_main() -> None:
    """Console script: LightningCLI subcommands, plus `pixeltransformer predict --checkpoint ... --input ...`
    for conditioning a trained model on a user's own file."""
    if len(sys.argv) > 1 and sys.argv[1] == "predict" and any(a.startswith("--checkpoint") for a in sys.argv):
        from .predict import main as predict_main

        predict_main(sys.argv[2:])
        return
    try:
        main()
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        # one line for the user; the traceback only with PIXELTRANSFORMER_DEBUG=1
        if os.environ.get("PIXELTRANSFORMER_DEBUG"):
            raise
        sys.exit(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}")


if __name__ == "__main__":
    cli_main()
