"""A run folder imported into docs/metrics/: the run and its evaluation located and checked before anything is
copied (an evaluation under way, killed, never made, of a checkpoint written over since; a file or folder given for
the run named with the folder to give), its folder's name, its run.json's defaults (a title, the commands that
reproduce the run, this machine), the copy itself, and the checks of docs/metrics/ the import would leave broken
(another run's folder of the same name, a kept run.json's pictures, a broken published folder). Importing reads
torch (:mod:`pixeltransformer.runs`, the checkpoint's step) only inside the functions that need it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from . import this_machine
from .errors import in_number
from .eval_folders import beside_nosweep, recover, recover_all, running_writer
from .files import copy_file, write_json
from .layout import best_checkpoint_step, built_in_domain, config_word, data_words, next_command, test_command
from .results_folders import RUN_KEYS, ResultsError, check_run_entries, read_json, read_metrics
from .results_markdown import figure_links
from .results_page import read_sections


def _load_yaml(path: Path) -> dict:
    """A YAML file's mapping; {} where it is missing or unreadable."""
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _data_args(cfg: dict) -> dict:
    """A config's ``data: init_args:`` mapping ({} where it has none)."""
    data = cfg.get("data") or {}
    return (data.get("init_args") or {}) if isinstance(data, dict) else {}


def _dig(cfg: dict, *keys: str) -> Any:
    for k in keys:
        cfg = cfg.get(k) if isinstance(cfg, dict) else None
    return cfg


def overlay_of(domain: str, config: dict, configs_dir: Path) -> str | None:
    """The dataset overlay configs/<domain>/<x>.yaml whose data settings the run's config carries, if any."""
    run_args = _data_args(config)
    best, best_n = None, 0
    for path in sorted((configs_dir / domain).glob("*.yaml")):
        args = _data_args(_load_yaml(path))
        if args and all(run_args.get(k) == v for k, v in args.items()) and len(args) > best_n:
            best, best_n = path.stem, len(args)
    return best


def evaluated_checkpoint(metrics: dict) -> Path:
    """The checkpoint an evaluation's metrics.json names (last.ckpt when it names none)."""
    return Path(metrics.get("checkpoint") or "last.ckpt")


def evaluated_file(run: Path, metrics: dict) -> Path:
    """The checkpoint an evaluation's metrics.json names, in the run folder ``run`` (where it lies now, or as a page
    names it): <run>/checkpoints/<name>, or <run>/<name> for one given outside a checkpoints/ folder, whose own folder
    the evaluation took for its run (runs.checkpoint_run)."""
    recorded = metrics.get("checkpoint")
    inside = not recorded or Path(recorded).parent.name == "checkpoints"  # none recorded: the run's last.ckpt
    name = evaluated_checkpoint(metrics).name
    return run / "checkpoints" / name if inside else run / name


def evaluated_source(eval_dir: Path, metrics: dict) -> str | None:
    """The file or folder an eval-<dataset>-<name>/ evaluation read (another of the run's own dataset: a folder of
    pictures, of meshes, a file of curves), as its folder names it (less a checkpoint's -<name>); None for eval/,
    eval-<dataset>/ and eval-<checkpoint>/."""
    folder, ckpt = eval_dir.name, evaluated_checkpoint(metrics).stem
    if ckpt != "last":
        folder = folder.removesuffix(f"-{ckpt}")
    prefix = f"eval-{metrics.get('dataset')}-"
    return folder[len(prefix):] or None if folder.startswith(prefix) else None


def eval_again_line(eval_dir: Path, ckpt: Path | str, run: Path | str | None = None) -> str:
    """The command that writes eval_dir (again) with the checkpoint ``ckpt``, for every domain: the `pixeltransformer
    test` a fit's closing line prints (:func:`~pixeltransformer.layout.test_command`), with the config that evaluation
    read: the run's config.yaml for <run>/eval, an eval-*/ folder's config_test.yaml (its data, options and data roots
    as given), the run's config.yaml where an eval-*/ folder holds none (an evaluation stopped before it wrote one),
    and eval/'s config_test.yaml for a checkpoint evaluated outside a run (its folder holds no config.yaml); followed
    by `--config <data>` unless the folder is eval-<checkpoint> of ``ckpt`` (eval-<dataset>/ held other data, whose
    options config_test.yaml alone records). ``run``: the run folder as the line names it (relative where the page's
    commands are; default eval_dir's own)."""
    run = Path(run) if run is not None else eval_dir.parent
    # a checkpoint's own folder, outside a run (no config.yaml): its evaluation's config_test.yaml, eval/ too
    own = eval_dir.name != "eval" or not (eval_dir.parent / "config.yaml").is_file()
    if own and (eval_dir / "config_test.yaml").is_file():
        return test_command(run / eval_dir.name / "config_test.yaml", ckpt)
    return test_command(run / "config.yaml", ckpt, data="<data>" if of_unknown_data(eval_dir, ckpt) else None)


def of_unknown_data(eval_dir: Path, ckpt: Path | str) -> bool:
    """Whether eval_dir is an evaluation folder of other data than the run's (eval-<dataset>/, eval-<dataset>-<name>/:
    neither eval/ nor eval-<checkpoint>/ of ``ckpt``, or of a checkpoint of its name that the run kept once, a
    best-step<N> one rotated out since) that holds no config_test.yaml, which alone records the data options that
    evaluation was given."""
    name = eval_dir.name.removeprefix("eval-")
    rotated = best_checkpoint_step(name) is not None
    return (eval_dir.name != "eval" and Path(ckpt).stem != name and not rotated
            and not (eval_dir / "config_test.yaml").is_file())


def default_command(run_dir: Path, metrics: dict, configs_dir: Path, eval_dir: Path | None = None) -> str:
    """The lines that reproduce the run: the fit commands it recorded (command.txt, one per fit, as given), else a
    `make train` line rebuilt from its config.yaml (dataset overlay and steps only; installed, a `pixeltransformer
    fit` line with the shipped configs; for a domain of the user's own, `pixeltransformer fit` with the run's
    config.yaml); then the evaluation's own command line (eval_dir/command.txt), else the
    `pixeltransformer test` that writes eval_dir (:func:`eval_again_line`; default <run>/eval; eval-<dataset>/
    holds an evaluation on other data, with its own config_test.yaml, and eval-<checkpoint>/ one of another
    checkpoint than last.ckpt, the one metrics.json names). The run's and the checkpoint's paths are under the run
    root the fit was given (config.yaml's run_root; runs/ by default)."""
    domain = metrics.get("domain", run_dir.parent.name)
    eval_dir = eval_dir or run_dir / "eval"
    config = _load_yaml(run_dir / "config.yaml") or _load_yaml(eval_dir / "config_test.yaml")
    data = overlay_of(domain, config, configs_dir)
    from .runs import COMMAND_FILE  # here: importing runs reads torch, which the rest of this module does without

    run_root = _dig(config, "run_root") or "runs"  # the fit's --run_root: its run folder is <run_root>/<domain>/<run>
    run = Path(f"{run_root}/{domain}/{run_dir.name}")
    ckpt = evaluated_file(run, metrics)
    # the evaluation's own command line, as given (its options: fewer items, other levels), where it recorded one
    evaluated = eval_dir / COMMAND_FILE
    eval_line = evaluated.read_text().strip() if evaluated.is_file() else ""
    eval_line = eval_line or eval_again_line(eval_dir, ckpt, run)
    recorded = run_dir / COMMAND_FILE
    if recorded.is_file() and recorded.read_text().strip():
        return f"{recorded.read_text().strip()}\n{eval_line}"
    args = [f"--run_name {run_dir.name}"] + ([f"--run_root {run_root}"] if run_root != "runs" else [])
    if not built_in_domain(domain):  # a domain of the user's own: no config of its own ships, make knows no DOMAIN=
        return f"pixeltransformer fit {config_word(run / 'config.yaml')} {' '.join(args)}\n{eval_line}"
    steps = _dig(config, "trainer", "max_steps")
    default_steps = None
    for path in [configs_dir / f"{domain}.yaml"] + ([configs_dir / domain / f"{data}.yaml"] if data else []):
        default_steps = _dig(_load_yaml(path), "trainer", "max_steps") or default_steps
    if steps is not None and default_steps is not None and steps != default_steps:
        args.append(f"--trainer.max_steps={steps}")
    words = data_words(domain) + (f" {data_words(domain, data)}" if data else "")  # installed: the shipped configs
    return next_command(f"make train {words} ARGS=\"{' '.join(args)}\"",
                        f"pixeltransformer fit {words} {' '.join(args)}") + f"\n{eval_line}"


def default_title(run_dir: Path, metrics: dict, source: str | None = None) -> str:
    """"domain / dataset: run <name>", with the file or folder evaluated where it is not the run's own (source,
    :func:`evaluated_source`), the data it was trained on when that is other data (read from the run's config.yaml)
    and the checkpoint when it is not last.ckpt."""
    dataset = metrics.get("dataset")
    trained = _dig(_load_yaml(run_dir / "config.yaml"), "data", "init_args", "dataset")
    ckpt = evaluated_checkpoint(metrics).stem
    return (f"{metrics.get('domain')} / {dataset}{f' ({source})' if source else ''}: run {run_dir.name}"
            + (f", trained on {trained}" if trained and trained != dataset else "")
            + (f", checkpoint {ckpt}" if ckpt != "last" else ""))


def check_current(run_dir: Path, eval_dir: Path, metrics: dict) -> None:
    """Refuse an evaluation of a checkpoint that has been written over since (a resumed run's last.ckpt): its
    numbers are not the run's any more, and the error names the command that writes eval_dir again
    (:func:`eval_again_line`). Evaluations that did not record the step pass."""
    step = metrics.get("checkpoint_step")
    ckpt = evaluated_file(run_dir, metrics)  # a checkpoint given outside checkpoints/: in the run folder itself
    if step is None or not ckpt.is_file():
        return
    from .loading import load_checkpoint  # here: torch, which the rest of this module does without

    now = load_checkpoint(ckpt, mmap=True).get("global_step")
    if now is not None and now != step:
        again = eval_again_line(eval_dir, ckpt)
        raise ResultsError(f"{eval_dir / 'metrics.json'} is of {ckpt.name} at step {step}, but {ckpt.name} is now at "
                           f"step {now}: evaluate it again ({again})")


def locate_run(run_dir: Path) -> tuple[Path, Path, dict]:
    """The run folder, its evaluation folder and that evaluation's metrics, checked, before anything is copied:
    ``run_dir`` is a run folder or one of its evaluation folders (<run>/eval-<dataset>: an evaluation on other data
    than the run's own)."""
    # what an evaluation that was killed (kill -9, SLURM, out of memory) left: the earlier one back, or no partial one
    # (a killed evaluation of <run>/eval-<name> leaves no such folder until it is put back)
    named = recover(run_dir) if run_dir.name.startswith("eval") else None  # <run>/eval-<name> itself
    for folder, note in recover_all(run_dir) + ([(run_dir, named)] if named else []):
        print(f"[results] {folder}: {note}")
    # an evaluation under way: its folder holds part of its files, or nothing while the earlier one is set aside
    evaluating = run_dir if run_dir.name.startswith("eval") else run_dir / "eval"
    if (busy := running_writer(evaluating)) is not None:  # "... is being replaced by ...: wait for it to end"
        raise ResultsError(f"{busy}, then import the run")
    if not run_dir.exists():
        raise ResultsError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        run = run_dir.parent.parent if run_dir.parent.name == "checkpoints" or (
            run_dir.parent.name.startswith("eval")) else run_dir.parent
        raise ResultsError(f"{run_dir}: a file, not a run folder: {give_run(run)}")
    eval_dir = run_dir / "eval"
    if run_dir.name.startswith("eval") and (run_dir / "metrics.json").is_file():
        eval_dir, run_dir = run_dir, run_dir.parent
    src = eval_dir / "metrics.json"
    if not src.is_file():
        raise ResultsError(not_evaluated(run_dir))
    metrics = read_metrics(src.parent)
    check_current(run_dir, eval_dir, metrics)
    return run_dir, eval_dir, metrics


def give_run(run: Path) -> str:
    """The remedy of a run's file or folder given for the run: the run folder, or an evaluation folder of it."""
    return f"give the run folder ({run}) or one of its evaluation folders (<run>/eval-<name>)"


def not_evaluated(run_dir: Path) -> str:
    """Why run_dir has no eval/metrics.json to import: a run evaluated at another checkpoint only (its eval-*/
    folders to give), a run never evaluated (the command that evaluates its checkpoint, :func:`eval_again_line`; none
    where its fit stopped before its first checkpoint), an evaluation folder of the run whose evaluation did not end
    (or a validate's, with no metrics), or a folder that is no run folder (its checkpoints/ or another of its folders,
    a domain's folder of runs: the runs that are there; any other folder)."""
    if run_dir.name == "checkpoints":
        return f"{run_dir}: a run's checkpoints, not a run folder: {give_run(run_dir.parent)}"
    # here: importing runs reads torch, as default_command says
    from .runs import checkpoint_folder, is_run_folder, kept_checkpoint, kept_none_by_config, running_fit, train_again

    runs = sorted(p.name for p in run_dir.iterdir() if is_run_folder(p))
    if runs and not is_run_folder(run_dir):  # <run_root>/<domain>
        shown = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
        return f"{run_dir}: a folder of runs, not a run folder: give one of its runs ({shown}), as {run_dir / runs[0]}"
    if any(run_dir.glob("*/*/checkpoints")):  # <run_root>
        return f"{run_dir}: a folder of domains' runs, not a run folder: give one run, as {run_dir}/<domain>/<run>"
    # an evaluation folder of the run (<run>/eval, eval-<name>) whose evaluation did not end, or a validate's
    if run_dir.name.startswith("eval") and is_run_folder(run_dir.parent):
        # a test without a sweep's folder (<folder>-nosweep) stands beside the evaluation folder of its checkpoint
        folder = beside_nosweep(run_dir)
        nosweep = folder != run_dir
        if nosweep and (folder / "metrics.json").is_file():
            return (f"{run_dir}: a test without a SweepEvaluation ended there, which writes no metrics.json: give "
                    f"{folder}, the evaluation beside it")
        # eval-<checkpoint>/ (eval-best-step000700): that checkpoint, where it is there (eval/: last.ckpt)
        stem = "last" if nosweep and folder.name == "eval" else folder.name.removeprefix("eval-")
        named = checkpoint_folder(run_dir.parent) / f"{stem}.ckpt"
        ckpt = named if stem != "eval" and named.is_file() else run_dir.parent / "checkpoints" / "<ckpt>"
        # the config a test without a sweep recorded holds its data options (eval-<dataset>-nosweep/)
        own = nosweep and folder.name != "eval" and (run_dir / "config_test.yaml").is_file()
        source = run_dir if own else folder
        unknown = of_unknown_data(source, ckpt)  # eval-<dataset>/ that did not end: its data options are not here
        given = "the test that wrote it again, with the data options it was given: " if unknown else ""
        again = f"run {given}`{eval_again_line(source, ckpt)}`"
        if nosweep:
            return (f"{run_dir}: a test without a SweepEvaluation ended there, which writes no metrics.json ({again} "
                    "with a SweepEvaluation among trainer.callbacks)")
        return f"{run_dir}: no metrics.json, no evaluation ended there ({again})"
    # a folder of a run (its pictures/, predict/<input>/): it was told to evaluate <run>/pictures/checkpoints/last.ckpt
    if not is_run_folder(run_dir) and (run := next((p for p in run_dir.parents[:2] if is_run_folder(p)), None)):
        return f"{run_dir}: a folder inside the run {run}, not a run folder: {give_run(run)}"
    # evaluated at another checkpoint only (the fit's closing line offers its best one): <run>/eval-<checkpoint>/,
    # to give whether or not its checkpoints are still there
    evaluated = sorted(str(p) for p in run_dir.glob("eval-*") if (p / "metrics.json").is_file())
    if not evaluated and not is_run_folder(run_dir):  # an empty folder, a docs/metrics/ one
        return (f"{run_dir}: not a run folder (a fit writes config.yaml and checkpoints/ in its run folder): give "
                f"one, as <run_root>/<domain>/<run>, or one of its evaluation folders (<run>/eval-<name>)")
    folder = checkpoint_folder(run_dir)  # checkpoints/, or the checkpoint.dirpath the run's config.yaml names
    kept = kept_checkpoint(folder)
    again = f"run `{eval_again_line(run_dir / 'eval', kept)}`" if kept else ""
    if kept and kept.name != "last.ckpt":  # its evaluation goes to eval-<checkpoint>/, the folder to give then
        again += f", then give {run_dir / f'eval-{kept.stem}'}"
    if evaluated:
        shown = " or ".join(evaluated[:3]) + (", ..." if len(evaluated) > 3 else "")
        return (f"{run_dir}: no eval/metrics.json (the evaluation of last.ckpt): give its evaluation "
                f"{in_number(len(evaluated), 'folder')} {shown}" + (f", or {again}" if again else ""))
    if not kept:
        why = kept_none_by_config(run_dir)  # fitted with checkpoints off: it ended without one
        if why is None and (who := running_fit(run_dir)) is not None:  # not stopped: before its first save
            return (f"{run_dir}: no eval/metrics.json, and no checkpoint to evaluate yet: its fit ({who}) is still "
                    "running: evaluate it after its first save")
        named = "checkpoints/" if folder == run_dir / "checkpoints" else f"{folder}/"
        why = why or f"its fit stopped before it wrote {named}last.ckpt"  # killed, or stopped waiting for other nodes
        return f"{run_dir}: no eval/metrics.json, and no checkpoint to evaluate: {why}; {train_again(run_dir)}"
    return f"{run_dir}: no eval/metrics.json ({again})"


def import_run(run_dir: Path, metrics_dir: Path, configs_dir: Path, name: str | None = None,
               overrides: dict[str, str] | None = None, figures_dir: Path | None = None) -> Path:
    """Copy <run>/eval/metrics.json into metrics_dir/<name>/ and write its run.json: the overrides first, then
    an existing run.json's entries, then defaults from the run folder. With figures_dir, the run's
    eval/metrics_vs_context.png is copied to figures_dir/<name>_metrics.png. ``run_dir`` may also name one of the
    run's evaluation folders (<run>/eval-<dataset>: an evaluation on other data than the run's own)."""
    return import_located(locate_run(run_dir), metrics_dir, configs_dir, name, overrides, figures_dir,
                          copy_figure=figures_dir is not None)


def import_name(located: tuple[Path, Path, dict]) -> str:
    """The docs/metrics folder name of a located run (:func:`locate_run`): <domain>-<dataset>-<run>, then -<name> of
    another folder or file of its dataset, then -<checkpoint> for another checkpoint than last.ckpt."""
    run_dir, eval_dir, metrics = located
    ckpt = evaluated_checkpoint(metrics).stem  # another checkpoint's evaluation: its own entry
    source = evaluated_source(eval_dir, metrics)  # another folder or file of the same dataset: its own entry too
    return (f"{metrics.get('domain', 'run')}-{metrics.get('dataset', 'data')}-{run_dir.name}"
            + ("" if source is None else f"-{source}") + ("" if ckpt == "last" else f"-{ckpt}"))


EVALUATION_KEYS = tuple(k for k in RUN_KEYS if k != "title")  # run.json's entries that describe one evaluation


def import_located(located: tuple[Path, Path, dict], metrics_dir: Path, configs_dir: Path, name: str | None = None,
                   overrides: dict[str, str] | None = None, figures_dir: Path | None = None,
                   copy_figure: bool = False) -> Path:
    """import_run of a run :func:`locate_run` has found and checked: (run folder, evaluation folder, metrics). The
    evaluation's curve goes to figures_dir/<name>_metrics.png with copy_figure, and over one there of the evaluation
    published before (a new evaluation's numbers under the old curve); where it drew none, the printed line says the
    old curve is left there."""
    run_dir, eval_dir, metrics = located
    src = eval_dir / "metrics.json"
    source = evaluated_source(eval_dir, metrics)
    name = name or import_name(located)
    dest = metrics_dir / name
    old = read_json(dest / "run.json") if (dest / "run.json").is_file() else {}
    published = dest / "metrics.json"
    curve = eval_dir / "metrics_vs_context.png"
    figure = figures_dir / f"{name}_metrics.png" if figures_dir is not None else None
    if old and published.is_file() and published.read_bytes() != src.read_bytes():
        # another evaluation than the published one (evaluated again since): the entries that describe how and where
        # that one ran are not this one's, nor is the curve of its numbers; the title and pictures, written for the
        # run, stay
        old = {k: v for k, v in old.items() if k not in EVALUATION_KEYS}
        stale = figure is not None and figure.is_file()
        copy_figure = copy_figure or stale
        curves = ("" if not stale else f"; {figure} replaced by its {curve.name}" if curve.is_file() else
                  f"; {figure} is still the earlier evaluation's curve ({eval_dir} has no {curve.name}): delete it, "
                  f"or import it again with --copy-figure once {eval_dir} holds {curve.name}")
        print(f"[results] {dest}: a new evaluation since its last import: run.json's {', '.join(EVALUATION_KEYS)} "
              "are this one's (--command, --machine, --date, else the run's command, this machine and the "
              f"evaluation's date; load and wall time blank unless --load / --wall-time are given){curves}")
    mtime = dt.datetime.fromtimestamp(src.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d")
    defaults = {"title": default_title(run_dir, metrics, source),
                "command": default_command(run_dir, metrics, configs_dir, eval_dir), "machine": this_machine(),
                "date": mtime, "load": "", "wall_time": ""}
    run = {k: (overrides or {}).get(k) or old.get(k) or defaults[k] for k in RUN_KEYS}
    run |= {k: v for k, v in old.items() if k not in run}  # its "figures", and keys a render warns of, stay
    copy_file(src, dest / "metrics.json")  # each file whole: a kill in the middle leaves the one before
    write_json(dest / "run.json", run)
    if figure is not None and copy_figure and curve.is_file():
        copy_file(curve, figure)
    return dest


def check_kept_figures(dest: Path, figures_dir: Path, page_dir: Path) -> None:
    """The "figures" a re-import keeps of its run.json, read as the page will before anything is copied: a picture
    listed there and missing is named while docs/ is as it was."""
    old = read_json(dest / "run.json") if (dest / "run.json").is_file() else {}
    if isinstance(old, dict) and "figures" in old:
        check_run_entries({"figures": old["figures"]}, dest / "run.json")
        figure_links(dest.name, figures_dir, page_dir, old)


def check_same_run(dest: Path, located: tuple[Path, Path, dict]) -> None:
    """Refuse to import a run into a docs/metrics folder that holds another run's evaluation (a run of the same
    name under another run root, another machine's): its run.json's title, command and machine would be kept for
    the new numbers. A re-import of the same evaluation (its checkpoint path) keeps them, as documented."""
    published = read_json(dest / "metrics.json") if (dest / "metrics.json").is_file() else {}
    old = published.get("checkpoint") if isinstance(published, dict) else None
    new = located[2].get("checkpoint")
    if old and new and old != new and Path(old).resolve() != Path(new).resolve():
        raise ResultsError(f"{dest} holds the evaluation of a checkpoint at another path, {old}, not {new} (another "
                           f"run of this name, or this run moved): import this one with --name <another folder name>, "
                           f"or delete {dest} first to replace it")


def check_published(metrics_dir: Path, replaced: set[str], figures_dir: Path, page_dir: Path) -> None:
    """Read every folder of metrics_dir that this command does not replace, as the page will: one that is broken (an
    import that stopped between its metrics.json and its run.json, a hand edit) is named before anything is copied,
    not after, when docs/metrics would hold the new entries and docs/results.md not."""
    read_sections(metrics_dir, figures_dir, page_dir, skip=replaced)
