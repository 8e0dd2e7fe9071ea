"""Loop progress in a log file: plain lines at every tenth of the loop (or every 30 s), never a carriage return."""

from __future__ import annotations

import io
import itertools

import torch

from pixeltransformer.loopbar import LoopLines, format_duration, loop_progress


def clock(step: float):
    """A clock that advances by ``step`` seconds per reading."""
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_a_known_length_prints_a_line_per_tenth_and_one_at_the_end():
    out = io.StringIO()
    loop = LoopLines(range(25), "reading cats", unit="img", stream=out, clock=clock(1.0))
    assert list(loop) == list(range(25))  # the items, untouched
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # every ceil(25 / 10) = 3 items, and the end
    assert [line.split()[2] for line in lines] == [f"{n}/25" for n in (3, 6, 9, 12, 15, 18, 21, 24, 25)]
    # the clock is read once at the start and once per item: 12 items took 12 s, 13 are left
    assert lines[3] == "[reading cats] 12/25 img (48%), 0:00:12 elapsed, ~0:00:13 left"
    assert lines[-1].startswith("[reading cats] 25/25 img (100%), 0:00:25 elapsed, ~0:00:00 left")


def test_an_unknown_length_prints_every_30_seconds_with_the_postfix():
    out = io.StringIO()
    loop = LoopLines((i for i in range(10)), "fit", unit="epoch", stream=out, clock=clock(10.0))
    for i in loop:
        loop.set_postfix(loss=f"{1 / (i + 1):.3g}")
    lines = out.getvalue().splitlines()
    assert lines == ["[fit] 3 epoch, 0:00:30 elapsed, loss=0.333", "[fit] 6 epoch, 0:01:00 elapsed, loss=0.167",
                     "[fit] 9 epoch, 0:01:30 elapsed, loss=0.111", "[fit] 10 epoch, 0:01:40 elapsed, loss=0.1"]


def test_a_loop_done_within_a_second_prints_nothing():
    out = io.StringIO()
    assert list(LoopLines(range(50), "cached", stream=out, clock=clock(0.01))) == list(range(50))  # 0.5 s
    assert out.getvalue() == ""
    out = io.StringIO()
    list(LoopLines(range(50), "slower", stream=out, clock=clock(0.05)))  # 2.5 s: lines from the first second on
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["20/50", "25/50", "30/50", "35/50",
                                                                          "40/50", "45/50", "50/50"]


def test_loop_progress_writes_lines_to_a_log_and_nothing_when_disabled(capsys, monkeypatch):
    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    assert list(loop_progress(range(4), "quiet", enabled=False)) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""
    bar = loop_progress(range(4), "log")  # pytest's stderr is not a terminal
    assert isinstance(bar, LoopLines) and list(bar) == [0, 1, 2, 3]
    err = capsys.readouterr().err
    assert err.startswith("[log] 1/4 it (25%)") and "\r" not in err and len(err.splitlines()) == 4


def test_a_baseline_fit_reports_its_loss_in_plain_lines(capsys, monkeypatch):
    from domains.images.baselines.training import fit_epochs

    monkeypatch.setattr("pixeltransformer.loopbar.DELAY_SECONDS", 0.0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    fit_epochs(model, lambda idx: ((model(x[idx]) - y[idx]) ** 2).mean(), 8, 3, 4, opt, sched,
               torch.Generator().manual_seed(0), "cpu", "classifier")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("[classifier] 3/3 epoch (100%)") and ", loss=" in lines[-1]


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05" and format_duration(float("inf")) == "?"
