"""The measured-results folders of docs/metrics/, read and checked: a run's ``metrics.json`` (rows of numbers, one per
context size, naming its domain and dataset) and ``run.json`` (its provenance, text entries, the pictures it lists),
and any JSON file the command reads, each refused in one line (:class:`ResultsError`) naming the file and what it
must hold; a run.json's unknown keys are warned of once a process. The page, the bench records and the imports read
their files through it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from .errors import in_number
from .layout import next_command, results_command

RUN_KEYS = ("title", "command", "machine", "date", "load", "wall_time")
REQUIRED_RUN_KEYS = ("title", "command", "machine", "date")
# beside RUN_KEYS: the pictures shown under the table, and the data the model was trained on where its metrics.json
# does not say (an evaluation filed before gp_protocol recorded trained_on)
TRAINED_ON = "trained_on"  # the data the model was trained on, where it was scored on other data
OPTIONAL_RUN_KEYS = ("figures", TRAINED_ON)


class ResultsError(Exception):
    """A bad or missing results file; reported as one line."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None


def read_run_json(folder: Path) -> dict[str, str]:
    path = folder / "run.json"
    if not path.is_file():
        raise ResultsError(f"{folder}: no run.json (it must give {', '.join(RUN_KEYS)}; "
                           f"`{results_command('<run folder>')}` writes one)")
    run = read_json(path)
    missing = [k for k in REQUIRED_RUN_KEYS if not isinstance(run, dict) or not run.get(k)]
    if missing:
        raise ResultsError(f"{path}: missing {', '.join(missing)}")
    check_run_entries(run, path)
    return run


def shown(value: Any) -> str:
    """A JSON value as an error line quotes it (long ones cut)."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_run_entries(run: dict[str, Any], path: Path) -> None:
    """run.json's entries are text, and its "figures" a list of file names: a list of lines as "command" stopped the
    page with a traceback, and one name as "figures" was read letter by letter."""
    for key in RUN_KEYS + (TRAINED_ON,):
        if run.get(key) is not None and not isinstance(run[key], str):
            raise ResultsError(f"{path}: {json.dumps(key)} is {shown(run[key])}; it must be text")
    figures = run.get("figures")
    if figures is not None and not (isinstance(figures, list) and all(isinstance(f, str) for f in figures)):
        raise ResultsError(f"{path}: \"figures\" is {shown(figures)}; it must be a list of file names in docs/figures/")
    if unknown := sorted(set(run) - set(RUN_KEYS + OPTIONAL_RUN_KEYS)):  # a typo: "wall-time", "figure"
        note_once(f"{path}: unknown {in_number(len(unknown), 'key')} {', '.join(map(json.dumps, unknown))} left "
                  f"out (run.json takes {', '.join(RUN_KEYS + OPTIONAL_RUN_KEYS)})")


_WARNED: set[str] = set()  # the page's folders are read twice by an import (check_published, render): said once


def note_once(note: str) -> None:
    """``warning: <note>`` on stderr, once a process."""
    if note not in _WARNED:
        _WARNED.add(note)
        print(f"warning: {note}", file=sys.stderr, flush=True)


def read_metrics(folder: Path) -> dict[str, Any]:
    path = folder / "metrics.json"
    metrics = read_json(path)
    rows = metrics.get("rows") if isinstance(metrics, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and "num_context" in r for r in rows):
        raise ResultsError(f"{path}: needs a non-empty list \"rows\" of objects with \"num_context\"")
    missing = [key for key in ("domain", "dataset") if not isinstance(metrics.get(key), str) or not metrics[key]]
    if missing:  # its entry was titled "None / None" and filed under a section of its own
        evaluation = next_command("make eval", "pixeltransformer test")
        raise ResultsError(f"{path}: needs {' and '.join(repr(k) for k in missing)}, the names `{evaluation}` writes "
                           "(the domain and dataset evaluated)")
    first: dict[int, int] = {}  # |S| -> the row that gives it
    for i, row in enumerate(rows):  # each becomes a line of the table: |S|, then a number (or –) per column
        k = row["num_context"]
        if not isinstance(k, int) or isinstance(k, bool):
            raise ResultsError(f"{path}: rows[{i}][\"num_context\"] is {shown(k)}; it must be a whole number, the "
                               "context size |S|")
        if (j := first.setdefault(k, i)) != i:
            raise ResultsError(f"{path}: rows[{j}] and rows[{i}] both give |S| = {k}: a table has one row per "
                               "context size; keep one of them (another evaluation's rows go in a folder of their "
                               "own)")
        for key, value in row.items():
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ResultsError(f"{path}: rows[{i}][{json.dumps(key)}] (|S| = {k}) is {shown(value)}; a table "
                                   "cell must be a number or null")
            if isinstance(value, float) and math.isnan(value):  # published as "–", a value not measured
                raise ResultsError(f"{path}: rows[{i}][{json.dumps(key)}] (|S| = {k}) is NaN, which no evaluation "
                                   "writes (it writes null for a metric it could not score): evaluate the run again")
            if isinstance(value, float) and math.isinf(value):  # published as "inf" (JSON's Infinity)
                raise ResultsError(f"{path}: rows[{i}][{json.dumps(key)}] (|S| = {k}) is {shown(value)}, which no "
                                   "working evaluation scores (a perfect PSNR is capped at 100 dB, a score it cannot "
                                   "compute is null): evaluate the run again, or an earlier checkpoint of it")
    return metrics
