"""The checks of a command line before Lightning is imported: the command word, the config files given (YAML
options, their order, one domain), the checkpoint and run folder named."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from pixeltransformer.preflight import (check_command_line, check_config_files, check_config_order,
                                        check_set_by_the_cli, preflight)

REPO = Path(__file__).resolve().parents[2]


def test_a_run_folder_given_as_a_checkpoint_names_the_checkpoint_in_it(tmp_path):
    """--ckpt_path of a run folder (or its checkpoints/) said "<folder> is a folder, not a checkpoint file" and not
    which file to give; the run's last.ckpt is named, and a run folder's resume, quoted for the shell."""
    from pixeltransformer.loading import CheckpointError, load_checkpoint

    run = tmp_path / "my run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"not read")
    last = re.escape(shlex.quote(str(run / "checkpoints" / "last.ckpt")))
    resume = re.escape(f" (to continue the run: fit --resume {shlex.quote(str(run))})")
    for given, then in ((run, resume), (run / "checkpoints", "")):
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(given))} is a folder, not a checkpoint file: "
                                                  rf"give one in it, as {last}{then}$"):
            preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(given)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"/empty is a folder, not a checkpoint file$"):
        load_checkpoint(tmp_path / "empty")
    (run / "checkpoints" / "last.ckpt").unlink()  # checkpoint.save_last=false: its best, the latest (was the oldest)
    for step in (2, 4):
        (run / "checkpoints" / f"best-step00000{step}.ckpt").write_bytes(b"not read")
    best = re.escape(shlex.quote(str(run / "checkpoints" / "best-step000004.ckpt")))
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(run))} is a folder, not a checkpoint file: give one "
                                              rf"in it, as {best}{resume}$"):
        load_checkpoint(run)


def test_a_missing_checkpoint_of_a_run_names_what_the_run_kept(tmp_path):
    """test --ckpt_path <run>/checkpoints/last.ckpt of a run whose fit kept none (stopped before its first
    checkpoint, or still running) or only its best (checkpoint.save_last=false) said "checkpoint not found" alone: it
    names the checkpoint the run kept (its latest best), or that it kept none, with the remedy a new fit of the run's
    name is given (it said "train it again", which the same --run_name refuses)."""
    from pixeltransformer.loading import CheckpointError

    run = tmp_path / "my run"
    run.mkdir()
    (run / "config.yaml").write_text("data: {}\n")
    last = run / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=rf"^checkpoint not found: {re.escape(str(last))} \(the run "
                                              rf"{re.escape(str(run))} kept no checkpoint: its fit stopped before the "
                                              r"first save, or is still running; train it again under another "
                                              r"--run_name \(or, if no fit runs in it, delete "
                                              rf"{re.escape(str(run))} to reuse the name\)\)$"):
        preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(last)])
    (run / "checkpoints").mkdir()
    for step in (2, 4):
        (run / "checkpoints" / f"best-step00000{step}.ckpt").write_bytes(b"not read")
    best = shlex.quote(str(run / "checkpoints" / "best-step000004.ckpt"))
    with pytest.raises(CheckpointError, match=rf"^checkpoint not found: {re.escape(str(last))} \(the run kept "
                                              rf"{re.escape(best)}: give that\)$"):
        preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(last)])


def test_a_missing_checkpoint_of_a_run_names_the_one_kept_in_its_checkpoint_dirpath(tmp_path):
    """A run whose fit wrote its checkpoints to checkpoint.dirpath elsewhere, given as <run>/checkpoints/last.ckpt,
    was told that it kept no checkpoint and to train it again: the checkpoint it kept there is named."""
    from pixeltransformer.loading import CheckpointError

    run, elsewhere = tmp_path / "r", tmp_path / "elsewhere"
    (run / "checkpoints").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "last.ckpt").write_bytes(b"not read")
    (run / "config.yaml").write_text(f"checkpoint:\n  dirpath: {elsewhere}\n")
    last = run / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=rf"^checkpoint not found: {re.escape(str(last))} \(the run kept "
                                              rf"{re.escape(shlex.quote(str(elsewhere / 'last.ckpt')))}: give that\)$"):
        preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(last)])


def test_a_missing_checkpoint_of_a_run_whose_fit_still_runs_says_it_runs(tmp_path):
    """test or predict --ckpt_path <run>/checkpoints/last.ckpt while the run's fit trains towards its first save said
    "checkpoint not found" alone: it says that the fit still runs, and to try again after its first save."""
    from pixeltransformer.loading import CheckpointError
    from pixeltransformer.runs import hold_run_folder, release_run_folder

    run = tmp_path / "run"
    held = hold_run_folder(run, new=True)  # as the running fit holds it
    (run / "config.yaml").write_text("data: {}\n")
    last = run / "checkpoints" / "last.ckpt"
    try:
        with pytest.raises(CheckpointError, match=rf"^checkpoint not found: {re.escape(str(last))} \(the run "
                                                  rf"{re.escape(str(run))} has saved no checkpoint yet: its fit "
                                                  rf"\(process {os.getpid()} on .*\) is still running; try again "
                                                  r"after its first save\)$"):
            preflight(["predict", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(last)])
        for given in (run, run / "checkpoints"):  # the run folder given, which said "is a folder" alone
            given.mkdir(exist_ok=True)
            with pytest.raises(CheckpointError, match=rf"^{re.escape(str(given))} is a folder, not a checkpoint file "
                                                      r"\(the run .* has saved no checkpoint yet: its fit \(process "
                                                      r".*\) is still running; try again after its first save\)$"):
                preflight(["test", "--config", str(REPO / "configs/polynomial.yaml"), "--ckpt_path", str(given)])
    finally:
        release_run_folder(run, held)


def test_what_the_cli_sets_is_refused_in_a_config_file_but_not_in_one_a_run_folder_holds(tmp_path):
    """The run folder and the W&B group in a config file are refused in one line, found also in a logger list (only
    the W&B logger's group: another logger's is its own); the files earlier versions wrote into a run folder, its
    config.yaml and an evaluation's config_test.yaml, record them and are read as they are."""
    text = ("trainer:\n  default_root_dir: runs/polynomial/r\n  logger:\n"
            "  - class_path: lightning.pytorch.loggers.WandbLogger\n    init_args: {group: polynomial/r}\n")
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "eval").mkdir(parents=True)
    (run / "wandb_id.txt").write_text("0123abcd\n")
    for config in (run / "config.yaml", run / "eval" / "config_test.yaml", tmp_path / "config.yaml"):
        config.write_text(text)
    check_set_by_the_cli(["fit", "--config", str(run / "config.yaml"), "-c", str(run / "eval" / "config_test.yaml")])
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'config.yaml'} sets trainer.default_root_dir and "
                                         r"trainer.logger.init_args.group: each run goes to its own folder, .*; a run "
                                         r"folder's fits and evaluations form one W&B group, .*tags\)$"):
        check_set_by_the_cli(["fit", f"--config={tmp_path / 'config.yaml'}"])
    other = tmp_path / "other.yaml"
    other.write_text("trainer:\n  logger:\n  - class_path: mine.GroupLogger\n    init_args: {group: g}\n")
    check_set_by_the_cli(["fit", "--config", str(other)])


def test_a_value_that_spells_what_the_cli_sets_is_no_option():
    """A value of an option (--run_name trainer.default_root_dir, a W&B run named trainer.logger.group) was refused
    as if it were the option --trainer.default_root_dir ("each run goes to its own folder"); the options still are."""
    check_set_by_the_cli(["fit", "--run_name", "trainer.default_root_dir", "--trainer.logger.init_args.name",
                          "trainer.logger.group"])
    with pytest.raises(ValueError, match=r"^--trainer.logger.group: a run folder's fits and evaluations form one"):
        check_set_by_the_cli(["fit", "--trainer.logger.init_args.name", "trainer.logger.group",
                              "--trainer.logger.group=g"])


def test_an_overlay_given_before_its_domain_config_is_named():
    """configs/images/mnist.yaml alone, or before configs/images.yaml: one line naming the order, not the parser's
    "Option 'dataset' is not accepted"."""
    overlay, base = REPO / "configs/images/mnist.yaml", REPO / "configs/images.yaml"
    gpu = REPO / "configs/trainer/gpu.yaml"
    for argv in (["fit", "--config", str(overlay)], ["fit", f"--config={overlay}", "--config", str(base)],
                 ["test", "-c", str(overlay), "-c", str(base)],
                 ["fit", "--config", str(gpu), "--config", str(overlay)]):  # a config before it, but not the domain's
        with pytest.raises(ValueError, match=rf"^{overlay} is an overlay of {base}: give --config {base} before it$"):
            check_config_order(argv)
    for other in (REPO / "configs/video/beach.yaml", REPO / "configs/sdf/eval_quick.yaml"):  # a dataset, an option file
        theirs = other.parent.with_suffix(".yaml")
        for argv in (["fit", "--config", str(base), "--config", str(other)],
                     ["fit", "--config", str(base), "--config", str(overlay), "--config", str(gpu), "-c", str(other)]):
            with pytest.raises(ValueError, match=rf"^{other} is an overlay of {theirs} \(the {theirs.stem} domain\), "
                               rf"but the data before it is {base}'s \(the images domain\): give --config {theirs} "
                               rf"before it, in place of {base}$"):
                check_config_order(argv)
    for argv in (["fit", "--config", str(base), "--config", str(overlay)],  # the documented order
                 ["fit", "--config", str(REPO / "configs/model/paper.yaml"), "--config", str(base)],  # not a dataset
                 ["fit", "--resume", "runs/images/r", "--config", str(overlay)],  # the run's config.yaml comes first
                 ["fit", "--config", str(base), "--config", str(gpu), "--config", str(overlay)],
                 ["fit"]):
        check_config_order(argv)


def test_configs_of_two_domains_are_refused_naming_both(tmp_path):
    """configs/polynomial.yaml then configs/images.yaml: the images data and model with the polynomial's options left
    over, which stopped on "a per-set value frame (model.net.value_norm) needs one Gaussian", or trained a mix of
    both without a word."""
    poly, images, video = (REPO / f"configs/{d}.yaml" for d in ("polynomial", "images", "video"))
    mine = tmp_path / "mine.yaml"  # a config of the user's that names the video data class
    mine.write_text("data:\n  class_path: domains.video.data.VideoDataModule\n")
    for first, later, argv in (
            (poly, images, ["fit", "--config", str(poly), "--config", str(images)]),
            (images, video, ["test", "-c", str(images), "--config", str(video), "--config",
                             str(REPO / "configs/video/beach.yaml")]),
            (poly, mine, ["fit", "--config", str(poly), "--config", str(REPO / "configs/model/tiny.yaml"),
                          f"--config={mine}"])):
        theirs, mine_domain = first.stem, "video" if later == mine else later.stem
        with pytest.raises(ValueError, match=re.escape(
                f"{later} is for the {mine_domain} domain, but {first} before it is for the {theirs} domain: the "
                f"options of the two would mix; give the configs of one domain")):
            check_config_order(argv)
    check_config_order(["fit", "--config", str(images), "--config", str(REPO / "configs/images/mnist.yaml"),
                        "--config", str(images)])  # one domain's config given twice


def test_a_config_file_that_is_not_a_mapping_of_options_is_named_with_its_cause(tmp_path):
    """A config file with a YAML mistake names the file, the problem and its line (the parser said only "Problems
    parsing config: while parsing a flow sequence"); an empty one, or one of a list, says so (the parser: "Unexpected
    config: "); an option group left empty (its options commented out) or given a number is named (it ended in a
    traceback, or for trainer: wiped every earlier config's trainer settings without a word)."""
    cases = {
        "model:\n  net:\n    width: [64\n":
            "not valid YAML: expected ',' or ']', but got '<stream end>' at line 4, column 1 (while parsing a flow "
            "sequence at line 3, column 12)",
        "model:\n\tnet: 1\n": "not valid YAML: found character '\\t' that cannot start any token at line 2, column 1: "
                              "YAML indents with spaces, not tabs: replace the tabs with spaces",
        "model:\n  net:\n  \twidth: 64\n": "at line 3, column 3: YAML indents with spaces, not tabs: replace",
        "model:\n  net:\n    width: 64\nmodel:\n  optim:\n    lr: 0.01\n":  # the parser: "while constructing a mapping"
            "not valid YAML: the key 'model' is given twice (first at line 1) at line 4, column 1",
        "model:\n  net: {width: 64, width: 32}\n":
            "not valid YAML: the key 'width' is given twice (first at line 2) at line 2, column 20",
        "": "holds no options (it is empty, or only comments): give options in it (model:, data:, trainer:, ...) or "
            "leave out --config {path}",
        "# model:\n#   net: {width: 64}\n": "holds no options (it is empty, or only comments)",
        "- a\n- b\n": "holds a list, not options: a config file is a mapping (model:, data:, trainer:, ...)",
        "model:\n  net:\n    # width: 64\n": ": model.net is empty (null): give its options indented below it, or "
                                                "leave net: out",
        "trainer:\n  # max_steps: 5\n": ": trainer is empty (null): give its options indented below it, or leave "
                                         "trainer: out",
        "checkpoint: 5\n": ": checkpoint must hold its options (checkpoint: then its options indented below it), got "
                           "number 5",
        "model:\n  optim: [1, 2]\n": ": model.optim must hold its options (optim: then its options indented below "
                                      "it), got list [1, 2]",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(text)
        for argv in (["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(path)],
                     ["test", f"--config={path}"], ["fit", "-c", str(path)]):
            with pytest.raises(ValueError) as err:
                check_config_files(argv)
            assert str(err.value).startswith(str(path)) and message.format(path=path) in str(err.value), text
            assert "\n" not in str(err.value)
    # a checkpoint given as --config (the parser: "'utf-8' codec can't decode byte 0x80 in position 64"), other bytes
    import zipfile

    with zipfile.ZipFile(tmp_path / "last.ckpt", "w") as ckpt:  # torch.save's format: a zip archive
        ckpt.writestr("last/data.pkl", b"\x80\x02}q\x00.")
    (tmp_path / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match=rf"^--config {tmp_path}/last.ckpt is not a text file \(a config is YAML\): "
                                         r"a checkpoint is given as --ckpt_path$"):
        check_config_files(["test", "--config", str(REPO / "configs/polynomial.yaml"), "-c",
                            str(tmp_path / "last.ckpt")])
    with pytest.raises(ValueError, match=rf"^--config {tmp_path}/picture.png is not a text file \(a config is YAML\)$"):
        check_config_files(["fit", "--config", str(tmp_path / "picture.png")])
    # a multi-GB checkpoint is refused on its first bytes, not read whole (twice) first
    import tracemalloc

    with open(tmp_path / "big.ckpt", "wb") as big:
        big.write((tmp_path / "last.ckpt").read_bytes())
        big.truncate(64 << 20)  # sparse: 64 MiB
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"is not a text file \(a config is YAML\): a checkpoint is given as"):
        check_config_files(["fit", "--config", str(tmp_path / "big.ckpt")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20, peak
    # what the parser reads or reports itself: every shipped config, a group given as the path of a file of its
    # options, a null that is not a group (data's, a subclass the parser checks), a path that is not a file
    shipped = sorted((REPO / "configs").rglob("*.yaml"))
    (tmp_path / "net.yaml").write_text("model:\n  net: sizes.yaml\n  sets: null\nseed_everything: null\n")
    check_config_files(["fit", *[a for p in shipped for a in ("--config", str(p))], "--config",
                        str(tmp_path / "net.yaml"), "--config", "{trainer: {max_steps: 5}}"])


def test_a_config_in_another_encoding_is_named_with_its_first_byte_that_is_not_utf8(tmp_path):
    """A config saved as Latin-1 or Windows-1252 (an accent in a comment) was refused as "not a text file", which it
    is: the line names the encoding it needs and where the first byte it cannot read is."""
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  net:\n    width: 64  # café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^--config {re.escape(str(config))} is not UTF-8 text \(byte 0xe9 at "
                                         r"line 3, column 21\): save it as UTF-8$"):
        check_config_files(["fit", "--config", str(config)])


def test_a_resume_s_own_config_that_is_not_options_is_named_with_its_cause(tmp_path):
    """``fit --resume RUN`` reads RUN/config.yaml first: one cut short or emptied said the parser's "Problems parsing
    config: while parsing a flow sequence" or "Unexpected config:", naming neither the file nor the line."""
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    config = run / "config.yaml"
    config.write_text("# a run that never saved\n")
    check_command_line(["fit", "--resume", str(run)])  # no last.ckpt: the resume says so itself (resume_checkpoint)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    config.write_text("model:\n  net:\n    width: [64\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))}: not valid YAML: .* at line 4, column 1"):
        check_command_line(["fit", "--resume", str(run), "--trainer.max_steps=9"])
    config.write_text("# emptied\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))} holds no options \(it is empty, or only "
                                         r"comments\): a resume reads its run's settings from it: give them back in it "
                                         r"\(the run's command\.txt names the configs its fits were given\)$"):
        check_command_line(["fit", f"--resume={run}"])


def test_the_model_s_options_given_under_init_args_are_named_with_their_own_names(tmp_path):
    """The data is a class chosen by class_path, whose options go under init_args; the model is one class, whose
    options do not: ``--model.init_args.net.width 32`` said ``unrecognized arguments``, and a config file's
    ``model: init_args: net: ...`` said ``Group 'model' does not accept option 'init_args.net.width'``."""
    base = str(REPO / "configs/polynomial.yaml")
    for given in (["--model.init_args.net.width", "32"], ["--model.init_args.net.width=32"]):
        with pytest.raises(ValueError, match=r"^--model\.init_args\.net\.width: the model is one class, whose options "
                                             r"take no init_args \(the data's do\): give --model\.net\.width$"):
            check_command_line(["fit", "--config", base, *given])
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  class_path: pixeltransformer.module.PixelTransformerModule\n  init_args:\n"
                      "    net:\n      width: 32\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))}: model\.init_args: the model is one class, "
                                         r"whose options take no class_path or init_args \(the data's do\): give "
                                         r"them under model: itself \(model: net: width: 32\)$"):
        check_command_line(["fit", "--config", base, "--config", str(config)])
    # a class the model holds takes them: its set sampler
    check_command_line(["fit", "--config", base, "--model.sets.init_args.min_context=4", "--data.init_args.x=1"])


def test_a_command_without_a_config_is_told_which_to_give(tmp_path, monkeypatch):
    """``pixeltransformer predict --ckpt_path last.ckpt`` (or any command without --config) said ``the following
    arguments are required: predict.data``: the config that names the data and the domain is named, the checkpoint's
    run's config.yaml where the checkpoint lies in a run folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=rf"^fit needs a config that names the data and the model's domain: give "
                                         rf"--config {re.escape(str(REPO))}/configs/<domain>\.yaml \(<domain>: "
                                         r"images, polynomial, sdf or video\)$"):
        check_command_line(["fit", "--trainer.max_steps=5"])
    run = tmp_path / "runs" / "polynomial" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed_everything: 0\n")
    with pytest.raises(ValueError, match=r"^predict needs a config that names the data and the model's domain: give "
                                         r"--config runs/polynomial/r/config\.yaml, the checkpoint's run's$"):
        check_command_line(["predict", "--ckpt_path", "runs/polynomial/r/checkpoints/last.ckpt", "--input", "x.png"])
    # a config, the data given by option, --help, --print_config and a resume (which names its own mistakes) pass
    tiny = str(REPO / "configs/model/tiny.yaml")
    with pytest.raises(ValueError, match=rf"^fit needs a config .* or video\) before --config {re.escape(tiny)}$"):
        check_command_line(["fit", "--config", tiny])
    for argv in (["test", "-c", str(REPO / "configs/sdf.yaml"), "-c", tiny],
                 ["fit", "--data=domains.polynomial.data.X"],
                 ["fit", "--help"], ["predict", "-h"], ["fit", "--print_config"], ["fit", "--resume", "runs/gone"]):
        check_command_line(argv)


def test_a_config_path_that_is_no_file_is_named_with_what_to_give(tmp_path, monkeypatch):
    """``--config missing.yaml`` said jsonargparse's ``Parser key "config": File does not exist: '/abs/missing.yaml'``
    (a folder: "Path is not a file"), once Lightning was imported: one line names the path as given and what to give
    instead; a config given as YAML text (``--config '{trainer: {max_steps: 5}}'``) is still the parser's."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^--config missing\.yaml: no such file in "
                                                rf"{re.escape(str(tmp_path))} \(the folder the command runs in\)"):
        check_config_files(["fit", "--config", "missing.yaml"])
    with pytest.raises(FileNotFoundError, match=r"^--config /nowhere/x\.yaml: no such file: give the path of "):
        check_config_files(["fit", "--config=/nowhere/x.yaml"])
    with pytest.raises(FileNotFoundError, match=r"^--config x\.yaml: no such file in "):
        check_config_files(["fit", "-c=x.yaml"])  # as argparse reads it: -c x.yaml
    # a shipped config by a path that misses its folder, or given from outside the repository
    for given, meant in (("gp_rbf.yaml", "configs/polynomial/gp_rbf.yaml"),
                         ("configs/gp_rbf.yaml", "configs/polynomial/gp_rbf.yaml"),
                         ("configs/polynomial.yaml", "configs/polynomial.yaml")):
        with pytest.raises(FileNotFoundError, match=rf"; did you mean {re.escape(str(REPO / meant))}\?$"):
            check_config_files(["fit", "-c", given])
    run = tmp_path / "runs" / "polynomial" / "r"
    run.mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"^--config runs/polynomial/r is a folder, not a config file: give "
                                                r"the path of a YAML file$"):
        check_config_files(["fit", "--config", "runs/polynomial/r"])
    (run / "config.yaml").write_text("seed_everything: 1\n")
    with pytest.raises(IsADirectoryError, match=r"^--config runs/polynomial/r is a folder, not a config file: give "
                                                r"one of its YAML files: --config runs/polynomial/r/config\.yaml$"):
        check_config_files(["fit", "--config", "runs/polynomial/r"])
    check_config_files(["fit", "--config", "{trainer: {max_steps: 5}}", "--config", str(run / "config.yaml")])


def test_an_unknown_command_is_named_with_the_commands_there_are():
    """``pixeltransformer fitt`` said argparse's ``invalid choice: 'fitt' (choose from ...)`` once Lightning had
    loaded, and pointed at ``pixeltransformer fitt --help``, which does not exist; `evaluate`, `train` and `sample`
    (make's words) name the command that does what they ask."""
    commands = "the commands are fit, validate, test and predict (pixeltransformer <command> --help)"
    cases = {"fitt": f"unknown command 'fitt': {commands}; did you mean fit?",
             "evaluate": f"unknown command 'evaluate': {commands}; did you mean test?",
             "train": f"unknown command 'train': {commands}; did you mean fit?",
             "sample": f"unknown command 'sample': {commands}; did you mean predict?",
             "configs/polynomial.yaml": f"unknown command 'configs/polynomial.yaml': {commands}"}
    for word, message in cases.items():
        for check in (preflight, check_command_line):
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                check([word, "--config", str(REPO / "configs/polynomial.yaml")])
    for argv in (["fit", "--config", str(REPO / "configs/polynomial.yaml")], ["--help"], [], ["predict", "--help"]):
        check_command_line(argv)


def test_an_option_before_the_command_is_told_to_go_after_it():
    """``pixeltransformer --trainer.max_steps 3 fit ...`` said argparse's "argument subcommand: invalid choice: '3'
    (choose from 'fit', ...)" (with ``=3``: "unrecognized arguments"), after a warning that the option was overridden
    by the config after it. Options go after the command; the line says so, naming the option and the command. The
    main parser's own options (--config, --print_config, --help) stay where they are."""
    config = str(REPO / "configs/polynomial.yaml")
    cases = {("--trainer.max_steps", "3", "fit", "--config", config): ("--trainer.max_steps", "fit"),
             ("--trainer.max_steps=3", "fit", "--config", config): ("--trainer.max_steps", "fit"),
             ("--ckpt_path", "last.ckpt", "test"): ("--ckpt_path", "test"),
             # a value that is a command's name is no command
             ("--config", config, "--run_name", "test", "fit"): ("--run_name", "fit")}
    for argv, (option, command) in cases.items():
        for check in (preflight, check_command_line):
            with pytest.raises(ValueError, match=f"^{re.escape(option)} is given before the command {command}: "
                                                 f"options go after it \\(pixeltransformer {command} "
                                                 f"{re.escape(option)} \\.\\.\\.\\)$"):
                check(list(argv))
    for argv in (["--help"], ["-h", "fit"], ["--print_config", "fit", "--config", config]):
        check_command_line(argv)


def test_options_given_as_yaml_text_longer_than_a_file_name_are_read_as_yaml():
    """``--config '{trainer: {...}}'`` over 255 bytes stopped with "[Errno 36] File name too long" (the path checks
    raised OSError): it is YAML text of options, the parser's to read."""
    text = "{trainer: {max_steps: 5, " + ", ".join(f"limit_val_batches{i}: 1" for i in range(30)) + "}}"
    assert len(text.encode()) > 255
    check_config_files(["fit", "--config", text])


def test_a_config_ending_on_a_byte_that_is_not_utf8_names_the_byte(tmp_path):
    """A Latin-1 file ending on its accent (no final line break) was "not a text file": only a read cut at its 64 KiB
    limit may end inside a character."""
    config = tmp_path / "latin1.yaml"
    config.write_bytes("model:\n  net:\n    width: 64  # café".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^--config {re.escape(str(config))} is not UTF-8 text \(byte 0xe9 at "
                                         r"line 3, column 21\): save it as UTF-8$"):
        check_config_files(["fit", "--config", str(config)])


def test_a_model_class_path_is_named_on_its_own():
    """``--model.class_path=...`` said "give --model.--model.class_path" and spoke of init_args."""
    from pixeltransformer.preflight import check_model_options

    with pytest.raises(ValueError) as err:
        check_model_options(["fit", "--model.class_path=pixeltransformer.module.PixelTransformerModule"])
    assert str(err.value) == ("--model.class_path: the model is one class, chosen by no class_path: leave "
                              "--model.class_path out and give its options as --model.<name>")


def test_a_resume_refuses_a_config_of_another_domain_whichever_way_each_names_its_domain(tmp_path):
    """``fit --resume RUN --config F``: F naming another domain than RUN/config.yaml is refused, each naming it by
    ``model.domain.class_path`` or as a string; a config of the same domain, one naming none, YAML text and a run
    without a config.yaml pass."""
    from pixeltransformer.preflight import check_resume_configs

    run, other, same, none = tmp_path / "run", tmp_path / "images.yaml", tmp_path / "poly.yaml", tmp_path / "no.yaml"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  domain:\n    class_path: domains.polynomial.domain.PolynomialDomain\n")
    other.write_text("model:\n  domain: domains.images.domain.ImageDomain\n")
    same.write_text("model:\n  domain: domains.polynomial.domain.PolynomialDomain\n")
    none.write_text("trainer:\n  max_steps: 3\n")
    for given in (same, none, "{model: {domain: domains.images.domain.ImageDomain}}"):
        check_resume_configs(["fit", "--resume", str(run), "--config", str(given)])
    check_resume_configs(["fit", "--resume", str(tmp_path / "new"), "--config", str(other)])  # no config.yaml
    with pytest.raises(ValueError, match=rf"^--config {re.escape(str(other))} is for the images domain, but --resume "
                                         rf"{re.escape(str(run))} continues a polynomial run with its own config.yaml"):
        check_resume_configs(["fit", "--resume", str(run), "--config", str(same), "--config", str(other)])


def test_a_config_that_reads_an_unset_environment_variable_names_the_option_and_the_variable(tmp_path, monkeypatch):
    """`lr: ${oc.env:MY_LR}` with MY_LR unset said only `KeyError raised while resolving interpolation: "Environment
    variable 'MY_LR' not found"`, naming neither the file nor the option; a set variable, or one with a default, is
    the parser's to read."""
    monkeypatch.delenv("PT_TEST_UNSET_LR", raising=False)
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  optim:\n    lr: ${oc.env:PT_TEST_UNSET_LR}\n")
    argv = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(path)]
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: model.optim.lr reads the environment variable "
                                         r"PT_TEST_UNSET_LR \(\$\{oc.env:PT_TEST_UNSET_LR\}\), which is not set: set "
                                         r"it, or give a default: \$\{oc.env:PT_TEST_UNSET_LR,<value>\}$"):
        check_config_files(argv)
    path.write_text("model:\n  optim:\n    lr: ${oc.env:PT_TEST_UNSET_LR,0.01}\n")
    check_config_files(argv)
    monkeypatch.setenv("PT_TEST_UNSET_LR", "0.01")
    path.write_text("model:\n  optim:\n    lr: ${oc.env:PT_TEST_UNSET_LR}\n")
    check_config_files(argv)


def test_an_unset_environment_variable_in_a_list_or_a_list_s_mapping_is_named_as_a_scalar_s_is(tmp_path, monkeypatch):
    """`${oc.env:X}` with X unset in a list (``val_levels: [4, ${oc.env:X}]``) or in a mapping inside one (a
    callback's init_args) got the parser's "KeyError raised while resolving interpolation", where a scalar option
    got the line that names the option and the variable."""
    monkeypatch.delenv("PT_TEST_UNSET_X", raising=False)
    path = tmp_path / "mine.yaml"
    argv = ["fit", "--config", str(REPO / "configs/polynomial.yaml"), "--config", str(path)]
    tail = (r" reads the environment variable PT_TEST_UNSET_X \(\$\{oc.env:PT_TEST_UNSET_X\}\), which is not set: set "
            r"it, or give a default: \$\{oc.env:PT_TEST_UNSET_X,<value>\}$")
    path.write_text("model:\n  val_levels: [4, '${oc.env:PT_TEST_UNSET_X}']\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: model.val_levels\[1\]{tail}"):
        check_config_files(argv)
    path.write_text("trainer:\n  callbacks:\n    - class_path: pixeltransformer.callbacks.Pictures\n"
                    "      init_args:\n        levels: [4]\n        out: ${oc.env:PT_TEST_UNSET_X}\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: trainer.callbacks\[0\].init_args.out{tail}"):
        check_config_files(argv)
    monkeypatch.setenv("PT_TEST_UNSET_X", "6")
    check_config_files(argv)
