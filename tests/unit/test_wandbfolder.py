"""Taking back what a failed command's W&B run added to a run folder's wandb/ (wandbfolder.py)."""

import os

from pixeltransformer.wandbfolder import take_back, wandb_folder


def _record(folder, name):
    """What W&B writes for one offline run: its folder with logs, and the three links to it."""
    (folder / name / "logs").mkdir(parents=True)
    (folder / name / "logs" / "debug.log").write_text(name)
    for link, target in (("latest-run", name), ("debug.log", f"{name}/logs/debug.log")):
        (folder / link).unlink(missing_ok=True)
        (folder / link).symlink_to(target)


def test_a_fits_record_and_links_are_kept_and_the_failed_runs_go(tmp_path):
    folder = tmp_path / "wandb"
    _record(folder, "offline-run-20261202_100000-fit1")
    before = wandb_folder(folder)
    _record(folder, "offline-run-20261202_110000-eval")  # the evaluation that fails
    assert take_back(before) == ["offline-run-20261202_110000-eval"]
    assert sorted(p.name for p in folder.iterdir()) == ["debug.log", "latest-run", "offline-run-20261202_100000-fit1"]
    assert os.readlink(folder / "latest-run") == "offline-run-20261202_100000-fit1"
    assert (folder / "debug.log").read_text() == "offline-run-20261202_100000-fit1"  # the link points at the fit's log


def test_a_folder_the_failed_run_made_goes_as_a_whole(tmp_path):
    folder = tmp_path / "run" / "wandb"
    (tmp_path / "run").mkdir()
    before = wandb_folder(folder)
    _record(folder, "offline-run-20261202_110000-eval")
    assert take_back(before) == ["wandb"]
    assert not folder.exists() and (tmp_path / "run").is_dir()
    assert take_back(before) == []  # nothing there: nothing to do


def test_another_command_s_record_begun_meanwhile_stays(tmp_path):
    """Two evaluations of one run folder (last.ckpt and a best-step checkpoint), the second begun while the first
    ran: when the first failed (SIGTERM, a bad file), it removed every record added since it began, the second's
    too, while that one was still writing it (which then exited 0 with no W&B record but a stray files/ folder).
    Only the failed command's own record goes, with the links that point at it."""
    folder = tmp_path / "wandb"
    _record(folder, "offline-run-20261202_100000-fit1")
    before = wandb_folder(folder)
    _record(folder, "offline-run-20261202_110000-eval")  # the evaluation that fails
    _record(folder, "offline-run-20261202_110500-best")  # another evaluation, still running
    assert take_back(before, only={"offline-run-20261202_110000-eval"}) == ["offline-run-20261202_110000-eval"]
    assert sorted(p.name for p in folder.iterdir()) == ["debug.log", "latest-run", "offline-run-20261202_100000-fit1",
                                                        "offline-run-20261202_110500-best"]
    assert os.readlink(folder / "latest-run") == "offline-run-20261202_110500-best"  # the other's links stay
    _record(folder, "offline-run-20261202_120000-eval2")  # a failure whose record the links name: they point back
    assert take_back(before, only={"offline-run-20261202_120000-eval2"}) == ["offline-run-20261202_120000-eval2"]
    assert os.readlink(folder / "latest-run") == "offline-run-20261202_100000-fit1"
    assert take_back(before, only=set()) == []  # a run that began no record takes nothing back
    assert sorted(p.name for p in folder.iterdir()) == ["debug.log", "latest-run", "offline-run-20261202_100000-fit1",
                                                        "offline-run-20261202_110500-best"]


def test_a_folder_the_failed_run_made_keeps_another_command_s_record(tmp_path):
    folder = tmp_path / "run" / "wandb"
    (tmp_path / "run").mkdir()
    before = wandb_folder(folder)
    _record(folder, "offline-run-20261202_110000-eval")
    _record(folder, "offline-run-20261202_110500-best")
    assert take_back(before, only={"offline-run-20261202_110000-eval"}) == ["offline-run-20261202_110000-eval"]
    assert sorted(p.name for p in folder.iterdir()) == ["debug.log", "latest-run", "offline-run-20261202_110500-best"]
    assert take_back(wandb_folder(folder), only=set()) == []
    before = wandb_folder(tmp_path / "run" / "wandb2")
    _record(tmp_path / "run" / "wandb2", "offline-run-20261202_130000-eval")
    assert take_back(before, only={"offline-run-20261202_130000-eval"}) == ["wandb2"]  # alone in it: the folder goes
    assert not (tmp_path / "run" / "wandb2").exists()


def _log(record, *kinds):
    """run-<id>.wandb as W&B writes it: its header, then one record of each kind ("history", "run", ...), each a
    whole chunk of LevelDB's log format."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = b":W&B\xe1\xbe\x00"
    for kind in kinds:
        entry = pb.Record()
        getattr(entry, kind).SetInParent()
        body = entry.SerializeToString()
        data += b"\0\0\0\0" + len(body).to_bytes(2, "little") + b"\x01" + body
    (record / f"run-{record.name.rsplit('-', 1)[1]}.wandb").write_bytes(data)


def _dead_pid():
    import subprocess
    import sys

    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_the_empty_record_of_a_killed_evaluation_goes_with_the_next_command(tmp_path):
    """An evaluation killed with -9 left its offline record, which `wandb sync wandb/offline-run-*` uploaded as an
    empty run. Its marker names it: the next command removes it (and the links into it) when its process no longer
    runs and it logged nothing. A fit's record (no marker), a killed evaluation's that logged values, a running
    evaluation's and one on another machine stay."""
    from pixeltransformer.files import _writer
    from pixeltransformer.wandbfolder import logged_results, mark_evaluation, take_back_killed

    run, folder = tmp_path / "run", tmp_path / "run" / "wandb"
    here, dead = _writer().rsplit(".", 1)[0], _dead_pid()
    _record(folder, "offline-run-20261202_100000-fit1")
    _log(folder / "offline-run-20261202_100000-fit1", "run", "summary", "exit")  # a fit that logged no history
    for name, kinds in (("killed", ("header", "run", "summary")), ("logged", ("run", "history")),
                        ("running", ("run",)), ("elsewhere", ("run",))):
        _record(folder, f"offline-run-20261202_11000{len(name)}-{name}")
        _log(folder / f"offline-run-20261202_11000{len(name)}-{name}", *kinds)
    for name, pid in (("killed", dead), ("logged", dead), ("running", os.getppid())):
        (run / f".wandb-{name}.{here}.{pid}.evaluation").touch()
    (run / f".wandb-elsewhere.other-host.1.{dead}.evaluation").touch()
    (folder / "latest-run").unlink()
    (folder / "latest-run").symlink_to("offline-run-20261202_110006-killed")  # W&B's links: the last record begun

    assert take_back_killed(run) == ["offline-run-20261202_110006-killed"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "debug.log", "offline-run-20261202_100000-fit1", "offline-run-20261202_110006-logged",
        "offline-run-20261202_110007-running", "offline-run-20261202_110009-elsewhere"]
    assert sorted(p.name for p in run.glob(".wandb-*")) == [f".wandb-elsewhere.other-host.1.{dead}.evaluation",
                                                           f".wandb-running.{here}.{os.getppid()}.evaluation"]
    assert take_back_killed(run) == []
    # this process's own marker is never another's
    mark = mark_evaluation(run, "mine")
    assert take_back_killed(run) == [] and mark.exists()
    # what is not W&B's log format is kept, never taken for an empty record
    (folder / "offline-run-20261202_110007-running" / "run-running.wandb").write_bytes(b"something else")
    assert logged_results(folder / "offline-run-20261202_110007-running")
