"""``--version``: the line of this project's version and the installed torch's and Lightning's, printed by
``python -m pixeltransformer`` before Lightning is imported (:func:`show_version`), and by the CLI's main parser
(:class:`VersionAction`), whose ``--help`` lists it.
"""

from __future__ import annotations

import argparse

from .preflight import SUBCOMMANDS


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
