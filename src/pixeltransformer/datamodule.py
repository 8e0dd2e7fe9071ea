"""SignalDataModule: the base every domain's LightningDataModule derives from.

A domain implements ``build_split(split)`` returning a ``torch.utils.data.Dataset`` whose items are dicts
``{"signal": Tensor[V, *grid], "label"?: int}`` and ``spec`` (a :class:`SignalSpec`). The base class owns
batching, worker seeding and deterministic splits, so no domain writes a DataLoader by hand.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import os
import signal
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, default_collate

from .errors import counted, warn_rank_zero
from .files import env_folder, is_root_option, user_path
from .layout import CHECKOUT, next_command
from .signal import SignalSpec
from .splits import SPLIT_LAYOUT, SPLIT_LAYOUTS, SPLITS, pool_digests

DATA_ENV = "PIXELTRANSFORMER_DATA"
# the float32 value k / 255 of each 8-bit level k, as the CPU divides it: a signal sent as uint8 and made float on
# another device gathers these, so that it has the bits of the CPU's float items there too (a GPU divides by 255 as a
# multiplication by its reciprocal, a bit off at times)
UINT8_LEVELS = torch.arange(256, dtype=torch.float32) / 255.0  # [256]
_LEVELS_ON: dict[torch.device, torch.Tensor] = {}  # UINT8_LEVELS copied to each device once (a copy waits for it)


def float_signal(signal: torch.Tensor) -> torch.Tensor:
    """A signal as a dataset stores it or a loader sends it -> float32 on its device, exactly: 8-bit levels k ->
    k / 255 (pictures, video frames), float16 -> float32 (SDF grids); any other dtype as it is (not copied)."""
    if signal.dtype == torch.uint8:
        return signal.float() / 255.0 if signal.device.type == "cpu" else uint8_levels(signal)
    return signal.float() if signal.dtype == torch.float16 else signal


def uint8_levels(signal: torch.Tensor) -> torch.Tensor:
    """8-bit levels [...] -> their UINT8_LEVELS [...] float32, gathered on the signal's device."""
    levels = _LEVELS_ON.get(signal.device)
    if levels is None:
        levels = _LEVELS_ON[signal.device] = UINT8_LEVELS.to(signal.device)  # [256]
    return levels.index_select(0, signal.reshape(-1).int()).view(signal.shape)  # [...]


def collate(items: Any, to_float: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Any:
    """A DataLoader's batch: what a dataset's ``__getitems__`` returned when that is a batch already (a dict of
    [B, ...] tensors, read in one call), else torch's default_collate of the items. With ``to_float``, its signal
    becomes float32 here (a loader used where no Trainer runs on_after_batch_transfer to do it)."""
    batch = items if isinstance(items, dict) else default_collate(items)  # {"signal": [B, V, *grid], ...}
    return float_batch(batch, to_float) if to_float is not None else batch


def float_batch(batch: Any, to_float: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """A batch with its signal [B, V, *grid] as to_float makes it; anything else as it is."""
    if isinstance(batch, dict) and isinstance(batch.get("signal"), torch.Tensor):
        return {**batch, "signal": to_float(batch["signal"])}
    return batch


def least_fraction(batches: int) -> str:
    """The least limit_train_batches fraction, in 3 significant digits, that takes one of ``batches`` batches:
    1/batches rounded up, as Lightning takes int(batches * fraction) of them (1/3 printed as 0.333 took none)."""
    return str(decimal.Context(prec=3, rounding=decimal.ROUND_CEILING).divide(1, batches))


def data_dir() -> Path:
    """Where datasets read from files live unless a config names a root: $PIXELTRANSFORMER_DATA (a relative one
    from the folder the command runs in, made absolute: :func:`~pixeltransformer.files.env_folder`), else data/ at
    the repository root (git-ignored), or, installed from a wheel, data/ in the working folder (where runs/ goes).
    Domains look for each dataset at a fixed path below it (data/mnist, data/cats/faces64, ...), the layout of the
    project's shared sample data."""
    return env_folder(DATA_ENV) or (CHECKOUT or Path.cwd()) / "data"


def default_root(relative: str, must_exist: bool = True, how: str = "", option: str = "root") -> Path:
    """``data_dir() / relative``; when it is absent (and ``must_exist``), a one-line FileNotFoundError that says
    where to put the data (``how``: a way to get it, e.g. a download flag; ``option``: the DataModule argument
    that names this path instead)."""
    path = data_dir() / relative
    if must_exist and not path.exists():
        options = [f"set {DATA_ENV} to a folder holding {relative}", f"pass --data.init_args.{option}",
                   *([how] if how else [])]
        raise FileNotFoundError(f"no data at {path}: put it there, {', '.join(options[:-1])}, or {options[-1]}")
    return path


class IndexedDataset(Dataset):
    """Adds each item's index within its split, so fixed evaluation sets can be seeded per item (the same
    on one process and on many DDP ranks)."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getattr__(self, name: str) -> Any:
        # domain datasets keep their own attributes (arrays, counts) reachable through the wrapper
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.base[i])
        item["index"] = i
        return item

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]] | dict[str, Any]:
        """A DataLoader's batch in one call: the base's own ``__getitems__`` where it has one (GP draws: one product
        for the batch; pictures, clips and SDF grids: the batch itself, a dict of [B, ...] tensors), each item with
        its index. Without this, __getattr__ handed the DataLoader the base's method, whose items had no index."""
        many = getattr(self.base, "__getitems__", None)
        items = many(indices) if many is not None else [self.base[i] for i in indices]
        if isinstance(items, dict):  # a batch already
            return {**items, "index": torch.tensor(indices, dtype=torch.long)}  # index [B]
        return [{**item, "index": i} for item, i in zip(items, indices)]


class ResumableRandomSampler(DistributedSampler):
    """A shuffle whose order depends only on (seed, epoch), and which can start part-way into an epoch; under DDP
    each of ``num_replicas`` ranks takes every num_replicas-th sample of that one order (an epoch drops the last
    size % num_replicas samples, so that every rank has as many batches).

    After a resume the DataModule tells it how many samples of the interrupted epoch were already trained on, over
    all ranks, so training continues with exactly the batches an uninterrupted run would have seen. It is a
    DistributedSampler so that Lightning does not wrap it in one, which would shuffle its order again (and, after
    a resume, index past the shortened epoch).
    """

    def __init__(self, size: int, seed: int, num_replicas: int = 1, rank: int = 0):  # no process group needed
        self.size, self.seed, self.num_replicas, self.rank = size, seed, num_replicas, rank
        self.epoch = 0
        self.start = 0

    def __len__(self) -> int:
        return self.size // self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this each epoch; the sampler counts its epochs itself (restored with the checkpoint)."""

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=gen).tolist()
        usable = self.size - self.size % self.num_replicas
        start, self.start = self.start, 0
        self.epoch += 1
        return iter(order[start + self.rank:usable:self.num_replicas])


def refuse_one_colour(low: torch.Tensor, high: torch.Tensor, count: int, item: str, where: str | Path) -> None:
    """Refuse 8-bit data whose every pixel is one colour: ``low`` and ``high`` [C] are each channel's least and greatest
    level over all ``count`` items (``item``: "picture", "clip"), read from ``where``. Grey ones trained without a word
    on targets that never change, and colour ones failed on k-means bins with advice to set num_bins to 1."""
    if torch.equal(low, high):
        colour = low.tolist()
        value = f"{colour[0]}" if len(colour) == 1 else f"({', '.join(map(str, colour))})"
        raise ValueError(f"{where}: every pixel of its {counted(count, item)} is {value} of 255: {item}s "
                         "of one colour leave nothing to learn")


def capped_test_items(trainer: Any) -> tuple[int | None, str]:
    """The test items a test's evaluations score, which the test loader stops at, and the option that sets them as
    the [data] line names it: the ``test_items_cap`` of each callback that has one (an int, or None for every item:
    SweepEvaluation's is its max_items) with its ``test_items_option`` (its attribute's name where it has none), the
    most of them where several; (None, "") where one of them does not cap them or there is none."""
    missing = object()
    caps = [(cap, getattr(c, "test_items_option", "test_items_cap")) for c in getattr(trainer, "callbacks", None) or ()
            if (cap := getattr(c, "test_items_cap", missing)) is not missing]
    return (None, "") if not caps or any(cap is None for cap, _ in caps) else max(caps, key=lambda c: c[0])


def start_worker(worker_id: int, rank: int, fitting: bool = False) -> None:
    """A DataLoader worker's start. Ctrl-C is the main process's to handle: a fit stops at the end of its training
    step and saves it (checkpointing.py), and a worker that took the signal would end, failing the fit's next batch.
    A fit's workers leave it SIGTERM too, which torchrun's agent (to each rank's process group) and schedulers (SLURM,
    to every process of a job step) send them with the fit: one that ended on it failed the fit's step at once ("is
    killed by signal: Terminated"), and nothing was saved. The fit shuts its workers down when it ends; elsewhere a
    worker keeps PyTorch's SIGTERM, with which a DataLoader still running when Python exits ends its workers.
    Then what Lightning adds when no worker_init_fn is given: its worker seeding (seed_everything(workers=True))."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if fitting:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if int(os.environ.get("PL_SEED_WORKERS", 0)):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id, rank=rank)


# what reading a DataModule's data raises where it is not there or does not fit the split options (a missing folder,
# split sizes too large for it): a comparison with a checkpoint then knows nothing of it, and the run says so where it
# reads the data. The domains' split hooks (splits_with_train, same_splits, pool_sizes, pool_files) raise it as is.
DATA_ERRORS = (ValueError, OSError)


UNREAD = object()  # data that could not be read (read_or's default where None means something): not compared


def read_or(default: Any, read: Callable[[], Any], errors: tuple[type[Exception], ...] = DATA_ERRORS) -> Any:
    """``read()``, or ``default`` where the data it reads raises one of ``errors``."""
    try:
        return read()
    except errors:
        return default


def value_axis_last(shape: list[int], want: list[int], batched: bool) -> str:
    """Where a signal of ``shape`` is ``want`` ([V, *grid], or [B, V, *grid] ``batched``) with its value axis last
    ([*grid, V] or [B, *grid, V], as pictures are often stored), how to move it, for the line refusing it; else ""."""
    lead = int(batched)  # the batch axis, kept
    if shape != [*want[:lead], *want[lead + 1:], want[lead]]:
        return ""
    return (": the value axis comes last; move it after the batch's (signal.movedim(-1, 1))" if batched else
            ": the value axis comes last; move it first (signal.movedim(-1, 0))")


def check_contract(cls: type) -> None:
    """A SignalDataModule subclass defines ``spec`` and ``build_split``: one line naming what it lacks, not
    NotImplementedError from deep in the first command that reads it."""
    missing = [m for m in ("spec", "build_split") if getattr(cls, m, None) is getattr(SignalDataModule, m)]
    if missing:
        what = {"spec": "spec (a property returning its SignalSpec)",
                "build_split": "build_split(split) (a dataset of {'signal': [V, *grid]} items for train, val, test)"}
        raise ValueError(f"{cls.__name__} does not define {' or '.join(what[m] for m in missing)}: a "
                         "SignalDataModule subclass provides both "
                         f"({next_command('docs/design.md', 'the design notes')}, Adding a domain)")


def checked_spec(datamodule: Any) -> SignalSpec:
    """A DataModule's ``spec``, checked to be a SignalSpec (a ``spec`` method without @property gives a function)."""
    spec = datamodule.spec
    if not isinstance(spec, SignalSpec):
        hint = ": make spec a @property" if callable(spec) else ""
        raise ValueError(f"{type(datamodule).__name__}.spec must be a SignalSpec, got {type(spec).__name__}{hint}")
    return spec


def module_spec(datamodule: Any) -> SignalSpec:
    """The spec a module is built with: the DataModule's own (:func:`checked_spec`), its extra naming the file or
    folder the evaluated data is read from, where a user's files are (``source``: the last part of
    :meth:`SignalDataModule.source_path`, which moving the data keeps). A checkpoint records it, and an evaluation on
    another file or folder of the same dataset writes beside the run's own (module.eval_folder)."""
    spec = checked_spec(datamodule)
    if not (name := source_of(datamodule)):  # data that its dataset alone names, or a root such as "/"
        return spec
    return dataclasses.replace(spec, extra={**spec.extra, "source": name})


def source_of(datamodule: Any) -> str:
    """The name :func:`module_spec` records as the data's ``source``, from the path alone (nothing is read): the last
    part of :meth:`SignalDataModule.source_path`; "" where the dataset's name alone names the data."""
    where = datamodule.source_path() if isinstance(datamodule, SignalDataModule) else None
    return Path(os.path.abspath(where)).name if where is not None else ""


def places_read(datamodule: Any, stage: str | None = None) -> dict[str, Path]:
    """The files and folders a command of ``stage`` reads its data from, by option (:meth:`SignalDataModule.
    data_places`); none for a DataModule of another kind."""
    return datamodule.data_places(stage) if isinstance(datamodule, SignalDataModule) else {}


class SkippedInit(ValueError, AttributeError):
    """A SignalDataModule whose subclass skipped the base's ``__init__``: bad input (one line), and still an
    AttributeError to ``hasattr``."""


# what SignalDataModule.__init__ sets (tests/unit/test_domain_contract.py compares the two): a lookup of one that
# finds none means it did not run
INIT_ATTRIBUTES = frozenset({"batch_size", "val_items", "test_items", "test_items_option", "num_workers", "seed",
                             "split_layout", "root", "_splits", "_resume_state", "_train_sampler", "predict_inputs",
                             "_default_roots"})


class SignalDataModule(L.LightningDataModule):
    """Base DataModule: batching and splits; subclasses provide ``spec`` and ``build_split``.

    Args:
        batch_size: signals per batch.
        num_workers: DataLoader workers (0 keeps everything in the main process, best on small CPUs;
            configs/trainer/gpu.yaml sets 4, so that a GPU's process only launches its work).
        seed: fixes splits and the training shuffle.
        root: where the data lives, for domains that read files.
        val_items: the validation set (val/nll, the best checkpoints): the val items whose split index is below
            this; null, or a number past the split's size, takes the whole val split. The items, and so val/nll,
            are the same whatever the batch size and the number of devices.
        split_layout: how the split sizes deal a pool the splits share (:func:`splits.split_indices`): 2, where a test
            split of fixed size does not move with the train size, or 1, the layout of checkpoints that record none,
            which an evaluation or resume of such a checkpoint takes by itself. Domains with shared pools offer it.
    """

    def __init__(self, batch_size: int = 16, num_workers: int = 0, seed: int = 0, root: str | None = None,
                 val_items: int | None = None, split_layout: int = SPLIT_LAYOUT):
        super().__init__()
        if split_layout not in SPLIT_LAYOUTS:
            raise ValueError(f"--data.init_args.split_layout must be one of {SPLIT_LAYOUTS}, got {split_layout!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:  # torch's DataLoader refused it after the model's setup, naming no option
            raise ValueError(f"--data.init_args.num_workers must be >= 0 (0: read the data in the main process), "
                             f"got {num_workers}")
        if val_items is not None and val_items < 1:
            raise ValueError(f"--data.init_args.val_items must be >= 1 (null: the whole val split), got {val_items}; "
                             "--trainer.limit_val_batches=0 turns validation off")
        self.batch_size = batch_size
        self.val_items = val_items
        self.test_items: int | None = None  # the test loader's cap: the evaluations' test_items_cap (capped_test_items)
        self.test_items_option = ""  # the evaluation's option that sets it, as the [data] line names it
        self.num_workers = num_workers
        self.seed = seed
        self.split_layout = split_layout
        self.root = user_path(root) if root else None
        self._splits: dict[str, Dataset] = {}
        self._resume_state: dict[str, Any] | None = None
        self._train_sampler: ResumableRandomSampler | None = None
        self.predict_inputs: Dataset | None = None  # set by `pixeltransformer predict` (predict.PredictionInputs)
        self._default_roots: dict[str, tuple[str, str]] = {}  # option -> (place below data_dir(), how to get it)
        check_contract(type(self))

    def __getattr__(self, name: str) -> Any:
        """Only reached for an attribute not set: one of the base's own means a subclass's ``__init__`` did not call
        ``super().__init__(**kwargs)``, which is named rather than met as an AttributeError deep in Lightning."""
        if name in INIT_ATTRIBUTES:
            raise SkippedInit(f"{type(self).__name__}.__init__ does not call super().__init__(**kwargs): a "
                              "SignalDataModule subclass passes the options it does not take on to it (batch_size, "
                              "seed, ...)")
        attr = getattr(type(self), name, None)
        if isinstance(attr, property):  # its getter's own AttributeError (a typo inside spec) led here: raise that
            return attr.fget(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        """A subclass's own attribute named as a method of the base (``self.dataset = dataset``, the option the
        overlays set) hid that method, which the core then met as "'str' object is not callable": one line here."""
        if not callable(value) and callable(getattr(SignalDataModule, name, None)):
            raise ValueError(f"{type(self).__name__} sets self.{name} to a {type(value).__name__}, which hides "
                             f"SignalDataModule.{name}(): name the attribute otherwise (self.{name}_name)")
        super().__setattr__(name, value)

    item_noun = "signal"  # what an item of the data is, in the [data] line's counts ("image", "shape", "clip")

    # ---- what a domain provides -------------------------------------------------------------
    @property
    def spec(self) -> SignalSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_split(self, split: str) -> Dataset:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        """The class and its root, read from no data. Lightning's own builds every split's DataLoader to count their
        items, and jsonargparse asks for it while it words a failed link (the spec the model is built from): data
        that failed to load was read again for each split, four more times, each time repeating its warnings."""
        return f"{type(self).__name__}(root={self.root})" if self.root is not None else f"{type(self).__name__}()"

    def source_path(self) -> Path | None:
        """The user's own file or folder the evaluated data is read from (the root), or None where the dataset's name
        alone says what the data is: bundled or generated data, a built-in dataset (MNIST) wherever it lies. A domain
        whose datasets read a root that is not such a file or folder (or ignore one given) says so here."""
        return self.root

    def data_places(self, stage: str | None = None) -> dict[str, Path]:
        """The files and folders ``stage`` reads (None: any; :meth:`read_by`), absolute, by option: ``root`` and a
        domain's ``*_root`` options (kept as a Path or a str; an empty one names none), as given or found below
        :func:`data_dir`. The [run] line and the W&B config name them; config.yaml keeps a default's null, which a
        resume or an evaluation finds again where it runs."""
        stage = getattr(stage, "value", stage)  # Lightning's TrainerFn
        return {name: Path(os.path.abspath(user_path(value))) for name, value in vars(self).items()
                if is_root_option(name) and isinstance(value, (str, Path)) and str(value).strip()
                and self.read_by(name, stage)}

    # ---- shared machinery -------------------------------------------------------------------
    def default_data_root(self, relative: str, how: str = "", option: str = "root", required: bool = True) -> Path:
        """``data_dir() / relative``, a dataset's default place. Whether the data is there is asked where it is first
        read and by the command line before a run starts (:meth:`check_data_roots`), not here: a prediction from a
        user's file reads none of it."""
        if required:
            self._default_roots[option] = (relative, how)
        return default_root(relative, must_exist=False)

    def check_data_roots(self, stage: str | None = None) -> None:
        """For a default place that holds no data, the one-line FileNotFoundError that says where to put it (a domain
        adds the places it was given). ``stage`` ("fit", "validate", "test"; None: every one): only the places that
        stage reads (:meth:`read_by`)."""
        for option, (relative, how) in self._default_roots.items():
            if self.read_by(option, stage):
                default_root(relative, how=how, option=option)

    def check_processes(self, trainer: Any) -> None:
        """Data made before the trainer (for the model's spec) checked again for the copies of it that the processes
        the trainer starts on this machine once it runs add (:func:`memory.copies_to_start`): the command line
        asks it before any run starts, except for `predict`. Nothing by default; a domain whose data each process
        makes refuses here, in one line, what they could not hold together."""

    def read_by(self, option: str, stage: str | None) -> bool:
        """Whether ``stage`` (None: any) reads the data place of the root option ``option``: by default every stage
        reads every place; a domain whose evaluation reads fewer says which."""
        return True

    def empty_split_cause(self, split: str) -> str:
        """Why ``split`` came out empty, as ": <cause>; <what to change>" for the error that says so ("" when a domain
        has nothing to add)."""
        return ""

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if split not in self._splits:
            base = self.built_split(split)
            if len(base) == 0:
                raise ValueError(f"{type(self).__name__}: the {split} split is empty{self.empty_split_cause(split)}")
            self.check_item(split, base[0])  # before the wrapper adds the index: an item that is no dict is named
            if hasattr(base, "__getitems__"):  # a batch read at once skips __getitem__: its layout is checked too
                self.check_batch(split, base.__getitems__([0]))
            self._splits[split] = IndexedDataset(base)
        return self._splits[split]

    def built_split(self, split: str) -> Dataset:
        """``build_split(split)``, checked to be a dataset: a split the domain forgot (None, or a dict of splits
        without it) is named in one line, not met later as a KeyError or a missing len()."""
        name = type(self).__name__
        try:
            base = self.build_split(split)
        except KeyError as err:
            if err.args != (split,):
                raise
            raise ValueError(f"{name}.build_split({split!r}) has no {split} split (KeyError {split!r}): it must "
                             f"return a dataset for each of {', '.join(SPLITS)}") from err
        if not (hasattr(base, "__len__") and hasattr(base, "__getitem__")):
            raise ValueError(f"{name}.build_split({split!r}) returned {type(base).__name__}: it must return a "
                             f"dataset (len() and [i]) for each of {', '.join(SPLITS)}")
        return base

    def check_item(self, split: str, item: Any) -> None:
        """A split's first item against the spec, in one line naming what differs: everything downstream pairs the
        spec's grid positions with the signal's values, so a transposed or resized grid would give wrong metrics
        without an error, and a missing value axis or float64 values would fail far from the cause."""
        name, spec = type(self).__name__, checked_spec(self)
        signal = item.get("signal") if isinstance(item, dict) else None
        if not isinstance(signal, torch.Tensor):
            raise ValueError(f"{name}: the {split} split's items must be dicts with a 'signal' tensor [V, *grid], "
                             f"got {type(signal if isinstance(item, dict) else item).__name__}")
        # [V, *grid]; a dataset whose own set sampler reads its layout may carry more channels (signal_channels)
        channels = self.signal_channels()
        if tuple(signal.shape[1:]) != spec.grid_shape or signal.shape[0] != channels:
            want = [channels, *spec.grid_shape]
            raise ValueError(f"{name}: the {split} split yields signals of shape {list(signal.shape)}, but its spec "
                             f"says [V, *grid_shape] = {want}"
                             f"{value_axis_last(list(signal.shape), want, batched=False)}")
        if signal.dtype != torch.float32:
            # items are read through __getitem__ (this check too) even where __getitems__ sends the batches, so
            # they stay float32 where a batch of __getitems__ may keep its stored dtype (to_float casts it)
            raise ValueError(f"{name}: the {split} split yields {signal.dtype} signals; the model reads float32: "
                             "return items of signal.float() (uint8 levels k: signal.float() / 255); a dataset's "
                             "__getitems__ may keep its batch, a dict of [B, ...] tensors, in the uint8 or float16 "
                             "it is stored in, but its items stay float32 (docs/design.md, Adding a domain)")
        lo, hi = spec.val_range
        if span := spec.outside_bins(signal[: spec.val_dims], slack=1e-3):
            raise ValueError(f"{name}: the {split} split yields values in [{span[0]:.4g}, {span[1]:.4g}], "
                             f"outside its spec's val_range [{lo:.4g}, {hi:.4g}], which the value bins span")

    def check_batch(self, split: str, batch: Any) -> None:
        """What a dataset's own ``__getitems__([0])`` returned, in one line where it is not a batch the loader can
        send: a dict with a 'signal' [1, V, *grid] tensor (in the dtype the data is stored in), or a list of items
        (:meth:`check_item`). A list of bare tensors failed in the loader, a misnamed key or a missing value axis deep
        in the first step."""
        name, spec = type(self).__name__, checked_spec(self)
        if isinstance(batch, (list, tuple)) and len(batch) == 1:
            if not isinstance(batch[0], dict):
                raise ValueError(f"{name}: the {split} split's __getitems__([0]) returned a list of "
                                 f"{type(batch[0]).__name__}; it must return a list of items (dicts with a 'signal' "
                                 f"tensor [V, *grid]) or a dict of [B, ...] tensors")
            return self.check_item(split, batch[0])
        signal = batch.get("signal") if isinstance(batch, dict) else None
        want = [1, self.signal_channels(), *spec.grid_shape]
        if not isinstance(signal, torch.Tensor):
            got = f"a dict of {sorted(batch)}" if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"{name}: the {split} split's __getitems__([0]) returned {got}; it must return a dict "
                             f"with a 'signal' tensor [B, V, *grid] = {want}, or a list of items")
        if list(signal.shape) != want:
            raise ValueError(f"{name}: the {split} split's __getitems__([0]) returns signals of shape "
                             f"{list(signal.shape)}, but its spec says [B, V, *grid_shape] = {want}"
                             f"{value_axis_last(list(signal.shape), want, batched=True)}")

    def signal_channels(self) -> int:
        """How many channels an item's signal holds: the spec's V, or more where the domain's own set sampler reads a
        layout of its own (the GP protocol's point sets [2, N]: positions and values). The core's sampler reads V."""
        return checked_spec(self).val_dims

    @property
    def predicts_a_file(self) -> bool:
        """A predict of a user's file: it reads, builds and downloads no split (prepare_data and setup skip them)."""
        return self.predict_inputs is not None

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                  "predict": () if self.predicts_a_file else ("test",)}
        splits = wanted.get(stage or "fit", SPLITS)
        for split in splits:
            self.dataset(split)
        trainer = getattr(self, "trainer", None)
        if stage == "test":  # before the [data] line, which says it (the callbacks' setup runs after this one)
            self.test_items, self.test_items_option = capped_test_items(trainer)
        # a fast_dev_run or overfit_batches sets Lightning's limit_train_batches itself (stand-in trainers: neither)
        if "train" in splits and trainer is not None and not getattr(trainer, "fast_dev_run", False) \
                and not getattr(trainer, "overfit_batches", 0):
            self.check_train_fraction(getattr(trainer, "limit_train_batches", 1.0), getattr(trainer, "world_size", 1))
        if splits and getattr(trainer, "global_rank", 0) == 0:  # once a launch, from its first process
            print(self.splits_line(splits), flush=True)

    def check_train_fraction(self, limit: int | float, world: int = 1) -> None:
        """Refuse a trainer.limit_train_batches fraction that takes no batch of the train split (0.1 of one batch),
        when the split is built, before the model summary and the run's config.yaml: Lightning refused it after the
        summary, with an error that named neither the split's size nor a count to give instead."""
        rows, batches = self.train_batches(world)
        if not isinstance(limit, float) or rows == 0 or limit == 0 or int(batches * limit) > 0:
            return
        n = len(self.dataset("train"))
        held = (f"{rows} of the {counted(n, self.item_noun)} on each of {world} processes, " if world > 1
                else f"{counted(n, self.item_noun)} in ")
        raise ValueError(f"trainer.limit_train_batches={limit:g} takes no batch of the train split, {held}"
                         f"{counted(batches, 'batch')} of batch_size {self.batch_size} an epoch: give a count of "
                         f"batches (--trainer.limit_train_batches=1), a fraction of at least "
                         f"{least_fraction(batches)}, or more {self.item_noun}s")

    def train_batches(self, world: int = 1) -> tuple[int, int]:
        """A process's train items an epoch (its ResumableRandomSampler's share, among ``world`` processes) and the
        batches _loader makes of them: batch_size each, the remainder dropped; a share short of one batch is one."""
        rows = len(ResumableRandomSampler(len(self.dataset("train")), self.seed, world))
        return rows, (rows // self.batch_size if rows >= self.batch_size else min(rows, 1))

    def split_items(self, split: str) -> str:
        """How many items a built split holds, in words ("3 images"; ``item_noun``); a domain whose split is not
        its files alone (a mixture's draws) says what it holds."""
        return counted(len(self.dataset(split)), self.item_noun)

    def splits_line(self, splits: Sequence[str]) -> str:
        """The line that says what a command reads: each split's item count, the one batch of a train split smaller
        than batch_size, and the val items validation scores. Nothing said how many of a user's few files went to
        each split, nor that batch_size 8 on 3 training images trains on one batch of 3 an epoch."""
        parts = []
        world = getattr(getattr(self, "trainer", None), "world_size", 1)
        for split in splits:
            n, text = len(self.dataset(split)), f"{split} {self.split_items(split)}"
            if split == "train" and 0 < (share := self.train_batches(world)[0]) < self.batch_size:  # one batch
                each = f" on each of {world} processes" if world > 1 else ""
                text += (f" (one batch of {share} an epoch{each}: batch_size {self.batch_size} is more than "
                         f"{'its share' if world > 1 else 'it'} holds)")
            if split == "val" and self.val_items is not None and self.val_items < n:
                text += f" (validation scores the first {self.val_items}: val_items)"
            if split == "test" and self.test_items is not None and self.test_items < n:
                text += f" (the test reads the first {self.test_items}: the evaluation's {self.test_items_option})"
            parts.append(text)
        return f"[data] {'; '.join(parts)}"

    def validation_set(self) -> Dataset:
        """The items validation scores: the val split's first ``val_items`` (by split index), or all of it. Their
        items keep their split index, which seeds each one's sets (module.validation_step)."""
        ds = self.dataset("val")
        if self.val_items is None or self.val_items >= len(ds):
            return ds
        return Subset(ds, range(self.val_items))

    def _loader(self, ds: Dataset, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        """A dataset's loader (batch_size: this DataModule's unless given). Under a running Trainer its batches keep
        the dtype the dataset sends (on_after_batch_transfer makes the float32 signal on the device), in page-locked
        memory when the trainer runs on a GPU, so that their copy runs while the GPU works (Lightning copies with
        non_blocking=True). Without a running Trainer (a notebook, a script, also after a fit: Lightning leaves its
        finished Trainer attached) the loader's batches are float32 already."""
        sampler = None
        trainer = getattr(self, "trainer", None)
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        fitting = trainer is not None and trainer.state.fn == TrainerFn.FITTING
        strategy = getattr(trainer, "strategy", None)
        on_gpu = getattr(getattr(strategy, "root_device", None), "type", None) == "cuda"
        running = trainer is not None and trainer.state.status == TrainerStatus.RUNNING  # its hook makes the floats
        batch_size = batch_size or self.batch_size
        if shuffle:
            sampler = self._train_sampler = ResumableRandomSampler(len(ds), self.seed, world, rank)
            if self._resume_state is not None:
                sampler.epoch = self._resume_state["epoch"]
                sampler.start = self._resume_state["samples_done"]
                note = self._batch_count_note(self._resume_state, world) if trainer is not None else None
                if note:
                    warn_rank_zero(note)
                self._resume_state = None
        rows = len(sampler) if sampler is not None else len(ds)  # a process's items an epoch
        if rows == 0:  # an epoch of no batch: Lightning trained nothing, or waited for a step that never came
            raise ValueError(f"{type(self).__name__}: the train split's {counted(len(ds), self.item_noun)} cannot "
                             f"feed {world} processes, which take one each at least: add {self.item_noun}s, or run on "
                             "fewer devices (--trainer.devices)")
        start = functools.partial(start_worker, rank=rank, fitting=fitting) if self.num_workers > 0 else None
        return DataLoader(
            ds,
            batch_size=min(batch_size, rows),
            sampler=sampler,
            drop_last=shuffle and rows >= batch_size,  # a process's items short of one batch train as one
            num_workers=self.num_workers,
            collate_fn=collate if running else functools.partial(collate, to_float=self.to_float),
            pin_memory=on_gpu,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=start,
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A batch on its device (every loop: fit, validate, test, predict): its signal as the float32 the model
        reads. Datasets send what they store (uint8 pixels and frames, float16 SDF grids: a quarter or half of
        float32's bytes through the loader, the page-locking and the copy), and the conversion runs on the device."""
        return float_batch(batch, self.to_float)

    def to_float(self, signal: torch.Tensor) -> torch.Tensor:
        """A batch's signal as sent [B, V, *grid] -> float32 [B, V, *grid], the values of the dataset's float items
        (:func:`float_signal`; a domain whose items are more than a cast of what it stores adds that)."""
        return float_signal(signal)

    def split_options(self) -> dict[str, Any]:
        """The options that choose which items each split holds: the seed, the split layout, and the split sizes a
        domain adds. A checkpoint records them (state_dict), and an evaluation on other ones says so (cli), since the
        test split it then draws from a shared pool may hold the checkpoint's training items."""
        return {"seed": self.seed, "split_layout": self.split_layout}

    def pool_sizes(self) -> dict[str, int] | None:
        """How many items each pool the splits are drawn from holds ({"all": n} for one pool), for data read from
        files, which can change: a checkpoint records them, and an evaluation or resume on pools of other sizes says
        so (:func:`data_mismatch.pool_change`). None where the items cannot change or are not known (the default)."""
        return None

    def pool_files(self) -> list[str] | None:
        """The files the pools' items are read from, by their paths under the data root (a folder's): a checkpoint
        records a digest of each pool's (:func:`pool_digests`), so that files renamed, or added and removed in equal
        numbers, since are told from the data it was trained on (:func:`data_mismatch.pool_change`). None where not
        known (the default)."""
        return None

    def train_only_files(self) -> dict[str, list[str] | None] | None:
        """The files of each source that training alone reads (an SDF mixture's sources other than the evaluated one)
        by source, as :meth:`pool_files` gives the evaluated data's (None: not known): a checkpoint records a digest
        of each pool's, and a resume on other files in the pools training reads is refused
        (:func:`data_mismatch.check_resume_files`); an evaluation reads none of them. None where training reads no
        other data (the default)."""
        return None

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """The splits drawn from the train split's pool, of ("val", "test"): other split options can move the
        checkpoint's training items into them, and its validation and test items into training (as split_mismatch
        then says). One pool: both; a train file or folder with a test one of its own: ("val",), drawn from the
        train part; its own pool for each split, or each split its own seeded stream: ()."""
        return ("val", "test")

    @property
    def data_drawn_by(self) -> tuple[str, ...]:
        """The split options that draw the items themselves, not only which split holds each (synthetic clips: their
        seed and count): a checkpoint trained with another value of one has seen none of these items, in any split
        (as split_mismatch then says). Data read from files, or drawn split by split: ()."""
        return ()

    @property
    def pool_shaped_by(self) -> tuple[str, ...]:
        """The split options that choose what the pools hold from the same files (how a video is cut into clips, how
        many shapes are read): another value of one gives pools of other sizes with no file changed, so a mismatch
        names the option, not changed data. Data whose pools no option cuts: ()."""
        return ()

    def conversion_options(self, trained: dict[str, Any], resume: bool = False) -> dict[str, Any]:
        """The entries of this module's ``spec.extra`` that record how its items were made from what they are read or
        drawn from (an SDF's truncation and margin, a video's frame_step), each named as the data option that sets
        it, with the value a spec that lacks it meant (an option recorded later: the one every run had before; None:
        not compared where it is missing; a :class:`data_mismatch.MadeOtherwise`: none of its values
        makes that data again). A checkpoint trained on ``trained`` (its spec, as a dict) with other values is
        evaluated or resumed on data it was not trained on, which the run then says
        (:func:`data_mismatch.conversion_mismatch`).
        Options that describe the files rather than the items (which axis is up) belong here only where ``trained``
        is the same data. ``resume``: the data a resume reads (every split), else an evaluation's (its split alone,
        which may come from fewer sources). By default: none."""
        return {}

    def spec_mismatch(self, trained: dict[str, Any], resume: bool = False) -> str | None:
        """One line where this module's data differs from that of a checkpoint trained on ``trained`` (its spec, as a
        dict) in what no data option sets, so that the model reads it otherwise than it learned (a curve file's x
        step: curves of another file read stretched onto the checkpoint's grid), naming both; ``resume`` as for
        :meth:`conversion_options`. By default: None."""
        return None

    @classmethod
    def trained_options(cls, trained: dict[str, Any]) -> dict[str, Any]:
        """Data options whose null derives a value (an SDF's margin), each with the value the data of a checkpoint
        trained on ``trained`` (its spec, as a dict) was made with where the spec does not record it (written before
        it was): an evaluation or resume that leaves one null makes its data with that value, as the checkpoint's
        own was made, and says so (the CLI, before the DataModule is built). By default: none."""
        return {}

    def same_splits(self, options: dict[str, Any], splits: Sequence[str] = SPLITS) -> bool:
        """Whether the split options a checkpoint recorded that differ from this module's (``options``, a part of
        :meth:`split_options`: split sizes written otherwise, None for the defaults or -1 for the rest, another seed
        for a split that takes a whole folder) hold the same items as this module's own in each of ``splits``: a
        domain that can tell says so; by default they differ."""
        return False

    # ---- resume: the position in the data travels in the checkpoint ---------------------------------
    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(self, "_train_sampler", None) is None:
            return {}
        splits = {"split_options": self.split_options()}
        if (pools := read_or(None, self.pool_sizes)) is not None:
            splits["pool_sizes"] = pools
        files = read_or(UNREAD, self.pool_files)
        if files is None and source_of(self):  # files not known: a file of voxel grids, an .npz of clips
            splits["pool_files"] = None
        elif files is not None and files is not UNREAD:
            splits["pool_files"] = pool_digests(files)
        if (sources := read_or(None, self.train_only_files)) is not None:
            splits["train_only_files"] = {name: None if files is None else pool_digests(files)
                                          for name, files in sources.items()}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # the epoch's last batch is done: the next epoch comes from the start
            # (its rest, empty, would make Lightning count an epoch of no batches: --trainer.max_epochs then trained
            # one epoch less, and the epoch W&B charts stayed one ahead of an uninterrupted run's)
            return {"epoch": self._train_sampler.epoch, "samples_done": 0, "batch_size": self.batch_size,
                    "world_size": trainer.world_size, **splits}
        # under DDP the sampler's order is global and each rank takes every world_size-th sample of it
        return {"epoch": self._train_sampler.epoch - 1, "samples_done": done * self.batch_size * trainer.world_size,
                "batch_size": self.batch_size, "world_size": trainer.world_size, **splits}

    def _batch_count_note(self, state: dict[str, Any], world: int) -> str | None:
        """One line where a resume's items a step (batch_size times its ``world`` processes) are not those its
        checkpoint's ``state`` recorded, and the epoch's batch count that Lightning restores is wrong in the new size:
        part-way into an epoch (the rest of it skips or repeats items, and a checkpoint saved later in it records
        another position), or at the end of an epoch of fewer batches than this run's (as limit_train_batches takes
        them: the next epoch starts at that count). None where they agree, or the checkpoint recorded no batch size
        (one written before batch sizes were); one that recorded no processes (before they were) compares batch
        sizes alone."""
        was, was_world = state.get("batch_size"), state.get("world_size") or world
        if was is None or was * was_world == self.batch_size * world:
            return None
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        count, limit = self.train_batches(world)[1], self.trainer.limit_train_batches
        batches = int(count * limit) if isinstance(limit, float) else min(count, limit)  # Lightning's, an epoch
        part_way = state["samples_done"] > 0
        if not (part_way or 0 < done < batches):
            return None
        if part_way:
            where, wrong = (f"{counted(done, 'batch')} into an epoch",
                            f"Lightning counts that epoch's batches on from {done} in the new size, so the rest of "
                            f"it skips or repeats items")
        else:
            where, wrong = (f"at the end of an epoch of {counted(done, 'batch')}",
                            f"Lightning starts the next epoch at batch {done} of its {batches}, so it skips "
                            f"{done * self.batch_size * world} of its items")
        then, now = f"data.init_args.batch_size={was}", f"{self.batch_size}"
        if was_world != world:
            then, now = f"{then} x {counted(was_world, 'process')}", f"{now} x {counted(world, 'process')}"
        step = was * was_world  # the checkpoint's items a step
        fix = (f"pass --data.init_args.batch_size {step // world}" if step % world == 0 else
               f"no batch_size on {counted(world, 'process')} makes its {step} items a step: resume it on "
               f"{counted(was_world, 'process')}")
        return (f"the checkpoint stopped {where} of {then}, not this run's ({now}): {wrong}; {fix} to continue on its "
                "own")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # what chose the splits and the data read, not a position in them
        recorded = ("split_options", "pool_sizes", "pool_files", "train_only_files")
        self._resume_state = {k: v for k, v in state.items() if k not in recorded} if state else None

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        # under DDP Lightning shards it with a DistributedSampler, whose padding repeats a few items: the module's
        # val/nll averages over distinct items (module.val_nll_means)
        return self._loader(self.validation_set(), shuffle=False)

    def test_batch(self) -> tuple[int, str]:
        """The test loader's batch size and the data option that sets it: ``batch_size`` here; a domain whose test
        loader has a batch size of its own (an evaluation that decodes every grid point) overrides both."""
        return self.batch_size, "batch_size"

    def test_set(self) -> Dataset:
        """The items a test reads: the test split's first ``test_items`` (the evaluation's cap, its
        ``test_items_option``: max_items, or the GP protocol's max_batches x batch_size), or all of it. The whole split
        was read, each batch's test/val_nll computed on every item, while the evaluation scored only the capped ones:
        minutes of forward passes that no metric used."""
        ds = self.dataset("test")
        if self.test_items is None or self.test_items >= len(ds):
            return ds
        return Subset(ds, range(self.test_items))  # its items keep their split index (the evaluation's keys)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set(), shuffle=False, batch_size=self.test_batch()[0])

    def predict_dataloader(self) -> DataLoader:
        if self.predict_inputs is not None:  # one input per batch: each has its own |S|
            return DataLoader(self.predict_inputs, batch_size=1, shuffle=False)
        return self._loader(self.dataset("test"), shuffle=False)

    def fixed_examples(self, split: str = "val", n: int = 4) -> dict[str, torch.Tensor]:
        """The first n items of a split, batched: the same pictures every epoch."""
        ds = self.dataset(split)
        items = [ds[i] for i in range(min(n, len(ds)))]
        return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}
