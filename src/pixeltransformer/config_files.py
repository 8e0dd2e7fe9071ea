"""The YAML config files a command line gives (``--config F``, ``-c F``), read before and beside the CLI's parser: each
text parsed once, a key given twice in one mapping noted (the parser refuses it), and the value a file gives a dotted
key (``init_args`` left out, as the parser allows) or a group's key; and the options of a command line, each with its
value (:func:`settings`).
The checks before Lightning (:mod:`~pixeltransformer.preflight`), the run folders' rules
(:mod:`~pixeltransformer.runs`) and the CLI's lines read config files through here. No Lightning import; PyYAML is
imported where a file is read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def given_configs(argv: list[str]) -> list[str]:
    """The config files a command line gives (``--config F``, ``--config=F``, ``-c F``, ``-c=F``), in order."""
    return [config for name, value, _ in settings(argv) if (config := config_of(name, value)) is not None]


def config_of(name: str, value: str | None) -> str | None:
    """The config file an option of :func:`settings` gives (``--config F``, ``--config=F``, ``-c F``, ``-c=F``), else
    None: the walk over the command line has already split each option from its value."""
    return value if name in ("--config", "-c") else None


def settings(argv: list[str]) -> Iterator[tuple[str, str | None, int]]:
    """Each option of a command line in order, as the name, value and index of every argument that starts with "-"
    (a value that does is read as an option as well): the value is the text after "=" (``--name=value``), else the
    next argument (``--name value``, ``-c F``) unless that starts with "--", the next option (``--trainer.fast_dev_run
    --config F``: a flag given alone; argparse itself also takes ``-inf`` for an option, though not ``-1``); None where
    none is given."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.partition("=")
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None
        yield name, value, i


def with_setting(argv: list[str], i: int, value: str) -> list[str]:
    """The command line with ``value`` for the value of its option at ``i`` (one that has a value: :func:`settings`),
    where that was given: after "=" (``--name=value``), else as the next argument."""
    out = list(argv)
    name, eq, _ = argv[i].partition("=")
    if eq:
        out[i] = f"{name}={value}"
    else:
        out[i + 1] = value
    return out


def config_value(config: str | Path, key: str, in_lists: bool = False) -> Any:
    """The value a YAML config file gives the dotted key (``init_args`` may be left out in the file or in the key, as
    the parser allows; ``in_lists``: in a list of classes, ``trainer.callbacks.max_items``, the first item that gives
    it); ``...`` where it gives none or cannot be read."""
    return _value_in(config_top(config), key.split("."), in_lists)


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


def config_leaves(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """The dotted keys of a nested mapping's values that are not mappings (lists are values), with their values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(config_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_texts(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Each text of a YAML config's value with its key, dotted and indexed (``trainer.callbacks[0].init_args.out``,
    ``model.val_levels[1]``): in mappings and lists at any depth, which :func:`config_leaves` takes for values."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from config_texts(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from config_texts(item, f"{key}[{i}]")
    elif isinstance(value, str):
        yield key, value


def read_config(path: str | Path) -> tuple[Any, Exception | None]:
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
    """:func:`read_config` of a file's text. Keyed on the text, not the file's mtime, which Linux keeps to a clock
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


def config_top(path: str | Path) -> dict | None:
    """The top level of a YAML config file ({} for an empty one; None where unreadable or not a mapping: the CLI
    parser reports that)."""
    import yaml

    try:
        top = read_config(path)[0] or {}
    except (OSError, yaml.YAMLError):
        return None
    return top if isinstance(top, dict) else None


def config_entry(path: str | Path, group: str, key: str) -> tuple[bool, Any]:
    """(readable, config[group][key]) of a YAML config file (None where absent); unreadable files are the CLI
    parser's to report."""
    top = config_top(path)
    section = top.get(group) if top is not None else None
    if top is None or section is not None and not isinstance(section, dict):
        return False, None
    return True, (section or {}).get(key)
