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


# ---- an evaluation killed (kill -9, out of memory) before its end: its record, when it logged nothing ------------
# A failed or stopped evaluation takes its record back itself (above); one that was killed cannot. While it runs, a
# marker beside the W&B folder names its record's id and its process; the next command on the run folder removes the
# records of a marker whose process (on this machine and PID namespace) no longer runs, when they hold no logged
# result. A fit writes no marker: its record always stays.

RESULT_RECORDS = frozenset({"history", "artifact", "tbrecord", "alert"})  # what a record logged; its summary is
# W&B's own at each start and exit, a result's values come with history, its tables and pictures as artifacts


def mark_evaluation(run_dir: Path, run_id: str) -> Path:
    """``<run>/.wandb-<id>.<host>.<PID namespace>.<pid>.evaluation``: this process's evaluation has a W&B record of
    ``run_id`` under way (removed by :func:`unmark_evaluation` when the evaluation ends, whichever way)."""
    from .files import _writer

    marker = Path(run_dir) / f".wandb-{run_id}.{_writer()}.evaluation"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return marker


def unmark_evaluation(marker: Path | None) -> None:
    if marker is not None:
        marker.unlink(missing_ok=True)


def logged_results(record: Path) -> bool:
    """Whether an offline record (offline-run-<time>-<id>/) holds anything logged (:data:`RESULT_RECORDS`, or files
    under files/media); True too when its run-<id>.wandb cannot be read as W&B's log of records (a format this does
    not know is kept, never taken for an empty one)."""
    if (record / "files" / "media").exists():
        return True
    try:
        from wandb.proto import wandb_internal_pb2

        for path in record.glob("run-*.wandb"):
            for data in _log_records(path.read_bytes()):
                entry = wandb_internal_pb2.Record()
                entry.ParseFromString(data)
                if entry.WhichOneof("record_type") in RESULT_RECORDS:
                    return True
    except Exception:  # not W&B's format (another version's), or no W&B to read it with: keep it
        return True
    return False


def _log_records(data: bytes):
    """The records of a W&B .wandb file: a 7-byte header (":W&B", a magic number, a version), then LevelDB's log
    format: 32 KiB blocks of chunks, each a 7-byte header (CRC, length, type: 1 whole, 2 first, 3 middle, 4 last)."""
    if data[:4] != b":W&B":
        raise ValueError("not a W&B log")
    block, pos, parts = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        if kind == 0 and length == 0:  # zeros: the rest of a block (or a record being written when it was killed)
            pos += block - pos % block
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            yield chunk
        elif kind in (2, 3):
            parts = chunk if kind == 2 else parts + chunk
        elif kind == 4:
            yield parts + chunk
            parts = b""
        else:
            raise ValueError(f"chunk type {kind}")


def take_back_killed(run_dir: Path) -> list[str]:
    """Remove the offline records of evaluations that were killed before their end (see :func:`mark_evaluation`) and
    logged nothing, with the links of the W&B folder that point into them; returns their names. A marker of a process
    that runs, or of another machine or container (its process cannot be asked from here), stays with its record; a
    record that logged anything stays (its marker goes)."""
    from .files import _process_runs, _writer

    run_dir, removed = Path(run_dir), []
    host_space = _writer().rpartition(".")[0]
    for marker in sorted(run_dir.glob(".wandb-*.evaluation")):
        head, _, pid = marker.name.removesuffix(".evaluation").rpartition(".")
        run_id, _, writer = head.removeprefix(".wandb-").partition(".")
        if writer != host_space or not pid.isdigit() or int(pid) == os.getpid() or _process_runs(int(pid)):
            continue
        folder = run_dir / "wandb"
        records = sorted(own_records(folder, run_id)) if folder.is_dir() else []
        if not any(logged_results(folder / name) for name in records):
            for name in records:
                shutil.rmtree(folder / name, ignore_errors=True)
                removed.append(name)
            for link in list(folder.iterdir()) if records else []:
                if link.is_symlink() and _target_entry(link) in records:
                    link.unlink()
        marker.unlink(missing_ok=True)
    return removed
