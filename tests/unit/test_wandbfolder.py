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
