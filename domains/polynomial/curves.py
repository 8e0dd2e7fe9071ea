"""Reading a user's own 1D curves: one file of N curves on a shared grid of L points, or a folder holding a dataset's
own train, (val,) test files. Each problem is refused in one line naming the file and the cause.

Formats:

- ``.npy``: an array y [N, L], one curve per row, on an evenly spaced grid whose x is the point's index 0..L-1;
- ``.npz``: ``y`` [N, L] and optionally ``x`` [L], the grid in the data's own units (increasing and evenly spaced:
  an irregular grid is refused, with how to resample it);
- ``.csv``: one curve per line, numbers separated by commas; a first line with anything but numbers, or the column
  numbers 0, 1, ..., L-1 (what pandas writes for an array's columns), is a header and is skipped. x is the point's
  index, as for ``.npy``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixeltransformer.arrays import read_npz
from pixeltransformer.encoding import MAX_ABS_VALUE
from pixeltransformer.errors import counted, warn_rank_zero
from pixeltransformer.files import file_digest
from pixeltransformer.splits import SPLITS

CURVE_SUFFIXES = (".npy", ".npz", ".csv")
EVEN_TOLERANCE = 1e-3  # of the mean step: how far a grid's steps may stray (rounding) and still count as even


@dataclass
class Curves:
    """What a curve file holds: values y [N, L] (float64) and the grid x [L] in the data's units, or None (the
    point's index)."""

    y: np.ndarray
    x: np.ndarray | None

    def x_range(self) -> tuple[float, float]:
        """(first x, last x): the index range 0..L-1 where the file gives no x."""
        if self.x is None:
            return 0.0, float(self.y.shape[1] - 1)
        return float(self.x[0]), float(self.x[-1])


def curve_sources(root: Path) -> dict[str, Path]:
    """The curve files of ``root`` by the pool their curves are drawn from: {"all": file} for one file (or a folder
    holding one curve file), or {"train": ..., "val": ..., "test": ...} for a folder whose files are named train,
    val (optional) and test, a dataset's own split."""
    if not root.exists():
        raise FileNotFoundError(f"curve file not found: {root} (expected a .npy, .npz or .csv file, or a folder "
                                "with train and test files)")
    if root.is_file():
        return {"all": root}
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in CURVE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{root}: no curve file in this folder (expected .npy, .npz or .csv files)")
    named = {p.stem.lower(): p for p in files}
    splits = {s: named[s] for s in SPLITS if s in named}
    if not splits:
        if len(files) > 1:
            raise ValueError(f"{root}: {len(files)} curve files ({', '.join(p.name for p in files[:3])}"
                             f"{', ...' if len(files) > 3 else ''}): point root at one of them, or name them train, "
                             "val and test (a dataset's own split)")
        return {"all": files[0]}
    others = [p.name for p in files if p not in splits.values()]
    if len(splits) != len([p for p in files if p.stem.lower() in SPLITS]):
        raise ValueError(f"{root}: two files for one split ({', '.join(p.name for p in files)}); keep one of each")
    if others:
        raise ValueError(f"{root}: {', '.join(others)} lie beside the split files {', '.join(p.name for p in splits.values())}; "
                         "keep only train, val and test files in a split folder")
    if "train" not in splits or "test" not in splits:
        raise ValueError(f"{root}: split files {', '.join(p.name for p in splits.values())}, but a dataset split by "
                         "files needs train and test (val is optional: without it, validation is drawn from train)")
    return splits


def source_names(sources: dict[str, Path], root: Path) -> list[str]:
    """Each source as ``pool/name#digest`` (``name#digest`` for one file): a checkpoint records a digest of these, so
    that an evaluation on a file renamed or rewritten since says so (SignalDataModule.pool_files)."""
    names = []
    for pool, path in sources.items():
        name = f"{path.name}#{file_digest(path)[:16]}"
        names.append(name if pool == "all" else f"{pool}/{name}")
    return names


def read_curves(path: Path) -> Curves:
    """A curve file (the formats of the module docstring) -> its curves, checked: at least one curve of at least 2
    points, finite values within +-MAX_ABS_VALUE, and an increasing, evenly spaced x where one is given."""
    suffix = path.suffix.lower()
    if suffix not in CURVE_SUFFIXES:
        raise ValueError(f"{path}: unknown curve file type {suffix or '(no extension)'!r}; expected "
                         f"{', '.join(CURVE_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"curve file not found: {path}")
    x = None
    header: list[str] = []
    if suffix == ".csv":
        y, header = _read_csv(path)
    elif suffix == ".npz":
        files, arrays = read_npz(path, ("y", "x"))
        if "y" not in arrays:
            raise ValueError(f"{path} has no array 'y' (found {', '.join(files) or 'none'}); expected y [N, L] and "
                             "optionally x [L]")
        y, x = arrays["y"], arrays.get("x")
    else:
        try:
            y = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{path}: not a readable {suffix} file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    y = _numbers(y, path, "y")
    if y.ndim == 1:
        raise ValueError(f"{path}: a 1-D array of {y.shape[0]} values; expected curves [N, L], one per row (one curve "
                         "is y[None, :]; a long series cut into windows of L points is y[:len(y) // L * L].reshape(-1, L))")
    if y.ndim != 2:
        raise ValueError(f"{path}: an array of shape {list(y.shape)}; expected curves [N, L], one per row")
    n, length = y.shape
    if n < 1:
        raise ValueError(f"{path}: no curves (an array of shape {list(y.shape)})")
    if length < 2:
        raise ValueError(f"{path}: curves of {counted(length, 'point')}; a curve needs at least 2")
    bad = ~np.isfinite(y)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"{path}: curve {row} holds {y[row, col]} at point {col} ({int(bad.sum())} non-finite values "
                         "in all); fill or drop them first")
    if (big := float(np.abs(y).max())) > MAX_ABS_VALUE:
        raise ValueError(f"{path}: values reach {big:.3g}; the model's float32 arithmetic needs them within "
                         f"+-{MAX_ABS_VALUE:g} (rescale them)")
    if x is not None:
        x = _grid(_numbers(x, path, "x"), length, path)
    elif n > length and _even_rise(y[:, 0]):
        first = ", ".join(f"{v:g}" for v in y[:3, 0])
        raise ValueError(f"{path}: its first column rises by even steps down all {n} rows ({first}, ...), as an x "
                         f"column does: is it x beside y columns, one curve a column? Here each row is a curve of "
                         f"{length} points; save the curves as rows (y.T, without x), or y [N, L] and x [L] in an .npz")
    elif n > length and n >= 5 and header and not _is_number(header[0]) and (np.diff(y[:, 0]) > 0).all():
        first = ", ".join(f"{v:.3g}" for v in y[:3, 0])
        warn_rank_zero(f"{path}: its first column {header[0]!r} rises down all {n} rows ({first}, ...), as an x "
                       f"column does: is it x beside y columns? It is read as {n} curves of {length} points, one a "
                       "row; curves are rows on one evenly spaced grid: resample each column onto np.linspace(x[0], "
                       "x[-1], L) (np.interp) and save the curves as rows", stacklevel=2)
    elif n > 1 and _even_rise(y[0]) and not all(_even_rise(row) for row in y[1:]):
        first = ", ".join(f"{v:g}" for v in y[0, :3])
        warn_rank_zero(f"{path}: its first curve rises by even steps ({first}, ...), as an x row does, and no other "
                       "does: is it the grid? It is read as a curve, and x is the point's index; give a grid as x [L] "
                       "in an .npz, with the curves as y [N, L]", stacklevel=2)
    return Curves(y.astype(np.float64), x)


def _even_rise(a: np.ndarray) -> bool:
    """Whether values a [n] (at least 5) rise by even steps, as a grid's positions do and a measured curve's values, or
    the first values of separate curves, do not."""
    if len(a) < 5:
        return False
    steps = np.diff(a)  # [n - 1]
    step = (a[-1] - a[0]) / (len(a) - 1)
    return bool((steps > 0).all() and np.abs(steps - step).max() <= EVEN_TOLERANCE * step)


def _numbers(a: np.ndarray, path: Path, name: str) -> np.ndarray:
    """An array of real numbers (bool and integers taken as numbers) as float64, or a one-line error."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {name} must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def _grid(x: np.ndarray, length: int, path: Path) -> np.ndarray:
    """The file's x [L], checked: as long as the curves, finite, increasing and evenly spaced."""
    if x.shape != (length,):
        raise ValueError(f"{path}: x has shape {list(x.shape)}; expected [L] = [{length}], one position per point of "
                         "a curve")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: x holds non-finite values")
    steps = np.diff(x)  # [L - 1]
    if not (steps > 0).all():
        i = int(np.argmax(steps <= 0))
        if steps[i] == 0:
            fix = "each point needs its own x: average or drop the repeated points"
        elif (steps < 0).all():
            fix = "x decreases throughout: reverse it and the curves (x[::-1], y[:, ::-1])"
        else:
            fix = "sort the points by x (order = np.argsort(x): x[order], y[:, order])"
        raise ValueError(f"{path}: x must increase, but x[{i + 1}] = {x[i + 1]:g} follows x[{i}] = {x[i]:g}; {fix}")
    step = (x[-1] - x[0]) / (length - 1)
    if np.abs(steps - step).max() > EVEN_TOLERANCE * step:
        raise ValueError(f"{path}: x is not evenly spaced (steps from {steps.min():.4g} to {steps.max():.4g}); the "
                         "model reads curves on a regular grid: resample each curve onto "
                         "np.linspace(x[0], x[-1], L) first (np.interp)")
    return x


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    """One curve per line of numbers separated by commas -> [N, L] and the header's cells ([] without one); a first
    line that is not all numbers, or that numbers the columns 0, 1, ..., L-1, is a header. Blank lines are skipped;
    a line of another length, a cell that is not a number, or a first column of row numbers under an empty header
    cell (a DataFrame's index) is refused."""
    rows: list[list[float]] = []
    first_line = None
    header: list[str] = []
    save = "save it as UTF-8 (a spreadsheet's \"CSV UTF-8\")"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:  # UTF-16 (Excel's "Unicode text", PowerShell's default), Latin-1, a binary file
        raise ValueError(f"{path}: not a readable CSV file ({err}): {save}") from None
    if "\x00" in text:  # UTF-16 without its byte-order mark decodes as UTF-8, with a NUL beside each character
        raise ValueError(f"{path}: not a readable CSV file (it holds NUL bytes, as UTF-16 text does): {save}")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    for number, cells in enumerate(lines, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if first_line is None and not rows and cells == [str(i) for i in range(len(cells))]:
            first_line, header = number, cells  # column numbers (pandas' to_csv of an array's DataFrame): a header
            continue
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if first_line is None and not rows:  # a header
                first_line, header = number, cells
                continue
            col = next(i for i, c in enumerate(cells) if not _is_number(c))
            cell = cells[col]
            what = "is empty (a missing value)" if not cell else f"{cell!r} is not a number"
            hint = " (values are separated by commas)" if any(sep in cell for sep in (";", "\t", " ")) else ""
            raise ValueError(f"{path}: line {number}, column {col + 1}: {what}{hint}") from None
        if rows and len(values) != len(rows[0]):
            raise ValueError(f"{path}: line {number} has {len(values)} values, but the first curve has "
                             f"{len(rows[0])}; every curve needs the same points")
        rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no curves (expected one curve per line, numbers separated by commas)")
    y = np.array(rows, dtype=np.float64)  # [N, L]
    if header[:1] == [""] and all(header[1:]) and np.array_equal(y[:, 0], np.arange(len(y))):
        raise ValueError(f"{path}: its first column, under an empty header cell, counts the lines 0, 1, 2, ...: a row "
                         "index, not a point of each curve (pandas writes one: to_csv(..., index=False)); remove it")
    return y, header


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
