"""The parsers' logger, which keeps jsonargparse's notes off the console, and the one note among them the user must
see: a class_path given on the command line over the class a config chose drops the settings the config gave that
class and the new one does not take, which jsonargparse says at debug level alone (the run went on with the new
class's defaults); :func:`dropped_settings_line` names them in one warning.
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any


class DroppedSettings(logging.Handler):
    """jsonargparse's note, at debug level and so never shown, that a class_path given over another one (a
    ``--data.class_path=mymodule.MyData`` over the config's ImageDataModule) dropped the init_args the new class does
    not take: the run went on with that class's defaults for them. Kept here, for :func:`dropped_settings_line`."""

    NOTE = re.compile(r"Due to class_path change from '([^']+)' to '([^']+)', discarding init_args: (\{.*\})\.$",
                      re.DOTALL)

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.notes: list[tuple[str, str, str]] = []  # (class path given first, class path given over it, settings)

    def emit(self, record: logging.LogRecord) -> None:
        note = self.NOTE.match(record.getMessage())
        if note and note.groups() not in self.notes:
            self.notes.append(note.groups())


PARSE_LOG = logging.getLogger("pixeltransformer.parse")  # the parsers' logger: jsonargparse's notes, shown by none
PARSE_LOG.setLevel(logging.DEBUG)
PARSE_LOG.propagate = False
DROPPED = DroppedSettings()
PARSE_LOG.addHandler(DROPPED)


_UNREAD = object()  # a dropped setting whose value the note did not give as a literal
_NO_DEFAULT = object()  # an option without a default


def class_at(class_path: str) -> Any:
    """The object a config's ``class_path`` names, or None where it does not import (the parser reports that where
    it builds the class)."""
    module, _, name = str(class_path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - a module's own error too: reported where the class is built
        return None


def _default_of(class_path: str, name: str) -> Any:
    """The default of option ``name`` of the class at ``class_path`` (first in its MRO to take it by name);
    ``_NO_DEFAULT`` where there is none or the class does not import."""
    import inspect

    cls = class_at(class_path)
    if cls is None:  # then the setting counts as given
        return _NO_DEFAULT
    for klass in getattr(cls, "__mro__", ()):
        param = inspect.signature(klass.__init__).parameters.get(name) if "__init__" in vars(klass) else None
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return _NO_DEFAULT


def dropped_settings_line(cfg, argv: list[str]) -> str | None:
    """One line naming the settings a config gave a class that a class_path given on the command line (``argv``) does
    not take (jsonargparse drops them without a word): ``data.class_path=mydata.MyData drops ... dataset=mnist,
    val_items=64 ...``. A setting at its class's default was not asked for and is not named, nor is what a config file
    given after another replaces (configs/polynomial/gp_tnp_rbf.yaml's sampler, by design). None when nothing was
    dropped."""
    import ast

    parts = []
    for old, new, text in DROPPED.notes:
        short = new.rsplit(".", 1)[-1]
        if not any(new in arg or arg.rpartition("=")[2] == short for arg in argv):
            continue  # a config file's class
        try:
            settings = ast.literal_eval(text)
        except (ValueError, SyntaxError):  # a value without a literal form: the names alone
            settings = dict.fromkeys(re.findall(r"(?:^\{|, )'(\w+)': ", text), _UNREAD)
        # a value at the old class's default, or the null jsonargparse holds for an option it has no value of (the
        # parser's default class, Optimizer's ``defaults``), was not asked for
        given = {k: v for k, v in settings.items()
                 if v != (default := _default_of(old, k)) and not (v is None and default is _NO_DEFAULT)}
        if not given:
            continue
        where = next((f"{key}." for key, value in _class_options(cfg.as_dict()) if value == new), "")
        shown = ", ".join(k if v is _UNREAD else f"{k}={v}" for k, v in given.items())
        parts.append(f"{where}class_path={new} drops what the config gave {old.rsplit('.', 1)[-1]} and it does not "
                     f"take: {shown} (it runs with its own defaults; its options: --{where}init_args.<name>)")
    return "; ".join(parts) or None


def _class_options(cfg, prefix: str = ""):
    """(option key, class_path) of each class a config chooses, at any depth (``data``, ``model.sets``)."""
    for key, value in cfg.items():  # a config as a dict
        key = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(value.get("class_path"), str):
            yield key, value["class_path"]
            yield from _class_options(value.get("init_args") or {}, f"{key}.init_args.")
        elif isinstance(value, dict):
            yield from _class_options(value, f"{key}.")
