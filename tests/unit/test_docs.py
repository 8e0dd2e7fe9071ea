"""What the documentation says that can be checked cheaply: relative links and their anchors resolve, and the make
targets, datasets, config files, modules, options, bad-input rows and Makefile lines it names exist as named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", REPO / "benchmarks" / "README.md",
                *(REPO / "docs").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def link_targets(text: str) -> list[str]:
    """Link and image targets outside code blocks and code spans."""
    out, in_fence = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            out.extend(LINK.findall(re.sub(r"`[^`]*`", "", line)))
    return out


def relative_links(text: str) -> list[str]:
    """Link and image targets outside code blocks and code spans, less web addresses and in-page anchors."""
    return [target.split("#", 1)[0] for target in link_targets(text)
            if not (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"))]


def test_link_finder():
    text = "[a](x.md) ![b](fig/y.png \"t\") [c](https://e.org) [d](#top) `[e](no.md)`\n```\n[f](no.md)\n```\n[g](z.md#s)"
    assert relative_links(text) == ["x.md", "fig/y.png", "z.md"]


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_file()], ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    missing = [t for t in relative_links(page.read_text()) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


# ---- claims the documentation makes about the repository ----------------------------------------------------------
# The pages users read for how things are now (CHANGELOG and the generated results record the past).
CURRENT = [REPO / "README.md", REPO / "docs" / "design.md", REPO / "docs" / "errors.md", REPO / "docs" / "curves.md",
           REPO / "docs" / "dashboard.md", REPO / "docs" / "python.md",
           REPO / "docs" / "metrics" / "README.md", REPO / "benchmarks" / "README.md"]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def config_comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line)


def claims() -> list[tuple[str, str]]:
    """(where, text) of every current page and every config file's comments."""
    return ([(str(p.relative_to(REPO)), p.read_text()) for p in CURRENT]
            + [(str(p.relative_to(REPO)), config_comments(p)) for p in CONFIGS])


def test_readme_is_at_most_250_lines():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), flags=re.M))
    named = {(where, t) for where, text in claims() for t in re.findall(r"\bmake ([a-z][a-z-]*)", text)}
    english = {"curves", "the", "this", "two", "variables"}  # "make the ...", "make two ...": prose, not a target
    assert {t for _, t in named} >= {"train", "test"}  # the README names them: the scan reads the pages
    assert sorted((w, t) for w, t in named if t not in targets | english) == []


def test_every_dataset_named_for_a_domain_exists():
    """`make ... DOMAIN=d DATA=x` (and `also DATA=y` on the same line) names a dataset overlay, configs/d/x.yaml
    with data.init_args.dataset (make takes no other file as DATA=). docs/errors.md names bad ones on purpose."""
    import yaml

    def overlay(domain: str, data: str) -> bool:
        path = REPO / "configs" / domain / f"{data}.yaml"
        return path.is_file() and bool(((yaml.safe_load(path.read_text()).get("data") or {}).get("init_args") or {})
                                       .get("dataset"))

    missing = [(where, line.strip()) for where, text in claims() if where != "docs/errors.md"
               for line in text.splitlines()
               for domain in re.findall(r"\bDOMAIN=([a-z_]+)\b", line)[:1]
               for data in re.findall(r"\bDATA=([a-z0-9_]+)\b", line) if not overlay(domain, data)]
    assert missing == []


def test_every_config_file_named_exists():
    named = {(where, m.rstrip(".,")) for where, text in claims() for m in re.findall(r"configs/[\w./-]+\.yaml", text)}
    assert ("README.md", "configs/polynomial.yaml") in named  # the scan reads the pages
    assert sorted((w, p) for w, p in named if not (REPO / p).is_file()) == []


def test_the_shipped_configs_comments_give_commands_an_installed_package_runs():
    """A wheel ships configs/ (pixeltransformer/configs/ in site-packages) with its comments, which named `make train
    DOMAIN=... DATA=... ARGS="..."`, `make ... WANDB=online` and docs/dashboard.md: a Makefile and a page only a clone
    has. They give the pixeltransformer command, which both run, and name no file of the repository outside what the
    wheel ships (the README, the package's description, is named by its name). A file's comments are read as one text,
    so a phrase split over two lines ("data/ in" / "the repository") is found."""
    made = r"\bmake\b|\b(DOMAIN|DATA|ARGS|CKPT|RESUME|INPUT|CONTEXT|OUT|RUNS|WANDB)=|Makefile"
    found = [(str(p.relative_to(REPO)), m.group(0)) for p in CONFIGS
             for m in re.finditer(rf"{made}|\b(docs|tests|benchmarks)/|data/ in the repository",
                                  " ".join(config_comments(p).split()))]
    assert found == []


def wrapped_commands(comments: str) -> list[str]:
    """The lines of a `pixeltransformer ...` command in comments that go on to a next line of options (`  --...`)
    without a trailing backslash: copied alone, such a line runs without the options of the next."""
    lines, wrapped, going_on = comments.splitlines(), [], False
    for line, after in zip(lines, lines[1:]):
        command = going_on or re.search(r"\bpixeltransformer (fit|validate|test|predict)\b", line)
        going_on = bool(command) and line.rstrip().endswith("\\")
        if command and not going_on and re.match(r"\s*--", after):
            wrapped.append(line.strip())
    return wrapped


def test_wrapped_commands_finder():
    text = ("   pixeltransformer fit --config a.yaml \\\n     --config b.yaml \\\n     --ckpt_path c\n"
            "   pixeltransformer test --config a.yaml\n"
            " Use: pixeltransformer test --config a.yaml\n   --config b.yaml\n"
            " A GPU run adds\n   --config b.yaml\n"
            "   pixeltransformer fit --config a.yaml \\\n     --config b.yaml\n     --ckpt_path c\n")
    assert wrapped_commands(text) == ["Use: pixeltransformer test --config a.yaml", "--config b.yaml"]


def test_no_command_in_the_configs_comments_wraps_without_a_backslash():
    """configs/sdf/eval_quick.yaml gave `pixeltransformer test --config configs/sdf.yaml --config
    configs/sdf/shapenet.yaml` and the rest on the next comment line: copying the first line ran test without the
    eval config and --ckpt_path. A command's lines end in `\\` while it goes on."""
    assert [(str(p.relative_to(REPO)), line) for p in CONFIGS for line in wrapped_commands(config_comments(p))] == []


def test_no_make_target_is_given_an_option():
    """make takes variables (CONTEXT=..., ARGS="--..."), never an option of the command it runs: docs/curves.md wrote
    `make sample --context`, which make reads as an option of its own and refuses."""
    word = r"""(?:[A-Z]+=(?:'[^']*'|"[^"]*"|[^\s`'"]+))"""
    shown = [(where, m.group(0)) for where, text in claims()
             for m in re.finditer(rf"\bmake [a-z][a-z-]*(?: {word})* --?[a-z]", text)]
    assert shown == []


def test_no_make_eval_gives_a_run_config_after_its_checkpoint():
    """`make eval` and `make sample` pass ARGS after --ckpt_path, and a run's config.yaml records `ckpt_path: null`:
    given there it sets the checkpoint back, and the command stops (docs/curves.md showed it)."""
    shown = [(where, line.strip()) for where, text in claims() for line in text.splitlines()
             if re.search(r"\bmake (eval|sample)\b.*ARGS=.*--config [^\s\"']*config\.yaml", line)]
    assert shown == []


def module_docstrings() -> list[tuple[str, str]]:
    out = []
    for p in sorted([*(REPO / "src").rglob("*.py"), *(REPO / "domains").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]):
        doc = ast.get_docstring(ast.parse(p.read_text()))
        if doc:
            out.append((str(p.relative_to(REPO)), doc))
    return out


def test_every_python_m_module_named_exists():
    def exists(module: str) -> bool:
        parts = module.split(".")
        return any((root / Path(*parts)).with_suffix(".py").is_file() or (root / Path(*parts) / "__main__.py").is_file()
                   for root in (REPO, REPO / "src"))

    named = {(where, m) for where, text in claims() + module_docstrings()
             for m in re.findall(r"python -m ([A-Za-z_][\w.]*[A-Za-z_])", text)}
    assert "pixeltransformer" in {m for _, m in named}  # the scan reads the pages
    assert sorted((w, m) for w, m in named if not exists(m)) == []


def core_map_lines(text: str) -> list[str]:
    """The module names of docs/design.md's map of src/pixeltransformer/ (its code block): an indented `name.py`
    opens each module's line; the headings that group them are not indented."""
    block = text.split("```\nsrc/pixeltransformer/\n", 1)[1].split("```", 1)[0]
    return re.findall(r"^\s+(\w+\.py)(?:\s|$)", block, flags=re.M)


def test_core_map_lines():
    text = "```\nsrc/pixeltransformer/\n\nData\n  a.py    x\n  b.py\nModel\n  a.py  again\n```\n  c.py  outside\n"
    assert core_map_lines(text) == ["a.py", "b.py", "a.py"]


def test_design_lists_every_core_module():
    """docs/design.md's map of src/pixeltransformer/ has one line for each of its modules (__init__.py and
    __main__.py too), and none for a module that is not there: a module added without a line fails here."""
    listed = core_map_lines((REPO / "docs" / "design.md").read_text())
    present = sorted(p.name for p in (REPO / "src" / "pixeltransformer").glob("*.py"))
    assert sorted(name for name in set(listed) if listed.count(name) > 1) == [], "listed more than once"
    assert sorted(set(present) - set(listed)) == [], "modules without a line in docs/design.md"
    assert sorted(set(listed) - set(present)) == [], "lines of modules that are not in src/pixeltransformer/"


def test_every_option_named_exists():
    """model.net/objective/optim/sets.X and data.init_args.X in the pages and config comments are real options."""
    import dataclasses
    import inspect

    from domains.images.data import ImageDataModule
    from domains.polynomial.data import PolynomialDataModule
    from domains.sdf.data import SDFDataModule
    from domains.video.data import VideoDataModule
    from pixeltransformer.config import NetConfig, ObjectiveConfig, OptimConfig
    from pixeltransformer.sets import SetSampler

    groups = {"net": {f.name for f in dataclasses.fields(NetConfig)},
              "objective": {f.name for f in dataclasses.fields(ObjectiveConfig)},
              "optim": {f.name for f in dataclasses.fields(OptimConfig)},
              "sets": set(inspect.signature(SetSampler).parameters)}
    data = set().union(*(inspect.signature(c).parameters for c in (ImageDataModule, PolynomialDataModule,
                                                                    SDFDataModule, VideoDataModule)))
    # the rows that show what a misspelt option gives, and a checkpoint's option of a later version
    misspelt = {("docs/errors.md", "net", "widht"), ("docs/errors.md", "net", "future_knob")}
    unknown = {(where, group, name) for where, text in claims()
               for group, name in re.findall(r"\bmodel\.(net|objective|optim|sets)\.(?:init_args\.)?(\w+)", text)
               if name not in groups[group]} - misspelt
    unknown |= {(where, "data", name) for where, text in claims()
                for name in re.findall(r"\bdata\.init_args\.(\w+)", text) if name not in data}
    assert sorted(unknown) == []


# errors.md rows whose test is not a row of tests/cli/test_bad_input.py's table: it calls the CLI in the test's own
# process, or the command fails once its run folder has begun (which the table's "changes no file" does not allow)
ERROR_ROWS_ELSEWHERE = {
    '`make train DOMAIN=video ARGS="--data.init_args.num_frames=100 --data.init_args.size=256"` (1000 synthetic '
    'clips) with 16 GiB of memory available':
        ("tests/domains/test_video.py",
         "test_synthetic_clips_too_large_for_the_memory_at_hand_are_refused_naming_the_most_that_fit"),
    '`make train DOMAIN=video ARGS="--data.init_args.num_frames=100 --data.init_args.size=256 '
    '--trainer.strategy=ddp --trainer.devices=2"` (1000 synthetic clips; Lightning\'s own DDP, no torchrun or srun) '
    'with 32 GiB of memory available before the clips are made':
        ("tests/domains/test_video.py",
         "test_synthetic_clips_are_checked_again_for_the_processes_lightning_s_ddp_starts"),
    '`make train DOMAIN=images ARGS="--config configs/model/paper.yaml --data.init_args.batch_size=1024"` on a CPU '
    'with 20 GiB of memory available':
        ("tests/unit/test_python_api.py",
         "test_a_batch_too_large_to_train_a_step_is_refused_in_one_line_naming_the_most_that_fit"),
    "`pixeltransformer fit --config configs/polynomial.yaml --config mine.yaml`, mine.yaml holding `trainer: "
    "{accelerator: gpu}` and other options, on a machine without a GPU (a run's config.yaml that sets it is named "
    "alike)":
        ("tests/cli/test_reliability.py", "test_a_gpu_a_config_of_ones_own_asks_for_is_refused_naming_that_config"),
    "`make sample CKPT=runs/polynomial/r/checkpoints/last.ckpt CONTEXT='[[0, 1]]' OUT=result.csv/pred` (result.csv a "
    "file)":
        ("tests/unit/test_predict_options.py", "test_an_out_below_a_file_is_refused_before_the_model_runs"),
    "`make sample CKPT=runs/polynomial/r/checkpoints/last.ckpt CONTEXT='[[0, 1]]' OUT=/usr/pred` (as a user who "
    "cannot write /usr; on a read-only disk: `(a read-only file system)`)":
        ("tests/unit/test_predict_options.py",
         "test_an_out_in_a_folder_that_cannot_be_written_is_refused_before_the_model_runs"),
    "`make sample CKPT=runs/polynomial/r/checkpoints/last.ckpt CONTEXT='[[0, 1]]' OUT=dangle/pred` (dangle a link to "
    "/nowhere, which does not exist)":
        ("tests/unit/test_predict_options.py", "test_an_out_below_a_dangling_link_is_refused_before_the_model_runs"),
    "`pixeltransformer test --config runs/polynomial/r/config.yaml --ckpt_path "
    "runs/polynomial/r/checkpoints/last.ckpt` of a run that kept none yet (one that kept another checkpoint, there "
    "or in its `checkpoint.dirpath`, names it instead: `(the run kept <it>: give that)`)":
        ("tests/unit/test_preflight.py", "test_a_missing_checkpoint_of_a_run_names_what_the_run_kept"),
    "`pixeltransformer predict --config runs/polynomial/r/config.yaml --ckpt_path "
    "runs/polynomial/r/checkpoints/last.ckpt` while the run's fit still trains towards its first checkpoint (the run "
    "folder given says the same)":
        ("tests/unit/test_preflight.py", "test_a_missing_checkpoint_of_a_run_whose_fit_still_runs_says_it_runs"),
    "a config file that reads an unset environment variable: `--config mine.yaml` holding `lr: ${oc.env:MY_LR}` "
    "(MY_LR not set)":
        ("tests/unit/test_preflight.py",
         "test_a_config_that_reads_an_unset_environment_variable_names_the_option_and_the_variable"),
    "`pixeltransformer fit --config configs/polynomial.yaml --trainer.accelerator gpu` on a machine without a GPU":
        ("tests/cli/test_reliability.py",
         "test_a_gpu_the_command_line_asks_for_is_refused_naming_the_option_not_the_gpu_config"),
    "`pixeltransformer fit --config configs/polynomial.yaml --trainer.strategy fsdp` on a machine without a GPU":
        ("tests/cli/test_reliability.py", "test_fsdp_on_the_cpu_is_refused_naming_a_strategy_the_cpu_runs"),
    "a config file indented with tabs: `--config mine.yaml` holding `model:` then `<tab>net:`":
        ("tests/unit/test_preflight.py", "test_a_config_file_that_is_not_a_mapping_of_options_is_named_with_its_cause"),
    '`make train DOMAIN=sdf DATA=shapenet ARGS="--data.init_args.mesh_root=chairs/chair.obj"` (one mesh file, as '
    "voxel_root takes one file), with the mixture's voxels in place: without data/shapenet_chairs/modelnet10_vox32, "
    "`error: no data at .../modelnet10_chair_train_vox32.npy.gz: ..., or pass --data.init_args.voxel_root` comes "
    "first":
        ("tests/domains/test_sdf.py", "test_a_mesh_file_given_as_mesh_root_names_its_folder"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=chairs"` (an empty folder, '
    "or one of no mesh file)":
        ("tests/domains/test_sdf.py", "test_an_empty_mesh_folder_names_the_option_that_gives_another"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=binvox"` (a folder of '
    ".binvox files alone)":
        ("tests/domains/test_sdf.py", "test_a_folder_of_voxel_files_read_as_meshes_names_the_options_that_read_them"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=vox/chairs.npy"` (a .npy, '
    ".npy.gz or voxel .npz file where a folder of meshes goes; also a mixture's mesh_root)":
        ("tests/domains/test_sdf.py", "test_a_voxel_file_given_as_a_mesh_folder_is_sent_to_the_voxel_option"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=bv/c0.binvox"` (one .binvox '
    "file where a folder of meshes goes)":
        ("tests/domains/test_sdf.py",
         "test_a_binvox_or_npz_voxel_file_given_as_a_mesh_root_names_what_the_voxel_reader_reads"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=s.npz"` (an .npz of neither '
    "a mesh nor voxel grids, SDF samples' `points` and `sdf`, where a folder of meshes goes)":
        ("tests/domains/test_sdf.py", "test_an_npz_of_neither_given_as_a_mesh_root_is_named_with_its_arrays"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes '
    '--data.init_args.root=data/shapenet_chairs/modelnet10_vox32"` (a folder of .npy, .npy.gz or .npz voxel files '
    'alone)':
        ("tests/domains/test_sdf.py",
         "test_a_folder_of_voxel_grid_files_read_as_meshes_names_the_option_that_reads_them"),
    '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=digit.png ARGS="--mask speck.png"` (a 64x64 mask whose only '
    "white is a 4x4 square; a mask in a dark colour, red: `the mask has no white (observed) pixels: its colours read "
    "as grey levels up to 76, below 128: paint the observed pixels white`; a 48x64 mask white only in its top 8 "
    "rows: `the mask's 384 white pixels (grey level 128 or more) lie outside its centre 48×48, the part of it that is "
    "read: give a mask of the input's shape with white inside that centre`)":
        ("tests/domains/test_images_data.py", "test_a_mask_that_observes_no_pixel_says_why"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=clip.mp4 ARGS="--mask speck.png"` (a 256x256 mask whose only '
    "white is a 4x4 square, for frames of 32x32; a mask in a dark colour, red: `the mask has no white (observed) "
    "pixels: its colours read as grey levels up to 76, below 128: paint the observed pixels white`; a 12x8 mask white "
    "only in its top 2 rows: `the mask's 16 white pixels (grey level 128 or more) lie outside its centre 8×8, the part "
    "of it that is read: give a mask of the input's shape with white inside that centre`; for a model of `frame_step` "
    "2, a mask video white only in its odd frames: `the mask's 192 white pixels (grey level 128 or more) lie only in "
    "frames the clip skips (frame_step 2 takes frames 0, 2, 4, ...): paint them white in the frames it takes`)":
        ("tests/domains/test_video.py", "test_a_video_mask_that_observes_no_pixel_says_why"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=clips.npz ARGS="--model.domain.init_args.input_clip=-1"`':
        ("tests/domains/test_video.py", "test_the_clip_of_an_npz_to_complete_is_picked_by_its_index"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=clips.npz ARGS="--model.domain.init_args.input_clip=3"` (an .npz '
    "of 3 clips; of 1 clip: `clips.npz holds 1 clip: --model.domain.init_args.input_clip=1 is none of them; give 0, or "
    "leave input_clip out`)":
        ("tests/domains/test_video.py", "test_the_clip_of_an_npz_to_complete_is_picked_by_its_index"),
    '`make train DOMAIN=images DATA=cifar10 ARGS="--data.init_args.root=none.npz"` (`images` [0, 32, 32, 3]; of '
    "pictures of 0×0 pixels: `'images' [5, 0, 0, 3] holds pictures of 0×0 pixels: give pictures of 1×1 pixels or "
    "more`)":
        ("tests/domains/test_images_io.py",
         "test_an_npz_of_no_pictures_or_of_pictures_of_no_pixels_is_refused_in_one_line"),
    '`make train DOMAIN=images DATA=cifar10 ARGS="--data.init_args.root=labels.npz"` (`labels` of 3.7, or NaN; of '
    "text: `'labels' must hold whole numbers (the class of each picture), got text (<U3): ...`; floats of whole "
    "numbers, 3.0, read as classes)":
        ("tests/domains/test_images_io.py",
         "test_labels_that_are_not_whole_numbers_are_refused_naming_the_file_and_the_array"),
    "`make sample DOMAIN=sdf CKPT=sdf.ckpt INPUT=triangle.obj` (a mesh of one triangle, or of faces in one plane: "
    "`its 2 faces lie in one plane, ...`; before it is converted, as voxels of no inside are refused; in a training "
    "mesh folder: skipped with `warning: skipping mesh: chairs/sheet.obj: its 2 faces lie in one plane, ...`, as a "
    "mesh that fails to convert is)":
        ("tests/domains/test_sdf.py",
         "test_a_mesh_of_no_volume_given_to_complete_is_refused_as_a_grid_without_an_inside_is"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=empty.npz` (an .npz of 0 clips; with `input_clip`, and as '
    "`DATA=beach`'s `--data.init_args.root`, alike; of frames of 0×0 pixels: `videos [2, 17, 0, 0, 3] holds frames of "
    "0×0 pixels: give clips of frames of 1×1 pixels or more`)":
        ("tests/domains/test_video.py",
         "test_an_npz_of_no_clips_or_of_frames_of_no_pixels_is_refused_in_one_line_wherever_it_is_read"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=clip.gif ARGS="--model.domain.init_args.input_clip=0"` (a file '
    "of one video: a video file, a GIF, an animated PNG or WebP, a strip)":
        ("tests/domains/test_video.py", "test_the_clip_of_an_npz_to_complete_is_picked_by_its_index"),
    "`make sample DOMAIN=video CKPT=video.ckpt CONTEXT='[[0, 0, 0, 0.5, 0.5, 0.5]]' "
    'ARGS="--model.domain.init_args.input_clip=1"` (S as rows, with no .npz to pick a clip of)':
        ("tests/domains/test_video_wiring.py",
         "test_a_prediction_reads_input_clip_of_its_own_input_not_an_earlier_one_s"),
    '`--trainer.limit_train_batches 0.1` on a fit whose train split is one batch (`--data.init_args.train_size 64`, '
    'batch_size 64)':
        ("tests/domains/test_polynomial_domain.py", "test_a_train_fraction_of_no_batch_is_refused_naming_the_split"),
    '`make train DOMAIN=sdf DATA=shapenet ARGS="--data.init_args.voxel_root=data/shapenet_chairs/modelnet10_vox32"` '
    "(the voxel file's folder)":
        ("tests/domains/test_sdf.py", "test_a_folder_holding_a_file_of_voxel_grids_names_the_file_to_give"),
    '`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt ARGS="--trainer.callbacks.out_dir runs/polynomial/r"` '
    '(the run folder itself)':
        ("tests/unit/test_fit_lines.py", "test_an_evaluation_out_dir_that_is_the_run_folder_is_refused"),
    '`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt ARGS="--trainer.callbacks.out_dir runs/polynomial/other"` '
    "(another run's folder)":
        ("tests/unit/test_fit_lines.py", "test_an_evaluation_out_dir_that_is_another_run_s_folder_is_refused"),
    '`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt ARGS="--trainer.callbacks.out_dir notes.txt/eval"` '
    "(a file on its path; a folder you cannot write ends `/srv cannot be written (no write permission); give out_dir "
    "...`)":
        ("tests/unit/test_fit_lines.py",
         "test_an_evaluation_out_dir_that_cannot_be_written_is_refused_before_the_test"),
    '`make classifier DATA=cifar10 ARGS="--root few.npz --no_vae"` (a labelled train split with fewer than 5 images '
    'of some class; without `--no_vae` the command prints this reason, `cifar10: no classifier: ...`, and goes on to '
    "the VAE; `labels` outside 0..9, a CIFAR-100-like .npz's 0..99: `the train split's labels span 0..99, but the "
    "classifier that judges completions tells 10 classes, 0..9: give 'labels' of those classes, or leave them out "
    "(no classifier)`, which `make eval` prints as it leaves the classifier out, ending `or give "
    '--trainer.callbacks.classifier=false`)':
        ("tests/domains/test_images_wiring.py", "test_make_classifier_skips_the_classifier_of_a_train_split_of_too_few_"
                                                "images_of_a_class"),
    '`make train DOMAIN=images DATA=cifar10 ARGS="--data.init_args.root=grey.npz"` (`images` [5, 32, 32, 1], grey; '
    "[5, 32, 32] or [5, 1, 32, 32] alike; `labels` outside 0..9 read, and leave the classifier baseline out: see "
    "`make classifier` below)":
        ("tests/domains/test_images_io.py", "test_a_cifar_npz_of_grey_pictures_is_refused_with_a_remedy_that_reads"),
    "`make eval CKPT=weights.zip` (a zip archive of other files; a checkpoint in torch's format before 1.6 is read)":
        ("tests/unit/test_python_api.py", "test_a_checkpoint_in_torch_s_format_before_1_6_loads_and_a_zip_of_other_"
                                          "files_is_named"),
    "`pixeltransformer predict --config configs/polynomial.yaml --ckpt_path edited.ckpt ...` or "
    "`load_module(\"edited.ckpt\")` (its hyper_parameters damaged or edited: the spec's grid_shape removed)":
        ("tests/unit/test_python_api.py", "test_a_checkpoint_whose_hyperparameters_lack_the_spec_or_are_not_options_is_"
                                          "refused_in_one_line"),
    "`pixeltransformer fit --config configs/polynomial.yaml --ckpt_path runs/polynomial/r/checkpoints/last.ckpt "
    "--trainer.max_steps=100` (a new run from a checkpoint at step 134)":
        ("tests/unit/test_fit_settings.py",
         "test_a_new_fit_from_a_checkpoint_at_or_past_its_max_steps_is_refused_before_its_folder_is_made"),
    "`pixeltransformer fit --config runs/polynomial/r/config.yaml --ckpt_path runs/polynomial/r/checkpoints/last.ckpt "
    "--run_name new` (a new run from a checkpoint written as its fit of `trainer.max_epochs: 1` ended, at step 134, "
    "or as `trainer.max_steps` stopped it mid-epoch; one saved at a step by `checkpoint.every_n_train_steps` or "
    "`checkpoint.every_minutes` counts that epoch as done only at its last step, and only where no validation at "
    "that step wrote it again)":
        ("tests/unit/test_fit_settings.py",
         "test_a_new_fit_from_a_checkpoint_at_its_max_epochs_is_refused_before_its_folder_is_made"),
    '`make train DOMAIN=images DATA=cats ARGS="--config configs/trainer/ddp.yaml '
    '--data.init_args.root=three_cats"` (1 training picture for 2 processes)': (
        "tests/domains/test_images_data.py",
        "test_a_train_split_that_a_process_holds_less_than_a_batch_of_still_trains"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.dataset=meshes --data.init_args.root=two_chairs"` (2 '
    "meshes; also voxels)": ("tests/domains/test_sdf.py", "test_a_folder_of_two_meshes_names_the_splits_option"),
    "`make eval CKPT=runs/polynomial/r` (a run folder; its checkpoints/ alike)":
        ("tests/cli/test_reliability.py", "test_a_folder_given_as_a_checkpoint_names_the_checkpoint_in_it"),
    "a command without a config: `pixeltransformer predict --ckpt_path runs/polynomial/r/checkpoints/last.ckpt "
    "--input x.npy` (without a run folder's: `give --config configs/<domain>.yaml (<domain>: images, polynomial, sdf "
    "or video)`)": ("tests/unit/test_preflight.py", "test_a_command_without_a_config_is_told_which_to_give"),
    "a `domains` package of your own found first, installed from a wheel: `python -m pixeltransformer fit --config "
    "<site-packages>/pixeltransformer/configs/polynomial.yaml` in a folder that holds `domains/__init__.py`":
        ("tests/unit/test_installed.py", "test_a_domains_package_of_the_user_s_own_is_named"),
    '`make train RESUME=runs/polynomial/r ARGS="--ckpt_path runs/polynomial/r/checkpoints/best-step000400.ckpt"`':
        ("tests/unit/test_runs.py", "test_a_resume_given_another_checkpoint_is_refused"),
    "`--seed_everything=-1` (or 2^32 and above, numpy's bounds; on the command line or in a config file)":
        ("tests/cli/test_lightning_flags.py", "test_a_seed_numpy_cannot_take_is_named_as_the_option_it_is"),
    "the model's options under init_args, as the data's: `--model.init_args.net.width=32` (a config file's `model: "
    "init_args:`: `mine.yaml: model.init_args: the model is one class, whose options take no class_path or init_args "
    "(the data's do): give them under model: itself (model: net: width: 32)`; `--model.class_path=...`: "
    "`--model.class_path: the model is one class, chosen by no class_path: leave --model.class_path out and give its "
    "options as --model.<name>`)":
        ("tests/unit/test_preflight.py",
         "test_the_model_s_options_given_under_init_args_are_named_with_their_own_names"),
    "`make train RESUME=runs/polynomial/r` whose config.yaml was emptied (cut short: `not valid YAML: ... at line 3, "
    "column 1`)":
        ("tests/unit/test_preflight.py", "test_a_resume_s_own_config_that_is_not_options_is_named_with_its_cause"),
    "a config file saved as Latin-1 or Windows-1252: `--config mine.yaml` holding `# café`":
        ("tests/unit/test_preflight.py",
         "test_a_config_in_another_encoding_is_named_with_its_first_byte_that_is_not_utf8"),
    "a command that is not one: `pixeltransformer fitt --config configs/polynomial.yaml` (`evaluate`, `train`, "
    "`sample`: `did you mean test?`, `fit`, `predict`)":
        ("tests/unit/test_preflight.py", "test_an_unknown_command_is_named_with_the_commands_there_are"),
    "an option before the command: `pixeltransformer --trainer.max_steps 3 fit --config configs/polynomial.yaml`":
        ("tests/unit/test_preflight.py", "test_an_option_before_the_command_is_told_to_go_after_it"),
    "a config path that names no file: `pixeltransformer fit --config gp_rbf.yaml` (a folder: `--config "
    "runs/polynomial/r is a folder, not a config file: give one of its YAML files: --config "
    "runs/polynomial/r/config.yaml`)":
        ("tests/unit/test_preflight.py", "test_a_config_path_that_is_no_file_is_named_with_what_to_give"),
    "`make train RESUME=runs/polynomial/r` of a run folder on a read-only file system (a shared disk; one you may not "
    "write: `no write permission`)":
        ("tests/unit/test_runs.py",
         "test_a_resume_of_a_run_folder_that_cannot_be_written_is_refused_saying_what_to_do"),
    "`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt` of a run folder on a read-only file system (a shared "
    "disk; on a full disk the line ends `; free some space on its disk and evaluate again`, past a file-size limit "
    "`; a file there would pass the largest file this process may write (ulimit -f) or its file system holds (4 GiB "
    "on FAT32): raise that limit, or evaluate a copy of the run folder on another disk`; an evaluation callback's "
    "own `out_dir` is named in place of the run folder, with `give the evaluation callback's out_dir a folder on a "
    "disk you can write`)":
        ("tests/cli/test_cli.py", "test_an_evaluation_of_a_run_folder_it_cannot_write_says_what_to_do"),
    "`make train ARGS=\"--run_name $(printf 'a%.0s' {1..300})\"` (over 255 bytes; a name with a line break or tab: "
    "`holds a line break or another control character: give a name without`)":
        ("tests/unit/test_runs.py", "test_a_run_name_too_long_for_a_folder_or_with_a_line_break_is_refused"),
    "`make train` on a full disk at the fit's first checkpoint (at a later one, the line names the last.ckpt kept "
    "and the `--resume` that continues the run; a best-step*.ckpt kept without last.ckpt: `no last.ckpt was kept, so "
    "the run cannot be resumed (.../best-step000400.ckpt is whole: evaluate it with --ckpt_path): free some space and "
    "...`)":
        ("tests/unit/test_fit_lines.py",
         "test_a_fit_that_cannot_write_its_first_checkpoint_names_the_file_and_the_remedy"),
    "`pixeltransformer fit --resume runs/polynomial` (a folder of runs, not a run; `runs/` alike; an empty folder: "
    "the line ends at `checkpoints/)`)":
        ("tests/unit/test_runs.py", "test_a_resume_of_a_folder_that_is_no_run_folder_names_the_run_folder_to_give"),
    '`make train ARGS="--run_root /mnt/ro/runs"` (a read-only file system; a folder you may not write: `no write '
    'permission`; a read-only run_root whose `<domain>/` folder can be written is taken, as the fit writes only '
    'there)': ("tests/unit/test_runs.py", "test_a_run_root_that_cannot_be_written_is_refused_before_the_run_starts"),
    '`make sample DOMAIN=video CKPT=... INPUT=clip.mp4 ARGS="--mask strip.png"` (a 32x64 PNG: a strip of 2 '
    'frames, as `--input` reads one)':
        ("tests/domains/test_video.py", "test_a_strip_given_as_a_mask_is_read_frame_by_frame_as_an_input_strip_is"),
    '`make train DOMAIN=polynomial ARGS="--data.init_args.coef_std=1e30"` (functions beyond float32\'s reach; `.inf` '
    'or `.nan`: `must be a finite number > 0`)':
        ("tests/domains/test_polynomial_domain.py", "test_polynomials_beyond_the_models_float32_range_are_refused"),
    "`make eval CKPT=overflows.ckpt` (finite weights whose outputs overflow, saved as the training diverged; `make "
    "sample` alike)":
        ("tests/cli/test_divergence.py", "test_an_evaluation_of_weights_whose_outputs_overflow_is_refused"),
    '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=digit.png ARGS="--mask painted.png"` (half of its pixels '
    'transparent)': ("tests/domains/test_images_data.py", "test_a_mask_with_transparent_pixels_is_refused"),
    "`make sample DOMAIN=video CKPT=video.ckpt INPUT=empty.mp4` (0 bytes; in a `DATA=folder` folder: skipped with "
    "`warning: skipping empty.mp4, which cannot be decoded: the file is empty`)":
        ("tests/domains/test_video.py", "test_an_empty_video_file_says_it_is_empty"),
    "`make sample DOMAIN=video CKPT=beach.ckpt CONTEXT=rows.json` (rows of frame and pixel indices and 0-255 "
    "colours: `[[0, 5, 10, 200, 180, 120]]`; 17 frames of 64x64)":
        ("tests/domains/test_video.py", "test_context_rows_outside_their_ranges_are_told_the_units_of_a_video_row"),
    "`make sample DOMAIN=images CKPT=digits.ckpt CONTEXT='[[0.5, 0.5, 200]]'` (a 0-255 level; a 28x28 model)":
        ("tests/domains/test_images_io.py",
         "test_context_rows_outside_their_ranges_are_told_the_units_of_an_image_row"),
    "`make sample DOMAIN=sdf CKPT=sdf.ckpt CONTEXT=points.json` (a row in a mesh's units: `[[0, 12, 0, 0.05]]`)":
        ("tests/domains/test_sdf.py", "test_context_rows_outside_the_cube_are_told_the_units_of_an_sdf_row"),
    "`make train DOMAIN=video DATA=beach ARGS=\"--data.init_args.num_frames=32\"` (its videos hold 17 frames; "
    "`DATA=folder` with every video too short: `error: no clips of 32 frames from 2 video files under clips (2 too "
    "short, 0 undecodable): the longest, clips/ten.mp4, holds 10 frames: ...`)":
        ("tests/domains/test_video.py", "test_clips_longer_than_every_video_are_refused_saying_how_many_frames_fit"),
    "`make sample DOMAIN=video CKPT=video.ckpt INPUT=short.mp4` (10 frames; the model's clips are 17)":
        ("tests/domains/test_video.py",
         "test_a_video_shorter_than_the_clip_is_refused_saying_how_long_a_video_to_give"),
    '`make sample DOMAIN=video CKPT=video.ckpt INPUT=clip.mp4 ARGS="--mask painted.png"` (its canvas transparent, '
    '94% of its pixels)': ("tests/domains/test_video.py",
                           "test_a_mask_with_transparent_pixels_is_refused_as_the_images_domain_refuses_it"),
    "two domains' configs: `--config configs/polynomial.yaml --config configs/images.yaml`":
        ("tests/unit/test_preflight.py", "test_configs_of_two_domains_are_refused_naming_both"),
    "a config file without `model.domain`: `pixeltransformer fit --config nodomain.yaml`":
        ("tests/cli/test_cli.py", "test_a_config_without_a_domain_is_refused_naming_the_data_domain"),
    '`make eval CKPT=... ARGS="--trainer.callbacks.classifier_epochs=0"` (images; vae_epochs alike)':
        ("tests/domains/test_images_wiring.py", "test_baseline_epochs_below_one_are_refused_not_scored_untrained"),
    '`make train DOMAIN=images DATA=cats ARGS="--data.init_args.kmeans_pixels=0"` (or below)':
        ("tests/domains/test_images_data.py", "test_kmeans_pixels_below_one_is_refused_not_taken_as_num_bins"),
    '`make eval CKPT=... ARGS="--trainer.callbacks.vae_steps=0"` (images; `vae_lr=0`, below or inf alike)':
        ("tests/domains/test_images_wiring.py", "test_vae_latent_steps_and_rate_that_fit_nothing_are_refused"),
    "`make eval CKPT=...` of an images run trained at `--data.init_args.image_size=6` (the classifier needs 8x8; the "
    "VAE 4x4 alike)":
        ("tests/domains/test_images_wiring.py",
         "test_pictures_too_small_for_a_baseline_are_refused_naming_the_switch_before_training"),
    '`make train DOMAIN=sdf DATA=modelnet ARGS="--data.init_args.max_shapes=-1"` (-1 read as "no cap")':
        ("tests/domains/test_sdf.py", "test_a_shape_cap_below_one_is_refused_not_taken_from_the_end"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.margin=1"` (no room left for a shape)':
        ("tests/domains/test_sdf.py", "test_a_negative_shell_or_a_grid_too_coarse_for_any_shape_is_refused"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.shell_voxels=-1"`':
        ("tests/domains/test_sdf.py", "test_a_negative_shell_or_a_grid_too_coarse_for_any_shape_is_refused"),
    '`make train DOMAIN=sdf ARGS="--data.init_args.resolution=3"` (no grid point can lie inside a shape and keep the '
    'border outside)':
        ("tests/domains/test_sdf.py", "test_a_negative_shell_or_a_grid_too_coarse_for_any_shape_is_refused"),
    '`make train DOMAIN=video ARGS="--data.init_args.num_bins=0"` (or below)':
        ("tests/domains/test_video.py", "test_no_value_bins_is_refused_naming_the_option"),
    '`make train DOMAIN=video ARGS="--data.init_args.num_clips=0"` (the synthetic clips; or below)':
        ("tests/domains/test_video.py", "test_no_synthetic_clips_is_refused_naming_the_option"),
    '`make train DOMAIN=video DATA=folder ARGS="--data.init_args.max_clips_per_video=-1"` (-1 read as "no cap")':
        ("tests/domains/test_video.py", "test_a_clip_cap_below_one_is_refused_not_taken_from_the_end"),
    '`make train DOMAIN=video DATA=beach ARGS="--data.init_args.fps=0"` (or below)':
        ("tests/domains/test_video.py", "test_a_frame_rate_of_zero_or_below_is_refused_naming_the_option"),
    '`make train DOMAIN=polynomial ARGS="--data.init_args.val_size=-1"` (-1 read as "the rest")':
        ("tests/cli/test_cli.py", "test_a_negative_number_of_generated_functions_is_refused_in_one_line"),
    "`make sample DOMAIN=sdf CKPT=sdf.ckpt INPUT=chairs.npz` (a stack of 889 voxel grids, as training reads)":
        ("tests/domains/test_sdf_wiring.py", "test_a_voxel_file_as_training_reads_them_is_an_input_of_one_shape"),
    "`make sample DOMAIN=sdf CKPT=sdf.ckpt INPUT=samples.npz` (SDF samples' `points` [N, 3] and `sdf` [N]; an .npz of "
    "neither a mesh nor voxel grids without an `sdf` array is refused without the `--context` advice)":
        ("tests/domains/test_sdf.py",
         "test_an_input_npz_of_neither_is_refused_as_training_does_and_sdf_samples_named_with_context"),
    '`make train DOMAIN=images DATA=mnist ARGS="--data.init_args.root=blank"` (every pixel 0; a folder of blank '
    'scans alike)':
        ("tests/cli/test_bad_input.py", "test_pictures_of_one_colour_are_refused_in_one_line"),
    '`make train RESUME=runs/polynomial/r ARGS="--model.net.width=32"` (the run has width 128)':
        ("tests/cli/test_checkpointing.py", "test_a_resume_that_changes_the_model_fails_before_writing"),
    '`make train RESUME=runs/polynomial/r ARGS="--data.init_args.dataset=gp_rbf"` (another dataset of the run\'s '
    'domain; or `--config configs/polynomial/gp_rbf.yaml`)':
        ("tests/cli/test_checkpointing.py", "test_a_resume_on_another_dataset_fails_before_writing"),
    '`make train RESUME=runs/sdf/m ARGS="--data.init_args.eval_source=procedural"` (a mixture run '
    'validated on a voxel folder `chair`: other validation items)':
        ("tests/domains/test_sdf.py", "test_a_resume_of_a_mixture_on_another_eval_source_is_refused"),
    "`make train RESUME=runs/sdf/m` (a mixture run validated on a voxel folder `chair` that trains on a mesh folder "
    "too, whose meshes were added, removed or renamed since in its train/ folder)":
        ("tests/domains/test_sdf.py",
         "test_a_resume_of_a_mixture_whose_training_only_source_has_other_files_is_refused"),
    '`make train RESUME=runs/images/r ARGS="--data.init_args.root=data/more_pics"` (a run trained on a folder '
    "`pics`, given another folder whose file names are not the run's; its own folder with pictures added, removed or "
    "renamed since in the pools its training or validation read says `the run trained on images/folder (pics) data, "
    "whose files have changed since: ...`; a curve file rewritten alike; the run's own folder renamed resumes, with "
    "a note)":
        ("tests/cli/test_reproducibility.py", "test_a_resume_on_a_folder_of_another_name_is_told_by_its_files"),
    "`make train WANDB=online` without `wandb login`":
        ("tests/cli/test_cli.py", "test_a_wandb_error_is_one_line_naming_the_fallbacks"),
    "`make train WANDB=online` after `wandb login`, on a machine without a route to W&B's server":
        ("tests/cli/test_cli.py", "test_online_without_a_route_to_wandb_is_refused_at_once"),
    "`WANDB_MODE=onlin pixeltransformer fit --config configs/polynomial.yaml` (not a W&B mode)":
        ("tests/cli/test_cli.py", "test_an_unknown_wandb_mode_is_refused_before_the_run"),
    "`make train` where the wandb package is not installed (any `WANDB=`, `disabled` too; "
    "`--trainer.barebones=true`, which turns W&B off, runs; a wandb that is installed but does not import says "
    "`and the wandb package is installed but does not import: <its error>; reinstall it (pip install "
    "--force-reinstall wandb), or run without W&B: ...`)":
        ("tests/cli/test_cli.py", "test_without_wandb_installed_a_wandb_logger_is_refused_in_one_line"),
    "`make train RESUME=runs/polynomial/r` where the wandb package is not installed (or `pixeltransformer test "
    "--config runs/polynomial/r/config.yaml ...`: a run's config holds W&B's options, which `--trainer.logger=false` "
    "after it does not remove)":
        ("tests/cli/test_cli.py", "test_without_wandb_installed_a_run_s_config_is_refused_naming_the_package"),
    "`make train WANDB=onlin` (not a W&B mode)":
        ("tests/unit/test_makefile.py", "test_make_refuses_an_unknown_wandb_mode"),
    "`make train VENV=/opt/envs/mine` (a virtualenv of your own whose Python has no pixeltransformer; a VENV= that "
    "has this checkout's is used as it is, never installed into)":
        ("tests/unit/test_makefile.py", "test_make_uses_a_venv_of_your_own_as_it_is"),
    "`make train VENV=../other/.venv` (another clone's virtualenv: its core would run this clone's domains)":
        ("tests/unit/test_makefile.py", "test_make_uses_a_venv_of_your_own_as_it_is"),
    "`make train VENV=/opt/envs/mne` (no bin/python there)":
        ("tests/unit/test_makefile.py", "test_make_uses_a_venv_of_your_own_as_it_is"),
    '`make train ARGS="--run_name ../escape"` (a path, not a name)':
        ("tests/unit/test_runs.py", "test_a_run_name_is_one_folder_name_and_a_run_root_a_folder"),
    '`make train RESUME=runs/polynomial/r ARGS="--trainer.max_steps=100"` (the run is at step 134)':
        ("tests/cli/test_cli.py", "test_a_resume_that_trains_nothing_or_names_another_run_writes_nothing"),
    '`make train RESUME=runs/polynomial/r ARGS="--run_name other"`':
        ("tests/cli/test_cli.py", "test_a_resume_that_trains_nothing_or_names_another_run_writes_nothing"),
    '`make train ARGS="--run_name same"` while another fit of that name runs (started at the same time, or still '
    'training; `RESUME=` of a run a fit trains: `wait for it to end, then resume it`)':
        ("tests/unit/test_runs.py", "test_a_new_fit_in_the_folder_of_a_running_fit_is_told_it_runs"),
    "`make sample ... OUT=new` twice at once (the later to end finds the earlier's files in new)":
        ("tests/unit/test_domain_contract.py", "test_two_predictions_of_one_input_each_keep_a_folder_of_their_own"),
    "`make sample CKPT=runs/polynomial/r/checkpoints/last.ckpt CONTEXT=...` on a full disk (also a quota, a file-size "
    "limit or a read-only file system; `make eval` and `make train` name their folder the same way)":
        ("tests/domains/test_polynomial_domain.py", "test_a_prediction_that_cannot_be_written_names_its_folder"),
    '`make train ARGS="--run_root notes.txt"` (a file, not a folder)':
        ("tests/unit/test_runs.py", "test_a_run_name_is_one_folder_name_and_a_run_root_a_folder"),
    '`make train DOMAIN=polynomial ARGS="--config pics.yaml"` (a Pictures callback with `resolution: 1000000000`) '
    'with 20 GiB of memory available':
        ("tests/unit/test_domain_contract.py",
         "test_a_pictures_resolution_too_large_for_the_machine_is_refused_before_the_fit_starts"),
    '`make eval DOMAIN=polynomial CKPT=... ARGS="--trainer.callbacks.num_samples=1000000000"` (queries 100) with 20 '
    'GiB of memory available':
        ("tests/unit/test_domain_contract.py",
         "test_an_evaluation_whose_samples_could_not_fit_the_machine_is_refused_before_its_first_batch"),
    '`make sample DOMAIN=sdf CKPT=sdf.ckpt INPUT=chair.obj ARGS="--resolution 100000"` with 8 GiB of memory available':
        ("tests/unit/test_predict_options.py", "test_a_resolution_too_large_for_the_machine_is_refused_in_one_line"),
    '`make sample DOMAIN=polynomial CKPT=... CONTEXT=... ARGS="--num_samples 1000000000"` with 20 GiB of memory '
    'available':
        ("tests/unit/test_predict_options.py", "test_samples_too_many_for_the_machine_are_refused_naming_num_samples"),
    '`make sample DOMAIN=sdf CKPT=sdf.ckpt INPUT=chair.obj ARGS="--num_context 100000"` (a 32^3 model)':
        ("tests/domains/test_sdf_wiring.py", "test_predict_refuses_more_context_than_the_input_s_points"),
    '`make eval CKPT=runs/polynomial/r/checkpoints/last.ckpt ARGS="--trainer.limit_test_batches=0"`':
        ("tests/cli/test_cli.py", "test_an_evaluation_that_runs_no_test_batch_is_refused_and_keeps_the_earlier_one"),
    '`make eval CKPT=... ARGS="--trainer.callbacks+=pixeltransformer.evaluation.SweepEvaluation '
    '--trainer.callbacks.max_items=8"` (a second sweep beside the config\'s)':
        ("tests/cli/test_cli.py", "test_a_second_evaluation_sweep_into_the_same_folder_is_refused"),
    "`max_items: 0` in the evaluation callback's `init_args` (a config file)":
        ("tests/unit/test_core.py", "test_an_item_cap_below_one_is_refused"),
    '`make eval CKPT=... ARGS="--trainer.callbacks.num_samples=1 --trainer.callbacks.n_autoregressive=-1"` (also the '
    "pictures' `n_autoregressive` in a config file)":
        ("tests/unit/test_core.py", "test_autoregressive_steps_below_zero_are_refused_as_the_callback_is_configured"),
    '`make eval CKPT=... ARGS="--trainer.callbacks.queries=gird"` (a typo of `grid`; also 0 or below)':
        ("tests/unit/test_core.py", "test_a_query_count_that_is_neither_grid_nor_above_zero_is_refused"),
    '`--data.init_args.num_workers=-1` (read as "every core")':
        ("tests/unit/test_feed.py", "test_a_negative_number_of_workers_is_refused_naming_the_option"),
    '`make eval CKPT=... ARGS="--trainer.callbacks.num_samples=1 --trainer.callbacks.sample_items=-1"` (-1 read as '
    '"every item")':
        ("tests/unit/test_core.py", "test_a_sampled_item_count_below_zero_is_refused"),
    '`make train DOMAIN=polynomial DATA=gp_tnp_rbf ARGS="--data.init_args.lengthscale_range=[0.6,0.1]"` (also a '
    'low of 0 or a high of `.inf`, the same for `scale_range`; a `max_points` below 10)':
        ("tests/domains/test_polynomial_protocol.py",
         "test_a_benchmark_prior_that_is_no_prior_is_refused_naming_the_option"),
    '`make eval DOMAIN=polynomial DATA=gp_tnp_rbf CKPT=... ARGS="--trainer.callbacks.max_batches=-1"` (-1 read as '
    '"every batch"; also 0, a `sweep_batches` below 0, a `figure_points` below 2, a `figure_levels` or `batch_size` '
    'below 1)':
        ("tests/domains/test_polynomial_protocol.py", "test_benchmark_batch_counts_that_score_nothing_are_refused"),
    "`pixeltransformer test --config configs/polynomial.yaml` (no `--ckpt_path`)":
        ("tests/cli/test_cli.py", "test_a_test_without_a_checkpoint_names_the_option"),
    "`pixeltransformer test --config configs/polynomial.yaml --ckpt_path runs/polynomial/r/checkpoints/last.ckpt "
    "--config runs/polynomial/r/config.yaml` (a run's config records `ckpt_path: null`)":
        ("tests/cli/test_cli.py", "test_a_config_after_the_checkpoint_that_sets_it_back_is_named"),
    "`--trainer.max_time=00:00:00:00` on a fit (or `{}`, or below: no time to train, no checkpoint)":
        ("tests/cli/test_cli.py", "test_a_fit_of_no_time_is_refused_before_its_folder"),
    "`--trainer.max_time='{\"hourz\": 1}'` (a misspelled key; or `1:00:00`, not DD:HH:MM:SS)":
        ("tests/cli/test_cli.py", "test_a_max_time_that_is_no_duration_is_refused_before_its_folder"),
    "`--trainer.accumulate_grad_batches=-2` (or 0)":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`--trainer.val_check_interval=0`":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`make train RESUME=runs/polynomial/off` (a run fitted with `--trainer.enable_checkpointing=false`, or "
    "`barebones`)": ("tests/unit/test_runs.py", "test_a_resume_of_a_run_that_kept_no_checkpoint_says_why"),
    "`--trainer.val_check_interval=0.5` (a fraction of an epoch, while the configs count validations in batches)":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`--trainer.val_check_interval=1.5` (or `-0.5`: a float outside 0 to 1 and no whole number)":
        ("tests/unit/test_fit_settings.py",
         "test_a_val_check_interval_that_is_no_fraction_and_no_whole_number_of_batches_is_refused_as_such"),
    "`--trainer.val_check_interval=2.0` (a whole float, while the configs count validations in batches)":
        ("tests/unit/test_fit_settings.py",
         "test_a_val_check_interval_that_is_no_fraction_and_no_whole_number_of_batches_is_refused_as_such"),
    "`--trainer.min_steps=6` above `--trainer.max_steps=4` (also `min_epochs` above `max_epochs`)":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`--trainer.check_val_every_n_epoch=0` (or below)":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`--trainer.gradient_clip_val=-1`":
        ("tests/cli/test_cli.py", "test_step_settings_lightning_misuses_are_refused_before_the_folder"),
    "`--checkpoint.monitor=val/nl` (a value the validation does not log; found by the sanity check, before the first "
    "step)":
        ("tests/cli/test_cli.py", "test_a_monitor_the_validation_does_not_log_stops_the_fit_before_training"),
    "`--checkpoint.every_minutes=0` (or below)":
        ("tests/unit/test_fit_lines.py", "test_every_minutes_of_zero_or_below_is_refused"),
    "`make train RESUME=runs/polynomial/bestonly` (its fit ran with `--checkpoint.save_last=false`)":
        ("tests/unit/test_fit_lines.py", "test_a_resume_of_a_folder_that_kept_only_its_best_checkpoint_names_it"),
    "`--trainer.devices=-1` on a machine without a GPU (every GPU: a GPU run's config given `--trainer.accelerator=cpu`)":
        ("tests/cli/test_lightning_flags.py", "test_every_device_on_the_cpu_is_refused_in_one_line"),
    "`PIXELTRANSFORMER_CACHE=/data/shared make train DOMAIN=sdf` (a folder this user cannot write; the grids are read "
    "from the cache)":
        ("tests/domains/test_sdf.py", "test_a_cache_folder_that_cannot_be_written_is_named_not_blamed_on_the_meshes"),
    "`PIXELTRANSFORMER_CACHE=/data/shared make classifier` (a folder this user cannot write: read-only, another user's, "
    "or a file on its path)":
        ("tests/domains/test_images_models.py", "test_make_classifier_refuses_a_cache_it_cannot_write_before_training"),
    "`--trainer.accelerator=tpu` without torch_xla":
        ("tests/cli/test_reliability.py", "test_a_tpu_without_torch_xla_is_one_line"),
    "`--trainer.num_nodes=2` on one machine, not started by torchrun or srun (on the command line or in a config "
    "file: refused before Lightning is imported)":
        ("tests/cli/test_lightning_flags.py", "test_more_nodes_than_the_one_started_are_refused_not_waited_for"),
    "`MASTER_ADDR=10.0.0.1 make train ARGS=--trainer.num_nodes=2` (a start by hand without NODE_RANK and MASTER_PORT)":
        ("tests/unit/test_launch.py", "test_a_start_by_hand_needs_the_node_rank_and_node_0_s_address_and_port"),
    "`fit --trainer.num_nodes=2` in a Kubeflow PyTorchJob without torchrun (RANK, WORLD_SIZE, MASTER_ADDR and "
    "MASTER_PORT set, NODE_RANK not)":
        ("tests/unit/test_launch.py", "test_a_kubeflow_job_without_torchrun_is_told_of_kubeflow_s_environment"),
    "`python -m domains.polynomial.diagnose runs/polynomial/r/checkpoints/last.ckpt --levels -3` (or 0; also "
    "`--functions`, `--queries`, `--batches`)":
        ("tests/domains/test_polynomial_diagnose.py",
         "test_bad_counts_and_figure_paths_are_refused_before_a_checkpoint_is_scored"),
    '`make results` with `"mse": "0.25"` (text) in a row of docs/metrics/x/metrics.json (also a list, an object, or '
    'an \\|S\\| that is no whole number; in run.json, a `command` that is no text)':
        ("tests/unit/test_results.py", "test_a_metrics_json_whose_cells_are_not_numbers_is_refused_in_one_line"),
    "`make results` with two rows of \\|S\\| = 4 in docs/metrics/x/metrics.json (two evaluations' rows put "
    "together)": ("tests/unit/test_results.py", "test_two_rows_of_one_context_size_are_refused_in_one_line"),
    "`make results RUNS=runs/images/x/pictures` (a folder of the run, not the run; its `checkpoints/`, a file of it, "
    "a folder of runs alike, each in its own words)":
        ("tests/unit/test_results.py", "test_a_folder_that_is_no_run_folder_is_named_as_such"),
    "`make results RUNS=runs/images/x/eval-best` (an evaluation folder of the run with no metrics.json: its "
    "evaluation was stopped, or a validate's `eval/` with `config_validate.yaml` alone; `eval-best-step000700/` names "
    "`--ckpt_path runs/images/x/checkpoints/best-step000700.ckpt` where that file is there, and its "
    "`config_test.yaml` where it wrote one; a folder of another dataset (or of a checkpoint no longer there other "
    "than a `best-step<N>` one) with no `config_test.yaml` (written when an evaluation ends) asks for the data "
    "options that evaluation was given; "
    "`eval/` names the run's `config.yaml` alone)":
        ("tests/unit/test_results.py", "test_a_folder_that_is_no_run_folder_is_named_as_such"),
    "`make results RUNS=runs/polynomial/x/eval-nosweep` (the folder of a test without a SweepEvaluation, which writes "
    "no metrics.json; where `eval/metrics.json` is beside it: `give runs/polynomial/x/eval, the evaluation beside "
    "it`)": ("tests/unit/test_results.py", "test_the_folder_of_a_test_without_a_sweep_is_named_as_such"),
    "`make results RUNS=runs/sdf/x` (a run never evaluated, whatever data it was trained on: an overlay, its keys "
    "overridden, an option file, data roots of one's own; with `checkpoint.save_last=false` the line names the "
    "checkpoint it kept, `--ckpt_path runs/sdf/x/checkpoints/best-step000700.ckpt`, then the folder to give, "
    "`runs/sdf/x/eval-best-step000700`; a run whose fit stopped before its first checkpoint: `runs/sdf/x: no "
    "eval/metrics.json, and no checkpoint to evaluate: its fit stopped before it wrote checkpoints/last.ckpt; train "
    "it again under another --run_name (or, if no fit runs in it, delete runs/sdf/x to reuse the name)`)":
        ("tests/unit/test_results.py", "test_a_run_never_evaluated_is_named_with_the_test_line_its_fit_printed"),
    "`make results RUNS=runs/sdf/x` after the evaluation the fit's closing line offers (`--ckpt_path "
    "runs/sdf/x/checkpoints/best-step000700.ckpt`, into `eval-best-step000700/`; where the run's checkpoints were "
    "deleted since, the line ends at the folder)":
        ("tests/unit/test_results.py", "test_a_run_evaluated_only_at_another_checkpoint_names_that_evaluation"),
    "`make results RUNS=docs/metrics/images-mnist-m1` (a folder that is no run folder and holds no evaluation "
    "folder: an empty one, a published one)":
        ("tests/unit/test_results.py", "test_a_folder_that_is_no_run_folder_is_named_as_such"),
    '`make results RUNS="/data/my runs/images/x runs/images/y"` (a path with spaces, unquoted, among others)':
        ("tests/unit/test_results.py", "test_runs_with_spaces_in_their_paths_are_imported"),
    "`python -m pixeltransformer.results --run runs/images/x --name ..` (also `.` or `a/b`: a path, not one folder "
    "name)":
        ("tests/unit/test_results.py", "test_a_name_that_is_no_folder_name_is_refused_before_anything_is_written"),
    "`python -m pixeltransformer.results --metrics-dir docs/metric` (no such folder, nothing imported; a file: "
    "`docs/metric is a file, not a folder`)":
        ("tests/unit/test_results.py", "test_a_metrics_dir_that_is_no_folder_leaves_the_page_alone"),
    '`make results RUNS=runs/images/x ARGS="--out docs"` (a folder; also `--figures-dir` a file with '
    '`--copy-figure`: `... is a file, not a folder`)':
        ("tests/unit/test_results.py", "test_an_out_that_is_a_folder_is_refused_before_a_run_is_imported"),
    '`make results RUNS=runs/images/x ARGS="--metrics-dir /mnt/ro/metrics"` (a read-only file system; a folder you '
    'may not write: `no write permission`; also `--out`, and `--figures-dir` with `--copy-figure` or `--bench`)':
        ("tests/unit/test_results.py", "test_a_folder_that_cannot_be_written_is_refused_before_a_run_is_imported"),
    "`python -m pixeltransformer.results` in another folder than the repository's root (no docs/metrics there)":
        ("tests/unit/test_results.py", "test_results_run_outside_the_repository_says_where_to_run_it"),
    "`make results RUNS=runs/images/x ARGS=--copy-figure` (its evaluation folder holds no curve)":
        ("tests/unit/test_results.py",
         "test_copy_figure_of_an_evaluation_without_its_curve_is_refused_before_anything_is_written"),
    '`make results RUNS=runs/images/x` with `"mse": NaN` in a row of its eval/metrics.json (also in a published '
    'docs/metrics/x/metrics.json)':
        ("tests/unit/test_results.py", "test_a_nan_metric_is_refused_at_import_naming_the_metric_and_the_file"),
    '`make results RUNS=runs/images/x` with `"nll": Infinity` in a row of its eval/metrics.json (also `-Infinity`, '
    'and in a published docs/metrics/x/metrics.json; NaN or Infinity in its `gp_protocol` block: `is NaN, which no '
    'evaluation writes (it writes null for a number it could not measure): evaluate the run again`)':
        ("tests/unit/test_results.py", "test_an_infinite_metric_is_refused_as_a_nan_is"),
    '`make eval DOMAIN=polynomial DATA=gp_tnp_rbf CKPT=... ARGS="--data.init_args.test_size=1000"` (not whole batches '
    'of 16)':
        ("tests/domains/test_polynomial_protocol.py",
         "test_a_test_split_of_no_whole_benchmark_batches_is_refused_before_the_first"),
    "`python -m domains.polynomial.diagnose runs/polynomial/r/checkpoints/last.ckpt --figure gap.txt`":
        ("tests/domains/test_polynomial_diagnose.py",
         "test_bad_counts_and_figure_paths_are_refused_before_a_checkpoint_is_scored"),
    '`make sample DOMAIN=images CKPT=digits.ckpt INPUT=digit.png ARGS="--num_context 0"` (also `--num_samples -1`, '
    '`--n_autoregressive -1`: each named alone)':
        ("tests/unit/test_predict_options.py", "test_predict_options_refuse_conflicting_or_bad_options"),
    "`make sample DOMAIN=video CKPT=video.ckpt INPUT=odd.mp4` (its video stream tagged `zzzz`, a codec the ffmpeg "
    "that imageio-ffmpeg ships has no decoder for; in a `DATA=folder` folder: skipped with a warning saying so; a "
    "stream whose codec tag is blank: `its video stream names no codec: it is damaged`)":
        ("tests/domains/test_video.py", "test_a_video_of_a_codec_ffmpeg_cannot_decode_names_the_codec"),
}


def error_table() -> list[tuple[str, str]]:
    """docs/errors.md's rows: (what you did, what you see)."""
    rows = []
    for line in (REPO / "docs" / "errors.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 2 and cells[0] != "what you did":
            rows.append((cells[0], cells[1]))
    return rows


def test_every_bad_input_row_is_a_test_and_every_test_a_row():
    source = (REPO / "tests" / "cli" / "test_bad_input.py").read_text()
    rows = next(node.value for node in ast.parse(source).body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "ROWS" for t in node.targets))
    tested = [ast.literal_eval(row.elts[1]) for row in rows.elts]
    documented = [did for did, _ in error_table()]
    assert len(documented) == len(set(documented))
    assert sorted(set(documented) - set(ERROR_ROWS_ELSEWHERE)) == sorted(tested)
    for did, (path, test) in ERROR_ROWS_ELSEWHERE.items():
        assert did in documented and f"def {test}(" in (REPO / path).read_text()


def test_makefile_errors_quoted_in_errors_md_name_their_line():
    """`Makefile:N: *** message.  Stop.` in docs/errors.md: line N of the Makefile is the $(error ...) that prints it
    (its first line, where a backslash continues it)."""
    makefile = (REPO / "Makefile").read_text().splitlines()
    quoted = [m for _, see in error_table() for m in re.findall(r"Makefile:(\d+): \*\*\* (.+?)\.  Stop\.", see)]
    assert quoted
    for number, message in quoted:
        at = int(number) - 1
        line = makefile[at].strip()
        while line.endswith("\\"):  # make joins a continued line to the next with one space
            at += 1
            line = line[:-1].rstrip() + " " + makefile[at].strip()
        assert line.startswith("$(error ") and line.endswith(")"), (number, line)
        template = line[len("$(error "):-1]
        while re.search(r"\$\([^()]*\)", template):  # a variable or function, innermost first: any text
            template = re.sub(r"\$\([^()]*\)", "\0", template)
        assert re.fullmatch(".+".join(map(re.escape, template.split("\0"))), message), (number, message, line)


def test_benchmark_figures_quoted_from_the_published_run_are_its_figures():
    """benchmarks/README.md quotes the published record's reference chains and our extrapolated bidirectional
    sampling "in the published run", docs/design.md its reference chain at paper; a new record left the figures of
    the one before it (17.6 s, 170 s, 1 361 s)."""
    import json

    record = json.loads((REPO / "docs" / "metrics" / "bench" / "bench.json").read_text())
    sampling = {r["preset"]: r for r in record["sampling"]}
    text = " ".join((REPO / "benchmarks" / "README.md").read_text().split())
    chains = re.search(r"\(([\d.]+) s at `small`, ([\d.]+) s at `paper` in the published run\)", text)
    assert chains, "benchmarks/README.md no longer quotes the published reference chains"
    for preset, quoted in zip(("small", "paper"), chains.groups()):
        measured = sampling[preset]["reference_one_chain_measured_s"]
        assert abs(float(quoted) - measured) <= 0.05 * measured, (preset, quoted, measured)
    bidirectional = re.search(r"\(([\d ]+) s, extrapolated, in the published run\)", text)
    assert bidirectional, "benchmarks/README.md no longer quotes the published bidirectional sampling time"
    total = sampling["paper"]["ours_batched_bidirectional"]["total_s"]
    assert abs(float(bidirectional.group(1).replace(" ", "")) - total) <= 0.01 * total
    design = " ".join((REPO / "docs" / "design.md").read_text().split())
    chain = re.search(r"\(([\d.]+) s at the paper preset in docs/results.md\)", design)
    assert chain, "docs/design.md no longer quotes the published reference chain"
    measured = sampling["paper"]["reference_one_chain_measured_s"]
    assert abs(float(chain.group(1)) - measured) <= 0.05 * measured, (chain.group(1), measured)


def test_every_picture_key_logged_by_name_is_named_on_the_dashboard_page():
    """docs/dashboard.md names each picture a run logs; a key written out in the code (as the GP benchmark's
    eval/functions_with_oracle) is named there as it is, not only matched by eval/<picture>."""
    page = set(re.findall(r"`([^`]+)`", (REPO / "docs" / "dashboard.md").read_text()))
    logged = {key for folder in ("src", "domains") for path in (REPO / folder).rglob("*.py")
              for key in re.findall(r"log_(?:media|files)\(trainer, \{\"((?:val|eval)/[^\"]+)\"", path.read_text())}
    assert "eval/metrics_vs_context" in logged and "eval/functions_with_oracle" in logged
    assert sorted(logged - page) == []


@pytest.mark.parametrize("path", ["pixeltransformer.callbacks.Pictures", "pixeltransformer.evaluation.SweepEvaluation",
                                  "domains.images.evaluation.ImageEvaluation",
                                  "domains.video.evaluation.VideoEvaluation",
                                  "domains.polynomial.evaluation.GPProtocolEvaluation",
                                  "pixeltransformer.checkpointing.RunCheckpoint",
                                  "domains.images.data.ImageDataModule", "domains.video.data.VideoDataModule",
                                  "domains.sdf.data.SDFDataModule", "domains.polynomial.data.PolynomialDataModule",
                                  "domains.images.domain.ImageDomain", "domains.video.domain.VideoDomain",
                                  "domains.sdf.domain.SdfDomain", "domains.polynomial.domain.PolynomialDomain",
                                  "pixeltransformer.sets.SetSampler", "domains.polynomial.protocol.ProtocolSetSampler"])
def test_the_help_of_each_config_class_option_names_what_the_command_line_takes(path):
    """The callbacks' --help (`--trainer.callbacks.help CLASS`, `--checkpoint.*`) said "None: all", a value the command
    line refuses ("--trainer.callbacks.max_items=None": "Does not validate against any of the Union subtypes"), and
    showed no help at all for ImageEvaluation's classifier and VAE options and GPProtocolEvaluation's, whose docstring
    named several options in one entry or none; the data's `val_items`, the images' `splits`, `bins`, `num_bins` and
    the SDF domain's `input_up_axis` said None too. Each option now has its own help, naming null where it takes it."""
    import importlib
    import inspect

    from jsonargparse import ArgumentParser

    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    own = [p for p in inspect.signature(cls.__init__).parameters.values()
           if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "c")
    helps = {a.dest.removeprefix("c."): " ".join((a.help or "").split()) for a in parser._actions}
    for p in own:
        text = helps[p.name].split(" (type: ")[0]
        assert text, f"{name}.{p.name} has no help"
        assert not re.search(r"\bNone\b", text), f"{name}.{p.name}: {text}"  # the command line spells it null
        if re.search(r"\bnull\b", text):
            assert parser.parse_args([f"--c.{p.name}", "null"]).c[p.name] is None, (name, p.name)


def test_every_module_and_class_member_named_exists():
    """`kernels.native_cpu_kernels`, `SignalSpec.frame_unit`, `RowLayer.written_out`: a name the pages give as a core
    module's function or a class's member (method, property, field) is defined there, so a rename shows here."""
    modules, classes = {}, {}
    for path in sorted([*(REPO / "src").rglob("*.py"), *(REPO / "domains").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                names |= {t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                          if isinstance(t, ast.Name)}
            if isinstance(node, ast.ClassDef):
                members = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
                members |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)
                            and isinstance(n.target, ast.Name)}
                members |= {t.id for n in node.body if isinstance(n, ast.Assign) for t in n.targets
                            if isinstance(t, ast.Name)}
                classes.setdefault(node.name, set()).update(members)
        if path.parent == REPO / "src" / "pixeltransformer":
            modules[path.stem] = names
    config_paths = {"model", "data", "trainer", "checkpoint"}  # `model.net.width` is an option, not model.py's
    files = ("py", "yaml", "json", "png", "csv", "txt", "ckpt", "md", "lock", "previous", "npz", "npy")
    missing = []
    for where, text in claims():
        for owner, member in re.findall(r"`([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\(\))?`", text):
            if member in files or owner in config_paths:
                continue
            if owner in modules and member not in modules[owner]:
                missing.append((where, f"{owner}.{member}"))
            elif owner in classes and owner not in modules and member not in classes[owner]:
                missing.append((where, f"{owner}.{member}"))
    assert missing == []


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    out, in_fence = set(), False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def test_heading_anchors():
    assert heading_anchors("# Data at scale\n```\n# not a heading\n```\n## `make results`, again\n") == {
        "data-at-scale", "make-results-again"}


@pytest.mark.parametrize("page", [p for p in PAGES if p.is_file()], ids=lambda p: str(p.relative_to(REPO)))
def test_anchors_of_links_name_a_heading(page):
    """`docs/design.md#data-at-scale`, `#formats`: the anchor of a link to a page (or within one) is a heading there."""
    broken = []
    for target in link_targets(page.read_text()):
        if "#" not in target or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            continue
        path, anchor = target.split("#", 1)
        linked = (page.parent / path) if path else page
        if linked.suffix == ".md" and linked.is_file() and anchor not in heading_anchors(linked.read_text()):
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} links to anchors no heading has: {broken}"


def test_every_repository_path_named_exists():
    """src/..., domains/..., tests/..., benchmarks/... and docs/... paths the pages and config comments name (as
    `tests/cli/test_toy_domain.py`, `domains/<name>/` aside) are files or folders of the repository; docs/errors.md
    names made-up ones on purpose."""
    top = r"(?:src|domains|tests|benchmarks|docs)"
    named = {(where, m.rstrip(".,:;")) for where, text in claims() if where != "docs/errors.md"
             for m in re.findall(rf"(?<![\w./-]){top}/[\w./-]*", text)}
    named |= {(where, "src/" + m) for where, text in claims()  # `pixeltransformer/numerics.py`: the package's file
              for m in re.findall(r"(?<![\w./-])pixeltransformer/[\w/]+\.py", text)}
    assert len({p for _, p in named}) >= 10  # the scan reads the pages, which name many
    assert sorted((w, p) for w, p in named if not (REPO / p).exists()) == []


def test_design_lists_every_domain_method():
    """docs/design.md's table of `Domain` methods names each method a domain may override, and no other: a domain's
    near miss of a name is refused "by the table's names" (context_from_mask was missing)."""
    from pixeltransformer.domain import CONTRACT_METHODS

    text = (REPO / "docs" / "design.md").read_text()
    table = text.split("| `Domain` method | what it does |", 1)[1].split("\n\n", 1)[0]
    listed = {name for line in table.splitlines()[2:] for name in re.findall(r"`(\w+)", line.split(" | ")[0])}
    assert listed == set(CONTRACT_METHODS)


def test_every_dotted_import_path_named_exists():
    """`pixeltransformer.sets.grid_positions`, `pixeltransformer.evaluation.SweepEvaluation` and the class paths the
    pages and config comments name import as named."""
    import importlib

    def found(path: str) -> bool:
        parts = path.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for name in parts[cut:]:
                    obj = getattr(obj, name)
            except AttributeError:
                return False
            return True
        return False

    named = {(where, m) for where, text in claims()
             for m in re.findall(r"(?<![\w./-])(?:pixeltransformer|domains)\.[A-Za-z_][\w.]*[A-Za-z_]", text)}
    assert sorted((w, m) for w, m in named if not found(m)) == []


def test_gp_benchmark_rows_of_the_config_are_their_metrics():
    """docs/metrics/gp_tnp_published.md's rows of the CPU config (10 000 to 96 000 steps) quote the metrics.json of
    docs/metrics/gp_tnp_<kernel>[_<steps>k]/, rounded to three decimals (RBF at 96 000 steps said 1.302 for 1.30146)."""
    import json

    page = (REPO / "docs" / "metrics" / "gp_tnp_published.md").read_text()
    kernels = {"RBF": "rbf", "Matérn-5/2": "matern"}
    columns = ("target_ll", "oracle_target_ll", "target_ll_gap", "context_ll", "oracle_context_ll")
    checked = 0
    for line in page.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or cells[0] not in kernels or cells[1] != cells[0] or not cells[2].endswith("config"):
            continue
        steps = int(cells[2].split(",")[0].replace(" ", ""))
        folder = f"gp_tnp_{kernels[cells[0]]}" + ("" if steps == 10_000 else f"_{steps // 1000}k")
        gp = json.loads((REPO / "docs" / "metrics" / folder / "metrics.json").read_text())["gp_protocol"]
        for key, cell in zip(columns, cells[3:]):
            value, se = (float(x.strip("* ")) for x in cell.split("±"))
            assert (value, se) == (round(gp[key], 3), round(gp[f"{key}_se"], 3)), (folder, key, cell)
        checked += 1
    assert checked == 8


def test_the_readme_names_each_default_folder_of_a_prediction():
    """`make sample CONTEXT='[[...]]'` (the README's polynomial line) writes to <run>/predict/context/, a context
    file to its name's: the README named only `<input>`, and a user looked for a folder that was not there."""
    from pixeltransformer.predict import PredictOptions

    readme = (REPO / "README.md").read_text()
    line = next(x for x in readme.splitlines() if "`--out` (default" in x)
    assert "`<run>/predict/<input>/`" in line
    for given, shown in ((dict(context="[[-0.5, 1.2]]"), "`context/`"), (dict(context="points.json"), "`points/`")):
        assert shown.strip("`/") == PredictOptions(**given).name
        assert shown in line, f"README: the --out default does not name {shown} (--context {given['context']})"
