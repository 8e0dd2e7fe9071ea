"""Classifier and VAE baseline on tiny inputs: shapes, caching, and that completion lowers its objective."""

import re

import numpy as np
import pytest
import torch

from domains.images.baselines import classifier as clf
from domains.images.baselines import vae as vae_mod
from domains.images.baselines.cache import cache_file
from pixeltransformer.sets import draw_context


def cached(folder, kind: str):
    """The one cache file of ``kind`` for the toy data in folder (its name holds the training config's digest)."""
    files = list(folder.glob(f"{kind}_toy_1x8x8_*.pt"))
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28)])
def test_classifier_shapes(shape):
    model = clf.ResNetClassifier(shape[0], 10, width=8)
    assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_train_classify_and_cache(tmp_path):
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    calls = []

    def data():
        calls.append(1)
        return x, y

    m = clf.load_or_train_classifier(tmp_path, data, "toy", (1, 8, 8), num_classes=3, epochs=1, width=8, progress=False)
    pred = clf.classify(m, x)
    assert pred.shape == (12,) and pred.dtype == torch.int64 and pred.max() < 3
    path = cached(tmp_path, "classifier")
    blob = torch.load(path, weights_only=True)
    assert blob["config"]["num_classes"] == 3
    again = clf.load_or_train_classifier(tmp_path, data, "toy", (1, 8, 8), num_classes=3, epochs=1, width=8, progress=False)
    assert len(calls) == 1 and torch.equal(clf.classify(again, x), pred)  # loaded, not retrained
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache") as warned:
        clf.load_or_train_classifier(tmp_path, data, "toy", (1, 8, 8), num_classes=3, epochs=1, width=8, progress=False)
    assert len(calls) == 2
    # one line, without torch's advice to load the file with weights_only=False (which runs what a file holds)
    assert all("\n" not in str(w.message) and "weights_only" not in str(w.message) for w in warned)


def test_classifier_learns_a_trivial_rule():
    x = torch.zeros(32, 1, 8, 8)
    x[16:] = 1.0  # dark vs bright images
    y = (torch.arange(32) >= 16).long()
    m = clf.train_classifier(x, y, epochs=15, width=8, progress=False, max_shift=0, batch_size=16)
    assert clf.accuracy(m, x, y) == 1.0


def test_classifier_rejects_tiny_images():
    with pytest.raises(ValueError, match="H>=8"):
        clf.train_classifier(torch.rand(2, 1, 4, 4), torch.zeros(2), epochs=1)


@pytest.mark.parametrize("size", [8, 28])
def test_vae_shapes(size):
    v = vae_mod.ConvVAE(3, size, width=8)
    mu, logvar = v.encode(torch.rand(2, 3, size, size))
    assert mu.shape == logvar.shape == (2, 64, 4, 4)
    assert v.decode(mu).shape == (2, 3, size, size)
    assert vae_mod.vae_loss(v, torch.rand(2, 3, size, size)).dim() == 0


def test_vae_train_cache_and_completion(tmp_path):
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    v = vae_mod.load_or_train_vae(tmp_path, lambda: x, "toy", (1, 8, 8), epochs=1, width=8, progress=False)
    assert torch.load(cached(tmp_path, "vae"), weights_only=True)["config"]["shape"] == [1, 8, 8]
    pos, val = draw_context(x[:3], 10, torch.Generator().manual_seed(0))
    z, history = vae_mod.complete_latents(v, pos, val, steps=30, lr=0.1)
    assert z.shape == (3, 64, 4, 4) and history.shape == (30,)
    assert history[-1] < 0.8 * history[0]
    final = vae_mod.completion_objective(v, z, pos, val).mean()
    assert final <= history[0]
    assert all(p.grad is None for p in v.parameters())  # the VAE stays frozen
    out = vae_mod.vae_complete(v, pos, val, steps=2)
    assert out.shape == (3, 1, 8, 8) and 0 <= out.min() and out.max() <= 1


def test_completion_objective_sums_l1_over_s():
    """The documented departure from the appendix: L1 summed over S (and channels), not averaged."""
    torch.manual_seed(0)
    v = vae_mod.ConvVAE(3, 8, width=8).eval()
    z = torch.randn(2, 64, 4, 4)
    pos, val = torch.rand(2, 5, 2) * 2 - 1, torch.rand(2, 5, 3)  # [B, K, 2], [B, K, 3]
    reg = 1e-3 * z.pow(2).sum(dim=(1, 2, 3))  # [B]
    with torch.no_grad():
        once = vae_mod.completion_objective(v, z, pos, val)
        twice = vae_mod.completion_objective(v, z, pos.repeat(1, 2, 1), val.repeat(1, 2, 1))
        l1 = (vae_mod.read_signal(v.decode(z), pos) - val).abs().sum(dim=(1, 2))  # [B]
    torch.testing.assert_close(once, l1 + reg)
    torch.testing.assert_close(twice, 2 * l1 + reg)  # an average would not change with S repeated


def test_the_baselines_train_on_8_bit_pictures_as_on_their_floats(tmp_path, monkeypatch):
    """The evaluation's classifier and VAE are trained on a split's stored 8-bit pictures, made float a batch at a
    time: the whole split as floats (and divided, twice that for a moment) took 6.2 GiB to evaluate 50 000 pictures of
    64x64, and would take 24 GiB for 200 000. The weights are those of training on the floats."""
    from domains.images.baselines import pretrained
    from domains.images.data import ImageDataModule

    pixels = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 3
    floats = pixels.float() / 255  # [12, 1, 8, 8]
    for train in (lambda x: clf.train_classifier(x, labels, epochs=1, width=8, progress=False, batch_size=4),
                  lambda x: vae_mod.train_vae(x, epochs=1, width=8, progress=False, batch_size=4)):
        weights = [train(x).state_dict() for x in (pixels, floats)]
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    trained_on = []
    monkeypatch.setattr(clf, "train_classifier", lambda x, y, *a, **k: trained_on.append(x.dtype) or
                        clf.ResNetClassifier(1, 10, 8))
    monkeypatch.setattr(vae_mod, "train_vae", lambda x, *a, **k: trained_on.append(x.dtype) or vae_mod.ConvVAE(1, 8, 8))
    dm = ImageDataModule("digits", splits=(40, 5, 5))
    pretrained.load_classifier(dm, tmp_path, epochs=1)
    pretrained.load_vae(dm, tmp_path, epochs=1)
    assert trained_on == [torch.uint8, torch.uint8]


def test_two_picture_folders_of_one_name_and_size_train_their_own_baselines(tmp_path, monkeypatch):
    """The cached VAE was named by the folder's name, the train size and the seed: a second folder of that name and
    size, or the same pictures split another way, got the first one's VAE, trained on other pictures (perhaps on its
    test pictures). The name now carries a digest of the train split's pixels and labels."""
    from PIL import Image

    from domains.images.baselines import pretrained
    from domains.images.data import ImageDataModule

    trained = []
    monkeypatch.setattr(vae_mod, "train_vae", lambda x, *a, **k: trained.append(x.clone()) or vae_mod.ConvVAE(1, 8, 32))
    rng = np.random.default_rng(0)
    for place in ("a", "b"):
        (tmp_path / place / "faces").mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / place / "faces" / f"{i}.png")

    def vae_of(place: str, **options) -> None:
        dm = ImageDataModule("folder", root=str(tmp_path / place / "faces"), channels=1, image_size=8, bins="uniform",
                             cache_dir=str(tmp_path / "pictures"), splits=(5, 2, 2), **options)
        pretrained.load_vae(dm, tmp_path / "nets", epochs=1)

    vae_of("a")
    vae_of("a")  # cached
    assert len(trained) == 1
    vae_of("b")  # another folder of one name and size: its own VAE, on its own pictures
    assert len(trained) == 2 and not torch.equal(trained[0], trained[1])
    vae_of("a", split_layout=1)  # the same pictures, its train split drawn otherwise
    assert len(trained) == 3


@pytest.mark.parametrize("kind", ["classifier", "vae"])
def test_a_baselines_weights_are_a_function_of_its_seed_whatever_the_global_random_state(kind):
    """The evaluation caches each helper network under its seed, so the seed alone must give its weights: the VAE
    drew its reparameterisation noise from torch's global generator, whose state depends on what ran before it."""
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # [12, 1, 8, 8]
    labels = torch.arange(12) % 3

    def train(seed: int, global_seed: int) -> dict[str, torch.Tensor]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(global_seed)
            if kind == "classifier":
                return clf.train_classifier(x, labels, epochs=2, seed=seed, width=8, batch_size=4,
                                            progress=False).state_dict()
            return vae_mod.train_vae(x, epochs=2, seed=seed, width=8, batch_size=4, progress=False).state_dict()

    first, other_global, other_seed = train(0, 1), train(0, 2), train(1, 1)
    assert [k for k in first if not torch.equal(first[k], other_global[k])] == []
    assert not all(torch.equal(first[k], other_seed[k]) for k in first if first[k].is_floating_point())


def test_a_vae_cached_before_its_noise_was_seeded_is_retrained(tmp_path):
    """A VAE cached when its training noise came from the global generator has weights its seed does not give:
    its cache entry does not match the current config, so it is retrained rather than loaded."""
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # [8, 1, 8, 8]
    vae_mod.load_or_train_vae(tmp_path, lambda: x, "toy", (1, 8, 8), epochs=1, width=8, progress=False)
    path = cached(tmp_path, "vae")
    blob = torch.load(path, weights_only=True)
    del blob["config"]["training"]  # the config as it was written before
    torch.save(blob, path)
    with pytest.warns(UserWarning, match="retraining"):
        vae_mod.load_or_train_vae(tmp_path, lambda: x, "toy", (1, 8, 8), epochs=1, width=8, progress=False)
    assert "training" in torch.load(path, weights_only=True)["config"]


def test_a_large_picture_folder_trains_its_vae_for_a_bounded_number_of_pixels(tmp_path, monkeypatch):
    """The folder default of 30 epochs is sized for 4 000 pictures of 64x64 (38 min on one core); a folder of 50 000
    would take ~8 h before the evaluation began. A folder now trains for as many pixels at most (at least one epoch);
    smaller folders and the other datasets keep their epochs, and vae_epochs still decides when given."""
    from PIL import Image

    from domains.images.baselines import pretrained
    from domains.images.data import ImageDataModule

    assert pretrained.default_vae_epochs("folder", 4000, 64) == 30
    assert pretrained.default_vae_epochs("folder", 1000, 64) == 30
    assert pretrained.default_vae_epochs("folder", 50_000, 64) == 2
    assert pretrained.default_vae_epochs("folder", 12_000, 64) == 10
    assert pretrained.default_vae_epochs("folder", 10_000_000, 64) == 1
    assert pretrained.default_vae_epochs("folder", 4000, 128) == 7  # four times the pixels a picture
    assert pretrained.default_vae_epochs("cifar10", 50_000, 32) == 10 and pretrained.default_vae_epochs("mnist", 60_000, 28) == 2
    epochs = []
    monkeypatch.setattr(vae_mod, "train_vae", lambda x, e, *a, **k: epochs.append(e) or vae_mod.ConvVAE(1, 8, 8))
    monkeypatch.setattr(pretrained, "FOLDER_VAE_PIXELS", 3 * 5 * 8 * 8)  # three epochs of five 8x8 pictures
    (tmp_path / "faces").mkdir()
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "faces" / f"{i}.png")
    dm = ImageDataModule("folder", root=str(tmp_path / "faces"), channels=1, image_size=8, bins="uniform",
                         cache_dir=str(tmp_path / "pictures"), splits=(5, 2, 2))
    pretrained.load_vae(dm, tmp_path / "nets")
    pretrained.load_vae(dm, tmp_path / "other", epochs=4)
    assert epochs == [3, 4]


def test_weights_that_cannot_be_cached_are_still_used(tmp_path, monkeypatch, blocked, full_disk):
    """An evaluation whose cache folder could not be written (a file on its path, a read-only file system) trained
    the classifier or VAE for minutes, then stopped with the OSError of writing it. The network is now used, with
    one warning said before the training; a write that fails after it (a full disk) warns too, in the words of the
    project's other caches (cache.not_cached): it named neither the folder nor what to do."""
    from domains.images.baselines import cache as cache_mod

    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    with pytest.warns(cache_mod.NotCachedWarning, match=rf"^cannot cache classifier_toy_1x8x8_e1-[0-9a-f]{{8}}\.pt in {blocked} "
                      rf"\({blocked} is a file, not a folder\): it is trained at every evaluation"):
        m = clf.load_or_train_classifier(blocked, lambda: (x, y), "toy", (1, 8, 8), num_classes=3, epochs=1, width=8,
                                         progress=False)
    assert clf.classify(m, x).shape == (12,) and not m.training and blocked.is_file()

    monkeypatch.setattr(cache_mod, "atomic_write", full_disk)
    with pytest.warns(cache_mod.NotCachedWarning, match=r"^vae_toy_1x8x8_e1-[0-9a-f]{8}\.pt not cached: cannot write "
                      rf"{re.escape(str(tmp_path))} \(No space left on device\): trained again \(\d+ s\) at the "
                      r"next evaluation; set \$PIXELTRANSFORMER_CACHE \(or cache_dir\) to a folder this user can "
                      r"write$"):
        v = vae_mod.load_or_train_vae(tmp_path, lambda: x, "toy", (1, 8, 8), epochs=1, width=8, progress=False)
    assert v.decode(v.encode(x)[0]).shape == (12, 1, 8, 8)
    assert not list(tmp_path.glob("vae_*"))


def test_make_classifier_refuses_a_cache_it_cannot_write_before_training(tmp_path, monkeypatch, capsys, blocked):
    """`make classifier` trained the classifier, then ended in a traceback (NotADirectoryError, PermissionError):
    its whole purpose, the cache, cannot be met. It now says so in one line, exit status 2, before any training."""
    from domains.images.baselines import pretrained
    from domains.images.data import ImageDataModule

    def no_training(*args, **kwargs):
        raise AssertionError("trained although nothing could be cached")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    with pytest.raises(SystemExit) as exit_info:
        pretrained.main(["--data", "digits", "--cache_dir", str(blocked / "nets"), "--classifier_epochs", "1", "--no_vae",
                         "--device", "cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    name = re.escape(f"classifier_{pretrained.dataset_key(ImageDataModule('digits'))}_1x8x8_e1-") + "[0-9a-f]{8}"
    assert re.fullmatch(rf"error: cannot cache {name}\.pt in {re.escape(str(blocked / 'nets'))} "
                        rf"\({re.escape(str(blocked))} is a file, not a folder\): it is trained at every evaluation; "
                        r"set \$PIXELTRANSFORMER_CACHE \(or cache_dir\) to a folder this user can write\n", err), err


def test_cached_weights_that_do_not_fit_the_network_are_retrained(tmp_path):
    """A cache file whose config matches but whose weights are another network's (written over, or by an older
    network of the same config) stopped the evaluation with torch's "Error(s) in loading state_dict" and its
    traceback. It is now retrained, with one warning, as a file of another config is."""
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    clf.load_or_train_classifier(tmp_path, lambda: (x, y), "toy", (1, 8, 8), num_classes=3, epochs=1, width=8,
                                 progress=False)
    path = cached(tmp_path, "classifier")
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["head.weight"] = torch.zeros(5, 2)  # [5, 2], not [3, 32]
    torch.save(blob, path)
    with pytest.warns(UserWarning, match=r"cached weights do not fit the network \(Error\(s\) in loading state_dict"):
        m = clf.load_or_train_classifier(tmp_path, lambda: (x, y), "toy", (1, 8, 8), num_classes=3, epochs=1,
                                         width=8, progress=False)
    assert clf.classify(m, x).shape == (12,)
    assert torch.load(path, weights_only=True)["state_dict"]["head.weight"].shape == (3, 32)


def test_a_picture_folder_with_a_long_name_is_cached_too(tmp_path):
    """A folder named with 70 CJK characters (210 bytes) made cache file names past the file system's 255 bytes:
    its decoded pictures were never cached (a warning at every start), and its VAE, trained for minutes, stopped the
    evaluation with "File name too long". The names keep the folder name's start (the digests tell folders apart)."""
    import warnings

    from PIL import Image

    from domains.images.baselines import pretrained
    from domains.images.data import ImageDataModule

    folder = tmp_path / ("猫" * 70)
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither "decoded pictures not cached" nor "not cached (File name too long)"
        dm = ImageDataModule("folder", root=str(folder), channels=1, image_size=8, bins="uniform",
                             cache_dir=str(tmp_path / "pictures"), splits=(5, 2, 2))
        pretrained.load_vae(dm, tmp_path / "nets", epochs=1, progress=False)
    assert len(list((tmp_path / "pictures").glob("猫*_8_1_*.npy"))) == 1
    (vae,) = (tmp_path / "nets").glob("vae_folder-猫*.pt")
    assert len(vae.name.encode()) < 255 - 40  # room for the temporary name's host and process


def test_classifiers_of_other_epochs_keep_a_cache_file_each(tmp_path):
    """The cache file was named by the dataset and image shape alone: evaluations with other classifier_epochs (or
    another width) wrote over one another's file, each retraining with a "cached weights were made for ..." warning
    (four alternating calls trained four times). Each training config now has its file, and an earlier version's
    file of the config asked for is taken over rather than trained again."""
    import warnings

    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    calls = []

    def data():
        calls.append(1)
        return x, y

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cached weights were made for ...; retraining"
        for epochs, width in ((1, 8), (2, 8), (1, 8), (2, 8), (1, 4), (1, 4)):
            clf.load_or_train_classifier(tmp_path, data, "toy", (1, 8, 8), num_classes=3, epochs=epochs, width=width,
                                         progress=False)
    assert len(calls) == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and all(re.fullmatch(r"classifier_toy_1x8x8_e[12]-[0-9a-f]{8}\.pt", n) for n in names)

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in tmp_path.glob("classifier_toy_1x8x8_e2-*.pt"):  # as an earlier version named it
        path.rename(cache_file(earlier, "classifier", "toy", (1, 8, 8)))
    clf.load_or_train_classifier(earlier, data, "toy", (1, 8, 8), num_classes=3, epochs=2, width=8, progress=False)
    assert len(calls) == 3 and [p.name for p in earlier.iterdir()] == [path.name]


def test_a_picture_folder_s_networks_are_named_after_the_folder_itself(tmp_path, monkeypatch):
    """The classifier and VAE of a picture folder were cached under the name of the root as given: `root: .` (run
    from inside the folder) named them "folder-", a link to the folder by the link's name, so one folder trained and
    kept its networks once for each way it was named. They are named after the folder the root leads to."""
    from PIL import Image

    from domains.images.baselines.pretrained import dataset_key
    from domains.images.data import ImageDataModule

    faces = tmp_path / "data" / "faces"
    faces.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(faces / f"{i}.png")
    (tmp_path / "latest").symlink_to(faces)
    monkeypatch.chdir(faces)

    def key(root: str) -> str:
        return dataset_key(ImageDataModule("folder", root=root, channels=1, image_size=8, bins="uniform",
                                           cache_dir=str(tmp_path / "pictures"), splits=(5, 2, 2)))

    keys = {root: key(root) for root in (str(faces), ".", "../faces", str(tmp_path / "latest"))}
    assert keys[str(faces)].startswith("folder-faces-n5-s0-")
    assert set(keys.values()) == {keys[str(faces)]}, keys
