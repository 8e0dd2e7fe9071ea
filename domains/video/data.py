"""VideoDataModule: clips as 3D signals, positions (t, y, x) in [-1, 1]^3, RGB values in [0, 1].

Sources: "synthetic" (moving digits, generated offline), "folder" (every video file below ``root``) and
"npz" (an .npz holding ``videos`` [N, T, H, W, 3] uint8, e.g. the shared TinyVideos beach clips). Clips are
kept as uint8 and turned into float signals [3, T, H, W] one item at a time (a quarter of the memory); the JPEG/PNG
strips (TinyVideos' originals) of a folder too large to hold decoded (``in_memory_gb``) are decoded only then
(``clips.FolderClips``), so DataLoader workers (``num_workers``) decode them in parallel.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import Dataset

from pixeltransformer.bins import kmeans_centres
from pixeltransformer.cache import cache_root
from pixeltransformer.datamodule import SignalDataModule, float_signal, refuse_one_colour
from pixeltransformer.digests import named_file
from pixeltransformer.domain import MASK_LEVEL, grey_levels, nothing_observed, threshold_mask
from pixeltransformer.errors import counted, in_number, transparent_mask, upscaled, warn_rank_zero
from pixeltransformer.files import user_path
from pixeltransformer.layout import data_words
from pixeltransformer.loopbar import loop_progress
from pixeltransformer.memory import copies_to_start, falls_as_allocated, local_ranks, shortfall, start_method
from pixeltransformer.signal import SignalSpec
from pixeltransformer.splits import (SPLIT_LAYOUT, SPLITS, group_split, official_split_indices, split_folders,
                                     splits_hint, splits_with_train_of)

from .clips import (STRIP_TYPES, VIDEO_TYPES, FolderClips, VideoFolder, clip_span, cut_clips, fewer_frames,
                    list_video_files, read_video_folder, read_video_npz, source_videos)
from .file_cache import DecodedVideos
from .io import (PICTURE_FPS, VIDEO_SUFFIXES, VideoDecodeError, as_size, read_video_file, resize_and_crop,
                 transparent_share)
from .strips import frame_size, is_strip_file, read_strip, strip_frames, strip_problem
from .synthetic import moving_digits

# below data_dir(), when a config names no root: the TinyVideos beach clips and a folder of natural videos
DEFAULT_ROOTS = {"npz": "videos/tinyvideos_beach_gt/beach_gt_64x64x17.npz", "folder": "videos/natural"}
KMEANS_PIXELS = 10_000  # training pixels the RGB bins are fitted on: ~40 per colour for 256 bins
KMEANS_CLIPS = 256  # a folder's clips are decoded when read: the pixels come from at most this many of them


class ClipDataset(Dataset):
    """uint8 clips [N, T, H, W, 3] (a tensor, or a folder's :class:`FolderClips`) served as float signals
    {"signal": [3, T, H, W] in [0, 1]}; a DataLoader's batch is read in one call and stays uint8 [B, 3, T, H, W] (a
    quarter of the bytes to collate and copy), made float on its device by the DataModule (``float_signal``: the
    same values).

    ``index`` selects the rows of this split, so the splits share one tensor instead of copying it.
    """

    def __init__(self, clips: torch.Tensor | FolderClips, index: torch.Tensor | None = None):
        if not isinstance(clips, FolderClips) and (clips.dtype != torch.uint8 or clips.dim() != 5
                                                   or clips.shape[-1] != 3):
            raise ValueError(f"ClipDataset expects uint8 clips [N, T, H, W, 3], got {clips.dtype} {tuple(clips.shape)}")
        self.clips = clips  # [N, T, H, W, 3]
        self.index = torch.arange(len(clips)) if index is None else index  # [n]

    def __len__(self) -> int:
        return self.index.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        clip = torch.as_tensor(self.clips[int(self.index[i])])  # [T, H, W, 3]
        return {"signal": float_signal(clip.permute(3, 0, 1, 2))}  # [3, T, H, W]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The batch of ``indices``: {"signal": uint8 [B, 3, T, H, W]}, one gather from clips held in memory (a
        folder's clips decoded one by one)."""
        rows = self.index[torch.as_tensor(indices, dtype=torch.long)]  # [B]
        if isinstance(self.clips, torch.Tensor):
            clips = self.clips[rows]  # [B, T, H, W, 3]
        else:
            clips = torch.stack([torch.as_tensor(self.clips[int(r)]) for r in rows])  # [B, T, H, W, 3]
        return {"signal": clips.permute(0, 4, 1, 2, 3)}  # [B, 3, T, H, W], a view: the device makes it contiguous


class VideoDataModule(SignalDataModule):
    """Video clips as dense signals [3, T, H, W] (paper section 6.3).

    Args:
        dataset: "synthetic" (moving digits), "folder" (video files below ``root``) or "npz" (``root`` is an
            .npz with ``videos`` [N, T, H, W, 3] uint8).
        root: the folder or .npz file (default: ``DEFAULT_ROOTS`` below $PIXELTRANSFORMER_DATA or data/, see
            ``data_dir``); unused for "synthetic".
        num_frames: T, frames per clip.
        size: frame size, an int (square) or (H, W); frames are resized (aspect kept) and centre-cropped.
        stride: frames between the starts of consecutive clips of one video (default: non-overlapping).
        frame_step: temporal subsampling inside a clip (2 = every other frame; synthetic clips too).
        max_clips_per_video: cap per file, so one long video does not dominate a folder.
        num_clips: number of synthetic clips.
        n_digits: (low, high) digits per synthetic clip.
        splits: (train, val, test) clip counts, -1 for the rest. With ``split_by="video"`` a split takes whole videos,
            about its count. A folder in train/, (val/,) test/ folders: a count takes a seeded subset of its folder's
            videos, -1 all of it, and without val/ validation is drawn from train/.
        split_by: "video" keeps all clips of one video in one split (clips of a folder video overlap or
            share a scene; JPEG strips that share a folder are one video's, see ``clips.source_videos``); "clip"
            splits clips independently.
        in_memory_gb: a folder whose clips take at most this many GiB decoded is decoded once, at the start, and
            served from memory; a larger one (a full TinyVideos folder of strips) keeps its JPEG/PNG strips encoded
            and decodes a clip when a batch draws it (``num_workers`` then decode in parallel).
        bins: "kmeans" (``num_bins`` RGB centres fitted on training pixels) or "uniform" (an n^3 RGB grid).
        num_bins: NB.
        fps: frames a second of the videos the clips are cut from, at which (over frame_step) the videos of the
            pictures and evaluations play; null: the rate a folder's video files record (the median of their rates
            where they differ); an .npz or synthetic clips record none and play at 8 fps (the TinyVideos beach clips
            are 10: configs/video/beach.yaml). The spec records the clips' rate, so predictions play at it too.
        cache_dir: where a folder's video files are kept decoded, the frames its clips use at the clip size
            (default ``cache.cache_root("video", "files")``), keyed by each file's bytes: later starts, DDP ranks and
            evaluations load them instead of running ffmpeg. Strips are decoded as clips are read, and not cached.
        batch_size, num_workers, seed, val_items, split_layout: see :class:`SignalDataModule`.
    """

    item_noun = "clip"  # the [data] line counts clips

    def __init__(
        self,
        dataset: Literal["synthetic", "folder", "npz"] = "synthetic",
        root: str | None = None,
        num_frames: int = 17,
        size: int | tuple[int, int] = 32,
        stride: int | None = None,
        frame_step: int = 1,
        max_clips_per_video: int | None = None,
        num_clips: int = 1000,
        n_digits: tuple[int, int] = (1, 2),
        splits: tuple[int, int, int] = (-1, 100, 100),
        split_by: Literal["video", "clip"] = "video",
        in_memory_gb: float = 4.0,
        bins: Literal["kmeans", "uniform"] = "kmeans",
        num_bins: int = 256,
        fps: float | None = None,
        cache_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        val_items: int | None = None,
        split_layout: int = SPLIT_LAYOUT,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, root=root, val_items=val_items,
                         split_layout=split_layout)
        if dataset not in ("synthetic", "folder", "npz"):
            raise ValueError(f"VideoDataModule: dataset must be 'synthetic', 'folder' or 'npz', got {dataset!r}")
        if dataset != "synthetic" and self.root is None:
            self.root = self.default_data_root(DEFAULT_ROOTS[dataset])
        if bins not in ("kmeans", "uniform"):
            raise ValueError(f"VideoDataModule: bins must be 'kmeans' or 'uniform', got {bins!r}")
        if split_by not in ("video", "clip"):
            raise ValueError(f"VideoDataModule: split_by must be 'video' or 'clip', got {split_by!r}")
        if num_bins < 1:  # met as the data was set up, by SignalSpec's line, naming neither the data nor its option
            raise ValueError(f"VideoDataModule: num_bins must be >= 1 (the colour bins each value is read in), got "
                             f"{num_bins}")
        if bins == "uniform" and round(num_bins ** (1 / 3)) ** 3 != num_bins:
            raise ValueError(f"VideoDataModule: uniform RGB bins need num_bins = n^3 (e.g. 216, 512), got {num_bins}")
        if not 0 <= in_memory_gb < math.inf:
            raise ValueError(f"VideoDataModule: in_memory_gb must be a number >= 0, got {in_memory_gb}")
        if num_frames < 1 or frame_step < 1 or (stride is not None and stride < 1):
            raise ValueError("VideoDataModule: num_frames, frame_step and stride must be >= 1")
        if max_clips_per_video is not None and max_clips_per_video < 1:  # -1 left out each video's last clip
            raise ValueError(f"VideoDataModule: max_clips_per_video must be >= 1 (null: every clip), got "
                             f"{max_clips_per_video}")
        if fps is not None and not 0 < fps < math.inf:
            raise ValueError(f"VideoDataModule: fps must be a number > 0 (null: the rate its files record), "
                             f"got {fps:g}")
        if dataset == "synthetic" and num_clips < 1:  # met by moving_digits as the data was set up, naming no option
            raise ValueError(f"VideoDataModule: num_clips must be >= 1 (the synthetic clips generated), got "
                             f"{num_clips}")
        self.dataset_name = dataset
        self.num_frames = num_frames
        self.size = as_size(size)
        self.stride = stride
        self.frame_step = frame_step
        self.max_clips_per_video = max_clips_per_video
        self.num_clips = num_clips
        self.n_digits = tuple(n_digits)
        self.splits = tuple(splits)
        self.split_by = split_by
        self.in_memory_gb = in_memory_gb
        self.cache_dir = user_path(cache_dir) if cache_dir else cache_root("video", "files")
        self.bins = bins
        self.num_bins = num_bins
        self.fps = fps
        self.folder_stats: VideoFolder | None = None  # file counts of a "folder" read, for logging
        self._clips: torch.Tensor | FolderClips | None = None  # [N, T, H, W, 3] uint8
        self._parts: tuple[torch.Tensor, ...] | None = None
        self._videos: torch.Tensor | None = None  # [N] each clip's source video, which split_by="video" keeps whole
        self._folder_rows: dict[str, torch.Tensor] | None = None  # split folder -> [n] its clip rows
        self._spec: SignalSpec | None = None
        self._root_file: str | None = None  # a video file given as root, as pool_files names it

    # ---- data ------------------------------------------------------------------------------------
    def check_data_roots(self, stage: str | None = None) -> None:
        """The default data place holds something (SignalDataModule), and a root given exists: refused in the
        readers' own line before a run starts, rather than once the run has begun."""
        super().check_data_roots(stage)
        if self.read_by("root", stage) and not self.root.exists():  # the reader refuses it in its own line
            (list_video_files if self.dataset_name == "folder" else read_video_npz)(self.root)

    def check_processes(self, trainer: Any) -> None:
        """Synthetic clips made for the model's spec before the command line's Trainer were checked for the processes
        a launcher had started on this machine; Lightning's own DDP starts the trainer's processes once the trainer
        runs, which add copies of them (:func:`memory.copies_to_start`). Checked here, in the process that starts
        them: the clips it holds, and each copy (drawn again by ddp's, or of those held: ddp_spawn's)."""
        copies = copies_to_start(trainer)
        if self.dataset_name == "synthetic" and self._clips is not None and copies > 0:
            check_synthetic_memory(self.num_clips, self.num_frames, self.frame_step, self.size, copies=copies,
                                   shared=start_method(trainer) is not None)

    def _load(self) -> tuple[np.ndarray | FolderClips, np.ndarray]:
        """All clips [N, T, H, W, 3] uint8 (a folder's: :class:`FolderClips`) and the video each came from [N]."""
        self.check_data_roots()
        if self.dataset_name == "synthetic":
            h, w = self.size
            side = max(h, w)  # digits move on a square canvas; a non-square frame is its centre crop
            span = clip_span(self.num_frames, self.frame_step)  # frames drawn; a clip takes every frame_step-th
            # each process of a distributed run on this machine generates every clip
            check_synthetic_memory(self.num_clips, self.num_frames, self.frame_step, self.size,
                                   local_ranks(getattr(self, "trainer", None)))
            # [N, span, side, side, 3]
            clips = moving_digits(self.num_clips, span, side, seed=self.seed, n_digits=self.n_digits)
            top, left = (side - h) // 2, (side - w) // 2
            clips = clips[:, :: self.frame_step, top : top + h, left : left + w]  # [N, T, H, W, 3]
            return clips, np.arange(len(clips))
        if self.dataset_name == "folder":
            decoded = DecodedVideos(self.cache_dir)  # ffmpeg once a file: later starts load its frames
            self.folder_stats = read_video_folder(self.root, self.num_frames, self.size, self.stride, self.frame_step,
                                                  self.max_clips_per_video, read=decoded.read,
                                                  rate_and_size=decoded.rate_and_size)
            if self.root.is_file():  # as pool_files names it, by the digest its decoding took: not read again
                self._root_file = named_file(self.root, decoded.digests(self.root))
            decoded.save()
            clips = self.folder_stats.clips
            if clips.nbytes <= self.in_memory_gb * 2**30:  # served from memory, from one array: the clips of each
                # video file, which FolderClips holds decoded, are let go with it
                self.folder_stats.clips = clips = clips.decoded()  # [N, T, H, W, 3]
                return clips, self.folder_stats.video_index
            if clips.strips:
                rank_zero_info(f"[data] {len(clips)} clips take {clips.nbytes / 2**30:.1f} GiB decoded, more than "
                               f"in_memory_gb={self.in_memory_gb:g}: the frames of {counted(clips.strips, 'strip')} "
                               "are decoded as batches draw their clips (--data.init_args.num_workers decodes them in "
                               "parallel)")
            return clips, self.folder_stats.video_index
        videos = read_video_npz(self.root)  # [N, T0, H0, W0, 3]
        h0, w0 = videos.shape[2:4]
        if h0 < self.size[0] or w0 < self.size[1]:  # upscaled, as a folder's small videos are
            n, (h, w) = len(videos), self.size
            warn_rank_zero(upscaled(f"{'the one video' if n == 1 else f'the {n} videos'} of {self.root}, {w0}×{h0}, "
                                    f"{'is' if n == 1 else 'are'}", f"{w}×{h}", n == 1,
                                    ": give a smaller --data.init_args.size"))
        per = [cut_clips(v, self.num_frames, self.size, self.stride, self.frame_step) for v in videos]
        if self.max_clips_per_video is not None:
            per = [c[: self.max_clips_per_video] for c in per]
        if sum(len(c) for c in per) == 0:
            raise ValueError(
                f"{self.root}: its {videos.shape[1]}-frame videos are too short for clips of "
                f"{counted(self.num_frames, 'frame')} with frame_step {self.frame_step}: "
                f"{fewer_frames(videos.shape[1], self.num_frames, self.frame_step)}"
            )
        owners = np.concatenate([np.full(len(c), i) for i, c in enumerate(per)])
        return np.concatenate(per), owners

    def _folder_pools(self, folders: dict[str, list[Path]], owners: np.ndarray) -> dict[str, torch.Tensor]:
        """The clip rows [n] of each folder of a folder of videos in train/, val/ and test/ folders (``split_folders``'
        groups), from the file each clip came from (``owners`` [N])."""
        split_of = {p: SPLITS.index(s) for s, files in folders.items() for p in files}
        label = torch.tensor([split_of[p] for p in self.folder_stats.files])[torch.from_numpy(owners)]  # [N]
        return {s: torch.nonzero(label == SPLITS.index(s)).flatten() for s in folders}  # [n] clip rows a folder

    def _prepare(self) -> None:
        """Load every clip once and split it; cached because ``spec`` needs the training pixels."""
        if self._clips is not None:
            return
        clips, owners = self._load()
        # [N, T, H, W, 3]
        clips = clips if isinstance(clips, FolderClips) else torch.from_numpy(np.ascontiguousarray(clips))
        first = clips[0].reshape(-1, 3) if isinstance(clips, torch.Tensor) and len(clips) else None  # [T*H*W, 3]
        if first is not None and torch.equal(first.amin(0), first.amax(0)):  # all of them read only then (a second a
            # GiB); a folder's strips decoded when read are not, so all black ones meet the k-means bins' line
            pixels = clips.reshape(-1, 3)  # [N*T*H*W, 3]
            refuse_one_colour(pixels.amin(0), pixels.amax(0), len(clips), "clip", self.root or self.dataset_name)
        videos = owners  # [N] the source video of each clip: its file, or the folder of a video's strips
        if self.folder_stats is not None:
            videos = source_videos(self.folder_stats.files, self.root)[owners]  # [N]
        # every file found, read or skipped: a test/ folder whose videos were all too short is named, not taken for no
        # split folders (the test split drawn from train/); a layout that mixes split folders and other files is
        # named as such, not as splits that do not fit
        folders = split_folders(self.folder_stats.found, self.root) if self.folder_stats is not None else None
        if folders is not None and (empty := [s for s, files in folders.items()
                                              if not set(files).intersection(self.folder_stats.files)]):
            raise ValueError(f"{self.root}: no clips from its {', '.join(f'{s}/' for s in empty)} folder: each of its "
                             f"videos was too short or undecodable (see the warnings)")
        self._videos = torch.from_numpy(videos)  # [N]
        try:
            self._folder_rows = self._folder_pools(folders, owners) if folders is not None else None
            parts = self._parts_of(self.split_options())
        except ValueError as err:  # the sizes as given, and what an item is here
            n, n_videos = len(videos), len(np.unique(videos))
            more = ""  # sizes too large: more clips, generated or from more videos
            if "do not fit" in str(err) and self.dataset_name != "synthetic":
                more = ", or add videos"
            elif "do not fit" in str(err) and (needed := clips_needed(self.splits)) is not None:
                more = f", or --data.init_args.num_clips={needed} or more"
            unit = "" if not str(err).startswith("split sizes") else (
                f"; the items are clips, {n} from {counted(n_videos, 'video')}: {splits_hint('clips')}{more}")
            raise ValueError(f"VideoDataModule: {err}{unit}") from None
        self._clips = clips
        self._parts = parts

    def _parts_of(self, options: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        """The clip rows [n] of each split (train, val, test) under the split options ``options``
        (:meth:`split_options`: the sizes, the seed, the layout and split_by), from the videos and folders
        :meth:`_prepare` found: indices alone, no clip is read."""
        splits = tuple(int(s) for s in options["splits"])
        seed, layout = int(options["seed"]), int(options["split_layout"])
        # [N] the group a clip is split with: its video, or itself
        groups = self._videos if options["split_by"] == "video" else torch.arange(len(self._videos))
        if self._folder_rows is not None:  # each split from its own folder (validation from train/ without val/)
            pools = self._folder_rows  # folder -> [n] clip rows
            index = official_split_indices({s: len(rows) for s, rows in pools.items()}, splits, seed, str(self.root),
                                           groups={s: groups[rows] for s, rows in pools.items()}, layout=layout)
            return tuple(pools[pool][idx] for pool, idx in (index[s] for s in SPLITS))  # [n] clip rows a split
        return group_split(groups, splits, seed, layout)

    def pool_sizes(self) -> dict[str, int] | None:
        """The clips of each pool (a split folder's, or "all"), which video files added, removed or cut change;
        synthetic clips: None (their count is a split option)."""
        if self.dataset_name == "synthetic":
            return None
        self._prepare()
        if self._folder_rows is not None:
            return {name: len(rows) for name, rows in self._folder_rows.items()}
        return {"all": len(self._videos)}

    def pool_files(self) -> list[str] | None:
        """A folder's video files under root, read or skipped; a video file given as root: its name and bytes (read
        once, not at each checkpoint); an .npz or synthetic clips: None."""
        if self.dataset_name != "folder":
            return None
        self._prepare()
        if self.root.is_file():
            self._root_file = self._root_file or named_file(self.root)
            return [self._root_file]
        return [str(f.relative_to(self.root)) for f in self.folder_stats.found]

    @property
    def splits_with_train(self) -> tuple[str, ...]:
        """A folder with split folders: as its folders are; otherwise the clips are one pool."""
        self._prepare()
        return splits_with_train_of(list(self._folder_rows) if self._folder_rows is not None else ["all"])

    @property
    def data_drawn_by(self) -> tuple[str, ...]:
        """Synthetic clips are drawn by the data seed and their count (each clip depends on it): other values draw
        other clips, none of a checkpoint's."""
        return ("seed", "num_clips") if self.dataset_name == "synthetic" else ()

    def same_splits(self, options: dict[str, Any], splits: Sequence[str] = SPLITS) -> bool:
        """Whether a checkpoint's split options hold the clips this module's own do, in their order (sizes: -1 and
        the rest, counts that take the same whole videos; seeds of splits that each take a whole folder): the parts
        each draws from the clips as loaded once; another ``split_by`` groups them otherwise, which moves clips only
        between splits drawn from one pool."""
        if set(options) & set(self.pool_shaped_by):  # clips cut otherwise: not these clips
            return False
        self._prepare()
        theirs = self._parts_of({**self.split_options(), **options})
        return all(torch.equal(theirs[SPLITS.index(s)], self._parts[SPLITS.index(s)]) for s in splits)

    def source_path(self) -> Path | None:
        """A folder of videos or an .npz of clips; synthetic clips: None (a root given for them is not read)."""
        return self.root if self.read_by("root", None) else None

    def read_by(self, option: str, stage: str | None) -> bool:
        """Synthetic clips read no root given to them."""
        return self.dataset_name != "synthetic"

    def split_options(self) -> dict:
        options = {**super().split_options(), "splits": self.splits, "split_by": self.split_by}
        if self.dataset_name == "synthetic":  # the pool the splits share: clip i depends on the count
            options["num_clips"] = self.num_clips
        else:  # how videos are cut into the clips the splits deal
            options.update({name: getattr(self, name) for name in self.pool_shaped_by})
        return options

    def conversion_options(self, trained: dict[str, Any], resume: bool = False) -> dict[str, Any]:
        """A clip's frames are frame_step frames of the video (or of the synthetic motion) apart."""
        return {"frame_step": None}

    @property
    def pool_shaped_by(self) -> tuple[str, ...]:
        """Videos read from files are cut into clips by the stride and the cap per video: another value of either
        makes other clips of the same files (synthetic clips: their count, a split option of its own)."""
        return () if self.dataset_name == "synthetic" else ("stride", "max_clips_per_video")

    def build_split(self, split: str) -> Dataset:
        self._prepare()
        return ClipDataset(self._clips, self._parts[("train", "val", "test").index(split)])

    def empty_split_cause(self, split: str) -> str:
        """An empty train split of one pool of clips, the rest after val and test: what they took and what to give
        (generated clips, clips each split alone, or whole videos); else ""."""
        self._prepare()
        if split != "train" or self._folder_rows is not None or self.splits[0] != -1:
            return ""
        val, test = self._parts[1], self._parts[2]  # [n] clip rows
        went = f"went to val ({counted(len(val), 'clip')}) and test ({counted(len(test), 'clip')})"
        if self.dataset_name == "synthetic":  # each clip a video of its own: split_by changes nothing
            needed = clips_needed(self.splits)  # None where val takes none
            more = "" if needed is None else f", or --data.init_args.num_clips={needed} or more"
            return f": the {counted(len(val) + len(test), 'generated clip')} {went}: {splits_hint('clips')}{more}"
        n_videos = len(torch.unique(self._videos))
        where = f"{self.root}'s" if self.root is not None else "the"
        if self.split_by == "clip" or n_videos == len(self._videos):  # each clip split alone
            return (f": the {counted(len(val) + len(test), 'clip')} of {where} {counted(n_videos, 'video')} {went}: "
                    f"{splits_hint('clips')}, or add videos")
        return (f": {where} {counted(n_videos, 'video')} went whole to val ({counted(len(val), 'clip')}) and test "
                f"({counted(len(test), 'clip')}), as a video's clips stay in one split (a folder of strips is one "
                f"video); add videos, or give --data.init_args.split_by=clip")

    # ---- frame rate ----------------------------------------------------------------------------------
    def file_rates(self) -> list[float]:
        """The frame rates a folder's video files record, those that gave clips (strips and an .npz record none)."""
        if self.dataset_name != "folder":
            return []
        self._prepare()
        return sorted(rate for rate in self.folder_stats.rates if rate is not None)

    @property
    def clip_fps(self) -> float | None:
        """Frames a second of the clips, frame_step frames of their videos apart: ``fps`` given, else the median of a
        folder's files' rates (the lower middle one of an even count: a rate of one of them); None where the data
        records none."""
        rates = self.file_rates() if self.fps is None else [self.fps]
        return statistics.median_low(rates) / self.frame_step if rates else None

    def rate_words(self) -> str:
        """The rate the pictures play at and where it comes from, for the [data] line; "" for synthetic clips, whose
        default rate no data gives."""
        if self.fps is None and self.dataset_name == "synthetic":
            return ""
        fps, rates = self.clip_fps, self.file_rates()
        if fps is None:
            what = "an .npz records" if self.dataset_name == "npz" else "its files record"
            return (f"pictures play at {PICTURE_FPS} fps: {what} no frame rate (give --data.init_args.fps, the "
                    "frames a second of its videos)")
        step = f", over frame_step {self.frame_step}" if self.frame_step > 1 else ""
        if self.fps is not None:
            source = f"data.init_args.fps={self.fps:g}"
        elif rates[0] == rates[-1]:
            source = f"its videos' {rates[0]:g} fps"
        else:
            source = f"the median of its videos' {rates[0]:g} to {rates[-1]:g} fps"
        return f"pictures play at {fps:g} fps ({source}{step})"

    def splits_line(self, splits: Sequence[str]) -> str:
        """The core's [data] line, then the rate the pictures play at (:meth:`rate_words`)."""
        line, rate = super().splits_line(splits), self.rate_words()
        return f"{line}; {rate}" if rate else line

    # ---- spec ------------------------------------------------------------------------------------
    def _kmeans(self) -> torch.Tensor:
        """``num_bins`` RGB centres [NB, 3] fitted on a seeded subsample of training pixels."""
        self._prepare()
        train = self._parts[0]  # [n] clip rows
        if len(train) == 0:
            raise ValueError("VideoDataModule: the train split is empty, no pixels to fit k-means bins on"
                             + self.empty_split_cause("train"))
        gen = torch.Generator().manual_seed(self.seed)
        m = max(KMEANS_PIXELS, 4 * self.num_bins)
        # each clip of a strip read is decoded (a video file's are held decoded, and all of them are drawn from)
        if isinstance(self._clips, FolderClips) and self._clips.strips and len(train) > KMEANS_CLIPS:
            train = train[torch.randperm(len(train), generator=gen)[:KMEANS_CLIPS]]  # [KMEANS_CLIPS]
        rows = train[torch.randint(len(train), (m,), generator=gen)]  # [M]
        cols = torch.randint(self.num_frames * self.size[0] * self.size[1], (m,), generator=gen)  # [M] pixel of a clip
        values = self._pixels(rows, cols)  # [M, 3]
        return kmeans_centres(values.float() / 255.0, self.num_bins, seed=self.seed)  # [NB, 3]

    def _pixels(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Pixel ``cols`` [M] (an index into a clip's T*H*W) of clips ``rows`` [M] -> uint8 RGB [M, 3]: one gather
        from clips held in memory, else each clip drawn read once (a folder's clips are decoded when read)."""
        if isinstance(self._clips, torch.Tensor):
            return self._clips.reshape(len(self._clips), -1, 3)[rows, cols]  # [N, T*H*W, 3] -> [M, 3]
        order = torch.argsort(rows, stable=True)  # [M]: the draws of one clip together, so that it is read once
        clip_rows, counts = torch.unique_consecutive(rows[order], return_counts=True)
        values = torch.empty(len(rows), 3, dtype=torch.uint8)  # [M, 3]
        reads = zip(clip_rows.tolist(), torch.split(order, counts.tolist()))
        for row, draws in loop_progress(reads, "k-means bins: reading clips", total=len(clip_rows), unit="clip"):
            values[draws] = torch.as_tensor(self._clips[row]).reshape(-1, 3)[cols[draws]]  # [T*H*W, 3] -> [d, 3]
        return values

    @property
    def spec(self) -> SignalSpec:
        if self._spec is None:
            spec = SignalSpec(
                domain="video",
                dataset=self.dataset_name,
                grid_shape=(self.num_frames, *self.size),
                val_dims=3,
                val_range=(0.0, 1.0),
                num_bins=self.num_bins,
                # the module's spec names its folder (module_spec); the clips' rate where the data records one
                extra={"frame_step": self.frame_step, **({} if (fps := self.clip_fps) is None else {"fps": fps})},
            )
            self._spec = spec.with_centres(self._kmeans()) if self.bins == "kmeans" else spec
        return self._spec


# ---- single files for prediction -------------------------------------------------------------------
VIDEO_INPUTS = f"a video file {VIDEO_TYPES}, an animated .png, a strip {STRIP_TYPES} or a clip .npz"
INPUT_CLIP = "--model.domain.init_args.input_clip"  # the option that picks the clip of an --input .npz (VideoDomain's)


def clips_needed(splits: Sequence[int]) -> int | None:
    """The fewest generated clips the split sizes (-1: the rest) deal with train and val not empty (test may be);
    None where no count does (a size 0 for train or val)."""
    if 0 in splits[:2]:
        return None
    return sum(s for s in splits if s != -1) + sum(s == -1 for s in splits[:2])


def check_synthetic_memory(num_clips: int, num_frames: int, frame_step: int, size: tuple[int, int],
                           ranks: int = 1, copies: int = 0, shared: bool = False) -> None:
    """Refuse synthetic clips whose frames (uint8 [N, span, side, side, 3], drawn at once over the span of
    ``num_frames`` ``frame_step`` apart on a square of the larger side of ``size``) could not be held in the memory
    available now, shared by ``ranks`` processes that each draw them, in one line naming the most clips that fit.
    ``copies``: checked again for the clips this process holds ([N, num_frames, *size, 3]) and the copies of them
    that Lightning's DDP adds as it starts its processes (:func:`memory.copies_to_start`), not under this process's
    address-space limit: each drawn again, or ``shared`` copies of the clips held (torch's shared memory)."""
    span, side = clip_span(num_frames, frame_step), max(size)

    def need(clips: int) -> int:
        return clips * span * side * side * 3

    def kept(clips: int) -> int:  # the clips held, cropped to size and every frame_step-th frame
        return clips * num_frames * size[0] * size[1] * 3

    def total(clips: int) -> int:  # this process's clips and each copy
        return kept(clips) + copies * (kept if shared else need)(clips)

    # copies: in the memory at hand for one; where that memory fell as the clips were made, they are out of it
    # already (held). Fewer clips would shrink this one's too: the most that fit are the memory and the clips held,
    # over every copy
    held = kept(num_clips) if copies and falls_as_allocated() else 0
    if copies:
        short = shortfall(total(num_clips) - held, own_space=False)
    else:
        short = shortfall(need(num_clips), ranks=ranks)
    if short is None:
        return
    fewer = "fewer num_frames, a smaller frame_step or a smaller size" if frame_step > 1 else \
        "fewer num_frames or a smaller size"
    remedy = replace(short, memory=short.memory + held).remedy("num_clips", num_clips, total if copies else need,
                                                                 fewer)
    given = f"{num_frames} frames of {size[0]}×{size[1]}" + (f" at frame_step {frame_step}" if frame_step > 1 else "")
    drawn = f" (drawn as {span} frames of {side}×{side})" if (span, side, side) != (num_frames, *size) else ""
    if copies:
        also = "" if held else "this process's copy and "
        short = replace(short, where=f" for {also}{counted(copies, 'more copy', 'more copies')} as Lightning's DDP "
                                     f"starts its processes on this machine")
    raise ValueError(f"VideoDataModule: {counted(num_clips, 'synthetic clip')} of {given}{drawn} "
                     f"{'needs' if num_clips == 1 else 'need'} at least {short.words}; {remedy}")


def npz_clip(path: Path, clip: int | None) -> np.ndarray:
    """The frames [F, H, W, 3] of clip ``clip`` (counted from 0) of an .npz of clips; None: the first, with a warning
    naming the option that picks another where the file holds more. An index it does not hold is refused."""
    clips = read_video_npz(path)  # [N, F, H, W, 3]
    n = len(clips)
    if clip is None:
        if n > 1:
            warnings.warn(f"{path} holds {n} clips: completing the first (clip 0); to complete another, give its index "
                          f"as {INPUT_CLIP}=1 (0 to {n - 1})", stacklevel=3)
        return clips[0]  # [F, H, W, 3]
    if clip >= n:
        held, give = (("1 clip", "give 0, or leave input_clip out") if n == 1 else
                      (f"{n} clips, 0 to {n - 1}", f"give one of 0 to {n - 1}"))
        raise ValueError(f"{path} holds {held}: {INPUT_CLIP}={clip} is none of them; {give}")
    return clips[clip]  # [F, H, W, 3]


def load_user_video(
    path: str | Path, num_frames: int = 17, size: int | tuple[int, int] = 32, frame_step: int = 1, start: int = 0,
    clip: int | None = None,
) -> torch.Tensor:
    """One clip from a video file, GIF, .npz (clip ``clip`` of it, counted from 0; None: its first, :func:`npz_clip`)
    or a JPEG/PNG strip of square frames stacked top to bottom (TinyVideos', as a folder of videos reads them)
    -> FloatTensor [3, T, H, W] in [0, 1]. ``clip`` is refused for any file but an .npz, which alone holds several."""
    path = Path(path)
    suffix = path.suffix.lower()
    strip = is_strip_file(path)
    not_strip = strip_problem(path) if strip else None
    span = clip_span(num_frames, frame_step)
    if start < 0:  # before decoding, which stops where the clip ends
        raise ValueError(f"{path}: start must be >= 0 (the clip's first frame), got {start}")
    if clip is not None and suffix != ".npz":  # an option given and never read
        raise ValueError(f"{path}: {INPUT_CLIP} picks a clip of an .npz of clips, but a {suffix or 'suffixless'} file "
                         "holds one video: leave input_clip out")
    if suffix == ".npz":
        frames = npz_clip(path, clip)  # [F, H, W, 3]
    elif strip and not_strip is None:
        frames = read_strip(path)  # [F, W, W, 3], resized with the clip below
    else:  # decoded as far as the clip reaches
        try:
            frames = read_video_file(path, size=size, max_frames=start + span)  # [F, H, W, 3]
        except VideoDecodeError as err:  # ffmpeg's words for a mesh or text file do not say that it is no video
            if suffix in VIDEO_SUFFIXES:  # a video cut short, empty or damaged: another copy of it may help
                again = ", or this one copied or exported again whole" if err.damaged else ""
                raise VideoDecodeError(f"{err}; give another video file{again}") from None
            raise VideoDecodeError(f"{str(err).rstrip('.')}; a {suffix or 'suffixless'} file is not a video: give "
                                   f"{VIDEO_INPUTS}") from None
    if len(frames) == 1 and span > 1:
        raise ValueError(f"{path}: a still image (one frame), not a video{f', and {not_strip}' if not_strip else ''}; "
                         f"give {VIDEO_INPUTS}, or complete a picture with {data_words('images')}")
    if len(frames) < start + span:
        apart = f" {frame_step} apart" if frame_step > 1 else ""
        where, earlier = (f" from frame {start}", ", or an earlier start") if start else ("", "")
        raise ValueError(f"{path}: {counted(len(frames), 'frame')}; a clip of {counted(num_frames, 'frame')}{apart}"
                         f"{where} needs {start + span}: give a video of {start + span} frames or more{earlier}")
    clip = cut_clips(frames[start : start + span], num_frames, size, frame_step=frame_step)[0]  # [T, H, W, 3]
    return torch.from_numpy(clip).permute(3, 0, 1, 2).float() / 255.0  # [3, T, H, W]


def mask_strip(path: Path, span: int) -> bool:
    """Whether a --mask is read as a strip of square frames (:func:`strip_frames`, from its header), as --input reads
    one, for a clip that takes ``span`` frames of a file: a strip of fewer, yet more than a still mask's one (a strip
    holds 2 or more), is refused."""
    frames = strip_frames(path)
    if frames is not None and frames < span:
        w = frame_size(path)[1]  # a strip's frames are square
        raise ValueError(f"mask {path}: a strip of {frames} square frames ({w}x{frames * w} pixels), as --input "
                         f"reads one, but the clip needs 1 (a still mask) or at least {span}: give a strip of {span} "
                         "frames or more, or a still mask as a picture that is not a strip (its height no whole "
                         "multiple of its width) or as a one-frame .gif")
    return frames is not None


def read_mask_video(path: str | Path, num_frames: int = 17, size: int | tuple[int, int] = 32,
                    frame_step: int = 1) -> tuple[torch.Tensor, list[str], bool]:
    """A mask video, GIF, strip or single image (white = observed) -> BoolTensor [T, H, W], what reading it did
    besides fitting its size, in words for :func:`mask_line` ("read as grey" for colours, "thresholded at grey level
    128" for levels between black and white; [] for a black-and-white mask), and whether its frames are in colour.
    Its pixels are read as grey and thresholded as an images --mask's are (:func:`threshold_mask`); a mask that observes
    no pixel is refused in an images --mask's words (:func:`nothing_observed`), or as white only in frames the clip
    skips.

    A single image is used for every frame; a video's frames are those of the input clip (:func:`load_user_video`):
    frames 0, frame_step, 2 * frame_step, ..., so it needs at least (T - 1) * frame_step + 1 of them. A JPEG/PNG
    strip of square frames stacked top to bottom is a video, as :func:`load_user_video` reads one.
    """
    path = Path(path)
    return read_mask_frames(path, num_frames, size, frame_step, mask_strip(path, clip_span(num_frames, frame_step)))


def read_mask_frames(path: Path, num_frames: int, size: int | tuple[int, int], frame_step: int,
                     strip: bool) -> tuple[torch.Tensor, list[str], bool]:
    """:func:`read_mask_video` of a mask that :func:`mask_strip` has passed; ``strip``: what it said (a strip?)."""
    span = clip_span(num_frames, frame_step)
    if strip:
        frames = resize_and_crop(read_strip(path)[:span], size)  # [span, H, W, 3]
    else:
        frames = read_video_file(path, size=size, max_frames=span)  # [F, H, W, 3]
    if share := transparent_share(path, span):  # put on white, its transparent pixels would read as observed
        raise ValueError(f"mask {path}: {transparent_mask(share)}")
    if len(frames) == 1:
        frames = np.repeat(frames, span, axis=0)
    if len(frames) < span:
        step = f": the clip's {num_frames} frames are {frame_step} apart" if frame_step > 1 else ""
        raise ValueError(f"mask {path}: {len(frames)} frames, need 1 (a still mask) or at least {span}{step}; give a "
                         f"mask video of {span} frames or more, or a still mask (one picture, used for every frame)")
    frames = frames[:span:frame_step]  # [T, H, W, 3]
    colour = not (frames == frames[..., :1]).all()
    mask, done = threshold_mask(grey_levels(frames), colour)  # [T, H, W]
    if not mask.any():  # why, told by the levels at the file's size (read again): lost in the resize, or never white
        whole = read_strip(path) if strip else read_video_file(path, max_frames=span)  # [F, h, w, 3]
        whole = grey_levels(whole)  # [F, h, w] uint8
        levels = whole[:span:frame_step]  # [T, h, w] uint8 ([1, h, w]: a still mask)
        if not (levels >= MASK_LEVEL).any() and (skipped := int((whole[:span] >= MASK_LEVEL).sum())):
            raise ValueError(f"mask {path}: the mask's {counted(skipped, 'white pixel')} (grey level {MASK_LEVEL} or "
                             f"more) {in_number(skipped, 'lies', 'lie')} only in frames the clip skips (frame_step "
                             f"{frame_step} takes frames 0, {frame_step}, {2 * frame_step}, ...): paint them white in "
                             "the frames it takes")
        taken = f" in the {counted(num_frames, 'frame')} the clip takes" if len(whole) > 1 else ""  # not a still mask
        raise ValueError(f"mask {path}: {nothing_observed(levels, as_size(size), colour, taken)}")
    return torch.from_numpy(mask), done, colour
