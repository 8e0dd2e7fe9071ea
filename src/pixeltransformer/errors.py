"""How the commands report bad input: one line on stderr naming the cause, exit status 2, and a traceback only
with PIXELTRANSFORMER_DEBUG=1.

jsonargparse wraps errors raised while it builds the classes of a config ("Call to compute_fn of link ...",
"Does not validate against any of the Union subtypes ...") and chains the original with ``raise ... from``;
:func:`root_cause` unwraps those, so the user sees the project's own message.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import linecache
import math
import multiprocessing
import operator
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

from .layout import PROJECT_CODE

DEBUG_ENV = "PIXELTRANSFORMER_DEBUG"
# errors that describe the user's input (files, values, checkpoints); anything else is a bug and keeps its traceback
INPUT_ERRORS = (ValueError, OSError, FloatingPointError)
T = TypeVar("T")


INPUT_STATUS = 2  # the exit status of a command (or a process of its launch) that printed its bad input's line


class InputExit(SystemExit):
    """Exit status 2 after a one-line error; ``str()`` is that line."""

    def __init__(self, message: str):
        super().__init__(INPUT_STATUS)
        self.message = message

    def __str__(self) -> str:
        return self.message


CTRL_C_STATUS = 130  # the status a shell shows for a process that Ctrl-C (SIGINT) ended, and exits with in-process


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that has its line: ``str()`` says what was kept (:func:`ctrl_c_exits` prints it)."""


class StageInterrupted(KeyboardInterrupt):
    """A Ctrl-C that stopped a Lightning stage (a fit's training, an evaluation, a prediction), whose own line, where
    it has one, said what was kept ("[run] Ctrl-C: stopped at step ..."): :func:`ctrl_c_exits` ends the command with
    no other."""


@contextlib.contextmanager
def ctrl_c_exits(nothing_yet: str = "nothing was written", command: bool = False) -> Iterator[None]:
    """A Ctrl-C (KeyboardInterrupt) that reaches this, while a command starts up (the seconds of ``import
    lightning``, the parse, the data) or in its own work, ends it with one line on stderr, ``interrupted (Ctrl-C):
    <what was kept>``: it printed a traceback of some 60 lines. What was kept: an :class:`Interrupted`'s own words,
    else ``nothing_yet``; a :class:`StageInterrupted` has said it. ``command``: this process is the command (its main
    reads the command line), which then ends by SIGINT as Python's own Ctrl-C does (:func:`_quiet_ctrl_c`); else (a
    main called from Python) by SystemExit(130). The traceback only with PIXELTRANSFORMER_DEBUG=1."""
    try:
        yield
    except KeyboardInterrupt as err:
        if debugging():
            raise
        _say_interrupted(None if isinstance(err, StageInterrupted) else str(err) or nothing_yet, restore=not command)
        if command:
            sys.excepthook = _quiet_ctrl_c
            raise KeyboardInterrupt from None  # uncaught, and of this very type: Python ends the process by SIGINT
        raise SystemExit(CTRL_C_STATUS) from None


def ctrl_c_main(nothing_yet: str = "nothing was written") -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A command's ``main(argv=None)`` run within :func:`ctrl_c_exits`: called without a command line (None or none
    given, by position or by keyword) it is the command, which reads its own; given one, a main called from Python."""
    def wrap(main: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(main)
        def run(*args, **kwargs) -> T:
            with ctrl_c_exits(nothing_yet, command=[*args, *kwargs.values()] in ([], [None])):
                return main(*args, **kwargs)
        return run
    return wrap


def ctrl_c_exits_while_importing(nothing_yet: str = "nothing was written") -> None:
    """The one line and the end of :func:`ctrl_c_exits` for a Ctrl-C while a module run as a command (``python -m
    domains...``) imports what it needs (torch: seconds), before its ``main`` is called: call this first when
    ``__name__ == "__main__"``."""
    previous = sys.excepthook

    def hook(kind, err, tb) -> None:
        if not issubclass(kind, KeyboardInterrupt) or debugging():
            return previous(kind, err, tb)
        _say_interrupted(str(err) or nothing_yet, restore=False)  # and Python ends the process by SIGINT

    sys.excepthook = hook


def _quiet_ctrl_c(kind, err, tb) -> None:
    """sys.excepthook for a Ctrl-C whose one line is printed: nothing more. Python, left with a KeyboardInterrupt
    nothing caught, runs its exit handlers (atexit: W&B's, the log files') and then ends the process by SIGINT: a shell
    shows status 130, and a shell loop over the command (``for r in ...; do python -m ...; done``) stops, which it
    does only for a child that SIGINT ended (an exit with status 130 went on to the next)."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, err, tb)


def _say_interrupted(kept: str | None, restore: bool) -> None:
    """The one line, ``interrupted (Ctrl-C): <kept>`` (none where ``kept`` is None: the stop said it); a second
    Ctrl-C cannot cut it short. ``restore``: a main called from Python (a test) leaves Ctrl-C as it found it; else
    (the command, about to end) a second Ctrl-C, in the exit handlers Python runs before it ends the process by SIGINT
    (W&B's upload: minutes on a slow network), ends it at once by SIGINT, with no traceback of its own."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if kept is not None:
            print(f"interrupted (Ctrl-C): {kept}", file=sys.stderr, flush=True)
    finally:
        back = signal.default_int_handler if previous is None else previous
        signal.signal(signal.SIGINT, back if restore else signal.SIG_DFL)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def first_line(err: BaseException | str) -> str:
    """The first line of an error message (with the next one when it ends in ':', as jsonargparse's "Parser key
    ...:" does), or the error's type name when the message is empty."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def import_failure(class_path: str, cause: str) -> str:
    """``class_path: cause`` for a class whose module failed to import for a cause of its own, with the command that
    shows where when the cause does not name it (a SyntaxError names its file and line)."""
    module = class_path.rpartition(".")[0]
    where = "" if ", line " in cause or not module else f" (python -c 'import {module}' shows where)"
    return f"{class_path}: {cause}{where}"


def class_path(cls: type) -> str:
    """A class's dotted name, as a config's ``class_path`` gives it and the messages name it:
    ``module.QualifiedName``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def check_type(name: str, value, cls: type, remedy: str) -> None:
    """One line for an input ``name`` that is not a ``cls``, in the one wording every call says it in: "<name> must be
    a <cls's class path>, got <value's> (<remedy>)" (numpy's array where a tensor goes stopped deep in torch, in words
    naming no input)."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {class_path(cls)}, got {class_path(type(value))} ({remedy})")


def in_number(n: int, noun: str, plural: str | None = None) -> str:
    """A noun in the number a count of ``n`` takes: "frame" for 1, else ``plural`` or the noun and an s ("frames"),
    an es after a hissing sound ("batches", "meshes", "classes", "boxes"; "epochs")."""
    if n == 1:
        return noun
    return plural or noun + ("es" if noun.endswith(("sh", "ss", "tch", "x")) else "s")


def as_int(value) -> int | None:
    """value as an int when it is a whole number's type (Python, numpy, a one-element integer tensor; not a bool),
    else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def whole_number(value, low: int) -> bool:
    """Whether a count is a whole number (of any type as_int takes: not a bool) >= low."""
    count = as_int(value)
    return count is not None and count >= low


def check_count(value, low: int, words: str) -> int:
    """A count as an int: a whole number (of any type as_int takes) >= low, else ValueError "<words>, got <value>"."""
    if not whole_number(value, low):
        raise ValueError(f"{words}, got {value!r}")
    return as_int(value)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the number the count takes: "1 frame", "0 frames", "2 batches" (:func:`in_number`)."""
    return f"{n} {in_number(n, noun, plural)}"


def upscaled(what: str, size: str, one: bool, then: str = "") -> str:
    """The one wording every domain says an input smaller than it is read at in: ``what`` (the inputs named, with
    their verb: "a.png: a 3×2 picture is", "2 of the 6 pictures read in data are"), smaller than ``size`` ("8×8
    (first: a.png)", "the model's 8×8"), so it was (``one``) or they were upscaled to interpolated pixels, then
    ``then`` (": give a smaller --data.init_args.size", ", and S is drawn from them")."""
    return f"{what} smaller than {size}, so {'it was' if one else 'they were'} upscaled to interpolated pixels{then}"


def upscaled_among(among: str, size: str, small: list[str], kept: int, option: str) -> str:
    """The line for a folder's inputs smaller than ``size`` (:func:`upscaled`), ``small`` naming each ("a.png, 3×2"),
    among the ``kept`` read: ``among`` counts them with their verb; the first is named; the remedy is a smaller
    ``option``, or to leave them out only where others fit the size (where every one is small, leaving them out
    leaves nothing to read)."""
    one = len(small) == 1
    leave = f", or leave {'it' if one else 'them'} out" if len(small) < kept else ""
    return upscaled(among, f"{size} ({small[0] if one else f'first: {small[0]}'})", one,
                    f": give a smaller {option}{leave}")


def listed(names: Iterable[str]) -> str:
    """Names in words: "A", "A and B", "A, B and C"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def as_written(value) -> str:
    """A number from a user's data as the shortest text that reads back to the same number of its own type (repr; a
    numpy float32 or float16 in positional notation: 0.1, not float64's 0.10000000149011612), without the ".0" on a
    whole number: timestamps 1700000000.5 and 1700000001 stay apart where :g writes 1.7e+09 for both, and a float32
    timestamp reads 1700000128 where numpy's str() writes 1.7e+09. An integer (int, a numpy integer) as its digits:
    2**53 + 1 and 10**17 in full, not float64's 9007199254740992 and 1e+17; a bool as 1 or 0."""
    np = sys.modules.get("numpy")  # a numpy value comes with numpy imported; this module imports no numpy
    if isinstance(value, int) and not isinstance(value, bool) or np is not None and isinstance(value, np.integer):
        return str(int(value))
    if np is not None and isinstance(value, np.floating) and not isinstance(value, float):  # float64 is a float
        if np.isfinite(value) and value == int(value):
            return str(int(value))
        return np.format_float_positional(value, unique=True, trim="-")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def range_as_written(low: float, high: float, scale: float | None = None, kind: type = float) -> tuple[str, str]:
    """The ends of a range of a user's x (or a range's middle and half-width), each :func:`as_written` to the
    significant digits ``kind`` holds (15 for float, 6 for a file's numpy.float32) of the larger, or of ``scale``
    (the size of the numbers they were computed from), as a number of type ``kind`` writes it: an end computed as
    middle -+ half-width strays in the last digits (np.linspace(0.1, 100)'s read 0.0999999999999943), as do the steps
    between x of 1.7e9 or float32 x (0.099999905 for 0.1), and timestamps 1700000000.25 keep their decimals where :g
    writes 1.7e+09. Where that rounds two ends to one number (float16 steps of 0.09766 and 0.10156), or (a numpy
    ``kind``) an end that is not 0 to 0, they keep 15."""
    big = max(abs(low), abs(high)) if scale is None else abs(scale)

    def ends(places: int) -> tuple[str, str]:
        digits = places - 1 - math.floor(math.log10(big)) if big > 0 else 0
        # + 0.0: -0.0 (a middle of float noise below zero) is written 0, not -0
        return as_written(kind(round(low, digits) + 0.0)), as_written(kind(round(high, digits) + 0.0))

    held = ends(sys.float_info.dig if kind is float else sys.modules["numpy"].finfo(kind).precision)  # a numpy kind
    lost = any(text == "0" and end != 0 for text, end in zip(held, (low, high)))  # a float32 step below its digits
    return held if held[0] != held[1] and not lost else ends(sys.float_info.dig)


def share_words(share: float) -> str:
    """A part of a whole (0..1) as a percentage that never reads as none or all when it is neither: one pixel in
    10 000 is "under 1%" (rounded, "0%"), all but one "over 99%"."""
    return "under 1%" if 0 < share < 0.01 else "over 99%" if 0.99 < share < 1 else f"{share:.0%}"


def transparent_mask(share: float) -> str:
    """Why a mask (a picture or a video's frames) with transparent pixels is refused: put on white, as pictures are,
    they would read as observed, whatever was meant by them. ``share``: the part of its pixels not fully opaque."""
    return (f"{share_words(share)} of the mask's pixels are (partly) transparent, which a mask has no meaning for: "
            "save it opaque, white where observed and black where not")


def yaml_float(text: str) -> str | None:
    """YAML's spelling of a non-finite number that Python spells ``text`` ("inf" -> ".inf", "-Infinity" -> "-.inf",
    "nan" -> ".nan"), else None. YAML, which reads every option and config value, takes Python's spellings for text,
    so a float option refused them as not numbers ("Expected a <class 'float'>. Got value: inf")."""
    m = re.fullmatch(r"([+-]?)(inf|infinity|nan)", text.strip(), flags=re.I)
    if m is None:
        return None
    return ".nan" if m.group(2).lower() == "nan" else f"{'-' if m.group(1) == '-' else ''}.inf"


def parse_error_line(message: str) -> str:
    """jsonargparse's message for a bad command line or config, as one line. When a class fits none of its
    option's types (say a DataModule config of another domain, whose keys this domain's class does not have), the
    first line says only that; the line here names the key that failed inside the class and why:
    ``data.init_args.dataset: Expected a typing.Literal[...]. Got value: npz (ImageDataModule)``."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    head = re.match(r'Parser key "([^"]+)":$', lines[0]) if lines else None
    if head and len(lines) > 1 and lines[1].startswith("Does not validate against any of the Union subtypes"):
        keys, cls = [], None
        for i, line in enumerate(lines[2:], start=2):
            problem = re.match(r"- Problem with given class_path '([^']+)':", line)
            if cls is None:
                cls = problem.group(1) if problem else None
                continue
            key = re.match(r'Parser key "([^"]+)":$', line)
            if key:
                keys.append(key.group(1))
                continue
            where = ".init_args.".join([head.group(1), ".".join(keys)]) if keys else head.group(1)
            # an option of the class that takes a union of plain types (max_items: int or null) given another value
            detail = line.removeprefix("- ")
            if detail.startswith("Does not validate against any of the Union subtypes"):
                detail = plain_union(lines[i + 1:]) or detail
            return f"{where}: {detail} ({cls.rsplit('.', 1)[-1]})"
        given = next((line for line in lines if line.startswith("Given value: ")), None)
        # a class path whose module failed to import for a cause of its own (a SyntaxError, a NameError, a Domain
        # refused when defined) or that names no subclass: the cause, not the union's types and the value given
        path = re.search(r"class_path'(?:, val=|: )'([^']+)'", given or "")
        errors = lines[lines.index("Errors:") + 1:] if "Errors:" in lines else []
        cause = next((line.removeprefix("- ") for line in errors
                      if line.startswith("- ") and not line.startswith("- Expected a")), None)
        if cls is None and path and cause and path.group(1) in cause:  # the cause names the class itself
            return f"{head.group(1)}: {cause}"
        if cls is None and path and cause:
            return f"{head.group(1)}: {import_failure(path.group(1), cause)}"
        # a union of plain types and names (--num_context 1.5 of an int or null; int, 'auto' or null): what it takes,
        # and the value given; a union of anything else keeps jsonargparse's first line
        if cls is None and (plain := plain_union(lines)):
            return f"{head.group(1)}: {plain}"
    return first_line(message)


def plain_union(lines: list[str]) -> str | None:
    """"expected int or null, got None" from jsonargparse's lines of a union of plain types and names that a value
    fits none of (its first "Subtypes: [...]" and "Given value: ..."); None for a union of anything else."""
    kinds = next((line for line in lines if line.startswith("Subtypes: [")), None)
    given = next((line for line in lines if line.startswith("Given value: ")), None)
    inner = kinds.removeprefix("Subtypes: [").removesuffix("]") if kinds else ""
    if not given or not inner or re.sub(f"(?:{UNION_MEMBER})(, )?", "", inner):
        return None
    names = [NULL if plain == "NoneType" else plain or names.replace(", ", " or ")
             for plain, names in re.findall(UNION_MEMBER, inner)]
    return f"expected {' or '.join(names)}, got {given.removeprefix('Given value: ')}"


NULL = "null"  # a YAML/JSON null, as jsonargparse reads None
UNION_MEMBER = r"<class '([^']+)'>|typing\.Literal\[([^\]]*)\]"  # as jsonargparse lists a union's: a type, or names


def _raised_in_jsonargparse(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "jsonargparse" in Path(tb.tb_frame.f_code.co_filename).parts


def root_cause(err: BaseException) -> BaseException:
    """The error under jsonargparse's wrappers: follow ``__cause__`` while the error was raised by jsonargparse."""
    while err.__cause__ is not None and _raised_in_jsonargparse(err):
        err = err.__cause__
    return err


def is_input_error(err: BaseException) -> bool:
    return isinstance(root_cause(err), INPUT_ERRORS)


REPORTED_KEY = "pixeltransformer/reported"  # in the process group's store: how many ranks met bad input (fail)
ENDED_KEY = "pixeltransformer/ended"  # in the store: how many ranks other than zero ended on a failed launch
PEER_WAIT_S = 2.5  # at most this long rank zero keeps the store for the other ranks (Lightning kills within 5 s)
FAILED_KEY = "pixeltransformer/failed"  # there: how many ranks a launcher started (ddp_spawn) failed (spawned.py)


def _report_store():
    """The process group's store (rank zero holds it), or None outside DDP or where torch's private store moved."""
    dist = sys.modules.get("torch.distributed")  # imported by whoever started DDP; never imported here
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    try:
        return dist.distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - torch's private store moved: report, as every rank did before
        return None


def first_to_report() -> bool:
    """Under DDP every rank meets the same bad input: only the first rank to fail reports it, counted in the process
    group's store. Outside DDP, or without a store to ask, every process reports."""
    store = _report_store()
    if store is None:
        return True
    try:
        return store.add(REPORTED_KEY, 1) == 1
    except Exception:  # noqa: BLE001 - rank zero, which holds the store, has ended: it reported first
        return False


def _store_count(key: str) -> int:
    """The count under ``key`` in the process group's store; 0 outside DDP or without a store to ask."""
    store = _report_store()
    try:
        return 0 if store is None else store.add(key, 0)
    except Exception:  # noqa: BLE001 - rank zero, which holds the store, has ended: nothing says why
        return 0


def reported_by_another_rank() -> bool:
    """Under DDP, whether a rank has printed its bad input's line: the error this rank meets next (a collective whose
    peer has gone) follows from it and needs no traceback. False outside DDP or without a store to ask."""
    return _store_count(REPORTED_KEY) >= 1


def peer_lost_exit(err: BaseException) -> InputExit | None:
    """Under DDP, the exit of a rank whose error (a collective that lost its peer) follows from another rank's bad
    input line: status 2 and no traceback of its own, after it lets the other ranks read the store (rank zero keeps
    it for them, the others end after rank zero: let_peers_read). None for any other error, or outside DDP."""
    if is_input_error(err) or debugging() or not lost_a_peer(err) or not reported_by_another_rank():
        return None
    let_peers_read()
    return InputExit(f"error: another process stopped on bad input ({first_line(err)})")


def _end_after_rank_zero(store) -> None:
    """A rank other than zero counts itself ended (rank zero, waiting in let_peers_read, may go), closes its
    connections and waits until its parent process has gone (at most PEER_WAIT_S): under Lightning's ddp that is
    rank zero, whose observer kills it, exit status and all, when another rank exits first (under torchrun or srun
    the parent is the launcher: the whole wait). Read from the parent, not the store: a failed read prints C++
    frames."""
    dist = sys.modules["torch.distributed"]
    parent = os.getppid()
    try:
        store.add(ENDED_KEY, 1)
        if dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - rank zero has gone: its store no longer answers
        return
    if multiprocessing.parent_process() is not None:  # ddp_spawn's or ddp_fork's rank: its parent is no rank
        return
    deadline = time.monotonic() + PEER_WAIT_S
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.05)


def let_peers_read() -> None:
    """Under DDP rank zero holds the store the other ranks ask whether a rank reported: it closes its connections,
    so that a rank waiting in a collective fails now, and keeps the store until the others have ended (at most
    PEER_WAIT_S). Any other rank counts itself ended and exits after rank zero. Outside DDP: nothing."""
    store = _report_store()
    if store is None:
        return
    dist = sys.modules["torch.distributed"]
    try:
        if dist.get_rank() != 0:
            _end_after_rank_zero(store)
            return
        others = dist.get_world_size() - 1
        dist.destroy_process_group()
        deadline = time.monotonic() + PEER_WAIT_S
        while store.add(ENDED_KEY, 0) < others and time.monotonic() < deadline:
            time.sleep(0.05)
    except Exception:  # noqa: BLE001 - rank zero has ended, or torch's store moved: exit as before
        return


PEER_GONE = ("Connection closed by peer", "Connection reset by peer")  # gloo's words for a rank that has gone


def lost_a_peer(err: BaseException) -> bool:
    """Whether ``err``, or an error it was raised from, is torch.distributed's or gloo's for a rank that has gone: a
    connection it closed, or reset where it exited with bytes still unread (gloo's plain RuntimeError "Read error
    ... Connection reset by peer", met under load, printed a traceback after the other rank's line)."""
    dist = sys.modules.get("torch.distributed")  # imported by whoever started DDP; never imported here
    lost = getattr(dist, "DistError", ()) if dist is not None else ()
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, lost) or any(words in str(err) for words in PEER_GONE):
            return True
        err = err.__cause__ or err.__context__
    return False


_FAILED_HERE: list[bool] = []  # this process's rank failed (mark_failed): a SIGTERM it gets next is torch's cleanup


def mark_failed() -> None:
    """Count this rank's failure in the process group's store (nothing outside DDP), and note it in this process."""
    _FAILED_HERE.append(True)
    store = _report_store()
    with contextlib.suppress(Exception):  # rank zero, which holds the store, has ended: no rank is left to tell
        if store is not None:
            store.add(FAILED_KEY, 1)


def failed_here() -> bool:
    """Whether this process's rank failed (:func:`mark_failed`) and is ending."""
    return bool(_FAILED_HERE)


def another_rank_failed() -> bool:
    """Under a launcher that stops the ranks left after one failed (ddp_spawn's torch, by SIGTERM), whether one has,
    so that its SIGTERM is no stop of the user's. True where this process's rank failed (:func:`failed_here`, noted
    by :func:`mark_failed` in the process itself: its process group may be gone by then), else where the process
    group's store counts a failed rank; False outside DDP, or where the store no longer answers (rank zero, which
    holds it, has ended)."""
    return failed_here() or _store_count(FAILED_KEY) >= 1


def warn_rank_zero(note: str, stacklevel: int = 1) -> None:
    """A warning about what every process of a launch reads alike (the data): from global rank zero alone, the rank
    Lightning's rank_zero_only holds (each launcher sets it), as Lightning warns. Each DDP rank reads the data itself
    and printed the same line. Without Lightning loaded, or before it knows the rank, one process: warned."""
    rank_zero = sys.modules.get("lightning_utilities.core.rank_zero")  # imported with Lightning; never imported here
    if rank_zero is None or getattr(rank_zero.rank_zero_only, "rank", 0) == 0:
        warnings.warn(note, stacklevel=stacklevel + 1)


def _library_file(filename: str) -> bool:
    """Whether a frame's file is Python's or an installed package's (not this project's, not the user's own code)."""
    path = Path(filename)
    if filename.startswith("<") or {"site-packages", "dist-packages"} & set(path.parts):
        return True
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return any(path.resolve().is_relative_to(p) for p in prefixes)


def raised_in_user_code(err: BaseException) -> str:
    """Where code of the user's own (a domain outside this repository) met ``err`` from a library it called, numpy's
    or torch's: " (raised in <file>:<line>, in <function>; ...)", the place to look for the cause. "" where this
    project's code met it, or where a ``raise`` statement of the user's raised it: such messages name their cause."""
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    for depth, (code, line) in enumerate(reversed(frames)):
        if _library_file(code.co_filename):
            continue
        where = Path(code.co_filename).resolve()
        if any(where.is_relative_to(p) for p in PROJECT_CODE):
            return ""
        if depth == 0 and linecache.getline(code.co_filename, line).lstrip().startswith("raise"):
            return ""
        return f" (raised in {code.co_filename}:{line}, in {code.co_name}; the traceback with {DEBUG_ENV}=1)"
    return ""


def hidden_domains(message: str) -> str:
    """"; the domains package imported is ..." for a line of a module of this project's ``domains`` package not
    found because a ``domains`` of the user's own (a domains/ folder in the working folder, under python -m) came
    first on sys.path and hides the project's (the top-level name is generic); "" otherwise."""
    found = getattr(sys.modules.get("domains"), "__file__", None)
    if "No module named 'domains." not in message or not found:
        return ""
    own = Path(found).resolve()
    own = own.parent if own.name == "__init__.py" else own
    if own == PROJECT_CODE[1]:
        return ""
    return f"; the domains package imported is {own}, not this project's {PROJECT_CODE[1]}: rename yours"


def fail(err: BaseException | str) -> NoReturn:
    """Print ``error: <cause>`` as one line and exit with status 2 (re-raise with PIXELTRANSFORMER_DEBUG=1). Under
    DDP the first rank to fail prints the line; every rank exits with status 2."""
    if isinstance(err, BaseException) and debugging():
        raise err
    cause = None if isinstance(err, str) else root_cause(err)
    message = "error: " + (err if cause is None else first_line(cause) + raised_in_user_code(cause))
    message += hidden_domains(message)
    if first_to_report():
        print(message, file=sys.stderr, flush=True)
    let_peers_read()
    raise InputExit(message) from None


class OneLineParser(argparse.ArgumentParser):
    """The parser of the plain commands (make bench, make results, make classifier): a bad option is one line on
    stderr, "<prog>: error: <cause>", exit status 2 (argparse's usage block before it ran to several lines; --help
    shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")
