"""`make results`: write docs/results.md from the measured-results folders in docs/metrics/.

Each ``docs/metrics/<name>/`` holds ``metrics.json`` (a copy of a run's ``eval/metrics.json``) and ``run.json``
(``{"title", "command", "machine", "date", "load", "wall_time"}``); ``docs/metrics/bench/bench.json`` is a copy of
``bench-results/bench.json``, ``docs/metrics/bench-cuda/bench.json`` of ``bench-results/bench-cuda.json``.
``--run <run folder>`` first imports that run's ``eval/metrics.json`` into ``docs/metrics/<domain>-<dataset>-<run>/``;
``--bench <bench.json>`` imports a benchmark result. The page depends only on these files (no clock, no machine
state), so regenerating it without new results changes nothing.

This module is the command: its options, and every run and bench record checked before the first is copied.
The folders are read by results_folders, the page drawn by results_page (the benchmark records' sections by
results_bench) and runs imported by results_import.

    python -m pixeltransformer.results                                   # regenerate docs/results.md
    python -m pixeltransformer.results --run runs/images/x --title "Digits, default config" --load "idle"
    python -m pixeltransformer.results --bench bench-results/bench.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import layout
from .errors import OneLineParser, counted, ctrl_c_main
from .files import copy_file, user_path, writable_problem, write_json, write_text
from .layout import folder_name_fault
from .results_bench import BENCH_FOLDERS, bench_device, check_bench
from .results_folders import RUN_KEYS, ResultsError, read_json
from .results_import import (check_kept_figures, check_published, check_same_run, import_located, import_name,
                             locate_run)
from .results_page import render


METRICS = Path("docs/metrics")  # the measured results, in the repository's root


def main(argv: list[str] | None = None) -> str:
    # installed, no Makefile: the module is the command (layout.results_command)
    p = OneLineParser(prog="python -m pixeltransformer.results", description=(
        "Write docs/results.md from the measured-results folders in docs/metrics/"
        f"{layout.next_command(' (the command of `make results`)')}."))
    p.add_argument("--run", action="append", type=Path, default=[], metavar="RUN_FOLDER",
                   help="import <run>/eval/metrics.json first (repeatable)")
    p.add_argument("--runs", default=None, metavar="'RUN_FOLDER ...'",
                   help=f"run folders to import as one text{layout.next_command(' (`make results RUNS=...`)')}: the "
                        "whole of it when it names a folder, else split as a shell splits words (a path with spaces "
                        "in quotes)")
    p.add_argument("--bench", type=Path, default=None, help="import a bench record (bench-results/bench.json, or "
                   "bench-cuda.json of a GPU run) first; "
                   "it replaces the published one, whose run.json (provenance) goes with it")
    p.add_argument("--any-mode", action="store_true", help="import a --quick or --smoke bench.json, or one of fewer "
                   "benchmarks or other presets, too (the page publishes full runs)")
    p.add_argument("--name", default=None, help="folder name under docs/metrics for a single --run "
                                                "(default <domain>-<dataset>-<run>)")
    for key in RUN_KEYS:
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, default=None,
                       help=f"run.json's {key!r} for the imported run(s)")
    p.add_argument("--copy-figure", action="store_true",
                   help="copy an imported run's eval/metrics_vs_context.png to <figures-dir>/<name>_metrics.png; a "
                        "new evaluation of a published run replaces its curve there without it")
    # a trial import leaves the repository's page alone: copies of docs/metrics and docs/figures, a page elsewhere
    p.add_argument("--metrics-dir", type=Path, default=None,
                   help="the measured-results folders imported into and read (default docs/metrics)")
    p.add_argument("--figures-dir", type=Path, default=None,
                   help="the pictures shown under the tables, where imported curves go: the folder figures/ beside "
                        "--metrics-dir unless given (default docs/figures)")
    p.add_argument("--configs-dir", type=Path, default=None,
                   help="the configs an imported run's fit command is rebuilt from where it recorded none, the "
                        "shipped ones where installed (default configs)")
    p.add_argument("--out", type=Path, default=None,
                   help="the page written, its links relative to its folder: results.md beside --metrics-dir unless "
                        "given (default docs/results.md)")
    a = p.parse_args(argv)
    a.metrics_given, a.metrics_dir = a.metrics_dir is not None, a.metrics_dir or METRICS
    # a trial import's curves and page go beside its metrics, never into the repository's docs/figures or page
    a.figures_dir = a.figures_dir or a.metrics_dir.parent / "figures"
    a.out = a.out or a.metrics_dir.parent / "results.md"
    a.configs_dir = a.configs_dir or layout.CONFIGS  # read at the call: the tests move it
    a.run += split_runs(a.runs) if a.runs is not None else []
    if a.name and len(a.run) != 1:
        p.error("--name needs exactly one --run")
    if fault := check_paths(a):
        p.error(fault)
    overrides = {k: getattr(a, k) for k in RUN_KEYS if getattr(a, k)}
    # every run and the bench record are checked before the first is copied: a bad one leaves docs/ as it was
    located = [locate_run(run_dir) for run_dir in a.run]
    # two runs of one name (runs/images/x, /scratch/runs/images/x) go to one folder: the second replaced the first
    named: dict[str, Path] = {}
    names = [a.name or import_name(found) for found in located]  # each run's folder under docs/metrics
    for found, name in zip(located, names):
        if named.get(name, found[1]).resolve() != found[1].resolve():
            raise ResultsError(f"{named[name]} and {found[1]} would both be imported as {a.metrics_dir / name}: "
                               "import one of them on its own, with --name <another folder name>")
        named[name] = found[1]
        check_same_run(a.metrics_dir / name, found)
        check_kept_figures(a.metrics_dir / name, a.figures_dir, a.out.parent)
        if a.copy_figure and not (found[1] / "metrics_vs_context.png").is_file():  # the page had none, without a word
            raise ResultsError(f"--copy-figure: {found[1]} holds no metrics_vs_context.png to copy: import it without "
                               "--copy-figure, or evaluate the run again to draw its curve")
    bench_folder = None  # the record's folder in docs/metrics: the CPU's or the GPU's
    if a.bench is not None:
        bench = read_json(a.bench)
        check_bench(bench, a.bench, a.any_mode)
        bench_folder = BENCH_FOLDERS[bench_device(bench)]
    replaced = set(named) | ({bench_folder} if bench_folder else set())
    check_published(a.metrics_dir, replaced, a.figures_dir, a.out.parent)
    for run_dir, found, name in zip(a.run, located, names):
        dest = import_located(found, a.metrics_dir, a.configs_dir, name, overrides, a.figures_dir, a.copy_figure)
        print(f"[results] imported {run_dir} -> {dest}")
    if bench_folder is not None:
        dest = a.metrics_dir / bench_folder
        copy_file(a.bench, dest / "bench.json")
        # the replaced run's provenance would describe the new one wrongly: bench.json's own is used, and the flags
        (dest / "run.json").unlink(missing_ok=True)
        if overrides:
            write_json(dest / "run.json", overrides)
        print(f"[results] imported {a.bench} -> {dest / 'bench.json'}")
        # its picture (benchmarks/figure.py writes it beside the record); the replaced record's would be stale
        picture, published = a.bench.with_suffix(".png"), a.figures_dir / f"{bench_folder}_summary.png"
        if picture.is_file():
            copy_file(picture, published)
            print(f"[results] imported {picture} -> {published}")
        elif published.exists():
            published.unlink()
            print(f"[results] removed {published}: {a.bench} has no picture beside it "
                  f"(python -m benchmarks.figure {a.bench} draws one)")
    page = render(a.metrics_dir, a.figures_dir, a.out.parent)
    write_text(a.out, page)  # whole: a kill or a full disk in the middle leaves the page before
    print(f"[results] wrote {a.out}")
    uncopied = [eval_dir for (_, eval_dir, _), name in zip(located, names) if not a.copy_figure
                and (eval_dir / "metrics_vs_context.png").is_file()
                and not (a.figures_dir / f"{name}_metrics.png").is_file()]  # their curves, copied with --copy-figure
    if note := pictures_left_out(a.out, a.metrics_dir, a.figures_dir, uncopied):
        print(note)
    return page


def check_paths(a: argparse.Namespace) -> str | None:
    """Why the options' paths cannot take what the command writes, checked before a run is imported or the page
    written; None where they can. A --name of a path ('..', '.', 'a/b') put the run's folder outside docs/metrics, in
    its root or below another folder there (every later page failed on it); a --metrics-dir that is not there, with
    nothing to import into it, wrote an empty page over docs/results.md; an --out that is a folder, or a file where a
    folder goes, failed on the system's error after the import. Run outside the repository's root without
    --metrics-dir, an import made docs/metrics and a page of that one run there."""
    if a.name and (fault := folder_name_fault(a.name)):
        cause, remedy = fault
        return f"--name {a.name!r} {cause}: {remedy or 'the run is imported into <metrics-dir>/<name>'}"
    imports = bool(a.run or a.bench)
    if not a.metrics_dir.exists() and not a.metrics_given:  # run in another folder than the root: an import made one
        return (f"{METRICS}: no such folder here (the measured results the page is written from): run it in the "
                "repository's root, or give --metrics-dir")
    if not imports and not a.metrics_dir.exists():
        return (f"--metrics-dir {a.metrics_dir}: no such folder (the page would be empty: give the folder of the "
                f"measured results, {METRICS})")
    if a.out.is_dir():
        return f"--out {a.out}: a folder, not the page's file: give a file, as {a.out / 'results.md'}"
    if not imports and not a.metrics_dir.is_dir():  # only read
        return f"--metrics-dir {a.metrics_dir}: {a.metrics_dir} is a file, not a folder"
    # the places written, checked as a run folder's: the folder it stops at, and why it cannot be written
    written = [("--metrics-dir", a.metrics_dir, a.metrics_dir)] if imports else []
    written += [("--out", a.out, a.out.parent)]
    written += [("--figures-dir", a.figures_dir, a.figures_dir)] if a.copy_figure or a.bench else []
    for option, given, folder in written:
        if problem := writable_problem(folder, f"{option} {given}", f"; give another {option}",
                                       file=a.out if option == "--out" else None):
            return problem
    return None


PUBLISHED_FIGURES = Path("docs/figures")  # the repository's pictures, beside docs/metrics


def pictures_left_out(out: Path, metrics_dir: Path, figures_dir: Path, uncopied: list[Path]) -> str | None:
    """The line that says which pictures a trial import's page (a figures folder other than docs/figures) shows
    none of, where they are and how to get them: the published folders' pictures in docs/figures that figures_dir
    lacks (a trial that copied docs/metrics and not docs/figures), and the curves of the imported evaluation folders
    ``uncopied`` (their metrics_vs_context.png, copied with --copy-figure only). None where it lacks none; a page
    that said nothing of them looked complete, without a picture."""
    if figures_dir.resolve() == PUBLISHED_FIGURES.resolve():
        return None

    def them(items: list) -> str:  # the pronoun for what a remedy shows
        return "it" if len(items) == 1 else "them"

    names = [p.name for p in metrics_dir.iterdir() if p.is_dir()] if metrics_dir.is_dir() else []
    published = sorted(p.name for p in PUBLISHED_FIGURES.iterdir() if p.is_file()
                       and not (figures_dir / p.name).exists()
                       and any(p.name.startswith(f"{n}_") for n in names)) if PUBLISHED_FIGURES.is_dir() else []
    missing = []
    if published:
        missing.append(f"the published runs' {counted(len(published), 'picture')}, in {PUBLISHED_FIGURES}/ (to show "
                       f"{them(published)}: cp {PUBLISHED_FIGURES}/* {shlex.quote(str(figures_dir))}/)")
    if uncopied:
        curves = ", ".join(str(folder / "metrics_vs_context.png") for folder in uncopied)
        missing.append(f"the imported {'curve' if len(uncopied) == 1 else 'curves'}, {curves} (to show "
                       f"{them(uncopied)}: import with --copy-figure)")
    return f"[results] {out} shows none of these pictures: {'; '.join(missing)}" if missing else None


QUOTED_RUNS = "RUNS=\"'my runs/images/x' runs/images/y\""


def split_runs(text: str) -> list[Path]:
    """The run folders of `make results RUNS=<text>`: the whole text when it names a file or folder (a path with
    spaces, unquoted), else its words as a shell splits them (a path with spaces or quotes given in quotes), each
    with a leading ~ read as the home folder. Split into several, each must exist: a path with spaces given
    unquoted among others is named with the way to quote it."""
    whole = user_path(text.strip())
    if text.strip() and whole.exists():
        return [whole]
    try:
        words = shlex.split(text)
    except ValueError as err:  # an unbalanced quote: "runs/images/it's runs/images/y"
        raise ResultsError(f"RUNS={text}: {err} (quote a path that holds spaces or quotes, as {QUOTED_RUNS})") from None
    runs = [user_path(w) for w in words]
    missing = [r for r in runs if not r.exists()]
    if len(runs) > 1 and missing:
        raise ResultsError(f"{missing[0]}: no such run folder (RUNS= is read as {len(runs)} run folders, split at its "
                           f"spaces: quote a path that holds spaces, as {QUOTED_RUNS})")
    return runs


@ctrl_c_main("each file is written whole; the [results] lines above name the runs imported")
def cli(argv: list[str] | None = None) -> None:
    """main() with a bad file reported as one line (`error: ...`) and exit status 2."""
    try:
        main(argv)
    except ResultsError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
