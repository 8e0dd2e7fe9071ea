"""The image readers: MNIST IDX, CIFAR-10 batches and npz, picture folders, digits, single user pictures."""

import dataclasses
import gzip
import pickle
import re
import shlex
import struct
import tarfile
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from domains.images import datasets, io
from domains.images.data import ImageDataModule
from images_fixtures import SHARED, idx_bytes, write_cifar_batches, write_folder, write_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_read_mnist_gz_and_raw(tmp_path, gz):
    images, labels = write_mnist(tmp_path, "test", 6, gz=gz)
    x, y = datasets.read_mnist(tmp_path, "test")
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.uint8
    assert np.array_equal(x[..., 0], images)
    assert y.dtype == np.int64 and np.array_equal(y, labels)


def test_read_mnist_torchvision_layout_and_train_split(tmp_path):
    images, _ = write_mnist(tmp_path / "MNIST" / "raw", "train", 3)
    x, _ = datasets.read_mnist(tmp_path, "train")
    assert np.array_equal(x[..., 0], images)


def test_read_mnist_dotted_names_and_a_gz_name_on_a_raw_file(tmp_path):
    images, labels = write_mnist(tmp_path, "train", 4, gz=False)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):  # as Kaggle's unpacked copy names them
        (tmp_path / stem).rename(tmp_path / stem.replace("-idx", ".idx"))
    x, y = datasets.read_mnist(tmp_path, "train")
    assert np.array_equal(x[..., 0], images) and np.array_equal(y, labels)
    # a browser that undid the server's gzip encoding keeps the .gz name on the raw bytes
    images, labels = write_mnist(tmp_path / "browser", "test", 3, gz=False)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / "browser" / stem).rename(tmp_path / "browser" / f"{stem}.gz")
    x, y = datasets.read_mnist(tmp_path / "browser", "test")
    assert np.array_equal(x[..., 0], images) and np.array_equal(y, labels)
    assert datasets.read_idx_header(tmp_path / "browser" / "t10k-images-idx3-ubyte.gz") == (3, 28, 28)


def test_truncated_gz_idx_is_a_one_line_error(tmp_path):
    write_mnist(tmp_path, "test", 4)
    f = tmp_path / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-30])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz") as e:
        datasets.read_mnist(tmp_path)
    assert "\n" not in str(e.value)


def test_short_raw_idx_and_bad_magic(tmp_path):
    arr = np.zeros((3, 28, 28), np.uint8)
    (tmp_path / "short").write_bytes(idx_bytes(arr)[:-5])
    with pytest.raises(ValueError, match="file holds 2347"):
        datasets.read_idx(tmp_path / "short", 3)
    (tmp_path / "labels").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(tmp_path / "labels", 3)  # a labels file where images are expected


def test_mnist_label_count_mismatch(tmp_path):
    write_mnist(tmp_path, "test", 4)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        datasets.read_mnist(tmp_path)


def test_mnist_without_labels_warns(tmp_path):
    write_mnist(tmp_path, "test", 2)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.warns(UserWarning, match="labels"):
        x, y = datasets.read_mnist(tmp_path)
    assert y is None and len(x) == 2


def test_missing_mnist_names_path_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz") as e:
        datasets.read_mnist(tmp_path / "nowhere")
    assert "nowhere" in str(e.value)


def test_a_root_one_level_above_the_data_names_the_folder_to_pass(tmp_path):
    # --data.init_args.root=$PIXELTRANSFORMER_DATA (the folder of every dataset) instead of its mnist/ or cifar10/
    write_mnist(tmp_path / "mnist", "test", 4)
    with pytest.raises(FileNotFoundError) as e:
        datasets.read_mnist(tmp_path)
    assert f"--data.init_args.root={tmp_path / 'mnist'}" in str(e.value) and "download" not in str(e.value)
    write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py", n_per_batch=2)
    with pytest.raises(FileNotFoundError) as e:
        datasets.read_cifar10(tmp_path)
    assert f"--data.init_args.root={tmp_path / 'cifar10'}" in str(e.value) and "download" not in str(e.value)


def test_a_cifar10_folder_is_named_only_where_it_holds_one_npz_of_images(tmp_path):
    """cifar10/ below the root is named only when cifar10_source would read it: an .npz holding no 'images', or
    several, would be refused there, so the line says download; an empty mnist/ below the root says download too."""
    below = tmp_path / "cifar10"
    below.mkdir()
    np.savez(below / "notes.npz", x=np.zeros(3))  # no 'images'
    for extra in (None, "more.npz"):
        if extra:
            np.savez(below / extra, images=np.zeros((2, 4, 4, 3), np.uint8))  # two .npz: not one to read
        with pytest.raises(FileNotFoundError) as e:
            datasets.read_cifar10(tmp_path)
        assert "holds it" not in str(e.value) and str(e.value).endswith("--data.init_args.download=true to fetch "
                                                                         "the batches")
    (below / "notes.npz").unlink()  # one .npz of images: named
    with pytest.raises(FileNotFoundError, match=rf"{re.escape(str(below))} holds it: pass --data.init_args.root="):
        datasets.read_cifar10(tmp_path)
    (tmp_path / "mnist").mkdir()
    with pytest.raises(FileNotFoundError, match=r"add --data.init_args.download=true to fetch them$"):
        datasets.read_mnist(tmp_path)


def test_the_folders_the_data_hints_name_are_shell_words(tmp_path):
    """A root with a space (/tmp/da ta): the --data.init_args.root= remedies quote the folder, so the option
    pasted into a shell stays one word."""
    root = tmp_path / "da ta"
    write_mnist(root / "mnist", "test", 4)
    (root / "cifar10").mkdir()
    np.savez(root / "cifar10" / "c.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    cases = [(lambda: datasets.read_mnist(root), root / "mnist"),  # one level too high
             (lambda: datasets.read_cifar10(root), root / "cifar10"),
             (lambda: datasets.read_mnist(root / "mnist" / "t10k-images-idx3-ubyte.gz"), root / "mnist"),  # a file
             (lambda: datasets.read_cifar10(root / "mnist"), root / "cifar10")]  # another dataset's folder
    for read, folder in cases:
        with pytest.raises((FileNotFoundError, ValueError)) as e:
            read()
        assert f"--data.init_args.root='{folder}'" in str(e.value)


def test_read_cifar_batches_folder_and_parent(tmp_path):
    batches = write_cifar_batches(tmp_path / "cifar-10-batches-py", n_per_batch=3)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
        x, y = datasets.read_cifar10(root, "train")
        assert x.shape == (15, 32, 32, 3) and y.shape == (15,) and y.dtype == np.int64
    data, labels = batches["test_batch"]
    xt, yt = datasets.read_cifar10(tmp_path, "test")
    # The official layout is three 1024-byte channel planes, row-major: pixel (y=1, x=2) of image 0.
    assert tuple(xt[0, 1, 2]) == (data[0, 34], data[0, 1024 + 34], data[0, 2048 + 34])
    assert list(yt) == labels


def test_read_cifar_binary_version_matches_the_python_version(tmp_path):
    batches = write_cifar_batches(tmp_path / "py" / "cifar-10-batches-py", n_per_batch=3)
    folder = tmp_path / "bin" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, (data, labels) in batches.items():  # records of a label byte and the 3072 pixel bytes
        records = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)  # [N, 3073]
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("airplane\n")
    for split in ("train", "test"):
        x, y = datasets.read_cifar10(tmp_path / "py", split)
        for root in (tmp_path / "bin", folder):
            xb, yb = datasets.read_cifar10(root, split)
            assert np.array_equal(xb, x) and np.array_equal(yb, y)
    (folder / "test_batch.bin").write_bytes(b"\x03" * 3074)
    with pytest.raises(ValueError, match=r"test_batch.bin: not a CIFAR-10 binary batch \(3074 bytes"):
        datasets.read_cifar10(folder, "test")


def test_cifar_archive_is_named_with_how_to_unpack_it(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(ValueError, match=r"cifar-10-python.tar.gz is an archive: unpack it \(tar -xzf"):
        datasets.read_cifar10(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(FileNotFoundError, match="still the archive cifar-10-python.tar.gz: unpack it there"):
        datasets.read_cifar10(tmp_path)  # a folder that holds only the archive


def test_download_unpacks_the_users_archive_and_keeps_it(tmp_path, monkeypatch):
    """The archive-only error points to download=true, which unpacked a user's cifar-10-python.tar.gz and then
    deleted it; an archive that was not gzip stopped in tarfile's ReadError."""
    monkeypatch.setattr(datasets, "_fetch", lambda *a: pytest.fail("the archive in root must be used, not fetched"))
    src = tmp_path / "src"
    write_cifar_batches(src / "cifar-10-batches-py", n_per_batch=2)
    root = tmp_path / "data"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    x, y = datasets.read_cifar10(root, "train", download=True)
    assert x.shape == (10, 32, 32, 3) and y.shape == (10,)
    assert (root / "cifar-10-python.tar.gz").is_file()  # the user's file stays
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cifar-10-python.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match=r"cifar-10-python.tar.gz: not a readable CIFAR-10 archive \(.*\); delete it "
                                         r"to download it again, or fetch https://"):
        datasets.read_cifar10(bad, "train", download=True)
    assert (bad / "cifar-10-python.tar.gz").read_bytes() == b"not an archive"


def test_cifar_with_some_training_batches_missing_is_an_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder, 2)
    for i in (3, 4, 5):  # an interrupted copy: the test batch and two of the five training batches
        (folder / f"data_batch_{i}").unlink()
    dm = ImageDataModule("cifar10", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train batches missing .*data_batch_3, data_batch_4, data_batch_5"):
        dm.setup("fit")


def test_cifar_missing_batch_and_hostile_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder, 2)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        datasets.read_cifar10(tmp_path, "train")
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": print, b"labels": []}, f)  # a pickle that names a callable
    with pytest.raises(ValueError, match="test_batch"):
        datasets.read_cifar10(tmp_path, "test")


def test_read_cifar_npz_file_and_folder(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", images=images, labels=np.arange(5))
    for root in (tmp_path / "c.npz", tmp_path):
        x, y = datasets.read_cifar10(root)
        assert np.array_equal(x, images) and list(y) == [0, 1, 2, 3, 4]
    np.savez(tmp_path / "bad.npz", pixels=images)
    with pytest.raises(ValueError, match="images"):
        datasets.read_image_npz(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="several .npz"):
        datasets.read_cifar10(tmp_path)


def test_a_cifar_npz_of_grey_pictures_is_refused_with_a_remedy_that_reads(tmp_path):
    """CIFAR-10 is RGB: an .npz of grey pictures stopped at the model with "SignalSpec: every bin centre needs 3
    values". It is refused naming the shape the file holds ([5, 32, 32, 1] was shown as [5, 32, 32]) and a remedy
    that makes RGB pictures of each grey layout (np.repeat(images[..., None], 3, -1) made [5, 32, 32, 1, 3] of
    [5, 32, 32, 1], refused in turn): applied, the file reads."""
    grey = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)  # [N, H, W]
    for stored in (grey, grey[..., None], grey[:, None]):  # [N, H, W], [N, H, W, 1], [N, 1, H, W]
        np.savez(tmp_path / "grey.npz", images=stored, labels=np.arange(5))
        with pytest.raises(ValueError) as refused:
            datasets.read_cifar10(tmp_path / "grey.npz")
        said = str(refused.value)
        assert said == (f"{tmp_path / 'grey.npz'}: 'images' {list(stored.shape)} are grey pictures, but CIFAR-10 is "
                        "RGB: give [N, H, W, 3] (grey repeated: np.repeat(images.reshape(5, 32, 32, 1), 3, -1)), or "
                        "save them as picture files for --data.init_args.dataset=folder --data.init_args.channels=1")
        remedy = re.search(r"grey repeated: (.+?)\), or", said).group(1)
        np.savez(tmp_path / "rgb.npz", images=eval(remedy, {"np": np, "images": stored}), labels=np.arange(5))
        images, labels = datasets.read_cifar10(tmp_path / "rgb.npz")  # [5, 32, 32, 3], [5]
        assert images.shape == (5, 32, 32, 3) and all(np.array_equal(images[..., c], grey) for c in range(3))


def test_a_cifar_npz_of_other_labels_reads_them_as_they_are(tmp_path):
    """Labels only feed the classifier baseline, whose own gate leaves it out for labels it cannot judge by: an .npz
    of CIFAR-100-like labels (0..99) or of -1 for unlabelled pictures trained before labels outside 0..9 were
    refused as it was read, and trains again. Keras's labels, a column [N, 1], read as one a picture [N]."""
    rgb = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    for labels in (np.array([0, 17, 42, 99, 3]), np.full(5, -1), np.arange(5)[:, None]):  # [5] or [5, 1]
        np.savez(tmp_path / "labels.npz", images=rgb, labels=labels)
        images, read = datasets.read_cifar10(tmp_path / "labels.npz")  # [5, 32, 32, 3], [5]
        assert np.array_equal(images, rgb) and np.array_equal(read, labels.reshape(5))
    np.savez(tmp_path / "labels.npz", images=rgb, labels=np.array([0, 17, 42, 99, 3]))
    dm = ImageDataModule("cifar10", root=str(tmp_path / "labels.npz"), splits=(3, 1, 1), bins="uniform", num_bins=8)
    assert dm.num_classes == 10 and len(dm.dataset("train")) == 3


def test_an_npz_of_no_pictures_or_of_pictures_of_no_pixels_is_refused_in_one_line(tmp_path):
    """An .npz of 0 pictures, or of pictures of 0x0 pixels, ended the spec in a traceback (torch's max() of no
    values, interpolate's sizes): refused as the file is read, naming it and its 'images' array."""
    cases = {"none.npz": ((0, 32, 32, 3), "'images' [0, 32, 32, 3] holds no pictures: give an .npz of one picture or "
                                          "more, 'images' [N, H, W, C] with N >= 1"),
             "flat.npz": ((5, 0, 0, 3), "'images' [5, 0, 0, 3] holds pictures of 0×0 pixels: give pictures of 1×1 "
                                        "pixels or more")}
    for name, (shape, said) in cases.items():
        path = tmp_path / name
        np.savez(path, images=np.zeros(shape, np.uint8), labels=np.zeros(shape[0], np.int64))
        line = f"^{re.escape(f'{path}: {said}')}$"
        with pytest.raises(ValueError, match=line):
            datasets.read_cifar10(path)
        dm = ImageDataModule("cifar10", root=str(path), splits=(3, 1, 1), num_bins=8)
        with pytest.raises(ValueError, match=line):
            dm.spec


def test_labels_that_are_not_whole_numbers_are_refused_naming_the_file_and_the_array(tmp_path):
    """Labels of text met int() unnamed ("invalid literal for int() with base 10: np.str_('cat')"), and labels of
    3.7 were cut to 3 without a word. Both are refused naming the file and 'labels'; float labels of whole numbers
    (np.savez of a float column) read as the classes they are."""
    rgb = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "labels.npz"
    refused = {"text": (np.array(["cat", "dog", "cat", "cat", "dog"]),
                        "'labels' must hold whole numbers (the class of each picture), got text (<U3): give each "
                        "picture's class as 0, 1, 2, ..., or leave 'labels' out"),
               "fractions": (np.array([0, 1, 3.7, 2, 1]),
                             "'labels' must hold whole numbers (the class of each picture), but label 3 of 5 is 3.7: "
                             "give each picture's class as 0, 1, 2, ..., or leave 'labels' out"),
               "nan": (np.array([0, 1, 2, np.nan, 1]),
                       "'labels' must hold whole numbers (the class of each picture), but label 4 of 5 is nan: give "
                       "each picture's class as 0, 1, 2, ..., or leave 'labels' out")}
    for labels, said in refused.values():
        np.savez(path, images=rgb, labels=labels)
        with pytest.raises(ValueError, match=f"^{re.escape(f'{path}: {said}')}$"):
            datasets.read_cifar10(path)
    np.savez(path, images=rgb, labels=np.array([0.0, 1.0, 9.0, 2.0, 1.0]))
    images, read = datasets.read_cifar10(path)
    assert read.dtype == np.int64 and read.tolist() == [0, 1, 9, 2, 1]


def test_missing_cifar(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1..5"):
        datasets.read_cifar10(tmp_path)


def test_read_image_folder_skips_and_counts_corrupt(tmp_path):
    write_folder(tmp_path, 5)
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("ignored: not a picture suffix")
    # named by its place under the folder, once: not its name and then its whole path
    # PIL's own message names the file again by its whole path: said once
    with pytest.warns(UserWarning, match=r"1 of the 6 files in \S+ is unreadable, skipped \(b/broken.png: not a "
                                         r"readable image \(expected PNG/JPEG/BMP/WebP; [^/']*\)\): remove or "
                                         r"replace it$"):
        x, y = io.read_image_folder(tmp_path, 16, progress=False)
    assert x.shape == (5, 16, 16, 3) and x.dtype == np.uint8 and y is None
    # Sorted by full path, so the order is the same on every machine.
    names = [f"{p.parent.name}/{p.name}" for p in io.list_images(tmp_path)]
    assert names == ["a/img1.png", "a/img3.jpg", "b/broken.png", "b/img0.jpg", "b/img2.png", "b/img4.png"]
    whole = (tmp_path / "a" / "img1.png").read_bytes()
    (tmp_path / "a" / "cut.png").write_bytes(whole[: len(whole) // 2])  # a copy cut short: met as it is decoded
    with pytest.warns(UserWarning, match=r"2 of the 7 files in \S+ are unreadable, skipped \(first: a/cut.png: not a "
                                         r"readable image \(.*truncated\)\): remove or replace them$"):
        x, _ = io.read_image_folder(tmp_path, 16, progress=False)
    assert x.shape == (5, 16, 16, 3)


def test_image_folder_leaves_out_hidden_files_and_folders(tmp_path):
    write_folder(tmp_path, 3)
    # a macOS copy: an AppleDouble "._" file beside every picture, .DS_Store, and a viewer's hidden thumbnails
    for p in list(tmp_path.rglob("img*")):
        (p.parent / f"._{p.name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "a" / ".thumbnails").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a" / ".thumbnails" / "img1.png")
    assert [p.name for p in io.list_images(tmp_path)] == ["img1.png", "img0.jpg", "img2.png"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to skip, so no warning
        x, _ = io.read_image_folder(tmp_path, 8, progress=False)
    assert len(x) == 3


def test_exif_orientation_turns_a_camera_picture_upright(tmp_path):
    arr = np.zeros((10, 30, 3), np.uint8)  # stored landscape, black on the left, white on the right
    arr[:, 15:] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view": a phone held upright
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = io.open_image(tmp_path / "phone.jpg")
    assert upright.shape == (30, 10, 3)  # portrait, as a viewer shows it
    assert upright[:10].mean() < 30 and upright[-10:].mean() > 225  # the left edge turned to the top


def test_an_image_too_large_for_pil_is_unreadable_and_skipped_in_a_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses twice this many pixels as a decompression bomb
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match=r"^\S*bomb.png: not a readable image \(too large: Image size \(256 pixels\)"):
        io.open_image(tmp_path / "bomb.png")
    with pytest.warns(UserWarning, match="1 of the 2 files in .* is unreadable, skipped .bomb.png: not a readable "):
        x, _ = io.read_image_folder(tmp_path, 8, progress=False)
    assert x.shape == (1, 8, 8, 3)


def test_centre_crop_keeps_the_middle(tmp_path):
    arr = np.zeros((10, 30, 3), np.uint8)
    arr[:, 10:20] = 255  # a white square in the middle of a wide black picture
    Image.fromarray(arr).save(tmp_path / "wide.png")
    x, _ = io.read_image_folder(tmp_path, 10, progress=False)
    assert x.min() == 255  # the crop is exactly the middle square


def test_empty_and_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        io.read_image_folder(tmp_path / "empty", 8)
    with pytest.raises(FileNotFoundError, match="nope"):
        io.read_image_folder(tmp_path / "nope", 8)
    write_folder(tmp_path / "pics", 1)
    one = next((tmp_path / "pics").rglob("*.*"))
    with pytest.raises(NotADirectoryError, match=rf"^{one} is a file: expected a folder of \.png/"):  # not "not found"
        io.read_image_folder(one, 8)


def test_read_digits():
    x, y = datasets.read_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.uint8 and x.max() == 255 and x.min() == 0
    assert y.shape == (1797,) and set(y.tolist()) == set(range(10))


def test_user_image_modes(tmp_path):
    pal = Image.new("P", (4, 4))
    pal.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    pal.info["transparency"] = 0  # palette index 0 (red) is fully transparent -> white
    pal.save(tmp_path / "pal.png", transparency=0)
    assert tuple(io.open_image(tmp_path / "pal.png")[0, 0]) == (255, 255, 255)
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "deep.png")  # 16-bit grayscale
    assert io.open_image(tmp_path / "deep.png", channels=1).max() == 255
    assert io.open_image(tmp_path / "deep.png").shape == (4, 4, 3)
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(tmp_path / "half.png")
    assert abs(int(io.open_image(tmp_path / "half.png", channels=1)[0, 0, 0]) - 128) <= 1  # rescaled, not clipped
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        io.open_image(tmp_path / "fake.png")
    with pytest.raises(FileNotFoundError):
        io.open_image(tmp_path / "absent.png")


def test_a_lab_picture_reads_as_grey_for_a_grey_model(tmp_path):
    """PIL converts a CIE L*a*b* picture (a TIFF's LAB mode) to RGB but not to grey: a grey model read it as
    "conversion from LAB to RGB not supported", naming neither the file nor a remedy."""
    rgb = np.zeros((4, 6, 3), np.uint8)  # [H, W, 3]
    rgb[:, 3:] = (200, 120, 40)
    Image.fromarray(rgb).convert("LAB").save(tmp_path / "lab.tif")
    grey = io.open_image(tmp_path / "lab.tif", channels=1)  # [4, 6, 1]
    expected = np.asarray(Image.fromarray(rgb).convert("L"))  # [4, 6]
    assert grey.shape == (4, 6, 1) and np.abs(grey[..., 0].astype(int) - expected).max() <= 3


def test_16_bit_pictures_share_one_scale_and_a_dim_one_is_named(tmp_path):
    # values of 200 in a 16-bit picture are nearly black in any viewer: they are not 8-bit values to read as 200
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "night.png")
    with pytest.warns(UserWarning, match=r"night.png: 16-bit pixels reach only 200 of 65535 .* 0..1 of 255"):
        assert io.open_image(tmp_path / "night.png", channels=1).max() == 1
    # a 12-bit camera's data in a 16-bit file: read on the 16-bit scale too, and named
    Image.fromarray(np.linspace(0, 4095, 16).reshape(4, 4).astype(np.uint16)).save(tmp_path / "twelve.png")
    with pytest.warns(UserWarning, match=r"twelve.png: 16-bit pixels reach only 4095 of 65535 \(12-bit data\?\)"):
        assert io.open_image(tmp_path / "twelve.png", channels=1).max() == 16
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "bright.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 16-bit picture that uses its range reads without a word
        assert io.open_image(tmp_path / "bright.png", channels=1).max() == 156
    # a folder says it once, counting them
    with pytest.warns(UserWarning, match=r"2 of the 3 pictures read in \S+ are 16-bit and nearly black \(first: night"):
        x, _ = io.read_image_folder(tmp_path, 4, progress=False)
    assert sorted(int(v) for v in x.max(axis=(1, 2, 3))) == [1, 16, 156]


def test_a_32_bit_picture_past_the_16_bit_range_is_refused_not_clipped(tmp_path):
    """A 32-bit integer picture (a TIFF of PIL's mode I: a depth map's millimetres, a sensor's counts) was read on the
    16-bit scale, every value above 65535 clipped to white without a word: three quarters of this one. Its values have
    no known range to be scaled from, so it is refused in one line saying how to save it; one whose values fit
    0..65535 reads as a 16-bit picture does."""
    counts = np.arange(256, dtype=np.int32).reshape(16, 16) * 1000  # [16, 16], 0..255000
    Image.fromarray(counts).save(tmp_path / "counts.tif")
    assert Image.open(tmp_path / "counts.tif").mode == "I"
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'counts.tif'}: its 32-bit pixels span 0..255000, outside "
                                         r"the 0..65535 a picture of more than 8 bits is read on, and no range of "
                                         r"theirs is known: save it as 16-bit or 8-bit, scaled as it should look$"):
        io.open_image(tmp_path / "counts.tif", channels=1)
    Image.fromarray(counts - 1000).save(tmp_path / "signed.tif")  # -1000..254000
    with pytest.raises(ValueError, match=r"signed.tif: its 32-bit pixels span -1000..254000, outside the 0..65535"):
        io.read_picture_colours(tmp_path / "signed.tif")
    Image.fromarray(counts // 4).save(tmp_path / "fits.tif")  # 0..63750: the 16-bit scale
    assert io.open_image(tmp_path / "fits.tif", channels=1).max() == round(63750 / 65535 * 255)


def test_a_float_picture_past_its_scale_is_refused_not_clipped(tmp_path):
    """A float picture (a TIFF of PIL's mode F: a depth map in metres or millimetres, a normalised -1..1 one) was read
    on 0..1, or 0..255 once a value exceeded 1, every value above 255 clipped to white and below 0 to black without a
    word: three quarters of a 0..1020 one, half of a -1..1 one. It is refused in one line as a 32-bit integer picture
    past its scale is; one on 0..1 or 0..255 reads as before."""
    depth = np.arange(256, dtype=np.float32).reshape(16, 16) * 4  # [16, 16], 0..1020
    signed = np.linspace(-1, 1, 256, dtype=np.float32).reshape(16, 16)  # [16, 16]
    for name, values, span, read in (("depth.tif", depth, "0..1020", io.open_image),
                                     ("signed.tif", signed, "-1..1", io.read_picture_colours)):
        Image.fromarray(values).save(tmp_path / name)
        assert Image.open(tmp_path / name).mode == "F"
        with pytest.raises(ValueError, match=rf"^{tmp_path / name}: its float pixels span {span}, outside the 0..1 "
                                             r"or 0..255 a float picture is read on, and no range of theirs is "
                                             r"known: save it as 16-bit or 8-bit, scaled as it should look$"):
            read(tmp_path / name, channels=1)
    Image.fromarray(depth / 1020).save(tmp_path / "unit.tif")  # 0..1
    Image.fromarray(depth / 4.5).save(tmp_path / "eight.tif")  # 0..226.7: the 8-bit scale
    assert io.open_image(tmp_path / "unit.tif", channels=1).max() == 255
    assert io.open_image(tmp_path / "eight.tif", channels=1).max() == 227


def test_a_float_picture_holding_nan_is_refused_for_it(tmp_path):
    """A float picture on 0..1 with one NaN pixel was refused as "its float pixels span nan..nan, outside the 0..1
    or 0..255 ...": its range was fine, the NaN was not. It is refused in one line saying it holds NaN or infinity
    and how to save it; so is one with an infinite pixel."""
    unit = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)  # [16, 16], 0..1
    for name, bad in (("nan.tif", np.nan), ("inf.tif", np.inf)):
        values = unit.copy()
        values[3, 5] = bad
        Image.fromarray(values).save(tmp_path / name)
        with pytest.raises(ValueError, match=rf"^{tmp_path / name}: its float pixels hold NaN or infinity, which "
                                             r"have no brightness: save it as 16-bit or 8-bit, with a value in their "
                                             r"place$"):
            io.open_image(tmp_path / name, channels=1)


def write_png_16_bit_colour(path, rgb: np.ndarray) -> None:
    """uint16 [H, W, 3] -> a 16-bit RGB PNG, written by hand: PIL has no 16-bit colour mode to save it from."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].astype(">u2").tobytes() for y in range(h))  # filter 0 (none) on each row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # 16 bits a value, colour type 2 (RGB)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_a_dim_16_bit_colour_picture_is_named_as_a_grey_one_is(tmp_path):
    """A 12-bit camera's colour picture saved as a 16-bit PNG read nearly black without a word, where a grey one is
    named: PIL reads a 16-bit colour PNG as its values' high bytes, so the peak it shows is at most 15 of 255."""
    dim = np.zeros((4, 4, 3), np.uint16)
    dim[..., 0], dim[..., 1], dim[..., 2] = 4000, 100, np.arange(16).reshape(4, 4) * 100
    write_png_16_bit_colour(tmp_path / "camera.png", dim)
    with pytest.warns(UserWarning, match=r"camera.png: 16-bit pixels reach at most 4095 of 65535 \(12-bit data\?\), "
                                         r"so they read as 0..15 of 255"):
        assert io.open_image(tmp_path / "camera.png").max() == 15
    write_png_16_bit_colour(tmp_path / "bright.png", np.full((4, 4, 3), 40000, np.uint16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one that uses its range reads without a word
        assert io.open_image(tmp_path / "bright.png").max() == 156
    with pytest.warns(UserWarning, match=r"the one picture read in \S+ is 16-bit and nearly black"):
        io.read_image_folder(tmp_path, 4, progress=False, files=[tmp_path / "camera.png"])


def test_a_dim_16_bit_input_to_predict_is_named_once(tmp_path):
    from domains.images.domain import ImageDomain
    from pixeltransformer.signal import SignalSpec

    spec = SignalSpec(domain="images", dataset="digits", grid_shape=(4, 4), val_dims=1, val_range=(0, 1), num_bins=32)
    Image.fromarray(np.full((4, 4), 100, np.uint16)).save(tmp_path / "dark.png")  # 0 of 255 on the 16-bit scale
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        signal = ImageDomain().read_input(tmp_path / "dark.png", spec)  # [1, 4, 4]
    assert signal.shape == (1, 4, 4) and signal.max() == 0
    # what the pixels are, not the guess that 0..1 values were saved as 8-bit
    assert [str(w.message).split(": ", 1)[1][:24] for w in caught] == ["16-bit pixels reach only"]


def test_shared_samples():
    if not (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("shared sample data not present")
    x, y = datasets.read_mnist(SHARED / "mnist", "test")
    assert x.shape == (10000, 28, 28, 1) and abs(x.mean() - 33.79) < 0.01
    assert np.bincount(y).tolist()[:3] == [980, 1135, 1032]
    x, y = datasets.read_cifar10(SHARED / "cifar10")
    assert x.shape == (2000, 32, 32, 3) and y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    x, _ = io.read_image_folder(SHARED / "cats" / "faces64", 64, progress=False)
    assert x.shape == (47, 64, 64, 3)


def test_fetch_keeps_a_file_only_when_its_checksum_matches(tmp_path):
    # file:// exercises the download path offline: no network is touched.
    src = tmp_path / "src.bin"
    src.write_bytes(b"pixels")
    with pytest.raises(OSError, match="md5"):  # OSError: the CLI reports it in one line, as bad input
        datasets._fetch(src.as_uri(), tmp_path / "out" / "a.bin", "0" * 32)
    with pytest.raises(OSError, match="download of .*gone.bin failed"):  # an unreachable source
        datasets._fetch((tmp_path / "gone.bin").as_uri(), tmp_path / "out" / "b.bin", "0" * 32)
    assert not (tmp_path / "out").exists()  # neither the file, nor a partial one, nor the folder made for them
    datasets._fetch(src.as_uri(), tmp_path / "out" / "a.bin", "d399848208da8b80a306af0fd62bb03f")  # md5(b"pixels")
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"pixels"


def test_only_a_prediction_s_picture_is_read_for_its_colours(tmp_path, monkeypatch):
    """What a picture's pixels hold (grey or RGB) is read again from every pixel, for the line a prediction prints
    when it converts its input: a training folder's pictures, decoded by read_picture, skip that pass (on a 3 MP
    JPEG it added 10-42 % to the decoding, in two timing loops on one core)."""
    rgb = np.zeros((6, 4, 3), np.uint8)  # [H, W, 3]
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "red.png")
    got = io.read_picture_colours(tmp_path / "red.png", channels=3)
    assert got.pixels.shape == (6, 4, 3) and got.peak is None and got.colours == "RGB"

    def unread(img):
        raise AssertionError("read_picture read the colours")

    monkeypatch.setattr(io, "colours_of", unread)
    arr, peak = io.read_picture(tmp_path / "red.png", channels=3)
    assert arr.shape == (6, 4, 3) and (arr[..., 0] == 200).all() and peak is None
    written = write_folder(tmp_path / "folder", 3)
    files = sorted((tmp_path / "folder").rglob("*.*"))
    images, notes = io.decode_folder(tmp_path / "folder", files, 8, progress=False)  # [N, 8, 8, 3]
    assert images.shape == (len(written), 8, 8, 3) and notes["files"] == len(written)


def test_one_dim_16_bit_picture_of_a_folder_is_counted_in_the_singular(tmp_path):
    """A folder with one dim 16-bit picture was told "1 of the 3 pictures ... are 16-bit" with "(first: ...)", as if
    there were more; it is told as the upscaled pictures are: "is", and no "first". A folder of one picture says
    "the one picture ... is", in the 16-bit line and in the "smaller than" line."""
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "night.png")
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((4, 4), 99, np.uint8)).save(tmp_path / name)
    with pytest.warns(UserWarning, match=rf"^1 of the 3 pictures read in {tmp_path} is 16-bit and nearly black "
                                         r"\(night.png: 16-bit pixels reach only 200 of 65535"):
        io.read_image_folder(tmp_path, 4, progress=False)
    (tmp_path / "a.png").unlink()
    (tmp_path / "b.png").unlink()
    with pytest.warns(UserWarning, match=rf"^the one picture read in {tmp_path} is 16-bit and nearly black \(night"):
        io.read_image_folder(tmp_path, 4, progress=False)
    with pytest.warns(UserWarning, match=rf"^the one picture read in {tmp_path} is smaller than 8×8 \(night.png, "
                                         r"4×4\), so it was upscaled to interpolated pixels: give a smaller "
                                         r"--data.init_args.image_size$"):
        io.read_image_folder(tmp_path, 8, progress=False)  # the "smaller than" line alike


def test_a_folder_whose_every_picture_is_small_is_not_told_to_leave_them_out(tmp_path):
    """A folder whose every picture was smaller than the size it is read at was told to give a smaller
    --data.init_args.image_size "or leave them out", where leaving them out leaves nothing to train on: as a folder
    of videos does, it says to leave them out only where other pictures fit the size, and names the first of them as
    a folder of videos does, "(first: a.png, 4×3)" (it was "(first: a.png: 4×3)")."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((3, 4), 99, np.uint8)).save(tmp_path / name)
    with pytest.warns(UserWarning) as caught:
        io.read_image_folder(tmp_path, 8, progress=False)
    assert [str(w.message) for w in caught] == [
        f"2 of the 2 pictures read in {tmp_path} are smaller than 8×8 (first: a.png, 4×3), so they were upscaled to "
        "interpolated pixels: give a smaller --data.init_args.image_size"]
    Image.fromarray(np.full((16, 16), 99, np.uint8)).save(tmp_path / "c.png")
    with pytest.warns(UserWarning) as caught:
        io.read_image_folder(tmp_path, 8, progress=False)
    assert [str(w.message) for w in caught] == [
        f"2 of the 3 pictures read in {tmp_path} are smaller than 8×8 (first: a.png, 4×3), so they were upscaled to "
        "interpolated pixels: give a smaller --data.init_args.image_size, or leave them out"]


def test_context_rows_outside_their_ranges_are_told_the_units_of_an_image_row():
    """`predict --context` rows of 0-255 levels or pixel indices (a picture's natural units) were refused with "values
    must lie in [0, 1], got 200 in row 1" alone, the units of a row written only in video's messages. The message now
    says where a pixel index lies on the model's grid and that a value is a 0-255 level divided by 255."""
    import torch

    from domains.images.domain import ImageDomain
    from pixeltransformer.signal import SignalSpec

    grey = SignalSpec(domain="images", dataset="digits", grid_shape=(28, 28), val_dims=1, val_range=(0, 1), num_bins=8)
    units = ("a row is [y, x, value]: on the model's 28x28 grid, grid point i of the 28 at y, x = 2i/27 - 1, and "
             "value in [0, 1] (a 0-255 level divided by 255)")
    with pytest.raises(ValueError, match=re.escape(f"--context: values must lie in [0, 1], got 200 in row 1; {units}")):
        ImageDomain().context_from_rows(torch.tensor([[0.5, 0.5, 200.0]]), grey, "--context")  # [K, 3]
    with pytest.raises(ValueError, match=re.escape(f"rows.json: positions must lie in [-1, 1], got 14 in row 2; {units}")):
        ImageDomain().context_from_rows(torch.tensor([[0.0, 0, 0.5], [14, 3, 0.5]]), grey, "rows.json")  # [K, 3]
    rgb = dataclasses.replace(grey, val_dims=3)
    with pytest.raises(ValueError, match=re.escape("and value_1, value_2, value_3 in [0, 1] (a 0-255 level")):
        ImageDomain().context_from_rows(torch.tensor([[0.0, 0, 0.5, 255, 0.5]]), rgb, "--context")  # [K, 5]


def test_a_dataset_file_given_as_a_picture_names_how_to_give_one_picture(tmp_path):
    """`make sample INPUT=cifar10.npz` (or MNIST's .gz IDX file): a dataset, not a picture; the line says to save
    the one picture to complete."""
    np.savez(tmp_path / "c.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    (tmp_path / "c.npz").rename(tmp_path / "CIFAR.NPZ")  # the suffix in capitals: a dataset still
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((2, 4, 4), np.uint8))))
    from domains.images.domain import ImageDomain
    from pixeltransformer.signal import SignalSpec

    for name in ("CIFAR.NPZ", "t10k-images-idx3-ubyte.gz"):
        with pytest.raises(ValueError, match=r"not a readable image .*; a dataset file: a prediction reads one "
                                             r"picture; save the one wanted as \.png$"):
            io.read_picture_colours(tmp_path / name)
    spec = SignalSpec(domain="images", dataset="digits", grid_shape=(4, 4), val_dims=1, val_range=(0, 1), num_bins=8)
    with pytest.raises(ValueError) as e:  # --mask of a dataset: the line names no option of the input
        ImageDomain().read_mask(tmp_path / "CIFAR.NPZ", spec)
    assert "a dataset file" in str(e.value) and "--input" not in str(e.value)
    with pytest.raises(ValueError) as e:  # a damaged picture is not named a dataset
        (tmp_path / "bad.png").write_text("not a picture\n")
        io.read_picture_colours(tmp_path / "bad.png")
    assert "a dataset file" not in str(e.value)


def write_pictures(folder, n: int, w: int, h: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)  # [h, w, 3]
        Image.fromarray(pixels).save(folder / f"{i}.png")


def test_a_root_over_sub_folders_of_very_different_picture_sizes_names_them(tmp_path):
    """A cats root one level too high read faces64/'s crops and cat_dataset_originals/'s whole photos as one dataset
    without a word. Reading sub-folders stays; one line names them, and the root to pass for one of them."""
    write_pictures(tmp_path / "faces", 3, 16, 16)
    write_pictures(tmp_path / "photos", 2, 120, 90)
    with pytest.warns(UserWarning) as record:
        x, _ = io.read_image_folder(tmp_path, 16, progress=False)
    assert x.shape == (5, 16, 16, 3)  # every picture is still read
    assert [str(w.message) for w in record] == [
        f"{tmp_path}: its pictures come from sub-folders of very different sizes, read as one dataset: faces/ (3 "
        f"pictures, median short side 16 px) and photos/ (2, 90 px); if only one is the dataset, pass it as root "
        f"(--data.init_args.root={tmp_path / 'faces'})"]
    cache = tmp_path.parent / "cache"
    for _ in range(2):  # decoded, then read from the cache: told both times
        with pytest.warns(UserWarning, match="sub-folders of very different sizes"):
            ImageDataModule(dataset="folder", root=str(tmp_path), image_size=16, cache_dir=str(cache))._load_pools()


@pytest.mark.parametrize("folders, told", [
    ({"faces64/a": (2, 16, 16), "faces64/b": (2, 16, 16), "originals": (1, 120, 90)},
     "faces64/ (4 pictures, median short side 16 px) and originals/ (1, 90 px); if only one is the dataset, pass it "
     "as root (--data.init_args.root={root}/faces64)"),
    ({"": (3, 16, 16), "photos": (1, 120, 90)},
     "{root}'s own pictures (3 pictures, median short side 16 px) and photos/ (1, 90 px); if only one is the "
     "dataset, move photos/ out of {root}")])
def test_sub_folders_of_very_different_sizes_are_named_by_the_folder_directly_under_the_root(tmp_path, folders,
                                                                                            told):
    """faces64/a and faces64/b (16 px) beside originals/ (90 px) were grouped by each picture's own folder and named
    faces64/a/. Pictures directly in the root were named ./ and, being the most, the remedy named the other
    sub-folder as root; no root reads the root's own pictures alone, so moving the sub-folder out is suggested."""
    for folder, (n, w, h) in folders.items():
        write_pictures(tmp_path / folder, n, w, h)
    with pytest.warns(UserWarning) as record:
        io.read_image_folder(tmp_path, 16, progress=False)
    assert [str(w.message) for w in record] == [
        f"{tmp_path}: its pictures come from sub-folders of very different sizes, read as one dataset: "
        f"{told.format(root=tmp_path)}"]


@pytest.mark.parametrize("faces, photos, told", [
    ("{split}/faces", "{split}/photos", "faces/ (8 pictures, median short side 16 px) and photos/ (5, 90 px); if "
     "only one is the dataset, move photos/ out of each of its train/, val/, test/ folders"),
    ("{split}/faces", "train/photos", "faces/ (8 pictures, median short side 16 px) and photos/ (3, 90 px); if only "
     "one is the dataset, move photos/ out of its train/ folder"),
    ("faces/{split}", "originals/{split}", "faces/ (8 pictures, median short side 16 px) and originals/ (5, 90 px); "
     "if only one is the dataset, pass it as root (--data.init_args.root={faces})")])
def test_train_val_test_folders_of_mixed_sub_folders_are_told_once_keeping_the_layout(tmp_path, faces, photos, told):
    """Checked once a pool, the train/val/test layout told it three times, each suggesting root=<root>/train/faces,
    which drops the layout: one line for the splits together, whose remedy keeps them. It names only the split
    folders that hold the folder to move out; folders above the split folders (faces/train/, originals/train/) were
    all read as the split folders' own pictures and told nothing: the root to pass keeps its split folders, quoted
    as one shell word."""
    root = tmp_path / "my cats"
    for split, n in (("train", 3), ("val", 1), ("test", 1)):
        write_pictures(root / faces.format(split=split), n + 1, 16, 16)
        if photos.format(split=split) != photos or split == "train":
            write_pictures(root / photos.format(split=split), n, 120, 90)
    with pytest.warns(UserWarning) as record:
        ImageDataModule(dataset="folder", root=str(root), image_size=16,
                        cache_dir=str(tmp_path / "cache"))._load_pools()
    assert [str(w.message) for w in record if "very different sizes" in str(w.message)] == [
        f"{root}: its pictures come from sub-folders of very different sizes, read as one dataset: "
        f"{told.format(faces=shlex.quote(str(root / 'faces')))}"]


def test_sub_folders_of_alike_picture_sizes_are_read_without_a_word(tmp_path):
    write_pictures(tmp_path / "cats", 3, 40, 30)
    write_pictures(tmp_path / "dogs", 2, 64, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, _ = io.read_image_folder(tmp_path, 16, progress=False)
    assert x.shape == (5, 16, 16, 3)


def test_an_mnist_file_as_root_names_its_folder_to_pass(tmp_path):
    write_mnist(tmp_path / "mnist", "test", 4)
    with pytest.raises(ValueError, match=rf"t10k-images-idx3-ubyte.gz is a file: .*pass "
                                         rf"--data.init_args.root={re.escape(str(tmp_path / 'mnist'))}$"):
        datasets.read_mnist(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz")
    (tmp_path / "other.bin").write_bytes(b"x")  # not beside MNIST's files: no folder to name
    with pytest.raises(ValueError, match=r"other.bin is a file: the MNIST root is the folder that holds "
                                         r"t10k-images-idx3-ubyte.gz and the others$"):
        datasets.read_mnist(tmp_path / "other.bin")


def test_a_cifar_root_that_is_a_file_says_so_rather_than_suggest_a_download_into_it(tmp_path):
    """A CIFAR-10 root that is a file, neither an .npz nor an archive (MNIST's .gz, one batch of the official ones),
    says so, naming the folder to pass for a batch; download=true fetches nothing into it."""
    write_mnist(tmp_path / "mnist", "test", 4)
    gz = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(ValueError, match=rf"^{re.escape(str(gz))} is a file: the CIFAR-10 root is the folder of its "
                                         r"batches \(cifar-10-batches-py/ or the folder that holds it\), or one "
                                         r"\.npz of 'images' and 'labels'$"):
        datasets.read_cifar10(gz, download=True)
    batches = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_batches(batches, n_per_batch=2)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(batches / 'data_batch_1'))} is a file: pass "
                                         rf"--data.init_args.root={re.escape(str(batches))}$"):
        datasets.cifar10_source(batches / "data_batch_1")


def test_an_mnist_or_cifar_root_at_a_folder_of_pictures_names_the_folder_dataset_rather_than_a_download(
        tmp_path, monkeypatch):
    """An MNIST or CIFAR-10 root at a folder of pictures (one's own digits as PNG) says what it holds and names the
    dataset that reads it, rather than suggest a download into it; download=true fetches nothing into it."""
    monkeypatch.setattr(datasets, "_fetch", lambda *args: pytest.fail("a download was started"))
    write_pictures(tmp_path / "digits", 3, 28, 28)
    names = sorted(p.name for p in (tmp_path / "digits").iterdir())
    holds = (rf"it holds pictures \({re.escape(names[0])}, \.\.\.\), not {{}}'s files; read them with "
             r"--data.init_args.dataset=folder, or pass the folder that holds {}, or a folder of its own with "
             r"--data.init_args.download=true$")
    with pytest.raises(ValueError, match=r"^MNIST test images not found in .*digits: " + holds.format(*["MNIST"] * 2)):
        datasets.read_mnist(tmp_path / "digits", download=True)
    with pytest.raises(ValueError, match=r"^CIFAR-10 not found in .*digits: " + holds.format(*["CIFAR-10"] * 2)):
        datasets.read_cifar10(tmp_path / "digits", download=True)


def test_an_mnist_or_cifar_root_at_pictures_in_split_folders_is_not_downloaded_into(tmp_path, monkeypatch):
    """A folder whose pictures are in sub-folders (train/, val/, test/) was not noticed: download=true fetched MNIST
    or CIFAR-10 into the folder of pictures. The look stops at the first pictures it finds."""
    monkeypatch.setattr(datasets, "_fetch", lambda *args: pytest.fail("a download was started"))
    for split in ("train", "val", "test"):
        write_pictures(tmp_path / "cats" / split, 2, 8, 8)
    holds = (r"it holds pictures \(test/0\.png, \.\.\.\), not {}'s files; read them with "
             r"--data.init_args.dataset=folder")
    with pytest.raises(ValueError, match=r"^MNIST test images not found in .*cats: " + holds.format("MNIST")):
        datasets.read_mnist(tmp_path / "cats", download=True)
    with pytest.raises(ValueError, match=r"^CIFAR-10 not found in .*cats: " + holds.format("CIFAR-10")):
        datasets.read_cifar10(tmp_path / "cats", download=True)
    assert [p.name for p in io.pictures_in(tmp_path / "cats")] == ["0.png", "1.png"]  # two found: the walk stops


def test_a_download_into_a_shared_data_root_with_pictures_in_another_folder_goes_ahead(tmp_path, monkeypatch):
    """A shared data root (MNIST and CIFAR-10 downloaded beside a folder of cat pictures, data/cats/) is no folder of
    pictures: a download into it goes ahead; only pictures in the root itself or its split folders stop it."""
    class Fetched(Exception):
        pass

    def fetch(*args):
        raise Fetched

    monkeypatch.setattr(datasets, "_fetch", fetch)
    write_pictures(tmp_path / "cats", 2, 8, 8)
    with pytest.raises(Fetched):
        datasets.read_mnist(tmp_path, download=True)
    with pytest.raises(Fetched):
        datasets.read_cifar10(tmp_path, download=True)
    assert io.pictures_in(tmp_path) == []


def test_an_mnist_root_at_an_npz_of_other_images_does_not_call_it_cifar10(tmp_path):
    """An .npz of images that are not CIFAR-10's 32x32 RGB (the cat faces' 64x64) is named as an .npz of images, not
    as CIFAR-10's data; a 32x32 RGB one is CIFAR-10's."""
    np.savez(tmp_path / "faces.npz", images=np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"^MNIST test images not found in .*: it holds an \.npz of images "
                                         r"\(faces\.npz\), not MNIST's IDX files; "):
        datasets.read_mnist(tmp_path)
    np.savez(tmp_path / "faces.npz", images=np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"it holds CIFAR-10's data \(faces\.npz\), not MNIST's IDX files; "):
        datasets.read_mnist(tmp_path)


def test_a_cifar_root_holding_mnist_says_so_rather_than_suggest_a_download_into_it(tmp_path):
    write_mnist(tmp_path / "mnist", "test", 4)
    with pytest.raises(ValueError) as e:  # not a FileNotFoundError: download=true fetches nothing into it
        datasets.read_cifar10(tmp_path / "mnist", download=True)
    assert "holds MNIST's files (t10k-images-idx3-ubyte.gz), not CIFAR-10's" in str(e.value)
    assert str(e.value).endswith("; pass the folder that holds CIFAR-10, or a folder of its own with "
                                 "--data.init_args.download=true")  # not a download into mnist/
    write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py", n_per_batch=2)  # beside it: named
    beside = re.escape(str(tmp_path / "cifar10"))
    with pytest.raises(ValueError, match=rf"not CIFAR-10's; {beside} holds it: pass "
                                         rf"--data.init_args.root={beside}$"):
        datasets.read_cifar10(tmp_path / "mnist")


@pytest.mark.parametrize("folders", [None, {"faces": 5, "photos": [2, 90]}, {"faces": [0, 16], "photos": [2, 90]},
                                     {"faces": [-1, 16], "photos": [2, 90]}, {"faces": [3, 0], "photos": [2, 90]}])
def test_a_cache_entry_written_before_sub_folder_sizes_were_noted_is_decoded_again(tmp_path, folders):
    """An entry whose notes lack the sub-folders' picture sizes (written by an earlier version) is decoded again,
    so the line about sub-folders of very different sizes is not left out for a folder cached before. So is one
    whose sizes are not [pictures, median short side] each: a hand-edited {"faces": 5} stopped a start, as did no
    pictures or fewer ([0, 16], [-1, 16]) as the sizes were grouped; a side of 0 px was told as such."""
    import json

    from domains.images.folder_cache import read_folder

    folder, cache = tmp_path / "cats", tmp_path / "cache"
    write_pictures(folder / "faces", 3, 16, 16)
    write_pictures(folder / "photos", 2, 120, 90)
    files = io.list_images(folder)
    with pytest.warns(UserWarning, match="sub-folders of very different sizes"):
        read_folder(folder, files, 16, 3, cache, progress=False)
    (notes,) = cache.glob("cats_16_3_*.json")
    edited = {k: v for k, v in json.loads(notes.read_text()).items() if k != "folders"}
    notes.write_text(json.dumps(edited if folders is None else {**edited, "folders": folders}))
    with pytest.warns(UserWarning, match="sub-folders of very different sizes"):
        read_folder(folder, files, 16, 3, cache, progress=False)
    assert json.loads(notes.read_text())["folders"] == {"faces": [3, 16], "photos": [2, 90]}  # written whole again
