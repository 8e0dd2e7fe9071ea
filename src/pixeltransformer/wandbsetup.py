"""The W&B logger's settings and the checks made before a run begins: the mode, set from WANDB_MODE whatever a config
says (offline unless WANDB_MODE=online; a mode W&B does not know is refused), the probe of W&B's server online (a
machine without a route to it is refused at once, not after wandb.init's 90 s), the ways round a W&B failure that its
one line names, the wandb package that a W&B logger needs (not installed, or installed but not importing: refused
in one line, a run's config.yaml too), a prediction's trainer.logger without its W&B loggers, and a command's config
as the W&B dashboard shows it; a run's W&B ids (a new one, an offline resume's segment: :func:`offline_segment`), the
wandb.init arguments the CLI edits before a logger's run begins, and a process's W&B run ended (:func:`finish_wandb`).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from .errors import first_line
from .layout import next_command


# the trainer's settings only a fit reads: how long it trains, when it validates, how it steps and checkpoints
FIT_ONLY_TRAINER = ("max_epochs", "min_epochs", "max_steps", "min_steps", "max_time", "limit_train_batches",
                    "val_check_interval", "check_val_every_n_epoch", "num_sanity_val_steps", "log_every_n_steps",
                    "accumulate_grad_batches", "gradient_clip_val", "gradient_clip_algorithm", "enable_checkpointing",
                    "reload_dataloaders_every_n_epochs", "detect_anomaly")


def dashboard_config(config: dict, fit: bool = True) -> dict:
    """A command's config as W&B shows it: without LightningCLI's top-level optimizer and lr_scheduler, which are
    always null here (cli.check_no_optimizer_options refuses them; the module's own AdamW and schedule are
    model.optim), so a dashboard does not read "optimizer: null" beside a run that trained with AdamW; and without
    the parser's own keys (``__default_config__``: the absolute path of configs/trainer/default.yaml), which
    config.yaml lacks, nor an evaluation's ``model.spec`` (the checkpoint's data, a link: no config file holds it).
    An evaluation's (``fit`` false) leaves out the trainer's settings only a fit reads (FIT_ONLY_TRAINER) and the
    checkpoint schedule (``checkpoint``): they are the config file's, not the run's, and it trained nothing; the
    fit's W&B run holds its own."""
    shown = {k: {m: x for m, x in v.items() if m != "spec"} if k == "model" and isinstance(v, dict) else v
             for k, v in config.items()
             if not (k in ("optimizer", "lr_scheduler") and v is None or k.startswith("__"))}
    if not fit:
        shown.pop("checkpoint", None)
        if isinstance(shown.get("trainer"), dict):
            shown["trainer"] = {k: v for k, v in shown["trainer"].items() if k not in FIT_ONLY_TRAINER}
    return shown


def wandb_offline() -> bool:
    """The W&B logger's ``offline``, from WANDB_MODE (online only with WANDB_MODE=online) whatever a config says."""
    return os.environ.get("WANDB_MODE", "offline") != "online"


WANDB_MODES = ("offline", "online", "disabled", "dryrun")  # dryrun: W&B's older name for offline


def check_wandb_mode() -> None:
    """A WANDB_MODE the CLI does not know: any but online ran offline (wandb_offline), so WANDB_MODE=onlin logged
    nothing online without a word."""
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode not in WANDB_MODES:
        raise ValueError(f"WANDB_MODE={mode} is not a W&B mode the CLI takes: give offline (the default), online or "
                         "disabled")


WANDB_PROBE_S = 10  # seconds to wait for W&B's server to take a connection


def wandb_fallbacks() -> str:
    """The ways round a W&B failure online, for its one line: offline (the default) or no W&B at all."""
    if os.environ.get("WANDB_MODE") != "online":
        return ""
    return (f" (or run offline, the default: {next_command('make ... WANDB=offline, else ')}WANDB_MODE=offline; "
            "without W&B: WANDB_MODE=disabled)")


def _wandb_setting(settings, key: str):
    """One of the W&B settings a logger's init_args give wandb.init (a dict, the config's Namespace or a
    wandb.Settings), or None where they give none."""
    if settings is None:
        return None
    return settings.get(key) if hasattr(settings, "get") else getattr(settings, key, None)


WANDB_NOT_ONLINE = ("offline", "dryrun", "disabled")  # wandb.init's modes that contact no server


def check_wandb_reachable(init_args=None) -> None:
    """Online, W&B's server must take a connection: on a machine without a route to it (a cluster's compute node),
    a key from `wandb login` made wandb.init wait in silence for its 90 s timeout before failing. The server and
    proxies are those wandb.init uses: the W&B logger's init_args settings (and its mode) first, then W&B's own
    settings (`wandb login --host`, WANDB_BASE_URL); a proxy's route is not probed, W&B's to take."""
    import socket
    import urllib.parse
    import urllib.request

    init_args = init_args if init_args is not None else {}
    given = init_args.get("settings")
    if (init_args.get("mode") or _wandb_setting(given, "mode")) in WANDB_NOT_ONLINE:
        return
    try:  # W&B's own settings, as wandb.setup reads them, without starting its service process
        from wandb.sdk.wandb_setup import singleton

        settings = singleton().settings
    except (ImportError, AttributeError):  # a W&B release without them: its own timeout, as before the probe
        return

    def setting(key: str):
        return _wandb_setting(given, key) or getattr(settings, key)

    # the "no" entry is no_proxy's list of hosts reached directly: no proxy in itself
    if setting("https_proxy") or setting("http_proxy") or set(urllib.request.getproxies()) - {"no"}:
        return
    base_url = setting("base_url")
    url = urllib.parse.urlsplit(base_url)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=WANDB_PROBE_S).close()
    except OSError as err:
        why = err.strerror or str(err) or type(err).__name__  # socket.timeout's str is "timed out"
        raise ConnectionError(f"W&B: {base_url} cannot be reached from this machine ({why}), so nothing can "
                              f"be logged online{wandb_fallbacks()}") from None


def set_wandb_mode(cfg) -> None:
    """Give each W&B logger of a subcommand's config the mode the run will use (``wandb_offline``)."""
    logger = cfg.get("trainer.logger") if "trainer.logger" in cfg else None
    for lg in config_list(logger):
        if is_wandb_logger(lg) and lg.get("init_args") is not None:
            lg.init_args.offline = wandb_offline()


def without_wandb_loggers(logger):
    """A config's trainer.logger less its W&B loggers, as a prediction runs it (False where none is left: None is
    Lightning's default logger); a trainer.logger without one (true, null: Lightning's default) as it is."""
    if not any(is_wandb_logger(lg) for lg in config_list(logger)):
        return logger
    return [lg for lg in config_list(logger) if not is_wandb_logger(lg)] or False


def wandb_import_error() -> str | None:
    """Why the wandb package does not import here, with the remedy (None where it imports), which Lightning's W&B
    logger needs in every mode, disabled too: not installed (wandb itself missing), or installed but broken (an
    error inside it, as protobuf's "cannot import name 'builder'", which a "pip install wandb" leaves as it is)."""
    try:
        importlib.import_module("wandb")
    except Exception as err:  # noqa: BLE001 - anything a broken package raises on import
        if isinstance(err, ModuleNotFoundError) and err.name == "wandb":
            return "but the wandb package is not installed here: pip install wandb"
        return (f"and the wandb package is installed but does not import: {first_line(err)}; reinstall it (pip "
                "install --force-reinstall wandb)")
    return None


def check_wandb_installed(logger) -> None:
    """A command with a W&B logger where the wandb package does not import (wandb_import_error): refused in one line
    naming why and the way without W&B (the parser refused the options the CLI gives the logger, in a traceback of
    200 lines)."""
    if any(is_wandb_logger(lg) for lg in config_list(logger)) and (why := wandb_import_error()):
        raise ValueError(f"trainer.logger is W&B's WandbLogger, {why}, or run without W&B: "
                         f"{next_command('make ... ARGS=', '')}--trainer.logger=false")


def wandb_options_line(line: str) -> str | None:
    """The parser's line refusing one of wandb.init's options that a W&B logger's config holds (entity, group: a
    run's config.yaml holds them), as the line naming the cause where the wandb package does not import (None where
    the line is another's, or wandb imports): the parser takes them only with the package, so --trainer.logger=false
    after the config does not help."""
    option = re.search(r"Option '(\w+)' is not accepted \(WandbLogger\)", line)
    why = wandb_import_error() if option else None
    return f"trainer.logger is W&B's WandbLogger with wandb.init's option '{option.group(1)}', {why}" if why else None


def config_list(value: Any) -> list:
    """A config entry that may be one item or a list of them (trainer.logger, trainer.callbacks), as a list."""
    return [] if value is None or isinstance(value, bool) else list(value) if isinstance(value, list) else [value]


def is_wandb_logger(logger: Any) -> bool:
    return getattr(logger, "class_path", "").endswith("WandbLogger")


def finish_wandb(exit_code: int = 1) -> None:
    """End this process's W&B run now, if one was started (by default marked as failed)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)


def offline_segment(run_id: str, wandb_dir: Path) -> tuple[str, int]:
    """The W&B id of an offline fit of a run whose W&B id is run_id, and which resume of the run it is: run_id itself
    and 0 for its first segment, ``<run_id>-<k>`` and k for the k-th resume (k counts the run's segments already in
    wandb_dir; its evaluations' W&B runs are not segments), so that `wandb sync` uploads every segment of the run as
    a run of its own in the run folder's group, none replacing another's history."""
    folders = wandb_dir.iterdir() if wandb_dir.is_dir() else []  # offline-run-<time>-<id> or run-<time>-<id>
    ids = {m.group(1) for p in folders if (m := re.fullmatch(r"(?:offline-)?run-\d{8}_\d{6}-(.+)", p.name))}
    segments = {i for i in ids if i == run_id or re.fullmatch(re.escape(run_id) + r"-\d+", i)}  # not evaluations'
    if not segments:
        return run_id, 0
    k = len(segments)
    while f"{run_id}-{k}" in ids:
        k += 1
    return f"{run_id}-{k}", k


def wandb_inits(trainer) -> list[dict]:
    """The wandb.init arguments of the trainer's W&B loggers, which the CLI edits before their run begins (the
    logger keeps them in ``_wandb_init``; fast_dev_run's DummyLogger answers any attribute with a no-op)."""
    return [init for lg in trainer.loggers if isinstance(init := getattr(lg, "_wandb_init", None), dict)]


def new_wandb_id() -> str:
    import secrets

    return secrets.token_hex(4)
