"""The launch a command runs in: the processes of a torchrun or srun launch join the run the first one names, and
share one run name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pixeltransformer.launch import first_on_its_node, joins_a_run, launched_run_name, processes_on_this_machine
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


FIRST_ON_A_NODE = {"torchrun, second node", "Lightning, second node"}  # local rank 0 of a node but the first


@pytest.mark.parametrize("launch", [None, *LAUNCHES, "srun task 0 of node 1", "srun task 1 of node 1"])
def test_the_first_process_on_each_node_is_told_from_the_others(monkeypatch, launch):
    """A resume on other files is refused by each node's first process (which reads its node's data), so that no
    node waits for another's refusal until the process group's timeout: local rank 0, or SLURM_LOCALID 0."""
    for name in LAUNCHER_NAMES | {"SLURM_LOCALID"}:
        monkeypatch.delenv(name, raising=False)
    env = {"srun task 0 of node 1": {"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_LOCALID": "0"},
           "srun task 1 of node 1": {"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_LOCALID": "1"}}.get(
        launch, LAUNCHES.get(launch, {}))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert first_on_its_node() == (launch in (None, "srun task 0 of node 1", *FIRST_ON_A_NODE))


@pytest.mark.parametrize("env, processes", [
    ({}, 1),
    ({"LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}, 2),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "1", "SLURM_NTASKS_PER_NODE": "2"}, 2),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "1", "SLURM_STEP_TASKS_PER_NODE": "4"}, 4),  # srun -n 4 on one node
    # srun --ntasks=2 in a job of sbatch --ntasks-per-node=4, whose SLURM_NTASKS_PER_NODE its tasks inherit
    ({"SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_NTASKS_PER_NODE": "4", "SLURM_STEP_TASKS_PER_NODE": "2"}, 2),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "1", "SLURM_NTASKS_PER_NODE": "2", "SLURM_STEP_TASKS_PER_NODE": "x"}, 2),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_NODEID": "1"}, 2),
    ({"SLURM_NTASKS": "5", "SLURM_PROCID": "4", "SLURM_STEP_TASKS_PER_NODE": "2(x2),1", "SLURM_NODEID": "2"}, 1),
    ({"SLURM_NTASKS": "5", "SLURM_PROCID": "0", "SLURM_STEP_TASKS_PER_NODE": "3,2", "SLURM_NODEID": "0"}, 3),
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_STEP_TASKS_PER_NODE": "1"}, 1),
    ({"SLURM_NTASKS": "7", "SLURM_PROCID": "6", "SLURM_STEP_TASKS_PER_NODE": "3,2(x2),1", "SLURM_NODEID": "2"}, 2),
    # a node past the list, a negative one, or a value that is no list of counts: not told, 1
    *(({"SLURM_NTASKS": "4", "SLURM_PROCID": "1", "SLURM_STEP_TASKS_PER_NODE": tasks, "SLURM_NODEID": node}, 1)
      for tasks, node in (("2(x2)", "5"), ("3,2", "-1"), ("4(x2", "0"), ("1x2", "0"), ("2(x2)(x3)", "0"))),
])
def test_the_processes_a_launcher_started_on_this_machine_are_counted(monkeypatch, env, processes):
    """srun -n 4 without --ntasks-per-node sets SLURM_STEP_TASKS_PER_NODE ("4", or "2(x2),1" over nodes) but not
    SLURM_NTASKS_PER_NODE: its processes were counted as one each. A step's own layout wins over the
    SLURM_NTASKS_PER_NODE of the job's allocation, which an srun of fewer tasks inherits."""
    for name in LAUNCHER_NAMES | {"LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE", "SLURM_STEP_TASKS_PER_NODE",
                                  "SLURM_NODEID"}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert processes_on_this_machine() == processes


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


def clear_launch(monkeypatch) -> None:
    """No variable of a launcher, a cluster or a start by hand: a command typed on one machine."""
    import os

    from pixeltransformer.launch import BY_HAND, CLUSTER_PREFIXES, CLUSTER_VARIABLES

    for name in [*LAUNCHER_NAMES, *BY_HAND, *CLUSTER_VARIABLES]:
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith(CLUSTER_PREFIXES)]:
        monkeypatch.delenv(name)


NODES_REFUSED = ("trainer.num_nodes=2, but no launcher started this command on 2 nodes (torchrun, srun, or NODE_RANK, "
                 "MASTER_ADDR and MASTER_PORT on each node{}), so it would wait for the others forever: start it on "
                 "every node (torchrun --nnodes 2 ...), or leave out --trainer.num_nodes on one machine")


def test_more_nodes_than_were_started_are_refused_before_lightning(tmp_path, monkeypatch):
    """--trainer.num_nodes=2 (or a config's num_nodes: 2) on one machine was refused once Lightning had been imported
    and the trainer made, 20 to over 60 s on a busy machine without a line: preflight refuses it from the command line
    and the config files, the last to set it counting; under a launcher's variables the trainer's environment tells."""
    from pixeltransformer.preflight import check_nodes_started

    clear_launch(monkeypatch)
    polynomial = str(REPO / "configs/polynomial.yaml")
    two = tmp_path / "two_nodes.yaml"
    two.write_text("trainer:\n  num_nodes: 2\n")
    one = tmp_path / "one_node.yaml"
    one.write_text("trainer:\n  num_nodes: 1\n")
    refused = re.escape(NODES_REFUSED.format(""))
    for argv in (["--trainer.num_nodes", "2"], ["--trainer.num_nodes=2"], ["--config", str(two)],
                 ["--trainer.num_nodes=1", "--config", str(two)], ["--config", str(one), "--trainer.num_nodes=2"]):
        with pytest.raises(ValueError, match=f"^{refused}$"):
            preflight(["fit", "--config", polynomial, *argv])
    for argv in (["--trainer.num_nodes=1"], ["--config", str(two), "--trainer.num_nodes=1"],
                 ["--trainer.num_nodes=2", "--config", str(one)], []):
        check_nodes_started(["fit", "--config", polynomial, *argv])
    for stage in ("validate", "test"):  # an evaluation waits for the other nodes as a fit does
        with pytest.raises(ValueError, match=f"^{refused}$"):
            check_nodes_started([stage, "--config", polynomial, "--trainer.num_nodes=2"])
    # a resume whose run's config.yaml sets num_nodes: 2, refused before its checkpoint is read
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    config = yaml.safe_load((REPO / "configs/polynomial.yaml").read_text())
    config["trainer"]["num_nodes"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"^{refused}$"):
        preflight(["fit", "--resume", str(run)])
    check_nodes_started(["fit", "--resume", str(run), "--trainer.num_nodes=1"])
    # a whole trainer given at once (a file or YAML text), Lightning's parser reads the last num_nodes: the trainer's
    # late check tells; so does a cluster environment of the user's (plugins, or the strategy's)
    trainer = tmp_path / "trainer_one_node.yaml"  # the trainer group's own options
    trainer.write_text("num_nodes: 1\n")
    for argv in (["--trainer.num_nodes=2", "--trainer", str(trainer)],
                 ["--trainer.num_nodes=2", f"--trainer={trainer}"],
                 ["--trainer.num_nodes=2", "--trainer", "{num_nodes: 1}"],
                 ["--config", str(two), "--trainer", str(trainer)],
                 ["--trainer.num_nodes=2", "--trainer.plugins",
                  "lightning.fabric.plugins.environments.KubeflowEnvironment"],
                 ["--trainer.num_nodes=2", "--trainer.strategy.init_args.cluster_environment",
                  "lightning.fabric.plugins.environments.KubeflowEnvironment"]):
        check_nodes_started(["fit", "--config", polynomial, *argv])
    plugins = tmp_path / "kubeflow.yaml"
    plugins.write_text("trainer:\n  num_nodes: 2\n  plugins:\n  - class_path: "
                       "lightning.fabric.plugins.environments.KubeflowEnvironment\n")
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text("trainer:\n  num_nodes: 2\n  strategy:\n    class_path: "
                        "lightning.pytorch.strategies.DDPStrategy\n    init_args:\n      cluster_environment: "
                        "lightning.fabric.plugins.environments.KubeflowEnvironment\n")
    for config in (plugins, strategy):
        check_nodes_started(["fit", "--config", polynomial, "--config", str(config)])
    check_nodes_started(["predict", "--config", polynomial, "--trainer.num_nodes=2"])  # one node: predict.one_device
    for shown in ("--print_config", "--print_config=skip_null", "--help"):  # they start nothing
        check_nodes_started(["fit", "--config", polynomial, "--trainer.num_nodes=2", shown])
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # an allocation: Lightning's environment for it tells
    check_nodes_started(["fit", "--config", polynomial, "--trainer.num_nodes=2"])


def test_a_start_by_hand_needs_the_node_rank_and_node_0_s_address_and_port(monkeypatch, capsys):
    """MASTER_ADDR alone (or NODE_RANK alone) let --trainer.num_nodes=2 through, where the refusal asked for NODE_RANK
    and MASTER_ADDR: each node of a start by hand needs all three of Lightning's variables, and the line names those
    that are missing. A node that has them says what it waits for before Lightning's silent wait."""
    from pixeltransformer.launch import check_node_launch, waiting_line

    clear_launch(monkeypatch)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(ValueError, match=re.escape(NODES_REFUSED.format("; MASTER_ADDR is set, NODE_RANK and "
                                                                        "MASTER_PORT not"))):
        check_node_launch(2, "LightningEnvironment")
    assert waiting_line(2, "LightningEnvironment") is None
    monkeypatch.setenv("MASTER_PORT", "29561")
    monkeypatch.setenv("NODE_RANK", "1")
    check_node_launch(2, "LightningEnvironment")
    assert waiting_line(3, "LightningEnvironment") == \
        "[run] waiting for the other 2 nodes at 127.0.0.1:29561 (node rank 1) ..."
    assert waiting_line(2, "LightningEnvironment") == \
        "[run] waiting for the other 1 node at 127.0.0.1:29561 (node rank 1) ..."
    assert waiting_line(1, "LightningEnvironment") is None and waiting_line(2, "SLURMEnvironment") is None


def test_a_kubeflow_job_without_torchrun_is_told_of_kubeflow_s_environment(monkeypatch):
    """A Kubeflow PyTorchJob started without torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT and no
    NODE_RANK, which Lightning reads as its own environment's start by hand: the refusal names the cluster
    environment Lightning has for it, which it does not detect by itself."""
    import importlib

    from pixeltransformer.launch import KUBEFLOW, check_node_launch

    module, _, name = KUBEFLOW.rpartition(".")
    assert getattr(importlib.import_module(module), name).__name__ == "KubeflowEnvironment"
    clear_launch(monkeypatch)
    for name, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "23456"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="^" + re.escape(
            NODES_REFUSED.format("; MASTER_ADDR and MASTER_PORT are set, NODE_RANK not").replace(
                "(torchrun --nnodes 2 ...)", "(torchrun --nnodes 2 ...; a Kubeflow PyTorchJob: --trainer.plugins "
                f"{KUBEFLOW})")) + "$"):
        check_node_launch(2, "LightningEnvironment")
    monkeypatch.delenv("RANK")  # no launcher's rank: no word of Kubeflow
    with pytest.raises(ValueError, match=r"^(?!.*Kubeflow)"):
        check_node_launch(2, "LightningEnvironment")
