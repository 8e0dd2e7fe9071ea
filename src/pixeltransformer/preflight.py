"""The checks of a command line that need no Lightning: made by ``python -m pixeltransformer`` before it imports
Lightning (:func:`preflight`), and by the CLI before its parser reads the command line (:func:`check_command_line`).
The command word, the config files given (YAML that holds options, in an order that fits, of one domain), the model's
options, the options the CLI sets itself, and the checkpoints and run folder the command names: a mistake is named in
one line in seconds, where the parser's or Lightning's words came later and said less. No Lightning import.
"""

from __future__ import annotations

import argparse
import codecs
import copy
import os
import re
from pathlib import Path
from typing import Any

from .config_files import config_entry, config_top, config_leaves, config_texts, read_config, given_configs, settings
from .errors import listed
from .launch import check_node_launch, joins_a_run, own_environment
from .layout import CONFIGS
from .loading import load_checkpoint
from .runs import (COMMAND_FILE, config_domain, config_domain_class, check_new_run, check_resume_name, check_run_name,
                   check_run_root, checkpoint_folder, checkpoint_run, domain_of, expand_home, flag_arg, resume_arg,
                   resume_checkpoint, shown_path, with_run_config, written_into_a_run)
from .setting_sources import given_setting


def _names_a_data_class(path: Path) -> bool:
    """Whether a config file names the data class (``data: {class_path: ...}``), as a domain's config does."""
    readable, named = config_entry(path, "data", "class_path")
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
    Give a resume's command line with its run's config.yaml (:func:`~pixeltransformer.runs.with_run_config`): an
    empty one is named as the run's."""
    import yaml

    found = resume_arg(argv) if argv and argv[0] == "fit" else None
    own = [str(Path(found[0]) / "config.yaml")] if found else []  # a resume's (with_run_config)
    for config in given_configs(argv):
        check_config_path(config)
        try:
            top, twice = read_config(config)
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
        for key, value in config_texts(top):  # OmegaConf's ${oc.env:NAME}, without a default, in a list's too
            for name in re.findall(r"\$\{oc\.env:\s*([^,}\s]+)\s*\}", value):
                if name not in os.environ:  # the parser said only "Environment variable 'NAME' not found"
                    raise ValueError(f"{config}: {key} reads the environment variable {name} (${{oc.env:{name}}}), "
                                     f"which is not set: set it, or give a default: ${{oc.env:{name},<value>}}")
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


def _yaml_problem(err) -> str:
    """A YAML error as one line: the problem and its line and column (1-based), with the construct it was in, and
    for a tab where a token should start (an indent of tabs: an editor's, or a copied YAML's) the remedy."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    inside = f" ({context} at line {start.line + 1}, column {start.column + 1})" if context and start else ""
    tabs = ": YAML indents with spaces, not tabs: replace the tabs with spaces" if "'\\t'" in problem else ""
    return f"{problem}{where}{inside}{tabs}"


def _yaml_kind(value: Any) -> str:
    """What a YAML value is, in words."""
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "value")


def check_config_order(argv: list[str]) -> None:
    """The order of the configs, named in one line where the parser would only say that an option "is not
    accepted": a dataset overlay (configs/<domain>/<name>.yaml) given before any config that names the data class
    (its domain's configs/<domain>.yaml), or after another domain's data class; and two domains' configs
    (configs/polynomial.yaml, then configs/images.yaml), whose mix of data, model and other options would not fit."""
    if any(name == "--resume" for name, _, _ in settings(argv)):
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
    named = config_entry(path, "data", "class_path")[1]
    return named.split(".")[1] if isinstance(named, str) and named.startswith("domains.") and named.count(".") > 1 \
        else None


def check_resume_configs(argv: list[str]) -> None:
    """``fit --resume RUN`` continues with RUN/config.yaml (with_run_config), and the configs given apply over it:
    another domain's config (configs/images.yaml over a polynomial run) would fail on the first model option the
    other domain sets, by a name that does not say why: name the file and the two domains."""
    if not argv or argv[0] != "fit" or (found := resume_arg(argv)) is None:
        return
    run = found[0]
    _, own = config_domain_class(Path(run) / "config.yaml")
    if own is None:
        return  # no run config (yet): the checkpoint's domain is checked once the model is made
    for config in given_configs(argv):
        _, other = config_domain_class(config)
        if other is not None and domain_of(other) != domain_of(own):
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
    for option, _, _ in settings(argv):
        given = option.removeprefix("--")
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
    _, root_dir = config_entry(path, "trainer", "default_root_dir")
    _, loggers = config_entry(path, "trainer", "logger")
    keys = ["trainer.default_root_dir"] if root_dir is not None else []
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        if not isinstance(logger, dict) or not str(logger.get("class_path") or "WandbLogger").endswith("WandbLogger"):
            continue
        init_args = logger.get("init_args") if isinstance(logger.get("init_args"), dict) else logger
        if init_args.get("group") is not None:
            return [*keys, "trainer.logger.init_args.group"]
    return keys


SUBCOMMANDS = ("fit", "validate", "test", "predict")
# what make calls them, and a word for the evaluation: the command that does it
MEANT = {"train": "fit", "evaluate": "test", "eval": "test", "sample": "predict"}


# the options of the main parser, which come before the command; every other option comes after it
MAIN_FLAGS = ("-h", "--help", "--print_config", "--version")  # those of them that take no value
MAIN_OPTIONS = (*MAIN_FLAGS, "-c", "--config")


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
        names = (name for name, _, _ in settings(argv[:argv.index(command)]))
        if (early := next((name for name in names if name not in MAIN_OPTIONS), None)) is not None:
            raise ValueError(f"{early} is given before the command {command}: options go after it "
                             f"(pixeltransformer {command} {early} ...)")
    if not word or word.startswith("-") or word in SUBCOMMANDS:
        return
    meant = MEANT.get(word) or next(iter(difflib.get_close_matches(word, SUBCOMMANDS, n=1)), None)
    commands = listed(SUBCOMMANDS)
    raise ValueError(f"unknown command {word!r}: the commands are {commands} (pixeltransformer <command> --help)"
                     + (f"; did you mean {meant}?" if meant else ""))


ONE_CLASS = "the model is one class, whose options take no"  # not chosen by class_path, as the data is


def check_model_options(argv: list[str]) -> None:
    """The model's options given as a class's, under init_args (as the data's are): ``--model.init_args.net.width``
    said "unrecognized arguments", a config file's ``model: init_args:`` "Group 'model' does not accept option
    'init_args.net.width'"."""
    for name, _, _ in settings(argv):
        if name == "--model.class_path":
            raise ValueError(f"{name}: the model is one class, chosen by no class_path: leave {name} out and give "
                             "its options as --model.<name>")
        if name == "--model.init_args" or name.startswith("--model.init_args."):
            own = name.removeprefix("--model.init_args").lstrip(".")
            instead = f"--model.{own}" if own else "the model's options as --model.<name>"
            raise ValueError(f"{name}: {ONE_CLASS} init_args (the data's do): give {instead}")
    for config in given_configs(argv):
        model = (config_top(config) or {}).get("model")
        keys = [key for key in ("class_path", "init_args") if isinstance(model, dict) and key in model]
        if keys:
            init_args = model.get("init_args")
            leaf = next(iter(config_leaves(init_args).items()), None) if isinstance(init_args, dict) else None
            example = f"model: {': '.join(leaf[0].split('.'))}: {leaf[1]}" if leaf else "model: net: width: 64"
            raise ValueError(f"{config}: model.{keys[-1]}: {ONE_CLASS} class_path or init_args (the data's do): "
                             f"give them under model: itself ({example})")


def check_config_given(argv: list[str]) -> None:
    """A command without a config that names the data (``pixeltransformer predict --ckpt_path last.ckpt``, or only
    ``--config configs/model/tiny.yaml``) said the parser's "the following arguments are required: predict.data": name
    the config that gives the data and the model's domain, the checkpoint's run's config.yaml where the checkpoint
    lies in a run folder. A resume reads its run's own (:func:`~pixeltransformer.runs.with_run_config`), and names
    its own mistakes."""
    shown = {"-h", "--help", "--print_config"}  # what the parser shows without a config
    configs = given_configs(argv)
    if not argv or argv[0] not in SUBCOMMANDS or resume_arg(argv) is not None \
            or any(_names_a_data_class(Path(config)) for config in configs) \
            or any(name in shown or name.startswith("--data") for name, _, _ in settings(argv)):
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


def check_nodes_started(argv: list[str]) -> None:
    """trainer.num_nodes above 1, on the command line or in a config file, in a command that no launcher's or
    cluster's variable says was started on every node (:func:`~pixeltransformer.launch.check_node_launch`): refused
    before Lightning is imported, where it was refused once the trainer was made, 20 to over 60 s later on a busy
    machine, with no line meanwhile. Under a launcher's variables only the trainer's environment tells, and the CLI
    checks it there; so it does for a cluster environment of the user's (:func:`_trainer_decides`). A prediction
    runs on one node (predict.one_device); --help and --print_config start nothing."""
    if not argv or argv[0] not in ("fit", "validate", "test") or (environment := own_environment()) is None \
            or any(name in ("-h", "--help", "--print_config") for name, _, _ in settings(argv)):
        return
    argv = with_run_config(argv)
    if _trainer_decides(argv):
        return
    nodes = given_setting(argv, "trainer.num_nodes")
    if isinstance(nodes, int) and not isinstance(nodes, bool):
        check_node_launch(nodes, environment)


def _trainer_decides(argv: list[str]) -> bool:
    """Whether only the trainer can tell its nodes' start: a whole trainer given at once (``--trainer FILE``,
    ``--trainer '{num_nodes: 1}'``), whose num_nodes :func:`~pixeltransformer.setting_sources.given_setting` does not
    read, or a cluster environment of the user's (``trainer.plugins``, a strategy's ``cluster_environment``: a
    KubeflowEnvironment), under which Lightning's is not its own."""
    for name, value, _ in settings(argv):
        if name == "--trainer" or name.startswith("--trainer.plugins") \
                or name.startswith("--trainer.strategy") and "cluster_environment" in f"{name} {value}":
            return True
    return any(given_setting(argv, key) not in (..., None, [])
               for key in ("trainer.plugins", "trainer.strategy.init_args.cluster_environment"))


def check_command_line(argv: list[str]) -> None:
    """The checks of a command line's config files and run options that the CLI makes before parsing it, and
    :func:`preflight` before Lightning is imported (each file is parsed once for both:
    :func:`~pixeltransformer.config_files.read_config`)."""
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
    domain = config_domain(args.config) if (new_run and args.run_root) or named_fit else None
    if new_run:
        if args.run_name:
            check_run_name(args.run_name)
        if args.run_root:  # the nearest folder of <run_root>/<domain> it will write into
            check_run_root(args.run_root, domain)
    check_nodes_started(argv)  # before a checkpoint is read: it answers sooner
    if args.resume:
        resume_checkpoint(args.resume)
    elif args.ckpt_path:
        load_checkpoint(args.ckpt_path, mmap=True)
    if named_fit:
        if domain is not None:
            check_new_run(Path(args.run_root or "runs") / domain / args.run_name)
