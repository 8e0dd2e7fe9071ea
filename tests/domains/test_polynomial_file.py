"""A user's own 1D curves (PolynomialDataModule dataset "file", domains/polynomial/curves.py): the formats, their
one-line errors, the splits and their warnings, values and positions in the data's own units, the metrics without an
oracle, and fit, test and predict through the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from domains.polynomial import curves
from domains.polynomial.curves import read_curves
from domains.polynomial.data import PolynomialDataModule
from domains.polynomial.domain import PolynomialDomain
from domains.polynomial.metrics import reference_metrics
from pixeltransformer.data_mismatch import conversion_mismatch, split_mismatch
from pixeltransformer.distribution import BinnedGaussian
from pixeltransformer.errors import as_written, counted
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.sets import draw_context, grid_positions
from pixeltransformer.splits import pool_digests

REPO = Path(__file__).resolve().parents[2]
YEARS = (1990.0, 2020.0)  # the x range of the .npz curves below


def sines(n: int = 40, length: int = 61, seed: int = 0) -> np.ndarray:
    """n noisy sums of three sines around 15 (a temperature, say) on `length` points: [n, length]."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    amp, freq, phase = rng.uniform(0.5, 2, (3, n, 3))
    y = 15 + (amp[..., None] * np.sin(2 * np.pi * (1 + 2 * freq[..., None]) * t + 3 * phase[..., None])).sum(1)
    return y + 0.05 * rng.standard_normal((n, length))


def write_npz(path: Path, y: np.ndarray, x: np.ndarray | None = None) -> Path:
    np.savez(path, y=y, **({"x": x} if x is not None else {}))
    return path


def file_module(root: Path, **kwargs) -> PolynomialDataModule:
    return PolynomialDataModule(dataset="file", root=str(root), **kwargs)


def split_rows(dm: PolynomialDataModule, split: str) -> torch.Tensor:
    ds = dm.dataset(split)
    return torch.stack([ds[i]["signal"][0] for i in range(len(ds))])  # [n, L]


# ---- formats ------------------------------------------------------------------------------------------
def test_npy_npz_and_csv_hold_the_same_curves_in_their_own_units(tmp_path):
    y = sines()
    np.save(tmp_path / "c.npy", y)
    with open(tmp_path / "c.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"t{i}" for i in range(y.shape[1])])  # a header line
        w.writerows(y.tolist())
        f.write("\n")  # a trailing blank line
    write_npz(tmp_path / "c.npz", y, np.linspace(*YEARS, y.shape[1]))
    modules = {s: file_module(tmp_path / f"c.{s}") for s in ("npy", "csv", "npz")}
    for dm in modules.values():
        assert dm.spec.grid_shape == (61,) and dm.pool_sizes() == {"all": 40}
        for split in ("train", "val", "test"):  # every value as the file holds it (float32), at its row
            rows = dm._split_index()[split][1]
            assert torch.equal(split_rows(dm, split), torch.from_numpy(y[rows.numpy()]).float())
    # x: the point's index for .npy and .csv, the file's own x for .npz
    assert (modules["npy"].spec.pos_offset, modules["npy"].spec.pos_scale) == (30.0, 30.0)
    assert (modules["npz"].spec.pos_offset, modules["npz"].spec.pos_scale) == (2005.0, 15.0)
    assert modules["npy"].spec.val_range == modules["csv"].spec.val_range == modules["npz"].spec.val_range


def test_a_csv_header_of_column_numbers_is_a_header(tmp_path):
    """pandas' DataFrame(y).to_csv(path, index=False) heads the columns 0, 1, ..., L-1: not a curve."""
    y = sines()
    with open(tmp_path / "c.csv", "w", newline="") as f:
        csv.writer(f).writerows([list(range(y.shape[1])), *y.tolist()])
    assert file_module(tmp_path / "c.csv").pool_sizes() == {"all": 40}
    (tmp_path / "ramp.csv").write_text("0.0,1.0,2.0\n1,2,3\n2,3,5\n")  # numbers written otherwise: a curve
    assert file_module(tmp_path / "ramp.csv").pool_sizes() == {"all": 3}


def test_a_first_line_of_x_values_is_named_in_a_warning(tmp_path):
    """A CSV whose first line is the grid (0, 0.5, 1, ...) above the curves: read as a curve, with a warning; a file
    of straight lines (every curve an even rise) is not warned about."""
    y = sines(10, 20)
    np.savetxt(tmp_path / "grid.csv", np.vstack([np.arange(20) / 2, y]), delimiter=",")
    with pytest.warns(UserWarning, match=r"grid.csv: its first curve rises by even steps \(0, 0.5, 1, ...\), as an x "
                                         r"row does, and no other does: is it the grid\? It is read as a curve"):
        assert file_module(tmp_path / "grid.csv").pool_sizes() == {"all": 11}
    np.savetxt(tmp_path / "lines.csv", np.arange(1, 11)[:, None] * np.arange(20)[None] / 4, delimiter=",")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert file_module(tmp_path / "lines.csv").pool_sizes() == {"all": 10}


def test_curves_in_rows_sorted_by_their_first_value_are_curves(tmp_path):
    """More curves than points, sorted by their first value: the first column rises, but not by even steps as an x
    column does, so the file is read as curves."""
    y = sines(100, 20)
    np.save(tmp_path / "sorted.npy", y[np.argsort(y[:, 0])])
    assert file_module(tmp_path / "sorted.npy").pool_sizes() == {"all": 100}


def test_the_value_range_comes_from_the_training_curves_unless_given(tmp_path):
    y = sines()
    y[0, 5] = 1000.0  # one outlier does not stretch the range
    dm = file_module(write_npz(tmp_path / "c.npz", y))
    train = split_rows(dm, "train").flatten()  # [n L]
    lo, hi = dm.spec.val_range
    q01, q99 = torch.quantile(train, torch.tensor([0.01, 0.99])).tolist()
    assert lo < q01 and hi > q99 and hi < 40 and float(train.max()) == 1000.0
    assert file_module(tmp_path / "c.npz", val_range=(-1.0, 30.0)).spec.val_range == (-1.0, 30.0)
    assert dm.spec.frame_unit == 1.0  # the frame's unit does not follow the values' units


@pytest.mark.parametrize("name, write, message", [
    ("two.npy", lambda p: np.save(p, sines(2)), "two.npy: 2 curves; a file is split into train, val and test"),
    ("nan.npy", lambda p: np.save(p, np.where(np.arange(61) == 7, np.nan, sines())),
     "nan.npy: curve 0 holds nan at point 7 (40 non-finite values in all); fill or drop them first"),
    ("inf.npz", lambda p: write_npz(p, np.where(np.arange(61) == 3, np.inf, sines())), "inf.npz: curve 0 holds inf"),
    ("flat.npy", lambda p: np.save(p, sines()[0]), "flat.npy: a 1-D array of 61 values; expected curves [N, L]"),
    ("point.npy", lambda p: np.save(p, np.ones((5, 1))), "point.npy: curves of 1 point; a curve needs at least 2"),
    ("column.csv", lambda p: p.write_text("value\n" + "".join(f"{v}\n" for v in sines(1)[0])),  # one series
     "column.csv: curves of 1 point; a curve needs at least 2 (one column of 61 values, one series? one curve is "
     "y[None, :]; a long series cut into windows of L points is y[:len(y) // L * L].reshape(-1, L))"),
    ("ragged.csv", lambda p: p.write_text("1,2,3\n4,5,6\n7,8\n"),
     "ragged.csv: line 3 has 2 values, but the first curve has 3; every curve needs the same points"),
    ("word.csv", lambda p: p.write_text("a,b,c\n1,2,3\n4,x,6\n"), "word.csv: line 3, column 2: 'x' is not a number"),
    ("gap.csv", lambda p: p.write_text("1,2,3\n4,,6\n"), "gap.csv: line 2, column 2: is empty (a missing value)"),
    ("trailing.csv", lambda p: p.write_text("1,2,3,\n4,5,6,\n7,8,9,\n"),  # was told to fill a missing value
     "trailing.csv: line 1, column 4: is empty, after the line's last value: a comma ending each line? remove it "
     "(np.savetxt(path, y, delimiter=\",\") writes none); or a missing value: fill or drop them first"),
    ("late.csv", lambda p: p.write_text("1,2,3,4\n4,5,6,\n"),  # line 1 ends without one: not a trailing comma
     "late.csv: line 2, column 4: is empty (a missing value); fill or drop them first"),
    ("index.csv", lambda p: p.write_text(",0,1,2\n0,5,6,7\n1,8,9,9\n2,4,5,6\n"),  # pandas' to_csv(), index and all
     "index.csv: its first column, under an empty header cell, is a row index (0, 1, 2, ...), not a point"),
    ("semi.csv", lambda p: p.write_text("1;2;3\n4;5;6\n"), "semi.csv: line 2, column 1: '4;5;6' is not a number: "
                                                          "values separated by ';'"),
    ("utf16.csv", lambda p: p.write_text("1,2,3\n4,5,6\n7,8,9\n", encoding="utf-16"),  # Excel's "Unicode text"
     "utf16.csv: not a readable CSV file ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte): "
     "save it as UTF-8 (a spreadsheet's \"CSV UTF-8\")"),
    ("utf16le.csv", lambda p: p.write_text("1,2,3\n4,5,6\n7,8,9\n", encoding="utf-16-le"),  # no byte-order mark
     "utf16le.csv: not a readable CSV file (it holds NUL bytes, as UTF-16 text does): save it as UTF-8"),
    ("latin1.csv", lambda p: p.write_text("caf\u00e9\n1,2,3\n4,5,6\n7,8,9\n", encoding="latin-1"),
     "latin1.csv: not a readable CSV file ('utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation "
     "byte): save it as UTF-8"),
    ("columns.csv", lambda p: p.write_text("x,y\n" + "".join(f"{t / 10},{np.sin(t / 10)}\n" for t in range(200))),
     "columns.csv: its first column rises by even steps down all 200 rows (0, 0.1, 0.2, ...), as an x column does: "
     "is it x beside y columns, one curve a column? Here each row is a curve of 2 points"),
    ("columns.npy", lambda p: np.save(p, np.stack([np.linspace(1990, 2020, 61), *sines(3)], axis=1)),
     "columns.npy: its first column rises by even steps down all 61 rows (1990, 1990.5, 1991, ...)"),
    ("noy.npz", lambda p: np.savez(p, arr_0=sines()), "noy.npz has no array 'y' (found arr_0)"),
    ("uneven.npz", lambda p: write_npz(p, sines(), np.linspace(0, 1, 61) ** 2), "uneven.npz: x is not evenly spaced"),
    ("back.npz", lambda p: write_npz(p, sines(), np.linspace(1, 0, 61)),
     "back.npz: x must increase, but x[1] = 0.9833333333333333 follows x[0] = 1; x decreases throughout: reverse it "
     "and the curves (x[::-1], y[:, ::-1])"),
    ("shuffled.npz", lambda p: write_npz(p, sines(), np.linspace(0, 60, 61)[np.r_[0, 2, 1, 3:61]]),
     "shuffled.npz: x must increase, but x[2] = 1 follows x[1] = 2; sort the points by x (order = np.argsort(x): "
     "x[order], y[:, order])"),
    ("twice.npz", lambda p: write_npz(p, sines(), np.r_[0, np.linspace(0, 1, 60)]),
     "twice.npz: x must increase, but x[1] = 0 follows x[0] = 0; each point needs its own x: average or drop the "
     "repeated points"),
    ("short.npz", lambda p: write_npz(p, sines(), np.linspace(0, 1, 60)), "short.npz: x has shape [60]; expected [L]"),
    ("text.npy", lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]])), "text.npy: y must hold real numbers"),
    ("curves.txt", lambda p: p.write_text("1,2\n"), "curves.txt: unknown curve file type '.txt'"),
    ("broken.npy", lambda p: p.write_bytes(b"not numpy"), "broken.npy: not a readable .npy file"),
    ("missing.npy", lambda p: None, "curve file not found: "),
])
def test_bad_curve_files_are_refused_in_one_line_naming_the_file(tmp_path, name, write, message):
    write(tmp_path / name)
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        file_module(tmp_path / name).spec
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def eu_csv(path: Path, lines: list[str]) -> Path:
    """A spreadsheet's CSV as Excel writes it: a UTF-8 byte-order mark and CRLF line ends."""
    path.write_bytes(b"\xef\xbb\xbf" + "".join(f"{line}\r\n" for line in lines).encode())
    return path


@pytest.mark.parametrize("header", [["value"], []])
def test_one_column_of_numbers_with_decimal_commas_is_refused(tmp_path, header):
    """One column of a spreadsheet in a locale that writes 0,25: every line reads as two whole numbers, "0,045174" as
    0 and 45174, and the file was taken for curves of 2 points, their values wrong, without a word."""
    values = [f"{v:.6f}".replace(".", ",") for v in sines(1, 30)[0] - 15]
    eu_csv(tmp_path / "one.csv", header + values)
    with pytest.raises(ValueError) as err:
        file_module(tmp_path / "one.csv").spec
    assert str(err.value) == (f"{tmp_path / 'one.csv'}: every line holds two whole numbers, as one column of numbers "
                              "written with decimal commas does (0,25 read as 0 and 25): write decimal points (a "
                              "spreadsheet's CSV in a locale that writes 0.25); a .csv holds one curve a line (curves "
                              "of 2 whole-number points? give them as y [N, 2] with their x [2] in an .npz)")


@pytest.mark.parametrize("lines, first, other", [(["0,5", "1", "1,5"], 2, 1), (["1", "0,5", "1,5"], 1, 2)])
def test_a_whole_value_beside_decimal_commas_is_named_as_such(tmp_path, lines, first, other):
    """A spreadsheet writes a whole value without a comma (0,5 then 1): the column read as lines of 2 and 1 values was
    refused as "line 3 has 1 values, but the first curve has 2", without a word of the decimal commas."""
    eu_csv(tmp_path / "one.csv", ["value", *lines])
    with pytest.raises(ValueError) as err:
        read_curves(tmp_path / "one.csv")
    assert str(err.value) == (f"{tmp_path / 'one.csv'}: line 3 has {counted(other, 'value')}, but the first curve has "
                              f"{first}; every curve needs the same points (one column of numbers written with decimal "
                              "commas? 0,5 reads as 2 values, 1 as 1: write decimal points (a spreadsheet's CSV in a "
                              "locale that writes 0.25))")


COUNTS = "".join(f"{2000 + i},{c}\n" for i, c in enumerate([12, 15, 9, 20, 18, 11]))  # a year and a count a line


@pytest.mark.parametrize("name, text, message", [
    ("scores.csv", "before,after\n81,27\n90,33\n75,20\n88,41\n", ""),  # a header of two names: curves of 2 points
    ("counts.csv", "year,count\n" + COUNTS, "counts.csv: its first column rises by even steps down all 6 rows (2000, "
                                            "2001, 2002, ...), as an x column does: is it x beside y columns"),
    ("pairs.csv", "3,5\n7,2\n1,4\n", "a .csv holds one curve a line (curves of 2 whole-number points? write one value "
                                    "as 3.0)"),  # no header: refused, with the way out
])
def test_two_whole_numbers_a_line_are_decimal_commas_only_where_likely(tmp_path, name, text, message):
    """Every file of two whole numbers a line was refused as one column written with decimal commas: curves of 2
    points under a header of two names were refused, and years beside counts lost their x column's message."""
    (tmp_path / name).write_text(text)
    if not message:
        np.testing.assert_array_equal(read_curves(tmp_path / name).y, [[81, 27], [90, 33], [75, 20], [88, 41]])
        return
    with pytest.raises(ValueError) as err:
        read_curves(tmp_path / name)
    assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("name, head, index, first", [
    ("sliced.csv", "", [2, 3, 4, 5, 6], "2, 3, 4"),  # pandas' df.iloc[2:].to_csv()
    ("shuffled.csv", "", [3, 1, 0, 4, 2], "3, 1, 0"),  # pandas' df.sample(frac=1).to_csv()
    ("r.csv", '""', ['"1"', '"2"', '"3"', '"4"', '"5"'], "1, 2, 3"),  # R's write.csv
    ("named.csv", "id", [0, 1, 2, 3, 4], "0, 1, 2"),  # pandas' df.rename_axis("id").to_csv()
])
def test_a_row_index_is_refused_wherever_it_starts_and_in_any_order(tmp_path, name, head, index, first):
    """Only an index counting 0, 1, 2, ... under an empty header cell was refused: a sliced or shuffled DataFrame's,
    R's from 1 and a named one were read as each curve's first point."""
    y = sines(5, 8)
    names = [str(i) for i in range(8)] if head != '""' else [f'"V{i + 1}"' for i in range(8)]
    lines = [",".join([head, *names])] + [",".join([str(i), *map(repr, row.tolist())]) for i, row in zip(index, y)]
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    under = "an empty header cell" if head != "id" else "the header 'id' before the column numbers"
    with pytest.raises(ValueError, match=rf"{name}: its first column, under {under}, is a row index \({first}, ...\), "
                                         r"not a point of each curve \(pandas' to_csv and R's write.csv write one: "
                                         r"index=False, row.names=FALSE leave it out\); remove it$"):
        file_module(tmp_path / name).spec


@pytest.mark.parametrize("name, head, first, message", [
    ("measured.csv", ",t1,t2,t3,t4", None, ""),  # a blank A1 over names and measured values: each curve's first point
    ("times.csv", ",400,410,420,430", [0.5, 1, 1.5, 2, 2.5, 3],  # spectra by time: a float index under numeric labels
     "times.csv: its first column, under an empty header cell, is a row index (0.5, 1, 1.5, ...), not a point of each "
     "curve"),
    ("framed.csv", ",0,1,2,3", [0.5, 1, 1.5, 2, 2.5, 3], "framed.csv: its first column, under an empty header cell, is "
                                                        "a row index (0.5, 1, 1.5, ...)"),  # DataFrame(y, index=t)
])
def test_a_first_column_under_an_empty_header_cell_is_an_index_only_where_it_counts_or_rises(tmp_path, name, head,
                                                                                            first, message):
    """Any first column under an empty header cell was refused as a row index, real measurements too, and a float
    time index under numeric labels was named a curve's missing first value. A row index counts the rows (distinct
    whole numbers) or rises by even steps; any other first column under names is each curve's first point."""
    y = np.round(sines(6, 5), 3)  # [6, 5]
    if first is not None:
        y[:, 0] = first
    (tmp_path / name).write_text(head + "\n" + "".join(",".join(map(repr, row)) + "\n" for row in y.tolist()))
    if not message:
        np.testing.assert_array_equal(read_curves(tmp_path / name).y, y)
        return
    with pytest.raises(ValueError) as err:
        read_curves(tmp_path / name)
    assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("cell", ["", "NA", "N/A", "null", "-"])
def test_a_first_line_with_a_missing_value_is_a_curve_not_a_header(tmp_path, cell):
    """A first line of numbers with one missing value was taken for a header and its curve left out without a word;
    it is a curve, refused for its gap as any other line is."""
    rows = [[f"{v:.4f}" for v in row] for row in sines(6, 10)]
    rows[0][3] = cell
    (tmp_path / "gap.csv").write_text("".join(",".join(row) + "\n" for row in rows))
    shown = "is empty (a missing value)" if not cell else f"'{cell}' marks a missing value"
    with pytest.raises(ValueError, match=rf"gap.csv: line 1, column 4: {re.escape(shown)}; fill or drop them first$"):
        file_module(tmp_path / "gap.csv").spec
    (tmp_path / "first.csv").write_text(f",{','.join(rows[1][1:])}\n" + "".join(",".join(r) + "\n" for r in rows[2:]))
    with pytest.raises(ValueError, match=r"first.csv: line 1, column 1: is empty \(a missing value\)"):
        file_module(tmp_path / "first.csv").spec  # an empty first cell over measured values: not an index's header


def test_comment_lines_are_skipped_and_a_spreadsheets_csv_is_read(tmp_path):
    """Lines starting with # (a logger's notes, before or after the header, between or after the curves) were refused
    as "'# units: V' is not a number (values are separated by commas)", or taken for the header; they are skipped.
    Excel's CSV UTF-8 (byte-order mark, CRLF, a header) holds the same numbers."""
    y = sines(6, 10)
    rows = [",".join(repr(v) for v in row) for row in y.tolist()]
    header = ",".join(f"t{i}" for i in range(10))
    (tmp_path / "notes.csv").write_text("\n".join(["# logger v2", "# units: V", header, *rows[:3], '# pause,"cable',
                                                   *rows[3:], "# end"]) + "\n")  # a quote in a comment: no cell
    eu_csv(tmp_path / "excel.csv", [header, *rows])
    for name in ("notes.csv", "excel.csv"):
        np.testing.assert_array_equal(read_curves(tmp_path / name).y, y)


@pytest.mark.parametrize("cell", ["#N/A", "#VALUE!", "#DIV/0!", "#REF!", "#NAME?", "#NUM!", "#NULL!"])
def test_a_spreadsheet_error_in_a_first_cell_is_a_missing_value_not_a_comment(tmp_path, cell):
    """A line whose first cell is a spreadsheet's error value starts with # and was skipped as a comment: its curve
    was left out without a word. It is a curve with a gap, refused as the others are, on the first line too."""
    rows = [",".join(f"{v:.4f}" for v in row) for row in sines(6, 10)]
    gap = ",".join([cell, *rows[2].split(",")[1:]])
    shown = re.escape(f"'{cell}' marks a missing value; fill or drop them first")
    (tmp_path / "gap.csv").write_text("\n".join(["# logger v2", *rows[:2], gap, *rows[3:]]) + "\n")
    with pytest.raises(ValueError, match=rf"gap.csv: line 4, column 1: {shown}$"):
        read_curves(tmp_path / "gap.csv")
    (tmp_path / "first.csv").write_text("\n".join([gap, *rows[3:]]) + "\n")
    with pytest.raises(ValueError, match=rf"first.csv: line 1, column 1: {shown}$"):
        read_curves(tmp_path / "first.csv")


@pytest.mark.parametrize("name, text, message", [
    ("excel.csv", "a;b;c\n1,5;2,5;3,5\n4;5;6\n",  # a spreadsheet's ; and decimal commas
     "excel.csv: line 2, column 2: '5;2' is not a number: values separated by ';' (a spreadsheet's CSV where decimals "
     "take a comma); a .csv separates them by commas and writes decimal points (np.savetxt(path, y, delimiter=\",\"))"),
    ("tabs.csv", "1.5\t2.5\t3.5\n" * 3,  # the cell is cut short: a line of thousands of values was shown whole
     "tabs.csv: line 2, column 1: '1.5\\t2.5\\t3.5' is not a number: values separated by tabs"),
    ("dates.csv", "date,value\n2020-01-01,1.5\n2020-01-02,1.7\n",
     "dates.csv: line 2, column 1: '2020-01-01' is not a number: a date or time? a .csv holds only numbers, one "
     "curve a line, x the point's index: remove the column"),
    ("labels.csv", "name,1,2,3\nsensor A,1.5,2.5,3.5\n",
     "labels.csv: line 2, column 1: 'sensor A' is not a number: a column of labels? a .csv holds only numbers, one "
     "curve a line: remove it"),
    ("quoted.csv", '"1,5","2,5"\n"3,5","4,5"\n',
     "quoted.csv: line 2, column 1: '3,5' is not a number: a decimal comma? write decimal points (0.25)"),
])
def test_a_cell_that_is_not_a_number_says_why(tmp_path, name, text, message):
    """A cell was named "not a number", with "(values are separated by commas)" beside one holding a space: a
    logger's comment, a label and a date alike; it names the likely cause and the remedy."""
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError) as err:
        file_module(tmp_path / name).spec
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("lines", [2999, 3000, 3001])
def test_a_csv_read_in_blocks_keeps_every_line_in_order(tmp_path, monkeypatch, lines):
    """A .csv's lines are turned into arrays a block at a time (a million lines held as Python floats took 2.6 GB):
    the blocks join to the file's curves in order, whether the last block is short, full or one line long."""
    monkeypatch.setattr(curves, "CSV_BLOCK", 1000)
    y = np.round(np.random.default_rng(0).standard_normal((lines, 16)), 6)  # [N, L]
    np.savetxt(tmp_path / "big.csv", y, delimiter=",", fmt="%.6f")
    np.testing.assert_array_equal(read_curves(tmp_path / "big.csv").y, y)


def test_without_a_root_the_default_place_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path))
    dm = PolynomialDataModule(dataset="file")
    with pytest.raises(FileNotFoundError, match=f"no data at {tmp_path / 'curves'}: put it there, set "
                                                "PIXELTRANSFORMER_DATA to a folder holding curves, or pass "
                                                "--data.init_args.root"):
        dm.check_data_roots()
    with pytest.raises(ValueError, match="--data.init_args.root is for dataset 'file'"):
        PolynomialDataModule(dataset="polynomial", root=str(tmp_path))


# ---- splits -------------------------------------------------------------------------------------------
def test_a_file_is_split_by_the_data_seed_and_the_sizes(tmp_path):
    path = write_npz(tmp_path / "c.npz", sines(40))
    dm = file_module(path)
    index = {s: set(dm._split_index()[s][1].tolist()) for s in ("train", "val", "test")}
    assert [len(index[s]) for s in ("train", "val", "test")] == [32, 4, 4]
    assert set().union(*index.values()) == set(range(40)) and not (index["train"] & (index["val"] | index["test"]))
    other = file_module(path, seed=1)
    assert not torch.equal(other._split_index()["test"][1], dm._split_index()["test"][1])
    sized = file_module(path, splits=(10, 5, 4))
    assert [len(sized.dataset(s)) for s in ("train", "val", "test")] == [10, 5, 4]
    assert torch.equal(sized._split_index()["test"][1], dm._split_index()["test"][1])  # same test size: same curves
    assert dm.same_splits({"splits": [-1, 4, 4]}) and not dm.same_splits({"seed": 1})
    with pytest.raises(ValueError, match=r"c.npz: split sizes .* give --data.init_args.splits in curves"):
        file_module(path, splits=(30, 10, 10)).dataset("train")


def test_a_folder_with_train_and_test_files_keeps_that_split(tmp_path):
    x = np.linspace(*YEARS, 61)
    write_npz(tmp_path / "train.npz", sines(30, seed=1), x)
    write_npz(tmp_path / "test.npz", sines(6, seed=2), x)
    dm = file_module(tmp_path)
    assert dm.pool_sizes() == {"train": 30, "test": 6} and dm.splits_with_train == ("val",)
    assert torch.equal(split_rows(dm, "test"), torch.from_numpy(sines(6, seed=2)).float())  # the whole test file
    assert len(dm.dataset("train")) + len(dm.dataset("val")) == 30  # validation drawn from the train file
    assert dm.spec.pos_offset == 2005.0
    np.save(tmp_path / "extra.npy", sines(3))
    with pytest.raises(ValueError, match="extra.npy lie beside the split files"):
        file_module(tmp_path).spec
    (tmp_path / "extra.npy").unlink()
    write_npz(tmp_path / "test.npz", sines(6, length=50, seed=2))
    with pytest.raises(ValueError, match="test.npz: curves of 50 points, but train.npz has 61"):
        file_module(tmp_path).spec


def checkpoint_state(dm: PolynomialDataModule) -> dict:
    """What a checkpoint records of the data (SignalDataModule.state_dict's split part)."""
    return {type(dm).__qualname__: {"split_options": dm.split_options(), "pool_sizes": dm.pool_sizes(),
                                    "pool_files": pool_digests(dm.pool_files())}}


def test_a_changed_file_is_named_when_a_checkpoint_is_evaluated_on_it(tmp_path):
    path = write_npz(tmp_path / "c.npz", sines(40))
    state = checkpoint_state(file_module(path))
    assert split_mismatch(state, file_module(path)) is None
    write_npz(path, sines(40, seed=5))  # rewritten: as many curves, other values
    note = split_mismatch(state, file_module(path))
    assert note is not None and "drawn from 40 items of other files than the data's now" in note, note
    write_npz(path, sines(50))  # more curves
    note = split_mismatch(state, file_module(path))
    assert note is not None and "drawn from 40 items, but the data now holds 50 items" in note, note
    note = split_mismatch(checkpoint_state(file_module(path, seed=3)), file_module(path))
    assert note is not None and "pass --data.init_args.seed 3" in note, note



def test_curves_on_another_x_step_than_the_checkpoint_s_are_named(tmp_path):
    """A model trained on x 0..10 and evaluated on a file of x 0..20 (as many points) read its curves squeezed onto its
    own grid, with only the "other files" warning: the x ranges are named. Another offset alone is the same step."""
    trained = {"hyper_parameters": {"spec": file_module(write_npz(tmp_path / "a.npz", sines(), np.linspace(0, 10, 61)))
                                    .spec.to_dict()}}
    wide = file_module(write_npz(tmp_path / "b.npz", sines(seed=1), np.linspace(0, 20, 61)))
    assert conversion_mismatch(trained, wide) == (
        "the checkpoint was trained on curves with x from 0 to 10 (a step of 0.1667), these have x from 0 to 20 (a step "
        "of 0.3333): the model reads point i of a curve as point i of its own, whatever its x, so it is scored on them "
        "squeezed 2x along x, as if their x ran from 0 to 10 (right where only x's units differ)")
    assert "it now trains on them squeezed 2x" in conversion_mismatch(trained, wide, resume=True)
    np.save(tmp_path / "c.npy", sines(seed=2))
    index = conversion_mismatch(trained, file_module(tmp_path / "c.npy"))  # no x: the point's index, 0..60
    assert "these have x from 0 to 60 (a step of 1): " in index and "squeezed 6x" in index, index
    narrow = file_module(write_npz(tmp_path / "e.npz", sines(seed=4), np.linspace(0, 5, 61)))
    assert "stretched 2x along x, as if their x ran from 0 to 10" in conversion_mismatch(trained, narrow)
    later = file_module(write_npz(tmp_path / "d.npz", sines(seed=3), np.linspace(1990, 2000, 61)))
    assert conversion_mismatch(trained, later) is None
    assert conversion_mismatch(trained, file_module(tmp_path / "a.npz")) is None

# ---- units ----------------------------------------------------------------------------------------------
def test_positions_and_values_round_trip_in_the_datas_units(tmp_path):
    spec = file_module(write_npz(tmp_path / "c.npz", sines(), np.linspace(*YEARS, 61))).spec
    domain = PolynomialDomain()
    domain.spec = spec
    rows = torch.tensor([[1990.0, 14.5], [2005.0, 16.0], [2020.0, 13.0]])
    pos, val = domain.context_from_rows(rows, spec, "--context")
    assert torch.allclose(pos[:, 0], torch.tensor([-1.0, 0.0, 1.0])) and torch.equal(val, rows[:, 1:])
    assert torch.allclose(domain.x_units(pos[:, 0]), rows[:, 0].double())
    assert torch.allclose(domain.x_units(grid_positions((61,))[:, 0]), torch.linspace(*YEARS, 61, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"--context: x must lie in \[1990, 2020\] \(the data's x range\)"):
        domain.context_from_rows(torch.tensor([[0.5, 14.0]]), spec, "--context")


@pytest.mark.parametrize("grid, written", [
    (None, [str(i) for i in range(20)]),  # x the point's index
    (np.linspace(0, 1, 1001), [f"{i / 1000:g}" for i in range(1001)]),  # 0.006 came out as 0.006000000000000005
    (1.6e9 + np.arange(20) / 2, [f"{1600000000 + i // 2}{'.5' * (i % 2)}" for i in range(20)]),  # half seconds
    (1.6e9 + np.arange(31) / 3000, [f"{1.6e9 + round(i / 3000, 5):.15g}" for i in range(31)]),  # 3 kHz: to 1e-5 s
])
def test_prediction_csv_writes_the_datas_own_grid_points(tmp_path, grid, written):
    """A prediction on the curves' own grid (20 points, x their index, `--resolution 20`) wrote x = 1.000000149,
    2.000000298, ...: positions in float32 turned into x units. They are the grid's points, 0, 1, ..., 19; a
    timestamp's half seconds, which 10 digits wrote as the same x twice, are kept, and a grid's float64 rounding
    (0.006000000000000005) is not written."""
    from pixeltransformer.inference import Completion

    length = len(written)
    spec = file_module(write_npz(tmp_path / "c.npz", sines(length=length), grid)).spec
    domain = PolynomialDomain()
    domain.spec = spec
    dist = BinnedGaussian.from_spec(spec)
    completion = Completion((length,), torch.zeros(1, 1, 1), torch.full((1, 1, 1), 15.0),
                            torch.full((1, 1, length), 15.0), None, torch.zeros(1, length, dist.params_width),
                            dist)  # S, mean [1, 1, L], params
    domain.write_prediction(completion, tmp_path)
    with open(tmp_path / "prediction.csv") as f:
        assert [row["x"] for row in csv.DictReader(f)] == written


def test_a_framed_gaussian_is_centred_in_the_frame_whatever_the_value_range(tmp_path):
    """The frame holds (v - m) / s, which has mean 0 for any values: with its centre at the middle of a value range
    of [9, 21], an untrained model's mean sat at m + 15 s, and a picture's autoregressive samples overflowed."""
    spec = file_module(write_npz(tmp_path / "c.npz", sines())).spec
    dist = BinnedGaussian.from_spec(spec, framed=True)
    params = torch.zeros(1, 1, dist.num_params + 2)  # offset 0, frame m = 0, log s = 0 ...
    params[..., -2] = 15.0  # ... with the set's mean 15
    means, sigmas = dist.components(params)
    assert torch.allclose(means, torch.tensor(15.0)) and torch.allclose(sigmas, torch.tensor(0.6931 + 1e-3), atol=1e-4)




def test_context_rows_keep_the_digits_of_a_timestamp(tmp_path):
    """x in seconds since 1970 on a 4-second grid: as float32, 1600000001.5 was 1600000000, the grid's first point,
    and a row past the end was named as lying in [1.6e+09, 1.6e+09]."""
    from pixeltransformer.predict import PredictOptions, prediction_item

    spec = file_module(write_npz(tmp_path / "c.npz", sines(length=5), 1.6e9 + np.arange(5.0))).spec
    domain = PolynomialDomain()
    domain.spec = spec
    item = prediction_item(domain, spec, PredictOptions(context="[[1600000001.5, 14.5], [1600000004, 16]]"))
    assert item["ctx_pos"].dtype == item["ctx_val"].dtype == torch.float32
    assert torch.allclose(item["ctx_pos"][:, 0], torch.tensor([-0.25, 1.0]))
    with pytest.raises(ValueError, match=r"x must lie in \[1600000000, 1600000004\] \(the data's x range\), got "
                                         r"1600000005 in row 1$"):
        prediction_item(domain, spec, PredictOptions(context="[[1600000005, 14.5]]"))

@pytest.mark.filterwarnings("ignore:no Domain named")
def test_a_model_evaluated_on_curves_of_the_other_kind_keeps_its_frame_unit(tmp_path):
    """A model of generated functions (its frame's unit half the value range, 5) tested on a user's curves (unit 1),
    or the other way round: the head's offsets and spreads are in the unit it was trained in, not the data's."""
    from pixeltransformer.module import PixelTransformerModule

    def module(spec) -> PixelTransformerModule:
        torch.manual_seed(0)
        return PixelTransformerModule(spec=spec, net=dict(width=32, ffn=64, encoder_layers=1, decoder_layers=1,
                                                          value_norm=True),
                                      sets=dict(min_context=2, max_context=4, num_queries=4, grid_points=True)).eval()

    curves = file_module(write_npz(tmp_path / "c.npz", sines())).spec
    generated = PolynomialDataModule(dataset="polynomial", resolution=61, val_range=curves.val_range).spec
    assert (curves.frame_unit, generated.frame_unit, curves.val_range) == (1.0, None, generated.val_range)
    for trained_on, tested_on in ((generated, curves), (curves, generated)):
        trained, tested = module(trained_on), module(tested_on)
        tested.on_load_checkpoint({"pixeltransformer_format": 2, "hyper_parameters": dict(trained.hparams)})
        tested.load_state_dict(trained.state_dict())
        params = torch.randn(2, 5, trained.dist.num_params + 2)  # [B, Q, NP + V + 1]: the head and the frame
        value = torch.randn(2, 5, 1) + 15  # [B, Q, V]
        assert tested.dist.unit == trained.dist.unit and tested.spec.dataset == tested_on.dataset
        assert torch.equal(tested.dist.log_prob(params, value), trained.dist.log_prob(params, value))


def _item(spec, signal: torch.Tensor, k: int) -> SweepItem:
    b, r = signal.shape[0], signal.shape[-1]
    ctx_pos, ctx_val = draw_context(signal, k, torch.Generator().manual_seed(k), on_grid=True)  # [B, K, 1] each
    qry_pos = grid_positions((r,)).expand(b, -1, -1)  # [B, R, 1]
    held = torch.cdist(qry_pos, ctx_pos).min(-1).values > 1e-6  # [B, R]
    zeros = torch.zeros(b, r, 1)
    return SweepItem(spec, signal, k, ctx_pos, ctx_val, qry_pos, signal.transpose(1, 2), held, zeros, zeros, zeros,
                     None, True, zeros[..., 0], {"signal": signal})


def test_curves_are_scored_without_an_oracle_and_the_gp_ignores_their_level(tmp_path):
    spec = file_module(write_npz(tmp_path / "c.npz", sines(), np.linspace(*YEARS, 61))).spec
    signal = torch.from_numpy(sines(8)).float().unsqueeze(1)  # [8, 1, 61]
    at_15 = reference_metrics(_item(spec, signal, 10))
    assert set(at_15) == {"gp_nll", "gp_mse", "gp_train_nll", "gp_train_mse"}
    old = dataclasses.replace(spec, extra={"source": "c.npz"})  # a spec written before the learned GP
    assert set(reference_metrics(_item(old, signal, 10))) == {"gp_nll", "gp_mse"}
    at_0 = reference_metrics(_item(spec, signal - 15, 10))  # the same curves around 0
    assert torch.allclose(at_15["gp_mse"], at_0["gp_mse"], rtol=1e-3)
    for x_range in ((0.0, 1e-6), (-3e4, -1e4)):  # microseconds in seconds; a negative range: the same GP
        other = reference_metrics(_item(dataclasses.replace(spec, pos_offset=sum(x_range) / 2,
                                                            pos_scale=(x_range[1] - x_range[0]) / 2), signal, 10))
        assert all(torch.allclose(other[m], at_15[m], rtol=1e-4) for m in at_15), (x_range, other, at_15)
    domain = PolynomialDomain()
    domain.spec = spec
    assert "oracle_nll" not in domain.plot_groups()["NLL (nats)"]
    learned = domain.summary([{"num_context": 4}])["gp_train"]
    assert learned["lengthscale_x"] == learned["lengthscale"] * 15 and "gp_train_nll" in domain.plot_groups()["NLL (nats)"]
    domain.spec = old
    assert list(domain.summary([{"num_context": 4}])) == ["nll_units"] and "gp_train" not in domain.method_names()
    domain.spec = dataclasses.replace(spec, dataset="polynomial")
    assert "oracle_nll" in domain.plot_groups()["NLL (nats)"]


def test_the_gp_fitted_to_one_point_or_a_flat_s_has_a_finite_width(tmp_path):
    """|S| = 1 (fitted about its own mean, so every value 0) and a constant S on a curve that is not: the fitted GP's
    variance was floored at 1e-12 of y's units, an NLL of 2e12 and 2e10 nats on these curves; now its variance is that
    of a standard deviation of a quarter of the value range (metrics.fallback_variance)."""
    spec = file_module(write_npz(tmp_path / "c.npz", sines(), np.linspace(*YEARS, 61))).spec
    signal = torch.from_numpy(sines(8)).float().unsqueeze(1)  # [8, 1, 61]
    assert reference_metrics(_item(spec, signal, 1))["gp_nll"].abs().max() < 10
    item = _item(spec, signal, 3)
    flat = signal.clone()  # [8, 1, 61]
    at = ((item.ctx_pos[..., 0] + 1) * 30).round().long()  # [8, 3]: S's grid points
    flat[:, 0].scatter_(1, at, 15.0)  # S constant, the curve around it not
    item = dataclasses.replace(item, signal=flat, ctx_val=torch.full_like(item.ctx_val, 15.0),
                               qry_val=flat.transpose(1, 2))
    assert reference_metrics(item)["gp_nll"].abs().max() < 10


# ---- the command line -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny model fitted for two steps on a .npz of curves on x in [1990, 2020] (configs/polynomial/file.yaml)."""
    from pixeltransformer.cli import main

    tmp = tmp_path_factory.mktemp("curves")
    write_npz(tmp / "curves.npz", sines(40), np.linspace(*YEARS, 61))
    main(["fit", *config(tmp), "--trainer.max_steps=2", "--trainer.val_check_interval=2",
          "--checkpoint.every_n_train_steps=2", "--run_root", str(tmp / "runs"), "--run_name", "c"])
    return tmp / "runs" / "polynomial" / "c"


def config(tmp: Path, name: str = "curves.npz") -> list[str]:
    return ["--config", str(REPO / "configs/polynomial.yaml"), "--config", str(REPO / "configs/polynomial/file.yaml"),
            "--config", str(REPO / "configs/model/tiny.yaml"), "--data.init_args.root", str(tmp / name),
            "--data.init_args.batch_size=8", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false"]


def test_fit_draws_the_curves_in_the_datas_units(run):
    pictures = sorted(p.name for p in (run / "pictures").iterdir())
    assert pictures and all(p.startswith("functions") and p.endswith("_step000002.png") for p in pictures)
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    spec = saved["hyper_parameters"]["spec"]
    assert (spec["dataset"], spec["pos_offset"], spec["pos_scale"], spec["frame_unit"]) == ("file", 2005.0, 15.0, 1.0)
    assert 9 < spec["val_range"][0] < 13 and 17 < spec["val_range"][1] < 21


def test_test_scores_the_gp_and_nearest_neighbour_but_no_oracle(run):
    from pixeltransformer.cli import main

    tmp = run.parents[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["test", *config(tmp), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    assert not [w for w in caught if "drawn from" in str(w.message)]
    result = json.loads((run / "eval" / "metrics.json").read_text())
    assert result["dataset"] == "file" and "nll_gap_to_oracle" not in result
    assert [r["num_context"] for r in result["rows"]] == [3, 5, 10, 20, 30, 50]
    for row in result["rows"]:
        assert {"nll", "mse", "nn_mse", "gp_nll", "gp_mse", "gp_train_nll", "gp_train_mse"} <= set(row)
        assert not any("oracle" in k for k in row)
    # the GP learned from the training curves at fit is the one the test scores and reports
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    learned = saved["hyper_parameters"]["spec"]["extra"]["gp_train"]
    assert {k: result["gp_train"][k] for k in learned} == learned and learned["curves"] == 32
    write_npz(tmp / "curves.npz", sines(40, seed=9), np.linspace(*YEARS, 61))  # the file rewritten
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main(["test", *config(tmp), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
                  "--trainer.limit_test_batches=1"])
        assert [w for w in caught if "drawn from 40 items of other files" in str(w.message)]
    finally:
        write_npz(tmp / "curves.npz", sines(40), np.linspace(*YEARS, 61))


def test_a_test_on_another_file_goes_beside_the_runs_own_evaluation(run, capsys):
    """Both are dataset "file": the evaluation of another file went to eval/, replacing the run's own."""
    from pixeltransformer.cli import main

    tmp = run.parents[2]
    main(["test", *config(tmp), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--trainer.limit_test_batches=1"])
    own = (run / "eval" / "metrics.json").read_text()
    write_npz(tmp / "other curves.npz", sines(40, seed=3), np.linspace(*YEARS, 61))
    main(["test", *config(tmp), "--data.init_args.root", str(tmp / "other curves.npz"),
          "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--trainer.limit_test_batches=1"])
    assert (run / "eval" / "metrics.json").read_text() == own
    assert json.loads((run / "eval-file-other_curves.npz" / "metrics.json").read_text())["dataset"] == "file"
    assert ("the checkpoint was trained on polynomial/file (curves.npz); this evaluation on file (other curves.npz) "
            "goes to eval-file-other_curves.npz/") in capsys.readouterr().out


def test_predict_takes_and_writes_x_and_y_in_the_datas_units(run, tmp_path):
    from pixeltransformer.cli import main

    grid = np.linspace(*YEARS, 61)
    rows = [[grid[6], 16.5], [grid[30], 13.25], [2011.3, 15.0]]  # two on grid points of the data, one between
    out = tmp_path / "pred"
    predict = ["predict", *config(run.parents[2]), "--trainer.callbacks=[]",
               "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--num_samples", "1", "--resolution", "61"]
    main([*predict, "--context", json.dumps(rows), "--out", str(out)])
    with open(out / "prediction.csv") as f:
        table = list(csv.DictReader(f))
    x = np.array([float(r["x"]) for r in table])
    assert len(table) == 61 and np.allclose(x, grid, atol=1e-6)
    record = json.loads((out / "prediction.json").read_text())  # S as the model read it, and how to map x back
    assert np.allclose([record["pos_offset"] + p * record["pos_scale"] for p, _ in record["context"]],
                       [r[0] for r in rows], atol=1e-4)
    for i, y in ((6, 16.5), (30, 13.25)):  # observed grid points keep their values, in the data's units
        assert abs(float(table[i]["mean"]) - y) < 1e-3 and abs(float(table[i]["sample_1"]) - y) < 1e-3
    with pytest.raises(ValueError, match=r"x must lie in \[1990, 2020\]"):
        main([*predict, "--context", "[[0.5, 14.0]]", "--out", str(tmp_path / "bad")])


def test_the_generated_datas_options_keep_their_positions():
    """root and splits came in as the 2nd and 3rd arguments, so a notebook's PolynomialDataModule("polynomial", 4)
    (degree 4) stopped in a TypeError about paths; they come after the options that were there before."""
    from domains.polynomial.data import PolynomialDataModule

    dm = PolynomialDataModule("polynomial", 4, 2.0)
    assert (dm.degree, dm.coef_std, dm.root) == (4, 2.0, None)


def test_a_checkpoint_records_the_digest_of_the_curves_it_read(tmp_path):
    """The file's digest was taken again at every checkpoint (the whole file read each time), and from the file as it
    was then: one rewritten during training was recorded as the data the model had learnt from. It is taken once, of
    the bytes the curves were read from."""
    path = write_npz(tmp_path / "c.npz", sines(20))
    dm = PolynomialDataModule(dataset="file", root=str(path))
    dm.setup("fit")
    read = dm.pool_files()
    write_npz(path, sines(20, seed=1))  # rewritten while the model trains on the first curves
    assert dm.pool_files() == read
    assert PolynomialDataModule(dataset="file", root=str(path)).pool_files() != read  # a new run reads the new file


def test_a_checkpoint_written_before_the_learned_gp_still_tests_and_gets_it(run, tmp_path):
    from pixeltransformer.cli import main

    tmp = run.parents[2]
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    learned = saved["hyper_parameters"]["spec"]["extra"].pop("gp_train")
    old = tmp_path / "old.ckpt"
    torch.save(saved, old)
    main(["test", *config(tmp), "--ckpt_path", str(old), "--trainer.limit_test_batches=1"])
    result = json.loads((tmp_path / "eval-old" / "metrics.json").read_text())
    assert {k: result["gp_train"][k] for k in learned} == learned  # learned from the data's training curves
    assert result["rows"] and all("gp_train_nll" in row for row in result["rows"])


def test_an_uneven_x_column_under_a_named_header_is_named_in_a_warning(tmp_path):
    """A spreadsheet's columns `time,a,b,c` with irregular times: read without a word as 100 curves of 4 points (the
    even x column is refused). It is still read, as sorted curves are, but a warning names the column and what to do;
    the same rows under no header stay silent. (Curves of 2 or 3 points so are refused: series in columns.)"""
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 10, 100))  # [100], uneven
    rows = "".join(f"{a},{np.sin(a)},{np.cos(a)},{np.sin(2 * a)}\n" for a in t)
    (tmp_path / "series.csv").write_text("time,a,b,c\n" + rows)
    with pytest.warns(UserWarning, match=r"series.csv: its first column 'time' rises down all 100 rows "
                                         r"\(0.058245951079809455, 0.07091828603166261, 0.244906774933632, ...\), as "
                                         r"an x column does: is it x beside y columns\? It is "
                                         r"read as 100 curves of 4 points"):
        assert file_module(tmp_path / "series.csv").pool_sizes() == {"all": 100}
    (tmp_path / "plain.csv").write_text(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert file_module(tmp_path / "plain.csv").pool_sizes() == {"all": 100}


def test_setup_counts_a_files_curves_and_generated_functions(tmp_path, capsys):
    """The [data] line names what a split holds: a file's curves, or functions generated."""
    file_module(write_npz(tmp_path / "c.npz", sines(40)), batch_size=8).setup("fit")
    assert capsys.readouterr().out.splitlines() == ["[data] train 32 curves; val 4 curves"]
    PolynomialDataModule(train_size=64, val_size=8, batch_size=8).setup("fit")
    assert capsys.readouterr().out.splitlines() == ["[data] train 64 functions; val 8 functions"]


# ---- series in columns ----------------------------------------------------------------------------------
def columns_csv(path: Path, header: str, columns: np.ndarray) -> Path:
    """A spreadsheet's columns [rows, C] under ``header`` ("" for none), one row a line."""
    lines = [header] if header else []
    path.write_text("".join(f"{line}\n" for line in lines + [",".join(f"{v:.4f}" for v in row) for row in columns]))
    return path


def series_columns(name: str) -> tuple[str, np.ndarray]:
    """The columns users save their data as: x beside y with x unsorted or repeated, three series side by side with no
    x, irregular times beside two series (fewer rows)."""
    rng = np.random.default_rng(3)
    x = {"xy_unsorted": rng.uniform(0, 10, 200), "xy_repeated": np.repeat(np.arange(100) / 2, 2)}.get(name)
    if x is not None:
        return "x,y", np.stack([x, np.sin(x) + 0.1 * rng.standard_normal(200)], axis=1)  # [200, 2]
    if name == "times":
        t = np.sort(rng.uniform(0, 10, 12))  # [12], uneven
        return "time,a,b", np.stack([t, np.sin(t), np.cos(t)], axis=1)  # [12, 3]
    return ("a,b,c" if name == "abc" else ""), np.cumsum(rng.standard_normal((200, 3)), axis=0)  # [200, 3]


@pytest.mark.parametrize("name", ["xy_unsorted", "xy_repeated", "abc", "abc_bare", "times"])
def test_series_in_columns_are_named_as_such(tmp_path, name):
    """x and y columns (x unsorted or repeated) or series side by side were read as 200 curves of 2 or 3 points, and a
    fit then stopped at the model's min_context=3, "at least the 2 grid points ...: give min_context below 2", which
    sent the user to shrink the model's sets instead of transposing the file."""
    header, columns = series_columns(name)
    path = columns_csv(tmp_path / f"{name}.csv", header, columns)
    n, length = columns.shape
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one message: no warning of an x column beside the refusal
        with pytest.raises(ValueError) as err:
            file_module(path).spec
    assert str(err.value) == (f"{path}: {n} curves of {length} points, one a row: is each column a series (x beside "
                              "y, or series side by side)? A curve is a row (a line of a .csv): save the curves as "
                              "rows (y.T, without x), or y [N, L] and x [L] in an .npz, an x column sorted, repeats "
                              f"averaged, resampled evenly (np.interp); curves of {length} points indeed? give them as "
                              f"y [N, {length}] with their x [{length}] in an .npz")


def test_short_curves_given_with_their_x_or_of_more_points_are_read(tmp_path):
    """Curves of 3 points with their x [3] in an .npz are curves: read, and a sampler of min_context=2 trains on
    them; so are 200 curves of 4 points in a .csv, and a few curves of 3 points."""
    from pixeltransformer.sets import SetSampler, every_point_sets

    y = sines(200, 4)  # [200, 4]
    dm = file_module(write_npz(tmp_path / "three.npz", y[:, :3], np.array([0.0, 0.5, 1.0])))
    assert dm.pool_sizes() == {"all": 200}
    assert every_point_sets(SetSampler(min_context=2, grid_points=True), dm.spec) is None
    assert file_module(columns_csv(tmp_path / "four.csv", "", y)).pool_sizes() == {"all": 200}
    assert file_module(columns_csv(tmp_path / "few.csv", "", y[:29, :3])).pool_sizes() == {"all": 29}


def test_a_fit_on_series_in_columns_ends_in_one_line_naming_them(tmp_path, capsys, monkeypatch):
    """The fit's whole report is the columns' line, not the model's min_context."""
    from pixeltransformer.cli import cli_main
    from pixeltransformer.errors import InputExit

    header, columns = series_columns("xy_unsorted")
    columns_csv(tmp_path / "curves.csv", header, columns)
    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", *config(tmp_path, "curves.csv"),
                                     "--trainer.max_steps=1", "--run_root", str(tmp_path / "runs")])
    with pytest.raises(InputExit) as exit_info:
        cli_main()
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("INFO")]
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {tmp_path / 'curves.csv'}: 200 curves of 2 points, one a row: is each column "
                             "a series"), err


def test_whole_number_measurements_under_a_blank_a1_are_read(tmp_path):
    """Whole-number data under an empty A1 (daily counts, ",mon,tue,wed") was refused as a row index: any first column
    of distinct whole numbers counted as one. Where every column is whole numbers only consecutive ones (1, 2, 3 in
    any order) are an index."""
    (tmp_path / "days.csv").write_text(",mon,tue,wed\n21,23,22,25\n18,19,17,20\n25,24,26,27\n")
    np.testing.assert_array_equal(read_curves(tmp_path / "days.csv").y, [[21, 23, 22, 25], [18, 19, 17, 20],
                                                                         [25, 24, 26, 27]])
    counts = [[21, 23, 22], [18, 19, 17], [25, 24, 26], [30, 31, 29], [12, 14, 13]]
    for index, first in (([0, 1, 2, 3, 4], "0, 1, 2"), ([3, 1, 0, 4, 2], "3, 1, 0"), ([1, 2, 3, 4, 5], "1, 2, 3"),
                         ([2, 3, 4, 5, 6], "2, 3, 4")):  # pandas', shuffled, R's, sliced: whole data, an index still
        lines = [",a,b,c"] + [",".join(map(str, [i, *row])) for i, row in zip(index, counts)]
        (tmp_path / "index.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=rf"index.csv: its first column, under an empty header cell, is a row "
                                             rf"index \({first}, ...\)"):
            read_curves(tmp_path / "index.csv")


def test_a_first_line_missing_its_first_value_over_whole_numbers_names_both_readings(tmp_path):
    """A first line whose first value is missing, over a first column of distinct whole numbers, was refused as a row
    index alone; it may as well be a curve with a gap, and the line names both."""
    (tmp_path / "gap.csv").write_text(",5.5,7.5\n3,4.5,6.5\n8,2.5,1.5\n")
    with pytest.raises(ValueError, match=r"gap.csv: its first column, under an empty header cell, is a row index "
                                         r"\(3, 8, ...\), .*; remove it, or line 1 is a curve whose first value is "
                                         r"missing: fill or drop it$"):
        read_curves(tmp_path / "gap.csv")


@pytest.mark.parametrize("cell, message", [
    ("1,5E-03", "every line holds two whole numbers, as one column of numbers written with decimal commas does"),
    ("1.234,5", "line 3: '1.234,5' reads as 2 values, 1.234 and 5: a number written with a thousands separator and a "
                "decimal comma (1234.5)? write decimal points (a spreadsheet's CSV in a locale that writes 0.25), "
                "without thousands separators"),
])
def test_an_exponent_or_a_thousands_separator_in_a_decimal_comma_column_is_named(tmp_path, cell, message):
    """One cell of a decimal-comma column written with an exponent ("1,5E-03") or a thousands separator ("1.234,5")
    was no whole number, and the column was read without a word as curves of 2 points."""
    eu_csv(tmp_path / "one.csv", ["0,5", "2,25", cell, "0,75", "3,125"])
    with pytest.raises(ValueError) as err:
        read_curves(tmp_path / "one.csv")
    assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("cell", ["#SPILL!", "#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#BUSY!", "#UNKNOWN!",
                                  "#CONNECT!"])
def test_a_newer_spreadsheet_error_in_a_first_cell_is_a_missing_value_not_a_comment(tmp_path, cell):
    """Only seven spreadsheet errors were known: a line starting with #SPILL!, #CALC!, ... was skipped as a comment,
    its curve dropped without a word. Any "#" and capitals followed by ! or ? is a spreadsheet's error value."""
    rows = [",".join(f"{v:.4f}" for v in row) for row in sines(6, 10)]
    gap = ",".join([cell, *rows[2].split(",")[1:]])
    (tmp_path / "gap.csv").write_text("\n".join(["# logger v2", *rows[:2], gap, *rows[3:], "# end!"]) + "\n")
    with pytest.raises(ValueError, match=rf"gap.csv: line 4, column 1: {re.escape(repr(cell))} marks a missing value"):
        read_curves(tmp_path / "gap.csv")


def test_an_even_grid_of_timestamps_is_not_refused_for_its_float64_rounding(tmp_path):
    """A 10 kHz recording stamped in seconds since 1970 (x = 1.7e9 + i / 1e4) was refused as "not evenly spaced"
    and told to resample onto np.linspace(x[0], x[-1], L), which rounds the same way: its steps differ by float64's
    rounding of x, not by the grid. A grid that is truly uneven is still refused."""
    x = 1.7e9 + np.arange(61) / 1e4  # [61]
    got = read_curves(write_npz(tmp_path / "khz.npz", sines(), x))
    assert got.x_range() == (x[0], x[-1])
    with pytest.raises(ValueError, match="x is not evenly spaced"):
        read_curves(write_npz(tmp_path / "uneven.npz", sines(), 1.7e9 + (np.arange(61) / 1e4) ** 1.01))


@pytest.mark.parametrize("x, steps", [
    (12345 * np.arange(61.0) + 55 * (np.arange(61) >= 30), "steps from 12345 to 12400"),
    (np.r_[0.1 * np.arange(1, 31), 3.2 + 0.1 * np.arange(31)], "steps from 0.1 to 0.2"),
    (1_700_000_000.25 + 0.001 * np.arange(61.0) + 0.0005 * (np.arange(61) >= 30), "steps from 0.001 to 0.0015"),
    (np.r_[0.1 * np.arange(1, 31), 3.2 + 0.1 * np.arange(31)].astype(np.float32), "steps from 0.1 to 0.2"),
    ((59.39 + 0.01 * np.arange(61) + 0.01 * (np.arange(61) >= 30)).astype(np.float32), "steps from 0.01 to 0.02"),
    # a step below float32's digits at x = 1000 read 0, as if an x were repeated: then written to float64's
    ((1000 + 0.004 * np.arange(61) + 0.008 * (np.arange(61) >= 30)).astype(np.float32),
     "steps from 0.003967285 to 0.011962891"),
])
def test_an_uneven_grid_names_its_steps_as_its_x_is_written(tmp_path, x, steps):
    """The steps were written to 4 significant digits: 12345 s as 1.234e+04 (and 12400 as 1.24e+04). They are now
    whole where they are, and to the digits x holds (float64's rounding of x[i + 1] - x[i] left out): a float32 x
    holds about 6, where its steps were written to 14 ("steps from 0.099999905 to 0.20000005")."""
    with pytest.raises(ValueError, match=re.escape(f"x is not evenly spaced ({steps}); ")):
        read_curves(write_npz(tmp_path / "uneven.npz", sines(), x))


def test_an_uneven_grid_of_steps_below_the_digits_of_its_x_names_them_as_they_are(tmp_path):
    """Steps of 1e-9 at x = 1e6 are below float64's 15 digits there: rounded to them they read "steps from 0 to 0",
    as if an x were repeated (refused otherwise); each is now written as it is."""
    x = 1e6 + 1e-9 * (np.arange(61.0) + (np.arange(61) >= 30))  # [61], one step twice the others
    with pytest.raises(ValueError, match=r"x is not evenly spaced \(steps from (?!0 )\S+ to (?!0\))\S+\); "):
        read_curves(write_npz(tmp_path / "fine.npz", sines(), x))


def test_the_rounding_allowed_a_grid_of_timestamps_is_two_ulps_of_its_largest_x(tmp_path):
    """The allowance is 2 ulps of the largest |x| (4.8e-7 at 1.7e9): a grid made from integer nanoseconds strays 1.4
    ulps and is read; one point moved by 5 ulps (1.2e-6) makes an uneven grid, refused."""
    nanoseconds = (1_700_000_000_000_000_000 + np.arange(61) * 100_000) / 1e9  # [61]
    assert read_curves(write_npz(tmp_path / "ns.npz", sines(), nanoseconds)).x_range() == (nanoseconds[0],
                                                                                           nanoseconds[-1])
    moved = np.linspace(1.7e9, 1.7e9 + 0.006, 61)  # [61]
    moved[30] += 1.2e-6
    with pytest.raises(ValueError, match="x is not evenly spaced"):
        read_curves(write_npz(tmp_path / "moved.npz", sines(), moved))


def test_a_headerless_csv_whose_first_column_is_a_10_khz_timestamp_is_refused_as_an_x_column(tmp_path):
    """Timestamps 1.7e9 + i / 1e4 beside 5 channels were read silently as 40 curves of 6 points, each starting with
    its timestamp, while the same at 1 Hz was refused: the even-rise test did not allow float64's rounding of x."""
    for rate in (1, 10_000):
        rows = np.column_stack([1.7e9 + np.arange(40) / rate, sines(5, 40).T])  # [40, 6]
        (tmp_path / f"{rate}.csv").write_text("".join(",".join(map(repr, row.tolist())) + "\n" for row in rows))
        second = "1700000001" if rate == 1 else "1700000000.0001"  # as written; :g wrote 1.7e+09 for both
        with pytest.raises(ValueError, match=re.escape(f"even steps down all 40 rows (1700000000, {second}")):
            read_curves(tmp_path / f"{rate}.csv")


def test_errors_name_timestamp_x_as_written(tmp_path):
    """x on timestamps (1.7e9 s): `:g` wrote "x[2] = 1.7e+09 follows x[1] = 1.7e+09", two values that look equal.
    A message names each value as the file holds it (shortest round-trip, no ".0" on whole numbers)."""
    x = 1.7e9 + np.arange(61) / 2  # [61]
    with pytest.raises(ValueError, match=re.escape("x[2] = 1700000000.5 follows x[1] = 1700000001; sort")):
        read_curves(write_npz(tmp_path / "shuffled.npz", sines(), x[np.r_[0, 2, 1, 3:61]]))
    with pytest.raises(ValueError, match=re.escape("x[1] = 1700000000 follows x[0] = 1700000000; each point")):
        read_curves(write_npz(tmp_path / "twice.npz", sines(), np.r_[x[0], x[:60]]))


def test_a_timestamp_column_is_named_with_its_values_as_written(tmp_path):
    """The first values of a column of timestamps, refused as an x column or named in a warning, read 1.7e+09 each
    under `:g`; they are named as the file holds them."""
    rows = np.column_stack([1.7e9 + np.arange(40) / 1e4, sines(5, 40).T])  # [40, 6]
    (tmp_path / "even.csv").write_text("".join(",".join(map(repr, row.tolist())) + "\n" for row in rows))
    with pytest.raises(ValueError, match=re.escape("(1700000000, 1700000000.0001, 1700000000.0002, ...)")):
        read_curves(tmp_path / "even.csv")
    t = 1.7e9 + np.sort(np.random.default_rng(1).uniform(0, 100, 100))  # [100], uneven
    text = "".join(f"{a},{np.sin(a)},{np.cos(a)},{np.sin(2 * a)}\n" for a in t.tolist())
    (tmp_path / "series.csv").write_text("time,a,b,c\n" + text)
    first = ", ".join(repr(float(a)) for a in t[:3])
    with pytest.warns(UserWarning, match=re.escape(f"'time' rises down all 100 rows ({first}, ...)")):
        read_curves(tmp_path / "series.csv")
    grid = np.stack([1.7e9 + np.arange(61.0), *sines(3)])  # [4, 61]: the first curve is a grid of timestamps
    with pytest.warns(UserWarning, match=re.escape("its first curve rises by even steps (1700000000, 1700000001, "
                                                   "1700000002, ...)")):
        read_curves(write_npz(tmp_path / "grid.npz", grid))


def test_timestamp_x_ranges_of_a_checkpoint_and_a_file_are_named_apart(tmp_path):
    """A model trained on x of timestamps 1.7e9..1.7e9 + 60 and scored on a file of 1.7e9..1.7e9 + 120: `:g` named
    both ranges "from 1.7e+09 to 1.7e+09"; they are named to 15 significant digits of the larger end (rounding of the
    range's middle and half-width left out: x of np.linspace(0.1, 100) read "from 0.0999999999999943 to 100")."""
    start = 1_700_000_000.25

    def spec(name: str, x: np.ndarray) -> dict:
        return {"hyper_parameters": {"spec": file_module(write_npz(tmp_path / name, sines(), x)).spec.to_dict()}}

    wide = file_module(write_npz(tmp_path / "b.npz", sines(seed=1), start + 2 * np.arange(61.0)))
    told = conversion_mismatch(spec("a.npz", start + np.arange(61.0)), wide)
    assert ("trained on curves with x from 1700000000.25 to 1700000060.25 (a step of 1), these have x from "
            "1700000000.25 to 1700000120.25 (a step of 2)") in told
    for lo, hi in ((0.1, 100), (0.01, 10), (0.001, 1000)):
        wider = file_module(write_npz(tmp_path / "d.npz", sines(seed=1), np.linspace(lo, 2 * hi, 61)))
        told = conversion_mismatch(spec("c.npz", np.linspace(lo, hi, 61)), wider)
        assert f"trained on curves with x from {lo} to {hi} (a step of" in told
        assert f"these have x from {lo} to {2 * hi} (a step of" in told


def test_a_float32_file_is_named_with_its_values_as_written(tmp_path):
    """A float32 file (torch's .numpy()) was named by its values cast to float64: x[2] = 0.10000000149011612 follows
    x[1] = 0.20000000298023224, where the file holds 0.1 and 0.2. Its values are named as their own dtype writes
    them."""
    x = np.linspace(0, 6, 61, dtype=np.float32)[np.r_[0, 2, 1, 3:61]]  # [61]
    with pytest.raises(ValueError, match=re.escape("x[2] = 0.1 follows x[1] = 0.2; sort")):
        read_curves(write_npz(tmp_path / "x32.npz", sines().astype(np.float32), x))
    grid = np.stack([np.linspace(0.1, 6.1, 61), *sines(3)]).astype(np.float32)  # [4, 61]: the first curve a grid
    with pytest.warns(UserWarning, match=re.escape("its first curve rises by even steps (0.1, 0.2, 0.3, ...)")):
        read_curves(write_npz(tmp_path / "grid32.npz", grid))


def test_a_file_s_dtype_does_not_change_which_grids_are_accepted(tmp_path):
    """x grids are checked in float64 whatever the file's dtype: a float16 np.linspace(0, 6, 61) strays from even
    steps by up to 2%, and float32 hourly timestamps by 3.6% (x rounded to multiples of 128 s), and both are refused
    as they were before messages named float32 values as written; checked in their own dtype they were accepted, and
    every float16 file warned "overflow encountered in cast" at the |value| check."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=re.escape("x is not evenly spaced (steps from 0.09766 to 0.10156)")):
            read_curves(write_npz(tmp_path / "x16.npz", sines().astype(np.float16),
                                  np.linspace(0, 6, 61).astype(np.float16)))
        hourly = (1_700_000_000 + 3600 * np.arange(61.0)).astype(np.float32)  # [61]
        with pytest.raises(ValueError, match=re.escape("x is not evenly spaced (steps from 3584 to 3712)")):
            read_curves(write_npz(tmp_path / "x32.npz", sines().astype(np.float32), hourly))
        assert read_curves(write_npz(tmp_path / "y16.npz", sines().astype(np.float16))).y.dtype == np.float64


def test_float32_timestamps_and_float16_years_are_named_in_full(tmp_path):
    """numpy's str() writes a float32 timestamp as 1.7e+09 and a float16 year as 2e+03; a whole value is named as
    the integer it is, another as its shortest decimal in its own dtype."""
    minutes = (1_700_000_000 + 60 * np.arange(61.0)).astype(np.float32)  # [61]: float32 steps are 128 s here
    with pytest.raises(ValueError, match=re.escape("x[1] = 1700000000 follows x[0] = 1700000000; each point")):
        read_curves(write_npz(tmp_path / "t32.npz", sines().astype(np.float32), minutes))
    years = np.float16(2000) + np.arange(61, dtype=np.float16)  # [61]
    with pytest.raises(ValueError, match=re.escape("x[2] = 2001 follows x[1] = 2002; sort")):
        read_curves(write_npz(tmp_path / "y16.npz", sines().astype(np.float16), years[np.r_[0, 2, 1, 3:61]]))
    assert [as_written(np.float32(v)) for v in (1_700_000_128, 0.1, -2.5)] == ["1700000128", "0.1", "-2.5"]
    assert as_written(np.float16(2000)) == "2000"


def test_values_past_the_limit_and_a_row_index_are_named_as_written(tmp_path):
    """Values beyond +-1e15 and a row index of timestamps: `:g` wrote 1.23457e+15 and 1.7e+09 for each. Both are named
    as the file holds them, and the limit as it is."""
    y = sines()
    y[3, 5] = 1234567890123456.8
    with pytest.raises(ValueError, match=re.escape("big.npz: values reach 1234567890123456.8; the model's float32 "
                                                   "arithmetic needs them within +-1000000000000000 (rescale them)")):
        read_curves(write_npz(tmp_path / "big.npz", y))
    rows = np.round(sines(10, 8) * 100)  # [10, 8]
    index = 1_700_000_000 + np.arange(10)  # [10]
    text = "".join(f"{i}," + ",".join(str(int(v)) for v in row) + "\n" for i, row in zip(index, rows))
    (tmp_path / "indexed.csv").write_text("," + ",".join(f"t{j}" for j in range(8)) + "\n" + text)
    with pytest.raises(ValueError, match=re.escape("is a row index (1700000000, 1700000001, 1700000002, ...)")):
        read_curves(tmp_path / "indexed.csv")


def test_whole_numbers_past_2_53_are_read_and_named_as_the_file_writes_them(tmp_path):
    """int64 x past 2**53 are read through float64, whose rounding an even grid of 100 Hz nanosecond timestamps (128
    ns on a 10 ms step) survives; where two x read as one, the line names the file's own integers and says to subtract
    the first. A y past 2**53 is past the model's limit, and the limit line names it as the file writes it."""
    x = 1_700_000_000_000_000_000 + 10_000_000 * np.arange(61, dtype=np.int64)  # [61], 100 Hz
    got = read_curves(write_npz(tmp_path / "hz.npz", sines(), x))
    assert got.x_range() == (float(x[0]), float(x[-1])) and got.y.shape == (40, 61)
    x = 2**53 + np.arange(61, dtype=np.int64)  # [61], x[1] reads as x[0] in float64
    with pytest.raises(ValueError, match=re.escape("wide.npz: x must increase, but x[1] = 9007199254740993 follows "
                                                   "x[0] = 9007199254740992; float64 reads both as 9007199254740992; "
                                                   "past 2**53 = 9007199254740992 float64 runs whole numbers together: "
                                                   "subtract the first, or count in larger units")):
        read_curves(write_npz(tmp_path / "wide.npz", sines(), x))
    y = np.round(sines() * 100).astype(np.int64)  # [40, 61]
    for value in (10**16, 10**16 + 1, 2**60 + 2**8):
        y[3, 5] = value
        np.save(tmp_path / "big.npy", y)
        with pytest.raises(ValueError, match=re.escape(f"big.npy: values reach {value}; the model's")):
            read_curves(tmp_path / "big.npy")
    text = "\n".join(",".join(str(v) for v in row) for row in y[:5]).replace(str(2**60 + 2**8), "9007199254740993")
    (tmp_path / "big.csv").write_text(text + "\n")
    with pytest.raises(ValueError, match=re.escape("big.csv: values reach 9007199254740992; the model's")):
        read_curves(tmp_path / "big.csv")


def test_split_files_of_timestamps_are_one_grid_within_rounding_of_their_step(tmp_path):
    """Nanosecond timestamps a second apart in train and test files are one grid where they agree within 0.1 % of a
    step (512 ns later: float64's rounding there), and other grids beyond it (10 ms later: 1 % of a step)."""
    x = 1_700_000_000_000_000_000 + 1_000_000_000 * np.arange(61, dtype=np.int64)  # [61]
    write_npz(tmp_path / "train.npz", sines(30, seed=1), x)
    got = read_curves(tmp_path / "train.npz")
    assert got.x_range() == (float(x[0]), float(x[-1]))
    write_npz(tmp_path / "test.npz", sines(6, seed=2), x + 512)
    assert file_module(tmp_path).pool_sizes() == {"train": 30, "test": 6}
    write_npz(tmp_path / "test.npz", sines(6, seed=2), x + 10_000_000)
    with pytest.raises(ValueError, match="test.npz: its x differs from that of train.npz"):
        file_module(tmp_path).spec


def test_the_least_int64_is_refused_as_a_value_past_the_limit(tmp_path):
    """An int64 file holding -2**63 (float64 holds it exactly) raised a bare OverflowError naming no file, where its
    value was named in one line as past the model's limit."""
    y = np.round(sines() * 100).astype(np.int64)  # [40, 61]
    y[3, 5] = np.iinfo(np.int64).min
    np.save(tmp_path / "least.npy", y)
    with pytest.raises(ValueError, match=re.escape("least.npy: values reach 9223372036854775808; the model's")):
        read_curves(tmp_path / "least.npy")


def test_split_files_grids_are_one_grid_within_rounding_of_their_step(tmp_path):
    """Split files' x were one grid within np.allclose's 1e-5 of their size (float seconds of 1.7e9 an hour apart).
    Grids within EVEN_TOLERANCE of their step are one grid now (int64 0, 10, ... and np.arange(61) * 0.1 * 100)."""
    write_npz(tmp_path / "train.npz", sines(30, seed=1), np.arange(61, dtype=np.int64) * 10)
    write_npz(tmp_path / "test.npz", sines(6, seed=2), np.arange(61) * 0.1 * 100)  # [61], strays by 1e-13
    assert file_module(tmp_path).pool_sizes() == {"train": 30, "test": 6}
    seconds = 1.7e9 + 60.0 * np.arange(61)  # [61], a minute apart
    write_npz(tmp_path / "train.npz", sines(30, seed=1), seconds)
    write_npz(tmp_path / "test.npz", sines(6, seed=2), seconds + 3600)  # an hour later
    with pytest.raises(ValueError, match="test.npz: its x differs from that of train.npz"):
        file_module(tmp_path).spec
    write_npz(tmp_path / "test.npz", sines(6, seed=2), seconds + 0.01)  # a hundredth of a second: 1/6000 of a step
    assert file_module(tmp_path).pool_sizes() == {"train": 30, "test": 6}
