"""Pictures of video signals; pure functions (tensors in, files out), no metrics, no logger calls.

Videos here are float tensors [3, T, H, W] in [0, 1] (the DataModule's signal layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from pixeltransformer.files import atomic_write
from pixeltransformer.sets import grid_positions, nearest_neighbour_fill, read_signal, unflatten_grid

from .io import PICTURE_FPS, enlarge, write_video


def _check_video(video: torch.Tensor, name: str = "video") -> torch.Tensor:
    video = torch.as_tensor(video).detach().cpu()
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"{name} must be [3, T, H, W], got shape {tuple(video.shape)}")
    return video.float() / 255.0 if video.dtype == torch.uint8 else video.float()


def to_frames(video: torch.Tensor) -> np.ndarray:
    """[3, T, H, W] float in [0, 1] (or uint8) -> uint8 frames [T, H, W, 3]."""
    video = _check_video(video)
    return (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()  # [T, H, W, 3]


def frame_strip(video: torch.Tensor, every: int = 1, gap: int = 1) -> np.ndarray:
    """Frames 0, every, 2*every, ... side by side, ``gap`` white pixels apart -> uint8 [H, W', 3]."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    frames = to_frames(video)[::every]  # [n, H, W, 3]
    n, h, w, _ = frames.shape
    strip = np.full((h, n * w + (n - 1) * gap, 3), 255, dtype=np.uint8)
    for i, f in enumerate(frames):
        strip[:, i * (w + gap) : i * (w + gap) + w] = f
    return strip


def on_grid(video: torch.Tensor, grid_shape: Sequence[int]) -> torch.Tensor:
    """A clip [3, T, H, W] read trilinearly on another (T', H', W') grid, as the model's positions see it
    -> [3, T', H', W'] (the clip itself when the grids agree)."""
    grid = tuple(int(g) for g in grid_shape)
    if tuple(video.shape[1:]) == grid:
        return video
    vals = read_signal(video[None].float(), grid_positions(grid)[None])  # [1, N, 3]
    return unflatten_grid(vals, grid)[0]  # [3, T', H', W']


def context_video(
    ctx_pos: torch.Tensor, ctx_val: torch.Tensor, grid_shape: Sequence[int], mode: str = "nearest"
) -> torch.Tensor:
    """A picture of the context set S on the grid (T, H, W) -> [3, T, H, W].

    "nearest": every voxel shows its nearest context sample (distance in (t, y, x) position space, the
    model's own coordinates); "points": the samples on a grey canvas, each at its nearest voxel.
    """
    ctx_pos = torch.as_tensor(ctx_pos).detach().cpu().float()  # [K, 3]
    ctx_val = torch.as_tensor(ctx_val).detach().cpu().float()  # [K, 3]
    if ctx_pos.dim() != 2 or ctx_pos.shape[1] != 3 or ctx_val.shape != ctx_pos.shape:
        raise ValueError(
            f"context_video expects ctx_pos and ctx_val [K, 3], got {tuple(ctx_pos.shape)}, {tuple(ctx_val.shape)}"
        )
    t, h, w = (int(g) for g in grid_shape)
    if mode == "nearest":
        if ctx_pos.shape[0] == 0:
            raise ValueError("context_video: the context set is empty")
        qry = grid_positions((t, h, w))  # [N, 3]
        vals = nearest_neighbour_fill(ctx_pos[None], ctx_val[None], qry[None])[0]  # [N, 3]
        return vals.T.reshape(3, t, h, w)  # [3, T, H, W]
    if mode == "points":
        sizes = torch.tensor([t, h, w]).float()
        idx = ((ctx_pos.clamp(-1, 1) + 1) / 2 * (sizes - 1)).round().long()  # [K, 3] voxel indices
        out = torch.full((3, t, h, w), 0.5)
        out[:, idx[:, 0], idx[:, 1], idx[:, 2]] = ctx_val.T  # [3, K]
        return out
    raise ValueError(f"context_video: mode must be 'nearest' or 'points', got {mode!r}")


def frame_labels(num_frames: int, every: int, frame_step: int = 1) -> list[str]:
    """The column labels of a frame strip: the index of each frame shown, in time order ("frame 0", "frame 2", ...);
    with ``frame_step``, the clip's frames being that many frames of a video apart, the video's frame index."""
    return [f"frame {t * frame_step}" for t in range(0, num_frames, every)]


TITLE_PT = 9  # the title's font size, in points
TITLE_LINE_IN = TITLE_PT * 1.2 / 72  # inches a line of the title adds (matplotlib's line spacing: 1.2)


def wrapped(text: str, fig, fontsize: float, margin: float = 0.03) -> str:
    """``text`` broken into lines between its words where they would run past ``fig``'s width, less ``margin`` of it
    at each side, at ``fontsize`` points (its own line breaks kept), so that a title longer than a figure of narrow
    clips shows whole. A word wider than that room stays whole, on a line of its own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    room = fig.bbox.width * (1 - 2 * margin)
    probe = fig.text(0, 0, "", fontsize=fontsize)

    def fits(line: str) -> bool:
        probe.set_text(line)
        return probe.get_window_extent(renderer).width <= room

    lines = []
    for part in text.split("\n"):
        words = part.split(" ")
        line = words[0]
        for word in words[1:]:
            if fits(f"{line} {word}"):
                line = f"{line} {word}"
            else:
                lines.append(line)
                line = word
        lines.append(line)
    probe.remove()
    return "\n".join(lines)


def figure_video_samples(
    gt: torch.Tensor | None,
    ctx_vis: torch.Tensor,
    samples: Sequence[torch.Tensor],
    mean: torch.Tensor | None,
    path: str | Path,
    every: int = 2,
    context_label: str = "S (NN fill)",
    title: str | None = None,
    frame_step: int = 1,
) -> Path:
    """The paper's Fig. 10 layout as a PNG: one row of frames each for the ground truth, the context S,
    every sample, and the mean prediction (all [3, T, H, W]; no ground-truth row when gt is None), each frame
    labelled above the first row with its index (frame_labels: the video's, the clip's frames ``frame_step`` of it
    apart) and, given ``title``, a title, wrapped to the figure's width (:func:`wrapped`). Returns the path."""
    from matplotlib.figure import Figure

    rows = ([] if gt is None else [("ground truth", gt)]) + [(context_label, ctx_vis)]
    rows += [(f"sample {i + 1}", s) for i, s in enumerate(samples)]
    if mean is not None:
        rows.append(("mean", mean))
    strips = [(label, frame_strip(v, every=every)) for label, v in rows]
    shapes = {s.shape for _, s in strips}
    if len(shapes) != 1:
        raise ValueError(f"figure_video_samples: all videos need the same [3, T, H, W] shape, got strips {shapes}")
    h, w, _ = strips[0][1].shape
    _, num_frames, _, frame_w = _check_video(ctx_vis, "ctx_vis").shape
    labels = frame_labels(num_frames, every, frame_step)
    row_in, names_in = 0.9, 1.2  # inches per row, and left of the rows for their names
    width = names_in + row_in * w / h
    fig = Figure(figsize=(width, row_in), dpi=150)  # its height once the title's lines are known
    title = wrapped(title, fig, fontsize=TITLE_PT) if title else None
    # above the rows: the frame labels, and the title's first line and each line more
    head_in = 0.22 + (0.3 + TITLE_LINE_IN * title.count("\n") if title else 0.0)
    height = row_in * len(strips) + head_in
    fig.set_size_inches(width, height)
    for i, (label, strip) in enumerate(strips):
        ax = fig.add_subplot(len(strips), 1, i + 1)
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        if i == 0:  # frame indices over the first row: the columns are in time order, every ``every``-th frame
            ax.xaxis.tick_top()
            ax.set_xticks([j * (frame_w + 1) + (frame_w - 1) / 2 for j in range(len(labels))], labels, fontsize=7)
            ax.tick_params(axis="x", length=0, pad=2)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT, y=1 - 0.12 / height)
    # the names' room in inches, not a share of the width: a figure of one narrow frame still holds them whole
    fig.subplots_adjust(left=(names_in - 0.1) / width, right=1 - 0.05 / width, top=1 - head_in / height,
                        bottom=0.01 * row_in * len(strips) / height, hspace=0.08)
    return atomic_write(path, fig.savefig)  # beside it, then renamed: never a cut-off picture under the name


LABEL_H = 18  # pixels of the label band over side-by-side clips


def label_band(labels: Sequence[str], tile_w: int, gap: int) -> np.ndarray:
    """A white band of LABEL_H rows with each label centred over its tile (tiles tile_w wide, gap apart)
    -> uint8 [LABEL_H, n * tile_w + (n - 1) * gap, 3]. matplotlib draws the text (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = len(labels) * tile_w + (len(labels) - 1) * gap
    fig = Figure(figsize=(width / 100, LABEL_H / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    # points such that the longest label (a character ~0.6 em wide) fits its tile, at most 9
    size = min(9.0, 0.9 * tile_w * 72 / (100 * 0.6 * max(len(t) for t in labels)))
    for i, text in enumerate(labels):
        fig.text((i * (tile_w + gap) + tile_w / 2) / width, 0.5, text, ha="center", va="center", fontsize=size)
    canvas.draw()
    band = np.asarray(canvas.buffer_rgba())[..., :3]  # [h', w', 3]
    out = np.full((LABEL_H, width, 3), 255, dtype=np.uint8)
    h, w = min(LABEL_H, band.shape[0]), min(width, band.shape[1])
    out[:h, :w] = band[:h, :w]
    return out


def write_side_by_side(
    videos: Sequence[torch.Tensor], path: str | Path, fps: float = PICTURE_FPS, gap: int = 2,
    upscale_to: int | None = 128,
    labels: Sequence[str] | None = None,
) -> Path:
    """Tile clips [3, T, H, W] horizontally (white gaps) and write one mp4 or GIF; with ``labels`` (one per clip)
    a band above the clips names each (label_band), the clips enlarged first as write_video would. Returns the path."""
    if not videos:
        raise ValueError("write_side_by_side needs at least one video")
    if labels is not None and len(labels) != len(videos):
        raise ValueError(f"write_side_by_side: {len(labels)} labels for {len(videos)} videos")
    frames = [to_frames(v) for v in videos]  # each [T, H, W, 3]
    if len({f.shape for f in frames}) != 1:
        raise ValueError(f"write_side_by_side: videos differ in shape: {[tuple(v.shape) for v in videos]}")
    if labels is not None and upscale_to:  # enlarge before the labels join, so their text stays sharp
        frames = [enlarge(f, upscale_to) for f in frames]  # each [T, kH, kW, 3]
        upscale_to = None
    t, h, w, _ = frames[0].shape
    white = np.full((t, h, gap, 3), 255, dtype=np.uint8)
    tiles = [frames[0]]
    for f in frames[1:]:
        tiles += [white, f]
    clip = np.concatenate(tiles, axis=2)  # [T, H, W', 3]
    if labels is not None:
        band = label_band(labels, w, gap)  # [LABEL_H, W', 3]
        clip = np.concatenate([np.broadcast_to(band, (t, *band.shape)), clip], axis=1)  # [T, LABEL_H + H, W', 3]
    return write_video(clip, path, fps=fps, upscale_to=upscale_to)


def write_figure10(
    gt: torch.Tensor | None,
    ctx_vis: torch.Tensor,
    samples: Sequence[torch.Tensor],
    mean: torch.Tensor,
    stem: str | Path,
    fps: float = PICTURE_FPS,
    every: int = 2,
    context_label: str = "S (NN fill)",
    gif: bool = True,
    title: str | None = None,
    frame_step: int = 1,
) -> dict[str, Path]:
    """The paper's Fig. 10 for one clip, as files next to each other: ``<stem>.png`` (rows of frames: ground truth,
    S, samples, mean; frames labelled, as frames ``frame_step`` apart, ``title`` above), ``<stem>.mp4`` (the same
    clips side by side, playing, each named above it) and, with ``gif``, ``<stem>.gif``.
    All videos are [3, T, H, W] (gt may be None: no GT row). Returns {"png": ..., "mp4": ..., "gif"?: ...}."""
    stem = Path(stem)
    clips = ([] if gt is None else [gt]) + [ctx_vis, *samples, mean]
    labels = (([] if gt is None else ["ground truth"]) + [context_label]
              + [f"sample {i + 1}" for i in range(len(samples))] + ["mean"])
    out = {"png": figure_video_samples(gt, ctx_vis, samples, mean, stem.with_suffix(".png"), every, context_label,
                                       title, frame_step),
           "mp4": write_side_by_side(clips, stem.with_suffix(".mp4"), fps=fps, labels=labels)}
    if gif:
        out["gif"] = write_side_by_side(clips, stem.with_suffix(".gif"), fps=fps, labels=labels)
    return out
