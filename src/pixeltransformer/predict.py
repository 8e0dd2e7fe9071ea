"""`pixeltransformer-predict` / `make sample`: condition a trained model on a user's own signal.

The checkpoint is read with ``torch.load(weights_only=True)``: only tensors and plain types, so a checkpoint
from someone else cannot run code. Which domain turns the input file into a signal and the predictions into
pictures is named in the checkpoint's SignalSpec (``extra["predictor"]``, a module path set by the domain's
DataModule), so this core file names no domain.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from pathlib import Path

import torch

from .module import PixelTransformerModule


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, unsafe, or from an incompatible version."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with weights_only=True; refuse anything that needs arbitrary pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"refusing {path}: it needs code beyond tensors and plain types to load ({first})") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise CheckpointError(f"{path} is not a PixelTransformer checkpoint (no state_dict/hyper_parameters)")
    return ckpt


def load_module(path: str | Path, map_location: str | torch.device = "cpu") -> PixelTransformerModule:
    """A PixelTransformerModule rebuilt from a checkpoint (eval mode)."""
    ckpt = load_checkpoint(path, map_location)
    from .module import CHECKPOINT_FORMAT

    if ckpt.get("pixeltransformer_format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {ckpt.get('pixeltransformer_format')!r} is not supported "
                              f"by this version (expects {CHECKPOINT_FORMAT})")
    # checkpoints from before the encoder option was saved were trained with the bidirectional encoder
    module = PixelTransformerModule(**{"encoder": "bidirectional", **ckpt["hyper_parameters"]})
    missing, unexpected = module.load_state_dict(ckpt["state_dict"], strict=False)
    if [k for k in missing if not k.startswith("val_nll")] or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return module.to(map_location).eval()


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


def main(argv: list[str] | None = None) -> list[Path]:
    args = build_parser().parse_args(argv)
    try:
        module = load_module(args.checkpoint, args.device)
        target = module.spec.extra.get("predictor")
        if not target:
            raise CheckpointError(f"the {module.spec.domain} domain offers no predictor")
        predictor = importlib.import_module(target)
        out = Path(args.out) if args.out else default_out(Path(args.checkpoint), Path(args.input))
        out.mkdir(parents=True, exist_ok=True)
        paths = predictor.predict(module, args, out)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
