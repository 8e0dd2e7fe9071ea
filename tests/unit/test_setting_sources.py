"""Where a setting comes from: the config file a parser error is about, options a later config overrides, renamed
options, a size config a checkpoint leaves unused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixeltransformer.config_files import settings, with_setting
from pixeltransformer.runs import with_run_config
from pixeltransformer.setting_sources import config_setting, overridden_options, parse_error_fields, parse_error_key

REPO = Path(__file__).resolve().parents[2]


def test_a_parser_error_about_an_option_names_the_config_file_that_sets_it(tmp_path):
    """With four config files composed, "Group 'model' does not accept option 'net.widht'" or "Expected a <class
    'int'>. Got value: lots" did not say which file: the CLI names the first file, in the command line's order (the
    parser stops at the first that fails), that sets the option (to the value named), unless an option of the command
    line does."""
    assert parse_error_key("Subcommand 'fit' does not accept option 'model.net.widht'") == "model.net.widht"
    assert parse_error_key("Group 'model' does not accept option 'net.widht'") == "model.net.widht"
    assert parse_error_key("Option 'modle.x' is not accepted") == "modle.x"
    assert parse_error_key("data: Option 'batchsize' is not accepted (PolynomialDataModule)") == "data.batchsize"
    assert parse_error_key('Parser key "trainer.max_steps": Expected a <class \'int\'>. Got value: lots') == \
        "trainer.max_steps"
    assert parse_error_key("data.init_args.dataset: Expected a typing.Literal['digits']. Got value: npz "
                           "(ImageDataModule)") == "data.init_args.dataset"
    assert parse_error_key("unrecognized arguments: --model.net.widht=64") is None
    assert parse_error_fields('Parser key "trainer.max_steps": Expected a <class \'int\'>. Got value: lots') == \
        ("trainer.max_steps", "lots")
    assert parse_error_fields("data.init_args.dataset: Expected a typing.Literal['digits']. Got value: npz "
                              "(ImageDataModule)") == ("data.init_args.dataset", "npz")
    assert parse_error_fields("Group 'model' does not accept option 'net.widht'") == ("model.net.widht", None)
    base, overlay = str(REPO / "configs/images.yaml"), str(REPO / "configs/video/beach.yaml")
    typo, ok, lots = tmp_path / "typo.yaml", tmp_path / "ok.yaml", tmp_path / "lots.yaml"
    typo.write_text("model:\n  net:\n    widht: 64\n")
    ok.write_text("trainer:\n  max_steps: 40\ndata:\n  batchsize: 4\n")
    lots.write_text("trainer:\n  max_steps: lots\n")
    given = ["fit", "--config", base, "-c", str(ok), f"--config={typo}", "--config", str(lots)]
    assert config_setting(given, "model.net.widht") == str(typo)
    assert config_setting(given, "data.init_args.dataset") == base  # init_args as the file gives it
    assert config_setting(given, "data.init_args.batchsize") == str(ok)  # init_args left out in the file
    assert config_setting(given, "trainer.max_steps", "lots") == str(lots)  # not ok.yaml's valid 40
    assert config_setting([*given, "--trainer.max_steps=x"], "trainer.max_steps", "lots") == str(lots)
    assert config_setting(["fit", "--trainer.max_steps", "x", *given[1:]], "trainer.max_steps", "x") is None
    assert config_setting(["fit", "--config", base, "--config", overlay], "data.init_args.dataset", "npz") == overlay
    assert config_setting(given, "model.net.width") is None  # set by no file


def test_an_option_that_a_later_config_sets_again_is_named(tmp_path):
    """Options and configs take effect in the order given: ``--trainer.max_steps 1`` before an overlay that sets
    max_steps trained the overlay's 10 000 steps without a word. Each option a later --config sets to another value
    is named once, with the file whose value is used (the last that sets it)."""
    base, overlay = str(REPO / "configs/polynomial.yaml"), str(REPO / "configs/polynomial/gp_tnp_rbf.yaml")
    assert overridden_options(["fit", "--config", base, "--trainer.max_steps", "1", "--config", overlay]) == [
        f"--trainer.max_steps=1 is overridden by {overlay} after it (options take effect in the order given): give it "
        "after the last --config"]
    data, more = tmp_path / "data.yaml", tmp_path / "more.yaml"
    data.write_text("data:\n  class_path: domains.polynomial.data.PolynomialDataModule\n  init_args:\n"
                    "    batch_size: 8\n")
    more.write_text("data:\n  batch_size: 16\ntrainer:\n  max_steps: 3\n")  # init_args left out, as the parser allows
    notes = overridden_options(["fit", "--data.init_args.batch_size=4", "--trainer.max_steps=9", "--config",
                                str(data), f"--config={more}"])
    assert [note.split(" is overridden by ")[0] for note in notes] == ["--data.init_args.batch_size=4",
                                                                        "--trainer.max_steps=9"]
    assert all(f"by {more} after it" in note for note in notes)  # the last file that sets it: its value is used
    assert len(overridden_options(["fit", "--data.batch_size", "4", "-c", str(data)])) == 1  # init_args left out
    # nothing to say: options after the configs (make's order), a file that sets the same value or not the option,
    # the option given again after the file, a file that cannot be read
    quiet = [["fit", "--config", base, "--config", overlay, "--trainer.max_steps", "1"],
             ["fit", "--config", base, "--trainer.max_steps=10000", "--config", overlay],
             ["fit", "--data.batch_size=16", "--config", str(more)],
             ["fit", "--model.net.width=64", "--seed_everything", "3", "--config", str(more)],
             ["fit", "--trainer.max_steps=1", "--config", str(more), "--trainer.max_steps=1"],
             ["fit", "--trainer.max_steps=1", "--config", str(tmp_path / "missing.yaml")]]
    for argv in quiet:
        assert overridden_options(argv) == [], argv
    # a resume: the run's own config.yaml goes first, before every option (with_run_config), and overrides none
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer:\n  max_steps: 10\nckpt_path: null\n")
    resume = ["fit", "--trainer.max_steps=20", "--resume", str(run)]
    assert overridden_options(resume) == overridden_options(with_run_config(resume)) == []
    # a run's config.yaml (ckpt_path: null) after --ckpt_path: the CLI refuses it in words of its own
    assert overridden_options(["test", "--ckpt_path", "last.ckpt", "--config", str(run / "config.yaml")]) == []


def test_an_option_a_later_config_leaves_as_it_was_is_not_named_and_one_it_replaces_is(tmp_path):
    """A later config changes only the keys it sets: ``--model.net '{heads: 2}' --config b.yaml`` (b.yaml sets net's
    width alone) trains with 2 heads, and was said to be "overridden by b.yaml"; a mapping given to a group is named
    by the keys of it the file sets to another value. A list a later file gives is replaced whole:
    ``--trainer.callbacks.num_samples=2`` edits the config's last callback, which the overlay's callbacks replace, and
    went unnamed."""
    width, data = tmp_path / "width.yaml", tmp_path / "data.yaml"
    width.write_text("model:\n  net:\n    width: 64\n")
    data.write_text("data:\n  init_args:\n    batch_size: 8\n")
    quiet = [["fit", "--model.net", "{heads: 2}", "--config", str(width)],
             ["fit", "--model.net={width: 64, heads: 2}", "--config", str(width)],
             ["fit", "--data", "{init_args: {num_workers: 1}}", "--config", str(data)],
             ["fit", "--data={num_workers: 1}", "-c", str(data)],  # init_args left out, as the parser allows
             ["fit", "--model", "{net: {heads: 2}, optim: {lr: 0.01}}", "--config", str(width)]]
    for argv in quiet:
        assert overridden_options(argv) == [], argv
    assert overridden_options(["fit", "--model.net", "{width: 32, heads: 2}", "--config", str(width)]) == [
        f"--model.net={{width: 32, heads: 2}}: its width is overridden by {width} after it (options take effect in "
        "the order given): give it after the last --config"]
    assert overridden_options(["fit", "--data={init_args: {batch_size: 4}}", "--config", str(data)]) == [
        f"--data={{init_args: {{batch_size: 4}}}}: its init_args.batch_size is overridden by {data} after it "
        "(options take effect in the order given): give it after the last --config"]
    base, overlay = str(REPO / "configs/polynomial.yaml"), str(REPO / "configs/polynomial/gp_tnp_rbf.yaml")
    assert overridden_options(["fit", "--config", base, "--trainer.callbacks.num_samples=2", "--config",
                               overlay]) == [
        f"--trainer.callbacks.num_samples=2 is overridden by {overlay} after it, whose trainer.callbacks replaces "
        "the list it edits (options take effect in the order given): give it after the last --config"]


def test_a_mapping_appended_to_a_list_a_later_file_gives_anew_is_named_as_the_list_replaced():
    """``--trainer.callbacks+={class_path: ..., init_args: {max_items: 8}}`` before a config that gives the callbacks
    said "its class_path and init_args.max_items are overridden": the file drops the whole appended callback."""
    base = str(REPO / "configs/polynomial.yaml")
    given = "--trainer.callbacks+={class_path: pixeltransformer.evaluation.SweepEvaluation, init_args: {max_items: 8}}"
    assert overridden_options(["fit", given, "--config", base]) == [
        f"{given} is overridden by {base} after it, whose trainer.callbacks replaces the list it appends to (options "
        "take effect in the order given): give it after the last --config"]


def test_a_parser_error_about_an_option_of_an_earlier_version_names_its_new_name():
    """A run's config.yaml or a config file written before the options moved into groups (``model: encoder:``),
    the command line's ``--model.encoder``, and an evaluation callback's ``max_batches`` (now ``max_items``) were
    told only that the option is not accepted."""
    from pixeltransformer.setting_sources import moved_note

    assert moved_note("Subcommand 'fit' does not accept option 'model.encoder'") == \
        "; model.encoder is now model.net.encoder"
    assert moved_note("unrecognized arguments: --model.query_focus=0.5") == \
        "; model.query_focus is now model.sets.focus_fraction"
    assert moved_note("Group 'model' does not accept option 'preset'") == \
        "; model.preset is now --config configs/model/<size>.yaml"
    assert moved_note("trainer.callbacks: Option 'max_batches' is not accepted (SweepEvaluation)") == \
        "; SweepEvaluation.max_batches is now max_items (the first N test items, not batches)"
    # the domains' evaluations took it as well
    assert moved_note("trainer.callbacks: Option 'max_batches' is not accepted (ImageEvaluation)") == \
        "; ImageEvaluation.max_batches is now max_items (the first N test items, not batches)"
    assert moved_note("Subcommand 'fit' does not accept option 'model.net.widht'") == ""
    assert moved_note("data: Option 'batchsize' is not accepted (PolynomialDataModule)") == ""


def test_a_size_config_given_with_a_checkpoint_of_another_size_is_said_to_be_unused(tmp_path, monkeypatch):
    """`--config configs/model/tiny.yaml` with --ckpt_path of a model of another size: the checkpoint's size is built
    (its weights set it), and the file went unused without a word, where a --model.net.width given says so."""
    import torch

    import domains.polynomial.domain  # noqa: F401 (the domain the checkpoint names)
    from pixeltransformer.cli import main
    from pixeltransformer.setting_sources import size_config_options
    from tests.cli.checkpoints import untrained_checkpoint

    tiny = str(REPO / "configs" / "model" / "tiny.yaml")
    spec = {"domain": "polynomial", "dataset": "polynomial", "grid_shape": [64], "val_dims": 1,
            "val_range": [-5.0, 5.0], "num_bins": 1}
    torch.save(untrained_checkpoint(spec, net={"width": 32, "ffn": 64}), tmp_path / "small.ckpt")
    assert size_config_options(["test", "--config", "configs/polynomial.yaml", "--config", tiny]) == {
        f"model.net.{key}": tiny for key in ("width", "encoder_layers", "decoder_layers", "heads", "ffn")}
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.warns(UserWarning, match=rf"^--config {re.escape(tiny)} is not used: the checkpoint's weights set "
                                         r"the model's size \(model\.net\.width=64, the checkpoint's 32; "
                                         r"model\.net\.ffn=128, the checkpoint's 64\)$"):
        cli = main(["validate", "--config", str(REPO / "configs" / "polynomial.yaml"), "--config", tiny,
                    "--data.init_args.resolution=64", "--data.init_args.val_size=2", "--data.init_args.val_items=2",
                    "--trainer.callbacks=[]", "--ckpt_path", str(tmp_path / "small.ckpt")])
    assert cli.model.net_config.width == 32


def test_an_option_of_a_callback_in_a_run_s_config_yaml_is_named_by_its_file(tmp_path):
    """A run's config.yaml edited with an evaluation callback's option of an earlier version (``max_batches``): the
    parser's "trainer.callbacks: Option 'max_batches' is not accepted" named no file; the file is found in the
    callbacks' list, as a top-level option's is."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer:\n  callbacks:\n  - class_path: pixeltransformer.callbacks.Pictures\n"
                                     "    init_args:\n      num_examples: 2\n"
                                     "  - class_path: pixeltransformer.evaluation.SweepEvaluation\n"
                                     "    init_args:\n      max_batches: 4\n")
    argv = ["test", "--config", str(run / "config.yaml"), "--ckpt_path", "last.ckpt"]
    key, got = parse_error_fields("trainer.callbacks: Option 'max_batches' is not accepted (SweepEvaluation)")
    assert config_setting(argv, key, got) == str(run / "config.yaml")
    assert config_setting(argv, "trainer.callbacks.num_examples", "2") == str(run / "config.yaml")
    assert config_setting(argv, "trainer.callbacks.max_items") is None


def test_the_options_of_a_command_line_are_read_with_their_values_as_the_parser_reads_them():
    """Each option with its value (after "=", else the next argument), and where it stands: a next argument that
    starts with "--" is the next option (a flag given alone), one that starts with "-" alone is taken as a value
    (-inf, which argparse itself refuses there), and an option last on the line has none. A value that starts with "-" is read as an option as well."""
    argv = ["fit", "-c", "a.yaml", "--config=b.yaml", "--trainer.fast_dev_run", "--model.temperature", "-inf",
            "--trainer.max_steps=", "--run_name"]
    assert list(settings(argv)) == [("-c", "a.yaml", 1), ("--config", "b.yaml", 3),
                                    ("--trainer.fast_dev_run", None, 4), ("--model.temperature", "-inf", 5),
                                    ("-inf", None, 6), ("--trainer.max_steps", "", 7), ("--run_name", None, 8)]
    assert with_setting(argv, 5, ".inf")[5:7] == ["--model.temperature", ".inf"]
    assert with_setting(argv, 3, "c.yaml")[3] == "--config=c.yaml"


def test_a_parser_error_without_its_value_names_no_file_where_several_sources_set_the_key(tmp_path):
    """`--trainer.callbacks+=NoSuchCallback` (or a later --config whose callbacks list is bad) was refused as
    `configs/polynomial.yaml: Parser key "trainer.callbacks": ...`: the first file that sets the key was named, though
    the error names no value that tells which source failed. Where more than one source sets it, none is named; an
    option appended to (`--key+=`) counts as the command line's."""
    base, bad = str(REPO / "configs/polynomial.yaml"), tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  callbacks:\n    - NoSuchCallback\n")
    assert config_setting(["fit", "--config", base, "--trainer.callbacks+=NoSuchCallback"], "trainer.callbacks") is None
    assert config_setting(["fit", "--config", base, "--config", str(bad)], "trainer.callbacks") is None
    assert config_setting(["fit", "--config", str(bad)], "trainer.callbacks") == str(bad)  # the one source
    assert config_setting(["fit", "--config", base, "--trainer.callbacks+=X"], "trainer.callbacks", "X") is None


def test_setting_source_is_the_last_source_that_sets_the_key(tmp_path):
    """The config file that sets a key last, or None where the command line's option does (or nothing sets it)."""
    from pixeltransformer.setting_sources import setting_source

    gpu, unset = tmp_path / "gpu.yaml", tmp_path / "other.yaml"
    gpu.write_text("trainer:\n  accelerator: gpu\n")
    unset.write_text("trainer:\n  max_steps: 3\n")
    assert setting_source(["--trainer.accelerator", "cpu", "--config", str(gpu)], "trainer", "accelerator") == str(gpu)
    assert setting_source(["--config", str(gpu), "--trainer.accelerator=cpu"], "trainer", "accelerator") is None
    assert setting_source(["--config", str(gpu), "-c", str(unset)], "trainer", "accelerator") == str(gpu)
    assert setting_source(["--config", str(unset)], "trainer", "accelerator") is None
