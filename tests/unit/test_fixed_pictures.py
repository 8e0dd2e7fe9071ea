"""The pictures of the data alone (Domain.fixed_picture) under a plain lightning.Trainer, as docs/python.md trains:
logged to W&B once in each fit or validate, whatever the callback logged before."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
from PIL import Image

from pixeltransformer.callbacks import Pictures
from pixeltransformer.module import PixelTransformerModule
from tests.cli.wandb_record import record_wandb_logs
from tests.unit.test_domain_contract import SPEC, HeightData, HeightDomain


class Truthful(HeightDomain):
    """A truth drawn alone (the same file at every validation) beside the completions' means."""

    def pictures(self, completions, out_dir, suffix=""):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, c in [("truth", None), *completions.items()]:
            grid = (completions["3"].signal if c is None else c.mean)[0, 0].numpy()  # [6, 5]
            files[name] = out / f"{name}{'' if c is None else suffix}.png"
            Image.fromarray((np.clip(grid, -1, 1) * 127 + 128).astype(np.uint8)).save(files[name])
        return files

    def fixed_picture(self, name: str) -> bool:
        return name == "truth"


def trainer(root: Path, pictures: Pictures) -> L.Trainer:
    from lightning.pytorch.loggers import WandbLogger

    return L.Trainer(max_steps=2, val_check_interval=1, check_val_every_n_epoch=None,
                     logger=WandbLogger(project="pixeltransformer", save_dir=str(root), offline=True),
                     callbacks=[pictures], default_root_dir=root, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")


def test_a_validate_after_a_fit_logs_the_pictures_of_the_data_alone_again(tmp_path, monkeypatch):
    """The callback kept the fit's record of the pictures it had logged once: a `trainer.validate` after the fit,
    on the fit's Trainer or on a new one with a W&B run of its own, logged the completions but not the truth."""
    import wandb

    received = record_wandb_logs(monkeypatch, tmp_path)
    dm = HeightData(batch_size=2, val_items=2)
    module = PixelTransformerModule(spec=SPEC, domain=Truthful(), net=dict(width=16, ffn=32, heads=2,
                                    encoder_layers=1, decoder_layers=1), sets=dict(min_context=2, max_context=8,
                                                                                    num_queries=8))
    pictures = Pictures(num_examples=1, levels=(3,), num_samples=0)
    fitted = trainer(tmp_path / "fit", pictures)
    fitted.fit(module, datamodule=dm)

    def logged(key: str) -> int:
        return sum(key in data for data in received)

    assert (logged("val/truth"), logged("val/3")) == (1, 2)  # the truth once in the fit, the means at each validation
    fitted.validate(module, datamodule=dm, verbose=False)
    assert (logged("val/truth"), logged("val/3")) == (2, 3)
    wandb.finish()
    received.clear()
    trainer(tmp_path / "other", pictures).validate(module, datamodule=dm, verbose=False)
    wandb.finish()
    assert (logged("val/truth"), logged("val/3")) == (1, 1)
