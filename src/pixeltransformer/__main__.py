"""The ``pixeltransformer`` command (the console script and ``python -m pixeltransformer``), with the checks that
need no Lightning done first, so that a bad checkpoint or a taken run name is reported in seconds."""

import sys

from .errors import INPUT_ERRORS, ctrl_c_main, fail


@ctrl_c_main()  # Ctrl-C while it starts (import lightning: seconds): one line, no traceback
def main() -> None:
    """The command: huge pages asked for before torch is imported, ``--version``, the checks before Lightning
    (:func:`~pixeltransformer.preflight.preflight`), then LightningCLI's subcommands
    (:func:`~pixeltransformer.cli.cli_main`). The console script runs this too: pointed at ``cli_main``, it skipped
    the checks and imported Lightning first. Ctrl-C, from its start to its end, ends it by SIGINT (status 130 in a
    shell) after one line (:func:`~pixeltransformer.errors.ctrl_c_main`); in a Lightning stage the stage's own: a
    fit's training saves last.ckpt first and says so."""
    from .allocator import request_huge_pages

    request_huge_pages()  # before anything imports torch
    from .launch import predict_in_the_first_process
    from .preflight import preflight
    from .version import show_version

    show_version(sys.argv[1:])  # prints the versions and exits
    predict_in_the_first_process(sys.argv[1:])  # torchrun, srun: one prediction, in the first process
    try:
        preflight(sys.argv[1:])
    except INPUT_ERRORS as err:
        fail(err)

    from .cli import cli_main  # imports Lightning

    cli_main()


if __name__ == "__main__":
    main()
