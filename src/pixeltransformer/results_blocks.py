"""An object of metrics.json whose numbers come with standard errors (``x`` beside ``x_se``), as a benchmark's block
of means over batches: a small table in its run's section (:func:`block_lines`), a row of its domain's summary
(:func:`summary_cells`), refused in one line where malformed (:func:`check_block`). Its keys read as a run table's
(results_keys): a row per method, the model's first, a column per metric the model has; ``<method>_<metric>_gap`` is
that method's gap to the model, paired over the same draws, and ``<metric>_gap`` the reference's (``oracle_``, the
data's exact predictive). Its other entries follow in one line (:func:`entries`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from .results_folders import TRAINED_ON, ResultsError, shown
from .results_keys import BASELINE_ORDER, split_key
from .results_markdown import markdown_table

SE, GAP = "_se", "_gap"
REFERENCE = "oracle"


def is_block(value: Any) -> bool:
    return isinstance(value, dict) and any(str(k).endswith(SE) for k in value)


def _measured(block: dict[str, Any]) -> list[str]:
    return [k[:-len(SE)] for k in block if k.endswith(SE)]


def _metric(key: str) -> str:
    metric = split_key(key)[0]
    return metric[:-len(GAP)] if metric.endswith(GAP) else metric


def check_block(block: dict[str, Any], where: str) -> None:
    """Each ``x_se`` beside its ``x``, both numbers or null, and every entry of a measured metric with its ``_se``;
    ``where``: "<metrics.json>: <key>"."""
    measured = _measured(block)
    metrics = {_metric(k) for k in measured}
    for key, value in block.items():
        if key.endswith(SE) and key[:-len(SE)] not in block:
            raise ResultsError(f"{where}[{json.dumps(key)}] is the standard error of "
                               f"{json.dumps(key[:-len(SE)])}, which is missing")
        if key.endswith(SE) or key in measured:
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ResultsError(f"{where}[{json.dumps(key)}] is {shown(value)}; a measurement must be a number "
                                   "or null")
            if isinstance(value, float) and not math.isfinite(value):  # published as "nan ± 0.029" or "inf"
                raise ResultsError(f"{where}[{json.dumps(key)}] is {shown(value)}, which no evaluation writes (it "
                                   "writes null for a number it could not measure): evaluate the run again")
        elif _metric(key) in metrics:
            raise ResultsError(f"{where}[{json.dumps(key)}] has no standard error {json.dumps(key + SE)} beside it")


def mean_se(block: dict[str, Any], key: str) -> str:
    """"mean ± se" to 3 decimals; – where not measured (a method that has no such number)."""
    value, se = block.get(key), block.get(key + SE)
    if value is None:
        return "–"
    return f"{value:.3f}" if se is None else f"{value:.3f} ± {se:.3f}"


def _layout(block: dict[str, Any]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """(rows, columns, (row, column) -> key): the methods with a number, the model's metrics then their gaps."""
    cells: dict[tuple[str, str], str] = {}
    for key in _measured(block):
        metric, method = split_key(key)
        cells[(REFERENCE if metric.endswith(GAP) and method == "model" else method, metric)] = key
    plain = [m for (method, m) in cells if method == "model" and not m.endswith(GAP)]
    cols = plain + [m + GAP for m in plain if any(c == m + GAP for _, c in cells)]
    methods = ["model"] + [b for b in BASELINE_ORDER if b != "model"]
    methods += sorted({r for r, _ in cells} - set(methods))
    rows = [r for r in methods if any(block.get(cells.get((r, c), "")) is not None for c in cols)]
    return rows, cols, cells


def setting(value: Any) -> str:
    """A value of a block's other entries: text as it is, a list in brackets, an object in parentheses."""
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}: {setting(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(setting(v) for v in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)


def entries(block: dict[str, Any], left_out: set[str] = frozenset()) -> str:
    """The entries not in ``left_out`` as "key: value; ...", a measurement as "mean ± se", nulls left out."""
    measured = _measured(block)
    return "; ".join(f"{k}: {mean_se(block, k) if k in measured else setting(v)}" for k, v in block.items()
                     if k not in left_out and v is not None and not (k.endswith(SE) and k[:-len(SE)] in block))


def has_table(block: dict[str, Any]) -> bool:
    """Whether the model has a measured metric: a table's first row."""
    return bool(_layout(block)[1])


def block_lines(name: str, block: dict[str, Any]) -> list[str]:
    """The block's table, then its other entries in one line (only that line where the model has no measurement)."""
    rows, cols, cells = _layout(block)
    if not cols:
        return [f"- `{name}`: {entries(block)}"]
    header = ["method"] + [f"`{c[:-len(GAP)]}` gap to the model (paired)" if c.endswith(GAP) else f"`{c}`"
                           for c in cols]
    table = markdown_table(header, [[r] + [mean_se(block, cells[(r, c)]) if (r, c) in cells else "–" for c in cols]
                                    for r in rows])
    rest = entries(block, {cells[(r, c)] for r in rows for c in cols if (r, c) in cells})  # those the table shows
    return [f"`{name}` (mean ± standard error):", ""] + table + ([""] + [f"- `{name}`, the rest: {rest}"] if rest
                                                                    else [])


def shared_settings(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The settings (entries without a standard error) every block gives with one value, but the data scored and
    trained on (the summary's columns): the protocol a summary's rows share."""
    measured = {k for b in blocks for x in _measured(b) for k in (x, x + SE)}
    return {k: v for k, v in blocks[0].items() if k not in measured | {"dataset", TRAINED_ON} and v is not None
            and all(k in b and b[k] == v for b in blocks[1:])}


def summary_header(block: dict[str, Any]) -> list[str]:
    first = _layout(block)[1][0]
    return ["section", "data", "trained on", f"`{first}`", REFERENCE, "gap (paired)"]


def summary_cells(block: dict[str, Any], trained_on: str | None = None) -> list[str]:
    """trained on (the block's, else ``trained_on``: its run.json's), the model's first metric ± se, the
    reference's, and its gap ± se (the header's last four)."""
    _, cols, cells = _layout(block)
    first = cols[0]
    reference = block.get(cells.get((REFERENCE, first), ""))
    trained = trained_on if block.get(TRAINED_ON) is None else block[TRAINED_ON]
    gap = mean_se(block, cells.get((REFERENCE, first + GAP), ""))
    return ["–" if trained is None else setting(trained), mean_se(block, cells[("model", first)]),
            "–" if reference is None else f"{reference:.3f}", gap]
