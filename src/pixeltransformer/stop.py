"""A stop that a signal asks for, carried out between the steps of a long loop.

Lightning's SIGTERM handler only notes the signal (``trainer.received_sigterm``), and its test loop looks at the note
at the end of a batch: in an evaluation that samples (an images batch: every |S| level, each with minutes of
autoregressive steps on a CPU) that came minutes after the signal, past the grace period a cluster gives before its
SIGKILL. Within :func:`stop_when`, the long loops of an evaluation (the autoregressive sampling steps, the |S|
levels of a batch, the baselines' chunks and fitting steps, the pictures' completions: docs/design.md lists them)
call :func:`check_stop` before each step; the check raises what the signal's stop raises, and the caller undoes what
the stopped work began (an evaluation's folder is put back as it was by the CLI). A prediction
stops otherwise: its own SIGTERM handler raises at once (predict.PredictionWriter), as nothing it began outlives it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_CHECKS: list[Callable[[], None]] = []  # the checks of the stop_when scopes entered, innermost last


@contextlib.contextmanager
def stop_when(check: Callable[[], None]) -> Iterator[None]:
    """Within this, :func:`check_stop` calls ``check``, which raises to stop the loop under way (and does nothing
    otherwise)."""
    _CHECKS.append(check)
    try:
        yield
    finally:
        _CHECKS.remove(check)


def check_stop() -> None:
    """Between two steps of a long loop: raise what a stop asked for meanwhile (see :func:`stop_when`)."""
    for check in tuple(_CHECKS):
        check()


def sigterm_stop(trainer) -> Callable[[], None]:
    """The stop check of a test (:func:`stop_when`): after a SIGTERM, which Lightning's handler only notes
    (``trainer.received_sigterm``), it raises what Lightning's own stop raises, with status 143 (the CLI puts the
    evaluation folder back as it was). Lightning is imported here, not by this module, which sampling imports."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from .checkpointing import SIGTERM_STATUS

    def check() -> None:
        if getattr(trainer, "received_sigterm", False):
            raise SIGTERMException(SIGTERM_STATUS)
    return check
