"""`pixeltransformer-predict` / `make sample`: condition a trained model on a user's own signal.

The checkpoint is read with ``torch.load(weights_only=True)``: only tensors and plain types, so a checkpoint
from someone else cannot run code. Which domain turns the input file into a signal and the predictions into
pictures follows from the checkpoint's domain name: only ``domains.<name>.predict`` of a domain package that
exists here is imported (see :func:`predictor_module`), never a module path read from the file, so this core
file names no particular domain.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import INPUT_ERRORS, fail, first_line

if TYPE_CHECKING:  # the module (and Lightning) is imported only once a checkpoint has passed the checks
    from .module import PixelTransformerModule

DOMAIN_NAME = re.compile(r"[a-z_]+")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, unsafe, or from an incompatible version."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict:
    """Read a checkpoint with weights_only=True; refuse anything that needs arbitrary pickled code.

    ``mmap=True`` maps the tensors instead of reading them: a cheap check of a large file before a run starts.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"cannot read checkpoint {path}: the file is empty")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut-off one has no central directory
        raise CheckpointError(f"cannot read checkpoint {path}: not a PyTorch checkpoint, or truncated")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))  # torch names the first disallowed global
        raise CheckpointError(f"refusing {path}: it needs code beyond tensors and plain types to load"
                              + (f" ({found.group(1)})" if found else "")) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, KeyError, ValueError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {first_line(err)}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(f"{path} is not a PixelTransformer checkpoint (no state_dict/hyper_parameters)")
    return ckpt


def load_module(path: str | Path, map_location: str | torch.device = "cpu", ckpt: dict | None = None
                ) -> PixelTransformerModule:
    """A PixelTransformerModule rebuilt from a checkpoint (eval mode); ``ckpt``: the file, if already read."""
    ckpt = load_checkpoint(path, map_location) if ckpt is None else ckpt
    from .module import PixelTransformerModule, format_error

    if message := format_error(ckpt.get("pixeltransformer_format")):
        raise CheckpointError(f"{path}: {message}")
    module = PixelTransformerModule(**ckpt["hyper_parameters"])
    missing, unexpected = module.load_state_dict(ckpt["state_dict"], strict=False)
    if [k for k in missing if not k.startswith("val_nll")] or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return module.to(map_location).eval()


def predictor_module(ckpt: dict, path: str | Path) -> str:
    """The module that turns files into signals for this checkpoint's domain: ``domains.<domain>.predict``,
    only for a plain domain name whose package is installed here with a predict.py. A checkpoint is data from
    anywhere, so a module path written in it is never imported as such."""
    spec = (ckpt.get("hyper_parameters") or {}).get("spec") or {}
    domain = spec.get("domain") if isinstance(spec, dict) else None
    if not isinstance(domain, str) or not DOMAIN_NAME.fullmatch(domain):
        raise CheckpointError(f"{path}: the checkpoint names no valid domain (got {domain!r})")
    target = f"domains.{domain}.predict"
    named = (spec.get("extra") or {}).get("predictor", target)
    if named != target:
        raise CheckpointError(f"{path}: refusing predictor {named!r}: {domain} checkpoints use {target}")
    package = importlib.util.find_spec("domains")  # locates the folder without running any domain code
    folders = list(package.submodule_search_locations or []) if package else []
    if not any(os.path.isfile(os.path.join(f, domain, "predict.py")) for f in folders):
        known = sorted({d for f in folders for d in os.listdir(f) if os.path.isfile(os.path.join(f, d, "predict.py"))})
        raise CheckpointError(f"{path}: no predictor for the {domain!r} domain here (predictors: {', '.join(known)})")
    return target


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pixeltransformer-predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a .ckpt written by training")
    p.add_argument("--input", required=True, help="the signal: an image, mesh/SDF grid, video, ... (domain-specific)")
    p.add_argument("--num_context", type=int, default=64, help="K random observed samples (ignored with --mask/--context)")
    p.add_argument("--mask", default=None, help="a mask file: white = observed (images, videos)")
    p.add_argument("--context", default=None, help="a JSON list of observed samples, e.g. [[x, y, z, sdf], ...]")
    p.add_argument("--num_samples", type=int, default=3)
    p.add_argument("--n_autoregressive", type=int, default=2048, help="N': autoregressive steps per sample")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--resolution", type=int, default=None, help="output grid size per axis (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default: <run>/predict/<input name>)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p


def default_out(checkpoint: Path, input_path: Path) -> Path:
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run / "predict" / input_path.stem


def check_args(args: argparse.Namespace) -> None:
    """What can be checked before the model is built; the domain's predictor checks the rest."""
    if not args.input:
        raise ValueError("--input is required: the image, mesh or video to condition on (make sample INPUT=...)")
    if not Path(args.input).exists():
        raise FileNotFoundError(f"input not found: {args.input}")


def main(argv: list[str] | None = None) -> list[Path]:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        ckpt = load_checkpoint(args.checkpoint, args.device)
        predictor = importlib.import_module(predictor_module(ckpt, args.checkpoint))
        module = load_module(args.checkpoint, args.device, ckpt=ckpt)
        out = Path(args.out) if args.out else default_out(Path(args.checkpoint), Path(args.input))
        new = [p for p in (out, *out.parents) if not p.exists()]  # innermost first
        out.mkdir(parents=True, exist_ok=True)
        try:
            paths = predictor.predict(module, args, out)
        except BaseException:
            for folder in new:  # a failed prediction leaves no empty folders behind
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise
    except INPUT_ERRORS as err:
        fail(err)
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
