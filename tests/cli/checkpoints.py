"""Checkpoints for tests: an untrained tiny model, saved as training saves it; a fit's data state."""

from __future__ import annotations


def untrained_checkpoint(spec: dict, net: dict | None = None, **extra) -> dict:
    """A checkpoint of an untrained tiny model (width 64 unless ``net`` says otherwise), as training writes it, with
    ``extra`` entries added; torch.save it."""
    import lightning

    from pixeltransformer.loading import CHECKPOINT_FORMAT
    from pixeltransformer.module import PixelTransformerModule

    module = PixelTransformerModule(spec=spec, net={"width": 64, "ffn": 128, **(net or {})},
                                    sets=dict(max_context=16, num_queries=8), val_levels=(4,))
    return {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pixeltransformer_format": CHECKPOINT_FORMAT, "global_step": 0,
            "pytorch-lightning_version": lightning.__version__, "optimizer_states": [], "lr_schedulers": [],
            **extra}  # the keys a Trainer writes (empty lists: Lightning restores no optimizer or scheduler state)


def fit_checkpoint(dm) -> dict:
    """The checkpoint of a fit on the DataModule ``dm``, as its state_dict records it (the spec and the data's
    state), after one epoch's batches."""
    from types import SimpleNamespace

    from pixeltransformer.datamodule import module_spec

    progress = SimpleNamespace(current=SimpleNamespace(processed=1))
    dm.trainer = SimpleNamespace(world_size=1, num_training_batches=1,
                                 fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    dm._train_sampler = SimpleNamespace(epoch=1)
    return {"hyper_parameters": {"spec": module_spec(dm).to_dict()}, type(dm).__name__: dm.state_dict()}
