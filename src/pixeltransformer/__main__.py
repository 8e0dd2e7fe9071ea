"""The ``pixeltransformer`` command (the console script and ``python -m pixeltransformer``), with the checks that
need no Lightning done first, so that a bad checkpoint or a taken run name is reported in seconds."""

import sys

from .errors import ctrl_c_main


@ctrl_c_main()  # Ctrl-C while it starts (import lightning: seconds): one line, no traceback
def main() -> None:
    """The command: huge pages asked for before torch is imported, ``--version``, the checks before Lightning
    (:func:`~pixeltransformer.preflight.preflight`), then LightningCLI's subcommands
    (:func:`~pixeltransformer.cli.cli_main`). The console script runs this too: pointed at ``cli_main``, it skipped
    the checks and imported Lightning first. Ctrl-C before a fit trains ends it in one line, with status 130
    (:func:`~pixeltransformer.errors.ctrl_c_main`); while it trains, the fit saves last.ckpt first."""
    from .allocator import request_huge_pages

    request_huge_pages()  # before anything imports torch
    from .errors import INPUT_ERRORS, fail
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
