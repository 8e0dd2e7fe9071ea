"""Where a setting of a command line comes from, for the CLI's lines once its parser has read (or refused) the
command line: the key and value a parser error names and the config file that sets them, an option that a config file
given after it overrides, the options the model sizes' configs set, a run's config.yaml that sets a key back, and the
new name of an option that an earlier version named otherwise; the options a command line names itself (the
model's, the W&B run's name), and a command line with a parser error's non-finite number in YAML's spelling
(:func:`yaml_spelled`). No Lightning import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .config import moved_option
from .config_files import (config_entry, config_of, config_top, config_value, config_leaves, given_configs, settings,
                           with_setting)
from .errors import yaml_float
from .files import user_path
from .layout import CONFIGS
from .runs import written_into_a_run


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
        if user_path(config).resolve().parent == sizes and isinstance(top := config_top(config), dict):
            model = top.get("model")
            found |= {f"model.{key}": config for key in (config_leaves(model) if isinstance(model, dict) else {})}
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
    that is an option of the command line (``--key+=`` too), or no file sets the key; without ``got``, None too
    where more than one source sets it (a valid list in the domain's config, a bad one after it: the first that sets
    it need not be the one that failed)."""
    def matches(value: Any) -> bool:
        return got is None or str(value) == got

    found: list[str | None] = []  # without got: each source that sets the key (None: the command line)
    for name, value, _ in settings(argv):
        if name.removesuffix("+") == f"--{key}" and matches(value or ""):
            found.append(None)
        elif (config := config_of(name, value)) is not None and \
                (section := config_value(config, key, in_lists=True)) is not ... and matches(section):
            found.append(config)
        if found and got is not None:
            return found[0]
    return found[0] if len(set(found)) == 1 else None


# the options of a command line that are no settings a config file could give again
NOT_SETTINGS = ("--config", "--resume", "--print_config", "--help")


def overridden_options(argv: list[str]) -> list[str]:
    """One note for each option of a command line (``--a.b.c=V`` or ``--a.b.c V``; its last if given twice) that a
    config file given after it sets to another value: options and configs take effect in the order given, so the
    file's value was used without a word (``--trainer.max_steps 1 --config configs/polynomial/gp_tnp_rbf.yaml``
    trained the overlay's 10 000 steps). A mapping given to a group is named by the keys of it a later file changes
    (a file changes only the keys it sets), and an option inside a list (``--trainer.callbacks.num_samples``) by a
    file that gives the list anew. A resume's own config.yaml goes first
    (:func:`~pixeltransformer.runs.with_run_config`), before every option: it overrides none."""
    configs = [(i, config) for name, value, i in settings(argv) if (config := config_of(name, value)) is not None]
    if not configs:
        return []
    last: dict[str, tuple[int, str, str | None]] = {}
    for name, value, i in settings(argv):
        if not name.startswith("--") or name in NOT_SETTINGS or len(name) < 3:
            continue
        key = name[2:].removesuffix("+")  # --trainer.callbacks+=X appends to the list a later file replaces
        last[key] = (i, name if value is None else f"{name}={value}", value)
    notes = []
    for key, (i, shown, value) in last.items():
        appends = shown.startswith(f"--{key}+")  # a later file's list drops the whole item, whatever its keys
        given = _yaml_or_text(value) if not appends else value
        # a mapping given to a group sets its keys alone, and a later file changes only the keys it sets: each is
        # compared on its own (--model.net '{heads: 2}' before a file that sets net's width keeps its 2 heads)
        leaves = config_leaves(given) if isinstance(given, dict) else {"": value}
        by: dict[str, list[str]] = {}  # a config file after the option: the keys it sets to another value
        for leaf, set_here in leaves.items():
            full = f"{key}.{leaf}" if leaf else key
            setter = None  # the last config after the option that sets the key: its value is the one used
            for k, config in configs:
                if k <= i:
                    continue
                if (set_to := config_value(config, full)) is not ...:
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


def _list_on_the_way(config: str | Path, key: str) -> str | None:
    """The dotted key above ``key`` that a config file gives a list (``trainer.callbacks`` for
    ``trainer.callbacks.num_samples``, which edits the last callback of the list given before): the file's list
    replaces that one, edits and all. None where it gives none."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        if isinstance(config_value(config, ".".join(parts[:n])), list):
            return ".".join(parts[:n])
    return None


def _same_setting(given: str | None, value: Any) -> bool:
    """Whether an option's text (None: given without a value) sets what a config file's YAML value does."""
    return given is not None and (given == str(value) or _yaml_or_text(given) == value)


def given_setting(argv: list[str], key: str) -> Any:
    """The value a command line gives the dotted ``key`` (``trainer.num_nodes``), as the parser takes it: that of the
    last option (its text read as YAML) or config file that sets it, in the order given; ``...`` where none does."""
    value: Any = ...
    for name, text, _ in settings(argv):
        if name == f"--{key}":
            value = _yaml_or_text(text)
        elif (config := config_of(name, text)) is not None and (set_to := config_value(config, key)) is not ...:
            value = set_to
    return value


def setting_source(argv: list[str], group: str, key: str) -> str | None:
    """The config file that sets ``group.key`` last on a command line (to a value other than null), when no option
    after it sets it; None where the value in effect is the command line's ``--group.key`` (or nothing sets it)."""
    source = None
    option = f"--{group}.{key}"
    for name, value, _ in settings(argv):
        if name == option:
            source = None
        elif (config := config_of(name, value)) is not None and config_entry(config, group, key)[1] is not None:
            source = config
    return source


def run_config_setting(argv: list[str], group: str, key: str) -> Path | None:
    """The config file a run folder holds (:func:`~pixeltransformer.runs.written_into_a_run`: a resume's own
    config.yaml, or an evaluation's) that sets ``group.key`` last on a command line, when no option or other config
    file after it sets it (:func:`setting_source`); None otherwise (the value is the command line's, or a config
    file's the user gives)."""
    source = setting_source(argv, group, key)
    return Path(source) if source is not None and written_into_a_run(Path(source)) else None


def config_unsetting(argv: list[str], key: str) -> str | None:
    """The config file given after the command line's last ``--<key>`` that sets the top-level ``key`` to null (a
    run's config.yaml records ``ckpt_path: null``): it sets back what the option gave. None when there is none."""
    given, source = False, None
    for name, value, _ in settings(argv):
        if name == f"--{key}":
            given, source = True, None
        elif given and (config := config_of(name, value)) is not None and \
                (config_top(config) or {}).get(key, "absent") is None:
            source = config
    return source


def given_model_options(argv: list[str] | None) -> list[str]:
    """The model options a command line gives by name (``--model.net.chunk=4096`` or ``--model.net.chunk 4096``)."""
    return [name[2:] for name, _, _ in settings(argv or []) if name.startswith("--model.")]


def gives_logger_name(argv: list[str] | None) -> bool:
    """Whether a command line names the W&B run (``--trainer.logger.init_args.name=x``, ``--trainer.logger.name x``)."""
    return any(name in ("--trainer.logger.init_args.name", "--trainer.logger.name")
               for name, _, _ in settings(argv or []))


def yaml_spelled(argv: list[str], key: str, got: str) -> list[str] | None:
    """The command line with the value ``got`` of the option ``key`` (a parser error's, ``init_args`` left out or not)
    in YAML's spelling where it is Python's spelling of a non-finite number (``--temperature inf`` -> ``--temperature
    .inf``; ``key`` "--temperature" for ``--temperature -inf`` or ``-1e-3``, which argparse took for two options: the
    option joined to its value by "="); None where the command line does not give it so."""
    spelled = yaml_float(got)
    if key.startswith("--") and spelled is None and got.startswith("-"):  # --temperature -1e-3 alike: a number
        try:
            float(got)
            spelled = got
        except ValueError:
            pass
    if spelled is None:
        return None

    def plain(name: str) -> str:
        return ".".join(part for part in name.split(".") if part != "init_args")

    if key.startswith("--"):  # argparse's "argument --temperature: expected one argument": -inf read as an option
        i = argv.index(key)
        return [*argv[:i], f"{key}={spelled}", *argv[i + 2:]]
    for name, value, i in settings(argv):
        if name.startswith("--") and plain(name[2:]) == plain(key) and value == got:
            return with_setting(argv, i, spelled)
    return None
