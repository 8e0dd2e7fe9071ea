"""The launch a command runs in: the processes of a torchrun or srun launch join the run the first one names, and
share one run name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixeltransformer.launch import joins_a_run, launched_run_name
from pixeltransformer.preflight import preflight

REPO = Path(__file__).resolve().parents[2]


LAUNCHES = {  # what each launcher tells the processes it starts
    "torchrun rank 1": {"RANK": "1", "LOCAL_RANK": "1", "GROUP_RANK": "0", "WORLD_SIZE": "4", "TORCHELASTIC_RUN_ID": "j7"},
    "torchrun, second node": {"RANK": "2", "LOCAL_RANK": "0", "GROUP_RANK": "1", "WORLD_SIZE": "4",
                              "TORCHELASTIC_RUN_ID": "j7"},
    "srun task 1": {"SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "88"},
    "Lightning's rank 1": {"LOCAL_RANK": "1", "NODE_RANK": "0"},
    "Lightning, second node": {"LOCAL_RANK": "0", "NODE_RANK": "1"},
}
LAUNCHER_NAMES = {name for env in LAUNCHES.values() for name in env} | {"SLURM_STEP_ID", "SLURM_JOB_NAME"}


def test_every_process_of_a_launch_but_the_first_joins_its_run(tmp_path, monkeypatch):
    """torchrun's and srun's other processes (RANK, SLURM_PROCID > 0; LOCAL_RANK alone is 0 on a second node) join
    the run the first one names: they neither name it (a [run] line each) nor refuse the folder it just made."""
    for name in LAUNCHER_NAMES:
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 0\n")  # as the first process has just written it
    argv = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--run_root", str(tmp_path / "runs"),
            "--run_name", "r"]
    assert not joins_a_run()
    with pytest.raises(FileExistsError, match="already exists"):
        preflight(argv)
    for launch, env in LAUNCHES.items():
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            assert joins_a_run(), launch
            preflight(argv)
    with monkeypatch.context() as m:  # srun's first task
        m.setenv("SLURM_NTASKS", "2"), m.setenv("SLURM_PROCID", "0")
        assert not joins_a_run()


def test_a_launch_names_one_run_for_all_its_processes(monkeypatch):
    """Without --run_name each process of a torchrun or srun launch would name its run by its own start time."""
    for name in LAUNCHER_NAMES:
        monkeypatch.delenv(name, raising=False)
    assert launched_run_name() is None  # one process: the start time names it
    monkeypatch.setenv("SLURM_NTASKS", "1"), monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_JOB_ID", "88")
    assert launched_run_name() is None  # an sbatch script of one task
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert launched_run_name() == "slurm-88"
    monkeypatch.setenv("SLURM_STEP_ID", "2")
    assert launched_run_name() == "slurm-88-2"
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # a shell of an interactive allocation runs one process
    assert launched_run_name() is None
    monkeypatch.delenv("SLURM_JOB_NAME")
    for name in ("SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("RANK", "0"), monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "3f2a")
    assert launched_run_name() == "torchrun-3f2a"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # torchrun's static rendezvous: no shared id
    with pytest.raises(ValueError, match=r"^this fit is one of 4 processes a launcher started, and each would name "
                                         r"its run folder by its own start time: give --run_name$"):
        launched_run_name()
