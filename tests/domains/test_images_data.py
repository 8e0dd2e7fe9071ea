"""ImageDataModule: spec before setup, bins, splits, items; and a user's picture read by the ImageDomain."""

import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from domains.images import io
from domains.images.data import ImageDataModule
from domains.images.domain import ImageDomain
from images_fixtures import SHARED, write_cifar_batches, write_cifar_npz, write_folder, write_mnist
from pixeltransformer.domain import context_columns


def test_digits_spec_needs_no_data_and_matches_items():
    dm = ImageDataModule("digits", batch_size=8)
    assert dm._pools is None
    s = dm.spec
    assert dm._pools is None  # uniform grayscale bins: spec comes without reading anything
    got = (s.domain, s.dataset, s.grid_shape, s.val_dims, s.val_range, s.num_bins)
    assert got == ("images", "digits", (8, 8), 1, (0.0, 1.0), 32)
    centres = s.bin_centres()
    assert centres.shape == (32, 1) and torch.allclose(centres[0], torch.tensor([1 / 64]))
    dm.setup("fit")
    assert [len(dm.dataset(x)) for x in ("train", "val", "test")] == [1497, 100, 200]
    batch = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)  # the batch the module gets
    assert batch["signal"].shape == (8, 1, 8, 8) and batch["signal"].dtype == torch.float32
    assert 0.0 <= batch["signal"].min() and batch["signal"].max() <= 1.0 and batch["label"].shape == (8,)
    assert dm.num_classes == 10


def test_digits_given_a_root_name_no_data_place(tmp_path):
    """The [run] line and the W&B config name the places a command reads (data_places): bundled digits read no root
    given to them (it named one that did not exist, as the data trained on), while a folder's root is read."""
    assert ImageDataModule("digits", root=str(tmp_path / "nonexistent")).data_places("fit") == {}
    assert ImageDataModule("folder", root=str(tmp_path)).data_places("fit") == {"root": tmp_path}


def test_a_batch_is_read_in_one_call_and_sent_as_8_bit_levels(monkeypatch, under_trainer):
    """The loader's batch is one gather of the stored uint8 pixels (a quarter of float32's bytes to collate, page-lock
    and copy); on its device it becomes the float items' values, bit for bit."""
    from domains.images.data import UInt8ImageDataset

    dm = under_trainer(ImageDataModule("digits", batch_size=8))
    dm.setup("fit")

    def one_by_one(self, i):
        raise AssertionError("a batch was read item by item")

    with monkeypatch.context() as patch:
        patch.setattr(UInt8ImageDataset, "__getitem__", one_by_one)
        sent = next(iter(dm.train_dataloader()))
    assert sent["signal"].dtype == torch.uint8 and sent["signal"].shape == (8, 1, 8, 8)
    got = dm.on_after_batch_transfer(sent, 0)
    items = [dm.dataset("train")[int(i)] for i in sent["index"]]
    assert got["signal"].dtype == torch.float32
    assert torch.equal(got["signal"], torch.stack([it["signal"] for it in items]))  # [8, 1, 8, 8]
    assert torch.equal(got["label"], torch.stack([it["label"] for it in items]))


def test_splits_are_disjoint_complete_and_deterministic():
    def index(seed):
        return {k: v[1] for k, v in ImageDataModule("digits", seed=seed)._split_index().items()}
    a, b, c = index(0), index(0), index(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["val"], c["val"])
    allidx = torch.cat(list(a.values()))
    assert len(allidx) == 1797 and len(set(allidx.tolist())) == 1797
    dm = ImageDataModule("digits", splits=(-1, 10, 20))
    assert [len(dm.dataset(x)) for x in ("train", "val", "test")] == [1767, 10, 20]


def test_mnist_one_file_and_two_files(tmp_path):
    write_mnist(tmp_path / "one", "test", 40, gz=False)
    dm = ImageDataModule("mnist", root=str(tmp_path / "one"))
    assert dm.spec.grid_shape == (28, 28) and dm.spec.num_bins == 32
    assert [len(dm.dataset(x)) for x in ("train", "val", "test")] == [32, 4, 4]  # N // 10 held out twice
    write_mnist(tmp_path / "two", "train", 30, seed=1)
    test_images, _ = write_mnist(tmp_path / "two", "test", 12, seed=2)
    dm = ImageDataModule("mnist", root=str(tmp_path / "two"), splits=(-1, 5, -1))
    assert [len(dm.dataset(x)) for x in ("train", "val", "test")] == [25, 5, 12]
    # test = the whole test file in file order
    assert torch.equal(dm.build_split("test").images[:, 0], torch.from_numpy(test_images))


def test_mnist_resized_and_missing(tmp_path):
    write_mnist(tmp_path, "test", 20, size=28)
    dm = ImageDataModule("mnist", root=str(tmp_path), image_size=16, splits=(10, 5, 5))
    assert dm.spec.grid_shape == (16, 16) and dm.dataset("train")[0]["signal"].shape == (1, 16, 16)
    dm = ImageDataModule("mnist", root=str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="absent"):
        dm.setup("fit")


def test_folder_keeps_the_train_val_and_test_folders_it_ships_with(tmp_path):
    # the cat faces as unsup3d ships them: cat_combined/train, val and test
    sizes = {"train": 9, "val": 2, "test": 3}
    for i, (split, n) in enumerate(sizes.items()):
        folder = tmp_path / "cat_combined" / split
        folder.mkdir(parents=True)
        for k in range(n):  # each split's pictures in its own grey level, to tell them apart
            Image.fromarray(np.full((20, 20, 3), 40 + 80 * i, np.uint8)).save(folder / f"{k:05d}.png")
    dm = ImageDataModule("folder", root=str(tmp_path / "cat_combined"), image_size=8, bins="uniform", num_bins=64)
    for i, split in enumerate(("train", "val", "test")):
        images = dm.build_split(split).images  # [N, 3, 8, 8]
        assert len(images) == sizes[split] and (images == 40 + 80 * i).all()
    dm = ImageDataModule("folder", root=str(tmp_path / "cat_combined"), image_size=8, splits=(5, 1, 2))
    assert [len(dm.dataset(s)) for s in ("train", "val", "test")] == [5, 1, 2]
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "cat_combined" / "stray.png")
    with pytest.raises(ValueError, match=r"1 file \(first: stray.png\) lies outside the train/, val/ and test/"):
        ImageDataModule("folder", root=str(tmp_path / "cat_combined"), image_size=8).setup("fit")
    (tmp_path / "cat_combined" / "stray.png").unlink()
    shutil.rmtree(tmp_path / "cat_combined" / "train")  # val/ and test/ alone
    with pytest.raises(ValueError, match=r"split folders val/, test/ but .* needs train/ and test/"):
        ImageDataModule("folder", root=str(tmp_path / "cat_combined"), image_size=8).setup("fit")


def test_folders_named_like_splits_but_not_read_as_them_are_named(tmp_path):
    """Kaggle's Train/ and Test/ (or training/, validation/) are not split folders: their pictures were dealt as one
    pool without a word, so the dataset's own test pictures trained. They still are (renaming is the user's call),
    with one warning naming the folders; folders of other names say nothing."""
    for name, n in (("Train", 6), ("Test", 3), ("validation", 2)):
        (tmp_path / "kaggle" / name).mkdir(parents=True)
        for k in range(n):
            Image.fromarray(np.full((20, 20, 3), 30 * k + 10, np.uint8)).save(tmp_path / "kaggle" / name / f"{k}.png")
    dm = ImageDataModule("folder", root=str(tmp_path / "kaggle"), image_size=8, bins="uniform", num_bins=64)
    with pytest.warns(UserWarning, match=rf"^{tmp_path / 'kaggle'}: Test/, Train/, validation/ are not split folders "
                                         r"\(only folders named train/, val/ and test/ keep their split\): their files "
                                         r"are dealt as one pool by the split sizes; rename the folders"):
        assert [len(dm.dataset(s)) for s in ("train", "val", "test")] == [9, 1, 1]
    write_folder(tmp_path / "plain", 5)  # sub-folders a/ and b/
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageDataModule("folder", root=str(tmp_path / "plain"), image_size=8, splits=(3, 1, 1), bins="uniform",
                        num_bins=64).dataset("train")


def test_pictures_of_types_not_read_are_named_not_left_out_without_a_word(tmp_path):
    """A folder of PNGs and TIFFs trained on its PNGs alone without a word, and a folder of TIFFs or GIFs alone said
    "no images" though it held pictures; one warning now counts and names them."""
    write_folder(tmp_path / "mixed", 5)
    for name in ("a/x.gif", "b/y.TIF", "b/z.tif"):
        Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "mixed" / name)
    (tmp_path / "mixed" / "labels.csv").write_text("x,1\n")  # not a picture: no word of it
    dm = ImageDataModule("folder", root=str(tmp_path / "mixed"), image_size=8, splits=(3, 1, 1), bins="uniform",
                         num_bins=64)
    read = "/".join(io.IMAGE_SUFFIXES)
    with pytest.warns(UserWarning, match=rf"^{tmp_path / 'mixed'}: left out 1 .gif, 2 .tif files \(first: a/x.gif\): "
                                         rf"only {re.escape(read)} files are read; convert them to one of those$"):
        assert len(dm.dataset("train")) == 3


def test_jpeg_under_its_other_names_and_webp_pictures_are_read(tmp_path):
    """A folder's .jfif and .jpe files (JPEG as browsers save it) and .webp files were left out with "convert them to
    one of those", though PIL reads them and `--input` read the same files: a folder of them alone had "no images".
    They are read as pictures of the folder now, in its cache key and its splits."""
    from PIL import features

    folder = tmp_path / "saved"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = [("a.jfif", "JPEG"), ("b.JPE", "JPEG"), ("d.png", "PNG"), ("e.jpe", "JPEG")]
    files += [("c.webp", "WEBP")] if features.check("webp") else [("c.jpg", "JPEG")]  # WebP where this PIL reads it
    for name, kind in files:
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / name, format=kind)
    assert [p.name for p in io.list_images(folder)] == sorted((name for name, _ in files), key=str.lower)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "left out ... files"
        dm = ImageDataModule("folder", root=str(folder), image_size=8, splits=(3, 1, 1), bins="uniform", num_bins=64,
                             cache_dir=str(tmp_path / "cache"))
        assert [len(dm.dataset(s)) for s in ("train", "val", "test")] == [3, 1, 1]


def test_folder_kmeans_bins_in_spec(tmp_path):
    write_folder(tmp_path, 6)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=12, splits=(4, 1, 1), num_bins=16, seed=3)
    s = dm.spec
    assert s.grid_shape == (12, 12) and s.val_dims == 3 and s.num_bins == 16 and len(s.centres) == 16
    centres = s.bin_centres()
    assert centres.shape == (16, 3) and 0 <= centres.min() and centres.max() <= 1
    # Seeded: the same data and seed give the same colours.
    again = ImageDataModule("folder", root=str(tmp_path), image_size=12, splits=(4, 1, 1), num_bins=16, seed=3).spec
    assert again.centres == s.centres
    assert dm.dataset("train")[0]["signal"].shape == (3, 12, 12) and "label" not in dm.dataset("train")[0]
    assert dm.num_classes is None


def test_a_folder_of_grey_pictures_read_as_grey(tmp_path):
    """A folder was always read as RGB (256 k-means colours for grey sketches or scans); channels=1 reads it as
    grey, with MNIST's 32 uniform bins, the values being each picture's own grey levels."""
    rng = np.random.default_rng(0)
    written = [rng.integers(0, 256, (12, 12), dtype=np.uint8) for _ in range(6)]
    for i, arr in enumerate(written):
        Image.fromarray(arr).save(tmp_path / f"g{i}.png")
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=12, splits=(4, 1, 1), channels=1)
    s = dm.spec
    assert (s.val_dims, s.num_bins, s.centres) == (1, 32, None) and dm.bins == "uniform"
    items = [dm.dataset(split)[i]["signal"] for split, n in (("train", 4), ("val", 1), ("test", 1))
             for i in range(n)]  # [1, 12, 12] each
    assert all(x.shape == (1, 12, 12) for x in items)
    assert sorted(x.float().sum().item() for x in items) == \
        pytest.approx(sorted(float(a.sum()) / (255 if items[0].is_floating_point() else 1) for a in written))
    rgb = ImageDataModule("folder", root=str(tmp_path), image_size=12, splits=(4, 1, 1), num_bins=8)
    assert rgb.spec.val_dims == 3 and rgb.dataset("train")[0]["signal"].shape == (3, 12, 12)  # the default
    with pytest.raises(ValueError, match=r"^--data.init_args.channels \(what a folder's pictures are read as\) must be "
                                         r"1 \(grey\) or 3 \(RGB\), got 2: give 1 or 3, or leave it out \(3 here\)$"):
        ImageDataModule("folder", root=str(tmp_path), channels=2)
    with pytest.raises(ValueError, match="^--data.init_args.channels=3: digits images have 1; only a folder's "):
        ImageDataModule("digits", channels=3)


def test_kmeans_bins_of_fewer_training_pixels_name_the_option(tmp_path):
    write_folder(tmp_path, 3)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(1, 1, 1))  # 64 pixels, 256 bins
    with pytest.raises(ValueError, match=r"^images/folder: the train split's 1 image of 8x8 hold 64 pixels, too few "
                                         r"for 256 k-means colour bins: set --data.init_args.num_bins to at most 64"):
        dm.spec


def test_split_sizes_that_do_not_fit_a_folder_name_it(tmp_path):
    """A folder of one picture for the default three splits: the line names the folder and the option, as those of
    curves and clips do, and adding pictures, the one remedy for a single picture (no sizes deal it to all three)."""
    write_folder(tmp_path, 1)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8)
    with pytest.raises(ValueError, match=rf"^{tmp_path}: split sizes \(-1, 1, 1\) do not fit 1 item: the sizes besides "
                                         r"-1 take 2; give --data.init_args.splits in images \(train, val, test; -1: "
                                         r"the rest\), or add images$"):
        dm.dataset("train")


@pytest.mark.parametrize("channels", [1, 3])
def test_a_folder_whose_val_and_test_take_every_picture_names_it_and_the_option(tmp_path, channels):
    """Two pictures for the default sizes (-1, 1, 1) leave training none: the line says how the folder was dealt and
    what to give, rather than "num_bins at most 0" (RGB's k-means bins) or a bare "the train split is empty"."""
    write_folder(tmp_path, 2)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, channels=channels)
    with pytest.raises(ValueError, match=rf"^ImageDataModule: the train split is empty: {tmp_path}'s 2 images split "
                                         r"0/1/1 \(train/val/test\); give --data.init_args.splits in images \(train, "
                                         r"val, test; -1: the rest\), or add images$"):
        dm.spec
        dm.dataset("train")


@pytest.mark.parametrize("channels, value", [(1, "255"), (3, "(255, 255, 255)")])
def test_pictures_of_one_colour_are_refused(tmp_path, channels, value):
    """Blank white scans: read as grey they trained without a word on values that never change; in colour they
    failed on k-means bins, with advice to set num_bins to 1."""
    for i in range(12):
        Image.fromarray(np.full((10, 10, 3), 255, dtype=np.uint8)).save(tmp_path / f"blank{i}.png")
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, channels=channels)
    with pytest.raises(ValueError, match=rf"^{tmp_path}: every pixel of its 12 pictures is {re.escape(value)} of 255: "
                                         r"pictures of one colour leave nothing to learn$"):
        dm.dataset("train")
    Image.fromarray(np.full((10, 10, 3), 254, dtype=np.uint8)).save(tmp_path / "grey.png")  # two colours: pictures
    assert len(ImageDataModule("folder", root=str(tmp_path), image_size=8, channels=channels).dataset("train")) > 0


def test_kmeans_bins_read_only_their_draw_of_the_training_pixels(tmp_path):
    """The k-means colours are fitted on a seeded draw of kmeans_pixels training pixels, gathered alone. Drawn from a
    permutation of every training pixel, they took 8 bytes a pixel (1.6 GB for 50 000 pictures of 64x64, 6.5 GB for
    200 000) and a channel-last copy of the split: here a train split of 2^49 pictures, one picture of 12 KB seen
    through a stride-0 view, would have asked for exabytes."""
    from domains.images.data import UInt8ImageDataset

    picture = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    def centres():
        dm = ImageDataModule("folder", root=str(tmp_path), image_size=64, num_bins=16, kmeans_pixels=2000, seed=1)
        dm._built["train"] = UInt8ImageDataset(picture.expand(2**49, 3, 64, 64))  # [2^49, 3, 64, 64], 12 KB
        return dm.spec.bin_centres()  # [16, 3]

    got = centres()
    assert got.shape == (16, 3) and 0 <= got.min() and got.max() <= 1
    assert torch.equal(got, centres())  # seeded


def test_the_splits_of_one_pool_hold_its_pictures_once(tmp_path):
    """The train, val and test splits of one pool of pictures are its rows, not copies of them: a folder of 200 000
    pictures held them twice (the pool, and the splits' copies)."""
    write_folder(tmp_path, 10)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(6, 2, 2), bins="uniform", num_bins=64)
    pool = dm._load_pools()["all"][0]  # [10, 3, 8, 8]
    splits = [dm.build_split(s) for s in ("train", "val", "test")]
    kept = [pool, *(t for ds in splits for t in vars(ds).values() if isinstance(t, torch.Tensor))]
    held = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in kept if t.dtype == torch.uint8}
    assert sum(held.values()) == pool.numel()  # [10, 3, 8, 8] bytes, once
    parts = torch.cat([ds.images for ds in splits])  # [10, 3, 8, 8]: every picture in one split
    assert sorted(parts.flatten(1).sum(1).tolist()) == sorted(pool.flatten(1).sum(1).tolist())
    items = [dm.dataset("val")[i]["signal"] for i in range(2)]  # [3, 8, 8] each
    assert torch.equal(torch.stack(items), splits[1].images.float() / 255)


def test_a_folder_is_read_into_one_array_that_training_keeps(tmp_path):
    """A folder's pictures are written into one array as they are read, which the pool then is: gathering them and
    stacking them took twice their bytes, and the channel-first copy of the pool a third time."""
    import tracemalloc

    from domains.images import io
    from domains.images.data import _to_pool

    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    size = 64
    tracemalloc.start()
    try:
        images, _ = io.read_image_folder(tmp_path, size, progress=False)  # [40, 64, 64, 3]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert images.shape == (40, size, size, 3) and peak < 1.5 * images.nbytes
    pool, _ = _to_pool(images, None, size)  # [40, 3, 64, 64]
    assert np.shares_memory(pool.numpy(), images)
    assert torch.equal(pool, torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))


def test_a_picture_folder_is_decoded_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    """Every start, DDP rank and evaluation decoded a folder's pictures again (about 12 ms a full-size photo here:
    minutes for 10 000). They are decoded once and cached, keyed by the files' bytes and the size: a second DataModule
    decodes nothing and gets the same pixels, still says which file it could not read, and a rewritten picture,
    another size, or another version of the decoding library, is decoded anew."""
    from domains.images import io

    folder, cache = tmp_path / "pics", tmp_path / "cache"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "bad.png").write_bytes(b"not a picture")
    decoded = []
    read_picture = io.read_picture
    monkeypatch.setattr(io, "read_picture", lambda path, *a, **k: decoded.append(path) or read_picture(path, *a, **k))

    def pool(size: int = 8) -> torch.Tensor:
        dm = ImageDataModule("folder", root=str(folder), image_size=size, splits=(8, 2, 2), bins="uniform",
                             cache_dir=str(cache))
        with pytest.warns(UserWarning, match=r"1 of the 13 files in .*pics is unreadable, skipped \(bad.png: "):
            dm.setup("fit")
        return torch.cat([dm.dataset(s).images for s in ("train", "val", "test")])  # [12, 3, size, size]

    first = pool()
    assert len(decoded) == 13 and len(list(cache.glob("pics_8_3_*.npy"))) == 1
    again = pool()
    assert len(decoded) == 13 and torch.equal(again, first)  # read from the cache: nothing decoded
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(folder / "05.png")  # a picture rewritten
    changed = pool()
    assert len(decoded) == 26 and int((changed.flatten(1).amax(1) == 0).sum()) == 1  # the black one
    pool(size=6)
    assert len(decoded) == 39  # another size: its own entry
    # another pillow may decode or resize otherwise: a cache shared with its machine serves none of its pixels
    from pixeltransformer import cache as cache_py

    monkeypatch.setattr(cache_py, "package_version", lambda name: "0.0-other")
    pool(size=6)
    assert len(decoded) == 52


def test_a_changed_picture_folder_replaces_its_cache_entry(tmp_path):
    """Each change to a folder (a picture added) left a whole copy of its pixels in the cache, which nothing read
    again: 614 MB for 50 000 RGB pictures at 64x64. The new entry now takes the place of the one it replaces, and
    only that one: the other pools' (a test/ folder's), other sizes' and other folders' entries stay."""
    from domains.images import io
    from domains.images.folder_cache import read_folder

    cache, rng = tmp_path / "cache", np.random.default_rng(2)
    for folder in ("pics/train", "pics/test", "other/pics"):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(tmp_path / folder / f"{i}.png")

    def read(folder: str, size: int = 8, pool: str = "all") -> None:
        root = tmp_path / folder
        read_folder(root, io.list_images(root / ("" if pool == "all" else pool)), size, 3, cache, progress=False,
                    pool=pool)

    def entries() -> set[str]:
        return {f.name for f in cache.glob("pics_*.npy")}

    read("pics", pool="train"), read("pics", pool="test"), read("pics", size=6, pool="train"), read("other/pics")
    before = entries()
    assert len(before) == 4 and len(list(cache.glob("pics_*.json"))) == 4
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "pics/train/3.png")  # a picture added
    read("pics", pool="train")
    after = entries()
    assert len(after) == 4 and len(after - before) == 1  # one new entry in the place of one old
    (gone,) = before - after
    assert gone.startswith("pics_8_3_") and not (cache / gone).with_suffix(".json").exists()
    read("pics", pool="test"), read("other/pics")
    assert entries() == after  # the others were still there: read, not decoded and written again
    read("pics", size=6, pool="train")  # the changed folder at its other size: that entry's turn
    assert len(entries()) == 4 and len(entries() - after) == 1


@pytest.mark.parametrize("damage", ["empty", "truncated", "no notes", "notes null", "notes {}", "float pixels",
                                    "other size"])
def test_a_damaged_folder_cache_entry_is_decoded_again(tmp_path, damage):
    """A cached array left empty (a machine that stopped just after the file was renamed into place) failed every
    later start with numpy's "No data left in file" (EOFError); a truncated one, or one without its notes, is decoded
    again, and so is an empty one now, with the same pixels. Notes that read as JSON but not as an entry's (written
    over, or by hand: `null`, `{}`) stopped every later start with a KeyError or TypeError and its traceback; pixels
    of another type or size at the entry's name were served as they were. Such an entry is decoded again, and a whole
    one is still read, not decoded."""
    from domains.images import io
    from domains.images.folder_cache import read_folder

    folder, cache = tmp_path / "pics", tmp_path / "cache"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    files = io.list_images(folder)
    first, _ = read_folder(folder, files, 8, 3, cache, progress=False)
    (entry,) = cache.glob("pics_8_3_*.npy")
    stamp = entry.stat().st_mtime_ns
    read_folder(folder, files, 8, 3, cache, progress=False)
    assert entry.stat().st_mtime_ns == stamp  # a whole entry is read
    notes = entry.with_suffix(".json")
    if damage == "empty":
        entry.write_bytes(b"")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-20])
    elif damage == "no notes":
        notes.unlink()
    elif damage.startswith("notes"):
        notes.write_text({"notes null": "null", "notes {}": "{}"}[damage])
    else:
        pixels = np.load(entry)  # [3, 3, 8, 8]
        np.save(entry, pixels.astype(np.float32) if damage == "float pixels" else pixels[:, :, :4, :4])
    again, _ = read_folder(folder, files, 8, 3, cache, progress=False)
    assert again.dtype == np.uint8 and np.array_equal(again, first)
    assert np.array_equal(np.load(entry).transpose(0, 2, 3, 1), first)  # the entry written whole again


def test_bad_arguments(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown image dataset"):
        ImageDataModule("imagenet")
    with pytest.raises(ValueError, match="not a cube"):
        ImageDataModule("folder", root=str(tmp_path), bins="uniform", num_bins=100)
    assert ImageDataModule("folder", root=str(tmp_path), bins="uniform").spec.num_bins == 512
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path / "none"))  # the default data folder, empty
    with pytest.raises(FileNotFoundError, match="no data at .*none/cats/faces64: put it there, set PIXELTRANSFORMER_DATA"):
        ImageDataModule("folder").setup("fit")  # made without its data (a prediction reads none): asked when read
    with pytest.raises(FileNotFoundError, match="none/mnist: .* or add --data.init_args.download=true to fetch it"):
        ImageDataModule("mnist").dataset("test")
    with pytest.raises(ValueError, match="splits"):
        ImageDataModule("digits", splits=(1, 2))


def test_a_root_that_does_not_exist_is_refused_before_a_run_starts(tmp_path):
    """A root given that does not exist is refused where the command line asks, before a run starts (an evaluation of
    MNIST, whose grey bins read no pixels, began its W&B run in the run folder before it failed), in the line its
    reader gives; a prediction, which reads no data, never asks. download=true fetches MNIST or CIFAR-10 there."""
    nope = tmp_path / "nope"
    for dataset, message in [("folder", "image folder not found: .*nope"), ("mnist", "MNIST test images not found in"),
                             ("cifar10", "CIFAR-10 not found in .*nope")]:
        dm = ImageDataModule(dataset, root=str(nope))  # made without its data
        with pytest.raises(FileNotFoundError, match=message):
            dm.check_data_roots()
    ImageDataModule("mnist", root=str(nope), download=True).check_data_roots()  # to be fetched there
    ImageDataModule("cifar10", root=str(nope), download=True).check_data_roots()
    ImageDataModule("digits", root=str(nope)).check_data_roots()  # bundled: a root is not used
    write_folder(tmp_path / "pictures", 3)
    ImageDataModule("folder", root=str(tmp_path / "pictures")).check_data_roots()
    assert not nope.exists()


def test_a_root_of_the_wrong_files_is_refused_before_a_run_starts(tmp_path):
    """A root that exists but holds the wrong thing is refused where the command line asks too, before a run starts:
    an MNIST file given as the MNIST root or as a folder of pictures, a CIFAR-10 root at MNIST's files (with uniform
    bins, which read no pixels when the model is made). They were met once the fit read its data, after the run
    folder was made."""
    mnist = tmp_path / "mnist"
    write_mnist(mnist, "test", 4)
    gz = mnist / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(ValueError, match=rf"^{re.escape(str(gz))} is a file: pass "
                                         rf"--data.init_args.root={re.escape(str(mnist))}$"):
        ImageDataModule("mnist", root=str(gz)).check_data_roots("fit")
    with pytest.raises(NotADirectoryError, match=rf"^{re.escape(str(gz))} is a file: expected a folder of \.png"):
        ImageDataModule("folder", root=str(gz)).check_data_roots("fit")
    with pytest.raises(ValueError, match=rf"^CIFAR-10 not found in {re.escape(str(mnist))}: it holds MNIST's files"):
        ImageDataModule("cifar10", root=str(mnist), bins="uniform", num_bins=64).check_data_roots("fit")
    ImageDataModule("mnist", root=str(mnist)).check_data_roots("fit")  # its own data: nothing to say


def test_a_download_into_another_datasets_folder_is_refused_before_it_starts(tmp_path, monkeypatch):
    """download=true with a CIFAR-10 root at a folder of MNIST's files, or an MNIST root at a folder of CIFAR-10's,
    is refused in one line that says what the folder holds, before any download (it fetched the other dataset into
    it), both before a run starts and where the data module prepares its data."""
    def no_download(*args, **kwargs):
        pytest.fail("a download was started")

    from domains.images import datasets
    for name in ("_fetch", "download_mnist", "download_cifar10"):
        monkeypatch.setattr(datasets, name, no_download)
    mnist, cifar = tmp_path / "mnist", tmp_path / "cifar10"
    write_mnist(mnist, "test", 4)
    write_cifar_npz(cifar)
    before = sorted(tmp_path.rglob("*"))
    for dataset, root, holds in (("cifar10", mnist, "CIFAR-10 not found in {}: it holds MNIST's files"),
                                 ("mnist", cifar, "MNIST test images not found in {}: it holds CIFAR-10's")):
        dm = ImageDataModule(dataset, root=str(root), download=True, bins="uniform", num_bins=64)
        for ask in (dm.check_data_roots, dm.prepare_data):
            with pytest.raises(ValueError, match="^" + re.escape(holds.format(root))):
                ask()
    assert sorted(tmp_path.rglob("*")) == before


def test_an_mnist_root_holding_cifar10_says_so_rather_than_suggest_a_download(tmp_path):
    """An MNIST root at a folder of CIFAR-10's data says it holds CIFAR-10, not MNIST (a download would put MNIST
    beside it), and names MNIST's folder beside it where there is one."""
    cifar = tmp_path / "cifar10"
    write_cifar_npz(cifar)
    said = (rf"^MNIST test images not found in {re.escape(str(cifar))}: it holds CIFAR-10's data \(sample\.npz\), "
            r"not MNIST's IDX files; ")
    with pytest.raises(ValueError, match=said + r"pass the folder that holds MNIST, or a folder of its own with "
                                                r"--data.init_args.download=true$"):
        ImageDataModule("mnist", root=str(cifar)).check_data_roots("fit")
    write_mnist(tmp_path / "mnist", "test", 4)
    beside = re.escape(str(tmp_path / "mnist"))
    with pytest.raises(ValueError, match=said + rf"{beside} holds it: pass --data.init_args.root={beside}$"):
        ImageDataModule("mnist", root=str(cifar)).dataset("train")


def test_a_folder_without_pictures_is_refused_before_a_run_starts(tmp_path):
    """A folder of pictures that holds none is refused where the command line asks, before a run starts: with grey or
    uniform bins, which read no pixels when the model is made, it was met once the fit read its data, after the run
    folder was made. One that holds MNIST's or CIFAR-10's files names the dataset that reads them."""
    empty = tmp_path / "empty"
    empty.mkdir()
    none = r"^no images in {}: expected \.png/.* files \(searched recursively\)"
    with pytest.raises(ValueError, match=none.format(re.escape(str(empty))) + "$"):
        ImageDataModule("folder", root=str(empty), channels=1).check_data_roots("fit")
    mnist, cifar = tmp_path / "mnist", tmp_path / "cifar10"
    write_mnist(mnist, "test", 4)
    write_cifar_npz(cifar)
    for root, holds in ((mnist, r"MNIST's files \(t10k-images-idx3-ubyte\.gz\): read them with "
                                r"--data.init_args.dataset=mnist"),
                        (cifar, r"CIFAR-10's data \(sample\.npz\): read it with --data.init_args.dataset=cifar10")):
        with pytest.raises(ValueError, match=none.format(re.escape(str(root))) + f"; it holds {holds}$"):
            ImageDataModule("folder", root=str(root), bins="uniform", num_bins=64).check_data_roots("fit")


def test_a_folder_filled_after_it_was_refused_is_read_by_the_same_module(tmp_path):
    """A folder refused for holding no pictures is listed again on the next check: the empty listing was kept, so the
    same data module refused the folder once pictures were added, and so did its read."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    dm = ImageDataModule("folder", root=str(folder), image_size=8, bins="uniform", num_bins=64)
    with pytest.raises(ValueError, match="^no images in "):
        dm.check_data_roots("fit")
    write_folder(folder, 2)
    dm.check_data_roots("fit")
    assert len(dm._load_pools()["all"][0]) == 2  # [N, 3, 8, 8]: the read lists the folder as it is now


def test_a_folder_dataset_at_an_npz_of_other_images_does_not_call_it_cifar10(tmp_path):
    """A folder without pictures that holds one .npz of images not 32x32 RGB names it as what it is, an .npz of
    images that dataset=cifar10 reads, not CIFAR-10's data."""
    np.savez(tmp_path / "faces.npz", images=np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"; it holds an \.npz of images \(faces\.npz\): read it with "
                                         r"--data.init_args.dataset=cifar10$"):
        ImageDataModule("folder", root=str(tmp_path), bins="uniform", num_bins=64).check_data_roots("fit")


def test_a_download_beside_the_other_datasets_own_folder_goes_ahead(tmp_path, monkeypatch):
    """torchvision's shared root holds MNIST/raw/ and cifar-10-batches-py/ side by side: a download of one of them
    there writes into a place of its own (CIFAR-10 into cifar-10-batches-py/, MNIST into the root) and mixes
    nothing, so the other's sub-folder does not refuse it, before a run starts or where the data is prepared."""
    from domains.images import datasets
    fetched = []
    monkeypatch.setattr(datasets, "_fetch", lambda *args: pytest.fail("nothing is fetched from the network"))
    monkeypatch.setattr(datasets, "download_cifar10", lambda root: fetched.append(("cifar10", root)))
    monkeypatch.setattr(datasets, "download_mnist", lambda root, split: fetched.append(("mnist", split)))
    mnist_root, cifar_root = tmp_path / "with_mnist", tmp_path / "with_cifar"
    write_mnist(mnist_root / "MNIST" / "raw", "test", 4)
    write_cifar_batches(cifar_root / "cifar-10-batches-py", n_per_batch=2)
    for dataset, root in (("cifar10", mnist_root), ("mnist", cifar_root)):
        dm = ImageDataModule(dataset, root=str(root), download=True, bins="uniform", num_bins=64)
        dm.check_data_roots("fit")
        dm.prepare_data()
    assert [name for name, _ in fetched] == ["cifar10", "mnist", "mnist"]


def test_read_input_crops_and_resizes_to_the_model(tmp_path):
    arr = np.zeros((20, 40, 4), np.uint8)
    arr[..., 0], arr[..., 3] = 200, 255  # opaque red, wide
    Image.fromarray(arr, "RGBA").save(tmp_path / "red.png")
    rgb = ImageDataModule("folder", root=str(tmp_path), image_size=8, num_bins=8, bins="uniform").spec
    x = ImageDomain().read_input(tmp_path / "red.png", rgb)
    assert x.shape == (3, 8, 8) and torch.allclose(x[:, 4, 4], torch.tensor([200 / 255, 0, 0]), atol=1e-6)
    digits = ImageDataModule("digits").spec
    assert ImageDomain().read_input(tmp_path / "red.png", digits).shape == (1, 8, 8)
    (tmp_path / "x.jpg").write_bytes(b"no")
    with pytest.raises(ValueError, match="x.jpg"):
        ImageDomain().read_input(tmp_path / "x.jpg", digits)


def test_a_picture_smaller_than_the_model_is_upscaled_with_a_warning(tmp_path):
    """S is drawn from the picture at the model's size: from a 3x2 picture at 8x8, pixels interpolation made up. The
    user is told; a picture as large as the model, or larger, reads without a word."""
    spec = ImageDataModule("digits").spec  # 8x8 grey
    Image.fromarray(np.full((2, 3), 90, np.uint8)).save(tmp_path / "tiny.png")
    Image.fromarray(np.full((8, 12), 90, np.uint8)).save(tmp_path / "ok.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = ImageDomain().read_input(tmp_path / "tiny.png", spec)  # [1, 8, 8]
        y = ImageDomain().read_input(tmp_path / "ok.png", spec)  # [1, 8, 8]
    assert x.shape == y.shape == (1, 8, 8) and torch.allclose(x, torch.full_like(x, 90 / 255), atol=1e-6)
    assert [str(w.message) for w in caught] == [f"{tmp_path / 'tiny.png'}: a 3×2 picture is smaller than the model's "
                                                "8×8, so it was upscaled to interpolated pixels, and S is drawn "
                                                "from them"]


def test_a_picture_of_other_colours_or_size_is_read_with_a_line_that_says_so(tmp_path, capsys):
    """A 64x64 RGB photo given to an 8x8 grey digits model was read as 8x8 grey without a word (input_help says it
    is resized, nothing said it was at run time). Each conversion is now one line; a picture that already matches,
    or an RGB file of grey pixels, reads silently, and a grey picture is an RGB model's as it is."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    write_folder(tmp_path / "f", 3)
    rgb = ImageDataModule("folder", root=str(tmp_path / "f"), image_size=8, num_bins=8, bins="uniform").spec
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "my.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "digit.png")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "grey_rgb.png")
    Image.fromarray(rng.integers(0, 256, (12, 8), dtype=np.uint8)).save(tmp_path / "tall.png")
    capsys.readouterr()
    assert ImageDomain().read_input(tmp_path / "my.png", digits).shape == (1, 8, 8)
    assert capsys.readouterr().out == f"[predict] {tmp_path / 'my.png'}: 64×64 RGB read as the model's 8×8 grey\n"
    ImageDomain().read_input(tmp_path / "tall.png", digits)
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'tall.png'}: 8×12 grey read as the model's 8×8 grey "
                                       "(its centre 8×8)\n")
    ImageDomain().read_input(tmp_path / "digit.png", digits)
    ImageDomain().read_input(tmp_path / "grey_rgb.png", digits)
    ImageDomain().read_input(tmp_path / "digit.png", rgb)
    assert capsys.readouterr().out == ""


def test_a_picture_with_transparency_is_read_with_a_line_that_says_it_was_put_on_white(tmp_path, capsys):
    """`make sample INPUT=logo.png` with transparent pixels read them as white without a word (the [predict] line said
    only the size and colours). The line now says how many pixels were composited onto white; a picture with an
    alpha channel that is opaque everywhere reads as before."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    rgba = np.zeros((64, 64, 4), np.uint8)  # [64, 64, RGBA]: black, its left quarter transparent
    rgba[..., 3] = 255
    rgba[:, :16, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "logo.png")
    rgba[..., 3], rgba[:, :, :3] = 255, 200  # opaque grey
    Image.fromarray(rgba[:8, :8]).save(tmp_path / "opaque.png")
    Image.fromarray(np.stack([np.zeros((8, 8), np.uint8), np.full((8, 8), 128, np.uint8)], -1), "LA").save(
        tmp_path / "half.png")
    capsys.readouterr()
    x = ImageDomain().read_input(tmp_path / "logo.png", digits)  # [1, 8, 8]
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'logo.png'}: 64×64 grey read as the model's 8×8 grey; "
                                       "25% of its pixels are (partly) transparent, composited onto white\n")
    assert x[0, :, 0].min() == 1 and x[0, :, 5:].max() == 0  # white where transparent, the black kept
    ImageDomain().read_input(tmp_path / "half.png", digits)  # the size and colours of the model's: this line alone
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'half.png'}: 8×8 grey read as the model's 8×8 grey; "
                                       "100% of its pixels are (partly) transparent, composited onto white\n")
    ImageDomain().read_input(tmp_path / "opaque.png", digits)
    assert capsys.readouterr().out == ""


def test_an_animated_picture_is_read_with_a_line_that_says_only_its_first_frame_is(tmp_path, capsys):
    """`make sample INPUT=anim.gif` read the first of the GIF's frames and dropped the others without a word (the
    picture matched the model in size and colours, so no line was printed). The line now says that only the first
    frame is read; a GIF of one frame reads silently, as before."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    frames = [Image.fromarray(np.full((8, 8), level, np.uint8)) for level in (30, 120, 210)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "still.gif")
    capsys.readouterr()
    x = ImageDomain().read_input(tmp_path / "anim.gif", digits)  # [1, 8, 8]
    assert torch.allclose(x, torch.full_like(x, 30 / 255), atol=1e-6)  # the first frame
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'anim.gif'}: 8×8 grey read as the model's 8×8 grey; "
                                       "the first of its 3 frames (an images model reads one picture)\n")
    ImageDomain().read_input(tmp_path / "still.gif", digits)
    assert capsys.readouterr().out == ""


def test_an_animated_mask_is_read_with_a_line_that_says_only_its_first_frame_is(tmp_path, capsys):
    """An animated GIF given as --mask was read as its first frame without a word (an --input's line said it), and a
    black-and-white mask of the model's size printed no line at all. It now says so as an input's line does; a phone
    JPEG's second picture (MPO) is not a frame, as for an input."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    bw = np.zeros((8, 8), np.uint8)
    bw[2:6, 1:7] = 255  # 24 white pixels
    frames = [Image.fromarray(bw), Image.fromarray(255 - bw), Image.fromarray(np.full((8, 8), 255, np.uint8))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb = Image.fromarray(np.repeat(bw[..., None], 3, axis=-1))
    rgb.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[rgb], quality=95)
    capsys.readouterr()
    assert int(ImageDomain().read_mask(tmp_path / "anim.gif", digits).sum()) == 24  # the first frame
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'anim.gif'}: 8×8 read as the first of its 3 frames "
                                       "(an images model reads one picture); 24 of 64 pixels observed (white)\n")
    assert int(ImageDomain().read_mask(tmp_path / "phone.jpg", digits).sum()) == 24
    assert "frames" not in capsys.readouterr().out


def test_a_phone_jpeg_with_a_second_picture_reads_as_one_picture(tmp_path, capsys):
    """A phone JPEG that carries a second picture (a gain map; MPO, as Pillow opens it, of 2 frames) was read with a
    line that said "the first of its 2 frames", as of an animation. Its first picture is the photo: it reads as one."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    photo, gain_map = (Image.fromarray(np.full((8, 8), level, np.uint8)) for level in (90, 200))
    photo.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[gain_map], quality=95)
    with Image.open(tmp_path / "phone.jpg") as img:
        assert (img.format, img.n_frames) == ("MPO", 2)
    capsys.readouterr()
    x = ImageDomain().read_input(tmp_path / "phone.jpg", digits)  # [1, 8, 8]
    assert abs(float(x.mean()) - 90 / 255) < 0.02  # the photo
    assert capsys.readouterr().out == ""


def test_a_picture_to_complete_and_its_mask_are_opened_once(tmp_path, monkeypatch):
    """An --input was opened four times, its size, colours, transparency, frames and EXIF orientation read apart (a
    PNG's orientation decoded all of its pixels again), and a --mask twice: each file is opened once now."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "digit.png")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "mask.png")
    opened, open_ = [], Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or open_(fp, *a, **k))
    domain = ImageDomain()
    domain.read_input(tmp_path / "digit.png", digits)
    with pytest.warns(UserWarning, match="observes all 64 pixels"):
        domain.read_mask(tmp_path / "mask.png", digits)
    assert opened == [tmp_path / "digit.png", tmp_path / "mask.png"]


def test_a_mask_that_is_not_a_picture_is_refused_as_an_input_is(tmp_path):
    """A --mask that is not a picture (a text file) was refused as "cannot identify image file", its transparency read
    before it was decoded; it is refused as an --input is, as "not a readable image"."""
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(ValueError, match=r"^\S+notes.png: not a readable image \(expected PNG/JPEG/BMP/WebP; "):
        ImageDomain().read_mask(tmp_path / "notes.png", ImageDataModule("digits").spec)


def test_a_picture_turned_by_its_exif_orientation_is_read_with_a_line_that_says_so(tmp_path, capsys):
    """A phone picture stored 8x4 with EXIF orientation 6 was read upright, 4x8, as viewers show it, and told as "4×8"
    where the file's own size is 8x4, or, at the model's size, without a word. The line now says it was set upright."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    for name, size in (("phone.jpg", (8, 4)), ("square.jpg", (8, 8))):
        img = Image.fromarray(np.full(size[::-1], 90, np.uint8))
        exif = img.getexif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
        img.save(tmp_path / name, exif=exif, quality=95)
    capsys.readouterr()
    ImageDomain().read_input(tmp_path / "phone.jpg", digits)
    ImageDomain().read_input(tmp_path / "square.jpg", digits)
    assert capsys.readouterr().out.splitlines() == [
        f"[predict] {tmp_path / 'phone.jpg'}: 4×8 grey (8×4 in the file, set upright by its EXIF orientation) read as "
        "the model's 8×8 grey (its centre 4×4)",
        f"[predict] {tmp_path / 'square.jpg'}: 8×8 grey (set upright by its EXIF orientation) read as the model's 8×8 "
        "grey"]


def test_a_mask_of_other_size_or_colours_is_read_with_a_line_that_says_so(tmp_path, capsys):
    """A colour mask was thresholded, and a 3x5 one cropped and resized, without a word: the line says what was done
    and how many pixels are observed. A black-and-white mask of the model's size (grey or RGB) reads silently."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    mask = np.zeros((5, 3, 3), np.uint8)  # 3 wide, 5 tall
    mask[:, 0] = (255, 0, 0)  # red: grey level 76, unobserved
    mask[:, 1] = (255, 255, 255)
    mask[:, 2] = (0, 255, 0)  # green: grey level 150, observed
    Image.fromarray(mask).save(tmp_path / "mask.png")
    bw = np.zeros((8, 8), np.uint8)
    bw[2:6, 1:7] = 255  # 24 white pixels
    Image.fromarray(bw).save(tmp_path / "bw.png")
    Image.fromarray(np.repeat(bw[..., None], 3, axis=-1)).save(tmp_path / "bw_rgb.png")
    capsys.readouterr()
    observed = ImageDomain().read_mask(tmp_path / "mask.png", digits)  # [8, 8]
    n = int(observed.sum())
    assert 0 < n < 64
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'mask.png'}: 3×5 RGB cropped to its centre 3×3, "
                                       f"resized to 8×8, read as grey and thresholded at grey level 128; {n} of 64 "
                                       "pixels observed (white)\n")
    assert int(ImageDomain().read_mask(tmp_path / "bw.png", digits).sum()) == 24
    assert int(ImageDomain().read_mask(tmp_path / "bw_rgb.png", digits).sum()) == 24
    assert capsys.readouterr().out == ""
    # an alpha channel that is opaque everywhere is read as the same mask
    Image.fromarray(np.dstack([np.repeat(bw[..., None], 3, axis=-1), np.full((8, 8), 255, np.uint8)])).save(
        tmp_path / "bw_rgba.png")
    assert int(ImageDomain().read_mask(tmp_path / "bw_rgba.png", digits).sum()) == 24


def test_a_mask_that_observes_no_pixel_says_why(tmp_path):
    """A 64x64 mask with a small white square, or one painted in red, was refused as "the mask has no white (observed)
    pixels": the first has 16 white pixels, lost when it is resized to the model's 8x8, and the second's red reads as
    grey level 76. The refusal now says which happened; a black mask, refused without a remedy, now gets one."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    speck = np.zeros((64, 64), np.uint8)
    speck[10:14, 10:14] = 255  # [64, 64]: 16 white pixels, half of one pixel of the 8x8 grid
    Image.fromarray(speck).save(tmp_path / "speck.png")
    red = np.zeros((8, 8, 3), np.uint8)
    red[:4, :, 0] = 255  # [8, 8, 3]: the top half red
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "dark.png")
    refusals = {"speck.png": "the mask's 16 white pixels (grey level 128 or more) are lost once it is resized to 8×8, "
                             "where none reaches grey level 128: paint larger white areas, or draw the mask at 8×8",
                "red.png": "the mask has no white (observed) pixels: its colours read as grey levels up to 76, below "
                           "128: paint the observed pixels white",
                "dark.png": "the mask has no white (observed) pixels: its grey levels reach only 100, below 128: "
                            "paint the observed pixels white",
                "black.png": "the mask has no white (observed) pixels, all of it black: paint the observed pixels "
                             "white, or leave out --mask to observe --num_context random ones"}
    for name, refusal in refusals.items():
        with pytest.raises(ValueError, match=f"^{re.escape(f'{tmp_path / name}: {refusal}')}$"):
            ImageDomain().read_mask(tmp_path / name, digits)


def test_an_animated_mask_black_in_its_first_frame_is_refused_as_black_there(tmp_path):
    """An animated mask is read at its first frame, as an input is: one black there and white after was refused as
    "all of it black", which it was not. The refusal now says it is black in its first frame."""
    frames = [Image.fromarray(np.zeros((8, 8), np.uint8)), Image.fromarray(np.full((8, 8), 255, np.uint8))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ValueError, match=r"^\S+anim.gif: the mask has no white \(observed\) pixels, all black in its "
                                         r"first frame: paint the observed pixels white, or leave out --mask to "
                                         r"observe --num_context random ones$"):
        ImageDomain().read_mask(tmp_path / "anim.gif", ImageDataModule("digits").spec)


def save_mask(path, shape: tuple[int, int], *white) -> None:
    """A black mask of ``shape`` (h, w), white where each index of ``white`` says, saved at path."""
    mask = np.zeros(shape, np.uint8)  # [h, w]
    for where in white:
        mask[where] = 255
    Image.fromarray(mask).save(path)


def test_a_mask_whose_white_lies_outside_its_centre_says_so(tmp_path):
    """A 16x8 mask (portrait) whose white is its top quarter loses it to the crop to its centre 8x8, not to a
    resize: it was refused with "paint larger white areas, or draw the mask at 8×8", which does not help. The
    refusal now says the white lies outside the centre that is read. White in the centre of a larger mask, lost in
    the resize, is counted there alone."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    save_mask(tmp_path / "top.png", (16, 8), np.s_[:4])  # 32 white pixels, all outside the centre 8x8
    # 1280 white pixels outside the centre 64x64, and 4 inside it, lost in the resize to 8x8
    save_mask(tmp_path / "both.png", (64, 128), np.s_[:, :20], np.s_[30:32, 62:64])
    refusals = {"top.png": "the mask's 32 white pixels (grey level 128 or more) lie outside its centre 8×8, the part "
                           "of it that is read: give a mask of the input's shape with white inside that centre",
                "both.png": "the mask's 4 white pixels in its centre 64×64 (grey level 128 or more) are lost once it "
                            "is cropped to its centre 64×64, resized to 8×8, where none reaches grey level 128: paint "
                            "larger white areas, or draw the mask at 8×8"}
    for name, refusal in refusals.items():
        with pytest.raises(ValueError, match=f"^{re.escape(f'{tmp_path / name}: {refusal}')}$"):
            ImageDomain().read_mask(tmp_path / name, digits)


def test_a_mask_that_observes_every_pixel_is_warned_of(tmp_path):
    """An all-white mask observed every pixel, which left nothing to complete, without a word: the prediction's mean
    and samples were of pixels the user had given. A mask read the other way round (white where to complete, as some
    inpainting tools draw it) is the likely cause; a warning now says so."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "white.png")
    with pytest.warns(UserWarning, match=f"^{re.escape(str(tmp_path / 'white.png'))}: the mask observes all 64 pixels "
                                         r"\(white everywhere\), so nothing is left to complete: white is observed, "
                                         "black completed$"):
        assert ImageDomain().read_mask(tmp_path / "white.png", digits).all()


def test_a_mask_of_another_shape_than_its_input_is_warned_of(tmp_path, capsys):
    """A 64x48 (landscape) input with a 48x64 (portrait) mask, as a mask drawn on a phone picture's stored pixels
    is once the picture is turned upright by its EXIF orientation, was cropped and resized apart from the input
    without a word: the mask did not lie on the pixels it was drawn over. A mask of the input's shape at another
    size (half of it) reads without a warning, and so does a mask read with no input of its own (a domain used
    again, in Python), which was checked against the shape of the input read for another mask before it."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    Image.fromarray(np.full((48, 64), 90, np.uint8)).save(tmp_path / "photo.png")
    save_mask(tmp_path / "tall.png", (64, 48), np.s_[:32])  # the top half white
    save_mask(tmp_path / "half.png", (24, 32), np.s_[:, :16])  # the left half white
    domain = ImageDomain()
    domain.read_input(tmp_path / "photo.png", digits)
    with pytest.warns(UserWarning, match=f"^{re.escape(str(tmp_path / 'tall.png'))}: a 48×64 mask for the 64×48 "
                                         r"input, of another shape: each is cropped to its centre and resized to 8×8 "
                                         "on its own, so the mask does not lie where it was drawn: give a mask of the "
                                         "input's shape$"):
        domain.read_mask(tmp_path / "tall.png", digits)
    domain.read_input(tmp_path / "photo.png", digits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert int(domain.read_mask(tmp_path / "half.png", digits).sum()) == 32
        assert int(domain.read_mask(tmp_path / "tall.png", digits).sum()) == 32  # of no input's: that one's used up


def test_a_mask_of_another_shape_that_observes_no_pixel_is_warned_of_first(tmp_path):
    """A portrait mask for a landscape input whose white lay outside its centre was refused for observing no pixel
    without the warning that it is of another shape than its input, which is why: the warning now comes first."""
    digits = ImageDataModule("digits").spec  # 8x8 grey
    Image.fromarray(np.full((8, 16), 90, np.uint8)).save(tmp_path / "photo.png")
    save_mask(tmp_path / "tall.png", (16, 8), np.s_[:4])  # white in the top quarter, outside the centre 8x8
    domain = ImageDomain()
    domain.read_input(tmp_path / "photo.png", digits)
    with pytest.warns(UserWarning, match="a 8×16 mask for the 16×8 input, of another shape"):
        with pytest.raises(ValueError, match="white pixels"):
            domain.read_mask(tmp_path / "tall.png", digits)


def test_the_python_page_names_an_images_model_s_context_rows_as_its_messages_do():
    """docs/python.md gave an images model's --context rows as `[y, x, value...]`, the raw name that its messages
    spread over the model's values: `[y, x, value]` for a grey model, `[y, x, value_1, value_2, value_3]` for RGB."""
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "python.md").read_text().split())
    for values, model in ((1, "grey"), (3, "RGB")):
        columns = context_columns(ImageDomain(), SimpleNamespace(pos_dims=2, val_dims=values))
        assert f"`[{', '.join(columns)}]` ({model})" in page


def test_a_mask_with_transparent_pixels_is_refused(tmp_path):
    """A mask's transparent pixels were put on white, as a picture's are, and counted as observed without a word:
    a mask painted black on a transparent top half read 32 of its 64 pixels as observed. A mask has no meaning for
    transparency, so one with transparent pixels is refused in one line."""
    rgba = np.zeros((8, 8, 4), np.uint8)  # [H, W, 4]: black, opaque below, transparent above
    rgba[4:, :, 3] = 255
    rgba[6:, :, :3] = 255  # two rows of white
    Image.fromarray(rgba).save(tmp_path / "painted.png")
    with pytest.raises(ValueError, match=r"^\S+painted.png: 50% of the mask's pixels are \(partly\) transparent, "
                                         r"which a mask has no meaning for: save it opaque, white where observed and "
                                         r"black where not$"):
        ImageDomain().read_mask(tmp_path / "painted.png", ImageDataModule("digits").spec)
    rgba = np.full((128, 128, 4), 255, np.uint8)  # [H, W, 4]: white and opaque but for one transparent pixel
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "speck.png")  # 1 of 16 384 pixels: "0%" said none was transparent
    with pytest.raises(ValueError, match=r"^\S+speck.png: under 1% of the mask's pixels are \(partly\) transparent"):
        ImageDomain().read_mask(tmp_path / "speck.png", ImageDataModule("digits").spec)


def test_shared_cifar_and_cats():
    if not (SHARED / "cifar10" / "cifar10_train_first2000.npz").is_file():
        pytest.skip("shared sample data not present")
    dm = ImageDataModule("cifar10")
    s = dm.spec
    assert s.grid_shape == (32, 32) and s.num_bins == 256 and len(s.centres) == 256
    assert [len(dm.dataset(x)) for x in ("train", "val", "test")] == [1600, 200, 200]
    x, y = dm.split_arrays("val")
    assert x.shape == (200, 3, 32, 32) and y.shape == (200,)
    cats = ImageDataModule("folder", image_size=32, bins="uniform", num_bins=64)  # default root: shared cat faces
    assert cats.spec.grid_shape == (32, 32) and len(cats.dataset("train")) == 39


def test_pictures_of_0_and_1_saved_as_8_bit_are_named(tmp_path, recwarn):
    """A folder of masks saved from 0..1 arrays as 8-bit PNGs trained, and `predict --input` completed, nearly black
    pictures (values 0 and 1/255) without a word."""
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray((rng.random((12, 12)) > 0.5).astype(np.uint8)).save(tmp_path / f"m{i}.png")
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=12, splits=(4, 1, 1), bins="uniform", num_bins=8)
    with pytest.warns(UserWarning, match=r"every pixel is 0 or 1 of 255, so the pictures read as black: were 0..1 "
                      r"values saved as 8-bit\? Scale them to 0..255$"):
        dm.setup("fit")
    with pytest.warns(UserWarning, match=r"m0.png: every pixel is 0 or 1 of 255"):
        ImageDomain().read_input(tmp_path / "m0.png", dm.spec)
    recwarn.clear()
    write_folder(tmp_path / "photos", 3)
    ImageDataModule("folder", root=str(tmp_path / "photos"), image_size=12, splits=(1, 1, 1), bins="uniform",
                    num_bins=8).setup("fit")
    assert not [w for w in recwarn if "0 or 1 of 255" in str(w.message)]


def test_a_test_folder_of_its_own_that_changed_is_named_without_claiming_training_items(tmp_path):
    """Pictures in train/ and test/ folders: a picture added to test/ since a checkpoint draws another test subset, but
    never from the training pictures; the line says the test split may hold other items, not training items. A
    resume, whose training and validation pictures train/ alone holds, says so of its test split."""
    from pixeltransformer.data_mismatch import split_mismatch

    write_folder(tmp_path / "pics" / "train", 6)
    write_folder(tmp_path / "pics" / "test", 3, seed=1)
    dm = ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 2, -1),
                         cache_dir=str(tmp_path / "cache"))
    assert dm.pool_sizes() == {"train": 6, "test": 3}
    saved = {"ImageDataModule": {"split_options": dm.split_options(), "pool_sizes": {"train": 6, "test": 2}}}
    assert split_mismatch(saved, dm) == (
        "the checkpoint's splits were drawn from 8 items [6 in train/, 2 in test/], but the data now holds 9 items [6 "
        "in train/, 3 in test/] (another folder, or files added or removed since): the same options draw other "
        "splits, and the test split may hold other items than its own; evaluate it on the data it was trained on")
    assert split_mismatch(saved, dm, resume=True).endswith(
        "other splits, and this run's test split may hold other items than its own (its training and validation "
        "items are the same); test it on the data it was trained on")
    saved["ImageDataModule"]["pool_sizes"] = {"train": 6, "test": 3}
    assert split_mismatch(saved, dm) is None


def test_a_validate_names_the_validation_split_it_reads(tmp_path):
    """Pictures in train/ and test/ folders, validation drawn from train/ by the seed: a validate with another seed, or
    on a folder changed since, reads a validation split that may hold the checkpoint's training pictures. Its line
    named the test split, which it does not read, and said it held none of the checkpoint's training items."""
    from pixeltransformer.data_mismatch import split_mismatch

    write_folder(tmp_path / "pics" / "train", 6)
    write_folder(tmp_path / "pics" / "test", 3, seed=1)

    def module(seed: int) -> ImageDataModule:
        return ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 2, -1), seed=seed,
                               cache_dir=str(tmp_path / "cache"))

    saved = {"ImageDataModule": {"split_options": module(1).split_options()}}
    dm = module(0)
    assert split_mismatch(saved, dm, reads=("test",)) is None  # the test folder, whole, under either seed
    assert split_mismatch(saved, dm, reads=("val",)) == (
        "the checkpoint was trained on the splits of data.init_args.seed=1, not this evaluation's (seed=0): the "
        "validation split may then differ from its own and hold items it trained on; pass --data.init_args.seed 1 to "
        "evaluate on its own")
    saved = {"ImageDataModule": {"split_options": dm.split_options(), "pool_sizes": {"train": 7, "test": 3}}}
    assert split_mismatch(saved, dm, reads=("val",)).endswith(
        "other splits, and the validation split may hold items it trained on; evaluate it on the data it was trained "
        "on")


def test_another_seed_on_a_changed_folder_names_both(tmp_path):
    """A checkpoint trained with another data seed on a folder that has gained a picture since: the line named the
    seed alone and said that passing it evaluates on the checkpoint's own splits, which the same seed draws from the
    changed folder only as other splits; the changed folder was named only once the seed was passed. It names both."""
    from pixeltransformer.data_mismatch import split_mismatch

    write_folder(tmp_path / "pics", 12)

    def module(seed: int) -> ImageDataModule:
        return ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 3, 3), seed=seed,
                               cache_dir=str(tmp_path / "cache"))

    saved = {"ImageDataModule": {"split_options": module(1).split_options(), "pool_sizes": {"all": 11}}}
    changed = ("the checkpoint's splits were drawn from 11 items, but the data now holds 12 items (another folder, or "
               "files added or removed since): the same options draw other splits")
    note = split_mismatch(saved, module(0), reads=("test",))
    assert note.startswith("the checkpoint was trained on the splits of data.init_args.seed=1, not this evaluation's "
                           "(seed=0)") and f"pass --data.init_args.seed 1 to evaluate on its own; besides, {changed}" \
        in note, note
    assert f"pass --data.init_args.seed 1 to continue on its own splits; besides, {changed}" in split_mismatch(
        saved, module(0), resume=True)
    assert split_mismatch(saved, module(1), reads=("test",)).startswith(changed)  # the seed passed: the folder alone


def test_a_train_folder_changed_since_moves_no_test_folder_item(tmp_path):
    """Pictures in train/ and test/ folders: a picture added to or renamed in train/ since a checkpoint leaves its
    test split, the test folder's, as it was, and a `test` said it "may hold other items than its own". It compares
    the pools it reads now: a `validate` (validation drawn from train/) and a resume still say so, and a test folder
    changed is named to a test. A checkpoint that recorded one digest of every file's name compares them all."""
    from pixeltransformer.cache import cache_key
    from pixeltransformer.data_mismatch import split_mismatch
    from pixeltransformer.splits import pool_digests

    write_folder(tmp_path / "pics" / "train", 6)
    write_folder(tmp_path / "pics" / "test", 3, seed=1)

    def notes() -> dict[str, str | None]:
        dm = ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 2, -1),
                             cache_dir=str(tmp_path / "cache"))
        return {"test": split_mismatch(saved, dm, reads=("test",)), "resume": split_mismatch(saved, dm, resume=True),
                "validate": split_mismatch(saved, dm, reads=("val",))}

    dm = ImageDataModule("folder", root=str(tmp_path / "pics"), image_size=8, splits=(-1, 2, -1),
                         cache_dir=str(tmp_path / "cache"))
    saved = {"ImageDataModule": {"split_options": dm.split_options(), "pool_sizes": dm.pool_sizes(),
                                 "pool_files": pool_digests(dm.pool_files())}}
    assert notes() == {"test": None, "validate": None, "resume": None}
    write_folder(tmp_path / "more", 1, seed=2)
    added = next((tmp_path / "more").rglob("*.*"))
    added.rename(tmp_path / "pics" / "train" / f"new{added.suffix}")  # as the checkpoint's test split, whole
    got = notes()
    assert got["test"] is None and "6 in train/" in got["validate"] and "7 in train/" in got["resume"], got
    (tmp_path / "pics" / "train" / f"new{added.suffix}").unlink()
    picture = next((tmp_path / "pics" / "train").rglob("*.*"))
    picture.rename(picture.with_name(f"z{picture.name}"))  # as many pictures, one renamed
    got = notes()
    assert got["test"] is None and "other files" in got["validate"] and "other files" in got["resume"], got
    saved["ImageDataModule"]["pool_files"] = cache_key(dm.pool_files())  # one digest of every name, as trained on
    assert "other files" in notes()["test"]
    picture.with_name(f"z{picture.name}").rename(picture)
    assert notes()["test"] is None
    saved["ImageDataModule"]["pool_files"] = pool_digests(dm.pool_files())
    renamed = next((tmp_path / "pics" / "test").rglob("*.*"))
    renamed.rename(renamed.with_name(f"z{renamed.name}"))
    assert "other files" in notes()["test"]


def test_a_folder_cache_entry_of_another_decoding_version_stays(tmp_path, monkeypatch):
    """Two checkouts of the project whose decoding differs (FOLDER_VERSION) may share one cache: each reads only its
    own entry of a folder, so neither may remove the other's, or each start of one would decode the folder again."""
    from domains.images import folder_cache, io

    folder, cache = tmp_path / "pics", tmp_path / "cache"
    write_folder(folder, 3, seed=3)
    files = io.list_images(folder)
    folder_cache.read_folder(folder, files, 8, 3, cache, progress=False)
    (mine,) = cache.glob("pics_8_3_*.npy")
    monkeypatch.setattr(folder_cache, "FOLDER_VERSION", folder_cache.FOLDER_VERSION + 1)
    folder_cache.read_folder(folder, files, 8, 3, cache, progress=False)  # the other checkout's start
    assert mine.is_file() and mine.with_suffix(".json").is_file()
    assert len(list(cache.glob("pics_8_3_*.npy"))) == 2


@pytest.mark.parametrize("dataset, option, value, said", [
    ("folder", "image_size", 1, r"image_size must be >= 2 \(the side of the square the pictures are read at\), got 1: "
                                r"give 2 or more, or leave it out \(the dataset's own size, 64 here\)"),
    ("digits", "image_size", 1, r"image_size must be >= 2 .*, got 1: .* \(the dataset's own size, 8 here\)"),
    ("folder", "num_bins", 0, r"num_bins must be >= 1 \(the bins a pixel's grey level or RGB colour is read in\), got "
                              r"0: give 1 or more, or leave it out \(256 here\)"),
    ("folder", "num_bins", -3, r"num_bins must be >= 1 .*, got -3: .*, or leave it out \(256 here\)"),
    ("digits", "num_bins", 0, r"num_bins must be >= 1 .*, got 0: .* \(32 here\)"),  # grey: 32 uniform bins
    ("folder", "bins", "knn", r"bins must be 'uniform' or 'kmeans', got 'knn'"),
    ("folder", "splits", (8, 2), r"splits must be three sizes, \(train, val, test\), got \(8, 2\)")])
def test_options_out_of_range_name_the_option(tmp_path, dataset, option, value, said):
    """image_size and num_bins out of range were refused as "image_size must be >= 2, got 1" (bins and splits alike),
    naming neither the option as it is given nor what to give; the line names both, as the module's other lines do."""
    write_folder(tmp_path, 3)
    root = {"root": str(tmp_path)} if dataset == "folder" else {}
    with pytest.raises(ValueError, match=rf"^--data.init_args.{said}$"):
        ImageDataModule(dataset, **root, **{option: value})


@pytest.mark.parametrize("pixels", [0, -5])
def test_kmeans_pixels_below_one_is_refused_not_taken_as_num_bins(tmp_path, pixels):
    """kmeans_pixels=0 (or below) fitted the k-means colours on num_bins pixels (256 for 256 bins: every bin one
    pixel's colour), without a word; it is refused in one line naming the option."""
    write_folder(tmp_path, 10)
    with pytest.raises(ValueError, match=rf"^--data.init_args.kmeans_pixels must be >= 1 \(the training pixels the "
                                         rf"k-means colour bins are fitted on; default 10000\), got {pixels}$"):
        ImageDataModule("folder", root=str(tmp_path), image_size=8, kmeans_pixels=pixels)


def test_kmeans_bins_are_fitted_on_every_one_of_kmeans_pixels(tmp_path, monkeypatch):
    """kmeans_pixels above 20 000 drew that many training pixels, but k-means kept a random 20 000 of them: a larger
    kmeans_pixels changed nothing, without a word. Every pixel drawn is fitted."""
    import inspect

    import domains.images.data as data

    used = []
    signature = inspect.signature(data.kmeans_centres)  # its max_points default included

    def spy(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        values, k = call.arguments["values"], call.arguments["k"]  # [N, C], int
        used.append(min(values.shape[0], call.arguments["max_points"]))  # the pixels k-means keeps
        return torch.rand(k, values.shape[1])  # [k, C]

    monkeypatch.setattr(data, "kmeans_centres", spy)
    write_folder(tmp_path, 10)  # 8 training pictures of 64x64: 32 768 pixels
    ImageDataModule("folder", root=str(tmp_path), image_size=64, splits=(8, 1, 1), kmeans_pixels=30_000).spec
    assert used == [30_000]


def test_pictures_smaller_than_the_image_size_are_named_once_not_upscaled_silently(tmp_path):
    """A folder's thumbnail (here one of 3x2 among 16x16 pictures read at 8x8) was upscaled into a training picture of
    interpolated pixels without a word (a 1x1 picture became a flat square of its colour in the test split), while a
    prediction's input smaller than the model says so. A folder says it once, counting them, from its cache too."""
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"big{i}.png")
    Image.fromarray(rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)).save(tmp_path / "tiny.png")
    said = (rf"^1 of the 5 pictures read in {tmp_path} is smaller than 8×8 \(tiny.png, 3×2\), so it was upscaled to "
            r"interpolated pixels: give a smaller --data.init_args.image_size, or leave it out$")
    for _ in range(2):  # decoded, then read from the cache
        dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(3, 1, 1), bins="uniform", num_bins=8,
                             cache_dir=str(tmp_path / "c"))
        with pytest.warns(UserWarning, match=said):
            dm.dataset("train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pictures of the size or larger: not a word
        ImageDataModule("folder", root=str(tmp_path), image_size=2, splits=(3, 1, 1), bins="uniform", num_bins=8,
                        cache_dir=str(tmp_path / "c")).dataset("train")
    Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(tmp_path / "tiny2.png")
    said = (rf"^2 of the 6 pictures read in {tmp_path} are smaller than 8×8 \(first: tiny.png, 3×2\), so they were "
            r"upscaled to interpolated pixels: give a smaller --data.init_args.image_size, or leave them out$")
    with pytest.warns(UserWarning, match=said):
        ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(4, 1, 1), bins="uniform", num_bins=8,
                        cache_dir=str(tmp_path / "c")).dataset("train")


def test_mnist_or_cifar_read_larger_than_their_pictures_say_they_were_upscaled(tmp_path):
    """MNIST or CIFAR-10 at an --data.init_args.image_size above their pictures' own (28 or 32 at 64, a CIFAR .npz
    of 16x16 at its default 32) trained on interpolated pixels without a word, while a folder's smaller pictures are
    named. Each says so once; read at their own size or smaller, not a word."""
    write_mnist(tmp_path / "mnist", "test", 20)
    said = (rf"^{tmp_path / 'mnist'}: its pictures of 28×28 are smaller than 32×32, so they were upscaled to "
            r"interpolated pixels: give --data.init_args.image_size=28 or less$")
    with pytest.warns(UserWarning, match=said):
        ImageDataModule("mnist", root=str(tmp_path / "mnist"), image_size=32, splits=(10, 5, 5)).dataset("train")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", images=rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8))
    with pytest.warns(UserWarning, match=r"small.npz: its pictures of 16×16 are smaller than 32×32, so they were "
                                         r"upscaled to interpolated pixels: give --data.init_args.image_size=16 or"):
        ImageDataModule("cifar10", root=str(tmp_path / "small.npz"), splits=(10, 5, 5), bins="uniform",
                        num_bins=8).dataset("train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in (None, 14):
            ImageDataModule("mnist", root=str(tmp_path / "mnist"), image_size=size, splits=(10, 5, 5)).dataset("train")


def test_pictures_that_are_not_square_upscaled_name_the_centre_that_is_smaller(tmp_path):
    """An .npz of 64x16 pictures at image_size 32 said "its pictures of 64×16 are smaller than 32×32", though they are
    twice as wide: their centre square, 16×16, is what is smaller and upscaled, and the line names it."""
    wide = np.random.default_rng(0).integers(0, 256, (10, 16, 64, 3), dtype=np.uint8)  # [N, H, W, C]
    np.savez(tmp_path / "wide.npz", images=wide)
    said = (rf"^{tmp_path / 'wide.npz'}: its pictures of 64×16 are cropped to their centre 16×16, which is smaller "
            r"than 32×32, so they were upscaled to interpolated pixels: give --data.init_args.image_size=16 or less$")
    with pytest.warns(UserWarning, match=said):
        ImageDataModule("cifar10", root=str(tmp_path / "wide.npz"), splits=(6, 2, 2), bins="uniform",
                        num_bins=8).dataset("train")


def test_an_npz_of_pictures_that_are_not_square_is_centre_cropped_as_a_folder_s_are(tmp_path):
    """A CIFAR-10 .npz of 8x16 pictures was squeezed to 8x8, every shape twice as narrow, while the same pictures in a
    folder are centre-cropped to a square: it is cropped now, its middle 8 columns kept as they are."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 8, 16, 3), dtype=np.uint8)  # [N, H, W, C], W = 2 H
    np.savez(tmp_path / "wide.npz", images=images)
    dm = ImageDataModule("cifar10", root=str(tmp_path / "wide.npz"), image_size=8, splits=(6, 2, 2), bins="uniform",
                         num_bins=8)
    pool = dm.build_split("train").pool  # [10, 3, 8, 8]
    assert torch.equal(pool, torch.from_numpy(images[:, :, 4:12]).permute(0, 3, 1, 2))


def test_a_folder_of_grey_pictures_read_as_rgb_names_the_channels_option(tmp_path):
    """A folder whose every picture is grey (exported MNIST digits, X-rays) was read as RGB without a word: its
    k-means colours all lie on the grey diagonal and its NLL is per channel of three equal ones, not a grey model's.
    The folder says so once, naming --data.init_args.channels=1; a folder with one colour picture says nothing."""
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / f"grey{i}.png")
    said = (rf"^{tmp_path}: every one of its 5 pictures is grey \(red = green = blue\) and is read as RGB: "
            r"--data.init_args.channels=1 reads them as grey \(one value a pixel\)$")
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(3, 1, 1), bins="uniform", num_bins=8,
                         cache_dir=str(tmp_path / "c"))
    with pytest.warns(UserWarning, match=said):
        dm.dataset("train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read as grey, or with one picture of colours: not a word
        ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(3, 1, 1), channels=1,
                        cache_dir=str(tmp_path / "c")).dataset("train")
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "colour.png")
        ImageDataModule("folder", root=str(tmp_path), image_size=8, splits=(4, 1, 1), bins="uniform", num_bins=8,
                        cache_dir=str(tmp_path / "c")).dataset("train")


def test_a_folder_cache_that_cannot_be_written_names_the_folder_and_the_remedy(tmp_path, blocked):
    """A cache folder that cannot be written (a read-only home, a file on its path) said only the system's words,
    "decoded pictures not cached ([Errno 30] Read-only file system: '/home/me/.cache')", and not how to keep them."""
    from domains.images.folder_cache import read_folder

    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(np.zeros((10, 10, 3), dtype=np.uint8)).save(folder / "0.png")
    cache = blocked / "cache"
    with pytest.warns(UserWarning, match=rf"^decoded pictures not cached: cannot write {re.escape(str(cache))} "
                                         rf"\({re.escape(str(blocked))} is a file, not a folder\): "
                                         rf"{re.escape(str(folder))} is decoded again at the next start; set "
                                         r"\$PIXELTRANSFORMER_CACHE \(or the data's cache_dir\) to a folder this "
                                         r"user can write$"):
        images, _ = read_folder(folder, io.list_images(folder), 8, 3, cache, progress=False)
    assert images.shape == (1, 8, 8, 3)  # [N, size, size, C]: read without the cache


def test_a_picture_folder_reached_through_a_symlink_shares_its_cache_entry(tmp_path):
    """The cache entry of a folder was named after the path given: the same pictures read through a symlink
    (~/cats -> /data/cats) were decoded again and kept twice, one entry per name."""
    from domains.images.folder_cache import read_folder

    folder, cache = tmp_path / "pics", tmp_path / "cache"
    folder.mkdir()
    Image.fromarray(np.zeros((10, 10, 3), dtype=np.uint8)).save(folder / "0.png")
    (tmp_path / "link").symlink_to(folder)
    first, _ = read_folder(folder, io.list_images(folder), 8, 3, cache, progress=False)
    again, _ = read_folder(tmp_path / "link", io.list_images(tmp_path / "link"), 8, 3, cache, progress=False)
    assert [p.name.split("_")[0] for p in cache.glob("*.npy")] == ["pics"]
    assert np.array_equal(first, again)


def test_setup_says_how_many_pictures_each_split_holds_and_the_batches_of_a_small_one(tmp_path, capsys):
    """Three pictures of a folder: a fit's log said nothing of how they were dealt, nor that batch_size 8 reads batches
    of 1; a test's names the test split alone."""
    write_folder(tmp_path, 3)
    dm = ImageDataModule("folder", root=str(tmp_path), image_size=8, batch_size=8, num_bins=16)
    dm.setup("fit")
    assert capsys.readouterr().out.splitlines() == [
        "[data] train 1 image (one batch of 1 an epoch: batch_size 8 is more than it holds); val 1 image"]
    dm.setup("test")
    assert capsys.readouterr().out.splitlines() == [
        "[data] test 1 image"]


def test_a_train_split_that_a_process_holds_less_than_a_batch_of_still_trains(tmp_path, under_trainer):
    """Under DDP on 2 devices, 12 training pictures at batch_size 8 gave each process 6, which drop_last dropped: an
    epoch of no training batch. Each now trains on one batch of 6; a train split of fewer pictures than processes is
    refused in one line."""
    for rank in (0, 1):
        dm = under_trainer(ImageDataModule("digits", splits=(12, 4, 8), batch_size=8), world_size=2, global_rank=rank)
        assert [len(batch["signal"]) for batch in dm.train_dataloader()] == [6]
    loader = under_trainer(ImageDataModule("digits", splits=(12, 4, 8), batch_size=8)).train_dataloader()
    assert [len(batch["signal"]) for batch in loader] == [8]  # one process: whole batches, the rest dropped
    one = under_trainer(ImageDataModule("digits", splits=(1, 4, 8), batch_size=8), world_size=2)
    with pytest.raises(ValueError, match=r"^ImageDataModule: the train split's 1 image cannot feed 2 processes, "
                                         r"which take one each at least: add images, or run on fewer devices "
                                         r"\(--trainer.devices\)$"):
        one.train_dataloader()
