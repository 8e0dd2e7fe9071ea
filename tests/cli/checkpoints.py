"""Checkpoints for tests: an untrained tiny model, saved as training saves it."""

from __future__ import annotations


def untrained_checkpoint(spec: dict, net: dict | None = None, **extra) -> dict:
    """A checkpoint of an untrained tiny model (width 64 unless ``net`` says otherwise), as training writes it, with
    ``extra`` entries added; torch.save it."""
    from pixeltransformer.loading import CHECKPOINT_FORMAT
    from pixeltransformer.module import PixelTransformerModule

    module = PixelTransformerModule(spec=spec, net={"width": 64, "ffn": 128, **(net or {})},
                                    sets=dict(max_context=16, num_queries=8), val_levels=(4,))
    return {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pixeltransformer_format": CHECKPOINT_FORMAT, "global_step": 0, **extra}
