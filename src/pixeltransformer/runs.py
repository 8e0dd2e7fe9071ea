"""Run folders: which folder a command works in and what may start there: a run's name and root, the domain that
names its folder, its lock while a fit trains there, the checkpoint a resume goes on from, and the config.yaml and
command.txt it keeps. No Lightning import, so that ``python -m pixeltransformer`` can check a command line in seconds,
before Lightning is imported (:func:`~pixeltransformer.preflight.preflight`); the CLI applies the same rules to its
parsed config.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from .config_files import config_entry, given_configs, settings, with_setting
from .errors import class_path, counted, import_failure
from .files import cannot_write, check_writable_below, is_root_option, user_path
from .layout import built_in_domain, config_shown, folder_name_fault, next_command
from .loading import UnreadableCheckpoint, load_checkpoint
from .locks import holder, holder_ended, is_lock_file, record, recorded

COMMAND_FILE = "command.txt"  # in a run folder: each fit's command line, as given (run_config.RunConfig)
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
    if built_in_domain(name) and not named_by.__module__.startswith(f"domains.{name}."):
        raise ValueError(f"{class_path(named_by)}: the domain name {name!r} is a built-in domain's "
                         f"({config_shown(f'{name}.yaml')}): give yours a name of its own")


def resume_checkpoint(run: str | Path) -> Path:
    """The last.ckpt a resumed run continues from, checked to be a readable, safe checkpoint."""
    run = user_path(run)
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
            # others[-1]: kept_checkpoint's pick where there is no last.ckpt
            raise FileNotFoundError(f"--resume {run}: no {named}, only "
                                    f"{', '.join(p.name for p in others)} (a fit with checkpoint.save_last=false keeps "
                                    f"no last.ckpt): start a new run from one: {new_run_from(run, others[-1])} "
                                    "--checkpoint.save_last=true")
        raise FileNotFoundError(f"--resume {run}: no {named} ({_why_unsaved(run)}): {train_again(run)}")
    if (why := cannot_write(run)) is not None:  # it failed on the system's line at its lock file
        raise PermissionError(f"--resume {run}: the run folder cannot be written ({why}), and a resume writes its "
                              f"checkpoints there: resume a copy of the run folder on a disk you can write")
    try:
        load_checkpoint(last, mmap=True)
    except UnreadableCheckpoint as err:  # a copy of the run folder cut short, a damaged disk
        raise UnreadableCheckpoint(f"{err}: {_last_ckpt_lost(run, folder)}") from None
    return last


def new_run_from(run: str | Path, ckpt: str | Path) -> str:
    """The command that starts a new run from a run folder's checkpoint ``ckpt``, with the run's own config (a "~"
    as the home folder: no shell expands it in quotes)."""
    config, ckpt = (shlex.quote(str(user_path(p))) for p in (Path(run) / "config.yaml", ckpt))  # as shell words
    return f"pixeltransformer fit --config {config} --ckpt_path {ckpt} --run_name NEW"


def _last_ckpt_lost(run: Path, folder: Path) -> str:
    """What to do with a run whose last.ckpt cannot be read: bring it back whole, or start a new run from the latest
    other checkpoint its checkpoint ``folder`` keeps (a best-step<N>.ckpt), where it keeps one."""
    again = "copy it again whole (where it was copied from)"
    others = sorted(p for p in folder.glob("*.ckpt") if p.name != "last.ckpt")
    if not others:
        return (f"a resume goes on from last.ckpt alone, and the run kept no other checkpoint: {again}, or "
                f"{train_again(run)}")
    return (f"a resume goes on from last.ckpt alone: {again}, or start a new run from {others[-1].name}: "
            f"{new_run_from(run, others[-1])}")


def _why_unsaved(run: Path, or_running: bool = False) -> str:
    """Why a run folder holds no checkpoint: the option its config.yaml fitted with that keeps none
    (:func:`kept_none_by_config`), else that its fit stopped before the first save (``or_running``: "or is still
    running", where nothing has told whether it runs)."""
    return kept_none_by_config(run) or \
        "its fit stopped before the first save" + (", or is still running" if or_running else "")


def kept_none_by_config(run: Path) -> str | None:
    """"its fit ran with trainer.<key>=<value>, which keeps no checkpoint" where a run folder's config.yaml fitted
    with an option that keeps none (trainer.barebones, trainer.enable_checkpointing=false); None where it did not (its
    fit stopped before the first save, or is still running), or there is no config.yaml."""
    config = run / "config.yaml"
    for key, keeps_none in (("barebones", True), ("enable_checkpointing", False)):
        if config.is_file() and config_entry(config, "trainer", key)[1] is keeps_none:
            return f"its fit ran with trainer.{key}={str(keeps_none).lower()}, which keeps no checkpoint"
    return None


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
    readable, dirpath = config_entry(config, "checkpoint", "dirpath") if config.is_file() else (False, None)
    return user_path(dirpath) if readable and isinstance(dirpath, str) and dirpath else run / "checkpoints"


def no_checkpoint_yet(run: Path) -> tuple[str, str]:
    """Why a run folder holds no checkpoint (:func:`_why_unsaved`: the option its config.yaml kept none with, else
    that its fit stopped before the first save or may still be running in it), and the remedy (:func:`train_again`),
    for a new fit whose --run_name is refused (:func:`check_new_run`) and for an evaluation of its checkpoint
    (:func:`kept_instead`) alike."""
    return _why_unsaved(run, or_running=True), train_again(run)


def train_again(run: Path) -> str:
    """The remedy for a run folder that kept no checkpoint (or none a resume can read), in one wording wherever it is
    told: a new fit's refused --run_name (:func:`check_new_run`), a resume's (:func:`resume_checkpoint`), an
    evaluation's missing checkpoint (:func:`kept_instead`), a fit's full disk (``free some space and ...``) and the
    results' import of a run that has nothing to evaluate (results_import.not_evaluated)."""
    return f"train it again under another --run_name (or, if no fit runs in it, delete {run} to reuse the name)"


def kept_unsaved(run: Path) -> str:
    """What the line under a new run's [run] line says (after its folder) where its fit trained and failed without a
    checkpoint: the folder stays, its config and W&B run with it (as :func:`remove_unstarted` keeps a fit's that
    trained), holds its name, and cannot be resumed."""
    return f"kept without a checkpoint ({_why_unsaved(run)}), so it cannot be resumed: {train_again(run)}"


def kept_checkpoint(folder: Path) -> Path | None:
    """The checkpoint to evaluate in a run's checkpoint folder (:func:`checkpoint_folder`): last.ckpt, else the latest
    by name of those a fit with checkpoint.save_last=false keeps (best-step<N>.ckpt); None where it holds none."""
    return folder / "last.ckpt" if (folder / "last.ckpt").is_file() else max(folder.glob("*.ckpt"), default=None)


def kept_instead(path: Path) -> str:
    """For a missing checkpoint in a run's checkpoints/ folder, what the run kept, in its checkpoint folder
    (:func:`checkpoint_folder`: its checkpoint.dirpath where it set one): " (the run kept <it>: give that)", last.ckpt
    or else its latest best-step<N>.ckpt; that its fit, still running, has saved none yet; or that it kept none and
    the remedy; "" for a file elsewhere."""
    run = path.parent.parent
    if path.parent.name != "checkpoints" or not (run / "config.yaml").is_file():
        return ""
    if (found := kept_checkpoint(checkpoint_folder(run))) is not None:
        return f" (the run kept {shlex.quote(str(found))}: give that)"
    if (who := running_fit(run)) is not None:  # not stopped: it has not reached its first save
        return (f" (the run {run} has saved no checkpoint yet: its fit ({who}) is still running; try again after its "
                "first save)")
    why, remedy = no_checkpoint_yet(run)
    return f" (the run {run} kept no checkpoint: {why}; {remedy})"


def with_run_config(argv: list[str]) -> list[str]:
    """``fit ... --resume RUN``: RUN/config.yaml becomes the first config of the command line, so the run goes on
    with its own settings (data, model, max_steps, schedule); whatever the command line gives applies on top
    (``--trainer.max_steps=2000`` to train longer, ``--config configs/trainer/gpu.yaml`` to move to GPUs). The
    resume itself goes last: a run's config.yaml given after it (``resume: null``) would otherwise undo it, and the
    fit would start a new run in RUN."""
    if not argv or argv[0] != "fit" or (found := resume_arg(argv)) is None:
        return argv
    run, i, n = found
    config = user_path(run) / "config.yaml"
    rest, resume = argv[1:i] + argv[i + n:], argv[i:i + n]
    return [argv[0], "--config", str(config), *rest, *resume] if config.is_file() else argv


def resume_arg(argv: list[str]) -> tuple[str, int, int] | None:
    """The first ``--resume RUN`` (or ``--resume=RUN``) of a command line: RUN, where it starts and how many arguments
    it takes; None without one."""
    return flag_arg(argv, "--resume")


def flag_arg(argv: list[str], flag: str) -> tuple[str, int, int] | None:
    """The first ``FLAG VALUE`` (or ``FLAG=VALUE``) of a command line: VALUE, where it starts and how many arguments
    it takes; None without one."""
    return next(((value, i, 1 if "=" in argv[i] else 2) for name, value, i in settings(argv)
                 if name == flag and value is not None), None)


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
    another ckpts/). The command itself keeps them as given, as its error lines name them (run_config.without_run_folder
    makes the copy recorded)."""
    data = cfg.get("data")
    init_args = getattr(data, "init_args", None)
    places = [(init_args, key) for key in (list(vars(init_args)) if init_args is not None else [])
              if is_root_option(key) or key.endswith("_dir")]
    if cfg.get("checkpoint") is not None:
        places.append((cfg.checkpoint, "dirpath"))
    for section, key in places:
        value = section.get(key)
        if isinstance(value, str) and value.strip() and "://" not in value \
                and not user_path(value).is_absolute():  # a URL (s3://bucket/x) is no local path
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
        return path.parent.name in Domain.registry or path.parent.name == config_domain([str(path / "config.yaml")])

    given, real = Path(os.path.abspath(run)), run.resolve()  # abspath: `--resume .` from inside the run, its name
    # the folder a link leads to (~/latest, or runs/polynomial/latest -> runs/polynomial/2026...), unless a domain
    # folder's run leads out of it: moved to another disk (or a backup folder of another name) and linked back
    path = given if in_domain_folder(given) and real.parent.name != given.parent.name else real
    return f"{path.parent.name}/{path.name}"


def check_run_name(name: str) -> str:
    """A run name is one folder name: a path in it put the run outside <run_root>/<domain>/ ('../x') or below another
    folder there ('a/b', where `make sample` reads the domain from the wrong part of the path). An empty name is
    none given (the start time names the run)."""
    if fault := folder_name_fault(name):
        cause, remedy = fault
        remedy = remedy or "runs go to <run_root>/<domain>/<run_name> (give --run_root to put them elsewhere)"
        raise ValueError(f"--run_name {name!r} {cause}: {remedy}")
    return name


def check_run_root(root: str | Path, domain: str | None = None) -> Path:
    """--run_root must be, or be made in, a folder this user can write: a file on its path, or a read-only one,
    failed with the operating system's errno line after Lightning had set up the trainer. With the ``domain`` known,
    the folder checked is the nearest of <run_root>/<domain>, where the fit writes (a read-only run_root may hold
    writable domain folders). ``~`` is the home folder (a config file's run_root; the command line's:
    :func:`expand_home`)."""
    given, root = root, user_path(root)
    check_writable_below(root / domain if domain else root, f"--run_root {given}",
                         " (runs go to <run_root>/<domain>/<run_name>): give another --run_root",
                         ": runs go to <run_root>/<domain>/<run_name>; give another --run_root")
    return root


# the options that name a run folder, checkpoint or config file: a "~" the shell leaves in them (--run_root=~/runs, a
# quoted word) put a run below a folder named "~", was not found, or (a config file) escaped the checks made before
# the parser reads it (preflight.check_command_line)
HOME_OPTIONS = ("--run_root", "--resume", "--ckpt_path", "--config", "-c")


def expand_home(argv: list[str]) -> list[str]:
    """The command line with a leading ``~`` of each :data:`HOME_OPTIONS` value as the home folder, as the shell
    expands it in a word of its own but not after ``=``. Config files' values are jsonargparse's (``--config``) or
    :func:`check_run_root`'s."""
    out = list(argv)
    for name, value, i in settings(argv):
        if name in HOME_OPTIONS and value is not None:
            out = with_setting(out, i, os.path.expanduser(value))
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


FIT_LOCK = ".fit.lock"  # in a run folder: locked (flock) by the fit that trains there, and says its "host pid"


def check_new_run(run: Path, held: bool = False) -> Path:
    """A new run never writes into a folder that holds another run (its W&B id, config or checkpoints). The folder a
    fit was killed in before it started (:func:`remove_unstarted`) holds none: it is removed, and the name free. One
    whose fit still runs is refused as such (told to resume it, or that its fit may have stopped, a user could not
    tell); ``held``: this process holds its lock (:func:`hold_run_folder`)."""
    if not held and (who := running_fit(run)) is not None:
        raise FileExistsError(in_use(run, who, new=True))
    if run.is_dir() and any(p.name != FIT_LOCK for p in run.iterdir()) and not remove_unstarted(run):
        if not (run / "checkpoints" / "last.ckpt").is_file():  # --resume would refuse it: do not send the user there
            why, remedy = no_checkpoint_yet(run)
            raise FileExistsError(f"run folder {run} already exists, without checkpoints/last.ckpt ({why}), so it "
                                  f"cannot be resumed: {remedy}")
        word = shlex.quote(str(run))  # a shell word: a path with a space was split
        raise FileExistsError(f"run folder {run} already exists: continue it with --resume {word} "
                              f"{next_command(f'(make train RESUME={word}) ')}or choose another --run_name")
    return run


# what a new fit has written into its folder when it starts (Lightning's setup: the other nodes joining, the data
# built), before its config.yaml, its W&B run or any step: its lock and the W&B id it will use
UNSTARTED = (FIT_LOCK, "wandb_id.txt")
# what it has written before its first step (its config.yaml, command line and W&B run too), where its lock says it
# trained nothing (locks.record): a fit killed by SIGKILL or out of memory while it read its data or validated first
BEFORE_FIRST_STEP = (*UNSTARTED, "config.yaml", COMMAND_FILE, "wandb")


def remove_unstarted(run: Path) -> bool:
    """Remove a run folder that holds only what a fit killed before it started left (:data:`UNSTARTED`: SIGTERM or
    SIGKILL while it waited for the other nodes, whose wait no Python handler interrupts, so that the folder cannot
    be removed then as a failed start's is): nothing was trained there and nothing else written; or what a fit killed
    before its first step left (:data:`BEFORE_FIRST_STEP`: its config.yaml, command line and W&B run too, where its
    lock still says "untrained", locks.record). The same --run_name was refused ("already exists, without
    checkpoints/last.ckpt"). Only where no process holds its lock (a fit still
    starting there does) and its fit ran on this machine and ended (locks.holder_ended); True where its files were
    removed, with a line that says so. A folder that stays (a link to one elsewhere; NFS keeps a file deleted while
    open as .nfsXXXX) holds nothing of a run: a fit that starts there meanwhile holds it (:func:`hold_run_folder`)."""
    try:
        names = {p.name for p in run.iterdir()}
        fits = names <= set(BEFORE_FIRST_STEP) and FIT_LOCK in names
        fd = os.open(run / FIT_LOCK, os.O_RDWR) if fits else None
    except OSError:
        return False
    if fd is None:
        return False
    try:
        lock_run_folder(fd)  # held (a fit is starting there), or no locks: kept
        host, pid, state = recorded(run / FIT_LOCK)
        # a lock that names no fit may be one starting on another node, where a file system keeps each node's locks
        # to itself (NFS mounted nolock, BeeGFS, Lustre's localflock), before it said who it is
        if not (pid and holder_ended(host, pid, locked=True)):
            return False
        if not names <= set(UNSTARTED) and state != "untrained":
            return False  # a fit that trained (or one of a version that did not say): its config and W&B run stay
        for name in names:
            if (run / name).is_dir() and not (run / name).is_symlink():
                shutil.rmtree(run / name)
            else:
                (run / name).unlink(missing_ok=True)
    except OSError:
        return False
    finally:
        os.close(fd)  # before the folder goes: NFS keeps a file deleted while open, and the folder with it
    try:
        run.rmdir()
    except OSError:
        pass
    left = [f"{n}/" if n == "wandb" else n for n in BEFORE_FIRST_STEP[len(UNSTARTED):] if n in names]
    left.append("its lock and W&B id" if "wandb_id.txt" in names else "its lock")
    when = "its first step" if left[1:] else "its start"
    print(f"[run] {shown_path(run)}: removed what a fit stopped before {when} left there ({', '.join(left)}: it "
          "trained nothing), to start this run in its place", flush=True)
    return True


def hold_run_folder(run: Path, new: bool) -> int | None:
    """Lock a fit's run folder for as long as this process runs (the kernel drops the lock with it, however it ends),
    before anything is written there: the descriptor that holds the lock. Two fits started in one folder at once (the
    same --run_name, or --resume of one run twice) each passed :func:`check_new_run` and wrote into it together: two
    last.ckpt (last-v1.ckpt), two W&B runs, one wandb_id.txt and both command lines, each exiting 0. The second is
    refused in one line; a new run checks again, with the lock held, that the folder holds no other run. None where
    the file system has no locks, which leaves no lock file."""
    run.mkdir(parents=True, exist_ok=True)
    lock = run / FIT_LOCK
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            lock_run_folder(fd)
        except BlockingIOError:
            os.close(fd)
            raise FileExistsError(in_use(run, holder(lock, "another process"), new)) from None
        except OSError:  # no locks on this file system: the check alone, and no lock file left behind
            # one that names a holder was written where locks work (another machine's fit, on some NFS set-ups)
            try:
                with contextlib.suppress(OSError):  # one it cannot remove stays, as release_run_folder leaves it
                    if recorded(lock) == ("", "", "") and is_lock_file(fd, lock):
                        lock.unlink()
            finally:
                os.close(fd)
            if new:
                check_new_run(run)
            return None
        if not is_lock_file(fd, lock):  # its holder's failed start removed the folder meanwhile: lock the new one
            os.close(fd)
            run.mkdir(parents=True, exist_ok=True)
            continue
        try:
            if new:
                check_new_run(run, held=True)  # a fit that held the lock before this one may have ended meanwhile
            record(fd, untrained=new)
        except BaseException:  # refused: its lock file goes too (held, so no other fit has it), as when a fit ends
            release_run_folder(run, fd)
            raise
        return fd


PROBE_RETRIES = 3  # a run folder's lock held a moment (running_fit) is tried again, PROBE_WAIT seconds apart
PROBE_WAIT = 0.05


def lock_run_folder(fd: int) -> None:
    """Lock a run folder's lock file (fcntl.flock) without waiting for a fit that holds it: BlockingIOError. A new
    fit's check of who holds it (:func:`running_fit`) holds it shared for a moment, and a fit starting then was
    refused as in use: it is tried again a few times before the folder counts as held."""
    for retry in range(PROBE_RETRIES + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if retry == PROBE_RETRIES:
                raise
            time.sleep(PROBE_WAIT)


def running_fit(run: Path) -> str | None:
    """The fit that holds a run folder's lock now (:func:`hold_run_folder`), as its lock file names it ("process 123
    on host"); None where none does, or the file system has no locks."""
    try:
        fd = os.open(run / FIT_LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder(run / FIT_LOCK, "another process")
    except OSError:
        return None
    finally:
        os.close(fd)  # drops the lock taken
    return None


def in_use(run: Path, who: str, new: bool) -> str:
    """The line that refuses a fit in the run folder of a running fit ``who``; ``new``: a new run's, not a resume. A
    new run never gets the name by waiting: the fit that holds it leaves its checkpoints there (:func:`check_new_run`
    refuses the folder then), so it is told to choose another, or to continue that run once it has ended."""
    if not new:
        return f"run folder {run} is in use by another fit ({who}): wait for it to end, then resume it"
    word = shlex.quote(str(run))  # a shell word, as check_new_run's
    return (f"run folder {run} is in use by another fit ({who}): choose another --run_name (or, once it has ended, "
            f"continue it with --resume {word}{next_command(f' (make train RESUME={word})')})")


def release_run_folder(run: Path, fd: int | None) -> None:
    """Unlock a run folder :func:`hold_run_folder` locked, when the fit ends: its lock file goes (unless the folder
    went, or another file took its place) while still locked, so that a fit that opened it meanwhile locks a new one."""
    if fd is None:
        return
    try:
        if is_lock_file(fd, run / FIT_LOCK):
            os.unlink(run / FIT_LOCK)
    except OSError:  # removed with a new run's folder that stopped before its first step
        pass
    finally:
        os.close(fd)


def config_domain(paths: list[str]) -> str | None:
    """The domain of the ``model.domain`` class named by the last of these YAML files that names one (None if
    unknown)."""
    domain = None
    for path in paths:
        try:
            given_file = Path(path).is_file()
        except OSError:  # YAML text longer than a file name
            given_file = False
        if not given_file:
            continue  # YAML text (the parser reads it), or no file (preflight.check_config_path says so)
        readable, named = config_domain_class(path)
        if not readable:
            return None  # the CLI's parser reports unreadable config files
        if named:
            domain = domain_of(named)
    return domain


def config_domain_class(path: str | Path) -> tuple[bool, str | None]:
    """(readable, the class path of a YAML config file's ``model.domain``: its ``class_path``, or the string it is;
    None where it names none)."""
    readable, named = config_entry(path, "model", "domain")
    named = named.get("class_path") if isinstance(named, dict) else named
    return readable, named if isinstance(named, str) and named else None
