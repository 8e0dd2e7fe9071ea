"""`pixeltransformer predict`'s options: what PredictOptions.check refuses before a model is loaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from pixeltransformer.predict import PredictOptions, one_device


@pytest.mark.parametrize("options, message", [
    (dict(context="[[0, 0, 1]]"), None),
    (dict(input="{w}/in.png", mask="{w}/mask.png"), None),
    (dict(), "predict needs --input (a file to observe) or --context (S itself)"),
    (dict(context="[[0, 0, 1]]", mask="{w}/mask.png"), "--mask needs --input (the signal the mask observes)"),
    # a mask alone was told to give --input or --context, though a mask takes no --context
    (dict(mask="{w}/mask.png"), "--mask needs --input (the signal the mask observes)"),
    (dict(input="{w}/in.png", mask="{w}/mask.png", context="[[0, 0, 1]]"),
     "--mask and --context exclude each other: --mask observes the --input where it is white, --context gives S "
     "itself; pass one"),
    (dict(input="{w}/in.png", mask="{w}/mask.png", num_context=32),
     "--num_context draws S at random from the --input, --mask gives S instead (the white pixels): pass one"),
    (dict(context="[[0, 0, 1]]", num_context=32),
     "--num_context draws S at random from the --input, --context gives S instead (its rows): pass one"),
    (dict(input="{w}/in.png", num_context=32), None),
    (dict(input="{w}/in.png", temperature=0.0), None),  # a greedy completion
    # each was told as "need --num_context >= 1, num_samples >= 0, n_autoregressive >= 0; got 0, 3, None"
    (dict(input="{w}/in.png", num_context=0),
     "--num_context must be >= 1 (the samples of S drawn at random from the --input), got 0"),
    (dict(input="{w}/in.png", num_samples=-1), "--num_samples must be >= 0 (0: the mean only), got -1"),
    (dict(input="{w}/in.png", n_autoregressive=-1),
     "--n_autoregressive must be >= 0 (0: the mean at every point; null: every point drawn), got -1"),
    (dict(input="{w}/in.png", temperature=-0.5),
     "--temperature must be a finite number >= 0 (0: the most likely bin's mean at each step), got -0.5"),
    (dict(input="{w}/in.png", temperature=float("nan")),
     "--temperature must be a finite number >= 0 (0: the most likely bin's mean at each step), got nan"),
    (dict(input="{w}/in.png", seed=2**64),
     "seed must lie in [-9223344366820, 9223344366820], got 18446744073709551616"),
])
def test_predict_options_refuse_conflicting_or_bad_options(tmp_path, options, message):
    (tmp_path / "in.png").write_bytes(b"")
    (tmp_path / "mask.png").write_bytes(b"")
    opts = PredictOptions(**{k: v.format(w=tmp_path) if isinstance(v, str) else v for k, v in options.items()})
    if message is None:
        opts.check()
        return
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        opts.check()


@pytest.mark.parametrize("trainer, asked, narrowed", [
    (dict(devices=1, strategy="auto"), None, dict(devices=1, strategy="auto")),
    (dict(devices="1,", strategy="single_device"), None, dict(devices="1,", strategy="single_device")),
    (dict(devices=[3], strategy="auto"), None, dict(devices=[3], strategy="auto")),
    (dict(devices=2, strategy="ddp"), "2 devices, strategy ddp", dict(devices=1, strategy="auto")),  # ddp.yaml
    (dict(devices=-1, strategy="ddp"), "every device, strategy ddp", dict(devices=1, strategy="auto")),  # gpu.yaml
    (dict(devices="auto", accelerator="cpu"), None, dict(devices=1)),  # one device on a CPU: nothing to say
    (dict(devices="1,2", num_nodes=2), "devices 1,2, 2 nodes", dict(devices=[1], num_nodes=1)),  # the first chosen
    (dict(devices=[2, 3]), "devices [2, 3]", dict(devices=[2])),
    (dict(devices=1, strategy="ddp_spawn"), "strategy ddp_spawn", dict(devices=1, strategy="auto")),
])
def test_predict_runs_on_one_device(trainer, asked, narrowed, monkeypatch):
    from jsonargparse import Namespace

    import pixeltransformer.predict as predict

    monkeypatch.setattr(predict, "_accelerator_count", lambda accelerator: 1 if accelerator == "cpu" else 8)
    cfg = Namespace(**trainer)
    assert one_device(cfg) == asked
    assert {k: cfg.get(k) for k in narrowed} == narrowed


@pytest.mark.parametrize("text, message", [
    ("[[0.1, 0.2, true]]", "--context: every entry must be a number, got true in row 1"),
    ("[[0.1, 0.2, 0.5], [false, 0.2, 0.5]]", "--context: every entry must be a number, got false in row 2"),
    ('[[0.1, null, 0.5]]', "--context: every entry must be a number, got null in row 1"),
    ('[[0.1, "0.2", 0.5]]', '--context: every entry must be a number, got "0.2" in row 1'),
    ("[[0.1, 0.2, 0.5], [0.3, 0.2, NaN]]", "--context: row 2 holds NaN: positions and values must be finite numbers"),
    ("[[1e400, 0.2, 0.5]]", "--context: row 1 holds Infinity: positions and values must be finite numbers"),
    ("[[0.1, 0.2, 0.5], [0.3, 0.2, 0.1], [0.1, 0.2, 0.9]]",
     "--context: rows 1 and 3 give position [0.1, 0.2] two values, [0.5] and [0.9]: give one value a position"),
    # as written: to 10 digits the position read 1700000000 and the values 0.1234567891 and 0.1234567892
    ("[[1700000000.25, 0.5, 0.12345678912], [1700000000.25, 0.5, 0.12345678915]]",
     "--context: rows 1 and 2 give position [1700000000.25, 0.5] two values, [0.12345678912] and [0.12345678915]: "
     "give one value a position"),
])
def test_context_rows_of_other_than_numbers_or_two_values_at_a_position_are_refused(text, message):
    """JSON's true and false were read as 1 and 0, and two values at one position were both taken, without a word; a
    NaN or Infinity (Python's JSON reads them, and a number beyond float64) was refused without naming its row."""
    from pixeltransformer.predict import parse_rows

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_rows(text, 3, "[y, x, value]", 2)


def test_a_context_row_given_twice_counts_once(tmp_path):
    import torch

    from pixeltransformer.predict import parse_rows, prediction_item
    from pixeltransformer.signal import SignalSpec

    (tmp_path / "s.json").write_text("[[0.1, 0.2, 0.5], [-0.0, 0.2, 0.9], [0.1, 0.2, 0.5], [0, 0.2, 0.9]]")
    rows, keep, source = parse_rows(str(tmp_path / "s.json"), 3, "[y, x, value]", 2)
    assert source == str(tmp_path / "s.json")
    assert rows[keep].tolist() == [[0.1, 0.2, 0.5], [-0.0, 0.2, 0.9]] and len(rows) == 4  # [K', 3]; rows as given
    item = prediction_item(_domain("images"), SignalSpec(**DIGITS_SPEC), PredictOptions(context=f"{tmp_path}/s.json"))
    assert torch.equal(item["ctx_pos"], torch.tensor([[0.1, 0.2], [0.0, 0.2]]))  # [K', 2]
    assert torch.equal(item["ctx_val"], torch.tensor([[0.5], [0.9]]))  # [K', 1]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_a_context_file_in_utf_16_or_with_a_byte_order_mark_is_read(tmp_path, encoding):
    """Windows editors save these: a UTF-16 file failed with the codec's words and no file named, one with a UTF-8
    byte-order mark as not valid JSON."""
    from pixeltransformer.predict import parse_rows

    (tmp_path / "s.json").write_text("[[0.1, 0.2, 0.5]]", encoding=encoding)
    assert parse_rows(str(tmp_path / "s.json"), 3, "[y, x, value]", 2)[0].tolist() == [[0.1, 0.2, 0.5]]
    (tmp_path / "s.json").write_text("[[0.1, 0.2, 0.5]] \u00e9", encoding="latin-1")
    with pytest.raises(ValueError, match=rf"^{tmp_path}/s.json: not UTF-8 text \(.*\): save it as UTF-8$"):
        parse_rows(str(tmp_path / "s.json"), 3, "[y, x, value]", 2)


SDF_SPEC = dict(domain="sdf", dataset="procedural", grid_shape=(32, 32, 32), val_dims=1, val_range=(-0.1, 0.1),
                num_bins=150)
DIGITS_SPEC = dict(domain="images", dataset="digits", grid_shape=(8, 8), val_dims=1, val_range=(0.0, 1.0),
                   num_bins=32)
VIDEO_SPEC = dict(domain="video", dataset="beach", grid_shape=(5, 12, 16), val_dims=3, val_range=(0.0, 1.0),
                  num_bins=256)


def _domain(name: str):
    from domains.images.domain import ImageDomain
    from domains.sdf.domain import SdfDomain
    from domains.video.domain import VideoDomain

    return {"sdf": SdfDomain, "images": ImageDomain, "video": VideoDomain}[name]()


@pytest.mark.parametrize("spec, context, message", [
    (DIGITS_SPEC, "[[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0.5], [0.5, 1.5, 0.5], [2, 0, 0.5]]",
     "--context: positions must lie in [-1, 1], got 1.5 in row 4"),
    (DIGITS_SPEC, "[[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 1.2], [0.5, 0, -3]]",
     "--context: values must lie in [0, 1], got 1.2 in row 3"),
    (SDF_SPEC, "[[0, 0, 0, 0.01], [0, 0, 0, 0.01], [0, -1.25, 0, 0]]",
     "--context: positions must lie in [-1, 1], got -1.25 in row 3"),
    # as written, not to 3 digits: "got 1 in row 2" of [-1, 1], "got -1.23e+20" (polynomial x had 15 digits)
    (DIGITS_SPEC, "[[0, 0, 0.5], [0, 1.00001, 0.5]]",
     "--context: positions must lie in [-1, 1], got 1.00001 in row 2"),
    (DIGITS_SPEC, "[[0, 0, 1.0004]]", "--context: values must lie in [0, 1], got 1.0004 in row 1"),
    (dict(domain="polynomial", dataset="poly", grid_shape=(64,), val_dims=1, val_range=(-3.0, 3.0)),
     "[[0.1, -1.23456e20]]", "--context: y must lie within +-1000000000000000 (beyond that the model's float32 "
     "arithmetic overflows), got -1.23456e+20 in row 1"),
    (dict(domain="polynomial", dataset="poly", grid_shape=(64,), val_dims=1, val_range=(-3.0, 3.0), pos_scale=15.0,
          pos_offset=2005.0), "[[1990, 14], [1990, 14], [2005, 1], [2030, 2], [1980, 3]]",
     "--context: x must lie in [1990, 2020] (the data's x range), got 2030 in row 4"),
    (dict(domain="polynomial", dataset="file", grid_shape=(61,), val_dims=1, val_range=(-3.0, 3.0), pos_scale=30.0,
          pos_offset=1_700_000_030.25), "[[1700000000.25, 1], [1700000000.25, 1], [1700000070, 2]]",
     "--context: x must lie in [1700000000.25, 1700000060.25] (the data's x range), got 1700000070 in row 3"),
    (dict(domain="polynomial", dataset="file", grid_shape=(61,), val_dims=1, val_range=(-3.0, 3.0), pos_scale=30.0,
          pos_offset=1_700_000_030.25), "[[1700000000.25, 1], [1700000000.25, 1], [1700000060.26, 2]]",
     "--context: x must lie in [1700000000.25, 1700000060.25] (the data's x range), got 1700000060.26 in row 3"),
    (dict(domain="polynomial", dataset="file", grid_shape=(61,), val_dims=1, val_range=(-3.0, 3.0), pos_scale=50.0,
          pos_offset=10_050.000001), "[[10000.000001, 1], [10000.000001, 1], [10200, 2]]",
     "--context: x must lie in [10000.000001, 10100.000001] (the data's x range), got 10200 in row 3"),
    (dict(domain="polynomial", dataset="poly", grid_shape=(64,), val_dims=1, val_range=(-3.0, 3.0)),
     "[[0.1, 3], [0.1, 3], [0.3, -1e20]]",
     "--context: y must lie within +-1000000000000000 (beyond that the model's float32 arithmetic overflows), got "
     "-1e+20 in row 3"),
])
def test_a_context_row_out_of_range_is_named_as_the_user_numbers_it(spec, context, message):
    """`values must lie in [0, 1], got [0.5, 1.2]` named neither the row nor, of a wide range, the value at fault;
    and a repeated row, dropped before the range check, would have shifted a row number counted after it."""
    from domains.polynomial.domain import PolynomialDomain
    from pixeltransformer.predict import prediction_item
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec(**spec)
    domain = PolynomialDomain() if spec.domain == "polynomial" else _domain(spec.domain)
    domain.spec = spec
    with pytest.raises(ValueError, match=f"^{re.escape(message)}($|; )"):  # then a grid domain's row units
        prediction_item(domain, spec, PredictOptions(context=context))


def test_a_domain_whose_context_from_rows_drops_a_row_is_named():
    """The rows kept (a repeated row counts once) were picked out of the domain's rows by their place in the input: a
    domain that returned fewer rows failed with an IndexError, or kept other rows than the user's."""
    from domains.polynomial.domain import PolynomialDomain
    from pixeltransformer.predict import prediction_item
    from pixeltransformer.signal import SignalSpec

    class Dropping(PolynomialDomain):
        def context_from_rows(self, rows, spec, source):
            pos, val = super().context_from_rows(rows, spec, source)  # [K, P], [K, V]
            return pos[1:], val[1:]

    spec = SignalSpec(domain="polynomial", dataset="poly", grid_shape=(64,), val_dims=1, val_range=(-3.0, 3.0))
    domain = Dropping()
    domain.spec = spec
    with pytest.raises(ValueError, match=r"^Dropping\.context_from_rows returned 2 rows for the 3 of --context: it "
                                         r"must return one row per row given, in their order$"):
        prediction_item(domain, spec, PredictOptions(context="[[0.1, 1], [0.2, 2], [0.3, 0]]"))


@pytest.mark.parametrize("spec, resolution, message", [
    (SDF_SPEC, 100000, "--resolution 100000 means 1e+15 points (a 100000×100000×100000 grid), whose completion needs "
                       "at least 3.66 EiB: more than the 8 GiB of memory available now; at most --resolution 126"),
    (DIGITS_SPEC, 200000, "--resolution 200000 means 4e+10 points (a 200000×200000 grid), whose completion needs at "
                          "least 33 TiB: more than the 8 GiB of memory available now; at most --resolution 3075"),
    (VIDEO_SPEC, 5000, "--resolution 5000 means 166,675,000 points (a 5×5000×6667 grid), whose completion needs at "
                       "least 2.02 TiB: more than the 8 GiB of memory available now; at most --resolution 310"),
])
def test_a_resolution_too_large_for_the_machine_is_refused_in_one_line(spec, resolution, message, monkeypatch):
    """--resolution 100000 on an SDF model asked for 1e15 grid points: the completion failed after the model had
    loaded, with Lightning's traceback ending in "DefaultCPUAllocator: can't allocate memory". Now the options are
    refused before the input is read or anything written, naming the points and the largest resolution that fits."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    # an SDF point: 4 bytes x (3 positions + 150 bins x 3 + the mean's 150 bins x 4 + 1 value)
    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    spec = SignalSpec(**spec)
    context = "[[" + ", ".join(["0"] * (spec.pos_dims + spec.val_dims)) + "]]"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        predict.prediction_item(_domain(spec.domain), spec, PredictOptions(context=context, resolution=resolution))
    most = int(message.rsplit(" ", 1)[1])
    predict.check_resolution(_domain(spec.domain), spec, PredictOptions(context=context, resolution=most))
    with pytest.raises(ValueError, match=f"at most --resolution {most}$"):
        predict.check_resolution(_domain(spec.domain), spec, PredictOptions(context=context, resolution=most + 1))


def test_samples_too_many_for_the_machine_are_refused_naming_num_samples(monkeypatch):
    """`predict --num_samples 1000000000` was refused only once the model had loaded, as "grid_shape (8, 8) means 64
    points, whose completion of 1 signal needs ...": a name of the Python API, and no option to change."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    # a point: 4 bytes x (2 positions + 32 bins x 3 + 1 value) + 29 bytes a sample's chain (sample_bytes)
    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)
    spec = SignalSpec(**DIGITS_SPEC)
    message = ("--num_samples 1000000000 on 64 points (a 8×8 grid) need at least 1.69 TiB: more than the "
               "8 GiB of memory available now; at most --num_samples 4628183")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        predict.prediction_item(_domain("images"), spec, PredictOptions(context="[[0, 0, 0]]", num_samples=10**9))
    predict.check_resolution(_domain("images"), spec, PredictOptions(context="[[0, 0, 0]]", num_samples=4628183))
    with pytest.raises(ValueError, match=r"^--num_samples 1000 on 4,194,304 points \(a 2048×2048 grid\) need .*; at "
                                         r"most --num_samples 56$"):  # the resolution alone fits, with 3 samples
        predict.check_resolution(_domain("images"), spec, PredictOptions(context="[[0, 0, 0]]", num_samples=1000,
                                                                          resolution=2048))


MEMINFO = ("MemTotal:       24683792 kB\nMemFree:        20000000 kB\nMemAvailable:   {available} kB\n"
           "SwapTotal:      {swap} kB\nSwapFree:       {swap} kB\n")  # /proc/meminfo's lines


def test_a_resolution_under_the_machine_s_total_but_over_what_is_available_is_refused(monkeypatch, tmp_path):
    """An SDF model's `predict --resolution 175` on a machine of 23.5 GiB needs at least 21 GiB, less than the
    machine's total, with which it was compared: it was let through to fail in torch's allocator after the model had
    loaded, where the processes running (this one's model among them) held some of it. The check compares with the
    memory available now (MemAvailable and free swap), names it, and keeps what fits in it."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(MEMINFO.format(available=20132659, swap=0))  # 19.2 GiB available of 23.5 GiB
    monkeypatch.setattr(memory, "host_memory", lambda: 24683792 * 1024)
    monkeypatch.setattr(memory, "MEMINFO", meminfo, raising=False)
    sdf = SignalSpec(**SDF_SPEC)
    options = PredictOptions(context="[[0, 0, 0, 0]]", resolution=175)
    message = ("--resolution 175 means 5,359,375 points (a 175×175×175 grid), whose completion needs at least 21 "
               "GiB: more than the 19.2 GiB of memory available now; at most --resolution 169")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        predict.check_resolution(_domain("sdf"), sdf, options)
    predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=169))
    predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=128))
    meminfo.write_text(MEMINFO.format(available=20132659, swap=8 * 2**20))  # free swap counts: 27.2 GiB
    predict.check_resolution(_domain("sdf"), sdf, options)
    meminfo.write_text(MEMINFO.format(available=24683792, swap=0))  # all of it available: the total's answer
    predict.check_resolution(_domain("sdf"), sdf, options)


def test_the_memory_available_is_read_where_the_system_reports_it_else_the_machine_s_total(monkeypatch, tmp_path):
    """MemAvailable and free swap where /proc/meminfo has them; the machine's total where it does not (macOS, a
    kernel before 3.14), named as such."""
    import pixeltransformer.memory as memory

    meminfo = tmp_path / "meminfo"
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    meminfo.write_text(MEMINFO.format(available=1024, swap=2048))
    assert memory.available_memory() == 3 * 2**20
    assert memory.memory_at_hand() == (3 * 2**20, "the 3 MiB of memory available now")
    meminfo.write_text("MemTotal:       24683792 kB\nMemFree:        20000000 kB\n")
    assert memory.available_memory() is None
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "none")
    assert memory.available_memory() is None
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    monkeypatch.setattr(memory, "host_memory", lambda: 8 * 2**30)
    assert memory.memory_at_hand() == (8 * 2**30, "this machine's 8 GiB of memory")


def test_largest_fitting_searches_from_its_low_end():
    """The most samples that fit were searched as largest_fitting(n + 1, lambda s: need(s - 1), memory) - 1 (0 is a
    number of samples, not of a resolution); low=0 says so, with the same answers."""
    from pixeltransformer.memory import largest_fitting

    for limit in (1, 2, 3, 10, 1000):
        for memory in (0, 5, 40, 10**6):
            need = lambda s: 7 * s + 3  # noqa: E731
            old = largest_fitting(limit + 1, lambda s: need(s - 1), memory) - 1
            assert largest_fitting(limit, need, memory, low=0) == old
    assert largest_fitting(100, lambda r: r * r, 50) == 7 and largest_fitting(100, lambda r: r * r, 1) == 1


def test_a_shortfall_is_none_where_the_need_fits_and_else_names_both_and_the_most_that_fits(monkeypatch):
    """The memory refusals' one check (memory.shortfall): a need of exactly the memory at hand fits; one byte more
    is named with the memory at hand's words, the most that fits searched in that memory, a machine's processes
    sharing it."""
    import pixeltransformer.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)
    assert memory.shortfall(2**30) is None
    short = memory.shortfall(2**30 + 1)
    assert (short.memory, short.words) == (2**30, "1 GiB: more than the 1 GiB of memory available now")
    assert short.most(10**6, lambda r: r * r) == 2**15 and short.most(10, lambda s: 2**31 * s, low=0) == 0
    assert memory.shortfall(2**29 + 1, ranks=2).words == (
        "512 MiB: more than 512 MiB, the share of each of this machine's 2 processes in the 1 GiB of memory available "
        "now")


def test_a_large_resolution_that_fits_is_kept_and_memory_unknown_is_assumed(monkeypatch):
    """An SDF model at 128 (2.1 million points, 8.2 GiB at least) and a picture at 256 go on; a
    system that does not report its memory is taken to have 1 TiB, which still refuses a typo's grid."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    assert memory.host_memory() is None or memory.host_memory() > 2**20  # Linux and macOS say; Windows does not
    monkeypatch.setattr(memory, "available_memory", lambda: 16 * 2**30)
    sdf, digits = SignalSpec(**SDF_SPEC), SignalSpec(**DIGITS_SPEC)
    predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=128))
    predict.check_resolution(_domain("images"), digits, PredictOptions(context="[[0, 0, 0]]", resolution=256))
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    monkeypatch.setattr(memory, "host_memory", lambda: None)
    predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=128))
    with pytest.raises(ValueError, match=r"^--resolution 100000 means 1e\+15 points .*: more than the 1 TiB of memory "
                                         r"assumed where the system does not report it; at most --resolution 638$"):
        predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=100000))


@pytest.mark.parametrize("given", ["1.5", "many"])
def test_an_option_of_an_int_or_null_given_another_value_says_what_it_takes(given):
    """`predict --num_context 1.5` ended in `Parser key "num_context": Does not validate against any of the Union
    subtypes`, which named neither the type it takes nor the value given."""
    from jsonargparse import ArgumentParser

    from pixeltransformer.errors import parse_error_line

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--num_context", type=int | None)
    with pytest.raises(Exception) as err:
        parser.parse_args(["--num_context", given])
    assert parse_error_line(str(err.value)) == f"num_context: expected int or null, got {given}"
    # names are members too: each is named, not left out
    from typing import Literal

    parser.add_argument("--devices", type=int | Literal["auto", "max"] | None)
    with pytest.raises(Exception) as err:
        parser.parse_args(["--devices", given])
    assert parse_error_line(str(err.value)) == f"devices: expected int or 'auto' or 'max' or null, got {given}"


def test_a_context_folder_is_named_in_one_line(tmp_path):
    """`make sample CONTEXT=points.json` where points.json is a folder ended in `[Errno 21] Is a directory: ...`."""
    from pixeltransformer.predict import parse_rows

    (tmp_path / "points.json").mkdir()
    with pytest.raises(ValueError, match=rf"^--context {tmp_path}/points.json is a folder: expected a .json file or "
                                         r"JSON rows$"):
        parse_rows(str(tmp_path / "points.json"), 3, "[y, x, value]", 2)
    # a folder, or a file, whose name has no .json was read as inline rows: "--context: not valid JSON (Expecting value
    # at line 1 column 1)"
    (tmp_path / "points").mkdir()
    with pytest.raises(ValueError, match=rf"^--context {tmp_path}/points is a folder: expected a .json file or JSON "
                                         r"rows$"):
        parse_rows(str(tmp_path / "points"), 3, "[y, x, value]", 2)
    (tmp_path / "points.txt").write_text("[[0.1, 0.2, 0.5]]")
    with pytest.raises(ValueError, match=rf"^--context {tmp_path}/points.txt is a file, but only a .json file is read "
                                         r"\(other text is taken for JSON rows\): save its rows as points.json$"):
        parse_rows(str(tmp_path / "points.txt"), 3, "[y, x, value]", 2)


def test_a_sigterm_before_the_prediction_starts_stops_it_and_gives_lightning_its_handler_back(tmp_path, capfd):
    """A SIGTERM that came after Lightning's handlers and before the writer's was noted by Lightning alone, and
    the prediction ran to its end with exit 0. It now stops at the start; the handler before the writer's is put back,
    so that a second SIGTERM during Lightning's teardown does not stop that too."""
    import signal
    from types import SimpleNamespace

    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from pixeltransformer.predict import PredictionWriter, PredictOptions

    def lightnings(signum, frame) -> None:
        pass

    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lightnings)
    try:
        writer = PredictionWriter(PredictOptions(context="[[0.5, 0.5, 0.1]]", out=str(tmp_path / "out")), tmp_path)
        with pytest.raises(SIGTERMException) as stopped:
            writer.on_predict_start(SimpleNamespace(received_sigterm=True), None)
        assert stopped.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is lightnings
    finally:
        signal.signal(signal.SIGTERM, before)
    assert capfd.readouterr().err == "[predict] SIGTERM: stopped; nothing was written\n"
    assert not (tmp_path / "out").exists()


def test_the_resolution_help_names_each_domains_default_grid():
    """--help said the default was the model's grid, but a polynomial is completed on 64 points (its model's grid is
    the data's 1024) and --resolution sizes a video's shorter side, not every axis."""
    import domains.polynomial.domain as polynomial
    import domains.video.domain as video
    from types import SimpleNamespace

    help_text = " ".join(PredictOptions.__doc__.split("resolution:")[1].split("seed:")[0].split())
    poly_spec = SimpleNamespace(grid_shape=(1024,), pos_dims=1)  # the data's grid
    points = polynomial.PolynomialDomain().predict_grid(poly_spec, None)[0]  # [G]
    assert points != poly_spec.grid_shape[0] and f"polynomials: {points} points" in help_text
    clip = SimpleNamespace(grid_shape=(5, 8, 12), pos_dims=3)  # [T, H, W]
    assert video.VideoDomain().predict_grid(clip, 4) == (5, 4, 6)  # the shorter side, frames unchanged
    assert "(default: the model's grid; polynomials: 64 points); for videos, the frames' shorter side, their number " \
        "unchanged" in help_text


def test_the_help_names_null_not_none_for_an_option_that_takes_it():
    """--help said `--n_autoregressive` takes None for every value; the command line refused it ("n_autoregressive:
    expected int or null, got None"): it is null there."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(PredictOptions, "opts")
    args, checked = PredictOptions.__doc__.split("Args:")[1], set()
    for name, text in re.findall(r"^ {8}(\w+): (.*?)(?=^ {8}\w+: |\Z)", args, re.M | re.S):  # each option's help
        for word in re.findall(r"\((\w+): ", " ".join(text.split())):  # "(null: all)": the value named
            if word in ("null", "None", "0"):
                assert parser.parse_args([f"--opts.{name}", word]).opts[name] in (None, 0), (name, word)
                checked.add(name)
    assert {"num_samples", "n_autoregressive", "temperature"} <= checked


@pytest.mark.parametrize("argv, key, got, spelled", [
    (["predict", "--temperature", "inf"], "temperature", "inf", ["predict", "--temperature", ".inf"]),
    (["predict", "--temperature=NaN"], "temperature", "NaN", ["predict", "--temperature=.nan"]),
    (["predict", "--temperature=-Infinity"], "temperature", "-Infinity", ["predict", "--temperature=-.inf"]),
    (["test", "--trainer.callbacks.temperature=inf"], "trainer.callbacks.init_args.temperature", "inf",
     ["test", "--trainer.callbacks.temperature=.inf"]),
    (["predict", "--temperature", "-inf", "--seed", "1"], "--temperature", "-inf",
     ["predict", "--temperature=-.inf", "--seed", "1"]),  # argparse took -inf for an option
    (["predict", "--temperature", "-1e-3"], "--temperature", "-1e-3", ["predict", "--temperature=-1e-3"]),
    (["predict", "--temperature", "abc"], "temperature", "abc", None),  # not a number: jsonargparse's words stand
    (["predict", "--run_name", "inf"], "temperature", "inf", None),  # another option's value
    (["predict", "--config", "mine.yaml"], "temperature", "inf", None),  # a config file's value: named, not rewritten
])
def test_python_spellings_of_infinity_and_nan_reach_the_option_check(argv, key, got, spelled):
    """`predict --temperature inf` ended in `Parser key "temperature": Expected a <class 'float'>. Got value: inf`:
    YAML, which reads the options, takes inf and nan for text, though .inf passed and met the option's own check,
    "--temperature must be a finite number >= 0 (...)". The command line is read again with YAML's spelling."""
    from pixeltransformer.setting_sources import yaml_spelled

    assert yaml_spelled(argv, key, got) == spelled


def test_a_config_file_value_of_inf_is_named_with_yaml_spelling(tmp_path, monkeypatch, capsys):
    """A config file's `lr: inf` is YAML's text "inf", not a number; the command line is not read again for it (the
    value is the file's), so the line names the file, the option and YAML's spelling, .inf."""
    from pathlib import Path

    import pixeltransformer.cli as cli
    from pixeltransformer.errors import InputExit

    monkeypatch.setattr(cli, "set_flushing", lambda on: False)  # this process's modes stay as they are
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: None)
    mine = tmp_path / "mine.yaml"
    mine.write_text("model:\n  optim:\n    lr: inf\n")
    config = Path(__file__).resolve().parents[2] / "configs" / "polynomial.yaml"
    monkeypatch.setattr("sys.argv", ["pixeltransformer", "fit", "--config", str(config), "--config", str(mine),
                                     "--run_root", str(tmp_path / "runs")])
    with pytest.raises(InputExit):
        cli.cli_main()
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {mine}: model.optim.lr: YAML reads inf as text, not a number: write .inf "
        "(options: pixeltransformer fit --help)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("given", ["None", "lots"])
def test_a_callback_option_of_an_int_or_null_given_another_value_says_what_it_takes(given):
    """`make eval ARGS="--trainer.callbacks.max_items=None"` (the help said "None: all") ended in
    `trainer.callbacks.init_args.max_items: Does not validate against any of the Union subtypes (ImageEvaluation)`,
    which named neither the type it takes nor the value given."""
    from jsonargparse import ArgumentParser
    from lightning.pytorch.callbacks import Callback

    from pixeltransformer.errors import parse_error_line

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--callbacks", type=list[Callback] | Callback | None)
    with pytest.raises(Exception) as err:
        parser.parse_args(["--callbacks+=pixeltransformer.evaluation.SweepEvaluation",
                           f"--callbacks.max_items={given}"])
    assert parse_error_line(str(err.value)) == (f"callbacks.init_args.max_items: expected int or null, got {given} "
                                                "(SweepEvaluation)")


def test_a_containers_memory_limit_bounds_the_memory_available(monkeypatch, tmp_path):
    """Inside a container, /proc/meminfo reports the host's memory: a completion the host had room for but the
    container's memory limit had not was let through, to be killed for memory. What is left under the tightest
    cgroup limit (v2 memory.max less memory.current, v1 memory.limit_in_bytes less memory.usage_in_bytes, in this
    process's group or one above it) is used where it is less, and named; without a limit nothing changes."""
    import pixeltransformer.memory as memory

    meminfo, own, cgroups = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "sys"
    meminfo.write_text(MEMINFO.format(available=64 * 2**20, swap=0))  # the host's 64 GiB
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "OWN_CGROUPS", own, raising=False)
    monkeypatch.setattr(memory, "CGROUPS", cgroups, raising=False)
    host = (64 * 2**30, "the 64 GiB of memory available now")
    assert memory.memory_at_hand() == host  # no /proc/self/cgroup (not Linux)
    own.write_text("0::/app\n")
    memory.memory_groups.cache_clear()  # another process's groups
    group = cgroups / "app"
    group.mkdir(parents=True)
    assert memory.memory_at_hand() == host  # no memory controller files
    (group / "memory.max").write_text("max\n")
    (group / "memory.current").write_text(f"{2**30}\n")
    assert memory.memory_at_hand() == host  # no limit
    (group / "memory.max").write_text(f"{4 * 2**30}\n")
    left = 4 * 2**30 - int(2**30 * 0.8)
    (group / "memory.current").write_text(f"{int(2**30 * 0.8)}\n")
    assert memory.memory_at_hand() == (left, "the 3.2 GiB left of this container's 4 GiB memory limit")
    assert memory.memory_at_hand(ranks=2) == (left // 2, "1.6 GiB, the share of each of this machine's 2 processes "
                                              "in the 3.2 GiB left of this container's 4 GiB memory limit")
    (cgroups / "memory.max").write_text(f"{2 * 2**30}\n")  # the group above binds tighter
    (cgroups / "memory.current").write_text(f"{2**30}\n")
    assert memory.memory_at_hand() == (2**30, "the 1 GiB left of this container's 2 GiB memory limit")
    (group / "memory.max").write_text(f"{128 * 2**30}\n")  # above the host's: the host's answer
    (cgroups / "memory.max").unlink()
    assert memory.memory_at_hand() == host
    _cgroup_v1(own, cgroups, 8 * 2**30, 2 * 2**30)
    assert memory.memory_at_hand() == (6 * 2**30, "the 6 GiB left of this container's 8 GiB memory limit")


def _cgroup_v1(own: Path, cgroups: Path, limit: int, used: int) -> Path:
    """This process moved into the cgroup v1 group /docker/x of a ``limit`` using ``used`` bytes (another process's
    groups: the cached list cleared); the group's folder."""
    import pixeltransformer.memory as memory

    own.write_text("4:memory:/docker/x\n0::/\n")
    memory.memory_groups.cache_clear()
    v1 = cgroups / "memory" / "docker" / "x"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{used}\n")
    return v1


def _container(monkeypatch, tmp_path, limit: int, used: int) -> tuple[Path, Path, Path]:
    """A host of 64 GiB available, this process in the cgroup v2 group /app of a ``limit`` using ``used`` bytes:
    /proc/self/cgroup, the cgroup root and the group's folder."""
    import pixeltransformer.memory as memory

    meminfo, own, cgroups = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "sys"
    meminfo.write_text(MEMINFO.format(available=64 * 2**20, swap=0))  # the host's 64 GiB
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "OWN_CGROUPS", own)
    monkeypatch.setattr(memory, "CGROUPS", cgroups)
    own.write_text("0::/app\n")
    group = cgroups / "app"
    group.mkdir(parents=True)
    (group / "memory.max").write_text(f"{limit}\n")
    (group / "memory.current").write_text(f"{used}\n")
    return own, cgroups, group


def test_a_containers_file_cache_counts_as_memory_left(monkeypatch, tmp_path):
    """A container's memory usage (v2 memory.current, v1 memory.usage_in_bytes) counts the cache of every file it
    read, which the kernel drops when an allocation needs the room (MemAvailable leaves it out): a container that had
    read its data sat near its limit, and every check refused ("the 12 MiB left of this container's 32 GiB memory
    limit"), a fit at its first validation's pictures. The file pages of memory.stat (not shared memory, which
    cannot be dropped) count as left."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict

    own, cgroups, group = _container(monkeypatch, tmp_path, 32 * 2**30, 32 * 2**30 - 12 * 2**20)
    from pixeltransformer.signal import SignalSpec

    sdf = SignalSpec(**SDF_SPEC)
    options = PredictOptions(context="[[0, 0, 0, 0]]", resolution=128)  # 8.23 GiB at least
    (group / "memory.stat").write_text(f"anon {6 * 2**30}\nfile {26 * 2**30}\nactive_file {10 * 2**30}\n"
                                       f"inactive_file {14 * 2**30}\nshmem {2 * 2**30}\n")
    assert memory.memory_at_hand() == (24 * 2**30 + 12 * 2**20,
                                       "the 24 GiB left of this container's 32 GiB memory limit")
    predict.check_resolution(_domain("sdf"), sdf, options)
    (group / "memory.stat").write_text(f"anon {32 * 2**30}\n")  # nothing to drop: the usage is what is held
    with pytest.raises(ValueError, match=r"more than the 12 MiB left of this container's 32 GiB memory limit"):
        predict.check_resolution(_domain("sdf"), sdf, options)
    v1 = _cgroup_v1(own, cgroups, 8 * 2**30, 8 * 2**30)
    (v1 / "memory.stat").write_text(f"cache {2**30}\ntotal_cache {5 * 2**30}\ntotal_active_file {2**30}\n"
                                    f"total_inactive_file {3 * 2**30}\ntotal_shmem {2**30}\n")
    assert memory.memory_at_hand() == (4 * 2**30, "the 4 GiB left of this container's 8 GiB memory limit")


def test_a_processs_control_groups_are_read_once_and_their_usage_at_each_check(monkeypatch, tmp_path):
    """Which control groups hold this process does not change while it runs: /proc/self/cgroup is read at the first
    check alone (each picture of a fit's validations read it again), while the groups' limit and usage are read at
    every check, as they change."""
    import pixeltransformer.memory as memory

    own, _, group = _container(monkeypatch, tmp_path, 4 * 2**30, 2**30)
    assert memory.memory_at_hand() == (3 * 2**30, "the 3 GiB left of this container's 4 GiB memory limit")
    own.unlink()  # not read again
    (group / "memory.current").write_text(f"{2 * 2**30}\n")  # read again
    assert memory.memory_at_hand() == (2 * 2**30, "the 2 GiB left of this container's 4 GiB memory limit")


def test_a_failed_read_of_the_control_groups_is_tried_again(monkeypatch, tmp_path):
    """A read of /proc/self/cgroup that failed once (an OSError of the moment) was kept for the life of the process:
    every later check ignored the container's memory limit without a word. A failed read is not kept."""
    import pixeltransformer.memory as memory

    own, _, _ = _container(monkeypatch, tmp_path, 4 * 2**30, 2**30)
    text = own.read_text()
    own.unlink()  # the first read fails
    host = (64 * 2**30, "the 64 GiB of memory available now")
    assert memory.memory_at_hand() == host
    own.write_text(text)  # the second succeeds
    assert memory.memory_at_hand() == (3 * 2**30, "the 3 GiB left of this container's 4 GiB memory limit")


def test_a_prediction_on_a_gpu_checks_the_host_for_what_comes_back(monkeypatch):
    """On a GPU the completion is made in the GPU's memory (checked there once the model is loaded, by complete);
    the host holds what comes back, its parameters, mean and samples. The host was checked for the whole
    completion: an SDF model's --resolution 128 on a GPU with a host of 6 GiB available was refused. On the CPU the
    whole completion is held on the host, and checked as before."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    sdf = SignalSpec(**SDF_SPEC)
    options = PredictOptions(context="[[0, 0, 0, 0]]", resolution=128)
    monkeypatch.setattr(memory, "available_memory", lambda: 6 * 2**30)
    # 128^3 points x 4 bytes x (150 bins x 3 + 1 mean + 3 samples) = 3.55 GiB kept; 8.23 GiB whole at least
    predict.check_resolution(_domain("sdf"), sdf, options, torch.device("cuda", 0))
    with pytest.raises(ValueError, match=r"^--resolution 128 means 2,097,152 points .* needs at least 8.23 GiB: more "
                                         r"than the 6 GiB of memory available now; at most --resolution 115$"):
        predict.check_resolution(_domain("sdf"), sdf, options)
    with pytest.raises(ValueError, match=r"^--resolution 200 means 8,000,000 points .* needs at least 13.5 GiB: more "
                                         r"than the 6 GiB of memory available now; at most --resolution 152$"):
        predict.check_resolution(_domain("sdf"), sdf, PredictOptions(context="[[0, 0, 0, 0]]", resolution=200),
                                 torch.device("cuda", 0))


def test_the_ranks_of_a_gpu_run_do_not_share_a_device_s_memory(monkeypatch):
    """Each CUDA rank has a device of its own: the local ranks divide the host's memory, not a GPU's."""
    import pixeltransformer.memory as memory

    for name in ("LOCAL_RANK", "SLURM_NTASKS", "SLURM_LOCALID"):  # the machine's first process divides it
        monkeypatch.delenv(name, raising=False)

    monkeypatch.setattr(memory, "available_memory", lambda: 100 * 2**30)
    monkeypatch.setattr(memory, "device_memory", lambda device: 80 * 2**30)
    assert memory.memory_at_hand(torch.device("cuda", 1), ranks=4) == (80 * 2**30,
                                                                       "the 80 GiB of memory free on cuda:1 now")
    assert memory.memory_at_hand(ranks=4) == (25 * 2**30, "25 GiB, the share of each of this machine's 4 processes "
                                              "in the 100 GiB of memory available now")


def test_a_machine_s_later_processes_check_their_own_need_against_what_is_left(monkeypatch):
    """Under torchrun or SLURM (or Lightning's ddp, whose later processes start once its first made its data) each
    process divided the memory available as it checked by the processes on the machine, though those before it had
    filled part of it: a run that fits was refused in some processes alone, which the others then waited for. The
    first process on the machine checks the share of each; another its own need against what is left."""
    import pixeltransformer.memory as memory

    for name in ("SLURM_NTASKS", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(memory, "available_memory", lambda: 60 * 2**30)  # 40 of 100 GiB filled by the others
    monkeypatch.setattr(memory, "address_space", lambda: None)
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert memory.memory_at_hand(ranks=4) == (15 * 2**30, "15 GiB, the share of each of this machine's 4 processes "
                                              "in the 60 GiB of memory available now")
    for launch in ({"LOCAL_RANK": "2"}, {"LOCAL_RANK": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "2"}):
        with monkeypatch.context() as env:
            for name, value in launch.items():
                env.setenv(name, value)
            assert memory.memory_at_hand(ranks=4) == (60 * 2**30, "the 60 GiB of memory available now")
            assert memory.shortfall(25 * 2**30, ranks=4) is None


@pytest.mark.parametrize("text, problem", [
    ("[[0.1, 0.2, 0.5]]", "row 1 has 3"),
    ("[[0.1, 0.2, 0.5, 0.5, 0.5], [0.3, 0.2, 0.5, 0.5]]", "row 2 has 4"),
    ("[0.1, 0.2, 0.5, 0.5, 0.5]", "got a flat list of numbers: put each row in its own brackets, [[...], [...]]"),
    ('{"y": 0.1}', "got a JSON object"),
    ("[]", "got an empty list"),
    ("0.5", "got 0.5"),
    ("[[0.1, 0.2, 0.5, 0.5, 0.5], \"0.3\"]", "row 2 is \"0.3\", not a list"),
])
def test_a_context_of_rows_of_another_width_names_the_rows_entries(problem, text):
    """A row of the wrong width was refused with the raw row name `[y, x, value...]` of any images model: an RGB model
    reads 5 numbers a row, which "value..." left to guess, and which row was wrong, or how, went unsaid."""
    from pixeltransformer.predict import prediction_item
    from pixeltransformer.signal import SignalSpec

    rgb = SignalSpec(**{**DIGITS_SPEC, "dataset": "cifar10", "grid_shape": (32, 32), "val_dims": 3, "num_bins": 256})
    message = ("--context: expected a non-empty list of [y, x, value_1, value_2, value_3] rows (5 numbers each); "
               f"{problem}")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        prediction_item(_domain("images"), rgb, PredictOptions(context=text))


def test_a_mask_given_with_a_tilde_is_read_from_the_home_folder(tmp_path, monkeypatch):
    """``--mask=~/m.gif`` (or ``mask: ~/m.gif`` in a config file: no shell expands either) passed the check that the
    file exists, which expands "~", and then reached the domain as "~/m.gif": the video domain's reader looked for a
    folder named "~" in the working folder."""
    from domains.polynomial.domain import PolynomialDomain
    from pixeltransformer.predict import prediction_item
    from pixeltransformer.signal import SignalSpec

    class Read(Exception):
        pass

    class Masked(PolynomialDomain):
        def read_input(self, path, spec):
            return torch.zeros(1, 64)  # [V, *grid]

        def read_mask(self, path, spec):
            raise Read(str(path))

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.npy").write_bytes(b"")
    (tmp_path / "m.gif").write_bytes(b"")
    spec = SignalSpec(domain="polynomial", dataset="poly", grid_shape=(64,), val_dims=1, val_range=(-3.0, 3.0))
    domain = Masked()
    domain.spec = spec
    with pytest.raises(Read, match=f"^{re.escape(str(tmp_path / 'm.gif'))}$"):
        prediction_item(domain, spec, PredictOptions(input="~/in.npy", mask="~/m.gif"))


def test_an_out_below_a_file_is_refused_before_the_model_runs(tmp_path):
    # a file on --out's path failed only after the sampling, with the system's "[Errno 17] File exists: '...'"
    from pixeltransformer.predict import output_folder
    (tmp_path / "taken.csv").write_text("x\n")
    opts = PredictOptions(context="[[0, 1]]", out=f"{tmp_path}/taken.csv/pred")
    with pytest.raises(NotADirectoryError) as caught:
        output_folder(opts, tmp_path / "run")
    assert str(caught.value) == (f"--out {tmp_path}/taken.csv/pred: {tmp_path}/taken.csv is a file, not a folder; "
                                 "choose an --out whose parents are folders (nothing was written)")


def test_an_out_in_a_folder_that_cannot_be_written_is_refused_before_the_model_runs(tmp_path, monkeypatch):
    # --out /usr/pred as a user sampled the whole completion, then failed with "[Errno 13] Permission denied"
    from pixeltransformer import runs
    from pixeltransformer.predict import output_folder
    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(runs.os, "access", lambda path, mode: Path(path) != tmp_path / "locked")  # root writes all
    opts = PredictOptions(context="[[0, 1]]", out=f"{tmp_path}/locked/new/pred")
    with pytest.raises(PermissionError) as caught:
        output_folder(opts, tmp_path / "run")
    assert str(caught.value) == (f"--out {tmp_path}/locked/new/pred: {tmp_path}/locked cannot be written (no write "
                                 "permission); choose another --out (nothing was written)")
    (tmp_path / "locked" / "empty").mkdir()  # an empty --out is taken: its draft goes beside it, in locked/
    with pytest.raises(PermissionError, match=r"cannot be written \(no write permission\); choose another --out"):
        output_folder(PredictOptions(context="[[0, 1]]", out=f"{tmp_path}/locked/empty"), tmp_path / "run")
    with pytest.raises(PermissionError) as caught:  # the default folder, in a run folder of a disk one cannot write
        output_folder(PredictOptions(context="[[0, 1]]"), tmp_path / "locked")
    assert str(caught.value) == (f"the prediction's folder {tmp_path}/locked/predict/context: {tmp_path}/locked "
                                 "cannot be written (no write permission); give an --out elsewhere (nothing was "
                                 "written)")
    assert output_folder(PredictOptions(context="[[0, 1]]", out=f"{tmp_path}/free/pred"), tmp_path / "run")


def test_an_out_below_a_dangling_link_is_refused_before_the_model_runs(tmp_path):
    # a link to a folder that is gone passed the checks and failed after the sampling with "[Errno 17] File exists"
    from pixeltransformer.predict import output_folder
    (tmp_path / "dangle").symlink_to(tmp_path / "nowhere")
    opts = PredictOptions(context="[[0, 1]]", out=f"{tmp_path}/dangle/pred")
    with pytest.raises(NotADirectoryError) as caught:
        output_folder(opts, tmp_path / "run")
    assert str(caught.value) == (f"--out {tmp_path}/dangle/pred: {tmp_path}/dangle is a link to {tmp_path}/nowhere, "
                                 "which does not exist; choose another --out, or create that folder first "
                                 "(nothing was written)")


def test_a_processs_address_space_limit_bounds_the_memory_at_hand(monkeypatch, tmp_path):
    """Under an address-space limit (`ulimit -v`, as batch schedulers and shared login nodes set), a 4096x4096
    prediction of the digits model was let through against the machine's available memory and failed 28 s later in
    torch's allocator ("DefaultCPUAllocator: can't allocate memory", a traceback). What is left under the limit (the
    limit less this process's mapped size, /proc/self/status's VmSize) is used where it is less, and named."""
    import pixeltransformer.memory as memory
    import pixeltransformer.predict as predict
    from pixeltransformer.signal import SignalSpec

    meminfo, status = tmp_path / "meminfo", tmp_path / "status"
    meminfo.write_text(MEMINFO.format(available=64 * 2**20, swap=0))  # the host's 64 GiB
    status.write_text("Name:\tpython\nVmPeak:\t 2500000 kB\nVmSize:\t 2097152 kB\nVmRSS:\t 500000 kB\n")  # 2 GiB
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "PROC_STATUS", status)
    monkeypatch.setattr(memory, "free_heap", lambda: 0)  # none of it freed heap
    monkeypatch.setattr(memory, "address_limit", lambda: 6 * 2**30)
    assert memory.memory_at_hand() == (4 * 2**30, "the 4 GiB left of this process's 6 GiB address-space limit "
                                                  "(ulimit -v)")
    options = PredictOptions(context="[[0, 0, 0, 0]]", resolution=128)  # 8.23 GiB at least
    with pytest.raises(ValueError, match=r"more than the 4 GiB left of this process's 6 GiB address-space limit"):
        predict.check_resolution(_domain("sdf"), SignalSpec(**SDF_SPEC), options)
    monkeypatch.setattr(memory, "address_limit", lambda: 128 * 2**30)  # above what is available: the host's answer
    assert memory.memory_at_hand() == (64 * 2**30, "the 64 GiB of memory available now")
    monkeypatch.setattr(memory, "address_limit", lambda: None)  # no limit
    assert memory.memory_at_hand() == (64 * 2**30, "the 64 GiB of memory available now")


def test_the_address_space_limit_is_each_processs_own_not_shared_by_the_ranks(monkeypatch):
    """`ulimit -v` bounds each process on its own: under an 8 GiB limit on a 64 GiB machine, 4 CPU ranks were each
    given 2 GiB (the limit divided as if shared), and a batch that fit was refused. The ranks share the machine's
    memory (16 GiB each), and each then takes what is left under its own limit where that is less."""
    import pixeltransformer.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(memory, "address_space", lambda: (8 * 2**30, 8 * 2**30))
    limit = "the 8 GiB left of this process's 8 GiB address-space limit (ulimit -v)"
    assert memory.memory_at_hand(ranks=4) == (8 * 2**30, limit)
    assert memory.memory_at_hand(ranks=16) == (4 * 2**30, "4 GiB, the share of each of this machine's 16 processes "
                                               "in the 64 GiB of memory available now")


def test_the_freed_heap_that_malloc_keeps_mapped_counts_as_room_under_the_limit(monkeypatch, tmp_path):
    """keep_freed_memory has malloc keep up to 2 GiB of freed heap mapped, which VmSize counts: after a 3 GiB
    temporary was freed, the room under a 6 GiB limit read 2 GiB too small and a 2.5 GiB tensor that allocated fine
    was refused. The heap's free bytes (glibc's mallinfo2) are room a new allocation reuses."""
    import pixeltransformer.memory as memory

    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmSize:\t 4194304 kB\n")  # 4 GiB mapped, 2 GiB of it freed heap
    monkeypatch.setattr(memory, "PROC_STATUS", status)
    monkeypatch.setattr(memory, "address_limit", lambda: 6 * 2**30)
    monkeypatch.setattr(memory, "free_heap", lambda: 2 * 2**30)
    assert memory.address_space() == (4 * 2**30, 6 * 2**30)
    monkeypatch.setattr(memory, "free_heap", lambda: 0)  # no freed heap, or no mallinfo2 (not glibc)
    assert memory.address_space() == (2 * 2**30, 6 * 2**30)
