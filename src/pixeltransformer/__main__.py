"""``python -m pixeltransformer``: the ``pixeltransformer`` command, with the checks that need no Lightning done
first, so that a bad checkpoint or a taken run name is reported in seconds."""

import sys

from .allocator import request_huge_pages

request_huge_pages()  # before anything imports torch

from .errors import INPUT_ERRORS, fail  # noqa: E402
from .runs import predict_in_the_first_process, preflight, show_version  # noqa: E402

show_version(sys.argv[1:])  # prints the versions and exits
predict_in_the_first_process(sys.argv[1:])  # torchrun, srun: one prediction, in the first process
try:
    preflight(sys.argv[1:])
except INPUT_ERRORS as err:
    fail(err)

from .cli import cli_main  # noqa: E402  (imports Lightning)

cli_main()
