"""The images Domain: pictures of completions (the paper's Figs. 3-5), image metrics, and a user's picture,
mask or pixels for `pixeltransformer predict`.

Positions are continuous, so completions are rendered at the Pictures (or --resolution) grid whatever the
training size (an 8x8 digits model draws 32x32 pictures); ground truths and contexts are enlarged for display.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from pixeltransformer.domain import (Domain, Files, ItemValues, all_observed, fitted_note, grey_levels, mask_line,
                                     nothing_observed, shape_mismatch, shown_title, threshold_mask)
from pixeltransformer.errors import share_words, transparent_mask, upscaled
from pixeltransformer.inference import Completion
from pixeltransformer.sets import draw_context, read_signal
from pixeltransformer.signal import SignalSpec

from . import io
from .metrics import image_metrics
from .visualize import (UNSEEN, UNSEEN_NAME, context_image, display_size, figure_composition, figure_mean_sweep,
                        figure_samples, image_grid, save_png)


def composition_context(top: torch.Tensor, bottom: torch.Tensor, k: int,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Fig. 5: K pixels whose upper-half members (y < 0) come from ``top`` and lower-half ones from ``bottom``
    (both [B, C, H, W]) -> ctx_pos [B, K, 2], ctx_val [B, K, C]."""
    pos, from_top = draw_context(top, k, generator)  # [B, K, 2], [B, K, C]
    upper = pos[..., :1] < 0  # [B, K, 1]; the middle row of an odd-height image goes to the bottom source
    return pos, torch.where(upper, from_top, read_signal(bottom, pos))  # [B, K, 2], [B, K, C]


class ImageDomain(Domain):
    """Images as signals: positions (y, x) in [-1, 1]^2, values [C] in [0, 1].

    Args:
        sample_context: |S| of Fig. 4 (the samples), capped at the pixel count.
        composition_context: |S| of Fig. 5 (upper half from one image, lower half from its neighbour).
    """

    name = "images"
    row_names = ("y", "x", "value...")
    input_help = "a picture (PNG/JPEG/BMP/WebP), centre-cropped and resized to the model's size"

    def __init__(self, sample_context: int = 32, composition_context: int = 32):
        if sample_context < 1 or composition_context < 1:
            raise ValueError(f"ImageDomain: need sample_context >= 1 and composition_context >= 1, got "
                             f"{sample_context}, {composition_context}")
        self.sample_context, self.composition_context = sample_context, composition_context
        # (h, w) of the --input read last, upright: the shape of its mask, which uses it up (a domain used again for
        # another prediction checks its mask against that prediction's input alone)
        self.input_size: tuple[int, int] | None = None

    # ---- pictures -------------------------------------------------------------------------------------
    def picture_contexts(self, signal, levels, generator):
        """The per-level contexts (Fig. 3), Fig. 4's "samples" context and, with two images or more, Fig. 5's
        "composition" context: each image's lower half observed from its neighbour."""
        contexts = super().picture_contexts(signal, levels, generator)
        cap = signal[0, 0].numel()
        contexts["samples"] = draw_context(signal, min(self.sample_context, cap), generator)
        if signal.shape[0] >= 2:
            contexts["composition"] = composition_context(signal, signal.roll(1, dims=0),
                                                          min(self.composition_context, cap), generator)
        return contexts

    def picture_samples(self, name: str, num_samples: int) -> int:
        """Fig. 3 shows means only; Fig. 4 shows num_samples samples, Fig. 5 one."""
        return {"samples": num_samples, "composition": min(num_samples, 1)}.get(name, 0)

    def pictures(self, completions: dict[str, Completion], out_dir: Path, suffix: str = "") -> Files:
        """fig3_means (the mean across |S|), fig4_samples and fig5_composition (only with two images or more), each
        titled with the items it shows, a row each (and the step)."""
        levels = sorted((int(name), c) for name, c in completions.items() if name.isdigit())
        first = levels[0][1]
        signal, res = first.signal.float(), first.grid_shape[0]  # [B, C, H, W], R
        gt = display_size(signal, res)  # [B, C, R, R]
        files: Files = {"fig3_means": out_dir / f"fig3_means{suffix}.png"}
        # S's pixels on the image's grid, enlarged to R; on R itself when it is coarser, where a nearest resize
        # would keep one pixel in (H / R)^2 and drop the others from the picture of S
        dot_grid = signal.shape[-2:] if res >= max(signal.shape[-2:]) else (res, res)
        dots = {k: display_size(context_image(c.ctx_pos, c.ctx_val, dot_grid, mode="dots", background=UNSEEN), res)
                for k, c in levels}  # {K: [B, 3, R, R]}
        figure_mean_sweep(gt, {k: c.mean.clamp(0, 1) for k, c in levels}, files["fig3_means"], ctx_by_k=dots,
                          title=shown_title(f"E[I | S] for growing |S|; {UNSEEN_NAME}: not in S", first, suffix))
        drawn = completions.get("samples")
        if drawn is not None and drawn.samples is not None:
            files["fig4_samples"] = out_dir / f"fig4_samples{suffix}.png"
            # only N' values of each sample drawn, where that applies: a second line
            title = drawn.titled(shown_title(f"samples of I | S, |S| = {drawn.ctx_pos.shape[1]}", drawn, suffix),
                                 what="")
            figure_samples(gt, context_image(drawn.ctx_pos, drawn.ctx_val, res),
                           [drawn.samples[:, j].clamp(0, 1) for j in range(drawn.samples.shape[1])],
                           files["fig4_samples"], title=title)
        comp = completions.get("composition")
        if comp is not None:
            files["fig5_composition"] = out_dir / f"fig5_composition{suffix}.png"
            shown = comp.mean if comp.samples is None else comp.samples[:, 0]  # [B, C, R, R]
            figure_composition(gt, display_size(signal.roll(1, dims=0), res), context_image(comp.ctx_pos, comp.ctx_val, res),
                               shown.clamp(0, 1), files["fig5_composition"],
                               title=comp.titled(shown_title(f"S from the halves of two images, |S| = "
                                                             f"{comp.ctx_pos.shape[1]}", comp, suffix),
                                                 what="sample"),
                               completion="mean" if comp.samples is None else "sample")
        return files

    # ---- evaluation -----------------------------------------------------------------------------------
    def metrics(self, item):
        return image_metrics(item)

    def plot_groups(self) -> dict[str, list[str]]:
        # two panels: the 8-bit levels' NLL is the one the literature reports; the density's may be negative
        return {"NLL (bits/dim, 8-bit levels)": ["nll_bpd_256"],
                "NLL (bits/dim, continuous density)": ["nll_bpd"],
                "SSIM": ["ssim", "sample_ssim", "nn_ssim", "vae_ssim"],
                "PSNR (dB)": ["psnr", "sample_psnr", "nn_psnr", "vae_psnr"],
                "classification accuracy": ["acc_gt", "acc_mean", "acc_sample", "acc_nn", "acc_vae"],
                "MSE (pixels not in S)": ["mse", "sample_mse", "nn_mse", "vae_mse"]}

    def method_names(self) -> dict[str, str]:
        return {**super().method_names(), "gt": "ground truth", "vae": "VAE completion"}

    def summary(self, rows: list[dict], items: ItemValues | None = None) -> dict:
        return {
            "nll_units": "nll: nats per channel of the normalised density on [0, 1] values; nll_bpd = nll / ln 2 "
                         "(bits per dimension, continuous; negative where the density exceeds 1); nll_bpd_256 = -log2 "
                         "of the probability the model gives the observed 8-bit level, its distribution's mass on "
                         "[v - 1/510, v + 1/510] (the lowest level's interval open to -inf, the highest's to +inf), "
                         "over the channels jointly, per channel (a discrete likelihood, >= 0); pixels not in S only",
            "image_metrics": "ssim/psnr/acc on whole images with S's pixels kept, per image, averaged over images "
                             "(torchmetrics SSIM, 11x11 Gaussian window, sigma 1.5, data_range 1, averaged over the "
                             "whole reflect-padded image with no border crop, also on images smaller than the "
                             "window down to 6x6 (below that SSIM is undefined: NaN, left out); scikit-image crops "
                             "a 5-pixel border, which on pictures with a flat border moves SSIM a lot (0.03-0.24 "
                             "for noisy or low-contrast predictions of digits upscaled to 28x28) and refuses "
                             "images below 11x11; PSNR of the image's MSE, capped at 100 dB; "
                             "predictions clamped to [0, 1] for ssim/psnr and for the classifier's acc); mse on pixels "
                             "not in S, unclamped; prefixes: none = mean image, sample_ = the samples (each drawn "
                             "at its own |S|, averaged), nn_ = nearest-neighbour fill (nearest sample of S in "
                             "normalised (y, x)), vae_ = VAE completion",
        }

    # ---- a user's files (predict) ----------------------------------------------------------------------
    def row_units(self, spec: SignalSpec) -> str:
        """The core's row units (the model's grid, not the picture's pixels), a value being a 0-255 level / 255."""
        return f"{super().row_units(spec)} (a 0-255 level divided by 255)"

    def read_input(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        """A picture -> [C, H, W] in [0, 1], centre-cropped to a square and resized to the model's size; palette,
        alpha and 16-bit pictures are converted. A colour picture for a grey model, or a picture of another size, is
        read with a line that says so."""
        size = spec.grid_shape[0]
        picture = io.read_picture_colours(path, channels=spec.val_dims)
        arr = picture.pixels  # [h, w, C] uint8, the file's size
        # share of its pixels composited onto white, frames of an animation (the first is read), orientation 2-8: set
        # upright as a viewer shows it, its size as the file's or swapped
        colours, share, frames, turned = picture.colours, picture.share, picture.frames, picture.orientation
        if picture.peak is not None:  # 16-bit values of 12 bits or fewer: nearly black
            warnings.warn(f"{path}: {io.dim_note(picture.peak)}", stacklevel=2)
        else:
            io.warn_if_unscaled(arr, path)
        h, w = arr.shape[:2]
        self.input_size = (h, w)
        smaller = min(h, w) < size
        if smaller:  # S would be drawn from pixels that interpolation made up
            warnings.warn(upscaled(f"{path}: a {w}×{h} picture is", f"the model's {size}×{size}", True,
                                   ", and S is drawn from them"), stacklevel=2)
        model = "RGB" if spec.val_dims == 3 else "grey"
        # what was lost: colours (a grey picture is an RGB model's as it is), pixels to the crop and resize (the
        # warning above says that a smaller picture was upscaled), transparency, or an animation's later frames; and
        # a picture set upright, whose size is not the file's
        if ((colours, model) == ("RGB", "grey") or ((h, w) != (size, size) and not smaller) or share > 0 or frames > 1
                or turned > 1):
            stored = f"{h}×{w} in the file, " if turned >= 5 and h != w else ""  # 5-8 swap its width and height
            upright = f" ({stored}set upright by its EXIF orientation)" if turned > 1 else ""
            centre = f" (its centre {min(h, w)}×{min(h, w)})" if h != w else ""
            white = (f"; {share_words(share)} of its pixels are (partly) transparent, composited onto white"
                     if share else "")
            first = f"; {io.first_frame(frames)}" if frames > 1 else ""
            print(f"[predict] {path}: {w}×{h} {colours}{upright} read as the model's {size}×{size} {model}{centre}"
                  f"{white}{first}", flush=True)
        arr = io.square_array(arr, size)  # [size, size, C]
        return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float() / 255.0  # [C, H, W]

    def read_mask(self, path: Path, spec: SignalSpec) -> torch.Tensor:
        """A mask picture -> bool [H, W], True where it is white (grey level >= 128: observed; the grey and threshold
        of :func:`threshold_mask`, the video domain's too); cropped and resized like the input. A mask of another size,
        of colours or of grey levels between black and white is read with a line that says what was done and how many
        pixels are observed; one of another shape than its input is warned of. A mask with transparent pixels is
        refused: put on white, as pictures are, they would count as observed, whatever was meant by them."""
        size = spec.grid_shape[0]
        input_size, self.input_size = self.input_size, None  # its input's, used up: the next mask's input is its own
        picture = io.read_picture_colours(path)
        arr, colours = picture.pixels, picture.colours  # [h, w, 3] uint8, the file's size; colours_of
        if picture.share:
            raise ValueError(f"{path}: {transparent_mask(picture.share)}")
        if picture.peak is not None:
            warnings.warn(f"{path}: {io.dim_note(picture.peak)}", stacklevel=2)
        levels = grey_levels(arr)  # [h, w] uint8, the file's size
        grey = io.square_array(levels[..., None], size)[..., 0]  # [H, W] uint8
        mask, steps = threshold_mask(grey, colours != "grey")  # [H, W]
        fitted = fitted_note(arr.shape[:2], (size, size))
        # before a refusal of a mask that observes no pixel: its white may lie outside the centre for that reason
        if mismatch := shape_mismatch(arr.shape[:2], input_size, (size, size)):
            warnings.warn(f"{path}: {mismatch}", stacklevel=2)
        if not mask.any():
            first = " in its first frame" if picture.frames > 1 else ""  # the frame an animation is read at
            raise ValueError(f"{path}: {nothing_observed(levels, (size, size), colours != 'grey', first)}")
        if mask.all():
            warnings.warn(f"{path}: {all_observed(mask.size)}", stacklevel=2)
        # an animation's first frame (as an input's), then the crop and resize and the threshold
        done = ([f"read as {io.first_frame(picture.frames)}"] if picture.frames > 1 else []) + (
            [fitted] if fitted else []) + steps
        if done:
            kind = "" if colours == "grey" else colours
            print(mask_line(path, arr.shape[:2], done, int(mask.sum()), mask.size, kind), flush=True)
        return torch.from_numpy(mask)

    def write_prediction(self, completion: Completion, out_dir: Path) -> list[Path]:
        """input.png (the picture as the model sees it, when there is one), observed.png (every pixel shows its
        nearest observed pixel), mean.png, sample_1.png ... and panel.png with all of them side by side."""
        res = completion.grid_shape[0]
        cells, titles, paths = [], [], []

        def add(image: torch.Tensor, name: str, title: str) -> None:  # image [C, R, R]
            paths.append(save_png(image, out_dir / f"{name}.png"))
            cells.append(image)
            titles.append(title)

        if completion.signal is not None:
            add(display_size(completion.signal.float(), res)[0], "input", "input")
        add(context_image(completion.ctx_pos, completion.ctx_val, res)[0], "observed", "S (NN fill)")
        add(completion.mean[0].clamp(0, 1), "mean", "mean")
        for i, sample in enumerate([] if completion.samples is None else completion.samples[0]):
            add(sample.clamp(0, 1), f"sample_{i + 1}", f"sample {i + 1}")
        image_grid([cells], out_dir / "panel.png", col_titles=titles,
                   title=completion.titled(f"|S| = {completion.ctx_pos.shape[1]}"))
        return [*paths, out_dir / "panel.png"]
