"""The W&B run names the CLI derives from a run folder's group (runs.run_group): a fit's, the group itself; an
offline resume's, a W&B run of its own (``polynomial/p (resume 1)``); an evaluation's, named after its folder and
kind (``polynomial/p/eval (test)``). Each is written from one format below, and :func:`derived_run_name` reads the
same formats to tell a derived name, made again for the folder a command runs in, from a name the user gave.
"""

from __future__ import annotations

import re
from string import Formatter

RESUME_NAME = "{group} (resume {k})"
EVALUATION_NAME = "{group}/{folder} ({kind})"
# what each field of a derived name holds, as a pattern: a resume's number, an evaluation's folder and subcommand
NAME_FIELDS = {"k": r"\d+", "folder": r"[^/]+", "kind": r"(?:test|validate)"}


def evaluation_run_name(group: str, folder: str, kind: str) -> str:
    """An evaluation's W&B run name: the run folder's group, the evaluation's folder in it and what it is
    (``polynomial/p/eval (test)``, ``images/x/eval-best-step004000 (validate)``)."""
    return EVALUATION_NAME.format(group=group, folder=folder, kind=kind)


def resume_run_name(group: str, k: int) -> str:
    """The W&B run name of a run's k-th offline resume, a W&B run of its own: ``polynomial/p (resume 1)``."""
    return RESUME_NAME.format(group=group, k=k)


def _name_pattern(form: str, group: str) -> str:
    """A name format as a pattern: its text as written, the group as given, each other field as NAME_FIELDS has it."""
    fields = {**NAME_FIELDS, "group": re.escape(group)}
    return "".join(re.escape(text) + (fields[field] if field else "") for text, field, _, _ in Formatter().parse(form))


def derived_run_name(name: str | None, group: str | None) -> bool:
    """Whether a W&B run name is one the CLI derives (none given) or derived from the run folder of the group: a
    fit's (the group), an offline resume's (:func:`resume_run_name`) or an evaluation's (:func:`evaluation_run_name`).
    Either is derived again for the folder a command runs in; any other name is the user's."""
    if name is None:
        return True
    if group is None:
        return False
    # the group alone (a fit's), a resume's or an evaluation's
    return any(re.fullmatch(_name_pattern(form, group), name) for form in ("{group}", RESUME_NAME, EVALUATION_NAME))
