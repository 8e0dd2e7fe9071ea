"""Stand-ins for the parts of a Lightning trainer that tests give the code: a trainer, its test loop and the data it
reads, and a stop check that stops after a number of steps."""

from types import SimpleNamespace


def loop_reading(datamodule=None):
    """A test loop's stand-in that reads from `datamodule` (None: from dataloaders alone)."""
    return SimpleNamespace(_data_source=SimpleNamespace(instance=datamodule))


FITTING = SimpleNamespace(fn="fit")  # a trainer's state during a fit (trainer.state.fn, TrainerFn's value)


class Stopped(Exception):
    pass


def stop_after(n: int, calls: list):
    """A stop check that lets ``n`` steps start and stops the next one."""
    def check():
        calls.append(1)
        if len(calls) > n:
            raise Stopped
    return check


def fake_trainer(**kw):
    """A trainer's stand-in; a datamodule given is the one its test reads from (evaluation.tested_datamodule)."""
    return SimpleNamespace(received_sigterm=False, world_size=1, is_global_zero=True, fast_dev_run=False,
                           ckpt_path=None, loggers=[], test_loop=loop_reading(kw.get("datamodule")), **kw)
