"""A fit is a function of its config: the same config and seeds give the same weights, bit for bit, on the CPU."""

from __future__ import annotations

import os
import re
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixeltransformer.cli import main
from pixeltransformer.launch import LAUNCHER_VARIABLES
from pixeltransformer.splits import split_indices

REPO = Path(__file__).resolve().parents[2]
DATA = {"polynomial": ["--data.init_args.train_size=24", "--data.init_args.val_size=4", "--data.init_args.test_size=4",
                       "--data.init_args.resolution=64"],
        "images": []}


@pytest.mark.parametrize("domain", ["polynomial", "images"])
def test_a_fit_gives_the_same_weights_twice_and_with_data_workers(tmp_path, domain):
    """The initial weights come from seed_everything, the sets from the module's seeded generator, the data order from
    the DataModule's seed, and an item is a function of its index: two fits of one config end with the same weights,
    also when two worker processes read the data, across an epoch's end (8 steps of 4 items: the 24 functions' first
    epoch ends at step 6). Another seed_everything gives other weights."""
    common = ["fit", "--config", str(REPO / f"configs/{domain}.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              *DATA[domain], "--data.init_args.batch_size=4", "--trainer.max_steps=8", "--trainer.limit_val_batches=0",
              "--trainer.callbacks=[]", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
              "--trainer.enable_model_summary=false", "--trainer.accelerator=cpu",
              "--checkpoint.every_n_train_steps=8", "--run_root", str(tmp_path)]

    def fit(name: str, *more: str) -> dict[str, torch.Tensor]:
        main([*common, "--run_name", name, *more])
        return torch.load(tmp_path / domain / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]

    first = fit("first")
    for name, more in [("again", ()), ("workers", ("--data.init_args.num_workers=2",))]:
        other = fit(name, *more)
        assert other.keys() == first.keys()
        assert [key for key in first if not torch.equal(first[key], other[key])] == [], name
    reseeded = fit("reseeded", "--seed_everything=1")
    assert not all(torch.equal(first[key], reseeded[key]) for key in first)


def warnings_of(argv: list[str], part: str) -> list[str]:
    """The warnings a command line gives that hold ``part``, each as its text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(argv)
    return [str(w.message) for w in caught if part in str(w.message)]


def test_an_evaluation_on_other_splits_than_the_checkpoint_trained_on_says_so(tmp_path):
    """The digits are one pool that the data seed splits: a model trained with data.init_args.seed=1 and evaluated with
    the default seed 0 was scored on 200 test digits of which 166 were its training digits, without a word. The
    checkpoint records the options that chose its splits, and an evaluation on other ones names them."""
    quiet = quiet_run(tmp_path, "s1")
    images = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              "--data.init_args.batch_size=4"]
    fit_one_step(*images, *quiet, "--data.init_args.seed=1")
    ckpt = str(tmp_path / "images" / "s1" / "checkpoints" / "last.ckpt")
    evaluate = ["test", *images, *quiet, "--ckpt_path", ckpt, "--trainer.limit_test_batches=1"]
    with pytest.warns(UserWarning, match=r"trained on the splits of data.init_args.seed=1, not this evaluation's "
                                         r"\(seed=0\).*pass --data.init_args.seed 1"):
        main(evaluate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main([*evaluate, "--data.init_args.seed=1"])
    assert not [w for w in caught if "splits of" in str(w.message)]
    # a resume continues the checkpoint's own splits, and one given another data seed says so
    run = tmp_path / "images" / "s1"
    with pytest.warns(UserWarning, match=r"trained on the splits of data.init_args.seed=1, not this run's \(seed=0\): "
                                         r"it may now train on its own validation and test items; pass "
                                         r"--data.init_args.seed 1 to continue on its own splits$"):
        main(resume_fit(quiet, run, 2, "--checkpoint.every_n_train_steps=1", "--data.init_args.seed=0"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(resume_fit(quiet, run, 3, "--checkpoint.every_n_train_steps=1"))
    assert not [w for w in caught if "splits of" in str(w.message)]


def test_an_old_checkpoint_s_layout_is_named_only_where_it_deals_other_splits(tmp_path, capsys):
    """A checkpoint that records no split layout keeps layout 1 on an evaluation and a resume; the [run] line saying
    so came for every such checkpoint, also where both layouts deal the same items (the digits' default splits, train
    -1). It comes only where they deal other ones (the test above)."""
    quiet = quiet_run(tmp_path, "old")
    images = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              "--data.init_args.batch_size=4"]
    fit_one_step(*images, *quiet)
    run = tmp_path / "images" / "old"
    ckpt = run / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=False)
    del saved["ImageDataModule"]["split_options"]["split_layout"]  # as a checkpoint of earlier code has it
    torch.save(saved, ckpt)
    capsys.readouterr()
    cli = main(["test", *images, *quiet, "--ckpt_path", str(ckpt), "--trainer.limit_test_batches=1"])
    assert cli.datamodule.split_layout == 1 and "split layout" not in capsys.readouterr().out
    cli = main(resume_fit(quiet, run, 2))
    assert cli.datamodule.split_layout == 1 and "split layout" not in capsys.readouterr().out


def test_split_sizes_written_otherwise_are_the_same_splits(tmp_path):
    """A checkpoint trained on the digits' default splits (splits: null) and evaluated with those sizes written out,
    or with -1 for the rest, is on its own splits: no warning. Sizes that move items between splits still warn."""
    quiet = quiet_run(tmp_path, "d")
    images = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              "--data.init_args.batch_size=4"]
    fit_one_step(*images, *quiet)
    evaluate = ["test", *images, *quiet, "--ckpt_path", str(tmp_path / "images" / "d" / "checkpoints" / "last.ckpt"),
                "--trainer.limit_test_batches=1"]
    for same in ("[1497,100,200]", "[-1,100,200]"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main([*evaluate, f"--data.init_args.splits={same}"])
        assert not [w for w in caught if "splits of" in str(w.message)], same
    with pytest.warns(UserWarning, match=r"trained on the splits of data.init_args.splits=null, not this evaluation's "
                                         r"\(splits=\[1497,200,100\]\).*pass --data.init_args.splits null"):
        main([*evaluate, "--data.init_args.splits=[1497,200,100]"])


def test_a_checkpoint_that_records_no_split_layout_keeps_its_own_splits(tmp_path, capsys):
    """Checkpoints written before split layout 2 record none: their splits were drawn with layout 1, where a test
    split of fixed size moved with the train size. Layout 2 would draw other splits for them: with splits
    (1000, 100, 200) of the digits a resume would train on all 200 of its test digits, and with (300, 100, -1) an
    evaluation would score it on a test split holding all 300 of its training digits. An evaluation, and a resume, of
    such a checkpoint draws its splits with layout 1 and says so; one that records its layout keeps it quietly."""
    quiet = quiet_run(tmp_path, "old")
    images = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              "--data.init_args.batch_size=4", "--data.init_args.splits=[1000,100,200]"]
    fit_one_step(*images, *quiet)
    run = tmp_path / "images" / "old"
    ckpt = run / "checkpoints" / "last.ckpt"
    evaluate = ["test", *images, *quiet, "--ckpt_path", str(ckpt), "--trainer.limit_test_batches=1"]
    capsys.readouterr()
    cli = main(evaluate)
    assert cli.datamodule.split_layout == 2 and "split layout" not in capsys.readouterr().out
    saved = torch.load(ckpt, weights_only=False)
    assert saved["ImageDataModule"]["split_options"]["split_layout"] == 2
    del saved["ImageDataModule"]["split_options"]["split_layout"]  # as a checkpoint of earlier code has it
    torch.save(saved, ckpt)
    cli = main(evaluate)
    assert "the checkpoint's splits were drawn with split layout 1" in capsys.readouterr().out
    train, _, test = split_indices(1797, (1000, 100, 200), seed=0, layout=1)  # the checkpoint's own splits
    assert cli.datamodule.dataset("test").index.tolist() == test.sort().values.tolist()
    assert cli.datamodule.dataset("train").index.tolist() == train.sort().values.tolist()
    cli = main(resume_fit(quiet, run, 2))
    assert cli.datamodule.split_layout == 1 and "split layout 1" in capsys.readouterr().out
    # on another dataset the checkpoint's splits are not this data's: its splits are drawn as any run's (they were
    # drawn with layout 1 here, scoring an older model on other test pictures than a newer one, with a [run] line
    # saying the checkpoint's splits were so drawn)
    pictures = tmp_path / "grey"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(pictures / f"{i:02d}.png")
    cli = main([*evaluate, "--data.init_args.dataset=folder", f"--data.init_args.root={pictures}",
                "--data.init_args.channels=1", "--data.init_args.image_size=8", "--data.init_args.splits=[6,2,4]",
                f"--data.init_args.cache_dir={tmp_path / 'cache'}"])
    assert cli.datamodule.split_layout == 2 and "split layout" not in capsys.readouterr().out
    test = split_indices(12, (6, 2, 4), seed=0)[2]  # layout 2's
    assert cli.datamodule.dataset("test").index.tolist() == test.sort().values.tolist()
    # a prediction reads the user's file alone: no split, and no line about how splits are drawn
    main(["predict", *images, "--ckpt_path", str(ckpt), "--input", str(pictures / "00.png"), "--num_samples", "0",
          "--out", str(tmp_path / "predicted")])
    assert "split layout" not in capsys.readouterr().out and (tmp_path / "predicted" / "prediction.json").is_file()


def quiet_run(root: Path, name: str | None = None) -> list[str]:
    """The options of a quiet CPU run under ``root`` (named ``name``, if given): no logger, bars, summary or
    callbacks."""
    named = ["--run_name", name] if name else []
    return ["--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--trainer.accelerator=cpu", "--trainer.callbacks=[]", "--run_root", str(root), *named]


def resume_fit(quiet: list[str], run: Path | str, steps: int, *options: str) -> list[str]:
    """The command line of a fit of ``quiet``'s options (:func:`quiet_run`) that resumes ``run`` up to ``steps``
    steps without validation, ``options`` added."""
    return ["fit", *quiet, "--trainer.limit_val_batches=0", "--resume", str(run), f"--trainer.max_steps={steps}",
            *options]


def fit_one_step(*argv: str) -> None:
    """A fit of ``argv`` (its configs first) for one step, its last.ckpt saved under its run folder's checkpoints/,
    without validation."""
    main(["fit", *argv, "--trainer.max_steps=1", "--trainer.limit_val_batches=0",
          "--checkpoint.every_n_train_steps=1"])


def split_warnings(argv: list[str]) -> list[str]:
    """The split-mismatch lines a command warns."""
    return warnings_of(argv, "splits of")


def seed_warnings(common: list[str], quiet: list[str], run: Path) -> list[str]:
    """A fit of ``common`` with data seed 1 into ``run``, then the split lines of its evaluation with seed 0 and of a
    resume with seed 0: [the evaluation's line, the resume's line]."""
    fit_one_step(*common, "--data.init_args.seed=1")
    note = split_warnings(["test", *common, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
                           "--trainer.limit_test_batches=1"])
    note += split_warnings(resume_fit(quiet, run, 2, "--checkpoint.every_n_train_steps=1",
                                      "--data.init_args.seed=0"))
    return note


NEVER_TESTS_ON_TRAINING = ("the checkpoint was trained on the splits of data.init_args.seed=1, not this evaluation's "
                           "(seed=0): the test split may then hold other items than its own, none of them its training "
                           "items; pass --data.init_args.seed 1 to evaluate on its own")


def test_sdf_split_sizes_written_otherwise_are_the_same_splits(tmp_path):
    """A model trained on a folder of 12 meshes with splits: null (the defaults (-1, 1, 1): a tenth each for val and
    test) and evaluated with those sizes written out, or with -1 for the rest, is on its own splits: no warning (it
    warned). Sizes that move shapes between splits still warn. Procedural chairs draw each split from its own stream,
    so no split size chooses them."""
    import trimesh

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    for i in range(12):
        trimesh.creation.box(extents=[0.4 + 0.05 * i, 0.6, 0.3]).export(meshes / f"m{i:02d}.obj")
    quiet = quiet_run(tmp_path / "runs")
    sdf = ["--config", str(REPO / "configs/sdf.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
           "--data.init_args.resolution=8", "--data.init_args.batch_size=2", "--data.init_args.val_items=null",
           f"--data.init_args.cache_dir={tmp_path / 'cache'}", "--model.sets.init_args.max_context=64",
           "--model.sets.init_args.num_queries=64", "--model.val_levels=[4]"]
    for name, data in (("meshes", ["--data.init_args.dataset=meshes", f"--data.init_args.root={meshes}"]),
                       ("procedural", ["--data.init_args.num_shapes=[4,2,2]"])):
        fit_one_step(*sdf, *data, *quiet, "--run_name", name)
    evaluate = ["test", *sdf, *quiet, "--trainer.limit_test_batches=1"]
    on_meshes = [*evaluate, "--data.init_args.dataset=meshes", f"--data.init_args.root={meshes}", "--ckpt_path",
                 str(tmp_path / "runs" / "sdf" / "meshes" / "checkpoints" / "last.ckpt"), "--run_name", "meshes"]
    for same in ("[10,1,1]", "[-1,1,1]"):
        assert split_warnings([*on_meshes, f"--data.init_args.splits={same}"]) == [], same
    for moved in ("[9,1,2]", "[10,1,-1]"):  # a test shape more; train dealt from the end, test from the start
        note = split_warnings([*on_meshes, f"--data.init_args.splits={moved}"])
        assert len(note) == 1 and f"data.init_args.splits=null, not this evaluation's (splits={moved})" in note[0]
    # the first 11 meshes of the same folder: the option is named, not files added or removed
    note = split_warnings([*on_meshes, "--data.init_args.max_shapes=11"])
    assert len(note) == 1 and "splits of data.init_args.max_shapes=null, not this evaluation's (max_shapes=11)" in \
        note[0] and "added or removed" not in note[0], note
    on_chairs = [*evaluate, "--data.init_args.num_shapes=[4,2,2]", "--run_name", "procedural", "--ckpt_path",
                 str(tmp_path / "runs" / "sdf" / "procedural" / "checkpoints" / "last.ckpt")]
    assert split_warnings([*on_chairs, "--data.init_args.splits=[1,1,1]"]) == []


def test_video_split_sizes_that_take_the_same_videos_are_the_same_splits(tmp_path):
    """Clips split by video take whole videos: 3 videos of 4 clips each, split (-1, 4, 4), give one video to test and
    one to val, and so do sizes (-1, 5, 5) and (4, 4, 4), which take the same videos: no warning (they warned). Sizes
    that move clips between the splits a command reads still warn (clips split one by one; (4, -1, 4), where val and
    train swap videos, on a validate, not on a test). Synthetic clips are one clip a group: sizes written out are the
    same splits too."""
    rng = np.random.default_rng(0)
    clips = tmp_path / "clips.npz"
    np.savez(clips, videos=rng.integers(0, 256, (3, 12, 12, 12, 3), dtype=np.uint8))  # 3 videos of 12 frames
    quiet = quiet_run(tmp_path / "runs")
    video = ["--config", str(REPO / "configs/video.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
             "--data.init_args.num_frames=3", "--data.init_args.size=12", "--data.init_args.num_bins=8",
             "--data.init_args.batch_size=2", "--data.init_args.val_items=null", "--model.val_levels=[16]",
             "--model.sets.init_args.min_context=8", "--model.sets.init_args.max_context=64",
             "--model.sets.init_args.num_queries=32"]
    sources = {"npz": ["--data.init_args.dataset=npz", f"--data.init_args.root={clips}",
                       "--data.init_args.splits=[-1,4,4]"],
               "synthetic": ["--data.init_args.num_clips=12", "--data.init_args.splits=[-1,2,2]"]}
    for name, data in sources.items():
        fit_one_step(*video, *data, *quiet, "--run_name", name)

    def evaluate(name: str, *more: str, command: str = "test") -> list[str]:
        ckpt = tmp_path / "runs" / "video" / name / "checkpoints" / "last.ckpt"
        limit = ["--trainer.limit_test_batches=1"] if command == "test" else []  # a validate reads its val_items
        return split_warnings([command, *video, *sources[name], *quiet, "--run_name", name, "--ckpt_path", str(ckpt),
                               *limit, *more])

    for same in ("[-1,5,5]", "[4,4,4]"):
        assert evaluate("npz", f"--data.init_args.splits={same}") == [], same
    # val and train swap videos: a test reads the same test video (and says nothing), a validate another val video
    assert evaluate("npz", "--data.init_args.splits=[4,-1,4]") == []
    # the same videos cut into other clips: the option is named, not files added or removed
    for option, was in (("stride=1", "stride=null"), ("max_clips_per_video=3", "max_clips_per_video=null")):
        note = evaluate("npz", f"--data.init_args.{option}")
        assert len(note) == 1 and f"splits of data.init_args.{was}, not this evaluation's ({option})" in note[0] \
            and "added or removed" not in note[0], note
    assert len(evaluate("npz", "--data.init_args.splits=[4,-1,4]", command="validate")) == 1
    by_clip = evaluate("npz", "--data.init_args.split_by=clip")
    assert len(by_clip) == 1 and "data.init_args.split_by=video" in by_clip[0]
    assert evaluate("synthetic", "--data.init_args.splits=[8,2,2]") == []
    assert len(evaluate("synthetic", "--data.init_args.splits=[8,1,3]")) == 1


def test_another_seed_of_data_drawn_split_by_split_never_tests_on_training_items(tmp_path):
    """Polynomial functions and procedural chairs draw each split from its own seeded stream: another data seed gives
    other test items, but never the checkpoint's training items, where the warning said the test split "may hold
    items it trained on"; a resume with another seed trains on other items, never on the old validation and test
    items. It says so; data split from one pool (the digits, above) keeps its warning."""
    quiet = quiet_run(tmp_path, "s1")
    data = {"polynomial": DATA["polynomial"],
            "sdf": ["--data.init_args.resolution=8", "--data.init_args.num_shapes=[4,2,2]", "--model.val_levels=[4]",
                    f"--data.init_args.cache_dir={tmp_path / 'cache'}", "--model.sets.init_args.max_context=64",
                    "--model.sets.init_args.num_queries=64", "--data.init_args.val_items=null"]}
    for domain, options in data.items():
        common = ["--config", str(REPO / f"configs/{domain}.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                  *options, "--data.init_args.batch_size=2", *quiet]
        assert seed_warnings(common, quiet, tmp_path / domain / "s1") == [
            NEVER_TESTS_ON_TRAINING,
            "the checkpoint was trained on the splits of data.init_args.seed=1, not this run's (seed=0): it now trains "
            "on other items than its own, never on its validation and test items; pass --data.init_args.seed 1 to "
            "continue on its own splits"], domain


def test_another_seed_of_pictures_in_folders_of_their_own_warns_only_of_what_moves(tmp_path):
    """A picture folder in train/ and test/ folders (or MNIST's two files) tests on its test folder, whole: another
    data seed draws other validation pictures from train/ and moves no test picture. Its evaluation then says
    nothing (it warned that the test split "may hold other items than its own"), and a resume that it may now train
    on its own validation items. With a val/ folder too, each split is a whole folder: another seed moves nothing, and
    neither warns (both did)."""
    rng = np.random.default_rng(0)
    for folder, n in (("train", 12), ("test", 4), ("val", 3)):
        (tmp_path / "pics" / folder).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "pics" / folder / f"{i}.png")
    for with_val, says in ((False, ["the checkpoint was trained on the splits of data.init_args.seed=1, not this run's "
                                    "(seed=0): it may now train on its own validation items, never on its test items; "
                                    "pass --data.init_args.seed 1 to continue on its own splits"]),
                           (True, [])):
        if not with_val:
            (tmp_path / "pics" / "val").rename(tmp_path / "val_aside")
        else:
            (tmp_path / "val_aside").rename(tmp_path / "pics" / "val")
        name = f"v{int(with_val)}"
        quiet = quiet_run(tmp_path, name)
        common = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                  "--data.init_args.dataset=folder", f"--data.init_args.root={tmp_path / 'pics'}",
                  "--data.init_args.channels=1", "--data.init_args.image_size=8", "--data.init_args.splits=[-1,2,-1]"
                  if not with_val else "--data.init_args.splits=null", f"--data.init_args.cache_dir={tmp_path / 'c'}",
                  "--data.init_args.batch_size=2", *quiet]
        assert seed_warnings(common, quiet, tmp_path / "images" / name) == says, with_val


def test_a_picture_folder_changed_since_the_checkpoint_says_so(tmp_path):
    """The split options draw a seeded permutation of a folder's pictures: a picture added to or removed from the
    folder since a fit draws other splits with the same options, and the test split then held pictures the checkpoint
    trained on (here 2 of 3), without a word. The checkpoint records how many pictures its splits were drawn from; an
    evaluation on a folder of another size says so, one on the same folder says nothing, and a resume on it is
    refused (check_resume_files)."""
    pictures = tmp_path / "pics"
    pictures.mkdir()
    rng = np.random.default_rng(0)

    def add(i: int) -> None:
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(pictures / f"{i:02d}.png")

    for i in range(12):
        add(i)
    quiet = quiet_run(tmp_path, "f")
    common = ["--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              "--data.init_args.dataset=folder", f"--data.init_args.root={pictures}", "--data.init_args.channels=1",
              "--data.init_args.image_size=8", "--data.init_args.splits=[-1,3,3]",
              f"--data.init_args.cache_dir={tmp_path / 'c'}", "--data.init_args.batch_size=2", *quiet]
    fit_one_step(*common)
    evaluate = ["test", *common, "--ckpt_path", str(tmp_path / "images" / "f" / "checkpoints" / "last.ckpt"),
                "--trainer.limit_test_batches=1"]

    def pool_warnings(argv: list[str]) -> list[str]:
        return warnings_of(argv, "drawn from")

    assert pool_warnings(evaluate) == []
    (pictures / "00.png").rename(pictures / "zz.png")  # as many pictures, one of them renamed: sorted last now
    assert pool_warnings(evaluate) == ["the checkpoint's splits were drawn from 12 items of other files than the "
                                       "data's now (another folder, or files renamed, added or removed since): the "
                                       "same options may draw other splits, and the test split may hold items it "
                                       "trained on; evaluate it on the data it was trained on"]
    (pictures / "zz.png").rename(pictures / "00.png")
    assert pool_warnings(evaluate) == []
    add(12)  # sorted last: the first 12 pictures keep their places, yet the permutation of 13 is another
    trained, now = split_indices(12, (-1, 3, 3), seed=0), split_indices(13, (-1, 3, 3), seed=0)
    assert len(set(now[2].tolist()) & set(trained[0].tolist())) == 2  # test pictures it trained on
    changed = ("the checkpoint's splits were drawn from 12 items, but the data now holds 13 items (another folder, or "
               "files added or removed since): the same options draw other splits, and ")
    assert pool_warnings(evaluate) == [f"{changed}the test split may hold items it trained on; evaluate it on the "
                                       "data it was trained on"]
    with pytest.raises(ValueError, match=r"the run trained on images/folder \(pics\) data, whose files have changed "
                                         r"since: a run goes on with its own data"):
        main(resume_fit(quiet, tmp_path / "images" / "f", 2, "--checkpoint.every_n_train_steps=1"))


def resume_check(run: Path, datamodule) -> list[str]:
    """The lines data_mismatch.check_resume_files warns for a resume of ``run`` on ``datamodule``'s data (it raises
    where it refuses), given the run's last.ckpt as the resume reads it."""
    from pixeltransformer.data_mismatch import check_resume_files
    from pixeltransformer.datamodule import module_spec

    last = run / "checkpoints" / "last.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_resume_files(str(run), torch.load(last, weights_only=True), datamodule,
                           module_spec(datamodule).to_dict(), str(last))
    return [str(w.message) for w in caught]


def write_pictures(folder: Path, names: list[str], rng: np.random.Generator) -> Path:
    """``folder`` (made if need be) with a grey 8x8 picture of random pixels under each of ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / name)
    return folder


def fit_on_pictures(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A fit of one step (run ``tmp_path``/images/f, its last.ckpt saved) on a folder pics of 12 such pictures: the
    folder."""
    pictures = write_pictures(tmp_path / "pics", [f"{i:02d}.png" for i in range(12)], rng)
    fit_one_step("--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                 "--data.init_args.dataset=folder", f"--data.init_args.root={pictures}",
                 "--data.init_args.channels=1", "--data.init_args.image_size=8", "--data.init_args.splits=[-1,3,3]",
                 f"--data.init_args.cache_dir={tmp_path / 'c'}", "--data.init_args.batch_size=2",
                 *quiet_run(tmp_path, "f"))
    return pictures


def new_run_from_last(run: Path) -> str:
    """The end of a resume's refusal, as a pattern: the new run to start from ``run``'s last.ckpt instead."""
    last = run / "checkpoints" / "last.ckpt"
    return (rf"start a new run from its checkpoint: pixeltransformer fit --config "
            rf"{re.escape(shlex.quote(str(run / 'config.yaml')))} --ckpt_path {re.escape(shlex.quote(str(last)))} "
            r"--run_name NEW, then the options given \(without --resume\)$")


def other_files_refused(run: Path, was: str) -> str:
    """A resume's refusal, as a pattern, of a folder ``other`` of other pictures than ``run``'s folder ``was``."""
    return (rf"^--resume {re.escape(str(run))}: the run trained on images/folder \({was}\) data, and this fit's is "
            r"images/folder \(other\), of other files: a run goes on with its own data; to train its weights on "
            rf"other data, {new_run_from_last(run)}")


def test_a_resume_on_a_folder_of_another_name_is_told_by_its_files(tmp_path):
    """A resume given a picture folder of another name than its run's warned "resumed, as a folder renamed since ...
    is the same data; if it is other data, start a new run": a guess from the name alone. One on its own folder with a
    picture added since trained and validated on other splits, with a warning. The checkpoint records a digest of each
    pool's file names: a folder renamed since resumes with a short note, and one whose train or validation pool holds
    other files (another folder, a picture added) is refused in one line naming the new run to start from its
    checkpoint."""
    from domains.images.data import ImageDataModule

    rng = np.random.default_rng(0)
    pictures = fit_on_pictures(tmp_path, rng)
    run = tmp_path / "images" / "f"

    def resume(root: Path) -> list[str]:
        return resume_check(run, ImageDataModule("folder", root=str(root), image_size=8, channels=1,
                                                 splits=(-1, 3, 3), cache_dir=str(tmp_path / "c"), batch_size=2))

    assert resume(pictures) == []
    renamed = pictures.rename(tmp_path / "renamed")
    assert resume(renamed) == [f"--resume {run}: the run trained on images/folder (pics) data, and this fit's is "
                               "images/folder (renamed), of the file names its checkpoint records: resumed"]
    new_run = new_run_from_last(run)
    other = write_pictures(tmp_path / "other", [f"p{i:02d}.png" for i in range(12)], rng)  # as many, other files
    with pytest.raises(ValueError, match=other_files_refused(run, "pics")):
        resume(other)
    write_pictures(renamed, ["12.png"], rng)  # the run's own folder (renamed), a picture added since
    with pytest.raises(ValueError, match=r"the run trained on images/folder \(pics\) data, and this fit's is "
                                         r"images/folder \(renamed\), of other files: a run goes on"):
        resume(renamed)
    renamed.rename(pictures)
    with pytest.raises(ValueError, match=rf"^--resume {re.escape(str(run))}: the run trained on images/folder "
                                         r"\(pics\) data, whose files have changed since: a run goes on with its own "
                                         rf"data; to train its weights on other data, {new_run}"):
        resume(pictures)
    (pictures / "12.png").unlink()
    assert resume(pictures) == []


def test_a_resume_on_a_curve_file_renamed_or_rewritten_is_told_by_its_bytes(tmp_path):
    """A curve file's pool digest is of its name and bytes: the file renamed since, its bytes the run's, resumes with
    a short note; rewritten (as many curves, other values) it is refused, named or not as the run's."""
    from domains.polynomial.data import PolynomialDataModule
    from pixeltransformer.data_mismatch import check_resume_files, split_mismatch

    rng = np.random.default_rng(0)
    curves = tmp_path / "a.npz"
    np.savez(curves, y=15 + rng.standard_normal((24, 33)))
    fit_one_step("--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                 "--data.init_args.dataset=file", f"--data.init_args.root={curves}", "--data.init_args.batch_size=4",
                 *quiet_run(tmp_path, "p"))
    run = tmp_path / "polynomial" / "p"

    def resume(root: Path) -> list[str]:
        return resume_check(run, PolynomialDataModule(dataset="file", root=str(root), batch_size=4))

    assert resume(curves) == []
    renamed = curves.rename(tmp_path / "b.npz")
    assert resume(renamed) == [f"--resume {run}: the run trained on polynomial/file (a.npz) data, and this fit's is "
                               "polynomial/file (b.npz), of the file names its checkpoint records: resumed"]
    # nor do the resume's and an evaluation's split checks call the file renamed other files
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    for resumed in (True, False):
        dm = PolynomialDataModule(dataset="file", root=str(renamed), batch_size=4)
        assert split_mismatch(saved, dm, resume=resumed) is None
    np.savez(renamed, y=15 + rng.standard_normal((24, 33)))  # rewritten: as many curves, other values
    with pytest.raises(ValueError, match=r"the run trained on polynomial/file \(a\.npz\) data, and this fit's is "
                                         r"polynomial/file \(b\.npz\), of other files: a run goes on"):
        resume(renamed)
    renamed.rename(curves)
    with pytest.raises(ValueError, match=r"the run trained on polynomial/file \(a\.npz\) data, whose files have "
                                         r"changed since: a run goes on with its own data"):
        resume(curves)
    # a root that holds no data now is the data's to refuse as the fit reads it: no note that it is the same data
    curves.unlink()
    (tmp_path / "c").mkdir()
    spec = saved["hyper_parameters"]["spec"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_resume_files(str(run), saved, PolynomialDataModule(dataset="file", root=str(tmp_path / "c")),
                           {**spec, "extra": {**spec["extra"], "source": "c"}}, "last.ckpt")
    assert [str(w.message) for w in caught] == []


def test_a_resume_on_a_single_video_file_is_told_by_its_bytes(tmp_path):
    """A video file given as root recorded its file as "." whatever the file: any other single video resumed with
    the note of a file renamed. Its pool digest is of its name and bytes, as a curve file's: the file renamed since
    resumes with the note, another video is refused; a checkpoint that recorded "." recorded no file."""
    from domains.video.data import VideoDataModule
    from pixeltransformer.splits import pool_digests

    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for strip in (a, b):
        Image.fromarray(rng.integers(0, 256, (96, 8, 3), dtype=np.uint8)).save(strip)  # 12 frames of 8x8: 4 clips
    fit_one_step("--config", str(REPO / "configs/video.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                 "--data.init_args.dataset=folder", f"--data.init_args.root={a}", "--data.init_args.num_frames=3",
                 "--data.init_args.size=8", "--data.init_args.num_bins=8", "--data.init_args.splits=[-1,1,1]",
                 "--data.init_args.split_by=clip", f"--data.init_args.cache_dir={tmp_path / 'c'}",
                 "--data.init_args.batch_size=2", "--data.init_args.val_items=null", "--model.val_levels=[16]",
                 "--model.sets.init_args.min_context=8", "--model.sets.init_args.max_context=64",
                 "--model.sets.init_args.num_queries=32", *quiet_run(tmp_path, "v"))
    run = tmp_path / "video" / "v"

    def resume(root: Path) -> list[str]:
        return resume_check(run, VideoDataModule("folder", root=str(root), num_frames=3, size=8, num_bins=8,
                                                 splits=(-1, 1, 1), split_by="clip", cache_dir=str(tmp_path / "c")))

    assert resume(a) == []
    with pytest.raises(ValueError, match=r"the run trained on video/folder \(a\.png\) data, and this fit's is "
                                         r"video/folder \(b\.png\), of other files: a run goes on"):
        resume(b)
    renamed = a.rename(tmp_path / "c.png")
    assert resume(renamed) == [f"--resume {run}: the run trained on video/folder (a.png) data, and this fit's is "
                               "video/folder (c.png), of the file names its checkpoint records: resumed"]
    last = run / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    saved["VideoDataModule"]["pool_files"] = pool_digests(["."])  # as a file root was recorded before
    torch.save(saved, last)
    assert [line.split(": resumed, as")[0] for line in resume(b)] == [
        f"--resume {run}: the run trained on video/folder (a.png) data, and this fit's is video/folder (b.png)"]


def resume_notes(argv: list[str], run: Path) -> list[str]:
    """The lines a resume of ``run`` warns of its data (those naming its --resume)."""
    return warnings_of(argv, f"--resume {run}:")


def test_a_resume_through_the_command_line_is_told_its_folder_by_its_files(tmp_path, monkeypatch):
    """As check_resume_files tells (above), through the command line: a picture folder renamed since resumes with a
    short note and trains on; another folder, or its own with a picture added, is refused before anything is
    written, and the run resumes once its folder holds its files again."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    rng = np.random.default_rng(0)
    pictures = fit_on_pictures(tmp_path, rng)
    quiet = quiet_run(tmp_path, "f")
    run = tmp_path / "images" / "f"
    last = run / "checkpoints" / "last.ckpt"

    def resume(root: Path, steps: int) -> list[str]:
        return resume_notes(resume_fit(quiet, run, steps, f"--data.init_args.root={root}"), run)

    def step() -> int:
        return torch.load(last, weights_only=True)["global_step"]

    renamed = tmp_path / "renamed"
    pictures.rename(renamed)
    assert resume(renamed, 2) == [f"--resume {run}: the run trained on images/folder (pics) data, and this fit's is "
                                  "images/folder (renamed), of the file names its checkpoint records: resumed"]
    assert step() == 2
    config = (run / "config.yaml").read_text()
    new_run = new_run_from_last(run)
    other = write_pictures(tmp_path / "other", [f"p{i:02d}.png" for i in range(12)], rng)  # as many, other files
    with pytest.raises(ValueError, match=other_files_refused(run, "renamed")):
        resume(other, 3)
    write_pictures(renamed, ["12.png"], rng)  # its own folder, a picture added since
    with pytest.raises(ValueError, match=rf"^--resume {re.escape(str(run))}: the run trained on images/folder "
                                         r"\(renamed\) data, whose files have changed since: a run goes on with its "
                                         rf"own data; to train its weights on other data, {new_run}"):
        resume(renamed, 3)
    assert step() == 2 and (run / "config.yaml").read_text() == config
    (renamed / "12.png").unlink()
    assert resume(renamed, 3) == [] and step() == 3


def test_a_resume_on_a_test_folder_changed_alone_names_its_test_split(tmp_path, monkeypatch):
    """Pictures in train/ and test/ folders, validation drawn from train/: a picture added to test/ since the fit
    moves no training or validation picture, and the resume goes on, yet it warned "this run may train on its own
    validation items". It says that its test split may hold other items than its own."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    rng = np.random.default_rng(0)
    pictures = tmp_path / "pics"
    write_pictures(pictures / "train", [f"{i:02d}.png" for i in range(6)], rng)
    write_pictures(pictures / "test", [f"{i:02d}.png" for i in range(3)], rng)
    quiet = quiet_run(tmp_path, "f")
    fit_one_step("--config", str(REPO / "configs/images.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
                 "--data.init_args.dataset=folder", f"--data.init_args.root={pictures}",
                 "--data.init_args.channels=1", "--data.init_args.image_size=8", "--data.init_args.splits=[-1,2,-1]",
                 f"--data.init_args.cache_dir={tmp_path / 'c'}", "--data.init_args.batch_size=2", *quiet)
    run = tmp_path / "images" / "f"
    write_pictures(pictures / "test", ["03.png"], rng)
    assert warnings_of(resume_fit(quiet, run, 2), "drawn from") == [
        "the checkpoint's splits were drawn from 9 items [6 in train/, 3 in test/], but the data now holds 10 items "
        "[6 in train/, 4 in test/] (another folder, or files added or removed since): the same options draw other "
        "splits, and this run's test split may hold other items than its own (its training and validation items are "
        "the same); test it on the data it was trained on"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_a_mesh_or_video_source_changed_since_the_checkpoint_says_so(tmp_path):
    """As for a picture folder (above): a mesh added to a folder, or a video to an .npz, since the fit draws other
    splits with the same options, and so may a mesh or video file renamed; the evaluation says so, and says nothing on
    the data it was trained on."""
    import trimesh

    meshes, clips, gifs = tmp_path / "meshes", tmp_path / "clips.npz", tmp_path / "gifs"
    meshes.mkdir()
    gifs.mkdir()
    for i in range(12):
        trimesh.creation.box(extents=[0.4 + 0.05 * i, 0.6, 0.3]).export(meshes / f"m{i:02d}.obj")
    rng = np.random.default_rng(0)
    np.savez(clips, videos=rng.integers(0, 256, (3, 12, 12, 12, 3), dtype=np.uint8))  # 3 videos of 4 clips
    for i in range(3):  # 3 GIFs of 3 frames: a clip each
        frames = [Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for _ in range(3)]
        frames[0].save(gifs / f"g{i}.gif", save_all=True, append_images=frames[1:], duration=100)
    quiet = quiet_run(tmp_path / "runs")
    video = ["--config", str(REPO / "configs/video.yaml"), "--data.init_args.num_frames=3", "--data.init_args.size=12",
             "--data.init_args.num_bins=8", "--model.val_levels=[16]", "--model.sets.init_args.min_context=8",
             "--model.sets.init_args.max_context=64", "--model.sets.init_args.num_queries=32",
             f"--data.init_args.cache_dir={tmp_path / 'cache'}"]
    sources = {
        "sdf": ["--config", str(REPO / "configs/sdf.yaml"), "--data.init_args.resolution=8",
                "--data.init_args.dataset=meshes", f"--data.init_args.root={meshes}",
                f"--data.init_args.cache_dir={tmp_path / 'cache'}", "--model.sets.init_args.max_context=64",
                "--model.sets.init_args.num_queries=64", "--model.val_levels=[4]"],
        "npz": [*video, "--data.init_args.dataset=npz", f"--data.init_args.root={clips}",
                "--data.init_args.splits=[-1,4,4]"],
        "gifs": [*video, "--data.init_args.dataset=folder", f"--data.init_args.root={gifs}",
                 "--data.init_args.splits=[1,1,1]"]}
    common = ["--config", str(REPO / "configs/model/tiny.yaml"), "--data.init_args.batch_size=2",
              "--data.init_args.val_items=null", *quiet]

    def evaluate(name: str) -> list[str]:
        run = tmp_path / "runs" / ("sdf" if name == "sdf" else "video") / name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main(["test", *sources[name], *common, "--run_name", name, "--trainer.limit_test_batches=1",
                  "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
        return [str(w.message) for w in caught if "drawn from" in str(w.message)]

    for name in sources:
        fit_one_step(*sources[name], *common, "--run_name", name)
        assert evaluate(name) == [], name
    for name, was, now in (("sdf", meshes / "m00.obj", meshes / "z.obj"), ("gifs", gifs / "g0.gif", gifs / "z.gif")):
        was.rename(now)  # as many files, one renamed: sorted last now
        note = evaluate(name)
        assert len(note) == 1 and "splits were drawn from" in note[0] and "items of other files than the data's " \
            "now (another folder, or files renamed, added or removed since)" in note[0], (name, note)
        now.rename(was)
    trimesh.creation.box(extents=[1.0, 0.6, 0.3]).export(meshes / "m12.obj")
    np.savez(clips, videos=rng.integers(0, 256, (4, 12, 12, 12, 3), dtype=np.uint8))
    for name, counts in (("sdf", "12 items, but the data now holds 13 items"), ("npz", "12 items, but the data "
                                                                                   "now holds 16 items")):
        note = evaluate(name)
        assert len(note) == 1 and f"splits were drawn from {counts} (another folder, or files added" in note[0] \
            and "the test split may hold items it trained on" in note[0], (name, note)


# what tells a process its place in a launch (Lightning's, torchrun's, Slurm's) and the seed its launcher drew
LAUNCH = (*LAUNCHER_VARIABLES, "PL_GLOBAL_SEED", "MASTER_ADDR", "MASTER_PORT")


def clear_launch(monkeypatch) -> None:
    """No launch variable set (LAUNCH): the process is a launch's first, until a test sets some."""
    for name in LAUNCH:
        monkeypatch.delenv(name, raising=False)


def counted_images(read: list[str], sizes: dict[str, int] | None = None) -> type:
    """An ImageDataModule class that appends "files" to ``read`` each time its pool files are asked for. Given
    ``sizes``, its pools are of those sizes ("sizes" appended when asked) and it names no files: its folder is never
    read."""
    from domains.images.data import ImageDataModule

    class Counted(ImageDataModule):
        def pool_sizes(self):
            if sizes is None:
                return super().pool_sizes()
            read.append("sizes")
            return sizes

        def pool_files(self):
            read.append("files")
            return None if sizes is not None else super().pool_files()

    return Counted


def test_only_the_first_process_reads_the_data_to_compare_it_with_the_checkpoint(tmp_path, monkeypatch):
    """The comparison with the checkpoint's splits and pools reads the data (an SDF mesh folder is converted into the
    cache): under torchrun or srun, where every process parses the command at once, each converted a cold folder
    before prepare_data, to warn from the first alone. Only the first compares now; and a checkpoint that recorded no
    pools (written before they were recorded) has none read for them."""
    from pixeltransformer.data_mismatch import warn_split_mismatch

    read = []
    Counted = counted_images(read, sizes={"all": 12})
    dm = Counted("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 3, 3))
    key = type(dm).__qualname__  # the module's state in a checkpoint
    saved = {key: {"split_options": dm.split_options(), "pool_sizes": {"all": 11}, "pool_files": "abc"}}
    clear_launch(monkeypatch)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_split_mismatch(saved, dm, reads=("test",))
    assert read == [] and caught == []
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.warns(UserWarning, match="drawn from 11 items, but the data now holds 12 items"):
        warn_split_mismatch(saved, dm, reads=("test",))
    assert read == ["sizes", "files"]
    read.clear()
    warn_split_mismatch({key: {"split_options": dm.split_options()}}, dm, reads=("test",))
    assert read == []


def test_each_node_s_first_process_refuses_a_resume_on_other_files(tmp_path, monkeypatch):
    """check_resume_files refused other data on the launch's first process alone: on a multi-node launch the other
    nodes went on to wait for it until the process group's timeout (30 minutes). Each node's first process (the one
    that reads its node's data in prepare_data) refuses too; its other processes read nothing, and the note of a
    folder renamed comes from the launch's first process alone."""
    from pixeltransformer.data_mismatch import check_resume_files
    from pixeltransformer.datamodule import module_spec
    from pixeltransformer.splits import pool_digests

    rng = np.random.default_rng(0)
    write_pictures(tmp_path / "pics", [f"{i:02d}.png" for i in range(12)], rng)
    write_pictures(tmp_path / "other", [f"p{i:02d}.png" for i in range(12)], rng)  # as many, other files
    read = []
    Counted = counted_images(read)

    def module(name: str) -> Counted:
        return Counted("folder", root=str(tmp_path / name), image_size=8, channels=1, splits=(-1, 3, 3),
                       cache_dir=str(tmp_path / "c"))

    pics = module("pics")
    saved = {"hyper_parameters": {"spec": module_spec(pics).to_dict()},
             Counted.__qualname__: {"pool_files": pool_digests(pics.pool_files())}}
    (tmp_path / "pics").rename(tmp_path / "renamed")
    other, renamed = module("other"), module("renamed")

    def check(datamodule: Counted, **launch: str) -> list[str]:
        clear_launch(monkeypatch)
        for name, value in launch.items():
            monkeypatch.setenv(name, value)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_resume_files("runs/r", saved, datamodule, module_spec(datamodule).to_dict(), "last.ckpt")
        return [str(w.message) for w in caught]

    for launch in ({"NODE_RANK": "1"}, {"RANK": "4", "LOCAL_RANK": "0", "GROUP_RANK": "1"},
                   {"SLURM_NTASKS": "8", "SLURM_PROCID": "4", "SLURM_LOCALID": "0"}):  # a second node's first
        with pytest.raises(ValueError, match=r"the run trained on images/folder \(pics\) data, and this fit's is "
                                             r"images/folder \(other\), of other files: a run goes on"):
            check(other, **launch)
        assert check(renamed, **launch) == [], launch  # the note: the first node's alone
    read.clear()
    for launch in ({"RANK": "1", "LOCAL_RANK": "1"},
                   {"SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1"}):  # another process of a node
        assert check(other, **launch) == [] and read == [], launch
    assert check(renamed) == ["--resume runs/r: the run trained on images/folder (pics) data, and this fit's is "
                              "images/folder (renamed), of the file names its checkpoint records: resumed"]


def test_seed_everything_true_draws_a_seed_and_records_it(tmp_path, monkeypatch):
    """--seed_everything=true asks for a random seed (the option's help says so), but Lightning seeded every such
    run with 0: two runs began from the same weights, and each run's config.yaml said 0. Each run draws its own seed
    now and records it, so that a rerun from its config.yaml has its weights. A rank Lightning's DDP started takes its
    launcher's seed (PL_GLOBAL_SEED), and torchrun's processes derive the same one from their launch's id."""
    from pixeltransformer.launch import drawn_seed

    clear_launch(monkeypatch)
    common = ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
              *DATA["polynomial"], "--data.init_args.batch_size=4", "--trainer.max_steps=1",
              "--trainer.limit_val_batches=0", "--checkpoint.every_n_train_steps=1", "--seed_everything=true"]
    seeds = [main([*common, *quiet_run(tmp_path, f"r{i}")], run=False).config["seed_everything"] for i in range(2)]
    assert all(type(seed) is int for seed in seeds) and seeds[0] != seeds[1], seeds
    main(["fit", *common, *quiet_run(tmp_path, "drawn")])
    recorded = yaml.safe_load((tmp_path / "polynomial" / "drawn" / "config.yaml").read_text())["seed_everything"]
    assert type(recorded) is int and str(recorded) == os.environ["PL_GLOBAL_SEED"] and recorded not in seeds
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP rank Lightning started: its launcher's seed
    monkeypatch.setenv("PL_GLOBAL_SEED", "1234")
    assert drawn_seed() == 1234
    monkeypatch.delenv("LOCAL_RANK")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc")  # torchrun's two processes: one seed, from the launch's id
    monkeypatch.setenv("WORLD_SIZE", "2")
    launched = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        launched.append(drawn_seed())
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abd")
    assert launched[0] == launched[1] != drawn_seed()
    # torchrun without a rendezvous id: one seed from the launch's address, which every process is given
    monkeypatch.delenv("PL_GLOBAL_SEED")  # which no torchrun process inherits
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    monkeypatch.setenv("MASTER_ADDR", "node3")
    monkeypatch.setenv("MASTER_PORT", "29500")
    launched = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        launched.append(drawn_seed())
    assert launched[0] == launched[1]


def test_an_evaluation_on_data_made_otherwise_than_the_checkpoint_s_says_so(tmp_path):
    """A 3D model trained on SDFs truncated at 0.1 and evaluated with --data.init_args.truncation=0.2, or a checkpoint
    written before its spec recorded the margin (0.05, every grid's then) evaluated where the grid's margin is now
    grid_margin's (0.167 at 16^3), was scored on data it was not trained on without a word. The line names each
    option, both values and what to pass; an evaluation or resume on data made as the checkpoint's says nothing."""
    quiet = quiet_run(tmp_path / "runs", "chairs")
    sdf = ["--config", str(REPO / "configs/sdf.yaml"), "--config", str(REPO / "configs/model/tiny.yaml"),
           "--data.init_args.resolution=16", "--data.init_args.num_shapes=[4,2,2]", "--data.init_args.batch_size=2",
           "--data.init_args.val_items=null", f"--data.init_args.cache_dir={tmp_path / 'cache'}",
           "--model.sets.init_args.max_context=64", "--model.sets.init_args.num_queries=64", "--model.val_levels=[4]"]
    fit_one_step(*sdf, *quiet)
    run = tmp_path / "runs" / "sdf" / "chairs"
    evaluate = ["test", *sdf, *quiet, "--trainer.limit_test_batches=1", "--ckpt_path",
                str(run / "checkpoints" / "last.ckpt")]

    def made_otherwise(argv: list[str]) -> list[str]:
        return warnings_of(argv, "data made with")

    assert made_otherwise(evaluate) == []
    assert made_otherwise([*evaluate, "--data.init_args.truncation=0.2"]) == [
        "the checkpoint was trained on data made with data.init_args.truncation=0.1, not this evaluation's "
        "(truncation=0.2): it is scored on data it was not trained on; pass --data.init_args.truncation 0.1 to "
        "evaluate on data made as its own"]
    # a checkpoint whose spec has no margin was trained on grids of margin 0.05
    old = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    del old["hyper_parameters"]["spec"]["extra"]["margin"]
    torch.save(old, tmp_path / "old.ckpt")
    on_old = [*evaluate, "--ckpt_path", str(tmp_path / "old.ckpt")]
    note = made_otherwise([*on_old, "--data.init_args.margin=0.1"])  # a null margin takes 0.05 (the test below)
    assert len(note) == 1 and "data.init_args.margin=0.05, not this evaluation's (margin=0.1)" in \
        note[0] and note[0].endswith("pass --data.init_args.margin 0.05 to evaluate on data made as its own"), note
    assert made_otherwise(on_old) == made_otherwise([*on_old, "--data.init_args.margin=0.05"]) == []
    # a resume that would train on other data than its own says so too
    every_step = "--checkpoint.every_n_train_steps=1"
    assert made_otherwise(resume_fit(quiet, run, 2, every_step, "--data.init_args.truncation=0.2")) == [
        "the checkpoint was trained on data made with data.init_args.truncation=0.1, not this run's (truncation=0.2): "
        "it now trains on other data than its own; pass --data.init_args.truncation 0.1 to continue on its own"]
    assert made_otherwise(resume_fit(quiet, run, 3, every_step)) == []


def test_a_resume_reads_and_compares_its_files_once(tmp_path, monkeypatch):
    """A resume compared its pool files with the digests its checkpoint recorded up to three times, asking for them
    again for the second: check_resume_files (training and validation pools), then split_mismatch's pool_change
    (every pool, then training and validation again). check_resume_files' comparison is passed on: the files are
    asked for once, and a test/ folder changed alone is still named."""
    from pixeltransformer.data_mismatch import check_resume_files, warn_split_mismatch
    from pixeltransformer.datamodule import module_spec
    from pixeltransformer.splits import pool_digests

    rng = np.random.default_rng(0)
    write_pictures(tmp_path / "pics" / "train", [f"{i:02d}.png" for i in range(6)], rng)
    write_pictures(tmp_path / "pics" / "test", [f"{i:02d}.png" for i in range(3)], rng)
    read = []
    Counted = counted_images(read)

    def module() -> Counted:
        return Counted("folder", root=str(tmp_path / "pics"), image_size=8, channels=1, splits=(-1, 2, -1),
                       cache_dir=str(tmp_path / "c"))

    trained = module()
    saved = {"hyper_parameters": {"spec": module_spec(trained).to_dict()},
             Counted.__qualname__: {"split_options": trained.split_options(),
                                    "pool_files": pool_digests(trained.pool_files())}}
    write_pictures(tmp_path / "pics" / "test", ["03.png"], rng)
    clear_launch(monkeypatch)
    datamodule = module()
    read.clear()
    with pytest.warns(UserWarning, match=r"^the checkpoint's splits were drawn from other files than the data's now "
                                         r".*, and this run's test split may hold other items than its own"):
        files = check_resume_files("runs/r", saved, datamodule, module_spec(datamodule).to_dict(), "last.ckpt")
        # files=None is as good as none given: so the code before the comparison was shared fails here by its count
        warn_split_mismatch(saved, datamodule, resume=True, **({} if files is None else {"files": files}))
    assert read == ["files"]


def test_an_sdf_checkpoint_that_records_no_margin_is_evaluated_and_resumed_on_its_own_grids(tmp_path, capsys):
    """A 3D model trained before the margin was recorded saw every mesh and procedural chair 0.05 from the cube's
    faces; a null margin now gives grid_margin's (0.357 at 8^3). Its evaluation scored it on other grids with a warning
    to pass 0.05 by hand, and a mixture's (meshes, voxels, chairs) evaluated on its meshes was told to "evaluate it on
    meshes" (its voxels were unpadded then) though it was. An evaluation or resume that leaves the margin null makes
    the grids with 0.05, and says so; a margin given is kept and compared; a checkpoint that records one is as it was."""
    import trimesh

    from domains.sdf.procedural import grid_margin

    meshes, voxels = tmp_path / "meshes", tmp_path / "voxels.npy"
    meshes.mkdir()
    for i in range(6):
        trimesh.creation.box(extents=[0.4 + 0.05 * i, 0.6, 0.3]).export(meshes / f"m{i}.obj")
    grids = np.zeros((4, 8, 8, 8), dtype=np.uint8)  # [N, R, R, R]
    for i in range(4):
        grids[i, 1:6 + i % 2, 2:6, 1:7] = 1
    np.save(voxels, grids)
    quiet = quiet_run(tmp_path / "runs")
    sdf = ["--config", str(REPO / "configs/sdf.yaml"), "--config", str(REPO / "configs/sdf/shapenet.yaml"),
           "--config", str(REPO / "configs/model/tiny.yaml"), "--data.init_args.resolution=8",
           "--data.init_args.batch_size=2", "--data.init_args.eval_batch_size=2", "--data.init_args.val_items=null",
           f"--data.init_args.cache_dir={tmp_path / 'cache'}", f"--data.init_args.mesh_root={meshes}",
           f"--data.init_args.voxel_root={voxels}", "--data.init_args.splits=[-1,1,1]",
           "--data.init_args.num_shapes=[4,1,1]", "--data.init_args.epoch_size=4",
           "--model.sets.init_args.max_context=64", "--model.sets.init_args.num_queries=64", "--model.val_levels=[4]"]
    fit_one_step(*sdf, *quiet, "--run_name", "old")
    run = tmp_path / "runs" / "sdf" / "old"
    ckpt = run / "checkpoints" / "last.ckpt"
    evaluate = ["test", *sdf, *quiet, "--run_name", "old", "--ckpt_path", str(ckpt), "--trainer.limit_test_batches=1"]
    capsys.readouterr()
    cli = main(evaluate)  # a checkpoint that records its margin: nothing taken, nothing said
    assert cli.datamodule.margin == grid_margin(8, 0.75) and "[run] the checkpoint's data" not in \
        capsys.readouterr().out
    saved = torch.load(ckpt, weights_only=False)
    del saved["hyper_parameters"]["spec"]["extra"]["margin"]  # as a checkpoint of earlier code has it
    torch.save(saved, ckpt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main(evaluate)
    assert cli.datamodule.margin == 0.05
    assert ("[run] the checkpoint's data was made with data.init_args.margin=0.05 (its spec, written before that was "
            "recorded, holds none): so is this run's (--data.init_args.margin 0.05)") in capsys.readouterr().out
    assert not [w for w in caught if "made with" in str(w.message) or "made otherwise" in str(w.message)]
    assert cli.datamodule.dataset("test")[0]["signal"].shape == (1, 8, 8, 8)
    # a margin given is the user's: kept, and compared
    note = warnings_of([*evaluate, "--data.init_args.margin=0.2"], "made with")
    assert len(note) == 1 and "pass --data.init_args.margin 0.05" in note[0]
    # a resume trains on its meshes and chairs as made then; its voxels were not padded then, which no margin undoes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main(resume_fit(quiet, run, 2))
    assert cli.datamodule.margin == 0.05 and "data.init_args.margin=0.05" in capsys.readouterr().out
    assert [w for w in caught if "its voxel grids were not padded then" in str(w.message)]
