"""Loop progress in a log file: plain lines at every tenth of the loop and every 30 s, never a carriage return."""

from __future__ import annotations

import io
import re
import itertools

import torch

from pixeltransformer.loopbar import LoopLines, format_duration, loop_progress


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def clock(step: float):
    """A clock that advances by ``step`` seconds per reading."""
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_a_known_length_prints_a_line_per_tenth_and_one_at_the_end():
    out = io.StringIO()
    loop = LoopLines(range(25), "reading cats", unit="picture", stream=out, clock=clock(1.0))
    assert list(loop) == list(range(25))  # the items, untouched
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # every ceil(25 / 10) = 3 items, and the end
    assert [line.split()[2] for line in lines] == [f"{n}/25" for n in (3, 6, 9, 12, 15, 18, 21, 24, 25)]
    # the clock is read once at the start and once per item: 12 items took 12 s, 13 are left
    assert lines[3] == "[reading cats] 12/25 pictures (48%), 0:00:12 elapsed, ~0:00:13 left"
    assert lines[-1].startswith("[reading cats] 25/25 pictures (100%), 0:00:25 elapsed, ~0:00:00 left")


def test_an_unknown_length_prints_every_30_seconds_with_the_postfix():
    out = io.StringIO()
    loop = LoopLines((i for i in range(10)), "fit", unit="epoch", stream=out, clock=clock(10.0))
    for i in loop:
        loop.set_postfix(loss=f"{1 / (i + 1):.3g}")
    lines = out.getvalue().splitlines()
    assert lines == ["[fit] 3 epochs, 0:00:30 elapsed, loss=0.333", "[fit] 6 epochs, 0:01:00 elapsed, loss=0.167",
                     "[fit] 9 epochs, 0:01:30 elapsed, loss=0.111", "[fit] 10 epochs, 0:01:40 elapsed, loss=0.1"]


def test_the_unit_takes_the_number_of_its_count():
    """A log read "[sampling 64 steps x 3 chains] 64/64 step" and "[procedural chairs (train)] 600/600 shape": the
    unit is now in the number of the count it follows (tqdm's "it" as it is)."""
    for unit, total, shown in (("context", 1, "1/1 context"), ("step", 64, "64/64 steps"), ("mesh", 3, "3/3 meshes"),
                               ("it", 4, "4/4 it")):
        out = io.StringIO()
        list(LoopLines(range(total), "x", unit=unit, stream=out, clock=clock(1.0)))
        assert out.getvalue().splitlines()[-1].startswith(f"[x] {shown} (100%), "), out.getvalue()


def readings(*times: float):
    """A clock that reads ``times`` in turn: the start, then the end of each item."""
    return iter(times).__next__


def test_a_loop_of_growing_items_estimates_the_time_left_at_its_latest_item_s():
    """An evaluation's |S| levels (4, 16, 64, 256) each take longer than the one before: the mean time of those done,
    (1 + 4 + 16) / 3 = 7 s, said 0:00:07 was left after 21 s at |S| = 64, where the last level alone takes more than
    the 16 s of the one before it. A growing loop now counts each item left at the latest one's time."""
    ends = (0, 1, 5, 21, 85)  # the levels took 1, 4, 16 and 64 s
    out = io.StringIO()
    list(LoopLines([4, 16, 64, 256], "eval: |S| levels", unit="level", stream=out, clock=readings(*ends),
                   growing=True))
    assert out.getvalue().splitlines()[1:3] == ["[eval: |S| levels] 2/4 levels (50%), 0:00:05 elapsed, ~0:00:08 left",
                                                "[eval: |S| levels] 3/4 levels (75%), 0:00:21 elapsed, ~0:00:16 left"]
    out = io.StringIO()  # a loop of like items: the mean, as before
    list(LoopLines([4, 16, 64, 256], "reading", unit="file", stream=out, clock=readings(*ends)))
    assert out.getvalue().splitlines()[2] == "[reading] 3/4 files (75%), 0:00:21 elapsed, ~0:00:07 left"
    assert loop_progress([4, 16], "levels", growing=True).growing  # a log's lines (stderr is no terminal here)


def test_a_loop_done_within_a_second_prints_nothing():
    out = io.StringIO()
    assert list(LoopLines(range(50), "cached", stream=out, clock=clock(0.01))) == list(range(50))  # 0.5 s
    assert out.getvalue() == ""
    out = io.StringIO()
    list(LoopLines(range(50), "slower", stream=out, clock=clock(0.05)))  # 2.5 s: lines from the first second on
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["20/50", "25/50", "30/50", "35/50",
                                                                          "40/50", "45/50", "50/50"]


def test_an_evaluations_levels_wait_longer_than_a_loop_of_their_own(capsys):
    """The |S| levels of each evaluation batch printed a line per level once the batch had run a second: a
    polynomial evaluation's log got 44 lines for 8 batches, beside the test loop's own progress."""
    from pixeltransformer.evaluation import LEVELS_DELAY

    out = io.StringIO()
    list(LoopLines(range(7), "levels", stream=out, clock=clock(1.0), delay=LEVELS_DELAY))  # 7 s: a short batch
    assert out.getvalue() == ""
    list(LoopLines(range(7), "levels", stream=out, clock=clock(3.0), delay=LEVELS_DELAY))  # 21 s: a line per level
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["4/7", "5/7", "6/7", "7/7"]


def test_loop_progress_writes_lines_to_a_log_and_nothing_when_disabled(capsys, monkeypatch):
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    assert list(loop_progress(range(4), "quiet", enabled=False)) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""
    bar = loop_progress(range(4), "log")  # pytest's stderr is not a terminal
    assert isinstance(bar, LoopLines) and list(bar) == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert err.startswith("[log] 1/4 it (25%)") and "\r" not in err and len(err.splitlines()) == 4


def baseline_fit_lines(capsys, monkeypatch, n: int, epochs: int, batch_size: int) -> list[str]:
    """The progress lines of a helper network's fit (a line fitted to n points) as a log shows them."""
    from domains.images.baselines.training import fit_epochs

    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(n, 2), torch.randn(n, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    fit_epochs(model, lambda idx: ((model(x[idx]) - y[idx]) ** 2).mean(), n, epochs, batch_size, opt, sched,
               torch.Generator().manual_seed(0), "cpu", "classifier")
    return capsys.readouterr().err.splitlines()


def test_a_baseline_fit_reports_its_loss_in_plain_lines(capsys, monkeypatch):
    lines = baseline_fit_lines(capsys, monkeypatch, 8, 3, 4)  # 3 epochs of 2 batches
    assert len(lines) == 6 and lines[-1].startswith("[classifier] 6/6 batches (100%)") and ", loss=" in lines[-1]


def test_a_baseline_fit_of_one_long_epoch_shows_progress_within_it(capsys, monkeypatch):
    """`make eval`'s first MNIST evaluation trains its classifier for 2 epochs of 9000 pictures: minutes without a
    line on a busy CPU, as progress was counted in epochs. It is counted in batches now, a line every tenth."""
    lines = baseline_fit_lines(capsys, monkeypatch, 40, 1, 4)
    assert len(lines) == 10 and lines[0].startswith("[classifier] 1/10 batches (10%)")


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05" and format_duration(float("inf")) == "?"


def test_a_loop_under_the_live_bar_of_a_run_prints_lines_not_a_second_bar(monkeypatch):
    """On a terminal, a fit, test or predict draws a rich live bar, which takes stderr and prints each redraw of a
    tqdm bar (an evaluation's levels, sampling steps) as a line of its own, bar characters and all: such a loop
    prints the plain lines of a log, once per step, above the run's bar."""
    from rich.console import Console
    from rich.progress import Progress

    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    monkeypatch.setattr("sys.stderr", Terminal())
    screen = io.StringIO()
    with Progress(console=Console(file=screen, force_terminal=True, width=120)) as run_bar:
        run_bar.add_task("Testing", total=1)
        assert list(loop_progress([2, 4, 8], "eval: |S| levels of batch 1", unit="level", leave=False)) == [2, 4, 8]
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # the terminal's text, less its escape codes
    assert "%|" not in shown, shown  # no tqdm bar
    lines = [line for line in shown.replace("\r", "\n").splitlines() if line.strip()]
    assert [line.split(", ")[0] for line in lines if not line.startswith("Testing")] == [
        f"[eval: |S| levels of batch 1] {i}/3 levels ({p}%)" for i, p in ((1, 33), (2, 67), (3, 100))], shown


def test_a_growing_loop_s_bar_on_a_terminal_tells_the_time_left_at_the_latest_item_s_rate(monkeypatch):
    """tqdm's smoothing: 1 weighs the latest item alone, where its default averages the earlier, quicker ones in (an
    evaluation's |S| levels, each longer than the last); a plain loop keeps the default."""
    import inspect

    from tqdm import std
    from tqdm.auto import tqdm

    monkeypatch.setattr("sys.stderr", Terminal())
    default = inspect.signature(std.tqdm.__init__).parameters["smoothing"].default
    for growing, smoothing in ((True, 1), (False, default)):
        bar = loop_progress([2, 4, 8], "levels", unit="level", growing=growing)
        assert isinstance(bar, tqdm) and list(bar) == [2, 4, 8]
        assert bar.smoothing == smoothing


def test_a_long_tenth_still_prints_a_line_every_30_seconds():
    """A known length printed only at its tenths: a 1D prediction at --resolution 100000000 decodes 6,104 chunks,
    and its first line came after 611 of them, minutes of silence on a CPU."""
    out = io.StringIO()
    list(LoopLines(range(100), "mean at 100000000 points", unit="chunk", stream=out, clock=clock(12.0)))
    counts = [int(line.split()[4].split("/")[0]) for line in out.getvalue().splitlines()]
    # every 30 s (the third item at 12 s each) as well as every tenth (10 items), and the end
    assert counts[:6] == [3, 6, 9, 10, 13, 16] and counts[-1] == 100
