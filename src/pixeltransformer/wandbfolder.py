"""A run folder's W&B folder (<run>/wandb/) and an evaluation's offline W&B record.

W&B writes its record (offline-run-<time>-<id>/) as soon as a logger's run begins, which Lightning does when a
command sets up, long before an evaluation has a number to log. An evaluation's offline record is therefore written
in a staging folder of its own, ``<run>/wandb/.evaluation.<host>.<PID namespace>.<pid>.<random>.partial/``, and
moved into <run>/wandb/ beside the fit's when the evaluation has ended and its W&B run is finished: an evaluation
that fails or is stopped (Ctrl-C, SIGTERM) drops it, and one that was killed (kill -9, out of memory) leaves it in its
hidden staging folder, out of reach of ``wandb sync <run>/wandb/offline-run-*``, until the next evaluation on the
run folder removes it (files.staging_folder). An online run's record is W&B's own, and is left where W&B wrote it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .files import missing_folders, remove_empty, staging_folder


def stage_record(wandb_dir: Path) -> tuple[Path, list[Path]]:
    """A new staging folder in ``wandb_dir`` for an evaluation's W&B record (W&B writes it under <staging>/wandb/);
    returns it and the folders made for it (wandb_dir on a run's first record), which :func:`drop_record` removes."""
    made = missing_folders(Path(wandb_dir))
    return staging_folder(wandb_dir, "evaluation"), made


def publish_record(staged: Path) -> list[str]:
    """Move the records W&B finished in ``staged`` into the W&B folder it lies in, then remove it; returns the names
    moved. Call it once W&B has finished its run."""
    moved = []
    for record in sorted((staged / "wandb").glob("offline-run-*")):
        os.replace(record, staged.parent / record.name)
        moved.append(record.name)
    shutil.rmtree(staged, ignore_errors=True)
    return moved


def drop_record(staged: Path, made: list[Path]) -> None:
    """Remove a staging folder and what W&B wrote in it, and the folders made for it where they are empty."""
    shutil.rmtree(staged, ignore_errors=True)
    remove_empty(made)
