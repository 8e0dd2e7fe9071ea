"""Video domain: file IO, clip arithmetic, synthetic clips, DataModule, pictures and metrics."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from types import SimpleNamespace

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from domains.video.data import ClipDataset, VideoDataModule, load_user_video, read_mask_video
from domains.video.domain import VideoDomain, describe_video_row
from domains.video.clips import cut_clips, num_clips, read_video_folder, read_video_npz, source_videos
from domains.video.io import VideoDecodeError, read_video_file, resize_and_crop, write_video
from domains.video.synthetic import moving_digits
from domains.video.visualize import (
    context_video,
    figure_video_samples,
    frame_labels,
    frame_strip,
    on_grid,
    write_side_by_side,
)
from domains.video.metrics import psnr_per_frame, ssim_per_frame
from domains.video.strips import read_strip
from pixeltransformer import cache as cache_py
from pixeltransformer.sets import grid_positions

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "videos"


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """A folder's decoded video files go to the test's own cache, not the user's (~/.cache/pixeltransformer)."""
    monkeypatch.setenv("PIXELTRANSFORMER_CACHE", str(tmp_path / "cache"))


def test_the_tests_here_keep_decoded_videos_out_of_the_user_s_cache(tmp_path):
    """The DataModules these tests make without a cache_dir cached the files they decoded in the user's cache, where a
    later test run found them: a change to decoding left the tests reading what the code before it decoded."""
    assert VideoDataModule(dataset="folder", root=str(tmp_path)).cache_dir == tmp_path / "cache" / "video" / "files"


def smooth_frames(f: int, h: int = 24, w: int = 32) -> np.ndarray:
    """Smooth moving gradients [F, H, W, 3] uint8: easy for lossy codecs, every frame distinct."""
    t, y, x = np.meshgrid(np.arange(f), np.arange(h), np.arange(w), indexing="ij")
    r = 128 + 100 * np.sin(x / w * 2 * np.pi + t * 0.4)
    g = 128 + 100 * np.cos(y / h * 2 * np.pi - t * 0.3)
    b = np.full_like(r, 90.0)
    return np.stack([r, g, b], -1).round().astype(np.uint8)


def write_mp4(path: Path, frames: np.ndarray) -> Path:
    iio.imwrite(path, frames, plugin="FFMPEG", fps=10, codec="libx264", macro_block_size=1,
                output_params=["-crf", "10"])
    return path


# ---- reading ---------------------------------------------------------------------------------------
def test_synthetic_clips_given_a_root_name_no_data_place(tmp_path):
    """Synthetic clips read no root given to them: the [run] line and the W&B config (data_places) name none."""
    assert VideoDataModule(dataset="synthetic", root=str(tmp_path / "nonexistent")).data_places("fit") == {}
    assert VideoDataModule(dataset="folder", root=str(tmp_path)).data_places("fit") == {"root": tmp_path}


def test_read_mp4_written_by_imageio(tmp_path):
    frames = smooth_frames(12)
    got = read_video_file(write_mp4(tmp_path / "a.mp4", frames))
    assert got.shape == (12, 24, 32, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - frames).mean() < 6
    small = read_video_file(tmp_path / "a.mp4", size=12)  # resized while decoding: cover 12x12, centre crop
    assert small.shape == (12, 12, 12, 3)


def _children() -> list[int]:
    """This process's child processes (Linux: /proc/self/task/*/children; a thread that ends while they are read is
    left out)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended after the listing
            continue
    return [int(pid) for pid in pids]


def test_asking_the_size_of_a_broken_video_leaves_no_pipe_to_warn_of(tmp_path):
    """A damaged .mp4 (a --mask, say, whose size is asked before it is read) left the pipes of imageio-ffmpeg's
    ended reader to the garbage collector outside the reader's call: a ResourceWarning for each."""
    import gc

    from domains.video.strips import frame_size

    (tmp_path / "bad.mp4").write_text("not a video")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert frame_size(tmp_path / "bad.mp4") is None
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_an_npz_of_channels_first_clips_says_no_frame_size(tmp_path):
    """An .npz's videos [N, T, 3, H, W] (channels before rows, which read_video_npz refuses naming the shape) said
    its frames were 3 tall; only videos [N, T, H, W, 3] says a frame size."""
    from domains.video.strips import frame_size

    np.savez(tmp_path / "first.npz", videos=np.zeros((1, 4, 3, 8, 10), np.uint8))  # [N, T, 3, H, W]
    np.savez(tmp_path / "last.npz", videos=np.zeros((1, 4, 8, 10, 3), np.uint8))  # [N, T, H, W, 3]
    assert frame_size(tmp_path / "first.npz") is None
    assert frame_size(tmp_path / "last.npz") == (8, 10)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux's /proc")
def test_reading_a_video_leaves_no_pipe_open_nor_ffmpeg_running(tmp_path):
    """imageio-ffmpeg leaves the pipes of a file read to its end to the garbage collector, which warned (a
    ResourceWarning, shown by pytest and python -X dev) for every video a folder read; a read stopped early
    (max_frames) must still stop ffmpeg."""
    import gc
    import warnings

    path = write_mp4(tmp_path / "a.mp4", smooth_frames(12))
    before = set(_children())  # other tests' processes (a DataLoader's workers, say) may still be running
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole = read_video_file(path, size=12)
        first = read_video_file(path, max_frames=3)
        gc.collect()
        started = set(_children()) - before
    assert whole.shape[0] == 12 and first.shape[0] == 3
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert started == set()


def test_a_video_of_non_square_pixels_is_read_at_the_aspect_a_player_shows(tmp_path):
    """A video may store pixels wider than tall (a sample aspect ratio: anamorphic DV and DVD footage, the standard
    176x144 test sequences), which a player widens. Its frames were read at the stored aspect, squeezed: a 2:1 one
    read at 32x32 kept the whole stored frame, its red and blue edges, where a player shows its green middle."""
    from domains.video.strips import frame_size

    bands = np.zeros((4, 32, 32, 3), dtype=np.uint8)  # [F, H, W, 3]: red, green, blue bands of columns
    bands[:, :, :8, 0] = bands[:, :, 8:24, 1] = bands[:, :, 24:, 2] = 255
    out = tmp_path / "wide_pixels.mp4"
    iio.imwrite(out, bands, plugin="FFMPEG", fps=10, codec="libx264", macro_block_size=1,
                output_params=["-crf", "10", "-vf", "setsar=2"])  # shown 64x32
    assert frame_size(out) == (32, 64)
    assert read_video_file(out).shape == (4, 32, 64, 3)  # square pixels, as a player shows them
    for size in [(32, 32), (16, 16)]:
        got = read_video_file(out, size=size).astype(int)  # [4, h, w, 3]: the centre of the 64x32 picture
        assert got[..., [0, 2]].max() < 100 and got[..., 1].mean() > 230  # the squeezed frames: red and blue 255


def test_a_phone_video_stored_sideways_keeps_its_aspect_when_read_at_a_size(tmp_path):
    """A phone stores a portrait video as landscape frames with a display rotation, which ffmpeg applies. Read at a
    size, its frames were scaled to the stored frame's aspect after ffmpeg had turned them upright: squeezed."""
    import subprocess

    import imageio_ffmpeg

    stored = write_mp4(tmp_path / "stored.mp4", smooth_frames(6, 24, 64))  # landscape, 64 wide
    ffmpeg, out = imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "phone.mp4"
    turned = subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-display_rotation", "90", "-i", str(stored), "-c",
                             "copy", str(out)], capture_output=True)
    if turned.returncode:  # an ffmpeg before 6.1 takes the rotation as a tag
        subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(stored), "-c", "copy", "-metadata:s:v:0",
                        "rotate=90", str(out)], check=True)
    upright = read_video_file(out)  # [6, 64, 24, 3]
    assert upright.shape == (6, 64, 24, 3)  # a portrait video, as a player shows it
    for size in [(16, 16), (12, 24)]:
        got = read_video_file(out, size=size).astype(int)  # resized while decoding (ffmpeg's area scaler)
        # the two resamplers differ by about 5 levels on these frames; the squeezed frames differed by 38
        assert np.abs(got - resize_and_crop(upright, size)).mean() < 8


def test_read_gif_greyscale_becomes_rgb(tmp_path):
    grey = np.stack([np.full((10, 14), 20 * i, np.uint8) for i in range(5)])  # [5, 10, 14]
    iio.imwrite(tmp_path / "g.gif", grey, plugin="pillow", duration=100, loop=0)
    got = read_video_file(tmp_path / "g.gif")
    assert got.shape == (5, 10, 14, 3)
    assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()
    assert np.abs(got[:, 0, 0, 0].astype(int) - np.arange(5) * 20).max() <= 2


def test_transparent_gif_and_png_pixels_read_white_as_pictures_do(tmp_path):
    """A transparent GIF pixel hides its palette entry's colour (here green), which was read as the pixel's colour; a
    PNG's alpha was dropped. Both are composited onto white, as the image domain reads pictures."""
    frames = []
    for t in range(3):  # a red pixel moving along the top row of a transparent 8x8 picture
        frame = Image.new("P", (8, 8), 0)
        frame.putpalette([0, 255, 0] + [255, 0, 0] * 255)  # entry 0 (green) is the transparent one
        frame.putpixel((t, 0), 1)
        frames.append(frame)
    frames[0].save(tmp_path / "t.gif", save_all=True, append_images=frames[1:], transparency=0, duration=100,
                   disposal=2, loop=0)
    got = read_video_file(tmp_path / "t.gif")  # [3, 8, 8, 3]
    assert got.shape == (3, 8, 8, 3)
    assert [tuple(got[t, 0, t]) for t in range(3)] == [(255, 0, 0)] * 3
    assert (got[:, 4:] == 255).all()  # transparent: white, not the hidden green
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 255  # green, fully transparent ...
    rgba[:4, :, 3] = 255  # ... except the top half; and half transparent black in the corner
    rgba[7, 7] = (0, 0, 0, 128)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    got = read_video_file(tmp_path / "t.png")[0]  # [8, 8, 3]
    assert (got[:4] == (0, 255, 0)).all() and (got[4:7] == 255).all() and tuple(got[7, 7]) == (127, 127, 127)


def test_read_npz_and_its_errors(tmp_path):
    vids = np.random.default_rng(0).integers(0, 256, (3, 5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "v.npz", videos=vids)
    assert np.array_equal(read_video_npz(tmp_path / "v.npz"), vids)
    np.savez(tmp_path / "wrong_key.npz", clips=vids)
    with pytest.raises(ValueError, match="no array 'videos'"):
        read_video_npz(tmp_path / "wrong_key.npz")
    np.savez(tmp_path / "float.npz", videos=vids.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        read_video_npz(tmp_path / "float.npz")
    with pytest.raises(FileNotFoundError):
        read_video_npz(tmp_path / "missing.npz")
    # a folder given as the .npz, and an .npz given as a folder of videos, say which is which
    with pytest.raises(ValueError, match="is a folder: this dataset reads one .npz of clips"):
        read_video_npz(tmp_path)
    with pytest.raises(ValueError, match=r"v.npz is an .npz of clips, not a video or a folder of videos"):
        read_video_folder(tmp_path / "v.npz", num_frames=5, size=8)


def test_an_npz_of_no_clips_or_of_frames_of_no_pixels_is_refused_in_one_line_wherever_it_is_read(tmp_path):
    """An .npz of 0 clips ended a prediction in an IndexError, an input_clip given for it named its clips "0 to -1",
    and training on it warned of "the 0 videos" before refusing them as too short; one of 0x0 frames ended a
    prediction and the spec in a ZeroDivisionError. The reader every caller shares refuses both in one line naming
    the file and the array, before a prediction, a spec or a warning."""
    cases = {"none.npz": ((0, 4, 8, 8, 3), "videos [0, 4, 8, 8, 3] holds no clips: give an .npz of one clip or more, "
                                           "videos [N, T, H, W, 3] with N >= 1"),
             "flat.npz": ((2, 4, 0, 0, 3), "videos [2, 4, 0, 0, 3] holds frames of 0×0 pixels: give clips of frames "
                                           "of 1×1 pixels or more")}
    for name, (shape, said) in cases.items():
        path = tmp_path / name
        np.savez(path, videos=np.zeros(shape, np.uint8))
        line = f"^{re.escape(f'{path}: {said}')}$"
        with pytest.raises(ValueError, match=line):
            read_video_npz(path)
        for clip in (None, 0):  # predict --input, with input_clip or without
            with pytest.raises(ValueError, match=line):
                load_user_video(path, num_frames=4, size=8, clip=clip)
        dm = VideoDataModule(dataset="npz", root=str(path), num_frames=4, size=8, splits=(-1, 1, 1), num_bins=8)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # refused before a warning of its clips: the spec's k-means bins read them
            with pytest.raises(ValueError, match=line):
                dm.spec


def test_undecodable_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(VideoDecodeError, match="broken.mp4") as info:
        read_video_file(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video_file(tmp_path / "nope.mp4")


def test_a_file_cut_short_or_of_sound_alone_says_so(tmp_path):
    """Each of these read "Could not load meta information" (imageio's words), which named no cause."""
    whole = write_mp4(tmp_path / "whole.mp4", smooth_frames(30)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])  # a copy cut short: an mp4's index comes last
    with pytest.raises(VideoDecodeError, match=r"cut.mp4: it is damaged or cut short \(ffmpeg: moov atom not found\)$"):
        read_video_file(tmp_path / "cut.mp4", size=16)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.5",
                    "-c:a", "aac", str(tmp_path / "sound.mp4")], check=True)
    with pytest.raises(VideoDecodeError, match=r"sound.mp4: it holds no video stream, only audio$"):
        read_video_file(tmp_path / "sound.mp4", size=16)


def test_a_video_of_a_codec_ffmpeg_cannot_decode_names_the_codec(tmp_path):
    """An mp4 whose video codec the ffmpeg here has no decoder for read "Could not load meta information", which
    named neither the codec nor what to do."""
    whole = write_mp4(tmp_path / "whole.mp4", smooth_frames(20)).read_bytes()
    (tmp_path / "odd.mp4").write_bytes(whole.replace(b"avc1", b"zzzz"))  # the codec's tag, which no decoder knows
    with pytest.raises(VideoDecodeError, match=r"odd.mp4: ffmpeg \S+ has no decoder for its video codec \(zzzz\): "
                                               r"re-encode it to H.264 \(libx264\) with a tool that reads it$"):
        read_video_file(tmp_path / "odd.mp4", size=16)


def test_a_video_whose_stream_names_no_codec_is_damaged(tmp_path):
    """An mp4 whose codec tag is zeroed (a damaged file: ffmpeg's "Video: none, none") was told "has no decoder for
    its video codec (none): re-encode it", which no tool that reads it could: it is damage, as another copy may
    mend."""
    whole = write_mp4(tmp_path / "whole.mp4", smooth_frames(20)).read_bytes()
    (tmp_path / "blank.mp4").write_bytes(whole.replace(b"avc1", b"\0" * 4))  # the codec's tag zeroed
    with pytest.raises(VideoDecodeError, match=r"blank.mp4: its video stream names no codec: it is damaged$") as info:
        read_video_file(tmp_path / "blank.mp4", size=16)
    assert info.value.damaged


def test_an_empty_video_file_says_it_is_empty(tmp_path):
    """A 0-byte mp4 (a download or copy that never began) read "it is damaged or cut short (ffmpeg: moov atom not
    found)", and a 0-byte GIF pillow's "cannot identify image file": neither said that the file holds nothing. In a
    DATA=folder folder such a file was skipped with "skipping cannot decode video <file>: ...", the error's words
    glued to "skipping"; the line now says which file was skipped and why."""
    for name in ("empty.mp4", "empty.gif", "empty.webm"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(VideoDecodeError, match=rf"^cannot decode video \S+{name}: the file is empty$"):
            read_video_file(tmp_path / name, size=16)
    folder = tmp_path / "folder"
    folder.mkdir()
    write_video(smooth_frames(8), folder / "a.mp4", upscale_to=None)
    (folder / "empty.mp4").write_bytes(b"")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = read_video_folder(folder, 8, 16, progress=False)
    assert [str(w.message) for w in record] == [f"skipping {folder / 'empty.mp4'}, which cannot be decoded: the file "
                                                "is empty"]
    assert out.n_skipped_corrupt == 1 and [p.name for p in out.files] == ["a.mp4"]


def test_folder_skips_and_counts_bad_and_short_files(tmp_path):
    (tmp_path / "sub").mkdir()
    write_mp4(tmp_path / "b_good.mp4", smooth_frames(20))  # 20 frames: clips of 8 with stride 4 -> 4
    iio.imwrite(tmp_path / "sub" / "c_good.gif", smooth_frames(9), plugin="pillow", duration=100, loop=0)  # 1 clip
    iio.imwrite(tmp_path / "a_short.gif", smooth_frames(5), plugin="pillow", duration=100, loop=0)
    (tmp_path / "d_broken.avi").write_bytes(b"\x00garbage" * 64)
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.warns(UserWarning) as record:
        out = read_video_folder(tmp_path, num_frames=8, size=16, stride=4, progress=False)
    assert out.n_files == 4 and out.n_skipped_short == 1 and out.n_skipped_corrupt == 1
    assert out.clips.shape == (5, 8, 16, 16, 3)
    assert [p.name for p in out.files] == ["b_good.mp4", "c_good.gif"]  # sorted over the whole tree
    assert out.video_index.tolist() == [0, 0, 0, 0, 1]
    messages = " ".join(str(r.message) for r in record)
    assert "a_short.gif" in messages and "d_broken.avi" in messages


def test_a_folder_reads_animated_webp_and_png_files_as_videos(tmp_path):
    """An animated WebP in a folder of videos was left out without a word, and an animated PNG was skipped as "a 32x24
    picture is not a strip of square frames", though `make sample` reads both. Both are now videos of the folder, an
    APNG a video of its own (not one with the strips of its folder); a still PNG is a strip as before."""
    (tmp_path / "v").mkdir()
    for name in ("a.webp", "v/b.png", "v/c.png"):
        frames = [Image.fromarray(f) for f in smooth_frames(9)]  # [24, 32, 3] each
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=40, loop=0)
    iio.imwrite(tmp_path / "v" / "strip.png", smooth_frames(8, 16, 16).reshape(128, 16, 3))  # a strip of 8 frames
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped
        out = read_video_folder(tmp_path, num_frames=8, size=16, progress=False)
    assert [p.name for p in out.files] == ["a.webp", "b.png", "c.png", "strip.png"]
    assert out.clips.shape == (4, 8, 16, 16, 3) and out.video_index.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(out.clips[0], read_video_file(tmp_path / "a.webp", size=16)[:8])
    assert source_videos(out.files, tmp_path).tolist() == [0, 1, 2, 3]  # the APNGs are videos of their own


def test_a_png_is_asked_whether_it_is_a_strip_once_until_it_changes(tmp_path, monkeypatch, settled):
    """A start asked each PNG of a folder whether it is a strip or an animated PNG several times (source_videos,
    read_video_folder, frame_size, load_user_video), opening it each time: it is opened once, and again once it is
    rewritten."""
    from domains.video.strips import is_strip_file

    opened = []
    real = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real(fp, *a, **k))
    path = tmp_path / "v.png"
    iio.imwrite(path, smooth_frames(8, 16, 16).reshape(128, 16, 3))  # a strip of 8 frames
    assert [is_strip_file(path) for _ in range(3)] == [True] * 3 and len(opened) == 1
    frames = [Image.fromarray(f) for f in smooth_frames(9)]  # [24, 32, 3] each
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)  # now an APNG
    opened.clear()
    assert [is_strip_file(path) for _ in range(3)] == [False] * 3 and len(opened) == 1
    assert is_strip_file(tmp_path / "gone.png") and is_strip_file(tmp_path / "s.jpg")  # as before: strip_length says


def test_a_folder_s_video_files_are_decoded_once_and_then_loaded_from_the_cache(tmp_path, monkeypatch):
    """Every start, DDP rank and evaluation ran ffmpeg on every file of a folder again (0.3-0.4 s a file for the
    sample videos here). A file's frames are decoded once and cached, keyed by its bytes and the decoding asked: a
    second DataModule runs no decoder and gets the same clips, a broken file is still skipped with its warning every
    time, and a rewritten file, another clip size, or another decoder, is decoded anew."""
    from domains.video import file_cache

    folder, cache = tmp_path / "videos", tmp_path / "cache"
    folder.mkdir()
    write_mp4(folder / "a.mp4", smooth_frames(20))
    iio.imwrite(folder / "b.gif", smooth_frames(9), plugin="pillow", duration=100, loop=0)
    (folder / "c_broken.avi").write_bytes(b"\x00garbage" * 64)
    decoded = []
    read = file_cache.read_video_file
    monkeypatch.setattr(file_cache, "read_video_file",
                        lambda path, **k: decoded.append(Path(path).name) or read(path, **k))

    def clips(size: int = 16) -> torch.Tensor:
        dm = VideoDataModule(dataset="folder", root=str(folder), num_frames=8, size=size, stride=4, splits=(-1, 1, 1),
                             split_by="clip", bins="uniform", num_bins=8, cache_dir=str(cache))
        with pytest.warns(UserWarning, match="c_broken.avi"):
            dm.setup("fit")
        return torch.cat([torch.stack([dm.dataset(s)[i]["signal"] for i in range(len(dm.dataset(s)))])
                          for s in ("train", "val", "test")])  # [5, 3, 8, size, size]

    first = clips()
    assert sorted(decoded) == ["a.mp4", "b.gif", "c_broken.avi"] and len(list(cache.glob("*.npy"))) == 2
    again = clips()
    assert decoded.count("a.mp4") == 1 and decoded.count("c_broken.avi") == 2  # cached; the broken one tried again
    assert torch.equal(again, first)
    iio.imwrite(folder / "b.gif", smooth_frames(9)[::-1].copy(), plugin="pillow", duration=100, loop=0)  # rewritten
    clips()
    assert decoded.count("b.gif") == 2 and decoded.count("a.mp4") == 1
    clips(size=8)
    assert decoded.count("a.mp4") == 2  # another size: its own entry
    # another ffmpeg binary, or another version of a decoding library, may give other frames: decoded anew
    monkeypatch.setattr(file_cache, "ffmpeg_version", lambda: "n0.0-other")
    clips(size=8)
    assert decoded.count("a.mp4") == 3 and decoded.count("b.gif") == 3  # the GIF, which pillow decodes, is kept
    monkeypatch.setattr(cache_py, "package_version", lambda name: "0.0-other")
    clips(size=8)
    assert decoded.count("a.mp4") == 4 and decoded.count("b.gif") == 4


def test_a_folder_s_frame_rates_are_asked_once_and_then_loaded_from_the_cache(tmp_path, monkeypatch):
    """The rate of each video file (which the pictures play at) and the size of its frames (whether its clips were
    upscaled) are asked of ffmpeg once, in one process, and kept in the cache beside its frames: a later start runs no
    ffmpeg for them either, and a strip, which records no rate, is not asked."""
    from domains.video import file_cache

    folder = tmp_path / "videos"
    (folder / "s").mkdir(parents=True)
    write_mp4(folder / "a.mp4", smooth_frames(8))  # 10 fps, 24x32
    iio.imwrite(folder / "s" / "0000.png", smooth_frames(8, 8, 8).reshape(64, 8, 3))  # a strip of 8 frames
    asked = []
    probe = file_cache.probe_container
    monkeypatch.setattr(file_cache, "probe_container", lambda path: asked.append(Path(path).name) or probe(path))
    for _ in range(2):
        dm = VideoDataModule(dataset="folder", root=str(folder), num_frames=4, size=8, splits=(-1, 1, 0),
                             split_by="clip", bins="uniform", num_bins=8, cache_dir=str(tmp_path / "cache"))
        assert dm.folder_stats is None and dm.spec.extra["fps"] == 10.0
        assert dm.folder_stats.rates == [10.0, None]
    assert asked == ["a.mp4"]
    assert file_cache.DecodedVideos(tmp_path / "cache").rate_and_size(folder / "a.mp4") == (10.0, (24, 32))
    assert asked == ["a.mp4"]


def test_a_strip_s_frame_size_is_read_from_its_header_not_cached(tmp_path):
    """A strip's frames are decoded as its clips are read, not cached; asking the size of its frames (whether its clips
    were upscaled) read every strip's bytes whole for a digest and wrote a cache entry for it: 400 TinyVideos strips
    made 401 cache files and a first start 7 times as long. Pillow reads the size from the strip's header, each start,
    as cheaply as the cache would."""
    folder, cache = tmp_path / "videos", tmp_path / "cache"
    (folder / "s").mkdir(parents=True)
    iio.imwrite(folder / "s" / "0000.png", smooth_frames(8, 8, 8).reshape(64, 8, 3))  # a strip of 8 frames of 8x8
    for _ in range(2):
        with pytest.warns(UserWarning, match=r"smaller than 16×16 \(s/0000.png, 8×8\)"):  # its size is still read
            VideoDataModule(dataset="folder", root=str(folder), num_frames=4, size=16, splits=(-1, 1, 0),
                            split_by="clip", bins="uniform", num_bins=8, cache_dir=str(cache)).setup("fit")
    assert [p.name for p in cache.glob("*") if p.name != "digests.json"] == []  # no entry for the strip
    assert not (cache / "digests.json").exists() or "0000.png" not in (cache / "digests.json").read_text()


def test_folder_reads_tinyvideos_strips_and_leaves_out_hidden_files(tmp_path):
    # TinyVideos' originals: JPEGs of square frames stacked top to bottom (128 x 128*32 there), first frame on top
    frames = np.stack([np.full((16, 16, 3), 12 * k, np.uint8) for k in range(12)])  # [12, 16, 16, 3]
    (tmp_path / "beach" / "2013").mkdir(parents=True)
    iio.imwrite(tmp_path / "beach" / "2013" / "strip.jpg", frames.reshape(12 * 16, 16, 3), quality=95)
    iio.imwrite(tmp_path / "beach" / "poster.png", np.zeros((16, 24, 3), np.uint8))  # not a strip
    (tmp_path / "beach" / "._strip.jpg").write_bytes(b"\x00\x05\x16\x07")  # macOS AppleDouble: left out
    with pytest.warns(UserWarning, match=r"poster.png: a 24x16 picture is not a strip") as record:
        out = read_video_folder(tmp_path, num_frames=8, size=8, stride=4, progress=False)
    assert len(record) == 1 and out.n_files == 2 and out.n_skipped_corrupt == 1
    # one square frame: its height is a multiple of its width, so that alone is not what it lacks
    iio.imwrite(tmp_path / "beach" / "poster.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.warns(UserWarning, match=r"poster.png: a 16x16 picture is not a strip .*: 2 frames or more\)"):
        read_video_folder(tmp_path, num_frames=8, size=8, stride=4, progress=False)
    assert out.clips.shape == (2, 8, 8, 8, 3)  # clips from frames 0..7 and 4..11, resized to 8x8
    assert np.abs(out.clips[1, :, 4, 4, 0].astype(int) - 12 * np.arange(4, 12)).max() <= 2



def test_a_16_bit_grey_strip_reads_its_levels_not_white(tmp_path):
    """pillow's RGB of a 16-bit grey picture clips every value above 255: a strip of 16-bit frames read white."""
    levels = np.arange(4, dtype=np.uint16) * 20000  # [F]: 0, 20000, 40000, 60000 of 65535
    Image.fromarray(np.repeat(levels, 8 * 8).reshape(4 * 8, 8)).save(tmp_path / "strip.png")  # [F*8, 8] 16-bit
    assert Image.open(tmp_path / "strip.png").mode == "I;16"
    expected = np.round(levels / 65535 * 255)  # [F]: 0, 78, 156, 233
    assert np.array_equal(read_strip(tmp_path / "strip.png")[:, 4, 4], np.repeat(expected[:, None], 3, 1))
    clip = load_user_video(tmp_path / "strip.png", num_frames=4, size=8)  # [3, T, H, W], as --input reads it
    assert torch.allclose(clip[:, :, 4, 4], torch.tensor(expected / 255, dtype=torch.float32).expand(3, -1))


def test_folder_strips_are_decoded_when_their_clips_are_read(tmp_path, monkeypatch):
    """A folder of strips was decoded whole into memory before the first step: TinyVideos' tens of thousands of strips
    do not fit. Listing reads each strip's header; a clip is decoded when it is read, and the bins read a sample."""
    import domains.video.data as video_data
    from domains.video import clips as video_clips, strips as video_strips

    for v in range(5):  # strip s<v>: 12 frames of 8x8, frame k of grey level 20 v + 3 k
        frames = np.stack([np.full((8, 8, 3), 20 * v + 3 * k, np.uint8) for k in range(12)])  # [12, 8, 8, 3]
        iio.imwrite(tmp_path / f"s{v}.png", frames.reshape(12 * 8, 8, 3))
    decoded, read_strip = [], video_strips.read_strip
    for module in (video_clips, video_strips):  # a strip's clips, and a strip cut short, are decoded by read_strip
        monkeypatch.setattr(module, "read_strip", lambda path: decoded.append(Path(path).name) or read_strip(path))
    out = read_video_folder(tmp_path, num_frames=4, size=8, stride=4, progress=False)
    assert decoded == [] and out.clips.shape == (15, 4, 8, 8, 3)  # 3 clips a strip, none decoded yet
    clip = out.clips[7]  # [T, H, W, 3], the second clip of s2: its frames 4..7
    assert decoded == ["s2.png"] and clip[:, 0, 0, 0].tolist() == [40 + 3 * k for k in range(4, 8)]
    np.testing.assert_array_equal(clip, cut_clips(read_strip(tmp_path / "s2.png"), 4, 8, stride=4)[1])
    monkeypatch.setattr(video_data, "KMEANS_CLIPS", 4)
    decoded.clear()
    # in_memory_gb=0: larger than what may be held decoded, as a full TinyVideos folder is
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, stride=4, splits=(-1, 3, 3),
                         split_by="clip", num_bins=8, in_memory_gb=0)
    assert dm.spec.bin_centres().shape == (8, 3) and 0 < len(decoded) <= 4  # bins from 4 of the 9 training clips
    dm.setup("fit")
    decoded.clear()
    lazy = dm.dataset("train")[0]["signal"]  # [3, T, H, W]
    assert lazy.shape == (3, 4, 8, 8) and len(decoded) == 1
    # a folder that fits in in_memory_gb (the default, 4 GiB) is decoded once, each strip once, and then served from
    # memory: decoding a strip at every draw made training from a small folder I/O bound (about 50 times slower)
    decoded.clear()
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, stride=4, splits=(-1, 3, 3),
                         split_by="clip", num_bins=8)
    dm.setup("fit")
    assert sorted(decoded) == [f"s{v}.png" for v in range(5)]
    decoded.clear()
    torch.testing.assert_close(dm.dataset("train")[0]["signal"], lazy, rtol=0, atol=0)
    assert decoded == []
    with pytest.raises(ValueError, match=r"^VideoDataModule: in_memory_gb must be a number >= 0, got -1$"):
        VideoDataModule(dataset="folder", root=str(tmp_path), in_memory_gb=-1)


def test_a_strip_cut_short_is_skipped_and_one_broken_later_is_named(tmp_path):
    strip = np.random.default_rng(0).integers(0, 256, (12 * 16, 16, 3), dtype=np.uint8)  # 12 frames of noise
    for name in ("a_good.jpg", "b_cut.jpg"):
        iio.imwrite(tmp_path / name, strip, quality=95)
    whole = (tmp_path / "b_cut.jpg").read_bytes()
    (tmp_path / "b_cut.jpg").write_bytes(whole[: len(whole) // 2])  # a copy that stopped half-way, past the header
    assert Image.open(tmp_path / "b_cut.jpg").size == (16, 12 * 16)
    with pytest.warns(UserWarning, match=r"^skipping \S+b_cut.jpg, which cannot be decoded: \S"):
        out = read_video_folder(tmp_path, num_frames=4, size=8, stride=4, progress=False)
    assert out.n_skipped_corrupt == 1 and [p.name for p in out.files] == ["a_good.jpg"] and len(out.clips) == 3
    (tmp_path / "a_good.jpg").write_bytes(b"\x00" * 100)  # broken after the folder was listed
    with pytest.raises(VideoDecodeError, match=r"a_good.jpg: .*\(a strip is decoded when its clips are read: move it "
                       r"out of the folder and run again\)$") as info:
        out.clips[0]
    assert "\n" not in str(info.value)


def test_variable_frame_rate_video_gives_each_frame_once(tmp_path):
    import subprocess

    import imageio_ffmpeg

    frames = smooth_frames(10, 16, 16)
    listing = ""
    for k, frame in enumerate(frames):  # frames shown for 0.2 s and 0.04 s in turn, as a phone records
        iio.imwrite(tmp_path / f"{k}.png", frame)
        listing += f"file '{tmp_path / f'{k}.png'}'\nduration {0.2 if k % 2 else 0.04}\n"
    (tmp_path / "list.txt").write_text(listing)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
                    str(tmp_path / "list.txt"), "-fps_mode", "vfr", "-pix_fmt", "yuv420p", "-crf", "10",
                    str(tmp_path / "vfr.mp4")], check=True)
    for size in (None, 8):  # decoded at full size, and resized while decoding
        assert len(read_video_file(tmp_path / "vfr.mp4", size=size)) == 10  # not repeated to a constant rate


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_video_folder(tmp_path / "missing", 8, 16)
    with pytest.raises(FileNotFoundError, match="no video files"):
        read_video_folder(tmp_path, 8, 16)
    iio.imwrite(tmp_path / "short.gif", smooth_frames(3), plugin="pillow", duration=100, loop=0)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="1 too short"):
        read_video_folder(tmp_path, 8, 16, progress=False)


def test_counts_of_one_frame_or_one_file_are_singular(tmp_path):
    """A one-frame video was skipped with "1 frames, a clip needs 8", and a folder of it alone ended in "no clips of 8
    frames from 1 video files": counts of one now take the singular. That line named no remedy where the longest video
    holds one frame (a still picture saved as a video), as it does for longer ones: it says what a clip needs."""
    write_video(smooth_frames(1), tmp_path / "one.mp4", upscale_to=None)
    one_file = (rf"^no clips of 8 frames from 1 video file under {tmp_path} \(1 too short, 0 undecodable\): the "
                rf"longest, {re.escape(str(tmp_path / 'one.mp4'))}, holds 1 frame: give videos of 8 frames or more "
                r"\(one frame is a still picture\)$")
    with warnings.catch_warnings(record=True) as record, pytest.raises(ValueError, match=one_file):
        warnings.simplefilter("always")
        read_video_folder(tmp_path, 8, 16, progress=False)
    assert [str(w.message) for w in record] == [f"skipping {tmp_path / 'one.mp4'}: 1 frame, a clip needs 8"]
    write_video(smooth_frames(3), tmp_path / "three.mp4", upscale_to=None)
    with warnings.catch_warnings(record=True) as record, pytest.raises(ValueError, match=r"from 2 video files under"):
        warnings.simplefilter("always")
        read_video_folder(tmp_path, 8, 16, progress=False)
    assert f"skipping {tmp_path / 'three.mp4'}: 3 frames, a clip needs 8" in [str(w.message) for w in record]


def test_too_few_clips_for_the_splits_says_to_add_videos(tmp_path):
    """An .npz of one clip, or a folder of one 17-frame GIF, stopped with "split sizes (-1, 1, 1) do not fit 1 item
    ...: give --data.init_args.splits in clips", a remedy no sizes can meet (train, val and test take one clip
    each at least). The line now ends ", or add videos", as the images' does; sizes that are no counts do not."""
    np.savez(tmp_path / "one.npz", videos=moving_digits(1, num_frames=8, size=8, seed=0))
    folder = tmp_path / "gifs"
    folder.mkdir()
    iio.imwrite(folder / "a.gif", smooth_frames(8), plugin="pillow", duration=100, loop=0)
    for dataset, root in (("npz", tmp_path / "one.npz"), ("folder", folder)):
        dm = VideoDataModule(dataset=dataset, root=str(root), num_frames=8, size=8, splits=(-1, 1, 1),
                             bins="uniform", num_bins=8)
        with pytest.raises(ValueError, match=re.escape(
                "do not fit 1 item: the sizes besides -1 take 2; the items are clips, 1 from 1 video: give "
                "--data.init_args.splits in clips (train, val, test; -1: the rest), or add videos") + "$"):
            dm.setup("fit")
    bad = VideoDataModule(dataset="npz", root=str(tmp_path / "one.npz"), num_frames=8, size=8, splits=(-1, -2, 1),
                          bins="uniform", num_bins=8)
    with pytest.raises(ValueError, match=re.escape(  # no videos added make them counts
            "must be counts, or -1 for the rest; the items are clips, 1 from 1 video: give --data.init_args.splits "
            "in clips (train, val, test; -1: the rest)") + "$"):
        bad.setup("fit")


def test_generated_clips_too_few_for_the_splits_name_the_count_that_fits():
    """Generated clips the split sizes do not fit were offered other sizes alone; the line now names the fewest clips
    that fit, train and val taking one at least (test may be empty), and that many set up."""
    for count, splits, needed in ((1, (-1, 1, 1), 3), (3, (2, 2, -1), 4), (1, (1, -1, 1), 3)):
        options = dict(num_frames=8, size=8, splits=splits, bins="uniform", num_bins=8)
        with pytest.raises(ValueError, match=re.escape(
                f"(train, val, test; -1: the rest), or --data.init_args.num_clips={needed} or more") + "$"):
            VideoDataModule(num_clips=count, **options).setup("fit")
        VideoDataModule(num_clips=needed, **options).setup("fit")


def test_generated_clips_too_few_for_the_splits_say_to_generate_more():
    """2 generated clips with splits (-1, 1, 1) left train empty and said "add videos, or give
    --data.init_args.split_by=clip" (and of a folder of strips), which neither applies to nor changes generated
    clips (each is a video of its own). The line now names num_clips."""
    for split_by in ("video", "clip"):  # split_by=clip once stopped on "the train split is empty, no pixels ..."
        dm = VideoDataModule(num_clips=2, num_frames=8, size=8, splits=(-1, 1, 1), bins="uniform", num_bins=8,
                             split_by=split_by)
        with pytest.raises(ValueError, match=re.escape(
                "the train split is empty: the 2 generated clips went to val (1 clip) and test (1 clip): give "
                "--data.init_args.splits in clips (train, val, test; -1: the rest), or --data.init_args.num_clips=3 "
                "or more") + "$"):
            dm.setup("fit")
    dm = VideoDataModule(num_clips=1, num_frames=8, size=8, splits=(-1, 0, 1), bins="uniform", num_bins=8)
    with pytest.raises(ValueError, match=re.escape(  # val takes none, which no num_clips changes: none is named
            "the 1 generated clip went to val (0 clips) and test (1 clip): give --data.init_args.splits in clips "
            "(train, val, test; -1: the rest)") + "$"):
        dm.setup("fit")


def test_file_clips_each_split_alone_that_val_and_test_take_say_to_add_videos(tmp_path):
    """An .npz of 2 clips (as beach.yaml reads, splits (-1, 1, 1)) was told "add videos, or give
    --data.init_args.split_by=clip", and split_by=clip then stopped on "the train split is empty, no pixels to fit
    k-means bins on" alone; each clip is split alone either way, so the line now says to add videos."""
    np.savez(tmp_path / "two.npz", videos=moving_digits(2, num_frames=8, size=8, seed=0))
    for split_by in ("video", "clip"):
        dm = VideoDataModule(dataset="npz", root=str(tmp_path / "two.npz"), num_frames=8, size=8, splits=(-1, 1, 1),
                             num_bins=8, split_by=split_by)
        with pytest.raises(ValueError, match=re.escape(
                f": the 2 clips of {tmp_path / 'two.npz'}'s 2 videos went to val (1 clip) and test (1 clip): give "
                "--data.init_args.splits in clips (train, val, test; -1: the rest), or add videos") + "$"):
            dm.setup("fit")


def test_a_folder_where_no_file_decodes_says_what_to_give(tmp_path):
    """A folder of files that are no videos (text saved as .mp4, garbage .avi), or a text file given as the folder,
    ended in "no clips of 17 frames from 1 video file under notes.txt (0 too short, 1 undecodable)": a count, no
    remedy. The line now says that nothing could be decoded and what --data.init_args.root takes."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.mp4").write_text("hello")
    (folder / "b.avi").write_bytes(b"\x00garbage" * 64)
    remedy = (r"none of its files can be decoded \(see the warnings\): give --data.init_args.root a video file or "
              r"a folder of them \(\.mp4, .*\) or of strips of frames \(\.jpg, .*\)$")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"\(0 too short, 2 undecodable\); " + remedy):
        read_video_folder(folder, 17, 16, progress=False)
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"\(0 too short, 1 undecodable\); it cannot be "
                                                                    r"decoded \(see the warning\): give"):
        read_video_folder(tmp_path / "notes.txt", 17, 16, progress=False)


def test_a_folder_of_single_frames_says_how_to_make_it_a_video(tmp_path):
    """Frames saved one picture each (frame_000.png, ...) are not a video here: the line says so and how to make one,
    beside the count that called them undecodable, and is all that is said (a warning for each frame came first)."""
    for i, frame in enumerate(smooth_frames(10)):
        iio.imwrite(tmp_path / f"frame_{i:03d}.png", frame)
    advice = (r"\(0 too short, 10 undecodable\); they are pictures of one frame each: a folder of frames is not read "
              r"as a video, so make each video one file \(ffmpeg -i frame_%03d.png clip.mp4\) or one strip of its "
              r"frames stacked top to bottom$")
    with warnings.catch_warnings(record=True) as record, pytest.raises(ValueError, match=advice):
        warnings.simplefilter("always")
        read_video_folder(tmp_path, 8, 16, progress=False)
    assert [str(w.message) for w in record] == []
    (tmp_path / "broken.mp4").write_bytes(b"")  # not every file a frame: no such advice, a warning for each file
    none = (r"\(0 too short, 11 undecodable\); none of its files is a video or a strip of frames \(see the "
            r"warnings\): give --data.init_args.root a video file or a folder of them \(\.mp4, .*\) or of strips of "
            r"frames \(\.jpg, \.jpeg, \.png\)$")  # the pictures decode: not "none of its files can be decoded"
    with pytest.warns(UserWarning) as record, pytest.raises(ValueError, match=none):
        read_video_folder(tmp_path, 8, 16, progress=False)
    messages = [str(w.message) for w in record]
    skipped = [m for m in messages if m.startswith("skipping ")]
    assert len(skipped) == 11 and sum("is not a strip" in m for m in skipped) == 10, messages
    (tmp_path / "broken.mp4").unlink()
    Image.fromarray(smooth_frames(1)[0]).save(tmp_path / "still.webp")  # a picture too: one frame
    still = r"\(1 too short, 10 undecodable\); they are pictures of one frame each"
    with warnings.catch_warnings(record=True) as record, pytest.raises(ValueError, match=still):
        warnings.simplefilter("always")
        read_video_folder(tmp_path, 8, 16, progress=False)
    assert [str(w.message) for w in record] == []


# ---- clip arithmetic -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "frames,t,stride,step,expected",
    [(36, 17, 1, 1, 20), (36, 17, 17, 1, 2), (34, 17, 17, 1, 2), (33, 17, 17, 1, 1), (16, 17, 1, 1, 0),
     (36, 17, 1, 2, 4), (17, 17, 5, 1, 1)],
)
def test_num_clips(frames, t, stride, step, expected):
    assert num_clips(frames, t, stride, step) == expected
    clips = cut_clips(np.zeros((frames, 4, 4, 3), np.uint8), t, 4, stride, step)
    assert clips.shape == (expected, t, 4, 4, 3)


def test_cut_clips_picks_the_right_frames():
    frames = np.broadcast_to(np.arange(30, dtype=np.uint8).reshape(30, 1, 1, 1), (30, 6, 6, 3)).copy()
    clips = cut_clips(frames, num_frames=4, size=6, stride=5, frame_step=3)  # span 10 -> starts 0, 5, 10, 15, 20
    assert clips.shape == (5, 4, 6, 6, 3)
    assert clips[:, :, 0, 0, 0].tolist() == [[s + 3 * j for j in range(4)] for s in (0, 5, 10, 15, 20)]
    assert cut_clips(frames, 4, 6).shape[0] == 7  # default stride: non-overlapping, 30 // 4


def test_resize_keeps_aspect_and_crops_the_centre():
    frame = np.zeros((1, 30, 90, 3), np.uint8)
    frame[:, :, :30, 0] = 255  # red | green | blue thirds
    frame[:, :, 30:60, 1] = 255
    frame[:, :, 60:, 2] = 255
    square = resize_and_crop(frame, 15)  # shorter side 30 -> 15, width 45, centre 15 columns = the green third
    assert square.shape == (1, 15, 15, 3)
    assert square[:, :, 1:-1, 1].min() >= 250 and square[:, :, 1:-1][..., [0, 2]].max() <= 5
    assert square[..., 1].min() >= 200  # the antialias filter only blends the outermost columns a little
    tall = resize_and_crop(np.zeros((2, 240, 320, 3), np.uint8), (32, 24))
    assert tall.shape == (2, 32, 24, 3)


# ---- writing ---------------------------------------------------------------------------------------
def test_write_video_round_trip(tmp_path):
    frames = smooth_frames(9, 32, 32)
    frames[4] = frames[3]  # a repeated frame must survive the GIF writer (pillow would merge it)
    mp4 = read_video_file(write_video(frames, tmp_path / "v.mp4", upscale_to=None))
    gif = read_video_file(write_video(frames, tmp_path / "v.gif", upscale_to=None))
    assert mp4.shape == gif.shape == frames.shape
    assert np.abs(gif.astype(int) - frames).mean() < 4
    assert np.abs(mp4.astype(int) - frames).mean() < 8
    big = read_video_file(write_video(frames.astype(np.float32) / 255, tmp_path / "big.gif"))  # float input
    assert big.shape == (9, 128, 128, 3)  # 32 px upscaled x4 with nearest neighbour
    assert (big[:, ::4, ::4] == big[:, 3::4, 3::4]).mean() > 0.95
    odd = read_video_file(write_video(smooth_frames(3, 15, 21), tmp_path / "odd.mp4", upscale_to=None))
    assert odd.shape == (3, 16, 22, 3)  # yuv420p needs even sides
    diverged = np.full((2, 8, 8, 3), np.nan, np.float32)
    assert read_video_file(write_video(diverged, tmp_path / "nan.gif", upscale_to=None)).max() == 0
    with pytest.raises(ValueError, match="mp4 or .gif"):
        write_video(frames, tmp_path / "v.avi")


# ---- synthetic -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fps, shown", [(25, [40] * 4), (60, [20] * 4), (120, [20] * 4)])
def test_a_gif_of_a_fast_video_plays_at_most_50_frames_a_second_not_ten(tmp_path, fps, shown):
    """A GIF's delays are whole 10 ms steps and browsers show a frame of 0 or 10 ms for 100 ms: a GIF of a 120 fps clip
    (delays of 10 ms) played at 10 fps, twelve times slower, and one of a 60 fps phone video stuttered (10 and 20 ms by
    turns). A GIF plays at most 50 frames a second (20 ms each), every frame kept; the mp4 keeps the rate."""
    frames = smooth_frames(4, 16, 16)
    with Image.open(write_video(frames, tmp_path / "v.gif", fps=fps, upscale_to=None)) as gif:
        delays = [(gif.seek(i), gif.info["duration"])[1] for i in range(gif.n_frames)]
    assert delays == shown
    mp4 = write_video(frames, tmp_path / "v.mp4", fps=fps, upscale_to=None)
    assert iio.immeta(mp4, plugin="FFMPEG")["fps"] == pytest.approx(fps, abs=0.01)


def test_moving_digits_move_and_stay_inside():
    clips, pos, counts = moving_digits(24, num_frames=17, size=32, seed=3, n_digits=(1, 2), return_positions=True)
    assert clips.shape == (24, 17, 32, 32, 3) and clips.dtype == np.uint8
    assert set(counts.tolist()) <= {1, 2} and len(set(counts.tolist())) == 2
    diffs = np.abs(np.diff(clips.astype(int), axis=1)).reshape(24, 16, -1).sum(-1)  # [n, T-1]
    assert (diffs > 0).all()  # every frame differs from the one before
    room = 32 - 14
    assert pos.min() >= 0 and pos.max() <= room
    travel = np.abs(pos[:, -1] - pos[:, 0]).sum(-1)[:, 0]  # first digit's displacement, px
    assert (travel > 1).all()
    # digit colours have a full channel; the canvas stays below 0.5: bright pixels must sit in a digit's box
    bright = clips.max(-1) > 200  # [n, T, H, W]
    n, t, y, x = np.nonzero(bright)
    inside = np.zeros(len(n), bool)
    for d in range(2):
        py, px = pos[n, t, d, 0], pos[n, t, d, 1]
        inside |= (d < counts[n]) & (y >= py - 1) & (y <= py + 15) & (x >= px - 1) & (x <= px + 15)
    assert bright.any() and inside.all()


def test_moving_digits_bounce_and_seed():
    _, pos, _ = moving_digits(8, num_frames=40, size=32, seed=0, n_digits=1, speed=(0.1, 0.1), return_positions=True)
    vel = np.diff(pos[:, :, 0], axis=1)  # [n, T-1, 2]
    assert (np.sign(vel[:, 1:]) != np.sign(vel[:, :-1])).any(axis=(1, 2)).all()  # 3 px/frame over 40 frames: bounces
    a, b = moving_digits(4, seed=1), moving_digits(4, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, moving_digits(4, seed=2))


# ---- data module -----------------------------------------------------------------------------------
def test_datamodule_spec_and_kmeans_bins():
    dm = VideoDataModule(num_clips=30, splits=(20, 5, 5), num_bins=64, num_frames=9, seed=1)
    spec = dm.spec  # needed before setup(): the CLI links it to the model
    assert spec.domain == "video" and spec.grid_shape == (9, 32, 32) and spec.val_dims == 3
    assert spec.val_range == (0.0, 1.0) and spec.num_bins == 64
    centres = spec.bin_centres()  # [64, 3]
    assert centres.shape == (64, 3) and centres.min() >= 0 and centres.max() <= 1
    assert torch.unique(centres, dim=0).shape[0] == 64
    dm.setup("fit")
    assert [len(dm.dataset(s)) for s in ("train", "val")] == [20, 5]
    item = dm.dataset("train")[0]["signal"]
    assert item.shape == (3, 9, 32, 32) and item.dtype == torch.float32 and 0 <= item.min() and item.max() <= 1
    # the centres describe the training colours: every training pixel is near one of them
    pixels = item.reshape(3, -1).T  # [N, 3]
    assert torch.cdist(pixels, centres).min(1).values.mean() < 0.05
    again = VideoDataModule(num_clips=30, splits=(20, 5, 5), num_bins=64, num_frames=9, seed=1).spec
    assert again.centres == spec.centres
    batch = next(iter(dm.train_dataloader()))
    assert batch["signal"].shape == (16, 3, 9, 32, 32)


@pytest.mark.parametrize("in_memory_gb", [4.0, 0.0])
def test_a_batch_is_read_in_one_call_and_sent_as_8_bit_levels(tmp_path, monkeypatch, in_memory_gb, under_trainer):
    """The loader's batch is the stored uint8 clips [B, 3, T, H, W] (a quarter of float32's bytes to collate,
    page-lock and copy), one gather from memory or a folder's clips decoded as read; on its device it becomes the
    float items' values, bit for bit."""
    for v in range(4):  # strip s<v>: 8 frames of 8x8
        frames = np.stack([np.full((8, 8, 3), (20 * v + 3 * k, 7 * k, 200 - v), np.uint8) for k in range(8)])
        iio.imwrite(tmp_path / f"s{v}.png", frames.reshape(8 * 8, 8, 3))
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, stride=2, splits=(-1, 2, 2),
                         split_by="clip", bins="uniform", num_bins=8, in_memory_gb=in_memory_gb, batch_size=4)
    under_trainer(dm).setup("fit")

    def one_by_one(self, i):
        raise AssertionError("a batch was read item by item")

    with monkeypatch.context() as patch:
        patch.setattr(ClipDataset, "__getitem__", one_by_one)
        sent = next(iter(dm.train_dataloader()))
    assert sent["signal"].dtype == torch.uint8 and sent["signal"].shape == (4, 3, 4, 8, 8)
    got = dm.on_after_batch_transfer(sent, 0)["signal"]
    expected = torch.stack([dm.dataset("train")[int(i)]["signal"] for i in sent["index"]])  # [4, 3, 4, 8, 8]
    assert got.dtype == torch.float32 and torch.equal(got, expected)


def test_datamodule_uniform_bins_and_bad_args(tmp_path, monkeypatch):
    dm = VideoDataModule(num_clips=12, splits=(8, 2, 2), bins="uniform", num_bins=27, size=(16, 24), num_frames=5)
    assert dm.spec.centres is None and dm.spec.bin_centres().shape == (27, 3)
    assert dm._clips is None  # uniform bins need no data before setup
    dm.setup("fit")
    assert dm.dataset("val")[1]["signal"].shape == (3, 5, 16, 24)
    with pytest.raises(ValueError, match="n\\^3"):
        VideoDataModule(bins="uniform", num_bins=100)
    monkeypatch.setenv("PIXELTRANSFORMER_DATA", str(tmp_path / "none"))  # no root, and no data in the default place
    missing = VideoDataModule(dataset="folder")  # made without its data (a prediction reads none): asked when read
    with pytest.raises(FileNotFoundError, match="no data at .*none/videos/natural: put it there"):
        missing.setup("fit")
    # a root given that does not exist: refused where the command line asks, before a run starts (with uniform bins
    # nothing reads the clips before then), in the reader's own line
    with pytest.raises(FileNotFoundError, match="^video folder not found: .*nope$"):
        VideoDataModule(dataset="folder", root=str(tmp_path / "nope"), bins="uniform", num_bins=8).check_data_roots()
    with pytest.raises(FileNotFoundError, match="^video npz not found: .*nope.npz$"):
        VideoDataModule(dataset="npz", root=str(tmp_path / "nope.npz"), bins="uniform", num_bins=8).check_data_roots()
    # sizes that do not fit say what an item is here, and which options take the sizes and the count
    with pytest.raises(ValueError, match=r"^VideoDataModule: split sizes \(8, 8, 8\) do not fit 12 items; the items "
                                         r"are clips, 12 from 12 videos: give --data.init_args.splits in clips "
                                         r"\(train, val, test; -1: the rest\), or --data.init_args.num_clips=24 or "
                                         r"more$"):
        VideoDataModule(num_clips=12, splits=(8, 8, 8), bins="uniform", num_bins=8).setup("fit")


def test_an_npz_of_one_frame_videos_is_told_the_remedy_a_folder_is(tmp_path):
    """An .npz of videos of one frame each was told "give --data.init_args.num_frames=1 or fewer, or videos of 8
    frames or more" (a clip of one frame is a still picture), where a folder of such videos is told to give longer
    videos: both now end in the same words."""
    np.savez(tmp_path / "v.npz", videos=moving_digits(3, num_frames=1, size=16, seed=0))
    dm = VideoDataModule(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=8, size=16, splits=(-1, 1, 1),
                         bins="uniform", num_bins=8)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(tmp_path / 'v.npz'))}: its 1-frame videos are too short "
                                         r"for clips of 8 frames with frame_step 1: give videos of 8 frames or more "
                                         r"\(one frame is a still picture\)$"):
        dm.setup("fit")


def test_videos_smaller_than_the_clips_are_named_as_upscaled(tmp_path):
    """A folder's videos, or an .npz's, of frames smaller than --data.init_args.size were upscaled without a word, so
    the model trained and was scored on pixels interpolation made up; a picture folder's small pictures are named."""
    write_mp4(tmp_path / "small.mp4", smooth_frames(8, 24, 32))
    write_mp4(tmp_path / "big.mp4", smooth_frames(8, 48, 64))
    with pytest.warns(UserWarning) as caught:
        read_video_folder(tmp_path, num_frames=4, size=32, progress=False)
    said = [str(w.message) for w in caught if "upscaled" in str(w.message)]
    assert said == [f"1 of the 2 videos read in {tmp_path} is smaller than 32×32 (small.mp4, 32×24), so it was "
                    "upscaled to interpolated pixels: give a smaller --data.init_args.size, or leave it out"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at a size both cover: nothing to say
        read_video_folder(tmp_path, num_frames=4, size=(24, 24), progress=False)
    # the one video of a folder is "the one video", and a file below the root is named by its path from there (each
    # of TinyVideos' scenes holds strips 0000.jpg, 0001.jpg, ...)
    (tmp_path / "one" / "beach").mkdir(parents=True)
    write_mp4(tmp_path / "one" / "beach" / "small.mp4", smooth_frames(8, 24, 32))
    with pytest.warns(UserWarning) as caught:
        read_video_folder(tmp_path / "one", num_frames=4, size=32, progress=False)
    assert [str(w.message) for w in caught] == [
        f"the one video read in {tmp_path / 'one'} is smaller than 32×32 ({Path('beach', 'small.mp4')}, 32×24), so "
        "it was upscaled to interpolated pixels: give a smaller --data.init_args.size"]
    # an .npz's videos share one size: said once, without a name for each
    np.savez(tmp_path / "v.npz", videos=moving_digits(3, num_frames=5, size=20, seed=0))
    dm = VideoDataModule(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=5, size=32, splits=(-1, 1, 1),
                         bins="uniform", num_bins=8)
    with pytest.warns(UserWarning) as caught:
        dm.setup("fit")
    assert [str(w.message) for w in caught if "upscaled" in str(w.message)] == [
        f"the 3 videos of {tmp_path / 'v.npz'}, 20×20, are smaller than 32×32, so they were upscaled to "
        "interpolated pixels: give a smaller --data.init_args.size"]


def test_datamodule_from_npz(tmp_path):
    vids = moving_digits(6, num_frames=12, size=20, seed=0)
    np.savez(tmp_path / "v.npz", videos=vids)
    dm = VideoDataModule(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=5, size=20, stride=5,
                         splits=(-1, 2, 2), bins="uniform", num_bins=8)
    dm.setup("fit")
    assert len(dm._clips) == 12  # two clips of 5 frames from each 12-frame video
    train, val = dm.dataset("train").base.index, dm.dataset("val").base.index  # the core wraps splits in IndexedDataset
    owner = lambda idx: set((idx // 2).tolist())  # noqa: E731 - clips of video i are rows 2i, 2i+1
    assert owner(train).isdisjoint(owner(val))  # split_by="video": no video in two splits
    first = dm.dataset("train")[0]["signal"]
    row = int(train[0])
    expected = torch.from_numpy(vids[row // 2, (row % 2) * 5 : (row % 2) * 5 + 5]).permute(3, 0, 1, 2).float() / 255
    assert torch.equal(first, expected)


def _grey_videos(root: Path, videos: dict[str, dict[int, int]]) -> np.ndarray:
    """Kinetics-style split folders of GIF videos, {folder: {grey level: frames}}: each video one grey level, to tell
    where clips came from (clips of 4 frames every 4: a clip per 4 frames). Returns the last video's frames."""
    for split, levels in videos.items():
        (root / split).mkdir()
        for level, count in levels.items():
            frames = np.full((count, 8, 8), level, np.uint8)  # [F, 8, 8]
            frames[:, 0, 0] = np.arange(count) * 15  # distinct frames: pillow merges repeated ones
            iio.imwrite(root / split / f"v{level}.gif", frames, plugin="pillow", duration=100, loop=0)
    return frames


def _clip_levels(dm: VideoDataModule) -> dict[str, list[int]]:
    """The grey level of each clip of each split: the video it came from."""
    dm.setup("fit")
    dm.setup("test")
    return {s: [round(dm.dataset(s)[i]["signal"][0, 0, 4, 4].item() * 255) for i in range(len(dm.dataset(s)))]
            for s in ("train", "val", "test")}


def test_datamodule_folder_keeps_its_train_and_test_folders(tmp_path):
    frames = _grey_videos(tmp_path, {"train": {10: 12, 30: 12, 50: 12, 70: 12}, "test": {200: 12, 220: 12}})
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 3, 6), num_bins=8)
    seen = {s: sorted(set(levels)) for s, levels in _clip_levels(dm).items()}
    assert seen["test"] == [200, 220] and len(dm.dataset("test")) == 6  # the test folder, no other
    assert len(seen["val"]) == 1 and sorted(seen["train"] + seen["val"]) == [10, 30, 50, 70]  # whole videos
    # a test folder whose videos are all too short is no test split, not a folder without split folders, whose test
    # split was drawn from train/
    (tmp_path / "test").rename(tmp_path / ".aside")  # a hidden folder is left out
    (tmp_path / "test").mkdir()
    iio.imwrite(tmp_path / "test" / "short.gif", frames[:2], plugin="pillow", duration=100, loop=0)
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 3, 6), num_bins=8)
    with pytest.warns(UserWarning, match="short.gif: 2 frames"), \
            pytest.raises(ValueError, match=r"^\S+: no clips from its test/ folder: each of its videos was too short"):
        dm.setup("fit")
    shutil.rmtree(tmp_path / "test")
    (tmp_path / ".aside").rename(tmp_path / "test")
    # a video beside the split folders is named as such, not as splits that "do not fit the 18 clips"
    iio.imwrite(tmp_path / "stray.gif", frames, plugin="pillow", duration=100, loop=0)
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 3, 6), num_bins=8)
    with pytest.raises(ValueError, match=r"^\S+: 1 file \(first: stray.gif\) lies outside the train/, val/ and test/"):
        dm.setup("fit")


def test_datamodule_folder_splits_take_whole_videos_of_their_own_folders(tmp_path):
    """train/, val/ and test/ folders (and without val/): each split from its folder, a size a seeded subset of whole
    videos of at most that many clips, -1 all of the folder; a size beyond its folder's clips is named in one line."""
    frames = {"train": {10: 4, 20: 8, 30: 12, 40: 16, 50: 8, 60: 4, 70: 12}, "val": {150: 8, 160: 12, 170: 4},
              "test": {200: 12, 210: 8, 220: 4, 230: 16}}  # a clip per 4 frames
    _grey_videos(tmp_path, frames)
    clips = {level: count // 4 for levels in frames.values() for level, count in levels.items()}

    def check(splits: tuple[int, int, int], pools: tuple[str, str, str]) -> list[torch.Tensor]:
        kw = dict(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=splits, num_bins=8, seed=3)
        dm = VideoDataModule(**kw)
        seen = _clip_levels(dm)
        for split, size, pool in zip(("train", "val", "test"), splits, pools):
            levels = seen[split]
            assert set(levels) <= set(frames[pool])  # from its own folder
            assert all(levels.count(level) == clips[level] for level in levels)  # whole videos
            if size != -1:
                assert 0 < len(levels) <= size
            elif pools.count(pool) == 1:  # the whole folder
                assert len(levels) == sum(clips[level] for level in frames[pool])
        assert not set(seen["train"]) & set(seen["val"])  # no video in two splits
        again = VideoDataModule(**kw)
        again.setup("fit")
        again.setup("test")
        parts = [dm.dataset(s).base.index for s in ("train", "val", "test")]  # [n] clip rows
        assert all(torch.equal(again.dataset(s).base.index, p) for s, p in zip(("train", "val", "test"), parts))
        return parts

    check((-1, 3, 5), ("train", "val", "test"))
    check((9, -1, 4), ("train", "val", "test"))
    with pytest.raises(ValueError, match=r"^VideoDataModule: a test split of 11 does not fit the 10 items of \S+'s "
                                         r"test part \(-1 takes all of it\)$"):
        VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 3, 11)).setup("fit")
    shutil.rmtree(tmp_path / "val")  # validation drawn from train/
    train, val, _ = check((-1, 4, -1), ("train", "train", "test"))
    assert len(train) + len(val) == sum(clips[level] for level in frames["train"])
    check((7, 3, 2), ("train", "train", "test"))
    with pytest.raises(ValueError, match=r"^VideoDataModule: train and val splits of 15 and 2 do not fit the 16 items "
                                         r"of \S+'s train part \(without a val part, validation is drawn from it\)$"):
        VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(15, 2, 1)).setup("fit")


def test_datamodule_folder_whose_train_video_validation_would_take_is_refused(tmp_path):
    """train/ with one video and no val/: validation, drawn from train/ by whole videos, would take it all; the setup
    says so in one line, not "the train split is empty" when the bins are fitted."""
    _grey_videos(tmp_path, {"train": {10: 12}, "test": {200: 8}})
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 2, -1), num_bins=8)
    with pytest.raises(ValueError, match=r"^VideoDataModule: \S+'s train part \(3 items in 1 group\) leaves no train "
                                         r"split once a val split is drawn from it: add a val part, or make the val "
                                         r"split 0$"):
        dm.setup("fit")


def test_datamodule_keeps_the_strips_of_one_tinyvideos_video_in_one_split(tmp_path):
    """TinyVideos stores a video's clips as strips 0000.jpg, 0001.jpg, ... in a folder of its own (consecutive
    stretches of one scene); each strip was taken for a video of its own, so one video's strips trained and tested."""
    for v in range(4):  # each video one grey level, to tell where clips came from
        (tmp_path / "beach" / f"{v:032x}.mp4").mkdir(parents=True)
        for c in range(3):
            strip = np.full((8 * 8, 8, 3), 40 + 50 * v, np.uint8)  # [8 frames x 8, 8, 3]
            iio.imwrite(tmp_path / "beach" / f"{v:032x}.mp4" / f"{c:04d}.png", strip)
    for k in range(3):  # strips directly in the root: a video each, as before
        iio.imwrite(tmp_path / f"loose{k}.png", np.full((8 * 8, 8, 3), 250, np.uint8))
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=8, size=8, splits=(-1, 3, 4),
                         bins="uniform", num_bins=8)
    dm.setup("fit")
    dm.setup("test")
    seen = [[round(dm.dataset(s)[i]["signal"][0, 0, 4, 4].item() * 255) for i in range(len(dm.dataset(s)))]
            for s in ("train", "val", "test")]
    videos = [set(levels) - {250} for levels in seen]
    assert all(videos[i].isdisjoint(videos[j]) for i in range(3) for j in range(i + 1, 3))  # no video in two splits
    assert all(sum(level == 40 + 50 * v for levels in seen for level in levels) == 3 for v in range(4))
    assert sum(level == 250 for levels in seen for level in levels) == 3


def test_clip_dataset_rejects_floats():
    with pytest.raises(ValueError, match="uint8"):
        ClipDataset(torch.zeros(2, 3, 4, 4, 3))


def test_load_user_video_and_mask(tmp_path):
    path = write_mp4(tmp_path / "u.mp4", smooth_frames(20, 48, 64))
    clip = load_user_video(path, num_frames=8, size=16, frame_step=2)
    assert clip.shape == (3, 8, 16, 16) and clip.dtype == torch.float32 and clip.max() <= 1
    with pytest.raises(ValueError, match="needs 25"):
        load_user_video(path, num_frames=25, size=16)
    still = np.zeros((32, 32, 3), np.uint8)
    still[:, 16:] = 255  # right half observed
    iio.imwrite(tmp_path / "m.png", still)
    with pytest.raises(ValueError, match="m.png: a still image .one frame., not a video"):  # a picture to sample
        load_user_video(tmp_path / "m.png", num_frames=4, size=16)
    mask = read_mask_video(tmp_path / "m.png", num_frames=4, size=16)[0]
    assert mask.shape == (4, 16, 16) and mask.dtype == torch.bool
    assert mask[:, :, 8:].all() and not mask[:, :, :8].any()
    iio.imwrite(tmp_path / "black.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="no white"):
        read_mask_video(tmp_path / "black.png", 4, 8)
    # a mesh given to a video model was named by ffmpeg alone ("can not handle the given uri"), not as no video
    (tmp_path / "chair.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match=r"^cannot decode video .*chair.obj: .+; a .obj file is not a video: give a "
                                         r"video file \(.mp4, .*\), an animated .png, a strip "
                                         r"\(.jpg, .jpeg, .png\) or a clip .npz$"):
        load_user_video(tmp_path / "chair.obj", num_frames=4, size=16)



def test_a_mask_with_transparent_pixels_is_refused_as_the_images_domain_refuses_it(tmp_path):
    """A mask drawn on a transparent canvas (white strokes, the rest transparent) was put on white, as frames are: every
    transparent pixel read as observed, and the mask observed all of the clip."""
    rgba = np.zeros((8, 16, 16, 4), np.uint8)  # [F, H, W, 4], transparent black
    rgba[:, 4:8, 4:8] = 255  # a white, opaque square: what is observed
    Image.fromarray(rgba[0], "RGBA").save(tmp_path / "painted.png")
    frames = [Image.fromarray(f, "RGBA") for f in rgba]
    frames[0].save(tmp_path / "painted_anim.png", save_all=True, append_images=frames[1:], duration=100)
    for name in ("painted.png", "painted_anim.png"):
        with pytest.raises(ValueError, match=rf"^mask \S+{name}: 94% of the mask's pixels are \(partly\) transparent, "
                                             r"which a mask has no meaning for: save it opaque, white where observed "
                                             r"and black where not$"):
            read_mask_video(tmp_path / name, num_frames=4, size=16)
    opaque = rgba.copy()
    opaque[..., 3] = 255  # the same mask, opaque: black is not observed
    Image.fromarray(opaque[0], "RGBA").save(tmp_path / "opaque.png")
    assert int(read_mask_video(tmp_path / "opaque.png", num_frames=4, size=16)[0].sum()) == 4 * 16


def test_a_video_mask_that_observes_no_pixel_says_why(tmp_path):
    """A video --mask observing no pixel was refused as "has no white (observed) pixel after resizing to (32, 32)"
    whatever the cause, where an images --mask's refusal names it: white specks lost in the resize (counted at the
    file's size, in the frames the clip takes), white outside the centre that is read, colours or greys too dark, or
    no white at all. The refusal now says which, as the images domain's does, with a remedy for a black mask too."""
    from domains.images.data import ImageDataModule
    from domains.images.domain import ImageDomain

    speck = np.zeros((256, 256), np.uint8)
    speck[100:104, 100:104] = 255  # [256, 256]: 16 white pixels, a quarter of one pixel of the 32x32 frames
    Image.fromarray(speck).save(tmp_path / "speck.png")
    write_video(np.repeat(np.dstack([speck] * 3)[None], 6, axis=0), tmp_path / "specks.gif", upscale_to=None)
    red = np.zeros((8, 8, 3), np.uint8)
    red[:4, :, 0] = 255  # [8, 8, 3]: the top half red, grey level 76
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "dark.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    top = np.zeros((12, 8), np.uint8)  # 12 tall: no strip of square frames
    top[:2] = 255  # [12, 8]: 16 white pixels, all above the centre 8x8
    Image.fromarray(top).save(tmp_path / "top.png")
    lost = re.escape("white pixels (grey level 128 or more) are lost once it is resized to 32×32, where none reaches "
                     "grey level 128: paint larger white areas, or draw the mask at 32×32")
    for name, white in (("speck.png", 16), ("specks.gif", 64)):  # the GIF: 16 in each of the 4 frames the clip takes
        with pytest.raises(ValueError, match=f"^{re.escape(f'mask {tmp_path / name}: the mask')}'s {white} {lost}$"):
            read_mask_video(tmp_path / name, num_frames=4, size=32)
    with pytest.raises(ValueError, match=r"^mask \S+top.png: the mask's 16 white pixels \(grey level 128 or more\) lie "
                                         r"outside its centre 8×8, the part of it that is read: give a mask of the "
                                         r"input's shape with white inside that centre$"):
        read_mask_video(tmp_path / "top.png", num_frames=4, size=32)
    with pytest.raises(ValueError, match=r"^mask \S+black.png: the mask has no white \(observed\) pixels, all of it "
                                         r"black: paint the observed pixels white, or leave out --mask to observe "
                                         r"--num_context random ones$"):
        read_mask_video(tmp_path / "black.png", num_frames=4, size=32)
    # too dark, in an images --mask's words: "its colours read as grey levels up to 76, below 128: paint ..."
    for name in ("red.png", "dark.png"):
        with pytest.raises(ValueError) as images:
            ImageDomain().read_mask(tmp_path / name, ImageDataModule("digits").spec)
        with pytest.raises(ValueError, match=f"^{re.escape(f'mask {images.value}')}$"):
            read_mask_video(tmp_path / name, num_frames=4, size=32)
    # frames of 8 tall and 16 wide read the centre 16x8 of a 16x16 mask, whose top 4 rows lie outside it
    square = np.zeros((16, 16), np.uint8)
    square[:4] = 255  # [16, 16]: 64 white pixels, above rows 4 to 11
    Image.fromarray(square).save(tmp_path / "square.png")
    with pytest.raises(ValueError, match=r"^mask \S+square.png: the mask's 64 white pixels \(grey level 128 or more\) "
                                         r"lie outside its centre 16×8, the part of it that is read: "):
        read_mask_video(tmp_path / "square.png", num_frames=4, size=(8, 16))
    spec = VideoDataModule(num_frames=4, size=32, bins="uniform", num_bins=8).spec  # the model's: 4 frames of 32x32
    with pytest.raises(ValueError, match=f"^{re.escape(f'mask {tmp_path}')}/speck.png: the mask's 16 white"):
        VideoDomain().read_mask(tmp_path / "speck.png", spec)  # as predict --mask reads it
    # frame_step=2 takes frames 0, 2, 4, ...: a mask white only in frames 1, 3, 5, ... was refused as having no white
    odd = np.zeros((8, 8, 8, 3), np.uint8)  # [F, H, W, 3]
    odd[1::2] = 255  # frames 1, 3, 5 and 7 white
    write_video(odd, tmp_path / "odd.gif", upscale_to=None)
    with pytest.raises(ValueError, match=r"^mask \S+odd.gif: the mask's 192 white pixels \(grey level 128 or more\) "
                                         r"lie only in frames the clip skips \(frame_step 2 takes frames 0, 2, 4, "
                                         r"\.\.\.\): paint them white in the frames it takes$"):
        read_mask_video(tmp_path / "odd.gif", num_frames=4, size=8, frame_step=2)  # frames 1, 3 and 5 of 0 to 6
    specks = np.zeros((8, 64, 64, 3), np.uint8)  # [F, H, W, 3]
    specks[:, 30:32, 30:32] = 255  # a 2x2 speck in every frame, lost in the resize to 8x8
    write_video(specks, tmp_path / "specks8.gif", upscale_to=None)
    with pytest.raises(ValueError, match=f"^{re.escape(f'mask {tmp_path}')}/specks8.gif: the mask's 16 "
                                         f"{lost.replace('32×32', '8×8')}$"):
        read_mask_video(tmp_path / "specks8.gif", num_frames=4, size=8, frame_step=2)  # 4 in each of frames 0, 2, 4, 6


def test_a_video_mask_that_observes_every_pixel_is_warned_of(tmp_path):
    """An all-white video --mask observed every pixel of the clip, leaving nothing to complete, without a word, where
    an images --mask is warned of: the same warning now, as a mask read the other way round (white where to complete)
    is the likely cause. A clip of more pixels than max_context (the default 17 frames of 32x32: 17408 > 4096) was
    warned of twice, first that nothing was left to complete, which was false (13312 pixels are completed), then that
    a random 4096 were used: one warning now says both."""
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "white.png")
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's: 4 frames of 8x8
    with pytest.warns(UserWarning, match=f"^{re.escape(f'mask {tmp_path}')}/white.png: the mask observes all 256 "
                                         r"pixels \(white everywhere\), so nothing is left to complete: white is "
                                         "observed, black completed$"):
        assert VideoDomain().read_mask(tmp_path / "white.png", spec).all()  # [T, H, W], as predict --mask reads it
    spec = VideoDataModule(num_frames=17, size=32, bins="uniform", num_bins=8).spec  # 17408 pixels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        domain = VideoDomain()
        mask = domain.read_mask(tmp_path / "white.png", spec)  # [17, 32, 32]
        pos, _ = domain.context_from_mask(torch.rand(3, *spec.grid_shape), mask)  # [4096, 3], [4096, 3]
    assert [str(w.message) for w in caught] == [
        f"mask {tmp_path / 'white.png'}: the mask observes all 17408 pixels (white everywhere), so S is a random 4096 "
        "of them and the rest completed: white is observed, black completed"]
    assert len(pos) == 4096
    half = np.zeros((16, 16), np.uint8)
    half[:, 8:] = 255
    Image.fromarray(half).save(tmp_path / "half.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mask with pixels to complete is read without a warning
        read_mask_video(tmp_path / "half.png", num_frames=4, size=8)


def test_a_mask_video_black_in_the_frames_the_clip_takes_is_refused_as_black_there(tmp_path):
    """A mask video black (or too dark) in the frames the clip takes but white after them was refused as "all of it
    black", which it was not: only those frames are read. The refusal now says where it is black or dark."""
    late = np.zeros((10, 16, 16, 3), np.uint8)  # [F, H, W, 3]
    late[6:] = 255  # frames 6 to 9 white, after the 4 frames of a clip of 4 (and the 5 of a clip of 3, 2 apart)
    write_video(late, tmp_path / "late.gif", upscale_to=None)
    dim = late.copy()
    dim[:6] = 100  # [F, H, W, 3]: grey 100 where the clip reads it
    write_video(dim, tmp_path / "dim.gif", upscale_to=None)
    black = (r"the mask has no white \(observed\) pixels, all black in the {} frames the clip takes: paint the "
             r"observed pixels white, or leave out --mask to observe --num_context random ones$")
    with pytest.raises(ValueError, match=r"^mask \S+late.gif: " + black.format(4)):
        read_mask_video(tmp_path / "late.gif", num_frames=4, size=8)
    with pytest.raises(ValueError, match=r"^mask \S+late.gif: " + black.format(3)):
        read_mask_video(tmp_path / "late.gif", num_frames=3, size=8, frame_step=2)  # frames 0, 2 and 4
    with pytest.raises(ValueError, match=r"^mask \S+dim.gif: the mask has no white \(observed\) pixels: its grey "
                                         r"levels reach only 100 in the 4 frames the clip takes, below 128: paint "
                                         r"the observed pixels white$"):
        read_mask_video(tmp_path / "dim.gif", num_frames=4, size=8)


def test_a_still_mask_of_the_inputs_shape_read_as_a_strip_is_refused_without_a_shape_warning(tmp_path):
    """A still PNG mask of 16x32, the shape of a portrait clip's frames, is read as a strip of 2 square frames: it was
    warned of as "a 16×16 mask for the 16×32 input" (its frames' size), then refused as that strip. Only the
    refusal, with its remedy, is said."""
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's 4 frames of 8x8
    write_video(np.full((6, 32, 16, 3), 90, np.uint8), tmp_path / "tall.gif", upscale_to=None)  # 16 wide, 32 tall
    mask = np.zeros((32, 16), np.uint8)
    mask[8:24] = 255  # [32, 16]: white across its centre rows
    Image.fromarray(mask).save(tmp_path / "same.png")
    domain = VideoDomain()
    domain.read_input(tmp_path / "tall.gif", spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^mask \S+same.png: a strip of 2 square frames \(16x32 pixels\), as "
                                             r"--input reads one, but the clip needs 1 \(a still mask\) or at least "
                                             r"4: give a strip of 4 frames or more, or a still mask"):
            domain.read_mask(tmp_path / "same.png", spec)


def test_a_mask_video_s_frames_are_those_of_the_clip_of_a_model_with_a_frame_step(tmp_path):
    """A model trained with frame_step=2 reads the input's frames 0, 2, 4, ...; its mask video was read at frames
    0, 1, 2, ..., so each frame's mask was another frame's."""
    frames = np.zeros((9, 16, 16, 3), np.uint8)  # [F, H, W, 3]
    for i in range(9):
        frames[i, : i + 1] = 255  # frame i observes its top i + 1 rows
    path = write_video(frames, tmp_path / "mask.gif", upscale_to=None)
    mask = read_mask_video(path, num_frames=5, size=16, frame_step=2)[0]  # [T, H, W]
    assert [int(m[:, 0].sum()) for m in mask] == [1, 3, 5, 7, 9]  # frames 0, 2, 4, 6 and 8
    spec = VideoDataModule(num_frames=5, size=16, frame_step=2, bins="uniform", num_bins=8).spec  # the model's
    assert torch.equal(VideoDomain().read_mask(path, spec), mask)  # --mask, as --input is read
    with pytest.raises(ValueError, match=r"mask.gif: 9 frames, need 1 \(a still mask\) or at least 11: the clip's 6 "
                                         r"frames are 2 apart; give a mask video of 11 frames or more, or a still "
                                         r"mask \(one picture, used for every frame\)$"):
        read_mask_video(path, num_frames=6, size=16, frame_step=2)
    assert [int(m[:, 0].sum()) for m in read_mask_video(path, num_frames=5, size=16)[0]] == [1, 2, 3, 4, 5]


def test_a_mask_of_another_size_is_read_with_the_line_the_images_domain_prints(tmp_path, capsys):
    """A video --mask of another size or aspect than the model's frames was cropped and resized without a word, where
    an images --mask says what was done: the same line, with how many pixels of the clip are observed. A mask of the
    model's frame size reads silently."""
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's: 4 frames of 8x8
    wide = np.zeros((10, 20), np.uint8)  # [H, W]: 20 wide, 10 tall
    wide[:, 8:12] = 255  # a white band in the centre
    Image.fromarray(wide).save(tmp_path / "wide.png")
    capsys.readouterr()
    mask = VideoDomain().read_mask(tmp_path / "wide.png", spec)  # [T, H, W]
    n = int(mask.sum())
    assert 0 < n < mask.numel() == 4 * 8 * 8
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'wide.png'}: 20×10 cropped to its centre 10×10, "
                                       f"resized to 8×8 and thresholded at grey level 128; {n} of 256 pixels observed "
                                       "(white)\n")  # the resize blurs the band's edges into grey levels
    Image.fromarray(np.ascontiguousarray(wide[:, 5:15])).save(tmp_path / "square.png")
    VideoDomain().read_mask(tmp_path / "square.png", spec)  # 10x10: resized alone
    assert capsys.readouterr().out.startswith(f"[predict] {tmp_path / 'square.png'}: 10×10 resized to 8×8 and ")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "fits.png")
    with pytest.warns(UserWarning, match="observes all 256 pixels"):  # white everywhere: nothing to complete
        assert int(VideoDomain().read_mask(tmp_path / "fits.png", spec).sum()) == 256
    assert capsys.readouterr().out == ""


def test_a_colour_or_grey_level_mask_says_it_is_thresholded_as_the_images_domain_does(tmp_path, capsys):
    """A --mask of the model's frame size holding colours or grey levels between black and white (a clip given as its
    own mask, an mp4's compression) was read as grey and thresholded without a word, where an images --mask says so:
    the same line, naming the file, the threshold and how many pixels are observed. A black-and-white mask of the
    model's size still reads silently."""
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's: 4 frames of 8x8
    colour = np.zeros((4, 8, 8, 3), np.uint8)  # [F, H, W, 3]
    colour[:, :, :4] = (250, 200, 40)  # a yellow left half: observed (its grey level 197 is past 128)
    colour[:, :, 4:] = (20, 60, 200)  # a blue right half: not observed
    path = write_video(colour, tmp_path / "colour.gif", upscale_to=None)
    capsys.readouterr()
    mask = VideoDomain().read_mask(path, spec)  # [T, H, W]
    assert mask[:, :, :4].all() and not mask[:, :, 4:].any()
    assert capsys.readouterr().out == (f"[predict] {path}: 8×8 RGB read as grey and thresholded at grey level 128; "
                                       "128 of 256 pixels observed (white)\n")
    grey = np.zeros((8, 8), np.uint8)  # [H, W]
    grey[:, :3], grey[:, 3] = 255, 100  # a column of grey 100: not observed
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert int(VideoDomain().read_mask(tmp_path / "grey.png", spec).sum()) == 4 * 8 * 3
    assert capsys.readouterr().out == (f"[predict] {tmp_path / 'grey.png'}: 8×8 thresholded at grey level 128; "
                                       "96 of 256 pixels observed (white)\n")
    grey[:, 3] = 0
    Image.fromarray(grey).save(tmp_path / "black_white.png")
    VideoDomain().read_mask(tmp_path / "black_white.png", spec)
    assert capsys.readouterr().out == ""


def test_a_saturated_colour_mask_says_it_is_thresholded(tmp_path, capsys):
    """A mask of pure red or yellow beside black or white holds only the levels 0 and 255 in each colour, and the note
    "thresholded" was decided on those: such a mask was read as grey (red 76, yellow 226) and thresholded without
    saying so. It is decided on the grey levels, as an images --mask's is."""
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's: 4 frames of 8x8
    for name, left, right, observed in (("red", (255, 0, 0), (255, 255, 255), 128),
                                        ("yellow", (255, 255, 0), (0, 0, 0), 128)):
        frames = np.zeros((4, 8, 8, 3), np.uint8)  # [F, H, W, 3]
        frames[:, :, :4], frames[:, :, 4:] = left, right
        path = write_video(frames, tmp_path / f"{name}.gif", upscale_to=None)
        capsys.readouterr()
        mask = VideoDomain().read_mask(path, spec)  # [T, H, W]
        assert int(mask.sum()) == observed and mask[:, :, 4:].all() == (name == "red")
        assert capsys.readouterr().out == (f"[predict] {path}: 8×8 RGB read as grey and thresholded at grey level "
                                           f"128; {observed} of 256 pixels observed (white)\n")


def test_a_green_mask_observes_the_pixels_an_images_mask_does(tmp_path, capsys):
    """A colour mask was read as grey by the mean of red, green and blue (pure green: 85, unobserved) where an images
    --mask reads Pillow's grey (0.299 R + 0.587 G + 0.114 B; pure green: 150, observed): a half-green mask observed
    32 of 64 pixels in images and was refused as "no white (observed) pixel" in video. Both read one grey now."""
    from domains.images.data import ImageDataModule
    from domains.images.domain import ImageDomain

    picture = np.zeros((8, 8, 3), np.uint8)  # [H, W, 3]
    picture[:, :4] = (0, 255, 0)  # a green left half, black beside it
    Image.fromarray(picture).save(tmp_path / "green.png")
    images = int(ImageDomain().read_mask(tmp_path / "green.png", ImageDataModule("digits").spec).sum())  # of 8x8
    video = VideoDomain().read_mask(tmp_path / "green.png",
                                    VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec)
    assert images == 32 and [int(frame.sum()) for frame in video] == [images] * 4  # [T, H, W]
    said = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] for line in said] == [
        "8×8 RGB read as grey and thresholded at grey level 128; 32 of 64 pixels observed (white)",
        "8×8 RGB read as grey and thresholded at grey level 128; 128 of 256 pixels observed (white)"]


def test_a_tinyvideos_strip_to_complete_is_read_as_a_folder_reads_it(tmp_path):
    """A strip of square frames (TinyVideos' JPEGs, which DATA=folder trains on) was refused by make sample as "a still
    image", with the advice to complete a picture with DOMAIN=images."""
    frames = smooth_frames(10, 24, 24)  # [10, 24, 24, 3]
    (tmp_path / "videos").mkdir()
    iio.imwrite(tmp_path / "videos" / "0000.png", frames.reshape(10 * 24, 24, 3))  # frame 0 on top
    clip = load_user_video(tmp_path / "videos" / "0000.png", num_frames=8, size=12)  # [3, 8, 12, 12]
    folder = read_video_folder(tmp_path / "videos", num_frames=8, size=12, progress=False)
    assert clip.shape == (3, 8, 12, 12)
    torch.testing.assert_close(clip, torch.from_numpy(folder.clips[0]).permute(3, 0, 1, 2).float() / 255)
    with pytest.raises(ValueError, match="0000.png: 10 frames; a clip of 12 frames"):
        load_user_video(tmp_path / "videos" / "0000.png", num_frames=12, size=12)
    iio.imwrite(tmp_path / "tall.png", np.zeros((50, 24, 3), np.uint8))  # 50 rows of 24: no whole frames
    with pytest.raises(ValueError, match=r"tall.png: a still image \(one frame\), not a video, and a 24x50 picture is "
                                         r"not a strip of square frames"):
        load_user_video(tmp_path / "tall.png", num_frames=8, size=12)


# ---- pictures and metrics --------------------------------------------------------------------------
def test_frame_strip_and_context_video():
    video = torch.rand(3, 17, 8, 10)
    strip = frame_strip(video, every=2)  # frames 0, 2, ..., 16 -> 9 frames, 1 px gaps
    assert strip.shape == (8, 9 * 10 + 8, 3) and strip.dtype == np.uint8
    assert np.array_equal(strip[:, 11:21], (video[:, 2].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    grid = grid_positions((17, 8, 10))  # [N, 3]
    idx = torch.randperm(len(grid))[:50]
    ctx_pos, ctx_val = grid[idx], video.flatten(1).T[idx]  # [K, 3] each
    near = context_video(ctx_pos, ctx_val, (17, 8, 10))
    assert near.shape == video.shape
    assert torch.allclose(near.flatten(1).T[idx], ctx_val)  # context voxels show their own value
    assert set(map(tuple, near.flatten(1).T.tolist())) <= set(map(tuple, ctx_val.tolist()))
    pts = context_video(ctx_pos, ctx_val, (17, 8, 10), mode="points")
    assert torch.allclose(pts.flatten(1).T[idx], ctx_val) and (pts == 0.5).all(0).sum() == len(grid) - 50


def test_figure_and_side_by_side(tmp_path):
    gt = torch.rand(3, 6, 12, 12)
    png = figure_video_samples(gt, gt * 0.5, [gt, gt.flip(-1), gt], gt * 0.9, tmp_path / "fig.png", every=2)
    img = iio.imread(png)
    assert img.shape[0] == 6 * 135 + 33  # six rows (truth, S, 3 samples, mean) of 0.9 in, 0.22 in of frame labels
    assert img.shape[1] > 3 * 12 and img[..., :3].std() > 10
    out = write_side_by_side([gt, gt, gt], tmp_path / "sbs.gif", gap=2, upscale_to=None)
    back = read_video_file(out)
    assert back.shape == (6, 12, 3 * 12 + 2 * 2, 3)
    assert (back[:, :, 12:14] == 255).all()  # the white gap
    with pytest.raises(ValueError, match="differ in shape"):
        write_side_by_side([gt, gt[:, :3]], tmp_path / "bad.gif")


def test_the_frame_rows_say_which_frame_each_column_is_and_what_each_row_is(tmp_path, monkeypatch):
    """Fig. 10 shows every second frame: the columns are labelled with their frame index, in time order, the rows
    with the names the other domains use, and the title gives |S|."""
    from matplotlib.figure import Figure

    saved, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.append(fig) or save(fig, path, **kw))
    gt = torch.rand(3, 7, 12, 12)  # [3, T, H, W]
    figure_video_samples(gt, gt, [gt, gt], gt, tmp_path / "fig.png", every=2, title="|S| = 64")
    fig = saved[0]
    assert frame_labels(7, 2) == ["frame 0", "frame 2", "frame 4", "frame 6"]
    top = fig.axes[0]
    assert [t.get_text() for t in top.get_xticklabels()] == frame_labels(7, 2)
    assert list(top.get_xticks()) == [j * 13 + 5.5 for j in range(4)]  # each label over its frame's centre
    assert [ax.get_ylabel() for ax in fig.axes] == ["ground truth", "S (NN fill)", "sample 1", "sample 2", "mean"]
    assert fig.texts[0].get_text() == "|S| = 64"


@pytest.mark.parametrize("frames, side", [(3, 8), (2, 16)])
def test_the_title_over_clips_of_few_narrow_frames_shows_whole(tmp_path, monkeypatch, frames, side):
    """Fig. 10 of clips of 3 frames of 8×8 (2 shown) is 3 inches wide: a prediction's title, "|S| = 16; samples: N′ = 2
    values drawn, the rest their mean", ran past both its sides and was cut. It wraps to the figure's width, each
    line whole, above the frame labels, and the figure grows by the lines it adds. With one frame shown (2 frames),
    the row names ("ground truth") were cut at the left too: they keep the room the figure has for them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    saved, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, path, **kw: saved.append(fig) or save(fig, path, **kw))
    gt = torch.rand(3, frames, side, side)  # [3, T, H, W]
    title = "|S| = 16; samples: N′ = 2 values drawn, the rest their mean"
    png = figure_video_samples(gt, gt, [gt, gt], gt, tmp_path / "fig.png", every=2, title=title)
    fig = saved[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    shown = fig.texts[0]
    assert " ".join(shown.get_text().split()) == title  # every word, on its lines
    labels = fig.axes[0].get_xticklabels()
    for text in [shown, *labels, *(ax.yaxis.label for ax in fig.axes)]:
        box = text.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, (text.get_text(), box)
    assert shown.get_window_extent(renderer).y0 > max(t.get_window_extent(renderer).y1 for t in labels)
    lines = shown.get_text().count("\n") + 1
    # five rows of 0.9 in, the frame labels (0.22 in) and the title (0.3 in, 0.15 in each line more) at 150 dpi
    assert lines > 1 and abs(iio.imread(png).shape[0] - 150 * (5 * 0.9 + 0.22 + 0.3 + 0.15 * (lines - 1))) < 1


def test_side_by_side_clips_are_named_over_each_clip(tmp_path):
    """The logged mp4/GIF put truth, S, samples and mean side by side with nothing to tell them apart: a band
    above names each clip, over its own columns, the same in every frame, and the clips keep their pixels below."""
    from domains.video.visualize import LABEL_H, label_band

    band = label_band(["ground truth", "mean"], 24, 2)  # [LABEL_H, 50, 3]
    assert band.shape == (LABEL_H, 50, 3) and band.dtype == np.uint8
    inked = (band.min(axis=2) < 128).any(axis=0)  # [50] columns with text
    assert inked[:24].any() and inked[26:].any() and not inked[24:26].any()  # each label over its own tile

    black, white = torch.zeros(3, 4, 8, 8), torch.ones(3, 4, 8, 8)  # [3, T, H, W]
    out = write_side_by_side([black, white], tmp_path / "sbs.gif", gap=2, upscale_to=24, labels=["a", "b"])
    back = read_video_file(out)  # [T, H', W', 3]
    assert back.shape == (4, LABEL_H + 24, 2 * 24 + 2, 3)
    assert (back[:, :LABEL_H] == back[:1, :LABEL_H]).all()  # the band does not change over time
    assert (back[:, LABEL_H:, :24] == 0).all() and (back[:, LABEL_H:, 26:] == 255).all()
    with pytest.raises(ValueError, match="1 labels for 2 videos"):
        write_side_by_side([black, white], tmp_path / "bad.gif", labels=["a"])


def test_psnr_and_ssim_per_frame():
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 4, 16, 16, generator=gen) * 0.5 + 0.25
    same_psnr, same_ssim = psnr_per_frame(gt, gt), ssim_per_frame(gt, gt)
    assert same_psnr.shape == same_ssim.shape == (2,)
    assert torch.isfinite(same_psnr).all() and (same_psnr >= 99).all()
    assert torch.allclose(same_ssim, torch.ones(2), atol=1e-5)
    noisy = gt + 0.05 * torch.randn(gt.shape, generator=gen)
    mse = ((noisy - gt) ** 2).mean(dim=(1, 3, 4))  # [B, T]
    assert torch.allclose(psnr_per_frame(noisy, gt), (10 * torch.log10(1 / mse)).mean(1), atol=1e-3)
    worse = gt + 0.2 * torch.randn(gt.shape, generator=gen)
    assert (ssim_per_frame(worse, gt) < ssim_per_frame(noisy, gt)).all()
    with pytest.raises(ValueError, match="B, 3, T, H, W"):
        psnr_per_frame(gt[0], gt[0])


def test_video_scores_clamp_the_prediction_to_the_range_it_is_shown_in():
    """A prediction beyond [0, 1] (a Gaussian's draw) is shown clamped; its PSNR and SSIM score what is shown."""
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 3, 4, 16, 16, generator=gen)  # [B, 3, T, H, W]
    pred = gt + 0.6 * torch.randn(gt.shape, generator=gen)  # [B, 3, T, H, W], much of it outside [0, 1]
    assert ((pred < 0) | (pred > 1)).float().mean() > 0.1
    shown = pred.clamp(0, 1)
    assert torch.allclose(psnr_per_frame(pred, gt), psnr_per_frame(shown, gt))
    assert torch.allclose(ssim_per_frame(pred, gt), ssim_per_frame(shown, gt))
    mse = ((shown - gt) ** 2).mean(dim=(1, 3, 4))  # [B, T]
    assert torch.allclose(psnr_per_frame(pred, gt), (10 * torch.log10(1 / mse)).mean(1), atol=1e-3)


def test_metric_notes_say_what_each_column_of_the_rows_scores():
    """metrics.json's metric_notes named nn_ alone: psnr (the mean video) and sample_psnr (videos whose first
    n_autoregressive values are drawn, the rest their mean, so close to the mean's score) were left to guess. The
    sample_ columns are the mean over a clip's samples, as the notes say."""
    notes = VideoDomain().summary([{"num_context": 8, "psnr": 20.0, "nn_psnr": 19.0}])["metric_notes"]
    assert "columns: psnr, ssim: the mean video; sample_: the sampled videos" in notes
    assert "n_autoregressive values drawn, the others their mean" in notes
    assert "sample_: the sampled videos (n_autoregressive values drawn, the others their mean), averaged over " \
           "num_samples, on the first sample_clips test clips" in notes
    gt = torch.rand(2, 3, 2, 8, 8)  # [B, 3, T, H, W]
    samples = (gt[:, None] + 0.1 * torch.randn(2, 3, 3, 2, 8, 8)).clamp(0, 1)  # [B, S, 3, T, H, W]
    samples[1] = float("nan")  # a clip not sampled
    item = SimpleNamespace(signal=gt, mean=gt, nn=gt, samples=samples, as_grid=lambda v: v)  # values on the grid
    scores = VideoDomain().metrics(item)
    each = torch.stack([psnr_per_frame(samples[:1, s], gt[:1]) for s in range(3)])  # [S] the first clip's samples
    assert torch.allclose(scores["sample_psnr"][:1], each.mean()) and scores["sample_psnr"][1].isnan()


# ---- the shared beach clips -----------------------------------------------------------------------
def test_shared_beach_clips():
    beach = SHARED / "tinyvideos_beach_gt"
    if not (beach / "beach_gt_64x64x17.npz").is_file():
        pytest.skip(f"shared beach clips not found under {beach}")
    vids = read_video_npz(beach / "beach_gt_64x64x17.npz")
    assert vids.shape == (8, 17, 64, 64, 3)
    gif = read_video_file(beach / "beach_gt_00.gif")
    assert gif.shape == (17, 64, 64, 3)
    assert np.abs(gif.astype(int) - vids[0]).mean() < 2  # the npz holds the GIF's frames
    dm = VideoDataModule(dataset="npz", root=str(beach / "beach_gt_64x64x17.npz"), size=64, splits=(6, 1, 1),
                         num_bins=32)
    assert dm.spec.grid_shape == (17, 64, 64) and dm.spec.num_bins == 32
    folder = read_video_folder(beach, num_frames=17, size=64, progress=False)
    assert folder.clips.shape == (8, 17, 64, 64, 3) and folder.n_skipped_short == folder.n_skipped_corrupt == 0


def test_on_grid_reads_a_clip_on_another_grid():
    video = torch.rand(3, 2, 4, 5)
    assert on_grid(video, (2, 4, 5)) is video
    fine = on_grid(video, (2, 7, 9))  # every other row and column is a grid point of the clip
    assert fine.shape == (3, 2, 7, 9)
    assert torch.allclose(fine[:, :, ::2, ::2], video, atol=1e-6)
    assert torch.allclose(fine[:, :, 1, 0], (video[:, :, 0, 0] + video[:, :, 1, 0]) / 2, atol=1e-6)  # halfway


def test_a_folder_decoded_at_once_holds_what_its_clips_read_one_by_one(tmp_path):
    """FolderClips.decoded (a folder that fits in in_memory_gb) decodes each strip once and cuts all its clips; they
    must be the clips that reading them one at a time gives, also where max_clips_per_video leaves some out."""
    frames = np.random.default_rng(1).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)  # [12, 16, 16, 3]
    iio.imwrite(tmp_path / "a.png", frames.reshape(12 * 16, 16, 3))  # 12 frames: 3 clips of 4, 2 kept
    write_mp4(tmp_path / "b.mp4", smooth_frames(20))  # a video file: its clips decoded at listing
    out = read_video_folder(tmp_path, num_frames=4, size=8, stride=3, max_clips_per_video=2, progress=False)
    assert out.clips.strips == 1 and out.clips.nbytes == len(out.clips) * 4 * 8 * 8 * 3
    whole = out.clips.decoded(progress=False)  # [N, T, H, W, 3]
    assert whole.shape == out.clips.shape == (4, 4, 8, 8, 3)
    np.testing.assert_array_equal(whole, np.stack([out.clips[i] for i in range(len(out.clips))]))


def test_a_long_video_is_decoded_only_as_far_as_its_clips_reach(tmp_path, monkeypatch):
    """With max_clips_per_video (configs/video/folder.yaml: 32 clips every 8 frames, 265 frames), a video file is read
    up to the last frame its clips use, and a prediction's clip up to its own: a folder of long recordings was decoded
    to the end of each file (30 s of 720p took 6.6 s for the 9 s its clips use)."""
    import domains.video.io as vio

    write_mp4(tmp_path / "long.mp4", smooth_frames(60))
    whole = read_video_folder(tmp_path, num_frames=4, size=8, stride=3, progress=False)  # every clip: 19
    decoded, real = [], vio._iter_frames

    def counting(path, size):
        for frame in real(path, size):
            decoded.append(frame)
            yield frame

    monkeypatch.setattr(vio, "_iter_frames", counting)
    out = read_video_folder(tmp_path, num_frames=4, size=8, stride=3, max_clips_per_video=2, progress=False)
    assert len(decoded) == 7  # the clips of frames 0-3 and 3-6
    assert len(out.clips) == 2 and len(whole.clips) == 19
    np.testing.assert_array_equal(np.stack([out.clips[i] for i in range(2)]),
                                  np.stack([whole.clips[i] for i in range(2)]))  # [2, 4, 8, 8, 3]
    decoded.clear()
    clip = load_user_video(tmp_path / "long.mp4", num_frames=4, size=8, start=5)  # [3, 4, 8, 8]
    assert len(decoded) == 9 and clip.shape == (3, 4, 8, 8)
    full = torch.from_numpy(read_video_file(tmp_path / "long.mp4", size=8)[5:9]).permute(3, 0, 1, 2) / 255
    assert torch.equal(clip, full)


def test_a_clip_from_a_negative_frame_is_refused_in_its_own_words(tmp_path):
    """A negative start was refused with the frames read, which stop where the clip ends: "4 frames; a clip of 4
    frames (step 1) from frame -1 needs 3" of a 60-frame video (and "needs 3" was never the trouble)."""
    write_mp4(tmp_path / "long.mp4", smooth_frames(60))
    with pytest.raises(ValueError, match=r"long\.mp4: start must be >= 0 \(the clip's first frame\), got -1$"):
        load_user_video(tmp_path / "long.mp4", num_frames=4, size=8, start=-1)


def test_a_video_shorter_than_the_clip_is_refused_saying_how_long_a_video_to_give(tmp_path):
    """make sample of a 10-frame mp4 with a 17-frame model said "10 frames; a clip of 17 frames (step 1) from frame 0
    needs 17": a step and a start the user never gave, and no word on what to give instead."""
    write_mp4(tmp_path / "short.mp4", smooth_frames(10))
    with pytest.raises(ValueError, match=r"short\.mp4: 10 frames; a clip of 17 frames needs 17: give a video of 17 "
                                         r"frames or more$"):
        load_user_video(tmp_path / "short.mp4", num_frames=17, size=8)
    with pytest.raises(ValueError, match=r"short\.mp4: 10 frames; a clip of 6 frames 2 apart needs 11: give a video "
                                         r"of 11 frames or more$"):
        load_user_video(tmp_path / "short.mp4", num_frames=6, size=8, frame_step=2)
    with pytest.raises(ValueError, match=r"short\.mp4: 10 frames; a clip of 4 frames from frame 8 needs 12: give a "
                                         r"video of 12 frames or more, or an earlier start$"):
        load_user_video(tmp_path / "short.mp4", num_frames=4, size=8, start=8)


def test_an_npz_of_several_clips_to_complete_says_which_it_completes(tmp_path):
    """make sample of an .npz of 8 clips (DATA=beach's file) completed its first clip without a word: which clip was
    meant, and how to give another, went unsaid."""
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 8, 8, 3), dtype=np.uint8)  # [N, T, H, W, 3]
    np.savez(tmp_path / "clips.npz", videos=clips)
    with pytest.warns(UserWarning, match=r"clips\.npz holds 3 clips: completing the first \(clip 0\); to complete "
                                         r"another, give its index as --model\.domain\.init_args\.input_clip=1 "
                                         r"\(0 to 2\)$"):
        clip = load_user_video(tmp_path / "clips.npz", num_frames=4, size=8)
    assert torch.equal(clip, torch.from_numpy(clips[0]).permute(3, 0, 1, 2).float() / 255)
    np.savez(tmp_path / "one.npz", videos=clips[1:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one clip: nothing to say
        load_user_video(tmp_path / "one.npz", num_frames=4, size=8)


def test_the_clip_of_an_npz_to_complete_is_picked_by_its_index(tmp_path):
    """An .npz of several clips gave its first to complete, and no option picked another: the remedy was to save the
    clip wanted alone. ``clip`` (the domain's input_clip) picks one, without a word; one it does not hold is refused
    naming those it does, and the option given for a file of one video is refused rather than left unread."""
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 8, 8, 3), dtype=np.uint8)  # [N, T, H, W, 3]
    np.savez(tmp_path / "clips.npz", videos=clips)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # picked: nothing to say
        clip = load_user_video(tmp_path / "clips.npz", num_frames=4, size=8, clip=2)
    assert torch.equal(clip, torch.from_numpy(clips[2]).permute(3, 0, 1, 2).float() / 255)
    with pytest.raises(ValueError, match=r"clips\.npz holds 3 clips, 0 to 2: --model\.domain\.init_args\.input_clip=3 "
                                         r"is none of them; give one of 0 to 2$"):
        load_user_video(tmp_path / "clips.npz", num_frames=4, size=8, clip=3)
    np.savez(tmp_path / "one.npz", videos=clips[1:2])
    with pytest.raises(ValueError, match=r"one\.npz holds 1 clip: --model\.domain\.init_args\.input_clip=1 is none "
                                         r"of them; give 0, or leave input_clip out$"):
        load_user_video(tmp_path / "one.npz", num_frames=4, size=8, clip=1)
    video = write_video(clips[0], tmp_path / "v.gif", upscale_to=None)
    with pytest.raises(ValueError, match=r"v\.gif: --model\.domain\.init_args\.input_clip picks a clip of an \.npz "
                                         r"of clips, but a \.gif file holds one video: leave input_clip out$"):
        load_user_video(video, num_frames=4, size=8, clip=0)
    with pytest.raises(ValueError, match=r"^VideoDomain: input_clip must be >= 0 \(the clip of an --input \.npz to "
                                         r"complete, counted from 0; null: the first\), got -1$"):
        VideoDomain(input_clip=-1)


def _noise_gifs(folder: Path, videos: int, frames: int, side: int) -> None:
    """GIF video files of random frames [frames, side, side, 3]."""
    rng = np.random.default_rng(0)
    for v in range(videos):
        iio.imwrite(folder / f"v{v}.gif", rng.integers(0, 256, (frames, side, side, 3), dtype=np.uint8),
                    plugin="pillow", duration=100, loop=0)


def test_a_folder_of_video_files_that_fits_is_held_once(tmp_path):
    """A folder that fits in in_memory_gb is served from the one array it is decoded into; the clips of its video
    files, held decoded while it was listed, were kept beside that array for the whole fit (twice the memory)."""
    import gc
    import tracemalloc

    _noise_gifs(tmp_path, videos=3, frames=40, side=32)
    tracemalloc.start()
    try:
        dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=32, stride=1,
                             splits=(-1, 4, 4), split_by="clip", num_bins=8)
        dm.setup("fit")
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(dm.dataset("train")) == 103
    assert held < 1.5 * 111 * 4 * 32 * 32 * 3  # 111 clips of [4, 32, 32, 3] uint8, 1.4 MB; twice that before


def test_video_file_bins_do_not_depend_on_in_memory_gb(tmp_path):
    """Past in_memory_gb the bins are fitted on pixels of at most KMEANS_CLIPS clips, since each clip of a strip read
    is decoded; a video file's clips are held decoded, and its bins are fitted on all its training clips either way."""
    _noise_gifs(tmp_path, videos=3, frames=100, side=8)  # 297 clips of 2 frames: more than KMEANS_CLIPS
    kwargs = dict(dataset="folder", root=str(tmp_path), num_frames=2, size=8, stride=1, splits=(-1, 4, 4),
                  split_by="clip", num_bins=8)
    decoded = VideoDataModule(**kwargs).spec.bin_centres()  # [8, 3]
    torch.testing.assert_close(VideoDataModule(**kwargs, in_memory_gb=0).spec.bin_centres(), decoded, rtol=0, atol=0)


class _ClipsOneByOne:
    """Clips [N, T, H, W, 3] read one at a time, as a folder's FolderClips are."""

    def __init__(self, clips: np.ndarray):
        self.clips = clips  # [N, T, H, W, 3]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.clips[i]  # [T, H, W, 3]


def test_bins_of_clips_in_memory_are_gathered_at_once_as_read_clip_by_clip(monkeypatch):
    """Clips held in memory give their bins' pixels in one gather; reading them clip by clip (a folder's lazy clips),
    a Python loop over every training clip, gives the same pixels and so the same centres."""
    import domains.video.data as video_data

    loops = []
    monkeypatch.setattr(video_data, "loop_progress", lambda reads, *args, **kw: loops.append(args[0]) or reads)
    kwargs = dict(num_clips=40, splits=(30, 5, 5), num_bins=16, num_frames=3, size=(8, 12), seed=2)
    held = VideoDataModule(**kwargs)
    gathered = held._kmeans()  # [16, 3]
    assert loops == []  # no clip read on its own
    one_by_one = VideoDataModule(**kwargs)
    one_by_one._prepare()
    one_by_one._clips = _ClipsOneByOne(one_by_one._clips.numpy())
    torch.testing.assert_close(one_by_one._kmeans(), gathered, rtol=0, atol=0)
    assert loops == ["k-means bins: reading clips"]


def test_a_video_file_with_a_long_name_is_cached_too(tmp_path):
    """A cache entry was named by the whole file name and its key, so a file named with 200 bytes or more (a video
    saved under its title) made a name past the file system's 255 bytes: never cached, with a warning at every start.
    The entry keeps the name's start; two long names alike there still get their own entries (the key is the bytes)."""
    from domains.video.file_cache import DecodedVideos

    names = ["é" * 110 + "a.gif", "é" * 110 + "b.gif"]  # 225 bytes each, alike in their first 220
    for k, name in enumerate(names):
        iio.imwrite(tmp_path / name, smooth_frames(5 + k), plugin="pillow", duration=100, loop=0)
    cache = DecodedVideos(tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="decoded videos not cached")
        got = [cache.read(tmp_path / name, (8, 8)) for name in names]  # [F, 8, 8, 3] each
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    for name, frames in zip(names, got):
        np.testing.assert_array_equal(DecodedVideos(tmp_path / "cache").read(tmp_path / name, (8, 8)), frames)
        np.testing.assert_array_equal(frames, read_video_file(tmp_path / name, size=(8, 8)))


def test_synthetic_clips_take_every_frame_step_th_frame_as_clips_read_from_files_do():
    """frame_step was ignored by synthetic clips (the same clips at every step), while the run recorded it and a
    prediction read its input clip at that step: a clip now holds frames 0, s, 2s, ... of the same moving digits."""
    stepped = VideoDataModule(dataset="synthetic", num_clips=6, num_frames=5, frame_step=2, size=16)._load()[0]
    dense = VideoDataModule(dataset="synthetic", num_clips=6, num_frames=9, size=16)._load()[0]
    assert stepped.shape == (6, 5, 16, 16, 3)  # [N, T, H, W, 3]
    np.testing.assert_array_equal(stepped, dense[:, ::2])


def test_synthetic_clips_of_another_seed_or_count_share_no_item_with_the_checkpoint_s():
    """Synthetic clips are drawn by the data seed and their count: a checkpoint trained with another seed (or count)
    never saw one of this run's clips, yet the warning said the test split "may hold items it trained on", and a resume
    that it may train on its own validation and test items. Other split sizes of the same clips still move clips
    between splits, and keep the warning."""
    from pixeltransformer.data_mismatch import split_mismatch

    dm = VideoDataModule(dataset="synthetic", num_clips=12, num_frames=4, size=8, splits=(8, 2, 2))
    mine, seed_1 = moving_digits(12, 4, 8, seed=0), moving_digits(12, 4, 8, seed=1)  # [12, 4, 8, 8, 3] each
    assert not any(np.array_equal(a, b) for a in mine for b in seed_1)

    def note(resume: bool = False, **trained) -> str:
        return split_mismatch({"VideoDataModule": {"split_options": {**dm.split_options(), **trained}}}, dm, resume)

    for other in ({"seed": 1}, {"num_clips": 16}, {"seed": 1, "splits": (6, 3, 3)}):
        assert "none of them its training items" in note(**other), other
        resumed = note(True, **other)
        assert "it now trains on other items than its own, never on its validation and test items" in resumed, other
    assert "may then differ from its own and hold items it trained on" in note(splits=(6, 3, 3))
    assert "it may now train on its own validation and test items" in note(True, splits=(6, 3, 3))


def test_a_video_file_the_cache_cannot_read_is_read_as_without_the_cache(tmp_path, monkeypatch):
    """The cache reads a file's bytes for its key; a file it may not read (no read permission) ended the whole folder's
    read with a PermissionError, where it was decoded, or skipped with a warning, as every file the decoder refuses
    is. It is now read as without the cache, and not cached."""
    import pixeltransformer.digests as digests

    write_mp4(tmp_path / "a.mp4", smooth_frames(12))
    iio.imwrite(tmp_path / "b.gif", smooth_frames(9), plugin="pillow", duration=100, loop=0)
    digest = digests.file_digest

    def refusing(path, *args):
        if Path(path).name == "b.gif":
            raise PermissionError(13, "Permission denied", str(path))
        return digest(path, *args)

    monkeypatch.setattr(digests, "file_digest", refusing)
    dm = VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=4, size=8, stride=4, splits=(-1, 1, 1),
                         split_by="clip", bins="uniform", num_bins=8, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    assert [p.name for p in dm.folder_stats.files] == ["a.mp4", "b.gif"]
    assert [p.name.split("_")[0] for p in (tmp_path / "cache").glob("*.npy")] == ["a"]


def test_another_split_by_moves_only_clips_drawn_from_one_pool(tmp_path):
    """Videos in train/ and test/ folders: the test split is the test folder's clips, whole, however they are grouped,
    so a test given another split_by than its checkpoint's reads the same clips; it warned that its test split "may
    then hold other items than its own". Validation, drawn from train/, is grouped by split_by and moves with it."""
    from pixeltransformer.data_mismatch import split_mismatch

    for folder in ("train", "test"):
        (tmp_path / folder).mkdir()
        _noise_gifs(tmp_path / folder, videos=3, frames=8, side=8)  # 3 videos of 4 clips of 2 frames

    def module(split_by: str) -> VideoDataModule:
        return VideoDataModule(dataset="folder", root=str(tmp_path), num_frames=2, size=8, stride=2, splits=(-1, 2, -1),
                               split_by=split_by, num_bins=8, cache_dir=str(tmp_path / "cache"))

    saved = {"VideoDataModule": {"split_options": module("video").split_options()}}
    dm = module("clip")
    assert dm.same_splits({"split_by": "video"}, ("test",)) and not dm.same_splits({"split_by": "video"}, ("val",))
    assert split_mismatch(saved, dm, reads=("test",)) is None
    assert "the validation split may then differ from its own" in split_mismatch(saved, dm, reads=("val",))
    assert "may now train on its own validation items" in split_mismatch(saved, dm, resume=True)


def test_a_folder_whose_few_videos_val_and_test_take_whole_names_why_train_is_empty(tmp_path):
    """Two TinyVideos-style folders of strips are two videos: val and test each take one whole, so nothing is left to
    train on; the error says so and what to change, not only that the train split is empty."""
    for v in range(2):
        (tmp_path / "beach" / f"{v:04d}").mkdir(parents=True)
        for c in range(3):
            iio.imwrite(tmp_path / "beach" / f"{v:04d}" / f"{c:04d}.png", np.full((8 * 8, 8, 3), 40 + 90 * v, np.uint8))
    cause = (r": \S+'s 2 videos went whole to val \(3 clips\) and test \(3 clips\), as a video's clips stay in one "
             r"split \(a folder of strips is one video\); add videos, or give --data.init_args.split_by=clip$")
    options = dict(dataset="folder", root=str(tmp_path), num_frames=8, size=8, splits=(-1, 2, 2), num_bins=8)
    with pytest.raises(ValueError, match=r"^VideoDataModule: the train split is empty" + cause):
        VideoDataModule(**options).setup("fit")
    with pytest.raises(ValueError, match=r"^VideoDataModule: the train split is empty, no pixels to fit k-means bins "
                                         r"on" + cause):
        VideoDataModule(**options).spec  # what a fit asks first
    VideoDataModule(**options, split_by="clip").setup("fit")  # the way out it names


def test_a_folder_of_videos_is_named_by_its_last_part_and_synthetic_clips_by_nothing(tmp_path):
    """The module's spec names the folder or .npz the clips are read from (not its whole path, which moving the data
    changes); synthetic clips name none, also where a root is given, which they do not read."""
    from pixeltransformer.datamodule import module_spec

    (tmp_path / "clips" / "natural").mkdir(parents=True)
    for name in ("a", "b"):
        write_mp4(tmp_path / "clips" / "natural" / f"{name}.mp4", smooth_frames(4))  # 10 fps, read as the spec is
    folder = VideoDataModule("folder", root=str(tmp_path / "clips" / "natural"), num_frames=4, size=16,
                             splits=(-1, 1, 0), bins="uniform", num_bins=8)
    assert module_spec(folder).extra == {"frame_step": 1, "fps": 10.0, "source": "natural"}
    npz = VideoDataModule("npz", root=str(tmp_path / "beach.npz"), bins="uniform", num_bins=8)
    assert module_spec(npz).extra["source"] == "beach.npz"
    synthetic = VideoDataModule("synthetic", root=str(tmp_path / "unread"), bins="uniform", num_bins=8)
    assert "source" not in module_spec(synthetic).extra


@pytest.mark.parametrize("fps, shown", [(0.0, "0"), (-10.0, "-10"), (math.inf, "inf"), (0, "0")])
def test_a_frame_rate_of_zero_or_below_is_refused_naming_the_option(fps, shown):
    """The videos' frame rate, which the pictures play at, is a number of frames a second above 0: null is the rate
    the files record. The command line gives a float (`--data.init_args.fps=0` is 0.0), said as docs/errors.md
    writes it, `got 0`."""
    with pytest.raises(ValueError, match=rf"^VideoDataModule: fps must be a number > 0 \(null: the rate its files "
                                         rf"record\), got {shown}$"):
        VideoDataModule(fps=fps)


@pytest.mark.parametrize("bins", ["kmeans", "uniform"])
def test_clips_of_one_colour_are_refused_as_pictures_are(tmp_path, bins):
    """Black video files: k-means bins failed with advice to set num_bins to at most 1, and uniform ones trained on
    targets that never change. A first clip of one colour alone (a fade from black) is kept."""
    for i in range(2):
        write_mp4(tmp_path / f"black{i}.mp4", np.zeros((12, 16, 16, 3), np.uint8))
    options = dict(dataset="folder", root=str(tmp_path), num_frames=4, size=8, splits=(-1, 1, 1), bins=bins,
                   num_bins=8)
    with pytest.raises(ValueError, match=rf"^{tmp_path}: every pixel of its 6 clips is \(0, 0, 0\) of 255: clips of "
                                         r"one colour leave nothing to learn$"):
        VideoDataModule(**options).setup("fit")
    with pytest.raises(ValueError, match=r"every pixel of its 6 clips is \(0, 0, 0\)"):  # said before split sizes
        VideoDataModule(**{**options, "splits": (4, 4, 4), "split_by": "clip"}).setup("fit")
    clips = np.zeros((1, 12, 8, 8, 3), np.uint8)  # [N, T, H, W, 3]
    clips[0, 8:, 4:] = 200  # the last clip's frames are half grey
    np.savez(tmp_path / "fade.npz", videos=clips)
    fade = VideoDataModule(**{**options, "dataset": "npz", "root": str(tmp_path / "fade.npz"), "split_by": "clip"})
    fade.setup("fit")
    assert len(fade._clips) == 3
    np.savez(tmp_path / "blue.npz", videos=np.tile(np.array([0, 0, 200], np.uint8), (2, 8, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"blue.npz: every pixel of its 4 clips is \(0, 0, 200\) of 255"):
        VideoDataModule(**{**options, "dataset": "npz", "root": str(tmp_path / "blue.npz")}).setup("fit")


def _gif_parts(data: bytes) -> tuple[bytes, list[bytes]]:
    """A GIF's head (header, screen descriptor, global colour table) and its blocks (extensions, frames)."""
    flags, pos = data[10], 13
    pos += 3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0
    head, parts, start = data[:pos], [], pos
    while data[pos] != 0x3B:  # the trailer
        if data[pos] == 0x21:  # an extension: its label, then sub-blocks
            pos += 2
        else:  # a frame: its descriptor, local colour table and LZW code size, then sub-blocks
            local = data[pos + 9]
            pos += 11 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0)
        while data[pos]:
            pos += data[pos] + 1
        parts.append(data[start : pos + 1])
        pos = start = pos + 1
    return head, parts


def test_a_gif_whose_frames_change_size_names_the_frame_and_both_sizes(tmp_path):
    """numpy's "all input arrays must have the same shape" named no frame and no size (the file it did name)."""
    small, big = tmp_path / "small.gif", tmp_path / "big.gif"
    iio.imwrite(small, smooth_frames(1, 16, 16), plugin="pillow", duration=100, loop=0)  # a 16x16 screen
    iio.imwrite(big, smooth_frames(12, 32, 32), plugin="pillow", duration=100, loop=0)
    head, first = _gif_parts(small.read_bytes())
    _, later = _gif_parts(big.read_bytes())
    later = [part for part in later if not part.startswith(b"\x21\xff")]  # the loop count once
    (tmp_path / "grows.gif").write_bytes(head + b"".join(first + later) + b"\x3b")  # frames 2.. are 32x32
    with pytest.raises(VideoDecodeError, match=rf"^cannot decode video {tmp_path}/grows.gif: frame 2 is 32x32 "
                                               r"pixels, but frame 1 is 16x16: save its frames at one size$"):
        read_video_file(tmp_path / "grows.gif")


def test_gif_palettes_read_as_their_colours(tmp_path):
    """Each frame's own palette (a local colour table from frame 2 on) gives its pixels their exact colours."""
    palettes = [[255, 0, 0, 0, 0, 255], [0, 200, 0, 250, 250, 10], [17, 34, 51, 68, 85, 102]]
    frames, expected = [], []
    for t, palette in enumerate(palettes):
        index = (np.arange(64).reshape(8, 8) + t) % 2  # [8, 8] a checkerboard of entries 0 and 1
        frame = Image.fromarray(index.astype(np.uint8), "P")
        frame.putpalette(palette + [0, 0, 0] * 254)
        frames.append(frame)
        expected.append(np.array(palette, np.uint8).reshape(2, 3)[index])  # [8, 8, 3]
    frames[0].save(tmp_path / "p.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert np.array_equal(read_video_file(tmp_path / "p.gif"), np.stack(expected))  # [3, 8, 8, 3]


@pytest.mark.parametrize("damage", ["empty", "truncated", "float frames", "other size", "more frames"])
def test_a_damaged_video_cache_entry_is_decoded_again(tmp_path, damage):
    """An entry left empty or cut short was decoded again; one written over with frames of another type or size (or
    more frames than asked) was served as it was: float frames, or 4-pixel-wide frames for a clip size of 8. Each is
    now decoded again, to the same frames, and a whole entry is still read, not decoded."""
    from domains.video.file_cache import DecodedVideos

    iio.imwrite(tmp_path / "a.gif", smooth_frames(6), plugin="pillow", duration=100, loop=0)
    first = DecodedVideos(tmp_path / "cache").read(tmp_path / "a.gif", (8, 8), max_frames=4)  # [4, 8, 8, 3]
    (entry,) = (tmp_path / "cache").glob("a_*.npy")
    stamp = entry.stat().st_mtime_ns
    np.testing.assert_array_equal(DecodedVideos(tmp_path / "cache").read(tmp_path / "a.gif", (8, 8), max_frames=4),
                                  first)
    assert entry.stat().st_mtime_ns == stamp  # read, not decoded
    data = entry.read_bytes()
    if damage in ("empty", "truncated"):
        entry.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    else:
        frames = {"float frames": first.astype(np.float32), "other size": first[:, :, :4],
                  "more frames": np.concatenate([first, first])}[damage]
        np.save(entry, frames)
    again = DecodedVideos(tmp_path / "cache").read(tmp_path / "a.gif", (8, 8), max_frames=4)
    assert again.dtype == np.uint8
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(np.load(entry), first)  # the entry written whole again


@pytest.mark.parametrize("cap", [-1, 0])
def test_a_clip_cap_below_one_is_refused_not_taken_from_the_end(cap, tmp_path):
    """max_clips_per_video=-1 (read as "no cap", as -1 is "the rest" in the splits) sliced each video's clips with
    [:-1]: an npz of six videos of two clips gave six clips rather than twelve, without a word; 0 failed with "its
    videos are too short", which they were not. Both are refused in one line; null is every clip."""
    np.savez(tmp_path / "v.npz", videos=moving_digits(6, num_frames=10, size=20, seed=0))
    kwargs = dict(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=5, size=20, splits=(-1, 1, 1), bins="uniform",
                  num_bins=8)
    with pytest.raises(ValueError, match=rf"^VideoDataModule: max_clips_per_video must be >= 1 \(null: every clip\), "
                                         rf"got {cap}$"):
        VideoDataModule(max_clips_per_video=cap, **kwargs)
    dm = VideoDataModule(max_clips_per_video=None, **kwargs)
    dm.setup("fit")
    assert len(dm._clips) == 12


@pytest.mark.parametrize("count", [0, -1])
def test_no_synthetic_clips_is_refused_naming_the_option(count):
    """num_clips=0 (or -1, read as "the default") stopped as the data was set up, after the run's first lines, on
    "moving_digits needs n >= 1, ...", which named no option of the command line."""
    with pytest.raises(ValueError, match=rf"^VideoDataModule: num_clips must be >= 1 \(the synthetic clips "
                                         rf"generated\), got {count}$"):
        VideoDataModule(dataset="synthetic", num_clips=count)


def test_synthetic_clips_too_large_for_the_memory_at_hand_are_refused_naming_the_most_that_fit(monkeypatch):
    """`--data.init_args.num_frames 100 --data.init_args.size 256` asks for 1000 clips of 100 frames of 256×256,
    18.3 GiB generated at once: they stopped in numpy's "Unable to allocate 18.3 GiB", wrapped in jsonargparse's
    "Call to compute_fn of link ..." and a traceback, after the run's first lines (or the kernel's OOM killer ended
    the fit without a line). They are refused as the data is made, naming the most clips that fit."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one)
    assert len(VideoDataModule(dataset="synthetic", num_clips=500)._load()[0]) == 500
    have = f"more than the {memory.in_bytes(500 * one)} of memory available now"
    with pytest.raises(ValueError, match=rf"^VideoDataModule: 1000 synthetic clips of 17 frames of 32×32 need at "
                                         rf"least {memory.in_bytes(1000 * one)}: {have}; at most num_clips 500, or "
                                         r"fewer num_frames or a smaller size$"):
        VideoDataModule(dataset="synthetic", num_clips=1000)._load()
    with pytest.raises(ValueError, match=r"^VideoDataModule: 1 synthetic clip of 17 frames of 1024×1024 needs at "
                                         r"least .*; give fewer num_frames or a smaller size$"):
        VideoDataModule(dataset="synthetic", num_clips=1, size=1024)._load()


def test_synthetic_clips_are_checked_against_each_local_process_share(monkeypatch):
    """Every process of a distributed run on a machine generates all the clips: 500 clips that fit the memory alone
    were let through to two processes that each held them. Each process's share of the memory is compared now."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one)
    dm = VideoDataModule(dataset="synthetic", num_clips=500)
    dm.trainer = SimpleNamespace(world_size=2, num_devices=2)
    with pytest.raises(ValueError, match=r"^VideoDataModule: 500 synthetic clips of 17 frames of 32×32 need at "
                                         r"least .*, the share of each of this machine's 2 processes in .*; at most "
                                         r"num_clips 250, or fewer num_frames or a smaller size$"):
        dm._load()


def test_synthetic_clips_made_before_the_trainer_are_checked_against_the_launchers_processes_on_the_machine(
        monkeypatch):
    """The command line makes the clips before its Trainer exists, so the check counted one process where torchrun
    (LOCAL_WORLD_SIZE) or SLURM (SLURM_NTASKS_PER_NODE) had started several on the machine, each making every clip.
    The launcher's count of processes on this machine is each one's share now."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one)
    monkeypatch.setattr(memory, "address_space", lambda: None)
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_PROCID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert len(VideoDataModule(dataset="synthetic", num_clips=500)._load()[0]) == 500  # no launcher: one process
    srun = {"SLURM_NTASKS": "4", "SLURM_NTASKS_PER_NODE": "2", "SLURM_PROCID": "1"}
    for launch in ({"LOCAL_WORLD_SIZE": "2"}, srun):
        with monkeypatch.context() as env:
            for name, value in launch.items():
                env.setenv(name, value)
            with pytest.raises(ValueError, match=r"^VideoDataModule: 500 synthetic clips .*, the share of each of "
                                                 r"this machine's 2 processes in .*; at most num_clips 250, "):
                VideoDataModule(dataset="synthetic", num_clips=500)._load()
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")  # of one task: one process
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert len(VideoDataModule(dataset="synthetic", num_clips=500)._load()[0]) == 500
    monkeypatch.setenv("SLURM_NTASKS", "4")  # the shell of an interactive allocation runs one process
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")
    assert len(VideoDataModule(dataset="synthetic", num_clips=500)._load()[0]) == 500


def test_synthetic_clips_are_checked_again_for_the_processes_lightning_s_ddp_starts(monkeypatch):
    """Lightning's own DDP (--trainer.strategy=ddp, no launcher) starts its other processes on this machine once the
    fit begins, each making every clip; the clips were made for the model's spec before the Trainer, when no variable
    told of those processes, and were checked for this one alone. The trainer's processes are checked before it
    starts them: the clips this process holds, once for each other one, in the memory available now (not under this
    process's address-space limit: each new process has its own). The most clips named fit with this process's own
    copy shrunk too: the memory available and the clips held, over every process."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    dm = VideoDataModule(dataset="synthetic", num_clips=300)
    held = lambda: 0 if dm._clips is None else dm._clips.numel()  # noqa: E731 (the clips' bytes, as the machine's)
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one - held())
    monkeypatch.setattr(memory, "address_space", lambda: None)
    for name in ("LOCAL_WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    dm._prepare()  # as the model's spec makes them: one process, 300 of the 500 clips the machine holds
    dm.check_processes(SimpleNamespace(world_size=1, num_devices=1))
    dm.check_processes(SimpleNamespace(world_size=2, num_devices=1))  # a process on each of two nodes
    for devices, more in ((2, "1 more copy"), (3, "2 more copies")):
        available, others = 500 * one - held(), devices - 1
        most = (available + held()) // (devices * one)  # this process's clips shrink with the others'
        need, have = (re.escape(memory.in_bytes(n)) for n in (others * held(), available))
        with pytest.raises(ValueError, match=rf"^VideoDataModule: 300 synthetic clips of 17 frames of 32×32 need at "
                                             rf"least {need} for {more} as Lightning's DDP starts its processes "
                                             rf"on this machine: more than the {have} of memory available now; at "
                                             rf"most num_clips {most}, or fewer num_frames or a smaller size$"):
            dm.check_processes(SimpleNamespace(world_size=devices, num_devices=devices))
    with monkeypatch.context() as env:  # a rank the launch started (made its own clips), or torchrun's, counted
        for launch in ({"LOCAL_RANK": "1"}, {"LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "0"}):
            for name, value in launch.items():
                env.setenv(name, value)
            dm.check_processes(SimpleNamespace(world_size=2, num_devices=2))
    dm = VideoDataModule(dataset="synthetic", num_clips=250)  # the most named: 250 here, 250 in the other process
    dm._prepare()
    monkeypatch.setattr(memory, "address_space", lambda: (one, 2 * one))  # this process's own limit, nearly spent
    dm.check_processes(SimpleNamespace(world_size=2, num_devices=2))


def test_synthetic_clips_are_checked_again_for_the_copies_each_way_of_starting_the_processes_adds(monkeypatch):
    """The processes Lightning's DDP starts hold the clips in three ways: ddp's runs the script again (each makes its
    own: N - 1 copies), ddp_fork's share this process's pages (none), and ddp_spawn's (or forkserver's) are sent them
    through torch, which moves them into shared memory once, a copy made while this process's is still held, and
    maps it in every process (1, whatever N). The check counted N - 1 for each, refusing ddp_fork's runs that fit and
    ddp_spawn's that did on 3 devices."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    dm = VideoDataModule(dataset="synthetic", num_clips=300)
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one - (0 if dm._clips is None else 300 * one))
    dm._prepare()
    monkeypatch.setattr(memory, "address_space", lambda: None)
    for name in ("LOCAL_WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)

    def trainer(devices: int, **launcher) -> SimpleNamespace:
        return SimpleNamespace(world_size=devices, num_devices=devices,
                               strategy=SimpleNamespace(launcher=SimpleNamespace(**launcher)))

    dm.check_processes(trainer(3, _start_method="fork"))
    for start in ("spawn", "forkserver"):  # 300 clips here and 300 in shared memory: more than the 500 in all
        with pytest.raises(ValueError, match=r"^VideoDataModule: 300 synthetic clips .* for 1 more copy as "
                                             r"Lightning's DDP starts its processes on this machine: .*; at most "
                                             r"num_clips 250, "):
            dm.check_processes(trainer(3, _start_method=start))
    with pytest.raises(ValueError, match=r" for 2 more copies as .*; at most num_clips 166, "):
        dm.check_processes(trainer(3))  # ddp's launcher: a script started again for each other rank
    fits = VideoDataModule(dataset="synthetic", num_clips=250)  # 250 here and 250 shared, on 3 devices as on 1
    monkeypatch.setattr(memory, "available_memory", lambda: 500 * one - (0 if fits._clips is None else 250 * one))
    fits._prepare()
    fits.check_processes(trainer(3, _start_method="spawn"))
    # clips of another shape are drawn over the span on the larger side's square, and held cropped [N, T, H, W, 3]:
    # ddp's other processes draw them, this one holds them cropped, and ddp_spawn's shared copy is of the held ones
    drawn, kept = 9 * 32 * 32 * 3, 5 * 16 * 32 * 3  # a clip's bytes as drawn, and as held

    def made(num_clips: int) -> VideoDataModule:
        dm = VideoDataModule(dataset="synthetic", num_clips=num_clips, num_frames=5, frame_step=2, size=[16, 32])
        monkeypatch.setattr(memory, "available_memory", lambda: 400 * drawn - (0 if dm._clips is None else
                                                                              dm._clips.nbytes))
        dm._prepare()
        assert dm._clips.nbytes == num_clips * kept
        return dm

    made(350).check_processes(trainer(2, _start_method="spawn"))  # 350 held and 350 shared, cropped: they fit
    most = 400 * drawn // (kept + drawn)  # held here, drawn in the other process
    with pytest.raises(ValueError, match=rf"^VideoDataModule: 400 synthetic clips .* need at least "
                                         rf"{re.escape(memory.in_bytes(400 * drawn))} for 1 more copy as .*; at most "
                                         rf"num_clips {most}, "):
        made(400).check_processes(trainer(2))
    made(most).check_processes(trainer(2))  # the most named fits, and one more does not
    with pytest.raises(ValueError, match=rf"; at most num_clips {most}, "):
        made(most + 1).check_processes(trainer(2))


def test_synthetic_clips_are_checked_again_in_a_total_that_does_not_fall_as_they_are_made(monkeypatch):
    """Where the system reports no memory available now (macOS, Windows, a kernel before 3.14), the memory at hand is
    the machine's total, or the memory assumed: the clips this process holds are not taken out of it, and were
    counted as if they were (300 clips and a copy in 1 more process let through in the memory of 500; 3 processes
    told num_clips 266, 3 x 266 > 500). Every copy is counted in it, and the most clips named fit."""
    import pixeltransformer.memory as memory

    one = 17 * 32 * 32 * 3  # a clip's uint8 frames
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    monkeypatch.setattr(memory, "address_space", lambda: None)
    for name in ("LOCAL_WORLD_SIZE", "LOCAL_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    dm = VideoDataModule(dataset="synthetic", num_clips=300)
    dm._prepare()
    for total in ("host_memory", "ASSUMED_MEMORY"):
        with monkeypatch.context() as env:
            env.setattr(memory, "host_memory", lambda: 500 * one if total == "host_memory" else None)
            env.setattr(memory, "ASSUMED_MEMORY", 500 * one)
            for devices, most in ((2, 250), (3, 166)):
                with pytest.raises(ValueError, match=rf"^VideoDataModule: 300 synthetic clips .* need at least "
                                                     rf"{re.escape(memory.in_bytes(devices * 300 * one))} for this "
                                                     rf"process's copy and .*; at most num_clips {most}, "):
                    dm.check_processes(SimpleNamespace(world_size=devices, num_devices=devices))
                fits = VideoDataModule(dataset="synthetic", num_clips=most, splits=[-1, 10, 10])
                fits._prepare()
                fits.check_processes(SimpleNamespace(world_size=devices, num_devices=devices))


def test_synthetic_clips_too_large_are_refused_in_the_options_the_user_gave(monkeypatch):
    """num_frames=17 with frame_step=2 read "clips of 33 frames", and size=[64, 256] "256×256": the span and the
    canvas the clips are drawn on, not what was given. The line names num_frames, frame_step and size as given, and
    what is drawn for them."""
    import pixeltransformer.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(ValueError, match=r"^VideoDataModule: 1000 synthetic clips of 17 frames of 64×256 at "
                                         r"frame_step 2 \(drawn as 33 frames of 256×256\) need at least .*; "
                                         r"at most num_clips \d+, or fewer num_frames, a smaller frame_step or a smaller size$"):
        VideoDataModule(dataset="synthetic", num_clips=1000, num_frames=17, frame_step=2, size=[64, 256])._load()


@pytest.mark.parametrize("bins", ["kmeans", "uniform"])
def test_no_value_bins_is_refused_naming_the_option(bins):
    """num_bins=0 stopped as the data was set up on "SignalSpec: num_bins and val_dims must be >= 1", which named
    neither the data nor its option (uniform bins: 0 passed as a cube, 0^3)."""
    with pytest.raises(ValueError, match=r"^VideoDataModule: num_bins must be >= 1 \(the colour bins each value is "
                                         r"read in\), got 0$"):
        VideoDataModule(dataset="synthetic", bins=bins, num_bins=0)


def test_clips_cut_with_another_frame_step_than_the_checkpoint_s_are_named():
    """A model trained on clips of every other frame (frame_step=2) and evaluated on clips of every frame was scored
    on motion twice as slow as its own without a word; the evaluation names the option and what to pass."""
    from pixeltransformer.data_mismatch import conversion_mismatch

    def clips(frame_step: int) -> VideoDataModule:
        return VideoDataModule(dataset="synthetic", bins="uniform", num_bins=216, frame_step=frame_step)

    trained = {"hyper_parameters": {"spec": clips(2).spec.to_dict()}}
    assert conversion_mismatch(trained, clips(2)) is None
    assert conversion_mismatch(trained, clips(1)) == (
        "the checkpoint was trained on data made with data.init_args.frame_step=2, not this evaluation's "
        "(frame_step=1): it is scored on data it was not trained on; pass --data.init_args.frame_step 2 to evaluate "
        "on data made as its own")


def test_a_strip_given_as_a_mask_is_read_frame_by_frame_as_an_input_strip_is(tmp_path):
    """A JPEG/PNG strip of square frames stacked top to bottom is a video as --input (TinyVideos' strips), but as
    --mask it was read as one still picture, squashed to a frame and used for every frame. A mask strip is now read
    as an input strip is: frame i of the clip is the strip's frame i (frame_step apart); one of too few frames is
    refused in one line, with its shape and the two ways to give a mask."""
    frames = np.zeros((5, 8, 8, 3), np.uint8)  # [F, W, W, 3]
    for i in range(5):
        frames[i, : i + 1] = 255  # frame i observes its top i + 1 rows
    path = tmp_path / "mask.png"
    iio.imwrite(path, frames.reshape(40, 8, 3))  # a strip: 5 frames of 8x8, first on top
    mask = read_mask_video(path, num_frames=3, size=8, frame_step=2)[0]  # [T, H, W]
    assert [int(m[:, 0].sum()) for m in mask] == [1, 3, 5]  # frames 0, 2 and 4
    assert [int(m[:, 0].sum()) for m in read_mask_video(path, num_frames=5, size=16)[0]] == [2, 4, 6, 8, 10]  # upscaled
    with pytest.raises(ValueError, match=r"^mask .*mask.png: a strip of 5 square frames \(8x40 pixels\), as --input "
                                         r"reads one, but the clip needs 1 \(a still mask\) or at least 6: give a "
                                         r"strip of 6 frames or more, or a still mask as a picture that is not a strip "
                                         r"\(its height no whole multiple of its width\) or as a one-frame \.gif$"):
        read_mask_video(path, num_frames=6, size=8)


def test_a_video_cache_that_cannot_be_written_names_the_folder_and_the_remedy(tmp_path, blocked):
    """A cache folder that cannot be written said only the system's words, "decoded videos not cached ([Errno 30]
    Read-only file system: '/home/me/.cache')", and not how to keep them; once, however many files."""
    from domains.video.file_cache import DecodedVideos

    for k in range(2):
        iio.imwrite(tmp_path / f"{k}.gif", smooth_frames(5), plugin="pillow", duration=100, loop=0)
    cache = DecodedVideos(blocked / "cache")
    with pytest.warns(UserWarning) as caught:
        frames = [cache.read(tmp_path / f"{k}.gif", (8, 8)) for k in range(2)]  # [F, 8, 8, 3] each
    said = [str(w.message) for w in caught if "not cached" in str(w.message)]
    assert len(said) == 1 and re.fullmatch(
        rf"decoded videos not cached: cannot write {re.escape(str(blocked / 'cache'))} "
        rf"\({re.escape(str(blocked))} is a file, not a folder\): they are "
        r"decoded again at the next start; set \$PIXELTRANSFORMER_CACHE \(or the data's cache_dir\) to a folder this "
        r"user can write", said[0]), said
    np.testing.assert_array_equal(frames[0], read_video_file(tmp_path / "0.gif", size=(8, 8)))


def test_context_rows_outside_their_ranges_are_told_the_units_of_a_video_row():
    """`predict --context` rows of frame and pixel indices or of 0-255 colours (a video's natural units) were refused
    with "positions must lie in [-1, 1], got 5 in row 1" alone: the units of t, y, x and of r, g, b were written
    nowhere. The message now says how frame, row and column indices and 0-255 levels map onto a row."""
    spec = VideoDataModule(num_frames=17, size=64, bins="uniform", num_bins=8).spec  # 17 frames of 64x64
    units = ("a video row is [t, y, x, r, g, b]: frame i of the 17 at t = 2i/16 - 1 (frame 0 at -1, frame 16 at 1), "
             "pixel row and column i of the 64 at y, x = 2i/63 - 1 (the top left pixel at -1, -1), and r, g, b in "
             "[0, 1] (a 0-255 level divided by 255)")
    pixels = torch.tensor([[0.0, 5, 10, 200, 180, 120]])  # [K, 6]: a frame and pixel indices, 0-255 colours
    told = f"rows.json: positions must lie in [-1, 1], got 5 in row 1; {units}"
    with pytest.raises(ValueError, match=re.escape(told)):
        VideoDomain().context_from_rows(pixels, spec, "rows.json")
    levels = torch.tensor([[-1.0, -1, -1, 0.5, 0.5, 0.5], [1, 0, 0, 200, 180, 120]])  # [K, 6]: 0-255 colours
    told = f"rows.json: values must lie in [0, 1], got 200 in row 2; {units}"
    with pytest.raises(ValueError, match=re.escape(told)):
        VideoDomain().context_from_rows(levels, spec, "rows.json")
    pos, val = VideoDomain().context_from_rows(levels[:1], spec, "rows.json")  # [1, 3], [1, 3]
    assert pos.tolist() == [[-1, -1, -1]] and val.tolist() == [[0.5, 0.5, 0.5]]


def test_the_units_of_a_video_row_say_frame_step_and_leave_out_the_ends_of_a_one_point_axis():
    """A model of clips frame_step 2 apart was told "frame i of the 17" alone, which a user reads as the video's
    frames; a grid of one frame or pixel read "frame i of the 1 at t = 0 (frame 0 at -1, frame 0 at 1)", ends that are
    not there. t is said to count the clip's frames, every 2nd of the video's, and a one-point axis lies at 0 alone."""
    spec = VideoDataModule(num_frames=17, frame_step=2, size=64, bins="uniform", num_bins=8).spec
    told = ("frame i of the 17 at t = 2i/16 - 1 (frame 0 at -1, frame 16 at 1; t counts the clip's frames, every 2nd "
            "frame of the video), pixel row and column i of the 64")
    with pytest.raises(ValueError, match=re.escape(told)):
        VideoDomain().context_from_rows(torch.tensor([[0.0, 5, 10, 0.5, 0.5, 0.5]]), spec, "rows.json")  # [K, 6]
    assert describe_video_row((1, 1, 1)) == ("a video row is [t, y, x, r, g, b]: the one frame at t = 0, the one pixel "
                                             "row and column at y, x = 0, and r, g, b in [0, 1] (a 0-255 level "
                                             "divided by 255)")
    assert describe_video_row((5, 1, 8)).startswith("a video row is [t, y, x, r, g, b]: frame i of the 5 at t = "
                                                    "2i/4 - 1 (frame 0 at -1, frame 4 at 1), the one pixel row at y = "
                                                    "0 and column i of the 8 at x = 2i/7 - 1, and r, g, b")


def test_clips_longer_than_every_video_are_refused_saying_how_many_frames_fit(tmp_path):
    """An .npz of 12-frame videos (or a folder of 10-frame videos) read as 20-frame clips was refused with what was
    too short alone ("its 12-frame videos are too short for clips of 20 frames with frame_step 1", "no clips of 20
    frames ... (1 too short, 0 undecodable)"): the line now says how many frames a clip can take and how to ask."""
    np.savez(tmp_path / "v.npz", videos=moving_digits(3, num_frames=12, size=8, seed=0))
    dm = VideoDataModule(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=20, size=8, splits=(-1, 1, 1),
                         bins="uniform", num_bins=8)
    with pytest.raises(ValueError, match=re.escape(
            f"{tmp_path / 'v.npz'}: its 12-frame videos are too short for clips of 20 frames with frame_step 1: give "
            "--data.init_args.num_frames=12 or fewer, or videos of 20 frames or more")):
        dm.setup("fit")
    dm = VideoDataModule(dataset="npz", root=str(tmp_path / "v.npz"), num_frames=8, frame_step=2, size=8,
                         splits=(-1, 1, 1), bins="uniform", num_bins=8)
    with pytest.raises(ValueError, match=re.escape(  # frames 0, 2, ..., 14: 15 of them
            "with frame_step 2: give --data.init_args.num_frames=6 or fewer, or videos of 15 frames or more")):
        dm.setup("fit")
    folder = tmp_path / "clips"
    folder.mkdir()
    write_video(smooth_frames(10), folder / "ten.mp4", upscale_to=None)
    write_video(smooth_frames(6), folder / "six.mp4", upscale_to=None)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=re.escape(
            f"no clips of 20 frames from 2 video files under {folder} (2 too short, 0 undecodable): the longest, "
            f"{folder / 'ten.mp4'}, holds 10 frames: give --data.init_args.num_frames=10 or fewer, or videos of 20 "
            "frames or more")):
        read_video_folder(folder, 20, 8, progress=False)


def test_a_video_to_complete_that_cannot_be_decoded_says_what_to_give(tmp_path):
    """`make sample INPUT=cut.mp4` (a copy cut short, an empty file) named the file and the cause alone; a file of
    another suffix was told what to give, a video was not. Both now end with a remedy."""
    whole = write_mp4(tmp_path / "whole.mp4", smooth_frames(30)).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name, cause in (("cut.mp4", "it is damaged or cut short (ffmpeg: moov atom not found)"),
                        ("empty.mp4", "the file is empty")):
        with pytest.raises(VideoDecodeError, match=re.escape(
                f"cannot decode video {tmp_path / name}: {cause}; give another video file, or this one copied or "
                "exported again whole")):
            load_user_video(tmp_path / name, num_frames=8, size=16)


def test_a_video_to_complete_of_sound_alone_is_not_told_to_be_copied_again(tmp_path):
    """Every video that could not be decoded was told "give another video file, or this one copied or exported again
    whole", an mp4 of sound alone too, which no copy of it mends: that remedy is for a file empty, cut short or
    damaged alone."""
    sound = tmp_path / "sound.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.5",
                    "-c:a", "aac", str(sound)], check=True)
    with pytest.raises(VideoDecodeError, match=re.escape(
            f"cannot decode video {sound}: it holds no video stream, only audio; give another video file") + "$"):
        load_user_video(sound, num_frames=8, size=16)


def test_a_folder_s_first_start_probes_each_video_file_once(tmp_path, monkeypatch, settled):
    """The first start of a folder of videos asked ffmpeg for a file's shown size twice (once to decode its frames at
    the clip size, once for its rate and size): one ffmpeg process a file more than needed. Each file is probed once a
    start, and its rate and size come from that probe."""
    from domains.video import io as video_io

    folder = tmp_path / "videos"
    folder.mkdir()
    write_mp4(folder / "a.mp4", smooth_frames(8))  # 10 fps, 24x32
    write_mp4(folder / "b.mp4", smooth_frames(8, 16, 16))
    asked = []
    meta = video_io.display_meta
    monkeypatch.setattr(video_io, "display_meta", lambda path: asked.append(Path(path).name) or meta(path))
    dm = VideoDataModule(dataset="folder", root=str(folder), num_frames=4, size=8, splits=(-1, 1, 0),
                         split_by="clip", bins="uniform", num_bins=8, cache_dir=str(tmp_path / "cache"))
    assert dm.spec.extra["fps"] == 10.0 and dm.folder_stats.rates == [10.0, 10.0]
    assert sorted(asked) == ["a.mp4", "b.mp4"]


def test_a_video_mask_of_another_shape_than_its_input_is_warned_of(tmp_path):
    """A portrait mask for a landscape clip was cropped and resized apart from the clip without a word that it was of
    another shape than the clip, where an images --mask of another shape than its input is warned of: the mask did not
    lie on the pixels it was drawn over. It is now warned of in the images domain's words, before a refusal for
    observing no pixel; a mask of the clip's shape at another size reads without a warning."""
    spec = VideoDataModule(num_frames=4, size=8, bins="uniform", num_bins=8).spec  # the model's 4 frames of 8x8
    wide = np.full((4, 16, 32, 3), 90, np.uint8)  # [T, H, W, 3]: frames 32 wide, 16 tall
    write_video(wide, tmp_path / "wide.gif", upscale_to=None)
    tall = np.zeros((24, 16), np.uint8)  # 24 tall: no strip of square frames
    tall[8:16] = 255  # [24, 16]: white across its centre rows
    Image.fromarray(tall).save(tmp_path / "tall.png")
    top = np.zeros((24, 16), np.uint8)
    top[:4] = 255  # [24, 16]: white only above its centre 16x16
    Image.fromarray(top).save(tmp_path / "top.png")
    half = np.zeros((8, 16), np.uint8)
    half[:, :8] = 255  # [8, 16]: the clip's shape at half its size, the left half white
    Image.fromarray(half).save(tmp_path / "half.png")
    domain = VideoDomain()
    domain.read_input(tmp_path / "wide.gif", spec)
    warning = (f"mask {tmp_path / 'tall.png'}: a 16×24 mask for the 32×16 input, of another shape: each is "
               "cropped to its centre and resized to 8×8 on its own, so the mask does not lie where it was drawn: "
               "give a mask of the input's shape")  # an images mask's words
    with pytest.warns(UserWarning, match=f"^{re.escape(warning)}$"):
        domain.read_mask(tmp_path / "tall.png", spec)
    domain.read_input(tmp_path / "wide.gif", spec)
    with pytest.warns(UserWarning, match="a 16×24 mask for the 32×16 input, of another shape"):
        with pytest.raises(ValueError, match="lie outside its centre"):
            domain.read_mask(tmp_path / "top.png", spec)
    domain.read_input(tmp_path / "wide.gif", spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert int(domain.read_mask(tmp_path / "half.png", spec).sum()) == 4 * 32
        assert domain.read_mask(tmp_path / "tall.png", spec).any()  # of no input's: that one's used up


def test_an_npz_checkpoint_evaluated_on_a_folder_names_other_files_and_resumes_on_its_own_npz(tmp_path):
    """An .npz of clips records its files as not known, as a file of voxel grids does: its checkpoint evaluated on a
    folder of videos (or one video file) says its splits were drawn from other files than the data's now, as the
    reverse did; resumed on its own .npz it says nothing."""
    from pixeltransformer.data_mismatch import check_resume_files, split_mismatch
    from pixeltransformer.datamodule import module_spec
    from tests.cli.checkpoints import fit_checkpoint

    np.savez(tmp_path / "v.npz", videos=moving_digits(6, num_frames=8, size=16, seed=0))  # [6, 8, 16, 16, 3]
    (tmp_path / "vf").mkdir()
    for i in range(6):
        iio.imwrite(tmp_path / "vf" / f"c{i}.gif", moving_digits(1, num_frames=8, size=16, seed=i)[0], loop=0)
    iio.imwrite(tmp_path / "one.gif", moving_digits(1, num_frames=30, size=16, seed=3)[0], loop=0)  # 6 clips too
    options = dict(num_frames=5, size=16, splits=(-1, 1, 1), bins="uniform", num_bins=8,
                   cache_dir=str(tmp_path / "cache"))

    def module(root: str, **kw) -> VideoDataModule:
        return VideoDataModule(root=str(tmp_path / root), **kw, **options)

    saved = fit_checkpoint(module("v.npz", dataset="npz"))
    for root in ("vf", "one.gif"):
        note = split_mismatch(saved, module(root, dataset="folder", stride=None))
        assert note is not None and note.startswith("the checkpoint's splits were drawn from 6 items of other files "
                                                    "than the data's now"), note
    assert saved["VideoDataModule"].get("pool_files", "absent") is None  # not known
    run, ckpt = tmp_path / "runs" / "r", tmp_path / "runs" / "r" / "checkpoints" / "last.ckpt"
    same = module("v.npz", dataset="npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_resume_files(str(run), saved, same, module_spec(same).to_dict(), str(ckpt))
        assert split_mismatch(saved, same) is None


@pytest.mark.parametrize("build, named", [("n9.0.2-17-g2a571b6068-20260930", "ffmpeg 9.0.2"), ("", "ffmpeg")])
def test_an_undecodable_codec_names_the_ffmpeg_release_not_its_build_string(tmp_path, monkeypatch, build, named):
    """The line named ffmpeg by its whole build string, "ffmpeg n9.0.2-17-g2a571b6068-20260930", and one of no
    version "ffmpeg  has no decoder", two spaces round no version."""
    from domains.video import io as video_io

    whole = write_mp4(tmp_path / "whole.mp4", smooth_frames(20)).read_bytes()
    (tmp_path / "odd.mp4").write_bytes(whole.replace(b"avc1", b"zzzz"))
    monkeypatch.setattr(video_io, "ffmpeg_version", lambda: build)
    video_io._every_frame_once.cache_clear()
    try:
        with pytest.raises(VideoDecodeError, match=rf"odd.mp4: {named} has no decoder for its video codec \(zzzz\)"):
            read_video_file(tmp_path / "odd.mp4", size=16)
    finally:
        video_io._every_frame_once.cache_clear()


@pytest.mark.parametrize("build, old", [("n5.0.3-8-g1a2b3c4d5e-20230101", True), ("4.4.2-0ubuntu0.22.04.1", True),
                                        ("4.4.git", True), ("4.4.1_2", True), ("4.4.2+dfsg", True),
                                        ("5.0.1.static", True), ("n5.1", False), ("7.1.1", False),
                                        ("N-113000-g1a2b3c4d5e-20240101", False), ("", False)])
def test_the_frame_option_follows_the_release_ffmpeg_is_a_build_of(build, old, monkeypatch):
    """-fps_mode came with ffmpeg 5.1; an older release takes -vsync, a git build or an unknown one -fps_mode."""
    from domains.video import io as video_io

    monkeypatch.setattr(video_io, "ffmpeg_version", lambda: build)
    video_io._every_frame_once.cache_clear()
    try:
        assert video_io._every_frame_once() == (["-vsync", "passthrough"] if old else ["-fps_mode", "passthrough"])
    finally:
        video_io._every_frame_once.cache_clear()


@pytest.mark.parametrize("build, shown", [("n9.0.2-17-g2a571b6068-20260930", "9.0.2"), ("4.4.2", "4.4.2"),
                                          ("4.4.2-0ubuntu0.22.04.1", "4.4.2"), ("n7.1", "7.1"), ("4.4.git", "4.4"),
                                          ("4.4.1_2", "4.4.1"), ("4.4.2+dfsg", "4.4.2"), ("5.0.1.static", "5.0.1"),
                                          ("N-113000-g1a2b3c4d5e-20240101", "N-113000-g1a2b3c4d5e-20240101")])
def test_ffmpeg_release_is_the_version_of_a_release_build_and_a_git_build_whole(build, shown):
    from domains.video.io import ffmpeg_release

    assert ffmpeg_release(build) == shown
