"""The validation set (val/nll, which picks best-step*.ckpt): the val items data.init_args.val_items names, whatever the
batch size; trainer.limit_val_batches, which counts each device's batches, is refused, or, in an earlier run's own
config.yaml, turned into the items one device validated. Two processes against one: tests/cli/test_ddp_resume.py."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import yaml

from pixeltransformer.cli import main

REPO = Path(__file__).resolve().parents[2]
# the tiny model on 20 validation polynomials: a validate takes a second
FAST = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
        "--model.val_levels=[4,10]", "--data.init_args.resolution=64", "--data.init_args.train_size=16",
        "--data.init_args.val_size=20", "--data.init_args.test_size=4", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.callbacks=[]",
        "--trainer.accelerator=cpu"]


def validate(tmp_path: Path, *args: str) -> dict[str, float]:
    """val/* of a validation of the seeded, untrained model."""
    cli = main(["validate", *FAST, *args, "--run_root", str(tmp_path)])
    return {k: float(v) for k, v in cli.trainer.callback_metrics.items() if k.startswith("val/")}


def test_val_nll_is_the_same_at_any_batch_size(tmp_path):
    """The configs' limit_val_batches (4 batches) validated 8 of the 20 items in batches of 2 and all of them in
    batches of 8: two runs that differed in batch size were scored on different items."""
    small = validate(tmp_path, "--data.init_args.batch_size=2")
    large = validate(tmp_path, "--data.init_args.batch_size=8")
    assert set(small) == {"val/nll", "val/nll@4", "val/nll@10"} == set(large)
    for key in small:
        assert small[key] == pytest.approx(large[key], rel=1e-5, abs=1e-6), key


def test_val_items_takes_the_first_items_of_the_val_split(tmp_path):
    from domains.polynomial.data import PolynomialDataModule

    data = PolynomialDataModule(resolution=64, val_size=20, val_items=6, batch_size=4)
    items = data.validation_set()
    assert [items[i]["index"] for i in range(len(items))] == [0, 1, 2, 3, 4, 5]
    assert len(PolynomialDataModule(resolution=64, val_size=20, val_items=50).validation_set()) == 20  # all of it
    six = validate(tmp_path, "--data.init_args.batch_size=4", "--data.init_args.val_items=6")
    assert six == pytest.approx(validate(tmp_path, "--data.init_args.batch_size=6", "--data.init_args.val_items=6"),
                                rel=1e-5, abs=1e-6)
    assert six["val/nll"] != pytest.approx(validate(tmp_path, "--data.init_args.batch_size=4")["val/nll"], rel=1e-4)
    with pytest.raises(ValueError, match=r"^--data.init_args.val_items must be >= 1 \(null: the whole val split\), "
                                         r"got 0; --trainer.limit_val_batches=0 turns validation off$"):
        PolynomialDataModule(val_items=0)


def test_an_item_met_twice_counts_once(tiny_module):
    """A DistributedSampler's padding hands a few items to two ranks (or twice to one): each level's NLL is a mean over
    distinct items, the same in any order of batches."""
    import torch

    signal = torch.randn(3, 1, 64)  # [B, V, N]: items 0, 1, 2

    def means(*batches):
        tiny_module.on_validation_epoch_start()
        for i, rows in enumerate(batches):
            tiny_module.validation_step({"signal": signal[rows], "index": torch.tensor(rows)}, i)
        return tiny_module.val_nll_means()

    once = means([0, 1], [2])
    assert once == pytest.approx(means([2, 0], [1, 0]), rel=1e-6)  # item 0 twice, in other batches
    assert once == pytest.approx(means([0, 1], [2, 0, 0]), rel=1e-6)  # item 0 three times
    for k, value in once.items():
        items = [means([i])[k] for i in range(3)]
        assert value == pytest.approx(sum(items) / 3, rel=1e-6)


@pytest.mark.parametrize("limit, what", [(2, "2 batches"), (1, "1 batch"), (0.5, "0.5 of the batches")])
def test_a_limit_of_batches_is_refused_before_the_run_folder(tmp_path, limit, what):
    with pytest.raises(ValueError, match=rf"^trainer.limit_val_batches={limit} validates {what} on each device, so "
                                         r"val/nll would score other items at another batch size or device count: "
                                         r"choose the items instead with --data.init_args.val_items=N"):
        main(["fit", *FAST, f"--trainer.limit_val_batches={limit}", "--run_root", str(tmp_path), "--run_name", "r"])
    assert not (tmp_path / "polynomial").exists()


def test_a_trainer_given_a_limit_of_batches_is_refused(tiny_module):
    """The module's own check, for a Lightning Trainer built without the CLI; 0 (no validation) and 1.0 pass."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(torch.zeros(4, 1, 64)), batch_size=2)
    trainer = L.Trainer(limit_val_batches=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu")
    # in the words of a plain Trainer and a DataModule, not the command line's flags
    with pytest.raises(ValueError, match=r"^trainer.limit_val_batches=3 validates 3 batches on each device, .*: choose "
                                         r"the items instead with the DataModule's val_items=N \(the first N val items; "
                                         r"null: all of them\), or turn validation off with Trainer\(limit_val_batches"
                                         r"=0\)$"):
        trainer.validate(tiny_module, loader)
    off = L.Trainer(limit_val_batches=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
                    accelerator="cpu")
    assert off.validate(tiny_module, loader) == []


def test_an_earlier_run_s_limit_becomes_the_items_one_device_validated(tmp_path, capsys):
    """A run whose config.yaml was written with limit_val_batches (the configs' default until val_items existed)
    resumes validating its first limit x batch_size val items, the ones its earlier validations and best checkpoint
    scored on one device, and its config.yaml says so from then on; the same option given on the command line is
    refused."""
    args = [*FAST, "--data.init_args.batch_size=4", "--trainer.val_check_interval=2", "--trainer.max_steps=2",
            "--checkpoint.every_n_train_steps=2", "--run_root", str(tmp_path), "--run_name", "old"]
    main(["fit", *args])
    run = tmp_path / "polynomial" / "old"
    config = yaml.safe_load((run / "config.yaml").read_text())
    del config["data"]["init_args"]["val_items"]  # as an earlier version wrote it
    config["trainer"]["limit_val_batches"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"^trainer.limit_val_batches=3 validates 3 batches on each device"):
        main(["fit", "--resume", str(run), "--trainer.max_steps=4", "--trainer.limit_val_batches=3"])
    capsys.readouterr()
    cli = main(["fit", "--resume", str(run), "--trainer.max_steps=4"])
    assert f"[run] {run / 'config.yaml'} validates trainer.limit_val_batches=2 batches of 4: validation scores the " \
           "first 8 val items instead (data.init_args.val_items=8), on any batch size and number of devices" in \
           capsys.readouterr().out.splitlines()
    assert cli.trainer.global_step == 4 and cli.datamodule.val_items == 8 and cli.trainer.limit_val_batches == 1.0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["init_args"]["val_items"] == 8 and saved["trainer"]["limit_val_batches"] is None


def test_a_test_reads_only_the_items_the_evaluation_scores(capsys):
    """An evaluation with max_items 2 read the whole test split (13 batches of CIFAR-10's 200 test images) and
    computed test/val_nll on each: minutes of forward passes that metrics.json never used. The test loader now stops
    at max_items, the items keeping their split index; a fit, and an evaluation without max_items, read them all."""
    from types import SimpleNamespace

    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.evaluation import SweepEvaluation

    data = PolynomialDataModule(resolution=64, test_size=20, train_size=8, val_size=4, batch_size=4)

    def setup(stage: str, *callbacks) -> str:  # the [data] line
        data.trainer = SimpleNamespace(callbacks=list(callbacks))
        data.setup(stage)
        data.trainer = None  # the loaders below, as a notebook's
        return capsys.readouterr().out

    setup("fit", SweepEvaluation(max_items=6))
    assert len(data.test_dataloader().dataset) == 20
    assert setup("test", SweepEvaluation()) == "[data] test 20 functions\n"
    assert len(data.test_dataloader().dataset) == 20
    said = "[data] test 20 functions (the test reads the first 6: the evaluation's max_items)\n"
    assert setup("test", SweepEvaluation(max_items=6)) == said
    loader = data.test_dataloader()
    assert [int(i) for batch in loader for i in batch["index"]] == [0, 1, 2, 3, 4, 5]
    assert setup("test", SweepEvaluation(max_items=50)) == "[data] test 20 functions\n"
    assert len(data.test_dataloader().dataset) == 20  # more than the split holds: all of it
    assert setup("test") == "[data] test 20 functions\n"  # no evaluation: all of it
