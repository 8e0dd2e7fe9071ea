"""The processes Lightning's ddp_spawn and ddp_fork start end on bad input as a command does: the first rank to meet
it prints its one line and exits with status 2 (torch printed the rank's traceback inside one of its own, and the
command exited 1), the command then exits 2 without a line of its own; a bug keeps its traceback. The rank torch
stops with SIGTERM once another has failed ends without the line a SIGTERM of the user's prints
(checkpointing.RunCheckpoint), and torch's warning that it sends it is left out."""

from __future__ import annotations

import logging
import sys
from typing import Any

from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

from .errors import INPUT_STATUS, InputExit, fail, is_input_error, mark_failed, peer_lost_exit


class _CleanupWarning(logging.Filter):
    """torch's "Terminating process N via signal SIGTERM": its own stop of the ranks left after one failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Terminating process")


class OneLineLauncher(_MultiProcessingLauncher):
    """Lightning's launcher of ddp_spawn and ddp_fork, whose processes end on bad input in one line."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        spawn_log = logging.getLogger("torch.multiprocessing.spawn")
        if not any(isinstance(f, _CleanupWarning) for f in spawn_log.filters):
            spawn_log.addFilter(_CleanupWarning())
        return super().launch(*args, **kwargs)

    def _wrapping_function(self, *args: Any, **kwargs: Any) -> None:
        try:
            super()._wrapping_function(*args, **kwargs)
        except Exception as err:
            mark_failed()  # before torch stops the other ranks
            if is_input_error(err):
                fail(err)  # its line, exit status 2 (the traceback with PIXELTRANSFORMER_DEBUG=1)
            if (exit_ := peer_lost_exit(err)) is not None:  # a rank met bad input first and printed its line
                raise exit_ from None
            raise


def launch_in_one_line(trainer: Any) -> None:
    """Give the trainer's strategy :class:`OneLineLauncher` where Lightning starts its processes itself."""
    launcher = getattr(trainer.strategy, "launcher", None)
    if type(launcher) is _MultiProcessingLauncher:  # Lightning's own, not a subclass (XLA's starts its own way)
        trainer.strategy._launcher = OneLineLauncher(trainer.strategy, start_method=launcher._start_method)


def launched_bad_input(err: BaseException) -> InputExit | None:
    """The command's exit for a process of its launch that printed its bad input's line (torch's
    ProcessExitedException with status 2); None for any other error."""
    spawn = sys.modules.get("torch.multiprocessing.spawn")
    if spawn is None or not isinstance(err, spawn.ProcessExitedException) or err.exit_code != INPUT_STATUS:
        return None
    return InputExit(f"error: process {err.error_index} of the launch stopped on bad input (its line is above)")
