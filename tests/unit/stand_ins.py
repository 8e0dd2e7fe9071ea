"""Stand-ins for the parts of a Lightning trainer that tests give the code: a test loop and the data it reads."""

from types import SimpleNamespace


def tested_from(datamodule=None):
    """A test loop's stand-in that reads from `datamodule` (None: from dataloaders alone)."""
    return SimpleNamespace(_data_source=SimpleNamespace(instance=datamodule))
