"""`pixeltransformer predict`: condition a trained model on a user's own file, through LightningCLI.

    pixeltransformer predict --config configs/<domain>.yaml --ckpt_path CKPT --input FILE [--* ...]

The options below are the `--*` group. The module's Domain reads the file into a signal (or a mask, or a
context set), ``PixelTransformerModule.predict_step`` completes it on a grid (mean and samples), and
:class:`PredictionWriter` (a Lightning ``BasePredictionWriter``) hands each completion to the Domain, which
writes its pictures, meshes or videos, then writes prediction.json beside them. A prediction is one input, so it
runs in one process on one device: a config that asks for several (configs/trainer/ddp.yaml, gpu.yaml) is narrowed
to one by :func:`one_device`, and the CLI says so; under a launcher (torchrun, srun) only its first process predicts
(launch.predict_in_the_first_process). A grid or samples too large for the memory at hand are refused before the model
loads (:func:`check_resolution`, by the estimates of memory.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import signal as signals  # the module: `signal` names a signal tensor here
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import Dataset

from . import loading
from .checkpointing import SIGTERM_STATUS, give_back_sigterm
from .config import is_number
from .domain import Domain, checked_context, context_columns
from .errors import as_written, check_count
from .files import check_writable_below, missing_folders, remove_empty, staging_folder, user_path, write_json
from .inference import check_temperature, item_seeds
from .loopbar import quiet_loops
from .memory import grid_words, host_held, in_bytes, shortfall
from .progress import shows_progress
from .sets import draw_context, grid_sizes
from .signal import SignalSpec


DEFAULT_CONTEXT = 64  # --num_context when not given, capped at a quarter of the input's points
DEFAULT_SAMPLES = 3  # --num_samples when not given


@dataclass
class PredictOptions:
    """What `pixeltransformer predict` observes and draws.

    Args:
        input: the user's file: an image, a mesh or SDF grid, a video ... (what the domain reads).
        context: S itself, instead of samples of the input: JSON rows ``[position..., value...]`` (positions in
            [-1, 1] unless the domain says otherwise), inline or a .json file.
        mask: a mask file, white = observed (domains on a pixel grid); not with context.
        num_context: K random observed samples of the input (without context or mask); default 64, or a quarter
            of the input's points when that is fewer (16 of an 8x8 digit), so that something is left to complete.
        num_samples: samples to draw (0: the mean only); more than the memory available now could hold are refused,
            naming the most that can.
        n_autoregressive: N', the autoregressive steps per sample; the rest is filled with means (null: all).
        temperature: sampling temperature (0: the most likely bin's mean at each step, a greedy
            completion).
        resolution: grid size per axis of the outputs (default: the model's grid; polynomials: 64 points); for
            videos, the frames' shorter side, their number unchanged (scored against the input read at that size, not
            scored where its frames are smaller); a grid whose completion could not fit in the memory available now is
            refused, naming the largest that can.
        seed: fixes S and the samples (the first samples of a larger num_samples are the same).
        out: output folder, new or empty (default: <run>/predict/<input name>, numbered -2, -3 ... when
            that folder already holds an earlier prediction).
    """

    input: str | None = None
    context: str | None = None
    mask: str | None = None
    num_context: int | None = None
    num_samples: int = DEFAULT_SAMPLES
    n_autoregressive: int | None = 2048
    temperature: float = 1.0
    resolution: int | None = None
    seed: int = 0
    out: str | None = None

    def check(self) -> None:
        """What can be checked before the model runs; the domain checks its files."""
        if self.mask and not self.input:  # before the line for neither, which offers --context, no mask's partner
            raise ValueError("--mask needs --input (the signal the mask observes)")
        if not self.input and not self.context:
            raise ValueError("predict needs --input (a file to observe) or --context (S itself)")
        for name in ("input", "mask"):
            value = getattr(self, name)
            if value and not user_path(value).exists():
                raise FileNotFoundError(f"--{name}: file not found: {value}")
            if value and user_path(value).is_dir():
                raise ValueError(f"--{name} {value} is a folder: a prediction reads one file; give one of the files "
                                 "in it")
        if self.mask and self.context:
            raise ValueError("--mask and --context exclude each other: --mask observes the --input where it is white, "
                             "--context gives S itself; pass one")
        if self.num_context is not None and (self.mask or self.context):  # it was dropped without a word
            given = "--mask" if self.mask else "--context"
            raise ValueError(f"--num_context draws S at random from the --input, {given} gives S instead "
                             f"({'the white pixels' if self.mask else 'its rows'}): pass one")
        # the first count out of range, named alone
        for name, value, least, meaning in (
                ("num_context", self.num_context, 1, "the samples of S drawn at random from the --input"),
                ("num_samples", self.num_samples, 0, "0: the mean only"),
                ("n_autoregressive", self.n_autoregressive, 0, "0: the mean at every point; null: every point drawn")):
            if value is not None:
                check_count(value, least, f"--{name} must be >= {least} ({meaning})")
        if self.resolution is not None and self.resolution < 2:
            raise ValueError(f"--resolution must be >= 2, got {self.resolution}")
        try:
            check_temperature(self.temperature)
        except ValueError as e:
            raise ValueError(f"--{e}") from None
        item_seeds(self.seed, 1)  # the seed S is drawn with and the samples' seeds follow from, in range

    @property
    def name(self) -> str:
        """The prediction's folder name: the input's, else a context file's, else "context"."""
        if self.input:
            return Path(self.input).stem
        return Path(self.context).stem if (self.context or "").strip().endswith(".json") else "context"


def parse_rows(text: str, width: int, names: str, pos_dims: int) -> tuple[torch.Tensor, list[int], str]:
    """A context as JSON rows (inline, or a .json file) -> a float64 tensor [K, width] of every row as given
    (positions in a data's own units keep their digits: a timestamp of 1.6e9 seconds in float32 is a multiple of 128;
    row i is the user's row i + 1, which messages name), the rows to keep, and its source's name for messages.
    ``names`` spells one row for the error message, e.g. "[y, x, value]"; its first ``pos_dims`` entries are the
    position. A row repeated as it is counts once (only its first is kept); two values at one position are refused."""
    path = user_path(text)
    from_file = text.strip().endswith(".json")
    source = str(path) if from_file else "--context"
    try:
        rows = json.loads(path.read_bytes() if from_file else text)  # a file's bytes: UTF-8, or UTF-16 as JSON allows
    except FileNotFoundError:
        raise FileNotFoundError(f"context file not found: {path}") from None
    except IsADirectoryError:  # Python's words: [Errno 21] Is a directory
        raise ValueError(f"--context {path} is a folder: expected a .json file or JSON rows") from None
    except UnicodeDecodeError as err:  # Latin-1, a binary file
        raise ValueError(f"{source}: not UTF-8 text ({err}): save it as UTF-8") from None
    except json.JSONDecodeError as err:
        if not from_file and path.is_dir():  # a folder whose name has no .json was read as inline rows
            raise ValueError(f"--context {path} is a folder: expected a .json file or JSON rows") from None
        if not from_file and path.is_file():
            raise ValueError(f"--context {path} is a file, but only a .json file is read (other text is taken for "
                             f"JSON rows): save its rows as {path.with_suffix('.json').name}") from None
        raise ValueError(f"{source}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if problem := _not_rows(rows, width):
        raise ValueError(f"{source}: expected a non-empty list of {names} rows ({width} numbers each); {problem}")
    for i, row in enumerate(rows):  # JSON's true and false are not numbers, though Python counts them as 1 and 0
        if not_numbers := [v for v in row if not is_number(v)]:
            raise ValueError(f"{source}: every entry must be a number, got {json.dumps(not_numbers[0])} in row {i + 1}")
        if not_finite := [v for v in row if isinstance(v, float) and not math.isfinite(v)]:  # JSON's NaN, 1e400
            raise ValueError(f"{source}: row {i + 1} holds {json.dumps(not_finite[0])}: positions and values must be "
                             "finite numbers")
    try:
        arr = torch.tensor(rows, dtype=torch.float64)  # [K, width]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{source}: every entry must be a number") from None
    return arr, _one_row_a_position(arr, pos_dims, source), source  # [K, width], K' rows to keep


def _not_rows(rows: Any, width: int) -> str | None:
    """What keeps parsed JSON from being a non-empty list of rows of ``width`` entries, in words; None when it is."""
    if not isinstance(rows, list):
        return f"got {_json_word(rows)}"
    if not rows:
        return "got an empty list"
    if all(is_number(r) for r in rows):  # one row, no brackets around rows
        return "got a flat list of numbers: put each row in its own brackets, [[...], [...]]"
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            return f"row {i + 1} is {_json_word(row)}, not a list"
        if len(row) != width:
            return f"row {i + 1} has {len(row)}"
    return None


def _json_word(value: Any) -> str:
    """A JSON value that is not a row, as a message shows it: an object in words, anything else as it was written."""
    return "a JSON object" if isinstance(value, dict) else json.dumps(value)


def _one_row_a_position(rows: torch.Tensor, pos_dims: int, source: str) -> list[int]:
    """The rows [K, P + V] to keep: each position's first; a row that repeats one is left out, and one that gives it
    another value is refused, naming both rows."""
    first: dict[tuple[float, ...], int] = {}
    keep = []
    listed = rows.tolist()
    for i, row in enumerate(listed):
        j = first.setdefault(tuple(row[:pos_dims]), i)
        if j == i:
            keep.append(i)
        elif listed[j][pos_dims:] != row[pos_dims:]:
            words = lambda numbers: "[" + ", ".join(map(as_written, numbers)) + "]"  # noqa: E731
            raise ValueError(f"{source}: rows {j + 1} and {i + 1} give position {words(row[:pos_dims])} two values, "
                             f"{words(listed[j][pos_dims:])} and {words(row[pos_dims:])}: give one value a position")
    return keep


def checked_input(domain: Domain, signal: Any, spec: SignalSpec) -> torch.Tensor:
    """A domain's ``read_input`` result, checked against the model's spec: a tensor [V, *grid] with the spec's V and
    P grid axes (a missing value axis failed later as positions of the wrong width)."""
    want = f"[V, *grid] = [{spec.val_dims}, {', '.join(map(str, spec.grid_shape))}]"
    if not isinstance(signal, torch.Tensor):
        raise ValueError(f"{type(domain).__name__}.read_input returned {type(signal).__name__}; it must return a "
                         f"tensor {want}")
    if signal.dim() != 1 + spec.pos_dims or signal.shape[0] != spec.val_dims:
        raise ValueError(f"{type(domain).__name__}.read_input returned a tensor of shape {list(signal.shape)}; the "
                         f"model's signals are {want}")
    lo, hi = spec.val_range
    if not signal.is_floating_point():  # 8-bit levels failed in the grid reading, far from the method
        raise ValueError(f"{type(domain).__name__}.read_input returned {signal.dtype} values; it must return float "
                         f"values in the spec's val_range [{lo:g}, {hi:g}]")
    if span := spec.outside_bins(signal, slack=1e-3):
        raise ValueError(f"{type(domain).__name__}.read_input returned values in [{span[0]:.4g}, {span[1]:.4g}], "
                         f"outside the spec's val_range [{lo:g}, {hi:g}], which the value bins span")
    return signal


def check_resolution(domain: Domain, spec: SignalSpec, options: PredictOptions,
                     device: torch.device | None = None) -> None:
    """Refuse a ``--resolution`` whose grid could not be held, in one line, before anything is written: 100000 on a
    3D model means 1e15 points, and the completion failed after the model had loaded, with a traceback ending in
    "DefaultCPUAllocator: can't allocate memory". The options alone do not know the grid: its axes (P of them, or a
    video's T frames with their shorter side scaled) are the domain's ``predict_grid``.

    The bound is the memory available now (:func:`memory_at_hand`: what other processes hold is not this one's to
    take) against :func:`memory.completion_bytes`, a lower bound on what the completion holds; on a CUDA ``device``
    (the trainer's), where it is made and checked against the GPU's memory (``check_grid_memory``), against
    :func:`memory.kept_bytes`, what comes back to the host. So only a grid that cannot fit is refused, and a large one
    that can (an SDF model at 128: 2.1 million points, 8.23 GiB at least; the digits model at 256: 56.8 MiB) goes on as
    before (an SDF model at 64 without samples, 1.03 GiB at least, took 1.14 GiB more than at 8). A fixed cap on the
    points would refuse a large machine's feasible grids or let a small one's fail. A system that does not report its
    memory is taken to have ``memory.ASSUMED_MEMORY``, more than a workstation's, which still refuses the grids of many
    terabytes that such a typo means. Where the model's grid would fit and the samples make it too much
    (``--num_samples 1000000000``, refused before only once the model had loaded, as a ``grid_shape``), the line names
    ``--num_samples`` and the most that fit."""
    held = host_held(device)

    def needs(resolution: int | None, samples: int = options.num_samples) -> tuple[tuple[int, ...], int, int]:
        grid = tuple(int(g) for g in domain.predict_grid(spec, resolution))
        points = math.prod(grid)
        return grid, points, held(spec, points, samples)

    grid, _, need = needs(options.resolution)
    if (short := shortfall(need)) is None:
        return
    # the samples, not the resolution, are too many: the grid holds the default number of samples
    usual = min(options.num_samples, DEFAULT_SAMPLES)
    if options.resolution is None or needs(options.resolution, usual)[2] <= short.memory:
        if line := short.too_many_samples("--num_samples", options.num_samples,
                                          lambda s: needs(options.resolution, s)[2], f"on {grid_words(grid)}"):
            raise ValueError(line)
    if options.resolution is None:  # the model's own grid, without samples
        raise ValueError(f"the model's grid of {grid_words(grid)} needs at least "
                         f"{in_bytes(need)} to complete: more than {short.have}; give a smaller --resolution")
    lo = short.most(options.resolution, lambda r: needs(r)[2])
    most = f"at most --resolution {lo}" if lo >= 2 else "no --resolution fits"
    raise ValueError(f"--resolution {options.resolution} means {grid_words(grid)}, whose completion "
                     f"needs at least {short.words}; {most}")


def check_predict_grid(domain: Domain, spec: SignalSpec, resolution: int | None) -> None:
    """A domain's ``predict_grid``, checked before the model is loaded: P sizes >= 1, one per position axis (a
    grid of other axes was refused only in the completion, as a grid_shape the method was not named in)."""
    grid = domain.predict_grid(spec, resolution)
    if not isinstance(grid, (tuple, list)) or grid_sizes(grid, spec.pos_dims) is None:
        raise ValueError(f"{type(domain).__name__}.predict_grid returned {grid!r}; it must return {spec.pos_dims} "
                         f"sizes >= 1, one per position axis (the model's grid is {spec.grid_shape})")


def prediction_item(domain: Domain, spec: SignalSpec, options: PredictOptions,
                    device: torch.device | None = None) -> dict[str, Any]:
    """One input to predict: S (ctx_pos [K, P], ctx_val [K, V]) and, with an input file, its signal [V, *grid];
    ``device``: the one the completion runs on (the CPU unless given)."""
    options.check()
    check_predict_grid(domain, spec, options.resolution)
    check_resolution(domain, spec, options, device)  # the grid and samples the options ask of this domain's model
    item: dict[str, Any] = {"name": options.name}
    domain.start_prediction()  # what an earlier prediction read is none of this one's input
    signal = domain.read_input(user_path(options.input), spec) if options.input else None  # [V, *grid]
    if signal is not None:
        item["signal"] = checked_input(domain, signal, spec)  # [V, *grid]
    if options.context:
        names = "[" + ", ".join(context_columns(domain, spec)) + "]"  # a last "value..." spread over the V values
        rows, keep, source = parse_rows(options.context, spec.pos_dims + spec.val_dims, names, spec.pos_dims)
        # the domain reads every row, a repeated one too, so that a row its messages name is the user's
        pos, val = checked_context(domain, "context_from_rows", domain.context_from_rows(rows, spec, source), spec)
        if pos.shape[0] != rows.shape[0]:  # keep names the rows as given
            raise ValueError(f"{type(domain).__name__}.context_from_rows returned {pos.shape[0]} rows for the "
                             f"{rows.shape[0]} of {source}: it must return one row per row given, in their order")
        item["ctx_pos"], item["ctx_val"] = pos[keep].float(), val[keep].float()  # [K', P], [K', V]
    elif options.mask:
        made = domain.context_from_mask(signal, domain.read_mask(user_path(options.mask), spec))  # [K, P], [K, V]
        item["ctx_pos"], item["ctx_val"] = checked_context(domain, "context_from_mask", made, spec)
    else:
        n = signal[0].numel()
        if options.num_context is not None and options.num_context > n:  # off a grid, S is read between its points
            what = (f"grid points of the model's {'x'.join(map(str, spec.grid_shape))} grid" if domain.on_grid else
                    f"points of the input's {'x'.join(map(str, signal.shape[1:]))} grid, which S is read from")
            raise ValueError(f"--num_context must be between 1 and the {n} {what}, got {options.num_context}")
        k = options.num_context or min(DEFAULT_CONTEXT, max(1, n // 4))
        gen = torch.Generator().manual_seed(options.seed)
        pos, val = draw_context(signal.unsqueeze(0), k, gen, domain.on_grid)  # [1, K, P], [1, K, V]
        item["ctx_pos"], item["ctx_val"] = pos[0], val[0]
    return item


def _one_process(strategy: Any) -> bool:
    """Whether a trainer's strategy runs in one process ("auto", "single_device", a Single*Strategy)."""
    if strategy is None:
        return True
    name = str(getattr(strategy, "class_path", None) or (strategy if isinstance(strategy, str) else
                                                          type(strategy).__name__))
    name = name.rsplit(".", 1)[-1].lower()
    return name == "auto" or name.startswith("single")


def _one(devices: Any) -> bool:
    """Whether a trainer's devices name one device: 1, "1", [3] or "3," (a device index)."""
    if isinstance(devices, (list, tuple)):
        return len(devices) == 1
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()]) == 1
    return str(devices).strip() == "1"


def _accelerator_count(accelerator: Any) -> int:
    """How many devices "auto" or -1 would take: this machine's accelerators unless the CPU is asked for, else one."""
    here, count = loading.accelerator()
    return 1 if str(accelerator) == "cpu" or here is None else count


def one_device(trainer: Any) -> str | None:
    """Narrow a predict's trainer settings (the config's ``trainer`` group) to one process on one device: a
    prediction is one input, which a second rank would not get (Lightning's sampler gives it nothing and the run
    dies at a barrier). Returns what the config asked for, for the line that says so, or None when it asked for one
    device in one process."""
    devices, nodes, strategy = trainer.get("devices"), trainer.get("num_nodes") or 1, trainer.get("strategy")
    asked = []
    if str(devices) in ("-1", "auto"):
        if _accelerator_count(trainer.get("accelerator")) > 1:
            asked.append("every device")
        trainer.devices = 1
    elif not _one(devices):
        asked.append(f"{devices} devices" if str(devices).isdigit() else f"devices {devices}")
        listed = list(devices) if isinstance(devices, (list, tuple)) else \
            [d.strip() for d in str(devices).split(",") if d.strip()] if "," in str(devices) else []
        trainer.devices = [int(listed[0])] if listed else 1  # the first device the user chose
    if int(nodes) != 1:
        asked.append(f"{nodes} nodes")
        trainer.num_nodes = 1
    if not _one_process(strategy):
        name = getattr(strategy, "class_path", strategy) if not isinstance(strategy, str) else strategy
        asked.append(f"strategy {str(name).rsplit('.', 1)[-1]}")
        trainer.strategy = "auto"
    return ", ".join(asked) or None


class PredictionInputs(Dataset):
    """The inputs of one `predict` call, each an item of :func:`prediction_item` (batches of one: K differs)."""

    def __init__(self, items: list[dict[str, Any]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.items[i], "index": i}


def output_folder(options: PredictOptions, run_dir: Path) -> Path:
    """Where a prediction goes, chosen before the model runs; an earlier prediction is never overwritten.

    ``--out`` must be new or empty. By default it is ``<run>/predict/<input name>``, or ``<input name>-2``, ``-3`` ...
    when that folder already holds files (a second call on the same input)."""
    def taken(folder: Path) -> bool:
        return folder.exists() and (not folder.is_dir() or any(folder.iterdir()))

    if options.out:
        out = user_path(options.out)
        if taken(out):
            raise FileExistsError(f"--out {options.out}: already exists and is not an empty folder; "
                                  "choose a new one (nothing was written)")
        if dangling := [p for p in missing_folders(out) if p.is_symlink()]:  # mkdir's "File exists" after the model
            raise NotADirectoryError(f"--out {options.out}: {dangling[-1]} is a link to {os.readlink(dangling[-1])}, "
                                     "which does not exist; choose another --out, or create that folder first "
                                     "(nothing was written)")
        said, unwritable = f"--out {options.out}", "choose another --out"
        not_a_folder = "choose an --out whose parents are folders"
    else:
        base = run_dir / "predict" / options.name
        out, n = base, 1
        while taken(out):
            n += 1
            out = base.with_name(f"{base.name}-{n}")
        said, not_a_folder = f"the prediction's folder {out}", "give an --out elsewhere"
        unwritable = not_a_folder
    # the prediction is drafted beside its folder and renamed into it (PredictionWriter._write): else "File exists"
    # or "Permission denied" once the model had run, an empty --out given too
    check_writable_below(out.parent, said, f"; {not_a_folder} (nothing was written)",
                         f"; {unwritable} (nothing was written)")
    return out


def json_rows(values: torch.Tensor) -> list[list[float]]:
    """Rows [K, C] as JSON numbers, each float32 by the shortest decimal that reads back as it: a value typed as 1.2
    is written 1.2, not as the float64 of its float32 (1.2000000476837158). Other dtypes as they are."""
    if values.dtype != torch.float32:
        return values.tolist()
    return [[float(str(v)) for v in row] for row in values.detach().cpu().numpy()]  # numpy's str is the shortest


class PredictionWriter(BasePredictionWriter):
    """Writes each completion through the module's Domain, then prediction.json (S, options, files) beside it.

    A prediction that fails leaves no empty folders behind."""

    def __init__(self, options: PredictOptions, run_dir: str | Path):
        super().__init__(write_interval="batch")
        self.options, self.run_dir = options, Path(run_dir)
        self.out = output_folder(options, self.run_dir)
        self.written: list[Path] = []
        self._writing = self._terminated = False
        self._noted: Any = None  # the SIGTERM handler before this writer's (on_predict_start)

    def on_predict_start(self, trainer, pl_module) -> None:
        """SIGTERM (kill, timeout, a scheduler's end of a job) ends a prediction with status 143, as it ends a fit.
        Lightning's handler only notes it, and its predict loop never looks: the completion ran on to the end
        (minutes of sampling on a CPU) and exited 0. A SIGTERM while the files are written lets them finish."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._noted = signals.getsignal(signals.SIGTERM)  # Lightning's (restored with the others at its teardown)
        signals.signal(signals.SIGTERM, self._sigterm)
        if trainer.received_sigterm:  # one after Lightning's handlers came, before this hook: Lightning noted it
            self._terminated = True
            self._stop()

    def _sigterm(self, signum, frame) -> None:
        if self._terminated:  # a second SIGTERM: a launcher forwards the one a scheduler also sends
            return
        if callable(self._noted):
            self._noted(signum, frame)
        self._terminated = True
        if not self._writing:
            self._stop()

    def _stop(self) -> None:
        give_back_sigterm(self._sigterm, self._noted)  # Lightning's again, for its teardown
        done = f"; wrote {self.out}" if self.written else "; nothing was written"
        # os.write: a print here could land inside the sampling bar's own print to stderr
        os.write(2, f"[predict] SIGTERM: stopped{done}\n".encode())
        raise SIGTERMException(SIGTERM_STATUS)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        self._writing = True
        try:
            self._write(trainer, pl_module, prediction)
        finally:
            self._writing = False
        if self._terminated:
            self._stop()

    def _write(self, trainer, pl_module, prediction) -> None:
        """The domain's files and prediction.json go into a hidden folder beside the output folder, which is renamed
        into place once they are all written: a prediction stopped while it writes (Ctrl-C, a full disk, a domain's
        error) leaves no partial files under the output folder's name, and two predictions of one input that end at
        once each get a folder of their own (the later one is numbered on)."""
        new, staging = missing_folders(self.out), None
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            staging = staging_folder(self.out.parent, self.out.name)  # a killed prediction's leftovers go first
            draft = staging / self.out.name  # under the folder's own name, which a domain may show (an SDF's title)
            draft.mkdir()
            files = self._fill(trainer, pl_module, prediction, draft)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            remove_empty(new)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        for path in files:  # the evaluation's lines; prediction.json lists the same files, for scripts
            print(f"[pixeltransformer] wrote {path}", flush=True)
        self.written.extend(files)

    def _publish(self, draft: Path) -> Path:
        """Rename the whole prediction ``draft`` to the output folder (new, or empty: a rename replaces an empty
        folder, never one with files); where another prediction took that folder meanwhile, the next free number of
        the default one, and a given --out is refused."""
        while True:
            try:
                os.rename(draft, self.out)
                return self.out
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR) or not self.out.exists():
                    raise
                if self.options.out:
                    raise FileExistsError(f"--out {self.options.out}: another prediction was written there while this "
                                          "one ran; nothing of this one was kept: choose a new folder") from None
                self.out = output_folder(self.options, self.run_dir)

    def _fill(self, trainer, pl_module, prediction, draft: Path) -> list[Path]:
        """Write the prediction into ``draft`` and publish it (:meth:`_publish`): its files, where they now are."""
        out = draft
        with quiet_loops(not shows_progress(trainer)):  # the domain's loops (a long CSV's blocks) follow the trainer
            files = pl_module.domain.write_prediction(prediction, out)
        if not (isinstance(files, list) and all(isinstance(f, Path) for f in files)):
            # what the domain wrote stays, for its author to see, where it can (another prediction may have taken
            # a given --out meanwhile): the domain's error is the cause either way
            with contextlib.suppress(OSError):
                self._publish(draft)
            raise ValueError(f"{type(pl_module.domain).__name__}.write_prediction returned "
                             f"{type(files).__name__}: it must return the list of files (Paths) it wrote")
        # S's K rows [position..., value...]
        context = [p + v for p, v in zip(json_rows(prediction.ctx_pos[0]), json_rows(prediction.ctx_val[0]))]
        record = {"checkpoint": str(getattr(trainer, "ckpt_path", "") or ""), "domain": pl_module.spec.domain,
                  "dataset": pl_module.spec.dataset, "num_context": int(prediction.ctx_pos.shape[1]), "context": context,
                  "context_columns": context_columns(pl_module.domain, pl_module.spec),  # each row's entries, named
                  # the positions p as the model reads them, in [-1, 1]: p stands for pos_offset + p * pos_scale
                  "pos_scale": pl_module.spec.pos_scale, "pos_offset": pl_module.spec.pos_offset,
                  "options": asdict(self.options), "files": [p.name for p in files],
                  # the precision the completion ran at (16-mixed runs as bf16-mixed on a CPU): the samples depend on it
                  "precision": str(trainer.precision)}
        if read := pl_module.domain.input_options():  # after --input or --context (PredictOptions.check)
            record["input_options"] = read  # how the domain read --input or --context (--model.domain.init_args)
        files.append(write_json(out / "prediction.json", record))
        final = self._publish(draft)
        return [final / path.relative_to(draft) if path.is_relative_to(draft) else path for path in files]
