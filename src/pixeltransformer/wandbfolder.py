"""A run folder's W&B folder (<run>/wandb/): what a command found there, and taking back what a failed one added.

W&B writes into <run>/wandb/ as soon as a logger starts: the run's record (offline-run-<time>-<id>/), the links
debug.log, debug-internal.log and latest-run to it, and the folder itself on a run's first W&B run. An evaluation
that fails (data it cannot read, an error in a metric) publishes nothing: the CLI puts its evaluation folder back
as it was (files.set_aside), and with this its offline W&B record goes too, so that the run folder is as before.
An online run's record is W&B's own (the dashboard shows the run as failed), and is left where it is.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class WandbFolder:
    """What <run>/wandb/ held: whether it existed, its entries' names, and where its links pointed."""

    folder: Path
    existed: bool
    names: frozenset[str] = frozenset()
    links: dict[str, str] = field(default_factory=dict)


def wandb_folder(folder: Path) -> WandbFolder:
    """The state of a W&B folder now, to be restored by :func:`take_back`."""
    if not folder.is_dir():
        return WandbFolder(folder, existed=False)
    entries = list(folder.iterdir())
    return WandbFolder(folder, True, frozenset(p.name for p in entries),
                       {p.name: os.readlink(p) for p in entries if p.is_symlink()})


def take_back(before: WandbFolder, only: Collection[str] | None = None) -> list[str]:
    """Remove what was added to the folder since ``before`` and point its links where they pointed then (a folder
    that did not exist goes as a whole); returns the names removed. Call it once W&B has finished its run.

    ``only``: the names of this process's own W&B records (offline-run-<time>-<id>; none when its run never began).
    Another command on the run folder (an evaluation of another checkpoint, a resumed fit) may have started its own
    record meanwhile: that one, and the links that point at it, stay."""
    folder = before.folder
    if not folder.is_dir():
        return []
    if only is None and not before.existed:
        shutil.rmtree(folder, ignore_errors=True)
        return [folder.name]
    added = [p for p in folder.iterdir() if p.name not in before.names]
    if only is not None:
        added = [p for p in added if p.name in only or (p.is_symlink() and _target_entry(p) in only)]
    removed = []
    for path in added:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    for path in list(folder.iterdir()):
        if path.name in before.links and (not path.is_symlink() or os.readlink(path) != before.links[path.name]):
            if only is not None and not (path.is_symlink() and _target_entry(path) in only):
                continue  # it points at another command's record now
            path.unlink()
            path.symlink_to(before.links[path.name])
    if not before.existed and not any(folder.iterdir()):
        folder.rmdir()
        return [folder.name]
    return sorted(removed)


def own_records(folder: Path, run_id: str | None) -> set[str]:
    """The names of the offline records (offline-run-<time>-<id>) that the W&B run of ``run_id`` began in ``folder``:
    the ``only`` of :func:`take_back` for that run (none without an id: no W&B logger)."""
    if run_id is None:
        return set()
    return {p.name for p in folder.glob(f"offline-run-*-{glob.escape(run_id)}")}


def _target_entry(link: Path) -> str:
    """The entry of the W&B folder a link there points into (offline-run-<time>-<id> for its debug.log)."""
    target = Path(os.readlink(link))
    return target.relative_to(link.parent).parts[0] if target.is_absolute() and target.is_relative_to(link.parent) \
        else target.parts[0] if target.parts else ""
