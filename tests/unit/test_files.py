"""eval_folders.py: an evaluation's folder is replaced as a whole, and an evaluation that was killed loses nothing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixeltransformer.digests import FileDigests, file_digest
from pixeltransformer.eval_folders import REMOVED, drop_aside, put_back, recover, recover_all, set_aside
from pixeltransformer.files import RECENT_NS, by_stamp, data_files

SRC = Path(__file__).resolve().parents[2] / "src"


def _earlier(run: Path) -> dict[str, str]:
    (run / "eval" / "pictures").mkdir(parents=True)
    files = {"metrics.json": '{"rows": []}\n', "config_test.yaml": "seed: 1\n", "pictures/a.png": "png"}
    for name, text in files.items():
        (run / "eval" / name).write_text(text)
    return files


def _writer(run: Path, name: str, text: str) -> subprocess.Popen:
    """An evaluation in another process: it sets run/eval aside, writes eval/<name>, says what it set aside, and
    runs until it is killed."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from pixeltransformer.eval_folders import "
         "set_aside; run = Path(sys.argv[1]); aside = set_aside(run / 'eval'); (run / 'eval').mkdir(); "
         "(run / 'eval' / sys.argv[2]).write_text(sys.argv[3]); "
         "print('set aside:', aside.name if aside else 'nothing', flush=True); time.sleep(600)", str(run), name, text],
        env={"PYTHONPATH": str(SRC)}, stdout=subprocess.PIPE, text=True)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_a_writer_that_fails_or_ends_leaves_one_evaluation(tmp_path):
    files = _earlier(tmp_path)
    aside = set_aside(tmp_path / "eval")
    assert aside == tmp_path / ".eval.previous" and not (tmp_path / "eval").exists()
    assert recover_all(tmp_path) == []  # this process's own writer runs: a reader leaves it alone
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("partial")
    put_back(tmp_path / "eval")  # the writer failed
    assert _files(tmp_path / "eval") == files and _names(tmp_path) == ["eval"]
    assert set_aside(tmp_path / "eval") == aside
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("new")
    drop_aside(tmp_path / "eval")  # the writer ended
    assert _files(tmp_path / "eval") == {"metrics.json": "new"}
    assert _names(tmp_path) == ["eval"]
    assert set_aside(tmp_path / "missing") is None and recover(tmp_path / "missing") is None
    drop_aside(tmp_path / "missing")


def test_a_writer_that_fails_with_nothing_set_aside_leaves_nothing(tmp_path):
    assert set_aside(tmp_path / "eval") is None
    (tmp_path / "eval" / "pictures").mkdir(parents=True)
    (tmp_path / "eval" / "pictures" / "a.png").write_text("partial")
    put_back(tmp_path / "eval")
    assert _names(tmp_path) == []


def test_an_evaluation_killed_leaves_the_earlier_one_to_the_next_reader(tmp_path):
    """A running evaluation's aside is its own (readers leave it, a second evaluation of the folder is refused in
    one line); once it is killed (kill -9: no handler runs), the next reader puts the earlier evaluation back, over
    the killed one's partial files."""
    files = _earlier(tmp_path)
    writer = _writer(tmp_path, "metrics_vs_context.png", "partial")
    try:
        assert writer.stdout.readline().strip() == "set aside: .eval.previous"
        assert recover_all(tmp_path) == [] and recover(tmp_path / "eval") is None
        with pytest.raises(FileExistsError, match=rf"^{tmp_path / 'eval'} is being replaced by another evaluation "
                                                  rf"\(process {writer.pid} on .+\): wait for it to end$"):
            set_aside(tmp_path / "eval")
        assert _files(tmp_path / ".eval.previous") == files
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert recover_all(tmp_path) == [(tmp_path / "eval", "put back the earlier evaluation, which an evaluation that "
                                                         "did not end (killed) had set aside in .eval.previous")]
    assert _files(tmp_path / "eval") == files and _names(tmp_path) == ["eval"]
    assert recover_all(tmp_path) == []  # nothing left to put back


def test_an_aside_without_a_writer_file_is_put_back(tmp_path):
    """As an earlier version's killed evaluation left it: .eval.previous alone (also for eval-<name>/)."""
    files = _earlier(tmp_path)
    (tmp_path / "eval").rename(tmp_path / ".eval-best-step000010.previous")
    assert recover(tmp_path / "eval-best-step000010")
    assert _files(tmp_path / "eval-best-step000010") == files
    assert _names(tmp_path) == ["eval-best-step000010"]


def test_a_second_writer_waits_for_the_first_even_with_nothing_set_aside(tmp_path):
    """The first evaluation of a folder sets nothing aside but still holds its lock: a second one is refused
    rather than taking the first one's partial files for an earlier evaluation, and a reader finds nothing to put
    back and leaves the running writer's lock file alone. Once the first is killed, its partial files are not taken
    for an earlier evaluation: the next writer, or a reader, removes them."""
    writer = _writer(tmp_path, "metrics.json", "first")
    try:
        assert writer.stdout.readline().strip() == "set aside: nothing"
        lock = (tmp_path / ".eval.lock").stat().st_ino
        assert recover_all(tmp_path) == [] and (tmp_path / ".eval.lock").stat().st_ino == lock
        with pytest.raises(FileExistsError, match=r"is being replaced by another evaluation \(process "):
            set_aside(tmp_path / "eval")
        assert _files(tmp_path / "eval") == {"metrics.json": "first"} and _names(tmp_path) == [".eval.lock", "eval"]
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert set_aside(tmp_path / "eval") is None  # its writer gone: its partial files go, nothing is set aside
    assert _names(tmp_path) == [".eval.lock"]
    put_back(tmp_path / "eval")
    assert _names(tmp_path) == []


def test_a_reader_removes_what_a_killed_writer_wrote_with_nothing_before(tmp_path):
    """An evaluation killed with nothing set aside leaves eval/ with its partial files and its lock file naming it:
    the next reader removes both (an empty lock file, as a killed reader leaves it, marks nothing)."""
    writer = _writer(tmp_path, "metrics.json", "partial")
    assert writer.stdout.readline().strip() == "set aside: nothing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert _names(tmp_path) == [".eval.lock", "eval"]
    assert recover_all(tmp_path) == [(tmp_path / "eval", REMOVED)]
    assert _names(tmp_path) == [] and recover_all(tmp_path) == []
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("whole")
    (tmp_path / ".eval.lock").write_text("")
    assert recover_all(tmp_path) == [] and _names(tmp_path) == ["eval"]



def test_a_reader_acts_on_evaluation_folders_alone_and_on_what_their_writer_said(tmp_path):
    """A run folder may be any folder (a checkpoint's own): a lock file beside another folder is not an evaluation's.
    An evaluation's lock file says how far its writer got: nothing yet (the folder is still the earlier whole one),
    partial files, or done (only the aside was left to delete); partial files of a writer on another machine stay,
    as a lock may hold on one machine alone."""
    host = socket.gethostname()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_text("mine")
    (tmp_path / ".photos.lock").write_text(f"{host} 4242\n")
    assert recover_all(tmp_path) == [] and _names(tmp_path) == [".photos.lock", "photos"]

    files = _earlier(tmp_path)
    (tmp_path / ".eval.lock").write_text("")  # killed before it set anything aside
    assert recover_all(tmp_path) == [] and _files(tmp_path / "eval") == files
    (tmp_path / "eval").rename(tmp_path / ".eval.previous")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("whole")
    (tmp_path / ".eval.lock").write_text(f"{host} 4242 done\n")  # killed while it deleted the aside
    assert recover_all(tmp_path) == [] and _files(tmp_path / "eval") == {"metrics.json": "whole"}
    assert _names(tmp_path) == [".photos.lock", "eval", "photos"]
    (tmp_path / ".eval.lock").write_text("elsewhere 4242\n")  # a writer on another machine
    assert recover_all(tmp_path) == [] and _files(tmp_path / "eval") == {"metrics.json": "whole"}
    (tmp_path / ".eval.lock").write_text(f"{host} 4242\n")
    assert recover_all(tmp_path) == [(tmp_path / "eval", REMOVED)]
    assert _names(tmp_path) == [".photos.lock", "photos"]


def test_what_a_writer_leaves_at_any_point_is_read_right(tmp_path, monkeypatch):
    """The lock file is rewritten before each move of a folder: an aside with an empty lock file goes back over
    partial files; a writer that was done, whose aside could not be deleted whole, keeps its lock file saying so,
    and its whole folder is never replaced by what is left of the aside."""
    from pixeltransformer import eval_folders

    host = socket.gethostname()
    files_before = _earlier(tmp_path)
    (tmp_path / "eval").rename(tmp_path / ".eval.previous")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("partial")
    (tmp_path / ".eval.lock").write_text("")  # killed as it put its aside back
    assert [note for _, note in recover_all(tmp_path)] == [eval_folders.RESTORED.format(name="eval")]
    assert _files(tmp_path / "eval") == files_before and _names(tmp_path) == ["eval"]

    assert set_aside(tmp_path / "eval") == tmp_path / ".eval.previous"
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("new")
    real = shutil.rmtree
    monkeypatch.setattr(eval_folders.shutil, "rmtree",
                        lambda path, **kw: [f.unlink() for f in Path(path).glob("*.yaml")])
    drop_aside(tmp_path / "eval")  # the aside keeps files it could not delete (NFS, permissions)
    assert (tmp_path / ".eval.lock").read_text().endswith(" done\n") and (tmp_path / ".eval.previous").is_dir()
    assert recover_all(tmp_path) == [] and _files(tmp_path / "eval") == {"metrics.json": "new"}
    with pytest.raises(OSError, match=r"\.eval\.previous holds files of an earlier evaluation that could not be "
                                      r"deleted: delete them$"):
        set_aside(tmp_path / "eval")
    monkeypatch.setattr(eval_folders.shutil, "rmtree", real)
    assert recover_all(tmp_path) == [] and _files(tmp_path / "eval") == {"metrics.json": "new"}
    assert _names(tmp_path) == ["eval"]  # the aside went, then the lock file

    (tmp_path / ".eval.lock").write_text("elsewhere 4242\n")  # a writer on another machine: left as it runs
    assert recover_all(tmp_path) == [] and _names(tmp_path) == [".eval.lock", "eval"]
    (tmp_path / ".eval.lock").write_text(f"{host} 4242\n")
    assert recover_all(tmp_path) == [(tmp_path / "eval", REMOVED)] and _names(tmp_path) == []


def test_a_writer_on_another_machine_is_left_alone_by_writers_too(tmp_path):
    """Where a lock holds on one machine alone (some NFS set-ups), this machine gets the lock of a folder that a
    writer on another machine is replacing: that writer may run, so a new evaluation refuses its folder in one line
    naming what to delete if it no longer runs, as readers leave it; it took the partial files for a killed
    writer's and put the earlier evaluation back over them. Once the user deletes what the line names, the next
    command goes on as after a writer killed on this machine."""
    files = _earlier(tmp_path)
    (tmp_path / "eval").rename(tmp_path / ".eval.previous")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text("partial")
    (tmp_path / ".eval.lock").write_text("elsewhere 4242\n")  # its writer runs on the machine "elsewhere"
    lock, partial = tmp_path / ".eval.lock", tmp_path / "eval"
    with pytest.raises(FileExistsError, match=rf"^{partial} is being replaced by an evaluation on another machine "
                                              rf"\(process 4242 on elsewhere\), which cannot be checked from "
                                              rf"{socket.gethostname()}: wait for it to end, or if it no longer runs, "
                                              rf"delete its partial files, {partial}, then {lock}$"):
        set_aside(partial)
    assert _files(partial) == {"metrics.json": "partial"} and _files(tmp_path / ".eval.previous") == files
    assert lock.read_text() == "elsewhere 4242\n" and recover_all(tmp_path) == []
    shutil.rmtree(partial)  # what the line says, once that writer no longer runs
    lock.unlink()
    assert set_aside(partial) == tmp_path / ".eval.previous"  # the earlier evaluation, put back, is set aside
    put_back(partial)
    assert _files(partial) == files and _names(tmp_path) == ["eval"]

    (tmp_path / ".eval.previous").mkdir()
    (tmp_path / ".eval.previous" / "metrics.json").write_text("older")
    lock.write_text("elsewhere 4242 done\n")  # it ended, and is deleting the evaluation it replaced
    with pytest.raises(FileExistsError, match=rf"no longer runs, delete what is left of the evaluation it replaced, "
                                              rf"{tmp_path / '.eval.previous'}, then {lock}$"):
        set_aside(partial)
    assert _files(partial) == files and _files(tmp_path / ".eval.previous") == {"metrics.json": "older"}
    shutil.rmtree(tmp_path / ".eval.previous")
    with pytest.raises(FileExistsError, match=rf"no longer runs, delete {lock}$"):  # nothing else is left
        set_aside(partial)
    assert _files(partial) == files and lock.read_text() == "elsewhere 4242 done\n"


def test_without_file_locks_the_recorded_writer_tells(tmp_path, monkeypatch):
    """On a file system without flock, a writer recorded on this machine runs while its process does, and one
    recorded on another machine is taken to run."""
    from pixeltransformer import eval_folders

    def no_locks(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(eval_folders.fcntl, "flock", no_locks)
    files_before = _earlier(tmp_path)
    lock = tmp_path / ".eval.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        lock.write_text(f"{socket.gethostname()} {sleeper.pid}\n")
        assert recover_all(tmp_path) == []
        with pytest.raises(FileExistsError, match=rf"by another evaluation \(process {sleeper.pid} on "):
            set_aside(tmp_path / "eval")
    finally:
        sleeper.kill()
        sleeper.wait()
    lock.write_text("elsewhere 4242\n")
    with pytest.raises(FileExistsError, match=r"an evaluation on another machine \(process 4242 on elsewhere\)"):
        set_aside(tmp_path / "eval")
    assert _files(tmp_path / "eval") == files_before and recover_all(tmp_path) == []
    lock.write_text(f"{socket.gethostname()} {sleeper.pid}\n")  # its process has ended: its partial files go
    assert recover_all(tmp_path) == [(tmp_path / "eval", REMOVED)] and _names(tmp_path) == []


def test_data_files_searches_linked_folders_once_each(tmp_path):
    """A folder linked into the root (a dataset assembled from links) was left out without a word: rglob does not
    enter linked folders, so a ShapeNet root of linked synset folders had "no mesh files"."""
    (tmp_path / "elsewhere" / ".thumbnails").mkdir(parents=True)
    for name in ("elsewhere/b.OFF", "elsewhere/._b.off", "elsewhere/.thumbnails/c.off", "elsewhere/notes.txt"):
        (tmp_path / name).write_text("OFF")
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.off").write_text("OFF")
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "real" / "up").symlink_to(root)  # a link back up the tree
    (root / "zz_again").symlink_to(tmp_path / "elsewhere")  # a second way to a folder already read
    (root / "broken.off").symlink_to(tmp_path / "missing.off")
    with pytest.warns(UserWarning, match=r"left out 1 link to a missing file \(first: broken.off -> .*missing.off\)$"):
        assert data_files(root, (".off",)) == [root / "linked" / "b.OFF", root / "real" / "a.off"]


def test_links_to_missing_files_are_named_not_left_out_without_a_word(tmp_path):
    """A folder of links into a drive not mounted said only "no images in <folder>: expected .png/... files", though
    it held .png files; links that broke among good files changed the data without a word."""
    for i in range(3):
        (tmp_path / f"{i}.png").symlink_to(f"/mnt/unmounted/cats/{i}.png")
    (tmp_path / "notes.txt").symlink_to("/mnt/unmounted/notes.txt")  # not a data file: no word of it
    with pytest.warns(UserWarning, match=rf"^{tmp_path}: left out 3 links to missing files \(first: 0.png -> "
                                         r"/mnt/unmounted/cats/0.png\)$"):
        assert data_files(tmp_path, (".png",)) == []


def _aged(path: Path, text: str) -> Path:
    """A file written an hour ago, as a dataset's files are when a run starts (its change time is now: the tests that
    use it run on a clock an hour ahead, :func:`_hour_later`)."""
    path.write_text(text)
    os.utime(path, ns=(time.time_ns() - 3600 * 10**9,) * 2)
    return path


def _hour_later(monkeypatch) -> None:
    """FileDigests' clock an hour ahead: the start comes an hour after the files were written."""
    import types

    import pixeltransformer.digests as digests

    monkeypatch.setattr(digests, "time", types.SimpleNamespace(time_ns=lambda: time.time_ns() + 3600 * 10**9))


def test_file_digests_read_a_file_once_and_again_once_it_changes(tmp_path, monkeypatch):
    """Content-keyed caches (the SDF meshes and voxel files) hashed every file's bytes at every start: gigabytes for
    ShapeNet's chairs, on every DDP rank. The digest is remembered by path, size, times and inode, so a later start
    reads no bytes of a file that did not change; one that changed, even to the same size and modification time, is
    read again, and so is one modified just before it was read (a coarse clock could miss a rewrite)."""
    import pixeltransformer.digests as digests

    a, b = _aged(tmp_path / "a.obj", "v 0 0 0\n"), _aged(tmp_path / "b.obj", "v 1 1 1\n")
    _hour_later(monkeypatch)
    fresh = tmp_path / "fresh.obj"
    fresh.write_text("v 2 2 2\n")
    os.utime(fresh, ns=(time.time_ns() + 3600 * 10**9,) * 2)  # written just before the start, an hour later
    truth = [file_digest(p) for p in (a, b, fresh)]
    first = FileDigests(tmp_path / "cache" / "digests.json")
    assert [first(p) for p in (a, b, fresh)] == truth
    first.save()
    read = []
    monkeypatch.setattr(digests, "file_digest", lambda path, algorithm="sha256": read.append(Path(path).name) or "x")
    later = FileDigests(tmp_path / "cache" / "digests.json")  # another start
    assert [later(a), later(b)] == truth[:2] and read == []  # neither file's bytes were read
    assert later(fresh) == "x" and read == ["fresh.obj"]  # modified just before the first start read it
    stat = a.stat()
    a.write_text("v 9 9 9\n")  # the same size, and the same modification time below
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert later(a) == "x" and read == ["fresh.obj", "a.obj"]


def test_file_digests_read_again_a_file_copied_with_its_times_just_before_it_was_read(tmp_path, monkeypatch):
    """A copy that keeps times (``cp -p``, ``touch -r``) has an old modification time and a change time of now. The
    digests trusted a file whose modification time was old however recently it was written, so on a file system whose
    clock ticks coarsely (NFS, FAT: whole seconds) a second ``cp -p`` of another mesh of the same size in the same tick
    kept the first one's digest, and its cached SDF. A file changed in the two seconds before it was read is read again
    at the next start, whichever of its times says so."""
    import types

    import pixeltransformer.digests as digests

    mesh = _aged(tmp_path / "chair.obj", "v 0 0 0\n")  # cp -p: mtime an hour ago, ctime now
    st = mesh.stat()
    tick = max(st.st_mtime_ns, st.st_ctime_ns)
    coarse = types.SimpleNamespace(st_size=st.st_size, st_mtime_ns=st.st_mtime_ns, st_ctime_ns=tick, st_ino=st.st_ino)
    real_stat = Path.stat
    # a clock of whole ticks: both copies have the same size, times and inode
    monkeypatch.setattr(digests.Path, "stat", lambda self, **kw: coarse if self == mesh else real_stat(self, **kw))
    monkeypatch.setattr(digests, "time", types.SimpleNamespace(time_ns=lambda: tick + 10**8))  # read 0.1 s later
    first = FileDigests(tmp_path / "cache" / "digests.json")
    assert first(mesh) == file_digest(mesh)
    first.save()
    mesh.write_text("v 9 9 9\n")  # another chair of the same size, cp -p'd over it in the same tick
    assert FileDigests(tmp_path / "cache" / "digests.json")(mesh) == file_digest(mesh)


def test_by_stamp_keeps_an_answer_until_the_file_changes(tmp_path, monkeypatch, settled):
    """An answer read from a file (a video's size, whether a PNG is animated) is read once while the file stays as it
    was, and again once it is rewritten: another size, or the same size and modification time (its change time
    tells, or on a clock of coarse ticks the window of RECENT_NS), or another file renamed over it (its inode tells).
    A path that cannot be stat'ed is passed on each time."""
    import pixeltransformer.files as files

    read = []

    @by_stamp()
    def first_byte(path: str) -> str:
        read.append(path)
        return Path(path).read_text()[:1]

    path = tmp_path / "a.txt"
    path.write_text("ab")
    assert [first_byte(path) for _ in range(3)] == ["a"] * 3 and read == [str(path)]  # absolute path, read once
    monkeypatch.chdir(tmp_path)
    assert first_byte("a.txt") == "a" and len(read) == 1  # the same file by another name
    path.write_text("xyz")
    assert first_byte(path) == "x" and len(read) == 2
    stat = path.stat()
    path.write_text("qrs")  # the same size, and the same modification time below
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(files, "RECENT_NS", RECENT_NS)  # the change time may be the same tick: the window tells then
    assert first_byte(path) == "q" and len(read) == 3
    monkeypatch.setattr(files, "RECENT_NS", -1)
    other = tmp_path / "b.txt"
    other.write_text("mno")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, path)  # another file put in its place
    assert first_byte(path) == "m" and len(read) == 4
    with pytest.raises(FileNotFoundError):
        first_byte(tmp_path / "gone.txt")
    with pytest.raises(FileNotFoundError):
        first_byte(tmp_path / "gone.txt")
    assert read[4:] == [str(tmp_path / "gone.txt")] * 2


def test_by_stamp_reads_again_a_file_changed_just_now(tmp_path, monkeypatch):
    """On a coarse file-system clock (kernels before 6.13) a file rewritten with the same size in the tick it was
    read keeps its size, times and inode: the answer read from it then stayed. An answer read from a file changed
    within RECENT_NS (by its modification or change time) is not kept; one read once the file has settled is."""
    import types

    import pixeltransformer.files as files

    read = []

    @by_stamp()
    def text(path: str) -> str:
        read.append(path)
        return Path(path).read_text()

    path = tmp_path / "a.txt"
    path.write_text("ab")
    stamp = files.file_stamp(path)
    monkeypatch.setattr(files, "file_stamp", lambda _: stamp)  # whole ticks: the rewrite keeps the stamp
    tick = max(stamp.mtime_ns, stamp.ctime_ns)
    monkeypatch.setattr(files, "time", types.SimpleNamespace(time_ns=lambda: tick + 10**8))  # read 0.1 s later
    assert text(path) == "ab"
    path.write_text("cd")  # rewritten in the same tick
    assert text(path) == "cd" and len(read) == 2
    monkeypatch.setattr(files, "time", types.SimpleNamespace(time_ns=lambda: tick + files.RECENT_NS + 1))
    assert [text(path) for _ in range(3)] == ["cd"] * 3 and len(read) == 3  # settled: kept


def test_by_stamp_passes_keyword_arguments_on_and_keeps_an_answer_for_each(tmp_path, settled):
    """The wrapper shows the function's signature (functools.wraps), so a keyword argument is given by name: it is
    passed on, and an answer is kept for each of its values."""
    read = []

    @by_stamp()
    def start(path: str, frames: int | None = None) -> str:
        read.append(frames)
        return Path(path).read_text()[:frames]

    path = tmp_path / "a.txt"
    path.write_text("abcd")
    assert [start(path, frames=2), start(path, frames=2), start(path, frames=3), start(path)] == ["ab", "ab", "abc",
                                                                                                  "abcd"]
    assert read == [2, 3, None]


def test_unwritable_says_why_a_cache_folder_cannot_be_written(tmp_path, blocked):
    """Why files cannot be written into a cache folder, in words a line can hold, and None where they can (the
    folder made): a file on the path is named as such, not as mkdir's "File exists"; a name past the file system's
    limit is a reason too, not an OSError of its own."""
    from pixeltransformer.cache import unwritable

    assert unwritable(tmp_path / "a" / "b") is None and (tmp_path / "a" / "b").is_dir()
    assert unwritable(blocked) == f"{blocked} is a file, not a folder"
    assert unwritable(blocked / "c") == f"{blocked} is a file, not a folder"
    assert unwritable(tmp_path / ("n" * 300) / "c") == "File name too long"


def test_a_killed_writer_s_temporary_file_is_removed_by_a_later_write(tmp_path, monkeypatch, ended_pid):
    """A writer killed in the middle of atomic_write (kill -9, out of memory) left its hidden temporary file beside
    the entry for good, as large as the entry. A later write into the folder removes those of this machine's
    writers that no longer run, untouched for an hour; a running writer's, a recent one and those of another machine
    or of another PID namespace (a container of the same host name) stay. A name of an earlier version, without the
    namespace, was this host's."""
    import os
    import socket
    import time

    import pixeltransformer.files as files

    monkeypatch.setattr(files, "_SWEPT", set())
    host = files._writer().rpartition(".")[0]  # the host and its PID namespace
    dead = ended_pid
    hour_ago = time.time() - files.STALE_SECONDS - 60
    names = {"stale": f".entry.{host}.{dead}.0a1b2c3d.tmp.npy",
             "running": f".entry.{host}.{os.getpid()}.0a1b2c3d.tmp.npy",
             "parent": f".entry.{host}.{os.getppid()}.0a1b2c3d.tmp.npy",
             "recent": f".other.{host}.{dead}.0a1b2c3e.tmp.npy",
             "elsewhere": f".entry.node7.0.{dead}.0a1b2c3d.tmp.npy",
             "container": f".entry.{socket.gethostname()}.1.{dead}.0a1b2c3d.tmp.npy",
             "earlier": f".old.{socket.gethostname()}.{dead}.0a1b2c3d.tmp.npy"}  # an earlier version's: no namespace
    for what, name in names.items():
        (tmp_path / name).write_bytes(b"x" * 100)
        if what != "recent":
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    files.write_text(tmp_path / "entry.json", "{}")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*(names[what] for what in names if what not in ("stale", "earlier")), "entry.json"])


def test_whole_npy_tells_a_whole_cache_entry_from_a_damaged_one(tmp_path):
    """The check each cache makes of an entry before reading it: there, whole, not of Python objects, and of the
    shape (None: any size on that axis) and dtype asked."""
    import numpy as np

    from pixeltransformer.cache import whole_npy

    path = tmp_path / "e.npy"
    np.save(path, np.zeros((2, 3, 4), np.uint8))
    data = path.read_bytes()
    assert whole_npy(path) and whole_npy(path, (2, 3, 4), np.uint8) and whole_npy(path, (None, 3, 4))
    assert not whole_npy(path, (2, 3, 5)) and not whole_npy(path, (2, 12)) and not whole_npy(path, dtype=np.float32)
    for damaged in (b"", data[:-5], b"\x93NUMPY" + bytes(range(256)) * 4, b"hello"):
        path.write_bytes(damaged)
        assert not whole_npy(path)
    np.save(path, np.array([{}, None], dtype=object))
    assert not whole_npy(path) and not whole_npy(tmp_path / "absent.npy")


def test_a_cache_folder_that_cannot_be_written_is_one_line_in_every_cache_s_words(tmp_path, blocked):
    """check_cache_folder (before the work) and writing_cache (around the write) say "cannot <what> (<why>): <hint>",
    as a CacheWriteError, which a worker process hands back whole (pickled)."""
    import pickle

    from pixeltransformer.cache import CacheWriteError, check_cache_folder, writing_cache

    with pytest.raises(CacheWriteError) as info:
        check_cache_folder(blocked / "c", "write the cache", "set it elsewhere")
    assert str(info.value) == f"cannot write the cache ({blocked} is a file, not a folder): set it elsewhere"
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)
    check_cache_folder(tmp_path / "ok", "write the cache", "set it elsewhere")  # writable: nothing raised
    with pytest.raises(CacheWriteError, match=r"^cannot write x \(No space left on device\): hint$"):
        with writing_cache("write x", "hint"):
            raise OSError(28, "No space left on device")


def test_a_cache_write_out_of_memory_names_the_memory_not_the_folder(monkeypatch):
    """The procedural SDF chairs at `--data.init_args.resolution=256` (600 grids, a 20 GiB file mapped as it is
    written) under an address-space limit (`ulimit -v`) said `cannot write the SDF cache ... (Cannot allocate memory):
    set $PIXELTRANSFORMER_CACHE (or the data's cache_dir) to a folder this user can write`: another folder would not
    help. A write out of memory (ENOMEM) names the memory and what helps instead; the limit only where one is set."""
    import errno

    from pixeltransformer import memory
    from pixeltransformer.cache import CacheWriteError, writing_cache

    with pytest.raises(CacheWriteError, match=r"^cannot write x \(Cannot allocate memory\): the file could not be "
                                              r"mapped in the memory at hand: make the data smaller, or free memory$"):
        with writing_cache("write x", "set the cache elsewhere"):
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
    monkeypatch.setattr(memory, "address_limit", lambda: 6 * 10**9)
    with pytest.raises(CacheWriteError, match=r"^cannot write x \(Cannot allocate memory\): the file could not be "
                                              r"mapped in the memory at hand: make the data smaller, or raise this "
                                              r"process's memory limit \(ulimit -v\)$"):
        with writing_cache("write x", "set the cache elsewhere"):
            raise OSError(errno.ENOMEM, "Cannot allocate memory")


def test_the_cache_folder_follows_the_variables_and_ignores_a_relative_xdg_cache_home(tmp_path, monkeypatch):
    """$PIXELTRANSFORMER_CACHE, else $XDG_CACHE_HOME/pixeltransformer, else ~/.cache/pixeltransformer. A relative
    XDG_CACHE_HOME named another cache in every folder a command ran from (SDF grids and networks built again there);
    the XDG base directory spec says to ignore it."""
    from pixeltransformer.cache import cache_root

    monkeypatch.delenv("PIXELTRANSFORMER_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root("sdf") == tmp_path / "xdg" / "pixeltransformer" / "sdf"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert cache_root("sdf") == tmp_path / "home" / ".cache" / "pixeltransformer" / "sdf"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_root() == tmp_path / "home" / ".cache" / "pixeltransformer"
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "mine"))
    assert cache_root("images") == tmp_path / "mine" / "images"


def test_a_staging_folder_is_named_after_its_entry_when_a_killed_writer_s_goes_first(tmp_path, ended_pid):
    """A staging folder made where a killed writer had left its own was named after that one, not its entry
    (`..context.<host>.<ns>.<killed pid>.<random>.partial.<host>.<ns>.<pid>.<random>.partial`)."""
    import pixeltransformer.files as files
    from pixeltransformer.files import staging_folder

    writer = files._writer()  # the module's; this test module's own _writer starts a writer process
    (tmp_path / f".context.{writer.rpartition('.')[0]}.{ended_pid}.abcd_123.partial").mkdir()
    staged = staging_folder(tmp_path, "context")
    assert [p.name for p in tmp_path.iterdir()] == [staged.name]
    assert staged.name.startswith(f".context.{writer}.") and staged.name.count(".partial") == 1


def test_a_relative_data_or_cache_variable_is_named_as_the_absolute_folder_it_names(tmp_path, monkeypatch):
    """A relative $PIXELTRANSFORMER_DATA or $PIXELTRANSFORMER_CACHE (``data``, ``../cache``) was kept relative, so
    the same command run from another folder read and wrote elsewhere while its lines named the same relative path
    ("no data at data/mnist"). Each is read from the folder the command starts in, and named as that absolute path."""
    from pixeltransformer.datamodule import data_dir, default_root
    from pixeltransformer.cache import cache_root

    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", "data")
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", "../cache")
    assert data_dir() == tmp_path / "here" / "data"
    assert cache_root("sdf") == tmp_path / "cache" / "sdf"
    mnist = re.escape(str(tmp_path / "here" / "data" / "mnist"))
    with pytest.raises(FileNotFoundError, match=rf"^no data at {mnist}: "):
        default_root("mnist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", "~/data")
    assert data_dir() == tmp_path / "home" / "data"


def test_the_cache_hints_name_the_variable_and_the_option_that_sets_the_folder():
    """The data's caches and the networks' cache say the same remedy; only the option that names the folder differs."""
    from domains.images.baselines.cache import NETWORK_HINT
    from pixeltransformer.cache import CACHE_HINT

    assert CACHE_HINT == "set $PIXELTRANSFORMER_CACHE (or the data's cache_dir) to a folder this user can write"
    assert NETWORK_HINT == "set $PIXELTRANSFORMER_CACHE (or cache_dir) to a folder this user can write"


def test_a_user_s_path_has_its_tilde_as_the_home_folder_and_its_other_text_as_given(tmp_path, monkeypatch):
    """The one expansion of "~" the path options share (a config file's value, an option after "=", a notebook's
    argument: no shell expanded them); a "~" inside a name, or a relative path, is left as given."""
    from pixeltransformer.files import user_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_path("~/runs/x.ckpt") == tmp_path / "runs" / "x.ckpt"
    assert user_path(Path("~")) == tmp_path
    assert user_path("a~/b") == Path("a~/b") and user_path("runs") == Path("runs")


def test_writable_problem_names_the_folder_it_stops_at_and_why(tmp_path, blocked):
    """One line for the commands that check where they write before their work (results, the benchmarks): None
    where the folders can be made and written; the file on the way, or the folder that cannot be written, with the
    reason and the command's remedy."""
    from pixeltransformer.files import cannot_write, writable_problem

    assert writable_problem(tmp_path / "new" / "deeper", "--out x", "; r") is None
    assert writable_problem(blocked / "sub", "--out x", "; r") == f"--out x: {blocked} is a file, not a folder; r"
    assert writable_problem(Path("/sys/x"), "--out x", "; r") == \
        f"--out x: /sys cannot be written ({cannot_write(Path('/sys'))}); r"
    assert cannot_write(tmp_path) is None
