"""The launch a command runs in, read from the environment variables a multi-process launcher (torchrun, srun) or
Lightning's DDP sets: whether this process joins a run another one starts, the run name and the seed that every
process of a launch agrees on, a launch of another size than the trainer's, a node started alone, and a prediction
made by the launch's first process alone; whether this process is the first (:func:`first_process`), which alone
warns about the command (:func:`warn_once`), the first on its node (:func:`first_on_its_node`), how many
processes a launcher started on this machine (:func:`processes_on_this_machine`), and whether it is a DDP rank's
(:func:`is_ddp_child`). No Lightning import: ``python -m pixeltransformer`` reads it before Lightning is
imported.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import warnings

from .errors import counted, listed
from .layout import config_shown


def joins_a_run() -> bool:
    """True in a process that joins a run another process starts, which finds the run folder already there: any but
    the first process of a launch (:func:`other_launched_process`): a DDP rank Lightning started, the command on
    another node, torchrun's or srun's other processes."""
    return other_launched_process() is not None


def slurm_tasks() -> bool:
    """Whether this process is one of several tasks of a SLURM launch (SLURM_NTASKS > 1, with SLURM_PROCID); not in
    the shell of an interactive allocation, which runs one process (Lightning does not take it for a SLURM launch
    either)."""
    interactive = os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")
    return _rank_variable("SLURM_NTASKS") > 1 and "SLURM_PROCID" in os.environ and not interactive


def launched_run_name() -> str | None:
    """The run name every process of a torchrun or srun launch agrees on when the command gives none (each process
    would take its own start time): ``slurm-<job>[-<step>]``, or ``torchrun-<rendezvous id>``. None outside such a
    launch; a launch that offers neither is refused in one line."""
    if slurm_tasks() and os.environ.get("SLURM_JOB_ID"):
        step = os.environ.get("SLURM_STEP_ID", "")
        return f"slurm-{os.environ['SLURM_JOB_ID']}" + (f"-{step}" if step.isdigit() else "")
    if _rank_variable("WORLD_SIZE") > 1 and "RANK" in os.environ:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id and run_id != "none":
            return f"torchrun-{run_id}"
        raise ValueError(f"this fit is one of {os.environ['WORLD_SIZE']} processes a launcher started, and each would "
                         "name its run folder by its own start time: give --run_name")
    return None


def drawn_seed() -> int:
    """The seed ``seed_everything: true`` stands for: a random one (Lightning's seed_everything() without a seed takes
    0, so every such run had the same initial weights), the same in every process of a launch. A rank Lightning's DDP
    started takes its launcher's (PL_GLOBAL_SEED, which seed_everything set there); torchrun's and srun's processes
    derive it from the launch's id, which they share, and the processes of a launch without one (torchrun without a
    rendezvous id, nodes started by hand) from its MASTER_ADDR and MASTER_PORT; any other process draws it."""
    try:
        launch = launched_run_name()
    except ValueError:  # a torchrun launch without a rendezvous id
        launch = None
    inherited = os.environ.get("PL_GLOBAL_SEED", "")
    if launch is None and joins_a_run() and inherited.isdigit():
        return int(inherited)  # before the address: Lightning gives its ranks MASTER_ADDR and MASTER_PORT too
    if launch is None and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT") \
            and (_rank_variable("WORLD_SIZE") > 1 or "NODE_RANK" in os.environ):
        launch = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    if launch is not None:
        return int.from_bytes(hashlib.sha256(launch.encode()).digest()[:4], "big")
    return secrets.randbelow(2**32)  # numpy's seed range, as seed_everything checks it


def check_launch_size(world_size: int) -> None:
    """A torchrun launch of more processes than the trainer's world (trainer.devices x trainer.num_nodes, 1 on a CPU
    by default): each process would train on its own into the same run folder, and all but the first stopped at
    W&B with a traceback. Refused in one line that gives the trainer settings for the launch. (A DDP trainer's
    devices Lightning checks against the launch itself; a single-device trainer's it does not.)"""
    launched = _rank_variable("WORLD_SIZE")
    torchrun = all(name in os.environ for name in ("RANK", "GROUP_RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"))
    if not torchrun or launched <= 1 or world_size == launched:  # (the variables Lightning takes for torchrun's)
        return
    per_node = _rank_variable("LOCAL_WORLD_SIZE") or launched
    raise ValueError(f"torchrun started {launched} processes, but the trainer runs {world_size} (trainer.devices x "
                     f"trainer.num_nodes): give --trainer.devices={per_node} --trainer.num_nodes="
                     f"{max(launched // per_node, 1)} --trainer.strategy=ddp, or {config_shown('trainer/gpu.yaml')} "
                     "on GPUs")


# what each node of a multi-node start by hand needs (Lightning's own environment, LightningEnvironment): its rank
# (NODE_RANK, else 0 on every node) and where node 0 waits for the others (MASTER_PORT, else each node picks a free
# port of its own; MASTER_ADDR, else each looks on its own machine, 127.0.0.1)
BY_HAND = ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT")


# the cluster environment Lightning has for a Kubeflow PyTorchJob, which it does not detect by itself
KUBEFLOW = "lightning.fabric.plugins.environments.KubeflowEnvironment"


def started_by_hand(num_nodes: int, environment: str) -> bool | None:
    """Whether a command of trainer.num_nodes above 1 in Lightning's own environment was started on each node by
    hand (all of :data:`BY_HAND` set); None where neither applies (one node, or a launcher's or cluster's start)."""
    if num_nodes <= 1 or environment != "LightningEnvironment":
        return None
    return all(name in os.environ for name in BY_HAND)


def check_node_launch(num_nodes: int, environment: str) -> None:
    """trainer.num_nodes above 1 in a command started on one machine by hand: Lightning's own environment (no
    torchrun, srun or other launcher) started this node's processes, which waited for the other nodes' forever
    after "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2". Refused in one line, unless NODE_RANK, MASTER_ADDR
    and MASTER_PORT (:data:`BY_HAND`) say that the same command is started on each node by hand, as Lightning's
    cluster guide does it (one of them alone let it through, to wait as well). A Kubeflow PyTorchJob without
    torchrun (RANK and WORLD_SIZE, no NODE_RANK) is told of Kubeflow's environment (:data:`KUBEFLOW`)."""
    if started_by_hand(num_nodes, environment) is not False:
        return
    given = [name for name in BY_HAND if name in os.environ]
    missing = [name for name in BY_HAND if name not in os.environ]
    unset = f"; {listed(given)} {'is' if len(given) == 1 else 'are'} set, {listed(missing)} not" if given else ""
    kubeflow = all(name in os.environ for name in ("RANK", "WORLD_SIZE")) and "NODE_RANK" not in os.environ
    job = f"; a Kubeflow PyTorchJob: --trainer.plugins {KUBEFLOW}" if kubeflow else ""
    raise ValueError(f"trainer.num_nodes={num_nodes}, but no launcher started this command on {num_nodes} nodes "
                     f"(torchrun, srun, or {listed(BY_HAND)} on each node{unset}), so it would wait for the others "
                     f"forever: start it on every node (torchrun --nnodes {num_nodes} ...{job}), or leave out "
                     "--trainer.num_nodes on one machine")


def waiting_line(num_nodes: int, environment: str) -> str | None:
    """The line a node started by hand (:data:`BY_HAND`) prints before it waits for the others, where Lightning's
    "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" was followed by silence until every node had joined; None
    for one node or a launcher's start."""
    if not started_by_hand(num_nodes, environment):
        return None
    others = num_nodes - 1
    return (f"[run] waiting for the other {counted(others, 'node')} at {os.environ['MASTER_ADDR']}:"
            f"{os.environ['MASTER_PORT']} (node rank {os.environ['NODE_RANK']}) ...")


# what torchrun and srun tell the processes they start: Lightning would join a predict to that world (and refuses
# SLURM's --ntasks without --ntasks-per-node)
LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                      "TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_PROCID", "SLURM_LOCALID")
# the variables that make a command a launcher's or a cluster's (torchrun, SLURM, LSF, MPI) and not one of Lightning's
# own environment (LightningEnvironment), or a process Lightning started itself (LOCAL_RANK): a launcher's but those
# of a start by hand (:data:`BY_HAND`), and KUBERNETES_PORT, which Lightning reads none of, for a cluster we cannot
# judge before the trainer
CLUSTER_VARIABLES = (*(name for name in LAUNCHER_VARIABLES if name not in BY_HAND), "KUBERNETES_PORT")
CLUSTER_PREFIXES = ("SLURM_", "LSB_", "JSM_", "OMPI_", "PMI_", "PMIX_")


def own_environment() -> str | None:
    """"LightningEnvironment" where Lightning will run a command in its own environment for sure, read before it is
    imported: no launcher's or cluster's variable is set (:data:`CLUSTER_VARIABLES`); None where only the trainer
    can tell (its cluster_environment)."""
    if any(name in os.environ for name in CLUSTER_VARIABLES) or any(name.startswith(CLUSTER_PREFIXES)
                                                                       for name in os.environ):
        return None
    return "LightningEnvironment"


def _rank_variable(name: str) -> int:
    try:
        return int(os.environ.get(name) or 0)
    except ValueError:
        return 0


def other_launched_process() -> str | None:
    """Under a multi-process launcher, the variables that make this process another than the launcher's first, for
    the line it prints: torchrun's RANK, LOCAL_RANK and GROUP_RANK (of WORLD_SIZE), Lightning's NODE_RANK, SLURM's
    SLURM_PROCID (of SLURM_NTASKS > 1; an sbatch script alone is task 0). None in the first process, and in a
    command started as one process."""
    named = [f"{name}={os.environ[name]}" for name in ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK")
             if _rank_variable(name) > 0]
    if _rank_variable("SLURM_NTASKS") > 1 and _rank_variable("SLURM_PROCID") > 0:
        named.append(f"SLURM_PROCID={os.environ['SLURM_PROCID']} of SLURM_NTASKS={os.environ['SLURM_NTASKS']}")
    return ", ".join(named) or None


def predict_in_the_first_process(argv: list[str]) -> None:
    """`predict` started by torchrun or srun runs in every process the launcher starts, with the same command line: a
    prediction is one input, which the first process completes alone, on one device (predict.one_device), as a
    process of its own (the launcher's variables are removed from its environment). Any other process says so in
    one line and exits with status 0 (`python -m pixeltransformer`: before Lightning is imported), since a process
    that failed would make the launcher stop the first one too."""
    if not argv or argv[0] != "predict":
        return
    if (why := other_launched_process()) is not None:
        print(f"[run] predict runs in the launcher's first process only; this one ({why}) exits", flush=True)
        raise SystemExit(0)
    for name in LAUNCHER_VARIABLES:
        os.environ.pop(name, None)


def first_process() -> bool:
    """The process a command was started as on the first node: the one that names, prints and keeps the run folder."""
    return not joins_a_run()


def first_on_its_node() -> bool:
    """The process a launch started first on its node, which reads that node's data in Lightning's prepare_data:
    local rank 0 (torchrun's LOCAL_RANK, SLURM's SLURM_LOCALID of SLURM_NTASKS > 1), or a node's command started by
    hand."""
    return _rank_variable("LOCAL_RANK") == 0 and not (_rank_variable("SLURM_NTASKS") > 1
                                                      and _rank_variable("SLURM_LOCALID") > 0)


def processes_on_this_machine() -> int:
    """The processes a launcher started on this machine, this one among them: torchrun's LOCAL_WORLD_SIZE, or for
    SLURM's tasks (:func:`slurm_tasks`) this node's count in the step's SLURM_STEP_TASKS_PER_NODE, else
    SLURM_NTASKS_PER_NODE (the job's, which an srun of another layout in that job inherits: the step's wins); 1
    where none is set (a command started by hand, and Lightning's own DDP, whose processes do not learn how many
    it starts on a machine)."""
    if (local := _rank_variable("LOCAL_WORLD_SIZE")) > 0:
        return local
    if not slurm_tasks():
        return 1
    return _step_tasks_on_this_node() or max(_rank_variable("SLURM_NTASKS_PER_NODE"), 1)


def _step_tasks_on_this_node() -> int:
    """SLURM_STEP_TASKS_PER_NODE's count (``4``, or ``2(x2),1`` over nodes) of this SLURM_NODEID's node; 0 where it
    does not say."""
    items = [re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", item.strip())
             for item in os.environ.get("SLURM_STEP_TASKS_PER_NODE", "").split(",")]
    if not all(items) or (node := _rank_variable("SLURM_NODEID")) < 0:
        return 0
    for item in items:  # each a node's count, or a count over (xN) nodes in a row
        tasks, nodes = int(item[1]), int(item[2] or 1)
        if node < nodes:
            return tasks
        node -= nodes
    return 0


def is_ddp_child() -> bool:
    """True in the processes a DDP launcher started for ranks other than local rank zero."""
    return os.environ.get("LOCAL_RANK", "0") != "0"


def warn_once(note: str) -> None:
    """A warning about the command, not a process: from the first process alone (under DDP each rank found it)."""
    if first_process():
        warnings.warn(note)
