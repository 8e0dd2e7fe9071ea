"""Run folders: which folder a command works in and what may start there. No Lightning import, so that
``python -m pixeltransformer`` can check a command line in seconds, before Lightning is imported (:func:`preflight`);
the CLI applies the same rules to its parsed config.
"""

from __future__ import annotations

import argparse
import codecs
import copy
import fcntl
import functools
import hashlib
import os
import re
import secrets
import shlex
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

from .config import moved_option
from .errors import counted, import_failure
from .files import nearest_existing
from .layout import CONFIGS, config_shown, next_command
from .loading import load_checkpoint

COMMAND_FILE = "command.txt"  # in a run folder: the command line of each fit of the run, as given (cli.RunConfig)
RUN_FILES = ("config.yaml", "checkpoints", "wandb_id.txt")  # a fit writes them in its run folder; an evaluation, none


def is_run_folder(folder: Path, besides: str | None = None) -> bool:
    """Whether a folder is a run folder: it holds one of the files a fit writes there (RUN_FILES), which an
    evaluation's folder does not. ``besides``: a name not counted (a config.yaml's folder is a run's by its other
    files: a user's own config may be named config.yaml)."""
    return any((folder / name).exists() for name in RUN_FILES if name != besides)


def domain_of(domain_class_path: str | None) -> str:
    """The run-folder name of a config's ``model.domain``: the Domain class's registry name ("custom" without one).
    The class path comes from the user's own config, which LightningCLI imports anyway."""
    import importlib

    module, _, name = (domain_class_path or "").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name) if module else None
    except (ImportError, AttributeError):
        return "custom"  # the CLI's parser reports a class that does not exist
    except ValueError:
        raise  # a Domain refused as it is defined (Domain.__init_subclass__): already one line
    except Exception as err:  # the module's own bug (a SyntaxError, a NameError) ended in a traceback
        cause = f"{type(err).__name__}: {next(iter(str(err).splitlines()), '')}"
        raise ValueError(f"model.domain: {import_failure(domain_class_path, cause)}") from None
    check_own_name(cls)
    return getattr(cls, "name", "") or "custom"


def missing_domain(data_class_path: str | None) -> str:
    """The line that refuses a config without ``model.domain``: its runs went to <run_root>/custom/ while its
    checkpoints named the data's domain. It names the Domain of the data's own package where that package has one
    (``domains.images.data.ImageDataModule`` -> ``domains.images.domain.ImageDomain``)."""
    import importlib
    import importlib.util

    from .domain import Domain

    package = (data_class_path or "").rpartition(".")[0].rpartition(".")[0]
    found = []
    try:
        if package and importlib.util.find_spec(f"{package}.domain") is not None:
            module = importlib.import_module(f"{package}.domain")
            found = [f"{module.__name__}.{name}" for name, obj in sorted(vars(module).items())
                     if isinstance(obj, type) and issubclass(obj, Domain) and obj.__module__ == module.__name__
                     and "name" in vars(obj) and obj.name]
    except Exception:  # noqa: BLE001 - only a hint: the data's package may hold no such module, or a broken one
        found = []
    hint = f" (this data's: {found[0]})" if len(found) == 1 else ""
    return (f"model.domain is not set: give model.domain.class_path, the data's Domain{hint}, whose name is the run "
            "folder's: <run_root>/<domain>/<run_name>")


def check_own_name(cls: Any) -> None:
    """A Domain defined outside this repository's domains/ may not take a built-in domain's name: its runs would go
    to that domain's run folders, its checkpoints would read as that domain's (``make eval`` and ``make sample`` then
    pick the built-in's config), and the two could not be loaded side by side."""
    named_by = next((c for c in getattr(cls, "__mro__", ()) if "name" in vars(c)), None)
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name or named_by is None:
        return
    if (CONFIGS / f"{name}.yaml").is_file() and not named_by.__module__.startswith(f"domains.{name}."):
        raise ValueError(f"{named_by.__module__}.{named_by.__qualname__}: the domain name {name!r} is a built-in "
                         f"domain's ({config_shown(f'{name}.yaml')}): give yours a name of its own")


def resume_checkpoint(run: str | Path) -> Path:
    """The last.ckpt a resumed run continues from, checked to be a readable, safe checkpoint."""
    run = Path(run).expanduser()
    # a checkpoint, or a run's checkpoints/ folder, given for its run folder: name the folder that holds it
    held = run.parent if run.is_file() else run if (run / "last.ckpt").is_file() else None
    if held is not None and held.name == "checkpoints":
        what = "a checkpoint" if run.is_file() else "a checkpoints folder"
        raise FileNotFoundError(f"--resume {run}: {what}, not a run folder; a resume continues its run folder's "
                                f"checkpoints/last.ckpt: --resume {shlex.quote(str(held.parent))}")
    if run.is_file():
        raise FileNotFoundError(f"--resume {run}: a file, not a run folder (<run_root>/<domain>/<run_name>)")
    if not run.is_dir():
        raise FileNotFoundError(f"--resume {run}: no such run folder")
    if not (is_run_folder(run) or (run / COMMAND_FILE).exists()):
        raise FileNotFoundError(f"--resume {run}: not a run folder (one holds config.yaml and checkpoints/)"
                                f"{runs_below(run)}")
    folder = checkpoint_folder(run)
    last = folder / "last.ckpt"
    # named as the run folder's own, or where its checkpoint.dirpath put them
    named = "checkpoints/last.ckpt in that folder" if folder == run / "checkpoints" else f"{last}"
    if not last.is_file():
        others = sorted(folder.glob("*.ckpt"))
        if others:  # a fit with checkpoint.save_last=false keeps its best checkpoints alone: it did save
            config, ckpt = shlex.quote(str(run / "config.yaml")), shlex.quote(str(others[-1]))  # shell words
            raise FileNotFoundError(f"--resume {run}: no {named}, only "
                                    f"{', '.join(p.name for p in others)} (a fit with checkpoint.save_last=false keeps "
                                    f"no last.ckpt): start a new run from one: pixeltransformer fit --config {config} "
                                    f"--ckpt_path {ckpt} --run_name NEW --checkpoint.save_last=true")
        raise FileNotFoundError(f"--resume {run}: no {named} ({_why_unsaved(run)}): start a new run, with another "
                                f"--run_name")
    if (why := cannot_write(run)) is not None:  # it failed on the system's line at its lock file
        raise PermissionError(f"--resume {run}: the run folder cannot be written ({why}), and a resume writes its "
                              f"checkpoints there: resume a copy of the run folder on a disk you can write")
    load_checkpoint(last, mmap=True)
    return last


def _why_unsaved(run: Path) -> str:
    """Why a run folder holds no checkpoint: the option its config.yaml fitted with that keeps none
    (trainer.barebones, trainer.enable_checkpointing=false), else that its fit stopped before the first save."""
    config = run / "config.yaml"
    for key, keeps_none in (("barebones", True), ("enable_checkpointing", False)):
        if config.is_file() and _config_entry(config, "trainer", key)[1] is keeps_none:
            return f"its fit ran with trainer.{key}={str(keeps_none).lower()}, which keeps no checkpoint"
    return "its fit stopped before the first save"


def runs_below(folder: Path) -> str:
    """" but a folder of N runs: give one, e.g. the latest: --resume RUN" for a folder of runs (<run_root>/<domain>
    or <run_root>: run folders with a checkpoints/last.ckpt one or two levels below), else ""."""
    found = [p for pattern in ("*/checkpoints/last.ckpt", "*/*/checkpoints/last.ckpt") for p in folder.glob(pattern)]
    if not found:
        return ""
    latest = max(found, key=lambda p: p.stat().st_mtime).parent.parent
    return (f" but a folder of {counted(len(found), 'run')}: give one, e.g. the latest: "
            f"--resume {shlex.quote(str(latest))}")


def checkpoint_folder(run: Path) -> Path:
    """Where a run folder's fits write their checkpoints: its checkpoints/, or the checkpoint.dirpath its config.yaml
    names (a resume of such a run looked in checkpoints/ and said its fit had stopped before the first save)."""
    config = run / "config.yaml"
    readable, dirpath = _config_entry(config, "checkpoint", "dirpath") if config.is_file() else (False, None)
    return Path(dirpath).expanduser() if readable and isinstance(dirpath, str) and dirpath else run / "checkpoints"


def with_run_config(argv: list[str]) -> list[str]:
    """``fit ... --resume RUN``: RUN/config.yaml becomes the first config of the command line, so the run goes on
    with its own settings (data, model, max_steps, schedule); whatever the command line gives applies on top
    (``--trainer.max_steps=2000`` to train longer, ``--config configs/trainer/gpu.yaml`` to move to GPUs). The
    resume itself goes last: a run's config.yaml given after it (``resume: null``) would otherwise undo it, and the
    fit would start a new run in RUN."""
    if not argv or argv[0] != "fit" or (found := resume_arg(argv)) is None:
        return argv
    run, i, n = found
    config = Path(run).expanduser() / "config.yaml"
    rest, resume = argv[1:i] + argv[i + n:], argv[i:i + n]
    return [argv[0], "--config", str(config), *rest, *resume] if config.is_file() else argv


def resume_arg(argv: list[str]) -> tuple[str, int, int] | None:
    """The first ``--resume RUN`` (or ``--resume=RUN``) of a command line: RUN, where it starts and how many arguments
    it takes; None without one."""
    return flag_arg(argv, "--resume")


def flag_arg(argv: list[str], flag: str) -> tuple[str, int, int] | None:
    """The first ``FLAG VALUE`` (or ``FLAG=VALUE``) of a command line: VALUE, where it starts and how many arguments
    it takes; None without one."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1], i, 2
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1], i, 1
    return None


def check_resume_name(argv: list[str]) -> None:
    """``fit --resume RUN`` continues RUN in its own folder, under its own name, from its own last.ckpt: a --run_name
    or --ckpt_path beside it was ignored without a word (and recorded in the run's command.txt), so one that names
    another run or checkpoint is refused."""
    if not argv or argv[0] != "fit" or (found := resume_arg(argv)) is None:
        return
    run, named = found[0], flag_arg(argv, "--run_name")
    if named is not None and named[0] != Path(run).resolve().name:  # resolved: `--resume .` from inside the run
        raise ValueError(f"--resume {run} continues that run in its own folder, and --run_name {named[0]} would name "
                         f"a new one: give --resume to continue it, or --run_name (without --resume) to start anew")
    # its checkpoint is the run's last.ckpt (resume_checkpoint): another --ckpt_path was dropped without a word
    given = flag_arg(argv, "--ckpt_path")
    if given is None or not given[0]:
        return
    last = checkpoint_folder(Path(run)) / "last.ckpt"  # read where compared: most resumes give no --ckpt_path
    if Path(given[0]).resolve() != last.resolve():
        own = "checkpoints/last.ckpt" if last.parent == Path(run) / "checkpoints" else str(last)
        config = Path(run) / "config.yaml"
        raise ValueError(f"--resume {run} goes on from its own {own}, and --ckpt_path {given[0]} names another: "
                         f"give --resume to continue the run, or --ckpt_path with --config {config} and a new "
                         "--run_name (without --resume) to start a new run from it")


def absolute_paths(cfg: Any) -> None:
    """Make a recorded config's relative paths absolute, in place, as the working folder reads them now: the data's
    (init_args ``root``, ``*_root``, ``*_dir``) and the checkpoints' folder (``checkpoint.dirpath``); a URL stays. The
    run's config.yaml (and an evaluation's config_test.yaml) records the paths the fit read: a resume or evaluation
    from another folder read others ("curve file not found: mydata/curves.npz"; a last.ckpt looked for, and saved, in
    another ckpts/). The command itself keeps them as given, as its error lines name them (cli.without_run_folder
    makes the copy recorded)."""
    data = cfg.get("data")
    init_args = getattr(data, "init_args", None)
    places = [(init_args, key) for key in (list(vars(init_args)) if init_args is not None else [])
              if key == "root" or key.endswith(("_root", "_dir"))]
    if cfg.get("checkpoint") is not None:
        places.append((cfg.checkpoint, "dirpath"))
    for section, key in places:
        value = section.get(key)
        if isinstance(value, str) and value.strip() and "://" not in value \
                and not os.path.isabs(os.path.expanduser(value)):  # a URL (s3://bucket/x) is no local path
            section[key] = os.path.abspath(value)


def checkpoint_run(ckpt: Path) -> Path:
    """The run folder of a checkpoint: the folder that holds its checkpoints/ (one elsewhere: its own folder)."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def shown_path(path: Path) -> str:
    """A path as a line names it: relative to the working folder where it lies below it, else as it is."""
    return os.path.relpath(path) if path.absolute().is_relative_to(Path.cwd()) else str(path)


def run_group(run: Path) -> str:
    """The W&B group of a run folder's fits and evaluations (and the name of its fits): <domain>/<run_name>, of the
    folder itself where a symlink leads to it (a fit resumed through ~/latest was grouped as "home/latest"). A path
    whose folder is a domain's keeps its own: a run folder moved to another disk and linked back
    (runs/polynomial/r -> /disk/big/r) was grouped as "big/r", apart from the run's other fits."""
    from .domain import Domain

    def in_domain_folder(path: Path) -> bool:
        return path.parent.name in Domain.registry or path.parent.name == _config_domain([str(path / "config.yaml")])

    given, real = Path(os.path.abspath(run)), run.resolve()  # abspath: `--resume .` from inside the run, its name
    # the folder a link leads to (~/latest, or runs/polynomial/latest -> runs/polynomial/2026...), unless a domain
    # folder's run leads out of it: moved to another disk (or a backup folder of another name) and linked back
    path = given if in_domain_folder(given) and real.parent.name != given.parent.name else real
    return f"{path.parent.name}/{path.name}"


def check_run_name(name: str) -> str:
    """A run name is one folder name: a path in it put the run outside <run_root>/<domain>/ ('../x') or below another
    folder there ('a/b', where `make sample` reads the domain from the wrong part of the path). An empty name is
    none given (the start time names the run)."""
    if name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"--run_name {name!r} must be one folder name, not '.', '..' or a path: runs go to "
                         f"<run_root>/<domain>/<run_name> (give --run_root to put them elsewhere)")
    # a name past the file systems' limit failed on the system's "File name too long" once Lightning was set up; a
    # line break made a folder whose name broke the [run] lines and the evaluation command they print
    if len(name.encode()) > NAME_MAX:
        raise ValueError(f"--run_name {name!r} is {len(name.encode())} bytes long, more than a folder name may be "
                         f"({NAME_MAX}): give a shorter one")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"--run_name {name!r} holds a line break or another control character: give a name without")
    return name


NAME_MAX = 255  # bytes of one folder name on Linux's and macOS's file systems


def check_run_root(root: str | Path, domain: str | None = None) -> Path:
    """--run_root must be, or be made in, a folder this user can write: a file on its path, or a read-only one,
    failed with the operating system's errno line after Lightning had set up the trainer. With the ``domain`` known,
    the folder checked is the nearest of <run_root>/<domain>, where the fit writes (a read-only run_root may hold
    writable domain folders). ``~`` is the home folder (a config file's run_root; the command line's:
    :func:`expand_home`)."""
    given, root = root, Path(root).expanduser()
    existing = nearest_existing(root / domain if domain else root)
    if not existing.is_dir():
        raise NotADirectoryError(f"--run_root {given}: {existing} is a file, not a folder (runs go to "
                                 f"<run_root>/<domain>/<run_name>): give another --run_root")
    if (why := cannot_write(existing)) is not None:
        raise PermissionError(f"--run_root {given}: {existing} cannot be written ({why}): runs go to "
                              f"<run_root>/<domain>/<run_name>; give another --run_root")
    return root


def cannot_write(folder: Path) -> str | None:
    """Why this user cannot write into an existing ``folder`` ("a read-only file system", "no write permission"),
    without writing there; None when it can."""
    if os.access(folder, os.W_OK | os.X_OK):
        return None
    return "a read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else "no write permission"


# the options that name a run folder, checkpoint or config file: a "~" the shell leaves in them (--run_root=~/runs, a
# quoted word) put a run below a folder named "~", was not found, or (a config file) escaped the checks made before
# the parser reads it (check_command_line)
HOME_OPTIONS = ("--run_root", "--resume", "--ckpt_path", "--config", "-c")


def expand_home(argv: list[str]) -> list[str]:
    """The command line with a leading ``~`` of each :data:`HOME_OPTIONS` value as the home folder, as the shell
    expands it in a word of its own but not after ``=``. Config files' values are jsonargparse's (``--config``) or
    :func:`check_run_root`'s."""
    out = list(argv)
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in HOME_OPTIONS and eq:
            out[i] = f"{name}={os.path.expanduser(value)}"
        elif name in HOME_OPTIONS and i + 1 < len(argv):
            out[i + 1] = os.path.expanduser(argv[i + 1])
    return out


def readable_run_configs(argv: list[str]) -> None:
    """Make the run config.yaml files a command line gives (a resume's own, or one given to an evaluation) readable
    by the parser: their W&B logger ``id`` becomes null, in place. Configs are now written without it (the id lives
    in wandb_id.txt); in one written with it, an id like 2048e123 was written as a number (2.048e+126, .inf) or
    reads back as one, which the parser refuses, so the run could be neither resumed nor evaluated with it."""
    for config in map(Path, given_configs(argv)):
        if config.name == "config.yaml" and written_into_a_run(config):
            drop_logged_id(config)


def written_into_a_run(config: Path) -> bool:
    """Whether a config file is one the CLI wrote into a run folder (:func:`is_run_folder`, by its files besides the
    config: checkpoints/ or wandb_id.txt): the run's config.yaml, or an evaluation's config_<stage>.yaml in a folder
    of the run (eval/, eval-<name>/)."""
    if config.name == "config.yaml":
        return is_run_folder(config.parent, besides="config.yaml")
    return re.fullmatch(r"config_[a-z]+\.yaml", config.name) is not None and is_run_folder(config.parent.parent)


def drop_logged_id(config: Path) -> None:
    """Set every ``id:`` inside the ``logger:`` entry of a config file to null, whatever its value; a file without
    one is left as it is."""
    try:
        lines = config.read_text().splitlines(keepends=True)
    except OSError:
        return  # the CLI's parser reports it
    out, block = [], None  # block: the indent of the `logger:` key while inside its entry
    for line in lines:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if block is not None and body.strip() and (indent < block or indent == block and not body.startswith("- ")):
            block = None
        if block is None and body.startswith("logger:"):
            block = indent
        elif block is not None and re.match(r"(- )?id:\s", body) and body.split(":", 1)[1].strip() != "null":
            line = line[: indent] + body[: body.index("id:")] + "id: null\n"
        out.append(line)
    if out != lines:
        from .files import write_text

        try:
            write_text(config, "".join(out))
        except OSError:  # a run folder this user cannot write: the parser reads the file as it is
            pass


def given_configs(argv: list[str]) -> list[str]:
    """The config files a command line gives (``--config F``, ``--config=F``, ``-c F``, ``-c=F``), in order."""
    return [config for i in range(len(argv)) if (config := _config_at(argv, i)) is not None]


def _config_at(argv: list[str], i: int) -> str | None:
    """The config file that ``argv[i]`` gives (``--config F``, ``--config=F``, ``-c F``, ``-c=F``), else None."""
    if argv[i] in ("--config", "-c") and i + 1 < len(argv):
        return argv[i + 1]
    return argv[i].split("=", 1)[1] if argv[i].startswith(("--config=", "-c=")) else None


def _names_a_data_class(path: Path) -> bool:
    """Whether a config file names the data class (``data: {class_path: ...}``), as a domain's config does."""
    readable, named = _config_entry(path, "data", "class_path")
    return not readable or named is not None  # unreadable: the CLI's parser reports it


# the option groups of every subcommand whose value in a config file is a mapping of their options (a string there is
# the path of a file of them): null or a number would wipe the group (trainer: every earlier config's callbacks and
# limits) or reach the class as is, where it ended in a traceback
OPTION_GROUPS = ("trainer", "model", "model.net", "model.objective", "model.optim", "checkpoint")


def check_config_files(argv: list[str]) -> None:
    """Each config file a command line gives must be YAML that holds a mapping of options, and each option group in
    it a mapping (or the path of a file of them). The parser said "Problems parsing config: while parsing a flow
    sequence" (no file, no line), "Unexpected config: " for an empty file, and took ``net:`` with its options
    commented out as null, which ended in a traceback. A path that names no file is named (check_config_path).
    Give a resume's command line with its run's config.yaml (:func:`with_run_config`): an empty one is named as the
    run's."""
    import yaml

    found = resume_arg(argv) if argv and argv[0] == "fit" else None
    own = [str(Path(found[0]) / "config.yaml")] if found else []  # a resume's (with_run_config)
    for config in given_configs(argv):
        check_config_path(config)
        try:
            top, twice = _read_config(config)
            if twice is not None:  # the cached error is shared: raise a copy, which carries this traceback alone
                raise copy.copy(twice)
        except UnicodeDecodeError as err:
            checkpoint = Path(config).suffix in (".ckpt", ".pt", ".pth") or _first_bytes(config, 2) == b"PK"
            if not checkpoint and (where := _undecodable_byte(config, err.encoding)):
                encoding = "UTF-8" if codecs.lookup(err.encoding).name == "utf-8" else err.encoding
                raise ValueError(f"--config {config} is not {encoding} text ({where}): save it as "
                                 f"{encoding}") from None
            hint = ": a checkpoint is given as --ckpt_path" if checkpoint else ""
            raise ValueError(f"--config {config} is not a text file (a config is YAML){hint}") from None
        except OSError:
            continue  # a YAML string given as --config, a URL, a file this user cannot read: the parser's to report
        except yaml.YAMLError as err:
            raise ValueError(f"{config}: not valid YAML: {_yaml_problem(err)}") from None
        if top is None:
            instead = (f"give options in it (model:, data:, trainer:, ...) or leave out --config {config}"
                       if config not in own else "a resume reads its run's settings from it: give them back in it "
                       f"(the run's {COMMAND_FILE} names the configs its fits were given)")
            raise ValueError(f"{config} holds no options (it is empty, or only comments): {instead}")
        if not isinstance(top, dict):
            raise ValueError(f"{config} holds a {_yaml_kind(top)}, not options: a config file is a mapping "
                             "(model:, data:, trainer:, ...)")
        for group in OPTION_GROUPS:
            section: Any = top
            for key in group.split("."):
                section = section.get(key, ...) if isinstance(section, dict) else ...
            if section is None:
                raise ValueError(f"{config}: {group} is empty (null): give its options indented below it, or leave "
                                 f"{group.rsplit('.', 1)[-1]}: out")
            if section is not ... and not isinstance(section, (dict, str)):
                raise ValueError(f"{config}: {group} must hold its options ({group.rsplit('.', 1)[-1]}: then its "
                                 f"options indented below it), got {_yaml_kind(section)} {section!r}")


def check_config_path(config: str) -> None:
    """A --config that names no file, in one line with what to give (jsonargparse's: ``Parser key "config": File does
    not exist: '/abs/missing.yaml'``, or "Path is not a file" for a folder). YAML text of options given as --config
    (``--config '{trainer: {max_steps: 5}}'``) and URLs (``s3://...``) are the parser's to read."""
    import yaml

    path = Path(config)
    try:
        if not config or "://" in config or path.is_file():
            return
        folder = path.is_dir()
    except OSError:  # longer than a file name may be ("File name too long"): YAML text, the parser's to read
        return
    if folder:
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        found = ["config.yaml"] if "config.yaml" in found else found  # a run folder's own
        given = ", ".join(str(path / name) for name in found[:3]) + (", ..." if len(found) > 3 else "")
        instead = f"one of its YAML files: --config {given}" if found else "the path of a YAML file"
        raise IsADirectoryError(f"--config {config} is a folder, not a config file: give {instead}")
    try:
        if isinstance(yaml.safe_load(config), dict):
            return
    except yaml.YAMLError:
        pass
    where = "" if path.is_absolute() else f" in {Path.cwd()} (the folder the command runs in)"
    # a shipped config given from outside the repository, or without its domain's folder (configs/gp_rbf.yaml)
    shipped = CONFIGS.parent / path
    same_name = ([shipped] if not path.is_absolute() and shipped.is_file()
                 else [p for p in sorted(CONFIGS.rglob("*.yaml")) if p.name == path.name])
    meant = " or ".join(map(shown_path, same_name))
    raise FileNotFoundError(f"--config {config}: no such file{where}: give the path of a YAML config file"
                            + (f"; did you mean {meant}?" if meant else ""))


def parse_error_key(line: str) -> str | None:
    """The dotted key a parser error line is about: an option not accepted (``Group 'model' does not accept option
    'net.widht'``, ``Option 'modle.x' is not accepted``, ``model.sets: Option 'max_contxt' is not accepted``) or a value
    of the wrong type (``Parser key "trainer.max_steps": ...``, ``data.init_args.dataset: Expected ...``)."""
    for pattern in (r"Option '([^']+)' is not accepted", r"Subcommand '\w+' does not accept option '([^']+)'",
                    r"Group '([^']+)' does not accept option '([^']+)'",
                    r"([\w.]+): Option '([^']+)' is not accepted", r'Parser key "([^"]+)":', r"([\w.]+): Expected"):
        if m := re.match(pattern, line):
            return ".".join(m.groups())
    return None


def size_config_options(argv: list[str]) -> dict[str, str]:
    """The model options (dotted, "model.net.width") that the size configs of a command line set
    (configs/model/<size>.yaml, given with --config), each with the last of them that sets it."""
    sizes = (CONFIGS / "model").resolve()
    found: dict[str, str] = {}
    for config in given_configs(argv):
        if Path(config).expanduser().resolve().parent == sizes and isinstance(top := _config_top(config), dict):
            model = top.get("model")
            found |= {f"model.{key}": config for key in (_leaves(model) if isinstance(model, dict) else {})}
    return found


def moved_note(line: str) -> str:
    """"; model.encoder is now model.net.encoder" for a parser error line about an option an earlier version named
    so (a run's config.yaml or a config file written before it moved, or the command line), else ""."""
    key = parse_error_key(line)
    if given := re.match(r"unrecognized arguments: --([\w.]+)", line):
        key = given.group(1)
    lookup = key
    if of_class := re.search(r"Option '(\w+)' is not accepted \((\w+)\)$", line):  # a callback's init_args
        key = f"{of_class.group(2)}.{of_class.group(1)}"
        # the domains' evaluations (ImageEvaluation, ...) are SweepEvaluations, with its options
        lookup = f"SweepEvaluation.{of_class.group(1)}" if of_class.group(2).endswith("Evaluation") else key
    now = moved_option(lookup)
    return f"; {key} is now {now}" if now else ""


def parse_error_fields(line: str) -> tuple[str | None, str | None]:
    """The dotted key a parser error line is about (:func:`parse_error_key`) and the value it names (``... Got value:
    lots``; None where it names none)."""
    got = re.search(r"\. Got value: (.*?)(?: \(\w+\))?$", line)
    return parse_error_key(line), got and got.group(1)


def config_setting(argv: list[str], key: str, got: str | None = None) -> str | None:
    """The config file a parser error about the dotted key is about: the parser reads the configs and options of a
    command line in order and stops at the first that fails, so the first that sets the key (to ``got``, the value
    the error names, where it names one; ``init_args`` may be left out in a file, as the parser allows). None where
    that is an option of the command line, or no file sets the key."""
    def matches(value: Any) -> bool:
        return got is None or str(value) == got

    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name == f"--{key}" and matches(value if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")):
            return None
        if (config := _config_at(argv, i)) is None:
            continue
        if (section := _config_value(config, key, in_lists=True)) is not ... and matches(section):
            return config
    return None


def _config_value(config: str | Path, key: str, in_lists: bool = False) -> Any:
    """The value a YAML config file gives the dotted key (``init_args`` may be left out in the file or in the key, as
    the parser allows; ``in_lists``: in a list of classes, ``trainer.callbacks.max_items``, the first item that gives
    it); ``...`` where it gives none or cannot be read."""
    return _value_in(_config_top(config), key.split("."), in_lists)


def _value_in(section: Any, parts: list[str], in_lists: bool) -> Any:
    for n, part in enumerate(parts):
        if in_lists and isinstance(section, list):  # the parser names an option of a list's item by the list
            found = [value for item in section if (value := _value_in(item, parts[n:], in_lists)) is not ...]
            return found[0] if found else ...
        if isinstance(section, dict) and part not in section and part == "init_args":
            continue
        if isinstance(section, dict) and part not in section and isinstance(section.get("init_args"), dict):
            section = section["init_args"]
        section = section.get(part, ...) if isinstance(section, dict) else ...
    return section


# the options of a command line that are no settings a config file could give again
NOT_SETTINGS = ("--config", "--resume", "--print_config", "--help")


def overridden_options(argv: list[str]) -> list[str]:
    """One note for each option of a command line (``--a.b.c=V`` or ``--a.b.c V``; its last if given twice) that a
    config file given after it sets to another value: options and configs take effect in the order given, so the
    file's value was used without a word (``--trainer.max_steps 1 --config configs/polynomial/gp_tnp_rbf.yaml``
    trained the overlay's 10 000 steps). A mapping given to a group is named by the keys of it a later file changes
    (a file changes only the keys it sets), and an option inside a list (``--trainer.callbacks.num_samples``) by a
    file that gives the list anew. A resume's own config.yaml goes first (:func:`with_run_config`), before every
    option: it overrides none."""
    configs = [(k, config) for k in range(len(argv)) if (config := _config_at(argv, k)) is not None]
    if not configs:
        return []
    last: dict[str, tuple[int, str, str | None]] = {}
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if not name.startswith("--") or name in NOT_SETTINGS or len(name) < 3:
            continue
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None
        key = name[2:].removesuffix("+")  # --trainer.callbacks+=X appends to the list a later file replaces
        last[key] = (i, name if value is None else f"{name}={value}", value)
    notes = []
    for key, (i, shown, value) in last.items():
        appends = shown.startswith(f"--{key}+")  # a later file's list drops the whole item, whatever its keys
        given = _yaml_or_text(value) if not appends else value
        # a mapping given to a group sets its keys alone, and a later file changes only the keys it sets: each is
        # compared on its own (--model.net '{heads: 2}' before a file that sets net's width keeps its 2 heads)
        leaves = _leaves(given) if isinstance(given, dict) else {"": value}
        by: dict[str, list[str]] = {}  # a config file after the option: the keys it sets to another value
        for leaf, set_here in leaves.items():
            full = f"{key}.{leaf}" if leaf else key
            setter = None  # the last config after the option that sets the key: its value is the one used
            for k, config in configs:
                if k <= i:
                    continue
                if (set_to := _config_value(config, full)) is not ...:
                    setter = config, set_to, None
                elif (replaced := _list_on_the_way(config, full)) is not None:
                    setter = config, ..., replaced  # a list the option edited, which the file gives anew
            if setter is None or (key, setter[1]) == ("ckpt_path", None):
                continue  # a run's config.yaml (ckpt_path: null) after --ckpt_path: refused in words of its own
            same = setter[2] is None and (_same_setting(set_here, setter[1]) if not leaf else set_here == setter[1])
            if not same:
                by.setdefault(setter[0], []).append(leaf or (setter[2] or ""))
        for config, keys in by.items():
            order = "(options take effect in the order given): give it after the last --config"
            if appends:
                notes.append(f"{shown} is overridden by {config} after it, whose {key} replaces the list it appends "
                             f"to {order}")
            elif isinstance(given, dict):
                notes.append(f"{shown}: its {' and '.join(keys)} {'is' if len(keys) == 1 else 'are'} overridden by "
                             f"{config} after it {order}")
            elif keys[0]:
                notes.append(f"{shown} is overridden by {config} after it, whose {keys[0]} replaces the list it "
                             f"edits {order}")
            else:
                notes.append(f"{shown} is overridden by {config} after it {order}")
    return notes


def _yaml_or_text(text: str | None) -> Any:
    """An option's text as YAML reads it (the text itself where YAML cannot read it; None: given without a value)."""
    import yaml

    try:
        return yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return text


def _leaves(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """The dotted keys of a nested mapping's values that are not mappings (lists are values), with their values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _list_on_the_way(config: str | Path, key: str) -> str | None:
    """The dotted key above ``key`` that a config file gives a list (``trainer.callbacks`` for
    ``trainer.callbacks.num_samples``, which edits the last callback of the list given before): the file's list
    replaces that one, edits and all. None where it gives none."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        if isinstance(_config_value(config, ".".join(parts[:n])), list):
            return ".".join(parts[:n])
    return None


def _same_setting(given: str | None, value: Any) -> bool:
    """Whether an option's text (None: given without a value) sets what a config file's YAML value does."""
    return given is not None and (given == str(value) or _yaml_or_text(given) == value)


def _read_config(path: str | Path) -> tuple[Any, Exception | None]:
    """A YAML config file's value (the safe loader's: the last of a key given twice), and the error of its first key
    given twice in one mapping (None if none). Raises OSError where it cannot be read, UnicodeDecodeError for a
    binary file (found in its first chunk, before a multi-GB checkpoint is read whole), yaml.YAMLError for bad YAML.
    Each text is parsed once: the checks before Lightning is imported and the CLI's read the same files."""
    with open(path) as f:  # as Path.read_text: the locale's encoding, universal newlines
        text = f.read(4096)  # decodes the file's first chunk: a binary file stops here
        text += f.read()
    return _parse_config(text)


@functools.lru_cache(maxsize=32)
def _parse_config(text: str) -> tuple[Any, Exception | None]:
    """:func:`_read_config` of a file's text. Keyed on the text, not the file's mtime, which Linux keeps to a clock
    tick: a file rewritten within one, at the same size, would read as before. The value is shared: read, never
    change it."""
    import yaml

    loader = _unique_key_loader()(text)
    try:
        return loader.get_single_data(), loader.twice
    except yaml.YAMLError:
        if loader.twice is not None:  # the parse stopped at the first key given twice: its error comes first
            raise loader.twice from None
        raise
    finally:
        loader.dispose()


def _first_bytes(path: str | Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _undecodable_byte(path: str | Path, encoding: str) -> str | None:
    """Where the first byte of a text file in another encoding (Latin-1, Windows-1252: an accent in a comment) is
    that ``encoding`` cannot read: "byte 0xe9 at line 3, column 21", in its first 64 KiB. None for a binary file
    (control characters other than whitespace in its first 4 KiB), or where the byte lies further on."""
    head = _first_bytes(path, 1 << 16)
    if re.search(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]", head[:4096]):
        return None
    try:
        head.decode(encoding)
        return None
    except UnicodeDecodeError as err:
        if len(head) == 1 << 16 and err.end >= len(head):  # the read cut a character at its end: no position
            return None
        line, line_start = head.count(b"\n", 0, err.start) + 1, head.rfind(b"\n", 0, err.start) + 1
        column = len(head[line_start:err.start].decode(encoding)) + 1  # in characters, as an editor counts
        return f"byte 0x{head[err.start]:02x} at line {line}, column {column}"


@functools.cache
def _unique_key_loader():
    """PyYAML's safe loader, noting a key given twice in one mapping (two ``model:`` blocks in a file) as ``twice``,
    which the parser refuses with "Problems parsing config: while constructing a mapping"."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        twice: Exception | None = None  # the first key given twice, as an error

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                first: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        if key in first and self.twice is None:
                            self.twice = yaml.constructor.ConstructorError(
                                None, None, f"the key {key!r} is given twice (first at line {first[key] + 1})",
                                key_node.start_mark)
                        first.setdefault(key, key_node.start_mark.line)
                    except TypeError:
                        continue  # an unhashable key: the safe loader's own error
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_problem(err) -> str:
    """A YAML error as one line: the problem and its line and column (1-based), with the construct it was in."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    inside = f" ({context} at line {start.line + 1}, column {start.column + 1})" if context and start else ""
    return f"{problem}{where}{inside}"


def _yaml_kind(value: Any) -> str:
    """What a YAML value is, in words."""
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "value")


def check_config_order(argv: list[str]) -> None:
    """The order of the configs, named in one line where the parser would only say that an option "is not
    accepted": a dataset overlay (configs/<domain>/<name>.yaml) given before any config that names the data class
    (its domain's configs/<domain>.yaml), or after another domain's data class; and two domains' configs
    (configs/polynomial.yaml, then configs/images.yaml), whose mix of data, model and other options would not fit."""
    if any(a == "--resume" or a.startswith("--resume=") for a in argv):
        return  # a resume's first config is the run's own config.yaml (with_run_config)
    configs = [Path(c) for c in given_configs(argv)]
    for i, config in enumerate(configs):
        base = config.parent.with_suffix(".yaml") if config.parent.name else None
        if base is None or not base.is_file():
            continue
        if not any(_names_a_data_class(c) for c in configs[:i]):
            raise ValueError(f"{config} is an overlay of {base}: give --config {base} before it")
        # another built-in domain's overlay (configs/sdf/shapenet.yaml after configs/images.yaml): the parser named
        # only the first option the other data class does not take
        other = next(c for c in reversed(configs[:i]) if _names_a_data_class(c))
        domains = [_data_domain(c) for c in (other, base)]
        if None not in domains and domains[0] != domains[1]:
            raise ValueError(f"{config} is an overlay of {base} (the {domains[1]} domain), but the data before it is "
                             f"{other}'s (the {domains[0]} domain): give --config {base} before it, in place of "
                             f"{other}")
    # two domains' configs (configs/polynomial.yaml, then configs/images.yaml): the later one's data and model with
    # the earlier one's other options, which stopped on one of them by a name that did not say why, or trained a mix
    first = None
    for config in configs:
        if (domain := _data_domain(config)) is None:
            continue
        if first is not None and domain != first[1]:
            raise ValueError(f"{config} is for the {domain} domain, but {first[0]} before it is for the {first[1]} "
                             f"domain: the options of the two would mix; give the configs of one domain")
        first = first or (config, domain)


def _data_domain(path: Path) -> str | None:
    """The built-in domain of the data class a config file names (``domains.<domain>.``...), else None."""
    named = _config_entry(path, "data", "class_path")[1]
    return named.split(".")[1] if isinstance(named, str) and named.startswith("domains.") and named.count(".") > 1 \
        else None


def check_resume_configs(argv: list[str]) -> None:
    """``fit --resume RUN`` continues with RUN/config.yaml (with_run_config), and the configs given apply over it:
    another domain's config (configs/images.yaml over a polynomial run) would fail on the first model option the
    other domain sets, by a name that does not say why: name the file and the two domains."""
    if not argv or argv[0] != "fit" or (found := resume_arg(argv)) is None:
        return
    run = found[0]
    readable, named = _config_entry(Path(run) / "config.yaml", "model", "domain")
    own = named.get("class_path") if isinstance(named, dict) else named
    if not readable or not isinstance(own, str) or not own:
        return  # no run config (yet): the checkpoint's domain is checked once the model is made
    for config in given_configs(argv):
        readable, named = _config_entry(config, "model", "domain")
        other = named.get("class_path") if isinstance(named, dict) else named
        if readable and isinstance(other, str) and other and domain_of(other) != domain_of(own):
            raise ValueError(f"--config {config} is for the {domain_of(other)} domain, but --resume {run} continues "
                             f"a {domain_of(own)} run with its own config.yaml: leave it out and give only what "
                             f"changes (as --trainer.max_steps=N)")


# what the CLI sets for each run from its folder (a value given for it was ignored without a word): why, and what to
# give instead on the command line and in a config file
RUN_FOLDER = ("each run goes to its own folder, <run_root>/<domain>/<run_name>, where the CLI points Lightning",
              "give --run_root DIR (and --run_name) instead", "set run_root (and run_name) instead")
WANDB_GROUP = ("a run folder's fits and evaluations form one W&B group, <domain>/<run_name>, which the CLI names",
               "gather runs with W&B tags instead: --trainer.logger.init_args.tags=[...]",
               "gather runs with W&B tags instead (trainer.logger.init_args.tags)")
SET_BY_THE_CLI = {"trainer.default_root_dir": RUN_FOLDER, "trainer.logger.init_args.group": WANDB_GROUP}


def check_set_by_the_cli(argv: list[str]) -> None:
    """``--trainer.default_root_dir`` or the W&B logger's ``group``, on the command line or in a config file it gives:
    the CLI sets both for each run from its folder, which it names itself, so the value would be ignored without a
    word. A config the CLI wrote into a run folder records them and is read as it is (configs are now written
    without them)."""
    for arg in argv:
        given = arg.split("=", 1)[0].removeprefix("--")
        # --trainer.logger.group: jsonargparse's short form of the init argument
        name = "trainer.logger.init_args.group" if given == "trainer.logger.group" else given
        if name in SET_BY_THE_CLI:
            why, instead, _ = SET_BY_THE_CLI[name]
            raise ValueError(f"--{given}: {why}: {instead}")
    for config in map(Path, given_configs(argv)):
        keys = [] if written_into_a_run(config) else _keys_set_by_the_cli(config)
        if keys:
            reasons = dict.fromkeys(SET_BY_THE_CLI[key] for key in keys)  # each reason once, in order
            raise ValueError(f"{config} sets {' and '.join(keys)}: "
                             + "; ".join(f"{why}: {in_a_file}" for why, _, in_a_file in reasons))


def _keys_set_by_the_cli(path: Path) -> list[str]:
    """The keys of SET_BY_THE_CLI a YAML config file gives a value (the group of a logger entry that names the W&B
    logger or no class); none for a file the parser cannot read, which it reports."""
    _, root_dir = _config_entry(path, "trainer", "default_root_dir")
    _, loggers = _config_entry(path, "trainer", "logger")
    keys = ["trainer.default_root_dir"] if root_dir is not None else []
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        if not isinstance(logger, dict) or not str(logger.get("class_path") or "WandbLogger").endswith("WandbLogger"):
            continue
        init_args = logger.get("init_args") if isinstance(logger.get("init_args"), dict) else logger
        if init_args.get("group") is not None:
            return [*keys, "trainer.logger.init_args.group"]
    return keys


def joins_a_run() -> bool:
    """True in a process that joins a run another process starts, which finds the run folder already there: any but
    the first process of a launch (:func:`other_launched_process`): a DDP rank Lightning started, the command on
    another node, torchrun's or srun's other processes."""
    return other_launched_process() is not None


def launched_run_name() -> str | None:
    """The run name every process of a torchrun or srun launch agrees on when the command gives none (each process
    would take its own start time): ``slurm-<job>[-<step>]``, or ``torchrun-<rendezvous id>``. None outside such a
    launch; a launch that offers neither is refused in one line."""
    # a shell in an interactive allocation runs one process (Lightning does not take it for a SLURM launch either)
    interactive = os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")
    if (_rank_variable("SLURM_NTASKS") > 1 and "SLURM_PROCID" in os.environ and os.environ.get("SLURM_JOB_ID")
            and not interactive):
        step = os.environ.get("SLURM_STEP_ID", "")
        return f"slurm-{os.environ['SLURM_JOB_ID']}" + (f"-{step}" if step.isdigit() else "")
    if _rank_variable("WORLD_SIZE") > 1 and "RANK" in os.environ:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id and run_id != "none":
            return f"torchrun-{run_id}"
        raise ValueError(f"this fit is one of {os.environ['WORLD_SIZE']} processes a launcher started, and each would "
                         "name its run folder by its own start time: give --run_name")
    return None


def drawn_seed() -> int:
    """The seed ``seed_everything: true`` stands for: a random one (Lightning's seed_everything() without a seed takes
    0, so every such run had the same initial weights), the same in every process of a launch. A rank Lightning's DDP
    started takes its launcher's (PL_GLOBAL_SEED, which seed_everything set there); torchrun's and srun's processes
    derive it from the launch's id, which they share, and the processes of a launch without one (torchrun without a
    rendezvous id, nodes started by hand) from its MASTER_ADDR and MASTER_PORT; any other process draws it."""
    try:
        launch = launched_run_name()
    except ValueError:  # a torchrun launch without a rendezvous id
        launch = None
    inherited = os.environ.get("PL_GLOBAL_SEED", "")
    if launch is None and joins_a_run() and inherited.isdigit():
        return int(inherited)  # before the address: Lightning gives its ranks MASTER_ADDR and MASTER_PORT too
    if launch is None and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT") \
            and (_rank_variable("WORLD_SIZE") > 1 or "NODE_RANK" in os.environ):
        launch = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    if launch is not None:
        return int.from_bytes(hashlib.sha256(launch.encode()).digest()[:4], "big")
    return secrets.randbelow(2**32)  # numpy's seed range, as seed_everything checks it


def check_launch_size(world_size: int) -> None:
    """A torchrun launch of more processes than the trainer's world (trainer.devices x trainer.num_nodes, 1 on a CPU
    by default): each process would train on its own into the same run folder, and all but the first stopped at
    W&B with a traceback. Refused in one line that gives the trainer settings for the launch. (A DDP trainer's
    devices Lightning checks against the launch itself; a single-device trainer's it does not.)"""
    launched = _rank_variable("WORLD_SIZE")
    torchrun = all(name in os.environ for name in ("RANK", "GROUP_RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"))
    if not torchrun or launched <= 1 or world_size == launched:  # (the variables Lightning takes for torchrun's)
        return
    per_node = _rank_variable("LOCAL_WORLD_SIZE") or launched
    raise ValueError(f"torchrun started {launched} processes, but the trainer runs {world_size} (trainer.devices x "
                     f"trainer.num_nodes): give --trainer.devices={per_node} --trainer.num_nodes="
                     f"{max(launched // per_node, 1)} --trainer.strategy=ddp, or {config_shown('trainer/gpu.yaml')} "
                     "on GPUs")


def check_node_launch(num_nodes: int, environment: str) -> None:
    """trainer.num_nodes above 1 in a command started on one machine by hand: Lightning's own environment (no
    torchrun, srun or other launcher) started this node's processes, which waited for the other nodes' forever
    after "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2". Refused in one line, unless MASTER_ADDR or
    NODE_RANK says that the same command is started on each node by hand, as Lightning's cluster guide does it."""
    if num_nodes <= 1 or environment != "LightningEnvironment" or any(
            name in os.environ for name in ("MASTER_ADDR", "NODE_RANK")):
        return
    raise ValueError(f"trainer.num_nodes={num_nodes}, but no launcher started this command on {num_nodes} nodes "
                     "(torchrun, srun, or NODE_RANK and MASTER_ADDR on each node), so it would wait for the others "
                     f"forever: start it on every node (torchrun --nnodes {num_nodes} ...), or leave out "
                     "--trainer.num_nodes on one machine")


def _rank_variable(name: str) -> int:
    try:
        return int(os.environ.get(name) or 0)
    except ValueError:
        return 0


def other_launched_process() -> str | None:
    """Under a multi-process launcher, the variables that make this process another than the launcher's first, for
    the line it prints: torchrun's RANK, LOCAL_RANK and GROUP_RANK (of WORLD_SIZE), Lightning's NODE_RANK, SLURM's
    SLURM_PROCID (of SLURM_NTASKS > 1; an sbatch script alone is task 0). None in the first process, and in a
    command started as one process."""
    named = [f"{name}={os.environ[name]}" for name in ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK")
             if _rank_variable(name) > 0]
    if _rank_variable("SLURM_NTASKS") > 1 and _rank_variable("SLURM_PROCID") > 0:
        named.append(f"SLURM_PROCID={os.environ['SLURM_PROCID']} of SLURM_NTASKS={os.environ['SLURM_NTASKS']}")
    return ", ".join(named) or None


# what torchrun and srun tell the processes they start: Lightning would join a predict to that world (and refuses
# SLURM's --ntasks without --ntasks-per-node)
LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                      "TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_PROCID", "SLURM_LOCALID")


def predict_in_the_first_process(argv: list[str]) -> None:
    """`predict` started by torchrun or srun runs in every process the launcher starts, with the same command line: a
    prediction is one input, which the first process completes alone, on one device (predict.one_device), as a
    process of its own (the launcher's variables are removed from its environment). Any other process says so in
    one line and exits with status 0 (`python -m pixeltransformer`: before Lightning is imported), since a process
    that failed would make the launcher stop the first one too."""
    if not argv or argv[0] != "predict":
        return
    if (why := other_launched_process()) is not None:
        print(f"[run] predict runs in the launcher's first process only; this one ({why}) exits", flush=True)
        raise SystemExit(0)
    for name in LAUNCHER_VARIABLES:
        os.environ.pop(name, None)


FIT_LOCK = ".fit.lock"  # in a run folder: locked (flock) by the fit that trains there, and says its "host pid"


def check_new_run(run: Path) -> Path:
    """A new run never writes into a folder that holds another run (its W&B id, config or checkpoints)."""
    if run.is_dir() and any(p.name != FIT_LOCK for p in run.iterdir()):
        if not (run / "checkpoints" / "last.ckpt").is_file():  # --resume would refuse it: do not send the user there
            raise FileExistsError(f"run folder {run} already exists, without checkpoints/last.ckpt (its fit stopped "
                                  f"before the first save, or is still running), so it cannot be resumed: choose "
                                  f"another --run_name (or, if no fit runs in it, delete {run} to reuse the name)")
        word = shlex.quote(str(run))  # a shell word: a path with a space was split
        raise FileExistsError(f"run folder {run} already exists: continue it with --resume {word} "
                              f"{next_command(f'(make train RESUME={word}) ')}or choose another --run_name")
    return run


def hold_run_folder(run: Path, new: bool) -> int | None:
    """Lock a fit's run folder for as long as this process runs (the kernel drops the lock with it, however it ends),
    before anything is written there: the descriptor that holds the lock. Two fits started in one folder at once (the
    same --run_name, or --resume of one run twice) each passed :func:`check_new_run` and wrote into it together: two
    last.ckpt (last-v1.ckpt), two W&B runs, one wandb_id.txt and both command lines, each exiting 0. The second is
    refused in one line; a new run checks again, with the lock held, that the folder holds no other run. None where
    the file system has no locks."""
    run.mkdir(parents=True, exist_ok=True)
    lock = run / FIT_LOCK
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = " ".join(os.pread(fd, 200, 0).decode(errors="replace").split()[:2])
            os.close(fd)
            host, _, pid = holder.partition(" ")
            who = f"process {pid} on {host}" if pid else "another process"
            then = "or choose another --run_name" if new else "then resume it"
            raise FileExistsError(f"run folder {run} is in use by another fit ({who}): wait for it to end, "
                                  f"{then}") from None
        except OSError:  # no locks on this file system: the check alone
            os.close(fd)
            if new:
                check_new_run(run)
            return None
        if not _is_lock_file(fd, lock):  # its holder's failed start removed the folder meanwhile: lock the new one
            os.close(fd)
            run.mkdir(parents=True, exist_ok=True)
            continue
        try:
            if new:
                check_new_run(run)  # a fit that held the lock before this one may have ended meanwhile
            text = f"{socket.gethostname()} {os.getpid()}\n".encode()
            os.pwrite(fd, text, 0)
            os.ftruncate(fd, len(text))
        except BaseException:  # refused: its lock file goes too (held, so no other fit has it), as when a fit ends
            release_run_folder(run, fd)
            raise
        return fd


def release_run_folder(run: Path, fd: int | None) -> None:
    """Unlock a run folder :func:`hold_run_folder` locked, when the fit ends: its lock file goes (unless the folder
    went, or another file took its place) while still locked, so that a fit that opened it meanwhile locks a new one."""
    if fd is None:
        return
    try:
        if _is_lock_file(fd, run / FIT_LOCK):
            os.unlink(run / FIT_LOCK)
    except OSError:  # removed with a new run's folder that stopped before its first step
        pass
    finally:
        os.close(fd)


def _is_lock_file(fd: int, lock: Path) -> bool:
    """Whether the open descriptor fd is the file at ``lock`` now (False where it was removed or replaced since)."""
    try:
        return os.fstat(fd).st_ino == os.stat(lock).st_ino
    except FileNotFoundError:
        return False


def check_resume_length(run: str | Path, step: int | None, max_steps: int | None, new_run: bool = False) -> None:
    """A resume whose trainer.max_steps is below the step its checkpoint holds stopped at once, trained nothing and
    said only that max_steps was reached, while the run's config.yaml took the smaller value: refused before anything
    is written. At its max_steps (a finished run resumed as it was) it still ends at once, on Lightning's line that
    max_steps was reached and the CLI's that nothing was trained (cli.nothing_trained), and its config.yaml keeps the
    same value. -1 (or None) means no limit; other negative
    values are check_fit_length's. ``new_run``: a new fit from the checkpoint ``run`` (fit --ckpt_path), which counts
    on from its step too: at it or below, it left a new run folder without a checkpoint."""
    if step is None or max_steps is None or not 0 <= max_steps <= (step if new_run else step - 1):
        return
    what, remedy = ((f"--ckpt_path {run}: the checkpoint is at step {step}, and a fit from it counts on from there, "
                     f"so trainer.max_steps={max_steps} trains nothing", "give a larger one") if new_run else
                    (f"--resume {run}: the run is at step {step}, past trainer.max_steps={max_steps}",
                     "give a larger one to train on"))
    raise ValueError(f"{what}; {remedy} (e.g. --trainer.max_steps={max(2 * step, step + 1)})")


def check_fit_length(max_steps: int | None, max_epochs: int | None,
                     limit_train_batches: int | float | None = None, max_time: Any = None,
                     min_steps: int | None = None, min_epochs: int | None = None) -> None:
    """A fit that would stop before its first step (0 steps or epochs, 0 training batches an epoch, or a max_time of
    no time) would leave a run folder without a checkpoint, and a resume would write such a setting into its
    config.yaml: refused before the folder is named. -1 (or None) means no limit, as in Lightning. A min_steps above
    max_steps (min_epochs above max_epochs), which Lightning drops without a word, is refused too."""
    for name, value, least in (("steps", max_steps, min_steps), ("epochs", max_epochs, min_epochs)):
        if value is not None and value != -1 and value < 1:
            raise ValueError(f"trainer.max_{name} must be >= 1 for fit, or -1 for no limit (got {value})")
        if value is not None and value >= 1 and isinstance(least, int) and least > value:
            raise ValueError(f"trainer.min_{name}={least} is above trainer.max_{name}={value}, which stops the fit "
                             f"first: give --trainer.max_{name}={least} or more, or leave out min_{name}")
    if limit_train_batches is not None and limit_train_batches == 0:
        raise ValueError(f"trainer.limit_train_batches must be above 0 for fit (got {limit_train_batches}): a fit "
                         "of no training batch saves no checkpoint; to validate a checkpoint alone: pixeltransformer "
                         "validate --ckpt_path CKPT")
    duration = _duration(max_time)
    if duration is not None and duration <= timedelta(0):
        raise ValueError(f"trainer.max_time must be above 0 for fit (got {max_time}): a fit of no time stops before "
                         f"its first step and saves no checkpoint; null: no time limit")


def _duration(max_time: Any) -> timedelta | None:
    """trainer.max_time as Lightning's Timer reads it: a timedelta from DD:HH:MM:SS, from a mapping of timedelta's
    keywords (days, hours, minutes, seconds, ...) or a timedelta itself; None for null. Anything else (``1:00:00``, a
    misspelled key such as ``hourz``) is refused in one line, before the run folder is named."""
    if max_time is None or isinstance(max_time, timedelta):
        return max_time
    try:
        if isinstance(max_time, dict):
            return timedelta(**max_time)
        if isinstance(max_time, str) and (m := re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", max_time.strip())):
            return timedelta(days=int(m[1]), hours=int(m[2]), minutes=int(m[3]), seconds=int(m[4]))
    except (TypeError, ValueError, OverflowError) as err:
        cause = f" ({err})"
    else:
        cause = ""
    raise ValueError(f"trainer.max_time: {max_time} is no duration{cause}; give DD:HH:MM:SS (00:01:00:00: an hour) "
                     f"or a mapping of days/hours/minutes/seconds (null: no time limit)")


def check_step_settings(accumulate_grad_batches: Any, val_check_interval: Any, gradient_clip_val: Any,
                        limit_val_batches: Any = None, check_val_every_n_epoch: Any = 1) -> None:
    """Trainer settings of a fit's steps that Lightning takes without a word and then misuses: accumulate_grad_batches
    below 1 (0 stopped the first step with ZeroDivisionError; -2 divided each loss by -2 and stepped every 2 batches,
    which climbs the loss), val_check_interval=0 (ZeroDivisionError after the first step, which left a run folder
    without a checkpoint, unless limit_val_batches=0 turns validation off), check_val_every_n_epoch below 1 (0: a
    ZeroDivisionError in the sanity check) and a negative gradient_clip_val (no clipping at all, as 0 means).
    Refused in one line before the run folder is named, as is a val_check_interval that is a fraction of an epoch
    while check_val_every_n_epoch is null (the configs' default), which Lightning refused once the folder was named.
    check_val_every_n_epoch defaults to Lightning's Trainer's 1."""
    if isinstance(accumulate_grad_batches, int) and accumulate_grad_batches < 1:
        raise ValueError(f"trainer.accumulate_grad_batches must be >= 1 batches an optimizer step (1: no "
                         f"accumulation), got {accumulate_grad_batches}")
    if type(val_check_interval) is int and val_check_interval == 0 and limit_val_batches != 0:
        raise ValueError("trainer.val_check_interval must be >= 1 (training batches between validations), got 0; "
                         "--trainer.limit_val_batches=0 turns validation off")
    if isinstance(val_check_interval, float) and check_val_every_n_epoch is None:
        raise ValueError(f"trainer.val_check_interval={val_check_interval} is a fraction of an epoch, but "
                         f"trainer.check_val_every_n_epoch is null ({config_shown('trainer/default.yaml')}: "
                         "validations every "
                         "val_check_interval training batches, across epochs): give "
                         "--trainer.check_val_every_n_epoch=1 with it, or a whole number of batches")
    if isinstance(check_val_every_n_epoch, int) and check_val_every_n_epoch < 1 and limit_val_batches != 0:
        raise ValueError(f"trainer.check_val_every_n_epoch must be >= 1 (epochs between validations; null: every "
                         f"val_check_interval batches), got {check_val_every_n_epoch}; --trainer.limit_val_batches=0 "
                         f"turns validation off")
    if isinstance(gradient_clip_val, (int, float)) and gradient_clip_val < 0:
        raise ValueError(f"trainer.gradient_clip_val must be >= 0, got {gradient_clip_val}: a negative value clips "
                         "nothing, as 0 or null (no clipping) does")


def run_config_setting(argv: list[str], group: str, key: str) -> Path | None:
    """The config file a run folder holds (:func:`written_into_a_run`: a resume's own config.yaml, or an evaluation's)
    that sets ``group.key`` last on a command line, when no option or other config file after it sets it; None
    otherwise (the value is the command line's, or a config file's the user gives)."""
    source = None
    option = f"--{group}.{key}"
    for i, arg in enumerate(argv):
        if arg == option or arg.startswith(option + "="):
            source = None
        elif (config := _config_at(argv, i)) is not None and _config_entry(config, group, key)[1] is not None:
            source = Path(config) if written_into_a_run(Path(config)) else None
    return source


def config_unsetting(argv: list[str], key: str) -> str | None:
    """The config file given after the command line's last ``--<key>`` that sets the top-level ``key`` to null (a
    run's config.yaml records ``ckpt_path: null``): it sets back what the option gave. None when there is none."""
    given, source = False, None
    for i, arg in enumerate(argv):
        if arg == f"--{key}" or arg.startswith(f"--{key}="):
            given, source = True, None
        elif given and (config := _config_at(argv, i)) is not None and \
                (_config_top(config) or {}).get(key, "absent") is None:
            source = config
    return source


def _config_top(path: str | Path) -> dict | None:
    """The top level of a YAML config file ({} for an empty one; None where unreadable or not a mapping: the CLI
    parser reports that)."""
    import yaml

    try:
        top = _read_config(path)[0] or {}
    except (OSError, yaml.YAMLError):
        return None
    return top if isinstance(top, dict) else None


def _config_entry(path: str | Path, group: str, key: str) -> tuple[bool, Any]:
    """(readable, config[group][key]) of a YAML config file (None where absent); unreadable files are the CLI
    parser's to report."""
    top = _config_top(path)
    section = top.get(group) if top is not None else None
    if top is None or section is not None and not isinstance(section, dict):
        return False, None
    return True, (section or {}).get(key)


def dataset_overlays(domain: str, dataset: str) -> list[str]:
    """The names of the dataset overlays configs/<domain>/<name>.yaml whose data is ``dataset`` (their
    data.init_args.dataset: configs/video/beach.yaml's is "npz"), sorted."""
    return [path.stem for path in sorted((CONFIGS / domain).glob("*.yaml")) if config_dataset(path) == dataset]


def config_dataset(path: Path) -> Any:
    """The data.init_args.dataset a config file sets (None where it sets none or cannot be read)."""
    _, init = _config_entry(path, "data", "init_args")
    return init.get("dataset") if isinstance(init, dict) else None


def _config_domain(paths: list[str]) -> str | None:
    """The domain of the ``model.domain`` class named by the last of these YAML files that names one (None if unknown)."""
    domain = None
    for path in paths:
        try:
            given_file = Path(path).is_file()
        except OSError:  # YAML text longer than a file name
            given_file = False
        if not given_file:
            continue  # options given as YAML text (the parser reads them), or no file (check_config_path says so)
        readable, named = _config_entry(path, "model", "domain")
        if not readable:
            return None  # the CLI's parser reports unreadable config files
        named = named.get("class_path") if isinstance(named, dict) else named
        if isinstance(named, str) and named:
            domain = domain_of(named)
    return domain


SUBCOMMANDS = ("fit", "validate", "test", "predict")
# what make calls them, and a word for the evaluation: the command that does it
MEANT = {"train": "fit", "evaluate": "test", "eval": "test", "sample": "predict"}


# the options of the main parser, which come before the command; every other option comes after it
MAIN_FLAGS = ("-h", "--help", "--print_config", "--version")  # those of them that take no value
MAIN_OPTIONS = (*MAIN_FLAGS, "-c", "--config")


def print_version() -> None:
    """``--version``: print :func:`pixeltransformer.version_line` and exit 0."""
    from . import version_line

    print(version_line(), flush=True)
    raise SystemExit(0)


def show_version(argv: list[str]) -> None:
    """``--version`` (a main option: before the command, if any): :func:`print_version`, before Lightning is imported
    (it said "unrecognized arguments")."""
    command = next((i for i, arg in enumerate(argv) if arg in SUBCOMMANDS), len(argv))
    if "--version" in argv[:command]:
        print_version()


class VersionAction(argparse._VersionAction):  # argparse's class, which the parsers leave out of usage and configs
    """The main parser's ``--version`` (which ``--help`` lists), :func:`print_version`, for the CLI's ``main`` called
    without the command's check before Lightning (:func:`show_version`)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print_version()


def check_subcommand(argv: list[str]) -> None:
    """A first word that is no command (``pixeltransformer fitt``): argparse's "invalid choice: 'fitt' (choose from
    ...)" came once Lightning had loaded, pointing at ``pixeltransformer fitt --help``. An option of the command's
    before it (``pixeltransformer --trainer.max_steps 3 fit``) got the same words, of its value ("invalid choice:
    '3'")."""
    import difflib

    word = argv[0] if argv else ""
    # the first command word that is not an option's value (``--run_name test fit``: the command is fit)
    valued = {i + 1 for i, arg in enumerate(argv) if arg.startswith("-") and "=" not in arg
              and arg not in MAIN_FLAGS}
    if word.startswith("-") and (command := next((w for i, w in enumerate(argv)
                                                  if w in SUBCOMMANDS and i not in valued), None)):
        names = (arg.split("=", 1)[0] for arg in argv[:argv.index(command)] if arg.startswith("-"))
        if (early := next((name for name in names if name not in MAIN_OPTIONS), None)) is not None:
            raise ValueError(f"{early} is given before the command {command}: options go after it "
                             f"(pixeltransformer {command} {early} ...)")
    if not word or word.startswith("-") or word in SUBCOMMANDS:
        return
    meant = MEANT.get(word) or next(iter(difflib.get_close_matches(word, SUBCOMMANDS, n=1)), None)
    commands = f"{', '.join(SUBCOMMANDS[:-1])} and {SUBCOMMANDS[-1]}"
    raise ValueError(f"unknown command {word!r}: the commands are {commands} (pixeltransformer <command> --help)"
                     + (f"; did you mean {meant}?" if meant else ""))


ONE_CLASS = "the model is one class, whose options take no"  # not chosen by class_path, as the data is


def check_model_options(argv: list[str]) -> None:
    """The model's options given as a class's, under init_args (as the data's are): ``--model.init_args.net.width``
    said "unrecognized arguments", a config file's ``model: init_args:`` "Group 'model' does not accept option
    'init_args.net.width'"."""
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name == "--model.class_path":
            raise ValueError(f"{name}: the model is one class, chosen by no class_path: leave {name} out and give "
                             "its options as --model.<name>")
        if name == "--model.init_args" or name.startswith("--model.init_args."):
            own = name.removeprefix("--model.init_args").lstrip(".")
            instead = f"--model.{own}" if own else "the model's options as --model.<name>"
            raise ValueError(f"{name}: {ONE_CLASS} init_args (the data's do): give {instead}")
    for config in given_configs(argv):
        model = (_config_top(config) or {}).get("model")
        keys = [key for key in ("class_path", "init_args") if isinstance(model, dict) and key in model]
        if keys:
            init_args = model.get("init_args")
            leaf = next(iter(_leaves(init_args).items()), None) if isinstance(init_args, dict) else None
            example = f"model: {': '.join(leaf[0].split('.'))}: {leaf[1]}" if leaf else "model: net: width: 64"
            raise ValueError(f"{config}: model.{keys[-1]}: {ONE_CLASS} class_path or init_args (the data's do): "
                             f"give them under model: itself ({example})")


def check_config_given(argv: list[str]) -> None:
    """A command without a config that names the data (``pixeltransformer predict --ckpt_path last.ckpt``, or only
    ``--config configs/model/tiny.yaml``) said the parser's "the following arguments are required: predict.data": name
    the config that gives the data and the model's domain, the checkpoint's run's config.yaml where the checkpoint
    lies in a run folder. A resume reads its run's own (:func:`with_run_config`), and names its own mistakes."""
    shown = {"-h", "--help", "--print_config"}  # what the parser shows without a config
    configs = given_configs(argv)
    if not argv or argv[0] not in SUBCOMMANDS or resume_arg(argv) is not None \
            or any(_names_a_data_class(Path(config)) for config in configs) \
            or any(arg.split("=", 1)[0] in shown or arg.startswith("--data") for arg in argv):
        return
    found = flag_arg(argv, "--ckpt_path")
    ckpt = Path(found[0]) if found else None
    run_config = checkpoint_run(ckpt) / "config.yaml" if ckpt and ckpt.parent.name == "checkpoints" else None
    if run_config is not None and run_config.is_file():
        give = f"--config {run_config}, the checkpoint's run's"
    else:
        domains = [p.stem for p in sorted(CONFIGS.glob("*.yaml"))]
        shipped = shown_path(CONFIGS)
        give = (f"--config {shipped}/<domain>.yaml (<domain>: {', '.join(domains[:-1])} or {domains[-1]})"
                if domains else "--config <the path of a domain's config>")  # a package built without its configs
    before = f" before --config {configs[0]}" if configs else ""  # a model size or trainer config alone
    raise ValueError(f"{argv[0]} needs a config that names the data and the model's domain: give {give}{before}")


def check_command_line(argv: list[str]) -> None:
    """The checks of a command line's config files and run options that the CLI makes before parsing it, and
    :func:`preflight` before Lightning is imported (each file is parsed once for both: :func:`_read_config`)."""
    check_subcommand(argv)
    # a resume's own config.yaml too, unless the run has no last.ckpt to go on from, which resume_checkpoint names
    resumed = resume_arg(argv) if argv and argv[0] == "fit" else None
    goes_on = resumed is not None and (checkpoint_folder(Path(resumed[0])) / "last.ckpt").is_file()
    check_config_files(with_run_config(argv) if goes_on else argv)
    check_model_options(argv)
    check_config_order(argv)
    check_resume_configs(argv)
    check_resume_name(argv)
    check_set_by_the_cli(argv)
    check_config_given(argv)  # after the checks that name what the configs given lack more precisely


def preflight(argv: list[str]) -> None:
    """The checks that need no Lightning, on the command line alone: --ckpt_path and --resume must be readable,
    safe checkpoints, and a new fit's --run_name must be free. Values set in config files are checked later."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("subcommand", nargs="?")
    for flag in ("--ckpt_path", "--resume", "--run_name", "--run_root"):
        parser.add_argument(flag)
    parser.add_argument("-c", "--config", action="append", default=[])
    argv = expand_home(argv)
    args, _ = parser.parse_known_args(argv)
    check_subcommand(argv)
    if args.subcommand not in SUBCOMMANDS or joins_a_run():
        return
    check_command_line(argv)
    new_run = not (args.resume or args.ckpt_path)  # a new run's folder (an evaluation or resume uses its run's)
    named_fit = args.subcommand == "fit" and not args.resume and args.run_name
    # read once, where a check needs it (it imports the domain's module)
    domain = _config_domain(args.config) if (new_run and args.run_root) or named_fit else None
    if new_run:
        if args.run_name:
            check_run_name(args.run_name)
        if args.run_root:  # the nearest folder of <run_root>/<domain> it will write into
            check_run_root(args.run_root, domain)
    if args.resume:
        resume_checkpoint(args.resume)
    elif args.ckpt_path:
        load_checkpoint(args.ckpt_path, mmap=True)
    if named_fit:
        if domain is not None:
            check_new_run(Path(args.run_root or "runs") / domain / args.run_name)
