"""The memory a completion holds and the memory at hand for it, compared before anything is computed: a lower bound
on what a grid completion or a sampling run holds (:func:`completion_bytes`, :func:`sample_bytes`, and what the host
keeps of one made on a GPU, :func:`kept_bytes`), a training step keeps (:func:`train_step_bytes`) or an evaluation
step holds (:func:`eval_step_bytes`), against the memory a new allocation can take now (:func:`memory_at_hand`: a
CUDA device's free memory, else the machine's available memory or what is left under a container's limit or this
process's address-space limit), shared by the ranks of a distributed run on one machine. `predict --resolution` and
``--num_samples``, the Pictures' resolution, an evaluation's samples, the batch_size of a fit and of an evaluation and
the module's ``complete`` and ``sample`` refuse what cannot fit (:func:`shortfall`) in one line naming the most that
can (:meth:`Shortfall.most`), in bytes and points as :func:`in_bytes` and :func:`point_count` write them.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .allocator import free_heap
from .launch import first_on_its_node, is_ddp_child, processes_on_this_machine
from .signal import SignalSpec


ASSUMED_MEMORY = 2**40  # bytes taken for the memory of a system that does not report it (os.sysconf): 1 TiB
MEMINFO = Path("/proc/meminfo")  # where Linux reports the memory available now (available_memory)
CGROUPS = Path("/sys/fs/cgroup")  # where Linux mounts the control groups: a container's memory limit
OWN_CGROUPS = Path("/proc/self/cgroup")  # this process's control group in each hierarchy
PROC_STATUS = Path("/proc/self/status")  # this process's mapped size (VmSize), which its address-space limit bounds


def host_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not report it (os.sysconf's names
    are POSIX: Linux and macOS have them, Windows does not)."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page if pages > 0 and page > 0 else None


def proc_fields(path: Path) -> dict[str, str]:
    """A /proc file's "name: value" lines by name (OSError where it is not readable)."""
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)


def available_memory() -> int | None:
    """The bytes a new allocation can still take on this machine now: Linux's MemAvailable (free memory and the
    caches the kernel can drop, less what other processes and this one already hold) plus free swap, or None where
    the system does not report it (macOS, Windows, a kernel before 3.14). What other processes hold is not this
    command's to take: a completion whose lower bound was under the machine's total but over this was let through,
    to fail in torch's allocator after the model had loaded."""
    try:
        fields = proc_fields(MEMINFO)
        available, swap = (int(fields.get(name, "0 kB").split()[0]) * 1024 for name in ("MemAvailable", "SwapFree"))
    except (OSError, ValueError, IndexError):
        return None
    return available + swap if "MemAvailable" in fields else None


def falls_as_allocated() -> bool:
    """Whether the memory at hand off a GPU (:func:`memory_at_hand`) falls as this process allocates: the memory
    available now or a container's remaining memory, which what it holds is already out of; not the machine's total
    or the memory assumed, where the system reports neither."""
    return available_memory() is not None


@functools.cache
def memory_groups(own: Path, root: Path) -> tuple[tuple[Path, tuple[str, str], tuple[str, str]], ...]:
    """The control groups whose memory limit binds this process, as ``own`` (/proc/self/cgroup) lists its groups
    under ``root`` (/sys/fs/cgroup): each group with a memory controller and every group above it, with the names of
    its limit and usage files and of its file cache in memory.stat. Read once a process: the groups holding it do not
    change while it runs, their limit and usage do. OSError where ``own`` is not readable (not Linux), which is not
    kept: the next call reads it again (a read that failed once would have left the container's limit unseen)."""
    lines = own.read_text().splitlines()
    groups = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # the unified (v2) hierarchy
            top, files, cache = root, ("memory.max", "memory.current"), ("active_file", "inactive_file")
        elif "memory" in controllers.split(","):
            top, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
            cache = ("total_active_file", "total_inactive_file")  # the group's and its children's, as the usage
        else:
            continue
        folder = top / path.strip().lstrip("/")
        above = [up for up in folder.parents if up.is_relative_to(top)]  # a limit above binds too
        groups += [(group, files, cache) for group in (folder, *above)]
    return tuple(groups)


def container_memory() -> tuple[int, int] | None:
    """The bytes left under the tightest memory limit of this process's control group or one above it (a container's
    limit: cgroup v2's memory.max less memory.current, v1's memory.limit_in_bytes less memory.usage_in_bytes, plus
    the page cache of files the kernel drops when a new allocation needs it: memory.stat's active_file and
    inactive_file, v1's total_ ones), and that limit; None where none is set or readable. Inside a container
    /proc/meminfo reports the host's memory: a completion the host had room for, but not the container, was let
    through to be killed for memory. The usage counts the cache of every file read (MemAvailable leaves it out), so
    without it a container reading its data sat near its limit and every check refused. The groups are read once
    (:func:`memory_groups`; a read that failed again at the next call), their limit and usage at every call."""
    try:
        groups = memory_groups(OWN_CGROUPS, CGROUPS)
    except OSError:  # no /proc/self/cgroup (not Linux), or a read that failed: tried again at the next call
        return None
    tightest = None
    for group, files, cache in groups:
        try:
            limit, used = (int((group / name).read_text().strip()) for name in files)
        except (OSError, ValueError):  # no such group here ("max": no limit)
            continue
        left = min(limit, max(0, limit - used + file_cache(group / "memory.stat", cache)))
        if tightest is None or left < tightest[0]:
            tightest = (left, limit)
    return tightest


def file_cache(stat: Path, names: tuple[str, ...]) -> int:
    """The bytes of a cgroup's memory.stat ``names`` (its file pages, which the kernel drops for a new allocation;
    shared memory, /dev/shm's, is not among them), 0 where the file is not readable."""
    try:
        fields = dict(line.split(None, 1) for line in stat.read_text().splitlines() if line.strip())
        return sum(int(fields.get(name, 0)) for name in names)
    except (OSError, ValueError):
        return 0


def address_limit() -> int | None:
    """This process's address-space limit in bytes (`ulimit -v`: RLIMIT_AS), None without one or where the system
    has none (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if limit == resource.RLIM_INFINITY or limit < 0 else limit


def address_space() -> tuple[int, int] | None:
    """The bytes this process may still map under its address-space limit (:func:`address_limit` less its mapped
    size, /proc/self/status's VmSize; the whole limit where that is not readable), and that limit; None without
    one. Under `ulimit -v` (batch schedulers and shared login nodes set it) a completion the machine had room for
    was let through, to fail in torch's allocator with a traceback. The heap's free bytes (:func:`free_heap`),
    which VmSize counts but a new allocation reuses, are room (what keep_freed_memory keeps mapped among them),
    though perhaps in pieces."""
    if (limit := address_limit()) is None:
        return None
    try:
        fields = proc_fields(PROC_STATUS)
        mapped = int(fields["VmSize"].split()[0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        mapped = 0
    return min(limit, max(0, limit - mapped + free_heap())), limit


def device_memory(device: torch.device) -> int:
    """The bytes a new allocation can still take on CUDA ``device`` now: its free memory, and what torch's caching
    allocator holds there without a tensor in it."""
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def completion_bytes(spec: SignalSpec, points: int, num_samples: int) -> int:
    """A lower bound on the memory a completion on ``points`` grid points holds at once, in bytes: its float32 grid
    positions [N, P] and the distribution's parameters there [N, NB * (2 + V)] (a framed model's V + 1 more are not
    counted), held throughout, and the larger of what comes on top of them at two moments: what reading them takes
    (NB * (2 V + 2) + V floats a point: 2.3 times the parameters at 150 bins and V = 1), then the mean and the
    samples' chains (:func:`sample_bytes`). The mean, P(v < t | S) and the finite check read the parameters a block
    at a time (``BinnedGaussian.by_rows``); what a point costs past the parameters is then what the domain makes of
    the grid (an SDF prediction's meshes and pictures), about as much: the peak resident size of an SDF prediction
    without samples grew 4.27 kB a point from 40^3 to 64^3, against 4.22 counted here (7.5 kB while the whole grid
    was read at once, when a 175^3 grid this let through took 33 GiB). The SDF figure's meshes drawn one at a time,
    3 samples at 64^3 added 27 MB to that peak, about what :func:`sample_bytes` counts (26 MB; 604 MB while the
    figure held every mesh at once). What is not counted (the model, its activations, the observed points' lookups,
    the samples' copy in their grid) only adds, so a grid this refuses could not be completed, and one it lets
    through may still be too large."""
    nb, v = spec.num_bins, spec.val_dims
    held = 4 * points * (spec.pos_dims + nb * (2 + v))
    mean = 4 * points * (nb * (2 * v + 2) + v)
    return held + max(mean, 4 * points * v + sample_bytes(spec, points, num_samples))


def kept_bytes(spec: SignalSpec, points: int, num_samples: int) -> int:
    """The part of :func:`completion_bytes` a finished completion keeps, in bytes: the distribution's parameters
    [N, NB * (2 + V)], the mean [N, V] and the samples [S, N, V] (float32), what ``Completion.cpu()`` brings back
    to the host; the rest (the grid positions, the mean's reading, the chains) lives while it is computed."""
    nb, v = spec.num_bins, spec.val_dims
    return 4 * points * (nb * (2 + v) + v * (1 + num_samples))


def host_held(device: torch.device | str | None) -> Callable[[SignalSpec, int, int], int]:
    """What the host holds of a completion made on ``device`` (bytes, of a spec, points and samples): on a CUDA
    device, where the completion is made and checked (``check_grid_memory``), what comes back (:func:`kept_bytes`);
    else the whole completion (:func:`completion_bytes`)."""
    return kept_bytes if on_cuda(device) else completion_bytes


def sample_bytes(spec: SignalSpec, queries: int, num_samples: int) -> int:
    """A lower bound on the memory sampling one signal at ``queries`` positions holds at once, in bytes: each chain's
    float32 query positions [S, Q, P], which queries are observed [S, Q] (bool) and their values [S, Q, V], the
    visiting order's draws [S, Q] (float32) and the order [S, Q] (int64), and the samples [S, Q, V], all held from
    the moment the samples' tensor is made (the drawn steps' buffers, the model's caches and activations are not
    counted)."""
    return queries * num_samples * (4 * spec.pos_dims + 1 + 4 * spec.val_dims + 4 + 8 + 4 * spec.val_dims)


def train_step_bytes(net: Any, batch: int, context: int, queries: int, value_bytes: int = 4) -> int:
    """A lower bound on the activations a training step keeps for its backward pass, in bytes: in each block of
    ``net`` (a NetConfig) the values of each point that a layer norm, a linear layer or the GELU reads again there
    (the block's input, its two layer norms' outputs and the attention's output [B, N, D], the feed-forward's hidden
    layer before and after the GELU [B, N, F]), ``value_bytes`` each (4: float32; 2 under a 16-bit mixed precision),
    over the encoder's N = ``context`` points and the decoder's N = ``queries`` of ``batch`` signals. The attention's
    keys, values and weights, the gradients and the optimizer's state only add: the paper-sized model on images (64
    and 256 points) took 39.5 MB a signal more, measured between batches of 32 and 64, against 29.5 MB counted; the
    tiny model on SDF grids (2048 and 2048 points) 34.8 MB, between batches of 8 and 16, against 18.9 MB."""
    points = net.encoder_layers * context + net.decoder_layers * queries
    return batch * points * value_bytes * (5 * net.width + 2 * net.ffn)


def eval_step_bytes(net: Any, batch: int, context: int, queries: int, value_bytes: int = 4) -> int:
    """A lower bound on what an evaluation's forward pass of ``batch`` signals holds at once, in bytes: without a
    backward pass a layer's values are freed after it, but its widest layer holds its input [B, N, D] and its
    feed-forward hidden layer [B, N, F] together, ``value_bytes`` each, over the larger of the encoder's N =
    ``context`` and the decoder's N = ``queries`` of ``net`` (a NetConfig). The attention's weights, the GELU's
    output and the distribution's parameters only add."""
    return batch * max(context, queries) * value_bytes * (net.width + net.ffn)


def in_bytes(n: float) -> str:
    """n bytes in three figures of the largest binary unit that keeps them below 1000 (1000 GiB reads 0.977 TiB)."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = min(int(math.log(max(n, 1), 1024)), len(units) - 1)
    if n / 1024 ** i >= 999.5 and i + 1 < len(units):  # would print as 1e+03
        i += 1
    return f"{n / 1024 ** i:.3g} {units[i]}"


def on_cuda(device: torch.device | str | None) -> bool:
    """Whether ``device`` is a CUDA device, whose memory a completion there is held in (None: the CPU)."""
    return device is not None and torch.device(device).type == "cuda"


def memory_at_hand(device: torch.device | None = None, ranks: int = 1, own_space: bool = True) -> tuple[int, str]:
    """The bytes of memory a completion may take, and how a message names them. The checks compare a lower bound of
    what it holds with this, so they refuse only what cannot fit: on a CUDA ``device``, its memory free now
    (:func:`device_memory`); else the memory available now (:func:`available_memory`, or what is left under a
    container's memory limit where that is less: :func:`container_memory`), else where the system does
    not report that this machine's total, else ASSUMED_MEMORY. ``ranks``: the processes of a distributed run on
    this machine that each hold such a completion at once, which share its memory (each may take its part) but not a
    GPU's: each CUDA rank has its own device. The first process on this machine (:func:`launch.first_on_its_node`)
    checks the share of each; another, which may check once others filled theirs (Lightning's ddp starts them after
    its first made its data), checks its own need against what is left now: a share of what was left refused runs
    that fit, in those processes alone, which the others then waited for. Where all start at once (torchrun, srun)
    the first may still check after the others filled theirs, and refuse near the limit: then it alone. Off a GPU,
    what is left under this process's address-space limit (:func:`address_space`, each process's own) where that is
    less than its part; ``own_space`` False: the memory is for processes still to start, each under its own limit,
    which this one's does not bound."""
    if cuda := on_cuda(device):
        memory, words = device_memory(device), f"the {{}} of memory free on {device} now"
    elif (memory := available_memory()) is not None:
        words = "the {} of memory available now"
        if (container := container_memory()) is not None and container[0] < memory:  # /proc/meminfo: the host's
            memory, words = container[0], f"the {{}} left of this container's {in_bytes(container[1])} memory limit"
    elif memory := host_memory():
        words = "this machine's {} of memory"
    else:
        memory, words = ASSUMED_MEMORY, "the {} of memory assumed where the system does not report it"
    words = words.format(in_bytes(memory))
    if ranks > 1 and not cuda and first_on_its_node():  # the others take what is left as they reach it
        memory //= ranks
        words = f"{in_bytes(memory)}, the share of each of this machine's {ranks} processes in {words}"
    if not cuda and own_space and (space := address_space()) is not None and space[0] < memory:  # each process's own
        memory = space[0]
        words = f"the {in_bytes(memory)} left of this process's {in_bytes(space[1])} address-space limit (ulimit -v)"
    return memory, words


def local_ranks(trainer: Any) -> int:
    """The processes of the trainer's distributed run on this machine (its devices a node), 1 without one; without a
    trainer (data made before the command line's Trainer), those a launcher started here
    (:func:`launch.processes_on_this_machine`)."""
    if trainer is None:
        return processes_on_this_machine()
    return int(getattr(trainer, "num_devices", 1) or 1) if getattr(trainer, "world_size", 1) > 1 else 1


def start_method(trainer: Any) -> str | None:
    """How Lightning's DDP launcher of the trainer starts its processes: "fork", "spawn" or "forkserver" (its
    _MultiProcessingLauncher, which hands them this process's data), None where it runs the script again (ddp, whose
    processes make their own) or starts none."""
    return getattr(getattr(getattr(trainer, "strategy", None), "launcher", None), "_start_method", None)


def copies_to_start(trainer: Any) -> int:
    """The copies of data this process made (tensors) that the processes Lightning's own DDP starts on this machine
    add once the trainer runs, by how its launcher starts them (:func:`start_method`): ddp's scripts started again
    each make their own, one for each of its local ranks (:func:`local_ranks`) but those a launcher started here (0
    in a process a DDP launcher started); ddp_fork's share this one's pages (0); ddp_spawn's (or forkserver's) are
    sent them through torch, which moves them into shared memory, a copy made while this one's is held, and maps that
    in each (1)."""
    if (start := start_method(trainer)) is not None:
        return 0 if start == "fork" else 1
    return 0 if is_ddp_child() else max(0, local_ranks(trainer) - processes_on_this_machine())


def point_count(points: int) -> str:
    """A grid's number of points for a message: 1,048,576, or 1e+15 past a billion."""
    return f"{points:,}" if points < 10**9 else f"{points:.3g}"


def grid_words(grid: tuple[int, ...]) -> str:
    """A grid's points for a message: "4,096 points (a 64×64 grid)", its sizes named where it has more than one."""
    shape = f" (a {'×'.join(map(str, grid))} grid)" if len(grid) > 1 else ""
    return f"{point_count(math.prod(grid))} points{shape}"


def largest_fitting(limit: int, need: Callable[[int], int], memory: int, low: int = 1) -> int:
    """The largest whole number below ``limit`` (a resolution, a number of samples) whose ``need`` (bytes, growing
    with it) fits in ``memory``, searched above ``low`` (1: a resolution; 0: samples, where none is a choice);
    ``low`` when none above it does (its own need is not asked)."""
    lo, hi = low, limit
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if need(mid) <= memory else (lo, mid)
    return lo


@dataclass(frozen=True)
class Shortfall:
    """A lower bound ``need`` (bytes) over the ``memory`` at hand, which :func:`memory_at_hand`'s words ``have``
    name: what a memory refusal says, each in its own words around :attr:`words`."""

    need: int
    memory: int
    have: str
    where: str = ""  # what the need is for, placed before the colon of :attr:`words`

    @property
    def words(self) -> str:
        """The refusals' "<need><where>: more than <have>" (after their "need(s) at least")."""
        return f"{in_bytes(self.need)}{self.where}: more than {self.have}"

    def most(self, limit: int, need: Callable[[int], int], low: int = 1) -> int:
        """:func:`largest_fitting` in this memory: the most below ``limit`` whose ``need`` fits."""
        return largest_fitting(limit, need, self.memory, low)

    def remedy(self, option: str, limit: int, need: Callable[[int], int], otherwise: str) -> str:
        """A refusal's remedy: "at most <option> <n>, or <otherwise>", n the most below ``limit`` whose ``need``
        fits (:meth:`most`), or "give <otherwise>" where not even 1 does."""
        most = self.most(limit, need)
        return f"at most {option} {most}, or {otherwise}" if need(most) <= self.memory else f"give {otherwise}"

    def too_many_samples(self, option: str, num_samples: int, need: Callable[[int], int], where: str) -> str | None:
        """The refusal of ``num_samples`` samples that do not fit where fewer do: "<option> <num_samples> <where>
        need at least <words>; at most <option> <n>", n the most samples whose ``need`` fits (:meth:`most`), as
        `predict --num_samples` and the module's ``complete`` and ``sample`` say it; None where not even one sample
        fits, and the grid or the queries (``where``: "on 64 points", "at 16 queries of 3 signals") are too many."""
        most = self.most(num_samples, need, low=0)
        return f"{option} {num_samples} {where} need at least {self.words}; at most {option} {most}" if most else None


def shortfall(need: int, device: torch.device | None = None, ranks: int = 1,
              own_space: bool = True) -> Shortfall | None:
    """None where ``need`` bytes fit in the memory at hand (:func:`memory_at_hand` of ``device``, ``ranks`` and
    ``own_space``), else how far they do not."""
    memory, have = memory_at_hand(device, ranks, own_space)
    return None if need <= memory else Shortfall(need, memory, have)
