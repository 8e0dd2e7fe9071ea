"""A checkpoint's data against the data a command reads: the split options it was trained with
(:func:`split_mismatch`: a seed or split sizes that may put its training items into the test split), pools changed
since (:func:`pool_change`: files added, removed or renamed), the options its items were made with
(:func:`conversion_mismatch`: an SDF's truncation, a video's frame_step, a resumed mixture's weighting) and the
split layout its splits were drawn in (:func:`checkpoint_split_layout`); a resume's data, by dataset
(:func:`check_resume_data`) and by the files its checkpoint recorded (:func:`check_resume_files`). Each mismatch is
one line naming both values and what to pass, which the command line prints where an evaluation or a resume starts
(:func:`warn_split_mismatch`, :func:`warn_conversion_mismatch`: from the launch's first process alone); the
DataModule's hooks (split_options, same_splits, pool_sizes, conversion_options, ...) supply what is compared.
"""

from __future__ import annotations

import dataclasses
import shlex
import warnings
from typing import Any, Sequence

from .cache import cache_key
from .config import is_number
from .datahints import source_name
from .datamodule import DATA_ERRORS, UNREAD, SignalDataModule, checked_spec, read_or, source_of
from .launch import first_on_its_node, first_process
from .runs import new_run_from
from .splits import SPLITS, pool_digests

SPLIT_WORDS = {"val": "validation", "test": "test"}  # the held-out splits as messages name them
# a video file given as root, as its folder listing named it before a file was recorded by its name and bytes
UNNAMED_FILE = cache_key(["."])
# a file or folder whose files its checkpoint recorded as not known (a file of voxel grids, an .npz of clips)
NO_FILES = object()


class DataMismatch(ValueError):
    """A checkpoint whose data (domain, grid, value dimensions, bins) is not the data it is given."""


def option_text(value: Any) -> str:
    """An option's value as the command line takes it: null, true, 3, [1000,100,200], {voxels: 0.5, meshes: 0.5}."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(option_text(v) for v in value) + "]"
    if isinstance(value, dict):  # a mapping as a YAML flow mapping: {procedural: 0.2, meshes: 0.8}
        return "{" + ", ".join(f"{k}: {option_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def option_word(value: Any) -> str:
    """:func:`option_text` as one word of a shell command: quoted where it holds spaces (a mapping)."""
    text = option_text(value)
    return shlex.quote(text) if " " in text else text


def split_mismatch(checkpoint: dict[str, Any], datamodule: "SignalDataModule", resume: bool = False,
                   reads: Sequence[str] = ("test",), files: FilesCompared | None = None) -> str | None:
    """One line when a checkpoint was trained on splits chosen by other options (seed, split sizes) than
    ``datamodule``'s, naming them and what to pass; None when they agree, when the splits the command ``reads`` hold
    the same items under both (:meth:`SignalDataModule.same_splits`), or when the checkpoint did not record them.
    ``resume``: the line of a fit that continues the checkpoint (which reads every split), rather than of an
    evaluation (its test split, or a validate's val split). Data changed since (:func:`pool_change`) is named too: in
    its own line where the options agree, after theirs where they differ (passing the checkpoint's options then
    draws its splits from other data). ``files``: its pool files as a resume compared them already
    (:func:`check_resume_files`), which are then not compared again."""
    state = checkpoint.get(type(datamodule).__qualname__)
    trained = state.get("split_options") if isinstance(state, dict) else None
    if not isinstance(trained, dict):
        return None
    mine = datamodule.split_options()
    differ = [k for k in trained if k in mine and option_text(trained[k]) != option_text(mine[k])]
    drawn_anew = set(differ) & set(datamodule.data_drawn_by)
    reads = SPLITS if resume else tuple(reads)
    # options that cut the pools otherwise from the same files (a video's stride) explain their other sizes
    shaped = set(differ) & set(datamodule.pool_shaped_by)
    sizes = None if shaped else state.get("pool_sizes")
    # asked only of what the checkpoint recorded (one written before records neither): they may read the data
    sizes_now = read_or(None, datamodule.pool_sizes) if isinstance(sizes, dict) else None
    if files is None:  # not compared by a resume already: compared here, under the source name its spec records
        saved = (checkpoint.get("hyper_parameters") or {}).get("spec") or {}
        files = compare_files(recorded_files(state), datamodule, source_name(saved)) or FilesCompared()
    changed = pool_change(sizes, sizes_now, files, datamodule, resume, reads)
    if not differ or (not drawn_anew and same_items(datamodule, {k: trained[k] for k in differ}, reads)):
        return changed
    # the options as trained on draw the checkpoint's splits only from the data it was trained on: a changed one named
    return other_options(trained, mine, differ, datamodule, resume, reads, drawn_anew) + (
        f"; besides, {changed}" if changed else "")


@dataclasses.dataclass(frozen=True)
class MadeOtherwise:
    """What a spec lacking a conversion option meant, where no value of the option makes that data again (SDF voxels
    from before they were padded to the margin): the line says ``why`` instead of what to pass."""

    why: str


def conversion_mismatch(checkpoint: dict[str, Any], datamodule: "SignalDataModule",
                        resume: bool = False) -> str | None:
    """One line when a checkpoint's spec records that its data was made with other options than ``datamodule``'s
    (its :meth:`SignalDataModule.conversion_options`: an SDF's truncation or margin, a video's frame_step), naming
    each with both values and what to pass; None when they agree, or the checkpoint recorded none of them. The model
    is then scored (or, ``resume``, trained on) data it was not trained on, which the numbers do not show. What no
    option sets but the data itself (:meth:`SignalDataModule.spec_mismatch`: a curve file's x step) follows."""
    trained = (checkpoint.get("hyper_parameters") or {}).get("spec")
    was_extra = (trained.get("extra") or {}) if isinstance(trained, dict) else None
    if not isinstance(datamodule, SignalDataModule) or not isinstance(was_extra, dict):
        return None
    notes = [_option_mismatch(trained, was_extra, datamodule, resume), datamodule.spec_mismatch(trained, resume)]
    return "; besides, ".join(n for n in notes if n) or None


def _option_mismatch(trained: dict[str, Any], was_extra: dict[str, Any], datamodule: "SignalDataModule",
                     resume: bool) -> str | None:
    """conversion_mismatch's line for the options of :meth:`SignalDataModule.conversion_options`."""
    mine = checked_spec(datamodule).extra
    was: dict[str, Any] = {}
    lost: list[str] = []  # options no value of which makes the checkpoint's data again: why
    for key, missing in datamodule.conversion_options(trained, resume=resume).items():
        value = was_extra.get(key, missing)  # a spec written before the option was recorded: what it meant
        if isinstance(value, MadeOtherwise):
            lost.append(f"data.init_args.{key}: {value.why}")
        elif key in mine and value is not None and not same_value(value, mine[key]):
            was[key] = value
    scored = "it now trains on other data than its own" if resume else "it is scored on data it was not trained on"
    if lost:
        return f"the checkpoint was trained on data made otherwise than this {'run' if resume else 'evaluation'} " \
               f"can make it ({'; '.join(lost)}): {scored}"
    if not was:
        return None
    then = ", ".join(f"data.init_args.{k}={option_text(v)}" for k, v in was.items())
    now = ", ".join(f"{k}={option_text(mine[k])}" for k in was)
    fix = " ".join(f"--data.init_args.{k} {option_word(v)}" for k, v in was.items())
    if resume:
        return (f"the checkpoint was trained on data made with {then}, not this run's ({now}): {scored}; pass {fix} "
                f"to continue on its own")
    return (f"the checkpoint was trained on data made with {then}, not this evaluation's ({now}): {scored}; pass "
            f"{fix} to evaluate on data made as its own")


def same_value(a: Any, b: Any) -> bool:
    """Whether two recorded option values agree: numbers by value (a config's 1 and a spec's 1.0), mappings of numbers
    (a mixture's shares, recorded to 6 decimals, which the shares of weights passed back as printed miss in the last)
    key by key within 1e-5, a key one lacks as 0, others as the command line writes them (a tuple and the list a
    checkpoint kept of it)."""
    numbers = is_number(a) and is_number(b)
    if isinstance(a, dict) and isinstance(b, dict) and all(is_number(v) for v in (*a.values(), *b.values())):
        return all(abs(float(a.get(k, 0)) - float(b.get(k, 0))) <= 1e-5 for k in {*a, *b})
    return float(a) == float(b) if numbers else option_text(a) == option_text(b)


def same_items(datamodule: "SignalDataModule", options: dict[str, Any], reads: Sequence[str]) -> bool:
    """:meth:`SignalDataModule.same_splits`, and False where the data is not there or the checkpoint's split sizes do
    not fit it (or are not numbers: a TypeError)."""
    return read_or(False, lambda: datamodule.same_splits(options, reads), DATA_ERRORS + (TypeError,))


def shared_with_train(datamodule: "SignalDataModule") -> tuple[str, ...]:
    """:attr:`SignalDataModule.splits_with_train`, and both held-out splits where the data is not there (what may
    hold training items is not known)."""
    return read_or(SPLITS[1:], lambda: datamodule.splits_with_train)


def other_options(trained: dict[str, Any], mine: dict[str, Any], differ: list[str], datamodule: "SignalDataModule",
                  resume: bool, reads: Sequence[str], drawn_anew: set[str]) -> str:
    """split_mismatch's line for split options ``differ`` that hold other items in the splits the command reads."""
    was = ", ".join(f"data.init_args.{k}={option_text(trained[k])}" for k in differ)
    now = ", ".join(f"{k}={option_text(mine[k])}" for k in differ)
    fix = " ".join(f"--data.init_args.{k} {option_text(trained[k])}" for k in differ)
    # items drawn anew (synthetic clips of another seed): none of the checkpoint's can be in any split
    shared = () if drawn_anew else shared_with_train(datamodule)
    if resume:
        risk = (f"may now train on its own {read_splits(shared)} items" if shared
                else "now trains on other items than its own")
        never = [s for s in ("val", "test") if s not in shared]
        risk += f", never on its {read_splits(never)} items" if never else ""
        return (f"the checkpoint was trained on the splits of {was}, not this run's ({now}): it {risk}; pass {fix} "
                "to continue on its own splits")
    read = read_splits(reads)  # "test", or a validate's "validation"
    if set(reads) & set(shared):
        return (f"the checkpoint was trained on the splits of {was}, not this evaluation's ({now}): the {read} split "
                f"may then differ from its own and hold items it trained on; pass {fix} to evaluate on its own")
    return (f"the checkpoint was trained on the splits of {was}, not this evaluation's ({now}): the {read} split may "
            f"then hold other items than its own, none of them its training items; pass {fix} to evaluate on its own")


def read_splits(splits: Sequence[str]) -> str:
    """Held-out splits as a message names them: "test", "validation", "validation and test"."""
    return " and ".join(SPLIT_WORDS[s] for s in splits)


def pool_change(trained: Any, mine: dict[str, int] | None, files: FilesCompared, datamodule: "SignalDataModule",
                resume: bool, reads: Sequence[str]) -> str | None:
    """One line when the pools a checkpoint's splits were drawn from held other numbers of items (``trained``, as its
    state recorded them) than ``datamodule``'s do now (``mine``: its pool_sizes), or came from other files (``files``:
    :func:`compare_files`): files added to, removed from or renamed in a folder since. The same options then draw
    other splits (a seeded permutation of another length, or of other files), so a test split of a shared pool holds
    items the checkpoint trained on. ``reads``: the splits an evaluation reads (its test split, or a validate's val
    split), whose pools alone it compares: a train/ folder changed moves no item of a test/ folder's test split. A
    ``resume`` whose test pool alone changed moves none of its training or validation items: its test split is named.
    None when they agree, or either is not known."""
    def differ(splits: Sequence[str] | None) -> tuple[bool, bool]:  # sizes, files: in the pools ``splits`` draw from
        pools = None if splits is None or mine is None else pools_read(splits, mine)
        return mine is not None and pools_differ(trained, mine, pools), files.differ(splits)

    other_sizes, other_files = differ(None if resume else reads)
    if not (other_sizes or other_files):
        return None

    def items(sizes: dict) -> str:  # "12 items", or "8 items [6 in train/, 2 in test/]" for split folders
        parts = sorted(sizes.items(), key=lambda kv: SPLITS.index(kv[0]) if kv[0] in SPLITS else -1)
        each = "" if list(sizes) == ["all"] else f" [{', '.join(f'{n} in {name}/' for name, n in parts)}]"
        return f"{sum(sizes.values())} items{each}"

    if other_sizes:
        changed = (f"the checkpoint's splits were drawn from {items(trained)}, but the data now holds {items(mine)} "
                   "(another folder, or files added or removed since): the same options draw other splits")
    else:
        changed = (f"the checkpoint's splits were drawn from {items(mine) + ' of ' if mine else ''}other files than "
                   "the data's now (another folder, or files renamed, added or removed since): the same options may "
                   "draw other splits")
    shared = shared_with_train(datamodule)
    if resume and not any(differ(SPLITS[:2])):  # a test pool alone: no item it trains or validates on moved
        return (f"{changed}, and this run's test split may hold other items than its own (its training and "
                "validation items are the same); test it on the data it was trained on")
    if resume:
        risk = f"this run may train on its own {read_splits(shared)} items" if shared else \
            "this run trains on other items than its own"
        return f"{changed}, and {risk}; continue on the data it was trained on"
    read = read_splits(reads)
    if set(reads) & set(shared):
        return (f"{changed}, and the {read} split may hold items it trained on; evaluate it on the data it was "
                "trained on")
    return (f"{changed}, and the {read} split may hold other items than its own; evaluate it on the data it was "
            "trained on")


def pools_read(splits: Sequence[str], pools: Sequence[str]) -> set[str]:
    """The pools ``splits`` draw from: one pool ("all"), or split folders' (validation from train/ without val/)."""
    return {"all"} if "all" in pools else {s if s in pools else "train" for s in splits}


def pools_differ(was: Any, now: dict[str, Any], read: set[str] | None) -> bool:
    """Whether what a checkpoint recorded of each pool (``was``: its size, or its files' digest) differs from ``now``
    in the pools ``read`` (None: all); pools of another layout (a val/ folder added) differ in all."""
    if not isinstance(was, dict) or read is None or set(was) != set(now):
        return was != now
    return any(was[pool] != now[pool] for pool in read if pool in now)


@dataclasses.dataclass(frozen=True)
class FilesCompared:
    """A DataModule's pool files against those its checkpoint recorded, compared once (:func:`compare_files`): the
    data's ``pools`` now, those whose files differ (``changed``), and ``whole`` where all differ (pools of another
    layout, or a checkpoint's one digest of every file that differs). FilesCompared(): none known to differ."""

    pools: tuple[str, ...] = ()
    changed: frozenset[str] = frozenset()
    whole: bool = False

    def differ(self, reads: Sequence[str] | None) -> bool:
        """Whether the files differ in the pools the splits ``reads`` draw from (None: in any pool)."""
        if self.whole or reads is None:
            return self.whole or bool(self.changed)
        return bool(self.changed & pools_read(reads, self.pools))


def compare_files(trained: Any, datamodule: "SignalDataModule", was_name: str | None) -> FilesCompared | None:
    """``datamodule``'s pool files (:meth:`SignalDataModule.pool_files`, as named under the checkpoint's source name
    ``was_name``: :func:`as_named`) against those its checkpoint recorded (``trained``: :func:`recorded_files`).
    None, not compared: a checkpoint that recorded none (written before it did), data that cannot be read now, files
    known on neither side (a file of voxel grids, an .npz of clips: :data:`NO_FILES`, for another such). Files known
    on one side alone differ in all, as a training-only source's do (:func:`train_only_change`), where the data names
    a file or folder now (else, procedural chairs or digits: None). Files known on both: its one digest of every
    file's name (a checkpoint written before pools had theirs) differs in all or none; its digest of each pool's
    (:func:`pool_digests`) in the pools that differ, or in all for pools of another layout."""
    known = isinstance(trained, (str, dict))  # files known as trained, else NO_FILES or none recorded
    if not known and trained is not NO_FILES:
        return None
    files = read_or(UNREAD, datamodule.pool_files)  # None: files not known now
    if files is UNREAD or (files is None and not known):
        return None
    if files is None or not known:
        return FilesCompared(whole=True) if source_of(datamodule) else None
    files = as_named(files, source_of(datamodule) or None, was_name)
    if isinstance(trained, str):
        return FilesCompared(whole=cache_key(files) != trained)
    digests = pool_digests(files)
    if set(trained) != set(digests):
        return FilesCompared(tuple(digests), whole=True)
    return FilesCompared(tuple(digests), frozenset(pool for pool in digests if trained[pool] != digests[pool]))


def checkpoint_split_layout(checkpoint: dict[str, Any], datamodule_class: str) -> int:
    """The split layout (:func:`splits.split_indices`) a checkpoint's splits were drawn with: the one it records under
    its DataModule ``datamodule_class`` (a class name), or 1 for a checkpoint written before layouts were recorded."""
    state = checkpoint.get(datamodule_class)
    trained = state.get("split_options") if isinstance(state, dict) else None
    return int(trained.get("split_layout", 1)) if isinstance(trained, dict) else 1


def warn_split_mismatch(checkpoint: dict, datamodule: SignalDataModule, **kwargs: Any) -> None:
    """split_mismatch's line, from the first process alone, which alone compares: the comparison reads the data (a
    mesh folder is converted into the cache), and under torchrun or srun every process parses the command at once,
    before Lightning's prepare_data builds the cache in one process a node."""
    if first_process() and (note := split_mismatch(checkpoint, datamodule, **kwargs)):
        warnings.warn(note)


def warn_conversion_mismatch(checkpoint: dict, datamodule: SignalDataModule, resume: bool = False) -> None:
    """conversion_mismatch's line, from the first process alone (under DDP each rank would find it)."""
    if first_process() and (note := conversion_mismatch(checkpoint, datamodule, resume=resume)):
        warnings.warn(note)


def check_resume_data(run: str, saved: dict[str, Any], given: dict[str, Any], ckpt: str) -> None:
    """A resume of ``run`` given other data than its checkpoint's spec (``saved``) names: another dataset of its
    domain (``--data.init_args.dataset``, a data config), or no file or folder for its validation where the run read
    one (a mixture's eval_source turned procedural, :func:`~pixeltransformer.datahints.source_name`): its curves
    would go on over other data, and its best checkpoint be ranked by other validation items. Training the weights
    on other data is a new run from ``ckpt``. Another domain's data is the module's to refuse (check_checkpoint).
    A file or folder of another name is told by its files (:func:`check_resume_files`)."""
    if "dataset" not in saved or saved.get("domain") != given.get("domain"):
        return
    named = source_name(saved) is not None
    if saved.get("dataset") != given.get("dataset") or (named and source_name(given) is None):
        was, now = (data_name(spec, named) for spec in (saved, given))
        raise DataMismatch(f"--resume {run}: the run trained on {was} data, and this fit's is {now}: "
                           f"{new_run_instead(run, ckpt)}")


def check_resume_files(run: str, checkpoint: dict[str, Any], datamodule: SignalDataModule, given: dict[str, Any],
                       ckpt: str) -> FilesCompared | None:
    """A resume of ``run`` on ``datamodule``'s data (``given``: its spec, the model's) on the files its checkpoint
    ``ckpt`` recorded a digest of, pool by pool (their names; a curve or video file's name and bytes), told by these
    rather than by the data's name: the same files under another folder name (renamed since, a link to it) resume with
    a note; other files in the pools that training or validation draw from (another folder, files added, removed or
    renamed since) are refused, as another dataset is (:func:`check_resume_data`): the curves would go on over other
    items and the best checkpoint be ranked by other validation items (possibly ones it trained on), as are other
    files of a source that training alone reads (:func:`train_only_change`). A test pool changed alone moves neither,
    and is :func:`split_mismatch`'s to tell. A checkpoint that recorded no files (written before digests were, data
    read from no folder), or a file of voxel grids (an .npz of clips) for another such file, warns of another name as
    a guess. Refused on each node's first process, which reads its node's data in prepare_data too (on the launch's
    first alone, the other nodes waited for it until the process group's timeout); its notes from the launch's first
    process alone. The comparison, which :func:`split_mismatch` takes rather than compare again: FilesCompared()
    where the files could not be compared (nor could split_mismatch), None where this process does not compare or the
    data is another's."""
    saved = (checkpoint.get("hyper_parameters") or {}).get("spec") or {}
    if not first_on_its_node() or "dataset" not in saved:
        return None
    if any(saved.get(k) != given.get(k) for k in ("domain", "dataset")):
        return None  # another domain or dataset: refused before (check_checkpoint, check_resume_data)
    was_name = source_name(saved)
    was, now = (data_name(spec, was_name is not None) for spec in (saved, given))
    state = checkpoint.get(type(datamodule).__qualname__)
    trained = recorded_files(state)
    compared = compare_files(trained, datamodule, was_name)
    if compared is not None and compared.differ(("train", "val")):
        data = f"{was} data, and this fit's is {now}, of other files" if was != now else \
            f"{was} data, whose files have changed since"
        raise DataMismatch(f"--resume {run}: the run trained on {data}: {new_run_instead(run, ckpt)}")
    if (source := train_only_change(state, datamodule)) is not None:
        raise DataMismatch(f"--resume {run}: the run trained on {was} data, whose files have changed since in its "
                           f"training-only {source} source: {new_run_instead(run, ckpt)}")
    if compared is None:
        # a root that holds no data now is the fit's to refuse as it reads the data
        if trained in (None, NO_FILES) and was != now and first_process():  # named otherwise
            warnings.warn(f"--resume {run}: the run trained on {was} data, and this fit's is {now}: resumed, as a "
                          f"folder renamed since (a link to it, the file it holds) is the same data; if it is other "
                          f"data, start a new run from its checkpoint: {new_run_from(run, ckpt)}, then the options "
                          f"given")
        return FilesCompared()
    if was != now and first_process():
        warnings.warn(f"--resume {run}: the run trained on {was} data, and this fit's is {now}, of the file names "
                      "its checkpoint records: resumed")
    return compared


def train_only_change(state: Any, datamodule: SignalDataModule) -> str | None:
    """The first source that training alone reads (:meth:`SignalDataModule.train_only_files`) whose files in the pool
    its training draws from (one pool, or a train/ folder) are not those its checkpoint's DataModule ``state``
    recorded; None where they agree. A source of no known files (a file of voxel grids) differs from one of files,
    and not from another such. A checkpoint that recorded none (written before they were) and a source one side lacks
    (another mixture weighting: :func:`conversion_mismatch`'s to tell) are not compared."""
    recorded = state.get("train_only_files") if isinstance(state, dict) else None
    sources = read_or(None, datamodule.train_only_files) if isinstance(recorded, dict) else None
    for source, files in (sources or {}).items():
        if source not in recorded:
            continue
        was, now = recorded[source], None if files is None else pool_digests(files)
        if was is None or now is None:  # a file of voxel grids, whose files are not known
            if (was is None) != (now is None):
                return source
        elif any(was.get(p) != now.get(p) for p in pools_read(("train",), list(now))):
            return source  # a val/ folder added moves no training item; one pool for split folders does
    return None


def recorded_files(state: Any) -> Any:
    """The digests of its pools' file names a checkpoint's DataModule ``state`` recorded (:func:`pool_digests`, or one
    of them all); :data:`NO_FILES` where it recorded them as not known (a file of voxel grids, an .npz of clips);
    None where it recorded none (written before they were), or a video file given as root as "." (whatever the
    file)."""
    if not isinstance(state, dict) or "pool_files" not in state:
        return None
    trained = state["pool_files"]
    if trained is None:
        return NO_FILES
    return None if trained in (UNNAMED_FILE, {"all": UNNAMED_FILE}) else trained


def data_name(spec: dict[str, Any], named: bool) -> str:
    """A spec's data as a resume's line names it: images/folder, or images/folder (pics) where ``named``."""
    name = source_name(spec) if named else None
    return f"{spec.get('domain')}/{spec.get('dataset')}{f' ({name})' if name else ''}"


def new_run_instead(run: str, ckpt: str) -> str:
    """What a resume refused on other data does instead: a new run from its checkpoint ``ckpt``."""
    return (f"a run goes on with its own data; to train its weights on other data, start a new run from its "
            f"checkpoint: {new_run_from(run, ckpt)}, then the options given (without --resume)")


def as_named(files: list[str], now: str | None, was: str | None) -> list[str]:
    """A DataModule's pool files (:meth:`SignalDataModule.pool_files`) as they were listed under the source name
    ``was``: an entry that names the source itself (a curve file's ``name#digest``) takes that name back, so that a
    file renamed since is told by its bytes."""
    if not now or not was:
        return files
    return [was + f[len(now):] if f == now or f.startswith(f"{now}#") else f for f in files]
