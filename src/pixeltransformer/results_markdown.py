"""The Markdown pieces of docs/results.md that a run's section and a benchmark record's share: a table cell's
number (:func:`fmt`), a table, the provenance lines (command, machine, date, load, wall time) and the links to the
pictures in docs/figures/, relative to the page's folder; a picture listed and missing is refused in one line.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .results_folders import ResultsError


def fmt(value: Any, whole: bool = False) -> str:
    """One table cell: four significant digits, fixed point between 1e-3 and 1e5, '–' for a missing value. ``whole``:
    a float that is a whole number below 1e5 reads as one (a setting, as a video's 8.0 frames a second: "8", not
    "8.000"), where a table's measurement keeps its digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0 or math.isinf(value):
            return str(value) if math.isinf(value) else "0"
        if whole and value.is_integer() and abs(value) < 1e5:
            return str(int(value))
        text = f"{value:.3e}"  # rounded once, then its form chosen: 0.99998 reads 1.000, 0.00099996 as 0.001 does
        exponent = int(text.split("e")[1])
        return f"{value:.{max(0, 3 - exponent)}f}" if -3 <= exponent <= 4 else text
    return str(value)


def markdown_table(header: list[str], rows: list[list[str]], align: str = "---:") -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [align] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def provenance(run: dict[str, str]) -> list[str]:
    """Command (a code block when it has several lines), machine, date, load and wall time."""
    command = run["command"].strip()
    lines = ["- Command:", "", "  ```bash", *[f"  {c}" for c in command.splitlines()], "  ```", ""] \
        if "\n" in command else [f"- Command: `{command}`"]
    lines += [f"- Machine: {run['machine']}", f"- Date: {run['date']}"]
    for key, label in (("load", "Load"), ("wall_time", "Wall time")):
        if run.get(key):
            lines.append(f"- {label}: {run[key]}")
    return lines


def figure_links(name: str, figures_dir: Path, page_dir: Path, run: dict[str, Any]) -> list[str]:
    """Pictures in docs/figures/ named <name>_*.png (or listed under "figures" in run.json)."""
    if run.get("figures"):
        paths = [figures_dir / f for f in run["figures"]]
    elif figures_dir.is_dir():
        paths = sorted(p for p in figures_dir.iterdir()
                       if p.suffix.lower() in (".png", ".jpg", ".gif", ".svg") and p.stem.startswith(name + "_"))
    else:
        paths = []
    out = []
    for p in paths:
        if not p.is_file():
            raise ResultsError(f"run.json of {name}: figure {p} not found")
        out.append(f"![{p.stem}]({relative(p, page_dir)})")
    return out


def relative(path: Path, page_dir: Path) -> str:
    return os.path.relpath(path, page_dir).replace(os.sep, "/")
