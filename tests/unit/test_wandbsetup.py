"""The W&B setup: the config as the dashboard shows it."""

from __future__ import annotations


def test_the_dashboard_config_holds_the_options_and_not_the_parser_s_own_keys():
    """A fit's W&B config held `__default_config__`: "/home/me/pixeltransformer/configs/trainer/default.yaml", the
    parser's own record of its default file (an absolute path of the checkout), beside the options; config.yaml has
    no such key. The options and the config files given (`config`) stay."""
    from pixeltransformer.wandbsetup import dashboard_config

    given = {"__default_config__": "/home/me/pixeltransformer/configs/trainer/default.yaml",
             "config": ["configs/images.yaml"], "seed_everything": 0, "optimizer": None, "lr_scheduler": None,
             "model": {"net": {"width": 64}}}
    assert dashboard_config(given) == {"config": ["configs/images.yaml"], "seed_everything": 0,
                                       "model": {"net": {"width": 64}}}


def test_a_wandb_that_is_installed_but_does_not_import_is_not_called_missing(tmp_path, monkeypatch):
    """A wandb package raising ImportError inside itself (protobuf's "cannot import name 'builder'") was told "not
    installed: pip install wandb", which pip answers with "already satisfied"; another exception gave a traceback.
    Only a missing wandb itself is "not installed"; a broken one is named as such, with its error's first line."""
    import sys
    from types import SimpleNamespace

    import pytest

    from pixeltransformer.wandbsetup import check_wandb_installed

    logger = SimpleNamespace(class_path="lightning.pytorch.loggers.WandbLogger")
    monkeypatch.syspath_prepend(str(tmp_path))
    for raised in ("ImportError(\"cannot import name 'builder' from 'google.protobuf.internal'\")",
                   "ModuleNotFoundError(\"No module named 'gql'\", name='gql')", "TypeError('bad operand')"):
        (tmp_path / "wandb").mkdir(exist_ok=True)
        (tmp_path / "wandb" / "__init__.py").write_text(f"raise {raised}\n")
        monkeypatch.delitem(sys.modules, "wandb", raising=False)
        why = eval(raised)  # the error's own first line, as the message quotes it
        with pytest.raises(ValueError) as refused:
            check_wandb_installed(logger)
        assert str(refused.value) == (f"trainer.logger is W&B's WandbLogger, and the wandb package is installed but "
                                      f"does not import: {why}; reinstall it (pip install --force-reinstall wandb), "
                                      "or run without W&B: make ... ARGS=--trainer.logger=false")
