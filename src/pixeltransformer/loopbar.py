"""Progress of one loop (reading files, converting meshes, fitting a baseline, sampling), for a terminal and for a
log file.

On a terminal :func:`loop_progress` is tqdm's live bar. In a log file a live bar writes a carriage-return update many
times a second, which a log shows as one very long line or as hundreds; there it prints a plain line at every tenth of
the loop and at least every 30 s (a long tenth is not minutes of silence), and one at the end, each with the count,
the elapsed and the expected remaining time, and the last ``set_postfix`` values (a loss, for instance). So does a
loop run under the live bar of a fit, test or predict on a terminal (progress.StepBar, a rich display): that display
takes stderr and prints each of tqdm's redraws as a line of its own, so the lines are what shows there anyway. Either
way a loop that ends within its first second (files already cached, a short sampling run) prints nothing; a loop
nested in one that shows its own progress (the |S| levels of an evaluation's batch) waits longer, ``delay``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from .errors import in_number

LINES_PER_LOOP = 10
SECONDS_PER_LINE = 30.0  # the longest wait between two lines, whatever the loop's length
DELAY_SECONDS = 1.0  # nothing is shown before a loop has run this long
_quiet_blocks = 0  # the quiet_loops(True) blocks running


def format_duration(seconds: float) -> str:
    """h:mm:ss, or "?" for an unknown (infinite or NaN) time."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class LoopLines:
    """Iterates like the loop it wraps and prints plain progress lines to ``stream`` (see the module). ``growing``:
    each item takes at least as long as the one before (an evaluation's |S| levels), so the time left is the items
    left at the latest one's time, not at the mean of those done, which falls short of it."""

    def __init__(self, iterable: Iterable, desc: str, total: int | None = None, unit: str = "it",
                 stream: TextIO | None = None, clock=time.monotonic, delay: float | None = None,
                 growing: bool = False):
        self.iterable, self.desc, self.unit, self.clock, self.growing = iterable, desc, unit, clock, growing
        self.delay = DELAY_SECONDS if delay is None else delay
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.stream = stream if stream is not None else sys.stderr
        self.postfix = ""
        self.latest = math.inf  # the time the latest item took

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        """As tqdm's (``refresh`` taken alike): the values end the next line."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def units(self, count: int) -> str:
        """The unit in the number of ``count``: "1/1 context", "64/64 steps", "3/3 meshes" (tqdm's "it" as it is)."""
        return self.unit if self.unit == "it" else in_number(count, self.unit)

    def line(self, done: int, elapsed: float) -> str:
        if self.total:
            each = self.latest if self.growing else elapsed / done if done else math.inf
            left = each * (self.total - done)
            text = (f"[{self.desc}] {done}/{self.total} {self.units(self.total)} ({100 * done / self.total:.0f}%), "
                    f"{format_duration(elapsed)} elapsed, ~{format_duration(left)} left")
        else:
            text = f"[{self.desc}] {done} {self.units(done)}, {format_duration(elapsed)} elapsed"
        return f"{text}, {self.postfix}" if self.postfix else text

    def __iter__(self) -> Iterator:
        start = last = now = self.clock()
        step = max(1, math.ceil(self.total / LINES_PER_LOOP)) if self.total else None
        done = 0
        for item in self.iterable:
            yield item
            done += 1
            now, previous = self.clock(), now
            self.latest = now - previous
            # a tenth that takes minutes (a 1D curve of 1e8 points, 6,104 chunks) still shows a line every 30 s
            due = ((step and done % step == 0) or now - last >= SECONDS_PER_LINE) and done != self.total
            if due and now - start >= self.delay:
                print(self.line(done, now - start), file=self.stream, flush=True)
                last = now
        if now - start >= self.delay:
            print(self.line(done, now - start), file=self.stream, flush=True)


def loop_progress(iterable: Iterable, desc: str, total: int | None = None, unit: str = "it", enabled: bool = True,
                  leave: bool = True, delay: float | None = None, plain: bool = False, growing: bool = False):
    """``iterable`` with progress: tqdm on a terminal, :class:`LoopLines` when stderr is a file or pipe, nothing
    when not ``enabled`` or before the loop has run ``delay`` seconds (default DELAY_SECONDS). ``plain``: lines on a
    terminal too (a loop in one of several worker processes, whose bars would overwrite each other). ``growing``:
    each item takes at least as long as the one before, and the time left is told at the latest one's rate
    (:class:`LoopLines`; tqdm's smoothing=1). The result iterates like ``iterable`` and has ``set_postfix``."""
    if not enabled or _quiet_blocks:
        return _Quiet(iterable)
    delay = DELAY_SECONDS if delay is None else delay
    if sys.stderr.isatty() and not under_live_display(sys.stderr) and not plain:
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, delay=delay,
                    smoothing=1 if growing else 0.3)  # 0.3: tqdm's own
    return LoopLines(iterable, desc, total, unit, delay=delay, growing=growing)


@contextlib.contextmanager
def quiet_loops(quiet: bool = True) -> Iterator[None]:
    """Within it (where ``quiet``), every loop_progress shows nothing: the loops of code that sees no trainer (a
    domain's write_prediction) follow a command's trainer.enable_progress_bar=false as the loops run under it do."""
    global _quiet_blocks
    _quiet_blocks += quiet
    try:
        yield
    finally:
        _quiet_blocks -= quiet


def under_live_display(stream: TextIO) -> bool:
    """Whether ``stream`` is the stand-in a rich live display puts in place of stderr while it draws (the progress
    bar of a fit, test or predict on a terminal): it prints what it is given above the display, line by line."""
    proxy = sys.modules.get("rich.file_proxy")  # only a display that is running has imported it
    return proxy is not None and isinstance(stream, proxy.FileProxy)


class _Quiet:
    """The loop itself, with a ``set_postfix`` that does nothing."""

    def __init__(self, iterable: Iterable):
        self.iterable = iterable

    def __iter__(self) -> Iterator:
        return iter(self.iterable)

    def set_postfix(self, **values: Any) -> None:
        pass
