"""VideoDomain: what the video domain adds to the core's loop: Fig. 10 pictures and videos of completions,
per-frame PSNR/SSIM of sweep items, and a user's clip or mask video read onto the model's (T, H, W) grid."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from pixeltransformer.domain import (Domain, Files, ItemValues, all_observed, centre_crop, fitted_note, index_at,
                                     level_title, mask_line, shape_mismatch)
from pixeltransformer.errors import share_words, upscaled
from pixeltransformer.evaluation import SweepItem
from pixeltransformer.files import write_json
from pixeltransformer.inference import Completion
from pixeltransformer.signal import SignalSpec

from .clips import clip_span, read_video_npz
from .data import INPUT_CLIP, load_user_video, mask_strip, read_mask_frames
from .io import PICTURE_FPS, read_video_file, transparent_share, uneven_delays, write_video
from .metrics import SSIM_MIN_SIDE, psnr_per_frame, ssim_per_frame, sweep_metrics, sweep_summary
from .strips import frame_size, npz_clips_shape, rate_and_size
from .visualize import context_video, on_grid, to_frames, write_figure10


# the units of the psnr and ssim columns, in metrics.json's and summary.json's words
PSNR_SSIM_UNITS = "psnr in dB, ssim of no unit (1: identical)"
# metrics.json's words for the video columns; each claim here is what metrics.py computes
METRIC_NOTES = ("PSNR/SSIM per frame averaged over frames and clips (torchmetrics SSIM, 11x11 Gaussian window, sigma "
                "1.5, data_range 1, whole reflect-padded frames with no border crop; none for frames under "
                f"{SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels; a frame's PSNR capped at 100 dB); predictions clamped to "
                "[0, 1], the range they are shown in; mse on pixels not in S, unclamped; observed pixels keep their "
                "values in the mean video; columns: psnr, ssim: the mean video; sample_: the sampled videos "
                "(n_autoregressive values drawn, the others their mean), averaged over num_samples, on the first "
                "sample_clips test clips; nn_: the nearest sample of S in normalised (t, y, x), each axis on "
                f"[-1, 1], so one frame step is as far as (W - 1) / (T - 1) pixel steps; units: {PSNR_SSIM_UNITS}, "
                "mse in squared [0, 1] values")
# summary.json's words for its psnr_vs_input and ssim_vs_input
SUMMARY_UNITS = f"{PSNR_SSIM_UNITS}, per frame, averaged over the frames"


def taken_note(span: int, step: int, rate: float | None, source: tuple[int, int] | None,
               size: tuple[int, int], played: str = f"{PICTURE_FPS} fps") -> str:
    """Which frames of an input a clip takes, in words: "frames 0-16 (0.68 s at 25 fps) of 640×272"; a file of no
    rate (an .npz) says the rate of the videos written instead, ``played``."""
    every = f", {step} apart" if step > 1 else ""
    when = f" ({span / rate:.2g} s at {rate:g} fps)" if rate else ""
    size = f" of {source[1]}×{source[0]}" if source else ""
    unknown = "" if rate else f" (the file records no frame rate: the videos written play at {played})"
    return f"frames 0-{span - 1}{every}{when}{size}{unknown}"


def crop_note(source: tuple[int, int] | None, size: tuple[int, int]) -> str:
    """The part of frames of ``source`` (h, w) that a clip of ``size`` (h, w) shows, where the aspects differ (the
    centre crop of resize_and_crop): " (their centre 272×272)"; "" where it shows all of them."""
    if source is None:
        return ""
    h, w = centre_crop(source, size)
    return "" if (h, w) == tuple(source) else f" (their centre {w}×{h})"


def nth(k: int) -> str:
    """2 -> "2nd", 11 -> "11th"."""
    return f"{k}{'th' if k % 100 in (11, 12, 13) else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def describe_video_row(grid_shape: tuple[int, ...], frame_step: int = 1) -> str:
    """The units of a video `--context` row on a model's (T, H, W) grid of clips ``frame_step`` apart, in words, for
    the messages that refuse one: positions are frame and pixel indices of the model's grid (not of the video's
    frames or pixels) mapped onto [-1, 1] (:func:`grid_positions`), colours 0-255 levels / 255. The ends of an axis
    are said where it holds more than one point."""
    t, h, w = grid_shape
    ends = [f"frame 0 at -1, frame {t - 1} at 1"] if t > 1 else []
    if frame_step > 1 and t > 1:
        ends.append(f"t counts the clip's frames, every {nth(frame_step)} frame of the video")
    frames = index_at(t, "frame", "t") + (f" ({'; '.join(ends)})" if ends else "")
    pixels = (index_at(h, "pixel row and column", "y, x") if h == w else
              f"{index_at(h, 'pixel row', 'y')} and {index_at(w, 'column', 'x')}")
    corner = " (the top left pixel at -1, -1)" if h > 1 and w > 1 else ""
    return (f"a video row is [t, y, x, r, g, b]: {frames}, {pixels}{corner}, and r, g, b in [0, 1] (a 0-255 level "
            "divided by 255)")


class VideoDomain(Domain):
    """Clips [3, T, H, W], positions (t, y, x) in [-1, 1]^3, RGB in [0, 1].

    Args:
        max_context: the largest |S| a mask gives (the largest the evaluation covers): the set encoder's cost
            grows with |S|^2 and autoregressive sampling re-encodes the set at every step, so a mask observing
            more pixels is subsampled to this many (with a warning; a fixed seed picks them).
        gif: write a GIF next to each Fig. 10 mp4.
        input_clip: the clip of a predict --input .npz of several clips to complete, counted from 0 (null: the first,
            with a warning naming this option); refused for an input file of one video.
    """

    name = "video"
    row_names = ("t", "y", "x", "r", "g", "b")
    verdict_keys = ("psnr_rises_with_context",)  # sweep_summary's
    input_help = ("a video file (mp4, avi, mov, mkv, webm), a GIF, an animated PNG or WebP, a JPEG/PNG strip of "
                  "square frames or an .npz of clips")

    def __init__(self, max_context: int = 4096, gif: bool = True, input_clip: int | None = None):
        if max_context < 1:
            raise ValueError(f"VideoDomain: max_context must be >= 1, got {max_context}")
        if input_clip is not None and input_clip < 0:
            raise ValueError(f"VideoDomain: input_clip must be >= 0 (the clip of an --input .npz to complete, counted "
                             f"from 0; null: the first), got {input_clip}")
        self.max_context, self.gif, self.input_clip = max_context, gif, input_clip
        self.clip_read: int | None = None  # the clip of an .npz read_input read last (None: another kind of file)
        self.input_fps: float | None = None  # the rate of the clip read_input read last, which its prediction keeps
        # the file, frame_step and clip of an .npz of that clip, read again at a prediction's own grid (--resolution)
        self.input_file: tuple[Path, int, int | None] | None = None
        self.input_size: tuple[int, int] | None = None  # the (h, w) of that clip's frames, for its mask's shape
        self.input_note: str | None = None  # which frames of that input the clip takes, in words, for summary.json

    # ---- pictures ---------------------------------------------------------------------------------------
    def picture_fps(self) -> float:
        """The frames a second of the videos written of the data's clips (a fit's and an evaluation's pictures, a
        prediction whose input records no rate): the rate the data's spec records (VideoDataModule.clip_fps: a
        checkpoint keeps it), else PICTURE_FPS."""
        fps = (self.spec.extra if self.spec is not None else {}).get("fps")
        return float(fps or PICTURE_FPS)  # 8.0 as a folder's 12.0: metrics.json records one kind of number

    @staticmethod
    def clips(c: Completion) -> tuple[torch.Tensor | None, torch.Tensor, list[torch.Tensor]]:
        """The clips beside the mean of one completion (batch of 1): the ground truth on the completion's grid
        (None when unknown), the nearest-neighbour view of S and the samples, each [3, T, H, W]."""
        gt = None if c.signal is None else on_grid(c.signal[0], c.grid_shape)  # [3, T, H, W]
        ctx_vis = context_video(c.ctx_pos[0], c.ctx_val[0], c.grid_shape)  # [3, T, H, W]
        return gt, ctx_vis, [] if c.samples is None else list(c.samples[0])

    def pictures(self, completions: dict[str, Completion], out_dir: Path, suffix: str = "") -> Files:
        """Fig. 10 as ``video<i>_S<k><suffix>.png/.mp4/.gif`` per clip i and context k (GT, the NN view of S,
        the samples, the mean); the PNGs and mp4s are logged."""
        pngs, mp4s = [], []
        for name, c in completions.items():
            for i in range(c.mean.shape[0]):
                one = c[i]
                # the clip's split and index in it; the sample rows: only N' of their values drawn, where that applies
                files = write_figure10(*self.clips(one), one.mean[0], out_dir / f"video{i}_S{name}{suffix}",
                                       fps=self.picture_fps(), gif=self.gif,
                                       title=one.titled(level_title(one, suffix), sep="; "))
                pngs.append(files["png"])
                mp4s.append(files["mp4"])
        return {"video_frames": pngs, "videos": mp4s}

    # ---- evaluation -----------------------------------------------------------------------------------
    def metrics(self, item: SweepItem) -> dict[str, torch.Tensor]:
        return sweep_metrics(item)

    def plot_groups(self) -> dict[str, list[str]]:
        return {"NLL (nats/dim)": ["nll"], "PSNR per frame (dB)": ["psnr", "sample_psnr", "nn_psnr"],
                "SSIM per frame": ["ssim", "sample_ssim", "nn_ssim"]}

    def summary(self, rows: list[dict], items: ItemValues | None = None) -> dict:
        return {**sweep_summary(rows, items), "metric_notes": METRIC_NOTES}

    # ---- a user's files ---------------------------------------------------------------------------------
    def input_options(self) -> dict:
        """The clip of an .npz --input that was completed (input_clip, or 0 where it was not given); none of another
        file or of --context rows alone. Used up: the next prediction's input says its own."""
        read, self.clip_read = self.clip_read, None
        return {} if read is None else {"input_clip": read}

    def start_prediction(self) -> None:
        """What read_input read for an earlier prediction, forgotten where that one ended before its files and record
        used it up: this prediction's clip, rate and note are its own input's, none for --context rows alone."""
        self.clip_read = self.input_fps = self.input_file = self.input_size = self.input_note = None

    def context_from_rows(self, rows: torch.Tensor, spec: SignalSpec, source: str) -> tuple[torch.Tensor, torch.Tensor]:
        """As the base reads rows, input_clip refused where this prediction read no .npz --input (nothing to pick)."""
        if self.input_clip is not None and self.clip_read is None:  # an option given and never read
            raise ValueError(f"{INPUT_CLIP} picks the clip of an .npz --input to complete, but {source} gives S as "
                             "rows with no such input: leave input_clip out")
        return super().context_from_rows(rows, spec, source)

    def read_input(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        t, h, w = spec.grid_shape
        step = int(spec.extra.get("frame_step", 1))
        clip = load_user_video(path, t, (h, w), frame_step=step, clip=self.input_clip)  # [3, T, H, W]
        npz = path.suffix.lower() == ".npz"
        self.clip_read = (self.input_clip or 0) if npz else None
        span = clip_span(t, step)  # the frames of the file the clip takes every step-th of
        rate, source = rate_and_size(path, span)
        if source is not None and (source[0] < h or source[1] < w):  # S would be drawn from pixels interpolation made
            warnings.warn(upscaled(f"{path}: its frames of {source[1]}×{source[0]} are", f"the model's {w}×{h}",
                                   False, ", and S is drawn from them"), stacklevel=2)
        self.input_file, self.input_size = (path, step, self.clip_read), source
        if share := transparent_share(path, span):  # as a picture given to an images model says it
            warnings.warn(f"{path}: {share_words(share)} of the pixels of its first "
                          f"{span} frames are (partly) transparent, composited onto white", stacklevel=2)
        self.input_fps = None if rate is None else rate / step  # the clip's frames are step frames of the input apart
        if (uneven := uneven_delays(path, span)) is not None:  # the mean rate stands in for pauses and bursts
            warnings.warn(f"{path}: its first {span} frames are shown for {uneven[0]:g} to {uneven[1]:g} ms each, not "
                          f"at one rate: the clip takes them as evenly spaced frames, and the predicted videos play at "
                          f"their mean rate, {self.input_fps:.3g} fps", stacklevel=2)
        fps = self.picture_fps()
        played = f"{fps:g} fps" + (", the rate of the clips the model was trained on" if fps != PICTURE_FPS else "")
        held = npz_clips_shape(path) if npz else None  # [N, F, H, W, 3] from the header; None: it does not say
        count = "" if held is None else f" of {held[0]}"
        which = f"clip {self.clip_read}{count}, " if npz else ""  # which clip of an .npz
        self.input_note = (f"{path}: {which}{taken_note(span, step, rate, source, (h, w), played)}, read as the "
                           f"model's {t} frames of {w}×{h}{crop_note(source, (h, w))}")
        print(f"[predict] {self.input_note}", flush=True)
        return clip

    def read_mask(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        """As :func:`read_mask_video` reads it; a mask of another frame size or aspect than the model's, of colours or
        of grey levels between black and white is read with the line an images mask is (:func:`mask_line`), one of
        another shape than its input and one that observes every pixel warned of as an images mask is
        (:func:`shape_mismatch`, :func:`all_observed`): where the clip has more pixels than ``max_context``, that S is
        a random ``max_context`` of them, the rest completed (the one warning: :meth:`context_from_mask` then says
        nothing of the cap). A strip of too few frames is refused (:func:`mask_strip`) before a shape is warned of."""
        t, h, w = spec.grid_shape
        step = int(spec.extra.get("frame_step", 1))
        input_size, self.input_size = self.input_size, None  # its input's, used up: the next mask's input is its own
        strip = mask_strip(path, clip_span(t, step))  # refused before its frames' size is warned of as the mask's
        read = frame_size(path)  # None: a file that says no size (read_mask_video names one it cannot read)
        # before a refusal of a mask that observes no pixel: its white may lie outside the centre for that reason
        if read and (mismatch := shape_mismatch(read, input_size, (h, w))):
            warnings.warn(f"mask {path}: {mismatch}", stacklevel=2)
        mask, done, colour = read_mask_frames(path, t, (h, w), step, strip)  # [T, H, W]
        source = read or (h, w)
        done = ([note] if (note := fitted_note(source, (h, w))) else []) + done
        if done:
            print(mask_line(path, source, done, int(mask.sum()), mask.numel(), "RGB" if colour else ""), flush=True)
        if mask.all():  # white where to complete, as some inpainting tools draw a mask?
            warnings.warn(f"mask {path}: {all_observed(mask.numel(), self.max_context)}", stacklevel=2)
        return mask

    def row_units(self, spec: SignalSpec) -> str:
        """Rows [t, y, x, r, g, b] in words (:func:`describe_video_row`), which the core's refusal of a row ends with:
        frame and pixel indices and 0-255 colours, a clip's own units, are no row's."""
        return describe_video_row(spec.grid_shape, int(spec.extra.get("frame_step", 1)))

    def context_from_mask(self, signal: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos, val = super().context_from_mask(signal, mask)  # [K, 3], [K, 3]
        if len(pos) > self.max_context:
            if not mask.all():  # an all-white mask's warning (read_mask) says it
                warnings.warn(f"the mask observes {len(pos)} pixels; using a random {self.max_context} of them",
                              stacklevel=2)
            keep = torch.randperm(len(pos), generator=torch.Generator().manual_seed(0))[: self.max_context]
            keep = keep.sort().values  # [max_context], in grid order
            pos, val = pos[keep], val[keep]
        return pos, val

    def predict_grid(self, spec: SignalSpec, resolution: int | None) -> tuple[int, ...]:
        """The model's grid, or its frames scaled so that their shorter side is ``resolution`` (T unchanged)."""
        if resolution is None:
            return spec.grid_shape
        t, h, w = spec.grid_shape
        return t, round(h * resolution / min(h, w)), round(w * resolution / min(h, w))

    @staticmethod
    def truth_on_grid(c: Completion, source: tuple[Path, int, int | None] | None) -> tuple[torch.Tensor, bool, str]:
        """The input clip on a completion's grid other than the model's (``--resolution``), to show and score the
        prediction against: the input file read again at the grid's frame size -> [3, T, H', W'], True and what it is
        in words. Where the file's frames (without a file: the clip the model observed) have fewer pixels than the
        grid on a side, the clip the model observed read on the grid (upscaled: pixels made by interpolation, which
        flatter a smooth completion and are no input to score against), False and why it is not scored."""
        t, h, w = (int(g) for g in c.grid_shape)
        signal = c.signal[0]  # [3, T, h0, w0], what the model observed
        if source is None:
            size, what = tuple(signal.shape[2:]), "the input clip's frames are"
        else:
            path = source[0]
            size = frame_size(path)
            if size is None:  # a file whose header does not say (an .npz's too): the frames as read
                size = (read_video_npz(path)[0] if path.suffix.lower() == ".npz"
                        else read_video_file(path, max_frames=1)).shape[1:3]
            what = f"{path.name}'s frames are"
        if h <= size[0] and w <= size[1]:
            if source is None:
                return on_grid(signal, c.grid_shape), True, "the input clip read on the grid"  # [3, T, H', W']
            with warnings.catch_warnings():  # read_input said them of this file
                warnings.simplefilter("ignore", UserWarning)
                truth = load_user_video(source[0], t, (h, w), frame_step=source[1], clip=source[2])  # [3, T, H', W']
            return truth, True, f"{source[0].name} read at the grid's {w}×{h}"
        h0, w0 = signal.shape[2:]
        fits = [r for r in range(2, min(h, w)) if round(h0 * r / min(h0, w0)) <= size[0]
                and round(w0 * r / min(h0, w0)) <= size[1]]  # the --resolution values whose grid the frames cover
        hint = f" (--resolution {fits[-1]} or less keeps to them)" if fits else ""
        return on_grid(signal, c.grid_shape), False, (f"{what} {size[1]}×{size[0]}, fewer pixels than the {w}×{h} "
                                                      f"grid, on which the input would be upscaled{hint}")

    def write_prediction(self, completion: Completion, out_dir: Path) -> list[Path]:
        """gt.mp4 (with an input), context.mp4 (the NN view of S), mean.mp4, sample_<i>.mp4, Fig. 10 as
        figure10.png/.mp4/.gif, and summary.json (grid, fps, the input's frames shown, PSNR/SSIM of each video against
        the input). The videos play at the input clip's rate (its file's frame rate over frame_step), else at
        :meth:`picture_fps`. On a grid other than the model's (``--resolution``) the input is read again at the grid's
        size (:meth:`truth_on_grid`); where that would upscale its frames, it is shown upscaled but not scored;
        summary.json's ``vs_input`` says which."""
        c = completion
        fps, self.input_fps = self.input_fps or self.picture_fps(), None  # the next prediction's input gives its own
        source, self.input_file = self.input_file, None
        note, self.input_note = self.input_note, None
        gt, ctx_vis, samples = self.clips(c)  # [3, T, H', W'] each (gt may be None), S x [3, T, H', W']
        scored, truth = gt is not None, None
        if gt is not None and tuple(c.grid_shape) != tuple(c.signal.shape[2:]):  # the input at --resolution
            gt, scored, truth = self.truth_on_grid(c, source)  # [3, T, H', W']
            if not scored:
                warnings.warn(f"no PSNR/SSIM against the input: {truth}", stacklevel=2)
        named = {f"sample_{i + 1}": s for i, s in enumerate(samples)}
        videos = {"gt": gt, "context": ctx_vis, "mean": c.mean[0], **named}
        paths = [write_video(to_frames(v), out_dir / f"{name}.mp4", fps=fps) for name, v in videos.items()
                 if v is not None]
        # its columns name the input's frames, which the clip takes frame_step apart from its first (taken_note)
        paths += write_figure10(gt, ctx_vis, samples, c.mean[0], out_dir / "figure10", fps=fps, gif=self.gif,
                                title=c.titled(f"|S| = {c.ctx_pos.shape[1]}", sep="; "),
                                frame_step=source[1] if source else 1).values()
        summary = {"grid": list(c.grid_shape), "fps": fps, "num_context": int(c.ctx_pos.shape[1]),
                   "num_samples": len(samples), **({"input": note} if note else {})}
        if truth is not None:  # what the input is on another grid than the model's, or why it is not scored
            summary["vs_input"] = truth if scored else f"not scored: {truth}"
        if scored:
            pairs = {"mean": c.mean[0], "nearest_neighbour": ctx_vis, **named}
            summary["psnr_vs_input"] = {k: float(psnr_per_frame(v[None], gt[None])) for k, v in pairs.items()}
            summary["units"] = SUMMARY_UNITS
        if scored and min(c.grid_shape[1:]) >= SSIM_MIN_SIDE:
            summary["ssim_vs_input"] = {k: float(ssim_per_frame(v[None], gt[None])) for k, v in pairs.items()}
        return paths + [write_json(out_dir / "summary.json", summary)]
