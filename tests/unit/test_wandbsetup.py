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
