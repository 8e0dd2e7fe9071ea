"""pixeltransformer.errors: a warning about what every DDP rank reads alike comes from rank zero (warn_rank_zero);
a count's noun in the number of the count (counted, in_number); a number as written (as_written); a DDP rank's exit
after another rank's bad input (peer_lost_exit), and the launcher of ddp_spawn's processes (spawned)."""

import warnings

import pytest
from lightning_utilities.core.rank_zero import rank_zero_only

from pixeltransformer.errors import as_written, counted, in_number, upscaled, warn_rank_zero


@pytest.mark.parametrize("rank, warned", [(0, ["the data warns"]), (1, [])])
def test_warn_rank_zero_warns_from_rank_zero_alone(monkeypatch, rank, warned):
    """Every rank reads the data and met the same thing to warn of: rank zero warns, the other ranks do not."""
    monkeypatch.setattr(rank_zero_only, "rank", rank, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_rank_zero("the data warns")
    assert [str(w.message) for w in caught] == warned
    assert all(w.filename == __file__ for w in caught)  # stacklevel: the caller's line, not errors.py's


def test_a_count_s_noun_takes_one_plural_rule_everywhere():
    """counted() put an s on any noun ("2 batchs") while the loops' progress lines had a rule of their own
    ("3 meshes") and the evaluation's line spelled "batches" by hand: one rule now, or the plural given."""
    assert [counted(n, "batch") for n in (0, 1, 2)] == ["0 batches", "1 batch", "2 batches"]
    assert [counted(2, noun) for noun in ("mesh", "class", "box", "frame")] == ["2 meshes", "2 classes", "2 boxes",
                                                                                 "2 frames"]
    assert counted(3, "person", "people") == "3 people" and in_number(1, "person", "people") == "person"


def test_an_integer_is_written_exactly_and_a_bool_as_a_number():
    """A Python int or numpy integer went through float64: 2**53 + 1 was written 9007199254740992, 10**17 as 1e+17.
    An integer is written as its digits; a bool as before, 1 or 0."""
    import numpy as np

    assert [as_written(v) for v in (3, -7, 2**53 + 1, 10**17)] == ["3", "-7", "9007199254740993",
                                                                    "100000000000000000"]
    assert [as_written(v) for v in (np.int64(2**53 + 1), np.uint64(2**64 - 1), np.int8(-5))] == [
        "9007199254740993", "18446744073709551615", "-5"]
    assert [as_written(v) for v in (True, False, np.bool_(True))] == ["1", "0", "1"]
    assert [as_written(v) for v in (3.0, 0.1, 1e17, np.float32(0.1))] == ["3", "0.1", "1e+17", "0.1"]  # floats alike


def test_messages_that_count_say_one_thing_and_several_things(monkeypatch, poly_spec, tiny_module):
    """Lines that count something, in the one and in the many: the noun's number follows the count."""
    import numpy as np
    import torch

    from domains.sdf.mesh import _check_mesh
    from pixeltransformer import loading
    from pixeltransformer.datamodule import refuse_one_colour
    from pixeltransformer.splits import split_indices, split_sizes_cause
    from pixeltransformer.evaluation import left_out_line
    from pixeltransformer.rank_states import ranks_note
    from pixeltransformer.results_bench import bench_provenance

    assert split_sizes_cause("d", 1, "shape", (1, 0, 0), kind="usable").startswith(": d's 1 usable shape split 1/0/0 ")
    assert split_sizes_cause("d", 2, "image", (2, 0, 0)).startswith(": d's 2 images split 2/0/0 (train/val/test); ")
    for count, said in ((1, "1 clip"), (3, "3 clips")):
        with pytest.raises(ValueError, match=rf"^w: every pixel of its {said} is 7 of 255: clips of one colour"):
            refuse_one_colour(torch.tensor([7]), torch.tensor([7]), count, "clip", "w")
    for n, said in ((1, "1 item"), (0, "0 items")):
        with pytest.raises(ValueError, match=rf"^split sizes \(2, 0, 0\) do not fit {said}$"):
            split_indices(n, (2, 0, 0), 0)
    every = f"every one of the {poly_spec.num_points} points of {poly_spec.domain}/{poly_spec.dataset}: gone"
    assert left_out_line("test", [64], poly_spec, "gone") == f"[test] |S| level 64 observes {every}"
    assert left_out_line("fit", [32, 64], poly_spec, "gone") == f"[fit] |S| levels 32, 64 observe {every}"
    assert ranks_note(1, 2).startswith("the checkpoint holds the set sampler's random states of 1 rank and this fit ")
    assert ranks_note(2, 1).startswith("the checkpoint holds the set sampler's random states of 2 ranks and this fit ")
    for threads, said in ((1, "1 thread"), (4, "4 threads"), (None, "None threads")):
        machine = bench_provenance({"environment": {"torch_threads": threads}}, None)["machine"]
        assert machine == f"? (? cores), torch ?, {said}"
    for count, said in ((1, "1 CUDA device"), (2, "2 CUDA devices")):
        monkeypatch.setattr(loading, "accelerator", lambda: ("cuda", count))
        with pytest.raises(ValueError, match=rf"this machine has {said}, numbered from 0$"):
            loading.check_device(f"cuda:{count}")
    for skipped, said in ((1, "1 training batch was"), (3, "3 training batches were")):
        tiny_module.skipped_batches = skipped
        with pytest.warns(UserWarning, match=rf"^{said} skipped for a non-finite loss or gradients \("):
            tiny_module.on_train_end()
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])  # [3, 3] on one line
    for faces, said in (([[0, 1, 2]], "1 face"), ([[0, 1, 2], [2, 1, 0]], "2 faces")):
        with pytest.raises(ValueError, match=rf"^m: no area in its {said} \(the corners"):
            _check_mesh(line, np.array(faces), "m")


def test_inputs_upscaled_are_said_in_one_wording_by_every_domain():
    """A picture, a video file, an .npz or a folder smaller than it is read at was said upscaled in four wordings
    across the images and video domains ("it is upscaled", "so they were upscaled to interpolated pixels", "so their
    frames were upscaled"): one helper words them all."""
    assert upscaled("a.png: a 3×2 picture is", "the model's 8×8", True, ", and S is drawn from them") == (
        "a.png: a 3×2 picture is smaller than the model's 8×8, so it was upscaled to interpolated pixels, and S is "
        "drawn from them")
    assert upscaled("2 of the 6 pictures read in d are", "8×8 (first: a.png)", False, ": give a smaller size") == (
        "2 of the 6 pictures read in d are smaller than 8×8 (first: a.png), so they were upscaled to interpolated "
        "pixels: give a smaller size")


class _Store:
    """A stand-in for the process group's store: counts by key, as torch's store.add does."""

    def __init__(self, **counts: int):
        self.counts = dict(counts)

    def add(self, key: str, amount: int) -> int:
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]


def test_a_rank_that_lost_its_peer_after_another_s_bad_input_lets_the_peers_read_the_store(monkeypatch):
    """peer_lost_exit ends a rank whose collective lost its peer after another rank printed its bad input's line,
    with status 2 and no line of its own, once it has let the others read the store (let_peers_read: rank zero
    holds it for them); without a rank that reported, the error is left as it is and the store left alone."""
    from pixeltransformer import errors

    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    read = []
    monkeypatch.setattr(errors, "let_peers_read", lambda: read.append(errors._report_store()))
    lost = RuntimeError("Connection closed by peer [127.0.0.1]:29500")
    store = _Store()
    monkeypatch.setattr(errors, "_report_store", lambda: store)
    assert errors.peer_lost_exit(lost) is None and read == []
    store.add(errors.REPORTED_KEY, 1)  # another rank printed its line
    exit_ = errors.peer_lost_exit(lost)
    assert isinstance(exit_, errors.InputExit) and exit_.code == 2
    assert str(exit_) == "error: another process stopped on bad input (Connection closed by peer [127.0.0.1]:29500)"
    assert read == [store]
    # under load the peer's exit resets the connection: gloo's plain RuntimeError, which printed a traceback
    reset = RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:11137: Connection reset by peer. "
                         "This is typically caused by a remote worker hanging or bugs in the application.")
    assert isinstance(errors.peer_lost_exit(reset), errors.InputExit)
    assert errors.peer_lost_exit(RuntimeError("Read error: timed out")) is None  # not a peer that has gone


def test_a_subclass_of_lightning_s_process_launcher_is_left_as_it_is():
    """launch_in_one_line gives Lightning's own ddp_spawn and ddp_fork launcher the one-line exits; a launcher that
    subclasses it (XLA's) starts its processes its own way and is left unchanged."""
    from types import SimpleNamespace

    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher

    from pixeltransformer.spawned import OneLineLauncher, launch_in_one_line

    class XLALike(_MultiProcessingLauncher):
        pass

    def launcher_after(cls: type) -> _MultiProcessingLauncher:
        strategy = SimpleNamespace()
        strategy.launcher = strategy._launcher = cls(strategy, start_method="fork")
        launch_in_one_line(SimpleNamespace(strategy=strategy))
        return strategy._launcher

    assert type(launcher_after(XLALike)) is XLALike
    own = launcher_after(_MultiProcessingLauncher)  # Lightning's own: given the one-line exits, same start method
    assert type(own) is OneLineLauncher and own._start_method == "fork"


def test_an_input_that_is_not_a_tensor_is_named_in_one_wording_by_every_call(tiny_module):
    """"must be a torch.Tensor" was worded apart in inference.check_sets and BinnedGaussian.check_params (and the
    sets' helpers did not say it: numpy's arrays stopped in torch's words); one helper says it for every call."""
    import numpy as np
    import torch

    from pixeltransformer.errors import check_type
    from pixeltransformer.inference import check_sets
    from pixeltransformer.sets import draw_context

    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor, got numpy.ndarray \(convert it\)$"):
        check_type("x", np.zeros(2), torch.Tensor, "convert it")
    check_type("x", torch.zeros(2), torch.Tensor, "convert it")  # a tensor passes
    pos, val = np.zeros((1, 3, 1), np.float32), np.zeros((1, 3, 1), np.float32)  # [1, 3, 1] each
    lines = []
    for call in (lambda: check_sets(tiny_module.model, pos, val, pos), lambda: tiny_module.dist.check_params(pos),
                 lambda: draw_context(pos, 2)):
        with pytest.raises(TypeError) as caught:
            call()
        lines.append(str(caught.value))
    assert [line.split(" (")[0] for line in lines] == ["ctx_pos must be a torch.Tensor, got numpy.ndarray",
                                                      "params must be a torch.Tensor, got numpy.ndarray",
                                                      "draw_context: signal must be a torch.Tensor, got numpy.ndarray"]
