"""Reading a user's own 1D curves: one file of N curves on a shared grid of L points, or a folder holding a dataset's
own train, (val,) test files. Each problem is refused in one line naming the file and the cause.

Formats:

- ``.npy``: an array y [N, L], one curve per row, on an evenly spaced grid whose x is the point's index 0..L-1;
- ``.npz``: ``y`` [N, L] and optionally ``x`` [L], the grid in the data's own units (increasing and evenly spaced:
  an irregular grid is refused, with how to resample it);
- ``.csv``: one curve per line, numbers separated by commas, with decimal points; blank lines and lines starting
  with # (not a spreadsheet's #N/A, #DIV/0!, ...: a missing value) are skipped; a first line with a cell that is
  neither a number nor a missing value, or the column numbers 0, 1, ..., L-1 (what pandas writes for an array's
  columns), is a header and is skipped. x is the point's index, as for ``.npy``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixeltransformer.arrays import read_npz
from pixeltransformer.digests import named_file
from pixeltransformer.encoding import MAX_ABS_VALUE
from pixeltransformer.errors import as_written, counted, range_as_written, warn_rank_zero
from pixeltransformer.splits import SPLITS

CURVE_SUFFIXES = (".npy", ".npz", ".csv")
EVEN_TOLERANCE = 1e-3  # of the mean step: how far a grid's steps may stray (rounding) and still count as even
CSV_BLOCK = 65536  # lines of a .csv turned into an array at a time
SHEET_ERROR = re.compile(r"#(?:[A-Z0-9_/]+[!?]|N/A|GETTING_DATA)", re.IGNORECASE)  # #N/A, #DIV/0!, #SPILL!, ...
MISSING = ("", "na", "n/a", "null", "none", "-")  # a missing value's spellings (lower case, and SHEET_ERROR), not NaN
ONE_SERIES = "one curve is y[None, :]; a long series cut into windows of L points is y[:len(y) // L * L].reshape(-1, L)"
DECIMAL_POINTS = "write decimal points (a spreadsheet's CSV in a locale that writes 0.25)"
SAVE_UTF8 = "save it as UTF-8 (a spreadsheet's \"CSV UTF-8\")"
WHOLE = re.compile(r"[-+]?\d+")  # the whole part of "-0,25", split at its decimal comma ...
THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:\.\d{3})+")  # ... or of "1.234,5", with a thousands separator
DIGITS = re.compile(r"\d+(?:[eE][-+]?\d+)?")  # the decimals of "0,25" or "1,5E-03"
DATE = re.compile(r"\d[-/:.]\d+[-/:]\d|\d{4}-\d\d")  # 2020-01-01, 1/2/2020, 12:30:00, 2020-01
AS_ROWS = "save the curves as rows (y.T, without x), or y [N, L] and x [L] in an .npz"  # columns' remedy
COLUMN_POINTS = 3  # curves of at most this many points, ...
COLUMN_ROWS = 10  # ... at least this many times as many as their points, are columns read as rows
SHORT_CURVES = "give them as y [N, {0}] with their x [{0}] in an .npz"  # short curves that are curves
EXACT = 2.0 ** 53  # float64 holds every whole number up to this; past it some run together (2**53 + 1 reads 2**53)


@dataclass
class Curves:
    """What a curve file holds: values y [N, L] (float64) and the grid x [L] in the data's units (float64), or None
    (the point's index)."""

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
        name = named_file(path)
        names.append(name if pool == "all" else f"{pool}/{name}")
    return names


def read_curves(path: Path) -> Curves:
    """A curve file (the formats of the module docstring) -> its curves, checked: at least one curve of at least 2
    points, finite values within +-MAX_ABS_VALUE, and an increasing, evenly spaced x where one is given. Without an x,
    columns are refused: an x column rising by even steps, and curves of at most COLUMN_POINTS points in COLUMN_ROWS
    times as many rows or under a named first column that rises (series side by side, x beside y unsorted or
    repeated), which a fit refused only at the model's min_context, with no word of the file."""
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
    if y.ndim == 1:
        raise ValueError(f"{path}: a 1-D array of {y.shape[0]} values; expected curves [N, L], one per row "
                         f"({ONE_SERIES})")
    if y.ndim != 2:
        raise ValueError(f"{path}: an array of shape {list(y.shape)}; expected curves [N, L], one per row")
    raw, (y, kind) = y, _numbers(y, path, "y")  # [N, L] as in the file, [N, L] float64
    n, length = y.shape
    if n < 1:
        raise ValueError(f"{path}: no curves (an array of shape {list(y.shape)})")
    if length < 2:
        column = f" (one column of {n} values, one series? {ONE_SERIES})" if length == 1 and n > 1 else ""
        raise ValueError(f"{path}: curves of {counted(length, 'point')}; a curve needs at least 2{column}")
    bad = ~np.isfinite(y)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"{path}: curve {row} holds {y[row, col]} at point {col} ({int(bad.sum())} non-finite values "
                         "in all); fill or drop them first")
    if (big := float(np.abs(y).max())) > MAX_ABS_VALUE:
        # an integer file's own value as a Python int: |-2**63| is past int64, 10**16 + 1 past float64's digits
        reach = abs(int(raw.flat[np.argmax(np.abs(y))])) if raw.dtype.kind in "biu" else kind(big)
        raise ValueError(f"{path}: values reach {as_written(reach)}; the model's float32 arithmetic needs them "
                         f"within +-{as_written(MAX_ABS_VALUE)} (rescale them)")
    # a first column under a name that rises down the rows, as irregular times beside their values do
    rises = bool(header) and n > length and n >= 5 and not _is_number(header[0]) and bool((np.diff(y[:, 0]) > 0).all())
    if x is not None:
        x = _grid(x, length, path)
    elif n > length and _even_rise(y[:, 0]):
        first = ", ".join(as_written(kind(v)) for v in y[:3, 0])
        raise ValueError(f"{path}: its first column rises by even steps down all {n} rows ({first}, ...), as an x "
                         f"column does: is it x beside y columns, one curve a column? Here each row is a curve of "
                         f"{length} points; {AS_ROWS}")
    elif length <= COLUMN_POINTS and (n >= COLUMN_ROWS * length or rises):  # series in columns
        raise ValueError(f"{path}: {n} curves of {length} points, one a row: is each column a series (x beside y, or "
                         f"series side by side)? A curve is a row (a line of a .csv): {AS_ROWS}, an x column sorted, "
                         f"repeats averaged, resampled evenly (np.interp); curves of {length} points indeed? "
                         f"{SHORT_CURVES.format(length)}")
    elif rises:
        first = ", ".join(as_written(kind(v)) for v in y[:3, 0])
        warn_rank_zero(f"{path}: its first column {header[0]!r} rises down all {n} rows ({first}, ...), as an x "
                       f"column does: is it x beside y columns? It is read as {n} curves of {length} points, one a "
                       "row; curves are rows on one evenly spaced grid: resample each column onto np.linspace(x[0], "
                       "x[-1], L) (np.interp) and save the curves as rows", stacklevel=2)
    elif n > 1 and _even_rise(y[0]) and not all(_even_rise(row) for row in y[1:]):
        first = ", ".join(as_written(kind(v)) for v in y[0, :3])
        warn_rank_zero(f"{path}: its first curve rises by even steps ({first}, ...), as an x row does, and no other "
                       "does: is it the grid? It is read as a curve, and x is the point's index; give a grid as x [L] "
                       "in an .npz, with the curves as y [N, L]", stacklevel=2)
    return Curves(y, x)


def _even_rise(a: np.ndarray) -> bool:
    """Whether values a [n] (at least 5) rise by even steps, as a grid's positions do and a measured curve's values, or
    the first values of separate curves, do not."""
    return len(a) >= 5 and _evenly_spaced(a)


def _evenly_spaced(a: np.ndarray) -> bool:
    """Whether values a [n] (at least 2) rise by steps that differ from their mean by at most
    :func:`grid_tolerance` of a."""
    steps = np.diff(a)  # [n - 1]
    return bool((steps > 0).all() and np.abs(steps - _mean_step(a)).max() <= grid_tolerance(a))


def _mean_step(x: np.ndarray) -> float:
    """The mean step of values x [n] (at least 2): from the first to the last, evenly."""
    return (x[-1] - x[0]) / (len(x) - 1)


def grid_tolerance(x: np.ndarray) -> float:
    """How far a grid x [L] (float64, at least 2 points) may stray and still be the even grid it was meant as:
    EVEN_TOLERANCE of its mean step, or float64's rounding of x (2 ulps of the largest |x|: all an even grid of
    timestamps strays)."""
    rounding = 2 * np.spacing(np.abs(x).max())  # how far float64 moves a step between large values (timestamps)
    return float(max(EVEN_TOLERANCE * _mean_step(x), rounding))


def same_grid(x: np.ndarray, other: np.ndarray) -> bool:
    """Whether two split files' x [L] (float64) are one grid: point by point within :func:`grid_tolerance` (0.1 % of
    a step, or float64's rounding of x)."""
    return bool(np.abs(x - other).max() <= max(grid_tolerance(x), grid_tolerance(other)))


def _numbers(a: np.ndarray, path: Path, name: str) -> tuple[np.ndarray, type]:
    """An array of real numbers (bool and integers taken as numbers) as float64, or a one-line error; with the type
    that casts a value back for messages as the file writes it: a float32 file's 0.1, not float64's
    0.10000000149011612. Checks run in float64 whatever the file's dtype; an integer file's messages name its own
    integers (1700000000000000001, not 1.7e+18)."""
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {name} must hold real numbers, got dtype {a.dtype}")
    whole = np.uint64 if a.dtype.kind == "u" else np.int64
    return a.astype(np.float64), a.dtype.type if a.dtype.kind == "f" else whole


def _grid(x: np.ndarray, length: int, path: Path) -> np.ndarray:
    """The file's x [L] as float64, checked: as long as the curves, real numbers (:func:`_numbers`), finite,
    increasing and evenly spaced (values named as the file writes them: an integer x's own integers)."""
    if x.shape != (length,):
        raise ValueError(f"{path}: x has shape {list(x.shape)}; expected [L] = [{length}], one position per point of "
                         "a curve")
    raw, (x, kind) = x, _numbers(x, path, "x")  # [L] as in the file, [L] float64
    whole = raw.dtype.kind in "biu"
    # past 2**53 float64 runs whole numbers together: the file's integers are named, with what to do
    rounded = (f"; past 2**53 = {int(EXACT)} float64 runs whole numbers together: subtract the first, or count in "
               "larger units") if whole and np.abs(x).max() > EXACT else ""
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: x holds non-finite values")
    steps = np.diff(x)  # [L - 1]
    if not (steps > 0).all():
        i = int(np.argmax(steps <= 0))
        before, after = (int(raw[j]) if whole else as_written(kind(x[j])) for j in (i, i + 1))
        if steps[i] == 0 and whole and after != before:
            fix = f"float64 reads both as {int(x[i])}"
        elif steps[i] == 0:
            fix = "each point needs its own x: average or drop the repeated points"
        elif (steps < 0).all():
            fix = "x decreases throughout: reverse it and the curves (x[::-1], y[:, ::-1])"
        else:
            fix = "sort the points by x (order = np.argsort(x): x[order], y[:, order])"
        raise ValueError(f"{path}: x must increase, but x[{i + 1}] = {after} follows x[{i}] = {before}; "
                         f"{fix}{rounded}")
    if not _evenly_spaced(x):
        # as x is written: 12345, not 1.234e+04; 0.001 between timestamps, not float64's 0.0009999275
        if whole:  # the file's own steps, in Python ints (no int64 overflow)
            exact = np.diff(raw.astype(object))  # [L - 1]
            low, high = str(exact.min()), str(exact.max())
        else:
            ends = steps.min(), steps.max()
            written = range_as_written(float(ends[0]), float(ends[1]), float(np.abs(x).max()), kind)
            # every step is > 0 here: one below the digits of x is written to 3 digits, not as 0 (a repeated x)
            low, high = (f"{end:.3g}" if text == "0" else text for end, text in zip(ends, written))
        raise ValueError(f"{path}: x is not evenly spaced (steps from {low} to {high}); the model reads curves on a "
                         "regular grid: resample each curve onto np.linspace(x[0], x[-1], L) first (np.interp)"
                         + rounded)
    return x


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    """One curve per line of numbers separated by commas -> [N, L] and the header's cells ([] without one); a first
    line with a cell that is neither a number nor a missing value, or that numbers the columns 0, 1, ..., L-1, is a
    header. Blank lines and comments (:func:`_is_comment`) are skipped; a line of another length, a cell that is not
    a number, a first column of row numbers (a DataFrame's index) and one column of numbers with decimal commas are
    refused. Lines are turned into float64 CSV_BLOCK at a time: a million lines held as Python floats took gigabytes."""
    blocks: list[np.ndarray] = []
    block: list[list[float]] = []
    width = 0
    header: list[str] = []
    header_line = 0
    whole = True  # every line one or two whole numbers, "1", "0,25": maybe one column written with decimal commas
    thousands: tuple[int, list[str]] | None = None  # the first line of those like "1.234,5", and its cells
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # read a line at a time: no copy of the whole text
            for number, cells in enumerate(csv.reader(_text_lines(f, path)), start=1):
                cells = [c.strip() for c in cells]
                if not any(cells) or _is_comment(cells[0]):
                    continue
                if not (width or header) and _is_header(cells):
                    header_line, header = number, cells
                    continue
                try:
                    values = [float(c) for c in cells]
                except ValueError:
                    col = next(i for i, c in enumerate(cells) if not _is_number(c))
                    why = _not_a_number(cells, col, not width)
                    raise ValueError(f"{path}: line {number}, column {col + 1}: {why}") from None
                whole = whole and _comma_halves(cells)
                if whole and thousands is None and len(cells) == 2 and THOUSANDS.fullmatch(cells[0]):
                    thousands = number, cells
                if width and len(values) != width:
                    commas = (f" (one column of numbers written with decimal commas? 0,5 reads as 2 values, 1 as 1: "
                              f"{DECIMAL_POINTS})" if whole and {width, len(values)} == {1, 2} else "")  # 1 and 0,5
                    raise ValueError(f"{path}: line {number} has {counted(len(values), 'value')}, but the first curve "
                                     f"has {width}; every curve needs the same points{commas}")
                width = len(values)
                block.append(values)
                if len(block) == CSV_BLOCK:
                    blocks.append(np.array(block, dtype=np.float64))  # [CSV_BLOCK, L]
                    block = []
    except UnicodeDecodeError as err:  # UTF-16 (Excel's "Unicode text", PowerShell's default), Latin-1, a binary file
        raise ValueError(f"{path}: not a readable CSV file ({err}): {SAVE_UTF8}") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    if not width:
        raise ValueError(f"{path}: no curves (expected one curve per line, numbers separated by commas)")
    y = np.concatenate([*blocks, np.array(block, dtype=np.float64).reshape(-1, width)])  # [N, L]
    named = len(header) == 2 and all(_is_name(c) for c in header)  # "before,after"
    if whole and width == 2 and not named and not _even_rise(y[:, 0]):  # an even rise: x beside y (read_curves)
        if thousands:
            number, (high, low) = thousands
            raise ValueError(f"{path}: line {number}: {high + ',' + low!r} reads as 2 values, {high} and {low}: a "
                             f"number written with a thousands separator and a decimal comma "
                             f"({high.replace('.', '')}.{low})? {DECIMAL_POINTS}, without thousands separators")
        keep = "write one value as 3.0" if len(y) < COLUMN_ROWS * 2 else SHORT_CURVES.format(2)  # as read_curves
        raise ValueError(f"{path}: every line holds two whole numbers, as one column of numbers written with decimal "
                         f"commas does (0,25 read as 0 and 25): {DECIMAL_POINTS}; a .csv holds one curve a line "
                         f"(curves of 2 whole-number points? {keep})")
    _index_column(path, y, header, header_line)
    return y, header


def _text_lines(f, path: Path):
    """The lines of a text file, refused at a NUL (UTF-16 without its byte-order mark decodes as UTF-8, with a NUL
    beside each character), a comment as a blank line: a quote in it does not open a cell that runs on over the
    lines below."""
    for line in f:
        if "\x00" in line:
            raise ValueError(f"{path}: not a readable CSV file (it holds NUL bytes, as UTF-16 text does): {SAVE_UTF8}")
        yield "\n" if _is_comment(line.split(",", 1)[0].strip()) else line


def _is_comment(cell: str) -> bool:
    """Whether a line whose first cell is ``cell`` is a comment: it starts with #, and is not a spreadsheet's error
    value (SHEET_ERROR: #N/A, #DIV/0!, #SPILL!, # and capitals before ! or ?: a curve's missing value)."""
    return cell.startswith("#") and not SHEET_ERROR.fullmatch(cell)


def _is_missing(cell: str) -> bool:
    """Whether a cell is a missing value: empty, "NA", "-", ... or a spreadsheet's error value (#N/A, #SPILL!, ...)."""
    return cell.lower() in MISSING or bool(SHEET_ERROR.fullmatch(cell))


def _is_name(cell: str) -> bool:
    """Whether a cell is a name, as a header's are: neither a number nor a missing value."""
    return not _is_number(cell) and not _is_missing(cell)


def _comma_halves(cells: list[str]) -> bool:
    """Whether a line's cells could be one number written with a decimal comma and split at it: "1", or "-0" and "25",
    "1" and "5E-03", "1.234" (a thousands separator) and "5"."""
    return len(cells) <= 2 and bool(WHOLE.fullmatch(cells[0]) or THOUSANDS.fullmatch(cells[0])) and \
        all(DIGITS.fullmatch(c) for c in cells[1:])


def _is_header(cells: list[str]) -> bool:
    """Whether a file's first line of cells is a header: the column numbers 0, 1, ..., a cell that is neither a number
    nor a missing value ("NA", "-": a curve with a gap is a curve, refused as such), or an empty first cell over
    numbers, as a DataFrame's index is headed (:func:`_index_column` tells the two apart)."""
    if cells == [str(i) for i in range(len(cells))]:
        return True
    if any(_is_name(c) for c in cells):
        return True
    return cells[0] == "" and all(cells[1:])


def _index_column(path: Path, y: np.ndarray, header: list[str], line: int) -> None:
    """Refuses a first column that is a row index: under a name before the column numbers 0, 1, ... (pandas' to_csv
    of a named index), or under an empty header cell (pandas' to_csv, R's write.csv) where it counts the rows (distinct
    whole numbers: a DataFrame sliced or shuffled numbers its rows 2, 3, ... or 3, 1, 7, ...; where every column is
    whole numbers, as counts are, only consecutive ones, 2, 3, 4 in any order) or rises by even steps down at least 5
    rows (a time index or an offset ramp: a few measured values rise by chance). Any other first column under an empty
    cell is a curve's first point: over numbers the first line is a curve whose first value is missing, refused as
    such; over names (",t1,t2") the file is read as it is. Over numbers that are not the column numbers an index is
    refused naming both readings."""
    if len(header) != y.shape[1] or len(header) < 2:
        return
    numbered = header[1:] == [str(i) for i in range(len(header) - 1)]
    if not (header[0] == "" and all(header[1:]) or numbered and not _is_number(header[0])):
        return
    first = y[:, 0]  # [N]
    counts = bool((first == np.round(first)).all()) and len(np.unique(first)) == len(first)
    if counts and bool((y == np.round(y)).all()):  # whole-number data: an index is a run 1, 2, 3, ... in any order
        counts = bool((np.diff(np.sort(first)) == 1).all())
    labels = all(_is_number(c) for c in header[1:]) and not numbered  # numbers over the columns: maybe a curve
    if not (numbered or counts or _even_rise(first)):
        if labels:  # a curve whose first value is missing, not a header
            raise ValueError(f"{path}: line {line}, column 1: {_not_a_number(header, 0)}")
        return
    under = "an empty header cell" if header[0] == "" else f"the header {header[0]!r} before the column numbers"
    shown = ", ".join(as_written(v) for v in first[:3])
    gap = f", or line {line} is a curve whose first value is missing: fill or drop it" if labels else ""
    raise ValueError(f"{path}: its first column, under {under}, is a row index ({shown}, ...), not a point of each "
                     "curve (pandas' to_csv and R's write.csv write one: index=False, row.names=FALSE leave it out); "
                     f"remove it{gap}")


def _not_a_number(cells: list[str], col: int, first: bool = False) -> str:
    """Why cell ``col`` of a line is not a number, and what to do, for the error naming its line and column; ``first``:
    the line is the first curve's, where an empty last cell is a comma ending each line (on a later line, the first
    line ended without one)."""
    cell = cells[col]
    shown = repr(cell if len(cell) <= 40 else cell[:37] + "...")
    if first and not cell and col == len(cells) - 1 and col:  # "1,2,3,": the cells before it are numbers
        return ("is empty, after the line's last value: a comma ending each line? remove it (np.savetxt(path, y, "
                "delimiter=\",\") writes none); or a missing value: fill or drop them first")
    if _is_missing(cell):
        what = "is empty (a missing value)" if not cell else f"{shown} marks a missing value"
        return f"{what}; fill or drop them first"
    for sep, name, fix in ((";", "';'", " (a spreadsheet's CSV where decimals take a comma)"), ("\t", "tabs", ""),
                           (" ", "spaces", "")):
        if sep in cell and all(_is_number(part) for part in cell.split(sep) if part.strip()):
            return (f"{shown} is not a number: values separated by {name}{fix}; a .csv separates them by commas and "
                    "writes decimal points (np.savetxt(path, y, delimiter=\",\"))")
    if "," in cell:  # a quoted cell
        return f"{shown} is not a number: a decimal comma? write decimal points (0.25)"
    if DATE.search(cell):
        return (f"{shown} is not a number: a date or time? a .csv holds only numbers, one curve a line, x the point's "
                "index: remove the column")
    if col == 0 and all(_is_number(c) for c in cells[1:]):
        return f"{shown} is not a number: a column of labels? a .csv holds only numbers, one curve a line: remove it"
    return f"{shown} is not a number"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
