"""Reading checkpoints: ``torch.load(weights_only=True)`` (tensors and plain types only, so a checkpoint from
someone else cannot run code), checked before anything is built, with one-line errors. No Lightning import here,
so ``python -m pixeltransformer`` can check a checkpoint in seconds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import shlex
import zipfile
from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import written_by
from .errors import first_line, in_number
from .files import user_path
from .layout import CONFIGS, config_shown

if TYPE_CHECKING:  # the module (and Lightning) is imported only once a checkpoint has passed the checks
    from .module import PixelTransformerModule


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, unsafe, or from an incompatible version."""


class UnreadableCheckpoint(CheckpointError):
    """A checkpoint file whose bytes cannot be read as one: empty, cut short, damaged."""


# 2: options nested by group (net, objective, sets, optim); 1: one flat list of options
CHECKPOINT_FORMAT = 2


def format_error(fmt: Any) -> str | None:
    """The one-line refusal of a checkpoint written in another format, or None when it is this version's."""
    if fmt == CHECKPOINT_FORMAT:
        return None
    if fmt is None:  # every release records its format (0.1 wrote 1): a checkpoint without one is another model's
        return ("not a PixelTransformer checkpoint (it records no pixeltransformer_format: a Lightning checkpoint "
                "of another model?)")
    what = " (flat model options)" if fmt == 1 else ""
    return (f"checkpoint format {fmt!r}{what} is not supported by this version (expects {CHECKPOINT_FORMAT}): "
            f"retrain, or use release 0.1")


def lightning_error(ckpt: dict, fit: bool = False) -> str | None:
    """The one-line refusal of a checkpoint that Lightning's Trainer cannot restore from (fit, validate, test and
    predict hand it to Lightning, whose version check raises a KeyError): one without the
    ``pytorch-lightning_version`` every Trainer writes, as a checkpoint written by hand is; for a ``fit`` (a resume,
    or a new run from it) also one without the optimizer states it goes on from, as
    ``checkpoint.save_weights_only=true`` saves. None where Lightning can restore it; ``load_module`` reads either."""
    if "pytorch-lightning_version" not in ckpt:
        remedy = ("a fit goes on from a checkpoint a Trainer saved whole" if fit else
                  "add ckpt['pytorch-lightning_version'] = lightning.__version__ and torch.save it again")
        return ("it records no pytorch-lightning_version, which Lightning reads to restore it (a checkpoint written "
                f"by hand?): {remedy}, or read it in Python with pixeltransformer.loading.load_module")
    if fit and "optimizer_states" not in ckpt:
        return ("it holds the weights alone (saved with checkpoint.save_weights_only=true?), and a fit goes on from "
                "its optimizer states too: evaluate it with test or predict, or fit from a checkpoint saved whole")
    return None


def checkpoint_in(folder: Path) -> str:
    """": give one in it, as <its last.ckpt>" for a folder given as a checkpoint (a run folder or its checkpoints/;
    a run folder's also names the resume that continues it); where it holds none, why a run's has none
    (:func:`~pixeltransformer.runs.kept_instead`), else ""."""
    from .runs import kept_checkpoint, kept_instead  # runs imports this module

    run = (folder / "checkpoints").is_dir()
    found = kept_checkpoint(folder / "checkpoints" if run else folder)
    if found is None:  # a run's: that its fit stopped before its first save, or still runs towards it
        return kept_instead((folder if folder.name == "checkpoints" else folder / "checkpoints") / "last.ckpt")
    return (f": give one in it, as {shlex.quote(str(found))}"
            + (f" (to continue the run: fit --resume {shlex.quote(str(folder))})" if run else ""))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict:
    """Read a checkpoint with weights_only=True; refuse anything that needs arbitrary pickled code, and the weights
    of a run that had diverged (NaN or Inf).

    ``mmap=True`` maps the tensors instead of reading them (the archive's CRCs are still checked, which reads the
    file once).
    """
    if not isinstance(path, (str, os.PathLike)):  # Path(3) says "expected str, bytes or os.PathLike object, not int"
        raise CheckpointError(f"a checkpoint is a file path (str or Path), got {type(path).__name__} {path!r}")
    path = user_path(path)  # "~/runs/...": a notebook's path, which no shell expanded
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file{checkpoint_in(path)}")
    if not path.is_file() and str(path) in ("best", "last"):  # Lightning's names for a fit in the same process
        raise CheckpointError(f"checkpoint not found: {path} (give the file: runs/<domain>/<run>/checkpoints/last.ckpt "
                              "or best-step*.ckpt; to continue a run, fit --resume runs/<domain>/<run>)")
    if not path.is_file():
        from .runs import kept_instead  # runs imports this module

        raise CheckpointError(f"checkpoint not found: {path}{kept_instead(path)}")
    if path.stat().st_size == 0:
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: the file is empty")
    archived = zipfile.is_zipfile(path)  # torch.save writes a zip archive; a cut-off one has no central directory
    if not archived and not legacy_format(path):
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: not a PyTorch checkpoint, or truncated")
    try:  # torch.load does not check the archive's CRCs: flipped bytes would load as other weights
        with zipfile.ZipFile(path) if archived else contextlib.nullcontext() as archive:
            # (one saved with torch's compute_crc32 off has none to check)
            recorded = archived and any(info.CRC for info in archive.infolist() if info.file_size)
            damaged = archive.testzip() if recorded else None  # reads the file once
            pickled = not archived or any(name.endswith("/data.pkl") for name in archive.namelist())
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: {first_line(err)}") from None
    if damaged is not None:
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: corrupted (CRC mismatch in {damaged})")
    if not pickled:  # torch's "[enforce fail at inline_container.cc:180] . file in archive is not in a subdirectory"
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: a zip archive of other files, not a PyTorch "
                                   "checkpoint")
    try:  # torch maps only its zip format: one saved in its format before 1.6 is read
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap and archived)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))  # torch names the first disallowed global
        raise CheckpointError(f"refusing {path}: it needs code beyond tensors and plain types to load"
                              + (f" ({found.group(1)})" if found else "")) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        # a file of torch's format before 1.6 cut short says "EOFError" alone
        why = "truncated (the file ends early)" if isinstance(err, EOFError) else first_line(err)
        raise UnreadableCheckpoint(f"cannot read checkpoint {path}: {why}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(f"{path} is not a PixelTransformer checkpoint (no state_dict/hyper_parameters)")
    # a diverged run's weights: every prediction would be NaN, and a resume could not recover
    if bad := nonfinite(ckpt["state_dict"].items()):
        raise CheckpointError(f"refusing {path}: its weights hold NaN or Inf ({bad}): the training had diverged when "
                              "it was saved; use an earlier checkpoint")
    return ckpt


# how torch.save's format before torch 1.6 (_use_new_zipfile_serialization=False) begins: its pickled magic number
LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def legacy_format(path: Path) -> bool:
    """Whether a file is in torch.save's format before torch 1.6, which torch.load still reads (not a zip archive)."""
    with path.open("rb") as f:
        return f.read(len(LEGACY_MAGIC)) == LEGACY_MAGIC


def nonfinite(weights: Iterable[tuple[str, Any]]) -> str | None:
    """Which of the floating-point tensors among ``weights`` (name, value) hold NaN or Inf, for a message:
    "1 of 76 tensors, first model.head.weight"; None when every one is finite. Checkpoints are refused with it when
    they are read (:func:`load_checkpoint`) and before they are written (the module's ``on_save_checkpoint``)."""
    floats = [(name, w) for name, w in weights if isinstance(w, torch.Tensor) and w.is_floating_point()]
    # a NaN or Inf entry makes the sum NaN or Inf, so a finite sum clears a tensor in one pass (six times quicker
    # than isfinite's mask, on a CPU); a sum that is not finite may be finite entries that overflow: look at each
    bad = [name for name, w in floats if not torch.isfinite(w.sum()) and not torch.isfinite(w).all()]
    return f"{len(bad)} of {len(floats)} tensors, first {bad[0]}" if bad else None


def accelerator() -> tuple[str | None, int]:
    """This machine's accelerator type ("cuda", "mps", ...; None without one) and its number of devices
    (torch.accelerator from torch 2.6; CUDA alone before)."""
    if hasattr(torch, "accelerator"):
        here = torch.accelerator.current_accelerator()
        return (here.type, torch.accelerator.device_count()) if here is not None else (None, 0)
    return ("cuda", torch.cuda.device_count()) if torch.cuda.is_available() else (None, 0)


# trainer.accelerator names -> the device types that serve them (Lightning's "gpu": CUDA, else Apple's MPS)
ACCELERATOR_TYPES = {"gpu": ("cuda", "mps"), "cuda": ("cuda",), "mps": ("mps",)}
# what to give instead, to run on the CPU
CPU_INSTEAD = ("give --trainer.accelerator=cpu (a config for several devices: also --trainer.devices=1 "
               "--trainer.strategy=auto)")


def check_accelerator(name: Any, source: str | None) -> None:
    """trainer.accelerator asking for a device this machine does not have, in one line that says what to do (Lightning
    says "No supported gpu backend found!", naming neither the setting nor the torch build; "tpu" without torch_xla
    ended in a ModuleNotFoundError's traceback). ``source``: the config file that sets the value in effect
    (setting_sources.setting_source; it was told to leave out configs/trainer/gpu.yaml, whichever file set it): see
    :func:`leave_out`; None: the command line's --trainer.accelerator, which is to change."""
    if isinstance(name, str) and name.lower() == "tpu" and find_spec("torch_xla") is None:
        raise ValueError(f"trainer.accelerator={name}, but torch_xla, which Lightning runs TPUs with, is not "
                         f"installed here: to run on the CPU, {CPU_INSTEAD}")
    wanted = ACCELERATOR_TYPES.get(str(name).lower()) if isinstance(name, str) else None
    if wanted is None:
        return
    here, count = accelerator()
    if here in wanted and count > 0:
        return
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    hides = here == "cuda" and count == 0 and "cuda" in wanted and hidden is not None
    why = f"; CUDA_VISIBLE_DEVICES={hidden!r} leaves none visible" if hides else ""
    raise ValueError(f"trainer.accelerator={name}, but torch sees no {'GPU' if name == 'gpu' else name} device here "
                     f"(torch {torch.__version__}, {torch_build()}{why}): to run on the CPU, "
                     f"{CPU_INSTEAD if source is None else leave_out(source)}")


def leave_out(config: str) -> str:
    """How to run on the CPU where the config file ``config`` (as the command line gives it) asks for a device: the
    shipped configs/trainer/gpu.yaml, an add-on that sets only the devices, is left out (named as
    :func:`~pixeltransformer.layout.config_shown` names it, however it was given); any other file stays (an
    experiment's whole config, a run's config.yaml that its resume and evaluations read), overridden by the options
    given after it (before it, the file overrides them)."""
    if user_path(config).resolve() == (CONFIGS / "trainer" / "gpu.yaml").resolve():  # however it was given
        return f"leave out {config_shown('trainer/gpu.yaml')}"
    return (f"give --trainer.accelerator=cpu --trainer.devices=1 --trainer.strategy=auto after {shlex.quote(config)}, "
            "which sets it")


def on_the_cpu(name: Any) -> bool:
    """Whether trainer.accelerator ``name`` runs on the CPU here: "cpu", or null/"auto" on a machine where torch sees
    no GPU (a CUDA build that sees none too)."""
    return name == "cpu" or (name in (None, "auto") and accelerator()[1] == 0)


def check_gpu_strategy(strategy: Any, name: Any) -> None:
    """trainer.strategy=fsdp (fsdp_cpu_offload too) on the CPU: Lightning said "requires a GPU accelerator, but
    received `accelerator='cpu'`. Please set `accelerator='cuda'`", though no accelerator was set, and gpu is refused
    here for want of one (:func:`check_accelerator`). Refused in one line naming the strategies the CPU runs."""
    if not (isinstance(strategy, str) and strategy.lower().startswith("fsdp") and on_the_cpu(name)):
        return
    why = ("trainer.accelerator=cpu runs on the CPU" if name == "cpu" else
           f"torch sees no GPU device here (torch {torch.__version__}, {torch_build()})")
    raise ValueError(f"trainer.strategy={strategy} shards a model across GPUs, and {why}: give --trainer.strategy=ddp "
                     "for several processes on the CPU (--trainer.devices N), or give --trainer.strategy=auto for one")


def check_cpu_devices(name: Any, devices: Any) -> None:
    """trainer.devices on the CPU, where it counts processes: Lightning takes a whole number >= 1 (or "auto") there,
    and -1 (every GPU, as configs/trainer/gpu.yaml asks; a GPU run's config.yaml given --trainer.accelerator=cpu)
    stopped the command with a TypeError's traceback. Refused in one line; nothing to say on a machine whose
    "auto" accelerator is a GPU."""
    if not on_the_cpu(name) or devices is None or devices == "auto":
        return
    count = int(devices) if isinstance(devices, str) and devices.strip().isdigit() else devices
    if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        return
    raise ValueError(f"trainer.devices={devices} on the CPU, where it is a number of processes: give "
                     "--trainer.devices=1 for one, or 2 or more for DDP (-1, every device, is for GPUs)")


def torch_build() -> str:
    """What this torch was built for, for a message: a CUDA or ROCm build, one with Apple's MPS, or a CPU build."""
    if torch.version.cuda:
        return f"built for CUDA {torch.version.cuda}"
    if getattr(torch.version, "hip", None):
        return f"built for ROCm {torch.version.hip}"
    return "built with MPS" if torch.backends.mps.is_built() else "a CPU build"


def check_device(map_location: str | torch.device) -> torch.device:
    """map_location as a device this machine has that can hold weights, or one line naming why not (torch's own
    error for an unknown name lists twenty device types; 'meta' holds shapes without values). An int is an index of
    this machine's accelerator, as torch reads it."""
    if isinstance(map_location, int) and not isinstance(map_location, bool):
        here, _ = accelerator()
        if here is None:  # torch's "Cannot access accelerator device" read as "not a device torch knows"
            raise ValueError(f"map_location={map_location!r}: an index names a GPU, and this machine has none "
                             "(use 'cpu')")
        map_location = f"{here}:{map_location}"
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ValueError(f"map_location={map_location!r}: not a device torch knows (use 'cpu' or 'cuda')") from None
    if device.type == "meta":
        raise ValueError(f"map_location={map_location!r}: meta tensors hold no values, so the model could not "
                         "compute (use 'cpu' or 'cuda')")
    if device.type == "cpu":
        return torch.device("cpu")  # torch.load cannot restore storages to "cpu:0"
    here, count = accelerator()
    if here != device.type:
        raise ValueError(f"map_location={map_location!r}: this machine has no {device.type.upper()} device "
                         "(use 'cpu')")
    if device.index is not None and device.index >= count:
        raise ValueError(f"map_location={map_location!r}: this machine has {count} {device.type.upper()} "
                         f"{in_number(count, 'device')}, numbered from 0")
    return device


def load_module(path: str | Path, map_location: str | torch.device = "cpu", ckpt: dict | None = None
                ) -> PixelTransformerModule:
    """A PixelTransformerModule rebuilt from a checkpoint (eval mode); ``ckpt``: the file, if already read."""
    device = check_device(map_location)
    ckpt = load_checkpoint(path, device) if ckpt is None else ckpt
    from .module import PixelTransformerModule, checkpoint_error

    if message := checkpoint_error(ckpt):
        raise CheckpointError(f"{path}: {message}")
    # float32 weights, as trained, whatever default dtype the caller set (torch.set_default_dtype(torch.float64) in
    # a notebook built float64 weights, which every inference call then refused)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.random.fork_rng(devices=[]):  # the weights' random init, replaced below, leaves the caller's stream
            module = PixelTransformerModule(**ckpt["hyper_parameters"])
    finally:
        torch.set_default_dtype(default)
    if message := reshaped_weights(module, ckpt):
        raise CheckpointError(f"{path}: {message}")
    missing, unexpected = module.load_state_dict(ckpt["state_dict"], strict=False)
    if missing or unexpected:
        wrote = f" ({by})" if (by := written_by(ckpt)) else ""
        raise CheckpointError(f"{path}: weights do not match the model{wrote} (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]})")
    return module.to(device).eval()


def reshaped_weights(module: torch.nn.Module, ckpt: dict) -> str | None:
    """One line when a checkpoint's weights have other shapes than the module its hyperparameters built (an edited
    spec or size), which stopped in torch's multi-line "Error(s) in loading state_dict" (the command's traceback);
    None where every shape fits. It names the version that wrote the checkpoint where that is another."""
    shapes = {name: list(w.shape) for name, w in module.state_dict().items()}
    reshaped = [(name, list(w.shape)) for name, w in (ckpt.get("state_dict") or {}).items()
                if isinstance(w, torch.Tensor) and name in shapes and list(w.shape) != shapes[name]]
    if not reshaped:
        return None
    name, shape = reshaped[0]
    by = written_by(ckpt)
    return (f"weights do not match the model its hyper_parameters describe ({len(reshaped)} of another shape, first "
            f"{name}: {shape} in the file, {shapes[name]} in the model): "
            + (f"a checkpoint of another version ({by}): use it with that version, or retrain" if by else
               "an edited or damaged checkpoint; use the file as its run saved it"))
